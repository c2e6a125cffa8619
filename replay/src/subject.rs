//! A subject's state at a point of history, bitemporally: the decision operator replayed over what
//! trustloop had *learned* by a log time and, of that, what had *happened* by an event time.
//! "Was release X allowed to prod as we knew it on 3 March?" is the first; "what did we know on
//! 5 March about 3 March?" combines both.

use serde::Serialize;
use trustloop_operators::decision::DecisionState;
use trustloop_schemas::{EventTime, Outcome};

use crate::feed::{Bounds, FeedStats, History, ReplayError, Share, committed_ranges, feed_bounded};
use crate::verdict::{InputRef, concerns_subject};

/// The decision about a subject at a point of history.
#[derive(Debug, Clone, Serialize)]
pub struct SubjectAt {
    /// The subject.
    pub subject: String,
    /// Its tenant.
    pub tenant: String,
    /// The bounds replayed within.
    pub learned_by_ms: Option<i64>,
    /// See [`Bounds::happened_by`].
    pub happened_by: Option<EventTime>,
    /// The operator's "now" then (its watermark).
    pub now: Option<EventTime>,
    /// The decision then: outcome, reasons, policy and evidence digests (`None`: no promotion was
    /// requested for it, or no trust score was known).
    pub outcome: Option<Outcome>,
    /// Its reasons, as `rule: message`.
    pub reasons: Vec<String>,
    /// The policy in force.
    pub policy_digest: Option<String>,
    /// The evidence digest.
    pub evidence_digest: Option<String>,
    /// The inputs about the subject known then.
    pub inputs: Vec<InputRef>,
    /// What the replay read and applied.
    pub stats: FeedStats,
}

/// Replays the decisions within `bounds` and evaluates `subject` of `tenant` there: a release
/// promotion `NAME@VERSION@ENVIRONMENT`, or an entity.
pub async fn subject_at(
    history: History<'_>,
    tenant: &str,
    subject: &str,
    bounds: Bounds,
) -> Result<SubjectAt, ReplayError> {
    let mut op = DecisionState::new();
    let ranges = committed_ranges(history, &op).await?;
    let mut inputs = Vec::new();
    let stats = feed_bounded(history, &mut op, &ranges, Share::ALL, bounds, &mut |applied| {
        if let Some(summary) = concerns_subject(tenant, subject, None, applied.event) {
            inputs.push(InputRef {
                topic: applied.record.topic.to_string(),
                partition: applied.record.partition,
                offset: applied.record.offset,
                event_id: applied.event.envelope().event_id.to_string(),
                summary,
            });
        }
    })
    .await?;
    let decision = op.evaluate_release(tenant, subject).or_else(|| op.evaluate_entity(tenant, subject));
    Ok(SubjectAt {
        subject: subject.to_string(),
        tenant: tenant.to_string(),
        learned_by_ms: bounds.learned_by_ms,
        happened_by: bounds.happened_by,
        now: op.watermark(),
        outcome: decision.as_ref().map(|d| d.outcome),
        reasons: decision
            .as_ref()
            .map_or(Vec::new(), |d| d.reasons.iter().map(|r| format!("{}: {}", r.rule, r.message)).collect()),
        policy_digest: decision.as_ref().map(|d| d.policy_digest.clone()),
        evidence_digest: decision.as_ref().map(|d| d.evidence_digest.clone()),
        inputs,
        stats,
    })
}
