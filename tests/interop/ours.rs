//! Our end of a matrix cell: one [`SslFile`] over a TCP socket, driven in one of the three
//! modes, through the same steps whatever the mode: handshake, exchange (send while
//! receiving), then one way of ending the connection.
//!
//! * **blocking**: `set_blocking()`; a reader thread and the calling thread share the file
//!   (`Read`/`Write` for `&SslFile`), so neither direction can stall the other.
//! * **nonblocking**: one thread pumps `read`/`write`, and waits for the socket's readiness
//!   (`Stream::wait`) only when neither made progress.
//! * **callback**: read, write, close and accept callbacks on a [`Backend`] run by its own
//!   thread; the test thread only waits for what they report.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use sslfile::{Backend, Callbacks, Context, Error, File, Interest, OpenState, SslFile, Stream};

use super::cells::{Mode, Role};
use super::http;

/// Bound for a whole exchange (16 MiB each way in a debug build on a loaded machine).
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(300);
/// Bound for each blocking operation and each wait for an event.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);
/// How much is written per call.
const CHUNK: usize = 64 * 1024;
/// How long one readiness wait of the nonblocking pump lasts before it tries again.
const POLL_SLICE: Duration = Duration::from_millis(50);

/// When our side has received everything the peer sends in the exchange.
#[derive(Debug, Clone, Copy)]
pub enum Until {
    /// This many bytes.
    Len(usize),
    /// A complete HTTP/1.1 request: headers and a `Content-Length` body.
    HttpRequest,
}

impl Until {
    fn done(self, got: &[u8]) -> bool {
        match self {
            Until::Len(n) => got.len() >= n,
            Until::HttpRequest => http::request_len(got).is_some_and(|n| got.len() >= n),
        }
    }
}

/// How a connection failed, as our side saw it.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: io::ErrorKind,
    pub message: String,
}

impl Failure {
    fn from_error(err: &Error) -> Failure {
        Failure {
            kind: err.kind(),
            message: err.to_string(),
        }
    }

    fn from_io(err: &io::Error) -> Failure {
        Failure {
            kind: err.kind(),
            message: err.to_string(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

/// Our side of one connection.
pub struct Ours {
    file: SslFile,
    mode: Mode,
    rig: Option<Rig>,
    /// The result of `connect`/`accept` (the whole handshake in blocking mode).
    started: Result<(), Error>,
    /// Plaintext that arrived while the nonblocking handshake was driven.
    early: Vec<u8>,
}

impl Ours {
    /// Wraps `sock` and starts the handshake in `mode`: a client verifying `name` (a DNS
    /// name is also sent as SNI; an IP address is not), or a server.
    pub fn start(sock: TcpStream, ctx: &Context, role: Role, name: &str, mode: Mode) -> Ours {
        let file = SslFile::new(File::try_from(sock).expect("File from TcpStream"), ctx);
        file.set_timeout(Some(STEP_TIMEOUT));
        let rig = match mode {
            Mode::Blocking => {
                file.set_blocking();
                None
            }
            Mode::Nonblocking => {
                file.set_nonblocking();
                None
            }
            Mode::Callback => Some(Rig::install(&file)),
        };
        let started = match role {
            Role::Client => file.connect(name),
            Role::Server => file.accept(),
        };
        Ours {
            file,
            mode,
            rig,
            started,
            early: Vec::new(),
        }
    }

    /// The connection, for introspection (ALPN, version, peer certificates...).
    pub fn file(&self) -> &SslFile {
        &self.file
    }

    /// Waits until the handshake has completed (or failed).
    pub fn handshake(&mut self) -> Result<(), Failure> {
        if let Err(e) = &self.started {
            return Err(Failure::from_error(e));
        }
        match self.mode {
            Mode::Blocking => Ok(()),
            Mode::Nonblocking => self.pump_handshake(),
            Mode::Callback => {
                let rig = self.rig.as_ref().expect("callback rig");
                let g = rig.wait(|s| s.handshake_done || s.closed.is_some(), STEP_TIMEOUT)?;
                match &g.closed {
                    Some(Some(failure)) if !g.handshake_done => Err(failure.clone()),
                    _ => Ok(()),
                }
            }
        }
    }

    fn pump_handshake(&mut self) -> Result<(), Failure> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        let mut buf = vec![0u8; CHUNK];
        while self.file.is_handshaking() {
            match (&self.file).read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.early.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        return Err(timed_out("nonblocking handshake"));
                    }
                    self.wait_ready(Interest::READ);
                }
                Err(e) => return Err(Failure::from_io(&e)),
            }
        }
        Ok(())
    }

