//! The engine: one rustls connection plus the close state and sticky errors around it.
//!
//! This is the only module that calls rustls connection methods, so a rustls upgrade
//! touches one place. It does no I/O of its own: the drivers hand it a reader or a writer
//! for one step at a time, and it reports what it wants next (to read, to write, nothing).
//!
//! Close state, as the drivers see it:
//! * `peer_closed` — the peer's `close_notify` arrived. With TLS 1.2 we answer with ours at
//!   once (as RFC 5246 requires and Pike does), so writes fail with `BrokenPipe`; with
//!   TLS 1.3 it closes the peer's direction only (RFC 8446 §6.1): writes go on until our
//!   own close.
//! * `transport_eof` — the transport ended; without `close_notify` that is truncation.
//! * `error` — a fatal error, reported again by every later call. When we detected it,
//!   rustls has queued the fatal alert and the drivers flush it before giving up.

use std::collections::VecDeque;
use std::io::{self, BufRead, IoSlice, Read, Write};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::{ClientConnection, Connection, HandshakeKind, ServerConfig, ServerConnection};

use crate::cert_names::CertNames;
use crate::context::{ClientSetup, Tuning};
use crate::describe::{tls_error, Circumstances};
use crate::early_data::{EarlyData, EarlyPlan};
use crate::error::Error;
use crate::framing::RecordFraming;
use crate::refused;
use crate::session::{ConnectionSessions, Session};
use crate::verifier_notes::{self, PeerNotes};
use crate::version::TlsVersion;

/// How many of the first received bytes are kept while handshaking: enough to recognise a
/// peer that speaks another protocol and to hand its request to the alert callback.
const FIRST_BYTES_LIMIT: usize = 16 * 1024;

/// Held plaintext above this much memory is released once the user has read it all.
const HELD_CAPACITY_KEPT: usize = 64 * 1024;

/// Key updates we request while the peer sends no application data. Every implementation
/// counts the key updates it receives between two records of data and gives up after 32
/// (rustls, BoringSSL); each of our requests brings one back from the peer, so we stay well
/// below that.
const KEY_UPDATES_WITHOUT_PEER_DATA: u8 = 16;

/// A TLS connection without I/O.
pub(crate) struct Engine {
    conn: Connection,
    server_name: Option<String>,
    /// A client's resumption state: what `session()` returns.
    sessions: Option<Arc<ConnectionSessions>>,
    first_bytes: Vec<u8>,
    /// Ciphertext bytes read from the transport so far.
    received: u64,
    /// The last read from the transport filled all the room rustls offered: the
    /// transport may well hold more.
    last_read_filled: bool,
    framing: RecordFraming,
    exact_records: bool,
    /// The bytes of the last read that lay past the end of the record it completed (at
    /// most a record header: see `FramedReader`).
    overread: Vec<u8>,
    /// Bytes that came after the peer's close_notify in the same read: not TLS, they belong
    /// to whatever the transport carries next (`take_stream`, `into_stream`).
    after_close: Vec<u8>,
    /// Bytes read from the transport past what an aligned read may hand to rustls: the
    /// next reads take them from here before the transport.
    stash: Vec<u8>,
    held: VecDeque<u8>,
    transport_eof: bool,
    /// What the transport said when it ended with an error (a reset) instead of an end of
    /// stream: kept as the cause of the truncation.
    eof_cause: Option<Arc<io::Error>>,
    peer_closed: bool,
    sent_close_notify: bool,
    write_error: Option<Error>,
    error: Option<Error>,
    quiet_if_not_tls: bool,
    /// A key update we requested has not been followed by application data from us yet:
    /// a second request would add nothing (and would count against the peer's limit).
    key_update_unused: bool,
    /// Key updates requested since the peer last sent application data.
    key_updates_since_peer_data: u8,
    /// The context's buffer limits and early-data size.
    tuning: Tuning,
    early: EarlyPlan,
    /// What the verifier noted about the peer: its chain as verified, the stapled OCSP
    /// response.
    peer_notes: PeerNotes,
}

/// What reading plaintext found.
pub(crate) enum Plaintext {
    /// This many bytes were copied (never 0 for a non-empty buffer).
    Data(usize),
    /// The peer closed cleanly and everything was read: end of stream.
    End,
    /// Nothing yet: more ciphertext is needed.
    Pending,
}

