//! [`File`]: a plain stream socket (TCP or Unix, including socket pairs) with the mode
//! interface of Pike's `Stdio.File`, and the [`Stream`] a TLS connection runs over.
//!
//! The descriptor is always nonblocking at the OS level; blocking mode is "try, then wait
//! for readiness", which gives timeouts and lets one thread read while another writes.
//! [`close`](File::close) shuts the socket down at once (waking any thread blocked on it)
//! and releases the descriptor as soon as no thread is using it.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

mod callbacks;

pub use callbacks::{FileCloseCallback, FileReadCallback, FileWriteCallback};

use crate::backend::{Backend, ReadyFn, Watch};
use crate::interest::Interest;
use crate::stream::{deadline_after, Addr, Stream, Watchable};
use crate::sys::wait_fd;

/// A plain, unencrypted stream: TCP or a Unix-domain socket.
///
/// It starts in blocking mode, like a [`TcpStream`]. Reading and writing through `&File`
/// works too, so one thread can read while another writes.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// let (mut a, mut b) = sslfile::File::pipe()?;
/// a.write_all(b"ping")?;
/// let mut buf = [0; 4];
/// b.read_exact(&mut buf)?;
/// assert_eq!(&buf, b"ping");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct File {
    pub(crate) inner: Arc<FileInner>,
}

#[derive(Debug)]
pub(crate) struct FileInner {
    socket: RwLock<Option<Arc<Socket>>>,
    closed: AtomicBool,
    blocking: AtomicBool,
    timeout: Mutex<Option<Duration>>,
    /// The registration on a backend (callback mode), if any.
    pub(crate) watch: Mutex<Option<Watch>>,
    /// The user's Stdio.File callbacks (see `callbacks`).
    pub(crate) callbacks: Mutex<callbacks::FileCallbacks>,
    /// Bytes put back with `unread`, read before the socket's.
    pushback: Mutex<Vec<u8>>,
    /// `pushback` is not empty (a lock-free check on every read).
    has_pushback: AtomicBool,
}

#[derive(Debug)]
enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Socket {
    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Socket::Tcp(s) => s.as_fd(),
            Socket::Unix(s) => s.as_fd(),
        }
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd()
    }
}

impl File {
    fn new(socket: Socket) -> io::Result<File> {
        match &socket {
            Socket::Tcp(s) => s.set_nonblocking(true)?,
            Socket::Unix(s) => s.set_nonblocking(true)?,
        }
        Ok(File {
            inner: Arc::new(FileInner {
                socket: RwLock::new(Some(Arc::new(socket))),
                closed: AtomicBool::new(false),
                blocking: AtomicBool::new(true),
                timeout: Mutex::new(None),
                watch: Mutex::new(None),
                callbacks: Mutex::new(Default::default()),
                pushback: Mutex::new(Vec::new()),
                has_pushback: AtomicBool::new(false),
            }),
        })
    }

    /// Connects to a TCP address (blocking), like [`TcpStream::connect`].
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<File> {
        File::try_from(TcpStream::connect(addr)?)
    }

    /// A connected pair of bidirectional Unix-domain sockets (Pike's `Stdio.File()->pipe()`).
    pub fn pipe() -> io::Result<(File, File)> {
        let (a, b) = UnixStream::pair()?;
        Ok((File::try_from(a)?, File::try_from(b)?))
    }

    /// Blocking mode: reads wait for at least one byte, writes for the whole buffer.
    pub fn set_blocking(&self) {
        self.set_blocking_keep_callbacks();
        self.clear_callbacks();
    }

    /// Blocking mode, keeping the callbacks (they go on running in their backend).
    pub fn set_blocking_keep_callbacks(&self) {
        self.inner.blocking.store(true, Ordering::Relaxed);
    }

    /// Nonblocking mode without callbacks: reads and writes return `WouldBlock` instead of
    /// waiting. (Pike's `set_nonblocking()` with no callbacks.)
    pub fn set_nonblocking(&self) {
        self.set_nonblocking_keep_callbacks();
        self.clear_callbacks();
    }

    /// Nonblocking mode, keeping the callbacks.
    pub fn set_nonblocking_keep_callbacks(&self) {
        self.inner.blocking.store(false, Ordering::Relaxed);
    }

    /// True in blocking mode.
    pub fn is_blocking(&self) -> bool {
        self.inner.blocking.load(Ordering::Relaxed)
    }

    /// Bounds every blocking read and write; expiry gives `Err(TimedOut)`.
    pub fn set_timeout(&self, timeout: Option<Duration>) {
        *self.inner.timeout.lock().unwrap_or_else(|e| e.into_inner()) = timeout;
    }

    /// True until [`close`](File::close) (the peer's end of stream does not close it).
    pub fn is_open(&self) -> bool {
        !self.inner.closed.load(Ordering::Acquire)
    }

