//! sslfile in callback mode for the bulk runs: each end runs on its own [`Backend`] thread
//! (as a server and a client in two processes would); the receiver counts in its read
//! callback, the sender writes from its write callback. The handshakes are blocking, the
//! transfer runs entirely in callbacks.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use sslfile::{Backend, File, SslFile};

use super::contenders::Bulk;
use super::progress::Progress;
use super::setup::{Setup, SERVER_NAME};
use super::throughput::SinkCount;

/// sslfile in callback mode.
pub struct SslfileCallback;

/// A backend running on its own thread; stopped and joined when dropped.
pub struct BackendThread {
    /// The backend.
    pub backend: Backend,
    thread: Option<thread::JoinHandle<io::Result<()>>>,
}

impl BackendThread {
    /// A new backend and the thread that runs it.
    pub fn start() -> io::Result<BackendThread> {
        let backend = Backend::new()?;
        let runner = backend.clone();
        let thread = thread::Builder::new()
            .name("bench-backend".into())
            .spawn(move || runner.run())?;
        Ok(BackendThread {
            backend,
            thread: Some(thread),
        })
    }
}

impl Drop for BackendThread {
    fn drop(&mut self) {
        self.backend.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Bulk for SslfileCallback {
    fn name(&self) -> &'static str {
        "sslfile callback"
    }

    fn sink(
        &self,
        listener: &TcpListener,
        setup: &Setup,
        progress: &Progress,
    ) -> io::Result<(u64, Duration)> {
        let (socket, _) = listener.accept()?;
        let tls = SslFile::server(File::try_from(socket)?, &setup.sslfile_server)?;
        let runner = BackendThread::start()?;
        tls.set_backend(&runner.backend);
        let count = Arc::new(Mutex::new(SinkCount::default()));
        let (done_tx, done) = mpsc::sync_channel(1);
        let counted = count.clone();
        let progress = progress.counter();
        tls.set_nonblocking_callbacks(
            Some(Arc::new(move |_: &SslFile, data: &[u8]| {
                let mut count = counted.lock().unwrap_or_else(|e| e.into_inner());
                progress.fetch_add(count.record(data.len()), Ordering::Relaxed);
            })),
            None,
            Some(Arc::new(
                move |_: &SslFile, reason: Option<&sslfile::Error>| {
                    let _ = done_tx.try_send(reason.cloned());
                },
            )),
        );
        let reason = done
            .recv()
            .map_err(|_| io::Error::other("the connection went without a close callback"))?;
        drop(runner);
        if let Some(err) = reason {
            return Err(err.into());
        }
        let count = count.lock().unwrap_or_else(|e| e.into_inner());
        Ok(count.result())
    }

    fn source(
        &self,
        addr: SocketAddr,
        setup: &Setup,
        total: u64,
        chunk: usize,
    ) -> io::Result<String> {
        let socket = TcpStream::connect(addr)?;
        let tls = SslFile::client(File::try_from(socket)?, &setup.sslfile_client, SERVER_NAME)?;
        let runner = BackendThread::start()?;
        tls.set_backend(&runner.backend);
        let data = vec![0x5au8; chunk.max(1)];
        let sent = AtomicU64::new(0);
        let (done_tx, done) = mpsc::sync_channel::<io::Result<()>>(1);
        tls.set_nonblocking_callbacks(
            None,
            Some(Arc::new(move |file: &SslFile| {
                // Write until the output buffer is full; the backend calls again once it
                // drained.
                loop {
                    let so_far = sent.load(Ordering::Relaxed);
                    if so_far >= total {
                        file.set_write_callback(None);
                        let _ = done_tx.try_send(Ok(()));
                        return;
                    }
                    let n = (total - so_far).min(data.len() as u64) as usize;
                    match (&*file).write(&data[..n]) {
                        Ok(written) => {
                            sent.fetch_add(written as u64, Ordering::Relaxed);
                            if written < n {
                                return;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                        Err(e) => {
                            file.set_write_callback(None);
                            let _ = done_tx.try_send(Err(e));
                            return;
                        }
                    }
                }
            })),
            None,
        );
        done.recv()
            .map_err(|_| io::Error::other("the write callback went away"))??;
        // The rest of the output and close_notify; the socket closed once the server
        // closed its end.
        tls.set_blocking();
        drop(runner);
        let suite = tls
            .cipher_suite()
            .map_or_else(|| "?".into(), |s| format!("{s:?}"));
        super::contenders::finish_sslfile(&tls)?;
        Ok(suite)
    }
}
