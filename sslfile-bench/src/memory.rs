//! Memory: resident bytes per idle established connection on a server.
//!
//! The server runs in a child process (this same program, started again with
//! [`SERVER_ENV`] set, which [`serve_if_child`] picks up), so that its resident set holds
//! the server side only; this process is the client, with raw rustls for every server.
//! The child counts its resident set (`/proc/self/statm`) once `warm` connections are
//! established (so that lazily made things — configurations, thread arenas — are
//! counted before), and again after `count` more; the difference over `count` is the
//! cost of one idle connection.
//!
//! * sslfile: a [`Port`] listening on one [`Backend`] thread; each accepted connection
//!   gets a read and a close callback (an idle callback-mode server) and is kept alive by
//!   its watch only.
//! * raw rustls: a `ServerConnection` and its `TcpStream` in a `Vec`, handshake done with
//!   `complete_io` (the least a rustls server can hold).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rustls::{ClientConnection, ServerConnection};
use sslfile::{Port, SslFile, TlsVersion};

use super::callback::BackendThread;
use super::contenders::server_name;
use super::setup::{KeyType, Setup};

/// Set in the child's environment: which server to run ("sslfile" or "rustls").
pub const SERVER_ENV: &str = "SSLFILE_BENCH_MEMORY_SERVER";
const CERT_ENV: &str = "SSLFILE_BENCH_MEMORY_CERT";
const KEY_ENV: &str = "SSLFILE_BENCH_MEMORY_KEY";
const TLS_ENV: &str = "SSLFILE_BENCH_MEMORY_TLS";

/// The servers compared, sslfile first.
pub const SERVERS: &[&str] = &["sslfile", "rustls"];

/// What one server's child measured.
#[derive(Debug, Clone)]
pub struct Memory {
    /// Resident bytes after the warm-up connections.
    pub before: u64,
    /// Resident bytes after `count` more.
    pub after: u64,
    /// How many connections were added between the two.
    pub count: usize,
}

impl Memory {
    /// Resident bytes per added connection.
    pub fn per_connection(&self) -> f64 {
        (self.after as f64 - self.before as f64) / self.count.max(1) as f64
    }
}

/// The name shown for a server in reports.
pub fn label(server: &str) -> &'static str {
    match server {
        "sslfile" => "sslfile callback",
        _ => "rustls ServerConnection",
    }
}

/// Runs `server` ("sslfile" or "rustls") in a child process started with `args` (the
/// arguments that bring this program back to [`serve_if_child`]) and connects `warm`, then
/// `count` more, idle clients to it.
pub fn run(
    server: &str,
    setup: &Setup,
    args: &[std::ffi::OsString],
    warm: usize,
    count: usize,
) -> io::Result<Memory> {
    raise_descriptor_limit();
    let mut child = Command::new(std::env::current_exe()?)
        .args(args)
        .env(SERVER_ENV, server)
        .env(CERT_ENV, &setup.cert_pem)
        .env(KEY_ENV, &setup.key_pem)
        .env(TLS_ENV, setup.version.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let result = drive(&mut child, setup, warm, count);
    drop(child.stdin.take()); // the child ends when its input does
    let _ = child.wait();
    result
}

fn drive(child: &mut Child, setup: &Setup, warm: usize, count: usize) -> io::Result<Memory> {
    let mut input = child
        .stdin
        .take()
        .ok_or_else(|| io::Error::other("no stdin"))?;
    let mut output = BufReader::new(
        child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?,
    );
    let port: u16 = answer(&mut output)?
        .strip_prefix("port ")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| io::Error::other("the child did not say its port"))?;
    let mut clients = Vec::with_capacity(warm + count);
    connect(port, setup, warm, &mut clients)?;
    let before = ask(&mut input, &mut output, warm)?;
    connect(port, setup, count, &mut clients)?;
    let after = ask(&mut input, &mut output, warm + count)?;
    let result = Memory {
        before,
        after,
        count,
    };
    child.stdin = Some(input);
    drop(clients);
    Ok(result)
}

/// Asks the child for its resident set once it holds `connections`.
fn ask(
    input: &mut ChildStdin,
    output: &mut BufReader<ChildStdout>,
    connections: usize,
) -> io::Result<u64> {
    writeln!(input, "{connections}")?;
    input.flush()?;
    answer(output)?
        .strip_prefix("rss ")
        .and_then(|r| r.parse().ok())
        .ok_or_else(|| io::Error::other("the child did not say its resident set"))
}

