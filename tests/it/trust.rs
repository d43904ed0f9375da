//! Trust anchors: PEM bundles (bytes and files), directories, DER, the bundled web roots
//! (the default), and the loud `danger_` opt-outs. (The system store has its own test
//! binary, `trust_system.rs`: it sets environment variables.)

use crate::common;

use std::fs;

use common::certs::{Identity, TestPki};
use common::pair::{exchange, Transport};
use common::tempdir;
use sslfile::{Context, ContextBuilder};

/// A server for localhost whose certificate comes from `pki`.
fn server_from(pki: &TestPki) -> Context {
    server_with(&pki.leaf(&["localhost"])).build().unwrap()
}

fn server_with(id: &Identity) -> ContextBuilder {
    Context::builder()
        .certificate_chain_pem(id.chain_pem.as_bytes(), id.key_pem.as_bytes())
        .unwrap()
}

/// The client's verdict on the server: `Ok` or its error message.
fn verdict(server: &Context, client: &Context) -> Result<(), String> {
    let done = exchange(server, client, Transport::SocketPair, |f| {
        f.connect("localhost")
    });
    match done.client {
        Ok(_) => {
            assert_eq!(done.client_read.unwrap(), b"hello");
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

const UNKNOWN: &str =
    "the server's certificate for localhost is not signed by a trusted authority: ";

/// Whether `verdict` is the refusal of a certificate from an issuer the client does not trust.
fn untrusted(verdict: Result<(), String>) -> bool {
    verdict.is_err_and(|message| message.starts_with(UNKNOWN))
}

#[test]
fn a_pem_bundle_trusts_each_of_its_cas_and_no_other() {
    let (a, b, stranger) = (TestPki::new(), TestPki::new(), TestPki::new());
    let bundle = format!("{}{}", a.ca_pem, b.ca_pem);
    let dir = tempdir();
    let bundle_file = dir.path().join("bundle.pem");
    fs::write(&bundle_file, &bundle).unwrap();
    let from_bytes = Context::builder()
        .trust_pem(bundle.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let from_file = Context::builder()
        .trust_pem_file(&bundle_file)
        .unwrap()
        .build()
        .unwrap();
    for client in [&from_bytes, &from_file] {
        assert_eq!(
            client.trust_anchor_count(),
            2,
            "only the bundle, not the web roots"
        );
        assert_eq!(verdict(&server_from(&a), client), Ok(()));
        assert_eq!(verdict(&server_from(&b), client), Ok(()));
        assert!(untrusted(verdict(&server_from(&stranger), client)));
    }
}

#[test]
fn a_directory_of_pem_files_is_a_trust_store() {
    let (a, b, stranger) = (TestPki::new(), TestPki::new(), TestPki::new());
    let dir = tempdir();
    fs::write(dir.path().join("a.pem"), &a.ca_pem).unwrap();
    fs::write(dir.path().join("b.crt"), &b.ca_pem).unwrap();
    fs::write(dir.path().join("README"), "not a certificate\n").unwrap();
    // c_rehash-style link: the same certificate again under its hash name.
    std::os::unix::fs::symlink(dir.path().join("a.pem"), dir.path().join("1a2b3c4d.0")).unwrap();
    fs::create_dir(dir.path().join("subdir")).unwrap();
    let client = Context::builder()
        .trust_pem_dir(dir.path())
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(client.trust_anchor_count(), 2);
    assert_eq!(verdict(&server_from(&a), &client), Ok(()));
    assert_eq!(verdict(&server_from(&b), &client), Ok(()));
    assert!(untrusted(verdict(&server_from(&stranger), &client)));

    let empty = tempdir();
    let err = Context::builder()
        .trust_pem_dir(empty.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "{} holds no PEM certificate",
            empty.path().display()
        )),
        "{err}"
    );
    let missing = empty.path().join("missing");
    let err = Context::builder()
        .trust_pem_dir(&missing)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("cannot read the directory {}", missing.display())),
        "{err}"
    );
}

#[test]
fn a_der_trust_anchor_is_trusted() {
    let pki = TestPki::new();
    let client = Context::builder()
        .trust_der(pki.ca_der.clone())
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(verdict(&server_from(&pki), &client), Ok(()));
}

