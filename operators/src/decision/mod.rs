//! The decision operator: finding deltas, approvals, promotion requests, policies and trust scores
//! in; `Verdict`s and requested `EnforcementAction`s out.
//!
//! State is per tenant (the `tenant` of each input): the policy in force (the built-in default until
//! a `Policy` event of the tenant is applied), the open findings per release, the approvals per
//! subject, the promotion subjects and the entities.
//!
//! * **Now.** "Now" is the operator's watermark: the largest event time of any input applied. Nothing
//!   reads a clock. Verdicts and actions carry it as their event time.
//! * **Findings.** `Finding` deltas keep the open findings per release `NAME@VERSION`, keyed by
//!   (vulnerability, purl, environment): an `opened` delta for an open key replaces it (an update, e.g. a
//!   VEX status change), `closed` removes it.
//! * **Approvals.** The latest approval event (by event time; ties: the later input) of each approver
//!   per subject `NAME@VERSION@ENVIRONMENT` is kept; it stands while it approves and `now < expires`.
//! * **Release verdicts.** A `PromotionRequest` makes `NAME@VERSION@TO_ENV` a subject: it always gets
//!   a `Verdict` (with the previous outcome, if any) and an `EnforcementAction` (`promote` on PASS or
//!   WARN, `block_promotion` on FAIL; target `release:NAME@VERSION`, id derived from tenant, subject
//!   and the request's event id). From then on the subject is re-evaluated whenever a finding of its
//!   release, one of its approvals or the policy changes, or the watermark crosses one of its time
//!   boundaries (a freeze window's start or end, a waiver's or approval's expiry — kept in a map of
//!   upcoming boundary times → subjects), and a `Verdict` is emitted only when its outcome changes.
//!   The gates are in [`release`]; [`DecisionState::evaluate_release`] recomputes a verdict's
//!   decision (reasons, evidence digest) from the state for replay.
//! * **Regressions.** A subject whose promotion was granted (its request's verdict PASS or WARN) is
//!   *promoted*. When a later verdict of a promoted subject enters the outcomes of a
//!   `release_gates.regressions` rule that watches its environment, the rule's actions are
//!   requested right after the verdict ([`regression`]): `notify`, `block_promotion` (lifted with
//!   `revert: true` once the verdict leaves those outcomes) and `rollback` (which ends the
//!   promotion; the enforcement operator resolves the release put back).
//! * **Entity verdicts.** Each `TrustScore` (a score older than the entity's latest is ignored) is
//!   checked against the trust rules with hysteresis ([`entity`]); a rule activating emits a
//!   requested action (target `entity:<name>`), its lifting the same `action_id` with `revert: true`.
//!   The entity's verdict (FAIL while isolate/quarantine is active, WARN while block_promotion/notify
//!   is, else PASS) is emitted on its first score and whenever its outcome changes — before the
//!   actions of the same input.
//! * **EPSS.** `EpssScores` events (every tenant's, read in full) keep the latest score of each
//!   CVE. A rule may condition on the highest score among a finding's CVEs (`min_epss`,
//!   `min_epss_percentile`); a day's scores re-check the subjects whose policy has such a rule for
//!   their environment and whose release has a finding with a changed score. Known exploitation
//!   comes with the findings (the findings operator re-emits them when a catalog lists their CVE).
//! * **Labels.** A `ReleaseInventory` (read by release, as findings are) sets its release's labels
//!   (`NAME@VERSION`: the latest inventory's, whatever its environment; none kept for a release
//!   without labels). A rule with a `labels` condition applies only to releases whose labels it
//!   matches; a change of labels re-checks the release's subjects when the tenant's policy has
//!   such a rule. Nothing else of an inventory is read here.
//! * **Policies.** A `Policy` event is applied under the trust operator's rules ([`accept`]); one that
//!   is not is counted and kept (the newest [`accept::REJECTIONS_KEPT`]) in the tenant's state, the
//!   policy in force stays. An applied policy re-evaluates every subject and entity of the tenant.
//! * **Verdicts** carry the policy digest, the input frontier *after* the causing input, and the
//!   evidence digest ([`evidence`]). Outputs of one input come in a fixed order: release verdicts (and
//!   the promotion's action) by tenant and subject, then entity verdicts and actions.
//! * **Inputs** must carry their log positions: an input the frontier already covers (an offset below
//!   the next one of its topic-partition) was applied and is ignored, so re-feeding a log after a
//!   snapshot restore is harmless. Other event types are ignored.
//!
//! The state is `Serialize`/`Deserialize` (ordered maps; maps with composite keys as lists of pairs)
//! so a runtime can checkpoint it; restoring a snapshot mid-stream gives byte-identical outputs.

