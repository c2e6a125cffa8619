//! Budgets (policy `enforcement.budgets`): how many actions a tenant started, and on how many of its
//! entities, within a sliding window of event time.
//!
//! An action is *started* when it is first dispatched (straight away, or when released from hold);
//! that moment counts toward every budget whose `actions` list its kind (an empty list counts every
//! kind). Retries, the sandbox and the real step, and reverts are one start. An action that failed
//! or was reverted still counts: it was carried out. Held and cancelled actions do not.
//!
//! A start at `t` is inside a window `w` at `now` while `now - t < w`. `max_actions` bounds the
//! starts in the window; `max_fleet_percent` bounds the distinct subjects acted on in the window, as
//! a share of the tenant's fleet (distinct entities seen in entity verdicts), rounded up as
//! Kubernetes rounds a PodDisruptionBudget's percentage: 5 % of 10 entities allows 1. An unknown
//! fleet (no entity verdict yet) allows none.

use std::collections::{BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use trustloop_schemas::ActionKind;

use crate::policy::{Action, Budget, EnforcementPolicy};

/// One started action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Start {
    /// When it started (event time, microseconds).
    pub at: i64,
    /// What it acted on.
    pub subject: String,
    /// What it did.
    pub kind: ActionKind,
}

/// A tenant's starts, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    starts: VecDeque<Start>,
}

/// The policy action of an action kind (`promote`, `lift_quarantine` and `rollback` have none: only budgets
/// that count every kind count them).
pub fn policy_action(kind: ActionKind) -> Option<Action> {
    match kind {
        ActionKind::Quarantine => Some(Action::Quarantine),
        ActionKind::Isolate => Some(Action::Isolate),
        ActionKind::BlockPromotion => Some(Action::BlockPromotion),
        ActionKind::Notify => Some(Action::Notify),
        ActionKind::Promote | ActionKind::LiftQuarantine | ActionKind::Rollback => None,
    }
}

/// Whether `budget` counts actions of `kind`.
pub fn counts(budget: &Budget, kind: ActionKind) -> bool {
    budget.actions.is_empty() || policy_action(kind).is_some_and(|a| budget.actions.contains(&a))
}

/// Most distinct subjects `percent` % of a fleet of `fleet` entities allows (rounded up).
pub fn fleet_limit(fleet: usize, percent: f64) -> usize {
    // The epsilon keeps an exact product (5 % of 20 = 1) from rounding up on a last-bit error.
    let share = (fleet as f64) * percent / 100.0 - 1e-9;
    if share <= 0.0 { 0 } else { share.ceil() as usize }
}

impl Ledger {
    /// Records a start at `at` (the operator's watermark, so starts stay in time order).
    pub fn record(&mut self, at: i64, subject: &str, kind: ActionKind) {
        self.starts.push_back(Start { at, subject: subject.to_string(), kind });
    }

    /// How many starts are recorded.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether none is recorded.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Forgets the starts outside every window of `policy` (they can no longer count; a later policy
    /// with a longer window does not bring them back).
    pub fn prune(&mut self, now: i64, policy: &EnforcementPolicy) {
        let longest = policy.budgets.iter().map(|b| b.window.as_micros()).max().unwrap_or(0);
        while self.starts.front().is_some_and(|s| now.saturating_sub(s.at) >= longest) {
            self.starts.pop_front();
        }
    }

