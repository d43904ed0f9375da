//! [`Port`]: a listening TCP socket that hands out TLS connections (Pike's `SSL.Port`),
//! blocking or in callback mode on a backend.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::backend::{Backend, Watch};
use crate::context::Context;
use crate::error::Error;
use crate::file::File;
use crate::interest::Interest;
use crate::ssl_file::SslFile;
use crate::sys::wait_fd;

/// Called with each connection whose handshake completed, on the port's backend.
pub type PortCallback = Arc<dyn Fn(SslFile) + Send + Sync + 'static>;

/// Called with the transport of a client that does not speak TLS and the bytes it sent
/// (e.g. a plain HTTP request to the TLS port): see [`Port::set_plaintext_fallback`].
pub type PlaintextFallback = Arc<dyn Fn(File, Vec<u8>) + Send + Sync + 'static>;

/// A listening socket producing [`SslFile`] servers.
///
/// Its connections get a handshake timeout (30 s unless changed with
/// [`set_handshake_timeout`](Self::set_handshake_timeout)) and, if set, an idle timeout
/// ([`set_idle_timeout`](Self::set_idle_timeout)): clients that stall cannot exhaust the
/// server.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use sslfile::{Context, File, Port, SslFile};
///
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// let server_ctx = Context::builder()
///     .certificate_chain_pem(cert.cert.pem().as_bytes(), cert.key_pair.serialize_pem().as_bytes())?
///     .build()?;
/// let client_ctx = Context::builder().trust_pem(cert.cert.pem().as_bytes())?.build()?;
///
/// let port = Port::bind("127.0.0.1:0", &server_ctx)?;
/// let addr = port.local_addr()?;
/// let client = std::thread::spawn(move || -> Result<Vec<u8>, sslfile::Error> {
///     let mut tls = SslFile::client(File::connect(addr)?, &client_ctx, "localhost")?;
///     let mut greeting = Vec::new();
///     tls.read_to_end(&mut greeting)?;
///     Ok(greeting)
/// });
/// let mut conn = port.accept()?; // blocking: TCP accept and TLS handshake
/// conn.write_all(b"welcome")?;
/// conn.close()?;
/// assert_eq!(client.join().unwrap()?, b"welcome");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Port {
    inner: Arc<PortInner>,
    watch: Mutex<Option<Watch>>,
}

struct PortInner {
    listener: Arc<TcpListener>,
    /// The context new connections get (`set_context` replaces it).
    ctx: Mutex<Context>,
    timeout: Mutex<Option<Duration>>,
    protection: Mutex<Protection>,
    fallback: Mutex<Option<PlaintextFallback>>,
}

/// The timeouts a port gives the connections it accepts.
#[derive(Clone, Copy)]
struct Protection {
    handshake: Option<Duration>,
    idle: Option<Duration>,
}

impl std::fmt::Debug for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Port")
            .field("addr", &self.inner.listener.local_addr().ok())
            .finish()
    }
}

impl Port {
    /// The handshake timeout of a new port: a client has this long to complete its TLS
    /// handshake (see [`set_handshake_timeout`](Self::set_handshake_timeout)).
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

