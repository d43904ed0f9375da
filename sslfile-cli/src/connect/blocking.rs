//! `connect --mode blocking`: the main thread reads the peer into stdout while a second
//! thread writes stdin to the peer, both on one blocking [`SslFile`] (full duplex: neither
//! waits for the other).

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use sslfile::{File, SslFile};

use super::Session;
use crate::failure::{Context, Failure};

/// Runs the connection to its end.
pub fn run(session: &Session) -> Result<(), Failure> {
    let socket = File::try_from(session.tcp()?)?;
    let tls = SslFile::client(socket, &session.ctx, &session.server_name)
        .map_err(|e| session.handshake_failed(e))?;
    let tls = Arc::new(tls);
    eprintln!("{}", session.summary(&tls));

    let (writer, close_at_eof) = (tls.clone(), !session.ign_eof);
    thread::Builder::new()
        .name("stdin".into())
        .spawn(move || send_stdin(&writer, close_at_eof))
        .context(|| "cannot start the stdin thread")?;

    let mut stdout = io::stdout().lock();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match (&*tls).read(&mut buf) {
            Ok(0) => break, // the peer's close_notify
            Ok(n) => stdout
                .write_all(&buf[..n])
                .and_then(|()| stdout.flush())
                .context(|| "cannot write to stdout")?,
            Err(e) => return Err(session.ended(&e, false)),
        }
    }
    log::debug!("the peer closed the connection (close_notify)");
    tls.set_timeout(Some(Duration::from_secs(5)));
    let _ = tls.close();
    Ok(())
}

/// Copies stdin to the peer; at its end, shuts the write side (close_notify) if asked.
fn send_stdin(tls: &SslFile, close_at_eof: bool) {
    let mut stdin = io::stdin().lock();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::warn!("stdin: {e}");
                break;
            }
        };
        if let Err(e) = (&*tls).write_all(&buf[..n]) {
            // The reading side sees why the connection ended and reports it.
            log::debug!("cannot send: {e}");
            return;
        }
    }
    if !close_at_eof {
        return log::debug!("stdin ended: waiting for the peer to close (--ign-eof)");
    }
    log::debug!("stdin ended: sending close_notify");
    if let Err(e) = tls.shutdown(Shutdown::Write) {
        log::debug!("shutdown: {e}");
    }
}
