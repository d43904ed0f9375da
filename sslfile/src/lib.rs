//! # sslfile — a TLS connection with the interface of a plain file or socket
//!
//! The Rust version of Pike's `SSL.sslfile` / `SSL.File`, built on rustls 0.23: one object,
//! [`SslFile`], over any open stream (TCP, Unix socket, socket pair, even another
//! `SslFile`), that works in **blocking** and **nonblocking** mode, switchable at any time,
//! and in **callback mode** on an event loop ([`Backend`]) — also next to blocking calls —
//! with exact close semantics: a clean `close_notify` reads as end of stream (`Ok(0)`),
//! a truncated connection as `EPIPE` ([`io::ErrorKind::BrokenPipe`](std::io::ErrorKind)),
//! and a handshake failure is never lost.
//!
//! ```
//! use std::io::{Read, Write};
//! use sslfile::{Context, File, SslFile};
//!
//! // A server certificate made on the spot, and a client that trusts it.
//! let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
//! let (cert_pem, key_pem) = (cert.cert.pem(), cert.key_pair.serialize_pem());
//! let server_ctx = Context::builder()
//!     .certificate_chain_pem(cert_pem.as_bytes(), key_pem.as_bytes())?
//!     .build()?;
//! let client_ctx = Context::builder().trust_pem(cert_pem.as_bytes())?.build()?;
//!
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server = std::thread::spawn(move || -> Result<(), sslfile::Error> {
//!     let (socket, _) = listener.accept()?;
//!     let mut tls = SslFile::server(File::try_from(socket)?, &server_ctx)?;
//!     let mut line = [0u8; 5];
//!     tls.read_exact(&mut line)?;
//!     tls.write_all(&line)?; // echo
//!     tls.close()
//! });
//!
//! let mut tls = SslFile::client(File::connect(addr)?, &client_ctx, "localhost")?;
//! tls.write_all(b"hello")?;
//! let mut echo = Vec::new();
//! tls.read_to_end(&mut echo)?; // Ok(0) after the server's close_notify
//! assert_eq!(echo, b"hello");
//! server.join().unwrap()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Modes
//!
//! | mode | `read` | `write` | handshake |
//! |---|---|---|---|
//! | blocking ([`SslFile::set_blocking`]) | waits for ≥ 1 byte, end of stream or an error (bounded by [`SslFile::set_timeout`]) | returns when all is encrypted and sent | completes inside `connect`/`accept`/`create` |
//! | nonblocking ([`SslFile::set_nonblocking`]) | buffered plaintext or `WouldBlock` | what fits in 64 KiB of pending output, or `WouldBlock` | advances with each `read`/`write`; its failure is returned by the next one |
//! | callback ([`SslFile::set_nonblocking_callbacks`], [`SslFile::set_callbacks`]) | the read callback gets all plaintext as it arrives | from the write callback, called while more can be written | runs in the backend; the accept callback fires when it completes, the close callback with its failure |
//!
//! ## Callback mode
//!
//! Callbacks run on a [`Backend`] (the file's, set with [`SslFile::set_backend`], else the
//! process's default backend, which runs in a thread of its own). Each callback receives
//! the file, so it never needs to capture it:
//!
//! ```
//! use std::io::Write;
//! use std::sync::Arc;
//! use sslfile::{Backend, Callbacks, Context, File, SslFile};
//!
//! let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
//! let server_ctx = Context::builder()
//!     .certificate_chain_pem(cert.cert.pem().as_bytes(), cert.key_pair.serialize_pem().as_bytes())?
//!     .build()?;
//! let client_ctx = Context::builder().trust_pem(cert.cert.pem().as_bytes())?.build()?;
//! let backend = Backend::new()?;
//! let (a, b) = File::pipe()?;
//!
//! // An echo server in callback mode; its handle can be dropped: the backend keeps it.
//! let server = SslFile::new(b, &server_ctx);
//! server.set_backend(&backend);
//! server.set_callbacks(Callbacks {
//!     read: Some(Arc::new(|f: &SslFile, data: &[u8]| { let _ = (&*f).write_all(data); })),
//!     ..Default::default()
//! });
//! server.accept()?;
//! drop(server);
//!
//! // A client in callback mode on the same backend: says hello, stops at the echo.
//! let client = SslFile::new(a, &client_ctx);
//! client.set_backend(&backend);
//! let stopper = backend.clone();
//! client.set_callbacks(Callbacks {
//!     accept: Some(Arc::new(|f: &SslFile| { let _ = (&*f).write_all(b"hello"); })),
//!     read: Some(Arc::new(move |f: &SslFile, echo: &[u8]| {
//!         assert_eq!(echo, b"hello");
//!         f.close().unwrap();
//!         stopper.stop();
//!     })),
//!     ..Default::default()
//! });
//! client.connect("localhost")?;
//! backend.run()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Rules: the read callback gets all buffered plaintext; the close callback fires
//! once, after all data was delivered (`None` for close_notify, else why); the accept
//! callback once per handshake; the write callback never during the handshake, then for as
//! long as it is installed and more can be written (level-triggered: remove it when done).
//! No lock is held while a callback runs, so callbacks may call any method of their file.
//! While a file has callbacks its backend keeps it alive; once the connection ends or the
//! callbacks are cleared, the backend lets go and the file is freed at once. While plaintext
//! waits to be read, the file stops reading its transport (backpressure).
//!
//! Reads and writes may each read and write the transport (handshake, alerts,
//! close_notify): the caller never needs to know. `Read` and `Write` are implemented for
//! `&SslFile`, so one thread can block in `read` while another blocks in `write`: no lock
//! is held while a thread waits.
//!
//! ## Data flow
//!
//! ```text
//!              user: Read / Write / close / close_clean / into_stream
//!     ─────────────────────────┬───────────────────────────────────────
//!     driver (ssl_file)        │ blocking: step until done, else wait for readiness
//!                              │ nonblocking: one step, else WouldBlock
//!     ─────────────────────────┴───────────────────────────────────────
//!     engine: rustls connection + close state + sticky error (no I/O of its own)
//!     ─────────────────────────────────────────────────────────────────
//!     transport: Stream (File over a socket, or another SslFile), nonblocking underneath
//! ```
//!
//! ## Closing
//!
//! | event | `read` | `write` | close callback | `is_open()` |
//! |---|---|---|---|---|
//! | peer sent close_notify | buffered data, then `Ok(0)` (repeatably) | TLS 1.3: works until our own `close`/`shutdown(Write)` (a half-close, RFC 8446 §6.1); TLS 1.2: `BrokenPipe` (we answer at once, RFC 5246 §7.2.1) | `None` | `Closed` once the data is read (TLS 1.3: and our side closed) |
//! | peer went away without close_notify: closed, reset or killed, also during the handshake | buffered data, then `BrokenPipe` (EPIPE; the kernel's error as source) | `BrokenPipe` | `BrokenPipe` | `Closed` |
//! | peer sent a fatal alert | `ConnectionReset` | `ConnectionReset` | `ConnectionReset` | `Closed` |
//! | we rejected bad input (and sent a fatal alert) | `InvalidData` | `InvalidData` | `ConnectionAborted` | `Closed` |
//! | local [`close`](SslFile::close) | buffered data, then `NotConnected` | `NotConnected` | not called | `Closed` |
//!
//! Every close we start is a *lingering* close: close_notify (or our fatal alert) goes out
//! behind all pending data, the write side is shut, and the transport is closed only once the
//! peer has closed its end (or a few seconds passed), reading and discarding what it still
//! sends meanwhile. Closing a socket with unread input makes the kernel reset the
//! connection, and a reset destroys what the peer has not read yet: a TLS 1.3 client that
//! uploads and closes without reading the server's session tickets would lose the end of
//! its upload. A blocking `close` returns once the peer has acknowledged everything; the
//! rest, like a nonblocking `close` or a drop, finishes on the backend
//! ([`Backend::run_until_closed`] waits for it). `linger(Some(Duration::ZERO))` resets at once.
//!
//! [`SslFile::close_clean`] exchanges close_notify in both directions and keeps the
//! transport, which [`SslFile::into_stream`] then returns (plaintext after TLS), with the
//! bytes that came after the peer's close_notify still to be read.
//! Dropping an open `SslFile` closes it as a nonblocking `close` does; nothing refers back
//! to the file, so it is freed at once (the transport and the TLS state finish closing on
//! the backend). An explicit `close()` is still the reliable way: in blocking mode it waits
//! until the peer has what was written.
//!
//! ## Configuration: the [`Context`]
//!
//! A [`Context`] is built once and shared (cheap to clone, `Send + Sync`, usable as client
//! and server at the same time). It holds:
//!
//! * **Certificates**: several chains (RSA, ECDSA, Ed25519) from PEM files, PEM bytes or DER,
//!   chosen by the client's SNI; the first is the default, served to clients that send no
//!   SNI. Bad input gives an error naming the file and the problem (wrong key, expired
//!   certificate, encrypted key, empty file…). A server may choose its chain per
//!   connection ([`ContextBuilder::certificate_resolver`]); [`Context::reload`] reads the
//!   files again (a renewed certificate) and [`Port::set_context`] puts the result in
//!   service for new connections.
//! * **Trust**: PEM bundles or directories, the bundled web roots (the default), the system
//!   store; verification is always on unless a `danger_` option turns part of it off.
//!   Certificate revocation lists in both roles ([`ContextBuilder::trust_crl_pem_file`]);
//!   the chain as verified in [`SslFile::verified_chain`]. Servers staple an OCSP response
//!   ([`ContextBuilder::ocsp_response_file`]); clients get it, unchecked, from
//!   [`SslFile::ocsp_response`].
//! * **Client certificates**: [`ClientAuth::None`], [`ClientAuth::Optional`] or
//!   [`ClientAuth::Required`] on a server, with the client's chain in
//!   [`SslFile::peer_certificates`]; a client presents its chain when asked.
//! * **Resumption**, on by default: a client resumes when it reconnects with the same
//!   context, or with a [`Session`] passed back as in Pike; servers keep a session cache and
//!   issue tickets. [`SslFile::handshake_kind`] / [`SslFile::is_resumed`] tell what happened.
//! * **Protocol**: version range, cipher suites, key-exchange groups (X25519MLKEM768, a
//!   post-quantum hybrid, preferred by default), ALPN, record size limit.
//! * **Early data** (TLS 1.3 0-RTT), off by default: [`ContextBuilder::early_data`], then
//!   [`SslFile::set_early_data`] on a client and, per connection, the server's opt-in
//!   [`SslFile::set_accept_early_data`] (early data can be replayed; see there).
//! * **Buffers**: [`ContextBuilder::pending_output_limit`] (what a nonblocking write
//!   buffers) and [`ContextBuilder::held_plaintext_limit`] (what a clean close sets aside).
//! * **Debugging**: key logs for Wireshark ([`ContextBuilder::key_log_file`],
//!   [`ContextBuilder::key_log_from_env`] for `SSLKEYLOGFILE`);
//!   [`SslFile::export_keying_material`] for channel binding.
//!
//! ```
//! use sslfile::{ClientAuth, Context, HandshakeKind};
//! # let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
//! # let (cert_pem, key_pem) = (ca.cert.pem(), ca.key_pair.serialize_pem());
//! // One context for both ends of a mutually authenticated connection.
//! let ctx = Context::builder()
//!     .certificate_chain_pem(cert_pem.as_bytes(), key_pem.as_bytes())?
//!     .trust_pem(cert_pem.as_bytes())?
//!     .client_auth(ClientAuth::Required)
//!     .build()?;
//! for expected in [HandshakeKind::Full, HandshakeKind::Resumed] {
//!     let (a, b) = sslfile::File::pipe()?;
//!     let server_ctx = ctx.clone();
//!     let server = std::thread::spawn(move || -> Result<_, sslfile::Error> {
//!         let tls = sslfile::SslFile::server(b, &server_ctx)?;
//!         std::io::Write::write_all(&mut &tls, b"hi")?;
//!         tls.close()?;
//!         Ok(tls.peer_certificates().map(|chain| chain.len()))
//!     });
//!     let tls = sslfile::SslFile::client(a, &ctx, "localhost")?;
//!     std::io::Read::read_to_end(&mut &tls, &mut Vec::new())?;
//!     assert_eq!(tls.handshake_kind(), Some(expected));
//!     assert_eq!(server.join().unwrap()?, Some(1)); // the client's certificate
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Timeouts
//!
//! | timeout | bounds | on expiry |
//! |---|---|---|
//! | [`SslFile::set_timeout`] | each blocking call (handshake, read, write, flush, close) | that call returns `TimedOut`; nothing is lost, it can be retried |
//! | [`SslFile::set_handshake_timeout`] | the whole handshake, in every mode | the connection ends with `TimedOut` (callback mode: the close callback reports it) |
//! | [`SslFile::set_idle_timeout`] | a connection on which no byte moves | the connection ends with `TimedOut` |
//! | [`Port::set_handshake_timeout`], [`Port::set_idle_timeout`] | the same, for every connection a [`Port`] accepts | (the handshake timeout defaults to 30 s) |
//!
//! The last three protect a server from clients that hold connections without using them,
//! such as slowloris clients that send their ClientHello a byte at a time: in callback mode
//! a call_out on the backend ends such a connection even if the peer never sends another
//! byte.
//!
//! ## Pike names and ours
//!
//! | Pike `SSL.File` / `SSL.sslfile` | sslfile |
//! |---|---|
//! | `create(stream, ctx, is_client, is_blocking, min, max)` | [`SslFile::create`] with [`Options`] |
//! | `SSL.File(stream, ctx)` | [`SslFile::new`] |
//! | `connect(server_name)` | [`SslFile::connect`] (resumes automatically from the context's client cache) |
//! | `connect(server_name, session)`, its returned `SSL.Session` | [`SslFile::connect_with_session`], [`SslFile::session`] → [`Session`] |
//! | (whether the handshake resumed) | [`SslFile::handshake_kind`] → [`HandshakeKind`], [`SslFile::is_resumed`] |
//! | `accept(pending_data)` | [`SslFile::accept`], [`SslFile::accept_with`] |
//! | `read(n)`, `read()`, `read(n, 1)` | [`Read::read_exact`](std::io::Read::read_exact), [`Read::read_to_end`](std::io::Read::read_to_end), [`Read::read`](std::io::Read::read) |
//! | `write(data)` | [`Write::write`](std::io::Write::write) / [`Write::write_all`](std::io::Write::write_all) |
//! | `close()` | [`SslFile::close`] |
//! | `close(0, 1)` (clean close) | [`SslFile::close_clean`] |
//! | `close("w")` | [`SslFile::shutdown`]`(Shutdown::Write)` |
//! | `shutdown()` | [`SslFile::into_stream`], [`SslFile::take_stream`] |
//! | `destroy()` | `Drop` |
//! | `set_blocking()`, `set_nonblocking()` | [`SslFile::set_blocking`], [`SslFile::set_nonblocking`] |
//! | `is_open()` | [`SslFile::is_open`] → [`OpenState`] |
//! | `errno()` | [`SslFile::errno`] → [`Error`] (with [`Error::raw_os_error`]) |
//! | `linger(seconds)` | [`SslFile::linger`] |
//! | `renegotiate()` | [`SslFile::renegotiate`] (TLS 1.3 key update; TLS 1.2: refused) |
//! | `next_protocol` | [`SslFile::alpn_protocol`] (`next_protocol` finds it in the docs' search) |
//! | `get_peer_certificates()` | [`SslFile::peer_certificates`] |
//! | `query_address(0/1)` | [`SslFile::peer_addr`], [`SslFile::local_addr`] |
//! | `query_version()`, `query_suite()` | [`SslFile::protocol_version`], [`SslFile::cipher_suite`] |
//! | `query_stream()` | [`SslFile::stream`] |
//! | `set_read_callback`, `set_write_callback`, `set_close_callback`, `set_accept_callback`, `set_alert_callback` | the same names, taking `Option<Arc<dyn Fn>>` |
//! | `query_read_callback()` etc., `query_callbacks()` | [`SslFile::read_callback`] etc., [`SslFile::callbacks`] |
//! | `set_callbacks(...)` | [`SslFile::set_callbacks`] with [`Callbacks`] |
//! | `set_nonblocking(read, write, close)` | [`SslFile::set_nonblocking_callbacks`] |
//! | `set_nonblocking_keep_callbacks()`, `set_blocking_keep_callbacks()` | the same names |
//! | `set_backend(b)`, `query_backend()` | [`SslFile::set_backend`], [`SslFile::backend`] |
//! | `Pike.Backend`, `call_out`, `remove_call_out` | [`Backend`], [`Backend::call_out`], [`Backend::remove_call_out`] |
//! | `SSL.Port` (`bind`, `accept`, accept callback) | [`Port`] ([`Port::bind`], [`Port::accept`], [`Port::listen`]) |
//! | `set_id(id)`, `query_id()` | not needed: a closure captures what it needs, and each callback receives its file (no cycle through the id) |
//! | `SSL.Context` | [`Context`], [`ContextBuilder`] |
//! | `ctx->add_cert(key, certs)` (several; `find_cert_domain` by SNI) | [`ContextBuilder::certificate_chain_pem_files`], [`certificate_chain_pem`](ContextBuilder::certificate_chain_pem), [`certificate_chain_der`](ContextBuilder::certificate_chain_der) (chosen by SNI; the first is the default) |
//! | `ctx->set_trusted_issuers(...)`, `ctx->verify_certificates`, `ctx->require_trust` | [`ContextBuilder::trust_pem`], [`trust_pem_file`](ContextBuilder::trust_pem_file), [`trust_pem_dir`](ContextBuilder::trust_pem_dir), [`trust_der`](ContextBuilder::trust_der), [`trust_web_roots`](ContextBuilder::trust_web_roots), [`trust_system_roots`](ContextBuilder::trust_system_roots); verification always on, except [`danger_accept_invalid_certs`](ContextBuilder::danger_accept_invalid_certs) / [`danger_accept_invalid_hostnames`](ContextBuilder::danger_accept_invalid_hostnames) |
//! | `ctx->auth_level` (`AUTHLEVEL_none` / `_ask` / `_require`) | [`ContextBuilder::client_auth`] with [`ClientAuth::None`] / [`Optional`](ClientAuth::Optional) / [`Required`](ClientAuth::Required) |
//! | `ctx->set_authorities(...)` | [`ContextBuilder::client_ca_pem`], [`client_ca_pem_file`](ContextBuilder::client_ca_pem_file) (default: the trust anchors) |
//! | (client side: `find_cert_issuer`) | the context's first chain issued by a CA the server names (none if none is); the default chain if it names none |
//! | `ctx->preferred_suites`, `get_suites()` | [`ContextBuilder::cipher_suites`] ([`CipherSuite`]), [`Context::cipher_suites`] |
//! | `ctx->ecc_curves`, `ctx->ffdhe_groups` | [`ContextBuilder::kx_groups`] ([`NamedGroup`]); [`SslFile::key_exchange_group`] |
//! | `ctx->packet_max_size` | [`ContextBuilder::record_size_limit`] |
//! | `ctx->min_version`, `ctx->max_version` | [`ContextBuilder::versions`] |
//! | `ctx->advertised_protocols` | [`ContextBuilder::alpn_protocols`] |
//! | `ctx->use_cache`, `ctx->max_sessions` (and tickets) | [`ContextBuilder::client_session_cache`], [`server_session_cache`](ContextBuilder::server_session_cache), [`session_tickets`](ContextBuilder::session_tickets) (0 / false turn them off); `session_lifetime`: rustls's (ticket keys rotate every 6 hours) |
//! | `SSL.Session` | [`Session`] (opaque) |
//! | `Stdio.File` | [`File`] ([`File::pipe`], [`File::connect`]) and the [`Stream`] trait |
//! | `SSL.Constants.ProtocolVersion` | [`TlsVersion`] (SSL 3.0 – TLS 1.1 refused) |

#![deny(unsafe_code)]
// exceptions: registering a descriptor with `polling` (backend/watch.rs) and with tokio (async_io/tokio.rs), SIOCOUTQ (sys.rs)
#![deny(missing_docs)]

#[cfg(any(feature = "tokio", feature = "futures-io"))]
mod async_io;
mod backend;
mod cert_names;
mod context;
mod der;
mod describe;
mod early_data;
mod engine;
mod error;
mod exact_trust;
mod file;
mod framing;
mod interest;
mod io_stream;
mod port;
mod refused;
mod resolver;
mod session;
mod ssl_file;
mod stream;
mod sys;
mod verified_chain;
mod verifier;
mod verifier_delegation;
mod verifier_notes;
mod version;

#[cfg(feature = "futures-io")]
pub use async_io::futures_io;
#[cfg(feature = "tokio")]
pub use async_io::tokio;

pub use backend::{Backend, CallOut, ReadyFn, Watch, WatchSource};
pub use context::{CertifiedChain, ClientAuth, ClientHelloInfo, Context, ContextBuilder, PeerInfo};
pub use early_data::EarlyData;
pub use error::Error;
pub use file::File;
pub use file::{FileCloseCallback, FileReadCallback, FileWriteCallback};
pub use interest::Interest;
pub use io_stream::IoStream;
pub use port::{PlaintextFallback, Port, PortCallback};
pub use session::Session;
pub use ssl_file::live_connections;
pub use ssl_file::{
    AcceptCallback, AlertCallback, Callbacks, CloseCallback, OpenState, Options, Pending,
    ReadCallback, SslFile, StreamRef, WriteCallback,
};
pub use stream::{Addr, Stream, Watchable};
pub use version::TlsVersion;

/// The rustls types that appear in this crate's API.
pub use rustls::{AlertDescription, CipherSuite, HandshakeKind, NamedGroup};

/// The rustls this crate is built on (its types appear in [`Error`] and the introspection
/// methods), so that a user names them without a version of their own to keep in step.
pub use rustls;