    /// Listens on `addr` (e.g. `"127.0.0.1:8443"`; port 0 picks a free one) for TLS
    /// clients served with `ctx`.
    pub fn bind(addr: impl ToSocketAddrs, ctx: &Context) -> io::Result<Port> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(Port {
            inner: Arc::new(PortInner {
                listener: Arc::new(listener),
                ctx: Mutex::new(ctx.clone()),
                timeout: Mutex::new(None),
                protection: Mutex::new(Protection {
                    handshake: Some(Port::DEFAULT_HANDSHAKE_TIMEOUT),
                    idle: None,
                }),
                fallback: Mutex::new(None),
            }),
            watch: Mutex::new(None),
        })
    }

    /// The address the port listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.listener.local_addr()
    }

    /// Serves the connections accepted from now on with `ctx`: a new certificate (renewed,
    /// reloaded from its files with [`Context::reload`]), other trust for client
    /// certificates, other settings.
    /// Connections already accepted keep the context they started with.
    ///
    /// ```
    /// let old = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// let new = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// let ctx = |c: &rcgen::CertifiedKey| {
    ///     sslfile::Context::builder()
    ///         .certificate_chain_pem(c.cert.pem().as_bytes(), c.key_pair.serialize_pem().as_bytes())?
    ///         .build()
    /// };
    /// let port = sslfile::Port::bind("127.0.0.1:0", &ctx(&old)?)?;
    /// port.set_context(&ctx(&new)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_context(&self, ctx: &Context) {
        *self.inner.ctx.lock().unwrap_or_else(|e| e.into_inner()) = ctx.clone();
    }

    /// Bounds [`accept`](Self::accept)'s handshake, and is the timeout of the files it
    /// returns: a client that stalls its handshake cannot hold `accept` forever.
    pub fn set_timeout(&self, timeout: Option<Duration>) {
        *self.inner.timeout.lock().unwrap_or_else(|e| e.into_inner()) = timeout;
    }

    /// Bounds the TLS handshake of every connection the port accepts, in [`accept`] and in
    /// [`listen`]: a client that has not completed it after `timeout` is disconnected
    /// (its connection fails with `TimedOut`). This is what keeps clients that open
    /// connections and send their ClientHello a byte at a time (slowloris) from exhausting
    /// a server. Default: [`DEFAULT_HANDSHAKE_TIMEOUT`](Self::DEFAULT_HANDSHAKE_TIMEOUT);
    /// `None`: no limit. Connections already accepted keep theirs.
    ///
    /// [`accept`]: Self::accept
    /// [`listen`]: Self::listen
    ///
    /// ```
    /// use std::time::Duration;
    /// let ctx = sslfile::Context::builder().build()?;
    /// let port = sslfile::Port::bind("127.0.0.1:0", &ctx)?;
    /// assert_eq!(port.handshake_timeout(), Some(sslfile::Port::DEFAULT_HANDSHAKE_TIMEOUT));
    /// port.set_handshake_timeout(Some(Duration::from_secs(5)));
    /// port.set_idle_timeout(Some(Duration::from_secs(120)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_handshake_timeout(&self, timeout: Option<Duration>) {
        self.inner.protection().handshake = timeout;
    }

    /// The timeout set by [`set_handshake_timeout`](Self::set_handshake_timeout).
    pub fn handshake_timeout(&self) -> Option<Duration> {
        self.inner.protection().handshake
    }

    /// Gives every connection the port accepts this idle timeout: one on which no byte
    /// moves for `timeout` is ended (see [`SslFile::set_idle_timeout`]). Default: `None`.
    pub fn set_idle_timeout(&self, timeout: Option<Duration>) {
        self.inner.protection().idle = timeout;
    }

    /// The timeout set by [`set_idle_timeout`](Self::set_idle_timeout).
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.inner.protection().idle
    }

    /// Serves clients that do not speak TLS another way: instead of a fatal alert, their
    /// transport and the bytes they sent go to `fallback` (on the backend in
    /// [`listen`](Self::listen); in [`accept`](Self::accept), before it returns the
    /// handshake's error). `None`: such clients are closed (the default).
    ///
    /// ```
    /// use std::io::Write;
    /// use std::sync::Arc;
    /// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// # let ctx = sslfile::Context::builder()
    /// #     .certificate_chain_pem(cert.cert.pem().as_bytes(), cert.key_pair.serialize_pem().as_bytes())?
    /// #     .build()?;
    /// let port = sslfile::Port::bind("127.0.0.1:0", &ctx)?;
    /// port.set_plaintext_fallback(Some(Arc::new(|plain: sslfile::File, request: Vec<u8>| {
    ///     if request.starts_with(b"GET ") {
    ///         let _ = (&plain).write_all(b"HTTP/1.1 400 Bad Request\r\n\r\nuse https://\n");
    ///     }
    /// })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_plaintext_fallback(&self, fallback: Option<PlaintextFallback>) {
        *self
            .inner
            .fallback
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = fallback;
    }

    /// Waits for a client and completes the TLS handshake with it (blocking). The
    /// connection comes back in blocking mode.
    ///
    /// # Errors
    /// The listener's errors, or the handshake's (the failed connection is dropped, or given
    /// to the [plaintext fallback](Self::set_plaintext_fallback); call `accept` again for the
    /// next client).
    pub fn accept(&self) -> Result<SslFile, Error> {
        let timeout = *self.inner.timeout.lock().unwrap_or_else(|e| e.into_inner());
        let socket = loop {
            match self.inner.listener.accept() {
                Ok((socket, _)) => break socket,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    wait_fd(self.inner.listener.as_fd(), Interest::READ, None)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        };
        let file = SslFile::new(File::try_from(socket)?, &self.inner.context());
        file.set_blocking();
        file.set_timeout(timeout);
        self.inner.protect(&file);
        let fallback = self.inner.fallback();
        file.set_plaintext_fallback(fallback.is_some());
        if let Err(e) = file.accept() {
            if let (Some(fallback), true) = (fallback, file.is_plaintext_peer()) {
                if let Ok((plain, request)) = file.take_stream() {
                    fallback(plain, request);
                }
            }
            return Err(e);
        }
        Ok(file)
    }

    /// Callback mode: accepts clients on `backend`, runs each handshake there, and calls
    /// `on_accept` with each connection whose handshake completed (in nonblocking mode,
    /// ready for its own callbacks; it may also be dropped at once). Connections whose
    /// handshake fails are closed and forgotten, or given to the
    /// [plaintext fallback](Self::set_plaintext_fallback) if the client does not speak TLS.
    /// Replaces an earlier `listen`.
    pub fn listen(
        &self,
        backend: &Backend,
        on_accept: impl Fn(SslFile) + Send + Sync + 'static,
    ) -> io::Result<()> {
        let on_accept: PortCallback = Arc::new(on_accept);
        let inner = self.inner.clone();
        // Weakly: the backend holds this callback, which must not hold the backend.
        let file_backend = backend.downgrade();
        let watch = backend.watch(
            self.inner.listener.clone(),
            Some(Interest::READ),
            Arc::new(move |_| {
                if let Some(backend) = file_backend.upgrade() {
                    inner.accept_ready(&backend, &on_accept);
                }
            }),
        )?;
        let old = self
            .watch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(watch);
        drop(old);
        backend.wake();
        Ok(())
    }

    /// Stops a [`listen`](Self::listen); connections already accepted go on.
    pub fn stop_listening(&self) {
        let old = self.watch.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(old);
    }
}

