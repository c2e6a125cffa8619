//! The operator graph of a trustloop run, in the order a pass feeds it:
//!
//! ```text
//! advisories, inventory, vex, policies ─► impact ─► findings
//! telemetry, findings, policies ───────► trust ──► trust-scores
//! findings, approvals, promotions, policies, trust-scores ─► decision ─► verdicts, actions
//! actions, action-results, verdicts, policies ─► enforce ─► actions (lifecycle)
//! actions (dispatched) ─► adapters ─► action-results
//! ```

use anyhow::Result;
use trustloop_operators::decision::DecisionState;
use trustloop_operators::enforce::EnforcementState;
use trustloop_operators::findings::FindingsState;
use trustloop_operators::operator::Operator;
use trustloop_operators::trust::TrustState;

use super::Stage;
use crate::backend::Backend;

/// Fresh instances of every operator, upstream first.
pub fn operators() -> Vec<Box<dyn Operator>> {
    vec![
        Box::new(FindingsState::default()),
        Box::new(TrustState::new()),
        Box::new(DecisionState::new()),
        Box::new(EnforcementState::new()),
    ]
}

/// The stages of a run over `backend`, each restored to its consumer group's position.
pub async fn stages(backend: &Backend) -> Result<Vec<Stage>> {
    let mut out = Vec::new();
    for op in operators() {
        out.push(Stage::new(backend, op).await?);
    }
    Ok(out)
}
