use std::collections::BTreeMap;

use proptest::prelude::*;
use trustloop_schemas::{ActionKind, Envelope, EventCodec, EventId, Outcome, Verdict};

use super::*;

#[path = "workflow_tests.rs"]
mod workflow_tests;

const T0: i64 = 1_793_534_400_000_000; // 2026-11-01T12:00:00Z
const S: i64 = 1_000_000;
const MIN: i64 = 60 * S;
const H: i64 = 60 * MIN;

/// No sandbox, no budgets: the plain lifecycle.
const PLAIN: &str = "api_version: trustloop/v1\nname: plain\nenforcement:\n  sandbox_first: false\n  budgets: []\n";

/// Feeds events with log positions (one partition per topic, offsets counting up).
struct Harness {
    state: EnforcementState,
    n: u64,
    offsets: BTreeMap<&'static str, i64>,
    policy_version: i64,
}

fn envelope(tenant: &str, key: &str, n: u64, at: i64) -> Envelope {
    Envelope {
        event_id: EventId(uuid::Uuid::from_u128(u128::from(n) + 1)),
        tenant: tenant.into(),
        key: key.into(),
        event_time: EventTime::from_micros(at),
        source: "test".into(),
        schema_version: 1,
    }
}

fn actions(out: Vec<Event>) -> Vec<EnforcementAction> {
    out.into_iter()
        .map(|e| match e {
            Event::EnforcementAction(a) => a,
            other => panic!("not an action: {other:?}"),
        })
        .collect()
}

/// (state, attempt, sandbox, revert) of each transition.
fn steps(out: &[EnforcementAction]) -> Vec<(ActionState, i32, bool, bool)> {
    out.iter().map(|a| (a.state, a.attempt, a.sandbox, a.revert)).collect()
}

fn one(out: Vec<EnforcementAction>) -> EnforcementAction {
    assert_eq!(out.len(), 1, "{out:#?}");
    out.into_iter().next().expect("one")
}

use ActionState::{Acknowledged, Applied, Dispatched, Failed, Held, Reverted, Verified};

impl Harness {
    fn new() -> Self {
        Harness { state: EnforcementState::new(), n: 0, offsets: BTreeMap::new(), policy_version: 0 }
    }

    /// With the `PLAIN` policy (or `yaml`) applied at T0 - 1h.
    fn with(yaml: &str) -> Self {
        let mut h = Harness::new();
        assert!(h.policy(yaml, T0 - H).is_empty());
        let name = crate::policy::parse(yaml).expect("test policy").name;
        assert_eq!(h.state.tenant("acme").and_then(|t| t.policy.as_ref()).map(|p| p.name.clone()), Some(name));
        h
    }

    fn next_n(&mut self) -> u64 {
        self.n += 1;
        self.n
    }

    fn feed_event(&mut self, e: Event) -> Vec<Event> {
        let topic = e.event_type().topic();
        let offset = self.offsets.entry(topic).or_insert(0);
        let out = self.state.apply(&Input::new(topic, 0, *offset, &e));
        *offset += 1;
        out
    }

    fn feed(&mut self, e: Event) -> Vec<EnforcementAction> {
        actions(self.feed_event(e))
    }

    fn request_event(&mut self, id: &str, kind: ActionKind, subject: &str, revert: bool, at: i64) -> Event {
        let n = self.next_n();
        Event::EnforcementAction(EnforcementAction {
            envelope: envelope("acme", subject, n, at),
            action_id: id.into(),
            subject: subject.into(),
            kind,
            state: ActionState::Requested,
            target: format!("entity:{subject}"),
            sandbox: false,
            attempt: 0,
            cause_event_id: "score".into(),
            reason: if revert { "score recovered".into() } else { "score fell".into() },
            deadline: None,
            revert,
            workflow: None,
            step: None,
        })
    }

    fn request(&mut self, id: &str, kind: ActionKind, subject: &str, at: i64) -> Vec<EnforcementAction> {
        let e = self.request_event(id, kind, subject, false, at);
        self.feed(e)
    }

    fn revert(&mut self, id: &str, at: i64) -> Vec<EnforcementAction> {
        let e = self.request_event(id, ActionKind::Quarantine, "h1", true, at);
        self.feed(e)
    }

    fn result_event(&mut self, id: &str, attempt: i32, state: ActionState, success: bool, msg: &str, at: i64) -> Event {
        let n = self.next_n();
        Event::EnforcementResult(EnforcementResult {
            envelope: envelope("acme", id, n, at),
            action_id: id.into(),
            adapter: "edr".into(),
            state,
            success,
            message: msg.into(),
            started_at: EventTime::from_micros(at),
            duration_micros: 1_000,
            attempt,
            execution: None,
        })
    }

    fn result(&mut self, id: &str, attempt: i32, state: ActionState, at: i64) -> Vec<EnforcementAction> {
        let e = self.result_event(id, attempt, state, true, "ok", at);
        self.feed(e)
    }

    fn failure(&mut self, id: &str, attempt: i32, msg: &str, at: i64) -> Vec<EnforcementAction> {
        let e = self.result_event(id, attempt, Failed, false, msg, at);
        self.feed(e)
    }

    /// Acknowledged, applied and verified (or reverted) for `attempt`, one second apart from `at`.
    fn complete(&mut self, id: &str, attempt: i32, revert: bool, at: i64) -> Vec<EnforcementAction> {
        let last = if revert { Reverted } else { Verified };
        let mut out = self.result(id, attempt, Acknowledged, at);
        out.extend(self.result(id, attempt, Applied, at + S));
        out.extend(self.result(id, attempt, last, at + 2 * S));
        out
    }

    fn verdict_event(&mut self, entity: &str, at: i64) -> Event {
        let n = self.next_n();
        Event::Verdict(Verdict {
            envelope: envelope("acme", entity, n, at),
            subject: entity.into(),
            subject_kind: SubjectKind::Entity,
            outcome: Outcome::Pass,
            previous: None,
            reasons: vec![],
            policy_digest: "d".into(),
            input_frontier: vec![],
            evidence_digest: "e".into(),
        })
    }

    fn verdict(&mut self, entity: &str, at: i64) -> Vec<EnforcementAction> {
        let e = self.verdict_event(entity, at);
        self.feed(e)
    }

    fn policy_event(&mut self, yaml: &str, at: i64) -> Event {
        self.policy_version += 1;
        let n = self.next_n();
        let (name, digest) = match crate::policy::parse(yaml) {
            Ok(doc) => (doc.name.clone(), doc.digest()),
            Err(_) => ("broken".to_string(), "0".repeat(64)),
        };
        Event::Policy(Policy {
            envelope: envelope("acme", &name, n, at),
            name,
            version: self.policy_version,
            digest,
            format: "yaml".into(),
            document: yaml.into(),
        })
    }

    fn policy(&mut self, yaml: &str, at: i64) -> Vec<EnforcementAction> {
        let e = self.policy_event(yaml, at);
        self.feed(e)
    }

    fn tick(&mut self, at: i64) -> Vec<EnforcementAction> {
        actions(self.state.advance_to(EventTime::from_micros(at)))
    }

