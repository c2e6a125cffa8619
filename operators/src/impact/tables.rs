//! The operator's interned tables: advisories, packages, components, purls and releases as dense
//! integer ids, assigned in order of first appearance in the input stream (so a replay assigns the
//! same ids). Ids never reach outputs; they only make the state small and its lookups cheap.

use std::collections::BTreeMap;
use std::sync::Arc;

use trustloop_schemas::{Advisory, Component, Text, Texts};

use super::emit::{Facts, Subject};
use super::fx::FxHashMap;
use super::key_table::{KeyTable, hash_key};
use super::{OpenFinding, PackageKey, ReleaseKey, ReleaseSource};
use crate::osv::PreparedAdvisory;
use crate::versions::distro::DistroRelease;
use crate::versions::{Ecosystem, Prepared};

/// Dense id of a release (its `ReleaseKey`).
pub(super) type ReleaseId = u32;
/// Dense id of an advisory id.
pub(super) type AdvisoryId = u32;
/// Dense id of a `PackageKey`.
pub(super) type PackageId = u32;
/// Dense id of a distinct component (ecosystem, name, version, purl as written).
pub(super) type ComponentId = u32;
/// Dense id of a purl.
pub(super) type PurlId = u32;

/// The next dense id of a table holding `len` entries.
pub(super) fn next_id(len: usize) -> u32 {
    // Four billion distinct releases, advisories or components do not fit in memory anyway.
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// What the operator knows under one advisory id.
#[derive(Debug, Clone)]
pub(super) struct AdvisoryEntry {
    /// The advisory id.
    pub id: Arc<str>,
    /// The current advisory (`None` once deleted).
    pub advisory: Option<Advisory>,
    /// The current advisory, ready for evaluation (`None` once deleted).
    pub prepared: Option<PreparedAdvisory>,
    /// What its findings say about it (id, aliases, severity).
    pub subject: Subject,
    /// What its findings carry beyond the match (known exploited, fixed versions).
    pub facts: Facts,
    /// The packages it currently names, ascending.
    pub packages: Vec<PackageId>,
    /// Its `affected` entries by the package each names: (package, entry index), ascending.
    pub entries: Vec<(PackageId, u32)>,
    /// Its open findings, by release and purl.
    pub open: FxHashMap<(ReleaseId, PurlId), OpenFinding>,
}

impl AdvisoryEntry {
    /// Where what it says of package `p` is (two binary searches; a package keeps this for each
    /// advisory naming it, see [`PackageEntry::of`]).
    pub(super) fn of_package(&self, p: PackageId) -> OfPackage {
        let start = self.entries.partition_point(|e| e.0 < p);
        let end = start + self.entries[start..].partition_point(|e| e.0 == p);
        OfPackage { entries: (next_id(start), next_id(end)), fixed: self.facts.fixed_index(p) }
    }

    /// The indices of its `affected` entries at `at`, in advisory order.
    pub(super) fn entries_at(&self, at: OfPackage) -> impl Iterator<Item = u32> + '_ {
        let (start, end) = (at.entries.0 as usize, at.entries.1 as usize);
        self.entries.get(start..end).unwrap_or_default().iter().map(|e| e.1)
    }
}

/// Where an advisory's entries naming one package are in [`AdvisoryEntry::entries`], and where its
/// fixed versions of the package are in its facts: kept by the package, so that evaluating the
/// advisory against a new component of the package searches neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OfPackage {
    /// (start, end) in [`AdvisoryEntry::entries`].
    pub entries: (u32, u32),
    /// In the facts' fixed versions ([`Facts::fixed_at`]), if the package has some.
    pub fixed: Option<u32>,
}

/// One package: the advisories naming it and the distinct components that are versions of it.
#[derive(Debug, Clone)]
pub(super) struct PackageEntry {
    /// The advisories currently naming it, ascending.
    pub advisories: Vec<AdvisoryId>,
    /// For each of [`Self::advisories`], where what it says of this package is.
    pub of: Vec<OfPackage>,
    /// Every distinct component of this package seen so far.
    pub components: Vec<ComponentId>,
}

