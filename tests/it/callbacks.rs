//! Callback mode (SPEC §5): Pike's echo scenario, close and alert callbacks, callbacks
//! next to blocking calls, and lifetime on the backend.

use crate::common;
use common::running::run_in_thread;

use std::io::{self, Read, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::pair::{eventually, raw_pair, Setup, Transport, TRANSPORTS};
use sslfile::{Backend, Callbacks, SslFile};

const PAYLOAD: usize = 65_519;

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
        close: Some(Arc::new(
            move |_f: &SslFile, err: Option<&sslfile::Error>| {
                done_tx.send(err.map(|e| e.kind())).unwrap();
                stopper.stop();
            },
        )),
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
    // Everything ended: once their closes are done, the backend let go of both files.
    assert!(backend.run_until_closed(common::TIMEOUT).unwrap());
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

/// A client in callback mode on `backend` (running in a thread) whose close callback
/// reports the error kind; the server side is blocking and returned for the test to act.
fn callback_client_and_blocking_server(
    setup: &Setup,
    transport: Transport,
    backend: &Backend,
) -> (SslFile, mpsc::Receiver<Option<io::ErrorKind>>) {
    let (c, s) = raw_pair(transport);
    let server_ctx = setup.server_ctx.clone();
    let server = thread::spawn(move || {
        let file = SslFile::server(s, &server_ctx).unwrap();
        file.set_timeout(Some(common::TIMEOUT));
        file
    });
    let client = SslFile::new(c, &setup.client_ctx);
    client.set_backend(backend);
    let (tx, rx) = mpsc::channel();
    client.set_close_callback(Some(Arc::new(
        move |_f: &SslFile, e: Option<&sslfile::Error>| {
            tx.send(e.map(|e| e.kind())).unwrap();
        },
    )));
    client.set_read_callback(Some(Arc::new(|_f: &SslFile, _d: &[u8]| {})));
    client.connect("localhost").unwrap();
    drop(client);
    (server.join().unwrap(), rx)
}

#[test]
fn close_callback_reports_why_the_connection_ended() {
    let setup = Setup::new();
    for transport in TRANSPORTS {
        let backend = Backend::new().unwrap();
        let runner = run_in_thread(&backend);
        let expect = |rx: &mpsc::Receiver<Option<io::ErrorKind>>| {
            rx.recv_timeout(common::TIMEOUT)
                .expect("the close callback fires")
        };

        // Clean close: no error.
        let (server, rx) = callback_client_and_blocking_server(&setup, transport, &backend);
        (&server).write_all(b"data first").unwrap();
        server.close().unwrap();
        assert_eq!(expect(&rx), None, "{transport:?}");

        // Transport closed without close_notify: BrokenPipe.
        let (server, rx) = callback_client_and_blocking_server(&setup, transport, &backend);
        drop(server.into_stream().unwrap());
        assert_eq!(
            expect(&rx),
            Some(io::ErrorKind::BrokenPipe),
            "{transport:?}"
        );

        // The peer's fatal alert (it rejects our garbage): ConnectionReset.
        let (server, rx) = callback_client_and_blocking_server(&setup, transport, &backend);
        server.set_nonblocking();
        // Make the server reject bytes it receives: write garbage under the client's TLS.
        // The client is owned by the backend now, so reach its transport via the server's
        // peer: instead, the server sends garbage to the client and the client rejects it.
        (&*server.stream().unwrap())
            .write_all(b"\x17\x03\x03\x00\x05hello")
            .unwrap();
        // Our own fatal alert (we rejected the record): ConnectionAborted.
        assert_eq!(
            expect(&rx),
            Some(io::ErrorKind::ConnectionAborted),
            "{transport:?}"
        );
        // ...and the peer hears it as a reset.
        server.set_blocking();
        let err = (&server).read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{transport:?}");

        backend.stop();
        runner.join().unwrap();
        // The client's close lingers until the peer closes its end: then nothing is left.
        drop(server);
        assert!(backend.run_until_closed(common::TIMEOUT).unwrap());
        assert_eq!(backend.watch_count(), 0);
    }
}

#[test]
fn close_callback_reports_a_peer_alert_as_reset() {
    let setup = Setup::new();
    let backend = Backend::new().unwrap();
    let runner = run_in_thread(&backend);
    // A server in callback mode; the client sends garbage, the server alerts, and the
    // client — in callback mode too — hears the alert.
    let (c, s) = raw_pair(Transport::SocketPair);
    let server_ctx = setup.server_ctx.clone();
    let server = thread::spawn(move || SslFile::server(s, &server_ctx).unwrap());
    let client = SslFile::client(c, &setup.client_ctx, "localhost").unwrap();
    let server = server.join().unwrap();
    let (tx, rx) = mpsc::channel();
    for (file, name) in [(&client, "client"), (&server, "server")] {
        let tx = tx.clone();
        file.set_backend(&backend);
        file.set_nonblocking_callbacks(
            Some(Arc::new(|_f: &SslFile, _d: &[u8]| {})),
            None,
            Some(Arc::new(move |_f: &SslFile, e: Option<&sslfile::Error>| {
                tx.send((name, e.map(|e| e.kind()))).unwrap();
            })),
        );
    }
    (&*client.stream().unwrap())
        .write_all(b"not a TLS record at all")
        .unwrap();
    let mut got = vec![
        rx.recv_timeout(common::TIMEOUT).unwrap(),
        rx.recv_timeout(common::TIMEOUT).unwrap(),
    ];
    got.sort();
    assert_eq!(
        got,
        vec![
            ("client", Some(io::ErrorKind::ConnectionReset)),
            ("server", Some(io::ErrorKind::ConnectionAborted)),
        ]
    );
    backend.stop();
    runner.join().unwrap();
}

#[test]
fn a_handshake_failure_with_callbacks_set_before_fires_the_close_callback() {
    let setup = Setup::new();
    let backend = Backend::new().unwrap();
    let runner = run_in_thread(&backend);
    let (c, s) = raw_pair(Transport::Tcp);
    let server_ctx = setup.server_ctx.clone();
    let server = thread::spawn(move || SslFile::server(s, &server_ctx).map(|_| ()));
    let client = SslFile::new(c, &setup.client_ctx);
    client.set_backend(&backend);
    let (tx, rx) = mpsc::channel();
    let accepted = Arc::new(Mutex::new(false));
    let acc = accepted.clone();
    client.set_callbacks(Callbacks {
        close: Some(Arc::new(move |_f: &SslFile, e: Option<&sslfile::Error>| {
            tx.send(e.map(|e| (e.kind(), e.to_string()))).unwrap();
        })),
        accept: Some(Arc::new(move |_f: &SslFile| *acc.lock().unwrap() = true)),
        ..Default::default()
    });
    // Nonblocking: the failure may already be known when connect returns (a fast server);
    // either way the close callback reports it.
    let _ = client.connect("wrong.test");
    drop(client);
    let (kind, message) = rx.recv_timeout(common::TIMEOUT).unwrap().expect("an error");
    assert_eq!(kind, io::ErrorKind::ConnectionAborted);
    assert!(message.contains("not valid for wrong.test"), "{message}");
    assert!(
        !*accepted.lock().unwrap(),
        "no accept callback for a failed handshake"
    );
    assert!(server.join().unwrap().is_err());
    backend.stop();
    runner.join().unwrap();
    assert_eq!(backend.watch_count(), 0);
}

#[test]
fn accept_callback_fires_once_and_the_write_callback_right_after_it() {
    let setup = Setup::new();
    let backend = Backend::new().unwrap();
    let (c, s) = raw_pair(Transport::SocketPair);
    let server_ctx = setup.server_ctx.clone();
    let server = thread::spawn(move || {
        let f = SslFile::server(s, &server_ctx).unwrap();
        let mut buf = [0u8; 5];
        (&f).read_exact(&mut buf).unwrap();
        buf
    });
    let client = SslFile::new(c, &setup.client_ctx);
    client.set_backend(&backend);
    let events = Arc::new(Mutex::new(Vec::new()));
    let (e1, e2) = (events.clone(), events.clone());
    let stopper = backend.clone();
    client.set_callbacks(Callbacks {
        accept: Some(Arc::new(move |f: &SslFile| {
            assert!(!f.is_handshaking());
            e1.lock().unwrap().push("accept");
        })),
        write: Some(Arc::new(move |f: &SslFile| {
            e2.lock().unwrap().push("write");
            (&*f).write_all(b"hello").unwrap();
            f.set_write_callback(None);
            stopper.stop();
        })),
        ..Default::default()
    });
    client.connect("localhost").unwrap();
    backend.run().unwrap();
    assert_eq!(*events.lock().unwrap(), vec!["accept", "write"]);
    assert_eq!(&server.join().unwrap(), b"hello");
}

#[test]
fn a_plaintext_request_fires_the_alert_callback_and_into_stream_serves_it() {
    let setup = Setup::new();
    let backend = Backend::new().unwrap();
    let runner = run_in_thread(&backend);
    let (c, s) = raw_pair(Transport::Tcp);
    let server = SslFile::new(s, &setup.server_ctx);
    server.set_backend(&backend);
    let (tx, rx) = mpsc::channel();
    let closed = Arc::new(Mutex::new(false));
    let closed2 = closed.clone();
    server.set_callbacks(Callbacks {
        alert: Some(Arc::new(
            move |_f: &SslFile, err: &sslfile::Error, raw: &[u8]| {
                tx.send((err.to_string(), raw.to_vec())).unwrap();
            },
        )),
        close: Some(Arc::new(
            move |_f: &SslFile, _e: Option<&sslfile::Error>| {
                *closed2.lock().unwrap() = true;
            },
        )),
        ..Default::default()
    });
    server.accept().unwrap();
    let request = b"GET / HTTP/1.0\r\n\r\n";
    let client = thread::spawn(move || {
        for byte in request {
            c.stream_write(&[*byte]);
            thread::sleep(Duration::from_millis(2));
        }
        let mut answer = Vec::new();
        (&c).read_to_end(&mut answer).unwrap();
        answer
    });
    let (message, prefix) = rx.recv_timeout(common::TIMEOUT).unwrap();
    assert!(message.contains("does not speak TLS"), "{message}");
    assert!(
        !prefix.is_empty() && request.starts_with(&prefix),
        "{prefix:?}"
    );
    // Fall back to plaintext on the same socket: the rest of the request, then an answer.
    let plain = server.into_stream().unwrap();
    let mut rest = vec![0u8; request.len() - prefix.len()];
    (&plain).read_exact(&mut rest).unwrap();
    assert_eq!([prefix, rest].concat(), request);
    (&plain).write_all(b"HTTP/1.0 200 OK\r\n\r\nplain").unwrap();
    plain.close().unwrap();
    assert_eq!(client.join().unwrap(), b"HTTP/1.0 200 OK\r\n\r\nplain");
    assert!(
        !*closed.lock().unwrap(),
        "the alert replaces the close callback"
    );
    backend.stop();
    runner.join().unwrap();
}

/// Writes on a plain `File` in blocking mode, for the byte-at-a-time client.
trait StreamWrite {
    fn stream_write(&self, data: &[u8]);
}

impl StreamWrite for sslfile::File {
    fn stream_write(&self, data: &[u8]) {
        let mut me = self;
        me.write_all(data).unwrap();
    }
}

/// The stream the client sends: 4-byte big-endian counters, so that any 4-aligned chunk
/// tells where in the stream it belongs.
fn counters(count: u32) -> Vec<u8> {
    (0..count).flat_map(|i| i.to_be_bytes()).collect()
}

#[test]
fn blocking_reads_next_to_callbacks_get_every_byte_exactly_once() {
    let setup = Setup::new();
    let backend = Backend::new().unwrap();
    let runner = run_in_thread(&backend);
    let (client, server) = setup.connect(Transport::SocketPair);
    let data = counters(256 * 1024); // 1 MiB
    let chunks = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let from_callback = chunks.clone();
    server.set_backend(&backend);
    server.set_read_callback(Some(Arc::new(move |_f: &SslFile, d: &[u8]| {
        from_callback.lock().unwrap().push(d.to_vec());
    })));
    server.set_blocking_keep_callbacks();
    let to_send = data.clone();
    let writer = thread::spawn(move || {
        for chunk in to_send.chunks(4096) {
            (&client).write_all(chunk).unwrap();
        }
        client
    });
    // Blocking reads in this thread, 4 KiB at a time, until everything arrived somewhere.
    let mut total_blocking = 0;
    let count_all = |chunks: &Mutex<Vec<Vec<u8>>>| -> usize {
        chunks.lock().unwrap().iter().map(Vec::len).sum()
    };
    server.set_timeout(Some(Duration::from_millis(200)));
    while count_all(&chunks) < data.len() {
        let mut buf = vec![0u8; 4096];
        match (&server).read(&mut buf) {
            Ok(n) => {
                assert!(n > 0);
                buf.truncate(n);
                total_blocking += n;
                chunks.lock().unwrap().push(buf);
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
            Err(e) => panic!("{e}"),
        }
    }
    let _client = writer.join().unwrap();
    // Every chunk sits at a 4-aligned place of the stream; together they tile it exactly.
    let mut placed: Vec<(usize, usize)> = chunks
        .lock()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c.len() % 4, 0, "chunks follow the 4 KiB writes");
            let start = u32::from_be_bytes(c[..4].try_into().unwrap()) as usize * 4;
            assert_eq!(&data[start..start + c.len()], &c[..], "chunk content");
            (start, c.len())
        })
        .collect();
    placed.sort();
    let mut at = 0;
    for (start, len) in placed {
        assert_eq!(start, at, "no byte twice, none lost");
        at += len;
    }
    assert_eq!(at, data.len());
    assert!(total_blocking > 0 || count_all(&chunks) == data.len());
    backend.stop();
    runner.join().unwrap();
}

