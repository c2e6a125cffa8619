//! Audits one derived event: a verdict replayed through the decision operator (from the newest
//! snapshot before its cause, if there is one), or an enforcement action through its operator —
//! what `trustloop replay verdict` and the gateway's `GET /v1/replay/{event_id}` both answer.

use std::path::Path;

use trustloop_operators::decision::DecisionState;
use trustloop_operators::operator::Operator as _;
use trustloop_replay::event::replay_event;
use trustloop_replay::verdict::{Start, VerdictReplay, replay_verdict};
use trustloop_replay::{History, ReplayError};
use trustloop_schemas::EventId;

use crate::backend::Backend;
use crate::error::{Context, Result};
use crate::snapshot::SnapshotStore;

/// The replay of a verdict, or of an enforcement action.
pub enum Replayed {
    /// A verdict's audit report.
    Verdict(Box<VerdictReplay>),
    /// An action's: its operator replayed over its committed input.
    Action(Box<trustloop_replay::event::EventReplay>),
}

impl Replayed {
    /// Whether the recomputed event is the recorded one.
    pub fn matched(&self) -> bool {
        match self {
            Replayed::Verdict(r) => r.matched,
            Replayed::Action(r) => r.matched,
        }
    }

    /// The recorded event, as JSON.
    pub fn recorded(&self) -> &serde_json::Value {
        match self {
            Replayed::Verdict(r) => &r.recorded,
            Replayed::Action(r) => &r.recorded,
        }
    }

    /// The report as JSON (what `--json` prints).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Replayed::Verdict(r) => serde_json::to_value(r),
            Replayed::Action(r) => serde_json::to_value(r),
        }
        .unwrap_or(serde_json::Value::Null)
    }
}

/// Replays the verdict or enforcement action `id` (from the newest usable snapshot in
/// `state_dir`, if given); `None` if the log has neither with that id.
pub async fn replay_any(backend: &Backend, id: &EventId, state_dir: Option<&Path>) -> Result<Option<Replayed>> {
    let history = History { log: &backend.log, codec: &backend.codec, writers: &*backend.registry };
    // From the newest snapshot whose positions are all at or before the verdict's frontier.
    let snapshots = match state_dir {
        Some(dir) => snapshots_of(dir),
        None => Vec::new(),
    };
    // Chosen once the verdict is found: the newest snapshot before its cause — at or before its
    // frontier everywhere, and before it somewhere (a snapshot taken at a pass's end holds a prefix
    // of the merge order: if it held the cause, it would hold all the frontier).
    let report = replay_verdict(history, id, |verdict| {
        let frontier = |t: &str, p: u32| {
            verdict
                .input_frontier
                .iter()
                .find(|e| e.topic == t && u32::try_from(e.partition).ok() == Some(p))
                .map_or(0, |e| e.offset)
        };
        let total: i64 = verdict.input_frontier.iter().map(|e| e.offset).sum();
        snapshots.into_iter().find(|s| {
            let at_or_before = s.positions.iter().all(|(t, p, o)| *o <= frontier(t, *p));
            let applied: i64 = s.positions.iter().map(|(_, _, o)| o).sum();
            at_or_before && applied < total
        })
    })
    .await;
    match report {
        Ok(r) => return Ok(Some(Replayed::Verdict(Box::new(r)))),
        // Not a verdict: an enforcement action, perhaps (no frontier: replayed through its operator).
        Err(ReplayError::NotFound { .. }) => {}
        Err(e) => return Err(e).context("replaying the verdict"),
    }
    let topic = trustloop_schemas::EventType::EnforcementAction.topic();
    match replay_event(history, topic, id, crate::graph::operators()).await {
        Ok(r) => Ok(Some(Replayed::Action(Box::new(r)))),
        Err(ReplayError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e).context("replaying the action"),
    }
}

/// The decision operator's snapshots in `dir` (every group it has: one stage or one per task),
/// newest first, restored.
fn snapshots_of(dir: &Path) -> Vec<Start> {
    let store = SnapshotStore::new(dir);
    let name = DecisionState::new().name();
    let mut groups = vec![format!("trustloop.{name}")];
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let g = e.file_name().to_string_lossy().into_owned();
            if g.starts_with(&format!("trustloop.{name}.task-")) {
                groups.push(g);
            }
        }
    }
    let mut out = Vec::new();
    for g in groups {
        for s in store.newest_first(&g).unwrap_or_default() {
            let mut state = DecisionState::new();
            if s.header.operator == name && state.restore(&s.snapshot).is_ok() {
                out.push(Start { state, positions: s.header.positions });
            }
        }
    }
    out
}
