//! Self-test of the shared test utilities in `tests/common`, using rustls
//! directly (not the `sslfile` library): rustls client against
//! `openssl s_server`, `openssl s_client` against a rustls server, and the
//! negative certificates of the test PKI.

use crate::common;

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::certs::{Identity, TestPki};
use common::openssl::{SClient, SClientOpts, SServer, SServerMode, SServerOpts, TlsVer};
use common::{accept_timeout, connect_local, tempdir, TIMEOUT};
use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig, ClientConnection, ServerConnection, StreamOwned};

type ClientStream = StreamOwned<ClientConnection, std::net::TcpStream>;

fn client_config(pki: &TestPki, ver: Option<TlsVer>) -> Arc<ClientConfig> {
    let versions: &[&rustls::SupportedProtocolVersion] = match ver {
        Some(TlsVer::Tls12) => &[&rustls::version::TLS12],
        Some(TlsVer::Tls13) => &[&rustls::version::TLS13],
        None => rustls::DEFAULT_VERSIONS,
    };
    let config = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(versions)
    .expect("protocol versions")
    .with_root_certificates(pki.root_store())
    .with_no_client_auth();
    Arc::new(config)
}

fn connect_rustls(config: Arc<ClientConfig>, name: &str, port: u16) -> ClientStream {
    let name = ServerName::try_from(name.to_owned()).expect("server name");
    let conn = ClientConnection::new(config, name).expect("client connection");
    StreamOwned::new(conn, connect_local(port).expect("connect"))
}

/// Read until `needle` was seen, EOF, an error, or `timeout`.
fn read_until(stream: &mut impl Read, needle: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    while !data.windows(needle.len()).any(|w| w == needle) && Instant::now() < deadline {
        match stream.read(&mut buf)? {
            0 => break,
            n => data.extend_from_slice(&buf[..n]),
        }
    }
    Ok(data)
}

/// The rustls error inside an I/O error from `StreamOwned`, if any.
fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
}

/// Start a quiet s_server presenting `id`.
fn sserver_with(id: &Identity, tls: Option<TlsVer>) -> (SServer, tempfile::TempDir) {
    let dir = tempdir();
    let files = id.write_to(dir.path(), "server");
    let mut opts = SServerOpts::new(&files);
    opts.tls = tls;
    (SServer::spawn(opts), dir)
}

fn rustls_client_with_sserver(ver: TlsVer, name: &str) {
    let pki = TestPki::new();
    let (mut server, _dir) = sserver_with(&pki.leaf(&["localhost", "127.0.0.1"]), Some(ver));
    let mut tls = connect_rustls(client_config(&pki, Some(ver)), name, server.port());

    tls.write_all(b"hello\n").expect("write hello");
    tls.flush().unwrap();
    assert!(
        server.wait_stdout(b"hello\n", TIMEOUT),
        "s_server did not print hello\n{}",
        server.describe()
    );
    let expected = match ver {
        TlsVer::Tls12 => rustls::ProtocolVersion::TLSv1_2,
        TlsVer::Tls13 => rustls::ProtocolVersion::TLSv1_3,
    };
    assert_eq!(tls.conn.protocol_version(), Some(expected));

    server.write_stdin(b"world\n");
    let got = read_until(&mut tls, b"world\n", TIMEOUT).expect("read world");
    assert_eq!(got, b"world\n");

    // Our close_notify ends the session; s_server answers and exits (-naccept 1).
    tls.conn.send_close_notify();
    tls.flush().unwrap();
    let rest = read_until(&mut tls, b"\0never", TIMEOUT).expect("clean EOF after close_notify");
    assert!(rest.is_empty());
    let status = server.wait_with_timeout(TIMEOUT);
    assert!(
        status.is_some(),
        "s_server still running\n{}",
        server.describe()
    );
}

#[test]
fn rustls_client_to_sserver_tls12() {
    rustls_client_with_sserver(TlsVer::Tls12, "localhost");
}

#[test]
fn rustls_client_to_sserver_tls13() {
    rustls_client_with_sserver(TlsVer::Tls13, "127.0.0.1");
}

#[test]
fn rsa_leaf_with_sserver() {
    let pki = TestPki::new();
    let (server, _dir) = sserver_with(&pki.leaf_rsa(&["localhost"]), Some(TlsVer::Tls12));
    let mut tls = connect_rustls(client_config(&pki, None), "localhost", server.port());
    tls.write_all(b"rsa\n").expect("handshake with RSA leaf");
    tls.flush().unwrap();
    assert!(
        server.wait_stdout(b"rsa\n", TIMEOUT),
        "{}",
        server.describe()
    );
}

