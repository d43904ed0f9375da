//! Dispatch: the backend found the transport ready (or a dispatch was scheduled); step the
//! engine, decide what is due ([`decide`], also used as a dry run by `rearm`), and run the
//! callbacks with no lock held, so that a callback may call any method of its file.

use std::cell::Cell;
use std::io;
use std::sync::Arc;

use super::{AcceptCallback, AlertCallback, CloseCallback, Dispatch, ReadCallback, WriteCallback};
use crate::backend::ReadyFn;
use crate::engine::Engine;
use crate::error::Error;
use crate::interest::Interest;
use crate::ssl_file::driver::{Shared, State};
use crate::ssl_file::SslFile;
use crate::stream::{Stream, Watchable};

/// What dispatch found due, to run once the locks are released.
enum Action<S: Stream + 'static> {
    /// Tell the layer above what it can do now.
    Layer(ReadyFn, Interest),
    Accept(AcceptCallback<S>),
    Read(ReadCallback<S>, Vec<u8>),
    Write(WriteCallback<S>),
    Close(CloseCallback<S>, Option<Error>),
    Alert(AlertCallback<S>, Error, Vec<u8>),
}

/// The backend found the transport ready: step the engine and run what is due.
pub(super) fn dispatch<S: Stream + 'static>(shared: &Arc<Shared<S>>) {
    if shared.lock().lifecycle.background_close().is_some() {
        shared.closing_step();
        return;
    }
    // Bounded: a stacked transport may hold more input than one step takes.
    for _ in 0..16 {
        let (actions, more) = {
            let mut st = shared.lock();
            let mut d = shared.lock_dispatch();
            if !shared.is_watched() || st.engine.is_none() {
                return;
            }
            let handshaking = st.engine.as_ref().is_some_and(Engine::is_handshaking);
            let may_read = Shared::<S>::may_read(&st) && (handshaking || d.want_input());
            let received = st.engine.as_ref().map_or(0, Engine::received);
            let progress = shared.step(&mut st, may_read);
            // Go on while the transport has more: a socket that filled the whole read
            // usually does (bulk input), and another round now saves a trip through the
            // backend's wait per record.
            let pending = st
                .engine
                .as_ref()
                .is_some_and(|e| e.input_likely_pending(received));
            let actions = due_actions(&mut st, &mut d);
            let more = progress && (pending || shared.transport().has_buffered_input());
            (actions, more)
        };
        let file = SslFile {
            shared: Arc::clone(shared),
        };
        {
            // The rearm below brings the watch up to date: the callbacks' own reads and
            // writes on this file need not (one rearm per round, not one per call).
            let _dispatching = Dispatching::enter(shared);
            for action in actions.actions.into_iter().flatten() {
                match action {
                    Action::Layer(on_ready, ready) => on_ready(ready),
                    Action::Accept(cb) => cb(&file),
                    Action::Read(cb, data) => {
                        cb(&file, &data);
                        recycle(data);
                    }
                    Action::Write(cb) => cb(&file),
                    Action::Close(cb, reason) => cb(&file, reason.as_ref()),
                    Action::Alert(cb, err, bytes) => cb(&file, &err, &bytes),
                }
            }
        }
        shared.rearm();
        if !more {
            break;
        }
    }
}

/// What is due on a connection, decided once from its state ([`decide`]): by a dispatch,
/// which then runs it, and as a dry run by `rearm`, to schedule a dispatch that no readiness
/// of the transport would announce.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Decision {
    /// The layer above (TLS over TLS) may go on: what it can do without blocking.
    pub(super) layer: Option<Interest>,
    /// The handshake completed: the accept callback (once).
    pub(super) accept: bool,
    /// Plaintext for the read callback.
    pub(super) read: bool,
    /// The peer does not speak TLS: the alert callback instead of the close callback.
    pub(super) alert: bool,
    /// The connection ended and all data was delivered: the close callback (once).
    pub(super) close: bool,
    /// More can be written: the write callback (level-triggered).
    pub(super) write: bool,
    /// Ciphertext already read from the transport waits to be processed (see the engine's
    /// stash): another round reads on without the transport being readable.
    pub(super) stashed: bool,
}

impl Decision {
    /// True if something is due that the transport's readiness does not announce: plaintext
    /// already decrypted, an end or failure already seen, a handshake that completed inside
    /// a user call. (Writability is announced by the transport; the layer above is told of
    /// it by the next readiness too.)
    pub(super) fn needs_kick(&self) -> bool {
        self.accept
            || self.read
            || self.alert
            || self.close
            || self.stashed
            || self.layer.is_some_and(Interest::is_readable)
    }
}

