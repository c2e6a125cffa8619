//! A topic of the event log as a DataFusion table. A scan reads the partitions straight from the
//! log (the embedded segments, or a bounded read of Kafka up to the end offsets it finds), decodes
//! the events and builds only the columns the query asks for. Predicates on `_partition`,
//! `_offset` and `_log_time` prune what is read (DataFusion still applies them: "inexact"); the
//! table's `as_of` bound leaves out everything appended after it.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::scalar::ScalarValue;
use trustloop_connectors::log::RecordView;
use trustloop_schemas::json::event_to_json;
use trustloop_schemas::{Event, EventType};

use super::Confinement;
use super::columns::{Builder, Column, Kind, arrow_schema, columns};
use trustloop_runtime::backend::Backend;

/// Rows per record batch.
const BATCH_ROWS: usize = 8_192;

/// One topic as a table (see the module docs).
pub struct TopicTable {
    backend: Arc<Backend>,
    topic: String,
    event_type: EventType,
    columns: Vec<Column>,
    schema: SchemaRef,
    /// Leave out records appended after this log time (milliseconds).
    as_of_ms: Option<i64>,
    /// Only the rows this admits.
    confinement: Option<Confinement>,
}

impl fmt::Debug for TopicTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TopicTable").field("topic", &self.topic).field("as_of_ms", &self.as_of_ms).finish()
    }
}

impl TopicTable {
    /// The table of `topic`, whose events are of `event_type`.
    pub fn new(
        backend: Arc<Backend>,
        topic: &str,
        event_type: EventType,
        as_of_ms: Option<i64>,
        confinement: Option<Confinement>,
    ) -> TopicTable {
        let columns = columns(event_type);
        let schema = arrow_schema(&columns);
        TopicTable { backend, topic: topic.to_string(), event_type, columns, schema, as_of_ms, confinement }
    }
}

/// What the pushed-down predicates allow a scan to skip.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pushdown {
    partitions: Option<BTreeSet<u32>>,
    /// Offsets from (included) and until (excluded).
    offsets: (i64, i64),
    /// Log times from and until, both included (milliseconds).
    log_times: (i64, i64),
}

impl Default for Pushdown {
    fn default() -> Pushdown {
        Pushdown { partitions: None, offsets: (0, i64::MAX), log_times: (i64::MIN, i64::MAX) }
    }
}

/// A literal as an integer: integers as they are, timestamps in milliseconds.
fn literal(v: &ScalarValue, column: &str) -> Option<i64> {
    let ms = |v: Option<i64>, per_ms: i64| v.map(|v| v.div_euclid(per_ms));
    match (column, v) {
        ("_log_time", ScalarValue::TimestampMicrosecond(v, _)) => ms(*v, 1_000),
        ("_log_time", ScalarValue::TimestampMillisecond(v, _)) => *v,
        ("_log_time", ScalarValue::TimestampNanosecond(v, _)) => ms(*v, 1_000_000),
        ("_log_time", ScalarValue::TimestampSecond(v, _)) => v.map(|s| s.saturating_mul(1_000)),
        ("_partition" | "_offset", v) => match v {
            ScalarValue::Int64(v) => *v,
            ScalarValue::Int32(v) => v.map(i64::from),
            ScalarValue::UInt32(v) => v.map(i64::from),
            ScalarValue::UInt64(v) => v.and_then(|v| i64::try_from(v).ok()),
            _ => None,
        },
        _ => None,
    }
}

/// `column op literal` (or the mirror image), if `expr` is such a predicate on one of the log's
/// columns.
fn comparison(expr: &Expr) -> Option<(&str, Operator, i64)> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else { return None };
    let (column, op, value) = match (left.as_ref(), right.as_ref()) {
        (Expr::Column(c), Expr::Literal(v, _)) => (c.name.as_str(), *op, v),
        (Expr::Literal(v, _), Expr::Column(c)) => (c.name.as_str(), op.swap()?, v),
        _ => return None,
    };
    if !matches!(column, "_partition" | "_offset" | "_log_time") {
        return None;
    }
    Some((column, op, literal(value, column)?))
}

