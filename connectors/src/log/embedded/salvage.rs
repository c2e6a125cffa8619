//! What a possibly damaged segment holds, stretch by stretch: the pure part of `log repair` (no
//! I/O), and what the `segment_repair` fuzz target runs.
//!
//! A segment is read from its start. A batch is *good* when its frame fits the file, its CRC32C
//! verifies, its body is well-formed, and its base offset is plausible: at or after the offset
//! where the good batch before it ended (a jump no recorded gap lists is reported as
//! [`Piece::Missing`]), with its records ending at or before the next segment's base. Anything else
//! starts a *damaged* stretch, which ends where a good batch starts again: where its length field
//! says, if a good batch starts there (or the file ends there); else at the first byte position
//! after it where one does — a header whose CRC verifies, holding records, whose base offset is
//! plausible and leaves no more offsets behind than the skipped bytes could have held. A damaged
//! stretch whose length fields chain exactly to its end is cut into its batches, one piece each.
//!
//! The offsets a damaged stretch held become a gap (readers step over it) unless the stretch is the
//! tail of the partition's last segment: those offsets were never readable, and the next append
//! takes them.

use serde::Serialize;

use super::batch::{self, BODY_PREFIX, BatchHeader, HEADER_LEN, MIN_RECORD};
use super::gaps::Gaps;

/// A good batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoodBatch {
    /// Its byte position in the segment.
    pub pos: u64,
    /// Its length in bytes, header included.
    pub len: u64,
    /// Its base offset.
    pub base: i64,
    /// Its record count.
    pub count: u32,
}

/// What kind of damage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DamageKind {
    /// Bytes that are not a good batch: a checksum mismatch, a malformed body, a length that does
    /// not frame a batch, offsets that do not follow on.
    Corrupt,
    /// The end of the file, where the last batch runs past it (a write that did not finish).
    TornTail,
}

/// Damaged bytes: what a repair moves into a quarantine file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Byte position in the segment.
    pub pos: u64,
    /// Length in bytes.
    pub len: u64,
    /// What kind.
    pub kind: DamageKind,
    /// What is wrong, as the reader would say it.
    pub reason: String,
    /// The offset where the damage sits: where the good batch before it ended (or the segment's
    /// base).
    pub at_offset: i64,
    /// The offsets `[from, to)` these bytes held, where known: the offsets between the good batches
    /// around the stretch; for a stretch cut into batches whose headers chain, each batch's own;
    /// for a tail, what its header says if it follows on.
    pub offsets: Option<(i64, i64)>,
    /// How many records these bytes held, where their header says so consistently with `offsets`.
    pub records: Option<u32>,
    /// The gap the damaged stretch's offsets become (the same for every piece of a stretch):
    /// `None` for the tail of a last segment, or where the stretch held no offsets of its own.
    pub gap: Option<(i64, i64)>,
}

/// One stretch of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// A good batch: kept.
    Batch(GoodBatch),
    /// Damaged bytes: quarantined.
    Damaged(Damage),
    /// Offsets no byte of the segment holds and no gap lists: a clean jump between good batches
    /// (or at a sealed segment's start or end). No bytes to move; the offsets become a gap.
    Missing {
        /// First offset missing.
        from: i64,
        /// The offset after the last one missing.
        to: i64,
    },
}

/// What [`analyse`] found in a segment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    /// The segment, stretch by stretch, in order: the [`Piece::Batch`] and [`Piece::Damaged`]
    /// pieces tile the file exactly.
    pub pieces: Vec<Piece>,
    /// Offset ranges `[from, to)` that become gaps: the offsets of damaged stretches (except a last
    /// segment's tail) and missing offsets.
    pub new_gaps: Vec<(i64, i64)>,
    /// The offset after the last good batch (for a sealed segment: the next segment's base).
    pub next_offset: i64,
}

impl Analysis {
    /// Whether the segment needs no repair.
    pub fn is_clean(&self) -> bool {
        self.pieces.iter().all(|p| matches!(p, Piece::Batch(_)))
    }

    /// The good batches.
    pub fn batches(&self) -> impl Iterator<Item = &GoodBatch> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Batch(b) => Some(b),
            _ => None,
        })
    }
}

/// A batch's frame, checked.
#[derive(Debug, Clone, Copy)]
struct Frame {
    len: usize,
    base: i64,
    count: u32,
}

