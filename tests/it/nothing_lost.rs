//! Nothing is lost at close: every byte accepted by `write` before `close` (or a drop)
//! reaches the peer, followed by our close_notify, over real TCP, in every mode — even
//! when the closing side never read what the peer sent (TLS 1.3 session tickets, a
//! request, a close_notify): closing a socket with unread input makes the kernel reset
//! the connection and throw away what is still in flight. Also: abrupt ends read as
//! `BrokenPipe`, a dropped backend frees its files, key updates in bursts, and handing the
//! transport over from inside a callback.

use crate::common;
use common::running::Running;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::pair::{raw_pair, Setup, Transport};
use common::{random_bytes, TIMEOUT};
use sslfile::{Backend, Callbacks, ClientAuth, Context, Error, File, SslFile, TlsVersion};

/// How the closing side writes and ends.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// `write_all` then `close()`, blocking.
    Blocking,
    /// Nonblocking writes (waiting for writability in between), then `close()`.
    Nonblocking,
    /// Writes from the write callback on a backend, `close()` from the callback.
    Callback,
    /// `write_all` blocking, then the last handle is dropped.
    Drop,
}

const MODES: [Mode; 4] = [
    Mode::Blocking,
    Mode::Nonblocking,
    Mode::Callback,
    Mode::Drop,
];

