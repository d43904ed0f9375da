//! [`Context`]: the shared TLS configuration (Pike's `SSL.Context`).
//!
//! One `Context` serves both roles: it holds the certificate chains a server presents (and
//! a client presents when asked), the roots a client trusts, the client-certificate policy
//! of a server, the ALPN list, the version range, cipher suites and key-exchange groups,
//! the record size limit and the session caches. The rustls `ClientConfig`/`ServerConfig`
//! for each version range are built on first use and cached; everything that decides
//! whether a session may resume (the certificate verifier, the client-certificate
//! resolver, the caches, the ticket keys) is built once per context and shared by them, so
//! connections that ask for a narrower range (Pike's `min_version`/`max_version` arguments
//! of `create`) still resume each other's sessions.
//!
//! The builder is in `builder.rs`, input parsing and its error messages in `load.rs`.

mod builder;
mod chosen_certificate;
mod load;
mod ocsp;
mod peer_check;
mod reload;
mod revocation;

use std::fmt;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::ServerCertVerifier;
use rustls::client::{ResolvesClientCert, Resumption};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ProducesTickets, StoresServerSessions};
use rustls::{ClientConfig, ServerConfig};

mod key_log;
mod tuning;

pub(crate) use tuning::Tuning;

pub use builder::ContextBuilder;
pub(crate) use chosen_certificate::CertificateChooser;
pub use chosen_certificate::{CertifiedChain, ClientHelloInfo};
pub(crate) use load::utc_date;
pub use peer_check::PeerInfo;
pub(crate) use revocation::Revocation;

use crate::error::Error;
use crate::resolver::CertResolver;
use crate::session::{ClientSessionCache, ConnectionSessions, Session};
use crate::version::{TlsVersion, VersionRange};

/// Whether a server asks clients for a certificate (Pike's `auth_level`).
///
/// Set with [`ContextBuilder::client_auth`]; the authorities that issue acceptable client
/// certificates come from [`ContextBuilder::client_ca_pem`] (or the context's trust
/// anchors). The client's chain is then available from
/// [`SslFile::peer_certificates`](crate::SslFile::peer_certificates) on the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ClientAuth {
    /// Do not ask for a client certificate (the default; Pike's `AUTHLEVEL_none`).
    #[default]
    None,
    /// Ask for one; accept clients that send none, but verify any that is sent
    /// (Pike's `AUTHLEVEL_ask`).
    Optional,
    /// Require a valid client certificate; a client without one fails the handshake
    /// (Pike's `AUTHLEVEL_require`).
    Required,
}

/// Shared, immutable TLS configuration for clients and servers. Cheap to clone (an `Arc`),
/// `Send` and `Sync`; one context may serve as client and server at the same time.
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
    client_cert: Arc<dyn ResolvesClientCert>,
    verifier: Arc<dyn ServerCertVerifier>,
    client_auth: ClientAuth,
    client_verifier: Option<Arc<dyn ClientCertVerifier>>,
    trust_anchors: usize,
    alpn: Vec<Vec<u8>>,
    versions: VersionRange,
    server_prefers_own_order: bool,
    max_fragment_size: Option<usize>,
    client_sessions: Arc<ClientSessionCache>,
    server_sessions: Arc<dyn StoresServerSessions>,
    ticketer: Option<Arc<dyn ProducesTickets>>,
    send_tls13_tickets: usize,
    client_configs: [OnceLock<Arc<ClientConfig>>; 3],
    server_configs: [OnceLock<Arc<ServerConfig>>; 3],
    handshake_timeout: Option<std::time::Duration>,
    key_log: Option<Arc<dyn rustls::KeyLog>>,
    tuning: Tuning,
    /// What [`Context::reload`] builds from.
    recipe: reload::Recipe,
}