/// One distinct component, as inventories write it (its strings shared with the findings that
/// report it).
#[derive(Debug, Clone)]
pub(super) struct ComponentEntry {
    /// Its package, if trustloop orders its ecosystem.
    pub package: Option<PackageId>,
    /// Its ecosystem, if supported.
    pub eco: Option<Ecosystem>,
    /// The version parsed for the ecosystem (when supported).
    pub prepared: Option<Prepared>,
    /// The release of its distribution it was built for, if known.
    pub release: Option<DistroRelease>,
    /// Ecosystem, name, version and purl as written.
    text: [Text; 4],
    /// What the inventory says of it beyond its identity (scope, directness, licences): part of
    /// the component's identity in the tables, so the findings reporting it carry them.
    pub facts: ComponentFacts,
    /// Its purl.
    pub purl: PurlId,
    /// Where it occurs: (release, index in the release's inventory), ascending.
    pub occurrences: Vec<(ReleaseId, u32)>,
    /// The advisories naming its package whose current version has been evaluated against it,
    /// ascending: a subset of the package's advisories (an advisory's entry is dropped when it
    /// changes while the component occurs nowhere, or stops naming the package), refilled on
    /// demand. When it holds as many as the package has, it holds them all, and [`Self::hits`]
    /// is all a release needs to read.
    pub evaluated: Vec<AdvisoryId>,
    /// Those of [`Self::evaluated`] that affect it, with their proof, ascending by advisory (most
    /// components have none, and no allocation).
    pub hits: Vec<(AdvisoryId, OpenFinding)>,
}

impl ComponentEntry {
    /// Records what advisory `aid` says about it (`Some`: its evaluation, `None`: forget it, to be
    /// re-evaluated on demand).
    pub(super) fn remember(&mut self, aid: AdvisoryId, now: Option<Option<OpenFinding>>) {
        let known = self.evaluated.binary_search(&aid);
        let hit = self.hits.binary_search_by_key(&aid, |h| h.0);
        match (known, now.is_some()) {
            (Ok(at), false) => {
                self.evaluated.remove(at);
            }
            (Err(at), true) => self.evaluated.insert(at, aid),
            _ => {}
        }
        match (hit, now.flatten()) {
            (Ok(at), Some(m)) => self.hits[at].1 = m,
            (Ok(at), None) => {
                self.hits.remove(at);
            }
            (Err(at), Some(m)) => self.hits.insert(at, (aid, m)),
            (Err(_), None) => {}
        }
    }

    fn new(
        c: &Component,
        release: ReleaseSource<'_>,
        package: Option<PackageId>,
        purl: PurlId,
        purl_text: Text,
    ) -> ComponentEntry {
        let eco = Ecosystem::from_osv(&c.ecosystem);
        ComponentEntry {
            package,
            eco,
            prepared: eco.map(|e| e.prepare(&c.version)),
            release: release.release(eco),
            text: [c.ecosystem.as_str().into(), c.name.as_str().into(), c.version.as_str().into(), purl_text],
            facts: ComponentFacts::of(c),
            purl,
            occurrences: Vec::new(),
            evaluated: Vec::new(),
            hits: Vec::new(),
        }
    }

    /// A component with empty fields (what a finding closed without a known component reports).
    pub(super) fn missing() -> ComponentEntry {
        let empty = Text::from("");
        ComponentEntry {
            package: None,
            eco: None,
            prepared: None,
            release: None,
            text: [empty.clone(), empty.clone(), empty.clone(), empty],
            facts: ComponentFacts::default(),
            purl: 0,
            occurrences: Vec::new(),
            evaluated: Vec::new(),
            hits: Vec::new(),
        }
    }

    /// Purl as written (empty for [`ComponentEntry::missing`]).
    pub(super) fn purl_text(&self) -> &Text {
        &self.text[3]
    }

    /// OSV ecosystem as written.
    pub(super) fn ecosystem_text(&self) -> &Text {
        &self.text[0]
    }

    /// Package name as written, shared.
    pub(super) fn name_text(&self) -> &Text {
        &self.text[1]
    }

    /// Version as written.
    pub(super) fn version_text(&self) -> &Text {
        &self.text[2]
    }
}

/// What an inventory says of a component beyond its identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ComponentFacts {
    /// Scope as written (`required`, `dev`, `dev,optional`).
    pub scope: Option<Text>,
    /// Direct (`true`) or transitive (`false`) dependency, if known.
    pub direct: Option<bool>,
    /// Licences as written.
    pub licenses: Texts,
}

impl ComponentFacts {
    fn of(c: &Component) -> ComponentFacts {
        ComponentFacts {
            scope: c.scope.as_deref().map(Text::from),
            direct: c.direct,
            licenses: if c.licenses.is_empty() {
                Texts::default()
            } else {
                c.licenses.iter().map(|l| Text::from(l.as_str())).collect()
            },
        }
    }
}

/// One release: its key and its current inventory.
#[derive(Debug, Clone)]
pub(super) struct ReleaseEntry {
    /// `name@version`.
    label: Text,
    name: Text,
    version: Text,
    /// Environment, if the inventory names one.
    environment: Option<Text>,
    /// The components of its current inventory, in inventory order.
    pub components: Vec<ComponentId>,
}

