//! The few operating-system calls the crate makes itself, on top of `rustix`: waiting for
//! readiness on a descriptor, and asking how much of what we sent the peer has not
//! acknowledged yet (the one `unsafe` here: an `ioctl` that rustix has no wrapper for).

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Instant;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;

use crate::interest::Interest;

/// Blocks until `fd` is ready for `interest`, has hung up or failed, or `deadline` passes
/// (`Err(TimedOut)`). Interrupted waits are resumed.
pub(crate) fn wait_fd(
    fd: BorrowedFd<'_>,
    interest: Interest,
    deadline: Option<Instant>,
) -> io::Result<()> {
    let mut flags = PollFlags::empty();
    if interest.is_readable() {
        flags |= PollFlags::IN;
    }
    if interest.is_writable() {
        flags |= PollFlags::OUT;
    }
    loop {
        let timeout = match deadline {
            None => None,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                // Round up to the next millisecond so that we never wake just too early.
                let left = left + std::time::Duration::from_micros(999);
                Some(Timespec::try_from(left).unwrap_or(Timespec {
                    tv_sec: i64::MAX,
                    tv_nsec: 0,
                }))
            }
        };
        let mut fds = [PollFd::from_borrowed_fd(fd, flags)];
        match poll(&mut fds, timeout.as_ref()) {
            Ok(0) => continue, // the deadline check above ends the loop
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// How many bytes written to the socket `fd` the peer has not acknowledged yet (TCP: sent
/// but unacknowledged plus not yet sent; `SIOCOUTQ`). Zero means everything we wrote is in
/// the peer's hands: a reset from now on cannot take it back.
#[cfg(target_os = "linux")]
pub(crate) fn unacknowledged_output(fd: BorrowedFd<'_>) -> io::Result<usize> {
    /// `SIOCOUTQ` (the same number as `TIOCOUTQ`), from `linux/sockios.h`.
    const SIOCOUTQ: rustix::ioctl::Opcode = 0x5411;
    // SAFETY: SIOCOUTQ is a getter: the kernel writes one `int` into the output, which the
    // Getter provides with the right size and alignment; the descriptor is borrowed, so open.
    #[allow(unsafe_code)]
    let queued = unsafe {
        let getter = rustix::ioctl::Getter::<SIOCOUTQ, std::ffi::c_int>::new();
        rustix::ioctl::ioctl(fd, getter)?
    };
    Ok(usize::try_from(queued).unwrap_or(0))
}

/// Elsewhere the question has no answer.
#[cfg(not(target_os = "linux"))]
pub(crate) fn unacknowledged_output(_fd: BorrowedFd<'_>) -> io::Result<usize> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::time::Duration;

    #[test]
    fn waits_until_readable_or_deadline() {
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let start = Instant::now();
        let deadline = Some(start + Duration::from_millis(50));
        let err = wait_fd(a.as_fd(), Interest::READ, deadline).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(50));
        b.write_all(b"x").unwrap();
        wait_fd(a.as_fd(), Interest::READ, None).unwrap();
        wait_fd(a.as_fd(), Interest::WRITE, None).unwrap();
    }

    #[test]
    fn unacknowledged_output_drops_to_zero_once_the_peer_has_the_bytes() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, _) = listener.accept().unwrap();
        client.write_all(&[7u8; 1000]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while unacknowledged_output(client.as_fd()).unwrap() != 0 {
            assert!(Instant::now() < deadline, "loopback acknowledges at once");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
