//! The sslfile-tests package has only test targets (see Cargo.toml).
