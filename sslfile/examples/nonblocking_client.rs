//! Nonblocking mode: the same request as `blocking_client`, but no call ever waits: each
//! returns `WouldBlock` instead, and the program decides when to wait (here: on the socket;
//! a real program would do other work, or use callback mode).
//!
//! ```sh
//! cargo run --release -- serve      # prints the certificate file: /tmp/sslfile-XXXXXX.pem
//! cargo run --release --example nonblocking_client -- /tmp/sslfile-XXXXXX.pem [localhost:8443]
//! ```

use std::io::{self, Read, Write};

use sslfile::{Context, File, Interest, SslFile, Stream};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let ca_file = args
        .next()
        .ok_or("usage: nonblocking_client CERT_FILE [HOST:PORT]")?;
    let addr = args.next().unwrap_or_else(|| "localhost:8443".into());
    print!("{}", get(&addr, &ca_file)?);
    Ok(())
}

/// `GET /` from the server at `addr`, trusting the certificate in `ca_file`.
pub fn get(addr: &str, ca_file: &str) -> Result<String> {
    let ctx = Context::builder().trust_pem_file(ca_file)?.build()?;
    let tls = SslFile::new(File::connect(addr)?, &ctx); // nonblocking from the start
    tls.connect("localhost")?; // the handshake advances with each read and write
    let mut request = &b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"[..];
    let (mut response, mut buf) = (Vec::new(), [0u8; 4096]);
    loop {
        if !request.is_empty() {
            match (&tls).write(request) {
                Ok(n) => request = &request[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
        match (&tls).read(&mut buf) {
            Ok(0) => break, // the server's close_notify
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // Nothing to do now: wait until the socket is ready.
                let want = match tls.flush() {
                    Ok(()) => Interest::READ,
                    Err(_) => Interest::BOTH, // WouldBlock: output is left to send
                };
                tls.stream().unwrap().wait(want, None)?; // still ours
            }
            Err(e) => return Err(e.into()),
        }
    }
    tls.close()?;
    Ok(String::from_utf8(response)?)
}