    /// Sends `send` while receiving until `until` holds (after receiving, if
    /// `send_after_receiving`); returns what was received.
    pub fn exchange(
        &mut self,
        send: Arc<Vec<u8>>,
        until: Until,
        send_after_receiving: bool,
    ) -> Result<Vec<u8>, String> {
        match self.mode {
            Mode::Blocking => self.exchange_blocking(&send, until, send_after_receiving),
            Mode::Nonblocking => self.exchange_nonblocking(&send, until, send_after_receiving),
            Mode::Callback => {
                let rig = self.rig.as_ref().expect("callback rig");
                rig.exchange(&self.file, send, until, send_after_receiving)
            }
        }
    }

    fn exchange_blocking(
        &mut self,
        send: &[u8],
        until: Until,
        send_after: bool,
    ) -> Result<Vec<u8>, String> {
        let file = &self.file;
        let early = std::mem::take(&mut self.early);
        thread::scope(|s| {
            let reader = s.spawn(move || -> Result<Vec<u8>, String> {
                let mut got = early;
                let mut buf = vec![0u8; CHUNK];
                while !until.done(&got) {
                    match (&*file).read(&mut buf) {
                        Ok(0) => return Err(format!("end of stream after {} bytes", got.len())),
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                        Err(e) => return Err(format!("read after {} bytes: {e}", got.len())),
                    }
                }
                Ok(got)
            });
            let write = |file: &SslFile| {
                (&*file)
                    .write_all(send)
                    .map_err(|e| format!("blocking write of {} bytes: {e}", send.len()))
            };
            if send_after {
                let got = reader.join().expect("reader thread")?;
                write(file)?;
                Ok(got)
            } else {
                let wrote = write(file);
                let got = reader.join().expect("reader thread");
                wrote?;
                got
            }
        })
    }

