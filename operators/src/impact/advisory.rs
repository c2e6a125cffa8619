//! An advisory upsert, withdrawal or delete: re-evaluate the packages it names (before and after) in
//! the releases containing them, once per distinct component version.

use std::collections::hash_map::Entry;
use std::sync::Arc;

use trustloop_schemas::{Advisory, AdvisoryChange, Envelope, Finding, FindingChange};

use super::emit::{Cause, Facts, Subject, finding};
use super::tables::{AdvisoryEntry, AdvisoryId, ComponentId, OfPackage, PackageId, ReleaseId, next_id, use_ranks};
use super::{ImpactState, OpenFinding, PackageKey, evaluate};
use crate::osv::PreparedAdvisory;

/// One occurrence to reconcile: (order key, release, evaluation index).
type Work = (u64, ReleaseId, u32);
/// A delta: (release, component, change, proof).
type Delta = (ReleaseId, ComponentId, FindingChange, OpenFinding);

impl ImpactState {
    /// The dense id of advisory `id`, interning it if new.
    fn advisory_id(&mut self, id: &str) -> AdvisoryId {
        if let Some(&aid) = self.advisory_ids.get(id) {
            return aid;
        }
        let aid = next_id(self.advisories.len());
        let id: Arc<str> = Arc::from(id);
        self.advisories.push(AdvisoryEntry {
            id: id.clone(),
            advisory: None,
            prepared: None,
            subject: Subject::new(&id, None),
            facts: Facts::default(),
            packages: Vec::new(),
            entries: Vec::new(),
            open: Default::default(),
        });
        self.advisory_ids.insert(id, aid);
        self.advisory_ranks.invalidate();
        aid
    }

    pub(super) fn apply_advisory(&mut self, a: &Advisory) -> Vec<Finding> {
        let aid = self.advisory_id(&a.id);
        // The package each `affected` entry names (when trustloop orders its ecosystem).
        let mut named: Vec<Option<PackageId>> = Vec::new();
        if a.change != AdvisoryChange::Delete {
            for x in &a.affected {
                named.push(
                    PackageKey::new(&x.package.ecosystem, &x.package.name)
                        .map(|key| Self::package_id(&mut self.packages, &mut self.package_ids, key)),
                );
            }
        }
        let mut after: Vec<PackageId> = named.iter().flatten().copied().collect();
        after.sort_unstable();
        after.dedup();
        let entry = &mut self.advisories[aid as usize];
        let before = std::mem::replace(&mut entry.packages, after.clone());
        entry.entries = named.iter().enumerate().filter_map(|(i, p)| Some(((*p)?, next_id(i)))).collect();
        entry.entries.sort_unstable();
        for p in &before {
            if after.binary_search(p).is_err() {
                let package = &mut self.packages[*p as usize];
                if let Ok(at) = package.advisories.binary_search(&aid) {
                    package.advisories.remove(at);
                    package.of.remove(at);
                }
            }
        }
        for p in &after {
            if before.binary_search(p).is_err() {
                let package = &mut self.packages[*p as usize];
                if let Err(at) = package.advisories.binary_search(&aid) {
                    package.advisories.insert(at, aid);
                    package.of.insert(at, OfPackage { entries: (0, 0), fixed: None });
                }
            }
        }
        let facts = if a.change == AdvisoryChange::Delete {
            entry.advisory = None;
            entry.prepared = None;
            entry.subject = Subject::new(&entry.id, None);
            Facts::default()
        } else {
            entry.advisory = Some(a.clone());
            entry.prepared = Some(PreparedAdvisory::new(a));
            entry.subject = Subject::new(&entry.id, Some(a));
            Facts::new(a, &named)
        };
        // Findings carry the facts: when they change, every open finding is re-emitted with them.
        let refresh = entry.facts != facts;
        entry.facts = facts;
        // Where what it now says of each package it names is (set after its entries and facts).
        for &p in &entry.packages {
            let package = &mut self.packages[p as usize];
            if let Ok(at) = package.advisories.binary_search(&aid) {
                package.of[at] = entry.of_package(p);
            }
        }
        let mut touched = before;
        touched.extend(after);
        touched.sort_unstable();
        touched.dedup();
        self.reconcile(aid, &touched, refresh, &a.envelope)
    }

