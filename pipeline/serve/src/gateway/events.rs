//! `POST /v1/events/{topic}`: events in, validated against the topic's schema and the caller's
//! tenant, written as one append — all of them or, on any error, none. (The embedded log writes a
//! batch whole; on Kafka a batch of more than one event goes in a transaction, see
//! [`super::batches`].)
//!
//! Bodies, by `Content-Type`:
//! - `application/json`: one event (an object in the topic's JSON form, as `trustloop produce`
//!   reads it) or a batch (an array of them);
//! - `application/x-ndjson` (or `application/jsonl`): one event per line;
//! - `application/vnd.confluent.avro` (or `application/octet-stream`): one Confluent-framed Avro
//!   event (magic byte, schema id, Avro body) as on a Kafka topic;
//! - `application/vnd.trustloop.avro-batch`: framed events, each preceded by its length as a 4-byte
//!   big-endian integer.
//!
//! JSON events without `tenant` get the token's, without `source` the token's service (or
//! `gateway`). A token scoped to a service may write only events whose `source` is that service.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use serde::Serialize;
use trustloop_connectors::log::LogTransaction;
use trustloop_schemas::json::{IngestDefaults, parse_event_value, validate};
use trustloop_schemas::{Event, EventType};

use super::error::{ApiError, BadEvent};
use super::limits::Refusal;
use super::tokens::{Principal, Role};
use super::{Gateway, MAX_BATCH_EVENTS};
use trustloop_runtime::error::chain;
use trustloop_runtime::ingest::EventWriter;

/// The answer to an accepted post.
#[derive(Debug, Serialize)]
pub struct Accepted {
    /// The topic written.
    pub topic: String,
    /// Events written.
    pub accepted: usize,
}

/// The role that may write events of `ty`; `None` for the topics trustloop derives itself.
pub fn writer_role(ty: EventType) -> Option<Role> {
    match ty {
        EventType::Telemetry
        | EventType::Advisory
        | EventType::VexStatement
        | EventType::ReleaseInventory
        | EventType::PromotionRequest
        | EventType::KnownExploited
        | EventType::EpssScores => Some(Role::Ingest),
        EventType::Policy | EventType::Approval | EventType::NotifyRules => Some(Role::Admin),
        EventType::TrustScore
        | EventType::Finding
        | EventType::Verdict
        | EventType::EnforcementAction
        | EventType::EnforcementResult
        | EventType::DeadLetter
        | EventType::LogCheckpoint
        | EventType::Notification
        | EventType::Delivery
        | EventType::CheckpointCosignature => None,
    }
}

/// How a body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Json,
    JsonLines,
    Avro,
    AvroBatch,
}

fn encoding(headers: &HeaderMap) -> Result<Encoding, ApiError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    Ok(match essence.as_str() {
        "application/json" | "" => Encoding::Json,
        "application/x-ndjson" | "application/jsonl" | "application/json-seq" => Encoding::JsonLines,
        "application/vnd.confluent.avro" | "application/octet-stream" | "avro/binary" => Encoding::Avro,
        "application/vnd.trustloop.avro-batch" => Encoding::AvroBatch,
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "Content-Type {other}: send application/json, application/x-ndjson, \
                     application/vnd.confluent.avro or application/vnd.trustloop.avro-batch"
                ),
            ));
        }
    })
}

