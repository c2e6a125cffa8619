//! Remediation workflows in the enforcement lifecycle: an action whose request names a `workflow`
//! runs that template of the policy's `enforcement.workflows` (see [`crate::policy::workflow`]) as a
//! sequence of adapter calls, **sandbox first**:
//!
//! 1. Sandbox phase (`sandbox: true`, target `sandbox:<target>`): each step's `apply` call, then its
//!    `check` call (if it has one), in step order.
//! 2. Target phase (the real target): the same, once every sandbox check passed.
//! 3. The last target check passing makes the action `verified` (and `Active`: TTLs apply).
//!
//! Each call is one dispatch (a new `attempt`) with its [`WorkflowStep`] (index, name, role
//! `apply`/`check`/`rollback`, adapter, parameters rendered from the action's inputs); it is done
//! when its adapter reports `applied` (or `verified`/`reverted`) with success, and fails, times out and
//! is retried as any step (`enforcement.retry`, `enforcement.timeouts`: acknowledge, then apply).
//!
//! **Failure.** A call that fails on its last try rolls back the steps of the *current phase* it
//! touched, in reverse order: the steps before it, and the failing step itself when its check (not
//! its apply) failed. Steps without a `rollback` call are skipped. The action then ends `failed`.
//! A failure in the sandbox phase therefore never dispatches anything on the target. A rollback call
//! that fails on its last try is noted and the rollback goes on with the next step.
//!
//! **Revert** (asked for, or at the TTL): the steps the action applied in its current phase (all of
//! them once it is verified) are rolled back the same way; the action ends `reverted`. A revert of a
//! workflow that already failed (and was rolled back) ends `reverted` at once.
//!
//! **Unknown workflow.** A request naming a workflow the policy in force (when the action starts)
//! does not define ends `failed` at once, never dispatched.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trustloop_schemas::{ActionState, EnforcementResult, StepRole, WorkflowStep};

use super::Step;
use super::action::{ActionRecord, Phase, kind_name};
use crate::policy::workflow::render;
use crate::policy::{StepCall, WorkflowStepSpec};

/// A workflow an action runs: its plan (fixed when the action starts) and where it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowRun {
    /// The template's name.
    pub name: String,
    /// The request's reason (an input of the parameters).
    pub reason: String,
    /// The steps, copied from the policy in force when the action started (empty before).
    pub steps: Vec<WorkflowStepSpec>,
    /// The call in flight or last finished: step index and role; `None` before the start and after
    /// the end.
    pub call: Option<(usize, StepRole)>,
    /// While rolling back: what is left to undo and why.
    pub rollback: Option<Rollback>,
}

/// A rollback under way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollback {
    /// Steps still to roll back, the next one last.
    pub pending: Vec<usize>,
    /// Why the workflow is rolled back (the failure, or the revert request).
    pub why: String,
    /// A revert (ends `reverted`), not a failure (ends `failed`).
    pub revert: bool,
    /// Rollback calls that failed on their last try.
    pub failures: Vec<String>,
}

impl WorkflowRun {
    /// A run of the workflow `name`, not started.
    pub fn new(name: &str, reason: &str) -> Self {
        WorkflowRun {
            name: name.to_string(),
            reason: reason.to_string(),
            steps: Vec::new(),
            call: None,
            rollback: None,
        }
    }

    /// The spec of the current call: the step, and the call (apply: the step's own).
    fn current(&self) -> Option<(usize, StepRole, &WorkflowStepSpec)> {
        let (i, role) = self.call?;
        Some((i, role, self.steps.get(i)?))
    }

    /// The current call as dispatched, its parameters rendered for the action `a` of `tenant`.
    pub fn step_event(&self, a: &ActionRecord, tenant: &str) -> Option<WorkflowStep> {
        let (i, role, spec) = self.current()?;
        let (adapter, params) = match role {
            StepRole::Apply => (spec.adapter.clone(), &spec.params),
            StepRole::Check => call_of(spec, spec.check.as_ref()),
            StepRole::Rollback => call_of(spec, spec.rollback.as_ref()),
        };
        let inputs = BTreeMap::from([
            ("subject", a.subject.clone()),
            ("kind", kind_name(a.kind).to_string()),
            ("target", a.step_target()),
            ("real_target", a.target.clone()),
            ("phase", phase_name(a.sandbox).to_string()),
            ("action_id", a.action_id.clone()),
            ("tenant", tenant.to_string()),
            ("reason", self.reason.clone()),
        ]);
        Some(WorkflowStep {
            index: i32::try_from(i).unwrap_or(i32::MAX),
            name: spec.name.clone(),
            role,
            adapter,
            params: params.iter().map(|(k, v)| (k.clone(), render(v, &inputs))).collect(),
        })
    }