    /// An adapter's result for the step `d` (a `dispatched` event) reaching `state`, as adapters
    /// send it: with the step's attempt and the step's event time (see the connectors' `build_result`).
    fn answer(&mut self, d: &EnforcementAction, state: ActionState) -> Vec<EnforcementAction> {
        assert_eq!(d.state, Dispatched, "{d:#?}");
        self.result(&d.action_id, d.attempt, state, d.envelope.event_time.as_micros())
    }

    /// Acknowledged, applied and verified (or reverted) for the step `d`, as adapters send them.
    fn answer_all(&mut self, d: &EnforcementAction) -> Vec<EnforcementAction> {
        let last = if d.revert { Reverted } else { Verified };
        let mut out = self.answer(d, Acknowledged);
        out.extend(self.answer(d, Applied));
        out.extend(self.answer(d, last));
        out
    }
}

#[test]
fn plain_lifecycle_dispatched_acknowledged_applied_verified() {
    let mut h = Harness::with(PLAIN);
    let req = h.request_event("a1", ActionKind::Isolate, "h1", false, T0);
    let d = one(h.feed(req.clone()));
    assert_eq!(steps(std::slice::from_ref(&d)), vec![(Dispatched, 1, false, false)]);
    assert_eq!(d.target, "entity:h1");
    assert_eq!(d.subject, "h1");
    assert_eq!(d.kind, ActionKind::Isolate);
    assert_eq!(&*d.envelope.key, "h1");
    assert_eq!(&*d.envelope.tenant, "acme");
    assert_eq!(&*d.envelope.source, SOURCE);
    assert_eq!(d.envelope.event_time, EventTime::from_micros(T0));
    assert_eq!(d.deadline, Some(EventTime::from_micros(T0 + 2 * MIN)));
    assert_eq!(d.cause_event_id, req.envelope().event_id.to_string());
    assert_eq!(d.reason, "within budgets: dispatching to the target");
    let expected_id = derive_event_id(
        "action",
        &[b"a1", b"dispatched", &1i32.to_be_bytes(), &[0], &[0], d.cause_event_id.as_bytes()],
    );
    assert_eq!(d.envelope.event_id, expected_id);

    let ack = one(h.result("a1", 1, Acknowledged, T0 + 10 * S));
    assert_eq!((ack.state, ack.attempt), (Acknowledged, 1));
    assert_eq!(ack.deadline, Some(EventTime::from_micros(T0 + 10 * S + 10 * MIN)));
    assert_eq!(ack.reason, "acknowledged by edr: ok");
    assert_eq!(ack.envelope.event_time, EventTime::from_micros(T0 + 10 * S));
    let applied = one(h.result("a1", 1, Applied, T0 + 20 * S));
    assert_eq!(applied.state, Applied);
    assert_eq!(applied.deadline, Some(EventTime::from_micros(T0 + 20 * S + 10 * MIN)));
    let verified = one(h.result("a1", 1, Verified, T0 + 30 * S));
    assert_eq!((verified.state, verified.sandbox, verified.revert), (Verified, false, false));
    // Isolate has no TTL in the default settings: nothing pending.
    assert_eq!(verified.deadline, None);
    assert_eq!(verified.reason, "verified by edr: ok");
    assert_eq!(h.state.action("acme", "a1").map(|a| a.phase), Some(Phase::Active));
    assert_eq!(h.state.next_deadline(), None);
    // Much later, nothing happens.
    assert!(h.tick(T0 + 30 * 24 * H).is_empty());
}

#[test]
fn a_later_state_implies_the_earlier_ones() {
    let mut h = Harness::with(PLAIN);
    h.request("a1", ActionKind::Isolate, "h1", T0);
    let v = one(h.result("a1", 1, Verified, T0 + S));
    assert_eq!(v.state, Verified);
    // The skipped states arriving late change nothing.
    assert!(h.result("a1", 1, Acknowledged, T0 + 2 * S).is_empty());
    assert!(h.result("a1", 1, Applied, T0 + 3 * S).is_empty());
}

#[test]
fn sandbox_first_then_the_real_target() {
    let mut h = Harness::with("api_version: trustloop/v1\nname: sb\nenforcement:\n  budgets: []\n");
    let d = one(h.request("a1", ActionKind::Quarantine, "h1", T0));
    assert_eq!((d.state, d.attempt, d.sandbox, d.target.as_str()), (Dispatched, 1, true, "sandbox:entity:h1"));
    assert_eq!(d.reason, "within budgets: dispatching to the sandbox first");
    let out = h.complete("a1", 1, false, T0 + S);
    assert_eq!(
        steps(&out),
        vec![
            (Acknowledged, 1, true, false),
            (Applied, 1, true, false),
            (Verified, 1, true, false),
            (Dispatched, 2, false, false)
        ]
    );
    assert!(out[..3].iter().all(|a| a.target == "sandbox:entity:h1"));
    assert_eq!(out[2].reason, "sandbox verified by edr: ok");
    assert_eq!(out[3].target, "entity:h1");
    assert_eq!(out[3].reason, "sandbox step verified: dispatching to entity:h1");
    // The sandbox step's results again (late duplicates) do not touch the real step.
    assert!(h.complete("a1", 1, false, T0 + 10 * S).is_empty());
    let out = h.complete("a1", 2, false, T0 + 20 * S);
    assert_eq!(
        steps(&out),
        vec![(Acknowledged, 2, false, false), (Applied, 2, false, false), (Verified, 2, false, false)]
    );
    // Quarantine has a TTL of 1d by default.
    let v = &out[2];
    assert_eq!(v.deadline, Some(EventTime::from_micros(T0 + 22 * S + 24 * H)));
    assert_eq!(v.reason, "verified by edr: ok; automatic revert in 1d");
}

#[test]
fn a_sandbox_failure_never_reaches_the_real_target() {
    let yaml = "api_version: trustloop/v1\nname: sb\nenforcement:\n  retry: {max_attempts: 1}\n  budgets: []\n";
    let mut h = Harness::with(yaml);
    h.request("a1", ActionKind::Quarantine, "h1", T0);
    let f = one(h.failure("a1", 1, "sandbox rejected the rule", T0 + S));
    assert_eq!((f.state, f.sandbox, f.deadline), (Failed, true, None));
    assert_eq!(f.reason, "failure: sandbox rejected the rule; gave up after 1/1 attempts");
    assert!(h.tick(T0 + 48 * H).is_empty());
    assert_eq!(h.state.action("acme", "a1").map(|a| a.phase), Some(Phase::Failed));
}

