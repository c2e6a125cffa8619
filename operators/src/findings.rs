//! The findings operator: impact selection ([`crate::impact`]) with VEX consensus
//! ([`crate::vex`]) and alias unification on top.
//!
//! The impact operator decides *whether* an advisory matches a component of a release; this layer
//! decides *what the VEX statements say about it* and completes each finding delta: its status after
//! VEX (with justification, the statements counted, every issuer's vote and whether they conflict),
//! whether the advisory is known to be exploited, and the versions that fix it.
//!
//! Alias groups join the advisories' own aliases and the VEX statements' (CVE ↔ GHSA ↔ RUSTSEC ↔
//! PYSEC ↔ GO ↔ vendor ids), so a statement about a CVE applies to the finding of an aliasing
//! RUSTSEC advisory. Re-evaluation is incremental:
//! * a VEX statement re-evaluates the open findings of the advisories in its vulnerability's group;
//! * an advisory whose aliases change re-evaluates the open findings of its old and new groups;
//! * a policy (issuer weights, `vex` section) re-evaluates the tenant's open findings.
//!
//! Whenever a finding's VEX view changes, an `opened` delta with the new view is emitted for the
//! still-open finding (an update: the finding key — release, environment, advisory, purl — is the
//! same), caused by the statement, advisory or policy that changed it.

use std::collections::{BTreeMap, BTreeSet};

use trustloop_schemas::{Advisory, AdvisoryChange, Event, EventType, Finding, FindingChange, derive_event_id};

use crate::decision::accept::ActivePolicy;
use crate::impact::{ImpactState, PackageKey};
use crate::input::Input;
use crate::operator::Operator;
use crate::purl::Purl;
use crate::vex::{Consensus, IssuerTrust, Subject, VexIndex, id_key};

/// What the layer keeps of an advisory.
#[derive(Debug, Clone, Default)]
struct AdvisoryFacts {
    aliases: Vec<String>,
    known_exploited: bool,
    /// `fixed` versions per package.
    fixed: BTreeMap<PackageKey, Vec<String>>,
}

impl AdvisoryFacts {
    fn of(a: &Advisory) -> AdvisoryFacts {
        let mut fixed: BTreeMap<PackageKey, Vec<String>> = BTreeMap::new();
        for x in &a.affected {
            let Some(key) = PackageKey::new(&x.package.ecosystem, &x.package.name) else { continue };
            let list = fixed.entry(key).or_default();
            for r in &x.ranges {
                for e in &r.events {
                    if let Some(f) = &e.fixed
                        && !list.contains(f)
                    {
                        list.push(f.clone());
                    }
                }
            }
        }
        AdvisoryFacts { aliases: a.aliases.clone(), known_exploited: a.known_exploited, fixed }
    }
}

/// An open finding within its advisory: release name, version, environment, purl.
type OpenKey = (String, String, Option<String>, String);

/// The findings operator's state (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct FindingsState {
    impact: ImpactState,
    vex: VexIndex,
    advisories: BTreeMap<String, AdvisoryFacts>,
    /// The last delta emitted for each open finding, by advisory id.
    open: BTreeMap<String, BTreeMap<OpenKey, Finding>>,
    /// The policy in force per tenant (its `vex` section weighs issuers).
    policies: BTreeMap<String, ActivePolicy>,
}

