//! OSV range evaluation: is a package version affected by an advisory's `affected` entry?
//!
//! Follows the OSV schema's evaluation rules: `GIT` ranges are ignored for version matching; within a
//! `SEMVER` or `ECOSYSTEM` range the events are sorted by version (`introduced: "0"` first) and walked
//! in order — `introduced` starts an affected interval, `fixed` ends it (exclusive), `last_affected`
//! ends it (inclusive); `limit` events bound the whole range from above; an explicit `versions` list
//! also counts. A withdrawn advisory affects nothing.

use std::cmp::Ordering;

use trustloop_schemas::{Advisory, Affected, Range, RangeEvent, RangeType};

use crate::versions::Ecosystem;

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
    Limit,
}

fn events(range: &Range) -> Vec<(Kind, &str)> {
    range
        .events
        .iter()
        .flat_map(|e: &RangeEvent| {
            [
                e.introduced.as_deref().map(|v| (Kind::Introduced, v)),
                e.fixed.as_deref().map(|v| (Kind::Fixed, v)),
                e.last_affected.as_deref().map(|v| (Kind::LastAffected, v)),
                e.limit.as_deref().map(|v| (Kind::Limit, v)),
            ]
        })
        .flatten()
        .collect()
}

fn cmp_event(eco: Ecosystem, a: &str, b: &str) -> Ordering {
    match (a == "0", b == "0") {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => eco.compare(a, b),
    }
}

/// Evaluates one range for `version`; returns the matching interval's description.
pub fn range_matches(range: &Range, eco: Ecosystem, version: &str) -> Option<String> {
    if range.kind == RangeType::Git {
        return None;
    }
    let mut evs = events(range);
    // Sort by version; at equal versions keep the document order (stable sort).
    evs.sort_by(|a, b| cmp_event(eco, a.1, b.1));
    let limits: Vec<&str> = evs.iter().filter(|(k, _)| *k == Kind::Limit).map(|(_, v)| *v).collect();
    if !limits.is_empty() && !limits.iter().any(|l| *l == "*" || eco.compare(version, l) == Ordering::Less) {
        return None;
    }
    // Walk the sorted events; `open` is the introduced version of the interval `version` is in.
    // Events are ascending, so an interval end above `version` closes the search.
    let mut open: Option<&str> = None;
    for (kind, v) in &evs {
        match kind {
            Kind::Introduced if *v == "0" || eco.compare(version, v) != Ordering::Less => open = Some(v),
            Kind::Fixed if open.is_some() => match (eco.compare(version, v), open) {
                (Ordering::Less, Some(start)) => return Some(format!("introduced={start},fixed={v}")),
                _ => open = None,
            },
            Kind::LastAffected if open.is_some() => match (eco.compare(version, v), open) {
                (Ordering::Greater, _) => open = None,
                (_, Some(start)) => return Some(format!("introduced={start},last_affected={v}")),
                _ => {}
            },
            _ => {}
        }
    }
    open.map(|start| format!("introduced={start}"))
}

/// Whether `version` is affected by one `affected` entry, and why.
pub fn affected_entry(affected: &Affected, eco: Ecosystem, version: &str) -> Option<RangeMatch> {
    for range in &affected.ranges {
        if let Some(event) = range_matches(range, eco, version) {
            let range_type = match range.kind {
                RangeType::Semver => "SEMVER",
                RangeType::Ecosystem => "ECOSYSTEM",
                RangeType::Git => "GIT",
            };
            return Some(RangeMatch { range_type, event, comparator: eco.comparator() });
        }
    }
    affected.versions.iter().find(|v| eco.compare(v, version) == Ordering::Equal).map(|v| RangeMatch {
        range_type: "versions",
        event: format!("version={v}"),
        comparator: eco.comparator(),
    })
}

/// Whether `version` of package `name` in `ecosystem` is affected by `advisory`, and why.
/// Withdrawn or deleted advisories affect nothing; unknown ecosystems match nothing.
pub fn affects(advisory: &Advisory, ecosystem: &str, name: &str, version: &str) -> Option<RangeMatch> {
    if advisory.withdrawn.is_some() || advisory.change == trustloop_schemas::AdvisoryChange::Delete {
        return None;
    }
    let eco = Ecosystem::from_osv(ecosystem)?;
    advisory
        .affected
        .iter()
        .filter(|a| Ecosystem::from_osv(&a.package.ecosystem) == Some(eco) && eco.same_package(&a.package.name, name))
        .find_map(|a| affected_entry(a, eco, version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use trustloop_schemas::AffectedPackage;

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
}
