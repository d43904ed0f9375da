//! Protocol versions and the range a connection may negotiate.

use std::fmt;

use crate::error::Error;

/// A TLS protocol version, as Pike's `SSL.Constants.ProtocolVersion` names them.
///
/// Only TLS 1.2 and TLS 1.3 can be used. The older ones exist so that a request for them
/// (e.g. ported from Pike's `PROTOCOL_SSL_3_0` default) is refused with a clear message
/// rather than a type error: they are deprecated by RFC 8996 (and RFC 7568 for SSL 3.0),
/// and rustls does not implement them.
///
/// ```
/// use sslfile::{Context, TlsVersion};
/// let err = Context::builder().versions(TlsVersion::Tls1_0, TlsVersion::Tls1_3).unwrap_err();
/// assert!(err.to_string().contains("TLS 1.0 is refused"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum TlsVersion {
    /// SSL 3.0 — refused.
    Ssl3_0,
    /// TLS 1.0 — refused.
    Tls1_0,
    /// TLS 1.1 — refused.
    Tls1_1,
    /// TLS 1.2 (RFC 5246), the minimum.
    Tls1_2,
    /// TLS 1.3 (RFC 8446).
    Tls1_3,
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsVersion::Ssl3_0 => "SSL 3.0",
            TlsVersion::Tls1_0 => "TLS 1.0",
            TlsVersion::Tls1_1 => "TLS 1.1",
            TlsVersion::Tls1_2 => "TLS 1.2",
            TlsVersion::Tls1_3 => "TLS 1.3",
        })
    }
}

impl TlsVersion {
    pub(crate) fn from_rustls(v: rustls::ProtocolVersion) -> Option<TlsVersion> {
        match v {
            rustls::ProtocolVersion::TLSv1_2 => Some(TlsVersion::Tls1_2),
            rustls::ProtocolVersion::TLSv1_3 => Some(TlsVersion::Tls1_3),
            _ => None,
        }
    }
}

/// A validated, non-empty range of usable versions: TLS 1.2 only, TLS 1.3 only, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct VersionRange {
    pub(crate) min: TlsVersion,
    pub(crate) max: TlsVersion,
}

impl Default for VersionRange {
    fn default() -> Self {
        VersionRange {
            min: TlsVersion::Tls1_2,
            max: TlsVersion::Tls1_3,
        }
    }
}

impl VersionRange {
    /// Checks a requested range: no version below TLS 1.2, not empty.
    pub(crate) fn new(min: TlsVersion, max: TlsVersion) -> Result<VersionRange, Error> {
        for v in [min, max] {
            if v < TlsVersion::Tls1_2 {
                return Err(Error::Config(format!(
                    "{v} is refused: it is deprecated (RFC 8996) and not implemented; \
                     use TLS 1.2 or TLS 1.3"
                )));
            }
        }
        if min > max {
            return Err(Error::Config(format!(
                "the version range {min} to {max} is empty (minimum above maximum)"
            )));
        }
        Ok(VersionRange { min, max })
    }

    /// A small index for caching one rustls configuration per range.
    pub(crate) fn index(self) -> usize {
        match (self.min, self.max) {
            (TlsVersion::Tls1_2, TlsVersion::Tls1_2) => 0,
            (TlsVersion::Tls1_3, TlsVersion::Tls1_3) => 1,
            _ => 2,
        }
    }

    /// The rustls version list for this range.
    pub(crate) fn rustls_versions(self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        static TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
        static TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
        static BOTH: &[&rustls::SupportedProtocolVersion] =
            &[&rustls::version::TLS13, &rustls::version::TLS12];
        match self.index() {
            0 => TLS12,
            1 => TLS13,
            _ => BOTH,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_versions_are_refused_with_their_name() {
        for old in [TlsVersion::Ssl3_0, TlsVersion::Tls1_0, TlsVersion::Tls1_1] {
            let err = VersionRange::new(old, TlsVersion::Tls1_3).unwrap_err();
            assert!(
                err.to_string().contains(&format!("{old} is refused")),
                "{err}"
            );
        }
    }

    #[test]
    fn an_empty_range_is_an_error() {
        let err = VersionRange::new(TlsVersion::Tls1_3, TlsVersion::Tls1_2).unwrap_err();
        assert!(err.to_string().contains("empty"));
    }

    #[test]
    fn ranges_map_to_rustls_versions() {
        let both = VersionRange::default();
        assert_eq!(both.rustls_versions().len(), 2);
        let only13 = VersionRange::new(TlsVersion::Tls1_3, TlsVersion::Tls1_3).unwrap();
        assert_eq!(
            only13.rustls_versions()[0].version,
            rustls::ProtocolVersion::TLSv1_3
        );
    }
}
