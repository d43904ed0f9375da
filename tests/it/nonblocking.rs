//! Nonblocking mode (SPEC §3): `WouldBlock` instead of waiting, a transfer pumped by hand
//! in one thread, the handshake driven by reads, switching modes mid-transfer, and the
//! bounded output buffer of nonblocking writes. Every test runs over a socket pair and
//! over loopback TCP.

use crate::common;

use std::io::{self, Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use common::pair::{eventually, raw_pair, Setup, TRANSPORTS};
use common::{random_bytes, TIMEOUT};
use sslfile::{OpenState, SslFile};

/// Fails with the first differing offset instead of dumping megabytes.
fn assert_same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let first = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: got {} bytes, want {}; first differing byte at {:?}",
            got.len(),
            want.len(),
            first
        );
    }
}

fn is_would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// One nonblocking read: `Some(n)` for data or end of stream, `None` for `WouldBlock`;
/// any other error fails the test.
fn try_read(file: &SslFile, buf: &mut [u8], what: &str) -> Option<usize> {
    match (&*file).read(buf) {
        Ok(n) => Some(n),
        Err(e) if is_would_block(&e) => None,
        Err(e) => panic!("{what}: nonblocking read failed: {e}"),
    }
}

/// Reads exactly `len` bytes in nonblocking mode, retrying on `WouldBlock`, bounded by
/// [`TIMEOUT`].
fn read_len_nonblocking(file: &SslFile, len: usize, what: &str) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut got = 0;
    let deadline = Instant::now() + TIMEOUT;
    while got < len {
        assert!(
            Instant::now() < deadline,
            "{what}: only {got} of {len} bytes arrived in time"
        );
        match try_read(file, &mut out[got..], what) {
            Some(0) => panic!("{what}: end of stream after {got} of {len} bytes"),
            Some(n) => got += n,
            None => thread::sleep(Duration::from_millis(1)),
        }
    }
    out
}

#[test]
fn nonblocking_read_without_data_would_block_then_gets_the_data() {
    let setup = Setup::new();
    for transport in TRANSPORTS {
        let (client, server) = setup.connect(transport);
        client.set_nonblocking();
        assert!(!client.is_blocking());
        let mut buf = [0u8; 64];
        let start = Instant::now();
        for _ in 0..3 {
            let err = (&client).read(&mut buf).unwrap_err();
            assert_eq!(
                err.kind(),
                io::ErrorKind::WouldBlock,
                "{transport:?}: {err}"
            );
            let errno = client.errno().expect("errno() after a failed read");
            assert_eq!(errno.kind(), io::ErrorKind::WouldBlock, "{transport:?}");
        }
        // WouldBlock comes at once: a nonblocking read never waits.
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{transport:?}: nonblocking reads took {:?}",
            start.elapsed()
        );

        (&server).write_all(b"hello, nonblocking").unwrap();
        assert_eq!(
            read_len_nonblocking(&client, 18, "client"),
            b"hello, nonblocking",
            "{transport:?}"
        );
        // Nothing more: WouldBlock again, not end of stream.
        let err = (&client).read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "{transport:?}");
        assert_eq!(client.is_open(), OpenState::Open, "{transport:?}");
    }
}

/// SPEC §8: "would block → WouldBlock (EAGAIN)"; §7: `errno()` gives the raw OS errno
/// where one applies, as Pike's `errno()` gives `System.EAGAIN`.
#[test]
fn would_block_reports_eagain_as_errno() {
    const EAGAIN: i32 = 11; // Linux
    let setup = Setup::new();
    for transport in TRANSPORTS {
        let (client, _server) = setup.connect(transport);
        client.set_nonblocking();
        let mut buf = [0u8; 16];
        let err = (&client).read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(err.raw_os_error(), Some(EAGAIN), "{transport:?}: {err:?}");
        let errno = client.errno().expect("errno() after WouldBlock");
        assert_eq!(
            errno.raw_os_error(),
            Some(EAGAIN),
            "{transport:?}: {errno:?}"
        );
    }
}

