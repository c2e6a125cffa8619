//! SQL over the event history (DataFusion): every topic of the log is a table (see [`table`]);
//! `trustloop sql` runs one query and prints its result.
//!
//! Table names are the topic names with `_` for `-` (`trust_scores`, `action_results`); the topic
//! names themselves work quoted (`"trust-scores"`). With an `as_of` time every table holds only what
//! the log had been given by then.

pub mod columns;
pub mod format;
pub mod table;

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::SessionContext;
use trustloop_schemas::EventType;

use table::TopicTable;
use trustloop_runtime::backend::Backend;

/// What rows a session may see: one tenant's events (and, for a sub-service, only those it
/// produced: `source` equal to it). Applied in the scan itself, below anything a query can say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confinement {
    /// The tenant.
    pub tenant: String,
    /// The sub-service, if any.
    pub service: Option<String>,
}

impl Confinement {
    /// Whether an event of `tenant` from `source` is visible.
    pub fn admits(&self, tenant: &str, source: &str) -> bool {
        self.tenant == tenant && self.service.as_deref().is_none_or(|s| s == source)
    }
}

/// A session with every topic of `backend` registered as a table, bounded by `as_of_ms` (log time,
/// milliseconds) if given.
pub async fn session(backend: Arc<Backend>, as_of_ms: Option<i64>) -> Result<SessionContext> {
    confined_session(backend, as_of_ms, None).await
}

/// [`session`], every table holding only the rows `confinement` admits.
pub async fn confined_session(
    backend: Arc<Backend>,
    as_of_ms: Option<i64>,
    confinement: Option<Confinement>,
) -> Result<SessionContext> {
    let ctx = SessionContext::new();
    let topics = backend.log.list_topics().await.map_err(|e| DataFusionError::External(Box::new(e)))?;
    for t in topics {
        let Some(event_type) = EventType::from_topic(&t.name) else { continue };
        let table = Arc::new(TopicTable::new(backend.clone(), &t.name, event_type, as_of_ms, confinement.clone()));
        if t.name.contains('-') {
            ctx.register_table(t.name.replace('-', "_").as_str(), table.clone())?;
        }
        ctx.register_table(datafusion::common::TableReference::bare(t.name.as_str()), table)?;
    }
    Ok(ctx)
}

/// Runs `query` in `ctx`; returns its result.
pub async fn query(ctx: &SessionContext, query: &str) -> Result<Vec<RecordBatch>> {
    ctx.sql(query).await?.collect().await
}

/// Runs `query` in `ctx` if it is a query (a `SELECT`, `WITH`, `EXPLAIN`, ...): no DDL (which
/// could, for one, register a table over any file the process can read), no DML, no `SET`. For
/// queries from the network.
pub async fn read_only_query(ctx: &SessionContext, query: &str) -> Result<Vec<RecordBatch>> {
    let options = datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    ctx.sql_with_options(query, options).await?.collect().await
}
