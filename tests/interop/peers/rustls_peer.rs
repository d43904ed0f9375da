//! rustls itself as the peer, in a thread of the test: a raw `ClientConnection` or
//! `ServerConnection` over a `TcpStream`, pumped by hand (nonblocking socket, `poll`) for
//! the full-duplex exchange, then wrapped in a `StreamOwned` for the ending.
//!
//! It reports what it saw as the script peers' lines (see `report`), so the same check
//! applies.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::ops::DerefMut;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustls::pki_types::ServerName;
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, ClientConnection, Connection, ConnectionCommon, HandshakeKind, ServerConfig,
    ServerConnection, SideData, StreamOwned,
};

use super::{report, PeerClientAuth, PeerClose, PeerJob, PeerRun};
use crate::common::{accept_timeout, connect_local};
use crate::interop::cells::Version;
use crate::interop::ours::{EXCHANGE_TIMEOUT, STEP_TIMEOUT};
use crate::interop::pki::CLIENT_NAME;

const CHUNK: usize = 64 * 1024;

struct RustlsRun {
    port: u16,
    thread: Option<thread::JoinHandle<Vec<String>>>,
}

/// What the peer thread needs from the job (owned: it outlives the borrow).
struct Task {
    server: bool,
    port: u16,
    connections: usize,
    send: Arc<Vec<u8>>,
    expect: usize,
    close: PeerClose,
    sni: bool,
    client_config: Option<Arc<ClientConfig>>,
    server_config: Option<Arc<ServerConfig>>,
    client_cert: rustls::pki_types::CertificateDer<'static>,
}

pub fn start(job: &PeerJob<'_>) -> Result<Box<dyn PeerRun>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions: &[&'static rustls::SupportedProtocolVersion] = match job.version() {
        Version::Tls12 => &[&rustls::version::TLS12],
        Version::Tls13 => &[&rustls::version::TLS13],
    };
    let alpn: Vec<Vec<u8>> = job
        .alpn
        .map(|list| list.split(',').map(|p| p.as_bytes().to_vec()).collect())
        .unwrap_or_default();
    let pki = job.pki;
    let mut task = Task {
        server: job.peer_is_server(),
        port: job.our_port,
        connections: job.connections,
        send: job.send.clone(),
        expect: job.expect.len(),
        close: job.close,
        sni: job.sni,
        client_config: None,
        server_config: None,
        client_cert: pki.client.cert_der.clone(),
    };
    let listener = if task.server {
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| e.to_string())?;
        let builder = match job.client_auth {
            PeerClientAuth::None => builder.with_no_client_auth(),
            auth => {
                let roots = Arc::new(pki.ca.root_store());
                let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
                let verifier = if auth == PeerClientAuth::Optional {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                builder.with_client_cert_verifier(verifier.build().map_err(|e| e.to_string())?)
            }
        };
        let mut config = builder
            .with_single_cert(pki.server.chain_der.clone(), pki.server.key_der.clone_key())
            .map_err(|e| e.to_string())?;
        config.alpn_protocols = alpn;
        task.server_config = Some(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        task.port = listener.local_addr().map_err(|e| e.to_string())?.port();
        Some(listener)
    } else {
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .map_err(|e| e.to_string())?
            .with_root_certificates(pki.ca.root_store());
        let mut config = if job.client_auth == PeerClientAuth::Required {
            builder
                .with_client_auth_cert(pki.client.chain_der.clone(), pki.client.key_der.clone_key())
                .map_err(|e| e.to_string())?
        } else {
            builder.with_no_client_auth()
        };
        config.alpn_protocols = alpn;
        task.client_config = Some(Arc::new(config));
        None
    };
    let port = task.port;
    let thread = thread::spawn(move || {
        let mut lines = Vec::new();
        for conn in 0..task.connections {
            if let Err((stage, error)) = one_connection(&task, listener.as_ref(), conn, &mut lines)
            {
                lines.push(format!("FAILED conn={conn} stage={stage} error={error}"));
                return lines;
            }
        }
        lines.push("DONE".into());
        lines
    });
    Ok(Box::new(RustlsRun {
        port,
        thread: Some(thread),
    }))
}