#[test]
fn retries_back_off_exponentially_then_give_up() {
    let yaml = "api_version: trustloop/v1\nname: r\nenforcement:\n  sandbox_first: false\n  retry: {max_attempts: 3, backoff: 30s}\n  budgets: []\n";
    let mut h = Harness::with(yaml);
    h.request("a1", ActionKind::Isolate, "h1", T0);
    let f = one(h.failure("a1", 1, "EDR API returned 503", T0 + 10 * S));
    assert_eq!((f.state, f.attempt), (Failed, 1));
    assert_eq!(f.reason, "failure: EDR API returned 503; retry 2/3 in 30s");
    assert_eq!(f.deadline, Some(EventTime::from_micros(T0 + 40 * S)));
    // Not yet: an unrelated input just before the retry is due.
    assert!(h.verdict("h9", T0 + 39 * S).is_empty());
    let r = one(h.tick(T0 + 40 * S));
    assert_eq!((r.state, r.attempt), (Dispatched, 2));
    assert_eq!(r.reason, "retry 2/3 after failure: EDR API returned 503");
    assert_eq!(r.envelope.event_time, EventTime::from_micros(T0 + 40 * S));
    assert_eq!(r.cause_event_id, tick_id(EventTime::from_micros(T0 + 40 * S)));
    // A late failure of attempt 1 changes nothing.
    assert!(h.failure("a1", 1, "EDR API returned 503", T0 + 41 * S).is_empty());
    let f = one(h.failure("a1", 2, "EDR API returned 503", T0 + 50 * S));
    assert_eq!(f.reason, "failure: EDR API returned 503; retry 3/3 in 1m");
    assert_eq!(f.deadline, Some(EventTime::from_micros(T0 + 110 * S)));
    assert!(h.tick(T0 + 109 * S).is_empty());
    let r = one(h.tick(T0 + 110 * S));
    assert_eq!(
        (r.state, r.attempt, r.reason.as_str()),
        (Dispatched, 3, "retry 3/3 after failure: EDR API returned 503")
    );
    // A result with success=false is a failure whatever state it names.
    let e = h.result_event("a1", 3, Verified, false, "verification found the host reachable", T0 + 120 * S);
    let f = one(h.feed(e));
    assert_eq!((f.state, f.attempt, f.deadline), (Failed, 3, None));
    assert_eq!(f.reason, "failure: verification found the host reachable; gave up after 3/3 attempts");
    assert!(h.tick(T0 + 24 * H).is_empty());
    assert!(h.result("a1", 3, Verified, T0 + 25 * H).is_empty());
}

#[test]
fn timeouts_fail_the_try_before_the_input_that_reaches_them() {
    let mut h = Harness::with(PLAIN);
    h.request("a1", ActionKind::Isolate, "h1", T0);
    assert!(h.tick(T0 + 2 * MIN - 1).is_empty());
    // The acknowledgement of attempt 1 comes after its deadline: the timeout fires first, then the
    // result is stale.
    let out = h.result("a1", 1, Acknowledged, T0 + 2 * MIN);
    let f = one(out);
    assert_eq!((f.state, f.attempt), (Failed, 1));
    assert_eq!(f.reason, "timeout: no acknowledgement within 2m; retry 2/5 in 30s");
    assert_eq!(f.envelope.event_time, EventTime::from_micros(T0 + 2 * MIN));
    let r = one(h.tick(T0 + 2 * MIN + 30 * S));
    assert_eq!(r.reason, "retry 2/5 after timeout: no acknowledgement within 2m");
    assert_eq!(r.attempt, 2);
    // Acknowledged, then not applied in time.
    one(h.result("a1", 2, Acknowledged, T0 + 3 * MIN));
    let f = one(h.tick(T0 + 13 * MIN));
    assert_eq!(f.reason, "timeout: not applied within 10m; retry 3/5 in 1m");
    let r = one(h.tick(T0 + 14 * MIN));
    assert_eq!(r.attempt, 3);
    // Applied, then not verified in time.
    one(h.result("a1", 3, Applied, T0 + 15 * MIN));
    let f = one(h.tick(T0 + 25 * MIN));
    assert_eq!(f.reason, "timeout: not verified within 10m; retry 4/5 in 2m");
}

/// 100 requests spread over 12 h, at `T0 + k × 7m12s`.
fn backlog(h: &mut Harness) -> Vec<EnforcementAction> {
    let mut out = Vec::new();
    for k in 0..100 {
        out.extend(h.request(&format!("a{k}"), ActionKind::Isolate, &format!("h{k}"), T0 + k * 12 * H / 100));
    }
    out
}

#[test]
fn a_backlog_of_requests_times_nothing_out_before_the_adapters_answer() {
    let mut h = Harness::with(PLAIN);
    let dispatched = backlog(&mut h);
    assert_eq!(dispatched.len(), 100);
    assert!(dispatched.iter().all(|d| (d.state, d.attempt) == (Dispatched, 1)));
    // The watermark runs far past every acknowledgement deadline (other inputs of the same pass).
    assert!(h.verdict("h0", T0 + 13 * H).is_empty());
    assert!(h.request("late", ActionKind::Notify, "h0", T0 + 13 * H).len() == 1);
    assert_eq!(h.state.now(), Some(EventTime::from_micros(T0 + 13 * H)));
    assert_eq!(h.state.adapter_clock(), None);
    // Due on the adapter clock, which has not moved: the earliest deadline is behind the watermark.
    assert_eq!(h.state.next_deadline(), Some(EventTime::from_micros(T0 + 2 * MIN)));
    // A snapshot here restores to the same state.
    h.state = restore(&h.state);

    // The adapters answer in order, each result with its step's event time.
    let mut out = Vec::new();
    for d in &dispatched {
        let ack = h.answer(d, Acknowledged);
        assert_eq!(steps(&ack), vec![(Acknowledged, 1, false, false)], "{}", d.action_id);
        // The next timeout runs from the watermark.
        assert_eq!(ack[0].deadline, Some(EventTime::from_micros(T0 + 13 * H + 10 * MIN)));
        out.extend(ack);
        out.extend(h.answer(d, Applied));
        out.extend(h.answer(d, Verified));
    }
    assert_eq!(out.len(), 300, "{:#?}", out.iter().filter(|a| a.state == Failed).collect::<Vec<_>>());
    assert!(out.iter().all(|a| a.state != Failed));
    assert_eq!(h.state.adapter_clock(), dispatched.last().map(|d| d.envelope.event_time));
    for d in &dispatched {
        assert_eq!(h.state.action("acme", &d.action_id).map(|a| (a.phase, a.state)), Some((Phase::Active, Verified)));
    }
    // Only `late` is still in flight.
    assert_eq!(h.state.next_deadline(), Some(EventTime::from_micros(T0 + 13 * H + 2 * MIN)));
}

#[test]
fn a_backlog_with_sandbox_first_completes_in_rounds_of_answers() {
    // As a runtime runs it: the operator's outputs of a pass go to the adapters, their results are
    // the next pass's inputs. The real steps are dispatched at the end of the backlog.
    let mut h = Harness::with("api_version: trustloop/v1\nname: sb\nenforcement:\n  budgets: []\n");
    let mut pending: Vec<EnforcementAction> = backlog(&mut h);
    let mut all = Vec::new();
    let mut rounds = 0;
    while !pending.is_empty() {
        rounds += 1;
        let mut next = Vec::new();
        for d in pending.iter().filter(|a| a.state == Dispatched) {
            next.extend(h.answer_all(d));
        }
        all.extend(next.iter().cloned());
        pending = next.into_iter().filter(|a| a.state == Dispatched).collect();
    }
    assert_eq!(rounds, 2);
    assert!(all.iter().all(|a| a.state != Failed));
    let real: Vec<_> = all.iter().filter(|a| a.state == Verified && !a.sandbox).collect();
    assert_eq!(real.len(), 100);
    assert!(real.iter().all(|a| a.attempt == 2 && a.target.starts_with("entity:")));
}

