//! Interoperability with the real OpenSSL 3.0 command-line peers:
//!
//! 1. our client (`SslFile` over `File::connect`) against `openssl s_server -quiet`,
//!    blocking and nonblocking, TLS 1.2 and 1.3, ALPN, 1 MiB up and a few KiB down, our
//!    `close()` answered by s_server; s_server's close_notify as a clean EOF; a killed
//!    s_server as truncation;
//! 2. `openssl s_client -quiet` against our server (`SslFile` over an accepted
//!    `TcpStream`), TLS 1.2 and 1.3, with and without SNI, 256 KiB each way, our `close()`
//!    making s_client exit 0;
//! 3. handshake failures with readable errors: wrong host name, unknown issuer, ALPN
//!    mismatch (both directions), a TLS 1.1 client.
//!
//! OpenSSL behaviours these tests rely on (observed with OpenSSL 3.0):
//! * `s_client` verifies only the chain with `-CAfile`, never the host name, unless
//!   `-verify_hostname NAME` or `-verify_ip ADDR` is given: the tests pass them so that
//!   "the handshake verifies" includes the name/IP SAN check.
//! * `s_server -alpn X` does not fail the handshake when the client offers none of X: it
//!   simply does not answer ALPN (its callback returns `SSL_TLSEXT_ERR_NOACK`).
//! * `s_client -tls1_1` sends a TLS 1.1 ClientHello (legacy_version 0x0302, no
//!   supported_versions) even at the default security level.

use crate::common;

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::thread;
use std::time::{Duration, Instant};

use common::certs::{Identity, TestPki};
use common::openssl::{SClient, SClientOpts, SServer, SServerOpts, TlsVer};
use common::{accept_timeout, random_bytes, tempdir, TIMEOUT};
use sslfile::{Context, Error, File, OpenState, SslFile, TlsVersion};

// ----- helpers ---------------------------------------------------------------------------

const VERSIONS: [TlsVer; 2] = [TlsVer::Tls12, TlsVer::Tls13];

fn tls_version(ver: TlsVer) -> TlsVersion {
    match ver {
        TlsVer::Tls12 => TlsVersion::Tls1_2,
        TlsVer::Tls13 => TlsVersion::Tls1_3,
    }
}

/// Fails with lengths and the first differing offset instead of dumping megabytes.
#[track_caller]
fn assert_same_bytes(what: &str, got: &[u8], expected: &[u8]) {
    if got == expected {
        return;
    }
    let first_diff = got
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(expected.len()));
    panic!(
        "{what}: got {} bytes, expected {}; first difference at offset {first_diff}",
        got.len(),
        expected.len()
    );
}

/// A quiet `s_server` (one connection) presenting `id`, with the tempdir holding its files.
fn spawn_sserver(
    id: &Identity,
    tls: Option<TlsVer>,
    alpn: Option<&str>,
) -> (SServer, tempfile::TempDir) {
    let dir = tempdir();
    let files = id.write_to(dir.path(), "server");
    let mut opts = SServerOpts::new(&files);
    opts.tls = tls;
    opts.alpn = alpn.map(str::to_owned);
    (SServer::spawn(opts), dir)
}

/// A client context that trusts only the test CA and offers `alpn`.
fn client_ctx(pki: &TestPki, alpn: &[&str]) -> Context {
    Context::builder()
        .trust_pem(pki.ca_pem.as_bytes())
        .expect("trust the test CA")
        .alpn_protocols(alpn)
        .build()
        .expect("client context")
}

