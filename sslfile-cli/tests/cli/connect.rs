//! `sslfile connect` against `openssl s_server` and against `sslfile serve`: 1 MiB each way
//! in every mode, a clean close with exit 0, and exit statuses with readable messages for an
//! untrusted certificate, a wrong host name, a truncated connection and a refused one.

use crate::common;

use std::net::TcpListener;
use std::process::ExitStatus;

use crate::support::{connect, run, Serve};
use common::certs::TestPki;
use common::openssl::{ChildProc, SServer, SServerOpts, TlsVer};
use common::{random_bytes, tempdir, TIMEOUT};

const MIB: usize = 1 << 20;

/// A quiet s_server for one connection, presenting a leaf for localhost and 127.0.0.1;
/// returns it with the CA file that trusts it.
fn s_server(
    configure: impl FnOnce(&mut SServerOpts),
) -> (SServer, std::path::PathBuf, tempfile::TempDir) {
    let pki = TestPki::new();
    let dir = tempdir();
    let files = pki
        .leaf(&["localhost", "127.0.0.1"])
        .write_to(dir.path(), "server");
    let ca = pki.write_ca(dir.path());
    let mut opts = SServerOpts::new(&files);
    configure(&mut opts);
    (SServer::spawn(opts), ca, dir)
}

/// Waits for the exit, and for all of stdout and stderr.
fn exit_of(proc: &mut ChildProc) -> ExitStatus {
    let status = proc
        .wait_with_timeout(TIMEOUT)
        .unwrap_or_else(|| panic!("connect did not exit\n{}", proc.describe()));
    proc.stdout().read_to_end(TIMEOUT).expect("stdout ends");
    proc.stderr().read_to_end(TIMEOUT).expect("stderr ends");
    status
}

/// 1 MiB up (our stdin to s_server's stdout) and 1 MiB down (s_server's stdin to our
/// stdout); then our stdin ends: close_notify, answered by s_server's, and exit 0.
fn one_mib_each_way_with_s_server(mode: &str) {
    let (mut server, ca, _dir) = s_server(|_| {});
    let target = format!("localhost:{}", server.port());
    let mut client = connect(&[&target, "--cafile", ca.to_str().unwrap(), "--mode", mode]);

    let up = random_bytes(MIB, 1);
    client.write_stdin(&up);
    let got = server.stdout().wait_len(MIB, TIMEOUT);
    assert!(
        got == up,
        "s_server received {} bytes, not ours\n{}",
        got.len(),
        client.describe()
    );

    let down = random_bytes(MIB, 2);
    server.write_stdin(&down);
    let got = client.stdout().wait_len(MIB, TIMEOUT);
    assert!(
        got == down,
        "we received {} bytes, not s_server's\n{}",
        got.len(),
        client.describe()
    );

    client.close_stdin();
    let status = exit_of(&mut client);
    assert_eq!(status.code(), Some(0), "{}", client.describe());
    let stderr = client.stderr_text();
    assert!(
        stderr.starts_with(&format!("sslfile: connected to {target} (127.0.0.1:")),
        "{stderr}"
    );
    assert!(
        stderr.contains("certificate verified for localhost"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line only: {stderr}");
    assert_eq!(client.stdout().bytes().len(), MIB, "nothing more on stdout");
}

#[test]
fn one_mib_each_way_with_s_server_blocking() {
    one_mib_each_way_with_s_server("blocking");
}

#[test]
fn one_mib_each_way_with_s_server_nonblocking() {
    one_mib_each_way_with_s_server("nonblocking");
}

#[test]
fn one_mib_each_way_with_s_server_callback() {
    one_mib_each_way_with_s_server("callback");
}

#[test]
fn the_summary_names_version_suite_and_alpn() {
    for (tls, flag, name) in [
        (TlsVer::Tls12, "--max-version=1.2", "TLS 1.2"),
        (TlsVer::Tls13, "--min-version=1.3", "TLS 1.3"),
    ] {
        let (_server, ca, _dir) = s_server(|o| {
            o.tls = Some(tls);
            o.alpn = Some("http/1.1".into());
        });
        let target = format!("127.0.0.1:{}", _server.port());
        let mut client = connect(&[
            &target,
            "--cafile",
            ca.to_str().unwrap(),
            "--alpn",
            "h2,http/1.1",
            flag,
        ]);
        assert!(
            client.stderr().wait_for(b"\n", TIMEOUT),
            "{}",
            client.describe()
        );
        let summary = client.stderr_text();
        assert!(summary.contains(&format!(": {name}, ")), "{summary}");
        assert!(summary.contains("ALPN http/1.1"), "{summary}");
        // OpenSSL 3.0 has no ML-KEM: the classical group, named.
        assert!(summary.contains(", X25519, "), "{summary}");
        assert!(
            summary.contains("certificate verified for 127.0.0.1"),
            "{summary}"
        );
        client.kill();
    }
}

/// The handshake fails; connect says why, on one line, and exits 1.
fn refused(args: &[&str], configure: impl FnOnce(&mut SServerOpts), expected: &str) {
    let (server, ca, _dir) = s_server(configure);
    let target = format!("localhost:{}", server.port());
    let mut all = vec![target.as_str()];
    let ca = ca.to_str().unwrap().to_string();
    for arg in args {
        all.push(if *arg == "CA" { &ca } else { arg });
    }
    let mut client = connect(&all);
    let status = exit_of(&mut client);
    let stderr = client.stderr_text();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!("sslfile: TLS handshake with {target} failed: ")),
        "{stderr}"
    );
    assert!(stderr.contains(expected), "{expected:?} missing: {stderr}");
    assert!(client.stdout().bytes().is_empty());
}