    fn exchange_nonblocking(
        &mut self,
        send: &[u8],
        until: Until,
        send_after: bool,
    ) -> Result<Vec<u8>, String> {
        let deadline = Instant::now() + EXCHANGE_TIMEOUT;
        let mut got = std::mem::take(&mut self.early);
        let mut buf = vec![0u8; CHUNK];
        let mut sent = 0;
        loop {
            let received_all = until.done(&got);
            let may_send = !send_after || received_all;
            let mut progress = false;
            let mut want_write = false;
            if may_send && sent < send.len() {
                let end = (sent + CHUNK).min(send.len());
                match (&self.file).write(&send[sent..end]) {
                    Ok(0) => return Err("nonblocking write returned 0".into()),
                    Ok(n) => {
                        sent += n;
                        progress = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => want_write = true,
                    Err(e) => return Err(format!("nonblocking write after {sent} bytes: {e}")),
                }
            }
            if sent == send.len() && may_send {
                match self.file.flush() {
                    Ok(()) if received_all => return Ok(got),
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => want_write = true,
                    Err(e) => return Err(format!("flush: {e}")),
                }
            }
            if !received_all {
                match (&self.file).read(&mut buf) {
                    Ok(0) => return Err(format!("end of stream after {} bytes", got.len())),
                    Ok(n) => {
                        got.extend_from_slice(&buf[..n]);
                        progress = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => {
                        return Err(format!("nonblocking read after {} bytes: {e}", got.len()))
                    }
                }
            }
            if !progress {
                if Instant::now() > deadline {
                    return Err(format!(
                        "nonblocking exchange: sent {sent}/{}, received {} in {EXCHANGE_TIMEOUT:?}",
                        send.len(),
                        got.len()
                    ));
                }
                let interest = if want_write {
                    Interest::BOTH
                } else {
                    Interest::READ
                };
                self.wait_ready(interest);
            }
        }
    }

    /// Waits (one slice at most) until the socket is ready for `interest`.
    fn wait_ready(&self, interest: Interest) {
        let _ = self
            .file
            .stream()
            .wait(interest, Some(Instant::now() + POLL_SLICE));
    }

    /// Clean close, ours first (Pike's `close(0, 1)`): close_notify out, the peer's
    /// close_notify in; then `into_stream()` must hand back the still-open socket.
    pub fn close_clean(mut self) -> Result<(), String> {
        self.file
            .close_clean()
            .map_err(|e| format!("close_clean: {e} ({:?})", e.kind()))?;
        match self.mode {
            Mode::Blocking => {}
            Mode::Nonblocking => {
                let deadline = Instant::now() + STEP_TIMEOUT;
                while self.file.is_open() == OpenState::Closing {
                    if Instant::now() > deadline {
                        return Err("nonblocking clean close: no close_notify from the peer".into());
                    }
                    self.wait_ready(Interest::READ);
                }
            }
            Mode::Callback => {
                let rig = self.rig.take().expect("callback rig");
                let g = rig
                    .wait(|s| s.closed.is_some(), STEP_TIMEOUT)
                    .map_err(|f| format!("clean close: no close callback: {f}"))?;
                if let Some(Some(failure)) = &g.closed {
                    return Err(format!("clean close: close callback reports {failure}"));
                }
            }
        }
        let state = self.file.is_open();
        if state != OpenState::Closed {
            return Err(format!("after the clean close is_open() is {state:?}"));
        }
        let transport = self
            .file
            .into_stream()
            .map_err(|e| format!("into_stream after the clean close: {e}"))?;
        transport
            .close()
            .map_err(|e| format!("closing the socket: {e}"))
    }

    /// Our clean close against a peer that closes its socket instead of answering: the
    /// truncation must be reported, by `close_clean()` (or, in nonblocking and callback
    /// mode, when the exchange ends) and by `into_stream()`.
    pub fn close_clean_unanswered(mut self) -> Result<(), String> {
        let result = self.file.close_clean();
        let failure = match (self.mode, result) {
            (Mode::Blocking, Err(e)) => Failure::from_error(&e),
            (Mode::Blocking, Ok(())) => {
                return Err("close_clean() succeeded without an answer".into())
            }
            (_, Err(e)) => Failure::from_error(&e),
            (Mode::Nonblocking, Ok(())) => {
                let deadline = Instant::now() + STEP_TIMEOUT;
                while self.file.is_open() == OpenState::Closing {
                    if Instant::now() > deadline {
                        return Err("nonblocking clean close: no end".into());
                    }
                    self.wait_ready(Interest::READ);
                }
                match self.file.close_clean() {
                    Err(e) => Failure::from_error(&e),
                    Ok(()) => return Err("close_clean() completed without an answer".into()),
                }
            }
            (_, Ok(())) => {
                let rig = self.rig.take().expect("callback rig");
                let g = rig
                    .wait(|s| s.closed.is_some(), STEP_TIMEOUT)
                    .map_err(|f| format!("no close callback: {f}"))?;
                match g.closed.clone().flatten() {
                    Some(f) => f,
                    None => {
                        return Err(
                            "the close callback reports a clean close without an answer".into()
                        )
                    }
                }
            }
        };
        if failure.kind != io::ErrorKind::BrokenPipe {
            return Err(format!(
                "expected BrokenPipe from the unanswered clean close, got {failure}"
            ));
        }
        match self.file.into_stream() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => Err(format!(
                "into_stream after the unanswered clean close: {e} ({:?})",
                e.kind()
            )),
            Ok(_) => Err("into_stream gave the socket back after an unanswered clean close".into()),
        }
    }

    /// Our normal close: `close()` (close_notify out, socket closed without waiting).
    pub fn close_normal(self) -> Result<(), String> {
        self.file.close().map_err(|e| format!("close: {e}"))?;
        let state = self.file.is_open();
        if state != OpenState::Closed {
            return Err(format!("after close() is_open() is {state:?}"));
        }
        Ok(())
    }

    /// The peer ended the connection: our side must see a clean end of stream (`read` gives
    /// `Ok(0)`, again and again; the close callback gets no error); then we `close()`.
    pub fn expect_clean_end(self) -> Result<(), String> {
        match self.wait_end()? {
            None => {}
            Some(f) => return Err(format!("expected a clean end of stream, got {f}")),
        }
        if self.mode != Mode::Callback {
            let again = (&self.file).read(&mut [0u8; 16]);
            if !matches!(again, Ok(0)) {
                return Err(format!("end of stream is not sticky: {again:?}"));
            }
        }
        let write = (&self.file).write(b"late");
        match write {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
            other => return Err(format!("write after the peer's close_notify: {other:?}")),
        }
        self.close_normal()
    }

    /// The peer vanished without close_notify: our side must report truncation,
    /// `BrokenPipe` (EPIPE), for reads and writes alike.
    pub fn expect_truncation(self) -> Result<(), String> {
        match self.wait_end()? {
            Some(f) if f.kind == io::ErrorKind::BrokenPipe => {}
            Some(f) => return Err(format!("expected BrokenPipe, got {f}")),
            None => return Err("expected BrokenPipe, got a clean end of stream".into()),
        }
        let write = (&self.file).write(b"late");
        match write {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
            other => return Err(format!("write after truncation: {other:?}")),
        }
        self.close_normal()
    }

    /// The connection's first failure, which must come before any data or clean end (a
    /// TLS 1.3 client learns of its refusal with its first read).
    pub fn first_failure(&self) -> Result<Failure, String> {
        match self.wait_end()? {
            Some(f) => Ok(f),
            None => Err("a clean end of stream instead of the expected refusal".into()),
        }
    }

    /// Reads until the connection ends; `None` for a clean end, else how it failed.
    fn wait_end(&self) -> Result<Option<Failure>, String> {
        if !self.early.is_empty() {
            return Err(format!("{} unexpected bytes", self.early.len()));
        }
        let mut buf = vec![0u8; CHUNK];
        match self.mode {
            Mode::Blocking => match (&self.file).read(&mut buf) {
                Ok(0) => Ok(None),
                Ok(n) => Err(format!("{n} unexpected bytes before the end")),
                Err(e) => Ok(Some(Failure::from_io(&e))),
            },
            Mode::Nonblocking => {
                let deadline = Instant::now() + STEP_TIMEOUT;
                loop {
                    match (&self.file).read(&mut buf) {
                        Ok(0) => return Ok(None),
                        Ok(n) => return Err(format!("{n} unexpected bytes before the end")),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            if Instant::now() > deadline {
                                return Err("nonblocking read: the end did not come".into());
                            }
                            self.wait_ready(Interest::READ);
                        }
                        Err(e) => return Ok(Some(Failure::from_io(&e))),
                    }
                }
            }
            Mode::Callback => {
                let rig = self.rig.as_ref().expect("callback rig");
                let g = rig
                    .wait(|s| s.closed.is_some(), STEP_TIMEOUT)
                    .map_err(|f| format!("no close callback: {f}"))?;
                if g.extra > 0 {
                    return Err(format!("{} unexpected bytes before the end", g.extra));
                }
                Ok(g.closed.clone().flatten())
            }
        }
    }
}