/// Runs per mode, version and delay (`SSLFILE_CLOSE_RUNS` to change).
fn runs() -> usize {
    std::env::var("SSLFILE_CLOSE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

fn version_ctx(setup: &Setup, tls13: bool) -> Context {
    let (min, max) = if tls13 {
        (TlsVersion::Tls1_3, TlsVersion::Tls1_3)
    } else {
        (TlsVersion::Tls1_2, TlsVersion::Tls1_2)
    };
    Context::builder()
        .trust_pem(setup.pki.ca_pem.as_bytes())
        .unwrap()
        .versions(min, max)
        .unwrap()
        .build()
        .unwrap()
}

/// TCP: (connecting end, accepted end).
fn tcp_pair() -> (File, File) {
    raw_pair(Transport::Tcp)
}

/// Writes `data` over `file` in `mode` and closes (or drops) it.
fn write_and_close(file: SslFile, data: Arc<Vec<u8>>, mode: Mode, backend: &Backend) {
    match mode {
        Mode::Blocking | Mode::Drop => {
            file.set_blocking();
            file.set_timeout(Some(TIMEOUT));
            (&file).write_all(&data).unwrap();
            if matches!(mode, Mode::Blocking) {
                file.close().unwrap();
            }
            drop(file);
        }
        Mode::Nonblocking => {
            file.set_nonblocking();
            let mut sent = 0;
            let deadline = Instant::now() + TIMEOUT;
            while sent < data.len() {
                match (&file).write(&data[sent..]) {
                    Ok(n) => sent += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        assert!(Instant::now() < deadline, "nonblocking writes stalled");
                        let _ = sslfile::Stream::wait(
                            &*file.stream().unwrap(),
                            sslfile::Interest::WRITE,
                            Some(Instant::now() + Duration::from_millis(20)),
                        );
                    }
                    Err(e) => panic!("nonblocking write: {e}"),
                }
            }
            file.close().unwrap();
        }
        Mode::Callback => {
            let (done_tx, done_rx) = mpsc::channel::<()>();
            let sent = Arc::new(AtomicUsize::new(0));
            let done_tx = Mutex::new(Some(done_tx));
            file.set_backend(backend);
            file.set_write_callback(Some(Arc::new(move |f: &SslFile| {
                let at = sent.load(Ordering::SeqCst);
                if at == data.len() {
                    f.set_write_callback(None);
                    f.close().unwrap();
                    if let Some(tx) = done_tx.lock().unwrap().take() {
                        let _ = tx.send(());
                    }
                    return;
                }
                match (&*f).write(&data[at..]) {
                    Ok(n) => {
                        sent.fetch_add(n, Ordering::SeqCst);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("write from the callback: {e}"),
                }
            })));
            drop(file); // the backend holds it while it has callbacks
            done_rx.recv_timeout(TIMEOUT).expect("the callback closed");
        }
    }
}

/// The issue's scenario: the client uploads 200 KiB and closes without ever reading (the
/// server's TLS 1.3 tickets stay unread); the server, after a delay, reads to the end.
fn upload_then_close(setup: &Setup, mode: Mode, tls13: bool, delay_ms: u64, backend: &Backend) {
    let data = Arc::new(random_bytes(200 * 1024, delay_ms + 7));
    let (c, s) = tcp_pair();
    let server_ctx = setup.server_ctx.clone();
    let server = thread::spawn(move || -> Result<Vec<u8>, io::Error> {
        let tls = SslFile::server(s, &server_ctx)?;
        tls.set_timeout(Some(TIMEOUT));
        thread::sleep(Duration::from_millis(delay_ms));
        let mut got = Vec::new();
        (&tls).read_to_end(&mut got)?; // Ok only after the client's close_notify
        Ok(got)
    });
    let client = SslFile::client(c, &version_ctx(setup, tls13), "localhost").unwrap();
    write_and_close(client, data.clone(), mode, backend);
    let got = server.join().unwrap();
    let what = format!(
        "{mode:?}, TLS 1.{}, server delay {delay_ms} ms",
        if tls13 { 3 } else { 2 }
    );
    match got {
        Ok(got) => assert!(
            got == *data,
            "{what}: the server read {} of {} bytes",
            got.len(),
            data.len()
        ),
        Err(e) => panic!("{what}: the server's read failed: {e}"),
    }
}

#[test]
fn an_upload_followed_by_close_reaches_the_peer_whole_in_every_mode() {
    let setup = Arc::new(Setup::new());
    let running = Running::new();
    let runs = runs();
    // Three threads share the work: the cases are independent connections.
    let cases: Vec<(Mode, bool, u64)> = MODES
        .iter()
        .flat_map(|&m| [true, false].map(|v| (m, v)))
        .flat_map(|(m, v)| [0u64, 10, 20].map(|d| (m, v, d)))
        .collect();
    let cases = Arc::new(Mutex::new(
        cases
            .into_iter()
            .flat_map(|c| std::iter::repeat_n(c, runs))
            .collect::<Vec<_>>(),
    ));
    let total = cases.lock().unwrap().len();
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let cases = cases.clone();
            let backend = running.backend.clone();
            let setup = setup.clone();
            thread::spawn(move || loop {
                let Some((mode, tls13, delay)) = cases.lock().unwrap().pop() else {
                    return;
                };
                upload_then_close(&setup, mode, tls13, delay, &backend);
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    println!("{total} uploads, every byte delivered and ended by close_notify");
    assert!(running.backend.run_until_closed(TIMEOUT).is_ok());
}

/// The server side: a response written and closed while the client's request (and, in the
/// second variant, its close_notify) was never read by the server.
#[test]
fn a_response_followed_by_close_reaches_the_client_whole_despite_an_unread_request() {
    let setup = Setup::new();
    let running = Running::new();
    let runs = runs() / 4;
    for tls13 in [true, false] {
        for mode in MODES {
            for client_closes_first in [false, true] {
                for run in 0..runs.max(1) {
                    let data = Arc::new(random_bytes(200 * 1024, run as u64));
                    let (c, s) = tcp_pair();
                    let client_ctx = version_ctx(&setup, tls13);
                    let client = thread::spawn(move || -> io::Result<Vec<u8>> {
                        let tls = SslFile::client(c, &client_ctx, "localhost")?;
                        tls.set_timeout(Some(TIMEOUT));
                        (&tls).write_all(&random_bytes(4096, 99))?;
                        if client_closes_first {
                            tls.shutdown(std::net::Shutdown::Write)?;
                        }
                        let mut got = Vec::new();
                        (&tls).read_to_end(&mut got)?;
                        Ok(got)
                    });
                    let server = SslFile::server(s, &setup.server_ctx).unwrap();
                    // Let the request arrive: it stays unread.
                    thread::sleep(Duration::from_millis(2));
                    write_and_close(server, data.clone(), mode, &running.backend);
                    let what = format!(
                        "{mode:?}, TLS 1.{}, client closes first: {client_closes_first}",
                        if tls13 { 3 } else { 2 }
                    );
                    match client.join().unwrap() {
                        Ok(got) => assert!(got == *data, "{what}: {} bytes", got.len()),
                        Err(e) => panic!("{what}: the client's read failed: {e}"),
                    }
                }
            }
        }
    }
}

/// A client without certificate against a server that requires one: with TLS 1.3 the
/// client's handshake is over before the server refuses, and the client writes its request
/// at once. Our `certificate_required` alert must reach it, not a reset.
#[test]
fn a_refused_client_hears_the_alert_instead_of_a_reset() {
    let setup = Setup::new();
    let leaf = setup.pki.leaf(&["localhost"]);
    let server_ctx = Context::builder()
        .certificate_chain_pem(leaf.chain_pem.as_bytes(), leaf.key_pem.as_bytes())
        .unwrap()
        .client_auth(ClientAuth::Required)
        .client_ca_pem(setup.pki.ca_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let running = Running::new();
    for tls13 in [true, false] {
        for server_mode in ["blocking", "nonblocking", "callback"] {
            for _ in 0..10 {
                let (c, s) = tcp_pair();
                let server_ctx = server_ctx.clone();
                let backend = running.backend.clone();
                let server = thread::spawn(move || match server_mode {
                    "blocking" => drop(SslFile::server(s, &server_ctx)),
                    "nonblocking" => {
                        let tls = SslFile::new(s, &server_ctx);
                        let _ = tls.accept(); // may already know the outcome
                        let deadline = Instant::now() + TIMEOUT;
                        while tls.is_handshaking()
                            && tls
                                .errno()
                                .is_none_or(|e| e.kind() == io::ErrorKind::WouldBlock)
                        {
                            assert!(Instant::now() < deadline);
                            let _ = (&tls).read(&mut [0u8; 64]);
                            thread::sleep(Duration::from_millis(1));
                        }
                        drop(tls);
                    }
                    _ => {
                        let tls = SslFile::new(s, &server_ctx);
                        tls.set_backend(&backend);
                        tls.set_close_callback(Some(Arc::new(|_f: &SslFile, _e| {})));
                        let _ = tls.accept(); // the failure may be known at once
                    }
                });
                let client = SslFile::new(c, &version_ctx(&setup, tls13));
                client.set_blocking();
                client.set_timeout(Some(TIMEOUT));
                let outcome = client.connect("localhost").and_then(|()| {
                    (&client).write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
                    let mut buf = Vec::new();
                    (&client).read_to_end(&mut buf)?;
                    Ok(())
                });
                server.join().unwrap();
                let err = outcome.expect_err("the server refuses the client");
                let what = format!("TLS 1.{}, {server_mode} server", if tls13 { 3 } else { 2 });
                assert!(
                    matches!(err, Error::PeerAlert { .. }),
                    "{what}: the client got {err} instead of the alert"
                );
                assert!(
                    err.to_string().contains("CertificateRequired")
                        || err.to_string().contains("HandshakeFailure")
                        || err.to_string().contains("requires a client certificate"),
                    "{what}: {err}"
                );
            }
        }
    }
}

/// A Python TLS 1.3 server that sends a greeting and then never reads.
const SILENT_PYTHON_SERVER: &str = r#"
import socket, ssl, sys, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(1)
print(ls.getsockname()[1], flush=True)
conn, _ = ls.accept()
tls = ctx.wrap_socket(conn, server_side=True)
tls.sendall(b"hello\n")
time.sleep(60)
"#;

/// A TLS 1.3 peer process that is killed mid-stream, with our data unread in its socket
/// (its kernel resets): our read says `BrokenPipe`, not `ConnectionReset`, with the kernel's
/// word kept as the cause; the close callback says the same.
#[test]
fn a_killed_peer_process_reads_as_broken_pipe() {
    let setup = Setup::new();
    let dir = common::tempdir();
    let files = setup
        .pki
        .leaf(&["localhost"])
        .write_to(dir.path(), "server");
    for callback in [false, true] {
        let mut cmd = std::process::Command::new("python3");
        cmd.arg("-c")
            .arg(SILENT_PYTHON_SERVER)
            .arg(&files.cert)
            .arg(&files.key);
        let mut server = common::process::ChildProc::spawn(cmd);
        assert!(server.wait_stdout(b"\n", TIMEOUT), "{}", server.describe());
        let port: u16 = server.stdout_text().trim().parse().unwrap();
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let client =
            SslFile::client(File::try_from(tcp).unwrap(), &setup.client_ctx, "localhost").unwrap();
        let mut hello = [0u8; 6];
        (&client).read_exact(&mut hello).unwrap();
        // Left unread by the server: its kernel resets when the process dies.
        (&client).write_all(b"never read").unwrap();
        thread::sleep(Duration::from_millis(20));
        let reason = if callback {
            let running = Running::new();
            let (tx, rx) = mpsc::channel();
            client.set_backend(&running.backend);
            client.set_callbacks(Callbacks {
                read: Some(Arc::new(|_f: &SslFile, _d: &[u8]| {})),
                close: Some(Arc::new(move |_f: &SslFile, e: Option<&sslfile::Error>| {
                    let _ = tx.send(e.map(|e| e.kind()));
                })),
                ..Default::default()
            });
            drop(client);
            server.kill();
            rx.recv_timeout(TIMEOUT).unwrap()
        } else {
            server.kill();
            client.set_timeout(Some(TIMEOUT));
            let mut sink = Vec::new();
            let err = (&client).read_to_end(&mut sink).unwrap_err();
            assert_eq!(
                client.errno().and_then(|e| e.raw_os_error()),
                Some(32),
                "EPIPE: {err}"
            );
            assert!(
                err.to_string().contains("reset"),
                "the kernel's word: {err}"
            );
            Some(err.kind())
        };
        assert_eq!(
            reason,
            Some(io::ErrorKind::BrokenPipe),
            "callback: {callback}"
        );
    }
}

/// A peer that hangs up during the handshake: the peer going away, `BrokenPipe`, with a
/// message that says when — for a blocking server, a blocking client and a close callback.
#[test]
fn a_peer_that_hangs_up_during_the_handshake_is_broken_pipe() {
    let setup = Setup::new();
    // Server side: the client sends half a ClientHello and leaves.
    let (c, s) = tcp_pair();
    let partial = thread::spawn(move || {
        (&c).write_all(&[0x16, 0x03, 0x01, 0x00, 0x80, 0x01])
            .unwrap();
        thread::sleep(Duration::from_millis(20));
        drop(c);
    });
    let err = SslFile::server(s, &setup.server_ctx).unwrap_err();
    partial.join().unwrap();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
    assert!(
        err.to_string().contains("during the TLS handshake"),
        "{err}"
    );

    // Client side: a server that accepts TCP, reads the ClientHello and resets.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let rude = thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        let mut hello = [0u8; 5];
        (&sock).read_exact(&mut hello).unwrap();
        // The rest of the ClientHello unread: closing resets the connection.
        drop(sock);
    });
    let err =
        SslFile::client(File::connect(addr).unwrap(), &setup.client_ctx, "localhost").unwrap_err();
    rude.join().unwrap();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
    assert!(
        err.to_string().contains("during the TLS handshake"),
        "{err}"
    );

    // Callback mode: the close callback reports it the same way.
    let running = Running::new();
    let (c, s) = tcp_pair();
    let (tx, rx) = mpsc::channel();
    let server = SslFile::new(s, &setup.server_ctx);
    server.set_backend(&running.backend);
    server.set_close_callback(Some(Arc::new(
        move |_f: &SslFile, e: Option<&sslfile::Error>| {
            let _ = tx.send(e.map(|e| (e.kind(), e.to_string())));
        },
    )));
    server.accept().unwrap();
    drop(server);
    (&c).write_all(&[0x16, 0x03, 0x01]).unwrap();
    drop(c);
    let (kind, message) = rx.recv_timeout(TIMEOUT).unwrap().expect("an error");
    assert_eq!(kind, io::ErrorKind::BrokenPipe, "{message}");
    assert!(message.contains("during the TLS handshake"), "{message}");
}

/// 40 key updates in a row without data in between, then data: all of it arrives (peers
/// give up after 32 updates without data; ours are coalesced).
#[test]
fn a_burst_of_key_updates_does_not_kill_the_connection() {
    let setup = Setup::new();
    for transport in [Transport::SocketPair, Transport::Tcp] {
        let (client, server) = setup.connect(transport);
        for _ in 0..40 {
            client.renegotiate().unwrap();
        }
        (&client).write_all(b"after the burst").unwrap();
        let mut buf = [0u8; 15];
        (&server).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"after the burst");
        // Updates with data in between, the peer silent: each one is answered by an update
        // of the peer's, which our side counts; past a bound we refuse clearly.
        let mut refused = None;
        for i in 0..40 {
            (&client).write_all(b"x").unwrap();
            if let Err(e) = client.renegotiate() {
                refused = Some((i, e));
                break;
            }
            (&server).read_exact(&mut [0u8; 1]).unwrap();
        }
        let (i, err) = refused.expect("the bound is reached");
        assert!(i >= 15, "refused after {i}");
        assert!(err.to_string().contains("key updates"), "{err}");
        assert!(!err.to_string().contains("TooMany"), "{err}");
        // The connection is intact: the server answers, which lets updates go on.
        (&server).write_all(b"still here").unwrap();
        let mut buf = [0u8; 10];
        (&client).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"still here");
        (&client).write_all(b"y").unwrap();
        client.renegotiate().unwrap();
        (&client).write_all(b"z").unwrap();
        let mut buf = [0u8; 3];
        (&server).read_exact(&mut buf).unwrap();
        client.close().unwrap();
        let mut rest = Vec::new();
        (&server).read_to_end(&mut rest).unwrap();
    }
}

/// Protocol fallback from inside the alert callback: a program that keeps its handle in a
/// slot takes the transport from the callback and answers in plain text at once.
#[test]
fn the_alert_callback_can_take_the_transport_and_answer_in_plain_text() {
    let setup = Setup::new();
    let running = Running::new();
    for transport in [Transport::SocketPair, Transport::Tcp] {
        let (c, s) = raw_pair(transport);
        let slot: Arc<Mutex<Option<SslFile>>> = Arc::new(Mutex::new(None));
        let server = SslFile::new(s, &setup.server_ctx);
        server.set_backend(&running.backend);
        let taken = Instant::now();
        let in_cb = slot.clone();
        server.set_alert_callback(Some(Arc::new(
            move |f: &SslFile, _err: &Error, sent: &[u8]| {
                assert!(sent.starts_with(b"GET /"));
                // The slot's handle is another handle to this file: both work.
                let mine = in_cb.lock().unwrap().take().expect("the slot's handle");
                let (plain, received) = mine.take_stream().expect("the transport");
                assert_eq!(received, sent);
                assert!(f.take_stream().is_err(), "handed over once");
                plain.set_blocking();
                (&plain)
                    .write_all(b"HTTP/1.1 400 Bad Request\r\n\r\nplain HTTP to a TLS port")
                    .unwrap();
                plain.close().unwrap();
            },
        )));
        server.accept().unwrap();
        *slot.lock().unwrap() = Some(server);
        (&c).write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        c.set_timeout(Some(TIMEOUT));
        let mut answer = String::new();
        (&c).read_to_string(&mut answer).unwrap();
        assert!(answer.ends_with("plain HTTP to a TLS port"), "{answer}");
        assert!(
            taken.elapsed() < Duration::from_secs(2),
            "no stall: {:?}",
            taken.elapsed()
        );
    }
}

/// The peer starts the clean close: 1 MiB over TLS, its close_notify, and the moment that
/// has left (or a little later) 4,096 bytes of plaintext on the raw transport. We read to
/// the end (blocking, nonblocking or with callbacks), close cleanly too and take the
/// transport back: every one of the 4,096 bytes comes back from `into_stream`.
#[test]
fn into_stream_returns_every_byte_that_follows_the_peers_close_notify() {
    let setup = Setup::new();
    let running = Running::new();
    let tail = random_bytes(4096, 5);
    for transport in [Transport::SocketPair, Transport::Tcp] {
        for tls13 in [true, false] {
            for mode in ["blocking", "nonblocking", "callback"] {
                for delay_ms in [0u64, 20] {
                    let what = format!(
                        "{transport:?}, TLS 1.{}, {mode}, plaintext after {delay_ms} ms",
                        if tls13 { 3 } else { 2 }
                    );
                    let (c, s) = raw_pair(transport);
                    let server_ctx = setup.server_ctx.clone();
                    let data = random_bytes(1 << 20, 3);
                    let (peer_data, peer_tail) = (data.clone(), tail.clone());
                    let peer = thread::spawn(move || {
                        let peer = SslFile::server(s, &server_ctx).unwrap();
                        peer.set_timeout(Some(TIMEOUT));
                        (&peer).write_all(&peer_data).unwrap();
                        peer.set_nonblocking();
                        peer.close_clean().unwrap(); // returns at once
                        let deadline = Instant::now() + TIMEOUT;
                        while let Err(e) = peer.flush() {
                            assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e}");
                            assert!(Instant::now() < deadline);
                            thread::sleep(Duration::from_millis(1));
                        }
                        thread::sleep(Duration::from_millis(delay_ms));
                        (&*peer.stream().unwrap()).write_all(&peer_tail).unwrap();
                        while peer.close_clean().is_ok()
                            && peer.is_open() == sslfile::OpenState::Closing
                        {
                            assert!(Instant::now() < deadline, "our close_notify never came");
                            thread::sleep(Duration::from_millis(1));
                        }
                        peer.into_stream().unwrap() // kept open until we are done
                    });
                    let client =
                        SslFile::client(c, &version_ctx(&setup, tls13), "localhost").unwrap();
                    client.set_timeout(Some(TIMEOUT));
                    let got = match mode {
                        "blocking" => {
                            let mut got = Vec::new();
                            (&client).read_to_end(&mut got).unwrap();
                            got
                        }
                        "nonblocking" => {
                            client.set_nonblocking();
                            let mut got = Vec::new();
                            let mut buf = vec![0u8; 65536];
                            let deadline = Instant::now() + TIMEOUT;
                            loop {
                                match (&client).read(&mut buf) {
                                    Ok(0) => break,
                                    Ok(n) => got.extend_from_slice(&buf[..n]),
                                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                        assert!(Instant::now() < deadline, "{what}");
                                        thread::sleep(Duration::from_micros(200));
                                    }
                                    Err(e) => panic!("{what}: {e}"),
                                }
                            }
                            client.set_blocking();
                            got
                        }
                        _ => {
                            let got = Arc::new(Mutex::new(Vec::new()));
                            let (tx, rx) = mpsc::channel();
                            let sink = got.clone();
                            client.set_backend(&running.backend);
                            client.set_callbacks(Callbacks {
                                read: Some(Arc::new(move |_f: &SslFile, d: &[u8]| {
                                    sink.lock().unwrap().extend_from_slice(d)
                                })),
                                close: Some(Arc::new(
                                    move |_f: &SslFile, e: Option<&sslfile::Error>| {
                                        let _ = tx.send(e.map(|e| e.to_string()));
                                    },
                                )),
                                ..Default::default()
                            });
                            let reason = rx.recv_timeout(TIMEOUT).unwrap();
                            assert_eq!(reason, None, "{what}: a clean end");
                            client.set_blocking();
                            let got = std::mem::take(&mut *got.lock().unwrap());
                            got
                        }
                    };
                    assert!(
                        got == data,
                        "{what}: {} of {} bytes over TLS",
                        got.len(),
                        data.len()
                    );
                    client.close_clean().unwrap();
                    let plain = client.into_stream().unwrap();
                    plain.set_timeout(Some(TIMEOUT));
                    let mut after = vec![0u8; tail.len()];
                    (&plain).read_exact(&mut after).unwrap_or_else(|e| {
                        panic!("{what}: the plaintext after close_notify: {e}")
                    });
                    assert!(after == tail, "{what}: the plaintext differs");
                    drop(peer.join().unwrap());
                }
            }
        }
    }
}

