//! The interop matrix: `SslFile` against openssl s_server/s_client, gnutls-serv/gnutls-cli,
//! Python's ssl, curl, Pike 8.0's SSL.File and rustls itself, as client and as server, in
//! blocking, nonblocking and callback mode, with TLS 1.2 and 1.3.
//!
//! The cells are data (`interop/cells.rs`); each test function below runs one section of
//! them, records it in the table (printed, and written to `target/interop-matrix.md`), and
//! fails if any cell that can run failed. Cells that cannot run say why in the table.
//!
//! Debugging: `INTEROP_CELLS="Rustls|Pike" cargo test --test interop_matrix` runs only the
//! cells whose description contains one of the strings (see [`run_section`]).
//!
//! Needs the peer programs: `openssl`, `gnutls-cli`/`gnutls-serv` (gnutls-bin), `python3`,
//! `curl`, `pike` (pike8.0-core); `.ci/run` installs them.

use crate::interop;

use std::time::Instant;

use interop::cells::{self, Feature, Role};
use interop::report;
use interop::run::{self, Outcome};

/// Runs a section's cells. For debugging, `INTEROP_CELLS=a|b` keeps only the cells whose
/// description (as printed in failures) contains one of the `|`-separated strings.
fn run_section(section: &str, mut cells: Vec<cells::Cell>) {
    if let Ok(filter) = std::env::var("INTEROP_CELLS") {
        cells.retain(|c| {
            let text = c.to_string();
            filter.split('|').any(|f| text.contains(f))
        });
    }
    report::begin();
    let start = Instant::now();
    let outcomes: Vec<Outcome> = cells.into_iter().map(run::run).collect();
    let failures = report::record(section, outcomes, start.elapsed().as_secs_f64());
    let list: Vec<String> = failures
        .iter()
        .map(|o| format!("* {}: {}", o.cell, o.detail))
        .collect();
    assert!(
        failures.is_empty(),
        "{} cell(s) failed:\n{}",
        failures.len(),
        list.join("\n")
    );
}

/// Every peer × TLS version × mode, our client: 16 MiB each way, then a clean close.
#[test]
fn transfer_our_client() {
    run_section("transfer, our client", cells::transfer_cells(Role::Client));
}

/// Every peer × TLS version × mode, our server: 16 MiB each way, then a clean close.
#[test]
fn transfer_our_server() {
    run_section("transfer, our server", cells::transfer_cells(Role::Server));
}

/// ALPN matched / none / mismatch, and a client without SNI, per peer × role.
#[test]
fn alpn_and_sni() {
    run_section(
        "ALPN and SNI",
        cells::feature_cells(|f| matches!(f, Feature::Alpn(_) | Feature::NoSni)),
    );
}

/// Client certificate required / optional / absent, per peer × role.
#[test]
fn client_certificates() {
    run_section(
        "client certificates",
        cells::feature_cells(|f| matches!(f, Feature::ClientCert(_))),
    );
}

/// The server's certificate is `openssl req -x509`'s (marked CA:TRUE), trusted exactly by
/// the client, per peer × role (SPEC §10: trust as the peers do it).
#[test]
fn exact_trust() {
    run_section("exact trust", cells::exact_trust_cells());
}

/// A second connection resumes the first one's session, per peer × role × version.
#[test]
fn resumption() {
    run_section(
        "resumption",
        cells::feature_cells(|f| f == Feature::Resumption),
    );
}

/// The peer's close_notify, our close(), the peer dropping its socket, per peer × role.
#[test]
fn endings() {
    run_section(
        "endings",
        cells::feature_cells(|f| matches!(f, Feature::Close(_))),
    );
}
