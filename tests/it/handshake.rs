//! Handshakes: the seed's `create`, Pike 8's `new` + `connect`/`accept`, failures that are
//! never lost (blocking: the call's error; nonblocking: the next read/write's), the default
//! certificate for clients without SNI, introspection and renegotiation.

use crate::common;

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::thread;

use common::certs::TestPki;
use common::pair::{eventually, raw_pair, Setup, Transport};
use sslfile::{Context, Error, File, Options, SslFile, TlsVersion};

/// Runs a handshake with `client_ctx` against a server using `server_ctx`, with the client
/// blocking; returns (client result, server result).
fn blocking_handshake(
    server_ctx: &Context,
    client_ctx: &Context,
    name: &str,
) -> (Result<SslFile, Error>, Result<SslFile, Error>) {
    let (c, s) = raw_pair(Transport::Tcp);
    let server_ctx = server_ctx.clone();
    let server = thread::spawn(move || {
        let file = SslFile::new(s, &server_ctx);
        file.set_blocking();
        file.set_timeout(Some(common::TIMEOUT));
        file.accept().map(|()| file)
    });
    let client = SslFile::new(c, client_ctx);
    client.set_blocking();
    client.set_timeout(Some(common::TIMEOUT));
    let client = client.connect(name).map(|()| client);
    (client, server.join().unwrap())
}

/// The same with a nonblocking client: connect succeeds, and the failure comes from the
/// next write or read.
fn nonblocking_client_error(server_ctx: &Context, client_ctx: &Context, name: &str) -> io::Error {
    let (c, s) = raw_pair(Transport::Tcp);
    let server_ctx = server_ctx.clone();
    let server = thread::spawn(move || {
        let file = SslFile::new(s, &server_ctx);
        file.set_blocking();
        file.set_timeout(Some(common::TIMEOUT));
        let _ = file.accept();
        let mut buf = [0u8; 1];
        let _ = (&file).read(&mut buf);
    });
    let client = SslFile::new(c, client_ctx);
    // A nonblocking connect starts the handshake and takes one step; if the server was fast
    // enough, that step already met the failure, and connect returns it.
    if let Err(e) = client.connect(name) {
        drop(client);
        server.join().unwrap();
        return e.into();
    }
    let err = eventually(|| {
        let mut buf = [0u8; 16];
        match (&client).write(b"x").and_then(|_| (&client).read(&mut buf)) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            Err(e) => Some(e),
            Ok(n) => panic!("expected a handshake failure, read {n} bytes"),
        }
    });
    // Sticky: the same error again, for reads too.
    let mut buf = [0u8; 16];
    assert_eq!((&client).read(&mut buf).unwrap_err().kind(), err.kind());
    drop(client);
    server.join().unwrap();
    err
}

fn client_ctx_trusting(pki: &TestPki) -> sslfile::ContextBuilder {
    Context::builder().trust_pem(pki.ca_pem.as_bytes()).unwrap()
}

fn server_ctx_with(leaf: &common::certs::Identity) -> sslfile::ContextBuilder {
    Context::builder()
        .certificate_chain_pem(leaf.chain_pem.as_bytes(), leaf.key_pem.as_bytes())
        .unwrap()
}

#[test]
fn wrong_host_name_is_refused_with_the_names_involved() {
    let setup = Setup::new();
    let (client, server) = blocking_handshake(&setup.server_ctx, &setup.client_ctx, "wrong.test");
    let err = client.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    let msg = err.to_string();
    assert!(
        msg.contains("not valid for wrong.test") && msg.contains("localhost"),
        "{msg}"
    );
    // The server hears our alert.
    let server_err = server.unwrap_err();
    assert_eq!(
        server_err.kind(),
        io::ErrorKind::ConnectionReset,
        "{server_err}"
    );
    assert!(
        server_err.to_string().contains("rejected our certificate"),
        "{server_err}"
    );

    let err = nonblocking_client_error(&setup.server_ctx, &setup.client_ctx, "wrong.test");
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(
        err.to_string().contains("not valid for wrong.test"),
        "{err}"
    );
}

