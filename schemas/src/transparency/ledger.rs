//! How the log becomes evidence: each record a Merkle leaf and a link of its partition's hash
//! chain, and what a checkpoint of the log says beyond its tree head (its extension lines).
//!
//! A record's *entry* is its place and its bytes — topic, partition, offset, timestamp, key, value,
//! headers — each length-prefixed. Its leaf hash is RFC 9162's (`SHA-256(0x00 ‖ entry)`), so the
//! same hash serves the tree and the chain: a partition's chain starts at [`chain_start`] and each
//! record moves it on with [`chain_next`] (`SHA-256(0x02 ‖ head ‖ leaf)`, a prefix neither leaves
//! nor interior nodes use). Placing the offset in the entry makes a record moved, removed or
//! inserted change every head after it, not only its own leaf.
//!
//! A checkpoint's tree grows in checkpoint order: each checkpoint appends, partition after partition
//! (topic, then partition number, ascending), the records appended since the one before. Its
//! [`LedgerExtensions`] say where each partition's span starts and ends, the leaves it took and the
//! chain head after it, so one record's leaf index and one partition's chain can be checked from
//! the checkpoint alone.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use super::merkle::{Hash, leaf_hash};

/// Prefix of a chain link's hash input (leaves use `0x00`, interior nodes `0x01`).
const CHAIN_LINK: u8 = 0x02;
/// Prefix of a chain's starting value.
const CHAIN_SEED: u8 = 0x03;
/// What the starting value of every chain is made from, beside its topic and partition.
const CHAIN_DOMAIN: &[u8] = b"trustloop log chain v1";

/// One record as the ledger sees it: its place in the log and its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRef<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: u32,
    /// Offset in the partition.
    pub offset: i64,
    /// Timestamp (ms since the Unix epoch), as stored.
    pub timestamp_ms: i64,
    /// Key, if any.
    pub key: Option<&'a [u8]>,
    /// Value.
    pub value: &'a [u8],
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_be_bytes());
    out.extend_from_slice(b);
}

fn put_optional(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            out.push(1);
            put_bytes(out, b);
        }
        None => out.push(0),
    }
}

/// Writes the entry of record `r` with its `headers` (name, value) into `out` (cleared first).
pub fn entry_into<'h>(
    r: &EntryRef<'_>,
    headers: impl ExactSizeIterator<Item = (&'h str, Option<&'h [u8]>)>,
    out: &mut Vec<u8>,
) {
    out.clear();
    put_bytes(out, r.topic.as_bytes());
    out.extend_from_slice(&r.partition.to_be_bytes());
    out.extend_from_slice(&r.offset.to_be_bytes());
    out.extend_from_slice(&r.timestamp_ms.to_be_bytes());
    put_optional(out, r.key);
    put_bytes(out, r.value);
    out.extend_from_slice(&(headers.len() as u64).to_be_bytes());
    for (name, value) in headers {
        put_bytes(out, name.as_bytes());
        put_optional(out, value);
    }
}

/// A record read back from its entry bytes ([`parse_entry`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEntry<'a> {
    /// The record's place and bytes.
    pub entry: EntryRef<'a>,
    /// Its headers, name and value.
    pub headers: Vec<(&'a str, Option<&'a [u8]>)>,
}

/// An entry that cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("entry byte {at}: {what}")]
pub struct EntryError {
    /// The byte where reading failed.
    pub at: usize,
    /// What is wrong.
    pub what: String,
}

struct EntryReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> EntryReader<'a> {
    fn fail<T>(&self, what: &str) -> Result<T, EntryError> {
        Err(EntryError { at: self.at, what: what.to_string() })
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], EntryError> {
        match self.bytes.get(self.at..).filter(|rest| rest.len() >= n) {
            Some(rest) => {
                self.at += n;
                Ok(&rest[..n])
            }
            None => self.fail(&format!("{what}: {n} bytes past the end")),
        }
    }

    fn u64(&mut self, what: &str) -> Result<u64, EntryError> {
        let b = self.take(8, what)?;
        Ok(u64::from_be_bytes(b.try_into().unwrap_or_default()))
    }

    fn bytes(&mut self, what: &str) -> Result<&'a [u8], EntryError> {
        let n = self.u64(what)?;
        let n = usize::try_from(n).or_else(|_| self.fail(&format!("{what}: length {n}")))?;
        self.take(n, what)
    }

    fn optional(&mut self, what: &str) -> Result<Option<&'a [u8]>, EntryError> {
        match self.take(1, what)?[0] {
            0 => Ok(None),
            1 => self.bytes(what).map(Some),
            b => self.fail(&format!("{what}: presence byte {b}, not 0 or 1")),
        }
    }

    fn text(&mut self, what: &str) -> Result<&'a str, EntryError> {
        let start = self.at;
        let b = self.bytes(what)?;
        std::str::from_utf8(b).map_err(|_| EntryError { at: start, what: format!("{what} is not UTF-8") })
    }
}

