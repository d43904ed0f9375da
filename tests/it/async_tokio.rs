//! `sslfile::tokio::TlsStream` over loopback TCP, one test per row of its semantics table:
//! clean close and TLS 1.3 half-close, truncation as `BrokenPipe`, a failed handshake, the
//! handshake timeout (also on a runtime without timers), drop sends close_notify, split halves in full
//! duplex, switching between blocking and async without losing a byte, a cancelled write,
//! a runtime shut down with connections open; and interop with tokio-rustls.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::pair::Setup;
use common::{random_bytes, TIMEOUT};
use sslfile::tokio::TlsStream;
use sslfile::{Context, File, SslFile, TlsVersion};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A blocking sslfile server on loopback running `serve` for one connection.
fn blocking_server(
    ctx: &Context,
    serve: impl FnOnce(SslFile) + Send + 'static,
) -> (u16, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let ctx = ctx.clone();
    let handle = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let tls = SslFile::server(File::try_from(s).unwrap(), &ctx).unwrap();
        tls.set_timeout(Some(TIMEOUT));
        serve(tls);
    });
    (port, handle)
}

fn client_ctx(setup: &Setup, version: TlsVersion) -> Context {
    Context::builder()
        .trust_pem(setup.pki.ca_pem.as_bytes())
        .unwrap()
        .versions(version, version)
        .unwrap()
        .build()
        .unwrap()
}

async fn connect(port: u16, ctx: &Context) -> Result<TlsStream, sslfile::Error> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    TlsStream::connect(tcp.try_into().unwrap(), ctx, "localhost").await
}

#[test]
fn close_notify_reads_as_the_end_and_shutdown_half_closes_on_tls_1_3() {
    let setup = Setup::new();
    for version in [TlsVersion::Tls1_3, TlsVersion::Tls1_2] {
        let data = random_bytes(300_000, 1);
        let sent = data.clone();
        let (port, server) = blocking_server(&setup.server_ctx, move |tls| {
            let mut request = Vec::new();
            (&tls).read_to_end(&mut request).unwrap(); // to the client's close_notify
            assert_eq!(request, b"request");
            if tls.protocol_version() == Some(TlsVersion::Tls1_3) {
                (&tls).write_all(&sent).unwrap(); // half-close: we may still answer
            }
            tls.close().unwrap();
        });
        let got = runtime().block_on(async {
            let mut tls = connect(port, &client_ctx(&setup, version)).await.unwrap();
            tls.write_all(b"request").await.unwrap();
            tls.shutdown().await.unwrap();
            let mut got = Vec::new();
            tls.read_to_end(&mut got).await.unwrap();
            // The end is repeatable.
            assert_eq!(tls.read(&mut [0u8; 16]).await.unwrap(), 0);
            got
        });
        server.join().unwrap();
        match version {
            TlsVersion::Tls1_3 => assert!(got == data, "{} of {} bytes", got.len(), data.len()),
            _ => assert!(got.is_empty()),
        }
    }
}

#[test]
fn a_transport_that_ends_without_close_notify_is_broken_pipe_after_the_data() {
    let setup = Setup::new();
    let (port, server) = blocking_server(&setup.server_ctx, |tls| {
        (&tls).write_all(b"partial").unwrap();
        let raw = tls.into_stream().unwrap(); // no close_notify
        drop(raw);
    });
    runtime().block_on(async {
        let mut tls = connect(port, &setup.client_ctx).await.unwrap();
        let mut got = [0u8; 7];
        tls.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"partial");
        let err = tls.read(&mut [0u8; 16]).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
        assert!(err.to_string().contains("without close_notify"), "{err}");
    });
    server.join().unwrap();
}

#[test]
fn a_failed_handshake_is_the_error_of_connect_with_the_usual_message() {
    let setup = Setup::new();
    let other = common::certs::TestPki::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server_ctx = setup.server_ctx.clone();
    let server = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        SslFile::server(File::try_from(s).unwrap(), &server_ctx).map(|_| ())
    });
    let untrusting = Context::builder()
        .trust_pem(other.ca_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let err = runtime().block_on(connect(port, &untrusting)).unwrap_err();
    assert!(
        err.to_string().contains("certificate for localhost"),
        "{err}"
    );
    assert!(server.join().unwrap().is_err());
}

