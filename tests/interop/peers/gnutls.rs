//! `gnutls-serv` / `gnutls-cli` (GnuTLS 3.7).
//!
//! * gnutls-serv has no way to send data of its own: with `--echo` it sends back what it
//!   received, and its echo is C-string based (a NUL byte ends the data, only text up to a
//!   newline is echoed), so its payload is random bytes without NUL, ending in a newline
//!   (`--crlf` keeps CR LF as they are). It serves until killed, and answers a client's
//!   close_notify; it never starts one. Evidence on stdout (without `-q`): "- Application
//!   protocol: X", "*** This is a resumed session"; errors on stderr ("Error in handshake:
//!   ...", "The TLS connection was non-properly terminated.").
//! * gnutls-cli sends its stdin and prints what it receives, binary-safe; stdin EOF makes
//!   it send close_notify; it exits 0 after the server's close_notify ("- Peer has closed
//!   the GnuTLS connection"), 1 after a truncation. Its evidence goes to `--logfile`.
//!   `--resume` makes a first connection that only handshakes and closes cleanly, then
//!   resumes it in a second one, which carries the data.
//!
//! Versions are pinned with priority strings (`NORMAL:-VERS-ALL:+VERS-TLS1.x`).

use std::io;
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc::Receiver;

use super::{PeerClientAuth, PeerClose, PeerJob, PeerRun};
use crate::common::free_port;
use crate::common::process::{wait_listening, wait_peer_closed, wait_rx_drained, ChildProc};
use crate::interop::cells::{Feature, Version};
use crate::interop::ours::{EXCHANGE_TIMEOUT, STEP_TIMEOUT};

fn priority(version: Version) -> String {
    let v = match version {
        Version::Tls12 => "TLS1.2",
        Version::Tls13 => "TLS1.3",
    };
    format!("NORMAL:-VERS-ALL:+VERS-{v}")
}

/// What gnutls-serv's echo can carry: no NUL byte, and a newline at the end.
pub fn echo_payload(data: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = data.iter().map(|&b| if b == 0 { 1 } else { b }).collect();
    if let Some(last) = out.last_mut() {
        *last = b'\n';
    }
    out
}

/// Where gnutls-cli's `--resume` first connection only handshakes.
pub fn first_connection_handshake_only(job_feature: Feature, peer_is_server: bool) -> bool {
    job_feature == Feature::Resumption && !peer_is_server
}

pub fn start(job: &PeerJob<'_>) -> Result<Box<dyn PeerRun>, String> {
    if job.peer_is_server() {
        start_server(job)
    } else {
        start_client(job)
    }
}

fn alpn_args(cmd: &mut Command, alpn: Option<&str>) {
    for proto in alpn.into_iter().flat_map(|list| list.split(',')) {
        cmd.arg(format!("--alpn={proto}"));
    }
}

// ----- gnutls-serv (our client) ----------------------------------------------------------

struct ServRun {
    proc: ChildProc,
    port: u16,
    /// (our port, its port) of each connection.
    connections: Vec<(u16, u16)>,
}

fn start_server(job: &PeerJob<'_>) -> Result<Box<dyn PeerRun>, String> {
    let pki = job.pki;
    for _attempt in 0..5 {
        let port = free_port();
        let mut cmd = Command::new("gnutls-serv");
        cmd.args(["--echo", "--crlf", "-p", &port.to_string()])
            .arg(format!(
                "--x509certfile={}",
                pki.server_files.cert.display()
            ))
            .arg(format!("--x509keyfile={}", pki.server_files.key.display()))
            .arg(format!("--priority={}", priority(job.version())));
        if job.cell.feature == Feature::Transfer {
            cmd.arg("-q"); // no per-connection details: the 16 MiB echo is enough output
        }
        alpn_args(&mut cmd, job.alpn);
        if job.alpn.is_some() {
            cmd.arg("--alpn-fatal");
        }
        match job.client_auth {
            PeerClientAuth::None => {
                cmd.arg("--disable-client-cert");
            }
            PeerClientAuth::Optional => {
                cmd.arg(format!("--x509cafile={}", pki.ca_file.display()))
                    .arg("--verify-client-cert");
            }
            PeerClientAuth::Required => {
                cmd.arg(format!("--x509cafile={}", pki.ca_file.display()))
                    .arg("--require-client-cert");
            }
        }
        let mut proc = ChildProc::spawn(cmd);
        if wait_listening(&mut proc, port, STEP_TIMEOUT) {
            return Ok(Box::new(ServRun {
                proc,
                port,
                connections: Vec::new(),
            }));
        }
        if proc.try_wait().is_some() && proc.stderr_text().contains("in use") {
            continue;
        }
        return Err(format!(
            "gnutls-serv did not start listening\n{}",
            proc.describe()
        ));
    }
    Err("gnutls-serv: no free port after 5 attempts".into())
}

impl PeerRun for ServRun {
    fn port(&self) -> u16 {
        self.port
    }

