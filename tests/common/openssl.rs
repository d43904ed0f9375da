//! Child-process wrappers around the `openssl` command-line tool (3.x):
//! [`SServer`] runs `openssl s_server`, [`SClient`] runs `openssl s_client`.
//!
//! Both pipe stdin/stdout/stderr. Background threads collect stdout and
//! stderr (see [`Collector`]), every wait is bounded, and the child is killed
//! and reaped on drop. Both types deref to [`ChildProc`] for the I/O helpers.
//!
//! Behaviour of the tools worth knowing (observed with OpenSSL 3.0):
//! * `s_server -quiet` prints nothing at all on startup (no "ACCEPT"), so
//!   readiness is detected by finding the child's listening socket in
//!   `/proc/<pid>/net/tcp` (no probe connection, which would count against
//!   `-naccept`). Without `-quiet` it prints "ACCEPT" to stdout once
//!   listening; that is accepted too.
//! * `s_server` ends the connection (with close_notify) and, with
//!   `-naccept 1`, exits when its stdin reaches EOF, even with `-quiet`; keep
//!   stdin open (the default here) while the connection lives. It answers a
//!   client's close_notify with its own. It exits 0 even when it fails to
//!   bind (the error is only on stderr).
//! * `s_client -quiet` implies `-ign_eof`: stdin EOF does not close the
//!   connection. It exits 0 after the server's close_notify and 1 ("unexpected
//!   eof while reading") if the TCP connection ends without one. Without
//!   `-quiet`, stdin EOF makes it send close_notify and exit 0, and stdout
//!   carries session details besides the data.
//! * Certificate verification chatter ("depth=...") goes to stderr.

use std::collections::HashSet;
use std::fs;
use std::io::{Read, Write};
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::certs::IdentityFiles;
use super::{free_port, TIMEOUT};

/// A TLS protocol version to pin with `-tls1_2` / `-tls1_3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVer {
    Tls12,
    Tls13,
}

impl TlsVer {
    fn flag(self) -> &'static str {
        match self {
            TlsVer::Tls12 => "-tls1_2",
            TlsVer::Tls13 => "-tls1_3",
        }
    }
}

#[derive(Default)]
struct Collected {
    data: Vec<u8>,
    eof: bool,
}

/// Output of one child pipe, gathered by a background thread.
#[derive(Clone)]
pub struct Collector(Arc<(Mutex<Collected>, Condvar)>);

