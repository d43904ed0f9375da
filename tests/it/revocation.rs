//! Certificate revocation lists (issue 15): a certificate its CA revoked is refused in both
//! roles, with a sentence that names it and its CA; one the CRL does not list is accepted.
//! CRLs made by rcgen and by `openssl ca -gencrl`, and OpenSSL's own verdict on the same
//! certificates (`openssl verify -crl_check`) as the reference. The policy (end entity
//! only, unknown status refused, out-of-date CRLs refused) and the errors for bad CRL input.

use crate::common;

use std::process::Command;

use common::certs::{Identity, TestPki};
use common::openssl_ca::{run, OpensslCa, Status};
use common::pair::{exchange, Transport, VERSIONS};
use common::tempdir;
use sslfile::{ClientAuth, Context};

/// Far enough ahead for a current CRL.
const CURRENT: (i32, u8, u8) = (2100, 1, 1);

/// A server presenting `id`.
fn server(id: &Identity) -> Context {
    Context::builder()
        .certificate_chain_pem(id.chain_pem.as_bytes(), id.key_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap()
}

/// The client's verdict connecting to "localhost": `Ok` or its message.
fn client_verdict(server: &Context, client: &Context) -> Result<(), String> {
    let done = exchange(server, client, Transport::Tcp, |f| f.connect("localhost"));
    match done.client {
        Ok(_) => {
            assert_eq!(done.client_read.unwrap(), b"hello");
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The server's verdict on a client: `Ok` or its message.
fn server_verdict(server: &Context, client: &Context) -> Result<(), String> {
    let done = exchange(server, client, Transport::Tcp, |f| f.connect("localhost"));
    done.server.map(|_| ()).map_err(|e| e.to_string())
}

fn revoked_server_message(pki: &TestPki) -> String {
    format!(
        "the server's certificate for localhost has been revoked: its CA, {}, lists it in its \
         certificate revocation list (CRL); the server needs a new certificate",
        pki.ca_name
    )
}

#[test]
fn a_revoked_server_certificate_is_refused_and_a_listed_ones_sibling_accepted() {
    let pki = TestPki::new();
    let revoked = pki.leaf_with_serial(&["localhost"], 1001);
    let valid = pki.leaf_with_serial(&["localhost"], 1002);
    let crl = pki.crl(&[1001], CURRENT);
    for version in VERSIONS {
        let client = Context::builder()
            .trust_pem(pki.ca_pem.as_bytes())
            .unwrap()
            .trust_crl_pem(crl.as_bytes())
            .unwrap()
            .versions(version, version)
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(
            client_verdict(&server(&revoked), &client),
            Err(revoked_server_message(&pki)),
            "{version}"
        );
        assert_eq!(
            client_verdict(&server(&valid), &client),
            Ok(()),
            "{version}"
        );
    }
    // Without the CRL, the revoked certificate passes: the refusal is the CRL's doing.
    let unchecked = Context::builder()
        .trust_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(client_verdict(&server(&revoked), &unchecked), Ok(()));
}

#[test]
fn a_revoked_client_certificate_is_refused_by_our_server() {
    let pki = TestPki::new();
    let server_id = pki.leaf(&["localhost"]);
    let revoked = pki.leaf_with_serial(&["alice"], 7);
    let valid = pki.leaf_with_serial(&["bob"], 8);
    let crl = pki.crl(&[7], CURRENT);
    let dir = tempdir();
    let crl_file = dir.path().join("clients.crl.pem");
    std::fs::write(&crl_file, &crl).unwrap();
    let client_of = |id: &Identity| {
        Context::builder()
            .certificate_chain_pem(id.chain_pem.as_bytes(), id.key_pem.as_bytes())
            .unwrap()
            .trust_pem(pki.ca_pem.as_bytes())
            .unwrap()
            .build()
            .unwrap()
    };
    for version in VERSIONS {
        let ours = Context::builder()
            .certificate_chain_pem(server_id.chain_pem.as_bytes(), server_id.key_pem.as_bytes())
            .unwrap()
            .client_auth(ClientAuth::Required)
            .client_ca_pem(pki.ca_pem.as_bytes())
            .unwrap()
            .trust_crl_pem_file(&crl_file)
            .unwrap()
            .versions(version, version)
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(
            server_verdict(&ours, &client_of(&revoked)),
            Err(format!(
                "the client's certificate (CN=alice) has been revoked: its CA, {}, lists it in \
                 its certificate revocation list (CRL); the client needs a new certificate",
                pki.ca_name
            )),
            "{version}"
        );
        assert_eq!(
            server_verdict(&ours, &client_of(&valid)),
            Ok(()),
            "{version}"
        );
    }
}

/// The rcgen CRL the tests use says what OpenSSL reads in it, and OpenSSL's verifier
/// reaches our verdicts on the same certificates.
#[test]
fn openssl_reads_the_rcgen_crl_and_agrees_with_our_verdicts() {
    let pki = TestPki::new();
    let dir = tempdir();
    let ca = OpensslCa::new(&pki, dir.path());
    let crl = dir.path().join("rcgen.crl.pem");
    std::fs::write(&crl, pki.crl(&[0x1001], CURRENT)).unwrap();
    let text = run(Command::new("openssl")
        .args(["crl", "-noout", "-text", "-in"])
        .arg(&crl));
    assert!(text.contains("Serial Number: 1001"), "{text}");
    assert!(text.contains("Key Compromise"), "{text}");
    for (serial, revoked) in [(0x1001, true), (0x1002, false)] {
        let leaf = pki.leaf_with_serial(&["localhost"], serial);
        let leaf_file = dir.path().join(format!("{serial}.pem"));
        std::fs::write(&leaf_file, &leaf.cert_pem).unwrap();
        let verified = Command::new("openssl")
            .args(["verify", "-crl_check", "-CAfile"])
            .arg(&ca.ca)
            .arg("-CRLfile")
            .arg(&crl)
            .arg(&leaf_file)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&verified.stdout).into_owned()
            + &String::from_utf8_lossy(&verified.stderr);
        assert_eq!(verified.status.success(), !revoked, "{said}");
        if revoked {
            assert!(said.contains("certificate revoked"), "{said}");
        }
        let client = Context::builder()
            .trust_pem_file(&ca.ca)
            .unwrap()
            .trust_crl_pem_file(&crl)
            .unwrap()
            .build()
            .unwrap();
        let ours = client_verdict(&server(&leaf), &client);
        assert_eq!(ours.is_ok(), !revoked, "{ours:?}");
    }
}

/// A CRL made by OpenSSL's CA tool from its index of issued certificates. Without a
/// `crlnumber` file OpenSSL writes a version 1 CRL, which webpki cannot use: refused when
/// added, naming the file and the reason.
#[test]
fn a_crl_from_openssl_ca_gencrl_refuses_what_it_lists() {
    let pki = TestPki::new();
    let dir = tempdir();
    let ca = OpensslCa::new(&pki, dir.path());
    let revoked = pki.leaf_with_serial(&["localhost"], 0x3e9);
    let valid = pki.leaf_with_serial(&["localhost"], 0x3ea);
    ca.record(0x3e9, "localhost", Status::Revoked);
    ca.record(0x3ea, "localhost", Status::Valid);
    let crl = ca.gencrl(true);
    let client = Context::builder()
        .trust_pem_file(&ca.ca)
        .unwrap()
        .trust_crl_pem_file(&crl)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(
        client_verdict(&server(&revoked), &client),
        Err(revoked_server_message(&pki))
    );
    assert_eq!(client_verdict(&server(&valid), &client), Ok(()));

    let v1 = ca.gencrl(false);
    let err = Context::builder().trust_crl_pem_file(&v1).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "invalid TLS configuration: {} holds a certificate revocation list that cannot be \
             used: it is a version 1 CRL, and only version 2 CRLs can be used (openssl ca \
             -gencrl writes version 2 when its configuration names a crlnumber file)",
            v1.display()
        )
    );
}

/// The policy: a certificate whose CA gave no CRL is refused unless unknown statuses are
/// allowed; an out-of-date CRL is refused.
#[test]
fn unknown_status_and_out_of_date_crls_are_refused_by_default() {
    let pki = TestPki::new();
    let other = TestPki::new();
    let leaf = pki.leaf_with_serial(&["localhost"], 5);
    let client = |crl: &str, allow_unknown: bool| {
        Context::builder()
            .trust_pem(pki.ca_pem.as_bytes())
            .unwrap()
            .trust_crl_pem(crl.as_bytes())
            .unwrap()
            .allow_unknown_revocation_status(allow_unknown)
            .build()
            .unwrap()
    };
    let others_crl = other.crl(&[5], CURRENT);
    assert_eq!(
        client_verdict(&server(&leaf), &client(&others_crl, false)),
        Err(format!(
            "the revocation status of the server's certificate for localhost is unknown: none \
             of the certificate revocation lists given (ContextBuilder::trust_crl_pem) is from \
             its CA ({}); add that CA's CRL, or accept unknown statuses \
             (ContextBuilder::allow_unknown_revocation_status)",
            pki.ca_name
        ))
    );
    // The other CA's CRL lists serial 5 too: it does not apply to this CA's certificate.
    assert_eq!(
        client_verdict(&server(&leaf), &client(&others_crl, true)),
        Ok(())
    );
    let stale = pki.crl(&[], (2025, 1, 1));
    let err = client_verdict(&server(&leaf), &client(&stale, true)).unwrap_err();
    assert!(
        err.starts_with(
            "the revocation list that covers the server's certificate for localhost is out of \
             date (its next update was due on 2025-01-01)"
        ),
        "{err}"
    );
}

/// Exact trust and the application's check still work with CRLs given: an exactly trusted
/// certificate is its own anchor (never looked up), and `verify_peer` runs after the
/// revocation check, only for certificates that passed it.
#[test]
fn exact_trust_and_verify_peer_keep_working_with_crls() {
    let pki = TestPki::new();
    let dir = tempdir();
    let files = common::openssl::req_self_signed(dir.path(), "server", "localhost");
    let exact = Context::builder()
        .certificate_chain_pem_files(&files.cert, &files.key)
        .unwrap()
        .build()
        .unwrap();
    let client = Context::builder()
        .trust_pem_file(&files.cert)
        .unwrap()
        .trust_crl_pem(pki.crl(&[1], CURRENT).as_bytes())
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(client_verdict(&exact, &client), Ok(()));

    let checked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = checked.clone();
    let client = Context::builder()
        .trust_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .trust_crl_pem(pki.crl(&[1], CURRENT).as_bytes())
        .unwrap()
        .verify_peer(move |_| {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        })
        .build()
        .unwrap();
    let revoked = pki.leaf_with_serial(&["localhost"], 1);
    let valid = pki.leaf_with_serial(&["localhost"], 2);
    assert_eq!(
        client_verdict(&server(&revoked), &client),
        Err(revoked_server_message(&pki))
    );
    assert_eq!(checked.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(client_verdict(&server(&valid), &client), Ok(()));
    assert_eq!(checked.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn bad_crl_input_is_refused_naming_it() {
    let pki = TestPki::new();
    let dir = tempdir();
    let cases: [(&str, Vec<u8>, String); 4] = [
        (
            "empty.pem",
            b"\n".to_vec(),
            "is empty: expected a PEM certificate revocation list".into(),
        ),
        (
            "crl.der",
            vec![0x30, 0x82, 0x01, 0x00],
            "is DER (binary), not PEM: load it with trust_crl_der".into(),
        ),
        (
            "cert.pem",
            pki.ca_pem.clone().into_bytes(),
            "contains no certificate revocation list (no \"BEGIN X509 CRL\" section)".into(),
        ),
        (
            "garbage.pem",
            b"-----BEGIN X509 CRL-----\nMAMCAQA=\n-----END X509 CRL-----\n".to_vec(),
            "holds a certificate revocation list that cannot be used: it is malformed".into(),
        ),
    ];
    for (name, contents, says) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        let err = Context::builder()
            .trust_crl_pem_file(&path)
            .unwrap_err()
            .to_string();
        let expected = format!("{} {says}", path.display());
        assert!(err.contains(&expected), "{err}\nexpected: {expected}");
    }
    let missing = dir.path().join("missing.pem");
    let err = Context::builder()
        .trust_crl_pem_file(&missing)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("cannot read {}", missing.display())),
        "{err}"
    );
    let err = Context::builder()
        .trust_crl_der(vec![1, 2, 3].into())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the DER CRL holds a certificate revocation list that cannot be used"),
        "{err}"
    );
}

