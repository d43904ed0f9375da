//! The TLS material of a benchmark: one self-signed certificate, and both libraries'
//! configurations for one protocol version, with the same crypto provider (aws-lc-rs).

use std::io;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};
use sslfile::{Context, TlsVersion};

/// The name the certificate is for, and that clients verify.
pub const SERVER_NAME: &str = "localhost";

/// Certificates and configurations shared by every run.
pub struct Setup {
    /// The negotiated version.
    pub version: TlsVersion,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    /// sslfile's server context.
    pub sslfile_server: Context,
    /// sslfile's client context, shared: its session cache lets handshakes resume.
    pub sslfile_client: Context,
    /// rustls's server configuration.
    pub rustls_server: Arc<ServerConfig>,
    /// rustls's client configuration, shared (session resumption).
    pub rustls_client: Arc<ClientConfig>,
}

impl Setup {
    /// Makes a certificate and both libraries' configurations for `version` only.
    pub fn new(version: TlsVersion) -> io::Result<Setup> {
        let made = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_string()])
            .map_err(io::Error::other)?;
        let cert_pem = made.cert.pem();
        let cert_der = made.cert.der().clone();
        let key_der = PrivatePkcs8KeyDer::from(made.key_pair.serialize_der());
        let sslfile_server = Context::builder()
            .certificate_chain_pem(
                cert_pem.as_bytes(),
                made.key_pair.serialize_pem().as_bytes(),
            )
            .and_then(|b| b.versions(version, version))
            .and_then(|b| b.build())
            .map_err(io::Error::other)?;
        let rustls_server = Arc::new(
            ServerConfig::builder_with_provider(provider())
                .with_protocol_versions(versions(version))
                .map_err(io::Error::other)?
                .with_no_client_auth()
                .with_single_cert(
                    vec![cert_der.clone()],
                    PrivateKeyDer::from(key_der.clone_key()),
                )
                .map_err(io::Error::other)?,
        );
        let mut setup = Setup {
            version,
            sslfile_client: sslfile_server.clone(), // replaced below
            sslfile_server,
            rustls_client: Arc::new(client_config_for(version, &cert_der)?),
            rustls_server,
            cert_pem,
            cert_der,
        };
        setup.sslfile_client = setup.fresh_sslfile_client()?;
        Ok(setup)
    }

    /// A new sslfile client context: nothing to resume from.
    pub fn fresh_sslfile_client(&self) -> io::Result<Context> {
        Context::builder()
            .trust_pem(self.cert_pem.as_bytes())
            .and_then(|b| b.versions(self.version, self.version))
            .and_then(|b| b.build())
            .map_err(io::Error::other)
    }

    /// A new rustls client configuration: nothing to resume from.
    pub fn fresh_rustls_client(&self) -> io::Result<Arc<ClientConfig>> {
        client_config_for(self.version, &self.cert_der).map(Arc::new)
    }
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

fn provider() -> Arc<CryptoProvider> {
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