impl Engine {
    /// A client connection to `server_name` (a DNS name or an IP address).
    /// `early_data` is the start of the stream, sent as TLS 1.3 early data as far as the
    /// session allows (see `early_data.rs`).
    pub(crate) fn client(
        setup: ClientSetup,
        server_name: &str,
        early_data: &[u8],
    ) -> Result<Engine, Error> {
        let mut conn = ClientConnection::new(setup.config, setup.server_name)
            .map_err(|e| Error::Config(format!("cannot start a TLS client: {e}")))?;
        let early = EarlyPlan::client(&mut conn, early_data, setup.tuning.early_data);
        let mut engine = Engine::new(
            Connection::Client(conn),
            Some(server_name.to_string()),
            setup.tuning,
        );
        engine.sessions = Some(setup.sessions);
        engine.early = early;
        Ok(engine)
    }

    /// A server connection; it takes TLS 1.3 early data only if `accept_early_data`.
    pub(crate) fn server(
        config: Arc<ServerConfig>,
        tuning: Tuning,
        accept_early_data: bool,
    ) -> Result<Engine, Error> {
        let mut conn = ServerConnection::new(config)
            .map_err(|e| Error::Config(format!("cannot start a TLS server: {e}")))?;
        let early = EarlyPlan::server(&mut conn, accept_early_data, tuning.early_data);
        let mut engine = Engine::new(Connection::Server(conn), None, tuning);
        engine.early = early;
        Ok(engine)
    }

    fn new(mut conn: Connection, server_name: Option<String>, tuning: Tuning) -> Engine {
        conn.set_buffer_limit(Some(tuning.pending_output));
        Engine {
            conn,
            server_name,
            sessions: None,
            first_bytes: Vec::new(),
            received: 0,
            last_read_filled: false,
            framing: RecordFraming::default(),
            exact_records: false,
            overread: Vec::new(),
            after_close: Vec::new(),
            stash: Vec::new(),
            held: VecDeque::new(),
            transport_eof: false,
            eof_cause: None,
            peer_closed: false,
            sent_close_notify: false,
            write_error: None,
            error: None,
            quiet_if_not_tls: false,
            key_update_unused: false,
            key_updates_since_peer_data: 0,
            tuning,
            early: EarlyPlan::Off,
            peer_notes: PeerNotes::default(),
        }
    }

    /// What became of early data on this connection.
    pub(crate) fn early_data(&self) -> EarlyData {
        self.early.outcome(self.conn.is_handshaking())
    }

    // ----- input -------------------------------------------------------------------------

    /// True if the driver should read ciphertext from the transport now.
    ///
    /// rustls does not ask for input during the handshake while it has output to send.
    /// Over a transport whose buffers cannot hold a handshake flight, both peers would then
    /// wait for each other to read: we read anyway (the handshake buffers are bounded by
    /// rustls; plaintext backpressure is unaffected, there is none before the handshake).
    pub(crate) fn wants_read(&self) -> bool {
        self.error.is_none()
            && !self.transport_eof
            && (self.conn.wants_read()
                || (self.conn.is_handshaking() && self.conn.wants_write() && !self.peer_closed))
    }

