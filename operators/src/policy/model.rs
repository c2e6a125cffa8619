//! The policy document model. `default.yaml` (beside this file) documents every field; the `Default`
//! impls here are the values an omitted field takes, and a test checks that they equal the shipped
//! default policy's.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use trustloop_schemas::{ActionKind, EventTime, Outcome, VexJustification, VexStatus};

use super::duration::Duration;
use super::matchers::{Cwe, Dependency, LicenseMatch};
use super::severity::Band;

/// The only `api_version` this build reads.
pub const API_VERSION: &str = "trustloop/v1";

/// A policy document: release gates, VEX consensus, trust scoring and trust rules, enforcement
/// budgets. Every section, and every field inside one, may be omitted: it then takes the default
/// policy's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDoc {
    /// Format version of the document: `trustloop/v1`.
    pub api_version: String,
    /// Policy name; `trustloop policy apply` numbers the versions of each name.
    pub name: String,
    /// Free text for people.
    #[serde(default)]
    pub description: Option<String>,
    /// CVSS thresholds of the severity bands.
    #[serde(default)]
    pub severity: SeverityPolicy,
    /// Rules a release must pass to be promoted.
    #[serde(default)]
    pub release_gates: ReleaseGates,
    /// How VEX statements of several issuers are weighed.
    #[serde(default)]
    pub vex: VexPolicy,
    /// Trust scoring of entities and the actions scores trigger.
    #[serde(default)]
    pub trust: TrustPolicy,
    /// Limits on enforcement actions.
    #[serde(default)]
    pub enforcement: EnforcementPolicy,
    /// Whose word counts when several advisories publish one vulnerability for a component. Left
    /// out of the digest when it lists nothing (the built-in order), so policies that do not use it
    /// keep their digest.
    #[serde(default, skip_serializing_if = "SourcesPolicy::is_default")]
    pub sources: SourcesPolicy,
}

/// The precedence of advisory sources: which of the advisories that publish one vulnerability for
/// a component gives the finding its facts (severity, fixed versions, the proof), the others'
/// differing values being listed as disagreements.
///
/// A source is named as the `sources` matcher names it: the advisory id's prefix up to the first
/// `-` (`RUSTSEC`, `GHSA`, `PYSEC`, `GO`, `ALSA`, `RHSA`, `DSA`, …; ASCII case-insensitive). The
/// sources of a finding are ordered by the list of the component's ecosystem (else the `"*"` list),
/// listed sources first in list order; then the built-in order: the component's own database —
/// the distribution's advisories for a distribution package, the ecosystem's database for a
/// language package ([`own_source`]) — before the others; ties by advisory id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourcesPolicy {
    /// Per OSV ecosystem of the component (`crates.io`, `PyPI`, `AlmaLinux`, …, without a release;
    /// `"*"`: every ecosystem not listed), the sources most trusted first.
    #[serde(deserialize_with = "unique_keys")]
    pub precedence: BTreeMap<String, Vec<String>>,
}

impl SourcesPolicy {
    /// Whether it lists nothing (the built-in order only).
    pub fn is_default(&self) -> bool {
        self.precedence.is_empty()
    }

    /// Where source `source` (an id prefix) comes for a component of OSV ecosystem `ecosystem`
    /// (releases ignored): `(0, position)` when the policy lists it, `(1, 0)` when it is the
    /// ecosystem's own database, `(2, 0)` otherwise. Smaller comes first.
    pub fn rank(&self, ecosystem: &str, source: &str) -> (u8, usize) {
        let base = ecosystem.split(':').next().unwrap_or(ecosystem).trim();
        let list = self.precedence.get(base).or_else(|| self.precedence.get("*"));
        if let Some(at) = list.and_then(|l| l.iter().position(|s| s.trim().eq_ignore_ascii_case(source))) {
            return (0, at);
        }
        if own_source(base).iter().any(|s| s.eq_ignore_ascii_case(source)) { (1, 0) } else { (2, 0) }
    }
}

