//! The measurements behind `sslfile-bench` and `cargo bench -p sslfile-bench`: sslfile
//! against raw rustls and tokio-rustls, over loopback TCP, in one process (the memory
//! scenario's server in a child process).
//!
//! This library knows nothing of the command line (`main.rs`), so that the benches in
//! `benches/` share it. Its parts:
//!
//! * [`setup`]: a certificate (ECDSA P-256 or RSA-2048) made at start, and the sslfile
//!   contexts and rustls configurations for one protocol version.
//! * [`contenders`]: the [`Contender`] trait (connections one at a time, handshake
//!   complete) and the [`Bulk`](contenders::Bulk) trait (one bulk transfer), with sslfile
//!   in blocking and nonblocking mode and rustls's `StreamOwned`; [`callback`]: sslfile in
//!   callback mode; [`tokio`]: the tokio-rustls baseline; [`tokio_sslfile`]: sslfile's
//!   tokio stream on the same runtime and loops.
//! * The scenarios, one timed run of one contender each: [`throughput`] (bulk, one way),
//!   [`handshakes`] (full and resumed), [`echo`] (many connections on one server thread),
//!   [`memory`] (resident bytes per idle connection), [`duplex`] (two-thread full duplex),
//!   [`tokio_duplex`] (full duplex of split async streams).
//! * [`progress`]: the progress line for runs longer than a second.
//! * [`report`]: medians, spreads and the ratio tables.

pub mod callback;
pub mod compare;
pub mod contenders;
pub mod duplex;
pub mod echo;
pub mod handshakes;
pub mod memory;
pub mod progress;
pub mod report;
pub mod setup;
pub mod throughput;
pub mod tokio;
pub mod tokio_duplex;
pub mod tokio_sslfile;

pub use contenders::Contender;
pub use setup::Setup;