    /// Reads ciphertext once from `rd` and processes it. Returns the bytes read (0 at the
    /// transport's end), or the reader's error (`WouldBlock` included) untouched.
    /// TLS errors are not returned here: they become the sticky [`error`](Self::error).
    pub(crate) fn receive(&mut self, rd: &mut dyn Read) -> io::Result<usize> {
        let handshaking = self.conn.is_handshaking();
        let mut reader = FramedReader {
            inner: rd,
            framing: &mut self.framing,
            exact: self.exact_records,
            aligned: !handshaking,
            overread: &mut self.overread,
            stash: &mut self.stash,
            first_bytes: (self.conn.is_handshaking() && self.first_bytes.len() < FIRST_BYTES_LIMIT)
                .then_some(&mut self.first_bytes),
            filled: false,
        };
        // Watching for data from the peer (see `update_keys`): what is buffered before.
        let plaintext_before = (self.key_updates_since_peer_data > 0)
            .then(|| self.conn.process_new_packets().ok())
            .flatten()
            .map(|state| state.plaintext_bytes_to_read());
        let result = self.conn.read_tls(&mut reader);
        self.last_read_filled = reader.filled;
        let n = result?;
        self.received += n as u64;
        if n == 0 {
            self.transport_ended(None);
            return Ok(0);
        }
        let peer_closed_before = self.peer_closed;
        self.process_noting_data(plaintext_before);
        if self.peer_closed && !peer_closed_before && !handshaking {
            // The close_notify ended the record this read completed: what the read took
            // past it, and what waits in the stash, is not TLS.
            self.after_close = std::mem::take(&mut self.overread);
            self.after_close.append(&mut self.stash);
        }
        if !self.conn.is_handshaking() && !self.first_bytes.is_empty() && self.error.is_none() {
            // Only a handshake needs them (to recognise a peer that is not TLS): an idle
            // connection should not carry them.
            self.first_bytes = Vec::new();
        }
        Ok(n)
    }

    /// Records that reading the transport failed: a reset or broken pipe means the peer went
    /// away (truncation, `BrokenPipe`); anything else is a fatal transport error.
    pub(crate) fn transport_failed(&mut self, e: io::Error) {
        if Error::is_peer_gone(&e) {
            self.transport_ended(Some(e));
        } else {
            self.fail(Error::from_io(e));
        }
    }

    /// The transport ended: at its end of stream (`cause` `None`) or with a reset.
    fn transport_ended(&mut self, cause: Option<io::Error>) {
        self.transport_eof = true;
        if self.conn.is_handshaking() {
            if self.error.is_none() {
                // The peer hung up during the handshake: say so rather than "truncated",
                // unless what it sent shows it does not speak TLS at all.
                self.error = Some(if self.first_bytes.is_empty() {
                    Error::peer_gone(true, cause)
                } else {
                    self.process_error_for_eof(cause)
                });
            }
        } else if self.eof_cause.is_none() {
            self.eof_cause = cause.map(Arc::new);
        }
    }

    /// The error for reading past the transport's end without close_notify.
    pub(crate) fn truncation(&self) -> Error {
        Error::Truncated {
            during_handshake: false,
            cause: self.eof_cause.clone(),
        }
    }

