//! Regression tests for the bugs the fault-injection property tests and the fuzzers found,
//! each named after the behaviour it pins, over the scripted transport and, where the bug
//! can happen there too, over real sockets.

use crate::common;

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::faulty::{Fault, Faults, Faulty, PairConfig};
use common::pair::{raw_pair, Setup, TRANSPORTS};
use common::TIMEOUT;
use sslfile::{Backend, Callbacks, OpenState, SslFile, Stream};

/// Calls `f` until it returns `Some`, running `backend` between calls; at most 100,000
/// rounds (no sleeping: everything here is in memory).
fn pump<T>(backend: &Backend, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..100_000 {
        if let Some(v) = f() {
            return v;
        }
        backend.run_once(Some(Duration::ZERO)).unwrap();
    }
    panic!("no progress after 100,000 rounds");
}

/// A nonblocking read: `Some(result)` unless it would block.
fn try_read<S: Stream>(file: &SslFile<S>, buf: &mut [u8]) -> Option<io::Result<usize>> {
    match (&*file).read(buf) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
        other => Some(other),
    }
}

/// Found by `faults_pumped`: rustls does not ask for input during the handshake while it
/// has output queued, so over buffers smaller than a handshake flight both peers waited
/// for the other to read.
#[test]
fn a_handshake_over_one_byte_buffers_does_not_deadlock() {
    let setup = Setup::new();
    // Pumped, nonblocking.
    let (c, s) = Faulty::pair_with(PairConfig {
        capacity: 1,
        ..PairConfig::default()
    });
    let backend = Backend::new().unwrap();
    let client = SslFile::new(c, &setup.client_ctx);
    let server = SslFile::new(s, &setup.server_ctx);
    client.connect("localhost").unwrap();
    server.accept().unwrap();
    (&client)
        .write_all(b"ping")
        .unwrap_or_else(|e| panic!("{e}"));
    let mut got = Vec::new();
    pump(&backend, || {
        let _ = client.flush();
        let mut buf = [0u8; 16];
        if let Some(n) = try_read(&server, &mut buf) {
            got.extend_from_slice(&buf[..n.unwrap()]);
        }
        (got.len() == 4).then_some(())
    });
    assert_eq!(got, b"ping");

    // Blocking, one thread per side.
    let (c, s) = Faulty::pair_with(PairConfig {
        capacity: 1,
        ..PairConfig::default()
    });
    let server_ctx = setup.server_ctx.clone();
    let server = thread::spawn(move || -> io::Result<Vec<u8>> {
        let server = SslFile::new(s, &server_ctx);
        server.set_blocking();
        server.set_timeout(Some(TIMEOUT));
        server.accept()?;
        let mut got = Vec::new();
        (&server).read_to_end(&mut got)?;
        Ok(got)
    });
    let client = SslFile::new(c, &setup.client_ctx);
    client.set_blocking();
    client.set_timeout(Some(TIMEOUT));
    client
        .connect("localhost")
        .expect("handshake over 1-byte buffers");
    (&client).write_all(b"ping").unwrap();
    client.close().unwrap();
    assert_eq!(server.join().unwrap().unwrap(), b"ping");
}

