//! The on-disk record batch: `[u32 body length][u32 CRC32C of body][body]`, little-endian, where the
//! body is `[u64 base offset][u32 record count]` followed by the records, each
//! `[i64 timestamp ms][i32 key length, -1 = null][key][u32 value length][value]
//! [u16 header count]([u16 name length][name][i32 value length, -1 = null][value])*`.

use std::ops::{ControlFlow, Range};
use std::sync::Arc;

use bytes::Bytes;

use crate::log::{Header, Record, RecordView, StoredRecord};

/// Bytes before the body: length and CRC.
pub(super) const HEADER_LEN: usize = 8;
/// Bytes of the body before the records: base offset and count.
pub(super) const BODY_PREFIX: usize = 12;
/// The fewest bytes a record takes in a body: timestamp, key length, value length, header count.
pub(super) const MIN_RECORD: usize = 8 + 4 + 4 + 2;
/// Largest body written in one batch; bigger appends are split (a single bigger record goes alone).
pub(super) const MAX_BODY: usize = 64 << 20;

/// Size a record takes in a batch body.
pub(super) fn record_size(r: &Record) -> usize {
    8 + 4
        + r.key.as_ref().map_or(0, Bytes::len)
        + 4
        + r.value.len()
        + 2
        + r.headers.iter().map(|h| 2 + h.name.len() + 4 + h.value.as_ref().map_or(0, Bytes::len)).sum::<usize>()
}

/// Refuses a record the format cannot represent (instead of writing a batch that fails to decode).
pub(super) fn check_record(r: &Record) -> Result<(), String> {
    let i32_max = i32::MAX as usize;
    if r.key.as_ref().is_some_and(|k| k.len() > i32_max) {
        return Err("record key longer than 2 GiB".into());
    }
    if r.headers.len() > usize::from(u16::MAX) {
        return Err(format!("record has {} headers (at most {})", r.headers.len(), u16::MAX));
    }
    for h in &r.headers {
        if h.name.len() > usize::from(u16::MAX) {
            return Err(format!("header name of {} bytes (at most {})", h.name.len(), u16::MAX));
        }
        if h.value.as_ref().is_some_and(|v| v.len() > i32_max) {
            return Err("header value longer than 2 GiB".into());
        }
    }
    if record_size(r) + BODY_PREFIX > u32::MAX as usize {
        return Err("record larger than 4 GiB".into());
    }
    Ok(())
}

/// Encodes `records` as one batch starting at `base_offset` into `out` (cleared first). Records
/// must have passed [`check_record`].
pub(super) fn encode(base_offset: i64, records: &[Record], now_ms: i64, out: &mut Vec<u8>) {
    out.clear();
    out.reserve(HEADER_LEN + BODY_PREFIX + records.iter().map(record_size).sum::<usize>());
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
pub(super) struct BatchHeader {
    /// Length of the body.
    pub body_len: u32,
    /// CRC32C of the body.
    pub crc: u32,
}

impl BatchHeader {
    /// Reads a header from its 8 bytes.
    pub(super) fn parse(b: &[u8; HEADER_LEN]) -> BatchHeader {
        BatchHeader {
            body_len: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            crc: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
    /// Total bytes of the batch on disk.
    pub(super) fn total_len(&self) -> u64 {
        HEADER_LEN as u64 + u64::from(self.body_len)
    }
}

/// Base offset and record count from the first [`BODY_PREFIX`] bytes of a body.
pub(super) fn body_prefix(body: &[u8]) -> Option<(i64, u32)> {
    let base = u64::from_le_bytes(body.get(0..8)?.try_into().ok()?) as i64;
    let count = u32::from_le_bytes(body.get(8..12)?.try_into().ok()?);
    Some((base, count))
}

/// A bounds-checked reader over a body; yields ranges so callers slice the body without copying.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize, what: &str) -> Result<Range<usize>, String> {
        if self.buf.len() - self.pos < n {
            return Err(format!("record truncated reading {what} at body byte {}", self.pos));
        }
        self.pos += n;
        Ok(self.pos - n..self.pos)
    }
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let r = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(&self.buf[r]);
        Ok(a)
    }
    /// A length-prefixed field whose length is an `i32` with -1 meaning null.
    fn nullable(&mut self, what: &str) -> Result<Option<Range<usize>>, String> {
        match i32::from_le_bytes(self.array(what)?) {
            -1 => Ok(None),
            n if n < 0 => Err(format!("negative {what} {n}")),
            n => self.take(n as usize, what).map(Some),
        }
    }
}

