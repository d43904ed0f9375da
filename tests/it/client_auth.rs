//! Client certificates: none / optional / required, the client's chain on the server,
//! rejection with a readable error on both sides, the choice of chain by the CAs the
//! server names, and interop with openssl (`s_client -cert -key`, `s_server -Verify`).

use crate::common;

use std::io::{self, Read, Write};
use std::net::TcpListener;

use common::certs::{Identity, TestPki};
use common::openssl::{SClient, SClientOpts, SServer, SServerOpts, TlsVer};
use common::pair::{exchange, Exchange, Transport, TRANSPORTS};
use common::{accept_timeout, connect_local, tempdir, TIMEOUT};
use sslfile::{AlertDescription, ClientAuth, Context, Error, File, SslFile, TlsVersion};

const VERSIONS: [TlsVersion; 2] = [TlsVersion::Tls1_2, TlsVersion::Tls1_3];

/// The server side of a test: its identity and context.
struct Server {
    id: Identity,
    ctx: Context,
}

/// A server for localhost (certificate from `pki`) with a policy, accepting client
/// certificates issued by the CA of `client_pki`.
fn server(pki: &TestPki, policy: ClientAuth, client_pki: &TestPki) -> Server {
    let id = pki.leaf(&["localhost"]);
    let ctx = Context::builder()
        .certificate_chain_pem(id.chain_pem.as_bytes(), id.key_pem.as_bytes())
        .unwrap()
        .client_auth(policy)
        .client_ca_pem(client_pki.ca_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    Server { id, ctx }
}

/// A client trusting `pki`, pinned to `version`, presenting `identity` if any.
fn client_ctx(pki: &TestPki, version: TlsVersion, identity: Option<&Identity>) -> Context {
    let mut builder = Context::builder()
        .trust_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .versions(version, version)
        .unwrap();
    if let Some(id) = identity {
        builder = builder
            .certificate_chain_pem(id.chain_pem.as_bytes(), id.key_pem.as_bytes())
            .unwrap()
            .allow_expired_certificates(true);
    }
    builder.build().unwrap()
}

fn run(server: &Context, client: &Context, transport: Transport) -> Exchange {
    exchange(server, client, transport, |f| f.connect("localhost"))
}

/// The client's error: from `connect` (TLS 1.2, where the client waits for the server's
/// Finished) or from the first read (TLS 1.3, where the server's verdict on the client's
/// certificate arrives after the client's handshake is complete).
fn client_error(done: &Exchange) -> Error {
    match (&done.client, &done.client_read) {
        (Err(e), _) => e.clone(),
        (Ok(_), Err(e)) => e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<Error>())
            .cloned()
            .unwrap_or_else(|| panic!("not an sslfile error: {e:?}")),
        (Ok(_), Ok(data)) => panic!("the client was accepted and read {data:?}"),
    }
}

#[test]
fn required_client_certificate_is_visible_on_the_server() {
    let pki = TestPki::new();
    let server = server(&pki, ClientAuth::Required, &pki);
    let identity = pki.leaf(&["client.test"]);
    for version in VERSIONS {
        let client = client_ctx(&pki, version, Some(&identity));
        for transport in TRANSPORTS {
            let done = run(&server.ctx, &client, transport);
            assert_eq!(done.client_read.as_deref().unwrap(), b"hello");
            let chain = done.server.unwrap().peer_certificates();
            assert_eq!(
                chain,
                Some(identity.chain_der.clone()),
                "{version} {transport:?}"
            );
            let server_chain = done.client.unwrap().peer_certificates();
            assert_eq!(server_chain, Some(server.id.chain_der.clone()));
        }
    }
}

#[test]
fn a_client_without_certificate_is_refused_with_a_readable_error_on_both_sides() {
    let pki = TestPki::new();
    let server = server(&pki, ClientAuth::Required, &pki);
    for version in VERSIONS {
        let client = client_ctx(&pki, version, None);
        for transport in TRANSPORTS {
            let done = run(&server.ctx, &client, transport);
            let server_err = done.server.as_ref().expect_err("the server refuses");
            assert_eq!(
                server_err.to_string(),
                "the client presented no certificate, but this server requires one \
                 (ClientAuth::Required)",
                "{version} {transport:?}"
            );
            assert_eq!(server_err.kind(), io::ErrorKind::InvalidData);
            let err = client_error(&done);
            // rustls sends the TLS 1.3 alert for TLS 1.2 too.
            assert!(
                matches!(
                    err,
                    Error::PeerAlert {
                        alert: AlertDescription::CertificateRequired,
                        ..
                    }
                ),
                "{version}: {err:?}"
            );
            assert_eq!(
                err.to_string(),
                "the peer sent a fatal alert (certificate_required): it requires a client certificate"
            );
            assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        }
    }
}