/// Found by `faults_pumped`: data written (nonblocking) before the handshake completed
/// waits inside rustls; `flush` returned `Ok` at once, and a user who then closed the
/// transport lost it. A flush now drives the handshake and returns once the data is out.
#[test]
fn flush_during_the_handshake_waits_for_it_and_sends_the_written_data() {
    let setup = Setup::new();
    for transport in TRANSPORTS {
        let (c, s) = raw_pair(transport);
        let server_ctx = setup.server_ctx.clone();
        // The server answers only once the client wrote: otherwise a quick server (and a
        // slow client thread) could complete the handshake inside the nonblocking connect.
        let (client_wrote, wait_for_client) = std::sync::mpsc::channel::<()>();
        let server = thread::spawn(move || -> (Vec<u8>, io::ErrorKind) {
            wait_for_client.recv().unwrap();
            let server = SslFile::new(s, &server_ctx);
            server.set_blocking();
            server.set_timeout(Some(TIMEOUT));
            server.accept().unwrap();
            let mut got = Vec::new();
            let end = (&server).read_to_end(&mut got).unwrap_err();
            (got, end.kind())
        });
        // TLS 1.2: no session tickets arrive after the handshake, which the client would
        // leave unread and so turn its close into a reset.
        let client = SslFile::new(c, &setup.client_for(true));
        client.connect("localhost").unwrap(); // nonblocking: the handshake has just begun
        assert!(client.is_handshaking());
        assert_eq!((&client).write(b"early data").unwrap(), 10);
        client_wrote.send(()).unwrap();
        client.set_blocking();
        client.set_timeout(Some(TIMEOUT));
        client.flush().unwrap();
        assert!(
            !client.is_handshaking(),
            "{transport:?}: flush finished the handshake"
        );
        // Abrupt end, no close_notify: the data must already be on its way.
        drop(client.into_stream().unwrap());
        let (got, end) = server.join().unwrap();
        assert_eq!(got, b"early data", "{transport:?}");
        assert_eq!(end, io::ErrorKind::BrokenPipe, "{transport:?}: truncated");
    }
}

/// A nonblocking flush during the handshake reports `WouldBlock` until it is complete
/// and the data left, over the scripted transport.
#[test]
fn a_nonblocking_flush_during_the_handshake_would_block_until_the_data_left() {
    let setup = Setup::new();
    let (c, s) = Faulty::pair();
    let probe = c.probe();
    let client = SslFile::new(c, &setup.client_ctx);
    let server = SslFile::new(s, &setup.server_ctx);
    client.connect("localhost").unwrap();
    assert_eq!((&client).write(b"early").unwrap(), 5);
    // The server has not answered yet: the data waits for the handshake.
    let err = client.flush().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    server.accept().unwrap();
    let backend = Backend::new().unwrap();
    let mut buf = [0u8; 8];
    let written_at_flush = pump(&backend, || {
        let _ = try_read(&server, &mut buf);
        client.flush().ok().map(|()| probe.bytes_written())
    });
    // The client's last record is the data: the server reads it.
    let n = pump(&backend, || try_read(&server, &mut buf)).unwrap();
    assert_eq!(&buf[..n], b"early");
    assert_eq!(
        probe.bytes_written(),
        written_at_flush,
        "nothing was left to send"
    );
}

/// Shared state of a callback-mode peer in the tests below.
#[derive(Default)]
struct Seen {
    data: Vec<u8>,
    closed: Option<Option<io::ErrorKind>>,
}

fn callbacks(seen: &Arc<Mutex<Seen>>) -> Callbacks<Faulty> {
    let (r, c) = (seen.clone(), seen.clone());
    Callbacks {
        read: Some(Arc::new(move |_f: &SslFile<Faulty>, d: &[u8]| {
            r.lock().unwrap().data.extend_from_slice(d)
        })),
        close: Some(Arc::new(
            move |_f: &SslFile<Faulty>, e: Option<&sslfile::Error>| {
                c.lock().unwrap().closed = Some(e.map(|e| e.kind()))
            },
        )),
        ..Callbacks::default()
    }
}

/// A connected pair over the scripted transport: a nonblocking client and a server in
/// callback mode on `backend`, handshake done.
fn callback_server_pair(
    setup: &Setup,
    backend: &Backend,
) -> (SslFile<Faulty>, SslFile<Faulty>, Arc<Mutex<Seen>>) {
    let (c, s) = Faulty::pair();
    let client = SslFile::new(c, &setup.client_ctx);
    let server = SslFile::new(s, &setup.server_ctx);
    server.set_backend(backend);
    let seen = Arc::new(Mutex::new(Seen::default()));
    server.set_callbacks(callbacks(&seen));
    client.connect("localhost").unwrap();
    server.accept().unwrap();
    (&client).write_all(b"hi").unwrap();
    let mut buf = [0u8; 64];
    pump(backend, || {
        let _ = client.flush();
        let _ = try_read(&client, &mut buf);
        (seen.lock().unwrap().data == b"hi").then_some(())
    });
    (client, server, seen)
}