#[test]
fn a_silent_adapter_times_out_when_the_adapter_clock_passes_its_deadline() {
    let mut h = Harness::with(PLAIN);
    let a1 = one(h.request("a1", ActionKind::Isolate, "h1", T0));
    assert_eq!(a1.deadline, Some(EventTime::from_micros(T0 + 2 * MIN)));
    let a2 = one(h.request("a2", ActionKind::Isolate, "h2", T0 + MIN));
    let a3 = one(h.request("a3", ActionKind::Isolate, "h3", T0 + 2 * MIN - 1));
    let a4 = one(h.request("a4", ActionKind::Isolate, "h4", T0 + 2 * MIN));
    // Other inputs move the watermark, not the adapter clock.
    assert!(h.verdict("h9", T0 + H).is_empty());
    // Steps later than a1 are answered, but none later than its deadline yet.
    assert_eq!(h.answer_all(&a2).len(), 3);
    assert_eq!(one(h.answer(&a3, Acknowledged)).state, Acknowledged);
    assert_eq!(h.state.adapter_clock(), Some(EventTime::from_micros(T0 + 2 * MIN - 1)));
    assert_eq!(h.state.action("acme", "a1").map(|a| a.state), Some(Dispatched));
    // A step dispatched at a1's deadline is answered: a1 times out first (at the watermark).
    let out = h.answer(&a4, Acknowledged);
    assert_eq!(
        out.iter().map(|a| (a.action_id.as_str(), a.state)).collect::<Vec<_>>(),
        vec![("a1", Failed), ("a4", Acknowledged)]
    );
    let f = &out[0];
    assert_eq!((f.attempt, f.reason.as_str()), (1, "timeout: no acknowledgement within 2m; retry 2/5 in 30s"));
    assert_eq!(f.envelope.event_time, EventTime::from_micros(T0 + H));
    assert_eq!(f.deadline, Some(EventTime::from_micros(T0 + H + 30 * S)));
    // The retry is on the watermark: any input reaching it dispatches again.
    let r = one(h.verdict("h9", T0 + H + 30 * S));
    assert_eq!((r.action_id.as_str(), r.state, r.attempt), ("a1", Dispatched, 2));
    assert_eq!(r.deadline, Some(EventTime::from_micros(T0 + H + 30 * S + 2 * MIN)));
    // a1's late acknowledgement of attempt 1 is stale; attempt 2 completes.
    assert!(h.answer(&a1, Acknowledged).is_empty());
    assert_eq!(
        steps(&h.answer_all(&r)),
        vec![(Acknowledged, 2, false, false), (Applied, 2, false, false), (Verified, 2, false, false)]
    );
}

#[test]
fn ticks_move_the_adapter_clock_and_drive_a_timeout() {
    let mut h = Harness::with(PLAIN);
    let d = one(h.request("a1", ActionKind::Isolate, "h1", T0));
    assert!(h.verdict("h9", T0 + H).is_empty());
    // A tick behind the watermark still moves the adapter clock.
    assert!(h.tick(T0 + 2 * MIN - 1).is_empty());
    assert_eq!(h.state.adapter_clock(), Some(EventTime::from_micros(T0 + 2 * MIN - 1)));
    assert_eq!(h.state.now(), Some(EventTime::from_micros(T0 + H)));
    let due = h.state.next_deadline().expect("the timeout is pending");
    assert_eq!(due, EventTime::from_micros(T0 + 2 * MIN));
    let f = one(h.tick(due.as_micros()));
    assert_eq!((f.state, f.attempt), (Failed, 1));
    assert_eq!(f.reason, "timeout: no acknowledgement within 2m; retry 2/5 in 30s");
    assert_eq!(f.cause_event_id, tick_id(due));
    assert_eq!(f.envelope.event_time, EventTime::from_micros(T0 + H));
    // The same tick again does nothing.
    assert!(h.tick(due.as_micros()).is_empty());
    assert!(h.answer(&d, Acknowledged).is_empty());
    // Ticks move the watermark too: the retry, then acknowledged, then not applied in time.
    let r = one(h.tick(T0 + H + 30 * S));
    assert_eq!((r.state, r.attempt), (Dispatched, 2));
    one(h.answer(&r, Acknowledged));
    let apply_due = T0 + H + 30 * S + 10 * MIN;
    assert!(h.tick(apply_due - 1).is_empty());
    let f = one(h.tick(apply_due));
    assert_eq!(f.reason, "timeout: not applied within 10m; retry 3/5 in 1m");
}

#[test]
fn ttl_reverts_a_quarantine_unless_already_asked() {
    let mut h = Harness::with(PLAIN);
    h.request("q1", ActionKind::Quarantine, "h1", T0);
    let v = h.complete("q1", 1, false, T0 + S);
    let ttl_due = T0 + 3 * S + 24 * H;
    assert_eq!(v[2].deadline, Some(EventTime::from_micros(ttl_due)));
    assert!(h.tick(ttl_due - 1).is_empty());
    let d = one(h.tick(ttl_due));
    assert_eq!((d.state, d.attempt, d.sandbox, d.revert), (Dispatched, 2, false, true));
    assert_eq!(d.target, "entity:h1");
    assert_eq!(d.reason, "ttl: automatic revert of quarantine after 1d");
    assert_eq!(d.deadline, Some(EventTime::from_micros(ttl_due + 2 * MIN)));
    // The decision operator's revert, arriving afterwards, is a duplicate.
    assert!(h.revert("q1", ttl_due + S).is_empty());
    let out = h.complete("q1", 2, true, ttl_due + 2 * S);
    assert_eq!(
        steps(&out),
        vec![(Acknowledged, 2, false, true), (Applied, 2, false, true), (Reverted, 2, false, true)]
    );
    assert_eq!(out[2].deadline, None);
    assert_eq!(h.state.action("acme", "q1").map(|a| a.phase), Some(Phase::Reverted));

    // Asked before the TTL: no second revert at the TTL.
    h.request("q2", ActionKind::Quarantine, "h2", ttl_due + H);
    h.complete("q2", 1, false, ttl_due + H);
    let d = one(h.revert("q2", ttl_due + 2 * H));
    assert!(d.revert);
    assert_eq!(d.reason, "revert requested: score recovered");
    h.complete("q2", 2, true, ttl_due + 2 * H);
    assert!(h.tick(ttl_due + 30 * H).is_empty());
}

#[test]
fn a_policy_ttl_per_action_kind() {
    let yaml = "api_version: trustloop/v1\nname: t\nenforcement:\n  sandbox_first: false\n  ttl: {isolate: 2h}\n  budgets: []\n";
    let mut h = Harness::with(yaml);
    h.request("i1", ActionKind::Isolate, "h1", T0);
    h.request("q1", ActionKind::Quarantine, "h2", T0);
    h.complete("i1", 1, false, T0);
    let q = h.complete("q1", 1, false, T0);
    assert_eq!(q[2].deadline, None, "no quarantine TTL in this policy");
    let d = one(h.tick(T0 + 2 * S + 2 * H));
    assert_eq!((d.action_id.as_str(), d.revert), ("i1", true));
    assert_eq!(d.reason, "ttl: automatic revert of isolate after 2h");
}