pub mod accept;
pub mod emit;
pub mod entity;
pub mod evidence;
pub mod regression;
pub mod release;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use trustloop_schemas::{
    ActionKind, Approval, Envelope, EpssScores, Event, EventTime, EventType, Finding, FindingChange, Outcome, Policy,
    PromotionRequest, Reason, ReleaseInventory, SubjectKind, TrustScore, canonical_digest,
};

use self::accept::{ActivePolicy, RejectedPolicy};
use self::emit::ActionSpec;
use self::entity::{EntityState, kind_name};
use self::release::{
    ApprovalRecord, FindingKey, Gate, OpenFinding, PromotionRecord, Release, SubjectState, applies, covers,
};
use crate::input::{Frontier, Input};
use crate::intel::EpssTable;
use crate::operator::Operator;
use crate::trust::findings::Severity;

/// A decision as a verdict states it: outcome, reasons, policy and evidence digests.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// PASS, WARN or FAIL.
    pub outcome: Outcome,
    /// Why (see [`release::Assessment::explain`] and [`entity::EntityState::explain`]).
    pub reasons: Vec<Reason>,
    /// Digest of the policy in force.
    pub policy_digest: String,
    /// Digest over the inputs that determined it ([`evidence`]).
    pub evidence_digest: String,
    /// The "now" that went into the evidence digest, when a time-based rule was evaluated.
    pub now: Option<EventTime>,
}

/// One tenant's decision state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    /// The policy in force.
    pub policy: ActivePolicy,
    /// Releases `NAME@VERSION`.
    pub releases: BTreeMap<String, Release>,
    /// Promotion subjects `NAME@VERSION@ENVIRONMENT`.
    pub subjects: BTreeMap<String, SubjectState>,
    /// Approvals by subject, then approver.
    pub approvals: BTreeMap<String, BTreeMap<String, ApprovalRecord>>,
    /// Entities by name.
    pub entities: BTreeMap<String, EntityState>,
    /// Release labels by release `NAME@VERSION` (only releases that have some).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, BTreeMap<String, String>>,
    /// How many `Policy` events were not applied.
    pub rejected_policies: u64,
    /// The newest of them, and why.
    pub rejections: Vec<RejectedPolicy>,
}

impl Tenant {
    fn new() -> Tenant {
        Tenant {
            policy: ActivePolicy::builtin(),
            releases: BTreeMap::new(),
            subjects: BTreeMap::new(),
            approvals: BTreeMap::new(),
            entities: BTreeMap::new(),
            labels: BTreeMap::new(),
            rejected_policies: 0,
            rejections: Vec::new(),
        }
    }

    /// What `subject` is evaluated from, at `now`, with the EPSS scores `epss`.
    fn gate<'a>(&'a self, subject: &'a str, now: EventTime, epss: &'a EpssTable) -> Option<Gate<'a>> {
        let state = self.subjects.get(subject)?;
        Some(Gate {
            policy: &self.policy.doc,
            policy_digest: &self.policy.digest,
            subject,
            state,
            release: self.releases.get(&state.release()),
            labels: self.labels.get(&state.release()),
            approvals: self.approvals.get(subject),
            now,
            epss,
        })
    }

    /// The event times after `now` at which `subject`'s time-based rules change state.
    fn boundaries(&self, subject: &str, now: EventTime) -> Vec<EventTime> {
        let Some(s) = self.subjects.get(subject) else { return Vec::new() };
        let gates = &self.policy.doc.release_gates;
        let release = s.release();
        let mut times = Vec::new();
        for r in gates.rules.iter().filter(|r| r.outcome.hides() && applies(&r.environments, &s.environment)) {
            times.extend(r.until);
        }
        for w in gates.freeze_windows.iter().filter(|w| applies(&w.environments, &s.environment)) {
            times.extend([w.from, w.until]);
        }
        times.extend(gates.waivers.iter().filter(|w| covers(w, &s.name, &release)).map(|w| w.expires));
        times.extend(self.approvals.get(subject).into_iter().flat_map(|a| a.values()).filter_map(|r| r.expires));
        times.retain(|t| *t > now);
        times
    }
}

