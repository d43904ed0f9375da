//! `sslfile`: the command-line tool of the sslfile crate.
//!
//! * `serve`: an HTTPS (or echo) server in any of the library's modes, with a certificate
//!   made at start, so that `curl` can talk to it on a fresh machine.
//! * `connect`: `openssl s_client -quiet` for sslfile: stdin to the peer, the peer to
//!   stdout, a clear message and exit status when the connection ends badly.
//!
//! Each subcommand has its own module; what they share with the benchmark command
//! (`sslfile-bench`, in its own crate) is in this package's library.

mod connect;
mod serve;

use sslfile_cli::{cert, failure, limits, logger, tls_options};

use std::process::ExitCode;

use clap::{ArgAction, Parser, Subcommand};

/// A TLS connection with the interface of a plain file: serve and connect with the sslfile
/// library (rustls underneath). Benchmarks: the sslfile-bench command.
#[derive(Debug, Parser)]
#[command(name = "sslfile", version, propagate_version = true)]
struct Cli {
    /// More log output on stderr: -v connections, -vv details (rustls included), -vvv all.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve HTTPS (or echo) on a certificate made at start; prints the curl line to try.
    Serve(serve::ServeArgs),
    /// Connect to a TLS server: stdin goes to the peer, the peer to stdout (like
    /// `openssl s_client -quiet`).
    Connect(connect::ConnectArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logger::init(cli.verbose);
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Connect(args) => connect::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("sslfile: {failure}");
            ExitCode::from(failure.code)
        }
    }
}
