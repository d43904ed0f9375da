//! Callback mode (SPEC §5): Pike's echo scenario, close and alert callbacks, callbacks
//! next to blocking calls, and lifetime on the backend.

mod common;

use std::io::{self, Read, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::pair::{raw_pair, Setup, Transport, TRANSPORTS};
use sslfile::{Backend, Callbacks, SslFile};

const PAYLOAD: usize = 65_519;

/// Runs `backend` in a thread until `stop` is called on it.
fn run_in_thread(backend: &Backend) -> thread::JoinHandle<()> {
    let b = backend.clone();
    thread::spawn(move || b.run().unwrap())
}

/// Pike's SSL.File echo test: the client writes from its write callback in ≤ 4 KiB slices,
/// the server echoes from its write callback, closes when all came back; the client's close
/// callback then fires without error.
fn echo_scenario(transport: Transport) {
    let setup = Setup::new();
    let backend = Backend::new().unwrap();
    let (c, s) = raw_pair(transport);
    let client = SslFile::new(c, &setup.client_ctx);
    let server = SslFile::new(s, &setup.server_ctx);
    client.set_backend(&backend);
    server.set_backend(&backend);
    let data = common::random_bytes(PAYLOAD, 1);

    // Server: echo what is read, from the write callback; close when all was echoed.
    let pending = Arc::new(Mutex::new((Vec::<u8>::new(), 0usize)));
    let (p_read, p_write) = (pending.clone(), pending.clone());
    server.set_callbacks(Callbacks {
        read: Some(Arc::new(move |_f: &SslFile, data: &[u8]| {
            p_read.lock().unwrap().0.extend_from_slice(data);
        })),
        write: Some(Arc::new(move |f: &SslFile| {
            let mut p = p_write.lock().unwrap();
            if p.0.is_empty() {
                return;
            }
            let n = (&*f).write(&p.0).unwrap();
            p.0.drain(..n);
            p.1 += n;
            if p.1 == PAYLOAD {
                f.close().unwrap();
            }
        })),
        ..Default::default()
    });
    server.accept().unwrap();

    // Client: write in slices from the write callback, collect the echo, wait for close.
    let (done_tx, done_rx) = mpsc::channel();
    let echoed = Arc::new(Mutex::new(Vec::new()));
    let sent = Arc::new(Mutex::new(0usize));
    let (e_read, to_send) = (echoed.clone(), data.clone());
    let stopper = backend.clone();
    client.set_callbacks(Callbacks {
        read: Some(Arc::new(move |_f: &SslFile, d: &[u8]| {
            e_read.lock().unwrap().extend_from_slice(d)
        })),
        write: Some(Arc::new(move |f: &SslFile| {
            let mut sent = sent.lock().unwrap();
            if *sent == PAYLOAD {
                f.set_write_callback(None);
                return;
            }
            let end = (*sent + 4096).min(PAYLOAD);
            match (&*f).write(&to_send[*sent..end]) {
                Ok(n) => *sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("client write: {e}"),
            }
        })),
        close: Some(Arc::new(move |_f: &SslFile, err: Option<io::Error>| {
            done_tx.send(err.map(|e| e.kind())).unwrap();
            stopper.stop();
        })),
        ..Default::default()
    });
    client.connect("localhost").unwrap();
    // Both handles dropped: the backend keeps both files alive while they have callbacks.
    drop(client);
    drop(server);
    let runner = run_in_thread(&backend);
    let close_error = done_rx
        .recv_timeout(common::TIMEOUT)
        .expect("close callback");
    runner.join().unwrap();
    assert_eq!(close_error, None, "{transport:?}");
    assert_eq!(*echoed.lock().unwrap(), data, "{transport:?}");
    // Everything ended: the backend let go of both files.
    assert_eq!(backend.watch_count(), 0, "{transport:?}");
}

#[test]
fn pike_echo_scenario_over_a_socket_pair() {
    echo_scenario(Transport::SocketPair);
}

#[test]
fn pike_echo_scenario_over_tcp() {
    echo_scenario(Transport::Tcp);
}
