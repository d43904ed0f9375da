//! Clean close and `into_stream` (SPEC §4): close_notify exchanged both ways keeps the
//! transport for plaintext after TLS (STARTTLS and back), the plaintext that follows the
//! peer's close_notify is not swallowed, an incomplete clean close and a `close()` give no
//! transport back, and `shutdown(Write)`. Every test runs over a socket pair and over
//! loopback TCP.

use crate::common;

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::thread;
use std::time::{Duration, Instant};

use common::pair::{Setup, TRANSPORTS, VERSIONS};
use common::{random_bytes, TIMEOUT};
use sslfile::{Error, File, OpenState, SslFile, TlsVersion};

const TO_CLIENT: &[u8] = b"220 plaintext again, from the server\r\n";
const TO_SERVER: &[u8] = b"QUIT plaintext from the client\r\n";

/// The transport after a clean close, with bounded blocking waits.
fn plain(file: SslFile, what: &str) -> File {
    let stream = file
        .into_stream()
        .unwrap_or_else(|e| panic!("{what}: into_stream after a clean close: {e}"));
    assert!(stream.is_open(), "{what}: the transport was closed");
    assert!(
        stream.is_blocking(),
        "{what}: the transport is not blocking"
    );
    stream.set_timeout(Some(TIMEOUT));
    stream
}

fn read_plain(stream: &File, len: usize, what: &str) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    (&*stream)
        .read_exact(&mut buf)
        .unwrap_or_else(|e| panic!("{what}: plaintext read: {e}"));
    buf
}

/// Plaintext both ways over the two returned transports; the server writes first.
fn plaintext_both_ways(client: &File, server: &File, what: &str) {
    (&*server).write_all(TO_CLIENT).unwrap();
    assert_eq!(
        read_plain(client, TO_CLIENT.len(), what),
        TO_CLIENT,
        "{what}"
    );
    (&*client).write_all(TO_SERVER).unwrap();
    assert_eq!(
        read_plain(server, TO_SERVER.len(), what),
        TO_SERVER,
        "{what}"
    );
}

/// Drives a nonblocking clean close with `close_clean()` until `is_open()` no longer says
/// `Closing`.
fn drive_with_is_open(file: &SslFile, what: &str) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        file.close_clean()
            .expect("a nonblocking clean close goes on");
        match file.is_open() {
            OpenState::Closing => {}
            OpenState::Closed => return,
            other => panic!("{what}: is_open() says {other:?} during a clean close"),
        }
        assert!(Instant::now() < deadline, "{what}: still closing");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Some TLS data first, so that the clean close follows real traffic both ways.
fn exchange_some_tls(client: &SslFile, server: &SslFile) {
    (&*client).write_all(b"over TLS").unwrap();
    let mut buf = [0u8; 8];
    (&*server).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"over TLS");
    (&*server).write_all(b"answered").unwrap();
    (&*client).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"answered");
}

#[test]
fn clean_close_after_the_server_read_end_of_stream_gives_plaintext_sockets() {
    let setup = Setup::new();
    for transport in TRANSPORTS {
        let (client, server) = setup.connect(transport);
        exchange_some_tls(&client, &server);
        let server = thread::spawn(move || {
            let mut rest = Vec::new();
            (&server).read_to_end(&mut rest).unwrap();
            assert!(rest.is_empty());
            server.close_clean().expect("server close_clean");
            assert_eq!(server.is_open(), OpenState::Closed);
            plain(server, "server")
        });
        client.close_clean().expect("client close_clean");
        assert_eq!(client.is_open(), OpenState::Closed, "{transport:?}");
        let client = plain(client, "client");
        let server = server.join().unwrap();
        plaintext_both_ways(&client, &server, &format!("{transport:?}"));
    }
}

#[test]
fn concurrent_clean_closes_give_plaintext_sockets() {
    let setup = Setup::new();
    for transport in TRANSPORTS {
        let (client, server) = setup.connect(transport);
        exchange_some_tls(&client, &server);
        let server = thread::spawn(move || {
            server.close_clean().expect("server close_clean");
            // Plaintext at once, possibly while the client is still closing.
            let stream = plain(server, "server");
            (&stream).write_all(TO_CLIENT).unwrap();
            stream
        });
        client.close_clean().expect("client close_clean");
        let client = plain(client, "client");
        assert_eq!(read_plain(&client, TO_CLIENT.len(), "client"), TO_CLIENT);
        let server = server.join().unwrap();
        plaintext_both_ways(&client, &server, &format!("{transport:?}"));
    }
}

