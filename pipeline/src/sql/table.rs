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
        TopicTable { backend, topic: topic.to_string(), columns, schema, as_of_ms }
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
        let batches = self.read(&wanted, &schema, &pushdown, limit).await?;
        Ok(MemorySourceConfig::try_new_exec(&[batches], schema, None)?)
    }
}

impl TopicTable {
    async fn read(
        &self,
        wanted: &[usize],
        schema: &SchemaRef,
        pushdown: &Pushdown,
        limit: Option<usize>,
    ) -> Result<Vec<RecordBatch>> {
        let external = |e: trustloop_connectors::log::LogError| DataFusionError::External(Box::new(e));
        let log = &self.backend.log;
        let offsets = log.offsets(&self.topic).await.map_err(external)?;
        let columns: Vec<&Column> = wanted.iter().map(|i| &self.columns[*i]).collect();
        let mut builders: Vec<Builder> = columns.iter().map(|c| Builder::new(c.kind)).collect();
        let mut rows = 0usize;
        let mut in_batch = 0usize;
        let mut batches = Vec::new();
        let max_log_time = pushdown.log_times.1.min(self.as_of_ms.unwrap_or(i64::MAX));
        'partitions: for (p, o) in offsets.iter().enumerate() {
            let partition = p as u32;
            if pushdown.partitions.as_ref().is_some_and(|only| !only.contains(&partition)) {
                continue;
            }
            let mut pos = o.start.max(pushdown.offsets.0);
            let end = o.end.min(pushdown.offsets.1);
            while pos < end {
                let want = usize::try_from(end - pos).unwrap_or(usize::MAX).min(10_000);
                let records = log.read(&self.topic, partition, pos, want).await.map_err(external)?;
                let Some(last) = records.last() else { break };
                pos = last.offset + 1;
                for r in records.iter().filter(|r| r.offset < end) {
                    if r.timestamp_ms > max_log_time || r.timestamp_ms < pushdown.log_times.0 {
                        continue;
                    }
                    // Records that do not decode are dead letters: not rows of the table.
                    let Ok(event) = self.backend.codec.decode(&r.value, &*self.backend.registry) else { continue };
                    // The JSON form only for columns read no faster way, once per row.
                    let mut json = None;
                    for (b, c) in builders.iter_mut().zip(&columns) {
                        match c.name.as_str() {
                            "_topic" => b.push_text(&r.topic),
                            "_partition" => b.push_int(i64::from(r.partition)),
                            "_offset" => b.push_int(r.offset),
                            "_event_time" => b.push_micros(event.envelope().event_time.as_micros()),
                            "_log_time" => b.push_micros(r.timestamp_ms.saturating_mul(1_000)),
                            name => {
                                if !direct(&event, name, b) {
                                    let j = json.get_or_insert_with(|| event_to_json(&event));
                                    b.push(j.get(name));
                                }
                            }
                        }
                    }
                    rows += 1;
                    in_batch += 1;
                    if in_batch == BATCH_ROWS {
                        batches.push(finish(schema, &mut builders, in_batch)?);
                        in_batch = 0;
                    }
                    if limit.is_some_and(|l| rows >= l) {
                        break 'partitions;
                    }
                }
            }
        }
        if in_batch > 0 || batches.is_empty() {
            batches.push(finish(schema, &mut builders, in_batch)?);
        }
        Ok(batches)
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
