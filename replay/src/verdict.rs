//! Replaying one verdict: the decision operator rebuilt from the log up to the verdict's recorded
//! input frontier — from the start of the log, or from a snapshot at or before the frontier — and
//! the verdict it derives there compared with the recorded one.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use trustloop_operators::decision::DecisionState;
use trustloop_operators::operator::Operator;
use trustloop_schemas::json::event_to_json;
use trustloop_schemas::{Event, EventId, EventType, SubjectKind, Verdict, canonical_digest};

use crate::feed::{FeedStats, History, Range, ReplayError, Share, each_event, feed};

/// An input that concerns the verdict's subject, as the report lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputRef {
    /// Where it is in the log.
    pub topic: String,
    /// Its partition.
    pub partition: u32,
    /// Its offset.
    pub offset: i64,
    /// Its event id.
    pub event_id: String,
    /// What it says, in a line.
    pub summary: String,
}

/// The outcome of replaying one verdict.
#[derive(Debug, Clone, Serialize)]
pub struct VerdictReplay {
    /// The recorded verdict, as JSON.
    pub recorded: Value,
    /// Where it was recorded: topic, partition, offset.
    pub recorded_at: (String, u32, i64),
    /// The verdict the replay derived under the same id, as JSON (`None`: none was derived).
    pub recomputed: Option<Value>,
    /// Whether the recomputed verdict is the recorded one: the same canonical bytes.
    pub matched: bool,
    /// Whether the recomputed verdict, encoded by this build, is the very record in the log.
    pub identical_record: bool,
    /// The recorded evidence digest.
    pub recorded_evidence: String,
    /// The recomputed evidence digest.
    pub recomputed_evidence: Option<String>,
    /// The first field (a JSON path) where the two differ.
    pub first_difference: Option<String>,
    /// The share of the input the decision stage had (a task of one partition, or all).
    pub task: Option<(u32, u32)>,
    /// Where the replay started: `None` at the start of the log, else the snapshot's positions.
    pub from_snapshot: bool,
    /// What the replay read and applied.
    pub stats: FeedStats,
    /// The inputs that concern the subject, in the order applied: the policy in force, approvals,
    /// promotion requests, findings (advisories with their VEX status), trust scores. From a
    /// snapshot: those applied after it (earlier ones are part of the snapshot's state).
    pub inputs: Vec<InputRef>,
    /// The applied input with the latest event time up to the one that derived the verdict, when
    /// it is not one of [`Self::inputs`]: the operator's "now" (its watermark) came from it, and
    /// time-based rules and the evidence digest depend on it.
    pub clock: Option<ClockInput>,
}

/// The input the operator's clock came from, and where it was applied among the subject's inputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClockInput {
    /// How many of [`VerdictReplay::inputs`] were applied before it.
    pub after: usize,
    /// The input.
    pub input: InputRef,
}

/// Where a replay starts: a decision state restored from a snapshot and the input positions it
/// reflects (topic, partition, next offset). Must be at or before the verdict's frontier.
pub struct Start {
    /// The restored state.
    pub state: DecisionState,
    /// The positions it reflects.
    pub positions: Vec<(String, u32, i64)>,
}

/// Finds the event `id` on `topic` (scanning every partition).
pub async fn find_event(
    history: History<'_>,
    topic: &str,
    id: &EventId,
    what: &'static str,
) -> Result<(trustloop_connectors::log::StoredRecord, Event), ReplayError> {
    let mut found = None;
    each_event(history, topic, &mut |r, event| {
        if event.envelope().event_id != *id {
            return std::ops::ControlFlow::Continue(());
        }
        found = Some((r, event));
        std::ops::ControlFlow::Break(())
    })
    .await?;
    if let Some(found) = found {
        return Ok(found);
    }
    Err(ReplayError::NotFound { what, id: id.to_string() })
}

/// The share the decision stage that wrote `frontier` had: a task of partition `p` out of `n` when
/// every keyed input it read is partition `p` of an `n`-partition topic (`n` > 1), else all.
async fn share_of(history: History<'_>, op: &DecisionState, frontier: &[Range]) -> Result<Share, ReplayError> {
    let partitioning = op.partitioning();
    let keyed: Vec<&Range> =
        frontier.iter().filter(|r| EventType::from_topic(&r.topic).is_some_and(|t| partitioning.is_keyed(t))).collect();
    let Some(first) = keyed.first() else { return Ok(Share::ALL) };
    if keyed.iter().any(|r| r.partition != first.partition) {
        return Ok(Share::ALL);
    }
    let count = history.log.partition_count(&first.topic).await?;
    Ok(if count > 1 { Share { task: first.partition, count } } else { Share::ALL })
}

