//! Timeouts that protect a server from clients that hold a connection without using it:
//! a handshake timeout (slowloris: a ClientHello trickling in a byte at a time) and an idle
//! timeout (a connection on which nothing moves).
//!
//! Unlike [`SslFile::set_timeout`], which bounds each blocking call and can be retried,
//! these end the connection: it fails with [`io::ErrorKind::TimedOut`] (sticky, like any
//! fatal error), and in callback mode the close callback reports it.
//!
//! They are enforced in every mode: in callback mode by a call_out on the file's backend
//! (no readiness is needed, so a silent peer is noticed), in blocking mode by the wait
//! itself, and in nonblocking mode by the next call.

use std::io;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::driver::{Shared, State};
use super::SslFile;
use crate::backend::{Backend, CallOut, WeakBackend};
use crate::error::Error;
use crate::stream::Stream;

/// The connection-ending timeouts of one file, and the call_out that watches them.
#[derive(Default)]
pub(super) struct Protection {
    handshake_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    /// When the handshake must be complete (set when it starts).
    handshake_deadline: Option<Instant>,
    /// When bytes last moved on the transport.
    last_activity: Option<Instant>,
    /// The pending call_out (callback mode), on a backend held weakly.
    timer: Option<(WeakBackend, CallOut)>,
}

impl Protection {
    /// No idle timeout, and `timeout` for handshakes.
    pub(super) fn with_handshake_timeout(timeout: Option<Duration>) -> Protection {
        Protection {
            handshake_timeout: timeout,
            ..Default::default()
        }
    }

    /// True if a timeout is set.
    pub(super) fn is_set(&self) -> bool {
        self.handshake_timeout.is_some() || self.idle_timeout.is_some()
    }

    /// The earliest moment a timeout may expire, if one is set.
    pub(super) fn deadline(&self, handshaking: bool) -> Option<Instant> {
        let handshake = self.handshake_deadline.filter(|_| handshaking);
        let idle = match (self.idle_timeout, self.last_activity) {
            (Some(t), Some(at)) => Some(at + t),
            _ => None,
        };
        earliest(handshake, idle)
    }

    /// Notes that bytes moved.
    pub(super) fn activity(&mut self, now: Instant) {
        if self.idle_timeout.is_some() {
            self.last_activity = Some(now);
        }
    }

    /// The handshake starts now.
    pub(super) fn handshake_started(&mut self, now: Instant) {
        self.handshake_deadline = self.handshake_timeout.map(|t| now + t);
        self.activity(now);
    }

    /// The error that ends the connection if a timeout expired at `now`.
    fn expired(&self, handshaking: bool, now: Instant) -> Option<Error> {
        if let (true, Some(t), Some(at)) =
            (handshaking, self.handshake_timeout, self.handshake_deadline)
        {
            if now >= at {
                return Some(timed_out(format!(
                    "the TLS handshake did not complete within {t:?}"
                )));
            }
        }
        if let (Some(t), Some(at)) = (self.idle_timeout, self.last_activity) {
            if now >= at + t {
                return Some(timed_out(format!("the connection was idle for {t:?}")));
            }
        }
        None
    }

    /// Takes the pending call_out, to cancel it.
    pub(super) fn take_timer(&mut self) -> Option<(WeakBackend, CallOut)> {
        self.timer.take()
    }
}

fn timed_out(message: String) -> Error {
    Error::from_io(io::Error::new(io::ErrorKind::TimedOut, message))
}

/// The earlier of two optional instants.
pub(super) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl State {
    /// Ends the connection if a protecting timeout expired. True if it did now.
    pub(super) fn enforce_timeouts(&mut self, now: Instant) -> bool {
        let Some(engine) = self.engine.as_mut() else {
            return false;
        };
        if engine.error().is_some() || engine.transport_eof() {
            return false;
        }
        match self.protection.expired(engine.is_handshaking(), now) {
            Some(err) => {
                engine.fail(err);
                true
            }
            None => false,
        }
    }
}