#[test]
fn an_untrusted_certificate_fails_with_exit_1() {
    // Trusting the bundled web roots (the default), not our test CA.
    refused(
        &[],
        |_| {},
        "the server's certificate for localhost is not signed by a trusted authority: it was \
         issued by CN=sslfile test CA ",
    );
    // Trusting another CA: "unknown issuer", or "bad signature" if it has the same name.
    let other = TestPki::new();
    let dir = tempdir();
    let other_ca = other.write_ca(dir.path());
    refused(
        &["--cafile", other_ca.to_str().unwrap()],
        |_| {},
        "certificate for localhost ",
    );
}

/// The certificate of issue 15: `openssl req -x509 -newkey rsa:2048 -nodes -subj
/// /CN=localhost -addext subjectAltName=DNS:localhost` (OpenSSL 3 marks it CA:TRUE), served
/// by `openssl s_server` and trusted with `--cafile` as that very file: connect accepts it,
/// as OpenSSL, GnuTLS, Python and curl do. (It used to fail with "certificate for localhost
/// was rejected: Other(OtherError(CaUsedAsEndEntity))".) Another such certificate, not the
/// trusted one, is still refused, with a sentence that says how to accept it.
#[test]
fn connect_trusts_an_openssl_req_certificate_given_as_cafile() {
    let dir = tempdir();
    let files = common::openssl::req_self_signed(dir.path(), "server", "localhost");
    let other = common::openssl::req_self_signed(dir.path(), "other", "localhost");
    let server = SServer::spawn(SServerOpts::new(&files));
    let target = format!("localhost:{}", server.port());
    let mut client = connect(&[&target, "--cafile", files.cert.to_str().unwrap()]);
    client.write_stdin(b"trusted exactly\n");
    assert!(
        server.wait_stdout(b"trusted exactly\n", TIMEOUT),
        "{}\n{}",
        server.describe(),
        client.describe()
    );
    client.close_stdin();
    assert_eq!(
        exit_of(&mut client).code(),
        Some(0),
        "{}",
        client.describe()
    );

    let server = SServer::spawn(SServerOpts::new(&files));
    let target = format!("localhost:{}", server.port());
    let mut client = connect(&[&target, "--cafile", other.cert.to_str().unwrap()]);
    let status = exit_of(&mut client);
    let stderr = client.stderr_text();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "sslfile: TLS handshake with {target} failed: the server's certificate for \
             localhost is a CA certificate (CA:TRUE), not the server's own: to accept it, trust \
             exactly this certificate (ContextBuilder::trust_pem, or --cafile); or give the \
             server a certificate with CA:FALSE"
        )
    );
}

#[test]
fn a_wrong_host_name_fails_with_exit_1() {
    refused(
        &["--cafile", "CA", "--servername", "other.example"],
        |_| {},
        "the server's certificate is not valid for other.example: it names",
    );
}

#[test]
fn insecure_accepts_any_certificate_and_says_so() {
    let (mut server, _ca, _dir) = s_server(|_| {});
    let target = format!("localhost:{}", server.port());
    let mut client = connect(&[&target, "--insecure", "--servername", "other.example"]);
    server.write_stdin(b"hello\n");
    assert_eq!(client.stdout().wait_len(6, TIMEOUT), b"hello\n");
    assert!(
        client
            .stderr()
            .wait_for(b"certificate NOT verified (--insecure)\n", TIMEOUT),
        "{}",
        client.describe()
    );
    client.close_stdin();
    assert_eq!(
        exit_of(&mut client).code(),
        Some(0),
        "{}",
        client.describe()
    );
}

