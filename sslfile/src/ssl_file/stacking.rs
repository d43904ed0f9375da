//! `SslFile` as a [`Stream`]: the transport of another `SslFile` (TLS over TLS), in every
//! mode. Reads and writes are always nonblocking here; `wait` blocks by driving this
//! connection until the layer above can make progress.
//!
//! Callback mode: the layer above `watch`es this file like a socket. This file then runs on
//! the backend itself (watching its own transport) and calls the layer's ready function,
//! level-triggered, while it has plaintext for it (or has ended) and while it can take
//! more output, for as long as the layer's interest asks for it.

use std::any::Any;
use std::io::{self, IoSlice};
use std::time::{Duration, Instant};

use super::callbacks::{Callbacks, Layer};
use super::SslFile;
use crate::backend::{Backend, ReadyFn};
use crate::interest::Interest;
use crate::stream::{Addr, Stream, Watchable};

impl<S: Stream + 'static> Stream for SslFile<S> {
    fn watchable(&self) -> Option<&dyn Watchable> {
        Some(self)
    }

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

    fn timeout(&self) -> Option<Duration> {
        SslFile::timeout(self)
    }

    fn unread(&self, bytes: &[u8]) -> io::Result<()> {
        match self.shared.lock().engine.as_mut() {
            Some(engine) => {
                engine.unread_plaintext(bytes);
                Ok(())
            }
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn unacknowledged_output(&self) -> Option<usize> {
        let pending = self
            .shared
            .lock()
            .engine
            .as_ref()
            .is_some_and(|e| e.wants_write());
        if pending {
            return Some(1); // some, of this layer's own
        }
        self.shared.transport().unacknowledged_output()
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

impl<S: Stream + 'static> Watchable for SslFile<S> {
    fn watch(&self, backend: &Backend, on_ready: ReadyFn) -> io::Result<()> {
        let old = self.shared.lock_dispatch().layer.replace(Layer {
            on_ready,
            interest: None,
        });
        drop(old); // no lock held: it may own the last reference to the layer above
        self.set_backend(backend);
        Ok(())
    }

    fn set_interest(&self, interest: Option<Interest>) -> io::Result<()> {
        if let Some(layer) = self.shared.lock_dispatch().layer.as_mut() {
            layer.interest = interest;
        }
        self.shared.rearm();
        Ok(())
    }

    fn unwatch(&self) {
        let old = self.shared.lock_dispatch().layer.take();
        drop(old);
        self.shared.rearm();
    }

    fn backend(&self) -> Option<Backend> {
        let own = self.shared.lock_dispatch().backend.clone();
        own.and_then(|b| b.upgrade())
            .or_else(|| self.shared.transport().backend())
    }

    fn has_buffered_input(&self) -> bool {
        self.shared
            .lock()
            .engine
            .as_mut()
            .is_some_and(|e| e.has_plaintext() || e.has_stashed_input())
    }

    fn park_callbacks(&self) -> Option<Box<dyn Any + Send>> {
        let saved = std::mem::take(&mut self.shared.lock_dispatch().cbs);
        self.shared.rearm();
        Some(Box::new(saved))
    }

    fn unpark_callbacks(&self, parked: Box<dyn Any + Send>) {
        if let Ok(cbs) = parked.downcast::<Callbacks<S>>() {
            self.set_callbacks(*cbs);
        }
    }
}
