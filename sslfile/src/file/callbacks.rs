//! Callback mode for a plain [`File`], the `Stdio.File` contract: the read callback gets
//! the data read, the write callback runs while the file is writable, the close callback
//! runs once at end of stream or on an error. Callbacks run on the file's backend.

use std::io;
use std::sync::Arc;

use super::{File, FileInner};
use crate::backend::{Backend, WeakBackend};
use crate::interest::Interest;
use crate::stream::{Stream, Watchable};

/// Called with the file and the data read.
pub type FileReadCallback = Arc<dyn Fn(&File, &[u8]) + Send + Sync + 'static>;
/// Called while the file is writable.
pub type FileWriteCallback = Arc<dyn Fn(&File) + Send + Sync + 'static>;
/// Called once: `None` at end of stream, `Some(error)` when reading failed.
pub type FileCloseCallback = Arc<dyn Fn(&File, Option<io::Error>) + Send + Sync + 'static>;

/// The callbacks and backend of a file.
#[derive(Default, Clone)]
pub(crate) struct FileCallbacks {
    read: Option<FileReadCallback>,
    write: Option<FileWriteCallback>,
    close: Option<FileCloseCallback>,
    /// Held weakly: a dropped backend is freed, with the watches it held.
    backend: Option<WeakBackend>,
    ended: bool,
}

impl std::fmt::Debug for FileCallbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileCallbacks")
            .field("read", &self.read.is_some())
            .field("write", &self.write.is_some())
            .field("close", &self.close.is_some())
            .finish()
    }
}

impl FileCallbacks {
    fn any(&self) -> bool {
        self.read.is_some() || self.write.is_some() || self.close.is_some()
    }

    fn interest(&self) -> Option<Interest> {
        Interest::from_flags(
            !self.ended && (self.read.is_some() || self.close.is_some()),
            !self.ended && self.write.is_some(),
        )
    }
}

impl File {
    /// Sets the read callback (`None` removes it). Callbacks run on the file's backend
    /// (see [`set_backend`](Self::set_backend)) whatever the blocking mode.
    pub fn set_read_callback(&self, callback: Option<FileReadCallback>) {
        self.update_callbacks(|cbs| cbs.read = callback);
    }

    /// Sets the write callback, called while the file is writable (level-triggered, like
    /// `Stdio.File`): remove it when there is nothing more to write.
    pub fn set_write_callback(&self, callback: Option<FileWriteCallback>) {
        self.update_callbacks(|cbs| cbs.write = callback);
    }

    /// Sets the close callback, called once at end of stream or on a read error.
    pub fn set_close_callback(&self, callback: Option<FileCloseCallback>) {
        self.update_callbacks(|cbs| cbs.close = callback);
    }

    /// Pike's `set_nonblocking(read, write, close)`: nonblocking mode with these callbacks.
    pub fn set_nonblocking_callbacks(
        &self,
        read: Option<FileReadCallback>,
        write: Option<FileWriteCallback>,
        close: Option<FileCloseCallback>,
    ) {
        self.set_nonblocking_keep_callbacks();
        self.update_callbacks(|cbs| {
            cbs.read = read;
            cbs.write = write;
            cbs.close = close;
        });
    }

    /// Runs the callbacks on `backend` from now on (default: the default backend).
    pub fn set_backend(&self, backend: &Backend) {
        self.update_callbacks(|cbs| cbs.backend = Some(backend.downgrade()));
    }

    /// The backend the callbacks run on.
    pub fn backend(&self) -> Backend {
        self.lock_callbacks()
            .backend
            .as_ref()
            .and_then(WeakBackend::upgrade)
            .unwrap_or_else(Backend::default_backend)
    }

    pub(crate) fn clear_callbacks(&self) {
        self.update_callbacks(|cbs| {
            cbs.read = None;
            cbs.write = None;
            cbs.close = None;
        });
    }

    fn lock_callbacks(&self) -> std::sync::MutexGuard<'_, FileCallbacks> {
        self.inner
            .callbacks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the callbacks, then registers, re-arms or drops the watch to match.
    fn update_callbacks(&self, change: impl FnOnce(&mut FileCallbacks)) {
        let (interest, any, backend) = {
            let mut cbs = self.lock_callbacks();
            change(&mut cbs);
            let backend = cbs.backend.as_ref().and_then(WeakBackend::upgrade);
            (cbs.interest(), cbs.any() && !cbs.ended, backend)
        };
        if !any {
            Watchable::unwatch(self);
            return;
        }
        let backend = backend.unwrap_or_else(Backend::default_backend);
        let watched_here = Watchable::backend(self).is_some_and(|b| b == backend);
        if !watched_here {
            let inner = Arc::clone(&self.inner);
            let on_ready = Arc::new(move |ready: Interest| dispatch(&inner, ready));
            if Watchable::watch(self, &backend, on_ready).is_err() {
                return;
            }
        }
        let _ = Watchable::set_interest(self, interest);
        if self.has_pushback() && interest.is_some_and(Interest::is_readable) {
            // Bytes put back are ready now, and no readiness of the socket will say so.
            let inner = Arc::clone(&self.inner);
            backend.call_out(std::time::Duration::ZERO, move || {
                dispatch(&inner, Interest::READ)
            });
        }
        backend.wake();
    }

    /// Sets the user's callbacks aside (for a TLS layer taking the file over).
    pub(crate) fn take_file_callbacks(&self) -> Box<dyn std::any::Any + Send> {
        let saved = std::mem::take(&mut *self.lock_callbacks());
        Watchable::unwatch(self);
        Box::new(saved)
    }

    /// Puts back what [`take_file_callbacks`](Self::take_file_callbacks) set aside.
    pub(crate) fn restore_file_callbacks(&self, saved: Box<dyn std::any::Any + Send>) {
        if let Ok(saved) = saved.downcast::<FileCallbacks>() {
            self.update_callbacks(|cbs| *cbs = *saved);
        }
    }
}

/// One readiness event: read and deliver, or report the end; then the write callback.
fn dispatch(inner: &Arc<FileInner>, ready: Interest) {
    let file = File {
        inner: Arc::clone(inner),
    };
    let cbs = file.lock_callbacks().clone();
    if cbs.ended {
        return;
    }
    if ready.is_readable() && (cbs.read.is_some() || cbs.close.is_some()) {
        if file.has_pushback() {
            // Readiness will not announce what is left of it: come back at once.
            if let Some(backend) = cbs.backend.as_ref().and_then(WeakBackend::upgrade) {
                let inner = Arc::clone(inner);
                backend.call_out(std::time::Duration::ZERO, move || {
                    dispatch(&inner, Interest::READ)
                });
            }
        }
        let mut buf = vec![0u8; 64 * 1024];
        let outcome = match file.read_nb(&mut buf) {
            Ok(0) => Some(None),
            Ok(n) => {
                if let Some(read) = &cbs.read {
                    read(&file, &buf[..n]);
                }
                None
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
            Err(e) => Some(Some(e)),
        };
        if let Some(error) = outcome {
            file.lock_callbacks().ended = true;
            Watchable::unwatch(&file);
            if let Some(close) = &cbs.close {
                close(&file, error);
            }
            return;
        }
    }
    if ready.is_writable() {
        // The read callback may have removed the write callback: look again.
        let write = file.lock_callbacks().write.clone();
        if let Some(write) = write {
            write(&file);
        }
    }
}
