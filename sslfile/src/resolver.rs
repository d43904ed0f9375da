//! Which certificate chain to present: the server's by SNI ([`CertResolver`]), the client's
//! when a server asks for one ([`ClientCertResolver`]).
//!
//! Both choose among the context's chains in the order they were added; the first one is
//! the default. A chain is only chosen if its key can make a signature the peer accepts,
//! so a server with an RSA and an ECDSA chain for one name serves each client one it can
//! verify.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::client::ResolvesClientCert;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;

use crate::context::{CertificateChooser, ClientHelloInfo};

/// The context's certificate chains.
#[derive(Debug, Default)]
pub(crate) struct CertResolver {
    /// Every chain, in the order added; the first is the default.
    pub(crate) all: Vec<Arc<CertifiedKey>>,
    /// Chains by the DNS names (lower case, wildcards as `*.example.com`) they cover.
    pub(crate) by_name: HashMap<String, Vec<Arc<CertifiedKey>>>,
    /// The application's own choice, asked first
    /// ([`certificate_resolver`](crate::ContextBuilder::certificate_resolver)).
    pub(crate) choose: Option<CertificateChooser>,
}

impl CertResolver {
    /// Adds a chain covering `names`.
    pub(crate) fn add(&mut self, chain: Arc<CertifiedKey>, names: Vec<String>) {
        for name in names {
            self.by_name.entry(name).or_default().push(chain.clone());
        }
        self.all.push(chain);
    }

    /// True if a server with these chains can present a certificate at all.
    pub(crate) fn serves(&self) -> bool {
        !self.all.is_empty() || self.choose.is_some()
    }

    /// The default chain: the first one added.
    pub(crate) fn default_chain(&self) -> Option<&Arc<CertifiedKey>> {
        self.all.first()
    }

    /// The chains for a server name: exact match first, then a wildcard for its parent.
    fn for_name(&self, name: &str) -> Option<&[Arc<CertifiedKey>]> {
        let name = name.to_ascii_lowercase();
        if let Some(chains) = self.by_name.get(&name) {
            return Some(chains);
        }
        let (_, parent) = name.split_once('.')?;
        self.by_name.get(&format!("*.{parent}")).map(Vec::as_slice)
    }
}

/// The first of `chains` whose key can sign with one of `schemes`.
fn first_usable<'a>(
    chains: impl IntoIterator<Item = &'a Arc<CertifiedKey>>,
    schemes: &[SignatureScheme],
) -> Option<&'a Arc<CertifiedKey>> {
    chains
        .into_iter()
        .find(|chain| chain.key.choose_scheme(schemes).is_some())
}

/// Server side: the chain for the client's SNI, else the default.
///
/// The default serves clients that send no SNI (connecting by IP address) and names no
/// chain covers: Pike 8.0 fails those handshakes, we serve them.
impl ResolvesServerCert for CertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(choose) = &self.choose {
            if let Some(chain) = (choose.0)(&ClientHelloInfo::from_hello(&hello)) {
                return Some(chain.key);
            }
        }
        let schemes = hello.signature_schemes();
        let named = hello.server_name().and_then(|name| self.for_name(name));
        if let Some(chains) = named {
            // A name we serve: one of its chains, even if the client cannot verify it
            // (the handshake then fails, saying so), rather than a chain for another name.
            return first_usable(chains, schemes).or(chains.first()).cloned();
        }
        self.default_chain().cloned()
    }
}

/// Client side: the context's chains, presented when a server asks for a certificate.
///
/// As Pike's client (and Go's) does: if the server names the authorities it accepts, the
/// first chain issued by one of them is presented, and none if no chain is (a server that
/// only *asks* then accepts the client without one, where a certificate it does not trust
/// would fail the handshake). If it names none, the default chain is presented.
#[derive(Debug)]
pub(crate) struct ClientCertResolver {
    pub(crate) chains: Arc<CertResolver>,
}

impl ResolvesClientCert for ClientCertResolver {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        if root_hint_subjects.is_empty() {
            return first_usable(self.chains.default_chain(), sigschemes).cloned();
        }
        let hinted = self
            .chains
            .all
            .iter()
            .filter(|chain| issued_by_one_of(chain, root_hint_subjects));
        first_usable(hinted, sigschemes).cloned()
    }

    fn has_certs(&self) -> bool {
        !self.chains.all.is_empty()
    }
}

/// True if a certificate of `chain` was issued by (or is) one of the named authorities.
/// The names are DER `Name`s (RFC 5280), with their outer SEQUENCE.
fn issued_by_one_of(chain: &CertifiedKey, names: &[&[u8]]) -> bool {
    chain.cert.iter().any(|cert| {
        let Ok(parsed) = webpki::EndEntityCert::try_from(cert) else {
            return false;
        };
        let (issuer, subject) = (parsed.issuer(), parsed.subject());
        names.iter().any(|name| {
            let inner = der_sequence_contents(name).unwrap_or(name);
            inner == issuer || inner == subject
        })
    })
}

/// The contents of a DER SEQUENCE (tag and length removed); `None` if it is not one.
fn der_sequence_contents(der: &[u8]) -> Option<&[u8]> {
    match crate::der::element(der)? {
        (0x30, contents, []) => Some(contents),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_contents_short_and_long_form() {
        assert_eq!(der_sequence_contents(&[0x30, 2, 1, 2]), Some(&[1u8, 2][..]));
        let mut long = vec![0x30, 0x81, 200];
        long.extend([7u8; 200]);
        assert_eq!(der_sequence_contents(&long).map(<[u8]>::len), Some(200));
        assert_eq!(der_sequence_contents(&[0x31, 1, 0]), None);
        assert_eq!(der_sequence_contents(&[0x30, 5, 0]), None);
    }
}
