//! The peer's chain as verified: the path webpki built from the peer's certificate through
//! the intermediates to a trust anchor, as certificates.
//!
//! rustls's webpki verifiers build that path and drop it. [`ChainFinder`] builds it again
//! once the verifier has accepted the peer (same anchors, time, key usage and revocation
//! policy, so it finds a path the verifier accepts), and maps the anchor back to the
//! certificate it came from. That costs the signature checks of the path a second time,
//! once per full handshake.
//!
//! The bundled web roots are kept as a subject and a key, not as certificates: a chain that
//! ends at one of them ends at the last intermediate.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};
use rustls::RootCertStore;

use crate::context::Revocation;

/// Which key usage a peer's certificate is verified for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeerRole {
    /// A server's certificate (serverAuth).
    Server,
    /// A client's certificate (clientAuth).
    Client,
}

/// Rebuilds verified paths for one verifier.
pub(crate) struct ChainFinder {
    roots: Arc<RootCertStore>,
    /// The certificates of the anchors known as certificates, by (subject, public key).
    anchor_certificates: HashMap<(Vec<u8>, Vec<u8>), CertificateDer<'static>>,
    algorithms: &'static [&'static dyn SignatureVerificationAlgorithm],
    revocation: Arc<Revocation>,
    role: PeerRole,
}

impl std::fmt::Debug for ChainFinder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainFinder")
            .field("anchors", &self.roots.len())
            .field("role", &self.role)
            .finish()
    }
}

impl ChainFinder {
    /// A finder over `roots`, whose anchors made from `anchor_certificates` are given back
    /// as those certificates.
    pub(crate) fn new<'a>(
        roots: Arc<RootCertStore>,
        anchor_certificates: impl IntoIterator<Item = &'a CertificateDer<'static>>,
        provider: &CryptoProvider,
        revocation: Arc<Revocation>,
        role: PeerRole,
    ) -> ChainFinder {
        let anchor_certificates = anchor_certificates
            .into_iter()
            .filter_map(|cert| {
                let anchor = webpki::anchor_from_trusted_cert(cert).ok()?;
                let key = (
                    anchor.subject.as_ref().to_vec(),
                    anchor.subject_public_key_info.as_ref().to_vec(),
                );
                Some((key, cert.clone()))
            })
            .collect();
        ChainFinder {
            roots,
            anchor_certificates,
            algorithms: provider.signature_verification_algorithms.all,
            revocation,
            role,
        }
    }

    /// With whole-chain revocation checks, the CA certificate among `intermediates` that a
    /// CRL revokes, if `end_entity` is not revoked itself: the one a `Revoked` refusal is
    /// about then.
    pub(crate) fn revoked_ca(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Option<CertificateDer<'static>> {
        if !self.revocation.whole_chain() || self.revocation.lists(end_entity) {
            return None;
        }
        intermediates
            .iter()
            .find(|cert| self.revocation.lists(cert))
            .map(|cert| cert.clone().into_owned())
    }

    /// The path from `end_entity` to an anchor, end entity first; `None` if there is none
    /// (which a verifier that accepted `end_entity` does not leave).
    pub(crate) fn verified_chain(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Option<Vec<CertificateDer<'static>>> {
        let cert = webpki::EndEntityCert::try_from(end_entity).ok()?;
        let usage = match self.role {
            PeerRole::Server => webpki::KeyUsage::server_auth(),
            PeerRole::Client => webpki::KeyUsage::client_auth(),
        };
        self.revocation.with_options(|revocation| {
            let path = cert
                .verify_for_usage(
                    self.algorithms,
                    &self.roots.roots,
                    intermediates,
                    now,
                    usage,
                    revocation,
                    None,
                )
                .ok()?;
            let mut chain = vec![end_entity.clone().into_owned()];
            chain.extend(
                path.intermediate_certificates()
                    .map(|cert| cert.der().into_owned()),
            );
            let anchor = path.anchor();
            let key = (
                anchor.subject.as_ref().to_vec(),
                anchor.subject_public_key_info.as_ref().to_vec(),
            );
            chain.extend(self.anchor_certificates.get(&key).cloned());
            Some(chain)
        })
    }
}
