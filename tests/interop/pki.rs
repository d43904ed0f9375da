//! The certificates of one cell, in memory and as files for the peer programs.

use std::path::PathBuf;

use crate::common::certs::{Identity, IdentityFiles, TestPki};
use crate::common::tempdir;

/// Common name of the client certificate.
pub const CLIENT_NAME: &str = "sslfile-test-client";

/// A fresh CA with a server leaf (localhost, 127.0.0.1) and a client leaf, written to a
/// temporary directory that lives as long as this.
pub struct Pki {
    pub ca: TestPki,
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
            ca_file: ca.write_ca(dir.path()),
            server_files: server.write_to(dir.path(), "server"),
            client_files: client.write_to(dir.path(), "client"),
            ca,
            server,
            client,
            dir,
        }
    }

    /// A path in the cell's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}
