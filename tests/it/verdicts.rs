//! Every refusal of a certificate we can provoke over a real connection reads as a sentence
//! (SPEC §10): whose certificate (the server's for a host, or the client's by subject), what
//! is wrong and, where there is one, the fix, and never a Debug dump of a rustls or webpki
//! value.
//!
//! Before, a CA certificate used as a server's read "certificate for localhost was rejected:
//! Other(OtherError(CaUsedAsEndEntity))", a chain too long for its CA "...:
//! Other(OtherError(PathLenConstraintViolated))", and an unknown issuer did not name the
//! issuer. (Revocation is not tested: contexts take no revocation lists.)

use crate::common;

use std::net::TcpListener;
use std::process::Command;

use common::openssl::{SClient, SClientOpts};
use common::pair::{exchange, Transport};
use common::{accept_timeout, tempdir, TIMEOUT};
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, KeyPair, KeyUsagePurpose, NameConstraints,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sslfile::{ClientAuth, Context, File, SslFile};

/// A certificate made for one verdict, with its key.
struct Made {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Made {
    fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivatePkcs8KeyDer::from(self.key.serialize_der()).into()
    }
}

/// A certificate named `cn` (and `sans`), signed by `issuer` (self-signed without one):
/// by default a leaf for TLS servers and clients valid from 2020 to 2100, as `edit` changes
/// it.
fn make(
    cn: &str,
    sans: &[&str],
    issuer: Option<&Made>,
    edit: impl FnOnce(&mut CertificateParams),
) -> Made {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2100, 1, 1);
    edit(&mut params);
    let cert = match issuer {
        Some(issuer) => params.signed_by(&key, &issuer.cert, &issuer.key),
        None => params.self_signed(&key),
    }
    .unwrap();
    Made { cert, key }
}

/// Makes `params` a CA's.
fn as_ca(params: &mut CertificateParams, constraints: BasicConstraints) {
    params.is_ca = IsCa::Ca(constraints);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.extended_key_usages = Vec::new();
}

/// A self-signed CA named `cn`.
fn ca(cn: &str) -> Made {
    make(cn, &[], None, |p| as_ca(p, BasicConstraints::Unconstrained))
}

/// A leaf for localhost issued by `issuer`, as `edit` changes it.
fn leaf(issuer: &Made, edit: impl FnOnce(&mut CertificateParams)) -> Made {
    make("localhost", &["localhost"], Some(issuer), edit)
}

