//! Everything a cell needs, derived from the cell: payloads (shaped for the peer's way of
//! carrying data), ALPN lists and the expected outcome, client-certificate parts, how the
//! connection ends, and our context.

use std::sync::Arc;

use sslfile::{ClientAuth, Context};

use super::cells::{Alpn, Cell, ClientCert, Close, Feature, Peer, Role};
use super::http;
use super::ours::Until;
use super::peers::{self, gnutls, openssl, PeerClientAuth, PeerClose, Refusal};
use super::pki::Pki;
use crate::common::random_bytes;

/// Sizes of the exchanged payloads, each way.
pub const TRANSFER_BYTES: usize = 16 << 20;
pub const FEATURE_BYTES: usize = 64 << 10;
pub const RESUMPTION_BYTES: usize = 4 << 10;

/// How our side ends each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    CleanOurs,
    OursNormal,
    PeerClean,
    PeerDrops,
}

/// Everything a cell needs, derived from the cell.
pub struct Plan {
    pub cell: Cell,
    pub connections: usize,
    /// What we write on each connection.
    pub up: Arc<Vec<u8>>,
    /// What the peer program is given to send on each connection.
    pub peer_send: Arc<Vec<u8>>,
    /// What the peer must receive.
    pub peer_expect: Arc<Vec<u8>>,
    /// What we must receive (the body of curl's request, for curl).
    pub down: Arc<Vec<u8>>,
    pub until: Until,
    /// We answer after the whole request arrived (HTTP).
    pub send_after: bool,
    pub our_alpn: Option<&'static str>,
    pub peer_alpn: Option<&'static str>,
    pub agreed_alpn: Option<&'static str>,
    pub sni: bool,
    pub ending: Ending,
    /// Our clean close gets no answer from this peer (why): `close_clean()` must report
    /// the truncation.
    pub clean_close_unanswered: Option<&'static str>,
    pub refusal: Option<Refusal>,
    pub peer_client_auth: PeerClientAuth,
    pub our_client_auth: OurClientAuth,
    /// The client certificate also names `localhost` ([`peers::PIKE_CLIENT_CERT_NOTE`]).
    pub client_cert_names_localhost: bool,
    /// The test client's leaf certificate, set once the PKI exists.
    pub client_cert: rustls::pki_types::CertificateDer<'static>,
    pub notes: Vec<String>,
}

/// Our side's client-certificate part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OurClientAuth {
    /// Client: no certificate. Server: no request.
    None,
    /// Client: our context has the client certificate, presented when asked.
    Present,
    /// Server: this policy, clients verified against the test CA.
    Require(ClientAuth),
}

impl Plan {
    pub fn new(cell: Cell) -> Plan {
        let (size, connections) = match cell.feature {
            Feature::Transfer => (TRANSFER_BYTES, 1),
            Feature::Resumption => (RESUMPTION_BYTES, 2),
            _ => (FEATURE_BYTES, 1),
        };
        let mut notes = Vec::new();
        let alpn = alpn(cell, &mut notes);
        let mut refusal = alpn.refusal;
        if cell.feature == Feature::NoSni {
            match (cell.role, peers::refuses_no_sni(cell.peer)) {
                (Role::Client, Some(why)) => {
                    refusal = Some(Refusal::NoSni);
                    notes.push(why.to_owned());
                }
                (Role::Server, _) if cell.peer == Peer::Pike => {
                    notes.push(peers::PIKE_NO_SNI_CLIENT_NOTE.to_owned())
                }
                _ => {}
            }
        }
        let (peer_client_auth, our_client_auth, cert_refusal) = client_certificates(cell);
        refusal = refusal.or(cert_refusal);
        let client_cert_names_localhost = cell.peer == Peer::Pike
            && cell.role == Role::Client
            && our_client_auth == OurClientAuth::Present;
        if client_cert_names_localhost {
            notes.push(peers::PIKE_CLIENT_CERT_NOTE.to_owned());
        }
        let (ending, clean_close_unanswered) = ending(cell, &mut notes);
        let mut data = payloads(cell, size, ending, &mut notes);
        if refusal.is_some() {
            data.peer_send = Vec::new();
        }
        Plan {
            cell,
            connections,
            up: Arc::new(data.up),
            peer_send: Arc::new(data.peer_send),
            peer_expect: Arc::new(data.peer_expect),
            down: Arc::new(data.down),
            until: data.until,
            send_after: data.send_after,
            our_alpn: alpn.ours,
            peer_alpn: alpn.peers,
            agreed_alpn: alpn.agreed,
            sni: cell.feature != Feature::NoSni,
            ending,
            clean_close_unanswered,
            refusal,
            peer_client_auth,
            our_client_auth,
            client_cert_names_localhost,
            client_cert: rustls::pki_types::CertificateDer::from(Vec::new()),
            notes,
        }
    }