impl PortInner {
    /// The context for a connection accepted now.
    fn context(&self) -> Context {
        self.ctx.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn fallback(&self) -> Option<PlaintextFallback> {
        self.fallback
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn protection(&self) -> std::sync::MutexGuard<'_, Protection> {
        self.protection.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives a new connection the port's timeouts.
    fn protect(&self, file: &SslFile) {
        let protection = *self.protection();
        file.set_handshake_timeout(protection.handshake);
        file.set_idle_timeout(protection.idle);
    }

    /// The listener is readable: take the waiting clients (a bounded number per round).
    fn accept_ready(&self, backend: &Backend, on_accept: &PortCallback) {
        for _ in 0..64 {
            let socket = match self.listener.accept() {
                Ok((socket, _)) => socket,
                Err(_) => return, // WouldBlock, or a client that left before accept
            };
            let Ok(file) = File::try_from(socket) else {
                continue;
            };
            let conn = SslFile::new(file, &self.context());
            conn.set_backend(backend);
            self.protect(&conn);
            let on_accept = on_accept.clone();
            conn.set_accept_callback(Some(Arc::new(move |f: &SslFile| on_accept(f.handle()))));
            if let Some(fallback) = self.fallback() {
                conn.set_alert_callback(Some(Arc::new(move |f: &SslFile, _e, _sent| {
                    if let Ok((plain, request)) = f.take_stream() {
                        fallback(plain, request);
                    }
                })));
            }
            // Nonblocking: the handshake runs in the backend; a failure ends the file.
            let _ = conn.accept();
        }
    }
}
