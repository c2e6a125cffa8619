//! The read routes, each confined to the caller's tenant: `GET /v1/sql`, `GET /v1/verdicts/{subject}`
//! and `GET /v1/replay/{event_id}`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use datafusion::arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use trustloop_replay::History;
use trustloop_replay::feed::each_event;
use trustloop_replay::verdict::find_event;
use trustloop_schemas::json::event_to_json;
use trustloop_schemas::{Event, EventId, EventType};

use super::Gateway;
use super::error::ApiError;
use super::tokens::{Principal, Role};
use crate::sql::Confinement;

fn confinement(p: &Principal) -> Confinement {
    Confinement { tenant: p.tenant.clone(), service: p.service.clone() }
}

/// Parameters of `GET /v1/sql`.
#[derive(Debug, Deserialize)]
pub struct SqlParams {
    /// The query.
    q: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
    /// The history as the log held it at this time (RFC 3339).
    as_of: Option<String>,
}

/// A SQL answer in JSON.
#[derive(Debug, Serialize)]
pub struct SqlAnswer {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// One object per row.
    pub rows: Vec<serde_json::Value>,
    /// Whether rows were cut at the gateway's `--max-rows`.
    pub truncated: bool,
}

/// `GET /v1/sql?q=QUERY[&format=json|csv][&as_of=TIME]`: a read-only query over the caller's
/// tenant's events (`read` role).
pub async fn sql(State(g): State<Arc<Gateway>>, headers: HeaderMap, Query(params): Query<SqlParams>) -> Response {
    let answer = run_sql(&g, &headers, params).await;
    g.metrics.request("sql", answer.as_ref().map_or_else(|e| e.status.as_u16(), |_| 200));
    answer.unwrap_or_else(IntoResponse::into_response)
}

async fn run_sql(g: &Gateway, headers: &HeaderMap, params: SqlParams) -> Result<Response, ApiError> {
    let principal = g.authorize(headers, Role::Read).await?;
    let query = params
        .q
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("missing_query", "say what to ask: /v1/sql?q=SELECT ... (URL-encoded)"))?;
    let csv = match params.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => return Err(ApiError::bad_request("bad_format", format!("format {other:?}: json or csv"))),
    };
    let as_of_ms = match &params.as_of {
        Some(t) => Some(
            trustloop_runtime::clock::parse_time("as_of", t)
                .map_err(|e| ApiError::bad_request("bad_time", format!("{e:#}")))?
                .as_micros()
                .div_euclid(1_000),
        ),
        None => None,
    };
    let ctx = crate::sql::confined_session(g.backend.clone(), as_of_ms, Some(confinement(&principal)))
        .await
        .map_err(|e| ApiError::internal("opening the tables", trustloop_runtime::error::chain(&e)))?;
    let batches = tokio::time::timeout(g.query_timeout, crate::sql::read_only_query(&ctx, &query))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "query_timeout",
                format!("the query ran longer than {} s", g.query_timeout.as_secs()),
            )
        })?
        .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?;
    let (batches, truncated) = cut(batches, g.max_rows);
    let mut response = if csv {
        let text = crate::sql::format::csv(&batches)
            .map_err(|e| ApiError::internal("formatting the answer", format!("{e:#}")))?;
        ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], text).into_response()
    } else {
        let columns =
            batches.first().map(|b| b.schema().fields().iter().map(|f| f.name().clone()).collect()).unwrap_or_default();
        let rows = crate::sql::format::rows(&batches)
            .map_err(|e| ApiError::internal("formatting the answer", format!("{e:#}")))?;
        Json(SqlAnswer { columns, rows, truncated }).into_response()
    };
    if truncated {
        response.headers_mut().insert("x-trustloop-truncated", axum::http::HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// The first `max` rows of `batches`, and whether any were cut.
fn cut(batches: Vec<RecordBatch>, max: usize) -> (Vec<RecordBatch>, bool) {
    let mut left = max;
    let mut out = Vec::with_capacity(batches.len());
    let mut truncated = false;
    for b in batches {
        if b.num_rows() <= left {
            left -= b.num_rows();
            out.push(b);
        } else {
            out.push(b.slice(0, left));
            truncated = true;
            break;
        }
    }
    (out, truncated)
}

/// The answer of `GET /v1/verdicts/{subject}`.
#[derive(Debug, Serialize)]
pub struct Verdicts {
    /// The subject asked about.
    pub subject: String,
    /// Its verdicts, oldest first (event time, then log position), in their JSON form.
    pub verdicts: Vec<serde_json::Value>,
}

/// `GET /v1/verdicts/{subject}`: every verdict about `subject` for the caller's tenant (`read`).
pub async fn verdicts(State(g): State<Arc<Gateway>>, headers: HeaderMap, Path(subject): Path<String>) -> Response {
    let answer = list_verdicts(&g, &headers, subject).await;
    g.metrics.request("verdicts", answer.as_ref().map_or_else(|e| e.status.as_u16(), |_| 200));
    answer.map(|v| Json(v).into_response()).unwrap_or_else(IntoResponse::into_response)
}

async fn list_verdicts(g: &Gateway, headers: &HeaderMap, subject: String) -> Result<Verdicts, ApiError> {
    let principal = g.authorize(headers, Role::Read).await?;
    let confine = confinement(&principal);
    let b = &g.backend;
    let history = History { log: &b.log, codec: &b.codec, writers: &*b.registry };
    let mut found = Vec::new();
    each_event(history, EventType::Verdict.topic(), &mut |r, event| {
        if let Event::Verdict(v) = &event
            && v.subject == subject
            && confine.admits(&v.envelope.tenant, &v.envelope.source)
        {
            found.push((v.envelope.event_time, r.partition, r.offset, event_to_json(&event)));
        }
        std::ops::ControlFlow::Continue(())
    })
    .await
    .map_err(|e| ApiError::internal("reading the verdicts", e))?;
    found.sort_by_key(|f| (f.0, f.1, f.2));
    Ok(Verdicts { subject, verdicts: found.into_iter().map(|f| f.3).collect() })
}

/// The answer of `GET /v1/replay/{event_id}`.
#[derive(Debug, Serialize)]
pub struct ReplayAnswer {
    /// `MATCH` or `MISMATCH`.
    pub result: &'static str,
    /// The audit report (what `trustloop replay verdict ID --json` prints).
    pub report: serde_json::Value,
}

/// `GET /v1/replay/{event_id}`: replays one of the caller's tenant's verdicts or enforcement actions
/// (`read`).
pub async fn replay(State(g): State<Arc<Gateway>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let answer = replay_one(&g, &headers, &id).await;
    g.metrics.request("replay", answer.as_ref().map_or_else(|e| e.status.as_u16(), |_| 200));
    answer.map(|v| Json(v).into_response()).unwrap_or_else(IntoResponse::into_response)
}

/// `GET /v1/evidence/{verdict_id}`: the verdict's evidence bundle (`trustloop evidence export`),
/// signed by the gateway's evidence key — read role, the verdict of the token's own tenant (and
/// service) only.
pub async fn evidence(State(g): State<Arc<Gateway>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let answer = evidence_of(&g, &headers, &id).await;
    g.metrics.request("evidence", answer.as_ref().map_or_else(|e| e.status.as_u16(), |_| 200));
    answer.map(|v| Json(v).into_response()).unwrap_or_else(IntoResponse::into_response)
}

async fn evidence_of(
    g: &Gateway,
    headers: &HeaderMap,
    id: &str,
) -> Result<trustloop_replay::evidence::Bundle, ApiError> {
    let principal = g.authorize(headers, Role::Read).await?;
    let Some(signer) = g.evidence_signer.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_evidence_key",
            "this gateway signs no evidence: start it with --evidence-key FILE",
        ));
    };
    let id: EventId =
        id.parse().map_err(|e| ApiError::bad_request("bad_event_id", format!("{id:?} is not an event id: {e}")))?;
    let b = &g.backend;
    let history = History { log: &b.log, codec: &b.codec, writers: &*b.registry };
    let event = match find_event(history, EventType::Verdict.topic(), &id, "verdict").await {
        Ok((_, event)) => event,
        Err(trustloop_replay::ReplayError::NotFound { .. }) => {
            return Err(ApiError::not_found(format!("no verdict with event id {id}")));
        }
        Err(e) => return Err(ApiError::internal("looking up the verdict", e)),
    };
    let (tenant, source) = (event.envelope().tenant.to_string(), event.envelope().source.to_string());
    if !confinement(&principal).admits(&tenant, &source) {
        return Err(ApiError::forbidden(format!("verdict {id} is not tenant {}'s", principal.tenant)));
    }
    // As for a replay: the operators are not `Send`, so the export runs on a blocking thread.
    let (backend, handle) = (g.backend.clone(), tokio::runtime::Handle::current());
    tokio::task::spawn_blocking(move || {
        let history = History { log: &backend.log, codec: &backend.codec, writers: &*backend.registry };
        handle.block_on(trustloop_replay::evidence::export(history, &id, &signer.dsse_signer()))
    })
    .await
    .map_err(|e| ApiError::internal("exporting", e))?
    .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "no_evidence", e.to_string()))
}

