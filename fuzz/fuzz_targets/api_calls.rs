//! Arbitrary sequences of API calls on a client and a server (read, write, flush, close,
//! close_clean, shutdown, mode changes, callbacks, into_stream, drop, key updates...) over
//! the fault-injecting transport, whose faults and cuts the input chooses too.
//!
//! Checks: no panic, no hang (blocking calls that would wait time out at once), and every
//! byte a side reads — by `read` or by its read callback — is a prefix of what the other
//! side's writes accepted: nothing lost in the middle, duplicated or reordered.

#![no_main]

#[path = "../common/mod.rs"]
mod common;

use std::io::{IoSlice, Write};
use std::net::Shutdown;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

use common::faulty::{Cut, CutHow, CutPoint, Fault, Faults, Faulty, PairConfig};
use common::{contexts, try_read};
use sslfile::{Backend, Callbacks, SslFile};

type File = SslFile<Faulty>;

#[derive(Arbitrary, Debug)]
struct Input {
    tls12: bool,
    capacity: u16,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Client,
    Server,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Start(Who),
    Read(Who, u16),
    Write(Who, u16),
    WriteVectored(Who, u16, u16),
    Flush(Who),
    Close(Who),
    CloseClean(Who),
    Shutdown(Who, u8),
    SetBlocking(Who),
    SetBlockingKeepCallbacks(Who),
    SetNonblocking(Who),
    SetNonblockingKeepCallbacks(Who),
    SetCallbacks(Who, u8),
    SetWriteCallback(Who, bool),
    RunBackend(u8),
    SetBackend(Who),
    IntoStream(Who),
    Drop(Who),
    Renegotiate(Who),
    IsOpen(Who),
    Linger0(Who),
    Errno(Who),
    Faults(Who, [u8; 4]),
    Cut(Who, bool),
}

/// The bytes one side sends: a fixed pattern, so a reader can check any byte it gets.
fn pattern_byte(offset: usize, salt: u8) -> u8 {
    (offset as u8)
        .wrapping_mul(13)
        .wrapping_add((offset >> 8) as u8)
        ^ salt
}

/// One direction's bookkeeping: how much the writer's calls accepted, what the reader got.
#[derive(Default)]
struct Flow {
    sent: usize,
    got: usize,
}

impl Flow {
    fn data(&self, len: usize, salt: u8) -> Vec<u8> {
        (self.sent..self.sent + len)
            .map(|i| pattern_byte(i, salt))
            .collect()
    }

    fn receive(&mut self, bytes: &[u8], salt: u8, what: &str) {
        for (i, b) in bytes.iter().enumerate() {
            assert_eq!(
                *b,
                pattern_byte(self.got + i, salt),
                "{what}: byte {} differs from what was sent",
                self.got + i
            );
        }
        self.got += bytes.len();
        assert!(
            self.got <= self.sent,
            "{what}: received {} bytes, only {} were sent",
            self.got,
            self.sent
        );
    }
}

/// Both directions: `flows[0]` client → server, `flows[1]` server → client.
type Flows = Arc<Mutex<[Flow; 2]>>;

fn index(who: Who) -> usize {
    match who {
        Who::Client => 0,
        Who::Server => 1,
    }
}

fn salt(writer: usize) -> u8 {
    [0x3c, 0xc3][writer]
}

fn write_from(file: &File, flows: &Flows, me: usize, len: usize) {
    let data = flows.lock().unwrap()[me].data(len, salt(me));
    if let Ok(n) = (&*file).write(&data) {
        flows.lock().unwrap()[me].sent += n;
    }
}

