//! Callback mode: the user's callbacks, when they run, and how long the backend
//! keeps the file alive.
//!
//! A file is watched on its backend only while it has user callbacks (or output that must
//! still drain): the watch's closure holds the file strongly, so a server may drop its handle
//! after installing callbacks. When the connection ends or the callbacks are cleared, the
//! watch goes and, with it, the backend's reference: nothing else refers back to the file.
//!
//! Dispatch collects what is due under the locks and runs the callbacks with no lock held,
//! so a callback may call any method of its file.

use std::cell::Cell;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::driver::{Phase, Shared, State};
use super::SslFile;
use crate::backend::{Backend, ReadyFn, WeakBackend};
use crate::engine::Engine;
use crate::error::Error;
use crate::stream::{Interest, SavedCallbacks, Stream};

/// Called with the file and all plaintext received so far.
pub type ReadCallback<S> = Arc<dyn Fn(&SslFile<S>, &[u8]) + Send + Sync + 'static>;
/// Called while more can be written: after the handshake, once pending output drained.
pub type WriteCallback<S> = Arc<dyn Fn(&SslFile<S>) + Send + Sync + 'static>;
/// Called once when the connection ends, after all data was delivered: `None` for a clean
/// close_notify, else why, as [`Error::kind`] tells: `BrokenPipe` when the peer went away
/// without close_notify (truncation, a reset, a hang-up during the handshake),
/// `ConnectionReset` for the peer's fatal alert, `ConnectionAborted` when we rejected the
/// peer's data (the TLS error is its source), `TimedOut` for a handshake or idle timeout.
/// The same error type as the alert callback's.
pub type CloseCallback<S> = Arc<dyn Fn(&SslFile<S>, Option<&Error>) + Send + Sync + 'static>;
/// Called once when the handshake has completed.
pub type AcceptCallback<S> = Arc<dyn Fn(&SslFile<S>) + Send + Sync + 'static>;
/// Called instead of the close callback when the peer does not speak TLS, with the error
/// and the raw bytes received so far; [`SslFile::into_stream`] then gives the transport back
/// to serve another protocol.
pub type AlertCallback<S> = Arc<dyn Fn(&SslFile<S>, &Error, &[u8]) + Send + Sync + 'static>;

/// A full set of callbacks, for [`SslFile::set_callbacks`].
pub struct Callbacks<S: Stream + 'static> {
    /// See [`ReadCallback`].
    pub read: Option<ReadCallback<S>>,
    /// See [`WriteCallback`].
    pub write: Option<WriteCallback<S>>,
    /// See [`CloseCallback`].
    pub close: Option<CloseCallback<S>>,
    /// See [`AcceptCallback`].
    pub accept: Option<AcceptCallback<S>>,
    /// See [`AlertCallback`].
    pub alert: Option<AlertCallback<S>>,
}

impl<S: Stream + 'static> Default for Callbacks<S> {
    fn default() -> Self {
        Callbacks {
            read: None,
            write: None,
            close: None,
            accept: None,
            alert: None,
        }
    }
}

impl<S: Stream + 'static> Clone for Callbacks<S> {
    fn clone(&self) -> Self {
        Callbacks {
            read: self.read.clone(),
            write: self.write.clone(),
            close: self.close.clone(),
            accept: self.accept.clone(),
            alert: self.alert.clone(),
        }
    }
}

impl<S: Stream + 'static> std::fmt::Debug for Callbacks<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callbacks")
            .field("read", &self.read.is_some())
            .field("write", &self.write.is_some())
            .field("close", &self.close.is_some())
            .field("accept", &self.accept.is_some())
            .field("alert", &self.alert.is_some())
            .finish()
    }
}

impl<S: Stream + 'static> Callbacks<S> {
    /// Callbacks that need input to be read (to deliver data or notice the end).
    fn want_input(&self) -> bool {
        self.read.is_some() || self.close.is_some() || self.alert.is_some()
    }
}

/// Callback-mode state, behind its own mutex (always locked after the state mutex).
pub(super) struct Dispatch<S: Stream + 'static> {
    pub(super) cbs: Callbacks<S>,
    /// The backend set with `set_backend`; held weakly, like every reference the crate
    /// keeps to a backend, so that dropping a backend's last handle frees it.
    pub(super) backend: Option<WeakBackend>,
    pub(super) watching: bool,
    interest: Option<Interest>,
    accept_fired: bool,
    finished: bool,
    /// A dispatch is scheduled as a call_out (see [`due_without_readiness`]).
    kick_pending: bool,
    /// The layer above watching this file as its transport (TLS over TLS), if any.
    pub(super) layer: Option<Layer>,
    pub(super) saved_stream_callbacks: Option<SavedCallbacks>,
}

