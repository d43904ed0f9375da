//! What `serve` says on a connection, independent of the mode that carries it: bytes in,
//! bytes out ("sans-IO"), so that the blocking and callback drivers share it.

use rustls::pki_types::CertificateDer;
use sslfile::SslFile;

pub mod http;

use crate::tls_options::{alpn_name, group_name, suite_name, version_name};
use http::HttpService;

/// What a driver does after handing data to a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Send the output and go on reading.
    Continue,
    /// Send the output, then close the connection (with close_notify).
    Close,
}

/// One connection's protocol.
pub trait Service: Send {
    /// Handles `data` received from the client, appending the answer to `out`.
    fn on_data(&mut self, data: &[u8], out: &mut Vec<u8>) -> Next;
}

/// What the server answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// A page describing the TLS connection for each HTTP request.
    Http,
    /// Every byte back.
    Echo,
}

impl Protocol {
    /// The service for a connection whose handshake completed.
    pub fn service(self, info: ConnInfo) -> Box<dyn Service> {
        match self {
            Protocol::Http => Box::new(HttpService::new(info)),
            Protocol::Echo => Box::new(Echo),
        }
    }

    /// The ALPN list a server of this protocol offers when `--alpn` is not given.
    pub fn default_alpn(self) -> &'static [&'static str] {
        match self {
            Protocol::Http => &["http/1.1"],
            Protocol::Echo => &[],
        }
    }
}

/// What was negotiated on a connection, for the HTTP page and the log.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// "TLS 1.3".
    pub version: String,
    /// "TLS13_AES_256_GCM_SHA384".
    pub suite: String,
    /// The key-exchange group, e.g. "X25519MLKEM768".
    pub group: String,
    /// The ALPN protocol, or "(none)".
    pub alpn: String,
    /// The name the client asked for (SNI), or "(none)".
    pub sni: String,
    /// Who the client's certificate names, or "(none)" if it sent none.
    pub client_cert: String,
    /// The server mode that carries the connection ("callback", "blocking", "threads").
    pub mode: &'static str,
}

impl ConnInfo {
    /// Reads what `file` negotiated (its handshake must be complete).
    pub fn of(file: &SslFile, mode: &'static str) -> ConnInfo {
        ConnInfo {
            version: version_name(file.protocol_version()),
            suite: suite_name(file.cipher_suite()),
            group: group_name(file.key_exchange_group()),
            alpn: alpn_name(file.alpn_protocol()),
            sni: file.server_name().unwrap_or_else(|| "(none)".into()),
            client_cert: file
                .peer_certificates()
                .and_then(|chain| chain.first().map(certificate_names))
                .unwrap_or_else(|| "(none)".into()),
            mode,
        }
    }
}

impl std::fmt::Display for ConnInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}, {}, ALPN {}, SNI {}",
            self.version, self.suite, self.group, self.alpn, self.sni
        )
    }
}

/// The DNS names a certificate is for, or that it names none.
fn certificate_names(cert: &CertificateDer<'_>) -> String {
    let names = webpki::EndEntityCert::try_from(cert)
        .map(|parsed| parsed.valid_dns_names().collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    if names.is_empty() {
        "presented (no DNS name in it)".into()
    } else {
        names
    }
}

/// Echoes every byte.
struct Echo;

impl Service for Echo {
    fn on_data(&mut self, data: &[u8], out: &mut Vec<u8>) -> Next {
        out.extend_from_slice(data);
        Next::Continue
    }
}
