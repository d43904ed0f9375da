//! [`SslFile`]: a TLS connection with the interface of a plain file (Pike's `SSL.File`).

mod callbacks;
mod close;
mod closing;
mod driver;
mod early;
mod lifecycle;
mod polling;
mod stacking;
mod timeouts;
mod transport;

use std::io::{self, IoSlice, Read, Write};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;

use crate::context::Context;
use crate::engine::Engine;
use crate::error::Error;
use crate::file::File;
use crate::session::Session;
use crate::stream::{Addr, Stream};
use crate::version::{TlsVersion, VersionRange};

use driver::{Shared, State};

pub use callbacks::{
    AcceptCallback, AlertCallback, Callbacks, CloseCallback, ReadCallback, WriteCallback,
};
pub use close::OpenState;
pub use polling::Pending;
pub use transport::StreamRef;

/// How many [`SslFile`] connections are alive in this process, counted from creation until
/// they are freed (hidden from the docs: a leak check for tests). For leak checks: it returns to its earlier value once connections have
/// ended and their last handles were dropped.
///
/// ```
/// let before = sslfile::live_connections();
/// let (a, _b) = sslfile::File::pipe()?;
/// let ctx = sslfile::Context::builder().build()?;
/// let file = sslfile::SslFile::new(a, &ctx);
/// assert_eq!(sslfile::live_connections(), before + 1);
/// drop(file);
/// assert_eq!(sslfile::live_connections(), before);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[doc(hidden)]
pub fn live_connections() -> usize {
    driver::LIVE_FILES.load(std::sync::atomic::Ordering::Relaxed)
}

/// A TLS connection over any [`Stream`], usable like a socket.
///
/// * **Blocking mode**: `read` waits for data, `write` for the whole buffer to be sent.
/// * **Nonblocking mode**: `read`/`write` return [`io::ErrorKind::WouldBlock`] instead.
///
/// The mode can be switched at any time ([`set_blocking`](Self::set_blocking),
/// [`set_nonblocking`](Self::set_nonblocking)); no byte is lost or reordered. `Read` and
/// `Write` are implemented for `&SslFile` too, so one thread may read while another writes.
///
/// Dropping an open `SslFile` sends `close_notify` without blocking and closes the
/// transport; call [`close`](Self::close) to be sure the `close_notify` left.
///
/// # Examples
///
/// A client and a server over a socket pair, both blocking:
///
/// ```
/// use std::io::{Read, Write};
/// use sslfile::{Context, File, SslFile};
///
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// let server_ctx = Context::builder()
///     .certificate_chain_pem(cert.cert.pem().as_bytes(), cert.key_pair.serialize_pem().as_bytes())?
///     .build()?;
/// let client_ctx = Context::builder().trust_pem(cert.cert.pem().as_bytes())?.build()?;
///
/// let (a, b) = File::pipe()?;
/// let server = std::thread::spawn(move || -> Result<Vec<u8>, sslfile::Error> {
///     let mut tls = SslFile::server(b, &server_ctx)?;
///     let mut request = Vec::new();
///     tls.read_to_end(&mut request)?; // until the client's close_notify
///     Ok(request)
/// });
/// let mut tls = SslFile::client(a, &client_ctx, "localhost")?;
/// tls.write_all(b"hello")?;
/// tls.close()?;
/// assert_eq!(server.join().unwrap()?, b"hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SslFile<S: Stream + 'static = File> {
    shared: Arc<Shared<S>>,
}

/// The arguments of Pike's `create(stream, ctx, is_client, is_blocking, min_version,
/// max_version)`, for [`SslFile::create`]: a server in nonblocking mode with the context's
/// versions unless the builder methods say otherwise.
///
/// ```
/// use sslfile::{Options, TlsVersion};
/// let options = Options::new()
///     .client("example.com")
///     .blocking(true)
///     .versions(TlsVersion::Tls1_3, TlsVersion::Tls1_3);
/// assert!(options.is_client && options.is_blocking);
/// assert!(!Options::new().is_blocking); // nonblocking by default, as in Pike
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Options {
    /// Start a client connection (else a server connection).
    pub is_client: bool,
    /// Start in blocking mode (the handshake then completes inside `create`).
    pub is_blocking: bool,
    /// The lowest version to accept; `None`: the context's (TLS 1.2 by default).
    pub min_version: Option<TlsVersion>,
    /// The highest version to offer; `None`: the context's (TLS 1.3 by default).
    pub max_version: Option<TlsVersion>,
    /// For a client: the name to send (SNI) and verify. `None`: the peer's IP address,
    /// verified against the certificate's IP addresses, and no SNI sent.
    pub server_name: Option<String>,
}