#[test]
fn sixteen_mib_both_sides_nonblocking_pumped_in_one_thread() {
    const LEN: usize = 16 << 20;
    let setup = Setup::new();
    let data = random_bytes(LEN, 0x16);
    for transport in TRANSPORTS {
        let (client, server) = setup.connect(transport);
        client.set_nonblocking();
        server.set_nonblocking();

        let mut sent = 0;
        let mut received = Vec::with_capacity(LEN);
        let mut buf = vec![0u8; 64 * 1024];
        let deadline = Instant::now() + 3 * TIMEOUT;
        let (mut idle_rounds, mut writes_blocked) = (0u64, 0u64);
        while received.len() < LEN {
            assert!(
                Instant::now() < deadline,
                "{transport:?}: stalled, {sent} bytes accepted, {} received",
                received.len()
            );
            let mut progress = false;
            if sent < LEN {
                let end = (sent + 64 * 1024).min(LEN);
                match (&client).write(&data[sent..end]) {
                    Ok(n) => {
                        assert!(n > 0, "{transport:?}: nonblocking write returned Ok(0)");
                        sent += n;
                        progress = true;
                    }
                    Err(e) if is_would_block(&e) => writes_blocked += 1,
                    Err(e) => panic!("{transport:?}: write failed after {sent} bytes: {e}"),
                }
            } else {
                // Everything was accepted; push out what is still pending.
                match client.flush() {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("{transport:?}: flush failed: {e}"),
                }
            }
            match try_read(&server, &mut buf, "server") {
                Some(0) => panic!(
                    "{transport:?}: end of stream after {} of {LEN} bytes",
                    received.len()
                ),
                Some(n) => {
                    received.extend_from_slice(&buf[..n]);
                    progress = true;
                }
                None => {}
            }
            if !progress {
                idle_rounds += 1;
                thread::sleep(Duration::from_micros(100));
            }
        }
        assert_eq!(sent, LEN, "{transport:?}");
        assert_same(&received, &data, &format!("{transport:?}"));
        eprintln!("{transport:?}: {idle_rounds} idle rounds, {writes_blocked} blocked writes");

        // Clean close: the server, still nonblocking, reads end of stream.
        client.close().unwrap();
        let n = eventually(|| try_read(&server, &mut buf, "server after close"));
        assert_eq!(n, 0, "{transport:?}: data after the last byte");
        assert_eq!(
            try_read(&server, &mut buf, "server"),
            Some(0),
            "{transport:?}"
        );
        // TLS 1.3: the server's direction stays open until it closes too.
        assert_eq!(server.is_open(), OpenState::Open, "{transport:?}");
        server.close().unwrap();
        assert_eq!(server.is_open(), OpenState::Closed, "{transport:?}");
    }
}

