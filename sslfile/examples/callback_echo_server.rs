//! Callback mode: an echo server. A backend (event loop) accepts the clients, runs their
//! handshakes and calls back with what they send; one thread serves them all.
//!
//! ```sh
//! cargo run --release --example callback_echo_server  # prints the certificate file
//! cargo run --release -- connect localhost:8444 --cafile /tmp/sslfile-echo-example.pem
//! ```

use std::io::Write;
use std::sync::Arc;

use sslfile::{Backend, Context, Port, SslFile};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    let cert_file = std::env::temp_dir().join("sslfile-echo-example.pem");
    std::fs::write(&cert_file, cert.cert.pem())?;
    let ctx = Context::builder()
        .certificate_chain_pem(
            cert.cert.pem().as_bytes(),
            cert.key_pair.serialize_pem().as_bytes(),
        )?
        .build()?;
    let backend = Backend::new()?;
    let port = Port::bind("127.0.0.1:8444", &ctx)?;
    listen(&port, &backend)?;
    println!(
        "echo server on {}; certificate: {}",
        port.local_addr()?,
        cert_file.display()
    );
    backend.run()?; // until stopped: this thread serves every client
    Ok(())
}

/// Echoes what every client of `port` sends, on `backend`.
pub fn listen(port: &Port, backend: &Backend) -> std::io::Result<()> {
    port.listen(backend, |conn: SslFile| {
        // On the backend's thread, for each client whose handshake completed.
        conn.set_read_callback(Some(Arc::new(|conn: &SslFile, data: &[u8]| {
            // Nonblocking: up to 64 KiB is taken at once; a server that sends more keeps
            // the rest and sends it from a write callback (see `sslfile serve`).
            let _ = (&*conn).write(data);
        })));
        conn.set_close_callback(Some(Arc::new(|conn: &SslFile, why| {
            let peer = conn.peer_addr().map_or("?".to_string(), |a| a.to_string());
            let why = why.map_or("close_notify".to_string(), |e| e.to_string());
            println!("{peer} left: {why}");
        })));
        // Dropping `conn` is fine: the backend keeps it while it has callbacks.
    })
}
