//! The public side of callback mode: setting and reading the callbacks, the modes that keep
//! them, the backend they run on, and the protocol fallback.

use std::sync::Arc;

use super::{AcceptCallback, AlertCallback, Callbacks, CloseCallback, ReadCallback, WriteCallback};
use crate::backend::Backend;
use crate::ssl_file::SslFile;
use crate::stream::{Stream, Watchable};

impl<S: Stream + 'static> SslFile<S> {
    /// Sets the read callback (`None` removes it).
    pub fn set_read_callback(&self, callback: Option<ReadCallback<S>>) {
        self.change_callbacks(|c| c.read = callback);
    }

    /// Sets the write callback (`None` removes it). It is never called during the
    /// handshake, and is called again and again while it stays installed and more can be
    /// written (level-triggered, like `Stdio.File`): remove it when done.
    pub fn set_write_callback(&self, callback: Option<WriteCallback<S>>) {
        self.change_callbacks(|c| c.write = callback);
    }

    /// Sets the close callback (`None` removes it).
    pub fn set_close_callback(&self, callback: Option<CloseCallback<S>>) {
        self.change_callbacks(|c| c.close = callback);
    }

    /// Sets the accept callback, called once when the handshake completes.
    pub fn set_accept_callback(&self, callback: Option<AcceptCallback<S>>) {
        self.change_callbacks(|c| c.accept = callback);
    }

    /// Sets the alert callback, for peers that do not speak TLS.
    pub fn set_alert_callback(&self, callback: Option<AlertCallback<S>>) {
        self.change_callbacks(|c| c.alert = callback);
    }

    /// Replaces all callbacks at once.
    pub fn set_callbacks(&self, callbacks: Callbacks<S>) {
        self.change_callbacks(|c| *c = callbacks);
    }

    /// The installed callbacks.
    pub fn callbacks(&self) -> Callbacks<S> {
        self.shared.lock_dispatch().cbs.clone()
    }

    /// The read callback.
    pub fn read_callback(&self) -> Option<ReadCallback<S>> {
        self.shared.lock_dispatch().cbs.read.clone()
    }

    /// The write callback.
    pub fn write_callback(&self) -> Option<WriteCallback<S>> {
        self.shared.lock_dispatch().cbs.write.clone()
    }

    /// The close callback.
    pub fn close_callback(&self) -> Option<CloseCallback<S>> {
        self.shared.lock_dispatch().cbs.close.clone()
    }

    /// The accept callback.
    pub fn accept_callback(&self) -> Option<AcceptCallback<S>> {
        self.shared.lock_dispatch().cbs.accept.clone()
    }

    /// The alert callback.
    pub fn alert_callback(&self) -> Option<AlertCallback<S>> {
        self.shared.lock_dispatch().cbs.alert.clone()
    }

    /// Pike's `set_nonblocking(read, write, close)`: nonblocking mode with these three
    /// callbacks (the accept and alert callbacks are kept).
    pub fn set_nonblocking_callbacks(
        &self,
        read: Option<ReadCallback<S>>,
        write: Option<WriteCallback<S>>,
        close: Option<CloseCallback<S>>,
    ) {
        self.shared.lock().blocking = false;
        self.change_callbacks(|c| {
            c.read = read;
            c.write = write;
            c.close = close;
        });
    }

    /// Nonblocking mode, keeping the callbacks.
    pub fn set_nonblocking_keep_callbacks(&self) {
        self.shared.lock().blocking = false;
    }

    /// Blocking mode, keeping the callbacks: they go on running in the backend while other
    /// code makes blocking calls ("callback mode ... also in blocking mode"). Each byte
    /// received goes either to the read callback or to a blocking `read`, never to both.
    pub fn set_blocking_keep_callbacks(&self) {
        self.shared.lock().blocking = true;
    }

    /// Runs the callbacks on `backend` from now on (moving a watched file there).
    pub fn set_backend(&self, backend: &Backend) {
        let moved = {
            let mut d = self.shared.lock_dispatch();
            d.backend = Some(backend.downgrade());
            self.shared
                .watching
                .swap(false, std::sync::atomic::Ordering::AcqRel)
        };
        if moved {
            self.shared.transport().unwatch();
        }
        self.shared.rearm();
    }

    /// The backend the callbacks run on: the one set, else the transport's, else the
    /// process's default backend.
    pub fn backend(&self) -> Backend {
        self.shared.backend_for_callbacks()
    }

    pub(in crate::ssl_file) fn clear_callbacks(&self) {
        self.change_callbacks(|c| *c = Callbacks::default());
    }

    fn change_callbacks(&self, change: impl FnOnce(&mut Callbacks<S>)) {
        {
            let mut st = self.shared.lock();
            let mut d = self.shared.lock_dispatch();
            change(&mut d.cbs);
            st.plaintext_fallback = st.fallback_requested || d.cbs.alert.is_some();
            let fallback = st.plaintext_fallback;
            if let Some(engine) = st.engine.as_mut() {
                engine.set_quiet_if_not_tls(fallback);
            }
        }
        self.shared.rearm();
    }

    /// Prepares a protocol fallback without callbacks (blocking or nonblocking mode): if the
    /// peer turns out not to speak TLS (an HTTP request sent to a TLS port), it gets no
    /// alert; the handshake fails, [`is_plaintext_peer`](Self::is_plaintext_peer) says why,
    /// and [`take_stream`](Self::take_stream) gives the transport and what the peer sent, to
    /// answer in its protocol. An alert callback does the same in callback mode.
    ///
    /// ```
    /// use std::io::Write;
    /// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// # let ctx = sslfile::Context::builder()
    /// #     .certificate_chain_pem(cert.cert.pem().as_bytes(), cert.key_pair.serialize_pem().as_bytes())?
    /// #     .build()?;
    /// let (server_end, mut client) = sslfile::File::pipe()?;
    /// client.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    /// let tls = sslfile::SslFile::new(server_end, &ctx);
    /// tls.set_plaintext_fallback(true);
    /// tls.set_blocking();
    /// assert!(tls.accept().is_err());
    /// assert!(tls.is_plaintext_peer());
    /// let (plain, request) = tls.take_stream()?;
    /// assert!(request.starts_with(b"GET /"));
    /// (&plain).write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_plaintext_fallback(&self, enabled: bool) {
        let mut st = self.shared.lock();
        st.fallback_requested = enabled;
        let alert = self.shared.lock_dispatch().cbs.alert.is_some();
        st.plaintext_fallback = enabled || alert;
        let fallback = st.plaintext_fallback;
        if let Some(engine) = st.engine.as_mut() {
            engine.set_quiet_if_not_tls(fallback);
        }
    }

    /// True if the handshake failed because the peer does not speak TLS (it sent, say, an
    /// HTTP request): the case for a protocol fallback (see
    /// [`set_plaintext_fallback`](Self::set_plaintext_fallback)).
    pub fn is_plaintext_peer(&self) -> bool {
        let st = self.shared.lock();
        st.engine
            .as_ref()
            .is_some_and(|e| e.is_handshaking() && e.peer_not_tls())
    }

    /// Another handle to the same connection.
    pub(crate) fn handle(&self) -> SslFile<S> {
        SslFile {
            shared: Arc::clone(&self.shared),
        }
    }
}
