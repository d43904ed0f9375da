//! Sentences a person understands for what rustls reports as enum values.
//!
//! "the server's certificate for example.com expired on 2001-01-01 (it is now 2026-12-04):
//! the server must renew it", not `InvalidCertificate(ExpiredContext { .. })`. No message
//! shows a rustls or webpki type's `Debug` form; the rustls error itself stays available as
//! the `source` of [`Error::Tls`]. Refused certificates are described in [`certificate`],
//! alerts named in [`alert`].

mod alert;
mod certificate;

use rustls::{AlertDescription, PeerIncompatible};

use crate::cert_names::CertNames;
use crate::error::Error;

/// Context that makes a message concrete: who we talked to, and what they sent first.
pub(crate) struct Circumstances<'a> {
    /// The server name we verified against (client side), if any.
    pub(crate) server_name: Option<&'a str>,
    /// The first bytes the peer sent, to recognise a peer that does not speak TLS.
    pub(crate) first_bytes: &'a [u8],
    /// We are the server: a certificate in question is the client's.
    pub(crate) client_certificate: bool,
    /// The names of the certificate our verifier refused, if it refused one.
    pub(crate) refused: Option<CertNames>,
}

/// Turns a rustls error from our side of the protocol into [`Error`].
pub(crate) fn tls_error(err: rustls::Error, seen: &Circumstances<'_>) -> Error {
    if let rustls::Error::AlertReceived(alert) = err {
        return peer_alert(alert);
    }
    let message = describe(&err, seen);
    Error::Tls {
        message,
        source: err,
    }
}

/// The error for a fatal alert received from the peer.
pub(crate) fn peer_alert(alert: AlertDescription) -> Error {
    let meaning = match alert {
        AlertDescription::HandshakeFailure => "it found no acceptable security parameters",
        AlertDescription::ProtocolVersion => "it does not support the offered protocol versions",
        AlertDescription::NoApplicationProtocol => "no ALPN protocol in common",
        AlertDescription::BadCertificate
        | AlertDescription::UnsupportedCertificate
        | AlertDescription::CertificateUnknown => "it rejected our certificate",
        AlertDescription::CertificateExpired => "it says our certificate has expired",
        AlertDescription::UnknownCA => "it does not trust the issuer of our certificate",
        AlertDescription::CertificateRequired => "it requires a client certificate",
        AlertDescription::DecryptError | AlertDescription::BadRecordMac => {
            "it could not decrypt or verify what we sent"
        }
        AlertDescription::UnrecognisedName => "it does not serve the server name we asked for",
        AlertDescription::InternalError => "it had an internal error",
        AlertDescription::UserCanceled => "it canceled the handshake",
        _ => "it ended the connection",
    };
    Error::PeerAlert {
        alert,
        message: format!(
            "the peer sent a fatal alert ({}): {meaning}",
            alert::name(alert)
        ),
    }
}

