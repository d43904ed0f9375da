//! Child-process wrappers around the `openssl` command-line tool (3.x):
//! [`SServer`] runs `openssl s_server`, [`SClient`] runs `openssl s_client`.
//!
//! Both deref to [`ChildProc`] (in `process`) for the I/O helpers: piped stdio collected
//! by background threads, bounded waits, killed and reaped on drop.
//!
//! Behaviour of the tools worth knowing (observed with OpenSSL 3.0):
//! * `s_server -quiet` prints nothing at all on startup (no "ACCEPT"), so
//!   readiness is detected by finding the child's listening socket in
//!   `/proc/<pid>/net/tcp` (no probe connection, which would count against
//!   `-naccept`). Without `-quiet` it prints "ACCEPT" to stdout once
//!   listening; that is accepted too.
//! * `s_server` ends the connection (with close_notify) and, with
//!   `-naccept 1`, exits when its stdin reaches EOF, even with `-quiet`; keep
//!   stdin open (the default here) while the connection lives. It answers a
//!   client's close_notify with its own. It exits 0 even when it fails to
//!   bind (the error is only on stderr).
//! * `s_client -quiet` implies `-ign_eof`: stdin EOF does not close the
//!   connection. It exits 0 after the server's close_notify and 1 ("unexpected
//!   eof while reading") if the TCP connection ends without one. Without
//!   `-quiet`, stdin EOF makes it send close_notify and exit 0, and stdout
//!   carries session details besides the data.
//! * Certificate verification chatter ("depth=...") goes to stderr.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::process::Command;

use super::certs::IdentityFiles;
use super::process::wait_listening;
pub use super::process::ChildProc;
use super::{free_port, TIMEOUT};

/// A TLS protocol version to pin with `-tls1_2` / `-tls1_3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVer {
    Tls12,
    Tls13,
}

impl TlsVer {
    fn flag(self) -> &'static str {
        match self {
            TlsVer::Tls12 => "-tls1_2",
            TlsVer::Tls13 => "-tls1_3",
        }
    }
}

/// What `s_server` does with a connection.
#[derive(Debug, Clone)]
pub enum SServerMode {
    /// `-quiet`: data from the client goes to stdout, stdin goes to the client.
    Quiet,
    /// `-WWW`: answer `GET /path` with the file `path` below this directory.
    Www(PathBuf),
    /// `-rev`: echo each line back reversed.
    Rev,
    /// No `-quiet`: data from the client goes to stdout together with session details
    /// ("ALPN protocols selected: ...", "Reused session-id"); stdin chunks that start
    /// with an interactive command letter (Q, q, P, S, or r/R/k/K/c and a newline) are
    /// taken as commands.
    Verbose,
}

/// Options for [`SServer::spawn`].
#[derive(Debug, Clone)]
pub struct SServerOpts {
    /// Certificate chain file (`-cert`).
    pub cert: PathBuf,
    /// Private key file (`-key`).
    pub key: PathBuf,
    /// If set, require a client certificate issued by this CA
    /// (`-CAfile <ca> -Verify 1 -verify_return_error`).
    pub client_ca: Option<PathBuf>,
    /// Pin the protocol version (`-tls1_2` / `-tls1_3`); `None` allows both.
    pub tls: Option<TlsVer>,
    /// `-alpn` protocol list (comma-separated).
    pub alpn: Option<String>,
    /// What to do with the connection; see [`SServerMode`].
    pub mode: SServerMode,
    /// `-naccept`; `None` serves forever. Default `Some(1)`.
    pub naccept: Option<u32>,
    /// Appended verbatim.
    pub extra_args: Vec<String>,
}

impl SServerOpts {
    /// Quiet mode, one connection, any TLS version.
    pub fn new(files: &IdentityFiles) -> Self {
        SServerOpts {
            cert: files.cert.clone(),
            key: files.key.clone(),
            client_ca: None,
            tls: None,
            alpn: None,
            mode: SServerMode::Quiet,
            naccept: Some(1),
            extra_args: Vec::new(),
        }
    }
}

/// A running `openssl s_server` listening on 127.0.0.1.
pub struct SServer {
    proc: ChildProc,
    port: u16,
}

impl SServer {
    /// Start `s_server` on a free port and wait until it listens (panics
    /// with its output if it does not within [`TIMEOUT`]).
    pub fn spawn(opts: SServerOpts) -> SServer {
        for _attempt in 0..5 {
            let port = free_port();
            let mut proc = ChildProc::spawn(sserver_command(&opts, port));
            if wait_listening(&mut proc, port, TIMEOUT) {
                return SServer { proc, port };
            }
            let err = proc.stderr_text();
            if proc.try_wait().is_some() && err.contains("in use") {
                continue; // lost the race for the port: try another one
            }
            panic!("s_server did not start listening\n{}", proc.describe());
        }
        panic!("s_server: no free port after 5 attempts");
    }

