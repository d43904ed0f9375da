//! Sentences for a refused certificate: whose certificate it is, what is wrong with it and,
//! where there is one, the fix.
//!
//! "the server's certificate for localhost expired on 2001-01-01 (it is now 2026-12-04):
//! the server must renew it", not `InvalidCertificate(ExpiredContext { .. })`. webpki's
//! refusals that rustls passes on as `CertificateError::Other` are read back as
//! [`webpki::Error`] values and described too.

use rustls::pki_types::UnixTime;
use rustls::{CertificateError, ExtendedKeyPurpose};

use crate::cert_names::CertNames;

/// The certificate a message is about.
pub(super) struct Refused<'a> {
    /// Whose certificate it is: the server's (we are its client) or a client's.
    pub(super) of_server: bool,
    /// The name we connected to, when it is the server's.
    pub(super) server_name: Option<&'a str>,
    /// Its subject and issuer, when the verifier noted the certificate.
    pub(super) names: Option<&'a CertNames>,
}

impl Refused<'_> {
    /// "the server's certificate for localhost", "the client's certificate (CN=alice)".
    fn whose(&self) -> String {
        if let Some(names) = self.names.filter(|names| names.ca_in_chain) {
            let peers = match (self.of_server, self.server_name) {
                (true, Some(name)) => format!("the server's certificate for {name}"),
                (true, None) => "the server's certificate".into(),
                (false, _) => "the client's certificate".into(),
            };
            return format!(
                "the CA certificate {} in the chain of {peers}",
                names.subject
            );
        }
        match (self.of_server, self.server_name, self.names) {
            (true, Some(name), _) => format!("the server's certificate for {name}"),
            (true, None, _) => "the server's certificate".into(),
            (false, _, Some(names)) if !names.subject.is_empty() => {
                format!("the client's certificate ({})", names.subject)
            }
            (false, _, _) => "the client's certificate".into(),
        }
    }

    /// "the server" or "the client".
    fn peer(&self) -> &'static str {
        match self.of_server {
            true => "the server",
            false => "the client",
        }
    }

    /// Where trust anchors for this role are added, in the library and in the CLI.
    fn trust_option(&self) -> &'static str {
        match self.of_server {
            true => "ContextBuilder::trust_pem, or --cafile",
            false => "ContextBuilder::client_ca_pem, or --client-ca",
        }
    }

    /// "by CN=Example CA" when the issuer is known, "" otherwise.
    fn by_issuer(&self) -> String {
        match self.names {
            Some(names) if !names.issuer.is_empty() => format!(" by {}", names.issuer),
            _ => String::new(),
        }
    }
}

/// The sentence for `err`, rustls's refusal of `refused`.
pub(super) fn describe(err: &CertificateError, refused: &Refused<'_>) -> String {
    let whose = refused.whose();
    let peer = refused.peer();
    match err {
        CertificateError::ExpiredContext { time, not_after } => format!(
            "{whose} expired on {} (it is now {}): {peer} must renew it",
            utc_date(*not_after),
            utc_date(*time)
        ),
        CertificateError::Expired => {
            format!("{whose} has expired (or has an invalid validity period): {peer} must renew it")
        }
        CertificateError::NotValidYetContext { time, not_before } => format!(
            "{whose} is not valid before {} (it is now {}): check the clocks of this machine \
             and of {peer}",
            utc_date(*not_before),
            utc_date(*time)
        ),
        CertificateError::NotValidYet => {
            format!("{whose} is not valid yet: check the clocks of this machine and of {peer}")
        }
        CertificateError::UnknownIssuer => unknown_issuer(refused, &whose),
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => {
            let expected = expected.to_str();
            let names = if presented.is_empty() {
                "no host at all".to_string()
            } else {
                presented
                    .iter()
                    .map(|name| presented_name(name))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!(
                "the server's certificate is not valid for {expected}: it names {names}; \
                 connect with a name it names, or give the server a certificate for {expected}"
            )
        }
        CertificateError::NotValidForName => {
            format!("{whose} does not name the host we connected to")
        }
        CertificateError::Revoked => {
            let ca = match refused.names {
                Some(names) if !names.issuer.is_empty() => format!("its CA, {},", names.issuer),
                _ => "its CA".to_string(),
            };
            format!(
                "{whose} has been revoked: {ca} lists it in its certificate revocation list \
                 (CRL); {peer} needs a new certificate"
            )
        }
        CertificateError::UnknownRevocationStatus => format!(
            "the revocation status of {whose} is unknown: none of the certificate revocation \
             lists given (ContextBuilder::trust_crl_pem) is from its CA{}; add that CA's CRL, \
             or accept unknown statuses (ContextBuilder::allow_unknown_revocation_status)",
            match refused.names {
                Some(names) if !names.issuer.is_empty() => format!(" ({})", names.issuer),
                _ => String::new(),
            }
        ),
        CertificateError::ExpiredRevocationListContext { next_update, .. } => format!(
            "the revocation list that covers {whose} is out of date (its next update was due \
             on {}): load a current one",
            utc_date(*next_update)
        ),
        CertificateError::ExpiredRevocationList => {
            format!("the revocation list that covers {whose} is out of date: load a current one")
        }
        CertificateError::BadSignature => bad_signature(refused, &whose),
        #[allow(deprecated)]
        CertificateError::UnsupportedSignatureAlgorithm
        | CertificateError::UnsupportedSignatureAlgorithmContext { .. } => format!(
            "{whose} is signed{} with a signature algorithm we do not accept (such as SHA-1): \
             it must be signed with SHA-256 or better",
            refused.by_issuer()
        ),
        CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => format!(
            "{whose} is signed with a signature algorithm that does not fit the key of its \
             issuer"
        ),
        CertificateError::BadEncoding => {
            format!("{whose} is malformed: it is not a valid DER-encoded X.509 certificate")
        }
        CertificateError::UnhandledCriticalExtension => format!(
            "{whose} has a critical extension we do not understand, so it cannot be accepted"
        ),
        CertificateError::InvalidPurposeContext {
            required,
            presented,
        } => {
            let allowed = if presented.is_empty() {
                "nothing".to_string()
            } else {
                presented.iter().map(purpose).collect::<Vec<_>>().join(", ")
            };
            format!(
                "{whose} is not meant for {}: its extended key usage allows only {allowed}; \
                 {peer} needs a certificate issued for {}",
                purpose(required),
                purpose(required)
            )
        }
        CertificateError::InvalidPurpose => {
            format!("{whose} is not meant for this use: its extended key usage does not allow it")
        }
        CertificateError::InvalidOcspResponse => {
            format!("the OCSP response {peer} sent with {whose} is invalid")
        }
        CertificateError::ApplicationVerificationFailure => {
            format!("{whose} was refused by the application's own check")
        }
        CertificateError::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(webpki_err) => describe_webpki(webpki_err, refused, &whose),
            None => format!("{whose} was refused: {}", other.0),
        },
        _ => format!("{whose} was refused by the certificate verifier"),
    }
}

