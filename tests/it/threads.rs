//! Threads (SPEC §6): a blocking read in one thread and a blocking write in another on the
//! same file proceed concurrently; Pike's threaded echo scenario; a full-duplex transfer;
//! and a stress test of 8 threads sharing 4 files with random operations.

use crate::common;

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use common::pair::{Setup, Transport, TRANSPORTS};
use common::{random_bytes, TIMEOUT};
use sslfile::SslFile;

/// A blocking echo server on its own thread; returns when the client closes.
fn echo(server: SslFile) -> thread::JoinHandle<io::Result<u64>> {
    thread::spawn(move || {
        server.set_timeout(None);
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = (&server).read(&mut buf)?;
            if n == 0 {
                break;
            }
            (&server).write_all(&buf[..n])?;
            total += n as u64;
        }
        let _ = server.close();
        Ok(total)
    })
}

/// Pike's threaded test: the server echoes in blocking mode; on the client, one thread
/// writes 64 KiB of random data in one `write_all` while another reads the echo.
#[test]
fn pike_threaded_scenario_write_all_in_one_thread_read_exact_in_another() {
    let setup = Setup::new();
    for transport in TRANSPORTS {
        let (client, server) = setup.connect(transport);
        let server = echo(server);
        let client = Arc::new(client);
        let data = random_bytes(64 * 1024, 31);
        let writer = {
            let (client, data) = (client.clone(), data.clone());
            thread::spawn(move || (&*client).write_all(&data))
        };
        let mut echoed = vec![0u8; data.len()];
        (&*client).read_exact(&mut echoed).unwrap();
        writer.join().unwrap().unwrap();
        assert!(echoed == data, "{transport:?}");
        client.close().unwrap();
        assert_eq!(server.join().unwrap().unwrap(), data.len() as u64);
    }
}

/// Both directions at once between two files, each side with a reading and a writing
/// thread: 32 MiB each way, compared byte for byte. A writer blocked on a full socket
/// must not stop the reader of the same file (or both sides would deadlock).
#[test]
fn full_duplex_32_mib_each_way_with_two_threads_per_file() {
    const LEN: usize = 32 << 20;
    let setup = Setup::new();
    for transport in TRANSPORTS {
        let (a, b) = setup.connect(transport);
        let (a, b) = (Arc::new(a), Arc::new(b));
        let (from_a, from_b) = (random_bytes(LEN, 32), random_bytes(LEN, 33));
        let spawn_writer = |file: &Arc<SslFile>, data: &Vec<u8>| {
            let (file, data) = (file.clone(), data.clone());
            thread::spawn(move || (&*file).write_all(&data))
        };
        let spawn_reader = |file: &Arc<SslFile>| {
            let file = file.clone();
            thread::spawn(move || {
                let mut got = vec![0u8; LEN];
                (&*file).read_exact(&mut got).map(|()| got)
            })
        };
        let (wa, wb) = (spawn_writer(&a, &from_a), spawn_writer(&b, &from_b));
        let (ra, rb) = (spawn_reader(&a), spawn_reader(&b));
        wa.join().unwrap().unwrap();
        wb.join().unwrap().unwrap();
        assert!(
            rb.join().unwrap().unwrap() == from_a,
            "{transport:?}: a → b"
        );
        assert!(
            ra.join().unwrap().unwrap() == from_b,
            "{transport:?}: b → a"
        );
    }
}

/// A blocking read that waits for data must not hold up a blocking write on the same file.
#[test]
fn a_blocked_reader_does_not_block_a_writer() {
    let setup = Setup::new();
    let (client, server) = setup.connect(Transport::SocketPair);
    let client = Arc::new(client);
    let reader = {
        let client = client.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 5];
            (&*client).read_exact(&mut buf).map(|()| buf)
        })
    };
    thread::sleep(Duration::from_millis(50)); // let the reader block in its wait
    let start = Instant::now();
    (&*client).write_all(b"ping?").unwrap();
    let mut buf = [0u8; 5];
    (&server).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping?");
    assert!(start.elapsed() < TIMEOUT, "the write waited for the reader");
    (&server).write_all(b"pong!").unwrap();
    assert_eq!(&reader.join().unwrap().unwrap(), b"pong!");
}

/// xorshift64*: a small deterministic generator per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const FILES: usize = 4;
const THREADS: usize = 8;
/// Files 0 and 1 stay open; 2 and 3 may be closed by any thread at any time.
const KEPT_OPEN: usize = 2;

/// Bytes written and read per (file, writer thread): each thread writes only its own byte
/// value, so whatever the interleaving, the echo must bring back exactly as many bytes of
/// each value as were accepted.
struct Ledger {
    written: Vec<Vec<AtomicU64>>,
    read: Vec<Vec<AtomicU64>>,
}

impl Ledger {
    fn new() -> Ledger {
        let table = || {
            (0..FILES)
                .map(|_| (0..THREADS).map(|_| AtomicU64::new(0)).collect())
                .collect()
        };
        Ledger {
            written: table(),
            read: table(),
        }
    }

