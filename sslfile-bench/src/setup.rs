//! The TLS material of a benchmark: one self-signed certificate (ECDSA P-256 or RSA-2048),
//! and both libraries' configurations for one protocol version, with the same crypto
//! provider (aws-lc-rs).

use std::fmt;
use std::io;
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};
use sslfile::{Context, TlsVersion};

/// The name the certificate is for, and that clients verify.
pub const SERVER_NAME: &str = "localhost";

/// The server's key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// ECDSA on P-256 (rcgen's default), signing with SHA-256.
    EcdsaP256,
    /// RSA with a 2048-bit modulus.
    Rsa2048,
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyType::EcdsaP256 => "ECDSA P-256",
            KeyType::Rsa2048 => "RSA-2048",
        })
    }
}

/// Certificates and configurations shared by every run.
pub struct Setup {
    /// The negotiated version.
    pub version: TlsVersion,
    /// The server's key type.
    pub key: KeyType,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The certificate's private key, PEM.
    pub key_pem: String,
    /// sslfile's server context.
    pub sslfile_server: Context,
    /// sslfile's client context, shared: its session cache lets handshakes resume.
    pub sslfile_client: Context,
    /// sslfile's client context without session cache: every handshake is a full one.
    pub sslfile_client_full: Context,
    /// rustls's server configuration.
    pub rustls_server: Arc<ServerConfig>,
    /// rustls's client configuration, shared (session resumption).
    pub rustls_client: Arc<ClientConfig>,
    /// rustls's client configuration with resumption off: every handshake is a full one.
    pub rustls_client_full: Arc<ClientConfig>,
}

impl Setup {
    /// Makes a certificate and both libraries' configurations for `version` only.
    pub fn new(version: TlsVersion, key: KeyType) -> io::Result<Setup> {
        let key_pair = match key {
            KeyType::EcdsaP256 => rcgen::KeyPair::generate(),
            KeyType::Rsa2048 => rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256),
        }
        .map_err(io::Error::other)?;
        let cert = rcgen::CertificateParams::new(vec![SERVER_NAME.to_string()])
            .and_then(|params| params.self_signed(&key_pair))
            .map_err(io::Error::other)?;
        Setup::from_pem(version, key, &cert.pem(), &key_pair.serialize_pem())
    }

    /// Both libraries' configurations for `version` only, with this certificate and key.
    pub fn from_pem(
        version: TlsVersion,
        key: KeyType,
        cert_pem: &str,
        key_pem: &str,
    ) -> io::Result<Setup> {
        let key_pair = rcgen::KeyPair::from_pem(key_pem).map_err(io::Error::other)?;
        let cert_der =
            CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(io::Error::other)?;
        let key_der = PrivatePkcs8KeyDer::from(key_pair.serialize_der());
        let sslfile_server = Context::builder()
            .certificate_chain_pem(cert_pem.as_bytes(), key_pem.as_bytes())
            .and_then(|b| b.versions(version, version))
            .and_then(|b| b.build())
            .map_err(io::Error::other)?;
        // Configured as sslfile's server context is by default: stateless tickets.
        let mut rustls_server = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions(version))
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(vec![cert_der.clone()], PrivateKeyDer::from(key_der))
            .map_err(io::Error::other)?;
        rustls_server.ticketer =
            rustls::crypto::aws_lc_rs::Ticketer::new().map_err(io::Error::other)?;
        let rustls_server = Arc::new(rustls_server);
        let sslfile_client = sslfile_client_for(version, cert_pem, None)?;
        let sslfile_client_full = sslfile_client_for(version, cert_pem, Some(0))?;
        let rustls_client = Arc::new(client_config_for(version, &cert_der)?);
        let mut full = client_config_for(version, &cert_der)?;
        full.resumption = Resumption::disabled();
        Ok(Setup {
            version,
            key,
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            sslfile_server,
            sslfile_client,
            sslfile_client_full,
            rustls_server,
            rustls_client,
            rustls_client_full: Arc::new(full),
        })
    }

    /// sslfile's client context: the resuming one or the one that never resumes.
    pub fn sslfile_client(&self, resume: bool) -> &Context {
        if resume {
            &self.sslfile_client
        } else {
            &self.sslfile_client_full
        }
    }

    /// rustls's client configuration: the resuming one or the one that never resumes.
    pub fn rustls_client(&self, resume: bool) -> Arc<ClientConfig> {
        if resume {
            self.rustls_client.clone()
        } else {
            self.rustls_client_full.clone()
        }
    }
}

fn sslfile_client_for(
    version: TlsVersion,
    cert_pem: &str,
    cache: Option<usize>,
) -> io::Result<Context> {
    let mut builder = Context::builder()
        .trust_pem(cert_pem.as_bytes())
        .and_then(|b| b.versions(version, version))
        .map_err(io::Error::other)?;
    if let Some(size) = cache {
        builder = builder.client_session_cache(size);
    }
    builder.build().map_err(io::Error::other)
}

fn client_config_for(
    version: TlsVersion,
    cert: &CertificateDer<'static>,
) -> io::Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(cert.clone()).map_err(io::Error::other)?;
    Ok(ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions(version))
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The crypto provider both libraries use: aws-lc-rs with its defaults.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn versions(version: TlsVersion) -> &'static [&'static SupportedProtocolVersion] {
    static TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
    static TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
    match version {
        TlsVersion::Tls1_2 => TLS12,
        _ => TLS13,
    }
}
