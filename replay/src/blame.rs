//! Blame: each change of a subject's verdict and the input that flipped it. The decision operator is
//! replayed over everything it had committed; every verdict it derives for the subject is seen
//! together with the input that caused it (the last one applied), classified: an advisory delta
//! (a finding opened or closed), a VEX statement (a finding whose status VEX set), an approval, a
//! policy version, a trust change, a promotion request.

use serde::Serialize;
use trustloop_operators::decision::DecisionState;
use trustloop_schemas::{Event, EventTime, FindingChange, Outcome};

use crate::feed::{History, ReplayError, Share, committed_ranges, feed};

/// One change of the subject's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// The verdict's event time.
    pub at: EventTime,
    /// The outcome before (`None`: the first verdict).
    pub from: Option<Outcome>,
    /// The outcome after.
    pub to: Outcome,
    /// The verdict's event id.
    pub verdict_id: String,
    /// What flipped it: `advisory`, `vex`, `approval`, `policy`, `trust`, `promotion`.
    pub cause_kind: &'static str,
    /// The input that flipped it, in a line.
    pub cause: String,
    /// Where that input is in the log: topic, partition, offset.
    pub cause_at: (String, u32, i64),
    /// The verdict's first reason.
    pub reason: String,
}

/// The subject's history of changes, oldest first (verdicts that repeat the outcome are left out).
pub async fn blame(history: History<'_>, tenant: &str, subject: &str) -> Result<Vec<Change>, ReplayError> {
    let mut op = DecisionState::new();
    let ranges = committed_ranges(history, &op).await?;
    let mut changes: Vec<Change> = Vec::new();
    let mut last: Option<Outcome> = None;
    feed(history, &mut op, &ranges, Share::ALL, &mut |applied| {
        for out in applied.outputs {
            let Event::Verdict(v) = out else { continue };
            if v.subject != subject || *v.envelope.tenant != *tenant || last == Some(v.outcome) {
                continue;
            }
            let (cause_kind, cause) = describe(applied.event);
            changes.push(Change {
                at: v.envelope.event_time,
                from: last,
                to: v.outcome,
                verdict_id: v.envelope.event_id.to_string(),
                cause_kind,
                cause,
                cause_at: (applied.record.topic.to_string(), applied.record.partition, applied.record.offset),
                reason: v.reasons.first().map_or(String::new(), |r| format!("{}: {}", r.rule, r.message)),
            });
            last = Some(v.outcome);
        }
    })
    .await?;
    Ok(changes)
}

/// What kind of input `event` is and what it says, for the blame.
fn describe(event: &Event) -> (&'static str, String) {
    match event {
        Event::Finding(f) => {
            let verb = match f.change {
                FindingChange::Opened => "opened",
                FindingChange::Closed => "closed",
            };
            let what = format!(
                "{} {verb} for {}@{} in {}@{} (VEX {:?})",
                f.advisory_id, f.release_name, f.release_version, f.package_name, f.package_version, f.vex_status
            );
            match f.vex_statement_ids.is_empty() {
                true => ("advisory", what),
                false => ("vex", format!("{what}, statements {}", f.vex_statement_ids.join(", "))),
            }
        }
        Event::Approval(a) => ("approval", format!("{:?} by {} for {}", a.decision, a.approver, a.subject)),
        Event::Policy(p) => ("policy", format!("policy {} version {} (digest {})", p.name, p.version, p.digest)),
        Event::TrustScore(s) => {
            let previous = s.previous.map_or("-".to_string(), |p| format!("{p:.2}"));
            ("trust", format!("trust score of {} {previous} → {:.2}", s.entity, s.score))
        }
        Event::PromotionRequest(p) => (
            "promotion",
            format!(
                "promotion of {}@{} from {} to {} by {}",
                p.release_name, p.release_version, p.from_environment, p.to_environment, p.requested_by
            ),
        ),
        other => ("other", format!("a {} event", other.event_type())),
    }
}