/// The events of `body`, each parsed or rejected with its reason.
fn parse(
    gateway: &Gateway,
    ty: EventType,
    encoding: Encoding,
    body: &[u8],
    defaults: &IngestDefaults,
) -> Result<Vec<Result<Event, String>>, ApiError> {
    let too_many = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_events",
            format!("a request holds at most {MAX_BATCH_EVENTS} events"),
        )
    };
    let from_json = |v: serde_json::Value| parse_event_value(ty, v, defaults).map_err(|e| e.to_string());
    match encoding {
        Encoding::Json => {
            let value: serde_json::Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request("invalid_json", format!("the body is not JSON: {e}")))?;
            match value {
                serde_json::Value::Array(items) if items.len() > MAX_BATCH_EVENTS => Err(too_many()),
                serde_json::Value::Array(items) => Ok(items.into_iter().map(from_json).collect()),
                one => Ok(vec![from_json(one)]),
            }
        }
        Encoding::JsonLines => {
            let text = std::str::from_utf8(body)
                .map_err(|e| ApiError::bad_request("invalid_json", format!("the body is not UTF-8: {e}")))?;
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            if lines.len() > MAX_BATCH_EVENTS {
                return Err(too_many());
            }
            Ok(lines
                .into_iter()
                .map(|l| serde_json::from_str(l).map_err(|e| format!("invalid JSON: {e}")).and_then(from_json))
                .collect())
        }
        Encoding::Avro => Ok(vec![avro_event(gateway, ty, body)]),
        Encoding::AvroBatch => {
            let mut out = Vec::new();
            let mut rest = body;
            while !rest.is_empty() {
                let Some((len, tail)) = rest.split_first_chunk::<4>() else {
                    return Err(ApiError::bad_request(
                        "invalid_batch",
                        format!("{} stray bytes after event {}: a length takes 4", rest.len(), out.len()),
                    ));
                };
                let len = u32::from_be_bytes(*len) as usize;
                let Some((value, tail)) = tail.split_at_checked(len) else {
                    return Err(ApiError::bad_request(
                        "invalid_batch",
                        format!("event {} claims {len} bytes but {} are left", out.len(), tail.len()),
                    ));
                };
                if out.len() == MAX_BATCH_EVENTS {
                    return Err(too_many());
                }
                out.push(avro_event(gateway, ty, value));
                rest = tail;
            }
            Ok(out)
        }
    }
}

/// One Confluent-framed Avro event of type `ty`.
fn avro_event(gateway: &Gateway, ty: EventType, bytes: &[u8]) -> Result<Event, String> {
    let event = gateway.backend.codec.decode(bytes, &*gateway.backend.registry).map_err(|e| e.to_string())?;
    if event.event_type() != ty {
        return Err(format!("a {} event, not a {ty} event", event.event_type()));
    }
    validate(&event).map_err(|e| e.to_string())?;
    Ok(event)
}

/// Whether `principal` may write `event`: its tenant's, and its service's if it has one.
fn owned(principal: &Principal, event: &Event) -> Result<(), String> {
    let env = event.envelope();
    if *env.tenant != *principal.tenant {
        return Err(format!("tenant {:?} is not the token's ({:?})", env.tenant, principal.tenant));
    }
    match &principal.service {
        Some(s) if **s != *env.source => Err(format!("source {:?} is not the token's service ({s:?})", env.source)),
        _ => Ok(()),
    }
}