/// `Port`'s plaintext fallback, in callback mode (`listen`) and blocking (`accept`): a
/// client that sends plain text gets the fallback's answer, not an alert.
#[test]
fn a_port_hands_plaintext_clients_to_its_fallback() {
    let setup = Setup::new();
    let running = Running::new();
    for listen in [true, false] {
        let port = sslfile::Port::bind("127.0.0.1:0", &setup.server_ctx).unwrap();
        let addr = port.local_addr().unwrap();
        port.set_plaintext_fallback(Some(Arc::new(|plain: File, request: Vec<u8>| {
            assert!(request.starts_with(b"HELLO"), "{request:?}");
            plain.set_blocking();
            (&plain).write_all(b"plain answer").unwrap();
            plain.close().unwrap();
        })));
        let accepting = if listen {
            port.listen(&running.backend, |_conn: SslFile| panic!("not TLS"))
                .unwrap();
            None
        } else {
            Some(thread::spawn(move || {
                let err = port.accept().unwrap_err();
                assert!(err.to_string().contains("does not speak TLS"), "{err}");
                port
            }))
        };
        let mut client = TcpStream::connect(addr).unwrap();
        client.set_read_timeout(Some(TIMEOUT)).unwrap();
        client.write_all(b"HELLO there\r\n").unwrap();
        let mut answer = String::new();
        client.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, "plain answer", "listen: {listen}");
        if let Some(accepting) = accepting {
            drop(accepting.join().unwrap());
        }
    }
}

