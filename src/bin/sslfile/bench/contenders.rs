//! What is compared: ways to run a TLS connection over a loopback TCP socket.

use std::io::{self, Read, Write};
use std::net::TcpStream;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConnection, StreamOwned};
use sslfile::{File, SslFile};

use super::setup::{Setup, SERVER_NAME};

/// A connection whose handshake is complete: read, write, close.
pub trait Conn: Read + Write + Send {
    /// The negotiated cipher suite, e.g. "TLS13_AES_256_GCM_SHA384".
    fn suite(&self) -> String;
    /// Sends close_notify and closes.
    fn close(self: Box<Self>) -> io::Result<()>;
}

/// One way to run TLS, measured against the others.
pub trait Contender: Send + Sync {
    /// Its name in reports.
    fn name(&self) -> &'static str;
    /// A server connection over an accepted socket, handshake completed.
    fn server(&self, socket: TcpStream, setup: &Setup) -> io::Result<Box<dyn Conn>>;
    /// A client connection over a connected socket, handshake completed. `resume`: use
    /// the shared client configuration, whose session cache resumes earlier sessions;
    /// otherwise a new one (a full handshake).
    fn client(&self, socket: TcpStream, setup: &Setup, resume: bool) -> io::Result<Box<dyn Conn>>;
}

/// The contenders `sslfile bench` compares, the library's first.
pub fn all() -> Vec<Box<dyn Contender>> {
    vec![Box::new(SslfileBlocking), Box::new(RustlsStream)]
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
        let ctx = if resume {
            setup.sslfile_client.clone()
        } else {
            setup.fresh_sslfile_client()?
        };
        let tls = SslFile::client(File::try_from(socket)?, &ctx, SERVER_NAME)?;
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
        let config = if resume {
            setup.rustls_client.clone()
        } else {
            setup.fresh_rustls_client()?
        };
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
