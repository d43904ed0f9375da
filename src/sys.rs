//! The few operating-system calls the crate makes itself, on top of `rustix` (safe
//! wrappers; no `unsafe` here): waiting for readiness on a descriptor.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Instant;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;

use crate::stream::Interest;

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
}
