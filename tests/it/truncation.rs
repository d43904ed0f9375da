//! Truncation (SPEC §4): a transfer from server to client is cut at every TLS record
//! boundary and at random byte offsets. Every cut before the server's close_notify reads as
//! `BrokenPipe` after the data of the complete records before it — never as a clean end —
//! and every clean close reads as `Ok(0)` after all the data.
//!
//! Over the scripted transport in blocking, nonblocking and callback mode, TLS 1.2 and 1.3,
//! and over real socket pairs through a relay that cuts at record boundaries.

use crate::common;

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::faulty::{Cut, CutHow, CutPoint, Faulty, Framing, PairConfig, Rng};
use common::outcome::assert_prefix;
use common::pair::Setup;
use common::{random_bytes, TIMEOUT};
use sslfile::{Backend, Context, File, SslFile, Stream};

/// The server's writes: records of many sizes, and a write that spans records.
const WRITES: [usize; 9] = [1, 100, 16_384, 20_000, 5, 3_000, 16_385, 700, 2];

fn payload() -> Vec<u8> {
    random_bytes(WRITES.iter().sum(), 99)
}

/// How the client reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Blocking,
    Nonblocking,
    Callback,
}

/// How the server ends a complete transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Close,
    CloseClean,
    ShutdownWrite,
}

/// What the client saw.
#[derive(Debug)]
struct Seen {
    /// The handshake failed with this kind.
    handshake: Option<io::ErrorKind>,
    data: Vec<u8>,
    /// `Ok(0)` (None) or the error that ended reading.
    end: Option<io::ErrorKind>,
}

/// The server: handshake, the writes, then `end`; errors ignored (the cut may stop it).
fn serve<S: Stream + 'static>(stream: S, ctx: Context, end: End) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let tls = SslFile::new(stream, &ctx);
        tls.set_blocking();
        tls.set_timeout(Some(TIMEOUT));
        if tls.accept().is_err() {
            return;
        }
        let data = payload();
        let mut at = 0;
        for n in WRITES {
            if (&tls).write_all(&data[at..at + n]).is_err() {
                return;
            }
            at += n;
        }
        let _ = match end {
            End::Close => tls.close(),
            End::CloseClean => tls.close_clean().map(|_| ()),
            End::ShutdownWrite => tls.shutdown(Shutdown::Write),
        };
        // Keep the transport open until the client is done (it closes its end).
        let _ = (&tls).read(&mut [0u8; 16]);
    })
}

/// The client reads everything in `mode`.
fn read_all<S: Stream + 'static>(stream: S, ctx: &Context, mode: Mode) -> Seen {
    let tls = SslFile::new(stream, ctx);
    tls.set_timeout(Some(TIMEOUT));
    let mut seen = Seen {
        handshake: None,
        data: Vec::new(),
        end: None,
    };
    match mode {
        Mode::Blocking => {
            tls.set_blocking();
            if let Err(e) = tls.connect("localhost") {
                seen.handshake = Some(e.kind());
                return seen;
            }
            seen.end = (&tls).read_to_end(&mut seen.data).err().map(|e| e.kind());
        }
        Mode::Nonblocking => {
            // One step of I/O: it may already meet the cut.
            if let Err(e) = tls.connect("localhost") {
                seen.handshake = Some(e.kind());
                return seen;
            }
            let deadline = Instant::now() + TIMEOUT;
            let mut buf = vec![0u8; 8192];
            loop {
                match (&tls).read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => seen.data.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        // Wait for the transport (no busy loop), then try again.
                        Stream::wait(&tls, sslfile::Interest::READ, Some(deadline)).ok();
                    }
                    Err(e) => {
                        if tls.is_handshaking() {
                            seen.handshake = Some(e.kind());
                        } else {
                            seen.end = Some(e.kind());
                        }
                        break;
                    }
                }
                assert!(Instant::now() < deadline, "nonblocking read did not end");
            }
        }
        Mode::Callback => {
            let backend = Backend::new().unwrap();
            tls.set_backend(&backend);
            let data = Arc::new(Mutex::new(Vec::new()));
            let (tx, rx) = mpsc::channel();
            let d = data.clone();
            let tx = Mutex::new(tx);
            tls.set_read_callback(Some(Arc::new(move |_f: &SslFile<S>, bytes: &[u8]| {
                d.lock().unwrap().extend_from_slice(bytes)
            })));
            tls.set_close_callback(Some(Arc::new(
                move |f: &SslFile<S>, e: Option<&sslfile::Error>| {
                    let _ = tx
                        .lock()
                        .unwrap()
                        .send((f.is_handshaking(), e.map(|e| e.kind())));
                },
            )));
            if let Err(e) = tls.connect("localhost") {
                seen.handshake = Some(e.kind());
                return seen;
            }
            let deadline = Instant::now() + TIMEOUT;
            let (handshaking, end) = loop {
                backend.run_once(Some(Duration::from_millis(50))).unwrap();
                if let Ok(report) = rx.try_recv() {
                    break report;
                }
                assert!(Instant::now() < deadline, "no close callback");
            };
            seen.data = std::mem::take(&mut *data.lock().unwrap());
            if handshaking {
                seen.handshake = end;
            } else {
                seen.end = end;
            }
        }
    }
    seen
}

