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
    /// The body length of the last record whose header was seen: the guess for the next.
    last_body: usize,
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
                self.last_body = self.body_left;
                self.header_len = 0;
            }
        }
    }

    /// How much to ask the transport for, for one aligned read: the rest of the current
    /// record and the next header, guessing (at a record boundary) that the next record
    /// is as long as the last one.
    pub(crate) fn aligned_read_len(&self) -> usize {
        if self.body_left > 0 {
            self.body_left + HEADER_LEN
        } else {
            (HEADER_LEN - self.header_len) + self.last_body.max(1024) + HEADER_LEN
        }
    }

    /// Of `bytes` (the next ones from the transport), how many an aligned read may take:
    /// up to the end of the first record they complete plus at most the next header; and
    /// where that record ends, if they complete one.
    pub(crate) fn aligned_prefix(&self, bytes: &[u8]) -> (usize, Option<usize>) {
        let mut probe = self.clone();
        let mut pos = 0;
        while pos < bytes.len() {
            let in_body = probe.body_left > 0;
            let n = probe.left_in_record().min(bytes.len() - pos);
            probe.observe(&bytes[pos..pos + n]);
            pos += n;
            let completed = if in_body {
                probe.body_left == 0
            } else {
                probe.header_len == 0 && probe.body_left == 0
            };
            if completed {
                return ((pos + HEADER_LEN).min(bytes.len()), Some(pos));
            }
        }
        (bytes.len(), None)
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

    #[test]
    fn an_aligned_prefix_ends_one_header_past_the_first_record_completed() {
        let mut records = vec![23, 3, 3, 0, 3, b'a', b'b', b'c'];
        records.extend_from_slice(&[21, 3, 3, 0, 2, 1, 0]);
        records.extend_from_slice(b"plain text after TLS");
        let fresh = RecordFraming::default();
        assert_eq!(fresh.aligned_prefix(&records), (13, Some(8)));
        assert_eq!(fresh.aligned_prefix(&records[..6]), (6, None));
        let mut second = RecordFraming::default();
        second.observe(&records[..8]);
        assert_eq!(second.aligned_prefix(&records[8..]), (12, Some(7)));
        assert_eq!(second.aligned_read_len(), 5 + 1024 + 5);
        let mut in_body = RecordFraming::default();
        in_body.observe(&records[..6]);
        assert_eq!(in_body.aligned_read_len(), 2 + 5);
        assert_eq!(in_body.aligned_prefix(&records[6..]), (7, Some(2)));
        // A zero-length record completes at the end of its header.
        assert_eq!(
            fresh.aligned_prefix(&[23, 3, 3, 0, 0, 9, 9, 9, 9, 9, 9]),
            (10, Some(5))
        );
    }
}