impl Pushdown {
    fn of(filters: &[Expr]) -> Pushdown {
        let mut p = Pushdown::default();
        for f in filters {
            let Some((column, op, v)) = comparison(f) else { continue };
            match (column, op) {
                ("_partition", Operator::Eq) => {
                    let only: BTreeSet<u32> = u32::try_from(v).into_iter().collect();
                    p.partitions = Some(match p.partitions.take() {
                        Some(set) => set.intersection(&only).copied().collect(),
                        None => only,
                    });
                }
                ("_offset", Operator::Eq) => p.offsets = (p.offsets.0.max(v), p.offsets.1.min(v.saturating_add(1))),
                ("_offset", Operator::Gt) => p.offsets.0 = p.offsets.0.max(v.saturating_add(1)),
                ("_offset", Operator::GtEq) => p.offsets.0 = p.offsets.0.max(v),
                ("_offset", Operator::Lt) => p.offsets.1 = p.offsets.1.min(v),
                ("_offset", Operator::LtEq) => p.offsets.1 = p.offsets.1.min(v.saturating_add(1)),
                ("_log_time", Operator::Gt | Operator::GtEq) => p.log_times.0 = p.log_times.0.max(v),
                ("_log_time", Operator::Lt | Operator::LtEq) => p.log_times.1 = p.log_times.1.min(v),
                _ => {}
            }
        }
        p
    }
}

#[async_trait]
impl TableProvider for TopicTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| match comparison(f) {
                Some(_) => TableProviderFilterPushDown::Inexact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let wanted: Vec<usize> = projection.cloned().unwrap_or_else(|| (0..self.columns.len()).collect());
        let schema = Arc::new(self.schema.project(&wanted)?);
        let pushdown = Pushdown::of(filters);
        // A limit alone may stop the scan early; with filters DataFusion needs every candidate row.
        let limit = if filters.is_empty() { limit } else { None };
        let partitions = self.read(&wanted, &schema, &pushdown, limit).await?;
        Ok(MemorySourceConfig::try_new_exec(&partitions, schema, None)?)
    }
}

impl TopicTable {
    /// Reads every partition the pushdown leaves, big ones split into offset ranges read in tasks of
    /// their own (the ranges become the plan's partitions, aggregated in parallel: three partitions
    /// on two cores would otherwise leave one core idle for a third of the scan).
    async fn read(
        &self,
        wanted: &[usize],
        schema: &SchemaRef,
        pushdown: &Pushdown,
        limit: Option<usize>,
    ) -> Result<Vec<Vec<RecordBatch>>> {
        let external = |e: trustloop_connectors::log::LogError| DataFusionError::External(Box::new(e));
        let offsets = self.backend.log.offsets(&self.topic).await.map_err(external)?;
        let fields: Vec<Field> = wanted.iter().map(|i| Field::of(&self.columns[*i])).collect();
        let kinds: Vec<Kind> = wanted.iter().map(|i| self.columns[*i].kind).collect();
        // Telemetry — the bulk of any history — is read through a borrowed view when the query needs
        // only its scalar columns.
        let view = self.event_type == EventType::Telemetry
            && fields.iter().all(|f| !matches!(f, Field::Other(_) | Field::Nested(..)));
        let ranges: Vec<(u32, i64, i64)> = offsets
            .iter()
            .enumerate()
            .map(|(p, o)| (p as u32, o.start.max(pushdown.offsets.0), o.end.min(pushdown.offsets.1)))
            .filter(|(p, from, until)| from < until && pushdown.partitions.as_ref().is_none_or(|only| only.contains(p)))
            .collect();
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let mut tasks = Vec::new();
        for (partition, from, until) in split(&ranges, 2 * cores) {
            let scan = PartitionScan {
                backend: self.backend.clone(),
                topic: self.topic.clone(),
                partition,
                from,
                until,
                log_times: (pushdown.log_times.0, pushdown.log_times.1.min(self.as_of_ms.unwrap_or(i64::MAX))),
                fields: fields.clone(),
                kinds: kinds.clone(),
                schema: schema.clone(),
                limit,
                view,
                confinement: self.confinement.clone(),
            };
            tasks.push(tokio::spawn(scan.run()));
        }
        let mut partitions = Vec::with_capacity(tasks.len());
        for t in tasks {
            partitions.push(t.await.map_err(|e| DataFusionError::External(Box::new(e)))??);
        }
        if partitions.is_empty() {
            partitions.push(vec![RecordBatch::new_empty(schema.clone())]);
        }
        Ok(partitions)
    }
}

