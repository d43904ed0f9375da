//! The test CA run by OpenSSL's own tools: `openssl ca -gencrl` writes its CRL and
//! `openssl ocsp` its OCSP responses, from an index of the certificates it issued, as a
//! real CA's software would. The CA's certificate and key come from a [`TestPki`].

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::certs::TestPki;

/// A certificate's line in the CA's index (`index.txt`).
#[derive(Debug, Clone, Copy)]
pub enum Status {
    /// Valid: `openssl ocsp` answers "good".
    Valid,
    /// Revoked on 2024-01-01: on the CRL, and "revoked" in OCSP answers.
    Revoked,
}

/// The CA's files in a directory: `ca.pem`, `ca.key`, `index.txt`, `ca.cnf`.
pub struct OpensslCa {
    dir: PathBuf,
    pub ca: PathBuf,
    pub key: PathBuf,
    index: PathBuf,
}

impl OpensslCa {
    /// Writes the CA of `pki` into `dir`, with an empty index.
    pub fn new(pki: &TestPki, dir: &Path) -> OpensslCa {
        let ca = OpensslCa {
            dir: dir.to_path_buf(),
            ca: dir.join("ca.pem"),
            key: dir.join("ca.key"),
            index: dir.join("index.txt"),
        };
        fs::write(&ca.ca, &pki.ca_pem).unwrap();
        fs::write(&ca.key, pki.ca_key_pem()).unwrap();
        fs::write(&ca.index, "").unwrap();
        let config = "[ca]\ndefault_ca = test_ca\n\
             [test_ca]\ndatabase = index.txt\ncertificate = ca.pem\nprivate_key = ca.key\n\
             default_md = sha256\ndefault_crl_days = 30\n";
        // Without a CRL number OpenSSL writes a version 1 CRL, without extensions.
        fs::write(dir.join("ca_v1.cnf"), config).unwrap();
        fs::write(
            dir.join("ca.cnf"),
            format!("{config}crlnumber = crlnumber\n"),
        )
        .unwrap();
        fs::write(dir.join("crlnumber"), "1000\n").unwrap();
        ca
    }

    /// Records the certificate numbered `serial` (subject `/CN=<cn>`) in the index.
    pub fn record(&self, serial: u64, cn: &str, status: Status) {
        let line = match status {
            Status::Valid => format!("V\t991231235959Z\t\t{serial:04X}\tunknown\t/CN={cn}\n"),
            Status::Revoked => {
                format!("R\t991231235959Z\t240101000000Z\t{serial:04X}\tunknown\t/CN={cn}\n")
            }
        };
        let mut index = fs::read_to_string(&self.index).unwrap();
        index.push_str(&line);
        fs::write(&self.index, index).unwrap();
    }

    /// `openssl ca -gencrl`: the CRL of the revoked certificates in the index (PEM),
    /// written to `crl.pem`: a version 2 CRL (with a CRL number) if `v2`, else the
    /// version 1 CRL OpenSSL writes when its configuration names no `crlnumber` file.
    pub fn gencrl(&self, v2: bool) -> PathBuf {
        let (config, out) = match v2 {
            true => ("ca.cnf", self.dir.join("crl.pem")),
            false => ("ca_v1.cnf", self.dir.join("crl_v1.pem")),
        };
        run(Command::new("openssl")
            .current_dir(&self.dir)
            .args(["ca", "-gencrl", "-config", config, "-out"])
            .arg(&out));
        out
    }

    /// `openssl ocsp`: the CA's signed answer about the certificate in `cert` (PEM), as
    /// DER, written to `<stem>.ocsp.der`.
    pub fn ocsp_response(&self, cert: &Path, stem: &str) -> PathBuf {
        let out = self.dir.join(format!("{stem}.ocsp.der"));
        run(Command::new("openssl")
            .current_dir(&self.dir)
            .args([
                "ocsp",
                "-index",
                "index.txt",
                "-rsigner",
                "ca.pem",
                "-rkey",
                "ca.key",
            ])
            .args(["-CA", "ca.pem", "-issuer", "ca.pem", "-ndays", "1", "-cert"])
            .arg(cert)
            .arg("-respout")
            .arg(&out));
        out
    }
}

/// Runs an `openssl` command to success, or fails the test with its output.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run openssl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    text
}
