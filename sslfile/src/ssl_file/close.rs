//! Ending a connection: `close`, `close_clean`, `shutdown`, `into_stream`, drop.

use std::io;
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::closing::{peer_has_our_output, Closer, Closing, Stage};
use super::driver::{engine_interest, Shared, State};
use super::lifecycle::Lifecycle;
use super::SslFile;
use crate::error::Error;
use crate::stream::{Stream, Watchable};

/// The answer of [`SslFile::is_open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenState {
    /// The connection is usable (or its handshake is still running).
    Open,
    /// A clean close (`close_clean` or `shutdown(Write)`) waits for the peer's close_notify.
    Closing,
    /// The connection is over: closed locally, closed by the peer, or failed.
    Closed,
}

impl<S: Stream + 'static> SslFile<S> {
    /// Closes the connection: queues close_notify behind all pending data, delivers it, and
    /// closes the transport once the peer has it (a lingering close, see below).
    ///
    /// Blocking mode waits until everything was sent (bounded by the timeout) and the peer
    /// acknowledged it; nonblocking mode returns at once and finishes on the file's backend
    /// (the default backend if it has none). Either way the last part, reading what the
    /// peer still sends until it closes its end (at most a few seconds), happens on the
    /// backend: closing a socket with unread input makes the kernel reset the connection,
    /// which would destroy data the peer has not read yet (the TLS 1.3 session tickets of a
    /// client that never reads are such input).
    ///
    /// Closing twice is not an error. A peer that is already gone (`EPIPE`, `ECONNRESET`)
    /// does not make it fail: nothing was lost that close could have saved;
    /// [`errno`](Self::errno) records it. `linger(Some(Duration::ZERO))` closes at once with
    /// a reset instead.
    ///
    /// # Errors
    /// `TimedOut` if the timeout expired before everything was sent (the transport is
    /// closed all the same).
    pub fn close(&self) -> Result<(), Error> {
        let result = self.close_inner();
        self.shared.record(result)
    }

    fn close_inner(&self) -> Result<(), Error> {
        let mut st = self.shared.lock();
        if st.lifecycle.closed_locally() {
            return Ok(());
        }
        st.lifecycle = Lifecycle::Closed;
        let linger_zero = st.linger_zero;
        let blocking = st.blocking;
        let mut closing = Closing::new(Instant::now(), st.timeout);
        match st.engine.as_mut() {
            Some(engine) if !linger_zero => {
                if engine.error().is_none() {
                    engine.send_close_notify();
                }
                // What arrived before the close can still be read; what comes later is not
                // for anyone (the linger discards it).
                let _ = engine.hold_plaintext();
            }
            _ => {
                drop(st);
                self.shared.finish_transport();
                return Ok(());
            }
        }
        let mut outcome = Ok(());
        let mut ack_poll = Duration::ZERO;
        while let Some(want) =
            closing.round(self.shared.transport(), st.engine.as_mut(), Instant::now())
        {
            let delivered =
                closing.stage() == Stage::Linger && peer_has_our_output(self.shared.transport());
            if !blocking || delivered {
                // The rest goes on in the background.
                st.lifecycle = Lifecycle::Closing(closing);
                record_write_error(&mut st);
                drop(st);
                self.finish_close_in_background();
                return outcome;
            }
            // Lingering, the peer's acknowledgement is what we wait for, and no readiness
            // announces it: look again soon (loopback: within microseconds).
            let wait_until = match closing.stage() {
                Stage::Linger => {
                    ack_poll = (ack_poll * 2).clamp(ACK_POLL_FIRST, ACK_POLL_MAX);
                    closing.deadline().min(Instant::now() + ack_poll)
                }
                Stage::Flush => closing.deadline(),
            };
            st = match self.shared.wait(st, want, Some(wait_until)) {
                Ok(guard) => guard,
                Err(Error::TimedOut) if Instant::now() < closing.deadline() => self.shared.lock(),
                Err(e) => {
                    if matches!(e, Error::TimedOut) && closing.stage() == Stage::Flush {
                        outcome = Err(Error::TimedOut);
                    }
                    let mut st = self.shared.lock();
                    record_write_error(&mut st);
                    drop(st);
                    self.shared.finish_transport();
                    return outcome;
                }
            };
        }
        record_write_error(&mut st);
        drop(st);
        self.shared.finish_transport();
        outcome
    }

    /// Finishes a close on the file's backend (the default backend if it has none), which
    /// keeps the file alive until then; a call_out ends it at its deadline if the peer stays
    /// silent. A transport that cannot be watched gets a thread of its own instead.
    fn finish_close_in_background(&self) {
        let ticket = self.shared.backend_for_callbacks().close_ticket();
        self.shared.lock().close_ticket = Some(ticket);
        self.shared.rearm();
        if self.shared.is_watched() {
            self.shared.arm_close_timer();
            return;
        }
        let shared = Arc::clone(&self.shared);
        std::thread::spawn(move || {
            let mut st = shared.lock();
            while let Some(mut closing) = st.lifecycle.background_close() {
                let want = closing.round(shared.transport(), st.engine.as_mut(), Instant::now());
                st.lifecycle = match want {
                    Some(_) => Lifecycle::Closing(closing),
                    None => Lifecycle::Closed,
                };
                let Some(want) = want else { break };
                drop(st);
                let _ = shared.transport().wait(want, Some(closing.deadline()));
                st = shared.lock();
            }
            st.lifecycle = Lifecycle::Closed;
            let ticket = st.close_ticket.take();
            drop(st);
            shared.finish_transport();
            drop(ticket);
        });
    }

    /// Pike's `close(0, 1)`: sends close_notify and waits for the peer's, keeping the
    /// transport open for [`into_stream`](Self::into_stream).
    ///
    /// Data that arrives before the peer's close_notify can still be read. In nonblocking
    /// mode this returns at once, and each later call drives the exchange on (so do reads,
    /// and the backend in callback mode); [`is_open`](Self::is_open) reports
    /// [`OpenState::Closing`] until it is done.
    ///
    /// # Errors
    /// `Truncated` if the peer closed the transport instead of answering, `TimedOut` (the
    /// call may be repeated), or the connection's error.
    pub fn close_clean(&self) -> Result<(), Error> {
        let result = self.close_clean_inner();
        // Callback mode: what could not be sent now (close_notify) goes when writable.
        self.shared.rearm_if_watching();
        self.shared.record(result)
    }

    fn close_clean_inner(&self) -> Result<(), Error> {
        let mut st = self.shared.lock();
        match st.lifecycle {
            Lifecycle::Closing(_) | Lifecycle::Closed => return Err(Error::Closed),
            Lifecycle::CleanClosed => return Ok(()),
            Lifecycle::Open | Lifecycle::WriteShut | Lifecycle::CleanClosing => {}
        }
        let engine = st.engine()?;
        if let Some(err) = engine.error() {
            return Err(err.clone());
        }
        engine.read_exact_records();
        engine.send_close_notify();
        st.lifecycle = Lifecycle::CleanClosing;
        let blocking = st.blocking;
        let deadline = st.deadline();
        loop {
            if advance_clean_close(&self.shared, &mut st)? {
                return Ok(());
            }
            if !blocking {
                return Ok(());
            }
            let want = engine_interest(st.engine()?);
            st = self.shared.wait(st, want, deadline)?;
        }
    }

    /// Shuts down one or both directions, keeping the transport open.
    ///
    /// * `Write` (beyond Pike): sends close_notify after all pending data; reading goes on
    ///   until the peer's close_notify (`Ok(0)`). Blocking mode waits for the flush.
    /// * `Read`: later reads return `Ok(0)`; incoming data is discarded by the peer's side
    ///   of the protocol, not here (TLS has no read shutdown).
    /// * `Both`: both.
    pub fn shutdown(&self, how: Shutdown) -> Result<(), Error> {
        let result = (|| {
            let mut st = self.shared.lock();
            if st.lifecycle.closed_locally() {
                return Err(Error::Closed);
            }
            if matches!(how, Shutdown::Read | Shutdown::Both) {
                st.read_shut = true;
            }
            if matches!(how, Shutdown::Write | Shutdown::Both) && st.lifecycle.writable() {
                st.lifecycle = Lifecycle::WriteShut;
                let engine = st.engine()?;
                engine.read_exact_records();
                engine.send_close_notify();
                drop(st);
                return match self.shared.flush(None) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
                    other => other,
                };
            }
            Ok(())
        })();
        // Callback mode: a close_notify that did not fit now goes when writable.
        self.shared.rearm_if_watching();
        self.shared.record(result)
    }

    /// Ends TLS and gives the transport back.
    ///
    /// * After a completed [`close_clean`](Self::close_clean) (or once both close_notifies
    ///   were exchanged): the still-open transport, for plaintext after TLS.
    /// * On a connection that was never closed, even after a failed handshake: the raw
    ///   transport (e.g. to serve a plaintext request that arrived on a TLS port; the alert
    ///   callback has the bytes the peer sent).
    /// * After `close()`: `Err(Closed)`; after a clean close that did not complete: the
    ///   transport is closed and the error is `BrokenPipe`.
    ///
    /// Plaintext received but not read is discarded. Other handles to the file see it
    /// closed. From inside the file's own callbacks, where the file is borrowed, use
    /// [`take_stream`](Self::take_stream).
    pub fn into_stream(self) -> Result<S, Error> {
        let handshaking = self.is_handshaking();
        let (transport, received) = self.take_stream()?;
        if !handshaking && !received.is_empty() {
            // Bytes that came with the peer's close_notify: the transport reads them first.
            if let Err(e) = transport.unread(&received) {
                let _ = transport.close();
                return Err(Error::from_io(io::Error::new(
                    e.kind(),
                    format!(
                        "{} bytes that followed the peer's close_notify cannot be handed back \
                         to this transport ({e}); use take_stream, which returns them",
                        received.len()
                    ),
                )));
            }
        }
        Ok(transport)
    }

    /// Ends TLS and hands the transport over, like [`into_stream`](Self::into_stream), through
    /// a shared reference: callable from the file's own callbacks, e.g. the alert callback
    /// falling back to another protocol. With the transport come the bytes read from it that
    /// TLS did not use: while the handshake runs (or failed, say because the peer sent an HTTP
    /// request to a TLS port), everything the peer sent so far; after the peer's close_notify,
    /// the bytes that came right behind it (the rest is still in the transport).
    ///
    /// The file is closed afterwards, for every handle. Its callbacks are cleared and the
    /// transport gets back the callbacks and backend it had before TLS.
    ///
    /// # Errors
    /// As [`into_stream`](Self::into_stream); also `TimedOut` if another thread stays
    /// blocked on the file (a blocking read without timeout) for a second.
    ///
    /// # Examples
    ///
    /// Serving plain HTTP to a client that sent it to the TLS port:
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::sync::Arc;
    /// use sslfile::{Context, File, SslFile};
    ///
    /// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// let ctx = Context::builder()
    ///     .certificate_chain_pem(cert.cert.pem().as_bytes(), cert.key_pair.serialize_pem().as_bytes())?
    ///     .build()?;
    /// let (tls_side, mut plain_client) = File::pipe()?;
    /// let backend = sslfile::Backend::new()?;
    /// let server = SslFile::new(tls_side, &ctx);
    /// server.set_backend(&backend);
    /// server.set_alert_callback(Some(Arc::new(|file: &SslFile, _err: &sslfile::Error, _sent: &[u8]| {
    ///     let (mut plain, request) = file.take_stream().unwrap();
    ///     assert!(request.starts_with(b"GET / HTTP/1.1"));
    ///     plain.set_blocking();
    ///     plain.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\nuse https://").unwrap();
    ///     plain.close().unwrap();
    /// })));
    /// server.accept()?;
    /// drop(server); // the backend holds the file while its callbacks are installed
    /// plain_client.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
    /// while backend.watch_count() > 0 {
    ///     backend.run_once(Some(std::time::Duration::from_millis(100)))?;
    /// }
    /// let mut answer = String::new();
    /// plain_client.read_to_string(&mut answer)?;
    /// assert!(answer.ends_with("use https://"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn take_stream(&self) -> Result<(S, Vec<u8>), Error> {
        let result = self.take_stream_inner();
        self.shared.record(result)
    }

    fn take_stream_inner(&self) -> Result<(S, Vec<u8>), Error> {
        // The backend lets go of the file first.
        self.clear_callbacks();
        self.shared.transport().unwatch();
        let (verdict, received) = {
            let st = self.shared.lock();
            let received = match &st.engine {
                Some(engine) if engine.is_handshaking() => engine.first_bytes().to_vec(),
                Some(engine) => engine.bytes_after_close().to_vec(),
                None => Vec::new(),
            };
            (handover_verdict(&st), received)
        };
        let transport = match self.shared.transport().take(Duration::from_secs(1)) {
            Ok(Some(transport)) => transport,
            Ok(None) => return Err(Error::Closed),
            Err(e) => return Err(Error::from_io(e)),
        };
        {
            let mut st = self.shared.lock();
            st.lifecycle = Lifecycle::Closed;
            st.close_ticket = None;
        }
        self.shared.finish_transport();
        let saved = self.shared.lock_dispatch().saved_stream_callbacks.take();
        match verdict {
            Ok(()) => {
                if let (Some(saved), Some(watchable)) = (saved, transport.watchable()) {
                    watchable.unpark_callbacks(saved);
                }
                Ok((transport, received))
            }
            Err(e) => {
                let _ = transport.close();
                Err(e)
            }
        }
    }

    /// Sets `SO_LINGER` on the transport. `Some(Duration::ZERO)`: `close` does not wait for
    /// close_notify to leave and resets the connection.
    pub fn linger(&self, linger: Option<Duration>) -> Result<(), Error> {
        self.shared.lock().linger_zero = linger == Some(Duration::ZERO);
        self.shared
            .transport()
            .set_linger(linger)
            .map_err(Error::from_io)
    }

    /// Where the connection stands, from what is known now: it reads and writes nothing
    /// (Pike's `is_open` drives a nonblocking close; here `close_clean` does, called
    /// again, as do reads, or the backend in callback mode).
    ///
    /// * `Open`: usable, or still handshaking; also once the peer closed, while data it
    ///   sent before is still to be read.
    /// * `Closing`: our close_notify went (`close_clean`, `shutdown(Write)`) and the
    ///   peer's has not come yet.
    /// * `Closed`: closed here, closed by the peer with everything read, or failed.
    pub fn is_open(&self) -> OpenState {
        let mut st = self.shared.lock();
        let lifecycle = st.lifecycle;
        let Some(engine) = st.engine.as_mut() else {
            return match lifecycle {
                Lifecycle::Open => OpenState::Open,
                _ => OpenState::Closed,
            };
        };
        let failed = engine.error().is_some() || engine.transport_eof();
        let exchanged = engine.peer_closed() && engine.sent_close_notify() && !engine.wants_write();
        match lifecycle {
            Lifecycle::Closing(_) | Lifecycle::Closed | Lifecycle::CleanClosed => OpenState::Closed,
            Lifecycle::CleanClosing if failed || exchanged => OpenState::Closed,
            Lifecycle::CleanClosing => OpenState::Closing,
            Lifecycle::Open | Lifecycle::WriteShut => {
                // A TLS 1.3 peer's close_notify leaves our direction open until we close.
                let both_closed = engine.peer_closed_both_ways()
                    || (engine.peer_closed() && matches!(lifecycle, Lifecycle::WriteShut));
                let ended = both_closed || engine.transport_eof();
                if engine.error().is_some() || (ended && !engine.has_plaintext()) {
                    OpenState::Closed
                } else if matches!(lifecycle, Lifecycle::WriteShut) {
                    OpenState::Closing
                } else {
                    OpenState::Open
                }
            }
        }
    }

    /// True while a [`close`](Self::close) of this file is still at work on the backend:
    /// delivering what was written and our close_notify, then reading what the peer still
    /// sends until it closes its end (the lingering close). [`is_open`](Self::is_open)
    /// already says `Closed` then, as in Pike: the file can no longer be used. To wait for
    /// every such close on a backend, see
    /// [`Backend::run_until_closed`](crate::Backend::run_until_closed).
    ///
    /// ```
    /// use std::io::Write;
    /// use sslfile::{Context, File, SslFile};
    ///
    /// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// let server_ctx = Context::builder()
    ///     .certificate_chain_pem(cert.cert.pem().as_bytes(), cert.key_pair.serialize_pem().as_bytes())?
    ///     .build()?;
    /// let client_ctx = Context::builder().trust_pem(cert.cert.pem().as_bytes())?.build()?;
    /// let (a, b) = File::pipe()?;
    /// let server = std::thread::spawn(move || SslFile::server(b, &server_ctx));
    /// let client = SslFile::client(a, &client_ctx, "localhost")?;
    /// let server = server.join().unwrap()?;
    /// client.set_nonblocking();
    /// while (&client).write(&[0; 65536]).is_ok() {} // until the socket is full
    /// client.close()?; // returns at once: the server reads nothing yet
    /// assert!(client.closing_in_background());
    /// assert_eq!(client.is_open(), sslfile::OpenState::Closed);
    /// drop(server); // its end: the close is over
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn closing_in_background(&self) -> bool {
        self.shared.lock().lifecycle.background_close().is_some()
    }

    /// Pike's `renegotiate`: on TLS 1.3 a key update (new traffic keys both ways); on
    /// TLS 1.2 `Err(Unsupported)`, since renegotiation is disabled (CVE-2009-3555).
    pub fn renegotiate(&self) -> Result<(), Error> {
        let result = (|| {
            self.shared.lock().engine()?.update_keys()?;
            match self.shared.flush(None) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
                other => other,
            }
        })();
        self.shared.rearm_if_watching();
        self.shared.record(result)
    }
}

