//! [`ContextBuilder`]: how a [`Context`] is made.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{
    NoServerSessionStorage, ProducesTickets, ServerSessionMemoryCache, StoresServerSessions,
    WebPkiClientVerifier,
};
use rustls::sign::CertifiedKey;
use rustls::{CipherSuite, NamedGroup, RootCertStore, SupportedCipherSuite};

use super::chosen_certificate::CertificateChooser;
use super::peer_check::{checked_client, checked_server, PeerCheck};
use super::reload::Source;
use super::revocation::Revocation;
use super::tuning::Tuning;
use super::{load, ClientAuth, Context, Inner};
use crate::error::Error;
use crate::exact_trust::{ExactAnchors, ExactTrustVerifier};
use crate::resolver::{CertResolver, ClientCertResolver};
use crate::session::ClientSessionCache;
use crate::verified_chain::{ChainFinder, PeerRole};
use crate::verifier::{Leniency, LenientVerifier};
use crate::version::{TlsVersion, VersionRange};

/// A TLS record header: type, version, length.
pub(super) const RECORD_HEADER_LEN: usize = 5;

/// The smallest record size limit rustls accepts (32 bytes with the header).
const MIN_RECORD_SIZE: usize = 32 - RECORD_HEADER_LEN;

/// The TLS maximum plaintext per record (RFC 8446 §5.1).
const MAX_RECORD_SIZE: usize = 16 * 1024;

/// Default number of sessions kept by each cache (Pike keeps 300).
const DEFAULT_SESSION_CACHE: usize = 256;

/// Builds a [`Context`].
///
/// Defaults:
/// * TLS 1.2 to TLS 1.3; the aws-lc-rs crypto provider with its default cipher suites and
///   key-exchange groups; records of up to 16 KiB; no ALPN.
/// * No certificate (enough for a client). Expired certificates are refused at
///   [`build`](Self::build) unless [`allow_expired_certificates`](Self::allow_expired_certificates).
/// * Trust in the bundled Mozilla web roots (webpki-roots) unless trust anchors are added
///   with [`trust_pem`](Self::trust_pem) and friends; certificates and host names always
///   verified unless a `danger_` option says otherwise.
/// * No client certificates asked for ([`ClientAuth::None`]).
/// * Session resumption on: clients remember the latest session of 256 servers and resume
///   it when they reconnect; servers keep 256 sessions and issue tickets (TLS 1.2 RFC 5077
///   tickets and TLS 1.3 tickets, with keys that rotate every 6 hours). To turn resumption
///   off: [`client_session_cache(0)`](Self::client_session_cache) on a client,
///   [`server_session_cache(0)`](Self::server_session_cache) and
///   [`session_tickets(false)`](Self::session_tickets) on a server.
#[derive(Debug)]
pub struct ContextBuilder {
    pub(super) chains: Vec<(Arc<CertifiedKey>, String)>,
    allow_expired: bool,
    roots: RootCertStore,
    exact_roots: ExactAnchors,
    /// The system store's certificates, to give a verified chain its anchor.
    system_roots: Vec<CertificateDer<'static>>,
    web_roots: bool,
    leniency: Option<Leniency>,
    client_auth: ClientAuth,
    client_roots: RootCertStore,
    exact_client_roots: ExactAnchors,
    alpn: Vec<Vec<u8>>,
    versions: VersionRange,
    cipher_suites: Option<Vec<SupportedCipherSuite>>,
    kx_groups: Option<Vec<&'static dyn SupportedKxGroup>>,
    crypto_provider: Option<Arc<CryptoProvider>>,
    max_fragment_size: Option<usize>,
    client_session_cache: usize,
    server_session_cache: usize,
    session_tickets: bool,
    handshake_timeout: Option<std::time::Duration>,
    key_log: Option<Arc<dyn rustls::KeyLog>>,
    pub(super) tuning: Tuning,
    pub(super) choose_certificate: Option<CertificateChooser>,
    pub(super) peer_check: Option<PeerCheck>,
    pub(super) revocation: Revocation,
    /// Every chain, OCSP response, anchor, client CA and CRL given, in order (for
    /// [`Context::reload`]).
    pub(super) sources: Vec<Source>,
}

impl Default for ContextBuilder {
    fn default() -> Self {
        ContextBuilder {
            chains: Vec::new(),
            allow_expired: false,
            roots: RootCertStore::empty(),
            exact_roots: ExactAnchors::default(),
            system_roots: Vec::new(),
            web_roots: false,
            leniency: None,
            client_auth: ClientAuth::None,
            client_roots: RootCertStore::empty(),
            exact_client_roots: ExactAnchors::default(),
            alpn: Vec::new(),
            versions: VersionRange::default(),
            cipher_suites: None,
            kx_groups: None,
            crypto_provider: None,
            max_fragment_size: None,
            client_session_cache: DEFAULT_SESSION_CACHE,
            server_session_cache: DEFAULT_SESSION_CACHE,
            session_tickets: true,
            handshake_timeout: Some(super::Context::DEFAULT_HANDSHAKE_TIMEOUT),
            key_log: None,
            tuning: Tuning::default(),
            choose_certificate: None,
            peer_check: None,
            revocation: Revocation::default(),
            sources: Vec::new(),
        }
    }
}

