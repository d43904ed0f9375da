//! Context certificates: several chains chosen by SNI (RSA, ECDSA, Ed25519) with a default
//! for clients that send no SNI; loading from PEM files, PEM bytes and DER, PKCS#8, PKCS#1
//! and SEC1 keys; one error message per kind of bad input, naming the file; one context
//! in both roles at once.

use crate::common;

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use common::certs::{Identity, TestPki};
use common::openssl::{SClient, SClientOpts};
use common::pair::{exchange, Transport, TRANSPORTS};
use common::{accept_timeout, tempdir, TIMEOUT};
use sslfile::{ClientAuth, Context, File, SslFile, TlsVersion};

const VERSIONS: [TlsVersion; 2] = [TlsVersion::Tls1_2, TlsVersion::Tls1_3];

/// The SNI server: an ECDSA chain (the default, also valid for 127.0.0.1), an RSA chain
/// and an Ed25519 chain, each for its own name.
struct SniServer {
    pki: TestPki,
    ecdsa: Identity,
    rsa: Identity,
    ed25519: Identity,
    ctx: Context,
}

impl SniServer {
    fn new() -> SniServer {
        let pki = TestPki::new();
        let ecdsa = pki.leaf(&["ecdsa.test", "127.0.0.1"]);
        let rsa = pki.leaf_rsa(&["rsa.test"]);
        let ed25519 = pki.leaf_ed25519(&["ed25519.test"]);
        let mut builder = Context::builder();
        for id in [&ecdsa, &rsa, &ed25519] {
            builder = builder
                .certificate_chain_pem(id.chain_pem.as_bytes(), id.key_pem.as_bytes())
                .unwrap();
        }
        let ctx = builder.build().unwrap();
        SniServer {
            pki,
            ecdsa,
            rsa,
            ed25519,
            ctx,
        }
    }

    fn client(&self, version: TlsVersion) -> Context {
        Context::builder()
            .trust_pem(self.pki.ca_pem.as_bytes())
            .unwrap()
            .versions(version, version)
            .unwrap()
            .build()
            .unwrap()
    }
}

/// The leaf certificate the client got, and the name the server saw.
fn served(
    server: &Context,
    client: &Context,
    name: &str,
    transport: Transport,
) -> (Vec<u8>, Option<String>) {
    let name = name.to_string();
    let done = exchange(server, client, transport, move |f| f.connect(&name));
    let client = done.client.expect("client handshake");
    assert_eq!(done.client_read.unwrap(), b"hello");
    let server = done.server.expect("server");
    let chain = client.peer_certificates().expect("server chain");
    (chain[0].to_vec(), server.server_name())
}

#[test]
fn sni_server_with_three_key_types_serves_each_name_its_chain() {
    let sni = SniServer::new();
    for version in VERSIONS {
        let client = sni.client(version);
        for transport in TRANSPORTS {
            for (name, id) in [
                ("rsa.test", &sni.rsa),
                ("ecdsa.test", &sni.ecdsa),
                ("ed25519.test", &sni.ed25519),
                ("ED25519.Test", &sni.ed25519), // names are case-insensitive
            ] {
                let (leaf, seen) = served(&sni.ctx, &client, name, transport);
                assert_eq!(leaf, id.cert_der.to_vec(), "{version} {transport:?} {name}");
                assert_eq!(seen.as_deref(), Some(name.to_ascii_lowercase().as_str()));
            }
        }
    }
}

#[test]
fn a_client_without_sni_gets_the_default_chain() {
    let sni = SniServer::new();
    for version in VERSIONS {
        let client = sni.client(version);
        for transport in TRANSPORTS {
            // An IP address is never sent as SNI (RFC 6066).
            let (leaf, seen) = served(&sni.ctx, &client, "127.0.0.1", transport);
            assert_eq!(leaf, sni.ecdsa.cert_der.to_vec(), "{version} {transport:?}");
            assert_eq!(seen, None, "no SNI was sent");
        }
    }
    // A name no chain covers gets the default too (visible to a client that does not
    // check host names).
    let lenient = Context::builder()
        .trust_pem(sni.pki.ca_pem.as_bytes())
        .unwrap()
        .danger_accept_invalid_hostnames(true)
        .build()
        .unwrap();
    let (leaf, seen) = served(&sni.ctx, &lenient, "other.test", Transport::SocketPair);
    assert_eq!(leaf, sni.ecdsa.cert_der.to_vec());
    assert_eq!(seen.as_deref(), Some("other.test"));
}

