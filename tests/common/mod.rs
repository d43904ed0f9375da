//! Shared utilities for the integration tests of `sslfile`.
//!
//! * [`certs`]: an in-memory test PKI (CA + leaf certificates) built with rcgen.
//! * [`openssl`]: child-process wrappers around `openssl s_server` / `s_client`;
//!   [`openssl_ca`]: the test CA's CRL and OCSP responses made by `openssl ca` / `ocsp`.
//! * [`faulty`]: a fault-injecting in-memory transport; [`outcome`]: the checks fault tests
//!   make on a transfer.
//! * [`process`]: peer programs as child processes, and `/proc` readers for their sockets.
//! * [`running`]: a backend run by a thread of its own.
//! * small helpers here: deterministic random data, free ports, bounded waits.
//!
//! Every test binary uses only a subset of these helpers, hence the
//! `dead_code` allowance.
#![allow(dead_code)]

pub mod certs;
pub mod faulty;
pub mod openssl;
pub mod openssl_ca;
pub mod outcome;
pub mod pair;
pub mod process;
pub mod relay;
pub mod running;

#[allow(unused_imports)]
pub use certs::tempdir;

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// Serializes the tests that count process-wide things (live connections, open
/// descriptors): each takes this first.
pub fn process_wide() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Default bound for every wait in the tests.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// `len` pseudo-random bytes, fully determined by `seed` (xorshift64*).
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    // A zero state would stay zero forever; mix the seed first.
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    if state == 0 {
        state = 1;
    }
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let word = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, then
/// release it). Racy by nature; callers that spawn servers should retry.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Retry connecting to 127.0.0.1:`port` until it succeeds or `timeout`
/// elapses. Returns whether a connection succeeded. Note that the probe
/// connection is seen by the server (it counts against `s_server -naccept`).
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// `listener.accept()` bounded by `timeout`. The returned stream is blocking,
/// with read and write timeouts of [`TIMEOUT`].
pub fn accept_timeout(listener: &TcpListener, timeout: Duration) -> io::Result<TcpStream> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + timeout;
    let result = loop {
        match listener.accept() {
            Ok((stream, _)) => break Ok(stream),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    break Err(io::Error::new(io::ErrorKind::TimedOut, "accept timed out"));
                }
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => break Err(e),
        }
    };
    listener.set_nonblocking(false)?;
    let stream = result?;
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    Ok(stream)
}

/// Connect to 127.0.0.1:`port` with read and write timeouts of [`TIMEOUT`].
pub fn connect_local(port: u16) -> io::Result<TcpStream> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    Ok(stream)
}

/// The number of cases a property test runs: `default`, or `SSLFILE_PROPTEST_CASES` if set
/// (a quick local run, or a long one).
/// Where a property test's failing cases are saved and replayed from: `file` beside the
/// test's source in `tests/it/`. Proptest's default looks the source up relative to the
/// working directory and, not finding it there, used another file: the checked-in
/// regressions were never replayed.
pub fn proptest_regressions(
    file: &'static str,
) -> Option<Box<dyn proptest::test_runner::FailurePersistence>> {
    Some(Box::new(
        proptest::test_runner::FileFailurePersistence::Direct(file),
    ))
}

pub fn proptest_cases(default: u32) -> u32 {
    std::env::var("SSLFILE_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