impl<S: Stream + 'static> Dispatch<S> {
    pub(super) fn new(saved: SavedCallbacks, backend: Option<Backend>) -> Dispatch<S> {
        Dispatch {
            cbs: Callbacks::default(),
            backend: backend.as_ref().map(Backend::downgrade),
            watching: false,
            interest: None,
            accept_fired: false,
            finished: false,
            kick_pending: false,
            layer: None,
            saved_stream_callbacks: Some(saved),
        }
    }
}

/// A layer above (an `SslFile` whose transport is this file) watching this file: it is
/// told, level-triggered, when this file can be read or written for it.
pub(super) struct Layer {
    pub(super) on_ready: ReadyFn,
    pub(super) interest: Option<Interest>,
}

impl<S: Stream + 'static> Dispatch<S> {
    /// Input must be read: for a callback, or for the layer above.
    fn want_input(&self) -> bool {
        self.cbs.want_input()
            || self
                .layer
                .as_ref()
                .is_some_and(|l| l.interest.is_some_and(Interest::is_readable))
    }

    /// The layer above waits for this file to become writable.
    fn layer_wants_write(&self) -> bool {
        self.layer
            .as_ref()
            .is_some_and(|l| l.interest.is_some_and(Interest::is_writable))
    }
}

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

impl<S: Stream + 'static> SslFile<S> {
    /// Sets the read callback (`None` removes it).
    pub fn set_read_callback(&self, callback: Option<ReadCallback<S>>) {
        self.change_callbacks(|c| c.read = callback);
    }

    /// Sets the write callback (`None` removes it). It is never called during the
    /// handshake, and is called again and again while it stays installed and more can be
    /// written (level-triggered, like `Stdio.File`): remove it when done.
    pub fn set_write_callback(&self, callback: Option<WriteCallback<S>>) {
        self.change_callbacks(|c| c.write = callback);
    }

    /// Sets the close callback (`None` removes it).
    pub fn set_close_callback(&self, callback: Option<CloseCallback<S>>) {
        self.change_callbacks(|c| c.close = callback);
    }

    /// Sets the accept callback, called once when the handshake completes.
    pub fn set_accept_callback(&self, callback: Option<AcceptCallback<S>>) {
        self.change_callbacks(|c| c.accept = callback);
    }

    /// Sets the alert callback, for peers that do not speak TLS.
    pub fn set_alert_callback(&self, callback: Option<AlertCallback<S>>) {
        self.change_callbacks(|c| c.alert = callback);
    }

    /// Replaces all callbacks at once.
    pub fn set_callbacks(&self, callbacks: Callbacks<S>) {
        self.change_callbacks(|c| *c = callbacks);
    }

    /// The installed callbacks.
    pub fn callbacks(&self) -> Callbacks<S> {
        self.shared.lock_dispatch().cbs.clone()
    }

    /// The read callback.
    pub fn read_callback(&self) -> Option<ReadCallback<S>> {
        self.shared.lock_dispatch().cbs.read.clone()
    }

    /// The write callback.
    pub fn write_callback(&self) -> Option<WriteCallback<S>> {
        self.shared.lock_dispatch().cbs.write.clone()
    }

    /// The close callback.
    pub fn close_callback(&self) -> Option<CloseCallback<S>> {
        self.shared.lock_dispatch().cbs.close.clone()
    }

    /// The accept callback.
    pub fn accept_callback(&self) -> Option<AcceptCallback<S>> {
        self.shared.lock_dispatch().cbs.accept.clone()
    }

    /// The alert callback.
    pub fn alert_callback(&self) -> Option<AlertCallback<S>> {
        self.shared.lock_dispatch().cbs.alert.clone()
    }

    /// Pike's `set_nonblocking(read, write, close)`: nonblocking mode with these three
    /// callbacks (the accept and alert callbacks are kept).
    pub fn set_nonblocking_callbacks(
        &self,
        read: Option<ReadCallback<S>>,
        write: Option<WriteCallback<S>>,
        close: Option<CloseCallback<S>>,
    ) {
        self.shared.lock().blocking = false;
        self.change_callbacks(|c| {
            c.read = read;
            c.write = write;
            c.close = close;
        });
    }

    /// Nonblocking mode, keeping the callbacks.
    pub fn set_nonblocking_keep_callbacks(&self) {
        self.shared.lock().blocking = false;
    }

    /// Blocking mode, keeping the callbacks: they go on running in the backend while other
    /// code makes blocking calls ("callback mode ... also in blocking mode"). Each byte
    /// received goes either to the read callback or to a blocking `read`, never to both.
    pub fn set_blocking_keep_callbacks(&self) {
        self.shared.lock().blocking = true;
    }

    /// Runs the callbacks on `backend` from now on (moving a watched file there).
    pub fn set_backend(&self, backend: &Backend) {
        let moved = {
            let mut d = self.shared.lock_dispatch();
            d.backend = Some(backend.downgrade());
            std::mem::replace(&mut d.watching, false)
        };
        if moved {
            self.shared.transport().unwatch();
        }
        self.shared.rearm();
    }

    /// The backend the callbacks run on: the one set, else the transport's, else the
    /// process's default backend.
    pub fn backend(&self) -> Backend {
        self.shared.backend_for_callbacks()
    }

    pub(super) fn clear_callbacks(&self) {
        self.change_callbacks(|c| *c = Callbacks::default());
    }

    fn change_callbacks(&self, change: impl FnOnce(&mut Callbacks<S>)) {
        {
            let mut st = self.shared.lock();
            let mut d = self.shared.lock_dispatch();
            change(&mut d.cbs);
            st.plaintext_fallback = st.fallback_requested || d.cbs.alert.is_some();
            let fallback = st.plaintext_fallback;
            if let Some(engine) = st.engine.as_mut() {
                engine.set_quiet_if_not_tls(fallback);
            }
        }
        self.shared.rearm();
    }

    /// Prepares a protocol fallback without callbacks (blocking or nonblocking mode): if the
    /// peer turns out not to speak TLS (an HTTP request sent to a TLS port), it gets no
    /// alert; the handshake fails, [`is_plaintext_peer`](Self::is_plaintext_peer) says why,
    /// and [`take_stream`](Self::take_stream) gives the transport and what the peer sent, to
    /// answer in its protocol. An alert callback does the same in callback mode.
    ///
    /// ```
    /// use std::io::Write;
    /// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// # let ctx = sslfile::Context::builder()
    /// #     .certificate_chain_pem(cert.cert.pem().as_bytes(), cert.key_pair.serialize_pem().as_bytes())?
    /// #     .build()?;
    /// let (server_end, mut client) = sslfile::File::pipe()?;
    /// client.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    /// let tls = sslfile::SslFile::new(server_end, &ctx);
    /// tls.set_plaintext_fallback(true);
    /// tls.set_blocking();
    /// assert!(tls.accept().is_err());
    /// assert!(tls.is_plaintext_peer());
    /// let (plain, request) = tls.take_stream()?;
    /// assert!(request.starts_with(b"GET /"));
    /// (&plain).write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_plaintext_fallback(&self, enabled: bool) {
        let mut st = self.shared.lock();
        st.fallback_requested = enabled;
        let alert = self.shared.lock_dispatch().cbs.alert.is_some();
        st.plaintext_fallback = enabled || alert;
        let fallback = st.plaintext_fallback;
        if let Some(engine) = st.engine.as_mut() {
            engine.set_quiet_if_not_tls(fallback);
        }
    }

    /// True if the handshake failed because the peer does not speak TLS (it sent, say, an
    /// HTTP request): the case for a protocol fallback (see
    /// [`set_plaintext_fallback`](Self::set_plaintext_fallback)).
    pub fn is_plaintext_peer(&self) -> bool {
        let st = self.shared.lock();
        st.engine
            .as_ref()
            .is_some_and(|e| e.is_handshaking() && e.peer_not_tls())
    }

    /// Another handle to the same connection.
    pub(crate) fn handle(&self) -> SslFile<S> {
        SslFile {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: Stream + 'static> Shared<S> {
    pub(super) fn lock_dispatch(&self) -> std::sync::MutexGuard<'_, Dispatch<S>> {
        self.dispatch.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The backend set for the file, if it still exists (not the chain's fallbacks).
    fn own_backend(&self) -> Option<Backend> {
        self.lock_dispatch()
            .backend
            .as_ref()
            .and_then(WeakBackend::upgrade)
    }

    /// Where the file's callbacks run: the backend set with `set_backend`, else the
    /// transport's, else the process's default backend.
    pub(super) fn backend_for_callbacks(&self) -> Backend {
        self.own_backend()
            .or_else(|| self.transport().backend())
            .unwrap_or_else(Backend::default_backend)
    }

    /// Brings the watch in line with the callbacks and the engine: registers it, changes
    /// its interest, or drops it (releasing the backend's reference to the file).
    pub(super) fn rearm(self: &Arc<Self>) {
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
            let wanted = wanted_interest(&st, &d);
            let todo = match (wanted, d.watching) {
                (None, false) => Todo::Nothing,
                // Output still to deliver (e.g. session tickets) keeps the watch. The
                // interest is recorded like any other: a stale record would make the next
                // rearm skip restoring READ (found by faults_threaded: a deadlock).
                (None, true) if st.engine.as_ref().is_some_and(|e| e.wants_write()) => {
                    if d.interest == Some(Interest::WRITE) {
                        Todo::Nothing
                    } else {
                        d.interest = Some(Interest::WRITE);
                        Todo::Interest(Some(Interest::WRITE))
                    }
                }
                (None, true) => {
                    d.watching = false;
                    Todo::Unwatch
                }
                (Some(interest), false) => {
                    let backend = d
                        .backend
                        .as_ref()
                        .and_then(WeakBackend::upgrade)
                        .or_else(|| self.transport().backend())
                        .unwrap_or_else(Backend::default_backend);
                    d.watching = true;
                    d.interest = interest;
                    Todo::Watch(backend, interest)
                }
                (Some(interest), true) if d.interest == interest => Todo::Nothing,
                (Some(interest), true) => {
                    d.interest = interest;
                    Todo::Interest(interest)
                }
            };
            if wanted.is_some() && !d.kick_pending && due_without_readiness(&mut st, &d) {
                d.kick_pending = true;
                kick = Some(
                    d.backend
                        .as_ref()
                        .and_then(WeakBackend::upgrade)
                        .or_else(|| self.transport().backend())
                        .unwrap_or_else(Backend::default_backend),
                );
            }
            todo
        };
        self.watching.store(
            !matches!(todo, Todo::Unwatch)
                && (matches!(todo, Todo::Watch(..)) || self.lock_dispatch().watching),
            Ordering::Release,
        );
        match todo {
            Todo::Nothing => {}
            Todo::Watch(backend, interest) => {
                let shared = Arc::clone(self);
                let on_ready = Arc::new(move |_ready: Interest| dispatch(&shared));
                if self.transport().watch(&backend, on_ready).is_ok() {
                    let _ = self.transport().set_interest(interest);
                    backend.wake();
                } else {
                    self.lock_dispatch().watching = false;
                    self.watching.store(false, Ordering::Release);
                }
            }
            Todo::Interest(interest) => {
                let _ = self.transport().set_interest(interest);
            }
            Todo::Unwatch => self.transport().unwatch(),
        }
        if let Some(backend) = kick {
            // A weak handle: the watch keeps a file with callbacks alive; a kick must not
            // (into_stream waits for every other handle to go, and a kick queued on a
            // backend that this very thread runs would never go).
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
        // Handshake and idle timeouts are watched while the backend watches the file.
        let watching = self.lock_dispatch().watching;
        let timer_backend = watching.then(|| self.backend_for_callbacks());
        self.arm_timer(timer_backend.as_ref());
    }

    /// After a user operation: keep the watch's interest current if callbacks are active.
    pub(super) fn rearm_if_watching(self: &Arc<Self>) {
        let dispatching = DISPATCHING.get() == Arc::as_ptr(self) as usize;
        if !dispatching && self.watching.load(Ordering::Acquire) {
            self.rearm();
        }
    }
}

/// The readiness the watch should wait for; `None`: no watch needed.
fn wanted_interest<S: Stream + 'static>(st: &State, d: &Dispatch<S>) -> Option<Option<Interest>> {
    let engine = st.engine.as_ref()?;
    if let Some(closing) = &st.closing {
        // A background close: only its progress matters now.
        return Some(Some(closing.waiting_for()));
    }
    // An accept callback that already fired keeps nothing alive by itself.
    let live = d.cbs.want_input()
        || d.cbs.write.is_some()
        || (d.cbs.accept.is_some() && !d.accept_fired)
        || d.layer.is_some();
    if !live || d.finished || st.phase == Phase::Closed {
        return None;
    }
    let handshaking = engine.is_handshaking();
    let read = engine.wants_read() && (handshaking || d.want_input());
    let open = st.phase == Phase::Open && !st.write_shut && engine.error().is_none();
    let write = engine.wants_write()
        || ((d.cbs.write.is_some() || d.layer_wants_write())
            && open
            && !handshaking
            && !engine.peer_closed());
    Some(Interest::from_flags(read, write))
}

/// True if a callback is due that no readiness of the transport will announce: plaintext
/// the engine already decrypted, an end or failure it already saw (e.g. a handshake that
/// failed inside a nonblocking `accept`), a handshake that completed inside a user call.
/// Mirrors [`due_actions`], so that a dispatch it schedules always makes progress.
fn due_without_readiness<S: Stream + 'static>(st: &mut State, d: &Dispatch<S>) -> bool {
    if d.finished || !d.watching {
        return false;
    }
    let Some(engine) = st.engine.as_mut() else {
        return false;
    };
    let handshaking = engine.is_handshaking();
    let has_plaintext = engine.has_plaintext();
    let ended = engine.error().is_some() || engine.peer_closed() || engine.transport_eof();
    if d.layer.is_some() {
        // Level-triggered for the layer above: input it has not taken yet, or an end.
        return d.want_input() && (has_plaintext || ended);
    }
    (!handshaking && !d.accept_fired && engine.error().is_none())
        || (d.cbs.read.is_some() && has_plaintext)
        || (d.cbs.alert.is_some() && handshaking && engine.peer_not_tls())
        || (ended && !has_plaintext)
}

