//! A new or re-imported release inventory: match its components against their packages' advisories
//! (each component remembers what its package's advisories said about it), close what no longer holds.

use std::cmp::Ordering;
use std::collections::hash_map::Entry;

use trustloop_schemas::{EventIdPrefix, Finding, FindingChange, ReleaseInventory};

use super::emit::{Cause, Ids, finding, of_advisory};
use super::fx::FxHashMap;
use super::tables::{AdvisoryId, ComponentEntry, ComponentId, OfPackage, PurlId, ReleaseEntry, next_id, use_ranks};
use super::{ImpactState, OpenFinding, ReleaseKey, ReleaseSource, evaluate, os_release};
use crate::versions::Prepared;

/// A finding the new inventory wants: (advisory, purl, inventory position, proof).
type Want = (AdvisoryId, PurlId, u32, OpenFinding);
/// A delta: (advisory, purl, the component it is reported with, change, proof).
type Delta = (AdvisoryId, PurlId, Option<ComponentId>, FindingChange, OpenFinding);

impl ImpactState {
    pub(super) fn apply_release(&mut self, r: &ReleaseInventory) -> Vec<Finding> {
        let key = ReleaseKey {
            name: r.release_name.clone(),
            version: r.release_version.clone(),
            environment: r.environment.clone(),
        };
        let rid = match self.release_ids.get(&key) {
            Some(&rid) => rid,
            None => {
                let rid = next_id(self.releases.len());
                self.releases.push(ReleaseEntry::new(&key));
                self.release_ids.insert(key, rid);
                self.release_ranks.invalidate();
                rid
            }
        };
        let os = os_release(r.os.as_ref());
        let sources: Vec<ReleaseSource<'_>> = r
            .components
            .iter()
            .map(|c| ReleaseSource::of(&c.ecosystem, c.distro_release.as_deref(), os.as_ref()))
            .collect();
        let (packages, package_ids) = (&mut self.packages, &mut self.package_ids);
        let interned =
            self.components.intern_all(&r.components, &sources, |key| Self::package_id(packages, package_ids, key));
        let mut components: Vec<ComponentId> = Vec::with_capacity(interned.len());
        for (cid, new) in interned {
            if new && let Some(p) = self.components.get(cid).package {
                self.packages[p as usize].components.push(cid);
            }
            components.push(cid);
        }
        self.components.touch(&components, &self.packages);

        // Forget the release's previous inventory (a re-import replaces it).
        let old = std::mem::take(&mut self.releases[rid as usize].components);
        for &cid in &old {
            let occ = &mut self.components.entries[cid as usize].occurrences;
            let start = occ.partition_point(|o| o.0 < rid);
            let end = occ.partition_point(|o| o.0 <= rid);
            occ.drain(start..end);
        }
        for (pos, &cid) in components.iter().enumerate() {
            let occ = &mut self.components.entries[cid as usize].occurrences;
            let o = (rid, next_id(pos));
            if occ.last().is_none_or(|last| *last < o) {
                occ.push(o);
            } else {
                let at = occ.partition_point(|x| *x < o);
                occ.insert(at, o);
            }
        }

        // The evaluations not known yet: gathered first, what they read touched a level at a time
        // (so that their misses overlap), then made.
        let todo = self.evaluations_missing(&components);
        self.touch_evaluations(&todo);
        for &(cid, aid, of) in &todo {
            let m = evaluate(&self.advisories[aid as usize], of, self.components.get(cid));
            self.components.entries[cid as usize].remember(aid, Some(m));
        }

        // Desired findings of the new inventory; a purl listed twice keeps its last match.
        let mut desired: Vec<Want> = Vec::new();
        for (pos, &cid) in components.iter().enumerate() {
            let c = self.components.get(cid);
            let Some(p) = c.package else { continue };
            debug_assert_eq!(
                c.evaluated, self.packages[p as usize].advisories,
                "a component's evaluations are its package's advisories"
            );
            for (aid, m) in &c.hits {
                desired.push((*aid, c.purl, next_id(pos), m.clone()));
            }
        }
        self.sort_by_advisory_then_purl(&mut desired, |w| (w.0, w.1, w.2));
        // Sorted by position within a key: the last one wins.
        let mut last: Vec<Want> = Vec::with_capacity(desired.len());
        for w in desired {
            match last.last_mut() {
                Some(l) if (l.0, l.1) == (w.0, w.1) => *l = w,
                _ => last.push(w),
            }
        }
        let desired = last;

        // Close what no longer holds: this release's open findings are those of the advisories
        // naming its previous components' packages (findings are only ever opened that way, and an
        // advisory that stops naming a package closes its findings there).
        let mut stale: Vec<(AdvisoryId, PurlId)> = Vec::new();
        for &cid in &old {
            let c = self.components.get(cid);
            let Some(p) = c.package else { continue };
            for &aid in &self.packages[p as usize].advisories {
                if self.advisories[aid as usize].open.contains_key(&(rid, c.purl)) {
                    stale.push((aid, c.purl));
                }
            }
        }
        stale.sort_unstable();
        stale.dedup();
        if !stale.is_empty() {
            let wanted: FxHashMap<(AdvisoryId, PurlId), ()> = desired.iter().map(|w| ((w.0, w.1), ())).collect();
            stale.retain(|s| !wanted.contains_key(s));
            self.sort_by_advisory_then_purl(&mut stale, |s| (s.0, s.1, 0));
        }

        // Transitions first (cheap), then the findings, into a vector of the right size.
        let mut first: FxHashMap<PurlId, ComponentId> = FxHashMap::default();
        if !stale.is_empty() {
            // The component a closed finding is reported with: the first with its purl.
            for &cid in &old {
                first.entry(self.components.get(cid).purl).or_insert(cid);
            }
        }
        let mut deltas: Vec<Delta> = Vec::with_capacity(stale.len() + desired.len());
        for (aid, purl) in stale {
            if let Some(f) = self.advisories[aid as usize].open.remove(&(rid, purl)) {
                deltas.push((aid, purl, first.get(&purl).copied(), FindingChange::Closed, f));
            }
        }
        // The component each purl was reported with in the previous inventory (the last listed): a
        // finding whose component now says something else of itself (scope, directness,
        // licences) is re-emitted with it.
        let mut was: FxHashMap<PurlId, ComponentId> = FxHashMap::default();
        for &cid in &old {
            was.insert(self.components.get(cid).purl, cid);
        }
        for (aid, purl, pos, m) in desired {
            match self.advisories[aid as usize].open.entry((rid, purl)) {
                Entry::Vacant(v) => {
                    v.insert(m.clone());
                }
                Entry::Occupied(mut o) if *o.get() != m => *o.get_mut() = m.clone(),
                Entry::Occupied(_) => {
                    let now = components[pos as usize];
                    let same = |before: ComponentId| {
                        before == now || self.components.get(before).facts == self.components.get(now).facts
                    };
                    if was.get(&purl).copied().is_none_or(same) {
                        continue;
                    }
                }
            }
            deltas.push((aid, purl, Some(components[pos as usize]), FindingChange::Opened, m));
        }

        let cause = Cause::new(&r.envelope);
        let release = &self.releases[rid as usize];
        let missing = ComponentEntry::missing();
        let (advisories, all) = (&self.advisories, &self.components);
        // Every finding is of this release, and they come in runs of one advisory: hash those once.
        let of_release = cause.ids().release(release);
        let mut run: Option<(AdvisoryId, EventIdPrefix)> = None;
        let out = deltas
            .iter()
            .map(|(aid, purl, cid, change, m)| {
                let c = cid.map_or(&missing, |cid| all.get(cid));
                let a = &advisories[*aid as usize];
                let purl = if cid.is_some() { c.purl_text() } else { all.purls.text(*purl) };
                let prefix = match &run {
                    Some((at, prefix)) if at == aid => prefix,
                    _ => &run.insert((*aid, Ids::advisory(&of_release, a))).1,
                };
                finding(&cause, &of_advisory(prefix), release, a, c, purl, *change, m)
            })
            .collect();
        self.releases[rid as usize].components = components;
        out
    }

