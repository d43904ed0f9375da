//! OCSP stapling (issue 15): a server staples the OCSP response it was given (made here
//! by `openssl ocsp`, as a CA's responder makes it) to its certificate; `openssl s_client
//! -status` receives it, and so does our client, byte for byte, in `ocsp_response()` and in
//! `verify_peer`'s `PeerInfo`. Without one, nothing is stapled.

use crate::common;

use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use common::certs::TestPki;
use common::openssl::{SClient, SClientOpts, TlsVer};
use common::openssl_ca::{OpensslCa, Status};
use common::pair::{exchange, Transport, VERSIONS};
use common::{accept_timeout, tempdir, TIMEOUT};
use sslfile::{CertifiedChain, Context, File, SslFile, TlsVersion};

/// A CA, a leaf for localhost it issued, and the CA's OCSP response about it ("good").
struct Stapled {
    pki: TestPki,
    _dir: tempfile::TempDir,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    response: Vec<u8>,
}

fn stapled() -> Stapled {
    let pki = TestPki::new();
    let dir = tempdir();
    let ca = OpensslCa::new(&pki, dir.path());
    let leaf = pki.leaf_with_serial(&["localhost"], 0x51);
    ca.record(0x51, "localhost", Status::Valid);
    let files = leaf.write_to(dir.path(), "leaf");
    let leaf_only = dir.path().join("leaf-only.pem");
    std::fs::write(&leaf_only, &leaf.cert_pem).unwrap();
    let response_file = ca.ocsp_response(&leaf_only, "leaf");
    let response = std::fs::read(&response_file).unwrap();
    Stapled {
        pki,
        cert: files.cert,
        key: files.key,
        response,
        _dir: dir,
    }
}

/// What `openssl s_client -status` prints about the staple, connecting to a server with
/// `ctx`: its stdout once the handshake is done.
fn s_client_status(ctx: &Context, version: TlsVersion) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut opts = SClientOpts::new(listener.local_addr().unwrap().port());
    opts.servername = Some("localhost".into());
    opts.quiet = false; // -quiet silences the OCSP report
    opts.tls = Some(match version {
        TlsVersion::Tls1_2 => TlsVer::Tls12,
        _ => TlsVer::Tls13,
    });
    opts.extra_args = vec!["-status".into()];
    let mut s_client = SClient::spawn(opts);
    let sock = accept_timeout(&listener, TIMEOUT).expect("s_client connects");
    let tls = SslFile::new(File::try_from(sock).unwrap(), ctx);
    tls.set_blocking();
    tls.set_timeout(Some(TIMEOUT));
    tls.accept()
        .unwrap_or_else(|e| panic!("{version}: {e}\n{}", s_client.describe()));
    (&tls).write_all(b"hello\n").unwrap();
    assert!(
        s_client.wait_stdout(b"hello\n", TIMEOUT),
        "{}",
        s_client.describe()
    );
    let out = s_client.stdout_text();
    tls.close().unwrap();
    s_client.kill();
    out
}

#[test]
fn openssl_s_client_receives_the_stapled_response() {
    let made = stapled();
    let with = Context::builder()
        .certificate_chain_pem_files(&made.cert, &made.key)
        .unwrap()
        .ocsp_response_der(made.response.clone())
        .unwrap()
        .build()
        .unwrap();
    let without = Context::builder()
        .certificate_chain_pem_files(&made.cert, &made.key)
        .unwrap()
        .build()
        .unwrap();
    for version in VERSIONS {
        let out = s_client_status(&with, version);
        assert!(
            out.contains("OCSP Response Status: successful (0x0)"),
            "{version}: {out}"
        );
        assert!(out.contains("Cert Status: good"), "{version}: {out}");
        let out = s_client_status(&without, version);
        assert!(
            out.contains("OCSP response: no response sent"),
            "{version}: {out}"
        );
    }
}

#[test]
fn our_client_gets_the_same_bytes_and_so_does_verify_peer() {
    let made = stapled();
    let dir = tempdir();
    let response_file = dir.path().join("resp.der");
    std::fs::write(&response_file, &made.response).unwrap();
    let server = Context::builder()
        .certificate_chain_pem_files(&made.cert, &made.key)
        .unwrap()
        .ocsp_response_file(&response_file)
        .unwrap()
        .build()
        .unwrap();
    let plain = Context::builder()
        .certificate_chain_pem_files(&made.cert, &made.key)
        .unwrap()
        .build()
        .unwrap();
    for version in VERSIONS {
        let seen = Arc::new(Mutex::new(None));
        let noted = seen.clone();
        let client = Context::builder()
            .trust_pem(made.pki.ca_pem.as_bytes())
            .unwrap()
            .versions(version, version)
            .unwrap()
            .verify_peer(move |peer| {
                *noted.lock().unwrap() = Some(peer.ocsp_response().map(<[u8]>::to_vec));
                Ok(())
            })
            .client_session_cache(0)
            .build()
            .unwrap();
        let done = exchange(&server, &client, Transport::SocketPair, |f| {
            f.connect("localhost")
        });
        let file = done.client.unwrap();
        assert_eq!(
            file.ocsp_response(),
            Some(made.response.clone()),
            "{version}"
        );
        assert_eq!(
            seen.lock().unwrap().take(),
            Some(Some(made.response.clone())),
            "{version}"
        );
        // The server side has no OCSP response of the client's.
        assert_eq!(done.server.unwrap().ocsp_response(), None);

        let done = exchange(&plain, &client, Transport::SocketPair, |f| {
            f.connect("localhost")
        });
        assert_eq!(done.client.unwrap().ocsp_response(), None, "{version}");
        assert_eq!(seen.lock().unwrap().take(), Some(None), "{version}");
    }
}

/// A chain a certificate resolver presents carries its own staple.
#[test]
fn a_resolved_chain_carries_its_staple() {
    let made = stapled();
    let chain = CertifiedChain::from_pem_files(&made.cert, &made.key)
        .unwrap()
        .with_ocsp(made.response.clone())
        .unwrap();
    assert_eq!(chain.ocsp_response(), Some(&made.response[..]));
    let server = Context::builder()
        .certificate_resolver(move |_| Some(chain.clone()))
        .build()
        .unwrap();
    let client = Context::builder()
        .trust_pem(made.pki.ca_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let done = exchange(&server, &client, Transport::SocketPair, |f| {
        f.connect("localhost")
    });
    assert_eq!(done.client.unwrap().ocsp_response(), Some(made.response));
}

#[test]
fn a_response_that_is_not_der_or_has_no_chain_is_refused() {
    let made = stapled();
    let dir = tempdir();
    let pem = dir.path().join("resp.pem");
    std::fs::write(&pem, "-----BEGIN OCSP RESPONSE-----\n").unwrap();
    let err = Context::builder()
        .certificate_chain_pem_files(&made.cert, &made.key)
        .unwrap()
        .ocsp_response_file(&pem)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "invalid TLS configuration: {} is text, not a DER OCSP response: write it with \
             openssl ocsp -respout FILE, which writes DER",
            pem.display()
        )
    );
    let err = Context::builder()
        .ocsp_response_der(made.response.clone())
        .unwrap_err();
    assert!(
        err.to_string().contains("add the certificate chain first"),
        "{err}"
    );
}
