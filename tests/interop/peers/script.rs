//! The scripted peers: `tests/peers/python_peer.py` (Python's ssl module) and
//! `tests/peers/pike_peer.pike` (Pike 8.0's SSL.File), run with the same options.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::{report, PeerClientAuth, PeerClose, PeerJob, PeerRun};
use crate::common::process::ChildProc;
use crate::interop::cells::Feature;
use crate::interop::ours::{EXCHANGE_TIMEOUT, STEP_TIMEOUT};

#[derive(Debug, Clone, Copy)]
pub enum Script {
    Python,
    Pike,
}

impl Script {
    fn command(self) -> Command {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/peers");
        match self {
            Script::Python => {
                let mut cmd = Command::new("python3");
                cmd.arg(format!("{dir}/python_peer.py"));
                cmd
            }
            Script::Pike => {
                let mut cmd = Command::new("pike");
                cmd.arg(format!("{dir}/pike_peer.pike"));
                cmd
            }
        }
    }
}

struct ScriptRun {
    script: Script,
    proc: ChildProc,
    port: u16,
    recv_prefix: PathBuf,
}

pub fn start(script: Script, job: &PeerJob<'_>) -> Result<Box<dyn PeerRun>, String> {
    let pki = job.pki;
    let send = pki.path("peer-send.bin");
    std::fs::write(&send, &**job.send).map_err(|e| e.to_string())?;
    let recv_prefix = pki.path("peer-recv");
    let mut cmd = script.command();
    let arg = |cmd: &mut Command, key: &str, value: &str| {
        cmd.arg(format!("--{key}")).arg(value);
    };
    let is_server = job.peer_is_server();
    arg(
        &mut cmd,
        "role",
        if is_server { "server" } else { "client" },
    );
    arg(&mut cmd, "tls", job.version().dotted());
    // In an exact-trust cell a peer server verifies nobody, and the CA file is the
    // CA-flagged server certificate, which Pike 8.0 refuses to load as a trust anchor.
    if !(is_server && job.cell.feature == Feature::ExactTrust) {
        arg(&mut cmd, "ca", &pki.ca_file.to_string_lossy());
    }
    if is_server {
        arg(&mut cmd, "cert", &pki.server_files.cert.to_string_lossy());
        arg(&mut cmd, "key", &pki.server_files.key.to_string_lossy());
        let policy = match job.client_auth {
            PeerClientAuth::None => "none",
            PeerClientAuth::Optional => "optional",
            PeerClientAuth::Required => "required",
        };
        arg(&mut cmd, "client-auth", policy);
    } else {
        arg(&mut cmd, "port", &job.our_port.to_string());
        let name = match (job.sni, script) {
            (true, _) => "localhost",
            (false, Script::Python) => "127.0.0.1",
            // Pike 8.0's client cannot verify an IP address: no name at all.
            (false, Script::Pike) => "-",
        };
        arg(&mut cmd, "server-name", name);
        if job.client_auth == PeerClientAuth::Required {
            arg(&mut cmd, "cert", &pki.client_files.cert.to_string_lossy());
            arg(&mut cmd, "key", &pki.client_files.key.to_string_lossy());
        }
    }
    if let Some(alpn) = job.alpn {
        arg(&mut cmd, "alpn", alpn);
    }
    arg(&mut cmd, "send", &send.to_string_lossy());
    arg(&mut cmd, "recv", &recv_prefix.to_string_lossy());
    arg(&mut cmd, "expect", &job.expect.len().to_string());
    let close = match job.close {
        PeerClose::Answer => "answer",
        PeerClose::Initiate => "initiate",
        PeerClose::Observe => "expect",
        PeerClose::Drop => "drop",
    };
    arg(&mut cmd, "close", close);
    arg(&mut cmd, "connections", &job.connections.to_string());
    arg(&mut cmd, "timeout", &EXCHANGE_TIMEOUT.as_secs().to_string());
    let proc = ChildProc::spawn(cmd);
    let mut port = 0;
    if is_server {
        let (out, _) = proc.stdout().wait_until(Duration::from_secs(20), |d, eof| {
            eof || String::from_utf8_lossy(d).contains("\n")
        });
        let text = String::from_utf8_lossy(&out).into_owned();
        port = text
            .lines()
            .find_map(|l| l.strip_prefix("LISTENING port="))
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(|| {
                format!(
                    "{script:?} peer did not start listening\n{}",
                    proc.describe()
                )
            })?;
    }
    Ok(Box::new(ScriptRun {
        script,
        proc,
        port,
        recv_prefix,
    }))
}

impl PeerRun for ScriptRun {
    fn port(&self) -> u16 {
        self.port
    }

    fn abort(&mut self) {
        self.proc.kill();
    }

    fn finish(mut self: Box<Self>, job: &PeerJob<'_>) -> Result<Vec<String>, String> {
        let status = self.proc.wait_with_timeout(STEP_TIMEOUT);
        if status.is_none() {
            self.proc.kill();
        }
        let stdout = String::from_utf8_lossy(&self.proc.stdout_all()).into_owned();
        let describe = || {
            format!(
                "{:?} peer (status {status:?})\n{}",
                self.script,
                self.proc.describe()
            )
        };
        let Some(status) = status else {
            return Err(format!("the peer did not exit\n{}", describe()));
        };
        let events = report::parse(&stdout);
        let prefix = (job.refusal.is_none()).then_some(self.recv_prefix.as_path());
        let extra: &[&str] = match self.script {
            // Pike 8.0 cannot say why its handshake failed (see pike_peer.pike).
            Script::Pike => &["fatal alert"],
            Script::Python => &[],
        };
        let notes = report::check(job, &events, prefix, extra)
            .map_err(|e| format!("{e}\n{}", describe()))?;
        let want_success = job.refusal.is_none();
        if status.success() != want_success {
            return Err(format!("unexpected exit status\n{}", describe()));
        }
        Ok(notes)
    }
}
