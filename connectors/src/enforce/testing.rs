//! Test helpers: actions to execute.

use trustloop_schemas::{ActionKind, ActionState, EnforcementAction, Envelope, EventTime, EventType, derive_event_id};

/// A dispatched action of tenant `acme` on host `10.0.0.7`.
pub(crate) fn action(action_id: &str, kind: ActionKind, revert: bool) -> EnforcementAction {
    EnforcementAction {
        envelope: Envelope {
            event_id: derive_event_id("test-action", &[action_id.as_bytes(), &[u8::from(revert)]]),
            tenant: "acme".into(),
            key: "10.0.0.7".into(),
            event_time: EventTime::from_micros(1_793_534_400_000_000),
            source: "trustloop.enforcement".into(),
            schema_version: EventType::EnforcementAction.schema_version(),
        },
        action_id: action_id.into(),
        subject: "10.0.0.7".into(),
        kind,
        state: ActionState::Dispatched,
        target: "edge-firewall".into(),
        sandbox: false,
        attempt: 1,
        cause_event_id: "00000000-0000-8000-8000-000000000000".into(),
        reason: "trust score 0.12 below 0.2".into(),
        deadline: None,
        revert,
        workflow: None,
        step: None,
    }
}

/// The states of `results`, in order.
pub(crate) fn states(results: &[trustloop_schemas::EnforcementResult]) -> Vec<ActionState> {
    results.iter().map(|r| r.state).collect()
}