impl<S: Stream + 'static> SslFile<S> {
    /// Ends the connection if its handshake has not completed `timeout` after it started
    /// (`None`, the default: no limit). Set it before `connect`/`accept`; [`Port`] sets it
    /// on the connections it accepts.
    ///
    /// The connection then fails with [`io::ErrorKind::TimedOut`]: blocking calls return it,
    /// the next nonblocking call returns it, and in callback mode the close callback reports
    /// it — even if the peer sends nothing more. This is what protects a server from clients
    /// that open connections and trickle their ClientHello (slowloris).
    ///
    /// [`Port`]: crate::Port
    ///
    /// ```
    /// use std::time::Duration;
    /// let (a, _b) = sslfile::File::pipe()?;
    /// let ctx = sslfile::Context::builder().build()?;
    /// let file = sslfile::SslFile::new(a, &ctx);
    /// file.set_handshake_timeout(Some(Duration::from_millis(50)));
    /// file.set_blocking();
    /// // The peer never answers: the handshake ends after 50 ms.
    /// let err = file.connect("localhost").unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_handshake_timeout(&self, timeout: Option<Duration>) {
        self.shared.disarm_timer();
        let mut st = self.shared.lock();
        st.protection.handshake_timeout = timeout;
        if st.engine.is_some() {
            // Already started: counts from now.
            st.protection.handshake_deadline = timeout.map(|t| Instant::now() + t);
        }
        drop(st);
        self.shared.rearm_if_watching();
    }

    /// The timeout set by [`set_handshake_timeout`](Self::set_handshake_timeout).
    pub fn handshake_timeout(&self) -> Option<Duration> {
        self.shared.lock().protection.handshake_timeout
    }

    /// Ends the connection once no byte has moved on it, in either direction, for
    /// `timeout` (`None`, the default: never). It fails with [`io::ErrorKind::TimedOut`],
    /// as for [`set_handshake_timeout`](Self::set_handshake_timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// let (a, _b) = sslfile::File::pipe()?;
    /// let ctx = sslfile::Context::builder().build()?;
    /// let file = sslfile::SslFile::new(a, &ctx);
    /// file.set_idle_timeout(Some(Duration::from_secs(300)));
    /// assert_eq!(file.idle_timeout(), Some(Duration::from_secs(300)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_idle_timeout(&self, timeout: Option<Duration>) {
        self.shared.disarm_timer();
        let mut st = self.shared.lock();
        st.protection.idle_timeout = timeout;
        st.protection.last_activity = timeout.map(|_| Instant::now());
        drop(st);
        self.shared.rearm_if_watching();
    }

    /// The timeout set by [`set_idle_timeout`](Self::set_idle_timeout).
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.shared.lock().protection.idle_timeout
    }
}

impl<S: Stream + 'static> Shared<S> {
    /// Callback mode: keeps one call_out pending on `backend` for the earliest protecting
    /// deadline, or none. It holds the file weakly: it never keeps a file alive.
    pub(super) fn arm_timer(self: &Arc<Self>, backend: Option<&Backend>) {
        let (old, deadline) = {
            let mut st = self.lock();
            let handshaking = st.engine.as_ref().is_some_and(|e| e.is_handshaking());
            let live = st.lifecycle.in_use()
                && st
                    .engine
                    .as_ref()
                    .is_some_and(|e| e.error().is_none() && !e.transport_eof());
            let deadline = match backend {
                Some(_) if live => st.protection.deadline(handshaking),
                _ => None,
            };
            let keep = matches!(
                (&st.protection.timer, backend, deadline),
                (Some((b, _)), Some(backend), Some(_)) if b.is(backend)
            );
            if keep {
                return;
            }
            (st.protection.timer.take(), deadline)
        };
        if let Some((backend, id)) = old {
            if let Some(backend) = backend.upgrade() {
                backend.remove_call_out(id);
            }
        }
        let (Some(backend), Some(deadline)) = (backend, deadline) else {
            return;
        };
        let weak = Arc::downgrade(self);
        let delay = deadline.saturating_duration_since(Instant::now());
        let id = backend.call_out(delay, move || timer_fired(&weak));
        self.lock().protection.timer = Some((backend.downgrade(), id));
    }

    /// Cancels the pending call_out, if any.
    pub(super) fn disarm_timer(&self) {
        let old = self.lock().protection.take_timer();
        if let Some((backend, id)) = old.and_then(|(b, id)| Some((b.upgrade()?, id))) {
            backend.remove_call_out(id);
        }
    }
}

/// The call_out: end the connection if a deadline passed, else wait for the next one.
fn timer_fired<S: Stream + 'static>(weak: &Weak<Shared<S>>) {
    let Some(shared) = weak.upgrade() else {
        return;
    };
    let backend = {
        let mut st = shared.lock();
        let Some((backend, _)) = st.protection.timer.take() else {
            return;
        };
        if st.enforce_timeouts(Instant::now()) {
            shared.wake_all();
        }
        backend
    };
    // Delivers the close callback, and re-arms for a later deadline if one is left.
    drop(backend);
    shared.rearm();
}
