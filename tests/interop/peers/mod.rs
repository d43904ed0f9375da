//! The peers: what each is told to do on a cell ([`PeerJob`]), how it runs ([`PeerRun`]),
//! which cells it cannot do and why ([`not_applicable`]), and its version ([`versions`]).
//!
//! Scripted peers (Python, Pike) and the in-process rustls peer report what they saw as
//! lines of the same small format (see `tests/peers/python_peer.py`), checked by
//! [`report::check`]; the command-line tools (openssl, gnutls, curl) are steered through
//! their stdio and judged by their own output and exit status.

pub mod curl;
pub mod gnutls;
pub mod openssl;
pub mod report;
pub mod rustls_peer;
pub mod script;

use std::process::Command;
use std::sync::Arc;

use super::cells::{Alpn, Cell, Close, Feature, Peer, Role, Version};
use super::pki::Pki;

/// What the peer does when the exchange is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerClose {
    /// Wait for our close_notify and answer it (our clean close).
    Answer,
    /// Send close_notify first, then wait for ours.
    Initiate,
    /// Only watch how the connection ends: it must be our close_notify.
    Observe,
    /// Close the socket without close_notify.
    Drop,
}

/// Why a handshake is expected to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No ALPN protocol in common: the server sends no_application_protocol.
    Alpn,
    /// The server requires a client certificate and got none.
    ClientCert,
    /// The server has no certificate for a client without SNI.
    NoSni,
}

impl Refusal {
    /// Words one of which a peer's error message must contain (lower case).
    pub fn words(self) -> &'static [&'static str] {
        match self {
            Refusal::Alpn => &[
                "application protocol",
                "alpn",
                "application_protocol",
                "noapplicationprotocol",
                "known protocol",
            ],
            Refusal::ClientCert => &["certificate", "handshake failure", "handshake_failure"],
            Refusal::NoSni => &["handshake failure", "handshake_failure", "40"],
        }
    }
}

/// The peer's client-certificate part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerClientAuth {
    /// Peer server: no certificate request. Peer client: no certificate.
    None,
    /// Peer server: asks for a certificate, verified against the test CA if one comes.
    Optional,
    /// Peer server: requires a certificate from the test CA. Peer client: presents one.
    Required,
}

/// What the peer is told to do on a cell, and what it must observe.
pub struct PeerJob<'a> {
    pub cell: Cell,
    pub pki: &'a Pki,
    /// Our listening port, when the peer is the client.
    pub our_port: u16,
    pub connections: usize,
    /// The peer sends this on each connection.
    pub send: Arc<Vec<u8>>,
    /// The peer must receive exactly this on each connection.
    pub expect: Arc<Vec<u8>>,
    /// The peer's ALPN protocols, comma-separated.
    pub alpn: Option<&'static str>,
    /// The protocol both sides must end up with.
    pub agreed_alpn: Option<&'static str>,
    /// A peer client sends SNI `localhost` (else it connects to 127.0.0.1 without SNI).
    pub sni: bool,
    pub close: PeerClose,
    pub refusal: Option<Refusal>,
    pub client_auth: PeerClientAuth,
    /// Connections after the first must resume the first one's session.
    pub resumption: bool,
}

impl PeerJob<'_> {
    /// The peer is the server (we are the client).
    pub fn peer_is_server(&self) -> bool {
        self.cell.role == Role::Client
    }

    pub fn version(&self) -> Version {
        self.cell.version
    }
}

/// A peer at work on one cell.
pub trait PeerRun: Send {
    /// The port the peer listens on (when it is the server).
    fn port(&self) -> u16;

    /// Connection `conn` is about to be made (before our connect or accept).
    fn begin_connection(&mut self, _job: &PeerJob<'_>, _conn: usize) -> Result<(), String> {
        Ok(())
    }

    /// Our side finished the exchange of connection `conn` and is about to end it: the
    /// peer does its part if it is steered from outside (close stdin, get killed).
    fn end_connection(
        &mut self,
        _job: &PeerJob<'_>,
        _conn: usize,
        _our_port: u16,
        _peer_port: u16,
    ) -> Result<(), String> {
        Ok(())
    }

    /// Our side failed: stop the peer at once (it would wait for its timeouts).
    fn abort(&mut self) {}

