//! `sslfile connect`: like `openssl s_client -quiet`, in any of the library's modes.
//!
//! A one-line summary of the handshake goes to stderr; stdin goes to the peer and the peer
//! to stdout. When stdin ends, close_notify goes out (the write side is shut; not with
//! `--ign-eof`) and reading goes on until the peer closes. The exit status says how the connection ended: 0 after
//! the peer's close_notify, [`EXIT_FAILURE`] if it could not be set up (refused, handshake
//! or certificate failure), [`EXIT_BROKEN`] if it broke afterwards (truncation: the peer
//! closed without close_notify; a fatal alert; a reset).

mod blocking;
mod callback;
mod nonblocking;

use std::fmt;
use std::io;
use std::net::TcpStream;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use sslfile::{Context, SslFile};

use crate::failure::{Failure, EXIT_BROKEN, EXIT_FAILURE};
use crate::tls_options::{alpn_name, group_name, suite_name, version_name, TlsOptions};

/// `sslfile connect` options.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 after the peer's close_notify; 1 if the connection or \
its handshake failed (refused, untrusted certificate, wrong name...); 3 if it broke afterwards \
(the peer closed without close_notify: truncation; a fatal alert; a reset); 2 for bad options."
)]
pub struct ConnectArgs {
    /// The server: HOST:PORT (an IPv6 address in brackets: [::1]:443).
    #[arg(value_name = "HOST:PORT", value_parser = Target::parse)]
    target: Target,

    /// The name to send (SNI) and to verify the certificate against [default: HOST].
    #[arg(long, value_name = "NAME")]
    servername: Option<String>,

    /// Trust the CA certificates in this PEM file instead of the bundled web roots (a server
    /// presenting exactly one of them, e.g. a self-signed certificate, is accepted even if
    /// it is marked as a CA).
    #[arg(long, value_name = "PEM", conflicts_with = "insecure")]
    cafile: Option<PathBuf>,

    /// Do not verify the server's certificate at all (DANGEROUS: anyone can impersonate it).
    #[arg(long, short = 'k')]
    insecure: bool,

    /// How the connection is driven.
    #[arg(long, value_enum, default_value_t = Mode::Blocking)]
    mode: Mode,

    /// Do not send close_notify when stdin ends: wait for the server to close. For
    /// servers that stop answering once they see close_notify (over TLS 1.2 every server
    /// must; over TLS 1.3 a close_notify closes one direction only), e.g. a request piped
    /// to an HTTP server.
    #[arg(long)]
    ign_eof: bool,

    #[command(flatten)]
    tls: TlsOptions,
}

/// How `connect` drives its connection: each of the library's modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Blocking: one thread reads the peer while another writes stdin to it.
    Blocking,
    /// Nonblocking: one thread, waiting with poll(2) for the socket and stdin.
    Nonblocking,
    /// Callbacks on a backend (event loop); stdin is read by a helper thread.
    Callback,
}

/// A HOST:PORT to connect to.
#[derive(Debug, Clone)]
pub struct Target {
    host: String,
    port: u16,
}

impl Target {
    fn parse(text: &str) -> Result<Target, String> {
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("expected HOST:PORT, not {text:?}"))?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() || (host.contains(':') && !text.starts_with('[')) {
            return Err(format!(
                "expected HOST:PORT, not {text:?} (an IPv6 address goes in brackets: [::1]:443)"
            ));
        }
        let port = port
            .parse()
            .map_err(|_| format!("{port:?} is not a port number"))?;
        Ok(Target {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// What every mode needs: where to go, as whom, and how to report.
#[derive(Clone)]
pub struct Session {
    ctx: Context,
    target: Target,
    server_name: String,
    insecure: bool,
    /// Keep the write side open when stdin ends.
    ign_eof: bool,
}

impl Session {
    /// The TCP connection to the target.
    fn tcp(&self) -> Result<TcpStream, Failure> {
        TcpStream::connect((self.target.host.as_str(), self.target.port))
            .map_err(|e| Failure::new(format!("cannot connect to {}: {e}", self.target)))
    }

    /// The one-line summary of a completed handshake.
    fn summary(&self, tls: &SslFile) -> String {
        let peer = tls
            .peer_addr()
            .map_or_else(|_| "?".into(), |a| a.to_string());
        let trust = if self.insecure {
            "certificate NOT verified (--insecure)".to_string()
        } else {
            format!("certificate verified for {}", self.server_name)
        };
        format!(
            "sslfile: connected to {} ({peer}): {}, {}, {}, ALPN {}; {trust}",
            self.target,
            version_name(tls.protocol_version()),
            suite_name(tls.cipher_suite()),
            group_name(tls.key_exchange_group()),
            alpn_name(tls.alpn_protocol()),
        )
    }

    /// The connection could not be set up.
    fn handshake_failed(&self, e: impl fmt::Display) -> Failure {
        Failure::with_code(
            EXIT_FAILURE,
            format!("TLS handshake with {} failed: {e}", self.target),
        )
    }

    /// The connection broke after its handshake (or failed during it: `handshaking`).
    fn ended(&self, e: &io::Error, handshaking: bool) -> Failure {
        if handshaking {
            return self.handshake_failed(e);
        }
        let what = if e.kind() == io::ErrorKind::BrokenPipe {
            "truncated"
        } else {
            "broken"
        };
        Failure::with_code(
            EXIT_BROKEN,
            format!("the connection to {} was {what}: {e}", self.target),
        )
    }
}

/// Runs `sslfile connect` until the connection ends.
pub fn run(args: ConnectArgs) -> Result<(), Failure> {
    let mut builder = Context::builder();
    if let Some(ca) = &args.cafile {
        builder = builder.trust_pem_file(ca)?;
    }
    if args.insecure {
        builder = builder.danger_accept_invalid_certs(true);
    }
    let ctx = args.tls.apply(builder, &[])?.build()?;
    let session = Session {
        ctx,
        server_name: args
            .servername
            .clone()
            .unwrap_or_else(|| args.target.host.clone()),
        target: args.target,
        insecure: args.insecure,
        ign_eof: args.ign_eof,
    };
    log::debug!(
        "connecting to {} as {} ({:?} mode)",
        session.target,
        session.server_name,
        args.mode
    );
    match args.mode {
        Mode::Blocking => blocking::run(&session),
        Mode::Nonblocking => nonblocking::run(&session),
        Mode::Callback => callback::run(&session),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_with_names_ipv4_and_bracketed_ipv6() {
        let t = Target::parse("localhost:8443").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("localhost", 8443));
        let t = Target::parse("[::1]:443").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 443));
        assert_eq!(t.to_string(), "[::1]:443");
        assert!(Target::parse("::1:443").unwrap_err().contains("brackets"));
        assert!(Target::parse("localhost").is_err());
        assert!(Target::parse("localhost:https").is_err());
        assert!(Target::parse(":443").is_err());
    }
}
