//! The impact operator: which releases an advisory affects, kept incrementally in both directions.
//!
//! State (see `tables.rs`): releases, advisories, packages, components and purls interned as dense
//! integer ids, assigned in order of first appearance in the input (a replay assigns the same ids;
//! ids never reach outputs). Each package knows the advisories naming it and its distinct component
//! versions; each component knows where it occurs (release, inventory position) and what each
//! advisory naming its package says about it, so one evaluation per distinct component version
//! serves every release containing it. Open findings are kept per advisory, keyed by (release,
//! purl), with an [`OpenFinding`] as the value: enumerating or re-evaluating one advisory's findings
//! touches only that advisory's map.
//!
//! An advisory upsert, withdrawal or delete re-evaluates only the packages it names (before and after
//! the change) in only the releases containing them; a new or re-imported release is matched against
//! the advisories of its packages. Either way the operator emits `Finding` deltas — opened or closed —
//! and nothing else. Pure and deterministic: outputs depend only on the inputs and their order (ids
//! derive from the causing event; deltas are emitted in key order — release, then inventory position,
//! for an advisory change; advisory id, then purl, for an inventory — never in hash-map order). The
//! string-keyed operator this replaced is kept in the tests (`reference.rs`): both emit
//! byte-identical deltas.
//!
//! Distribution releases: an `affected` entry whose ecosystem names a release (`Debian:11`,
//! `AlmaLinux:9`, `Ubuntu:22.04:LTS`) applies only to components built for that release — the
//! component's `distro_release`, else the inventory's operating system when it is of the component's
//! distribution (a `distro_release` that names no release of the distribution is not known). A
//! component of another release is not affected by the entry; one whose release is not known is
//! matched against every release's entries, and its finding says so (`release_unknown`). The first
//! entry in advisory order that applies and matches is the finding's proof, and its ecosystem its
//! `distro_release` (none for an entry without a release); its `fixed_versions` are those of the
//! entries that apply to the component's release (of every entry when that is not known). Where a
//! component's release comes from is part of its identity in the tables, so one evaluation still
//! serves every release containing it; inputs without distribution releases give the same findings,
//! byte for byte, as before.

mod advisory;
pub(crate) mod cwes;
mod emit;
pub(crate) mod fx;
mod key_table;
mod release;
mod tables;

use std::collections::BTreeMap;
use std::sync::Arc;

use trustloop_schemas::{Advisory, Event, Finding, Match, OperatingSystem, Text, Texts};

use self::tables::{AdvisoryEntry, AdvisoryId, Components, PackageEntry, PackageId, Ranks, ReleaseEntry, ReleaseId};
use crate::versions::Ecosystem;
use crate::versions::distro::{DistroRelease, ReleaseMatch, from_os_release, release_of};
use fx::FxHashMap;
// The names the unit tests (`tests.rs`, `use super::*`) were written against.
#[cfg(test)]
use {
    std::collections::BTreeSet,
    trustloop_schemas::{AdvisoryChange, Envelope, FindingChange, ReleaseInventory},
};

/// A package as the index knows it: ecosystem and normalised name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageKey {
    /// OSV ecosystem.
    pub ecosystem: Ecosystem,
    /// Name, normalised for the ecosystem (PEP 503 for PyPI, `-` for `_` on crates.io).
    pub name: String,
}

impl PackageKey {
    /// The key of `name` in the OSV ecosystem `ecosystem`, if trustloop orders that ecosystem.
    pub fn new(ecosystem: &str, name: &str) -> Option<PackageKey> {
        let eco = Ecosystem::from_osv(ecosystem)?;
        let name = match eco {
            Ecosystem::PyPI => crate::versions::pypi::normalize_name(name),
            Ecosystem::CratesIo => name.replace('_', "-").to_ascii_lowercase(),
            _ => name.to_string(),
        };
        Some(PackageKey { ecosystem: eco, name })
    }
}

