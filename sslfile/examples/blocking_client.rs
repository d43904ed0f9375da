//! Blocking mode: fetches a page from `sslfile serve`. Every call returns when it is done.
//!
//! ```sh
//! cargo run --release -- serve      # prints the certificate file: /tmp/sslfile-XXXXXX.pem
//! cargo run --release --example blocking_client -- /tmp/sslfile-XXXXXX.pem [localhost:8443]
//! ```

use std::io::{Read, Write};

use sslfile::{Context, File, SslFile};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let ca_file = args
        .next()
        .ok_or("usage: blocking_client CERT_FILE [HOST:PORT]")?;
    let addr = args.next().unwrap_or_else(|| "localhost:8443".into());
    print!("{}", get(&addr, &ca_file)?);
    Ok(())
}

/// `GET /` from the server at `addr`, trusting the certificate in `ca_file`.
pub fn get(addr: &str, ca_file: &str) -> Result<String> {
    let ctx = Context::builder()
        .trust_pem_file(ca_file)?
        .alpn_protocols(["http/1.1"])
        .build()?;
    let mut tls = SslFile::client(File::connect(addr)?, &ctx, "localhost")?; // handshake done
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut response = Vec::new();
    tls.read_to_end(&mut response)?; // Ok at the server's close_notify; BrokenPipe if cut short
    tls.close()?;
    Ok(String::from_utf8(response)?)
}