/// A server context presenting `leaf` and accepting `alpn`.
fn server_ctx(leaf: &Identity, alpn: &[&str]) -> Context {
    Context::builder()
        .certificate_chain_pem(leaf.chain_pem.as_bytes(), leaf.key_pem.as_bytes())
        .expect("server certificate")
        .alpn_protocols(alpn)
        .build()
        .expect("server context")
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Our blocking client (timeout [`TIMEOUT`]) connected to 127.0.0.1:`port`, verifying
/// `name`; the handshake has completed when this returns `Ok`.
fn connect_blocking(ctx: &Context, port: u16, name: &str) -> Result<SslFile, Error> {
    let tls = SslFile::new(File::connect(local(port)).expect("TCP connect"), ctx);
    tls.set_blocking();
    tls.set_timeout(Some(TIMEOUT));
    tls.connect(name).map(|()| tls)
}

/// Our nonblocking client: the handshake is only started.
fn connect_nonblocking(ctx: &Context, port: u16, name: &str) -> SslFile {
    let tls = SslFile::new(File::connect(local(port)).expect("TCP connect"), ctx);
    assert!(!tls.is_blocking(), "SslFile::new starts nonblocking");
    tls.set_timeout(Some(TIMEOUT));
    tls.connect(name)
        .expect("a nonblocking connect only starts");
    tls
}

/// One nonblocking `read`, retried on `WouldBlock` (with a short sleep) until it gives
/// data, end of stream or an error, for at most `timeout`.
fn read_nonblocking(tls: &SslFile, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
    let deadline = Instant::now() + timeout;
    loop {
        match (&*tls).read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "nonblocking read: no result in time"
                );
                thread::sleep(Duration::from_millis(2));
            }
            other => return other,
        }
    }
}

/// Reads exactly `len` bytes in blocking mode.
fn read_exactly(tls: &SslFile, len: usize) -> io::Result<Vec<u8>> {
    let mut got = vec![0u8; len];
    (&*tls).read_exact(&mut got)?;
    Ok(got)
}

/// Waits (bounded) for the child to exit and asserts that it exited with status 0.
#[track_caller]
fn assert_exits_0(child: &mut common::openssl::ChildProc, who: &str) {
    let status = child.wait_with_timeout(TIMEOUT);
    assert!(
        status.is_some_and(|s| s.success()),
        "{who} did not exit 0 (status {status:?})\n{}",
        child.describe()
    );
}

// ----- 1. our client against s_server ---------------------------------------------------

