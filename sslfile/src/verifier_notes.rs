//! What the verifiers learn about a connection's peer that rustls does not keep: the chain
//! as verified (end entity, intermediates, trust anchor) and the OCSP response the server
//! stapled.
//!
//! rustls hands the verifier the stapled OCSP response and discards it, and webpki's
//! verified path never leaves rustls's verifier. As with refused certificates (see
//! [`crate::refused`]), rustls calls the verifier inside `process_new_packets` on the
//! thread that called it: the verifier notes what it learned here, for this thread, and the
//! engine clears the notes before each handshake step and takes them after a step that
//! succeeded, keeping them with the connection.

use std::cell::RefCell;

use rustls::pki_types::CertificateDer;

/// What a verifier noted about one peer.
#[derive(Debug, Default, Clone)]
pub(crate) struct PeerNotes {
    /// The chain as verified, end entity first, trust anchor last (when the anchor is known
    /// as a certificate); `None` if verification was waived.
    pub(crate) verified_chain: Option<Vec<CertificateDer<'static>>>,
    /// The OCSP response the server stapled to its certificate, as sent (unverified).
    pub(crate) ocsp_response: Option<Vec<u8>>,
}

thread_local! {
    static NOTES: RefCell<Option<PeerNotes>> = const { RefCell::new(None) };
}

/// Notes the chain this thread's verifier just accepted.
pub(crate) fn note_verified_chain(chain: Vec<CertificateDer<'static>>) {
    NOTES.with(|slot| {
        slot.borrow_mut()
            .get_or_insert_with(PeerNotes::default)
            .verified_chain = Some(chain);
    });
}

/// Notes the OCSP response the server stapled (nothing if it stapled none).
pub(crate) fn note_ocsp_response(response: &[u8]) {
    if response.is_empty() {
        return;
    }
    NOTES.with(|slot| {
        slot.borrow_mut()
            .get_or_insert_with(PeerNotes::default)
            .ocsp_response = Some(response.to_vec());
    });
}

/// What was noted on this thread since the last call, if anything; nothing is noted
/// afterwards.
pub(crate) fn take() -> Option<PeerNotes> {
    NOTES.with(|slot| slot.borrow_mut().take())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_taken_once_and_empty_responses_are_not_noted() {
        assert!(take().is_none());
        note_ocsp_response(&[]);
        assert!(take().is_none());
        note_ocsp_response(&[0x30, 0]);
        note_verified_chain(vec![CertificateDer::from(vec![1u8])]);
        let notes = take().unwrap();
        assert_eq!(notes.ocsp_response.as_deref(), Some(&[0x30, 0][..]));
        assert_eq!(notes.verified_chain.unwrap().len(), 1);
        assert!(take().is_none());
    }
}
