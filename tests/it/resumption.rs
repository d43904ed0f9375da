//! Session resumption, verified by the handshake kind on both sides, with TLS 1.2 and
//! TLS 1.3: the client cache, Pike's `session()` / `connect(server_name, session)`, the
//! server's session cache and tickets (and turning them off), single-use TLS 1.3 tickets,
//! and interop with `openssl s_client -sess_out/-sess_in` and `openssl s_server`.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpListener;

use common::certs::{Identity, TestPki};
use common::openssl::{SClient, SClientOpts, SServer, SServerOpts, TlsVer};
use common::pair::{eventually, exchange, raw_pair, Exchange, Transport, TRANSPORTS};
use common::{accept_timeout, connect_local, tempdir, TIMEOUT};
use sslfile::{
    ClientAuth, Context, ContextBuilder, File, HandshakeKind, Session, SslFile, TlsVersion,
};

const VERSIONS: [TlsVersion; 2] = [TlsVersion::Tls1_2, TlsVersion::Tls1_3];

struct Pki {
    pki: TestPki,
    server_id: Identity,
}

impl Pki {
    fn new() -> Pki {
        let pki = TestPki::new();
        let server_id = pki.leaf(&["localhost", "127.0.0.1"]);
        Pki { pki, server_id }
    }

    fn server(&self) -> ContextBuilder {
        Context::builder()
            .certificate_chain_pem(
                self.server_id.chain_pem.as_bytes(),
                self.server_id.key_pem.as_bytes(),
            )
            .unwrap()
    }

    fn client(&self, version: TlsVersion) -> ContextBuilder {
        Context::builder()
            .trust_pem(self.pki.ca_pem.as_bytes())
            .unwrap()
            .versions(version, version)
            .unwrap()
    }
}

/// One connection to "localhost"; both sides must succeed.
fn connect(server: &Context, client: &Context, transport: Transport) -> (SslFile, SslFile) {
    finish(exchange(server, client, transport, |f| {
        f.connect("localhost")
    }))
}

fn connect_with(server: &Context, client: &Context, session: &Session) -> (SslFile, SslFile) {
    let session = session.clone();
    finish(exchange(server, client, Transport::SocketPair, move |f| {
        f.connect_with_session("localhost", &session)
    }))
}

fn finish(done: Exchange) -> (SslFile, SslFile) {
    let client = done.client.expect("client handshake");
    assert_eq!(done.client_read.expect("client read"), b"hello");
    (client, done.server.expect("server"))
}

/// The handshake kind of both sides, which must agree.
fn kind(client: &SslFile, server: &SslFile) -> HandshakeKind {
    let kind = client.handshake_kind().expect("client handshake kind");
    assert_eq!(server.handshake_kind(), Some(kind), "both sides agree");
    assert_eq!(client.is_resumed(), kind == HandshakeKind::Resumed);
    assert_eq!(server.is_resumed(), kind == HandshakeKind::Resumed);
    kind
}

#[test]
fn reconnecting_with_the_same_context_resumes() {
    let p = Pki::new();
    let server = p.server().build().unwrap();
    for version in VERSIONS {
        for transport in TRANSPORTS {
            let client = p.client(version).build().unwrap();
            let (c, s) = connect(&server, &client, transport);
            assert_eq!(kind(&c, &s), HandshakeKind::Full, "{version} {transport:?}");
            for round in 0..3 {
                let (c, s) = connect(&server, &client, transport);
                assert_eq!(
                    kind(&c, &s),
                    HandshakeKind::Resumed,
                    "{version} {transport:?} {round}"
                );
                assert_eq!(c.protocol_version(), Some(version));
                // The server's chain is still known to the resumed client.
                assert_eq!(c.peer_certificates(), Some(p.server_id.chain_der.clone()));
            }
        }
    }
}

