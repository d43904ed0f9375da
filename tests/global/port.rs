//! `Port` (Pike's `SSL.Port`, SPEC §1 and §5): blocking `accept()` with a handshake timeout,
//! callback mode with `listen` (an echo server whose handles are dropped at once), failed
//! handshakes that never reach the accept callback, and `stop_listening`.
//!
//! `live_connections()` and the backends' watch counts are process-wide facts, so every test
//! of this binary takes `LOCK` and leaves nothing behind.

use crate::common;
use common::running::Running;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::certs::TestPki;
use common::pair::{eventually, Setup};
use common::{random_bytes, TIMEOUT};
use sslfile::{Context, File, Port, SslFile};

/// Serializes the tests of this binary (process-wide counters).
fn serialize() -> std::sync::MutexGuard<'static, ()> {
    common::process_wide()
}

/// Runs `f` in a thread and returns its result, failing the test if it takes longer than
/// `limit` (the thread is then abandoned: the test fails instead of hanging).
fn within<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => {
            handle.join().unwrap();
            v
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the thread sent nothing and did not panic"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: no result within {limit:?}"),
    }
}

/// A blocking client — `SslFile::client`, with every blocking step (handshake included)
/// bounded by `timeout`.
fn tls_client(
    addr: SocketAddr,
    ctx: &Context,
    timeout: Duration,
) -> Result<SslFile, sslfile::Error> {
    let tls = SslFile::new(File::connect(addr)?, ctx);
    tls.set_blocking();
    tls.set_timeout(Some(timeout));
    tls.connect("localhost")?;
    Ok(tls)
}

/// What the echo server saw.
#[derive(Default)]
struct EchoStats {
    accepted: AtomicUsize,
    clean_closes: AtomicUsize,
    /// Anything unexpected on the server side (callbacks must not panic on the backend).
    errors: Mutex<Vec<String>>,
}

impl EchoStats {
    fn error(&self, e: String) {
        self.errors.lock().unwrap().push(e);
    }

    fn check(&self) {
        let errors = self.errors.lock().unwrap();
        assert!(errors.is_empty(), "server-side errors: {errors:?}");
    }
}

/// Writes what it can of `pending` (nonblocking); keeps the rest and finishes it from a
/// write callback, which removes itself once everything went out.
fn send_pending(f: &SslFile, unsent: &Arc<Mutex<Vec<u8>>>, stats: &Arc<EchoStats>) {
    let mut pending = unsent.lock().unwrap();
    while !pending.is_empty() {
        match (&*f).write(&pending) {
            Ok(0) => break,
            Ok(n) => {
                pending.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => {
                stats.error(format!("echo write: {e}"));
                pending.clear();
            }
        }
    }
    if pending.is_empty() {
        f.set_write_callback(None);
    } else if f.write_callback().is_none() {
        let (u, s) = (unsent.clone(), stats.clone());
        f.set_write_callback(Some(Arc::new(move |f: &SslFile| send_pending(f, &u, &s))));
    }
}

/// The `on_accept` of an echo server: installs read/close callbacks on the new connection
/// and drops the handle (the backend keeps the connection alive).
fn echo_server(stats: Arc<EchoStats>) -> impl Fn(SslFile) + Send + Sync + 'static {
    move |conn: SslFile| {
        stats.accepted.fetch_add(1, Ordering::SeqCst);
        if conn.is_blocking() {
            stats.error("listen handed out a blocking connection".into());
        }
        if conn.is_handshaking() {
            stats.error("listen handed out a connection still handshaking".into());
        }
        let unsent = Arc::new(Mutex::new(Vec::<u8>::new()));
        let (u, s) = (unsent.clone(), stats.clone());
        conn.set_read_callback(Some(Arc::new(move |f: &SslFile, data: &[u8]| {
            u.lock().unwrap().extend_from_slice(data);
            send_pending(f, &u, &s);
        })));
        let s = stats.clone();
        conn.set_close_callback(Some(Arc::new(
            move |_f: &SslFile, reason: Option<&sslfile::Error>| match reason {
                None => {
                    s.clean_closes.fetch_add(1, Ordering::SeqCst);
                }
                Some(e) => s.error(format!("close callback: {e} ({:?})", e.kind())),
            },
        )));
        drop(conn);
    }
}

