//! A client or a server (the target) fed arbitrary peer bytes, before or after a completed
//! handshake, reading in nonblocking, blocking (with a very short timeout) or callback
//! mode (read and close callbacks on a backend).
//!
//! The target talks to a genuine peer (our own `SslFile` of the other role) through a relay
//! that the input controls: it forwards, skips, corrupts or replaces the genuine bytes, and
//! injects bytes of its own. Checks: no panic; the plaintext the target reads is a prefix of
//! what the genuine peer wrote (nothing forged, lost in the middle or reordered); once its
//! input ends, the target reports an end or an error instead of `WouldBlock` forever.
//!
//! Kept cheap so that it runs thousands of cases a second: a replayable provider with a
//! stand-in key exchange (`common::deterministic`), at most 32 KiB of application data
//! per side and case, buffers reused, and the files handed back (`into_stream`) at the end
//! rather than closed on the background thread.

#![no_main]

#[path = "../common/mod.rs"]
mod common;

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

use common::faulty::{Faulty, PairConfig};
use common::{assert_prefix, assert_prefix_from, contexts, try_read};
use sslfile::{Backend, Callbacks, SslFile, Stream};

/// The backend of callback mode, made once: a case leaves nothing on it.
fn backend() -> &'static Backend {
    static BACKEND: OnceLock<Backend> = OnceLock::new();
    BACKEND.get_or_init(|| Backend::new().unwrap())
}

#[derive(Arbitrary, Debug)]
struct Input {
    target_is_client: bool,
    complete_handshake: bool,
    tls12: bool,
    mode: Mode,
    steps: Vec<Step>,
}

/// How the target reads.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Nonblocking,
    /// Blocking reads that time out at once when nothing comes.
    Blocking,
    /// A read callback and a close callback, on a backend run by the relay.
    Callback,
}

/// What the target's callbacks saw (callback mode).
#[derive(Default)]
struct Seen {
    data: Vec<u8>,
    ended: bool,
}

#[derive(Arbitrary, Debug)]
enum Step {
    /// Forward up to this many genuine bytes to the target.
    Forward(u16),
    /// Send these bytes to the target.
    Inject(Vec<u8>),
    /// Flip bits of a genuine byte not yet forwarded.
    Flip { offset: u16, mask: u8 },
    /// Throw away up to this many genuine bytes.
    Skip(u16),
    /// The genuine peer writes this much application data.
    PeerWrite(u16),
    /// The target writes this much application data.
    TargetWrite(u16),
    /// The genuine peer closes (close_notify follows its data).
    PeerClose,
}

/// Bytes moved, and what each side has read.
struct Run {
    target: SslFile<Faulty>,
    peer: SslFile<Faulty>,
    /// The relay's ends of the target's and the peer's transports.
    to_target: Faulty,
    to_peer: Faulty,
    /// Genuine bytes from the peer not yet forwarded: `genuine[genuine_at..]`.
    genuine: Vec<u8>,
    genuine_at: usize,
    peer_sent: Vec<u8>,
    target_got: Vec<u8>,
    target_sent: Vec<u8>,
    peer_got: Vec<u8>,
    buf: Vec<u8>,
    mode: Mode,
    seen: Arc<Mutex<Seen>>,
}

const GENUINE_LIMIT: usize = 1 << 20;
/// The most steps of a case: enough to reach anything after the handshake (which
/// `complete_handshake` makes in one go), few enough to keep a case short.
const MAX_STEPS: usize = 64;
/// The most application data each side writes in one case.
const WRITE_LIMIT: usize = 32 * 1024;
const PATTERN_LEN: usize = u16::MAX as usize + 256;

/// `len` bytes of the data stream of `salt` from offset `start` (period 256: a reordering
/// shows unless it moves whole periods).
fn pattern(len: usize, start: usize, salt: u8) -> &'static [u8] {
    static PATTERNS: std::sync::OnceLock<[Vec<u8>; 2]> = std::sync::OnceLock::new();
    let make = |salt: u8| {
        (0..PATTERN_LEN)
            .map(|i| (i as u8).wrapping_mul(31) ^ salt)
            .collect::<Vec<u8>>()
    };
    let patterns = PATTERNS.get_or_init(|| [make(0x5a), make(0xa5)]);
    let which = usize::from(salt != 0x5a);
    &patterns[which][start % 256..start % 256 + len]
}