/// One nonblocking round of a clean close; true once both close_notifies were exchanged.
fn advance_clean_close<S: Stream + 'static>(
    shared: &Shared<S>,
    st: &mut State,
) -> Result<bool, Error> {
    st.engine()?.hold_plaintext()?;
    let may_read = Shared::<S>::may_read(st);
    shared.step(st, may_read);
    let engine = st.engine()?;
    engine.hold_plaintext()?;
    if let Some(err) = engine.error() {
        return Err(err.clone());
    }
    if engine.peer_closed() && !engine.wants_write() {
        st.lifecycle = Lifecycle::CleanClosed;
        return Ok(true);
    }
    if engine.transport_eof() {
        return Err(engine.truncation());
    }
    Ok(false)
}

/// Whether the transport may be handed over as it is (see `into_stream`).
fn handover_verdict(st: &State) -> Result<(), Error> {
    match (&st.engine, st.lifecycle.closed_locally()) {
        (_, true) => Err(Error::Closed),
        (None, _) => Ok(()),
        (Some(engine), _) if engine.peer_closed() && engine.sent_close_notify() => {
            if engine.wants_write() {
                Err(incomplete_close())
            } else {
                Ok(())
            }
        }
        (Some(engine), _) if engine.sent_close_notify() || engine.peer_closed() => {
            Err(incomplete_close())
        }
        (Some(_), _) => Ok(()),
    }
}