/// The decision operator's state (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DecisionState {
    /// Tenants by name.
    tenants: BTreeMap<String, Tenant>,
    /// The next offset of every topic-partition read.
    frontier: Frontier,
    /// The largest event time applied.
    watermark: Option<EventTime>,
    /// Upcoming time boundaries → (tenant, subject) to re-check when the watermark reaches them.
    #[serde(with = "crate::serde_pairs")]
    boundaries: BTreeMap<EventTime, BTreeSet<(String, String)>>,
    /// The EPSS scores in force (every tenant's).
    #[serde(default)]
    epss: EpssTable,
}

/// The event types the decision operator reads.
pub const INPUTS: &[EventType] = &[
    EventType::Policy,
    EventType::Finding,
    EventType::TrustScore,
    EventType::Approval,
    EventType::PromotionRequest,
    EventType::EpssScores,
    EventType::ReleaseInventory,
];

impl DecisionState {
    /// An empty state: no tenant, the built-in default policy in force for every tenant.
    pub fn new() -> DecisionState {
        DecisionState::default()
    }

    /// The operator's watermark ("now"), once an input was applied.
    pub fn watermark(&self) -> Option<EventTime> {
        self.watermark
    }

    /// The input frontier: what has been applied.
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// A tenant's state, if it has any.
    pub fn tenant(&self, tenant: &str) -> Option<&Tenant> {
        self.tenants.get(tenant)
    }

    /// The digest of the policy in force for `tenant`.
    pub fn policy_digest(&self, tenant: &str) -> String {
        match self.tenants.get(tenant) {
            Some(t) => t.policy.digest.clone(),
            None => ActivePolicy::builtin().digest,
        }
    }

    /// The decision about release subject `NAME@VERSION@ENVIRONMENT` of `tenant` as of the
    /// watermark — what a verdict emitted at this state says (outcome, reasons, digests). `None` for
    /// a subject no promotion was requested for.
    pub fn evaluate_release(&self, tenant: &str, subject: &str) -> Option<Decision> {
        let t = self.tenants.get(tenant)?;
        Some(t.gate(subject, self.watermark?, &self.epss)?.assess().explain())
    }

    /// The decision about entity `entity` of `tenant` (its latest trust score under the policy in
    /// force), or `None` if it has no score.
    pub fn evaluate_entity(&self, tenant: &str, entity: &str) -> Option<Decision> {
        let t = self.tenants.get(tenant)?;
        Some(t.entities.get(entity)?.explain(entity, &t.policy.digest, &t.policy.doc.trust.rules))
    }

    /// Applies one input; returns the verdicts and actions it causes, in order.
    pub fn apply(&mut self, input: &Input<'_>) -> Vec<Event> {
        let event = input.event;
        if !INPUTS.contains(&event.event_type()) || self.frontier.covers(input.topic, input.partition, input.offset) {
            return Vec::new();
        }
        self.frontier.advance(input);
        let cause = event.envelope();
        let before = self.watermark;
        let now = before.map_or(cause.event_time, |w| w.max(cause.event_time));
        self.watermark = Some(now);

        let mut dirty: BTreeSet<(String, String)> = BTreeSet::new();
        let mut promoted: Option<(String, String)> = None;
        let mut entity_out = Vec::new();
        match event {
            Event::Finding(f) => self.on_finding(f, canonical_digest(event), &mut dirty),
            Event::Approval(a) => self.on_approval(a, canonical_digest(event), now, &mut dirty),
            Event::PromotionRequest(p) => {
                let key = self.on_promotion(p, canonical_digest(event), now);
                dirty.insert(key.clone());
                promoted = Some(key);
            }
            Event::Policy(p) => self.on_policy(p, now, &mut dirty, &mut entity_out),
            Event::TrustScore(s) => self.on_score(s, canonical_digest(event), now, &mut entity_out),
            Event::EpssScores(e) => self.on_epss(e, &mut dirty),
            Event::ReleaseInventory(r) => self.on_inventory(r, &mut dirty),
            _ => {}
        }
        if before.is_some_and(|w| now > w) {
            dirty.extend(self.take_due(now).into_values().flatten());
        }

        let mut out = Vec::new();
        for key in &dirty {
            self.decide(key, cause, now, promoted.as_ref() == Some(key), &mut out);
        }
        out.extend(entity_out);
        out
    }