/// The sources (id prefixes) that are a component's own database in OSV ecosystem `ecosystem`
/// (without a release): a distribution's own advisories (`ALSA`, `ALBA`, `ALEA` for AlmaLinux,
/// `DSA`, `DLA`, `DTSA` for Debian, `USN` for Ubuntu, `RHSA`, `RHBA`, `RHEA` for Red Hat, …), the
/// language ecosystem's database (`RUSTSEC` for crates.io, `PYSEC` for PyPI, `GO` for Go, `RSEC` for
/// CRAN, `HSEC` for Hackage), and GitHub's (`GHSA`) for the language ecosystems without one of their
/// own (npm, Maven, NuGet, RubyGems, Packagist, Pub, Hex, SwiftURL, GitHub Actions). Empty for the
/// others.
pub fn own_source(ecosystem: &str) -> &'static [&'static str] {
    match ecosystem {
        "crates.io" => &["RUSTSEC"],
        "PyPI" => &["PYSEC"],
        "Go" => &["GO"],
        "CRAN" => &["RSEC"],
        "Hackage" => &["HSEC"],
        "npm" | "Maven" | "NuGet" | "RubyGems" | "Packagist" | "Pub" | "Hex" | "SwiftURL" | "GitHub Actions" => {
            &["GHSA"]
        }
        "AlmaLinux" => &["ALSA", "ALBA", "ALEA"],
        "Rocky Linux" => &["RLSA", "RLBA", "RLEA", "RXSA"],
        "Debian" => &["DSA", "DLA", "DTSA", "DEBIAN"],
        "Ubuntu" => &["USN", "UBUNTU"],
        "Red Hat" => &["RHSA", "RHBA", "RHEA"],
        "Alpine" => &["ALPINE"],
        "SUSE" | "openSUSE" => &["SUSE", "OPENSUSE"],
        "Mageia" => &["MGASA"],
        "openEuler" => &["OESA"],
        "Photon OS" => &["PHSA"],
        "Azure Linux" => &["AZL"],
        "Wolfi" | "Chainguard" => &["CGA"],
        "MinimOS" => &["MINI"],
        "Bitnami" => &["BIT"],
        _ => &[],
    }
}

/// CVSS score thresholds of the severity bands (each band starts at its threshold).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeverityPolicy {
    /// Lowest score of `low`.
    pub low: f64,
    /// Lowest score of `medium`.
    pub medium: f64,
    /// Lowest score of `high`.
    pub high: f64,
    /// Lowest score of `critical`.
    pub critical: f64,
    /// The band of a finding whose severity is missing or unreadable.
    pub unknown_as: Band,
}

impl Default for SeverityPolicy {
    fn default() -> Self {
        SeverityPolicy { low: 0.1, medium: 4.0, high: 7.0, critical: 9.0, unknown_as: Band::Medium }
    }
}

/// Release gates: finding rules, approvals, freeze windows, waivers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReleaseGates {
    /// Rules over a release's open findings, evaluated in order; every matching rule is a reason.
    pub rules: Vec<GateRule>,
    /// Approvals required before a promotion.
    pub approvals: Vec<ApprovalRule>,
    /// Periods in which promotions are refused.
    pub freeze_windows: Vec<FreezeWindow>,
    /// Accepted risks: findings a rule ignores until the waiver expires.
    pub waivers: Vec<Waiver>,
    /// What to do when a release already promoted to an environment turns bad there (its verdict
    /// changes to one of a rule's outcomes). Empty: nothing but the verdict. Left out of the digest
    /// when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regressions: Vec<RegressionRule>,
}

