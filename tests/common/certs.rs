//! A throw-away test PKI made with rcgen: one self-signed CA
//! ("sslfile test CA <n>", unique per CA) that issues leaf certificates, plus expired and
//! self-signed leaves for negative tests.
//!
//! Leaf names may be DNS names or IP addresses ("127.0.0.1", "::1"); IPs end
//! up in IP SANs. Keys are ECDSA P-256 unless stated otherwise (RSA 2048 and Ed25519
//! leaves exist too).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SignatureAlgorithm,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Common name of the test CAs, followed by a number unique in the process: two CAs with
/// one name would make a certificate from one look like a forgery to the other ("bad
/// signature") instead of unknown ("unknown issuer").
pub const CA_NAME: &str = "sslfile test CA";

/// A fresh temporary directory, deleted when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("sslfile-test")
        .tempdir()
        .expect("create temporary directory")
}

/// A certificate with its private key.
#[derive(Debug)]
pub struct Identity {
    /// The leaf certificate alone (PEM).
    pub cert_pem: String,
    /// The leaf followed by the issuing CA (PEM); same as `cert_pem` for
    /// self-signed identities.
    pub chain_pem: String,
    /// The private key, PKCS#8 PEM ("PRIVATE KEY").
    pub key_pem: String,
    /// The leaf certificate (DER).
    pub cert_der: CertificateDer<'static>,
    /// The leaf and then the CA (DER), as rustls wants a chain.
    pub chain_der: Vec<CertificateDer<'static>>,
    /// The private key (PKCS#8 DER).
    pub key_der: PrivateKeyDer<'static>,
}

/// Paths written by [`Identity::write_to`].
#[derive(Debug, Clone)]
pub struct IdentityFiles {
    /// The certificate chain (leaf + CA), PEM.
    pub cert: PathBuf,
    /// The private key, PEM.
    pub key: PathBuf,
}

impl Identity {
    /// Write `<stem>.crt` (the chain) and `<stem>.key` into `dir`.
    pub fn write_to(&self, dir: &Path, stem: &str) -> IdentityFiles {
        let files = IdentityFiles {
            cert: dir.join(format!("{stem}.crt")),
            key: dir.join(format!("{stem}.key")),
        };
        fs::write(&files.cert, &self.chain_pem).expect("write certificate");
        fs::write(&files.key, &self.key_pem).expect("write key");
        files
    }

    /// A rustls server configuration presenting this identity (all protocol
    /// versions, aws-lc-rs provider, no client authentication).
    pub fn server_config(&self) -> rustls::ServerConfig {
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(self.chain_der.clone(), self.key_der.clone_key())
        .expect("server certificate")
    }
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Identity {
            cert_pem: self.cert_pem.clone(),
            chain_pem: self.chain_pem.clone(),
            key_pem: self.key_pem.clone(),
            cert_der: self.cert_der.clone(),
            chain_der: self.chain_der.clone(),
            key_der: self.key_der.clone_key(),
        }
    }
}

/// The test certificate authority.
pub struct TestPki {
    /// The CA's subject as our error messages print it: `CN=sslfile test CA <n>`.
    pub ca_name: String,
    /// The CA certificate (PEM).
    pub ca_pem: String,
    /// The CA certificate (DER).
    pub ca_der: CertificateDer<'static>,
    ca_cert: rcgen::Certificate,
    ca_key: KeyPair,
}

impl Default for TestPki {
    fn default() -> Self {
        Self::new()
    }
}

