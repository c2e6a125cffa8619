//! Trust rules for entities: the latest trust score of each entity, the rules active on it
//! (hysteresis: a rule activates when the score drops *below* `below` and is lifted only once the
//! score is back at `recover_above` or higher), and the entity's verdict.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use trustloop_schemas::{ActionKind, Envelope, EventTime, Feature, Outcome, Reason, SubjectKind, derive_event_id};

use super::Decision;
use super::evidence::Evidence;
use crate::policy::TrustRule;

/// A trust rule in force on an entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveRule {
    /// The action's idempotency key (its revert carries the same one).
    pub action_id: String,
    /// What was asked for.
    pub kind: ActionKind,
    /// Event time of the activation.
    pub since: EventTime,
    /// The score that activated it.
    pub score: f64,
}

/// One entity's latest trust score and the trust rules active on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityState {
    /// The latest score.
    pub score: f64,
    /// Event time of the latest score.
    pub at: EventTime,
    /// Its event id.
    pub event_id: String,
    /// Its canonical digest.
    pub digest: [u8; 32],
    /// Its features.
    pub features: Vec<Feature>,
    /// Active rules by rule id.
    pub active: BTreeMap<String, ActiveRule>,
    /// The outcome of the last verdict emitted.
    pub last: Option<Outcome>,
}

/// An action to emit: a rule activating (`revert: false`) or being lifted (`revert: true`).
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The action's idempotency key.
    pub action_id: String,
    /// What it does.
    pub kind: ActionKind,
    /// Whether it undoes the action.
    pub revert: bool,
    /// Why, for people.
    pub reason: String,
    /// The remediation workflow of the rule (forward actions only).
    pub workflow: Option<String>,
}

impl EntityState {
    /// Applies the trust rules (in policy order) to the current score. `cause` is the activating
    /// event: the `TrustScore`, or the `Policy` event when a policy switch re-checks the standing
    /// score. Action ids derive from tenant, entity, rule id and the activating event's id.
    pub fn step(&mut self, entity: &str, rules: &[TrustRule], cause: &Envelope) -> Vec<Transition> {
        let mut out = Vec::new();
        let score = self.score;
        // Rules no longer in the policy, or now asking for another action, are lifted first.
        let gone: Vec<String> = self
            .active
            .iter()
            .filter(|(id, a)| !rules.iter().any(|r| &r.id == *id && ActionKind::from(r.action) == a.kind))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            if let Some(a) = self.active.remove(&id) {
                out.push(Transition {
                    reason: format!(
                        "trust rule `{id}` ({}) of {entity} lifted: the policy in force no longer asks for it",
                        kind_name(a.kind)
                    ),
                    action_id: a.action_id,
                    kind: a.kind,
                    revert: true,
                    workflow: None,
                });
            }
        }
        for r in rules {
            let kind = ActionKind::from(r.action);
            if self.active.contains_key(&r.id) {
                if score >= r.recover_above
                    && let Some(a) = self.active.remove(&r.id)
                {
                    out.push(Transition {
                        reason: format!(
                            "trust rule `{}` ({}) of {entity} lifted: score {} recovered to {} or higher",
                            r.id,
                            kind_name(kind),
                            num(score),
                            num(r.recover_above)
                        ),
                        action_id: a.action_id,
                        kind: a.kind,
                        revert: true,
                        workflow: None,
                    });
                }
            } else if score < r.below {
                let action_id = derive_event_id(
                    "trust-action",
                    &[cause.tenant.as_bytes(), entity.as_bytes(), r.id.as_bytes(), cause.event_id.0.as_bytes()],
                )
                .to_string();
                self.active
                    .insert(r.id.clone(), ActiveRule { action_id: action_id.clone(), kind, since: self.at, score });
                out.push(Transition {
                    reason: format!(
                        "trust rule `{}`: score {} of {entity} fell below {}: {} (lifted once the score is {} or \
                         higher)",
                        r.id,
                        num(score),
                        num(r.below),
                        kind_name(kind),
                        num(r.recover_above)
                    ),
                    action_id,
                    kind,
                    revert: false,
                    workflow: r.workflow.clone(),
                });
            }
        }
        out
    }

    /// FAIL while an isolate or quarantine rule is active, WARN while a block_promotion or notify
    /// rule is, else PASS.
    pub fn outcome(&self) -> Outcome {
        let kinds = || self.active.values().map(|a| a.kind);
        if kinds().any(|k| matches!(k, ActionKind::Isolate | ActionKind::Quarantine)) {
            Outcome::Fail
        } else if kinds().any(|k| matches!(k, ActionKind::BlockPromotion | ActionKind::Notify)) {
            Outcome::Warn
        } else {
            Outcome::Pass
        }
    }

    /// The entity's verdict: a `trust-score` reason (the score and its non-zero features), then one
    /// reason per active rule (`trust:<id>`). Evidence: policy digest, entity, the score's digest.
    pub fn explain(&self, entity: &str, policy_digest: &str, rules: &[TrustRule]) -> Decision {
        let mut facts = vec![format!("TrustScore event {} at {}", self.event_id, self.at)];
        for f in self.features.iter().filter(|f| f.contribution != 0.0) {
            facts.push(format!(
                "feature {}: value {}, weight {}, {} points off",
                f.name,
                num(f.value),
                num(f.weight),
                num(f.contribution)
            ));
        }
        let mut reasons = vec![Reason {
            rule: "trust-score".into(),
            message: format!("trust score of {entity}: {}", num(self.score)),
            facts,
        }];
        for (id, a) in &self.active {
            let level = if matches!(a.kind, ActionKind::Isolate | ActionKind::Quarantine) { "FAIL" } else { "WARN" };
            let mut message = format!(
                "{level}: trust rule `{id}` active since {} (score {}): {}",
                a.since,
                num(a.score),
                kind_name(a.kind)
            );
            if let Some(r) = rules.iter().find(|r| &r.id == id) {
                let _ = write!(message, "; lifted once the score is {} or higher", num(r.recover_above));
            }
            reasons.push(Reason {
                rule: format!("trust:{id}"),
                message,
                facts: vec![format!("action {}", a.action_id)],
            });
        }
        let evidence = Evidence {
            kind: SubjectKind::Entity,
            policy_digest,
            subject: entity,
            now: None,
            findings: Vec::new(),
            approvals: Vec::new(),
            promotion: None,
            trust_score: Some(self.digest),
            epss: None,
            labels: None,
        };
        Decision {
            outcome: self.outcome(),
            reasons,
            policy_digest: policy_digest.to_string(),
            evidence_digest: evidence.digest(),
            now: None,
        }
    }
}

/// A number for people: at most two decimals, no trailing zeros.
fn num(x: f64) -> String {
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

pub use crate::enforce::action::kind_name;
