//! SPIFFE IDs: parsing and validation as the SPIFFE ID specification requires.
//!
//! A SPIFFE ID is `spiffe://<trust domain>/<path>`. The trust domain is lower-case
//! letters, digits, `.`, `-` and `_`; the path is non-empty here (a workload, not a
//! trust domain), made of segments of letters, digits, `.`, `-` and `_`, with no empty,
//! `.` or `..` segment. No query, fragment, port or userinfo; at most 2048 bytes.
//! The `spiffe` crate's ID type pulls in its gRPC Workload API client; this parser is the
//! few lines the gateway needs, checked against the spec's rules in tests.

use std::fmt;

/// A validated SPIFFE ID of a workload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpiffeId {
    trust_domain: String,
    path: String,
}

/// Why a URI is not an acceptable SPIFFE ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpiffeIdError {
    /// Longer than 2048 bytes.
    #[error("SPIFFE ID longer than 2048 bytes")]
    TooLong,
    /// Scheme is not `spiffe`.
    #[error("scheme is not spiffe")]
    Scheme,
    /// Bad trust domain.
    #[error("invalid trust domain")]
    TrustDomain,
    /// Missing or bad path.
    #[error("invalid path")]
    Path,
    /// Query, fragment, port or userinfo present.
    #[error("query, fragment, port or userinfo not allowed")]
    Extra,
}

impl SpiffeId {
    /// Parses and validates.
    pub fn parse(uri: &str) -> Result<Self, SpiffeIdError> {
        if uri.len() > 2048 {
            return Err(SpiffeIdError::TooLong);
        }
        let rest = uri.strip_prefix("spiffe://").ok_or(SpiffeIdError::Scheme)?;
        if rest.contains(['?', '#']) {
            return Err(SpiffeIdError::Extra);
        }
        let (td, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if td.contains(['@', ':']) {
            return Err(SpiffeIdError::Extra);
        }
        if td.is_empty()
            || !td.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
            })
        {
            return Err(SpiffeIdError::TrustDomain);
        }
        if path.is_empty() {
            return Err(SpiffeIdError::Path);
        }
        for seg in path[1..].split('/') {
            if seg.is_empty()
                || seg == "."
                || seg == ".."
                || !seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
            {
                return Err(SpiffeIdError::Path);
            }
        }
        Ok(Self {
            trust_domain: td.to_string(),
            path: path.to_string(),
        })
    }

    /// The trust domain, e.g. `example.org`.
    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// The path, e.g. `/ns/prod/sa/summarizer`.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "spiffe://{}{}", self.trust_domain, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_ids() {
        let id = SpiffeId::parse("spiffe://example.org/ns/prod/sa/summarizer").unwrap();
        assert_eq!(id.trust_domain(), "example.org");
        assert_eq!(id.path(), "/ns/prod/sa/summarizer");
        assert_eq!(id.to_string(), "spiffe://example.org/ns/prod/sa/summarizer");
    }

    #[test]
    fn rejects_what_the_spec_forbids() {
        for (uri, want) in [
            ("https://example.org/x", SpiffeIdError::Scheme),
            ("SPIFFE://example.org/x", SpiffeIdError::Scheme),
            ("spiffe://example.org", SpiffeIdError::Path),
            ("spiffe://example.org/", SpiffeIdError::Path),
            ("spiffe://example.org/a//b", SpiffeIdError::Path),
            ("spiffe://example.org/a/../b", SpiffeIdError::Path),
            ("spiffe://example.org/a/./b", SpiffeIdError::Path),
            ("spiffe://example.org/a%20b", SpiffeIdError::Path),
            ("spiffe://Example.org/x", SpiffeIdError::TrustDomain),
            ("spiffe:///x", SpiffeIdError::TrustDomain),
            ("spiffe://example.org:443/x", SpiffeIdError::Extra),
            ("spiffe://user@example.org/x", SpiffeIdError::Extra),
            ("spiffe://example.org/x?q=1", SpiffeIdError::Extra),
            ("spiffe://example.org/x#f", SpiffeIdError::Extra),
        ] {
            assert_eq!(SpiffeId::parse(uri), Err(want), "{uri}");
        }
        let long = format!("spiffe://example.org/{}", "a".repeat(2048));
        assert_eq!(SpiffeId::parse(&long), Err(SpiffeIdError::TooLong));
    }
}