#[test]
fn revert_of_an_action_in_flight_or_failed_targets_what_it_touched() {
    let yaml = "api_version: trustloop/v1\nname: sb\nenforcement:\n  retry: {max_attempts: 1}\n  budgets: []\n";
    let mut h = Harness::with(yaml);
    // In the sandbox stage: the sandbox is reverted.
    h.request("a1", ActionKind::Isolate, "h1", T0);
    one(h.result("a1", 1, Acknowledged, T0 + S));
    let d = one(h.revert("a1", T0 + 2 * S));
    assert_eq!(
        (d.state, d.attempt, d.sandbox, d.revert, d.target.as_str()),
        (Dispatched, 2, true, true, "sandbox:entity:h1")
    );
    // The forward step's results are stale now.
    assert!(h.result("a1", 1, Applied, T0 + 3 * S).is_empty());
    // A revert step does not finish with `verified`.
    assert!(h.result("a1", 2, Verified, T0 + 4 * S).is_empty());
    let r = one(h.result("a1", 2, Reverted, T0 + 5 * S));
    assert_eq!((r.state, r.revert, r.sandbox), (Reverted, true, true));
    // A duplicate revert, or a new request under the same id, changes nothing.
    assert!(h.revert("a1", T0 + 6 * S).is_empty());
    assert!(h.request("a1", ActionKind::Isolate, "h1", T0 + 7 * S).is_empty());

    // Failed for good on the real target: the revert is still dispatched (a partial change may remain).
    h.request("a2", ActionKind::Isolate, "h2", T0 + 10 * S);
    h.complete("a2", 1, false, T0 + 10 * S);
    one(h.failure("a2", 2, "timeout talking to the switch", T0 + 20 * S));
    let d = one(h.revert("a2", T0 + 30 * S));
    assert_eq!((d.attempt, d.sandbox, d.revert), (3, false, true));
    // The revert can fail for good too.
    let f = one(h.failure("a2", 3, "host unreachable", T0 + 40 * S));
    assert_eq!((f.state, f.revert), (Failed, true));
    assert!(h.revert("a2", T0 + 50 * S).is_empty());

    // A revert for an unknown action is dropped.
    assert!(h.revert("nope", T0 + 60 * S).is_empty());
    assert!(h.state.action("acme", "nope").is_none());
}

const COUNT_BUDGET: &str = "api_version: trustloop/v1\nname: count\nenforcement:\n  sandbox_first: false\n  budgets:\n    - {id: hourly, window: 1h, max_actions: 2, actions: [quarantine, isolate]}\n";

#[test]
fn budget_by_count_holds_then_releases_in_request_order_as_the_window_slides() {
    let mut h = Harness::with(COUNT_BUDGET);
    assert_eq!(one(h.request("a1", ActionKind::Quarantine, "h1", T0)).state, Dispatched);
    h.complete("a1", 1, false, T0);
    assert_eq!(one(h.request("a2", ActionKind::Isolate, "h2", T0 + 10 * MIN)).state, Dispatched);
    h.failure("a2", 1, "busy", T0 + 10 * MIN + S);
    // The retry of a2 (due first) does not count again: a3 finds 2 of 2 used.
    let out = h.request("a3", ActionKind::Quarantine, "h3", T0 + 20 * MIN);
    assert_eq!(steps(&out), vec![(Dispatched, 2, false, false), (Held, 0, false, false)]);
    let held = &out[1];
    assert_eq!((held.action_id.as_str(), held.deadline), ("a3", None));
    assert_eq!(held.reason, "held: budget hourly 2/2 actions in 1h");
    assert_eq!(held.target, "entity:h3");
    h.complete("a2", 2, false, T0 + 20 * MIN);
    assert_eq!(one(h.request("a4", ActionKind::Isolate, "h4", T0 + 30 * MIN)).state, Held);
    // Kinds the budget does not count pass.
    assert_eq!(one(h.request("n1", ActionKind::Notify, "h5", T0 + 31 * MIN)).state, Dispatched);
    h.complete("n1", 1, false, T0 + 31 * MIN);
    // a1 leaves the window at T0 + 1h: a3 (requested first) is released, a4 still waits.
    assert!(h.tick(T0 + H - 1).is_empty());
    let r = one(h.tick(T0 + H));
    assert_eq!((r.action_id.as_str(), r.state, r.attempt), ("a3", Dispatched, 1));
    assert_eq!(r.reason, "released from hold, within budgets: dispatching to the target");
    assert_eq!(r.envelope.event_time, EventTime::from_micros(T0 + H));
    h.complete("a3", 1, false, T0 + H);
    // a2 leaves at T0 + 1h10m; an input past it releases a4 before it is applied.
    let r = one(h.verdict("h1", T0 + H + 15 * MIN));
    assert_eq!((r.action_id.as_str(), r.state), ("a4", Dispatched));
    assert_eq!(r.envelope.event_time, EventTime::from_micros(T0 + H + 15 * MIN));
    assert!(h.state.tenant("acme").is_some_and(|t| t.book.held.is_empty() && t.book.release_timer.is_none()));
}

#[test]
fn revert_of_a_held_action_cancels_it() {
    let mut h = Harness::with(COUNT_BUDGET);
    h.request("a1", ActionKind::Isolate, "h1", T0);
    h.request("a2", ActionKind::Isolate, "h2", T0);
    h.complete("a1", 1, false, T0);
    h.complete("a2", 1, false, T0);
    assert_eq!(one(h.request("a3", ActionKind::Quarantine, "h3", T0 + 2 * S)).state, Held);
    assert!(h.state.next_deadline().is_some(), "the release re-check is pending");
    let c = one(h.revert("a3", T0 + MIN));
    assert_eq!((c.state, c.attempt, c.revert, c.deadline), (Reverted, 0, true, None));
    assert_eq!(c.reason, "cancelled: revert requested while held, never dispatched");
    assert_eq!(h.state.action("acme", "a3").map(|a| a.phase), Some(Phase::Cancelled));
    // Nothing is pending any more, nothing is released when the budget frees.
    assert_eq!(h.state.next_deadline(), None);
    assert!(h.tick(T0 + 2 * H).is_empty());
    assert!(h.revert("a3", T0 + 3 * H).is_empty());
    assert!(h.request("a3", ActionKind::Quarantine, "h3", T0 + 3 * H).is_empty());
}

const FLEET_BUDGET: &str = "api_version: trustloop/v1\nname: fleet\nenforcement:\n  sandbox_first: false\n  budgets:\n    - {id: tenth, window: 1h, max_fleet_percent: 10}\n";

