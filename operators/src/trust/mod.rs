//! The trust scoring operator: telemetry, finding deltas and policies in; `TrustScore` events out.
//!
//! State is per tenant: the policy in force (the built-in default until a `Policy` event of the
//! tenant is applied), the entities, and the open findings of each release. Per entity (the
//! `entity` of its telemetry):
//!
//! * **Clock.** The entity's clock is the newest event time of its telemetry; its score is always
//!   evaluated as of that clock. No wall clock is read anywhere.
//! * **Telemetry features.** A sample's `kind` selects a feature (policy `trust.features`). In `sum`
//!   mode values add up and decay exponentially with the feature's half-life. A *late* sample (older
//!   than what the feature has seen) still counts: its value is decayed by its age relative to the
//!   feature's newest time and added there, which equals what in-order arrival would have given. In
//!   `last` mode the newest sample's value replaces the value; an older sample is ignored. Values
//!   must be finite and >= 0 (other samples only advance the clock).
//! * **Missed heartbeats.** Once an entity has sent a sample of the heartbeat kind, each full
//!   interval without one is a miss, counted at each event of the entity (so at its clock). Misses of
//!   a gap that a heartbeat closed decay with the heartbeat half-life. A late heartbeat (not newer than
//!   the newest) changes nothing.
//! * **Findings.** A sample with attribute `release` = `NAME@VERSION` says which release the entity
//!   runs (the newest such sample wins). `Finding` deltas keep the open findings per release, counted
//!   per severity band when their status after VEX is affected or under_investigation; findings do not
//!   decay. A finding delta re-scores every entity running that release (at their own clocks).
//! * **Score** = 100 − Σ contributions, clamped to 0..100; contribution = weight × value, capped.
//! * **Emission.** A `TrustScore` is emitted when |score − last emitted| >= `trust.step`, and always
//!   for an entity's first evaluation. Its id derives from the causing event, the tenant and the
//!   entity; its event time is the entity clock.
//! * **Policies.** A `Policy` event (YAML document, digest verified, version newer than the one in
//!   force for the same name) switches the tenant's weights; features are carried over by name, and
//!   every entity is re-scored (emitting where the step is reached). A policy that is invalid, whose
//!   digest does not match or that is not newer is not applied: the one in force stays, and the
//!   rejection is kept in [`TenantState::rejected_policies`] for a runtime to report.
//!
//! The state is `Serialize`/`Deserialize` (ordered maps only) so a runtime can checkpoint it;
//! restoring a snapshot mid-stream gives byte-identical outputs.

pub mod entity;
pub mod findings;
pub mod model;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use trustloop_schemas::{
    Envelope, Event, EventTime, EventType, Feature, Finding, Policy, Telemetry, TrustScore, derive_event_id,
};

use crate::policy::{self, PolicyDoc};
pub use entity::{EntityState, decay, missed};
pub use findings::ReleaseFindings;
pub use model::TrustModel;

/// The `source` of emitted `TrustScore` events.
pub const SOURCE: &str = "trustloop.trust";

/// One tenant's trust state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantState {
    /// The policy in force, compiled.
    pub model: TrustModel,
    /// Entities by name.
    pub entities: BTreeMap<String, EntityState>,
    /// Open findings by release (`NAME@VERSION`).
    pub releases: BTreeMap<String, ReleaseFindings>,
    /// Entities by the release they run.
    pub running: BTreeMap<String, BTreeSet<String>>,
    /// The newest `Policy` events that were not applied (at most [`REJECTIONS_KEPT`]), for a runtime
    /// to report.
    pub rejected_policies: Vec<RejectedPolicy>,
}

impl TenantState {
    fn new(model: TrustModel) -> Self {
        TenantState {
            model,
            entities: BTreeMap::new(),
            releases: BTreeMap::new(),
            running: BTreeMap::new(),
            rejected_policies: Vec::new(),
        }
    }
}

/// The trust operator's state (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustState {
    /// The built-in default policy, compiled (the model of tenants without a policy).
    default: TrustModel,
    /// Tenants by name.
    tenants: BTreeMap<String, TenantState>,
}

impl Default for TrustState {
    fn default() -> Self {
        Self::new()
    }
}

impl TrustState {
    /// An empty state with the built-in default policy in force.
    pub fn new() -> Self {
        TrustState { default: TrustModel::new(&policy::default_policy(), 0), tenants: BTreeMap::new() }
    }

    /// A tenant's state, if it has any.
    pub fn tenant(&self, tenant: &str) -> Option<&TenantState> {
        self.tenants.get(tenant)
    }