impl Default for ReleaseGates {
    fn default() -> Self {
        let rule = |id: &str, description: &str, environments: &[&str], when: FindingMatch, outcome| GateRule {
            id: id.into(),
            description: Some(description.into()),
            environments: environments.iter().map(|e| e.to_string()).collect(),
            releases: Vec::new(),
            labels: BTreeMap::new(),
            when,
            outcome,
            until: None,
            justification: None,
            issuers: Vec::new(),
            justifications: Vec::new(),
            escalate: None,
        };
        ReleaseGates {
            rules: vec![
                rule(
                    "known-exploited",
                    "A vulnerability known to be exploited in the wild blocks every promotion.",
                    &[],
                    FindingMatch { known_exploited: Some(true), ..FindingMatch::default() },
                    GateOutcome::Fail,
                ),
                rule(
                    "critical",
                    "Critical vulnerabilities block every promotion.",
                    &[],
                    FindingMatch { min_severity: Some(Band::Critical), ..FindingMatch::default() },
                    GateOutcome::Fail,
                ),
                rule(
                    "high-with-fix-in-prod",
                    "A high vulnerability that has a fix blocks promotion to production: upgrade first.",
                    &["prod"],
                    FindingMatch {
                        min_severity: Some(Band::High),
                        fix_available: Some(true),
                        ..FindingMatch::default()
                    },
                    GateOutcome::Fail,
                ),
                rule(
                    "high",
                    "Any other high vulnerability is a warning.",
                    &[],
                    FindingMatch { min_severity: Some(Band::High), ..FindingMatch::default() },
                    GateOutcome::Warn,
                ),
            ],
            approvals: vec![ApprovalRule { environments: vec!["prod".into()], required: 1 }],
            freeze_windows: Vec::new(),
            waivers: Vec::new(),
            regressions: Vec::new(),
        }
    }
}

/// A gate rule: if any open finding of the release matches `when`, the verdict gets `outcome`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateRule {
    /// Identifier, unique among the rules (it names the rule in verdict reasons).
    pub id: String,
    /// Free text for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Target environments the rule applies to; empty means every environment.
    #[serde(default)]
    pub environments: Vec<String>,
    /// Releases the rule applies to, as patterns (`*` matches any run of characters) of the release
    /// name (`payments-*`) or of `NAME@VERSION` (`shop@2.*`). Empty: every release. Left out of the
    /// digest when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub releases: Vec<String>,
    /// Release labels the rule applies to: every key must be among the release's labels (its
    /// latest inventory's, `trustloop import ... --label KEY=VALUE`) with a value the pattern
    /// matches (`*` matches any run of characters). Empty: every release. Left out of the digest
    /// when empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Conditions on one finding, all of which must hold.
    #[serde(default)]
    pub when: FindingMatch,
    /// `warn`, `fail`, `ignore` or `defer`.
    pub outcome: GateOutcome,
    /// For `ignore` and `defer`: until when (event time, exclusive) the rule holds; after it the
    /// rule matches nothing. Left out of the digest when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<EventTime>,
    /// For `ignore`: why the risk is accepted (required there). Left out of the digest when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// For `require_vex`: the issuers whose VEX vote counts (empty: any issuer the consensus
    /// counted). Left out of the digest when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issuers: Vec<String>,
    /// For `require_vex`: the justifications a `not_affected` status is accepted with (empty: any,
    /// or none). Left out of the digest when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub justifications: Vec<VexJustification>,
    /// For `warn`, `ignore` and `defer`: the findings it matches that are known exploited or
    /// likely to be exploited (any condition of it holds) take a stricter outcome instead. Left out
    /// of the digest when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate: Option<Escalation>,
}

impl GateRule {
    /// Whether it has a condition on EPSS (in `when` or in `escalate`).
    pub fn uses_epss(&self) -> bool {
        self.when.uses_epss() || self.escalate.as_ref().is_some_and(Escalation::uses_epss)
    }
}

/// When a finding a rule matches takes a stricter outcome than the rule's: it is known exploited,
/// or its EPSS score or percentile reaches a threshold — any one of the conditions given suffices.
/// An escalated finding of an `ignore` or `defer` rule is not hidden from the rules after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    /// The outcome an escalated finding gives: `fail` (the default) or, for `ignore` and `defer`
    /// rules, `warn`.
    #[serde(default)]
    pub to: EscalateTo,
    /// Escalate a finding that is known exploited (the advisory says so, or a known-exploited
    /// catalog lists one of its CVEs). Left out of the digest when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub known_exploited: bool,
    /// Escalate a finding whose highest EPSS score in force is at least this (0–1). Left out of
    /// the digest when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_epss: Option<f64>,
    /// Escalate a finding whose EPSS percentile is at least this (0–1). Left out of the digest when
    /// not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_epss_percentile: Option<f64>,
}

