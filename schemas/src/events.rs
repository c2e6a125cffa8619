//! The event types: one struct per Avro schema in `schemas/avro/`, field for field, in schema order
//! (the direct codec relies on that order; a test checks every struct against its schema).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ids::{EventId, EventTime};

/// A shared, immutable string: cloning it bumps a count instead of copying (serialized as a string).
pub type Text = Arc<str>;

/// A shared, immutable list of strings (serialized as an array).
pub type Texts = Arc<[Text]>;

/// `items` as a shared list.
pub fn texts<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Texts {
    items.into_iter().map(|s| Text::from(s.as_ref())).collect()
}

/// The common envelope of every event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Event id (see [`EventId`]).
    pub event_id: EventId,
    /// Tenant that owns the event.
    pub tenant: Text,
    /// Partitioning key.
    pub key: Text,
    /// When the thing happened (UTC microseconds).
    pub event_time: EventTime,
    /// Producer of the event.
    pub source: Text,
    /// Version of the event's schema.
    pub schema_version: i32,
}

/// A telemetry sample from a host, device, workload or network sensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Telemetry {
    /// Common envelope.
    pub envelope: Envelope,
    /// The entity the sample is about.
    pub entity: String,
    /// What was observed (`auth_failure`, `ids_alert`, `attestation_failure`, `config_drift`, ...).
    pub kind: String,
    /// Magnitude of the observation.
    pub value: f64,
    /// Free-form attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Unit of `value`, if any.
    #[serde(default)]
    pub unit: Option<String>,
}

/// Format of the document a release inventory came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InventoryFormat {
    /// CycloneDX JSON.
    Cyclonedx,
    /// SPDX JSON.
    Spdx,
    /// Cargo.lock.
    CargoLock,
    /// Anything else.
    Other,
    /// Lockfiles or manifests of any other kind (the event's `source` names each kind and file).
    Lockfile,
}

/// One component of a release.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    /// Package URL.
    pub purl: String,
    /// OSV ecosystem name (`crates.io`, `npm`, `PyPI`, `Go`, `Maven`, ...).
    pub ecosystem: String,
    /// Package name.
    pub name: String,
    /// Package version.
    pub version: String,
    /// Scope (`required`, `optional`, `dev`, ...), if known.
    #[serde(default)]
    pub scope: Option<String>,
    /// Digests of the component's artifact, by algorithm as the document names it (`SHA-256` → hex).
    #[serde(default)]
    pub hashes: BTreeMap<String, String>,
    /// Licences, as the document gives them (SPDX expressions where it uses them).
    #[serde(default)]
    pub licenses: Vec<String>,
    /// Purls of the components of this inventory it depends on directly.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Whether the release depends on it directly; `None`: the document does not say.
    #[serde(default)]
    pub direct: Option<bool>,
    /// For a distribution package, the release of its distribution it was built for, as OSV names
    /// releases (`11` for Debian 11, `22.04` for Ubuntu); `None`: not known.
    #[serde(default)]
    pub distro_release: Option<String>,
    /// Where the document declares it (`package-lock.json:42`, a JSON pointer), if known.
    #[serde(default)]
    pub location: Option<String>,
}

/// The operating system of an image.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatingSystem {
    /// Distribution as OSV names it (`Debian`, `Ubuntu`, `AlmaLinux`), else as the document does.
    pub distribution: String,
    /// Its release, as OSV names releases (`12`, `22.04`, `9`, `3.20`).
    #[serde(default)]
    pub release: Option<String>,
    /// The name the document gives (`Ubuntu 22.04.4 LTS`).
    #[serde(default)]
    pub name: Option<String>,
}

/// A component of a document that is not in its inventory, and why.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeftOutComponent {
    /// The component: its purl, else `name@version` or its name.
    pub component: String,
    /// Its ecosystem (OSV name) or purl type, if it has one.
    #[serde(default)]
    pub ecosystem: Option<String>,
    /// Why it is left out.
    pub reason: String,
    /// Where it is in its document (JSON pointer, `file:line`).
    pub location: String,
}

