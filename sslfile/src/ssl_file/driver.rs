//! The drivers: "one step" (nonblocking) and "step until done, else wait" (blocking) over
//! the [`Engine`], sharing one step function.
//!
//! # Locking and waiting
//!
//! All connection state sits behind one mutex, held only for a step: a bounded amount of
//! nonblocking transport I/O plus rustls work. No thread holds it while it waits.
//!
//! At most one thread polls the transport for readability (the *read poller*) and one for
//! writability (the *write poller*); any other thread that must wait sleeps on a condition
//! variable and is woken after every step that changed something. While a read poller
//! exists, nobody else reads from the transport: otherwise another thread could consume the
//! bytes the poller waits for and leave it asleep on an empty socket. This is what makes a
//! blocking read in one thread and a blocking write in another run side by side.

use std::io::{self, IoSlice, Read, Write};
use std::sync::atomic::AtomicBool;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::context::Context;
use crate::engine::{Engine, Plaintext};
use crate::error::Error;
use crate::interest::Interest;
use crate::stream::{Stream, Watchable};
use crate::version::VersionRange;

use super::lifecycle::Lifecycle;

/// Everything behind the mutex.
pub(super) struct State {
    pub(super) engine: Option<Engine>,
    pub(super) ctx: Context,
    pub(super) versions: VersionRange,
    pub(super) blocking: bool,
    pub(super) timeout: Option<Duration>,
    /// Where the connection is in its life (see `lifecycle`).
    pub(super) lifecycle: Lifecycle,
    pub(super) read_shut: bool,
    pub(super) linger_zero: bool,
    /// Counts a background close (`Lifecycle::Closing`) on its backend.
    pub(super) close_ticket: Option<crate::backend::CloseTicket>,
    /// An alert callback is installed: a peer that is not TLS gets no alert from us.
    pub(super) plaintext_fallback: bool,
    /// `set_plaintext_fallback(true)` was called (an alert callback also turns it on).
    pub(super) fallback_requested: bool,
    pub(super) last_error: Option<Error>,
    /// A client's first bytes, for TLS 1.3 early data (`set_early_data`).
    pub(super) early_data: Vec<u8>,
    /// A server takes TLS 1.3 early data (`set_accept_early_data`).
    pub(super) accept_early_data: bool,
    /// Handshake and idle timeouts (see `timeouts`).
    pub(super) protection: super::timeouts::Protection,
    read_poller: bool,
    write_poller: bool,
    waiters: usize,
}

impl State {
    pub(super) fn new(ctx: Context, versions: VersionRange, blocking: bool) -> State {
        let protection =
            super::timeouts::Protection::with_handshake_timeout(ctx.handshake_timeout());
        State {
            engine: None,
            ctx,
            versions,
            blocking,
            timeout: None,
            lifecycle: Lifecycle::Open,
            read_shut: false,
            linger_zero: false,
            close_ticket: None,
            plaintext_fallback: false,
            fallback_requested: false,
            last_error: None,
            early_data: Vec::new(),
            accept_early_data: false,
            protection,
            read_poller: false,
            write_poller: false,
            waiters: 0,
        }
    }

    /// The engine, or `NotStarted`.
    pub(super) fn engine(&mut self) -> Result<&mut Engine, Error> {
        self.engine.as_mut().ok_or(Error::NotStarted)
    }

    /// True once the connection has ended on the protocol's side: a fatal error, the
    /// peer's close_notify, or the transport's end.
    pub(super) fn ended(&self) -> bool {
        self.engine
            .as_ref()
            .is_some_and(|e| e.error().is_some() || e.peer_closed() || e.transport_eof())
    }

    /// The deadline for a blocking operation starting now.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.timeout.map(|t| Instant::now() + t)
    }
}