#[test]
fn a_wildcard_chain_serves_the_names_below_it() {
    let pki = TestPki::new();
    let default = pki.leaf(&["default.test"]);
    let wild = pki.leaf(&["*.wild.test"]);
    let ctx = Context::builder()
        .certificate_chain_der(default.chain_der.clone(), default.key_der.clone_key())
        .unwrap()
        .certificate_chain_der(wild.chain_der.clone(), wild.key_der.clone_key())
        .unwrap()
        .build()
        .unwrap();
    let client = Context::builder()
        .trust_der(pki.ca_der.clone())
        .unwrap()
        .build()
        .unwrap();
    let (leaf, _) = served(&ctx, &client, "a.wild.test", Transport::SocketPair);
    assert_eq!(leaf, wild.cert_der.to_vec());
    let (leaf, _) = served(&ctx, &client, "default.test", Transport::SocketPair);
    assert_eq!(leaf, default.cert_der.to_vec());
}

/// `openssl s_client` with and without `-servername` against the SNI server: the chain it
/// prints is the one for its name, or the default.
#[test]
fn openssl_s_client_gets_the_chain_for_its_name_or_the_default() {
    let sni = SniServer::new();
    let dir = tempdir();
    let ca = sni.pki.write_ca(dir.path());
    for (servername, subject, signature) in [
        (Some("rsa.test"), "CN = rsa.test", "RSA-PSS"),
        (Some("ed25519.test"), "CN = ed25519.test", "ed25519"),
        (None, "CN = ecdsa.test", "ECDSA"),
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut opts = SClientOpts::new(listener.local_addr().unwrap().port());
        opts.servername = servername.map(str::to_string);
        opts.cafile = Some(ca.clone());
        opts.quiet = false; // print the certificate and the handshake details
        let mut client = SClient::spawn(opts);
        let sock = accept_timeout(&listener, TIMEOUT).expect("s_client connects");
        let tls = SslFile::new(File::try_from(sock).unwrap(), &sni.ctx);
        tls.set_blocking();
        tls.set_timeout(Some(TIMEOUT));
        tls.accept()
            .unwrap_or_else(|e| panic!("{servername:?}: {e}\n{}", client.describe()));
        assert_eq!(tls.server_name().as_deref(), servername);
        client.close_stdin(); // s_client sends close_notify and exits
        let _ = (&tls).read_to_end_quietly();
        assert!(
            client.wait_with_timeout(TIMEOUT).is_some(),
            "{}",
            client.describe()
        );
        let out = client.stdout_text();
        assert!(
            out.contains(&format!("subject={subject}")),
            "{servername:?}\n{out}"
        );
        assert!(
            out.contains(&format!("Peer signature type: {signature}")),
            "{servername:?}\n{out}"
        );
        assert!(
            out.contains("Verify return code: 0 (ok)"),
            "{servername:?}\n{out}"
        );
    }
}

/// Reads until the end of stream, ignoring what is read and how it ends.
trait ReadQuietly {
    fn read_to_end_quietly(self) -> std::io::Result<usize>;
}

impl ReadQuietly for &SslFile {
    fn read_to_end_quietly(mut self) -> std::io::Result<usize> {
        let mut sink = Vec::new();
        std::io::Read::read_to_end(&mut self, &mut sink)
    }
}

// ----- loading ---------------------------------------------------------------------------

