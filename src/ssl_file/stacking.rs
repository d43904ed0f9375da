//! `SslFile` as a [`Stream`]: the transport of another `SslFile` (TLS over TLS), in every
//! mode. Reads and writes are always nonblocking here; `wait` blocks by driving this
//! connection until the outer one can make progress.

use std::io::{self, IoSlice};
use std::time::{Duration, Instant};

use super::SslFile;
use crate::stream::{Addr, Interest, Stream};

impl<S: Stream + 'static> Stream for SslFile<S> {
    fn read_nb(&self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.shared.read(buf, Some(false))?)
    }

    fn write_nb(&self, buf: &[u8]) -> io::Result<usize> {
        Ok(self.shared.write(&[IoSlice::new(buf)], Some(false))?)
    }

    fn write_vectored_nb(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Ok(self.shared.write(bufs, Some(false))?)
    }

    fn flush_nb(&self) -> io::Result<()> {
        Ok(self.shared.flush(Some(false))?)
    }

    fn wait(&self, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
        let mut st = self.shared.lock();
        loop {
            let may_read = super::driver::Shared::<S>::may_read(&st);
            let progress = self.shared.step(&mut st, may_read);
            let engine = st.engine()?;
            let readable = engine.has_plaintext()
                || engine.error().is_some()
                || engine.peer_closed()
                || engine.transport_eof();
            let writable = !engine.wants_write() && !engine.is_handshaking();
            if (interest.is_readable() && readable) || (interest.is_writable() && writable) {
                return Ok(());
            }
            if progress {
                continue;
            }
            let mut want = super::driver::engine_interest(engine);
            if interest.is_readable() {
                want = want | Interest::READ;
            }
            st = self.shared.wait(st, want, deadline)?;
        }
    }

    fn shutdown_write(&self) -> io::Result<()> {
        Ok(self.shutdown(std::net::Shutdown::Write)?)
    }

    fn close(&self) -> io::Result<()> {
        Ok(SslFile::close(self)?)
    }

    fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        Ok(self.linger(linger)?)
    }

    fn peer_addr(&self) -> io::Result<Addr> {
        SslFile::peer_addr(self)
    }

    fn local_addr(&self) -> io::Result<Addr> {
        SslFile::local_addr(self)
    }
}
