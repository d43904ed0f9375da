//! The `Context` loaders fed arbitrary bytes: certificate chains and keys (PEM and DER),
//! trust anchors, client CAs, CRLs and OCSP responses, then `build`.
//!
//! Input: a list of loads separated by the byte string `%%`; each load's first byte
//! chooses the loader (and, for a chain, `##` separates the chain from the key), so a
//! seed is easy to write by hand from real PEM files. Checks: no panic; every refusal is
//! a sentence for a person (not empty, not a Debug dump of a library type).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sslfile::rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, PrivatePkcs1KeyDer,
    PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use sslfile::{Context, ContextBuilder, Error};

fn split<'a>(data: &'a [u8], separator: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let now = rest?;
        match now.windows(separator.len()).position(|w| w == separator) {
            Some(at) => {
                rest = Some(&now[at + separator.len()..]);
                Some(&now[..at])
            }
            None => {
                rest = None;
                Some(now)
            }
        }
    })
}

/// A refusal must read as a sentence.
fn check(error: &Error) {
    let text = error.to_string();
    assert!(!text.trim().is_empty(), "an empty error message");
    for dump in ["Some(", "Err(", "Other(", "OtherError", " { ", "Error {"] {
        assert!(
            !text.contains(dump),
            "a Debug dump in an error message: {text}"
        );
    }
}

fn load(builder: ContextBuilder, what: u8, bytes: &[u8]) -> Result<ContextBuilder, Error> {
    match what % 10 {
        0 => {
            let mut parts = split(bytes, b"##");
            let chain = parts.next().unwrap_or_default();
            let key = parts.next().unwrap_or_default();
            builder.certificate_chain_pem(chain, key)
        }
        1..=3 => {
            let mut parts: Vec<&[u8]> = split(bytes, b"##").collect();
            let key = parts.pop().unwrap_or_default().to_vec();
            let chain = parts
                .into_iter()
                .map(|c| CertificateDer::from(c.to_vec()))
                .collect();
            let key = match what % 10 {
                1 => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
                2 => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(key)),
                _ => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(key)),
            };
            builder.certificate_chain_der(chain, key)
        }
        4 => builder.trust_pem(bytes),
        5 => builder.trust_der(CertificateDer::from(bytes.to_vec())),
        6 => builder.client_ca_pem(bytes),
        7 => builder.trust_crl_pem(bytes),
        8 => builder.trust_crl_der(CertificateRevocationListDer::from(bytes.to_vec())),
        _ => builder.ocsp_response_der(bytes.to_vec()),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut builder = Context::builder();
    for part in split(data, b"%%").take(8) {
        let Some((&what, bytes)) = part.split_first() else {
            continue;
        };
        builder = match load(builder, what, bytes) {
            Ok(builder) => builder,
            Err(e) => {
                check(&e);
                return;
            }
        };
    }
    if let Err(e) = builder.build() {
        check(&e);
    }
});