fn describe(err: &rustls::Error, seen: &Circumstances<'_>) -> String {
    match err {
        rustls::Error::InvalidCertificate(cert) => {
            let refused = certificate::Refused {
                of_server: !seen.client_certificate,
                server_name: seen.server_name,
                names: seen.refused.as_ref(),
            };
            certificate::describe(cert, &refused)
        }
        rustls::Error::InvalidCertRevocationList(why) => format!(
            "a certificate revocation list (CRL) given to this context cannot be used for \
             {}: {}",
            match seen.client_certificate {
                true => "the client's certificate",
                false => "the server's certificate",
            },
            crl_problem(why)
        ),
        rustls::Error::NoCertificatesPresented if seen.client_certificate => {
            "the client presented no certificate, but this server requires one \
             (ClientAuth::Required)"
                .into()
        }
        rustls::Error::NoCertificatesPresented => "the peer presented no certificate".into(),
        rustls::Error::NoApplicationProtocol => "no ALPN protocol in common with the peer".into(),
        rustls::Error::PeerIncompatible(_) if offered_version(seen.first_bytes).is_some() => {
            format!(
                "the peer offers only {}, a protocol version we refuse: TLS 1.2 is the minimum (RFC 8996)",
                offered_version(seen.first_bytes).unwrap_or_default()
            )
        }
        rustls::Error::PeerIncompatible(why) => describe_incompatible(why),
        rustls::Error::DecryptError => {
            "a record from the peer could not be decrypted (corrupted or forged data)".into()
        }
        rustls::Error::PeerSentOversizedRecord => "the peer sent an oversized TLS record".into(),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. }
            if !looks_like_tls(seen.first_bytes) =>
        {
            format!(
                "the peer does not speak TLS: it sent {}",
                quote_prefix(seen.first_bytes)
            )
        }
        rustls::Error::InvalidMessage(what) => {
            format!("the peer sent a malformed TLS message: {}", words(what))
        }
        rustls::Error::InappropriateMessage { got_type, .. } => format!(
            "the peer sent a TLS message we did not expect then: {}",
            words(got_type)
        ),
        rustls::Error::InappropriateHandshakeMessage { got_type, .. } => format!(
            "the peer sent a handshake message we did not expect then: {}",
            words(got_type)
        ),
        rustls::Error::PeerMisbehaved(what) => {
            format!("the peer broke the TLS protocol: {}", words(what))
        }
        rustls::Error::General(what) if what == "no server certificate chain resolved" => {
            "no certificate to present: the certificate resolver chose none for this client \
             (see ContextBuilder::certificate_resolver) and the context has no chain of its own"
                .to_string()
        }
        other => format!("TLS error: {other}"),
    }
}

/// What is wrong with a CRL that webpki refused while checking a certificate.
fn crl_problem(why: &rustls::CertRevocationListError) -> &'static str {
    use rustls::CertRevocationListError as E;
    match why {
        E::BadSignature => {
            "its signature does not verify with the key of the CA it names as its issuer"
        }
        E::IssuerInvalidForCrl => {
            "the CA it names as its issuer may not sign CRLs (its key usage lacks cRLSign)"
        }
        #[allow(deprecated)]
        E::UnsupportedSignatureAlgorithm
        | E::UnsupportedSignatureAlgorithmContext { .. }
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "it is signed with a signature algorithm we do not accept"
        }
        _ => "it is malformed or uses a feature that is not supported",
    }
}

fn describe_incompatible(why: &PeerIncompatible) -> String {
    match why {
        PeerIncompatible::NoCipherSuitesInCommon => {
            "no cipher suite in common with the peer".into()
        }
        PeerIncompatible::NoKxGroupsInCommon => {
            "no key exchange group in common with the peer".into()
        }
        PeerIncompatible::NoSignatureSchemesInCommon => {
            "no signature scheme in common with the peer".into()
        }
        PeerIncompatible::ServerDoesNotSupportTls12Or13
        | PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig
        | PeerIncompatible::Tls12NotOffered
        | PeerIncompatible::Tls12NotOfferedOrEnabled
        | PeerIncompatible::SupportedVersionsExtensionRequired => {
            "no TLS protocol version in common with the peer".into()
        }
        other => format!("the peer is incompatible: {}", words(other)),
    }
}

/// A rustls enum value in words: "illegal middlebox change cipher spec" for
/// `IllegalMiddleboxChangeCipherSpec`. For the long tail of protocol violations, whose
/// variant names are already sentences in camel case; fields are left out.
fn words(value: &impl std::fmt::Debug) -> String {
    let debug = format!("{value:?}");
    let name: Vec<char> = debug
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let mut out = String::new();
    for (i, &c) in name.iter().enumerate() {
        let previous = i.checked_sub(1).map(|p| name[p]);
        let next = name.get(i + 1);
        let starts_word = c.is_ascii_uppercase()
            && previous.is_some_and(|p| {
                p.is_ascii_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_ascii_uppercase() && next.is_some_and(char::is_ascii_lowercase))
            });
        if starts_word || c == '_' {
            out.push(' ');
        }
        if c != '_' {
            out.push(c.to_ascii_lowercase());
        }
    }
    if out.is_empty() {
        "an unnamed problem".into()
    } else {
        out
    }
}

