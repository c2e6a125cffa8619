//! The findings operator: impact selection ([`crate::impact`]) with VEX consensus
//! ([`crate::vex`]) and alias unification on top.
//!
//! The impact operator decides *whether* an advisory matches a component of a release; this layer
//! decides *what the VEX statements say about it* and completes each finding delta with its status
//! after VEX (with justification, the statements counted, every issuer's vote and whether they
//! conflict). What the advisory itself says — known exploited, fixed versions — impact fills in (and
//! re-emits the open findings when it changes).
//!
//! Alias groups join the advisories' own aliases and the VEX statements' (CVE ↔ GHSA ↔ RUSTSEC ↔
//! PYSEC ↔ GO ↔ vendor ids), so a statement about a CVE applies to the finding of an aliasing
//! RUSTSEC advisory. Re-evaluation is incremental:
//! * a VEX statement re-evaluates the open findings of the advisories in its vulnerability's group;
//! * an advisory whose aliases change re-evaluates the open findings of its old and new groups;
//! * a policy (issuer weights, `vex` section) re-evaluates the tenant's open findings.
//!
//! Whenever a finding's VEX view changes, an `opened` delta with the new view is emitted for the
//! still-open finding (an update: the finding key — release, environment, vulnerability, purl — is
//! the same), caused by the statement, advisory or policy that changed it.
//!
//! **One finding per vulnerability** (`findings/merge.rs`). Impact selection decides per source advisory;
//! the findings it emits are those of vulnerabilities: a release's component affected by one alias
//! group gets one finding, however many advisories publish it (OSV records of RustSec, GitHub,
//! PyPA, Go, AlmaLinux…, CSAF advisories). Its identity is (release, environment, vulnerability,
//! purl); the vulnerability (`vulnerability_id`) is the group's lowest CVE id, else its lowest id.
//! It lists every advisory of the group that affects the component (`sources`: database, advisory
//! and document id, modified time, document digest), ordered by the policy's source precedence
//! ([`crate::policy::SourcesPolicy`]: by default the distribution's own advisories for a
//! distribution package, the ecosystem's database for a language package), and carries the first
//! one's facts (`advisory_id`, aliases, severity, proof, fixed versions, distribution release); the
//! aliases, CWE ids, CVEs, catalog listings, known-exploited flag and EPSS score are those of all
//! its sources together. What the sources disagree on is listed (`disagreements`, `advisory=value`
//! in precedence order): severity and fixed versions among the sources, which versions are affected
//! (a member of the group that names the package but not this version), and withdrawals (a member
//! that names the package and was withdrawn). A source withdrawing or deleting its advisory leaves
//! the finding open with the others (an update); the last one closes it. When a group gains or
//! loses an advisory or an alias, its findings are re-emitted, and those whose name changed are
//! closed under the old name and opened under the new one, in the same batch. Disagreements are
//! recomputed whenever a finding is emitted (a member's change that touches none of its findings
//! does not re-emit them).
//!
//! Exploitation intelligence ([`crate::intel`]): every finding carries the CVEs of its
//! vulnerability (its advisory's alias group, and the upstream CVEs a distribution advisory fixes),
//! those of them a known-exploited catalog lists, and the highest EPSS score among them. A
//! `KnownExploited` event that lists or drops a CVE re-emits the open findings of every advisory
//! whose vulnerability has it, as updates caused by that event, `known_exploited` set while any of
//! its CVEs is listed (or the advisory itself says so). EPSS scores are carried as in force when a
//! finding is emitted; a new day's scores re-emit nothing (the decision operator reads the scores
//! itself, so a verdict always uses the scores in force).
//!
//! Component and advisory context: every finding carries its component's scope, directness and
//! licences as the release's latest inventory gives them, and the CWE ids its advisory names —
//! the impact operator keeps them with the component and the advisory, and re-emits a finding
//! when they change (a re-imported inventory, an advisory upsert).
//!
//! Memory: the layer stores a view only for the open findings some statement touched; everything
//! else it needs to re-emit a finding is rebuilt from the impact operator's interned state.

mod merge;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use trustloop_schemas::{Advisory, AdvisoryChange, Event, EventType, Finding, FindingChange, Texts, derive_event_id};