/// Found by `faults_pumped`: in callback mode, `shutdown(Write)`, `close_clean` and
/// `renegotiate` did not tell the backend about the output they queued; a close_notify
/// the transport did not take at once was never sent, and the peer waited forever.
#[test]
fn shutdown_write_in_callback_mode_sends_a_close_notify_the_transport_pushed_back() {
    let setup = Setup::new();
    let backend = Backend::new().unwrap();
    let (client, server, seen) = callback_server_pair(&setup, &backend);
    server.stream().unwrap().set_faults([
        Faults::None,
        Faults::script([Fault::WouldBlock]),
        Faults::None,
    ]);
    server.shutdown(std::net::Shutdown::Write).unwrap();
    let mut buf = [0u8; 8];
    let end = pump(&backend, || try_read(&client, &mut buf));
    assert_eq!(
        end.unwrap(),
        0,
        "the client reads the server's close_notify"
    );
    // TLS 1.3 closes one direction: the client answers with its own close_notify.
    client.shutdown(std::net::Shutdown::Write).unwrap();
    // The server's close callback reports a clean end.
    pump(&backend, || seen.lock().unwrap().closed);
    assert_eq!(seen.lock().unwrap().closed, Some(None));
}

#[test]
fn close_clean_in_callback_mode_sends_a_close_notify_the_transport_pushed_back() {
    let setup = Setup::new();
    let backend = Backend::new().unwrap();
    let (client, server, _seen) = callback_server_pair(&setup, &backend);
    server.stream().unwrap().set_faults([
        Faults::None,
        Faults::script([Fault::WouldBlock]),
        Faults::None,
    ]);
    server.close_clean().unwrap();
    // Only the backend and the client run now.
    let mut buf = [0u8; 8];
    let end = pump(&backend, || try_read(&client, &mut buf));
    assert_eq!(end.unwrap(), 0);
    // TLS 1.3 closes one direction: the client answers with its own close_notify.
    client.shutdown(std::net::Shutdown::Write).unwrap();
    pump(&backend, || {
        (server.is_open() == OpenState::Closed).then_some(())
    });
    server.set_nonblocking();
    assert!(server.into_stream().is_ok(), "the exchange completed");
}

#[test]
fn a_key_update_in_callback_mode_is_sent_when_the_transport_pushed_back() {
    let setup = Setup::new();
    let backend = Backend::new().unwrap();
    let (client, server, seen) = callback_server_pair(&setup, &backend);
    let probe = server.stream().unwrap().probe();
    server.stream().unwrap().set_faults([
        Faults::None,
        Faults::script([Fault::WouldBlock]),
        Faults::None,
    ]);
    let before = probe.bytes_written();
    server.renegotiate().unwrap();
    pump(&backend, || (probe.bytes_written() > before).then_some(()));
    // Both directions still work under the new keys.
    (&client).write_all(b" there").unwrap();
    pump(&backend, || {
        let _ = client.flush();
        let mut buf = [0u8; 8];
        let _ = try_read(&client, &mut buf);
        (seen.lock().unwrap().data == b"hi there").then_some(())
    });
}

/// Found by the soak: `File::close` shut the socket down (an orderly FIN) before releasing
/// it, so a close after `linger(Some(0))` read as end of stream on the other side instead
/// of the reset that SO_LINGER 0 promises.
#[test]
fn a_close_after_linger_zero_resets_the_connection() {
    let setup = Setup::new();
    let (client, server) = setup.connect(common::pair::Transport::Tcp);
    (&client).write_all(b"last words").unwrap();
    client.flush().unwrap();
    let mut buf = [0u8; 10];
    (&server).read_exact(&mut buf).unwrap();
    client.linger(Some(Duration::ZERO)).unwrap();
    client.close().unwrap();
    // A reset reads as truncation (EPIPE), with the kernel's word kept as the cause: not
    // the orderly end of stream (which has no cause).
    let err = (&server).read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
    let cause = std::error::Error::source(&sslfile::Error::from(err))
        .and_then(|c| c.downcast_ref::<io::Error>())
        .map(|c| c.kind());
    assert_eq!(cause, Some(io::ErrorKind::ConnectionReset));
}

