//! Lifetime in callback mode: 10,000 connections on one backend, ended every way a
//! connection can end; descriptors and live connections return to where they started.
//! (One test in this binary, so that the process-wide counts are its own.)

use crate::common;

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::pair::{eventually, Setup};
use sslfile::{Backend, File, Port, SslFile};

const CONNECTIONS: usize = 10_000;
const CLIENT_THREADS: usize = 4;

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// How a client ends its connection.
fn client_session(i: usize, addr: std::net::SocketAddr, setup: &Setup) {
    let name = if i % 5 == 3 {
        "wrong.test"
    } else {
        "localhost"
    };
    let tls = match SslFile::client(File::connect(addr).unwrap(), &setup.client_ctx, name) {
        Ok(tls) => tls,
        Err(e) => {
            assert_eq!(i % 5, 3, "only the wrong-name clients fail: {e}");
            return;
        }
    };
    tls.set_timeout(Some(common::TIMEOUT));
    let request: &[u8] = if i % 5 == 4 { b"quit" } else { b"ping" };
    (&tls).write_all(request).unwrap();
    let mut echo = [0u8; 4];
    (&tls).read_exact(&mut echo).unwrap();
    assert_eq!(&echo, request);
    match i % 5 {
        0 => tls.close().unwrap(),             // clean close
        1 => drop(tls.into_stream().unwrap()), // abrupt: no close_notify
        2 => drop(tls),                        // drop sends close_notify
        4 => {
            // The server closes: we read its close_notify.
            assert_eq!((&tls).read(&mut echo).unwrap(), 0);
        }
        _ => unreachable!(),
    }
}

#[test]
fn ten_thousand_connections_leave_no_descriptor_and_no_connection_behind() {
    let _serial = common::process_wide();
    let setup = Arc::new(Setup::new());
    let backend = Backend::new().unwrap();
    let port = Port::bind("127.0.0.1:0", &setup.server_ctx).unwrap();
    let addr = port.local_addr().unwrap();
    let runner = {
        let b = backend.clone();
        thread::spawn(move || b.run().unwrap())
    };
    let closes = Arc::new([(); 4].map(|_| AtomicUsize::new(0)));
    let c = closes.clone();
    port.listen(&backend, move |conn: SslFile| {
        let c = c.clone();
        conn.set_nonblocking_callbacks(
            Some(Arc::new(|f: &SslFile, data: &[u8]| {
                (&*f).write_all(data).unwrap();
                if data == b"quit" {
                    f.close().unwrap();
                }
            })),
            None,
            Some(Arc::new(move |_f: &SslFile, e: Option<&sslfile::Error>| {
                let slot = match e.map(|e| e.kind()) {
                    None => 0,
                    Some(io::ErrorKind::BrokenPipe) => 1,
                    Some(io::ErrorKind::ConnectionReset) => 2,
                    Some(_) => 3,
                };
                c[slot].fetch_add(1, Ordering::SeqCst);
            })),
        );
        // The handle is dropped here: the backend keeps the connection alive.
    })
    .unwrap();

    // Warm up (thread stacks, lazily made buffers), then take the baseline.
    client_session(0, addr, &setup);
    thread::sleep(Duration::from_millis(100));
    let fds_before = open_descriptors();
    let live_before = sslfile::live_connections();

    let clients: Vec<_> = (0..CLIENT_THREADS)
        .map(|t| {
            let setup = setup.clone();
            thread::spawn(move || {
                for i in (t..CONNECTIONS).step_by(CLIENT_THREADS) {
                    client_session(i, addr, &setup);
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }

    eventually(|| (sslfile::live_connections() == live_before).then_some(()));
    eventually(|| (backend.watch_count() == 1).then_some(())); // the listener only
    eventually(|| (open_descriptors() == fds_before).then_some(()));
    let closes: Vec<usize> = closes.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    eprintln!(
        "{CONNECTIONS} connections: close callbacks clean {}, broken pipe {}, reset {}, other {}; \
         descriptors {fds_before} -> {}, live connections {live_before} -> {}",
        closes[0],
        closes[1],
        closes[2],
        closes[3],
        open_descriptors(),
        sslfile::live_connections()
    );
    // Clean: the client's close and drop (2 in 5, plus the warm-up). When the server closes
    // (1 in 5) its own close callback is not called (a local close); truncated: 1 in 5.
    assert_eq!(closes[0], CONNECTIONS / 5 * 2 + 1);
    assert_eq!(closes[1], CONNECTIONS / 5);
    assert_eq!(
        closes[2] + closes[3],
        0,
        "failed handshakes never reached the callbacks"
    );
    drop(port);
    backend.stop();
    runner.join().unwrap();
}