#[test]
fn the_streams_own_callbacks_are_set_aside_and_restored_by_into_stream() {
    let setup = Setup::new();
    let backend = Backend::new().unwrap();
    let runner = run_in_thread(&backend);
    let (c, s) = raw_pair(Transport::SocketPair);
    let plain = Arc::new(Mutex::new(Vec::new()));
    let p = plain.clone();
    s.set_backend(&backend);
    s.set_read_callback(Some(Arc::new(move |_f: &sslfile::File, d: &[u8]| {
        p.lock().unwrap().extend_from_slice(d)
    })));
    // TLS takes the file over (before the client sends anything): its read callback must
    // not see the TLS bytes.
    let tls = SslFile::new(s, &setup.server_ctx);
    let server = thread::spawn(move || {
        tls.set_blocking();
        tls.accept().unwrap();
        let mut buf = [0u8; 3];
        (&tls).read_exact(&mut buf).unwrap();
        tls.close_clean().unwrap();
        (buf, tls.into_stream().unwrap())
    });
    let client = SslFile::client(c, &setup.client_ctx, "localhost").unwrap();
    (&client).write_all(b"tls").unwrap();
    client.close_clean().unwrap();
    let c = client.into_stream().unwrap();
    let (got, s) = server.join().unwrap();
    assert_eq!(&got, b"tls");
    assert!(
        plain.lock().unwrap().is_empty(),
        "no TLS bytes reach the plain callback"
    );
    // Back to plaintext: the file's own read callback runs again, on its backend.
    assert_eq!(s.backend(), backend);
    (&c).write_all(b"plain again").unwrap();
    eventually(|| (plain.lock().unwrap().len() == 11).then_some(()));
    assert_eq!(&plain.lock().unwrap()[..], b"plain again");
    backend.stop();
    runner.join().unwrap();
}