    /// Closes both directions and releases the descriptor. Closing twice is fine.
    pub fn close(&self) -> io::Result<()> {
        Stream::close(self)
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<Addr> {
        Stream::peer_addr(self)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<Addr> {
        Stream::local_addr(self)
    }

    /// Runs `f` on the open socket; `NotConnected` once closed.
    fn with_socket<T>(&self, f: impl FnOnce(&Socket) -> io::Result<T>) -> io::Result<T> {
        let guard = self.inner.socket.read().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(socket) if !self.inner.closed.load(Ordering::Acquire) => f(socket),
            _ => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the file is closed",
            )),
        }
    }

    fn blocking_io<T>(
        &self,
        interest: Interest,
        mut op: impl FnMut() -> io::Result<T>,
    ) -> io::Result<T> {
        let deadline = if self.is_blocking() {
            Some(deadline_after(
                *self.inner.timeout.lock().unwrap_or_else(|e| e.into_inner()),
            ))
        } else {
            None
        };
        loop {
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => match deadline {
                    Some(deadline) => self.wait(interest, deadline)?,
                    None => return Err(e),
                },
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
}

impl TryFrom<TcpStream> for File {
    type Error = io::Error;
    /// Takes over a connected TCP stream (it is made nonblocking underneath).
    fn try_from(stream: TcpStream) -> io::Result<File> {
        File::new(Socket::Tcp(stream))
    }
}

impl TryFrom<UnixStream> for File {
    type Error = io::Error;
    /// Takes over a connected Unix-domain stream (it is made nonblocking underneath).
    fn try_from(stream: UnixStream) -> io::Result<File> {
        File::new(Socket::Unix(stream))
    }
}

impl AsRawFd for File {
    /// The descriptor, or -1 once the file is closed.
    fn as_raw_fd(&self) -> RawFd {
        let guard = self.inner.socket.read().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().map_or(-1, |s| s.fd().as_raw_fd())
    }
}

impl File {
    /// Takes up to `buf.len()` bytes put back with `unread`; `None` if there are none.
    fn read_pushback(&self, buf: &mut [u8]) -> Option<usize> {
        if !self.inner.has_pushback.load(Ordering::Acquire) {
            return None;
        }
        let mut pushback = self
            .inner
            .pushback
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if pushback.is_empty() {
            return None;
        }
        let n = buf.len().min(pushback.len());
        buf[..n].copy_from_slice(&pushback[..n]);
        pushback.drain(..n);
        self.inner
            .has_pushback
            .store(!pushback.is_empty(), Ordering::Release);
        Some(n)
    }

    /// True while bytes put back with `unread` wait to be read.
    pub(crate) fn has_pushback(&self) -> bool {
        self.inner.has_pushback.load(Ordering::Acquire)
    }
}

impl Stream for File {
    fn watchable(&self) -> Option<&dyn Watchable> {
        Some(self)
    }

    fn read_nb(&self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(n) = self.read_pushback(buf) {
            return Ok(n);
        }
        self.with_socket(|s| match s {
            Socket::Tcp(s) => (&*s).read(buf),
            Socket::Unix(s) => (&*s).read(buf),
        })
    }

    fn write_nb(&self, buf: &[u8]) -> io::Result<usize> {
        self.with_socket(|s| match s {
            Socket::Tcp(s) => (&*s).write(buf),
            Socket::Unix(s) => (&*s).write(buf),
        })
    }

    fn write_vectored_nb(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.with_socket(|s| match s {
            Socket::Tcp(s) => (&*s).write_vectored(bufs),
            Socket::Unix(s) => (&*s).write_vectored(bufs),
        })
    }

    fn wait(&self, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
        if interest.is_readable() && self.has_pushback() {
            return Ok(());
        }
        // The read lock is shared; `close` shuts the socket down before it takes the write
        // lock, which wakes this wait.
        self.with_socket(|s| wait_fd(s.fd(), interest, deadline))
    }

    fn shutdown_write(&self) -> io::Result<()> {
        self.with_socket(|s| match s {
            Socket::Tcp(s) => s.shutdown(Shutdown::Write),
            Socket::Unix(s) => s.shutdown(Shutdown::Write),
        })
    }

    fn close(&self) -> io::Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // The backend's watch holds the socket too: end it first.
        self.unwatch();
        let socket = match self.inner.socket.try_write() {
            // Nobody else is in the socket: release it at once. (With SO_LINGER 0 the peer
            // then gets a reset, not the orderly end a shutdown would send first.)
            Ok(mut guard) => guard.take(),
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner().take(),
            Err(std::sync::TryLockError::WouldBlock) => {
                // Threads are blocked in `wait`: wake them, then release the descriptor
                // once they left.
                if let Some(socket) = self
                    .inner
                    .socket
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_ref()
                {
                    let _ = match &**socket {
                        Socket::Tcp(s) => s.shutdown(Shutdown::Both),
                        Socket::Unix(s) => s.shutdown(Shutdown::Both),
                    };
                }
                self.inner
                    .socket
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()
            }
        };
        drop(socket);
        Ok(())
    }

    fn timeout(&self) -> Option<Duration> {
        *self.inner.timeout.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn unread(&self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let mut pushback = self
            .inner
            .pushback
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        pushback.splice(0..0, bytes.iter().copied());
        self.inner.has_pushback.store(true, Ordering::Release);
        Ok(())
    }

    fn unacknowledged_output(&self) -> Option<usize> {
        self.with_socket(|s| match s {
            Socket::Tcp(s) => crate::sys::unacknowledged_output(s.as_fd()),
            // A Unix-domain socket hands what we write straight to the peer's queue: nothing
            // is in flight for a reset to throw away.
            Socket::Unix(_) => Ok(0),
        })
        .ok()
    }

    fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.with_socket(|s| match s {
            Socket::Tcp(s) => {
                rustix::net::sockopt::set_socket_linger(s, linger).map_err(Into::into)
            }
            Socket::Unix(_) => Ok(()),
        })
    }

    fn peer_addr(&self) -> io::Result<Addr> {
        self.with_socket(|s| match s {
            Socket::Tcp(s) => s.peer_addr().map(Addr::Inet),
            Socket::Unix(s) => s.peer_addr().map(Addr::Unix),
        })
    }

    fn local_addr(&self) -> io::Result<Addr> {
        self.with_socket(|s| match s {
            Socket::Tcp(s) => s.local_addr().map(Addr::Inet),
            Socket::Unix(s) => s.local_addr().map(Addr::Unix),
        })
    }
}