fn trust_of(policy: Option<&ActivePolicy>) -> IssuerTrust {
    let vex = match policy {
        Some(p) => p.doc.vex.clone(),
        None => crate::policy::default_policy().vex,
    };
    IssuerTrust { weights: vex.issuers, default_weight: vex.default_issuer_weight, min_weight: vex.min_weight }
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

    /// Every open finding, as its latest delta, in advisory then key order.
    pub fn open_findings(&self) -> impl Iterator<Item = &Finding> {
        self.open.values().flat_map(BTreeMap::values)
    }

    /// Applies one event; returns the finding deltas it causes.
    pub fn apply_event(&mut self, event: &Event) -> Vec<Finding> {
        match event {
            Event::Advisory(a) => self.apply_advisory(a),
            Event::ReleaseInventory(_) => {
                let deltas = self.impact.apply(event);
                self.complete(deltas)
            }
            Event::VexStatement(s) => {
                let touched = self.vex.insert(s);
                self.reevaluate(&touched, &s.envelope.event_id.to_string(), event)
            }
            Event::Policy(p) => {
                let tenant = p.envelope.tenant.clone();
                let current = self.policies.get(&tenant).cloned().unwrap_or_else(ActivePolicy::builtin);
                match current.accept(p) {
                    Ok(next) => {
                        self.policies.insert(tenant.clone(), next);
                        let all: BTreeSet<String> = self.open.keys().map(|a| id_key(a)).collect();
                        let mut out = self.reevaluate(&all, &p.envelope.event_id.to_string(), event);
                        out.retain(|f| f.envelope.tenant == tenant);
                        out
                    }
                    Err(_) => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    fn apply_advisory(&mut self, a: &Advisory) -> Vec<Finding> {
        let old_aliases = self.advisories.get(&a.id).map(|f| f.aliases.clone()).unwrap_or_default();
        let new_aliases = if a.change == AdvisoryChange::Delete { Vec::new() } else { a.aliases.clone() };
        let mut touched = BTreeSet::new();
        if old_aliases != new_aliases {
            touched.extend(self.vex.aliases().group(&a.id));
            self.vex.aliases_mut().remove(&a.id, &old_aliases);
            self.vex.aliases_mut().add(&a.id, &new_aliases);
            touched.extend(self.vex.aliases().group(&a.id));
        }
        if a.change == AdvisoryChange::Delete {
            self.advisories.remove(&a.id);
        } else {
            self.advisories.insert(a.id.clone(), AdvisoryFacts::of(a));
        }
        let deltas = self.impact.apply(&Event::Advisory(a.clone()));
        let mut out = self.complete(deltas);
        if !touched.is_empty() {
            let done: BTreeSet<(String, OpenKey)> = out.iter().map(|f| (f.advisory_id.clone(), open_key(f))).collect();
            let cause = a.envelope.event_id.to_string();
            let more = self.reevaluate(&touched, &cause, &Event::Advisory(a.clone()));
            out.extend(more.into_iter().filter(|f| !done.contains(&(f.advisory_id.clone(), open_key(f)))));
        }
        out
    }

    /// Completes impact's deltas with the VEX view and the advisory facts; tracks the open ones.
    fn complete(&mut self, deltas: Vec<Finding>) -> Vec<Finding> {
        let mut out = Vec::with_capacity(deltas.len());
        for mut f in deltas {
            let key = open_key(&f);
            match f.change {
                FindingChange::Opened => {
                    self.fill(&mut f);
                    self.open.entry(f.advisory_id.clone()).or_default().insert(key, f.clone());
                }
                FindingChange::Closed => {
                    let last = self.open.get_mut(&f.advisory_id).and_then(|m| m.remove(&key));
                    if self.open.get(&f.advisory_id).is_some_and(BTreeMap::is_empty) {
                        self.open.remove(&f.advisory_id);
                    }
                    // A closed finding keeps the view it had while open.
                    if let Some(last) = last {
                        copy_view(&last, &mut f);
                        f.known_exploited = last.known_exploited;
                        f.fixed_versions = last.fixed_versions;
                    }
                }
            }
            out.push(f);
        }
        out
    }

    /// Fills the VEX view and advisory facts of an open finding.
    fn fill(&self, f: &mut Finding) {
        let facts = self.advisories.get(&f.advisory_id);
        f.known_exploited = facts.is_some_and(|x| x.known_exploited);
        f.fixed_versions = facts
            .and_then(|x| PackageKey::new(&f.ecosystem, &f.package_name).and_then(|k| x.fixed.get(&k).cloned()))
            .unwrap_or_default();
        let consensus = self.consensus(f);
        set_view(f, consensus.as_ref());
    }

    fn consensus(&self, f: &Finding) -> Option<Consensus> {
        let component: Option<Purl> = f.purl.parse().ok();
        let subject = Subject {
            release_name: &f.release_name,
            release_version: &f.release_version,
            component: component.as_ref(),
        };
        let trust = trust_of(self.policies.get(&f.envelope.tenant));
        let group = self.vex.aliases().group(&f.advisory_id);
        self.vex.consensus(&group, &subject, &trust)
    }

    /// Re-evaluates the open findings of every advisory whose id is in `ids` (id keys); emits an
    /// update for each whose VEX view changed.
    fn reevaluate(&mut self, ids: &BTreeSet<String>, cause_id: &str, cause: &Event) -> Vec<Finding> {
        let advisories: Vec<String> = self.open.keys().filter(|a| ids.contains(&id_key(a))).cloned().collect();
        let mut out = Vec::new();
        for advisory in advisories {
            let keys: Vec<OpenKey> = self.open.get(&advisory).map(|m| m.keys().cloned().collect()).unwrap_or_default();
            for key in keys {
                let Some(last) = self.open.get(&advisory).and_then(|m| m.get(&key)).cloned() else { continue };
                let mut next = last.clone();
                self.fill(&mut next);
                if same_view(&last, &next) {
                    continue;
                }
                next.change = FindingChange::Opened;
                next.cause_event_id = cause_id.to_string();
                next.envelope.event_time = cause.envelope().event_time;
                next.envelope.event_id = derive_event_id(
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
                if let Some(m) = self.open.get_mut(&advisory) {
                    m.insert(key, next.clone());
                }
                out.push(next);
            }
        }
        out
    }
}

fn open_key(f: &Finding) -> OpenKey {
    (f.release_name.clone(), f.release_version.clone(), f.environment.clone(), f.purl.clone())
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

fn copy_view(from: &Finding, to: &mut Finding) {
    to.vex_status = from.vex_status;
    to.vex_justification = from.vex_justification;
    to.vex_statement_ids = from.vex_statement_ids.clone();
    to.vex_votes = from.vex_votes.clone();
    to.vex_conflict = from.vex_conflict;
}

fn same_view(a: &Finding, b: &Finding) -> bool {
    a.vex_status == b.vex_status
        && a.vex_justification == b.vex_justification
        && a.vex_statement_ids == b.vex_statement_ids
        && a.vex_votes == b.vex_votes
        && a.vex_conflict == b.vex_conflict
        && a.known_exploited == b.known_exploited
        && a.fixed_versions == b.fixed_versions
}

impl Operator for FindingsState {
    fn name(&self) -> &'static str {
        "impact"
    }

    fn inputs(&self) -> &'static [EventType] {
        &[EventType::Policy, EventType::Advisory, EventType::VexStatement, EventType::ReleaseInventory]
    }

    fn outputs(&self) -> &'static [EventType] {
        &[EventType::Finding]
    }

    fn apply(&mut self, input: &Input<'_>) -> Vec<Event> {
        self.apply_event(input.event).into_iter().map(Event::Finding).collect()
    }
}

#[cfg(test)]
mod tests;