    pub fn peer_close(&self) -> PeerClose {
        match self.ending {
            Ending::CleanOurs => PeerClose::Answer,
            Ending::OursNormal => PeerClose::Observe,
            Ending::PeerClean => PeerClose::Initiate,
            Ending::PeerDrops => PeerClose::Drop,
        }
    }

    /// gnutls-cli --resume: the first connection only handshakes, then closes cleanly.
    pub fn handshake_only(&self, conn: usize) -> bool {
        conn == 0
            && self.cell.peer == Peer::GnuTls
            && gnutls::first_connection_handshake_only(
                self.cell.feature,
                self.cell.role == Role::Client,
            )
    }
}

struct AlpnPlan {
    ours: Option<&'static str>,
    peers: Option<&'static str>,
    agreed: Option<&'static str>,
    refusal: Option<Refusal>,
}

/// The ALPN lists on both sides, and what must come of them.
fn alpn(cell: Cell, notes: &mut Vec<String>) -> AlpnPlan {
    let Feature::Alpn(case) = cell.feature else {
        return AlpnPlan {
            ours: None,
            peers: None,
            agreed: None,
            refusal: None,
        };
    };
    let (client, server) = peers::alpn_lists(case);
    let (ours, peers) = match cell.role {
        Role::Client => (client, server),
        Role::Server => (server, client),
    };
    let (agreed, refusal) = match case {
        Alpn::Matched => (Some("http/1.1"), None),
        Alpn::NoneOffered => (None, None),
        Alpn::Mismatch => match (cell.role, peers::ignores_alpn_mismatch(cell.peer)) {
            (Role::Client, Some(why)) => {
                notes.push(why.to_owned());
                (None, None)
            }
            _ => (None, Some(Refusal::Alpn)),
        },
    };
    AlpnPlan {
        ours,
        peers,
        agreed,
        refusal,
    }
}

/// The peer's and our client-certificate parts (peer server: its policy; peer client:
/// `Required` means it presents one), and the refusal they lead to.
fn client_certificates(cell: Cell) -> (PeerClientAuth, OurClientAuth, Option<Refusal>) {
    use OurClientAuth::{Present, Require};
    let Feature::ClientCert(case) = cell.feature else {
        return (PeerClientAuth::None, OurClientAuth::None, None);
    };
    match (case, cell.role) {
        (ClientCert::Required, Role::Client) => (PeerClientAuth::Required, Present, None),
        (ClientCert::Optional, Role::Client) => {
            (PeerClientAuth::Optional, OurClientAuth::None, None)
        }
        (ClientCert::Absent, Role::Client) => (
            PeerClientAuth::Required,
            OurClientAuth::None,
            Some(Refusal::ClientCert),
        ),
        (ClientCert::Required, Role::Server) => (
            PeerClientAuth::Required,
            Require(ClientAuth::Required),
            None,
        ),
        (ClientCert::Optional, Role::Server) => {
            (PeerClientAuth::None, Require(ClientAuth::Optional), None)
        }
        (ClientCert::Absent, Role::Server) => (
            PeerClientAuth::None,
            Require(ClientAuth::Required),
            Some(Refusal::ClientCert),
        ),
    }
}

