//! `sslfile bench`: the command line over the measurements in [`crate::bench`]. Rounds
//! alternate between the contenders, so that a slow moment of a shared machine does not
//! fall on one of them only; the median of the rounds is reported.

use std::io::IsTerminal;
use std::time::Duration;

use clap::{Args, ValueEnum};
use sslfile::TlsVersion;

use crate::bench::handshakes::{self, Kind};
use crate::bench::progress::{Progress, Unit};
use crate::bench::report::Comparison;
use crate::bench::{contenders, throughput, Setup};
use crate::failure::{Context, Failure};
use crate::limits;
use crate::tls_options::parse_version;

/// `sslfile bench` options.
#[derive(Debug, Args)]
#[command(
    after_help = "Everything runs in this process over loopback TCP: a server thread \
and a client thread per run. The ratio is sslfile's median over rustls's: above 1, sslfile \
is faster."
)]
pub struct BenchArgs {
    /// What to measure (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Run::Throughput, Run::Handshakes])]
    run: Vec<Run>,

    /// Seconds per round of each measurement.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    duration: f64,

    /// Rounds per measurement and contender; the median is reported.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,

    /// The TLS version: 1.2 or 1.3.
    #[arg(long, value_name = "VERSION", value_parser = parse_version, default_value = "1.3")]
    tls: TlsVersion,

    /// Bytes per write in the throughput runs.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024)]
    chunk: usize,
}

/// A measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Run {
    /// Bulk throughput, client to server.
    Throughput,
    /// Handshakes per second, full and resumed.
    Handshakes,
}

/// Runs the measurements and prints the comparison tables.
pub fn run(args: BenchArgs) -> Result<(), Failure> {
    let duration = Duration::try_from_secs_f64(args.duration)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| Failure::new("--duration must be a positive number of seconds"))?;
    limits::raise_open_files_limit();
    let setup = Setup::new(args.tls).context(|| "cannot set up the benchmark")?;
    let contenders = contenders::all();
    let visible = std::io::stderr().is_terminal();
    println!(
        "sslfile bench: loopback TCP, {}, {} round(s) of {:.1} s per contender, medians",
        args.tls,
        args.rounds,
        duration.as_secs_f64()
    );

    if args.run.contains(&Run::Throughput) {
        let mut table = Comparison::new(
            format!(
                "bulk throughput, client to server, {} KiB writes",
                args.chunk / 1024
            ),
            "MiB/s",
        );
        let mut suites = Vec::new();
        for _ in 0..args.rounds {
            for contender in &contenders {
                let progress = Progress::start(contender.name(), Unit::Bytes, visible);
                let result = throughput::run(&**contender, &setup, duration, args.chunk, &progress)
                    .context(|| format!("{}: throughput", contender.name()))?;
                drop(progress);
                log::info!("{}: {result:?}", contender.name());
                table.add(contender.name(), result.per_second() / (1024.0 * 1024.0));
                if !suites.contains(&result.suite) {
                    suites.push(result.suite);
                }
            }
        }
        println!("cipher suite: {}", suites.join(", "));
        print!("{table}");
    }

    if args.run.contains(&Run::Handshakes) {
        for (kind, title) in [
            (
                Kind::Full,
                "full handshakes (a new client context each time)",
            ),
            (Kind::Resumed, "resumed handshakes (one client context)"),
        ] {
            let mut table = Comparison::new(title, "/s");
            for _ in 0..args.rounds {
                for contender in &contenders {
                    let progress = Progress::start(contender.name(), Unit::Events, visible);
                    let result = handshakes::run(&**contender, &setup, kind, duration, &progress)
                        .context(|| format!("{}: handshakes", contender.name()))?;
                    drop(progress);
                    log::info!("{}: {kind:?} {result:?}", contender.name());
                    table.add(contender.name(), result.per_second());
                }
            }
            print!("{table}");
        }
    }
    Ok(())
}