/// Like Pike's client (and Go's), ours presents only a chain issued by a CA the server
/// names: a chain from another CA is not sent. A server that requires a certificate then
/// says none came; one that only asks accepts the client without.
#[test]
fn a_client_does_not_send_a_chain_the_server_does_not_accept() {
    let pki = TestPki::new();
    let stranger = TestPki::new().leaf(&["client.test"]);
    for version in VERSIONS {
        let client = client_ctx(&pki, version, Some(&stranger));
        let required = server(&pki, ClientAuth::Required, &pki);
        let done = run(&required.ctx, &client, Transport::SocketPair);
        let server_err = done.server.as_ref().expect_err("the server refuses");
        assert!(
            server_err
                .to_string()
                .starts_with("the client presented no certificate"),
            "{version}: {server_err}"
        );
        let optional = server(&pki, ClientAuth::Optional, &pki);
        let done = run(&optional.ctx, &client, Transport::SocketPair);
        assert_eq!(done.client_read.unwrap(), b"hello", "{version}");
        assert_eq!(done.server.unwrap().peer_certificates(), None);
    }
}

/// A certificate from a CA the server does not trust, sent anyway (openssl sends what it
/// is given; `s_server -no_ca_names` names no CA, so our client sends its default chain):
/// refused, with a readable error on both sides, ours and openssl's.
#[test]
fn a_certificate_from_an_unknown_ca_is_refused_with_a_readable_error_on_both_sides() {
    let pki = TestPki::new();
    let dir = tempdir();
    let ca = pki.write_ca(dir.path());
    let stranger = TestPki::new().leaf(&["client.test"]);
    let stranger_files = stranger.write_to(dir.path(), "stranger");
    let server_files = pki.leaf(&["localhost"]).write_to(dir.path(), "server");
    for (ver, version) in [
        (TlsVer::Tls12, TlsVersion::Tls1_2),
        (TlsVer::Tls13, TlsVersion::Tls1_3),
    ] {
        for policy in [ClientAuth::Required, ClientAuth::Optional] {
            // openssl's client, our server.
            let ours = server(&pki, policy, &pki);
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let mut opts = SClientOpts::new(listener.local_addr().unwrap().port());
            opts.tls = Some(ver);
            opts.client_identity = Some(stranger_files.clone());
            let mut client = SClient::spawn(opts);
            let sock = accept_timeout(&listener, TIMEOUT).expect("s_client connects");
            let tls = SslFile::new(File::try_from(sock).unwrap(), &ours.ctx);
            tls.set_blocking();
            tls.set_timeout(Some(TIMEOUT));
            let err = tls.accept().expect_err("an untrusted client certificate");
            let message = err.to_string();
            assert!(
                message.starts_with(
                    "the client's certificate (CN=client.test) is not signed by a trusted \
                     authority: it was issued by CN=sslfile test CA "
                ) && message.ends_with(
                    "; trust that CA (ContextBuilder::client_ca_pem, or --client-ca) if it is \
                     yours, or have the client send the intermediate certificates that lead to a \
                     trusted one"
                ),
                "{version} {policy:?}: {message}"
            );
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            let status = client.wait_with_timeout(TIMEOUT);
            assert!(
                status.is_some_and(|s| !s.success()),
                "{}",
                client.describe()
            );
            assert!(
                client.stderr_text().contains("alert unknown ca"),
                "{}",
                client.describe()
            );
        }

        // Our client, openssl's server naming no CA.
        let mut opts = SServerOpts::new(&server_files);
        opts.client_ca = Some(ca.clone());
        opts.tls = Some(ver);
        opts.extra_args = vec!["-no_ca_names".into()];
        let mut server = SServer::spawn(opts);
        let ctx = client_ctx(&pki, version, Some(&stranger));
        let tls = SslFile::new(
            File::try_from(connect_local(server.port()).unwrap()).unwrap(),
            &ctx,
        );
        tls.set_blocking();
        tls.set_timeout(Some(TIMEOUT));
        let err = match tls.connect("localhost") {
            Err(e) => e,
            Ok(()) => Error::from((&tls).read(&mut [0u8; 1]).expect_err("refused")),
        };
        assert!(
            matches!(
                err,
                Error::PeerAlert {
                    alert: AlertDescription::UnknownCA,
                    ..
                }
            ),
            "{version}: {err:?}\n{}",
            server.describe()
        );
        assert_eq!(
            err.to_string(),
            "the peer sent a fatal alert (unknown_ca): it does not trust the issuer of our certificate"
        );
        server.kill();
    }
}

