//! `sslfile serve`, run as a user would: the printed certificate file and curl line, curl
//! over TLS 1.2 and 1.3 with ALPN http/1.1, keep-alive, echo, Ctrl-C, and bad input; each
//! in every mode (callback, blocking, threads) where the mode matters.

use crate::common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;

use crate::support::{run, Serve};
use common::{random_bytes, TIMEOUT};
use sslfile::SslFile;

const MODES: [&str; 3] = ["callback", "blocking", "threads"];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Reads from `tls` until `needle` has arrived; returns everything read.
fn read_until(tls: &SslFile, needle: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !text(&got).contains(needle) {
        match (&*tls).read(&mut buf) {
            Ok(0) => panic!("the server closed before {needle:?}; got {:?}", text(&got)),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read: {e}; got {:?}", text(&got)),
        }
    }
    text(&got)
}

#[test]
fn the_banner_names_the_certificate_file_and_a_ready_curl_line() {
    let serve = Serve::start(&[]);
    let line = serve
        .banner
        .lines()
        .find(|l| l.trim_start().starts_with("curl --cacert"))
        .unwrap_or_else(|| panic!("no curl line:\n{}", serve.banner));
    assert_eq!(
        line.trim(),
        format!(
            "curl --cacert {} https://localhost:{}/",
            serve.cert_file.display(),
            serve.port
        )
    );
    let pem = std::fs::read_to_string(&serve.cert_file).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert!(
        !pem.contains("PRIVATE KEY"),
        "the key must not be written out"
    );
}

#[test]
fn curl_gets_the_page_over_tls_1_2_and_1_3_with_alpn_http_1_1() {
    let serve = Serve::start(&[]);
    for (flags, version) in [
        (["--tlsv1.2", "--tls-max", "1.2"], "TLS 1.2"),
        (["--tlsv1.3", "--tls-max", "1.3"], "TLS 1.3"),
    ] {
        let url = serve.url("/hello");
        let mut args = flags.to_vec();
        args.extend([
            "--verbose",
            "--write-out",
            "\ncurl: HTTP %{http_version}, verify result %{ssl_verify_result}\n",
            url.as_str(),
        ]);
        let out = serve.curl(&args);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "curl {flags:?}: {stderr}");
        for expected in [
            "hello from sslfile".to_string(),
            format!("TLS version:  {version}\n"),
            "ALPN:         http/1.1\n".into(),
            "SNI:          localhost\n".into(),
            "client cert:  (none)\n".into(),
            "request:      GET /hello (number 1 on this connection)\n".into(),
            "curl: HTTP 1.1, verify result 0\n".into(),
        ] {
            assert!(
                stdout.contains(&expected),
                "{expected:?} missing:\n{stdout}"
            );
        }
        // curl's side of the negotiation: its ALPN line names http/1.1 as accepted.
        assert!(
            stderr
                .lines()
                .any(|l| l.contains("ALPN") && l.contains("accepted") && l.contains("http/1.1")),
            "curl did not report ALPN http/1.1:\n{stderr}"
        );
        assert!(
            stderr.contains(&format!("using TLSv{}", &version[4..])),
            "{stderr}"
        );
    }
}

