//! Buffer limits as context settings: how much a nonblocking write takes before
//! `WouldBlock` follows `pending_output_limit`, and a clean close sets aside at most
//! `held_plaintext_limit` of the peer's data (then fails with a sentence saying so).

use crate::common;

use std::io::{self, Read, Write};
use std::thread;
use std::time::Duration;

use common::pair::{raw_pair, Setup, Transport};
use common::{random_bytes, TIMEOUT};
use sslfile::{Context, SslFile};

fn client_ctx(setup: &Setup, pending: Option<usize>, held: Option<usize>) -> Context {
    let mut builder = Context::builder()
        .trust_pem(setup.pki.ca_pem.as_bytes())
        .unwrap();
    if let Some(bytes) = pending {
        builder = builder.pending_output_limit(bytes).unwrap();
    }
    if let Some(bytes) = held {
        builder = builder.held_plaintext_limit(bytes).unwrap();
    }
    builder.build().unwrap()
}

/// How many bytes nonblocking writes take, with a peer that reads nothing, before
/// `WouldBlock`.
fn accepted_before_would_block(setup: &Setup, pending: Option<usize>) -> usize {
    let (c, s) = raw_pair(Transport::SocketPair);
    let server_ctx = setup.server_ctx.clone();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let server = thread::spawn(move || {
        let tls = SslFile::server(s, &server_ctx).unwrap();
        let _ = rx.recv_timeout(TIMEOUT); // reads nothing until told
        drop(tls);
    });
    let tls = SslFile::client(c, &client_ctx(setup, pending, None), "localhost").unwrap();
    tls.set_nonblocking();
    let chunk = vec![7u8; 16 * 1024];
    let mut accepted = 0;
    loop {
        match (&tls).write(&chunk) {
            Ok(n) => accepted += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
        assert!(accepted < 64 << 20, "writes never said WouldBlock");
    }
    tls.linger(Some(Duration::ZERO)).unwrap();
    drop(tls);
    let _ = tx.send(());
    server.join().unwrap();
    accepted
}

#[test]
fn nonblocking_writes_buffer_up_to_the_pending_output_limit() {
    let setup = Setup::new();
    let small = accepted_before_would_block(&setup, Some(4 * 1024));
    let default = accepted_before_would_block(&setup, None);
    let big = accepted_before_would_block(&setup, Some(4 << 20));
    println!("accepted before WouldBlock: 4 KiB limit {small}, default {default}, 4 MiB {big}");
    // The socket takes the same in each case; the limit makes the difference.
    assert!(small < default && default < big, "{small} {default} {big}");
    let difference = big - small;
    assert!(
        (4 << 20) - 64 * 1024 < difference && difference < (4 << 20) + 64 * 1024,
        "4 MiB limit took {difference} bytes more than the 4 KiB one"
    );
}

/// The server writes `len` bytes and closes; our client, without reading, closes cleanly.
fn clean_close_over_unread(
    setup: &Setup,
    held: Option<usize>,
    len: usize,
) -> (Result<(), String>, usize) {
    let (c, s) = raw_pair(Transport::SocketPair);
    let server_ctx = setup.server_ctx.clone();
    let data = random_bytes(len, 5);
    let server = thread::spawn(move || {
        let tls = SslFile::server(s, &server_ctx).unwrap();
        tls.set_timeout(Some(TIMEOUT));
        let _ = (&tls).write_all(&data);
        let _ = tls.close();
    });
    let tls = SslFile::client(c, &client_ctx(setup, None, held), "localhost").unwrap();
    tls.set_timeout(Some(TIMEOUT));
    thread::sleep(Duration::from_millis(50));
    let result = tls.close_clean().map_err(|e| e.to_string());
    let mut got = Vec::new();
    let _ = (&tls).read_to_end(&mut got);
    server.join().unwrap();
    (result, got.len())
}

#[test]
fn a_clean_close_holds_at_most_the_held_plaintext_limit() {
    let setup = Setup::new();
    let len = 300 * 1024;
    let (result, read) = clean_close_over_unread(&setup, None, len);
    assert_eq!(result, Ok(()), "the default limit (1 MiB) holds 300 KiB");
    assert_eq!(read, len, "and every byte is read after the close");
    let (result, _) = clean_close_over_unread(&setup, Some(64 * 1024), len);
    let err = result.expect_err("a 64 KiB limit cannot hold 300 KiB");
    assert!(err.contains("held plaintext limit"), "{err}");
    let (result, read) = clean_close_over_unread(&setup, Some(512 * 1024), len);
    assert_eq!((result, read), (Ok(()), len), "a 512 KiB limit holds it");
}
