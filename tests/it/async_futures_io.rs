//! `sslfile::futures_io::TlsStream` on smol's executor (the async-io reactor): both ends
//! async, over loopback TCP and socket pairs; clean close and half-close, truncation,
//! a failed handshake, the handshake timeout on async-io timers, split halves in full
//! duplex, drop sends close_notify.

use crate::common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::pair::{raw_pair, Setup, Transport, TRANSPORTS};
use common::random_bytes;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use sslfile::futures_io::TlsStream;
use sslfile::Context;

/// Both ends of a connection, handshakes done.
async fn pair(setup: &Setup, transport: Transport) -> (TlsStream, TlsStream) {
    let (c, s) = raw_pair(transport);
    let server = TlsStream::accept(s, &setup.server_ctx);
    let client = TlsStream::connect(c, &setup.client_ctx, "localhost");
    let (server, client) = smol::future::zip(server, client).await;
    (client.unwrap(), server.unwrap())
}

#[test]
fn echo_with_half_close_then_a_clean_end() {
    let setup = Setup::new();
    for transport in TRANSPORTS {
        smol::block_on(async {
            let (mut client, mut server) = pair(&setup, transport).await;
            let data = random_bytes(500_000, 1);
            let echo = smol::spawn(async move {
                let mut got = Vec::new();
                server.read_to_end(&mut got).await.unwrap(); // the client's close_notify
                server.write_all(&got).await.unwrap(); // half-close: still writable
                server.close().await.unwrap();
            });
            client.write_all(&data).await.unwrap();
            client.close().await.unwrap();
            let mut back = Vec::new();
            client.read_to_end(&mut back).await.unwrap();
            assert!(
                back == data,
                "{transport:?}: {} of {} bytes",
                back.len(),
                data.len()
            );
            assert_eq!(
                client.read(&mut [0u8; 8]).await.unwrap(),
                0,
                "repeatable end"
            );
            echo.await;
        });
    }
}

#[test]
fn truncation_is_broken_pipe_and_drop_sends_close_notify() {
    let setup = Setup::new();
    smol::block_on(async {
        let (client, mut server) = pair(&setup, Transport::Tcp).await;
        // The client's file handed over without close_notify, then closed: truncation.
        let raw = client.into_ssl_file().unwrap().into_stream().unwrap();
        drop(raw);
        let err = server.read(&mut [0u8; 8]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");

        let (mut client, mut server) = pair(&setup, Transport::Tcp).await;
        client.write_all(b"bye").await.unwrap();
        drop(client);
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"bye");
    });
}

