//! The lingering close: how a connection we close gets everything we wrote to the peer.
//!
//! Closing a TCP socket that still has unread input, or that receives input afterwards,
//! makes the kernel answer with a reset, and a reset throws away whatever we sent that the
//! peer has not acknowledged yet. A TLS 1.3 client that uploads and closes without reading
//! has such input: the server's session tickets. So, as nginx and Apache do ("lingering
//! close"), every close we start goes through two stages:
//!
//! 1. **Flush**: our close_notify (or fatal alert) is queued behind all pending data; write
//!    until nothing is left, then shut the write side (the peer reads its end of stream).
//! 2. **Linger**: read and discard what the peer still sends, until its end of stream, its
//!    close_notify or an error, or until the bound; only then close the descriptor.
//!
//! A blocking `close` waits for the flush and then for the peer to acknowledge our bytes
//! (`SIOCOUTQ` at zero: a reset can no longer take them back), and leaves the rest of the
//! linger to the backend. A nonblocking `close` and a drop do both stages on the backend and
//! never block the caller. `linger(Some(0))` skips all of it (a reset on purpose).
//!
//! [`Closing`] is the stage machine, shared by a file that is closed while other handles
//! still refer to it (it lives in the file's state) and by [`Closer`], which takes the
//! transport and the engine of a dropped file and finishes on the backend alone.

use std::io;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::driver::{flush_output, is_transient, TransportIo};
use crate::backend::{Backend, CallOut, CloseTicket, WeakBackend};
use crate::engine::Engine;
use crate::interest::Interest;
use crate::stream::Stream;

/// How long a close may spend delivering our output when no timeout is set.
pub(super) const FLUSH_LIMIT: Duration = Duration::from_secs(30);

/// How long a close reads on, waiting for the peer's end, when no shorter timeout is set.
pub(super) const LINGER_LIMIT: Duration = Duration::from_secs(5);

/// Reads per round of the linger stage: a peer that keeps sending cannot hold a backend.
const READS_PER_ROUND: usize = 64;

/// Where a close stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// Delivering our output (data, close_notify or fatal alert).
    Flush,
    /// Our write side is shut; reading what the peer still sends until its end.
    Linger,
}

/// A close in progress: its stage and how long it may still take.
#[derive(Debug, Clone, Copy)]
pub(super) struct Closing {
    stage: Stage,
    deadline: Instant,
    linger: Duration,
    /// What the last round waits for.
    waiting_for: Interest,
}

impl Closing {
    /// A close starting `now`, bounded by the caller's `timeout` if one is set.
    pub(super) fn new(now: Instant, timeout: Option<Duration>) -> Closing {
        Closing {
            stage: Stage::Flush,
            deadline: now + timeout.unwrap_or(FLUSH_LIMIT),
            linger: timeout.map_or(LINGER_LIMIT, |t| t.min(LINGER_LIMIT)),
            waiting_for: Interest::WRITE,
        }
    }

    /// What the last round waits for (a backend watches for it).
    pub(super) fn waiting_for(&self) -> Interest {
        self.waiting_for
    }

    /// The stage the close is in.
    pub(super) fn stage(&self) -> Stage {
        self.stage
    }

    /// When the current stage gives up.
    pub(super) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// One round of the close: flushes, shuts the write side, reads and discards. Returns
    /// what to wait for before the next round, or `None` once the transport may be closed
    /// (everything done, the peer gone, or the deadline passed).
    pub(super) fn round<T: Stream + ?Sized>(
        &mut self,
        transport: &T,
        engine: Option<&mut Engine>,
        now: Instant,
    ) -> Option<Interest> {
        let want = self.step(transport, engine, now);
        if let Some(want) = want {
            self.waiting_for = want;
        }
        want
    }

    fn step<T: Stream + ?Sized>(
        &mut self,
        transport: &T,
        mut engine: Option<&mut Engine>,
        now: Instant,
    ) -> Option<Interest> {
        if now >= self.deadline {
            return None;
        }
        if self.stage == Stage::Flush {
            if let Some(engine) = engine.as_deref_mut() {
                flush_output(engine, transport);
                if engine.wants_write() {
                    return Some(Interest::WRITE);
                }
            }
            match transport.flush_nb() {
                Err(e) if is_transient(&e) => return Some(Interest::WRITE),
                _ => {}
            }
            let _ = transport.shutdown_write();
            self.stage = Stage::Linger;
            self.deadline = now + self.linger;
        }
        linger_round(transport, engine)
    }
}

/// Reads and discards what the peer sends; `None` once it has ended (end of stream, its
/// close_notify, a fatal alert, a transport error).
fn linger_round<T: Stream + ?Sized>(
    transport: &T,
    mut engine: Option<&mut Engine>,
) -> Option<Interest> {
    let mut scratch = [0u8; 4096];
    for _ in 0..READS_PER_ROUND {
        // Through TLS while the session is intact, to notice the peer's close_notify; raw
        // bytes otherwise (after a failure there is no session to read).
        let result = match engine.as_deref_mut() {
            Some(engine) if engine.error().is_none() && !engine.transport_eof() => {
                if engine.peer_closed() && peer_has_our_output(transport) {
                    return None;
                }
                if engine.peer_closed() {
                    transport.read_nb(&mut scratch)
                } else {
                    engine.discard_received_plaintext();
                    let result = engine.receive(&mut TransportIo(transport));
                    engine.discard_received_plaintext();
                    result
                }
            }
            _ => transport.read_nb(&mut scratch),
        };
        match result {
            Ok(0) => return None,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(Interest::READ),
            Err(_) => return None,
        }
        if engine.as_deref().is_some_and(|e| e.error().is_some()) {
            // A fatal alert from the peer, or garbage: it will not answer any more.
            return None;
        }
    }
    Some(Interest::READ)
}