    /// Removes and returns the boundaries at or before `now`.
    fn take_due(&mut self, now: EventTime) -> BTreeMap<EventTime, BTreeSet<(String, String)>> {
        match now.as_micros().checked_add(1) {
            Some(next) => {
                let later = self.boundaries.split_off(&EventTime::from_micros(next));
                std::mem::replace(&mut self.boundaries, later)
            }
            None => std::mem::take(&mut self.boundaries),
        }
    }

    /// Schedules re-checks of `subject` at its upcoming time boundaries.
    fn schedule(&mut self, tenant: &str, subject: &str, now: EventTime) {
        let Some(t) = self.tenants.get(tenant) else { return };
        for at in t.boundaries(subject, now) {
            self.boundaries.entry(at).or_default().insert((tenant.to_string(), subject.to_string()));
        }
    }

    fn tenant_mut(&mut self, tenant: &str) -> &mut Tenant {
        self.tenants.entry(tenant.to_string()).or_insert_with(Tenant::new)
    }

    fn on_finding(&mut self, f: &Finding, digest: [u8; 32], dirty: &mut BTreeSet<(String, String)>) {
        let tenant = &*f.envelope.tenant;
        let release_key = format!("{}@{}", f.release_name, f.release_version);
        let t = self.tenant_mut(tenant);
        let key = FindingKey {
            advisory: f.vulnerability().to_string(),
            purl: f.purl.to_string(),
            environment: text(&f.environment),
        };
        let changed = match f.change {
            FindingChange::Opened => {
                let release = t.releases.entry(release_key.clone()).or_default();
                let open = OpenFinding {
                    digest,
                    aliases: f.aliases.iter().map(|a| a.to_string()).collect(),
                    severity_text: text(&f.severity),
                    severity: Severity::read(f.severity.as_deref()),
                    vex_status: f.vex_status,
                    known_exploited: f.known_exploited,
                    fixed_versions: f.fixed_versions.iter().map(|v| v.to_string()).collect(),
                    cves: f.cves.iter().map(|c| c.to_string()).collect(),
                    exploited_ids: f.exploited_ids.iter().map(|c| c.to_string()).collect(),
                    ecosystem: f.ecosystem.to_string(),
                    package: f.package_name.to_string(),
                    vex_justification: f.vex_justification,
                    vex_votes: f.vex_votes.clone(),
                    scope: text(&f.scope),
                    direct: f.direct,
                    licenses: f.licenses.iter().map(|l| l.to_string()).collect(),
                    cwes: f.cwes.iter().filter_map(|c| crate::policy::Cwe::parse(c)).collect(),
                    advisory: if *f.advisory_id == *f.vulnerability() {
                        String::new()
                    } else {
                        f.advisory_id.to_string()
                    },
                    sources: if f.sources.len() == 1 && *f.sources[0].advisory_id == *f.advisory_id {
                        Vec::new()
                    } else {
                        f.sources.iter().map(|s| s.advisory_id.to_string()).collect()
                    },
                };
                release.findings.insert(key, open).is_none_or(|old| old.digest != digest)
            }
            FindingChange::Closed => {
                let Some(release) = t.releases.get_mut(&release_key) else { return };
                let removed = release.findings.remove(&key).is_some();
                if release.findings.is_empty() && release.environments.is_empty() {
                    t.releases.remove(&release_key);
                }
                removed
            }
        };
        if !changed {
            return;
        }
        if let Some(r) = t.releases.get(&release_key) {
            for env in &r.environments {
                dirty.insert((tenant.to_string(), format!("{release_key}@{env}")));
            }
        }
    }

