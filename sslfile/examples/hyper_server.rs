//! hyper 1.x serving HTTP/1.1 and HTTP/2 (chosen by ALPN) over sslfile's tokio stream, on a
//! certificate made at start.
//!
//! ```sh
//! cargo run --release --features tokio --example hyper_server -- --listen 127.0.0.1:8444
//! curl --http2 --cacert /tmp/sslfile-hyper-XXXXXX.pem https://localhost:8444/
//! ```

use std::convert::Infallible;
use std::io::Write;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use sslfile::tokio::TlsStream;
use sslfile::Context;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = match (args.next().as_deref(), args.next()) {
        (Some("--listen"), Some(addr)) => addr,
        (None, _) => "127.0.0.1:8444".into(),
        _ => return Err("usage: hyper_server [--listen HOST:PORT]".into()),
    };
    let (ctx, cert_pem) = self_signed_context()?;
    let mut cert_file = tempfile::Builder::new()
        .prefix("sslfile-hyper-")
        .suffix(".pem")
        .tempfile()?;
    cert_file.write_all(cert_pem.as_bytes())?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let port = listener.local_addr()?.port();
    let path = cert_file.path().display();
    println!(
        "hyper over sslfile on {}: HTTP/2 and HTTP/1.1 (ALPN)",
        listener.local_addr()?
    );
    println!("try:");
    println!("  curl --http2 --cacert {path} https://localhost:{port}/");
    println!("  curl --http1.1 --cacert {path} https://localhost:{port}/");
    println!("Ctrl-C stops.");
    serve(listener, ctx).await
}

/// A context for localhost with a certificate made now, offering h2 and http/1.1; and the
/// certificate, for clients to trust.
pub fn self_signed_context() -> Result<(Context, String)> {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let made = rcgen::generate_simple_self_signed(names)?;
    let cert_pem = made.cert.pem();
    let ctx = Context::builder()
        .certificate_chain_pem(
            cert_pem.as_bytes(),
            made.key_pair.serialize_pem().as_bytes(),
        )?
        .alpn_protocols(["h2", "http/1.1"])
        .build()?;
    Ok((ctx, cert_pem))
}

/// Accepts connections for ever, each on a task of its own.
pub async fn serve(listener: tokio::net::TcpListener, ctx: Context) -> Result<()> {
    loop {
        let (tcp, peer) = listener.accept().await?;
        let ctx = ctx.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_connection(tcp, &ctx).await {
                eprintln!("{peer}: {e}");
            }
        });
    }
}

async fn serve_connection(tcp: tokio::net::TcpStream, ctx: &Context) -> Result<()> {
    let tls = TlsStream::accept(tcp.try_into()?, ctx).await?;
    let h2 = tls.ssl_file().alpn_protocol().as_deref() == Some(b"h2".as_slice());
    let io = TokioIo::new(tls);
    let service = hyper::service::service_fn(answer);
    if h2 {
        hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(io, service)
            .await?;
    } else {
        hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service)
            .await?;
    }
    Ok(())
}

async fn answer(
    request: Request<Incoming>,
) -> std::result::Result<Response<Full<Bytes>>, Infallible> {
    let body = format!(
        "hello from hyper over sslfile: {} {} over {:?}\n",
        request.method(),
        request.uri().path(),
        request.version()
    );
    Ok(Response::new(Full::new(Bytes::from(body))))
}
