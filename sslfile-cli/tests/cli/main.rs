//! The `sslfile` command run as a user would (serve, connect, many clients), and the
//! README's library examples, which talk to `sslfile serve`.

#[path = "../../../tests/common/mod.rs"]
mod common;
mod support;

mod connect;
mod examples;
mod many_clients;
mod serve;
