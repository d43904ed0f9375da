//! TLS 1.3 early data ("0-RTT"): accepted on resumption between our client and server (in
//! blocking and nonblocking mode, over socket pairs and TCP) and from `openssl s_client
//! -early_data`; refused when the server does not opt in, with the data then delivered once
//! after the handshake; never for a first connection or TLS 1.2; a replayed first flight
//! is not accepted twice by one server; the stream's order kept in every case.

use crate::common;

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::thread;
use std::time::Duration;

use common::pair::{raw_pair, Transport, TRANSPORTS};
use common::{random_bytes, TIMEOUT};
use sslfile::{Context, EarlyData, File, SslFile, TlsVersion};

/// The early-data limit both sides use here.
const LIMIT: u32 = 4096;

struct Contexts {
    server: Context,
    client: Context,
}

/// A server with early data on and a client (with its own session cache) that resumes
/// with it. `server_limit` 0: the server has early data off.
fn contexts(server_limit: u32, tls12: bool) -> (common::certs::TestPki, Contexts) {
    let pki = common::certs::TestPki::new();
    let leaf = pki.leaf(&["localhost"]);
    let server = Context::builder()
        .certificate_chain_pem(leaf.chain_pem.as_bytes(), leaf.key_pem.as_bytes())
        .unwrap()
        .early_data(server_limit)
        .unwrap()
        .build()
        .unwrap();
    let mut client = Context::builder()
        .trust_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .early_data(LIMIT)
        .unwrap();
    if tls12 {
        client = client
            .versions(TlsVersion::Tls1_2, TlsVersion::Tls1_2)
            .unwrap();
    }
    let client = client.build().unwrap();
    (pki, Contexts { server, client })
}

/// What one connection saw.
#[derive(Debug)]
struct Outcome {
    client: EarlyData,
    server: EarlyData,
    resumed: bool,
}

/// One connection: the client gives `early` as early data, then (nonblocking: while the
/// handshake may still run) writes `later`; the server (opted in if `accept`) reads it all
/// and answers with its length, so the client also reads the session tickets.
fn exchange(
    ctxs: &Contexts,
    transport: Transport,
    nonblocking_client: bool,
    accept: bool,
    early: &[u8],
    later: &[u8],
) -> Outcome {
    let (c, s) = raw_pair(transport);
    let server_ctx = ctxs.server.clone();
    let total = early.len() + later.len();
    let server = thread::spawn(move || -> io::Result<(Vec<u8>, EarlyData)> {
        let tls = SslFile::new(s, &server_ctx);
        tls.set_blocking();
        tls.set_timeout(Some(TIMEOUT));
        tls.set_accept_early_data(accept)?;
        tls.accept()?;
        let mut got = vec![0u8; total];
        (&tls).read_exact(&mut got)?;
        (&tls).write_all(&(total as u64).to_be_bytes())?;
        tls.close()?;
        Ok((got, tls.early_data()))
    });
    let tls = SslFile::new(c, &ctxs.client);
    tls.set_timeout(Some(TIMEOUT));
    tls.set_early_data(early).unwrap();
    if nonblocking_client {
        tls.connect("localhost").unwrap(); // nonblocking: the handshake may still run
        let mut sent = 0;
        while sent < later.len() {
            match (&tls).write(&later[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("{e}"),
            }
        }
        tls.set_blocking();
    } else {
        tls.set_blocking();
        tls.connect("localhost").unwrap();
        (&tls).write_all(later).unwrap();
    }
    let mut answer = [0u8; 8];
    (&tls).read_exact(&mut answer).unwrap();
    assert_eq!(u64::from_be_bytes(answer), total as u64);
    let (got, server_early) = server.join().unwrap().expect("server");
    let mut want = early.to_vec();
    want.extend_from_slice(later);
    assert!(
        got == want,
        "the server read the stream out of order or incomplete"
    );
    Outcome {
        client: tls.early_data(),
        server: server_early,
        resumed: tls.is_resumed(),
    }
}

#[test]
fn early_data_is_accepted_on_resumption_and_the_stream_keeps_its_order() {
    for transport in TRANSPORTS {
        for nonblocking in [false, true] {
            let (_pki, ctxs) = contexts(LIMIT, false);
            let what = format!("{transport:?}, nonblocking client: {nonblocking}");
            // Small enough to go early whole; then more than the limit allows.
            let request = random_bytes(1000, 1);
            let first = exchange(&ctxs, transport, nonblocking, true, &request, b"after");
            assert_eq!(first.client, EarlyData::None, "{what}: a first connection");
            assert_eq!(first.server, EarlyData::None, "{what}");
            let second = exchange(&ctxs, transport, nonblocking, true, &request, b"after");
            assert!(second.resumed, "{what}");
            assert_eq!(second.client, EarlyData::Accepted { bytes: 1000 }, "{what}");
            assert_eq!(second.server, EarlyData::Accepted { bytes: 1000 }, "{what}");
            let big = random_bytes(3 * LIMIT as usize, 2);
            let third = exchange(&ctxs, transport, nonblocking, true, &big, b"after");
            let want = EarlyData::Accepted {
                bytes: LIMIT as usize,
            };
            assert_eq!(third.client, want, "{what}: only the limit goes early");
            assert_eq!(third.server, want, "{what}");
        }
    }
}

#[test]
fn a_server_that_does_not_opt_in_refuses_early_data_and_reads_it_once_after_the_handshake() {
    for transport in TRANSPORTS {
        let (_pki, ctxs) = contexts(LIMIT, false);
        let request = random_bytes(2000, 3);
        exchange(&ctxs, transport, false, false, &request, b"x");
        let second = exchange(&ctxs, transport, true, false, &request, b"later");
        assert!(second.resumed, "{transport:?}");
        assert_eq!(second.client, EarlyData::Rejected, "{transport:?}");
        assert_eq!(second.server, EarlyData::None, "{transport:?}");
    }
}

#[test]
fn no_early_data_without_a_server_that_allows_it_or_with_tls_1_2() {
    let (_pki, off) = contexts(0, false);
    exchange(&off, Transport::SocketPair, false, true, b"hello", b"");
    let second = exchange(&off, Transport::SocketPair, false, true, b"hello", b"");
    assert!(second.resumed);
    assert_eq!(
        (second.client, second.server),
        (EarlyData::None, EarlyData::None)
    );

    let (_pki, tls12) = contexts(LIMIT, true);
    exchange(&tls12, Transport::SocketPair, false, true, b"hello", b"");
    let second = exchange(&tls12, Transport::SocketPair, false, true, b"hello", b"");
    assert!(second.resumed);
    assert_eq!(
        (second.client, second.server),
        (EarlyData::None, EarlyData::None)
    );
}

#[test]
fn early_data_must_be_set_before_the_handshake() {
    let (_pki, ctxs) = contexts(LIMIT, false);
    let (c, _s) = raw_pair(Transport::SocketPair);
    let tls = SslFile::new(c, &ctxs.client);
    tls.connect("localhost").unwrap(); // nonblocking: started
    let err = tls.set_early_data(b"late").unwrap_err();
    assert!(err.to_string().contains("before the handshake"), "{err}");
    let err = tls.set_accept_early_data(true).unwrap_err();
    assert!(err.to_string().contains("before the handshake"), "{err}");
}

/// The client's first flight (ClientHello with early data) captured as it left, then
/// handed to two server connections: the first takes the early data, the second (a
/// replay) does not, since each single-use ticket resumes once.
#[test]
fn a_replayed_first_flight_is_not_accepted_twice() {
    let (_pki, ctxs) = contexts(LIMIT, false);
    exchange(&ctxs, Transport::SocketPair, false, true, b"x", b""); // a ticket
    let (c, raw) = File::pipe().unwrap();
    let tls = SslFile::new(c, &ctxs.client);
    tls.set_early_data(b"GET /transfer?amount=100").unwrap();
    tls.connect("localhost").unwrap(); // nonblocking: the flight is written
    raw.set_timeout(Some(Duration::from_millis(200)));
    let mut flight = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        match (&raw).read(&mut buf) {
            Ok(0) => break,
            Ok(n) => flight.extend_from_slice(&buf[..n]),
            Err(_) => break, // the client waits for the server now
        }
    }
    assert!(!flight.is_empty());
    let mut seen = Vec::new();
    for attempt in 0..2 {
        let (_peer, s) = File::pipe().unwrap();
        let server = SslFile::new(s, &ctxs.server);
        server.set_accept_early_data(true).unwrap();
        server.accept_with(&flight).unwrap(); // nonblocking
        let mut got = vec![0u8; 64];
        let n = match (&server).read(&mut got) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => panic!("attempt {attempt}: {e}"),
        };
        seen.push((
            String::from_utf8_lossy(&got[..n]).into_owned(),
            server.early_data(),
        ));
    }
    assert_eq!(
        seen[0],
        (
            "GET /transfer?amount=100".to_string(),
            EarlyData::Accepted { bytes: 24 }
        ),
        "the original is read before the handshake completes"
    );
    assert_eq!(seen[1], (String::new(), EarlyData::Pending), "the replay");
}

