//! Leak soak: many connections to a callback-mode `Port`, ended every way a connection can
//! end — clean close, abrupt close (no close_notify), drop, reset (linger 0), a handshake
//! failure, a peer that does not speak TLS (fatal alert), the server closing, a stalled
//! handshake (handshake timeout) and an idle connection (idle timeout). Afterwards the
//! descriptors, `sslfile::live_connections()`, the backend's watches and call_outs are back
//! to their baseline, and the resident memory is flat.
//!
//! `SSLFILE_SOAK_CONNECTIONS` sets the count (default 5,000; `.ci/run` runs 100,000).
//! The figures are printed. Under valgrind, set `SSLFILE_SOAK_TIME_SCALE` (e.g. 20): the
//! server's timeouts stretch by that factor and the resident-memory check is left out
//! (valgrind's own memory dominates it), e.g. `SSLFILE_SOAK_CONNECTIONS=300
//! SSLFILE_SOAK_TIME_SCALE=20 valgrind --leak-check=full target/debug/deps/soak-…`. (One test in this binary: the counts are process-wide.)

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use common::pair::{eventually, Setup};
use common::TIMEOUT;
use sslfile::{Backend, File, Port, SslFile};

const CLIENT_THREADS: usize = 4;
/// The server's timeouts, multiplied by `SSLFILE_SOAK_TIME_SCALE` (e.g. under valgrind,
/// where everything runs tens of times slower).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(1);
const IDLE_TIMEOUT: Duration = Duration::from_millis(1500);
/// The ways a connection ends (see `client_session`).
const PATHS: usize = 10;

fn connections() -> usize {
    std::env::var("SSLFILE_SOAK_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000)
}

fn time_scale() -> u32 {
    std::env::var("SSLFILE_SOAK_TIME_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Resident memory in KiB, from /proc/self/status.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// Connections left for the server to end (timeouts): watched until it hangs up.
enum Stalled {
    Plain(TcpStream),
    Tls(SslFile),
}

/// One connection, ended the way `i` selects.
fn client_session(i: usize, addr: SocketAddr, setup: &Setup, stalled: &mpsc::Sender<Stalled>) {
    let path = i % PATHS;
    match path {
        // A peer that does not speak TLS: the server answers with a fatal alert and closes.
        5 => {
            let mut plain = TcpStream::connect(addr).unwrap();
            plain.set_read_timeout(Some(TIMEOUT)).unwrap();
            plain.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
            let mut buf = Vec::new();
            let _ = plain.read_to_end(&mut buf);
            return;
        }
        // A handshake that stalls: the handshake timeout ends it.
        6 => {
            let plain = TcpStream::connect(addr).unwrap();
            plain.set_nonblocking(true).unwrap();
            stalled.send(Stalled::Plain(plain)).unwrap();
            return;
        }
        _ => {}
    }
    let name = if path == 4 { "wrong.test" } else { "localhost" };
    let tls = match SslFile::client(File::connect(addr).unwrap(), &setup.client_ctx, name) {
        Ok(tls) => tls,
        Err(e) => {
            assert_eq!(path, 4, "only the wrong-name clients fail: {e}");
            return;
        }
    };
    assert_ne!(path, 4, "a wrong name must fail");
    tls.set_timeout(Some(TIMEOUT));
    let request: &[u8] = if path == 7 { b"quit" } else { b"ping" };
    (&tls).write_all(request).unwrap();
    let mut echo = [0u8; 4];
    (&tls).read_exact(&mut echo).unwrap();
    assert_eq!(&echo, request);
    match path {
        0 | 9 => tls.close().unwrap(),         // clean close
        1 => drop(tls.into_stream().unwrap()), // abrupt: no close_notify
        2 => drop(tls),                        // drop sends close_notify
        3 => {
            // Reset: SO_LINGER 0.
            tls.linger(Some(Duration::ZERO)).unwrap();
            tls.close().unwrap();
        }
        7 => assert_eq!((&tls).read(&mut echo).unwrap(), 0, "the server closed"),
        8 => {
            // Idle: the idle timeout ends it.
            tls.set_nonblocking();
            stalled.send(Stalled::Tls(tls)).unwrap();
        }
        _ => unreachable!(),
    }
}

/// Holds the stalled connections until the server hangs up on each; returns how many.
fn reaper(rx: mpsc::Receiver<Stalled>) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        let mut waiting: Vec<(Stalled, Instant)> = Vec::new();
        let mut done = 0;
        let mut open = true;
        while open || !waiting.is_empty() {
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(s) => waiting.push((s, Instant::now())),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => open = false,
            }
            waiting.retain_mut(|(s, since)| {
                let mut buf = [0u8; 64];
                let ended = match s {
                    Stalled::Plain(s) => !matches!(
                        s.read(&mut buf),
                        Err(ref e) if e.kind() == io::ErrorKind::WouldBlock
                    ),
                    Stalled::Tls(t) => !matches!(
                        (&*t).read(&mut buf),
                        Err(ref e) if e.kind() == io::ErrorKind::WouldBlock
                    ),
                };
                assert!(
                    ended || since.elapsed() < TIMEOUT * time_scale(),
                    "the server did not end a stalled connection"
                );
                if ended {
                    done += 1;
                }
                !ended
            });
        }
        done
    })
}

