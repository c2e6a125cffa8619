//! Replaying any derived event by id — an enforcement action requested by the decision operator or
//! moved along its lifecycle by the enforcement operator: events without an input frontier. The
//! operator named by the event's `source` is replayed over everything its stage had committed, and
//! the event it derives under the same id is compared with the recorded one, together with the input
//! it was derived from.

use serde::Serialize;
use serde_json::Value;
use trustloop_operators::operator::Operator;
use trustloop_schemas::json::event_to_json;
use trustloop_schemas::{Event, EventId, canonical_digest};

use crate::feed::{FeedStats, History, ReplayError, Share, committed_ranges, feed};
use crate::verdict::{find_event, first_difference};

/// The outcome of replaying one derived event.
#[derive(Debug, Clone, Serialize)]
pub struct EventReplay {
    /// The operator that derived it.
    pub operator: &'static str,
    /// The recorded event, as JSON.
    pub recorded: Value,
    /// Where it was recorded: topic, partition, offset.
    pub recorded_at: (String, u32, i64),
    /// The event the replay derived under the same id, as JSON.
    pub recomputed: Option<Value>,
    /// Whether it is the recorded one: the same canonical bytes.
    pub matched: bool,
    /// The first field (a JSON path) where the two differ.
    pub first_difference: Option<String>,
    /// The input it was derived from: topic, partition, offset, event type.
    pub cause: Option<(String, u32, i64, String)>,
    /// What the replay read and applied.
    pub stats: FeedStats,
}

/// Replays the event `id` found on `topic`, derived by one of `operators` (matched by its source,
/// `trustloop.<name>`).
pub async fn replay_event(
    history: History<'_>,
    topic: &str,
    id: &EventId,
    mut operators: Vec<Box<dyn Operator>>,
) -> Result<EventReplay, ReplayError> {
    let (record, event) = find_event(history, topic, id, "event").await?;
    let source = event.envelope().source.to_string();
    let Some(at) = operators.iter().position(|o| format!("trustloop.{}", o.name()) == source) else {
        return Err(ReplayError::Unsupported(format!("event {id} comes from {source}, which no operator replays")));
    };
    let mut op = operators.swap_remove(at);
    let ranges = committed_ranges(history, &*op).await?;
    let mut recomputed: Option<(Event, (String, u32, i64, String))> = None;
    let stats = feed(history, &mut *op, &ranges, Share::ALL, &mut |applied| {
        if recomputed.is_some() {
            return;
        }
        if let Some(e) = applied.outputs.iter().find(|e| e.envelope().event_id == *id) {
            let r = applied.record;
            let cause = (r.topic.to_string(), r.partition, r.offset, applied.event.event_type().to_string());
            recomputed = Some((e.clone(), cause));
        }
    })
    .await?;
    let recorded = event_to_json(&event);
    let (recomputed, cause) = match recomputed {
        Some((e, cause)) => (Some(e), Some(cause)),
        None => (None, None),
    };
    let matched = recomputed.as_ref().is_some_and(|r| canonical_digest(r) == canonical_digest(&event));
    let recomputed_json = recomputed.as_ref().map(event_to_json);
    let first_difference = match &recomputed_json {
        Some(r) => first_difference("", &recorded, r),
        None => Some("(no event of this id derived)".into()),
    };
    Ok(EventReplay {
        operator: op.name(),
        recorded,
        recorded_at: (record.topic.to_string(), record.partition, record.offset),
        recomputed: recomputed_json,
        matched,
        first_difference,
        cause,
        stats,
    })
}