/// A release and its components.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseInventory {
    /// Common envelope.
    pub envelope: Envelope,
    /// Release name.
    pub release_name: String,
    /// Release version.
    pub release_version: String,
    /// Environment the release runs in, if known.
    #[serde(default)]
    pub environment: Option<String>,
    /// Source document format.
    pub format: InventoryFormat,
    /// SHA-256 (hex) of the source document.
    #[serde(default)]
    pub document_digest: Option<String>,
    /// The release's components.
    #[serde(default)]
    pub components: Vec<Component>,
    /// The image's operating system, when the document names one.
    #[serde(default)]
    pub os: Option<OperatingSystem>,
    /// Components left out of `components`, each with its reason.
    #[serde(default)]
    pub left_out: Vec<LeftOutComponent>,
    /// The release's labels (`team` → `payments`), as the importer was told them; what policy
    /// rules' `labels` conditions match.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// Whether an advisory event inserts/updates or deletes the advisory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdvisoryChange {
    /// The advisory is new or changed.
    Upsert,
    /// The advisory was removed from its database.
    Delete,
}

/// An OSV severity entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Severity {
    /// `CVSS_V2`, `CVSS_V3`, `CVSS_V4`, `Ubuntu`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The score or vector.
    pub score: String,
}

/// The package an OSV `affected` entry is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AffectedPackage {
    /// OSV ecosystem.
    pub ecosystem: String,
    /// Package name.
    pub name: String,
    /// Package URL, if given.
    #[serde(default)]
    pub purl: Option<String>,
}

/// OSV range type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RangeType {
    /// Semantic versions.
    #[serde(rename = "SEMVER")]
    Semver,
    /// The ecosystem's own version ordering.
    #[serde(rename = "ECOSYSTEM")]
    Ecosystem,
    /// Git commits.
    #[serde(rename = "GIT")]
    Git,
}

/// One OSV range event: exactly one field is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeEvent {
    /// Version where the vulnerability was introduced.
    #[serde(default)]
    pub introduced: Option<String>,
    /// Version where it was fixed.
    #[serde(default)]
    pub fixed: Option<String>,
    /// Last affected version.
    #[serde(default)]
    pub last_affected: Option<String>,
    /// Upper limit of the range.
    #[serde(default)]
    pub limit: Option<String>,
}

/// An OSV range.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// Range type.
    #[serde(rename = "type")]
    pub kind: RangeType,
    /// Repository, for `GIT` ranges.
    #[serde(default)]
    pub repo: Option<String>,
    /// The range's events, in order.
    #[serde(default)]
    pub events: Vec<RangeEvent>,
}

/// An OSV `affected` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Affected {
    /// The package.
    pub package: AffectedPackage,
    /// Affected ranges.
    #[serde(default)]
    pub ranges: Vec<Range>,
    /// Explicitly listed affected versions.
    #[serde(default)]
    pub versions: Vec<String>,
    /// `ecosystem_specific`, as JSON text.
    #[serde(default)]
    pub ecosystem_specific: Option<String>,
    /// `database_specific`, as JSON text.
    #[serde(default)]
    pub database_specific: Option<String>,
}

/// An OSV reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// Reference type (`ADVISORY`, `FIX`, `WEB`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// URL.
    pub url: String,
}

/// A vulnerability advisory, in OSV's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Advisory {
    /// Common envelope.
    pub envelope: Envelope,
    /// Upsert or delete.
    pub change: AdvisoryChange,
    /// Advisory id (`RUSTSEC-…`, `GHSA-…`, `GO-…`, `PYSEC-…`, `CVE-…`).
    pub id: String,
    /// Last modification time.
    pub modified: EventTime,
    /// Publication time.
    #[serde(default)]
    pub published: Option<EventTime>,
    /// Withdrawal time: a withdrawn advisory affects nothing.
    #[serde(default)]
    pub withdrawn: Option<EventTime>,
    /// Other ids of the same vulnerability.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Related, not identical, vulnerabilities.
    #[serde(default)]
    pub related: Vec<String>,
    /// One-line summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// Details.
    #[serde(default)]
    pub details: Option<String>,
    /// Severities.
    #[serde(default)]
    pub severity: Vec<Severity>,
    /// What it affects.
    #[serde(default)]
    pub affected: Vec<Affected>,
    /// References.
    #[serde(default)]
    pub references: Vec<Reference>,
    /// Listed as known exploited (e.g. CISA KEV).
    #[serde(default)]
    pub known_exploited: bool,
    /// `database_specific`, as JSON text.
    #[serde(default)]
    pub database_specific: Option<String>,
    /// Ids of the upstream vulnerabilities a downstream (distribution) advisory is about (OSV 1.6
    /// `upstream`).
    #[serde(default)]
    pub upstream: Vec<String>,
}