    /// Feeds bytes already read from the transport (STARTTLS `accept_with`).
    pub(crate) fn receive_pending(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && self.error.is_none() {
            match self.receive(&mut bytes) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        // A slice reader ends with Ok(0): that is not the transport's end.
        self.transport_eof = false;
        if matches!(&self.error, Some(Error::Truncated { .. })) {
            self.error = None;
        }
    }

    /// Processes received records; `plaintext_before` (when key updates are being counted)
    /// is how much plaintext was buffered before them, to notice data from the peer.
    fn process_noting_data(&mut self, plaintext_before: Option<usize>) {
        if self.conn.is_handshaking() {
            refused::take();
            verifier_notes::take();
        }
        let handshaking = self.conn.is_handshaking();
        match self.conn.process_new_packets() {
            Ok(state) => {
                if let Some(notes) = verifier_notes::take() {
                    self.peer_notes = notes;
                }
                if handshaking && !self.conn.is_handshaking() {
                    self.carry_verified_chain();
                }
                if plaintext_before.is_some_and(|before| state.plaintext_bytes_to_read() > before) {
                    self.key_updates_since_peer_data = 0;
                }
                self.early.after_records(
                    &mut self.conn,
                    &mut self.held,
                    self.tuning.pending_output,
                );
                if state.peer_has_closed() && !self.peer_closed {
                    self.peer_closed = true;
                    // TLS 1.2 (RFC 5246 §7.2.1): answer close_notify with ours at once, and
                    // write no more. TLS 1.3 (RFC 8446 §6.1): close_notify closes only the
                    // peer's direction; ours stays open until our own close.
                    if !self.half_close() {
                        self.send_close_notify();
                    }
                }
            }
            Err(err) => {
                verifier_notes::take();
                let refused = refused::take().and_then(|noted| {
                    let names = CertNames::of(&noted.cert)?;
                    Some(CertNames {
                        ca_in_chain: noted.ca_in_chain,
                        ..names
                    })
                });
                if self.error.is_none() {
                    let seen = Circumstances {
                        refused,
                        ..self.circumstances()
                    };
                    self.error = Some(tls_error(err, &seen));
                }
            }
        }
    }

    /// A client's handshake just completed: a full one gives its verified chain to the
    /// sessions it makes; a resumed one takes the chain verified when its session was made
    /// (rustls does not verify it again).
    fn carry_verified_chain(&mut self) {
        let Some(sessions) = &self.sessions else {
            return;
        };
        match self.conn.handshake_kind() {
            Some(HandshakeKind::Resumed) => {
                self.peer_notes.verified_chain = sessions.resumed_verified_chain();
            }
            _ => sessions.set_verified_chain(self.peer_notes.verified_chain.clone()),
        }
    }

    /// A handshake that ended at EOF after the peer sent something that is not TLS.
    fn process_error_for_eof(&self, cause: Option<io::Error>) -> Error {
        let seen = self.circumstances();
        let err = tls_error(
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
            &seen,
        );
        match err {
            Error::Tls { ref message, .. } if message.contains("does not speak TLS") => err,
            _ => Error::peer_gone(true, cause),
        }
    }

    /// Copies received plaintext into `buf`.
    pub(crate) fn read_plaintext(&mut self, buf: &mut [u8]) -> Result<Plaintext, Error> {
        if !self.held.is_empty() {
            let n = self.held.read(buf).unwrap_or(0);
            if self.held.is_empty() && self.held.capacity() > HELD_CAPACITY_KEPT {
                self.held = VecDeque::new();
            }
            return Ok(Plaintext::Data(n));
        }
        if buf.is_empty() {
            return Ok(Plaintext::Data(0));
        }
        match self.conn.reader().read(buf) {
            Ok(0) => Ok(Plaintext::End),
            Ok(n) => Ok(Plaintext::Data(n)),
            Err(_) if self.error.is_some() => Err(self.error.clone().expect("checked")),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if self.transport_eof {
                    Err(self.truncation())
                } else {
                    Ok(Plaintext::Pending)
                }
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(self.truncation()),
            Err(e) => Err(Error::from_io(e)),
        }
    }

    /// Appends all plaintext ready for the user to `out`: what [`read_plaintext`] would
    /// return call after call, copied once, straight from rustls's buffers.
    ///
    /// [`read_plaintext`]: Self::read_plaintext
    pub(crate) fn take_plaintext(&mut self, out: &mut Vec<u8>) {
        let (front, back) = self.held.as_slices();
        out.extend_from_slice(front);
        out.extend_from_slice(back);
        self.held.clear();
        let mut reader = self.conn.reader();
        while let Ok(chunk) = reader.fill_buf() {
            if chunk.is_empty() {
                break;
            }
            let n = chunk.len();
            out.extend_from_slice(chunk);
            reader.consume(n);
        }
    }

    /// Throws away received plaintext that nobody will read (a closing connection), so that
    /// rustls goes on reading towards the peer's close_notify. Plaintext already set aside
    /// for the user (`hold_plaintext`) stays.
    pub(crate) fn discard_received_plaintext(&mut self) {
        let mut reader = self.conn.reader();
        while let Ok(chunk) = reader.fill_buf() {
            if chunk.is_empty() {
                break;
            }
            let n = chunk.len();
            reader.consume(n);
        }
    }

    /// True if ciphertext read from the transport waits to be handed to rustls: a read
    /// gets further without the transport being readable.
    pub(crate) fn has_stashed_input(&self) -> bool {
        !self.stash.is_empty()
    }

    /// True if the last read from the transport filled all the room it had.
    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    pub(crate) fn last_read_filled(&self) -> bool {
        self.last_read_filled
    }

    /// How many ciphertext bytes were read from the transport so far.
    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    /// True if reading went on since `received` was `since` and the last read took all
    /// the room it had: the transport probably holds more input right now.
    pub(crate) fn input_likely_pending(&self, since: u64) -> bool {
        self.received > since && self.last_read_filled
    }

    /// Puts plaintext back in front of what the user reads next (a layer above handing
    /// back bytes it did not use).
    pub(crate) fn unread_plaintext(&mut self, bytes: &[u8]) {
        // Whatever rustls holds comes after the held bytes: move it behind them first.
        let _ = self.hold_plaintext();
        for &b in bytes.iter().rev() {
            self.held.push_front(b);
        }
    }

    /// Moves plaintext out of rustls so that it keeps reading towards a close_notify.
    pub(crate) fn hold_plaintext(&mut self) -> Result<(), Error> {
        let mut chunk = [0u8; 4096];
        loop {
            match self.conn.reader().read(&mut chunk) {
                Ok(0) | Err(_) => return Ok(()),
                Ok(n) => {
                    if self.held.len() + n > self.tuning.held_plaintext {
                        return Err(Error::Unsupported(
                            "the peer kept sending data during a clean close, more than \
                             the context's held plaintext limit: read it before closing \
                             (or raise ContextBuilder::held_plaintext_limit)",
                        ));
                    }
                    self.held.extend(&chunk[..n]);
                }
            }
        }
    }

    // ----- output ------------------------------------------------------------------------

    /// Encrypts as much of `buf` as the output buffer takes; 0 when it is full.
    pub(crate) fn write_plaintext(&mut self, buf: &[u8]) -> usize {
        if let Some(n) = self.early.queue_write(buf, self.tuning.pending_output) {
            return n;
        }
        let n = self.conn.writer().write(buf).unwrap_or(0);
        self.key_update_unused &= n == 0;
        n
    }

    /// Vectored [`write_plaintext`](Self::write_plaintext): fills whole records.
    pub(crate) fn write_plaintext_vectored(&mut self, bufs: &[IoSlice<'_>]) -> usize {
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            if let Some(n) = self.early.queue_write(first, self.tuning.pending_output) {
                return n;
            }
        }
        let n = self.conn.writer().write_vectored(bufs).unwrap_or(0);
        self.key_update_unused &= n == 0;
        n
    }

    /// True if ciphertext is waiting to be written to the transport.
    /// False once the transport refused output: what is pending will never leave.
    pub(crate) fn wants_write(&self) -> bool {
        self.write_error.is_none()
            && !(self.quiet_if_not_tls && self.peer_not_tls())
            && self.conn.wants_write()
    }

    /// If the peer turns out not to speak TLS, send it nothing (no fatal alert): someone
    /// (the alert callback) will serve it another protocol on the same transport.
    pub(crate) fn set_quiet_if_not_tls(&mut self, quiet: bool) {
        self.quiet_if_not_tls = quiet;
    }

    /// Writes pending ciphertext once to `wr`; the writer's errors come back untouched.
    pub(crate) fn send(&mut self, wr: &mut dyn Write) -> io::Result<usize> {
        self.conn.write_tls(wr)
    }

    /// Queues our close_notify behind everything written so far.
    ///
    /// During the handshake this ends the connection: there is no session to close
    /// cleanly, and rustls must see no more input (a warning alert from the peer, its
    /// close_notify included, would make it answer with a fatal alert after the
    /// close_notify, which trips a debug assertion in rustls: a panic from network input).
    pub(crate) fn send_close_notify(&mut self) {
        if !self.sent_close_notify {
            self.sent_close_notify = true;
            self.conn.send_close_notify();
            if self.conn.is_handshaking() && self.error.is_none() {
                self.error = Some(Error::Io(Arc::new(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "the connection was closed during the TLS handshake",
                ))));
            }
        }
    }

