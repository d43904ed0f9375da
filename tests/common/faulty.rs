//! A scripted, fault-injecting, in-memory transport (in the spirit of rustls's
//! `TestNonBlockIo` and quinn's test `Pair`).
//!
//! [`Faulty::pair`] gives two connected ends: what one writes, the other reads, through a
//! bounded buffer per direction. Each end's `read_nb`/`write_nb` calls can be made to fail
//! or fall short, from a script or from a seeded random source ([`Faults`]):
//! `WouldBlock` although progress was possible, `Interrupted`, short reads and writes.
//! Each direction can be cut at a chosen byte offset or after a chosen number of TLS records
//! ([`Cut`]): the reader then sees end of stream (the peer, or a man in the middle, hung up
//! without `close_notify`) or a connection reset.
//!
//! Closing an end follows the kernel's close semantics for TCP, pessimistically:
//!
//! * An end closed with nothing unread (everything the peer wrote was read) sends FIN: the
//!   peer reads all the data, then end of stream.
//! * An end closed with unread input (bytes the peer wrote that it had not read), or after
//!   `set_linger(Some(Duration::ZERO))` (an abortive close), **resets** the connection: what
//!   was still on its way from the closing end to the peer is discarded, and the peer's next
//!   call fails with `ConnectionReset` (ECONNRESET) at once; after that its reads end the
//!   stream and its writes fail with `BrokenPipe` (EPIPE), as on Linux. (A kernel may still
//!   hand over what had reached the peer's receive buffer before the reset; this model
//!   loses all of it, so a test over it holds on every kernel.)
//! * A write to an end that was already closed is accepted (the bytes vanish), and resets
//!   the connection for the writer, as the closed socket's kernel answers it with a reset:
//!   what the closed end had sent and the writer had not read yet is lost, and the writer's
//!   next call fails with `ConnectionReset`.
//!
//! So a program that closes its transport while the peer still sends (a TLS 1.3 client that
//! uploads and closes without reading the server's session tickets) loses the end of its
//! upload here as it would over TCP; [`Probe::reset_by_close`] tells such a reset from an
//! injected one.
//!
//! Every mode works over it: `wait` blocks on a condition variable (blocking mode), and
//! `watch` emulates a level-triggered descriptor watch with call_outs on the backend
//! (callback mode). A single-threaded test pumps two nonblocking ends by calling them in
//! turn; threads in blocking mode simply block.
//!
//! This file is shared by the integration tests (`mod common`) and the fuzz targets
//! (`#[path]` include), so it uses nothing but `std` and `sslfile`'s public API.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sslfile::{Addr, Backend, Interest, ReadyFn, Stream, Watchable};

/// What one `read_nb`/`write_nb` call suffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing: the call does its normal work.
    Pass,
    /// `Err(WouldBlock)` even if the call could make progress.
    WouldBlock,
    /// `Err(Interrupted)` (EINTR).
    Interrupted,
    /// The call moves at most this many bytes (a short read or write; at least one).
    Short(usize),
}

/// How often the random fault source injects each fault, in percent of calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    /// `WouldBlock` although progress was possible.
    pub would_block: u8,
    /// `Interrupted`.
    pub interrupted: u8,
    /// A short read or write of 1..=`max_short` bytes.
    pub short: u8,
    /// The longest short read or write.
    pub max_short: usize,
    /// `wait` returns at once although nothing is ready (a spurious wake-up).
    pub spurious_wake: u8,
}

impl Rates {
    /// No faults.
    pub const NONE: Rates = Rates {
        would_block: 0,
        interrupted: 0,
        short: 0,
        max_short: 1,
        spurious_wake: 0,
    };
}

/// Where an end's faults come from.
#[derive(Debug, Clone)]
pub enum Faults {
    /// None.
    None,
    /// One entry per call, in order; `Pass` once the script is used up.
    Script(VecDeque<Fault>),
    /// Drawn from a seeded generator at the given rates.
    Random(Rng, Rates),
}

impl Faults {
    /// A script of faults, one per call.
    pub fn script(faults: impl IntoIterator<Item = Fault>) -> Faults {
        Faults::Script(faults.into_iter().collect())
    }

    /// Random faults from `seed` at `rates`.
    pub fn random(seed: u64, rates: Rates) -> Faults {
        Faults::Random(Rng::new(seed), rates)
    }