/// VEX document format a statement came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VexFormat {
    /// OpenVEX.
    Openvex,
    /// CSAF 2.0 VEX profile.
    Csaf,
    /// CycloneDX VEX.
    Cyclonedx,
}

/// VEX status (OpenVEX vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VexStatus {
    /// The product is not affected.
    NotAffected,
    /// The product is affected.
    Affected,
    /// The product contains a fix.
    Fixed,
    /// Not yet known.
    UnderInvestigation,
}

/// Why a product is not affected (OpenVEX justifications).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VexJustification {
    /// The vulnerable component is not present.
    ComponentNotPresent,
    /// The vulnerable code is not present.
    VulnerableCodeNotPresent,
    /// The vulnerable code is never executed.
    VulnerableCodeNotInExecutePath,
    /// An adversary cannot control the vulnerable code.
    VulnerableCodeCannotBeControlledByAdversary,
    /// Mitigations already exist.
    InlineMitigationsAlreadyExist,
}

/// A VEX statement about a vulnerability in products.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VexStatement {
    /// Common envelope.
    pub envelope: Envelope,
    /// Source format.
    pub format: VexFormat,
    /// Id of the VEX document.
    pub document_id: String,
    /// Who issued it.
    pub issuer: String,
    /// When the statement was made.
    pub statement_time: EventTime,
    /// The vulnerability (CVE, GHSA, ...).
    pub vulnerability: String,
    /// Other ids of the vulnerability.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Products (purls or product ids).
    #[serde(default)]
    pub products: Vec<String>,
    /// Subcomponents (purls).
    #[serde(default)]
    pub subcomponents: Vec<String>,
    /// Status.
    pub status: VexStatus,
    /// Justification, for `not_affected`.
    #[serde(default)]
    pub justification: Option<VexJustification>,
    /// Impact statement.
    #[serde(default)]
    pub impact_statement: Option<String>,
    /// Action statement.
    #[serde(default)]
    pub action_statement: Option<String>,
}

/// A versioned policy document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Common envelope.
    pub envelope: Envelope,
    /// Policy name.
    pub name: String,
    /// Version number.
    pub version: i64,
    /// SHA-256 (hex) of the canonical form.
    pub digest: String,
    /// Document format (`yaml`).
    pub format: String,
    /// The document.
    pub document: String,
}

/// Approve or revoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalDecision {
    /// Approves the subject.
    Approve,
    /// Revokes an earlier approval.
    Revoke,
}

/// An approval of a subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Common envelope.
    pub envelope: Envelope,
    /// What is approved (e.g. `name@version@environment`).
    pub subject: String,
    /// Who approved.
    pub approver: String,
    /// Approve or revoke.
    pub decision: ApprovalDecision,
    /// Comment.
    #[serde(default)]
    pub comment: Option<String>,
    /// When the approval lapses.
    #[serde(default)]
    pub expires: Option<EventTime>,
}

/// A request to promote a release between environments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromotionRequest {
    /// Common envelope.
    pub envelope: Envelope,
    /// Release name.
    pub release_name: String,
    /// Release version.
    pub release_version: String,
    /// Environment it is in.
    pub from_environment: String,
    /// Environment it should go to.
    pub to_environment: String,
    /// Who asked.
    pub requested_by: String,
}

/// One feature of a trust score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feature {
    /// Feature name.
    pub name: String,
    /// Its (decayed) value.
    pub value: f64,
    /// Its weight.
    pub weight: f64,
    /// Points it took off the score.
    pub contribution: f64,
}

/// An entity's trust score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustScore {
    /// Common envelope.
    pub envelope: Envelope,
    /// The entity.
    pub entity: String,
    /// 0 (untrusted) to 100 (fully trusted).
    pub score: f64,
    /// The previous emitted score.
    #[serde(default)]
    pub previous: Option<f64>,
    /// Each feature's contribution.
    #[serde(default)]
    pub features: Vec<Feature>,
    /// Digest of the policy that weighted it.
    pub policy_digest: String,
}

