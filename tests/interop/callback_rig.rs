//! Our side's callback mode: read, write, close and accept callbacks on a [`Backend`] run
//! by its own thread; the test thread waits (bounded) for what they report.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use sslfile::{Backend, Callbacks, SslFile};

use super::ours::{timed_out, Failure, Until, CHUNK, EXCHANGE_TIMEOUT};

/// What the callbacks saw.
#[derive(Default)]
pub struct Seen {
    pub handshake_done: bool,
    /// The close callback ran: `None` for a clean close, else the error.
    pub closed: Option<Option<Failure>>,
    /// Received plaintext, while an exchange runs.
    pub received: Vec<u8>,
    /// Bytes received after the exchange completed.
    pub extra: usize,
    exchange: Option<Exchange>,
    pub error: Option<String>,
}

struct Exchange {
    send: Arc<Vec<u8>>,
    sent: usize,
    until: Until,
    send_after: bool,
    writing: bool,
    complete: bool,
}

type SeenCell = Arc<(Mutex<Seen>, Condvar)>;

/// A backend running in its own thread, and the callbacks installed on our file.
///
/// The thread runs `run_once` rounds until `done` is set, rather than `Backend::run()`:
/// `run()` clears the stop flag when it starts, so a `stop()` that comes before the
/// thread got there would be lost and the join would hang.
pub struct Rig {
    backend: Backend,
    done: Arc<AtomicBool>,
    runner: Option<thread::JoinHandle<()>>,
    seen: SeenCell,
}

impl Rig {
    /// Puts `file` on a new backend with the callbacks, and starts the backend's thread.
    pub fn install(file: &SslFile) -> Rig {
        let backend = Backend::new().expect("backend");
        file.set_backend(&backend);
        let seen: SeenCell = Arc::default();
        let (on_read, on_close, on_accept) = (seen.clone(), seen.clone(), seen.clone());
        file.set_callbacks(Callbacks {
            read: Some(Arc::new(move |f: &SslFile, data: &[u8]| {
                let start_writing = {
                    let mut g = lock(&on_read);
                    let Seen {
                        exchange,
                        received,
                        extra,
                        ..
                    } = &mut *g;
                    match exchange {
                        Some(x) if !x.complete => {
                            received.extend_from_slice(data);
                            let start = x.send_after && !x.writing && x.until.done(received);
                            if start {
                                x.writing = true;
                            }
                            check_complete(x, received);
                            start
                        }
                        // Before the exchange starts (nothing is sent before we send), or
                        // after it ended: keep it, to be reported.
                        Some(_) => {
                            *extra += data.len();
                            false
                        }
                        None => {
                            received.extend_from_slice(data);
                            false
                        }
                    }
                };
                if start_writing {
                    install_writer(f, on_read.clone());
                }
                on_read.1.notify_all();
            })),
            close: Some(Arc::new(
                move |_f: &SslFile, err: Option<&sslfile::Error>| {
                    lock(&on_close).closed = Some(err.map(|e| Failure::from_io(&e.clone().into())));
                    on_close.1.notify_all();
                },
            )),
            accept: Some(Arc::new(move |_f: &SslFile| {
                lock(&on_accept).handshake_done = true;
                on_accept.1.notify_all();
            })),
            ..Default::default()
        });
        let done = Arc::new(AtomicBool::new(false));
        let runner = {
            let (backend, done) = (backend.clone(), done.clone());
            thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    backend.run_once(None).expect("backend round");
                }
            })
        };
        Rig {
            backend,
            done,
            runner: Some(runner),
            seen,
        }
    }

    /// Sends `send` from the write callback while the read callback collects; returns
    /// what was received once both are complete.
    pub fn exchange(
        &self,
        file: &SslFile,
        send: Arc<Vec<u8>>,
        until: Until,
        send_after: bool,
    ) -> Result<Vec<u8>, String> {
        let write_now = {
            let mut g = lock(&self.seen);
            let early = std::mem::take(&mut g.received);
            let mut x = Exchange {
                send,
                sent: 0,
                until,
                send_after,
                writing: !send_after || until.done(&early),
                complete: false,
            };
            check_complete(&mut x, &early);
            g.received = early;
            let writing = x.writing && !x.complete;
            g.exchange = Some(x);
            writing
        };
        if write_now {
            install_writer(file, self.seen.clone());
        }
        let mut g = self
            .wait(
                |s| {
                    s.exchange.as_ref().is_some_and(|x| x.complete)
                        || s.closed.is_some()
                        || s.error.is_some()
                },
                EXCHANGE_TIMEOUT,
            )
            .map_err(|f| f.to_string())?;
        if let Some(e) = &g.error {
            return Err(e.clone());
        }
        let x = g.exchange.as_ref().expect("exchange");
        if !x.complete {
            return Err(format!(
                "the connection ended during the exchange ({:?}): sent {}/{}, received {}",
                g.closed,
                x.sent,
                x.send.len(),
                g.received.len()
            ));
        }
        Ok(std::mem::take(&mut g.received))
    }

    /// Waits until `done` holds for what the callbacks saw.
    pub fn wait(
        &self,
        mut done: impl FnMut(&Seen) -> bool,
        timeout: Duration,
    ) -> Result<MutexGuard<'_, Seen>, Failure> {
        let deadline = Instant::now() + timeout;
        let (_, cond) = &*self.seen;
        let mut g = lock(&self.seen);
        while !done(&g) {
            let now = Instant::now();
            if now >= deadline {
                return Err(timed_out("callback mode: waiting for the callbacks"));
            }
            g = cond.wait_timeout(g, deadline - now).unwrap().0;
        }
        Ok(g)
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        self.backend.wake();
        if let Some(runner) = self.runner.take() {
            let _ = runner.join();
        }
    }
}

fn lock(seen: &SeenCell) -> MutexGuard<'_, Seen> {
    seen.0.lock().unwrap_or_else(|e| e.into_inner())
}

fn check_complete(x: &mut Exchange, received: &[u8]) {
    x.complete = x.sent == x.send.len() && x.until.done(received);
}

/// Installs the write callback that sends the exchange's data, chunk by chunk, and removes
/// itself when all was written.
fn install_writer(file: &SslFile, seen: SeenCell) {
    file.set_write_callback(Some(Arc::new(move |f: &SslFile| {
        let (send, sent) = {
            let g = lock(&seen);
            match &g.exchange {
                Some(x) => (x.send.clone(), x.sent),
                None => return,
            }
        };
        let result = if sent < send.len() {
            let end = (sent + CHUNK).min(send.len());
            (&*f).write(&send[sent..end])
        } else {
            Ok(0)
        };
        let finished = {
            let mut g = lock(&seen);
            let Seen {
                exchange,
                received,
                error,
                ..
            } = &mut *g;
            let x = exchange.as_mut().expect("exchange");
            match result {
                Ok(n) => x.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => *error = Some(format!("write callback after {} bytes: {e}", x.sent)),
            }
            check_complete(x, received);
            x.sent == x.send.len() || error.is_some()
        };
        if finished {
            f.set_write_callback(None);
        }
        seen.1.notify_all();
    })));
}
