//! `sslfile-bench` runs every scenario and prints each table with its ratios. (How fast
//! is not tested here: that is what the command is for.)

use std::process::{Command, ExitStatus, Stdio};

/// Runs `sslfile-bench ARGS...` to its end with stdin from `/dev/null`.
fn run(args: &[&str]) -> (ExitStatus, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sslfile-bench"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("sslfile-bench runs");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The rows of the table whose title starts with `title`.
fn table<'a>(stdout: &'a str, title: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with(title))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect()
}

/// "  sslfile blocking     1234.5  [1200.0-1250.0]" → ("sslfile blocking", 1234.5)
fn row(line: &str) -> (String, f64) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words
        .iter()
        .rposition(|w| w.parse::<f64>().is_ok())
        .unwrap_or_else(|| panic!("no number in {line:?}"));
    (words[..at].join(" "), words[at].parse().unwrap())
}

/// Checks a table: the contenders' rows, then one ratio row per contender and baseline,
/// each equal to the quotient of the medians.
fn check(stdout: &str, title: &str, contenders: &[&str], baselines: &[&str]) {
    let rows = table(stdout, title);
    let values: Vec<(String, f64)> = rows.iter().map(|l| row(l)).collect();
    let value = |name: &str| {
        values
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{title}: no row {name:?}: {stdout}"))
            .1
    };
    for name in contenders.iter().chain(baselines) {
        assert!(value(name).is_finite(), "{stdout}");
    }
    for name in contenders {
        for baseline in baselines {
            let ratio = value(&format!("{name} / {baseline}"));
            let expected = value(name) / value(baseline);
            // The table rounds the medians to 0.1 and the ratios to 0.01: for small
            // medians (17.4 / 108.7) the rounding alone moves the quotient by ~0.5%.
            assert!(
                (ratio - expected).abs() <= 0.01 + expected * 0.01,
                "{title}: {ratio} vs {expected}: {stdout}"
            );
        }
    }
    assert_eq!(
        rows.len(),
        contenders.len() + baselines.len() + contenders.len() * baselines.len(),
        "{title}: {stdout}"
    );
}

#[test]
fn bench_compares_every_mode_with_rustls_on_throughput_and_handshakes() {
    let (status, stdout, stderr) = run(&[
        "--duration",
        "0.2",
        "--rounds",
        "1",
        "--tls",
        "1.2,1.3",
        "--bulk-mib",
        "4",
    ]);
    assert!(status.success(), "{stderr}");
    assert!(
        stdout.contains("cores, load"),
        "the machine is named: {stdout}"
    );
    for tls in ["1.2", "1.3"] {
        let suite = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("cipher suite: "))
            .find(|s| s.starts_with(if tls == "1.3" { "TLS13_" } else { "TLS_ECDHE_" }))
            .unwrap_or_else(|| panic!("one suite for TLS {tls}, the same for all: {stdout}"));
        assert!(!suite.contains(','), "{suite}");
        let modes = [
            "sslfile blocking",
            "sslfile nonblocking",
            "sslfile callback",
            "sslfile tokio",
        ];
        let bulk = format!("TLS {tls}: bulk throughput");
        check(
            &stdout,
            &bulk,
            &modes,
            &["rustls StreamOwned", "tokio-rustls"],
        );
        for what in ["full handshakes", "resumed handshakes"] {
            let title = format!("TLS {tls}, ECDSA P-256: {what}");
            check(
                &stdout,
                &title,
                &["sslfile blocking"],
                &["rustls StreamOwned"],
            );
        }
    }
}

#[test]
fn bench_measures_echo_memory_and_duplex_when_asked() {
    let (status, stdout, stderr) = run(&[
        "--run",
        "echo,memory,duplex",
        "--duration",
        "0.3",
        "--rounds",
        "1",
        "--connections",
        "20",
        "--idle",
        "50",
        "--duplex-mib",
        "2",
        "--paced-mib",
        "1",
        "--paced-mbps",
        "50",
    ]);
    assert!(status.success(), "{stderr}");
    let echo = "TLS 1.3: echo, 20 connections, 1024 B messages, one server thread";
    for what in ["messages", "p50 round trip", "p99 round trip"] {
        let rows = table(&stdout, &format!("{echo}: {what}"));
        assert_eq!(row(rows[0]).0, "sslfile callback", "{stdout}");
        assert_eq!(row(rows[1]).0, "sslfile tokio", "{stdout}");
        assert!(row(rows[0]).1 > 0.0 && row(rows[1]).1 > 0.0, "{stdout}");
    }
    check(
        &stdout,
        "TLS 1.3: resident memory per idle connection, 50 connections",
        &["sslfile callback"],
        &["rustls ServerConnection"],
    );
    assert!(stdout.contains("sslfile - rustls: "), "{stdout}");
    for link in ["loopback TCP", "paced link"] {
        check(
            &stdout,
            &format!("TLS 1.3: two-thread full duplex, {link}"),
            &["sslfile full duplex (combined)"],
            &["sslfile one way"],
        );
        for split in ["sslfile tokio split", "tokio-rustls split"] {
            check(
                &stdout,
                &format!("TLS 1.3: split async stream full duplex ({split}), {link}"),
                &[&format!("{split}: full duplex (combined)")],
                &[&format!("{split}: one way")],
            );
        }
    }
    assert!(!stdout.contains("bulk throughput"), "{stdout}");
}

#[test]
fn bench_runs_only_the_contenders_asked_for() {
    let (status, stdout, stderr) = run(&[
        "--run",
        "handshakes",
        "--duration",
        "0.1",
        "--rounds",
        "1",
        "--key",
        "rsa",
        "--only",
        "rustls",
        "--count",
        "5",
    ]);
    assert!(status.success(), "{stderr}");
    let rows = table(&stdout, "TLS 1.3, RSA-2048: full handshakes");
    assert_eq!(rows.len(), 1, "{stdout}");
    assert_eq!(row(rows[0]).0, "rustls StreamOwned", "{stdout}");
    assert!(!stdout.contains("bulk throughput"), "{stdout}");

    let (status, _, stderr) = run(&["--duration", "0"]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--duration must be a positive number"),
        "{stderr}"
    );
}

#[test]
fn the_command_has_help() {
    let (status, stdout, stderr) = run(&["--help"]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("--duration <SECS>"), "{stdout}");
}