/// Whether a finding opened or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingChange {
    /// The finding is new (or re-opened).
    Opened,
    /// The finding no longer holds.
    Closed,
}

/// What matched, for a finding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// `SEMVER`, `ECOSYSTEM` or `versions`.
    pub range_type: String,
    /// The range events that matched, e.g. `introduced=1.0.0,fixed=1.2.3`.
    pub event: String,
    /// The version comparator used.
    pub comparator: String,
}

/// A finding delta.
///
/// Its strings are shared ([`Text`], [`Texts`]): one advisory's, release's or component's text is
/// referenced, not copied, by each of the thousands of findings that carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// Common envelope.
    pub envelope: Envelope,
    /// Opened or closed.
    pub change: FindingChange,
    /// Release name.
    pub release_name: Text,
    /// Release version.
    pub release_version: Text,
    /// Environment, if known.
    #[serde(default)]
    pub environment: Option<Text>,
    /// The advisory whose facts the finding carries: its only source, or the first of its sources in
    /// the policy's precedence (since schema version 5; before, the one advisory of the finding).
    pub advisory_id: Text,
    /// Its aliases (with several sources: every other id they give).
    #[serde(default)]
    pub aliases: Texts,
    /// Component purl.
    pub purl: Text,
    /// Component ecosystem.
    pub ecosystem: Text,
    /// Component name.
    pub package_name: Text,
    /// Component version.
    pub package_version: Text,
    /// Status after VEX.
    pub vex_status: VexStatus,
    /// Severity, if known.
    #[serde(default)]
    pub severity: Option<Text>,
    /// What matched.
    #[serde(rename = "match")]
    pub matched: Arc<Match>,
    /// VEX statements that applied.
    #[serde(default)]
    pub vex_statement_ids: Vec<String>,
    /// The event that caused this delta.
    pub cause_event_id: Text,
    /// Justification of the VEX consensus, for `not_affected`.
    #[serde(default)]
    pub vex_justification: Option<VexJustification>,
    /// Whether the counted VEX issuers disagree (see `vex_votes`).
    #[serde(default)]
    pub vex_conflict: bool,
    /// Every counted VEX vote, `issuer=status`, in issuer order.
    #[serde(default)]
    pub vex_votes: Vec<String>,
    /// The advisory is listed as known exploited.
    #[serde(default)]
    pub known_exploited: bool,
    /// Versions of the package that fix it, from the matched ranges (empty: no fix known).
    #[serde(default)]
    pub fixed_versions: Texts,
    /// For a distribution package, the release the advisory entry applies to (`Debian:11`).
    #[serde(default)]
    pub distro_release: Option<Text>,
    /// The component's distribution release is not known, so it was matched against the advisories
    /// of every release.
    #[serde(default)]
    pub release_unknown: bool,
    /// CVE ids of the vulnerability: those of its advisory's alias group, and the upstream CVEs a
    /// distribution advisory fixes (ascending).
    #[serde(default)]
    pub cves: Texts,
    /// Those of [`Finding::cves`] listed in a catalog of known-exploited vulnerabilities when the
    /// finding was emitted.
    #[serde(default)]
    pub exploited_ids: Texts,
    /// Highest EPSS score (0–1) among those CVEs in force when the finding was emitted.
    #[serde(default)]
    pub epss: Option<f64>,
    /// Percentile of that score.
    #[serde(default)]
    pub epss_percentile: Option<f64>,
    /// The component's scope as its inventory gives it (`required`, `optional`, `excluded`; a
    /// lockfile's dependency groups joined with commas: `dev`, `optional,test`), if it gives one.
    #[serde(default)]
    pub scope: Option<Text>,
    /// Whether the release depends on the component directly (`true`) or only through other
    /// components (`false`); `None`: its inventory does not say.
    #[serde(default)]
    pub direct: Option<bool>,
    /// The component's licences as its inventory gives them (SPDX expressions where the document
    /// uses them).
    #[serde(default)]
    pub licenses: Texts,
    /// The weakness (CWE) ids the advisory names (`CWE-79`), ascending.
    #[serde(default)]
    pub cwes: Texts,
    /// The vulnerability: the name of its sources' alias group (its lowest CVE id, else its lowest
    /// id). With the release, environment and purl it is the finding's identity ([`Finding::vulnerability`]).
    /// Empty in findings written before schema version 5.
    #[serde(default)]
    pub vulnerability_id: Text,
    /// Every advisory that publishes the vulnerability for the component, with its provenance; the
    /// one whose facts the finding carries (`advisory_id`) first.
    #[serde(default)]
    pub sources: FindingSources,
    /// The facts the sources disagree on (the finding carries its first source's).
    #[serde(default)]
    pub disagreements: Disagreements,
}