    /// The policy model in force for `tenant`.
    pub fn model(&self, tenant: &str) -> &TrustModel {
        self.tenants.get(tenant).map_or(&self.default, |t| &t.model)
    }

    /// The current score of an entity (as of its clock), whether or not it was emitted.
    pub fn score(&self, tenant: &str, entity: &str) -> Option<f64> {
        let ts = self.tenants.get(tenant)?;
        let e = ts.entities.get(entity)?;
        let counts = e.release.as_ref().and_then(|r| ts.releases.get(r)).map(ReleaseFindings::counts);
        Some(e.score(&ts.model, counts, |_, _, _, _| {}))
    }

    /// Processes one event; returns the `TrustScore`s it causes (empty for other event types).
    pub fn apply(&mut self, event: &Event) -> Vec<TrustScore> {
        let mut out = Vec::new();
        match event {
            Event::Telemetry(t) => self.apply_telemetry(t, &mut out),
            Event::Finding(f) => self.apply_finding(f, &mut out),
            Event::Policy(p) => self.apply_policy(p, &mut out),
            _ => {}
        }
        out
    }

    /// The tenant's state, created (with the default policy) when missing. `None` never happens.
    fn tenant_mut(&mut self, tenant: &str) -> Option<&mut TenantState> {
        if !self.tenants.contains_key(tenant) {
            self.tenants.insert(tenant.to_string(), TenantState::new(self.default.clone()));
        }
        self.tenants.get_mut(tenant)
    }

    fn apply_telemetry(&mut self, t: &Telemetry, out: &mut Vec<TrustScore>) {
        let at = t.envelope.event_time.as_micros();
        let Some(ts) = self.tenant_mut(&t.envelope.tenant) else { return };
        let TenantState { model, entities, releases, running, .. } = ts;
        if !entities.contains_key(t.entity.as_str()) {
            entities.insert(t.entity.clone(), EntityState::new(at, model));
        }
        let Some(e) = entities.get_mut(t.entity.as_str()) else { return };
        e.clock = e.clock.max(at);
        if let Some(release) = t.attributes.get("release") {
            note_release(e, &t.entity, release, at, running);
        }
        if t.kind == model.heartbeat.kind {
            match &mut e.heartbeat {
                Some(hb) => hb.beat(at, &model.heartbeat),
                None => e.heartbeat = Some(entity::HeartbeatState::new(at)),
            }
        }
        if let Some(&i) = model.kinds.get(t.kind.as_str())
            && t.value.is_finite()
            && t.value >= 0.0
            && let (Some(f), Some(state)) = (model.features.get(i), e.features.get_mut(i))
        {
            state.sample(at, t.value, f.half_life, f.mode);
        }
        let counts = e.release.as_ref().and_then(|r| releases.get(r)).map(ReleaseFindings::counts);
        if let Some(s) = evaluate(model, &t.envelope, &t.entity, e, counts) {
            out.push(s);
        }
    }

    fn apply_finding(&mut self, f: &Finding, out: &mut Vec<TrustScore>) {
        let release = format!("{}@{}", f.release_name, f.release_version);
        let Some(ts) = self.tenant_mut(&f.envelope.tenant) else { return };
        let TenantState { model, entities, releases, running, .. } = ts;
        let rf = releases.entry(release.clone()).or_default();
        let changed = rf.apply(f, &model.severity);
        let counts = *rf.counts();
        if rf.is_empty() {
            releases.remove(&release);
        }
        if !changed {
            return;
        }
        for name in running.get(&release).into_iter().flatten() {
            if let Some(e) = entities.get_mut(name)
                && let Some(s) = evaluate(model, &f.envelope, name, e, Some(&counts))
            {
                out.push(s);
            }
        }
    }

    fn apply_policy(&mut self, p: &Policy, out: &mut Vec<TrustScore>) {
        let accepted = accept_policy(p, self.model(&p.envelope.tenant));
        let Some(ts) = self.tenant_mut(&p.envelope.tenant) else { return };
        let doc = match accepted {
            Ok(doc) => doc,
            Err(reason) => {
                RejectedPolicy::of(p, reason).keep(&mut ts.rejected_policies);
                return;
            }
        };
        let new = TrustModel::new(&doc, p.version);
        let TenantState { model, entities, releases, .. } = ts;
        for e in entities.values_mut() {
            e.realign(model, &new);
        }
        *model = new;
        for rf in releases.values_mut() {
            rf.recount(&model.severity);
        }
        for (name, e) in entities.iter_mut() {
            let counts = e.release.as_ref().and_then(|r| releases.get(r)).map(ReleaseFindings::counts);
            if let Some(s) = evaluate(model, &p.envelope, name, e, counts) {
                out.push(s);
            }
        }
    }
}

