//! Reading one partition's span and hashing it: each record's leaf, the chain moved on.

use trustloop_schemas::transparency::ledger::{EntryRef, chain_next, record_leaf};
use trustloop_schemas::transparency::merkle::Hash;

use super::SPAN_PATIENCE;
use crate::log::{EventLog, LogError, LogResult, PartitionReader, StoredRecord};

/// What reading a span found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Hashed {
    /// Records read.
    pub records: u64,
    /// The chain head after them.
    pub head: Hash,
    /// Where reading stopped: the span's end, or earlier where records below it were not readable
    /// within [`SPAN_PATIENCE`].
    pub next_offset: i64,
    /// The first offsets `[from, to)` of the span that held no record (Kafka's transaction
    /// markers; on the embedded log, a gap `log repair` left).
    pub first_gap: Option<(i64, i64)>,
}

/// The leaf hash of a stored record; `scratch` is reused between calls.
pub(super) fn leaf_of(r: &StoredRecord, scratch: &mut Vec<u8>) -> Hash {
    let entry = EntryRef {
        topic: &r.topic,
        partition: r.partition,
        offset: r.offset,
        timestamp_ms: r.timestamp_ms,
        key: r.key.as_deref(),
        value: &r.value,
    };
    record_leaf(&entry, r.headers.iter().map(|h| (h.name.as_str(), h.value.as_deref())), scratch)
}

/// The leaf hashes of a batch's records, in order.
fn leaves_of(batch: &[StoredRecord]) -> Vec<Hash> {
    let mut scratch = Vec::new();
    batch.iter().map(|r| leaf_of(r, &mut scratch)).collect()
}

/// Reads `topic`/`partition` from `from` up to `until` (excluded), moving the chain on from `head`
/// and handing each record's offset and leaf hash to `leaf`.
///
/// Two steps overlap: while a batch's leaves are hashed on tokio's blocking pool (the bulk of the
/// work: a record's whole entry goes through SHA-256), the next batch is read; the chain and
/// `leaf` see the leaves in log order on the caller's task.
pub(super) async fn hash_span(
    log: &dyn EventLog,
    topic: &str,
    partition: u32,
    from: i64,
    until: i64,
    mut head: Hash,
    mut leaf: impl FnMut(i64, &Hash),
) -> LogResult<Hashed> {
    let mut reader = PartitionReader::new(topic, partition, from).until(until).patience(SPAN_PATIENCE);
    let mut records = 0u64;
    let mut expect = from;
    let mut first_gap = None;
    let mut hashing: Option<tokio::task::JoinHandle<(Vec<StoredRecord>, Vec<Hash>)>> = None;
    loop {
        let read = reader.next(log).await;
        if let Some(job) = hashing.take() {
            let (batch, leaves) = job
                .await
                .map_err(|e| LogError::io(format!("{topic}/{partition} (hashing)"), std::io::Error::other(e)))?;
            for (r, h) in batch.iter().zip(&leaves) {
                if r.offset > expect {
                    first_gap.get_or_insert((expect, r.offset));
                }
                expect = r.offset + 1;
                head = chain_next(&head, h);
                leaf(r.offset, h);
                records += 1;
            }
        }
        match read {
            Ok(Some(batch)) => {
                hashing = Some(tokio::task::spawn_blocking(move || {
                    let leaves = leaves_of(&batch);
                    (batch, leaves)
                }));
            }
            Ok(None) => break,
            // Not readable yet (an open transaction): the span ends where reading stopped.
            Err(LogError::Timeout(_)) => break,
            Err(e) => return Err(e),
        }
    }
    if reader.position() > expect {
        first_gap.get_or_insert((expect, reader.position()));
    }
    Ok(Hashed { records, head, next_offset: reader.position(), first_gap })
}
