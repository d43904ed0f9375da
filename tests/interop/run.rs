//! One cell, end to end: a fresh PKI, our context, the peer, then for each connection our
//! handshake, the exchange and the ending, each checked on both sides.

use std::net::TcpListener;
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use sslfile::Context;

use super::cells::{Cell, Feature, Role};
use super::http;
use super::ours::{Failure, Ours, STEP_TIMEOUT};
use super::peers::{self, PeerClientAuth, PeerJob, Refusal};
use super::pki::Pki;
use super::plan::{our_context, Ending, OurClientAuth, Plan};
use crate::common::{accept_timeout, connect_local};

/// How a cell came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Ran; everything checked out.
    Pass,
    /// Ran; the handshake was refused, as it must be, with a clear error on both sides.
    Refused,
    /// Cannot run: the peer's limitation, explained.
    NotApplicable,
    /// Ran and failed.
    Fail,
}

/// A cell's result, with the evidence (or the reason it did not run).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub cell: Cell,
    pub status: Status,
    pub detail: String,
    pub seconds: f64,
}

/// Runs `cell` (or explains why it does not run). Never panics.
pub fn run(cell: Cell) -> Outcome {
    let start = Instant::now();
    let outcome = |status, detail: String| Outcome {
        cell,
        status,
        detail,
        seconds: start.elapsed().as_secs_f64(),
    };
    if let Some(reason) = peers::not_applicable(&cell) {
        return outcome(Status::NotApplicable, reason);
    }
    let result = panic::catch_unwind(AssertUnwindSafe(|| run_applicable(cell)));
    match result {
        Ok(Ok((status, notes))) => outcome(status, notes.join("; ")),
        Ok(Err(message)) => outcome(Status::Fail, message),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            outcome(Status::Fail, format!("panic: {message}"))
        }
    }
}

fn run_applicable(cell: Cell) -> Result<(Status, Vec<String>), String> {
    let mut plan = Plan::new(cell);
    let pki = match cell.feature {
        Feature::ExactTrust => Pki::exact_trust(),
        _ => Pki::new(plan.client_cert_names_localhost),
    };
    plan.client_cert = pki.client.cert_der.clone();
    let ctx = our_context(&plan, &pki)?;
    let listener = match cell.role {
        Role::Server => Some(TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?),
        Role::Client => None,
    };
    let job = PeerJob {
        cell,
        pki: &pki,
        our_port: listener
            .as_ref()
            .map_or(0, |l| l.local_addr().map_or(0, |a| a.port())),
        connections: plan.connections,
        send: plan.peer_send.clone(),
        expect: plan.peer_expect.clone(),
        alpn: plan.peer_alpn,
        agreed_alpn: plan.agreed_alpn,
        sni: plan.sni,
        close: plan.peer_close(),
        refusal: plan.refusal,
        client_auth: plan.peer_client_auth,
        resumption: cell.feature == Feature::Resumption,
    };
    let mut peer = peers::start(&job)?;
    let mut notes = plan.notes.clone();
    match connections(&plan, &ctx, listener.as_ref(), &job, &mut *peer, &mut notes) {
        Ok(status) => {
            notes.extend(peer.finish(&job)?);
            Ok((status, notes))
        }
        // The peer's view helps to understand our failure.
        Err(ours) => {
            peer.abort();
            Err(match peer.finish(&job) {
                Ok(peer_notes) => format!("{ours}\n(the peer: {})", peer_notes.join("; ")),
                Err(peer_error) => format!("{ours}\n(the peer: {peer_error})"),
            })
        }
    }
}

