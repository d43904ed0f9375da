//! Ending a connection: `close`, `close_clean`, `shutdown`, `into_stream`, drop (SPEC §4).

use std::io;
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::driver::{engine_interest, Phase, Shared, State};
use super::SslFile;
use crate::error::Error;
use crate::stream::{Interest, Stream};

/// How long a nonblocking `close` keeps trying, in the background, to deliver data and
/// close_notify that did not fit in the socket buffer, when no timeout is set.
const BACKGROUND_FLUSH_LIMIT: Duration = Duration::from_secs(30);

/// At most this much unread input is discarded before the transport closes. A TCP socket
/// closed with unread input is reset (RST) at once, and the reset throws away what we sent
/// that the peer has not read yet: typically TLS 1.3 session tickets that a client never
/// read would cost the server the end of our data.
const DISCARD_LIMIT: usize = 256 * 1024;

/// The answer of [`SslFile::is_open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenState {
    /// The connection is usable (or its handshake is still running).
    Open,
    /// A clean close (`close_clean` or `shutdown(Write)`) waits for the peer's close_notify.
    Closing,
    /// The connection is over: closed locally, closed by the peer, or failed.
    Closed,
}

impl<S: Stream + 'static> SslFile<S> {
    /// Closes the connection: queues close_notify behind all pending data, flushes, and
    /// closes the transport.
    ///
    /// Blocking mode waits for the flush (bounded by the timeout). Nonblocking mode flushes
    /// what fits now and delivers the rest in the background. Closing twice is not an error.
    /// A peer that is already gone (`EPIPE`, `ECONNRESET`) does not make it fail: nothing
    /// was lost that close could have saved; [`errno`](Self::errno) records it.
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
        if st.phase == Phase::Closed {
            return Ok(());
        }
        st.phase = Phase::Closed;
        let linger_zero = st.linger_zero;
        let blocking = st.blocking;
        let deadline = st.deadline();
        let Some(engine) = st.engine.as_mut() else {
            drop(st);
            return self.close_transport();
        };
        if !linger_zero && engine.error().is_none() {
            engine.send_close_notify();
        }
        let mut outcome = Ok(());
        if !linger_zero {
            if blocking {
                let (guard, result) = flush_until_done(&self.shared, st, deadline);
                st = guard;
                outcome = result;
            } else {
                self.shared.step(&mut st, false);
                let pending = st
                    .engine
                    .as_ref()
                    .is_some_and(|e| e.wants_write() && !e.write_failed());
                if pending {
                    let limit = st.timeout.unwrap_or(BACKGROUND_FLUSH_LIMIT);
                    st.draining = Some(Instant::now() + limit);
                    drop(st);
                    self.finish_close_in_background(limit);
                    return Ok(());
                }
            }
        }
        // A peer that is already gone is not a failure of close, but errno() tells.
        if let Some(err) = st.engine.as_ref().and_then(|e| e.write_error()).cloned() {
            st.last_error = Some(err);
        }
        drop(st);
        self.close_transport()?;
        outcome
    }

    fn close_transport(&self) -> Result<(), Error> {
        self.shared.disarm_timer();
        // Closing the transport ends its watch too: the backend lets go of the file.
        self.shared.lock_dispatch().watching = false;
        self.shared
            .watching
            .store(false, std::sync::atomic::Ordering::Release);
        let result = self.shared.close_transport().map_err(Error::from_io);
        self.shared.wake_all();
        result
    }

    /// Delivers what a nonblocking close could not, then closes the transport: on the
    /// file's backend (the default backend if it has none), which keeps the file alive until
    /// the output drained or `limit` passed. A transport that cannot be watched gets a
    /// thread of its own instead.
    fn finish_close_in_background(&self, limit: Duration) {
        self.shared.rearm();
        if self.shared.lock_dispatch().watching {
            // The socket may never become writable again: give up at the deadline.
            let weak = Arc::downgrade(&self.shared);
            self.backend().call_out(limit, move || {
                if let Some(shared) = weak.upgrade() {
                    shared.drain_step();
                }
            });
            return;
        }
        let shared = Arc::clone(&self.shared);
        std::thread::spawn(move || {
            let st = shared.lock();
            drop(flush_until_done(&shared, st, Some(Instant::now() + limit)));
            shared.lock().draining = None;
            let _ = shared.close_transport();
            shared.wake_all();
        });
    }

    /// Pike's `close(0, 1)`: sends close_notify and waits for the peer's, keeping the
    /// transport open for [`into_stream`](Self::into_stream).
    ///
    /// Data that arrives before the peer's close_notify can still be read. In nonblocking
    /// mode this returns at once; [`is_open`](Self::is_open) reports
    /// [`OpenState::Closing`] until the exchange is done (it drives it).
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
        match st.phase {
            Phase::Closed => return Err(Error::Closed),
            Phase::CleanClosed => return Ok(()),
            Phase::Open | Phase::Closing => {}
        }
        let engine = st.engine()?;
        if let Some(err) = engine.error() {
            return Err(err.clone());
        }
        engine.read_exact_records();
        engine.send_close_notify();
        st.phase = Phase::Closing;
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
            if st.phase == Phase::Closed {
                return Err(Error::Closed);
            }
            if matches!(how, Shutdown::Read | Shutdown::Both) {
                st.read_shut = true;
            }
            if matches!(how, Shutdown::Write | Shutdown::Both) && !st.write_shut {
                st.write_shut = true;
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
    ///   transport (e.g. to serve a plaintext request that arrived on a TLS port).
    /// * After `close()`: `Err(Closed)`; after a clean close that did not complete: the
    ///   transport is closed and the error is `BrokenPipe`.
    ///
    /// Plaintext received but not read is discarded.
    pub fn into_stream(self) -> Result<S, Error> {
        // The backend lets go of the file first; a callback still running (or a
        // background close) holds a handle for a moment longer.
        self.clear_callbacks();
        self.shared.transport().unwatch();
        let mut shared = self.shared;
        let deadline = Instant::now() + Duration::from_secs(5);
        let shared = loop {
            match Arc::try_unwrap(shared) {
                Ok(shared) => break shared,
                Err(still_shared) if Instant::now() < deadline => {
                    shared = still_shared;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => {
                    return Err(Error::Unsupported(
                        "into_stream: another handle to the file is still in use",
                    ))
                }
            }
        };
        let saved = shared
            .dispatch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .saved_stream_callbacks
            .take();
        let transport = into_transport(shared)?;
        if let Some(saved) = saved {
            transport.restore_callbacks(saved);
        }
        Ok(transport)
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

    /// Where the connection stands. Like Pike's `is_open`, it may read and write: it
    /// drives a nonblocking clean close forward, and notices a peer's close.
    pub fn is_open(&self) -> OpenState {
        let mut st = self.shared.lock();
        match st.phase {
            Phase::Closed | Phase::CleanClosed => OpenState::Closed,
            Phase::Closing => match advance_clean_close(&self.shared, &mut st) {
                Ok(true) | Err(_) => OpenState::Closed,
                Ok(false) => OpenState::Closing,
            },
            Phase::Open => {
                let may_read = Shared::<S>::may_read(&st);
                self.shared.step(&mut st, may_read);
                let write_shut = st.write_shut;
                let Some(engine) = st.engine.as_mut() else {
                    return OpenState::Open;
                };
                let ended = engine.peer_closed() || engine.transport_eof();
                if engine.error().is_some() || (ended && !engine.has_plaintext()) {
                    OpenState::Closed
                } else if write_shut {
                    OpenState::Closing
                } else {
                    OpenState::Open
                }
            }
        }
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
        st.phase = Phase::CleanClosed;
        return Ok(true);
    }
    if engine.transport_eof() {
        return Err(Error::Truncated);
    }
    Ok(false)
}

/// Flushes until nothing is pending, the transport fails (not an error here: the peer is
/// gone) or the deadline passes (`TimedOut`).
fn flush_until_done<'a, S: Stream + 'static>(
    shared: &'a Shared<S>,
    mut st: std::sync::MutexGuard<'a, State>,
    deadline: Option<Instant>,
) -> (std::sync::MutexGuard<'a, State>, Result<(), Error>) {
    loop {
        let progress = shared.step(&mut st, false);
        let done = st
            .engine
            .as_ref()
            .is_none_or(|e| !e.wants_write() || e.write_failed());
        if done {
            return (st, Ok(()));
        }
        if progress {
            continue;
        }
        match shared.wait(st, Interest::WRITE, deadline) {
            Ok(guard) => st = guard,
            Err(e) => return (shared.lock(), Err(e)),
        }
    }
}

/// The decision of `into_stream`, on a connection nobody else holds.
fn into_transport<S: Stream + 'static>(mut shared: Shared<S>) -> Result<S, Error> {
    let st = shared.state.get_mut().unwrap_or_else(|e| e.into_inner());
    let phase = st.phase;
    let verdict = match (&st.engine, phase) {
        (_, Phase::Closed) => Err(Error::Closed),
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
    };
    let transport = shared
        .transport
        .take()
        .expect("into_stream runs once, on a file that still has its transport");
    match verdict {
        Ok(()) => Ok(transport),
        Err(e) => {
            let _ = transport.close();
            Err(e)
        }
    }
}

fn incomplete_close() -> Error {
    Error::from_io(io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the clean close did not complete (no close_notify exchange); the transport was closed",
    ))
}

