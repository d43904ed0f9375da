//! The interop tests, in one binary: the interop matrix (`interop_matrix.rs`, with the
//! cells and peers in `interop/`) and the OpenSSL command-line peers
//! (`interop_openssl.rs`).

mod common;
mod interop;
#[path = "interop_matrix.rs"]
mod matrix;
#[path = "interop_openssl.rs"]
mod openssl_cli;
