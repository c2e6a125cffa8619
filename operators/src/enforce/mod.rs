//! The enforcement operator: requested actions, adapter results, entity verdicts and policies in;
//! the lifecycle of each action out, as `EnforcementAction` events (same `action_id`, a new `state`).
//!
//! **Inputs.** `EnforcementAction`s in state `requested` (from the decision operator; `revert: true`
//! asks to undo the action of that `action_id`); `EnforcementResult`s (from adapters); `Verdict`s of
//! entities (the tenant's fleet = the distinct entities seen); `Policy` events. `EnforcementAction`s
//! in any other state are this operator's own outputs, read back when a runtime feeds it the whole
//! `actions` topic: they are ignored. Inputs must carry their log positions: one the frontier already
//! covers was applied and is ignored (re-feeding a log after a snapshot restore is harmless), as are
//! other event types.
//!
//! **Time.** "Now" is the watermark: the largest event time seen (a late input is handled at the
//! watermark). Emitted events carry it as their event time, and deadlines are set from it (now + a
//! duration). Deadlines are measured on one of two clocks, each with its own queue:
//!
//! * The **adapter clock** — the largest event time among `EnforcementResult` inputs and
//!   [`EnforcementState::advance_to`] ticks — for the timeouts of steps in flight (acknowledge,
//!   apply, verify). An adapter's result carries the event time of the step it answers, so a
//!   timeout means "the adapters have answered steps later than this one's deadline, and still
//!   nothing for this one". That holds during a backlog and live alike: when a runtime feeds hours
//!   of requests before any adapter could answer, the watermark jumps to the end of the backlog but
//!   the adapter clock stays with the answers, so nothing times out unanswered merely because the
//!   adapters have not had their turn. The adapter clock never runs ahead of the watermark. When no
//!   result comes at all, only ticks move it: a runtime that is idle ticks it with `advance_to`,
//!   recording each tick in its log as an input (and replaying it), so that replays agree.
//! * The **watermark** for the rest: retry back-offs, TTLs and the moment a budget frees up (held
//!   actions are re-checked). A retry or a release that comes early during a catch-up is harmless,
//!   and a TTL is about fleet time.
//!
//! A deadline due at or before its clock fires when an input (or tick) advances that clock —
//! every input the watermark, a result and a tick both — *before* that input is applied, in due-time
//! order across both queues (so a result arriving after its timeout finds the step already failed).
//! Nothing reads a wall clock.
//!
//! **Lifecycle** (all in event time; durations from the policy's `enforcement` section):
//!
//! * `requested` → `held` when starting it would exceed a budget it counts toward (see [`budget`]).
//!   Held actions are re-checked when a budget frees up (a deadline), when the fleet grows and when a
//!   policy is applied, and released in request order (each one that fits).
//! * `requested` (within budgets) → `dispatched`. With `sandbox_first`, the first step goes to
//!   `sandbox:<target>` with `sandbox: true`; only once it is `verified` is the real target
//!   dispatched, and verified in turn. The plan is fixed when the action starts.
//! * A step: `dispatched` → `acknowledged` → `applied` → `verified`, each as its adapter reports it.
//!   A result for a later state implies the earlier ones (they are not emitted). Each state has a
//!   timeout (on the adapter clock): `acknowledge` after dispatch, `apply` after acknowledgement,
//!   `verify` after `applied`.
//! * A failure (a result with `success: false` or state `failed`) or a timeout → `failed`; it is
//!   retried (`dispatched` again) after `backoff × 2^(n−1)` for the n-th failure of the step, until
//!   the step has had `max_attempts` tries; then it stays `failed`.
//! * A revert request → a revert step (`revert: true`) on the target the action last touched (the
//!   real one once it was dispatched, else the sandbox): `dispatched` → … → `reverted` (the adapter
//!   reports `reverted`), with the same timeouts and retries. A revert while held cancels the action:
//!   it goes straight to `reverted`, never dispatched. Reverts are not subject to budgets.
//! * TTL: once the real step is verified, an action whose kind has a TTL (`enforcement.ttl`) is
//!   reverted automatically when it expires, unless a revert was asked for already.
//! * Rollback: a `rollback` request names the release to take out of an environment; the release
//!   put back is resolved when the request arrives ([`rollback`]: the last release of the same name
//!   promoted to that environment whose latest verdict there is PASS, as this operator has seen
//!   them) and becomes the action's target (`release:NAME@VERSION`). With none, the action goes
//!   straight to `failed` (phase failed, never dispatched) saying so.
//!
//! **Attempts.** Every dispatch of an action (sandbox, real, each retry, the revert) gets the next
//! `attempt` number, so (`action_id`, `attempt`) names one dispatch; an adapter echoes it in its
//! results. Reasons count tries per step: `retry 2/5 after failure: <adapter message>`.
//!
//! **Idempotency.** A `requested` event for a known `action_id` (forward or revert, however often) is
//! a duplicate and changes nothing; so is a result for another attempt than the one in flight, for a
//! state the step already reached or passed, or for an action not in flight. A revert for an unknown
//! `action_id` is dropped (there is nothing to undo).
//!
//! **Policies** are per tenant, accepted as the trust operator accepts them (valid YAML or JSON, the
//! declared digest and name, a newer version of the same name); a rejected one leaves the policy in
//! force and is counted in [`TenantState::rejected_policies`]. Until one is applied,
//! [`crate::policy::default_policy`]'s `enforcement` is in force. Actions in flight keep their plan;
//! new deadlines use the policy in force when they are set.
//!
//! **Ids.** `derive_event_id("action", [action_id, state, attempt, sandbox, revert, cause event id])`
//! (the state by its schema name, the attempt as a big-endian `i32`, the flags as one byte 0/1, the
//! cause as its hyphenated UUID text); `cause_event_id` is the input that caused the transition (for
//! [`EnforcementState::advance_to`], [`tick_id`] of the tick's time).
//!
//! The state is `Serialize`/`Deserialize` (ordered maps only); restoring a snapshot mid-stream gives
//! byte-identical outputs. Action records are kept for good, so that a duplicate is recognised however
//! late it comes; budget starts are forgotten once outside every window.