/// `openssl s_client -early_data` resumes a session saved by an earlier `s_client` and
/// sends its request as early data: our server reads it and says it came early.
#[test]
fn openssl_s_client_early_data_is_accepted() {
    let (pki, ctxs) = contexts(LIMIT, false);
    let dir = common::certs::tempdir();
    let ca = pki.write_ca(dir.path());
    let session = dir.path().join("session.pem");
    let request_file = dir.path().join("request.txt");
    let request = b"GET / HTTP/1.0\r\n\r\n";
    std::fs::write(&request_file, request).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server_ctx = ctxs.server.clone();
    let server = thread::spawn(move || -> Vec<(Vec<u8>, EarlyData)> {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let (s, _) = listener.accept().unwrap();
            let tls = SslFile::new(File::try_from(s).unwrap(), &server_ctx);
            tls.set_blocking();
            tls.set_timeout(Some(TIMEOUT));
            tls.set_accept_early_data(true).unwrap();
            tls.accept().unwrap();
            let mut got = vec![0u8; request.len()];
            (&tls).read_exact(&mut got).unwrap();
            (&tls).write_all(b"HTTP/1.0 200 OK\r\n\r\npong").unwrap();
            tls.close().unwrap();
            seen.push((got, tls.early_data()));
        }
        seen
    });
    let s_client = |extra: &[&str]| {
        let mut cmd = Command::new("openssl");
        cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
            .args(["-servername", "localhost", "-tls1_3", "-quiet", "-CAfile"])
            .arg(&ca)
            .args(extra)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("openssl");
        if !extra.contains(&"-early_data") {
            child.stdin.take().unwrap().write_all(request).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = s_client(&["-sess_out", session.to_str().unwrap()]);
    assert!(first.contains("pong"), "{first}");
    let second = s_client(&[
        "-sess_in",
        session.to_str().unwrap(),
        "-early_data",
        request_file.to_str().unwrap(),
    ]);
    assert!(second.contains("pong"), "{second}");
    let seen = server.join().unwrap();
    assert_eq!(seen[0], (request.to_vec(), EarlyData::None));
    assert_eq!(
        seen[1],
        (
            request.to_vec(),
            EarlyData::Accepted {
                bytes: request.len()
            }
        )
    );
}
