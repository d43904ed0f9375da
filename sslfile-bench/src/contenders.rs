//! What is compared: ways to run a TLS connection over a loopback TCP socket.
//!
//! A [`Contender`] makes connections whose handshake is complete, used through `Read` and
//! `Write` ([`Conn`]): the handshake runs and the blocking-style bulk runs take those.
//! Bulk transfer itself is the [`Bulk`] trait, which every contender has through
//! [`ConnBulk`]; modes that are not `Read`/`Write` loops (callbacks, tokio) implement
//! [`Bulk`] directly.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConnection, StreamOwned};
use sslfile::{File, Interest, SslFile, Stream};

use super::progress::Progress;
use super::setup::{Setup, SERVER_NAME};
use super::throughput::SinkCount;

/// A connection whose handshake is complete: read, write, close.
pub trait Conn: Read + Write + Send {
    /// The negotiated cipher suite, e.g. "TLS13_AES_256_GCM_SHA384".
    fn suite(&self) -> String;
    /// Sends close_notify and closes.
    fn close(self: Box<Self>) -> io::Result<()>;
    /// Sends close_notify, then reads and drops whatever the peer still sends until it
    /// closes, and only then closes: the end of a bulk transfer. Closing at once could
    /// reset the connection under data the peer has yet to read (a loaded server that
    /// writes its TLS 1.3 session tickets late makes the closed socket answer with a
    /// reset, and the server loses the transfer's tail).
    fn finish(self: Box<Self>) -> io::Result<()>;
}

/// One way to run TLS connections one at a time, measured against the others.
pub trait Contender: Send + Sync {
    /// Its name in reports.
    fn name(&self) -> &'static str;
    /// A server connection over an accepted socket, handshake completed.
    fn server(&self, socket: TcpStream, setup: &Setup) -> io::Result<Box<dyn Conn>>;
    /// A client connection over a connected socket, handshake completed. `resume`: use
    /// the shared client configuration, whose session cache resumes earlier sessions;
    /// otherwise one that never resumes (a full handshake).
    fn client(&self, socket: TcpStream, setup: &Setup, resume: bool) -> io::Result<Box<dyn Conn>>;
}

/// One way to move bulk data over one connection.
pub trait Bulk: Send + Sync {
    /// Its name in reports.
    fn name(&self) -> &'static str;
    /// The receiving server: accepts one client and reads until its close_notify. Returns
    /// the bytes received after the first read, and the time from the end of the first
    /// read to the close_notify (the first read starts the clock).
    fn sink(
        &self,
        listener: &TcpListener,
        setup: &Setup,
        progress: &Progress,
    ) -> io::Result<(u64, Duration)>;
    /// The sending client: connects to `addr`, writes `total` bytes `chunk` at a time,
    /// closes with close_notify. Returns the negotiated cipher suite.
    fn source(
        &self,
        addr: SocketAddr,
        setup: &Setup,
        total: u64,
        chunk: usize,
    ) -> io::Result<String>;
}

/// The contenders for handshakes: sslfile in blocking mode first, the baseline last.
pub fn all() -> Vec<Box<dyn Contender>> {
    vec![Box::new(SslfileBlocking), Box::new(RustlsStream)]
}

/// The contenders for bulk transfer: sslfile's modes first, then the baselines (raw
/// rustls and tokio-rustls).
pub fn bulk() -> Vec<Box<dyn Bulk>> {
    let mut all: Vec<Box<dyn Bulk>> = vec![
        Box::new(ConnBulk(SslfileBlocking)),
        Box::new(ConnBulk(SslfileNonblocking)),
        Box::new(super::callback::SslfileCallback),
        Box::new(super::tokio::SslfileTokio),
        Box::new(ConnBulk(RustlsStream)),
    ];
    all.push(Box::new(super::tokio::TokioRustls));
    all
}

/// The names of the bulk baselines, in report order.
pub const BULK_BASELINES: &[&str] = &["rustls StreamOwned", "tokio-rustls"];

