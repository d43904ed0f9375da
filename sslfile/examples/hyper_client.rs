//! hyper 1.x fetching a page over sslfile's tokio stream, HTTP/2 when the server offers it
//! (ALPN), else HTTP/1.1.
//!
//! ```sh
//! cargo run --release --features tokio --example hyper_client -- CERT_FILE [localhost:8444]
//! ```

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sslfile::tokio::TlsStream;
use sslfile::Context;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let ca_file = args
        .next()
        .ok_or("usage: hyper_client CERT_FILE [HOST:PORT]")?;
    let addr = args.next().unwrap_or_else(|| "localhost:8444".into());
    let (version, body) = fetch(&addr, &ca_file).await?;
    println!("{version}: {body}");
    Ok(())
}

/// `GET /` from `addr`, trusting the certificate in `ca_file`: the HTTP version used
/// ("HTTP/2" or "HTTP/1.1") and the body.
pub async fn fetch(addr: &str, ca_file: &str) -> Result<(String, String)> {
    let ctx = Context::builder()
        .trust_pem_file(ca_file)?
        .alpn_protocols(["h2", "http/1.1"])
        .build()?;
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    let tls = TlsStream::connect(tcp.try_into()?, &ctx, host).await?;
    let h2 = tls.ssl_file().alpn_protocol().as_deref() == Some(b"h2".as_slice());
    let io = TokioIo::new(tls);
    let request = Request::get(format!("https://{addr}/")).body(Empty::<Bytes>::new())?;
    // The connection runs on a task of its own; once the sender is dropped it ends
    // cleanly (HTTP/2 GOAWAY, then our close_notify).
    let (body, connection) = if h2 {
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
        let connection = tokio::spawn(connection);
        let response = sender.send_request(request).await?;
        (response.into_body().collect().await?.to_bytes(), connection)
    } else {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
        let connection = tokio::spawn(connection);
        let response = sender.send_request(request).await?;
        (response.into_body().collect().await?.to_bytes(), connection)
    };
    connection.await??;
    let version = if h2 { "HTTP/2" } else { "HTTP/1.1" };
    Ok((version.into(), String::from_utf8_lossy(&body).into_owned()))
}