    /// The bytes that followed the peer's close_notify in the last read (see
    /// `FramedReader`): the start of what the transport carries after TLS.
    pub(crate) fn bytes_after_close(&self) -> &[u8] {
        &self.after_close
    }

    /// From now on, read no further than the end of the current record (clean close).
    pub(crate) fn read_exact_records(&mut self) {
        self.exact_records = true;
    }

    /// Starts a TLS 1.3 key update. TLS 1.2 renegotiation is refused (CVE-2009-3555).
    ///
    /// Requests are coalesced: while our last update has not been followed by data from us,
    /// another one would change nothing (no byte was sent with the new keys) and only count
    /// against the peer's limit, so it is not sent. Peers also give up after 32 updates
    /// without data from us in between, and each request makes the peer answer with an
    /// update of its own, counted by us: past [`KEY_UPDATES_WITHOUT_PEER_DATA`] requests
    /// without data from the peer, the request is refused.
    pub(crate) fn update_keys(&mut self) -> Result<(), Error> {
        match self.version() {
            Some(TlsVersion::Tls1_3) if self.key_update_unused => Ok(()),
            Some(TlsVersion::Tls1_3)
                if self.key_updates_since_peer_data >= KEY_UPDATES_WITHOUT_PEER_DATA =>
            {
                Err(Error::Misuse(
                    "too many key updates while the peer sent no data: \
                     peers end the connection after 32 of them",
                ))
            }
            Some(TlsVersion::Tls1_3) => {
                self.conn.refresh_traffic_keys().map_err(|e| {
                    let seen = Circumstances {
                        first_bytes: &[],
                        ..self.circumstances()
                    };
                    tls_error(e, &seen)
                })?;
                self.key_update_unused = true;
                self.key_updates_since_peer_data += 1;
                Ok(())
            }
            Some(_) => Err(Error::Unsupported(
                "renegotiation is disabled: TLS 1.2 renegotiation is insecure (CVE-2009-3555)",
            )),
            None => Err(Error::Misuse(
                "cannot update keys before the handshake has completed",
            )),
        }
    }

