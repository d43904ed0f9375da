//! A backend nested in another event loop (SPEC §1: "an arbitrary backend"): the outer loop
//! waits on the inner backend's descriptor and runs it with `run_once(Some(ZERO))`; the
//! inner backend's watches and call_outs fire from there.

use crate::common;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use sslfile::{Backend, Interest};

#[test]
fn a_backend_runs_inside_another_backend() {
    let outer = Backend::new().unwrap();
    let inner = Backend::new().unwrap();
    // The outer loop watches the inner backend's descriptor and runs it when it is ready.
    let runs = Arc::new(AtomicUsize::new(0));
    let (r, nested) = (runs.clone(), inner.clone());
    let _nest = outer
        .watch(
            Arc::new(inner.clone()),
            Some(Interest::READ),
            Arc::new(move |_| {
                r.fetch_add(1, Ordering::SeqCst);
                nested.run_once(Some(Duration::ZERO)).unwrap();
            }),
        )
        .unwrap();

    // A descriptor watched by the inner backend.
    let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let (tx, rx) = mpsc::channel();
    let source = Arc::new(a);
    let reader = source.clone();
    let _watch = inner
        .watch(
            source,
            Some(Interest::READ),
            Arc::new(move |_| {
                let mut buf = [0u8; 16];
                if let Ok(n) = std::io::Read::read(&mut &*reader, &mut buf) {
                    tx.send(buf[..n].to_vec()).unwrap();
                }
            }),
        )
        .unwrap();
    b.write_all(b"nested").unwrap();

    // Only the outer backend is run here.
    let deadline = Instant::now() + common::TIMEOUT;
    let got = loop {
        outer.run_once(Some(Duration::from_millis(50))).unwrap();
        if let Ok(got) = rx.try_recv() {
            break got;
        }
        assert!(Instant::now() < deadline, "the inner watch never fired");
    };
    assert_eq!(got, b"nested");
    assert!(runs.load(Ordering::SeqCst) >= 1);

    // A call_out scheduled on the inner backend from another thread wakes the outer loop
    // (the wake-up makes the inner descriptor readable); the outer loop asks the inner
    // backend how long to wait for timers with `next_timeout`.
    let (tx, rx) = mpsc::channel();
    let remote = inner.clone();
    std::thread::spawn(move || {
        remote.call_out(Duration::from_millis(20), move || tx.send(()).unwrap());
    })
    .join()
    .unwrap();
    let deadline = Instant::now() + common::TIMEOUT;
    while rx.try_recv().is_err() {
        let wait = inner.next_timeout().unwrap_or(Duration::from_millis(50));
        outer.run_once(Some(wait)).unwrap();
        inner.run_once(Some(Duration::ZERO)).unwrap(); // timers due without descriptor events
        assert!(Instant::now() < deadline, "the inner call_out never ran");
    }
}