/// Pike's way: `session()` after one connection, `connect(server_name, session)` for the
/// next. With the client cache off, only the session passed resumes.
#[test]
fn a_session_passed_back_resumes_as_in_pike() {
    let p = Pki::new();
    let server = p.server().build().unwrap();
    for version in VERSIONS {
        let client = p.client(version).client_session_cache(0).build().unwrap();
        let (first, _) = connect(&server, &client, Transport::SocketPair);
        let session = first.session().expect("a session after reading");
        assert!(session.is_resumable());
        assert_eq!(session.server_name(), "localhost");

        let (c, s) = connect(&server, &client, Transport::SocketPair);
        assert_eq!(
            kind(&c, &s),
            HandshakeKind::Full,
            "{version}: no cache, no session"
        );

        let (c, s) = connect_with(&server, &client, &session);
        assert_eq!(kind(&c, &s), HandshakeKind::Resumed, "{version}");
        // The resumed connection has a session of its own to pass on.
        assert!(c.session().is_some_and(|s| s.is_resumable()));
    }
}

/// With TLS 1.2 the session is there as soon as the handshake is complete; with TLS 1.3 it
/// comes with the server's tickets, after the handshake.
#[test]
fn when_the_session_becomes_available() {
    let p = Pki::new();
    let server = p.server().build().unwrap();
    for version in VERSIONS {
        let client_ctx = p.client(version).build().unwrap();
        let (c, s) = raw_pair(Transport::SocketPair);
        let server_ctx = server.clone();
        let server_thread = std::thread::spawn(move || {
            let tls = SslFile::server(s, &server_ctx).unwrap();
            let mut buf = [0u8; 2];
            (&tls).read_exact(&mut buf).unwrap(); // wait for "go"
            (&tls).write_all(b"hello").unwrap();
            tls.close().unwrap();
            assert!(
                tls.session().is_none(),
                "a server has no session to hand out"
            );
        });
        let tls = SslFile::client(c, &client_ctx, "localhost").unwrap();
        match version {
            TlsVersion::Tls1_2 => assert!(tls.session().is_some(), "TLS 1.2: at once"),
            _ => assert!(tls.session().is_none(), "TLS 1.3: nothing read yet"),
        }
        (&tls).write_all(b"go").unwrap();
        let mut hello = Vec::new();
        (&tls).read_to_end(&mut hello).unwrap();
        assert_eq!(hello, b"hello");
        let session = tls.session().expect("a session once data was read");
        if version == TlsVersion::Tls1_3 {
            assert_eq!(
                session.tls13_tickets(),
                2,
                "rustls servers send two tickets"
            );
        }
        server_thread.join().unwrap();
    }
}

/// A TLS 1.3 ticket is used once (RFC 8446 C.4): a session with two tickets resumes twice,
/// then the handshake is a full one. Clones share the tickets.
#[test]
fn a_tls13_ticket_is_used_once() {
    let p = Pki::new();
    let server = p.server().build().unwrap();
    let client = p
        .client(TlsVersion::Tls1_3)
        .client_session_cache(0)
        .build()
        .unwrap();
    let (first, _) = connect(&server, &client, Transport::SocketPair);
    let session = first.session().unwrap();
    let copy = session.clone();
    assert_eq!(session.tls13_tickets(), 2);
    let (c, s) = connect_with(&server, &client, &session);
    assert_eq!(kind(&c, &s), HandshakeKind::Resumed);
    assert_eq!(copy.tls13_tickets(), 1);
    let (c, s) = connect_with(&server, &client, &copy);
    assert_eq!(kind(&c, &s), HandshakeKind::Resumed);
    assert!(!session.is_resumable());
    let (c, s) = connect_with(&server, &client, &session);
    assert_eq!(kind(&c, &s), HandshakeKind::Full);
}

#[test]
fn a_session_resumes_only_with_its_name_and_its_context() {
    let p = Pki::new();
    let server = p.server().build().unwrap();
    let client = p.client(TlsVersion::Tls1_3).build().unwrap();
    let (first, _) = connect(&server, &client, Transport::SocketPair);
    let session = first.session().unwrap();

    let (c, _s) = raw_pair(Transport::SocketPair);
    let tls = SslFile::new(c, &client);
    let err = tls.connect_with_session("127.0.0.1", &session).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid TLS configuration: the session is for localhost, not 127.0.0.1: a session \
         resumes only with the server it was made with"
    );

    // Another context (same settings) does not resume it: its verifier is another one.
    let other = p.client(TlsVersion::Tls1_3).build().unwrap();
    let (c, s) = connect_with(&server, &other, &session);
    assert_eq!(kind(&c, &s), HandshakeKind::Full);
}