/// Found by the `api_calls` fuzz target (crash-918f5689): a close_notify sent during the
/// handshake (`close_clean` or `shutdown` before it completed), then a close_notify from
/// the peer — which rustls treats as a warning alert mid-handshake and answers with a
/// fatal alert — tripped a debug assertion in rustls ("a fatal alert was already sent"):
/// a panic from network input in debug builds. Closing during the handshake now ends it.
#[test]
fn closing_on_both_sides_during_the_handshake_fails_it_cleanly_without_a_panic() {
    let setup = Setup::new();
    for (client_close, server_close) in [(true, true), (true, false), (false, true)] {
        let (c, s) = Faulty::pair();
        let client = SslFile::new(c, &setup.client_ctx);
        let server = SslFile::new(s, &setup.server_ctx);
        client.connect("localhost").unwrap();
        server.accept().unwrap();
        assert!(client.is_handshaking() && server.is_handshaking());
        let what = format!("client closes: {client_close}, server closes: {server_close}");
        if client_close {
            let err = client.close_clean().unwrap_err();
            assert_eq!(
                err.kind(),
                io::ErrorKind::ConnectionAborted,
                "{what}: {err}"
            );
        }
        if server_close {
            let err = server.shutdown(std::net::Shutdown::Write).unwrap_err();
            assert_eq!(
                err.kind(),
                io::ErrorKind::ConnectionAborted,
                "{what}: {err}"
            );
        }
        // Both go on reading what the other sent: an end or an error, never a panic or
        // a wait. (A client whose handshake completed before the server's close_notify
        // arrived reads it as a clean end: for the client the session existed.)
        let mut buf = [0u8; 16];
        for file in [&client, &server] {
            let result = (&*file).read(&mut buf);
            assert!(
                matches!(&result, Ok(0))
                    || matches!(&result, Err(e) if e.kind() != io::ErrorKind::WouldBlock),
                "{what}: {result:?}"
            );
        }
    }
}

/// Found by `faults_threaded`: clearing the callbacks while output was still pending left
/// the watch waiting for writability only, but recorded its interest as before; callbacks
/// installed again then never restored reading, and a peer that only wrote (and did not
/// read our pending output) waited for ever. Over real sockets: the server's output fills
/// the socket buffers, its callbacks are cleared and set again, and the client's request
/// must still reach the read callback while the client reads nothing.
#[test]
fn callbacks_set_again_while_output_is_pending_still_receive() {
    let setup = Setup::new();
    for transport in TRANSPORTS {
        let (client, server) = setup.connect(transport);
        let backend = Backend::new().unwrap();
        server.set_backend(&backend);
        server.set_nonblocking();
        // Output the client does not read: until the socket pushes back.
        let chunk = vec![7u8; 64 * 1024];
        let mut pushed_back = false;
        for _ in 0..1_000 {
            match (&server).write(&chunk) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    pushed_back = true;
                    break;
                }
                Err(e) => panic!("{transport:?}: {e}"),
            }
        }
        assert!(pushed_back, "{transport:?}: the socket buffers filled");
        let got = Arc::new(Mutex::new(Vec::new()));
        let install = |server: &SslFile| {
            let got = got.clone();
            server.set_callbacks(Callbacks {
                read: Some(Arc::new(move |_f: &SslFile, d: &[u8]| {
                    got.lock().unwrap().extend_from_slice(d)
                })),
                ..Callbacks::default()
            });
        };
        install(&server);
        backend.run_once(Some(Duration::ZERO)).unwrap();
        server.set_nonblocking(); // clears the callbacks; the output is still pending
        install(&server);

        (&client).write_all(b"request").unwrap();
        let deadline = std::time::Instant::now() + TIMEOUT;
        while got.lock().unwrap().len() < 7 && std::time::Instant::now() < deadline {
            backend.run_once(Some(Duration::from_millis(20))).unwrap();
        }
        assert_eq!(
            &got.lock().unwrap()[..],
            b"request",
            "{transport:?}: the read callback got the request"
        );
        server.set_callbacks(Callbacks::default());
        server.linger(Some(Duration::ZERO)).unwrap(); // no background delivery: a reset
    }
}