    /// Sets the labels of the inventory's release; re-checks the release's subjects when they
    /// changed and the tenant's policy has a rule with a `labels` condition.
    fn on_inventory(&mut self, r: &ReleaseInventory, dirty: &mut BTreeSet<(String, String)>) {
        let tenant = &*r.envelope.tenant;
        let release_key = format!("{}@{}", r.release_name, r.release_version);
        let t = self.tenant_mut(tenant);
        let changed = if r.labels.is_empty() {
            t.labels.remove(&release_key).is_some()
        } else {
            t.labels.insert(release_key.clone(), r.labels.clone()).as_ref() != Some(&r.labels)
        };
        if !changed || !t.policy.doc.release_gates.rules.iter().any(|rule| !rule.labels.is_empty()) {
            return;
        }
        if let Some(release) = t.releases.get(&release_key) {
            for env in &release.environments {
                dirty.insert((tenant.to_string(), format!("{release_key}@{env}")));
            }
        }
    }

    /// Applies a day's EPSS scores; re-checks the subjects of tenants whose policy has an EPSS
    /// condition for their environment and whose release has a finding with a changed score.
    fn on_epss(&mut self, e: &EpssScores, dirty: &mut BTreeSet<(String, String)>) {
        let changed: BTreeSet<String> = self.epss.apply(e).into_iter().collect();
        if changed.is_empty() {
            return;
        }
        for (tenant, t) in &self.tenants {
            let gates = &t.policy.doc.release_gates;
            if !gates.rules.iter().any(|r| r.uses_epss()) {
                continue;
            }
            for (subject, s) in &t.subjects {
                if !release::rules_use_epss(gates, &s.environment) {
                    continue;
                }
                let touched = t
                    .releases
                    .get(&s.release())
                    .is_some_and(|r| r.findings.values().any(|f| f.cves.iter().any(|c| changed.contains(c))));
                if touched {
                    dirty.insert((tenant.clone(), subject.clone()));
                }
            }
        }
    }

    fn on_approval(&mut self, a: &Approval, digest: [u8; 32], now: EventTime, dirty: &mut BTreeSet<(String, String)>) {
        let tenant = &*a.envelope.tenant;
        let t = self.tenant_mut(tenant);
        let by_approver = t.approvals.entry(a.subject.clone()).or_default();
        if by_approver.get(&a.approver).is_some_and(|r| r.at > a.envelope.event_time) {
            return; // an older event than the one in force for this approver
        }
        let record = ApprovalRecord {
            decision: a.decision,
            expires: a.expires,
            at: a.envelope.event_time,
            event_id: a.envelope.event_id.to_string(),
            digest,
        };
        if by_approver.insert(a.approver.clone(), record.clone()).as_ref() == Some(&record) {
            return;
        }
        if t.subjects.contains_key(&a.subject) {
            dirty.insert((tenant.to_string(), a.subject.clone()));
            if let Some(e) = a.expires.filter(|e| *e > now) {
                self.boundaries.entry(e).or_default().insert((tenant.to_string(), a.subject.clone()));
            }
        }
    }

    /// Records the request; returns its (tenant, subject).
    fn on_promotion(&mut self, p: &PromotionRequest, digest: [u8; 32], now: EventTime) -> (String, String) {
        let tenant = p.envelope.tenant.to_string();
        let release_key = format!("{}@{}", p.release_name, p.release_version);
        let subject = format!("{release_key}@{}", p.to_environment);
        let t = self.tenant_mut(&tenant);
        t.releases.entry(release_key).or_default().environments.insert(p.to_environment.clone());
        let record = PromotionRecord {
            event_id: p.envelope.event_id.to_string(),
            digest,
            from_environment: p.from_environment.clone(),
            requested_by: p.requested_by.clone(),
        };
        match t.subjects.get_mut(&subject) {
            Some(s) => s.promotion = Some(record),
            None => {
                t.subjects.insert(
                    subject.clone(),
                    SubjectState {
                        name: p.release_name.clone(),
                        version: p.release_version.clone(),
                        environment: p.to_environment.clone(),
                        last: None,
                        promotion: Some(record),
                        promoted: false,
                        regressed: BTreeMap::new(),
                    },
                );
                self.schedule(&tenant, &subject, now);
            }
        }
        (tenant, subject)
    }

