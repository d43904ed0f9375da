//! The measurements behind `sslfile bench`: sslfile against plain rustls, over loopback TCP,
//! in one process.
//!
//! This module knows nothing of the command line, so other harnesses can share it (a
//! criterion bench can take it in with `#[path = "../src/bin/sslfile/bench/mod.rs"] mod
//! bench;`). Its parts:
//!
//! * [`setup`]: a certificate made at start, and the sslfile contexts and rustls
//!   configurations for one protocol version.
//! * [`contenders`]: the [`Contender`] trait, one way to run a TLS connection over a TCP
//!   socket, and its implementations (sslfile in blocking mode; rustls's `StreamOwned`). A
//!   new mode to compare is a new implementation.
//! * [`throughput`] and [`handshakes`]: one timed run of one contender.
//! * [`progress`]: the progress line for runs longer than a second.
//! * [`report`]: medians and the ratio table.

pub mod contenders;
pub mod handshakes;
pub mod progress;
pub mod report;
pub mod setup;
pub mod throughput;

pub use contenders::Contender;
pub use setup::Setup;