/// A [`Contender`] moving bulk data with `read` and `write_all`.
pub struct ConnBulk<C>(pub C);

impl<C: Contender> Bulk for ConnBulk<C> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn sink(
        &self,
        listener: &TcpListener,
        setup: &Setup,
        progress: &Progress,
    ) -> io::Result<(u64, Duration)> {
        let (socket, _) = listener.accept()?;
        let mut conn = self.0.server(socket, setup)?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut count = SinkCount::default();
        loop {
            let n = conn.read(&mut buf)?;
            if n == 0 {
                break;
            }
            progress.add(count.record(n));
        }
        drop(conn); // the client closed already
        Ok(count.result())
    }

    fn source(
        &self,
        addr: SocketAddr,
        setup: &Setup,
        total: u64,
        chunk: usize,
    ) -> io::Result<String> {
        let mut conn = self.0.client(TcpStream::connect(addr)?, setup, true)?;
        let data = vec![0x5au8; chunk.max(1)];
        let mut left = total;
        while left > 0 {
            let n = left.min(data.len() as u64) as usize;
            conn.write_all(&data[..n])?;
            left -= n as u64;
        }
        conn.flush()?;
        let suite = conn.suite();
        conn.finish()?;
        Ok(suite)
    }
}

/// sslfile in blocking mode: `SslFile::server` / `SslFile::client` over a `File`.
pub struct SslfileBlocking;

impl Contender for SslfileBlocking {
    fn name(&self) -> &'static str {
        "sslfile blocking"
    }

    fn server(&self, socket: TcpStream, setup: &Setup) -> io::Result<Box<dyn Conn>> {
        let tls = SslFile::server(File::try_from(socket)?, &setup.sslfile_server)?;
        Ok(Box::new(tls))
    }

    fn client(&self, socket: TcpStream, setup: &Setup, resume: bool) -> io::Result<Box<dyn Conn>> {
        let ctx = setup.sslfile_client(resume);
        let tls = SslFile::client(File::try_from(socket)?, ctx, SERVER_NAME)?;
        Ok(Box::new(tls))
    }
}

impl Conn for SslFile {
    fn suite(&self) -> String {
        self.cipher_suite()
            .map_or_else(|| "?".into(), |s| format!("{s:?}"))
    }

    fn close(self: Box<Self>) -> io::Result<()> {
        Ok(SslFile::close(&self)?)
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        finish_sslfile(&self)
    }
}

/// [`Conn::finish`] for an `SslFile` in blocking mode: close_notify, the peer's output
/// read until it ends (its close_notify, or an error: the transfer is over either way),
/// then close.
pub fn finish_sslfile(tls: &SslFile) -> io::Result<()> {
    tls.shutdown(std::net::Shutdown::Write)?;
    let mut buf = [0u8; 16 * 1024];
    while matches!((&*tls).read(&mut buf), Ok(n) if n > 0) {}
    Ok(tls.close()?)
}

/// sslfile in nonblocking mode, as a user's own loop drives it: on `WouldBlock`, wait
/// for the socket's readiness (the handshake is done in blocking mode first).
pub struct SslfileNonblocking;

impl Contender for SslfileNonblocking {
    fn name(&self) -> &'static str {
        "sslfile nonblocking"
    }

    fn server(&self, socket: TcpStream, setup: &Setup) -> io::Result<Box<dyn Conn>> {
        let tls = SslFile::server(File::try_from(socket)?, &setup.sslfile_server)?;
        tls.set_nonblocking();
        Ok(Box::new(Nonblocking(tls)))
    }

    fn client(&self, socket: TcpStream, setup: &Setup, resume: bool) -> io::Result<Box<dyn Conn>> {
        let ctx = setup.sslfile_client(resume);
        let tls = SslFile::client(File::try_from(socket)?, ctx, SERVER_NAME)?;
        tls.set_nonblocking();
        Ok(Box::new(Nonblocking(tls)))
    }
}

