//! OSV range evaluation: is a package version affected by an advisory's `affected` entry?
//!
//! Follows the OSV schema's evaluation rules: `GIT` ranges are ignored for version matching; within a
//! `SEMVER` or `ECOSYSTEM` range the events are sorted by version (`introduced: "0"` first) and walked
//! in order — `introduced` starts an affected interval, `fixed` ends it (exclusive), `last_affected`
//! ends it (inclusive); `limit` events bound the whole range from above; an explicit `versions` list
//! also counts. A withdrawn advisory affects nothing.

use std::cmp::Ordering;

use trustloop_schemas::{Advisory, Affected, Range, RangeType, Text};

use crate::versions::distro::{DistroRelease, ReleaseMatch, release_applies, split_osv};
use crate::versions::{Ecosystem, Prepared};

/// Why a version matched: what a finding records as its proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeMatch {
    /// `SEMVER`, `ECOSYSTEM` or `versions` (the explicit list).
    pub range_type: &'static str,
    /// The interval that matched, e.g. `introduced=1.0.0,fixed=1.2.3`, or the listed version.
    pub event: String,
    /// The comparator used (`semver`, `pep440`, `dpkg`, `apk`, ...).
    pub comparator: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Introduced,
    Fixed,
    LastAffected,
}

/// One range, ready for repeated evaluation: events sorted once, versions parsed once.
#[derive(Debug, Clone)]
pub struct PreparedRange {
    range_type: &'static str,
    /// (kind, version as written, parsed; `None` for `introduced: "0"`), ascending.
    events: Vec<(Kind, String, Option<Prepared>)>,
    /// Upper bounds (`limit`); `None` is `*` (no bound).
    limits: Vec<Option<Prepared>>,
}

impl PreparedRange {
    /// Prepares `range` for `eco`; `None` for `GIT` ranges, which never match versions.
    pub fn new(range: &Range, eco: Ecosystem) -> Option<PreparedRange> {
        let range_type = match range.kind {
            RangeType::Git => return None,
            RangeType::Semver => "SEMVER",
            RangeType::Ecosystem => "ECOSYSTEM",
        };
        let mut events = Vec::new();
        let mut limits = Vec::new();
        for e in &range.events {
            let mut push = |kind, v: &String| {
                let parsed = (!(kind == Kind::Introduced && v == "0")).then(|| eco.prepare(v));
                events.push((kind, v.clone(), parsed));
            };
            if let Some(v) = &e.introduced {
                push(Kind::Introduced, v);
            }
            if let Some(v) = &e.fixed {
                push(Kind::Fixed, v);
            }
            if let Some(v) = &e.last_affected {
                push(Kind::LastAffected, v);
            }
            if let Some(v) = &e.limit {
                limits.push((v != "*").then(|| eco.prepare(v)));
            }
        }
        // Sort by version ("0" first); equal versions keep document order.
        events.sort_by(|a, b| match (&a.2, &b.2) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => eco.compare_prepared(x, y),
        });
        Some(PreparedRange { range_type, events, limits })
    }

    /// The interval `version` falls in, described, if any.
    pub fn matches(&self, eco: Ecosystem, version: &Prepared) -> Option<String> {
        if !self.limits.is_empty()
            && !self
                .limits
                .iter()
                .any(|l| l.as_ref().is_none_or(|l| eco.compare_prepared(version, l) == Ordering::Less))
        {
            return None;
        }
        // Walk the sorted events; `open` is the introduced version of the interval `version` is in.
        // Events are ascending, so an interval end above `version` closes the search.
        let mut open: Option<&str> = None;
        for (kind, raw, parsed) in &self.events {
            let cmp = || parsed.as_ref().map_or(Ordering::Greater, |p| eco.compare_prepared(version, p));
            match kind {
                Kind::Introduced if cmp() != Ordering::Less => open = Some(raw),
                Kind::Fixed if open.is_some() => match (cmp(), open) {
                    (Ordering::Less, Some(start)) => return Some(format!("introduced={start},fixed={raw}")),
                    _ => open = None,
                },
                Kind::LastAffected if open.is_some() => match (cmp(), open) {
                    (Ordering::Greater, _) => open = None,
                    (_, Some(start)) => return Some(format!("introduced={start},last_affected={raw}")),
                    _ => {}
                },
                _ => {}
            }
        }
        open.map(|start| format!("introduced={start}"))
    }
}