impl Finding {
    /// The vulnerability that, with the release, environment and purl, identifies the finding: its
    /// `vulnerability_id`, or its `advisory_id` for a finding written before schema version 5.
    pub fn vulnerability(&self) -> &str {
        if self.vulnerability_id.is_empty() { &self.advisory_id } else { &self.vulnerability_id }
    }

    /// The ids of its sources (its `advisory_id` alone for a finding written before schema version 5).
    pub fn source_ids(&self) -> impl Iterator<Item = &str> {
        let own = self.sources.is_empty().then_some(&*self.advisory_id);
        own.into_iter().chain(self.sources.iter().map(|s| &*s.advisory_id))
    }
}

/// One advisory that publishes a finding's vulnerability, with its provenance.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingSource {
    /// The database: the advisory id's prefix up to the first `-` (`RUSTSEC`, `GHSA`, `RHSA`, …).
    pub source: Text,
    /// The advisory's id.
    pub advisory_id: Text,
    /// The document it was published in: a CSAF document's tracking id, else the advisory id.
    pub document_id: Text,
    /// When the advisory was last modified.
    pub modified: EventTime,
    /// `sha256:<hex>` of the document (a CSAF file's bytes) or of the advisory event's canonical
    /// encoding (an OSV record).
    #[serde(default)]
    pub digest: Option<Text>,
}

/// A fact a finding's sources disagree on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disagreement {
    /// `severity`, `fixed_versions`, `ranges` or `withdrawn`.
    pub field: Text,
    /// Each source's value, `advisory_id=value`, in precedence order.
    pub values: Texts,
}

/// A finding's sources, shared (every finding of a single-source advisory carries the same list).
pub type FindingSources = Arc<[FindingSource]>;

/// A finding's disagreements, shared.
pub type Disagreements = Arc<[Disagreement]>;

/// Whether a catalog entry lists a vulnerability or takes it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatalogChange {
    /// The vulnerability is in the catalog.
    Listed,
    /// A later catalog no longer lists it.
    Removed,
}

/// A vulnerability listed in a catalog of vulnerabilities known to be exploited in the wild (CISA
/// KEV), or taken out of it. Event time: when it was added (or when the catalog that dropped it was
/// released).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownExploited {
    /// Common envelope.
    pub envelope: Envelope,
    /// Listed or removed.
    pub change: CatalogChange,
    /// CVE id.
    pub cve: String,
    /// Catalog (`cisa-kev`).
    pub catalog: String,
    /// Version of the catalog the entry was read from.
    pub catalog_version: String,
    /// When it was added to the catalog, `YYYY-MM-DD`.
    pub date_added: String,
    /// When remediation is due, `YYYY-MM-DD`.
    #[serde(default)]
    pub due_date: Option<String>,
    /// Vendor or project.
    #[serde(default)]
    pub vendor_project: Option<String>,
    /// Product.
    #[serde(default)]
    pub product: Option<String>,
    /// The catalog's name of the vulnerability.
    #[serde(default)]
    pub vulnerability_name: Option<String>,
    /// Description.
    #[serde(default)]
    pub short_description: Option<String>,
    /// Required action.
    #[serde(default)]
    pub required_action: Option<String>,
    /// `Known` if used in ransomware campaigns, else `Unknown`.
    #[serde(default)]
    pub known_ransomware_campaign_use: Option<String>,
    /// Notes and references.
    #[serde(default)]
    pub notes: Option<String>,
    /// CWE ids.
    #[serde(default)]
    pub cwes: Vec<String>,
}

/// One CVE's EPSS score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpssScore {
    /// CVE id.
    pub cve: String,
    /// Probability of exploitation activity in the next 30 days, 0–1.
    pub epss: f64,
    /// Percentile among all scored CVEs, 0–1.
    pub percentile: f64,
}

