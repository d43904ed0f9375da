//! TLS over TLS: `SslFile<SslFile<File>>`, the inner TLS layer running over an outer one
//! (a tunnel), in blocking, nonblocking and callback mode, each layer with its own
//! certificate, SNI and ALPN; and a tunnel through our own TLS proxy to `openssl s_server`.

use crate::common;

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::certs::TestPki;
use common::openssl::{SServer, SServerOpts};
use common::pair::{eventually, raw_pair, Transport, TRANSPORTS};
use common::{random_bytes, TIMEOUT};
use sslfile::{Backend, Callbacks, Context, File, SslFile};

type Tunnel = SslFile<File>;
type Stacked = SslFile<Tunnel>;

const LEN: usize = 16 << 20;

/// Contexts for both layers: the tunnel ("localhost", ALPN "tunnel") and the inner
/// connection ("inner.test", ALPN "h2"), each from its own PKI.
struct Layers {
    tunnel_server: Context,
    tunnel_client: Context,
    inner_server: Context,
    inner_client: Context,
}

impl Layers {
    fn new() -> Layers {
        let (tunnel_server, tunnel_client) = contexts(&["localhost"], "tunnel");
        let (inner_server, inner_client) = contexts(&["inner.test"], "h2");
        Layers {
            tunnel_server,
            tunnel_client,
            inner_server,
            inner_client,
        }
    }
}

fn contexts(names: &[&str], alpn: &str) -> (Context, Context) {
    let pki = TestPki::new();
    let leaf = pki.leaf(names);
    let server = Context::builder()
        .certificate_chain_pem(leaf.chain_pem.as_bytes(), leaf.key_pem.as_bytes())
        .unwrap()
        .alpn_protocols([alpn])
        .build()
        .unwrap();
    let client = Context::builder()
        .trust_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .alpn_protocols([alpn])
        .build()
        .unwrap();
    (server, client)
}

/// Blocking tunnels on both ends of `transport`, then inner `SslFile`s over them, not yet
/// started: (client, server).
fn tunnels(layers: &Layers, transport: Transport) -> (Stacked, Stacked) {
    let (c, s) = raw_pair(transport);
    let ctx = layers.tunnel_server.clone();
    let server = thread::spawn(move || SslFile::server(s, &ctx).unwrap());
    let client_tunnel = SslFile::client(c, &layers.tunnel_client, "localhost").unwrap();
    let server_tunnel = server.join().unwrap();
    for t in [&client_tunnel, &server_tunnel] {
        t.set_timeout(Some(TIMEOUT));
        assert_eq!(t.alpn_protocol().as_deref(), Some(&b"tunnel"[..]));
    }
    (
        SslFile::new(client_tunnel, &layers.inner_client),
        SslFile::new(server_tunnel, &layers.inner_server),
    )
}

fn assert_inner_layer(client: &Stacked, server: &Stacked) {
    assert_eq!(client.alpn_protocol().as_deref(), Some(&b"h2"[..]));
    assert_eq!(server.alpn_protocol().as_deref(), Some(&b"h2"[..]));
    assert_eq!(server.server_name().as_deref(), Some("inner.test"));
    // The tunnel keeps its own.
    assert_eq!(
        client.stream().unwrap().server_name().as_deref(),
        Some("localhost")
    );
    assert_eq!(
        client.stream().unwrap().alpn_protocol().as_deref(),
        Some(&b"tunnel"[..])
    );
}

#[test]
fn blocking_tls_in_tls_echoes_16_mib_full_duplex() {
    let layers = Layers::new();
    for transport in TRANSPORTS {
        let (client, server) = tunnels(&layers, transport);
        let server = thread::spawn(move || {
            server.set_blocking();
            server.set_timeout(Some(TIMEOUT));
            server.accept().unwrap();
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let n = (&server).read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                (&server).write_all(&buf[..n]).unwrap();
            }
            server.close().unwrap();
            server
        });
        client.set_blocking();
        client.set_timeout(Some(TIMEOUT));
        client.connect("inner.test").unwrap();
        let client = Arc::new(client);
        let data = random_bytes(LEN, 21);
        // One thread writes while this one reads the echo: full duplex through two layers.
        let writer = {
            let (client, data) = (client.clone(), data.clone());
            thread::spawn(move || (&*client).write_all(&data).unwrap())
        };
        let mut echo = vec![0u8; LEN];
        (&*client).read_exact(&mut echo).unwrap();
        writer.join().unwrap();
        client.close().unwrap();
        assert!(
            echo == data,
            "{transport:?}: echo differs ({} bytes)",
            echo.len()
        );
        let server = server.join().unwrap();
        assert_inner_layer(&client, &server);
    }
}

