//! The crate's one error type, and its mapping to and from [`std::io::Error`].
//!
//! Every fallible operation of the crate returns [`Error`] or an `io::Error` that wraps one;
//! [`Error`]'s docs carry the mapping to [`io::ErrorKind`] and errno.

use std::fmt;
use std::io;
use std::sync::Arc;

/// The error type of the crate.
///
/// It is `Clone` so that a connection can keep a fatal error and report it again on every
/// later call ("sticky" errors), and it converts losslessly into [`io::Error`]:
/// `io::Error::from(err).into_inner()` gives it back. The mapping (SPEC §8, the seed's
/// errno rules):
///
/// | situation | variant | `io::ErrorKind` | errno |
/// |---|---|---|---|
/// | peer closed the transport without `close_notify` | [`Error::Truncated`] | `BrokenPipe` | `EPIPE` |
/// | write after the peer's `close_notify` | [`Error::PeerClosed`] | `BrokenPipe` | `EPIPE` |
/// | the peer sent a fatal alert | [`Error::PeerAlert`] | `ConnectionReset` | `ECONNRESET` |
/// | we rejected the peer's data (bad record, bad certificate…) and sent an alert | [`Error::Tls`] | `InvalidData` | — |
/// | operation after a local `close()` / before the handshake was started | [`Error::Closed`], [`Error::NotStarted`] | `NotConnected` | `ENOTCONN` |
/// | a blocking operation ran past the timeout | [`Error::TimedOut`] | `TimedOut` | `ETIMEDOUT` |
/// | bad configuration (no certificate, TLS 1.0 requested…) | [`Error::Config`] | `InvalidInput` | `EINVAL` |
/// | an operation the protocol in use cannot do (TLS 1.2 renegotiation) | [`Error::Unsupported`] | `Unsupported` | — |
/// | the transport failed | [`Error::Io`] | the transport's | the transport's |
///
/// # Examples
///
/// ```
/// use std::io;
/// let err = sslfile::Error::Truncated;
/// let io_err: io::Error = err.into();
/// assert_eq!(io_err.kind(), io::ErrorKind::BrokenPipe);
/// // ...and back again, without losing the detail:
/// assert!(matches!(sslfile::Error::from(io_err), sslfile::Error::Truncated));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The peer closed the transport without sending `close_notify` first: the data may
    /// have been cut short by an attacker or a crash (the seed's `EPIPE`).
    Truncated,
    /// The peer ended the TLS session with `close_notify`; nothing more can be written.
    PeerClosed,
    /// The peer sent a fatal alert and ended the connection.
    PeerAlert {
        /// The alert, as rustls names it (e.g. `BadCertificate`).
        alert: rustls::AlertDescription,
        /// What it means, in words.
        message: String,
    },
    /// We rejected what the peer sent (a certificate we do not trust, a malformed or
    /// undecryptable record, no common protocol…) and sent it a fatal alert.
    Tls {
        /// A sentence a person can act on.
        message: String,
        /// The rustls error behind it.
        source: rustls::Error,
    },
    /// The connection was closed locally; it cannot be read or written any more.
    Closed,
    /// The connection has not been started: call `connect` or `accept` first.
    NotStarted,
    /// A blocking operation did not finish within the timeout set by `set_timeout`.
    /// Nothing was lost: the operation may be retried.
    TimedOut,
    /// The configuration is not usable; the message says why.
    Config(String),
    /// The operation is not available with the negotiated protocol; the message says why.
    Unsupported(&'static str),
    /// The transport (socket, pipe, inner TLS layer) failed.
    Io(Arc<io::Error>),
}

