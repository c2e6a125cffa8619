//! The on-disk record batch: `[u32 body length][u32 CRC32C of body][body]`, little-endian, where the
//! body is `[u64 base offset][u32 record count]` followed by the records, each
//! `[i64 timestamp ms][i32 key length, -1 = null][key][u32 value length][value]
//! [u16 header count]([u16 name length][name][i32 value length, -1 = null][value])*`.

use bytes::{Buf, Bytes};

use crate::log::{Header, Record, StoredRecord};

/// Bytes before the body: length and CRC.
pub const HEADER_LEN: usize = 8;
/// Bytes of the body before the records: base offset and count.
pub const BODY_PREFIX: usize = 12;
/// Largest body written in one batch; bigger appends are split.
pub const MAX_BODY: usize = 64 << 20;

/// Size a record takes in a batch body.
pub fn record_size(r: &Record) -> usize {
    8 + 4
        + r.key.as_ref().map_or(0, Bytes::len)
        + 4
        + r.value.len()
        + 2
        + r.headers.iter().map(|h| 2 + h.name.len() + 4 + h.value.as_ref().map_or(0, Bytes::len)).sum::<usize>()
}

/// Encodes `records` as one batch starting at `base_offset` into `out` (cleared first).
pub fn encode(base_offset: i64, records: &[Record], now_ms: i64, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&[0u8; HEADER_LEN]);
    out.extend_from_slice(&(base_offset as u64).to_le_bytes());
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    for r in records {
        out.extend_from_slice(&r.timestamp_ms.unwrap_or(now_ms).to_le_bytes());
        match &r.key {
            Some(k) => {
                out.extend_from_slice(&(k.len() as i32).to_le_bytes());
                out.extend_from_slice(k);
            }
            None => out.extend_from_slice(&(-1i32).to_le_bytes()),
        }
        out.extend_from_slice(&(r.value.len() as u32).to_le_bytes());
        out.extend_from_slice(&r.value);
        out.extend_from_slice(&(r.headers.len() as u16).to_le_bytes());
        for h in &r.headers {
            out.extend_from_slice(&(h.name.len() as u16).to_le_bytes());
            out.extend_from_slice(h.name.as_bytes());
            match &h.value {
                Some(v) => {
                    out.extend_from_slice(&(v.len() as i32).to_le_bytes());
                    out.extend_from_slice(v);
                }
                None => out.extend_from_slice(&(-1i32).to_le_bytes()),
            }
        }
    }
    let body_len = (out.len() - HEADER_LEN) as u32;
    let crc = crc32c::crc32c(&out[HEADER_LEN..]);
    out[0..4].copy_from_slice(&body_len.to_le_bytes());
    out[4..8].copy_from_slice(&crc.to_le_bytes());
}

/// The fixed part of a batch: what a scan needs without parsing records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Length of the body.
    pub body_len: u32,
    /// CRC32C of the body.
    pub crc: u32,
}

impl BatchHeader {
    /// Reads a header from 8 bytes.
    pub fn parse(b: &[u8; HEADER_LEN]) -> BatchHeader {
        BatchHeader {
            body_len: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            crc: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
    /// Total bytes of the batch on disk.
    pub fn total_len(&self) -> u64 {
        HEADER_LEN as u64 + u64::from(self.body_len)
    }
}

/// Base offset and record count of a verified body.
pub fn body_prefix(body: &[u8]) -> Option<(i64, u32)> {
    if body.len() < BODY_PREFIX {
        return None;
    }
    let base = u64::from_le_bytes(body[0..8].try_into().ok()?) as i64;
    let count = u32::from_le_bytes(body[8..12].try_into().ok()?);
    Some((base, count))
}

/// Parses a verified body into records with offset ≥ `from`, at most `max`, appending to `out`.
/// Key, value and header values are zero-copy slices of `body`.
pub fn decode(
    topic: &std::sync::Arc<str>,
    partition: u32,
    body: Bytes,
    from: i64,
    max: usize,
    out: &mut Vec<StoredRecord>,
) -> Result<(), String> {
    let (base, count) = body_prefix(&body).ok_or("body shorter than its prefix")?;
    let mut cur = body.slice(BODY_PREFIX..);
    let need = |cur: &Bytes, n: usize, what: &str| {
        if cur.remaining() < n { Err(format!("record truncated reading {what}")) } else { Ok(()) }
    };
    for i in 0..count {
        if out.len() >= max {
            break;
        }
        need(&cur, 12, "timestamp and key length")?;
        let timestamp_ms = cur.get_i64_le();
        let key_len = cur.get_i32_le();
        let key = if key_len < 0 {
            None
        } else {
            need(&cur, key_len as usize, "key")?;
            Some(cur.split_to(key_len as usize))
        };
        need(&cur, 4, "value length")?;
        let value_len = cur.get_u32_le() as usize;
        need(&cur, value_len, "value")?;
        let value = cur.split_to(value_len);
        need(&cur, 2, "header count")?;
        let header_count = cur.get_u16_le();
        let mut headers = Vec::with_capacity(usize::from(header_count).min(16));
        for _ in 0..header_count {
            need(&cur, 2, "header name length")?;
            let name_len = usize::from(cur.get_u16_le());
            need(&cur, name_len, "header name")?;
            let name = String::from_utf8(cur.split_to(name_len).to_vec()).map_err(|_| "header name is not UTF-8")?;
            need(&cur, 4, "header value length")?;
            let vlen = cur.get_i32_le();
            let value = if vlen < 0 {
                None
            } else {
                need(&cur, vlen as usize, "header value")?;
                Some(cur.split_to(vlen as usize))
            };
            headers.push(Header { name, value });
        }
        let offset = base + i64::from(i);
        if offset >= from {
            out.push(StoredRecord { topic: topic.clone(), partition, offset, timestamp_ms, key, value, headers });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes() {
        let records = vec![
            Record::new(Some(Bytes::from_static(b"k")), Bytes::from_static(b"v")),
            Record {
                key: None,
                value: Bytes::from_static(b""),
                timestamp_ms: Some(42),
                headers: vec![Header { name: "h".into(), value: None }],
            },
        ];
        let mut buf = Vec::new();
        encode(7, &records, 1000, &mut buf);
        assert_eq!(buf.len(), HEADER_LEN + BODY_PREFIX + records.iter().map(record_size).sum::<usize>());
        let header = BatchHeader::parse(buf[..8].try_into().expect("8"));
        assert_eq!(header.total_len() as usize, buf.len());
        assert_eq!(header.crc, crc32c::crc32c(&buf[8..]));
        let topic: std::sync::Arc<str> = "t".into();
        let mut out = Vec::new();
        decode(&topic, 0, Bytes::copy_from_slice(&buf[8..]), 0, 10, &mut out).expect("decode");
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].offset, 7);
        assert_eq!(out[0].timestamp_ms, 1000);
        assert_eq!(out[1].timestamp_ms, 42);
        assert_eq!(out[1].key, None);
        assert_eq!(out[1].headers, records[1].headers);
        let mut tail = Vec::new();
        decode(&topic, 0, Bytes::copy_from_slice(&buf[8..]), 8, 10, &mut tail).expect("decode");
        assert_eq!(tail.len(), 1);
        assert!(decode(&topic, 0, Bytes::copy_from_slice(&buf[8..buf.len() - 1]), 0, 10, &mut Vec::new()).is_err());
    }
}
