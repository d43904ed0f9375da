//! `connect --mode nonblocking`: one thread, a nonblocking [`SslFile`], and poll(2) on the
//! socket and stdin.
//!
//! Each round tries everything that might progress: read the peer (which also drives the
//! handshake), send what stdin gave, flush. Only when a round made no progress does it
//! wait: for the socket to be readable, writable too if output is pending (`flush` said
//! `WouldBlock`), and for stdin if there is room for more input. Stdin is read once per
//! readiness, so its descriptor stays blocking (it is shared with the shell).

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags};
use sslfile::{File, SslFile};

use super::Session;
use crate::failure::{Context, Failure};

/// Runs the connection to its end.
pub fn run(session: &Session) -> Result<(), Failure> {
    let tcp = session.tcp()?;
    // The same socket, for poll(2): readiness belongs to the socket, not the descriptor.
    let socket_fd = tcp.try_clone().context(|| "cannot duplicate the socket")?;
    let tls = SslFile::new(File::try_from(tcp)?, &session.ctx); // starts nonblocking
    tls.connect(&session.server_name)
        .map_err(|e| session.handshake_failed(e))?;

    let stdin = io::stdin();
    let mut stdout = io::stdout().lock();
    let mut buf = vec![0u8; 64 * 1024];
    let mut to_send: Vec<u8> = Vec::new();
    let mut stdin_open = true;
    let mut write_shut = false;
    let mut announced = false;
    loop {
        let mut progress = false;
        match (&tls).read(&mut buf) {
            Ok(0) => break, // the peer's close_notify
            Ok(n) => {
                stdout
                    .write_all(&buf[..n])
                    .and_then(|()| stdout.flush())
                    .context(|| "cannot write to stdout")?;
                progress = true;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(session.ended(&e, !announced)),
        }
        if !announced && !tls.is_handshaking() {
            eprintln!("{}", session.summary(&tls));
            announced = true;
        }
        if announced && !to_send.is_empty() {
            match (&tls).write(&to_send) {
                Ok(n) => {
                    to_send.drain(..n);
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(session.ended(&e, false)),
            }
        }
        if announced && !stdin_open && to_send.is_empty() && !write_shut && !session.ign_eof {
            log::debug!("stdin ended: sending close_notify");
            tls.shutdown(Shutdown::Write)
                .map_err(|e| session.ended(&e.into(), false))?;
            write_shut = true;
        }
        let output_pending = match tls.flush() {
            Ok(()) => false,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
            Err(e) => return Err(session.ended(&e.into(), !announced)),
        };
        if progress {
            continue;
        }

        // Nothing more to do now: wait.
        let socket_flags = if output_pending {
            PollFlags::IN | PollFlags::OUT
        } else {
            PollFlags::IN
        };
        let want_stdin = stdin_open && to_send.is_empty();
        let mut fds = vec![PollFd::new(&socket_fd, socket_flags)];
        if want_stdin {
            fds.push(PollFd::new(&stdin, PollFlags::IN));
        }
        match poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(Failure::new(format!("poll: {e}"))),
        }
        let stdin_ready = want_stdin && !fds[1].revents().is_empty();
        drop(fds);
        if stdin_ready {
            match rustix::io::read(stdin.as_fd(), &mut buf[..]) {
                Ok(0) => stdin_open = false,
                Ok(n) => to_send.extend_from_slice(&buf[..n]),
                Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
                Err(e) => {
                    log::warn!("stdin: {e}");
                    stdin_open = false;
                }
            }
        }
    }
    log::debug!("the peer closed the connection (close_notify)");
    if !announced {
        eprintln!("{}", session.summary(&tls));
    }
    tls.set_blocking();
    tls.set_timeout(Some(Duration::from_secs(5)));
    let _ = tls.close();
    Ok(())
}
