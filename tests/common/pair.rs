//! Connected `SslFile` pairs over socket pairs or loopback TCP, for the behaviour tests.

use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use sslfile::{Context, File, SslFile, TlsVersion};

use super::certs::TestPki;
use super::TIMEOUT;

/// Which kind of transport a test runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `File::pipe()`: a Unix-domain socket pair.
    SocketPair,
    /// Loopback TCP.
    Tcp,
}

/// Both transports, for tests that run over each.
pub const TRANSPORTS: [Transport; 2] = [Transport::SocketPair, Transport::Tcp];

/// Both versions, for tests of what differs between them (the peer's close_notify: TLS 1.3
/// half-closes, TLS 1.2 closes both ways).
pub const VERSIONS: [sslfile::TlsVersion; 2] =
    [sslfile::TlsVersion::Tls1_3, sslfile::TlsVersion::Tls1_2];

/// Two connected plain files: (client end, server end).
pub fn raw_pair(transport: Transport) -> (File, File) {
    match transport {
        Transport::SocketPair => File::pipe().expect("socketpair"),
        Transport::Tcp => {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let client = File::connect(listener.local_addr().unwrap()).expect("connect");
            let (server, _) = listener.accept().expect("accept");
            (client, File::try_from(server).expect("file"))
        }
    }
}

/// A test PKI with a server certificate for localhost, 127.0.0.1 and ::1, and the
/// contexts that go with it.
pub struct Setup {
    pub pki: TestPki,
    pub server_ctx: Context,
    pub client_ctx: Context,
}

impl Setup {
    /// Server and client contexts without ALPN.
    pub fn new() -> Setup {
        Setup::with_alpn(&[], &[])
    }

    /// A client context trusting this setup's CA: TLS 1.2 only if `tls12`, else the
    /// default range; a new context each call (no session carried over from another).
    pub fn client_for(&self, tls12: bool) -> Context {
        let builder = Context::builder()
            .trust_pem(self.pki.ca_pem.as_bytes())
            .unwrap();
        let builder = if tls12 {
            builder
                .versions(TlsVersion::Tls1_2, TlsVersion::Tls1_2)
                .unwrap()
        } else {
            builder
        };
        builder.build().unwrap()
    }

    /// Server and client contexts with the given ALPN lists.
    pub fn with_alpn(server_alpn: &[&str], client_alpn: &[&str]) -> Setup {
        let pki = TestPki::new();
        let leaf = pki.leaf(&["localhost", "127.0.0.1", "::1"]);
        let server_ctx = Context::builder()
            .certificate_chain_pem(leaf.chain_pem.as_bytes(), leaf.key_pem.as_bytes())
            .unwrap()
            .alpn_protocols(server_alpn)
            .build()
            .unwrap();
        let client_ctx = Context::builder()
            .trust_pem(pki.ca_pem.as_bytes())
            .unwrap()
            .alpn_protocols(client_alpn)
            .build()
            .unwrap();
        Setup {
            pki,
            server_ctx,
            client_ctx,
        }
    }

    /// A blocking client and server, handshake completed on both sides, with a 10 s
    /// timeout on each so that a failing test cannot hang.
    pub fn connect(&self, transport: Transport) -> (SslFile, SslFile) {
        self.connect_with(transport, &self.client_ctx)
    }

    /// [`connect`](Self::connect) with this one TLS version.
    pub fn connect_version(
        &self,
        transport: Transport,
        version: sslfile::TlsVersion,
    ) -> (SslFile, SslFile) {
        let ctx = Context::builder()
            .trust_pem(self.pki.ca_pem.as_bytes())
            .unwrap()
            .versions(version, version)
            .unwrap()
            .build()
            .unwrap();
        self.connect_with(transport, &ctx)
    }

    fn connect_with(&self, transport: Transport, client_ctx: &Context) -> (SslFile, SslFile) {
        let (c, s) = raw_pair(transport);
        let server_ctx = self.server_ctx.clone();
        let server = thread::spawn(move || {
            let file = SslFile::new(s, &server_ctx);
            file.set_blocking();
            file.set_timeout(Some(TIMEOUT));
            file.accept().map(|()| file)
        });
        let client = SslFile::new(c, client_ctx);
        client.set_blocking();
        client.set_timeout(Some(TIMEOUT));
        client.connect("localhost").expect("client handshake");
        let server = server.join().unwrap().expect("server handshake");
        (client, server)
    }
}

impl Default for Setup {
    fn default() -> Self {
        Setup::new()
    }
}

/// Polls `f` every millisecond until it returns `Some`, for at most [`TIMEOUT`].
pub fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "condition not reached in time"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// What happened in [`exchange`]: each side's file (or its handshake error), and what the
/// client read.
pub struct Exchange {
    /// The client after reading everything (or its `connect` error).
    pub client: Result<SslFile, sslfile::Error>,
    /// What the client read until the end of stream (or the error that stopped it).
    pub client_read: Result<Vec<u8>, std::io::Error>,
    /// The server after writing "hello" and closing (or its first error).
    pub server: Result<SslFile, sslfile::Error>,
}

/// One blocking connection between a server with `server_ctx` and a client with
/// `client_ctx`, started by `connect` (e.g. `|f| f.connect("localhost")`): the server
/// writes "hello" and closes; the client reads to the end, which also takes in TLS 1.3
/// session tickets and any alert the server sent after the client's handshake completed.
/// Every side is bounded by [`TIMEOUT`].
pub fn exchange(
    server_ctx: &Context,
    client_ctx: &Context,
    transport: Transport,
    connect: impl FnOnce(&SslFile) -> Result<(), sslfile::Error>,
) -> Exchange {
    use std::io::{Read, Write};
    let (c, s) = raw_pair(transport);
    let server_ctx = server_ctx.clone();
    let server = thread::spawn(move || -> Result<SslFile, sslfile::Error> {
        let file = SslFile::new(s, &server_ctx);
        file.set_blocking();
        file.set_timeout(Some(TIMEOUT));
        file.accept()?;
        (&file).write_all(b"hello")?;
        file.close()?;
        Ok(file)
    });
    let client = SslFile::new(c, client_ctx);
    client.set_blocking();
    client.set_timeout(Some(TIMEOUT));
    let (client, client_read) = match connect(&client) {
        Ok(()) => {
            let mut data = Vec::new();
            let read = (&client).read_to_end(&mut data).map(|_| data);
            (Ok(client), read)
        }
        Err(e) => {
            drop(client); // the server sees the connection end
            let read = Err(std::io::Error::other("not connected"));
            (Err(e), read)
        }
    };
    let server = server.join().expect("server thread");
    Exchange {
        client,
        client_read,
        server,
    }
}