/// Why the bytes at a position are not a batch.
#[derive(Debug)]
enum Fault {
    /// The frame runs past the end of the file.
    Torn(String),
    /// Anything else.
    Invalid(String),
}

impl Fault {
    fn reason(self) -> String {
        match self {
            Fault::Torn(r) | Fault::Invalid(r) => r,
        }
    }
}

/// The batch at `pos` of `bytes`: framed within `bytes`, checksummed and validated.
fn frame(bytes: &[u8], pos: usize) -> Result<Frame, Fault> {
    let rest = bytes.len().saturating_sub(pos);
    let Some(head) = bytes.get(pos..pos + HEADER_LEN).and_then(|h| <&[u8; HEADER_LEN]>::try_from(h).ok()) else {
        return Err(Fault::Torn(format!("a batch header of {rest} bytes at the end of the file")));
    };
    let header = BatchHeader::parse(head);
    if (header.body_len as usize) < BODY_PREFIX {
        return Err(Fault::Invalid(format!("batch length {} is shorter than a batch", header.body_len)));
    }
    let total = header.total_len();
    if total > rest as u64 {
        return Err(Fault::Torn(format!(
            "a batch of {total} bytes runs {} bytes past the end of the file",
            total - rest as u64
        )));
    }
    let body = &bytes[pos + HEADER_LEN..pos + total as usize];
    let crc = crc32c::crc32c(body);
    if crc != header.crc {
        return Err(Fault::Invalid(format!("checksum mismatch (stored {:#010x}, computed {crc:#010x})", header.crc)));
    }
    let (base, count) = batch::validate(body).map_err(Fault::Invalid)?;
    Ok(Frame { len: total as usize, base, count })
}

/// Whether a good frame's offsets may follow offset `next` in a segment ending before `upper`.
fn follows_on(f: &Frame, next: i64, upper: Option<i64>) -> Result<(), String> {
    let end = f.base + i64::from(f.count);
    if f.base < next {
        return Err(format!("batch base offset {} where {next} was expected", f.base));
    }
    match upper {
        Some(u) if end > u => {
            Err(format!("batch of offsets [{}, {end}) runs past offset {u}, where the next segment starts", f.base))
        }
        _ => Ok(()),
    }
}

/// Whether the good frame at `q`, found after damaged bytes from `from`, is where good data starts
/// again: it holds records, follows on from `next`, and the offsets it leaves behind are no more
/// than the skipped bytes could have held (beyond those gaps already list).
fn resumes(f: &Frame, next: i64, upper: Option<i64>, gaps: &Gaps, skipped: usize) -> bool {
    f.count > 0
        && follows_on(f, next, upper).is_ok()
        && f.base.saturating_sub(next).saturating_sub(gaps.within(next, f.base)) <= (skipped / MIN_RECORD) as i64
}

/// Cheap checks before a frame is checksummed: a length that fits and a plausible prefix.
fn may_frame(bytes: &[u8], q: usize, next: i64) -> bool {
    let Some(head) = bytes.get(q..q + HEADER_LEN + BODY_PREFIX) else { return false };
    let body_len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let Some((base, count)) = batch::body_prefix(&head[HEADER_LEN..]) else { return false };
    body_len >= BODY_PREFIX
        && body_len <= bytes.len() - q - HEADER_LEN
        && base >= next
        && count > 0
        && (count as usize).saturating_mul(MIN_RECORD) <= body_len - BODY_PREFIX
}

/// Where good data starts again after the damaged bytes at `pos`: the position and frame of the
/// next good batch, or `None` if none follows (the damage runs to the end of the file).
fn resync(bytes: &[u8], pos: usize, next: i64, upper: Option<i64>, gaps: &Gaps) -> Option<(usize, Frame)> {
    // The length field, if it frames the damaged batch: to the end of the file, or to a good batch.
    if let Some(head) = bytes.get(pos..pos + HEADER_LEN).and_then(|h| <&[u8; HEADER_LEN]>::try_from(h).ok()) {
        let header = BatchHeader::parse(head);
        let end = pos as u64 + header.total_len();
        if header.body_len as usize >= BODY_PREFIX && end == bytes.len() as u64 {
            return None;
        }
        if header.body_len as usize >= BODY_PREFIX
            && end < bytes.len() as u64
            && let Ok(f) = frame(bytes, end as usize)
            && resumes(&f, next, upper, gaps, end as usize - pos)
        {
            return Some((end as usize, f));
        }
    }
    // Else the first position after it where a good batch starts.
    (pos + 1..bytes.len()).filter(|&q| may_frame(bytes, q, next)).find_map(|q| {
        let f = frame(bytes, q).ok()?;
        resumes(&f, next, upper, gaps, q - pos).then_some((q, f))
    })
}