#[test]
fn an_untrusted_certificate_is_refused() {
    let pki = TestPki::new();
    let server_ctx = server_ctx_with(&TestPki::self_signed(&["localhost"]))
        .build()
        .unwrap();
    let client_ctx = client_ctx_trusting(&pki).build().unwrap();
    let (client, _) = blocking_handshake(&server_ctx, &client_ctx, "localhost");
    let msg = client.unwrap_err().to_string();
    assert_eq!(
        msg,
        "the server's certificate for localhost is not signed by a trusted authority: it is \
         self-signed; if it is the one the server should have, trust exactly this certificate \
         (ContextBuilder::trust_pem, or --cafile)"
    );
    let err = nonblocking_client_error(&server_ctx, &client_ctx, "localhost");
    assert_eq!(err.to_string(), msg);
}

#[test]
fn an_expired_certificate_is_refused() {
    let pki = TestPki::new();
    // A context refuses to serve an expired certificate unless told to.
    let server_ctx = server_ctx_with(&pki.expired_leaf(&["localhost"]))
        .allow_expired_certificates(true)
        .build()
        .unwrap();
    let client_ctx = client_ctx_trusting(&pki).build().unwrap();
    let (client, _) = blocking_handshake(&server_ctx, &client_ctx, "localhost");
    let msg = client.unwrap_err().to_string();
    assert!(
        msg.starts_with("the server's certificate for localhost expired on 2001-01-01"),
        "{msg}"
    );
}

#[test]
fn danger_options_accept_what_verification_refuses() {
    let setup = Setup::new();
    let any = Context::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let (client, server) = blocking_handshake(&setup.server_ctx, &any, "wrong.test");
    client.unwrap();
    server.unwrap();
    // Host names unchecked, chains still checked.
    let lenient = client_ctx_trusting(&setup.pki)
        .danger_accept_invalid_hostnames(true)
        .build()
        .unwrap();
    let (client, _) = blocking_handshake(&setup.server_ctx, &lenient, "wrong.test");
    client.unwrap();
    let self_signed = server_ctx_with(&TestPki::self_signed(&["localhost"]))
        .build()
        .unwrap();
    let (client, _) = blocking_handshake(&self_signed, &lenient, "localhost");
    assert!(client
        .unwrap_err()
        .to_string()
        .contains("is not signed by a trusted authority: it is self-signed"));
}

#[test]
fn no_common_alpn_protocol_fails_on_both_sides() {
    let setup = Setup::with_alpn(&["h2"], &["http/1.1"]);
    let (client, server) = blocking_handshake(&setup.server_ctx, &setup.client_ctx, "localhost");
    let server_err = server.unwrap_err();
    assert_eq!(
        server_err.to_string(),
        "no ALPN protocol in common with the peer"
    );
    let client_err = client.unwrap_err();
    assert_eq!(client_err.kind(), io::ErrorKind::ConnectionReset);
    assert!(
        client_err
            .to_string()
            .contains("no ALPN protocol in common"),
        "{client_err}"
    );
    let err = nonblocking_client_error(&setup.server_ctx, &setup.client_ctx, "localhost");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
}

#[test]
fn alpn_is_negotiated_and_reported() {
    let setup = Setup::with_alpn(&["h2", "http/1.1"], &["http/1.1", "h2"]);
    let (client, server) = setup.connect(Transport::SocketPair);
    assert_eq!(client.alpn_protocol().as_deref(), Some(&b"h2"[..]));
    assert_eq!(server.alpn_protocol().as_deref(), Some(&b"h2"[..]));
}

#[test]
fn version_ranges_that_do_not_overlap_fail() {
    let setup = Setup::new();
    let leaf = setup.pki.leaf(&["localhost"]);
    let server_ctx = server_ctx_with(&leaf)
        .versions(TlsVersion::Tls1_2, TlsVersion::Tls1_2)
        .unwrap()
        .build()
        .unwrap();
    let client_ctx = client_ctx_trusting(&setup.pki)
        .versions(TlsVersion::Tls1_3, TlsVersion::Tls1_3)
        .unwrap()
        .build()
        .unwrap();
    let (client, server) = blocking_handshake(&server_ctx, &client_ctx, "localhost");
    let server_err = server.unwrap_err();
    assert!(
        server_err
            .to_string()
            .contains("no TLS protocol version in common"),
        "{server_err}"
    );
    let client_err = client.unwrap_err();
    assert_eq!(
        client_err.kind(),
        io::ErrorKind::ConnectionReset,
        "{client_err}"
    );
    assert!(
        client_err.to_string().contains("protocol versions"),
        "{client_err}"
    );
    nonblocking_client_error(&server_ctx, &client_ctx, "localhost");
}