/// Part of one day's EPSS scores (FIRST). Event time: the score date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpssScores {
    /// Common envelope.
    pub envelope: Envelope,
    /// EPSS model version (`v2025.03.14`).
    #[serde(default)]
    pub model_version: Option<String>,
    /// Score date as the file states it (RFC 3339 or `YYYY-MM-DD`).
    pub score_date: String,
    /// 0-based number of this part of the day's scores.
    pub part: i32,
    /// How many parts the day's scores were split into.
    pub parts: i32,
    /// Scores, in file order.
    pub scores: Vec<EpssScore>,
}

/// A signed checkpoint of the log (issue #21): the Merkle tree head over every record of the
/// log's other topics and each partition's chain head, as a C2SP signed note. Event time: when it
/// was made. Not an input of any operator; `trustloop log verify` reads [`LogCheckpoint::note`]
/// and recomputes everything else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogCheckpoint {
    /// Common envelope.
    pub envelope: Envelope,
    /// The log's origin line.
    pub origin: String,
    /// 1 for the log's first checkpoint, then one more each time.
    pub seq: i64,
    /// Leaves (records) the tree holds.
    pub tree_size: i64,
    /// RFC 9162 root hash, hex.
    pub root_hash: String,
    /// Records this checkpoint added to the tree.
    pub records: i64,
    /// The signed note.
    pub note: String,
    /// `name+keyid` of each signature on the note.
    #[serde(default)]
    pub signed_by: Vec<String>,
    /// The tree's right edge (hex), largest subtree first.
    #[serde(default)]
    pub peaks: Vec<String>,
    /// Why it was made (`manual`, `interval`, `verdict`).
    #[serde(default = "manual_reason")]
    pub reason: String,
}

/// A witness's cosignature of a checkpoint (issue #21): the checkpoint's signed note with the
/// witness's signature line added, made only after the witness checked the log's signature, the
/// checkpoint's number and predecessor, and a consistency proof from the last checkpoint it
/// cosigned, computed from the log's records. Event time: when the witness cosigned. Not an input
/// of any operator, and not covered by the ledger's tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointCosignature {
    /// Common envelope.
    pub envelope: Envelope,
    /// The log's origin line.
    pub origin: String,
    /// The cosigned checkpoint's number.
    pub seq: i64,
    /// Its offset on the checkpoints topic.
    pub checkpoint_offset: i64,
    /// Its tree size.
    pub tree_size: i64,
    /// Its root hash, hex.
    pub root_hash: String,
    /// `name+keyid` of the witness's key.
    pub witness: String,
    /// The signed note with the witness's line added (the log's signature kept).
    pub note: String,
    /// The tree size of the last checkpoint the witness cosigned before (0: none).
    #[serde(default)]
    pub old_size: i64,
    /// Its root hash, hex (empty: none).
    #[serde(default)]
    pub old_root_hash: String,
    /// The RFC 9162 consistency proof from `old_size` to `tree_size` (hex) the witness verified.
    #[serde(default)]
    pub consistency_proof: Vec<String>,
}

fn manual_reason() -> String {
    "manual".to_string()
}

/// Kind of subject a verdict is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// A release in an environment.
    Release,
    /// A host, device or workload.
    Entity,
}

/// Verdict outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Outcome {
    /// Passes.
    #[serde(rename = "PASS")]
    Pass,
    /// Passes with warnings.
    #[serde(rename = "WARN")]
    Warn,
    /// Fails.
    #[serde(rename = "FAIL")]
    Fail,
}

/// A reason of a verdict: a rule and the facts that matched it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// Rule id.
    pub rule: String,
    /// Human-readable message.
    pub message: String,
    /// The facts that matched.
    #[serde(default)]
    pub facts: Vec<String>,
}

/// One topic-partition position of an input frontier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontierEntry {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Next offset to read (everything before it was read).
    pub offset: i64,
}

/// A decision about a subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    /// Common envelope.
    pub envelope: Envelope,
    /// The subject.
    pub subject: String,
    /// Its kind.
    pub subject_kind: SubjectKind,
    /// The outcome.
    pub outcome: Outcome,
    /// The previous outcome.
    #[serde(default)]
    pub previous: Option<Outcome>,
    /// Why.
    #[serde(default)]
    pub reasons: Vec<Reason>,
    /// Digest of the policy in force.
    pub policy_digest: String,
    /// Input positions read when it was decided.
    #[serde(default)]
    pub input_frontier: Vec<FrontierEntry>,
    /// Digest over the canonical inputs that determined it.
    pub evidence_digest: String,
}

