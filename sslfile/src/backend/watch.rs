//! Registrations of descriptors on a backend.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::{Arc, Weak};

use polling::{Event, PollMode};

use super::Inner;
use crate::interest::Interest;

/// What a watch calls when its descriptor is ready: the readiness seen.
pub type ReadyFn = Arc<dyn Fn(Interest) + Send + Sync + 'static>;

/// Something with a descriptor that a [`Watch`] keeps open while it is registered.
pub trait WatchSource: AsFd + Send + Sync + 'static {}
impl<T: AsFd + Send + Sync + 'static> WatchSource for T {}

/// A descriptor registered on a [`Backend`](super::Backend), level-triggered: its callback
/// runs on the backend for as long as the descriptor is ready for the interest set.
///
/// The watch holds a reference to its source, so the descriptor stays open while it is
/// registered; dropping the watch deregisters it.
pub struct Watch {
    backend: Weak<Inner>,
    key: usize,
    source: Arc<dyn WatchSource>,
    registered: bool,
}

impl Watch {
    pub(super) fn register(
        inner: &Arc<Inner>,
        source: Arc<dyn WatchSource>,
        interest: Option<Interest>,
        callback: ReadyFn,
    ) -> io::Result<Watch> {
        let key = inner
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(callback);
        let event = event_for(key, interest);
        // SAFETY: polling requires the descriptor to be deleted from the poller before it is
        // closed. The watch owns a reference to `source`, which keeps the descriptor open,
        // and deletes the registration in `Drop` before releasing that reference.
        #[allow(unsafe_code)]
        let added = unsafe {
            inner
                .poller
                .add_with_mode(source.as_fd().as_raw_fd(), event, PollMode::Level)
        };
        if let Err(e) = added {
            inner
                .sources
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(key);
            return Err(e);
        }
        Ok(Watch {
            backend: Arc::downgrade(inner),
            key,
            source,
            registered: true,
        })
    }

    /// Changes the readiness the callback waits for; `None`: none for now.
    pub fn set_interest(&self, interest: Option<Interest>) -> io::Result<()> {
        match self.backend.upgrade() {
            Some(inner) => inner.poller.modify_with_mode(
                self.source.as_fd(),
                event_for(self.key, interest),
                PollMode::Level,
            ),
            None => Ok(()),
        }
    }

    /// The backend this watch is registered on, if it still exists.
    pub fn backend(&self) -> Option<super::Backend> {
        self.backend.upgrade().map(|inner| super::Backend { inner })
    }

    /// Deregisters at once and hands the callback back, for the caller to drop once it
    /// holds no lock (the callback may own the last reference to what holds the watch).
    pub(crate) fn detach(mut self) -> Option<ReadyFn> {
        self.deregister()
    }

    fn deregister(&mut self) -> Option<ReadyFn> {
        if !std::mem::replace(&mut self.registered, false) {
            return None;
        }
        let inner = self.backend.upgrade()?;
        let _ = inner.poller.delete(self.source.as_fd());
        let callback = inner
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(self.key);
        callback
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // Dropped with no lock of the backend held.
        drop(self.deregister());
    }
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").field("key", &self.key).finish()
    }
}

fn event_for(key: usize, interest: Option<Interest>) -> Event {
    match interest {
        None => Event::none(key),
        Some(i) => Event::new(key, i.is_readable(), i.is_writable()),
    }
}