impl ContextBuilder {
    // ----- certificates ------------------------------------------------------------------

    /// Adds a certificate chain (leaf first) and its private key, both PEM encoded
    /// (Pike's `add_cert`).
    ///
    /// Several chains may be added (RSA, ECDSA P-256/P-384, Ed25519): a server picks the
    /// one whose names cover the server name the client asks for (SNI; exact names, then
    /// wildcards), preferring one whose key type the client supports. The first chain
    /// added is the default, presented to clients that send no server name (connecting by
    /// IP address) or a name no chain covers. Keys may be PKCS#8, PKCS#1 (RSA) or SEC1
    /// (EC).
    ///
    /// A client presents its chain when a server asks for a certificate (see
    /// [`client_auth`](Self::client_auth)), as Pike's does: if the server names the CAs it
    /// accepts, the first chain issued by one of them (none if no chain is, so that a
    /// server that only asks still accepts the client); if it names none, the default.
    ///
    /// # Errors
    /// An [`Error::Config`] that says what is wrong: empty input, DER given as PEM, no
    /// certificate or no key (or the two swapped), an encrypted key, a key type that
    /// cannot be used, or a key that does not belong to the certificate.
    ///
    /// ```
    /// let cert = rcgen::generate_simple_self_signed(vec!["a.test".into()]).unwrap();
    /// let other = rcgen::generate_simple_self_signed(vec!["b.test".into()]).unwrap();
    /// let err = sslfile::Context::builder()
    ///     .certificate_chain_pem(cert.cert.pem().as_bytes(), other.key_pair.serialize_pem().as_bytes())
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("does not belong to the certificate"));
    /// ```
    pub fn certificate_chain_pem(self, chain: &[u8], key: &[u8]) -> Result<Self, Error> {
        let (chain_what, key_what) = ("the certificate PEM", "the key PEM");
        let certs = load::certificates(chain, chain_what)?;
        let key = load::private_key(key, key_what)?;
        self.add_chain(certs, key, chain_what, key_what)
            .map(ContextBuilder::chain_from_memory)
    }

    /// Like [`certificate_chain_pem`](Self::certificate_chain_pem), reading two files (or
    /// one file twice: a PEM file holding both the chain and the key). Every error names
    /// the file at fault.
    pub fn certificate_chain_pem_files(
        self,
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, Error> {
        let (chain, key) = (chain.as_ref(), key.as_ref());
        let (chain_what, key_what) = (chain.display().to_string(), key.display().to_string());
        let certs = load::certificates(&load::read_file(chain)?, &chain_what)?;
        let private_key = load::private_key(&load::read_file(key)?, &key_what)?;
        let mut built = self.add_chain(certs, private_key, &chain_what, &key_what)?;
        built.sources.push(Source::ChainFiles {
            chain: chain.to_path_buf(),
            key: key.to_path_buf(),
        });
        Ok(built)
    }

    /// Adds a DER certificate chain (leaf first) and its DER private key.
    pub fn certificate_chain_der(
        self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, Error> {
        self.add_chain(chain, key, "the DER certificate chain", "the DER key")
            .map(ContextBuilder::chain_from_memory)
    }

    /// Records the chain just added from memory as a source, as it was loaded.
    fn chain_from_memory(mut self) -> Self {
        if let Some((chain, what)) = self.chains.last() {
            let source = Source::Chain(chain.clone(), what.clone());
            self.sources.push(source);
        }
        self
    }

    /// Serve certificates that have expired (refused by [`build`](Self::build) otherwise:
    /// every client would reject them). For tests of clients.
    pub fn allow_expired_certificates(mut self, allow: bool) -> Self {
        self.allow_expired = allow;
        self
    }

    fn add_chain(
        mut self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        chain_what: &str,
        key_what: &str,
    ) -> Result<Self, Error> {
        let provider = self.base_provider();
        let certified = load::certified_key(chain, key, chain_what, key_what, &provider)?;
        self.chains.push((certified, chain_what.to_string()));
        Ok(self)
    }

    // ----- trust -------------------------------------------------------------------------

    /// Trusts the CA certificates in a PEM bundle (instead of the web roots).
    ///
    /// A certificate trusted this way (or with [`trust_pem_file`](Self::trust_pem_file),
    /// [`trust_pem_dir`](Self::trust_pem_dir) or [`trust_der`](Self::trust_der)) is also
    /// accepted as a server's own certificate when the server presents exactly it, byte for
    /// byte, even if it is marked as a CA (`openssl req -x509` makes such self-signed
    /// certificates); its dates and host name are still checked, as OpenSSL, GnuTLS, Python
    /// and curl do. The web roots and the system store are never trusted that way.
    pub fn trust_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        self.sources.push(Source::TrustPem(pem.to_vec()));
        for cert in load::certificates(pem, "the trust PEM")? {
            add_root(
                &mut self.roots,
                &mut self.exact_roots,
                cert,
                "the trust PEM",
            )?;
        }
        Ok(self)
    }

    /// Trusts the CA certificates in a PEM file (instead of the web roots).
    pub fn trust_pem_file(mut self, path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        self.sources.push(Source::TrustPemFile(path.to_path_buf()));
        let what = path.display().to_string();
        for cert in load::certificates(&load::read_file(path)?, &what)? {
            add_root(&mut self.roots, &mut self.exact_roots, cert, &what)?;
        }
        Ok(self)
    }

    /// Trusts the CA certificates of every PEM file in a directory (like OpenSSL's
    /// `-CApath`, e.g. `/etc/ssl/certs`), instead of the web roots. Files that hold no
    /// certificate are skipped.
    ///
    /// # Errors
    /// The directory cannot be read or holds no certificate.
    pub fn trust_pem_dir(mut self, dir: impl AsRef<Path>) -> Result<Self, Error> {
        let dir = dir.as_ref();
        self.sources.push(Source::TrustPemDir(dir.to_path_buf()));
        let what = dir.display().to_string();
        for cert in load::directory_certificates(dir)? {
            // A directory may hold certificates webpki cannot use as anchors: skip them,
            // as OpenSSL does, rather than refuse the whole directory.
            let _ = add_root(&mut self.roots, &mut self.exact_roots, cert, &what);
        }
        if self.roots.is_empty() {
            return Err(Error::Config(format!(
                "{what} holds no certificate usable as a trust anchor"
            )));
        }
        Ok(self)
    }

    /// Trusts one DER CA certificate (instead of the web roots).
    pub fn trust_der(mut self, cert: CertificateDer<'static>) -> Result<Self, Error> {
        self.sources.push(Source::TrustDer(cert.clone()));
        add_root(
            &mut self.roots,
            &mut self.exact_roots,
            cert,
            "the DER trust anchor",
        )?;
        Ok(self)
    }

    /// Trusts the bundled Mozilla root store (webpki-roots) in addition to anything added.
    /// This is the default when no other trust anchor is given.
    pub fn trust_web_roots(mut self) -> Self {
        self.web_roots = true;
        self
    }

    /// Trusts the operating system's root store (via rustls-native-certs: on Linux the
    /// distribution's bundle, e.g. `/etc/ssl/certs`, or the files named by the
    /// `SSL_CERT_FILE` / `SSL_CERT_DIR` environment variables), in addition to anything
    /// added.
    ///
    /// # Errors
    /// The system store holds no usable certificate (e.g. the `ca-certificates` package is
    /// not installed); the message includes what went wrong reading it.
    pub fn trust_system_roots(mut self) -> Result<Self, Error> {
        self.sources.push(Source::SystemRoots);
        let found = rustls_native_certs::load_native_certs();
        self.system_roots.extend(found.certs.iter().cloned());
        let (added, _ignored) = self.roots.add_parsable_certificates(found.certs);
        if added == 0 {
            let problems: Vec<String> = found.errors.iter().map(|e| e.to_string()).collect();
            return Err(Error::Config(format!(
                "the system trust store has no usable certificate{}",
                if problems.is_empty() {
                    " (is the ca-certificates package installed?)".to_string()
                } else {
                    format!(": {}", problems.join("; "))
                }
            )));
        }
        Ok(self)
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

    // ----- client certificates -----------------------------------------------------------

    /// Whether a server asks clients for a certificate (Pike's `auth_level`). Default:
    /// [`ClientAuth::None`].
    ///
    /// Client certificates are verified against the authorities given with
    /// [`client_ca_pem`](Self::client_ca_pem) (Pike's `set_authorities`), or, if none
    /// were given, the context's trust anchors ([`trust_pem`](Self::trust_pem) and
    /// friends). The implicit default of the web roots is not used for this: a server
    /// asking for client certificates without naming who issues them is refused by
    /// [`build`](Self::build).
    ///
    /// ```
    /// use sslfile::{ClientAuth, Context};
    /// let ca = rcgen::generate_simple_self_signed(vec!["ca.test".into()]).unwrap();
    /// let server = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// let ctx = Context::builder()
    ///     .certificate_chain_pem(server.cert.pem().as_bytes(), server.key_pair.serialize_pem().as_bytes())?
    ///     .client_auth(ClientAuth::Required)
    ///     .client_ca_pem(ca.cert.pem().as_bytes())?
    ///     .build()?;
    /// assert_eq!(ctx.client_auth(), ClientAuth::Required);
    /// # Ok::<(), sslfile::Error>(())
    /// ```
    pub fn client_auth(mut self, policy: ClientAuth) -> Self {
        self.client_auth = policy;
        self
    }

    /// The CAs whose client certificates a server accepts, from a PEM bundle. Only used
    /// with [`ClientAuth::Optional`] or [`ClientAuth::Required`].
    ///
    /// As with [`trust_pem`](Self::trust_pem), a client that presents exactly one of these
    /// certificates is accepted even if it is marked as a CA, once its dates are checked.
    pub fn client_ca_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        self.sources.push(Source::ClientCaPem(pem.to_vec()));
        for cert in load::certificates(pem, "the client CA PEM")? {
            add_root(
                &mut self.client_roots,
                &mut self.exact_client_roots,
                cert,
                "the client CA PEM",
            )?;
        }
        Ok(self)
    }

    /// Like [`client_ca_pem`](Self::client_ca_pem), from a PEM file.
    pub fn client_ca_pem_file(mut self, path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        self.sources
            .push(Source::ClientCaPemFile(path.to_path_buf()));
        let what = path.display().to_string();
        for cert in load::certificates(&load::read_file(path)?, &what)? {
            add_root(
                &mut self.client_roots,
                &mut self.exact_client_roots,
                cert,
                &what,
            )?;
        }
        Ok(self)
    }

    /// Like [`client_ca_pem`](Self::client_ca_pem), one DER certificate.
    pub fn client_ca_der(mut self, cert: CertificateDer<'static>) -> Result<Self, Error> {
        self.sources.push(Source::ClientCaDer(cert.clone()));
        add_root(
            &mut self.client_roots,
            &mut self.exact_client_roots,
            cert,
            "the DER client CA",
        )?;
        Ok(self)
    }

    // ----- protocol ----------------------------------------------------------------------

    /// The ALPN protocols to offer (client) or accept (server), most preferred first
    /// (Pike's `advertised_protocols`). A server with a list refuses a client that offers
    /// only other protocols; a client that offers none is served without ALPN.
    pub fn alpn_protocols<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        self.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// The version range to negotiate (Pike's `min_version`, `max_version`). Default:
    /// TLS 1.2 to TLS 1.3.
    ///
    /// # Errors
    /// SSL 3.0, TLS 1.0 and TLS 1.1 are refused; so is a range whose minimum is above its
    /// maximum.
    pub fn versions(mut self, min: TlsVersion, max: TlsVersion) -> Result<Self, Error> {
        self.versions = VersionRange::new(min, max)?;
        Ok(self)
    }

    /// The cipher suites that may be negotiated, most preferred first (Pike's
    /// `preferred_suites`). A server applies its own order when this is set; a client
    /// offers them in this order. Default: the provider's, all AEAD with forward secrecy.
    ///
    /// # Errors
    /// An empty list, or a suite the crypto provider does not implement (the message lists
    /// those it does).
    ///
    /// ```
    /// use sslfile::{CipherSuite, Context};
    /// let ctx = Context::builder()
    ///     .cipher_suites([CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    ///                     CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256])?
    ///     .build()?;
    /// assert_eq!(ctx.cipher_suites().len(), 2);
    /// # Ok::<(), sslfile::Error>(())
    /// ```
    pub fn cipher_suites(
        mut self,
        suites: impl IntoIterator<Item = CipherSuite>,
    ) -> Result<Self, Error> {
        let available = rustls::crypto::aws_lc_rs::ALL_CIPHER_SUITES;
        let mut chosen = Vec::new();
        for wanted in suites {
            let Some(found) = available.iter().find(|s| s.suite() == wanted) else {
                return Err(Error::Config(format!(
                    "the cipher suite {} is not available; these are: {}",
                    suite_name(wanted),
                    names(available.iter().map(|s| suite_name(s.suite())))
                )));
            };
            chosen.push(*found);
        }
        if chosen.is_empty() {
            return Err(Error::Config("the list of cipher suites is empty".into()));
        }
        self.cipher_suites = Some(chosen);
        Ok(self)
    }

    /// The crypto provider everything else uses: cipher suites, key-exchange groups,
    /// signature verification, key loading and random numbers. Default: aws-lc-rs's, with
    /// the post-quantum hybrid key exchange preferred. Give another for another
    /// implementation (a FIPS-validated build, ring, a hardware module) or a deterministic
    /// one in tests. Set it before loading keys (they are loaded with the provider in
    /// effect); [`cipher_suites`](Self::cipher_suites) and [`kx_groups`](Self::kx_groups)
    /// still choose from aws-lc-rs's lists and replace the provider's.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use sslfile::rustls::crypto::aws_lc_rs;
    ///
    /// // aws-lc-rs with AES-256-GCM suites only.
    /// let provider = sslfile::rustls::crypto::CryptoProvider {
    ///     cipher_suites: vec![
    ///         aws_lc_rs::cipher_suite::TLS13_AES_256_GCM_SHA384,
    ///         aws_lc_rs::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ///     ],
    ///     ..aws_lc_rs::default_provider()
    /// };
    /// let ctx = sslfile::Context::builder()
    ///     .crypto_provider(Arc::new(provider))
    ///     .build()?;
    /// # Ok::<(), sslfile::Error>(())
    /// ```
    pub fn crypto_provider(mut self, provider: Arc<CryptoProvider>) -> Self {
        self.crypto_provider = Some(provider);
        self
    }

    /// The key-exchange groups that may be negotiated, most preferred first (Pike's
    /// `ecc_curves` and `ffdhe_groups`); a client sends a key share for the first.
    /// Default: the post-quantum hybrid X25519MLKEM768 first, then X25519, P-256 and P-384
    /// (a client sends key shares for X25519MLKEM768 and X25519, so that a server without
    /// ML-KEM picks X25519 without a HelloRetryRequest).
    ///
    /// # Errors
    /// An empty list, or a group the crypto provider does not implement.
    pub fn kx_groups(
        mut self,
        groups: impl IntoIterator<Item = NamedGroup>,
    ) -> Result<Self, Error> {
        let available = rustls::crypto::aws_lc_rs::ALL_KX_GROUPS;
        let mut chosen = Vec::new();
        for wanted in groups {
            let Some(found) = available.iter().find(|g| g.name() == wanted) else {
                return Err(Error::Config(format!(
                    "the key-exchange group {} is not available; these are: {}",
                    group_name(wanted),
                    names(available.iter().map(|g| group_name(g.name())))
                )));
            };
            chosen.push(*found);
        }
        if chosen.is_empty() {
            return Err(Error::Config(
                "the list of key-exchange groups is empty".into(),
            ));
        }
        self.kx_groups = Some(chosen);
        Ok(self)
    }

    /// The most plaintext bytes to put in one TLS record we send (Pike's
    /// `packet_max_size`), 27 to 16384. Default: 16384, the TLS maximum. Smaller records
    /// can lower latency on slow links at some cost in throughput. (The peer's records
    /// are not limited by this: rustls does not implement RFC 8449 negotiation.)
    ///
    /// # Errors
    /// A size outside 27..=16384.
    pub fn record_size_limit(mut self, bytes: usize) -> Result<Self, Error> {
        if !(MIN_RECORD_SIZE..=MAX_RECORD_SIZE).contains(&bytes) {
            return Err(Error::Config(format!(
                "a record size limit of {bytes} bytes is out of range: \
                 {MIN_RECORD_SIZE} to {MAX_RECORD_SIZE}"
            )));
        }
        self.max_fragment_size = Some(bytes + RECORD_HEADER_LEN);
        Ok(self)
    }

    // ----- sessions ----------------------------------------------------------------------

    /// How many servers a client remembers a session for, to resume it when it reconnects
    /// to the same server name with this context (Pike's client side of `use_cache`).
    /// Default 256; 0 turns automatic resumption off (sessions passed to
    /// [`SslFile::connect_with_session`](crate::SslFile::connect_with_session) still
    /// resume).
    pub fn client_session_cache(mut self, servers: usize) -> Self {
        self.client_session_cache = servers;
        self
    }

    /// How many sessions a server keeps for resumption by session ID (TLS 1.2) or, when
    /// tickets are off, by stateful TLS 1.3 tickets (Pike's `max_sessions`). Default 256;
    /// 0 keeps none.
    pub fn server_session_cache(mut self, sessions: usize) -> Self {
        self.server_session_cache = sessions;
        self
    }

    /// Whether a server issues session tickets (RFC 5077 for TLS 1.2, and stateless
    /// TLS 1.3 tickets), encrypted with keys that rotate every 6 hours. Default: true.
    /// With tickets off and a server session cache of 0, the server resumes nothing.
    pub fn session_tickets(mut self, enabled: bool) -> Self {
        self.session_tickets = enabled;
        self
    }

    // ----- build -------------------------------------------------------------------------

    /// Ends every connection made with this context whose handshake has not completed
    /// `timeout` after it started (`None`: no limit). Default:
    /// [`Context::DEFAULT_HANDSHAKE_TIMEOUT`] (30 s), so that
    /// [`SslFile::client`](crate::SslFile::client) against a server that accepts TCP but
    /// never answers cannot block for ever. A file can change its own with
    /// [`SslFile::set_handshake_timeout`](crate::SslFile::set_handshake_timeout); a
    /// [`Port`](crate::Port) gives its connections the port's.
    ///
    /// ```
    /// use std::time::Duration;
    /// let ctx = sslfile::Context::builder()
    ///     .handshake_timeout(Some(Duration::from_secs(5)))
    ///     .build()?;
    /// assert_eq!(ctx.handshake_timeout(), Some(Duration::from_secs(5)));
    /// # Ok::<(), sslfile::Error>(())
    /// ```
    pub fn handshake_timeout(mut self, timeout: Option<std::time::Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Writes the TLS secrets of every connection made with this context to `path`
    /// (appending; created if missing), in the `SSLKEYLOGFILE` format Wireshark reads: a
    /// capture of the traffic can then be decrypted. For debugging only: whoever reads the
    /// file reads the traffic.
    ///
    /// # Errors
    /// A file that cannot be opened for appending.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let ctx = sslfile::Context::builder()
    ///     .key_log_file(dir.path().join("keys.log"))?
    ///     .build()?;
    /// # drop(ctx);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn key_log_file(mut self, path: impl AsRef<std::path::Path>) -> Result<Self, Error> {
        self.key_log = Some(Arc::new(super::key_log::KeyLogFile::open(path.as_ref())?));
        Ok(self)
    }

    /// Honours `SSLKEYLOGFILE`, as curl and browsers do: if the variable names a file, the
    /// TLS secrets go there (see [`key_log_file`](Self::key_log_file)); if it is unset,
    /// nothing is logged. Only when asked: a context never reads the variable by itself.
    ///
    /// # Errors
    /// A file that cannot be opened for appending.
    pub fn key_log_from_env(self) -> Result<Self, Error> {
        match std::env::var_os("SSLKEYLOGFILE") {
            Some(path) if !path.is_empty() => self.key_log_file(path),
            _ => Ok(self),
        }
    }

    /// Finishes the context.
    ///
    /// # Errors
    /// An expired certificate (unless allowed), cipher suites that leave a version of the
    /// range without a suite, client authentication without authorities to verify client
    /// certificates against, or a failure to set up ticket keys.
    pub fn build(self) -> Result<Context, Error> {
        let recipe = self.recipe();
        if !self.allow_expired {
            let now = UnixTime::now();
            for (chain, what) in &self.chains {
                load::check_not_expired(&chain.cert, what, now)?;
            }
        }
        let provider = Arc::new(self.provider()?);
        let explicit_trust = !self.roots.is_empty() || self.web_roots;
        let mut roots = self.roots;
        if !explicit_trust || self.web_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        let roots = Arc::new(roots);
        let revocation = Arc::new(self.revocation);
        let chains = ChainFinder::new(
            roots.clone(),
            self.exact_roots
                .certificates()
                .iter()
                .chain(&self.system_roots),
            &provider,
            revocation.clone(),
            PeerRole::Server,
        );
        let verifier = server_verifier(
            &roots,
            self.exact_roots.clone(),
            chains,
            &provider,
            self.leniency,
            &revocation,
        )?;
        let verifier = checked_server(verifier, self.peer_check.as_ref());
        let client_verifier = match self.client_auth {
            ClientAuth::None => None,
            policy => {
                let (client_roots, exact) = if !self.client_roots.is_empty() {
                    (Arc::new(self.client_roots), self.exact_client_roots)
                } else if explicit_trust {
                    (roots.clone(), self.exact_roots)
                } else {
                    return Err(Error::Config(format!(
                        "ClientAuth::{policy:?} needs the CAs that issue client certificates: \
                         add them with client_ca_pem (or trust_pem); the bundled web roots \
                         are not used for client certificates unless asked for with \
                         trust_web_roots"
                    )));
                };
                let chains = ChainFinder::new(
                    client_roots.clone(),
                    exact.certificates().iter().chain(&self.system_roots),
                    &provider,
                    revocation.clone(),
                    PeerRole::Client,
                );
                let verifier =
                    client_verifier(client_roots, exact, chains, &provider, policy, &revocation)?;
                Some(checked_client(verifier, self.peer_check.as_ref()))
            }
        };
        let mut certs = CertResolver {
            choose: self.choose_certificate,
            ..CertResolver::default()
        };
        for (chain, _) in self.chains {
            let names = load::dns_names(&chain.cert[0]);
            certs.add(chain, names);
        }
        let certs = Arc::new(certs);
        let server_sessions: Arc<dyn StoresServerSessions> = match self.server_session_cache {
            0 => Arc::new(NoServerSessionStorage {}),
            n => ServerSessionMemoryCache::new(n),
        };
        // Early data needs single-use tickets from the session cache (see `early_data`).
        let early_data_served = self.tuning.early_data > 0 && certs.serves();
        if early_data_served && self.server_session_cache == 0 {
            return Err(Error::Config(
                "a server with early data needs a session cache for its single-use tickets: \
                 keep server_session_cache above 0, or turn early data off"
                    .into(),
            ));
        }
        let ticketer: Option<Arc<dyn ProducesTickets>> = match self.session_tickets
            && !early_data_served
        {
            true => Some(
                rustls::crypto::aws_lc_rs::Ticketer::new()
                    .map_err(|e| Error::Config(format!("cannot make session ticket keys: {e}")))?,
            ),
            false => None,
        };
        let resumes = ticketer.is_some() || self.server_session_cache > 0;
        Ok(Context {
            inner: Arc::new(Inner {
                client_cert: Arc::new(ClientCertResolver {
                    chains: certs.clone(),
                }),
                certs,
                verifier,
                client_auth: self.client_auth,
                client_verifier,
                trust_anchors: roots.len(),
                alpn: self.alpn,
                versions: self.versions,
                server_prefers_own_order: self.cipher_suites.is_some(),
                max_fragment_size: self.max_fragment_size,
                client_sessions: Arc::new(ClientSessionCache::new(self.client_session_cache)),
                server_sessions,
                ticketer,
                send_tls13_tickets: if resumes { 2 } else { 0 },
                handshake_timeout: self.handshake_timeout,
                key_log: self.key_log,
                tuning: self.tuning,
                provider,
                client_configs: Default::default(),
                server_configs: Default::default(),
                recipe,
            }),
        })
    }

    /// A builder with this one's settings and none of its sources (chains, OCSP
    /// responses, anchors, client CAs, CRLs): what [`Context::reload`] starts from.
    pub(super) fn settings(&self) -> ContextBuilder {
        ContextBuilder {
            allow_expired: self.allow_expired,
            web_roots: self.web_roots,
            leniency: self.leniency,
            client_auth: self.client_auth,
            alpn: self.alpn.clone(),
            versions: self.versions,
            cipher_suites: self.cipher_suites.clone(),
            kx_groups: self.kx_groups.clone(),
            crypto_provider: self.crypto_provider.clone(),
            max_fragment_size: self.max_fragment_size,
            client_session_cache: self.client_session_cache,
            server_session_cache: self.server_session_cache,
            session_tickets: self.session_tickets,
            handshake_timeout: self.handshake_timeout,
            key_log: self.key_log.clone(),
            tuning: self.tuning,
            choose_certificate: self.choose_certificate.clone(),
            peer_check: self.peer_check.clone(),
            revocation: self.revocation.settings(),
            ..ContextBuilder::default()
        }
    }

    /// The provider given to [`crypto_provider`](Self::crypto_provider), else aws-lc-rs's.
    fn base_provider(&self) -> CryptoProvider {
        self.crypto_provider
            .as_deref()
            .cloned()
            .unwrap_or_else(default_provider)
    }

    /// The crypto provider with the chosen suites and groups, checked against the range.
    fn provider(&self) -> Result<CryptoProvider, Error> {
        let mut provider = self.base_provider();
        if let Some(suites) = &self.cipher_suites {
            provider.cipher_suites = suites.clone();
        }
        if let Some(groups) = &self.kx_groups {
            provider.kx_groups = groups.clone();
        }
        for (version, rustls_version) in [
            (TlsVersion::Tls1_2, rustls::ProtocolVersion::TLSv1_2),
            (TlsVersion::Tls1_3, rustls::ProtocolVersion::TLSv1_3),
        ] {
            let in_range = self.versions.min <= version && version <= self.versions.max;
            let has_suite = provider
                .cipher_suites
                .iter()
                .any(|s| s.version().version == rustls_version);
            if in_range && !has_suite {
                return Err(Error::Config(format!(
                    "no {version} cipher suite was chosen, but the version range includes \
                     {version}: add one, or narrow the range with versions()"
                )));
            }
        }
        Ok(provider)
    }
}