/// s_server killed (SIGKILL): the TCP connection ends without close_notify.
fn truncation(mode: &str) {
    let (mut server, ca, _dir) = s_server(|_| {});
    let target = format!("localhost:{}", server.port());
    let mut client = connect(&[&target, "--cafile", ca.to_str().unwrap(), "--mode", mode]);
    server.write_stdin(b"some data\n");
    assert_eq!(client.stdout().wait_len(10, TIMEOUT), b"some data\n");
    server.kill();
    let status = exit_of(&mut client);
    let stderr = client.stderr_text();
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "sslfile: the connection to {target} was truncated: the peer closed the connection without close_notify"
        )),
        "{stderr}"
    );
}

#[test]
fn truncation_exits_3_blocking() {
    truncation("blocking");
}

#[test]
fn truncation_exits_3_nonblocking() {
    truncation("nonblocking");
}

#[test]
fn truncation_exits_3_callback() {
    truncation("callback");
}

#[test]
fn a_refused_connection_exits_1() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // closed again: nothing listens there
    let target = format!("127.0.0.1:{port}");
    let (status, stdout, stderr) = run(&["connect", &target]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains(&format!("cannot connect to {target}")),
        "{stderr}"
    );
}

#[test]
fn bad_targets_are_usage_errors() {
    let (status, _, stderr) = run(&["connect", "::1:443"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("[::1]:443"), "{stderr}");
    let (status, _, stderr) = run(&["connect", "localhost:1", "--cafile", "x", "--insecure"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
}

/// Both ends ours: `connect` in each mode to `serve --echo` in each mode.
#[test]
fn connect_and_serve_echo_in_every_mode() {
    for server_mode in ["callback", "blocking", "threads"] {
        let serve = Serve::start(&["--echo", "--mode", server_mode]);
        let target = format!("localhost:{}", serve.port);
        for mode in ["blocking", "nonblocking", "callback"] {
            let mut client = connect(&[
                &target,
                "--cafile",
                serve.cert_file.to_str().unwrap(),
                "--mode",
                mode,
            ]);
            let data = random_bytes(200_000, 3);
            client.write_stdin(&data);
            let back = client.stdout().wait_len(data.len(), TIMEOUT);
            assert!(
                back == data,
                "{server_mode}/{mode}: {} bytes back",
                back.len()
            );
            // Both ends ours: post-quantum key exchange, named in the summary.
            assert!(
                client.stderr_text().contains(", X25519MLKEM768, "),
                "{}",
                client.describe()
            );
            // The echo is complete: end stdin; the server answers our close_notify.
            client.close_stdin();
            let status = exit_of(&mut client);
            assert_eq!(
                status.code(),
                Some(0),
                "{server_mode}/{mode}\n{}",
                client.describe()
            );
        }
    }
}

/// `--cert/--key`: connect presents a client certificate, to s_server (which requires one)
/// and to `serve --client-ca`; without one, serve refuses it with a readable message.
#[test]
fn connect_presents_a_client_certificate() {
    let pki = TestPki::new();
    let dir = tempdir();
    let id = pki.leaf(&["client.test"]).write_to(dir.path(), "client");
    let client_ca = pki.write_ca(dir.path());
    let (cert, key) = (id.cert.to_str().unwrap(), id.key.to_str().unwrap());

    let (server, ca, _dir) = s_server(|o| o.client_ca = Some(client_ca.clone()));
    let target = format!("localhost:{}", server.port());
    let mut client = connect(&[
        &target,
        "--cafile",
        ca.to_str().unwrap(),
        "--cert",
        cert,
        "--key",
        key,
    ]);
    client.write_stdin(b"from a known client\n");
    assert!(
        server.wait_stdout(b"from a known client\n", TIMEOUT),
        "{}",
        server.describe()
    );
    client.close_stdin();
    assert_eq!(
        exit_of(&mut client).code(),
        Some(0),
        "{}",
        client.describe()
    );

    let serve = Serve::start(&["--echo", "--client-ca", client_ca.to_str().unwrap()]);
    let target = format!("localhost:{}", serve.port);
    let cafile = serve.cert_file.to_str().unwrap();
    let mut client = connect(&[&target, "--cafile", cafile, "--cert", cert, "--key", key]);
    client.write_stdin(b"echo me\n");
    assert_eq!(client.stdout().wait_len(8, TIMEOUT), b"echo me\n");
    client.close_stdin();
    assert_eq!(
        exit_of(&mut client).code(),
        Some(0),
        "{}",
        client.describe()
    );

    for version in ["--max-version=1.2", "--min-version=1.3"] {
        let mut client = connect(&[&target, "--cafile", cafile, version]);
        let status = exit_of(&mut client);
        let stderr = client.stderr_text();
        assert_ne!(status.code(), Some(0), "{version}: {stderr}");
        assert!(
            stderr.contains("it requires a client certificate"),
            "{version}: {stderr}"
        );
    }
}

/// `--ign-eof`: a request piped in, stdin closed at once; no close_notify goes out with
/// it, so the server answers (HTTP/1.0: then closes) and connect exits 0.
#[test]
fn ign_eof_waits_for_the_servers_answer() {
    let serve = Serve::start(&[]);
    let target = format!("localhost:{}", serve.port);
    for mode in ["blocking", "nonblocking", "callback"] {
        for _ in 0..3 {
            let cafile = serve.cert_file.to_str().unwrap();
            let mut client = connect(&[&target, "--cafile", cafile, "--mode", mode, "--ign-eof"]);
            client.write_stdin(b"GET /piped HTTP/1.0\r\n\r\n");
            client.close_stdin();
            let status = exit_of(&mut client);
            assert_eq!(status.code(), Some(0), "{mode}\n{}", client.describe());
            let page = client.stdout_text();
            assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{mode}: {page}");
            assert!(page.contains("GET /piped (number 1"), "{mode}: {page}");
        }
    }
}

/// Without `--ign-eof`: a request piped in and stdin closed at once, so that our
/// close_notify follows the request. Over TLS 1.3 that closes only our direction (a
/// half-close): `serve` answers all the same, in every serve mode and every connect mode.
/// Over TLS 1.2 a close_notify closes both directions, as before.
#[test]
fn a_piped_request_gets_its_answer_over_tls_1_3_without_ign_eof() {
    for server_mode in ["callback", "blocking", "threads"] {
        let serve = Serve::start(&["--mode", server_mode]);
        let target = format!("localhost:{}", serve.port);
        let cafile = serve.cert_file.to_str().unwrap();
        for mode in ["blocking", "nonblocking", "callback"] {
            let mut client = connect(&[&target, "--cafile", cafile, "--mode", mode]);
            client.write_stdin(b"GET /piped HTTP/1.0\r\n\r\n");
            client.close_stdin();
            let status = exit_of(&mut client);
            let what = format!("serve {server_mode}, connect {mode}");
            assert_eq!(status.code(), Some(0), "{what}\n{}", client.describe());
            let page = client.stdout_text();
            assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{what}: {page}");
            assert!(page.contains("GET /piped (number 1"), "{what}: {page}");
        }
    }
}

/// `--crl`: a server certificate its CA revoked is refused with exit 1 and a sentence that
/// names it; the CRL that does not list it lets the connection through.
#[test]
fn connect_refuses_a_revoked_certificate_given_the_crl() {
    let pki = TestPki::new();
    let dir = tempdir();
    let files = pki
        .leaf_with_serial(&["localhost"], 0x99)
        .write_to(dir.path(), "server");
    let ca = pki.write_ca(dir.path());
    let revoking = dir.path().join("revoking.crl.pem");
    std::fs::write(&revoking, pki.crl(&[0x99], (2100, 1, 1))).unwrap();
    let listing_others = dir.path().join("others.crl.pem");
    std::fs::write(&listing_others, pki.crl(&[0x98], (2100, 1, 1))).unwrap();
    for (crl, revoked) in [(&revoking, true), (&listing_others, false)] {
        let server = SServer::spawn(SServerOpts::new(&files));
        let target = format!("localhost:{}", server.port());
        let mut client = connect(&[
            &target,
            "--cafile",
            ca.to_str().unwrap(),
            "--crl",
            crl.to_str().unwrap(),
        ]);
        if revoked {
            let status = exit_of(&mut client);
            let stderr = client.stderr_text();
            assert_eq!(status.code(), Some(1), "{stderr}");
            assert!(
                stderr.contains(&format!(
                    "the server's certificate for localhost has been revoked: its CA, {}, lists \
                     it in its certificate revocation list (CRL)",
                    pki.ca_name
                )),
                "{stderr}"
            );
        } else {
            assert!(
                client.stderr().wait_for(b"certificate verified", TIMEOUT),
                "{}",
                client.describe()
            );
            client.kill();
        }
    }
}
