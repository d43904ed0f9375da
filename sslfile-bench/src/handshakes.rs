//! Handshakes per second: one client after another connects, completes the handshake,
//! exchanges one byte each way (so that both sides finished, and the client has the
//! server's session tickets) and closes with close_notify.
//!
//! Both ends set TCP_NODELAY, for every contender: otherwise the small last flights of a
//! TLS 1.2 resumption wait for Nagle's algorithm and delayed ACKs (some 40 ms each).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::progress::Progress;
use super::{Contender, Setup};

/// Full handshakes (a client that never resumes) or resumed ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The client's configuration keeps no sessions: a full handshake every time.
    Full,
    /// The client's shared configuration resumes the previous session.
    Resumed,
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct Handshakes {
    /// Connections completed.
    pub count: u64,
    /// How long they took.
    pub elapsed: Duration,
}

impl Handshakes {
    /// Handshakes per second.
    pub fn per_second(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// When a run stops.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// After this long,
    pub duration: Duration,
    /// or after this many connections (a fixed amount of work, for profilers).
    pub count: Option<u64>,
}

impl Limit {
    fn reached(&self, start: Instant, count: u64) -> bool {
        start.elapsed() >= self.duration || self.count.is_some_and(|c| count >= c)
    }
}

/// Runs `contender` until `limit`.
pub fn run(
    contender: &dyn Contender,
    setup: &Setup,
    kind: Kind,
    limit: Limit,
    progress: &Progress,
) -> io::Result<Handshakes> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let done = AtomicBool::new(false);
    thread::scope(|scope| {
        let server = scope.spawn(|| serve(contender, setup, &listener, &done));
        let result = connect_repeatedly(contender, setup, addr, kind, limit, progress);
        done.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(addr); // wakes the server's accept
        let served = server
            .join()
            .map_err(|_| io::Error::other("the server thread panicked"))?;
        served?;
        result
    })
}

fn serve(
    contender: &dyn Contender,
    setup: &Setup,
    listener: &TcpListener,
    done: &AtomicBool,
) -> io::Result<()> {
    loop {
        let (socket, _) = listener.accept()?;
        if done.load(Ordering::SeqCst) {
            return Ok(());
        }
        socket.set_nodelay(true)?;
        let mut conn = contender.server(socket, setup)?;
        let mut byte = [0u8; 1];
        conn.read_exact(&mut byte)?;
        conn.write_all(&byte)?;
        conn.flush()?;
        // Until the client's close_notify.
        while conn.read(&mut byte)? > 0 {}
        drop(conn);
    }
}

fn connect_repeatedly(
    contender: &dyn Contender,
    setup: &Setup,
    addr: SocketAddr,
    kind: Kind,
    limit: Limit,
    progress: &Progress,
) -> io::Result<Handshakes> {
    let start = Instant::now();
    let mut count = 0;
    while !limit.reached(start, count) {
        let socket = TcpStream::connect(addr)?;
        socket.set_nodelay(true)?;
        let mut conn = contender.client(socket, setup, kind == Kind::Resumed)?;
        let mut byte = [1u8];
        conn.write_all(&byte)?;
        conn.flush()?;
        conn.read_exact(&mut byte)?;
        conn.close()?;
        count += 1;
        progress.add(1);
    }
    Ok(Handshakes {
        count,
        elapsed: start.elapsed(),
    })
}