/// Decides what is due, without changing anything.
pub(super) fn decide<S: Stream + 'static>(st: &mut State, d: &Dispatch<S>) -> Decision {
    let mut due = Decision::default();
    let open = st.lifecycle.writable();
    let ended = st.ended();
    let Some(engine) = st.engine.as_mut() else {
        return due;
    };
    if d.finished {
        return due;
    }
    let has_plaintext = engine.has_plaintext();
    due.stashed = engine.has_stashed_input() && !ended && (d.want_input() || d.layer.is_some());
    if let Some(layer) = &d.layer {
        // The layer above reads and writes through us: tell it what would not block.
        let readable = ended || has_plaintext;
        let writable = !open
            || ended
            || engine.write_failed()
            || (!engine.is_handshaking() && !engine.wants_write());
        let want = layer.interest;
        due.layer = Interest::from_flags(
            want.is_some_and(Interest::is_readable) && readable,
            want.is_some_and(Interest::is_writable) && writable,
        );
        return due;
    }
    let handshaking = engine.is_handshaking();
    due.accept = !handshaking && !d.accept_fired && engine.error().is_none();
    due.read = d.cbs.read.is_some() && has_plaintext;
    if d.cbs.alert.is_some() && engine.error().is_some() && handshaking && engine.peer_not_tls() {
        due.alert = true;
        return due;
    }
    if ended {
        // After the read callback took the plaintext, if there is one to take it.
        due.close = !has_plaintext || due.read;
        if due.close {
            return due;
        }
        // Plaintext waits for a read (TLS 1.3 half-close: writing goes on meanwhile).
    }
    due.write = d.cbs.write.is_some()
        && !handshaking
        && open
        && !engine.wants_write()
        && engine.write_error().is_none();
    due
}

/// Takes what [`decide`] found due: the callbacks to run, in order (accept, read, then
/// alert, close or write; or the layer's), and the plaintext for the read callback.
fn due_actions<S: Stream + 'static>(st: &mut State, d: &mut Dispatch<S>) -> Due<S> {
    let decision = decide(st, d);
    let mut actions = Due::default();
    let Some(engine) = st.engine.as_mut() else {
        return actions;
    };
    if let Some(ready) = decision.layer {
        if let Some(layer) = &d.layer {
            actions.push(Action::Layer(layer.on_ready.clone(), ready));
        }
        return actions;
    }
    if decision.accept {
        d.accept_fired = true;
        if let Some(cb) = &d.cbs.accept {
            actions.push(Action::Accept(cb.clone()));
        }
    }
    if let (true, Some(cb)) = (decision.read, &d.cbs.read) {
        actions.push(Action::Read(cb.clone(), drain_plaintext(engine)));
    }
    if let (true, Some(cb), Some(err)) = (decision.alert, &d.cbs.alert, engine.error()) {
        d.finished = true;
        actions.push(Action::Alert(
            cb.clone(),
            err.clone(),
            engine.first_bytes().to_vec(),
        ));
        return actions;
    }
    if decision.close {
        d.finished = true;
        if let Some(cb) = &d.cbs.close {
            actions.push(Action::Close(cb.clone(), close_reason(engine)));
        }
    }
    if let (true, Some(cb)) = (decision.write, &d.cbs.write) {
        actions.push(Action::Write(cb.clone()));
    }
    actions
}

/// All plaintext the engine holds, in the backend thread's reusable buffer (see
/// [`recycle`]): no allocation per dispatch.
fn drain_plaintext(engine: &mut Engine) -> Vec<u8> {
    let mut data = READ_BUFFER.take();
    engine.take_plaintext(&mut data);
    data
}

/// The largest read buffer kept for reuse between dispatches (one per backend thread).
const READ_BUFFER_KEPT: usize = 64 * 1024;

thread_local! {
    /// The buffer the read callback's data is handed over in, between dispatches.
    static READ_BUFFER: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    /// The connection whose callbacks this thread is running (its `Shared`'s address).
    static DISPATCHING: Cell<usize> = const { Cell::new(0) };
}

/// Gives a read callback's buffer back for the next dispatch on this thread.
fn recycle(mut data: Vec<u8>) {
    if data.capacity() <= READ_BUFFER_KEPT {
        data.clear();
        READ_BUFFER.set(data);
    }
}

/// The callbacks due in one round, in order: at most accept, read, then alert, close or
/// write (or the layer's one). Kept inline: no allocation per dispatch.
struct Due<S: Stream + 'static> {
    actions: [Option<Action<S>>; 4],
    len: usize,
}

impl<S: Stream + 'static> Default for Due<S> {
    fn default() -> Self {
        Due {
            actions: [None, None, None, None],
            len: 0,
        }
    }
}

impl<S: Stream + 'static> Due<S> {
    fn push(&mut self, action: Action<S>) {
        self.actions[self.len] = Some(action);
        self.len += 1;
    }
}

/// True if this thread is running `shared`'s callbacks.
pub(super) fn dispatching<S: Stream + 'static>(shared: &Arc<Shared<S>>) -> bool {
    DISPATCHING.get() == Arc::as_ptr(shared) as usize
}

/// Marks this thread as running `shared`'s callbacks until dropped (nesting restores the
/// outer mark): its operations leave the watch to the dispatch's own rearm.
struct Dispatching(usize);

impl Dispatching {
    fn enter<S: Stream + 'static>(shared: &Arc<Shared<S>>) -> Dispatching {
        Dispatching(DISPATCHING.replace(Arc::as_ptr(shared) as usize))
    }
}

impl Drop for Dispatching {
    fn drop(&mut self) {
        DISPATCHING.set(self.0);
    }
}

/// Why the connection ended, as the close callback reports it.
fn close_reason(engine: &Engine) -> Option<Error> {
    match engine.error() {
        // We rejected what the peer sent: the connection was aborted, for this reason.
        Some(err @ Error::Tls { .. }) => Some(Error::Io(Arc::new(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            err.clone(),
        )))),
        Some(err) => Some(err.clone()),
        None if engine.peer_closed() => None,
        None => Some(engine.truncation()),
    }
}
