//! The backend's watch on the transport, kept in line with the callbacks and the engine:
//! registered while the file has callbacks (or a close still at work), with the interest
//! the engine and the callbacks need, and dropped, with the backend's reference to the file,
//! when there is nothing left to watch for.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::dispatch::{decide, dispatch, dispatching};
use super::Dispatch;
use crate::backend::{Backend, WeakBackend};
use crate::interest::Interest;
use crate::ssl_file::driver::{Shared, State};
use crate::stream::{Stream, Watchable};

/// What the watch should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    /// No watch: nothing keeps the file on the backend.
    Nothing,
    /// A watch, waiting for this readiness (`None`: for nothing right now).
    Watch(Option<Interest>),
}

impl<S: Stream + 'static> Shared<S> {
    pub(in crate::ssl_file) fn lock_dispatch(&self) -> std::sync::MutexGuard<'_, Dispatch<S>> {
        self.dispatch.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True while the transport is watched on a backend for this file.
    pub(in crate::ssl_file) fn is_watched(&self) -> bool {
        self.watching.load(Ordering::Acquire)
    }

    /// Where the file's callbacks run: the backend set with `set_backend`, else the
    /// transport's, else the process's default backend.
    pub(in crate::ssl_file) fn backend_for_callbacks(&self) -> Backend {
        let own = self.lock_dispatch().backend.clone();
        self.backend_chain(own.as_ref())
    }

    /// [`backend_for_callbacks`](Self::backend_for_callbacks) with the file's own backend
    /// given (for a caller that holds the dispatch lock).
    fn backend_chain(&self, own: Option<&WeakBackend>) -> Backend {
        own.and_then(WeakBackend::upgrade)
            .or_else(|| self.transport().backend())
            .unwrap_or_else(Backend::default_backend)
    }

    /// Brings the watch in line with the callbacks and the engine: registers it, changes
    /// its interest, or drops it (releasing the backend's reference to the file); schedules
    /// a dispatch for what is due that no readiness will announce.
    pub(in crate::ssl_file) fn rearm(self: &Arc<Self>) {
        enum Todo {
            Nothing,
            Watch(Backend, Option<Interest>),
            Interest(Option<Interest>),
            Unwatch,
        }
        let mut kick = None;
        let todo = {
            let mut st = self.lock();
            let mut d = self.lock_dispatch();
            let wanted = wanted(&st, &d);
            // Changed only with the dispatch lock held (read without it as a hint).
            let watching = self.is_watched();
            let todo = match (wanted, watching) {
                (Wanted::Nothing, false) => Todo::Nothing,
                // Output still to deliver (e.g. session tickets) keeps the watch. The
                // interest is recorded like any other: a stale record would make the next
                // rearm skip restoring READ (found by faults_threaded: a deadlock).
                (Wanted::Nothing, true) if st.engine.as_ref().is_some_and(|e| e.wants_write()) => {
                    if d.interest == Some(Interest::WRITE) {
                        Todo::Nothing
                    } else {
                        d.interest = Some(Interest::WRITE);
                        Todo::Interest(Some(Interest::WRITE))
                    }
                }
                (Wanted::Nothing, true) => {
                    self.watching.store(false, Ordering::Release);
                    Todo::Unwatch
                }
                (Wanted::Watch(interest), false) => {
                    self.watching.store(true, Ordering::Release);
                    d.interest = interest;
                    Todo::Watch(self.backend_chain(d.backend.as_ref()), interest)
                }
                (Wanted::Watch(interest), true) if d.interest == interest => Todo::Nothing,
                (Wanted::Watch(interest), true) => {
                    d.interest = interest;
                    Todo::Interest(interest)
                }
            };
            let may_kick = wanted != Wanted::Nothing && self.is_watched() && !d.kick_pending;
            if may_kick && !d.finished && decide(&mut st, &d).needs_kick() {
                d.kick_pending = true;
                kick = Some(self.backend_chain(d.backend.as_ref()));
            }
            todo
        };
        match todo {
            Todo::Nothing => {}
            Todo::Watch(backend, interest) => {
                let shared = Arc::clone(self);
                let on_ready = Arc::new(move |_ready: Interest| dispatch(&shared));
                if self.transport().watch(&backend, on_ready).is_ok() {
                    let _ = self.transport().set_interest(interest);
                    backend.wake();
                } else {
                    let _d = self.lock_dispatch();
                    self.watching.store(false, Ordering::Release);
                }
            }
            Todo::Interest(interest) => {
                let _ = self.transport().set_interest(interest);
            }
            Todo::Unwatch => self.transport().unwatch(),
        }
        if let Some(backend) = kick {
            self.kick(&backend);
        }
        // Handshake and idle timeouts are watched while the backend watches the file.
        let timer_backend = self.is_watched().then(|| self.backend_for_callbacks());
        self.arm_timer(timer_backend.as_ref());
    }

    /// Schedules a dispatch on `backend` at once.
    fn kick(self: &Arc<Self>, backend: &Backend) {
        // A weak handle: the watch keeps a file with callbacks alive; a kick must not (a
        // kick queued on a backend that this very thread runs would never go, and hold the
        // file).
        let weak = Arc::downgrade(self);
        let on = backend.downgrade();
        backend.call_out(std::time::Duration::ZERO, move || {
            let Some(shared) = weak.upgrade() else {
                return;
            };
            let moved = {
                let mut d = shared.lock_dispatch();
                d.kick_pending = false;
                d.backend
                    .as_ref()
                    .and_then(WeakBackend::upgrade)
                    .is_some_and(|b| !on.is(&b))
            };
            if moved {
                // set_backend since: callbacks run on the new backend only.
                shared.rearm();
            } else {
                dispatch(&shared);
            }
        });
    }

    /// After a user operation: keep the watch's interest current if callbacks are active
    /// (a dispatch running this file's callbacks rearms once at its end instead).
    pub(in crate::ssl_file) fn rearm_if_watching(self: &Arc<Self>) {
        if !dispatching(self) && self.is_watched() {
            self.rearm();
        }
    }
}

/// What the watch should wait for.
fn wanted<S: Stream + 'static>(st: &State, d: &Dispatch<S>) -> Wanted {
    let Some(engine) = st.engine.as_ref() else {
        return Wanted::Nothing;
    };
    if let Some(closing) = st.lifecycle.background_close() {
        // A background close: only its progress matters now.
        return Wanted::Watch(Some(closing.waiting_for()));
    }
    // An accept callback that already fired keeps nothing alive by itself.
    let live = d.cbs.want_input()
        || d.cbs.write.is_some()
        || (d.cbs.accept.is_some() && !d.accept_fired)
        || d.layer.is_some();
    if !live || d.finished || st.lifecycle.closed_locally() {
        return Wanted::Nothing;
    }
    let handshaking = engine.is_handshaking();
    let read = engine.wants_read() && (handshaking || d.want_input());
    let open = st.lifecycle.writable() && engine.error().is_none();
    let write = engine.wants_write()
        || ((d.cbs.write.is_some() || d.layer_wants_write())
            && open
            && !handshaking
            && !engine.peer_closed_both_ways());
    Wanted::Watch(Interest::from_flags(read, write))
}