pub mod action;
pub mod budget;
pub mod rollback;
pub mod timers;
pub mod workflow;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use trustloop_schemas::{
    ActionKind, ActionState, EnforcementAction, EnforcementResult, Event, EventTime, EventType, Policy, SubjectKind,
    derive_event_id,
};

use crate::input::{Frontier, Input};
use crate::operator::Operator;
use crate::policy::{self, Duration, EnforcementPolicy, PolicyDoc};
pub use action::{ActionRecord, Phase, SANDBOX_PREFIX, SOURCE};
use budget::Ledger;
use timers::{Clock, Timer, TimerKey, Timers};

/// The event types the operator reads (the topics `actions`, `action-results`, `verdicts`, `policies`).
pub const INPUTS: &[EventType] =
    &[EventType::EnforcementAction, EventType::EnforcementResult, EventType::Verdict, EventType::Policy];

/// The built-in default policy's enforcement section.
fn default_enforcement() -> &'static EnforcementPolicy {
    static DEFAULT: OnceLock<EnforcementPolicy> = OnceLock::new();
    DEFAULT.get_or_init(|| policy::default_policy().enforcement)
}

/// The enforcement operator's state (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnforcementState {
    /// The watermark (event-time microseconds); `None` before the first input.
    now: Option<i64>,
    /// The adapter clock: the largest event time of a result or a tick; `None` before the first.
    adapter_now: Option<i64>,
    /// Request order of the next new action.
    next_seq: u64,
    /// Tenants by name.
    tenants: BTreeMap<String, TenantState>,
    /// Every pending deadline.
    timers: Timers,
    /// How far each input topic-partition has been applied.
    frontier: Frontier,
}

/// A policy applied to a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivePolicy {
    /// Policy name.
    pub name: String,
    /// Version.
    pub version: i64,
    /// Digest of the document.
    pub digest: String,
    /// Its enforcement section.
    pub enforcement: EnforcementPolicy,
}

pub use crate::policy::accept::{REJECTIONS_KEPT, RejectedPolicy};

