//! A backend run by a thread of its own, for the tests that need one running.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use sslfile::Backend;

use super::TIMEOUT;

/// A backend run by a thread of its own; stopped and joined on drop.
pub struct Running {
    pub backend: Backend,
    thread: Option<thread::JoinHandle<()>>,
}

impl Running {
    /// A new backend, running once this returns.
    pub fn new() -> Running {
        let backend = Backend::new().unwrap();
        let thread = run_in_thread(&backend);
        // `run()` clears an earlier `stop()`: make sure it is running before anyone may
        // stop it, or the stop could be lost and the join hang.
        let (tx, rx) = mpsc::channel();
        backend.call_out(Duration::ZERO, move || {
            let _ = tx.send(());
        });
        rx.recv_timeout(TIMEOUT).expect("the backend runs");
        Running {
            backend,
            thread: Some(thread),
        }
    }
}

impl Default for Running {
    fn default() -> Self {
        Running::new()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.backend.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs `backend` in a thread of its own until it is stopped.
pub fn run_in_thread(backend: &Backend) -> thread::JoinHandle<()> {
    let b = backend.clone();
    thread::spawn(move || b.run().unwrap())
}
