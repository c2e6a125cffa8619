//! Building the operator's outputs. Event ids derive from the causing input's id and what
//! distinguishes the output (subject; action id and direction); event time is the operator's "now".

use trustloop_schemas::{
    ActionKind, ActionState, EnforcementAction, Envelope, Event, EventTime, EventType, Outcome, SubjectKind, Verdict,
    derive_event_id,
};

use super::Decision;
use crate::input::Frontier;

/// The `source` of everything the decision operator emits.
pub const SOURCE: &str = "trustloop.decision";

fn envelope(cause: &Envelope, id: trustloop_schemas::EventId, key: &str, now: EventTime, ty: EventType) -> Envelope {
    Envelope {
        event_id: id,
        tenant: cause.tenant.clone(),
        key: key.into(),
        event_time: now,
        source: SOURCE.into(),
        schema_version: ty.schema_version(),
    }
}

/// A verdict about `subject`, caused by `cause`.
pub fn verdict(
    cause: &Envelope,
    now: EventTime,
    subject: &str,
    kind: SubjectKind,
    previous: Option<Outcome>,
    d: Decision,
    frontier: &Frontier,
) -> Event {
    let tag: &[u8] = match kind {
        SubjectKind::Release => b"release",
        SubjectKind::Entity => b"entity",
    };
    let id =
        derive_event_id("verdict", &[cause.event_id.0.as_bytes(), cause.tenant.as_bytes(), tag, subject.as_bytes()]);
    Event::Verdict(Verdict {
        envelope: envelope(cause, id, subject, now, EventType::Verdict),
        subject: subject.to_string(),
        subject_kind: kind,
        outcome: d.outcome,
        previous,
        reasons: d.reasons,
        policy_digest: d.policy_digest,
        input_frontier: frontier.entries(),
        evidence_digest: d.evidence_digest,
    })
}

/// What an action is about, beyond its id.
pub struct ActionSpec<'a> {
    /// The subject it acts on.
    pub subject: &'a str,
    /// Its idempotency key.
    pub action_id: &'a str,
    /// What it does.
    pub kind: ActionKind,
    /// `entity:<name>` or `release:<NAME@VERSION>`.
    pub target: String,
    /// Whether it undoes the action of the same id.
    pub revert: bool,
    /// The event that caused this step.
    pub cause_event_id: String,
    /// Why.
    pub reason: String,
    /// The remediation workflow that carries it out, if any.
    pub workflow: Option<String>,
}

/// A requested enforcement action (not sandboxed — the enforcement operator decides —, attempt 0,
/// no deadline).
pub fn action(cause: &Envelope, now: EventTime, spec: ActionSpec<'_>) -> Event {
    let dir: &[u8] = if spec.revert { b"revert" } else { b"apply" };
    let id = derive_event_id("action", &[cause.event_id.0.as_bytes(), spec.action_id.as_bytes(), dir]);
    Event::EnforcementAction(EnforcementAction {
        // Keyed by tenant: a tenant's actions (and their results) share one partition, so their order
        // is kept and one enforcement instance owns the tenant's budgets.
        envelope: envelope(cause, id, &cause.tenant, now, EventType::EnforcementAction),
        action_id: spec.action_id.to_string(),
        subject: spec.subject.to_string(),
        kind: spec.kind,
        state: ActionState::Requested,
        target: spec.target,
        sandbox: false,
        attempt: 0,
        cause_event_id: spec.cause_event_id,
        reason: spec.reason,
        deadline: None,
        revert: spec.revert,
        workflow: spec.workflow,
        step: None,
    })
}