/// One echo round trip over a blocking client connection.
fn echo_round_trip(tls: &SslFile, data: &[u8]) -> io::Result<()> {
    let mut r: &SslFile = tls;
    r.write_all(data)?;
    let mut echo = vec![0u8; data.len()];
    r.read_exact(&mut echo)?;
    if echo != data {
        return Err(io::Error::other("the echo differs from what was sent"));
    }
    Ok(())
}

#[test]
fn blocking_accept_serves_sequential_clients() {
    let _serial = serialize();
    let setup = Setup::new();
    let port = Arc::new(Port::bind("127.0.0.1:0", &setup.server_ctx).unwrap());
    port.set_timeout(Some(TIMEOUT));
    let addr = port.local_addr().unwrap();
    let live_before = sslfile::live_connections();

    let server = {
        let port = port.clone();
        thread::spawn(move || -> Result<(), String> {
            for i in 0..5u8 {
                let conn = port.accept().map_err(|e| format!("accept {i}: {e}"))?;
                if !conn.is_blocking() {
                    return Err(format!("accept {i}: not in blocking mode"));
                }
                if conn.timeout() != Some(TIMEOUT) {
                    return Err(format!("accept {i}: timeout {:?}", conn.timeout()));
                }
                let mut request = [0u8; 8];
                (&conn)
                    .read_exact(&mut request)
                    .map_err(|e| format!("server read {i}: {e}"))?;
                let mut reply = b"ack ".to_vec();
                reply.extend_from_slice(&request);
                (&conn)
                    .write_all(&reply)
                    .map_err(|e| format!("server write {i}: {e}"))?;
                conn.close().map_err(|e| format!("server close {i}: {e}"))?;
            }
            Ok(())
        })
    };

    let client_ctx = setup.client_ctx.clone();
    within("five clients", TIMEOUT * 2, move || {
        for i in 0..5u8 {
            let tls = tls_client(addr, &client_ctx, TIMEOUT)
                .unwrap_or_else(|e| panic!("client {i}: {e}"));
            let request = format!("client {i}");
            (&tls).write_all(request.as_bytes()).unwrap();
            let mut reply = Vec::new();
            // Ends with the server's close_notify: Ok(0).
            (&tls).read_to_end(&mut reply).unwrap();
            assert_eq!(reply, format!("ack client {i}").into_bytes(), "client {i}");
        }
    });
    // The clients are done: the server thread has finished or will at once.
    let result = within("server thread", TIMEOUT, move || server.join().unwrap());
    result.unwrap();
    assert_eq!(sslfile::live_connections(), live_before);
}

#[test]
fn set_timeout_bounds_a_stalled_handshake_and_the_next_client_is_served() {
    let _serial = serialize();
    let setup = Setup::new();
    let port = Arc::new(Port::bind("127.0.0.1:0", &setup.server_ctx).unwrap());
    let addr = port.local_addr().unwrap();
    let timeout = Duration::from_millis(300);
    port.set_timeout(Some(timeout));

    // A client that connects with plain TCP and says nothing.
    let mut silent = TcpStream::connect(addr).unwrap();
    silent.set_read_timeout(Some(TIMEOUT)).unwrap();
    let (elapsed, result) = {
        let port = port.clone();
        within("accept of a silent client", TIMEOUT, move || {
            let start = Instant::now();
            let result = port.accept().map(drop);
            (start.elapsed(), result)
        })
    };
    let err = result.expect_err("a silent client cannot complete a handshake");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert!(
        elapsed >= timeout,
        "gave up after {elapsed:?}, before {timeout:?}"
    );
    assert!(
        elapsed < timeout * 2,
        "took {elapsed:?} for a {timeout:?} timeout"
    );
    // The failed connection was dropped: the silent client reads at most one alert record
    // (our close_notify), then its end.
    let mut rest = Vec::new();
    match silent.read_to_end(&mut rest) {
        Ok(_) => assert!(
            rest.is_empty() || (rest.len() == 7 && rest[..2] == [21, 3]),
            "the stalled connection got {rest:?}"
        ),
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the stalled connection was not closed: {e}"),
    }

    // The next accept serves a real client.
    let client_ctx = setup.client_ctx.clone();
    let client = thread::spawn(move || -> Result<Vec<u8>, sslfile::Error> {
        let tls = tls_client(addr, &client_ctx, TIMEOUT)?;
        (&tls).write_all(b"ping")?;
        let mut reply = Vec::new();
        (&tls).read_to_end(&mut reply)?;
        Ok(reply)
    });
    let served = {
        let port = port.clone();
        within(
            "accept of a real client",
            TIMEOUT * 2,
            move || -> Result<(), sslfile::Error> {
                let conn = port.accept()?;
                let mut request = [0u8; 4];
                (&conn).read_exact(&mut request)?;
                (&conn).write_all(b"pong:")?;
                (&conn).write_all(&request)?;
                conn.close()
            },
        )
    };
    served.expect("the next client is served");
    let reply = within("client", TIMEOUT, move || client.join().unwrap()).unwrap();
    assert_eq!(reply, b"pong:ping");
}

