//! `Context::reload` (issue 15): a context built again from the files it was made from —
//! a renewed certificate and key, a new OCSP response, an edited trust bundle, client CA
//! file or CRL — with every other setting and everything given in memory unchanged; the
//! context reloaded from stays as it was, and a file that can no longer be used is refused
//! with the message the first build would give. Over TCP, with both protocol versions.

use crate::common;

use std::fs;

use common::certs::{tempdir, Identity, TestPki};
use common::pair::{exchange, Exchange, Transport, VERSIONS};
use sslfile::{ClientAuth, Context, TlsVersion};

/// Two minimal OCSP responses (outer form only, which is all a server checks): status
/// "successful" and status "malformedRequest".
const OCSP_OLD: [u8; 5] = [0x30, 0x03, 0x0a, 0x01, 0x00];
const OCSP_NEW: [u8; 5] = [0x30, 0x03, 0x0a, 0x01, 0x01];

fn client(pki: &TestPki, version: TlsVersion) -> Context {
    Context::builder()
        .trust_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .alpn_protocols(["h2"])
        .versions(version, version)
        .unwrap()
        .build()
        .unwrap()
}

fn connect(server: &Context, client: &Context, name: &str) -> Exchange {
    exchange(server, client, Transport::Tcp, |f| f.connect(name))
}

/// The client's view of a connection that must succeed: ALPN and the stapled response.
fn accepted(done: Exchange) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let client = done.client.expect("the client connects");
    assert_eq!(done.client_read.unwrap(), b"hello");
    done.server.expect("the server accepts");
    (client.alpn_protocol(), client.ocsp_response())
}

fn refused(done: Exchange) -> String {
    match done.client {
        Ok(_) => panic!("the client should have refused the server"),
        Err(e) => e.to_string(),
    }
}

fn write_identity(id: &Identity, files: &common::certs::IdentityFiles) {
    fs::write(&files.cert, &id.chain_pem).unwrap();
    fs::write(&files.key, &id.key_pem).unwrap();
}

#[test]
fn a_reloaded_server_serves_the_renewed_files_and_keeps_everything_else() {
    let (old_ca, new_ca) = (TestPki::new(), TestPki::new());
    let dir = tempdir();
    let files = old_ca.leaf(&["localhost"]).write_to(dir.path(), "server");
    let ocsp = dir.path().join("server.ocsp.der");
    fs::write(&ocsp, OCSP_OLD).unwrap();
    // A second chain given in memory, for another name: kept as it was.
    let other = old_ca.leaf(&["other.test"]);
    for version in VERSIONS {
        write_identity(&old_ca.leaf(&["localhost"]), &files);
        fs::write(&ocsp, OCSP_OLD).unwrap();
        let server = Context::builder()
            .certificate_chain_pem_files(&files.cert, &files.key)
            .unwrap()
            .ocsp_response_file(&ocsp)
            .unwrap()
            .certificate_chain_pem(other.chain_pem.as_bytes(), other.key_pem.as_bytes())
            .unwrap()
            .alpn_protocols(["h2", "http/1.1"])
            .build()
            .unwrap();
        let (old_client, new_client) = (client(&old_ca, version), client(&new_ca, version));
        let before = accepted(connect(&server, &old_client, "localhost"));
        assert_eq!(before, (Some(b"h2".to_vec()), Some(OCSP_OLD.to_vec())));

        // The files are renewed in place: a certificate from another CA, a new staple.
        write_identity(&new_ca.leaf(&["localhost"]), &files);
        fs::write(&ocsp, OCSP_NEW).unwrap();
        let reloaded = server.reload().unwrap();
        let after = accepted(connect(&reloaded, &new_client, "localhost"));
        assert_eq!(
            after,
            (Some(b"h2".to_vec()), Some(OCSP_NEW.to_vec())),
            "{version}"
        );
        let message = refused(connect(&reloaded, &old_client, "localhost"));
        assert!(
            message.contains("not signed by a trusted authority"),
            "{version}: {message}"
        );
        // The chain given in memory is still served, without a staple.
        let in_memory = accepted(connect(&reloaded, &old_client, "other.test"));
        assert_eq!(in_memory, (Some(b"h2".to_vec()), None), "{version}");
        // The context reloaded from is unchanged (a fresh client: the old one would
        // resume its session, and a resumed handshake carries no staple).
        let unchanged = accepted(connect(&server, &client(&old_ca, version), "localhost"));
        assert_eq!(unchanged, before, "{version}");
        assert_eq!(reloaded.alpn_protocols(), server.alpn_protocols());
    }
}

