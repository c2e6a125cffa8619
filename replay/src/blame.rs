//! Blame: each change of a subject's verdict and the input that flipped it. The decision operator is
//! replayed over everything it had committed; every verdict it derives for the subject is seen
//! together with the input that caused it (the last one applied), classified: an advisory delta
//! (a finding opened or closed), a VEX statement (a finding whose status VEX set), a known-exploited
//! catalog entry (a finding whose catalog-listed CVEs changed), a day's EPSS scores, an approval, a
//! policy version, a trust change, a promotion request. Each change lists the actions requested
//! about the subject with it (a promotion's; a regression rule's notify, block and rollback).

use std::collections::HashMap;

use serde::Serialize;
use trustloop_operators::decision::DecisionState;
use trustloop_operators::enforce::action::kind_name;
use trustloop_schemas::{Event, EventTime, Finding, FindingChange, Outcome, Texts};

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
    /// What flipped it: `advisory`, `vex`, `known-exploited`, `epss`, `approval`, `policy`, `trust`,
    /// `promotion`.
    pub cause_kind: &'static str,
    /// The input that flipped it, in a line.
    pub cause: String,
    /// Where that input is in the log: topic, partition, offset.
    pub cause_at: (String, u32, i64),
    /// The verdict's first reason.
    pub reason: String,
    /// The actions the decision operator requested about the subject with that verdict (the
    /// promotion's, or a regression rule's), in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionLine>,
}

/// An action requested together with a verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionLine {
    /// `notify`, `block_promotion`, `rollback`, `promote`, ...
    pub kind: &'static str,
    /// Its idempotency key.
    pub action_id: String,
    /// Whether it undoes the action of the same id.
    pub revert: bool,
    /// Its target.
    pub target: String,
    /// Why.
    pub reason: String,
}

/// The subject's history of changes, oldest first (verdicts that repeat the outcome are left out).
pub async fn blame(history: History<'_>, tenant: &str, subject: &str) -> Result<Vec<Change>, ReplayError> {
    let mut op = DecisionState::new();
    let ranges = committed_ranges(history, &op).await?;
    let mut changes: Vec<Change> = Vec::new();
    let mut last: Option<Outcome> = None;
    let mut listed = Listed::default();
    feed(history, &mut op, &ranges, Share::ALL, &mut |applied| {
        let newly_listed = listed.changed(applied.event);
        for out in applied.outputs {
            let Event::Verdict(v) = out else { continue };
            if v.subject != subject || *v.envelope.tenant != *tenant || last == Some(v.outcome) {
                continue;
            }
            let (cause_kind, cause) = describe(applied.event, newly_listed);
            changes.push(Change {
                at: v.envelope.event_time,
                from: last,
                to: v.outcome,
                verdict_id: v.envelope.event_id.to_string(),
                cause_kind,
                cause,
                cause_at: (applied.record.topic.to_string(), applied.record.partition, applied.record.offset),
                reason: v.reasons.first().map_or(String::new(), |r| format!("{}: {}", r.rule, r.message)),
                actions: applied
                    .outputs
                    .iter()
                    .filter_map(|o| match o {
                        Event::EnforcementAction(a) if a.subject == subject && *a.envelope.tenant == *tenant => {
                            Some(ActionLine {
                                kind: kind_name(a.kind),
                                action_id: a.action_id.clone(),
                                revert: a.revert,
                                target: a.target.clone(),
                                reason: a.reason.clone(),
                            })
                        }
                        _ => None,
                    })
                    .collect(),
            });
            last = Some(v.outcome);
        }
    })
    .await?;
    Ok(changes)
}

/// The catalog-listed CVEs each finding was last seen with, to tell a catalog's change from others.
#[derive(Default)]
pub(crate) struct Listed {
    by_finding: HashMap<(String, String, Option<String>, String, String), Texts>,
}

impl Listed {
    /// Whether `event` is a finding whose catalog-listed CVEs differ from its last delta's.
    pub(crate) fn changed(&mut self, event: &Event) -> bool {
        let Event::Finding(f) = event else { return false };
        let key = (
            f.release_name.to_string(),
            f.release_version.to_string(),
            f.environment.as_deref().map(str::to_string),
            f.vulnerability().to_string(),
            f.purl.to_string(),
        );
        let before = match f.change {
            FindingChange::Opened => self.by_finding.insert(key, f.exploited_ids.clone()),
            FindingChange::Closed => self.by_finding.remove(&key),
        };
        f.change == FindingChange::Opened && before.is_some_and(|b| b != f.exploited_ids)
    }
}

/// A finding delta in a line.
fn finding_line(f: &Finding, verb: &str) -> String {
    format!(
        "{} {verb} for {}@{} in {}@{} (VEX {:?})",
        f.advisory_id, f.release_name, f.release_version, f.package_name, f.package_version, f.vex_status
    )
}

/// What kind of input `event` is and what it says, for the blame (`newly_listed`: a finding whose
/// catalog-listed CVEs just changed).
pub(crate) fn describe(event: &Event, newly_listed: bool) -> (&'static str, String) {
    match event {
        Event::Finding(f) if newly_listed => {
            let what = if f.exploited_ids.is_empty() {
                "no CVE of it is in a known-exploited catalog any more".to_string()
            } else {
                format!("{} in a known-exploited catalog", f.exploited_ids.join(", "))
            };
            ("known-exploited", format!("{}: {what} (catalog event {})", finding_line(f, "updated"), f.cause_event_id))
        }
        Event::EpssScores(e) => (
            "epss",
            format!("EPSS scores of {} (part {} of {}, {} scores)", e.score_date, e.part + 1, e.parts, e.scores.len()),
        ),
        Event::Finding(f) => {
            let verb = match f.change {
                FindingChange::Opened => "opened",
                FindingChange::Closed => "closed",
            };
            let what = finding_line(f, verb);
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
