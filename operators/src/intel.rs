//! Exploitation intelligence: which CVEs a catalog of known-exploited vulnerabilities lists (CISA
//! KEV) and each CVE's latest EPSS score, as `KnownExploited` and `EpssScores` events state them —
//! and which CVEs a vulnerability has (its alias group's, and the upstream CVEs a distribution
//! advisory fixes), so a finding can be matched against both.
//!
//! Events apply in input order; the latest about a CVE wins (a `removed` entry takes a listing
//! back, a later day's score replaces an earlier one). A CVE that a later EPSS file no longer
//! scores keeps its last score (with that score's date).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use trustloop_schemas::{Advisory, CatalogChange, EpssScores, EventTime, KnownExploited, Text, Texts};

use crate::versions::Ecosystem;
use crate::versions::distro::split_osv;
use crate::vex::id_key;

/// A CVE's entry in a known-exploited catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The `KnownExploited` event that listed it.
    pub event_id: String,
    /// The catalog (`cisa-kev`).
    pub catalog: String,
    /// When it was added, `YYYY-MM-DD`.
    pub date_added: String,
    /// The event's time.
    pub at: EventTime,
}

/// A CVE's EPSS score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Probability of exploitation activity in the next 30 days, 0–1.
    pub epss: f64,
    /// Percentile, 0–1.
    pub percentile: f64,
    /// The score date, as the file states it.
    pub date: Text,
}

/// The latest EPSS score of every CVE scored so far (by [`id_key`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EpssTable {
    scores: BTreeMap<String, Score>,
}

impl EpssTable {
    /// Applies one part of a day's scores; returns the CVEs whose score or percentile changed.
    pub fn apply(&mut self, e: &EpssScores) -> Vec<String> {
        let date: Text = e.score_date.as_str().into();
        let mut changed = Vec::new();
        for s in &e.scores {
            let key = id_key(&s.cve);
            let score = Score { epss: s.epss, percentile: s.percentile, date: date.clone() };
            match self.scores.get_mut(&key) {
                Some(old) if old.epss == s.epss && old.percentile == s.percentile => old.date = score.date,
                Some(old) => {
                    *old = score;
                    changed.push(key);
                }
                None => {
                    self.scores.insert(key.clone(), score);
                    changed.push(key);
                }
            }
        }
        changed
    }

    /// The highest score among `cves` (as [`id_key`]s; the first such CVE on a tie), with its CVE.
    pub fn highest<'a, S: AsRef<str>>(&self, cves: &'a [S]) -> Option<(&'a str, &Score)> {
        if self.scores.is_empty() {
            return None;
        }
        let mut best: Option<(&str, &Score)> = None;
        for c in cves {
            if let Some(s) = self.scores.get(c.as_ref())
                && best.is_none_or(|(_, b)| s.epss > b.epss)
            {
                best = Some((c.as_ref(), s));
            }
        }
        best
    }

    /// How many CVEs have a score.
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    /// Whether no CVE has a score.
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
}

/// The catalogs and scores known so far (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct Intel {
    /// Listed CVEs (as [`id_key`]s).
    kev: BTreeMap<String, Listing>,
    /// Latest score per CVE.
    epss: EpssTable,
}

impl Intel {
    /// Applies a catalog entry; returns the CVE (as an [`id_key`]) if whether it is listed changed.
    pub fn apply_kev(&mut self, e: &KnownExploited) -> Option<String> {
        let key = id_key(&e.cve);
        match e.change {
            CatalogChange::Listed => {
                let listing = Listing {
                    event_id: e.envelope.event_id.to_string(),
                    catalog: e.catalog.clone(),
                    date_added: e.date_added.clone(),
                    at: e.envelope.event_time,
                };
                self.kev.insert(key.clone(), listing).is_none().then_some(key)
            }
            CatalogChange::Removed => self.kev.remove(&key).map(|_| key),
        }
    }

    /// Applies one part of a day's scores; returns how many scores changed.
    pub fn apply_epss(&mut self, e: &EpssScores) -> usize {
        self.epss.apply(e).len()
    }

    /// The catalog entry of `cve`, if it is listed.
    pub fn listing(&self, cve: &str) -> Option<&Listing> {
        self.kev.get(&id_key(cve))
    }

