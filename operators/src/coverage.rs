//! Blind spots: the components of a release that no advisory source can check, so that a PASS over
//! them is not mistaken for a clean bill of health.
//!
//! A component is a blind spot when
//! - its document lists it but the import left it out (no purl, no version, a path or git
//!   dependency, a purl type with no OSV ecosystem: the inventory's `left_out`);
//! - trustloop cannot order its ecosystem's versions, so no advisory range can be evaluated; or
//! - no advisory seen so far names its ecosystem (for a distribution package: its distribution at
//!   its release, or any release when its release is not known).

use std::collections::{BTreeMap, BTreeSet};

use trustloop_schemas::{Advisory, AdvisoryChange, ReleaseInventory};

use crate::versions::Ecosystem;
use crate::versions::distro::{self, DistroRelease, ReleaseMatch};

/// Why a component is a blind spot.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BlindSpotReason {
    /// The import left it out, for this reason.
    LeftOut(String),
    /// trustloop does not order this ecosystem's versions.
    NoOrdering,
    /// No advisory names its ecosystem (at its distribution release).
    NoAdvisories,
}

impl std::fmt::Display for BlindSpotReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlindSpotReason::LeftOut(why) => write!(f, "left out at import: {why}"),
            BlindSpotReason::NoOrdering => f.write_str("trustloop does not order this ecosystem's versions"),
            BlindSpotReason::NoAdvisories => f.write_str("no advisory source covers this ecosystem (or release)"),
        }
    }
}

/// One component no advisory source checks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlindSpot {
    /// The component: its purl, else what the document gives.
    pub component: String,
    /// Its ecosystem (with `:release` for a distribution package whose release is known).
    pub ecosystem: Option<String>,
    /// Why.
    pub reason: BlindSpotReason,
    /// Where its document declares it, if known.
    pub location: Option<String>,
}

/// The ecosystems (and distribution releases) that the advisories seen so far cover: an advisory
/// covers every ecosystem its `affected` entries name for as long as it is not deleted.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    /// Per advisory id, what it covers (replaced on upsert, dropped on delete).
    by_advisory: BTreeMap<String, BTreeSet<(Ecosystem, Option<DistroRelease>)>>,
    /// How many advisories cover each (ecosystem, release).
    counts: BTreeMap<(Ecosystem, Option<DistroRelease>), usize>,
}

impl Coverage {
    /// Takes an advisory event into account.
    pub fn apply(&mut self, advisory: &Advisory) {
        if let Some(old) = self.by_advisory.remove(&advisory.id) {
            for key in old {
                if let Some(n) = self.counts.get_mut(&key) {
                    *n -= 1;
                    if *n == 0 {
                        self.counts.remove(&key);
                    }
                }
            }
        }
        if advisory.change == AdvisoryChange::Delete {
            return;
        }
        let keys: BTreeSet<_> =
            advisory.affected.iter().filter_map(|a| distro::split_osv(&a.package.ecosystem)).collect();
        for key in &keys {
            *self.counts.entry(key.clone()).or_default() += 1;
        }
        self.by_advisory.insert(advisory.id.clone(), keys);
    }

    /// Whether some advisory covers ecosystem `eco` at release `release` (`None`: not known, so any
    /// release's advisories count).
    pub fn covers(&self, eco: Ecosystem, release: Option<&DistroRelease>) -> bool {
        self.counts
            .range((eco, None)..)
            .take_while(|((e, _), _)| *e == eco)
            .any(|((_, r), _)| distro::release_applies(r.as_ref(), release) != ReleaseMatch::Different)
    }

