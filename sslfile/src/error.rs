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
/// `io::Error::from(err).into_inner()` gives it back. The mapping (Pike's errno
/// rules):
///
/// | situation | variant | `io::ErrorKind` | errno |
/// |---|---|---|---|
/// | peer closed or reset the transport without `close_notify` (also during the handshake) | [`Error::Truncated`] | `BrokenPipe` | `EPIPE` |
/// | write after the peer's `close_notify` (TLS 1.2; TLS 1.3 lets us write on) | [`Error::PeerClosed`] | `BrokenPipe` | `EPIPE` |
/// | the peer sent a fatal alert | [`Error::PeerAlert`] | `ConnectionReset` | `ECONNRESET` |
/// | we rejected the peer's data (bad record, bad certificate…) and sent an alert | [`Error::Tls`] | `InvalidData` | — |
/// | operation after a local `close()` / before the handshake was started | [`Error::Closed`], [`Error::NotStarted`] | `NotConnected` | `ENOTCONN` |
/// | a blocking operation ran past the timeout | [`Error::TimedOut`] | `TimedOut` | `ETIMEDOUT` |
/// | bad configuration (no certificate, TLS 1.0 requested…) | [`Error::Config`] | `InvalidInput` | `EINVAL` |
/// | an operation the protocol in use cannot do (TLS 1.2 renegotiation) | [`Error::Unsupported`] | `Unsupported` | — |
/// | a call the connection's state does not allow (a second handshake, a key update before the first) | [`Error::Misuse`] | `InvalidInput` | `EINVAL` |
/// | the transport failed | [`Error::Io`] | the transport's | the transport's |
///
/// # Examples
///
/// ```
/// use std::io;
/// let err = sslfile::Error::NotStarted;
/// let io_err: io::Error = err.into();
/// assert_eq!(io_err.kind(), io::ErrorKind::NotConnected);
/// // ...and back again, without losing the detail:
/// assert!(matches!(sslfile::Error::from(io_err), sslfile::Error::NotStarted));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The peer went away without sending `close_notify` first: it closed the transport, or
    /// the transport was reset (a crashed peer, a killed process). The data may have been cut
    /// short by an attacker or a crash. Always `BrokenPipe` (`EPIPE`), whatever the kernel
    /// said; what it said is the [`source`](std::error::Error::source).
    #[non_exhaustive]
    Truncated {
        /// It happened before the handshake completed.
        during_handshake: bool,
        /// The transport's own error (e.g. `ECONNRESET`), if it reported one rather than an
        /// end of stream.
        cause: Option<Arc<io::Error>>,
    },
    /// The peer ended the TLS 1.2 session with `close_notify`; nothing more can be written.
    /// (A TLS 1.3 peer's close_notify ends only its direction: writes go on.)
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
    /// The call is not allowed in the connection's present state (a caller mistake, such as
    /// starting the handshake twice); the message says why.
    Misuse(&'static str),
    /// The transport (socket, pipe, inner TLS layer) failed.
    Io(Arc<io::Error>),
}