impl Run {
    /// One read by the target in its mode: `None` if nothing came (would block, timed
    /// out); `Some(Ok(0))` at its end.
    fn target_read(&mut self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        match self.mode {
            Mode::Nonblocking => try_read(&self.target, buf),
            Mode::Blocking => match (&self.target).read(buf) {
                Err(e) if e.kind() == io::ErrorKind::TimedOut => None,
                other => Some(other),
            },
            Mode::Callback => {
                let _ = backend().run_once(Some(Duration::ZERO));
                let mut seen = self.seen.lock().unwrap();
                if !seen.data.is_empty() {
                    let data = std::mem::take(&mut seen.data);
                    drop(seen);
                    self.target_got.extend_from_slice(&data);
                    // Reported as moved, already recorded.
                    return Some(Ok(usize::MAX));
                }
                seen.ended.then_some(Ok(0))
            }
        }
    }

    /// Lets both sides and the relay make progress (bounded).
    fn drive(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        // Rounds until nothing moves (at most 4).
        for _ in 0..4 {
            let mut moved = false;
            match self.target_read(&mut buf) {
                Some(Ok(usize::MAX)) => moved = true,
                Some(Ok(n)) => {
                    self.target_got.extend_from_slice(&buf[..n]);
                    moved |= n > 0;
                }
                _ => {}
            }
            let _ = self.target.flush();
            // Target to peer: faithful.
            while let Ok(n @ 1..) = self.to_target.read_nb(&mut buf) {
                let _ = self.to_peer.write_nb_all(&buf[..n]);
                moved = true;
            }
            if let Some(Ok(n)) = try_read(&self.peer, &mut buf) {
                self.peer_got.extend_from_slice(&buf[..n]);
                moved |= n > 0;
            }
            let _ = self.peer.flush();
            // Peer to relay: kept until the input says what to do with it.
            while let Ok(n @ 1..) = self.to_peer.read_nb(&mut buf) {
                if self.genuine.len() - self.genuine_at < GENUINE_LIMIT {
                    self.genuine.extend_from_slice(&buf[..n]);
                }
                moved = true;
            }
            if !moved {
                break;
            }
        }
        self.buf = buf;
    }

    fn waiting(&self) -> &[u8] {
        &self.genuine[self.genuine_at..]
    }

    fn forward(&mut self, n: usize) {
        let n = n.min(self.waiting().len());
        let _ = self.to_target.write_nb_all(&self.waiting()[..n]);
        self.skip(n);
    }

    fn skip(&mut self, n: usize) {
        self.genuine_at += n.min(self.waiting().len());
        if self.genuine_at == self.genuine.len() {
            self.genuine.clear();
            self.genuine_at = 0;
        }
    }

    fn step(&mut self, step: Step) {
        match step {
            Step::Forward(n) => self.forward(usize::from(n)),
            Step::Inject(bytes) => {
                let _ = self.to_target.write_nb_all(&bytes);
            }
            Step::Flip { offset, mask } => {
                let at = self.genuine_at + usize::from(offset);
                if let Some(b) = self.genuine.get_mut(at) {
                    *b ^= mask;
                }
            }
            Step::Skip(n) => self.skip(usize::from(n)),
            Step::PeerWrite(n) => {
                let n = usize::from(n).min(WRITE_LIMIT - self.peer_sent.len());
                let data = pattern(n, self.peer_sent.len(), 0x5a);
                if let Ok(k) = (&self.peer).write(data) {
                    self.peer_sent.extend_from_slice(&data[..k]);
                }
            }
            Step::TargetWrite(n) => {
                let n = usize::from(n).min(WRITE_LIMIT - self.target_sent.len());
                let data = pattern(n, self.target_sent.len(), 0xa5);
                if let Ok(k) = (&self.target).write(data) {
                    self.target_sent.extend_from_slice(&data[..k]);
                }
            }
            Step::PeerClose => {
                // close_notify after the data, the file kept: a close would linger on the
                // default backend's thread, outside the case.
                let _ = self.peer.shutdown(std::net::Shutdown::Write);
            }
        }
        self.drive();
    }
}

