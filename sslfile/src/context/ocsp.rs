//! OCSP stapling (RFC 6066 `status_request`, TLS 1.3 `CertificateEntry` extension): a
//! server sends, with its certificate, an OCSP response its CA signed, so that clients
//! need not ask the CA themselves. [`ContextBuilder::ocsp_response_der`] and
//! [`ContextBuilder::ocsp_response_file`] attach one to the last chain added,
//! [`CertifiedChain::with_ocsp`] to a chain a resolver presents.
//!
//! The response is sent as given, to every client that asks (rustls clients and
//! `openssl s_client -status` ask), and must be replaced before it expires (its
//! `nextUpdate`): a server that reloads its certificate reloads the response with it. Only
//! its outer form is checked here (one DER `SEQUENCE`); its signature and dates are the
//! clients' to check.

use std::path::Path;
use std::sync::Arc;

use super::reload::Source;
use super::{load, CertifiedChain, ContextBuilder};
use crate::error::Error;

impl ContextBuilder {
    /// Staples `response`, a DER OCSP response (RFC 6960 `OCSPResponse`, as
    /// `openssl ocsp -respout` writes it), to the certificate chain added last: a client
    /// that asks for the certificate status receives it in the handshake.
    ///
    /// # Errors
    /// No chain was added yet, or the response is not DER (empty, PEM or base64 text, or
    /// not one DER `SEQUENCE`).
    ///
    /// # Examples
    ///
    /// ```
    /// let made = rcgen::generate_simple_self_signed(vec!["a.test".into()]).unwrap();
    /// let err = sslfile::Context::builder()
    ///     .ocsp_response_der(vec![0x30, 0x03, 0x0a, 0x01, 0x00])
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("add the certificate chain first"));
    /// # // The smallest OCSPResponse: status "successful", no body.
    /// let ctx = sslfile::Context::builder()
    ///     .certificate_chain_pem(made.cert.pem().as_bytes(), made.key_pair.serialize_pem().as_bytes())?
    ///     .ocsp_response_der(vec![0x30, 0x03, 0x0a, 0x01, 0x00])?
    ///     .build()?;
    /// # drop(ctx);
    /// # Ok::<(), sslfile::Error>(())
    /// ```
    pub fn ocsp_response_der(mut self, response: Vec<u8>) -> Result<Self, Error> {
        self.sources.push(Source::Ocsp(response.clone()));
        self.staple(response, "the DER OCSP response")
    }

    /// Like [`ocsp_response_der`](Self::ocsp_response_der), reading the response from a
    /// file (e.g. `resp.der` from `openssl ocsp -respout resp.der`). Every error names the
    /// file.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ctx = sslfile::Context::builder()
    ///     .certificate_chain_pem_files("cert.pem", "key.pem")?
    ///     .ocsp_response_file("cert.ocsp.der")?
    ///     .build()?;
    /// # Ok::<(), sslfile::Error>(())
    /// ```
    pub fn ocsp_response_file(mut self, path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        self.sources.push(Source::OcspFile(path.to_path_buf()));
        let response = load::read_file(path)?;
        self.staple(response, &path.display().to_string())
    }

    fn staple(mut self, response: Vec<u8>, what: &str) -> Result<Self, Error> {
        check_ocsp_response(&response, what)?;
        let Some((chain, _)) = self.chains.last_mut() else {
            return Err(Error::Config(format!(
                "{what} has no certificate chain to go with: add the certificate chain first \
                 (certificate_chain_pem_files or friends), then its OCSP response"
            )));
        };
        Arc::make_mut(chain).ocsp = Some(response);
        Ok(self)
    }
}

impl CertifiedChain {
    /// This chain with `response`, a DER OCSP response, stapled to it (see
    /// [`ContextBuilder::ocsp_response_der`]).
    ///
    /// # Errors
    /// A response that is not DER, as for [`ContextBuilder::ocsp_response_der`].
    ///
    /// # Examples
    ///
    /// ```
    /// let made = rcgen::generate_simple_self_signed(vec!["a.test".into()]).unwrap();
    /// let chain = sslfile::CertifiedChain::from_pem(
    ///     made.cert.pem().as_bytes(),
    ///     made.key_pair.serialize_pem().as_bytes(),
    /// )?;
    /// assert_eq!(chain.ocsp_response(), None);
    /// // The smallest OCSPResponse: status "successful", no body.
    /// let chain = chain.with_ocsp(vec![0x30, 0x03, 0x0a, 0x01, 0x00])?;
    /// assert_eq!(chain.ocsp_response(), Some(&[0x30, 0x03, 0x0a, 0x01, 0x00][..]));
    /// # Ok::<(), sslfile::Error>(())
    /// ```
    pub fn with_ocsp(self, response: Vec<u8>) -> Result<CertifiedChain, Error> {
        check_ocsp_response(&response, "the DER OCSP response")?;
        let mut key = self.key;
        Arc::make_mut(&mut key).ocsp = Some(response);
        Ok(CertifiedChain { key })
    }

    /// The OCSP response stapled to this chain, if any (see
    /// [`with_ocsp`](Self::with_ocsp) for an example).
    pub fn ocsp_response(&self) -> Option<&[u8]> {
        self.key.ocsp.as_deref()
    }
}

/// Refuses what cannot be a DER `OCSPResponse`: empty input, text, or anything but one
/// DER `SEQUENCE`.
fn check_ocsp_response(response: &[u8], what: &str) -> Result<(), Error> {
    if response.is_empty() {
        return Err(Error::Config(format!(
            "{what} is empty: expected a DER OCSP response"
        )));
    }
    match crate::der::element(response) {
        Some((0x30, _, [])) => Ok(()),
        _ if response.iter().all(u8::is_ascii) => Err(Error::Config(format!(
            "{what} is text, not a DER OCSP response: write it with \
             openssl ocsp -respout FILE, which writes DER"
        ))),
        _ => Err(Error::Config(format!(
            "{what} is not a DER OCSP response (one DER SEQUENCE, as openssl ocsp -respout \
             writes it)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_der_sequence_passes() {
        assert!(check_ocsp_response(&[0x30, 0x03, 0x0a, 0x01, 0x80], "r").is_ok());
        for (bad, says) in [
            (&b""[..], "r is empty"),
            (b"-----BEGIN OCSP RESPONSE-----", "r is text"),
            (b"MIIB", "r is text"),
            (
                &[0x30, 0x05, 0x0a, 0x01, 0x80][..],
                "r is not a DER OCSP response",
            ),
            (
                &[0x30, 0x03, 0x0a, 0x01, 0x80, 0xff][..],
                "r is not a DER OCSP response",
            ),
            (
                &[0x31, 0x03, 0x0a, 0x01, 0x80][..],
                "r is not a DER OCSP response",
            ),
        ] {
            let err = check_ocsp_response(bad, "r").unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
    }
}
