//! The futures-io form of `SslFile` (feature `futures-io`): [`TlsStream`], a
//! `futures_io::AsyncRead + AsyncWrite` driven by the `async-io` reactor, for smol,
//! async-std and any executor with `futures` I/O traits.
//!
//! Same semantics as [`crate::tokio`]'s table, with `poll_close` in the place of
//! `poll_shutdown`: it sends close_notify (a half-close; reading goes on until the peer's).
//!
//! # Examples
//!
//! ```
//! use futures_lite::{AsyncReadExt, AsyncWriteExt};
//! use sslfile::futures_io::TlsStream;
//! use sslfile::File;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let made = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
//! let server_ctx = sslfile::Context::builder()
//!     .certificate_chain_pem(made.cert.pem().as_bytes(), made.key_pair.serialize_pem().as_bytes())?
//!     .build()?;
//! let client_ctx = sslfile::Context::builder().trust_pem(made.cert.pem().as_bytes())?.build()?;
//! let (a, b) = File::pipe()?;
//! futures_lite::future::block_on(async {
//!     let server = async {
//!         let mut tls = TlsStream::accept(b, &server_ctx).await?;
//!         let mut request = Vec::new();
//!         tls.read_to_end(&mut request).await?;
//!         tls.write_all(&request).await?;
//!         tls.close().await
//!     };
//!     let client = async {
//!         let mut tls = TlsStream::connect(a, &client_ctx, "localhost").await?;
//!         tls.write_all(b"echo").await?;
//!         tls.close().await?; // half-close: the echo still comes
//!         let mut echo = Vec::new();
//!         tls.read_to_end(&mut echo).await?;
//!         Ok::<_, std::io::Error>(echo)
//!     };
//!     let (served, echo) = futures_lite::future::zip(server, client).await;
//!     served?;
//!     assert_eq!(echo?, b"echo");
//!     Ok(())
//! })
//! # }
//! ```

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use async_io::Async;

use super::{HasCore, Reactor};
use crate::file::File;
use crate::stream::Stream;

/// An `SslFile` as a futures-io `AsyncRead + AsyncWrite` (see the [module docs](self)).
pub type TlsStream<S = File> = super::TlsStream<S, AsyncIoReactor>;

/// The reading half of a [`TlsStream`].
pub type ReadHalf<S = File> = super::ReadHalf<S, AsyncIoReactor>;

/// The writing half of a [`TlsStream`].
pub type WriteHalf<S = File> = super::WriteHalf<S, AsyncIoReactor>;

/// The async-io reactor for one socket (a duplicate of the file's descriptor).
#[doc(hidden)]
pub struct AsyncIoReactor {
    fd: Async<OwnedFd>,
}

impl Reactor for AsyncIoReactor {
    fn register(fd: OwnedFd) -> io::Result<Self> {
        Ok(AsyncIoReactor {
            fd: Async::new_nonblocking(fd)?,
        })
    }

    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.fd.poll_readable(cx)
    }

    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.fd.poll_writable(cx)
    }
}

macro_rules! async_read {
    ($type:ident) => {
        impl<S: Stream + AsRawFd + 'static> futures_io::AsyncRead
            for super::$type<S, AsyncIoReactor>
        {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.core().poll_read(cx, buf)
            }
        }
    };
}

macro_rules! async_write {
    ($type:ident) => {
        impl<S: Stream + AsRawFd + 'static> futures_io::AsyncWrite
            for super::$type<S, AsyncIoReactor>
        {
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

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.core().poll_flush(cx)
            }

            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.core().poll_shutdown(cx)
            }
        }
    };
}

async_read!(TlsStream);
async_read!(ReadHalf);
async_write!(TlsStream);
async_write!(WriteHalf);
