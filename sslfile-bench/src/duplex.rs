//! Two-thread full duplex: on one sslfile connection, N MiB one way, then, on a
//! fresh one, N MiB each way at once (a reading and a writing thread on each file);
//! the combined rate over the one-way rate, over two links:
//!
//! * plain loopback TCP: CPU-bound. One-way transfer already keeps two cores busy (one
//!   encrypts, one decrypts), so on a 2-core machine the ratio cannot exceed about 1.0;
//!   with more cores a true full duplex goes towards 2.0.
//! * a paced link (a relay forwarding each direction at a fixed rate, like a network
//!   link): not CPU-bound, so a true full duplex gives about 2.0, and an implementation
//!   that serialises reads and writes (one lock around the stream) about 1.0.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use sslfile::{File, SslFile};

use super::setup::{Setup, SERVER_NAME};

/// One measurement: the one-way and the full-duplex transfer of `bytes` per direction.
#[derive(Debug, Clone)]
pub struct Duplex {
    /// Bytes per direction.
    pub bytes: u64,
    /// The one-way transfer's duration.
    pub one_way: Duration,
    /// The full duplex transfer's duration (both directions at once).
    pub both: Duration,
}

impl Duplex {
    /// One-way rate, bytes per second.
    pub fn one_way_rate(&self) -> f64 {
        self.bytes as f64 / self.one_way.as_secs_f64().max(1e-9)
    }

    /// Combined full-duplex rate (both directions), bytes per second.
    pub fn duplex_rate(&self) -> f64 {
        2.0 * self.bytes as f64 / self.both.as_secs_f64().max(1e-9)
    }
}

/// Measures `bytes` per direction, over loopback or (`paced`: MB/s per direction) a
/// paced relay.
pub fn run(setup: &Setup, bytes: u64, paced: Option<f64>) -> io::Result<Duplex> {
    let (a, b) = connect(setup, paced)?;
    let start = Instant::now();
    let threads = [send(a.clone(), bytes), receive(b.clone(), bytes)];
    join(threads)?;
    let one_way = start.elapsed();

    let (a, b) = connect(setup, paced)?;
    let start = Instant::now();
    let threads = [
        send(a.clone(), bytes),
        send(b.clone(), bytes),
        receive(a.clone(), bytes),
        receive(b.clone(), bytes),
    ];
    join(threads)?;
    let both = start.elapsed();
    Ok(Duplex {
        bytes,
        one_way,
        both,
    })
}

fn join<const N: usize>(threads: [thread::JoinHandle<io::Result<()>>; N]) -> io::Result<()> {
    for t in threads {
        t.join()
            .map_err(|_| io::Error::other("a transfer thread panicked"))??;
    }
    Ok(())
}

/// A connected pair: (client, server).
fn connect(setup: &Setup, paced: Option<f64>) -> io::Result<(Arc<SslFile>, Arc<SslFile>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let addr = match paced {
        Some(mbps) => paced_relay(addr, mbps)?,
        None => addr,
    };
    let ctx = setup.sslfile_server.clone();
    let server = thread::spawn(move || -> io::Result<SslFile> {
        let (socket, _) = listener.accept()?;
        Ok(SslFile::server(File::try_from(socket)?, &ctx)?)
    });
    let client = SslFile::client(File::connect(addr)?, &setup.sslfile_client, SERVER_NAME)?;
    let server = server
        .join()
        .map_err(|_| io::Error::other("the server thread panicked"))??;
    Ok((Arc::new(client), Arc::new(server)))
}

fn send(file: Arc<SslFile>, total: u64) -> thread::JoinHandle<io::Result<()>> {
    thread::spawn(move || {
        let chunk = vec![0x5au8; 256 * 1024];
        let mut left = total;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            (&*file).write_all(&chunk[..n])?;
            left -= n as u64;
        }
        Ok(())
    })
}

fn receive(file: Arc<SslFile>, total: u64) -> thread::JoinHandle<io::Result<()>> {
    thread::spawn(move || {
        let mut buf = vec![0u8; 256 * 1024];
        let mut left = total;
        while left > 0 {
            let n = (&*file).read(&mut buf)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            left = left.saturating_sub(n as u64);
        }
        Ok(())
    })
}

/// A relay on loopback that forwards each direction in its own thread at `mbps` MB/s
/// (`TCP_NODELAY` on its sockets: the relay adds pacing, not Nagle's delays).
pub(crate) fn paced_relay(to: SocketAddr, mbps: f64) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::spawn(move || -> io::Result<()> {
        let (near, _) = listener.accept()?;
        let far = TcpStream::connect(to)?;
        // A link forwards what it has at once: without this, the relay's own small last
        // write of a burst waited for the receiver's delayed ACK (40 ms on Linux), which
        // took 6-20% off some one-way runs depending on how the sender's writes fell.
        near.set_nodelay(true)?;
        far.set_nodelay(true)?;
        pump(near.try_clone()?, far.try_clone()?, mbps);
        pump(far, near, mbps);
        Ok(())
    });
    Ok(addr)
}

fn pump(mut from: TcpStream, mut to: TcpStream, mbps: f64) {
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let start = Instant::now();
        let mut sent = 0f64;
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
            sent += n as f64;
            let due = Duration::from_secs_f64(sent / (mbps * 1e6));
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                thread::sleep(wait);
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