#[test]
fn set_backend_moves_a_live_file_to_another_backend_thread() {
    let setup = Setup::new();
    let (client, server) = setup.connect(Transport::SocketPair);
    let spawn_named = |backend: &Backend, name: &str| {
        let b = backend.clone();
        thread::Builder::new()
            .name(name.into())
            .spawn(move || b.run().unwrap())
            .unwrap()
    };
    let (a, b) = (Backend::new().unwrap(), Backend::new().unwrap());
    let (ra, rb) = (spawn_named(&a, "backend-a"), spawn_named(&b, "backend-b"));
    let (tx, rx) = mpsc::channel();
    server.set_backend(&a);
    server.set_read_callback(Some(Arc::new(move |_f: &SslFile, d: &[u8]| {
        let thread = thread::current().name().unwrap_or("?").to_string();
        tx.send((thread, d.to_vec())).unwrap();
    })));
    (&client).write_all(b"one").unwrap();
    assert_eq!(
        rx.recv_timeout(common::TIMEOUT).unwrap(),
        ("backend-a".to_string(), b"one".to_vec())
    );
    server.set_backend(&b);
    assert_eq!(server.backend(), b);
    (&client).write_all(b"two").unwrap();
    assert_eq!(
        rx.recv_timeout(common::TIMEOUT).unwrap(),
        ("backend-b".to_string(), b"two".to_vec())
    );
    assert_eq!(a.watch_count(), 0);
    assert_eq!(b.watch_count(), 1);
    server.set_read_callback(None);
    assert_eq!(b.watch_count(), 0, "no callbacks: the backend lets go");
    a.stop();
    b.stop();
    ra.join().unwrap();
    rb.join().unwrap();
}