/// A server context from `build`, a client trusting `pki`: the handshake works and the
/// client sees `id`'s leaf.
fn assert_serves(ctx: Result<Context, sslfile::Error>, pki: &TestPki, id: &Identity) {
    let ctx = ctx.expect("context");
    let client = Context::builder()
        .trust_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let (leaf, _) = served(&ctx, &client, "localhost", Transport::SocketPair);
    assert_eq!(leaf, id.cert_der.to_vec());
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn chains_load_from_pem_bytes_pem_files_one_combined_file_and_der() {
    let pki = TestPki::new();
    let dir = tempdir();
    let id = pki.leaf(&["localhost"]);
    let files = id.write_to(dir.path(), "leaf");
    assert_serves(
        Context::builder()
            .certificate_chain_pem(id.chain_pem.as_bytes(), id.key_pem.as_bytes())
            .and_then(|b| b.build()),
        &pki,
        &id,
    );
    assert_serves(
        Context::builder()
            .certificate_chain_pem_files(&files.cert, &files.key)
            .and_then(|b| b.build()),
        &pki,
        &id,
    );
    let combined = dir.path().join("combined.pem");
    fs::write(&combined, format!("{}{}", id.key_pem, id.chain_pem)).unwrap();
    assert_serves(
        Context::builder()
            .certificate_chain_pem_files(&combined, &combined)
            .and_then(|b| b.build()),
        &pki,
        &id,
    );
    assert_serves(
        Context::builder()
            .certificate_chain_der(id.chain_der.clone(), id.key_der.clone_key())
            .and_then(|b| b.build()),
        &pki,
        &id,
    );
}

/// Keys in the three encodings users have: PKCS#8 ("PRIVATE KEY"), PKCS#1 ("RSA PRIVATE
/// KEY") and SEC1 ("EC PRIVATE KEY"), the last two made by openssl from the first.
#[test]
fn pkcs8_pkcs1_and_sec1_keys_load() {
    let pki = TestPki::new();
    let dir = tempdir();
    let rsa = pki.leaf_rsa(&["localhost"]);
    let rsa_files = rsa.write_to(dir.path(), "rsa");
    let pkcs1 = dir.path().join("rsa.pkcs1");
    openssl(&[
        "rsa",
        "-in",
        path(&rsa_files.key),
        "-traditional",
        "-out",
        path(&pkcs1),
    ]);
    assert!(fs::read_to_string(&pkcs1)
        .unwrap()
        .contains("BEGIN RSA PRIVATE KEY"));
    assert_serves(
        Context::builder()
            .certificate_chain_pem_files(&rsa_files.cert, &pkcs1)
            .and_then(|b| b.build()),
        &pki,
        &rsa,
    );
    let ec = pki.leaf(&["localhost"]);
    let ec_files = ec.write_to(dir.path(), "ec");
    let sec1 = dir.path().join("ec.sec1");
    openssl(&["ec", "-in", path(&ec_files.key), "-out", path(&sec1)]);
    assert!(fs::read_to_string(&sec1)
        .unwrap()
        .contains("BEGIN EC PRIVATE KEY"));
    assert_serves(
        Context::builder()
            .certificate_chain_pem_files(&ec_files.cert, &sec1)
            .and_then(|b| b.build()),
        &pki,
        &ec,
    );
}

/// Each kind of bad input gives its own message, naming the file at fault.
#[test]
fn each_bad_input_file_gives_its_specific_message() {
    let pki = TestPki::new();
    let dir = tempdir();
    let good = pki.leaf(&["localhost"]).write_to(dir.path(), "good");
    let other = pki.leaf(&["other.test"]).write_to(dir.path(), "other");
    let expired = pki
        .expired_leaf(&["old.test"])
        .write_to(dir.path(), "expired");
    let empty = dir.path().join("empty.pem");
    fs::write(&empty, "").unwrap();
    let garbage = dir.path().join("garbage.pem");
    fs::write(&garbage, "this is not a certificate\n").unwrap();
    let der = dir.path().join("cert.der");
    fs::write(&der, pki.leaf(&["localhost"]).cert_der.as_ref()).unwrap();
    let encrypted = dir.path().join("encrypted.key");
    openssl(&[
        "pkcs8",
        "-topk8",
        "-in",
        path(&good.key),
        "-out",
        path(&encrypted),
        "-v2",
        "aes-256-cbc",
        "-passout",
        "pass:secret",
    ]);
    let rsa = pki.leaf_rsa(&["localhost"]).write_to(dir.path(), "rsa");
    let encrypted_legacy = dir.path().join("encrypted_legacy.key");
    openssl(&[
        "rsa",
        "-in",
        path(&rsa.key),
        "-traditional",
        "-aes256",
        "-out",
        path(&encrypted_legacy),
        "-passout",
        "pass:secret",
    ]);
    let missing = dir.path().join("missing.pem");

    let load = |cert: &Path, key: &Path| {
        Context::builder()
            .certificate_chain_pem_files(cert, key)
            .and_then(|b| b.build())
            .expect_err("bad input must be refused")
            .to_string()
    };
    let d = |p: &Path| p.display().to_string();
    let cases: Vec<(String, String)> = vec![
        (
            load(&good.cert, &other.key),
            format!(
                "the private key in {} does not belong to the certificate in {}",
                d(&other.key),
                d(&good.cert)
            ),
        ),
        (
            load(&expired.cert, &expired.key),
            format!("the certificate for old.test in {} expired on 2001-01-01", d(&expired.cert)),
        ),
        (
            load(&good.cert, &encrypted),
            format!("{} holds an encrypted private key", d(&encrypted)),
        ),
        (
            load(&rsa.cert, &encrypted_legacy),
            format!("{} holds an encrypted private key", d(&encrypted_legacy)),
        ),
        (load(&empty, &good.key), format!("{} is empty", d(&empty))),
        (load(&good.cert, &empty), format!("{} is empty", d(&empty))),
        (
            load(&good.key, &good.cert),
            format!("{} contains no certificate, only a private key (were the certificate and key files swapped?)", d(&good.key)),
        ),
        (
            load(&good.cert, &good.cert),
            format!("{} contains no private key, only a certificate", d(&good.cert)),
        ),
        (
            load(&garbage, &good.key),
            format!("{} contains no certificate", d(&garbage)),
        ),
        (load(&der, &good.key), format!("{} is DER (binary), not PEM", d(&der))),
        (load(&missing, &good.key), format!("cannot read {}", d(&missing))),
    ];
    for (message, expected) in cases {
        assert!(
            message.starts_with("invalid TLS configuration: "),
            "{message}"
        );
        assert!(
            message.contains(&expected),
            "expected {expected:?} in {message:?}"
        );
    }
}

#[test]
fn an_expired_certificate_is_served_only_when_allowed() {
    let pki = TestPki::new();
    let expired = pki.expired_leaf(&["localhost"]);
    let builder = || {
        Context::builder()
            .certificate_chain_pem(expired.chain_pem.as_bytes(), expired.key_pem.as_bytes())
            .unwrap()
    };
    let err = builder().build().unwrap_err().to_string();
    assert!(
        err.contains("the certificate for localhost in the certificate PEM expired on 2001-01-01"),
        "{err}"
    );
    assert!(err.contains("allow_expired_certificates"), "{err}");
    let ctx = builder().allow_expired_certificates(true).build().unwrap();
    // Served: the client refuses it, saying why.
    let client = Context::builder()
        .trust_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let done = exchange(&ctx, &client, Transport::SocketPair, |f| {
        f.connect("localhost")
    });
    let err = done
        .client
        .expect_err("the client refuses an expired certificate");
    assert!(
        err.to_string()
            .starts_with("the server's certificate for localhost expired on 2001-01-01"),
        "{err}"
    );
}

// ----- one context, both roles -------------------------------------------------------------

fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

/// One context holding a certificate, the CA and a client-certificate requirement serves
/// as server and client at the same time: each side authenticates the other with it.
#[test]
fn one_context_serves_both_roles_at_once() {
    assert_send_sync_clone::<Context>();
    let pki = TestPki::new();
    let id = pki.leaf(&["localhost"]);
    let ctx = Context::builder()
        .certificate_chain_pem(id.chain_pem.as_bytes(), id.key_pem.as_bytes())
        .unwrap()
        .trust_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .client_auth(ClientAuth::Required)
        .build()
        .unwrap();
    let shared = ctx.clone(); // a clone is the same context
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let ctx = shared.clone();
            std::thread::spawn(move || {
                let done = exchange(&ctx, &ctx, Transport::SocketPair, |f| {
                    f.connect("localhost")
                });
                let server = done.server.expect("server");
                let client = done.client.expect("client");
                assert_eq!(done.client_read.unwrap(), b"hello");
                (
                    server.peer_certificates().unwrap()[0].to_vec(),
                    client.peer_certificates().unwrap()[0].to_vec(),
                )
            })
        })
        .collect();
    for t in threads {
        let (client_leaf_seen_by_server, server_leaf_seen_by_client) = t.join().unwrap();
        assert_eq!(client_leaf_seen_by_server, id.cert_der.to_vec());
        assert_eq!(server_leaf_seen_by_client, id.cert_der.to_vec());
    }
}

