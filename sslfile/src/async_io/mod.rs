//! `SslFile` as an async stream, for the event loops Rust programs already run: tokio
//! ([`crate::tokio`]) and futures-io executors such as smol ([`crate::futures_io`]).
//!
//! One [`Core`] does the work for both: it calls the file's nonblocking operations and,
//! when one says `WouldBlock`, asks the runtime's reactor to wake the task once the socket
//! is ready for what the connection waits for ([`SslFile::pending`]), or once the handshake
//! or idle timeout is due. Nothing is held across an `.await`: a read half and a write half
//! work at the same time (full duplex), each with its own waker and timer.

use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::context::Context as TlsContext;
use crate::error::Error;
use crate::file::File;
use crate::interest::Interest;
use crate::ssl_file::SslFile;
use crate::stream::Stream;
use waiters::Readiness;

mod waiters;

/// Which side of the connection a poll is for: each has its own waker and timer.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Polls for reading (and the handshake).
    Read,
    /// Polls for writing, flushing and shutting down.
    Write,
}

/// A runtime's readiness and timers for one socket.
#[doc(hidden)]
pub trait Reactor: Send + Sync + Sized + 'static {
    /// Registers the socket (a duplicate of the file's descriptor, owned by the reactor
    /// for as long as it watches it).
    fn register(fd: OwnedFd) -> io::Result<Self>;

    /// `Ready` once the socket is readable (and that readiness is then taken: the next
    /// call waits for a new event); `Pending` with the waker of `cx` kept (only the last
    /// one given: [`Core`] passes one that wakes every task waiting).
    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// As [`poll_readable`](Self::poll_readable), for writing.
    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Runs `read` once the socket may be readable, and keeps that readiness only if
    /// `read` says the socket may hold more (`(value, drained)`): a reactor that can
    /// (tokio's) saves the read that would only say `WouldBlock`. `Ok(None)` from `read`:
    /// it would block. `took` is called whenever a readiness event is consumed. The
    /// default tries `read` first, then waits (`Ready(Ok(None))`: call again).
    fn poll_read_with<T>(
        &self,
        cx: &mut Context<'_>,
        read: &mut dyn FnMut() -> Result<Option<(T, bool)>, Error>,
        took: &dyn Fn(),
    ) -> Poll<Result<Option<T>, Error>> {
        match read()? {
            Some((value, _)) => Poll::Ready(Ok(Some(value))),
            None => match self.poll_readable(cx) {
                Poll::Ready(Ok(())) => {
                    took();
                    Poll::Ready(Ok(None))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(Error::from_io(e))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// Wakes a task at a deadline (the handshake or idle timeout) from a call_out on the
/// default [`Backend`](crate::Backend)'s thread: no runtime timer is needed, so a runtime
/// built without one (tokio's `enable_io()` alone) works too.
#[derive(Default)]
pub(crate) struct WakeAt {
    pending: std::sync::Mutex<Option<(Instant, crate::backend::CallOut, std::task::Waker)>>,
}

impl WakeAt {
    /// `Ready` once `deadline` has passed; otherwise the task is woken then.
    pub(crate) fn poll(&self, cx: &mut Context<'_>, deadline: Instant) -> Poll<()> {
        let now = Instant::now();
        if now >= deadline {
            return Poll::Ready(());
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, _, waker)) = &*pending {
            if *at == deadline && waker.will_wake(cx.waker()) {
                return Poll::Pending;
            }
        }
        let backend = crate::Backend::default_backend();
        if let Some((_, id, _)) = pending.take() {
            backend.remove_call_out(id);
        }
        let waker = cx.waker().clone();
        let wake = waker.clone();
        let id = backend.call_out(deadline - now, move || wake.wake());
        *pending = Some((deadline, id, waker));
        Poll::Pending
    }
}

impl Drop for WakeAt {
    fn drop(&mut self) {
        let pending = self.pending.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some((_, id, _)) = pending.take() {
            crate::Backend::default_backend().remove_call_out(id);
        }
    }
}

/// The file and its reactor. The reactor comes first, so that it lets go of the
/// descriptor before the file closes it.
#[doc(hidden)]
pub struct Core<S: Stream + 'static, R: Reactor> {
    pub(crate) reactor: R,
    pub(crate) file: SslFile<S>,
    /// The timeouts' wake-ups, one per side.
    timers: [WakeAt; 2],
    /// The tasks waiting for the socket, so that both halves of a split stream are woken.
    readiness: Readiness,
}

impl<S: Stream + 'static, R: Reactor> Core<S, R> {
    /// `Ready` once the socket is ready for one of `interest`, for the task of `side`
    /// (the other side's task, if it waits for the same, stays woken by the reactor).
    fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        side: Side,
        interest: Interest,
    ) -> Poll<io::Result<()>> {
        let mut ready = false;
        if interest.is_readable() {
            let waker = self.readiness.wait_readable(side, cx.waker());
            match self.reactor.poll_readable(&mut Context::from_waker(waker)) {
                Poll::Ready(Ok(())) => {
                    self.readiness.took_readable(side);
                    ready = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
        }
        if interest.is_writable() {
            let waker = self.readiness.wait_writable(side, cx.waker());
            match self.reactor.poll_writable(&mut Context::from_waker(waker)) {
                Poll::Ready(Ok(())) => {
                    self.readiness.took_writable(side);
                    ready = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
        }
        if ready {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    /// Runs `op` until it does not say `WouldBlock`, waiting for the socket in between.
    fn poll_op<T>(
        &self,
        cx: &mut Context<'_>,
        side: Side,
        mut op: impl FnMut(&SslFile<S>) -> Result<Option<T>, Error>,
    ) -> Poll<Result<T, Error>> {
        loop {
            let mark = self.readiness.mark(side);
            match op(&self.file) {
                Ok(Some(value)) => return Poll::Ready(Ok(value)),
                Ok(None) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            let pending = self.file.pending();
            if side == Side::Read && pending.plaintext_ready {
                continue; // arrived meanwhile
            }
            let interest = match (pending.handshaking, side, pending.output_pending) {
                (true, _, _) => pending.interest,
                (false, Side::Read, true) => Interest::READ | Interest::WRITE,
                (false, Side::Read, false) => Interest::READ,
                (false, Side::Write, _) => Interest::WRITE,
            };
            match self.poll_ready(cx, side, interest) {
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::from_io(e))),
                Poll::Pending if self.readiness.taken(side, mark) => continue,
                Poll::Pending => {}
            }
            if let Some(deadline) = pending.deadline {
                if self.timers[side as usize].poll(cx, deadline).is_ready() {
                    continue; // the next call reports the timeout
                }
            }
            return Poll::Pending;
        }
    }

    /// Drives the handshake to its end (at once if it is over).
    pub(crate) fn poll_handshake(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_op(cx, Side::Read, |file| {
            file.drive_handshake().map(|done| done.then_some(()))
        })
    }

    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mark = self.readiness.mark(Side::Read);
            let pending = self.file.pending();
            if pending.handshaking || pending.output_pending || pending.plaintext_ready {
                return self
                    .poll_op(cx, Side::Read, |file| file.read_nonblocking(buf).map(Some))
                    .map_err(Into::into);
            }
            // Only the socket can bring more: read it when the reactor says it may.
            let file = &self.file;
            let mut read = || match file.read_nonblocking(buf) {
                Ok(n) => Ok(Some((n, file.input_drained()))),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
                Err(e) => Err(e),
            };
            let waker = self.readiness.wait_readable(Side::Read, cx.waker());
            let took = || self.readiness.took_readable(Side::Read);
            match self
                .reactor
                .poll_read_with(&mut Context::from_waker(waker), &mut read, &took)
            {
                Poll::Ready(Ok(Some(n))) => return Poll::Ready(Ok(n)),
                Poll::Ready(Ok(None)) => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                Poll::Pending if self.readiness.taken(Side::Read, mark) => continue,
                Poll::Pending => {}
            }
            if let Some(deadline) = pending.deadline {
                if self.timers[Side::Read as usize]
                    .poll(cx, deadline)
                    .is_ready()
                {
                    continue; // the next read reports the timeout
                }
            }
            return Poll::Pending;
        }
    }

    pub(crate) fn poll_write(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_op(cx, Side::Write, |file| {
            file.write_nonblocking(bufs).map(Some)
        })
        .map_err(Into::into)
    }

    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_op(cx, Side::Write, |file| file.flush_nonblocking().map(Some))
            .map_err(Into::into)
    }

    /// Sends close_notify (once) and pushes it out; reading stays possible.
    pub(crate) fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.file.shutdown(Shutdown::Write) {
            Ok(()) => {}
            // Already shut, closed, or the peer closed both ways (TLS 1.2): nothing to send.
            Err(Error::Closed | Error::PeerClosed) => return Poll::Ready(Ok(())),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Poll::Ready(Err(e.into())),
        }
        self.poll_flush(cx)
    }
}

/// An `SslFile` as an async stream on the runtime of `R` (see [`crate::tokio`] and
/// [`crate::futures_io`], whose `TlsStream` this is).
pub struct TlsStream<S: Stream + AsRawFd + 'static, R: Reactor> {
    core: Arc<Core<S, R>>,
}