/// Every connection of the cell, from our side.
fn connections(
    plan: &Plan,
    ctx: &Context,
    listener: Option<&TcpListener>,
    job: &PeerJob<'_>,
    peer: &mut dyn peers::PeerRun,
    notes: &mut Vec<String>,
) -> Result<Status, String> {
    let cell = plan.cell;
    for conn in 0..plan.connections {
        peer.begin_connection(job, conn)?;
        let sock = match listener {
            Some(listener) => accept_timeout(listener, STEP_TIMEOUT)
                .map_err(|e| format!("the peer did not connect: {e}"))?,
            None => {
                connect_local(peer.port()).map_err(|e| format!("connecting to the peer: {e}"))?
            }
        };
        let ports = (port_of(sock.local_addr()), port_of(sock.peer_addr()));
        let name = if plan.sni { "localhost" } else { "127.0.0.1" };
        let mut ours = Ours::start(sock, ctx, cell.role, name, cell.mode);
        match connection(&mut ours, plan, conn)? {
            Step::Refused(note) => {
                notes.push(note);
                return Ok(Status::Refused);
            }
            Step::HandshakeOnly => {
                ours.expect_clean_end()
                    .map_err(|e| format!("connection {conn} (handshake only): {e}"))?;
                continue;
            }
            Step::Exchanged(our_notes) => {
                let tag = format!("connection {conn}");
                notes.extend(
                    our_notes
                        .into_iter()
                        .filter(|n| conn == 0 || n.contains(&tag)),
                );
            }
        }
        peer.end_connection(job, conn, ports.0, ports.1)?;
        let ended = match plan.ending {
            Ending::CleanOurs if plan.clean_close_unanswered.is_some() => {
                ours.close_clean_unanswered()
            }
            Ending::CleanOurs => ours.close_clean(),
            Ending::OursNormal => ours.close_normal(),
            Ending::PeerClean => ours.expect_clean_end(),
            Ending::PeerDrops => ours.expect_truncation(),
        };
        ended.map_err(|e| format!("connection {conn}, ending {:?}: {e}", plan.ending))?;
        if conn == 0 {
            notes.push(
                match plan.ending {
                    Ending::CleanOurs if plan.clean_close_unanswered.is_some() => {
                        "ours: close_clean() reports BrokenPipe (no answer, socket closed), into_stream() too"
                    }
                    Ending::CleanOurs => "ours: close_clean() got the peer's close_notify, into_stream() gave the socket back",
                    Ending::OursNormal => "ours: close() ok",
                    Ending::PeerClean => "ours: read gave Ok(0), write BrokenPipe",
                    Ending::PeerDrops => "ours: BrokenPipe (truncation) for read and write",
                }
                .to_owned(),
            );
        }
    }
    Ok(Status::Pass)
}

fn port_of(addr: std::io::Result<std::net::SocketAddr>) -> u16 {
    addr.map_or(0, |a| a.port())
}

enum Step {
    Refused(String),
    HandshakeOnly,
    Exchanged(Vec<String>),
}