/// Reads an entry [`entry_into`] wrote: exactly one, nothing after it, so the bytes are the only
/// ones that give this record and its leaf.
pub fn parse_entry(bytes: &[u8]) -> Result<ParsedEntry<'_>, EntryError> {
    let mut r = EntryReader { bytes, at: 0 };
    let topic = r.text("topic")?;
    let partition = u32::from_be_bytes(r.take(4, "partition")?.try_into().unwrap_or_default());
    let offset = i64::from_be_bytes(r.take(8, "offset")?.try_into().unwrap_or_default());
    let timestamp_ms = i64::from_be_bytes(r.take(8, "timestamp")?.try_into().unwrap_or_default());
    let key = r.optional("key")?;
    let value = r.bytes("value")?;
    let count = r.u64("header count")?;
    let mut headers = Vec::new();
    for _ in 0..count {
        // Each header takes at least 9 bytes: a count past what is left fails here, not in allocation.
        let name = r.text("header name")?;
        let value = r.optional("header value")?;
        headers.push((name, value));
    }
    if r.at != bytes.len() {
        return r.fail("bytes after the entry");
    }
    Ok(ParsedEntry { entry: EntryRef { topic, partition, offset, timestamp_ms, key, value }, headers })
}

/// The leaf hash of record `r` with its `headers`; `scratch` is reused between calls.
pub fn record_leaf<'h>(
    r: &EntryRef<'_>,
    headers: impl ExactSizeIterator<Item = (&'h str, Option<&'h [u8]>)>,
    scratch: &mut Vec<u8>,
) -> Hash {
    entry_into(r, headers, scratch);
    leaf_hash(scratch)
}

/// The value a partition's chain starts from, before its first record.
pub fn chain_start(topic: &str, partition: u32) -> Hash {
    let mut h = Sha256::new();
    h.update([CHAIN_SEED]);
    h.update(CHAIN_DOMAIN);
    h.update((topic.len() as u64).to_be_bytes());
    h.update(topic.as_bytes());
    h.update(partition.to_be_bytes());
    h.finalize().into()
}

/// The chain head after a record whose leaf hash is `leaf`, from head `head`.
pub fn chain_next(head: &Hash, leaf: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([CHAIN_LINK]);
    h.update(head);
    h.update(leaf);
    h.finalize().into()
}

/// The SHA-256 of a signed note as written (what the next checkpoint names as its previous one).
pub fn note_digest(note: &str) -> Hash {
    Sha256::digest(note.as_bytes()).into()
}

/// One partition's span in a checkpoint: where it starts and ends, the leaves it took in the
/// checkpoint's tree and the partition's chain head after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSpan {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// The first offset of the span (the previous checkpoint's `next_offset`, or where the
    /// partition's chained history starts).
    pub from_offset: i64,
    /// The offset after the span (the partition's end offset when the checkpoint was made).
    pub next_offset: i64,
    /// The tree index of the span's first leaf.
    pub first_leaf: u64,
    /// How many records (leaves) the span holds (fewer than its offsets where some hold nothing a
    /// reader sees: Kafka's transaction markers).
    pub records: u64,
    /// The partition's chain head after the span.
    pub head: Hash,
}