impl ReleaseEntry {
    /// A release `key` with no inventory yet.
    pub(super) fn new(key: &ReleaseKey) -> ReleaseEntry {
        ReleaseEntry {
            label: format!("{}@{}", key.name, key.version).into(),
            name: key.name.as_str().into(),
            version: key.version.as_str().into(),
            environment: key.environment.as_deref().map(Text::from),
            components: Vec::new(),
        }
    }

    /// `name@version`, shared.
    pub(super) fn label_text(&self) -> &Text {
        &self.label
    }

    /// Release name.
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// Release version.
    pub(super) fn version(&self) -> &str {
        &self.version
    }

    /// Environment, if any.
    pub(super) fn environment(&self) -> Option<&str> {
        self.environment.as_deref()
    }

    /// [`ReleaseEntry::name`], shared.
    pub(super) fn name_text(&self) -> &Text {
        &self.name
    }

    /// [`ReleaseEntry::version`], shared.
    pub(super) fn version_text(&self) -> &Text {
        &self.version
    }

    /// [`ReleaseEntry::environment`], shared.
    pub(super) fn environment_text(&self) -> Option<&Text> {
        self.environment.as_ref()
    }

    /// Orders as `ReleaseKey` does: name, version, environment.
    pub(super) fn cmp_key(&self, other: &ReleaseEntry) -> std::cmp::Ordering {
        (self.name(), self.version(), self.environment()).cmp(&(other.name(), other.version(), other.environment()))
    }

    /// The key.
    pub(super) fn key(&self) -> ReleaseKey {
        ReleaseKey {
            name: self.name().to_string(),
            version: self.version().to_string(),
            environment: self.environment.as_deref().map(str::to_string),
        }
    }
}

/// Interned strings: dense ids in order of first appearance.
#[derive(Debug, Clone, Default)]
pub(super) struct Strings {
    ids: FxHashMap<Arc<str>, u32>,
    items: Vec<Arc<str>>,
}

impl Strings {
    /// The id of `s`, assigning the next one if `s` is new.
    pub(super) fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = next_id(self.items.len());
        let s: Arc<str> = Arc::from(s);
        self.items.push(s.clone());
        self.ids.insert(s, id);
        id
    }

    /// The id of `s`, if it is interned.
    pub(super) fn id(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    /// The string of `id`.
    pub(super) fn get(&self, id: u32) -> &str {
        self.items.get(id as usize).map_or("", |s| s)
    }

    /// The string of `id`, shared (interned ids always have one).
    pub(super) fn text(&self, id: u32) -> &Text {
        &self.items[id as usize]
    }

    /// How many strings are interned.
    pub(super) fn len(&self) -> usize {
        self.items.len()
    }
}

/// Whether to sort `items` things by cached ranks (refreshing them if stale, O(`total`)) rather than
/// by comparing their keys (O(`items` log `items`) string comparisons).
pub(super) fn use_ranks(ranks: &Ranks, items: usize, total: usize) -> bool {
    #[cfg(test)]
    if let Some(forced) = FORCE_RANKS.with(|f| f.get()) {
        return forced;
    }
    ranks.is_fresh() || items.saturating_mul(16) >= total
}

