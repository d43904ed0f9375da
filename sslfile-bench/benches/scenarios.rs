//! Echo at scale (scenario 3), memory per idle connection (4) and two-thread full duplex
//! (5), on the harness that `sslfile-bench` uses (this crate's library).
//!
//! Run: `cargo bench -p sslfile-bench --bench scenarios` (all three), or name some:
//! `cargo bench -p sslfile-bench --bench scenarios -- echo memory duplex`. Sizes as
//! `sslfile-bench`'s defaults: 1,000 echo connections of 1 KiB messages (a 5 s window),
//! 10,000 idle connections, 256 MiB (loopback) and 64 MiB at 100 MB/s (paced) each way;
//! three rounds.

use sslfile_bench as bench;

use std::time::Duration;

use bench::compare::{self, Plan};
use bench::setup::{KeyType, Setup};
use sslfile::TlsVersion;

fn main() {
    if let Some(served) = bench::memory::serve_if_child() {
        served.expect("memory bench server");
        return;
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |name: &str| args.is_empty() || args.iter().any(|a| a == name);
    let plan = Plan {
        rounds: 3,
        only: Vec::new(),
        progress: false,
    };
    let setup = Setup::new(TlsVersion::Tls1_3, KeyType::EcdsaP256).expect("setup");
    println!("{}", compare::machine());
    if wanted("echo") {
        for table in compare::echo(&plan, &setup, 1000, 1024, Duration::from_secs(5)).expect("echo")
        {
            print!("{table}");
        }
    }
    if wanted("memory") {
        let child_args: Vec<_> = std::env::args_os().skip(1).collect();
        let table = compare::memory(&plan, &setup, &child_args, 10_000).expect("memory");
        print!("{table}");
    }
    if wanted("duplex") {
        for table in compare::duplex(&plan, &setup, 256, 64, 100.0).expect("duplex") {
            print!("{table}");
        }
    }
}