/// One tenant's enforcement state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantState {
    /// The policy applied, `None` while the default is in force.
    pub policy: Option<ActivePolicy>,
    /// Entities seen in entity verdicts: the fleet of `max_fleet_percent`.
    pub fleet: BTreeSet<String>,
    /// How many `Policy` events were rejected.
    pub rejected_count: u64,
    /// The newest rejected ones (at most [`REJECTIONS_KEPT`]).
    pub rejected_policies: Vec<RejectedPolicy>,
    /// Actions and budgets.
    pub book: Book,
    /// Promoted releases and their verdicts, for rollbacks.
    #[serde(default)]
    pub releases: rollback::ReleaseLines,
}

/// A tenant's actions and budget accounting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Book {
    /// Every action seen, by `action_id` (kept so that duplicates are recognised).
    pub actions: BTreeMap<String, ActionRecord>,
    /// Held actions by request order.
    pub held: BTreeMap<u64, String>,
    /// The pending re-check of held actions.
    pub release_timer: Option<TimerKey>,
    /// Started actions within the budget windows.
    pub ledger: Ledger,
}

impl EnforcementState {
    /// An empty state: no actions, the default policy in force for every tenant.
    pub fn new() -> Self {
        Self::default()
    }

    /// The watermark: the largest event time seen (or ticked to).
    pub fn now(&self) -> Option<EventTime> {
        self.now.map(EventTime::from_micros)
    }

    /// The adapter clock (see the module docs): the largest event time of an adapter result or a
    /// tick.
    pub fn adapter_clock(&self) -> Option<EventTime> {
        self.adapter_now.map(EventTime::from_micros)
    }

    /// The earliest pending deadline on either clock, for a runtime to know when a tick would do
    /// something: `advance_to` it fires it. A timeout may be due before the watermark (the adapter
    /// clock lags).
    pub fn next_deadline(&self) -> Option<EventTime> {
        self.timers.next_due().map(EventTime::from_micros)
    }

    /// The input positions applied so far.
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// A tenant's state, if it has any.
    pub fn tenant(&self, tenant: &str) -> Option<&TenantState> {
        self.tenants.get(tenant)
    }

    /// An action's record.
    pub fn action(&self, tenant: &str, action_id: &str) -> Option<&ActionRecord> {
        self.tenants.get(tenant)?.book.actions.get(action_id)
    }

    /// The enforcement policy in force for `tenant`.
    pub fn policy(&self, tenant: &str) -> &EnforcementPolicy {
        match self.tenants.get(tenant).and_then(|t| t.policy.as_ref()) {
            Some(p) => &p.enforcement,
            None => default_enforcement(),
        }
    }

    /// Applies one input: first the deadlines its event time reaches, then the input itself.
    /// Returns the `EnforcementAction` transitions, in order.
    pub fn apply(&mut self, input: &Input<'_>) -> Vec<Event> {
        let event = input.event;
        if !INPUTS.contains(&event.event_type()) || self.frontier.covers(input.topic, input.partition, input.offset) {
            return Vec::new();
        }
        self.frontier.advance(input);
        let env = event.envelope();
        let cause = env.event_id.to_string();
        let mut out = Vec::new();
        let from_adapter = matches!(event, Event::EnforcementResult(_));
        self.advance(env.event_time.as_micros(), from_adapter, &cause, &mut out);
        match event {
            Event::EnforcementAction(a) if a.state == ActionState::Requested => {
                if a.kind == ActionKind::Promote
                    && !a.revert
                    && let Some(r) = rollback::ReleaseSubject::of(&a.subject, &a.target)
                {
                    self.tenants.entry(a.envelope.tenant.to_string()).or_default().releases.promoted(&r);
                }
                if a.revert {
                    self.on_revert_request(a, &cause, &mut out);
                } else {
                    self.on_request(a, &cause, &mut out);
                }
            }
            // Any other state is one of this operator's own outputs, read back from `actions`.
            Event::EnforcementAction(_) => {}
            Event::EnforcementResult(r) => self.on_result(r, &cause, &mut out),
            Event::Verdict(v) if v.subject_kind == SubjectKind::Release => {
                self.tenants.entry(v.envelope.tenant.to_string()).or_default().releases.verdict(&v.subject, v.outcome);
            }
            Event::Verdict(v) if v.subject_kind == SubjectKind::Entity => {
                let tenant = &*v.envelope.tenant;
                let grew = self.tenants.entry(tenant.to_string()).or_default().fleet.insert(v.subject.clone());
                if grew {
                    self.in_tenant(tenant, &cause, &mut out, |book, cx| book.release(cx));
                }
            }
            Event::Policy(p) => self.on_policy(p, &cause, &mut out),
            _ => {}
        }
        out
    }