#[test]
fn nonblocking_handshake_in_one_thread() {
    let setup = Setup::new();
    for transport in TRANSPORTS {
        let (c, s) = raw_pair(transport);
        let client = SslFile::new(c, &setup.client_ctx);
        let server = SslFile::new(s, &setup.server_ctx);
        assert!(!client.is_blocking() && !server.is_blocking());
        assert!(client.is_handshaking() && server.is_handshaking());

        // Both return at once: the handshake proceeds with reads and writes.
        let start = Instant::now();
        client.connect("localhost").unwrap();
        server.accept().unwrap();
        assert!(start.elapsed() < Duration::from_secs(2), "{transport:?}");
        assert!(client.is_handshaking() && server.is_handshaking());

        // Data written during the handshake is sent once it completes.
        let early = b"written while handshaking";
        let mut early_sent = 0;
        let mut server_got = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + TIMEOUT;
        let mut rounds = 0;
        while client.is_handshaking() || server.is_handshaking() {
            assert!(
                Instant::now() < deadline,
                "{transport:?}: handshake not done after {rounds} rounds (client {}, server {})",
                client.is_handshaking(),
                server.is_handshaking()
            );
            rounds += 1;
            if early_sent < early.len() {
                match (&client).write(&early[early_sent..]) {
                    Ok(n) => early_sent += n,
                    Err(e) if is_would_block(&e) => {}
                    Err(e) => panic!("{transport:?}: write while handshaking: {e}"),
                }
            }
            if let Some(n) = try_read(&client, &mut buf, "client") {
                panic!("{transport:?}: client read {n} bytes during the handshake");
            }
            match try_read(&server, &mut buf, "server") {
                Some(0) => panic!("{transport:?}: server read end of stream"),
                Some(n) => server_got.extend_from_slice(&buf[..n]),
                None => {}
            }
            thread::sleep(Duration::from_micros(200));
        }
        assert!(client.protocol_version().is_some(), "{transport:?}");
        assert!(server.cipher_suite().is_some(), "{transport:?}");
        assert!(!client.is_blocking() && !server.is_blocking());

        // The early data arrives, and data flows both ways, still nonblocking.
        while early_sent < early.len() {
            match (&client).write(&early[early_sent..]) {
                Ok(n) => early_sent += n,
                Err(e) if is_would_block(&e) => thread::sleep(Duration::from_millis(1)),
                Err(e) => panic!("{transport:?}: write: {e}"),
            }
        }
        let deadline = Instant::now() + TIMEOUT;
        while server_got.len() < early.len() {
            assert!(Instant::now() < deadline, "{transport:?}: early data lost");
            // The client may still have output pending.
            let _ = client.flush();
            match try_read(&server, &mut buf, "server") {
                Some(0) => panic!("{transport:?}: server read end of stream"),
                Some(n) => server_got.extend_from_slice(&buf[..n]),
                None => thread::sleep(Duration::from_millis(1)),
            }
        }
        assert_eq!(server_got, early, "{transport:?}");
        let n = eventually(|| match (&server).write(b"pong") {
            Ok(n) => Some(n),
            Err(e) if is_would_block(&e) => None,
            Err(e) => panic!("{transport:?}: server write: {e}"),
        });
        assert_eq!(n, 4, "{transport:?}");
        assert_eq!(read_len_nonblocking(&client, 4, "client"), b"pong");
    }
}

#[test]
fn switching_modes_mid_transfer_loses_and_reorders_nothing() {
    const LEN: usize = 8 << 20;
    let setup = Setup::new();
    for (round, transport) in TRANSPORTS.into_iter().enumerate() {
        let data = random_bytes(LEN, 0x5_0000 + round as u64);
        let (client, server) = setup.connect(transport);

        let writer = {
            let data = data.clone();
            thread::spawn(move || {
                const SIZES: [usize; 7] = [1, 100, 4096, 16_384, 65_536, 200_000, 777];
                let deadline = Instant::now() + 3 * TIMEOUT;
                let mut sent = 0;
                let mut writes = 0usize;
                while sent < data.len() {
                    assert!(Instant::now() < deadline, "writer stalled at {sent}");
                    // Switch mode every 5 writes.
                    if writes % 5 == 0 {
                        if (writes / 5) % 2 == 0 {
                            client.set_nonblocking();
                        } else {
                            client.set_blocking();
                        }
                    }
                    let end = (sent + SIZES[writes % SIZES.len()]).min(data.len());
                    writes += 1;
                    if client.is_blocking() {
                        (&client).write_all(&data[sent..end]).unwrap();
                        sent = end;
                    } else {
                        match (&client).write(&data[sent..end]) {
                            Ok(n) => {
                                assert!(n > 0 && n <= end - sent);
                                sent += n;
                            }
                            Err(e) if is_would_block(&e) => {
                                thread::sleep(Duration::from_micros(200))
                            }
                            Err(e) => panic!("nonblocking write at {sent}: {e}"),
                        }
                    }
                }
                // Blocking close: everything pending is flushed, then close_notify.
                client.set_blocking();
                client.close().unwrap();
                writes
            })
        };

        let mut received = Vec::with_capacity(LEN);
        let mut buf = vec![0u8; 32 * 1024];
        let mut reads = 0usize;
        let mut switches = 0usize;
        let deadline = Instant::now() + 3 * TIMEOUT;
        let end_seen = loop {
            assert!(
                Instant::now() < deadline,
                "{transport:?}: reader stalled at {}",
                received.len()
            );
            // Switch mode every 3 successful reads.
            if reads % 3 == 0 && reads / 3 == switches {
                switches += 1;
                if switches % 2 == 0 {
                    server.set_nonblocking();
                } else {
                    server.set_blocking();
                }
            }
            let n = if server.is_blocking() {
                (&server).read(&mut buf).unwrap()
            } else {
                match try_read(&server, &mut buf, "server") {
                    Some(n) => n,
                    None => {
                        thread::sleep(Duration::from_micros(200));
                        continue;
                    }
                }
            };
            if n == 0 {
                break true;
            }
            reads += 1;
            received.extend_from_slice(&buf[..n]);
            assert!(
                received.len() <= LEN,
                "{transport:?}: more bytes than were sent"
            );
        };
        assert!(end_seen);
        let writes = writer.join().expect("writer thread");
        assert_same(&received, &data, &format!("{transport:?}"));
        assert!(
            switches >= 4 && writes >= 10,
            "{transport:?}: too few mode switches ({switches} reader, {writes} writes)"
        );
    }
}

