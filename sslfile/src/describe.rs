//! Sentences a person understands for what rustls reports as enum values.
//!
//! "certificate for example.com has expired", not `InvalidCertificate(Expired)`.
//! The rustls error itself stays available as the `source` of [`Error::Tls`].

use rustls::{AlertDescription, CertificateError, PeerIncompatible};

use crate::error::Error;

/// Context that makes a message concrete: who we talked to, and what they sent first.
pub(crate) struct Circumstances<'a> {
    /// The server name we verified against (client side), if any.
    pub(crate) server_name: Option<&'a str>,
    /// The first bytes the peer sent, to recognise a peer that does not speak TLS.
    pub(crate) first_bytes: &'a [u8],
    /// We are the server: a certificate in question is the client's.
    pub(crate) client_certificate: bool,
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
        message: format!("the peer sent a fatal alert ({alert:?}): {meaning}"),
    }
}

fn describe(err: &rustls::Error, seen: &Circumstances<'_>) -> String {
    let whose = match seen.server_name {
        _ if seen.client_certificate => "the client's certificate".to_string(),
        Some(name) => format!("certificate for {name}"),
        None => "peer certificate".to_string(),
    };
    match err {
        rustls::Error::InvalidCertificate(cert) => describe_certificate(cert, &whose),
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
            format!("the peer sent a malformed TLS message ({what:?})")
        }
        rustls::Error::InappropriateMessage { got_type, .. } => {
            format!("the peer sent an unexpected TLS message ({got_type:?})")
        }
        rustls::Error::InappropriateHandshakeMessage { got_type, .. } => {
            format!("the peer sent an unexpected handshake message ({got_type:?})")
        }
        rustls::Error::PeerMisbehaved(what) => {
            format!("the peer broke the TLS protocol ({what:?})")
        }
        other => format!("TLS error: {other}"),
    }
}

fn describe_certificate(err: &CertificateError, whose: &str) -> String {
    match err {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            format!("{whose} has expired")
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            format!("{whose} is not valid yet")
        }
        CertificateError::UnknownIssuer => {
            format!("{whose} is not signed by a trusted authority (unknown issuer)")
        }
        CertificateError::NotValidForName => format!("{whose} does not match that name"),
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => format!(
            "the server's certificate is not valid for {}: it names {}",
            expected.to_str(),
            if presented.is_empty() {
                "no host at all".to_string()
            } else {
                presented.join(", ")
            }
        ),
        CertificateError::Revoked => format!("{whose} has been revoked"),
        CertificateError::BadSignature => format!("{whose} has a bad signature"),
        CertificateError::BadEncoding => format!("{whose} is malformed"),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            format!("{whose} is not meant for this use (extended key usage)")
        }
        other => format!("{whose} was rejected: {other:?}"),
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
        other => format!("the peer is incompatible ({other:?})"),
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
    fn expiry_names_the_host() {
        let seen = Circumstances {
            server_name: Some("example.com"),
            first_bytes: &[22, 3, 3],
            client_certificate: false,
        };
        let err = rustls::Error::InvalidCertificate(CertificateError::Expired);
        assert_eq!(
            tls_error(err, &seen).to_string(),
            "certificate for example.com has expired"
        );
    }

    #[test]
    fn received_alerts_become_peer_alerts() {
        let seen = Circumstances {
            server_name: None,
            first_bytes: &[],
            client_certificate: false,
        };
        let err = tls_error(
            rustls::Error::AlertReceived(AlertDescription::UnknownCA),
            &seen,
        );
        assert!(matches!(err, Error::PeerAlert { .. }));
        assert!(err.to_string().contains("does not trust the issuer"));
    }
}
