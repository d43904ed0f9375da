//! `SslFile::verified_chain()` (issue 15): the chain as our verifier verified it (end
//! entity, intermediates, trust anchor), as opposed to `peer_certificates()`, what the peer
//! sent. In both roles, for exact trust (a chain of one), and `None` where verification
//! was waived or not repeated.

use crate::common;

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sslfile::{ClientAuth, Context, HandshakeKind};

use common::pair::{exchange, Transport, VERSIONS};
use common::tempdir;

/// root → intermediate → leaf for localhost, and an unrelated self-signed certificate.
struct ThreeLevels {
    root: CertificateDer<'static>,
    intermediate: CertificateDer<'static>,
    leaf: CertificateDer<'static>,
    leaf_key: PrivateKeyDer<'static>,
    unrelated: CertificateDer<'static>,
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2100, 1, 1);
    params
}

fn three_levels() -> ThreeLevels {
    let root_key = KeyPair::generate().unwrap();
    let root = ca_params("verified-chain root")
        .self_signed(&root_key)
        .unwrap();
    let inter_key = KeyPair::generate().unwrap();
    let inter = ca_params("verified-chain intermediate")
        .signed_by(&inter_key, &root, &root_key)
        .unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2100, 1, 1);
    let leaf = params.signed_by(&leaf_key, &inter, &inter_key).unwrap();
    let unrelated_key = KeyPair::generate().unwrap();
    let unrelated = ca_params("unrelated").self_signed(&unrelated_key).unwrap();
    ThreeLevels {
        root: root.der().clone(),
        intermediate: inter.der().clone(),
        leaf: leaf.der().clone(),
        leaf_key: PrivatePkcs8KeyDer::from(leaf_key.serialize_der()).into(),
        unrelated: unrelated.der().clone(),
    }
}

/// The server sends leaf, intermediate and an unrelated certificate; the client verified
/// leaf → intermediate → root.
#[test]
fn the_verified_chain_is_the_path_to_the_anchor_not_what_was_sent() {
    let pki = three_levels();
    let sent = vec![
        pki.leaf.clone(),
        pki.intermediate.clone(),
        pki.unrelated.clone(),
    ];
    let server = Context::builder()
        .certificate_chain_der(sent.clone(), pki.leaf_key.clone_key())
        .unwrap()
        .build()
        .unwrap();
    for version in VERSIONS {
        let client = Context::builder()
            .trust_der(pki.root.clone())
            .unwrap()
            .versions(version, version)
            .unwrap()
            .build()
            .unwrap();
        let done = exchange(&server, &client, Transport::SocketPair, |f| {
            f.connect("localhost")
        });
        let file = done.client.unwrap();
        assert_eq!(file.peer_certificates().unwrap(), sent, "{version}");
        assert_eq!(
            file.verified_chain().unwrap(),
            vec![pki.leaf.clone(), pki.intermediate.clone(), pki.root.clone()],
            "{version}"
        );
        // The server asked for no client certificate: nothing verified on its side.
        assert_eq!(done.server.unwrap().verified_chain(), None);
    }
}