fn timed_out(what: &str) -> Failure {
    Failure {
        kind: io::ErrorKind::TimedOut,
        message: format!("{what}: no result within {STEP_TIMEOUT:?}"),
    }
}

// ----- callback mode ---------------------------------------------------------------------

/// What the callbacks saw.
#[derive(Default)]
struct Seen {
    handshake_done: bool,
    /// The close callback ran: `None` for a clean close, else the error.
    closed: Option<Option<Failure>>,
    /// Received plaintext, while an exchange runs.
    received: Vec<u8>,
    /// Bytes received after the exchange completed.
    extra: usize,
    exchange: Option<Exchange>,
    error: Option<String>,
}

struct Exchange {
    send: Arc<Vec<u8>>,
    sent: usize,
    until: Until,
    send_after: bool,
    writing: bool,
    complete: bool,
}

type SeenCell = Arc<(Mutex<Seen>, Condvar)>;

/// A backend running in its own thread, and the callbacks installed on our file.
///
/// The thread runs `run_once` rounds until `done` is set, rather than `Backend::run()`:
/// `run()` clears the stop flag when it starts, so a `stop()` that comes before the
/// thread got there would be lost and the join would hang.
struct Rig {
    backend: Backend,
    done: Arc<AtomicBool>,
    runner: Option<thread::JoinHandle<()>>,
    seen: SeenCell,
}