#[test]
fn budget_by_fleet_percent_counts_distinct_entities_and_grows_with_the_fleet() {
    let mut h = Harness::with(FLEET_BUDGET);
    // Fleet unknown: held until an entity verdict is seen.
    let held = one(h.request("a1", ActionKind::Quarantine, "h1", T0));
    assert_eq!(held.state, Held);
    assert_eq!(held.reason, "held: budget tenth 0/0 entities in 1h (10% of a fleet of 0: no entity verdict seen yet)");
    let r = one(h.verdict("h1", T0 + S));
    assert_eq!((r.action_id.as_str(), r.state), ("a1", Dispatched));
    h.complete("a1", 1, false, T0 + S);
    for i in 2..=10 {
        assert!(h.verdict(&format!("h{i}"), T0 + 2 * S).is_empty());
    }
    // 10 % of 10 = 1 entity per hour: h1 again is fine (same entity), h2 is held.
    assert_eq!(one(h.request("a2", ActionKind::Notify, "h1", T0 + 3 * S)).state, Dispatched);
    h.complete("a2", 1, false, T0 + 3 * S);
    let held = one(h.request("a3", ActionKind::Isolate, "h2", T0 + 5 * S));
    assert_eq!(held.reason, "held: budget tenth 1/1 entities in 1h (10% of a fleet of 10)");
    // A verdict of an entity already known does not change the fleet.
    assert!(h.verdict("h3", T0 + 5 * S).is_empty());
    // The 11th entity: 10 % of 11 rounds up to 2: a3 is released.
    let r = one(h.verdict("h11", T0 + 6 * S));
    assert_eq!((r.action_id.as_str(), r.state), ("a3", Dispatched));
    h.complete("a3", 1, false, T0 + 6 * S);
    let held = one(h.request("a4", ActionKind::Isolate, "h4", T0 + 9 * S));
    assert_eq!(held.reason, "held: budget tenth 2/2 entities in 1h (10% of a fleet of 11)");
    // The window slides: h1 was acted on at T0 + 1s (a1) and T0 + 3s (a2), so it leaves at T0 + 1h3s.
    assert!(h.tick(T0 + H + 2 * S).is_empty());
    let r = one(h.tick(T0 + H + 3 * S));
    assert_eq!((r.action_id.as_str(), r.state), ("a4", Dispatched));
}

#[test]
fn duplicates_late_and_out_of_order_results_and_own_outputs_change_nothing() {
    let mut h = Harness::with(PLAIN);
    let req = h.request_event("a1", ActionKind::Isolate, "h1", false, T0);
    let d = h.feed(req.clone());
    assert_eq!(d.len(), 1);
    // The same request again (a new log position), and a re-feed of an applied position.
    assert!(h.feed(req.clone()).is_empty());
    assert!(h.state.apply(&Input::new("actions", 0, 0, &req)).is_empty());
    // Own outputs read back from `actions`.
    for own in &d {
        assert!(h.feed(Event::EnforcementAction(own.clone())).is_empty());
    }
    let snapshot = h.state.clone();
    let ack = h.result_event("a1", 1, Acknowledged, true, "ok", T0 + S);
    assert_eq!(h.feed(ack.clone()).len(), 1);
    // Duplicate result, out-of-order earlier state, another attempt, another action, another tenant.
    assert!(h.feed(ack).is_empty());
    assert!(h.result("a1", 1, Dispatched, T0 + 2 * S).is_empty());
    assert!(h.result("a1", 2, Applied, T0 + 3 * S).is_empty());
    assert!(h.result("a1", 0, Applied, T0 + 3 * S).is_empty());
    assert!(h.result("zz", 1, Applied, T0 + 3 * S).is_empty());
    let mut other = h.result_event("a1", 1, Applied, true, "ok", T0 + 3 * S);
    other.envelope_mut().tenant = "globex".into();
    assert!(h.feed(other).is_empty());
    // Only the watermark moved (and the frontier).
    let a = h.state.action("acme", "a1").expect("a1");
    assert_eq!((a.state, a.attempt), (Acknowledged, 1));
    assert_ne!(h.state, snapshot);
    let applied = one(h.result("a1", 1, Applied, T0 + 4 * S));
    assert_eq!(applied.state, Applied);
    // Events of other types are not read at all (not even for time).
    let before = h.state.now();
    let mut t = h.result_event("a1", 1, Applied, true, "ok", T0 + 99 * H);
    if let Event::EnforcementResult(r) = &t {
        t = Event::DeadLetter(trustloop_schemas::DeadLetter {
            envelope: r.envelope.clone(),
            source_topic: "x".into(),
            source_partition: None,
            source_offset: None,
            line: None,
            error_kind: "e".into(),
            reason: "r".into(),
            payload: vec![],
        });
    }
    assert!(h.feed(t).is_empty());
    assert_eq!(h.state.now(), before);
    // Ticks that do not pass the watermark do nothing.
    assert!(h.tick(T0).is_empty());
}

#[test]
fn policy_switch_applies_to_new_actions_and_releases_held_ones() {
    let mut h = Harness::with(COUNT_BUDGET);
    h.request("a1", ActionKind::Quarantine, "h1", T0);
    h.request("a2", ActionKind::Quarantine, "h2", T0);
    assert_eq!(one(h.request("a3", ActionKind::Quarantine, "h3", T0)).state, Held);
    // An invalid policy is rejected and counted; the budget still holds.
    assert!(
        h.policy("api_version: trustloop/v1\nname: count\nenforcement:\n  retry: {max_attempts: 0}\n", T0 + S)
            .is_empty()
    );
    let t = h.state.tenant("acme").expect("tenant");
    assert_eq!(t.rejected_count, 1);
    assert!(t.rejected_policies[0].reason.contains("max_attempts 0"), "{:?}", t.rejected_policies);
    assert_eq!(one(h.request("a4", ActionKind::Quarantine, "h4", T0 + 2 * S)).state, Held);
    // A looser budget releases the held ones in request order; the sandbox is switched on for them.
    let looser = "api_version: trustloop/v1\nname: count\nenforcement:\n  budgets:\n    - {id: hourly, window: 1h, max_actions: 3}\n";
    let out = h.policy(looser, T0 + 3 * S);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!((out[0].action_id.as_str(), out[0].sandbox), ("a3", true));
    assert_eq!(h.state.policy("acme").budgets[0].max_actions, Some(3));
    // An older version of the same policy is rejected.
    let e = h.policy_event(COUNT_BUDGET, T0 + 4 * S);
    let Event::Policy(mut p) = e else { unreachable!() };
    p.version = 1;
    assert!(h.feed(Event::Policy(p)).is_empty());
    assert_eq!(h.state.tenant("acme").map(|t| t.rejected_count), Some(2));
    // Other tenants keep the default policy: sandbox first, fleet budget (no fleet yet → held).
    let mut other = h.request_event("g1", ActionKind::Quarantine, "h1", false, T0 + 5 * S);
    other.envelope_mut().tenant = "globex".into();
    let held = one(h.feed(other));
    assert_eq!(held.state, Held);
    assert!(held.reason.starts_with("held: budget fleet-hourly 0/0 entities"), "{}", held.reason);
}