#[test]
fn a_failed_handshake_and_a_silent_server_are_the_errors_of_connect() {
    let setup = Setup::new();
    let stranger = common::certs::TestPki::new();
    let untrusting = Context::builder()
        .trust_pem(stranger.ca_pem.as_bytes())
        .unwrap()
        .handshake_timeout(Some(Duration::from_millis(300)))
        .build()
        .unwrap();
    smol::block_on(async {
        let (c, s) = raw_pair(Transport::Tcp);
        let server = TlsStream::accept(s, &setup.server_ctx);
        let client = TlsStream::connect(c, &untrusting, "localhost");
        let (server, client) = smol::future::zip(server, client).await;
        let err = client.unwrap_err();
        assert!(
            err.to_string().contains("certificate for localhost"),
            "{err}"
        );
        assert!(server.is_err());

        let (c, _silent) = raw_pair(Transport::Tcp);
        let started = Instant::now();
        let err = TlsStream::connect(c, &untrusting, "localhost")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn split_halves_work_in_full_duplex_on_smol() {
    let setup = Setup::new();
    const LEN: usize = 4 << 20;
    smol::block_on(async {
        let (client, mut server) = pair(&setup, Transport::Tcp).await;
        let echo = smol::spawn(async move {
            let mut buf = vec![0u8; 65536];
            loop {
                match server.read(&mut buf).await.unwrap() {
                    0 => break,
                    n => server.write_all(&buf[..n]).await.unwrap(),
                }
            }
            server.close().await.unwrap();
        });
        let data = random_bytes(LEN, 2);
        let (mut read, mut write) = client.split();
        let sent = data.clone();
        let writer = smol::spawn(async move {
            write.write_all(&sent).await.unwrap();
            write.close().await.unwrap();
        });
        let mut back = Vec::with_capacity(LEN);
        let reading = async { Some(read.read_to_end(&mut back).await) };
        let stalled = async {
            smol::Timer::after(3 * common::TIMEOUT).await;
            None
        };
        let ended = smol::future::or(reading, stalled).await;
        assert!(
            ended.is_some(),
            "stalled after {} of {LEN} bytes",
            back.len()
        );
        ended.unwrap().unwrap();
        writer.await;
        echo.await;
        assert!(back == data, "{} of {LEN} bytes", back.len());
    });
}

/// The futures-io form of `async_tokio::both_halves_waiting_to_write_are_both_woken`:
/// async-io also keeps one waker per direction; with the write half waiting for the
/// socket and the read half waiting to flush the same output, both are woken once the
/// socket drains. (This sequence passed before the fix too — async-io answered the read
/// half's first poll at once — so it guards the property rather than reproducing the hang
/// that tokio showed.)
#[test]
fn both_halves_waiting_to_write_are_both_woken_on_async_io() {
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let setup = Setup::new();
    let (client, mut server) = smol::block_on(pair(&setup, Transport::Tcp));
    let (mut read, mut write) = client.split();
    let writes = Arc::new(Count(AtomicUsize::new(0)));
    let write_waker = Waker::from(writes.clone());
    let read_waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
    let chunk = vec![7u8; 64 * 1024];
    let mut written = 0;
    loop {
        let mut cx = Context::from_waker(&write_waker);
        match smol::io::AsyncWrite::poll_write(Pin::new(&mut write), &mut cx, &chunk) {
            Poll::Ready(n) => written += n.unwrap(),
            Poll::Pending => break,
        }
        assert!(written < 1 << 30, "the socket never filled");
    }
    assert!(write.ssl_file().pending().output_pending);
    let mut cx = Context::from_waker(&read_waker);
    let polled = smol::io::AsyncRead::poll_read(Pin::new(&mut read), &mut cx, &mut [0u8; 64]);
    assert!(polled.is_pending(), "the server sends nothing");
    // The server reads everything: the client's socket drains.
    let drain = std::thread::spawn(move || {
        smol::block_on(async {
            let mut sink = Vec::new();
            server.read_to_end(&mut sink).await.unwrap();
            sink.len()
        })
    });
    let deadline = Instant::now() + common::TIMEOUT;
    while writes.0.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        smol::block_on(smol::Timer::after(Duration::from_millis(10))); // the reactor runs
    }
    assert!(
        writes.0.load(Ordering::SeqCst) > 0,
        "the write half was not woken after {written} bytes"
    );
    smol::block_on(async {
        write.close().await.unwrap();
        drop(read.unsplit(write));
    });
    assert!(drain.join().unwrap() >= written);
}

/// The file of a `TlsStream` made from a plain `File` pair is usable as a `File` again.
#[test]
fn a_file_goes_from_blocking_to_futures_io_and_back() {
    let setup = Setup::new();
    let (client, server) = setup.connect(Transport::SocketPair);
    client.set_timeout(Some(common::TIMEOUT));
    std::io::Write::write_all(&mut &server, b"one two").unwrap();
    let client = smol::block_on(async {
        let mut tls = TlsStream::from_ssl_file(client).unwrap();
        let mut one = [0u8; 4];
        tls.read_exact(&mut one).await.unwrap();
        assert_eq!(&one, b"one ");
        tls.into_ssl_file().unwrap()
    });
    client.set_blocking();
    let mut two = [0u8; 3];
    std::io::Read::read_exact(&mut &client, &mut two).unwrap();
    assert_eq!(&two, b"two");
}