impl PeerRun for RustlsRun {
    fn port(&self) -> u16 {
        self.port
    }

    fn finish(mut self: Box<Self>, job: &PeerJob<'_>) -> Result<Vec<String>, String> {
        let lines = self
            .thread
            .take()
            .expect("peer thread")
            .join()
            .map_err(|_| "the rustls peer thread panicked".to_string())?;
        let text = lines.join("\n");
        let events = report::parse(&text);
        report::check(job, &events, None, &[])
            .map_err(|e| format!("{e}\nrustls peer report:\n{text}"))
    }
}

type Failed = (&'static str, String);

fn one_connection(
    task: &Task,
    listener: Option<&TcpListener>,
    index: usize,
    lines: &mut Vec<String>,
) -> Result<(), Failed> {
    let setup = |e: io::Error| ("connect", e.to_string());
    let (sock, mut conn): (TcpStream, Connection) = if let Some(listener) = listener {
        let sock = accept_timeout(listener, STEP_TIMEOUT).map_err(setup)?;
        let config = task.server_config.clone().expect("server config");
        let conn = ServerConnection::new(config).map_err(|e| ("handshake", e.to_string()))?;
        (sock, conn.into())
    } else {
        let sock = connect_local(task.port).map_err(setup)?;
        let name = if task.sni { "localhost" } else { "127.0.0.1" };
        let name = ServerName::try_from(name.to_owned()).expect("server name");
        let config = task.client_config.clone().expect("client config");
        let conn = ClientConnection::new(config, name).map_err(|e| ("handshake", e.to_string()))?;
        (sock, conn.into())
    };
    sock.set_nonblocking(true).map_err(setup)?;
    let deadline = Instant::now() + EXCHANGE_TIMEOUT;
    let mut pump = Pump {
        sock: &sock,
        conn: &mut conn,
        received: Vec::new(),
    };
    pump.run(&[], 0, true, deadline)
        .map_err(|e| ("handshake", e))?;
    let resumed = pump.conn.handshake_kind() == Some(HandshakeKind::Resumed);
    let version = match pump.conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        other => return Err(("handshake", format!("version {other:?}"))),
    };
    let alpn = pump
        .conn
        .alpn_protocol()
        .map_or("-".to_owned(), |p| String::from_utf8_lossy(p).into_owned());
    let (sni, peer_cert) = match &*pump.conn {
        Connection::Server(s) => {
            let cert = match s.peer_certificates() {
                Some([leaf, ..]) if *leaf == task.client_cert => CLIENT_NAME,
                Some(_) => "unknown",
                None => "-",
            };
            (s.server_name().unwrap_or("-").to_owned(), cert)
        }
        Connection::Client(_) => ("-".to_owned(), "-"),
    };
    lines.push(format!(
        "HANDSHAKE conn={index} version={version} alpn={alpn} resumed={} peer_cert={peer_cert} sni={sni}",
        u8::from(resumed)
    ));
    pump.run(&task.send, task.expect, false, deadline)
        .map_err(|e| ("transfer", e))?;
    lines.push(format!(
        "RECEIVED conn={index} bytes={}",
        pump.received.len()
    ));
    if pump.received.len() != task.expect {
        return Err((
            "transfer",
            format!(
                "received {} bytes, expected {}",
                pump.received.len(),
                task.expect
            ),
        ));
    }
    let how = match conn {
        Connection::Client(c) => ending(task.close, sock, c),
        Connection::Server(s) => ending(task.close, sock, s),
    }
    .map_err(|e| ("close", e))?;
    lines.push(format!("CLOSE conn={index} how={how}"));
    Ok(())
}