/// The sentence for an unknown issuer: a stranger's self-signed certificate, or one from a
/// CA we do not trust.
fn unknown_issuer(refused: &Refused<'_>, whose: &str) -> String {
    let option = refused.trust_option();
    match refused.names {
        Some(names) if names.self_issued => format!(
            "{whose} is not signed by a trusted authority: it is self-signed; if it is the one \
             {} should have, trust exactly this certificate ({option})",
            refused.peer()
        ),
        Some(names) if !names.issuer.is_empty() => format!(
            "{whose} is not signed by a trusted authority: it was issued by {}; trust that CA \
             ({option}) if it is yours, or have {} send the intermediate certificates that \
             lead to a trusted one",
            names.issuer,
            refused.peer()
        ),
        _ => format!("{whose} is not signed by a trusted authority: trust its CA ({option})"),
    }
}

/// The sentence for a signature that does not verify: on the certificate (the verifier
/// noted it), or on the handshake (it did not: the certificate itself was accepted).
fn bad_signature(refused: &Refused<'_>, whose: &str) -> String {
    match refused.names {
        Some(names) if !names.issuer.is_empty() => format!(
            "{whose} has a signature that does not verify with the key of {}, the CA it names \
             as its issuer: it is forged or corrupted, or two CAs share that name",
            names.issuer
        ),
        Some(_) => format!(
            "{whose} has a signature that does not verify with its issuer's key: it is forged \
             or corrupted"
        ),
        None => format!(
            "the handshake signature does not verify with the key of {whose}: {} does not \
             hold the private key of the certificate it sent",
            refused.peer()
        ),
    }
}

/// The sentences for webpki's refusals that rustls does not name.
fn describe_webpki(err: &webpki::Error, refused: &Refused<'_>, whose: &str) -> String {
    use webpki::Error as E;
    let peer = refused.peer();
    match err {
        E::CaUsedAsEndEntity => format!(
            "{whose} is a CA certificate (CA:TRUE), not {peer}'s own: to accept it, trust \
             exactly this certificate ({}); or give {peer} a certificate with CA:FALSE",
            refused.trust_option()
        ),
        E::EndEntityUsedAsCa => format!(
            "{whose} was issued by a certificate that is not a CA (CA:FALSE): {peer} must send \
             a chain of CA certificates"
        ),
        E::PathLenConstraintViolated => format!(
            "{whose} has more intermediate CAs above it than one of its CAs allows \
             (path length constraint)"
        ),
        E::NameConstraintViolation => {
            format!("{whose} names a host its CA may not certify (name constraints)")
        }
        E::MaximumPathDepthExceeded => format!("the chain of {whose} is too long to verify"),
        E::MaximumSignatureChecksExceeded
        | E::MaximumPathBuildCallsExceeded
        | E::MaximumNameConstraintComparisonsExceeded => {
            format!("the chain of {whose} takes too much work to verify: too many candidate CAs")
        }
        E::UnsupportedCertVersion => format!("{whose} is not an X.509 version 3 certificate"),
        E::UnsupportedCriticalExtension => format!(
            "{whose} has a critical extension we do not understand, so it cannot be accepted"
        ),
        E::CertDistrusted => format!("{whose} chains to a CA that is distrusted"),
        E::EmptyEkuExtension => {
            format!("{whose} has an empty extended key usage extension, which allows no use at all")
        }
        E::UnsupportedNameType => {
            format!("{whose} cannot be checked against this kind of server name")
        }
        E::SignatureAlgorithmMismatch => {
            format!("{whose} is malformed: it names two different signature algorithms")
        }
        E::BadDer
        | E::BadDerTime
        | E::TrailingData(_)
        | E::MalformedExtensions
        | E::ExtensionValueInvalid
        | E::InvalidSerialNumber
        | E::MalformedDnsIdentifier
        | E::MalformedNameConstraint
        | E::InvalidNetworkMaskConstraint
        | E::InvalidCertValidity => {
            format!("{whose} is malformed: its encoding or one of its extensions is invalid")
        }
        _ => format!("{whose} was refused by the certificate verifier"),
    }
}