use crate::decision::accept::ActivePolicy;
use crate::impact::fx::FxHashMap;
use crate::impact::{ImpactState, PackageKey};
use crate::input::Input;
use crate::intel::{Intel, upstream_cves, vulnerability_cves};
use crate::operator::Operator;
use crate::purl::Purl;
use crate::vex::{Consensus, IssuerTrust, Subject, VexIndex, id_key};

/// An open finding within its advisory (or vulnerability): release name, version, environment, purl.
type OpenKey = (String, String, Option<String>, String);

/// The VEX view last emitted for an open finding. Only findings some statement touched have one
/// stored: every other open finding has the default view (affected, no votes), and the finding
/// itself is rebuilt from the impact operator's interned state when it must be re-emitted — so the
/// layer costs nothing per finding until VEX speaks about it.
#[derive(Debug, Clone, Default, PartialEq)]
struct View {
    status: Option<trustloop_schemas::VexStatus>,
    justification: Option<trustloop_schemas::VexJustification>,
    statement_ids: Vec<String>,
    votes: Vec<String>,
    conflict: bool,
}

impl View {
    fn of(f: &Finding) -> View {
        View {
            status: (f.vex_status != trustloop_schemas::VexStatus::Affected).then_some(f.vex_status),
            justification: f.vex_justification,
            statement_ids: f.vex_statement_ids.clone(),
            votes: f.vex_votes.clone(),
            conflict: f.vex_conflict,
        }
    }

    fn is_default(&self) -> bool {
        *self == View::default()
    }

    fn apply_to(&self, f: &mut Finding) {
        f.vex_status = self.status.unwrap_or(trustloop_schemas::VexStatus::Affected);
        f.vex_justification = self.justification;
        f.vex_statement_ids = self.statement_ids.clone();
        f.vex_votes = self.votes.clone();
        f.vex_conflict = self.conflict;
    }
}

/// The findings operator's state (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct FindingsState {
    impact: ImpactState,
    vex: VexIndex,
    /// The aliases of each advisory (as its last upsert gives them).
    advisories: BTreeMap<String, Vec<String>>,
    /// The non-default VEX views of open findings, by advisory id.
    views: BTreeMap<String, BTreeMap<OpenKey, View>>,
    /// The policy in force per tenant (its `vex` section weighs issuers).
    policies: BTreeMap<String, ActivePolicy>,
    /// The issuer trust of each tenant's policy.
    trusts: BTreeMap<String, IssuerTrust>,
    /// Advisory ids by their id key (as alias groups name them).
    by_key: BTreeMap<String, BTreeSet<String>>,
    /// Known-exploited catalogs and EPSS scores.
    intel: Intel,
    /// The upstream CVEs of each advisory that has some (id keys).
    upstream: BTreeMap<String, Vec<String>>,
    /// Advisory ids by the upstream CVEs they name.
    by_upstream: BTreeMap<String, BTreeSet<String>>,
    /// What each advisory's open findings carry of the intelligence (non-default only; looked up
    /// for every delta, hence hashed).
    intel_of: FxHashMap<String, AdvisoryIntel>,
    /// The vulnerability of each advisory: its alias group's name and the advisories in it.
    /// With it, the advisory as a finding's source (shared by the findings it alone holds): one
    /// lookup per run of an advisory's deltas.
    vulns: FxHashMap<String, merge::Known>,
}

/// What a vulnerability's findings carry of the exploitation intelligence (EPSS aside).
#[derive(Debug, Clone, Default, PartialEq)]
struct AdvisoryIntel {
    /// The vulnerability's CVEs (as id keys, ascending).
    cves: Texts,
    /// Those listed as known exploited.
    exploited: Texts,
}

/// One advisory's intelligence and its highest EPSS score (score, percentile), for a run of deltas.
type IntelRun<'a> = (Option<&'a AdvisoryIntel>, Option<(f64, f64)>);

impl AdvisoryIntel {
    fn is_default(&self) -> bool {
        self.cves.is_empty() && self.exploited.is_empty()
    }
}

/// The issuer trust of a policy's `vex` section.
fn trust_from(vex: &crate::policy::model::VexPolicy) -> IssuerTrust {
    IssuerTrust { weights: vex.issuers.clone(), default_weight: vex.default_issuer_weight, min_weight: vex.min_weight }
}

