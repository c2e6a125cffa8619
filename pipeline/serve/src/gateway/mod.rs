//! The HTTP gateway (`trustloop serve`, or `trustloop run --gateway`): producers that cannot speak
//! Kafka post events; analysts and dashboards read their tenant's history; stock Kafka tooling
//! decodes the topics through a Schema Registry subset.
//!
//! | route | token | what |
//! | --- | --- | --- |
//! | `GET /healthz`, `/readyz`, `/metrics` | none | liveness, readiness, Prometheus metrics |
//! | `POST /v1/events/{topic}` | `ingest` (`admin` for `policies`, `approvals`) | JSON, NDJSON or Confluent-framed Avro, one event or a batch: all written or none |
//! | `GET /v1/sql?q=QUERY[&format=json\|csv][&as_of=TIME]` | `read` | SQL over the caller's tenant's events |
//! | `GET /v1/verdicts/{subject}` | `read` | the subject's verdicts |
//! | `GET /v1/replay/{event_id}` | `read` | a verdict's or action's replay: MATCH or MISMATCH and the report |
//! | `GET /dashboard`, `/v1/stream`, `/v1/dashboard` | `read` (also as `?access_token=`) | the live dashboard, its server-sent events, its snapshot |
//! | `GET /subjects`, `/subjects/{s}/versions[/{v}]`, `/schemas/ids/{id}` | any | Schema Registry subset |
//!
//! Every token belongs to one tenant ([`tokens`]): what it writes must be its tenant's, what it
//! reads is confined to its tenant in the scan itself. 401 without a valid token, 403 for the wrong
//! role or tenant.

pub mod auth;
pub mod batches;
pub mod dashboard;
pub mod error;
pub mod events;
pub mod limits;
pub mod metrics;
pub mod read;
pub mod registry;
pub mod tokens;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use trustloop_connectors::registry::LogSchemaRegistry;
use trustloop_runtime::error::{Context, Result, RuntimeError};

use trustloop_runtime::backend::Backend;
use trustloop_runtime::ops::Ops;

use crate::server::ExtraMetrics;
use error::ApiError;
use limits::{Limit, TenantLimits};
use tokens::{Principal, Role, TokenStore};

/// The largest request body accepted (413 beyond).
pub const MAX_BODY_BYTES: usize = 16 << 20;
/// The most events one request may carry (413 beyond): one append, visible whole or not at all.
pub const MAX_BATCH_EVENTS: usize = trustloop_runtime::ingest::BATCH;

/// Options of the gateway (the command line's `--tenant-rate`, `--limit`, `--max-rows`, …).
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// Sustained events per second each tenant may post; over it, requests are answered 429 with
    /// `Retry-After`.
    pub tenant_rate: u32,
    /// Events a tenant may post at once before the sustained rate applies.
    pub tenant_burst: u32,
    /// Another limit for one tenant: `TENANT=RATE` or `TENANT=RATE/BURST` (repeatable).
    pub limits: Vec<String>,
    /// Rows a SQL answer holds at most (the rest is cut, and the answer says so).
    pub max_rows: usize,
    /// How long a SQL query may run.
    pub query_timeout_s: u64,
    /// On Kafka, how many batches the gateway writes at once, each in a transaction of its own so
    /// that it shows whole or not at all. 0 appends a batch partition by partition (for brokers
    /// without transactions; a failure midway then leaves part of it written). The embedded log
    /// writes every batch whole without them.
    pub batch_writers: usize,
    /// The gateway's name on Kafka, which its batch writers' transactional ids start with: keep it
    /// the same across restarts and different for every gateway [default:
    /// `trustloop-gateway-HOST-PORT`].
    pub gateway_id: Option<String>,
    /// The log's key, which signs the evidence bundles `GET /v1/evidence/{verdict_id}` serves
    /// (none: that route answers 404 `no_evidence_key`).
    pub evidence_signer: Option<Arc<trustloop_schemas::transparency::checkpoint::NoteSigner>>,
}