/// Cuts the damaged stretch `[start, end)` into its batches where their length fields chain exactly
/// to `end`; else it is one piece.
fn cut(bytes: &[u8], start: usize, end: usize) -> Vec<(usize, usize)> {
    let mut cuts = Vec::new();
    let mut p = start;
    while p < end {
        let Some(head) = bytes.get(p..p + HEADER_LEN).and_then(|h| <&[u8; HEADER_LEN]>::try_from(h).ok()) else {
            break;
        };
        let header = BatchHeader::parse(head);
        let total = header.total_len();
        if (header.body_len as usize) < BODY_PREFIX || p as u64 + total > end as u64 {
            break;
        }
        cuts.push((p, p + total as usize));
        p += total as usize;
    }
    if p == end && cuts.len() > 1 { cuts } else { vec![(start, end)] }
}

/// Base offset and count a damaged piece's header claims, if it has a readable prefix and its
/// length field could hold that many records (a torn tail's body is cut short: its length field
/// says what it was to be).
fn claimed(bytes: &[u8], (start, end): (usize, usize)) -> Option<(i64, u32)> {
    let head = bytes.get(start..start + HEADER_LEN).and_then(|h| <&[u8; HEADER_LEN]>::try_from(h).ok())?;
    let body_len = BatchHeader::parse(head).body_len as usize;
    let body = bytes.get(start + HEADER_LEN..end)?;
    batch::body_prefix(body).filter(|&(base, count)| {
        base >= 0
            && count > 0
            && body_len >= BODY_PREFIX
            && (count as usize).saturating_mul(MIN_RECORD) <= body_len - BODY_PREFIX
    })
}

/// A damaged stretch: its bytes, what is wrong at its start, whether it is a torn tail, the offset
/// it sits at, where its offsets end (if known) and the gap they become.
struct Stretch {
    start: usize,
    end: usize,
    first: String,
    torn: bool,
    from: i64,
    to: Option<i64>,
    gap: Option<(i64, i64)>,
}

/// The pieces of a damaged stretch.
fn damaged(bytes: &[u8], stretch: Stretch) -> Vec<Piece> {
    let Stretch { start, end, first, torn, from, to, gap } = stretch;
    let kind = if torn { DamageKind::TornTail } else { DamageKind::Corrupt };
    let cuts = cut(bytes, start, end);
    // Per-piece offsets where the pieces' headers chain from `from` (to `to`, where known).
    let claims: Vec<Option<(i64, u32)>> = cuts.iter().map(|&c| claimed(bytes, c)).collect();
    let mut expect = from;
    let chained = claims.iter().all(|c| match c {
        Some((base, count)) if *base == expect => {
            expect = base + i64::from(*count);
            true
        }
        _ => false,
    }) && to.is_none_or(|t| expect == t);
    cuts.iter()
        .zip(&claims)
        .enumerate()
        .map(|(i, (&(s, e), claim))| {
            let reason = if i == 0 {
                first.clone()
            } else {
                match frame(&bytes[..e], s) {
                    Err(f) => f.reason(),
                    Ok(f) => format!(
                        "a well-formed batch of offsets [{}, {}) that does not follow on",
                        f.base,
                        f.base + i64::from(f.count)
                    ),
                }
            };
            let (offsets, records) = match (chained, claim, to) {
                (true, Some((base, count)), _) => (Some((*base, base + i64::from(*count))), Some(*count)),
                (false, _, Some(t)) if cuts.len() == 1 => (Some((from, t)), None),
                _ => (None, None),
            };
            Piece::Damaged(Damage {
                pos: s as u64,
                len: (e - s) as u64,
                kind,
                reason,
                at_offset: from,
                offsets,
                records,
                gap,
            })
        })
        .collect()
}