impl Watchable for File {
    fn watch(&self, backend: &Backend, on_ready: ReadyFn) -> io::Result<()> {
        let source = {
            let guard = self.inner.socket.read().unwrap_or_else(|e| e.into_inner());
            match guard.as_ref() {
                Some(s) if self.is_open() => s.clone(),
                _ => return Err(io::ErrorKind::NotConnected.into()),
            }
        };
        // The slot stays locked until the new watch is in it: its callback may run on the
        // backend thread at once (a hung-up socket is reported whatever the interest) and
        // `unwatch` from there must find the watch, or the registration would outlive it.
        let mut slot = self.inner.watch.lock().unwrap_or_else(|e| e.into_inner());
        // The old registration goes first (one descriptor is registered once per poller);
        // its callback is dropped only after the lock is released.
        let old = slot.take().and_then(Watch::detach);
        let result = backend.watch(source, None, on_ready).map(|watch| {
            *slot = Some(watch);
        });
        drop(slot);
        drop(old);
        result
    }

    fn set_interest(&self, interest: Option<Interest>) -> io::Result<()> {
        match self
            .inner
            .watch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            Some(watch) => watch.set_interest(interest),
            None => Ok(()),
        }
    }

    fn unwatch(&self) {
        let old = self
            .inner
            .watch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(old); // outside the lock: it may release the last reference to a callback
    }

    fn park_callbacks(&self) -> Option<Box<dyn std::any::Any + Send>> {
        Some(self.take_file_callbacks())
    }

    fn unpark_callbacks(&self, parked: Box<dyn std::any::Any + Send>) {
        self.restore_file_callbacks(parked);
    }

    fn backend(&self) -> Option<Backend> {
        self.inner
            .watch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(Watch::backend)
    }

    fn has_buffered_input(&self) -> bool {
        self.has_pushback()
    }
}

impl Read for &File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.blocking_io(Interest::READ, || self.read_nb(buf))
    }
}

impl Write for &File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.blocking_io(Interest::WRITE, || self.write_nb(buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.blocking_io(Interest::WRITE, || self.write_vectored_nb(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonblocking_read_would_block_and_blocking_read_times_out() {
        let (a, _b) = File::pipe().unwrap();
        a.set_nonblocking();
        let mut buf = [0u8; 8];
        let err = (&a).read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        a.set_blocking();
        a.set_timeout(Some(Duration::from_millis(30)));
        let err = (&a).read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn close_wakes_a_blocked_reader_and_frees_the_descriptor() {
        let (a, _b) = File::pipe().unwrap();
        let a = std::sync::Arc::new(a);
        let reader = {
            let a = a.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8];
                (&*a).read(&mut buf)
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        a.close().unwrap();
        let result = reader.join().unwrap();
        assert!(matches!(result, Ok(0) | Err(_)), "{result:?}");
        assert_eq!(a.as_raw_fd(), -1);
        a.close().unwrap();
    }
}