#[test]
fn a_plaintext_http_server_is_named_as_not_speaking_tls() {
    let setup = Setup::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let http = thread::spawn(move || {
        for _ in 0..2 {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let err =
        SslFile::client(File::connect(addr).unwrap(), &setup.client_ctx, "localhost").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert_eq!(
        err.to_string(),
        "the peer does not speak TLS: it sent \"HTTP/1.1 400 Bad Request\""
    );
    // Nonblocking: connect (if the answer is already there) or the next read says the same.
    let file = SslFile::new(File::connect(addr).unwrap(), &setup.client_ctx);
    let err = match file.connect("localhost") {
        Err(e) => e.into(),
        Ok(()) => eventually(|| match (&file).read(&mut [0u8; 8]) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            Err(e) => Some(e),
            Ok(_) => panic!("no data expected"),
        }),
    };
    assert!(err.to_string().contains("does not speak TLS"), "{err}");
    let err = (&file).read(&mut [0u8; 8]).unwrap_err();
    assert!(err.to_string().contains("does not speak TLS"), "{err}");
    http.join().unwrap();
}

#[test]
fn a_client_without_sni_gets_the_default_certificate() {
    let pki = TestPki::new();
    let default_leaf = pki.leaf(&["localhost", "127.0.0.1"]);
    let other_leaf = pki.leaf(&["other.test"]);
    let server_ctx = server_ctx_with(&default_leaf)
        .certificate_chain_pem(
            other_leaf.chain_pem.as_bytes(),
            other_leaf.key_pem.as_bytes(),
        )
        .unwrap()
        .build()
        .unwrap();
    let client_ctx = client_ctx_trusting(&pki).build().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let mut names = Vec::new();
        for _ in 0..2 {
            let (s, _) = listener.accept().unwrap();
            let tls = SslFile::server(File::try_from(s).unwrap(), &server_ctx).unwrap();
            names.push(tls.server_name());
        }
        names
    });
    // By IP, seed style: no server name, so the peer's IP is verified and no SNI sent.
    let options = Options::new().client_by_ip().blocking(true);
    let by_ip = SslFile::create(File::connect(addr).unwrap(), &client_ctx, options).unwrap();
    assert_eq!(by_ip.peer_certificates().unwrap()[0], default_leaf.cert_der);
    assert_eq!(by_ip.server_name().as_deref(), Some("127.0.0.1"));
    // By name: the certificate for that name.
    let by_name = SslFile::client(File::connect(addr).unwrap(), &client_ctx, "other.test").unwrap();
    assert_eq!(by_name.peer_certificates().unwrap()[0], other_leaf.cert_der);
    assert_eq!(
        server.join().unwrap(),
        vec![None, Some("other.test".to_string())]
    );
}

