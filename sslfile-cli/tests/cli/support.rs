//! Running the `sslfile` binary in tests: `serve` on a free port with its printed banner
//! parsed, `connect` with piped stdio, and SIGINT for the Ctrl-C tests.

use std::path::PathBuf;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use sslfile::{Context, File, SslFile};

use crate::common::openssl::ChildProc;
use crate::common::TIMEOUT;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_sslfile");

/// A running `sslfile serve`; stopped when dropped (SIGINT, so that it removes its
/// certificate file; SIGKILL if it does not exit).
pub struct Serve {
    /// The child, with its stdout and stderr collected.
    pub proc: ChildProc,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// The certificate file it printed (for `--cacert` / `--cafile`).
    pub cert_file: PathBuf,
    /// The banner it printed.
    pub banner: String,
}

impl Serve {
    /// Starts `sslfile serve --listen 127.0.0.1:0 ARGS...` and waits for its banner.
    pub fn start(args: &[&str]) -> Serve {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0"]).args(args);
        Serve::spawn(cmd)
    }

    /// Like [`start`](Self::start), with the soft limit on open descriptors lowered to
    /// `limit` first (the hard limit stays), as a user's shell may have it.
    pub fn start_with_soft_fd_limit(limit: u32, args: &[&str]) -> Serve {
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(format!("ulimit -S -n {limit} && exec \"$0\" \"$@\""))
            .args([BIN, "serve", "--listen", "127.0.0.1:0"])
            .args(args);
        Serve::spawn(cmd)
    }

    fn spawn(cmd: Command) -> Serve {
        let mut proc = ChildProc::spawn(cmd);
        let ready = proc.wait_stdout(b"Ctrl-C closes", TIMEOUT);
        assert!(ready, "serve did not start\n{}", proc.describe());
        let banner = proc.stdout_text();
        let port = banner
            .split_whitespace()
            .find_map(|w| w.strip_prefix("127.0.0.1:"))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in the banner:\n{banner}"));
        let cert_file = banner
            .split_whitespace()
            .skip_while(|w| *w != "--cacert" && *w != "--cafile")
            .nth(1)
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("no certificate file in the banner:\n{banner}"));
        assert!(cert_file.exists(), "{} missing", cert_file.display());
        let _ = proc.try_wait();
        Serve {
            proc,
            port,
            cert_file,
            banner,
        }
    }

    /// `https://localhost:PORT/path`.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// A client context that trusts the server's certificate, offering `alpn`.
    pub fn client_context(&self, alpn: &[&str]) -> Context {
        Context::builder()
            .trust_pem_file(&self.cert_file)
            .unwrap()
            .alpn_protocols(alpn)
            .build()
            .unwrap()
    }

    /// A blocking client connected to the server (handshake done), with a timeout.
    pub fn client(&self, alpn: &[&str]) -> SslFile {
        let socket = File::connect(("127.0.0.1", self.port)).expect("connect to serve");
        let tls = SslFile::new(socket, &self.client_context(alpn));
        tls.set_blocking();
        tls.set_timeout(Some(TIMEOUT));
        tls.connect("localhost")
            .unwrap_or_else(|e| panic!("handshake with serve: {e}\n{}", self.proc.describe()));
        tls
    }

    /// Runs curl against the server, trusting its certificate.
    pub fn curl(&self, args: &[&str]) -> Output {
        let output = Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "20", "--cacert"])
            .arg(&self.cert_file)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run curl");
        output
    }

    /// Sends SIGINT (Ctrl-C) and waits for the exit.
    pub fn interrupt(&mut self) -> ExitStatus {
        send_sigint(self.proc.pid());
        self.proc
            .wait_with_timeout(TIMEOUT)
            .unwrap_or_else(|| panic!("serve did not exit on SIGINT\n{}", self.proc.describe()))
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if self.proc.try_wait().is_none() {
            send_sigint(self.proc.pid());
            let _ = self.proc.wait_with_timeout(TIMEOUT);
        }
        let _ = std::fs::remove_file(&self.cert_file); // in case it was killed
    }
}

/// Sends SIGINT to a process.
pub fn send_sigint(pid: u32) {
    let pid = rustix::process::Pid::from_raw(pid as i32).expect("a child's pid");
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("kill -INT");
}

/// Starts `sslfile connect ARGS...` with piped stdio.
pub fn connect(args: &[&str]) -> ChildProc {
    let mut cmd = Command::new(BIN);
    cmd.arg("connect").args(args);
    ChildProc::spawn(cmd)
}

/// Runs `sslfile ARGS...` to its end with stdin from `/dev/null`; bounded by [`TIMEOUT`].
pub fn run(args: &[&str]) -> (ExitStatus, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    let mut proc = ChildProc::spawn(cmd);
    proc.close_stdin();
    let status = proc
        .wait_with_timeout(TIMEOUT + Duration::from_secs(20))
        .unwrap_or_else(|| panic!("sslfile did not exit\n{}", proc.describe()));
    let stdout = proc.stdout().read_to_end(TIMEOUT).unwrap_or_default();
    let stderr = proc.stderr().read_to_end(TIMEOUT).unwrap_or_default();
    (
        status,
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}