/// What an enforcement action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Quarantine an entity.
    Quarantine,
    /// Isolate an entity from the network.
    Isolate,
    /// Block a release's promotion.
    BlockPromotion,
    /// Promote a release.
    Promote,
    /// Notify people.
    Notify,
    /// Lift a quarantine.
    LiftQuarantine,
    /// Put back the last release that passed in an environment, in place of the subject's release
    /// (the target names the release put back).
    Rollback,
}

/// Lifecycle state of an enforcement action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionState {
    /// Decided, not yet sent.
    Requested,
    /// Sent to an adapter.
    Dispatched,
    /// The adapter acknowledged it.
    Acknowledged,
    /// Applied to the target.
    Applied,
    /// Failed.
    Failed,
    /// Verified in effect.
    Verified,
    /// Undone.
    Reverted,
    /// Held back (over budget).
    Held,
}

/// An enforcement action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnforcementAction {
    /// Common envelope.
    pub envelope: Envelope,
    /// Idempotency key.
    pub action_id: String,
    /// Subject it acts on.
    pub subject: String,
    /// What it does.
    pub kind: ActionKind,
    /// Lifecycle state.
    pub state: ActionState,
    /// Target system.
    pub target: String,
    /// Applied to a sandbox target first.
    pub sandbox: bool,
    /// Attempt number.
    pub attempt: i32,
    /// Event that caused it.
    pub cause_event_id: String,
    /// Why.
    pub reason: String,
    /// Event-time deadline.
    #[serde(default)]
    pub deadline: Option<EventTime>,
    /// This step undoes the action of the same `action_id` (lift a quarantine, re-admit an isolated
    /// host, unblock a promotion).
    #[serde(default)]
    pub revert: bool,
    /// The remediation workflow this action runs (a template of the policy's
    /// `enforcement.workflows`); `None`: a single-step action.
    #[serde(default)]
    pub workflow: Option<String>,
    /// The workflow call this dispatch is (its phase is the `sandbox` flag); `None` outside workflows.
    #[serde(default)]
    pub step: Option<WorkflowStep>,
}

/// What a workflow step's call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepRole {
    /// Apply the step.
    Apply,
    /// Check that the step had the wanted effect.
    Check,
    /// Undo the step.
    Rollback,
}

/// One call of a workflow step, as dispatched to an adapter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowStep {
    /// The step's position in the workflow, from 0.
    pub index: i32,
    /// The step's name.
    pub name: String,
    /// Apply, check or roll back.
    pub role: StepRole,
    /// The configured adapter that performs the call.
    pub adapter: String,
    /// The call's parameters, templated from the action's inputs.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

/// What an adapter saw while executing one step: the step's execution record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Execution {
    /// A program's exit code.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The HTTP status a receiver answered.
    #[serde(default)]
    pub http_status: Option<i32>,
    /// The tail of the program's standard output (or of the response body), bounded.
    #[serde(default)]
    pub stdout: String,
    /// The tail of the program's standard error, bounded.
    #[serde(default)]
    pub stderr: String,
    /// Why the step failed, if it did.
    #[serde(default)]
    pub error: Option<String>,
}

/// A result reported by an enforcement adapter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnforcementResult {
    /// Common envelope.
    pub envelope: Envelope,
    /// Action it is about.
    pub action_id: String,
    /// Adapter that reported it.
    pub adapter: String,
    /// State reached.
    pub state: ActionState,
    /// Whether the step succeeded.
    pub success: bool,
    /// Message.
    pub message: String,
    /// When the step started.
    pub started_at: EventTime,
    /// How long it took.
    pub duration_micros: i64,
    /// Attempt number.
    pub attempt: i32,
    /// The step's execution record; `None` from adapters that do not keep one.
    #[serde(default)]
    pub execution: Option<Execution>,
}

