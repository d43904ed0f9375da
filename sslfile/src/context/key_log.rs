//! Key logging: the TLS secrets of every connection made with a context, in the
//! `SSLKEYLOGFILE` format that Wireshark (and curl, Firefox, OpenSSL) use, so that a capture
//! of the traffic can be decrypted for debugging. Never turn it on in production: whoever
//! reads the file reads the traffic.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rustls::KeyLog;

use crate::error::Error;

/// Appends one line per secret to a file: `LABEL CLIENT_RANDOM SECRET`, in hex.
pub(crate) struct KeyLogFile {
    path: PathBuf,
    file: Mutex<File>,
}

impl KeyLogFile {
    /// Opens (creating, appending to) `path`.
    pub(crate) fn open(path: &Path) -> Result<KeyLogFile, Error> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| {
                Error::Config(format!("cannot open the key log {}: {e}", path.display()))
            })?;
        Ok(KeyLogFile {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }
}

impl KeyLog for KeyLogFile {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let mut line = String::with_capacity(label.len() + 2 + 2 * (32 + secret.len()));
        line.push_str(label);
        line.push(' ');
        hex(&mut line, client_random);
        line.push(' ');
        hex(&mut line, secret);
        line.push('\n');
        // One write per line, so that lines from several connections never interleave.
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = file.write_all(line.as_bytes()) {
            log::warn!("cannot write the key log {}: {e}", self.path.display());
        }
    }
}

impl fmt::Debug for KeyLogFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyLogFile")
            .field("path", &self.path)
            .finish()
    }
}

fn hex(out: &mut String, bytes: &[u8]) {
    use fmt::Write as _;
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_label_random_and_secret_in_hex() {
        let dir = std::env::temp_dir().join(format!("sslfile-keylog-{}", std::process::id()));
        let log = KeyLogFile::open(&dir).unwrap();
        log.log("CLIENT_RANDOM", &[0xab; 32], &[0x01, 0x02]);
        let text = std::fs::read_to_string(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(text, format!("CLIENT_RANDOM {} 0102\n", "ab".repeat(32)));
    }
}
