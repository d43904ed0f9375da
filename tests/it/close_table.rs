//! SPEC §4's close table, row by row, in blocking and nonblocking mode, over a socket pair
//! and over loopback TCP.

use crate::common;

use std::io::{self, Read, Write};
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::pair::{eventually, Setup, Transport, TRANSPORTS, VERSIONS};
use sslfile::{Error, OpenState, SslFile, TlsVersion};

#[derive(Debug, Clone, Copy)]
enum Mode {
    Blocking,
    Nonblocking,
}

const MODES: [Mode; 2] = [Mode::Blocking, Mode::Nonblocking];

fn each_case(mut test: impl FnMut(Transport, Mode)) {
    for transport in TRANSPORTS {
        for mode in MODES {
            test(transport, mode);
        }
    }
}

fn set_mode(file: &SslFile, mode: Mode) {
    match mode {
        Mode::Blocking => file.set_blocking(),
        Mode::Nonblocking => file.set_nonblocking(),
    }
}

/// One read in the given mode: blocking, or nonblocking retried while `WouldBlock`.
fn read_once(file: &SslFile, buf: &mut [u8]) -> io::Result<usize> {
    if file.is_blocking() {
        return (&*file).read(buf);
    }
    eventually(|| match (&*file).read(buf) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
        other => Some(other),
    })
}

/// Reads exactly `len` bytes with [`read_once`].
fn read_len(file: &SslFile, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match read_once(file, &mut out[got..]) {
            Ok(0) => panic!("end of stream after {got} of {len} bytes"),
            Ok(n) => got += n,
            Err(e) => panic!("error after {got} of {len} bytes: {e}"),
        }
    }
    out
}

fn our_error(e: io::Error) -> Error {
    Error::from(e)
}

#[test]
fn peer_close_notify_gives_the_data_then_eof_repeatably() {
    let setup = Setup::new();
    for version in VERSIONS {
        each_case(|transport, mode| {
            let what = format!("{version} {transport:?} {mode:?}");
            let (client, server) = setup.connect_version(transport, version);
            set_mode(&client, mode);
            (&server).write_all(b"last words").unwrap();
            server.close().unwrap();
            assert_eq!(read_len(&client, 10), b"last words", "{what}");
            let mut buf = [0u8; 16];
            for _ in 0..3 {
                assert_eq!(read_once(&client, &mut buf).unwrap(), 0, "{what}");
            }
            if version == TlsVersion::Tls1_3 {
                // A half-close: our direction stays open until we close it.
                (&client).write_all(b"more").unwrap();
                assert_eq!(client.is_open(), OpenState::Open, "{what}");
                client.close().unwrap();
            } else {
                // We answered at once: nothing more can be written.
                let err = (&client).write(b"more").unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{what}");
                assert!(matches!(our_error(err), Error::PeerClosed));
            }
            assert_eq!(client.is_open(), OpenState::Closed, "{what}");
        });
    }
}

#[test]
fn is_open_stays_open_until_data_after_close_notify_is_read() {
    let setup = Setup::new();
    for version in VERSIONS {
        for transport in TRANSPORTS {
            let (client, server) = setup.connect_version(transport, version);
            (&server).write_all(b"unread").unwrap();
            server.close().unwrap();
            let mut one = [0u8; 1];
            assert_eq!((&client).read(&mut one).unwrap(), 1);
            // The rest and the close_notify are in; the data is not all read yet.
            client.set_nonblocking();
            eventually(|| {
                let state = client.is_open();
                (state == OpenState::Open).then_some(())
            });
            assert_eq!(read_len(&client, 5), b"nread");
            assert_eq!(read_once(&client, &mut one).unwrap(), 0);
            if version == TlsVersion::Tls1_3 {
                assert_eq!(client.is_open(), OpenState::Open, "ours is still open");
                client.close().unwrap();
            }
            assert_eq!(client.is_open(), OpenState::Closed, "{version}");
        }
    }
}

