//! Full duplex in the async forms: on one connection, N MiB one way, then, on a fresh
//! one, N MiB each way at once, each end's stream split into a read half and a write half
//! driven by two tasks of that end's current-thread runtime. The contenders are sslfile's
//! tokio stream (`TlsStream::split`) and tokio-rustls (`tokio::io::split`), over the same
//! links as [`duplex`](super::duplex): loopback TCP and a paced relay.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::thread;
use std::time::Instant;

use sslfile::tokio::TlsStream;
use sslfile::File;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::contenders::server_name;
use super::duplex::{paced_relay, Duplex};
use super::setup::{Setup, SERVER_NAME};
use super::tokio::runtime;

/// An async TLS stack that can be measured in full duplex.
pub trait AsyncDuplex: Sync {
    /// The contender's name in the tables.
    fn name(&self) -> &'static str;

    /// Connects a client to `addr` and, on the server side, accepts from `listener`;
    /// then runs `client` and `server` on each end's own current-thread runtime and
    /// thread, each given that end's stream split into halves.
    fn pair(
        &self,
        setup: &Setup,
        listener: TcpListener,
        addr: SocketAddr,
        bytes: u64,
        both_ways: bool,
    ) -> io::Result<()>;
}

/// sslfile's tokio stream, split with `TlsStream::split`.
pub struct SslfileSplit;

/// tokio-rustls, split with `tokio::io::split`.
pub struct TokioRustlsSplit;

/// Measures `bytes` per direction over loopback or (`paced`: MB/s per direction) a paced
/// relay.
pub fn run(
    contender: &dyn AsyncDuplex,
    setup: &Setup,
    bytes: u64,
    paced: Option<f64>,
) -> io::Result<Duplex> {
    let timed = |both_ways| -> io::Result<std::time::Duration> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let addr = match paced {
            Some(mbps) => paced_relay(addr, mbps)?,
            None => addr,
        };
        let start = Instant::now();
        contender.pair(setup, listener, addr, bytes, both_ways)?;
        Ok(start.elapsed())
    };
    let one_way = timed(false)?;
    let both = timed(true)?;
    Ok(Duplex {
        bytes,
        one_way,
        both,
    })
}

impl AsyncDuplex for SslfileSplit {
    fn name(&self) -> &'static str {
        "sslfile tokio split"
    }

    fn pair(
        &self,
        setup: &Setup,
        listener: TcpListener,
        addr: SocketAddr,
        bytes: u64,
        both_ways: bool,
    ) -> io::Result<()> {
        let ctx = setup.sslfile_server.clone();
        let server = on_thread(move || async move {
            let (socket, _) = listener.accept()?;
            let tls = TlsStream::accept(File::try_from(socket)?, &ctx).await?;
            let (r, w) = tls.split();
            transfer(r, w, bytes, both_ways, true).await
        })?;
        let client_ctx = setup.sslfile_client.clone();
        let client = on_thread(move || async move {
            let tls = TlsStream::connect(File::connect(addr)?, &client_ctx, SERVER_NAME).await?;
            let (r, w) = tls.split();
            transfer(r, w, bytes, true, both_ways).await
        })?;
        join(client, server)
    }
}

impl AsyncDuplex for TokioRustlsSplit {
    fn name(&self) -> &'static str {
        "tokio-rustls split"
    }

    fn pair(
        &self,
        setup: &Setup,
        listener: TcpListener,
        addr: SocketAddr,
        bytes: u64,
        both_ways: bool,
    ) -> io::Result<()> {
        let acceptor = TlsAcceptor::from(setup.rustls_server.clone());
        let server = on_thread(move || async move {
            let (socket, _) = listener.accept()?;
            socket.set_nonblocking(true)?;
            let socket = tokio::net::TcpStream::from_std(socket)?;
            let (r, w) = tokio::io::split(acceptor.accept(socket).await?);
            transfer(r, w, bytes, both_ways, true).await
        })?;
        let connector = TlsConnector::from(setup.rustls_client(true));
        let client = on_thread(move || async move {
            let socket = tokio::net::TcpStream::connect(addr).await?;
            let (r, w) = tokio::io::split(connector.connect(server_name(), socket).await?);
            transfer(r, w, bytes, true, both_ways).await
        })?;
        join(client, server)
    }
}

/// Runs `task` on a current-thread runtime of a thread of its own.
fn on_thread<F, Fut>(task: F) -> io::Result<thread::JoinHandle<io::Result<()>>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = io::Result<()>>,
{
    thread::Builder::new()
        .name("bench-duplex".into())
        .spawn(move || runtime()?.block_on(task()))
}

fn join(
    client: thread::JoinHandle<io::Result<()>>,
    server: thread::JoinHandle<io::Result<()>>,
) -> io::Result<()> {
    let panicked = |_| io::Error::other("a transfer thread panicked");
    let client = client.join().map_err(panicked)?;
    let server = server.join().map_err(panicked)?;
    client.and(server)
}

/// Sends `bytes` on `w` (if `send`) while receiving `bytes` on `r` (if `receive`), as two
/// futures polled together on this runtime; then sends close_notify and reads to the
/// peer's (so that no end closes its socket with input unread, which would reset it).
async fn transfer<R, W>(mut r: R, mut w: W, bytes: u64, send: bool, receive: bool) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let sending = async {
        if send {
            let chunk = vec![0x5au8; 256 * 1024];
            let mut left = bytes;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                w.write_all(&chunk[..n]).await?;
                left -= n as u64;
            }
            w.flush().await?;
        }
        io::Result::Ok(())
    };
    let receiving = async {
        if receive {
            let mut buf = vec![0u8; 256 * 1024];
            let mut left = bytes;
            while left > 0 {
                let n = r.read(&mut buf).await?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                left = left.saturating_sub(n as u64);
            }
        }
        io::Result::Ok(())
    };
    let (sent, received) = tokio::join!(sending, receiving);
    sent.and(received)?;
    w.shutdown().await?;
    let mut rest = [0u8; 4096];
    while r.read(&mut rest).await? > 0 {}
    Ok(())
}