    /// Advances the watermark and the adapter clock to `now` without an input (a heartbeat of the
    /// runtime when inputs are quiet, or adapters silent) and returns what the deadlines reached
    /// cause. Nothing happens if `now` is past neither clock; a tick behind the watermark still
    /// moves the adapter clock (timeouts fire; emitted events carry the watermark). The transitions
    /// name a tick id derived from `now` as their cause; for replays to be deterministic, the runtime
    /// must record each tick in its log as an input, and replay it.
    pub fn advance_to(&mut self, now: EventTime) -> Vec<Event> {
        let mut out = Vec::new();
        let t = now.as_micros();
        if self.now.is_some_and(|n| n >= t) && self.adapter_now.is_some_and(|a| a >= t) {
            return out;
        }
        let cause = tick_id(now);
        self.advance(t, true, &cause, &mut out);
        out
    }

    /// Moves the watermark (and with `adapter` the adapter clock) to `t`, if later, and fires the
    /// deadlines the clocks reach, in due-time order.
    fn advance(&mut self, t: i64, adapter: bool, cause: &str, out: &mut Vec<Event>) {
        let now = self.now.map_or(t, |n| n.max(t));
        self.now = Some(now);
        if adapter {
            self.adapter_now = Some(self.adapter_now.map_or(t, |a| a.max(t)));
        }
        let adapter_now = self.adapter_now.unwrap_or(i64::MIN);
        while let Some((key, timer)) = self.timers.pop_due(now, adapter_now) {
            match timer {
                Timer::Action { tenant, action_id } => {
                    self.in_tenant(&tenant, cause, out, |book, cx| book.fire(cx, &action_id, key));
                }
                Timer::Release { tenant } => {
                    self.in_tenant(&tenant, cause, out, |book, cx| {
                        if book.release_timer == Some(key) {
                            book.release_timer = None;
                            book.release(cx);
                        }
                    });
                }
            }
        }
    }

