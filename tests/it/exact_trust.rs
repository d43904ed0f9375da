//! Exact trust (SPEC §10): a certificate the user trusts byte for byte is accepted as the
//! peer's own even when it is marked as a CA, as OpenSSL, GnuTLS, Python and curl accept it,
//! in both roles; its dates and (for a server) its host name are still checked, and a
//! CA-flagged certificate the user does not trust exactly is still refused.
//!
//! Before exact trust, every such connection failed with "certificate for localhost was
//! rejected: Other(OtherError(CaUsedAsEndEntity))".

use crate::common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use common::certs::Identity;
use common::openssl::{req_self_signed, SClient, SClientOpts, SServer, SServerOpts};
use common::pair::{exchange, Exchange, Transport};
use common::process::ChildProc;
use common::{accept_timeout, connect_local, tempdir, TIMEOUT};
use rcgen::{date_time_ymd, BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls_pki_types::pem::PemObject;
use sslfile::{ClientAuth, Context, File, SslFile, TlsVersion};

/// A self-signed certificate for `name` marked as a CA, valid from `from` to `until`
/// (years), made with rcgen (for dates `openssl req` cannot set).
fn ca_flagged(name: &str, from: i32, until: i32) -> Identity {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.not_before = date_time_ymd(from, 1, 1);
    params.not_after = date_time_ymd(until, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    Identity {
        cert_pem: cert.pem(),
        chain_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().clone(),
        chain_der: vec![cert.der().clone()],
        key_der: rustls_pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
    }
}

/// A server presenting `id` (expired certificates allowed, to test clients).
fn server(id: &Identity) -> Context {
    Context::builder()
        .certificate_chain_pem(id.chain_pem.as_bytes(), id.key_pem.as_bytes())
        .unwrap()
        .allow_expired_certificates(true)
        .build()
        .unwrap()
}

/// A client trusting exactly the certificates in `pem`, pinned to `version`.
fn client(pem: &str, version: TlsVersion) -> Context {
    Context::builder()
        .trust_pem(pem.as_bytes())
        .unwrap()
        .versions(version, version)
        .unwrap()
        .build()
        .unwrap()
}

/// The client's verdict connecting to `name`: `Ok` or its message.
fn verdict(server: &Context, client: &Context, name: &'static str) -> Result<(), String> {
    let done = exchange(server, client, Transport::Tcp, |f| f.connect(name));
    match done.client {
        Ok(_) => {
            assert_eq!(done.client_read.unwrap(), b"hello");
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

const VERSIONS: [TlsVersion; 2] = [TlsVersion::Tls1_2, TlsVersion::Tls1_3];

/// The certificate of the issue: `openssl req -x509 ... -subj /CN=localhost`, given to our
/// client as its only trust anchor, served by our server.
#[test]
fn an_exactly_trusted_openssl_req_certificate_is_accepted() {
    let dir = tempdir();
    let files = req_self_signed(dir.path(), "server", "localhost");
    let ours = Context::builder()
        .certificate_chain_pem_files(&files.cert, &files.key)
        .unwrap()
        .build()
        .unwrap();
    for version in VERSIONS {
        let trusting = Context::builder()
            .trust_pem_file(&files.cert)
            .unwrap()
            .versions(version, version)
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(verdict(&ours, &trusting, "localhost"), Ok(()), "{version}");
        let wrong_name = verdict(&ours, &trusting, "elsewhere.test").unwrap_err();
        assert_eq!(
            wrong_name,
            "the server's certificate is not valid for elsewhere.test: it names localhost; \
             connect with a name it names, or give the server a certificate for elsewhere.test"
        );
    }
    // Trusted by DER too.
    let der = rustls_pki_types::CertificateDer::from_pem_file(&files.cert).unwrap();
    let by_der = Context::builder().trust_der(der).unwrap().build().unwrap();
    assert_eq!(verdict(&ours, &by_der, "localhost"), Ok(()));
}

/// Only the exact certificate: another CA-flagged self-signed certificate for the same name
/// is refused, whether the client trusts another one or the web roots.
#[test]
fn a_ca_flagged_certificate_not_trusted_exactly_is_refused() {
    let trusted = ca_flagged("localhost", 2020, 2100);
    let stranger = ca_flagged("localhost", 2020, 2100);
    for version in VERSIONS {
        let refused = verdict(
            &server(&stranger),
            &client(&trusted.cert_pem, version),
            "localhost",
        )
        .unwrap_err();
        assert_eq!(
            refused,
            "the server's certificate for localhost is a CA certificate (CA:TRUE), not \
             the server's own: to accept it, trust exactly this certificate \
             (ContextBuilder::trust_pem, or --cafile); or give the server a certificate \
             with CA:FALSE"
        );
    }
    let web = Context::builder().build().unwrap();
    assert!(verdict(&server(&stranger), &web, "localhost")
        .unwrap_err()
        .contains("is a CA certificate (CA:TRUE)"));
}

/// Exact trust does not outlast a certificate: expired or not yet valid, it is refused with
/// its date.
#[test]
fn an_exactly_trusted_certificate_outside_its_dates_is_refused() {
    let expired = ca_flagged("localhost", 2000, 2001);
    let early = ca_flagged("localhost", 2090, 2100);
    for version in VERSIONS {
        let err = verdict(
            &server(&expired),
            &client(&expired.cert_pem, version),
            "localhost",
        )
        .unwrap_err();
        assert!(
            err.starts_with(
                "the server's certificate for localhost expired on 2001-01-01 (it is now "
            ) && err.ends_with("): the server must renew it"),
            "{err}"
        );
        let err = verdict(
            &server(&early),
            &client(&early.cert_pem, version),
            "localhost",
        )
        .unwrap_err();
        assert!(
            err.starts_with(
                "the server's certificate for localhost is not valid before 2090-01-01 (it is now "
            ),
            "{err}"
        );
    }
}

/// Our client against `openssl s_server` and a Python `ssl` server presenting the
/// `openssl req` certificate.
#[test]
fn our_client_trusts_openssl_and_python_servers_exactly() {
    let dir = tempdir();
    let files = req_self_signed(dir.path(), "server", "localhost");
    for version in VERSIONS {
        let trusting = Context::builder()
            .trust_pem_file(&files.cert)
            .unwrap()
            .versions(version, version)
            .unwrap()
            .build()
            .unwrap();
        let openssl = SServer::spawn(SServerOpts::new(&files));
        let tls = SslFile::client(
            File::try_from(connect_local(openssl.port()).unwrap()).unwrap(),
            &trusting,
            "localhost",
        );
        assert!(tls.is_ok(), "{version}: {:?}", tls.err());

        let mut python = python_server(&files);
        let port: u16 = python.stdout_text().trim().parse().unwrap();
        let tls = SslFile::client(
            File::try_from(TcpStream::connect(("127.0.0.1", port)).unwrap()).unwrap(),
            &trusting,
            "localhost",
        )
        .unwrap_or_else(|e| panic!("{version}: {e}\n{}", python.describe()));
        tls.set_timeout(Some(TIMEOUT));
        let mut hello = [0u8; 5];
        (&tls).read_exact(&mut hello).unwrap();
        assert_eq!(&hello, b"hello");
        python.kill();
    }
}

const PYTHON_SERVER: &str = r#"
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(1)
print(ls.getsockname()[1], flush=True)
conn, _ = ls.accept()
tls = ctx.wrap_socket(conn, server_side=True)
tls.sendall(b"hello")
tls.recv(1)
"#;

/// A Python `ssl` server presenting `files` to one client, its port printed.
fn python_server(files: &common::certs::IdentityFiles) -> ChildProc {
    let mut cmd = std::process::Command::new("python3");
    cmd.arg("-c")
        .arg(PYTHON_SERVER)
        .arg(&files.cert)
        .arg(&files.key);
    let server = ChildProc::spawn(cmd);
    assert!(server.wait_stdout(b"\n", TIMEOUT), "{}", server.describe());
    server
}

/// A server that trusts exactly the `openssl req` certificate as a client certificate
/// accepts `openssl s_client` presenting it, and our client presenting it; another
/// CA-flagged client certificate is refused, and so is the trusted one once expired.
#[test]
fn a_server_trusts_a_client_certificate_exactly() {
    let dir = tempdir();
    let files = req_self_signed(dir.path(), "client", "client.test");
    let server_id = ca_flagged("localhost", 2020, 2100);
    let ours = Context::builder()
        .certificate_chain_pem(server_id.chain_pem.as_bytes(), server_id.key_pem.as_bytes())
        .unwrap()
        .client_auth(ClientAuth::Required)
        .client_ca_pem_file(&files.cert)
        .unwrap()
        .build()
        .unwrap();
    let client_trusting_server = |identity: (&[u8], &[u8]), version| {
        Context::builder()
            .trust_pem(server_id.cert_pem.as_bytes())
            .unwrap()
            .certificate_chain_pem(identity.0, identity.1)
            .unwrap()
            .allow_expired_certificates(true)
            .versions(version, version)
            .unwrap()
            .build()
            .unwrap()
    };
    let cert_pem = std::fs::read(&files.cert).unwrap();
    let key_pem = std::fs::read(&files.key).unwrap();
    let stranger = ca_flagged("client.test", 2020, 2100);
    let expired = ca_flagged("expired.test", 2000, 2001);
    let with_expired = Context::builder()
        .certificate_chain_pem(server_id.chain_pem.as_bytes(), server_id.key_pem.as_bytes())
        .unwrap()
        .client_auth(ClientAuth::Required)
        .client_ca_pem(expired.cert_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    for version in VERSIONS {
        let trusted = client_trusting_server((&cert_pem, &key_pem), version);
        let done = exchange(&ours, &trusted, Transport::Tcp, |f| f.connect("localhost"));
        assert!(done.server.is_ok(), "{version}: {:?}", done.server.err());
        assert_eq!(done.client_read.unwrap(), b"hello");

        let untrusted = client_trusting_server(
            (stranger.chain_pem.as_bytes(), stranger.key_pem.as_bytes()),
            version,
        );
        let done = exchange(&ours, &untrusted, Transport::Tcp, |f| {
            f.connect("localhost")
        });
        assert_eq!(
            server_error(&done),
            "the client's certificate (CN=client.test) is a CA certificate (CA:TRUE), not \
             the client's own: to accept it, trust exactly this certificate \
             (ContextBuilder::client_ca_pem, or --client-ca); or give the client a \
             certificate with CA:FALSE"
        );

        let old = client_trusting_server(
            (expired.chain_pem.as_bytes(), expired.key_pem.as_bytes()),
            version,
        );
        let done = exchange(&with_expired, &old, Transport::Tcp, |f| {
            f.connect("localhost")
        });
        let err = server_error(&done);
        assert!(
            err.starts_with("the client's certificate (CN=expired.test) expired on 2001-01-01"),
            "{err}"
        );

        // openssl's client presenting the certificate.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut opts = SClientOpts::new(listener.local_addr().unwrap().port());
        opts.client_identity = Some(files.clone());
        opts.tls = Some(match version {
            TlsVersion::Tls1_2 => common::openssl::TlsVer::Tls12,
            _ => common::openssl::TlsVer::Tls13,
        });
        let mut s_client = SClient::spawn(opts);
        let sock = accept_timeout(&listener, TIMEOUT).expect("s_client connects");
        let tls = SslFile::new(File::try_from(sock).unwrap(), &ours);
        tls.set_blocking();
        tls.set_timeout(Some(TIMEOUT));
        tls.accept()
            .unwrap_or_else(|e| panic!("{version}: {e}\n{}", s_client.describe()));
        assert!(tls
            .peer_certificates()
            .is_some_and(|chain| !chain.is_empty()));
        (&tls).write_all(b"hello\n").unwrap();
        assert!(
            s_client.wait_stdout(b"hello\n", TIMEOUT),
            "{}",
            s_client.describe()
        );
        tls.close().unwrap();
        s_client.kill();
    }
}

/// The server's error message in an exchange.
fn server_error(done: &Exchange) -> String {
    match &done.server {
        Ok(_) => panic!("the server accepted the client"),
        Err(e) => e.to_string(),
    }
}
