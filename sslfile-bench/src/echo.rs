//! Callback mode at scale: many connections echoing small messages on one server thread.
//!
//! The server under test runs on one thread (sslfile: one [`Backend`]; tokio-rustls: a
//! current-thread runtime). The load is the same for every server: one client thread
//! driving all connections with raw rustls over `polling`, closed loop (each connection
//! sends its next message when the previous one came back whole). Messages per second and
//! the round-trip latency (p50, p99) are measured over a window after a warm-up.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use polling::{Event, Events, PollMode, Poller};
use rustls::ClientConnection;
use sslfile::{Port, SslFile};

use super::callback::BackendThread;
use super::contenders::server_name;
use super::setup::Setup;

/// A running echo server; dropping it stops it.
pub trait Running: Send {}

/// An echo server on one thread.
pub trait EchoServer: Send + Sync {
    /// Its name in reports.
    fn name(&self) -> &'static str;
    /// Starts serving on a free loopback port; returns the address and the running server.
    fn start(&self, setup: &Setup) -> io::Result<(SocketAddr, Box<dyn Running>)>;
}

/// The echo servers compared, sslfile first.
pub fn servers() -> Vec<Box<dyn EchoServer>> {
    let mut all: Vec<Box<dyn EchoServer>> =
        vec![Box::new(SslfileEcho), Box::new(super::tokio::SslfileTokio)];
    all.push(Box::new(super::tokio::TokioRustls));
    all
}

/// sslfile in callback mode: a [`Port`] listening on one backend, a read callback that
/// writes back what it got.
pub struct SslfileEcho;

struct SslfileServer {
    // Field order is drop order: stop accepting, then stop the backend.
    _port: Port,
    _backend: BackendThread,
}

impl Running for SslfileServer {}

impl EchoServer for SslfileEcho {
    fn name(&self) -> &'static str {
        "sslfile callback"
    }

    fn start(&self, setup: &Setup) -> io::Result<(SocketAddr, Box<dyn Running>)> {
        let port = Port::bind("127.0.0.1:0", &setup.sslfile_server)?;
        let addr = port.local_addr()?;
        let backend = BackendThread::start()?;
        port.listen(&backend.backend, |file: SslFile| {
            file.set_read_callback(Some(Arc::new(|file: &SslFile, data: &[u8]| {
                let _ = (&*file).write(data);
            })));
        })?;
        Ok((
            addr,
            Box::new(SslfileServer {
                _port: port,
                _backend: backend,
            }),
        ))
    }
}

/// What the load measured.
#[derive(Debug, Clone)]
pub struct EchoResult {
    /// Messages echoed in the window.
    pub messages: u64,
    /// Messages echoed in all, warm-up included (shown by `-v`, for profilers: the work
    /// done per message).
    #[allow(dead_code)]
    pub echoed: u64,
    /// The window.
    pub elapsed: Duration,
    /// Median round trip.
    pub p50: Duration,
    /// 99th percentile round trip.
    pub p99: Duration,
}

impl EchoResult {
    /// Messages per second.
    pub fn per_second(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `server` under `connections` echoing clients of `size`-byte messages: once every
/// connection echoed its first message, a warm-up of `warmup`, then a window of `duration`.
pub fn run(
    server: &dyn EchoServer,
    setup: &Setup,
    connections: usize,
    size: usize,
    warmup: Duration,
    duration: Duration,
) -> io::Result<EchoResult> {
    let (addr, running) = server.start(setup)?;
    let result = load(addr, setup, connections, size, warmup, duration);
    drop(running);
    result
}

struct Client {
    sock: TcpStream,
    tls: ClientConnection,
    sent_at: Instant,
    received: usize,
    writable: bool,
    /// The first message came back (its round trip includes connecting and the handshake).
    ready: bool,
}

/// The load: `connections` clients on this thread.
fn load(
    addr: SocketAddr,
    setup: &Setup,
    connections: usize,
    size: usize,
    warmup: Duration,
    duration: Duration,
) -> io::Result<EchoResult> {
    let poller = Poller::new()?;
    let message = vec![0x5au8; size.max(1)];
    let mut clients = Vec::with_capacity(connections);
    for key in 0..connections {
        let sock = TcpStream::connect(addr)?;
        sock.set_nodelay(true)?;
        sock.set_nonblocking(true)?;
        let mut tls = ClientConnection::new(setup.rustls_client(true), server_name())
            .map_err(io::Error::other)?;
        tls.writer().write_all(&message)?; // sent once the handshake completes
                                           // SAFETY: the socket stays in `clients` until it is deleted from the poller below.
        unsafe { poller.add_with_mode(&sock, Event::all(key), PollMode::Level)? };
        clients.push(Client {
            sock,
            tls,
            sent_at: Instant::now(),
            received: 0,
            writable: true,
            ready: false,
        });
    }
    let mut events = Events::with_capacity(NonZeroUsize::new(1024).expect("non-zero"));
    // The window opens `warmup` after every connection's first message came back.
    let give_up = Instant::now() + Duration::from_secs(60);
    let mut ready = 0;
    let far = Instant::now() + Duration::from_secs(3600);
    let (mut window_start, mut window_end) = (far, far);
    let mut latencies: Vec<u32> = Vec::with_capacity(1 << 20);
    let mut messages = 0u64;
    let mut echoed = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    while Instant::now() < window_end {
        if ready < connections && Instant::now() > give_up {
            return Err(io::Error::other(format!(
                "only {ready} of {connections} connections echoed within a minute"
            )));
        }
        events.clear();
        poller.wait(&mut events, Some(Duration::from_millis(100)))?;
        for event in events.iter() {
            let client = &mut clients[event.key];
            if event.readable {
                match client.tls.read_tls(&mut client.sock) {
                    Ok(0) => return Err(io::Error::other("the server closed a connection")),
                    Ok(_) => {
                        client.tls.process_new_packets().map_err(io::Error::other)?;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                loop {
                    match client.tls.reader().read(&mut buf) {
                        Ok(0) => return Err(io::Error::other("the server closed a connection")),
                        Ok(n) => client.received += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                while client.received >= message.len() {
                    client.received -= message.len();
                    echoed += 1;
                    let now = Instant::now();
                    if !client.ready {
                        client.ready = true;
                        ready += 1;
                        if ready == connections {
                            window_start = now + warmup;
                            window_end = window_start + duration;
                        }
                    } else if now >= window_start && now < window_end {
                        messages += 1;
                        let micros = (now - client.sent_at).as_micros();
                        latencies.push(micros.min(u32::MAX as u128) as u32);
                    }
                    client.sent_at = now;
                    client.tls.writer().write_all(&message)?;
                }
            }
            while client.tls.wants_write() {
                match client.tls.write_tls(&mut client.sock) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            let writable = client.tls.wants_write();
            if writable != client.writable {
                client.writable = writable;
                let interest = if writable {
                    Event::all(event.key)
                } else {
                    Event::readable(event.key)
                };
                poller.modify_with_mode(&client.sock, interest, PollMode::Level)?;
            }
        }
    }
    for client in &mut clients {
        poller.delete(&client.sock)?;
        client.tls.send_close_notify();
        let _ = client.tls.write_tls(&mut client.sock);
    }
    latencies.sort_unstable();
    let percentile = |p: f64| -> Duration {
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        Duration::from_micros(latencies.get(i).copied().unwrap_or(0) as u64)
    };
    Ok(EchoResult {
        messages,
        echoed,
        elapsed: duration,
        p50: percentile(0.50),
        p99: percentile(0.99),
    })
}