    /// Runs `f` on a tenant's book (if the tenant exists) with the context of a transition.
    fn in_tenant<R>(
        &mut self,
        tenant: &str,
        cause: &str,
        out: &mut Vec<Event>,
        f: impl FnOnce(&mut Book, &mut Step<'_>) -> R,
    ) -> Option<R> {
        let now = self.now?;
        let TenantState { policy, fleet, book, .. } = self.tenants.get_mut(tenant)?;
        let policy: &EnforcementPolicy = match policy {
            Some(p) => &p.enforcement,
            None => default_enforcement(),
        };
        let mut cx = Step { tenant, policy, fleet: fleet.len(), timers: &mut self.timers, now, cause, out };
        Some(f(book, &mut cx))
    }

    fn on_request(&mut self, a: &EnforcementAction, cause: &str, out: &mut Vec<Event>) {
        let tenant = &*a.envelope.tenant;
        let known = self.tenants.get(tenant).is_some_and(|t| t.book.actions.contains_key(&a.action_id));
        if known {
            return; // a duplicate request changes nothing
        }
        let ts = self.tenants.entry(tenant.to_string()).or_default();
        let seq = self.next_seq;
        self.next_seq += 1;
        if a.kind == ActionKind::Rollback {
            let back = rollback::ReleaseSubject::of(&a.subject, &a.target).map(|r| (ts.releases.roll_back(&r), r));
            let resolved = match back {
                Some((Some(to), r)) => Ok((
                    format!("{}{to}", rollback::RELEASE_TARGET),
                    format!(
                        "rolling {}@{} in {} back to {to}, the last release promoted there whose verdict is PASS",
                        r.name, r.version, r.environment
                    ),
                )),
                Some((None, r)) => Err(format!(
                    "nothing to roll back to: no other release of {} promoted to {} has a PASS verdict there",
                    r.name, r.environment
                )),
                None => Err(format!(
                    "not a release rollback: subject `{}` and target `{}` must be NAME@VERSION@ENVIRONMENT and \
                     release:NAME@VERSION",
                    a.subject, a.target
                )),
            };
            self.in_tenant(tenant, cause, out, |book, cx| match resolved {
                Ok((target, plan)) => {
                    let mut planned = a.clone();
                    planned.target = target;
                    book.request(cx, &planned, seq, Some(&plan));
                }
                Err(why) => book.refuse(cx, a, seq, why),
            });
            return;
        }
        self.in_tenant(tenant, cause, out, |book, cx| book.request(cx, a, seq, None));
    }

    fn on_revert_request(&mut self, a: &EnforcementAction, cause: &str, out: &mut Vec<Event>) {
        self.in_tenant(&a.envelope.tenant, cause, out, |book, cx| book.revert_request(cx, a));
    }

    fn on_result(&mut self, r: &EnforcementResult, cause: &str, out: &mut Vec<Event>) {
        self.in_tenant(&r.envelope.tenant, cause, out, |book, cx| book.result(cx, r));
    }

    fn on_policy(&mut self, p: &Policy, cause: &str, out: &mut Vec<Event>) {
        let tenant = &*p.envelope.tenant;
        let ts = self.tenants.entry(tenant.to_string()).or_default();
        match accept_policy(p, ts.policy.as_ref()) {
            Ok(doc) => {
                ts.policy = Some(ActivePolicy {
                    name: doc.name.clone(),
                    version: p.version,
                    digest: p.digest.clone(),
                    enforcement: doc.enforcement,
                });
                // Budgets may be looser now.
                self.in_tenant(tenant, cause, out, |book, cx| book.release(cx));
            }
            Err(reason) => {
                ts.rejected_count += 1;
                RejectedPolicy::of(p, reason).keep(&mut ts.rejected_policies);
            }
        }
    }
}

/// Format version of this operator's snapshots (see [`crate::operator::Snapshot`]).
pub const SNAPSHOT_VERSION: u32 = 1;

impl Operator for EnforcementState {
    fn name(&self) -> &'static str {
        "enforce"
    }

    fn inputs(&self) -> &'static [EventType] {
        INPUTS
    }

    fn outputs(&self) -> &'static [EventType] {
        &[EventType::EnforcementAction]
    }

    fn apply(&mut self, input: &Input<'_>) -> Vec<Event> {
        EnforcementState::apply(self, input)
    }

    fn snapshot(&self) -> Option<crate::operator::Snapshot> {
        crate::operator::Snapshot::json(SNAPSHOT_VERSION, self)
    }

    fn restore(&mut self, snapshot: &crate::operator::Snapshot) -> Result<(), crate::operator::SnapshotError> {
        *self = snapshot.from_json::<EnforcementState>("enforce", SNAPSHOT_VERSION)?;
        Ok(())
    }
}

/// The cause id of transitions caused by [`EnforcementState::advance_to`].
pub fn tick_id(now: EventTime) -> String {
    derive_event_id("tick", &[&now.as_micros().to_be_bytes()]).to_string()
}

/// The parsed document of a `Policy` event, if it is to be applied over `current` (the shared rules
/// of [`crate::policy::accept`]), else why not.
fn accept_policy(p: &Policy, current: Option<&ActivePolicy>) -> Result<PolicyDoc, String> {
    crate::policy::accept::accept(p, current.map(|c| (c.name.as_str(), c.version)))
}

/// The context of the transitions one input (or deadline) causes in one tenant.
pub(crate) struct Step<'a> {
    tenant: &'a str,
    policy: &'a EnforcementPolicy,
    /// Size of the tenant's fleet.
    fleet: usize,
    timers: &'a mut Timers,
    now: i64,
    cause: &'a str,
    out: &'a mut Vec<Event>,
}