#[test]
fn create_nonblocking_runs_the_handshake_through_reads_and_writes() {
    let setup = Setup::new();
    let (c, s) = raw_pair(Transport::SocketPair);
    let client = SslFile::create(c, &setup.client_ctx, Options::new().client("localhost")).unwrap();
    let server = SslFile::create(s, &setup.server_ctx, Options::default()).unwrap();
    assert!(client.is_client() && !server.is_client());
    assert!(!client.is_blocking());
    // Pump both in one thread until the data crosses.
    let mut written = false;
    let got = eventually(|| {
        if !written {
            match (&client).write(b"hi") {
                Ok(2) => written = true,
                Ok(n) => panic!("short write {n}"),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        let mut buf = [0u8; 2];
        let _ = (&client).read(&mut buf);
        match (&server).read(&mut buf) {
            Ok(n) => Some(buf[..n].to_vec()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            Err(e) => panic!("{e}"),
        }
    });
    assert_eq!(got, b"hi");
    assert!(!client.is_handshaking() && !server.is_handshaking());
}

#[test]
fn create_refuses_old_versions_and_empty_ranges() {
    let setup = Setup::new();
    for (min, max, words) in [
        (TlsVersion::Ssl3_0, TlsVersion::Tls1_3, "SSL 3.0 is refused"),
        (TlsVersion::Tls1_1, TlsVersion::Tls1_2, "TLS 1.1 is refused"),
        (TlsVersion::Tls1_3, TlsVersion::Tls1_2, "empty"),
    ] {
        let (c, _s) = raw_pair(Transport::SocketPair);
        let mut options = Options::new().client("localhost");
        // Set by hand: the builder's `versions` takes only what the range type allows.
        options.min_version = Some(min);
        options.max_version = Some(max);
        let err = SslFile::create(c, &setup.client_ctx, options).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains(words), "{err}");
    }
}

#[test]
fn a_server_context_without_certificate_is_a_clear_error() {
    let (_c, s) = raw_pair(Transport::SocketPair);
    let ctx = Context::builder().build().unwrap();
    let err = SslFile::server(s, &ctx).unwrap_err();
    assert!(
        err.to_string().contains("a server needs a certificate"),
        "{err}"
    );
}

#[test]
fn reading_before_the_handshake_started_is_a_clear_error() {
    let setup = Setup::new();
    let (c, _s) = raw_pair(Transport::SocketPair);
    let file = SslFile::new(c, &setup.client_ctx);
    let err = (&file).read(&mut [0u8; 4]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotConnected);
    assert!(err.to_string().contains("call connect() or accept() first"));
    assert!(matches!(file.errno(), Some(Error::NotStarted)));
}

#[test]
fn introspection_reports_what_was_negotiated() {
    let setup = Setup::with_alpn(&["http/1.1"], &["http/1.1"]);
    for (min, max) in [
        (TlsVersion::Tls1_2, TlsVersion::Tls1_2),
        (TlsVersion::Tls1_3, TlsVersion::Tls1_3),
    ] {
        let (c, s) = raw_pair(Transport::Tcp);
        let server_ctx = setup.server_ctx.clone();
        let server = thread::spawn(move || {
            let options = Options::new().blocking(true);
            SslFile::create(s, &server_ctx, options).unwrap()
        });
        let options = Options::new()
            .client("localhost")
            .blocking(true)
            .versions(min, max);
        let client = SslFile::create(c, &setup.client_ctx, options).unwrap();
        let server = server.join().unwrap();
        for file in [&client, &server] {
            assert_eq!(file.protocol_version(), Some(max));
            assert_eq!(file.alpn_protocol().as_deref(), Some(&b"http/1.1"[..]));
            assert!(file.cipher_suite().is_some());
            assert_eq!(file.server_name().as_deref(), Some("localhost"));
            assert!(!file.is_handshaking());
        }
        assert_eq!(client.cipher_suite(), server.cipher_suite());
        assert!(client.peer_certificates().unwrap().len() == 2); // leaf + CA
        assert!(server.peer_certificates().is_none()); // no client certificate
        let (sslfile::Addr::Inet(c_peer), sslfile::Addr::Inet(s_local)) =
            (client.peer_addr().unwrap(), server.local_addr().unwrap())
        else {
            panic!("TCP addresses expected")
        };
        assert_eq!(c_peer, s_local);
    }
}

#[test]
fn renegotiate_updates_keys_on_tls13_and_is_refused_on_tls12() {
    let setup = Setup::new();
    let (client, server) = setup.connect(Transport::SocketPair);
    assert_eq!(client.protocol_version(), Some(TlsVersion::Tls1_3));
    for _ in 0..3 {
        client.renegotiate().unwrap();
        (&client).write_all(b"after key update").unwrap();
        let mut buf = [0u8; 16];
        (&server).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"after key update");
        server.renegotiate().unwrap();
        (&server).write_all(b"and back").unwrap();
        let mut buf = [0u8; 8];
        (&client).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"and back");
    }

    let leaf = setup.pki.leaf(&["localhost"]);
    let server_ctx = server_ctx_with(&leaf)
        .versions(TlsVersion::Tls1_2, TlsVersion::Tls1_2)
        .unwrap()
        .build()
        .unwrap();
    let (client, _server) = blocking_handshake(&server_ctx, &setup.client_ctx, "localhost");
    let err = client.unwrap().renegotiate().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    assert!(err.to_string().contains("CVE-2009-3555"));
}