/// One record's fields as ranges of the body.
struct RawRecord {
    timestamp_ms: i64,
    key: Option<Range<usize>>,
    value: Range<usize>,
    headers: u16,
}

fn raw_record(cur: &mut Cursor<'_>) -> Result<RawRecord, String> {
    let timestamp_ms = i64::from_le_bytes(cur.array("timestamp")?);
    let key = cur.nullable("key length")?;
    let value_len = u32::from_le_bytes(cur.array("value length")?) as usize;
    let value = cur.take(value_len, "value")?;
    let headers = u16::from_le_bytes(cur.array("header count")?);
    Ok(RawRecord { timestamp_ms, key, value, headers })
}

fn raw_header(cur: &mut Cursor<'_>) -> Result<(Range<usize>, Option<Range<usize>>), String> {
    let name_len = usize::from(u16::from_le_bytes(cur.array("header name length")?));
    let name = cur.take(name_len, "header name")?;
    Ok((name, cur.nullable("header value length")?))
}

/// Checks the structure of a body (record framing, header names, no trailing bytes) without
/// allocating; returns base offset and record count.
pub(super) fn validate(body: &[u8]) -> Result<(i64, u32), String> {
    let (base, count) = body_prefix(body).ok_or("body shorter than its prefix")?;
    if base < 0 || base.checked_add(i64::from(count)).is_none() {
        return Err(format!("implausible base offset {base}"));
    }
    let mut cur = Cursor { buf: body, pos: BODY_PREFIX };
    for _ in 0..count {
        let r = raw_record(&mut cur)?;
        for _ in 0..r.headers {
            let (name, _) = raw_header(&mut cur)?;
            std::str::from_utf8(&body[name]).map_err(|_| "header name is not UTF-8")?;
        }
    }
    if cur.pos != body.len() {
        return Err(format!("{} trailing bytes after {count} records", body.len() - cur.pos));
    }
    Ok((base, count))
}

/// Parses a checksum-verified body into records with offset ≥ `from`, until `out` holds `max`
/// records. Records before `from` are skipped without allocating; key, value and header values are
/// zero-copy slices of `body`.
pub(super) fn decode(
    topic: &Arc<str>,
    partition: u32,
    body: &Bytes,
    from: i64,
    max: usize,
    out: &mut Vec<StoredRecord>,
) -> Result<(), String> {
    let (base, count) = body_prefix(body).ok_or("body shorter than its prefix")?;
    let mut cur = Cursor { buf: body, pos: BODY_PREFIX };
    for i in 0..count {
        if out.len() >= max {
            break;
        }
        let offset = base + i64::from(i);
        let r = raw_record(&mut cur)?;
        if offset < from {
            for _ in 0..r.headers {
                raw_header(&mut cur)?;
            }
            continue;
        }
        let mut headers = Vec::with_capacity(usize::from(r.headers));
        for _ in 0..r.headers {
            let (name, value) = raw_header(&mut cur)?;
            let name = std::str::from_utf8(&body[name]).map_err(|_| "header name is not UTF-8")?.to_owned();
            headers.push(Header { name, value: value.map(|v| body.slice(v)) });
        }
        out.push(StoredRecord {
            topic: topic.clone(),
            partition,
            offset,
            timestamp_ms: r.timestamp_ms,
            key: r.key.map(|k| body.slice(k)),
            value: body.slice(r.value),
            headers,
        });
    }
    Ok(())
}