/// The highest version a peer's ClientHello offers, if it is one we refuse: a ClientHello
/// record (type 22, handshake type 1) whose legacy version is below TLS 1.2. (A TLS 1.3
/// client says TLS 1.2 there and lists 1.3 in an extension.)
fn offered_version(first: &[u8]) -> Option<&'static str> {
    match first {
        [22, 3, _, _, _, 1, _, _, _, 3, minor, ..] if *minor < 3 => Some(match minor {
            0 => "SSL 3.0",
            1 => "TLS 1.0",
            _ => "TLS 1.1",
        }),
        _ => None,
    }
}

/// A TLS record starts with a content type 20..=24 and major version 3.
pub(crate) fn looks_like_tls(first: &[u8]) -> bool {
    match first {
        [] => true,
        [kind] => (20..=24).contains(kind),
        [kind, major, ..] => (20..=24).contains(kind) && *major == 3,
    }
}

/// The first line of what the peer sent, printable, at most 60 characters.
fn quote_prefix(bytes: &[u8]) -> String {
    let line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let text: String = line
        .iter()
        .take(60)
        .map(|&b| match b {
            b' '..=b'~' => b as char,
            b'\r' => ' ',
            _ => '.',
        })
        .collect();
    format!("{:?}", text.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_answer_is_named_as_not_tls() {
        let seen = Circumstances {
            server_name: Some("example.com"),
            first_bytes: b"HTTP/1.1 400 Bad Request\r\nServer: x\r\n",
            client_certificate: false,
            refused: None,
        };
        let err = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        let msg = tls_error(err, &seen).to_string();
        assert_eq!(
            msg,
            "the peer does not speak TLS: it sent \"HTTP/1.1 400 Bad Request\""
        );
    }

    #[test]
    fn an_old_client_hello_is_named_by_its_version() {
        let hello = [22, 3, 1, 0, 60, 1, 0, 0, 56, 3, 2, 0xaa];
        let seen = Circumstances {
            server_name: None,
            first_bytes: &hello,
            client_certificate: false,
            refused: None,
        };
        let err =
            rustls::Error::PeerIncompatible(PeerIncompatible::SignatureAlgorithmsExtensionRequired);
        assert_eq!(
            tls_error(err, &seen).to_string(),
            "the peer offers only TLS 1.1, a protocol version we refuse: TLS 1.2 is the minimum (RFC 8996)"
        );
        assert_eq!(offered_version(&[22, 3, 1, 0, 60, 1, 0, 0, 56, 3, 3]), None);
    }

    #[test]
    fn expiry_names_the_host_and_the_day() {
        let seen = Circumstances {
            server_name: Some("example.com"),
            first_bytes: &[22, 3, 3],
            client_certificate: false,
            refused: None,
        };
        let err = rustls::Error::InvalidCertificate(rustls::CertificateError::ExpiredContext {
            time: rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                1_000_000_000,
            )),
            not_after: rustls::pki_types::UnixTime::since_unix_epoch(
                std::time::Duration::from_secs(978_307_200),
            ),
        });
        assert_eq!(
            tls_error(err, &seen).to_string(),
            "the server's certificate for example.com expired on 2001-01-01 \
             (it is now 2001-09-09): the server must renew it"
        );
    }

    #[test]
    fn enum_values_read_as_words() {
        assert_eq!(
            words(&rustls::PeerMisbehaved::IllegalMiddleboxChangeCipherSpec),
            "illegal middlebox change cipher spec"
        );
        assert_eq!(
            words(&PeerIncompatible::EcPointsExtensionRequired),
            "ec points extension required"
        );
        assert_eq!(
            words(&rustls::InvalidMessage::MissingData("x")),
            "missing data"
        );
        assert_eq!(words(&"{weird}"), "an unnamed problem");
    }

    #[test]
    fn received_alerts_become_peer_alerts() {
        let seen = Circumstances {
            server_name: None,
            first_bytes: &[],
            client_certificate: false,
            refused: None,
        };
        let err = tls_error(
            rustls::Error::AlertReceived(AlertDescription::UnknownCA),
            &seen,
        );
        assert!(matches!(err, Error::PeerAlert { .. }));
        assert!(err.to_string().contains("does not trust the issuer"));
    }
}