#[cfg(test)]
thread_local! {
    /// Tests force either sort path with this.
    pub(super) static FORCE_RANKS: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// Cached ranks of ids in key order (release key, advisory id), recomputed when new keys arrive.
#[derive(Debug, Clone, Default)]
pub(super) struct Ranks {
    ranks: Vec<u32>,
    fresh: bool,
}

impl Ranks {
    /// Marks the ranks stale (a new key arrived).
    pub(super) fn invalidate(&mut self) {
        self.fresh = false;
    }

    /// Whether the ranks are usable as they are.
    fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// Recomputes the ranks from the ordered index `ids` (key → id), if stale.
    pub(super) fn refresh<K>(&mut self, ids: &BTreeMap<K, u32>) -> &[u32] {
        if !self.fresh {
            self.ranks.clear();
            self.ranks.resize(ids.len(), 0);
            for (rank, &id) in ids.values().enumerate() {
                if let Some(r) = self.ranks.get_mut(id as usize) {
                    *r = next_id(rank);
                }
            }
            self.fresh = true;
        }
        &self.ranks
    }
}

/// The component tables: every distinct component, keyed by its four strings, where its
/// distribution release comes from and its facts.
#[derive(Debug, Clone, Default)]
pub(super) struct Components {
    /// By component id.
    pub entries: Vec<ComponentEntry>,
    /// Length-prefixed (ecosystem, name, version, purl, release source, facts) → id.
    keys: KeyTable,
    /// Purls by id.
    pub purls: Strings,
    /// Scratch buffer for lookups.
    scratch: Vec<u8>,
}

/// Appends the identity of component `c`, whose release comes from `release`, to `key`: its strings
/// length-prefixed (ecosystem, name, version, purl, release), then its facts (scope, absent and
/// empty told apart; directness; licences).
fn key_into(key: &mut Vec<u8>, c: &Component, release: ReleaseSource<'_>) {
    let (tag, text) = match release {
        ReleaseSource::None => (0u8, ""),
        ReleaseSource::Own(r) => (1, r),
        ReleaseSource::Os(r) => (2, r.as_str()),
    };
    let mut add = |s: &str| {
        key.extend_from_slice(&(s.len() as u64).to_le_bytes());
        key.extend_from_slice(s.as_bytes());
    };
    for s in [c.ecosystem.as_str(), &c.name, &c.version, &c.purl, text] {
        add(s);
    }
    add(c.scope.as_deref().unwrap_or(""));
    for l in &c.licenses {
        add(l);
    }
    let direct = match c.direct {
        None => 0u8,
        Some(false) => 1,
        Some(true) => 2,
    };
    key.extend_from_slice(&[tag, u8::from(c.scope.is_some()), direct]);
    key.extend_from_slice(&(c.licenses.len() as u64).to_le_bytes());
}

impl Components {
    /// The ids of components `cs` (each one's release coming from the same place in `sources`), in
    /// order, and whether each is new: new ones (and their packages, via `package_of`) are interned
    /// in order. One batch, so that the table's memory misses overlap (see [`KeyTable`]).
    pub(super) fn intern_all(
        &mut self,
        cs: &[Component],
        sources: &[ReleaseSource<'_>],
        mut package_of: impl FnMut(PackageKey) -> PackageId,
    ) -> Vec<(ComponentId, bool)> {
        self.scratch.clear();
        let mut spans: Vec<std::ops::Range<usize>> = Vec::with_capacity(cs.len());
        for (c, release) in cs.iter().zip(sources) {
            let start = self.scratch.len();
            key_into(&mut self.scratch, c, *release);
            spans.push(start..self.scratch.len());
        }
        let hashes: Vec<u64> = spans.iter().map(|s| hash_key(&self.scratch[s.clone()])).collect();
        self.keys.touch(&hashes);
        let mut out = Vec::with_capacity(cs.len());
        for (i, (c, release)) in cs.iter().zip(sources).enumerate() {
            let k = &self.scratch[spans[i].clone()];
            if let Some(id) = self.keys.find(hashes[i], k) {
                out.push((id, false));
                continue;
            }
            let id = self.keys.insert(hashes[i], k);
            debug_assert_eq!(id as usize, self.entries.len(), "a component's key and entry share its id");
            let package = PackageKey::new(&c.ecosystem, &c.name).map(&mut package_of);
            let purl = self.purls.intern(&c.purl);
            let purl_text = self.purls.text(purl).clone();
            self.entries.push(ComponentEntry::new(c, *release, package, purl, purl_text));
            out.push((id, true));
        }
        out
    }

    /// Brings into the cache what a release reads of components `ids` (their entries, the last of
    /// their occurrences, their first hit, their packages); returns a value only so the loads are not
    /// optimised away. As [`KeyTable::touch`]: one short loop per level, the misses overlapping.
    pub(super) fn touch(&self, ids: &[ComponentId], packages: &[PackageEntry]) -> u64 {
        let mut sum = 0u64;
        for &id in ids {
            if let Some(c) = self.entries.get(id as usize) {
                sum = sum.wrapping_add((c.occurrences.len() + c.hits.len() + c.evaluated.len()) as u64);
                sum = sum.wrapping_add(u64::from(c.package.unwrap_or(0)));
            }
        }
        for &id in ids {
            if let Some(c) = self.entries.get(id as usize) {
                sum = sum.wrapping_add(c.occurrences.last().map_or(0, |o| u64::from(o.0)));
                sum = sum.wrapping_add(c.hits.first().map_or(0, |h| u64::from(h.0)));
                if let Some(p) = c.package.and_then(|p| packages.get(p as usize)) {
                    sum = sum.wrapping_add(p.advisories.len() as u64);
                }
            }
        }
        std::hint::black_box(sum)
    }

    /// The entry of `id`.
    pub(super) fn get(&self, id: ComponentId) -> &ComponentEntry {
        &self.entries[id as usize]
    }
}
