//! DSSE v1 pre-authentication encoding (PAE), the bytes a DSSE signature covers
//! (<https://github.com/secure-systems-lab/dsse/blob/v1.0.0/protocol.md>):
//!
//! ```text
//! PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
//! ```
//!
//! with lengths as ASCII decimal byte counts. Written by hand because it is one line of
//! formatting; checked against the DSSE spec's example and, through the upstream
//! model-signing fixtures, against signatures made by the Python implementation.

/// The payload type of an in-toto statement in a DSSE envelope.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// `PAE(payload_type, payload)`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let header = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    );
    let mut out = Vec::with_capacity(header.len() + payload.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in the DSSE v1.0.0 protocol document ("Test vectors").
    #[test]
    fn dsse_spec_example() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn lengths_are_bytes_not_chars() {
        let p = pae("t", "é".as_bytes());
        assert_eq!(p, b"DSSEv1 1 t 2 \xc3\xa9".to_vec());
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }
}
