//! The [`Stream`] trait: what [`SslFile`](crate::SslFile) needs from its transport
//! (Pike's `Stdio.File` interface), and the small types it speaks in.
//!
//! A transport is used through `&self` only, so that one thread can read while another
//! writes, and its I/O never blocks: `read_nb`/`write_nb` return
//! [`io::ErrorKind::WouldBlock`] instead, and [`Stream::wait`] is the one place that
//! blocks. Every blocking behaviour of the crate is "try the step; on `WouldBlock`, `wait`".
//!
//! [`File`](crate::File) implements it for sockets and socket pairs; `SslFile` implements it
//! too, so TLS can run over TLS. [`Watchable`] is the part callback mode needs.

use std::any::Any;
use std::fmt;
use std::io::{self, IoSlice};
use std::time::{Duration, Instant};

use crate::backend::{Backend, ReadyFn};
pub use crate::interest::Interest;

/// A transport's address: an IP socket address or a Unix-domain one.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Addr {
    /// TCP over IPv4 or IPv6.
    Inet(std::net::SocketAddr),
    /// A Unix-domain socket (often unnamed, e.g. for a socket pair).
    Unix(std::os::unix::net::SocketAddr),
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Inet(addr) => write!(f, "{addr}"),
            Addr::Unix(addr) => match addr.as_pathname() {
                Some(path) => write!(f, "unix:{}", path.display()),
                None => f.write_str("unix:(unnamed)"),
            },
        }
    }
}

/// What [`SslFile`](crate::SslFile) needs from the stream it runs over.
///
/// All methods take `&self`; implementations are internally synchronised so that one thread
/// may read while another writes. The `_nb` methods never block. Callback mode needs more:
/// a stream that a backend can watch says so with [`watchable`](Self::watchable).
pub trait Stream: Send + Sync {
    /// Reads what is available without blocking: `Ok(0)` at end of stream,
    /// `Err(WouldBlock)` when nothing is available yet.
    fn read_nb(&self, buf: &mut [u8]) -> io::Result<usize>;

    /// Writes what fits without blocking; `Err(WouldBlock)` when nothing fits.
    fn write_nb(&self, buf: &[u8]) -> io::Result<usize>;

    /// Vectored [`write_nb`](Self::write_nb). The default writes the first non-empty slice.
    fn write_vectored_nb(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match bufs.iter().find(|b| !b.is_empty()) {
            Some(buf) => self.write_nb(buf),
            None => Ok(0),
        }
    }

    /// Pushes out anything the stream itself buffered, without blocking.
    /// `Err(WouldBlock)` if some remains. Streams without a buffer return `Ok(())`.
    fn flush_nb(&self) -> io::Result<()> {
        Ok(())
    }

    /// Blocks until the stream is ready for `interest` (a `_nb` call would not return
    /// `WouldBlock`), or until `deadline`, which gives `Err(TimedOut)`. It may return early
    /// (spuriously); callers retry their step and wait again.
    fn wait(&self, interest: Interest, deadline: Option<Instant>) -> io::Result<()>;

    /// Ends the write direction (the peer reads end of stream); reading goes on.
    fn shutdown_write(&self) -> io::Result<()>;

    /// Closes the stream: both directions end, and threads blocked in [`wait`](Self::wait)
    /// wake up. Closing twice is not an error.
    fn close(&self) -> io::Result<()>;

    /// The remote address.
    fn peer_addr(&self) -> io::Result<Addr>;

    /// The local address.
    fn local_addr(&self) -> io::Result<Addr>;

    /// The timeout the stream's own blocking operations have (e.g. set with
    /// [`File::set_timeout`](crate::File::set_timeout)): an `SslFile` made over the stream
    /// starts with it. `None` (the default): no timeout.
    fn timeout(&self) -> Option<Duration> {
        None
    }

    /// How many bytes written so far the peer has not acknowledged yet, if the stream can
    /// tell (a TCP socket can: `SIOCOUTQ`). A close that waits for its data to be delivered
    /// uses it; streams that cannot tell return `None` (the default), and the close lingers
    /// until the peer's end instead.
    fn unacknowledged_output(&self) -> Option<usize> {
        None
    }

    /// Puts `bytes` back in front of what the stream will read next: bytes a layer above
    /// read but did not use (those that followed a TLS close_notify, handed back by
    /// [`SslFile::into_stream`](crate::SslFile::into_stream)). Streams that cannot
    /// return `Unsupported` (the default).
    fn unread(&self, _bytes: &[u8]) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this stream cannot take bytes back",
        ))
    }

    /// Sets `SO_LINGER`: `Some(Duration::ZERO)` makes a close reset the connection at once.
    /// Streams without such a setting ignore it.
    fn set_linger(&self, _linger: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    /// The stream as a backend can watch it, for callback mode; `None` (the default): it
    /// cannot be used in callback mode (blocking and nonblocking modes work).
    fn watchable(&self) -> Option<&dyn Watchable> {
        None
    }
}

/// A stream that a [`Backend`] can watch: what callback mode needs from a transport.
pub trait Watchable {
    /// Calls `on_ready` on `backend` while the stream is ready for the interest set by
    /// [`set_interest`](Self::set_interest) (level-triggered; none at first). Replaces an
    /// earlier watch.
    fn watch(&self, backend: &Backend, on_ready: ReadyFn) -> io::Result<()>;

    /// What the watch waits for (`None`: nothing for now). A layered stream adds what it
    /// needs itself (a TLS layer with output to flush adds `WRITE`).
    fn set_interest(&self, interest: Option<Interest>) -> io::Result<()>;

    /// Ends the watch; the backend drops its reference to the callback.
    fn unwatch(&self);

    /// The backend the stream is watched on, if any.
    fn backend(&self) -> Option<Backend>;

    /// True if the stream holds input that descriptor readiness does not show (a TLS layer
    /// with decrypted data, bytes put back with `unread`): a watcher should read again
    /// without waiting.
    fn has_buffered_input(&self) -> bool {
        false
    }

    /// Sets the stream's own callbacks aside (kept, not called) while a TLS layer uses it;
    /// [`unpark_callbacks`](Self::unpark_callbacks) puts them back. Plumbing between the
    /// crate's own streams: the default parks nothing.
    #[doc(hidden)]
    fn park_callbacks(&self) -> Option<Box<dyn Any + Send>> {
        None
    }

    /// Puts back what [`park_callbacks`](Self::park_callbacks) set aside.
    #[doc(hidden)]
    fn unpark_callbacks(&self, _parked: Box<dyn Any + Send>) {}
}

/// A deadline `timeout` from now, or none.
pub(crate) fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.map(|t| Instant::now() + t)
}
