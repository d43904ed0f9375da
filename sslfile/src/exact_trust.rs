//! Exact trust: a certificate the user put among the trust anchors is accepted as the peer's
//! own certificate even when it is marked as a CA, as OpenSSL, GnuTLS, Go, Python and curl
//! accept it.
//!
//! `openssl req -x509` (OpenSSL 3) makes self-signed certificates with `CA:TRUE`; webpki
//! refuses any CA certificate presented as an end entity (`CaUsedAsEndEntity`), even one the
//! user trusts byte for byte. [`ExactTrustVerifier`] wraps the webpki verifiers (server
//! and client role) and departs from them in that one case only:
//!
//! * the refusal is `CaUsedAsEndEntity`, and
//! * the presented certificate is, byte for byte (DER), one of the anchors the user added
//!   by name (`trust_pem`, `trust_pem_file`, `trust_pem_dir`, `trust_der`, or for client
//!   certificates `client_ca_pem` and friends). The bundled web roots and the system store
//!   never count: they hold authorities, not servers' own certificates.
//!
//! Such a certificate must still be valid now (checked here, not assumed from the order in
//! which webpki checks things) and, in the server's case, name the host we connect to; the
//! handshake signature is checked with its key as for any certificate. Its extended key
//! usage is not checked: webpki stops at the CA flag before it looks, and the user vouched
//! for this very certificate.
//!
//! The verifier also notes every certificate it refuses (see [`crate::refused`]), so that the
//! error message can name it, and, for one it accepts, the chain as verified and the OCSP
//! response the server stapled (see [`crate::verifier_notes`]). An exactly trusted
//! certificate is its own verified chain, a chain of one.

use std::sync::Arc;

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DistinguishedName};

use crate::refused;
use crate::verified_chain::ChainFinder;
use crate::verifier_notes;

/// The certificates the user trusts by name, kept as DER to compare byte for byte.
#[derive(Debug, Default, Clone)]
pub(crate) struct ExactAnchors(Vec<CertificateDer<'static>>);

impl ExactAnchors {
    /// Remembers one anchor the user added.
    pub(crate) fn add(&mut self, cert: CertificateDer<'static>) {
        if !self.holds(&cert) {
            self.0.push(cert);
        }
    }

    /// The anchors' certificates, in the order added.
    pub(crate) fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.0
    }

    /// Whether `cert` is exactly one of the anchors.
    fn holds(&self, cert: &CertificateDer<'_>) -> bool {
        self.0.iter().any(|anchor| anchor.as_ref() == cert.as_ref())
    }
}

/// A webpki verifier (of server or client certificates) that also accepts a CA-flagged
/// certificate the user trusts exactly (see the module docs), and notes what it refuses.
#[derive(Debug)]
pub(crate) struct ExactTrustVerifier<V: ?Sized> {
    inner: Arc<V>,
    anchors: ExactAnchors,
    chains: ChainFinder,
}

impl<V: ?Sized> ExactTrustVerifier<V> {
    /// Wraps `inner`, accepting the CA-flagged certificates among `anchors`; `chains`
    /// rebuilds the path `inner` verified.
    pub(crate) fn new(inner: Arc<V>, anchors: ExactAnchors, chains: ChainFinder) -> Self {
        ExactTrustVerifier {
            inner,
            anchors,
            chains,
        }
    }

