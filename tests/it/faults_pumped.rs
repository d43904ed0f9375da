//! Property tests over the fault-injecting in-memory transport, pumped by one thread
//! (quinn's `Pair` driven to idle, with a bound): a client and a server exchange random
//! amounts of data (up to 1 MiB each way, full duplex) in nonblocking and callback mode,
//! switching between the two at random points, while the transport injects `WouldBlock`,
//! `Interrupted` and short reads and writes, and sometimes cuts or resets a direction.
//!
//! Every case asserts that no byte is lost, duplicated or reordered; that a clean end of
//! stream comes only after all data; and that every error is one a fault explains.

use crate::common;

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use proptest::prelude::*;

use common::faulty::{Cut, CutHow, CutPoint, Faulty, PairConfig, Rates};
use common::outcome::{check_side, Outcome};
use common::pair::Setup;
use common::random_bytes;
use sslfile::{Backend, Callbacks, SslFile, TlsVersion};

type File = SslFile<Faulty>;

/// The test PKI's contexts, and a client context limited to TLS 1.2.
struct Contexts {
    setup: Setup,
    client_tls12: sslfile::Context,
}

impl Contexts {
    fn client_ctx(&self, tls12: bool) -> &sslfile::Context {
        if tls12 {
            &self.client_tls12
        } else {
            &self.setup.client_ctx
        }
    }
}

impl std::ops::Deref for Contexts {
    type Target = Setup;
    fn deref(&self) -> &Setup {
        &self.setup
    }
}

fn setup() -> &'static Contexts {
    static SETUP: OnceLock<Contexts> = OnceLock::new();
    SETUP.get_or_init(|| {
        let setup = Setup::new();
        let client_tls12 = sslfile::Context::builder()
            .trust_pem(setup.pki.ca_pem.as_bytes())
            .unwrap()
            .versions(TlsVersion::Tls1_2, TlsVersion::Tls1_2)
            .unwrap()
            .build()
            .unwrap();
        Contexts {
            setup,
            client_tls12,
        }
    })
}

/// How a side is driven at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drive {
    /// Nonblocking calls from the pump.
    Nonblocking,
    /// Read, write and close callbacks on the backend, which the pump runs.
    Callback,
}

/// How the closing side ends the connection once everything was exchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseHow {
    Close,
    CloseClean,
    ShutdownWrite,
    Drop,
}

#[derive(Debug, Clone)]
struct SidePlan {
    send: usize,
    chunk: usize,
    start: Drive,
    /// (progress in bytes read + written, new drive), in order.
    switches: Vec<(usize, Drive)>,
}

#[derive(Debug, Clone)]
struct Case {
    client: SidePlan,
    server: SidePlan,
    tls12: bool,
    seed: u64,
    rates: Rates,
    capacity: usize,
    /// Cut of the client-to-server direction (false) or the other (true).
    cut: Option<(bool, Cut)>,
    client_closes: bool,
    close_how: CloseHow,
}

/// Transfer sizes: mostly small, some up to 1 MiB.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => 0usize..4096,
        3 => 0usize..100_000,
        1 => 0usize..=(1 << 20),
    ]
}

fn drive() -> impl Strategy<Value = Drive> {
    prop_oneof![Just(Drive::Nonblocking), Just(Drive::Callback)]
}

fn side_plan() -> impl Strategy<Value = SidePlan> {
    (
        size(),
        prop_oneof![1usize..100, 100usize..20_000, 20_000usize..200_000],
        drive(),
        proptest::collection::vec((0usize..400_000, drive()), 0..4),
    )
        .prop_map(|(send, chunk, start, mut switches)| {
            switches.sort_by_key(|s| s.0);
            SidePlan {
                send,
                chunk,
                start,
                switches,
            }
        })
}

fn rates() -> impl Strategy<Value = Rates> {
    prop_oneof![
        1 => Just(Rates::NONE),
        4 => (0u8..30, 0u8..15, 0u8..40, 1usize..3000).prop_map(|(wb, intr, short, max)| Rates {
            would_block: wb,
            interrupted: intr,
            short,
            max_short: max,
            spurious_wake: 0,
        }),
    ]
}

