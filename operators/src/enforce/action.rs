//! One action's record: where it is in its lifecycle, and the `EnforcementAction` events that say so.

use serde::{Deserialize, Serialize};
use trustloop_schemas::{
    ActionKind, ActionState, EnforcementAction, Envelope, Event, EventTime, EventType, derive_event_id,
};

use super::timers::{Clock, TimerKey};
use super::workflow::WorkflowRun;
use crate::policy::Duration;

/// The `source` of emitted `EnforcementAction` events.
pub const SOURCE: &str = "trustloop.enforce";

/// The prefix of a sandbox target: `sandbox:<target>`.
pub const SANDBOX_PREFIX: &str = "sandbox:";

/// Where an action is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Over a budget: waits to be released (state `held`).
    Held,
    /// A step is dispatched; `state` is the last state it reached. Its deadline is a timeout, on
    /// the adapter clock.
    InFlight,
    /// A step failed or timed out; its deadline is the retry.
    RetryWait,
    /// The real step is verified: the action is in effect. Its deadline, if any, is the TTL.
    Active,
    /// A step failed on its last attempt. Final, unless a revert is asked for.
    Failed,
    /// The revert step finished (state `reverted`). Final.
    Reverted,
    /// Reverted while held, never dispatched (state `reverted`). Final.
    Cancelled,
}

impl Phase {
    /// The clock the phase's deadline is measured on: the adapter clock for the timeout of a step
    /// in flight, the watermark for the others (retry, TTL).
    pub fn clock(self) -> Clock {
        if self == Phase::InFlight { Clock::Adapter } else { Clock::Watermark }
    }
}

/// An action known to the operator (the first `requested` event of its `action_id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// The idempotency key.
    pub action_id: String,
    /// Request order within the operator (held actions are released in this order).
    pub seq: u64,
    /// The request's partitioning key, kept by every event of the action.
    pub key: String,
    /// What it acts on.
    pub subject: String,
    /// What it does.
    pub kind: ActionKind,
    /// The real target (the request's, else the subject).
    pub target: String,
    /// Lifecycle phase.
    pub phase: Phase,
    /// The last state emitted.
    pub state: ActionState,
    /// The current step is on the sandbox target.
    pub sandbox: bool,
    /// The current step is the revert.
    pub revert: bool,
    /// A revert was asked for (by the decision operator or the TTL): later ones are duplicates.
    pub revert_requested: bool,
    /// Number of the current dispatch: every dispatch of the action (sandbox, real, retries, revert)
    /// gets the next number, so an adapter result's `attempt` names exactly one dispatch. 0 before
    /// the first.
    pub attempt: i32,
    /// Tries of the current step (1 at its first dispatch).
    pub tries: u32,
    /// Why the current step's last try failed (`failure: …` or `timeout: …`).
    pub last_failure: Option<String>,
    /// The pending deadline.
    pub timer: Option<TimerKey>,
    /// Its due time, as the events show it (on the clock of the phase, see [`Phase::clock`]).
    pub deadline: Option<i64>,
    /// The TTL scheduled when the action was verified.
    pub ttl: Option<Duration>,
    /// The remediation workflow the action runs; `None`: a single-step action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowRun>,
}

impl ActionRecord {
    /// The target of the current step (`sandbox:<target>` on the sandbox).
    pub fn step_target(&self) -> String {
        if self.sandbox { format!("{SANDBOX_PREFIX}{}", self.target) } else { self.target.clone() }
    }

    /// The event saying the action reached its current `state`, caused by `cause`, at `now`.
    pub fn event(&self, tenant: &str, now: i64, cause: &str, reason: String) -> Event {
        let id = derive_event_id(
            "action",
            &[
                self.action_id.as_bytes(),
                state_name(self.state).as_bytes(),
                &self.attempt.to_be_bytes(),
                &[u8::from(self.sandbox)],
                &[u8::from(self.revert)],
                cause.as_bytes(),
            ],
        );
        Event::EnforcementAction(EnforcementAction {
            envelope: Envelope {
                event_id: id,
                tenant: tenant.into(),
                key: self.key.as_str().into(),
                event_time: EventTime::from_micros(now),
                source: SOURCE.into(),
                schema_version: EventType::EnforcementAction.schema_version(),
            },
            action_id: self.action_id.clone(),
            subject: self.subject.clone(),
            kind: self.kind,
            state: self.state,
            target: self.step_target(),
            sandbox: self.sandbox,
            attempt: self.attempt,
            cause_event_id: cause.to_string(),
            reason,
            deadline: self.deadline.map(EventTime::from_micros),
            revert: self.revert,
            workflow: self.workflow.as_ref().map(|w| w.name.clone()),
            step: self.workflow.as_ref().and_then(|w| w.step_event(self, tenant)),
        })
    }

    /// The position of a state an adapter reports within the current step (dispatched = 0); `None`
    /// for states that are no progress of this step. The last one finishes the step: `verified` for
    /// the sandbox and the real step, `reverted` for the revert.
    pub fn rank(&self, state: ActionState) -> Option<u8> {
        match state {
            ActionState::Dispatched => Some(0),
            ActionState::Acknowledged => Some(1),
            ActionState::Applied => Some(2),
            ActionState::Verified if !self.revert => Some(3),
            ActionState::Reverted if self.revert => Some(3),
            _ => None,
        }
    }
}

/// The schema's name of a state.
pub fn state_name(s: ActionState) -> &'static str {
    match s {
        ActionState::Requested => "requested",
        ActionState::Dispatched => "dispatched",
        ActionState::Acknowledged => "acknowledged",
        ActionState::Applied => "applied",
        ActionState::Failed => "failed",
        ActionState::Verified => "verified",
        ActionState::Reverted => "reverted",
        ActionState::Held => "held",
    }
}

/// The policy's name of an action kind.
pub fn kind_name(k: ActionKind) -> &'static str {
    match k {
        ActionKind::Quarantine => "quarantine",
        ActionKind::Isolate => "isolate",
        ActionKind::BlockPromotion => "block_promotion",
        ActionKind::Promote => "promote",
        ActionKind::Notify => "notify",
        ActionKind::LiftQuarantine => "lift_quarantine",
        ActionKind::Rollback => "rollback",
    }
}
