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
use std::task::{Context, Poll};
use std::time::Instant;

use crate::error::Error;
use crate::interest::Interest;
use crate::ssl_file::SslFile;
use crate::stream::Stream;

/// Which side of the connection a poll is for: each has its own waker and timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Read,
    Write,
}

/// A runtime's readiness and timers for one socket.
pub(crate) trait Reactor: Send + Sync {
    /// `Ready` once the socket is ready for one of `interest` (and that readiness is then
    /// taken: the next call waits for a new event); `Pending` with the task's waker kept.
    fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        side: Side,
        interest: Interest,
    ) -> Poll<io::Result<()>>;

    /// `Ready` once `deadline` has passed; `Pending` with the waker kept.
    fn poll_deadline(&self, cx: &mut Context<'_>, side: Side, deadline: Instant) -> Poll<()>;
}

/// The file and its reactor. The reactor comes first, so that it lets go of the
/// descriptor before the file closes it.
pub(crate) struct Core<S: Stream + 'static, R: Reactor> {
    pub(crate) reactor: R,
    pub(crate) file: SslFile<S>,
}

impl<S: Stream + 'static, R: Reactor> Core<S, R> {
    /// Runs `op` until it does not say `WouldBlock`, waiting for the socket in between.
    fn poll_op<T>(
        &self,
        cx: &mut Context<'_>,
        side: Side,
        mut op: impl FnMut(&SslFile<S>) -> Result<Option<T>, Error>,
    ) -> Poll<Result<T, Error>> {
        loop {
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
            match self.reactor.poll_ready(cx, side, interest) {
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::from_io(e))),
                Poll::Pending => {}
            }
            if let Some(deadline) = pending.deadline {
                if self.reactor.poll_deadline(cx, side, deadline).is_ready() {
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
        self.poll_op(cx, Side::Read, |file| file.read_nonblocking(buf).map(Some))
            .map_err(Into::into)
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

#[cfg(feature = "tokio")]
pub(crate) mod tokio;
