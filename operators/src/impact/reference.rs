//! The impact operator as it was before interning (string-keyed ordered maps), kept for tests: the
//! interned operator must emit byte-identical `Finding` deltas for the same input.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use trustloop_schemas::{
    Advisory, AdvisoryChange, Envelope, Event, EventType, Finding, FindingChange, Match, ReleaseInventory, Text,
    VexStatus, derive_event_id, texts,
};

use super::{FindingKey, PackageKey, ReleaseKey, ReleaseSource, os_release};
use crate::osv::affected_entry;
use crate::versions::Ecosystem;
use crate::versions::distro::{DistroRelease, ReleaseMatch, release_applies, split_osv};

#[derive(Debug, Clone, PartialEq)]
struct Component {
    package: Option<PackageKey>,
    /// The release of its distribution, if known.
    release: Option<DistroRelease>,
    ecosystem: String,
    name: String,
    version: String,
    purl: String,
    /// Scope, directness and licences.
    facts: (Option<String>, Option<bool>, Vec<String>),
}

/// The operator as it was before ids were interned (every map keyed by strings).
#[derive(Debug, Clone, Default)]
pub(super) struct ReferenceState {
    advisories: BTreeMap<String, Advisory>,
    advisories_by_package: BTreeMap<PackageKey, BTreeSet<String>>,
    releases: BTreeMap<ReleaseKey, (String, Vec<Component>)>,
    releases_by_package: BTreeMap<PackageKey, BTreeSet<ReleaseKey>>,
    open: BTreeMap<FindingKey, Open>,
}

/// What an advisory says about a component: the proof, the matching entry's ecosystem when it is
/// scoped to a release, whether the component's release was not known.
#[derive(Debug, Clone, PartialEq)]
struct Open {
    matched: Match,
    distro_release: Option<String>,
    release_unknown: bool,
    /// The versions that fix the component, for its release.
    fixed: Vec<String>,
}

fn packages_of(a: &Advisory) -> BTreeSet<PackageKey> {
    if a.change == AdvisoryChange::Delete {
        return BTreeSet::new();
    }
    a.affected.iter().filter_map(|x| PackageKey::new(&x.package.ecosystem, &x.package.name)).collect()
}

/// The fixed versions of one package: of every entry; and, when some entry naming it is scoped to a
/// distribution release, of the unscoped entries and, per release, of the unscoped entries and that
/// release's.
type PackageFixed = (Vec<String>, Option<(Vec<String>, BTreeMap<DistroRelease, Vec<String>>)>);
/// Known exploited, the fixed versions of each package that has some, the CWE ids.
type Facts = (bool, BTreeMap<PackageKey, PackageFixed>, Vec<String>);