/// A nonblocking `SslFile` and the user's wait-and-retry loop around it.
struct Nonblocking(SslFile);

impl Nonblocking {
    fn retry<T>(&self, interest: Interest, mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
        loop {
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.0
                        .stream()
                        .ok_or(std::io::ErrorKind::NotConnected)?
                        .wait(interest, None)?;
                }
                other => return other,
            }
        }
    }
}

impl Read for Nonblocking {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let file = &self.0;
        self.retry(Interest::READ, || (&*file).read(buf))
    }
}

impl Write for Nonblocking {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = &self.0;
        self.retry(Interest::WRITE, || (&*file).write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        let file = &self.0;
        self.retry(Interest::WRITE, || Write::flush(&mut &*file))
    }
}

impl Conn for Nonblocking {
    fn suite(&self) -> String {
        self.0.suite()
    }

    fn close(self: Box<Self>) -> io::Result<()> {
        self.0.set_blocking();
        Ok(self.0.close()?)
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        self.0.set_blocking();
        finish_sslfile(&self.0)
    }
}

/// Plain rustls as its docs show it: a `StreamOwned` over a blocking `TcpStream`.
pub struct RustlsStream;

impl Contender for RustlsStream {
    fn name(&self) -> &'static str {
        "rustls StreamOwned"
    }

    fn server(&self, mut socket: TcpStream, setup: &Setup) -> io::Result<Box<dyn Conn>> {
        let mut conn =
            ServerConnection::new(setup.rustls_server.clone()).map_err(io::Error::other)?;
        while conn.is_handshaking() {
            conn.complete_io(&mut socket)?;
        }
        Ok(Box::new(StreamOwned::new(conn, socket)))
    }

    fn client(
        &self,
        mut socket: TcpStream,
        setup: &Setup,
        resume: bool,
    ) -> io::Result<Box<dyn Conn>> {
        let config = setup.rustls_client(resume);
        let name = ServerName::try_from(SERVER_NAME).map_err(io::Error::other)?;
        let mut conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
        while conn.is_handshaking() {
            conn.complete_io(&mut socket)?;
        }
        Ok(Box::new(StreamOwned::new(conn, socket)))
    }
}

macro_rules! rustls_conn {
    ($connection:ty) => {
        impl Conn for StreamOwned<$connection, TcpStream> {
            fn suite(&self) -> String {
                self.conn
                    .negotiated_cipher_suite()
                    .map_or_else(|| "?".into(), |s| format!("{:?}", s.suite()))
            }

            /// close_notify, flushed; then, as sslfile's `close` does, unread input is
            /// discarded so that closing does not reset the connection.
            fn close(self: Box<Self>) -> io::Result<()> {
                let StreamOwned { mut conn, mut sock } = *self;
                conn.send_close_notify();
                while conn.wants_write() {
                    conn.write_tls(&mut sock)?;
                }
                discard_unread(&mut sock)
            }

            fn finish(self: Box<Self>) -> io::Result<()> {
                let StreamOwned { mut conn, mut sock } = *self;
                conn.send_close_notify();
                while conn.wants_write() {
                    conn.write_tls(&mut sock)?;
                }
                let mut buf = [0u8; 16 * 1024];
                while matches!(sock.read(&mut buf), Ok(n) if n > 0) {}
                Ok(())
            }
        }
    };
}

rustls_conn!(ClientConnection);
rustls_conn!(ServerConnection);

fn discard_unread(sock: &mut TcpStream) -> io::Result<()> {
    sock.set_nonblocking(true)?;
    let mut buf = [0u8; 16 * 1024];
    loop {
        match sock.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// A shared name for the handshake's server name, as rustls wants it.
pub fn server_name() -> ServerName<'static> {
    ServerName::try_from(SERVER_NAME).expect("a valid DNS name")
}