/// The reading half of a `TlsStream` (`TlsStream::split`).
pub struct ReadHalf<S: Stream + AsRawFd + 'static, R: Reactor> {
    core: Arc<Core<S, R>>,
}

/// The writing half of a `TlsStream` (`TlsStream::split`).
pub struct WriteHalf<S: Stream + AsRawFd + 'static, R: Reactor> {
    core: Arc<Core<S, R>>,
}

impl<S: Stream + AsRawFd + 'static, R: Reactor> std::fmt::Debug for TlsStream<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("fd", &self.core.file.as_raw_fd())
            .finish()
    }
}

impl<R: Reactor> TlsStream<File, R> {
    /// Connects as a client to `server_name` over `stream` and completes the handshake.
    ///
    /// # Errors
    /// The handshake's failure (with the message of the blocking modes), or a timeout
    /// ([`ContextBuilder::handshake_timeout`](crate::ContextBuilder::handshake_timeout)).
    pub async fn connect(stream: File, ctx: &TlsContext, server_name: &str) -> Result<Self, Error> {
        let file = SslFile::new(stream, ctx);
        file.connect(server_name)?;
        let tls = TlsStream::from_ssl_file(file)?;
        tls.handshake().await?;
        Ok(tls)
    }

    /// Accepts a client over `stream` and completes the handshake.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn accept(stream: File, ctx: &TlsContext) -> Result<Self, Error> {
        let file = SslFile::new(stream, ctx);
        file.accept()?;
        let tls = TlsStream::from_ssl_file(file)?;
        tls.handshake().await?;
        Ok(tls)
    }
}

