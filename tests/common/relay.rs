//! A man in the middle for tests: relays bytes between two socket pairs and, on request,
//! corrupts or injects bytes in the client-to-server direction.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use sslfile::File;

/// The relay's controls.
#[derive(Default)]
pub struct Tamper {
    /// Flip one byte in the middle of the next chunk going client → server.
    pub corrupt_next: AtomicBool,
    /// Bytes to send to the server before the next chunk going client → server.
    pub inject: Mutex<Option<Vec<u8>>>,
}

/// Starts a relay; returns (client end, server end, controls). The relay threads stop when
/// either side closes.
pub fn relay() -> (File, File, Arc<Tamper>) {
    let (client, relay_c) = UnixStream::pair().unwrap();
    let (relay_s, server) = UnixStream::pair().unwrap();
    let tamper = Arc::new(Tamper::default());
    for s in [&relay_c, &relay_s] {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    }
    spawn_copy(
        relay_c.try_clone().unwrap(),
        relay_s.try_clone().unwrap(),
        Some(tamper.clone()),
    );
    spawn_copy(relay_s, relay_c, None);
    (
        File::try_from(client).unwrap(),
        File::try_from(server).unwrap(),
        tamper,
    )
}

fn spawn_copy(mut from: UnixStream, mut to: UnixStream, tamper: Option<Arc<Tamper>>) {
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if let Some(t) = &tamper {
                if let Some(bytes) = t.inject.lock().unwrap().take() {
                    if to.write_all(&bytes).is_err() {
                        break;
                    }
                }
                if t.corrupt_next.swap(false, Ordering::SeqCst) {
                    buf[n / 2] ^= 0x55;
                }
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}
