//! Loading certificates, keys and trust anchors, with errors that name the input at fault
//! and say what is wrong with it: "key.pem does not belong to the certificate in
//! cert.pem", not "KeyMismatch".
//!
//! `what` is how an error names the input: a file's path, or "the certificate PEM" for bytes.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::sign::CertifiedKey;

use crate::error::Error;

/// Reads a whole file; the error names it.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| config(format!("cannot read {}: {e}", path.display())))
}

/// The certificates of a PEM input, in order.
pub(crate) fn certificates(
    input: &[u8],
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    reject_empty_or_der(input, what, "certificate")?;
    let certs = CertificateDer::pem_slice_iter(input)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| config(format!("{what} is not valid PEM: {e}")))?;
    if certs.is_empty() {
        let has_key = holds(input, is_key) || contains(input, b"BEGIN ENCRYPTED PRIVATE KEY");
        return Err(config(if has_key {
            format!(
                "{what} contains no certificate, only a private key \
                 (were the certificate and key files swapped?)"
            )
        } else {
            format!("{what} contains no certificate (no \"BEGIN CERTIFICATE\" section)")
        }));
    }
    Ok(certs)
}

/// The private key of a PEM input: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
pub(crate) fn private_key(input: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, Error> {
    reject_empty_or_der(input, what, "private key")?;
    if contains(input, b"BEGIN ENCRYPTED PRIVATE KEY") || contains(input, b"Proc-Type: 4,ENCRYPTED")
    {
        return Err(config(format!(
            "{what} holds an encrypted private key: decrypt it first \
             (openssl pkey -in KEY -out PLAIN_KEY)"
        )));
    }
    PrivateKeyDer::from_pem_slice(input).map_err(|e| match e {
        pem::Error::NoItemsFound if holds(input, |kind| kind == SectionKind::Certificate) => {
            config(format!(
                "{what} contains no private key, only a certificate \
                 (were the certificate and key files swapped?)"
            ))
        }
        pem::Error::NoItemsFound => config(format!(
            "{what} contains no private key (no \"BEGIN PRIVATE KEY\", \
             \"BEGIN RSA PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\" section)"
        )),
        other => config(format!("{what} is not a valid private key: {other}")),
    })
}

/// Pairs a chain with its key, checking that the key can sign and belongs to the leaf.
pub(crate) fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    chain_what: &str,
    key_what: &str,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, Error> {
    if chain.is_empty() {
        return Err(config(format!(
            "{chain_what} is an empty certificate chain"
        )));
    }
    if webpki::EndEntityCert::try_from(&chain[0]).is_err() {
        return Err(config(format!(
            "the first certificate in {chain_what} cannot be parsed as X.509"
        )));
    }
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| config(format!("the private key in {key_what} cannot be used: {e}")))?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(config(format!(
                "the private key in {key_what} does not belong to the certificate in {chain_what}"
            )))
        }
        // `Unknown`: the key cannot tell its public half; the handshake will tell.
        _ => Ok(Arc::new(certified)),
    }
}