impl<S: Stream + AsRawFd + 'static, R: Reactor> TlsStream<S, R> {
    /// Takes over `file` in whatever state it is (not started, handshaking, open,
    /// half-closed), with nothing lost: it is put in nonblocking mode (callbacks cleared)
    /// and driven by the runtime from now on. Call it where the runtime's reactor is
    /// available (inside a tokio runtime, for tokio).
    ///
    /// # Errors
    /// A file whose transport was closed or handed over; no reactor.
    pub fn from_ssl_file(file: SslFile<S>) -> Result<Self, Error> {
        let fd = file.as_raw_fd();
        if fd < 0 {
            return Err(Error::Closed);
        }
        // SAFETY: `fd` is the open socket descriptor of `file`, which is alive here.
        #[allow(unsafe_code)]
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let owned = borrowed.try_clone_to_owned().map_err(Error::from_io)?;
        file.set_nonblocking();
        let reactor = R::register(owned).map_err(Error::from_io)?;
        Ok(TlsStream {
            core: Arc::new(Core {
                reactor,
                file,
                timers: Default::default(),
                readiness: Readiness::default(),
            }),
        })
    }

    /// Completes the handshake if it is still running (at once otherwise).
    ///
    /// # Errors
    /// The handshake's failure.
    pub async fn handshake(&self) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.core.poll_handshake(cx)).await
    }

    /// The connection, for its queries (version, ALPN, peer certificates…).
    pub fn ssl_file(&self) -> &SslFile<S> {
        &self.core.file
    }

    /// Gives the `SslFile` back, for blocking, nonblocking or callback mode, with nothing
    /// lost (it stays nonblocking until told otherwise).
    ///
    /// # Errors
    /// The stream itself while a [`split`](Self::split) half of it is still alive.
    pub fn into_ssl_file(self) -> Result<SslFile<S>, Self> {
        match Arc::try_unwrap(self.core) {
            Ok(core) => {
                drop(core.reactor);
                Ok(core.file)
            }
            Err(core) => Err(TlsStream { core }),
        }
    }

    /// A read half and a write half that work at the same time, from two tasks (full
    /// duplex: neither waits for the other).
    pub fn split(self) -> (ReadHalf<S, R>, WriteHalf<S, R>) {
        (
            ReadHalf {
                core: self.core.clone(),
            },
            WriteHalf { core: self.core },
        )
    }
}

impl<S: Stream + AsRawFd + 'static, R: Reactor> ReadHalf<S, R> {
    /// Puts the halves back together.
    ///
    /// # Panics
    /// If they are not halves of the same stream.
    pub fn unsplit(self, write: WriteHalf<S, R>) -> TlsStream<S, R> {
        assert!(
            Arc::ptr_eq(&self.core, &write.core),
            "halves of another stream"
        );
        TlsStream { core: self.core }
    }

    /// The connection, for its queries.
    pub fn ssl_file(&self) -> &SslFile<S> {
        &self.core.file
    }
}

impl<S: Stream + AsRawFd + 'static, R: Reactor> WriteHalf<S, R> {
    /// The connection, for its queries.
    pub fn ssl_file(&self) -> &SslFile<S> {
        &self.core.file
    }
}

/// The shared state of a stream or half, for the runtimes' trait impls.
pub(crate) trait HasCore<S: Stream + 'static, R: Reactor> {
    fn core(&self) -> &Core<S, R>;
}

macro_rules! has_core {
    ($type:ident) => {
        impl<S: Stream + AsRawFd + 'static, R: Reactor> HasCore<S, R> for $type<S, R> {
            fn core(&self) -> &Core<S, R> {
                &self.core
            }
        }
    };
}

has_core!(TlsStream);
has_core!(ReadHalf);
has_core!(WriteHalf);

#[cfg(feature = "futures-io")]
pub mod futures_io;
#[cfg(feature = "tokio")]
pub mod tokio;
