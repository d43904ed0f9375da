//! Tracks TLS record boundaries in the ciphertext we receive, without copying it.
//!
//! Normally the engine reads as much ciphertext as the transport has. During a clean
//! close it must not read past the record that carries the peer's `close_notify`: the bytes
//! after it belong to whatever protocol the caller goes back to (STARTTLS and friends), and
//! rustls would swallow them. Knowing where the current record ends lets the reader stop
//! exactly there.

/// The length of a TLS record header.
pub(crate) const HEADER_LEN: usize = 5;

/// Position within the stream of TLS records: in a header or in a body.
#[derive(Debug, Default, Clone)]
pub(crate) struct RecordFraming {
    header: [u8; 5],
    header_len: usize,
    body_left: usize,
}

impl RecordFraming {
    /// Notes bytes that passed from the transport to rustls.
    pub(crate) fn observe(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let n = self.body_left.min(bytes.len());
                self.body_left -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (5 - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
            self.header_len += n;
            bytes = &bytes[n..];
            if self.header_len == 5 {
                self.body_left = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                self.header_len = 0;
            }
        }
    }

    /// True inside a record's body (its header complete).
    pub(crate) fn in_body(&self) -> bool {
        self.body_left > 0
    }

    /// How many bytes can be read without going past the end of the current record
    /// (or of the next header, at a boundary).
    pub(crate) fn left_in_record(&self) -> usize {
        if self.body_left > 0 {
            self.body_left
        } else {
            5 - self.header_len
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_headers_and_bodies_split_anywhere() {
        let mut records = vec![23, 3, 3, 0, 3, b'a', b'b', b'c'];
        records.extend_from_slice(&[21, 3, 3, 0, 2, 1, 0]);
        for split in 0..records.len() {
            let mut framing = RecordFraming::default();
            framing.observe(&records[..split]);
            framing.observe(&records[split..]);
            assert_eq!(framing.left_in_record(), 5, "split at {split}");
        }
        let mut framing = RecordFraming::default();
        framing.observe(&records[..6]);
        assert_eq!(framing.left_in_record(), 2);
        framing.observe(&records[6..9]);
        assert_eq!(framing.left_in_record(), 4);
    }
}