/// `SslFile::client` against a server that accepts TCP but never answers: bounded by the
/// context's handshake timeout (30 s unless set), and a `File`'s own timeout carries over
/// to the TLS file made over it.
#[test]
fn one_line_constructors_are_bounded_by_the_contexts_handshake_timeout() {
    let setup = Setup::new();
    assert_eq!(
        setup.client_ctx.handshake_timeout(),
        Some(Context::DEFAULT_HANDSHAKE_TIMEOUT)
    );
    let ctx = Context::builder()
        .trust_pem(setup.pki.ca_pem.as_bytes())
        .unwrap()
        .handshake_timeout(Some(Duration::from_millis(300)))
        .build()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = File::connect(listener.local_addr().unwrap()).unwrap();
    let started = Instant::now();
    let err = SslFile::client(silent, &ctx, "localhost").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // The File's timeout: the TLS file starts with it.
    let (a, _b) = File::pipe().unwrap();
    a.set_timeout(Some(Duration::from_millis(250)));
    let tls = SslFile::new(a, &setup.client_ctx);
    assert_eq!(tls.timeout(), Some(Duration::from_millis(250)));
    tls.set_blocking();
    let started = Instant::now();
    let err = tls.connect("localhost").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A relay as a child process: stdin to a TCP connection, the connection to stdout.
const STDIO_RELAY: &str = r#"
import socket, sys, threading
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def up():
    while True:
        b = sys.stdin.buffer.raw.read(65536)
        if not b:
            s.shutdown(socket.SHUT_WR); return
        s.sendall(b)
threading.Thread(target=up, daemon=True).start()
out = sys.stdout.buffer
while True:
    b = s.recv(65536)
    if not b: break
    out.write(b); out.flush()
"#;

/// TLS over any blocking `Read + Write`: a client whose transport is a child process's
/// stdin and stdout (the child relays to a TLS server), in blocking mode.
#[test]
fn tls_runs_over_a_childs_stdio() {
    let setup = Setup::new();
    let port = sslfile::Port::bind("127.0.0.1:0", &setup.server_ctx).unwrap();
    let tcp_port = port.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let tls = port.accept().unwrap();
        let mut request = [0u8; 5];
        (&tls).read_exact(&mut request).unwrap();
        (&tls).write_all(&random_bytes(100_000, 1)).unwrap();
        let mut rest = Vec::new();
        (&tls).read_to_end(&mut rest).unwrap(); // the client's close_notify
        tls.close().unwrap();
        request
    });
    let mut child = std::process::Command::new("python3")
        .args(["-c", STDIO_RELAY, &tcp_port.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let io = sslfile::IoStream::new(child.stdout.take().unwrap(), child.stdin.take().unwrap());
    let tls = SslFile::client(io, &setup.client_ctx, "localhost").unwrap();
    (&tls).write_all(b"hello").unwrap();
    let mut page = vec![0u8; 100_000];
    (&tls).read_exact(&mut page).unwrap();
    assert!(page == random_bytes(100_000, 1));
    tls.close().unwrap();
    assert_eq!(&server.join().unwrap(), b"hello");
    assert!(child.wait().unwrap().success());
}

/// Issue 16's wait for background closes: 1,000 nonblocking files, each with output the
/// socket did not take yet, are dropped; `run_until_closed` on their backend returns once
/// every peer has read every byte and our close_notify.
#[test]
fn a_thousand_dropped_nonblocking_files_with_pending_output_all_arrive_before_run_until_closed() {
    const FILES: usize = 1000;
    let setup = Setup::new();
    let backend = Backend::new().unwrap();
    let mut peers = Vec::with_capacity(FILES);
    let mut pending_at_drop = 0;
    for i in 0..FILES {
        let (client, server) = setup.connect(Transport::SocketPair);
        client.set_backend(&backend);
        client.set_nonblocking();
        // The close's own bound (30 s to deliver), not the test pair's 10 s timeout: the
        // peers are read one after the other, on a machine that may be busy.
        client.set_timeout(None);
        let chunk = random_bytes(64 * 1024, i as u64);
        let mut accepted = Vec::new();
        loop {
            match (&client).write(&chunk) {
                Ok(n) => accepted.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        client.close().unwrap();
        pending_at_drop += usize::from(client.closing_in_background());
        drop(client);
        peers.push((server, accepted));
    }
    assert_eq!(
        pending_at_drop, FILES,
        "every file still had output at its close"
    );
    assert_eq!(backend.closing_connections(), FILES);
    let waiter = {
        let backend = backend.clone();
        thread::spawn(move || backend.run_until_closed(Duration::from_secs(60)))
    };
    // Four readers, each taking its peers one after the other: the closes go on together.
    let peers = Arc::new(Mutex::new(peers));
    let clean = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let peers = peers.clone();
            let clean = clean.clone();
            thread::spawn(move || loop {
                let Some((server, want)) = peers.lock().unwrap().pop() else {
                    return;
                };
                let mut got = Vec::with_capacity(want.len());
                (&server)
                    .read_to_end(&mut got)
                    .expect("close_notify, not an error");
                assert!(got == want, "{} of {} bytes", got.len(), want.len());
                clean.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    for r in readers {
        r.join().unwrap();
    }
    assert!(
        waiter.join().unwrap().unwrap(),
        "run_until_closed timed out"
    );
    assert_eq!(clean.load(Ordering::Relaxed), FILES);
    assert_eq!(backend.closing_connections(), 0);
}