/// The backend found the transport ready: step the engine and run what is due.
fn dispatch<S: Stream + 'static>(shared: &Arc<Shared<S>>) {
    if shared.lock().closing.is_some() {
        shared.closing_step();
        return;
    }
    // Bounded: a stacked transport may hold more input than one step takes.
    for _ in 0..16 {
        let (actions, more) = {
            let mut st = shared.lock();
            let mut d = shared.lock_dispatch();
            if !d.watching || st.engine.is_none() {
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
        let ran = !actions.is_empty();
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
        if !more && !ran {
            break;
        }
        if !more {
            break;
        }
    }
}

/// Decides which callbacks are due, in order: accept, read, alert or close, write.
fn due_actions<S: Stream + 'static>(st: &mut State, d: &mut Dispatch<S>) -> Due<S> {
    let mut actions = Due::default();
    let open = st.phase == Phase::Open && !st.write_shut;
    let Some(engine) = st.engine.as_mut() else {
        return actions;
    };
    if d.finished {
        return actions;
    }
    if let Some(layer) = &d.layer {
        // The layer above reads and writes through us: tell it what would not block.
        let ended = engine.error().is_some() || engine.peer_closed() || engine.transport_eof();
        let readable = ended || engine.has_plaintext();
        let writable = !open
            || ended
            || engine.write_failed()
            || (!engine.is_handshaking() && !engine.wants_write());
        let want = layer.interest;
        if let Some(ready) = Interest::from_flags(
            want.is_some_and(Interest::is_readable) && readable,
            want.is_some_and(Interest::is_writable) && writable,
        ) {
            actions.push(Action::Layer(layer.on_ready.clone(), ready));
        }
        return actions;
    }
    let handshaking = engine.is_handshaking();
    if !handshaking && !d.accept_fired && engine.error().is_none() {
        d.accept_fired = true;
        if let Some(cb) = &d.cbs.accept {
            actions.push(Action::Accept(cb.clone()));
        }
    }
    if let Some(cb) = &d.cbs.read {
        let data = drain_plaintext(engine);
        if !data.is_empty() {
            actions.push(Action::Read(cb.clone(), data));
        } else {
            recycle(data);
        }
    }
    if let (Some(cb), Some(err)) = (&d.cbs.alert, engine.error()) {
        if handshaking && engine.peer_not_tls() {
            d.finished = true;
            actions.push(Action::Alert(
                cb.clone(),
                err.clone(),
                engine.first_bytes().to_vec(),
            ));
            return actions;
        }
    }
    let ended = engine.error().is_some() || engine.peer_closed() || engine.transport_eof();
    if ended {
        if !engine.has_plaintext() {
            d.finished = true;
            if let Some(cb) = &d.cbs.close {
                actions.push(Action::Close(cb.clone(), close_reason(engine)));
            }
        }
        return actions;
    }
    if !handshaking && open && !engine.wants_write() && engine.write_error().is_none() {
        if let Some(cb) = &d.cbs.write {
            actions.push(Action::Write(cb.clone()));
        }
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

    fn is_empty(&self) -> bool {
        self.len == 0
    }
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
