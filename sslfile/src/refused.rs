//! The certificate a verifier refused, for the error message that names it.
//!
//! rustls reports a refusal as a [`CertificateError`](rustls::CertificateError) value,
//! without the certificate; a message such as "issued by CN=Example CA, which is not
//! trusted" needs it. rustls calls the verifier inside `process_new_packets`, on the thread
//! that called it, and the call fails with the verifier's error. So the verifier notes the
//! refused certificate here, for this thread, and the engine takes it when that call fails
//! (and clears it before each handshake step, so that nothing noted by a verifier whose
//! refusal was overruled, as the `danger_` options do, is taken for another's).
//!
//! The refused certificate is usually the peer's own; when a revocation list revokes a CA
//! certificate of its chain (with `revocation_check_whole_chain`), it is that one.

use std::cell::RefCell;

use rustls::pki_types::CertificateDer;

/// A refused certificate.
pub(crate) struct Noted {
    pub(crate) cert: CertificateDer<'static>,
    /// It is a CA certificate of the peer's chain, not the peer's own.
    pub(crate) ca_in_chain: bool,
}

thread_local! {
    static REFUSED: RefCell<Option<Noted>> = const { RefCell::new(None) };
}

/// Notes `cert`, the peer's own, as the certificate this thread's verifier just refused.
pub(crate) fn note(cert: &CertificateDer<'_>) {
    put(cert, false);
}

/// Notes `cert`, a CA certificate of the peer's chain, as the one refused.
pub(crate) fn note_ca(cert: &CertificateDer<'_>) {
    put(cert, true);
}

fn put(cert: &CertificateDer<'_>, ca_in_chain: bool) {
    let cert = cert.clone().into_owned();
    REFUSED.with(|slot| *slot.borrow_mut() = Some(Noted { cert, ca_in_chain }));
}

/// The certificate noted last on this thread, if any; none is noted afterwards.
pub(crate) fn take() -> Option<Noted> {
    REFUSED.with(|slot| slot.borrow_mut().take())
}