/// Reads the segment `bytes`, whose first offset is `first`, as a repair does (see the module
/// docs). `upper` is the next segment's base (`None` for the partition's last segment); `gaps` the
/// offset ranges earlier repairs recorded. Never panics, whatever the bytes.
pub fn analyse(bytes: &[u8], first: i64, upper: Option<i64>, gaps: &[(i64, i64)]) -> Analysis {
    let gaps = Gaps::new(gaps.iter().copied());
    let mut out = Analysis::default();
    let mut pos = 0usize;
    let mut next = first;
    while pos < bytes.len() {
        let fault = match frame(bytes, pos) {
            Ok(f) => match follows_on(&f, next, upper) {
                Ok(()) => {
                    if f.base > next && !gaps.covers(next, f.base) {
                        out.pieces.push(Piece::Missing { from: next, to: f.base });
                        out.new_gaps.push((next, f.base));
                    }
                    out.pieces.push(Piece::Batch(GoodBatch {
                        pos: pos as u64,
                        len: f.len as u64,
                        base: f.base,
                        count: f.count,
                    }));
                    next = f.base + i64::from(f.count);
                    pos += f.len;
                    continue;
                }
                Err(reason) => Fault::Invalid(reason),
            },
            Err(fault) => fault,
        };
        let resumed = resync(bytes, pos, next, upper, &gaps);
        let end = resumed.map_or(bytes.len(), |(q, _)| q);
        let to = resumed.map(|(_, f)| f.base).or(upper);
        let torn = resumed.is_none() && matches!(fault, Fault::Torn(_));
        let gap = to.filter(|&t| t > next && !gaps.covers(next, t)).map(|t| (next, t));
        out.new_gaps.extend(gap);
        let stretch = Stretch { start: pos, end, first: fault.reason(), torn, from: next, to, gap };
        out.pieces.extend(damaged(bytes, stretch));
        next = to.map_or(next, |t| next.max(t));
        pos = end;
    }
    if let Some(u) = upper
        && next < u
    {
        if !gaps.covers(next, u) {
            out.pieces.push(Piece::Missing { from: next, to: u });
            out.new_gaps.push((next, u));
        }
        next = u;
    }
    out.next_offset = next;
    out
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::log::Record;

    /// Batches of one record each with the given base offsets, and where each starts.
    fn segment(bases: &[i64]) -> (Vec<u8>, Vec<usize>) {
        let mut out = Vec::new();
        let mut starts = Vec::new();
        let mut buf = Vec::new();
        for (i, &b) in bases.iter().enumerate() {
            batch::encode(b, &[Record::new(None, Bytes::from(format!("value-{i}")))], 1, &mut buf);
            starts.push(out.len());
            out.extend_from_slice(&buf);
        }
        (out, starts)
    }

    fn damage(a: &Analysis) -> Vec<&Damage> {
        a.pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Damaged(d) => Some(d),
                _ => None,
            })
            .collect()
    }

    fn tiles(a: &Analysis, len: usize) {
        let mut pos = 0;
        for p in &a.pieces {
            let (s, l) = match p {
                Piece::Batch(b) => (b.pos, b.len),
                Piece::Damaged(d) => (d.pos, d.len),
                Piece::Missing { .. } => continue,
            };
            assert_eq!(s, pos, "{a:?}");
            pos += l;
        }
        assert_eq!(pos, len as u64, "{a:?}");
    }

    #[test]
    fn a_clean_segment_is_all_batches() {
        let (bytes, starts) = segment(&[0, 1, 2]);
        let a = analyse(&bytes, 0, None, &[]);
        assert!(a.is_clean());
        assert_eq!(a.batches().map(|b| b.pos as usize).collect::<Vec<_>>(), starts);
        assert_eq!(a.next_offset, 3);
        assert!(a.new_gaps.is_empty());
    }

    #[test]
    fn a_flipped_byte_is_one_damaged_batch_and_a_gap() {
        let (mut bytes, starts) = segment(&[0, 1, 2]);
        bytes[starts[1] + 30] ^= 1;
        let a = analyse(&bytes, 0, None, &[]);
        tiles(&a, bytes.len());
        let d = damage(&a);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].pos as usize, d[0].len as usize), (starts[1], starts[2] - starts[1]));
        assert!(d[0].reason.contains("checksum"), "{}", d[0].reason);
        assert_eq!(
            (d[0].kind, d[0].offsets, d[0].records, d[0].at_offset),
            (DamageKind::Corrupt, Some((1, 2)), Some(1), 1)
        );
        assert_eq!(a.new_gaps, vec![(1, 2)]);
        // Once the gap is recorded and the batch gone, nothing is left to repair.
        let kept: Vec<u8> =
            a.batches().flat_map(|b| bytes[b.pos as usize..(b.pos + b.len) as usize].to_vec()).collect();
        assert!(analyse(&kept, 0, None, &a.new_gaps).is_clean());
        assert!(!analyse(&kept, 0, None, &[]).is_clean(), "without the gap the jump is reported");
    }

    #[test]
    fn a_garbage_length_resyncs_on_the_next_good_batch() {
        let (mut bytes, starts) = segment(&[0, 1, 2, 3]);
        bytes[starts[1]..starts[1] + 4].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
        let a = analyse(&bytes, 0, None, &[]);
        tiles(&a, bytes.len());
        let d = damage(&a);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].pos as usize, d[0].len as usize), (starts[1], starts[2] - starts[1]));
        assert_eq!(a.batches().map(|b| b.base).collect::<Vec<_>>(), vec![0, 2, 3]);
        assert_eq!(a.new_gaps, vec![(1, 2)]);
    }

    #[test]
    fn two_corrupt_batches_in_a_row_are_two_pieces() {
        let (mut bytes, starts) = segment(&[0, 1, 2, 3]);
        bytes[starts[1] + 25] ^= 1;
        bytes[starts[2] + 25] ^= 1;
        let a = analyse(&bytes, 0, None, &[]);
        let d = damage(&a);
        assert_eq!(d.iter().map(|d| d.pos as usize).collect::<Vec<_>>(), vec![starts[1], starts[2]]);
        assert_eq!(d.iter().map(|d| d.offsets).collect::<Vec<_>>(), vec![Some((1, 2)), Some((2, 3))]);
        assert_eq!(a.new_gaps, vec![(1, 3)]);
    }

    #[test]
    fn a_torn_tail_makes_no_gap_in_the_last_segment_and_one_in_a_sealed_one() {
        let (bytes, starts) = segment(&[5, 6, 7]);
        let torn = &bytes[..bytes.len() - 3];
        let a = analyse(torn, 5, None, &[]);
        let d = damage(&a);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].pos as usize, d[0].kind), (starts[2], DamageKind::TornTail));
        assert_eq!((d[0].offsets, a.new_gaps.clone(), a.next_offset), (Some((7, 8)), vec![], 7));
        let sealed = analyse(torn, 5, Some(8), &[]);
        assert_eq!(sealed.new_gaps, vec![(7, 8)]);
        assert_eq!(sealed.next_offset, 8);
    }

    #[test]
    fn offsets_that_jump_or_go_back_are_found() {
        let (bytes, _) = segment(&[0, 3, 4]);
        let a = analyse(&bytes, 0, None, &[]);
        assert!(a.pieces.contains(&Piece::Missing { from: 1, to: 3 }));
        assert_eq!(a.new_gaps, vec![(1, 3)]);
        let (back, starts) = segment(&[0, 1, 1, 2]);
        let a = analyse(&back, 0, None, &[]);
        let d = damage(&a);
        assert_eq!(d.len(), 1, "{a:?}");
        assert_eq!(d[0].pos as usize, starts[2]);
        assert!(d[0].reason.contains("where 2 was expected"), "{}", d[0].reason);
        assert!(a.new_gaps.is_empty(), "a duplicate loses no offsets: {a:?}");
        // Past the next segment's base.
        let (bytes, starts) = segment(&[0, 1, 2]);
        let a = analyse(&bytes, 0, Some(2), &[]);
        assert_eq!(damage(&a).iter().map(|d| d.pos as usize).collect::<Vec<_>>(), vec![starts[2]]);
    }

    #[test]
    fn garbage_never_panics_and_tiles_the_file() {
        for seed in 0u64..300 {
            let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            let mut next = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let (mut bytes, _) = segment(&[0, 1, 2, 3, 4]);
            for _ in 0..(next() % 6) {
                let i = (next() as usize) % bytes.len();
                bytes[i] = next() as u8;
            }
            let cut = (next() as usize) % (bytes.len() + 1);
            let bytes = &bytes[..cut];
            let a = analyse(bytes, 0, (seed % 2 == 0).then_some(9), &[]);
            tiles(&a, bytes.len());
            let kept: Vec<u8> =
                a.batches().flat_map(|b| bytes[b.pos as usize..(b.pos + b.len) as usize].to_vec()).collect();
            let again = analyse(&kept, 0, (seed % 2 == 0).then_some(9), &a.new_gaps);
            assert!(again.is_clean() && again.new_gaps.is_empty(), "seed {seed}: {again:?}");
        }
    }
}
