//! The report lines of the scripted and in-process peers (format: see
//! `tests/peers/python_peer.py`), and their check against a [`PeerJob`].

use std::collections::BTreeMap;
use std::path::Path;

use super::{PeerClientAuth, PeerClose, PeerJob};
use crate::interop::pki::CLIENT_NAME;

/// One report line: `EVENT key=value ...`.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: String,
    pub fields: BTreeMap<String, String>,
}

impl Event {
    pub fn get(&self, key: &str) -> &str {
        self.fields.get(key).map_or("", String::as_str)
    }
}

/// Parses every line that looks like an event (other output is ignored).
pub fn parse(text: &str) -> Vec<Event> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split(' ');
            let name = words.next()?;
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_uppercase()) {
                return None;
            }
            // The error of FAILED may contain spaces: it is the last field, take the rest.
            let mut fields = BTreeMap::new();
            let rest = &line[name.len()..];
            let mut rest = rest.trim_start();
            while let Some((key, after)) = rest.split_once('=') {
                if key == "error" {
                    fields.insert(key.to_owned(), after.to_owned());
                    break;
                }
                let (value, next) = after.split_once(' ').unwrap_or((after, ""));
                fields.insert(key.to_owned(), value.to_owned());
                rest = next;
            }
            Some(Event {
                name: name.to_owned(),
                fields,
            })
        })
        .collect()
}

/// Checks the events of a peer against `job`; `recv_prefix`: where the peer wrote what it
/// received (`<prefix>.<connection>`), if it did; `extra_refusal_words`: further words that
/// show a refusal, for peers that cannot say why. Returns the evidence for the table.
pub fn check(
    job: &PeerJob<'_>,
    events: &[Event],
    recv_prefix: Option<&Path>,
    extra_refusal_words: &[&str],
) -> Result<Vec<String>, String> {
    let find = |name: &str, conn: usize| {
        events
            .iter()
            .find(|e| e.name == name && e.get("conn") == conn.to_string())
    };
    if let Some(refusal) = job.refusal {
        let failed = events
            .iter()
            .find(|e| e.name == "FAILED")
            .ok_or("the peer did not report the expected handshake failure")?;
        let error = failed.get("error").to_lowercase();
        if !refusal
            .words()
            .iter()
            .chain(extra_refusal_words)
            .any(|w| error.contains(w))
        {
            return Err(format!(
                "the peer failed, but not for the expected reason ({refusal:?}): {}",
                failed.get("error")
            ));
        }
        return Ok(vec![format!("peer: {}", failed.get("error"))]);
    }
    if let Some(failed) = events.iter().find(|e| e.name == "FAILED") {
        return Err(format!(
            "the peer failed in its {} stage: {}",
            failed.get("stage"),
            failed.get("error")
        ));
    }
    let mut resumed = Vec::new();
    let mut notes = Vec::new();
    for conn in 0..job.connections {
        let hs = find("HANDSHAKE", conn)
            .ok_or(format!("no handshake reported for connection {conn}"))?;
        let version = hs.get("version");
        if version != job.version().openssl_name() {
            return Err(format!(
                "the peer negotiated {version}, not {:?}",
                job.version()
            ));
        }
        let alpn = hs.get("alpn");
        if alpn != job.agreed_alpn.unwrap_or("-") {
            return Err(format!(
                "the peer sees ALPN {alpn:?}, expected {:?}",
                job.agreed_alpn
            ));
        }
        resumed.push(hs.get("resumed") == "1");
        if job.peer_is_server() {
            let sni = hs.get("sni");
            let want = if job.sni { "localhost" } else { "-" };
            if sni != want {
                return Err(format!(
                    "the peer server saw SNI {sni:?}, expected {want:?}"
                ));
            }
            let cert = hs.get("peer_cert");
            let want_cert = if job.client_auth == PeerClientAuth::Required {
                CLIENT_NAME
            } else {
                "-"
            };
            if cert != want_cert {
                return Err(format!(
                    "the peer server saw client certificate {cert:?}, expected {want_cert:?}"
                ));
            }
        }
        let received = find("RECEIVED", conn).ok_or(format!(
            "connection {conn}: the peer did not finish its exchange"
        ))?;
        if received.get("bytes") != job.expect.len().to_string() {
            return Err(format!(
                "connection {conn}: the peer received {} bytes, expected {}",
                received.get("bytes"),
                job.expect.len()
            ));
        }
        if let Some(prefix) = recv_prefix {
            let path = prefix.with_extension(conn.to_string());
            let got = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            crate::interop::compare("what the peer received", &got, &job.expect)?;
        }
        let close = find("CLOSE", conn).ok_or(format!("connection {conn}: no close reported"))?;
        let how = close.get("how");
        let want = match job.close {
            PeerClose::Answer => "answered",
            PeerClose::Initiate => "initiated",
            PeerClose::Observe => "close_notify",
            PeerClose::Drop => "dropped",
        };
        if how != want {
            return Err(format!(
                "connection {conn}: the peer's ending was {how:?}, expected {want:?}"
            ));
        }
        if conn == 0 {
            let ending = match how {
                "answered" => "answered our close_notify",
                "initiated" => "sent close_notify first, got ours",
                "close_notify" => "saw our close_notify",
                _ => "dropped its socket",
            };
            notes.push(format!("peer: {version}, ALPN {alpn}, {ending}"));
        }
    }
    if job.resumption {
        let want: Vec<bool> = (0..job.connections).map(|c| c > 0).collect();
        if resumed != want {
            return Err(format!(
                "the peer's resumed flags are {resumed:?}, expected {want:?}"
            ));
        }
        notes.push("peer: 2nd connection resumed".into());
    }
    if !events.iter().any(|e| e.name == "DONE") {
        return Err("the peer did not report DONE".into());
    }
    Ok(notes)
}