fn cut() -> impl Strategy<Value = Option<(bool, Cut)>> {
    let how = prop_oneof![Just(CutHow::Eof), Just(CutHow::Reset)];
    let at = prop_oneof![
        (0u64..40).prop_map(CutPoint::Records),
        (0u64..1_200_000).prop_map(CutPoint::Byte),
    ];
    prop_oneof![
        3 => Just(None),
        1 => (any::<bool>(), at, how).prop_map(|(dir, at, how)| Some((dir, Cut { at, how }))),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        side_plan(),
        side_plan(),
        any::<bool>(),
        any::<u64>(),
        rates(),
        prop_oneof![1usize..64, 64usize..20_000, 20_000usize..300_000],
        cut(),
        any::<bool>(),
        prop_oneof![
            Just(CloseHow::Close),
            Just(CloseHow::CloseClean),
            Just(CloseHow::ShutdownWrite),
            Just(CloseHow::Drop)
        ],
    )
        .prop_map(
            |(
                mut client,
                mut server,
                tls12,
                seed,
                rates,
                capacity,
                cut,
                client_closes,
                close_how,
            )| {
                // Keep every case quick: tiny buffers and tiny writes only with small
                // transfers (they would take millions of rounds for a MiB).
                for side in [&mut client, &mut server] {
                    if capacity < 64 {
                        side.send = side.send.min(8 * 1024);
                    }
                    side.chunk = side.chunk.max(side.send / 1000);
                }
                Case {
                    client,
                    server,
                    tls12,
                    seed,
                    rates,
                    capacity,
                    cut,
                    client_closes,
                    close_how,
                }
            },
        )
}

/// Where a side stands; shared with its callbacks.
#[derive(Debug)]
struct Progress {
    out: Arc<Vec<u8>>,
    sent: usize,
    chunk: usize,
    got: Vec<u8>,
    expect: usize,
    outcome: Outcome,
    /// The closer has started closing (what remains: finishing it).
    closing: bool,
    /// Everything was sent and flushed (flushing later could only meet the peer's close).
    flushed: bool,
}

impl Progress {
    /// Writes the next chunk without blocking; false if the side failed.
    fn write_some(&mut self, file: &File) {
        if self.sent >= self.out.len() || self.outcome.is_done() {
            return;
        }
        let end = (self.sent + self.chunk).min(self.out.len());
        match (&*file).write(&self.out[self.sent..end]) {
            Ok(n) => self.sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => self.fail(file, &e),
        }
    }

    fn fail(&mut self, file: &File, e: &io::Error) {
        if !self.outcome.is_done() {
            self.outcome = Outcome::failed(e);
            let _ = file.close();
        }
    }

    fn exchanged(&self) -> bool {
        self.sent == self.out.len() && self.got.len() >= self.expect
    }
}

struct Side {
    file: Option<File>,
    drive: Drive,
    switches: std::collections::VecDeque<(usize, Drive)>,
    progress: Arc<Mutex<Progress>>,
    closer: bool,
}

impl Side {
    fn new(file: File, plan: &SidePlan, out: Vec<u8>, expect: usize) -> Side {
        let side = Side {
            drive: plan.start,
            file: Some(file),
            switches: plan.switches.iter().copied().collect(),
            progress: Arc::new(Mutex::new(Progress {
                out: Arc::new(out),
                sent: 0,
                chunk: plan.chunk.max(1),
                got: Vec::new(),
                expect,
                outcome: Outcome::Running,
                closing: false,
                flushed: false,
            })),
            closer: false,
        };
        side.set_drive(plan.start);
        side
    }

    fn set_drive(&self, drive: Drive) {
        let Some(file) = &self.file else { return };
        match drive {
            Drive::Nonblocking => file.set_nonblocking(),
            Drive::Callback => {
                let (p_read, p_write, p_close) = (
                    self.progress.clone(),
                    self.progress.clone(),
                    self.progress.clone(),
                );
                file.set_callbacks(Callbacks {
                    read: Some(Arc::new(move |_f: &File, data: &[u8]| {
                        p_read.lock().unwrap().got.extend_from_slice(data);
                    })),
                    write: Some(Arc::new(move |f: &File| {
                        let mut p = p_write.lock().unwrap();
                        p.write_some(f);
                        if p.sent == p.out.len() {
                            drop(p);
                            f.set_write_callback(None);
                        }
                    })),
                    close: Some(Arc::new(move |f: &File, e: Option<&sslfile::Error>| {
                        let mut p = p_close.lock().unwrap();
                        match e {
                            None if !p.outcome.is_done() => p.outcome = Outcome::CleanEof,
                            None => {}
                            Some(e) => p.fail(f, &e.clone().into()),
                        }
                    })),
                    accept: None,
                    alert: None,
                });
            }
        }
    }