    /// Those of `cves` (as [`id_key`]s) that are listed, in the order given.
    pub fn exploited(&self, cves: &[Text]) -> Texts {
        if self.kev.is_empty() {
            return Texts::default();
        }
        cves.iter().filter(|c| self.kev.contains_key(&***c)).cloned().collect()
    }

    /// The highest score among `cves` (as [`id_key`]s; the first such CVE on a tie), with its CVE.
    pub fn epss<'a>(&self, cves: &'a [Text]) -> Option<(&'a str, &Score)> {
        self.epss.highest(cves)
    }

    /// How many CVEs are listed, and how many have a score.
    pub fn counts(&self) -> (usize, usize) {
        (self.kev.len(), self.epss.len())
    }
}

/// Whether `id` is a CVE id (`CVE-YYYY-N…`, any case).
pub fn is_cve(id: &str) -> bool {
    let id = id.trim();
    id.len() > 9 && id[..4].eq_ignore_ascii_case("CVE-") && id[4..].bytes().all(|b| b.is_ascii_digit() || b == b'-')
}

/// The upstream CVEs `advisory` is about (as [`id_key`]s, ascending): its `upstream` ids, and, for
/// an advisory of distribution packages only that names none there, the CVEs in its `related`
/// (AlmaLinux's advisories list the CVEs they fix there). A RustSec or PyPA `related` entry names
/// another vulnerability, not this one, and is not read.
pub fn upstream_cves(advisory: &Advisory) -> Vec<String> {
    let from_upstream: BTreeSet<String> =
        advisory.upstream.iter().filter(|id| is_cve(id)).map(|id| id_key(id)).collect();
    if !from_upstream.is_empty() || advisory.affected.is_empty() {
        return from_upstream.into_iter().collect();
    }
    let distribution = advisory.affected.iter().all(|a| {
        split_osv(&a.package.ecosystem).is_some_and(|(eco, _)| is_distribution(eco))
            || Ecosystem::from_osv(&a.package.ecosystem).is_some_and(is_distribution)
    });
    if !distribution {
        return Vec::new();
    }
    let related: BTreeSet<String> = advisory.related.iter().filter(|id| is_cve(id)).map(|id| id_key(id)).collect();
    related.into_iter().collect()
}

/// Whether `eco` is an operating system distribution (its advisories are downstream of the upstream
/// projects' CVEs).
pub fn is_distribution(eco: Ecosystem) -> bool {
    use Ecosystem::*;
    matches!(
        eco,
        Debian
            | Ubuntu
            | Alpine
            | RedHat
            | AlmaLinux
            | RockyLinux
            | Suse
            | OpenSuse
            | Mageia
            | OpenEuler
            | PhotonOs
            | AzureLinux
            | Wolfi
            | Chainguard
            | MinimOs
            | Alpaquita
            | BellSoftHardenedContainers
    )
}