fn sclient_to_rustls_server(ver: TlsVer) {
    let pki = TestPki::new();
    let dir = tempdir();
    let ca = pki.write_ca(dir.path());
    let mut config = pki.leaf(&["localhost", "127.0.0.1"]).server_config();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();

    let mut opts = SClientOpts::new(port);
    opts.servername = Some("localhost".into());
    opts.cafile = Some(ca);
    opts.tls = Some(ver);
    opts.alpn = Some("h2,http/1.1".into());
    let mut client = SClient::spawn(opts);

    let sock = accept_timeout(&listener, TIMEOUT).expect("s_client connects");
    let conn = ServerConnection::new(Arc::new(config)).unwrap();
    let mut tls = StreamOwned::new(conn, sock);

    client.write_stdin(b"ping\n");
    let got = read_until(&mut tls, b"ping\n", TIMEOUT).expect("read ping");
    assert_eq!(got, b"ping\n", "{}", client.describe());
    assert_eq!(tls.conn.server_name(), Some("localhost"));
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));

    tls.write_all(b"pong\n").unwrap();
    tls.flush().unwrap();
    assert!(
        client.wait_stdout(b"pong\n", TIMEOUT),
        "{}",
        client.describe()
    );

    // s_client -quiet exits once the server closes the session.
    tls.conn.send_close_notify();
    tls.flush().unwrap();
    let status = client.wait_with_timeout(TIMEOUT);
    assert!(
        status.is_some_and(|s| s.success()),
        "s_client still running or failed\n{}",
        client.describe()
    );
}

#[test]
fn sclient_to_rustls_server_tls12() {
    sclient_to_rustls_server(TlsVer::Tls12);
}

#[test]
fn sclient_to_rustls_server_tls13() {
    sclient_to_rustls_server(TlsVer::Tls13);
}

#[test]
fn expired_leaf_is_rejected() {
    let pki = TestPki::new();
    let (server, _dir) = sserver_with(&pki.expired_leaf(&["localhost"]), None);
    let mut tls = connect_rustls(client_config(&pki, None), "localhost", server.port());
    let err = tls.write_all(b"x").and_then(|_| tls.flush()).unwrap_err();
    let inner = rustls_error(&err).unwrap_or_else(|| panic!("not a rustls error: {err}"));
    assert!(
        matches!(
            inner,
            rustls::Error::InvalidCertificate(
                CertificateError::Expired | CertificateError::ExpiredContext { .. }
            )
        ),
        "{inner:?}"
    );
    assert!(err.to_string().to_lowercase().contains("expired"), "{err}");
}

#[test]
fn self_signed_leaf_is_rejected() {
    let pki = TestPki::new();
    let (server, _dir) = sserver_with(&TestPki::self_signed(&["localhost"]), None);
    let mut tls = connect_rustls(client_config(&pki, None), "localhost", server.port());
    let err = tls.write_all(b"x").and_then(|_| tls.flush()).unwrap_err();
    let inner = rustls_error(&err).unwrap_or_else(|| panic!("not a rustls error: {err}"));
    assert_eq!(
        inner,
        &rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
    );
}

#[test]
fn sserver_www_serves_files() {
    let pki = TestPki::new();
    let dir = tempdir();
    let files = pki.leaf(&["localhost"]).write_to(dir.path(), "server");
    let root = tempdir();
    std::fs::write(root.path().join("hello.txt"), "file contents\n").unwrap();
    let mut opts = SServerOpts::new(&files);
    opts.mode = SServerMode::Www(root.path().to_path_buf());
    let server = SServer::spawn(opts);
    let mut tls = connect_rustls(client_config(&pki, None), "localhost", server.port());
    tls.write_all(b"GET /hello.txt HTTP/1.0\r\n\r\n").unwrap();
    tls.flush().unwrap();
    let got = read_until(&mut tls, b"file contents\n", TIMEOUT).unwrap_or_default();
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.0 200"),
        "{text}\n{}",
        server.describe()
    );
    assert!(text.ends_with("\r\n\r\nfile contents\n"), "{text}");
}