#[test]
fn listen_echoes_for_fifty_concurrent_clients_and_leaves_nothing_behind() {
    let _serial = serialize();
    const CLIENTS: usize = 50;
    const SIZE: usize = 64 * 1024;
    let setup = Setup::new();
    let running = Running::new();
    let backend = running.backend.clone();
    let port = Port::bind("127.0.0.1:0", &setup.server_ctx).unwrap();
    let addr = port.local_addr().unwrap();
    let live_before = sslfile::live_connections();
    let stats = Arc::new(EchoStats::default());
    port.listen(&backend, echo_server(stats.clone())).unwrap();
    assert_eq!(backend.watch_count(), 1, "the listener");

    let (tx, rx) = mpsc::channel();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let ctx = setup.client_ctx.clone();
            let tx = tx.clone();
            thread::spawn(move || {
                let result = (|| -> Result<(), String> {
                    let data = random_bytes(SIZE, i as u64 + 1);
                    let tls =
                        tls_client(addr, &ctx, TIMEOUT).map_err(|e| format!("connect: {e}"))?;
                    echo_round_trip(&tls, &data).map_err(|e| format!("echo: {e}"))?;
                    tls.close().map_err(|e| format!("close: {e}"))
                })();
                let _ = tx.send((i, result));
            })
        })
        .collect();
    drop(tx);
    let mut failures = Vec::new();
    for _ in 0..CLIENTS {
        match rx.recv_timeout(TIMEOUT * 3) {
            Ok((_, Ok(()))) => {}
            Ok((i, Err(e))) => failures.push(format!("client {i}: {e}")),
            Err(e) => panic!("clients did not all finish: {e}; failures so far {failures:?}"),
        }
    }
    for client in clients {
        client.join().unwrap();
    }
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(stats.accepted.load(Ordering::SeqCst), CLIENTS);

    // The clients closed: every connection ends, the backend lets go of it and it is freed.
    eventually(|| (stats.clean_closes.load(Ordering::SeqCst) == CLIENTS).then_some(()));
    eventually(|| (backend.watch_count() == 1).then_some(())); // the listener only
    eventually(|| (sslfile::live_connections() == live_before).then_some(()));
    stats.check();
    drop(port);
    assert_eq!(
        backend.watch_count(),
        0,
        "dropping the port unregisters the listener"
    );
}

/// Clients whose handshake fails never reach `on_accept`; the port goes on serving.
fn failed_handshakes_are_forgotten(
    server_ctx: &Context,
    trusting_ctx: &Context,
    bad_ctx: &Context,
) {
    let running = Running::new();
    let backend = running.backend.clone();
    let port = Port::bind("127.0.0.1:0", server_ctx).unwrap();
    let addr = port.local_addr().unwrap();
    let live_before = sslfile::live_connections();
    let stats = Arc::new(EchoStats::default());
    port.listen(&backend, echo_server(stats.clone())).unwrap();

    // A client that does not trust the server's certificate.
    let ctx = bad_ctx.clone();
    let err = within("untrusting client", TIMEOUT * 2, move || {
        tls_client(addr, &ctx, TIMEOUT).map(drop)
    })
    .expect_err("the client must reject the certificate");
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    // The server side got the client's alert and forgot the connection.
    eventually(|| (backend.watch_count() == 1).then_some(()));

    // A client that speaks HTTP, and one that leaves before saying anything.
    let mut http = TcpStream::connect(addr).unwrap();
    http.set_read_timeout(Some(TIMEOUT)).unwrap();
    http.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    // The port closes it (after an alert): end of stream or a reset, not a timeout.
    if let Err(e) = http.read_to_end(&mut answer) {
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
    }
    // Its end: the port's lingering close is done.
    drop(http);
    drop(TcpStream::connect(addr).unwrap());
    eventually(|| (backend.watch_count() == 1).then_some(()));
    assert_eq!(
        stats.accepted.load(Ordering::SeqCst),
        0,
        "a failed handshake reached on_accept"
    );

    // The next client is served; a small request must be echoed at once.
    let ctx = trusting_ctx.clone();
    within("good client", TIMEOUT * 2, move || {
        let tls = tls_client(addr, &ctx, TIMEOUT).unwrap();
        echo_round_trip(&tls, b"ping").unwrap();
        tls.close().unwrap();
    });
    assert_eq!(stats.accepted.load(Ordering::SeqCst), 1);
    eventually(|| (stats.clean_closes.load(Ordering::SeqCst) == 1).then_some(()));
    eventually(|| (backend.watch_count() == 1).then_some(()));
    eventually(|| (sslfile::live_connections() == live_before).then_some(()));
    stats.check();
}