/// Replays the verdict `id`: see the module docs. `start` is asked, once the verdict is found,
/// where to start from: a snapshot before the verdict's cause, or `None` for the start of the log.
pub async fn replay_verdict(
    history: History<'_>,
    id: &EventId,
    start: impl FnOnce(&Verdict) -> Option<Start>,
) -> Result<VerdictReplay, ReplayError> {
    let (record, event) = find_event(history, EventType::Verdict.topic(), id, "verdict").await?;
    let Event::Verdict(recorded) = &event else {
        return Err(ReplayError::NotFound { what: "verdict", id: id.to_string() });
    };
    if recorded.envelope.source.as_ref() != trustloop_operators::decision::emit::SOURCE {
        return Err(ReplayError::Unsupported(format!(
            "verdict {id} comes from {}, not from the decision operator",
            recorded.envelope.source
        )));
    }
    let start = start(recorded);
    let from_snapshot = start.is_some();
    let (mut op, positions) = match start {
        Some(s) => (s.state, s.positions),
        None => (DecisionState::new(), Vec::new()),
    };
    let position = |topic: &str, partition: u32| {
        positions.iter().find(|(t, p, _)| t == topic && *p == partition).map_or(0, |(_, _, o)| *o)
    };
    let ranges: Vec<Range> = recorded
        .input_frontier
        .iter()
        .filter_map(|e| {
            let partition = u32::try_from(e.partition).ok()?;
            Some(Range { topic: e.topic.clone(), partition, from: position(&e.topic, partition), until: e.offset })
        })
        .collect();
    if let Some(r) = ranges.iter().find(|r| r.from > r.until) {
        return Err(ReplayError::Unsupported(format!(
            "the snapshot is past the verdict's frontier on {}/{} ({} > {})",
            r.topic, r.partition, r.from, r.until
        )));
    }
    let share = share_of(history, &op, &ranges).await?;
    let mut recomputed: Option<Verdict> = None;
    let mut inputs = Vec::new();
    let mut latest: Option<(trustloop_schemas::EventTime, ClockInput, bool)> = None;
    let mut clock = None;
    let stats = feed(history, &mut op, &ranges, share, &mut |applied| {
        let at = applied.event.envelope().event_time;
        let concerning = concerns(recorded, applied.event);
        let input_ref = |summary: String| InputRef {
            topic: applied.record.topic.to_string(),
            partition: applied.record.partition,
            offset: applied.record.offset,
            event_id: applied.event.envelope().event_id.to_string(),
            summary,
        };
        if latest.as_ref().is_none_or(|(t, _, _)| at > *t) {
            let summary = format!("{} at {at} (the operator's clock)", applied.event.event_type().name());
            latest = Some((at, ClockInput { after: inputs.len(), input: input_ref(summary) }, concerning.is_some()));
        }
        if let Some(line) = concerning {
            inputs.push(input_ref(line));
        }
        for out in applied.outputs {
            if let Event::Verdict(v) = out
                && v.envelope.event_id == *id
            {
                recomputed = Some(v.clone());
                clock = latest.as_ref().filter(|(_, _, concerning)| !concerning).map(|(_, r, _)| r.clone());
            }
        }
    })
    .await?;
    let recomputed_event = recomputed.map(Event::Verdict);
    let matched = recomputed_event.as_ref().is_some_and(|r| canonical_digest(r) == canonical_digest(&event));
    let identical_record = recomputed_event
        .as_ref()
        .and_then(|r| history.codec.encode(r).ok())
        .is_some_and(|bytes| bytes == record.value.as_ref());
    let recorded_json = event_to_json(&event);
    let recomputed_json = recomputed_event.as_ref().map(event_to_json);
    let first_difference = match &recomputed_json {
        Some(r) => first_difference("", &recorded_json, r),
        None => Some("(no verdict of this id derived at its frontier)".into()),
    };
    Ok(VerdictReplay {
        recorded_evidence: recorded.evidence_digest.clone(),
        recomputed_evidence: recomputed_event.as_ref().and_then(|e| match e {
            Event::Verdict(v) => Some(v.evidence_digest.clone()),
            _ => None,
        }),
        recorded: recorded_json,
        recorded_at: (record.topic.to_string(), record.partition, record.offset),
        recomputed: recomputed_json,
        matched,
        identical_record,
        first_difference,
        task: (share.count > 1).then_some((share.task, share.count)),
        from_snapshot,
        stats,
        inputs,
        clock,
    })
}

