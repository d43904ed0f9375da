//! Two tasks (a read half and a write half) waiting on one socket's readiness.
//!
//! Runtime reactors keep one waker per direction of a registration: tokio's
//! `AsyncFd::poll_read_ready` and async-io's `Async::poll_readable` wake only the waker of
//! the most recent call. When both halves of a split stream wait for the same direction
//! (the read half flushing output the write half queued, or both during a handshake),
//! the second call would silently replace the first task's waker and that task would
//! sleep forever. [`Waiters`] gives the reactor one waker per direction that wakes every
//! task waiting on it, and [`Readiness::taken`] tells a task that the other one consumed
//! an event in between, so it tries again instead of waiting for an edge that has passed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};

use super::Side;

/// The tasks waiting for one direction of readiness, one slot per side.
#[derive(Default)]
pub(crate) struct Waiters {
    slots: Mutex<[Option<Waker>; 2]>,
}

impl Waiters {
    /// Records `waker` as the one to wake for `side` (replacing that side's previous one).
    fn set(&self, side: Side, waker: &Waker) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        match &mut slots[side as usize] {
            Some(kept) if kept.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }

    /// Wakes the other side if it waits. This side's waker stays: the reactor may be
    /// polled again with it before this side returns `Pending`.
    fn wake_other(&self, side: Side) {
        let other = self.slots.lock().unwrap_or_else(|e| e.into_inner())[1 - side as usize].take();
        if let Some(waker) = other {
            waker.wake();
        }
    }
}

impl Wake for Waiters {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let taken = std::mem::take(&mut *self.slots.lock().unwrap_or_else(|e| e.into_inner()));
        for waker in taken.into_iter().flatten() {
            waker.wake();
        }
    }
}

/// Both directions' waiters of one socket, and a count of readiness events each side
/// consumed.
pub(crate) struct Readiness {
    readable: Arc<Waiters>,
    writable: Arc<Waiters>,
    readable_waker: Waker,
    writable_waker: Waker,
    consumed: [AtomicU64; 2],
}

impl Default for Readiness {
    fn default() -> Self {
        let readable = Arc::new(Waiters::default());
        let writable = Arc::new(Waiters::default());
        Readiness {
            readable_waker: Waker::from(readable.clone()),
            writable_waker: Waker::from(writable.clone()),
            readable,
            writable,
            consumed: Default::default(),
        }
    }
}

impl Readiness {
    /// The waker to give the reactor when `side` waits to read, `waker` being its task's.
    pub(crate) fn wait_readable(&self, side: Side, waker: &Waker) -> &Waker {
        self.readable.set(side, waker);
        &self.readable_waker
    }

    /// The waker to give the reactor when `side` waits to write.
    pub(crate) fn wait_writable(&self, side: Side, waker: &Waker) -> &Waker {
        self.writable.set(side, waker);
        &self.writable_waker
    }

    /// `side` consumed a read-readiness event: the other side, if it waits for one, is
    /// woken to try again (the edge it waits for may be the one just taken).
    pub(crate) fn took_readable(&self, side: Side) {
        self.consumed[side as usize].fetch_add(1, Ordering::SeqCst);
        self.readable.wake_other(side);
    }

    /// `side` consumed a write-readiness event.
    pub(crate) fn took_writable(&self, side: Side) {
        self.consumed[side as usize].fetch_add(1, Ordering::SeqCst);
        self.writable.wake_other(side);
    }

    /// A mark for `side` to compare with [`taken`](Self::taken) later.
    pub(crate) fn mark(&self, side: Side) -> u64 {
        self.consumed[1 - side as usize].load(Ordering::SeqCst)
    }

    /// Whether the other side consumed a readiness event since `side` made `mark`: the
    /// task of `side`, about to wait, must try its operation again instead.
    pub(crate) fn taken(&self, side: Side, mark: u64) -> bool {
        self.consumed[1 - side as usize].load(Ordering::SeqCst) != mark
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }

    #[test]
    fn the_reactors_one_waker_wakes_both_sides_waiting_for_the_same_direction() {
        let readiness = Readiness::default();
        let (reads, read_task) = counter();
        let (writes, write_task) = counter();
        readiness.wait_writable(Side::Write, &write_task);
        // The read half now waits to write too; a reactor keeps only this last waker.
        let kept = readiness.wait_writable(Side::Read, &read_task).clone();
        kept.wake();
        assert_eq!(reads.0.load(Ordering::SeqCst), 1);
        assert_eq!(writes.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn consuming_an_event_wakes_the_other_side_and_moves_the_mark() {
        let readiness = Readiness::default();
        let (writes, write_task) = counter();
        let (reads, read_task) = counter();
        let write_mark = readiness.mark(Side::Write);
        let read_mark = readiness.mark(Side::Read);
        readiness.wait_readable(Side::Write, &write_task);
        readiness.wait_readable(Side::Read, &read_task);
        readiness.took_readable(Side::Read);
        assert!(readiness.taken(Side::Write, write_mark));
        assert!(
            !readiness.taken(Side::Read, read_mark),
            "only the other side's count"
        );
        assert_eq!(writes.0.load(Ordering::SeqCst), 1);
        assert_eq!(
            reads.0.load(Ordering::SeqCst),
            0,
            "the side that took it runs"
        );
    }
}
