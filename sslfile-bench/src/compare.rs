//! Each scenario run for every contender, rounds alternating between them, into ratio
//! tables ([`Comparison`]): what `sslfile-bench` prints and `cargo bench` too.

use std::ffi::OsString;
use std::io;
use std::time::Duration;

use super::handshakes::{self, Kind, Limit};
use super::progress::{Progress, Unit};
use super::report::Comparison;
use super::{contenders, duplex, echo, memory, throughput, tokio_duplex, Setup};

/// What every scenario shares: rounds, which contenders, progress display.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Rounds per contender.
    pub rounds: u32,
    /// Only contenders whose name contains one of these (all if empty).
    pub only: Vec<String>,
    /// Show a progress line on stderr.
    pub progress: bool,
}

impl Plan {
    fn wanted(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| name.contains(o.as_str()))
    }
}

/// Scenario 1: bulk one-way transfer of `bytes` in `chunk`-byte writes, every mode and
/// baseline. Returns the table and the cipher suites seen.
pub fn bulk(
    plan: &Plan,
    setup: &Setup,
    bytes: u64,
    chunk: usize,
) -> io::Result<(Comparison, Vec<String>)> {
    let mut table = Comparison::new(
        format!(
            "{}: bulk throughput, client to server, {} MiB in {} KiB writes",
            setup.version,
            bytes >> 20,
            chunk / 1024
        ),
        "MiB/s",
        contenders::BULK_BASELINES,
    );
    let mut suites = Vec::new();
    for _ in 0..plan.rounds {
        for contender in contenders::bulk().iter().filter(|c| plan.wanted(c.name())) {
            let progress = Progress::start(contender.name(), Unit::Bytes, plan.progress);
            let result = throughput::run(&**contender, setup, bytes, chunk, &progress)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", contender.name())))?;
            drop(progress);
            log::info!("{}: {result:?}", contender.name());
            table.add(contender.name(), result.per_second() / (1024.0 * 1024.0));
            if !suites.contains(&result.suite) {
                suites.push(result.suite);
            }
        }
    }
    Ok((table, suites))
}

/// Scenario 2: full and resumed handshakes per second.
pub fn handshakes(plan: &Plan, setup: &Setup, limit: Limit) -> io::Result<Vec<Comparison>> {
    let mut tables = Vec::new();
    for (kind, what) in [
        (Kind::Full, "full handshakes (a client that never resumes)"),
        (Kind::Resumed, "resumed handshakes (one client context)"),
    ] {
        let mut table = Comparison::new(
            format!("{}, {}: {what}", setup.version, setup.key),
            "/s",
            &["rustls StreamOwned"],
        );
        for _ in 0..plan.rounds {
            for contender in contenders::all().iter().filter(|c| plan.wanted(c.name())) {
                let progress = Progress::start(contender.name(), Unit::Events, plan.progress);
                let result = handshakes::run(&**contender, setup, kind, limit, &progress)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", contender.name())))?;
                drop(progress);
                log::info!("{}: {kind:?} {result:?}", contender.name());
                table.add(contender.name(), result.per_second());
            }
        }
        tables.push(table);
    }
    Ok(tables)
}

/// Scenario 3: `connections` clients echoing `message`-byte messages on one server
/// thread, measured over `window` after half a second of warm-up. Returns the tables of
/// messages/s, p50 and p99.
pub fn echo(
    plan: &Plan,
    setup: &Setup,
    connections: usize,
    message: usize,
    window: Duration,
) -> io::Result<Vec<Comparison>> {
    let what = format!(
        "{}: echo, {connections} connections, {message} B messages, one server thread",
        setup.version
    );
    let baselines = &["tokio-rustls"];
    let mut rate = Comparison::new(format!("{what}: messages"), "/s", baselines);
    let mut p50 = Comparison::new(
        format!("{what}: p50 round trip (lower is better)"),
        "us",
        baselines,
    );
    let mut p99 = Comparison::new(
        format!("{what}: p99 round trip (lower is better)"),
        "us",
        baselines,
    );
    for _ in 0..plan.rounds {
        for server in echo::servers().iter().filter(|s| plan.wanted(s.name())) {
            let warmup = Duration::from_millis(500);
            let result = echo::run(&**server, setup, connections, message, warmup, window)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", server.name())))?;
            log::info!("{}: {result:?}", server.name());
            rate.add(server.name(), result.per_second());
            p50.add(server.name(), result.p50.as_secs_f64() * 1e6);
            p99.add(server.name(), result.p99.as_secs_f64() * 1e6);
        }
    }
    Ok(vec![rate, p50, p99])
}