/// The connection: transport, state, and the condition variable waiters sleep on.
pub(super) struct Shared<S: Stream + 'static> {
    /// Empty once handed over (`take_stream`, `into_stream`) or given to a background close.
    pub(super) transport: super::transport::TransportSlot<S>,
    pub(super) state: Mutex<State>,
    changed: Condvar,
    /// Callback mode (see `callbacks`); locked after `state`, never before.
    pub(super) dispatch: Mutex<super::callbacks::Dispatch<S>>,
    /// True while the transport is watched on a backend for this file: changed only with
    /// the dispatch lock held, read anywhere.
    pub(super) watching: AtomicBool,
}

/// How many connections are alive in this process (for leak checks).
pub(super) static LIVE_FILES: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// `WouldBlock` (`EAGAIN`, so that `errno()` has the number too), as an [`Error`].
pub(super) fn would_block() -> Error {
    Error::from_io(io::Error::from_raw_os_error(
        rustix::io::Errno::AGAIN.raw_os_error(),
    ))
}

impl<S: Stream + 'static> Shared<S> {
    /// Takes the transport over: its own callbacks are set aside until `into_stream`.
    pub(super) fn new(transport: S, state: State) -> Shared<S> {
        LIVE_FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let watchable = transport.watchable();
        let backend = watchable.and_then(Watchable::backend);
        let saved = watchable.and_then(Watchable::park_callbacks);
        Shared {
            transport: super::transport::TransportSlot::new(transport),
            state: Mutex::new(state),
            changed: Condvar::new(),
            dispatch: Mutex::new(super::callbacks::Dispatch::new(saved, backend)),
            watching: AtomicBool::new(false),
        }
    }

    pub(super) fn transport(&self) -> &super::transport::TransportSlot<S> {
        &self.transport
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in a user's Read/Write adapter must not make the file unusable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the outcome of a public operation for `errno()`.
    pub(super) fn record<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        if let Err(e) = &result {
            self.lock().last_error = Some(e.clone());
        }
        result
    }

    // ----- the step ----------------------------------------------------------------------

    /// One bounded round of I/O: flush pending output; if `may_read`, read the transport
    /// once and flush what that produced (handshake replies, alerts, close_notify).
    /// Returns true if anything happened. Wakes waiting threads when it did.
    pub(super) fn step(&self, st: &mut State, may_read: bool) -> bool {
        let now = st.protection.is_set().then(Instant::now);
        if let Some(now) = now {
            if st.enforce_timeouts(now) && st.waiters > 0 {
                self.changed.notify_all();
            }
        }
        let Some(engine) = st.engine.as_mut() else {
            return false;
        };
        let mut progress = self.flush_engine(engine);
        if may_read && engine.wants_read() {
            match engine.receive(&mut TransportIo(self.transport())) {
                Ok(_) => {
                    progress = true;
                    self.flush_engine(engine);
                }
                Err(e) if is_transient(&e) => {}
                Err(e) => {
                    engine.transport_failed(e);
                    progress = true;
                }
            }
        }
        if let (Some(now), true) = (now, progress) {
            st.protection.activity(now);
        }
        if progress && st.waiters > 0 {
            self.changed.notify_all();
        }
        progress
    }

    /// Writes pending ciphertext until the transport pushes back.
    fn flush_engine(&self, engine: &mut Engine) -> bool {
        flush_output(engine, self.transport())
    }

    /// Pushes what the transport itself buffered (a TLS layer under this one); true once
    /// nothing is left there. Plain sockets buffer nothing and say true at once.
    fn transport_flushed(&self) -> Result<bool, Error> {
        match self.transport().flush_nb() {
            Ok(()) => Ok(true),
            Err(e) if is_transient(&e) => Ok(false),
            Err(e) => Err(Error::from_io(e)),
        }
    }

    /// May this thread read from the transport now? Not while another thread polls for it.
    pub(super) fn may_read(st: &State) -> bool {
        !st.read_poller
    }

    // ----- waiting -----------------------------------------------------------------------

    /// Waits (the lock released) until the transport may be ready for `want`, another
    /// thread made progress, or the deadline passed (`Err(TimedOut)`).
    pub(super) fn wait<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        want: Interest,
        deadline: Option<Instant>,
    ) -> Result<MutexGuard<'a, State>, Error> {
        // A protecting timeout (handshake, idle) may end the connection first: wake then.
        let handshaking = st.engine.as_ref().is_some_and(Engine::is_handshaking);
        let protect = st.protection.deadline(handshaking);
        let user_deadline = deadline;
        let deadline = super::timeouts::earliest(deadline, protect);
        // Past the user's deadline: `TimedOut`; past a protecting one: the connection ends
        // (the caller's next step reports it).
        let timed_out = |mut st: MutexGuard<'a, State>| {
            let now = Instant::now();
            if user_deadline.is_some_and(|d| now >= d) {
                return Err(Error::TimedOut);
            }
            st.enforce_timeouts(now);
            Ok(st)
        };
        let poll_read = want.is_readable() && !st.read_poller;
        let poll_write = want.is_writable() && !st.write_poller;
        if let Some(interest) = Interest::from_flags(poll_read, poll_write) {
            st.read_poller |= poll_read;
            st.write_poller |= poll_write;
            drop(st);
            let result = self.transport().wait(interest, deadline);
            let mut st = self.lock();
            st.read_poller &= !poll_read;
            st.write_poller &= !poll_write;
            if st.waiters > 0 {
                // Let a sleeping thread take over polling, or see what we are about to do.
                self.changed.notify_all();
            }
            return match result {
                Ok(()) => Ok(st),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => timed_out(st),
                Err(_) if st.lifecycle.closed_locally() => Err(Error::Closed),
                Err(e) => {
                    if let Some(engine) = st.engine.as_mut() {
                        engine.transport_failed(e);
                    }
                    Ok(st)
                }
            };
        }
        // Others are polling for everything we need: sleep until they report.
        st.waiters += 1;
        let mut st = match deadline {
            None => self.changed.wait(st).unwrap_or_else(|e| e.into_inner()),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    st.waiters -= 1;
                    return timed_out(st);
                }
                self.changed
                    .wait_timeout(st, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
        st.waiters -= 1;
        Ok(st)
    }

    /// Wakes every thread sleeping on the condition variable (after a state change made
    /// outside a step, e.g. a close).
    pub(super) fn wake_all(&self) {
        self.changed.notify_all();
    }

    // ----- operations --------------------------------------------------------------------

    /// Drives the handshake: to completion in blocking mode, one step otherwise.
    pub(super) fn handshake(&self) -> Result<(), Error> {
        let mut st = self.lock();
        let deadline = st.deadline();
        loop {
            let may_read = Self::may_read(&st);
            let blocking = st.blocking;
            let progress = self.step(&mut st, may_read);
            let engine = st.engine()?;
            if let Some(err) = engine.error() {
                return Err(err.clone());
            }
            if !engine.is_handshaking() {
                // Complete. Output the transport did not take yet (a client's Finished, a
                // server's session tickets) leaves with the next operation: waiting for it
                // here deadlocks with a peer that waits for us to read, which our unread
                // plaintext forbids (found over one-byte transport buffers).
                if blocking && progress && engine.wants_write() {
                    continue;
                }
                return Ok(());
            }
            if let Some(err) = engine.write_error() {
                return Err(err.clone());
            }
            if !blocking {
                return Ok(());
            }
            if progress {
                continue;
            }
            let want = engine_interest(engine);
            st = self.wait(st, want, deadline)?;
        }
    }

    /// One nonblocking round of the handshake, whatever the mode: true once complete.
    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    pub(super) fn handshake_step(&self) -> Result<bool, Error> {
        let mut st = self.lock();
        loop {
            let may_read = Self::may_read(&st);
            let progress = self.step(&mut st, may_read);
            let engine = st.engine()?;
            if let Some(err) = engine.error() {
                return Err(err.clone());
            }
            if !engine.is_handshaking() {
                return Ok(true);
            }
            if let Some(err) = engine.write_error() {
                return Err(err.clone());
            }
            if !progress {
                return Ok(false);
            }
        }
    }

    /// Reads plaintext: what is buffered, else (blocking) waits for some, end of stream or
    /// an error; (nonblocking) `WouldBlock`.
    pub(super) fn read(&self, buf: &mut [u8], blocking: Option<bool>) -> Result<usize, Error> {
        let mut st = self.lock();
        let blocking = blocking.unwrap_or(st.blocking);
        let deadline = st.deadline();
        loop {
            if let Some(n) = Self::try_read(&mut st, buf)? {
                return Ok(n);
            }
            let may_read = Self::may_read(&st);
            let progress = self.step(&mut st, may_read);
            if let Some(n) = Self::try_read(&mut st, buf)? {
                return Ok(n);
            }
            if progress {
                continue;
            }
            if !blocking {
                return Err(would_block());
            }
            let want = engine_interest(st.engine()?) | Interest::READ;
            st = self.wait(st, want, deadline)?;
        }
    }

    /// Plaintext, end of stream or an error if one is due; `None` if more input is needed.
    fn try_read(st: &mut State, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        if st.read_shut {
            return Ok(Some(0));
        }
        let closed = st.lifecycle.closed_locally();
        let Some(engine) = st.engine.as_mut() else {
            return Err(if closed {
                Error::Closed
            } else {
                Error::NotStarted
            });
        };
        match engine.read_plaintext(buf) {
            Ok(Plaintext::Data(n)) if n > 0 || buf.is_empty() => Ok(Some(n)),
            _ if closed => Err(Error::Closed),
            Ok(Plaintext::Data(_)) | Ok(Plaintext::Pending) => Ok(None),
            Ok(Plaintext::End) => Ok(Some(0)),
            Err(e) => Err(e),
        }
    }

    /// Why writing is impossible, if it is.
    fn check_writable(st: &mut State) -> Result<(), Error> {
        if !st.lifecycle.writable() {
            return Err(Error::Closed);
        }
        let engine = st.engine()?;
        if let Some(err) = engine.error() {
            return Err(err.clone());
        }
        if engine.peer_closed_both_ways() {
            return Err(Error::PeerClosed);
        }
        if let Some(err) = engine.write_error() {
            return Err(err.clone());
        }
        if engine.transport_eof() && !engine.is_handshaking() {
            return Err(engine.truncation());
        }
        Ok(())
    }

    /// Writes plaintext. Blocking: all of it, encrypted and flushed (a timeout after part
    /// was accepted reports that part, so nothing is sent twice). Nonblocking: what fits.
    pub(super) fn write(
        &self,
        bufs: &[IoSlice<'_>],
        blocking: Option<bool>,
    ) -> Result<usize, Error> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let mut st = self.lock();
        let blocking = blocking.unwrap_or(st.blocking);
        let deadline = st.deadline();
        let mut written = 0;
        loop {
            Self::check_writable(&mut st)?;
            if written < total {
                let engine = st.engine()?;
                written += if written == 0 {
                    engine.write_plaintext_vectored(bufs)
                } else {
                    engine.write_plaintext(remaining_slice(bufs, written))
                };
            }
            // Writers read only to drive the handshake.
            let may_read = Self::may_read(&st) && st.engine()?.is_handshaking();
            let progress = self.step(&mut st, may_read);
            let engine = st.engine()?;
            if let Some(err) = engine.error().or(engine.write_error()) {
                if written == 0 {
                    return Err(err.clone());
                }
                return Ok(written);
            }
            if !blocking {
                return match written {
                    0 if total > 0 => {
                        if progress {
                            continue;
                        }
                        Err(would_block())
                    }
                    n => Ok(n),
                };
            }
            if written == total && !engine.wants_write() && !engine.is_handshaking() {
                match self.transport_flushed() {
                    Ok(true) => return Ok(written),
                    Ok(false) => {} // a layer below still holds some: wait until it left
                    Err(e) => {
                        // Accepted is accepted; the failure is reported by the next call.
                        st.engine()?.fail_write(e);
                        return Ok(written);
                    }
                }
            }
            if progress {
                continue;
            }
            let want = if engine.is_handshaking() {
                engine_interest(engine)
            } else {
                Interest::WRITE
            };
            st = match self.wait(st, want, deadline) {
                Ok(st) => st,
                Err(Error::TimedOut) if written > 0 => return Ok(written),
                Err(e) => return Err(e),
            };
        }
    }

    /// Pushes pending ciphertext: blocking until it is all out, or nonblocking once.
    ///
    /// While the handshake runs, plaintext written so far waits inside rustls until it
    /// completes: a flush drives the handshake too (reading), and is not done before it.
    pub(super) fn flush(&self, blocking: Option<bool>) -> Result<(), Error> {
        let mut st = self.lock();
        let blocking = blocking.unwrap_or(st.blocking);
        let deadline = st.deadline();
        loop {
            let handshaking = st.engine.as_ref().is_some_and(Engine::is_handshaking);
            let may_read = handshaking && Self::may_read(&st);
            let progress = self.step(&mut st, may_read);
            let Some(engine) = st.engine.as_mut() else {
                return Ok(());
            };
            if let Some(err) = engine.write_error() {
                return Err(err.clone());
            }
            if engine.is_handshaking() {
                if let Some(err) = engine.error() {
                    return Err(err.clone());
                }
            } else if !engine.wants_write() && self.transport_flushed()? {
                // Nothing left here, nor in a TLS layer below.
                return Ok(());
            }
            if progress {
                continue;
            }
            if !blocking {
                return Err(would_block());
            }
            let want = if engine.is_handshaking() {
                engine_interest(engine)
            } else {
                Interest::WRITE
            };
            st = self.wait(st, want, deadline)?;
        }
    }
}

