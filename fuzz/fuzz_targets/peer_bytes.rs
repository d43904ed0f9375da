//! A client or a server (the target) fed arbitrary peer bytes, before or after a completed
//! handshake.
//!
//! The target talks to a genuine peer (our own `SslFile` of the other role) through a relay
//! that the input controls: it forwards, skips, corrupts or replaces the genuine bytes, and
//! injects bytes of its own. Checks: no panic; the plaintext the target reads is a prefix of
//! what the genuine peer wrote (nothing forged, lost in the middle or reordered); once its
//! input ends, the target reports an end or an error instead of `WouldBlock` forever.

#![no_main]

#[path = "../common/mod.rs"]
mod common;

use std::collections::VecDeque;
use std::io::{self, Write};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

use common::faulty::{Faulty, PairConfig};
use common::{assert_prefix, contexts, try_read};
use sslfile::{SslFile, Stream};

#[derive(Arbitrary, Debug)]
struct Input {
    target_is_client: bool,
    complete_handshake: bool,
    tls12: bool,
    steps: Vec<Step>,
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
    genuine: VecDeque<u8>,
    peer_sent: Vec<u8>,
    target_got: Vec<u8>,
    target_sent: Vec<u8>,
    peer_got: Vec<u8>,
}

const GENUINE_LIMIT: usize = 1 << 20;

fn pattern(len: usize, start: usize, salt: u8) -> Vec<u8> {
    (start..start + len)
        .map(|i| (i as u8).wrapping_mul(31) ^ salt)
        .collect()
}

impl Run {
    /// Lets both sides and the relay make progress (bounded).
    fn drive(&mut self) {
        let mut buf = vec![0u8; 16 * 1024];
        for _ in 0..4 {
            if let Some(Ok(n)) = try_read(&self.target, &mut buf) {
                self.target_got.extend_from_slice(&buf[..n]);
            }
            let _ = self.target.flush();
            // Target to peer: faithful.
            loop {
                match self.to_target.read_nb(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let _ = self.to_peer.write_nb_all(&buf[..n]);
                    }
                }
            }
            if let Some(Ok(n)) = try_read(&self.peer, &mut buf) {
                self.peer_got.extend_from_slice(&buf[..n]);
            }
            let _ = self.peer.flush();
            // Peer to relay: kept until the input says what to do with it.
            loop {
                match self.to_peer.read_nb(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if self.genuine.len() < GENUINE_LIMIT {
                            self.genuine.extend(&buf[..n]);
                        }
                    }
                }
            }
        }
    }

    fn forward(&mut self, n: usize) {
        let n = n.min(self.genuine.len());
        let bytes: Vec<u8> = self.genuine.drain(..n).collect();
        let _ = self.to_target.write_nb_all(&bytes);
    }

    fn step(&mut self, step: Step) {
        match step {
            Step::Forward(n) => self.forward(usize::from(n)),
            Step::Inject(bytes) => {
                let _ = self.to_target.write_nb_all(&bytes);
            }
            Step::Flip { offset, mask } => {
                if let Some(b) = self.genuine.get_mut(usize::from(offset)) {
                    *b ^= mask;
                }
            }
            Step::Skip(n) => {
                let n = usize::from(n).min(self.genuine.len());
                self.genuine.drain(..n);
            }
            Step::PeerWrite(n) => {
                let data = pattern(usize::from(n), self.peer_sent.len(), 0x5a);
                if let Ok(k) = (&self.peer).write(&data) {
                    self.peer_sent.extend_from_slice(&data[..k]);
                }
            }
            Step::TargetWrite(n) => {
                let data = pattern(usize::from(n), self.target_sent.len(), 0xa5);
                if let Ok(k) = (&self.target).write(&data) {
                    self.target_sent.extend_from_slice(&data[..k]);
                }
            }
            Step::PeerClose => {
                let _ = self.peer.close();
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
        genuine: VecDeque::new(),
        peer_sent: Vec::new(),
        target_got: Vec::new(),
        target_sent: Vec::new(),
        peer_got: Vec::new(),
    };
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
    for step in input.steps.into_iter().take(256) {
        run.step(step);
        assert_prefix(&run.target_got, &run.peer_sent, "target");
        assert_prefix(&run.peer_got, &run.target_sent, "peer");
    }
    // The target's input ends: it must say so (end of stream or an error), not wait.
    let _ = run.to_target.shutdown_write();
    let mut buf = vec![0u8; 16 * 1024];
    let mut ended = false;
    for _ in 0..10_000 {
        match try_read(&run.target, &mut buf) {
            None => continue,
            Some(Ok(0)) | Some(Err(_)) => {
                ended = true;
                break;
            }
            Some(Ok(n)) => run.target_got.extend_from_slice(&buf[..n]),
        }
    }
    assert!(
        ended,
        "the target kept returning WouldBlock after its input ended"
    );
    assert_prefix(&run.target_got, &run.peer_sent, "target");
});