#[test]
fn a_nonblocking_clean_close_driven_by_is_open_gives_plaintext_sockets() {
    let setup = Setup::new();
    for transport in TRANSPORTS {
        for nonblocking_client in [true, false] {
            let what = format!("{transport:?}, nonblocking client: {nonblocking_client}");
            let (client, server) = setup.connect(transport);
            exchange_some_tls(&client, &server);
            let (nb, blocking) = if nonblocking_client {
                (client, server)
            } else {
                (server, client)
            };
            nb.set_nonblocking();
            let start = Instant::now();
            nb.close_clean().expect("nonblocking close_clean");
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "{what}: it waited"
            );
            assert_eq!(nb.is_open(), OpenState::Closing, "{what}");
            let other = thread::spawn(move || {
                blocking.close_clean().expect("blocking close_clean");
                blocking
            });
            drive_with_is_open(&nb, &what);
            // Repeating close_clean after the exchange is a no-op.
            nb.close_clean().expect("close_clean once more");
            let blocking = other.join().unwrap();
            let (nb, blocking) = (plain(nb, &what), plain(blocking, &what));
            let (client, server) = if nonblocking_client {
                (nb, blocking)
            } else {
                (blocking, nb)
            };
            plaintext_both_ways(&client, &server, &what);
        }
    }
}

/// STARTTLS back to plaintext: the server writes plaintext the moment its clean close is
/// done, so that it sits in the client's socket right behind the server's close_notify.
/// The client's clean close must stop reading at the end of the close_notify record.
#[test]
fn plaintext_right_behind_close_notify_is_not_swallowed() {
    let setup = Setup::new();
    for transport in TRANSPORTS {
        for drive_blocking in [false, true] {
            let what = format!("{transport:?}, client finishes blocking: {drive_blocking}");
            let (client, server) = setup.connect(transport);
            exchange_some_tls(&client, &server);
            // The client starts the clean close and then stays away from the socket...
            client.set_nonblocking();
            client.close_clean().expect("client close_clean");
            // ...while the server completes its own and writes plaintext at once.
            server.close_clean().expect("server close_clean");
            let server = plain(server, &what);
            (&server).write_all(TO_CLIENT).unwrap();
            // Give the plaintext time to reach the client's socket buffer.
            thread::sleep(Duration::from_millis(20));
            // Only now does the client read the close_notify (and must read no further).
            if drive_blocking {
                client.set_blocking();
                client.set_timeout(Some(TIMEOUT));
                client.close_clean().expect("client close_clean, blocking");
            } else {
                drive_with_is_open(&client, &what);
            }
            let client = plain(client, &what);
            assert_eq!(
                read_plain(&client, TO_CLIENT.len(), &what),
                TO_CLIENT,
                "{what}"
            );
            (&client).write_all(TO_SERVER).unwrap();
            assert_eq!(read_plain(&server, TO_SERVER.len(), &what), TO_SERVER);
        }
    }
}

/// The other order: the server closes first; the client learns of it through a read,
/// then completes its side. The server's plaintext must reach the client's transport.
#[test]
fn plaintext_after_a_server_initiated_clean_close_reaches_the_client() {
    let setup = Setup::new();
    for transport in TRANSPORTS {
        let (client, server) = setup.connect(transport);
        exchange_some_tls(&client, &server);
        let server = thread::spawn(move || {
            server.close_clean().expect("server close_clean");
            let stream = plain(server, "server");
            (&stream).write_all(TO_CLIENT).unwrap();
            stream
        });
        let mut buf = [0u8; 16];
        assert_eq!((&client).read(&mut buf).unwrap(), 0, "{transport:?}");
        // A TLS 1.3 close_notify closes one direction: the server's clean close waits for
        // ours.
        client.close_clean().expect("client close_clean");
        let server = server.join().unwrap();
        thread::sleep(Duration::from_millis(20));
        let client = plain(client, "client");
        assert_eq!(read_plain(&client, TO_CLIENT.len(), "client"), TO_CLIENT);
        (&client).write_all(TO_SERVER).unwrap();
        assert_eq!(read_plain(&server, TO_SERVER.len(), "server"), TO_SERVER);
    }
}

