//! The mio example (`sslfile/examples/mio_echo_server.rs`): nonblocking files driven by a
//! mio `Poll` from `SslFile::pending` and the descriptor serve 200 clients at once, each
//! echo byte for byte, then end cleanly.

use crate::common;

#[allow(dead_code)]
#[path = "../../sslfile/examples/mio_echo_server.rs"]
mod mio_echo_server;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use common::pair::Setup;
use common::{random_bytes, TIMEOUT};
use sslfile::{File, SslFile};

#[test]
fn a_mio_loop_serves_two_hundred_clients_at_once() {
    let setup = Setup::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let (ctx, stop) = (setup.server_ctx.clone(), stop.clone());
        thread::spawn(move || mio_echo_server::serve(listener, &ctx, &stop))
    };
    // All connected and handshaken first, so that the loop has 200 at once.
    let clients: Vec<SslFile> = (0..200)
        .map(|_| {
            let tls = SslFile::client(File::connect(addr).unwrap(), &setup.client_ctx, "localhost")
                .unwrap();
            tls.set_timeout(Some(TIMEOUT));
            tls
        })
        .collect();
    let clients = Arc::new(std::sync::Mutex::new(
        clients.into_iter().enumerate().collect::<Vec<_>>(),
    ));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let clients = clients.clone();
            thread::spawn(move || loop {
                let Some((i, tls)) = clients.lock().unwrap().pop() else {
                    return;
                };
                let data = random_bytes(40_000, i as u64);
                (&tls).write_all(&data).unwrap();
                tls.shutdown(std::net::Shutdown::Write).unwrap();
                let mut back = Vec::new();
                (&tls).read_to_end(&mut back).unwrap();
                assert!(
                    back == data,
                    "client {i}: {} of {} bytes",
                    back.len(),
                    data.len()
                );
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap().unwrap();
}
