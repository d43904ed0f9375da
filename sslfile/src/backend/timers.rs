//! The call_out queue: functions to run once, at or after a point in time.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

/// A function scheduled on a backend.
pub(super) type Job = Box<dyn FnOnce() + Send + 'static>;

/// Identifies a scheduled call_out, for [`Backend::remove_call_out`](super::Backend::remove_call_out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallOut(u64);

/// Pending call_outs, earliest first; removed ones are skipped lazily.
#[derive(Default)]
pub(super) struct Timers {
    queue: BinaryHeap<Reverse<(Instant, u64)>>,
    jobs: HashMap<u64, Job>,
    next_id: u64,
}

impl Timers {
    pub(super) fn add(&mut self, at: Instant, job: Job) -> CallOut {
        let id = self.next_id;
        self.next_id += 1;
        self.queue.push(Reverse((at, id)));
        self.jobs.insert(id, job);
        CallOut(id)
    }

    pub(super) fn remove(&mut self, id: CallOut) -> bool {
        self.jobs.remove(&id.0).is_some()
    }

    /// When the earliest live call_out is due.
    pub(super) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, id))) = self.queue.peek() {
            if self.jobs.contains_key(id) {
                return Some(*at);
            }
            self.queue.pop();
        }
        None
    }

    /// Takes one call_out due at `now`, if any.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Job> {
        while let Some(Reverse((at, id))) = self.queue.peek().copied() {
            if at > now {
                return None;
            }
            self.queue.pop();
            if let Some(job) = self.jobs.remove(&id) {
                return Some(job);
            }
        }
        None
    }

    pub(super) fn len(&self) -> usize {
        self.jobs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn due_jobs_come_out_in_time_order_and_removed_ones_never() {
        let mut timers = Timers::default();
        let now = Instant::now();
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mk = |n: u32| -> Job {
            let order = order.clone();
            Box::new(move || order.lock().unwrap().push(n))
        };
        timers.add(now + Duration::from_millis(20), mk(2));
        let gone = timers.add(now + Duration::from_millis(5), mk(99));
        timers.add(now + Duration::from_millis(10), mk(1));
        assert!(timers.remove(gone));
        assert!(!timers.remove(gone));
        assert_eq!(
            timers.next_deadline(),
            Some(now + Duration::from_millis(10))
        );
        assert!(timers.pop_due(now).is_none());
        while let Some(job) = timers.pop_due(now + Duration::from_secs(1)) {
            job();
        }
        assert_eq!(*order.lock().unwrap(), vec![1, 2]);
        assert_eq!(timers.len(), 0);
    }
}
