//! A fresh client or server (the target) fed raw bytes from a peer that does not exist:
//! the handshake's parsers and state machines meet arbitrary records, without the cost of
//! a genuine peer (peer_bytes relays a genuine one instead).
//!
//! Input: a flags byte, then the peer's bytes. Flags: bit 0 the target is a server, bit 1
//! a TLS 1.2-only client, bits 2–3 the read mode (nonblocking, blocking, callback), bits
//! 4–7 the size of the pieces the bytes arrive in (1, 2, 4 … 32,768 bytes). A seed is a
//! captured first flight with a flags byte in front (see `corpus/handshake_bytes`).
//!
//! Checks: no panic; the target never reads application data it was not sent (there is no
//! genuine peer to send any: whatever it reads must have come from the injected bytes of a
//! completed handshake, which without the keys cannot happen); once its input ends, it
//! reports an end or an error.

#![no_main]

#[path = "../common/mod.rs"]
mod common;

use std::io::{self, Read};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;

use common::faulty::{Faulty, PairConfig};
use common::{contexts, try_read};
use sslfile::{Backend, Callbacks, SslFile, Stream};

fn backend() -> &'static Backend {
    static BACKEND: OnceLock<Backend> = OnceLock::new();
    BACKEND.get_or_init(|| Backend::new().unwrap())
}

/// One read in the target's mode: `None` if nothing came; `Some(Ok(0))` at the end.
fn read(target: &SslFile<Faulty>, mode: u8, ended: &Mutex<bool>) -> Option<io::Result<usize>> {
    let mut buf = [0u8; 4096];
    match mode {
        1 => match (&*target).read(&mut buf) {
            Err(e) if e.kind() == io::ErrorKind::TimedOut => None,
            other => Some(other),
        },
        2 => {
            let _ = backend().run_once(Some(Duration::ZERO));
            (*ended.lock().unwrap()).then_some(Ok(0))
        }
        _ => try_read(target, &mut buf),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, bytes)) = data.split_first() else {
        return;
    };
    let ctx = contexts();
    common::deterministic::reset();
    let server = flags & 1 != 0;
    let mode = (flags >> 2) & 3;
    let piece = 1usize << ((flags >> 4) & 15);
    let (end, peer) = Faulty::pair_with(PairConfig {
        capacity: 1 << 20,
        ..PairConfig::default()
    });
    let target = if server {
        let target = SslFile::new(end, &ctx.server);
        target.accept().unwrap();
        target
    } else {
        let target = SslFile::new(end, ctx.client(flags & 2 != 0));
        target.connect("localhost").unwrap();
        target
    };
    let ended = Arc::new(Mutex::new(false));
    match mode {
        1 => {
            target.set_timeout(Some(Duration::ZERO));
            target.set_blocking();
        }
        2 => {
            let end = ended.clone();
            target.set_backend(backend());
            target.set_callbacks(Callbacks {
                read: Some(Arc::new(|_f: &SslFile<Faulty>, bytes: &[u8]| {
                    assert!(
                        bytes.is_empty(),
                        "application data from a peer without keys"
                    );
                })),
                close: Some(Arc::new(
                    move |_f: &SslFile<Faulty>, _e: Option<&sslfile::Error>| {
                        *end.lock().unwrap() = true;
                    },
                )),
                ..Callbacks::default()
            });
        }
        _ => {}
    }
    let mut sink = vec![0u8; 64 * 1024];
    for chunk in bytes.chunks(piece) {
        // What the target sends goes nowhere.
        while let Ok(1..) = peer.read_nb(&mut sink) {}
        let _ = peer.write_nb(chunk);
        match read(&target, mode, &ended) {
            Some(Ok(n)) if n > 0 => {
                panic!("{n} bytes of application data from a peer without keys")
            }
            Some(Ok(_)) | Some(Err(_)) => break,
            None => {}
        }
        let _ = target.flush();
    }
    let _ = peer.shutdown_write();
    let mut reported = false;
    for _ in 0..1_000 {
        match read(&target, mode, &ended) {
            None => continue,
            Some(Ok(n)) if n > 0 => {
                panic!("{n} bytes of application data from a peer without keys")
            }
            Some(_) => {
                reported = true;
                break;
            }
        }
    }
    assert!(reported, "the target kept waiting after its input ended");
    target.set_nonblocking();
    let _ = target.into_stream();
    for _ in 0..4 {
        let _ = backend().run_once(Some(Duration::ZERO));
    }
});