/// The issuer trust of the default policy (computed once).
fn default_trust() -> &'static IssuerTrust {
    static DEFAULT: std::sync::OnceLock<IssuerTrust> = std::sync::OnceLock::new();
    DEFAULT.get_or_init(|| trust_from(&crate::policy::default_policy().vex))
}

impl FindingsState {
    /// The impact operator underneath (for its indexes and open findings).
    pub fn impact(&self) -> &ImpactState {
        &self.impact
    }

    /// The VEX statements and alias groups known so far.
    pub fn vex(&self) -> &VexIndex {
        &self.vex
    }

    /// The known-exploited catalogs and EPSS scores known so far.
    pub fn intel(&self) -> &Intel {
        &self.intel
    }

    /// The issuer trust in force for `tenant`.
    fn trust_for(&self, tenant: &str) -> &IssuerTrust {
        self.trusts.get(tenant).unwrap_or_else(|| default_trust())
    }

    /// Every open finding with its VEX view, in advisory then key order (rebuilt: for listing).
    pub fn open_findings(&self) -> Vec<Finding> {
        let listing = trustloop_schemas::Envelope {
            event_id: derive_event_id("findings-listing", &[]),
            tenant: "".into(),
            key: "".into(),
            event_time: trustloop_schemas::EventTime::from_micros(0),
            source: "trustloop.findings".into(),
            schema_version: EventType::Finding.schema_version(),
        };
        let mut out = Vec::new();
        for id in self.advisories.keys() {
            for mut f in self.impact.open_finding_events_of(id, &listing) {
                if let Some(v) = self.views.get(id).and_then(|m| m.get(&open_key(&f))) {
                    v.apply_to(&mut f);
                }
                self.intel_into(&mut f);
                out.push(f);
            }
        }
        self.merge(out, Vec::new(), &BTreeSet::new())
    }

