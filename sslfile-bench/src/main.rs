//! `sslfile-bench`: the command line over the measurements of this crate's library. Rounds
//! alternate between the contenders, so that a slow moment of a shared machine does not
//! fall on one of them only; the median of the rounds is reported with the spread.

use std::io::IsTerminal;
use std::time::Duration;

use std::process::ExitCode;

use clap::{ArgAction, Parser, ValueEnum};
use sslfile::TlsVersion;

use sslfile_bench::compare::{self, Plan};
use sslfile_bench::handshakes::Limit;
use sslfile_bench::setup::KeyType;
use sslfile_bench::{memory, Setup};
use sslfile_cli::failure::{Context, Failure};
use sslfile_cli::limits;
use sslfile_cli::tls_options::parse_version;

/// sslfile against raw rustls and tokio-rustls over loopback TCP: bulk transfer in every
/// mode, handshakes, echo at scale, memory per idle connection, full duplex.
#[derive(Debug, Parser)]
#[command(
    name = "sslfile-bench",
    version,
    after_help = "Everything runs in this process over loopback TCP (the memory \
scenario's server in a child process). Each ratio is a contender's median over a \
baseline's (above 1: faster, or more), with the spread of the per-round ratios."
)]
pub struct BenchArgs {
    /// More log output on stderr: -v, -vv, -vvv.
    #[arg(short, long, action = ArgAction::Count)]
    verbose: u8,

    /// What to measure (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Run::Throughput, Run::Handshakes])]
    run: Vec<Run>,

    /// Seconds per round of the handshake runs, and the echo runs' window.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    duration: f64,

    /// Rounds per measurement and contender; the median is reported.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,

    /// The TLS versions (comma-separated): 1.2, 1.3.
    #[arg(long, value_name = "VERSION", value_parser = parse_version, value_delimiter = ',', default_value = "1.3")]
    tls: Vec<TlsVersion>,

    /// The server's key types for the handshake runs (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Key::Ecdsa])]
    key: Vec<Key>,

    /// Only the contenders whose name contains one of these (comma-separated), e.g.
    /// "sslfile blocking" (for profiling one of them).
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    only: Vec<String>,

    /// MiB per bulk transfer.
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    bulk_mib: u64,

    /// Bytes per write in the bulk runs.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024)]
    chunk: usize,

    /// Stop each handshake round after this many connections (a fixed amount of work,
    /// for profilers), if that comes before --duration.
    #[arg(long, value_name = "N")]
    count: Option<u64>,

    /// Echo: concurrent connections.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    connections: usize,

    /// Echo: bytes per message.
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    message: usize,

    /// Memory: idle connections counted (after 100 warm-up ones).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    idle: usize,

    /// Duplex: MiB each way over loopback.
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    duplex_mib: u64,

    /// Duplex: MiB each way over the paced link.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    paced_mib: u64,

    /// Duplex: the paced link's rate, MB/s per direction.
    #[arg(long, value_name = "MBPS", default_value_t = 100.0)]
    paced_mbps: f64,
}

/// A measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Run {
    /// Bulk throughput, client to server, in every mode.
    Throughput,
    /// Handshakes per second, full and resumed.
    Handshakes,
    /// Callback mode at scale: many connections echoing on one server thread.
    Echo,
    /// Resident bytes per idle connection.
    Memory,
    /// Two-thread full duplex against one way.
    Duplex,
}

/// A server key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Key {
    /// ECDSA P-256.
    Ecdsa,
    /// RSA-2048.
    Rsa,
}

impl From<Key> for KeyType {
    fn from(key: Key) -> KeyType {
        match key {
            Key::Ecdsa => KeyType::EcdsaP256,
            Key::Rsa => KeyType::Rsa2048,
        }
    }
}

fn main() -> ExitCode {
    let args = BenchArgs::parse();
    sslfile_cli::logger::init(args.verbose);
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("sslfile-bench: {failure}");
            ExitCode::from(failure.code)
        }
    }
}

/// Runs the measurements and prints the comparison tables.
pub fn run(args: BenchArgs) -> Result<(), Failure> {
    if let Some(served) = memory::serve_if_child() {
        return served.context(|| "memory bench server");
    }
    let duration = Duration::try_from_secs_f64(args.duration)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| Failure::new("--duration must be a positive number of seconds"))?;
    limits::raise_open_files_limit();
    let plan = Plan {
        rounds: args.rounds,
        only: args.only.clone(),
        progress: std::io::stderr().is_terminal(),
    };
    println!(
        "sslfile-bench: loopback TCP, {} round(s) per contender, medians; {}",
        args.rounds,
        compare::machine()
    );
    let failed = |what: &'static str| move || format!("{what} failed");
    for &version in &args.tls {
        let setup =
            Setup::new(version, KeyType::EcdsaP256).context(|| "cannot set up the benchmark")?;
        if args.run.contains(&Run::Throughput) {
            let (table, suites) = compare::bulk(&plan, &setup, args.bulk_mib << 20, args.chunk)
                .context(failed("throughput"))?;
            println!("cipher suite: {}", suites.join(", "));
            print!("{table}");
        }
        if args.run.contains(&Run::Handshakes) {
            let limit = Limit {
                duration,
                count: args.count,
            };
            for &key in &args.key {
                let rsa;
                let setup = match KeyType::from(key) {
                    KeyType::EcdsaP256 => &setup,
                    other => {
                        rsa =
                            Setup::new(version, other).context(|| "cannot set up the benchmark")?;
                        &rsa
                    }
                };
                for table in
                    compare::handshakes(&plan, setup, limit).context(failed("handshakes"))?
                {
                    print!("{table}");
                }
            }
        }
        if args.run.contains(&Run::Echo) {
            let tables = compare::echo(&plan, &setup, args.connections, args.message, duration)
                .context(failed("echo"))?;
            for table in tables {
                print!("{table}");
            }
        }
        if args.run.contains(&Run::Memory) {
            let child_args: Vec<_> = std::env::args_os().skip(1).collect();
            let table =
                compare::memory(&plan, &setup, &child_args, args.idle).context(failed("memory"))?;
            print!("{table}");
            if let (Some(ours), Some(raw)) = (
                table.median(memory::label("sslfile")),
                table.median(memory::label("rustls")),
            ) {
                println!(
                    "sslfile - rustls: {:+.0} bytes per idle connection",
                    ours - raw
                );
            }
        }
        if args.run.contains(&Run::Duplex) {
            let tables = compare::duplex(
                &plan,
                &setup,
                args.duplex_mib,
                args.paced_mib,
                args.paced_mbps,
            )
            .context(failed("duplex"))?;
            for table in tables {
                print!("{table}");
            }
        }
    }
    Ok(())
}
