//! The TLS options `serve` and `connect` share: ALPN, version range, certificate and key,
//! revocation list.

use std::path::PathBuf;

use clap::Args;
use sslfile::{ContextBuilder, TlsVersion};

use crate::failure::Failure;

/// ALPN list, version range and an own certificate, as command-line options.
#[derive(Debug, Clone, Args)]
pub struct TlsOptions {
    /// ALPN protocols, comma-separated, most preferred first (e.g. h2,http/1.1).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub alpn: Option<Vec<String>>,

    /// Lowest TLS version to accept: 1.2 (default) or 1.3.
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    pub min_version: Option<TlsVersion>,

    /// Highest TLS version to offer: 1.2 or 1.3 (default).
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    pub max_version: Option<TlsVersion>,

    /// Certificate chain to present, PEM, leaf first (needs --key).
    #[arg(long, value_name = "PEM", requires = "key")]
    pub cert: Option<PathBuf>,

    /// Private key of --cert, PEM (PKCS#8, PKCS#1 or SEC1; not encrypted).
    #[arg(long, value_name = "PEM", requires = "cert")]
    pub key: Option<PathBuf>,

    /// Check the peer's certificate against the certificate revocation list (CRL) in this
    /// PEM file (connect: the server's; serve: the client certificates of --client-ca). The
    /// peer's certificate must then be covered by its CA's CRL, as with openssl -crl_check.
    #[arg(long, value_name = "PEM")]
    pub crl: Option<PathBuf>,

    /// Append the TLS secrets of every connection to FILE (the SSLKEYLOGFILE format
    /// Wireshark reads), for debugging. Without it, SSLKEYLOGFILE is honoured if set.
    #[arg(long, value_name = "FILE")]
    pub keylog: Option<PathBuf>,
}

impl TlsOptions {
    /// Applies the version range and ALPN list (`default_alpn` when none was given).
    pub fn apply(
        &self,
        builder: ContextBuilder,
        default_alpn: &[&str],
    ) -> Result<ContextBuilder, Failure> {
        let builder = match &self.alpn {
            Some(list) => builder.alpn_protocols(list.iter().filter(|p| !p.is_empty())),
            None => builder.alpn_protocols(default_alpn),
        };
        let builder = builder.versions(
            self.min_version.unwrap_or(TlsVersion::Tls1_2),
            self.max_version.unwrap_or(TlsVersion::Tls1_3),
        )?;
        let builder = match &self.keylog {
            Some(path) => builder.key_log_file(path)?,
            None => builder.key_log_from_env()?,
        };
        let builder = match &self.crl {
            Some(crl) => builder.trust_crl_pem_file(crl)?,
            None => builder,
        };
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Ok(builder.certificate_chain_pem_files(cert, key)?),
            _ => Ok(builder),
        }
    }
}

/// Parses "1.2", "1.3" (also "tls1.3", "TLSv1.3"); names the older versions as refused.
pub fn parse_version(text: &str) -> Result<TlsVersion, String> {
    let lower = text.to_ascii_lowercase();
    let number = lower
        .trim_start_matches("tlsv")
        .trim_start_matches("tls")
        .trim();
    match number {
        "1.2" | "12" => Ok(TlsVersion::Tls1_2),
        "1.3" | "13" => Ok(TlsVersion::Tls1_3),
        "1.0" | "1.1" | "1" | "10" | "11" => Err(format!(
            "TLS {number} is refused: it is deprecated (RFC 8996); use 1.2 or 1.3"
        )),
        _ => Err(format!("expected 1.2 or 1.3, not {text:?}")),
    }
}

/// "TLS 1.3", or "?" before the handshake.
pub fn version_name(version: Option<TlsVersion>) -> String {
    version.map_or_else(|| "?".into(), |v| v.to_string())
}

/// "TLS13_AES_256_GCM_SHA384", or "?" before the handshake.
pub fn suite_name(suite: Option<sslfile::CipherSuite>) -> String {
    suite.map_or_else(|| "?".into(), |s| format!("{s:?}"))
}

/// The negotiated key-exchange group (e.g. "X25519MLKEM768"), or "?".
pub fn group_name(group: Option<sslfile::NamedGroup>) -> String {
    group.map_or_else(|| "?".into(), |g| format!("{g:?}"))
}

/// The negotiated ALPN protocol, or "(none)".
pub fn alpn_name(protocol: Option<Vec<u8>>) -> String {
    protocol.map_or_else(
        || "(none)".into(),
        |p| String::from_utf8_lossy(&p).into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_in_the_usual_spellings() {
        for text in ["1.2", "tls1.2", "TLSv1.2"] {
            assert_eq!(parse_version(text), Ok(TlsVersion::Tls1_2));
        }
        assert_eq!(parse_version("1.3"), Ok(TlsVersion::Tls1_3));
        let err = parse_version("1.1").unwrap_err();
        assert!(err.contains("TLS 1.1 is refused"), "{err}");
        assert!(parse_version("2").is_err());
    }
}