    fn next(&mut self) -> Fault {
        match self {
            Faults::None => Fault::Pass,
            Faults::Script(script) => script.pop_front().unwrap_or(Fault::Pass),
            Faults::Random(rng, rates) => {
                let roll = rng.below(100) as u8;
                if roll < rates.would_block {
                    Fault::WouldBlock
                } else if roll < rates.would_block.saturating_add(rates.interrupted) {
                    Fault::Interrupted
                } else if roll
                    < rates
                        .would_block
                        .saturating_add(rates.interrupted)
                        .saturating_add(rates.short)
                {
                    Fault::Short(1 + rng.below(rates.max_short.max(1) as u64) as usize)
                } else {
                    Fault::Pass
                }
            }
        }
    }

    fn spurious_wake(&mut self) -> bool {
        match self {
            Faults::Random(rng, rates) => (rng.below(100) as u8) < rates.spurious_wake,
            _ => false,
        }
    }
}

/// A small deterministic generator (xorshift64*), so that a failing case replays exactly.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value, zero included).
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Where a direction is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutPoint {
    /// After this many bytes.
    Byte(u64),
    /// After this many complete TLS records (0: before the first byte).
    Records(u64),
}

/// What the reader sees at the cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutHow {
    /// End of stream, as if the writer closed its socket without `close_notify`. Later
    /// bytes from the writer vanish.
    Eof,
    /// A connection reset: both ends' next call fails with `ConnectionReset`, later reads
    /// end the stream and later writes fail with `BrokenPipe`. Unread data is lost.
    Reset,
}

/// A cut of one direction: the reader gets everything before `at`, then `how`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    /// Where.
    pub at: CutPoint,
    /// What the reader sees there.
    pub how: CutHow,
}

/// Counts of what was injected and what happened, per end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// `WouldBlock`s injected into calls that could have made progress.
    pub would_block: u64,
    /// `Interrupted`s injected.
    pub interrupted: u64,
    /// Short reads and writes injected.
    pub short: u64,
    /// Spurious returns from `wait`.
    pub spurious_wakes: u64,
    /// `read_nb` calls.
    pub reads: u64,
    /// `write_nb` calls.
    pub writes: u64,
    /// Readiness callbacks run on a backend.
    pub ready_callbacks: u64,
}

/// One direction: bytes written by one end, to be read by the other.
#[derive(Debug)]
struct Dir {
    buf: VecDeque<u8>,
    capacity: usize,
    /// Bytes accepted from the writer (including any discarded after a cut).
    written: u64,
    /// Bytes handed to the reader.
    delivered: u64,
    /// The writer shut down or closed: end of stream after `buf`.
    shut: bool,
    framing: Framing,
    /// Where each complete record ends, as offsets in the direction's byte stream.
    record_ends: Vec<u64>,
    cut: Option<Cut>,
    cut_fired: bool,
}

impl Dir {
    fn new(capacity: usize) -> Dir {
        Dir {
            buf: VecDeque::new(),
            capacity: capacity.max(1),
            written: 0,
            delivered: 0,
            shut: false,
            framing: Framing::default(),
            record_ends: Vec::new(),
            cut: None,
            cut_fired: false,
        }
    }

    /// The cut's byte offset, once known.
    fn cut_offset(&self) -> Option<u64> {
        match self.cut?.at {
            CutPoint::Byte(n) => Some(n),
            CutPoint::Records(0) => Some(0),
            CutPoint::Records(k) => self.record_ends.get(k as usize - 1).copied(),
        }
    }

    /// True if the reader has reached the cut.
    fn at_cut(&self) -> bool {
        self.cut_offset().is_some_and(|c| self.delivered >= c)
    }
}

#[derive(Debug)]
struct EndState {
    closed: bool,
    /// `set_linger(Some(0))`: closing resets the connection whatever is unread.
    linger_zero: bool,
    /// The connection was reset; `reset_reported`: this end has been told.
    reset: bool,
    reset_reported: bool,
    read_faults: Faults,
    write_faults: Faults,
    wait_faults: Faults,
    watch: Option<WatchState>,
    kick_pending: bool,
    stats: Stats,
}

struct WatchState {
    backend: Backend,
    on_ready: ReadyFn,
    interest: Option<Interest>,
}