/// True if the peer has acknowledged everything we wrote, or the transport cannot tell.
pub(super) fn peer_has_our_output<T: Stream + ?Sized>(transport: &T) -> bool {
    transport.unacknowledged_output().is_none_or(|n| n == 0)
}

/// The transport and engine of a file that was dropped while its close still had work to
/// do: it finishes the close on a backend, then closes the transport. It holds nothing but
/// what it closes, so no user object is kept alive.
pub(super) struct Closer<S: Stream + 'static> {
    transport: S,
    engine: Option<Engine>,
    closing: Closing,
    backend: WeakBackend,
    /// The call_out pending for the current deadline, and that deadline.
    timer: Option<(CallOut, Instant)>,
    /// Counts this close on the backend until it is done.
    _ticket: CloseTicket,
}

impl<S: Stream + 'static> Closer<S> {
    /// Runs the first round at once; if the close is not done, finishes on `backend` (or on
    /// a thread of its own if the transport cannot be watched).
    pub(super) fn start(transport: S, engine: Option<Engine>, closing: Closing, backend: &Backend) {
        let mut closer = Closer {
            transport,
            engine,
            closing,
            backend: backend.downgrade(),
            timer: None,
            _ticket: backend.close_ticket(),
        };
        let Some(want) = closer.round() else {
            return; // done at once: dropping the closer closes the transport
        };
        let cell = Arc::new(Mutex::new(Some(closer)));
        let on_ready = {
            // The backend's reference: the closer lives until it finishes.
            let cell = Arc::clone(&cell);
            Arc::new(move |_ready: Interest| advance(&cell))
        };
        let mut slot = cell.lock().unwrap_or_else(|e| e.into_inner());
        let closer = slot.as_mut().expect("just made");
        let watched = closer.transport.watchable().is_some_and(|w| {
            w.watch(backend, on_ready).is_ok() && w.set_interest(Some(want)).is_ok()
        });
        if watched {
            closer.arm_timer(&cell);
            backend.wake();
            return;
        }
        // No descriptor to watch: a thread waits instead.
        let closer = slot.take().expect("just made");
        drop(slot);
        std::thread::spawn(move || closer.run_blocking());
    }

    fn round(&mut self) -> Option<Interest> {
        self.closing
            .round(&self.transport, self.engine.as_mut(), Instant::now())
    }

    /// Keeps one call_out pending for the current deadline: a silent peer ends the close
    /// too.
    fn arm_timer(&mut self, cell: &Arc<Mutex<Option<Closer<S>>>>) {
        let deadline = self.closing.deadline();
        if self.timer.is_some_and(|(_, at)| at == deadline) {
            return;
        }
        let Some(backend) = self.backend.upgrade() else {
            return;
        };
        if let Some((old, _)) = self.timer.take() {
            backend.remove_call_out(old);
        }
        let weak: Weak<Mutex<Option<Closer<S>>>> = Arc::downgrade(cell);
        let delay = deadline.saturating_duration_since(Instant::now());
        let id = backend.call_out(delay, move || {
            if let Some(cell) = weak.upgrade() {
                advance(&cell);
            }
        });
        self.timer = Some((id, deadline));
    }

    /// Rounds with blocking waits, for a transport no backend can watch; then the drop
    /// closes it.
    fn run_blocking(mut self) {
        while let Some(want) = self.round() {
            let _ = self.transport.wait(want, Some(self.closing.deadline()));
        }
    }
}

impl<S: Stream + 'static> Drop for Closer<S> {
    /// Done, given up, or the backend that ran it is gone: the transport closes, and a
    /// call_out still pending goes (it would find nothing to do).
    fn drop(&mut self) {
        if let (Some((id, _)), Some(backend)) = (self.timer.take(), self.backend.upgrade()) {
            backend.remove_call_out(id);
        }
        if let Some(w) = self.transport.watchable() {
            w.unwatch();
        }
        let _ = self.transport.close();
    }
}

/// The backend found the transport ready, or the deadline came: one more round.
fn advance<S: Stream + 'static>(cell: &Arc<Mutex<Option<Closer<S>>>>) {
    let mut slot = cell.lock().unwrap_or_else(|e| e.into_inner());
    let Some(closer) = slot.as_mut() else {
        return;
    };
    match closer.round() {
        Some(want) => {
            if let Some(w) = closer.transport.watchable() {
                let _ = w.set_interest(Some(want));
            }
            closer.arm_timer(cell);
        }
        None => {
            let closer = slot.take();
            drop(slot);
            // Closing the transport ends the watch, whose callback holds `cell`.
            drop(closer);
        }
    }
}