impl Escalation {
    /// Whether it has a condition on EPSS.
    pub fn uses_epss(&self) -> bool {
        self.min_epss.is_some() || self.min_epss_percentile.is_some()
    }
}

/// The outcome an escalated finding gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalateTo {
    /// The verdict is at least `WARN`.
    Warn,
    /// The verdict is `FAIL`.
    #[default]
    Fail,
}

/// Conditions on a finding (all given ones must hold; an omitted one always holds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FindingMatch {
    /// The finding's severity band is at least this.
    pub min_severity: Option<Band>,
    /// The finding's CVSS score is at least this (findings without a score do not match).
    pub min_cvss: Option<f64>,
    /// The advisory is (or is not) known to be exploited.
    pub known_exploited: Option<bool>,
    /// A fixed version exists (or does not).
    pub fix_available: Option<bool>,
    /// The finding's status after VEX is one of these.
    pub vex_status: Vec<VexStatus>,
    /// The highest EPSS score (0–1) in force among the vulnerability's CVEs is at least this
    /// (findings without a score do not match). Left out of the digest when not set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_epss: Option<f64>,
    /// That score's percentile (0–1) is at least this. Left out of the digest when not set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_epss_percentile: Option<f64>,
    /// The component's purl matches one of these patterns (`*` matches any run of characters:
    /// `pkg:npm/@acme/*`, `pkg:rpm/*openssl*`). Empty: any. Left out of the digest when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub purls: Vec<String>,
    /// The component's ecosystem (as OSV names it: `npm`, `PyPI`, `Debian`, …) is one of these.
    /// Empty: any. Left out of the digest when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ecosystems: Vec<String>,
    /// The component's package name is one of these. Empty: any. Left out of the digest when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    /// The vulnerability is one of these: the advisory's id, one of its aliases or one of its CVEs
    /// (ASCII case-insensitive). Empty: any. Left out of the digest when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vulnerabilities: Vec<String>,
    /// The advisory names one of these weaknesses (`CWE-79`; GHSA's `cwe_ids`, a CSAF
    /// vulnerability's `cwe`). Empty: any. Left out of the digest when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cwes: Vec<Cwe>,
    /// The advisory's source is one of these: its id's prefix up to the first `-` (`GHSA`,
    /// `RUSTSEC`, `PYSEC`, `GO`, `ALSA`, `CVE`, …; ASCII case-insensitive, see
    /// [`super::matchers::advisory_source`]). Empty: any. Left out of the digest when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// The component's scope is one of these (`required`, `optional`, `excluded`, `dev`, `test`, a
    /// lockfile group; ASCII case-insensitive; a component of several groups matches if one is
    /// listed; one without a scope is `required`). Empty: any. Left out of the digest when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// The release depends on the component `direct`ly or only `transitive`ly (a component whose
    /// inventory does not say is neither). Left out of the digest when not set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dependency: Option<Dependency>,
    /// The component's licence is not acceptable under these SPDX allow and deny lists (or not
    /// known, with `unknown: true`; see [`LicenseMatch`]). Left out of the digest when not set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licenses: Option<LicenseMatch>,
}

impl FindingMatch {
    /// Whether it has a condition on EPSS.
    pub fn uses_epss(&self) -> bool {
        self.min_epss.is_some() || self.min_epss_percentile.is_some()
    }
}

impl Default for FindingMatch {
    fn default() -> Self {
        FindingMatch {
            min_severity: None,
            min_cvss: None,
            known_exploited: None,
            fix_available: None,
            vex_status: vec![VexStatus::Affected, VexStatus::UnderInvestigation],
            min_epss: None,
            min_epss_percentile: None,
            purls: Vec::new(),
            ecosystems: Vec::new(),
            packages: Vec::new(),
            vulnerabilities: Vec::new(),
            cwes: Vec::new(),
            sources: Vec::new(),
            scopes: Vec::new(),
            dependency: None,
            licenses: None,
        }
    }
}