/// What the engine waits for: reading, writing or both (reading if it wants nothing).
pub(super) fn engine_interest(engine: &Engine) -> Interest {
    Interest::from_flags(engine.wants_read(), engine.wants_write()).unwrap_or(Interest::READ)
}

/// Writes `engine`'s pending ciphertext to `transport` until it pushes back; true if
/// anything happened. A transport error stops output for good (see `Engine::output_failed`).
pub(super) fn flush_output<T: Stream + ?Sized>(engine: &mut Engine, transport: &T) -> bool {
    let mut progress = false;
    while engine.wants_write() && !engine.write_failed() {
        match engine.send(&mut TransportIo(transport)) {
            Ok(0) => break,
            Ok(_) => progress = true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => {
                engine.output_failed(e);
                progress = true;
            }
        }
    }
    // A stacked transport (TLS under TLS) buffers too: push it along, even when this
    // layer had nothing new (its earlier output may still sit there).
    let _ = transport.flush_nb();
    progress
}

/// `WouldBlock` and `Interrupted`: try again later.
pub(super) fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// The bytes of `bufs` from offset `skip` on, as far as the slice that holds it reaches.
fn remaining_slice<'a>(bufs: &'a [IoSlice<'a>], mut skip: usize) -> &'a [u8] {
    for buf in bufs {
        if skip < buf.len() {
            return &buf[skip..];
        }
        skip -= buf.len();
    }
    &[]
}

/// The transport seen as `Read + Write` for rustls, always nonblocking.
pub(super) struct TransportIo<'a, S: Stream + ?Sized>(pub(super) &'a S);

impl<S: Stream + ?Sized> Read for TransportIo<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read_nb(buf)
    }
}

impl<S: Stream + ?Sized> Write for TransportIo<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_nb(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored_nb(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