#[test]
fn truncation_gives_the_data_then_broken_pipe() {
    let setup = Setup::new();
    each_case(|transport, mode| {
        let (client, server) = setup.connect(transport);
        set_mode(&client, mode);
        (&server).write_all(b"cut short").unwrap();
        // Take the raw transport and drop it: the socket closes without close_notify.
        drop(server.into_stream().unwrap());
        assert_eq!(read_len(&client, 9), b"cut short", "{transport:?} {mode:?}");
        let mut buf = [0u8; 16];
        for _ in 0..2 {
            let err = read_once(&client, &mut buf).unwrap_err();
            assert_eq!(
                err.kind(),
                io::ErrorKind::BrokenPipe,
                "{transport:?} {mode:?}: {err}"
            );
            assert!(matches!(our_error(err), Error::Truncated { .. }));
        }
        assert_eq!(client.errno().unwrap().raw_os_error(), Some(32), "EPIPE");
        let err = (&client).write(b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(client.is_open(), OpenState::Closed);
    });
}

#[test]
fn bad_input_makes_us_send_a_fatal_alert_that_the_peer_reports_as_reset() {
    let setup = Setup::new();
    each_case(|transport, mode| {
        let (client, server) = setup.connect(transport);
        set_mode(&server, mode);
        set_mode(&client, mode);
        // Bytes that are not a TLS record, written under the client's TLS layer.
        (&*client.stream().unwrap())
            .write_all(b"GARBAGE GARBAGE GARBAGE\r\n")
            .unwrap();
        let mut buf = [0u8; 16];
        let err = read_once(&server, &mut buf).unwrap_err();
        assert_eq!(
            err.kind(),
            io::ErrorKind::InvalidData,
            "{transport:?} {mode:?}: {err}"
        );
        let server_err = our_error(err);
        assert!(matches!(server_err, Error::Tls { .. }), "{server_err:?}");
        // Sticky, and writes fail the same way.
        assert_eq!(
            read_once(&server, &mut buf).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(
            (&server).write(b"x").unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(server.is_open(), OpenState::Closed);

        // The peer receives our alert.
        let err = read_once(&client, &mut buf).unwrap_err();
        assert_eq!(
            err.kind(),
            io::ErrorKind::ConnectionReset,
            "{transport:?} {mode:?}: {err}"
        );
        match our_error(err) {
            Error::PeerAlert { alert, message } => {
                assert!(message.contains("fatal alert"), "{message}");
                assert_ne!(alert, sslfile::AlertDescription::CloseNotify);
            }
            other => panic!("expected a peer alert, got {other:?}"),
        }
        assert_eq!(
            (&client).write(b"x").unwrap_err().kind(),
            io::ErrorKind::ConnectionReset
        );
        assert_eq!(client.is_open(), OpenState::Closed);
        assert_eq!(
            client.errno().unwrap().raw_os_error(),
            Some(104),
            "ECONNRESET"
        );
    });
}

#[test]
fn a_corrupted_record_is_rejected_and_the_sender_hears_why() {
    let setup = Setup::new();
    for mode in MODES {
        let (c, s, tamper) = common::relay::relay();
        let server_ctx = setup.server_ctx.clone();
        let server = std::thread::spawn(move || SslFile::server(s, &server_ctx).unwrap());
        let client = SslFile::client(c, &setup.client_ctx, "localhost").unwrap();
        let server = server.join().unwrap();
        server.set_timeout(Some(common::TIMEOUT));
        client.set_timeout(Some(common::TIMEOUT));
        set_mode(&server, mode);
        tamper.corrupt_next.store(true, Ordering::SeqCst);
        client.set_blocking();
        (&client).write_all(&[7u8; 1000]).unwrap();
        set_mode(&client, mode);
        let mut buf = [0u8; 2000];
        let err = read_once(&server, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{mode:?}: {err}");
        assert!(err.to_string().contains("could not be decrypted"), "{err}");
        let err = read_once(&client, &mut buf).unwrap_err();
        assert_eq!(
            err.kind(),
            io::ErrorKind::ConnectionReset,
            "{mode:?}: {err}"
        );
        assert!(err.to_string().contains("bad_record_mac"), "{err}");
    }
}

#[test]
fn local_close_refuses_reads_and_writes_but_delivers_buffered_data() {
    let setup = Setup::new();
    each_case(|transport, mode| {
        let (client, server) = setup.connect(transport);
        set_mode(&client, mode);
        (&server).write_all(b"abc").unwrap();
        let mut one = [0u8; 1];
        assert_eq!(read_once(&client, &mut one).unwrap(), 1);
        assert_eq!(&one, b"a");
        client.close().unwrap();
        // "bc" was already decrypted: still delivered.
        let mut rest = [0u8; 8];
        assert_eq!(
            read_once(&client, &mut rest).unwrap(),
            2,
            "{transport:?} {mode:?}"
        );
        assert_eq!(&rest[..2], b"bc");
        let err = read_once(&client, &mut rest).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotConnected);
        assert!(matches!(our_error(err), Error::Closed));
        assert_eq!(
            (&client).write(b"x").unwrap_err().kind(),
            io::ErrorKind::NotConnected
        );
        assert_eq!(client.is_open(), OpenState::Closed);
        client.close().unwrap(); // twice is fine
                                 // The peer sees a clean end of stream.
        let mut buf = [0u8; 4];
        assert_eq!((&server).read(&mut buf).unwrap(), 0);
    });
}

#[test]
fn drop_sends_close_notify_then_the_transport_closes() {
    let setup = Setup::new();
    each_case(|transport, mode| {
        let (client, server) = setup.connect(transport);
        set_mode(&server, mode);
        (&client).write_all(b"bye").unwrap();
        drop(client);
        assert_eq!(read_len(&server, 3), b"bye");
        let mut buf = [0u8; 4];
        // close_notify, not truncation:
        assert_eq!(
            read_once(&server, &mut buf).unwrap(),
            0,
            "{transport:?} {mode:?}"
        );
        // TLS 1.3: the server's own direction stays open until it closes.
        server.close().unwrap();
        assert_eq!(server.is_open(), OpenState::Closed);
    });
}

#[test]
fn linger_zero_closes_without_close_notify() {
    let setup = Setup::new();
    let (client, server) = setup.connect(Transport::Tcp);
    client.linger(Some(Duration::ZERO)).unwrap();
    client.close().unwrap();
    let mut buf = [0u8; 4];
    let err = (&server).read(&mut buf).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        ),
        "{err}"
    );
}

#[test]
fn close_after_the_peer_vanished_succeeds_and_records_the_error() {
    let setup = Setup::new();
    for transport in TRANSPORTS {
        let (client, server) = setup.connect(transport);
        drop(server.into_stream().unwrap());
        std::thread::sleep(Duration::from_millis(20));
        // Writing to a peer that is gone: close still succeeds.
        let _ = (&client).write_all(&[0u8; 100_000]);
        // Over TCP the first write is accepted and answered by a reset: let it arrive.
        std::thread::sleep(Duration::from_millis(50));
        client.close().unwrap();
        assert!(client.errno().is_some());
        client.close().unwrap();
    }
}

/// Regression: a client that never read the server's TLS 1.3 session tickets used to close
/// its socket with unread input, which makes the kernel reset the connection at once and
/// throw away the end of what the client had written. The server must get every byte and
/// then a clean end of stream, in both modes and over both transports.
#[test]
fn close_with_unread_session_tickets_delivers_everything_to_the_peer() {
    let setup = Setup::new();
    each_case(|transport, mode| {
        let (client, server) = setup.connect(transport);
        // Let the server's session tickets arrive, unread, in the client's socket buffer.
        std::thread::sleep(Duration::from_millis(50));
        let data = common::random_bytes(2 << 20, 7);
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            (&server).read_to_end(&mut got).map(|_| got)
        });
        set_mode(&client, mode);
        let mut sent = 0;
        while sent < data.len() {
            match (&client).write(&data[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("{transport:?} {mode:?}: write: {e}"),
            }
        }
        client.set_blocking();
        client.close().unwrap();
        let got = reader
            .join()
            .unwrap()
            .unwrap_or_else(|e| panic!("{transport:?} {mode:?}: the server lost data: {e}"));
        assert!(got == data, "{transport:?} {mode:?}: {} bytes", got.len());
    });
}