/// What a matching gate rule does to a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateOutcome {
    /// The verdict is at least `WARN`.
    Warn,
    /// The verdict is `FAIL`.
    Fail,
    /// An accepted risk: until `until`, the findings it matches are hidden from the rules after it
    /// (with a `justification`).
    Ignore,
    /// Decided later: until `until`, the findings it matches are hidden from the rules after it.
    Defer,
    /// The verdict is `FAIL` for every finding it matches (whatever its VEX status) that no
    /// accepted VEX statement clears: status `not_affected` (with one of `justifications`, if
    /// given) or `fixed`, voted by one of `issuers` (if given).
    RequireVex,
}

impl GateOutcome {
    /// Whether the rule hides the findings it matches from the rules after it (while in force)
    /// instead of setting the outcome.
    pub fn hides(self) -> bool {
        matches!(self, GateOutcome::Ignore | GateOutcome::Defer)
    }
}

impl From<GateOutcome> for Outcome {
    fn from(o: GateOutcome) -> Outcome {
        match o {
            GateOutcome::Warn => Outcome::Warn,
            GateOutcome::Fail | GateOutcome::RequireVex => Outcome::Fail,
            GateOutcome::Ignore | GateOutcome::Defer => Outcome::Pass,
        }
    }
}

/// Approvals required for promotions into some environments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRule {
    /// Target environments; empty means every environment.
    #[serde(default)]
    pub environments: Vec<String>,
    /// How many distinct approvers must have approved (and not revoked, and not expired).
    pub required: u32,
}

/// A period of event time in which promotions into some environments are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeWindow {
    /// Identifier, unique among the windows.
    pub id: String,
    /// Target environments; empty means every environment.
    #[serde(default)]
    pub environments: Vec<String>,
    /// Start (inclusive), RFC 3339.
    pub from: EventTime,
    /// End (exclusive), RFC 3339.
    pub until: EventTime,
    /// Why, for people.
    #[serde(default)]
    pub reason: Option<String>,
}

/// What to do when a promoted release turns bad: a release promoted to one of `environments`
/// (its promotion's verdict was PASS or WARN) whose verdict there changes to one of `outcomes`
/// derives `actions`, once per such change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegressionRule {
    /// Identifier, unique among the regression rules (it names the rule in the actions' reasons).
    pub id: String,
    /// Free text for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Environments the rule watches; empty means every environment.
    #[serde(default)]
    pub environments: Vec<String>,
    /// The outcomes that count as turning bad: `fail`, `warn` (at least one).
    pub outcomes: Vec<RegressionOutcome>,
    /// What is requested, in this order: `notify`, `block_promotion` (of the release, in every
    /// environment; lifted once the verdict leaves `outcomes`), `rollback` (to the last release of
    /// the same name promoted to the environment whose verdict there is PASS).
    pub actions: Vec<RegressionAction>,
}

/// A verdict outcome a regression rule watches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegressionOutcome {
    /// WARN.
    Warn,
    /// FAIL.
    Fail,
}

impl RegressionOutcome {
    /// The verdict outcome.
    pub fn outcome(self) -> Outcome {
        match self {
            RegressionOutcome::Warn => Outcome::Warn,
            RegressionOutcome::Fail => Outcome::Fail,
        }
    }
}

/// An action a regression rule requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegressionAction {
    /// Tell people.
    Notify,
    /// Block the release's promotions, in every environment.
    BlockPromotion,
    /// Put back the last release that passed in the environment.
    Rollback,
}

impl From<RegressionAction> for ActionKind {
    fn from(a: RegressionAction) -> ActionKind {
        match a {
            RegressionAction::Notify => ActionKind::Notify,
            RegressionAction::BlockPromotion => ActionKind::BlockPromotion,
            RegressionAction::Rollback => ActionKind::Rollback,
        }
    }
}

/// An accepted risk: one advisory in some releases, justified, until it expires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waiver {
    /// Identifier, unique among the waivers.
    pub id: String,
    /// The advisory id or one of its aliases (e.g. a CVE id).
    pub advisory: String,
    /// Releases it covers: `NAME` (every version) or `NAME@VERSION`.
    pub releases: Vec<String>,
    /// Why the risk is accepted.
    pub justification: String,
    /// When it stops applying (event time), RFC 3339.
    pub expires: EventTime,
    /// Who approved it.
    #[serde(default)]
    pub approved_by: Vec<String>,
}

