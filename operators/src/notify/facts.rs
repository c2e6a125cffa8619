//! What rules match on: the [`Facts`] of a verdict, finding, action or trust score, and
//! [`Match::matches`].

use trustloop_schemas::{Event, EventTime, FindingChange, Outcome, SubjectKind};

use crate::decision::release::glob;
use crate::policy::{Band, SeverityPolicy};

use super::rules::{EventKind, Match};

/// The facts of one event a rule can match on and a template can show.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// Its kind.
    pub kind: EventKind,
    /// Lowercase outcome: `pass`/`warn`/`fail`, `opened`/`closed`, an action state, `dropped`/`rose`.
    pub outcome: String,
    /// Tenant.
    pub tenant: String,
    /// Subject: a verdict's, `NAME@VERSION` for a finding, an action's, an entity.
    pub subject: String,
    /// Service: the release name of a release subject, else the entity.
    pub service: String,
    /// Severity band of a finding (CVSS's default thresholds; unknown counts as medium).
    pub severity: Option<Band>,
    /// A finding listed as known exploited.
    pub known_exploited: bool,
    /// A trust score.
    pub score: Option<f64>,
    /// The event's id.
    pub event_id: String,
    /// Its event time.
    pub time: EventTime,
    /// One line saying what happened.
    pub summary: String,
}

/// The part of a subject before its first `@` (a release's name).
fn service_of(subject: &str) -> &str {
    subject.split('@').next().unwrap_or(subject)
}

impl Facts {
    /// The facts of `event`, if it is of a kind rules match on.
    pub fn of(event: &Event) -> Option<Facts> {
        let env = event.envelope();
        let base = |kind, outcome: String, subject: String, service: String, summary: String| Facts {
            kind,
            outcome,
            tenant: env.tenant.to_string(),
            subject,
            service,
            severity: None,
            known_exploited: false,
            score: None,
            event_id: env.event_id.to_string(),
            time: env.event_time,
            summary,
        };
        Some(match event {
            Event::Verdict(v) => {
                let outcome = outcome_str(v.outcome);
                let service = match v.subject_kind {
                    SubjectKind::Release => service_of(&v.subject).to_string(),
                    SubjectKind::Entity => v.subject.clone(),
                };
                let was = v.previous.map(|p| format!(" (was {})", outcome_str(p).to_uppercase())).unwrap_or_default();
                let why = v.reasons.first().map(|r| format!(": {}", r.message)).unwrap_or_default();
                let summary = format!("verdict {} for {}{was}{why}", outcome.to_uppercase(), v.subject);
                base(EventKind::Verdict, outcome.into(), v.subject.clone(), service, summary)
            }
            Event::Finding(f) => {
                let outcome = match f.change {
                    FindingChange::Opened => "opened",
                    FindingChange::Closed => "closed",
                };
                let subject = format!("{}@{}", f.release_name, f.release_version);
                let band = SeverityPolicy::default().band_of(f.severity.as_deref());
                let exploited = f.known_exploited || !f.exploited_ids.is_empty();
                let summary = format!(
                    "finding {outcome}: {} in {}@{} of {subject} ({band}{})",
                    f.advisory_id,
                    f.package_name,
                    f.package_version,
                    if exploited { ", known exploited" } else { "" }
                );
                let mut facts = base(EventKind::Finding, outcome.into(), subject, f.release_name.to_string(), summary);
                facts.severity = Some(band);
                facts.known_exploited = exploited;
                facts
            }
            Event::EnforcementAction(a) => {
                let state = serde_json::to_value(a.state).ok()?.as_str()?.to_string();
                let kind = serde_json::to_value(a.kind).ok()?.as_str()?.to_string();
                let summary = format!("action {kind} on {} {state} (attempt {}): {}", a.subject, a.attempt, a.reason);
                base(EventKind::Action, state, a.subject.clone(), service_of(&a.subject).to_string(), summary)
            }
            Event::TrustScore(t) => {
                let outcome = if t.previous.is_some_and(|p| t.score > p) { "rose" } else { "dropped" };
                let was = t.previous.map(|p| format!(" from {p:.1}")).unwrap_or_default();
                let summary = format!("trust score of {} {outcome} to {:.1}{was}", t.entity, t.score);
                let mut facts =
                    base(EventKind::TrustScore, outcome.into(), t.entity.clone(), t.entity.clone(), summary);
                facts.score = Some(t.score);
                facts
            }
            _ => return None,
        })
    }
}

fn outcome_str(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Warn => "warn",
        Outcome::Fail => "fail",
    }
}

fn any_glob(patterns: &[String], text: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| glob(p, text))
}

impl Match {
    /// Whether every condition given holds for `facts`.
    pub fn matches(&self, facts: &Facts) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&facts.kind))
            && (self.outcomes.is_empty() || self.outcomes.iter().any(|o| o.eq_ignore_ascii_case(&facts.outcome)))
            && (self.severities.is_empty() || facts.severity.is_some_and(|b| self.severities.contains(&b)))
            && self.known_exploited.is_none_or(|k| k == facts.known_exploited)
            && self.score_below.is_none_or(|limit| facts.score.is_some_and(|s| s < limit))
            && any_glob(&self.tenants, &facts.tenant)
            && any_glob(&self.services, &facts.service)
            && any_glob(&self.subjects, &facts.subject)
    }
}