/// `POST /v1/events/{topic}`.
pub async fn post_events(
    State(g): State<Arc<Gateway>>,
    Path(topic): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Accepted>, ApiError> {
    let answer = post(&g, &topic, &headers, &body).await;
    g.metrics.request("events", answer.as_ref().map_or_else(|e| e.status.as_u16(), |_| 200));
    answer.map(Json)
}

async fn post(g: &Gateway, topic: &str, headers: &HeaderMap, body: &[u8]) -> Result<Accepted, ApiError> {
    let principal = g.principal(headers).await?;
    let ty = EventType::from_topic(topic).ok_or_else(|| ApiError::not_found(format!("no topic {topic:?}")))?;
    let role = writer_role(ty).ok_or_else(|| {
        ApiError::forbidden(format!("{topic} is derived by trustloop: it takes no events from outside"))
    })?;
    let principal = super::auth::require(principal, role)?;
    let encoding = encoding(headers)?;
    let defaults = IngestDefaults {
        tenant: Some(principal.tenant.clone()),
        source: principal.service.clone().unwrap_or_else(|| "gateway".to_string()),
        now_micros: trustloop_runtime::clock::now_micros(),
    };
    let parsed = parse(g, ty, encoding, body, &defaults)?;
    if parsed.is_empty() {
        return Err(ApiError::bad_request("empty", "the body holds no event"));
    }
    let bad: Vec<BadEvent> = parsed
        .iter()
        .enumerate()
        .filter_map(|(index, p)| p.as_ref().err().map(|reason| BadEvent { index, reason: reason.clone() }))
        .collect();
    if !bad.is_empty() {
        let mut e = ApiError::bad_request(
            "invalid_event",
            format!("{} of {} events are not valid {topic} events; none was written", bad.len(), parsed.len()),
        );
        e.events = bad;
        return Err(e);
    }
    let events: Vec<Event> = parsed.into_iter().filter_map(Result::ok).collect();
    let foreign: Vec<BadEvent> = events
        .iter()
        .enumerate()
        .filter_map(|(index, e)| owned(&principal, e).err().map(|reason| BadEvent { index, reason }))
        .collect();
    if !foreign.is_empty() {
        let mut e = ApiError::forbidden(format!(
            "{} of {} events are not the token's to write; none was written",
            foreign.len(),
            events.len()
        ));
        e.events = foreign;
        return Err(e);
    }
    match g.limits.admit(&principal.tenant, events.len()) {
        Ok(()) => {}
        Err(Refusal::RetryAfter(wait)) => {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("tenant {} is over its event rate; retry in {} ms", principal.tenant, wait.as_millis()),
            );
            e.retry_after_s = Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
            return Err(e);
        }
        Err(Refusal::TooLarge { burst }) => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "batch_over_burst",
                format!("{} events at once exceed tenant {}'s burst of {burst}", events.len(), principal.tenant),
            ));
        }
    }
    // On a log whose batches are not whole by themselves, a request of more than one event is
    // written in a transaction.
    let batch = match (&g.batch_writers, events.len() > 1) {
        (Some(writers), true) => Some(writers.open(g.backend.log.as_ref()).await.map_err(|e| unavailable(&e))?),
        _ => None,
    };
    let written = write(g, topic, &principal, &events, batch.as_ref().map(|b| b.transaction())).await;
    match (written, batch) {
        (Ok(()), Some(batch)) => batch.commit().await.map_err(|e| unavailable(&e))?,
        (Ok(()), None) => {}
        (Err(e), batch) => {
            if let Some(batch) = batch {
                batch.abort().await;
            }
            return Err(e);
        }
    }
    g.metrics.events(topic, events.len() as u64);
    tracing::debug!(topic, events = events.len(), tenant = %principal.tenant, "events written");
    Ok(Accepted { topic: topic.to_string(), accepted: events.len() })
}

/// Appends `events` to `topic` (through `transaction`, if given), one trace rooted at each.
async fn write(
    g: &Gateway,
    topic: &str,
    principal: &Principal,
    events: &[Event],
    transaction: Option<Arc<dyn LogTransaction>>,
) -> Result<(), ApiError> {
    let mut writer = match transaction {
        Some(t) => EventWriter::in_transaction(&g.backend, topic, t).await,
        None => EventWriter::new(&g.backend, topic).await,
    }
    .map_err(|e| ApiError::internal("opening the topic", e))?;
    for event in events {
        // One trace per event lineage, rooted here (see `trustloop_runtime::lineage`).
        let id = &event.envelope().event_id;
        let span = tracing::info_span!("ingest", topic, event_id = %id, tenant = %principal.tenant);
        let lineage = trustloop_runtime::lineage::Lineage::root(id).enter(&span);
        writer.push_traced(event, lineage).await.map_err(|e| unavailable(&e))?;
    }
    writer.flush().await.map_err(|e| unavailable(&e))?;
    Ok(())
}

/// 503 when the log cannot take the events now: nothing was written, try again.
fn unavailable(e: &(dyn std::error::Error + 'static)) -> ApiError {
    let e = chain(e);
    tracing::error!(error = e, "cannot write events");
    let mut err = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "log_unavailable",
        format!("the log cannot take events now ({e}); nothing was written"),
    );
    err.retry_after_s = Some(1);
    err
}