/// One `affected` entry, ready for repeated evaluation.
#[derive(Debug, Clone)]
pub struct PreparedAffected {
    eco: Option<Ecosystem>,
    /// The distribution release its ecosystem names (`Debian:11`), if any.
    release: Option<DistroRelease>,
    /// Its ecosystem as written (`Debian:11`).
    ecosystem: Text,
    name: String,
    ranges: Vec<PreparedRange>,
    versions: Vec<(String, Prepared)>,
}

impl PreparedAffected {
    /// Prepares one `affected` entry (nothing matches if its ecosystem is not supported).
    pub fn new(affected: &Affected) -> PreparedAffected {
        let (eco, release) = split_osv(&affected.package.ecosystem).map_or((None, None), |(e, r)| (Some(e), r));
        let (ranges, versions) = match eco {
            Some(e) => (
                affected.ranges.iter().filter_map(|r| PreparedRange::new(r, e)).collect(),
                affected.versions.iter().map(|v| (v.clone(), e.prepare(v))).collect(),
            ),
            None => (Vec::new(), Vec::new()),
        };
        PreparedAffected {
            eco,
            release,
            ecosystem: affected.package.ecosystem.as_str().into(),
            name: affected.package.name.clone(),
            ranges,
            versions,
        }
    }

    /// The distribution release the entry is scoped to (`11` of `Debian:11`), if any.
    pub fn release(&self) -> Option<&DistroRelease> {
        self.release.as_ref()
    }

    /// The entry's ecosystem as written (`Debian:11`), shared.
    pub fn ecosystem_text(&self) -> &Text {
        &self.ecosystem
    }

    /// Whether `version` (prepared for `eco`) is affected, and why.
    pub fn matches(&self, eco: Ecosystem, version: &Prepared) -> Option<RangeMatch> {
        for r in &self.ranges {
            if let Some(event) = r.matches(eco, version) {
                return Some(RangeMatch { range_type: r.range_type, event, comparator: eco.comparator() });
            }
        }
        self.versions.iter().find(|(_, p)| eco.compare_prepared(p, version) == Ordering::Equal).map(|(v, _)| {
            RangeMatch { range_type: "versions", event: format!("version={v}"), comparator: eco.comparator() }
        })
    }
}

/// An advisory ready for repeated evaluation: the impact operator prepares each advisory once.
#[derive(Debug, Clone)]
pub struct PreparedAdvisory {
    active: bool,
    affected: Vec<PreparedAffected>,
    /// For an advisory of many entries (a distribution's advisory names every binary package of
    /// each release): the entries naming each package, by [`Ecosystem::package_key`], in advisory
    /// order — so a lookup does not scan them all.
    by_name: Option<crate::impact::fx::FxHashMap<String, Vec<u32>>>,
}

/// Advisories with more entries than this get a by-name index.
const INDEX_ABOVE: usize = 8;

impl PreparedAdvisory {
    /// Prepares `advisory`; withdrawn or deleted advisories affect nothing.
    pub fn new(advisory: &Advisory) -> PreparedAdvisory {
        let active = advisory.withdrawn.is_none() && advisory.change != trustloop_schemas::AdvisoryChange::Delete;
        let affected: Vec<PreparedAffected> = advisory.affected.iter().map(PreparedAffected::new).collect();
        let by_name = (affected.len() > INDEX_ABOVE).then(|| {
            let mut index: crate::impact::fx::FxHashMap<String, Vec<u32>> = Default::default();
            for (i, a) in affected.iter().enumerate() {
                if let Some(eco) = a.eco {
                    index.entry(eco.package_key(&a.name).into_owned()).or_default().push(i as u32);
                }
            }
            index
        });
        PreparedAdvisory { active, affected, by_name }
    }