    fn abort(&mut self) {
        self.proc.kill();
    }

    fn end_connection(
        &mut self,
        job: &PeerJob<'_>,
        _conn: usize,
        our_port: u16,
        peer_port: u16,
    ) -> Result<(), String> {
        self.connections.push((our_port, peer_port));
        if job.close == PeerClose::Drop {
            // Our side has its whole echo back: gnutls-serv read everything.
            if !wait_rx_drained(our_port, peer_port, STEP_TIMEOUT) {
                return Err("the connection did not drain before the kill".into());
            }
            self.proc.kill();
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>, job: &PeerJob<'_>) -> Result<Vec<String>, String> {
        // It serves until killed, and prints nothing on a clean close: wait until it has
        // closed its end of each connection (or reported the handshake error).
        if job.refusal.is_some() {
            self.proc
                .stderr()
                .wait_for(b"Error in handshake", STEP_TIMEOUT);
        }
        for &(ours, its) in &self.connections {
            if !wait_peer_closed(ours, its, STEP_TIMEOUT) {
                return Err(format!(
                    "gnutls-serv did not close its end\n{}",
                    tail(&self.proc.describe())
                ));
            }
        }
        self.proc.kill();
        let stdout = String::from_utf8_lossy(&self.proc.stdout_all()).into_owned();
        let stderr = self.proc.stderr_all();
        let describe = || tail(&self.proc.describe());
        if let Some(refusal) = job.refusal {
            let line = stderr
                .lines()
                .find(|l| {
                    l.starts_with("Error in handshake")
                        && refusal.words().iter().any(|w| l.to_lowercase().contains(w))
                })
                .ok_or_else(|| {
                    format!(
                        "gnutls-serv does not report the refusal ({refusal:?})\n{}",
                        describe()
                    )
                })?;
            return Ok(vec![format!("gnutls-serv: {line}")]);
        }
        let mut notes = Vec::new();
        if job.close != PeerClose::Drop && stderr.contains("non-properly terminated") {
            return Err(format!("gnutls-serv saw a truncation\n{}", describe()));
        }
        if stderr.contains("Error in handshake") {
            return Err(format!(
                "gnutls-serv reports a handshake error\n{}",
                describe()
            ));
        }
        if job.cell.feature != Feature::Transfer {
            let alpn: Vec<&str> = stdout
                .lines()
                .filter_map(|l| l.strip_prefix("- Application protocol: "))
                .map(str::trim)
                .collect();
            let want: Vec<&str> = job
                .agreed_alpn
                .into_iter()
                .cycle()
                .take(job.connections)
                .collect();
            if alpn != want {
                return Err(format!(
                    "gnutls-serv's ALPN: {alpn:?}, expected {want:?}\n{}",
                    describe()
                ));
            }
            if let Some(p) = job.agreed_alpn {
                notes.push(format!("gnutls-serv: application protocol {p}"));
            }
            let resumed = stdout.matches("*** This is a resumed session").count();
            let want_resumed = if job.resumption {
                job.connections - 1
            } else {
                0
            };
            if resumed != want_resumed {
                return Err(format!(
                    "gnutls-serv resumed {resumed} sessions, expected {want_resumed}\n{}",
                    describe()
                ));
            }
            if job.resumption {
                notes.push("gnutls-serv: \"This is a resumed session\"".into());
            }
        }
        notes.push("gnutls-serv echoed it all".into());
        if job.close != PeerClose::Drop {
            notes.push("gnutls-serv: no truncation reported".into());
        }
        Ok(notes)
    }
}

// ----- gnutls-cli (our server) -----------------------------------------------------------

struct CliRun {
    proc: ChildProc,
    log: PathBuf,
    feed: Option<Receiver<io::Result<()>>>,
}

fn start_client(job: &PeerJob<'_>) -> Result<Box<dyn PeerRun>, String> {
    let pki = job.pki;
    let log = pki.path("gnutls-cli.log");
    let mut cmd = Command::new("gnutls-cli");
    cmd.args(["-p", &job.our_port.to_string(), "127.0.0.1"])
        .arg(format!("--x509cafile={}", pki.ca_file.display()))
        .arg(format!("--priority={}", priority(job.version())))
        .arg(format!("--logfile={}", log.display()));
    if job.sni {
        cmd.args(["--sni-hostname=localhost", "--verify-hostname=localhost"]);
    } else {
        cmd.args(["--disable-sni", "--verify-hostname=127.0.0.1"]);
    }
    alpn_args(&mut cmd, job.alpn);
    if job.client_auth == PeerClientAuth::Required {
        cmd.arg(format!(
            "--x509certfile={}",
            pki.client_files.cert.display()
        ))
        .arg(format!("--x509keyfile={}", pki.client_files.key.display()));
    }
    if job.resumption {
        cmd.arg("--resume");
        if job.version() == Version::Tls13 {
            cmd.arg("--waitresumption");
        }
    }
    let mut proc = ChildProc::spawn(cmd);
    let feed = (!job.send.is_empty()).then(|| proc.feed_stdin((*job.send).clone()));
    Ok(Box::new(CliRun { proc, log, feed }))
}

impl PeerRun for CliRun {
    fn port(&self) -> u16 {
        0
    }

