//! Timeouts (SPEC §3): `set_timeout` bounds blocking reads, writes and the handshake;
//! expiry gives `TimedOut`, and nothing is lost or duplicated: the operation can be
//! retried. Every test runs over a socket pair and over loopback TCP.

use crate::common;

use std::io::{self, Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use common::pair::{raw_pair, Setup, TRANSPORTS};
use common::{random_bytes, TIMEOUT};
use sslfile::{Error, SslFile};

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

/// Asserts that an operation that timed out took at least `timeout` and less than twice it.
fn assert_timed_out_in_time(
    result: io::Result<usize>,
    elapsed: Duration,
    timeout: Duration,
    what: &str,
) {
    let err = result.expect_err(what);
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{what}: {err}");
    assert!(matches!(Error::from(err), Error::TimedOut), "{what}");
    assert!(
        elapsed >= timeout,
        "{what}: timed out after {elapsed:?}, before the {timeout:?} timeout"
    );
    assert!(
        elapsed < 2 * timeout,
        "{what}: timed out after {elapsed:?}, not within twice the {timeout:?} timeout"
    );
}

#[test]
fn a_blocking_read_times_out_and_can_be_retried() {
    let timeout = Duration::from_millis(200);
    let setup = Setup::new();
    for transport in TRANSPORTS {
        let (client, server) = setup.connect(transport);
        assert!(client.is_blocking());
        (&server).write_all(b"before").unwrap();
        let mut buf = [0u8; 64];
        client.set_timeout(Some(timeout));
        assert_eq!(client.timeout(), Some(timeout));
        let mut before = [0u8; 6];
        (&client).read_exact(&mut before).unwrap();
        assert_eq!(&before, b"before");

        // The server stays silent: the read times out, twice.
        for attempt in 0..2 {
            let start = Instant::now();
            let result = (&client).read(&mut buf);
            let elapsed = start.elapsed();
            assert_timed_out_in_time(
                result,
                elapsed,
                timeout,
                &format!("{transport:?} read #{attempt}"),
            );
            let errno = client.errno().expect("errno() after a timeout");
            assert_eq!(errno.kind(), io::ErrorKind::TimedOut, "{transport:?}");
            assert_eq!(errno.raw_os_error(), Some(110), "{transport:?}: ETIMEDOUT");
        }

        // Data sent after the timeouts is read by the retried read, intact.
        (&server).write_all(b"after the timeout").unwrap();
        let mut after = [0u8; 17];
        (&client).read_exact(&mut after).unwrap();
        assert_eq!(&after, b"after the timeout", "{transport:?}");

        // A read that times out while data arrives later in another thread.
        let sender = thread::spawn(move || {
            thread::sleep(Duration::from_millis(350));
            (&server).write_all(b"late").unwrap();
            server
        });
        let start = Instant::now();
        let result = (&client).read(&mut buf);
        assert_timed_out_in_time(result, start.elapsed(), timeout, "read before late data");
        client.set_timeout(Some(TIMEOUT));
        let mut late = [0u8; 4];
        (&client).read_exact(&mut late).unwrap();
        assert_eq!(&late, b"late", "{transport:?}");
        let _server = sender.join().unwrap();
    }
}

/// Many short timeouts in the middle of a transfer whose sender pauses now and then:
/// every byte arrives once, in order.
#[test]
fn timed_out_reads_in_a_transfer_lose_nothing() {
    const LEN: usize = 2 << 20;
    let setup = Setup::new();
    for (round, transport) in TRANSPORTS.into_iter().enumerate() {
        let data = random_bytes(LEN, 0x7130 + round as u64);
        let (client, server) = setup.connect(transport);
        client.set_timeout(Some(Duration::from_millis(15)));
        let sender = {
            let data = data.clone();
            thread::spawn(move || {
                for (i, chunk) in data.chunks(100_000).enumerate() {
                    // Split each chunk so that records are cut at odd places.
                    let (a, b) = chunk.split_at(chunk.len() / 3);
                    (&server).write_all(a).unwrap();
                    if i % 3 == 0 {
                        thread::sleep(Duration::from_millis(40));
                    }
                    (&server).write_all(b).unwrap();
                }
                server.close().unwrap();
            })
        };
        let mut received = Vec::with_capacity(LEN);
        let mut buf = vec![0u8; 50_000];
        let mut timeouts = 0;
        let deadline = Instant::now() + 3 * TIMEOUT;
        loop {
            assert!(Instant::now() < deadline, "{transport:?}: transfer stalled");
            match (&client).read(&mut buf) {
                Ok(0) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => timeouts += 1,
                Err(e) => panic!("{transport:?}: read after {} bytes: {e}", received.len()),
            }
        }
        sender.join().unwrap();
        assert_same(&received, &data, &format!("{transport:?}"));
        assert!(timeouts > 0, "{transport:?}: no read ever timed out");
    }
}

#[test]
fn a_blocking_write_to_a_peer_that_never_reads_times_out_without_loss() {
    const LEN: usize = 64 << 20;
    let timeout = Duration::from_millis(300);
    let setup = Setup::new();
    let data = random_bytes(LEN, 0x64);
    for transport in TRANSPORTS {
        let (client, server) = setup.connect(transport);
        client.set_timeout(Some(timeout));

        // Our own write loop, so that we know exactly how much was accepted.
        let mut accepted = 0;
        let mut calls = 0;
        let start = Instant::now();
        let (result, last_call) = loop {
            calls += 1;
            assert!(calls <= 10_000, "{transport:?}: {calls} write calls");
            let call_start = Instant::now();
            let result = (&client).write(&data[accepted..]);
            let last_call = call_start.elapsed();
            match result {
                Ok(n) => {
                    assert!(n > 0, "{transport:?}: blocking write returned Ok(0)");
                    accepted += n;
                    assert!(
                        accepted < LEN,
                        "{transport:?}: all {LEN} bytes accepted by a peer that never reads"
                    );
                }
                Err(e) => break (Err(e), last_call),
            }
        };
        let total = start.elapsed();
        eprintln!("{transport:?}: {accepted} bytes accepted in {calls} calls, {total:?}");
        assert_timed_out_in_time(result, last_call, timeout, &format!("{transport:?} write"));
        assert_eq!(
            client.errno().map(|e| e.kind()),
            Some(io::ErrorKind::TimedOut)
        );
        assert!(total < TIMEOUT, "{transport:?}: the writes took {total:?}");

        // The peer reads everything: exactly the accepted prefix, then end of stream.
        let reader = thread::spawn(move || {
            let mut got = Vec::new();
            (&server).read_to_end(&mut got).map(|_| got)
        });
        client.set_timeout(Some(TIMEOUT));
        client.close().unwrap();
        let got = reader.join().unwrap().expect("server read_to_end");
        assert_same(&got, &data[..accepted], &format!("{transport:?}"));
    }
}

#[test]
fn write_all_ends_with_timed_out_when_the_peer_never_reads() {
    let timeout = Duration::from_millis(300);
    let setup = Setup::new();
    let data = random_bytes(64 << 20, 0x65);
    for transport in TRANSPORTS {
        let (client, _server) = setup.connect(transport);
        client.set_timeout(Some(timeout));
        let start = Instant::now();
        let err = (&client).write_all(&data).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{transport:?}: {err}");
        assert!(
            start.elapsed() < TIMEOUT,
            "{transport:?}: {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn a_blocking_handshake_with_a_silent_peer_times_out_and_can_resume() {
    let timeout = Duration::from_millis(200);
    let setup = Setup::new();
    for transport in TRANSPORTS {
        let (c, s) = raw_pair(transport);
        let client = SslFile::new(c, &setup.client_ctx);
        client.set_blocking();
        client.set_timeout(Some(timeout));

        // Nobody runs the server side yet.
        let start = Instant::now();
        let result = client.connect("localhost");
        let elapsed = start.elapsed();
        let result = result.map(|()| 0).map_err(io::Error::from);
        assert_timed_out_in_time(result, elapsed, timeout, &format!("{transport:?} connect"));
        assert!(client.is_handshaking(), "{transport:?}");
        assert_eq!(
            client.errno().map(|e| e.kind()),
            Some(io::ErrorKind::TimedOut)
        );

        // Nothing was lost: once the server runs, a blocking write finishes the handshake.
        let server_ctx = setup.server_ctx.clone();
        let server = thread::spawn(move || -> Result<Vec<u8>, Error> {
            let server = SslFile::new(s, &server_ctx);
            server.set_blocking();
            server.set_timeout(Some(TIMEOUT));
            server.accept()?;
            let mut got = [0u8; 5];
            (&server).read_exact(&mut got)?;
            (&server).write_all(b"world")?;
            Ok(got.to_vec())
        });
        client.set_timeout(Some(TIMEOUT));
        (&client).write_all(b"hello").unwrap();
        assert!(!client.is_handshaking(), "{transport:?}");
        let mut reply = [0u8; 5];
        (&client).read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"world", "{transport:?}");
        assert_eq!(server.join().unwrap().unwrap(), b"hello", "{transport:?}");
    }
}
