//! Slowloris: 1,000 clients open TLS connections to a callback-mode `Port` and send their
//! ClientHello one byte per second. The port's handshake timeout disconnects every one of
//! them, and meanwhile a normal client is served as usual.
//!
//! The test prints the normal client's round-trip latency (connect, handshake, echo)
//! without and with the stalled clients; it asserts only a generous bound on the latter
//! (this is not a benchmark), that every stalled client was disconnected, and that nothing
//! was left behind. (One test in this binary: the counts are process-wide.)

use crate::common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use common::faulty::Faulty;
use common::pair::{eventually, Setup};
use common::TIMEOUT;
use sslfile::{Backend, File, Port, SslFile, Stream};

const STALLED: usize = 1_000;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
const SAMPLES: usize = 20;

/// A real ClientHello, as our client sends it.
fn client_hello(setup: &Setup) -> Vec<u8> {
    let (c, s) = Faulty::pair();
    let client = SslFile::new(c, &setup.client_ctx);
    client.connect("localhost").unwrap();
    let mut hello = vec![0u8; 64 * 1024];
    let n = s.read_nb(&mut hello).unwrap();
    hello.truncate(n);
    hello
}

/// One normal client's round trip: TCP connect, TLS handshake, 1 KiB echoed.
fn round_trip(addr: SocketAddr, setup: &Setup) -> Duration {
    let start = Instant::now();
    let tls = SslFile::new(File::connect(addr).unwrap(), &setup.client_ctx);
    tls.set_blocking();
    tls.set_timeout(Some(TIMEOUT));
    tls.connect("localhost").expect("a normal client is served");
    let data = common::random_bytes(1024, 7);
    (&tls).write_all(&data).unwrap();
    let mut echo = vec![0u8; data.len()];
    (&tls).read_exact(&mut echo).unwrap();
    assert_eq!(echo, data);
    let elapsed = start.elapsed();
    tls.close().unwrap();
    elapsed
}

fn latencies(addr: SocketAddr, setup: &Setup) -> Vec<Duration> {
    let mut samples: Vec<Duration> = (0..SAMPLES).map(|_| round_trip(addr, setup)).collect();
    samples.sort();
    samples
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Enough descriptors for 1,000 clients and the server's ends of their connections.
fn raise_descriptor_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    let want = 8192;
    if limit.current.is_some_and(|c| c < want) {
        limit.current = Some(limit.maximum.map_or(want, |m| m.min(want)));
        setrlimit(Resource::Nofile, limit).expect("raise RLIMIT_NOFILE");
    }
    let limit = getrlimit(Resource::Nofile);
    assert!(
        limit.current.is_none_or(|c| c >= 2 * STALLED as u64 + 100),
        "this test needs {} descriptors (ulimit -n): {limit:?}",
        2 * STALLED + 100
    );
}

