//! The JSON form of events, as `trustloop produce` reads and `trustloop consume` prints them: the
//! envelope fields flattened next to the payload fields, times as RFC 3339 strings. On input any
//! envelope field may be missing and is filled in; keys starting with `_` (log metadata such as
//! `_topic` and `_offset` that `consume` adds) are ignored, so consume output is valid produce input.

use serde_json::{Map, Value};

use crate::canonical::{canonical_digest, derive_event_id};
use crate::event::{Event, EventType};
use crate::events::Envelope;
use crate::ids::{EventId, EventTime};

/// Values for envelope fields an input line leaves out.
#[derive(Debug, Clone)]
pub struct IngestDefaults {
    /// Tenant for lines that name none; without it such lines are rejected.
    pub tenant: Option<String>,
    /// `source` for lines that name none.
    pub source: String,
    /// `event_time` for lines that name none: the ingest time, in microseconds since the epoch.
    pub now_micros: i64,
}

/// Why a JSON line was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not JSON, or not a JSON object.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// A field has the wrong type or is not a field of the event.
    #[error("{0}")]
    InvalidField(String),
    /// A required field is missing.
    #[error("{0}")]
    MissingField(String),
    /// Well-typed, but the value is not acceptable.
    #[error("{0}")]
    InvalidValue(String),
}

impl JsonError {
    /// A short machine-readable class, used as a dead letter's `error_kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            JsonError::InvalidJson(_) => "invalid_json",
            JsonError::InvalidField(_) => "invalid_field",
            JsonError::MissingField(_) => "missing_field",
            JsonError::InvalidValue(_) => "invalid_value",
        }
    }
}

const ENVELOPE_FIELDS: [&str; 6] = ["event_id", "tenant", "key", "event_time", "source", "schema_version"];

fn field_error(path: &str, err: &serde_json::Error) -> JsonError {
    let msg = err.to_string();
    // serde_json appends " at line L column C": positions inside our rebuilt object mean nothing to
    // the user, the path does.
    let msg = match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    };
    if msg.starts_with("missing field") {
        let msg = if path.is_empty() || path == "." { msg } else { format!("{path}: {msg}") };
        JsonError::MissingField(msg)
    } else if path.is_empty() || path == "." {
        JsonError::InvalidField(msg)
    } else {
        JsonError::InvalidField(format!("{path}: {msg}"))
    }
}

fn take_string(obj: &mut Map<String, Value>, name: &str) -> Result<Option<String>, JsonError> {
    match obj.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(JsonError::InvalidField(format!("{name}: expected a string, got {other}"))),
    }
}

/// The key an event gets when its line names none.
pub fn default_key(event: &Event) -> String {
    match event {
        Event::Telemetry(e) => e.entity.clone(),
        Event::ReleaseInventory(e) => format!("{}@{}", e.release_name, e.release_version),
        Event::Advisory(e) => e.id.clone(),
        Event::VexStatement(e) => e.vulnerability.clone(),
        Event::Policy(e) => e.name.clone(),
        Event::Approval(e) => e.subject.clone(),
        Event::PromotionRequest(e) => format!("{}@{}", e.release_name, e.release_version),
        Event::TrustScore(e) => e.entity.clone(),
        Event::Finding(e) => format!("{}@{}", e.release_name, e.release_version),
        Event::Verdict(e) => e.subject.clone(),
        Event::EnforcementAction(e) => e.subject.clone(),
        Event::EnforcementResult(e) => e.action_id.clone(),
        Event::DeadLetter(e) => e.source_topic.clone(),
        Event::KnownExploited(e) => e.cve.clone(),
        Event::EpssScores(e) => format!("{}#{}", e.score_date, e.part),
        Event::LogCheckpoint(e) => e.origin.clone(),
        Event::NotifyRules(e) => e.name.clone(),
        Event::Notification(e) => e.notification_id.clone(),
        Event::Delivery(e) => e.notification_id.clone(),
        Event::CheckpointCosignature(e) => e.origin.clone(),
    }
}

/// Checks what the schema cannot say: non-empty tenant, key and names, finite values, scores in
/// range. Every ingested event passes it, whatever its encoding.
pub fn validate(event: &Event) -> Result<(), JsonError> {
    let env = event.envelope();
    let bad = |m: String| Err(JsonError::InvalidValue(m));
    if env.tenant.trim().is_empty() {
        return bad("tenant: must not be empty".into());
    }
    if env.key.is_empty() {
        return bad("key: must not be empty".into());
    }
    match event {
        Event::Telemetry(t) if t.entity.trim().is_empty() => bad("entity: must not be empty".into()),
        Event::Telemetry(t) if t.kind.trim().is_empty() => bad("kind: must not be empty".into()),
        Event::Telemetry(t) if !t.value.is_finite() => bad(format!("value: must be a finite number, got {}", t.value)),
        Event::TrustScore(s) if s.entity.trim().is_empty() => bad("entity: must not be empty".into()),
        Event::TrustScore(s) if !(0.0..=100.0).contains(&s.score) => {
            bad(format!("score: must be between 0 and 100, got {}", s.score))
        }
        Event::Advisory(a) if a.id.trim().is_empty() => bad("id: must not be empty".into()),
        _ => Ok(()),
    }
}