impl Rig {
    fn install(file: &SslFile) -> Rig {
        let backend = Backend::new().expect("backend");
        file.set_backend(&backend);
        let seen: SeenCell = Arc::default();
        let (on_read, on_close, on_accept) = (seen.clone(), seen.clone(), seen.clone());
        file.set_callbacks(Callbacks {
            read: Some(Arc::new(move |f: &SslFile, data: &[u8]| {
                let start_writing = {
                    let mut g = lock(&on_read);
                    let Seen {
                        exchange,
                        received,
                        extra,
                        ..
                    } = &mut *g;
                    match exchange {
                        Some(x) if !x.complete => {
                            received.extend_from_slice(data);
                            let start = x.send_after && !x.writing && x.until.done(received);
                            if start {
                                x.writing = true;
                            }
                            check_complete(x, received);
                            start
                        }
                        // Before the exchange starts (nothing is sent before we send), or
                        // after it ended: keep it, to be reported.
                        Some(_) => {
                            *extra += data.len();
                            false
                        }
                        None => {
                            received.extend_from_slice(data);
                            false
                        }
                    }
                };
                if start_writing {
                    install_writer(f, on_read.clone());
                }
                on_read.1.notify_all();
            })),
            close: Some(Arc::new(move |_f: &SslFile, err: Option<io::Error>| {
                lock(&on_close).closed = Some(err.as_ref().map(Failure::from_io));
                on_close.1.notify_all();
            })),
            accept: Some(Arc::new(move |_f: &SslFile| {
                lock(&on_accept).handshake_done = true;
                on_accept.1.notify_all();
            })),
            ..Default::default()
        });
        let done = Arc::new(AtomicBool::new(false));
        let runner = {
            let (backend, done) = (backend.clone(), done.clone());
            thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    backend.run_once(None).expect("backend round");
                }
            })
        };
        Rig {
            backend,
            done,
            runner: Some(runner),
            seen,
        }
    }

    fn exchange(
        &self,
        file: &SslFile,
        send: Arc<Vec<u8>>,
        until: Until,
        send_after: bool,
    ) -> Result<Vec<u8>, String> {
        let write_now = {
            let mut g = lock(&self.seen);
            let early = std::mem::take(&mut g.received);
            let mut x = Exchange {
                send,
                sent: 0,
                until,
                send_after,
                writing: !send_after || until.done(&early),
                complete: false,
            };
            check_complete(&mut x, &early);
            g.received = early;
            let writing = x.writing && !x.complete;
            g.exchange = Some(x);
            writing
        };
        if write_now {
            install_writer(file, self.seen.clone());
        }
        let mut g = self
            .wait(
                |s| {
                    s.exchange.as_ref().is_some_and(|x| x.complete)
                        || s.closed.is_some()
                        || s.error.is_some()
                },
                EXCHANGE_TIMEOUT,
            )
            .map_err(|f| f.to_string())?;
        if let Some(e) = &g.error {
            return Err(e.clone());
        }
        let x = g.exchange.as_ref().expect("exchange");
        if !x.complete {
            return Err(format!(
                "the connection ended during the exchange ({:?}): sent {}/{}, received {}",
                g.closed,
                x.sent,
                x.send.len(),
                g.received.len()
            ));
        }
        Ok(std::mem::take(&mut g.received))
    }

    /// Waits until `done` holds for what the callbacks saw.
    fn wait(
        &self,
        mut done: impl FnMut(&Seen) -> bool,
        timeout: Duration,
    ) -> Result<MutexGuard<'_, Seen>, Failure> {
        let deadline = Instant::now() + timeout;
        let (_, cond) = &*self.seen;
        let mut g = lock(&self.seen);
        while !done(&g) {
            let now = Instant::now();
            if now >= deadline {
                return Err(timed_out("callback mode: waiting for the callbacks"));
            }
            g = cond.wait_timeout(g, deadline - now).unwrap().0;
        }
        Ok(g)
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        self.backend.wake();
        if let Some(runner) = self.runner.take() {
            let _ = runner.join();
        }
    }
}

fn lock(seen: &SeenCell) -> MutexGuard<'_, Seen> {
    seen.0.lock().unwrap_or_else(|e| e.into_inner())
}

fn check_complete(x: &mut Exchange, received: &[u8]) {
    x.complete = x.sent == x.send.len() && x.until.done(received);
}

/// Installs the write callback that sends the exchange's data, chunk by chunk, and removes
/// itself when all was written.
fn install_writer(file: &SslFile, seen: SeenCell) {
    file.set_write_callback(Some(Arc::new(move |f: &SslFile| {
        let (send, sent) = {
            let g = lock(&seen);
            match &g.exchange {
                Some(x) => (x.send.clone(), x.sent),
                None => return,
            }
        };
        let result = if sent < send.len() {
            let end = (sent + CHUNK).min(send.len());
            (&*f).write(&send[sent..end])
        } else {
            Ok(0)
        };
        let finished = {
            let mut g = lock(&seen);
            let Seen {
                exchange,
                received,
                error,
                ..
            } = &mut *g;
            let x = exchange.as_mut().expect("exchange");
            match result {
                Ok(n) => x.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => *error = Some(format!("write callback after {} bytes: {e}", x.sent)),
            }
            check_complete(x, received);
            x.sent == x.send.len() || error.is_some()
        };
        if finished {
            f.set_write_callback(None);
        }
        seen.1.notify_all();
    })));
}