    /// Waits for the peer to finish and checks what it saw against the job. Returns
    /// notes for the table (the peer's evidence).
    fn finish(self: Box<Self>, job: &PeerJob<'_>) -> Result<Vec<String>, String>;
}

/// Starts the peer for `job`.
pub fn start(job: &PeerJob<'_>) -> Result<Box<dyn PeerRun>, String> {
    match job.cell.peer {
        Peer::OpenSsl => openssl::start(job),
        Peer::GnuTls => gnutls::start(job),
        Peer::Python => script::start(script::Script::Python, job),
        Peer::Pike => script::start(script::Script::Pike, job),
        Peer::Curl => curl::start(job),
        Peer::Rustls => rustls_peer::start(job),
    }
}

/// Why `cell` cannot run with its peer, if it cannot.
pub fn not_applicable(cell: &Cell) -> Option<String> {
    let reason: Option<&str> = match (cell.peer, cell.role, cell.version, cell.feature) {
        (Peer::Curl, Role::Client, _, _) => {
            Some("curl is only a client: there is no curl server for our client")
        }
        (Peer::Pike, _, Version::Tls13, _) => {
            Some("Pike 8.0 implements TLS 1.0–1.2 only (SSL.Constants.PROTOCOL_TLS_MAX is TLS 1.2)")
        }
        (Peer::GnuTls, Role::Client, _, Feature::Close(Close::PeerClean)) => Some(
            "gnutls-serv never ends a connection on its own: it only answers the client's close_notify",
        ),
        (Peer::Pike, Role::Server, _, Feature::ExactTrust) => Some(
            "Pike 8.0's client does not take the certificate as a trust anchor: \
             set_trusted_issuers() fails with: Trusted issuer not allowed to sign other \
             certificates",
        ),
        (Peer::Rustls, Role::Server, _, Feature::ExactTrust) => Some(
            "a rustls client (webpki) refuses a CA certificate as a server's own even when it \
             trusts exactly that certificate (CaUsedAsEndEntity): what sslfile's exact trust adds",
        ),
        _ => None,
    };
    reason.map(str::to_owned)
}

/// Where the peer server ignores an ALPN mismatch (no protocol, no alert) instead of
/// refusing it with no_application_protocol, and why.
pub fn ignores_alpn_mismatch(peer: Peer) -> Option<&'static str> {
    match peer {
        Peer::Python => Some(
            "Python's ssl server callback answers a mismatch with SSL_TLSEXT_ERR_NOACK: \
             the handshake completes without ALPN",
        ),
        _ => None,
    }
}

/// Where the peer does not answer our close_notify with its own (it closes its socket),
/// and why.
pub fn does_not_answer_close_notify(peer: Peer, our_role: Role) -> Option<&'static str> {
    match (peer, our_role) {
        (Peer::GnuTls, Role::Server) => Some(
            "gnutls-cli does not answer a close_notify: it exits and closes its socket \
             (socket_bye(.., polite = 0)); it sends close_notify only at stdin EOF",
        ),
        _ => None,
    }
}

/// Pike 8.0's server checks a client's certificate against the server name the client
/// asked for (SNI): `SSL.Connection.verify_certificate_chain` serves both sides and
/// matches the chain against `session->server_name`.
pub const PIKE_CLIENT_CERT_NOTE: &str = "Pike 8.0's server matches a client certificate \
     against the SNI name the client sent (verify_certificate_chain is shared with the client \
     side; any other name gets bad_certificate): the client certificate here also names \
     localhost";

/// Pike 8.0's client checks a server's certificate against DNS names only.
pub const PIKE_NO_SNI_CLIENT_NOTE: &str = "Pike 8.0's client checks the server name against \
     DNS names only (an IP address fails with bad_certificate): it connects without a name, \
     so no SNI and no name check";

/// Where the peer, as server, refuses a client that sends no SNI.
pub fn refuses_no_sni(peer: Peer) -> Option<&'static str> {
    match peer {
        Peer::Pike => Some(
            "Pike 8.0's server picks certificates by SNI name only: without SNI (and without a \
             \"*\" name glob on add_cert) it has none and sends handshake_failure",
        ),
        _ => None,
    }
}

/// What ALPN lists the client and the server use for `alpn`.
pub fn alpn_lists(alpn: Alpn) -> (Option<&'static str>, Option<&'static str>) {
    match alpn {
        Alpn::Matched => (Some("h2,http/1.1"), Some("http/1.1")),
        Alpn::NoneOffered => (None, Some("http/1.1")),
        Alpn::Mismatch => (Some("http/1.1"), Some("h2")),
    }
}

/// Each peer's version, as it reports it.
pub fn versions() -> Vec<(&'static str, String)> {
    fn first_line(cmd: &str, args: &[&str]) -> String {
        match Command::new(cmd).args(args).output() {
            Ok(out) => {
                let text = String::from_utf8_lossy(&out.stdout).into_owned()
                    + &String::from_utf8_lossy(&out.stderr);
                text.lines().next().unwrap_or("?").trim().to_owned()
            }
            Err(e) => format!("not available: {e}"),
        }
    }
    vec![
        ("openssl", first_line("openssl", &["version"])),
        ("gnutls", first_line("gnutls-cli", &["--version"])),
        (
            "python",
            first_line(
                "python3",
                &["-c", "import ssl,sys; print('Python', sys.version.split()[0], '/', ssl.OPENSSL_VERSION)"],
            ),
        ),
        ("curl", first_line("curl", &["--version"])),
        ("pike", first_line("pike", &["--version"])),
        ("rustls", format!("rustls {} (in process)", rustls_version())),
    ]
}

/// The rustls version in Cargo.lock.
fn rustls_version() -> String {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"))
        .unwrap_or_default();
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"rustls\"" {
            if let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = ")) {
                return v.trim_matches('"').to_owned();
            }
        }
    }
    "0.23".to_owned()
}
