//! Bulk throughput: a client writes a fixed amount, a server reads and counts; the rate is
//! measured where the data arrives, from the first read to the client's close_notify.

use std::io;
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use super::contenders::Bulk;
use super::progress::Progress;
use super::Setup;

/// The result of one run.
#[derive(Debug, Clone)]
pub struct Throughput {
    /// Bytes the server received after its first read.
    pub bytes: u64,
    /// From the end of the server's first read to the client's close_notify.
    pub elapsed: Duration,
    /// The negotiated cipher suite.
    pub suite: String,
}

impl Throughput {
    /// Bytes per second.
    pub fn per_second(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// What a bulk sink counts, the same way for every contender: the first read starts the
/// clock, the bytes of the reads after it are counted.
#[derive(Debug, Default)]
pub struct SinkCount {
    start: Option<Instant>,
    bytes: u64,
}

impl SinkCount {
    /// Records a read of `n` bytes; returns how many of them count (none for the first).
    pub fn record(&mut self, n: usize) -> u64 {
        if self.start.is_none() {
            self.start = Some(Instant::now());
            return 0;
        }
        self.bytes += n as u64;
        n as u64
    }

    /// The bytes counted and the time since the first read.
    pub fn result(&self) -> (u64, Duration) {
        (
            self.bytes,
            self.start.map_or(Duration::ZERO, |s| s.elapsed()),
        )
    }
}

/// Runs `contender`: `total` bytes client to server, written `chunk` bytes at a time.
pub fn run(
    contender: &dyn Bulk,
    setup: &Setup,
    total: u64,
    chunk: usize,
    progress: &Progress,
) -> io::Result<Throughput> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::scope(|scope| {
        let server = scope.spawn(|| contender.sink(&listener, setup, progress));
        let sent = contender.source(addr, setup, total, chunk);
        let received = server
            .join()
            .map_err(|_| io::Error::other("the server thread panicked"))?;
        let suite = sent?;
        let (bytes, elapsed) = received?;
        Ok(Throughput {
            bytes,
            elapsed,
            suite,
        })
    })
}