#[test]
fn a_thousand_slowloris_clients_are_cut_off_and_a_normal_client_is_served_meanwhile() {
    let _serial = common::process_wide();
    raise_descriptor_limit();
    let setup = Setup::new();
    let hello = client_hello(&setup);
    let backend = Backend::new().unwrap();
    let runner = {
        let b = backend.clone();
        thread::spawn(move || b.run().unwrap())
    };
    let port = Port::bind("127.0.0.1:0", &setup.server_ctx).unwrap();
    port.set_handshake_timeout(Some(HANDSHAKE_TIMEOUT));
    let addr = port.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let s = served.clone();
    port.listen(&backend, move |conn: SslFile| {
        s.fetch_add(1, Ordering::SeqCst);
        conn.set_read_callback(Some(Arc::new(|f: &SslFile, d: &[u8]| {
            let _ = (&*f).write_all(d);
        })));
    })
    .unwrap();

    round_trip(addr, &setup); // warm-up
    thread::sleep(Duration::from_millis(50));
    let fds_before = open_descriptors();
    let live_before = sslfile::live_connections();
    let quiet = latencies(addr, &setup);
    let connect_start = Instant::now();

    // The stalled clients: all connected, then one byte of ClientHello per second each.
    // (Connecting them takes a while: the server accepts them as fast as it can, and
    // clients whose SYN overflowed the backlog retry a second later.)
    let mut stalled: Vec<(TcpStream, Instant)> = (0..STALLED)
        .map(|_| {
            let s = TcpStream::connect(addr).unwrap();
            s.set_nonblocking(true).unwrap();
            (s, Instant::now())
        })
        .collect();
    let started = Instant::now();
    let connecting = started - connect_start;
    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = mpsc::channel();
    let trickle = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut cut_off = vec![None; stalled.len()];
            let mut sent = 0;
            while !stop.load(Ordering::SeqCst) && cut_off.iter().any(Option::is_none) {
                for (i, (s, connected)) in stalled.iter_mut().enumerate() {
                    if cut_off[i].is_some() {
                        continue;
                    }
                    let mut buf = [0u8; 256];
                    let gone = match s.read(&mut buf) {
                        Ok(_) => true, // end of stream, or an alert before it
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
                        Err(_) => true,
                    };
                    let gone = gone
                        || (sent < hello.len() && s.write_all(&hello[sent..sent + 1]).is_err());
                    if gone {
                        cut_off[i] = Some(connected.elapsed());
                    }
                }
                sent += 1;
                thread::sleep(Duration::from_secs(1)); // the attack's own pace
            }
            let _ = done_tx.send(cut_off);
        })
    };
    // While they trickle: the normal client's latency.
    thread::sleep(Duration::from_millis(500));
    let loaded = latencies(addr, &setup);
    let loaded_for = started.elapsed();

    let cut_off = done_rx
        .recv_timeout(HANDSHAKE_TIMEOUT * 5 + TIMEOUT)
        .expect("the stalled clients are cut off");
    stop.store(true, Ordering::SeqCst);
    trickle.join().unwrap();
    let cut_off: Vec<Duration> = cut_off.into_iter().map(Option::unwrap).collect();
    let first = cut_off.iter().min().unwrap();
    let last = cut_off.iter().max().unwrap();

    eventually(|| (sslfile::live_connections() == live_before).then_some(()));
    eventually(|| (open_descriptors() == fds_before).then_some(()));
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    eprintln!(
        "slowloris: {STALLED} stalled clients, handshake timeout {HANDSHAKE_TIMEOUT:?}; \
         normal client round trip (connect + handshake + 1 KiB echo), {SAMPLES} samples: \
         without them median {:.1} ms, max {:.1} ms; with them median {:.1} ms, max {:.1} ms \
         (measured within {:.2} s after the last stalled client connected); stalled \
         clients connected within {:.2} s, each cut off {:.2} s to {:.2} s after it connected; served {} normal connections; \
         descriptors {fds_before} -> {}, live connections {live_before} -> {}",
        ms(&quiet[SAMPLES / 2]),
        ms(quiet.last().unwrap()),
        ms(&loaded[SAMPLES / 2]),
        ms(loaded.last().unwrap()),
        loaded_for.as_secs_f64(),
        connecting.as_secs_f64(),
        first.as_secs_f64(),
        last.as_secs_f64(),
        served.load(Ordering::SeqCst),
        open_descriptors(),
        sslfile::live_connections(),
    );
    assert!(
        *first >= HANDSHAKE_TIMEOUT,
        "cut off after {first:?}, before the timeout"
    );
    assert!(
        *last < HANDSHAKE_TIMEOUT * 5,
        "the last stalled client was cut off after {last:?}"
    );
    assert!(
        *loaded.last().unwrap() < Duration::from_secs(2),
        "a normal client waited {:?} behind the stalled ones",
        loaded.last().unwrap()
    );
    assert_eq!(
        served.load(Ordering::SeqCst),
        1 + 2 * SAMPLES,
        "no stalled client was served"
    );
    drop(port);
    backend.stop();
    runner.join().unwrap();
}