/// The handshake timeout wakes the task without tokio's timers: on a runtime built with
/// `enable_io()` alone (no time driver) it still ends the handshake, without a panic.
#[test]
fn a_silent_server_times_out_even_on_a_runtime_without_timers() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let ctx = Context::builder()
        .handshake_timeout(Some(Duration::from_millis(300)))
        .build()
        .unwrap();
    let started = Instant::now();
    let io_only = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let err = io_only.block_on(connect(port, &ctx)).unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    drop(listener);
}

#[test]
fn dropping_the_stream_sends_close_notify() {
    let setup = Setup::new();
    let (tx, rx) = std::sync::mpsc::channel();
    let (port, server) = blocking_server(&setup.server_ctx, move |tls| {
        let mut got = Vec::new();
        tx.send(
            (&tls)
                .read_to_end(&mut got)
                .map(|_| got)
                .map_err(|e| e.to_string()),
        )
        .unwrap();
    });
    runtime().block_on(async {
        let mut tls = connect(port, &setup.client_ctx).await.unwrap();
        tls.write_all(b"last words").await.unwrap();
        drop(tls);
    });
    assert_eq!(
        rx.recv_timeout(TIMEOUT).unwrap(),
        Ok(b"last words".to_vec())
    );
    server.join().unwrap();
}

/// An echo server (two threads on one blocking file) and a client that writes 8 MiB from
/// one half while its other half reads the echo: neither waits for the other.
#[test]
fn split_halves_work_in_full_duplex() {
    let setup = Setup::new();
    const LEN: usize = 8 << 20;
    let (port, server) = blocking_server(&setup.server_ctx, |tls| {
        let tls = Arc::new(tls);
        let reader = tls.clone();
        let echo = thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match (&*reader).read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => (&*reader).write_all(&buf[..n]).unwrap(),
                    Err(e) => panic!("{e}"),
                }
            }
        });
        echo.join().unwrap();
        tls.close().unwrap();
    });
    let data = Arc::new(random_bytes(LEN, 7));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let got = rt.block_on(async {
        let tls = connect(port, &setup.client_ctx).await.unwrap();
        let (mut read, mut write) = tls.split();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            for chunk in sent.chunks(100_000) {
                write.write_all(chunk).await.unwrap();
            }
            write.shutdown().await.unwrap();
            write
        });
        let mut got = Vec::with_capacity(LEN);
        let ended = tokio::time::timeout(3 * TIMEOUT, read.read_to_end(&mut got)).await;
        assert!(ended.is_ok(), "stalled after {} of {LEN} bytes", got.len());
        ended.unwrap().unwrap();
        let write = writer.await.unwrap();
        drop(read.unsplit(write));
        got
    });
    server.join().unwrap();
    assert!(got == *data, "{} of {} bytes echoed", got.len(), LEN);
}

/// A waker that counts its wake-ups.
struct Count(std::sync::atomic::AtomicUsize);

impl std::task::Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<Count>, std::task::Waker) {
    let count = Arc::new(Count(Default::default()));
    (count.clone(), std::task::Waker::from(count))
}

