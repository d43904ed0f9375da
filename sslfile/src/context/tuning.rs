//! How much a connection may buffer, and how much early data it takes: the
//! [`ContextBuilder`] settings and the values the engine reads.

use super::{Context, ContextBuilder};
use crate::error::Error;

/// One KiB.
const KIB: usize = 1024;

/// The per-connection settings a context hands to each engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tuning {
    /// Outgoing ciphertext (and plaintext written during the handshake) buffered before a
    /// nonblocking write says `WouldBlock`.
    pub(crate) pending_output: usize,
    /// Plaintext set aside while a clean close reads on towards the peer's close_notify.
    pub(crate) held_plaintext: usize,
    /// TLS 1.3 early data: the most a client sends, the most a server takes (0: off).
    pub(crate) early_data: u32,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            pending_output: Context::DEFAULT_PENDING_OUTPUT_LIMIT,
            held_plaintext: Context::DEFAULT_HELD_PLAINTEXT_LIMIT,
            early_data: 0,
        }
    }
}

/// The range of [`ContextBuilder::pending_output_limit`].
const PENDING_OUTPUT_RANGE: std::ops::RangeInclusive<usize> = 4 * KIB..=64 * KIB * KIB;

/// The range of [`ContextBuilder::held_plaintext_limit`]: at least one record.
const HELD_PLAINTEXT_RANGE: std::ops::RangeInclusive<usize> = 16 * KIB..=1024 * KIB * KIB;

/// The most early data a context may allow (the TLS limit is 2³² − 1; more than a few
/// requests' worth only widens what a replay can repeat).
const MAX_EARLY_DATA: u32 = 1 << 20;

impl Context {
    /// The pending-output limit of a context that was given none (64 KiB).
    pub const DEFAULT_PENDING_OUTPUT_LIMIT: usize = 64 * KIB;

    /// The held-plaintext limit of a context that was given none (1 MiB).
    pub const DEFAULT_HELD_PLAINTEXT_LIMIT: usize = 1024 * KIB;

    /// How many bytes a connection buffers for sending before a nonblocking write says
    /// `WouldBlock` (see [`ContextBuilder::pending_output_limit`]).
    pub fn pending_output_limit(&self) -> usize {
        self.inner.tuning.pending_output
    }

    /// How much plaintext a clean close sets aside (see
    /// [`ContextBuilder::held_plaintext_limit`]).
    pub fn held_plaintext_limit(&self) -> usize {
        self.inner.tuning.held_plaintext
    }

    /// The early-data limit (see [`ContextBuilder::early_data`]); 0 when it is off.
    pub fn early_data_limit(&self) -> u32 {
        self.inner.tuning.early_data
    }

    pub(crate) fn tuning(&self) -> Tuning {
        self.inner.tuning
    }
}

impl ContextBuilder {
    /// How many bytes each connection buffers for sending (ciphertext not yet taken by the
    /// transport, and plaintext written while the handshake runs) before a nonblocking
    /// write accepts no more and says `WouldBlock`. Default:
    /// [`Context::DEFAULT_PENDING_OUTPUT_LIMIT`] (64 KiB). A larger limit lets one write
    /// hand over more at once on fast links; a smaller one bounds the memory of many
    /// slow connections. Blocking writes are not limited by it (they wait and go on).
    ///
    /// # Errors
    /// A limit outside 4 KiB to 64 MiB.
    ///
    /// ```
    /// let ctx = sslfile::Context::builder().pending_output_limit(256 * 1024)?.build()?;
    /// assert_eq!(ctx.pending_output_limit(), 256 * 1024);
    /// assert!(sslfile::Context::builder().pending_output_limit(100).is_err());
    /// # Ok::<(), sslfile::Error>(())
    /// ```
    pub fn pending_output_limit(mut self, bytes: usize) -> Result<Self, Error> {
        check_range("pending output limit", bytes, PENDING_OUTPUT_RANGE)?;
        self.tuning.pending_output = bytes;
        Ok(self)
    }