#[test]
fn an_expired_client_certificate_is_refused_saying_so() {
    let pki = TestPki::new();
    let server = server(&pki, ClientAuth::Required, &pki);
    for version in VERSIONS {
        let client = client_ctx(&pki, version, Some(&pki.expired_leaf(&["client.test"])));
        let done = run(&server.ctx, &client, Transport::SocketPair);
        let server_err = done.server.as_ref().expect_err("the server refuses");
        let message = server_err.to_string();
        assert!(
            message.starts_with(
                "the client's certificate (CN=client.test) expired on 2001-01-01 (it is now "
            ) && message.ends_with("): the client must renew it"),
            "{message}"
        );
        let err = client_error(&done);
        assert!(
            err.to_string().contains("our certificate has expired"),
            "{err}"
        );
    }
}

#[test]
fn optional_client_auth_accepts_clients_with_and_without_certificate() {
    let pki = TestPki::new();
    let server = server(&pki, ClientAuth::Optional, &pki);
    let identity = pki.leaf(&["client.test"]);
    for version in VERSIONS {
        let anonymous = run(
            &server.ctx,
            &client_ctx(&pki, version, None),
            Transport::Tcp,
        );
        assert_eq!(anonymous.client_read.unwrap(), b"hello");
        assert_eq!(anonymous.server.unwrap().peer_certificates(), None);

        let with_cert = client_ctx(&pki, version, Some(&identity));
        let done = run(&server.ctx, &with_cert, Transport::Tcp);
        assert_eq!(done.client_read.unwrap(), b"hello");
        let chain = done.server.unwrap().peer_certificates();
        assert_eq!(chain, Some(identity.chain_der.clone()));
    }
}

#[test]
fn without_client_auth_no_certificate_is_asked_for() {
    let pki = TestPki::new();
    let server = server(&pki, ClientAuth::None, &pki);
    let client = client_ctx(&pki, TlsVersion::Tls1_3, Some(&pki.leaf(&["client.test"])));
    let done = run(&server.ctx, &client, Transport::SocketPair);
    assert_eq!(done.client_read.unwrap(), b"hello");
    assert_eq!(done.server.unwrap().peer_certificates(), None);
    assert_eq!(server.ctx.client_auth(), ClientAuth::None);
}

/// Without `client_ca_pem`, client certificates are verified against the trust anchors.
#[test]
fn the_trust_anchors_verify_client_certificates_when_no_client_ca_is_given() {
    let pki = TestPki::new();
    let id = pki.leaf(&["localhost"]);
    let server = Context::builder()
        .certificate_chain_pem(id.chain_pem.as_bytes(), id.key_pem.as_bytes())
        .unwrap()
        .trust_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .client_auth(ClientAuth::Required)
        .build()
        .unwrap();
    let identity = pki.leaf(&["client.test"]);
    let client = client_ctx(&pki, TlsVersion::Tls1_3, Some(&identity));
    let done = run(&server, &client, Transport::SocketPair);
    assert_eq!(done.client_read.unwrap(), b"hello");
    assert_eq!(
        done.server.unwrap().peer_certificates(),
        Some(identity.chain_der)
    );
}

/// A client with two chains presents the one issued by a CA the server names in its
/// CertificateRequest, even when it is not the default (first) chain.
#[test]
fn the_client_presents_the_chain_issued_by_a_ca_the_server_names() {
    let pki = TestPki::new();
    let other = TestPki::new();
    let server = server(&pki, ClientAuth::Required, &pki);
    let from_other = other.leaf(&["client.test"]);
    let from_pki = pki.leaf(&["client.test"]);
    for version in VERSIONS {
        let client = Context::builder()
            .trust_pem(pki.ca_pem.as_bytes())
            .unwrap()
            .versions(version, version)
            .unwrap()
            .certificate_chain_pem(
                from_other.chain_pem.as_bytes(),
                from_other.key_pem.as_bytes(),
            )
            .unwrap()
            .certificate_chain_pem(from_pki.chain_pem.as_bytes(), from_pki.key_pem.as_bytes())
            .unwrap()
            .build()
            .unwrap();
        let done = run(&server.ctx, &client, Transport::SocketPair);
        assert_eq!(done.client_read.unwrap(), b"hello", "{version}");
        let chain = done.server.unwrap().peer_certificates();
        assert_eq!(chain, Some(from_pki.chain_der.clone()), "{version}");
    }
}

// ----- openssl ---------------------------------------------------------------------------