/// Parses one JSON line into an event of `event_type`, filling in missing envelope fields.
///
/// A missing `event_id` is derived from the event's content (with the id itself left out), so sending
/// the same line twice gives the same id and duplicates can be recognised.
pub fn parse_event_json(event_type: EventType, line: &str, defaults: &IngestDefaults) -> Result<Event, JsonError> {
    let value: Value = serde_json::from_str(line).map_err(|e| JsonError::InvalidJson(e.to_string()))?;
    parse_event_value(event_type, value, defaults)
}

/// [`parse_event_json`] of an already parsed JSON value (one element of a batch).
pub fn parse_event_value(event_type: EventType, value: Value, defaults: &IngestDefaults) -> Result<Event, JsonError> {
    let Value::Object(mut obj) = value else {
        return Err(JsonError::InvalidJson(format!("expected a JSON object, got {}", kind_of(&value))));
    };
    obj.retain(|k, _| !k.starts_with('_'));
    if obj.contains_key("envelope") {
        return Err(JsonError::InvalidField("envelope: put the envelope fields at the top level".into()));
    }
    let event_id = match take_string(&mut obj, "event_id")? {
        Some(s) => Some(
            s.parse::<EventId>().map_err(|e| JsonError::InvalidField(format!("event_id: `{s}` is not a UUID: {e}")))?,
        ),
        None => None,
    };
    let tenant = take_string(&mut obj, "tenant")?
        .or_else(|| defaults.tenant.clone())
        .ok_or_else(|| JsonError::MissingField("missing field `tenant` (or pass --tenant)".into()))?;
    let key = take_string(&mut obj, "key")?;
    let source = take_string(&mut obj, "source")?.unwrap_or_else(|| defaults.source.clone());
    let event_time = match obj.remove("event_time") {
        None | Some(Value::Null) => EventTime::from_micros(defaults.now_micros),
        Some(Value::String(s)) => {
            EventTime::parse_rfc3339(&s).map_err(|e| JsonError::InvalidField(format!("event_time: {e}")))?
        }
        Some(Value::Number(n)) => match n.as_i64() {
            Some(micros) => EventTime::from_micros(micros),
            None => return Err(JsonError::InvalidField(format!("event_time: {n} is not whole microseconds"))),
        },
        Some(other) => {
            return Err(JsonError::InvalidField(format!("event_time: expected an RFC 3339 string, got {other}")));
        }
    };
    let schema_version = match obj.remove("schema_version") {
        None | Some(Value::Null) => event_type.schema_version(),
        Some(v) => v
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| JsonError::InvalidField(format!("schema_version: expected an integer, got {v}")))?,
    };
    let envelope = Envelope {
        event_id: event_id.unwrap_or(EventId(uuid::Uuid::nil())),
        tenant: tenant.into(),
        key: key.clone().unwrap_or_default().into(),
        event_time,
        source: source.into(),
        schema_version,
    };
    let envelope_json = serde_json::to_value(&envelope).map_err(|e| JsonError::InvalidValue(e.to_string()))?;
    let mut with_envelope = Map::new();
    with_envelope.insert("envelope".into(), envelope_json);
    with_envelope.extend(obj);
    let value = Value::Object(with_envelope);
    let mut event = crate::with_event_type!(event_type, T => {
        let payload: T = serde_path_to_error::deserialize(&value)
            .map_err(|e| field_error(&e.path().to_string(), e.inner()))?;
        Event::from(payload)
    });
    if key.is_none() {
        event.envelope_mut().key = default_key(&event).into();
    }
    validate(&event)?;
    if event_id.is_none() {
        let digest = canonical_digest(&event);
        event.envelope_mut().event_id = derive_event_id("ingest", &[event_type.name().as_bytes(), &digest]);
    }
    Ok(event)
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The JSON form of an event: one object with the envelope fields next to the payload fields, times
/// as RFC 3339 strings — the shape [`parse_event_json`] reads, giving back the same event.
pub fn event_to_json(event: &Event) -> Value {
    let value = crate::with_event!(event, e => serde_json::to_value(e)).unwrap_or(Value::Null);
    let Value::Object(mut obj) = value else { return value };
    let mut out = Map::new();
    if let Some(Value::Object(env)) = obj.remove("envelope") {
        for name in ENVELOPE_FIELDS {
            if let Some(v) = env.get(name) {
                out.insert(name.to_string(), v.clone());
            }
        }
    }
    // Workflow fields are left out while null, so the JSON of single-step actions (and of results
    // without an execution record) reads as before they existed; reading gives them their defaults.
    if matches!(event, Event::EnforcementAction(_) | Event::EnforcementResult(_)) {
        obj.retain(|k, v| !(v.is_null() && OMITTED_WHEN_NULL.contains(&k.as_str())));
    }
    out.extend(obj);
    Value::Object(out)
}

/// Optional fields of enforcement events that their JSON form leaves out while null.
const OMITTED_WHEN_NULL: &[&str] = &["workflow", "step", "execution"];