impl Default for GatewayOptions {
    fn default() -> GatewayOptions {
        GatewayOptions {
            tenant_rate: 200_000,
            tenant_burst: 50_000,
            limits: Vec::new(),
            max_rows: 100_000,
            query_timeout_s: 60,
            batch_writers: 4,
            gateway_id: None,
            evidence_signer: None,
        }
    }
}

/// Parses `TENANT=RATE[/BURST]` (a missing burst is the rate).
fn parse_limit(text: &str) -> Result<(String, Limit)> {
    let Some((tenant, spec)) = text.split_once('=') else {
        return Err(RuntimeError::invalid(format!("--limit {text}: expected TENANT=RATE[/BURST]")));
    };
    let (rate, burst) = spec.split_once('/').unwrap_or((spec, spec));
    let number = |s: &str| s.trim().parse::<u32>().ok().filter(|n| *n > 0);
    match (number(rate), number(burst)) {
        (Some(rate), Some(burst)) if !tenant.is_empty() => Ok((tenant.to_string(), Limit { rate, burst })),
        _ => Err(RuntimeError::invalid(format!(
            "--limit {text}: expected TENANT=RATE[/BURST] with positive whole numbers"
        ))),
    }
}

/// What every handler shares.
pub struct Gateway {
    backend: Arc<Backend>,
    tokens: Arc<TokenStore>,
    limits: TenantLimits,
    /// The log's own schema registry, when the backend uses it (not a Confluent one).
    schemas: Option<LogSchemaRegistry>,
    /// Transactional writers for batches, on a log whose batches are not whole by themselves.
    batch_writers: Option<batches::BatchWriters>,
    state_dir: Option<PathBuf>,
    max_rows: usize,
    query_timeout: Duration,
    evidence_signer: Option<Arc<trustloop_schemas::transparency::checkpoint::NoteSigner>>,
    metrics: metrics::GatewayMetrics,
    dashboard: dashboard::Feed,
    /// Set when the gateway stops: open event streams end.
    closing: tokio::sync::watch::Sender<bool>,
}

