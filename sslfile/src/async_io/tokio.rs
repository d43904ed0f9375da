//! The tokio form of `SslFile`: [`TlsStream`], an `AsyncRead + AsyncWrite` driven by tokio's
//! reactor (feature `tokio`).
//!
//! | event | `poll_read` | `poll_write` |
//! |---|---|---|
//! | handshake fails | the handshake's error, from `TlsStream::connect`/`accept` or the first poll | same |
//! | peer sent close_notify | buffered data, then `Ok(0)` (end of stream), repeatably | TLS 1.3: works (half-close) until our `poll_shutdown`; TLS 1.2: `BrokenPipe` |
//! | transport ended without close_notify (truncation) | buffered data, then `Err(BrokenPipe)` | `Err(BrokenPipe)` |
//! | peer sent a fatal alert | `Err(ConnectionReset)` | same |
//! | handshake or idle timeout | `Err(TimedOut)` (the task is woken at the deadline, with or without tokio's timers) | same |
//! | `poll_shutdown` | reading goes on until the peer's close_notify | `Err` after it |
//! | drop | — | close_notify sent without blocking (a lingering close on the default [`Backend`](crate::Backend)) |
//!
//! A write that returned `Pending` accepted nothing: a future dropped (cancelled) there
//! loses no byte and sends none twice. `TlsStream::split` gives
//! a read half and a write half that work at the same time (full duplex).
//!
//! # Examples
//!
//! ```
//! use sslfile::tokio::TlsStream;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let made = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
//! let server_ctx = sslfile::Context::builder()
//!     .certificate_chain_pem(made.cert.pem().as_bytes(), made.key_pair.serialize_pem().as_bytes())?
//!     .build()?;
//! let client_ctx = sslfile::Context::builder().trust_pem(made.cert.pem().as_bytes())?.build()?;
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! let server = tokio::spawn(async move {
//!     let (tcp, _) = listener.accept().await?;
//!     let mut tls = TlsStream::accept(tcp.try_into()?, &server_ctx).await?;
//!     let mut request = String::new();
//!     tls.read_to_string(&mut request).await?; // to the client's close_notify
//!     tls.write_all(request.to_uppercase().as_bytes()).await?;
//!     tls.shutdown().await // our close_notify
//! });
//! let tcp = tokio::net::TcpStream::connect(addr).await?;
//! let mut tls = TlsStream::connect(tcp.try_into()?, &client_ctx, "localhost").await?;
//! tls.write_all(b"hello").await?;
//! tls.shutdown().await?; // TLS 1.3 half-close: the answer still comes
//! let mut answer = String::new();
//! tls.read_to_string(&mut answer).await?;
//! assert_eq!(answer, "HELLO");
//! server.await??;
//! # Ok(())
//! # }
//! ```

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{Core, HasCore, Reactor};
use crate::file::File;
use crate::stream::Stream;

/// A duplicate of the socket's descriptor, owned by the registration: it stays open for as
/// long as tokio watches it, whatever the file does with its own (close, hand over).
#[doc(hidden)]
pub struct Descriptor(OwnedFd);

impl AsRawFd for Descriptor {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// tokio's reactor for one socket.
#[doc(hidden)]
pub struct TokioReactor {
    fd: AsyncFd<Descriptor>,
}

impl Reactor for TokioReactor {
    fn register(fd: OwnedFd) -> io::Result<Self> {
        let interest = tokio::io::Interest::READABLE | tokio::io::Interest::WRITABLE;
        // SAFETY: the descriptor is owned by the `Descriptor` that the registration owns,
        // so it stays open, the same description, for the registration's whole life.
        #[allow(unsafe_code)]
        let fd = unsafe { AsyncFd::register_with_interest(Descriptor(fd), interest) }?;
        Ok(TokioReactor { fd })
    }

    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.fd
            .poll_read_ready(cx)
            .map_ok(|mut guard| guard.clear_ready())
    }

    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.fd
            .poll_write_ready(cx)
            .map_ok(|mut guard| guard.clear_ready())
    }

    fn poll_read_with<T>(
        &self,
        cx: &mut Context<'_>,
        read: &mut dyn FnMut() -> Result<Option<(T, bool)>, crate::Error>,
        took: &dyn Fn(),
    ) -> Poll<Result<Option<T>, crate::Error>> {
        loop {
            let mut guard = match self.fd.poll_read_ready(cx) {
                Poll::Ready(Ok(guard)) => guard,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(crate::Error::from_io(e))),
                Poll::Pending => return Poll::Pending,
            };
            match read()? {
                Some((value, drained)) => {
                    if drained {
                        guard.clear_ready();
                        took();
                    } else {
                        guard.retain_ready();
                    }
                    return Poll::Ready(Ok(Some(value)));
                }
                None => {
                    guard.clear_ready();
                    took();
                }
            }
        }
    }
}

