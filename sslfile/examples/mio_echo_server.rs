//! Any event loop: an echo server whose connections are nonblocking `SslFile`s driven by a
//! mio `Poll` (the same goes for calloop or a hand-written epoll loop). What to watch comes
//! from the file: its descriptor ([`AsRawFd`]) and [`SslFile::pending`]'s interest.
//!
//! ```sh
//! cargo run --release --example mio_echo_server -- 127.0.0.1:8445
//! ```

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Poll, Token};
use sslfile::{Context, File, SslFile};

const LISTENER: Token = Token(0);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8445".into());
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    let ctx = Context::builder()
        .certificate_chain_pem(
            made.cert.pem().as_bytes(),
            made.key_pair.serialize_pem().as_bytes(),
        )?
        .build()?;
    let listener = std::net::TcpListener::bind(&addr)?;
    println!(
        "mio echo server on {} (a certificate for localhost made now)",
        listener.local_addr()?
    );
    serve(listener, &ctx, &AtomicBool::new(false))?;
    Ok(())
}

/// One client: the connection and what it sent that is not echoed yet.
struct Conn {
    tls: SslFile,
    unsent: Vec<u8>,
}

/// Serves until `stop` is set (checked every 100 ms).
pub fn serve(listener: std::net::TcpListener, ctx: &Context, stop: &AtomicBool) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut listener = mio::net::TcpListener::from_std(listener);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, mio::Interest::READABLE)?;
    let mut conns: HashMap<Token, Conn> = HashMap::new();
    let mut next = 1;
    let mut events = Events::with_capacity(256);
    while !stop.load(Ordering::Relaxed) {
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        for event in events.iter() {
            let token = event.token();
            if token == LISTENER {
                while let Ok((socket, _)) = listener.accept() {
                    let socket = std::net::TcpStream::from(std::os::fd::OwnedFd::from(socket));
                    let tls = SslFile::new(File::try_from(socket)?, ctx);
                    tls.accept()?; // nonblocking: the handshake goes on as we drive it
                    let token = Token(next);
                    next += 1;
                    let fd = tls.as_raw_fd();
                    poll.registry()
                        .register(&mut SourceFd(&fd), token, watch_for(&tls, &[]))?;
                    conns.insert(
                        token,
                        Conn {
                            tls,
                            unsent: Vec::new(),
                        },
                    );
                }
                continue;
            }
            let Some(conn) = conns.get_mut(&token) else {
                continue;
            };
            if drive(conn) {
                let fd = conn.tls.as_raw_fd();
                let interest = watch_for(&conn.tls, &conn.unsent);
                poll.registry()
                    .reregister(&mut SourceFd(&fd), token, interest)?;
            } else if let Some(conn) = conns.remove(&token) {
                let fd = conn.tls.as_raw_fd();
                let _ = poll.registry().deregister(&mut SourceFd(&fd));
                let _ = conn.tls.close(); // close_notify; finishes on the default backend
            }
        }
    }
    Ok(())
}

/// Reads and echoes until the file says `WouldBlock` (mio reports edges: everything
/// ready must be taken now). False once the connection is over.
fn drive(conn: &mut Conn) -> bool {
    let mut buf = [0u8; 16 * 1024];
    loop {
        while !conn.unsent.is_empty() {
            match (&conn.tls).write(&conn.unsent) {
                Ok(n) => drop(conn.unsent.drain(..n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
        match (&conn.tls).read(&mut buf) {
            Ok(0) => return false, // the client's close_notify
            Ok(n) => conn.unsent.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

/// What mio should report for this connection: what the file waits for, and writability
/// while echo bytes wait.
fn watch_for(tls: &SslFile, unsent: &[u8]) -> mio::Interest {
    let wanted = tls.pending().interest;
    let write = wanted.is_writable() || !unsent.is_empty();
    match (wanted.is_readable() || !write, write) {
        (true, true) => mio::Interest::READABLE | mio::Interest::WRITABLE,
        (false, true) => mio::Interest::WRITABLE,
        _ => mio::Interest::READABLE,
    }
}