/// Writes all of `bytes` to an in-memory end whose buffer is large enough.
trait WriteAll {
    fn write_nb_all(&self, bytes: &[u8]) -> io::Result<()>;
}

impl WriteAll for Faulty {
    fn write_nb_all(&self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let n = self.write_nb(bytes)?;
            bytes = &bytes[n..];
        }
        Ok(())
    }
}

fuzz_target!(|input: Input| {
    let ctx = contexts();
    common::deterministic::reset();
    let big = || PairConfig {
        capacity: 4 << 20,
        ..PairConfig::default()
    };
    let (target_end, to_target) = Faulty::pair_with(big());
    let (peer_end, to_peer) = Faulty::pair_with(big());
    let (target, peer) = if input.target_is_client {
        let target = SslFile::new(target_end, ctx.client(input.tls12));
        let peer = SslFile::new(peer_end, &ctx.server);
        peer.accept().unwrap();
        target.connect("localhost").unwrap();
        (target, peer)
    } else {
        let target = SslFile::new(target_end, &ctx.server);
        let peer = SslFile::new(peer_end, ctx.client(input.tls12));
        target.accept().unwrap();
        peer.connect("localhost").unwrap();
        (target, peer)
    };
    let mut run = Run {
        target,
        peer,
        to_target,
        to_peer,
        genuine: Vec::new(),
        genuine_at: 0,
        peer_sent: Vec::new(),
        target_got: Vec::new(),
        target_sent: Vec::new(),
        peer_got: Vec::new(),
        buf: vec![0u8; 16 * 1024],
        mode: input.mode,
        seen: Arc::default(),
    };
    match input.mode {
        Mode::Nonblocking => {}
        Mode::Blocking => {
            run.target.set_timeout(Some(Duration::ZERO));
            run.target.set_blocking();
        }
        Mode::Callback => {
            let (data, end) = (run.seen.clone(), run.seen.clone());
            run.target.set_backend(backend());
            run.target.set_callbacks(Callbacks {
                read: Some(Arc::new(move |_f: &SslFile<Faulty>, bytes: &[u8]| {
                    data.lock().unwrap().data.extend_from_slice(bytes);
                })),
                close: Some(Arc::new(
                    move |_f: &SslFile<Faulty>, _e: Option<&sslfile::Error>| {
                        end.lock().unwrap().ended = true;
                    },
                )),
                ..Callbacks::default()
            });
        }
    }
    run.drive();
    if input.complete_handshake {
        for _ in 0..64 {
            run.forward(usize::MAX);
            run.drive();
            if !run.target.is_handshaking() && !run.peer.is_handshaking() {
                break;
            }
        }
        assert!(
            !run.target.is_handshaking(),
            "a faithful relay completes the handshake"
        );
    }
    let mut checked = (0, 0);
    for step in input.steps.into_iter().take(MAX_STEPS) {
        run.step(step);
        // What is new since the last step (the rest was checked then).
        assert_prefix_from(&run.target_got, &run.peer_sent, checked.0, "target");
        assert_prefix_from(&run.peer_got, &run.target_sent, checked.1, "peer");
        checked = (run.target_got.len(), run.peer_got.len());
    }
    // The target's input ends: it must say so (end of stream or an error), not wait.
    let _ = run.to_target.shutdown_write();
    let mut buf = vec![0u8; 16 * 1024];
    let mut ended = false;
    for _ in 0..10_000 {
        match run.target_read(&mut buf) {
            None => continue,
            Some(Ok(0)) | Some(Err(_)) => {
                ended = true;
                break;
            }
            Some(Ok(usize::MAX)) => {}
            Some(Ok(n)) => run.target_got.extend_from_slice(&buf[..n]),
        }
    }
    assert!(
        ended,
        "the target kept returning WouldBlock after its input ended"
    );
    assert_prefix(&run.target_got, &run.peer_sent, "target");
    // Handed back, not closed: a close would finish on the default backend's thread.
    run.target.set_nonblocking();
    let _ = run.target.into_stream();
    let _ = run.peer.into_stream();
    for _ in 0..4 {
        let _ = backend().run_once(Some(Duration::ZERO));
    }
});