    /// A short name of the current call for reasons: ``check of step 2 `probe` in the sandbox``.
    pub fn describe(&self, sandbox: bool) -> String {
        match self.current() {
            Some((i, role, spec)) => {
                format!("{} of step {} `{}` {}", role_name(role), i + 1, spec.name, phase_where(sandbox))
            }
            None => format!("workflow `{}`", self.name),
        }
    }

    /// The call after the current one succeeded, within the phase: the step's check, else the next
    /// step's apply; `None` when the phase is complete. While rolling back: the next rollback.
    pub fn next_call(&mut self) -> Option<(usize, StepRole)> {
        if let Some(rb) = &mut self.rollback {
            return rb.pending.pop().map(|i| (i, StepRole::Rollback));
        }
        let (i, role) = self.call?;
        if role == StepRole::Apply && self.steps.get(i).is_some_and(|s| s.check.is_some()) {
            return Some((i, StepRole::Check));
        }
        (i + 1 < self.steps.len()).then_some((i + 1, StepRole::Apply))
    }

    /// How many steps (from the first) the current phase touched: those before the current call's
    /// step, and that step too once its apply finished (its check is the call) or when `in_flight`
    /// counts (a revert while its apply may be half done).
    pub fn touched(&self, in_flight: bool) -> usize {
        match self.call {
            Some((i, StepRole::Apply)) if !in_flight => i,
            Some((i, _)) => i + 1,
            None => 0,
        }
    }

    /// Starts rolling back the first `touched` steps in reverse order (those with a rollback call);
    /// returns the first rollback call, if there is one.
    pub fn start_rollback(&mut self, why: String, revert: bool, touched: usize) -> Option<(usize, StepRole)> {
        let pending: Vec<usize> =
            (0..touched.min(self.steps.len())).filter(|i| self.steps[*i].rollback.is_some()).collect();
        self.rollback = Some(Rollback { pending, why, revert, failures: Vec::new() });
        self.next_call()
    }
}

fn call_of<'a>(spec: &'a WorkflowStepSpec, call: Option<&'a StepCall>) -> (String, &'a BTreeMap<String, String>) {
    static NONE: BTreeMap<String, String> = BTreeMap::new();
    match call {
        Some(c) => (c.adapter.clone().unwrap_or_else(|| spec.adapter.clone()), &c.params),
        None => (spec.adapter.clone(), &NONE),
    }
}

/// `sandbox` or `target`.
pub fn phase_name(sandbox: bool) -> &'static str {
    if sandbox { "sandbox" } else { "target" }
}

fn phase_where(sandbox: bool) -> &'static str {
    if sandbox { "in the sandbox" } else { "on the target" }
}

/// The schema's name of a role.
pub fn role_name(r: StepRole) -> &'static str {
    match r {
        StepRole::Apply => "apply",
        StepRole::Check => "check",
        StepRole::Rollback => "rollback",
    }
}

