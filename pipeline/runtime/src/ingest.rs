//! Ingestion of JSON lines into a topic: validate, encode as Confluent-framed Avro, append in batches
//! partitioned by key; every bad line becomes a `DeadLetter` on `dlq` with its line number and reason.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use trustloop_connectors::feed::seq_header;
use trustloop_connectors::log::{LogTransaction, Record, partition_for_key};
use trustloop_schemas::json::{IngestDefaults, parse_event_json};
use trustloop_schemas::{DeadLetter, Envelope, Event, EventTime, EventType, derive_event_id};

use crate::backend::Backend;
use crate::error::{Context, Result};
use crate::lineage::Lineage;

/// How many records a writer gathers (over all partitions) before it appends them as one batch.
pub const BATCH: usize = 10_000;

/// One rejected input line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rejection {
    /// 1-based line number in the input.
    pub line: u64,
    /// Why it was rejected.
    pub reason: String,
}

/// What an ingestion did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct IngestReport {
    /// Non-empty lines read.
    pub lines: u64,
    /// Events appended to the topic.
    pub appended: u64,
    /// Lines rejected (each also written to `dlq`).
    pub rejected: Vec<Rejection>,
}

/// Appends events to a topic: encodes them, partitions them by key and appends them in batches of
/// [`BATCH`] over all partitions ([`EventLog::append_batch`](trustloop_connectors::log::EventLog::append_batch):
/// on the embedded log, a batch is visible whole or not at all), each record numbered in
/// [`SEQ_HEADER`](trustloop_connectors::feed::SEQ_HEADER).
pub struct EventWriter<'a> {
    backend: &'a Backend,
    topic: String,
    partitions: u32,
    pending: BTreeMap<u32, Vec<Record>>,
    /// Records in `pending`.
    waiting: usize,
    /// The [`SEQ_HEADER`](trustloop_connectors::feed::SEQ_HEADER) of the next event pushed without a cause.
    next_seq: u64,
    appended: u64,
    /// The transaction appends go through, if any.
    transaction: Option<Arc<dyn LogTransaction>>,
}

impl<'a> EventWriter<'a> {
    /// A writer to `topic` (which must exist).
    pub async fn new(backend: &'a Backend, topic: &str) -> Result<EventWriter<'a>> {
        let partitions = backend.log.partition_count(topic).await.with_context(|| format!("topic {topic}"))?;
        Ok(EventWriter {
            backend,
            topic: topic.to_string(),
            partitions,
            pending: BTreeMap::new(),
            waiting: 0,
            next_seq: 0,
            appended: 0,
            transaction: None,
        })
    }

    /// A writer to `topic` whose appends go through `transaction`.
    pub async fn in_transaction(
        backend: &'a Backend,
        topic: &str,
        transaction: Arc<dyn LogTransaction>,
    ) -> Result<EventWriter<'a>> {
        let mut w = EventWriter::new(backend, topic).await?;
        w.transaction = Some(transaction);
        Ok(w)
    }

    /// Queues one event; appends a batch when [`BATCH`] are waiting. The log stamps it with the
    /// batch's log time.
    pub async fn push(&mut self, event: &Event) -> Result<()> {
        self.push_at(event, None).await
    }

    /// Queues one event with a given log timestamp (milliseconds).
    pub async fn push_at(&mut self, event: &Event, timestamp_ms: Option<i64>) -> Result<()> {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue(event, timestamp_ms, Some(seq), None).await
    }