    /// The evaluations components `ids` lack: (component, advisory of its package not evaluated
    /// against it yet, where the advisory speaks of the package), each once, by component.
    fn evaluations_missing(&self, ids: &[ComponentId]) -> Vec<(ComponentId, AdvisoryId, OfPackage)> {
        let mut todo = Vec::new();
        for &cid in ids {
            let c = self.components.get(cid);
            let Some(p) = c.package else { continue };
            let package = &self.packages[p as usize];
            if c.evaluated.len() == package.advisories.len() {
                continue;
            }
            // Both ascending by advisory: walk them together.
            let mut at = 0;
            for (&aid, &of) in package.advisories.iter().zip(&package.of) {
                while c.evaluated.get(at).is_some_and(|&e| e < aid) {
                    at += 1;
                }
                if c.evaluated.get(at) == Some(&aid) {
                    at += 1;
                } else {
                    todo.push((cid, aid, of));
                }
            }
        }
        // A component listed twice is evaluated once.
        todo.sort_unstable_by_key(|t| (t.0, t.1));
        todo.dedup_by_key(|t| (t.0, t.1));
        todo
    }

    /// Brings into the cache what the evaluations `todo` read, one level at a time (the advisory,
    /// its entries by package, the entry, its first range, its first event); returns a value only
    /// so the loads are not optimised away.
    fn touch_evaluations(&self, todo: &[(ComponentId, AdvisoryId, OfPackage)]) -> u64 {
        let advisory = |aid: AdvisoryId| self.advisories.get(aid as usize);
        let mut sum = 0u64;
        for &(cid, aid, _) in todo {
            if let Some(a) = advisory(aid) {
                sum = sum.wrapping_add(a.entries.len() as u64 + u64::from(a.prepared.is_some()));
            }
            if let Some(Prepared::Raw(v)) = &self.components.get(cid).prepared {
                sum = sum.wrapping_add(u64::from(v.as_bytes().first().copied().unwrap_or(0)));
            }
        }
        let entry = |aid: AdvisoryId, of: OfPackage| {
            advisory(aid).and_then(|a| Some((a.prepared.as_ref()?, a.entries.get(of.entries.0 as usize)?.1)))
        };
        for &(_, aid, of) in todo {
            sum = sum.wrapping_add(entry(aid, of).map_or(0, |(_, i)| u64::from(i)));
        }
        for level in 0..3 {
            for &(_, aid, of) in todo {
                sum = sum.wrapping_add(entry(aid, of).map_or(0, |(p, i)| p.touch(i, level)));
            }
        }
        std::hint::black_box(sum)
    }