/// The aws-lc-rs provider with its defaults, independent of any process-wide default.
fn default_provider() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

/// Adds a trust anchor the user named, remembering it for exact trust too.
fn add_root(
    roots: &mut RootCertStore,
    exact: &mut ExactAnchors,
    cert: CertificateDer<'static>,
    what: &str,
) -> Result<(), Error> {
    roots.add(cert.clone()).map_err(|e| {
        Error::Config(format!(
            "a certificate in {what} cannot be a trust anchor: {}",
            anchor_problem(&e)
        ))
    })?;
    exact.add(cert);
    Ok(())
}

/// Why a certificate cannot be a trust anchor, as a person reads it (webpki's reasons
/// are enum names).
fn anchor_problem(error: &rustls::Error) -> &'static str {
    match error {
        rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding) => {
            "it is not a well-formed X.509 certificate (bad DER encoding)"
        }
        _ => {
            "it cannot be parsed as an X.509 certificate (malformed, or an algorithm or \
             extension that is not supported)"
        }
    }
}

/// The server-certificate verifier: webpki's, accepting the exactly trusted, relaxed as a
/// `danger_` option asks.
fn server_verifier(
    roots: &Arc<RootCertStore>,
    exact: ExactAnchors,
    chains: ChainFinder,
    provider: &Arc<CryptoProvider>,
    leniency: Option<Leniency>,
    revocation: &Revocation,
) -> Result<Arc<dyn ServerCertVerifier>, Error> {
    let builder = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone());
    let webpki = revocation
        .server_builder(builder)
        .build()
        .map_err(|e| Error::Config(format!("certificate verifier: {e}")))?;
    let trusting: Arc<dyn ServerCertVerifier> =
        Arc::new(ExactTrustVerifier::new(webpki, exact, chains));
    Ok(match leniency {
        None => trusting,
        Some(leniency) => Arc::new(LenientVerifier {
            inner: trusting,
            provider: provider.clone(),
            leniency,
        }),
    })
}

