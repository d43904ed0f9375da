//! The matrix's table: each test function records its section; the whole table (every
//! section recorded so far in this run, in a fixed order) is rewritten to
//! `target/interop-matrix.md` after each section, and each section is printed to stdout
//! (bypassing the test harness's capture, so that it shows in CI logs).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use super::cells::{Cell, Feature, Mode, Version, MODES, PEERS, ROLES, VERSIONS};
use super::peers;
use super::run::{Outcome, Status};

/// The sections, in table order.
pub const SECTIONS: [&str; 7] = [
    "transfer, our client",
    "transfer, our server",
    "ALPN and SNI",
    "client certificates",
    "resumption",
    "endings",
    "exact trust",
];

struct Recorded {
    started: Instant,
    sections: BTreeMap<usize, (Vec<Outcome>, f64)>,
}

fn recorded() -> &'static Mutex<Recorded> {
    static RECORDED: OnceLock<Mutex<Recorded>> = OnceLock::new();
    RECORDED.get_or_init(|| {
        Mutex::new(Recorded {
            started: Instant::now(),
            sections: BTreeMap::new(),
        })
    })
}

/// Where the table goes: `target/interop-matrix.md`.
pub fn table_path() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(&tmp).join("interop-matrix.md")
}

/// Marks the start of the run (the total time counts from the first call).
pub fn begin() {
    let _ = recorded();
}

/// Records a finished section: prints it, rewrites the file. Returns the failures.
pub fn record(section: &str, outcomes: Vec<Outcome>, seconds: f64) -> Vec<Outcome> {
    let index = SECTIONS
        .iter()
        .position(|s| *s == section)
        .expect("known section");
    let failures: Vec<Outcome> = outcomes
        .iter()
        .filter(|o| o.status == Status::Fail)
        .cloned()
        .collect();
    let text = section_table(section, &outcomes, seconds);
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "\n{text}");
    let _ = stdout.flush();
    drop(stdout);
    let mut rec = recorded().lock().unwrap_or_else(|e| e.into_inner());
    rec.sections.insert(index, (outcomes, seconds));
    let document = document(&rec);
    if let Err(e) = std::fs::write(table_path(), &document) {
        eprintln!("cannot write {}: {e}", table_path().display());
    }
    if rec.sections.len() == SECTIONS.len() {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(
            stdout,
            "\n{}\n(full table: {})",
            summary(&rec),
            table_path().display()
        );
    }
    failures
}

fn status_text(status: Status) -> &'static str {
    match status {
        Status::Pass => "pass",
        Status::Refused => "pass (refused, as it must be)",
        Status::NotApplicable => "n/a",
        Status::Fail => "**FAIL**",
    }
}

fn cell_columns(cell: &Cell) -> String {
    format!(
        "{} | {:?} | {:?} | {} | {}",
        cell.peer.tool(cell.role),
        cell.role,
        cell.mode,
        cell.version.dotted(),
        cell.feature
    )
}

fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn section_table(section: &str, outcomes: &[Outcome], seconds: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### {section} ({} cells, {seconds:.1} s)\n",
        outcomes.len()
    );
    let _ = writeln!(
        out,
        "| peer | our role | our mode | TLS | feature | result | evidence / reason | s |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for o in outcomes {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} |",
            cell_columns(&o.cell),
            status_text(o.status),
            escape(&o.detail),
            o.seconds
        );
    }
    out
}