#[test]
fn the_default_policy_enforces_in_the_sandbox_first_within_the_fleet_budget() {
    let mut h = Harness::new();
    for i in 0..40 {
        h.verdict(&format!("h{i}"), T0);
    }
    // 5 % of 40 = 2 entities per hour for quarantine and isolate.
    assert_eq!(steps(&h.request("a1", ActionKind::Quarantine, "h1", T0)), vec![(Dispatched, 1, true, false)]);
    assert_eq!(one(h.request("a2", ActionKind::Isolate, "h2", T0)).state, Dispatched);
    assert_eq!(one(h.request("a3", ActionKind::Isolate, "h3", T0)).state, Held);
    assert_eq!(one(h.request("a4", ActionKind::BlockPromotion, "h3", T0)).state, Dispatched);
}

// ---------------------------------------------------------------------------------------------------
// Determinism: the same inputs give byte-identical outputs, also across a snapshot.

enum Op {
    Input(Box<Event>),
    Tick(i64),
}

impl Op {
    fn input(e: Event) -> Op {
        Op::Input(Box::new(e))
    }
}

const POLICIES: [&str; 3] = [
    PLAIN,
    COUNT_BUDGET,
    "api_version: trustloop/v1\nname: mixed\nenforcement:\n  retry: {max_attempts: 2, backoff: 10s}\n  timeouts: {acknowledge: 1m, apply: 2m, verify: 3m}\n  ttl: {quarantine: 30m, notify: 5m}\n  budgets:\n    - {id: f, window: 20m, max_fleet_percent: 25}\n    - {id: c, window: 5m, max_actions: 2, actions: [isolate]}\n",
];

/// A script of inputs and ticks. A shadow operator runs along, so that most adapter results answer
/// the attempt in flight with its next state (the others are stale, duplicate or random), and the
/// lifecycle gets far.
fn script(ops: &[(u8, u8, u8, u16)]) -> Vec<Op> {
    let mut h = Harness::new();
    let mut t = T0;
    let kinds = [ActionKind::Quarantine, ActionKind::Isolate, ActionKind::Notify, ActionKind::BlockPromotion];
    let states = [Acknowledged, Applied, Verified, Reverted, Failed, Dispatched];
    let mut out = Vec::new();
    for &(op, a, b, dt) in ops {
        // Mostly seconds apart, sometimes minutes or hours (timeouts, retries, TTLs, windows).
        t += if dt.is_multiple_of(10) { i64::from(dt) * MIN / 4 } else { i64::from(dt % 20) * S };
        // Mostly new actions, sometimes a duplicate.
        let id = format!("a{}", (usize::from(a) * 256 + usize::from(b)) % 300);
        let step = match op % 12 {
            0..=2 => Op::input(h.request_event(&id, kinds[usize::from(b % 4)], &format!("h{}", b % 5), false, t)),
            3 => {
                // A revert of a known action (sometimes of an unknown one).
                let known: Vec<String> =
                    h.state.tenant("acme").map(|t| t.book.actions.keys().cloned().collect()).unwrap_or_default();
                let id = known
                    .get(usize::from(a) % known.len().max(1))
                    .filter(|_| !b.is_multiple_of(8))
                    .cloned()
                    .unwrap_or(id);
                Op::input(h.request_event(&id, ActionKind::Quarantine, "h0", true, t))
            }
            4..=8 => {
                // Mostly an answer to an action in flight, with its next state.
                let in_flight: Vec<(String, i32, ActionState, bool)> = h
                    .state
                    .tenant("acme")
                    .map(|t| {
                        t.book
                            .actions
                            .values()
                            .filter(|r| r.phase == Phase::InFlight)
                            .map(|r| (r.action_id.clone(), r.attempt, r.state, r.revert))
                            .collect()
                    })
                    .unwrap_or_default();
                let (id, attempt, state) = match in_flight.get(usize::from(a) % in_flight.len().max(1)) {
                    Some((id, attempt, state, revert)) if !b.is_multiple_of(8) => {
                        let last = if *revert { Reverted } else { Verified };
                        let next = match state {
                            _ if b.is_multiple_of(5) => last,
                            Dispatched => Acknowledged,
                            Acknowledged => Applied,
                            _ => last,
                        };
                        (id.clone(), *attempt, next)
                    }
                    _ => (id, 1 + i32::from(b / 8 % 3), states[usize::from(b % 6)]),
                };
                // Adapters' results carry the time of the step they answer: often behind the
                // watermark, so the adapter clock lags it.
                let at = if b % 3 == 0 { t - i64::from(dt % 40) * MIN } else { t };
                Op::input(h.result_event(&id, attempt, state, b % 16 != 1, "m", at))
            }
            9 => Op::input(h.verdict_event(&format!("h{}", b % 12), t)),
            10 => Op::input(h.policy_event(POLICIES[usize::from(b % 3)], t)),
            // Late inputs too: a verdict from the past.
            _ if b.is_multiple_of(2) => Op::input(h.verdict_event(&format!("h{}", b % 7), t - 30 * MIN)),
            _ => Op::Tick(t),
        };
        match &step {
            Op::Input(e) => {
                h.feed_event(Event::clone(e));
            }
            Op::Tick(t) => {
                h.state.advance_to(EventTime::from_micros(*t));
            }
        }
        out.push(step);
    }
    out
}

fn run(state: &mut EnforcementState, steps: &[Op], offsets: &mut BTreeMap<&'static str, i64>) -> Vec<Vec<u8>> {
    let codec = EventCodec::new();
    let mut bytes = Vec::new();
    for s in steps {
        let out = match s {
            Op::Input(e) => {
                let topic = e.event_type().topic();
                let offset = offsets.entry(topic).or_insert(0);
                let out = state.apply(&Input::new(topic, 0, *offset, e));
                *offset += 1;
                out
            }
            Op::Tick(t) => state.advance_to(EventTime::from_micros(*t)),
        };
        for e in &out {
            assert_eq!(e.event_type(), EventType::EnforcementAction);
            bytes.push(codec.encode(e).expect("encode"));
        }
    }
    bytes
}

fn restore(state: &EnforcementState) -> EnforcementState {
    let back = crate::operator::snapshot_round_trip(state, EnforcementState::new());
    assert_eq!(&back, state);
    back
}

