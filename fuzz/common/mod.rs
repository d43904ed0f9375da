//! What the fuzz targets share: the contexts (one self-signed certificate, made once per
//! process) and the fault-injecting transport of the integration tests.

#![allow(dead_code)]

#[path = "../../tests/common/faulty.rs"]
pub mod faulty;

pub mod deterministic;

use std::io::{self, Read};
use std::sync::OnceLock;

use sslfile::{Context, SslFile, Stream, TlsVersion};

/// A server context, and client contexts (TLS 1.2–1.3, TLS 1.2 only) that trust it.
pub struct Contexts {
    pub server: Context,
    pub client: Context,
    pub client_tls12: Context,
}

impl Contexts {
    pub fn client(&self, tls12: bool) -> &Context {
        if tls12 {
            &self.client_tls12
        } else {
            &self.client
        }
    }
}

pub fn contexts() -> &'static Contexts {
    static CONTEXTS: OnceLock<Contexts> = OnceLock::new();
    CONTEXTS.get_or_init(|| {
        // Replayable and cheap (see `deterministic`); no session caches or tickets, so that
        // no state passes from one case to the next.
        let (cert_pem, key_pem) = deterministic::certificate();
        let base = || {
            Context::builder()
                .crypto_provider(deterministic::provider())
                .client_session_cache(0)
                .server_session_cache(0)
                .session_tickets(false)
        };
        let server = base()
            .certificate_chain_pem(cert_pem.as_bytes(), key_pem.as_bytes())
            .unwrap()
            .build()
            .unwrap();
        let client = base()
            .trust_pem(cert_pem.as_bytes())
            .unwrap()
            .build()
            .unwrap();
        let client_tls12 = base()
            .trust_pem(cert_pem.as_bytes())
            .unwrap()
            .versions(TlsVersion::Tls1_2, TlsVersion::Tls1_2)
            .unwrap()
            .build()
            .unwrap();
        Contexts {
            server,
            client,
            client_tls12,
        }
    })
}

/// A nonblocking read: `None` if it would block.
pub fn try_read<S: Stream>(file: &SslFile<S>, buf: &mut [u8]) -> Option<io::Result<usize>> {
    match (&*file).read(buf) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
        other => Some(other),
    }
}

/// `got` must be a prefix of `sent`: nothing accepted that the peer did not send, in order.
pub fn assert_prefix(got: &[u8], sent: &[u8], what: &str) {
    assert!(
        got.len() <= sent.len() && got == &sent[..got.len()],
        "{what}: {} bytes received are not a prefix of the {} sent",
        got.len(),
        sent.len()
    );
}

/// As [`assert_prefix`], for `got` whose first `from` bytes were checked already.
pub fn assert_prefix_from(got: &[u8], sent: &[u8], from: usize, what: &str) {
    assert!(
        got.len() <= sent.len() && got[from..] == sent[from..got.len()],
        "{what}: {} bytes received are not a prefix of the {} sent",
        got.len(),
        sent.len()
    );
}