/// Found by `faults_pumped` (a 20,000-case run): a dispatch queued for plaintext that was
/// already decrypted held a strong handle to the file on its backend, so `into_stream`
/// from the thread that runs that backend waited for the handle in vain and failed after
/// 5 s with "another handle to the file is still in use".
#[test]
fn into_stream_does_not_wait_for_a_queued_dispatch() {
    let setup = Setup::new();
    for transport in TRANSPORTS {
        let (client, server) = setup.connect(transport);
        (&client).write_all(b"hello world").unwrap();
        let backend = Backend::new().unwrap();
        server.set_backend(&backend);
        // Part of the record read: the rest waits, decrypted, inside the engine.
        let mut first = [0u8; 5];
        (&server).read_exact(&mut first).unwrap();
        server.set_nonblocking();
        // A read callback with plaintext waiting queues a dispatch on the backend, which
        // nobody runs here; then the callbacks go again.
        server.set_callbacks(Callbacks {
            read: Some(Arc::new(|_f: &SslFile, _d: &[u8]| {})),
            ..Callbacks::default()
        });
        server.set_callbacks(Callbacks::default());
        let start = std::time::Instant::now();
        let raw = server.into_stream();
        assert!(
            raw.is_ok(),
            "{transport:?}: into_stream: {:?}",
            raw.as_ref().err()
        );
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{transport:?}: into_stream waited {:?}",
            start.elapsed()
        );
        backend.run_once(Some(Duration::ZERO)).unwrap(); // the queued dispatch finds no file
    }
}

/// Found while writing `upload_then_close` (a server that greets in callback mode): a file
/// in callback mode with a write callback but no read callback gets neither a write nor a
/// close callback once the peer's data and its TLS 1.3 close_notify (a half-close: writing
/// goes on) were read into the engine. `decide` (callbacks/dispatch.rs) holds the close
/// callback back until a read callback takes the plaintext, and returns before it considers
/// the write callback; a writer that waits for its write callback waits for ever. Over a
/// real socket the same happens when the peer's last records arrive with its Finished (a
/// blocking `accept` reads them all). Now the write callback runs while the plaintext
/// waits for a read.
#[test]
fn a_callback_mode_writer_without_a_read_callback_still_writes_after_the_peers_half_close() {
    let setup = Setup::new();
    let (c, s) = Faulty::pair();
    let backend = Backend::new().unwrap();
    let client = SslFile::new(c, &setup.client_ctx);
    let server = SslFile::new(s, &setup.server_ctx);
    server.set_backend(&backend);
    client.connect("localhost").unwrap();
    server.accept().unwrap();
    // The client's handshake completes; the server has not read the client's Finished yet.
    pump(&backend, || {
        let _ = server.flush();
        let _ = client.flush();
        (!client.is_handshaking()).then_some(())
    });
    (&client).write_all(b"upload").unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    // The server's handshake reads the Finished, the upload and the close_notify at once.
    pump(&backend, || {
        let _ = server.flush();
        (!server.is_handshaking()).then_some(())
    });
    let writes = Arc::new(Mutex::new(0u32));
    let closed = Arc::new(Mutex::new(None));
    let (w, c) = (writes.clone(), closed.clone());
    server.set_callbacks(Callbacks {
        write: Some(Arc::new(move |_f: &SslFile<Faulty>| {
            *w.lock().unwrap() += 1
        })),
        close: Some(Arc::new(
            move |_f: &SslFile<Faulty>, e: Option<&sslfile::Error>| {
                *c.lock().unwrap() = Some(e.map(|e| e.kind()))
            },
        )),
        ..Callbacks::default()
    });
    for _ in 0..1_000 {
        backend.run_once(Some(Duration::ZERO)).unwrap();
    }
    assert!(
        *writes.lock().unwrap() > 0 || closed.lock().unwrap().is_some(),
        "neither the write nor the close callback ran"
    );
}