/// A server presenting `chain` (leaf first).
fn serving(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Context {
    Context::builder()
        .certificate_chain_der(chain, key)
        .unwrap()
        .allow_expired_certificates(true)
        .build()
        .unwrap()
}

/// What our client trusting `anchor` says of a server presenting `chain` (leaf first, its
/// key `key`) when it connects to localhost.
fn client_says(
    anchor: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> String {
    let client = Context::builder()
        .trust_der(anchor)
        .unwrap()
        .build()
        .unwrap();
    let done = exchange(&serving(chain, key), &client, Transport::SocketPair, |f| {
        f.connect("localhost")
    });
    match done.client {
        Ok(_) => panic!("the client accepted the server"),
        Err(e) => e.to_string(),
    }
}

/// What our server requiring client certificates issued by `anchor` says of a client
/// presenting `client` (issued by `issuer`, sent along).
fn server_says(anchor: &Made, client: &Made, issuer: Option<&Made>) -> String {
    let server_ca = ca("verdict server CA");
    let server_leaf = leaf(&server_ca, |_| {});
    let server = Context::builder()
        .certificate_chain_der(vec![server_leaf.der()], server_leaf.key_der())
        .unwrap()
        .client_auth(ClientAuth::Required)
        .client_ca_der(anchor.der())
        .unwrap()
        .build()
        .unwrap();
    let mut chain = vec![client.der()];
    chain.extend(issuer.map(Made::der));
    let client = Context::builder()
        .trust_der(server_ca.der())
        .unwrap()
        .certificate_chain_der(chain, client.key_der())
        .unwrap()
        .allow_expired_certificates(true)
        .build()
        .unwrap();
    let done = exchange(&server, &client, Transport::SocketPair, |f| {
        f.connect("localhost")
    });
    match done.server {
        Ok(_) => panic!("the server accepted the client"),
        Err(e) => e.to_string(),
    }
}

/// What our server requiring client certificates issued by `anchor` says of `openssl
/// s_client` presenting `client` (our client would not present a certificate the server's
/// CA list does not cover).
fn server_says_to_s_client(anchor: &Made, client: &Made) -> String {
    let server_ca = ca("verdict server CA");
    let server_leaf = leaf(&server_ca, |_| {});
    let server = Context::builder()
        .certificate_chain_der(vec![server_leaf.der()], server_leaf.key_der())
        .unwrap()
        .client_auth(ClientAuth::Required)
        .client_ca_der(anchor.der())
        .unwrap()
        .build()
        .unwrap();
    let dir = tempdir();
    let files = common::certs::IdentityFiles {
        cert: dir.path().join("client.crt"),
        key: dir.path().join("client.key"),
    };
    std::fs::write(&files.cert, client.cert.pem()).unwrap();
    std::fs::write(&files.key, client.key.serialize_pem()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut opts = SClientOpts::new(listener.local_addr().unwrap().port());
    opts.client_identity = Some(files);
    let mut s_client = SClient::spawn(opts);
    let sock = accept_timeout(&listener, TIMEOUT).expect("s_client connects");
    let tls = SslFile::new(File::try_from(sock).unwrap(), &server);
    tls.set_blocking();
    tls.set_timeout(Some(TIMEOUT));
    let message = tls.accept().expect_err("the server refuses").to_string();
    s_client.kill();
    message
}

/// Checks that `message` is a sentence that names the certificate (`whose`) and the problem
/// (`problem`), with no Debug form of a library value in it; prints it for the record.
fn assert_sentence(case: &str, message: &str, whose: &str, problem: &str) {
    eprintln!("{case}: {message}");
    assert!(message.starts_with("the "), "{case}: {message}");
    assert!(message.contains(whose), "{case}: no {whose:?} in {message}");
    assert!(
        message.contains(problem),
        "{case}: no {problem:?} in {message}"
    );
    for debug in [
        "{",
        "}",
        "[",
        "]",
        "Other(",
        "OtherError",
        "CertificateError",
        "InvalidCertificate",
        "Some(",
        "None",
        "webpki",
        "\n",
    ] {
        assert!(!message.contains(debug), "{case}: {debug:?} in {message}");
    }
    // No CamelCase identifier (an enum variant's name) but the API the fix names and the
    // purposes' names in RFC 5280.
    for word in message.split(|c: char| !c.is_ascii_alphanumeric()) {
        let camel = word
            .as_bytes()
            .windows(2)
            .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase());
        assert!(
            !camel || ["ContextBuilder", "serverAuth", "clientAuth"].contains(&word),
            "{case}: {word:?} in {message}"
        );
    }
}

const SERVERS: &str = "the server's certificate for localhost";

#[test]
fn an_expired_or_early_server_certificate_says_its_date() {
    let ca = ca("verdict CA dates");
    let expired = leaf(&ca, |p| {
        p.not_before = date_time_ymd(2000, 1, 1);
        p.not_after = date_time_ymd(2001, 1, 1);
    });
    let message = client_says(ca.der(), vec![expired.der()], expired.key_der());
    assert_sentence(
        "expired",
        &message,
        SERVERS,
        "expired on 2001-01-01 (it is now ",
    );
    assert!(
        message.ends_with("): the server must renew it"),
        "{message}"
    );

    let early = leaf(&ca, |p| {
        p.not_before = date_time_ymd(2090, 1, 1);
        p.not_after = date_time_ymd(2100, 1, 1);
    });
    let message = client_says(ca.der(), vec![early.der()], early.key_der());
    assert_sentence(
        "not yet valid",
        &message,
        SERVERS,
        "is not valid before 2090-01-01 (it is now ",
    );
    assert!(
        message.ends_with("check the clocks of this machine and of the server"),
        "{message}"
    );
}

#[test]
fn a_wrong_name_says_which_names_the_certificate_has() {
    let ca = ca("verdict CA names");
    let other = make(
        "other.test",
        &["other.test", "127.0.0.2"],
        Some(&ca),
        |_| {},
    );
    let message = client_says(ca.der(), vec![other.der()], other.key_der());
    assert_sentence(
        "wrong name",
        &message,
        "the server's certificate",
        "is not valid for localhost: it names other.test, 127.0.0.2; connect with a name it \
         names, or give the server a certificate for localhost",
    );
}

#[test]
fn an_untrusted_issuer_is_named() {
    let trusted = ca("verdict CA trusted");
    let other = ca("verdict CA other");
    let stranger = leaf(&other, |_| {});
    let message = client_says(trusted.der(), vec![stranger.der()], stranger.key_der());
    assert_sentence(
        "unknown issuer",
        &message,
        SERVERS,
        "is not signed by a trusted authority: it was issued by CN=verdict CA other; trust \
         that CA (ContextBuilder::trust_pem, or --cafile) if it is yours, or have the server \
         send the intermediate certificates that lead to a trusted one",
    );

    let self_signed = make("localhost", &["localhost"], None, |_| {});
    let message = client_says(
        trusted.der(),
        vec![self_signed.der()],
        self_signed.key_der(),
    );
    assert_sentence(
        "self-signed",
        &message,
        SERVERS,
        "is not signed by a trusted authority: it is self-signed; if it is the one the server \
         should have, trust exactly this certificate (ContextBuilder::trust_pem, or --cafile)",
    );
}

#[test]
fn a_ca_certificate_as_the_servers_own_says_how_to_accept_it() {
    let ca = ca("verdict CA ca-leaf");
    let ca_leaf = leaf(&ca, |p| p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained));
    let message = client_says(ca.der(), vec![ca_leaf.der()], ca_leaf.key_der());
    assert_sentence(
        "CA used as end entity",
        &message,
        SERVERS,
        "is a CA certificate (CA:TRUE), not the server's own: to accept it, trust exactly this \
         certificate",
    );
}

/// Two CAs with one name: the certificate one of them issued does not verify with the
/// other's key.
#[test]
fn a_forged_signature_is_named_as_such() {
    let trusted = ca("verdict CA same name");
    let impostor = ca("verdict CA same name");
    let forged = leaf(&impostor, |_| {});
    let message = client_says(trusted.der(), vec![forged.der()], forged.key_der());
    assert_sentence(
        "bad signature",
        &message,
        SERVERS,
        "has a signature that does not verify with the key of CN=verdict CA same name, the CA \
         it names as its issuer: it is forged or corrupted, or two CAs share that name",
    );
}

#[test]
fn a_certificate_for_the_other_role_says_what_it_is_for() {
    let ca = ca("verdict CA purposes");
    let client_only = leaf(&ca, |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth]
    });
    let message = client_says(ca.der(), vec![client_only.der()], client_only.key_der());
    assert_sentence(
        "server certificate for clients only",
        &message,
        SERVERS,
        "is not meant for TLS servers (serverAuth): its extended key usage allows only TLS \
         clients (clientAuth); the server needs a certificate issued for TLS servers \
         (serverAuth)",
    );

    let server_only = make("client.test", &["client.test"], Some(&ca), |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth]
    });
    let message = server_says(&ca, &server_only, None);
    assert_sentence(
        "client certificate for servers only",
        &message,
        "the client's certificate (CN=client.test)",
        "is not meant for TLS clients (clientAuth): its extended key usage allows only TLS \
         servers (serverAuth); the client needs a certificate issued for TLS clients \
         (clientAuth)",
    );
}