/// Records the release an entity runs (the newest sample naming one wins).
fn note_release(
    e: &mut EntityState,
    entity: &str,
    release: &str,
    at: i64,
    running: &mut BTreeMap<String, BTreeSet<String>>,
) {
    if e.release.as_deref() == Some(release) {
        e.release_as_of = e.release_as_of.max(at);
        return;
    }
    if at < e.release_as_of {
        return;
    }
    // Not NAME@VERSION: ignored (the entity keeps the release it had).
    if !release.rsplit_once('@').is_some_and(|(n, v)| !n.is_empty() && !v.is_empty()) {
        return;
    }
    if let Some(old) = e.release.take()
        && let Some(set) = running.get_mut(&old)
    {
        set.remove(entity);
        if set.is_empty() {
            running.remove(&old);
        }
    }
    running.entry(release.to_string()).or_default().insert(entity.to_string());
    e.release = Some(release.to_string());
    e.release_as_of = at;
}

pub use crate::policy::accept::{REJECTIONS_KEPT, RejectedPolicy};

/// The parsed document of a `Policy` event, if it is to be applied over `current` (the shared rules
/// of [`crate::policy::accept`]), else why not.
fn accept_policy(p: &Policy, current: &TrustModel) -> Result<PolicyDoc, String> {
    crate::policy::accept::accept(p, (current.version > 0).then_some((current.name.as_str(), current.version)))
}

/// Scores `e` and returns a `TrustScore` when the step is reached (or on its first evaluation).
fn evaluate(
    model: &TrustModel,
    cause: &Envelope,
    entity: &str,
    e: &mut EntityState,
    counts: Option<&[u32; 5]>,
) -> Option<TrustScore> {
    let score = e.score(model, counts, |_, _, _, _| {});
    if let Some(last) = e.last_emitted
        && (score - last).abs() < model.step
    {
        return None;
    }
    let mut features = Vec::with_capacity(model.features.len() + 6);
    e.score(model, counts, |name, value, weight, contribution| {
        features.push(Feature { name: name.to_string(), value, weight, contribution })
    });
    let previous = e.last_emitted.replace(score);
    Some(TrustScore {
        envelope: Envelope {
            event_id: derive_event_id(
                "trust-score",
                &[cause.event_id.0.as_bytes(), cause.tenant.as_bytes(), entity.as_bytes()],
            ),
            tenant: cause.tenant.clone(),
            key: entity.into(),
            event_time: EventTime::from_micros(e.clock),
            source: SOURCE.into(),
            schema_version: EventType::TrustScore.schema_version(),
        },
        entity: entity.to_string(),
        score,
        previous,
        features,
        policy_digest: model.digest.clone(),
    })
}

#[cfg(test)]
mod tests;

/// Format version of this operator's snapshots (see [`crate::operator::Snapshot`]).
pub const SNAPSHOT_VERSION: u32 = 1;

impl crate::operator::Operator for TrustState {
    fn name(&self) -> &'static str {
        "trust"
    }

    fn inputs(&self) -> &'static [trustloop_schemas::EventType] {
        use trustloop_schemas::EventType;
        &[EventType::Policy, EventType::Finding, EventType::Telemetry]
    }

    fn outputs(&self) -> &'static [trustloop_schemas::EventType] {
        &[trustloop_schemas::EventType::TrustScore]
    }

    fn apply(&mut self, input: &crate::input::Input<'_>) -> Vec<Event> {
        TrustState::apply(self, input.event).into_iter().map(Event::TrustScore).collect()
    }

    /// Telemetry by entity; findings (per release, which any entity may run) and policies in full.
    fn partitioning(&self) -> crate::operator::Partitioning {
        crate::operator::Partitioning::Keyed(&[trustloop_schemas::EventType::Telemetry])
    }

    fn partition_key(&self, event: &Event) -> Option<String> {
        match event {
            Event::Telemetry(t) => Some(t.entity.clone()),
            _ => None,
        }
    }

    fn snapshot(&self) -> Option<crate::operator::Snapshot> {
        crate::operator::Snapshot::json(SNAPSHOT_VERSION, self)
    }

    fn restore(&mut self, snapshot: &crate::operator::Snapshot) -> Result<(), crate::operator::SnapshotError> {
        *self = snapshot.from_json::<TrustState>("trust", SNAPSHOT_VERSION)?;
        Ok(())
    }
}