/// One transfer over the scripted transport with the server-to-client direction cut.
fn run_scripted(
    setup: &Setup,
    tls12: bool,
    mode: Mode,
    end: End,
    cut: Option<CutPoint>,
) -> (Seen, Vec<u64>) {
    let (c, s) = Faulty::pair_with(PairConfig {
        cut10: cut.map(|at| Cut {
            at,
            how: CutHow::Eof,
        }),
        ..PairConfig::default()
    });
    let server_probe = s.probe();
    let server = serve(s, setup.server_ctx.clone(), end);
    let seen = read_all(c, &setup.client_for(tls12), mode);
    server.join().unwrap();
    (seen, server_probe.record_ends_written())
}

/// A cut during the handshake fails it: the peer hung up, or our next handshake message met
/// the closed transport. Either way the peer went away: `BrokenPipe`.
fn assert_handshake_cut(kind: io::ErrorKind, what: &str) {
    assert_eq!(
        kind,
        io::ErrorKind::BrokenPipe,
        "{what}: the handshake failed with {kind:?}"
    );
}

/// The data of the complete records before `offset`, as the client must have read it.
fn check_cut(seen: &Seen, data: &[u8], offset: u64, all: u64, what: &str) {
    assert_prefix(&seen.data, data, what);
    if seen.handshake.is_some() {
        assert!(seen.data.is_empty(), "{what}");
        return;
    }
    if offset >= all {
        assert_eq!(
            seen.end, None,
            "{what}: the whole stream is a clean close: Ok(0)"
        );
        assert_eq!(seen.data, data, "{what}");
    } else {
        assert_eq!(
            seen.end,
            Some(io::ErrorKind::BrokenPipe),
            "{what}: a cut at byte {offset} of {all} is truncation; {} of {} bytes read",
            seen.data.len(),
            data.len()
        );
    }
}

