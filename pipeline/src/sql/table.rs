//! A topic of the event log as a DataFusion table. A scan reads the partitions straight from the
//! log (the embedded segments, or a bounded read of Kafka up to the end offsets it finds), decodes
//! the events and builds only the columns the query asks for. Predicates on `_partition`,
//! `_offset` and `_log_time` prune what is read (DataFusion still applies them: "inexact"); the
//! table's `as_of` bound leaves out everything appended after it.

use std::collections::BTreeSet;
use std::fmt;
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
use trustloop_schemas::json::event_to_json;
use trustloop_schemas::{Event, EventType};

use super::columns::{Builder, Column, arrow_schema, columns};
use crate::backend::Backend;

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
}

impl fmt::Debug for TopicTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TopicTable").field("topic", &self.topic).field("as_of_ms", &self.as_of_ms).finish()
    }
}

impl TopicTable {
    /// The table of `topic`, whose events are of `event_type`.
    pub fn new(backend: Arc<Backend>, topic: &str, event_type: EventType, as_of_ms: Option<i64>) -> TopicTable {
        let columns = columns(event_type);
        let schema = arrow_schema(&columns);
        TopicTable { backend, topic: topic.to_string(), event_type, columns, schema, as_of_ms }
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
    /// Reads every partition the pushdown leaves, each in a task of its own (the partitions become
    /// the plan's partitions, aggregated in parallel).
    async fn read(
        &self,
        wanted: &[usize],
        schema: &SchemaRef,
        pushdown: &Pushdown,
        limit: Option<usize>,
    ) -> Result<Vec<Vec<RecordBatch>>> {
        let external = |e: trustloop_connectors::log::LogError| DataFusionError::External(Box::new(e));
        let offsets = self.backend.log.offsets(&self.topic).await.map_err(external)?;
        let columns: Vec<Column> = wanted.iter().map(|i| self.columns[*i].clone()).collect();
        // Telemetry — the bulk of any history — is read through a borrowed view when the query needs
        // only its scalar columns.
        let view = self.event_type == EventType::Telemetry
            && columns.iter().all(|c| c.name.starts_with('_') || TELEMETRY_VIEW.contains(&c.name.as_str()));
        let mut tasks = Vec::new();
        for (p, o) in offsets.iter().enumerate() {
            let partition = p as u32;
            if pushdown.partitions.as_ref().is_some_and(|only| !only.contains(&partition)) {
                continue;
            }
            let scan = PartitionScan {
                backend: self.backend.clone(),
                topic: self.topic.clone(),
                partition,
                from: o.start.max(pushdown.offsets.0),
                until: o.end.min(pushdown.offsets.1),
                log_times: (pushdown.log_times.0, pushdown.log_times.1.min(self.as_of_ms.unwrap_or(i64::MAX))),
                columns: columns.clone(),
                schema: schema.clone(),
                limit,
                view,
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

/// The columns a [`TelemetryView`](trustloop_schemas::view::TelemetryView) holds.
const TELEMETRY_VIEW: [&str; 10] =
    ["event_id", "tenant", "key", "event_time", "source", "schema_version", "entity", "kind", "value", "unit"];

/// The scan of one partition.
struct PartitionScan {
    backend: Arc<Backend>,
    topic: String,
    partition: u32,
    from: i64,
    until: i64,
    /// Log times from and until, both included (milliseconds).
    log_times: (i64, i64),
    columns: Vec<Column>,
    schema: SchemaRef,
    limit: Option<usize>,
    /// Read telemetry through its borrowed view.
    view: bool,
}

impl PartitionScan {
    async fn run(self) -> Result<Vec<RecordBatch>> {
        let external = |e: trustloop_connectors::log::LogError| DataFusionError::External(Box::new(e));
        let (log, codec, registry) = (&self.backend.log, &self.backend.codec, &*self.backend.registry);
        let mut builders: Vec<Builder> = self.columns.iter().map(|c| Builder::new(c.kind)).collect();
        let (mut rows, mut in_batch, mut batches) = (0usize, 0usize, Vec::new());
        let mut pos = self.from;
        'read: while pos < self.until {
            let want = usize::try_from(self.until - pos).unwrap_or(usize::MAX).min(10_000);
            let records = log.read(&self.topic, self.partition, pos, want).await.map_err(external)?;
            let Some(last) = records.last() else { break };
            pos = last.offset + 1;
            for r in records.iter().filter(|r| r.offset < self.until) {
                if r.timestamp_ms > self.log_times.1 || r.timestamp_ms < self.log_times.0 {
                    continue;
                }
                let added = match self.view.then(|| codec.telemetry_view(&r.value)).flatten() {
                    Some(Ok(v)) => {
                        for (b, c) in builders.iter_mut().zip(&self.columns) {
                            if !log_column(r, v.envelope.event_time, &c.name, b) {
                                push_view(&v, &c.name, b);
                            }
                        }
                        true
                    }
                    // Records that do not decode are dead letters: not rows of the table.
                    Some(Err(_)) => false,
                    None => match codec.decode(&r.value, registry) {
                        Ok(event) => {
                            // The JSON form only for columns read no faster way, once per row.
                            let mut json = None;
                            for (b, c) in builders.iter_mut().zip(&self.columns) {
                                if log_column(r, event.envelope().event_time.as_micros(), &c.name, b)
                                    || direct(&event, &c.name, b)
                                {
                                    continue;
                                }
                                b.push(json.get_or_insert_with(|| event_to_json(&event)).get(c.name.as_str()));
                            }
                            true
                        }
                        Err(_) => false,
                    },
                };
                if !added {
                    continue;
                }
                rows += 1;
                in_batch += 1;
                if in_batch == BATCH_ROWS {
                    batches.push(finish(&self.schema, &mut builders, in_batch)?);
                    in_batch = 0;
                }
                if self.limit.is_some_and(|l| rows >= l) {
                    break 'read;
                }
            }
        }
        if in_batch > 0 {
            batches.push(finish(&self.schema, &mut builders, in_batch)?);
        }
        Ok(batches)
    }
}

/// Appends the log's column `name` of record `r` (event time `event_micros`); `false` if `name` is
/// not one of the log's columns.
fn log_column(r: &trustloop_connectors::log::StoredRecord, event_micros: i64, name: &str, b: &mut Builder) -> bool {
    match name {
        "_topic" => b.push_text(&r.topic),
        "_partition" => b.push_int(i64::from(r.partition)),
        "_offset" => b.push_int(r.offset),
        "_event_time" => b.push_micros(event_micros),
        "_log_time" => b.push_micros(r.timestamp_ms.saturating_mul(1_000)),
        _ => return false,
    }
    true
}

/// Appends column `name` of a telemetry view.
fn push_view(v: &trustloop_schemas::view::TelemetryView<'_>, name: &str, b: &mut Builder) {
    match name {
        "event_id" => b.push_text(v.envelope.event_id),
        "tenant" => b.push_text(v.envelope.tenant),
        "key" => b.push_text(v.envelope.key),
        "source" => b.push_text(v.envelope.source),
        "event_time" => b.push_micros(v.envelope.event_time),
        "schema_version" => b.push_int(i64::from(v.envelope.schema_version)),
        "entity" => b.push_text(v.entity),
        "kind" => b.push_text(v.kind),
        "value" => b.push_float(v.value),
        "unit" => b.push_opt_text(v.unit),
        _ => b.push(None),
    }
}

/// Appends column `name` of `event` to `b` straight from the event, for the envelope's fields and
/// telemetry's scalars (the bulk of the history); `false` for the others.
fn direct(event: &Event, name: &str, b: &mut Builder) -> bool {
    let env = event.envelope();
    match name {
        "event_id" => b.push_text(&env.event_id.to_string()),
        "tenant" => b.push_text(&env.tenant),
        "key" => b.push_text(&env.key),
        "source" => b.push_text(&env.source),
        "event_time" => b.push_micros(env.event_time.as_micros()),
        "schema_version" => b.push_int(i64::from(env.schema_version)),
        _ => match event {
            Event::Telemetry(t) => match name {
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