    /// Re-evaluates advisory `aid` against every occurrence of the packages `touched`; emits deltas
    /// in release key order, then inventory order. With `refresh` (the advisory's facts changed),
    /// a finding that stays open with the same proof is re-emitted too, as an `opened` update.
    fn reconcile(&mut self, aid: AdvisoryId, touched: &[PackageId], refresh: bool, cause: &Envelope) -> Vec<Finding> {
        // One evaluation per distinct component; its occurrences point at it.
        let mut evals: Vec<(ComponentId, Option<OpenFinding>)> = Vec::new();
        let occurrences: usize = touched
            .iter()
            .flat_map(|&p| &self.packages[p as usize].components)
            .map(|&cid| self.components.get(cid).occurrences.len())
            .sum();
        let mut work: Vec<Work> = Vec::with_capacity(occurrences);
        let advisory = &self.advisories[aid as usize];
        let mut remember: Vec<(ComponentId, Option<Option<OpenFinding>>)> = Vec::new();
        for &p in touched {
            let named = self.packages[p as usize].advisories.binary_search(&aid).is_ok();
            let at = advisory.of_package(p);
            for &cid in &self.packages[p as usize].components {
                let c = self.components.get(cid);
                if c.occurrences.is_empty() {
                    remember.push((cid, None));
                    continue;
                }
                let now = evaluate(advisory, at, c);
                remember.push((cid, named.then(|| now.clone())));
                let e = next_id(evals.len());
                evals.push((cid, now));
                work.extend(c.occurrences.iter().map(|&(rid, pos)| (u64::from(pos), rid, e)));
            }
        }
        for (cid, now) in remember {
            self.components.entries[cid as usize].remember(aid, now);
        }
        if work.is_empty() {
            return Vec::new();
        }
        // Release key order, then inventory order (which also keeps a release's transitions in
        // inventory order, as the state of a purl listed twice depends on it).
        let releases = &self.releases;
        if use_ranks(&self.release_ranks, work.len(), releases.len()) {
            let ranks = self.release_ranks.refresh(&self.release_ids);
            for w in &mut work {
                w.0 |= u64::from(ranks[w.1 as usize]) << 32;
            }
            work.sort_unstable_by_key(|w| w.0);
        } else {
            work.sort_unstable_by(|a, b| releases[a.1 as usize].cmp_key(&releases[b.1 as usize]).then(a.0.cmp(&b.0)));
        }

        // Transitions first (cheap), then the findings, into a vector of the right size.
        let open = &mut self.advisories[aid as usize].open;
        // Room for every finding this change may open, so one big change does not rehash repeatedly.
        let affected = work.iter().filter(|w| evals[w.2 as usize].1.is_some()).count();
        open.reserve(affected.saturating_sub(open.len()));
        let mut deltas: Vec<Delta> = Vec::with_capacity(work.len());
        for (_, rid, e) in work {
            let (cid, now) = &evals[e as usize];
            let key = (rid, self.components.get(*cid).purl);
            match (open.entry(key), now) {
                (Entry::Vacant(v), Some(m)) => {
                    v.insert(m.clone());
                    deltas.push((rid, *cid, FindingChange::Opened, m.clone()));
                }
                (Entry::Occupied(o), None) => {
                    deltas.push((rid, *cid, FindingChange::Closed, o.remove()));
                }
                (Entry::Occupied(mut o), Some(m)) if o.get() != m => {
                    // Still affected, for another reason (proof, or release): record it as a re-opening.
                    *o.get_mut() = m.clone();
                    deltas.push((rid, *cid, FindingChange::Opened, m.clone()));
                }
                (Entry::Occupied(o), Some(_)) if refresh => {
                    deltas.push((rid, *cid, FindingChange::Opened, o.get().clone()));
                }
                _ => {}
            }
        }
        let cause = Cause::new(cause);
        let ids = cause.ids();
        let entry = &self.advisories[aid as usize];
        let (components, releases) = (&self.components, &self.releases);
        deltas
            .iter()
            .map(|(rid, cid, change, matched)| {
                let c = components.get(*cid);
                let release = &releases[*rid as usize];
                finding(&cause, &ids, release, entry, c, c.purl_text(), *change, matched)
            })
            .collect()
    }
}