/// Our handshake and exchange on one connection, checked.
fn connection(ours: &mut Ours, plan: &Plan, conn: usize) -> Result<Step, String> {
    let cell = plan.cell;
    let handshake = ours.handshake();
    if let Some(refusal) = plan.refusal {
        let failure = match handshake {
            Err(f) => f,
            // TLS 1.3: a client's handshake is over before the server judged it; the
            // server's alert comes with the first read.
            Ok(()) => ours.first_failure()?,
        };
        return check_refusal(refusal, &failure).map(Step::Refused);
    }
    handshake.map_err(|f| format!("connection {conn}: handshake failed: {f}"))?;
    let file = ours.file();
    let mut notes = Vec::new();
    let version = file.protocol_version();
    if version != Some(cell.version.ours()) {
        return Err(format!(
            "negotiated {version:?}, expected {:?}",
            cell.version
        ));
    }
    if let Some(group) = file.key_exchange_group() {
        notes.push(format!("ours: key exchange {group:?}"));
    }
    let alpn = file.alpn_protocol();
    if alpn.as_deref() != plan.agreed_alpn.map(str::as_bytes) {
        return Err(format!(
            "our ALPN is {:?}, expected {:?}",
            alpn.map(|a| String::from_utf8_lossy(&a).into_owned()),
            plan.agreed_alpn
        ));
    }
    if let Some(p) = plan.agreed_alpn {
        notes.push(format!("ours: ALPN {p}"));
    } else if matches!(cell.feature, Feature::Alpn(_)) {
        notes.push("ours: no ALPN".into());
    }
    if cell.role == Role::Server {
        let sni = file.server_name();
        let want = plan.sni.then(|| "localhost".to_owned());
        if sni != want {
            return Err(format!("our server saw SNI {sni:?}, expected {want:?}"));
        }
        if !plan.sni {
            notes.push("ours: no SNI, default certificate".into());
        }
    } else if !plan.sni {
        notes.push("ours: connected by IP, verified against the IP SAN".into());
    }
    if let OurClientAuth::Require(policy) = plan.our_client_auth {
        let leaf = file
            .peer_certificates()
            .and_then(|chain| chain.first().cloned());
        let presented = plan.peer_client_auth == PeerClientAuth::Required;
        match (&leaf, presented) {
            (Some(cert), true) if *cert == plan.client_cert => {
                notes.push(format!(
                    "ours ({policy:?}): the peer's client certificate, verified"
                ));
            }
            (None, false) => notes.push(format!(
                "ours ({policy:?}): no client certificate, accepted"
            )),
            _ => {
                return Err(format!(
                    "our server sees client certificate {:?}, expected {}",
                    leaf.map(|c| c.len()),
                    if presented {
                        "the test client's"
                    } else {
                        "none"
                    }
                ))
            }
        }
    }
    if cell.feature == Feature::Resumption {
        // gnutls-cli --resume: connection 0 is the full handshake, 1 the resumed one.
        let resumed = file.is_resumed();
        let want = conn > 0;
        if resumed != want {
            return Err(format!(
                "connection {conn}: our handshake_kind() is {:?}, expected {}",
                file.handshake_kind(),
                if want { "Resumed" } else { "Full" }
            ));
        }
        if want {
            notes.push(format!("ours: connection {conn} is_resumed()"));
        }
    }
    if plan.handshake_only(conn) {
        return Ok(Step::HandshakeOnly);
    }
    let got = ours.exchange(plan.up.clone(), plan.until, plan.send_after)?;
    if plan.send_after {
        let head = http::request_head(&got);
        if !head.starts_with(&format!("POST /{conn} HTTP/1.1")) {
            return Err(format!("unexpected request: {head:?}"));
        }
        super::compare("the request body", http::request_body(&got), &plan.down)?;
    } else {
        super::compare("what we received", &got, &plan.down)?;
    }
    if conn == 0 {
        notes.push(format!(
            "ours: {} bytes out, {} in, identical",
            plan.up.len(),
            plan.down.len()
        ));
    }
    Ok(Step::Exchanged(notes))
}

/// Our side's error for a refused handshake: the peer's alert (`ConnectionReset`) or our
/// own rejection (`InvalidData`), with a message that names the reason.
fn check_refusal(refusal: Refusal, failure: &Failure) -> Result<String, String> {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, InvalidData};
    if !matches!(
        failure.kind,
        ConnectionReset | InvalidData | ConnectionAborted
    ) {
        return Err(format!("expected a refusal ({refusal:?}), got {failure}"));
    }
    let lower = failure.message.to_lowercase();
    let words: &[&str] = match refusal {
        Refusal::Alpn => &["alpn", "application protocol"],
        // TLS 1.2 servers refuse with a bare handshake_failure alert.
        Refusal::ClientCert => &["certificate", "handshake_failure"],
        Refusal::NoSni => &["handshake", "handshake_failure"],
    };
    if !words.iter().any(|w| lower.contains(w)) {
        return Err(format!(
            "the refusal's message does not say why ({refusal:?}): {failure}"
        ));
    }
    Ok(format!("ours: {:?}: {}", failure.kind, failure.message))
}