/// What a trustloop checkpoint says beyond its tree head, as extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerExtensions {
    /// Its number: 1 for the log's first checkpoint, then one more each time.
    pub seq: u64,
    /// When it was made (ms since the Unix epoch, the checkpointer's clock; not an operator input).
    pub time_ms: i64,
    /// [`note_digest`] of the previous checkpoint's signed note (`None` for the first).
    pub previous: Option<Hash>,
    /// Every partition the tree covers, by topic and partition ascending (spans of no records
    /// included, so each checkpoint names every head).
    pub spans: Vec<ChainSpan>,
    /// A key that signs the checkpoints after this one (a vkey), announced under the current key.
    pub next_key: Option<String>,
}

/// A checkpoint's extension lines that are not a trustloop ledger's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("extension line {line}: {what}")]
pub struct ExtensionError {
    /// 1-based among the extension lines.
    pub line: usize,
    /// What is wrong.
    pub what: String,
}

fn valid_topic(t: &str) -> bool {
    !t.is_empty() && t.len() <= 249 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl LedgerExtensions {
    /// The extension lines: `seq N`, `time MS`, `previous B64` (after the first), one `chain TOPIC
    /// PARTITION FROM NEXT FIRST_LEAF RECORDS B64` per span, and `next-key VKEY` when announced.
    pub fn to_lines(&self) -> Vec<String> {
        let mut out = vec![format!("seq {}", self.seq), format!("time {}", self.time_ms)];
        if let Some(p) = &self.previous {
            out.push(format!("previous {}", STANDARD.encode(p)));
        }
        for s in &self.spans {
            out.push(format!(
                "chain {} {} {} {} {} {} {}",
                s.topic,
                s.partition,
                s.from_offset,
                s.next_offset,
                s.first_leaf,
                s.records,
                STANDARD.encode(s.head)
            ));
        }
        if let Some(k) = &self.next_key {
            out.push(format!("next-key {k}"));
        }
        out
    }

    /// Reads the extension lines that [`LedgerExtensions::to_lines`] writes, checking their order
    /// (spans ascending, each once; every span's offsets and leaves in order).
    pub fn parse(lines: &[String]) -> Result<LedgerExtensions, ExtensionError> {
        let bad = |line: usize, what: String| ExtensionError { line, what };
        let mut it = lines.iter().enumerate().map(|(i, l)| (i + 1, l.as_str())).peekable();
        let mut word = |name: &str| -> Result<(usize, String), ExtensionError> {
            match it.next() {
                Some((n, l)) => match l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')) {
                    Some(rest) => Ok((n, rest.to_string())),
                    None => Err(bad(n, format!("expected `{name} …`, found {l:?}"))),
                },
                None => Err(bad(lines.len() + 1, format!("missing `{name}` line"))),
            }
        };
        let (n, seq) = word("seq")?;
        let seq: u64 = seq.parse().map_err(|_| bad(n, format!("sequence number {seq:?} is not a number")))?;
        if seq == 0 {
            return Err(bad(n, "sequence numbers start at 1".into()));
        }
        let (n, time) = word("time")?;
        let time_ms: i64 = time.parse().map_err(|_| bad(n, format!("time {time:?} is not a number of ms")))?;
        let hash = |n: usize, text: &str| -> Result<Hash, ExtensionError> {
            let raw = STANDARD.decode(text).map_err(|_| bad(n, format!("{text:?} is not base64")))?;
            raw.as_slice().try_into().map_err(|_| bad(n, format!("a hash of {} bytes, not 32", raw.len())))
        };
        let mut previous = None;
        if let Some((n, rest)) = it.peek().and_then(|(n, l)| l.strip_prefix("previous ").map(|r| (*n, r))) {
            previous = Some(hash(n, rest)?);
            it.next();
        }
        if seq == 1 && previous.is_some() {
            return Err(bad(n, "the first checkpoint names no previous one".into()));
        }
        if seq > 1 && previous.is_none() {
            return Err(bad(n, format!("checkpoint {seq} does not name its previous checkpoint")));
        }
        let mut spans: Vec<ChainSpan> = Vec::new();
        let mut next_key = None;
        for (n, line) in it {
            if let Some(k) = line.strip_prefix("next-key ") {
                if next_key.is_some() {
                    return Err(bad(n, "a second `next-key` line".into()));
                }
                next_key = Some(k.to_string());
                continue;
            }
            if next_key.is_some() {
                return Err(bad(n, "`next-key` must be the last line".into()));
            }
            let Some(rest) = line.strip_prefix("chain ") else {
                return Err(bad(n, format!("unknown extension line {line:?}")));
            };
            let f: Vec<&str> = rest.split(' ').collect();
            let [topic, partition, from, next, first, records, head] = f.as_slice() else {
                return Err(bad(n, format!("a chain line has 7 fields, this one {}", f.len())));
            };
            if !valid_topic(topic) {
                return Err(bad(n, format!("{topic:?} is not a topic name")));
            }
            let num = |what: &str, t: &str| -> Result<i64, ExtensionError> {
                t.parse::<i64>()
                    .ok()
                    .filter(|v| *v >= 0)
                    .ok_or_else(|| bad(n, format!("{what} {t:?} is not a non-negative number")))
            };
            let span = ChainSpan {
                topic: (*topic).to_string(),
                partition: u32::try_from(num("partition", partition)?)
                    .map_err(|_| bad(n, format!("partition {partition} is out of range")))?,
                from_offset: num("offset", from)?,
                next_offset: num("offset", next)?,
                first_leaf: num("leaf index", first)?.unsigned_abs(),
                records: num("record count", records)?.unsigned_abs(),
                head: hash(n, head)?,
            };
            if span.next_offset < span.from_offset {
                return Err(bad(
                    n,
                    format!("span ends at {} before it starts at {}", span.next_offset, span.from_offset),
                ));
            }
            if span.records > span.next_offset.abs_diff(span.from_offset) {
                return Err(bad(
                    n,
                    format!("{} records in {} offsets", span.records, span.next_offset - span.from_offset),
                ));
            }
            if let Some(prev) = spans.last() {
                if (prev.topic.as_str(), prev.partition) >= (span.topic.as_str(), span.partition) {
                    return Err(bad(n, "chain lines must be in ascending (topic, partition) order, each once".into()));
                }
                if span.first_leaf != prev.first_leaf + prev.records {
                    return Err(bad(
                        n,
                        format!(
                            "span's first leaf {} does not follow the previous span's {}",
                            span.first_leaf,
                            prev.first_leaf + prev.records
                        ),
                    ));
                }
            }
            spans.push(span);
        }
        Ok(LedgerExtensions { seq, time_ms, previous, spans, next_key })
    }

    /// The tree size before this checkpoint's leaves (its first span's first leaf), if it has spans.
    pub fn first_leaf(&self) -> Option<u64> {
        self.spans.first().map(|s| s.first_leaf)
    }

    /// The tree size after this checkpoint's leaves, if it has spans.
    pub fn end_leaf(&self) -> Option<u64> {
        self.spans.last().map(|s| s.first_leaf + s.records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_exactly() {
        let r =
            EntryRef { topic: "findings", partition: 3, offset: 42, timestamp_ms: -1, key: Some(b"k"), value: b"v" };
        let headers = [("a", Some(&b"1"[..])), ("b", None)];
        let mut bytes = Vec::new();
        entry_into(&r, headers.into_iter(), &mut bytes);
        let parsed = parse_entry(&bytes).expect("reads");
        assert_eq!(parsed.headers, headers.to_vec());
        let mut again = Vec::new();
        entry_into(&parsed.entry, parsed.headers.iter().copied(), &mut again);
        assert_eq!(again, bytes);
        for cut in 0..bytes.len() {
            assert!(parse_entry(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(parse_entry(&longer).map(|_| ()).map_err(|e| e.at), Err(bytes.len()));
        let no_key = EntryRef { key: None, ..r };
        entry_into(&no_key, std::iter::empty(), &mut bytes);
        assert_eq!(parse_entry(&bytes).expect("reads").entry.key, None);
    }

    fn entry(offset: i64, value: &[u8]) -> Hash {
        let r = EntryRef { topic: "verdicts", partition: 2, offset, timestamp_ms: 7, key: Some(b"k"), value };
        record_leaf(&r, [("h", Some(&b"v"[..]))].into_iter(), &mut Vec::new())
    }

    #[test]
    fn a_leaf_binds_place_and_bytes() {
        let base = entry(5, b"x");
        assert_ne!(base, entry(6, b"x"), "the offset is part of the leaf");
        assert_ne!(base, entry(5, b"y"), "the value is part of the leaf");
        let no_key = EntryRef { topic: "verdicts", partition: 2, offset: 5, timestamp_ms: 7, key: None, value: b"x" };
        assert_ne!(base, record_leaf(&no_key, [("h", Some(&b"v"[..]))].into_iter(), &mut Vec::new()));
        let empty_key = EntryRef { key: Some(b""), ..no_key };
        assert_ne!(
            record_leaf(&no_key, std::iter::empty(), &mut Vec::new()),
            record_leaf(&empty_key, std::iter::empty(), &mut Vec::new()),
            "an absent key is not an empty one"
        );
        // Length prefixes: moving a byte from the key into the value changes the leaf.
        let a = EntryRef { key: Some(b"ab"), value: b"c", ..no_key };
        let b = EntryRef { key: Some(b"a"), value: b"bc", ..no_key };
        assert_ne!(
            record_leaf(&a, std::iter::empty(), &mut Vec::new()),
            record_leaf(&b, std::iter::empty(), &mut Vec::new())
        );
    }

    #[test]
    fn chains_depend_on_every_link_and_its_order() {
        let start = chain_start("verdicts", 0);
        assert_ne!(start, chain_start("verdicts", 1));
        assert_ne!(start, chain_start("verdict", 0));
        let (a, b) = (entry(0, b"a"), entry(1, b"b"));
        let ab = chain_next(&chain_next(&start, &a), &b);
        let ba = chain_next(&chain_next(&start, &b), &a);
        assert_ne!(ab, ba);
        assert_ne!(ab, chain_next(&start, &b));
    }

    fn sample() -> LedgerExtensions {
        LedgerExtensions {
            seq: 3,
            time_ms: 1_700_000_000_000,
            previous: Some([9; 32]),
            spans: vec![
                ChainSpan {
                    topic: "advisories".into(),
                    partition: 0,
                    from_offset: 10,
                    next_offset: 14,
                    first_leaf: 100,
                    records: 3,
                    head: [1; 32],
                },
                ChainSpan {
                    topic: "verdicts".into(),
                    partition: 1,
                    from_offset: 0,
                    next_offset: 0,
                    first_leaf: 103,
                    records: 0,
                    head: chain_start("verdicts", 1),
                },
            ],
            next_key: Some("log+01020304+AAAA".into()),
        }
    }

    #[test]
    fn extension_lines_round_trip() {
        let ext = sample();
        let lines = ext.to_lines();
        assert_eq!(LedgerExtensions::parse(&lines), Ok(ext.clone()));
        assert_eq!(ext.first_leaf(), Some(100));
        assert_eq!(ext.end_leaf(), Some(103));
    }

    #[test]
    fn bad_extension_lines_say_which_line() {
        let lines = sample().to_lines();
        let cases: Vec<(Vec<String>, usize)> = vec![
            (lines[1..].to_vec(), 1),
            (
                {
                    let mut l = lines.clone();
                    l[0] = "seq x".into();
                    l
                },
                1,
            ),
            (
                {
                    let mut l = lines.clone();
                    l[2] = "previous !!".into();
                    l
                },
                3,
            ),
            (
                {
                    let mut l = lines.clone();
                    l.swap(3, 4);
                    l
                },
                5,
            ),
            (
                {
                    let mut l = lines.clone();
                    l[4] = l[4].replace(" 103 ", " 104 ");
                    l
                },
                5,
            ),
            (
                {
                    let mut l = lines.clone();
                    l[3] = l[3].replace("chain advisories", "chain adv/sories");
                    l
                },
                4,
            ),
            (
                {
                    let mut l = lines.clone();
                    l.push("chain x 0 0 0 103 0 AAAA".into());
                    l
                },
                7,
            ),
            (
                {
                    let mut l = lines.clone();
                    l.insert(3, "surprise".into());
                    l
                },
                4,
            ),
            (
                {
                    let mut l = lines.clone();
                    l[3] = l[3].replace(" 14 ", " 12 ");
                    l
                },
                4,
            ),
        ];
        for (i, (case, line)) in cases.into_iter().enumerate() {
            match LedgerExtensions::parse(&case) {
                Err(e) => assert_eq!(e.line, line, "case {i}: {e}"),
                Ok(_) => panic!("case {i} parsed"),
            }
        }
    }
}