/// The write half waits for the socket to take more; the read half, finding that output
/// pending, waits for writability too. The runtime keeps one waker per direction, and the
/// write half's task used to be replaced by the read half's and sleep forever (a CI run
/// hung in `split_halves_work_in_full_duplex`): once the socket drains, both are woken.
#[test]
fn both_halves_waiting_to_write_are_both_woken() {
    use std::pin::Pin;
    use std::sync::atomic::Ordering;
    use std::task::Poll;
    use tokio::io::{AsyncRead, ReadBuf};

    let setup = Setup::new();
    let (drain_tx, drain_rx) = std::sync::mpsc::channel::<()>();
    let (port, server) = blocking_server(&setup.server_ctx, move |tls| {
        drain_rx.recv().unwrap();
        let mut sink = Vec::new();
        (&tls).read_to_end(&mut sink).unwrap();
        tls.close().unwrap();
    });
    let rt = runtime();
    let tls = rt.block_on(connect(port, &setup.client_ctx)).unwrap();
    let _inside = rt.enter();
    let (mut read, mut write) = tls.split();
    let (writes, write_waker) = counting_waker();
    let (_, read_waker) = counting_waker();
    let chunk = vec![7u8; 64 * 1024];
    let mut written = 0;
    loop {
        let mut cx = std::task::Context::from_waker(&write_waker);
        match Pin::new(&mut write).poll_write(&mut cx, &chunk) {
            Poll::Ready(n) => written += n.unwrap(),
            Poll::Pending => break,
        }
        assert!(written < 1 << 30, "the socket never filled");
    }
    assert!(write.ssl_file().pending().output_pending);
    let mut buf = [0u8; 1024];
    let mut cx = std::task::Context::from_waker(&read_waker);
    let polled = Pin::new(&mut read).poll_read(&mut cx, &mut ReadBuf::new(&mut buf));
    assert!(polled.is_pending(), "the server sends nothing");
    drain_tx.send(()).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while writes.0.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        rt.block_on(tokio::time::sleep(Duration::from_millis(10))); // the reactor runs
    }
    assert!(
        writes.0.load(Ordering::SeqCst) > 0,
        "the write half was not woken after {written} bytes"
    );
    rt.block_on(async {
        write.shutdown().await.unwrap();
        drop(read.unsplit(write));
    });
    server.join().unwrap();
}

/// Many rounds of full duplex, both ends split, on both runtime flavours, each bounded by
/// a timeout: a wake-up lost anywhere stalls a round.
#[test]
fn full_duplex_rounds_against_an_async_echo_never_stall() {
    let setup = Setup::new();
    const LEN: usize = 2 << 20;
    const ROUNDS: usize = 4;
    for multi_thread in [false, true] {
        let rt = if multi_thread {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
        } else {
            runtime()
        };
        let server_ctx = setup.server_ctx.clone();
        let client_ctx = setup.client_ctx.clone();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let server = tokio::spawn(async move {
                for _ in 0..ROUNDS {
                    let (tcp, _) = listener.accept().await.unwrap();
                    let tls = TlsStream::accept(tcp.try_into().unwrap(), &server_ctx)
                        .await
                        .unwrap();
                    let (mut read, mut write) = tls.split();
                    tokio::io::copy(&mut read, &mut write).await.unwrap();
                    write.shutdown().await.unwrap();
                }
            });
            for round in 0..ROUNDS {
                let data = Arc::new(random_bytes(LEN, round as u64));
                let tls = connect(port, &client_ctx).await.unwrap();
                let (mut read, mut write) = tls.split();
                let sent = data.clone();
                let writer = tokio::spawn(async move {
                    for chunk in sent.chunks(7_000 + 30_000 * round) {
                        write.write_all(chunk).await.unwrap();
                    }
                    write.shutdown().await.unwrap();
                    write
                });
                let mut got = Vec::with_capacity(LEN);
                let reading = read.read_to_end(&mut got);
                let ended = tokio::time::timeout(TIMEOUT, reading).await;
                assert!(
                    ended.is_ok(),
                    "round {round} (multi-thread {multi_thread}) stalled after {} of {LEN} bytes",
                    got.len()
                );
                ended.unwrap().unwrap();
                let write = writer.await.unwrap();
                drop(read.unsplit(write));
                assert!(got == *data, "round {round}: {} of {LEN} bytes", got.len());
            }
            server.await.unwrap();
        });
    }
}

/// Blocking handshake and first bytes in a thread, then async, then blocking again:
/// every byte arrives once, in order.
#[test]
fn switching_between_blocking_and_async_loses_nothing() {
    let setup = Setup::new();
    let data = random_bytes(600_000, 3);
    let sent = data.clone();
    let (port, server) = blocking_server(&setup.server_ctx, move |tls| {
        (&tls).write_all(&sent).unwrap();
        tls.close().unwrap();
    });
    let socket = File::connect(("127.0.0.1", port)).unwrap();
    let blocking = SslFile::client(socket, &setup.client_ctx, "localhost").unwrap();
    blocking.set_timeout(Some(TIMEOUT));
    let mut got = vec![0u8; 1000];
    (&blocking).read_exact(&mut got).unwrap();
    let rt = runtime();
    let back = rt.block_on(async {
        let mut tls = TlsStream::from_ssl_file(blocking).unwrap();
        let mut middle = vec![0u8; 300_000];
        tls.read_exact(&mut middle).await.unwrap();
        got.extend_from_slice(&middle);
        tls.into_ssl_file().unwrap()
    });
    back.set_blocking();
    (&back).read_to_end(&mut got).unwrap();
    server.join().unwrap();
    assert!(got == data, "{} of {} bytes", got.len(), data.len());
}

