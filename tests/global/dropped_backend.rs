//! A dropped `Backend` frees the files it kept alive: their watches and call_outs go, the
//! files are freed and their transports closed.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::common;
use common::pair::{eventually, Setup, Transport};
use common::TIMEOUT;
use sslfile::{Backend, File, SslFile};

/// Descriptors open in this process.
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// A file in callback mode on a backend, its handle, its peer and the backend all dropped
/// (nobody runs the backend): the backend's watches and call_outs go, the file is freed and
/// its transport closed. The same with a `Port` connection whose backend stops and is
/// dropped before the client's close. 1,000 times each.
#[test]
fn a_dropped_backend_frees_the_files_it_held() {
    let _serial = common::process_wide();
    let setup = Setup::new();
    // Warm up what lives for the whole process (the default backend and its thread).
    drop(Backend::default_backend());
    let fds_before = open_descriptors();
    let live_before = sslfile::live_connections();
    for i in 0..1000 {
        let backend = Backend::new().unwrap();
        let (client, server) = setup.connect(if i % 2 == 0 {
            Transport::Tcp
        } else {
            Transport::SocketPair
        });
        server.set_backend(&backend);
        server.set_idle_timeout(Some(Duration::from_secs(60))); // a call_out too
        server.set_read_callback(Some(Arc::new(|_f: &SslFile, _d: &[u8]| {})));
        // One round: the watch is registered and runs once.
        backend.run_once(Some(Duration::ZERO)).unwrap();
        drop(server);
        drop(client);
        drop(backend);
    }
    let deadline = Instant::now() + TIMEOUT;
    while sslfile::live_connections() > live_before || open_descriptors() > fds_before {
        assert!(
            Instant::now() < deadline,
            "after 1,000 files: {} connections alive (before: {live_before}), {} descriptors (before: {fds_before})",
            sslfile::live_connections(),
            open_descriptors()
        );
        thread::sleep(Duration::from_millis(10));
    }

    let port_ctx = setup.server_ctx.clone();
    for _ in 0..1000 {
        let backend = Backend::new().unwrap();
        let port = sslfile::Port::bind("127.0.0.1:0", &port_ctx).unwrap();
        let addr = port.local_addr().unwrap();
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let keep = accepted.clone();
        port.listen(&backend, move |conn: SslFile| {
            conn.set_read_callback(Some(Arc::new(|_f: &SslFile, _d: &[u8]| {})));
            keep.lock().unwrap().push(());
        })
        .unwrap();
        let client_ctx = setup.client_ctx.clone();
        let client = thread::spawn(move || {
            SslFile::client(File::connect(addr).unwrap(), &client_ctx, "localhost").unwrap()
        });
        let deadline = Instant::now() + TIMEOUT;
        while accepted.lock().unwrap().is_empty() {
            assert!(Instant::now() < deadline, "the port accepted nobody");
            backend.run_once(Some(Duration::from_millis(10))).unwrap();
        }
        let client = client.join().unwrap();
        drop(port);
        drop(backend); // stopped and dropped before it saw the client's close
        drop(client);
    }
    eventually(|| (sslfile::live_connections() <= live_before).then_some(()));
    eventually(|| (open_descriptors() <= fds_before).then_some(()));
}