#[test]
fn a_file_that_can_no_longer_be_used_is_refused_as_at_the_first_build() {
    let pki = TestPki::new();
    let dir = tempdir();
    let good = pki.leaf(&["localhost"]);
    let files = good.write_to(dir.path(), "server");
    let server = Context::builder()
        .certificate_chain_pem_files(&files.cert, &files.key)
        .unwrap()
        .build()
        .unwrap();
    let client = client(&pki, TlsVersion::Tls1_3);
    let key = files.key.display().to_string();
    let cert = files.cert.display().to_string();

    // A key of another certificate.
    fs::write(&files.key, pki.leaf(&["localhost"]).key_pem).unwrap();
    let err = server.reload().unwrap_err().to_string();
    assert!(
        err.contains("does not belong") && err.contains(&key),
        "{err}"
    );
    // An expired certificate.
    write_identity(&pki.expired_leaf(&["localhost"]), &files);
    let err = server.reload().unwrap_err().to_string();
    assert!(err.contains("expired") && err.contains(&cert), "{err}");
    // A file that is gone.
    fs::remove_file(&files.cert).unwrap();
    let err = server.reload().unwrap_err().to_string();
    assert!(err.contains(&cert), "{err}");
    // Through all of it, the context in service kept serving its certificate.
    accepted(connect(&server, &client, "localhost"));
    // And once the files are good again, the reload succeeds.
    write_identity(&good, &files);
    accepted(connect(&server.reload().unwrap(), &client, "localhost"));
}

#[test]
fn trust_client_ca_and_crl_files_are_read_again() {
    let (old_ca, new_ca) = (TestPki::new(), TestPki::new());
    let dir = tempdir();
    let trust = dir.path().join("trust.pem");
    let client_cas = dir.path().join("client-cas.pem");
    let crl = dir.path().join("clients.crl.pem");
    let far = (2100, 1, 1);
    for version in VERSIONS {
        // A client whose trust file names the old CA, then the new one.
        fs::write(&trust, &old_ca.ca_pem).unwrap();
        let trusting = Context::builder()
            .trust_pem_file(&trust)
            .unwrap()
            .versions(version, version)
            .unwrap()
            .build()
            .unwrap();
        let server_of = |pki: &TestPki| {
            let id = pki.leaf(&["localhost"]);
            Context::builder()
                .certificate_chain_pem(id.chain_pem.as_bytes(), id.key_pem.as_bytes())
                .unwrap()
                .build()
                .unwrap()
        };
        let (old_server, new_server) = (server_of(&old_ca), server_of(&new_ca));
        accepted(connect(&old_server, &trusting, "localhost"));
        refused(connect(&new_server, &trusting, "localhost"));
        fs::write(&trust, &new_ca.ca_pem).unwrap();
        let trusting = trusting.reload().unwrap();
        accepted(connect(&new_server, &trusting, "localhost"));
        refused(connect(&old_server, &trusting, "localhost"));

        // A server whose client CA file and CRL change: alice (serial 7) is accepted,
        // then revoked.
        fs::write(&client_cas, &old_ca.ca_pem).unwrap();
        fs::write(&crl, old_ca.crl(&[], far)).unwrap();
        let id = old_ca.leaf(&["localhost"]);
        let checking = Context::builder()
            .certificate_chain_pem(id.chain_pem.as_bytes(), id.key_pem.as_bytes())
            .unwrap()
            .client_auth(ClientAuth::Required)
            .client_ca_pem_file(&client_cas)
            .unwrap()
            .trust_crl_pem_file(&crl)
            .unwrap()
            .versions(version, version)
            .unwrap()
            .build()
            .unwrap();
        let alice = old_ca.leaf_with_serial(&["alice"], 7);
        let alice = Context::builder()
            .certificate_chain_pem(alice.chain_pem.as_bytes(), alice.key_pem.as_bytes())
            .unwrap()
            .trust_pem(old_ca.ca_pem.as_bytes())
            .unwrap()
            .build()
            .unwrap();
        let server_verdict = |server: &Context| {
            connect(server, &alice, "localhost")
                .server
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        assert_eq!(server_verdict(&checking), Ok(()), "{version}");
        fs::write(&crl, old_ca.crl(&[7], far)).unwrap();
        let checking = checking.reload().unwrap();
        let verdict = server_verdict(&checking).unwrap_err();
        assert!(
            verdict.contains("(CN=alice) has been revoked"),
            "{version}: {verdict}"
        );
        // The client CA file now names another CA: alice's is no longer accepted at all.
        fs::write(&crl, old_ca.crl(&[], far)).unwrap();
        fs::write(&client_cas, &new_ca.ca_pem).unwrap();
        let checking = checking.reload().unwrap();
        assert!(server_verdict(&checking).is_err(), "{version}");
    }
}
