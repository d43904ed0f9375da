//! `sslfile bench` runs every measurement and prints each table with its ratio. (How fast
//! is not tested here: that is what the command is for.)

mod common;

use common::cli::run;

fn table<'a>(stdout: &'a str, title: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with(title))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect()
}

/// "  sslfile blocking     1234.5 MiB/s" → 1234.5
fn value(line: &str) -> f64 {
    line.split_whitespace()
        .rev()
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no number in {line:?}"))
}

#[test]
fn bench_compares_sslfile_with_rustls_on_throughput_and_handshakes() {
    for tls in ["1.2", "1.3"] {
        let (status, stdout, stderr) =
            run(&["bench", "--duration", "0.2", "--rounds", "1", "--tls", tls]);
        assert!(status.success(), "{stderr}");
        assert!(stdout.contains(&format!("TLS {tls}")), "{stdout}");
        let suite = stdout
            .lines()
            .find_map(|l| l.strip_prefix("cipher suite: "))
            .unwrap_or_else(|| panic!("{stdout}"));
        assert!(
            suite.starts_with(if tls == "1.3" { "TLS13_" } else { "TLS_ECDHE_" }),
            "one suite, the same for both: {suite}"
        );
        for title in ["bulk throughput", "full handshakes", "resumed handshakes"] {
            let rows = table(&stdout, title);
            assert_eq!(rows.len(), 3, "{title}: {stdout}");
            assert!(
                rows[0].trim_start().starts_with("sslfile blocking"),
                "{stdout}"
            );
            assert!(
                rows[1].trim_start().starts_with("rustls StreamOwned"),
                "{stdout}"
            );
            assert!(
                rows[2].trim_start().starts_with("sslfile / rustls"),
                "{stdout}"
            );
            let (ours, theirs, ratio) = (value(rows[0]), value(rows[1]), value(rows[2]));
            assert!(ours > 0.0 && theirs > 0.0, "{stdout}");
            assert!(((ours / theirs) - ratio).abs() < 0.01, "{stdout}");
        }
    }
}

#[test]
fn bench_runs_one_measurement_when_asked() {
    let (status, stdout, stderr) = run(&[
        "bench",
        "--run",
        "handshakes",
        "--duration",
        "0.1",
        "--rounds",
        "1",
    ]);
    assert!(status.success(), "{stderr}");
    assert!(!stdout.contains("bulk throughput"), "{stdout}");
    assert!(stdout.contains("full handshakes"), "{stdout}");

    let (status, _, stderr) = run(&["bench", "--duration", "0"]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--duration must be a positive number"),
        "{stderr}"
    );
}
