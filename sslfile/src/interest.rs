//! [`Interest`]: the readiness a caller waits for (readable, writable or both), shared by
//! the transports and the backend.

use std::fmt;
use std::num::NonZeroU8;
use std::ops::BitOr;

/// Which readiness a caller waits for: readable, writable or both. It cannot be empty (as
/// mio's): "nothing" is `Option<Interest>::None`.
///
/// ```
/// use sslfile::Interest;
/// let both = Interest::READ | Interest::WRITE;
/// assert!(both.is_readable() && both.is_writable());
/// assert_eq!(both, Interest::BOTH);
/// assert_eq!(Interest::from_flags(false, false), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interest(NonZeroU8);

const READABLE: u8 = 1;
const WRITABLE: u8 = 2;

/// The bits of a constant interest (never empty).
const fn bits(b: u8) -> NonZeroU8 {
    match NonZeroU8::new(b) {
        Some(bits) => bits,
        None => panic!("an interest is never empty"),
    }
}

impl Interest {
    /// Readable: a nonblocking read can make progress (data, end of stream or an error).
    pub const READ: Interest = Interest(bits(READABLE));
    /// Writable: a nonblocking write can make progress.
    pub const WRITE: Interest = Interest(bits(WRITABLE));
    /// Both.
    pub const BOTH: Interest = Interest(bits(READABLE | WRITABLE));

    /// True if this includes [`Interest::READ`].
    pub fn is_readable(self) -> bool {
        self.0.get() & READABLE != 0
    }

    /// True if this includes [`Interest::WRITE`].
    pub fn is_writable(self) -> bool {
        self.0.get() & WRITABLE != 0
    }

    /// Builds an interest from two flags; `None` if both are false.
    pub fn from_flags(read: bool, write: bool) -> Option<Interest> {
        let bits = if read { READABLE } else { 0 } | if write { WRITABLE } else { 0 };
        NonZeroU8::new(bits).map(Interest)
    }
}

impl BitOr for Interest {
    type Output = Interest;
    fn bitor(self, rhs: Interest) -> Interest {
        Interest(self.0 | rhs.0)
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.is_readable(), self.is_writable()) {
            (true, false) => "READ",
            (false, true) => "WRITE",
            _ => "READ | WRITE",
        })
    }
}