impl Collector {
    fn spawn(mut reader: impl Read + Send + 'static) -> Self {
        let collector = Collector(Arc::default());
        let shared = collector.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 16384];
            loop {
                let n = reader.read(&mut buf).unwrap_or(0);
                let (lock, cond) = &*shared.0;
                let mut state = lock.lock().unwrap();
                if n == 0 {
                    state.eof = true;
                } else {
                    state.data.extend_from_slice(&buf[..n]);
                }
                cond.notify_all();
                if n == 0 {
                    break;
                }
            }
        });
        collector
    }

    /// Wait (at most `timeout`) until `done(data, eof)` holds; return the
    /// data collected so far and whether the condition held.
    pub fn wait_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&[u8], bool) -> bool,
    ) -> (Vec<u8>, bool) {
        let deadline = Instant::now() + timeout;
        let (lock, cond) = &*self.0;
        let mut state = lock.lock().unwrap();
        loop {
            if done(&state.data, state.eof) {
                return (state.data.clone(), true);
            }
            let now = Instant::now();
            if now >= deadline {
                return (state.data.clone(), false);
            }
            state = cond.wait_timeout(state, deadline - now).unwrap().0;
        }
    }

    /// Everything collected so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.0 .0.lock().unwrap().data.clone()
    }

    /// Everything collected so far, lossily decoded as UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }

    /// Wait until the output contains `needle`; false on timeout or EOF
    /// without it.
    pub fn wait_for(&self, needle: &[u8], timeout: Duration) -> bool {
        let (data, _) = self.wait_until(timeout, |d, eof| contains(d, needle) || eof);
        contains(&data, needle)
    }

    /// Wait until at least `len` bytes were collected (or EOF); returns them.
    pub fn wait_len(&self, len: usize, timeout: Duration) -> Vec<u8> {
        self.wait_until(timeout, |d, eof| d.len() >= len || eof).0
    }

    /// Wait for EOF on the pipe (the child closed it or exited) and return
    /// all output; `None` on timeout.
    pub fn read_to_end(&self, timeout: Duration) -> Option<Vec<u8>> {
        match self.wait_until(timeout, |_, eof| eof) {
            (data, true) => Some(data),
            (_, false) => None,
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// A child process with piped stdio; killed and reaped on drop.
pub struct ChildProc {
    cmdline: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Collector,
    stderr: Collector,
}

impl ChildProc {
    /// Spawns `cmd` with piped stdin, stdout and stderr.
    pub fn spawn(mut cmd: Command) -> Self {
        let cmdline = format!("{cmd:?}");
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmdline}: {e}"));
        let stdout = Collector::spawn(child.stdout.take().unwrap());
        let stderr = Collector::spawn(child.stderr.take().unwrap());
        ChildProc {
            cmdline,
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's stdin. Panics if [`close_stdin`](Self::close_stdin) was
    /// called. Writes may block once the pipe is full (64 KiB) and the child
    /// does not read; write big payloads from a separate thread.
    pub fn stdin(&mut self) -> &mut ChildStdin {
        self.stdin.as_mut().expect("stdin already closed")
    }

    /// Write all of `data` to the child's stdin and flush; panics on error.
    pub fn write_stdin(&mut self, data: &[u8]) {
        let result = self
            .stdin()
            .write_all(data)
            .and_then(|_| self.stdin().flush());
        if let Err(e) = result {
            panic!("writing to child stdin: {e}\n{}", self.describe());
        }
    }

    /// Close the child's stdin (EOF for the child).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The collector of the child's stdout.
    pub fn stdout(&self) -> &Collector {
        &self.stdout
    }

    /// The collector of the child's stderr.
    pub fn stderr(&self) -> &Collector {
        &self.stderr
    }

    /// Stdout collected so far, lossily decoded.
    pub fn stdout_text(&self) -> String {
        self.stdout.text()
    }

    /// Stderr collected so far, lossily decoded.
    pub fn stderr_text(&self) -> String {
        self.stderr.text()
    }

    /// Wait until stdout contains `needle` (bounded by `timeout`).
    pub fn wait_stdout(&self, needle: &[u8], timeout: Duration) -> bool {
        self.stdout.wait_for(needle, timeout)
    }

    /// All of stdout, once the child closed it; `None` on timeout.
    pub fn read_stdout_to_end(&self, timeout: Duration) -> Option<Vec<u8>> {
        self.stdout.read_to_end(timeout)
    }

    /// The exit status if the child has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Wait at most `timeout` for the child to exit.
    pub fn wait_with_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kill the child (if still running) and reap it. Stdin is closed only after the
    /// SIGKILL: an EOF on stdin first would let s_server/s_client close cleanly.
    pub fn kill(&mut self) {
        if self.try_wait().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.stdin = None;
    }

    /// Command line, stdout and stderr, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "command: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmdline,
            self.stdout_text(),
            self.stderr_text()
        )
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What `s_server` does with a connection.
#[derive(Debug, Clone)]
pub enum SServerMode {
    /// `-quiet`: data from the client goes to stdout, stdin goes to the client.
    Quiet,
    /// `-WWW`: answer `GET /path` with the file `path` below this directory.
    Www(PathBuf),
    /// `-rev`: echo each line back reversed.
    Rev,
}

/// Options for [`SServer::spawn`].
#[derive(Debug, Clone)]
pub struct SServerOpts {
    /// Certificate chain file (`-cert`).
    pub cert: PathBuf,
    /// Private key file (`-key`).
    pub key: PathBuf,
    /// If set, require a client certificate issued by this CA
    /// (`-CAfile <ca> -Verify 1 -verify_return_error`).
    pub client_ca: Option<PathBuf>,
    /// Pin the protocol version (`-tls1_2` / `-tls1_3`); `None` allows both.
    pub tls: Option<TlsVer>,
    /// `-alpn` protocol list (comma-separated).
    pub alpn: Option<String>,
    /// What to do with the connection; see [`SServerMode`].
    pub mode: SServerMode,
    /// `-naccept`; `None` serves forever. Default `Some(1)`.
    pub naccept: Option<u32>,
    /// Appended verbatim.
    pub extra_args: Vec<String>,
}

impl SServerOpts {
    /// Quiet mode, one connection, any TLS version.
    pub fn new(files: &IdentityFiles) -> Self {
        SServerOpts {
            cert: files.cert.clone(),
            key: files.key.clone(),
            client_ca: None,
            tls: None,
            alpn: None,
            mode: SServerMode::Quiet,
            naccept: Some(1),
            extra_args: Vec::new(),
        }
    }
}

/// A running `openssl s_server` listening on 127.0.0.1.
pub struct SServer {
    proc: ChildProc,
    port: u16,
}

impl SServer {
    /// Start `s_server` on a free port and wait until it listens (panics
    /// with its output if it does not within [`TIMEOUT`]).
    pub fn spawn(opts: SServerOpts) -> SServer {
        for _attempt in 0..5 {
            let port = free_port();
            let mut proc = ChildProc::spawn(sserver_command(&opts, port));
            if wait_listening(&mut proc, port, TIMEOUT) {
                return SServer { proc, port };
            }
            let err = proc.stderr_text();
            if proc.try_wait().is_some() && err.contains("in use") {
                continue; // lost the race for the port: try another one
            }
            panic!("s_server did not start listening\n{}", proc.describe());
        }
        panic!("s_server: no free port after 5 attempts");
    }

    /// The port on 127.0.0.1 it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

fn sserver_command(opts: &SServerOpts, port: u16) -> Command {
    let mut cmd = Command::new("openssl");
    cmd.arg("s_server")
        .arg("-accept")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&opts.cert)
        .arg("-key")
        .arg(&opts.key);
    if let Some(ca) = &opts.client_ca {
        cmd.arg("-CAfile")
            .arg(ca)
            .args(["-Verify", "1", "-verify_return_error"]);
    }
    if let Some(tls) = opts.tls {
        cmd.arg(tls.flag());
    }
    if let Some(alpn) = &opts.alpn {
        cmd.arg("-alpn").arg(alpn);
    }
    match &opts.mode {
        SServerMode::Quiet => {
            cmd.arg("-quiet");
        }
        SServerMode::Www(root) => {
            cmd.arg("-WWW").current_dir(root);
        }
        SServerMode::Rev => {
            cmd.arg("-rev");
        }
    }
    if let Some(n) = opts.naccept {
        cmd.arg("-naccept").arg(n.to_string());
    }
    cmd.args(&opts.extra_args);
    cmd
}

/// Wait until the child listens on `port`: "ACCEPT" on stdout (not printed
/// with `-quiet`), or a listening socket of the child in /proc. False if
/// the child exits or the timeout passes first.
fn wait_listening(proc: &mut ChildProc, port: u16, timeout: Duration) -> bool {
    let start = Instant::now();
    loop {
        if proc.stdout().bytes().windows(6).any(|w| w == b"ACCEPT") {
            return true;
        }
        match listening_in_proc(proc.pid(), port) {
            Some(true) => return true,
            // No /proc (not Linux): give the child a moment and hope.
            None if start.elapsed() > Duration::from_millis(500) => return true,
            _ => {}
        }
        if proc.try_wait().is_some() || start.elapsed() > timeout {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Whether process `pid` owns a TCP socket in LISTEN state on `port`;
/// `None` if /proc cannot tell.
fn listening_in_proc(pid: u32, port: u16) -> Option<bool> {
    let inodes: HashSet<String> = fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .filter_map(|entry| fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    let mut found_table = false;
    for table in ["tcp", "tcp6"] {
        let Ok(text) = fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        found_table = true;
        for line in text.lines().skip(1) {
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 10 {
                continue;
            }
            let local_port = fields[1]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) && fields[3] == "0A" && inodes.contains(fields[9]) {
                return Some(true);
            }
        }
    }
    found_table.then_some(false)
}

/// Options for [`SClient::spawn`].
#[derive(Debug, Clone)]
pub struct SClientOpts {
    /// Host to connect to; default "127.0.0.1" (IPv6 literals are bracketed).
    pub host: String,
    /// Port on `host`.
    pub port: u16,
    /// `-servername`; `None` gives `-noservername` (no SNI).
    pub servername: Option<String>,
    /// `-CAfile <file> -verify_return_error`: abort on verification failure.
    pub cafile: Option<PathBuf>,
    /// Client certificate chain and key (`-cert`, `-key`).
    pub client_identity: Option<IdentityFiles>,
    /// Pin the protocol version (`-tls1_2` / `-tls1_3`); `None` allows both.
    pub tls: Option<TlsVer>,
    /// `-alpn` protocol list (comma-separated).
    pub alpn: Option<String>,
    /// `-quiet` (implies `-ign_eof`). Default true. Without it s_client
    /// prints session details to stdout and closes the connection at stdin
    /// EOF.
    pub quiet: bool,
    /// Allow interactive command letters (Q, R, k, K at the start of a
    /// line) when not quiet; otherwise `-nocommands` is passed. Default false.
    pub commands: bool,
    /// Appended verbatim.
    pub extra_args: Vec<String>,
}

impl SClientOpts {
    /// Quiet, no SNI, no verification, to 127.0.0.1:`port`.
    pub fn new(port: u16) -> Self {
        SClientOpts {
            host: "127.0.0.1".into(),
            port,
            servername: None,
            cafile: None,
            client_identity: None,
            tls: None,
            alpn: None,
            quiet: true,
            commands: false,
            extra_args: Vec::new(),
        }
    }
}

/// A running `openssl s_client`.
pub struct SClient {
    proc: ChildProc,
}

impl SClient {
    /// Start `s_client` (it connects immediately; no readiness wait).
    pub fn spawn(opts: SClientOpts) -> SClient {
        let target = if opts.host.contains(':') {
            format!("[{}]:{}", opts.host, opts.port)
        } else {
            format!("{}:{}", opts.host, opts.port)
        };
        let mut cmd = Command::new("openssl");
        cmd.arg("s_client").arg("-connect").arg(target);
        match &opts.servername {
            Some(name) => cmd.arg("-servername").arg(name),
            None => cmd.arg("-noservername"),
        };
        if let Some(ca) = &opts.cafile {
            cmd.arg("-CAfile").arg(ca).arg("-verify_return_error");
        }
        if let Some(id) = &opts.client_identity {
            cmd.arg("-cert").arg(&id.cert).arg("-key").arg(&id.key);
        }
        if let Some(tls) = opts.tls {
            cmd.arg(tls.flag());
        }
        if let Some(alpn) = &opts.alpn {
            cmd.arg("-alpn").arg(alpn);
        }
        if opts.quiet {
            cmd.arg("-quiet");
        } else if !opts.commands {
            cmd.arg("-nocommands");
        }
        cmd.args(&opts.extra_args);
        SClient {
            proc: ChildProc::spawn(cmd),
        }
    }
}

macro_rules! deref_proc {
    ($t:ty) => {
        impl Deref for $t {
            type Target = ChildProc;
            fn deref(&self) -> &ChildProc {
                &self.proc
            }
        }
        impl DerefMut for $t {
            fn deref_mut(&mut self) -> &mut ChildProc {
                &mut self.proc
            }
        }
    };
}
deref_proc!(SServer);
deref_proc!(SClient);