    fn on_policy(&mut self, p: &Policy, now: EventTime, dirty: &mut BTreeSet<(String, String)>, out: &mut Vec<Event>) {
        let tenant = p.envelope.tenant.to_string();
        let t = self.tenant_mut(&tenant);
        match t.policy.accept(p) {
            Err(reason) => {
                t.rejected_policies += 1;
                RejectedPolicy::of(p, reason).keep(&mut t.rejections);
            }
            Ok(policy) => {
                t.policy = policy;
                let subjects: Vec<String> = t.subjects.keys().cloned().collect();
                let entities: Vec<String> = t.entities.keys().cloned().collect();
                for s in subjects {
                    self.schedule(&tenant, &s, now);
                    dirty.insert((tenant.clone(), s));
                }
                for e in entities {
                    self.step_entity(&tenant, &e, &p.envelope, now, out);
                }
            }
        }
    }

    fn on_score(&mut self, s: &TrustScore, digest: [u8; 32], now: EventTime, out: &mut Vec<Event>) {
        let t = self.tenant_mut(&s.envelope.tenant);
        let fresh = EntityState {
            score: s.score,
            at: s.envelope.event_time,
            event_id: s.envelope.event_id.to_string(),
            digest,
            features: s.features.clone(),
            active: BTreeMap::new(),
            last: None,
        };
        match t.entities.get_mut(&s.entity) {
            Some(e) if e.at > s.envelope.event_time => return, // older than the latest score
            Some(e) => {
                e.score = fresh.score;
                e.at = fresh.at;
                e.event_id = fresh.event_id;
                e.digest = fresh.digest;
                e.features = fresh.features;
            }
            None => {
                t.entities.insert(s.entity.clone(), fresh);
            }
        }
        self.step_entity(&s.envelope.tenant, &s.entity, &s.envelope, now, out);
    }

    /// Applies the trust rules to an entity's standing score; emits its verdict (if the outcome
    /// changed, or on its first evaluation) and then the actions.
    fn step_entity(&mut self, tenant: &str, entity: &str, cause: &Envelope, now: EventTime, out: &mut Vec<Event>) {
        let Some(t) = self.tenants.get_mut(tenant) else { return };
        let Tenant { policy, entities, .. } = t;
        let Some(e) = entities.get_mut(entity) else { return };
        let transitions = e.step(entity, &policy.doc.trust.rules, cause);
        let outcome = e.outcome();
        if e.last != Some(outcome) {
            let d = e.explain(entity, &policy.digest, &policy.doc.trust.rules);
            out.push(emit::verdict(cause, now, entity, SubjectKind::Entity, e.last, d, &self.frontier));
            e.last = Some(outcome);
        }
        let target = format!("entity:{entity}");
        for tr in transitions {
            out.push(emit::action(
                cause,
                now,
                ActionSpec {
                    subject: entity,
                    action_id: &tr.action_id,
                    kind: tr.kind,
                    target: target.clone(),
                    revert: tr.revert,
                    cause_event_id: cause.event_id.to_string(),
                    reason: tr.reason,
                    workflow: tr.workflow,
                },
            ));
        }
    }

