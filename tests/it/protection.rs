//! Timeouts that protect a server: the handshake timeout (per file and on `Port`, in
//! blocking, nonblocking and callback mode) and the idle timeout. Both end the connection
//! with `TimedOut`, even when the peer never sends another byte; neither touches a
//! connection that keeps moving.
//!
//! Timing bounds here are generous on purpose (a timeout must not fire early; it must fire
//! within a few times its value on a loaded machine): they check behaviour, not speed.

use crate::common;
use common::running::Running;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::faulty::Faulty;
use common::pair::{raw_pair, Setup, TRANSPORTS};
use common::TIMEOUT;
use sslfile::{File, Port, SslFile};

const SHORT: Duration = Duration::from_millis(300);

/// Asserts a timeout fired no earlier than `timeout` and within a generous bound.
fn assert_fired_in_time(elapsed: Duration, timeout: Duration, what: &str) {
    assert!(
        elapsed >= timeout,
        "{what}: fired after {elapsed:?}, before {timeout:?}"
    );
    assert!(
        elapsed < timeout * 10 + Duration::from_secs(2),
        "{what}: took {elapsed:?} for a {timeout:?} timeout"
    );
}

/// Reads a plain socket until the server hangs up: end of stream or a reset.
fn wait_for_hangup(socket: &mut TcpStream) -> io::Result<()> {
    socket.set_read_timeout(Some(TIMEOUT))?;
    let mut buf = [0u8; 4096];
    loop {
        match socket.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => continue, // an alert, say
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

#[test]
fn a_blocking_handshake_with_a_silent_peer_ends_at_the_handshake_timeout() {
    let setup = Setup::new();
    for transport in TRANSPORTS {
        let (c, _silent) = raw_pair(transport);
        let tls = SslFile::new(c, &setup.client_ctx);
        tls.set_blocking();
        tls.set_handshake_timeout(Some(SHORT));
        assert_eq!(tls.handshake_timeout(), Some(SHORT));
        let start = Instant::now();
        let err = tls.connect("localhost").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{transport:?}: {err}");
        assert!(err.to_string().contains("handshake"), "{err}");
        assert_fired_in_time(start.elapsed(), SHORT, &format!("{transport:?}"));
        // Unlike set_timeout, it ends the connection: every later call reports it.
        let err = (&tls).read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{transport:?}");
    }
}

#[test]
fn a_nonblocking_handshake_past_its_timeout_fails_on_the_next_call() {
    let setup = Setup::new();
    let (c, _silent) = raw_pair(common::pair::Transport::SocketPair);
    let tls = SslFile::new(c, &setup.client_ctx);
    tls.set_handshake_timeout(Some(SHORT));
    tls.connect("localhost").unwrap();
    let mut buf = [0u8; 8];
    let err = (&tls).read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "not yet");
    thread::sleep(SHORT); // the timeout's own duration, not a synchronisation
    let err = (&tls).read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
}

/// What a callback-mode connection reported.
fn watch_close<S: sslfile::Stream + 'static>(
    tls: &SslFile<S>,
) -> mpsc::Receiver<(Option<io::ErrorKind>, Instant)> {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    tls.set_close_callback(Some(Arc::new(
        move |_f: &SslFile<S>, e: Option<&sslfile::Error>| {
            let _ = tx
                .lock()
                .unwrap()
                .send((e.map(|e| e.kind()), Instant::now()));
        },
    )));
    rx
}

#[test]
fn a_callback_mode_handshake_with_a_silent_peer_is_ended_by_the_backend() {
    let setup = Setup::new();
    let running = Running::new();
    // Over a socket pair, and over the scripted transport (no descriptor: only the
    // backend's call_out can notice).
    let (c, _silent) = raw_pair(common::pair::Transport::SocketPair);
    let tls = SslFile::new(c, &setup.client_ctx);
    tls.set_backend(&running.backend);
    tls.set_handshake_timeout(Some(SHORT));
    let closed = watch_close(&tls);
    let start = Instant::now();
    tls.connect("localhost").unwrap();
    let (kind, at) = closed.recv_timeout(TIMEOUT).expect("close callback");
    assert_eq!(kind, Some(io::ErrorKind::TimedOut));
    assert_fired_in_time(at - start, SHORT, "socket pair");

    let (c, _silent) = Faulty::pair();
    let tls = SslFile::new(c, &setup.client_ctx);
    tls.set_backend(&running.backend);
    tls.set_handshake_timeout(Some(SHORT));
    let closed = watch_close(&tls);
    let start = Instant::now();
    tls.connect("localhost").unwrap();
    let (kind, at) = closed.recv_timeout(TIMEOUT).expect("close callback");
    assert_eq!(kind, Some(io::ErrorKind::TimedOut));
    assert_fired_in_time(at - start, SHORT, "scripted transport");
}

