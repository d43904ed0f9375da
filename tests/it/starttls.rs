//! STARTTLS both ways with a real peer (Python's `ssl`): plaintext on a `File`, then TLS on
//! the same socket (`accept_with` the bytes a plaintext reader already took), then
//! `close_clean()` / the peer's `unwrap()` and `into_stream()` back to plaintext.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};

use common::certs::TestPki;
use common::TIMEOUT;
use sslfile::{Context, File, SslFile};

const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/starttls_peer.py");

/// Reads one line (through `\n`) from a plaintext file, keeping what came after it.
fn read_line(file: &File, pending: &mut Vec<u8>) -> Vec<u8> {
    loop {
        if let Some(end) = pending.iter().position(|&b| b == b'\n') {
            return pending.drain(..=end).collect();
        }
        let mut buf = [0u8; 4096];
        let n = (&*file).read(&mut buf).unwrap();
        assert!(n > 0, "end of stream after {pending:?}");
        pending.extend_from_slice(&buf[..n]);
    }
}

fn read_tls_line(tls: &SslFile) -> Vec<u8> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\n") {
        assert_eq!(
            (&*tls).read(&mut byte).unwrap(),
            1,
            "end of stream in {line:?}"
        );
        line.push(byte[0]);
    }
    line
}

/// Ends TLS on our side: either we close first (`close_clean`), or we read the peer's
/// close_notify (end of stream) and answer it (`close_clean`, which then completes at once:
/// with TLS 1.3 a close_notify closes only the peer's direction). Either way the transport
/// stays.
fn end_tls(tls: SslFile, we_close: bool) -> File {
    if !we_close {
        let mut buf = [0u8; 16];
        assert_eq!((&tls).read(&mut buf).unwrap(), 0, "the peer's close_notify");
    }
    tls.close_clean().unwrap();
    tls.into_stream().expect("the plaintext socket back")
}

fn python(args: &[String]) -> std::process::Child {
    Command::new("python3")
        .arg(PEER)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3")
}

fn finish(child: std::process::Child, case: &str) {
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success() && stdout.contains("ok"),
        "{case}: the Python peer failed\n{stdout}\n{stderr}"
    );
}

fn pki_files() -> (
    TestPki,
    tempfile::TempDir,
    common::certs::IdentityFiles,
    std::path::PathBuf,
) {
    let pki = TestPki::new();
    let dir = common::tempdir();
    let files = pki.leaf(&["localhost"]).write_to(dir.path(), "server");
    let ca = pki.write_ca(dir.path());
    (pki, dir, files, ca)
}

#[test]
fn our_server_with_a_python_client() {
    let (pki, _dir, files, ca) = pki_files();
    let ctx = Context::builder()
        .certificate_chain_pem_files(&files.cert, &files.key)
        .unwrap()
        .build()
        .unwrap();
    drop(pki);
    for (we_close, pipelined) in [(true, false), (false, false), (true, true), (false, true)] {
        let case = format!("we close first: {we_close}, pipelined: {pipelined}");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port().to_string();
        let who = if we_close { "rust" } else { "python" };
        let pipelined_arg = if pipelined { "1" } else { "0" };
        let child = python(&[
            "client".into(),
            port,
            ca.display().to_string(),
            who.into(),
            pipelined_arg.into(),
        ]);
        let file = File::try_from(listener.accept().unwrap().0).unwrap();
        file.set_timeout(Some(TIMEOUT));
        let mut pending = Vec::new();
        assert_eq!(read_line(&file, &mut pending), b"HELLO\r\n");
        (&file).write_all(b"HI\r\n").unwrap();
        assert_eq!(read_line(&file, &mut pending), b"STARTTLS\r\n");
        if !pipelined {
            (&file).write_all(b"GO\r\n").unwrap();
        }
        // The plaintext reader may have taken part of the ClientHello: TLS gets it first.
        let tls = SslFile::new(file, &ctx);
        tls.set_blocking();
        tls.set_timeout(Some(TIMEOUT));
        tls.accept_with(&pending).unwrap();
        assert_eq!(read_tls_line(&tls), b"secret 1\n", "{case}");
        (&tls).write_all(b"secret 2\n").unwrap();
        let file = end_tls(tls, we_close);
        let mut pending = Vec::new();
        assert_eq!(read_line(&file, &mut pending), b"PLAIN AGAIN\r\n", "{case}");
        (&file).write_all(b"PLAIN OK\r\n").unwrap();
        finish(child, &case);
    }
}

#[test]
fn our_client_with_a_python_server() {
    let (pki, _dir, files, _ca) = pki_files();
    let ctx = Context::builder()
        .trust_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    for (we_close, pipelined) in [(true, false), (false, false), (true, true), (false, true)] {
        let case = format!("we close first: {we_close}, pipelined: {pipelined}");
        let port = common::free_port();
        let who = if we_close { "rust" } else { "python" };
        let mut child = python(&[
            "server".into(),
            port.to_string(),
            files.cert.display().to_string(),
            files.key.display().to_string(),
            who.into(),
            if pipelined { "1" } else { "0" }.into(),
        ]);
        let mut ready = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert_eq!(ready.trim(), "listening", "{case}");
        let file = File::connect(("127.0.0.1", port)).unwrap();
        file.set_timeout(Some(TIMEOUT));
        let mut pending = Vec::new();
        (&file).write_all(b"HELLO\r\n").unwrap();
        assert_eq!(read_line(&file, &mut pending), b"HI\r\n");
        (&file).write_all(b"STARTTLS\r\n").unwrap();
        if !pipelined {
            assert_eq!(read_line(&file, &mut pending), b"GO\r\n");
        }
        let tls = SslFile::client(file, &ctx, "localhost").unwrap();
        tls.set_timeout(Some(TIMEOUT));
        (&tls).write_all(b"secret 1\n").unwrap();
        assert_eq!(read_tls_line(&tls), b"secret 2\n", "{case}");
        let file = end_tls(tls, we_close);
        (&file).write_all(b"PLAIN AGAIN\r\n").unwrap();
        let mut pending = Vec::new();
        assert_eq!(read_line(&file, &mut pending), b"PLAIN OK\r\n", "{case}");
        finish(child, &case);
    }
}