    /// The first `found` of the entries of ecosystem `eco` naming package `name`, in advisory order.
    fn find_entry<'a, T>(
        &'a self,
        eco: Ecosystem,
        name: &str,
        mut found: impl FnMut(&'a PreparedAffected) -> Option<T>,
    ) -> Option<T> {
        let mut check = |a: &'a PreparedAffected| {
            if a.eco == Some(eco) && eco.same_package(&a.name, name) { found(a) } else { None }
        };
        match &self.by_name {
            Some(index) => {
                let hits = index.get(eco.package_key(name).as_ref()).map_or(&[][..], Vec::as_slice);
                hits.iter().find_map(|&i| check(&self.affected[i as usize]))
            }
            None => self.affected.iter().find_map(check),
        }
    }

    /// Whether `version` (prepared for `eco`) of package `name` is affected, and why.
    pub fn affects_prepared(&self, eco: Ecosystem, name: &str, version: &Prepared) -> Option<RangeMatch> {
        if !self.active {
            return None;
        }
        self.find_entry(eco, name, |a| a.matches(eco, version))
    }

    /// Whether `version` (prepared for `eco`) of package `name`, built for distribution release
    /// `release` (`None`: not known), is affected, and why: the first entry in advisory order that
    /// names the package, is not scoped to another release ([`release_applies`]) and matches. Also
    /// returns that entry and how its release met the component's. Allocates only for a match.
    pub fn affects_in_release(
        &self,
        eco: Ecosystem,
        name: &str,
        version: &Prepared,
        release: Option<&DistroRelease>,
    ) -> Option<(RangeMatch, &PreparedAffected, ReleaseMatch)> {
        if !self.active {
            return None;
        }
        self.find_entry(eco, name, |a| {
            let applies = release_applies(a.release.as_ref(), release);
            if applies == ReleaseMatch::Different {
                return None;
            }
            a.matches(eco, version).map(|m| (m, a, applies))
        })
    }
}

impl PreparedAdvisory {
    /// Brings into the cache what evaluating entry `i` reads at depth `level` (0: the entry, 1: its
    /// first range, 2: that range's first event and its version), once the levels above are cached;
    /// returns a value only so the loads are not optimised away. The impact operator touches the
    /// entries a release is about to evaluate a level at a time, so that their misses overlap.
    pub fn touch(&self, i: u32, level: u8) -> u64 {
        let Some(a) = self.affected.get(i as usize) else { return 0 };
        match level {
            0 => a.ranges.len() as u64 + u64::from(a.eco.is_some()),
            1 => a.ranges.first().map_or(0, |r| r.events.len() as u64 + r.limits.len() as u64),
            _ => a.ranges.first().and_then(|r| r.events.first()).map_or(0, |(_, raw, parsed)| {
                let raw = raw.as_bytes().first().copied().unwrap_or(0);
                let parsed = match parsed {
                    Some(Prepared::Raw(s)) => s.as_bytes().first().copied().unwrap_or(0),
                    _ => 0,
                };
                u64::from(raw) + u64::from(parsed)
            }),
        }
    }

    /// [`PreparedAdvisory::affects_in_release`] over the entries `at` (indices into the advisory's
    /// `affected`, ascending) that the caller already knows name the package — so no name is
    /// compared: the impact operator keeps each advisory's entries by package.
    pub fn affects_entries_in_release(
        &self,
        at: impl IntoIterator<Item = u32>,
        eco: Ecosystem,
        version: &Prepared,
        release: Option<&DistroRelease>,
    ) -> Option<(RangeMatch, &PreparedAffected, ReleaseMatch)> {
        if !self.active {
            return None;
        }
        at.into_iter().filter_map(|i| self.affected.get(i as usize)).find_map(|a| {
            if a.eco != Some(eco) {
                return None;
            }
            let applies = release_applies(a.release.as_ref(), release);
            if applies == ReleaseMatch::Different {
                return None;
            }
            a.matches(eco, version).map(|m| (m, a, applies))
        })
    }
}