/// Servers resume by session ID (TLS 1.2) or stateful tickets (TLS 1.3) from their cache,
/// and by stateless tickets; with both off, nothing resumes.
#[test]
fn servers_resume_from_their_cache_or_tickets_and_both_can_be_turned_off() {
    let p = Pki::new();
    for (cache, tickets, resumes) in [
        (256, true, true),
        (0, true, true),
        (256, false, true),
        (0, false, false),
    ] {
        let server = p
            .server()
            .server_session_cache(cache)
            .session_tickets(tickets)
            .build()
            .unwrap();
        for version in VERSIONS {
            let client = p.client(version).build().unwrap();
            let (c, s) = connect(&server, &client, Transport::SocketPair);
            assert_eq!(kind(&c, &s), HandshakeKind::Full);
            let (c, s) = connect(&server, &client, Transport::SocketPair);
            let expected = if resumes {
                HandshakeKind::Resumed
            } else {
                HandshakeKind::Full
            };
            assert_eq!(
                kind(&c, &s),
                expected,
                "cache {cache}, tickets {tickets}, {version}"
            );
        }
    }
}

/// A client whose cache is off does not resume by reconnecting.
#[test]
fn a_client_cache_of_zero_turns_automatic_resumption_off() {
    let p = Pki::new();
    let server = p.server().build().unwrap();
    for version in VERSIONS {
        let client = p.client(version).client_session_cache(0).build().unwrap();
        for _ in 0..2 {
            let (c, s) = connect(&server, &client, Transport::SocketPair);
            assert_eq!(kind(&c, &s), HandshakeKind::Full);
        }
    }
}

/// The server still knows the client's certificate on a resumed connection.
#[test]
fn the_client_certificate_is_known_after_resumption() {
    let p = Pki::new();
    let server = p
        .server()
        .client_auth(ClientAuth::Required)
        .client_ca_pem(p.pki.ca_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let identity = p.pki.leaf(&["client.test"]);
    for version in VERSIONS {
        let client = p
            .client(version)
            .certificate_chain_pem(identity.chain_pem.as_bytes(), identity.key_pem.as_bytes())
            .unwrap()
            .build()
            .unwrap();
        connect(&server, &client, Transport::SocketPair);
        let (c, s) = connect(&server, &client, Transport::SocketPair);
        assert_eq!(kind(&c, &s), HandshakeKind::Resumed, "{version}");
        assert_eq!(
            s.peer_certificates(),
            Some(identity.chain_der.clone()),
            "{version}"
        );
    }
}

/// Resumption in nonblocking mode: the handshake advances with reads.
#[test]
fn a_nonblocking_client_resumes_a_session() {
    let p = Pki::new();
    let server = p.server().build().unwrap();
    for version in VERSIONS {
        let client = p.client(version).client_session_cache(0).build().unwrap();
        let (first, _) = connect(&server, &client, Transport::Tcp);
        let session = first.session().unwrap();
        let (c, s) = raw_pair(Transport::Tcp);
        let server_ctx = server.clone();
        let server_thread = std::thread::spawn(move || {
            let tls = SslFile::server(s, &server_ctx).unwrap();
            (&tls).write_all(b"hello").unwrap();
            tls.close().unwrap();
            tls.is_resumed()
        });
        let tls = SslFile::new(c, &client);
        tls.connect_with_session("localhost", &session).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 16];
        eventually(|| match (&tls).read(&mut buf) {
            Ok(0) => Some(()),
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                None
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
            Err(e) => panic!("{version}: {e}"),
        });
        assert_eq!(got, b"hello");
        assert!(tls.is_resumed(), "{version}");
        assert!(server_thread.join().unwrap(), "{version}");
    }
}

// ----- openssl ---------------------------------------------------------------------------

fn tls_ver(version: TlsVersion) -> TlsVer {
    match version {
        TlsVersion::Tls1_2 => TlsVer::Tls12,
        _ => TlsVer::Tls13,
    }
}

