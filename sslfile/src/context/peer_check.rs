//! The application's own check of the peer's certificate, run after the built-in ones:
//! [`ContextBuilder::verify_peer`] with what it sees ([`PeerInfo`]). It wraps whichever
//! verifier the context uses, in both roles.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::Error as TlsError;
use rustls::{CertificateError, DistinguishedName, OtherError};

use super::ContextBuilder;

/// What [`ContextBuilder::verify_peer`] is shown: the peer's certificates as presented,
/// after they passed the built-in verification (or a `danger_` option waived it).
#[derive(Debug)]
pub struct PeerInfo<'a> {
    end_entity: &'a CertificateDer<'a>,
    intermediates: &'a [CertificateDer<'a>],
    server_name: Option<String>,
    ocsp_response: &'a [u8],
}

impl PeerInfo<'_> {
    /// The peer's own certificate (DER).
    pub fn end_entity(&self) -> &CertificateDer<'_> {
        self.end_entity
    }

    /// The other certificates the peer sent, in its order.
    pub fn intermediates(&self) -> &[CertificateDer<'_>] {
        self.intermediates
    }

    /// Client side: the server name that was verified (a DNS name or an IP address).
    /// `None` on a server checking a client certificate.
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// Client side: the OCSP response the server stapled to its certificate (DER, RFC 6960
    /// `OCSPResponse`), unchecked: rustls passes it on without looking at it, so checking
    /// its signature, freshness and status is up to this check. `None` if the server
    /// stapled none, and on a server checking a client certificate.
    ///
    /// ```
    /// let ctx = sslfile::Context::builder()
    ///     .verify_peer(|peer| match peer.ocsp_response() {
    ///         Some(_response) => Ok(()), // check it here
    ///         None => Err("the server stapled no OCSP response".into()),
    ///     })
    ///     .build()?;
    /// # drop(ctx);
    /// # Ok::<(), sslfile::Error>(())
    /// ```
    pub fn ocsp_response(&self) -> Option<&[u8]> {
        (!self.ocsp_response.is_empty()).then_some(self.ocsp_response)
    }

    /// The SHA-256 hash of the end-entity certificate's public key (its DER
    /// SubjectPublicKeyInfo): what HPKP and `curl --pinnedpubkey sha256//…` pin, and
    /// what survives a renewal with the same key. `None` if the certificate cannot be
    /// parsed.
    pub fn spki_sha256(&self) -> Option<[u8; 32]> {
        let cert = webpki::EndEntityCert::try_from(self.end_entity).ok()?;
        let spki = cert.subject_public_key_info();
        // The SHA-256 of the crypto provider, reached through a suite that uses it.
        let suite = rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256;
        let digest = suite.tls13()?.common.hash_provider.hash(spki.as_ref());
        digest.as_ref().try_into().ok()
    }
}

/// The check itself.
pub(crate) type CheckFn = dyn Fn(&PeerInfo<'_>) -> Result<(), String> + Send + Sync;

/// The check as the builder keeps it.
#[derive(Clone)]
pub(crate) struct PeerCheck(pub(crate) Arc<CheckFn>);

impl fmt::Debug for PeerCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PeerCheck")
    }
}

/// A refusal by the application's check, carried through rustls to the error message.
#[derive(Debug)]
pub(crate) struct Refused(String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the application's check (verify_peer) says: {}", self.0)
    }
}

impl std::error::Error for Refused {}

fn run_check(check: &CheckFn, info: &PeerInfo<'_>) -> Result<(), TlsError> {
    check(info).map_err(|why| {
        TlsError::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(Refused(why)))))
    })
}

impl ContextBuilder {
    /// Runs `check` on the peer's certificate after the built-in verification passed (or a
    /// `danger_` option waived it), in both roles: a client checking its server, a server
    /// checking a client certificate. An `Err` refuses the handshake with a
    /// `certificate_unknown` alert; its text becomes part of the error message. For pinning,
    /// extra policy (Go's `VerifyConnection`), or logging what was accepted.
    ///
    /// # Examples
    ///
    /// Pinning the server's public key:
    ///
    /// ```
    /// # let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// # let pinned = [0u8; 32];
    /// let ctx = sslfile::Context::builder()
    ///     .trust_pem(made.cert.pem().as_bytes())?
    ///     .verify_peer(move |peer| match peer.spki_sha256() {
    ///         Some(hash) if hash == pinned => Ok(()),
    ///         _ => Err("its public key is not the pinned one".into()),
    ///     })
    ///     .build()?;
    /// # drop(ctx);
    /// # Ok::<(), sslfile::Error>(())
    /// ```
    pub fn verify_peer(
        mut self,
        check: impl Fn(&PeerInfo<'_>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.peer_check = Some(PeerCheck(Arc::new(check)));
        self
    }
}

/// `inner`, then the check.
pub(crate) struct CheckedServerVerifier {
    pub(crate) inner: Arc<dyn ServerCertVerifier>,
    pub(crate) check: Arc<CheckFn>,
}

impl fmt::Debug for CheckedServerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckedServerVerifier")
            .field("inner", &self.inner)
            .finish()
    }
}

impl ServerCertVerifier for CheckedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let info = PeerInfo {
            end_entity,
            intermediates,
            server_name: Some(server_name.to_str().into_owned()),
            ocsp_response,
        };
        run_check(&*self.check, &info).map(|()| verified)
    }

    crate::verifier_delegation::delegate_signature_checks!();

    fn root_hint_subjects(&self) -> Option<&[DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

/// `inner`, then the check (a server verifying client certificates).
pub(crate) struct CheckedClientVerifier {
    pub(crate) inner: Arc<dyn ClientCertVerifier>,
    pub(crate) check: Arc<CheckFn>,
}

impl fmt::Debug for CheckedClientVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckedClientVerifier")
            .field("inner", &self.inner)
            .finish()
    }
}

impl ClientCertVerifier for CheckedClientVerifier {
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
    ) -> Result<ClientCertVerified, TlsError> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let info = PeerInfo {
            end_entity,
            intermediates,
            server_name: None,
            ocsp_response: &[],
        };
        run_check(&*self.check, &info).map(|()| verified)
    }

    crate::verifier_delegation::delegate_signature_checks!();
}

/// The server verifier with the check after it, if there is one.
pub(crate) fn checked_server(
    inner: Arc<dyn ServerCertVerifier>,
    check: Option<&PeerCheck>,
) -> Arc<dyn ServerCertVerifier> {
    match check {
        Some(check) => Arc::new(CheckedServerVerifier {
            inner,
            check: check.0.clone(),
        }),
        None => inner,
    }
}

/// The client-certificate verifier with the check after it, if there is one.
pub(crate) fn checked_client(
    inner: Arc<dyn ClientCertVerifier>,
    check: Option<&PeerCheck>,
) -> Arc<dyn ClientCertVerifier> {
    match check {
        Some(check) => Arc::new(CheckedClientVerifier {
            inner,
            check: check.0.clone(),
        }),
        None => inner,
    }
}
