//! A progress line on stderr for runs longer than a second: "sslfile blocking: 1.5 s,
//! 1834 MiB/s", rewritten in place four times a second and erased at the end.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// What the counter counts.
#[derive(Debug, Clone, Copy)]
pub enum Unit {
    /// Bytes: shown as MiB/s.
    Bytes,
    /// Events (handshakes): shown per second.
    Events,
}

/// Rate in `unit` of `amount` over `elapsed`, formatted.
pub fn rate(amount: u64, elapsed: Duration, unit: Unit) -> String {
    let per_second = amount as f64 / elapsed.as_secs_f64().max(1e-9);
    match unit {
        Unit::Bytes => format!("{:.1} MiB/s", per_second / (1024.0 * 1024.0)),
        Unit::Events => format!("{per_second:.0} /s"),
    }
}

/// A running progress display; dropping it stops and erases it.
pub struct Progress {
    counter: Arc<AtomicU64>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts counting; shows the line from the first second on if `visible`.
    pub fn start(label: &str, unit: Unit, visible: bool) -> Progress {
        let counter = Arc::new(AtomicU64::new(0));
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let thread = visible.then(|| {
            let (counter, stop, label) = (counter.clone(), stop.clone(), label.to_string());
            thread::spawn(move || show(&label, unit, &counter, &stop))
        });
        Progress {
            counter,
            stop,
            thread,
        }
    }

    /// The counter itself, for code that cannot borrow the `Progress` (callbacks).
    pub fn counter(&self) -> Arc<AtomicU64> {
        self.counter.clone()
    }

    /// Adds to the count.
    pub fn add(&self, amount: u64) {
        self.counter.fetch_add(amount, Ordering::Relaxed);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        *self.stop.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.stop.1.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn show(label: &str, unit: Unit, counter: &AtomicU64, stop: &(Mutex<bool>, Condvar)) {
    let start = Instant::now();
    let mut shown = 0;
    let mut stopped = stop.0.lock().unwrap_or_else(|e| e.into_inner());
    while !*stopped {
        stopped = stop
            .1
            .wait_timeout(stopped, Duration::from_millis(250))
            .unwrap_or_else(|e| e.into_inner())
            .0;
        let elapsed = start.elapsed();
        if !*stopped && elapsed >= Duration::from_secs(1) {
            let line = format!(
                "  {label}: {:.1} s, {}",
                elapsed.as_secs_f64(),
                rate(counter.load(Ordering::Relaxed), elapsed, unit)
            );
            eprint!("\r{line:<shown$}");
            shown = line.len();
            let _ = std::io::stderr().flush();
        }
    }
    if shown > 0 {
        eprint!("\r{:shown$}\r", "");
        let _ = std::io::stderr().flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_per_second_in_their_unit() {
        assert_eq!(
            rate(3 * 1024 * 1024, Duration::from_secs(2), Unit::Bytes),
            "1.5 MiB/s"
        );
        assert_eq!(
            rate(500, Duration::from_millis(250), Unit::Events),
            "2000 /s"
        );
    }
}