    /// Re-evaluates a release subject; emits a verdict if its outcome changed (always, with the
    /// promotion action, when `promotion` is set).
    fn decide(
        &mut self,
        key: &(String, String),
        cause: &Envelope,
        now: EventTime,
        promotion: bool,
        out: &mut Vec<Event>,
    ) {
        let (tenant, subject) = key;
        let Some(t) = self.tenants.get_mut(tenant) else { return };
        let (decision, previous) = {
            let Some(gate) = t.gate(subject, now, &self.epss) else { return };
            let a = gate.assess();
            if !promotion && Some(a.outcome) == gate.state.last {
                return;
            }
            (a.explain(), gate.state.last)
        };
        let Some(s) = t.subjects.get_mut(subject) else { return };
        s.last = Some(decision.outcome);
        let outcome = decision.outcome;
        let why = decision.reasons.first().map(|r| r.message.clone()).unwrap_or_default();
        out.push(emit::verdict(cause, now, subject, SubjectKind::Release, previous, decision, &self.frontier));
        let policy = regression::PolicyLabel::of(&t.policy);
        let change = regression::Change { tenant, subject, previous, outcome, why: &why, policy };
        if !promotion {
            regression::step(s, &t.policy.doc.release_gates.regressions, &change, cause, now, out);
            return;
        }
        // A promotion's verdict ends the regressions whose outcomes it leaves (lifting their
        // blocks) as any verdict does; it fires none: it is the new promotion's start.
        regression::step(s, &[], &change, cause, now, out);
        s.promoted = outcome != Outcome::Fail;
        let Some(p) = &s.promotion else { return };
        let release = s.release();
        let action_id = trustloop_schemas::derive_event_id(
            "promotion-action",
            &[tenant.as_bytes(), subject.as_bytes(), p.event_id.as_bytes()],
        )
        .to_string();
        let kind = if outcome == Outcome::Fail { ActionKind::BlockPromotion } else { ActionKind::Promote };
        let label = match outcome {
            Outcome::Pass => "PASS",
            Outcome::Warn => "WARN",
            Outcome::Fail => "FAIL",
        };
        let reason = format!(
            "{} {release} from {} to {}: verdict {label} under policy `{}` version {} ({}); requested by {}",
            kind_name(kind),
            p.from_environment,
            s.environment,
            t.policy.doc.name,
            t.policy.version,
            t.policy.digest,
            p.requested_by
        );
        out.push(emit::action(
            cause,
            now,
            ActionSpec {
                subject,
                action_id: &action_id,
                kind,
                target: format!("release:{release}"),
                revert: false,
                cause_event_id: p.event_id.clone(),
                reason,
                workflow: None,
            },
        ));
    }
}

/// Format version of this operator's snapshots (see [`crate::operator::Snapshot`]).
pub const SNAPSHOT_VERSION: u32 = 1;

impl Operator for DecisionState {
    fn name(&self) -> &'static str {
        "decision"
    }

    fn inputs(&self) -> &'static [EventType] {
        INPUTS
    }

    fn outputs(&self) -> &'static [EventType] {
        &[EventType::Verdict, EventType::EnforcementAction]
    }

    fn apply(&mut self, input: &Input<'_>) -> Vec<Event> {
        DecisionState::apply(self, input)
    }

    /// Findings, promotion requests and inventories by release `NAME@VERSION`, trust scores by entity; approvals
    /// (per subject, a release in an environment) and policies in full.
    fn partitioning(&self) -> crate::operator::Partitioning {
        crate::operator::Partitioning::Keyed(&[
            EventType::Finding,
            EventType::PromotionRequest,
            EventType::TrustScore,
            EventType::ReleaseInventory,
        ])
    }

    fn partition_key(&self, event: &Event) -> Option<String> {
        match event {
            Event::Finding(f) => Some(format!("{}@{}", f.release_name, f.release_version)),
            Event::PromotionRequest(p) => Some(format!("{}@{}", p.release_name, p.release_version)),
            Event::ReleaseInventory(r) => Some(format!("{}@{}", r.release_name, r.release_version)),
            Event::TrustScore(s) => Some(s.entity.clone()),
            _ => None,
        }
    }

    fn snapshot(&self) -> Option<crate::operator::Snapshot> {
        crate::operator::Snapshot::json(SNAPSHOT_VERSION, self)
    }

    fn restore(&mut self, snapshot: &crate::operator::Snapshot) -> Result<(), crate::operator::SnapshotError> {
        *self = snapshot.from_json::<DecisionState>("decision", SNAPSHOT_VERSION)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;

/// An optional shared string as an owned one (the state keeps owned strings).
fn text(t: &Option<trustloop_schemas::Text>) -> Option<String> {
    t.as_deref().map(str::to_string)
}
