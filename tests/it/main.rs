//! The behaviour tests, one module per topic, in one test binary (every extra binary links
//! aws-lc again, slowly on two cores). Each module's doc says what it covers; the helpers
//! are in `tests/common`. Tests that count process-wide connections or descriptors are in
//! the `global` binary, the soak and the interop matrix in binaries of their own.

#[path = "../common/mod.rs"]
mod common;

mod async_futures_io;
mod async_tokio;
mod backend_nesting;
mod buffer_limits;
mod callbacks;
mod certificate_choice;
mod clean_close;
mod client_auth;
mod close_table;
mod context_certs;
mod context_params;
mod context_reload;
mod early_data;
mod exact_trust;
mod fault_regressions;
mod faults_pumped;
mod faults_threaded;
mod faulty_close;
mod file_callbacks;
mod handshake;
mod harness_selftest;
mod hyper_examples;
mod keys;
mod mio_example;
mod nonblocking;
mod nothing_lost;
mod ocsp_stapling;
mod peer_check;
mod protection;
mod resumption;
mod revocation;
mod stacking;
mod starttls;
mod threads;
mod timeouts;
mod truncation;
mod trust;
mod trust_system;
mod upload_then_close;
mod verdicts;
mod verified_chain;