/// What a client connection is made from.
pub(crate) struct ClientSetup {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) server_name: ServerName<'static>,
    pub(crate) sessions: Arc<ConnectionSessions>,
    pub(crate) tuning: Tuning,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("certificate_chains", &self.inner.certs.all.len())
            .field("trust_anchors", &self.inner.trust_anchors)
            .field("client_auth", &self.inner.client_auth)
            .field("alpn", &self.inner.alpn)
            .field("versions", &self.inner.versions)
            .field("cipher_suites", &self.cipher_suites())
            .field("record_size_limit", &self.record_size_limit())
            .finish()
    }
}

impl Context {
    /// Starts building a context. See [`ContextBuilder`] for the defaults.
    pub fn builder() -> ContextBuilder {
        ContextBuilder::default()
    }

    /// True if the context has a certificate chain: to present as a server, and as a
    /// client when a server asks for one.
    pub fn has_certificate(&self) -> bool {
        !self.inner.certs.all.is_empty()
    }

    /// The ALPN protocols offered (client) or accepted (server), in preference order.
    pub fn alpn_protocols(&self) -> &[Vec<u8>] {
        &self.inner.alpn
    }

    /// The handshake timeout of a context that was given none (see
    /// [`ContextBuilder::handshake_timeout`]).
    pub const DEFAULT_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

    /// The handshake timeout of the connections made with this context.
    pub fn handshake_timeout(&self) -> Option<std::time::Duration> {
        self.inner.handshake_timeout
    }

    /// The context's version range: `(min, max)`.
    pub fn versions(&self) -> (TlsVersion, TlsVersion) {
        (self.inner.versions.min, self.inner.versions.max)
    }

    /// The server's client-certificate policy.
    pub fn client_auth(&self) -> ClientAuth {
        self.inner.client_auth
    }

    /// How many trust anchors (root certificates) the context trusts.
    pub fn trust_anchor_count(&self) -> usize {
        self.inner.trust_anchors
    }

    /// The cipher suites that may be negotiated, most preferred first.
    pub fn cipher_suites(&self) -> Vec<rustls::CipherSuite> {
        let suites = &self.inner.provider.cipher_suites;
        suites.iter().map(|s| s.suite()).collect()
    }

    /// The key-exchange groups that may be negotiated, most preferred first.
    pub fn kx_groups(&self) -> Vec<rustls::NamedGroup> {
        let groups = &self.inner.provider.kx_groups;
        groups.iter().map(|g| g.name()).collect()
    }

    /// The most plaintext bytes sent in one TLS record (`None`: the TLS maximum, 16 KiB).
    pub fn record_size_limit(&self) -> Option<usize> {
        self.inner
            .max_fragment_size
            .map(|n| n - builder::RECORD_HEADER_LEN)
    }

    pub(crate) fn default_versions(&self) -> VersionRange {
        self.inner.versions
    }

    /// Everything a client connection to `server_name` needs: the shared configuration for
    /// `range`, with this connection's own session store (see `session.rs`).
    ///
    /// # Errors
    /// A name that is neither a DNS name nor an IP address; a session for another name.
    pub(crate) fn client_setup(
        &self,
        range: VersionRange,
        server_name: &str,
        session: Option<&Session>,
    ) -> Result<ClientSetup, Error> {
        let name = ServerName::try_from(server_name.to_string()).map_err(|_| {
            Error::Config(format!(
                "{server_name:?} is not a valid DNS name or IP address"
            ))
        })?;
        if let Some(session) = session {
            if !session.is_for(&name) {
                return Err(Error::Config(format!(
                    "the session is for {}, not {server_name}: a session resumes only \
                     with the server it was made with",
                    session.server_name()
                )));
            }
        }
        let sessions = Arc::new(ConnectionSessions::new(
            self.inner.client_sessions.clone(),
            name.clone(),
            session.cloned(),
            range.max == TlsVersion::Tls1_3,
        ));
        let mut config = (*self.client_config(range)?).clone();
        config.resumption = Resumption::store(sessions.clone());
        Ok(ClientSetup {
            config: Arc::new(config),
            server_name: name,
            sessions,
            tuning: self.inner.tuning,
        })
    }