fn incomplete_close() -> Error {
    Error::from_io(io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the clean close did not complete (no close_notify exchange); the transport was closed",
    ))
}

/// How often a blocking close looks whether the peer acknowledged our output: first after
/// this long, then twice as long each time, up to [`ACK_POLL_MAX`].
const ACK_POLL_FIRST: Duration = Duration::from_micros(200);
const ACK_POLL_MAX: Duration = Duration::from_millis(50);

/// A peer that is already gone is not a failure of close, but errno() tells.
fn record_write_error(st: &mut State) {
    if let Some(err) = st.engine.as_ref().and_then(|e| e.write_error()).cloned() {
        st.last_error = Some(err);
    }
}

impl<S: Stream + 'static> Drop for Shared<S> {
    /// The last handle is gone: close as `close` does, never blocking, unless `close`,
    /// `take_stream` or `into_stream` already dealt with the transport. What is left to do
    /// (delivering output, lingering) moves to a [`Closer`] on the file's backend, which owns
    /// only the transport and the engine.
    fn drop(&mut self) {
        super::driver::LIVE_FILES.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        // A pending timeout call_out holds the file weakly; gone with it.
        self.disarm_timer();
        let Some(transport) = self.transport.get_mut().take() else {
            return;
        };
        let backend = self.backend_for_callbacks();
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        // Already closed, a reset asked for, or a background close whose backend is gone.
        if st.lifecycle.closed_locally() || st.linger_zero {
            if let Some(w) = transport.watchable() {
                w.unwatch();
            }
            let _ = transport.close();
            return;
        }
        let mut engine = st.engine.take();
        match engine.as_mut() {
            Some(engine) => {
                if engine.error().is_none() && !matches!(st.lifecycle, Lifecycle::CleanClosed) {
                    engine.send_close_notify();
                }
            }
            None => {
                let _ = transport.close();
                return;
            }
        }
        if let Some(w) = transport.watchable() {
            w.unwatch();
        }
        let closing = Closing::new(Instant::now(), st.timeout);
        Closer::start(transport, engine, closing, &backend);
    }
}

