//! Bulk transfer (scenario 1) and handshakes (scenario 2) with criterion, on the harness
//! that `sslfile-bench` uses (this crate's library); the ratio tables of all samples
//! are printed at the end.
//!
//! Run: `cargo bench -p sslfile-bench --bench tls`. `SSLFILE_BENCH_BULK_MIB` sets the MiB
//! per bulk transfer (default 256); criterion's own options follow `--`, e.g. `-- bulk` for one group.

use sslfile_bench as bench;

use std::time::Duration;

use bench::contenders;
use bench::handshakes::{self, Kind, Limit};
use bench::progress::{Progress, Unit};
use bench::report::Comparison;
use bench::setup::{KeyType, Setup};
use bench::throughput;
use criterion::{Criterion, SamplingMode, Throughput};
use sslfile::TlsVersion;

fn bulk(c: &mut Criterion, setup: &Setup, mib: u64) -> Comparison {
    let mut table = Comparison::new(
        format!("{}: bulk throughput, {mib} MiB per transfer", setup.version),
        "MiB/s",
        contenders::BULK_BASELINES,
    );
    let mut group = c.benchmark_group(format!("bulk {}", setup.version));
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .throughput(Throughput::Bytes(mib << 20));
    for contender in contenders::bulk() {
        group.bench_function(contender.name(), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let progress = Progress::start(contender.name(), Unit::Bytes, false);
                    let result =
                        throughput::run(&*contender, setup, mib << 20, 64 * 1024, &progress)
                            .expect("bulk transfer");
                    table.add(contender.name(), result.per_second() / (1024.0 * 1024.0));
                    total += result.elapsed;
                }
                total
            })
        });
    }
    group.finish();
    table
}

fn handshakes(c: &mut Criterion, setup: &Setup) -> Vec<Comparison> {
    let mut tables = Vec::new();
    for kind in [Kind::Full, Kind::Resumed] {
        let mut table = Comparison::new(
            format!("{}, {}: {kind:?} handshakes", setup.version, setup.key),
            "/s",
            &["rustls StreamOwned"],
        );
        let mut group = c.benchmark_group(format!(
            "{kind:?} handshakes {} {}",
            setup.version, setup.key
        ));
        group.sample_size(10).throughput(Throughput::Elements(1));
        for contender in contenders::all() {
            group.bench_function(contender.name(), |b| {
                b.iter_custom(|iters| {
                    let limit = Limit {
                        duration: Duration::from_secs(3600),
                        count: Some(iters),
                    };
                    let progress = Progress::start(contender.name(), Unit::Events, false);
                    let result = handshakes::run(&*contender, setup, kind, limit, &progress)
                        .expect("handshakes");
                    table.add(contender.name(), result.per_second());
                    result.elapsed
                })
            });
        }
        group.finish();
        tables.push(table);
    }
    tables
}

fn main() {
    let mib = std::env::var("SSLFILE_BENCH_BULK_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let mut c = Criterion::default()
        .measurement_time(Duration::from_secs(10))
        .configure_from_args();
    let mut tables = Vec::new();
    for version in [TlsVersion::Tls1_3, TlsVersion::Tls1_2] {
        let setup = Setup::new(version, KeyType::EcdsaP256).expect("setup");
        tables.push(bulk(&mut c, &setup, mib));
        tables.extend(handshakes(&mut c, &setup));
        let rsa = Setup::new(version, KeyType::Rsa2048).expect("setup");
        tables.extend(handshakes(&mut c, &rsa));
    }
    c.final_summary();
    println!(
        "\nratios of the medians over every transfer or handshake round criterion ran ({}). \
         Criterion runs one contender's samples after another's: the bracketed per-round \
         ratios pair rounds made apart in time (sslfile-bench alternates its rounds).",
        bench::compare::machine()
    );
    for table in tables.iter().filter(|t| !t.rows.is_empty()) {
        print!("{table}");
    }
}