/// Two URLs on one curl command line: one connection, two pages.
fn keep_alive(mode: &str) {
    let serve = Serve::start(&["--mode", mode]);
    let out = serve.curl(&[
        "--write-out",
        "new connections: %{num_connects}\n",
        &serve.url("/first"),
        &serve.url("/second"),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for expected in [
        format!("({mode} mode)"),
        "GET /first (number 1 on this connection)".into(),
        "GET /second (number 2 on this connection)".into(),
        "new connections: 1\n".into(),
        "new connections: 0\n".into(),
    ] {
        assert!(
            stdout.contains(&expected),
            "{expected:?} missing:\n{stdout}"
        );
    }
}

#[test]
fn keep_alive_in_callback_mode() {
    keep_alive("callback");
}

#[test]
fn keep_alive_in_blocking_mode() {
    keep_alive("blocking");
}

#[test]
fn keep_alive_in_threads_mode() {
    keep_alive("threads");
}

/// 300 KB echoed while it is being sent (more than the server buffers before it stops
/// reading), then our close_notify answered by the server's.
fn echo(mode: &str) {
    let serve = Serve::start(&["--echo", "--mode", mode]);
    assert!(serve.banner.contains("TLS echo"), "{}", serve.banner);
    let tls = serve.client(&[]);
    assert_eq!(tls.alpn_protocol(), None);
    let data = random_bytes(300_000, mode.len() as u64);
    let mut back = vec![0u8; data.len()];
    std::thread::scope(|s| {
        s.spawn(|| (&tls).write_all(&data).expect("send"));
        (&tls).read_exact(&mut back).expect("echo");
    });
    assert!(back == data, "the echo differs");
    tls.shutdown(Shutdown::Write).expect("close_notify");
    let mut rest = Vec::new();
    (&tls)
        .read_to_end(&mut rest)
        .expect("the server's close_notify");
    assert!(rest.is_empty());
}

#[test]
fn echo_in_callback_mode() {
    echo("callback");
}

#[test]
fn echo_in_blocking_mode() {
    echo("blocking");
}

#[test]
fn echo_in_threads_mode() {
    echo("threads");
}

/// Ctrl-C while a client is connected: the client reads the server's close_notify (a clean
/// end, not a truncation), the server exits 0 and removes its certificate file.
fn ctrl_c(mode: &str) {
    let mut serve = Serve::start(&["--mode", mode]);
    let tls = serve.client(&["http/1.1"]);
    (&tls)
        .write_all(b"GET /before HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    read_until(&tls, "GET /before (number 1 on this connection)\n");

    let status = serve.interrupt();
    assert_eq!(status.code(), Some(0), "{}", serve.proc.describe());
    let mut rest = Vec::new();
    match (&tls).read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "{:?}", text(&rest)),
        Err(e) => panic!("no close_notify from the server: {e}"),
    }
    // Up to the pipe's end: the collector may not have read the last line yet.
    let stderr = serve.proc.stderr_all();
    assert!(
        stderr.contains("SIGINT: closed 1 connection(s) with close_notify"),
        "{stderr}"
    );
    assert!(
        !serve.cert_file.exists(),
        "the certificate file is left over"
    );
}

#[test]
fn ctrl_c_in_callback_mode_closes_with_close_notify_and_exits_0() {
    ctrl_c("callback");
}

#[test]
fn ctrl_c_in_blocking_mode_closes_with_close_notify_and_exits_0() {
    ctrl_c("blocking");
}

#[test]
fn ctrl_c_in_threads_mode_closes_with_close_notify_and_exits_0() {
    ctrl_c("threads");
}

#[test]
fn clients_that_fail_do_not_hurt_the_server() {
    for mode in MODES {
        let serve = Serve::start(&["--mode", mode]);
        // curl without the certificate: it refuses the server (exit 60).
        let out = std::process::Command::new("curl")
            .args(["--silent", "--max-time", "20", &serve.url("/")])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(60), "{mode}: {}", text(&out.stderr));

        // Plain HTTP on the TLS port: the server ends the connection.
        let mut plain = TcpStream::connect(("127.0.0.1", serve.port)).unwrap();
        plain.set_read_timeout(Some(TIMEOUT)).unwrap();
        plain.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let mut answer = Vec::new();
        let ended = plain.read_to_end(&mut answer);
        assert!(
            ended.is_ok()
                || ended
                    .as_ref()
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
            "{mode}: {ended:?}"
        );

        // A client that connects and leaves in the middle of its handshake.
        drop(TcpStream::connect(("127.0.0.1", serve.port)).unwrap());

        // Then a good request still works.
        let out = serve.curl(&[&serve.url("/after")]);
        assert!(out.status.success(), "{mode}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("GET /after"), "{mode}");
    }
}

#[test]
fn a_busy_port_is_a_clear_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (status, _, stderr) = run(&["serve", "--listen", &addr]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(stderr.contains("--listen 127.0.0.1:0"), "{stderr}");
}

#[test]
fn bad_options_say_what_is_wrong() {
    let (status, _, stderr) = run(&["serve", "--min-version", "1.1"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("TLS 1.1 is refused"), "{stderr}");

    let (status, _, stderr) = run(&["serve", "--mode", "blocking", "--threads", "2"]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--threads is for --mode callback"),
        "{stderr}"
    );

    let (status, _, stderr) = run(&["serve", "--cert", "/nonexistent.pem", "--key", "/x.pem"]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot read /nonexistent.pem"), "{stderr}");
}

#[test]
fn every_subcommand_has_help() {
    for (command, option) in [("serve", "--mode <MODE>"), ("connect", "--cafile <PEM>")] {
        let (status, stdout, stderr) = run(&[command, "--help"]);
        assert!(status.success(), "{command}: {stderr}");
        assert!(stdout.contains(option), "{command}: {stdout}");
    }
}

#[test]
fn a_given_certificate_is_served() {
    let pki = common::certs::TestPki::new();
    let dir = common::tempdir();
    let files = pki.leaf(&["localhost"]).write_to(dir.path(), "leaf");
    let ca = pki.write_ca(dir.path());
    let mut cmd = std::process::Command::new(crate::support::BIN);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--cert"])
        .arg(&files.cert)
        .arg("--key")
        .arg(&files.key);
    let proc = common::openssl::ChildProc::spawn(cmd);
    assert!(
        proc.wait_stdout(b"Ctrl-C closes", TIMEOUT),
        "{}",
        proc.describe()
    );
    let banner = proc.stdout_text();
    let url = banner
        .split_whitespace()
        .find(|w| w.starts_with("https://localhost:"))
        .unwrap_or_else(|| panic!("{banner}"))
        .to_string();
    assert!(!banner.contains("self-signed"), "{banner}");
    let out = std::process::Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20", "--cacert"])
        .arg(&ca)
        .arg(&url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("hello from sslfile"));
}

#[test]
fn idle_connections_and_stalled_handshakes_are_closed() {
    for mode in MODES {
        let serve = Serve::start(&["--mode", mode, "--timeout", "0.3"]);
        // A client that says nothing after its handshake: closed with close_notify.
        let tls = serve.client(&[]);
        let mut rest = Vec::new();
        (&tls)
            .read_to_end(&mut rest)
            .unwrap_or_else(|e| panic!("{mode}: no close_notify: {e}"));
        // A client that never starts its handshake: disconnected.
        let mut silent = TcpStream::connect(("127.0.0.1", serve.port)).unwrap();
        silent.set_read_timeout(Some(TIMEOUT)).unwrap();
        let ended = silent.read_to_end(&mut rest);
        assert!(
            ended.is_ok()
                || ended
                    .as_ref()
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
            "{mode}: {ended:?}"
        );
    }
}

/// A client that sends without reading is stopped: the server takes a bounded amount
/// (its buffers and the sockets'), then stops reading; everything is echoed once the
/// client reads.
#[test]
fn a_client_that_does_not_read_is_held_back() {
    const CAP: usize = 64 << 20;
    for mode in MODES {
        let serve = Serve::start(&["--echo", "--mode", mode]);
        let tls = serve.client(&[]);
        tls.set_nonblocking();
        let data = random_bytes(1 << 20, 7);
        let mut sent = 0usize;
        // Write until the server stops taking more: a second without progress.
        while sent < CAP {
            match (&tls).write(&data[sent % data.len()..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let soon = std::time::Instant::now() + std::time::Duration::from_secs(1);
                    let _ = tls.flush();
                    if sslfile::Stream::wait(
                        &*tls.stream().unwrap(),
                        sslfile::Interest::WRITE,
                        Some(soon),
                    )
                    .is_err()
                    {
                        break; // timed out: held back
                    }
                }
                Err(e) => panic!("{mode}: {e}"),
            }
        }
        assert!(
            sent < CAP,
            "{mode}: the server took {sent} bytes without being read"
        );
        // Now read it all back.
        tls.set_blocking();
        tls.set_timeout(Some(TIMEOUT));
        let mut back = vec![0u8; sent];
        (&tls).read_exact(&mut back).unwrap();
        for (i, chunk) in back.chunks(data.len()).enumerate() {
            assert!(chunk == &data[..chunk.len()], "{mode}: chunk {i} differs");
        }
    }
}

/// `--client-ca`: a client certificate from that CA is required, and the page names it.
#[test]
fn client_ca_requires_a_client_certificate() {
    let pki = common::certs::TestPki::new();
    let dir = common::tempdir();
    let client = pki.leaf(&["client.test"]).write_to(dir.path(), "client");
    let ca = pki.write_ca(dir.path());
    let ca = ca.to_str().unwrap();
    let (cert, key) = (client.cert.to_str().unwrap(), client.key.to_str().unwrap());
    for mode in MODES {
        let serve = Serve::start(&["--mode", mode, "--client-ca", ca]);
        assert!(
            serve.banner.contains(&format!(
                "client certificates: required, issued by a CA in {ca}"
            )),
            "{}",
            serve.banner
        );
        let out = serve.curl(&["--cert", cert, "--key", key, &serve.url("/who")]);
        assert!(out.status.success(), "{mode}: {}", text(&out.stderr));
        let page = text(&out.stdout);
        assert!(
            page.contains("client cert:  client.test\n"),
            "{mode}: {page}"
        );
        assert!(page.contains("GET /who"), "{mode}: {page}");

        let out = serve.curl(&[&serve.url("/anonymous")]);
        assert!(
            !out.status.success(),
            "{mode}: served without a client certificate"
        );
        assert!(!text(&out.stdout).contains("hello"), "{mode}");
    }
}

/// `curl http://` to the TLS port: an HTTP answer that says to use https://, in every mode
/// (the library hands the transport and the request over instead of sending an alert);
/// and the server goes on serving TLS.
#[test]
fn plain_http_to_the_tls_port_is_told_to_use_https() {
    for mode in MODES {
        let serve = Serve::start(&["--mode", mode]);
        let url = format!("http://localhost:{}/some/page", serve.port);
        let out = std::process::Command::new("curl")
            .args(["-s", "-S", "--max-time", "10", "-w", "\n%{http_code}", &url])
            .output()
            .unwrap();
        let body = text(&out.stdout);
        assert!(
            out.status.success(),
            "{mode}: curl failed: {}",
            text(&out.stderr)
        );
        assert!(body.ends_with("\n400"), "{mode}: {body}");
        assert!(
            body.contains(&format!("https://localhost:{}/some/page", serve.port)),
            "{mode}: {body}"
        );
        // TLS still works afterwards.
        let out = serve.curl(&[&serve.url("/")]);
        assert!(out.status.success(), "{mode}: {}", text(&out.stderr));
    }
}

/// Under `wrk` (which sends the IP address it connects to as SNI, for which rustls warns
/// once per connection), `serve` at default verbosity stays readable: fewer than 20 lines
/// besides its banner for 5 seconds of 50 connections, a new one for every request, in
/// every mode. With `-v` the same load prints the warnings: the load provokes them.
#[test]
fn serve_stays_quiet_under_wrk_with_ip_address_sni() {
    if Command::new("wrk").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "wrk is missing: .ci/run installs it"
        );
        eprintln!("wrk is not installed: skipped (`apt-get install wrk`)");
        return;
    }
    let runs = MODES
        .iter()
        .map(|m| (*m, false))
        .chain([("callback", true)]);
    for (mode, verbose) in runs {
        let args = ["--mode", mode, "-v"];
        let serve = Serve::start(if verbose { &args } else { &args[..2] });
        let before = serve.proc.stdout_text().lines().count();
        let out = Command::new("wrk")
            .args(["-t", "2", "-c", "50", "-d", "5s", "-H", "Connection: close"])
            .arg(format!("https://127.0.0.1:{}/", serve.port))
            .output()
            .expect("run wrk");
        let report = text(&out.stdout);
        let requests: u64 = report
            .lines()
            .find_map(|l| l.trim().split_once(" requests in "))
            .and_then(|(n, _)| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{mode}: no request count from wrk:\n{report}"));
        assert!(
            requests > 100,
            "{mode}: wrk made only {requests} requests:\n{report}"
        );
        let printed = serve.proc.stdout_text().lines().count() - before
            + serve.proc.stderr_text().lines().count();
        println!("{mode}, -v {verbose}: {requests} requests under wrk, {printed} lines printed");
        if verbose {
            assert!(
                printed > 100,
                "-v: only {printed} lines: the load provokes nothing"
            );
            continue;
        }
        assert!(
            printed < 20,
            "{mode}: serve printed {printed} lines under wrk:\n{}",
            serve.proc.describe()
        );
    }
}

/// SIGHUP reloads `--cert`/`--key` for new connections, in every mode: clients that trust
/// only the new CA connect, clients that trust only the old one no longer do, a connection
/// opened before goes on undisturbed; a broken file is refused with a message and the
/// certificate in service stays.
#[test]
fn sighup_reloads_the_certificate_for_new_connections_and_keeps_it_if_the_files_are_bad() {
    let (old_pki, new_pki) = (common::certs::TestPki::new(), common::certs::TestPki::new());
    let trusting = |pki: &common::certs::TestPki| {
        sslfile::Context::builder()
            .trust_pem(pki.ca_pem.as_bytes())
            .unwrap()
            .build()
            .unwrap()
    };
    let (trust_old, trust_new) = (trusting(&old_pki), trusting(&new_pki));
    for mode in MODES {
        let dir = common::tempdir();
        let files = old_pki.leaf(&["localhost"]).write_to(dir.path(), "leaf");
        let mut cmd = Command::new(crate::support::BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--echo", "--mode", mode])
            .arg("--cert")
            .arg(&files.cert)
            .arg("--key")
            .arg(&files.key);
        let proc = common::openssl::ChildProc::spawn(cmd);
        assert!(
            proc.wait_stdout(b"Ctrl-C closes", TIMEOUT),
            "{}",
            proc.describe()
        );
        let port: u16 = proc
            .stdout_text()
            .split_whitespace()
            .find_map(|w| w.strip_prefix("127.0.0.1:"))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{}", proc.describe()));
        let client = |ctx: &sslfile::Context| {
            let socket = sslfile::File::connect(("127.0.0.1", port)).unwrap();
            let tls = SslFile::client(socket, ctx, "localhost")?;
            tls.set_timeout(Some(TIMEOUT));
            Ok::<_, sslfile::Error>(tls)
        };
        let echo = |tls: &SslFile, what: &[u8]| {
            (&*tls).write_all(what).unwrap();
            let mut got = vec![0u8; what.len()];
            (&*tls).read_exact(&mut got).unwrap();
            assert_eq!(got, what, "{mode}");
        };
        let hup = |count: usize, needle: &str| {
            let pid = rustix::process::Pid::from_raw(proc.pid() as i32).unwrap();
            rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
            let deadline = std::time::Instant::now() + TIMEOUT;
            while proc.stderr_text().matches(needle).count() < count {
                assert!(std::time::Instant::now() < deadline, "{}", proc.describe());
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        };
        let before = client(&trust_old).expect("the old certificate");
        echo(&before, b"before the reload");
        // The same file names, new contents: a renewed certificate from another CA.
        let renewed = new_pki.leaf(&["localhost"]).write_to(dir.path(), "leaf");
        assert_eq!(renewed.cert, files.cert);
        hup(1, "SIGHUP: reloaded");
        echo(&before, b"after the reload, on the open connection");
        if mode == "blocking" {
            before.close().unwrap(); // it serves one connection at a time
        }
        let after = client(&trust_new).expect("the new certificate after SIGHUP");
        echo(&after, b"new");
        drop(after);
        let err = client(&trust_old).expect_err("the old certificate is out of service");
        assert!(err.to_string().contains("certificate"), "{mode}: {err}");
        // A broken file: refused, with a message; the new certificate stays.
        std::fs::write(&files.cert, "not a certificate\n").unwrap();
        hup(1, "kept the certificate in service");
        let stderr = proc.stderr_text();
        assert!(
            stderr.contains(&files.cert.display().to_string()),
            "{stderr}"
        );
        let still = client(&trust_new).expect("the certificate in service stays");
        echo(&still, b"still");
        drop(still);
        if mode != "blocking" {
            echo(&before, b"the first connection still works");
        }
    }
}

/// `--ocsp`: the response made by `openssl ocsp` is stapled to `--cert`; curl
/// `--cert-status` (which checks the response's signature and status) accepts it, and our
/// client receives the same bytes. Without `--ocsp`, curl --cert-status refuses: nothing
/// is stapled.
#[test]
fn ocsp_staples_the_response_curl_cert_status_checks() {
    use common::openssl_ca::{OpensslCa, Status};
    let pki = common::certs::TestPki::new();
    let dir = common::tempdir();
    let ca = OpensslCa::new(&pki, dir.path());
    let leaf = pki.leaf_with_serial(&["localhost"], 0x77);
    ca.record(0x77, "localhost", Status::Valid);
    let files = leaf.write_to(dir.path(), "leaf");
    let leaf_only = dir.path().join("leaf-only.pem");
    std::fs::write(&leaf_only, &leaf.cert_pem).unwrap();
    let response = ca.ocsp_response(&leaf_only, "leaf");
    for stapled in [true, false] {
        let mut cmd = Command::new(crate::support::BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--cert"])
            .arg(&files.cert)
            .arg("--key")
            .arg(&files.key);
        if stapled {
            cmd.arg("--ocsp").arg(&response);
        }
        let proc = common::openssl::ChildProc::spawn(cmd);
        assert!(
            proc.wait_stdout(b"Ctrl-C closes", TIMEOUT),
            "{}",
            proc.describe()
        );
        let banner = proc.stdout_text();
        let url = banner
            .split_whitespace()
            .find(|w| w.starts_with("https://localhost:"))
            .unwrap_or_else(|| panic!("{banner}"))
            .to_string();
        let out = Command::new("curl")
            .args([
                "--silent",
                "--show-error",
                "--max-time",
                "20",
                "--cert-status",
            ])
            .arg("--cacert")
            .arg(&ca.ca)
            .arg(&url)
            .output()
            .unwrap();
        assert_eq!(out.status.success(), stapled, "{}", text(&out.stderr));
        if !stapled {
            assert!(
                text(&out.stderr).contains("No OCSP response"),
                "{}",
                text(&out.stderr)
            );
        }

        let port: u16 = url
            .trim_start_matches("https://localhost:")
            .trim_end_matches('/')
            .parse()
            .unwrap();
        let client_ctx = sslfile::Context::builder()
            .trust_pem_file(&ca.ca)
            .unwrap()
            .build()
            .unwrap();
        let socket = sslfile::File::connect(("127.0.0.1", port)).unwrap();
        let tls = SslFile::new(socket, &client_ctx);
        tls.set_blocking();
        tls.set_timeout(Some(TIMEOUT));
        tls.connect("localhost").unwrap();
        let expected = stapled.then(|| std::fs::read(&response).unwrap());
        assert_eq!(tls.ocsp_response(), expected);
    }
}
