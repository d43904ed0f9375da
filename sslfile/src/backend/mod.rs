//! [`Backend`]: a callback event loop (Pike's `Pike.Backend`) on the `polling` crate.
//!
//! Why `polling` and not mio: its level-triggered mode is exactly the `Stdio.File` contract
//! (a callback keeps being called while its descriptor is ready and the interest is set),
//! so drivers need no "drain until `WouldBlock`" bookkeeping; its `notify` gives the
//! cross-thread wake-up; and its epoll descriptor is exposed, so a backend can be nested in
//! another event loop.
//!
//! Callbacks run on the thread that runs the backend, with no backend lock held: a
//! callback may register, change or drop watches, schedule or remove call_outs, or stop the
//! backend.

mod sources;
mod timers;
mod watch;

use std::io;
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use polling::{Events, Poller};

pub use timers::CallOut;
pub use watch::{ReadyFn, Watch, WatchSource};

use crate::interest::Interest;
use timers::Timers;

/// A callback event loop: readiness callbacks on descriptors and timed call_outs.
///
/// `Backend` is a cheap, `Send + Sync` handle: clones refer to the same loop, so any
/// thread can schedule call_outs, wake it or stop it. One thread at a time runs it.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
/// use std::time::Duration;
///
/// let backend = sslfile::Backend::new()?;
/// let count = Arc::new(AtomicU32::new(0));
/// let c = count.clone();
/// backend.call_out(Duration::from_millis(5), move || { c.fetch_add(1, Ordering::SeqCst); });
/// let removed = backend.call_out(Duration::ZERO, || unreachable!());
/// assert!(backend.remove_call_out(removed));
/// let stopper = backend.clone();
/// backend.call_out(Duration::from_millis(10), move || stopper.stop());
/// backend.run()?;
/// assert_eq!(count.load(Ordering::SeqCst), 1);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Backend {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    poller: Poller,
    sources: Mutex<sources::Sources>,
    timers: Mutex<Timers>,
    /// Held by the thread running the backend; holds the event buffer.
    runner: Mutex<Events>,
    stop: AtomicBool,
    /// Connections whose close is still at work here (see [`CloseTicket`]).
    closing: AtomicUsize,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("fd", &self.inner.poller.as_raw_fd())
            .field("watches", &self.watch_count())
            .finish()
    }
}

/// A reference to a backend that does not keep it alive: what the crate's own objects
/// (files, timers, background closes) keep, so that a backend whose last [`Backend`] handle
/// is dropped is freed, and with it the watches and call_outs it held.
#[derive(Clone)]
pub(crate) struct WeakBackend(Weak<Inner>);

impl WeakBackend {
    /// The backend, if a handle to it still exists.
    pub(crate) fn upgrade(&self) -> Option<Backend> {
        self.0.upgrade().map(|inner| Backend { inner })
    }

    /// True if this refers to `backend`.
    pub(crate) fn is(&self, backend: &Backend) -> bool {
        std::ptr::eq(self.0.as_ptr(), Arc::as_ptr(&backend.inner))
    }
}

/// Counts a connection whose close is at work on a backend until it is dropped (see
/// [`Backend::closing_connections`]).
pub(crate) struct CloseTicket(WeakBackend);

impl Drop for CloseTicket {
    fn drop(&mut self) {
        if let Some(backend) = self.0.upgrade() {
            backend.inner.closing.fetch_sub(1, Ordering::AcqRel);
            backend.wake();
        }
    }
}

impl std::fmt::Debug for CloseTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CloseTicket")
    }
}

impl std::fmt::Debug for WeakBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WeakBackend")
    }
}