/// The fixed versions of the entries of `a` naming `key` whose release `keep` accepts, each once.
fn fixed_list(a: &Advisory, key: &PackageKey, keep: impl Fn(Option<&DistroRelease>) -> bool) -> Vec<String> {
    let mut list: Vec<String> = Vec::new();
    for x in &a.affected {
        if PackageKey::new(&x.package.ecosystem, &x.package.name).as_ref() != Some(key) {
            continue;
        }
        let release = split_osv(&x.package.ecosystem).and_then(|(_, r)| r);
        if !keep(release.as_ref()) {
            continue;
        }
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
    list
}

fn facts_of(a: Option<&Advisory>) -> Facts {
    let Some(a) = a else { return Facts::default() };
    let mut fixed: BTreeMap<PackageKey, PackageFixed> = BTreeMap::new();
    for key in packages_of(a) {
        let all = fixed_list(a, &key, |_| true);
        if all.is_empty() {
            continue;
        }
        let releases: BTreeSet<DistroRelease> = a
            .affected
            .iter()
            .filter(|x| PackageKey::new(&x.package.ecosystem, &x.package.name).as_ref() == Some(&key))
            .filter_map(|x| split_osv(&x.package.ecosystem).and_then(|(_, r)| r))
            .collect();
        let scoped = (!releases.is_empty()).then(|| {
            let bare = fixed_list(a, &key, |r| r.is_none());
            let by_release =
                releases.into_iter().map(|s| (s.clone(), fixed_list(a, &key, |r| r.is_none_or(|r| *r == s)))).collect();
            (bare, by_release)
        });
        fixed.insert(key, (all, scoped));
    }
    (a.known_exploited, fixed, super::cwes::cwes_of(a.database_specific.as_deref()))
}

/// The fixed versions a finding of package `p` built for `release` reports (see `Facts::fixed_of`).
fn fixed_for(facts: &Facts, p: Option<&PackageKey>, release: Option<&DistroRelease>) -> Vec<String> {
    let Some((all, scoped)) = p.and_then(|p| facts.1.get(p)) else { return Vec::new() };
    let (Some((bare, by_release)), Some(release)) = (scoped, release) else { return all.clone() };
    let applying: Vec<&Vec<String>> = by_release
        .iter()
        .filter(|(r, _)| release_applies(Some(r), Some(release)) != ReleaseMatch::Different)
        .map(|(_, list)| list)
        .collect();
    match applying[..] {
        [] => bare.clone(),
        [one] => one.clone(),
        _ => all.clone(),
    }
}

fn severity(a: &Advisory) -> Option<String> {
    a.severity.first().map(|s| s.score.clone())
}

impl ReferenceState {
    /// The open findings, in key order.
    pub(super) fn open_findings(&self) -> impl Iterator<Item = (&FindingKey, &Match)> {
        self.open.iter().map(|(k, o)| (k, &o.matched))
    }

    /// The advisory currently known under `id`.
    pub(super) fn advisory(&self, id: &str) -> Option<&Advisory> {
        self.advisories.get(id)
    }

    /// Processes one event; returns the finding deltas it causes (empty for other event types).
    pub(super) fn apply(&mut self, event: &Event) -> Vec<Finding> {
        match event {
            Event::Advisory(a) => self.apply_advisory(a),
            Event::ReleaseInventory(r) => self.apply_release(r),
            _ => Vec::new(),
        }
    }

    /// What `advisory` (if any) says about `component` of a release: the first `affected` entry, in
    /// advisory order, that names its package, is not scoped to another release and matches.
    fn evaluate(advisory: Option<&Advisory>, c: &Component) -> Option<Open> {
        let a = advisory.filter(|a| a.withdrawn.is_none() && a.change != AdvisoryChange::Delete)?;
        let eco = c.package.as_ref()?.ecosystem;
        for x in &a.affected {
            let Some((entry_eco, entry_release)) = split_osv(&x.package.ecosystem) else { continue };
            if entry_eco != eco || !eco.same_package(&x.package.name, &c.name) {
                continue;
            }
            let applies = release_applies(entry_release.as_ref(), c.release.as_ref());
            if applies == ReleaseMatch::Different {
                continue;
            }
            let Some(m) = affected_entry(x, eco, &c.version) else { continue };
            return Some(Open {
                matched: Match {
                    range_type: m.range_type.to_string(),
                    event: m.event,
                    comparator: m.comparator.to_string(),
                },
                distro_release: entry_release.is_some().then(|| x.package.ecosystem.clone()),
                release_unknown: entry_release.is_some() && applies == ReleaseMatch::Unknown,
                fixed: fixed_for(&facts_of(Some(a)), c.package.as_ref(), c.release.as_ref()),
            });
        }
        None
    }

    /// Re-evaluates `advisory_id` against the releases containing `packages`; emits deltas.
    fn reconcile(
        &mut self,
        advisory_id: &str,
        packages: &BTreeSet<PackageKey>,
        refresh: bool,
        cause: &Envelope,
    ) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut memo: BTreeMap<(String, String, String, Option<DistroRelease>), Option<Open>> = BTreeMap::new();
        let mut releases = BTreeSet::new();
        for p in packages {
            if let Some(rs) = self.releases_by_package.get(p) {
                releases.extend(rs.iter().cloned());
            }
        }
        for release in releases {
            let Some((_, components)) = self.releases.get(&release) else { continue };
            let components: Vec<Component> = components
                .iter()
                .filter(|c| c.package.as_ref().is_some_and(|p| packages.contains(p)))
                .cloned()
                .collect();
            for c in components {
                let key =
                    FindingKey { release: release.clone(), advisory: advisory_id.to_string(), purl: c.purl.clone() };
                // Many releases share a package version: evaluate each distinct one once.
                let now = memo
                    .entry((c.ecosystem.clone(), c.name.clone(), c.version.clone(), c.release.clone()))
                    .or_insert_with(|| Self::evaluate(self.advisories.get(advisory_id), &c))
                    .clone();
                out.extend(self.transition(key, now, refresh, &c, cause));
            }
        }
        out
    }

    fn transition(
        &mut self,
        key: FindingKey,
        now: Option<Open>,
        refresh: bool,
        c: &Component,
        cause: &Envelope,
    ) -> Option<Finding> {
        let before = self.open.get(&key).cloned();
        match (before, now) {
            (None, Some(m)) => {
                self.open.insert(key.clone(), m.clone());
                Some(self.finding(&key, FindingChange::Opened, m, c, cause))
            }
            (Some(m), None) => {
                self.open.remove(&key);
                Some(self.finding(&key, FindingChange::Closed, m, c, cause))
            }
            (Some(old), Some(new)) if old != new => {
                // Still affected, for another reason: record the new proof as a re-opening.
                self.open.insert(key.clone(), new.clone());
                Some(self.finding(&key, FindingChange::Opened, new, c, cause))
            }
            // The advisory's facts changed: re-emit the finding with them.
            (Some(m), Some(_)) if refresh => Some(self.finding(&key, FindingChange::Opened, m, c, cause)),
            _ => None,
        }
    }

    fn finding(&self, key: &FindingKey, change: FindingChange, m: Open, c: &Component, cause: &Envelope) -> Finding {
        let advisory = self.advisories.get(&key.advisory);
        let facts = facts_of(advisory);
        let known_exploited = facts.0;
        // An open finding lists the fixed versions found with it; a closing one those named now.
        let fixed_versions = match change {
            FindingChange::Opened => m.fixed.clone(),
            FindingChange::Closed => fixed_for(&facts, c.package.as_ref(), c.release.as_ref()),
        };
        let change_tag: &[u8] = if change == FindingChange::Opened { b"opened" } else { b"closed" };
        let cause_id = cause.event_id.to_string();
        Finding {
            envelope: Envelope {
                event_id: derive_event_id(
                    "finding",
                    &[
                        cause_id.as_bytes(),
                        key.release.name.as_bytes(),
                        key.release.version.as_bytes(),
                        key.release.environment.as_deref().unwrap_or("").as_bytes(),
                        key.advisory.as_bytes(),
                        key.purl.as_bytes(),
                        change_tag,
                    ],
                ),
                tenant: cause.tenant.clone(),
                key: format!("{}@{}", key.release.name, key.release.version).into(),
                event_time: cause.event_time,
                source: "trustloop.impact".into(),
                schema_version: EventType::Finding.schema_version(),
            },
            change,
            release_name: key.release.name.as_str().into(),
            release_version: key.release.version.as_str().into(),
            environment: key.release.environment.as_deref().map(Text::from),
            advisory_id: key.advisory.as_str().into(),
            aliases: texts(advisory.map_or(&[][..], |a| &a.aliases)),
            purl: key.purl.as_str().into(),
            ecosystem: c.ecosystem.as_str().into(),
            package_name: c.name.as_str().into(),
            package_version: c.version.as_str().into(),
            vex_status: VexStatus::Affected,
            severity: advisory.and_then(severity).map(Text::from),
            matched: Arc::new(m.matched),
            vex_statement_ids: Vec::new(),
            cause_event_id: cause_id.into(),
            vex_justification: None,
            vex_conflict: false,
            vex_votes: Vec::new(),
            known_exploited,
            fixed_versions: texts(fixed_versions),
            distro_release: m.distro_release.map(Text::from),
            release_unknown: m.release_unknown,
            cves: Default::default(),
            exploited_ids: Default::default(),
            epss: None,
            epss_percentile: None,
            scope: c.facts.0.as_deref().map(Text::from),
            direct: c.facts.1,
            licenses: texts(&c.facts.2),
            cwes: texts(&facts.2),
            vulnerability_id: Default::default(),
            sources: Default::default(),
            disagreements: Default::default(),
        }
    }

    fn apply_advisory(&mut self, a: &Advisory) -> Vec<Finding> {
        let before = self.advisories.get(&a.id).map(packages_of).unwrap_or_default();
        let old_facts = facts_of(self.advisories.get(&a.id));
        let after = packages_of(a);
        for p in before.difference(&after) {
            if let Some(ids) = self.advisories_by_package.get_mut(p) {
                ids.remove(&a.id);
                if ids.is_empty() {
                    self.advisories_by_package.remove(p);
                }
            }
        }
        for p in &after {
            self.advisories_by_package.entry(p.clone()).or_default().insert(a.id.clone());
        }
        if a.change == AdvisoryChange::Delete {
            self.advisories.remove(&a.id);
        } else {
            self.advisories.insert(a.id.clone(), a.clone());
        }
        let refresh = facts_of(self.advisories.get(&a.id)) != old_facts;
        let touched: BTreeSet<PackageKey> = before.union(&after).cloned().collect();
        self.reconcile(&a.id, &touched, refresh, &a.envelope)
    }

    fn apply_release(&mut self, r: &ReleaseInventory) -> Vec<Finding> {
        let key = ReleaseKey {
            name: r.release_name.clone(),
            version: r.release_version.clone(),
            environment: r.environment.clone(),
        };
        let os = os_release(r.os.as_ref());
        let components: Vec<Component> = r
            .components
            .iter()
            .map(|c| Component {
                package: PackageKey::new(&c.ecosystem, &c.name),
                release: ReleaseSource::of(&c.ecosystem, c.distro_release.as_deref(), os.as_ref())
                    .release(Ecosystem::from_osv(&c.ecosystem)),
                ecosystem: c.ecosystem.clone(),
                name: c.name.clone(),
                version: c.version.clone(),
                purl: c.purl.clone(),
                facts: (c.scope.clone(), c.direct, c.licenses.clone()),
            })
            .collect();
        // Forget the release's previous inventory (a re-import replaces it).
        let old = self.releases.remove(&key).map(|(_, cs)| cs).unwrap_or_default();
        for c in &old {
            if let Some(p) = &c.package
                && let Some(rs) = self.releases_by_package.get_mut(p)
            {
                rs.remove(&key);
                if rs.is_empty() {
                    self.releases_by_package.remove(p);
                }
            }
        }
        for c in &components {
            if let Some(p) = &c.package {
                self.releases_by_package.entry(p.clone()).or_default().insert(key.clone());
            }
        }
        // Desired findings of the new inventory.
        let mut desired: BTreeMap<FindingKey, (Open, Component)> = BTreeMap::new();
        for c in &components {
            let Some(p) = &c.package else { continue };
            for id in self.advisories_by_package.get(p).into_iter().flatten() {
                if let Some(m) = Self::evaluate(self.advisories.get(id), c) {
                    desired.insert(
                        FindingKey { release: key.clone(), advisory: id.clone(), purl: c.purl.clone() },
                        (m, c.clone()),
                    );
                }
            }
        }
        self.releases.insert(key.clone(), (r.envelope.event_id.to_string(), components));
        let mut out = Vec::new();
        // Close what no longer holds.
        // Findings are keyed release-first: this release's findings are one contiguous range.
        let first = FindingKey { release: key.clone(), advisory: String::new(), purl: String::new() };
        let stale: Vec<FindingKey> = self
            .open
            .range(first..)
            .take_while(|(k, _)| k.release == key)
            .filter(|(k, _)| !desired.contains_key(*k))
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            let c = old.iter().find(|c| c.purl == k.purl).cloned().unwrap_or(Component {
                package: None,
                release: None,
                ecosystem: String::new(),
                name: String::new(),
                version: String::new(),
                purl: k.purl.clone(),
                facts: Default::default(),
            });
            out.extend(self.transition(k, None, false, &c, &r.envelope));
        }
        for (k, (m, c)) in desired {
            // The component now says something else of itself: re-emit its finding.
            let facts_changed = old.iter().rev().find(|o| o.purl == k.purl).is_some_and(|o| o.facts != c.facts);
            out.extend(self.transition(k, Some(m), facts_changed, &c, &r.envelope));
        }
        out
    }
}