#[test]
fn chain_constraints_are_explained() {
    // (webpki does not apply an anchor's own constraints: the limit is on an intermediate.)
    let root = ca("verdict root");
    let limited = make("verdict intermediate pathlen 0", &[], Some(&root), |p| {
        as_ca(p, BasicConstraints::Constrained(0))
    });
    let below = make("verdict intermediate below", &[], Some(&limited), |p| {
        as_ca(p, BasicConstraints::Unconstrained)
    });
    let deep = leaf(&below, |_| {});
    let message = client_says(
        root.der(),
        vec![deep.der(), below.der(), limited.der()],
        deep.key_der(),
    );
    assert_sentence(
        "path length",
        &message,
        SERVERS,
        "has more intermediate CAs above it than one of its CAs allows (path length \
         constraint)",
    );

    let constrained = make("verdict root example.com only", &[], None, |p| {
        as_ca(p, BasicConstraints::Unconstrained);
        p.name_constraints = Some(NameConstraints {
            permitted_subtrees: vec![GeneralSubtree::DnsName("example.com".into())],
            excluded_subtrees: Vec::new(),
        });
    });
    let outside = leaf(&constrained, |_| {});
    let message = client_says(constrained.der(), vec![outside.der()], outside.key_der());
    assert_sentence(
        "name constraints",
        &message,
        SERVERS,
        "names a host its CA may not certify (name constraints)",
    );

    let root = ca("verdict root of a leaf that signs");
    let signing_leaf = make("verdict signing leaf", &[], Some(&root), |_| {});
    let below = leaf(&signing_leaf, |_| {});
    let message = client_says(
        root.der(),
        vec![below.der(), signing_leaf.der()],
        below.key_der(),
    );
    assert_sentence(
        "end entity used as CA",
        &message,
        SERVERS,
        "was issued by a certificate that is not a CA (CA:FALSE): the server must send a \
         chain of CA certificates",
    );
}

