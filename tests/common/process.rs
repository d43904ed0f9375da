//! Child processes for the interop tests: [`ChildProc`] runs a peer program with piped
//! stdio, [`Collector`] gathers what it prints, and a few `/proc` readers tell when a child
//! listens ([`wait_listening`]) or has read everything it was sent ([`wait_rx_drained`]).
//!
//! Every wait is bounded, and the child is killed and reaped on drop.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

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
    /// Starts `cmd` with piped stdin, stdout and stderr (panics if it cannot run).
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

    /// Writes `data` to the child's stdin from a detached thread, through a duplicate of
    /// the pipe (a big payload fills the 64 KiB pipe while the child waits for the
    /// network). The thread cannot hang: once the child is killed (at the latest when this
    /// wrapper is dropped) the write fails with EPIPE. The receiver gets the outcome. The
    /// child's own stdin stays open.
    pub fn feed_stdin(
        &mut self,
        data: impl AsRef<[u8]> + Send + 'static,
    ) -> mpsc::Receiver<io::Result<()>> {
        self.feed_stdin_after(data, || true)
    }

    /// Like [`feed_stdin`](Self::feed_stdin), but the thread first waits for `ready` (a
    /// bounded wait, e.g. for something on the child's stdout); if it returns false,
    /// nothing is written and the outcome is an error.
    pub fn feed_stdin_after(
        &mut self,
        data: impl AsRef<[u8]> + Send + 'static,
        ready: impl FnOnce() -> bool + Send + 'static,
    ) -> mpsc::Receiver<io::Result<()>> {
        let fd = self
            .stdin()
            .as_fd()
            .try_clone_to_owned()
            .expect("dup the child's stdin");
        let mut pipe = std::fs::File::from(fd);
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let result = if ready() {
                pipe.write_all(data.as_ref()).and_then(|()| pipe.flush())
            } else {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "not ready to be fed",
                ))
            };
            let _ = tx.send(result);
        });
        rx
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

    /// All of stdout, for a child that has exited or was killed: waits (bounded) until the
    /// pipe's end was read, so that nothing the child printed last is missing.
    pub fn stdout_all(&self) -> Vec<u8> {
        let (data, _) = self
            .stdout
            .wait_until(Duration::from_secs(10), |_, eof| eof);
        data
    }

    /// All of stderr, for a child that has exited or was killed (see
    /// [`stdout_all`](Self::stdout_all)), lossily decoded.
    pub fn stderr_all(&self) -> String {
        let (data, _) = self
            .stderr
            .wait_until(Duration::from_secs(10), |_, eof| eof);
        String::from_utf8_lossy(&data).into_owned()
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

/// Wait until the child listens on `port`: "ACCEPT" on stdout (not printed
/// with `-quiet`), or a listening socket of the child in /proc. False if
/// the child exits or the timeout passes first.
pub fn wait_listening(proc: &mut ChildProc, port: u16, timeout: Duration) -> bool {
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

/// One TCP connection of this network namespace, from `/proc/net/tcp{,6}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRow {
    /// Local port.
    pub local_port: u16,
    /// Remote port.
    pub remote_port: u16,
    /// Connection state (`01` established, `0A` listening, ...), as in the file.
    pub state: String,
    /// Bytes in the send queue (sent but not acknowledged).
    pub tx_queue: u64,
    /// Bytes in the receive queue (received but not read by the application).
    pub rx_queue: u64,
}

/// All TCP connections visible in `/proc/net/tcp` and `/proc/net/tcp6`.
pub fn tcp_table() -> Vec<TcpRow> {
    let mut rows = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            // sl local_address rem_address st tx_queue:rx_queue ...
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 5 {
                continue;
            }
            let port = |addr: &str| {
                addr.rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
            };
            let Some((tx, rx)) = fields[4].split_once(':') else {
                continue;
            };
            let (Some(local_port), Some(remote_port)) = (port(fields[1]), port(fields[2])) else {
                continue;
            };
            rows.push(TcpRow {
                local_port,
                remote_port,
                state: fields[3].to_owned(),
                tx_queue: u64::from_str_radix(tx, 16).unwrap_or(u64::MAX),
                rx_queue: u64::from_str_radix(rx, 16).unwrap_or(u64::MAX),
            });
        }
    }
    rows
}

/// Waits until the loopback connection between `our_port` (our end) and `peer_port` (the
/// peer's end) is idle: the peer's receive queue is empty (it read everything we sent) and
/// our send queue is empty (everything left). A peer killed in that state closes its
/// socket with a FIN; with unread data the kernel would send a RST instead. False on
/// timeout or if the connection is not in the table.
pub fn wait_rx_drained(our_port: u16, peer_port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let rows = tcp_table();
        let peer_end = rows
            .iter()
            .find(|r| r.local_port == peer_port && r.remote_port == our_port);
        let our_end = rows
            .iter()
            .find(|r| r.local_port == our_port && r.remote_port == peer_port);
        if let (Some(p), Some(o)) = (peer_end, our_end) {
            if p.rx_queue == 0 && o.tx_queue == 0 {
                return true;
            }
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until the peer's end of the loopback connection between `our_port` and
/// `peer_port` is closed by its program: no such socket any more, or one past `close()`
/// (LAST_ACK, CLOSING, TIME_WAIT, CLOSE). Tells when a peer that prints nothing on a clean
/// close has handled the end of the connection. False on timeout.
pub fn wait_peer_closed(our_port: u16, peer_port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let open = tcp_table().into_iter().any(|r| {
            r.local_port == peer_port
                && r.remote_port == our_port
                && matches!(r.state.as_str(), "01" | "08" | "04" | "05")
        });
        if !open {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
}
