//! [`Context`]: the shared TLS configuration (Pike's `SSL.Context`) and its builder.
//!
//! One `Context` serves both roles: it holds the certificate chain(s) a server presents,
//! the roots a client trusts, the ALPN list and the version range. The rustls
//! `ClientConfig`/`ServerConfig` for each version range are built on first use and cached,
//! so connections that ask for a narrower range (Pike's `min_version`/`max_version`
//! arguments of `create`) still share session caches with each other.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::error::Error;
use crate::verifier::{CertResolver, Leniency, LenientVerifier};
use crate::version::{TlsVersion, VersionRange};

/// Shared, immutable TLS configuration for clients and servers. Cheap to clone.
///
/// # Examples
///
/// A client context that trusts the bundled web roots (the default) and offers HTTP/1.1:
///
/// ```
/// let ctx = sslfile::Context::builder().alpn_protocols(["http/1.1"]).build()?;
/// # Ok::<(), sslfile::Error>(())
/// ```
///
/// A server context from PEM files:
///
/// ```no_run
/// let ctx = sslfile::Context::builder()
///     .certificate_chain_pem_files("cert.pem", "key.pem")?
///     .build()?;
/// # Ok::<(), sslfile::Error>(())
/// ```
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

struct Inner {
    provider: Arc<CryptoProvider>,
    certs: Arc<CertResolver>,
    roots: Arc<RootCertStore>,
    leniency: Option<Leniency>,
    alpn: Vec<Vec<u8>>,
    versions: VersionRange,
    client_configs: [OnceLock<Arc<ClientConfig>>; 3],
    server_configs: [OnceLock<Arc<ServerConfig>>; 3],
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("has_certificate", &self.has_certificate())
            .field("roots", &self.inner.roots.len())
            .field("leniency", &self.inner.leniency)
            .field("alpn", &self.inner.alpn)
            .field("versions", &self.inner.versions)
            .finish()
    }
}

impl Context {
    /// Starts building a context. See [`ContextBuilder`] for the defaults.
    pub fn builder() -> ContextBuilder {
        ContextBuilder::default()
    }

    /// True if the context has a certificate to present as a server.
    pub fn has_certificate(&self) -> bool {
        self.inner.certs.default.is_some() || !self.inner.certs.by_name.is_empty()
    }

    /// The ALPN protocols offered (client) or accepted (server), in preference order.
    pub fn alpn_protocols(&self) -> &[Vec<u8>] {
        &self.inner.alpn
    }

    /// The context's version range: `(min, max)`.
    pub fn versions(&self) -> (TlsVersion, TlsVersion) {
        (self.inner.versions.min, self.inner.versions.max)
    }

    pub(crate) fn default_versions(&self) -> VersionRange {
        self.inner.versions
    }