    /// Queues one event that starts a lineage now at `lineage` (its ingest span): the record
    /// carries it only when it differs from the lineage the event's id implies (when spans are
    /// exported), so untraced ingestion stores nothing more.
    pub async fn push_traced(&mut self, event: &Event, lineage: Lineage) -> Result<()> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let carry = (lineage != Lineage::root(&event.envelope().event_id)).then_some(lineage);
        self.queue(event, None, Some(seq), carry).await
    }

    /// Queues an event derived from the input at `cause_ms` (its log time) with `cause_seq` (its
    /// [`SEQ_HEADER`](trustloop_connectors::feed::SEQ_HEADER)): derived events carry their cause's log time, as Kafka Streams does, and its
    /// place in its batch, so they are merged downstream in the order of their causes.
    pub async fn push_derived(&mut self, event: &Event, cause_ms: i64, cause_seq: Option<u64>) -> Result<()> {
        self.queue(event, Some(cause_ms), cause_seq, None).await
    }

    /// [`EventWriter::push_derived`] of an event in `lineage` (its cause's trace, carried on in the
    /// record's `traceparent` header).
    pub async fn push_derived_in(
        &mut self,
        event: &Event,
        cause_ms: i64,
        cause_seq: Option<u64>,
        lineage: Lineage,
    ) -> Result<()> {
        self.queue(event, Some(cause_ms), cause_seq, Some(lineage)).await
    }

    async fn queue(
        &mut self,
        event: &Event,
        timestamp_ms: Option<i64>,
        seq: Option<u64>,
        lineage: Option<Lineage>,
    ) -> Result<()> {
        let value = self.backend.codec.encode(event).context("encoding an event")?;
        let key = event.envelope().key.as_bytes();
        let partition = partition_for_key(key, self.partitions);
        let mut record = Record::new(Some(Bytes::copy_from_slice(key)), value);
        record.timestamp_ms = timestamp_ms;
        if let Some(seq) = seq {
            record.headers.push(seq_header(seq));
        }
        if let Some(lineage) = lineage {
            record.headers.push(lineage.header());
        }
        self.pending.entry(partition).or_default().push(record);
        self.waiting += 1;
        if self.waiting >= BATCH {
            self.append_pending().await?;
        }
        Ok(())
    }

    /// Appends everything waiting as one batch (in a transaction: partition by partition, the
    /// transaction making them visible together).
    async fn append_pending(&mut self) -> Result<()> {
        let pending: Vec<(u32, Vec<Record>)> =
            std::mem::take(&mut self.pending).into_iter().filter(|(_, r)| !r.is_empty()).collect();
        let n = std::mem::take(&mut self.waiting) as u64;
        if pending.is_empty() {
            return Ok(());
        }
        match &self.transaction {
            Some(t) => {
                // The partitions' parts at once: one round trip to the brokers, not one per part.
                let topic = &self.topic;
                futures::future::try_join_all(pending.into_iter().map(|(partition, records)| async move {
                    t.append(topic, partition, records)
                        .await
                        .with_context(|| format!("appending to {topic}/{partition}"))
                }))
                .await?;
            }
            None => {
                self.backend
                    .log
                    .append_batch(&self.topic, pending)
                    .await
                    .with_context(|| format!("appending a batch to {}", self.topic))?;
            }
        }
        self.appended += n;
        Ok(())
    }

    /// Appends everything queued; returns how many events this writer appended in all.
    pub async fn flush(&mut self) -> Result<u64> {
        self.append_pending().await?;
        Ok(self.appended)
    }
}

/// Builds the dead letter for a rejected input line.
pub fn dead_letter(
    source_topic: &str,
    line: Option<u64>,
    raw: &str,
    error_kind: &str,
    reason: &str,
    defaults: &IngestDefaults,
) -> Event {
    let tenant = serde_json::from_str::<serde_json::Value>(raw)
        .ok()
        .and_then(|v| v.get("tenant").and_then(|t| t.as_str()).map(str::to_string))
        .filter(|t| !t.is_empty())
        .or_else(|| defaults.tenant.clone())
        .unwrap_or_else(|| "unknown".to_string());
    let line_bytes = line.unwrap_or(0).to_be_bytes();
    let id = derive_event_id("dead-letter", &[source_topic.as_bytes(), &line_bytes, raw.as_bytes()]);
    Event::DeadLetter(DeadLetter {
        envelope: Envelope {
            event_id: id,
            tenant: tenant.into(),
            key: source_topic.into(),
            event_time: EventTime::from_micros(defaults.now_micros),
            source: defaults.source.as_str().into(),
            schema_version: EventType::DeadLetter.schema_version(),
        },
        source_topic: source_topic.to_string(),
        source_partition: None,
        source_offset: None,
        line: line.map(|l| l as i64),
        error_kind: error_kind.to_string(),
        reason: reason.to_string(),
        payload: raw.as_bytes().to_vec(),
    })
}

/// Reads JSON lines from `input` and appends them to `topic` as `event_type` events.
pub async fn ingest_lines<R: AsyncBufRead + Unpin>(
    backend: &Backend,
    topic: &str,
    event_type: EventType,
    mut input: R,
    defaults: &IngestDefaults,
) -> Result<IngestReport> {
    let mut report = IngestReport::default();
    let mut out = EventWriter::new(backend, topic).await?;
    let mut dlq = EventWriter::new(backend, EventType::DeadLetter.topic()).await?;
    let mut line = String::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let n = input.read_line(&mut line).await.context("reading standard input")?;
        if n == 0 {
            break;
        }
        number += 1;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        report.lines += 1;
        match parse_event_json(event_type, text, defaults) {
            Ok(event) => out.push(&event).await?,
            Err(e) => {
                let reason = e.to_string();
                tracing::debug!(line = number, %reason, "rejected input line");
                dlq.push(&dead_letter(topic, Some(number), text, e.kind(), &reason, defaults)).await?;
                report.rejected.push(Rejection { line: number, reason });
            }
        }
    }
    report.appended = out.flush().await?;
    dlq.flush().await?;
    Ok(report)
}