    /// The rustls client configuration for a version range (built once, then shared).
    pub(crate) fn client_config(&self, range: VersionRange) -> Result<Arc<ClientConfig>, Error> {
        if let Some(config) = self.inner.client_configs[range.index()].get() {
            return Ok(config.clone());
        }
        let mut config = ClientConfig::builder_with_provider(self.inner.provider.clone())
            .with_protocol_versions(range.rustls_versions())
            .map_err(|e| Error::Config(format!("protocol versions: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(self.inner.verifier.clone())
            .with_client_cert_resolver(self.inner.client_cert.clone());
        config.alpn_protocols = self.inner.alpn.clone();
        config.max_fragment_size = self.inner.max_fragment_size;
        config.enable_early_data = self.inner.tuning.early_data > 0;
        if let Some(key_log) = &self.inner.key_log {
            config.key_log = key_log.clone();
        }
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
        if !self.inner.certs.serves() {
            return Err(Error::Config(
                "a server needs a certificate: add one with \
                 ContextBuilder::certificate_chain_pem_files (or _pem, _der)"
                    .into(),
            ));
        }
        let builder = ServerConfig::builder_with_provider(self.inner.provider.clone())
            .with_protocol_versions(range.rustls_versions())
            .map_err(|e| Error::Config(format!("protocol versions: {e}")))?;
        let builder = match &self.inner.client_verifier {
            Some(verifier) => builder.with_client_cert_verifier(verifier.clone()),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(self.inner.certs.clone());
        config.alpn_protocols = self.inner.alpn.clone();
        config.max_fragment_size = self.inner.max_fragment_size;
        config.ignore_client_order = self.inner.server_prefers_own_order;
        config.session_storage = self.inner.server_sessions.clone();
        if let Some(ticketer) = &self.inner.ticketer {
            config.ticketer = ticketer.clone();
        }
        config.send_tls13_tickets = self.inner.send_tls13_tickets;
        config.max_early_data_size = self.inner.tuning.early_data;
        if let Some(key_log) = &self.inner.key_log {
            config.key_log = key_log.clone();
        }
        let config = Arc::new(config);
        Ok(self.inner.server_configs[range.index()]
            .get_or_init(|| config)
            .clone())
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
            "invalid TLS configuration: the private key in the key PEM does not belong to \
             the certificate in the certificate PEM"
        );
    }

    #[test]
    fn empty_and_encrypted_inputs_say_what_is_wrong() {
        let (cert, key) = self_signed(&["a.test"]);
        let err = Context::builder()
            .certificate_chain_pem(b"", key.as_bytes())
            .unwrap_err();
        assert!(
            err.to_string().contains("the certificate PEM is empty"),
            "{err}"
        );
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
    fn configs_are_cached_per_version_range() {
        let ctx = Context::builder().build().unwrap();
        let a = ctx.client_config(VersionRange::default()).unwrap();
        let b = ctx.client_config(VersionRange::default()).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let only13 = VersionRange::new(TlsVersion::Tls1_3, TlsVersion::Tls1_3).unwrap();
        let c = ctx.client_config(only13).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        // The client-certificate resolver (which, with the verifier, decides whether a
        // session may resume) is shared between the ranges.
        assert!(Arc::ptr_eq(
            &a.client_auth_cert_resolver,
            &c.client_auth_cert_resolver
        ));
    }

    #[test]
    fn a_session_for_another_name_is_refused() {
        let ctx = Context::builder().build().unwrap();
        let range = VersionRange::default();
        let setup = ctx.client_setup(range, "a.test", None).unwrap();
        // A session made by a connection to a.test (empty, but named).
        let session = Session::new(ServerName::try_from("a.test").unwrap());
        assert!(ctx.client_setup(range, "a.test", Some(&session)).is_ok());
        let err = ctx
            .client_setup(range, "b.test", Some(&session))
            .err()
            .unwrap();
        assert!(err
            .to_string()
            .contains("the session is for a.test, not b.test"));
        drop(setup);
    }
}
