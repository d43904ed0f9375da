//! The interop matrix: our `SslFile` against real TLS peers (see `tests/interop_matrix.rs`).
//!
//! * [`cells`]: the axes and the cells, as data.
//! * [`plan`]: what a cell needs, derived from it; [`run`]: one cell, end to end:
//!   certificates, our side, the peer, the checks.
//! * [`ours`]: our side in blocking, nonblocking or callback mode ([`callback_rig`]).
//! * [`peers`]: openssl, gnutls, Python, curl, Pike, rustls: how each is driven and judged,
//!   and where one cannot take part, why.
//! * [`report`]: the table, on stdout and in `target/interop-matrix.md`.

pub mod callback_rig;
pub mod cells;
pub mod http;
pub mod ours;
pub mod peers;
pub mod pki;
pub mod plan;
pub mod report;
pub mod run;

/// Compares two byte strings; the error gives lengths and the first difference instead of
/// megabytes of data.
pub fn compare(what: &str, got: &[u8], expected: &[u8]) -> Result<(), String> {
    if got == expected {
        return Ok(());
    }
    let first = got
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(expected.len()));
    Err(format!(
        "{what}: {} bytes, expected {}; first difference at offset {first}",
        got.len(),
        expected.len()
    ))
}
