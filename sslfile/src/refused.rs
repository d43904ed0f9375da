//! The certificate a verifier refused, for the error message that names it.
//!
//! rustls reports a refusal as a [`CertificateError`](rustls::CertificateError) value,
//! without the certificate; a message such as "issued by CN=Example CA, which is not
//! trusted" needs it. rustls calls the verifier inside `process_new_packets`, on the thread
//! that called it, and the call fails with the verifier's error. So the verifier notes the
//! refused certificate here, for this thread, and the engine takes it when that call fails
//! (and clears it before each handshake step, so that nothing noted by a verifier whose
//! refusal was overruled, as the `danger_` options do, is taken for another's).

use std::cell::RefCell;

use rustls::pki_types::CertificateDer;

thread_local! {
    static REFUSED: RefCell<Option<CertificateDer<'static>>> = const { RefCell::new(None) };
}

/// Notes `cert` as the certificate this thread's verifier just refused.
pub(crate) fn note(cert: &CertificateDer<'_>) {
    let cert = cert.clone().into_owned();
    REFUSED.with(|slot| *slot.borrow_mut() = Some(cert));
}

/// The certificate noted last on this thread, if any; none is noted afterwards.
pub(crate) fn take() -> Option<CertificateDer<'static>> {
    REFUSED.with(|slot| slot.borrow_mut().take())
}
