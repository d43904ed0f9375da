//! Our end of a matrix cell: one [`SslFile`] over a TCP socket, driven in one of the three
//! modes, through the same steps whatever the mode: handshake, exchange (send while
//! receiving), then one way of ending the connection.
//!
//! * **blocking**: `set_blocking()`; a reader thread and the calling thread share the file
//!   (`Read`/`Write` for `&SslFile`), so neither direction can stall the other.
//! * **nonblocking**: one thread pumps `read`/`write`, and waits for the socket's readiness
//!   (`Stream::wait`) only when neither made progress.
//! * **callback**: read, write, close and accept callbacks on a backend run by its own
//!   thread; the test thread only waits for what they report (`callback_rig`).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use sslfile::tokio::TlsStream;
use sslfile::{Context, Error, File, Interest, OpenState, SslFile, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::callback_rig::Rig;
use super::cells::{Mode, Role};
use super::http;

/// Bound for a whole exchange (16 MiB each way in a debug build on a loaded machine).
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(300);
/// Bound for each blocking operation and each wait for an event.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);
/// How much is written per call.
pub const CHUNK: usize = 64 * 1024;
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
    pub fn done(self, got: &[u8]) -> bool {
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
    pub fn from_error(err: &Error) -> Failure {
        Failure {
            kind: err.kind(),
            message: err.to_string(),
        }
    }

    pub fn from_io(err: &io::Error) -> Failure {
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
    /// The connection (taken by a tokio stream while an async operation runs).
    file: Option<SslFile>,
    mode: Mode,
    /// Async mode's runtime.
    runtime: Option<tokio::runtime::Runtime>,
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
            Mode::Async => {
                file.set_nonblocking(); // started here, driven by tokio from then on
                None
            }
        };
        let runtime = (mode == Mode::Async).then(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime")
        });
        let started = match role {
            Role::Client => file.connect(name),
            Role::Server => file.accept(),
        };
        Ours {
            file: Some(file),
            mode,
            runtime,
            rig,
            started,
            early: Vec::new(),
        }
    }

    /// The connection, for introspection (ALPN, version, peer certificates...).
    pub fn file(&self) -> &SslFile {
        self.f()
    }

    fn f(&self) -> &SslFile {
        self.file
            .as_ref()
            .expect("the file is back after each async operation")
    }

    fn take_file(&mut self) -> SslFile {
        self.file.take().expect("the file")
    }

    /// Async mode: runs `op` on the file as a tokio stream, then takes the file back (so
    /// every operation also switches the file into tokio and out again).
    fn run_async<T, Fut>(&mut self, op: impl FnOnce(TlsStream) -> Fut) -> T
    where
        Fut: std::future::Future<Output = (TlsStream, T)>,
    {
        let file = self.take_file();
        let runtime = self.runtime.as_ref().expect("async mode's runtime");
        let (tls, out) = runtime.block_on(async {
            let tls = TlsStream::from_ssl_file(file).expect("a tokio stream");
            op(tls).await
        });
        self.file = Some(tls.into_ssl_file().expect("no half left"));
        out
    }

    /// Waits until the handshake has completed (or failed).
    pub fn handshake(&mut self) -> Result<(), Failure> {
        if let Err(e) = &self.started {
            return Err(Failure::from_error(e));
        }
        match self.mode {
            Mode::Blocking => Ok(()),
            Mode::Nonblocking => self.pump_handshake(),
            Mode::Async => self.run_async(|tls| async move {
                let done = tokio::time::timeout(STEP_TIMEOUT, tls.handshake()).await;
                let result = match done {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(Failure::from_error(&e)),
                    Err(_) => Err(timed_out("async handshake")),
                };
                (tls, result)
            }),
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
        while self.f().is_handshaking() {
            match self.f().read(&mut buf) {
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
            Mode::Async => self.exchange_async(send, until, send_after_receiving),
            Mode::Callback => {
                let rig = self.rig.as_ref().expect("callback rig");
                rig.exchange(self.f(), send, until, send_after_receiving)
            }
        }
    }

    /// Async mode: the split halves of a tokio stream, reading and writing at once.
    fn exchange_async(
        &mut self,
        send: Arc<Vec<u8>>,
        until: Until,
        send_after: bool,
    ) -> Result<Vec<u8>, String> {
        let early = std::mem::take(&mut self.early);
        self.run_async(move |tls| async move {
            let (mut read, mut write) = tls.split();
            let reading = async {
                let mut got = early;
                let mut buf = vec![0u8; CHUNK];
                while !until.done(&got) {
                    match read.read(&mut buf).await {
                        Ok(0) => return Err(format!("end of stream after {} bytes", got.len())),
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                        Err(e) => return Err(format!("async read after {} bytes: {e}", got.len())),
                    }
                }
                Ok(got)
            };
            let writing = async {
                write.write_all(&send).await?;
                write.flush().await
            };
            let both = async {
                if send_after {
                    let got = reading.await?;
                    writing.await.map_err(|e| format!("async write: {e}"))?;
                    Ok(got)
                } else {
                    let (wrote, got) = tokio::join!(writing, reading);
                    wrote.map_err(|e| format!("async write of {} bytes: {e}", send.len()))?;
                    got
                }
            };
            let result = tokio::time::timeout(EXCHANGE_TIMEOUT, both)
                .await
                .unwrap_or_else(|_| Err(format!("async exchange: no end in {EXCHANGE_TIMEOUT:?}")));
            (read.unsplit(write), result)
        })
    }

    /// Async mode's clean close: `shutdown()` (our close_notify), then reading to the
    /// peer's; what the peer sent instead is the error.
    fn shutdown_async(&mut self) -> Result<(), Failure> {
        self.run_async(|mut tls| async move {
            let result = tokio::time::timeout(STEP_TIMEOUT, async {
                tls.shutdown().await?;
                let mut rest = Vec::new();
                tls.read_to_end(&mut rest).await?;
                Ok::<_, io::Error>(rest.len())
            })
            .await;
            let result = match result {
                Ok(Ok(0)) => Ok(()),
                Ok(Ok(n)) => Err(Failure {
                    kind: io::ErrorKind::InvalidData,
                    message: format!("{n} unexpected bytes before the peer's close_notify"),
                }),
                Ok(Err(e)) => Err(Failure::from_io(&e)),
                Err(_) => Err(timed_out("async shutdown")),
            };
            (tls, result)
        })
    }

    fn exchange_blocking(
        &mut self,
        send: &[u8],
        until: Until,
        send_after: bool,
    ) -> Result<Vec<u8>, String> {
        let early = std::mem::take(&mut self.early);
        let file = self.f();
        // Bounded as a whole, as in the other modes: a peer may fall silent for a long
        // while, e.g. gnutls-cli printing 16 MiB one byte per write(2) on a loaded machine
        // before it reads its stdin again.
        file.set_timeout(Some(EXCHANGE_TIMEOUT));
        let result = thread::scope(|s| {
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
        });
        file.set_timeout(Some(STEP_TIMEOUT));
        result
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
                match self.f().write(&send[sent..end]) {
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
                match self.f().flush() {
                    Ok(()) if received_all => return Ok(got),
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => want_write = true,
                    Err(e) => return Err(format!("flush: {e}")),
                }
            }
            if !received_all {
                match self.f().read(&mut buf) {
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
            .f()
            .stream()
            .unwrap()
            .wait(interest, Some(Instant::now() + POLL_SLICE));
    }

    /// Clean close, ours first (Pike's `close(0, 1)`): close_notify out, the peer's
    /// close_notify in; then `into_stream()` must hand back the still-open socket.
    pub fn close_clean(mut self) -> Result<(), String> {
        if self.mode == Mode::Async {
            self.shutdown_async()
                .map_err(|f| format!("async clean close: {f}"))?;
        } else {
            self.f()
                .close_clean()
                .map_err(|e| format!("close_clean: {e} ({:?})", e.kind()))?;
        }
        match self.mode {
            Mode::Blocking | Mode::Async => {}
            Mode::Nonblocking => {
                let deadline = Instant::now() + STEP_TIMEOUT;
                while self.f().is_open() == OpenState::Closing {
                    if Instant::now() > deadline {
                        return Err("nonblocking clean close: no close_notify from the peer".into());
                    }
                    let _ = self.f().close_clean(); // drives it on
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
        let state = self.f().is_open();
        if state != OpenState::Closed {
            return Err(format!("after the clean close is_open() is {state:?}"));
        }
        let transport = self
            .take_file()
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
        if self.mode == Mode::Async {
            // `shutdown` keeps the connection (no `into_stream` rule applies): the
            // truncation is the error of the read that waits for the peer's close_notify.
            return match self.shutdown_async() {
                Err(f) if f.kind == io::ErrorKind::BrokenPipe => Ok(()),
                Err(f) => Err(format!(
                    "expected BrokenPipe from the unanswered shutdown, got {f}"
                )),
                Ok(()) => Err("the unanswered shutdown ended cleanly".into()),
            };
        }
        let result = self.f().close_clean();
        let failure = match (self.mode, result) {
            (Mode::Blocking, Err(e)) => Failure::from_error(&e),
            (Mode::Blocking, Ok(())) => {
                return Err("close_clean() succeeded without an answer".into())
            }
            (_, Err(e)) => Failure::from_error(&e),
            (Mode::Nonblocking, Ok(())) => {
                let deadline = Instant::now() + STEP_TIMEOUT;
                while self.f().is_open() == OpenState::Closing {
                    if Instant::now() > deadline {
                        return Err("nonblocking clean close: no end".into());
                    }
                    let _ = self.f().close_clean(); // drives it on
                    self.wait_ready(Interest::READ);
                }
                match self.f().close_clean() {
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
        match self.take_file().into_stream() {
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
        self.f().close().map_err(|e| format!("close: {e}"))?;
        let state = self.f().is_open();
        if state != OpenState::Closed {
            return Err(format!("after close() is_open() is {state:?}"));
        }
        Ok(())
    }

    /// The peer ended the connection: our side must see a clean end of stream (`read` gives
    /// `Ok(0)`, again and again; the close callback gets no error); then we `close()`.
    pub fn expect_clean_end(mut self) -> Result<(), String> {
        match self.wait_end()? {
            None => {}
            Some(f) => return Err(format!("expected a clean end of stream, got {f}")),
        }
        if self.mode != Mode::Callback {
            let again = self.f().read(&mut [0u8; 16]);
            if !matches!(again, Ok(0)) {
                return Err(format!("end of stream is not sticky: {again:?}"));
            }
        }
        if self.f().protocol_version() == Some(sslfile::TlsVersion::Tls1_3) {
            // The peer's close_notify closed its direction only: ours stays open until
            // we close it (nothing more is written: peers count every byte).
            let state = self.f().is_open();
            if state != OpenState::Open {
                return Err(format!(
                    "after the peer's TLS 1.3 close_notify is_open() is {state:?}"
                ));
            }
        } else {
            let write = self.f().write(b"late");
            match write {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                other => return Err(format!("write after the peer's close_notify: {other:?}")),
            }
        }
        self.close_normal()
    }

    /// The peer vanished without close_notify: our side must report truncation,
    /// `BrokenPipe` (EPIPE), for reads and writes alike.
    pub fn expect_truncation(mut self) -> Result<(), String> {
        match self.wait_end()? {
            Some(f) if f.kind == io::ErrorKind::BrokenPipe => {}
            Some(f) => return Err(format!("expected BrokenPipe, got {f}")),
            None => return Err("expected BrokenPipe, got a clean end of stream".into()),
        }
        let write = self.f().write(b"late");
        match write {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
            other => return Err(format!("write after truncation: {other:?}")),
        }
        self.close_normal()
    }

    /// The connection's first failure, which must come before any data or clean end (a
    /// TLS 1.3 client learns of its refusal with its first read).
    pub fn first_failure(&mut self) -> Result<Failure, String> {
        match self.wait_end()? {
            Some(f) => Ok(f),
            None => Err("a clean end of stream instead of the expected refusal".into()),
        }
    }

    /// Reads until the connection ends; `None` for a clean end, else how it failed.
    fn wait_end(&mut self) -> Result<Option<Failure>, String> {
        if !self.early.is_empty() {
            return Err(format!("{} unexpected bytes", self.early.len()));
        }
        let mut buf = vec![0u8; CHUNK];
        match self.mode {
            Mode::Async => self.run_async(|mut tls| async move {
                let read = tokio::time::timeout(STEP_TIMEOUT, tls.read(&mut buf)).await;
                let result = match read {
                    Ok(Ok(0)) => Ok(None),
                    Ok(Ok(n)) => Err(format!("{n} unexpected bytes before the end")),
                    Ok(Err(e)) => Ok(Some(Failure::from_io(&e))),
                    Err(_) => Err("async read: the end did not come".into()),
                };
                (tls, result)
            }),
            Mode::Blocking => match self.f().read(&mut buf) {
                Ok(0) => Ok(None),
                Ok(n) => Err(format!("{n} unexpected bytes before the end")),
                Err(e) => Ok(Some(Failure::from_io(&e))),
            },
            Mode::Nonblocking => {
                let deadline = Instant::now() + STEP_TIMEOUT;
                loop {
                    match self.f().read(&mut buf) {
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

pub fn timed_out(what: &str) -> Failure {
    Failure {
        kind: io::ErrorKind::TimedOut,
        message: format!("{what}: no result within {STEP_TIMEOUT:?}"),
    }
}