fn summary(rec: &Recorded) -> String {
    let all: Vec<&Outcome> = rec.sections.values().flat_map(|(o, _)| o).collect();
    let statuses = [
        Status::Pass,
        Status::Refused,
        Status::NotApplicable,
        Status::Fail,
    ];
    let counts = |keep: &dyn Fn(&Outcome) -> bool| {
        let cells: Vec<&&Outcome> = all.iter().filter(|o| keep(o)).collect();
        let by: Vec<String> = statuses
            .iter()
            .map(|s| cells.iter().filter(|o| o.status == *s).count().to_string())
            .collect();
        format!("{} | {}", cells.len(), by.join(" | "))
    };
    let mut out = String::new();
    let _ = writeln!(out, "### Summary\n");
    let _ = writeln!(
        out,
        "| peer program | our role | cells | pass | refused (expected) | n/a | FAIL |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for peer in PEERS {
        for role in ROLES {
            let row = counts(&|o| o.cell.peer == peer && o.cell.role == role);
            let _ = writeln!(out, "| {} | {role:?} | {row} |", peer.tool(role));
        }
    }
    let _ = writeln!(out, "| **all** | | {} |", counts(&|_| true));

    // Each mode against each feature, over all peers: the cells that ran.
    let _ = writeln!(
        out,
        "\nCells that ran (pass or refused as expected), by feature and our mode:\n"
    );
    let _ = writeln!(
        out,
        "| feature | {} |",
        MODES.map(|m| format!("{m:?}")).join(" | ")
    );
    let _ = writeln!(out, "|---|{}", "---|".repeat(MODES.len()));
    let mut features: Vec<Feature> = all.iter().map(|o| o.cell.feature).collect();
    features.sort();
    features.dedup();
    for feature in features {
        let ran: Vec<String> = MODES
            .iter()
            .map(|mode| {
                all.iter()
                    .filter(|o| o.cell.feature == feature && o.cell.mode == *mode)
                    .filter(|o| matches!(o.status, Status::Pass | Status::Refused))
                    .count()
                    .to_string()
            })
            .collect();
        let _ = writeln!(out, "| {feature} | {} |", ran.join(" | "));
    }
    out.push_str(&grids(&all));
    let _ = writeln!(
        out,
        "\nSections run: {} of {}; wall time since the first section started: {:.0} s \
         (sections run in parallel test threads; cell seconds add up per section).",
        rec.sections.len(),
        SECTIONS.len(),
        rec.started.elapsed().as_secs_f64()
    );
    out
}

