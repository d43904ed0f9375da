//! The blocking modes of `serve`: `--mode blocking` serves one connection at a time on the
//! main thread ([`Port::accept`]); `--mode threads` gives each connection a thread. Both
//! talk through blocking [`SslFile`]s whose timeout closes idle connections.

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use sslfile::{File, Port, SslFile};

use super::Server;
use crate::failure::Failure;
use sslfile_cli::service::{ConnInfo, Next};

/// `--mode blocking`: accept (TCP and handshake), serve until the connection ends, repeat.
pub fn serve_one_at_a_time(port: Arc<Port>, server: &Server) -> Result<(), Failure> {
    port.set_timeout(Some(server.timeout));
    let protocol = server.protocol;
    port.set_plaintext_fallback(Some(Arc::new(move |plain: File, request: Vec<u8>| {
        super::plaintext::answer(protocol, plain, &request)
    })));
    loop {
        match port.accept() {
            Ok(file) => serve_connection(Arc::new(file), server, "blocking"),
            Err(e) => {
                log::info!("a client's handshake failed: {e}");
                pause_if_out_of_descriptors(&e.into());
            }
        }
    }
}

/// `--mode threads`: a thread per connection, which runs the handshake and the exchange.
pub fn serve_with_threads(listener: TcpListener, server: Arc<Server>) -> Result<(), Failure> {
    for socket in listener.incoming() {
        let socket = match socket {
            Ok(socket) => socket,
            Err(e) => {
                log::warn!("accept: {e}");
                pause_if_out_of_descriptors(&e);
                continue;
            }
        };
        let server = server.clone();
        let spawned = thread::Builder::new()
            .name("connection".into())
            .spawn(move || {
                let peer = socket
                    .peer_addr()
                    .map_or_else(|_| "?".into(), |a| a.to_string());
                let file = match File::try_from(socket) {
                    Ok(file) => Arc::new(SslFile::new(file, &server.ctx.get())),
                    Err(e) => return log::warn!("{peer}: {e}"),
                };
                file.set_blocking();
                file.set_timeout(Some(server.timeout));
                file.set_plaintext_fallback(true);
                match file.accept() {
                    Ok(()) => serve_connection(file, &server, "threads"),
                    Err(_) if file.is_plaintext_peer() => {
                        if let Ok((plain, request)) = file.take_stream() {
                            super::plaintext::answer(server.protocol, plain, &request);
                        }
                    }
                    Err(e) => log::info!("{peer}: handshake failed: {e}"),
                }
            });
        if let Err(e) = spawned {
            log::warn!("cannot start a thread for a connection: {e}");
        }
    }
    Ok(())
}

/// Serves a connection whose handshake completed, to its end, and closes it.
fn serve_connection(file: Arc<SslFile>, server: &Server, mode: &'static str) {
    let peer = file
        .peer_addr()
        .map_or_else(|_| "?".into(), |a| a.to_string());
    let Some(id) = server.connections.add(file.clone()) else {
        let _ = file.close(); // stopping
        return;
    };
    let info = ConnInfo::of(&file, mode);
    log::info!("{peer}: {info}");
    let mut service = server.protocol.service(info);
    let mut buf = vec![0u8; 16 * 1024];
    let mut out = Vec::new();
    let end = loop {
        let n = match (&*file).read(&mut buf) {
            Ok(0) => break "closed by the client (close_notify)".to_string(),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::TimedOut => break "idle: closed".into(),
            Err(e) => break format!("ended: {e}"),
        };
        let next = service.on_data(&buf[..n], &mut out);
        if let Err(e) = (&*file).write_all(&out) {
            break format!("cannot send: {e}");
        }
        out.clear();
        if next == Next::Close {
            break "done: closed".into();
        }
    };
    if let Err(e) = file.close() {
        log::debug!("{peer}: close: {e}");
    }
    server.connections.remove(id);
    log::info!("{peer}: {end}");
}

/// Out of descriptors (EMFILE, ENFILE): the listener stays ready, so wait a little instead
/// of spinning until a connection ends.
fn pause_if_out_of_descriptors(e: &io::Error) {
    use rustix::io::Errno;
    let code = e.raw_os_error();
    if code == Some(Errno::MFILE.raw_os_error()) || code == Some(Errno::NFILE.raw_os_error()) {
        thread::sleep(Duration::from_millis(50));
    }
}