    /// The rustls client configuration for a version range (built once, then shared).
    pub(crate) fn client_config(&self, range: VersionRange) -> Result<Arc<ClientConfig>, Error> {
        if let Some(config) = self.inner.client_configs[range.index()].get() {
            return Ok(config.clone());
        }
        let builder = ClientConfig::builder_with_provider(self.inner.provider.clone())
            .with_protocol_versions(range.rustls_versions())
            .map_err(|e| Error::Config(format!("protocol versions: {e}")))?;
        let builder = match self.inner.leniency {
            None => builder.with_root_certificates(self.inner.roots.clone()),
            Some(leniency) => {
                let inner = self.webpki_verifier()?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(LenientVerifier {
                        inner,
                        provider: self.inner.provider.clone(),
                        leniency,
                    }))
            }
        };
        let mut config = builder.with_no_client_auth();
        config.alpn_protocols = self.inner.alpn.clone();
        let config = Arc::new(config);
        Ok(self.inner.client_configs[range.index()]
            .get_or_init(|| config)
            .clone())
    }

    /// The rustls server configuration for a version range (built once, then shared).
    pub(crate) fn server_config(&self, range: VersionRange) -> Result<Arc<ServerConfig>, Error> {
        if let Some(config) = self.inner.server_configs[range.index()].get() {
            return Ok(config.clone());
        }
        if !self.has_certificate() {
            return Err(Error::Config(
                "a server needs a certificate: add one with \
                 ContextBuilder::certificate_chain_pem_files (or _pem, _der)"
                    .into(),
            ));
        }
        let mut config = ServerConfig::builder_with_provider(self.inner.provider.clone())
            .with_protocol_versions(range.rustls_versions())
            .map_err(|e| Error::Config(format!("protocol versions: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(self.inner.certs.clone());
        config.alpn_protocols = self.inner.alpn.clone();
        let config = Arc::new(config);
        Ok(self.inner.server_configs[range.index()]
            .get_or_init(|| config)
            .clone())
    }

    fn webpki_verifier(&self) -> Result<Arc<WebPkiServerVerifier>, Error> {
        WebPkiServerVerifier::builder_with_provider(
            self.inner.roots.clone(),
            self.inner.provider.clone(),
        )
        .build()
        .map_err(|e| Error::Config(format!("certificate verifier: {e}")))
    }
}

/// Builds a [`Context`].
///
/// Defaults: TLS 1.2 to TLS 1.3; no ALPN; the aws-lc-rs crypto provider; no certificate
/// (enough for a client); trust in the bundled Mozilla web roots (webpki-roots) unless
/// trust anchors are added with [`trust_pem`](Self::trust_pem) and friends; certificates and
/// host names always verified unless a `danger_` option says otherwise.
#[derive(Debug)]
pub struct ContextBuilder {
    certs: CertResolver,
    roots: RootCertStore,
    web_roots: bool,
    leniency: Option<Leniency>,
    alpn: Vec<Vec<u8>>,
    versions: VersionRange,
    error: Option<Error>,
}

impl Default for ContextBuilder {
    fn default() -> Self {
        ContextBuilder {
            certs: CertResolver::default(),
            roots: RootCertStore::empty(),
            web_roots: false,
            leniency: None,
            alpn: Vec::new(),
            versions: VersionRange::default(),
            error: None,
        }
    }
}

impl ContextBuilder {
    /// Adds a certificate chain (leaf first) and its private key, both PEM encoded.
    ///
    /// The first chain added is the default one, presented to clients that send no server
    /// name (SNI) or a name no chain covers. Keys may be PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    ///
    /// # Errors
    /// A clear [`Error::Config`] if the PEM holds no certificate or no key, the key is
    /// encrypted, or the key does not belong to the certificate.
    pub fn certificate_chain_pem(self, chain: &[u8], key: &[u8]) -> Result<Self, Error> {
        let certs = parse_certificates(chain, "the certificate PEM")?;
        let key = parse_private_key(key, "the key PEM")?;
        self.certificate_chain_der(certs, key)
    }

    /// Like [`certificate_chain_pem`](Self::certificate_chain_pem), reading two files.
    /// The error names the file at fault.
    pub fn certificate_chain_pem_files(
        self,
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, Error> {
        let (chain, key) = (chain.as_ref(), key.as_ref());
        let chain_bytes = read_file(chain)?;
        let key_bytes = read_file(key)?;
        let certs = parse_certificates(&chain_bytes, &chain.display().to_string())?;
        let key = parse_private_key(&key_bytes, &key.display().to_string())?;
        self.certificate_chain_der(certs, key)
    }

    /// Adds a DER certificate chain (leaf first) and its DER private key.
    pub fn certificate_chain_der(
        mut self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, Error> {
        if chain.is_empty() {
            return Err(Error::Config("the certificate chain is empty".into()));
        }
        let provider = provider();
        let signing_key = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| Error::Config(format!("the private key cannot be used: {e}")))?;
        let certified = CertifiedKey::new(chain, signing_key);
        certified.keys_match().map_err(|_| {
            Error::Config("the private key does not belong to the certificate".into())
        })?;
        let certified = Arc::new(certified);
        for name in certificate_dns_names(&certified.cert[0]) {
            self.certs
                .by_name
                .entry(name)
                .or_insert_with(|| certified.clone());
        }
        if self.certs.default.is_none() {
            self.certs.default = Some(certified);
        }
        Ok(self)
    }

    /// Trusts the CA certificates in a PEM bundle (instead of the web roots).
    pub fn trust_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        for cert in parse_certificates(pem, "the trust PEM")? {
            self.add_root(cert)?;
        }
        Ok(self)
    }

    /// Trusts the CA certificates in a PEM file (instead of the web roots).
    pub fn trust_pem_file(mut self, path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let bytes = read_file(path)?;
        for cert in parse_certificates(&bytes, &path.display().to_string())? {
            self.add_root(cert)?;
        }
        Ok(self)
    }

    /// Trusts one DER CA certificate (instead of the web roots).
    pub fn trust_der(mut self, cert: CertificateDer<'static>) -> Result<Self, Error> {
        self.add_root(cert)?;
        Ok(self)
    }

    /// Trusts the bundled Mozilla root store (webpki-roots) in addition to anything added.
    /// This is the default when no other trust anchor is given.
    pub fn trust_web_roots(mut self) -> Self {
        self.web_roots = true;
        self
    }

    /// **Dangerous**: accept any server certificate, trusted or not, for any host name.
    ///
    /// The connection is then encrypted but not authenticated: anyone on the path can
    /// impersonate the server. For tests and debugging only.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.leniency = accept.then_some(Leniency::AnyCertificate);
        self
    }

    /// **Dangerous**: verify the server's certificate chain but not that it names the host
    /// we connect to. Any holder of any trusted certificate can impersonate the server.
    pub fn danger_accept_invalid_hostnames(mut self, accept: bool) -> Self {
        if self.leniency != Some(Leniency::AnyCertificate) {
            self.leniency = accept.then_some(Leniency::AnyHostname);
        }
        self
    }

    /// The ALPN protocols to offer (client) or accept (server), most preferred first
    /// (Pike's `advertise_protocols`). A server with a list refuses a client that offers
    /// only other protocols; a client that offers none is served without ALPN.
    pub fn alpn_protocols<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        self.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// The version range to negotiate. Default: TLS 1.2 to TLS 1.3.
    ///
    /// # Errors
    /// SSL 3.0, TLS 1.0 and TLS 1.1 are refused; so is a range whose minimum is above its
    /// maximum.
    pub fn versions(mut self, min: TlsVersion, max: TlsVersion) -> Result<Self, Error> {
        self.versions = VersionRange::new(min, max)?;
        Ok(self)
    }

    /// Finishes the context.
    pub fn build(mut self) -> Result<Context, Error> {
        if let Some(err) = self.error.take() {
            return Err(err);
        }
        if self.web_roots || self.roots.is_empty() {
            self.roots
                .extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        Ok(Context {
            inner: Arc::new(Inner {
                provider: provider(),
                certs: Arc::new(self.certs),
                roots: Arc::new(self.roots),
                leniency: self.leniency,
                alpn: self.alpn,
                versions: self.versions,
                client_configs: Default::default(),
                server_configs: Default::default(),
            }),
        })
    }

    fn add_root(&mut self, cert: CertificateDer<'static>) -> Result<(), Error> {
        self.roots
            .add(cert)
            .map_err(|e| Error::Config(format!("a trust anchor cannot be used: {e}")))
    }
}

/// The crypto provider: aws-lc-rs, independent of any process-wide default.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}

fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))
}