    /// Passes `verdict` on, noting the refused certificate if it is a refusal: the peer's
    /// own, or the CA certificate of its chain that a CRL revoked.
    fn noting_refusal<T>(
        &self,
        verdict: Result<T, rustls::Error>,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<T, rustls::Error> {
        if let Err(err) = &verdict {
            let revoked = matches!(
                err,
                rustls::Error::InvalidCertificate(CertificateError::Revoked)
            );
            match revoked
                .then(|| self.chains.revoked_ca(end_entity, intermediates))
                .flatten()
            {
                Some(ca) => refused::note_ca(&ca),
                None => refused::note(end_entity),
            }
        }
        verdict
    }

    /// Notes the chain of an accepted `end_entity`: itself if exactly trusted, else the
    /// path the webpki verifier accepted.
    fn note_chain(
        &self,
        exactly_trusted: bool,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) {
        let chain = match exactly_trusted {
            true => Some(vec![end_entity.clone().into_owned()]),
            false => self.chains.verified_chain(end_entity, intermediates, now),
        };
        if let Some(chain) = chain {
            verifier_notes::note_verified_chain(chain);
        }
    }

    /// Whether `err`, webpki's verdict on `end_entity`, is only that an exactly trusted
    /// certificate is marked as a CA.
    fn exactly_trusted_ca(&self, err: &rustls::Error, end_entity: &CertificateDer<'_>) -> bool {
        is_ca_used_as_end_entity(err) && self.anchors.holds(end_entity)
    }
}

impl<V: ServerCertVerifier + ?Sized> ServerCertVerifier for ExactTrustVerifier<V> {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        verifier_notes::note_ocsp_response(ocsp_response);
        let verdict = match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(err) if self.exactly_trusted_ca(&err, end_entity) => {
                check_valid_now(end_entity, now)
                    .and_then(|()| {
                        rustls::client::verify_server_name(
                            &ParsedCertificate::try_from(end_entity)?,
                            server_name,
                        )
                    })
                    .map(|()| true)
            }
            other => other.map(|_| false),
        };
        let exactly_trusted = self.noting_refusal(verdict, end_entity, intermediates)?;
        self.note_chain(exactly_trusted, end_entity, intermediates, now);
        Ok(ServerCertVerified::assertion())
    }

    crate::verifier_delegation::delegate_signature_checks!();

    fn root_hint_subjects(&self) -> Option<&[DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

impl<V: ClientCertVerifier + ?Sized> ClientCertVerifier for ExactTrustVerifier<V> {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verdict = match self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
        {
            Err(err) if self.exactly_trusted_ca(&err, end_entity) => {
                check_valid_now(end_entity, now).map(|()| true)
            }
            other => other.map(|_| false),
        };
        let exactly_trusted = self.noting_refusal(verdict, end_entity, intermediates)?;
        self.note_chain(exactly_trusted, end_entity, intermediates, now);
        Ok(ClientCertVerified::assertion())
    }

    crate::verifier_delegation::delegate_signature_checks!();
}

/// Whether rustls's error is webpki's `CaUsedAsEndEntity` (which rustls passes on as
/// `CertificateError::Other`).
fn is_ca_used_as_end_entity(err: &rustls::Error) -> bool {
    match err {
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => matches!(
            other.0.downcast_ref::<webpki::Error>(),
            Some(webpki::Error::CaUsedAsEndEntity)
        ),
        _ => false,
    }
}

/// Refuses a certificate outside its validity period at `now`.
///
/// webpki checks a certificate's own properties, dates first, before it looks for an
/// issuer; with no anchors it can only fail, and a failure other than the dates means the
/// dates are fine.
fn check_valid_now(cert: &CertificateDer<'_>, now: UnixTime) -> Result<(), rustls::Error> {
    let parsed = webpki::EndEntityCert::try_from(cert)
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let dates = parsed.verify_for_usage(
        &[],
        &[],
        &[],
        now,
        webpki::KeyUsage::server_auth(),
        None,
        None,
    );
    let refusal = match dates {
        Err(webpki::Error::CertExpired { time, not_after }) => {
            CertificateError::ExpiredContext { time, not_after }
        }
        Err(webpki::Error::CertNotValidYet { time, not_before }) => {
            CertificateError::NotValidYetContext { time, not_before }
        }
        Err(webpki::Error::InvalidCertValidity) => CertificateError::Expired,
        Err(webpki::Error::BadDer | webpki::Error::BadDerTime) => CertificateError::BadEncoding,
        _ => return Ok(()),
    };
    Err(rustls::Error::InvalidCertificate(refusal))
}
