//! The matrix as data: the axes, one [`Cell`] per combination that is run, and the sample
//! of the product that the test functions run.
//!
//! * **transfer**: every peer × our role × TLS version × our mode: 16 MiB of random bytes
//!   each way, compared byte for byte, then a clean close (ours first, both close_notify).
//! * **features** (ALPN, client certificates, resumption, the ways a connection ends, no
//!   SNI): every peer × our role, with one mode per cell, rotating through the four modes
//!   (and through both versions where the peer has both), so that each mode meets every
//!   feature across the peers.

use std::fmt;

/// A peer implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Peer {
    OpenSsl,
    GnuTls,
    Python,
    Curl,
    Pike,
    Rustls,
}

pub const PEERS: [Peer; 6] = [
    Peer::OpenSsl,
    Peer::GnuTls,
    Peer::Python,
    Peer::Curl,
    Peer::Pike,
    Peer::Rustls,
];

impl Peer {
    /// The peer's program opposite our `role` (the peer is the server when we are the
    /// client).
    pub fn tool(self, our_role: Role) -> &'static str {
        match (self, our_role) {
            (Peer::OpenSsl, Role::Client) => "openssl s_server",
            (Peer::OpenSsl, Role::Server) => "openssl s_client",
            (Peer::GnuTls, Role::Client) => "gnutls-serv",
            (Peer::GnuTls, Role::Server) => "gnutls-cli",
            (Peer::Python, Role::Client) => "python ssl server",
            (Peer::Python, Role::Server) => "python ssl client",
            (Peer::Curl, Role::Client) => "curl (no server)",
            (Peer::Curl, Role::Server) => "curl",
            (Peer::Pike, Role::Client) => "Pike SSL.File server",
            (Peer::Pike, Role::Server) => "Pike SSL.File client",
            (Peer::Rustls, Role::Client) => "rustls ServerConnection",
            (Peer::Rustls, Role::Server) => "rustls ClientConnection",
        }
    }
}

/// Our side's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Client,
    Server,
}

pub const ROLES: [Role; 2] = [Role::Client, Role::Server];

/// Our side's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    Blocking,
    Nonblocking,
    Callback,
    /// `sslfile::tokio::TlsStream` on a tokio runtime.
    Async,
}

pub const MODES: [Mode; 4] = [
    Mode::Blocking,
    Mode::Nonblocking,
    Mode::Callback,
    Mode::Async,
];

/// The protocol version, pinned on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    Tls12,
    Tls13,
}

pub const VERSIONS: [Version; 2] = [Version::Tls12, Version::Tls13];

impl Version {
    pub fn ours(self) -> sslfile::TlsVersion {
        match self {
            Version::Tls12 => sslfile::TlsVersion::Tls1_2,
            Version::Tls13 => sslfile::TlsVersion::Tls1_3,
        }
    }

    /// As the peers' scripts and Python spell it.
    pub fn dotted(self) -> &'static str {
        match self {
            Version::Tls12 => "1.2",
            Version::Tls13 => "1.3",
        }
    }

    /// As OpenSSL and Python report it.
    pub fn openssl_name(self) -> &'static str {
        match self {
            Version::Tls12 => "TLSv1.2",
            Version::Tls13 => "TLSv1.3",
        }
    }
}

/// ALPN: the client's offer against the server's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Alpn {
    /// Client offers `h2,http/1.1`, server has `http/1.1`: `http/1.1` is chosen.
    Matched,
    /// Client offers nothing, server has `http/1.1`: no protocol.
    NoneOffered,
    /// Client offers `http/1.1`, server has only `h2`: a clear error (RFC 7301's
    /// no_application_protocol alert), or no protocol where the peer server ignores it.
    Mismatch,
}

/// Client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClientCert {
    /// The server requires one; the client presents one.
    Required,
    /// The server asks for one; the client presents none.
    Optional,
    /// The server requires one; the client presents none: refused.
    Absent,
}

/// How the connection ends (the transfer cells end with a clean close, ours first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Close {
    /// Our clean close (`close_clean()`, Pike's `close(0, 1)`): our close_notify, the
    /// peer's answer, and the socket handed back by `into_stream()`.
    OursClean,
    /// The peer sends close_notify first; we read the end of stream and answer.
    PeerClean,
    /// Our `close()`: close_notify, then the socket closes without waiting.
    OursNormal,
    /// The peer closes its socket without close_notify: we must see `BrokenPipe`.
    PeerDrops,
}

