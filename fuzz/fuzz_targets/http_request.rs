//! `serve --http`'s request handling (`sslfile_cli::service::http`) fed arbitrary bytes.
//!
//! The first byte chooses how the rest arrives: in pieces of 1..=N bytes (a cycle drawn
//! from it) or all at once. Checks: no panic; the answer to the pieces is byte for byte
//! the answer to the whole (a request may be split anywhere on the wire); every answer is
//! an HTTP/1.1 status line; memory stays bounded (the state never holds more than one
//! request head plus one piece).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sslfile_cli::service::http::{HttpService, MAX_HEAD};
use sslfile_cli::service::{ConnInfo, Next, Service};

fn service() -> HttpService {
    HttpService::new(ConnInfo {
        version: "TLS 1.3".into(),
        suite: "TLS13_AES_128_GCM_SHA256".into(),
        group: "X25519MLKEM768".into(),
        alpn: "http/1.1".into(),
        sni: "localhost".into(),
        client_cert: "(none)".into(),
        mode: "fuzz",
    })
}

/// Feeds `pieces` in order until the service says to close; returns all it answered.
fn answer<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut service = service();
    let mut out = Vec::new();
    for piece in pieces {
        let before = out.len();
        let next = service.on_data(piece, &mut out);
        assert!(
            out.len() == before || out[before..].starts_with(b"HTTP/1.1 "),
            "an answer that is not an HTTP/1.1 response"
        );
        if next == Next::Close {
            break;
        }
    }
    assert!(
        service.held() <= MAX_HEAD + 256,
        "{} bytes held for one connection",
        service.held()
    );
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&how, bytes)) = data.split_first() else {
        return;
    };
    // Lengths of the pieces, cycling: 1..=16 bytes, from the bits of `how`.
    let lens: Vec<usize> = (0..4)
        .map(|i| 1 + usize::from((how >> (2 * i)) & 3) * 5)
        .collect();
    let mut pieces = Vec::new();
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() {
        let n = lens[i % lens.len()].min(rest.len());
        pieces.push(&rest[..n]);
        rest = &rest[n..];
        i += 1;
    }
    let whole = answer(std::iter::once(bytes));
    let split = answer(pieces.into_iter());
    assert!(
        whole == split,
        "the answer depends on how the bytes arrived:\nwhole: {:?}\nsplit: {:?}",
        String::from_utf8_lossy(&whole),
        String::from_utf8_lossy(&split)
    );
});