/// Weights of VEX issuers, for the consensus over conflicting statements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VexPolicy {
    /// Weight (0.0–1.0) of each issuer, by the issuer string of its statements.
    #[serde(deserialize_with = "unique_keys")]
    pub issuers: BTreeMap<String, f64>,
    /// Weight of an issuer not listed.
    pub default_issuer_weight: f64,
    /// Total weight a status needs to be accepted.
    pub min_weight: f64,
}

impl Default for VexPolicy {
    fn default() -> Self {
        VexPolicy { issuers: BTreeMap::new(), default_issuer_weight: 0.5, min_weight: 1.0 }
    }
}

/// Trust scoring and trust rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrustPolicy {
    /// A new `TrustScore` is emitted only when the score moved at least this much (points) since the
    /// last one emitted for the entity.
    pub step: f64,
    /// Features computed from telemetry, by feature name.
    #[serde(deserialize_with = "unique_keys")]
    pub features: BTreeMap<String, TelemetryFeature>,
    /// The missed-heartbeat feature.
    pub heartbeat: HeartbeatFeature,
    /// The open-findings features of the release the entity runs.
    pub findings: FindingsFeature,
    /// Score thresholds and the actions they trigger.
    pub rules: Vec<TrustRule>,
}

impl Default for TrustPolicy {
    fn default() -> Self {
        let feature = |kinds: &[&str], weight, half_life: &str, max, mode| TelemetryFeature {
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
            weight,
            half_life: Duration::parse(half_life).unwrap_or_default(),
            max: Some(max),
            mode,
        };
        let features = BTreeMap::from([
            ("auth_failures".to_string(), feature(&["auth_failure"], 2.0, "1h", 30.0, FeatureMode::Sum)),
            ("ids_alerts".to_string(), feature(&["ids_alert"], 10.0, "6h", 50.0, FeatureMode::Sum)),
            (
                "integrity".to_string(),
                feature(&["attestation_failure", "integrity_failure"], 40.0, "3d", 80.0, FeatureMode::Sum),
            ),
            ("config_drift".to_string(), feature(&["config_drift"], 5.0, "1d", 25.0, FeatureMode::Last)),
        ]);
        let rule = |id: &str, action, below, recover_above| TrustRule {
            id: id.into(),
            description: None,
            action,
            below,
            recover_above,
            workflow: None,
        };
        TrustPolicy {
            step: 5.0,
            features,
            heartbeat: HeartbeatFeature::default(),
            findings: FindingsFeature::default(),
            rules: vec![
                rule("isolate", Action::Isolate, 20.0, 35.0),
                rule("quarantine", Action::Quarantine, 40.0, 55.0),
                rule("block-promotion", Action::BlockPromotion, 60.0, 70.0),
                rule("notify", Action::Notify, 80.0, 90.0),
            ],
        }
    }
}

/// A feature computed from telemetry samples of some kinds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryFeature {
    /// Telemetry kinds that feed it; empty means the feature's own name.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Points taken off the score per unit of (decayed) value.
    pub weight: f64,
    /// Time for the value to decay to half.
    pub half_life: Duration,
    /// Most points the feature can take off.
    #[serde(default)]
    pub max: Option<f64>,
    /// `sum`: samples add up; `last`: the newest sample's value replaces the feature's value.
    #[serde(default)]
    pub mode: FeatureMode,
}

/// How samples update a feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureMode {
    /// Each sample's value is added (counts: failures, alerts).
    #[default]
    Sum,
    /// The newest sample's value is the feature's value (levels: drifted settings).
    Last,
}

/// The missed-heartbeat feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeartbeatFeature {
    /// The telemetry kind of heartbeats.
    pub kind: String,
    /// How often an entity sends one; each interval without one is a missed heartbeat.
    pub interval: Duration,
    /// Points per missed heartbeat.
    pub weight: f64,
    /// Half-life of misses once heartbeats are back.
    pub half_life: Duration,
    /// Most points the feature can take off.
    pub max: Option<f64>,
}