#[test]
fn ip_sans_verify_in_memory() {
    let pki = TestPki::new();
    let server_config = Arc::new(pki.leaf(&["::1", "127.0.0.1"]).server_config());
    for name in ["::1", "127.0.0.1"] {
        let sname = ServerName::try_from(name).unwrap().to_owned();
        let mut client = ClientConnection::new(client_config(&pki, None), sname).unwrap();
        let mut server = ServerConnection::new(server_config.clone()).unwrap();
        while client.is_handshaking() || server.is_handshaking() {
            let mut buf = Vec::new();
            client.write_tls(&mut buf).unwrap();
            server.read_tls(&mut &buf[..]).unwrap();
            server.process_new_packets().expect("server side");
            buf.clear();
            server.write_tls(&mut buf).unwrap();
            client.read_tls(&mut &buf[..]).unwrap();
            client.process_new_packets().expect(name);
        }
    }
}

#[test]
fn small_helpers() {
    let a = common::random_bytes(1000, 7);
    assert_eq!(a.len(), 1000);
    assert_eq!(a, common::random_bytes(1000, 7));
    assert_ne!(a, common::random_bytes(1000, 8));
    assert_eq!(
        common::random_bytes(10, 0)[..3],
        common::random_bytes(3, 0)[..]
    );
    assert!(a.iter().filter(|&&b| b == 0).count() < 20);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    assert!(common::wait_for_port(port, TIMEOUT));
    drop(listener);
    assert!(!common::wait_for_port(port, Duration::from_millis(100)));
    assert_ne!(common::free_port(), 0);
}

#[test]
fn mutual_tls_with_sserver() {
    let pki = TestPki::new();
    let dir = tempdir();
    let files = pki.leaf(&["localhost"]).write_to(dir.path(), "server");
    let mut opts = SServerOpts::new(&files);
    opts.client_ca = Some(pki.write_ca(dir.path()));
    let server = SServer::spawn(opts);
    let client_id = pki.leaf(&["client"]);
    let config = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(pki.root_store())
    .with_client_auth_cert(client_id.chain_der.clone(), client_id.key_der.clone_key())
    .unwrap();
    let mut tls = connect_rustls(Arc::new(config), "localhost", server.port());
    tls.write_all(b"authenticated\n").unwrap();
    tls.flush().unwrap();
    assert!(
        server.wait_stdout(b"authenticated\n", TIMEOUT),
        "{}",
        server.describe()
    );
    // Without a client certificate the server refuses the session.
    let opts = SServerOpts {
        client_ca: Some(pki.write_ca(dir.path())),
        ..SServerOpts::new(&files)
    };
    let server = SServer::spawn(opts);
    let mut tls = connect_rustls(client_config(&pki, None), "localhost", server.port());
    let result = tls
        .write_all(b"anonymous\n")
        .and_then(|_| tls.flush())
        .and_then(|_| read_until(&mut tls, b"\n", TIMEOUT));
    let err = result.expect_err("s_server accepted a client without certificate");
    assert!(rustls_error(&err).is_some(), "{err:?}");
}

/// s_server closes with close_notify and exits when its stdin reaches EOF.
#[test]
fn sserver_stdin_eof_closes_cleanly() {
    let pki = TestPki::new();
    let (mut server, _dir) = sserver_with(&pki.leaf(&["localhost"]), None);
    let mut tls = connect_rustls(client_config(&pki, None), "localhost", server.port());
    tls.write_all(b"hi\n").unwrap();
    tls.flush().unwrap();
    assert!(
        server.wait_stdout(b"hi\n", TIMEOUT),
        "{}",
        server.describe()
    );
    server.close_stdin();
    let rest = read_until(&mut tls, b"\0never", TIMEOUT).expect("close_notify, not a bare EOF");
    assert!(rest.is_empty());
    assert!(server
        .wait_with_timeout(TIMEOUT)
        .is_some_and(|s| s.success()));
}

/// s_client -quiet exits 0 on close_notify and 1 on a TCP close without it.
#[test]
fn sclient_exit_status_reflects_close_notify() {
    let pki = TestPki::new();
    let config = Arc::new(pki.leaf(&["localhost"]).server_config());
    for clean in [true, false] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = SClient::spawn(SClientOpts::new(listener.local_addr().unwrap().port()));
        let sock = accept_timeout(&listener, TIMEOUT).expect("s_client connects");
        let mut tls = StreamOwned::new(ServerConnection::new(config.clone()).unwrap(), sock);
        client.write_stdin(b"ping\n");
        read_until(&mut tls, b"ping\n", TIMEOUT).unwrap();
        if clean {
            tls.conn.send_close_notify();
            tls.flush().unwrap();
        } else {
            tls.sock.shutdown(std::net::Shutdown::Both).unwrap();
        }
        let status = client.wait_with_timeout(TIMEOUT).expect("s_client exits");
        assert_eq!(status.success(), clean, "{}", client.describe());
    }
}
