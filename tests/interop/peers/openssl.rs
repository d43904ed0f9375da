//! `openssl s_server` / `s_client` (through the wrappers of `tests/common/openssl.rs`).
//!
//! Data goes through their stdio: what they receive is their stdout, what they send is fed
//! to their stdin. They run with `-quiet` (stdout is exactly the data) except where the
//! cell needs their evidence, printed only without it:
//! * s_server: "ALPN protocols selected: X", "Reused session-id". Without `-quiet` it takes
//!   stdin chunks starting with Q, q, P, S (or r, R, k, K, c and a newline) as commands,
//!   so its payload is kept free of those bytes there.
//! * s_client (`-nocommands`): "ALPN protocol: X" / "No ALPN negotiated", "New," /
//!   "Reused,"; and stdin EOF makes it send close_notify (the peer-initiated close).
//!
//! Endings: s_server sends close_notify when its stdin ends; both answer a close_notify;
//! both report a truncation on stderr ("unexpected eof while reading"), s_client -quiet
//! also by exiting 1. A killed process is the dropped socket.

use std::io;
use std::sync::mpsc::Receiver;

use super::{PeerClientAuth, PeerClose, PeerJob, PeerRun};
use crate::common::openssl::{SClient, SClientOpts, SServer, SServerMode, SServerOpts, TlsVer};
use crate::common::process::{wait_rx_drained, ChildProc};
use crate::interop::cells::{Close, Feature, Version};
use crate::interop::ours::{EXCHANGE_TIMEOUT, STEP_TIMEOUT};

fn tls(version: Version) -> TlsVer {
    match version {
        Version::Tls12 => TlsVer::Tls12,
        Version::Tls13 => TlsVer::Tls13,
    }
}

/// The bytes s_server without `-quiet` would take as commands, at the start of a chunk.
const SSERVER_COMMAND_BYTES: &[u8] = b"QqPSrRkKc";

/// The payload s_server sends in a cell: without `-quiet`, no command bytes.
pub fn sserver_payload(job_feature: Feature, data: &[u8]) -> Vec<u8> {
    if sserver_verbose(job_feature) {
        data.iter()
            .map(|&b| {
                if SSERVER_COMMAND_BYTES.contains(&b) {
                    b ^ 0x80
                } else {
                    b
                }
            })
            .collect()
    } else {
        data.to_vec()
    }
}

fn sserver_verbose(feature: Feature) -> bool {
    matches!(feature, Feature::Alpn(_) | Feature::Resumption)
}

fn sclient_verbose(feature: Feature) -> bool {
    matches!(
        feature,
        Feature::Alpn(_) | Feature::Resumption | Feature::Close(Close::PeerClean)
    )
}

pub fn start(job: &PeerJob<'_>) -> Result<Box<dyn PeerRun>, String> {
    if job.peer_is_server() {
        start_server(job)
    } else {
        let mut run = SClientRun {
            procs: Vec::new(),
            feeds: Vec::new(),
            verbose: sclient_verbose(job.cell.feature),
        };
        run.spawn(job, 0);
        Ok(Box::new(run))
    }
}

/// Waits until a stdin feeder has written everything.
fn fed(feed: &Receiver<io::Result<()>>) -> Result<(), String> {
    match feed.recv_timeout(EXCHANGE_TIMEOUT) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("feeding the peer's stdin: {e}")),
        Err(e) => Err(format!("feeding the peer's stdin: {e}")),
    }
}