impl std::fmt::Debug for WatchState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WatchState({:?})", self.interest)
    }
}

#[derive(Debug)]
struct LinkState {
    /// `dirs[e]` carries what end `e` writes.
    dirs: [Dir; 2],
    ends: [EndState; 2],
    /// The connection was reset by a close (not by an injected cut): an end closed with
    /// unread input or with linger zero, or an end wrote to a closed one.
    reset_by_close: bool,
}

impl LinkState {
    /// Resets the connection for end `victim` because its peer closed abortively (or
    /// already was closed when `victim` wrote): what the peer had sent that `victim` had not
    /// read is lost, and `victim`'s next call fails with `ConnectionReset`.
    fn reset_by_close(&mut self, victim: usize) {
        self.reset_by_close = true;
        self.dirs[1 - victim].buf.clear();
        let end = &mut self.ends[victim];
        if !end.reset && !end.closed {
            end.reset = true;
            end.reset_reported = false;
        }
    }
}

#[derive(Debug)]
struct Link {
    state: Mutex<LinkState>,
    changed: Condvar,
}

impl Link {
    fn lock(&self) -> MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One end of an in-memory, fault-injecting connection. See the module docs.
#[derive(Debug)]
pub struct Faulty {
    link: Arc<Link>,
    end: usize,
}

/// Settings of a [`Faulty::pair`].
#[derive(Debug, Clone)]
pub struct PairConfig {
    /// Buffer size of each direction (what a writer can get ahead of its reader).
    pub capacity: usize,
    /// Faults of end 0 (reads, writes, waits).
    pub faults0: [Faults; 3],
    /// Faults of end 1.
    pub faults1: [Faults; 3],
    /// Cut of the direction from end 0 to end 1.
    pub cut01: Option<Cut>,
    /// Cut of the direction from end 1 to end 0.
    pub cut10: Option<Cut>,
}

impl Default for PairConfig {
    fn default() -> Self {
        PairConfig {
            capacity: 64 * 1024,
            faults0: [Faults::None, Faults::None, Faults::None],
            faults1: [Faults::None, Faults::None, Faults::None],
            cut01: None,
            cut10: None,
        }
    }
}

impl PairConfig {
    /// Random faults at `rates` on both ends, every kind of call, from `seed`.
    pub fn random(seed: u64, rates: Rates, capacity: usize) -> PairConfig {
        let f = |k: u64| Faults::random(seed.wrapping_mul(31).wrapping_add(k), rates);
        PairConfig {
            capacity,
            faults0: [f(1), f(2), f(3)],
            faults1: [f(4), f(5), f(6)],
            cut01: None,
            cut10: None,
        }
    }
}

impl Faulty {
    /// Two connected ends without faults.
    pub fn pair() -> (Faulty, Faulty) {
        Faulty::pair_with(PairConfig::default())
    }

    /// Two connected ends with the given faults and cuts.
    pub fn pair_with(config: PairConfig) -> (Faulty, Faulty) {
        let PairConfig {
            capacity,
            faults0,
            faults1,
            cut01,
            cut10,
        } = config;
        let end = |[read, write, wait]: [Faults; 3]| EndState {
            closed: false,
            linger_zero: false,
            reset: false,
            reset_reported: false,
            read_faults: read,
            write_faults: write,
            wait_faults: wait,
            watch: None,
            kick_pending: false,
            stats: Stats::default(),
        };
        let mut d01 = Dir::new(capacity);
        d01.cut = cut01;
        let mut d10 = Dir::new(capacity);
        d10.cut = cut10;
        let link = Arc::new(Link {
            state: Mutex::new(LinkState {
                dirs: [d01, d10],
                ends: [end(faults0), end(faults1)],
                reset_by_close: false,
            }),
            changed: Condvar::new(),
        });
        (
            Faulty {
                link: link.clone(),
                end: 0,
            },
            Faulty { link, end: 1 },
        )
    }

    /// A handle that observes this end after the end itself was handed to a file.
    pub fn probe(&self) -> Probe {
        Probe {
            link: self.link.clone(),
            end: self.end,
        }
    }

    /// What was injected into this end, and how often it was called.
    pub fn stats(&self) -> Stats {
        self.link.lock().ends[self.end].stats
    }

    /// Where each complete TLS record written by this end ended (byte offsets).
    pub fn record_ends_written(&self) -> Vec<u64> {
        self.link.lock().dirs[self.end].record_ends.clone()
    }