/// `s_client -cert -key` against our server requiring a certificate: the handshake works
/// and our server sees the chain s_client sent; s_client without `-cert` is refused, and
/// both sides say why.
#[test]
fn openssl_s_client_with_and_without_a_client_certificate() {
    let pki = TestPki::new();
    let dir = tempdir();
    let ca = pki.write_ca(dir.path());
    let server = server(&pki, ClientAuth::Required, &pki);
    let identity = pki.leaf(&["client.test"]);
    let files = identity.write_to(dir.path(), "client");
    for (ver, version) in [
        (TlsVer::Tls12, TlsVersion::Tls1_2),
        (TlsVer::Tls13, TlsVersion::Tls1_3),
    ] {
        for with_cert in [true, false] {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let mut opts = SClientOpts::new(listener.local_addr().unwrap().port());
            opts.servername = Some("localhost".into());
            opts.cafile = Some(ca.clone());
            opts.tls = Some(ver);
            if with_cert {
                opts.client_identity = Some(files.clone());
            }
            let mut client = SClient::spawn(opts);
            let sock = accept_timeout(&listener, TIMEOUT).expect("s_client connects");
            let tls = SslFile::new(File::try_from(sock).unwrap(), &server.ctx);
            tls.set_blocking();
            tls.set_timeout(Some(TIMEOUT));
            let accepted = tls.accept();
            if with_cert {
                accepted.unwrap_or_else(|e| panic!("{version}: {e}\n{}", client.describe()));
                assert_eq!(tls.peer_certificates(), Some(identity.chain_der.clone()));
                (&tls).write_all(b"hello from sslfile\n").unwrap();
                assert!(
                    client.wait_stdout(b"hello from sslfile", TIMEOUT),
                    "{}",
                    client.describe()
                );
                tls.close().unwrap();
                let status = client.wait_with_timeout(TIMEOUT);
                assert!(status.is_some_and(|s| s.success()), "{}", client.describe());
            } else {
                let err = accepted.expect_err("no client certificate");
                assert!(
                    err.to_string()
                        .contains("the client presented no certificate"),
                    "{err}"
                );
                let status = client.wait_with_timeout(TIMEOUT);
                assert!(
                    status.is_some_and(|s| !s.success()),
                    "{}",
                    client.describe()
                );
                // rustls sends certificate_required (a TLS 1.3 alert) for TLS 1.2 too.
                assert!(
                    client.stderr_text().contains("alert certificate required"),
                    "{}",
                    client.describe()
                );
            }
        }
    }
}

/// Our client with a certificate against `s_server -Verify 1 -verify_return_error`: the
/// server accepts it; without one, s_server refuses and our client says so.
#[test]
fn our_client_certificate_is_accepted_by_openssl_s_server() {
    let pki = TestPki::new();
    let dir = tempdir();
    let ca = pki.write_ca(dir.path());
    let server_files = pki.leaf(&["localhost"]).write_to(dir.path(), "server");
    let identity = pki.leaf(&["client.test"]);
    for (ver, version) in [
        (TlsVer::Tls12, TlsVersion::Tls1_2),
        (TlsVer::Tls13, TlsVersion::Tls1_3),
    ] {
        for with_cert in [true, false] {
            let mut opts = SServerOpts::new(&server_files);
            opts.client_ca = Some(ca.clone());
            opts.tls = Some(ver);
            let mut server = SServer::spawn(opts);
            let ctx = client_ctx(&pki, version, with_cert.then_some(&identity));
            let sock = connect_local(server.port()).unwrap();
            let tls = SslFile::new(File::try_from(sock).unwrap(), &ctx);
            tls.set_blocking();
            tls.set_timeout(Some(TIMEOUT));
            let connected = tls.connect("localhost");
            if with_cert {
                connected.unwrap_or_else(|e| panic!("{version}: {e}\n{}", server.describe()));
                (&tls).write_all(b"ping\n").unwrap();
                assert!(
                    server.wait_stdout(b"ping", TIMEOUT),
                    "{}",
                    server.describe()
                );
                server.write_stdin(b"pong\n");
                let mut got = [0u8; 5];
                (&tls).read_exact(&mut got).unwrap();
                assert_eq!(&got, b"pong\n");
                tls.close().unwrap();
            } else {
                // TLS 1.2: the handshake fails; TLS 1.3: the first read does.
                let err = match connected {
                    Err(e) => e,
                    Ok(()) => {
                        let mut buf = [0u8; 1];
                        let e = (&tls).read(&mut buf).expect_err("refused");
                        Error::from(e)
                    }
                };
                assert!(
                    matches!(err, Error::PeerAlert { .. }),
                    "{version}: {err:?}\n{}",
                    server.describe()
                );
                assert!(
                    err.to_string().starts_with("the peer sent a fatal alert"),
                    "{err}"
                );
            }
            server.kill();
        }
    }
}
