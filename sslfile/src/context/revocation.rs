//! Certificate revocation lists (CRLs): [`ContextBuilder::trust_crl_pem`] and friends, and
//! the revocation policy the webpki verifiers get from them, in both roles.
//!
//! The policy, by default, is OpenSSL's `-crl_check` (and Python's `VERIFY_CRL_CHECK_LEAF`):
//!
//! * only the peer's own certificate (the end entity) is looked up, not the CAs above it
//!   ([`revocation_check_whole_chain`](ContextBuilder::revocation_check_whole_chain) for
//!   OpenSSL's `-crl_check_all`);
//! * a certificate whose issuer has no CRL among those given is refused: its revocation
//!   status is unknown, and a context given CRLs means to check
//!   ([`allow_unknown_revocation_status`](ContextBuilder::allow_unknown_revocation_status)
//!   for contexts that meet peers of other CAs too);
//! * a CRL past its `nextUpdate` date is refused as out of date, as OpenSSL refuses it
//!   ("CRL has expired"); rustls alone would go on using it.
//!
//! A trust anchor is never looked up (it is trusted as itself), and so neither is a
//! certificate accepted by exact trust (see `exact_trust.rs`). Each CRL is parsed when it
//! is added, so that a bad one is refused then, naming its input; its signature is checked
//! during the handshake, against the CA that issued it.

use std::path::Path;

use rustls::client::ServerCertVerifierBuilder;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};
use rustls::server::ClientCertVerifierBuilder;

use super::reload::Source;
use super::{load, ContextBuilder};
use crate::error::Error;

/// The CRLs a context checks certificates against, and how.
#[derive(Default)]
pub(crate) struct Revocation {
    crls: Vec<CertificateRevocationListDer<'static>>,
    parsed: Vec<webpki::CertRevocationList<'static>>,
    whole_chain: bool,
    allow_unknown: bool,
}

impl std::fmt::Debug for Revocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocation")
            .field("crls", &self.crls.len())
            .field("whole_chain", &self.whole_chain)
            .field("allow_unknown", &self.allow_unknown)
            .finish()
    }
}

impl Revocation {
    /// The same checks without any CRL (what a reloaded context starts from).
    pub(super) fn settings(&self) -> Revocation {
        Revocation {
            whole_chain: self.whole_chain,
            allow_unknown: self.allow_unknown,
            ..Revocation::default()
        }
    }

    /// Adds one DER CRL after parsing it; `what` names its input in the error.
    fn add(&mut self, crl: CertificateRevocationListDer<'static>, what: &str) -> Result<(), Error> {
        let parsed = webpki::OwnedCertRevocationList::from_der(crl.as_ref()).map_err(|e| {
            let problem = match is_version_1(crl.as_ref()) {
                true => {
                    "it is a version 1 CRL, and only version 2 CRLs can be used (openssl ca \
                     -gencrl writes version 2 when its configuration names a crlnumber file)"
                }
                false => crl_problem(&e),
            };
            Error::Config(format!(
                "{what} holds a certificate revocation list that cannot be used: {problem}"
            ))
        })?;
        self.crls.push(crl);
        self.parsed.push(parsed.into());
        Ok(())
    }

    /// The server-certificate verifier's builder with these CRLs and this policy.
    pub(crate) fn server_builder(
        &self,
        builder: ServerCertVerifierBuilder,
    ) -> ServerCertVerifierBuilder {
        if self.crls.is_empty() {
            return builder;
        }
        let mut builder = builder
            .with_crls(self.crls.iter().cloned())
            .enforce_revocation_expiration();
        if !self.whole_chain {
            builder = builder.only_check_end_entity_revocation();
        }
        if self.allow_unknown {
            builder = builder.allow_unknown_revocation_status();
        }
        builder
    }

