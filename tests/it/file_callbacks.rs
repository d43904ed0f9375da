//! `File` in callback mode: the `Stdio.File` contract. The read callback gets the data
//! read, the write callback runs while the file is writable (level-triggered), the close
//! callback runs once at end of stream (no error) or when reading fails (the error).

use crate::common;
use common::running::run_in_thread;

use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::pair::{eventually, raw_pair, Transport, TRANSPORTS};
use sslfile::{Backend, File};

#[test]
fn read_callback_gets_every_byte_and_close_callback_fires_once_at_end_of_stream() {
    for transport in TRANSPORTS {
        let backend = Backend::new().unwrap();
        let runner = run_in_thread(&backend);
        let (mut writer, reader) = raw_pair(transport);
        let got = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let g = got.clone();
        reader.set_backend(&backend);
        reader.set_nonblocking_callbacks(
            Some(Arc::new(move |_f: &File, d: &[u8]| {
                g.lock().unwrap().extend_from_slice(d)
            })),
            None,
            Some(Arc::new(move |_f: &File, e: Option<io::Error>| {
                tx.send(e.map(|e| e.kind())).unwrap()
            })),
        );
        let data = common::random_bytes(1 << 20, 3);
        writer.write_all(&data).unwrap();
        writer.close().unwrap();
        let reason = rx.recv_timeout(common::TIMEOUT).expect("close callback");
        assert_eq!(reason, None, "{transport:?}: end of stream is not an error");
        assert!(*got.lock().unwrap() == data, "{transport:?}");
        // Once: nothing more arrives, and the backend let go of the file.
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        eventually(|| (backend.watch_count() == 0).then_some(()));
        backend.stop();
        runner.join().unwrap();
    }
}

#[test]
fn a_reset_reaches_the_close_callback_as_an_error() {
    let backend = Backend::new().unwrap();
    let runner = run_in_thread(&backend);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let file = File::try_from(listener.accept().unwrap().0).unwrap();
    let (tx, rx) = mpsc::channel();
    file.set_backend(&backend);
    file.set_close_callback(Some(Arc::new(move |_f: &File, e: Option<io::Error>| {
        tx.send(e.map(|e| e.kind())).unwrap()
    })));
    // SO_LINGER 0: closing the peer resets the connection.
    rustix::net::sockopt::set_socket_linger(&peer, Some(Duration::ZERO)).unwrap();
    drop(peer);
    let reason = rx.recv_timeout(common::TIMEOUT).expect("close callback");
    assert_eq!(reason, Some(io::ErrorKind::ConnectionReset));
    backend.stop();
    runner.join().unwrap();
}

#[test]
fn write_callback_is_level_triggered_until_removed() {
    for transport in TRANSPORTS {
        let backend = Backend::new().unwrap();
        let runner = run_in_thread(&backend);
        let (writer, mut reader) = raw_pair(transport);
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        writer.set_backend(&backend);
        // Writes one numbered byte per call; removes itself after 100 calls.
        writer.set_write_callback(Some(Arc::new(move |f: &File| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            (&*f).write_all(&[n as u8]).unwrap();
            if n + 1 == 100 {
                f.set_write_callback(None);
            }
        })));
        let mut got = vec![0u8; 100];
        std::io::Read::read_exact(&mut reader, &mut got).unwrap();
        assert_eq!(got, (0..100u8).collect::<Vec<_>>(), "{transport:?}");
        eventually(|| (backend.watch_count() == 0).then_some(()));
        assert_eq!(calls.load(Ordering::SeqCst), 100, "{transport:?}");
        backend.stop();
        runner.join().unwrap();
    }
}

#[test]
fn set_blocking_clears_the_callbacks_and_blocking_reads_work_again() {
    let backend = Backend::new().unwrap();
    let runner = run_in_thread(&backend);
    let (mut writer, reader) = raw_pair(Transport::SocketPair);
    let (tx, rx) = mpsc::channel();
    reader.set_backend(&backend);
    reader.set_read_callback(Some(Arc::new(move |_f: &File, d: &[u8]| {
        tx.send(d.to_vec()).unwrap()
    })));
    writer.write_all(b"callback").unwrap();
    assert_eq!(rx.recv_timeout(common::TIMEOUT).unwrap(), b"callback");
    reader.set_blocking();
    assert_eq!(backend.watch_count(), 0);
    writer.write_all(b"blocking").unwrap();
    let mut buf = [0u8; 8];
    std::io::Read::read_exact(&mut &reader, &mut buf).unwrap();
    assert_eq!(&buf, b"blocking");
    assert!(rx.try_recv().is_err(), "no callback after set_blocking");
    backend.stop();
    runner.join().unwrap();
}

/// Regression: a watch whose callback runs at once on the backend thread (the peer already
/// hung up, which is reported whatever the interest) and ends the watch from there, while
/// the registering thread has not stored the watch yet, used to leave the registration
/// behind. Many rounds, each must leave the backend empty.
#[test]
fn a_watch_ended_by_its_own_first_callback_leaves_nothing_registered() {
    let backend = Backend::new().unwrap();
    let runner = run_in_thread(&backend);
    for round in 0..300 {
        let (peer, file) = raw_pair(Transport::SocketPair);
        drop(peer);
        let (tx, rx) = mpsc::channel();
        file.set_backend(&backend);
        file.set_close_callback(Some(Arc::new(move |_f: &File, e: Option<io::Error>| {
            let _ = tx.send(e.is_none());
        })));
        assert!(rx.recv_timeout(common::TIMEOUT).unwrap(), "round {round}");
        eventually(|| (backend.watch_count() == 0).then_some(()));
    }
    backend.stop();
    runner.join().unwrap();
}