/// Backpressure: a file in callback mode whose user reads nothing (only a close callback is
/// installed) stops reading its socket while plaintext waits, so a peer that keeps writing
/// is pushed back (its nonblocking writes stall) instead of filling our memory. Reading
/// then delivers every byte, in order.
#[test]
fn a_file_whose_plaintext_waits_stops_reading_and_the_writer_is_pushed_back() {
    const LEN: usize = 8 << 20;
    let setup = Setup::new();
    let backend = Backend::new().unwrap();
    let runner = run_in_thread(&backend);
    let (client, server) = setup.connect(Transport::SocketPair);
    server.set_backend(&backend);
    server.set_close_callback(Some(Arc::new(
        |_f: &SslFile, _e: Option<&sslfile::Error>| {},
    )));
    let data = common::random_bytes(LEN, 9);
    client.set_nonblocking();
    let mut accepted = 0;
    let mut stalls = 0;
    while accepted < LEN && stalls < 50 {
        match (&client).write(&data[accepted..(accepted + 65536).min(LEN)]) {
            Ok(n) => {
                accepted += n;
                stalls = 0;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                stalls += 1;
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("write: {e}"),
        }
    }
    println!("accepted before the push-back: {accepted} bytes");
    // Socket buffers, our 64 KiB of pending output and one batch of plaintext: far below.
    assert!(
        accepted < 2 << 20,
        "the writer was not pushed back: {accepted} bytes"
    );
    // The user reads now (blocking, next to the callbacks): every byte arrives.
    let reader = thread::spawn(move || {
        server.set_blocking_keep_callbacks();
        let mut got = vec![0u8; LEN];
        (&server).read_exact(&mut got).map(|()| got)
    });
    client.set_blocking();
    (&client).write_all(&data[accepted..]).unwrap();
    let got = reader.join().unwrap().unwrap();
    assert!(got == data, "bytes lost or reordered");
    backend.stop();
    runner.join().unwrap();
}

/// SPEC §2: a handshake failure is reported to the close callback "whenever and however the
/// callbacks were installed" — here only after the failure was already known.
#[test]
fn a_close_callback_installed_after_the_handshake_failed_still_gets_the_failure() {
    let setup = Setup::new();
    let backend = Backend::new().unwrap();
    let runner = run_in_thread(&backend);
    let (c, s) = raw_pair(Transport::SocketPair);
    let server_ctx = setup.server_ctx.clone();
    let server = thread::spawn(move || SslFile::server(s, &server_ctx).map(|_| ()));
    let client = SslFile::new(c, &setup.client_ctx);
    client.set_backend(&backend);
    let _ = client.connect("wrong.test");
    // Drive the nonblocking handshake until its failure is known.
    let err = eventually(|| match (&client).read(&mut [0u8; 8]) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
        other => Some(other),
    })
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    let (tx, rx) = mpsc::channel();
    client.set_close_callback(Some(Arc::new(
        move |_f: &SslFile, e: Option<&sslfile::Error>| {
            tx.send(e.map(|e| e.kind())).unwrap();
        },
    )));
    drop(client);
    assert_eq!(
        rx.recv_timeout(common::TIMEOUT).unwrap(),
        Some(io::ErrorKind::ConnectionAborted)
    );
    assert!(server.join().unwrap().is_err());
    eventually(|| (backend.watch_count() == 0).then_some(()));
    backend.stop();
    runner.join().unwrap();
}