impl Default for HeartbeatFeature {
    fn default() -> Self {
        HeartbeatFeature {
            kind: "heartbeat".into(),
            interval: Duration::from_secs(300),
            weight: 5.0,
            half_life: Duration::from_secs(7_200),
            max: Some(40.0),
        }
    }
}

/// The open findings of the release an entity runs, counted per severity band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FindingsFeature {
    /// Points per open finding, by band.
    pub weights: BandWeights,
    /// Most points all findings together can take off.
    pub max: Option<f64>,
}

impl Default for FindingsFeature {
    fn default() -> Self {
        FindingsFeature { weights: BandWeights::default(), max: Some(50.0) }
    }
}

/// A number per severity band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BandWeights {
    /// Critical.
    pub critical: f64,
    /// High.
    pub high: f64,
    /// Medium.
    pub medium: f64,
    /// Low.
    pub low: f64,
    /// None.
    pub none: f64,
}

impl BandWeights {
    /// The weight of `band`.
    pub fn of(&self, band: Band) -> f64 {
        match band {
            Band::Critical => self.critical,
            Band::High => self.high,
            Band::Medium => self.medium,
            Band::Low => self.low,
            Band::None => self.none,
        }
    }
}

impl Default for BandWeights {
    fn default() -> Self {
        BandWeights { critical: 15.0, high: 5.0, medium: 1.0, low: 0.2, none: 0.0 }
    }
}

/// A trust rule: below a score, an action; lifted only once the score is back above a higher one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustRule {
    /// Identifier, unique among the trust rules.
    pub id: String,
    /// Free text for people.
    #[serde(default)]
    pub description: Option<String>,
    /// What to do.
    pub action: Action,
    /// The rule triggers when the score drops below this.
    pub below: f64,
    /// Once triggered, it is lifted only when the score rises to this or above (hysteresis).
    pub recover_above: f64,
    /// The remediation workflow (of `enforcement.workflows`) that carries the action out; none: a
    /// single-step action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
}

/// An enforcement action a policy can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Quarantine the entity.
    Quarantine,
    /// Isolate the entity from the network.
    Isolate,
    /// Block promotions of the release the entity runs.
    BlockPromotion,
    /// Notify people.
    Notify,
}

impl From<Action> for ActionKind {
    fn from(a: Action) -> ActionKind {
        match a {
            Action::Quarantine => ActionKind::Quarantine,
            Action::Isolate => ActionKind::Isolate,
            Action::BlockPromotion => ActionKind::BlockPromotion,
            Action::Notify => ActionKind::Notify,
        }
    }
}

/// Limits on enforcement, and how actions are carried out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnforcementPolicy {
    /// Apply each action to a sandbox target first, and to the real one only once that is verified.
    pub sandbox_first: bool,
    /// Retries of a step that failed or timed out.
    pub retry: RetryPolicy,
    /// How long an adapter may take to reach each state of a step.
    pub timeouts: StepTimeouts,
    /// Automatic revert of an action this long after it was verified, by action.
    pub ttl: BTreeMap<Action, Duration>,
    /// Budgets; an action over any budget is held, not dispatched.
    pub budgets: Vec<Budget>,
    /// Remediation workflow templates by name (see [`super::workflow`]).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub workflows: BTreeMap<String, super::workflow::Workflow>,
}

impl Default for EnforcementPolicy {
    fn default() -> Self {
        EnforcementPolicy {
            sandbox_first: true,
            retry: RetryPolicy::default(),
            timeouts: StepTimeouts::default(),
            ttl: BTreeMap::from([(Action::Quarantine, Duration::from_secs(86_400))]),
            budgets: vec![Budget {
                id: "fleet-hourly".into(),
                window: Duration::from_secs(3_600),
                max_actions: Some(20),
                max_fleet_percent: Some(5.0),
                actions: vec![Action::Quarantine, Action::Isolate],
            }],
            workflows: BTreeMap::new(),
        }
    }
}

/// Retries of a failed or timed-out step, with exponential back-off in event time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Tries of a step, the first included (1 = no retry).
    pub max_attempts: u32,
    /// The wait before the first retry; each further retry waits twice as long as the one before.
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 5, backoff: Duration::from_secs(30) }
    }
}