impl Step<'_> {
    fn emit(&mut self, a: &ActionRecord, reason: String) {
        self.out.push(a.event(self.tenant, self.now, self.cause, reason));
    }

    /// Replaces the action's deadline (none: cancels it), on the clock of its phase (set first).
    fn set_deadline(&mut self, a: &mut ActionRecord, after: Option<Duration>) {
        self.timers.cancel(a.timer.take());
        a.deadline = after.map(|d| self.now.saturating_add(d.as_micros()));
        if let Some(due) = a.deadline {
            let timer = Timer::Action { tenant: self.tenant.to_string(), action_id: a.action_id.clone() };
            a.timer = Some(self.timers.schedule(a.phase.clock(), due, timer));
        }
    }

    /// Dispatches the current step (a new attempt), with the acknowledgement timeout.
    fn dispatch(&mut self, a: &mut ActionRecord, reason: String) {
        a.attempt = a.attempt.saturating_add(1);
        a.phase = Phase::InFlight;
        a.state = ActionState::Dispatched;
        self.set_deadline(a, Some(self.policy.timeouts.acknowledge));
        self.emit(a, reason);
    }

    /// Starts an action (its first step), with the plan of the policy in force.
    fn start(&mut self, a: &mut ActionRecord, how: &str) {
        if a.workflow.is_some() {
            self.start_workflow(a, how);
            return;
        }
        a.sandbox = self.policy.sandbox_first;
        a.revert = false;
        a.tries = 1;
        let whither = if a.sandbox { "to the sandbox first" } else { "to the target" };
        self.dispatch(a, format!("{how}: dispatching {whither}"));
    }

    /// Starts the revert step on the target the action last touched.
    fn start_revert(&mut self, a: &mut ActionRecord, reason: String) {
        if a.workflow.is_some() {
            self.revert_workflow(a, reason);
            return;
        }
        a.revert = true;
        a.tries = 1;
        a.last_failure = None;
        self.dispatch(a, reason);
    }

    /// The current step failed (an adapter failure or a timeout): retry it or give up.
    fn fail(&mut self, a: &mut ActionRecord, failure: String) {
        let max = self.policy.retry.max_attempts.max(1);
        a.state = ActionState::Failed;
        a.last_failure = Some(failure.clone());
        if a.tries < max {
            let wait = backoff(self.policy.retry.backoff, a.tries);
            a.phase = Phase::RetryWait;
            self.set_deadline(a, Some(wait));
            self.emit(a, format!("{failure}; retry {}/{max} in {wait}", a.tries + 1));
        } else if a.workflow.is_some() {
            self.workflow_gave_up(a, format!("{failure}; gave up after {}/{max} attempts", a.tries));
        } else {
            a.phase = Phase::Failed;
            self.set_deadline(a, None);
            self.emit(a, format!("{failure}; gave up after {}/{max} attempts", a.tries));
        }
    }

    /// The retry deadline of a failed step is reached.
    fn retry(&mut self, a: &mut ActionRecord) {
        let max = self.policy.retry.max_attempts.max(1);
        a.tries += 1;
        let after = a.last_failure.clone().unwrap_or_else(|| "failure".into());
        self.dispatch(a, format!("retry {}/{max} after {after}", a.tries));
    }

    /// The step's timeout is reached in `a.state`.
    fn timeout(&mut self, a: &mut ActionRecord) {
        let t = &self.policy.timeouts;
        let what = match (a.state, a.revert) {
            (ActionState::Dispatched, _) => format!("no acknowledgement within {}", t.acknowledge),
            (ActionState::Acknowledged, false) => format!("not applied within {}", t.apply),
            (ActionState::Acknowledged, true) => format!("not reverted within {}", t.apply),
            (_, false) => format!("not verified within {}", t.verify),
            (_, true) => format!("not reverted within {}", t.verify),
        };
        self.fail(a, format!("timeout: {what}"));
    }
}