/// The gateway's background tasks (token refresh, dashboard feed): stopped when dropped.
pub struct Background(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Background {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

impl Gateway {
    /// A gateway over `backend`, to listen on `listen` (its default name on Kafka comes from it);
    /// replays start from the snapshots in `state_dir`, if given.
    pub async fn new(
        backend: Arc<Backend>,
        args: &GatewayOptions,
        listen: &str,
        state_dir: Option<PathBuf>,
    ) -> Result<Gateway> {
        let overrides = args.limits.iter().map(|l| parse_limit(l)).collect::<Result<HashMap<_, _>>>()?;
        if args.tenant_rate == 0 || args.tenant_burst == 0 {
            return Err(RuntimeError::invalid("--tenant-rate and --tenant-burst must be at least 1"));
        }
        let tokens = Arc::new(TokenStore::open(backend.log.clone()).await.context("cannot read the tokens")?);
        // Schemas straight from the log's registry topic: with a Confluent registry, tools use that.
        let schemas = match backend
            .log
            .list_topics()
            .await?
            .iter()
            .any(|t| t.name == trustloop_connectors::registry::SCHEMAS_TOPIC)
        {
            true => Some(LogSchemaRegistry::open(backend.log.clone()).await.context("cannot read the schemas")?),
            false => None,
        };
        let batch_writers = match (backend.log.atomic_batches(), args.batch_writers) {
            (true, _) | (false, 0) => None,
            (false, n) => {
                let id = args.gateway_id.clone().unwrap_or_else(|| batches::default_gateway_id(listen));
                trustloop_connectors::log::validate_name(&id).context("--gateway-id")?;
                Some(batches::BatchWriters::start(backend.log.as_ref(), &id, n).await?)
            }
        };
        Ok(Gateway {
            backend,
            tokens,
            batch_writers,
            limits: TenantLimits::new(Limit { rate: args.tenant_rate, burst: args.tenant_burst }, overrides),
            schemas,
            state_dir,
            max_rows: args.max_rows.max(1),
            query_timeout: Duration::from_secs(args.query_timeout_s.max(1)),
            evidence_signer: args.evidence_signer.clone(),
            metrics: metrics::GatewayMetrics::default(),
            dashboard: dashboard::Feed::default(),
            closing: tokio::sync::watch::Sender::new(false),
        })
    }

    /// The token store (for `trustloop token` and tests).
    pub fn tokens(&self) -> &Arc<TokenStore> {
        &self.tokens
    }

    /// Who sent `headers`, re-reading the tokens once if the token is not known yet (created by
    /// another process since the last refresh).
    async fn principal(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        match auth::authenticate(headers, &self.tokens) {
            Ok(p) => Ok(p),
            Err(e) => {
                if let Err(refresh) = self.tokens.refresh().await {
                    tracing::warn!(error = %refresh, "cannot re-read the tokens");
                    return Err(e);
                }
                auth::authenticate(headers, &self.tokens)
            }
        }
    }

    /// [`Gateway::principal`], with `role`.
    async fn authorize(&self, headers: &HeaderMap, role: Role) -> Result<Principal, ApiError> {
        auth::require(self.principal(headers).await?, role)
    }

    /// Starts the background tasks: the tokens re-read every second (revocations by other
    /// processes take effect within it) and the dashboard's feed. They stop when the returned
    /// guard drops (or the gateway does).
    pub fn spawn_background(self: &Arc<Self>) -> Background {
        Background(vec![
            self.refresh_tokens_every(Duration::from_secs(1)),
            dashboard::spawn(self, Duration::from_secs(1)),
        ])
    }

    /// Ends the open event streams (before the server stops: it waits for open connections).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// The dashboard's feed (for tests: one round on demand).
    pub fn dashboard(&self) -> &dashboard::Feed {
        &self.dashboard
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<Backend> {
        &self.backend
    }

    fn refresh_tokens_every(self: &Arc<Self>, period: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(g) = weak.upgrade() else { return };
                if let Err(e) = g.tokens.refresh().await {
                    tracing::warn!(error = %e, "cannot re-read the tokens");
                }
            }
        })
    }

    /// The gateway's metrics in Prometheus text, for `/metrics`.
    pub fn extra_metrics(self: &Arc<Self>) -> ExtraMetrics {
        let g = self.clone();
        Arc::new(move || g.metrics.render())
    }

    /// Every route: the gateway's and the operations endpoints of `ops`.
    pub fn router(self: &Arc<Self>, ops: Ops) -> Router {
        let api = Router::new()
            .route("/v1/events/{topic}", post(events::post_events))
            .route("/v1/sql", get(read::sql))
            .route("/v1/verdicts/{subject}", get(read::verdicts))
            .route("/v1/replay/{event_id}", get(read::replay))
            .route("/v1/evidence/{verdict_id}", get(read::evidence))
            .route("/subjects", get(registry::subjects))
            .route("/subjects/{subject}/versions", get(registry::versions))
            .route("/subjects/{subject}/versions/{version}", get(registry::version))
            .route("/schemas/ids/{id}", get(registry::schema_by_id))
            .route("/dashboard", get(dashboard::page))
            .route("/v1/dashboard", get(dashboard::snapshot))
            .route("/v1/stream", get(dashboard::stream))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(self.clone());
        api.merge(crate::server::router_with(ops, Some(self.extra_metrics())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_limits_parse() {
        assert_eq!(parse_limit("acme=10").expect("rate"), ("acme".into(), Limit { rate: 10, burst: 10 }));
        assert_eq!(parse_limit("a=5/50").expect("rate and burst"), ("a".into(), Limit { rate: 5, burst: 50 }));
        for bad in ["acme", "=5", "a=0", "a=x", "a=5/", "a=-1"] {
            assert!(parse_limit(bad).is_err(), "{bad}");
        }
    }
}
