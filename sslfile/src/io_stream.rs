//! [`IoStream`]: any blocking `Read` + `Write` pair (a child process's stdio, a serial port,
//! a pipe) as the [`Stream`] of an [`SslFile`](crate::SslFile) in blocking mode.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::interest::Interest;
use crate::stream::{Addr, Stream};

/// A blocking reader and writer as a transport for TLS in blocking mode.
///
/// The transport of an [`SslFile`](crate::SslFile) is nonblocking underneath; this adapter
/// is for the byte streams that are not: its "nonblocking" reads and writes block. That
/// makes it right for blocking mode used from one thread at a time, and for nothing else:
/// no timeouts, no nonblocking or callback mode, no concurrent read and write. After
/// [`shutdown_write`](Stream::shutdown_write) or [`close`](Stream::close) (which close
/// the writer, so that the other end reads its end of stream), reads return end of stream
/// without touching the reader: a blocking read could not be interrupted.
///
/// # Examples
///
/// TLS over a child process's standard input and output:
///
/// ```no_run
/// use std::io::{Read, Write};
/// use std::process::{Command, Stdio};
/// use sslfile::{Context, IoStream, SslFile};
///
/// let mut child = Command::new("socat")
///     .args(["-", "TCP:example.com:443"])
///     .stdin(Stdio::piped())
///     .stdout(Stdio::piped())
///     .spawn()?;
/// let io = IoStream::new(child.stdout.take().unwrap(), child.stdin.take().unwrap());
/// let ctx = Context::builder().build()?;
/// let mut tls = SslFile::client(io, &ctx, "example.com")?;
/// tls.write_all(b"GET / HTTP/1.0\r\nHost: example.com\r\n\r\n")?;
/// let mut page = Vec::new();
/// tls.read_to_end(&mut page)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct IoStream<R, W> {
    reader: Mutex<R>,
    writer: Mutex<Option<W>>,
    /// The write side was shut or the stream closed: reads give end of stream.
    ended: AtomicBool,
}

impl<R: Read + Send, W: Write + Send> IoStream<R, W> {
    /// The stream that reads from `reader` and writes to `writer`.
    pub fn new(reader: R, writer: W) -> IoStream<R, W> {
        IoStream {
            reader: Mutex::new(reader),
            writer: Mutex::new(Some(writer)),
            ended: AtomicBool::new(false),
        }
    }

    fn with_writer<T>(&self, f: impl FnOnce(&mut W) -> io::Result<T>) -> io::Result<T> {
        match self
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            Some(writer) => f(writer),
            None => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the stream's writer was closed",
            )),
        }
    }

    /// Flushes and drops the writer (its end of stream reaches the other side).
    fn end_writer(&self) -> io::Result<()> {
        self.ended.store(true, Ordering::Release);
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        match writer {
            Some(mut writer) => writer.flush(),
            None => Ok(()),
        }
    }
}

impl<R: Read + Send, W: Write + Send> Stream for IoStream<R, W> {
    /// Blocks until the reader gives something (see the type's docs).
    fn read_nb(&self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ended.load(Ordering::Acquire) {
            return Ok(0);
        }
        self.reader
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .read(buf)
    }

    /// Blocks until the writer took something.
    fn write_nb(&self, buf: &[u8]) -> io::Result<usize> {
        self.with_writer(|w| w.write(buf))
    }

    fn flush_nb(&self) -> io::Result<()> {
        self.with_writer(|w| w.flush())
    }

    /// Returns at once: reads and writes block by themselves.
    fn wait(&self, _interest: Interest, _deadline: Option<Instant>) -> io::Result<()> {
        Ok(())
    }

    fn shutdown_write(&self) -> io::Result<()> {
        self.end_writer()
    }

    fn close(&self) -> io::Result<()> {
        self.end_writer()
    }

    fn peer_addr(&self) -> io::Result<Addr> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "an IoStream has no network address",
        ))
    }

    fn local_addr(&self) -> io::Result<Addr> {
        self.peer_addr()
    }
}
