//! curl, as the client of our server (curl has no server side).
//!
//! The exchange is HTTP/1.1: curl POSTs its payload (`--data-binary`, no `Expect:
//! 100-continue`), our server reads the whole request, then answers `200 OK` with its own
//! payload and `Connection: close`; curl writes the body to a file. So both directions are
//! checked byte for byte, one after the other rather than at the same time. Resumption:
//! two URLs in one run, each on a new connection (`Connection: close`); curl's `-v` says
//! "SSL re-using session ID". ALPN: curl offers `h2,http/1.1` by default, only `http/1.1`
//! with `--http1.1`, nothing with `--no-alpn`.

use std::path::PathBuf;
use std::process::Command;

use super::{PeerClientAuth, PeerClose, PeerJob, PeerRun};
use crate::common::process::{wait_rx_drained, ChildProc};
use crate::interop::cells::Version;
use crate::interop::ours::{EXCHANGE_TIMEOUT, STEP_TIMEOUT};

struct CurlRun {
    proc: ChildProc,
    outputs: Vec<PathBuf>,
}

pub fn start(job: &PeerJob<'_>) -> Result<Box<dyn PeerRun>, String> {
    let pki = job.pki;
    let body = pki.path("curl-upload.bin");
    std::fs::write(&body, &**job.send).map_err(|e| e.to_string())?;
    let port = job.our_port;
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-v", "--cacert"])
        .arg(&pki.ca_file)
        .arg("--data-binary")
        .arg(format!("@{}", body.display()))
        .args([
            "-H",
            "Expect:",
            "-H",
            "Content-Type: application/octet-stream",
        ])
        .args(["--max-time", &EXCHANGE_TIMEOUT.as_secs().to_string()]);
    match job.version() {
        Version::Tls12 => cmd.args(["--tlsv1.2", "--tls-max", "1.2"]),
        Version::Tls13 => cmd.args(["--tlsv1.3", "--tls-max", "1.3"]),
    };
    match job.alpn {
        None => {
            cmd.arg("--no-alpn");
        }
        Some("http/1.1") => {
            cmd.arg("--http1.1");
        }
        Some("h2,http/1.1") => {}
        Some(other) => return Err(format!("curl cannot offer ALPN {other:?}")),
    }
    if job.client_auth == PeerClientAuth::Required {
        cmd.arg("--cert")
            .arg(&pki.client_files.cert)
            .arg("--key")
            .arg(&pki.client_files.key);
    }
    let host = if job.sni {
        cmd.args(["--resolve", &format!("localhost:{port}:127.0.0.1")]);
        "localhost"
    } else {
        "127.0.0.1" // curl sends no SNI for an IP address
    };
    let mut outputs = Vec::new();
    for conn in 0..job.connections {
        let out = pki.path(&format!("curl-download.{conn}"));
        cmd.arg("-o")
            .arg(&out)
            .arg(format!("https://{host}:{port}/{conn}"));
        outputs.push(out);
    }
    Ok(Box::new(CurlRun {
        proc: ChildProc::spawn(cmd),
        outputs,
    }))
}

impl PeerRun for CurlRun {
    fn port(&self) -> u16 {
        0
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
        if job.close == PeerClose::Drop {
            // We read the whole request and answer nothing: curl waits for the response.
            if !wait_rx_drained(our_port, peer_port, STEP_TIMEOUT) {
                return Err("the connection did not drain before the kill".into());
            }
            self.proc.kill();
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>, job: &PeerJob<'_>) -> Result<Vec<String>, String> {
        let status = self.proc.wait_with_timeout(STEP_TIMEOUT);
        if status.is_none() {
            self.proc.kill();
        }
        let log = self.proc.stderr_all();
        let describe = || self.proc.describe();
        if let Some(refusal) = job.refusal {
            let line = log
                .lines()
                .find(|l| {
                    l.starts_with("curl: (")
                        && refusal.words().iter().any(|w| l.to_lowercase().contains(w))
                })
                .ok_or_else(|| {
                    format!(
                        "curl does not report the refusal ({refusal:?})\n{}",
                        describe()
                    )
                })?;
            return Ok(vec![line.trim().to_owned()]);
        }
        if job.close == PeerClose::Drop {
            return Ok(vec!["curl killed while waiting for the response".into()]);
        }
        if !status.is_some_and(|s| s.success()) {
            return Err(format!("curl exited with {status:?}\n{}", describe()));
        }
        let mut notes = vec!["curl exit 0".to_owned()];
        for out in &self.outputs {
            let got = std::fs::read(out).map_err(|e| format!("{}: {e}", out.display()))?;
            crate::interop::compare("curl's download", &got, &job.expect)
                .map_err(|e| format!("{e}\n{}", describe()))?;
        }
        notes.push(format!("curl downloaded {} bytes", job.expect.len()));
        let accepted: Vec<&str> = log
            .lines()
            .filter_map(|l| l.strip_prefix("* ALPN: server accepted "))
            .map(str::trim)
            .collect();
        let want: Vec<&str> = job
            .agreed_alpn
            .into_iter()
            .cycle()
            .take(job.connections)
            .collect();
        if accepted != want {
            return Err(format!(
                "curl's ALPN: {accepted:?}, expected {want:?}\n{}",
                describe()
            ));
        }
        if let Some(p) = job.agreed_alpn {
            notes.push(format!("curl: \"ALPN: server accepted {p}\""));
        }
        let using = format!("SSL connection using {}", job.version().openssl_name());
        if !log.contains(&using) {
            return Err(format!("curl does not say {using:?}\n{}", describe()));
        }
        if job.resumption {
            let reused = log.matches("SSL re-using session ID").count();
            if reused != job.connections - 1 {
                return Err(format!("curl re-used {reused} sessions\n{}", describe()));
            }
            notes.push("curl: \"SSL re-using session ID\"".into());
        }
        Ok(notes)
    }
}