    /// How many bytes this end has written (accepted by the transport).
    pub fn bytes_written(&self) -> u64 {
        self.link.lock().dirs[self.end].written
    }

    /// True once this end, reading, reached the cut of the peer's direction.
    pub fn hit_cut(&self) -> bool {
        self.link.lock().dirs[1 - self.end].cut_fired
    }

    /// True if the connection was reset for this end (by a cut or by a close).
    pub fn was_reset(&self) -> bool {
        self.link.lock().ends[self.end].reset
    }

    /// True if a close reset the connection (see the module docs), not an injected cut.
    pub fn reset_by_close(&self) -> bool {
        self.link.lock().reset_by_close
    }

    /// Cuts the direction this end writes, from now on (for a test that decides late).
    pub fn cut_written(&self, cut: Cut) {
        let mut st = self.link.lock();
        st.dirs[self.end].cut = Some(cut);
        drop(st);
        self.link.changed.notify_all();
        kick(&self.link, 1 - self.end);
    }

    /// Replaces this end's faults (reads, writes, waits).
    pub fn set_faults(&self, faults: [Faults; 3]) {
        let mut st = self.link.lock();
        let [read, write, wait] = faults;
        let e = &mut st.ends[self.end];
        e.read_faults = read;
        e.write_faults = write;
        e.wait_faults = wait;
    }

    /// True if the peer end was closed.
    pub fn peer_closed(&self) -> bool {
        self.link.lock().ends[1 - self.end].closed
    }

    /// True if this end was closed.
    pub fn is_closed(&self) -> bool {
        self.link.lock().ends[self.end].closed
    }

    fn changed(&self, st: MutexGuard<'_, LinkState>) {
        drop(st);
        self.link.changed.notify_all();
        kick(&self.link, 0);
        kick(&self.link, 1);
    }
}

/// Closes end `e` as the kernel closes a socket: both directions end for it, and what it
/// had not read is lost. With nothing unread (and no linger zero), the peer reads all that
/// `e` wrote, then end of stream (FIN); otherwise the connection is reset (RST): what `e`
/// wrote that the peer has not read is lost too, and the peer's next call fails with
/// `ConnectionReset`.
fn close_end(link: &Arc<Link>, e: usize) {
    let mut st = link.lock();
    if st.ends[e].closed {
        return;
    }
    let unread_input = !st.dirs[1 - e].buf.is_empty();
    let abortive = unread_input || st.ends[e].linger_zero;
    // A connection already reset (or a peer already closed) has nobody left to reset.
    let connected = !st.ends[e].reset && !st.ends[1 - e].closed;
    st.ends[e].closed = true;
    st.dirs[e].shut = true;
    st.dirs[1 - e].buf.clear();
    if abortive && connected {
        st.reset_by_close(1 - e);
    }
    let watch = st.ends[e].watch.take();
    drop(st);
    link.changed.notify_all();
    kick(link, 1 - e);
    drop(watch); // outside the lock: it may hold the last reference to a file
}

/// Observes one end of a pair (see [`Faulty::probe`]).
#[derive(Debug, Clone)]
pub struct Probe {
    link: Arc<Link>,
    end: usize,
}

impl Probe {
    /// What was injected into the end, and how often it was called.
    pub fn stats(&self) -> Stats {
        self.link.lock().ends[self.end].stats
    }

    /// True if an injected fault ended the connection: a cut of either direction took
    /// effect (a reader reached it; a `Reset` cut resets both ends). A reset caused by a
    /// close ([`reset_by_close`](Self::reset_by_close)) is not an injected fault.
    pub fn faulted(&self) -> bool {
        let st = self.link.lock();
        st.dirs.iter().any(|d| d.cut_fired)
    }

    /// True if a close reset the connection: an end closed with unread input or with
    /// linger zero, or an end wrote to one already closed (see the module docs).
    pub fn reset_by_close(&self) -> bool {
        self.link.lock().reset_by_close
    }

    /// Where each complete TLS record written by the end ended (byte offsets).
    pub fn record_ends_written(&self) -> Vec<u64> {
        self.link.lock().dirs[self.end].record_ends.clone()
    }

    /// The link's whole state, for a failure report.
    pub fn debug(&self) -> String {
        let st = self.link.lock();
        format!("{:?}", *st)
    }

