//! [`Failure`]: why a subcommand failed, as a message for stderr and an exit status.

use std::fmt;

/// Exit status of a failure before or during the handshake (and of most other failures).
pub const EXIT_FAILURE: u8 = 1;
/// Exit status of a connection that broke after its handshake: truncated (the peer closed
/// without close_notify), reset by a fatal alert, or lost.
pub const EXIT_BROKEN: u8 = 3;

/// A failed command: what to print, and the exit status.
#[derive(Debug)]
pub struct Failure {
    /// The process's exit status.
    pub code: u8,
    /// One line that says what went wrong.
    pub message: String,
}

impl Failure {
    /// A failure with exit status 1.
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_FAILURE,
            message: message.into(),
        }
    }

    /// A failure with a chosen exit status.
    pub fn with_code(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<sslfile::Error> for Failure {
    fn from(e: sslfile::Error) -> Failure {
        Failure::new(e.to_string())
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::new(e.to_string())
    }
}

/// Adds what was being done to an error: "cannot listen on 127.0.0.1:8443: Address in use".
pub trait Context<T> {
    /// Turns the error into a [`Failure`] whose message starts with `what()`.
    fn context<S: fmt::Display>(self, what: impl FnOnce() -> S) -> Result<T, Failure>;
}

impl<T, E: fmt::Display> Context<T> for Result<T, E> {
    fn context<S: fmt::Display>(self, what: impl FnOnce() -> S) -> Result<T, Failure> {
        self.map_err(|e| Failure::new(format!("{}: {e}", what())))
    }
}