fn outputs(steps: &[Op]) -> Vec<EnforcementAction> {
    let mut st = EnforcementState::new();
    let mut offsets = BTreeMap::new();
    run(&mut st, steps, &mut offsets)
        .iter()
        .map(|b| match EventCodec::new().decode(b, &trustloop_schemas::NoWriterSchemas) {
            Ok(Event::EnforcementAction(a)) => a,
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn a_script_exercises_the_lifecycle() {
    // A fixed script that reaches most states, so the property below is not vacuous.
    // A fixed pseudo-random sequence (splitmix64): the same script on every run.
    let mut seed: u64 = 42;
    let mut next = move || {
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let ops: Vec<(u8, u8, u8, u16)> = (0..600)
        .map(|_| {
            let r = next();
            (r as u8, (r >> 8) as u8, (r >> 16) as u8, ((r >> 24) % 400) as u16)
        })
        .collect();
    for p in POLICIES {
        crate::policy::parse(p).unwrap_or_else(|e| panic!("{e}\n{p}"));
    }
    let out = outputs(&script(&ops));
    let seen: std::collections::BTreeSet<&str> = out.iter().map(|a| action::state_name(a.state)).collect();
    for s in ["dispatched", "acknowledged", "applied", "verified", "failed", "held", "reverted"] {
        assert!(seen.contains(s), "{s} not reached: {seen:?}");
    }
    assert!(out.iter().any(|a| a.sandbox && a.state == Verified), "no sandbox step verified");
    assert!(out.iter().any(|a| !a.sandbox && !a.revert && a.state == Verified), "no real step verified");
    assert!(out.iter().any(|a| a.reason.starts_with("timeout:")), "no timeout");
    assert!(out.iter().any(|a| a.reason.starts_with("ttl:")), "no ttl");
    // Every event id is distinct, and event time never goes backwards.
    let ids: std::collections::BTreeSet<_> = out.iter().map(|a| a.envelope.event_id).collect();
    assert_eq!(ids.len(), out.len());
    assert!(out.windows(2).all(|w| w[0].envelope.event_time <= w[1].envelope.event_time));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_operator_is_deterministic_across_snapshots(
        ops in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), 0u16..400), 1..150),
        cut in any::<proptest::sample::Index>(),
    ) {
        let steps = script(&ops);
        let mut a = EnforcementState::new();
        let mut offsets_a = BTreeMap::new();
        let full = run(&mut a, &steps, &mut offsets_a);
        let mut b = EnforcementState::new();
        let mut offsets_b = BTreeMap::new();
        prop_assert_eq!(&run(&mut b, &steps, &mut offsets_b), &full);
        prop_assert_eq!(&a, &b);

        let k = cut.index(steps.len() + 1);
        let mut c = EnforcementState::new();
        let mut offsets_c = BTreeMap::new();
        let mut split = run(&mut c, &steps[..k], &mut offsets_c);
        let mut c = restore(&c);
        split.extend(run(&mut c, &steps[k..], &mut offsets_c));
        prop_assert_eq!(split, full);
        prop_assert_eq!(restore(&c), a);
    }
}

// ---------------------------------------------------------------------------------------------
// Rollbacks: the release put back is resolved from the promotions and release verdicts seen.

impl Harness {
    fn release_request(&mut self, id: &str, kind: ActionKind, subject: &str, at: i64) -> Vec<EnforcementAction> {
        let release = subject.rsplit_once('@').expect("NAME@VERSION@ENV").0;
        let n = self.next_n();
        self.feed(Event::EnforcementAction(EnforcementAction {
            envelope: envelope("acme", "acme", n, at),
            action_id: id.into(),
            subject: subject.into(),
            kind,
            state: ActionState::Requested,
            target: format!("release:{release}"),
            sandbox: false,
            attempt: 0,
            cause_event_id: "finding".into(),
            reason: "turned FAIL".into(),
            deadline: None,
            revert: false,
            workflow: None,
            step: None,
        }))
    }

    fn release_verdict(&mut self, subject: &str, outcome: Outcome, at: i64) -> Vec<EnforcementAction> {
        let n = self.next_n();
        self.feed(Event::Verdict(Verdict {
            envelope: envelope("acme", subject, n, at),
            subject: subject.into(),
            subject_kind: SubjectKind::Release,
            outcome,
            previous: None,
            reasons: vec![],
            policy_digest: "d".into(),
            input_frontier: vec![],
            evidence_digest: "e".into(),
        }))
    }
}

#[test]
fn a_rollback_puts_back_the_last_promoted_release_that_passes() {
    let mut h = Harness::with(PLAIN);
    for (v, outcome) in [("1", Outcome::Pass), ("2", Outcome::Pass), ("3", Outcome::Warn)] {
        let subject = format!("shop@{v}@prod");
        h.release_verdict(&subject, outcome, T0);
        let promoted = h.release_request(&format!("promote-{v}"), ActionKind::Promote, &subject, T0);
        assert_eq!(steps(&promoted), [(Dispatched, 1, false, false)]);
    }
    h.release_verdict("shop@2@staging", Outcome::Fail, T0 + MIN);
    h.release_verdict("shop@3@prod", Outcome::Fail, T0 + MIN);
    let a = one(h.release_request("rb-3", ActionKind::Rollback, "shop@3@prod", T0 + MIN));
    assert_eq!((a.state, a.target.as_str(), a.attempt), (Dispatched, "release:shop@2", 1));
    assert!(
        a.reason.starts_with("rolling shop@3 in prod back to shop@2, the last release promoted there"),
        "{}",
        a.reason
    );
    // Its lifecycle is any action's: verified by the adapter's result (the promotions, never
    // answered, time out on the way).
    let done: Vec<EnforcementAction> =
        h.result("rb-3", 1, Verified, T0 + 2 * MIN).into_iter().filter(|a| a.action_id == "rb-3").collect();
    assert_eq!(steps(&done), [(Verified, 1, false, false)]);
    // shop@2 turning bad goes back to shop@1; then nothing is left that passes.
    h.release_verdict("shop@2@prod", Outcome::Fail, T0 + 3 * MIN);
    let a = one(h.release_request("rb-2", ActionKind::Rollback, "shop@2@prod", T0 + 3 * MIN));
    assert_eq!(a.target, "release:shop@1");
    h.release_verdict("shop@1@prod", Outcome::Fail, T0 + 4 * MIN);
    let a = one(h.release_request("rb-1", ActionKind::Rollback, "shop@1@prod", T0 + 4 * MIN));
    assert_eq!((a.state, a.attempt, a.target.as_str()), (Failed, 0, "release:shop@1"));
    assert!(a.reason.starts_with("nothing to roll back to: no other release of shop promoted to prod"), "{}", a.reason);
    assert_eq!(h.state.action("acme", "rb-1").map(|r| r.phase), Some(Phase::Failed));
    // A duplicate request changes nothing; nor does a result for the refused action.
    assert!(h.release_request("rb-1", ActionKind::Rollback, "shop@1@prod", T0 + 5 * MIN).is_empty());
    assert!(h.result("rb-1", 1, Verified, T0 + 5 * MIN).iter().all(|a| a.action_id != "rb-1"));
    // A rollback that names no release is refused, saying why.
    let a = one(h
        .request("rb-x", ActionKind::Rollback, "h1", T0 + 6 * MIN)
        .into_iter()
        .filter(|a| a.action_id == "rb-x")
        .collect());
    assert_eq!(a.state, Failed);
    assert!(a.reason.starts_with("not a release rollback"), "{}", a.reason);
}

#[test]
fn a_rollback_goes_to_the_sandbox_first_under_the_default_policy() {
    let mut h = Harness::new();
    h.release_verdict("shop@1@prod", Outcome::Pass, T0);
    h.release_request("promote-1", ActionKind::Promote, "shop@1@prod", T0);
    h.release_request("promote-2", ActionKind::Promote, "shop@2@prod", T0);
    let a = one(h.release_request("rb-2", ActionKind::Rollback, "shop@2@prod", T0 + MIN));
    assert_eq!((a.state, a.sandbox, a.target.as_str()), (Dispatched, true, "sandbox:release:shop@1"));
    // Snapshots keep what was learnt.
    let restored = crate::operator::snapshot_round_trip(&h.state, EnforcementState::new());
    assert_eq!(restored, h.state);
}