#[test]
fn a_failed_handshake_never_reaches_on_accept_web_roots_client() {
    let _serial = serialize();
    let setup = Setup::new();
    // Trusts only the bundled web roots, not the test CA.
    let web_roots = Context::builder().build().unwrap();
    failed_handshakes_are_forgotten(&setup.server_ctx, &setup.client_ctx, &web_roots);
}

#[test]
fn a_failed_handshake_never_reaches_on_accept_self_signed_server() {
    let _serial = serialize();
    let setup = Setup::new();
    // The server presents a self-signed certificate the test CA client does not trust;
    // a client trusting that certificate itself is served.
    let leaf = TestPki::self_signed(&["localhost"]);
    let server_ctx = Context::builder()
        .certificate_chain_pem(leaf.chain_pem.as_bytes(), leaf.key_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let trusting = Context::builder()
        .trust_pem(leaf.cert_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    failed_handshakes_are_forgotten(&server_ctx, &trusting, &setup.client_ctx);
}

#[test]
fn stop_listening_stops_accepting_and_connections_go_on() {
    let _serial = serialize();
    let setup = Setup::new();
    let running = Running::new();
    let backend = running.backend.clone();
    let port = Port::bind("127.0.0.1:0", &setup.server_ctx).unwrap();
    let addr = port.local_addr().unwrap();
    let live_before = sslfile::live_connections();
    let stats = Arc::new(EchoStats::default());
    port.listen(&backend, echo_server(stats.clone())).unwrap();

    let ctx = setup.client_ctx.clone();
    let first = within("first client", TIMEOUT * 2, move || {
        let tls = tls_client(addr, &ctx, TIMEOUT).unwrap();
        echo_round_trip(&tls, b"before").unwrap();
        tls
    });
    assert_eq!(
        backend.watch_count(),
        2,
        "the listener and the first connection"
    );

    port.stop_listening();
    eventually(|| (backend.watch_count() == 1).then_some(()));

    // TCP still connects (the listen backlog), but nobody runs the handshake.
    let short = Duration::from_millis(300);
    let ctx = setup.client_ctx.clone();
    let err = within("client after stop_listening", TIMEOUT, move || {
        tls_client(addr, &ctx, short).map(drop)
    })
    .expect_err("no handshake after stop_listening");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert_eq!(stats.accepted.load(Ordering::SeqCst), 1);

    // The connection accepted before goes on.
    let first = within("first client again", TIMEOUT * 2, move || {
        echo_round_trip(&first, b"after").unwrap();
        first
    });
    first.close().unwrap();
    drop(first);
    eventually(|| (backend.watch_count() == 0).then_some(()));

    // Listening again serves new clients (the abandoned one in the backlog fails).
    port.listen(&backend, echo_server(stats.clone())).unwrap();
    let ctx = setup.client_ctx.clone();
    within("client after listening again", TIMEOUT * 2, move || {
        let tls = tls_client(addr, &ctx, TIMEOUT).unwrap();
        echo_round_trip(&tls, b"again").unwrap();
        tls.close().unwrap();
    });
    assert_eq!(stats.accepted.load(Ordering::SeqCst), 2);
    eventually(|| (stats.clean_closes.load(Ordering::SeqCst) == 2).then_some(()));
    eventually(|| (backend.watch_count() == 1).then_some(()));
    eventually(|| (sslfile::live_connections() == live_before).then_some(()));
    stats.check();
}