#[test]
fn nonblocking_write_stops_at_the_output_limit_and_delivers_everything() {
    const CHUNK: usize = 16 * 1024;
    /// Far more than any socket buffering: a write that keeps accepting past this is
    /// buffering without bound.
    const MAX_ACCEPTED: usize = 64 << 20;
    let setup = Setup::new();
    let data = random_bytes(MAX_ACCEPTED + CHUNK, 0xB0B);
    for transport in TRANSPORTS {
        let (client, server) = setup.connect(transport);
        client.set_nonblocking();

        // The server does not read. Write until the writes have said WouldBlock 20 times
        // in a row (the kernel may free some buffer space for a moment after the first).
        let mut accepted = 0;
        let mut calls = 0;
        let mut partial_counts = 0;
        let mut blocked_in_a_row = 0;
        let deadline = Instant::now() + TIMEOUT;
        while blocked_in_a_row < 20 {
            assert!(
                Instant::now() < deadline,
                "{transport:?}: not settled in time"
            );
            assert!(
                accepted <= MAX_ACCEPTED,
                "{transport:?}: {accepted} bytes accepted in {calls} calls while the peer \
                 reads nothing: output is not bounded"
            );
            calls += 1;
            match (&client).write(&data[accepted..accepted + CHUNK]) {
                Ok(n) => {
                    assert!(n > 0 && n <= CHUNK, "{transport:?}: write returned {n}");
                    if n < CHUNK {
                        partial_counts += 1;
                    }
                    accepted += n;
                    blocked_in_a_row = 0;
                }
                Err(e) if is_would_block(&e) => {
                    blocked_in_a_row += 1;
                    thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("{transport:?}: write failed after {accepted} bytes: {e}"),
            }
        }
        eprintln!(
            "{transport:?}: {accepted} bytes accepted in {calls} calls, {partial_counts} partial"
        );

        // Output is pending and the socket is full: a nonblocking flush cannot finish.
        let err = client.flush().unwrap_err();
        assert_eq!(
            err.kind(),
            io::ErrorKind::WouldBlock,
            "{transport:?}: {err}"
        );
        assert_eq!(
            client.errno().map(|e| e.kind()),
            Some(io::ErrorKind::WouldBlock)
        );
        let err = Write::flush(&mut &client).unwrap_err();
        assert_eq!(
            err.kind(),
            io::ErrorKind::WouldBlock,
            "{transport:?}: {err}"
        );

        // Now the server reads everything; the client pushes its pending output.
        let reader = thread::spawn(move || {
            let mut got = Vec::new();
            (&server).read_to_end(&mut got).map(|_| got)
        });
        let deadline = Instant::now() + TIMEOUT;
        loop {
            assert!(
                Instant::now() < deadline,
                "{transport:?}: flush never finished"
            );
            match client.flush() {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("{transport:?}: flush: {e}"),
            }
        }
        client.close().unwrap();
        let got = reader.join().unwrap().expect("server read_to_end");
        assert_same(&got, &data[..accepted], &format!("{transport:?}"));
    }
}