#[test]
fn connections_ended_every_way_leave_no_descriptor_memory_or_connection_behind() {
    let total = connections();
    let setup = Arc::new(Setup::new());
    let backend = Backend::new().unwrap();
    let port = Port::bind("127.0.0.1:0", &setup.server_ctx).unwrap();
    port.set_handshake_timeout(Some(HANDSHAKE_TIMEOUT * time_scale()));
    port.set_idle_timeout(Some(IDLE_TIMEOUT * time_scale()));
    let addr = port.local_addr().unwrap();
    let runner = {
        let b = backend.clone();
        thread::spawn(move || b.run().unwrap())
    };
    // Close callback reasons: clean, BrokenPipe, ConnectionReset, TimedOut, other.
    let closes = Arc::new([(); 5].map(|_| AtomicUsize::new(0)));
    let c = closes.clone();
    port.listen(&backend, move |conn: SslFile| {
        let c = c.clone();
        conn.set_nonblocking_callbacks(
            Some(Arc::new(|f: &SslFile, data: &[u8]| {
                let _ = (&*f).write_all(data);
                if data == b"quit" {
                    let _ = f.close();
                }
            })),
            None,
            Some(Arc::new(move |_f: &SslFile, e: Option<&sslfile::Error>| {
                let slot = match e.map(|e| e.kind()) {
                    None => 0,
                    Some(io::ErrorKind::BrokenPipe) => 1,
                    Some(io::ErrorKind::ConnectionReset) => 2,
                    Some(io::ErrorKind::TimedOut) => 3,
                    Some(_) => 4,
                };
                c[slot].fetch_add(1, Ordering::SeqCst);
            })),
        );
        // The handle is dropped here: the backend keeps the connection alive.
    })
    .unwrap();

    let run = |range: std::ops::Range<usize>| {
        let (tx, rx) = mpsc::channel();
        let reaper = reaper(rx);
        let clients: Vec<_> = (0..CLIENT_THREADS)
            .map(|t| {
                let setup = setup.clone();
                let tx = tx.clone();
                let range = range.clone();
                thread::spawn(move || {
                    for i in (range.start + t..range.end).step_by(CLIENT_THREADS) {
                        client_session(i, addr, &setup, &tx);
                    }
                })
            })
            .collect();
        drop(tx);
        for client in clients {
            client.join().unwrap();
        }
        reaper.join().unwrap()
    };

    // Warm up (every path once, thread stacks, lazily made buffers), then the baseline.
    run(0..PATHS * 10);
    let live_before = sslfile::live_connections();
    eventually(|| (sslfile::live_connections() == live_before).then_some(()));
    let fds_before = open_descriptors();
    let rss_before = rss_kib();
    let started = Instant::now();

    let mut rss_samples = Vec::new();
    let step = total.div_ceil(10);
    let mut stalled = 0;
    for chunk in 0..10 {
        let start = PATHS * 10 + chunk * step;
        stalled += run(start..(start + step).min(PATHS * 10 + total));
        rss_samples.push(rss_kib());
    }
    let elapsed = started.elapsed();

    eventually(|| (sslfile::live_connections() == live_before).then_some(()));
    eventually(|| (backend.watch_count() == 1).then_some(())); // the listener only
    eventually(|| (backend.call_out_count() == 0).then_some(()));
    eventually(|| (open_descriptors() == fds_before).then_some(()));
    let rss_after = rss_kib();
    let closes: Vec<usize> = closes.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    eprintln!(
        "soak: {total} connections in {:.1} s ({:.0}/s), {CLIENT_THREADS} client threads; \
         server close callbacks: clean {}, broken pipe {}, reset {}, timed out {}, other {}; \
         {stalled} stalled connections ended by the server; descriptors {fds_before} -> {}; \
         live connections {live_before} -> {}; backend watches {}, call_outs {}; \
         RSS {} KiB -> {} KiB (after each tenth: {:?})",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        closes[0],
        closes[1],
        closes[2],
        closes[3],
        closes[4],
        open_descriptors(),
        sslfile::live_connections(),
        backend.watch_count(),
        backend.call_out_count(),
        rss_before,
        rss_after,
        rss_samples,
    );
    // Per path, from the server's side (the warm-up's connections included).
    let per_path = |p: usize| (0..PATHS * 10 + total).filter(|i| i % PATHS == p).count();
    assert_eq!(
        closes[0],
        per_path(0) + per_path(9) + per_path(2),
        "clean ends"
    );
    // A reset is the peer going away too: `BrokenPipe`, like a close without close_notify.
    assert_eq!(closes[1], per_path(1) + per_path(3), "truncated or reset");
    assert_eq!(closes[2], 0, "a reset reads as BrokenPipe");
    assert_eq!(closes[3], per_path(8), "idle timeouts");
    assert_eq!(closes[4], 0, "no other ends");
    let measured = PATHS * 10..PATHS * 10 + total;
    assert_eq!(
        stalled,
        measured
            .filter(|i| i % PATHS == 6 || i % PATHS == 8)
            .count(),
        "the server ended every stalled connection"
    );
    // Flat: after the first tenth (allocator pools warmed up) the resident size stays
    // within a small bound, whatever the number of connections.
    // Under valgrind (a time scale above 1) the resident size is the tool's own memory
    // (shadow memory, its translation cache) and says nothing about ours: printed only.
    let growth = rss_after.saturating_sub(rss_samples[0]);
    assert!(
        time_scale() > 1 || growth < 32 * 1024,
        "RSS grew by {growth} KiB after the first tenth of the run: {rss_samples:?}"
    );
    drop(port);
    backend.stop();
    runner.join().unwrap();
}