/// With `revocation_check_whole_chain`, a CA certificate its own CA revoked fails the chain,
/// and the message names that CA certificate; by default only the peer's certificate is
/// looked up, so the same chain passes.
#[test]
fn a_revoked_intermediate_fails_the_whole_chain_check_and_is_named() {
    use rcgen::{
        BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType, IsCa,
        KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams, SerialNumber,
    };
    let ca = |name: &str, serial: u64| {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.serial_number = Some(SerialNumber::from(serial));
        params
    };
    let crl = |revoked: Vec<u64>, issuer: &rcgen::Certificate, key: &KeyPair| {
        CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2024, 1, 1),
            next_update: rcgen::date_time_ymd(2100, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .into_iter()
                .map(|serial| RevokedCertParams {
                    serial_number: SerialNumber::from(serial),
                    revocation_time: rcgen::date_time_ymd(2024, 1, 1),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(issuer, key)
        .unwrap()
        .pem()
        .unwrap()
    };
    let root_key = KeyPair::generate().unwrap();
    let root = ca("revocation root", 1).self_signed(&root_key).unwrap();
    let inter_key = KeyPair::generate().unwrap();
    let inter = ca("revocation intermediate", 2)
        .signed_by(&inter_key, &root, &root_key)
        .unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.serial_number = Some(SerialNumber::from(3u64));
    let leaf = params.signed_by(&leaf_key, &inter, &inter_key).unwrap();
    let server = Context::builder()
        .certificate_chain_pem(
            (leaf.pem() + &inter.pem()).as_bytes(),
            leaf_key.serialize_pem().as_bytes(),
        )
        .unwrap()
        .build()
        .unwrap();
    let crls = crl(vec![2], &root, &root_key) + &crl(vec![], &inter, &inter_key);
    let client = |whole_chain: bool| {
        Context::builder()
            .trust_pem(root.pem().as_bytes())
            .unwrap()
            .trust_crl_pem(crls.as_bytes())
            .unwrap()
            .revocation_check_whole_chain(whole_chain)
            .build()
            .unwrap()
    };
    assert_eq!(
        client_verdict(&server, &client(true)),
        Err(
            "the CA certificate CN=revocation intermediate in the chain of the server's \
             certificate for localhost has been revoked: its CA, CN=revocation root, lists it \
             in its certificate revocation list (CRL); the server needs a new certificate"
                .to_string()
        )
    );
    assert_eq!(client_verdict(&server, &client(false)), Ok(()));
}