    // ----- state -------------------------------------------------------------------------

    /// The sticky fatal error, if any.
    pub(crate) fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// Records a fatal error from the transport (the first one wins).
    pub(crate) fn fail(&mut self, err: Error) {
        if self.error.is_none() {
            self.error = Some(err);
        }
    }

    /// Records that the transport refused our output: nothing more will be written.
    ///
    /// Reading goes on: a peer that sent its data and close_notify and then closed makes
    /// our late writes (TLS 1.3 session tickets, our close_notify) fail with `EPIPE`, and
    /// what it sent must still be delivered.
    pub(crate) fn fail_write(&mut self, err: Error) {
        if self.write_error.is_none() {
            self.write_error = Some(err);
        }
    }

    /// [`fail_write`](Self::fail_write) for an error of the transport: a reset or broken
    /// pipe means the peer went away (truncation, `BrokenPipe`).
    pub(crate) fn output_failed(&mut self, e: io::Error) {
        let err = if Error::is_peer_gone(&e) {
            Error::peer_gone(self.conn.is_handshaking(), Some(e))
        } else {
            Error::from_io(e)
        };
        self.fail_write(err);
    }

    /// True once the transport refused our output.
    pub(crate) fn write_failed(&self) -> bool {
        self.write_error.is_some()
    }

    /// The error that stopped output, if output stopped.
    pub(crate) fn write_error(&self) -> Option<&Error> {
        self.write_error.as_ref()
    }

    /// True while the handshake is in progress.
    pub(crate) fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// True once the peer's close_notify has arrived.
    pub(crate) fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// True if the peer's close_notify leaves our direction open (TLS 1.3); false for
    /// TLS 1.2, and during the handshake.
    fn half_close(&self) -> bool {
        !self.conn.is_handshaking() && self.version() == Some(TlsVersion::Tls1_3)
    }

    /// True if the peer's close_notify forbids us to write: it arrived, and the protocol
    /// makes it close both directions (TLS 1.2).
    pub(crate) fn peer_closed_both_ways(&self) -> bool {
        self.peer_closed && !self.half_close()
    }

    /// True once our close_notify is queued or sent.
    pub(crate) fn sent_close_notify(&self) -> bool {
        self.sent_close_notify
    }

    /// True if the transport has ended.
    pub(crate) fn transport_eof(&self) -> bool {
        self.transport_eof
    }

    /// True if plaintext is ready for the user.
    pub(crate) fn has_plaintext(&mut self) -> bool {
        !self.held.is_empty()
            || self
                .conn
                .reader()
                .into_first_chunk()
                .is_ok_and(|chunk| !chunk.is_empty())
    }

    /// The bytes the peer sent first (kept while handshaking, for the alert callback).
    pub(crate) fn first_bytes(&self) -> &[u8] {
        &self.first_bytes
    }

    /// True if the handshake failed because the peer does not speak TLS (e.g. it sent an
    /// HTTP request to a TLS port): the case for the alert callback.
    pub(crate) fn peer_not_tls(&self) -> bool {
        self.error.is_some() && !crate::describe::looks_like_tls(&self.first_bytes)
    }