/// `openssl s_client -sess_out` then `-sess_in` against our server: the second connection
/// is resumed, as both s_client ("Reused") and our server (`is_resumed`) report.
#[test]
fn openssl_s_client_resumes_with_our_server() {
    let p = Pki::new();
    let dir = tempdir();
    let ca = p.pki.write_ca(dir.path());
    let server = p.server().build().unwrap();
    for version in VERSIONS {
        let sess = dir.path().join(format!("{version}.sess").replace(' ', ""));
        for round in 0..2 {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let mut opts = SClientOpts::new(listener.local_addr().unwrap().port());
            opts.servername = Some("localhost".into());
            opts.cafile = Some(ca.clone());
            opts.tls = Some(tls_ver(version));
            opts.quiet = false; // prints "New" or "Reused"; exits at stdin EOF
            let flag = if round == 0 { "-sess_out" } else { "-sess_in" };
            opts.extra_args = vec![flag.into(), sess.to_str().unwrap().into()];
            let mut client = SClient::spawn(opts);
            let sock = accept_timeout(&listener, TIMEOUT).expect("s_client connects");
            let tls = SslFile::new(File::try_from(sock).unwrap(), &server);
            tls.set_blocking();
            tls.set_timeout(Some(TIMEOUT));
            tls.accept()
                .unwrap_or_else(|e| panic!("{version}: {e}\n{}", client.describe()));
            (&tls).write_all(b"hello from sslfile\n").unwrap();
            assert!(
                client.wait_stdout(b"hello from sslfile", TIMEOUT),
                "{}",
                client.describe()
            );
            client.close_stdin(); // s_client sends close_notify and exits
            let mut rest = Vec::new();
            let _ = (&tls).read_to_end(&mut rest);
            let status = client.wait_with_timeout(TIMEOUT);
            assert!(status.is_some_and(|s| s.success()), "{}", client.describe());
            let out = client.stdout_text();
            let (word, expected) = match round {
                0 => ("New, ", HandshakeKind::Full),
                _ => ("Reused, ", HandshakeKind::Resumed),
            };
            assert!(out.contains(word), "{version} round {round}: {out}");
            assert_eq!(
                tls.handshake_kind(),
                Some(expected),
                "{version} round {round}"
            );
        }
    }
}

/// Our client against `openssl s_server`: the second connection resumes, by the client
/// cache and by a session passed back.
#[test]
fn our_client_resumes_with_openssl_s_server() {
    let p = Pki::new();
    let dir = tempdir();
    let files = p.server_id.write_to(dir.path(), "server");
    for version in VERSIONS {
        for explicit in [false, true] {
            let mut opts = SServerOpts::new(&files);
            opts.tls = Some(tls_ver(version));
            opts.naccept = Some(2);
            let mut server = SServer::spawn(opts);
            let client = p
                .client(version)
                .client_session_cache(if explicit { 0 } else { 256 })
                .build()
                .unwrap();
            let mut session = None;
            for round in 0..2 {
                let sock = connect_local(server.port()).unwrap();
                let tls = SslFile::new(File::try_from(sock).unwrap(), &client);
                tls.set_blocking();
                tls.set_timeout(Some(TIMEOUT));
                match (&session, explicit) {
                    (Some(s), true) => tls.connect_with_session("localhost", s).unwrap(),
                    _ => tls.connect("localhost").unwrap(),
                }
                let line = format!("ping {round}\n");
                (&tls).write_all(line.as_bytes()).unwrap();
                assert!(
                    server.wait_stdout(line.as_bytes(), TIMEOUT),
                    "{}",
                    server.describe()
                );
                server.write_stdin(b"pong\n");
                let mut pong = [0u8; 5];
                (&tls).read_exact(&mut pong).unwrap(); // the tickets came before it
                assert_eq!(&pong, b"pong\n");
                let expected = if round == 0 {
                    HandshakeKind::Full
                } else {
                    HandshakeKind::Resumed
                };
                assert_eq!(
                    tls.handshake_kind(),
                    Some(expected),
                    "{version} explicit {explicit} round {round}"
                );
                session = tls.session();
                assert!(session.is_some(), "{version}: s_server issued a session");
                tls.close().unwrap();
            }
            server.kill();
        }
    }
}
