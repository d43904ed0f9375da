//! Tests that count process-wide things (live connections, open descriptors, the
//! descriptor limit): one at a time (each takes [`common::process_wide`] first), in a
//! binary of their own so that no other test opens connections meanwhile.

#[path = "../common/mod.rs"]
mod common;

mod dropped_backend;
mod lifetime;
mod port;
mod slowloris;