impl<S: Stream + 'static> Drop for Shared<S> {
    /// The last handle is gone: send close_notify without blocking (best effort) and close
    /// the transport, unless `close` or `into_stream` already dealt with it.
    fn drop(&mut self) {
        super::driver::LIVE_FILES.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        // A pending timeout call_out holds the file weakly; gone with it.
        self.disarm_timer();
        if self.transport.is_none() {
            return;
        }
        let mut st = self.lock();
        if st.phase == Phase::Closed {
            return;
        }
        if st.phase == Phase::Open && !st.linger_zero {
            if let Some(engine) = st.engine.as_mut() {
                if engine.error().is_none() {
                    engine.send_close_notify();
                }
            }
            st.blocking = false;
            st.phase = Phase::Closed;
            self.step(&mut st, false);
        }
        drop(st);
        let _ = self.close_transport();
    }
}

impl<S: Stream + 'static> Shared<S> {
    /// One round of a background close (see `finish_close_in_background`): flush; once
    /// nothing is pending, output failed or the deadline passed, close the transport.
    pub(super) fn drain_step(self: &Arc<Self>) {
        let mut st = self.lock();
        let Some(deadline) = st.draining else {
            return;
        };
        self.step(&mut st, false);
        let done = st
            .engine
            .as_ref()
            .is_none_or(|e| !e.wants_write() || e.write_failed());
        if done || Instant::now() >= deadline {
            st.draining = None;
            drop(st);
            let _ = self.close_transport();
            self.wake_all();
        } else {
            drop(st);
        }
        self.rearm();
    }

    /// Closes the transport, first discarding input nobody will read (see
    /// [`DISCARD_LIMIT`]) unless a reset is what the caller asked for (`linger(Some(0))`).
    fn close_transport(&self) -> io::Result<()> {
        if !self.lock().linger_zero {
            let mut buf = [0u8; 16 * 1024];
            let mut discarded = 0;
            while discarded < DISCARD_LIMIT {
                match self.transport().read_nb(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => discarded += n,
                }
            }
        }
        self.transport().close()
    }
}