impl Error {
    /// The [`io::ErrorKind`] this error maps to (see the module table).
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Error::Truncated { .. } | Error::PeerClosed => io::ErrorKind::BrokenPipe,
            Error::PeerAlert { .. } => io::ErrorKind::ConnectionReset,
            Error::Tls { .. } => io::ErrorKind::InvalidData,
            Error::Closed | Error::NotStarted => io::ErrorKind::NotConnected,
            Error::TimedOut => io::ErrorKind::TimedOut,
            Error::Config(_) | Error::Misuse(_) => io::ErrorKind::InvalidInput,
            Error::Unsupported(_) => io::ErrorKind::Unsupported,
            Error::Io(e) => e.kind(),
        }
    }

    /// The POSIX errno this error corresponds to, where one applies (Pike's `errno()`).
    ///
    /// ```
    /// assert_eq!(sslfile::Error::PeerClosed.raw_os_error(), Some(32)); // EPIPE on Linux
    /// ```
    pub fn raw_os_error(&self) -> Option<i32> {
        use rustix::io::Errno;
        let errno = match self {
            Error::Io(e) => return e.raw_os_error(),
            Error::Truncated { .. } | Error::PeerClosed => Errno::PIPE,
            Error::PeerAlert { .. } => Errno::CONNRESET,
            Error::Closed | Error::NotStarted => Errno::NOTCONN,
            Error::TimedOut => Errno::TIMEDOUT,
            Error::Config(_) | Error::Misuse(_) => Errno::INVAL,
            Error::Tls { .. } | Error::Unsupported(_) => return None,
        };
        Some(errno.raw_os_error())
    }

    /// Wraps a transport error, unwrapping an [`Error`] that travelled inside it.
    pub(crate) fn from_io(e: io::Error) -> Error {
        Error::from(e)
    }

    /// The peer went away after the handshake without close_notify.
    #[cfg(test)]
    pub(crate) fn truncated() -> Error {
        Error::Truncated {
            during_handshake: false,
            cause: None,
        }
    }

    /// The peer went away: `cause` is what the transport said (`None`: end of stream).
    pub(crate) fn peer_gone(during_handshake: bool, cause: Option<io::Error>) -> Error {
        Error::Truncated {
            during_handshake,
            cause: cause.map(Arc::new),
        }
    }

    /// True for the transport errors that mean the peer went away (reset, broken pipe,
    /// aborted): truncation, not a failure of our own.
    pub(crate) fn is_peer_gone(e: &io::Error) -> bool {
        matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::UnexpectedEof
        ) && !e.get_ref().is_some_and(|inner| inner.is::<Error>())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated {
                during_handshake,
                cause,
            } => {
                match (during_handshake, cause) {
                    (true, None) => {
                        f.write_str("the peer closed the connection during the TLS handshake")?
                    }
                    (true, Some(_)) => {
                        f.write_str("the peer reset the connection during the TLS handshake")?
                    }
                    (false, None) => f.write_str(
                        "the peer closed the connection without close_notify \
                         (the data may be truncated)",
                    )?,
                    (false, Some(_)) => f.write_str(
                        "the peer reset the connection without close_notify \
                         (the data may be truncated)",
                    )?,
                }
                match cause {
                    Some(cause) => write!(f, " ({cause})"),
                    None => Ok(()),
                }
            }
            Error::PeerClosed => f.write_str("the peer has closed the TLS session (close_notify)"),
            Error::PeerAlert { message, .. } => f.write_str(message),
            Error::Tls { message, .. } => f.write_str(message),
            Error::Closed => f.write_str("the connection is closed"),
            Error::NotStarted => f.write_str(
                "the TLS connection has not been started: call connect() or accept() first",
            ),
            Error::TimedOut => f.write_str("the operation timed out"),
            Error::Config(message) => write!(f, "invalid TLS configuration: {message}"),
            Error::Unsupported(message) | Error::Misuse(message) => f.write_str(message),
            // An error of ours carried with another kind (see `CloseCallback`): itself.
            Error::Io(e) if e.get_ref().is_some_and(|inner| inner.is::<Error>()) => {
                write!(f, "{e}")
            }
            Error::Io(e) => write!(f, "transport error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Tls { source, .. } => Some(source),
            Error::Io(e) => Some(&**e),
            Error::Truncated {
                cause: Some(cause), ..
            } => Some(&**cause),
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
            Error::truncated(),
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
        assert_eq!(Error::truncated().raw_os_error(), Some(32));
        let reset = io::Error::from_raw_os_error(rustix::io::Errno::CONNRESET.raw_os_error());
        let gone = Error::peer_gone(false, Some(reset));
        assert_eq!(gone.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(gone.raw_os_error(), Some(32));
        let source = std::error::Error::source(&gone).unwrap();
        let source = source.downcast_ref::<io::Error>().unwrap();
        assert_eq!(
            source.raw_os_error(),
            Some(104),
            "the kernel's word is kept"
        );
        assert!(gone.to_string().contains("reset"), "{gone}");
        let handshake = Error::peer_gone(true, None);
        assert!(handshake.to_string().contains("during the TLS handshake"));
        let alert = Error::PeerAlert {
            alert: rustls::AlertDescription::HandshakeFailure,
            message: String::new(),
        };
        assert_eq!(alert.raw_os_error(), Some(104));
        assert_eq!(alert.kind(), io::ErrorKind::ConnectionReset);
    }
}