impl<S: Stream + 'static> Shared<S> {
    /// One round of a background close (see `finish_close_in_background`); once it is
    /// done, or its deadline passed, the transport closes.
    pub(super) fn closing_step(self: &Arc<Self>) {
        let mut st = self.lock();
        let Some(mut closing) = st.lifecycle.background_close() else {
            return;
        };
        let before = closing.deadline();
        let want = closing.round(self.transport(), st.engine.as_mut(), Instant::now());
        st.lifecycle = match want {
            Some(_) => Lifecycle::Closing(closing),
            None => Lifecycle::Closed,
        };
        let ticket = want.is_none().then(|| st.close_ticket.take());
        drop(st);
        if want.is_none() {
            self.finish_transport();
            drop(ticket);
        } else if closing.deadline() != before {
            self.arm_close_timer();
        }
        self.rearm();
    }

    /// A call_out at the background close's deadline: a silent peer ends it too.
    pub(super) fn arm_close_timer(self: &Arc<Self>) {
        let Some(deadline) = self
            .lock()
            .lifecycle
            .background_close()
            .map(|c| c.deadline())
        else {
            return;
        };
        let weak = Arc::downgrade(self);
        let delay = deadline.saturating_duration_since(Instant::now());
        self.backend_for_callbacks().call_out(delay, move || {
            if let Some(shared) = weak.upgrade() {
                shared.closing_step();
            }
        });
    }

    /// Closes the transport: the backend lets go of the file, waiting threads wake up.
    pub(super) fn finish_transport(&self) {
        self.disarm_timer();
        let _d = self.lock_dispatch();
        self.watching
            .store(false, std::sync::atomic::Ordering::Release);
        let _ = self.transport().close();
        self.wake_all();
    }
}
