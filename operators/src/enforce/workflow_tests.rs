//! Remediation workflows in the enforcement lifecycle (see `workflow.rs`).

use trustloop_schemas::StepRole;

use super::*;

/// Two steps: `drop` (checked, rolled back) and `log` (checked, rolled back); two tries per call.
const WF: &str = r#"api_version: trustloop/v1
name: wf
enforcement:
  retry: {max_attempts: 2, backoff: 10s}
  budgets: []
  workflows:
    firewall-drop:
      steps:
        - name: drop
          adapter: netns
          params: {op: drop, addr: "{{subject}}", ns: "{{target}}"}
          check: {params: {op: probe, addr: "{{subject}}"}}
          rollback: {params: {op: undo, addr: "{{subject}}", phase: "{{phase}}"}}
        - name: log
          adapter: audit
          params: {msg: "{{kind}} {{subject}} in {{phase}}"}
          check: {adapter: audit-check}
          rollback: {params: {msg: undo}}
"#;

/// (role, step index, sandbox) of a dispatched workflow call.
fn call(a: &EnforcementAction) -> (StepRole, i32, bool) {
    let s = a.step.as_ref().expect("a workflow step");
    (s.role, s.index, a.sandbox)
}

impl Harness {
    fn request_workflow(&mut self, id: &str, workflow: &str, at: i64) -> Vec<EnforcementAction> {
        let mut e = self.request_event(id, ActionKind::Isolate, "h1", false, at);
        if let Event::EnforcementAction(a) = &mut e {
            a.workflow = Some(workflow.into());
        }
        self.feed(e)
    }

    /// Answers the dispatched call `d` as a command adapter does (acknowledged, then applied): returns
    /// the transitions of the applied result.
    fn succeed(&mut self, d: &EnforcementAction) -> Vec<EnforcementAction> {
        let ack = one(self.answer(d, Acknowledged));
        assert_eq!((ack.state, ack.attempt), (Acknowledged, d.attempt));
        self.answer(d, Applied)
    }

    /// Fails the dispatched call `d` on every try (ticking past each back-off); returns what its last
    /// failure caused.
    fn fail_all_tries(&mut self, d: &EnforcementAction) -> Vec<EnforcementAction> {
        let mut d = d.clone();
        loop {
            let at = d.envelope.event_time.as_micros();
            let out = self.failure(&d.action_id, d.attempt, "probe connected", at);
            let f = &out[0];
            assert_eq!(f.state, Failed);
            if f.reason.contains("gave up") {
                return out;
            }
            let retried = one(self.tick(at + H));
            assert_eq!(call(&retried), call(&d), "a retry is the same call: {}", retried.reason);
            assert_eq!(retried.attempt, d.attempt + 1);
            d = retried;
        }
    }
}

/// The last event of `out`: the next call dispatched.
fn next(out: &[EnforcementAction]) -> EnforcementAction {
    let d = out.last().expect("an event").clone();
    assert_eq!(d.state, Dispatched, "{out:#?}");
    d
}

#[test]
fn a_workflow_runs_every_step_and_check_in_the_sandbox_then_on_the_target() {
    let mut h = Harness::with(WF);
    let d = one(h.request_workflow("w1", "firewall-drop", T0));
    assert_eq!(d.workflow.as_deref(), Some("firewall-drop"));
    assert_eq!(
        d.reason,
        "within budgets: workflow `firewall-drop` (2 steps), sandbox first: apply of step 1 `drop` in the sandbox"
    );
    let s = d.step.clone().expect("step");
    assert_eq!((s.name.as_str(), s.adapter.as_str()), ("drop", "netns"));
    assert_eq!(s.params.get("ns").map(String::as_str), Some("sandbox:entity:h1"));
    assert_eq!(s.params.get("addr").map(String::as_str), Some("h1"));
    let mut calls = vec![call(&d)];
    let mut d = d;
    let last = loop {
        let out = h.succeed(&d);
        match out.last() {
            Some(a) if a.state == Dispatched => {
                d = a.clone();
                calls.push(call(&d));
            }
            _ => break out,
        }
    };
    use StepRole::{Apply, Check};
    assert_eq!(
        calls,
        [
            (Apply, 0, true),
            (Check, 0, true),
            (Apply, 1, true),
            (Check, 1, true),
            (Apply, 0, false),
            (Check, 0, false),
            (Apply, 1, false),
            (Check, 1, false)
        ]
    );
    let done = one(last);
    assert_eq!((done.state, done.sandbox, done.target.as_str()), (Verified, false, "entity:h1"));
    assert!(done.reason.ends_with("workflow `firewall-drop` verified on entity:h1"), "{}", done.reason);
    assert_eq!(h.state.action("acme", "w1").map(|a| a.phase), Some(Phase::Active));
    let check = done.step.expect("the last call");
    assert_eq!((check.role, check.adapter.as_str()), (Check, "audit-check"));
}