fn parse_certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Config(format!("{what} is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Config(format!("{what} contains no certificate")));
    }
    Ok(certs)
}

fn parse_private_key(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, Error> {
    if pem
        .windows(b"ENCRYPTED PRIVATE KEY".len())
        .any(|w| w == b"ENCRYPTED PRIVATE KEY")
    {
        return Err(Error::Config(format!(
            "{what} holds an encrypted private key: decrypt it first \
             (openssl pkey -in KEY -out PLAIN_KEY)"
        )));
    }
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            Error::Config(format!("{what} contains no private key"))
        }
        other => Error::Config(format!("{what} is not a valid private key: {other}")),
    })
}

/// The DNS names a certificate covers, lower-cased, for SNI selection.
fn certificate_dns_names(cert: &CertificateDer<'_>) -> Vec<String> {
    match webpki::EndEntityCert::try_from(cert) {
        Ok(parsed) => parsed
            .valid_dns_names()
            .map(|name| name.to_ascii_lowercase())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let cert = rcgen::generate_simple_self_signed(names).unwrap();
        (cert.cert.pem(), cert.key_pair.serialize_pem())
    }

    #[test]
    fn a_key_that_does_not_match_is_refused() {
        let (cert, _) = self_signed(&["a.test"]);
        let (_, other_key) = self_signed(&["b.test"]);
        let err = Context::builder()
            .certificate_chain_pem(cert.as_bytes(), other_key.as_bytes())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid TLS configuration: the private key does not belong to the certificate"
        );
    }

    #[test]
    fn empty_and_encrypted_inputs_say_what_is_wrong() {
        let (cert, key) = self_signed(&["a.test"]);
        let err = Context::builder()
            .certificate_chain_pem(b"", key.as_bytes())
            .unwrap_err();
        assert!(err.to_string().contains("contains no certificate"), "{err}");
        let err = Context::builder()
            .certificate_chain_pem(cert.as_bytes(), b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
            .unwrap_err();
        assert!(err.to_string().contains("encrypted private key"), "{err}");
    }

    #[test]
    fn a_server_without_certificate_is_a_config_error() {
        let ctx = Context::builder().build().unwrap();
        let err = ctx.server_config(VersionRange::default()).unwrap_err();
        assert!(err.to_string().contains("a server needs a certificate"));
    }

    #[test]
    fn sni_names_are_indexed_and_the_first_chain_is_default() {
        let (cert, key) = self_signed(&["One.test", "two.test"]);
        let builder = Context::builder()
            .certificate_chain_pem(cert.as_bytes(), key.as_bytes())
            .unwrap();
        assert!(builder.certs.by_name.contains_key("one.test"));
        assert!(builder.certs.by_name.contains_key("two.test"));
        assert!(builder.certs.default.is_some());
    }

    #[test]
    fn configs_are_cached_per_version_range() {
        let ctx = Context::builder().build().unwrap();
        let a = ctx.client_config(VersionRange::default()).unwrap();
        let b = ctx.client_config(VersionRange::default()).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let only13 = VersionRange::new(TlsVersion::Tls1_3, TlsVersion::Tls1_3).unwrap();
        let c = ctx.client_config(only13).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
    }
}
