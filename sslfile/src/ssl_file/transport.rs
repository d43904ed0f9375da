//! The slot that holds a connection's transport, so that it can be handed over
//! ([`SslFile::take_stream`](super::SslFile::take_stream)) through a shared reference, even
//! from inside one of the file's own callbacks.
//!
//! Every use of the transport takes the slot's read lock for the length of one call (a
//! blocking `wait` included); handing it over takes the write lock, which it only tries for,
//! so it never waits behind a thread blocked on the file.

use std::any::Any;
use std::io::{self, IoSlice};
use std::ops::Deref;
use std::sync::{RwLock, RwLockReadGuard, TryLockError};
use std::time::{Duration, Instant};

use crate::backend::{Backend, ReadyFn};
use crate::interest::Interest;
use crate::stream::{Addr, Stream, Watchable};

/// The transport, until it is handed over.
pub(super) struct TransportSlot<S> {
    inner: RwLock<Option<S>>,
}

/// A borrowed transport: see [`SslFile::stream`](super::SslFile::stream).
pub struct StreamRef<'a, S>(RwLockReadGuard<'a, Option<S>>);

impl<S> Deref for StreamRef<'_, S> {
    type Target = S;
    fn deref(&self) -> &S {
        self.0
            .as_ref()
            .expect("a StreamRef is only made while the transport is in its slot")
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for StreamRef<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

/// The error of every use of a transport that was handed over.
fn handed_over() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the transport was handed over (take_stream or into_stream)",
    )
}

impl<S: Stream> TransportSlot<S> {
    pub(super) fn new(transport: S) -> TransportSlot<S> {
        TransportSlot {
            inner: RwLock::new(Some(transport)),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&S) -> io::Result<T>) -> io::Result<T> {
        match &*self.inner.read().unwrap_or_else(|e| e.into_inner()) {
            Some(transport) => f(transport),
            None => Err(handed_over()),
        }
    }

    fn with_watchable<T>(&self, f: impl FnOnce(&dyn Watchable) -> io::Result<T>) -> io::Result<T> {
        self.with(|s| match s.watchable() {
            Some(w) => f(w),
            None => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this stream cannot be used in callback mode",
            )),
        })
    }

    /// Borrows the transport, if it is still here.
    pub(super) fn borrow(&self) -> Option<StreamRef<'_, S>> {
        let guard = self.inner.read().unwrap_or_else(|e| e.into_inner());
        guard.is_some().then(|| StreamRef(guard))
    }

    /// True until the transport is handed over.
    pub(super) fn is_present(&self) -> bool {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Hands the transport over: `Ok(None)` if it is gone already, `Err` if other threads
    /// kept using it (a blocking call on the file in another thread) until `patience` ran out.
    pub(super) fn take(&self, patience: Duration) -> io::Result<Option<S>> {
        let deadline = Instant::now() + patience;
        loop {
            match self.inner.try_write() {
                Ok(mut slot) => return Ok(slot.take()),
                Err(TryLockError::Poisoned(e)) => return Ok(e.into_inner().take()),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "another thread is blocked on the file: \
                         its transport cannot be handed over now",
                    ))
                }
            }
        }
    }

    /// The transport, for the owner of the slot (no other reference exists).
    pub(super) fn get_mut(&mut self) -> &mut Option<S> {
        self.inner.get_mut().unwrap_or_else(|e| e.into_inner())
    }
}

impl<S: Stream> Stream for TransportSlot<S> {
    fn watchable(&self) -> Option<&dyn Watchable> {
        let watchable = self.with(|s| Ok(s.watchable().is_some())).unwrap_or(false);
        watchable.then_some(self as &dyn Watchable)
    }

    fn read_nb(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.with(|s| s.read_nb(buf))
    }

    fn write_nb(&self, buf: &[u8]) -> io::Result<usize> {
        self.with(|s| s.write_nb(buf))
    }

    fn write_vectored_nb(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.with(|s| s.write_vectored_nb(bufs))
    }

    fn flush_nb(&self) -> io::Result<()> {
        self.with(|s| s.flush_nb())
    }

    fn wait(&self, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
        self.with(|s| s.wait(interest, deadline))
    }

    fn shutdown_write(&self) -> io::Result<()> {
        self.with(|s| s.shutdown_write())
    }

    fn close(&self) -> io::Result<()> {
        match self.with(|s| s.close()) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected && !self.is_present() => Ok(()),
            other => other,
        }
    }

    fn unacknowledged_output(&self) -> Option<usize> {
        self.with(|s| Ok(s.unacknowledged_output())).ok().flatten()
    }

    fn timeout(&self) -> Option<Duration> {
        self.with(|s| Ok(s.timeout())).ok().flatten()
    }

    fn unread(&self, bytes: &[u8]) -> io::Result<()> {
        self.with(|s| s.unread(bytes))
    }

    fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.with(|s| s.set_linger(linger))
    }

    fn peer_addr(&self) -> io::Result<Addr> {
        self.with(|s| s.peer_addr())
    }

    fn local_addr(&self) -> io::Result<Addr> {
        self.with(|s| s.local_addr())
    }
}

/// The transport's watch, through the slot: `Unsupported` for a transport that cannot be
/// watched, `NotConnected` once it was handed over.
impl<S: Stream> Watchable for TransportSlot<S> {
    fn watch(&self, backend: &Backend, on_ready: ReadyFn) -> io::Result<()> {
        self.with_watchable(|w| w.watch(backend, on_ready))
    }

    fn set_interest(&self, interest: Option<Interest>) -> io::Result<()> {
        self.with_watchable(|w| w.set_interest(interest))
    }

    fn unwatch(&self) {
        let _ = self.with_watchable(|w| {
            w.unwatch();
            Ok(())
        });
    }

    fn backend(&self) -> Option<Backend> {
        self.with_watchable(|w| Ok(w.backend())).ok().flatten()
    }

    fn has_buffered_input(&self) -> bool {
        self.with_watchable(|w| Ok(w.has_buffered_input()))
            .unwrap_or(false)
    }

    fn park_callbacks(&self) -> Option<Box<dyn Any + Send>> {
        self.with_watchable(|w| Ok(w.park_callbacks()))
            .ok()
            .flatten()
    }

    fn unpark_callbacks(&self, parked: Box<dyn Any + Send>) {
        let _ = self.with_watchable(|w| {
            w.unpark_callbacks(parked);
            Ok(())
        });
    }
}
