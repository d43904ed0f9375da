//! The certificates of one cell, in memory and as files for the peer programs.

use std::path::PathBuf;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::common::certs::{Identity, IdentityFiles, TestPki};
use crate::common::openssl::req_self_signed;
use crate::common::tempdir;

/// Common name of the client certificate.
pub const CLIENT_NAME: &str = "sslfile-test-client";

/// A fresh CA with a server leaf (localhost, 127.0.0.1) and a client leaf, written to a
/// temporary directory that lives as long as this.
pub struct Pki {
    pub ca: TestPki,
    /// What a client trusts (PEM): the CA, or in exact trust the server's certificate.
    pub trusted_pem: String,
    pub server: Identity,
    pub client: Identity,
    pub ca_file: PathBuf,
    pub server_files: IdentityFiles,
    pub client_files: IdentityFiles,
    pub dir: tempfile::TempDir,
}

impl Pki {
    /// `client_names_localhost`: the client certificate also names `localhost` (for Pike
    /// 8.0's server, which checks a client's certificate against the SNI name).
    pub fn new(client_names_localhost: bool) -> Pki {
        let ca = TestPki::new();
        let server = ca.leaf(&["localhost", "127.0.0.1"]);
        let client = if client_names_localhost {
            ca.leaf(&[CLIENT_NAME, "localhost"])
        } else {
            ca.leaf(&[CLIENT_NAME])
        };
        let dir = tempdir();
        Pki {
            trusted_pem: ca.ca_pem.clone(),
            ca_file: ca.write_ca(dir.path()),
            server_files: server.write_to(dir.path(), "server"),
            client_files: client.write_to(dir.path(), "client"),
            ca,
            server,
            client,
            dir,
        }
    }

    /// For exact trust: the server's certificate is made by `openssl req -x509` (CA:TRUE,
    /// for localhost), and it is all a client trusts (`ca_file` is the certificate itself).
    /// The client certificate still comes from the test CA.
    pub fn exact_trust() -> Pki {
        let mut pki = Pki::new(false);
        let files = req_self_signed(pki.dir.path(), "exact", "localhost");
        let cert_pem = std::fs::read_to_string(&files.cert).expect("read the certificate");
        let key_pem = std::fs::read_to_string(&files.key).expect("read the key");
        let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("PEM");
        pki.server = Identity {
            chain_pem: cert_pem.clone(),
            cert_pem: cert_pem.clone(),
            key_pem: key_pem.clone(),
            chain_der: vec![cert_der.clone()],
            cert_der,
            key_der: PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key PEM"),
        };
        pki.trusted_pem = cert_pem;
        pki.ca_file = files.cert.clone();
        pki.server_files = files;
        pki
    }

    /// A path in the cell's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}
