//! # sslfile — a TLS connection with the interface of a plain file or socket
//!
//! The Rust version of Pike's `SSL.sslfile` / `SSL.File`, built on rustls 0.23: one object,
//! [`SslFile`], over any open stream (TCP, Unix socket, socket pair, even another
//! `SslFile`), that works in **blocking** and **nonblocking** mode, switchable at any time,
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
//! | event | `read` | `write` | `is_open()` |
//! |---|---|---|---|
//! | peer sent close_notify | buffered data, then `Ok(0)` (repeatably) | `BrokenPipe` | `Closed` once the data is read |
//! | peer closed the transport without close_notify | buffered data, then `BrokenPipe` (EPIPE) | `BrokenPipe` | `Closed` |
//! | peer sent a fatal alert | `ConnectionReset` | `ConnectionReset` | `Closed` |
//! | we rejected bad input (and sent a fatal alert) | `InvalidData` | `InvalidData` | `Closed` |
//! | local [`close`](SslFile::close) | buffered data, then `NotConnected` | `NotConnected` | `Closed` |
//!
//! [`SslFile::close_clean`] exchanges close_notify in both directions and keeps the
//! transport, which [`SslFile::into_stream`] then returns (plaintext after TLS).
//! Dropping an open `SslFile` sends close_notify without blocking and closes the
//! transport; nothing refers back to the file, so it is freed at once. An explicit
//! `close()` is still the reliable way: it waits (in blocking mode) until close_notify left.
//!
//! ## Pike names and ours
//!
//! | Pike `SSL.File` / `SSL.sslfile` | sslfile |
//! |---|---|
//! | `create(stream, ctx, is_client, is_blocking, min, max)` | [`SslFile::create`] with [`Options`] |
//! | `SSL.File(stream, ctx)` | [`SslFile::new`] |
//! | `connect(server_name, session)` | [`SslFile::connect`] (sessions resume automatically from the context's cache) |
//! | `accept(pending_data)` | [`SslFile::accept`], [`SslFile::accept_with`] |
//! | `read(n)`, `read()`, `read(n, 1)` | [`Read::read_exact`](std::io::Read::read_exact), [`Read::read_to_end`](std::io::Read::read_to_end), [`Read::read`](std::io::Read::read) |
//! | `write(data)` | [`Write::write`](std::io::Write::write) / [`Write::write_all`](std::io::Write::write_all) |
//! | `close()` | [`SslFile::close`] |
//! | `close(0, 1)` (clean close) | [`SslFile::close_clean`] |
//! | `close("w")` | [`SslFile::shutdown`]`(Shutdown::Write)` |
//! | `shutdown()` | [`SslFile::into_stream`] |
//! | `destroy()` | `Drop` |
//! | `set_blocking()`, `set_nonblocking()` | [`SslFile::set_blocking`], [`SslFile::set_nonblocking`] |
//! | `is_open()` | [`SslFile::is_open`] → [`OpenState`] |
//! | `errno()` | [`SslFile::errno`] → [`Error`] (with [`Error::raw_os_error`]) |
//! | `linger(seconds)` | [`SslFile::linger`] |
//! | `renegotiate()` | [`SslFile::renegotiate`] (TLS 1.3 key update; TLS 1.2: refused) |
//! | `next_protocol` | [`SslFile::next_protocol`] / [`SslFile::alpn_protocol`] |
//! | `get_peer_certificates()` | [`SslFile::peer_certificates`] |
//! | `query_address(0/1)` | [`SslFile::peer_addr`], [`SslFile::local_addr`] |
//! | `query_version()`, `query_suite()` | [`SslFile::protocol_version`], [`SslFile::cipher_suite`] |
//! | `query_stream()` | [`SslFile::stream`] |
//! | `set_id(id)`, `query_id()` | not needed: a closure captures what it needs |
//! | `SSL.Context` | [`Context`], [`ContextBuilder`] |
//! | `Stdio.File` | [`File`] ([`File::pipe`], [`File::connect`]) and the [`Stream`] trait |
//! | `SSL.Constants.ProtocolVersion` | [`TlsVersion`] (SSL 3.0 – TLS 1.1 refused) |

#![deny(unsafe_code)] // one exception: registering a descriptor with `polling` (backend/watch.rs)
#![deny(missing_docs)]

mod backend;
mod context;
mod describe;
mod engine;
mod error;
mod file;
mod file_callbacks;
mod framing;
mod port;
mod ssl_file;
mod stream;
mod sys;
mod verifier;
mod version;

pub use backend::{Backend, CallOut, ReadyFn, Watch, WatchSource};
pub use context::{Context, ContextBuilder};
pub use error::Error;
pub use file::File;
pub use file_callbacks::{FileCloseCallback, FileReadCallback, FileWriteCallback};
pub use port::{Port, PortCallback};
pub use ssl_file::live_connections;
pub use ssl_file::{
    AcceptCallback, AlertCallback, Callbacks, CloseCallback, OpenState, Options, ReadCallback,
    SslFile, WriteCallback,
};
pub use stream::{Addr, Interest, SavedCallbacks, Stream};
pub use version::TlsVersion;

/// The rustls types that appear in this crate's API.
pub use rustls::{AlertDescription, CipherSuite};
