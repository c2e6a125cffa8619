//! The impact operator as it was before interning (string-keyed ordered maps), kept for tests: the
//! interned operator must emit byte-identical `Finding` deltas for the same input.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use trustloop_schemas::{
    Advisory, AdvisoryChange, Envelope, Event, EventType, Finding, FindingChange, Match, ReleaseInventory, Text,
    VexStatus, derive_event_id, texts,
};

use super::{FindingKey, PackageKey, ReleaseKey};
use crate::osv::PreparedAdvisory;
use crate::versions::{Ecosystem, Prepared};

#[derive(Debug, Clone, PartialEq)]
struct Component {
    package: Option<PackageKey>,
    /// The version parsed for its ecosystem (when supported).
    prepared: Option<Prepared>,
    ecosystem: String,
    name: String,
    version: String,
    purl: String,
}

/// The operator as it was before ids were interned (every map keyed by strings).
#[derive(Debug, Clone, Default)]
pub(super) struct ReferenceState {
    advisories: BTreeMap<String, Advisory>,
    prepared: BTreeMap<String, PreparedAdvisory>,
    advisories_by_package: BTreeMap<PackageKey, BTreeSet<String>>,
    releases: BTreeMap<ReleaseKey, (String, Vec<Component>)>,
    releases_by_package: BTreeMap<PackageKey, BTreeSet<ReleaseKey>>,
    open: BTreeMap<FindingKey, Match>,
}

fn packages_of(a: &Advisory) -> BTreeSet<PackageKey> {
    if a.change == AdvisoryChange::Delete {
        return BTreeSet::new();
    }
    a.affected.iter().filter_map(|x| PackageKey::new(&x.package.ecosystem, &x.package.name)).collect()
}

/// Known exploited, and the fixed versions of each package that has some.
type Facts = (bool, BTreeMap<PackageKey, Vec<String>>);

fn facts_of(a: Option<&Advisory>) -> Facts {
    let Some(a) = a else { return Facts::default() };
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
    fixed.retain(|_, list| !list.is_empty());
    (a.known_exploited, fixed)
}

fn severity(a: &Advisory) -> Option<String> {
    a.severity.first().map(|s| s.score.clone())
}

impl ReferenceState {
    /// The open findings, in key order.
    pub fn open_findings(&self) -> impl Iterator<Item = (&FindingKey, &Match)> {
        self.open.iter()
    }

    /// The advisory currently known under `id`.
    pub fn advisory(&self, id: &str) -> Option<&Advisory> {
        self.advisories.get(id)
    }

    /// Processes one event; returns the finding deltas it causes (empty for other event types).
    pub fn apply(&mut self, event: &Event) -> Vec<Finding> {
        match event {
            Event::Advisory(a) => self.apply_advisory(a),
            Event::ReleaseInventory(r) => self.apply_release(r),
            _ => Vec::new(),
        }
    }

    /// What `advisory` (if any) says about `component` of a release.
    fn evaluate(advisory: Option<&PreparedAdvisory>, c: &Component) -> Option<Match> {
        let a = advisory?;
        let eco = c.package.as_ref()?.ecosystem;
        let m = a.affects_prepared(eco, &c.name, c.prepared.as_ref()?)?;
        Some(Match { range_type: m.range_type.to_string(), event: m.event, comparator: m.comparator.to_string() })
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
        let mut memo: BTreeMap<(String, String), Option<Match>> = BTreeMap::new();
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
                    .entry((c.name.clone(), c.version.clone()))
                    .or_insert_with(|| Self::evaluate(self.prepared.get(advisory_id), &c))
                    .clone();
                out.extend(self.transition(key, now, refresh, &c, cause));
            }
        }
        out
    }

    fn transition(
        &mut self,
        key: FindingKey,
        now: Option<Match>,
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

    fn finding(&self, key: &FindingKey, change: FindingChange, m: Match, c: &Component, cause: &Envelope) -> Finding {
        let advisory = self.advisories.get(&key.advisory);
        let (known_exploited, fixed) = facts_of(advisory);
        let fixed_versions = c.package.as_ref().and_then(|p| fixed.get(p)).cloned().unwrap_or_default();
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
            matched: Arc::new(m),
            vex_statement_ids: Vec::new(),
            cause_event_id: cause_id.into(),
            vex_justification: None,
            vex_conflict: false,
            vex_votes: Vec::new(),
            known_exploited,
            fixed_versions: texts(fixed_versions),
            distro_release: None,
        release_unknown: false,
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
            self.prepared.remove(&a.id);
        } else {
            self.advisories.insert(a.id.clone(), a.clone());
            self.prepared.insert(a.id.clone(), PreparedAdvisory::new(a));
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
        let components: Vec<Component> = r
            .components
            .iter()
            .map(|c| Component {
                package: PackageKey::new(&c.ecosystem, &c.name),
                prepared: Ecosystem::from_osv(&c.ecosystem).map(|e| e.prepare(&c.version)),
                ecosystem: c.ecosystem.clone(),
                name: c.name.clone(),
                version: c.version.clone(),
                purl: c.purl.clone(),
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
        let mut desired: BTreeMap<FindingKey, (Match, Component)> = BTreeMap::new();
        for c in &components {
            let Some(p) = &c.package else { continue };
            for id in self.advisories_by_package.get(p).into_iter().flatten() {
                if let Some(m) = Self::evaluate(self.prepared.get(id), c) {
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
                prepared: None,
                ecosystem: String::new(),
                name: String::new(),
                version: String::new(),
                purl: k.purl.clone(),
            });
            out.extend(self.transition(k, None, false, &c, &r.envelope));
        }
        for (k, (m, c)) in desired {
            out.extend(self.transition(k, Some(m), false, &c, &r.envelope));
        }
        out
    }
}