/// A versioned notification rules document of a tenant (`trustloop notify apply`), on topic
/// `notify-rules`. Same shape as [`Policy`]: a newer version of the same name replaces the rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyRules {
    /// Common envelope.
    pub envelope: Envelope,
    /// Rules document name.
    pub name: String,
    /// Version number.
    pub version: i64,
    /// SHA-256 (hex) of the canonical form.
    pub digest: String,
    /// Document format (`yaml`).
    pub format: String,
    /// The document.
    pub document: String,
}

/// One message for one channel, derived by the notify operator from the events a rule matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    /// Common envelope.
    pub envelope: Envelope,
    /// Idempotency key of the message (its event id, hyphenated): deliveries name it.
    pub notification_id: String,
    /// The channel to send it through (a name under `[notify.channels]` in `trustloop.toml`).
    pub channel: String,
    /// The rule that matched.
    pub rule: String,
    /// Digest of the rules document in force.
    pub rules_digest: String,
    /// What it is about: the subject of the one event, or the digest's rule and window.
    pub subject: String,
    /// Rendered title.
    pub title: String,
    /// Rendered body (plain text).
    pub body: String,
    /// Ids of the events it covers, in the order they were matched.
    #[serde(default)]
    pub event_ids: Vec<String>,
    /// Kind of each covered event (`verdict`, `finding`, `action`, `trust_score`), as `event_ids`.
    #[serde(default)]
    pub event_kinds: Vec<String>,
    /// Severity band of the (most severe) covered event, if any.
    #[serde(default)]
    pub severity: Option<String>,
    /// Digest window start (event time), for a digest.
    #[serde(default)]
    pub window_start: Option<EventTime>,
    /// Digest window end (exclusive), for a digest.
    #[serde(default)]
    pub window_end: Option<EventTime>,
    /// Matches the rule's throttle dropped since the previous notification of the same key.
    #[serde(default)]
    pub suppressed: i64,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Delivered.
    Ok,
    /// Failed for good (not retriable, or out of attempts).
    Failed,
    /// Failed; another attempt follows.
    Retrying,
}

/// One attempt to deliver a [`Notification`] through its channel, recorded by the delivery effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// Common envelope.
    pub envelope: Envelope,
    /// The notification.
    pub notification_id: String,
    /// Channel name.
    pub channel: String,
    /// `webhook`, `slack`, `teams` or `smtp`.
    pub channel_type: String,
    /// 1 for the first attempt.
    pub attempt: i32,
    /// How it ended.
    pub status: DeliveryStatus,
    /// HTTP status or SMTP reply code, if the server answered.
    #[serde(default)]
    pub code: Option<i32>,
    /// Start of the server's answer.
    #[serde(default)]
    pub response: String,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<String>,
    /// Whether the failure is worth retrying.
    #[serde(default)]
    pub retriable: bool,
    /// Wall-clock start of the attempt.
    pub started_at: EventTime,
    /// How long the attempt took.
    pub duration_micros: i64,
}

/// Input that could not be accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetter {
    /// Common envelope.
    pub envelope: Envelope,
    /// Topic it was for (or read from).
    pub source_topic: String,
    /// Partition it was read from.
    #[serde(default)]
    pub source_partition: Option<i32>,
    /// Offset it was read from.
    #[serde(default)]
    pub source_offset: Option<i64>,
    /// Input line number (1-based).
    #[serde(default)]
    pub line: Option<i64>,
    /// Machine-readable error class.
    pub error_kind: String,
    /// Why it was rejected.
    pub reason: String,
    /// The rejected input, as received.
    #[serde(with = "payload_bytes")]
    pub payload: Vec<u8>,
}

/// Dead-letter payloads: Avro `bytes` in the binary codec; in JSON a string when the payload is UTF-8
/// text (the usual case: a rejected JSON line), else an array of byte values.
mod payload_bytes {
    use serde::de::{self, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            match std::str::from_utf8(bytes) {
                Ok(text) => s.serialize_str(text),
                Err(_) => s.collect_seq(bytes),
            }
        } else {
            s.serialize_bytes(bytes)
        }
    }

    struct V;

    impl<'de> Visitor<'de> for V {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("bytes, a string or an array of byte values")
        }
        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
            Ok(v.as_bytes().to_vec())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::new();
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        if d.is_human_readable() { d.deserialize_any(V) } else { d.deserialize_byte_buf(V) }
    }
}
