//! The README's library snippets are the examples' own code, and the examples work: the two
//! clients fetch a page from `sslfile serve`, the callback echo server echoes.

use crate::common;

#[allow(dead_code)]
#[path = "../../../sslfile/examples/blocking_client.rs"]
mod blocking_client;
#[allow(dead_code)]
#[path = "../../../sslfile/examples/callback_echo_server.rs"]
mod callback_echo_server;
#[allow(dead_code)]
#[path = "../../../sslfile/examples/nonblocking_client.rs"]
mod nonblocking_client;

use std::io::{Read, Write};

use crate::support::Serve;
use sslfile::{Backend, Context, File, Port, SslFile};

/// The ```rust blocks of the README.
fn readme_snippets() -> Vec<String> {
    let readme = include_str!("../../../README.md");
    let mut snippets = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```rust") => current = Some(String::new()),
            (Some(snippet), "```") => {
                snippets.push(std::mem::take(snippet));
                current = None;
            }
            (Some(snippet), line) => {
                snippet.push_str(line);
                snippet.push('\n');
            }
            (None, _) => {}
        }
    }
    snippets
}

#[test]
fn every_readme_snippet_is_code_from_an_example() {
    let examples = [
        include_str!("../../../sslfile/examples/blocking_client.rs"),
        include_str!("../../../sslfile/examples/nonblocking_client.rs"),
        include_str!("../../../sslfile/examples/callback_echo_server.rs"),
    ];
    let snippets = readme_snippets();
    assert_eq!(snippets.len(), 3, "one snippet per mode");
    for snippet in snippets {
        assert!(
            examples.iter().any(|code| code.contains(&snippet)),
            "this README snippet is in no example (update one from the other):\n{snippet}"
        );
    }
}

#[test]
fn the_client_examples_fetch_a_page_from_serve() {
    let serve = Serve::start(&[]);
    let addr = format!("localhost:{}", serve.port);
    let ca = serve.cert_file.to_str().unwrap();
    let page = blocking_client::get(&addr, ca).expect("blocking client");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("Connection: close"), "{page}");
    assert!(page.contains("ALPN:         http/1.1\n"), "{page}");
    let page = nonblocking_client::get(&addr, ca).expect("nonblocking client");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(
        page.contains("GET / (number 1 on this connection)"),
        "{page}"
    );
}

#[test]
fn the_callback_example_echoes() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let server_ctx = Context::builder()
        .certificate_chain_pem(
            cert.cert.pem().as_bytes(),
            cert.key_pair.serialize_pem().as_bytes(),
        )
        .unwrap()
        .build()
        .unwrap();
    let client_ctx = Context::builder()
        .trust_pem(cert.cert.pem().as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let port = Port::bind("127.0.0.1:0", &server_ctx).unwrap();
    let backend = Backend::new().unwrap();
    callback_echo_server::listen(&port, &backend).unwrap();
    let runner = {
        let backend = backend.clone();
        std::thread::spawn(move || backend.run())
    };
    for round in 0..3 {
        let mut tls = SslFile::client(
            File::connect(port.local_addr().unwrap()).unwrap(),
            &client_ctx,
            "localhost",
        )
        .unwrap();
        tls.set_timeout(Some(common::TIMEOUT));
        let line = format!("hello {round}\n");
        tls.write_all(line.as_bytes()).unwrap();
        let mut back = vec![0u8; line.len()];
        tls.read_exact(&mut back).unwrap();
        assert_eq!(back, line.as_bytes());
        tls.close().unwrap();
    }
    backend.stop();
    runner.join().unwrap().unwrap();
}
