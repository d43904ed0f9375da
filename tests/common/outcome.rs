//! What one side of a transfer saw, and the checks every fault test makes on it.

use std::io;

/// How a side's transfer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still running.
    Running,
    /// Read end of stream after the peer's close_notify (`Ok(0)`, or a close callback
    /// without error).
    CleanEof,
    /// This side closed the connection itself (its part went well).
    Closed,
    /// An operation failed with this kind (the message for the report).
    Failed(io::ErrorKind, String),
}

impl Outcome {
    /// True once the side is done.
    pub fn is_done(&self) -> bool {
        !matches!(self, Outcome::Running)
    }

    /// The error from an `io::Error`.
    pub fn failed(e: &io::Error) -> Outcome {
        Outcome::Failed(e.kind(), e.to_string())
    }
}

/// What a transport fault or cut allows a side to report.
pub const FAULT_KINDS: [io::ErrorKind; 3] = [
    io::ErrorKind::BrokenPipe,
    io::ErrorKind::ConnectionReset,
    io::ErrorKind::ConnectionAborted,
];

/// `got` must be a prefix of `sent`; fails with the first differing offset.
pub fn assert_prefix(got: &[u8], sent: &[u8], what: &str) {
    assert!(
        got.len() <= sent.len(),
        "{what}: received {} bytes, more than the {} sent",
        got.len(),
        sent.len()
    );
    if got != &sent[..got.len()] {
        let first = got.iter().zip(sent).position(|(a, b)| a != b);
        panic!("{what}: received bytes differ from those sent, first at offset {first:?}");
    }
}

/// The checks of a transfer: bytes are never lost, duplicated or reordered; a clean end of
/// stream only after everything arrived; errors only of the kinds a fault explains.
///
/// `faulted`: a cut or reset took effect, so a side may fail (with a [`FAULT_KINDS`] kind).
/// A peer that failed closes its file, which sends close_notify: then a clean end may come
/// before all data (the peer's application gave up; TLS says so truthfully).
/// `lossy_end`: the closer dropped its file (close_notify is best effort), so the peer may
/// see `BrokenPipe` instead of a clean end — but only after all data.
pub fn check_side(
    name: &str,
    got: &[u8],
    sent_by_peer: &[u8],
    outcome: &Outcome,
    peer_outcome: &Outcome,
    faulted: bool,
    lossy_end: bool,
) {
    assert_prefix(got, sent_by_peer, name);
    match outcome {
        Outcome::Running => panic!("{name}: never finished"),
        Outcome::CleanEof if matches!(peer_outcome, Outcome::Failed(..)) => {}
        Outcome::CleanEof | Outcome::Closed => {
            assert_eq!(
                got.len(),
                sent_by_peer.len(),
                "{name}: {outcome:?} although only {} of {} bytes arrived",
                got.len(),
                sent_by_peer.len()
            );
        }
        Outcome::Failed(kind, msg) => {
            let explained = (faulted && FAULT_KINDS.contains(kind))
                || (lossy_end && *kind == io::ErrorKind::BrokenPipe && got == sent_by_peer);
            assert!(
                explained,
                "{name}: failed with {kind:?} ({msg}); faulted={faulted}, lossy_end={lossy_end}, \
                 {} of {} bytes arrived",
                got.len(),
                sent_by_peer.len()
            );
        }
    }
}
