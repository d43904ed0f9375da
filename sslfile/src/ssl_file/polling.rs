//! Driving a nonblocking `SslFile` from any event loop (mio, calloop, tokio, async-io): the
//! descriptor to watch ([`AsRawFd`], of the innermost socket) and what to watch it for
//! ([`SslFile::pending`]).

use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use super::driver::engine_interest;
use super::SslFile;
use crate::interest::Interest;
use crate::stream::Stream;

/// What a nonblocking [`SslFile`] is waiting for: the answer to "what should my event loop
/// watch?" ([`SslFile::pending`]).
///
/// The rule for a loop of your own: call `read`/`write` until they say `WouldBlock`, then
/// wait until the descriptor is ready for [`interest`](Self::interest) (or until
/// [`deadline`](Self::deadline)), and call again. Before waiting, check
/// [`plaintext_ready`](Self::plaintext_ready): decrypted data can be ready with nothing
/// left to read on the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pending {
    /// Decrypted data (or the end of the stream, or ciphertext already read from the
    /// socket) is ready: a `read` gets further at once.
    pub plaintext_ready: bool,
    /// Ciphertext is waiting to be written: watch for writability.
    pub output_pending: bool,
    /// True while the handshake runs.
    pub handshaking: bool,
    /// What the connection needs from the socket to make progress: `READ` while it waits
    /// for the peer, `WRITE` while output is pending, or both.
    pub interest: Interest,
    /// When the handshake or idle timeout expires, if one is set: call any method then, and
    /// it reports the timeout.
    pub deadline: Option<Instant>,
}

impl<S: Stream + 'static> SslFile<S> {
    /// What this file waits for, for an event loop that is not a [`Backend`](crate::Backend)
    /// (see [`Pending`] for how to use it). A file not started, or closed, waits for
    /// nothing: `interest` is `READ` and the calls return at once.
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    /// use sslfile::{Context, File, Interest, SslFile};
    ///
    /// let (a, _b) = File::pipe()?;
    /// let tls = SslFile::new(a, &Context::builder().build()?);
    /// tls.connect("example.com")?; // nonblocking: the ClientHello is sent
    /// let pending = tls.pending();
    /// assert!(pending.handshaking && !pending.plaintext_ready);
    /// assert_eq!(pending.interest, Interest::READ); // the server's answer
    /// assert!(tls.as_raw_fd() >= 0); // what to watch
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pending(&self) -> Pending {
        let mut st = self.shared.lock();
        let handshaking_deadline = |st: &super::driver::State, handshaking| {
            st.protection
                .is_set()
                .then(|| st.protection.deadline(handshaking))
                .flatten()
        };
        let Some(engine) = st.engine.as_mut() else {
            return Pending {
                plaintext_ready: false,
                output_pending: false,
                handshaking: false,
                interest: Interest::READ,
                deadline: None,
            };
        };
        let handshaking = engine.is_handshaking();
        let plaintext_ready = engine.has_plaintext()
            || engine.has_stashed_input()
            || engine.error().is_some()
            || engine.transport_eof()
            || (engine.peer_closed() && !handshaking);
        let output_pending = engine.wants_write();
        let interest = engine_interest(engine);
        Pending {
            plaintext_ready,
            output_pending,
            handshaking,
            interest,
            deadline: handshaking_deadline(&st, handshaking),
        }
    }
}

/// The operations of the async adapters: nonblocking whatever the file's mode.
#[cfg(any(feature = "tokio", feature = "futures-io"))]
impl<S: Stream + 'static> SslFile<S> {
    /// One nonblocking round of the handshake; true once it is complete.
    pub(crate) fn drive_handshake(&self) -> Result<bool, crate::Error> {
        let result = self.shared.handshake_step();
        self.shared.record(result)
    }

    pub(crate) fn read_nonblocking(&self, buf: &mut [u8]) -> Result<usize, crate::Error> {
        let result = self.shared.read(buf, Some(false));
        self.shared.record(result)
    }

    pub(crate) fn write_nonblocking(
        &self,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Result<usize, crate::Error> {
        let result = self.shared.write(bufs, Some(false));
        self.shared.record(result)
    }

    /// True if the last read from the socket took less than it asked for and nothing
    /// waits in the engine's stash: the socket is probably empty now.
    pub(crate) fn input_drained(&self) -> bool {
        self.shared
            .lock()
            .engine
            .as_ref()
            .is_some_and(|e| !e.last_read_filled() && !e.has_stashed_input())
    }

    pub(crate) fn flush_nonblocking(&self) -> Result<(), crate::Error> {
        let result = self.shared.flush(Some(false));
        self.shared.record(result)
    }
}

/// The descriptor of the innermost socket (for TLS over TLS, the socket under both), or -1
/// once the transport was closed or handed over: what an event loop watches for
/// [`SslFile::pending`]'s interest.
impl<S: Stream + AsRawFd + 'static> AsRawFd for SslFile<S> {
    fn as_raw_fd(&self) -> RawFd {
        self.shared
            .transport()
            .borrow()
            .map_or(-1, |transport| transport.as_raw_fd())
    }
}
