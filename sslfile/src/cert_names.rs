//! Who a certificate says it is, and who issued it, as text for error messages:
//! `CN=sslfile test CA 3, O=Example` (the attributes in the order the certificate lists
//! them, as OpenSSL prints them).
//!
//! webpki parses the certificate and hands over its subject and issuer as DER; this module
//! only reads the few common attributes of those names (CN, O, OU, C, ST, L). What it does
//! not understand it leaves out; control characters become `?`, so that a hostile name
//! cannot break a message's line.

use rustls::pki_types::CertificateDer;

use crate::der::element;

/// The names of a certificate, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertNames {
    /// The subject, e.g. `CN=localhost`; empty if it has none we can read.
    pub(crate) subject: String,
    /// The issuer, e.g. `CN=sslfile test CA 3`; empty if it has none we can read.
    pub(crate) issuer: String,
    /// Subject and issuer are the same name (the certificate is self-issued, usually
    /// self-signed).
    pub(crate) self_issued: bool,
    /// It is a CA certificate of the peer's chain, not the peer's own (set by whoever
    /// knows; `of` cannot tell).
    pub(crate) ca_in_chain: bool,
}

impl CertNames {
    /// The names of `cert`, if webpki can parse it.
    pub(crate) fn of(cert: &CertificateDer<'_>) -> Option<CertNames> {
        let parsed = webpki::EndEntityCert::try_from(cert).ok()?;
        Some(CertNames {
            subject: name_text(parsed.subject()),
            issuer: name_text(parsed.issuer()),
            self_issued: parsed.subject() == parsed.issuer(),
            ca_in_chain: false,
        })
    }
}

/// The most characters of one attribute value shown.
const VALUE_LIMIT: usize = 80;

/// DER tags.
const SET: u8 = 0x31;
const SEQUENCE: u8 = 0x30;
const OID: u8 = 0x06;
const UTF8_STRING: u8 = 0x0c;
const PRINTABLE_STRING: u8 = 0x13;
const T61_STRING: u8 = 0x14;
const IA5_STRING: u8 = 0x16;
const BMP_STRING: u8 = 0x1e;

/// The attribute types shown, by the DER of their OID (2.5.4.x).
const ATTRIBUTES: [(&[u8], &str); 6] = [
    (&[0x55, 0x04, 0x03], "CN"),
    (&[0x55, 0x04, 0x0a], "O"),
    (&[0x55, 0x04, 0x0b], "OU"),
    (&[0x55, 0x04, 0x06], "C"),
    (&[0x55, 0x04, 0x08], "ST"),
    (&[0x55, 0x04, 0x07], "L"),
];

/// The text of a Name's contents (an RDNSequence without its outer tag and length).
fn name_text(mut rdns: &[u8]) -> String {
    let mut parts = Vec::new();
    while let Some((SET, mut set, rest)) = element(rdns) {
        rdns = rest;
        while let Some((SEQUENCE, pair, rest)) = element(set) {
            set = rest;
            if let Some(part) = attribute(pair) {
                parts.push(part);
            }
        }
    }
    parts.join(", ")
}

/// `TYPE=value` for one AttributeTypeAndValue, if its type is one we show.
fn attribute(pair: &[u8]) -> Option<String> {
    let (OID, oid, rest) = element(pair)? else {
        return None;
    };
    let (_, label) = ATTRIBUTES.iter().find(|(known, _)| *known == oid)?;
    let (tag, value, _) = element(rest)?;
    let text: String = match tag {
        UTF8_STRING | PRINTABLE_STRING | IA5_STRING => String::from_utf8_lossy(value).into(),
        T61_STRING => value.iter().map(|&b| char::from(b)).collect(),
        BMP_STRING => char::decode_utf16(
            value
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]])),
        )
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect(),
        _ => return None,
    };
    let shown: String = text
        .chars()
        .take(VALUE_LIMIT)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    Some(format!("{label}={shown}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_in_certificate_order_and_unknown_attributes_are_left_out() {
        let mut params = rcgen::CertificateParams::new(vec!["a.test".into()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Example Ltd");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "a.test\nforged line");
        params
            .distinguished_name
            .push(rcgen::DnType::CustomDnType(vec![2, 5, 4, 42]), "Given");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let names = CertNames::of(cert.der()).unwrap();
        assert_eq!(names.subject, "O=Example Ltd, CN=a.test?forged line");
        assert_eq!(names.issuer, names.subject);
        assert!(names.self_issued);
    }

    #[test]
    fn truncated_names_read_as_nothing() {
        assert_eq!(name_text(&[0x31, 0x03, 0x30]), "");
    }
}