/// A nonblocking close that cannot flush everything returns at once; the default backend
/// delivers the rest and close_notify (no thread per close), then closes the transport
/// and lets the file go.
#[test]
fn a_nonblocking_close_with_output_left_finishes_on_the_backend() {
    let setup = Setup::new();
    // The file's own backend (other tests use the default one at the same time).
    let running = common::running::Running::new();
    let backend = running.backend.clone();
    for transport in TRANSPORTS {
        let (client, server) = setup.connect(transport);
        client.set_nonblocking();
        client.set_backend(&backend);
        let data = common::random_bytes(8 << 20, 11);
        let mut accepted = 0;
        while accepted < data.len() {
            match (&client).write(&data[accepted..]) {
                Ok(n) => accepted += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(
            accepted < data.len(),
            "{transport:?}: the socket never filled"
        );
        assert_eq!(backend.watch_count(), 0);
        client.close().unwrap(); // returns at once: the peer reads nothing yet
                                 // The rest is the backend's job (no thread per close).
        assert_eq!(backend.watch_count(), 1, "{transport:?}");
        assert_eq!(backend.closing_connections(), 1, "{transport:?}");
        drop(client);
        let mut got = vec![0u8; accepted];
        (&server).read_exact(&mut got).unwrap();
        assert!(got[..] == data[..accepted], "{transport:?}");
        let mut buf = [0u8; 16];
        assert_eq!(
            (&server).read(&mut buf).unwrap(),
            0,
            "{transport:?}: close_notify"
        );
        drop(server); // its end: the lingering close is over
        eventually(|| (backend.closing_connections() == 0).then_some(()));
        eventually(|| (backend.watch_count() == 0).then_some(()));
    }
}
