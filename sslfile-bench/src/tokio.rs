//! The tokio-rustls baseline: each end on its own current-thread
//! runtime, as the echo server's baseline does too.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::contenders::{server_name, Bulk};
use super::echo::{EchoServer, Running};
use super::progress::Progress;
use super::setup::Setup;
use super::throughput::SinkCount;

pub use super::tokio_sslfile::SslfileTokio;

/// tokio-rustls on a current-thread runtime.
pub struct TokioRustls;

pub(crate) fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
}

impl Bulk for TokioRustls {
    fn name(&self) -> &'static str {
        "tokio-rustls"
    }

    fn sink(
        &self,
        listener: &TcpListener,
        setup: &Setup,
        progress: &Progress,
    ) -> io::Result<(u64, Duration)> {
        let (socket, _) = listener.accept()?;
        socket.set_nonblocking(true)?;
        let acceptor = TlsAcceptor::from(setup.rustls_server.clone());
        runtime()?.block_on(async move {
            let socket = tokio::net::TcpStream::from_std(socket)?;
            sink(acceptor.accept(socket).await?, progress).await
        })
    }

    fn source(
        &self,
        addr: SocketAddr,
        setup: &Setup,
        total: u64,
        chunk: usize,
    ) -> io::Result<String> {
        let connector = TlsConnector::from(setup.rustls_client(true));
        runtime()?.block_on(async move {
            let socket = tokio::net::TcpStream::connect(addr).await?;
            let tls = connector.connect(server_name(), socket).await?;
            let suite = tls
                .get_ref()
                .1
                .negotiated_cipher_suite()
                .map_or_else(|| "?".into(), |s| format!("{:?}", s.suite()));
            source(tls, total, chunk).await?;
            Ok(suite)
        })
    }
}

impl EchoServer for TokioRustls {
    fn name(&self) -> &'static str {
        "tokio-rustls"
    }

    fn start(&self, setup: &Setup) -> io::Result<(SocketAddr, Box<dyn Running>)> {
        let acceptor = TlsAcceptor::from(setup.rustls_server.clone());
        serve_echo(move |socket| {
            let acceptor = acceptor.clone();
            async move { echo(acceptor.accept(socket).await?).await }
        })
    }
}

/// Reads until the end of stream, counting (the bulk sink).
pub(crate) async fn sink<T: AsyncRead + Unpin>(
    mut tls: T,
    progress: &Progress,
) -> io::Result<(u64, Duration)> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut count = SinkCount::default();
    loop {
        let n = tls.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        progress.add(count.record(n));
    }
    Ok(count.result())
}

/// Writes `total` bytes `chunk` at a time, then close_notify (the bulk source). What the
/// server sent (TLS 1.3 session tickets) is read before the socket closes, as the other
/// contenders do, so that closing does not reset it.
pub(crate) async fn source<T: AsyncRead + AsyncWrite + Unpin>(
    mut tls: T,
    total: u64,
    chunk: usize,
) -> io::Result<()> {
    let data = vec![0x5au8; chunk.max(1)];
    let mut left = total;
    while left > 0 {
        let n = left.min(data.len() as u64) as usize;
        tls.write_all(&data[..n]).await?;
        left -= n as u64;
    }
    tls.flush().await?;
    tls.shutdown().await?; // close_notify
    let _ = tokio::io::copy(&mut tls, &mut tokio::io::sink()).await;
    Ok(())
}

/// Echoes until the end of stream.
pub(crate) async fn echo<T: AsyncRead + AsyncWrite + Unpin>(mut tls: T) -> io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tls.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        tls.write_all(&buf[..n]).await?;
        tls.flush().await?;
    }
}

/// An echo server on a current-thread runtime of its own thread: `handle` serves each
/// accepted socket on a task.
pub(crate) fn serve_echo<F, Fut>(handle: F) -> io::Result<(SocketAddr, Box<dyn Running>)>
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = io::Result<()>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let rt = runtime()?;
    let thread = thread::Builder::new()
        .name("bench-tokio".into())
        .spawn(move || {
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                loop {
                    let (socket, _) = listener.accept().await?;
                    if stopping.load(Ordering::SeqCst) {
                        return Ok(());
                    }
                    let served = handle(socket);
                    tokio::spawn(async move {
                        let _ = served.await;
                    });
                }
            })
        })?;
    Ok((
        addr,
        Box::new(TokioServer {
            addr,
            stop,
            thread: Some(thread),
        }),
    ))
}

struct TokioServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<io::Result<()>>>,
}

impl Running for TokioServer {}

impl Drop for TokioServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(self.addr); // wakes the accept
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