/// What a cell exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Feature {
    /// 16 MiB random each way, byte for byte, then a clean close (ours first).
    Transfer,
    Alpn(Alpn),
    ClientCert(ClientCert),
    /// A second connection resumes the first one's session.
    Resumption,
    Close(Close),
    /// The client sends no SNI (our client connects by IP address, verified against the
    /// certificate's IP SAN): the server's default certificate.
    NoSni,
    /// The server's certificate is self-signed by `openssl req -x509` (so marked CA:TRUE),
    /// and the client trusts exactly that certificate (its CA file is the certificate).
    ExactTrust,
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Feature::Transfer => "16 MiB both ways + clean close",
            Feature::Alpn(Alpn::Matched) => "ALPN matched",
            Feature::Alpn(Alpn::NoneOffered) => "ALPN none",
            Feature::Alpn(Alpn::Mismatch) => "ALPN mismatch",
            Feature::ClientCert(ClientCert::Required) => "client cert required",
            Feature::ClientCert(ClientCert::Optional) => "client cert optional",
            Feature::ClientCert(ClientCert::Absent) => "client cert absent",
            Feature::Resumption => "resumption",
            Feature::Close(Close::OursClean) => "close: our close_clean()",
            Feature::Close(Close::PeerClean) => "close: peer's close_notify",
            Feature::Close(Close::OursNormal) => "close: our close()",
            Feature::Close(Close::PeerDrops) => "close: peer drops socket",
            Feature::NoSni => "no SNI",
            Feature::ExactTrust => "exact trust of a CA-flagged self-signed cert",
        })
    }
}

/// The feature cells of one peer × role, in a fixed order (modes rotate along it).
pub const FEATURES: [Feature; 12] = [
    Feature::Alpn(Alpn::Matched),
    Feature::Alpn(Alpn::NoneOffered),
    Feature::Alpn(Alpn::Mismatch),
    Feature::ClientCert(ClientCert::Required),
    Feature::ClientCert(ClientCert::Optional),
    Feature::ClientCert(ClientCert::Absent),
    Feature::Resumption,
    Feature::Close(Close::OursClean),
    Feature::Close(Close::PeerClean),
    Feature::Close(Close::OursNormal),
    Feature::Close(Close::PeerDrops),
    Feature::NoSni,
];

/// One combination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    pub peer: Peer,
    pub role: Role,
    pub version: Version,
    pub mode: Mode,
    pub feature: Feature,
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} as {:?} peer, our {:?} {:?}, {:?}, {}",
            self.peer,
            match self.role {
                Role::Client => "server",
                Role::Server => "client",
            },
            self.role,
            self.mode,
            self.version,
            self.feature
        )
    }
}

/// Every transfer cell for our `role`: peer × version × mode.
pub fn transfer_cells(role: Role) -> Vec<Cell> {
    let mut cells = Vec::new();
    for peer in PEERS {
        for version in VERSIONS {
            for mode in MODES {
                cells.push(Cell {
                    peer,
                    role,
                    version,
                    mode,
                    feature: Feature::Transfer,
                });
            }
        }
    }
    cells
}

/// The feature cells selected by `keep`, for every peer × role. The mode rotates with the
/// feature's position, the peer and the role; the version alternates (a peer without
/// TLS 1.3 is given TLS 1.2 in its own cells, see [`version_for`]). Resumption runs with
/// both versions.
pub fn feature_cells(keep: impl Fn(Feature) -> bool) -> Vec<Cell> {
    let mut cells = Vec::new();
    for (p, peer) in PEERS.into_iter().enumerate() {
        for (r, role) in ROLES.into_iter().enumerate() {
            for (i, feature) in FEATURES.into_iter().enumerate() {
                if !keep(feature) {
                    continue;
                }
                let mode = MODES[(i + p + r) % MODES.len()];
                let versions: Vec<Version> = if feature == Feature::Resumption {
                    VERSIONS.to_vec()
                } else {
                    vec![VERSIONS[(i + p + 1) % VERSIONS.len()]]
                };
                for version in versions {
                    cells.push(Cell {
                        peer,
                        role,
                        version: version_for(peer, version, feature),
                        mode,
                        feature,
                    });
                }
            }
        }
    }
    cells
}

/// The exact-trust cells: every peer × role, one version and mode each (rotating), outside
/// [`FEATURES`] so that the other cells keep their modes.
pub fn exact_trust_cells() -> Vec<Cell> {
    let mut cells = Vec::new();
    for (p, peer) in PEERS.into_iter().enumerate() {
        for (r, role) in ROLES.into_iter().enumerate() {
            let feature = Feature::ExactTrust;
            cells.push(Cell {
                peer,
                role,
                version: version_for(peer, VERSIONS[(p + r) % VERSIONS.len()], feature),
                mode: MODES[(p + r) % MODES.len()],
                feature,
            });
        }
    }
    cells
}

/// Pike 8.0 has no TLS 1.3: its feature cells run with TLS 1.2; its transfer and
/// resumption cells keep their TLS 1.3 rows, which the table explains.
fn version_for(peer: Peer, version: Version, feature: Feature) -> Version {
    match (peer, feature) {
        (Peer::Pike, Feature::Transfer | Feature::Resumption) => version,
        (Peer::Pike, _) => Version::Tls12,
        _ => version,
    }
}
