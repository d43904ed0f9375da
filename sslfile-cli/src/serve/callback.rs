//! `--mode callback`: nonblocking connections driven by callbacks, on one [`Backend`] (event
//! loop) per thread.
//!
//! Every backend watches the listening socket; the one that wins `accept` owns the new
//! connection for its whole life (handshake included), so handshakes spread over the
//! threads too. A connection's state lives in its callbacks: they receive the file, so
//! nothing refers back to it, and it is freed when it ends.
//!
//! Output that does not fit at once waits in the connection's buffer and goes out from
//! the write callback; while more than [`HIGH_WATER`] bytes wait, the read callback is
//! removed, so a client that sends without reading cannot grow the server's memory.

use std::io::{self, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread;
use std::time::{Duration, Instant};

use sslfile::{Backend, CallOut, Callbacks, File, Interest, SslFile};

use super::Server;
use crate::failure::{Context, Failure};
use sslfile_cli::service::{ConnInfo, Next, Service};

/// Buffered output above which the server stops reading from a connection.
const HIGH_WATER: usize = 256 * 1024;
/// Connections accepted per readiness event, so that one backend cannot take them all.
const ACCEPT_BATCH: usize = 32;

/// Runs `threads` backends until the process ends.
pub fn serve(listener: TcpListener, server: Arc<Server>, threads: usize) -> Result<(), Failure> {
    listener
        .set_nonblocking(true)
        .context(|| "cannot make the listener nonblocking")?;
    let listener = Arc::new(listener);
    let mut runners = Vec::new();
    for i in 0..threads.max(1) {
        let backend = Backend::new().context(|| "cannot create a backend")?;
        let on_ready = {
            let (listener, backend, server) = (listener.clone(), backend.clone(), server.clone());
            Arc::new(move |_: Interest| accept_ready(&listener, &backend, &server))
        };
        // The watch lives as long as the server: the process ends with it.
        let watch = backend
            .watch(listener.clone(), Some(Interest::READ), on_ready)
            .context(|| "cannot watch the listener")?;
        let runner = thread::Builder::new()
            .name(format!("backend-{i}"))
            .spawn(move || {
                let _watch = watch;
                backend.run()
            })
            .context(|| "cannot start a backend thread")?;
        runners.push(runner);
    }
    for runner in runners {
        match runner.join() {
            Ok(result) => result.context(|| "backend")?,
            Err(_) => return Err(Failure::new("a backend thread panicked")),
        }
    }
    Ok(())
}

/// The listener is readable: take a batch of waiting clients onto this backend.
fn accept_ready(listener: &TcpListener, backend: &Backend, server: &Arc<Server>) {
    for _ in 0..ACCEPT_BATCH {
        match listener.accept() {
            Ok((socket, _)) => start(socket, backend, server),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => {
                log::warn!("accept: {e}");
                // Out of descriptors: the listener stays readable; do not spin.
                thread::sleep(Duration::from_millis(10));
                return;
            }
        }
    }
}

/// One connection's state, shared by its callbacks.
struct Conn {
    server: Arc<Server>,
    id: u64,
    peer: String,
    service: Option<Box<dyn Service>>,
    out: Vec<u8>,
    closing: bool,
    reading: bool,
    last_active: Instant,
    /// The pending idle check.
    idle_timer: Option<(Backend, CallOut)>,
}

type Shared = Arc<Mutex<Conn>>;

fn lock(conn: &Shared) -> MutexGuard<'_, Conn> {
    conn.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sets up a new connection: callbacks, handshake (in the backend), idle timer.
fn start(socket: std::net::TcpStream, backend: &Backend, server: &Arc<Server>) {
    let peer = socket
        .peer_addr()
        .map_or_else(|_| "?".into(), |a| a.to_string());
    let file = match File::try_from(socket) {
        Ok(file) => Arc::new(SslFile::new(file, &server.ctx.get())),
        Err(e) => return log::warn!("{peer}: {e}"),
    };
    let Some(id) = server.connections.add(file.clone()) else {
        let _ = file.close(); // stopping
        return;
    };
    let conn: Shared = Arc::new(Mutex::new(Conn {
        server: server.clone(),
        id,
        peer,
        service: None,
        out: Vec::new(),
        closing: false,
        reading: true,
        last_active: Instant::now(),
        idle_timer: None,
    }));
    file.set_backend(backend);
    let accept_conn = conn.clone();
    let close_conn = conn.clone();
    let protocol = server.protocol;
    let alert_conn = conn.clone();
    file.set_callbacks(Callbacks {
        accept: Some(Arc::new(move |file: &SslFile| {
            let info = ConnInfo::of(file, "callback");
            let mut c = lock(&accept_conn);
            log::info!("{}: {info}", c.peer);
            c.service = Some(c.server.protocol.service(info));
        })),
        read: Some(read_callback(conn.clone())),
        close: Some(Arc::new(
            move |file: &SslFile, reason: Option<&sslfile::Error>| {
                let c = lock(&close_conn);
                match (reason, c.service.is_some()) {
                    (None, _) => log::info!("{}: closed by the client (close_notify)", c.peer),
                    (Some(e), true) => log::info!("{}: ended: {e}", c.peer),
                    (Some(e), false) => log::info!("{}: handshake failed: {e}", c.peer),
                }
                close(file, c); // answers a close_notify with ours
            },
        )),
        write: None,
        alert: Some(Arc::new(
            move |file: &SslFile, _e: &sslfile::Error, _sent: &[u8]| {
                if let Ok((plain, request)) = file.take_stream() {
                    super::plaintext::answer(protocol, plain, &request);
                }
                close(file, lock(&alert_conn));
            },
        )),
    });
    if let Err(e) = file.accept() {
        log::debug!("accept: {e}"); // the close callback reports it
    }
    schedule_idle_check(backend, Arc::downgrade(&file), &conn, server.timeout);
}

fn read_callback(conn: Shared) -> sslfile::ReadCallback<File> {
    Arc::new(move |file: &SslFile, data: &[u8]| {
        let mut c = lock(&conn);
        c.last_active = Instant::now();
        let Conn { service, out, .. } = &mut *c;
        let Some(service) = service.as_mut() else {
            return; // cannot happen: data comes after the handshake
        };
        if service.on_data(data, out) == Next::Close {
            c.closing = true;
        }
        send(file, &conn, c);
    })
}

fn write_callback(conn: Shared) -> sslfile::WriteCallback<File> {
    Arc::new(move |file: &SslFile| {
        let c = lock(&conn);
        send(file, &conn, c);
    })
}

/// Writes what the socket takes; keeps the callbacks in line with what remains.
fn send(file: &SslFile, conn: &Shared, mut c: MutexGuard<'_, Conn>) {
    while !c.out.is_empty() {
        match (&*file).write(&c.out) {
            Ok(n) => {
                c.out.drain(..n);
                c.last_active = Instant::now();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => {
                log::debug!("{}: cannot send: {e}", c.peer);
                c.out.clear();
                c.closing = true;
            }
        }
    }
    let drained = c.out.is_empty();
    let closing = c.closing;
    let stop_reading = !drained && c.out.len() > HIGH_WATER && c.reading;
    let resume_reading = drained && !c.reading && !closing;
    if stop_reading || resume_reading {
        c.reading = resume_reading;
    }
    drop(c); // the setters below may run nothing, but need no lock of ours
    if drained {
        if file.write_callback().is_some() {
            file.set_write_callback(None);
        }
        if closing {
            close(file, lock(conn));
            return;
        }
    } else if file.write_callback().is_none() {
        file.set_write_callback(Some(write_callback(conn.clone())));
    }
    if stop_reading {
        file.set_read_callback(None);
    } else if resume_reading {
        file.set_read_callback(Some(read_callback(conn.clone())));
    }
}

/// Closes the connection once it has been idle (or stuck in its handshake) for `timeout`.
/// The timer refers to the connection weakly, and `close` cancels it.
fn schedule_idle_check(backend: &Backend, file: Weak<SslFile>, conn: &Shared, timeout: Duration) {
    let (next_backend, weak_conn) = (backend.clone(), Arc::downgrade(conn));
    let timer = backend.call_out(timeout, move || {
        let (Some(file), Some(conn)) = (file.upgrade(), weak_conn.upgrade()) else {
            return; // ended and forgotten
        };
        let mut c = lock(&conn);
        c.idle_timer = None;
        let idle = c.last_active.elapsed();
        if idle >= timeout {
            log::info!("{}: idle: closed", c.peer);
            close(&file, c);
        } else {
            drop(c);
            schedule_idle_check(&next_backend, Arc::downgrade(&file), &conn, timeout - idle);
        }
    });
    lock(conn).idle_timer = Some((backend.clone(), timer));
}

/// Closes from our side (close_notify after the pending output; nonblocking, so what does
/// not fit now goes out in the background) and forgets the connection. The close callback
/// is for ends that come from the peer; it does not run.
fn close(file: &SslFile, mut c: MutexGuard<'_, Conn>) {
    let (server, id, timer) = (c.server.clone(), c.id, c.idle_timer.take());
    drop(c);
    if let Some((backend, timer)) = timer {
        backend.remove_call_out(timer);
    }
    if let Err(e) = file.close() {
        log::debug!("close: {e}");
    }
    server.connections.remove(id);
}