impl Options {
    /// A server, nonblocking, with the context's versions.
    pub fn new() -> Options {
        Options::default()
    }

    /// A client that connects to `server_name` (sent as SNI unless it is an IP address).
    pub fn client(mut self, server_name: impl Into<String>) -> Options {
        self.is_client = true;
        self.server_name = Some(server_name.into());
        self
    }

    /// A client that verifies the peer's IP address and sends no SNI.
    pub fn client_by_ip(mut self) -> Options {
        self.is_client = true;
        self.server_name = None;
        self
    }

    /// Blocking mode (the handshake then completes inside `create`), or not.
    pub fn blocking(mut self, blocking: bool) -> Options {
        self.is_blocking = blocking;
        self
    }

    /// The version range, instead of the context's.
    pub fn versions(mut self, min: TlsVersion, max: TlsVersion) -> Options {
        self.min_version = Some(min);
        self.max_version = Some(max);
        self
    }
}

impl<S: Stream + 'static> SslFile<S> {
    /// Wraps `stream` without starting TLS (Pike 8's `SSL.File(stream, ctx)`); the file
    /// starts in nonblocking mode. Call [`connect`](Self::connect) or
    /// [`accept`](Self::accept) next, after [`set_blocking`](Self::set_blocking) for a
    /// handshake that blocks.
    ///
    /// The file starts with the stream's timeout (a [`File`]'s
    /// [`set_timeout`](File::set_timeout)) and the context's
    /// [handshake timeout](crate::ContextBuilder::handshake_timeout) (30 s by default).
    pub fn new(stream: S, ctx: &Context) -> SslFile<S> {
        SslFile::with_state(
            stream,
            State::new(ctx.clone(), ctx.default_versions(), false),
        )
    }

    fn with_state(stream: S, mut state: State) -> SslFile<S> {
        state.timeout = stream.timeout();
        SslFile {
            shared: Arc::new(Shared::new(stream, state)),
        }
    }

    /// Pike's `create`: starts a client or server connection over `stream`.
    ///
    /// In blocking mode the handshake completes here and its failure is the error. In
    /// nonblocking mode it proceeds with each `read`/`write`, and a failure is returned by
    /// the next one.
    ///
    /// # Errors
    /// A version range that is empty or includes a refused version, a server context
    /// without certificate, a client without server name over a non-IP transport, or (in
    /// blocking mode) the handshake's failure.
    pub fn create(stream: S, ctx: &Context, options: Options) -> Result<SslFile<S>, Error> {
        let (ctx_min, ctx_max) = ctx.versions();
        let versions = VersionRange::new(
            options.min_version.unwrap_or(ctx_min),
            options.max_version.unwrap_or(ctx_max),
        )?;
        let file = SslFile::with_state(
            stream,
            State::new(ctx.clone(), versions, options.is_blocking),
        );
        if options.is_client {
            let name = match options.server_name {
                Some(name) => name,
                None => file.peer_ip_name()?,
            };
            file.connect(&name)?;
        } else {
            file.accept()?;
        }
        Ok(file)
    }

    /// A connected, blocking client: the handshake with `server_name` (a DNS name or an IP
    /// address, sent as SNI unless it is an IP) is complete when this returns.
    pub fn client(stream: S, ctx: &Context, server_name: &str) -> Result<SslFile<S>, Error> {
        let file = SslFile::new(stream, ctx);
        file.set_blocking();
        file.connect(server_name)?;
        Ok(file)
    }

    /// A connected, blocking server: the handshake is complete when this returns.
    pub fn server(stream: S, ctx: &Context) -> Result<SslFile<S>, Error> {
        let file = SslFile::new(stream, ctx);
        file.set_blocking();
        file.accept()?;
        Ok(file)
    }

    /// Starts the client handshake with `server_name` (Pike 8's `connect`). Blocking mode:
    /// returns when it has completed; nonblocking mode: it proceeds with reads and writes.
    ///
    /// If an earlier connection with the same [`Context`] to the same name left a session
    /// in the context's client cache, it is resumed (see [`is_resumed`](Self::is_resumed)).
    pub fn connect(&self, server_name: &str) -> Result<(), Error> {
        self.start_client(server_name, None)
    }

    /// Starts the client handshake resuming `session` (Pike 8's `connect(server_name,
    /// session)`), from [`session`](Self::session) of an earlier connection. If the server
    /// no longer accepts it, the handshake is a full one: that is not an error (check with
    /// [`is_resumed`](Self::is_resumed)). Only `session` is tried, not the context's cache.
    ///
    /// # Errors
    /// As [`connect`](Self::connect); also a session made for another server name.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use sslfile::{Context, File, SslFile};
    ///
    /// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// let server_ctx = Context::builder()
    ///     .certificate_chain_pem(cert.cert.pem().as_bytes(), cert.key_pair.serialize_pem().as_bytes())?
    ///     .build()?;
    /// // No client cache: the session is passed by hand, as in Pike.
    /// let client_ctx = Context::builder()
    ///     .trust_pem(cert.cert.pem().as_bytes())?
    ///     .client_session_cache(0)
    ///     .build()?;
    ///
    /// let mut session = None;
    /// for round in 0..2 {
    ///     let (a, b) = File::pipe()?;
    ///     let server_ctx = server_ctx.clone();
    ///     let server = std::thread::spawn(move || -> Result<bool, sslfile::Error> {
    ///         let mut tls = SslFile::server(b, &server_ctx)?;
    ///         tls.write_all(b"hi")?; // the client reads the TLS 1.3 tickets with this
    ///         tls.close()?;
    ///         Ok(tls.is_resumed())
    ///     });
    ///     let tls = SslFile::new(a, &client_ctx);
    ///     tls.set_blocking();
    ///     match &session {
    ///         None => tls.connect("localhost")?,
    ///         Some(s) => tls.connect_with_session("localhost", s)?,
    ///     }
    ///     let mut hi = Vec::new();
    ///     (&tls).read_to_end(&mut hi)?;
    ///     assert_eq!(tls.is_resumed(), round == 1);
    ///     assert_eq!(server.join().unwrap()?, round == 1);
    ///     session = tls.session(); // what to pass back next time
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connect_with_session(&self, server_name: &str, session: &Session) -> Result<(), Error> {
        self.start_client(server_name, Some(session))
    }

    fn start_client(&self, server_name: &str, session: Option<&Session>) -> Result<(), Error> {
        self.start(|st| {
            let setup = st.ctx.client_setup(st.versions, server_name, session)?;
            Engine::client(setup, server_name, &st.early_data)
        })
    }

    /// Starts the server handshake (Pike 8's `accept`), like [`connect`](Self::connect).
    pub fn accept(&self) -> Result<(), Error> {
        self.accept_with(&[])
    }

    /// Starts the server handshake with bytes already read from the stream, e.g. the start
    /// of a ClientHello read by a plaintext protocol before STARTTLS.
    pub fn accept_with(&self, pending_data: &[u8]) -> Result<(), Error> {
        self.start(|st| {
            let config = st.ctx.server_config(st.versions)?;
            let mut engine = Engine::server(config, st.ctx.tuning(), st.accept_early_data)?;
            engine.receive_pending(pending_data);
            Ok(engine)
        })
    }

    fn start(&self, make: impl FnOnce(&State) -> Result<Engine, Error>) -> Result<(), Error> {
        let result = (|| {
            {
                let mut st = self.shared.lock();
                if st.engine.is_some() {
                    return Err(Error::Misuse("the TLS handshake was already started"));
                }
                let mut engine = make(&st)?;
                engine.set_quiet_if_not_tls(st.plaintext_fallback);
                st.engine = Some(engine);
                st.protection.handshake_started(std::time::Instant::now());
            }
            // Callbacks installed before the handshake: the backend drives it from now on.
            self.shared.rearm();
            let result = self.shared.handshake();
            self.shared.rearm_if_watching();
            result
        })();
        self.shared.record(result)
    }

    fn peer_ip_name(&self) -> Result<String, Error> {
        match self.shared.transport().peer_addr() {
            Ok(Addr::Inet(addr)) => Ok(match addr.ip() {
                IpAddr::V6(v6) => v6.to_canonical().to_string(),
                ip => ip.to_string(),
            }),
            _ => Err(Error::Config(
                "a client needs a server name to verify: set Options::server_name".into(),
            )),
        }
    }

    // ----- modes -------------------------------------------------------------------------

    /// Blocking mode: reads wait for data, writes until everything is sent. Clears the
    /// callbacks (see [`set_blocking_keep_callbacks`](Self::set_blocking_keep_callbacks)).
    pub fn set_blocking(&self) {
        self.shared.lock().blocking = true;
        self.clear_callbacks();
    }

    /// Nonblocking mode without callbacks: reads and writes return `WouldBlock` instead of
    /// waiting (see [`set_nonblocking_callbacks`](Self::set_nonblocking_callbacks) and
    /// [`set_nonblocking_keep_callbacks`](Self::set_nonblocking_keep_callbacks)).
    pub fn set_nonblocking(&self) {
        self.shared.lock().blocking = false;
        self.clear_callbacks();
    }

    /// True in blocking mode.
    pub fn is_blocking(&self) -> bool {
        self.shared.lock().blocking
    }

    /// Bounds every blocking operation (handshake, read, write, flush, close) by `timeout`;
    /// expiry gives [`Error::TimedOut`] and loses nothing: the operation can be retried.
    pub fn set_timeout(&self, timeout: Option<Duration>) {
        self.shared.lock().timeout = timeout;
    }

    /// The timeout set by [`set_timeout`](Self::set_timeout).
    pub fn timeout(&self) -> Option<Duration> {
        self.shared.lock().timeout
    }

    /// Pushes pending ciphertext to the transport: all of it in blocking mode; in
    /// nonblocking mode what fits, with `WouldBlock` if some remains.
    pub fn flush(&self) -> Result<(), Error> {
        let result = self.shared.flush(None);
        self.shared.rearm_if_watching();
        self.shared.record(result)
    }

    // ----- introspection -----------------------------------------------------------------

    /// The last error any operation returned (Pike's `errno()`), `WouldBlock` included.
    /// [`Error::raw_os_error`] gives the errno number.
    pub fn errno(&self) -> Option<Error> {
        self.shared.lock().last_error.clone()
    }

    /// True while the handshake is in progress (or not yet started).
    pub fn is_handshaking(&self) -> bool {
        self.shared
            .lock()
            .engine
            .as_ref()
            .is_none_or(|e| e.is_handshaking())
    }

    /// The negotiated ALPN protocol (Pike's `next_protocol`).
    #[doc(alias = "next_protocol")]
    pub fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.shared.lock().engine.as_ref()?.alpn_protocol()
    }

    /// The negotiated protocol version.
    pub fn protocol_version(&self) -> Option<TlsVersion> {
        self.shared.lock().engine.as_ref()?.version()
    }

    /// The negotiated cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub fn cipher_suite(&self) -> Option<rustls::CipherSuite> {
        self.shared.lock().engine.as_ref()?.cipher_suite()
    }

    /// Client: the server name we connected to. Server: the name the client asked for (SNI).
    pub fn server_name(&self) -> Option<String> {
        self.shared.lock().engine.as_ref()?.server_name()
    }

    /// The peer's certificate chain, leaf first. On a server, the client's chain if it sent
    /// one (see [`ClientAuth`](crate::ClientAuth)); it was verified against the context's
    /// client CAs.
    pub fn peer_certificates(&self) -> Option<Vec<CertificateDer<'static>>> {
        self.shared.lock().engine.as_ref()?.peer_certificates()
    }

    /// The peer's chain as it was verified: its certificate, the intermediates that lead
    /// to a trust anchor, and the anchor itself, as opposed to
    /// [`peer_certificates`](Self::peer_certificates), what the peer sent (which may lack
    /// the anchor, hold certificates the path did not use, or come in another order). A
    /// certificate trusted exactly (see
    /// [`ContextBuilder::trust_pem`](crate::ContextBuilder::trust_pem)) is a chain of one.
    ///
    /// The anchor is included when the context has it as a certificate (anchors added with
    /// `trust_pem` and friends, `client_ca_pem` and friends, or `trust_system_roots`); the
    /// bundled web roots are kept as a name and key only, so a chain to one of them ends
    /// at the last intermediate.
    ///
    /// On a client's resumed session, rustls does not verify the chain again: this is the
    /// chain verified in the full handshake the session comes from. `None` before the
    /// peer's certificate was verified, when a `danger_` option waived its verification,
    /// on a server that got no client certificate, and on a server's resumed session.
    ///
    /// # Examples
    ///
    /// ```
    /// use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    /// use sslfile::{Context, File, SslFile};
    ///
    /// let ca_key = KeyPair::generate()?;
    /// let mut ca = CertificateParams::new(Vec::<String>::new())?;
    /// ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    /// ca.distinguished_name.push(rcgen::DnType::CommonName, "Example CA");
    /// let ca = ca.self_signed(&ca_key)?;
    /// let key = KeyPair::generate()?;
    /// let leaf = CertificateParams::new(vec!["a.test".into()])?.signed_by(&key, &ca, &ca_key)?;
    ///
    /// let server_ctx = Context::builder()
    ///     .certificate_chain_pem(leaf.pem().as_bytes(), key.serialize_pem().as_bytes())?
    ///     .build()?;
    /// let client_ctx = Context::builder().trust_pem(ca.pem().as_bytes())?.build()?;
    /// let (a, b) = File::pipe()?;
    /// let server = std::thread::spawn(move || SslFile::server(b, &server_ctx).map(|_| ()));
    /// let client = SslFile::client(a, &client_ctx, "a.test")?;
    /// server.join().unwrap()?;
    /// // The server sent its certificate alone; the verified chain ends at the CA.
    /// assert_eq!(client.peer_certificates().unwrap(), vec![leaf.der().clone()]);
    /// assert_eq!(client.verified_chain().unwrap(), vec![leaf.der().clone(), ca.der().clone()]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verified_chain(&self) -> Option<Vec<CertificateDer<'static>>> {
        self.shared.lock().engine.as_ref()?.verified_chain()
    }

    /// Client side: the OCSP response the server stapled to its certificate (DER, RFC 6960
    /// `OCSPResponse`), as it was sent; `None` if it stapled none, on a server, and on a
    /// resumed session (no certificate is sent then, so no response either). A server staples one given with
    /// [`ContextBuilder::ocsp_response_der`](crate::ContextBuilder::ocsp_response_der).
    ///
    /// rustls does not check the response: its signature, its freshness and the status it
    /// gives are for the application to check (with an OCSP library, or in
    /// [`ContextBuilder::verify_peer`](crate::ContextBuilder::verify_peer), which sees it
    /// as [`PeerInfo::ocsp_response`](crate::PeerInfo::ocsp_response)).
    ///
    /// # Examples
    ///
    /// ```
    /// use sslfile::{Context, File, SslFile};
    ///
    /// let made = rcgen::generate_simple_self_signed(vec!["a.test".into()]).unwrap();
    /// // A real response comes from the CA (openssl ocsp -respout); this is the smallest
    /// // OCSPResponse, "successful" without a body.
    /// let response = vec![0x30, 0x03, 0x0a, 0x01, 0x00];
    /// let server_ctx = Context::builder()
    ///     .certificate_chain_pem(made.cert.pem().as_bytes(), made.key_pair.serialize_pem().as_bytes())?
    ///     .ocsp_response_der(response.clone())?
    ///     .build()?;
    /// let client_ctx = Context::builder().trust_pem(made.cert.pem().as_bytes())?.build()?;
    /// let (a, b) = File::pipe()?;
    /// let server = std::thread::spawn(move || SslFile::server(b, &server_ctx).map(|_| ()));
    /// let client = SslFile::client(a, &client_ctx, "a.test")?;
    /// server.join().unwrap()?;
    /// assert_eq!(client.ocsp_response(), Some(response));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ocsp_response(&self) -> Option<Vec<u8>> {
        self.shared.lock().engine.as_ref()?.ocsp_response()
    }

    /// Exports `len` bytes of keying material from the session (RFC 5705; TLS 1.3: RFC 8446
    /// §7.5), bound to `label` and, if given, `context`: the same on both ends of this
    /// connection and nowhere else, for channel binding and for protocols that derive their
    /// own keys from TLS. Both ends must use the same label and context.
    ///
    /// # Errors
    /// [`Error::Misuse`] before the handshake has completed; [`Error::Config`] for a length
    /// or label the protocol refuses.
    ///
    /// # Examples
    ///
    /// ```
    /// use sslfile::{Context, File, SslFile};
    /// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// let server_ctx = Context::builder()
    ///     .certificate_chain_pem(cert.cert.pem().as_bytes(), cert.key_pair.serialize_pem().as_bytes())?
    ///     .build()?;
    /// let client_ctx = Context::builder().trust_pem(cert.cert.pem().as_bytes())?.build()?;
    /// let (a, b) = File::pipe()?;
    /// let server = std::thread::spawn(move || -> Result<Vec<u8>, sslfile::Error> {
    ///     let tls = SslFile::server(b, &server_ctx)?;
    ///     tls.export_keying_material(b"EXPERIMENTAL my-protocol", None, 32)
    /// });
    /// let tls = SslFile::client(a, &client_ctx, "localhost")?;
    /// let ours = tls.export_keying_material(b"EXPERIMENTAL my-protocol", None, 32)?;
    /// assert_eq!(ours, server.join().unwrap()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn export_keying_material(
        &self,
        label: &[u8],
        context: Option<&[u8]>,
        len: usize,
    ) -> Result<Vec<u8>, Error> {
        self.shared
            .lock()
            .engine()?
            .export_keying_material(len, label, context)
    }

    /// The negotiated key-exchange group, e.g. `X25519`.
    pub fn key_exchange_group(&self) -> Option<rustls::NamedGroup> {
        self.shared.lock().engine.as_ref()?.key_exchange_group()
    }

    /// Client: the session to pass to [`connect_with_session`](Self::connect_with_session)
    /// to resume this one later (Pike's return value of `connect`). `None` until the server
    /// issued one: with TLS 1.2 at the end of the handshake, with TLS 1.3 after it (the
    /// tickets arrive with the server's first data, so read before asking). Always `None`
    /// on a server.
    pub fn session(&self) -> Option<Session> {
        self.shared.lock().engine.as_ref()?.session()
    }

    /// What kind of handshake this connection made: [`HandshakeKind::Full`],
    /// [`HandshakeKind::FullWithHelloRetryRequest`] (TLS 1.3, the first key share was not
    /// acceptable) or [`HandshakeKind::Resumed`]. `None` until the handshake has gone far
    /// enough to know.
    ///
    /// [`HandshakeKind::Full`]: crate::HandshakeKind::Full
    /// [`HandshakeKind::FullWithHelloRetryRequest`]: crate::HandshakeKind::FullWithHelloRetryRequest
    /// [`HandshakeKind::Resumed`]: crate::HandshakeKind::Resumed
    pub fn handshake_kind(&self) -> Option<rustls::HandshakeKind> {
        self.shared.lock().engine.as_ref()?.handshake_kind()
    }

    /// True if the handshake resumed an earlier session (on either side).
    pub fn is_resumed(&self) -> bool {
        self.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }

    /// True for a client connection, false for a server (or not started) one.
    pub fn is_client(&self) -> bool {
        self.shared
            .lock()
            .engine
            .as_ref()
            .is_some_and(|e| e.is_client())
    }

    /// The transport's remote address.
    pub fn peer_addr(&self) -> io::Result<Addr> {
        self.shared.transport().peer_addr()
    }

    /// The transport's local address.
    pub fn local_addr(&self) -> io::Result<Addr> {
        self.shared.transport().local_addr()
    }

    /// Borrows the transport; `None` once it was handed over or closed by a drop.
    /// Reading or writing it directly corrupts the TLS stream. While the borrow lasts,
    /// [`take_stream`](Self::take_stream) waits for it.
    pub fn stream(&self) -> Option<StreamRef<'_, S>> {
        self.shared.transport().borrow()
    }
}

impl<S: Stream + 'static> std::fmt::Debug for SslFile<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("SslFile")
            .field("blocking", &st.blocking)
            .field("started", &st.engine.is_some())
            .field("version", &st.engine.as_ref().and_then(|e| e.version()))
            .finish()
    }
}

impl<S: Stream + 'static> Read for &SslFile<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = self.shared.read(buf, None);
        self.shared.rearm_if_watching();
        Ok(self.shared.record(result)?)
    }
}

impl<S: Stream + 'static> Write for &SslFile<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let result = self.shared.write(bufs, None);
        self.shared.rearm_if_watching();
        Ok(self.shared.record(result)?)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(SslFile::flush(self)?)
    }
}

impl<S: Stream + 'static> Read for SslFile<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl<S: Stream + 'static> Write for SslFile<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Write::flush(&mut &*self)
    }
}
