//! Two-thread full duplex (SPEC §6): one connection, N MiB one way, then N MiB each way at
//! once (a reading and a writing thread on each file), in the same process. Prints both
//! throughputs and their ratio, over two links:
//!
//! * plain loopback TCP: CPU-bound. One-way transfer already keeps two cores busy (one
//!   encrypts, one decrypts), so on a 2-core machine the ratio cannot exceed about 1.0;
//!   with more cores a true full duplex goes towards 2.0.
//! * a paced link (a relay that forwards each direction at a fixed rate, like a network
//!   link): not CPU-bound, so a true full duplex gives about 2.0, and an implementation
//!   that serialises reads and writes (one lock around the stream) about 1.0.
//!
//! Run: `cargo bench --bench full_duplex` (sizes: `SSLFILE_DUPLEX_MIB`, default 256, and
//! `SSLFILE_PACED_MIB`, default 64, at `SSLFILE_PACED_MBPS`, default 100 MB/s per direction).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use sslfile::{Context, File, SslFile};

fn contexts() -> (Context, Context) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.key_pair.serialize_pem());
    let server = Context::builder()
        .certificate_chain_pem(cert_pem.as_bytes(), key_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let client = Context::builder()
        .trust_pem(cert_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    (server, client)
}

/// A relay on loopback that forwards each direction in its own thread at `mbps` MB/s.
fn paced_relay(to: std::net::SocketAddr, mbps: f64) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let (near, _) = listener.accept().unwrap();
        let far = std::net::TcpStream::connect(to).unwrap();
        let pump = move |mut from: std::net::TcpStream, mut to: std::net::TcpStream| {
            thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                let start = Instant::now();
                let mut sent = 0f64;
                loop {
                    let n = match from.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    sent += n as f64;
                    let due = Duration::from_secs_f64(sent / (mbps * 1e6));
                    if let Some(wait) = due.checked_sub(start.elapsed()) {
                        thread::sleep(wait);
                    }
                }
                let _ = to.shutdown(std::net::Shutdown::Write);
            })
        };
        pump(near.try_clone().unwrap(), far.try_clone().unwrap());
        pump(far, near);
    });
    addr
}

fn connect(
    server_ctx: &Context,
    client_ctx: &Context,
    paced: Option<f64>,
) -> (Arc<SslFile>, Arc<SslFile>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let addr = match paced {
        Some(mbps) => paced_relay(addr, mbps),
        None => addr,
    };
    let ctx = server_ctx.clone();
    let server = thread::spawn(move || {
        let (socket, _) = listener.accept().unwrap();
        SslFile::server(File::try_from(socket).unwrap(), &ctx).unwrap()
    });
    let client = SslFile::client(File::connect(addr).unwrap(), client_ctx, "localhost").unwrap();
    (Arc::new(client), Arc::new(server.join().unwrap()))
}

fn send(file: Arc<SslFile>, total: usize) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let chunk = vec![0x5au8; 256 * 1024];
        let mut left = total;
        while left > 0 {
            let n = left.min(chunk.len());
            (&*file).write_all(&chunk[..n]).unwrap();
            left -= n;
        }
    })
}

fn receive(file: Arc<SslFile>, total: usize) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = vec![0u8; 256 * 1024];
        let mut left = total;
        while left > 0 {
            let n = (&*file).read(&mut buf).unwrap();
            assert!(n > 0, "early end of stream");
            left -= n;
        }
    })
}

fn rate(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / time.as_secs_f64() / 1e6
}

/// One-way, then full duplex on a fresh connection; prints both rates and their ratio.
fn measure(
    what: &str,
    total: usize,
    server_ctx: &Context,
    client_ctx: &Context,
    paced: Option<f64>,
) {
    let mib = total >> 20;
    let (a, b) = connect(server_ctx, client_ctx, paced);
    let start = Instant::now();
    let (w, r) = (send(a.clone(), total), receive(b.clone(), total));
    w.join().unwrap();
    r.join().unwrap();
    let one_way = start.elapsed();

    let (a, b) = connect(server_ctx, client_ctx, paced);
    let start = Instant::now();
    let threads = [
        send(a.clone(), total),
        send(b.clone(), total),
        receive(a.clone(), total),
        receive(b.clone(), total),
    ];
    for t in threads {
        t.join().unwrap();
    }
    let both = start.elapsed();

    let (one, duplex) = (rate(total, one_way), rate(2 * total, both));
    println!("{what}:");
    println!("  one way:      {mib} MiB in {one_way:.2?} = {one:.0} MB/s");
    println!("  full duplex:  {mib} MiB each way in {both:.2?} = {duplex:.0} MB/s combined");
    println!(
        "  ratio (combined full duplex / one way): {:.2}",
        duplex / one
    );
}

fn env_or(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let (server_ctx, client_ctx) = contexts();
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let mib = env_or("SSLFILE_DUPLEX_MIB", 256.0) as usize;
    measure(
        &format!("loopback TCP ({cores} cores; CPU-bound)"),
        mib << 20,
        &server_ctx,
        &client_ctx,
        None,
    );
    let (paced_mib, mbps) = (
        env_or("SSLFILE_PACED_MIB", 64.0) as usize,
        env_or("SSLFILE_PACED_MBPS", 100.0),
    );
    measure(
        &format!("paced link ({mbps} MB/s per direction)"),
        paced_mib << 20,
        &server_ctx,
        &client_ctx,
        Some(mbps),
    );
}