    /// One round of the pump for this side: returns true if anything changed.
    fn tick(&mut self, close_how: CloseHow) -> bool {
        let Some(file) = self.file.as_ref() else {
            return false;
        };
        let before = self.snapshot();
        // Mode switches at their progress points.
        let progress = {
            let p = self.progress.lock().unwrap();
            p.sent + p.got.len()
        };
        while self.switches.front().is_some_and(|s| s.0 <= progress) {
            let (_, drive) = self.switches.pop_front().unwrap();
            if drive != self.drive {
                self.drive = drive;
                self.set_drive(drive);
            }
        }
        let mut p = self.progress.lock().unwrap();
        if p.outcome.is_done() {
            drop(p);
            self.finish();
            return true;
        }
        if self.drive == Drive::Nonblocking {
            p.write_some(file);
            if p.sent == p.out.len() && !p.flushed && !p.outcome.is_done() {
                match file.flush() {
                    Ok(()) => p.flushed = true,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => p.fail(file, &e.into()),
                }
            }
            let mut buf = vec![0u8; 32 * 1024];
            if !p.outcome.is_done() {
                match (&*file).read(&mut buf) {
                    Ok(0) => p.outcome = Outcome::CleanEof,
                    Ok(n) => p.got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => p.fail(file, &e),
                }
            }
        }
        // The closer ends the connection once everything was exchanged.
        if self.closer && p.exchanged() && !p.outcome.is_done() {
            drop(p);
            self.close(close_how);
            p = self.progress.lock().unwrap();
        }
        // The other side closes once it has seen the end.
        if p.outcome == Outcome::CleanEof && !self.closer {
            drop(p);
            self.finish();
            return true;
        }
        drop(p);
        self.snapshot() != before
    }

    fn snapshot(&self) -> (usize, usize, Outcome, bool) {
        let p = self.progress.lock().unwrap();
        (p.sent, p.got.len(), p.outcome.clone(), self.file.is_some())
    }

    fn close(&mut self, how: CloseHow) {
        let file = self.file.as_ref().expect("open");
        let mut p = self.progress.lock().unwrap();
        // Everything written goes out first: a close does not wait for a handshake that
        // still holds written data back, and dropping is best effort.
        if !p.flushed {
            match file.flush() {
                Ok(()) => p.flushed = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => return p.fail(file, &e.into()),
            }
        }
        match how {
            CloseHow::Close => match file.close() {
                Ok(()) => p.outcome = Outcome::Closed,
                Err(e) => p.fail(file, &e.into()),
            },
            CloseHow::CloseClean => {
                // The first call starts the clean close, each later one drives it on.
                p.closing = true;
                if let Err(e) = file.close_clean() {
                    p.fail(file, &e.into());
                    return;
                }
                match file.is_open() {
                    sslfile::OpenState::Closing => {}
                    _ => {
                        drop(p);
                        let file = self.file.take().expect("open");
                        file.set_nonblocking();
                        let result = file.into_stream();
                        let mut p = self.progress.lock().unwrap();
                        p.outcome = match result {
                            Ok(_transport) => Outcome::Closed,
                            Err(e) => Outcome::failed(&e.into()),
                        };
                    }
                }
            }
            CloseHow::ShutdownWrite => {
                if !p.closing {
                    p.closing = true;
                    if let Err(e) = file.shutdown(std::net::Shutdown::Write) {
                        p.fail(file, &e.into());
                    }
                }
                // The peer's answering close_notify ends our reading: CleanEof, then done.
            }
            CloseHow::Drop => {
                drop(p);
                let file = self.file.take().expect("open");
                file.set_nonblocking();
                drop(file);
                self.progress.lock().unwrap().outcome = Outcome::Closed;
            }
        }
    }

    /// Releases the file once the side is done.
    fn finish(&mut self) {
        if let Some(file) = self.file.take() {
            file.set_nonblocking();
            let _ = file.close();
        }
    }
}