    /// How much plaintext a clean close ([`close_clean`](crate::SslFile::close_clean),
    /// [`shutdown`](crate::SslFile::shutdown)) sets aside for the user while it reads on
    /// towards the peer's close_notify. A peer that sends more than this before closing
    /// makes the close fail with a message that says so, instead of using memory without
    /// bound. Default: [`Context::DEFAULT_HELD_PLAINTEXT_LIMIT`] (1 MiB). The memory is
    /// released once the user has read it.
    ///
    /// # Errors
    /// A limit outside 16 KiB to 1 GiB.
    ///
    /// ```
    /// let ctx = sslfile::Context::builder().held_plaintext_limit(64 * 1024)?.build()?;
    /// assert_eq!(ctx.held_plaintext_limit(), 64 * 1024);
    /// # Ok::<(), sslfile::Error>(())
    /// ```
    pub fn held_plaintext_limit(mut self, bytes: usize) -> Result<Self, Error> {
        check_range("held plaintext limit", bytes, HELD_PLAINTEXT_RANGE)?;
        self.tuning.held_plaintext = bytes;
        Ok(self)
    }

    /// TLS 1.3 early data ("0-RTT"): up to `max_bytes` of application data sent with the
    /// ClientHello of a resumed session, before the handshake completes. 0 (the default)
    /// turns it off.
    ///
    /// * **Client**: a connection given data with
    ///   [`SslFile::set_early_data`](crate::SslFile::set_early_data) sends up to
    ///   `max_bytes` of it (and no more than the server's ticket allows) as early data
    ///   when it resumes a session that allows it.
    /// * **Server**: tickets allow clients `max_bytes` of early data, and a connection
    ///   takes it only if the application opted in for it with
    ///   [`SslFile::set_accept_early_data`](crate::SslFile::set_accept_early_data).
    ///   Early data can be *replayed*: an attacker who recorded a client's first flight
    ///   can send it again. To narrow that, a server with early data issues single-use
    ///   tickets kept in its session cache ([`session_tickets`](Self::session_tickets) is
    ///   turned off, [`server_session_cache`](Self::server_session_cache) must be above
    ///   0): one server process accepts each ticket's early data once. Several servers
    ///   that do not share a cache, or a restarted one, may each accept it: only act on
    ///   early data that is safe to repeat (an idempotent request).
    ///
    /// # Errors
    /// More than 1 MiB.
    ///
    /// ```
    /// let ctx = sslfile::Context::builder().early_data(16 * 1024)?.build()?;
    /// assert_eq!(ctx.early_data_limit(), 16 * 1024);
    /// # Ok::<(), sslfile::Error>(())
    /// ```
    pub fn early_data(mut self, max_bytes: u32) -> Result<Self, Error> {
        if max_bytes > MAX_EARLY_DATA {
            return Err(Error::Config(format!(
                "an early data limit of {max_bytes} bytes is too large: at most \
                 {MAX_EARLY_DATA} (early data can be replayed; keep it to what one request needs)"
            )));
        }
        self.tuning.early_data = max_bytes;
        Ok(self)
    }
}

fn check_range(
    what: &str,
    bytes: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Result<(), Error> {
    if range.contains(&bytes) {
        return Ok(());
    }
    Err(Error::Config(format!(
        "a {what} of {bytes} bytes is out of range: {} KiB to {} MiB",
        range.start() / KIB,
        range.end() / (KIB * KIB)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_out_of_range_are_refused_with_the_range() {
        let err = ContextBuilder::default()
            .pending_output_limit(1)
            .unwrap_err();
        assert!(err.to_string().contains("4 KiB to 64 MiB"), "{err}");
        let err = ContextBuilder::default()
            .held_plaintext_limit(2 << 30)
            .unwrap_err();
        assert!(err.to_string().contains("16 KiB to 1024 MiB"), "{err}");
        assert!(ContextBuilder::default().early_data(2 << 20).is_err());
    }

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let ctx = ContextBuilder::default().build().unwrap();
        assert_eq!(ctx.pending_output_limit(), 64 * 1024);
        assert_eq!(ctx.held_plaintext_limit(), 1 << 20);
        assert_eq!(ctx.early_data_limit(), 0);
    }
}