/// Evaluates one range for `version`; returns the matching interval's description.
pub fn range_matches(range: &Range, eco: Ecosystem, version: &str) -> Option<String> {
    PreparedRange::new(range, eco)?.matches(eco, &eco.prepare(version))
}

/// Whether `version` is affected by one `affected` entry (read as ecosystem `eco`), and why.
pub fn affected_entry(affected: &Affected, eco: Ecosystem, version: &str) -> Option<RangeMatch> {
    let prepared = PreparedAffected {
        eco: Some(eco),
        release: None,
        ecosystem: affected.package.ecosystem.as_str().into(),
        name: affected.package.name.clone(),
        ranges: affected.ranges.iter().filter_map(|r| PreparedRange::new(r, eco)).collect(),
        versions: affected.versions.iter().map(|v| (v.clone(), eco.prepare(v))).collect(),
    };
    prepared.matches(eco, &eco.prepare(version))
}

/// Whether `version` of package `name` in `ecosystem` is affected by `advisory`, and why.
/// Withdrawn or deleted advisories affect nothing; unknown ecosystems match nothing.
pub fn affects(advisory: &Advisory, ecosystem: &str, name: &str, version: &str) -> Option<RangeMatch> {
    let eco = Ecosystem::from_osv(ecosystem)?;
    PreparedAdvisory::new(advisory).affects_prepared(eco, name, &eco.prepare(version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use trustloop_schemas::{AffectedPackage, RangeEvent};

    fn range(kind: RangeType, evs: &[(&str, &str)]) -> Range {
        Range {
            kind,
            repo: None,
            events: evs
                .iter()
                .map(|(k, v)| {
                    let mut e = RangeEvent::default();
                    let v = Some(v.to_string());
                    match *k {
                        "introduced" => e.introduced = v,
                        "fixed" => e.fixed = v,
                        "last_affected" => e.last_affected = v,
                        _ => e.limit = v,
                    }
                    e
                })
                .collect(),
        }
    }

    fn entry(ranges: Vec<Range>, versions: &[&str]) -> Affected {
        Affected {
            package: AffectedPackage { ecosystem: "crates.io".into(), name: "x".into(), purl: None },
            ranges,
            versions: versions.iter().map(|v| v.to_string()).collect(),
            ecosystem_specific: None,
            database_specific: None,
        }
    }

    fn hit(a: &Affected, v: &str) -> bool {
        affected_entry(a, Ecosystem::CratesIo, v).is_some()
    }

    #[test]
    fn introduced_fixed_intervals() {
        let a = entry(
            vec![range(
                RangeType::Semver,
                &[("introduced", "0"), ("fixed", "1.2.0"), ("introduced", "2.0.0"), ("fixed", "2.0.5")],
            )],
            &[],
        );
        assert!(hit(&a, "0.1.0"));
        assert!(hit(&a, "1.1.9"));
        assert!(!hit(&a, "1.2.0"));
        assert!(!hit(&a, "1.9.0"));
        assert!(hit(&a, "2.0.0"));
        assert!(hit(&a, "2.0.4"));
        assert!(!hit(&a, "2.0.5"));
        assert_eq!(
            affected_entry(&a, Ecosystem::CratesIo, "2.0.1").map(|m| m.event),
            Some("introduced=2.0.0,fixed=2.0.5".to_string())
        );
        // Events out of order in the document are sorted first.
        let b = entry(vec![range(RangeType::Semver, &[("fixed", "2.0.5"), ("introduced", "2.0.0")])], &[]);
        assert!(hit(&b, "2.0.1"));
        assert!(!hit(&b, "1.0.0"));
    }

    #[test]
    fn last_affected_limit_versions_and_git() {
        let a = entry(vec![range(RangeType::Ecosystem, &[("introduced", "1.0.0"), ("last_affected", "1.4.0")])], &[]);
        assert!(hit(&a, "1.4.0"));
        assert!(!hit(&a, "1.4.1"));
        assert!(!hit(&a, "0.9.0"));
        let open = entry(vec![range(RangeType::Semver, &[("introduced", "1.0.0")])], &[]);
        assert!(hit(&open, "99.0.0"));
        let limited = entry(vec![range(RangeType::Semver, &[("introduced", "1.0.0"), ("limit", "2.0.0")])], &[]);
        assert!(hit(&limited, "1.5.0"));
        assert!(!hit(&limited, "2.1.0"));
        let listed = entry(vec![range(RangeType::Git, &[("introduced", "0"), ("fixed", "abc")])], &["1.0.0", "1.0.1"]);
        assert!(hit(&listed, "1.0.1"));
        assert!(!hit(&listed, "1.0.2"), "GIT ranges do not match versions");
        assert_eq!(affected_entry(&listed, Ecosystem::CratesIo, "1.0.0").map(|m| m.range_type), Some("versions"));
    }

    #[test]
    fn a_many_entry_advisory_finds_the_first_entry_naming_the_package_by_its_key() {
        // More entries than INDEX_ABOVE: looked up by name, in advisory order, names compared as
        // the ecosystem compares them.
        let mut affected = Vec::new();
        for i in 0..12 {
            let mut a =
                entry(vec![range(RangeType::Ecosystem, &[("introduced", "0"), ("fixed", &format!("{i}.0"))])], &[]);
            a.package = AffectedPackage { ecosystem: "PyPI".into(), name: format!("pkg_{}", i % 3), purl: None };
            affected.push(a);
        }
        affected[7].package.ecosystem = "crates.io".into();
        affected[7].package.name = "Some_Crate".into();
        let advisory = Advisory {
            envelope: trustloop_schemas::Envelope {
                event_id: trustloop_schemas::derive_event_id("test", &[]),
                tenant: "t".into(),
                key: "k".into(),
                event_time: trustloop_schemas::EventTime::from_micros(0),
                source: "test".into(),
                schema_version: 2,
            },
            change: trustloop_schemas::AdvisoryChange::Upsert,
            id: "PYSEC-0".into(),
            modified: trustloop_schemas::EventTime::from_micros(0),
            published: None,
            withdrawn: None,
            aliases: vec![],
            related: vec![],
            summary: None,
            details: None,
            severity: vec![],
            affected,
            references: vec![],
            known_exploited: false,
            database_specific: None,
            upstream: vec![],
        };
        let p = PreparedAdvisory::new(&advisory);
        assert!(p.by_name.is_some(), "indexed");
        let pypi = |name: &str, v: &str| p.affects_prepared(Ecosystem::PyPI, name, &Ecosystem::PyPI.prepare(v));
        // pkg-1 (= pkg_1, PKG.1) is named by entries 1, 4, 7 (crates.io), 10: the first PyPI one
        // that matches wins.
        assert_eq!(pypi("PKG.1", "0.5").map(|m| m.event), Some("introduced=0,fixed=1.0".into()));
        assert_eq!(pypi("pkg-1", "3.0").map(|m| m.event), Some("introduced=0,fixed=4.0".into()));
        assert_eq!(pypi("pkg_1", "9.0").map(|m| m.event), Some("introduced=0,fixed=10.0".into()));
        assert!(pypi("pkg-3", "0.1").is_none());
        let cargo = p.affects_prepared(Ecosystem::CratesIo, "some-crate", &Ecosystem::CratesIo.prepare("1.0.0"));
        assert_eq!(cargo.map(|m| m.event), Some("introduced=0,fixed=7.0".into()));
    }
}