/// The whole matrix at a glance: one row per peer program, one column per transfer
/// variant or feature; each entry the result, and for features the mode and version used.
fn grids(all: &[&Outcome]) -> String {
    let short = |o: &Outcome| match o.status {
        Status::Pass => "ok",
        Status::Refused => "refused",
        Status::NotApplicable => "n/a",
        Status::Fail => "**FAIL**",
    };
    let mode_letter = |m: Mode| match m {
        Mode::Blocking => "B",
        Mode::Nonblocking => "N",
        Mode::Callback => "C",
        Mode::Async => "A",
    };
    let mut out = String::new();
    let transfer: Vec<(Version, Mode)> = VERSIONS
        .iter()
        .flat_map(|v| MODES.iter().map(move |m| (*v, *m)))
        .collect();
    let _ = writeln!(
        out,
        "\nTransfer cells (16 MiB each way + clean close), by TLS version and our mode \
         (B blocking, N nonblocking, C callback, A async on tokio), and the key-exchange \
         group each version negotiated:\n"
    );
    let header: Vec<String> = transfer
        .iter()
        .map(|(v, m)| format!("{} {}", v.dotted(), mode_letter(*m)))
        .collect();
    let _ = writeln!(
        out,
        "| peer program | our role | {} | key exchange (TLS 1.3 / 1.2) |",
        header.join(" | ")
    );
    let _ = writeln!(out, "|---|---|{}---|", "---|".repeat(transfer.len()));
    for peer in PEERS {
        for role in ROLES {
            let row: Vec<&str> = transfer
                .iter()
                .map(|(v, m)| {
                    all.iter()
                        .find(|o| {
                            let c = o.cell;
                            c.peer == peer
                                && c.role == role
                                && c.feature == Feature::Transfer
                                && c.version == *v
                                && c.mode == *m
                        })
                        .map_or("", |o| short(o))
                })
                .collect();
            if row.iter().any(|e| !e.is_empty()) {
                let groups = |version: Version| {
                    let mut seen: Vec<&str> = all
                        .iter()
                        .filter(|o| {
                            let c = o.cell;
                            c.peer == peer
                                && c.role == role
                                && c.feature == Feature::Transfer
                                && c.version == version
                        })
                        .filter_map(|o| o.detail.split("ours: key exchange ").nth(1))
                        .map(|rest| rest.split(';').next().unwrap_or(rest).trim())
                        .collect();
                    seen.sort_unstable();
                    seen.dedup();
                    if seen.is_empty() {
                        "—".to_owned()
                    } else {
                        seen.join(", ")
                    }
                };
                let _ = writeln!(
                    out,
                    "| {} | {role:?} | {} | {} / {} |",
                    peer.tool(role),
                    row.join(" | "),
                    groups(Version::Tls13),
                    groups(Version::Tls12)
                );
            }
        }
    }
    let mut features: Vec<Feature> = all
        .iter()
        .map(|o| o.cell.feature)
        .filter(|f| *f != Feature::Transfer)
        .collect();
    features.sort();
    features.dedup();
    if features.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "\nFeature cells, each with the mode (B, N, C) and TLS version it ran with:\n"
    );
    let header: Vec<String> = features.iter().map(|f| f.to_string()).collect();
    let _ = writeln!(out, "| peer program | our role | {} |", header.join(" | "));
    let _ = writeln!(out, "|---|---|{}", "---|".repeat(features.len()));
    for peer in PEERS {
        for role in ROLES {
            let row: Vec<String> = features
                .iter()
                .map(|f| {
                    all.iter()
                        .filter(|o| {
                            o.cell.peer == peer && o.cell.role == role && o.cell.feature == *f
                        })
                        .map(|o| match o.status {
                            Status::NotApplicable => "n/a".to_owned(),
                            _ => format!(
                                "{} {}{}",
                                short(o),
                                mode_letter(o.cell.mode),
                                o.cell.version.dotted()
                            ),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .collect();
            let _ = writeln!(
                out,
                "| {} | {role:?} | {} |",
                peer.tool(role),
                row.join(" | ")
            );
        }
    }
    out
}

fn document(rec: &Recorded) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Interop matrix\n");
    let _ = writeln!(
        out,
        "Written by `cargo test --test interop_matrix` (run by `.ci/run`).\n"
    );
    let _ = writeln!(out, "Peers:\n");
    static VERSIONS: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    for (name, version) in VERSIONS.get_or_init(peers::versions) {
        let _ = writeln!(out, "* {name}: {version}");
    }
    let _ = writeln!(
        out,
        "\nSample of the product: **transfer** cells run every peer × our role × TLS version × \
         our mode with {} MiB of random bytes each way, compared byte for byte, then a clean \
         close (close_notify both ways); the **feature** cells (ALPN, SNI, client \
         certificates, resumption, endings: 64 KiB each way, 4 KiB per connection for \
         resumption) run every peer × our role with one mode each, rotating through the four \
         modes along the features (and alternating the TLS version; resumption runs with \
         both).",
        crate::interop::plan::TRANSFER_BYTES >> 20
    );
    let _ = writeln!(
        out,
        "\nResults: **pass**: ran, checked on both sides (evidence given); **pass (refused, as \
         it must be)**: the handshake had to fail and failed with a clear error on both sides; \
         **n/a**: the combination cannot work, for the reason given.\n"
    );
    out.push_str(&summary(rec));
    for (index, (outcomes, seconds)) in &rec.sections {
        out.push('\n');
        out.push_str(&section_table(SECTIONS[*index], outcomes, *seconds));
    }
    let missing: Vec<&str> = SECTIONS
        .iter()
        .enumerate()
        .filter(|(i, _)| !rec.sections.contains_key(i))
        .map(|(_, s)| *s)
        .collect();
    if !missing.is_empty() {
        let _ = writeln!(out, "\nNot run in this invocation: {}.", missing.join(", "));
    }
    out
}
