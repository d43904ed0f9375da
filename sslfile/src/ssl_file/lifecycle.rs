//! The connection's lifecycle from the user's side: one state, and the questions the other
//! parts ask of it. What the protocol says (the peer's close_notify, the transport's end,
//! a fatal error) is the engine's; [`State::ended`](super::driver::State::ended) combines
//! both.

use super::closing::Closing;

/// Where the connection is in its life, as the user's calls left it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Lifecycle {
    /// Usable (possibly still handshaking, or not started yet).
    Open,
    /// `shutdown(Write)`: our close_notify is queued or sent; reading goes on.
    WriteShut,
    /// `close_clean`: our close_notify is sent, the peer's awaited; the transport stays.
    CleanClosing,
    /// Both close_notifies were exchanged by `close_clean`; the transport is still open.
    CleanClosed,
    /// `close()` (or a drop): still delivering output, then lingering, on the backend.
    Closing(Closing),
    /// Closed here: the transport is closed (or was handed over).
    Closed,
}

impl Lifecycle {
    /// True once `close()` was called (its background part may still be at work).
    pub(super) fn closed_locally(&self) -> bool {
        matches!(self, Lifecycle::Closing(_) | Lifecycle::Closed)
    }

    /// True while the user may write.
    pub(super) fn writable(&self) -> bool {
        matches!(self, Lifecycle::Open)
    }

    /// True while the connection serves the user at all (open, or half-closed by us):
    /// the handshake and idle timeouts apply.
    pub(super) fn in_use(&self) -> bool {
        matches!(self, Lifecycle::Open | Lifecycle::WriteShut)
    }

    /// The close still at work on the backend, if any.
    pub(super) fn background_close(&self) -> Option<Closing> {
        match self {
            Lifecycle::Closing(closing) => Some(*closing),
            _ => None,
        }
    }
}