    /// Bytes written and delivered so far, both directions together: it grows while
    /// anything moves.
    pub fn traffic(&self) -> u64 {
        let st = self.link.lock();
        st.dirs.iter().map(|d| d.written + d.delivered).sum()
    }

    /// How many bytes the end has written.
    pub fn bytes_written(&self) -> u64 {
        self.link.lock().dirs[self.end].written
    }

    /// True if the end was closed.
    pub fn is_closed(&self) -> bool {
        self.link.lock().ends[self.end].closed
    }

    /// Closes the end from outside, as if its host went away: whoever still holds it sees
    /// its calls fail, and the peer sees the end of the stream, or a reset if the end had
    /// unread input (see the module docs).
    pub fn close_end(&self) {
        close_end(&self.link, self.end);
    }
}

/// The readiness of end `e`, as a descriptor would show it.
fn readiness(st: &LinkState, e: usize) -> (bool, bool) {
    let me = &st.ends[e];
    let incoming = &st.dirs[1 - e];
    let outgoing = &st.dirs[e];
    let gone = me.closed || me.reset;
    let readable = gone
        || !incoming.buf.is_empty()
        || incoming.shut
        || st.ends[1 - e].closed
        || (incoming.cut.is_some() && incoming.at_cut());
    let past_cut = outgoing
        .cut_offset()
        .is_some_and(|c| outgoing.written >= c && outgoing.cut.map(|c| c.how) == Some(CutHow::Eof));
    let writable = gone
        || outgoing.shut
        || st.ends[1 - e].closed
        || past_cut
        || outgoing.buf.len() < outgoing.capacity;
    (readable, writable)
}

fn ready_for(st: &LinkState, e: usize, interest: Interest) -> Option<Interest> {
    let (r, w) = readiness(st, e);
    Interest::from_flags(r && interest.is_readable(), w && interest.is_writable())
}

/// Level-triggered watch emulation: if end `e` is watched and ready for its interest,
/// schedule one readiness callback on its backend.
fn kick(link: &Arc<Link>, e: usize) {
    let backend = {
        let mut st = link.lock();
        let Some(watch) = st.ends[e].watch.as_ref() else {
            return;
        };
        let Some(interest) = watch.interest else {
            return;
        };
        if st.ends[e].kick_pending || ready_for(&st, e, interest).is_none() {
            return;
        }
        let backend = watch.backend.clone();
        st.ends[e].kick_pending = true;
        backend
    };
    let link = link.clone();
    backend.call_out(Duration::ZERO, move || fire(&link, e));
}

fn fire(link: &Arc<Link>, e: usize) {
    let callback = {
        let mut st = link.lock();
        st.ends[e].kick_pending = false;
        let Some(watch) = st.ends[e].watch.as_ref() else {
            return;
        };
        let ready = watch.interest.and_then(|i| ready_for(&st, e, i));
        let callback = ready.map(|r| (watch.on_ready.clone(), r));
        if callback.is_some() {
            st.ends[e].stats.ready_callbacks += 1;
        }
        callback
    };
    if let Some((on_ready, ready)) = callback {
        on_ready(ready);
    }
    kick(link, e);
}

/// `Err(kind)` with a message naming the fault.
/// Applies an injected fault to a read or write of at most `limit` bytes: the error to
/// return, or the limit (shortened by a short read or write).
fn apply_fault(fault: Fault, stats: &mut Stats, limit: usize) -> io::Result<usize> {
    match fault {
        Fault::Pass => Ok(limit),
        Fault::WouldBlock => {
            stats.would_block += 1;
            Err(err(io::ErrorKind::WouldBlock, "injected WouldBlock"))
        }
        Fault::Interrupted => {
            stats.interrupted += 1;
            Err(err(io::ErrorKind::Interrupted, "injected EINTR"))
        }
        Fault::Short(n) => {
            stats.short += 1;
            Ok(limit.min(n.max(1)))
        }
    }
}

fn err(kind: io::ErrorKind, what: &str) -> io::Error {
    if kind == io::ErrorKind::WouldBlock {
        return kind.into(); // the commonest by far, and read by kind only: no allocation
    }
    io::Error::new(kind, format!("faulty transport: {what}"))
}

impl Stream for Faulty {
    fn watchable(&self) -> Option<&dyn Watchable> {
        Some(self)
    }

