//! Regressions: a promoted release that turns bad in its environment. When a verdict of a promoted
//! subject enters the outcomes of a `release_gates.regressions` rule that watches the subject's
//! environment (its previous verdict was outside them), the rule's actions are requested, in the
//! order the rule lists them, caused by the input that flipped the verdict:
//!
//! * `notify` and `block_promotion` target `release:NAME@VERSION`; the block stands for the episode
//!   and is lifted (the same `action_id`, `revert: true`) by the first verdict outside the outcomes
//!   the rule watched when it fired.
//! * `rollback` has the same target — the release to take out; the enforcement operator names the
//!   release put back — and ends the promotion: until a new promotion request is granted, no rule
//!   fires for the subject again.
//!
//! A rule fires at most once per episode (a verdict going from WARN to FAIL under a rule watching
//! both does not fire it again). Action ids derive from tenant, subject, rule, action and the
//! causing input's event id, so a replay derives the same ones.

use trustloop_schemas::{ActionKind, Envelope, Event, EventTime, Outcome, derive_event_id};

use super::accept::ActivePolicy;
use super::emit::{self, ActionSpec};
use super::entity::kind_name;
use super::release::{Regression, SubjectState, applies};
use crate::policy::{RegressionAction, RegressionRule};

/// How actions' reasons name the policy in force.
#[derive(Debug, Clone)]
pub struct PolicyLabel {
    /// "`NAME` version N (DIGEST)".
    text: String,
}

impl PolicyLabel {
    /// The label of `policy`.
    pub fn of(policy: &ActivePolicy) -> PolicyLabel {
        PolicyLabel { text: format!("`{}` version {} ({})", policy.doc.name, policy.version, policy.digest) }
    }
}

/// A change of a release subject's verdict.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// `NAME@VERSION@ENVIRONMENT`.
    pub subject: &'a str,
    /// The outcome before (`None`: no verdict yet).
    pub previous: Option<Outcome>,
    /// The outcome now.
    pub outcome: Outcome,
    /// The verdict's first reason.
    pub why: &'a str,
    /// The policy in force.
    pub policy: PolicyLabel,
}

fn label(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "PASS",
        Outcome::Warn => "WARN",
        Outcome::Fail => "FAIL",
    }
}

/// Applies a change of `s`'s verdict to the regression rules: ends the episodes it leaves (lifting
/// their blocks), then fires the rules it enters while the subject is promoted.
pub fn step(
    s: &mut SubjectState,
    rules: &[RegressionRule],
    change: &Change<'_>,
    cause: &Envelope,
    now: EventTime,
    out: &mut Vec<Event>,
) {
    let release = s.release();
    let target = format!("release:{release}");
    let Change { tenant, subject, previous, outcome, why, policy } = change;
    let was = previous.map_or("no verdict", label);

    let ended: Vec<String> =
        s.regressed.iter().filter(|(_, r)| !r.outcomes.contains(outcome)).map(|(id, _)| id.clone()).collect();
    for id in ended {
        let Some(Regression { block: Some(block), .. }) = s.regressed.remove(&id) else { continue };
        let reason = format!(
            "lift the block of {release}: its verdict in {} is {} again (was {was}; regression rule `{id}`)",
            s.environment,
            label(*outcome)
        );
        out.push(emit::action(
            cause,
            now,
            ActionSpec {
                subject,
                action_id: &block,
                kind: ActionKind::BlockPromotion,
                target: target.clone(),
                revert: true,
                cause_event_id: cause.event_id.to_string(),
                reason,
                workflow: None,
            },
        ));
    }

    if !s.promoted {
        return;
    }
    let mut rolled_back = false;
    for rule in rules.iter().filter(|r| applies(&r.environments, &s.environment)) {
        let watched: Vec<Outcome> = rule.outcomes.iter().map(|o| o.outcome()).collect();
        if s.regressed.contains_key(&rule.id)
            || !watched.contains(outcome)
            || previous.is_some_and(|p| watched.contains(&p))
        {
            continue;
        }
        let turned = format!(
            "{release}, promoted to {}, turned {} (was {was}) under policy {}: {why}; regression rule `{}`",
            s.environment,
            label(*outcome),
            policy.text,
            rule.id
        );
        let mut block = None;
        for &action in &rule.actions {
            let kind = ActionKind::from(action);
            let action_id = derive_event_id(
                "regression-action",
                &[
                    tenant.as_bytes(),
                    subject.as_bytes(),
                    rule.id.as_bytes(),
                    kind_name(kind).as_bytes(),
                    cause.event_id.0.as_bytes(),
                ],
            )
            .to_string();
            let reason = match action {
                RegressionAction::Notify => turned.clone(),
                RegressionAction::BlockPromotion => {
                    block = Some(action_id.clone());
                    format!("block promotions of {release} in every environment: {turned}")
                }
                RegressionAction::Rollback => {
                    rolled_back = true;
                    format!("roll {release} back in {}: {turned}", s.environment)
                }
            };
            out.push(emit::action(
                cause,
                now,
                ActionSpec {
                    subject,
                    action_id: &action_id,
                    kind,
                    target: target.clone(),
                    revert: false,
                    cause_event_id: cause.event_id.to_string(),
                    reason,
                    workflow: None,
                },
            ));
        }
        s.regressed.insert(rule.id.clone(), Regression { outcomes: watched, block });
    }
    if rolled_back {
        s.promoted = false;
    }
}