impl Error {
    /// The [`io::ErrorKind`] this error maps to (see the module table).
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Error::Truncated | Error::PeerClosed => io::ErrorKind::BrokenPipe,
            Error::PeerAlert { .. } => io::ErrorKind::ConnectionReset,
            Error::Tls { .. } => io::ErrorKind::InvalidData,
            Error::Closed | Error::NotStarted => io::ErrorKind::NotConnected,
            Error::TimedOut => io::ErrorKind::TimedOut,
            Error::Config(_) => io::ErrorKind::InvalidInput,
            Error::Unsupported(_) => io::ErrorKind::Unsupported,
            Error::Io(e) => e.kind(),
        }
    }

    /// The POSIX errno this error corresponds to, where one applies (Pike's `errno()`).
    ///
    /// ```
    /// assert_eq!(sslfile::Error::Truncated.raw_os_error(), Some(32)); // EPIPE on Linux
    /// ```
    pub fn raw_os_error(&self) -> Option<i32> {
        use rustix::io::Errno;
        let errno = match self {
            Error::Io(e) => return e.raw_os_error(),
            Error::Truncated | Error::PeerClosed => Errno::PIPE,
            Error::PeerAlert { .. } => Errno::CONNRESET,
            Error::Closed | Error::NotStarted => Errno::NOTCONN,
            Error::TimedOut => Errno::TIMEDOUT,
            Error::Config(_) => Errno::INVAL,
            Error::Tls { .. } | Error::Unsupported(_) => return None,
        };
        Some(errno.raw_os_error())
    }

    /// Wraps a transport error, unwrapping an [`Error`] that travelled inside it.
    pub(crate) fn from_io(e: io::Error) -> Error {
        Error::from(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str(
                "the peer closed the connection without close_notify (the data may be truncated)",
            ),
            Error::PeerClosed => f.write_str("the peer has closed the TLS session (close_notify)"),
            Error::PeerAlert { message, .. } => f.write_str(message),
            Error::Tls { message, .. } => f.write_str(message),
            Error::Closed => f.write_str("the connection is closed"),
            Error::NotStarted => f.write_str(
                "the TLS connection has not been started: call connect() or accept() first",
            ),
            Error::TimedOut => f.write_str("the operation timed out"),
            Error::Config(message) => write!(f, "invalid TLS configuration: {message}"),
            Error::Unsupported(message) => f.write_str(message),
            Error::Io(e) => write!(f, "transport error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Tls { source, .. } => Some(source),
            Error::Io(e) => Some(&**e),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            // A plain transport error goes back out as itself, keeping its errno.
            Error::Io(inner) => match Arc::try_unwrap(inner) {
                Ok(inner) => inner,
                Err(shared) => match shared.raw_os_error() {
                    Some(code) => io::Error::from_raw_os_error(code),
                    None => io::Error::new(shared.kind(), Error::Io(shared)),
                },
            },
            other => io::Error::new(other.kind(), other),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            let inner = e.into_inner().expect("checked above");
            return *inner.downcast::<Error>().expect("checked above");
        }
        match e.kind() {
            io::ErrorKind::TimedOut if e.raw_os_error().is_none() && e.get_ref().is_none() => {
                Error::TimedOut
            }
            _ => Error::Io(Arc::new(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_round_trip_keeps_the_variant() {
        for e in [
            Error::Truncated,
            Error::Closed,
            Error::TimedOut,
            Error::PeerClosed,
        ] {
            let kind = e.kind();
            let io: io::Error = e.clone().into();
            assert_eq!(io.kind(), kind);
            assert_eq!(Error::from(io).to_string(), e.to_string());
        }
    }

    #[test]
    fn transport_errors_keep_their_errno() {
        let os = io::Error::from_raw_os_error(rustix::io::Errno::CONNRESET.raw_os_error());
        let e = Error::from(os);
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
        let kept = e.clone(); // a shared error (as kept for errno()) keeps its errno too
        let back: io::Error = e.into();
        assert_eq!(back.raw_os_error(), Some(104));
        assert_eq!(io::Error::from(kept).raw_os_error(), Some(104));
    }

    #[test]
    fn epipe_and_econnreset_errnos() {
        assert_eq!(Error::Truncated.raw_os_error(), Some(32));
        let alert = Error::PeerAlert {
            alert: rustls::AlertDescription::HandshakeFailure,
            message: String::new(),
        };
        assert_eq!(alert.raw_os_error(), Some(104));
        assert_eq!(alert.kind(), io::ErrorKind::ConnectionReset);
    }
}
