//! What the `sslfile` command and the `sslfile-bench` command share: failures with their
//! exit statuses, logging, process limits, the certificate made at start, and the TLS
//! options of the command line, and what `serve` says on a connection (HTTP or echo,
//! independent of the mode that carries it). The commands themselves are in `main.rs` (`serve`,
//! `connect`) and in the sslfile-bench crate.

pub mod cert;
pub mod failure;
pub mod limits;
pub mod logger;
pub mod service;
pub mod tls_options;