/// Records below which a partition is not split.
const MIN_SPLIT: i64 = 65_536;

/// Splits the offset ranges `(partition, from, until)` into about `pieces` ranges of similar size
/// (none smaller than [`MIN_SPLIT`] records), in partition and offset order.
fn split(ranges: &[(u32, i64, i64)], pieces: usize) -> Vec<(u32, i64, i64)> {
    let total: i64 = ranges.iter().map(|(_, from, until)| until - from).sum();
    let piece = (total / i64::try_from(pieces.max(1)).unwrap_or(1)).max(MIN_SPLIT);
    let mut out = Vec::new();
    for &(p, from, until) in ranges {
        let n = ((until - from) + piece - 1) / piece;
        let step = (until - from + n - 1) / n.max(1);
        let mut at = from;
        while at < until {
            let end = (at + step.max(1)).min(until);
            out.push((p, at, end));
            at = end;
        }
    }
    out
}

/// The columns a [`TelemetryView`](trustloop_schemas::view::TelemetryView) holds.
const TELEMETRY_VIEW: [&str; 10] =
    ["event_id", "tenant", "key", "event_time", "source", "schema_version", "entity", "kind", "value", "unit"];

/// Where a column's values come from, resolved once per scan rather than per row.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    /// `_topic`.
    Topic,
    /// `_partition`.
    Partition,
    /// `_offset`.
    Offset,
    /// `_event_time`, and the envelope's `event_time`.
    EventTime,
    /// `_log_time`.
    LogTime,
    /// The envelope's (and telemetry's) scalar column of this name, one of [`TELEMETRY_VIEW`].
    Scalar(&'static str),
    /// Any other column, read from the event's JSON form.
    Other(String),
    /// A column spread from a record field (see [`super::columns`]): the record's field, the inner one.
    Nested(String, String),
}

impl Field {
    fn of(c: &Column) -> Field {
        if let Some((outer, inner)) = &c.nested {
            return Field::Nested(outer.clone(), inner.clone());
        }
        match c.name.as_str() {
            "_topic" => Field::Topic,
            "_partition" => Field::Partition,
            "_offset" => Field::Offset,
            "_event_time" | "event_time" => Field::EventTime,
            "_log_time" => Field::LogTime,
            name => match TELEMETRY_VIEW.iter().find(|v| **v == name) {
                Some(v) => Field::Scalar(v),
                None => Field::Other(name.to_string()),
            },
        }
    }
}

/// The scan of one range of one partition.
struct PartitionScan {
    backend: Arc<Backend>,
    topic: String,
    partition: u32,
    from: i64,
    until: i64,
    /// Log times from and until, both included (milliseconds).
    log_times: (i64, i64),
    fields: Vec<Field>,
    kinds: Vec<Kind>,
    schema: SchemaRef,
    limit: Option<usize>,
    /// Read telemetry through its borrowed view.
    view: bool,
    /// Only the rows this admits.
    confinement: Option<Confinement>,
}

/// The rows a scan has built so far.
struct Rows<'s> {
    scan: &'s PartitionScan,
    builders: Vec<Builder>,
    rows: usize,
    in_batch: usize,
    batches: Vec<RecordBatch>,
    error: Option<DataFusionError>,
}