fn run_case(case: &Case) -> Result<(), TestCaseError> {
    let setup = setup();
    let mut config = PairConfig::random(case.seed, case.rates, case.capacity);
    match case.cut {
        Some((false, cut)) => config.cut01 = Some(cut),
        Some((true, cut)) => config.cut10 = Some(cut),
        None => {}
    }
    let (c_end, s_end) = Faulty::pair_with(config);
    let probe = c_end.probe();
    let backend = Backend::new().unwrap();
    let client = SslFile::new(c_end, setup.client_ctx(case.tls12));
    client.set_backend(&backend);
    let client_start = client.connect("localhost");
    let server = SslFile::new(s_end, &setup.server_ctx);
    server.set_backend(&backend);
    let server_start = server.accept();

    let c_out = random_bytes(case.client.send, case.seed);
    let s_out = random_bytes(case.server.send, !case.seed);
    let mut sides = [
        Side::new(client, &case.client, c_out.clone(), s_out.len()),
        Side::new(server, &case.server, s_out.clone(), c_out.len()),
    ];
    // A nonblocking start may already meet a cut or reset (one step of I/O).
    for (side, start) in sides.iter_mut().zip([client_start, server_start]) {
        if let Err(e) = start {
            side.progress.lock().unwrap().outcome = Outcome::failed(&e.into());
        }
    }
    let closer = usize::from(!case.client_closes);
    sides[closer].closer = true;

    if std::env::var_os("SSLFILE_TRACE").is_some() {
        eprintln!("start: {case:?}");
    }
    let started = std::time::Instant::now();
    let mut idle = 0u32;
    let mut rounds = 0u64;
    while !(sides[0].file.is_none() && sides[1].file.is_none()) {
        let mut progress = false;
        let snapshots: Vec<_> = sides.iter().map(Side::snapshot).collect();
        let traffic = probe.traffic();
        for side in sides.iter_mut() {
            progress |= side.tick(case.close_how);
        }
        // Callbacks that ran count as progress only through what they changed: a
        // level-triggered watch may run every round.
        backend.run_once(Some(Duration::ZERO)).unwrap();
        progress |= sides
            .iter()
            .map(Side::snapshot)
            .ne(snapshots.iter().cloned());
        progress |= probe.traffic() != traffic;
        rounds += 1;
        prop_assert!(
            rounds < 2_000_000,
            "no end after {rounds} rounds: client {:?}, server {:?}",
            sides[0].snapshot(),
            sides[1].snapshot()
        );
        if progress {
            idle = 0;
        } else {
            idle += 1;
            if idle > 20_000 {
                // Something may be finishing in the background (a nonblocking close's
                // flush thread): give it a moment before calling it a hang.
                std::thread::sleep(Duration::from_micros(200));
            }
            if idle == 24_999 && std::env::var_os("SSLFILE_TRACE").is_some() {
                eprintln!("STALL: link {:#?}", probe.debug());
                eprintln!(
                    "client {:?} hs {:?}",
                    sides[0].file,
                    sides[0].file.as_ref().map(|f| f.is_handshaking())
                );
                eprintln!(
                    "server {:?} hs {:?}",
                    sides[1].file,
                    sides[1].file.as_ref().map(|f| f.is_handshaking())
                );
                eprintln!(
                    "backend {:?} callouts {}",
                    backend,
                    backend.call_out_count()
                );
            }
            prop_assert!(
                idle < 25_000,
                "stalled after {rounds} rounds: client {:?}, server {:?}",
                sides[0].snapshot(),
                sides[1].snapshot()
            );
        }
    }
    let faulted = probe.faulted();
    if std::env::var_os("SSLFILE_TRACE").is_some() {
        eprintln!(
            "case: {} rounds, {:?} ms, sizes {}/{}, faulted {faulted}, {:?} {:?}",
            rounds,
            started.elapsed().as_millis(),
            case.client.send,
            case.server.send,
            sides[0].snapshot(),
            sides[1].snapshot()
        );
    }
    let [c, s] = &sides;
    let (cp, sp) = (c.progress.lock().unwrap(), s.progress.lock().unwrap());
    // A cut or reset that never took effect (it lay beyond the end of its direction)
    // must leave the transfer intact: `faulted` is false then.
    let lossy_end = case.close_how == CloseHow::Drop;
    check_side(
        "client",
        &cp.got,
        &s_out,
        &cp.outcome,
        &sp.outcome,
        faulted,
        lossy_end,
    );
    check_side(
        "server",
        &sp.got,
        &c_out,
        &sp.outcome,
        &cp.outcome,
        faulted,
        lossy_end,
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: common::proptest_cases(6000), max_shrink_iters: 2000, failure_persistence: common::proptest_regressions(concat!(env!("CARGO_MANIFEST_DIR"), "/it/faults_pumped.proptest-regressions")), ..ProptestConfig::default() })]

    #[test]
    fn pumped_transfers_arrive_intact_or_fail_cleanly(case in case()) {
        run_case(&case)?;
    }
}
