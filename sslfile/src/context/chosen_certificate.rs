//! A server that chooses its certificate per connection, while it serves:
//! [`ContextBuilder::certificate_resolver`], with what it sees of the client
//! ([`ClientHelloInfo`]) and what it answers ([`CertifiedChain`]).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;

use super::{load, ContextBuilder};
use crate::error::Error;

/// A certificate chain with its private key, checked to belong together: what a
/// [certificate resolver](ContextBuilder::certificate_resolver) presents.
///
/// Cheap to clone (an `Arc`): load it once, hand it out for many connections.
#[derive(Clone)]
pub struct CertifiedChain {
    pub(crate) key: Arc<CertifiedKey>,
}

impl fmt::Debug for CertifiedChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertifiedChain")
            .field("certificates", &self.key.cert.len())
            .finish()
    }
}

impl CertifiedChain {
    /// A chain (leaf first) and its key, both PEM, with the errors of
    /// [`ContextBuilder::certificate_chain_pem`].
    pub fn from_pem(chain: &[u8], key: &[u8]) -> Result<CertifiedChain, Error> {
        let (chain_what, key_what) = ("the certificate PEM", "the key PEM");
        let certs = load::certificates(chain, chain_what)?;
        let key = load::private_key(key, key_what)?;
        CertifiedChain::new(certs, key, chain_what, key_what)
    }

    /// Like [`from_pem`](Self::from_pem), from files (every error names the file at
    /// fault): for a server that reloads its certificate when the files change.
    pub fn from_pem_files(
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<CertifiedChain, Error> {
        let (chain, key) = (chain.as_ref(), key.as_ref());
        let (chain_what, key_what) = (chain.display().to_string(), key.display().to_string());
        let certs = load::certificates(&load::read_file(chain)?, &chain_what)?;
        let key = load::private_key(&load::read_file(key)?, &key_what)?;
        CertifiedChain::new(certs, key, &chain_what, &key_what)
    }

    fn new(
        certs: Vec<CertificateDer<'static>>,
        key: rustls::pki_types::PrivateKeyDer<'static>,
        chain_what: &str,
        key_what: &str,
    ) -> Result<CertifiedChain, Error> {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let key = load::certified_key(certs, key, chain_what, key_what, &provider)?;
        Ok(CertifiedChain { key })
    }

    /// The certificates, leaf first.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.key.cert
    }
}

/// What a server knows of a client when it chooses a certificate: the ClientHello's server
/// name (SNI), ALPN protocols and signature schemes.
#[derive(Debug)]
pub struct ClientHelloInfo<'a> {
    server_name: Option<&'a str>,
    alpn: Vec<&'a [u8]>,
    signature_schemes: &'a [SignatureScheme],
}

impl<'a> ClientHelloInfo<'a> {
    pub(crate) fn from_hello(hello: &'a rustls::server::ClientHello<'_>) -> ClientHelloInfo<'a> {
        ClientHelloInfo {
            server_name: hello.server_name(),
            alpn: hello.alpn().map(Iterator::collect).unwrap_or_default(),
            signature_schemes: hello.signature_schemes(),
        }
    }

    /// The name the client asked for (SNI); `None` when it sent none (connecting by IP
    /// address, or an old client).
    pub fn server_name(&self) -> Option<&str> {
        self.server_name
    }

    /// The ALPN protocols the client offers, in its order (empty: none offered).
    pub fn alpn_protocols(&self) -> &[&'a [u8]] {
        &self.alpn
    }

    /// The signature schemes the client can verify: a chain whose key signs with none of
    /// them fails the handshake.
    pub fn signature_schemes(&self) -> &[SignatureScheme] {
        self.signature_schemes
    }
}

/// The function a context asks for each connection's certificate.
type ChooseFn = dyn Fn(&ClientHelloInfo<'_>) -> Option<CertifiedChain> + Send + Sync;

/// [`ChooseFn`] as the context keeps it.
#[derive(Clone)]
pub(crate) struct CertificateChooser(pub(crate) Arc<ChooseFn>);

impl fmt::Debug for CertificateChooser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CertificateChooser")
    }
}

impl ContextBuilder {
    /// Chooses the server's certificate for each connection with `choose`, called with what
    /// the ClientHello says (SNI, ALPN, signature schemes) — Go's `GetCertificate`,
    /// Python's `sni_callback`. It may return a chain it loaded at any time (a renewed
    /// certificate, one for a name added while serving); `None` falls back to the chains
    /// added with [`certificate_chain_pem`](Self::certificate_chain_pem) and friends, and
    /// without those the handshake fails with an `unrecognized_name` alert. A context
    /// with a resolver may serve without chains of its own.
    ///
    /// `choose` runs inside the handshake, on whatever thread drives it: keep it quick
    /// (look up, don't load files).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use std::sync::{Arc, RwLock};
    /// use sslfile::{CertifiedChain, Context, File, SslFile};
    ///
    /// let made = rcgen::generate_simple_self_signed(vec!["a.test".into()]).unwrap();
    /// let chain = CertifiedChain::from_pem(
    ///     made.cert.pem().as_bytes(),
    ///     made.key_pair.serialize_pem().as_bytes(),
    /// )?;
    /// // What a reload would replace.
    /// let current = Arc::new(RwLock::new(chain));
    /// let serving = current.clone();
    /// let server_ctx = Context::builder()
    ///     .certificate_resolver(move |hello| {
    ///         (hello.server_name() == Some("a.test")).then(|| serving.read().unwrap().clone())
    ///     })
    ///     .build()?;
    /// let client_ctx = Context::builder().trust_pem(made.cert.pem().as_bytes())?.build()?;
    /// let (a, b) = File::pipe()?;
    /// let server = std::thread::spawn(move || SslFile::server(b, &server_ctx).map(|_| ()));
    /// SslFile::client(a, &client_ctx, "a.test")?;
    /// server.join().unwrap()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn certificate_resolver(
        mut self,
        choose: impl Fn(&ClientHelloInfo<'_>) -> Option<CertifiedChain> + Send + Sync + 'static,
    ) -> Self {
        self.choose_certificate = Some(CertificateChooser(Arc::new(choose)));
        self
    }
}
