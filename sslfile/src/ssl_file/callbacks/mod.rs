//! Callback mode: the user's callbacks, when they run, and how long the backend
//! keeps the file alive.
//!
//! A file is watched on its backend only while it has user callbacks (or output that must
//! still drain): the watch's closure holds the file strongly, so a server may drop its handle
//! after installing callbacks. When the connection ends or the callbacks are cleared, the
//! watch goes and, with it, the backend's reference: nothing else refers back to the file.
//!
//! Dispatch collects what is due under the locks and runs the callbacks with no lock held,
//! so a callback may call any method of its file.
//!
//! * this module: the callback types and the callback-mode state ([`Dispatch`]);
//! * [`api`]: the public setters and getters;
//! * [`watch`]: keeping the backend's watch in line with the callbacks and the engine;
//! * [`dispatch`]: deciding what is due and running it.

mod api;
mod dispatch;
mod watch;

use std::sync::Arc;

use super::SslFile;
use crate::backend::{Backend, ReadyFn, WeakBackend};
use crate::error::Error;
use crate::interest::Interest;
use crate::stream::Stream;

/// Called with the file and all plaintext received so far.
pub type ReadCallback<S> = Arc<dyn Fn(&SslFile<S>, &[u8]) + Send + Sync + 'static>;
/// Called while more can be written: after the handshake, once pending output drained.
pub type WriteCallback<S> = Arc<dyn Fn(&SslFile<S>) + Send + Sync + 'static>;
/// Called once when the connection ends, after all data was delivered: `None` for a clean
/// close_notify, else why, as [`Error::kind`] tells: `BrokenPipe` when the peer went away
/// without close_notify (truncation, a reset, a hang-up during the handshake),
/// `ConnectionReset` for the peer's fatal alert, `ConnectionAborted` when we rejected the
/// peer's data (the TLS error is its source), `TimedOut` for a handshake or idle timeout.
/// The same error type as the alert callback's.
pub type CloseCallback<S> = Arc<dyn Fn(&SslFile<S>, Option<&Error>) + Send + Sync + 'static>;
/// Called once when the handshake has completed.
pub type AcceptCallback<S> = Arc<dyn Fn(&SslFile<S>) + Send + Sync + 'static>;
/// Called instead of the close callback when the peer does not speak TLS, with the error
/// and the raw bytes received so far; [`SslFile::into_stream`] then gives the transport back
/// to serve another protocol.
pub type AlertCallback<S> = Arc<dyn Fn(&SslFile<S>, &Error, &[u8]) + Send + Sync + 'static>;

/// A full set of callbacks, for [`SslFile::set_callbacks`].
pub struct Callbacks<S: Stream + 'static> {
    /// See [`ReadCallback`].
    pub read: Option<ReadCallback<S>>,
    /// See [`WriteCallback`].
    pub write: Option<WriteCallback<S>>,
    /// See [`CloseCallback`].
    pub close: Option<CloseCallback<S>>,
    /// See [`AcceptCallback`].
    pub accept: Option<AcceptCallback<S>>,
    /// See [`AlertCallback`].
    pub alert: Option<AlertCallback<S>>,
}

impl<S: Stream + 'static> Default for Callbacks<S> {
    fn default() -> Self {
        Callbacks {
            read: None,
            write: None,
            close: None,
            accept: None,
            alert: None,
        }
    }
}

impl<S: Stream + 'static> Clone for Callbacks<S> {
    fn clone(&self) -> Self {
        Callbacks {
            read: self.read.clone(),
            write: self.write.clone(),
            close: self.close.clone(),
            accept: self.accept.clone(),
            alert: self.alert.clone(),
        }
    }
}

impl<S: Stream + 'static> std::fmt::Debug for Callbacks<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callbacks")
            .field("read", &self.read.is_some())
            .field("write", &self.write.is_some())
            .field("close", &self.close.is_some())
            .field("accept", &self.accept.is_some())
            .field("alert", &self.alert.is_some())
            .finish()
    }
}

impl<S: Stream + 'static> Callbacks<S> {
    /// Callbacks that need input to be read (to deliver data or notice the end).
    fn want_input(&self) -> bool {
        self.read.is_some() || self.close.is_some() || self.alert.is_some()
    }
}

/// Callback-mode state, behind its own mutex (always locked after the state mutex).
pub(in crate::ssl_file) struct Dispatch<S: Stream + 'static> {
    pub(in crate::ssl_file) cbs: Callbacks<S>,
    /// The backend set with `set_backend`; held weakly, like every reference the crate
    /// keeps to a backend, so that dropping a backend's last handle frees it.
    pub(in crate::ssl_file) backend: Option<WeakBackend>,
    interest: Option<Interest>,
    accept_fired: bool,
    finished: bool,
    /// A dispatch is scheduled as a call_out (see [`due_without_readiness`]).
    kick_pending: bool,
    /// The layer above watching this file as its transport (TLS over TLS), if any.
    pub(in crate::ssl_file) layer: Option<Layer>,
    /// The transport's own callbacks, set aside while this layer uses it.
    pub(in crate::ssl_file) saved_stream_callbacks: Option<Box<dyn std::any::Any + Send>>,
}

impl<S: Stream + 'static> Dispatch<S> {
    pub(in crate::ssl_file) fn new(
        saved: Option<Box<dyn std::any::Any + Send>>,
        backend: Option<Backend>,
    ) -> Dispatch<S> {
        Dispatch {
            cbs: Callbacks::default(),
            backend: backend.as_ref().map(Backend::downgrade),
            interest: None,
            accept_fired: false,
            finished: false,
            kick_pending: false,
            layer: None,
            saved_stream_callbacks: saved,
        }
    }
}

/// A layer above (an `SslFile` whose transport is this file) watching this file: it is
/// told, level-triggered, when this file can be read or written for it.
pub(in crate::ssl_file) struct Layer {
    pub(in crate::ssl_file) on_ready: ReadyFn,
    pub(in crate::ssl_file) interest: Option<Interest>,
}

impl<S: Stream + 'static> Dispatch<S> {
    /// Input must be read: for a callback, or for the layer above.
    fn want_input(&self) -> bool {
        self.cbs.want_input()
            || self
                .layer
                .as_ref()
                .is_some_and(|l| l.interest.is_some_and(Interest::is_readable))
    }

    /// The layer above waits for this file to become writable.
    fn layer_wants_write(&self) -> bool {
        self.layer
            .as_ref()
            .is_some_and(|l| l.interest.is_some_and(Interest::is_writable))
    }
}