#[test]
fn the_tls_version_range_of_the_context_is_negotiated() {
    let pki = TestPki::new();
    let id = pki.leaf(&["localhost"]);
    let server = |min, max| {
        Context::builder()
            .certificate_chain_pem(id.chain_pem.as_bytes(), id.key_pem.as_bytes())
            .unwrap()
            .versions(min, max)
            .unwrap()
            .build()
            .unwrap()
    };
    let client = |min, max| {
        Context::builder()
            .trust_pem(pki.ca_pem.as_bytes())
            .unwrap()
            .versions(min, max)
            .unwrap()
            .build()
            .unwrap()
    };
    use TlsVersion::{Tls1_2, Tls1_3};
    for ((smin, smax), (cmin, cmax), expected) in [
        ((Tls1_2, Tls1_3), (Tls1_2, Tls1_3), Tls1_3),
        ((Tls1_2, Tls1_2), (Tls1_2, Tls1_3), Tls1_2),
        ((Tls1_2, Tls1_3), (Tls1_2, Tls1_2), Tls1_2),
        ((Tls1_3, Tls1_3), (Tls1_3, Tls1_3), Tls1_3),
    ] {
        let done = exchange(
            &server(smin, smax),
            &client(cmin, cmax),
            Transport::Tcp,
            |f| f.connect("localhost"),
        );
        let client = done.client.unwrap();
        assert_eq!(client.protocol_version(), Some(expected));
        assert_eq!(done.server.unwrap().protocol_version(), Some(expected));
    }
    let done = exchange(
        &server(Tls1_3, Tls1_3),
        &client(Tls1_2, Tls1_2),
        Transport::Tcp,
        |f| f.connect("localhost"),
    );
    let server_err = done.server.err().unwrap().to_string();
    assert!(
        server_err.contains("no TLS protocol version in common"),
        "{server_err}"
    );
    let client_err = done.client.err().unwrap().to_string();
    assert!(client_err.contains("protocol_version"), "{client_err}");
}