    /// The port on 127.0.0.1 it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

fn sserver_command(opts: &SServerOpts, port: u16) -> Command {
    let mut cmd = Command::new("openssl");
    cmd.arg("s_server")
        .arg("-accept")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&opts.cert)
        .arg("-key")
        .arg(&opts.key);
    if let Some(ca) = &opts.client_ca {
        cmd.arg("-CAfile")
            .arg(ca)
            .args(["-Verify", "1", "-verify_return_error"]);
    }
    if let Some(tls) = opts.tls {
        cmd.arg(tls.flag());
    }
    if let Some(alpn) = &opts.alpn {
        cmd.arg("-alpn").arg(alpn);
    }
    match &opts.mode {
        SServerMode::Quiet => {
            cmd.arg("-quiet");
        }
        SServerMode::Www(root) => {
            cmd.arg("-WWW").current_dir(root);
        }
        SServerMode::Rev => {
            cmd.arg("-rev");
        }
        SServerMode::Verbose => {}
    }
    if let Some(n) = opts.naccept {
        cmd.arg("-naccept").arg(n.to_string());
    }
    cmd.args(&opts.extra_args);
    cmd
}

/// Options for [`SClient::spawn`].
#[derive(Debug, Clone)]
pub struct SClientOpts {
    /// Host to connect to; default "127.0.0.1" (IPv6 literals are bracketed).
    pub host: String,
    /// Port on `host`.
    pub port: u16,
    /// `-servername`; `None` gives `-noservername` (no SNI).
    pub servername: Option<String>,
    /// `-CAfile <file> -verify_return_error`: abort on verification failure.
    pub cafile: Option<PathBuf>,
    /// Client certificate chain and key (`-cert`, `-key`).
    pub client_identity: Option<IdentityFiles>,
    /// Pin the protocol version (`-tls1_2` / `-tls1_3`); `None` allows both.
    pub tls: Option<TlsVer>,
    /// `-alpn` protocol list (comma-separated).
    pub alpn: Option<String>,
    /// `-quiet` (implies `-ign_eof`). Default true. Without it s_client
    /// prints session details to stdout and closes the connection at stdin
    /// EOF.
    pub quiet: bool,
    /// Allow interactive command letters (Q, R, k, K at the start of a
    /// line) when not quiet; otherwise `-nocommands` is passed. Default false.
    pub commands: bool,
    /// Appended verbatim.
    pub extra_args: Vec<String>,
}

impl SClientOpts {
    /// Quiet, no SNI, no verification, to 127.0.0.1:`port`.
    pub fn new(port: u16) -> Self {
        SClientOpts {
            host: "127.0.0.1".into(),
            port,
            servername: None,
            cafile: None,
            client_identity: None,
            tls: None,
            alpn: None,
            quiet: true,
            commands: false,
            extra_args: Vec::new(),
        }
    }
}

/// A running `openssl s_client`.
pub struct SClient {
    proc: ChildProc,
}

impl SClient {
    /// Start `s_client` (it connects immediately; no readiness wait).
    pub fn spawn(opts: SClientOpts) -> SClient {
        let target = if opts.host.contains(':') {
            format!("[{}]:{}", opts.host, opts.port)
        } else {
            format!("{}:{}", opts.host, opts.port)
        };
        let mut cmd = Command::new("openssl");
        cmd.arg("s_client").arg("-connect").arg(target);
        match &opts.servername {
            Some(name) => cmd.arg("-servername").arg(name),
            None => cmd.arg("-noservername"),
        };
        if let Some(ca) = &opts.cafile {
            cmd.arg("-CAfile").arg(ca).arg("-verify_return_error");
        }
        if let Some(id) = &opts.client_identity {
            cmd.arg("-cert").arg(&id.cert).arg("-key").arg(&id.key);
        }
        if let Some(tls) = opts.tls {
            cmd.arg(tls.flag());
        }
        if let Some(alpn) = &opts.alpn {
            cmd.arg("-alpn").arg(alpn);
        }
        if opts.quiet {
            cmd.arg("-quiet");
        } else if !opts.commands {
            cmd.arg("-nocommands");
        }
        cmd.args(&opts.extra_args);
        SClient {
            proc: ChildProc::spawn(cmd),
        }
    }
}

macro_rules! deref_proc {
    ($t:ty) => {
        impl Deref for $t {
            type Target = ChildProc;
            fn deref(&self) -> &ChildProc {
                &self.proc
            }
        }
        impl DerefMut for $t {
            fn deref_mut(&mut self) -> &mut ChildProc {
                &mut self.proc
            }
        }
    };
}
deref_proc!(SServer);
deref_proc!(SClient);

/// A self-signed certificate and key for `name` made as the OpenSSL manual and countless
/// tutorials say, `openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=NAME -addext
/// subjectAltName=DNS:NAME`, written to `dir/<stem>.crt` and `dir/<stem>.key`. OpenSSL 3
/// marks it as a CA (`basicConstraints CA:TRUE`, from openssl.cnf's `v3_ca`); this checks
/// that it did, so that the tests using it test what they say.
pub fn req_self_signed(dir: &std::path::Path, stem: &str, name: &str) -> IdentityFiles {
    let files = IdentityFiles {
        cert: dir.join(format!("{stem}.crt")),
        key: dir.join(format!("{stem}.key")),
    };
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        ])
        .arg("-keyout")
        .arg(&files.key)
        .arg("-out")
        .arg(&files.cert)
        .arg("-subj")
        .arg(format!("/CN={name}"))
        .arg("-addext")
        .arg(format!("subjectAltName=DNS:{name}"))
        .output()
        .expect("run openssl req");
    assert!(
        made.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&files.cert)
        .output()
        .expect("run openssl x509");
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("CA:TRUE"),
        "openssl req made a certificate without CA:TRUE"
    );
    files
}
