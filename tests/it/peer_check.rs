//! The application's check after the built-in verification (`ContextBuilder::verify_peer`):
//! public-key pinning (the hash agrees with `openssl`'s), a refusal that reads as a
//! sentence with the application's reason, both roles, and pinning a certificate that only
//! a `danger_` option lets through.

use crate::common;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;

use common::certs::TestPki;
use common::pair::{raw_pair, Transport};
use common::TIMEOUT;
use sslfile::{ClientAuth, Context, ContextBuilder, SslFile};

/// One handshake over a socket pair: both sides' results as text.
fn handshake(
    server_ctx: &Context,
    client_ctx: &Context,
) -> (Result<(), String>, Result<(), String>) {
    let (c, s) = raw_pair(Transport::SocketPair);
    let server_ctx = server_ctx.clone();
    let server = thread::spawn(move || {
        let tls = SslFile::new(s, &server_ctx);
        tls.set_blocking();
        tls.set_timeout(Some(TIMEOUT));
        tls.accept().map_err(|e| e.to_string())
    });
    let tls = SslFile::new(c, client_ctx);
    tls.set_blocking();
    tls.set_timeout(Some(TIMEOUT));
    let client = tls.connect("localhost").map_err(|e| e.to_string());
    (client, server.join().unwrap())
}

/// `openssl`'s SHA-256 of a certificate's SubjectPublicKeyInfo, as `curl --pinnedpubkey`
/// takes it.
fn openssl_spki_sha256(cert_pem: &str) -> Vec<u8> {
    let run = |args: &[&str], input: &[u8]| {
        let mut child = Command::new("openssl")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), input).unwrap();
        child.wait_with_output().unwrap().stdout
    };
    let pubkey = run(&["x509", "-pubkey", "-noout"], cert_pem.as_bytes());
    let der = run(&["pkey", "-pubin", "-outform", "DER"], &pubkey);
    run(&["dgst", "-sha256", "-binary"], &der)
}

fn server_ctx(id: &common::certs::Identity) -> ContextBuilder {
    Context::builder()
        .certificate_chain_pem(id.chain_pem.as_bytes(), id.key_pem.as_bytes())
        .unwrap()
}

#[test]
fn a_pinned_public_key_is_accepted_and_another_refused_with_the_reason() {
    let pki = TestPki::new();
    let id = pki.leaf(&["localhost"]);
    let server = server_ctx(&id).build().unwrap();
    let pin = openssl_spki_sha256(&id.cert_pem);
    assert_eq!(pin.len(), 32);
    let pinning = |pin: Vec<u8>| {
        Context::builder()
            .trust_pem(pki.ca_pem.as_bytes())
            .unwrap()
            .verify_peer(move |peer| match peer.spki_sha256() {
                Some(hash) if hash[..] == pin[..] => Ok(()),
                _ => Err("its public key is not the pinned one".into()),
            })
            .build()
            .unwrap()
    };
    let (client, server_result) = handshake(&server, &pinning(pin.clone()));
    assert_eq!((client, server_result), (Ok(()), Ok(())));
    let mut wrong = pin;
    wrong[0] ^= 1;
    let (client, server_result) = handshake(&server, &pinning(wrong));
    let client = client.unwrap_err();
    assert!(
        client.contains("its public key is not the pinned one")
            && client.contains("localhost")
            && !client.contains("Other(")
            && !client.contains("Refused("),
        "{client}"
    );
    println!("client: {client}");
    let server_err = server_result.unwrap_err();
    println!("server: {server_err}");
    assert!(
        server_err.contains("rejected our certificate"),
        "{server_err}"
    );
}

#[test]
fn the_check_sees_the_verified_name_and_the_chain() {
    let pki = TestPki::new();
    let id = pki.leaf(&["localhost"]);
    let seen = Arc::new(Mutex::new(None));
    let log = seen.clone();
    let client = Context::builder()
        .trust_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .verify_peer(move |peer| {
            *log.lock().unwrap() = Some((
                peer.server_name().map(str::to_string),
                peer.end_entity().to_vec(),
                peer.intermediates().len(),
            ));
            Ok(())
        })
        .build()
        .unwrap();
    let (c, s) = handshake(&server_ctx(&id).build().unwrap(), &client);
    assert_eq!((c, s), (Ok(()), Ok(())));
    let (name, leaf, intermediates) = seen.lock().unwrap().clone().expect("the check ran");
    assert_eq!(name.as_deref(), Some("localhost"));
    assert_eq!(leaf, id.cert_der.to_vec());
    assert_eq!(intermediates, id.chain_der.len() - 1);
}

#[test]
fn a_server_checks_client_certificates_too() {
    let pki = TestPki::new();
    let server_id = pki.leaf(&["localhost"]);
    let (allowed, other) = (pki.leaf(&["alice"]), pki.leaf(&["mallory"]));
    let allowed_der = allowed.cert_der.to_vec();
    let server = server_ctx(&server_id)
        .client_auth(ClientAuth::Required)
        .client_ca_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .verify_peer(move |peer| {
            assert!(peer.server_name().is_none());
            (peer.end_entity().as_ref() == allowed_der.as_slice())
                .then_some(())
                .ok_or_else(|| "this client is not on the allow list".to_string())
        })
        .build()
        .unwrap();
    let client = |id: &common::certs::Identity| {
        server_ctx(id)
            .trust_pem(pki.ca_pem.as_bytes())
            .unwrap()
            .build()
            .unwrap()
    };
    let (c, s) = handshake(&server, &client(&allowed));
    assert_eq!((c, s), (Ok(()), Ok(())));
    let (_, s) = handshake(&server, &client(&other));
    let s = s.unwrap_err();
    assert!(s.contains("this client is not on the allow list"), "{s}");
}

#[test]
fn a_pin_still_applies_when_a_danger_option_waives_verification() {
    let untrusted = TestPki::new();
    let id = untrusted.leaf(&["localhost"]);
    let pin = openssl_spki_sha256(&id.cert_pem);
    let client = Context::builder()
        .danger_accept_invalid_certs(true)
        .verify_peer(move |peer| {
            (peer.spki_sha256().map(|h| h.to_vec()) == Some(pin.clone()))
                .then_some(())
                .ok_or_else(|| "not the pinned key".to_string())
        })
        .build()
        .unwrap();
    let (c, s) = handshake(&server_ctx(&id).build().unwrap(), &client);
    assert_eq!((c, s), (Ok(()), Ok(())), "the pinned key, no CA needed");
    let impostor = untrusted.leaf(&["localhost"]);
    let (c, _) = handshake(&server_ctx(&impostor).build().unwrap(), &client);
    assert!(c.unwrap_err().contains("not the pinned key"));
}