/// `name@version` plus the environment, which identifies a release.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReleaseKey {
    /// Release name.
    pub name: String,
    /// Release version.
    pub version: String,
    /// Environment, if the inventory names one.
    pub environment: Option<String>,
}

/// An open finding: release × advisory × component.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FindingKey {
    /// The release.
    pub release: ReleaseKey,
    /// The advisory id.
    pub advisory: String,
    /// The component's purl.
    pub purl: String,
}

/// What the operator keeps about one open finding (the value of the open-findings state): what one
/// evaluation of an advisory against a component found. One pointer: the open-findings maps hold
/// millions of them, and the release path sorts and clones them by the thousand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenFinding(Arc<Proof>);

/// Why a component is affected (see [`OpenFinding`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// Why the component's version is affected (shared by the findings of one evaluation).
    pub matched: Arc<Match>,
    /// The ecosystem of the matching `affected` entry (`Debian:11`), when it is scoped to a
    /// distribution release.
    pub distro_release: Option<Text>,
    /// The component's release is not known (or only in part), so it was matched against the
    /// entries of every release.
    pub release_unknown: bool,
    /// The versions that fix the component, for its release (what its findings list).
    pub fixed: Texts,
}

impl OpenFinding {
    /// An open finding with this proof.
    pub fn new(proof: Proof) -> OpenFinding {
        OpenFinding(Arc::new(proof))
    }
}

impl std::ops::Deref for OpenFinding {
    type Target = Proof;

    fn deref(&self) -> &Proof {
        &self.0
    }
}

/// The impact operator's state (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct ImpactState {
    /// Advisories by id (dense, in order of first appearance).
    advisories: Vec<AdvisoryEntry>,
    /// Advisory id → dense id, in id order.
    advisory_ids: BTreeMap<Arc<str>, AdvisoryId>,
    /// Each advisory's rank in id order, recomputed when new ids arrive.
    advisory_ranks: Ranks,
    /// Packages by dense id.
    packages: Vec<PackageEntry>,
    /// Package key → dense id.
    package_ids: FxHashMap<PackageKey, PackageId>,
    /// Distinct components and purls.
    components: Components,
    /// Releases by dense id.
    releases: Vec<ReleaseEntry>,
    /// Release key → dense id, in key order.
    release_ids: BTreeMap<ReleaseKey, ReleaseId>,
    /// Each release's rank in key order, recomputed when new keys arrive.
    release_ranks: Ranks,
}