    /// The client-certificate verifier's builder with these CRLs and this policy.
    pub(crate) fn client_builder(
        &self,
        builder: ClientCertVerifierBuilder,
    ) -> ClientCertVerifierBuilder {
        if self.crls.is_empty() {
            return builder;
        }
        let mut builder = builder
            .with_crls(self.crls.iter().cloned())
            .enforce_revocation_expiration();
        if !self.whole_chain {
            builder = builder.only_check_end_entity_revocation();
        }
        if self.allow_unknown {
            builder = builder.allow_unknown_revocation_status();
        }
        builder
    }

    /// Whether the whole chain is checked, not only the peer's own certificate.
    pub(crate) fn whole_chain(&self) -> bool {
        self.whole_chain
    }

    /// Whether a CRL of `cert`'s issuer lists it.
    pub(crate) fn lists(&self, cert: &CertificateDer<'_>) -> bool {
        let Ok(parsed) = webpki::EndEntityCert::try_from(cert) else {
            return false;
        };
        self.parsed.iter().any(|crl| {
            crl.issuer() == parsed.issuer()
                && matches!(crl.find_serial(parsed.serial()), Ok(Some(_)))
        })
    }

    /// Runs `verify` with the same policy as webpki options (`None` without CRLs): for
    /// building the verified chain again after the verifier accepted it (see
    /// `verified_chain.rs`), so that it is the path the verifier could accept.
    pub(crate) fn with_options<R>(
        &self,
        verify: impl FnOnce(Option<webpki::RevocationOptions<'_>>) -> R,
    ) -> R {
        let crls: Vec<&webpki::CertRevocationList<'static>> = self.parsed.iter().collect();
        let Ok(builder) = webpki::RevocationOptionsBuilder::new(&crls) else {
            return verify(None);
        };
        let depth = match self.whole_chain {
            true => webpki::RevocationCheckDepth::Chain,
            false => webpki::RevocationCheckDepth::EndEntity,
        };
        let unknown = match self.allow_unknown {
            true => webpki::UnknownStatusPolicy::Allow,
            false => webpki::UnknownStatusPolicy::Deny,
        };
        verify(Some(
            builder
                .with_depth(depth)
                .with_status_policy(unknown)
                .with_expiration_policy(webpki::ExpirationPolicy::Enforce)
                .build(),
        ))
    }
}

impl ContextBuilder {
    /// Checks certificates against the certificate revocation lists (CRLs) in a PEM input
    /// (`-----BEGIN X509 CRL-----` sections, as `openssl ca -gencrl` writes them), in both
    /// roles: a client checks its server's certificate, a server the client certificates it
    /// asks for. A revoked certificate fails the handshake with a message that names it.
    ///
    /// Once any CRL is given, the peer's own certificate must be covered by a CRL of the CA
    /// that issued it, and every CRL must be current (before its `nextUpdate`), as with
    /// OpenSSL's `-crl_check`; see
    /// [`revocation_check_whole_chain`](Self::revocation_check_whole_chain) and
    /// [`allow_unknown_revocation_status`](Self::allow_unknown_revocation_status) to change
    /// that. Calling this again adds more CRLs.
    ///
    /// # Errors
    /// Empty input, DER given as PEM, no CRL in the input, or a CRL that cannot be parsed
    /// (or uses what webpki does not support: delta and indirect CRLs).
    ///
    /// # Examples
    ///
    /// ```
    /// use rcgen::{CertificateParams, CertificateRevocationListParams, IsCa, KeyPair};
    /// let ca_key = KeyPair::generate()?;
    /// let mut ca = CertificateParams::new(Vec::<String>::new())?;
    /// ca.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    /// ca.distinguished_name.push(rcgen::DnType::CommonName, "Example CA");
    /// let ca = ca.self_signed(&ca_key)?;
    /// let crl = CertificateRevocationListParams {
    ///     this_update: rcgen::date_time_ymd(2024, 1, 1),
    ///     next_update: rcgen::date_time_ymd(2100, 1, 1),
    ///     crl_number: rcgen::SerialNumber::from(1u64),
    ///     issuing_distribution_point: None,
    ///     revoked_certs: Vec::new(),
    ///     key_identifier_method: rcgen::KeyIdMethod::Sha256,
    /// }
    /// .signed_by(&ca, &ca_key)?;
    /// let ctx = sslfile::Context::builder()
    ///     .trust_pem(ca.pem().as_bytes())?
    ///     .trust_crl_pem(crl.pem()?.as_bytes())?
    ///     .build()?;
    /// # drop(ctx);
    /// let err = sslfile::Context::builder().trust_crl_pem(ca.pem().as_bytes()).unwrap_err();
    /// assert!(err.to_string().contains("contains no certificate revocation list"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn trust_crl_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        self.sources.push(Source::CrlPem(pem.to_vec()));
        self.add_crl_pem(pem, "the CRL PEM")
    }

