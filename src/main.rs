//! `sslfile`: until the full CLI lands, `serve` runs a real demonstration over loopback — a
//! TLS server on a self-signed certificate made at start, a blocking server and a
//! nonblocking client exchanging data — and then keeps serving for `curl`.

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use sslfile::{Context, File, SslFile};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None | Some("serve") => serve(args.get(1).map(String::as_str)),
        Some("--help" | "-h" | "help") => {
            println!("usage: sslfile serve [ADDR]   (default 127.0.0.1:8443)");
            Ok(())
        }
        Some(other) => Err(format!("unknown command {other:?}; try `sslfile --help`").into()),
    };
    if let Err(e) = result {
        eprintln!("sslfile: {e}");
        std::process::exit(1);
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn serve(addr: Option<&str>) -> Result<(), BoxError> {
    let names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    let cert = rcgen::generate_simple_self_signed(names)?;
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.key_pair.serialize_pem());
    let cert_path = std::env::temp_dir().join(format!("sslfile-{}.pem", std::process::id()));
    std::fs::write(&cert_path, &cert_pem)?;

    let server_ctx = Context::builder()
        .certificate_chain_pem(cert_pem.as_bytes(), key_pem.as_bytes())?
        .alpn_protocols(["http/1.1"])
        .build()?;
    let client_ctx = Context::builder()
        .trust_pem(cert_pem.as_bytes())?
        .alpn_protocols(["http/1.1"])
        .build()?;

    let listener = TcpListener::bind(addr.unwrap_or("127.0.0.1:8443"))?;
    let local = listener.local_addr()?;
    demo(&listener, &server_ctx, &client_ctx)?;

    println!("serving HTTPS on https://{local}/ with a self-signed certificate");
    println!(
        "try:  curl --cacert {} https://localhost:{}/",
        cert_path.display(),
        local.port()
    );
    for socket in listener.incoming() {
        let ctx = server_ctx.clone();
        std::thread::spawn(move || {
            if let Err(e) = socket
                .map_err(BoxError::from)
                .and_then(|s| answer_http(s, &ctx))
            {
                eprintln!("connection: {e}");
            }
        });
    }
    Ok(())
}

/// A blocking server and a nonblocking client (in its own thread) on the same listener.
fn demo(
    listener: &TcpListener,
    server_ctx: &Context,
    client_ctx: &Context,
) -> Result<(), BoxError> {
    let client_socket = File::connect(listener.local_addr()?)?;
    let ctx = client_ctx.clone();
    let client = std::thread::spawn(move || nonblocking_client(client_socket, &ctx));
    let (accepted, _) = listener.accept()?;
    let tls = SslFile::server(File::try_from(accepted)?, server_ctx)?;
    tls.set_timeout(Some(Duration::from_secs(10)));
    let mut request = [0u8; 5];
    (&tls).read_exact(&mut request)?;
    (&tls).write_all(b"pong from the blocking server")?;
    tls.close()?;
    println!(
        "blocking server:    {} {:?}, ALPN {}, received {:?}",
        describe_version(&tls),
        tls.cipher_suite().ok_or("no suite")?,
        alpn(&tls),
        String::from_utf8_lossy(&request)
    );
    client.join().map_err(|_| "client thread panicked")?
}

fn nonblocking_client(socket: File, ctx: &Context) -> Result<(), BoxError> {
    let tls = SslFile::new(socket, ctx);
    tls.connect("localhost")?; // nonblocking: the handshake proceeds with reads and writes
    let mut sent = false;
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    let mut rounds = 0;
    loop {
        rounds += 1;
        if !sent {
            match (&tls).write(b"ping!") {
                Ok(5) => sent = true,
                Ok(_) => return Err("short write".into()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
        match (&tls).read(&mut buf) {
            Ok(0) => break, // the server's close_notify
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e.into()),
        }
    }
    println!(
        "nonblocking client: {} {:?}, ALPN {}, received {:?} ({rounds} nonblocking rounds)",
        describe_version(&tls),
        tls.cipher_suite().ok_or("no suite")?,
        alpn(&tls),
        String::from_utf8_lossy(&reply)
    );
    tls.close()?;
    Ok(())
}

/// One HTTP/1.1 exchange per connection, naming what was negotiated.
fn answer_http(socket: std::net::TcpStream, ctx: &Context) -> Result<(), BoxError> {
    let tls = SslFile::server(File::try_from(socket)?, ctx)?;
    tls.set_timeout(Some(Duration::from_secs(30)));
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = (&tls).read(&mut buf)?;
        if n == 0 || request.len() > 64 * 1024 {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
    }
    let body = format!(
        "hello from sslfile\nversion: {}\nsuite: {:?}\nALPN: {}\nSNI: {}\n",
        describe_version(&tls),
        tls.cipher_suite().ok_or("no suite")?,
        alpn(&tls),
        tls.server_name().unwrap_or_else(|| "(none)".into())
    );
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    (&tls).write_all(response.as_bytes())?;
    tls.close()?;
    Ok(())
}

fn describe_version(tls: &SslFile) -> String {
    tls.protocol_version()
        .map_or_else(|| "?".into(), |v| v.to_string())
}

fn alpn(tls: &SslFile) -> String {
    tls.alpn_protocol().map_or_else(
        || "(none)".into(),
        |p| String::from_utf8_lossy(&p).into_owned(),
    )
}