    fn abort(&mut self) {
        self.proc.kill();
    }

    fn end_connection(
        &mut self,
        job: &PeerJob<'_>,
        conn: usize,
        our_port: u16,
        peer_port: u16,
    ) -> Result<(), String> {
        if first_connection_handshake_only(job.cell.feature, job.peer_is_server()) && conn == 0 {
            return Ok(());
        }
        match job.close {
            PeerClose::Initiate => {
                if let Some(feed) = &self.feed {
                    match feed.recv_timeout(EXCHANGE_TIMEOUT) {
                        Ok(Ok(())) => {}
                        other => return Err(format!("feeding gnutls-cli: {other:?}")),
                    }
                }
                // gnutls-cli sends close_notify at stdin EOF: first let it print all we sent.
                let got = self
                    .proc
                    .stdout()
                    .wait_len(job.expect.len(), EXCHANGE_TIMEOUT);
                if got.len() < job.expect.len() {
                    return Err(format!(
                        "gnutls-cli printed {} of {} bytes",
                        got.len(),
                        job.expect.len()
                    ));
                }
                self.proc.close_stdin();
            }
            PeerClose::Drop => {
                let got = self
                    .proc
                    .stdout()
                    .wait_len(job.expect.len(), EXCHANGE_TIMEOUT);
                if got.len() < job.expect.len() {
                    return Err(format!(
                        "gnutls-cli printed {} of {} bytes",
                        got.len(),
                        job.expect.len()
                    ));
                }
                if !wait_rx_drained(our_port, peer_port, STEP_TIMEOUT) {
                    return Err("the connection did not drain before the kill".into());
                }
                self.proc.kill();
            }
            PeerClose::Answer | PeerClose::Observe => {}
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>, job: &PeerJob<'_>) -> Result<Vec<String>, String> {
        let status = self.proc.wait_with_timeout(STEP_TIMEOUT);
        if status.is_none() {
            self.proc.kill();
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let stdout = self.proc.stdout_all();
        let describe = || {
            format!(
                "{}\n--- log ---\n{}",
                tail(&self.proc.describe()),
                tail(&log)
            )
        };
        if let Some(refusal) = job.refusal {
            let text = format!("{log}\n{}", self.proc.stderr_all());
            let line = text
                .lines()
                .find(|l| {
                    l.contains("***")
                        && refusal.words().iter().any(|w| l.to_lowercase().contains(w))
                })
                .ok_or_else(|| {
                    format!(
                        "gnutls-cli does not report the refusal ({refusal:?})\n{}",
                        describe()
                    )
                })?;
            if status.is_none_or(|s| s.success()) {
                return Err(format!("gnutls-cli did not fail\n{}", describe()));
            }
            return Ok(vec![format!("gnutls-cli: {}", line.trim())]);
        }
        let mut notes = Vec::new();
        if job.close != PeerClose::Drop {
            if !status.is_some_and(|s| s.success()) {
                return Err(format!("gnutls-cli exited with {status:?}\n{}", describe()));
            }
            notes.push("gnutls-cli exit 0".into());
            if job.close != PeerClose::Initiate {
                if !log.contains("Peer has closed the GnuTLS connection") {
                    return Err(format!(
                        "gnutls-cli did not see our close_notify\n{}",
                        describe()
                    ));
                }
                notes.push("gnutls-cli: \"Peer has closed the GnuTLS connection\"".into());
            }
        }
        crate::interop::compare("gnutls-cli's stdout", &stdout, &job.expect)
            .map_err(|e| format!("{e}\n{}", describe()))?;
        notes.push(format!("gnutls-cli received {} bytes", stdout.len()));
        let alpn: Vec<&str> = log
            .lines()
            .filter_map(|l| l.strip_prefix("- Application protocol: "))
            .map(str::trim)
            .collect();
        let handshakes = if job.resumption { 2 } else { 1 };
        let want: Vec<&str> = job
            .agreed_alpn
            .into_iter()
            .cycle()
            .take(handshakes)
            .collect();
        if alpn != want {
            return Err(format!(
                "gnutls-cli's ALPN: {alpn:?}, expected {want:?}\n{}",
                describe()
            ));
        }
        if let Some(p) = job.agreed_alpn {
            notes.push(format!("gnutls-cli: application protocol {p}"));
        }
        if job.resumption {
            if !log.contains("*** This is a resumed session") {
                return Err(format!("gnutls-cli did not resume\n{}", describe()));
            }
            notes.push("gnutls-cli: \"This is a resumed session\"".into());
        }
        Ok(notes)
    }
}

/// The last lines of a long text (gnutls-serv logs every echoed chunk).
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(40);
    lines[start..].join("\n")
}