/// The CVE ids of a vulnerability: the CVEs of its alias `group` (as [`id_key`]s) and its `upstream`
/// CVEs, ascending, each once.
pub fn vulnerability_cves<'a>(group: impl IntoIterator<Item = &'a String>, upstream: &'a [String]) -> Texts {
    let all: BTreeSet<&str> = group
        .into_iter()
        .map(String::as_str)
        .filter(|id| is_cve(id))
        .chain(upstream.iter().map(String::as_str))
        .collect();
    all.into_iter().map(Text::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use trustloop_schemas::{Affected, AffectedPackage, Envelope, EpssScore};

    fn envelope(at: i64) -> Envelope {
        Envelope {
            event_id: trustloop_schemas::derive_event_id("intel-test", &[&at.to_le_bytes()]),
            tenant: "t".into(),
            key: "k".into(),
            event_time: EventTime::from_micros(at),
            source: "test".into(),
            schema_version: 1,
        }
    }

    fn kev(cve: &str, change: CatalogChange) -> KnownExploited {
        KnownExploited {
            envelope: envelope(1),
            change,
            cve: cve.into(),
            catalog: "cisa-kev".into(),
            catalog_version: "1".into(),
            date_added: "2022-06-27".into(),
            due_date: None,
            vendor_project: None,
            product: None,
            vulnerability_name: None,
            short_description: None,
            required_action: None,
            known_ransomware_campaign_use: None,
            notes: None,
            cwes: Vec::new(),
        }
    }

    fn advisory(id: &str, ecosystem: &str, related: &[&str], upstream: &[&str]) -> Advisory {
        Advisory {
            envelope: envelope(1),
            change: trustloop_schemas::AdvisoryChange::Upsert,
            id: id.into(),
            modified: EventTime::from_micros(0),
            published: None,
            withdrawn: None,
            aliases: Vec::new(),
            related: related.iter().map(|s| s.to_string()).collect(),
            summary: None,
            details: None,
            severity: Vec::new(),
            affected: vec![Affected {
                package: AffectedPackage { ecosystem: ecosystem.into(), name: "p".into(), purl: None },
                ranges: Vec::new(),
                versions: Vec::new(),
                ecosystem_specific: None,
                database_specific: None,
            }],
            references: Vec::new(),
            known_exploited: false,
            database_specific: None,
            upstream: upstream.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn listings_change_only_when_listed_status_does() {
        let mut i = Intel::default();
        assert_eq!(i.apply_kev(&kev("cve-2021-4034", CatalogChange::Listed)).as_deref(), Some("CVE-2021-4034"));
        assert_eq!(i.apply_kev(&kev("CVE-2021-4034", CatalogChange::Listed)), None, "already listed");
        let cves: Vec<Text> = vec!["CVE-2020-1".into(), "CVE-2021-4034".into()];
        assert!(i.listing("cve-2021-4034").is_some());
        assert_eq!(&*i.exploited(&cves), &[Text::from("CVE-2021-4034")]);
        assert_eq!(i.apply_kev(&kev("CVE-2021-4034", CatalogChange::Removed)).as_deref(), Some("CVE-2021-4034"));
        assert!(i.exploited(&cves).is_empty());
        assert_eq!(i.apply_kev(&kev("CVE-2021-4034", CatalogChange::Removed)), None, "not listed");
    }

    #[test]
    fn the_highest_score_wins_and_later_days_replace_earlier() {
        let mut i = Intel::default();
        let day = |date: &str, scores: &[(&str, f64)]| EpssScores {
            envelope: envelope(2),
            model_version: None,
            score_date: date.into(),
            part: 0,
            parts: 1,
            scores: scores.iter().map(|(c, s)| EpssScore { cve: c.to_string(), epss: *s, percentile: *s }).collect(),
        };
        assert_eq!(i.apply_epss(&day("2025-08-24", &[("CVE-1-1", 0.1), ("CVE-1-2", 0.5)])), 2);
        let cves: Vec<Text> = vec!["CVE-1-1".into(), "CVE-1-2".into()];
        let (cve, s) = i.epss(&cves).expect("scored");
        assert_eq!((cve, s.epss), ("CVE-1-2", 0.5));
        assert_eq!(i.apply_epss(&day("2025-08-25", &[("CVE-1-1", 0.9), ("CVE-1-2", 0.5)])), 1);
        let (cve, s) = i.epss(&cves).expect("scored");
        assert_eq!((cve, s.epss, &*s.date), ("CVE-1-1", 0.9, "2025-08-25"));
        assert!(i.epss(&["CVE-9-9".into()]).is_none());
    }

    #[test]
    fn upstream_cves_of_distribution_advisories_come_from_related() {
        let alsa = advisory("ALSA-2022:0267", "AlmaLinux:8", &["CVE-2021-4034"], &[]);
        assert_eq!(upstream_cves(&alsa), ["CVE-2021-4034"]);
        let rustsec = advisory("RUSTSEC-2021-0001", "crates.io", &["CVE-2021-4034"], &[]);
        assert!(upstream_cves(&rustsec).is_empty(), "a language advisory's related is another vulnerability");
        let dsa = advisory("DSA-1", "Debian:12", &["CVE-2020-1111"], &["cve-2021-2222"]);
        assert_eq!(upstream_cves(&dsa), ["CVE-2021-2222"], "upstream, when given, is what counts");
        let group: BTreeSet<String> = ["ALSA-2022:0267".to_string(), "CVE-2021-9999".to_string()].into();
        let cves = vulnerability_cves(&group, &upstream_cves(&alsa));
        assert_eq!(cves.iter().map(|c| &**c).collect::<Vec<_>>(), ["CVE-2021-4034", "CVE-2021-9999"]);
    }
}
