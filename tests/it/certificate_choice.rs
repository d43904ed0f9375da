//! A server that chooses its certificate per connection
//! (`ContextBuilder::certificate_resolver`): by SNI, seeing ALPN and signature schemes, with
//! chains swapped while serving (a reload), falling back to the context's own chains, and
//! failing clearly when there is none; checked by our client and `openssl s_client`.

use crate::common;

use std::net::TcpListener;
use std::sync::{Arc, Mutex, RwLock};
use std::thread;

use common::certs::TestPki;
use common::pair::{raw_pair, Transport};
use common::TIMEOUT;
use sslfile::{CertifiedChain, Context, File, SslFile};

fn chain(pki: &TestPki, names: &[&str]) -> CertifiedChain {
    let leaf = pki.leaf(names);
    CertifiedChain::from_pem(leaf.chain_pem.as_bytes(), leaf.key_pem.as_bytes()).unwrap()
}

fn client_ctx(pki: &TestPki, alpn: &[&str]) -> Context {
    Context::builder()
        .trust_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .alpn_protocols(alpn)
        .build()
        .unwrap()
}

/// One handshake: `Ok` with the server's view, or both sides' errors.
fn handshake(server_ctx: &Context, client_ctx: &Context, name: &str) -> Result<(), String> {
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
    let client = tls.connect(name).map_err(|e| e.to_string());
    let server = server.join().unwrap();
    match (client, server) {
        (Ok(()), Ok(())) => Ok(()),
        (c, s) => Err(format!("client: {c:?}; server: {s:?}")),
    }
}

#[test]
fn the_resolver_chooses_by_sni_and_sees_alpn_and_signature_schemes() {
    let pki = TestPki::new();
    let (a, b) = (chain(&pki, &["a.test"]), chain(&pki, &["b.test"]));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let server = Context::builder()
        .certificate_resolver(move |hello| {
            log.lock().unwrap().push((
                hello.server_name().map(str::to_string),
                hello
                    .alpn_protocols()
                    .iter()
                    .map(|p| p.to_vec())
                    .collect::<Vec<_>>(),
                !hello.signature_schemes().is_empty(),
            ));
            match hello.server_name() {
                Some("a.test") => Some(a.clone()),
                Some("b.test") => Some(b.clone()),
                _ => None,
            }
        })
        .alpn_protocols(["h2", "http/1.1"])
        .build()
        .unwrap();
    handshake(&server, &client_ctx(&pki, &["h2"]), "a.test").unwrap();
    handshake(&server, &client_ctx(&pki, &["http/1.1"]), "b.test").unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(
        *seen,
        vec![
            (Some("a.test".into()), vec![b"h2".to_vec()], true),
            (Some("b.test".into()), vec![b"http/1.1".to_vec()], true),
        ]
    );
}

#[test]
fn a_chain_swapped_while_serving_is_presented_to_the_next_connection() {
    let (old_pki, new_pki) = (TestPki::new(), TestPki::new());
    let current = Arc::new(RwLock::new(chain(&old_pki, &["localhost"])));
    let serving = current.clone();
    let server = Context::builder()
        .certificate_resolver(move |_| Some(serving.read().unwrap().clone()))
        .build()
        .unwrap();
    handshake(&server, &client_ctx(&old_pki, &[]), "localhost").unwrap();
    *current.write().unwrap() = chain(&new_pki, &["localhost"]);
    handshake(&server, &client_ctx(&new_pki, &[]), "localhost").unwrap();
    let err = handshake(&server, &client_ctx(&old_pki, &[]), "localhost").unwrap_err();
    assert!(err.contains("certificate"), "{err}");
}

#[test]
fn without_a_choice_the_context_chains_serve_and_without_those_the_handshake_fails_clearly() {
    let pki = TestPki::new();
    let own = pki.leaf(&["own.test"]);
    let with_own = Context::builder()
        .certificate_chain_pem(own.chain_pem.as_bytes(), own.key_pem.as_bytes())
        .unwrap()
        .certificate_resolver(|_| None)
        .build()
        .unwrap();
    handshake(&with_own, &client_ctx(&pki, &[]), "own.test").unwrap();
    let only_resolver = Context::builder()
        .certificate_resolver(|_| None)
        .build()
        .unwrap();
    let err = handshake(&only_resolver, &client_ctx(&pki, &[]), "x.test").unwrap_err();
    println!("{err}");
    assert!(!err.contains("General("), "{err}");
    assert!(
        err.contains("access_denied") || err.contains("AccessDenied") || err.contains("denied"),
        "{err}"
    );
}

#[test]
fn openssl_s_client_verifies_the_chosen_certificate() {
    let pki = TestPki::new();
    let dir = common::tempdir();
    let ca = pki.write_ca(dir.path());
    let chosen = chain(&pki, &["chosen.test"]);
    let server_ctx = Context::builder()
        .certificate_resolver(move |hello| {
            (hello.server_name() == Some("chosen.test")).then(|| chosen.clone())
        })
        .build()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let tls = SslFile::new(File::try_from(s).unwrap(), &server_ctx);
        tls.set_blocking();
        tls.set_timeout(Some(TIMEOUT));
        tls.accept().map(|()| tls.close())
    });
    let out = std::process::Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args([
            "-servername",
            "chosen.test",
            "-verify_hostname",
            "chosen.test",
        ])
        .args(["-verify_return_error", "-CAfile"])
        .arg(&ca)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Verify return code: 0 (ok)"), "{stdout}");
    assert!(
        stdout.contains("CN = chosen.test") || stdout.contains("CN=chosen.test"),
        "{stdout}"
    );
    server.join().unwrap().unwrap().unwrap();
}
