//! The system trust store (rustls-native-certs), in a test binary of its own because it
//! sets `SSL_CERT_FILE`, which the loader honours (and which would affect other tests).

use crate::common;

use std::fs;

use common::certs::TestPki;
use common::pair::{exchange, Transport};
use common::tempdir;
use sslfile::Context;

#[test]
fn the_system_store_is_trusted_and_honours_ssl_cert_file() {
    // The machine's store (Debian: the ca-certificates package, installed by .ci/run).
    std::env::remove_var("SSL_CERT_FILE");
    std::env::remove_var("SSL_CERT_DIR");
    let system = Context::builder()
        .trust_system_roots()
        .unwrap()
        .build()
        .unwrap();
    assert!(
        system.trust_anchor_count() > 50,
        "{}",
        system.trust_anchor_count()
    );

    // SSL_CERT_FILE replaces the store: a test CA becomes the system's only anchor.
    let pki = TestPki::new();
    let dir = tempdir();
    let ca = pki.write_ca(dir.path());
    std::env::set_var("SSL_CERT_FILE", &ca);
    let client = Context::builder()
        .trust_system_roots()
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(client.trust_anchor_count(), 1);
    let leaf = pki.leaf(&["localhost"]);
    let server = Context::builder()
        .certificate_chain_pem(leaf.chain_pem.as_bytes(), leaf.key_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let done = exchange(&server, &client, Transport::SocketPair, |f| {
        f.connect("localhost")
    });
    done.client.expect("the system store trusts the test CA");
    assert_eq!(done.client_read.unwrap(), b"hello");

    // A store with nothing usable is an error that says so.
    let empty = dir.path().join("empty.pem");
    fs::write(&empty, "").unwrap();
    std::env::set_var("SSL_CERT_FILE", &empty);
    let err = Context::builder()
        .trust_system_roots()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the system trust store has no usable certificate"),
        "{err}"
    );
    std::env::remove_var("SSL_CERT_FILE");
}