/// How long an adapter may take to reach each state of a step; past it, the try has failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StepTimeouts {
    /// From `dispatched` to `acknowledged`.
    pub acknowledge: Duration,
    /// From `acknowledged` to `applied` (`reverted`, for a revert).
    pub apply: Duration,
    /// From `applied` to `verified` (`reverted`, for a revert).
    pub verify: Duration,
}

impl Default for StepTimeouts {
    fn default() -> Self {
        StepTimeouts {
            acknowledge: Duration::from_secs(120),
            apply: Duration::from_secs(600),
            verify: Duration::from_secs(600),
        }
    }
}

/// At most so many actions (or so much of a tenant's fleet) per window of event time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Identifier, unique among the budgets.
    pub id: String,
    /// The sliding window of event time.
    pub window: Duration,
    /// Most actions per window.
    #[serde(default)]
    pub max_actions: Option<u32>,
    /// Most entities of the tenant's fleet acted on per window, in percent.
    #[serde(default)]
    pub max_fleet_percent: Option<f64>,
    /// Actions the budget counts; empty means all.
    #[serde(default)]
    pub actions: Vec<Action>,
}

impl PolicyDoc {
    /// Puts order-free lists in a canonical order (sorted, without duplicates) and fills implicit
    /// values (a feature without `kinds` is fed by the kind of its own name), so that documents that
    /// mean the same have the same canonical form.
    pub(crate) fn normalize(&mut self) {
        fn set<T: Ord>(v: &mut Vec<T>) {
            v.sort();
            v.dedup();
        }
        for r in &mut self.release_gates.rules {
            set(&mut r.environments);
            set(&mut r.releases);
            r.when.vex_status.sort_by_key(|s| vex_rank(*s));
            r.when.vex_status.dedup();
            set(&mut r.when.cwes);
            set(&mut r.when.sources);
            set(&mut r.when.scopes);
            if let Some(l) = &mut r.when.licenses {
                set(&mut l.allow);
                set(&mut l.deny);
            }
        }
        for a in &mut self.release_gates.approvals {
            set(&mut a.environments);
        }
        for w in &mut self.release_gates.freeze_windows {
            set(&mut w.environments);
        }
        for w in &mut self.release_gates.waivers {
            set(&mut w.releases);
            set(&mut w.approved_by);
        }
        for (name, f) in &mut self.trust.features {
            if f.kinds.is_empty() {
                f.kinds.push(name.clone());
            }
            set(&mut f.kinds);
        }
        for b in &mut self.enforcement.budgets {
            set(&mut b.actions);
        }
    }
}

/// A fixed order of VEX statuses (the schema's enum has no `Ord`).
fn vex_rank(s: VexStatus) -> u8 {
    match s {
        VexStatus::Affected => 0,
        VexStatus::UnderInvestigation => 1,
        VexStatus::Fixed => 2,
        VexStatus::NotAffected => 3,
    }
}

/// A mapping whose keys must be unique (YAML parsers otherwise keep the last of duplicate keys,
/// silently dropping the first). The error is raised on the repeated key, so it is located there.
fn unique_keys<'de, D: Deserializer<'de>, V: Deserialize<'de>>(d: D) -> Result<BTreeMap<String, V>, D::Error> {
    struct Map<V>(PhantomData<V>);
    impl<'de, V: Deserialize<'de>> Visitor<'de> for Map<V> {
        type Value = BTreeMap<String, V>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a mapping")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(k) = map.next_key_seed(NewKey(&out))? {
                let v = map.next_value()?;
                out.insert(k, v);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Map(PhantomData))
}

/// A key not yet in the map.
struct NewKey<'a, V>(&'a BTreeMap<String, V>);

impl<'de, V> DeserializeSeed<'de> for NewKey<'_, V> {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl<V> Visitor<'_> for NewKey<'_, V> {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_str<E: de::Error>(self, k: &str) -> Result<String, E> {
        if self.0.contains_key(k) {
            Err(E::custom(format!("duplicate key `{k}`: each key may appear once")))
        } else {
            Ok(k.to_string())
        }
    }
}