/// How our side ends each connection, and, if our clean close cannot be answered by this
/// peer, why.
fn ending(cell: Cell, notes: &mut Vec<String>) -> (Ending, Option<&'static str>) {
    let ending = match cell.feature {
        Feature::Close(Close::PeerClean) => Ending::PeerClean,
        Feature::Close(Close::OursNormal) => Ending::OursNormal,
        Feature::Close(Close::PeerDrops) => Ending::PeerDrops,
        _ => Ending::CleanOurs,
    };
    let unanswered = peers::does_not_answer_close_notify(cell.peer, cell.role);
    match (ending, unanswered) {
        // The point of this cell: our side must report the missing answer.
        (Ending::CleanOurs, Some(why)) if cell.feature == Feature::Close(Close::OursClean) => {
            notes.push(why.to_owned());
            (Ending::CleanOurs, Some(why))
        }
        // Elsewhere: the close_notify exchange is the peer's first, answered by us.
        (Ending::CleanOurs, Some(why)) => {
            notes.push(format!(
                "{why}; so the close_notify exchange here is the peer's first, ours in answer"
            ));
            (Ending::PeerClean, None)
        }
        _ => (ending, None),
    }
}

/// The data of each connection, in the peer's own way of carrying it.
struct Payloads {
    up: Vec<u8>,
    down: Vec<u8>,
    peer_send: Vec<u8>,
    peer_expect: Vec<u8>,
    until: Until,
    send_after: bool,
}

fn payloads(cell: Cell, size: usize, ending: Ending, notes: &mut Vec<String>) -> Payloads {
    let seed = seed_of(&cell);
    let up = random_bytes(size, seed);
    let down = random_bytes(size, seed ^ 0x5EED);
    match (cell.peer, cell.role) {
        (Peer::GnuTls, Role::Client) => {
            notes.push(
                "gnutls-serv --echo: the data coming back is the echo of ours, without NUL bytes"
                    .into(),
            );
            let up = gnutls::echo_payload(&up);
            Payloads {
                until: Until::Len(up.len()),
                down: up.clone(),
                peer_send: Vec::new(),
                peer_expect: up.clone(),
                up,
                send_after: false,
            }
        }
        (Peer::Curl, Role::Server) => {
            notes.push(
                "curl: HTTP, request then response (both directions, one after the other)".into(),
            );
            // curl uploads `down` as a POST body; we answer with `up` as the body.
            Payloads {
                up: if ending == Ending::PeerDrops {
                    Vec::new()
                } else {
                    http::response(&up)
                },
                peer_send: down.clone(),
                peer_expect: up,
                down,
                until: Until::HttpRequest,
                send_after: true,
            }
        }
        (peer, role) => {
            let down = if (peer, role) == (Peer::OpenSsl, Role::Client) {
                openssl::sserver_payload(cell.feature, &down)
            } else {
                down
            };
            Payloads {
                until: Until::Len(down.len()),
                peer_send: down.clone(),
                peer_expect: up.clone(),
                up,
                down,
                send_after: false,
            }
        }
    }
}

/// A stable seed per cell, so that a failure can be replayed with the same bytes.
fn seed_of(cell: &Cell) -> u64 {
    let text = format!("{cell:?}");
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Our context for the cell: the pinned version, trust or certificate, client
/// certificates, ALPN.
pub fn our_context(plan: &Plan, pki: &Pki) -> Result<Context, String> {
    let v = plan.cell.version.ours();
    let mut builder = Context::builder()
        .versions(v, v)
        .map_err(|e| e.to_string())?;
    builder = match plan.cell.role {
        Role::Client => builder.trust_pem(pki.trusted_pem.as_bytes()),
        Role::Server => builder.certificate_chain_pem(
            pki.server.chain_pem.as_bytes(),
            pki.server.key_pem.as_bytes(),
        ),
    }
    .map_err(|e| e.to_string())?;
    builder = match plan.our_client_auth {
        OurClientAuth::None => builder,
        OurClientAuth::Present => builder
            .certificate_chain_pem(
                pki.client.chain_pem.as_bytes(),
                pki.client.key_pem.as_bytes(),
            )
            .map_err(|e| e.to_string())?,
        OurClientAuth::Require(policy) => builder
            .client_auth(policy)
            .client_ca_pem(pki.ca.ca_pem.as_bytes())
            .map_err(|e| e.to_string())?,
    };
    if let Some(list) = plan.our_alpn {
        builder = builder.alpn_protocols(list.split(','));
    }
    builder.build().map_err(|e| e.to_string())
}
