//! TLS 1.3 early data ("0-RTT"): what the engine does with it, and what the user sees.
//!
//! A **client** given early data writes as much of it as the session allows with its
//! ClientHello and keeps the rest, and everything the user writes while the handshake runs,
//! back until the server has answered. Then, if the server accepted the early data, the
//! rest follows; if it refused it, the early bytes are sent again before the rest. Either
//! way the peer reads the stream in the order it was written, and nothing is lost.
//!
//! A **server** takes early data only on connections whose application opted in (rustls is
//! told to refuse it otherwise). What arrives is moved, as it is decrypted, in front of
//! everything else the user reads: it is the start of the stream. How many bytes came that
//! way is counted, since they may be a replay.

use std::collections::VecDeque;
use std::io::{Read, Write};

use rustls::{ClientConnection, Connection, ServerConnection};

/// What became of early data on a connection
/// ([`SslFile::early_data`](crate::SslFile::early_data)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EarlyData {
    /// None was sent or taken: none was given, the session did not allow it (a first
    /// connection, TLS 1.2, a server without early data), or the server did not opt in.
    None,
    /// The handshake is still running: the outcome is not known yet.
    Pending,
    /// Accepted: the first `bytes` bytes of the stream travelled as early data. On a
    /// server, they may be a **replay** of another connection's: act on them only if that
    /// is safe.
    Accepted {
        /// How many of the stream's first bytes were early data.
        bytes: usize,
    },
    /// Client only: the server refused the early data, so it was sent again as ordinary
    /// data once the handshake completed (the server read it once, in order).
    Rejected,
}

/// The engine's early-data state.
#[derive(Debug, Default)]
pub(crate) enum EarlyPlan {
    /// No early data on this connection.
    #[default]
    Off,
    /// Client, handshake running: `sent` went out as early data; `queued` (the rest of
    /// the early data, then the user's writes) waits for the server's answer.
    ClientWaiting { sent: Vec<u8>, queued: Vec<u8> },
    /// Client, handshake complete.
    ClientSettled(EarlyData),
    /// Server that takes early data: `received` bytes so far.
    ServerTaking { received: usize },
}

impl EarlyPlan {
    /// A client's plan: writes what the session allows of `data` (at most `limit` bytes) as
    /// early data and keeps the rest for after the handshake.
    pub(crate) fn client(conn: &mut ClientConnection, data: &[u8], limit: u32) -> EarlyPlan {
        if data.is_empty() {
            return EarlyPlan::Off;
        }
        let early = match conn.early_data() {
            Some(mut writer) if limit > 0 => {
                let room = writer.bytes_left().min(limit as usize).min(data.len());
                writer.write(&data[..room]).unwrap_or(0)
            }
            _ => 0,
        };
        EarlyPlan::ClientWaiting {
            sent: data[..early].to_vec(),
            queued: data[early..].to_vec(),
        }
    }

    /// A server's plan: takes early data only if the application opted in (`accept`).
    pub(crate) fn server(conn: &mut ServerConnection, accept: bool, limit: u32) -> EarlyPlan {
        if limit == 0 {
            return EarlyPlan::Off;
        }
        if !accept {
            conn.reject_early_data();
            return EarlyPlan::Off;
        }
        EarlyPlan::ServerTaking { received: 0 }
    }

    /// Takes what the user writes while a client waits for the server's answer: up to
    /// `room` bytes in all. `None`: not waiting, write to rustls as usual.
    pub(crate) fn queue_write(&mut self, buf: &[u8], room: usize) -> Option<usize> {
        let EarlyPlan::ClientWaiting { queued, .. } = self else {
            return None;
        };
        let n = buf.len().min(room.saturating_sub(queued.len()));
        queued.extend_from_slice(&buf[..n]);
        Some(n)
    }

    /// After records were processed: a server moves early data to `held` (the front of
    /// what the user reads); a client whose handshake completed sends what it kept back
    /// (the early bytes again first, if the server refused them). `pending_limit` is the
    /// connection's buffer limit, lifted for that one hand-over so that nothing is lost.
    pub(crate) fn after_records(
        &mut self,
        conn: &mut Connection,
        held: &mut VecDeque<u8>,
        pending_limit: usize,
    ) {
        match (self, conn) {
            (EarlyPlan::ServerTaking { received }, Connection::Server(server)) => {
                if let Some(mut reader) = server.early_data() {
                    let mut chunk = [0u8; 4096];
                    while let Ok(n @ 1..) = reader.read(&mut chunk) {
                        held.extend(&chunk[..n]);
                        *received += n;
                    }
                }
            }
            (plan @ EarlyPlan::ClientWaiting { .. }, Connection::Client(client))
                if !client.is_handshaking() =>
            {
                let accepted = client.is_early_data_accepted();
                let EarlyPlan::ClientWaiting { sent, queued } = std::mem::take(plan) else {
                    unreachable!("matched above");
                };
                client.set_buffer_limit(None);
                if !accepted {
                    let _ = client.writer().write_all(&sent);
                }
                let _ = client.writer().write_all(&queued);
                client.set_buffer_limit(Some(pending_limit));
                *plan = EarlyPlan::ClientSettled(match (sent.is_empty(), accepted) {
                    (true, _) => EarlyData::None,
                    (false, true) => EarlyData::Accepted { bytes: sent.len() },
                    (false, false) => EarlyData::Rejected,
                });
            }
            _ => {}
        }
    }

    /// The outcome so far; `handshaking` is the connection's state.
    pub(crate) fn outcome(&self, handshaking: bool) -> EarlyData {
        match self {
            EarlyPlan::Off => EarlyData::None,
            EarlyPlan::ClientWaiting { .. } => EarlyData::Pending,
            EarlyPlan::ClientSettled(outcome) => *outcome,
            EarlyPlan::ServerTaking { received: 0 } if handshaking => EarlyData::Pending,
            EarlyPlan::ServerTaking { received: 0 } => EarlyData::None,
            EarlyPlan::ServerTaking { received } => EarlyData::Accepted { bytes: *received },
        }
    }
}