/// SPEC §5: the mode can be switched at any time mid-connection without losing or
/// reordering a byte — callback mode (the backend run on this thread), blocking reads,
/// nonblocking reads, and back, while the peer streams 4 MiB.
#[test]
fn switching_between_callback_blocking_and_nonblocking_mid_transfer_keeps_every_byte() {
    const LEN: usize = 4 << 20;
    let setup = Setup::new();
    for transport in TRANSPORTS {
        let backend = Backend::new().unwrap();
        let (client, server) = setup.connect(transport);
        let data = common::random_bytes(LEN, 41);
        let sender = {
            let data = data.clone();
            thread::spawn(move || {
                for chunk in data.chunks(3000) {
                    (&server).write_all(chunk).unwrap();
                }
                server.close().unwrap();
            })
        };
        client.set_backend(&backend);
        let got = Arc::new(Mutex::new(Vec::with_capacity(LEN)));
        let mut phase = 0;
        let mut buf = vec![0u8; 5000];
        while got.lock().unwrap().len() < LEN {
            let target = (got.lock().unwrap().len() + 200_000).min(LEN);
            match phase % 3 {
                0 => {
                    let g = got.clone();
                    client.set_nonblocking_callbacks(
                        Some(Arc::new(move |_f: &SslFile, d: &[u8]| {
                            g.lock().unwrap().extend_from_slice(d)
                        })),
                        None,
                        None,
                    );
                    while got.lock().unwrap().len() < target {
                        backend.run_once(Some(Duration::from_millis(100))).unwrap();
                    }
                }
                1 => {
                    client.set_blocking();
                    while got.lock().unwrap().len() < target {
                        let n = (&client).read(&mut buf).unwrap();
                        got.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                }
                _ => {
                    client.set_nonblocking();
                    while got.lock().unwrap().len() < target {
                        match (&client).read(&mut buf) {
                            Ok(n) => got.lock().unwrap().extend_from_slice(&buf[..n]),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                thread::sleep(Duration::from_micros(100))
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            }
            phase += 1;
        }
        client.set_blocking();
        assert_eq!(
            (&client).read(&mut buf).unwrap(),
            0,
            "{transport:?}: close_notify"
        );
        sender.join().unwrap();
        assert!(phase >= 6, "{transport:?}: only {phase} phases");
        assert!(
            *got.lock().unwrap() == data,
            "{transport:?}: lost or reordered"
        );
    }
}

/// One wakeup of the backend delivers all the input the socket holds (up to a bound), not
/// one read's worth: a burst costs one trip through the backend's wait, not one per read.
#[test]
fn one_backend_round_delivers_a_whole_burst() {
    let setup = Setup::new();
    // A socket pair: what the client writes is in the server's socket when write returns.
    let (client, server) = setup.connect(Transport::SocketPair);
    let burst = common::random_bytes(32 * 1024, 7);
    (&client).write_all(&burst).unwrap();
    let backend = Backend::new().unwrap();
    server.set_backend(&backend);
    let got = Arc::new(Mutex::new(Vec::new()));
    let into = got.clone();
    server.set_read_callback(Some(Arc::new(move |_: &SslFile, data: &[u8]| {
        into.lock().unwrap().extend_from_slice(data);
    })));
    backend.run_once(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(got.lock().unwrap().len(), burst.len(), "after one round");
    assert!(*got.lock().unwrap() == burst);
    server.set_read_callback(None);
}