/// The client-certificate verifier: webpki's, accepting the exactly trusted.
fn client_verifier(
    roots: Arc<RootCertStore>,
    exact: ExactAnchors,
    chains: ChainFinder,
    provider: &Arc<CryptoProvider>,
    policy: ClientAuth,
    revocation: &Revocation,
) -> Result<Arc<dyn ClientCertVerifier>, Error> {
    let builder = revocation.client_builder(WebPkiClientVerifier::builder_with_provider(
        roots,
        provider.clone(),
    ));
    let builder = match policy {
        ClientAuth::Optional => builder.allow_unauthenticated(),
        _ => builder,
    };
    let webpki = builder
        .build()
        .map_err(|e| Error::Config(format!("client certificate verifier: {e}")))?;
    Ok(Arc::new(ExactTrustVerifier::new(webpki, exact, chains)))
}

fn names(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// A cipher suite's registered name (`TLS13_AES_128_GCM_SHA256`), or its number.
fn suite_name(suite: CipherSuite) -> String {
    suite
        .as_str()
        .map_or_else(|| format!("0x{:04x}", u16::from(suite)), str::to_owned)
}

/// A key-exchange group's registered name (`X25519`), or its number.
fn group_name(group: NamedGroup) -> String {
    group
        .as_str()
        .map_or_else(|| format!("0x{:04x}", u16::from(group)), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sni_names_are_indexed_and_the_first_chain_is_default() {
        let cert =
            rcgen::generate_simple_self_signed(vec!["One.test".into(), "two.test".into()]).unwrap();
        let ctx = Context::builder()
            .certificate_chain_pem(
                cert.cert.pem().as_bytes(),
                cert.key_pair.serialize_pem().as_bytes(),
            )
            .unwrap()
            .build()
            .unwrap();
        assert!(ctx.inner.certs.by_name.contains_key("one.test"));
        assert!(ctx.inner.certs.by_name.contains_key("two.test"));
        assert!(ctx.inner.certs.default_chain().is_some());
    }

    #[test]
    fn record_size_limits_outside_the_range_are_refused() {
        for bad in [0, 26, 16385] {
            let err = Context::builder().record_size_limit(bad).unwrap_err();
            assert!(err.to_string().contains("out of range"), "{err}");
        }
        let ctx = Context::builder()
            .record_size_limit(512)
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(ctx.record_size_limit(), Some(512));
    }

    #[test]
    fn suites_must_cover_every_version_of_the_range() {
        let only13 = Context::builder()
            .cipher_suites([CipherSuite::TLS13_AES_128_GCM_SHA256])
            .unwrap();
        let err = only13.build().unwrap_err();
        assert!(
            err.to_string()
                .contains("no TLS 1.2 cipher suite was chosen"),
            "{err}"
        );
        let ok = Context::builder()
            .cipher_suites([CipherSuite::TLS13_AES_128_GCM_SHA256])
            .unwrap()
            .versions(TlsVersion::Tls1_3, TlsVersion::Tls1_3)
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(
            ok.cipher_suites(),
            vec![CipherSuite::TLS13_AES_128_GCM_SHA256]
        );
        let err = Context::builder()
            .cipher_suites([CipherSuite::TLS_RSA_WITH_AES_128_CBC_SHA])
            .unwrap_err();
        assert!(err.to_string().contains("is not available"), "{err}");
        let err = Context::builder()
            .kx_groups([NamedGroup::FFDHE2048])
            .unwrap_err();
        assert!(err.to_string().contains("X25519"), "{err}");
    }

    #[test]
    fn client_auth_without_authorities_is_refused() {
        let err = Context::builder()
            .client_auth(ClientAuth::Required)
            .build()
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("needs the CAs that issue client certificates"),
            "{err}"
        );
        // Explicitly asked-for web roots are accepted.
        Context::builder()
            .client_auth(ClientAuth::Optional)
            .trust_web_roots()
            .build()
            .unwrap();
    }
}