fn callbacks(flows: &Flows, me: usize, mask: u8) -> Callbacks<Faulty> {
    let mut cbs = Callbacks::default();
    if mask & 1 != 0 {
        let flows = flows.clone();
        cbs.read = Some(Arc::new(move |_f: &File, data: &[u8]| {
            flows.lock().unwrap()[1 - me].receive(data, salt(1 - me), "read callback");
        }));
    }
    if mask & 2 != 0 {
        let flows = flows.clone();
        cbs.write = Some(Arc::new(move |f: &File| {
            write_from(f, &flows, me, 1000);
            if flows.lock().unwrap()[me].sent > 200_000 {
                f.set_write_callback(None);
            }
        }));
    }
    if mask & 4 != 0 {
        cbs.close = Some(Arc::new(|f: &File, _e: Option<&sslfile::Error>| {
            let _ = f.is_open();
        }));
    }
    if mask & 8 != 0 {
        cbs.accept = Some(Arc::new(|f: &File| {
            let _ = f.protocol_version();
        }));
    }
    if mask & 16 != 0 {
        cbs.alert = Some(Arc::new(|_f: &File, _e: &sslfile::Error, _b: &[u8]| {}));
    }
    cbs
}

fn fault(byte: u8) -> Fault {
    match byte % 4 {
        0 => Fault::Pass,
        1 => Fault::WouldBlock,
        2 => Fault::Interrupted,
        _ => Fault::Short(usize::from(byte / 4) + 1),
    }
}