/// The first path where `a` and `b` differ (object keys in order, array items by index).
pub fn first_difference(path: &str, a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(u), Some(v)) => first_difference(&format!("{path}.{k}"), u, v),
                _ => Some(format!("{path}.{k}")),
            })
        }
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (u, v))| first_difference(&format!("{path}[{i}]"), u, v))
            .or_else(|| (x.len() != y.len()).then(|| format!("{path} (lengths {} and {})", x.len(), y.len()))),
        _ => (a != b).then(|| if path.is_empty() { "(the whole value)".to_string() } else { path.to_string() }),
    }
}

/// A line about `event` if it concerns the subject of `verdict` (see [`concerns_subject`]).
fn concerns(verdict: &Verdict, event: &Event) -> Option<String> {
    concerns_subject(&verdict.envelope.tenant, &verdict.subject, Some(verdict.subject_kind), event)
}

/// A line about `event` if it concerns `subject` of `tenant`: the tenant's policy, and for a release
/// (`NAME@VERSION@ENVIRONMENT`) the findings of `NAME@VERSION` (from any environment's inventory), its
/// promotion requests and approvals, for an entity its
/// trust scores. `kind`: what the subject is, if known (else both are tried).
pub fn concerns_subject(tenant: &str, subject: &str, kind: Option<SubjectKind>, event: &Event) -> Option<String> {
    if *event.envelope().tenant != *tenant {
        return None;
    }
    let release = kind.is_none_or(|k| k == SubjectKind::Release);
    let entity = kind.is_none_or(|k| k == SubjectKind::Entity);
    match (event, release, entity) {
        (Event::Policy(p), _, _) => Some(format!("policy {} version {} (digest {})", p.name, p.version, p.digest)),
        (Event::Finding(f), true, _) => {
            // The decision operator holds a release's findings whatever inventory (environment)
            // they came from: a promotion to prod is decided on the findings of staging's.
            let release = format!("{}@{}", f.release_name, f.release_version);
            subject.starts_with(&format!("{release}@")).then(|| {
                format!(
                    "finding {:?}: {} in {}@{} ({}), VEX {:?}, severity {}",
                    f.change,
                    f.advisory_id,
                    f.package_name,
                    f.package_version,
                    f.ecosystem,
                    f.vex_status,
                    f.severity.as_deref().unwrap_or("-")
                )
            })
        }
        (Event::PromotionRequest(p), true, _) => {
            (format!("{}@{}@{}", p.release_name, p.release_version, p.to_environment) == subject).then(|| {
                format!("promotion request from {} to {} by {}", p.from_environment, p.to_environment, p.requested_by)
            })
        }
        (Event::Approval(a), true, _) => {
            (a.subject == subject).then(|| format!("approval {:?} by {}{}", a.decision, a.approver, expiry(a.expires)))
        }
        (Event::TrustScore(s), _, true) => (s.entity == subject).then(|| {
            let features: Vec<String> = s.features.iter().map(|f| format!("{} {:.2}", f.name, f.value)).collect();
            format!("trust score {:.2} ({})", s.score, features.join(", "))
        }),
        _ => None,
    }
}

fn expiry(expires: Option<trustloop_schemas::EventTime>) -> String {
    expires.map_or(String::new(), |t| format!(", expires {t}"))
}

/// Groups `inputs` by what they are (the first word of their summary), in order of appearance.
pub fn by_kind(inputs: &[InputRef]) -> BTreeMap<String, Vec<&InputRef>> {
    let mut out: BTreeMap<String, Vec<&InputRef>> = BTreeMap::new();
    for i in inputs {
        let kind = i.summary.split_whitespace().next().unwrap_or("input").to_string();
        out.entry(kind).or_default().push(i);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::first_difference;

    #[test]
    fn the_first_difference_is_named_by_its_path() {
        let a = json!({"outcome": "PASS", "reasons": [{"rule": "x"}, {"rule": "y"}], "subject": "s"});
        assert_eq!(first_difference("", &a, &a), None);
        let b = json!({"outcome": "PASS", "reasons": [{"rule": "x"}, {"rule": "z"}], "subject": "t"});
        assert_eq!(first_difference("", &a, &b).as_deref(), Some(".reasons[1].rule"));
        let c = json!({"outcome": "PASS", "reasons": [{"rule": "x"}], "subject": "s"});
        assert_eq!(first_difference("", &a, &c).as_deref(), Some(".reasons (lengths 2 and 1)"));
        let d = json!({"outcome": "PASS", "subject": "s"});
        assert_eq!(first_difference("", &a, &d).as_deref(), Some(".reasons"));
        assert_eq!(first_difference("", &json!(1), &json!(2)).as_deref(), Some("(the whole value)"));
    }
}