    /// Applies one event; returns the finding deltas it causes.
    pub fn apply_event(&mut self, event: &Event) -> Vec<Finding> {
        match event {
            Event::Advisory(a) => self.apply_advisory(a),
            Event::ReleaseInventory(_) => {
                let deltas = self.impact.apply(event);
                let deltas = self.complete(deltas);
                self.merge(deltas, Vec::new(), &BTreeSet::new())
            }
            Event::VexStatement(s) => {
                let touched = self.vex.insert(s);
                // A statement's aliases may join groups, and so change their CVEs and their names.
                let changed = self.refresh_intel(&touched);
                let (before, rekeyed) = self.rekey_prepare(&touched, event.envelope(), None);
                let mut out = self.reevaluate(&touched, event, &changed);
                self.rekey_finish(&mut out, &rekeyed, event.envelope());
                self.merge(out, before, &rekeyed)
            }
            Event::KnownExploited(k) => {
                let Some(cve) = self.intel.apply_kev(k) else { return Vec::new() };
                let mut ids = self.vex.aliases().group(&cve);
                let upstream = self.by_upstream.get(&cve).into_iter().flatten().map(|a| id_key(a));
                ids.extend(upstream.collect::<Vec<_>>());
                let changed = self.refresh_intel(&ids);
                let out = self.reevaluate(&ids, event, &changed);
                self.merge(out, Vec::new(), &BTreeSet::new())
            }
            Event::EpssScores(e) => {
                self.intel.apply_epss(e);
                Vec::new()
            }
            Event::Policy(p) => {
                let tenant = p.envelope.tenant.to_string();
                let current = self.policies.get(&tenant).cloned().unwrap_or_else(ActivePolicy::builtin);
                match current.accept(p) {
                    Ok(next) => {
                        let precedence_changed = next.doc.sources != current.doc.sources;
                        self.trusts.insert(tenant.clone(), trust_from(&next.doc.vex));
                        self.policies.insert(tenant.clone(), next);
                        let all: BTreeSet<String> = self.advisories.keys().map(|a| id_key(a)).collect();
                        let mut out = self.reevaluate(&all, event, &BTreeSet::new());
                        if precedence_changed {
                            // Which source a finding of several carries may have changed: re-emit them.
                            let several: BTreeSet<String> =
                                self.vulns.iter().filter(|(_, k)| !k.vuln.single()).map(|(a, _)| a.clone()).collect();
                            self.rekey_finish(&mut out, &several, event.envelope());
                        }
                        out.retain(|f| *f.envelope.tenant == *tenant);
                        self.merge(out, Vec::new(), &BTreeSet::new())
                    }
                    Err(_) => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    fn apply_advisory(&mut self, a: &Advisory) -> Vec<Finding> {
        let old_aliases = self.advisories.get(&a.id).cloned().unwrap_or_default();
        let new_aliases = if a.change == AdvisoryChange::Delete { Vec::new() } else { a.aliases.clone() };
        let mut touched = BTreeSet::new();
        let aliases_changed = old_aliases != new_aliases;
        if aliases_changed {
            touched.extend(self.vex.aliases().group(&a.id));
            self.vex.aliases_mut().remove(&a.id, &old_aliases);
            self.vex.aliases_mut().add(&a.id, &new_aliases);
            touched.extend(self.vex.aliases().group(&a.id));
        }
        if a.change == AdvisoryChange::Delete {
            if self.advisories.remove(&a.id).is_some() {
                let key = id_key(&a.id);
                if let Some(ids) = self.by_key.get_mut(&key) {
                    ids.remove(&a.id);
                    if ids.is_empty() {
                        self.by_key.remove(&key);
                    }
                }
            }
        } else if self.advisories.insert(a.id.clone(), new_aliases).is_none() {
            self.by_key.entry(id_key(&a.id)).or_default().insert(a.id.clone());
        }
        let new_upstream = if a.change == AdvisoryChange::Delete { Vec::new() } else { upstream_cves(a) };
        let old_upstream = self.upstream.get(&a.id).cloned().unwrap_or_default();
        if old_upstream != new_upstream {
            for cve in &old_upstream {
                if let Some(ids) = self.by_upstream.get_mut(cve) {
                    ids.remove(&a.id);
                    if ids.is_empty() {
                        self.by_upstream.remove(cve);
                    }
                }
            }
            for cve in &new_upstream {
                self.by_upstream.entry(cve.clone()).or_default().insert(a.id.clone());
            }
            if new_upstream.is_empty() {
                self.upstream.remove(&a.id);
            } else {
                self.upstream.insert(a.id.clone(), new_upstream);
            }
        }
        // The intelligence of this advisory and of the groups it joined or left, before its
        // findings are emitted with it.
        touched.insert(id_key(&a.id));
        let changed = self.refresh_intel(&touched);
        let event = Event::Advisory(a.clone());
        // Its vulnerability and those of the groups it joined or left; the findings they had.
        let current = (a.change != AdvisoryChange::Delete).then_some(a);
        let (before, rekeyed) = self.rekey_prepare(&touched, event.envelope(), current);
        if a.change != AdvisoryChange::Delete {
            let vuln = self.vuln_of(&a.id);
            self.vulns.entry(a.id.clone()).or_insert_with(|| merge::Known::new(vuln)).source =
                Arc::from([merge::source_of(a)]);
        }
        if changed.is_empty() && !aliases_changed {
            touched.clear();
        }
        // Only an advisory in a group of several is shown in other findings (its group as it is
        // now; one it left is re-keyed above): most upserts skip this.
        let several = !self.vuln_of(&a.id).single();
        let face_before = several.then(|| merge::Face::of(self.impact.advisory(&a.id)));
        let deltas = self.impact.apply(&event);
        let mut out = self.complete(deltas);
        if let Some(before) = face_before {
            let now = merge::Face::of(current);
            if now != before {
                self.show_face(&mut out, &a.id, &before, &now, event.envelope());
            }
        }
        if !touched.is_empty() {
            // The alias groups (or the CVEs they carry) changed: re-evaluate their open findings
            // (those impact just emitted already carry the new view and intelligence).
            let done: BTreeSet<(String, OpenKey)> =
                out.iter().map(|f| (f.advisory_id.to_string(), open_key(f))).collect();
            let more = self.reevaluate(&touched, &event, &changed);
            out.extend(more.into_iter().filter(|f| !done.contains(&(f.advisory_id.to_string(), open_key(f)))));
        }
        self.rekey_finish(&mut out, &rekeyed, event.envelope());
        let out = self.merge(out, before, &rekeyed);
        if a.change == AdvisoryChange::Delete {
            // Its closing deltas carried what it had; nothing of it is open any more.
            self.intel_of.remove(&a.id);
            self.vulns.remove(&a.id);
        }
        out
    }

    /// Adds to `out` the open findings of the other advisories of `id`'s group at the packages it
    /// names (`before` or `now`) that `out` does not hold yet: what they list of it (its severity,
    /// whether it is withdrawn or names the package without affecting the version) changed with it.
    fn show_face(
        &self,
        out: &mut Vec<Finding>,
        id: &str,
        before: &merge::Face,
        now: &merge::Face,
        cause: &trustloop_schemas::Envelope,
    ) {
        let vuln = self.vuln_of(id);
        let others: Vec<&String> = vuln.members.iter().filter(|m| *m != id).collect();
        if others.is_empty() {
            return;
        }
        let named = |f: &Finding| {
            PackageKey::new(&f.ecosystem, &f.package_name)
                .is_some_and(|p| before.packages.contains(&p) || now.packages.contains(&p))
        };
        let done: BTreeSet<(String, OpenKey)> = out.iter().map(|f| (f.advisory_id.to_string(), open_key(f))).collect();
        let more = self.findings_after(others, cause);
        out.extend(more.into_iter().filter(|f| named(f) && !done.contains(&(f.advisory_id.to_string(), open_key(f)))));
    }

    /// Recomputes the vulnerability of the advisories named by `touched` (id keys); returns the
    /// open findings of those whose vulnerability changed as they were before (under the old
    /// name), and those advisories.
    fn rekey_prepare(
        &mut self,
        touched: &BTreeSet<String>,
        cause: &trustloop_schemas::Envelope,
        current: Option<&Advisory>,
    ) -> (Vec<(Arc<merge::Vuln>, Finding)>, BTreeSet<String>) {
        let changed = self.refresh_vulns(touched, current);
        let changed: Vec<_> = changed.into_iter().filter(|(_, before)| before.is_some()).collect();
        let before = self.findings_before(&changed, cause);
        (before, changed.into_iter().map(|(a, _)| a).collect())
    }

    /// Adds to `out` the open findings of `advisories` it does not hold yet, to be re-emitted
    /// under their vulnerability as it is now.
    fn rekey_finish(&self, out: &mut Vec<Finding>, advisories: &BTreeSet<String>, cause: &trustloop_schemas::Envelope) {
        if advisories.is_empty() {
            return;
        }
        let done: BTreeSet<(String, OpenKey)> = out.iter().map(|f| (f.advisory_id.to_string(), open_key(f))).collect();
        let more = self.findings_after(advisories, cause);
        out.extend(more.into_iter().filter(|f| !done.contains(&(f.advisory_id.to_string(), open_key(f)))));
    }

    /// Recomputes what the advisories named by `ids` (id keys) carry of the intelligence; returns
    /// the advisories for which it changed.
    fn refresh_intel(&mut self, ids: &BTreeSet<String>) -> BTreeSet<String> {
        let advisories: Vec<String> =
            ids.iter().filter_map(|k| self.by_key.get(k)).flat_map(|set| set.iter().cloned()).collect();
        let mut changed = BTreeSet::new();
        for advisory in advisories {
            let group = self.vex.aliases().group(&advisory);
            let upstream = self.upstream.get(&advisory).map_or(&[][..], Vec::as_slice);
            let cves = vulnerability_cves(&group, upstream);
            let exploited = self.intel.exploited(&cves);
            let now = AdvisoryIntel { cves, exploited };
            if self.intel_of.get(&advisory).map_or(now.is_default(), |before| *before == now) {
                continue;
            }
            if now.is_default() {
                self.intel_of.remove(&advisory);
            } else {
                self.intel_of.insert(advisory.clone(), now);
            }
            changed.insert(advisory);
        }
        changed
    }

    /// Fills what a finding of its advisory carries of the intelligence: CVEs, those listed as
    /// known exploited, the highest EPSS score in force.
    fn intel_into(&self, f: &mut Finding) {
        let intel = self.intel_of.get(&*f.advisory_id);
        let epss = intel.and_then(|i| self.intel.epss(&i.cves)).map(|(_, s)| (s.epss, s.percentile));
        set_intel(f, intel, epss);
    }

    /// Completes impact's deltas with the VEX view; tracks the views.
    ///
    /// Hot path (an upsert can close or open thousands of findings): deltas come grouped by
    /// advisory, so its alias group, the tenant's issuer trust and whether any statement speaks
    /// about it at all are looked up once per run of deltas; a finding no statement can touch costs
    /// next to nothing.
    fn complete(&mut self, mut deltas: Vec<Finding>) -> Vec<Finding> {
        if !self.intel_of.is_empty() {
            // Deltas come in runs of one advisory: look its intelligence up once per run.
            let mut run: Option<(trustloop_schemas::Text, IntelRun<'_>)> = None;
            for f in &mut deltas {
                if run.as_ref().is_none_or(|(id, _)| *id != f.advisory_id) {
                    let intel = self.intel_of.get(&*f.advisory_id);
                    let epss = intel.and_then(|i| self.intel.epss(&i.cves)).map(|(_, s)| (s.epss, s.percentile));
                    run = Some((f.advisory_id.clone(), (intel, epss)));
                }
                if let Some((_, (intel, epss))) = &run {
                    set_intel(f, *intel, *epss);
                }
            }
        }
        if self.vex.is_empty() && self.views.is_empty() {
            // No statement, no view: every delta is complete as impact emitted it.
            return deltas;
        }
        // Per run of one advisory (and tenant): its alias group, whether any statement speaks about
        // it, whether views are stored for it.
        let mut group = BTreeSet::new();
        let (mut vex, mut stored) = (false, false);
        for i in 0..deltas.len() {
            let (done, rest) = deltas.split_at_mut(i);
            let f = &mut rest[0];
            let same_run =
                done.last().is_some_and(|p| p.advisory_id == f.advisory_id && p.envelope.tenant == f.envelope.tenant);
            if !same_run {
                // Without any statement there is no group to look up.
                group = if self.vex.is_empty() { BTreeSet::new() } else { self.vex.aliases().group(&f.advisory_id) };
                vex = self.vex.mentions_any(&group);
                stored = !self.views.is_empty() && self.views.contains_key(&*f.advisory_id);
            }
            match f.change {
                FindingChange::Opened => {
                    if vex {
                        let tenant = f.envelope.tenant.clone();
                        self.view_into(f, &group, self.trust_for(&tenant));
                        self.remember(f);
                        stored = self.views.contains_key(&*f.advisory_id);
                    } else if stored {
                        // No statement speaks about it (any more): forget a view it had.
                        set_view(f, None);
                        self.remember(f);
                        stored = self.views.contains_key(&*f.advisory_id);
                    }
                }
                FindingChange::Closed => {
                    // A closed finding keeps the view it had while open.
                    if stored {
                        let key = open_key(f);
                        let last = self.views.get_mut(&*f.advisory_id).and_then(|m| m.remove(&key));
                        if self.views.get(&*f.advisory_id).is_some_and(BTreeMap::is_empty) {
                            self.views.remove(&*f.advisory_id);
                            stored = false;
                        }
                        last.unwrap_or_default().apply_to(f);
                    }
                }
            }
        }
        deltas
    }

    /// Stores the view of an open finding (or forgets it when it is the default).
    fn remember(&mut self, f: &Finding) {
        let view = View::of(f);
        let key = open_key(f);
        if view.is_default() {
            if let Some(m) = self.views.get_mut(&*f.advisory_id) {
                m.remove(&key);
                if m.is_empty() {
                    self.views.remove(&*f.advisory_id);
                }
            }
        } else {
            self.views.entry(f.advisory_id.to_string()).or_default().insert(key, view);
        }
    }

    /// Fills the VEX view of an open finding.
    fn view_into(&self, f: &mut Finding, group: &BTreeSet<String>, trust: &IssuerTrust) {
        let consensus = if self.vex.mentions_any(group) { self.consensus(f, group, trust) } else { None };
        set_view(f, consensus.as_ref());
    }

    fn consensus(&self, f: &Finding, group: &BTreeSet<String>, trust: &IssuerTrust) -> Option<Consensus> {
        let component: Option<Purl> = f.purl.parse().ok();
        let subject = Subject {
            release_name: &f.release_name,
            release_version: &f.release_version,
            component: component.as_ref(),
        };
        self.vex.consensus(group, &subject, trust)
    }

    /// Re-evaluates the open findings of every advisory whose id is in `ids` (id keys); emits an
    /// update for each whose VEX view changed.
    ///
    /// The advisories in `intel_changed` have new intelligence: each of their open findings is
    /// emitted, whether or not its view changed.
    fn reevaluate(&mut self, ids: &BTreeSet<String>, cause: &Event, intel_changed: &BTreeSet<String>) -> Vec<Finding> {
        let cause_id: trustloop_schemas::Text = cause.envelope().event_id.to_string().into();
        // The advisories the ids name (an id key may stand for differently spelled ids).
        let advisories: Vec<String> =
            ids.iter().filter_map(|k| self.by_key.get(k)).flat_map(|set| set.iter().cloned()).collect();
        let mut out = Vec::new();
        for advisory in advisories {
            let group = self.vex.aliases().group(&advisory);
            let forced = intel_changed.contains(&advisory);
            for mut f in self.impact.open_finding_events_of(&advisory, cause.envelope()) {
                let key = open_key(&f);
                let last = self.views.get(&advisory).and_then(|m| m.get(&key)).cloned().unwrap_or_default();
                let tenant = f.envelope.tenant.clone();
                self.view_into(&mut f, &group, self.trust_for(&tenant));
                self.intel_into(&mut f);
                if View::of(&f) == last && !forced {
                    continue;
                }
                f.cause_event_id = cause_id.clone();
                f.envelope.event_id = derive_event_id(
                    "finding-update",
                    &[
                        cause_id.as_bytes(),
                        key.0.as_bytes(),
                        key.1.as_bytes(),
                        key.2.as_deref().unwrap_or("").as_bytes(),
                        advisory.as_bytes(),
                        key.3.as_bytes(),
                    ],
                );
                self.remember(&f);
                out.push(f);
            }
        }
        out
    }
}

/// Sets a finding's intelligence: its advisory's CVEs and listed CVEs, and the EPSS score in force.
fn set_intel(f: &mut Finding, intel: Option<&AdvisoryIntel>, epss: Option<(f64, f64)>) {
    match intel {
        Some(i) => {
            f.cves = i.cves.clone();
            f.exploited_ids = i.exploited.clone();
            f.known_exploited |= !i.exploited.is_empty();
        }
        None => {
            f.cves = Texts::default();
            f.exploited_ids = Texts::default();
        }
    }
    f.epss = epss.map(|e| e.0);
    f.epss_percentile = epss.map(|e| e.1);
}

fn open_key(f: &Finding) -> OpenKey {
    (
        f.release_name.to_string(),
        f.release_version.to_string(),
        f.environment.as_deref().map(str::to_string),
        f.purl.to_string(),
    )
}

fn set_view(f: &mut Finding, c: Option<&Consensus>) {
    match c {
        Some(c) => {
            f.vex_status = c.status;
            f.vex_justification = c.justification;
            f.vex_statement_ids = c.statement_ids();
            f.vex_votes = c.vote_strings();
            f.vex_conflict = c.conflict;
        }
        None => {
            f.vex_status = trustloop_schemas::VexStatus::Affected;
            f.vex_justification = None;
            f.vex_statement_ids = Vec::new();
            f.vex_votes = Vec::new();
            f.vex_conflict = false;
        }
    }
}

impl Operator for FindingsState {
    fn name(&self) -> &'static str {
        "impact"
    }

    fn inputs(&self) -> &'static [EventType] {
        &[
            EventType::Policy,
            EventType::Advisory,
            EventType::VexStatement,
            EventType::ReleaseInventory,
            EventType::KnownExploited,
            EventType::EpssScores,
        ]
    }

    fn outputs(&self) -> &'static [EventType] {
        &[EventType::Finding]
    }

    fn apply(&mut self, input: &Input<'_>) -> Vec<Event> {
        self.apply_event(input.event).into_iter().map(Event::Finding).collect()
    }

    /// Inventories by release; advisories, VEX statements and policies (which may touch any
    /// release) in full.
    fn partitioning(&self) -> crate::operator::Partitioning {
        crate::operator::Partitioning::Keyed(&[EventType::ReleaseInventory])
    }

    fn partition_key(&self, event: &Event) -> Option<String> {
        match event {
            Event::ReleaseInventory(r) => Some(format!("{}@{}", r.release_name, r.release_version)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
