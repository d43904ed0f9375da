//! `sslfile serve --mode callback` holding 1,000 clients at once: a test client opens 1,000
//! TLS connections (nonblocking `SslFile`s with callbacks on one backend), each asks for its
//! own page and keeps the connection open; only when every page has arrived, and checked,
//! does any connection close. The server starts with a soft descriptor limit of 256.

use crate::common;

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::support::Serve;
use sslfile::{Backend, Callbacks, File, SslFile};

const CLIENTS: usize = 1000;

#[derive(Default)]
struct Tally {
    /// Each client's response so far.
    responses: Vec<Vec<u8>>,
    /// Clients whose whole page has arrived.
    complete: usize,
    /// Connections that ended before we closed them, and why.
    ended_early: Vec<String>,
}

/// The client's own soft descriptor limit, raised to the hard one.
fn raise_descriptor_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    )
    .expect("raise RLIMIT_NOFILE");
    let now = getrlimit(Resource::Nofile).current;
    assert!(
        now.is_none_or(|n| n > 2 * CLIENTS as u64 + 100),
        "the descriptor limit {now:?} is too low for this test"
    );
}

fn page_is_complete(response: &[u8]) -> bool {
    response.ends_with(b"on this connection)\n")
}

#[test]
fn serve_in_callback_mode_holds_1000_concurrent_clients() {
    raise_descriptor_limit();
    // A soft limit of 256 descriptors, common in shells: the server raises its own to the
    // hard limit at start, or it could not hold 1,000 clients.
    let mut serve = Serve::start_with_soft_fd_limit(256, &["--mode", "callback"]);
    let ctx = serve.client_context(&["http/1.1"]);
    let tally = Arc::new((
        Mutex::new(Tally {
            responses: vec![Vec::new(); CLIENTS],
            ..Tally::default()
        }),
        Condvar::new(),
    ));

    let backend = Backend::new().unwrap();
    let runner = {
        let backend = backend.clone();
        std::thread::spawn(move || backend.run())
    };

    let started = Instant::now();
    let mut clients = Vec::with_capacity(CLIENTS);
    for i in 0..CLIENTS {
        let socket = File::connect(("127.0.0.1", serve.port))
            .unwrap_or_else(|e| panic!("client {i}: connect: {e}"));
        let tls = SslFile::new(socket, &ctx);
        tls.set_backend(&backend);
        let (on_read, on_close) = (tally.clone(), tally.clone());
        tls.set_callbacks(Callbacks {
            accept: Some(Arc::new(move |tls: &SslFile| {
                let request = format!("GET /client/{i} HTTP/1.1\r\nHost: localhost\r\n\r\n");
                // A few bytes: they fit in the nonblocking write at once.
                let sent = (&*tls).write(request.as_bytes()).expect("send the request");
                assert_eq!(sent, request.len());
            })),
            read: Some(Arc::new(move |_: &SslFile, data: &[u8]| {
                let (lock, done) = &*on_read;
                let mut t = lock.lock().unwrap();
                t.responses[i].extend_from_slice(data);
                if page_is_complete(&t.responses[i]) {
                    t.complete += 1;
                    done.notify_all();
                }
            })),
            close: Some(Arc::new(
                move |_: &SslFile, why: Option<&sslfile::Error>| {
                    let (lock, done) = &*on_close;
                    lock.lock()
                        .unwrap()
                        .ended_early
                        .push(format!("client {i}: {why:?}"));
                    done.notify_all();
                },
            )),
            write: None,
            alert: None,
        });
        tls.connect("localhost").expect("start the handshake");
        clients.push(tls);
    }

    // Every page arrives while all 1,000 connections are open.
    let (lock, done) = &*tally;
    let deadline = started + Duration::from_secs(120);
    let mut t = lock.lock().unwrap();
    while t.complete < CLIENTS && t.ended_early.is_empty() && Instant::now() < deadline {
        t = done.wait_timeout(t, Duration::from_millis(200)).unwrap().0;
    }
    assert!(
        t.ended_early.is_empty(),
        "connections ended early: {:?}\n{}",
        &t.ended_early[..t.ended_early.len().min(5)],
        serve.proc.describe()
    );
    assert_eq!(
        t.complete,
        CLIENTS,
        "pages complete after {:?}",
        started.elapsed()
    );
    for (i, response) in t.responses.iter().enumerate() {
        let text = String::from_utf8_lossy(response);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("client {i}: {text}"));
        assert!(
            head.starts_with("HTTP/1.1 200 OK\r\n"),
            "client {i}: {head}"
        );
        assert!(
            head.contains("Connection: keep-alive"),
            "client {i}: {head}"
        );
        assert!(
            head.contains(&format!("Content-Length: {}\r\n", body.len())),
            "client {i}: {head}"
        );
        for expected in [
            "(callback mode)".to_string(),
            "TLS version:  TLS 1.3\n".into(),
            "ALPN:         http/1.1\n".into(),
            "SNI:          localhost\n".into(),
            format!("request:      GET /client/{i} (number 1 on this connection)\n"),
        ] {
            assert!(
                body.contains(&expected),
                "client {i}: {expected:?} missing: {body}"
            );
        }
    }
    drop(t);
    for tls in &clients {
        assert_eq!(tls.is_open(), sslfile::OpenState::Open);
    }

    // All close; the server goes on, then stops cleanly on Ctrl-C.
    for tls in &clients {
        tls.set_blocking();
        tls.set_timeout(Some(common::TIMEOUT));
        tls.close().expect("close");
    }
    backend.stop();
    runner.join().unwrap().unwrap();
    let out = serve.curl(&[&serve.url("/after")]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("GET /after"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = serve.interrupt();
    assert_eq!(status.code(), Some(0), "{}", serve.proc.describe());
}