fn answer(output: &mut BufReader<ChildStdout>) -> io::Result<String> {
    let mut line = String::new();
    if output.read_line(&mut line)? == 0 {
        return Err(io::Error::other("the memory child ended early"));
    }
    Ok(line.trim().to_string())
}

/// `count` more raw rustls clients, handshake completed, kept idle in `clients`.
fn connect(
    port: u16,
    setup: &Setup,
    count: usize,
    clients: &mut Vec<(ClientConnection, TcpStream)>,
) -> io::Result<()> {
    for _ in 0..count {
        let mut sock = TcpStream::connect(("127.0.0.1", port))?;
        sock.set_nodelay(true)?;
        let mut tls = ClientConnection::new(setup.rustls_client(false), server_name())
            .map_err(io::Error::other)?;
        while tls.is_handshaking() {
            tls.complete_io(&mut sock)?;
        }
        clients.push((tls, sock));
    }
    Ok(())
}

/// In the child process (when [`SERVER_ENV`] is set): serves and answers the parent's
/// questions, and returns `Some` when done; `None` in any other process.
pub fn serve_if_child() -> Option<io::Result<()>> {
    let server = std::env::var(SERVER_ENV).ok()?;
    Some(serve(&server))
}

fn serve(server: &str) -> io::Result<()> {
    raise_descriptor_limit();
    let var =
        |name: &str| std::env::var(name).map_err(|_| io::Error::other(format!("{name} unset")));
    let version = match var(TLS_ENV)?.as_str() {
        "TLS 1.2" => TlsVersion::Tls1_2,
        _ => TlsVersion::Tls1_3,
    };
    let setup = Setup::from_pem(version, KeyType::EcdsaP256, &var(CERT_ENV)?, &var(KEY_ENV)?)?;
    let accepted = Arc::new(AtomicUsize::new(0));
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    // Kept until the end: the server and its connections.
    let _server: Box<dyn Send> = match server {
        "sslfile" => {
            drop(listener);
            let port_ = Port::bind(("127.0.0.1", port), &setup.sslfile_server)?;
            let backend = BackendThread::start()?;
            let counter = accepted.clone();
            port_.listen(&backend.backend, move |file: SslFile| {
                file.set_nonblocking_callbacks(
                    Some(Arc::new(|file: &SslFile, data: &[u8]| {
                        let _ = (&*file).write(data);
                    })),
                    None,
                    Some(Arc::new(|_: &SslFile, _| {})),
                );
                counter.fetch_add(1, Ordering::SeqCst);
            })?;
            Box::new((port_, backend))
        }
        _ => {
            let counter = accepted.clone();
            let config = setup.rustls_server.clone();
            let held = Arc::new(std::sync::Mutex::new(Vec::new()));
            let keep = held.clone();
            thread::spawn(move || -> io::Result<()> {
                loop {
                    let (mut sock, _) = listener.accept()?;
                    sock.set_nodelay(true)?;
                    let mut tls =
                        ServerConnection::new(config.clone()).map_err(io::Error::other)?;
                    while tls.is_handshaking() {
                        tls.complete_io(&mut sock)?;
                    }
                    while tls.wants_write() {
                        tls.write_tls(&mut sock)?;
                    }
                    keep.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((tls, sock));
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            });
            Box::new(held)
        }
    };
    let mut stdout = io::stdout();
    writeln!(stdout, "port {port}")?;
    stdout.flush()?;
    for line in io::stdin().lock().lines() {
        let wanted: usize = line?.trim().parse().map_err(io::Error::other)?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while accepted.load(Ordering::SeqCst) < wanted && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        thread::sleep(Duration::from_millis(200)); // the last flights and tickets go out
        writeln!(stdout, "rss {}", resident_bytes()?)?;
        stdout.flush()?;
    }
    Ok(())
}

/// This process's resident set, in bytes (`VmRSS` of `/proc/self/status`).
pub fn resident_bytes() -> io::Result<u64> {
    let mut status = String::new();
    std::fs::File::open("/proc/self/status")?.read_to_string(&mut status)?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| io::Error::other("no VmRSS in /proc/self/status"))
}

/// Raises the soft descriptor limit to the hard one (each side holds one per connection).
fn raise_descriptor_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
}