/// A certificate signed with SHA-1, which webpki does not accept (made by `openssl req`:
/// rcgen does not sign with SHA-1), trusted exactly.
#[test]
fn an_unsupported_signature_algorithm_is_named() {
    let dir = tempdir();
    let (cert, key) = (dir.path().join("sha1.crt"), dir.path().join("sha1.key"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-sha1", "-newkey", "ec", "-nodes", "-days", "30",
        ])
        .args(["-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let cert = CertificateDer::from_pem_file(&cert).unwrap();
    let key = PrivateKeyDer::from_pem_file(&key).unwrap();
    let message = client_says(cert.clone(), vec![cert], key);
    assert_sentence(
        "SHA-1 signature",
        &message,
        SERVERS,
        "with a signature algorithm we do not accept (such as SHA-1): it must be signed with \
         SHA-256 or better",
    );
}

#[test]
fn a_refused_client_certificate_is_named_by_its_subject() {
    let trusted = ca("verdict client CA");
    let other = ca("verdict other client CA");
    let stranger = make("client.test", &["client.test"], Some(&other), |_| {});
    let message = server_says_to_s_client(&trusted, &stranger);
    assert_sentence(
        "client: unknown issuer",
        &message,
        "the client's certificate (CN=client.test)",
        "is not signed by a trusted authority: it was issued by CN=verdict other client CA; \
         trust that CA (ContextBuilder::client_ca_pem, or --client-ca) if it is yours",
    );

    let expired = make("old.test", &["old.test"], Some(&trusted), |p| {
        p.not_before = date_time_ymd(2000, 1, 1);
        p.not_after = date_time_ymd(2001, 1, 1);
    });
    let message = server_says(&trusted, &expired, None);
    assert_sentence(
        "client: expired",
        &message,
        "the client's certificate (CN=old.test)",
        "expired on 2001-01-01 (it is now ",
    );
    assert!(
        message.ends_with("): the client must renew it"),
        "{message}"
    );

    let ca_client = make("ca.client.test", &[], Some(&trusted), |p| {
        as_ca(p, BasicConstraints::Unconstrained)
    });
    let message = server_says(&trusted, &ca_client, None);
    assert_sentence(
        "client: CA used as end entity",
        &message,
        "the client's certificate (CN=ca.client.test)",
        "is a CA certificate (CA:TRUE), not the client's own: to accept it, trust exactly this \
         certificate (ContextBuilder::client_ca_pem, or --client-ca); or give the client a \
         certificate with CA:FALSE",
    );
}