/// Drop: once the peer read all we sent, SIGKILL it (its socket closes with a FIN).
fn kill_when_drained(
    proc: &mut ChildProc,
    expect_len: usize,
    our_port: u16,
    peer_port: u16,
) -> Result<(), String> {
    let got = proc.stdout().wait_len(expect_len, EXCHANGE_TIMEOUT);
    if got.len() < expect_len {
        return Err(format!(
            "the peer printed {} of {expect_len} bytes\n{}",
            got.len(),
            proc.describe()
        ));
    }
    if !wait_rx_drained(our_port, peer_port, STEP_TIMEOUT) {
        return Err("the connection did not drain before the kill".into());
    }
    proc.kill();
    Ok(())
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

/// True if `output` holds all of `data`, in order, with only lines of text in between:
/// without `-quiet`, s_server and s_client print their session details when the handshake
/// ends, which can fall between the first records of data.
fn data_among_text(output: &[u8], data: &[u8]) -> bool {
    let is_text = |gap: &[u8]| {
        gap.iter()
            .all(|&b| b == b'\n' || b == b'\r' || b == b'\t' || (32..127).contains(&b))
    };
    let (mut i, mut j) = (0, 0);
    while j < data.len() {
        if i < output.len() && output[i] == data[j] {
            i += 1;
            j += 1;
            continue;
        }
        // Skip a stretch of text up to where the data goes on.
        let probe = &data[j..(j + 32).min(data.len())];
        let Some(found) = output[i..].windows(probe.len()).position(|w| w == probe) else {
            return false;
        };
        if !is_text(&output[i..i + found]) {
            return false;
        }
        i += found;
    }
    true
}

// ----- s_server (our client) -------------------------------------------------------------

struct SServerRun {
    server: SServer,
    verbose: bool,
    feeds: Vec<Receiver<io::Result<()>>>,
}

fn start_server(job: &PeerJob<'_>) -> Result<Box<dyn PeerRun>, String> {
    let pki = job.pki;
    let verbose = sserver_verbose(job.cell.feature);
    let mut opts = SServerOpts::new(&pki.server_files);
    opts.tls = Some(tls(job.version()));
    opts.alpn = job.alpn.map(str::to_owned);
    opts.naccept = Some(job.connections as u32);
    if verbose {
        opts.mode = SServerMode::Verbose;
    }
    match job.client_auth {
        PeerClientAuth::None => {}
        PeerClientAuth::Optional => {
            opts.extra_args = vec![
                "-verify".into(),
                "1".into(),
                "-CAfile".into(),
                pki.ca_file.to_string_lossy().into(),
            ];
        }
        PeerClientAuth::Required => opts.client_ca = Some(pki.ca_file.clone()),
    }
    Ok(Box::new(SServerRun {
        server: SServer::spawn(opts),
        verbose,
        feeds: Vec::new(),
    }))
}

impl PeerRun for SServerRun {
    fn port(&self) -> u16 {
        self.server.port()
    }

    fn abort(&mut self) {
        self.server.kill();
    }

    fn begin_connection(&mut self, job: &PeerJob<'_>, conn: usize) -> Result<(), String> {
        if job.send.is_empty() {
            return Ok(());
        }
        let data = (*job.send).clone();
        let feed = if self.verbose {
            // With data waiting on stdin, s_server completes the handshake inside SSL_write
            // and prints no session details: feed it once it printed this connection's.
            let stdout = self.server.stdout().clone();
            self.server.feed_stdin_after(data, move || {
                let (_, ok) = stdout.wait_until(EXCHANGE_TIMEOUT, |d, eof| {
                    eof || count(d, b"CIPHER is ") > conn
                });
                ok
            })
        } else {
            self.server.feed_stdin(data)
        };
        self.feeds.push(feed);
        Ok(())
    }

    fn end_connection(
        &mut self,
        job: &PeerJob<'_>,
        conn: usize,
        our_port: u16,
        peer_port: u16,
    ) -> Result<(), String> {
        match job.close {
            PeerClose::Initiate => {
                for feed in &self.feeds {
                    fed(feed)?;
                }
                // s_server sends close_notify when its stdin ends, at once, unread data from
                // the socket or not: first let it print all we sent.
                let len = job.expect.len() * (conn + 1);
                let got = self.server.stdout().wait_len(len, EXCHANGE_TIMEOUT);
                if got.len() < len {
                    return Err(format!("s_server printed {} of {len} bytes", got.len()));
                }
                self.server.close_stdin();
            }
            PeerClose::Drop => {
                let len = job.expect.len() * (conn + 1);
                kill_when_drained(&mut self.server, len, our_port, peer_port)?;
            }
            PeerClose::Answer | PeerClose::Observe => {}
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>, job: &PeerJob<'_>) -> Result<Vec<String>, String> {
        let status = self.server.wait_with_timeout(STEP_TIMEOUT);
        if status.is_none() {
            self.server.kill();
        }
        let stdout = self.server.stdout_all();
        let stderr = self.server.stderr_all();
        let describe = || self.server.describe();
        if let Some(refusal) = job.refusal {
            let lower = stderr.to_lowercase();
            let line = lower
                .lines()
                .find(|l| refusal.words().iter().any(|w| l.contains(w)))
                .ok_or_else(|| {
                    format!(
                        "s_server does not report the refusal ({refusal:?})\n{}",
                        describe()
                    )
                })?;
            return Ok(vec![format!("s_server: {}", short(line))]);
        }
        if status.is_none() && job.close != PeerClose::Drop {
            return Err(format!("s_server did not exit\n{}", describe()));
        }
        let mut notes = Vec::new();
        if self.verbose {
            if !data_among_text(&stdout, &job.expect) {
                return Err(format!(
                    "s_server's output lacks the {} bytes we sent\n{}",
                    job.expect.len(),
                    describe()
                ));
            }
            let text = String::from_utf8_lossy(&stdout);
            let selected = text
                .lines()
                .find_map(|l| l.strip_prefix("ALPN protocols selected: "))
                .map(str::trim);
            if selected != job.agreed_alpn {
                return Err(format!(
                    "s_server selected ALPN {selected:?}, expected {:?}\n{}",
                    job.agreed_alpn,
                    describe()
                ));
            }
            if let Some(p) = selected {
                notes.push(format!("s_server: ALPN {p} selected"));
            }
            let reused = text.matches("Reused session-id").count();
            if job.resumption {
                if reused != job.connections - 1 {
                    return Err(format!("s_server reused {reused} sessions\n{}", describe()));
                }
                notes.push("s_server: \"Reused session-id\"".into());
            }
        } else {
            let want: Vec<u8> = job.expect.repeat(job.connections);
            crate::interop::compare("s_server's stdout", &stdout, &want)
                .map_err(|e| format!("{e}\n{}", describe()))?;
            notes.push(format!("s_server received {} bytes", want.len()));
        }
        if job.close != PeerClose::Drop {
            if stderr.contains("unexpected eof") {
                return Err(format!("s_server saw a truncation\n{}", describe()));
            }
            notes.push("s_server: no truncation reported".into());
        }
        Ok(notes)
    }
}

// ----- s_client (our server) -------------------------------------------------------------

struct SClientRun {
    procs: Vec<SClient>,
    feeds: Vec<Receiver<io::Result<()>>>,
    verbose: bool,
}

impl SClientRun {
    fn spawn(&mut self, job: &PeerJob<'_>, conn: usize) {
        let pki = job.pki;
        let mut opts = SClientOpts::new(job.our_port);
        opts.cafile = Some(pki.ca_file.clone());
        opts.tls = Some(tls(job.version()));
        opts.alpn = job.alpn.map(str::to_owned);
        opts.quiet = !self.verbose;
        if job.sni {
            opts.servername = Some("localhost".into());
            opts.extra_args = vec!["-verify_hostname".into(), "localhost".into()];
        } else {
            opts.extra_args = vec!["-verify_ip".into(), "127.0.0.1".into()];
        }
        if job.client_auth == PeerClientAuth::Required {
            opts.client_identity = Some(pki.client_files.clone());
        }
        if job.resumption {
            let sess = pki.path("s_client.session").to_string_lossy().into_owned();
            let flag = if conn == 0 { "-sess_out" } else { "-sess_in" };
            opts.extra_args.extend([flag.to_owned(), sess]);
        }
        let mut client = SClient::spawn(opts);
        if !job.send.is_empty() {
            self.feeds.push(client.feed_stdin((*job.send).clone()));
        }
        self.procs.push(client);
    }
}

impl PeerRun for SClientRun {
    fn port(&self) -> u16 {
        0
    }

    fn abort(&mut self) {
        for client in &mut self.procs {
            client.kill();
        }
    }

    fn begin_connection(&mut self, job: &PeerJob<'_>, conn: usize) -> Result<(), String> {
        if conn > 0 {
            let previous = self.procs.last_mut().expect("previous s_client");
            if previous.wait_with_timeout(STEP_TIMEOUT).is_none() {
                return Err(format!(
                    "s_client {} did not exit\n{}",
                    conn - 1,
                    previous.describe()
                ));
            }
            self.spawn(job, conn);
        }
        Ok(())
    }

    fn end_connection(
        &mut self,
        job: &PeerJob<'_>,
        conn: usize,
        our_port: u16,
        peer_port: u16,
    ) -> Result<(), String> {
        let client = &mut self.procs[conn];
        match job.close {
            PeerClose::Initiate => {
                fed(&self.feeds[conn])?;
                // Without -quiet, stdin EOF makes s_client send close_notify, at once: first
                // let it print all we sent.
                let expect = job.expect.clone();
                let (_, ok) = client.stdout().wait_until(EXCHANGE_TIMEOUT, |d, eof| {
                    eof || data_among_text(d, &expect)
                });
                if !ok {
                    return Err("s_client did not print what we sent".into());
                }
                client.close_stdin();
            }
            PeerClose::Drop => kill_when_drained(client, job.expect.len(), our_port, peer_port)?,
            PeerClose::Answer | PeerClose::Observe => {}
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>, job: &PeerJob<'_>) -> Result<Vec<String>, String> {
        let mut notes = Vec::new();
        for (conn, client) in self.procs.iter_mut().enumerate() {
            let status = client.wait_with_timeout(STEP_TIMEOUT);
            if status.is_none() {
                client.kill();
            }
            let stdout = client.stdout_all();
            let text = String::from_utf8_lossy(&stdout).into_owned();
            let stderr = client.stderr_all();
            if let Some(refusal) = job.refusal {
                let lower = stderr.to_lowercase();
                let line = lower
                    .lines()
                    .find(|l| refusal.words().iter().any(|w| l.contains(w)))
                    .ok_or_else(|| {
                        format!(
                            "s_client does not report the refusal ({refusal:?})\n{}",
                            client.describe()
                        )
                    })?;
                if status.is_none_or(|s| s.success()) {
                    return Err(format!("s_client did not fail\n{}", client.describe()));
                }
                notes.push(format!("s_client: {}", short(line)));
                continue;
            }
            if job.close != PeerClose::Drop && !status.is_some_and(|s| s.success()) {
                return Err(format!(
                    "s_client exited with {status:?}\n{}",
                    client.describe()
                ));
            }
            if self.verbose {
                if !data_among_text(&stdout, &job.expect) {
                    return Err(format!(
                        "s_client's output lacks the {} bytes we sent\n{}",
                        job.expect.len(),
                        client.describe()
                    ));
                }
                let alpn = text
                    .lines()
                    .find_map(|l| l.strip_prefix("ALPN protocol: "))
                    .map(str::trim);
                if alpn != job.agreed_alpn
                    || (alpn.is_none() && !text.contains("No ALPN negotiated"))
                {
                    return Err(format!(
                        "s_client: ALPN {alpn:?}, expected {:?}\n{}",
                        job.agreed_alpn,
                        client.describe()
                    ));
                }
                if conn == 0 {
                    notes.push(format!("s_client: ALPN {}", alpn.unwrap_or("none")));
                }
                let want = if job.resumption && conn > 0 {
                    "Reused, "
                } else {
                    "New, "
                };
                if !text.contains(&format!("{want}{}", job.version().openssl_name())) {
                    return Err(format!(
                        "s_client does not say {want:?}\n{}",
                        client.describe()
                    ));
                }
                if job.resumption && conn > 0 {
                    notes.push(format!(
                        "s_client: \"Reused, {}\"",
                        job.version().openssl_name()
                    ));
                }
            } else {
                crate::interop::compare("s_client's stdout", &stdout, &job.expect)
                    .map_err(|e| format!("{e}\n{}", client.describe()))?;
                if conn == 0 {
                    notes.push(format!("s_client received {} bytes", stdout.len()));
                }
            }
            if job.close != PeerClose::Drop {
                if stderr.contains("unexpected eof") {
                    return Err(format!("s_client saw a truncation\n{}", client.describe()));
                }
                if conn == 0 {
                    notes.push("s_client exit 0".into());
                }
            }
        }
        Ok(notes)
    }
}

/// The interesting part of an OpenSSL error line.
fn short(line: &str) -> String {
    let line = line.trim();
    match line.split(':').collect::<Vec<_>>().as_slice() {
        // e.g. "8042...:error:0A000460:ssl routines:ssl3_read_bytes:reason:file:line:..."
        [_, "error", _, _, _, reason, ..] => reason.to_string(),
        _ => line.chars().take(120).collect(),
    }
}