impl PartialEq for Backend {
    fn eq(&self, other: &Backend) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Backend {}

impl Backend {
    /// A new, empty backend.
    pub fn new() -> io::Result<Backend> {
        let poller = Poller::new()?;
        if !poller.supports_level() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this system's poller has no level-triggered mode",
            ));
        }
        Ok(Backend {
            inner: Arc::new(Inner {
                poller,
                sources: Mutex::new(sources::Sources::default()),
                timers: Mutex::new(Timers::default()),
                runner: Mutex::new(Events::with_capacity(
                    NonZeroUsize::new(1024).expect("non-zero"),
                )),
                stop: AtomicBool::new(false),
                closing: AtomicUsize::new(0),
            }),
        })
    }

    /// A reference that does not keep the backend alive.
    pub(crate) fn downgrade(&self) -> WeakBackend {
        WeakBackend(Arc::downgrade(&self.inner))
    }

    /// The process-wide default backend (Pike's default backend), run by a thread of its
    /// own that is started on first use. Files in callback mode use it unless given another
    /// with `set_backend`.
    pub fn default_backend() -> Backend {
        static DEFAULT: OnceLock<Backend> = OnceLock::new();
        DEFAULT
            .get_or_init(|| {
                let backend = Backend::new().expect("cannot create the default backend");
                let runner = backend.clone();
                std::thread::Builder::new()
                    .name("sslfile-backend".into())
                    .spawn(move || loop {
                        if let Err(e) = runner.run_once(None) {
                            log::warn!("sslfile default backend: {e}");
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    })
                    .expect("cannot start the default backend thread");
                backend
            })
            .clone()
    }

    /// Registers `source`'s descriptor: `callback` runs on this backend for as long as it
    /// is ready for `interest` (level-triggered). Drop the returned [`Watch`] to stop.
    pub fn watch(
        &self,
        source: Arc<dyn WatchSource>,
        interest: Option<Interest>,
        callback: ReadyFn,
    ) -> io::Result<Watch> {
        Watch::register(&self.inner, source, interest, callback)
    }

    /// Runs `f` on this backend once `delay` has passed (Pike's `call_out`). From any
    /// thread; the backend is woken to take the new deadline into account.
    pub fn call_out(&self, delay: Duration, f: impl FnOnce() + Send + 'static) -> CallOut {
        let id = self
            .inner
            .timers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(Instant::now() + delay, Box::new(f));
        self.wake();
        id
    }

    /// Cancels a call_out; false if it already ran or was removed.
    pub fn remove_call_out(&self, id: CallOut) -> bool {
        self.inner
            .timers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id)
    }

    /// Wakes the thread running the backend (from any thread).
    pub fn wake(&self) {
        let _ = self.inner.poller.notify();
    }

    /// Makes [`run`](Self::run) return after the current round (from any thread).
    pub fn stop(&self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// True (once) if [`stop`](Self::stop) was called: for loops that run rounds themselves.
    #[cfg(feature = "tokio")]
    pub(crate) fn take_stop(&self) -> bool {
        self.inner.stop.swap(false, Ordering::SeqCst)
    }

    /// Runs rounds until [`stop`](Self::stop) is called. A `stop` that comes before `run`
    /// starts is not lost: `run` then returns at once. Each `stop` ends one `run`.
    pub fn run(&self) -> io::Result<()> {
        while !self.inner.stop.swap(false, Ordering::SeqCst) {
            self.run_once(None)?;
        }
        Ok(())
    }

    /// One round: waits up to `timeout` (`None`: until something happens) for ready
    /// descriptors or due call_outs, and runs their callbacks. Returns how many ran.
    pub fn run_once(&self, timeout: Option<Duration>) -> io::Result<usize> {
        let mut events = self.inner.runner.lock().unwrap_or_else(|e| e.into_inner());
        let wait = match (timeout, self.next_timeout()) {
            (None, next) => next,
            (Some(t), None) => Some(t),
            (Some(t), Some(next)) => Some(t.min(next)),
        };
        events.clear();
        match self.inner.poller.wait(&mut events, wait) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        let mut ran = 0;
        self.lock_sources().begin_round();
        for event in events.iter() {
            let callback = self.lock_sources().get(event.key);
            let ready = Interest::from_flags(event.readable, event.writable);
            if let (Some(callback), Some(ready)) = (callback, ready) {
                callback(ready);
                ran += 1;
            }
        }
        self.lock_sources().end_round();
        drop(events);
        let now = Instant::now();
        loop {
            let job = self
                .inner
                .timers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_due(now);
            match job {
                Some(job) => {
                    job();
                    ran += 1;
                }
                None => break,
            }
        }
        Ok(ran)
    }

    /// How long until the next call_out is due (zero if overdue), for a loop that nests
    /// this backend: wait on [`as_raw_fd`](AsRawFd::as_raw_fd) for readability or this
    /// timeout, then call `run_once(Some(Duration::ZERO))`.
    pub fn next_timeout(&self) -> Option<Duration> {
        self.inner
            .timers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_deadline()
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Counts a close that is at work on this backend, until the ticket is dropped.
    pub(crate) fn close_ticket(&self) -> CloseTicket {
        self.inner.closing.fetch_add(1, Ordering::AcqRel);
        CloseTicket(self.downgrade())
    }

    /// How many connections are still closing on this backend: delivering what they wrote
    /// and their close_notify, or waiting for the peer to close its end (a lingering close,
    /// see [`SslFile::close`](crate::SslFile::close)), after a nonblocking `close`, a
    /// blocking one, or a drop.
    pub fn closing_connections(&self) -> usize {
        self.inner.closing.load(Ordering::Acquire)
    }

    /// Runs the backend until no connection is closing on it any more, or until `timeout`
    /// passed; true if they all finished. For a program that is about to stop running its
    /// backend (or to exit) and wants the close_notifys of the connections it closed or
    /// dropped delivered first.
    ///
    /// ```
    /// use std::time::Duration;
    /// let backend = sslfile::Backend::new()?;
    /// assert_eq!(backend.closing_connections(), 0);
    /// assert!(backend.run_until_closed(Duration::from_secs(1))?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn run_until_closed(&self, timeout: Duration) -> io::Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.closing_connections() == 0 {
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            self.run_once(Some(left))?;
        }
    }

    /// How many descriptors are watched (for tests and statistics).
    pub fn watch_count(&self) -> usize {
        self.lock_sources().len()
    }

    fn lock_sources(&self) -> std::sync::MutexGuard<'_, sources::Sources> {
        self.inner.sources.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many call_outs are pending.
    pub fn call_out_count(&self) -> usize {
        self.inner
            .timers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

impl AsRawFd for Backend {
    /// The poller's descriptor: readable whenever the backend has descriptor events or a
    /// wake-up to process (call_outs: see [`Backend::next_timeout`]).
    fn as_raw_fd(&self) -> RawFd {
        self.inner.poller.as_raw_fd()
    }
}

impl AsFd for Backend {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.poller.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn a_watch_is_level_triggered_and_dropping_it_stops_the_callbacks() {
        let backend = Backend::new().unwrap();
        let (a, mut b) = UnixStream::pair().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let watch = backend
            .watch(
                Arc::new(a),
                Some(Interest::READ),
                Arc::new(move |ready| {
                    assert!(ready.is_readable());
                    h.fetch_add(1, Ordering::SeqCst);
                }),
            )
            .unwrap();
        assert_eq!(
            backend.run_once(Some(Duration::from_millis(10))).unwrap(),
            0
        );
        b.write_all(b"x").unwrap();
        // Nobody reads the byte: level-triggered, so it fires every round.
        for _ in 0..3 {
            assert_eq!(
                backend.run_once(Some(Duration::from_millis(100))).unwrap(),
                1
            );
        }
        watch.set_interest(None).unwrap();
        assert_eq!(
            backend.run_once(Some(Duration::from_millis(10))).unwrap(),
            0
        );
        watch.set_interest(Some(Interest::READ)).unwrap();
        assert_eq!(
            backend.run_once(Some(Duration::from_millis(100))).unwrap(),
            1
        );
        assert_eq!(backend.watch_count(), 1);
        drop(watch);
        assert_eq!(backend.watch_count(), 0);
        assert_eq!(
            backend.run_once(Some(Duration::from_millis(10))).unwrap(),
            0
        );
        assert_eq!(hits.load(Ordering::SeqCst), 4);
    }

    /// A callback removes another watch whose event is pending in the same round and adds a
    /// new watch: the new one must not inherit the removed one's key, or that pending event
    /// would run the new watch's callback.
    #[test]
    fn a_watch_added_during_a_round_never_gets_an_event_of_one_removed_in_it() {
        let backend = Backend::new().unwrap();
        let (a, mut a_peer) = UnixStream::pair().unwrap();
        let (b, mut b_peer) = UnixStream::pair().unwrap();
        let (c, mut c_peer) = UnixStream::pair().unwrap();
        for peer in [&mut a_peer, &mut b_peer, &mut c_peer] {
            peer.write_all(b"x").unwrap(); // all three readable
        }
        let c = Arc::new(c);
        let watches: Arc<Mutex<Vec<Option<Watch>>>> = Arc::new(Mutex::new(Vec::new()));
        let newcomer_ran = Arc::new(AtomicUsize::new(0));
        let swapped = Arc::new(AtomicBool::new(false));
        for (me, source) in [(0usize, Arc::new(a)), (1, Arc::new(b))] {
            let (watches2, newcomer_ran, swapped, backend2, c) = (
                watches.clone(),
                newcomer_ran.clone(),
                swapped.clone(),
                backend.clone(),
                c.clone(),
            );
            let callback: ReadyFn = Arc::new(move |_| {
                if swapped.swap(true, Ordering::SeqCst) {
                    return;
                }
                // Remove the other watch (its event is pending) and add a new one.
                let other = watches2.lock().unwrap()[1 - me].take();
                drop(other);
                let ran = newcomer_ran.clone();
                let newcomer = backend2
                    .watch(
                        c.clone(),
                        Some(Interest::READ),
                        Arc::new(move |_| {
                            ran.fetch_add(1, Ordering::SeqCst);
                        }),
                    )
                    .unwrap();
                watches2.lock().unwrap().push(Some(newcomer));
            });
            let watch = backend
                .watch(source, Some(Interest::READ), callback)
                .unwrap();
            watches.lock().unwrap().push(Some(watch));
        }
        backend.run_once(Some(Duration::from_millis(100))).unwrap();
        assert!(swapped.load(Ordering::SeqCst));
        assert_eq!(
            newcomer_ran.load(Ordering::SeqCst),
            0,
            "the removed watch's event ran the new watch's callback"
        );
        // Its own readiness reaches it in the next round.
        backend.run_once(Some(Duration::from_millis(100))).unwrap();
        assert_eq!(newcomer_ran.load(Ordering::SeqCst), 1);
        assert_eq!(backend.watch_count(), 2);
    }

    #[test]
    fn a_stop_before_run_is_not_lost() {
        let backend = Backend::new().unwrap();
        backend.stop();
        backend.run().unwrap(); // returns at once
                                // The stop was used up: the next run needs a stop of its own.
        let stopper = backend.clone();
        backend.call_out(Duration::from_millis(5), move || stopper.stop());
        backend.run().unwrap();
    }

    #[test]
    fn another_thread_can_schedule_and_stop() {
        let backend = Backend::new().unwrap();
        let remote = backend.clone();
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let stopper = remote.clone();
            remote.call_out(Duration::ZERO, move || {
                r.store(true, Ordering::SeqCst);
                stopper.stop();
            });
        });
        backend.run().unwrap();
        t.join().unwrap();
        assert!(ran.load(Ordering::SeqCst));
    }

    #[test]
    fn call_outs_are_exact_to_the_millisecond_scale() {
        let backend = Backend::new().unwrap();
        let start = Instant::now();
        let fired = Arc::new(Mutex::new(None));
        let f = fired.clone();
        let stopper = backend.clone();
        backend.call_out(Duration::from_millis(30), move || {
            *f.lock().unwrap() = Some(start.elapsed());
            stopper.stop();
        });
        backend.run().unwrap();
        let elapsed = fired.lock().unwrap().unwrap();
        assert!(elapsed >= Duration::from_millis(30), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(200), "{elapsed:?}");
    }
}