async fn replay_one(g: &Gateway, headers: &HeaderMap, id: &str) -> Result<ReplayAnswer, ApiError> {
    let principal = g.authorize(headers, Role::Read).await?;
    let id: EventId =
        id.parse().map_err(|e| ApiError::bad_request("bad_event_id", format!("{id:?} is not an event id: {e}")))?;
    // Whose is it? Asked before the replay, which costs a pass over the log.
    let b = &g.backend;
    let history = History { log: &b.log, codec: &b.codec, writers: &*b.registry };
    let mut owner = None;
    for topic in [EventType::Verdict.topic(), EventType::EnforcementAction.topic()] {
        match find_event(history, topic, &id, "event").await {
            Ok((_, event)) => {
                owner = Some((event.envelope().tenant.to_string(), event.envelope().source.to_string()));
                break;
            }
            Err(trustloop_replay::ReplayError::NotFound { .. }) => {}
            Err(e) => return Err(ApiError::internal("looking up the event", e)),
        }
    }
    let Some((tenant, source)) = owner else {
        return Err(ApiError::not_found(format!("no verdict or action with event id {id}")));
    };
    if !confinement(&principal).admits(&tenant, &source) {
        return Err(ApiError::forbidden(format!("event {id} is not tenant {}'s", principal.tenant)));
    }
    // The replay's operators are not `Send`: it runs on a blocking thread of its own, driven there.
    let (backend, state_dir, handle) = (g.backend.clone(), g.state_dir.clone(), tokio::runtime::Handle::current());
    let replayed = tokio::task::spawn_blocking(move || {
        handle.block_on(trustloop_runtime::audit::replay_any(&backend, &id, state_dir.as_deref()))
    })
    .await
    .map_err(|e| ApiError::internal("replaying", e))?
    .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "cannot_replay", trustloop_runtime::error::chain(&e)))?
    .ok_or_else(|| ApiError::not_found(format!("no verdict or action with event id {id}")))?;
    Ok(ReplayAnswer { result: if replayed.matched() { "MATCH" } else { "MISMATCH" }, report: replayed.to_json() })
}