/// Visits the records of a checksum-verified body with offsets in `from..until`, borrowed from
/// `body`; returns whether `visit` broke, and the offset after the last record visited (if any).
pub(super) fn visit(
    body: &[u8],
    from: i64,
    until: i64,
    visit: &mut crate::log::ScanVisitor<'_>,
) -> Result<(ControlFlow<()>, Option<i64>), String> {
    let (base, count) = body_prefix(body).ok_or("body shorter than its prefix")?;
    let mut cur = Cursor { buf: body, pos: BODY_PREFIX };
    let mut next = None;
    for i in 0..count {
        let offset = base + i64::from(i);
        if offset >= until {
            break;
        }
        let r = raw_record(&mut cur)?;
        for _ in 0..r.headers {
            raw_header(&mut cur)?;
        }
        if offset < from {
            continue;
        }
        next = Some(offset + 1);
        let view =
            RecordView { offset, timestamp_ms: r.timestamp_ms, key: r.key.map(|k| &body[k]), value: &body[r.value] };
        if visit(view).is_break() {
            return Ok((ControlFlow::Break(()), next));
        }
    }
    Ok((ControlFlow::Continue(()), next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Record> {
        vec![
            Record::new(Some(Bytes::from_static(b"k")), Bytes::from_static(b"v")),
            Record {
                key: None,
                value: Bytes::from_static(b""),
                timestamp_ms: Some(42),
                headers: vec![Header { name: "h".into(), value: None }],
            },
        ]
    }

    #[test]
    fn encodes_and_decodes() {
        let records = sample();
        let mut buf = Vec::new();
        encode(7, &records, 1000, &mut buf);
        assert_eq!(buf.len(), HEADER_LEN + BODY_PREFIX + records.iter().map(record_size).sum::<usize>());
        let header = BatchHeader::parse(buf[..8].try_into().expect("8"));
        assert_eq!(header.total_len() as usize, buf.len());
        assert_eq!(header.crc, crc32c::crc32c(&buf[8..]));
        assert_eq!(validate(&buf[8..]), Ok((7, 2)));
        let topic: Arc<str> = "t".into();
        let body = Bytes::copy_from_slice(&buf[8..]);
        let mut out = Vec::new();
        decode(&topic, 0, &body, 0, 10, &mut out).expect("decode");
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].offset, 7);
        assert_eq!(out[0].timestamp_ms, 1000);
        assert_eq!(out[0].key.as_deref(), Some(&b"k"[..]));
        assert_eq!(out[1].timestamp_ms, 42);
        assert_eq!(out[1].key, None);
        assert_eq!(out[1].headers, records[1].headers);
        let mut tail = Vec::new();
        decode(&topic, 0, &body, 8, 10, &mut tail).expect("decode");
        assert_eq!(tail.len(), 1);
        let mut bounded = Vec::new();
        decode(&topic, 0, &body, 0, 1, &mut bounded).expect("decode");
        assert_eq!(bounded.len(), 1);
        let short = body.slice(..body.len() - 1);
        assert!(decode(&topic, 0, &short, 0, 10, &mut Vec::new()).is_err());
        assert!(validate(&short).is_err());
        let mut long = body.to_vec();
        long.push(0);
        assert!(validate(&long).unwrap_err().contains("trailing"));
    }

    #[test]
    fn unrepresentable_records_are_refused() {
        let mut r = Record::new(None, Bytes::new());
        assert!(check_record(&r).is_ok());
        r.headers = vec![Header { name: String::new(), value: None }; 70_000];
        assert!(check_record(&r).is_err());
        r.headers = vec![Header { name: "x".repeat(70_000), value: None }];
        assert!(check_record(&r).is_err());
    }
}