/// An `SslFile` as a tokio `AsyncRead + AsyncWrite` (see the [module docs](self)).
pub type TlsStream<S = File> = super::TlsStream<S, TokioReactor>;

/// The reading half of a [`TlsStream`].
pub type ReadHalf<S = File> = super::ReadHalf<S, TokioReactor>;

/// The writing half of a [`TlsStream`].
pub type WriteHalf<S = File> = super::WriteHalf<S, TokioReactor>;

fn poll_read_buf<S: Stream + AsRawFd + 'static>(
    core: &Core<S, TokioReactor>,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    let unfilled = buf.initialize_unfilled();
    match core.poll_read(cx, unfilled) {
        Poll::Ready(Ok(n)) => {
            buf.advance(n);
            Poll::Ready(Ok(()))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

macro_rules! async_read {
    ($type:ident) => {
        impl<S: Stream + AsRawFd + 'static> AsyncRead for super::$type<S, TokioReactor> {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                poll_read_buf(self.core(), cx, buf)
            }
        }
    };
}

macro_rules! async_write {
    ($type:ident) => {
        impl<S: Stream + AsRawFd + 'static> AsyncWrite for super::$type<S, TokioReactor> {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.core().poll_write(cx, &[IoSlice::new(buf)])
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.core().poll_write(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.core().poll_flush(cx)
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.core().poll_shutdown(cx)
            }
        }
    };
}

async_read!(TlsStream);
async_read!(ReadHalf);
async_write!(TlsStream);
async_write!(WriteHalf);

/// A tokio TCP stream as a [`File`] (it leaves tokio's reactor; [`TlsStream`] registers
/// the socket again).
impl TryFrom<tokio::net::TcpStream> for File {
    type Error = io::Error;

    fn try_from(stream: tokio::net::TcpStream) -> io::Result<File> {
        File::try_from(stream.into_std()?)
    }
}

/// A tokio Unix-domain stream as a [`File`].
impl TryFrom<tokio::net::UnixStream> for File {
    type Error = io::Error;

    fn try_from(stream: tokio::net::UnixStream) -> io::Result<File> {
        File::try_from(stream.into_std()?)
    }
}

/// Runs `backend` inside the tokio runtime, on the task that awaits this, until
/// [`Backend::stop`](crate::Backend::stop) is called: Pike-style callback code and async code then share one
/// thread. The backend's descriptor is watched by tokio's reactor (its call_outs wake the
/// task when due); each wake-up runs one round without blocking.
///
/// # Errors
/// A failure of the backend's poller, or no tokio reactor.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let backend = sslfile::Backend::new()?;
/// let stopper = backend.clone();
/// backend.call_out(std::time::Duration::from_millis(10), move || stopper.stop());
/// sslfile::tokio::run_backend(&backend).await?; // returns once the call_out stopped it
/// # Ok(())
/// # }
/// ```
pub async fn run_backend(backend: &crate::Backend) -> io::Result<()> {
    use std::os::fd::AsFd;
    let fd = backend.as_fd().try_clone_to_owned()?;
    // SAFETY: the duplicate is owned by the registration, open for its whole life.
    #[allow(unsafe_code)]
    let fd =
        unsafe { AsyncFd::register_with_interest(Descriptor(fd), tokio::io::Interest::READABLE) }?;
    let wake = super::WakeAt::default();
    loop {
        backend.run_once(Some(std::time::Duration::ZERO))?;
        if backend.take_stop() {
            return Ok(());
        }
        // Until the backend's descriptor is readable or its next call_out is due.
        let due = backend
            .next_timeout()
            .map(|t| std::time::Instant::now() + t);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(ready) = fd.poll_read_ready(cx) {
                ready?.clear_ready();
                return Poll::Ready(Ok::<(), io::Error>(()));
            }
            match due {
                Some(due) => wake.poll(cx, due).map(Ok),
                None => Poll::Pending,
            }
        })
        .await?;
    }
}