#[test]
fn a_check_failing_in_the_sandbox_rolls_back_and_never_touches_the_target() {
    let mut h = Harness::with(WF);
    let apply = one(h.request_workflow("w1", "firewall-drop", T0));
    let check = next(&h.succeed(&apply));
    assert_eq!(call(&check), (StepRole::Check, 0, true));
    let out = h.fail_all_tries(&check);
    assert_eq!(out.len(), 2, "{out:#?}");
    assert!(
        out[0].reason.contains("check of step 1 `drop` in the sandbox: failure: probe connected; gave up after 2/2")
    );
    assert!(out[0].reason.ends_with("rolling back the sandbox phase"), "{}", out[0].reason);
    let rb = next(&out);
    assert_eq!(call(&rb), (StepRole::Rollback, 0, true));
    let params = &rb.step.as_ref().expect("step").params;
    assert_eq!(params.get("op").map(String::as_str), Some("undo"));
    assert_eq!(params.get("phase").map(String::as_str), Some("sandbox"));
    let end = h.succeed(&rb);
    assert_eq!(end.iter().map(|a| a.state).collect::<Vec<_>>(), [Applied, Failed]);
    assert!(end[1].reason.ends_with("failed and was rolled back; the target was never touched"), "{}", end[1].reason);
    assert_eq!(h.state.action("acme", "w1").map(|a| a.phase), Some(Phase::Failed));
    assert!(h.tick(T0 + 48 * H).is_empty(), "nothing more, ever");
    assert_eq!(h.state.next_deadline(), None);
}

/// Runs the whole sandbox phase of `w1` and the target's first step; returns the target's `log` apply.
fn to_the_target_log_step(h: &mut Harness) -> EnforcementAction {
    let mut d = one(h.request_workflow("w1", "firewall-drop", T0));
    while call(&d) != (StepRole::Apply, 1, false) {
        d = next(&h.succeed(&d));
    }
    d
}

#[test]
fn a_failure_on_the_target_rolls_back_in_reverse_order() {
    let mut h = Harness::with(WF);
    let apply = to_the_target_log_step(&mut h);
    let check = next(&h.succeed(&apply));
    assert_eq!(call(&check), (StepRole::Check, 1, false));
    let out = h.fail_all_tries(&check);
    let rb1 = next(&out);
    assert_eq!(call(&rb1), (StepRole::Rollback, 1, false), "the failing step first");
    let out = h.succeed(&rb1);
    let rb0 = next(&out);
    assert_eq!(call(&rb0), (StepRole::Rollback, 0, false), "then the one before");
    assert_eq!(rb0.target, "entity:h1");
    let end = h.succeed(&rb0);
    assert_eq!(end.iter().map(|a| a.state).collect::<Vec<_>>(), [Applied, Failed]);
    assert!(!end[1].reason.contains("never touched"), "{}", end[1].reason);
}

#[test]
fn an_apply_failure_rolls_back_only_the_steps_before_it_and_a_failed_rollback_goes_on() {
    let mut h = Harness::with(WF);
    let apply = to_the_target_log_step(&mut h);
    let out = h.fail_all_tries(&apply);
    let rb0 = next(&out);
    assert_eq!(call(&rb0), (StepRole::Rollback, 0, false), "the step whose apply failed is not rolled back");
    let out = h.fail_all_tries(&rb0);
    let end = one(out);
    assert_eq!(end.state, Failed);
    assert!(end.reason.contains("rollback failures: rollback of step 1 `drop` on the target"), "{}", end.reason);
}

#[test]
fn a_revert_rolls_a_verified_workflow_back_and_ends_reverted() {
    let mut h = Harness::with(WF);
    let mut d = one(h.request_workflow("w1", "firewall-drop", T0));
    loop {
        let out = h.succeed(&d);
        match out.last() {
            Some(a) if a.state == Dispatched => d = a.clone(),
            _ => break,
        }
    }
    let rb1 = one(h.revert("w1", T0 + H));
    assert_eq!(call(&rb1), (StepRole::Rollback, 1, false));
    assert!(rb1.reason.starts_with("revert requested: score recovered: rolling back"), "{}", rb1.reason);
    let rb0 = next(&h.succeed(&rb1));
    assert_eq!(call(&rb0), (StepRole::Rollback, 0, false));
    let end = h.succeed(&rb0);
    assert_eq!(end.iter().map(|a| a.state).collect::<Vec<_>>(), [Applied, Reverted]);
    assert_eq!(h.state.action("acme", "w1").map(|a| a.phase), Some(Phase::Reverted));
}

#[test]
fn an_unknown_workflow_fails_at_once() {
    let mut h = Harness::with(PLAIN);
    let f = one(h.request_workflow("w1", "nope", T0));
    assert_eq!((f.state, f.attempt, f.step.is_none()), (Failed, 0, true));
    assert_eq!(f.reason, "within budgets: no workflow `nope` in the policy in force: failed, never dispatched");
}

/// The same inputs give the same outputs, also across a snapshot taken in the middle of a workflow.
#[test]
fn a_workflow_is_deterministic_across_a_snapshot() {
    let run = |snapshot_at: Option<usize>| {
        let mut h = Harness::with(WF);
        let mut out = Vec::new();
        let mut d = one(h.request_workflow("w1", "firewall-drop", T0));
        out.push(d.clone());
        for i in 0.. {
            if snapshot_at == Some(i) {
                h.state = restore(&h.state);
            }
            // The third call's check fails once, to take a retry through the snapshot.
            let step = if i == 2 {
                let f = h.failure(&d.action_id, d.attempt, "flaky", d.envelope.event_time.as_micros());
                out.extend(f);
                let r = one(h.tick(d.envelope.event_time.as_micros() + H));
                out.push(r.clone());
                d = r;
                h.succeed(&d)
            } else {
                h.succeed(&d)
            };
            out.extend(step.clone());
            match step.last() {
                Some(a) if a.state == Dispatched => d = a.clone(),
                _ => break,
            }
        }
        out
    };
    let straight = run(None);
    assert_eq!(straight.last().map(|a| a.state), Some(Verified));
    for at in [1, 2, 3, 5] {
        assert_eq!(run(Some(at)), straight, "snapshot before call {at}");
    }
}