    /// Like [`trust_crl_pem`](Self::trust_crl_pem), from a PEM file (e.g. `crl.pem` from
    /// `openssl ca -gencrl`). Every error names the file.
    ///
    /// # Examples
    ///
    /// ```
    /// # use rcgen::{CertificateParams, CertificateRevocationListParams, IsCa, KeyPair};
    /// # let ca_key = KeyPair::generate()?;
    /// # let mut ca = CertificateParams::new(Vec::<String>::new())?;
    /// # ca.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    /// # let ca = ca.self_signed(&ca_key)?;
    /// # let crl = CertificateRevocationListParams {
    /// #     this_update: rcgen::date_time_ymd(2024, 1, 1),
    /// #     next_update: rcgen::date_time_ymd(2100, 1, 1),
    /// #     crl_number: rcgen::SerialNumber::from(1u64),
    /// #     issuing_distribution_point: None,
    /// #     revoked_certs: Vec::new(),
    /// #     key_identifier_method: rcgen::KeyIdMethod::Sha256,
    /// # }
    /// # .signed_by(&ca, &ca_key)?;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("crl.pem");
    /// std::fs::write(&path, crl.pem()?)?;
    /// let ctx = sslfile::Context::builder()
    ///     .trust_pem(ca.pem().as_bytes())?
    ///     .trust_crl_pem_file(&path)?
    ///     .build()?;
    /// # drop(ctx);
    /// let err = sslfile::Context::builder().trust_crl_pem_file(dir.path().join("none.pem"));
    /// assert!(err.unwrap_err().to_string().contains("none.pem"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn trust_crl_pem_file(mut self, path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        self.sources.push(Source::CrlPemFile(path.to_path_buf()));
        let input = load::read_file(path)?;
        self.add_crl_pem(&input, &path.display().to_string())
    }

    /// Like [`trust_crl_pem`](Self::trust_crl_pem), one DER CRL (what a CA publishes at
    /// its CRL distribution point).
    ///
    /// # Examples
    ///
    /// ```
    /// # use rcgen::{CertificateParams, CertificateRevocationListParams, IsCa, KeyPair};
    /// # let ca_key = KeyPair::generate()?;
    /// # let mut ca = CertificateParams::new(Vec::<String>::new())?;
    /// # ca.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    /// # let ca = ca.self_signed(&ca_key)?;
    /// # let crl = CertificateRevocationListParams {
    /// #     this_update: rcgen::date_time_ymd(2024, 1, 1),
    /// #     next_update: rcgen::date_time_ymd(2100, 1, 1),
    /// #     crl_number: rcgen::SerialNumber::from(1u64),
    /// #     issuing_distribution_point: None,
    /// #     revoked_certs: Vec::new(),
    /// #     key_identifier_method: rcgen::KeyIdMethod::Sha256,
    /// # }
    /// # .signed_by(&ca, &ca_key)?;
    /// let ctx = sslfile::Context::builder()
    ///     .trust_pem(ca.pem().as_bytes())?
    ///     .trust_crl_der(crl.der().clone())?
    ///     .build()?;
    /// # drop(ctx);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn trust_crl_der(
        mut self,
        crl: CertificateRevocationListDer<'static>,
    ) -> Result<Self, Error> {
        self.sources.push(Source::CrlDer(crl.clone()));
        self.revocation.add(crl, "the DER CRL")?;
        Ok(self)
    }

    /// With CRLs, whether to check every certificate of the peer's chain up to the trust
    /// anchor (OpenSSL's `-crl_check_all`), rather than the peer's own certificate only (the
    /// default). Each CA certificate then needs a CRL from its own issuer, unless
    /// [`allow_unknown_revocation_status`](Self::allow_unknown_revocation_status). The
    /// error for a revoked CA certificate names it: "the CA certificate CN=… in the chain
    /// of the server's certificate for example.com has been revoked: …".
    ///
    /// ```
    /// // OpenSSL's -crl_check_all.
    /// let builder = sslfile::Context::builder().revocation_check_whole_chain(true);
    /// # drop(builder);
    /// ```
    pub fn revocation_check_whole_chain(mut self, whole_chain: bool) -> Self {
        self.revocation.whole_chain = whole_chain;
        self
    }

    /// With CRLs, whether to accept a certificate whose issuer has no CRL among those
    /// given. Default false: such a certificate is refused, its revocation status being
    /// unknown. Set it for a context that checks the CRLs of some CAs and also meets peers
    /// of others (the bundled web roots, for instance).
    ///
    /// ```
    /// // Check the company CA's CRL, and still reach web servers.
    /// let builder = sslfile::Context::builder()
    ///     .trust_web_roots()
    ///     .allow_unknown_revocation_status(true);
    /// # drop(builder);
    /// ```
    pub fn allow_unknown_revocation_status(mut self, allow: bool) -> Self {
        self.revocation.allow_unknown = allow;
        self
    }

    fn add_crl_pem(mut self, input: &[u8], what: &str) -> Result<Self, Error> {
        if input.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::Config(format!(
                "{what} is empty: expected a PEM certificate revocation list"
            )));
        }
        if input.first() == Some(&0x30) {
            return Err(Error::Config(format!(
                "{what} is DER (binary), not PEM: load it with trust_crl_der, or convert it \
                 (openssl crl -inform der -in CRL -out CRL.pem)"
            )));
        }
        let crls = CertificateRevocationListDer::pem_slice_iter(input)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Config(format!("{what} is not valid PEM: {e}")))?;
        if crls.is_empty() {
            return Err(Error::Config(format!(
                "{what} contains no certificate revocation list (no \"BEGIN X509 CRL\" section)"
            )));
        }
        for crl in crls {
            self.revocation.add(crl, what)?;
        }
        Ok(self)
    }
}

/// Whether `der` is a version 1 CRL (RFC 5280 §5.1: its `TBSCertList` starts with the
/// signature algorithm, not with the optional version, which version 2 requires).
fn is_version_1(der: &[u8]) -> bool {
    const SEQUENCE: u8 = 0x30;
    let Some((SEQUENCE, list, _)) = crate::der::element(der) else {
        return false;
    };
    let Some((SEQUENCE, tbs, _)) = crate::der::element(list) else {
        return false;
    };
    matches!(crate::der::element(tbs), Some((SEQUENCE, _, _)))
}

/// What is wrong with a CRL webpki refused, in words.
fn crl_problem(err: &webpki::Error) -> &'static str {
    use webpki::Error as E;
    match err {
        E::UnsupportedCrlVersion => "it is not a version 2 CRL",
        E::UnsupportedDeltaCrl => "it is a delta CRL, which is not supported",
        E::UnsupportedIndirectCrl => "it is an indirect CRL, which is not supported",
        E::UnsupportedRevocationReason => "it gives a revocation reason that is not supported",
        E::UnsupportedCriticalExtension => "it has a critical extension that is not understood",
        _ => "it is malformed (not a valid DER-encoded X.509 CRL)",
    }
}