/// The ending, on a blocking `StreamOwned`.
fn ending<C, D>(close: PeerClose, sock: TcpStream, conn: C) -> Result<&'static str, String>
where
    C: DerefMut<Target = ConnectionCommon<D>>,
    D: SideData,
{
    if close == PeerClose::Drop {
        drop(sock); // no close_notify
        return Ok("dropped");
    }
    let io = |e: io::Error| e.to_string();
    sock.set_nonblocking(false).map_err(io)?;
    sock.set_read_timeout(Some(STEP_TIMEOUT)).map_err(io)?;
    sock.set_write_timeout(Some(STEP_TIMEOUT)).map_err(io)?;
    let mut stream = StreamOwned::new(conn, sock);
    if close == PeerClose::Initiate {
        stream.conn.send_close_notify();
        stream.flush().map_err(io)?;
    }
    let mut buf = [0u8; 4096];
    let ended = match stream.read(&mut buf) {
        Ok(0) => "close_notify",
        Ok(n) => return Err(format!("{n} bytes after the exchange")),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => "truncated",
        Err(e) => return Err(format!("reading the end: {e}")),
    };
    match (close, ended) {
        (PeerClose::Answer, "close_notify") => {
            stream.conn.send_close_notify();
            stream.flush().map_err(io)?;
            Ok("answered")
        }
        (PeerClose::Initiate, "close_notify") => Ok("initiated"),
        (_, ended) => Ok(ended),
    }
}

/// Drives a rustls connection over a nonblocking socket.
struct Pump<'a> {
    sock: &'a TcpStream,
    conn: &'a mut Connection,
    received: Vec<u8>,
}

impl Pump<'_> {
    /// Until the handshake is done (`handshake_only`), or until all of `send` left and
    /// `expect` bytes arrived.
    fn run(
        &mut self,
        send: &[u8],
        expect: usize,
        handshake_only: bool,
        deadline: Instant,
    ) -> Result<(), String> {
        let mut sent = 0;
        let mut buf = vec![0u8; CHUNK];
        let mut closed = false;
        loop {
            let mut progress = false;
            while !handshake_only && sent < send.len() {
                let end = (sent + CHUNK).min(send.len());
                match self.conn.writer().write(&send[sent..end]) {
                    Ok(0) => break,
                    Ok(n) => {
                        sent += n;
                        progress = true;
                    }
                    Err(e) => return Err(format!("buffering plaintext: {e}")),
                }
            }
            while self.conn.wants_write() {
                match self.conn.write_tls(&mut &*self.sock) {
                    Ok(_) => progress = true,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(format!("write: {e}")),
                }
            }
            match self.conn.read_tls(&mut &*self.sock) {
                Ok(0) => return Err("the connection ended (TCP)".into()),
                Ok(_) => {
                    progress = true;
                    if let Err(e) = self.conn.process_new_packets() {
                        // Tell the other side why, as a TLS peer does.
                        let _ = self.conn.write_tls(&mut &*self.sock);
                        return Err(e.to_string());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(format!("read: {e}")),
            }
            while !closed {
                match self.conn.reader().read(&mut buf) {
                    // The other side's close_notify may come right behind its last data.
                    Ok(0) => closed = true,
                    Ok(n) => {
                        self.received.extend_from_slice(&buf[..n]);
                        progress = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(format!("plaintext: {e}")),
                }
            }
            let done = if handshake_only {
                !self.conn.is_handshaking()
            } else {
                sent == send.len() && !self.conn.wants_write() && self.received.len() >= expect
            };
            if done {
                return Ok(());
            }
            if closed {
                return Err(format!(
                    "close_notify before the exchange ended: sent {sent}/{}, received {}/{expect}",
                    send.len(),
                    self.received.len()
                ));
            }
            if !progress {
                if Instant::now() > deadline {
                    return Err(format!(
                        "no progress: sent {sent}/{}, received {}/{expect}",
                        send.len(),
                        self.received.len()
                    ));
                }
                let mut flags = PollFlags::IN;
                if self.conn.wants_write() {
                    flags |= PollFlags::OUT;
                }
                let timeout = Timespec {
                    tv_sec: 0,
                    tv_nsec: Duration::from_millis(50).as_nanos() as _,
                };
                let _ = poll(&mut [PollFd::new(self.sock, flags)], Some(&timeout));
            }
        }
    }
}