#[test]
fn nonblocking_tls_in_tls_moves_16_mib_pumped_in_one_thread() {
    let layers = Layers::new();
    for transport in TRANSPORTS {
        let (client, server) = tunnels(&layers, transport);
        client.connect("inner.test").unwrap();
        server.accept().unwrap();
        let data = random_bytes(LEN, 22);
        let (mut sent, mut got) = (0, Vec::with_capacity(LEN));
        let mut buf = vec![0u8; 64 * 1024];
        let deadline = Instant::now() + 6 * TIMEOUT;
        while got.len() < LEN {
            assert!(
                Instant::now() < deadline,
                "{transport:?}: stuck at {}",
                got.len()
            );
            let mut progress = false;
            if sent < LEN {
                match (&client).write(&data[sent..(sent + 100_000).min(LEN)]) {
                    Ok(n) => {
                        sent += n;
                        progress = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("{transport:?}: write: {e}"),
                }
            }
            match (&server).read(&mut buf) {
                Ok(0) => panic!("{transport:?}: early end of stream"),
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{transport:?}: read: {e}"),
            }
            if !progress {
                // Both layers may hold output the other side has not read yet.
                let _ = client.flush();
                thread::sleep(Duration::from_micros(200));
            }
        }
        assert!(got == data, "{transport:?}: bytes differ");
        assert_inner_layer(&client, &server);
        // A clean close of the inner layer: the server reads end of stream.
        client.set_blocking();
        client.close().unwrap();
        let n = eventually(|| match (&server).read(&mut buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            other => Some(other),
        });
        assert_eq!(n.unwrap(), 0, "{transport:?}");
    }
}

#[test]
fn callback_mode_tls_in_tls_moves_16_mib_and_closes_cleanly() {
    let layers = Layers::new();
    for transport in TRANSPORTS {
        let backend = Backend::new().unwrap();
        let (client, server) = tunnels(&layers, transport);
        client.set_backend(&backend);
        server.set_backend(&backend);
        let data = Arc::new(random_bytes(LEN, 23));

        // Server: collect everything; report at the close callback.
        let got = Arc::new(Mutex::new(Vec::with_capacity(LEN)));
        let (tx, rx) = mpsc::channel();
        let g = got.clone();
        let stopper = backend.clone();
        server.set_callbacks(Callbacks {
            read: Some(Arc::new(move |_f: &Stacked, d: &[u8]| {
                g.lock().unwrap().extend_from_slice(d)
            })),
            close: Some(Arc::new(move |f: &Stacked, e: Option<&sslfile::Error>| {
                tx.send((e.map(|e| e.kind()), f.alpn_protocol())).unwrap();
                stopper.stop();
            })),
            ..Default::default()
        });
        server.accept().unwrap();

        // Client: write from the write callback in 64 KiB slices, then close.
        let sent = Arc::new(Mutex::new(0usize));
        let d = data.clone();
        client.set_callbacks(Callbacks {
            write: Some(Arc::new(move |f: &Stacked| {
                let mut sent = sent.lock().unwrap();
                let end = (*sent + 65536).min(LEN);
                match (&*f).write(&d[*sent..end]) {
                    Ok(n) => *sent += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(e) => panic!("write: {e}"),
                }
                if *sent == LEN {
                    f.set_write_callback(None);
                    f.close().unwrap();
                }
            })),
            ..Default::default()
        });
        client.connect("inner.test").unwrap();
        drop(client);
        drop(server);
        let runner = {
            let b = backend.clone();
            thread::spawn(move || b.run().unwrap())
        };
        let (reason, alpn) = rx.recv_timeout(6 * TIMEOUT).expect("server close callback");
        runner.join().unwrap();
        assert_eq!(reason, None, "{transport:?}: a clean close");
        assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
        assert!(*got.lock().unwrap() == *data, "{transport:?}: bytes differ");
    }
}

/// Our client tunnels through our own TLS proxy (the tunnel's far end, relaying plaintext
/// to a TCP connection) to `openssl s_server`, which terminates the inner TLS layer.
#[test]
fn tls_in_tls_through_our_proxy_to_openssl_s_server() {
    let (tunnel_server, tunnel_client) = contexts(&["localhost"], "tunnel");
    let pki = TestPki::new();
    let leaf = pki.leaf(&["inner.test"]);
    let dir = common::tempdir();
    let files = leaf.write_to(dir.path(), "inner");
    let mut opts = SServerOpts::new(&files);
    opts.alpn = Some("h2".into());
    let mut sserver = SServer::spawn(opts);
    let sserver_port = sserver.port();

    // The proxy: accepts one tunnel, relays both ways (full duplex from two threads).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_addr = listener.local_addr().unwrap();
    let proxy = thread::spawn(move || {
        let (socket, _) = listener.accept().unwrap();
        let tunnel =
            Arc::new(SslFile::server(File::try_from(socket).unwrap(), &tunnel_server).unwrap());
        let upstream = Arc::new(File::connect(("127.0.0.1", sserver_port)).unwrap());
        let up = {
            let (tunnel, upstream) = (tunnel.clone(), upstream.clone());
            thread::spawn(move || {
                let _ = io::copy(&mut &*tunnel, &mut &*upstream);
                let _ = sslfile::Stream::shutdown_write(&*upstream);
            })
        };
        let _ = io::copy(&mut &*upstream, &mut &*tunnel);
        up.join().unwrap();
        let _ = tunnel.close();
    });

    let tunnel = SslFile::client(
        File::connect(proxy_addr).unwrap(),
        &tunnel_client,
        "localhost",
    )
    .unwrap();
    tunnel.set_timeout(Some(TIMEOUT));
    let inner_ctx = Context::builder()
        .trust_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .alpn_protocols(["h2"])
        .build()
        .unwrap();
    let tls = SslFile::client(tunnel, &inner_ctx, "inner.test").unwrap();
    tls.set_timeout(Some(TIMEOUT));
    assert_eq!(tls.alpn_protocol().as_deref(), Some(&b"h2"[..]));
    let up = random_bytes(LEN, 24);
    (&tls).write_all(&up).unwrap();
    let seen = sserver.stdout().wait_len(up.len(), 6 * TIMEOUT);
    assert!(seen == up, "s_server saw {} bytes, not ours", seen.len());
    let down = random_bytes(32 * 1024, 25);
    sserver.write_stdin(&down);
    let mut got = vec![0u8; down.len()];
    (&tls).read_exact(&mut got).unwrap();
    assert!(got == down, "bytes from s_server differ");
    tls.close().unwrap();
    proxy.join().unwrap();
}

/// Regression: `flush()` on the inner layer must also push out what the tunnel below still
/// holds (it used to return Ok as soon as the inner layer itself had nothing pending, and
/// the last ~64 KiB stayed in the tunnel until some later read or write).
#[test]
fn flush_pushes_out_what_the_tunnel_below_still_holds() {
    let layers = Layers::new();
    for transport in TRANSPORTS {
        let (client, server) = tunnels(&layers, transport);
        let server = thread::spawn(move || {
            server.set_blocking();
            server.set_timeout(Some(TIMEOUT));
            server.accept().unwrap();
            server
        });
        client.set_blocking();
        client.connect("inner.test").unwrap();
        let server = server.join().unwrap();
        // The server reads nothing yet: nonblocking writes fill the socket and the tunnel.
        client.set_nonblocking();
        let data = random_bytes(8 << 20, 26);
        let mut accepted = 0;
        while let Ok(n) = (&client).write(&data[accepted..]) {
            accepted += n;
        }
        let reader = thread::spawn(move || {
            let mut got = vec![0u8; accepted];
            (&server).read_exact(&mut got).map(|()| got)
        });
        // Nobody writes any more: flush alone must deliver everything.
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match client.flush() {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "{transport:?}: flush never done");
                    thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("{transport:?}: flush: {e}"),
            }
        }
        let got = reader
            .join()
            .unwrap()
            .expect("everything arrives after flush");
        assert!(got[..] == data[..accepted], "{transport:?}");
    }
}