impl Step<'_> {
    /// Starts a workflow action: the plan from the policy in force, the first call in the sandbox;
    /// a workflow the policy does not define fails the action at once.
    pub(super) fn start_workflow(&mut self, a: &mut ActionRecord, how: &str) {
        let Some(run) = a.workflow.as_mut() else { return };
        let Some(template) = self.policy.workflows.get(&run.name) else {
            let why = format!("{how}: no workflow `{}` in the policy in force: failed, never dispatched", run.name);
            a.state = ActionState::Failed;
            a.phase = Phase::Failed;
            self.set_deadline(a, None);
            self.emit(a, why);
            return;
        };
        run.steps = template.steps.clone();
        run.call = Some((0, StepRole::Apply));
        run.rollback = None;
        let steps = run.steps.len();
        a.sandbox = true;
        a.revert = false;
        a.tries = 1;
        a.last_failure = None;
        let what = a.workflow.as_ref().map(|w| w.describe(true)).unwrap_or_default();
        let name = a.workflow.as_ref().map(|w| w.name.clone()).unwrap_or_default();
        self.dispatch(a, format!("{how}: workflow `{name}` ({steps} steps), sandbox first: {what}"));
    }

    /// A successful result for the workflow call in flight: progress, or the call is done.
    pub(super) fn workflow_result(&mut self, a: &mut ActionRecord, r: &EnforcementResult, msg: &str) {
        let rank = |s: ActionState| match s {
            ActionState::Dispatched => Some(0),
            ActionState::Acknowledged => Some(1),
            ActionState::Applied | ActionState::Verified | ActionState::Reverted => Some(2),
            _ => None,
        };
        let (Some(reached), Some(current)) = (rank(r.state), rank(a.state)) else { return };
        if reached <= current {
            return;
        }
        let what = a.workflow.as_ref().map(|w| w.describe(a.sandbox)).unwrap_or_default();
        if reached == 1 {
            a.state = ActionState::Acknowledged;
            self.set_deadline(a, Some(self.policy.timeouts.apply));
            self.emit(a, format!("{what}: acknowledged by {}: {msg}", r.adapter));
            return;
        }
        self.workflow_call_done(a, &format!("{what}: done by {}: {msg}", r.adapter));
    }

    /// The current call succeeded: the next call of the phase, the next phase, or the end.
    fn workflow_call_done(&mut self, a: &mut ActionRecord, done: &str) {
        let Some(run) = a.workflow.as_mut() else { return };
        let role = run.call.map_or(StepRole::Apply, |c| c.1);
        let rolling_back = run.rollback.is_some();
        let next = run.next_call();
        a.state = if role == StepRole::Check { ActionState::Verified } else { ActionState::Applied };
        let name = run.name.clone();
        match next {
            Some(call) => {
                self.set_deadline(a, None);
                self.emit(a, done.to_string());
                self.next_workflow_call(a, call, "next");
            }
            None if rolling_back => {
                self.set_deadline(a, None);
                self.emit(a, done.to_string());
                self.finish_rollback(a);
            }
            None if a.sandbox => {
                self.set_deadline(a, None);
                self.emit(a, format!("{done}; every sandbox step and check passed"));
                a.sandbox = false;
                let why = format!("workflow `{name}` verified in the sandbox: on to {}", a.target);
                self.next_workflow_call(a, (0, StepRole::Apply), &why);
            }
            None => {
                a.state = ActionState::Verified;
                a.phase = Phase::Active;
                a.ttl = super::budget::policy_action(a.kind).and_then(|k| self.policy.ttl.get(&k).copied());
                let ttl = a.ttl;
                self.set_deadline(a, ttl);
                let mut reason = format!("{done}; workflow `{name}` verified on {}", a.target);
                if let Some(ttl) = ttl {
                    reason.push_str(&format!("; automatic revert in {ttl}"));
                }
                self.emit(a, reason);
            }
        }
    }

    /// Dispatches `call` as a new step of the workflow (first try).
    fn next_workflow_call(&mut self, a: &mut ActionRecord, call: (usize, StepRole), why: &str) {
        let Some(run) = a.workflow.as_mut() else { return };
        run.call = Some(call);
        let what = run.describe(a.sandbox);
        a.tries = 1;
        a.last_failure = None;
        self.dispatch(a, format!("{why}: {what}"));
    }

    /// The workflow call failed on its last try (`failure` says how): roll back, or go on rolling back.
    pub(super) fn workflow_gave_up(&mut self, a: &mut ActionRecord, failure: String) {
        let Some(run) = a.workflow.as_mut() else { return };
        let what = run.describe(a.sandbox);
        if let Some(rb) = &mut run.rollback {
            rb.failures.push(format!("{what}: {failure}"));
            match run.next_call() {
                Some(call) => self.next_workflow_call(a, call, &format!("{what} {failure}; rolling back on")),
                None => self.finish_rollback(a),
            }
            return;
        }
        let why = format!("{what}: {failure}");
        let touched = run.touched(false);
        let phase = phase_name(a.sandbox);
        match run.start_rollback(why.clone(), false, touched) {
            Some(call) => {
                self.set_deadline(a, None);
                self.emit(a, format!("{why}; rolling back the {phase} phase"));
                self.next_workflow_call(a, call, "rolling back");
            }
            None => self.finish_rollback(a),
        }
    }

    /// A revert of a workflow action: roll back what its current phase applied (everything, once
    /// verified).
    pub(super) fn revert_workflow(&mut self, a: &mut ActionRecord, reason: String) {
        let Some(run) = a.workflow.as_mut() else { return };
        let touched = match a.phase {
            Phase::Active => run.steps.len(),
            Phase::InFlight | Phase::RetryWait => run.touched(true),
            _ => 0,
        };
        match run.start_rollback(reason.clone(), true, touched) {
            Some(call) => self.next_workflow_call(a, call, &format!("{reason}: rolling back")),
            None => self.finish_rollback(a),
        }
    }

    /// The rollback is over (or had nothing to do): the action ends `failed`, or `reverted` for a
    /// revert.
    fn finish_rollback(&mut self, a: &mut ActionRecord) {
        let Some(run) = a.workflow.as_mut() else { return };
        let rb = run.rollback.take();
        let (why, revert, failures) = match rb {
            Some(rb) => (rb.why, rb.revert, rb.failures),
            None => (String::from("rolled back"), false, Vec::new()),
        };
        let name = run.name.clone();
        let mut reason = if revert {
            format!("{why}: workflow `{name}` rolled back")
        } else {
            format!("{why}: workflow `{name}` failed and was rolled back")
        };
        if !revert && a.sandbox {
            reason.push_str("; the target was never touched");
        }
        if !failures.is_empty() {
            reason.push_str(&format!("; rollback failures: {}", failures.join("; ")));
        }
        run.call = None;
        a.state = if revert { ActionState::Reverted } else { ActionState::Failed };
        a.phase = if revert { Phase::Reverted } else { Phase::Failed };
        self.set_deadline(a, None);
        self.emit(a, reason);
    }
}