    fn read_nb(&self, buf: &mut [u8]) -> io::Result<usize> {
        let e = self.end;
        let mut st = self.link.lock();
        st.ends[e].stats.reads += 1;
        if st.ends[e].closed {
            return Err(err(io::ErrorKind::NotConnected, "read after close"));
        }
        if st.ends[e].reset {
            if !st.ends[e].reset_reported {
                st.ends[e].reset_reported = true;
                return Err(err(io::ErrorKind::ConnectionReset, "connection reset"));
            }
            return Ok(0);
        }
        let fault = st.ends[e].read_faults.next();
        let mut limit = apply_fault(fault, &mut st.ends[e].stats, buf.len())?;
        let cut = st.dirs[1 - e].cut;
        if let Some(cut) = cut {
            if st.dirs[1 - e].at_cut() {
                st.dirs[1 - e].cut_fired = true;
                st.dirs[1 - e].buf.clear();
                return match cut.how {
                    CutHow::Eof => Ok(0),
                    CutHow::Reset => {
                        for end in &mut st.ends {
                            end.reset = true;
                        }
                        st.ends[e].reset_reported = true;
                        st.dirs[0].buf.clear();
                        st.dirs[1].buf.clear();
                        self.changed(st);
                        Err(err(io::ErrorKind::ConnectionReset, "connection reset"))
                    }
                };
            }
            if let Some(c) = st.dirs[1 - e].cut_offset() {
                limit = limit.min((c - st.dirs[1 - e].delivered) as usize);
            }
        }
        let peer_closed = st.ends[1 - e].closed;
        let incoming = &mut st.dirs[1 - e];
        if incoming.buf.is_empty() {
            if incoming.shut || peer_closed {
                return Ok(0);
            }
            return Err(err(io::ErrorKind::WouldBlock, "nothing to read"));
        }
        let n = limit.min(incoming.buf.len());
        let (front, back) = incoming.buf.as_slices();
        let k = n.min(front.len());
        buf[..k].copy_from_slice(&front[..k]);
        buf[k..n].copy_from_slice(&back[..n - k]);
        incoming.buf.drain(..n);
        incoming.delivered += n as u64;
        self.changed(st);
        Ok(n)
    }