/// Writes polled by hand until one is `Pending`, then abandoned (a cancelled future): the
/// peer gets exactly the bytes reported accepted, then what later writes send.
#[test]
fn a_cancelled_write_loses_no_byte_and_sends_none_twice() {
    let setup = Setup::new();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (got_tx, got_rx) = std::sync::mpsc::channel();
    let (port, server) = blocking_server(&setup.server_ctx, move |tls| {
        rx.recv_timeout(TIMEOUT).unwrap(); // read nothing until the writes were cancelled
        let mut got = Vec::new();
        (&tls).read_to_end(&mut got).unwrap();
        got_tx.send(got).unwrap();
    });
    let data = random_bytes(64 << 20, 9);
    let accepted = runtime().block_on(async {
        let mut tls = connect(port, &setup.client_ctx).await.unwrap();
        let mut accepted = 0;
        // One write future after the other, each polled once: the first Pending one is
        // dropped, as a timeout or a select! would.
        loop {
            let chunk = &data[accepted..accepted + 65536];
            let polled = std::future::poll_fn(|cx| {
                std::task::Poll::Ready(std::pin::Pin::new(&mut tls).poll_write(cx, chunk))
            })
            .await;
            match polled {
                std::task::Poll::Ready(n) => accepted += n.unwrap(),
                std::task::Poll::Pending => break,
            }
        }
        tx.send(()).unwrap();
        tls.write_all(b"and then this").await.unwrap();
        tls.shutdown().await.unwrap();
        accepted
    });
    server.join().unwrap();
    let got = got_rx.recv().unwrap();
    let mut want = data[..accepted].to_vec();
    want.extend_from_slice(b"and then this");
    assert!(
        got == want,
        "{} bytes arrived, {} expected",
        got.len(),
        want.len()
    );
}

/// A runtime dropped while tasks hold open streams: no panic; each stream's drop closes
/// it cleanly (its peer reads close_notify).
#[test]
fn a_runtime_shut_down_with_open_streams_closes_them_cleanly() {
    let setup = Setup::new();
    let mut servers = Vec::new();
    let mut results = Vec::new();
    for _ in 0..5 {
        let (tx, rx) = std::sync::mpsc::channel();
        let (port, server) = blocking_server(&setup.server_ctx, move |tls| {
            let mut got = Vec::new();
            tx.send((&tls).read_to_end(&mut got).map_err(|e| e.to_string()))
                .unwrap();
        });
        servers.push((port, server));
        results.push(rx);
    }
    let rt = runtime();
    for (port, _) in &servers {
        let port = *port;
        let ctx = setup.client_ctx.clone();
        rt.block_on(async move {
            let mut tls = connect(port, &ctx).await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 16];
                let _ = tls.read(&mut buf).await; // waits for ever
            });
        });
    }
    drop(rt);
    for rx in results {
        assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), Ok(0));
    }
    for (_, server) in servers {
        server.join().unwrap();
    }
}