/// Scenario 4: resident bytes per idle connection, `idle` connections on one server in a
/// child process started with `child_args` (see [`memory::run`]).
pub fn memory(
    plan: &Plan,
    setup: &Setup,
    child_args: &[OsString],
    idle: usize,
) -> io::Result<Comparison> {
    let mut table = Comparison::new(
        format!(
            "{}: resident memory per idle connection, {idle} connections on one server",
            setup.version
        ),
        "bytes",
        &[memory::label("rustls")],
    );
    for _ in 0..plan.rounds {
        for &server in memory::SERVERS {
            if !plan.wanted(memory::label(server)) {
                continue;
            }
            let result = memory::run(server, setup, child_args, 100, idle)
                .map_err(|e| io::Error::new(e.kind(), format!("{server}: {e}")))?;
            log::info!("{server}: {result:?}");
            table.add(memory::label(server), result.per_connection());
        }
    }
    Ok(table)
}

/// Scenario 5: two-thread full duplex against one way, on loopback (`mib` each way) and
/// on a paced link (`paced_mib` each way at `mbps` MB/s per direction).
pub fn duplex(
    plan: &Plan,
    setup: &Setup,
    mib: u64,
    paced_mib: u64,
    mbps: f64,
) -> io::Result<Vec<Comparison>> {
    let mut tables = Vec::new();
    for (link, mib, paced) in [
        ("loopback TCP".to_string(), mib, None),
        (
            format!("paced link, {mbps} MB/s per direction"),
            paced_mib,
            Some(mbps),
        ),
    ] {
        let title = format!(
            "{}: two-thread full duplex, {link}, {mib} MiB each way",
            setup.version
        );
        let mut table = Comparison::new(title, "MB/s", &["sslfile one way"]);
        if plan.wanted("sslfile threads") {
            for _ in 0..plan.rounds {
                let result = duplex::run(setup, mib << 20, paced)?;
                log::info!("duplex: {result:?}");
                table.add("sslfile one way", result.one_way_rate() / 1e6);
                table.add("sslfile full duplex (combined)", result.duplex_rate() / 1e6);
            }
            tables.push(table);
        }
        let async_contenders: [&dyn tokio_duplex::AsyncDuplex; 2] =
            [&tokio_duplex::SslfileSplit, &tokio_duplex::TokioRustlsSplit];
        for contender in async_contenders {
            let name = contender.name();
            if !plan.wanted(name) {
                continue;
            }
            let one_way = format!("{name}: one way");
            let title = format!(
                "{}: split async stream full duplex ({name}), {link}, {mib} MiB each way",
                setup.version
            );
            let mut table = Comparison::new(title, "MB/s", &[one_way.as_str()]);
            for _ in 0..plan.rounds {
                let result = tokio_duplex::run(contender, setup, mib << 20, paced)
                    .map_err(|e| io::Error::new(e.kind(), format!("{name}: {e}")))?;
                log::info!("{name} duplex: {result:?}");
                table.add(&one_way, result.one_way_rate() / 1e6);
                table.add(
                    &format!("{name}: full duplex (combined)"),
                    result.duplex_rate() / 1e6,
                );
            }
            tables.push(table);
        }
    }
    Ok(tables)
}

/// The machine, for a report's header: CPU model, cores, 1-minute load average.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "?".into());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    format!(
        "{cpu}, {} cores, load {load}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    )
}