    fn write_nb(&self, buf: &[u8]) -> io::Result<usize> {
        let e = self.end;
        let mut st = self.link.lock();
        st.ends[e].stats.writes += 1;
        if st.ends[e].closed {
            return Err(err(io::ErrorKind::NotConnected, "write after close"));
        }
        if st.ends[e].reset {
            if !st.ends[e].reset_reported {
                st.ends[e].reset_reported = true;
                return Err(err(io::ErrorKind::ConnectionReset, "connection reset"));
            }
            return Err(err(io::ErrorKind::BrokenPipe, "write after reset"));
        }
        if st.dirs[e].shut {
            return Err(err(io::ErrorKind::BrokenPipe, "write after shutdown"));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let fault = st.ends[e].write_faults.next();
        let limit = apply_fault(fault, &mut st.ends[e].stats, buf.len())?;
        if st.ends[1 - e].closed {
            // The bytes leave, and the closed end's kernel answers them with a reset.
            st.dirs[e].written += limit as u64;
            st.reset_by_close(e);
            self.changed(st);
            return Ok(limit);
        }
        let out = &mut st.dirs[e];
        let past_eof_cut = out.cut.map(|c| c.how) == Some(CutHow::Eof)
            && out.cut_offset().is_some_and(|c| out.written >= c);
        if past_eof_cut {
            // Nobody will ever read these bytes: they vanish, as behind a dead middlebox.
            out.written += limit as u64;
            return Ok(limit);
        }
        let room = out.capacity.saturating_sub(out.buf.len());
        if room == 0 {
            return Err(err(io::ErrorKind::WouldBlock, "buffer full"));
        }
        let n = limit.min(room);
        out.buf.extend(&buf[..n]);
        let start = out.written;
        for end in out.framing.observe(&buf[..n]) {
            out.record_ends.push(start + end as u64);
        }
        out.written += n as u64;
        // Bytes beyond an EOF cut never arrive.
        if out.cut.map(|c| c.how) == Some(CutHow::Eof) {
            if let Some(c) = out.cut_offset() {
                let keep = c.saturating_sub(out.delivered) as usize;
                if out.buf.len() > keep {
                    out.buf.truncate(keep);
                }
            }
        }
        self.changed(st);
        Ok(n)
    }

    fn wait(&self, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
        let e = self.end;
        let mut st = self.link.lock();
        if st.ends[e].wait_faults.spurious_wake() {
            st.ends[e].stats.spurious_wakes += 1;
            return Ok(());
        }
        loop {
            if ready_for(&st, e, interest).is_some() {
                return Ok(());
            }
            st = match deadline {
                None => self
                    .link
                    .changed
                    .wait(st)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(err(io::ErrorKind::TimedOut, "wait timed out"));
                    }
                    self.link
                        .changed
                        .wait_timeout(st, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    fn shutdown_write(&self) -> io::Result<()> {
        let mut st = self.link.lock();
        if st.ends[self.end].closed {
            return Err(err(io::ErrorKind::NotConnected, "shutdown after close"));
        }
        st.dirs[self.end].shut = true;
        self.changed(st);
        Ok(())
    }

    fn close(&self) -> io::Result<()> {
        close_end(&self.link, self.end);
        Ok(())
    }

    /// `Some(Duration::ZERO)` makes the close abortive (a reset, see the module docs); any
    /// other setting, an ordinary close.
    fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        let mut st = self.link.lock();
        if st.ends[self.end].closed {
            return Err(err(io::ErrorKind::NotConnected, "set_linger after close"));
        }
        st.ends[self.end].linger_zero = linger == Some(Duration::ZERO);
        Ok(())
    }

    fn peer_addr(&self) -> io::Result<Addr> {
        Err(err(
            io::ErrorKind::Unsupported,
            "an in-memory pair has no address",
        ))
    }

    fn local_addr(&self) -> io::Result<Addr> {
        Err(err(
            io::ErrorKind::Unsupported,
            "an in-memory pair has no address",
        ))
    }
}

impl Watchable for Faulty {
    fn watch(&self, backend: &Backend, on_ready: ReadyFn) -> io::Result<()> {
        let mut st = self.link.lock();
        if st.ends[self.end].closed {
            return Err(err(io::ErrorKind::NotConnected, "watch after close"));
        }
        let old = st.ends[self.end].watch.replace(WatchState {
            backend: backend.clone(),
            on_ready,
            interest: None,
        });
        // A kick still pending was scheduled on the old watch's backend, which may never
        // run again (a file moved to another backend): the new watch must be kickable.
        st.ends[self.end].kick_pending = false;
        drop(st);
        drop(old);
        Ok(())
    }

    fn set_interest(&self, interest: Option<Interest>) -> io::Result<()> {
        let mut st = self.link.lock();
        if let Some(watch) = st.ends[self.end].watch.as_mut() {
            watch.interest = interest;
        }
        drop(st);
        kick(&self.link, self.end);
        Ok(())
    }

    fn unwatch(&self) {
        let old = self.link.lock().ends[self.end].watch.take();
        drop(old);
    }

    fn backend(&self) -> Option<Backend> {
        let st = self.link.lock();
        st.ends[self.end].watch.as_ref().map(|w| w.backend.clone())
    }
}

impl Drop for Faulty {
    fn drop(&mut self) {
        let _ = Stream::close(self);
    }
}

/// Finds TLS record boundaries in a byte stream (5-byte header with a 16-bit length).
#[derive(Debug, Default, Clone)]
pub struct Framing {
    header: [u8; 5],
    header_len: usize,
    body_left: usize,
}

impl Framing {
    /// Notes `bytes`; returns the offsets within them at which a record ended.
    pub fn observe(&mut self, bytes: &[u8]) -> Vec<usize> {
        let mut ends = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if self.header_len < 5 {
                self.header[self.header_len] = bytes[i];
                self.header_len += 1;
                i += 1;
                if self.header_len == 5 {
                    self.body_left =
                        usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                    if self.body_left == 0 {
                        self.header_len = 0;
                        ends.push(i);
                    }
                }
                continue;
            }
            let n = self.body_left.min(bytes.len() - i);
            self.body_left -= n;
            i += n;
            if self.body_left == 0 {
                self.header_len = 0;
                ends.push(i);
            }
        }
        ends
    }
}
