//! [`Context::reload`]: the same context built again from the files it was made from.
//!
//! A builder remembers, in order, every certificate chain, OCSP response, trust anchor,
//! client CA and CRL it was given (a [`Source`]): files by path, everything else as it was
//! loaded. [`ContextBuilder::build`] keeps that list and a copy of the other settings in
//! the context; `reload` starts from those settings and takes the sources again in the
//! same order, reading each file anew, so a renewed certificate, a fresh OCSP response or
//! CRL, or an edited trust bundle is in the new context and nothing else changes.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};
use rustls::sign::CertifiedKey;

use super::{Context, ContextBuilder};
use crate::error::Error;

/// One piece of identity or trust a builder was given, as it was given.
#[derive(Clone)]
pub(super) enum Source {
    /// A chain and key given in memory (PEM or DER), kept as loaded.
    Chain(Arc<CertifiedKey>, String),
    /// A chain and key read from files.
    ChainFiles { chain: PathBuf, key: PathBuf },
    /// An OCSP response given in memory.
    Ocsp(Vec<u8>),
    /// An OCSP response read from a file.
    OcspFile(PathBuf),
    /// Trust anchors from a PEM bundle in memory.
    TrustPem(Vec<u8>),
    /// Trust anchors from a PEM file.
    TrustPemFile(PathBuf),
    /// Trust anchors from every PEM file of a directory.
    TrustPemDir(PathBuf),
    /// One DER trust anchor.
    TrustDer(CertificateDer<'static>),
    /// The operating system's trust store (read again: it is files too).
    SystemRoots,
    /// Client CAs from a PEM bundle in memory.
    ClientCaPem(Vec<u8>),
    /// Client CAs from a PEM file.
    ClientCaPemFile(PathBuf),
    /// One DER client CA.
    ClientCaDer(CertificateDer<'static>),
    /// CRLs from PEM in memory.
    CrlPem(Vec<u8>),
    /// CRLs from a PEM file.
    CrlPemFile(PathBuf),
    /// One DER CRL.
    CrlDer(CertificateRevocationListDer<'static>),
}

impl std::fmt::Debug for Source {
    /// The kind of source and its file, never its bytes (a key is among them).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Chain(_, what) => write!(f, "chain from {what}"),
            Source::ChainFiles { chain, key } => {
                write!(
                    f,
                    "chain file {} with key file {}",
                    chain.display(),
                    key.display()
                )
            }
            Source::Ocsp(_) => f.write_str("OCSP response in memory"),
            Source::OcspFile(path) => write!(f, "OCSP response file {}", path.display()),
            Source::TrustPem(_) | Source::TrustDer(_) => f.write_str("trust anchors in memory"),
            Source::TrustPemFile(path) => write!(f, "trust file {}", path.display()),
            Source::TrustPemDir(dir) => write!(f, "trust directory {}", dir.display()),
            Source::SystemRoots => f.write_str("the system trust store"),
            Source::ClientCaPem(_) | Source::ClientCaDer(_) => f.write_str("client CAs in memory"),
            Source::ClientCaPemFile(path) => write!(f, "client CA file {}", path.display()),
            Source::CrlPem(_) | Source::CrlDer(_) => f.write_str("CRLs in memory"),
            Source::CrlPemFile(path) => write!(f, "CRL file {}", path.display()),
        }
    }
}

/// What a context is rebuilt from: its builder's settings without any source, and the
/// sources in the order they were given.
pub(super) struct Recipe {
    pub(super) settings: ContextBuilder,
    pub(super) sources: Vec<Source>,
}

impl ContextBuilder {
    /// Takes `source` again as it was taken the first time (each call records it anew).
    fn take_again(mut self, source: &Source) -> Result<Self, Error> {
        match source.clone() {
            Source::Chain(chain, what) => {
                self.chains.push((chain.clone(), what.clone()));
                self.sources.push(Source::Chain(chain, what));
                Ok(self)
            }
            Source::ChainFiles { chain, key } => self.certificate_chain_pem_files(chain, key),
            Source::Ocsp(response) => self.ocsp_response_der(response),
            Source::OcspFile(path) => self.ocsp_response_file(path),
            Source::TrustPem(pem) => self.trust_pem(&pem),
            Source::TrustPemFile(path) => self.trust_pem_file(path),
            Source::TrustPemDir(dir) => self.trust_pem_dir(dir),
            Source::TrustDer(cert) => self.trust_der(cert),
            Source::SystemRoots => self.trust_system_roots(),
            Source::ClientCaPem(pem) => self.client_ca_pem(&pem),
            Source::ClientCaPemFile(path) => self.client_ca_pem_file(path),
            Source::ClientCaDer(cert) => self.client_ca_der(cert),
            Source::CrlPem(pem) => self.trust_crl_pem(&pem),
            Source::CrlPemFile(path) => self.trust_crl_pem_file(path),
            Source::CrlDer(crl) => self.trust_crl_der(crl),
        }
    }

    /// What [`Context::reload`] starts from: this builder's settings and its sources.
    pub(super) fn recipe(&self) -> Recipe {
        Recipe {
            settings: self.settings(),
            sources: self.sources.clone(),
        }
    }
}

impl Context {
    /// The same context built again, reading anew every file it was made from: the
    /// certificate chains and keys ([`certificate_chain_pem_files`]), their OCSP responses
    /// ([`ocsp_response_file`]), trust files and directories, client CA files, CRL files
    /// and the system trust store. Everything given in memory and every other setting
    /// (ALPN, versions, suites, client authentication, resolver, checks, key log, buffer
    /// limits) stays as it was; chains keep their order, so the default certificate is
    /// still the first one added.
    ///
    /// This context is not changed: connections made with it keep it, and a server puts
    /// the new one in service for new connections with
    /// [`Port::set_context`](crate::Port::set_context) (what a server does on `SIGHUP`).
    /// The new context has session caches and ticket keys of its own: clients resume
    /// sessions made before the reload with a full handshake, under the new files.
    ///
    /// [`certificate_chain_pem_files`]: ContextBuilder::certificate_chain_pem_files
    /// [`ocsp_response_file`]: ContextBuilder::ocsp_response_file
    ///
    /// # Errors
    /// The first file that can no longer be read or used, with the same message as when
    /// the context was first built (a missing file, a key that does not match its
    /// certificate, an expired certificate…); this context remains usable.
    ///
    /// # Examples
    ///
    /// A certificate renewed in place is served once the context is reloaded:
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    /// let write = |name: &str| -> std::io::Result<()> {
    ///     let made = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    ///     std::fs::write(&cert, made.cert.pem())?;
    ///     std::fs::write(&key, made.key_pair.serialize_pem())
    /// };
    /// write("old.test")?;
    /// let ctx = sslfile::Context::builder()
    ///     .certificate_chain_pem_files(&cert, &key)?
    ///     .alpn_protocols(["h2"])
    ///     .build()?;
    /// write("new.test")?;
    /// let renewed = ctx.reload()?;
    /// assert_eq!(renewed.alpn_protocols(), ctx.alpn_protocols());
    ///
    /// std::fs::remove_file(&key)?;
    /// let err = renewed.reload().unwrap_err();
    /// assert!(err.to_string().contains("key.pem"), "{err}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reload(&self) -> Result<Context, Error> {
        let recipe = &self.inner.recipe;
        let mut builder = recipe.settings.settings();
        for source in &recipe.sources {
            builder = builder.take_again(source)?;
        }
        builder.build()
    }
}
