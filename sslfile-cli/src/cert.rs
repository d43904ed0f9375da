//! The certificate `serve` makes at start when given none: self-signed with rcgen for
//! localhost, 127.0.0.1 and ::1, its PEM written to a temporary file for `curl --cacert`.

use std::io::Write;
use std::path::Path;

use tempfile::TempPath;

use crate::failure::{Context, Failure};

/// The names the self-signed certificate covers.
pub const LOCAL_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// A fresh self-signed certificate and the file its PEM was written to.
pub struct SelfSigned {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM (kept in memory only).
    pub key_pem: String,
    /// The certificate's file; removed when dropped.
    pub file: TempPath,
}

impl SelfSigned {
    /// Makes the certificate and writes it to a new file in the temporary directory
    /// (created exclusively, so nobody can have prepared that path).
    pub fn localhost() -> Result<SelfSigned, Failure> {
        let names = LOCAL_NAMES
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>();
        let made = rcgen::generate_simple_self_signed(names)
            .context(|| "cannot make a self-signed certificate")?;
        let cert_pem = made.cert.pem();
        let mut file = tempfile::Builder::new()
            .prefix("sslfile-")
            .suffix(".pem")
            .tempfile()
            .context(|| "cannot create the certificate file")?;
        file.write_all(cert_pem.as_bytes())
            .and_then(|()| file.flush())
            .context(|| format!("cannot write {}", file.path().display()))?;
        Ok(SelfSigned {
            cert_pem,
            key_pem: made.key_pair.serialize_pem(),
            file: file.into_temp_path(),
        })
    }

    /// Where the certificate is.
    pub fn path(&self) -> &Path {
        &self.file
    }
}