/// With no trust anchor given, the bundled web roots are trusted (and a test CA is not);
/// `trust_web_roots` adds them to anchors that were given.
#[test]
fn the_web_roots_are_the_default_and_can_be_added() {
    let pki = TestPki::new();
    let web_roots = webpki_roots_count();
    let default = Context::builder().build().unwrap();
    assert_eq!(default.trust_anchor_count(), web_roots);
    assert!(
        web_roots > 100,
        "the Mozilla root store has well over 100 roots"
    );
    assert!(untrusted(verdict(&server_from(&pki), &default)));

    let both = Context::builder()
        .trust_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .trust_web_roots()
        .build()
        .unwrap();
    assert_eq!(both.trust_anchor_count(), web_roots + 1);
    assert_eq!(verdict(&server_from(&pki), &both), Ok(()));
}

/// How many roots webpki-roots bundles, counted from a context that trusts only them.
fn webpki_roots_count() -> usize {
    Context::builder()
        .trust_web_roots()
        .build()
        .unwrap()
        .trust_anchor_count()
}

#[test]
fn bad_trust_input_says_what_is_wrong() {
    let pki = TestPki::new();
    let dir = tempdir();
    let files = pki.leaf(&["localhost"]).write_to(dir.path(), "leaf");
    let err = Context::builder()
        .trust_pem_file(&files.key)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "{} contains no certificate, only a private key",
            files.key.display()
        )),
        "{err}"
    );
    let empty = dir.path().join("empty.pem");
    fs::write(&empty, "\n").unwrap();
    let err = Context::builder()
        .trust_pem_file(&empty)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("{} is empty", empty.display())),
        "{err}"
    );
    let err = Context::builder().trust_pem(b"").unwrap_err().to_string();
    assert!(err.contains("the trust PEM is empty"), "{err}");
}

/// Found by the context_loaders fuzz target: a certificate whose two signature-algorithm
/// fields disagree was refused as a trust anchor with webpki's Debug form
/// (`Other(OtherError(SignatureAlgorithmMismatch))`); the refusal is a sentence.
#[test]
fn an_unparsable_trust_anchor_is_refused_in_a_sentence() {
    let pki = TestPki::new();
    let mut der = pki.ca_der.to_vec();
    // ecdsa-with-SHA256; its first occurrence is the signature field inside the signed part.
    let oid = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    let at = der
        .windows(oid.len())
        .position(|w| w == oid)
        .expect("an ECDSA CA");
    der[at + oid.len() - 1] = 0x03; // ecdsa-with-SHA384 inside, SHA-256 outside
    let err = Context::builder()
        .trust_der(der.into())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot be a trust anchor: it cannot be parsed"),
        "{err}"
    );
    assert!(
        !err.contains("Other(") && !err.contains("Mismatch"),
        "{err}"
    );
}

/// The `danger_` options accept what verification refuses, each only as far as its name
/// says; without them the same servers are refused.
#[test]
fn danger_options_relax_verification_as_named() {
    let pki = TestPki::new();
    let stranger = server_with(&TestPki::self_signed(&["localhost"]))
        .build()
        .unwrap();
    let expired = server_with(&pki.expired_leaf(&["localhost"]))
        .allow_expired_certificates(true)
        .build()
        .unwrap();
    let wrong_name = server_with(&pki.leaf(&["elsewhere.test"])).build().unwrap();
    let strict = Context::builder()
        .trust_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    assert!(untrusted(verdict(&stranger, &strict)));
    assert!(verdict(&expired, &strict).is_err_and(|message| message
        .starts_with("the server's certificate for localhost expired on 2001-01-01 (it is now ")));
    assert!(verdict(&wrong_name, &strict)
        .unwrap_err()
        .contains("not valid for localhost"));

    let any_host = Context::builder()
        .trust_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .danger_accept_invalid_hostnames(true)
        .build()
        .unwrap();
    assert_eq!(verdict(&wrong_name, &any_host), Ok(()));
    assert!(untrusted(verdict(&stranger, &any_host)));
    assert!(verdict(&expired, &any_host).is_err());

    let anything = Context::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    for server in [&stranger, &expired, &wrong_name] {
        assert_eq!(verdict(server, &anything), Ok(()));
    }
}