    // ----- introspection -----------------------------------------------------------------

    /// The negotiated protocol version.
    pub(crate) fn version(&self) -> Option<TlsVersion> {
        self.conn
            .protocol_version()
            .and_then(TlsVersion::from_rustls)
    }

    /// The negotiated cipher suite.
    pub(crate) fn cipher_suite(&self) -> Option<rustls::CipherSuite> {
        self.conn.negotiated_cipher_suite().map(|s| s.suite())
    }

    /// The negotiated ALPN protocol.
    pub(crate) fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.conn.alpn_protocol().map(<[u8]>::to_vec)
    }

    /// The server name: the one we asked for (client), or the client's SNI (server).
    pub(crate) fn server_name(&self) -> Option<String> {
        match &self.conn {
            Connection::Client(_) => self.server_name.clone(),
            Connection::Server(conn) => conn.server_name().map(str::to_string),
        }
    }

    /// The peer's certificate chain, leaf first.
    pub(crate) fn peer_certificates(&self) -> Option<Vec<CertificateDer<'static>>> {
        self.conn.peer_certificates().map(<[_]>::to_vec)
    }

    /// The peer's chain as our verifier verified it: end entity, intermediates, trust
    /// anchor; for a client's resumed session, as verified when the session was made.
    /// `None` before verification, when it was waived, and on a server's resumed session.
    pub(crate) fn verified_chain(&self) -> Option<Vec<CertificateDer<'static>>> {
        self.peer_notes.verified_chain.clone()
    }

    /// The OCSP response the server stapled to its certificate (client side), as sent.
    pub(crate) fn ocsp_response(&self) -> Option<Vec<u8>> {
        self.peer_notes.ocsp_response.clone()
    }

    /// True for a client connection.
    pub(crate) fn is_client(&self) -> bool {
        matches!(self.conn, Connection::Client(_))
    }

    /// What kind of handshake happened (full, full with a retry, resumed), once known.
    pub(crate) fn handshake_kind(&self) -> Option<HandshakeKind> {
        self.conn.handshake_kind()
    }

    /// Keying material exported from the session (RFC 5705, RFC 8446 §7.5).
    pub(crate) fn export_keying_material(
        &self,
        len: usize,
        label: &[u8],
        context: Option<&[u8]>,
    ) -> Result<Vec<u8>, Error> {
        if self.conn.is_handshaking() {
            return Err(Error::Misuse(
                "keying material can be exported once the handshake has completed",
            ));
        }
        self.conn
            .export_keying_material(vec![0u8; len], label, context)
            .map_err(|e| Error::Config(format!("cannot export keying material: {e}")))
    }

    /// The negotiated key-exchange group.
    pub(crate) fn key_exchange_group(&self) -> Option<rustls::NamedGroup> {
        self.conn.negotiated_key_exchange_group().map(|g| g.name())
    }

    /// A client's session to resume later, once the server issued one.
    pub(crate) fn session(&self) -> Option<Session> {
        self.sessions.as_ref()?.session()
    }

    /// What the error messages need to know about this connection.
    fn circumstances(&self) -> Circumstances<'_> {
        Circumstances {
            server_name: self.server_name.as_deref(),
            first_bytes: &self.first_bytes,
            client_certificate: !self.is_client(),
            refused: None,
        }
    }
}

/// Hands transport bytes to rustls, noting record boundaries, stopping at a record's end in
/// exact mode, and keeping the first bytes of a handshake.
///
/// After the handshake, reads are *aligned*: what rustls gets ends at most one record header
/// past the end of the first record it completes, and that header is also kept aside
/// (`overread`). The transport is asked for the rest of the record and the next header (at
/// a boundary, guessing the next record is as long as the last), so that a record usually
/// costs one read; what came past the allowed end waits in the `stash` for the next reads.
/// If a record turns out to carry the peer's close_notify, what followed it is known
/// (rustls ignores it): the bytes a protocol sends after TLS are never lost
/// (`into_stream`). In exact mode (our own clean close) not even a header is read past it.
struct FramedReader<'a> {
    inner: &'a mut dyn Read,
    framing: &'a mut RecordFraming,
    exact: bool,
    aligned: bool,
    overread: &'a mut Vec<u8>,
    stash: &'a mut Vec<u8>,
    first_bytes: Option<&'a mut Vec<u8>>,
    /// The last read returned all it was asked for.
    filled: bool,
}