/// Blocking client: version, ALPN, 1 MiB to s_server, 12 KiB from it, our close answered.
fn client_blocking_with_sserver(ver: TlsVer) {
    let pki = TestPki::new();
    let leaf = pki.leaf(&["localhost", "127.0.0.1"]);
    let (mut server, _dir) = spawn_sserver(&leaf, Some(ver), Some("http/1.1"));
    let ctx = client_ctx(&pki, &["h2", "http/1.1"]);
    let tls = connect_blocking(&ctx, server.port(), "localhost")
        .unwrap_or_else(|e| panic!("handshake with s_server: {e}\n{}", server.describe()));

    assert!(!tls.is_handshaking());
    assert!(tls.is_client());
    assert_eq!(tls.protocol_version(), Some(tls_version(ver)));
    assert_eq!(tls.alpn_protocol().as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(tls.server_name().as_deref(), Some("localhost"));
    let chain = tls.peer_certificates().expect("s_server's certificates");
    assert_eq!(chain[0], leaf.cert_der, "the leaf comes first");

    // 1 MiB up: s_server writes what it receives to its stdout.
    let up = random_bytes(1 << 20, 0x1a);
    (&tls).write_all(&up).expect("write 1 MiB to s_server");
    let got = server.stdout().wait_len(up.len(), TIMEOUT);
    assert_same_bytes("s_server's stdout", &got, &up);

    // 12 KiB down: s_server sends what it reads from its stdin.
    let down = random_bytes(12 * 1024, 0x1b);
    server.write_stdin(&down);
    let got = read_exactly(&tls, down.len()).expect("read from s_server");
    assert_same_bytes("data from s_server", &got, &down);

    // Our close_notify ends the session: s_server answers it and exits 0 (-naccept 1).
    tls.close().expect("close");
    assert_eq!(tls.is_open(), OpenState::Closed);
    assert_exits_0(&mut server, "s_server");
    let all = server
        .read_stdout_to_end(TIMEOUT)
        .expect("s_server's stdout ends");
    assert_same_bytes("s_server's whole stdout", &all, &up);
}

#[test]
fn client_blocking_tls12_with_sserver() {
    client_blocking_with_sserver(TlsVer::Tls12);
}

#[test]
fn client_blocking_tls13_with_sserver() {
    client_blocking_with_sserver(TlsVer::Tls13);
}

/// Nonblocking client, pumped by hand: the handshake advances with reads and writes,
/// 1 MiB goes up while 8 KiB comes down, then a nonblocking close.
fn client_nonblocking_with_sserver(ver: TlsVer) {
    let pki = TestPki::new();
    let leaf = pki.leaf(&["localhost", "127.0.0.1"]);
    let (mut server, _dir) = spawn_sserver(&leaf, Some(ver), Some("http/1.1"));
    let ctx = client_ctx(&pki, &["h2", "http/1.1"]);
    let tls = connect_nonblocking(&ctx, server.port(), "localhost");

    // Nothing can have arrived yet (s_server sends nothing before it has data on stdin):
    // a nonblocking read must not wait.
    let mut buf = vec![0u8; 16 * 1024];
    let err = (&tls).read(&mut buf).expect_err("no data can be there yet");
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "{err}");

    let down = random_bytes(8 * 1024, 0x2b);
    server.write_stdin(&down); // fits in the pipe; s_server sends it after the handshake
    let up = random_bytes(1 << 20, 0x2a);
    let mut sent = 0;
    let mut received = Vec::new();
    let deadline = Instant::now() + 3 * TIMEOUT;
    while sent < up.len() || received.len() < down.len() {
        assert!(
            Instant::now() < deadline,
            "pump: sent {sent}/{} received {}/{} before the deadline\n{}",
            up.len(),
            received.len(),
            down.len(),
            server.describe()
        );
        let mut progress = false;
        if sent < up.len() {
            match (&tls).write(&up[sent..]) {
                Ok(0) => panic!("nonblocking write returned 0"),
                Ok(n) => {
                    sent += n;
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("nonblocking write: {e}\n{}", server.describe()),
            }
        }
        if received.len() < down.len() {
            match (&tls).read(&mut buf) {
                Ok(0) => panic!("unexpected end of stream\n{}", server.describe()),
                Ok(n) => {
                    received.extend_from_slice(&buf[..n]);
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("nonblocking read: {e}\n{}", server.describe()),
            }
        }
        if !progress {
            thread::sleep(Duration::from_millis(1));
        }
    }
    // Push out what is still pending.
    loop {
        match tls.flush() {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "flush did not complete in time");
                thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("flush: {e}"),
        }
    }
    assert_same_bytes("data from s_server", &received, &down);

    assert!(!tls.is_handshaking());
    assert!(!tls.is_blocking());
    assert_eq!(tls.protocol_version(), Some(tls_version(ver)));
    assert_eq!(tls.alpn_protocol().as_deref(), Some(&b"http/1.1"[..]));

    let got = server.stdout().wait_len(up.len(), TIMEOUT);
    assert_same_bytes("s_server's stdout", &got, &up);

    // A nonblocking close: close_notify leaves (now or in the background) and s_server
    // answers it and exits 0.
    tls.close().expect("nonblocking close");
    assert_exits_0(&mut server, "s_server");
    let all = server
        .read_stdout_to_end(TIMEOUT)
        .expect("s_server's stdout ends");
    assert_same_bytes("s_server's whole stdout", &all, &up);
}

#[test]
fn client_nonblocking_tls12_with_sserver() {
    client_nonblocking_with_sserver(TlsVer::Tls12);
}

#[test]
fn client_nonblocking_tls13_with_sserver() {
    client_nonblocking_with_sserver(TlsVer::Tls13);
}

/// s_server's stdin reaching EOF makes it send close_notify: our read gives the data
/// sent before it, then a clean end of stream (`Ok(0)`, repeatably), blocking or not.
#[test]
fn sserver_close_notify_is_a_clean_eof() {
    for ver in VERSIONS {
        for blocking in [true, false] {
            let case = format!("{ver:?}, blocking: {blocking}");
            let pki = TestPki::new();
            let leaf = pki.leaf(&["localhost"]);
            let (mut server, _dir) = spawn_sserver(&leaf, Some(ver), None);
            let ctx = client_ctx(&pki, &[]);
            let tls = connect_blocking(&ctx, server.port(), "localhost")
                .unwrap_or_else(|e| panic!("{case}: handshake: {e}\n{}", server.describe()));
            (&tls).write_all(b"hello\n").expect("write");
            assert!(
                server.wait_stdout(b"hello\n", TIMEOUT),
                "{case}\n{}",
                server.describe()
            );
            if !blocking {
                tls.set_nonblocking();
            }

            server.write_stdin(b"last words\n");
            server.close_stdin();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            loop {
                let n = if blocking {
                    (&tls).read(&mut buf)
                } else {
                    read_nonblocking(&tls, &mut buf, TIMEOUT)
                }
                .unwrap_or_else(|e| {
                    panic!(
                        "{case}: expected data then Ok(0), got {e} ({:?})\n{}",
                        e.kind(),
                        server.describe()
                    )
                });
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, b"last words\n", "{case}");
            // End of stream is sticky.
            assert_eq!((&tls).read(&mut buf).expect("EOF again"), 0, "{case}");
            if ver == TlsVer::Tls13 {
                // A half-close: our direction is open until we close it.
                assert_eq!(tls.is_open(), OpenState::Open, "{case}");
            } else {
                // We answered at once: writing after the peer's close_notify is BrokenPipe.
                assert_eq!(tls.is_open(), OpenState::Closed, "{case}");
                let err = (&tls).write(b"late").expect_err("write after close_notify");
                assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{case}: {err}");
            }
            tls.close().expect("close after the peer's close_notify");
            assert_eq!(tls.is_open(), OpenState::Closed, "{case}");
            assert_exits_0(&mut server, "s_server");
        }
    }
}

/// A SIGKILLed s_server closes the TCP connection without close_notify: our read must
/// report truncation, `BrokenPipe` (EPIPE), not a clean end of stream.
///
/// Why exactly `BrokenPipe` and not `ConnectionReset`: the kernel closes a killed process's
/// socket with a FIN, and only sends a RST if unread data sits in that socket's receive
/// queue. The test first makes sure s_server has read (and printed) everything we sent, and
/// nothing else is sent after the handshake (s_server's TLS 1.3 session tickets go the other
/// way), so the OS delivers a plain FIN and the only correct report is truncation.
/// (Observed: `BrokenPipe` in every run, both versions, both modes.)
#[test]
fn killed_sserver_is_truncation() {
    for ver in VERSIONS {
        for blocking in [true, false] {
            let case = format!("{ver:?}, blocking: {blocking}");
            let pki = TestPki::new();
            let leaf = pki.leaf(&["localhost"]);
            let (mut server, _dir) = spawn_sserver(&leaf, Some(ver), None);
            let ctx = client_ctx(&pki, &[]);
            let tls = connect_blocking(&ctx, server.port(), "localhost")
                .unwrap_or_else(|e| panic!("{case}: handshake: {e}\n{}", server.describe()));
            (&tls).write_all(b"ping\n").expect("write");
            assert!(
                server.wait_stdout(b"ping\n", TIMEOUT),
                "{case}\n{}",
                server.describe()
            );
            server.write_stdin(b"pong\n");
            assert_eq!(read_exactly(&tls, 5).expect("read pong"), b"pong\n");
            if !blocking {
                tls.set_nonblocking();
            }

            server.kill(); // SIGKILL, and reaped: its socket is closed when this returns
            let mut buf = [0u8; 64];
            let result = if blocking {
                (&tls).read(&mut buf)
            } else {
                read_nonblocking(&tls, &mut buf, TIMEOUT)
            };
            let err = match result {
                Ok(n) => panic!("{case}: read gave Ok({n}) after SIGKILL, expected BrokenPipe"),
                Err(e) => e,
            };
            assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{case}: {err}");
            assert!(
                matches!(Error::from(err), Error::Truncated { .. }),
                "{case}: the error is the library's truncation"
            );
            assert_eq!(
                tls.errno().map(|e| e.kind()),
                Some(io::ErrorKind::BrokenPipe),
                "{case}: errno() records it"
            );
            // Sticky, for reads and writes.
            let err = (&tls).read(&mut buf).expect_err("read again");
            assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{case}: {err}");
            let err = (&tls).write(b"x").expect_err("write after truncation");
            assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{case}: {err}");
            assert_eq!(tls.is_open(), OpenState::Closed, "{case}");
            tls.close().expect("close after truncation is not an error");
        }
    }
}

// ----- 2. s_client against our server ---------------------------------------------------

/// `s_client -quiet` against our blocking server: verification of the chain and of the
/// name (SNI `localhost`) or IP (no SNI: the default certificate, IP SAN 127.0.0.1),
/// ALPN, 256 KiB each way at the same time, then our close makes s_client exit 0.
fn sclient_with_our_server(ver: TlsVer, sni: bool) {
    let pki = TestPki::new();
    let dir = tempdir();
    let ca = pki.write_ca(dir.path());
    let leaf = pki.leaf(&["localhost", "127.0.0.1"]);
    let ctx = server_ctx(&leaf, &["h2", "http/1.1"]);
    let listener = TcpListener::bind(local(0)).expect("bind");
    let port = listener.local_addr().unwrap().port();

    let mut opts = SClientOpts::new(port);
    opts.cafile = Some(ca);
    opts.tls = Some(ver);
    opts.alpn = Some("http/1.1".into());
    if sni {
        opts.servername = Some("localhost".into());
        opts.extra_args = vec!["-verify_hostname".into(), "localhost".into()];
    } else {
        opts.servername = None; // -noservername
        opts.extra_args = vec!["-verify_ip".into(), "127.0.0.1".into()];
    }
    let mut client = SClient::spawn(opts);

    let sock = accept_timeout(&listener, TIMEOUT)
        .unwrap_or_else(|e| panic!("s_client did not connect: {e}\n{}", client.describe()));
    let tls = SslFile::new(File::try_from(sock).expect("File from TcpStream"), &ctx);
    tls.set_blocking();
    tls.set_timeout(Some(TIMEOUT));
    tls.accept()
        .unwrap_or_else(|e| panic!("our server's handshake: {e}\n{}", client.describe()));

    assert!(!tls.is_client());
    assert_eq!(tls.protocol_version(), Some(tls_version(ver)));
    assert_eq!(tls.alpn_protocol().as_deref(), Some(&b"http/1.1"[..]));
    if sni {
        assert_eq!(tls.server_name().as_deref(), Some("localhost"));
    } else {
        assert_eq!(
            tls.server_name(),
            None,
            "s_client -noservername sends no SNI"
        );
    }

    let up = random_bytes(256 * 1024, 0x3a); // s_client → us
    let down = random_bytes(256 * 1024, 0x3b); // us → s_client
    let fed = client.feed_stdin(up.clone());
    // Read and write at the same time (s_client is single-threaded and blocks in
    // SSL_write: a server that only wrote would deadlock with it).
    let (read, wrote) = thread::scope(|s| {
        let reader = s.spawn(|| read_exactly(&tls, up.len()));
        let wrote = (&tls).write_all(&down);
        (reader.join().expect("reader thread"), wrote)
    });
    wrote.unwrap_or_else(|e| panic!("write to s_client: {e}\n{}", client.describe()));
    let read = read.unwrap_or_else(|e| panic!("read from s_client: {e}\n{}", client.describe()));
    assert_same_bytes("data from s_client", &read, &up);
    fed.recv_timeout(TIMEOUT)
        .expect("the stdin feeder finished")
        .expect("write s_client's stdin");
    let got = client.stdout().wait_len(down.len(), TIMEOUT);
    assert_same_bytes("s_client's stdout", &got, &down);

    // s_client -quiet exits 0 only after a close_notify (1 on a bare TCP close).
    tls.close().expect("close");
    assert_exits_0(&mut client, "s_client");
    let all = client
        .read_stdout_to_end(TIMEOUT)
        .expect("s_client's stdout ends");
    assert_same_bytes("s_client's whole stdout", &all, &down);
}

#[test]
fn sclient_tls12_sni_with_our_server() {
    sclient_with_our_server(TlsVer::Tls12, true);
}

#[test]
fn sclient_tls13_sni_with_our_server() {
    sclient_with_our_server(TlsVer::Tls13, true);
}

#[test]
fn sclient_tls12_no_sni_with_our_server() {
    sclient_with_our_server(TlsVer::Tls12, false);
}

#[test]
fn sclient_tls13_no_sni_with_our_server() {
    sclient_with_our_server(TlsVer::Tls13, false);
}

// ----- 3. handshake failures ------------------------------------------------------------

/// The peer of a failed handshake of ours, once it has ended: its stderr.
fn stderr_after_exit(child: &mut common::openssl::ChildProc) -> String {
    child.wait_with_timeout(TIMEOUT);
    // Up to the pipe's end: the collector may not have read the last lines yet.
    child.stderr_all()
}

#[test]
fn sserver_certificate_for_another_name_is_refused() {
    for ver in VERSIONS {
        let pki = TestPki::new();
        let (mut server, _dir) = spawn_sserver(&pki.leaf(&["wrong.test"]), Some(ver), None);
        let err = connect_blocking(&client_ctx(&pki, &[]), server.port(), "localhost")
            .expect_err("a certificate for wrong.test must not do for localhost");
        let msg = err.to_string();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{ver:?}: {msg}");
        assert!(
            matches!(err, Error::Tls { .. }),
            "{ver:?}: our rejection: {err:?}"
        );
        assert!(
            msg.contains("localhost") && msg.contains("wrong.test"),
            "{ver:?}: the message names the expected and the presented name: {msg}"
        );
        // We told s_server why (a fatal alert), and it reports it.
        let stderr = stderr_after_exit(&mut server);
        assert!(
            stderr.contains("alert"),
            "{ver:?}: s_server saw our alert\n{}",
            server.describe()
        );
    }
}

#[test]
fn self_signed_sserver_is_an_unknown_issuer() {
    for ver in VERSIONS {
        let pki = TestPki::new();
        let id = TestPki::self_signed(&["localhost"]);
        let (mut server, _dir) = spawn_sserver(&id, Some(ver), None);
        let err = connect_blocking(&client_ctx(&pki, &[]), server.port(), "localhost")
            .expect_err("a self-signed certificate is not trusted");
        let msg = err.to_string();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{ver:?}: {msg}");
        assert!(
            msg.contains("unknown issuer") || msg.contains("trusted"),
            "{ver:?}: {msg}"
        );
        assert!(
            std::error::Error::source(&err).is_some(),
            "the rustls error is the source"
        );
        let stderr = stderr_after_exit(&mut server);
        assert!(
            stderr.contains("unknown ca"),
            "{ver:?}: s_server saw our unknown_ca alert\n{}",
            server.describe()
        );
    }
}

/// s_server `-alpn other`, our client offering only "h2": OpenSSL 3.0's s_server refuses
/// a client without a common protocol with a no_application_protocol alert, in TLS 1.2 and
/// 1.3 alike. Our client reports the alert, naming ALPN.
#[test]
fn alpn_mismatch_with_sserver_is_refused_by_sserver() {
    for ver in VERSIONS {
        let pki = TestPki::new();
        let leaf = pki.leaf(&["localhost"]);
        let (mut server, _dir) = spawn_sserver(&leaf, Some(ver), Some("other"));
        let err = connect_blocking(&client_ctx(&pki, &["h2"]), server.port(), "localhost")
            .expect_err("no ALPN protocol in common");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{ver:?}: {err}");
        assert!(
            matches!(
                err,
                Error::PeerAlert {
                    alert: sslfile::AlertDescription::NoApplicationProtocol,
                    ..
                }
            ),
            "{ver:?}: {err:?}"
        );
        assert!(err.to_string().contains("ALPN"), "{ver:?}: {err}");
        let stderr = stderr_after_exit(&mut server);
        assert!(
            stderr.contains("no application protocol"),
            "{ver:?}\n{}",
            server.describe()
        );
    }
}

/// The other direction: our server offers ["h2", "http/1.1"], s_client `-alpn other`.
/// rustls as a server refuses (no_application_protocol alert): both sides fail, ours with
/// a message about ALPN.
#[test]
fn alpn_mismatch_with_sclient_is_refused_by_our_server() {
    for ver in VERSIONS {
        let pki = TestPki::new();
        let ctx = server_ctx(&pki.leaf(&["localhost", "127.0.0.1"]), &["h2", "http/1.1"]);
        let listener = TcpListener::bind(local(0)).expect("bind");
        let mut opts = SClientOpts::new(listener.local_addr().unwrap().port());
        opts.tls = Some(ver);
        opts.alpn = Some("other".into());
        let mut client = SClient::spawn(opts);
        let sock = accept_timeout(&listener, TIMEOUT).expect("s_client connects");
        let tls = SslFile::new(File::try_from(sock).unwrap(), &ctx);
        tls.set_blocking();
        tls.set_timeout(Some(TIMEOUT));
        let err = tls.accept().expect_err("no ALPN protocol in common");
        let msg = err.to_string();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{ver:?}: {msg}");
        assert!(msg.contains("ALPN"), "{ver:?}: {msg}");
        let status = client.wait_with_timeout(TIMEOUT);
        assert!(
            status.is_some_and(|s| !s.success()),
            "{ver:?}: s_client must fail\n{}",
            client.describe()
        );
        assert!(
            client.stderr_text().contains("no application protocol"),
            "{ver:?}: s_client reports our alert\n{}",
            client.describe()
        );
    }
}

/// `s_client -tls1_1` against our server: we refuse TLS 1.1 and say so; s_client fails
/// too, reporting our alert (rustls answers a TLS 1.1 ClientHello, which has no
/// signature_algorithms extension, with handshake_failure).
#[test]
fn sclient_tls11_is_refused_by_our_server() {
    let pki = TestPki::new();
    let ctx = server_ctx(&pki.leaf(&["localhost", "127.0.0.1"]), &[]);
    let listener = TcpListener::bind(local(0)).expect("bind");
    let mut opts = SClientOpts::new(listener.local_addr().unwrap().port());
    opts.extra_args = vec!["-tls1_1".into()];
    let mut client = SClient::spawn(opts);
    let sock = accept_timeout(&listener, TIMEOUT).expect("s_client connects");
    let tls = SslFile::new(File::try_from(sock).unwrap(), &ctx);
    tls.set_blocking();
    tls.set_timeout(Some(TIMEOUT));
    let err = tls.accept().expect_err("TLS 1.1 is refused");
    let msg = err.to_string();
    assert!(msg.contains("version"), "{msg}");
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{msg}");
    assert!(tls.protocol_version().is_none() || tls.is_handshaking());
    let status = client.wait_with_timeout(TIMEOUT);
    assert!(
        status.is_some_and(|s| !s.success()),
        "s_client must fail\n{}",
        client.describe()
    );
    assert!(
        client.stderr_text().contains("alert handshake failure")
            || client.stderr_text().contains("protocol version"),
        "s_client reports our alert\n{}",
        client.describe()
    );
}