impl TestPki {
    /// A new CA with a fresh P-256 key.
    pub fn new() -> Self {
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ca_name = format!("{CA_NAME} {n}");
        params
            .distinguished_name
            .push(DnType::CommonName, ca_name.clone());
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2100, 1, 1);
        let ca_cert = params.self_signed(&ca_key).expect("self-sign CA");
        TestPki {
            ca_name: format!("CN={ca_name}"),
            ca_pem: ca_cert.pem(),
            ca_der: ca_cert.der().clone(),
            ca_cert,
            ca_key,
        }
    }

    /// Write the CA certificate to `dir/ca.crt` and return the path.
    pub fn write_ca(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.crt");
        fs::write(&path, &self.ca_pem).expect("write CA certificate");
        path
    }

    /// A rustls root store that trusts only this CA.
    pub fn root_store(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.ca_der.clone())
            .expect("add CA to root store");
        roots
    }

    /// The CA's private key (PKCS#8 PEM), for tools that sign as the CA (`openssl ca`,
    /// `openssl ocsp`).
    pub fn ca_key_pem(&self) -> String {
        self.ca_key.serialize_pem()
    }

    /// A valid leaf for `names` with the serial number `serial`, to revoke it by number.
    pub fn leaf_with_serial(&self, names: &[&str], serial: u64) -> Identity {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("leaf key");
        let mut params = leaf_params(names, false, false);
        params.serial_number = Some(rcgen::SerialNumber::from(serial));
        let cert = params
            .signed_by(&key, &self.ca_cert, &self.ca_key)
            .expect("sign leaf");
        identity(cert.pem(), cert.der().clone(), Some(self), &key)
    }

    /// A CRL (PEM) signed by the CA that revokes the certificates numbered `revoked`,
    /// issued on 2024-01-01 and due for renewal on `next_update` (year, month, day).
    pub fn crl(&self, revoked: &[u64], next_update: (i32, u8, u8)) -> String {
        let (year, month, day) = next_update;
        let params = rcgen::CertificateRevocationListParams {
            this_update: date_time_ymd(2024, 1, 1),
            next_update: date_time_ymd(year, month, day),
            crl_number: rcgen::SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|&serial| rcgen::RevokedCertParams {
                    serial_number: rcgen::SerialNumber::from(serial),
                    revocation_time: date_time_ymd(2024, 1, 1),
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        let crl = params
            .signed_by(&self.ca_cert, &self.ca_key)
            .expect("sign CRL");
        crl.pem().expect("CRL PEM")
    }

    /// A valid leaf for `names`, signed by the CA, ECDSA P-256 key.
    pub fn leaf(&self, names: &[&str]) -> Identity {
        self.issue(names, &rcgen::PKCS_ECDSA_P256_SHA256, false)
    }

    /// A valid leaf for `names`, signed by the CA, with an RSA 2048 key
    /// (the CA's signature on it is still ECDSA P-256).
    pub fn leaf_rsa(&self, names: &[&str]) -> Identity {
        self.issue(names, &rcgen::PKCS_RSA_SHA256, false)
    }

    /// A valid leaf for `names`, signed by the CA, with an Ed25519 key.
    pub fn leaf_ed25519(&self, names: &[&str]) -> Identity {
        self.issue(names, &rcgen::PKCS_ED25519, false)
    }

    /// A leaf for `names`, signed by the CA, that expired in 2001.
    pub fn expired_leaf(&self, names: &[&str]) -> Identity {
        self.issue(names, &rcgen::PKCS_ECDSA_P256_SHA256, true)
    }

    /// A self-signed leaf for `names`, unrelated to any `TestPki`.
    pub fn self_signed(names: &[&str]) -> Identity {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("leaf key");
        let cert = leaf_params(names, false, false)
            .self_signed(&key)
            .expect("self-sign leaf");
        identity(cert.pem(), cert.der().clone(), None, &key)
    }

    fn issue(&self, names: &[&str], alg: &'static SignatureAlgorithm, expired: bool) -> Identity {
        let key = KeyPair::generate_for(alg).expect("leaf key generation");
        let rsa = alg == &rcgen::PKCS_RSA_SHA256;
        let cert = leaf_params(names, expired, rsa)
            .signed_by(&key, &self.ca_cert, &self.ca_key)
            .expect("sign leaf");
        identity(cert.pem(), cert.der().clone(), Some(self), &key)
    }
}

fn leaf_params(names: &[&str], expired: bool, rsa: bool) -> CertificateParams {
    let sans: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    // `CertificateParams::new` puts parseable IP addresses into IP SANs.
    let mut params = CertificateParams::new(sans).expect("leaf names");
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        DnType::CommonName,
        *names.first().unwrap_or(&"sslfile test leaf"),
    );
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if rsa {
        // TLS 1.2 RSA key exchange needs it; harmless otherwise.
        params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    if expired {
        params.not_before = date_time_ymd(2000, 1, 1);
        params.not_after = date_time_ymd(2001, 1, 1);
    } else {
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2100, 1, 1);
    }
    params
}

fn identity(
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    ca: Option<&TestPki>,
    key: &KeyPair,
) -> Identity {
    let mut chain_pem = cert_pem.clone();
    let mut chain_der = vec![cert_der.clone()];
    if let Some(ca) = ca {
        chain_pem.push_str(&ca.ca_pem);
        chain_der.push(ca.ca_der.clone());
    }
    Identity {
        cert_pem,
        chain_pem,
        key_pem: key.serialize_pem(),
        cert_der,
        chain_der,
        key_der: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
    }
}
