//! Every open connection of the server, so that Ctrl-C can close each one with
//! close_notify, whatever mode or thread serves it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use sslfile::SslFile;

use crate::failure::{Context, Failure};

/// How long closing all connections at shutdown may take in all.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(3);

/// The server's open connections.
#[derive(Default)]
pub struct Connections {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    stopping: bool,
    next_id: u64,
    open: HashMap<u64, Arc<SslFile>>,
}

impl Connections {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a new connection; `None` once the server is stopping (close it then).
    pub fn add(&self, file: Arc<SslFile>) -> Option<u64> {
        let mut state = self.lock();
        if state.stopping {
            return None;
        }
        state.next_id += 1;
        let id = state.next_id;
        state.open.insert(id, file);
        Some(id)
    }

    /// Forgets a connection that ended.
    pub fn remove(&self, id: u64) {
        let file = self.lock().open.remove(&id);
        drop(file); // outside the lock: it may free the connection
    }

    /// Stops accepting and closes every connection with close_notify, each in blocking
    /// mode (its callbacks removed), all within `limit`. Returns how many were closed.
    pub fn close_all(&self, limit: Duration) -> usize {
        let open = {
            let mut state = self.lock();
            state.stopping = true;
            std::mem::take(&mut state.open)
        };
        let deadline = Instant::now() + limit;
        let count = open.len();
        for file in open.into_values() {
            file.set_blocking();
            let left = deadline.saturating_duration_since(Instant::now());
            file.set_timeout(Some(left.max(Duration::from_millis(1))));
            if let Err(e) = file.close() {
                log::debug!("closing at shutdown: {e}");
            }
        }
        count
    }
}

/// On SIGINT (Ctrl-C) or SIGTERM: closes every connection with close_notify, removes
/// `cert_file`, and exits with status 0. Runs on a thread of its own, so it works whatever
/// the serving threads are blocked in.
pub fn stop_on_signal(
    connections: Arc<Connections>,
    cert_file: Option<PathBuf>,
) -> Result<(), Failure> {
    let mut signals =
        Signals::new([SIGINT, SIGTERM]).context(|| "cannot install the signal handlers")?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let Some(signal) = signals.forever().next() else {
                return;
            };
            let name = if signal == SIGINT {
                "SIGINT"
            } else {
                "SIGTERM"
            };
            let closed = connections.close_all(SHUTDOWN_LIMIT);
            if let Some(path) = cert_file {
                let _ = std::fs::remove_file(path);
            }
            eprintln!("sslfile: {name}: closed {closed} connection(s) with close_notify; stopped");
            std::process::exit(0);
        })
        .context(|| "cannot start the signal thread")?;
    Ok(())
}