/// The wait before the retry that follows the `tries`-th failure: `base × 2^(tries−1)`.
fn backoff(base: Duration, tries: u32) -> Duration {
    let factor = 1i64 << tries.saturating_sub(1).min(62);
    Duration::from_micros(base.as_micros().saturating_mul(factor))
}

impl Book {
    /// A new `requested` action (not a duplicate): held, or started; `plan` (the rollback's
    /// resolution) prefixes the reason of its first transition.
    fn request(&mut self, cx: &mut Step<'_>, r: &EnforcementAction, seq: u64, plan: Option<&str>) {
        let mut a = Self::record(r, seq);
        let with_plan = |why: String| match plan {
            Some(p) => format!("{p}; {why}"),
            None => why,
        };
        self.ledger.prune(cx.now, cx.policy);
        match self.ledger.check(cx.policy, cx.now, a.kind, &a.subject, cx.fleet) {
            Some(why) => {
                a.state = ActionState::Held;
                cx.emit(&a, with_plan(why));
                self.held.insert(seq, a.action_id.clone());
                self.actions.insert(a.action_id.clone(), a);
                self.schedule_release(cx);
            }
            None => {
                self.ledger.record(cx.now, &a.subject, a.kind);
                cx.start(&mut a, &with_plan("within budgets".into()));
                self.actions.insert(a.action_id.clone(), a);
            }
        }
    }

    /// A new `requested` action that cannot be carried out: recorded as failed for good (never
    /// dispatched, nothing counted against a budget).
    fn refuse(&mut self, cx: &mut Step<'_>, r: &EnforcementAction, seq: u64, why: String) {
        let mut a = Self::record(r, seq);
        a.phase = Phase::Failed;
        a.state = ActionState::Failed;
        a.last_failure = Some(why.clone());
        cx.emit(&a, why);
        self.actions.insert(a.action_id.clone(), a);
    }

    /// The record of a new request, before anything happened to it.
    fn record(r: &EnforcementAction, seq: u64) -> ActionRecord {
        let target = if r.target.trim().is_empty() { r.subject.clone() } else { r.target.clone() };
        ActionRecord {
            action_id: r.action_id.clone(),
            seq,
            key: r.envelope.key.to_string(),
            subject: r.subject.clone(),
            kind: r.kind,
            target,
            phase: Phase::Held,
            state: ActionState::Requested,
            sandbox: false,
            revert: false,
            revert_requested: false,
            attempt: 0,
            tries: 0,
            last_failure: None,
            timer: None,
            deadline: None,
            ttl: None,
            workflow: r.workflow.as_deref().map(|w| workflow::WorkflowRun::new(w, &r.reason)),
        }
    }

    /// A revert request: cancels a held action, starts the revert step of a started one; a
    /// duplicate or one for an unknown action changes nothing.
    fn revert_request(&mut self, cx: &mut Step<'_>, r: &EnforcementAction) {
        let Some(a) = self.actions.get_mut(&r.action_id) else { return };
        if a.revert_requested || matches!(a.phase, Phase::Reverted | Phase::Cancelled) {
            return;
        }
        a.revert_requested = true;
        if a.phase == Phase::Held {
            self.held.remove(&a.seq);
            a.phase = Phase::Cancelled;
            a.state = ActionState::Reverted;
            a.revert = true;
            cx.set_deadline(a, None);
            cx.emit(a, "cancelled: revert requested while held, never dispatched".into());
            if self.held.is_empty() {
                cx.timers.cancel(self.release_timer.take());
            }
            return;
        }
        let why = if r.reason.trim().is_empty() {
            "revert requested".to_string()
        } else {
            format!("revert requested: {}", r.reason)
        };
        cx.start_revert(a, why);
    }