impl Rows<'_> {
    /// Adds the record `r` as a row, if it is one (records that do not decode are dead letters, not
    /// rows); `Break` once the limit is reached or on an error.
    fn add(&mut self, r: RecordView<'_>) -> ControlFlow<()> {
        let scan = self.scan;
        if r.timestamp_ms > scan.log_times.1 || r.timestamp_ms < scan.log_times.0 {
            return ControlFlow::Continue(());
        }
        let (codec, registry) = (&scan.backend.codec, &*scan.backend.registry);
        let position = (scan.topic.as_str(), scan.partition, r.offset, r.timestamp_ms);
        let admitted = |tenant: &str, source: &str| scan.confinement.as_ref().is_none_or(|c| c.admits(tenant, source));
        let added = match scan.view.then(|| codec.telemetry_view(r.value)).flatten() {
            Some(Ok(v)) if !admitted(v.envelope.tenant, v.envelope.source) => false,
            Some(Ok(v)) => {
                for (b, f) in self.builders.iter_mut().zip(&scan.fields) {
                    if !log_column(position, v.envelope.event_time, f, b) {
                        push_view(&v, f, b);
                    }
                }
                true
            }
            Some(Err(_)) => false,
            None => match codec.decode(r.value, registry) {
                Ok(event) if !admitted(&event.envelope().tenant, &event.envelope().source) => false,
                Ok(event) => {
                    // The JSON form only for columns read no faster way, once per row.
                    let mut json = None;
                    for (b, f) in self.builders.iter_mut().zip(&scan.fields) {
                        if log_column(position, event.envelope().event_time.as_micros(), f, b) || direct(&event, f, b) {
                            continue;
                        }
                        let json = json.get_or_insert_with(|| event_to_json(&event));
                        match f {
                            Field::Other(name) => b.push(json.get(name)),
                            Field::Scalar(name) => b.push(json.get(*name)),
                            Field::Nested(outer, inner) => b.push(json.get(outer).and_then(|o| o.get(inner))),
                            _ => continue,
                        }
                    }
                    true
                }
                Err(_) => false,
            },
        };
        if !added {
            return ControlFlow::Continue(());
        }
        self.rows += 1;
        self.in_batch += 1;
        if self.in_batch == BATCH_ROWS {
            match finish(&scan.schema, &mut self.builders, self.in_batch) {
                Ok(batch) => self.batches.push(batch),
                Err(e) => {
                    self.error = Some(e);
                    return ControlFlow::Break(());
                }
            }
            self.in_batch = 0;
        }
        match scan.limit.is_some_and(|l| self.rows >= l) {
            true => ControlFlow::Break(()),
            false => ControlFlow::Continue(()),
        }
    }
}

impl PartitionScan {
    async fn run(self) -> Result<Vec<RecordBatch>> {
        let external = |e: trustloop_connectors::log::LogError| DataFusionError::External(Box::new(e));
        let builders = self.kinds.iter().map(|k| Builder::new(*k)).collect();
        let mut rows = Rows { scan: &self, builders, rows: 0, in_batch: 0, batches: Vec::new(), error: None };
        let mut pos = self.from;
        while pos < self.until && rows.error.is_none() && self.limit.is_none_or(|l| rows.rows < l) {
            let next = self
                .backend
                .log
                .scan(&self.topic, self.partition, pos, self.until, &mut |r| rows.add(r))
                .await
                .map_err(external)?;
            if next == pos {
                // Nothing more to hand out (a bounded Kafka scan whose fetch came back empty).
                break;
            }
            pos = next;
        }
        if let Some(e) = rows.error {
            return Err(e);
        }
        if rows.in_batch > 0 {
            rows.batches.push(finish(&self.schema, &mut rows.builders, rows.in_batch)?);
        }
        Ok(rows.batches)
    }
}

/// Appends the log's column `f` of the record at `(topic, partition, offset, log time)` (event time
/// `event_micros`); `false` if `f` is not one of the log's columns.
fn log_column(at: (&str, u32, i64, i64), event_micros: i64, f: &Field, b: &mut Builder) -> bool {
    let (topic, partition, offset, log_ms) = at;
    match f {
        Field::Topic => b.push_text(topic),
        Field::Partition => b.push_int(i64::from(partition)),
        Field::Offset => b.push_int(offset),
        Field::EventTime => b.push_micros(event_micros),
        Field::LogTime => b.push_micros(log_ms.saturating_mul(1_000)),
        Field::Scalar(_) | Field::Other(_) | Field::Nested(..) => return false,
    }
    true
}

