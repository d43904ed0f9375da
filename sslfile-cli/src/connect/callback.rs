//! `connect --mode callback`: the connection runs on a [`Backend`] driven by callbacks; the
//! main thread runs the backend until the connection ends.
//!
//! Stdin cannot always be watched by an event loop (epoll refuses regular files), so a
//! helper thread reads it and hands each chunk to the backend with a `call_out`; it reads
//! the next chunk only once the backend has sent this one, so memory stays bounded however
//! slow the peer.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use sslfile::{Backend, Callbacks, File, SslFile};

use super::Session;
use crate::failure::{Context, Failure};

/// The connection's state, shared by the callbacks and the stdin call_outs.
#[derive(Default)]
struct State {
    /// Stdin data not yet taken by the connection.
    to_send: Vec<u8>,
    /// Tells the stdin thread that `to_send` was sent and it may read more.
    sent: Option<mpsc::Sender<()>>,
    stdin_ended: bool,
    /// Send close_notify when stdin ends (not with `--ign-eof`).
    close_at_eof: bool,
    write_shut: bool,
    handshake_done: bool,
    /// How the connection ended: `None` while it runs.
    outcome: Option<Result<(), Failure>>,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the connection to its end.
pub fn run(session: &Session) -> Result<(), Failure> {
    let backend = Backend::new().context(|| "cannot create a backend")?;
    let tls = Arc::new(SslFile::new(File::try_from(session.tcp()?)?, &session.ctx));
    let state: Shared = Arc::new(Mutex::new(State {
        close_at_eof: !session.ign_eof,
        ..State::default()
    }));
    tls.set_backend(&backend);
    tls.set_callbacks(callbacks(session, &state, &backend));
    tls.connect(&session.server_name)
        .map_err(|e| session.handshake_failed(e))?;

    let (feeder_tls, feeder_state, feeder_backend) = (tls.clone(), state.clone(), backend.clone());
    thread::Builder::new()
        .name("stdin".into())
        .spawn(move || feed_stdin(&feeder_tls, &feeder_state, &feeder_backend))
        .context(|| "cannot start the stdin thread")?;

    backend.run().context(|| "backend")?;
    let outcome = lock(&state).outcome.take();
    // The backend no longer runs: close in blocking mode, so that close_notify leaves.
    tls.set_blocking();
    tls.set_timeout(Some(Duration::from_secs(5)));
    let _ = tls.close();
    outcome.unwrap_or(Ok(()))
}

fn callbacks(session: &Session, state: &Shared, backend: &Backend) -> Callbacks<File> {
    let session = Arc::new(session.clone());
    let (accept_session, accept_state) = (session.clone(), state.clone());
    let (read_state, read_backend) = (state.clone(), backend.clone());
    let (close_state, close_backend) = (state.clone(), backend.clone());
    Callbacks {
        accept: Some(Arc::new(move |tls: &SslFile| {
            eprintln!("{}", accept_session.summary(tls));
            let mut st = lock(&accept_state);
            st.handshake_done = true;
            // What stdin gave during the handshake (its end included) goes out now.
            send(tls, &accept_state, st);
        })),
        read: Some(Arc::new(move |_: &SslFile, data: &[u8]| {
            let mut stdout = io::stdout().lock();
            if let Err(e) = stdout.write_all(data).and_then(|()| stdout.flush()) {
                lock(&read_state).outcome =
                    Some(Err(Failure::new(format!("cannot write to stdout: {e}"))));
                read_backend.stop();
            }
        })),
        close: Some(Arc::new(
            move |_: &SslFile, reason: Option<&sslfile::Error>| {
                let mut st = lock(&close_state);
                let handshaking = !st.handshake_done;
                st.outcome = Some(match reason {
                    None => {
                        log::debug!("the peer closed the connection (close_notify)");
                        Ok(())
                    }
                    Some(e) => Err(session.ended(&e.clone().into(), handshaking)),
                });
                close_backend.stop();
            },
        )),
        write: None,
        alert: None,
    }
}

/// Reads stdin on its own thread and hands each chunk to the backend.
fn feed_stdin(tls: &Arc<SslFile>, state: &Shared, backend: &Backend) {
    let mut stdin = io::stdin().lock();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::warn!("stdin: {e}");
                0
            }
        };
        let (sent_tx, sent_rx) = mpsc::channel();
        let chunk = buf[..n].to_vec();
        let (tls, state) = (tls.clone(), state.clone());
        backend.call_out(Duration::ZERO, move || {
            let mut st = lock(&state);
            if chunk.is_empty() {
                st.stdin_ended = true;
            }
            st.to_send.extend_from_slice(&chunk);
            st.sent = Some(sent_tx);
            send(&tls, &state, st);
        });
        if n == 0 || sent_rx.recv().is_err() {
            return; // stdin ended, or the connection did
        }
    }
}

/// Writes what the connection takes; the write callback does the rest.
fn send(tls: &SslFile, state: &Shared, mut st: MutexGuard<'_, State>) {
    while !st.to_send.is_empty() {
        match (&*tls).write(&st.to_send) {
            Ok(n) => {
                st.to_send.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => {
                // The close callback reports why the connection ended.
                log::debug!("cannot send: {e}");
                st.to_send.clear();
                st.sent = None;
                return;
            }
        }
    }
    if !st.to_send.is_empty() {
        drop(st);
        if tls.write_callback().is_none() {
            tls.set_write_callback(Some(write_callback(state.clone())));
        }
        return;
    }
    if let Some(sent) = st.sent.take() {
        let _ = sent.send(());
    }
    // Not during the handshake: a close_notify then would end it (the accept callback
    // comes back here once it is done).
    let shut = st.stdin_ended && st.close_at_eof && !st.write_shut && st.handshake_done;
    st.write_shut |= shut;
    drop(st);
    if tls.write_callback().is_some() {
        tls.set_write_callback(None);
    }
    if shut {
        log::debug!("stdin ended: sending close_notify");
        if let Err(e) = tls.shutdown(Shutdown::Write) {
            log::debug!("shutdown: {e}");
        }
    }
}

fn write_callback(state: Shared) -> sslfile::WriteCallback<File> {
    Arc::new(move |tls: &SslFile| send(tls, &state, lock(&state)))
}