    /// The blind spots of `inventory`, in its order: left-out entries first, then components.
    pub fn blind_spots(&self, inventory: &ReleaseInventory) -> Vec<BlindSpot> {
        let mut out: Vec<BlindSpot> = inventory
            .left_out
            .iter()
            .map(|l| BlindSpot {
                component: l.component.clone(),
                ecosystem: l.ecosystem.clone(),
                reason: BlindSpotReason::LeftOut(l.reason.clone()),
                location: Some(l.location.clone()),
            })
            .collect();
        for c in &inventory.components {
            let Some(eco) = Ecosystem::from_osv(&c.ecosystem) else {
                out.push(BlindSpot {
                    component: c.purl.clone(),
                    ecosystem: Some(c.ecosystem.clone()),
                    reason: BlindSpotReason::NoOrdering,
                    location: c.location.clone(),
                });
                continue;
            };
            let release = c.distro_release.as_deref().and_then(|r| distro::release_of(eco, r)).or_else(|| {
                let os = inventory.os.as_ref()?;
                let (os_eco, release) = distro::split_osv(&os.distribution)?;
                if os_eco != eco {
                    return None;
                }
                release.or_else(|| distro::release_of(eco, os.release.as_deref()?))
            });
            if !self.covers(eco, release.as_ref()) {
                let ecosystem = match &release {
                    Some(r) => format!("{}:{r}", c.ecosystem),
                    None => c.ecosystem.clone(),
                };
                out.push(BlindSpot {
                    component: c.purl.clone(),
                    ecosystem: Some(ecosystem),
                    reason: BlindSpotReason::NoAdvisories,
                    location: c.location.clone(),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use trustloop_schemas::{
        Affected, AffectedPackage, Component, Envelope, EventId, EventTime, InventoryFormat, LeftOutComponent,
    };

    use super::*;

    fn envelope() -> Envelope {
        Envelope {
            event_id: EventId(uuid::Uuid::nil()),
            tenant: "t".into(),
            key: "k".into(),
            event_time: EventTime::from_micros(0),
            source: "test".into(),
            schema_version: 1,
        }
    }

    fn advisory(id: &str, ecosystems: &[&str], change: AdvisoryChange) -> Advisory {
        Advisory {
            envelope: envelope(),
            change,
            id: id.into(),
            modified: EventTime::from_micros(0),
            published: None,
            withdrawn: None,
            aliases: vec![],
            related: vec![],
            summary: None,
            details: None,
            severity: vec![],
            affected: ecosystems
                .iter()
                .map(|e| Affected {
                    package: AffectedPackage { ecosystem: (*e).into(), name: "p".into(), purl: None },
                    ranges: vec![],
                    versions: vec![],
                    ecosystem_specific: None,
                    database_specific: None,
                })
                .collect(),
            references: vec![],
            known_exploited: false,
            database_specific: None,
            upstream: Vec::new(),
        }
    }

    fn component(purl: &str, ecosystem: &str, release: Option<&str>) -> Component {
        Component {
            purl: purl.into(),
            ecosystem: ecosystem.into(),
            name: "p".into(),
            version: "1".into(),
            distro_release: release.map(str::to_string),
            ..Default::default()
        }
    }

    fn inventory(components: Vec<Component>) -> ReleaseInventory {
        ReleaseInventory {
            envelope: envelope(),
            release_name: "r".into(),
            release_version: "1".into(),
            environment: None,
            format: InventoryFormat::Other,
            document_digest: None,
            components,
            os: None,
            labels: Default::default(),
            left_out: vec![LeftOutComponent {
                component: "pkg:generic/x@1".into(),
                ecosystem: None,
                reason: "purl type `generic` has no OSV ecosystem".into(),
                location: "/components/0".into(),
            }],
        }
    }

    #[test]
    fn blind_spots_by_reason() {
        let mut cov = Coverage::default();
        cov.apply(&advisory("DSA-1", &["Debian:11"], AdvisoryChange::Upsert));
        cov.apply(&advisory("GHSA-1", &["npm"], AdvisoryChange::Upsert));
        let inv = inventory(vec![
            component("pkg:deb/debian/a@1?distro=debian-11", "Debian", Some("11")),
            component("pkg:deb/debian/b@1?distro=debian-12", "Debian", Some("12")),
            component("pkg:deb/debian/c@1", "Debian", None),
            component("pkg:npm/d@1", "npm", None),
            component("pkg:pypi/e@1", "PyPI", None),
            component("pkg:conan/f@1", "ConanCenter", None),
        ]);
        let spots: Vec<(String, BlindSpotReason)> =
            cov.blind_spots(&inv).into_iter().map(|s| (s.component, s.reason)).collect();
        assert_eq!(
            spots,
            [
                ("pkg:generic/x@1".into(), BlindSpotReason::LeftOut("purl type `generic` has no OSV ecosystem".into())),
                ("pkg:deb/debian/b@1?distro=debian-12".into(), BlindSpotReason::NoAdvisories),
                ("pkg:pypi/e@1".into(), BlindSpotReason::NoAdvisories),
                ("pkg:conan/f@1".into(), BlindSpotReason::NoOrdering),
            ]
        );
        // A deleted advisory covers nothing; an upsert replaces what it covered.
        cov.apply(&advisory("GHSA-1", &[], AdvisoryChange::Delete));
        assert!(!cov.covers(Ecosystem::Npm, None));
        cov.apply(&advisory("DSA-1", &["Debian:12"], AdvisoryChange::Upsert));
        assert!(!cov.covers(Ecosystem::Debian, distro::release_of(Ecosystem::Debian, "11").as_ref()));
        assert!(cov.covers(Ecosystem::Debian, None), "an unknown release is covered by any release's advisories");
    }
}
