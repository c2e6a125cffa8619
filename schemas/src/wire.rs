//! The Confluent wire format: magic byte `0`, the schema id as 4 big-endian bytes, then the Avro
//! binary body. Any Kafka tool that knows the format (kcat, Kafka Connect, ksqlDB, …) can read it.

/// The magic byte of the Confluent wire format.
pub const MAGIC: u8 = 0;
/// Length of the header before the Avro body.
pub const HEADER_LEN: usize = 5;

/// Errors reading the Confluent framing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// No bytes at all.
    #[error("empty record value (expected a Confluent-framed Avro event)")]
    Empty,
    /// The first byte is not the magic byte.
    #[error("not Confluent-framed: first byte is {0:#04x}, expected 0x00")]
    BadMagic(u8),
    /// Fewer than 5 bytes.
    #[error("Confluent header truncated: {0} byte(s), need 5")]
    ShortHeader(usize),
}

/// Appends the header for `schema_id` and then `body` to `out`.
pub fn frame(schema_id: u32, body: &[u8], out: &mut Vec<u8>) {
    out.reserve(HEADER_LEN + body.len());
    write_header(schema_id, out);
    out.extend_from_slice(body);
}

/// Appends just the 5-byte header.
#[inline]
pub fn write_header(schema_id: u32, out: &mut Vec<u8>) {
    out.push(MAGIC);
    out.extend_from_slice(&schema_id.to_be_bytes());
}

/// Splits a framed value into its schema id and Avro body.
pub fn unframe(bytes: &[u8]) -> Result<(u32, &[u8]), WireError> {
    match bytes {
        [] => Err(WireError::Empty),
        [m, ..] if *m != MAGIC => Err(WireError::BadMagic(*m)),
        [_, a, b, c, d, body @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), body)),
        short => Err(WireError::ShortHeader(short.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_unframes() {
        let mut out = Vec::new();
        frame(0x0102_0304, b"body", &mut out);
        assert_eq!(out, b"\x00\x01\x02\x03\x04body");
        assert_eq!(unframe(&out), Ok((0x0102_0304, &b"body"[..])));
        assert_eq!(unframe(b""), Err(WireError::Empty));
        assert_eq!(unframe(b"{\"a\":1}"), Err(WireError::BadMagic(b'{')));
        assert_eq!(unframe(b"\x00\x01"), Err(WireError::ShortHeader(2)));
        assert_eq!(unframe(b"\x00\x00\x00\x00\x07"), Ok((7, &b""[..])));
    }
}