/// Our async client and a tokio-rustls server, and the other way round.
#[test]
fn interop_with_tokio_rustls_both_ways() {
    let setup = Setup::new();
    let leaf = setup.pki.leaf(&["localhost"]);
    let server_config = Arc::new(leaf.server_config());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(setup.pki.ca_der.clone()).unwrap();
    let client_config = Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // tokio-rustls server, sslfile client.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config);
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            let mut got = Vec::new();
            tls.read_to_end(&mut got).await.unwrap();
            tls.write_all(&got).await.unwrap();
            tls.shutdown().await.unwrap();
        });
        let mut ours = connect(port, &setup.client_ctx).await.unwrap();
        let data = random_bytes(1 << 20, 4);
        ours.write_all(&data).await.unwrap();
        ours.shutdown().await.unwrap();
        let mut back = Vec::new();
        ours.read_to_end(&mut back).await.unwrap();
        assert!(back == data);
        server.await.unwrap();

        // sslfile server, tokio-rustls client.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server_ctx = setup.server_ctx.clone();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = TlsStream::accept(tcp.try_into().unwrap(), &server_ctx)
                .await
                .unwrap();
            let mut got = Vec::new();
            tls.read_to_end(&mut got).await.unwrap();
            tls.write_all(&got).await.unwrap();
            tls.shutdown().await.unwrap();
        });
        let connector = tokio_rustls::TlsConnector::from(client_config);
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut theirs = connector.connect(name, tcp).await.unwrap();
        let data = random_bytes(1 << 20, 5);
        theirs.write_all(&data).await.unwrap();
        theirs.shutdown().await.unwrap();
        let mut back = Vec::new();
        theirs.read_to_end(&mut back).await.unwrap();
        assert!(back == data);
        server.await.unwrap();
    });
}

#[allow(dead_code)]
#[path = "../../sslfile/examples/callback_echo_server.rs"]
mod callback_echo_server;

/// Pike-style callback code (the callback echo example on a `Port`) and an async client
/// on one thread: the backend runs as part of a current-thread tokio runtime.
#[test]
fn a_backend_runs_inside_tokio_beside_async_code() {
    let setup = Setup::new();
    let port = sslfile::Port::bind("127.0.0.1:0", &setup.server_ctx).unwrap();
    let backend = sslfile::Backend::new().unwrap();
    callback_echo_server::listen(&port, &backend).unwrap();
    let addr = port.local_addr().unwrap();
    let tick = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let ticks = tick.clone();
    backend.call_out(Duration::from_millis(20), move || {
        ticks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    });
    runtime().block_on(async {
        let client = async {
            for round in 0..3 {
                let mut tls = connect(addr.port(), &setup.client_ctx).await.unwrap();
                let line = format!("hello {round}\n");
                tls.write_all(line.as_bytes()).await.unwrap();
                let mut back = vec![0u8; line.len()];
                tls.read_exact(&mut back).await.unwrap();
                assert_eq!(back, line.as_bytes());
                tls.shutdown().await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(50)).await; // the call_out is due
            backend.stop();
        };
        let (served, ()) = tokio::join!(sslfile::tokio::run_backend(&backend), client);
        served.unwrap();
    });
    assert_eq!(
        tick.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the call_out ran"
    );
}

/// Bad input on the tokio form: a peer that answers with plain text fails the handshake
/// with the usual sentence; a peer that resets the connection mid-stream is `BrokenPipe`
/// after the data that came before it.
#[test]
fn garbage_and_a_reset_are_clear_errors_in_async_mode() {
    let setup = Setup::new();
    // Plain text instead of a ServerHello.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let talker = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        thread::sleep(Duration::from_millis(200));
    });
    let err = runtime()
        .block_on(connect(port, &setup.client_ctx))
        .unwrap_err();
    assert!(err.to_string().contains("does not speak TLS"), "{err}");
    talker.join().unwrap();

    // A reset after some data (linger 0 on the server's socket), once the data was read:
    // a reset throws away what the receiver has not read yet.
    let (read_tx, read_rx) = std::sync::mpsc::channel::<()>();
    let (port, server) = blocking_server(&setup.server_ctx, move |tls| {
        (&tls).write_all(b"before the reset").unwrap();
        read_rx.recv_timeout(TIMEOUT).unwrap();
        tls.linger(Some(Duration::ZERO)).unwrap();
        drop(tls);
    });
    runtime().block_on(async {
        let mut tls = connect(port, &setup.client_ctx).await.unwrap();
        let mut got = vec![0u8; 16];
        tls.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"before the reset");
        read_tx.send(()).unwrap();
        let err = tls.read(&mut [0u8; 16]).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
        let err = tls.write_all(b"after").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
    });
    server.join().unwrap();
}