    /// An adapter result: progress, completion or failure of the step in flight; anything else
    /// (another attempt, a state already reached, an action not in flight) changes nothing.
    fn result(&mut self, cx: &mut Step<'_>, r: &EnforcementResult) {
        let Some(a) = self.actions.get_mut(&r.action_id) else { return };
        if a.phase != Phase::InFlight || r.attempt != a.attempt {
            return;
        }
        let msg = if r.message.trim().is_empty() {
            format!("adapter {} reported {}", r.adapter, action::state_name(r.state))
        } else {
            r.message.clone()
        };
        if !r.success || r.state == ActionState::Failed {
            cx.fail(a, format!("failure: {msg}"));
            return;
        }
        if a.workflow.is_some() {
            cx.workflow_result(a, r, &msg);
            return;
        }
        let (Some(reached), Some(current)) = (a.rank(r.state), a.rank(a.state)) else { return };
        if reached <= current {
            return;
        }
        let by = format!("{} by {}: {msg}", action::state_name(r.state), r.adapter);
        if reached < 3 {
            a.state = r.state;
            let t = &cx.policy.timeouts;
            let next = if r.state == ActionState::Acknowledged { t.apply } else { t.verify };
            cx.set_deadline(a, Some(next));
            cx.emit(a, by);
        } else if a.revert {
            a.state = ActionState::Reverted;
            a.phase = Phase::Reverted;
            cx.set_deadline(a, None);
            cx.emit(a, by);
        } else if a.sandbox {
            a.state = ActionState::Verified;
            cx.set_deadline(a, None);
            cx.emit(a, format!("sandbox {by}"));
            a.sandbox = false;
            a.tries = 1;
            a.last_failure = None;
            let why = format!("sandbox step verified: dispatching to {}", a.target);
            cx.dispatch(a, why);
        } else {
            a.state = ActionState::Verified;
            a.phase = Phase::Active;
            a.ttl = budget::policy_action(a.kind).and_then(|k| cx.policy.ttl.get(&k).copied());
            let ttl = a.ttl;
            cx.set_deadline(a, ttl);
            let reason = match a.ttl {
                Some(ttl) => format!("{by}; automatic revert in {ttl}"),
                None => by,
            };
            cx.emit(a, reason);
        }
    }

    /// An action's deadline is reached: a timeout, a retry or the TTL, by its phase.
    fn fire(&mut self, cx: &mut Step<'_>, action_id: &str, key: TimerKey) {
        let Some(a) = self.actions.get_mut(action_id) else { return };
        if a.timer != Some(key) {
            return; // superseded (cannot happen while deadlines are cancelled on every change)
        }
        a.timer = None;
        match a.phase {
            Phase::InFlight => cx.timeout(a),
            Phase::RetryWait => cx.retry(a),
            Phase::Active if !a.revert_requested => {
                a.revert_requested = true;
                let ttl = a.ttl.map_or_else(String::new, |t| format!(" after {t}"));
                let why = format!("ttl: automatic revert of {}{ttl}", action::kind_name(a.kind));
                cx.start_revert(a, why);
            }
            _ => {}
        }
    }

    /// Starts the held actions that fit the budgets now, in request order; schedules the next
    /// re-check for the others.
    fn release(&mut self, cx: &mut Step<'_>) {
        if self.held.is_empty() {
            return;
        }
        self.ledger.prune(cx.now, cx.policy);
        let waiting: Vec<(u64, String)> = self.held.iter().map(|(s, id)| (*s, id.clone())).collect();
        for (seq, id) in waiting {
            let Some(a) = self.actions.get_mut(&id) else {
                self.held.remove(&seq);
                continue;
            };
            if self.ledger.check(cx.policy, cx.now, a.kind, &a.subject, cx.fleet).is_none() {
                self.held.remove(&seq);
                self.ledger.record(cx.now, &a.subject, a.kind);
                cx.start(a, "released from hold, within budgets");
            }
        }
        self.schedule_release(cx);
    }

    /// The re-check of held actions at the next moment a budget frees up (none if nothing is held,
    /// or nothing in a window will leave it: then only a larger fleet or a new policy helps).
    fn schedule_release(&mut self, cx: &mut Step<'_>) {
        cx.timers.cancel(self.release_timer.take());
        if self.held.is_empty() {
            return;
        }
        if let Some(due) = self.ledger.next_free(cx.policy, cx.now) {
            let timer = Timer::Release { tenant: cx.tenant.to_string() };
            self.release_timer = Some(cx.timers.schedule(Clock::Watermark, due, timer));
        }
    }
}

#[cfg(test)]
mod tests;