#[test]
fn into_stream_after_an_incomplete_clean_close_is_broken_pipe() {
    let setup = Setup::new();
    for transport in TRANSPORTS {
        // Nonblocking: close_clean returns at once; the peer never answers.
        let (client, server) = setup.connect(transport);
        client.set_nonblocking();
        let start = Instant::now();
        client.close_clean().expect("nonblocking close_clean");
        assert!(start.elapsed() < Duration::from_secs(1), "{transport:?}");
        assert_eq!(client.is_open(), OpenState::Closing, "{transport:?}");
        let err = client.into_stream().expect_err("into_stream must fail");
        assert_eq!(
            err.kind(),
            io::ErrorKind::BrokenPipe,
            "{transport:?}: {err}"
        );
        // The transport was closed: the peer sees our close_notify, then the end.
        let mut buf = [0u8; 16];
        assert_eq!((&server).read(&mut buf).unwrap(), 0, "{transport:?}");

        // Blocking with a timeout: close_clean times out, and the same verdict follows.
        let (client, _server) = setup.connect(transport);
        client.set_timeout(Some(Duration::from_millis(200)));
        let err = client.close_clean().expect_err("close_clean must time out");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{transport:?}: {err}");
        assert_eq!(client.is_open(), OpenState::Closing, "{transport:?}");
        let err = client.into_stream().expect_err("into_stream must fail");
        assert_eq!(
            err.kind(),
            io::ErrorKind::BrokenPipe,
            "{transport:?}: {err}"
        );
    }
}

#[test]
fn into_stream_on_a_connection_never_closed_returns_the_transport() {
    let setup = Setup::new();
    for transport in TRANSPORTS {
        let (client, server) = setup.connect(transport);
        exchange_some_tls(&client, &server);
        let stream = client
            .into_stream()
            .unwrap_or_else(|e| panic!("{transport:?}: {e}"));
        assert!(stream.is_open(), "{transport:?}");
        stream.set_timeout(Some(TIMEOUT));
        // It is the very transport: plaintext written on it reaches the TLS server, which
        // rejects it as not TLS.
        (&stream).write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let mut buf = [0u8; 16];
        let err = (&server).read(&mut buf).unwrap_err();
        assert_eq!(
            err.kind(),
            io::ErrorKind::InvalidData,
            "{transport:?}: {err}"
        );
    }
}

#[test]
fn into_stream_after_close_is_not_connected() {
    let setup = Setup::new();
    for transport in TRANSPORTS {
        for nonblocking in [false, true] {
            let (client, _server) = setup.connect(transport);
            if nonblocking {
                client.set_nonblocking();
            }
            client.close().unwrap();
            let err = client.into_stream().expect_err("into_stream after close");
            assert_eq!(
                err.kind(),
                io::ErrorKind::NotConnected,
                "{transport:?} nonblocking {nonblocking}: {err}"
            );
            assert!(matches!(err, Error::Closed), "{err:?}");
        }
    }
}

/// `shutdown(Write)`: the peer reads end of stream; what it wrote before reading our
/// close_notify still reaches us, then we read end of stream. TLS 1.3: the peer may write on
/// after our close_notify (a half-close) until it closes; TLS 1.2: it answers with its own
/// close_notify at once and cannot write any more.
#[test]
fn shutdown_write_delivers_what_the_peer_wrote_before_then_end_of_stream() {
    let setup = Setup::new();
    for version in VERSIONS {
        for (round, transport) in TRANSPORTS.into_iter().enumerate() {
            let what = format!("{version} {transport:?}");
            let data = random_bytes(100_000, 0x5D + round as u64);
            let (client, server) = setup.connect_version(transport, version);
            exchange_some_tls(&client, &server);
            client.shutdown(Shutdown::Write).unwrap();
            assert_eq!(client.is_open(), OpenState::Closing, "{what}");
            let err = (&client).write(b"x").unwrap_err();
            assert!(
                matches!(
                    err.kind(),
                    io::ErrorKind::NotConnected | io::ErrorKind::BrokenPipe
                ),
                "{what}: write after shutdown(Write): {err}"
            );

            let server = {
                let data = data.clone();
                thread::spawn(move || {
                    // Written before the server looks at our close_notify.
                    (&server).write_all(&data).unwrap();
                    let mut buf = [0u8; 16];
                    assert_eq!((&server).read(&mut buf).unwrap(), 0, "server: end");
                    assert_eq!((&server).read(&mut buf).unwrap(), 0, "server: repeatably");
                    if version == TlsVersion::Tls1_3 {
                        // Its direction is still open: this reaches the client too.
                        (&server).write_all(b"late").unwrap();
                        server.close().unwrap();
                    } else {
                        let err = (&server).write(b"too late").unwrap_err();
                        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "server: {err}");
                    }
                    server
                })
            };
            let mut got = Vec::new();
            (&client).read_to_end(&mut got).unwrap();
            let mut expected = data.clone();
            if version == TlsVersion::Tls1_3 {
                expected.extend_from_slice(b"late");
            }
            assert_eq!(got.len(), expected.len(), "{what}");
            assert!(got == expected, "{what}: data differs");
            let mut buf = [0u8; 16];
            assert_eq!((&client).read(&mut buf).unwrap(), 0, "{what}");
            assert_eq!(client.is_open(), OpenState::Closed, "{what}");
            let server = server.join().unwrap();
            assert_eq!(server.is_open(), OpenState::Closed, "{what}");
        }
    }
}