    /// The starts `budget` counts at `now`.
    fn in_window<'a>(&'a self, budget: &'a Budget, now: i64) -> impl Iterator<Item = &'a Start> + 'a {
        let w = budget.window.as_micros();
        self.starts.iter().filter(move |s| now.saturating_sub(s.at) < w && counts(budget, s.kind))
    }

    /// Why starting an action of `kind` on `subject` at `now` would exceed a budget (the first one,
    /// in policy order), or `None` when it fits them all.
    pub fn check(
        &self,
        policy: &EnforcementPolicy,
        now: i64,
        kind: ActionKind,
        subject: &str,
        fleet: usize,
    ) -> Option<String> {
        for b in policy.budgets.iter().filter(|b| counts(b, kind)) {
            if let Some(max) = b.max_actions {
                let n = self.in_window(b, now).count();
                if n >= max as usize {
                    return Some(format!("held: budget {} {n}/{max} actions in {}", b.id, b.window));
                }
            }
            if let Some(pct) = b.max_fleet_percent {
                let subjects: BTreeSet<&str> = self.in_window(b, now).map(|s| s.subject.as_str()).collect();
                let limit = fleet_limit(fleet, pct);
                if !subjects.contains(subject) && subjects.len() >= limit {
                    let unknown = if fleet == 0 { ": no entity verdict seen yet" } else { "" };
                    return Some(format!(
                        "held: budget {} {}/{limit} entities in {} ({pct}% of a fleet of {fleet}{unknown})",
                        b.id,
                        subjects.len(),
                        b.window
                    ));
                }
            }
        }
        None
    }

    /// The next time after `now` at which a counted start leaves a window of `policy` (when a held
    /// action may fit again), if any.
    pub fn next_free(&self, policy: &EnforcementPolicy, now: i64) -> Option<i64> {
        policy
            .budgets
            .iter()
            .filter_map(|b| self.in_window(b, now).map(|s| s.at.saturating_add(b.window.as_micros())).min())
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Duration;

    fn budget(max_actions: Option<u32>, pct: Option<f64>, actions: Vec<Action>) -> EnforcementPolicy {
        EnforcementPolicy {
            budgets: vec![Budget {
                id: "b".into(),
                window: Duration::from_secs(60),
                max_actions,
                max_fleet_percent: pct,
                actions,
            }],
            ..EnforcementPolicy::default()
        }
    }

    const S: i64 = 1_000_000;

    #[test]
    fn fleet_limit_rounds_up() {
        assert_eq!(fleet_limit(0, 5.0), 0);
        assert_eq!(fleet_limit(10, 5.0), 1);
        assert_eq!(fleet_limit(20, 5.0), 1);
        assert_eq!(fleet_limit(21, 5.0), 2);
        assert_eq!(fleet_limit(100, 7.0), 7);
        assert_eq!(fleet_limit(3, 100.0), 3);
    }

    #[test]
    fn counts_within_the_sliding_window_and_frees_at_its_end() {
        let p = budget(Some(2), None, vec![Action::Quarantine]);
        let mut l = Ledger::default();
        l.record(0, "h1", ActionKind::Quarantine);
        l.record(10 * S, "h2", ActionKind::Quarantine);
        l.record(11 * S, "h3", ActionKind::Notify); // not counted
        let held = l.check(&p, 30 * S, ActionKind::Quarantine, "h4", 100).expect("over");
        assert_eq!(held, "held: budget b 2/2 actions in 1m");
        assert_eq!(l.check(&p, 30 * S, ActionKind::Notify, "h4", 100), None);
        assert_eq!(l.next_free(&p, 30 * S), Some(60 * S));
        assert!(l.check(&p, 59 * S, ActionKind::Quarantine, "h4", 100).is_some());
        assert_eq!(l.check(&p, 60 * S, ActionKind::Quarantine, "h4", 100), None);
        l.prune(60 * S, &p);
        assert_eq!(l.len(), 2);
        l.prune(71 * S, &p);
        assert!(l.is_empty());
    }

    #[test]
    fn fleet_percent_counts_distinct_subjects() {
        let p = budget(None, Some(10.0), vec![]);
        let mut l = Ledger::default();
        l.record(0, "h1", ActionKind::Quarantine);
        // 10 % of 10 = 1 entity: h1 again is fine, h2 is not.
        assert_eq!(l.check(&p, S, ActionKind::Isolate, "h1", 10), None);
        let held = l.check(&p, S, ActionKind::Isolate, "h2", 10).expect("over");
        assert_eq!(held, "held: budget b 1/1 entities in 1m (10% of a fleet of 10)");
        assert_eq!(l.check(&p, S, ActionKind::Isolate, "h2", 11), None);
        let unknown = Ledger::default().check(&p, S, ActionKind::Isolate, "h2", 0).expect("over");
        assert!(unknown.ends_with("of a fleet of 0: no entity verdict seen yet)"), "{unknown}");
    }
}