impl Read for FramedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = if self.exact {
            self.framing.left_in_record()
        } else if self.aligned {
            self.framing.aligned_read_len()
        } else {
            buf.len()
        }
        .min(buf.len());
        // The stash first: it holds what the transport gave earlier.
        let (n, from_stash) = if self.stash.is_empty() {
            (self.inner.read(&mut buf[..want])?, false)
        } else {
            let n = want.min(self.stash.len());
            buf[..n].copy_from_slice(&self.stash[..n]);
            (n, true)
        };
        let (take, record_end) = if self.aligned && !self.exact {
            self.framing.aligned_prefix(&buf[..n])
        } else {
            (n, None)
        };
        if from_stash {
            self.stash.drain(..take);
        } else if take < n {
            self.stash.extend_from_slice(&buf[take..n]);
        }
        if self.aligned {
            self.overread.clear();
            if let Some(end) = record_end {
                self.overread.extend_from_slice(&buf[end..take]);
            }
        }
        self.filled = (n > 0 && n == want) || !self.stash.is_empty();
        self.framing.observe(&buf[..take]);
        if let Some(first) = self.first_bytes.as_deref_mut() {
            let room = FIRST_BYTES_LIMIT - first.len();
            first.extend_from_slice(&buf[..take.min(room)]);
        }
        Ok(take)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Context;
    use crate::version::VersionRange;

    /// A client and a server engine, handshaken by moving bytes between them in memory.
    fn handshaken_pair() -> (Engine, Engine) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let (pem, key) = (cert.cert.pem(), cert.key_pair.serialize_pem());
        let server_ctx = Context::builder()
            .certificate_chain_pem(pem.as_bytes(), key.as_bytes())
            .unwrap()
            .build()
            .unwrap();
        let client_ctx = Context::builder()
            .trust_pem(pem.as_bytes())
            .unwrap()
            .build()
            .unwrap();
        let range = VersionRange::default();
        let setup = client_ctx.client_setup(range, "localhost", None).unwrap();
        let mut client = Engine::client(setup, "localhost", &[]).unwrap();
        let tuning = server_ctx.tuning();
        let config = server_ctx.server_config(range).unwrap();
        let mut server = Engine::server(config, tuning, false).unwrap();
        for _ in 0..10 {
            transfer(&mut client, &mut server);
            transfer(&mut server, &mut client);
        }
        assert!(!client.is_handshaking() && !server.is_handshaking());
        (client, server)
    }

    fn transfer(from: &mut Engine, to: &mut Engine) {
        let mut wire = Vec::new();
        while from.wants_write() {
            from.send(&mut wire).unwrap();
        }
        let mut wire = &wire[..];
        while !wire.is_empty() {
            to.receive(&mut wire).unwrap();
        }
    }

    #[test]
    fn held_plaintext_memory_is_released_once_read() {
        let (mut client, mut server) = handshaken_pair();
        let mut sent = 0;
        while sent < 300 * 1024 {
            sent += server.write_plaintext(&[9u8; 16 * 1024]);
            transfer(&mut server, &mut client);
            client.hold_plaintext().unwrap();
        }
        assert!(client.held.capacity() >= 300 * 1024);
        let mut buf = vec![0u8; 64 * 1024];
        let mut read = 0;
        while let Ok(Plaintext::Data(n @ 1..)) = client.read_plaintext(&mut buf) {
            read += n;
        }
        assert_eq!(read, sent);
        assert_eq!(
            client.held.capacity(),
            0,
            "the idle buffer was not released"
        );
    }

    #[test]
    fn the_first_bytes_kept_for_diagnostics_are_released_after_the_handshake() {
        let (client, server) = handshaken_pair();
        assert!(client.first_bytes().is_empty() && client.first_bytes.capacity() == 0);
        assert!(server.first_bytes().is_empty() && server.first_bytes.capacity() == 0);
        assert!(client.error().is_none() && server.error().is_none());
    }
}