/// Refuses a chain with an expired certificate, naming the input, the certificate and the
/// day it expired.
pub(crate) fn check_not_expired(
    chain: &[CertificateDer<'_>],
    what: &str,
    now: UnixTime,
) -> Result<(), Error> {
    for (index, cert) in chain.iter().enumerate() {
        let Ok(parsed) = webpki::EndEntityCert::try_from(cert) else {
            continue;
        };
        // webpki checks the validity period before anything that needs a trust anchor, so
        // an empty anchor list is enough to learn whether the certificate has expired.
        let result = parsed.verify_for_usage(
            &[],
            &[],
            &[],
            now,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        );
        if let Err(webpki::Error::CertExpired { not_after, .. }) = result {
            let which = if index == 0 {
                match dns_names(cert).first() {
                    Some(name) => format!("the certificate for {name}"),
                    None => "the certificate".to_string(),
                }
            } else {
                format!("certificate {} of the chain (an issuer)", index + 1)
            };
            return Err(config(format!(
                "{which} in {what} expired on {}: renew it, or call \
                 ContextBuilder::allow_expired_certificates(true) to serve it anyway",
                utc_date(not_after.as_secs())
            )));
        }
    }
    Ok(())
}

/// The DNS names a certificate covers, lower-cased (wildcards kept as `*.example.com`).
pub(crate) fn dns_names(cert: &CertificateDer<'_>) -> Vec<String> {
    match webpki::EndEntityCert::try_from(cert) {
        Ok(parsed) => parsed
            .valid_dns_names()
            .map(|name| name.to_ascii_lowercase())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Every certificate in the PEM files of a directory (`/etc/ssl/certs` style: `*.pem`,
/// `*.crt`, hash links `*.0`; any regular file is read). Files without certificates are
/// skipped; a directory without any certificate is an error.
pub(crate) fn directory_certificates(dir: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| config(format!("cannot read the directory {}: {e}", dir.display())))?;
    let mut paths: Vec<_> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    let mut certs = Vec::new();
    for path in paths {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        for cert in CertificateDer::pem_slice_iter(&bytes).flatten() {
            if !certs.contains(&cert) {
                certs.push(cert);
            }
        }
    }
    if certs.is_empty() {
        return Err(config(format!(
            "{} holds no PEM certificate",
            dir.display()
        )));
    }
    Ok(certs)
}

fn config(message: String) -> Error {
    Error::Config(message)
}

/// Empty input, or DER where PEM was expected, each with its own message.
fn reject_empty_or_der(input: &[u8], what: &str, thing: &str) -> Result<(), Error> {
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(config(format!("{what} is empty: expected a PEM {thing}")));
    }
    if input.first() == Some(&0x30) {
        return Err(config(format!(
            "{what} is DER (binary), not PEM: load it with certificate_chain_der / \
             trust_der, or convert it (openssl x509 -inform der / openssl pkey -inform der)"
        )));
    }
    Ok(())
}

/// True if a PEM section of a kind `wanted` accepts is in `input`.
fn holds(input: &[u8], wanted: impl Fn(SectionKind) -> bool) -> bool {
    <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(input)
        .flatten()
        .any(|(kind, _)| wanted(kind))
}

fn is_key(kind: SectionKind) -> bool {
    matches!(
        kind,
        SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey
    )
}

/// True if `needle` occurs in `input`. For the encrypted key forms, which the PEM parser
/// does not know: PKCS#8 "ENCRYPTED PRIVATE KEY", and OpenSSL's traditional
/// "Proc-Type: 4,ENCRYPTED" header inside an RSA or EC key.
fn contains(input: &[u8], needle: &[u8]) -> bool {
    input.windows(needle.len()).any(|w| w == needle)
}

/// `YYYY-MM-DD` (UTC) for seconds since the Unix epoch.
pub(crate) fn utc_date(secs: u64) -> String {
    // Days to a civil date: H. Hinnant's algorithm (proleptic Gregorian calendar).
    let days = (secs / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(978_307_200), "2001-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(4_102_444_799), "2099-12-31");
    }

    #[test]
    fn each_bad_input_has_its_own_message() {
        let err = certificates(b"  \n", "c.pem").unwrap_err().to_string();
        assert!(err.contains("c.pem is empty"), "{err}");
        let err = certificates(&[0x30, 0x82, 1, 0], "c.der").unwrap_err();
        assert!(err.to_string().contains("c.der is DER"), "{err}");
        let err = private_key(
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
            "k.pem",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("k.pem holds an encrypted private key"),
            "{err}"
        );
        let legacy = b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        let err = private_key(legacy, "k.pem").unwrap_err();
        assert!(err.to_string().contains("encrypted private key"), "{err}");
        let err = private_key(b"hello\n", "k.pem").unwrap_err();
        assert!(
            err.to_string().contains("k.pem contains no private key"),
            "{err}"
        );
    }
}