impl ImpactState {
    /// The open findings, in key order (release, advisory id, purl). Sorts all of them: for listing,
    /// not for a hot path.
    pub fn open_findings(&self) -> impl Iterator<Item = (FindingKey, &Match)> {
        let release_rank = ranks_of(&self.release_ids);
        let advisory_rank = ranks_of(&self.advisory_ids);
        let mut purls: Vec<u32> = (0..tables::next_id(self.components.purls.len())).collect();
        purls.sort_unstable_by(|a, b| self.components.purls.get(*a).cmp(self.components.purls.get(*b)));
        let mut purl_rank = vec![0u32; purls.len()];
        for (rank, p) in purls.into_iter().enumerate() {
            purl_rank[p as usize] = tables::next_id(rank);
        }
        // (ranks of release, advisory, purl; ids of the same; proof), sorted by the ranks.
        type Row<'a> = ([u32; 3], [u32; 3], &'a Match);
        let mut all: Vec<Row<'_>> = Vec::new();
        for (aid, a) in self.advisories.iter().enumerate() {
            let aid = tables::next_id(aid);
            for (&(rid, purl), f) in &a.open {
                let order = [release_rank[rid as usize], advisory_rank[aid as usize], purl_rank[purl as usize]];
                all.push((order, [rid, aid, purl], &*f.matched));
            }
        }
        all.sort_unstable_by_key(|x| x.0);
        all.into_iter().map(|(_, [rid, aid, purl], m)| (self.finding_key(rid, aid, purl), m))
    }

    /// The open findings of the advisory `id`, in key order (release, purl).
    pub fn open_findings_of(&self, id: &str) -> Vec<(FindingKey, &OpenFinding)> {
        let Some(&aid) = self.advisory_ids.get(id) else { return Vec::new() };
        let mut out: Vec<(FindingKey, &OpenFinding)> = self.advisories[aid as usize]
            .open
            .iter()
            .map(|(&(rid, purl), f)| (self.finding_key(rid, aid, purl), f))
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The open findings of the advisory `id` as `opened` events caused by `cause` (what a layer
    /// above re-emits when it changes what it adds to them, e.g. their VEX status), in key order
    /// (release, purl).
    pub fn open_finding_events_of(&self, id: &str, cause: &trustloop_schemas::Envelope) -> Vec<Finding> {
        let Some(&aid) = self.advisory_ids.get(id) else { return Vec::new() };
        let a = &self.advisories[aid as usize];
        let mut open: Vec<(&(ReleaseId, u32), &OpenFinding)> = a.open.iter().collect();
        open.sort_unstable_by(|x, y| {
            self.releases[x.0.0 as usize]
                .cmp_key(&self.releases[y.0.0 as usize])
                .then_with(|| self.components.purls.get(x.0.1).cmp(self.components.purls.get(y.0.1)))
        });
        let cause = emit::Cause::new(cause);
        let ids = cause.ids();
        open.into_iter()
            .filter_map(|(&(rid, purl), f)| {
                let release = &self.releases[rid as usize];
                let c = release.components.iter().map(|&cid| self.components.get(cid)).find(|c| c.purl == purl)?;
                Some(emit::finding(
                    &cause,
                    &ids,
                    release,
                    a,
                    c,
                    c.purl_text(),
                    trustloop_schemas::FindingChange::Opened,
                    f,
                ))
            })
            .collect()
    }

    /// The open finding of the advisory `id` on the component `purl` of `release`, if there is one:
    /// a point lookup, for the findings layer, which merges the findings of a vulnerability's
    /// sources ([`crate::findings`]).
    pub fn open_finding(&self, id: &str, release: &ReleaseKey, purl: &str) -> Option<&OpenFinding> {
        let aid = *self.advisory_ids.get(id)?;
        let rid = *self.release_ids.get(release)?;
        let purl = self.components.purls.id(purl)?;
        self.advisories[aid as usize].open.get(&(rid, purl))
    }

    /// How many findings of the advisory `id` are open.
    pub fn open_count_of(&self, id: &str) -> usize {
        self.advisory_ids.get(id).map_or(0, |&aid| self.advisories[aid as usize].open.len())
    }

    /// The advisory currently known under `id`.
    pub fn advisory(&self, id: &str) -> Option<&Advisory> {
        let aid = *self.advisory_ids.get(id)?;
        self.advisories[aid as usize].advisory.as_ref()
    }

    /// Processes one event; returns the finding deltas it causes (empty for other event types).
    pub fn apply(&mut self, event: &Event) -> Vec<Finding> {
        match event {
            Event::Advisory(a) => self.apply_advisory(a),
            Event::ReleaseInventory(r) => self.apply_release(r),
            _ => Vec::new(),
        }
    }

    fn finding_key(&self, rid: ReleaseId, aid: AdvisoryId, purl: u32) -> FindingKey {
        FindingKey {
            release: self.releases[rid as usize].key(),
            advisory: self.advisories[aid as usize].id.to_string(),
            purl: self.components.purls.get(purl).to_string(),
        }
    }

    /// The dense id of package `key`, interning it if new.
    fn package_id(
        packages: &mut Vec<PackageEntry>,
        ids: &mut FxHashMap<PackageKey, PackageId>,
        key: PackageKey,
    ) -> u32 {
        *ids.entry(key).or_insert_with(|| {
            packages.push(PackageEntry { advisories: Vec::new(), of: Vec::new(), components: Vec::new() });
            tables::next_id(packages.len() - 1)
        })
    }
}

/// Each id's rank in the key order of `ids`.
fn ranks_of<K>(ids: &BTreeMap<K, u32>) -> Vec<u32> {
    let mut ranks = Ranks::default();
    ranks.refresh(ids).to_vec()
}

/// What advisory `a` (its current version, if any) says about component `c` (see
/// [`crate::osv::PreparedAdvisory::affects_in_release`]: when several of its entries naming the component's
/// package could match, the first in advisory order that does is reported), with the versions
/// that fix it for the component's release.
///
/// `at` is where what `a` says of the component's package is ([`AdvisoryEntry::of_package`]).
fn evaluate(a: &AdvisoryEntry, at: tables::OfPackage, c: &tables::ComponentEntry) -> Option<OpenFinding> {
    let (m, entry, applies) = a.prepared.as_ref()?.affects_entries_in_release(
        a.entries_at(at),
        c.eco?,
        c.prepared.as_ref()?,
        c.release.as_ref(),
    )?;
    let scoped = entry.release().is_some();
    Some(OpenFinding::new(Proof {
        matched: Arc::new(Match {
            range_type: m.range_type.to_string(),
            event: m.event,
            comparator: m.comparator.to_string(),
        }),
        distro_release: scoped.then(|| entry.ecosystem_text().clone()),
        release_unknown: scoped && applies == ReleaseMatch::Unknown,
        fixed: a.facts.fixed_at(at.fixed, c.release.as_ref()).clone(),
    }))
}

/// The distribution and release of an inventory's operating system (`distribution` as OSV names
/// it, else as os-release's `ID` does), if OSV has advisories for that distribution.
fn os_release(os: Option<&OperatingSystem>) -> Option<(Ecosystem, Option<DistroRelease>)> {
    let os = os?;
    let release = os.release.as_deref().unwrap_or("");
    match Ecosystem::from_osv(&os.distribution) {
        Some(eco) => Some((eco, release_of(eco, release))),
        None => from_os_release(&os.distribution, release),
    }
}

/// Where a component's distribution release comes from: its own `distro_release` (as written), else
/// the inventory's operating system when that is of the component's distribution (normalised), else
/// nowhere (not known). Part of a distinct component's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReleaseSource<'a> {
    /// Not known.
    None,
    /// The component's `distro_release`, as written.
    Own(&'a str),
    /// The operating system's release.
    Os(&'a DistroRelease),
}

impl<'a> ReleaseSource<'a> {
    /// Where the release of a component of ecosystem `ecosystem` (as written) with `distro_release`
    /// comes from, in an inventory whose operating system is `os` ([`os_release`]).
    fn of(
        ecosystem: &str,
        distro_release: Option<&'a str>,
        os: Option<&'a (Ecosystem, Option<DistroRelease>)>,
    ) -> ReleaseSource<'a> {
        if let Some(r) = distro_release {
            return ReleaseSource::Own(r);
        }
        match os {
            Some((eco, Some(r))) if Ecosystem::from_osv(ecosystem) == Some(*eco) => ReleaseSource::Os(r),
            _ => ReleaseSource::None,
        }
    }

    /// The release, normalised for ecosystem `eco` (`None`: not known, also for a `distro_release`
    /// that names no release of the distribution).
    fn release(self, eco: Option<Ecosystem>) -> Option<DistroRelease> {
        match self {
            ReleaseSource::None => None,
            ReleaseSource::Own(r) => release_of(eco?, r),
            ReleaseSource::Os(r) => Some(r.clone()),
        }
    }
}

#[cfg(test)]
mod reference;
#[cfg(test)]
mod shared_data;
#[cfg(test)]
mod tests;