#[test]
fn an_idle_connection_is_ended_and_a_busy_one_is_not() {
    let setup = Setup::new();
    let running = Running::new();
    for transport in TRANSPORTS {
        let (client, server) = setup.connect(transport);
        server.set_backend(&running.backend);
        server.set_idle_timeout(Some(SHORT));
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        server.set_read_callback(Some(Arc::new(move |_f: &SslFile, d: &[u8]| {
            g.lock().unwrap().extend_from_slice(d)
        })));
        let closed = watch_close(&server);
        // Busy: a byte every third of the timeout, for three timeouts.
        let start = Instant::now();
        let mut last_write = start;
        while start.elapsed() < SHORT * 3 {
            last_write = Instant::now();
            (&client).write_all(b".").unwrap();
            thread::sleep(SHORT / 3);
        }
        assert!(
            closed.try_recv().is_err(),
            "{transport:?}: a busy connection was ended"
        );
        // Idle: ended after the timeout, counted from the last byte received.
        let (kind, at) = closed.recv_timeout(TIMEOUT).expect("close callback");
        assert_eq!(kind, Some(io::ErrorKind::TimedOut), "{transport:?}");
        assert_fired_in_time(at - last_write, SHORT, &format!("{transport:?}"));
        assert!(!got.lock().unwrap().is_empty());
        drop(server);
        // The server side is gone: the client sees the end (no close_notify: truncated).
        let err = (&client).read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{transport:?}");
    }
}

#[test]
fn a_blocking_read_on_an_idle_connection_ends_at_the_idle_timeout() {
    let setup = Setup::new();
    let (client, _server) = setup.connect(common::pair::Transport::SocketPair);
    client.set_timeout(None);
    client.set_idle_timeout(Some(SHORT));
    let start = Instant::now();
    let err = (&client).read(&mut [0u8; 8]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert!(err.to_string().contains("idle"), "{err}");
    assert_fired_in_time(start.elapsed(), SHORT, "blocking read");
}

#[test]
fn a_port_disconnects_clients_that_stall_their_handshake_and_serves_the_others() {
    let setup = Setup::new();
    let running = Running::new();
    let port = Port::bind("127.0.0.1:0", &setup.server_ctx).unwrap();
    assert_eq!(
        port.handshake_timeout(),
        Some(Port::DEFAULT_HANDSHAKE_TIMEOUT)
    );
    port.set_handshake_timeout(Some(SHORT));
    port.set_idle_timeout(Some(SHORT * 3));
    assert_eq!(port.idle_timeout(), Some(SHORT * 3));
    let addr = port.local_addr().unwrap();
    port.listen(&running.backend, |conn: SslFile| {
        conn.set_read_callback(Some(Arc::new(|f: &SslFile, d: &[u8]| {
            let _ = (&*f).write_all(d);
        })));
    })
    .unwrap();

    // A client that connects and says nothing, one that sends half a ClientHello.
    let mut silent = TcpStream::connect(addr).unwrap();
    let mut partial = TcpStream::connect(addr).unwrap();
    partial.write_all(&[22, 3, 1, 0, 200, 1, 0]).unwrap();
    let start = Instant::now();
    // A normal client is served meanwhile, then goes idle and is disconnected too.
    let tls =
        SslFile::client(File::connect(addr).unwrap(), &setup.client_ctx, "localhost").unwrap();
    tls.set_timeout(Some(TIMEOUT));
    let last_request = Instant::now();
    (&tls).write_all(b"echo").unwrap();
    let mut echo = [0u8; 4];
    (&tls).read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"echo");

    wait_for_hangup(&mut silent).unwrap();
    assert_fired_in_time(start.elapsed(), SHORT, "silent client");
    wait_for_hangup(&mut partial).unwrap();
    assert_fired_in_time(start.elapsed(), SHORT, "partial ClientHello");
    let err = (&tls).read(&mut echo).unwrap_err();
    assert_eq!(
        err.kind(),
        io::ErrorKind::BrokenPipe,
        "the idle timeout ended it"
    );
    assert_fired_in_time(last_request.elapsed(), SHORT * 3, "idle client");
}

#[test]
fn port_accept_applies_the_handshake_timeout() {
    let setup = Setup::new();
    let port = Port::bind("127.0.0.1:0", &setup.server_ctx).unwrap();
    port.set_handshake_timeout(Some(SHORT));
    let _silent = TcpStream::connect(port.local_addr().unwrap()).unwrap();
    let start = Instant::now();
    let err = port.accept().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert_fired_in_time(start.elapsed(), SHORT, "accept");
}