/// Appends column `f` of a telemetry view.
fn push_view(v: &trustloop_schemas::view::TelemetryView<'_>, f: &Field, b: &mut Builder) {
    match f {
        Field::Scalar("event_id") => b.push_text(v.envelope.event_id),
        Field::Scalar("tenant") => b.push_text(v.envelope.tenant),
        Field::Scalar("key") => b.push_text(v.envelope.key),
        Field::Scalar("source") => b.push_text(v.envelope.source),
        Field::Scalar("schema_version") => b.push_int(i64::from(v.envelope.schema_version)),
        Field::Scalar("entity") => b.push_text(v.entity),
        Field::Scalar("kind") => b.push_text(v.kind),
        Field::Scalar("value") => b.push_float(v.value),
        Field::Scalar("unit") => b.push_opt_text(v.unit),
        _ => b.push(None),
    }
}

/// Appends column `f` of `event` to `b` straight from the event, for the envelope's fields and
/// telemetry's scalars (the bulk of the history); `false` for the others.
fn direct(event: &Event, f: &Field, b: &mut Builder) -> bool {
    let env = event.envelope();
    let Field::Scalar(name) = f else { return false };
    match *name {
        "event_id" => b.push_text(&env.event_id.to_string()),
        "tenant" => b.push_text(&env.tenant),
        "key" => b.push_text(&env.key),
        "source" => b.push_text(&env.source),
        "schema_version" => b.push_int(i64::from(env.schema_version)),
        _ => match event {
            Event::Telemetry(t) => match *name {
                "entity" => b.push_text(&t.entity),
                "kind" => b.push_text(&t.kind),
                "value" => b.push_float(t.value),
                "unit" => b.push_opt_text(t.unit.as_deref()),
                _ => return false,
            },
            _ => return false,
        },
    }
    true
}

fn finish(schema: &SchemaRef, builders: &mut [Builder], rows: usize) -> Result<RecordBatch> {
    let arrays = builders.iter_mut().map(Builder::finish).collect();
    let options = datafusion::arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(schema.clone(), arrays, &options)?)
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::{col, lit};

    use super::*;

    #[test]
    fn big_partitions_are_split_into_ranges_that_cover_them() {
        // Small partitions stay whole.
        assert_eq!(split(&[(0, 0, 10), (2, 5, 9)], 4), [(0, 0, 10), (2, 5, 9)]);
        // Three big ones over four pieces: each split in two, contiguous, covering all.
        let ranges = [(0, 0, 300_000), (1, 10, 300_010), (2, 0, 299_999)];
        let pieces = split(&ranges, 4);
        assert_eq!(pieces.len(), 6);
        for &(p, from, until) in &ranges {
            let mine: Vec<_> = pieces.iter().filter(|r| r.0 == p).collect();
            assert_eq!(mine.first().map(|r| r.1), Some(from));
            assert_eq!(mine.last().map(|r| r.2), Some(until));
            assert!(mine.windows(2).all(|w| w[0].2 == w[1].1), "contiguous: {mine:?}");
            assert!(mine.iter().all(|r| r.2 - r.1 >= MIN_SPLIT));
        }
        assert!(split(&[], 4).is_empty());
    }

    #[test]
    fn predicates_on_the_log_columns_prune_the_scan() {
        let filters = [
            col("_partition").eq(lit(1i64)),
            col("_offset").gt_eq(lit(10i64)),
            lit(20i64).gt(col("_offset")),
            col("kind").eq(lit("heartbeat")),
        ];
        let p = Pushdown::of(&filters);
        assert_eq!(p.partitions, Some(BTreeSet::from([1])));
        assert_eq!(p.offsets, (10, 20));
        assert_eq!(p.log_times, (i64::MIN, i64::MAX));
        assert!(comparison(&filters[3]).is_none(), "other columns are not pushed down");
        let t = col("_log_time").lt_eq(lit(ScalarValue::TimestampMicrosecond(Some(5_000_000), None)));
        assert_eq!(Pushdown::of(&[t]).log_times, (i64::MIN, 5_000));
    }
}