#[test]
fn a_cut_at_every_record_boundary_is_broken_pipe_and_only_the_whole_stream_is_a_clean_end() {
    let setup = Setup::new();
    let data = payload();
    let mut runs = 0;
    for tls12 in [false, true] {
        for mode in [Mode::Blocking, Mode::Nonblocking, Mode::Callback] {
            // Every clean close reads as Ok(0) after all the data.
            let mut record_ends = Vec::new();
            for end in [End::Close, End::CloseClean, End::ShutdownWrite] {
                let (seen, ends) = run_scripted(&setup, tls12, mode, end, None);
                let what = format!(
                    "TLS 1.{} {mode:?} {end:?}, no cut",
                    if tls12 { 2 } else { 3 }
                );
                assert_eq!(seen.handshake, None, "{what}");
                assert_eq!(seen.end, None, "{what}: Ok(0)");
                assert_eq!(seen.data, data, "{what}");
                record_ends = ends;
                runs += 1;
            }
            // Cut after each record (0: before the first byte).
            let all = *record_ends.last().unwrap();
            let mut handshake_failures = 0;
            let mut last_len = 0;
            for k in 0..=record_ends.len() as u64 {
                let offset = if k == 0 {
                    0
                } else {
                    record_ends[k as usize - 1]
                };
                let (seen, _) =
                    run_scripted(&setup, tls12, mode, End::Close, Some(CutPoint::Records(k)));
                let what = format!(
                    "TLS 1.{} {mode:?}, cut after record {k} of {}",
                    if tls12 { 2 } else { 3 },
                    record_ends.len()
                );
                check_cut(&seen, &data, offset, all, &what);
                if let Some(kind) = seen.handshake {
                    assert_eq!(kind, io::ErrorKind::BrokenPipe, "{what}");
                    assert_eq!(
                        handshake_failures, k,
                        "{what}: only the first cuts hit the handshake"
                    );
                    handshake_failures += 1;
                } else {
                    assert!(
                        seen.data.len() >= last_len,
                        "{what}: later cuts deliver no less"
                    );
                    last_len = seen.data.len();
                }
                runs += 1;
            }
            assert!(handshake_failures > 0 && handshake_failures < record_ends.len() as u64);
            // Random byte offsets: inside records, headers, anywhere.
            let mut rng = Rng::new(u64::from(tls12) * 10 + mode as u64);
            for _ in 0..25 {
                let offset = rng.below(all);
                let (seen, _) = run_scripted(
                    &setup,
                    tls12,
                    mode,
                    End::Close,
                    Some(CutPoint::Byte(offset)),
                );
                let what = format!(
                    "{mode:?} TLS 1.{}, cut at byte {offset}",
                    if tls12 { 2 } else { 3 }
                );
                check_cut(&seen, &data, offset, all, &what);
                if let Some(kind) = seen.handshake {
                    assert_handshake_cut(kind, &what);
                }
                runs += 1;
            }
        }
    }
    eprintln!("truncation over the scripted transport: {runs} transfers");
}

/// A relay between two socket pairs that forwards everything, except that the
/// server-to-client direction ends (EOF, no close_notify) after `records` TLS records.
fn cutting_relay(records: Option<usize>) -> (File, File) {
    let (client, relay_c) = UnixStream::pair().unwrap();
    let (relay_s, server) = UnixStream::pair().unwrap();
    for s in [&relay_c, &relay_s] {
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
    }
    let (mut from_c, mut to_s) = (relay_c.try_clone().unwrap(), relay_s.try_clone().unwrap());
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = from_c.read(&mut buf) {
            if to_s.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to_s.shutdown(Shutdown::Write);
    });
    let (mut from_s, mut to_c) = (relay_s, relay_c);
    thread::spawn(move || {
        let mut framing = Framing::default();
        let mut passed = 0;
        let mut buf = [0u8; 1];
        // Byte by byte, so that the cut falls exactly on the boundary.
        while records.is_none_or(|r| passed < r) {
            match from_s.read(&mut buf) {
                Ok(1) => {}
                _ => break,
            }
            passed += framing.observe(&buf).len();
            if to_c.write_all(&buf).is_err() {
                break;
            }
        }
        let _ = to_c.shutdown(Shutdown::Both);
    });
    (
        File::try_from(client).unwrap(),
        File::try_from(server).unwrap(),
    )
}

#[test]
fn over_real_sockets_a_cut_at_every_record_boundary_is_broken_pipe() {
    let setup = Setup::new();
    let data = payload();
    let ctx = setup.client_for(false);
    // The whole stream: a clean end.
    let (c, s) = cutting_relay(None);
    let server = serve(s, setup.server_ctx.clone(), End::Close);
    let seen = read_all(c, &ctx, Mode::Blocking);
    server.join().unwrap();
    assert_eq!(seen.end, None, "Ok(0)");
    assert_eq!(seen.data, data);
    // Count the server's records once (over the scripted transport: same sizes).
    let (_, ends) = run_scripted(&setup, false, Mode::Blocking, End::Close, None);
    let mut handshake_failures = 0;
    for k in 0..ends.len() {
        let (c, s) = cutting_relay(Some(k));
        let server = serve(s, setup.server_ctx.clone(), End::Close);
        let seen = read_all(c, &ctx, Mode::Blocking);
        server.join().unwrap();
        let what = format!("socket pair, cut after record {k} of {}", ends.len());
        assert_prefix(&seen.data, &data, &what);
        match seen.handshake {
            Some(kind) => {
                assert_handshake_cut(kind, &what);
                handshake_failures += 1;
            }
            None => assert_eq!(seen.end, Some(io::ErrorKind::BrokenPipe), "{what}"),
        }
    }
    assert!(handshake_failures > 0 && handshake_failures < ends.len());
}