/// A server verifying a client certificate sent with its intermediate.
#[test]
fn a_server_sees_the_verified_chain_of_a_client_certificate() {
    let pki = three_levels();
    let server_pki = common::certs::TestPki::new();
    let server_id = server_pki.leaf(&["localhost"]);
    let server = Context::builder()
        .certificate_chain_pem(server_id.chain_pem.as_bytes(), server_id.key_pem.as_bytes())
        .unwrap()
        .client_auth(ClientAuth::Required)
        .client_ca_der(pki.root.clone())
        .unwrap()
        .build()
        .unwrap();
    let client = Context::builder()
        .certificate_chain_der(
            vec![pki.leaf.clone(), pki.intermediate.clone()],
            pki.leaf_key.clone_key(),
        )
        .unwrap()
        .trust_pem(server_pki.ca_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let done = exchange(&server, &client, Transport::SocketPair, |f| {
        f.connect("localhost")
    });
    let server_file = done.server.unwrap();
    assert_eq!(
        server_file.verified_chain().unwrap(),
        vec![pki.leaf.clone(), pki.intermediate.clone(), pki.root.clone()]
    );
    // And the client verified the server: its leaf and the test CA.
    let client_file = done.client.unwrap();
    assert_eq!(
        client_file.verified_chain().unwrap(),
        vec![server_id.cert_der.clone(), server_pki.ca_der.clone()]
    );
}

/// An exactly trusted certificate is its own chain, also when its session resumes (then
/// rustls verifies nothing: the chain is the one verified when the session was made);
/// `danger_accept_invalid_certs` verifies nothing, so there is no verified chain.
#[test]
fn exact_trust_is_a_chain_of_one_and_waived_verification_none() {
    let dir = tempdir();
    let files = common::openssl::req_self_signed(dir.path(), "server", "localhost");
    let cert = rustls_pki_types::pem::PemObject::from_pem_file(&files.cert).unwrap();
    let cert: CertificateDer<'static> = cert;
    let server = Context::builder()
        .certificate_chain_pem_files(&files.cert, &files.key)
        .unwrap()
        .build()
        .unwrap();
    let exact = Context::builder()
        .trust_pem_file(&files.cert)
        .unwrap()
        .build()
        .unwrap();
    let done = exchange(&server, &exact, Transport::SocketPair, |f| {
        f.connect("localhost")
    });
    let first = done.client.unwrap();
    assert_eq!(first.verified_chain(), Some(vec![cert.clone()]));
    let done = exchange(&server, &exact, Transport::SocketPair, |f| {
        f.connect("localhost")
    });
    let resumed = done.client.unwrap();
    assert_eq!(resumed.handshake_kind(), Some(HandshakeKind::Resumed));
    assert_eq!(resumed.peer_certificates(), Some(vec![cert.clone()]));
    // Not verified again: the chain verified when the session was made.
    assert_eq!(resumed.verified_chain(), Some(vec![cert.clone()]));

    let lenient = Context::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let done = exchange(&server, &lenient, Transport::SocketPair, |f| {
        f.connect("localhost")
    });
    let file = done.client.unwrap();
    assert_eq!(file.peer_certificates(), Some(vec![cert]));
    assert_eq!(file.verified_chain(), None);
}

/// A client's resumed session (TLS 1.2 session or TLS 1.3 ticket, from the context's cache
/// or passed back with `connect_with_session`) has the chain verified when the session was
/// made, and so do the sessions the resumed connection makes in turn. The server's
/// `verified_chain` and the OCSP response are per full handshake.
#[test]
fn a_resumed_session_has_the_chain_verified_when_it_was_made() {
    let pki = three_levels();
    let server = Context::builder()
        .certificate_chain_der(
            vec![pki.leaf.clone(), pki.intermediate.clone()],
            pki.leaf_key.clone_key(),
        )
        .unwrap()
        .build()
        .unwrap();
    let full = vec![pki.leaf.clone(), pki.intermediate.clone(), pki.root.clone()];
    for version in VERSIONS {
        let client = Context::builder()
            .trust_der(pki.root.clone())
            .unwrap()
            .versions(version, version)
            .unwrap()
            .build()
            .unwrap();
        for round in 0..3 {
            let done = exchange(&server, &client, Transport::SocketPair, |f| {
                f.connect("localhost")
            });
            let file = done.client.unwrap();
            let kind = file.handshake_kind();
            assert_eq!(
                kind == Some(HandshakeKind::Resumed),
                round > 0,
                "{version} round {round}"
            );
            assert_eq!(
                file.verified_chain(),
                Some(full.clone()),
                "{version} round {round}"
            );
        }
        // Passed back explicitly, with the cache out of the way.
        let uncached = Context::builder()
            .trust_der(pki.root.clone())
            .unwrap()
            .versions(version, version)
            .unwrap()
            .client_session_cache(0)
            .build()
            .unwrap();
        let made = exchange(&server, &uncached, Transport::SocketPair, |f| {
            f.connect("localhost")
        });
        let session = made.client.unwrap().session().unwrap();
        let done = exchange(&server, &uncached, Transport::SocketPair, |f| {
            f.connect_with_session("localhost", &session)
        });
        let file = done.client.unwrap();
        assert_eq!(
            file.handshake_kind(),
            Some(HandshakeKind::Resumed),
            "{version}"
        );
        assert_eq!(file.verified_chain(), Some(full.clone()), "{version}");
    }
}
