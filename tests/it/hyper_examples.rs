//! The hyper examples (`sslfile/examples/hyper_server.rs`, `hyper_client.rs`): `curl
//! --http2` and `curl --http1.1` get answers from the server, and the client fetches over
//! HTTP/2 from it.

use crate::common;

#[allow(dead_code)]
#[path = "../../sslfile/examples/hyper_client.rs"]
mod hyper_client;
#[allow(dead_code)]
#[path = "../../sslfile/examples/hyper_server.rs"]
mod hyper_server;

use std::process::Command;

#[test]
fn curl_gets_answers_over_http2_and_http1_and_the_client_example_fetches() {
    let (ctx, cert_pem) = hyper_server::self_signed_context().unwrap();
    let dir = common::tempdir();
    let ca = dir.path().join("cert.pem");
    std::fs::write(&ca, cert_pem).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(hyper_server::serve(listener, ctx));
    let url = format!("https://localhost:{port}/page");
    for (flag, version) in [("--http2", "HTTP/2.0"), ("--http1.1", "HTTP/1.1")] {
        let out = Command::new("curl")
            .args([
                "--silent",
                "--show-error",
                "--max-time",
                "20",
                flag,
                "--cacert",
            ])
            .arg(&ca)
            .args(["--write-out", "%{http_version}", &url])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{flag}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("GET /page over {version}")),
            "{flag}: {stdout}"
        );
    }
    let (version, body) = rt
        .block_on(hyper_client::fetch(
            &format!("localhost:{port}"),
            ca.to_str().unwrap(),
        ))
        .unwrap();
    assert_eq!(version, "HTTP/2");
    assert!(body.contains("GET / over HTTP/2.0"), "{body}");
}
