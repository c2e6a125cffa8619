//! Open findings per release, as the trust operator counts them: one per (advisory, component) —
//! the same finding in several environments of a release counts once, at its highest band — and only
//! while its status after VEX is `affected` or `under_investigation`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trustloop_schemas::{Finding, FindingChange, VexStatus};

use crate::policy::{Band, SeverityPolicy, cvss_score};

/// A finding's severity as read once: a CVSS score, a rating label, or nothing usable. The band is
/// derived under the policy in force (its thresholds may change).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Severity {
    /// A CVSS score (from a vector or a number).
    Score(f64),
    /// A rating label (`HIGH`, `moderate`, ...).
    Label(Band),
    /// Missing or unreadable: the policy's `unknown_as`.
    Unknown,
}

impl Severity {
    /// Reads a finding's severity text.
    pub fn read(text: Option<&str>) -> Severity {
        let Some(t) = text.map(str::trim).filter(|t| !t.is_empty()) else {
            return Severity::Unknown;
        };
        if let Some(b) = Band::from_label(t) {
            return Severity::Label(b);
        }
        match cvss_score(t) {
            Ok(s) => Severity::Score(s),
            Err(_) => Severity::Unknown,
        }
    }

    /// The band under `policy`.
    pub fn band(self, policy: &SeverityPolicy) -> Band {
        match self {
            Severity::Score(s) => policy.band_of_score(s),
            Severity::Label(b) => b,
            Severity::Unknown => policy.unknown_as,
        }
    }
}

/// One open finding of a release, in each environment it was reported for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Open {
    /// (environment, severity), one per environment (`None`: no environment).
    envs: Vec<(Option<String>, Severity)>,
}

impl Open {
    fn band(&self, policy: &SeverityPolicy) -> Option<Band> {
        self.envs.iter().map(|(_, s)| s.band(policy)).max()
    }
}

/// The counted open findings of one release.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReleaseFindings {
    /// `vulnerability \n purl` → the finding (the vulnerability: [`Finding::vulnerability`]).
    open: BTreeMap<String, Open>,
    /// Number of open findings per band ([`Band::index`]), under the policy of the last update.
    counts: [u32; 5],
}

/// Whether a finding with this status counts against trust.
pub fn counts(status: VexStatus) -> bool {
    matches!(status, VexStatus::Affected | VexStatus::UnderInvestigation)
}

impl ReleaseFindings {
    /// Open findings per band ([`Band::index`]).
    pub fn counts(&self) -> &[u32; 5] {
        &self.counts
    }

    /// Whether nothing is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Applies one finding delta; returns whether the counts changed.
    pub fn apply(&mut self, f: &Finding, policy: &SeverityPolicy) -> bool {
        let key = format!("{}\n{}", f.vulnerability(), f.purl);
        let before = self.open.get(&key).and_then(|o| o.band(policy));
        let holds = f.change == FindingChange::Opened && counts(f.vex_status);
        let entry = self.open.entry(key.clone()).or_default();
        entry.envs.retain(|(env, _)| env.as_deref() != f.environment.as_deref());
        if holds {
            entry.envs.push((f.environment.as_deref().map(str::to_string), Severity::read(f.severity.as_deref())));
            entry.envs.sort_by(|a, b| a.0.cmp(&b.0));
        }
        let after = entry.band(policy);
        if entry.envs.is_empty() {
            self.open.remove(&key);
        }
        if before == after {
            return false;
        }
        if let Some(b) = before {
            self.counts[b.index()] = self.counts[b.index()].saturating_sub(1);
        }
        if let Some(b) = after {
            self.counts[b.index()] += 1;
        }
        true
    }

    /// Recounts under another policy's thresholds (after a policy switch).
    pub fn recount(&mut self, policy: &SeverityPolicy) {
        let mut counts = [0u32; 5];
        for o in self.open.values() {
            if let Some(b) = o.band(policy) {
                counts[b.index()] += 1;
            }
        }
        self.counts = counts;
    }
}