/// A name as the certificate gives it: rustls passes webpki's names on in their Debug form,
/// `DnsName("example.com")` or `IpAddress(192.0.2.1)`; this unwraps them.
fn presented_name(debug: &str) -> &str {
    let inner = match debug.split_once('(') {
        Some((kind, rest))
            if kind.chars().all(|c| c.is_ascii_alphabetic()) && rest.ends_with(')') =>
        {
            &rest[..rest.len() - 1]
        }
        _ => debug,
    };
    inner
        .strip_prefix('"')
        .and_then(|quoted| quoted.strip_suffix('"'))
        .unwrap_or(inner)
}

/// An extended key usage, in words.
fn purpose(purpose: &ExtendedKeyPurpose) -> String {
    match purpose {
        ExtendedKeyPurpose::ServerAuth => "TLS servers (serverAuth)".into(),
        ExtendedKeyPurpose::ClientAuth => "TLS clients (clientAuth)".into(),
        ExtendedKeyPurpose::Other(arcs) => format!(
            "the purpose {}",
            arcs.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(".")
        ),
    }
}

/// `YYYY-MM-DD` (UTC).
fn utc_date(time: UnixTime) -> String {
    crate::context::utc_date(time.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The refusals no test connection provokes (no revocation lists, OCSP or application
    /// checks are configured) read as sentences too, for both roles.
    #[test]
    fn refusals_without_a_connection_to_provoke_them_are_sentences() {
        use std::sync::Arc;
        let date = UnixTime::since_unix_epoch(std::time::Duration::from_secs(978_307_200));
        let webpki_other =
            |e: webpki::Error| CertificateError::Other(rustls::OtherError(Arc::new(e)));
        #[allow(deprecated)]
        let refusals = [
            CertificateError::Revoked,
            CertificateError::UnknownRevocationStatus,
            CertificateError::ExpiredRevocationList,
            CertificateError::ExpiredRevocationListContext {
                time: date,
                next_update: date,
            },
            CertificateError::BadEncoding,
            CertificateError::UnhandledCriticalExtension,
            CertificateError::UnsupportedSignatureAlgorithm,
            CertificateError::InvalidPurpose,
            CertificateError::InvalidOcspResponse,
            CertificateError::ApplicationVerificationFailure,
            CertificateError::Expired,
            CertificateError::NotValidYet,
            CertificateError::NotValidForName,
            CertificateError::BadSignature,
            webpki_other(webpki::Error::CertDistrusted),
            webpki_other(webpki::Error::MaximumPathDepthExceeded),
            webpki_other(webpki::Error::UnsupportedCertVersion),
            webpki_other(webpki::Error::EmptyEkuExtension),
            webpki_other(webpki::Error::MalformedExtensions),
            webpki_other(webpki::Error::UnsupportedCrlVersion),
            CertificateError::Other(rustls::OtherError(Arc::new(std::io::Error::other(
                "the policy server said no",
            )))),
        ];
        let names = CertNames {
            subject: "CN=alice".into(),
            issuer: "CN=Example CA".into(),
            self_issued: false,
            ca_in_chain: false,
        };
        for of_server in [true, false] {
            let refused = Refused {
                of_server,
                server_name: of_server.then_some("example.com"),
                names: Some(&names),
            };
            let whose = match of_server {
                true => "the server's certificate for example.com",
                false => "the client's certificate (CN=alice)",
            };
            for err in &refusals {
                let sentence = describe(err, &refused);
                assert!(sentence.contains(whose), "{err:?}: {sentence}");
                assert!(
                    !sentence.contains('{')
                        && !sentence.contains("Other(")
                        && !sentence.contains("Error"),
                    "{err:?}: {sentence}"
                );
            }
        }
    }

    #[test]
    fn presented_names_lose_their_debug_wrapping() {
        assert_eq!(presented_name("DnsName(\"a.example\")"), "a.example");
        assert_eq!(presented_name("IpAddress(192.0.2.1)"), "192.0.2.1");
        assert_eq!(presented_name("IpAddress(::1)"), "::1");
        assert_eq!(presented_name("plain.example"), "plain.example");
    }
}
