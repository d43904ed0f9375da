//! The callbacks of a backend's watches, by key, with keys that are never reused within a
//! round: `run_once` holds a round's events by key, and a callback may remove a watch and
//! add another; were the new watch given the old key, a pending event of the removed watch
//! would run the new watch's callback. A key removed during a round is retired and freed
//! only when the round ends (calloop keeps such slots reserved for the same reason).

use slab::Slab;

use super::watch::ReadyFn;

#[derive(Default)]
pub(crate) struct Sources {
    slab: Slab<Option<ReadyFn>>,
    /// Keys removed during the current round, freed when it ends.
    retired: Vec<usize>,
    in_round: bool,
    live: usize,
}

impl Sources {
    /// Adds a callback; its key.
    pub(crate) fn insert(&mut self, callback: ReadyFn) -> usize {
        self.live += 1;
        self.slab.insert(Some(callback))
    }

    /// The callback of `key`, if that watch still exists.
    pub(crate) fn get(&self, key: usize) -> Option<ReadyFn> {
        self.slab.get(key).and_then(Clone::clone)
    }

    /// Removes a callback (returned, for the caller to drop outside the lock).
    pub(crate) fn remove(&mut self, key: usize) -> Option<ReadyFn> {
        let callback = self.slab.get_mut(key)?.take()?;
        self.live -= 1;
        if self.in_round {
            self.retired.push(key);
        } else {
            self.slab.remove(key);
        }
        Some(callback)
    }

    /// A round's events are about to be dispatched.
    pub(crate) fn begin_round(&mut self) {
        self.in_round = true;
    }

    /// The round's events were dispatched: retired keys may be used again.
    pub(crate) fn end_round(&mut self) {
        self.in_round = false;
        for key in self.retired.drain(..) {
            self.slab.remove(key);
        }
    }

    /// How many watches exist.
    pub(crate) fn len(&self) -> usize {
        self.live
    }
}