fuzz_target!(|input: Input| {
    let ctx = contexts();
    common::deterministic::reset();
    let (c, s) = Faulty::pair_with(PairConfig {
        capacity: usize::from(input.capacity).max(1),
        ..PairConfig::default()
    });
    let probes = [c.probe(), s.probe()];
    // Made once: a case leaves them empty (no watch, no call_out: see the end).
    static BACKENDS: std::sync::OnceLock<[Backend; 2]> = std::sync::OnceLock::new();
    let backends = BACKENDS.get_or_init(|| [Backend::new().unwrap(), Backend::new().unwrap()]);
    let mut files: [Option<File>; 2] = [
        Some(SslFile::new(c, ctx.client(input.tls12))),
        Some(SslFile::new(s, &ctx.server)),
    ];
    for (file, backend) in files.iter().flatten().zip(backends) {
        file.set_backend(backend);
        // Blocking calls that would wait time out at once: one thread plays both sides.
        file.set_timeout(Some(Duration::ZERO));
    }
    let flows: Flows = Arc::default();
    let mut buf = vec![0u8; 70_000];
    for op in input.ops.into_iter().take(200) {
        let who = match &op {
            Op::RunBackend(_) => Who::Client,
            Op::Start(w)
            | Op::Read(w, _)
            | Op::Write(w, _)
            | Op::WriteVectored(w, _, _)
            | Op::Flush(w)
            | Op::Close(w)
            | Op::CloseClean(w)
            | Op::Shutdown(w, _)
            | Op::SetBlocking(w)
            | Op::SetBlockingKeepCallbacks(w)
            | Op::SetNonblocking(w)
            | Op::SetNonblockingKeepCallbacks(w)
            | Op::SetCallbacks(w, _)
            | Op::SetWriteCallback(w, _)
            | Op::SetBackend(w)
            | Op::IntoStream(w)
            | Op::Drop(w)
            | Op::Renegotiate(w)
            | Op::IsOpen(w)
            | Op::Linger0(w)
            | Op::Errno(w)
            | Op::Faults(w, _)
            | Op::Cut(w, _) => *w,
        };
        let me = index(who);
        if let Op::RunBackend(n) = op {
            for _ in 0..(n % 8) + 1 {
                for backend in backends {
                    let _ = backend.run_once(Some(Duration::ZERO));
                }
            }
            continue;
        }
        let Some(file) = files[me].as_ref() else {
            continue;
        };
        match op {
            Op::RunBackend(_) => unreachable!(),
            Op::Start(Who::Client) => {
                let _ = file.connect("localhost");
            }
            Op::Start(Who::Server) => {
                let _ = file.accept();
            }
            Op::Read(_, len) => {
                let len = usize::from(len).min(buf.len());
                let result = if file.is_blocking() {
                    use std::io::Read;
                    (&*file).read(&mut buf[..len]).ok()
                } else {
                    try_read(file, &mut buf[..len]).and_then(Result::ok)
                };
                if let Some(n) = result {
                    flows.lock().unwrap()[1 - me].receive(&buf[..n], salt(1 - me), "read");
                }
            }
            Op::Write(_, len) => write_from(file, &flows, me, usize::from(len)),
            Op::WriteVectored(_, a, b) => {
                let (a, b) = (usize::from(a), usize::from(b));
                let data = flows.lock().unwrap()[me].data(a + b, salt(me));
                let slices = [IoSlice::new(&data[..a]), IoSlice::new(&data[a..])];
                if let Ok(n) = (&*file).write_vectored(&slices) {
                    flows.lock().unwrap()[me].sent += n;
                }
            }
            Op::Flush(_) => {
                let _ = file.flush();
            }
            Op::Close(_) => {
                let _ = file.close();
            }
            Op::CloseClean(_) => {
                let _ = file.close_clean();
            }
            Op::Shutdown(_, how) => {
                let how = [Shutdown::Read, Shutdown::Write, Shutdown::Both][usize::from(how % 3)];
                let _ = file.shutdown(how);
            }
            Op::SetBlocking(_) => file.set_blocking(),
            Op::SetBlockingKeepCallbacks(_) => file.set_blocking_keep_callbacks(),
            Op::SetNonblocking(_) => file.set_nonblocking(),
            Op::SetNonblockingKeepCallbacks(_) => file.set_nonblocking_keep_callbacks(),
            Op::SetCallbacks(_, mask) => file.set_callbacks(callbacks(&flows, me, mask)),
            Op::SetWriteCallback(_, on) => {
                let cb = on.then(|| callbacks(&flows, me, 2).write).flatten();
                file.set_write_callback(cb);
            }
            Op::SetBackend(_) => file.set_backend(&backends[1 - me]),
            Op::IntoStream(_) => {
                let file = files[me].take().unwrap();
                let _ = file.into_stream();
            }
            Op::Drop(_) => files[me] = None,
            Op::Renegotiate(_) => {
                let _ = file.renegotiate();
            }
            Op::IsOpen(_) => {
                let _ = file.is_open();
            }
            Op::Linger0(_) => {
                let _ = file.linger(Some(Duration::ZERO));
            }
            Op::Errno(_) => {
                let _ = file.errno().map(|e| e.raw_os_error());
            }
            Op::Faults(_, bytes) => file.stream().unwrap().set_faults([
                Faults::script(bytes[..2].iter().map(|b| fault(*b))),
                Faults::script(bytes[2..].iter().map(|b| fault(*b))),
                Faults::None,
            ]),
            Op::Cut(_, reset) => file.stream().unwrap().cut_written(Cut {
                at: CutPoint::Byte(file.stream().unwrap().bytes_written()),
                how: if reset { CutHow::Reset } else { CutHow::Eof },
            }),
        }
    }
    // Wind down as a program would: drop the files and run the backends until nothing is
    // left for them (a file with output to deliver stays alive on its backend until it is
    // delivered or fails). Two files that both wait for the other to read never finish:
    // then the transport dies, as a real connection eventually does, and they go.
    for file in files.iter().flatten() {
        file.set_nonblocking();
    }
    drop(files);
    // Rounds of both backends until nothing is left, or until two rounds change nothing.
    let settle = |backends: &[Backend; 2]| {
        let left = || {
            let call_outs: usize = backends.iter().map(|b| b.call_out_count()).sum();
            (sslfile::live_connections(), call_outs)
        };
        let mut before = left();
        let mut still = 0;
        for _ in 0..64 {
            for backend in backends {
                let _ = backend.run_once(Some(Duration::ZERO));
            }
            let now = left();
            if now == (0, 0) {
                return true;
            }
            still = if now == before { still + 1 } else { 0 };
            if still == 2 {
                return false;
            }
            before = now;
        }
        false
    };
    if !settle(backends) {
        probes[0].close_end();
        probes[1].close_end();
        // Background closes (nonblocking close with output left) end within the timeout.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !settle(backends) {
            assert!(
                std::time::Instant::now() < deadline,
                "connections left alive: {}",
                sslfile::live_connections()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
});