    fn count_read(&self, file: usize, data: &[u8]) {
        for &b in data {
            let t = usize::from(b);
            assert!(t < THREADS, "file {file}: a byte no thread wrote: {b}");
            self.read[file][t].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn totals(&self, file: usize) -> (u64, u64) {
        let sum = |v: &Vec<AtomicU64>| v.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        (sum(&self.written[file]), sum(&self.read[file]))
    }
}

/// One random operation by thread `t` on file `f`. Errors must be the clean ones.
fn random_op(rng: &mut Rng, t: usize, f: usize, file: &SslFile, ledger: &Ledger) {
    let mut buf = vec![0u8; 1 + rng.below(40_000) as usize];
    match rng.below(100) {
        0..=39 => {
            let data = vec![t as u8; 1 + rng.below(40_000) as usize];
            match (&*file).write(&data) {
                Ok(n) => {
                    ledger.written[f][t].fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e) => check_error(f, &e),
            }
        }
        40..=79 => match (&*file).read(&mut buf) {
            Ok(n) => ledger.count_read(f, &buf[..n]),
            Err(e) => check_error(f, &e),
        },
        80..=87 => file.set_nonblocking(),
        88..=95 => file.set_blocking(),
        96..=97 => {
            let _ = file.flush();
            let _ = file.is_open();
        }
        _ => {
            if f >= KEPT_OPEN && rng.below(50) == 0 {
                // Blocking with a 20 ms timeout, the flush may time out (the transport is
                // closed all the same); anything else is a bug.
                if let Err(e) = file.close() {
                    assert_eq!(e.kind(), io::ErrorKind::TimedOut, "file {f}: close: {e}");
                }
            }
        }
    }
}

fn check_error(f: usize, e: &io::Error) {
    let fine = match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => true,
        // Only files that may be closed can see the end of the connection.
        io::ErrorKind::NotConnected | io::ErrorKind::BrokenPipe => f >= KEPT_OPEN,
        _ => false,
    };
    assert!(fine, "file {f}: unexpected error {e:?}");
}

#[test]
fn eight_threads_four_files_random_operations_for_ten_seconds() {
    let setup = Setup::new();
    let mut files = Vec::new();
    let mut echoes = Vec::new();
    for i in 0..FILES {
        let (client, server) = setup.connect(TRANSPORTS[i % 2]);
        client.set_timeout(Some(Duration::from_millis(20)));
        files.push(Arc::new(client));
        echoes.push(echo(server));
    }
    let ledger = Arc::new(Ledger::new());
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let (done_tx, done_rx) = mpsc::channel();
    for t in 0..THREADS {
        let (files, ledger, stop, ops, done) = (
            files.clone(),
            ledger.clone(),
            stop.clone(),
            ops.clone(),
            done_tx.clone(),
        );
        thread::spawn(move || {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1));
            while !stop.load(Ordering::Relaxed) {
                let f = rng.below(FILES as u64) as usize;
                random_op(&mut rng, t, f, &files[f], &ledger);
                ops.fetch_add(1, Ordering::Relaxed);
            }
            done.send(t).unwrap();
        });
    }
    drop(done_tx);
    thread::sleep(Duration::from_secs(10));
    stop.store(true, Ordering::Relaxed);
    // Watchdog: every worker must finish its last operation promptly (no deadlock).
    let deadline = Instant::now() + TIMEOUT;
    for _ in 0..THREADS {
        let left = deadline.saturating_duration_since(Instant::now());
        done_rx
            .recv_timeout(left)
            .expect("a worker thread is stuck: deadlock");
    }
    let total_ops = ops.load(Ordering::Relaxed);
    println!("{total_ops} operations by {THREADS} threads on {FILES} files in 10 s");
    assert!(total_ops > 1000, "too few operations ran: {total_ops}");

    // The files that stayed open: drain the echo, then every byte written came back once.
    for (f, file) in files.iter().enumerate().take(KEPT_OPEN) {
        file.set_blocking();
        file.set_timeout(Some(TIMEOUT));
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let (written, read) = ledger.totals(f);
            assert!(read <= written, "file {f}: more read than written");
            if read == written {
                break;
            }
            let want = (written - read).min(buf.len() as u64) as usize;
            let n = (&**file).read(&mut buf[..want]).unwrap();
            assert!(
                n > 0,
                "file {f}: end of stream before the echo was complete"
            );
            ledger.count_read(f, &buf[..n]);
        }
        for t in 0..THREADS {
            assert_eq!(
                ledger.written[f][t].load(Ordering::Relaxed),
                ledger.read[f][t].load(Ordering::Relaxed),
                "file {f}, thread {t}: bytes lost or duplicated"
            );
        }
        println!("file {f}: {} bytes echoed exactly", ledger.totals(f).0);
        file.close().unwrap();
    }
    for file in &files[KEPT_OPEN..] {
        file.set_timeout(Some(TIMEOUT));
        if let Err(e) = file.close() {
            assert_eq!(e.kind(), io::ErrorKind::TimedOut, "close: {e}");
        }
    }
    for e in echoes {
        // Closed files' echo servers may see truncation or a reset; kept ones end cleanly.
        let _ = e.join().unwrap();
    }
}

/// What the reading side must answer (here the peer's close_notify, which TLS 1.2 answers
/// at once) goes out from the reading thread at once, though nobody writes on the file.
#[test]
fn a_reply_made_while_reading_is_flushed_without_a_writer() {
    let setup = Setup::new();
    for transport in TRANSPORTS {
        let (a, b) = setup.connect_version(transport, sslfile::TlsVersion::Tls1_2);
        let a = Arc::new(a);
        let reader = {
            let a = a.clone();
            thread::spawn(move || {
                let mut buf = [0u8; 16];
                (&*a).read(&mut buf)
            })
        };
        thread::sleep(Duration::from_millis(20)); // let the reader block
        b.shutdown(std::net::Shutdown::Write).unwrap();
        // b reads a's answering close_notify; a's only activity is its blocked read.
        let mut buf = [0u8; 16];
        assert_eq!((&b).read(&mut buf).unwrap(), 0, "{transport:?}");
        assert_eq!(reader.join().unwrap().unwrap(), 0, "{transport:?}");
    }
}