    /// Sorts `items` by advisory id, then purl (as strings), then inventory position, their `key`.
    fn sort_by_advisory_then_purl<T>(&mut self, items: &mut [T], key: impl Fn(&T) -> (AdvisoryId, PurlId, u32)) {
        let purls = &self.components.purls;
        let by_purl = |a: PurlId, b: PurlId| if a == b { Ordering::Equal } else { purls.get(a).cmp(purls.get(b)) };
        if use_ranks(&self.advisory_ranks, items.len(), self.advisories.len()) {
            let ranks = self.advisory_ranks.refresh(&self.advisory_ids);
            items.sort_unstable_by(|x, y| {
                let (a, p, i) = key(x);
                let (b, q, j) = key(y);
                ranks[a as usize].cmp(&ranks[b as usize]).then_with(|| by_purl(p, q)).then(i.cmp(&j))
            });
        } else {
            let advisories = &self.advisories;
            items.sort_unstable_by(|x, y| {
                let (a, p, i) = key(x);
                let (b, q, j) = key(y);
                let by_id =
                    if a == b { Ordering::Equal } else { advisories[a as usize].id.cmp(&advisories[b as usize].id) };
                by_id.then_with(|| by_purl(p, q)).then(i.cmp(&j))
            });
        }
    }
}
