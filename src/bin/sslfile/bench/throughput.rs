//! Bulk throughput: a client writes as fast as it can for a while, a server reads and
//! counts; the rate is measured where the data arrives, from the first read to the
//! client's close_notify.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use super::progress::Progress;
use super::{Contender, Setup};

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

/// Runs `contender` for `duration`, writing `chunk` bytes at a time.
pub fn run(
    contender: &dyn Contender,
    setup: &Setup,
    duration: Duration,
    chunk: usize,
    progress: &Progress,
) -> io::Result<Throughput> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::scope(|scope| {
        let server = scope.spawn(|| receive(contender, setup, &listener, progress));
        let sent = send(contender, setup, addr, duration, chunk);
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

/// The server: reads until close_notify; returns what it counted and how long it took.
fn receive(
    contender: &dyn Contender,
    setup: &Setup,
    listener: &TcpListener,
    progress: &Progress,
) -> io::Result<(u64, Duration)> {
    let (socket, _) = listener.accept()?;
    let mut conn = contender.server(socket, setup)?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut start = None;
    let mut bytes = 0u64;
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if start.is_none() {
            start = Some(Instant::now()); // the first read is not counted: it starts the clock
            continue;
        }
        bytes += n as u64;
        progress.add(n as u64);
    }
    let elapsed = start.map_or(Duration::ZERO, |s| s.elapsed());
    drop(conn); // the client closed already
    Ok((bytes, elapsed))
}

/// The client: writes for `duration`, then closes; returns the cipher suite.
fn send(
    contender: &dyn Contender,
    setup: &Setup,
    addr: std::net::SocketAddr,
    duration: Duration,
    chunk: usize,
) -> io::Result<String> {
    let mut conn = contender.client(TcpStream::connect(addr)?, setup, true)?;
    let data = vec![0x5au8; chunk.max(1)];
    let start = Instant::now();
    while start.elapsed() < duration {
        conn.write_all(&data)?;
    }
    conn.flush()?;
    let suite = conn.suite();
    conn.close()?;
    Ok(suite)
}
