//! The close semantics of the fault-injecting transport (`common::faulty`), end to end
//! without TLS: they model the kernel's, so that the tests over it catch a program that
//! closes its transport while the peer still sends (the TCP reset that loses data in flight).
//!
//! * closing with nothing unread: the peer reads everything, then end of stream (FIN);
//! * closing with unread input, or after linger zero: a reset; what was in flight towards
//!   the peer is lost, the peer's next call fails with `ConnectionReset`, then its reads end
//!   the stream and its writes fail with `BrokenPipe`;
//! * writing to a closed end: accepted, then the writer is reset likewise;
//! * the injected faults (cuts, resets) still work, and are told apart from close resets.

use crate::common;

use std::io;
use std::time::Duration;

use common::faulty::{Cut, CutHow, CutPoint, Faulty, PairConfig};
use sslfile::Stream;

/// Reads whatever is there (one call).
fn read(end: &Faulty) -> io::Result<Vec<u8>> {
    let mut buf = [0u8; 256];
    end.read_nb(&mut buf).map(|n| buf[..n].to_vec())
}

fn kind<T: std::fmt::Debug>(result: io::Result<T>) -> io::ErrorKind {
    result.expect_err("an error").kind()
}

#[test]
fn closing_with_nothing_unread_delivers_everything_then_end_of_stream() {
    let (a, b) = Faulty::pair();
    let probe = a.probe();
    assert_eq!(b.write_nb(b"request").unwrap(), 7);
    assert_eq!(read(&a).unwrap(), b"request");
    assert_eq!(a.write_nb(b"answer").unwrap(), 6);
    a.close().unwrap();
    assert_eq!(read(&b).unwrap(), b"answer");
    assert_eq!(read(&b).unwrap(), b"", "end of stream after the data");
    assert!(!probe.reset_by_close() && !b.was_reset());
}

#[test]
fn closing_with_unread_input_resets_and_discards_what_was_in_flight() {
    let (a, b) = Faulty::pair();
    let probe = a.probe();
    assert_eq!(a.write_nb(b"upload").unwrap(), 6);
    assert_eq!(b.write_nb(b"ticket").unwrap(), 6); // a never reads it
    a.close().unwrap();
    assert!(probe.reset_by_close());
    assert!(!probe.faulted(), "a close reset is not an injected fault");
    assert_eq!(
        kind(read(&b)),
        io::ErrorKind::ConnectionReset,
        "the upload in flight is lost: the peer's next read fails at once"
    );
    assert_eq!(read(&b).unwrap(), b"", "then reads end the stream");
    assert_eq!(kind(b.write_nb(b"x")), io::ErrorKind::BrokenPipe);
}

#[test]
fn after_a_close_reset_the_peers_first_write_fails_with_connection_reset_then_broken_pipe() {
    let (a, b) = Faulty::pair();
    assert_eq!(b.write_nb(b"unread").unwrap(), 6);
    drop(a);
    assert_eq!(kind(b.write_nb(b"x")), io::ErrorKind::ConnectionReset);
    assert_eq!(kind(b.write_nb(b"x")), io::ErrorKind::BrokenPipe);
    assert_eq!(read(&b).unwrap(), b"");
}

#[test]
fn closing_after_linger_zero_resets_even_with_nothing_unread() {
    let (a, b) = Faulty::pair();
    let probe = b.probe();
    assert_eq!(a.write_nb(b"last words").unwrap(), 10);
    a.set_linger(Some(Duration::ZERO)).unwrap();
    a.close().unwrap();
    assert!(probe.reset_by_close());
    assert_eq!(kind(read(&b)), io::ErrorKind::ConnectionReset);

    // Any other linger is an ordinary close.
    let (a, b) = Faulty::pair();
    a.set_linger(Some(Duration::ZERO)).unwrap();
    a.set_linger(Some(Duration::from_secs(1))).unwrap();
    assert_eq!(a.write_nb(b"last words").unwrap(), 10);
    a.close().unwrap();
    assert_eq!(read(&b).unwrap(), b"last words");
    assert_eq!(read(&b).unwrap(), b"");
}

#[test]
fn writing_to_a_closed_end_resets_the_writer_and_loses_what_it_had_not_read() {
    let (a, b) = Faulty::pair();
    let probe = a.probe();
    assert_eq!(a.write_nb(b"goodbye").unwrap(), 7);
    a.close().unwrap(); // nothing unread: FIN
    assert!(!probe.reset_by_close());
    assert_eq!(b.write_nb(b"late").unwrap(), 4, "the bytes leave");
    assert!(
        probe.reset_by_close(),
        "the closed end answers with a reset"
    );
    assert_eq!(
        kind(read(&b)),
        io::ErrorKind::ConnectionReset,
        "what the closed end had sent is lost"
    );
    assert_eq!(read(&b).unwrap(), b"");
    assert_eq!(kind(b.write_nb(b"x")), io::ErrorKind::BrokenPipe);
}

#[test]
fn a_reset_cut_still_resets_both_ends_and_counts_as_an_injected_fault() {
    let (a, b) = Faulty::pair_with(PairConfig {
        cut01: Some(Cut {
            at: CutPoint::Byte(3),
            how: CutHow::Reset,
        }),
        ..PairConfig::default()
    });
    let probe = a.probe();
    assert_eq!(a.write_nb(b"abcdef").unwrap(), 6);
    assert_eq!(read(&b).unwrap(), b"abc");
    assert_eq!(kind(read(&b)), io::ErrorKind::ConnectionReset);
    assert!(probe.faulted() && !probe.reset_by_close());
    assert_eq!(kind(a.write_nb(b"x")), io::ErrorKind::ConnectionReset);
    assert_eq!(kind(a.write_nb(b"x")), io::ErrorKind::BrokenPipe);
    // Closing the ends of a reset connection resets nothing more.
    drop(a);
    drop(b);
    assert!(!probe.reset_by_close());
}

#[test]
fn an_eof_cut_still_ends_the_stream_and_a_close_behind_it_does_not_reset() {
    let (a, b) = Faulty::pair_with(PairConfig {
        cut01: Some(Cut {
            at: CutPoint::Byte(3),
            how: CutHow::Eof,
        }),
        ..PairConfig::default()
    });
    let probe = a.probe();
    assert_eq!(a.write_nb(b"abcdef").unwrap(), 6);
    a.close().unwrap();
    assert_eq!(read(&b).unwrap(), b"abc");
    assert_eq!(read(&b).unwrap(), b"");
    assert!(probe.faulted() && !probe.reset_by_close());
}