/// Pike's `accept(pending_data)`: a plaintext reader already consumed the start of the
/// ClientHello (STARTTLS); `accept_with` feeds it to TLS first and the handshake completes.
/// Every split of the first 64 bytes, over both transports, and in both server modes.
#[test]
fn accept_with_pending_data_completes_the_handshake() {
    let setup = Setup::new();
    for transport in common::pair::TRANSPORTS {
        for (split, blocking) in [(1, true), (5, false), (9, true), (64, false)] {
            let (c, s) = raw_pair(transport);
            let server_ctx = setup.server_ctx.clone();
            let server = thread::spawn(move || {
                // The plaintext side reads `split` bytes of what the client sent.
                let mut pending = vec![0u8; split];
                (&s).read_exact(&mut pending).unwrap();
                let tls = SslFile::new(s, &server_ctx);
                if blocking {
                    tls.set_blocking();
                    tls.set_timeout(Some(common::TIMEOUT));
                }
                tls.accept_with(&pending).unwrap();
                tls.set_blocking();
                tls.set_timeout(Some(common::TIMEOUT));
                let mut got = [0u8; 5];
                (&tls).read_exact(&mut got).unwrap();
                (&tls).write_all(&got).unwrap();
                tls.close().unwrap();
            });
            let client = SslFile::client(c, &setup.client_ctx, "localhost")
                .unwrap_or_else(|e| panic!("{transport:?} split {split}: {e}"));
            (&client).write_all(b"hello").unwrap();
            let mut echo = Vec::new();
            (&client).read_to_end(&mut echo).unwrap();
            assert_eq!(echo, b"hello", "{transport:?} split {split}");
            server.join().unwrap();
        }
    }
}

/// Post-quantum key exchange by default: two sslfile ends agree on X25519MLKEM768 in one
/// round trip; a peer without ML-KEM (OpenSSL 3.0) gets X25519, also without a
/// HelloRetryRequest (the client sends an X25519 share beside the hybrid one); and
/// `kx_groups` still chooses.
#[test]
fn post_quantum_key_exchange_is_preferred_and_costs_classical_peers_nothing() {
    use sslfile::{HandshakeKind, NamedGroup};
    let setup = Setup::new();
    assert_eq!(
        setup.client_ctx.kx_groups().first(),
        Some(&NamedGroup::X25519MLKEM768)
    );
    let (client, server) = setup.connect(Transport::SocketPair);
    for file in [&client, &server] {
        assert_eq!(file.key_exchange_group(), Some(NamedGroup::X25519MLKEM768));
        assert_eq!(file.handshake_kind(), Some(HandshakeKind::Full));
    }

    // OpenSSL 3.0 has no ML-KEM.
    let dir = common::tempdir();
    let files = setup
        .pki
        .leaf(&["localhost"])
        .write_to(dir.path(), "server");
    let s_server = common::openssl::SServer::spawn({
        let mut opts = common::openssl::SServerOpts::new(&files);
        opts.naccept = None;
        opts
    });
    let tcp = File::connect(("127.0.0.1", s_server.port())).unwrap();
    let client = SslFile::client(tcp, &setup.client_ctx, "localhost").unwrap();
    assert_eq!(client.key_exchange_group(), Some(NamedGroup::X25519));
    assert_eq!(
        client.handshake_kind(),
        Some(HandshakeKind::Full),
        "no retry"
    );
    drop(client);

    let classical = Context::builder()
        .trust_pem(setup.pki.ca_pem.as_bytes())
        .unwrap()
        .kx_groups([NamedGroup::X25519])
        .unwrap()
        .build()
        .unwrap();
    let (client, _server) = blocking_handshake(&setup.server_ctx, &classical, "localhost");
    assert_eq!(
        client.unwrap().key_exchange_group(),
        Some(NamedGroup::X25519)
    );
}
