//! Release gates: the state kept per release and subject, and the evaluation of a promotion subject
//! (`NAME@VERSION@ENVIRONMENT`) against the policy's rules, approvals, freeze windows and waivers.
//!
//! Evaluation is two-phase: [`Gate::assess`] computes the outcome and remembers *which* findings,
//! approvals, windows and waivers made it so (cheap: no strings are built); [`Assessment::explain`]
//! turns that into reasons and the evidence digest, only when a verdict is emitted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use trustloop_schemas::{ApprovalDecision, EventTime, Outcome, Reason, SubjectKind, VexStatus};

use super::Decision;
use super::evidence::Evidence;
use crate::intel::EpssTable;
use crate::policy::matchers::{advisory_source, scope_matches};
use crate::policy::{
    Cwe, Dependency, EscalateTo, Escalation, FindingMatch, GateOutcome, LicenseJudgement, PolicyDoc, SeverityPolicy,
    Waiver,
};
use crate::trust::findings::Severity;

/// Most facts listed in one reason; the rest are counted in a last fact (the evidence digest covers
/// every finding either way). Keeps a verdict of a release with thousands of findings a sane size.
pub const MAX_FACTS: usize = 100;

/// An open finding's identity within a release. The environment is part of it: the same
/// (advisory, component) reported for two inventories of a release (say staging and prod) are two
/// findings, and closing one leaves the other open.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FindingKey {
    /// The vulnerability (the finding's `vulnerability_id`: its sources' alias group; the advisory
    /// id of a finding written before Finding v5).
    pub advisory: String,
    /// Component purl.
    pub purl: String,
    /// Environment of the inventory it was found in, if any.
    pub environment: Option<String>,
}

/// What the gates need of an open finding: the latest `opened` delta of its key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenFinding {
    /// Canonical digest of the `Finding` event.
    pub digest: [u8; 32],
    /// Aliases of the advisory (for waivers).
    pub aliases: Vec<String>,
    /// The severity text as received.
    pub severity_text: Option<String>,
    /// The severity as read once (the band depends on the policy in force).
    pub severity: Severity,
    /// Status after VEX.
    pub vex_status: VexStatus,
    /// Known to be exploited.
    pub known_exploited: bool,
    /// Fixed versions (non-empty: a fix is available).
    pub fixed_versions: Vec<String>,
    /// CVE ids of the vulnerability (its EPSS scores are looked up by them).
    #[serde(default)]
    pub cves: Vec<String>,
    /// Those listed as known exploited.
    #[serde(default)]
    pub exploited_ids: Vec<String>,
    /// The component's ecosystem, as OSV names it.
    #[serde(default)]
    pub ecosystem: String,
    /// The component's package name.
    #[serde(default)]
    pub package: String,
    /// The justification of the VEX consensus (for `not_affected`).
    #[serde(default)]
    pub vex_justification: Option<trustloop_schemas::VexJustification>,
    /// Every counted VEX vote, `issuer=status`.
    #[serde(default)]
    pub vex_votes: Vec<String>,
    /// The component's scope, as its inventory gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Whether the release depends on the component directly, if its inventory says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct: Option<bool>,
    /// The component's licences, as its inventory gives them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<String>,
    /// The weaknesses the advisory names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cwes: Vec<Cwe>,
    /// The advisory whose facts the finding carries, when it is not the key's vulnerability.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub advisory: String,
    /// The advisories that publish the vulnerability for the component (their ids), when there
    /// are several or one other than the key's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
}

impl OpenFinding {
    /// The advisory whose facts it carries (the key's vulnerability when it names none of its own).
    pub fn advisory<'a>(&'a self, key: &'a FindingKey) -> &'a str {
        if self.advisory.is_empty() { &key.advisory } else { &self.advisory }
    }

    /// The ids of the advisories that publish it.
    pub fn source_ids<'a>(&'a self, key: &'a FindingKey) -> impl Iterator<Item = &'a str> {
        let own = self.sources.is_empty().then(|| self.advisory(key));
        own.into_iter().chain(self.sources.iter().map(String::as_str))
    }
}

/// A release `NAME@VERSION`: its open findings and the environments promotions were requested to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// Open findings.
    #[serde(with = "crate::serde_pairs")]
    pub findings: BTreeMap<FindingKey, OpenFinding>,
    /// Environments with a promotion subject.
    pub environments: BTreeSet<String>,
}

/// The latest approval event of one approver about one subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// Approve or revoke.
    pub decision: ApprovalDecision,
    /// When an approval lapses.
    pub expires: Option<EventTime>,
    /// Event time of the approval event.
    pub at: EventTime,
    /// Its event id.
    pub event_id: String,
    /// Its canonical digest.
    pub digest: [u8; 32],
}

impl ApprovalRecord {
    /// Whether it is an approval that stands at `now`: not revoked, not expired (`now < expires`).
    pub fn standing(&self, now: EventTime) -> bool {
        self.decision == ApprovalDecision::Approve && self.expires.is_none_or(|e| now < e)
    }
}

/// The latest promotion request of a subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionRecord {
    /// Its event id.
    pub event_id: String,
    /// Its canonical digest.
    pub digest: [u8; 32],
    /// Environment the release is in.
    pub from_environment: String,
    /// Who asked.
    pub requested_by: String,
}

/// A promotion subject `NAME@VERSION@ENVIRONMENT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectState {
    /// Release name.
    pub name: String,
    /// Release version.
    pub version: String,
    /// Target environment.
    pub environment: String,
    /// The outcome of the last verdict emitted.
    pub last: Option<Outcome>,
    /// The latest promotion request.
    pub promotion: Option<PromotionRecord>,
    /// Whether the release is promoted into the environment: the verdict on its latest promotion
    /// request was PASS or WARN, and no rollback was requested since.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub promoted: bool,
    /// The regression rules that fired for the subject and whose outcomes its verdict is still in,
    /// by rule id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub regressed: BTreeMap<String, Regression>,
}

/// A regression rule that fired for a subject (see [`crate::policy::RegressionRule`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Regression {
    /// The outcomes the rule watched for when it fired: the episode ends when the verdict leaves
    /// them (whatever the policy says by then).
    pub outcomes: Vec<Outcome>,
    /// The `block_promotion` action it requested, lifted when the episode ends.
    pub block: Option<String>,
}

impl SubjectState {
    /// `NAME@VERSION`.
    pub fn release(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// Whether a list of environments (empty = all) includes `env`.
pub fn applies(environments: &[String], env: &str) -> bool {
    environments.is_empty() || environments.iter().any(|e| e == env)
}

/// Whether a gate rule's `releases` patterns (empty = all) include release `name`@`version`: a
/// pattern includes it if it matches the name (`payments-*`) or `NAME@VERSION` (`shop@2.*`).
pub fn applies_to_release(patterns: &[String], name: &str, version: &str) -> bool {
    if patterns.is_empty() {
        return true;
    }
    let release = format!("{name}@{version}");
    patterns.iter().any(|p| glob(p, name) || glob(p, &release))
}

/// Whether a gate rule's `labels` conditions (empty = all releases) hold for a release with
/// `labels`: each key is among them, with a value its pattern matches.
pub fn applies_to_labels(conditions: &BTreeMap<String, String>, labels: Option<&BTreeMap<String, String>>) -> bool {
    conditions.iter().all(|(key, pattern)| labels.and_then(|l| l.get(key)).is_some_and(|v| glob(pattern, v)))
}

/// Whether `w` lists the release (`NAME` or `NAME@VERSION`).
pub fn covers(w: &Waiver, name: &str, release: &str) -> bool {
    w.releases.iter().any(|r| r == release || r == name)
}

/// Whether a waiver's advisory is the finding's advisory or one of its aliases (ASCII
/// case-insensitive: `ghsa-…` and `GHSA-…` are the same id).
fn waives(w: &Waiver, key: &FindingKey, f: &OpenFinding) -> bool {
    w.advisory.eq_ignore_ascii_case(&key.advisory)
        || w.advisory.eq_ignore_ascii_case(f.advisory(key))
        || f.aliases.iter().any(|a| w.advisory.eq_ignore_ascii_case(a))
}

/// Whether a finding (`key`, `f`) meets every condition of `m` (EPSS conditions against the
/// scores in `epss`).
pub fn matches(
    m: &FindingMatch,
    key: &FindingKey,
    f: &OpenFinding,
    severity: &SeverityPolicy,
    epss: &EpssTable,
) -> bool {
    m.vex_status.contains(&f.vex_status) && matches_but_vex(m, key, f, severity, epss)
}

/// Whether a `require_vex` rule's VEX requirement clears finding `f`: its status after VEX is
/// `fixed`, or `not_affected` with one of the rule's justifications (any, if it lists none), and one
/// of the rule's issuers voted that status (any counted issuer, if it lists none).
pub fn vex_accepted(rule: &crate::policy::GateRule, f: &OpenFinding) -> bool {
    let status = match f.vex_status {
        VexStatus::NotAffected => {
            let listed = f.vex_justification.is_some_and(|j| rule.justifications.contains(&j));
            if !rule.justifications.is_empty() && !listed {
                return false;
            }
            "not_affected"
        }
        VexStatus::Fixed => "fixed",
        VexStatus::Affected | VexStatus::UnderInvestigation => return false,
    };
    rule.issuers.is_empty()
        || f.vex_votes.iter().any(|v| {
            v.rsplit_once('=').is_some_and(|(issuer, s)| s == status && rule.issuers.iter().any(|r| r == issuer))
        })
}

/// [`matches()`] without the VEX status condition (a `require_vex` rule looks at every status).
fn matches_but_vex(
    m: &FindingMatch,
    key: &FindingKey,
    f: &OpenFinding,
    severity: &SeverityPolicy,
    epss: &EpssTable,
) -> bool {
    if !m.purls.is_empty() && !m.purls.iter().any(|p| glob(p, &key.purl)) {
        return false;
    }
    if !m.ecosystems.is_empty() && !m.ecosystems.contains(&f.ecosystem) {
        return false;
    }
    if !m.packages.is_empty() && !m.packages.contains(&f.package) {
        return false;
    }
    if !m.vulnerabilities.is_empty() {
        let mut ids = [key.advisory.as_str(), f.advisory(key)]
            .into_iter()
            .chain(f.aliases.iter().map(String::as_str))
            .chain(f.cves.iter().map(String::as_str));
        if !ids.any(|id| m.vulnerabilities.iter().any(|v| v.eq_ignore_ascii_case(id))) {
            return false;
        }
    }
    if !m.cwes.is_empty() && !f.cwes.iter().any(|c| m.cwes.contains(c)) {
        return false;
    }
    if !m.sources.is_empty() {
        let mut sources = f.source_ids(key).map(advisory_source);
        if !sources.any(|source| m.sources.iter().any(|s| s.trim().eq_ignore_ascii_case(source))) {
            return false;
        }
    }
    if !m.scopes.is_empty() && !scope_matches(&m.scopes, f.scope.as_deref()) {
        return false;
    }
    if let Some(d) = m.dependency
        && !d.holds(f.direct)
    {
        return false;
    }
    if let Some(l) = &m.licenses
        && !l.matches(&f.licenses)
    {
        return false;
    }
    if let Some(min) = m.min_severity
        && f.severity.band(severity) < min
    {
        return false;
    }
    if let Some(min) = m.min_cvss
        && !matches!(f.severity, Severity::Score(s) if s >= min)
    {
        return false;
    }
    if let Some(k) = m.known_exploited
        && f.known_exploited != k
    {
        return false;
    }
    if let Some(fix) = m.fix_available
        && f.fixed_versions.is_empty() == fix
    {
        return false;
    }
    if m.uses_epss() {
        let Some((_, score)) = epss.highest(&f.cves) else { return false };
        if m.min_epss.is_some_and(|min| score.epss < min)
            || m.min_epss_percentile.is_some_and(|min| score.percentile < min)
        {
            return false;
        }
    }
    true
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters (none included) and
/// every other character itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else { return true };
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else { return rest.is_empty() };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Everything one release subject is evaluated from.
#[derive(Debug, Clone, Copy)]
pub struct Gate<'a> {
    /// The policy in force.
    pub policy: &'a PolicyDoc,
    /// Its digest.
    pub policy_digest: &'a str,
    /// `NAME@VERSION@ENVIRONMENT`.
    pub subject: &'a str,
    /// The subject's state.
    pub state: &'a SubjectState,
    /// The release's open findings, if any were ever reported.
    pub release: Option<&'a Release>,
    /// The release's labels, if its latest inventory has some.
    pub labels: Option<&'a BTreeMap<String, String>>,
    /// The subject's approvals by approver.
    pub approvals: Option<&'a BTreeMap<String, ApprovalRecord>>,
    /// The operator's watermark.
    pub now: EventTime,
    /// The EPSS scores in force.
    pub epss: &'a EpssTable,
}

type Found<'a> = (&'a FindingKey, &'a OpenFinding);

/// A finding a rule matched, and whether the rule's `escalate` conditions escalated it.
type Hit<'a> = (Found<'a>, bool);

/// The outcome of a subject and what made it so (see [`Gate::assess`]).
#[derive(Debug)]
pub struct Assessment<'a> {
    gate: Gate<'a>,
    /// The outcome.
    pub outcome: Outcome,
    /// Gate rules (policy index) that matched, with the findings they matched (and whether each
    /// was escalated).
    rules: Vec<(usize, Vec<Hit<'a>>)>,
    /// Waivers listing the release (policy index, still in force), with the open findings of their
    /// advisory (hidden while in force).
    waivers: Vec<(usize, bool, Vec<Found<'a>>)>,
    /// Approval rules applying to the environment (policy index), with the standing approvals.
    approvals: Vec<(usize, u32)>,
    /// Freeze windows open now (policy index).
    freezes: Vec<usize>,
    /// Whether an approval rule applies (approvals are then evidence).
    approvals_considered: bool,
    /// Whether a time-based rule was evaluated ("now" is then evidence).
    time_based: bool,
    /// Whether a rule with an EPSS condition applies (the scores are then evidence).
    epss_considered: bool,
    /// Whether a rule for the environment has a `labels` condition (the labels are then evidence).
    labels_considered: bool,
}

/// Whether a gate rule applying to environment `env` has an EPSS condition (in `when` or
/// `escalate`).
pub fn rules_use_epss(gates: &crate::policy::ReleaseGates, env: &str) -> bool {
    gates.rules.iter().any(|r| r.uses_epss() && applies(&r.environments, env))
}

/// Whether finding `f` meets a condition of `e` (EPSS against the scores in `epss`). Builds no
/// string: [`Gate::assess`] asks it of every finding a rule with `escalate` matches.
fn escalates(e: &Escalation, f: &OpenFinding, epss: &EpssTable) -> bool {
    (e.known_exploited && f.known_exploited)
        || (e.uses_epss()
            && epss.highest(&f.cves).is_some_and(|(_, score)| {
                e.min_epss.is_some_and(|min| score.epss >= min)
                    || e.min_epss_percentile.is_some_and(|min| score.percentile >= min)
            }))
}

/// The conditions of `e` that finding `f` meets, in words (see [`escalates`]).
fn escalation(e: &Escalation, f: &OpenFinding, epss: &EpssTable) -> Vec<String> {
    let mut why = Vec::new();
    if e.known_exploited && f.known_exploited {
        why.push("known exploited".to_string());
    }
    if e.uses_epss()
        && let Some((cve, score)) = epss.highest(&f.cves)
    {
        if let Some(min) = e.min_epss.filter(|min| score.epss >= *min) {
            why.push(format!("EPSS {} of {cve} at least {min}", score.epss));
        }
        if let Some(min) = e.min_epss_percentile.filter(|min| score.percentile >= *min) {
            why.push(format!("EPSS percentile {} of {cve} at least {min}", score.percentile));
        }
    }
    why
}

/// The outcome a rule's hit gives: the rule's own, or its escalation's.
fn effect(rule: &crate::policy::GateRule, escalated: bool) -> Outcome {
    match rule.escalate.as_ref().filter(|_| escalated) {
        Some(e) => match e.to {
            EscalateTo::Warn => Outcome::Warn,
            EscalateTo::Fail => Outcome::Fail,
        },
        None => rule.outcome.into(),
    }
}

impl<'a> Gate<'a> {
    /// Evaluates the gates: FAIL if a `fail` rule matches a (not waived) open finding, a freeze
    /// window is open or approvals are missing; else WARN if a `warn` rule matches; else PASS.
    pub fn assess(self) -> Assessment<'a> {
        let gates = &self.policy.release_gates;
        let env = self.state.environment.as_str();
        let release = self.state.release();
        let now = self.now;

        let rule_ids: Vec<usize> = (0..gates.rules.len())
            .filter(|&i| {
                let rule = &gates.rules[i];
                applies(&rule.environments, env)
                    && applies_to_release(&rule.releases, &self.state.name, &self.state.version)
                    && applies_to_labels(&rule.labels, self.labels)
            })
            .collect();
        let mut matched: Vec<Vec<Hit<'a>>> = vec![Vec::new(); rule_ids.len()];
        let mut waivers: Vec<(usize, bool, Vec<Found<'a>>)> = (0..gates.waivers.len())
            .filter(|&i| covers(&gates.waivers[i], &self.state.name, &release))
            .map(|i| (i, now < gates.waivers[i].expires, Vec::new()))
            .collect();
        let mut time_based = !waivers.is_empty()
            || rule_ids.iter().any(|&i| gates.rules[i].outcome.hides() && gates.rules[i].until.is_some());
        let severity = &self.policy.severity;
        for (k, f) in self.release.into_iter().flat_map(|r| r.findings.iter()) {
            let mut hidden = false;
            for (wi, in_force, hits) in &mut waivers {
                if waives(&gates.waivers[*wi], k, f) {
                    hits.push((k, f));
                    hidden |= *in_force;
                }
            }
            if hidden {
                continue;
            }
            for (j, &ri) in rule_ids.iter().enumerate() {
                let rule = &gates.rules[ri];
                if rule.outcome.hides() && rule.until.is_none_or(|until| now >= until) {
                    continue; // an ignore or defer rule past its end matches nothing
                }
                let hit = match rule.outcome {
                    GateOutcome::RequireVex => {
                        matches_but_vex(&rule.when, k, f, severity, self.epss) && !vex_accepted(rule, f)
                    }
                    _ => matches(&rule.when, k, f, severity, self.epss),
                };
                if hit {
                    let up = rule.escalate.as_ref().is_some_and(|e| escalates(e, f, self.epss));
                    matched[j].push(((k, f), up));
                    if rule.outcome.hides() && !up {
                        break; // hidden from the rules after it (unless escalated)
                    }
                }
            }
        }
        waivers.retain(|w| !w.2.is_empty());
        let rules: Vec<(usize, Vec<Hit<'a>>)> =
            rule_ids.into_iter().zip(matched).filter(|(_, hits)| !hits.is_empty()).collect();

        let mut approvals = Vec::new();
        for (i, rule) in gates.approvals.iter().enumerate() {
            if applies(&rule.environments, env) {
                let standing = self.approvals.map_or(0, |a| a.values().filter(|r| r.standing(now)).count());
                approvals.push((i, u32::try_from(standing).unwrap_or(u32::MAX)));
            }
        }
        let approvals_considered = !approvals.is_empty();
        if approvals_considered && self.approvals.is_some_and(|a| a.values().any(|r| r.expires.is_some())) {
            time_based = true;
        }

        let mut freezes = Vec::new();
        for (i, w) in gates.freeze_windows.iter().enumerate() {
            if applies(&w.environments, env) {
                time_based = true;
                if w.from <= now && now < w.until {
                    freezes.push(i);
                }
            }
        }

        let gives =
            |o: Outcome| rules.iter().any(|(i, hits)| hits.iter().any(|(_, up)| effect(&gates.rules[*i], *up) == o));
        let fails = gives(Outcome::Fail)
            || !freezes.is_empty()
            || approvals.iter().any(|&(i, standing)| standing < gates.approvals[i].required);
        let warns = gives(Outcome::Warn);
        let outcome = if fails {
            Outcome::Fail
        } else if warns {
            Outcome::Warn
        } else {
            Outcome::Pass
        };
        let epss_considered = rules_use_epss(gates, env);
        let labels_considered = gates.rules.iter().any(|r| !r.labels.is_empty() && applies(&r.environments, env));
        Assessment {
            gate: self,
            outcome,
            rules,
            waivers,
            approvals,
            freezes,
            approvals_considered,
            time_based,
            epss_considered,
            labels_considered,
        }
    }
}

impl Assessment<'_> {
    /// The reasons and evidence digest of the assessment. Reasons, in this order: each gate rule that
    /// matched (policy order; facts: the findings), each approval rule that applies (satisfied or
    /// not; facts: every approver's latest approval event), each open freeze window, each waiver
    /// listing the release whose advisory is open in it (in force: the findings it hides; expired:
    /// the findings it no longer hides).
    pub fn explain(&self) -> Decision {
        let g = &self.gate;
        let gates = &g.policy.release_gates;
        let severity = &g.policy.severity;
        let release = g.state.release();
        let env = &g.state.environment;
        let mut reasons = Vec::new();

        for (i, hits) in &self.rules {
            let rule = &gates.rules[*i];
            let escalated = hits.iter().filter(|(_, up)| *up).count();
            let level = match (rule.outcome, rule.escalate.as_ref().filter(|_| escalated > 0)) {
                (_, Some(e)) if e.to == EscalateTo::Fail => "FAIL",
                (_, Some(_)) => "WARN",
                (GateOutcome::Fail, None) => "FAIL",
                (GateOutcome::Warn, None) => "WARN",
                (GateOutcome::Ignore, None) => "IGNORED",
                (GateOutcome::Defer, None) => "DEFERRED",
                (GateOutcome::RequireVex, None) => "FAIL",
            };
            let mut message = format!(
                "{level}: {} open finding{} of {release} match{} rule `{}` ({})",
                hits.len(),
                plural(hits.len()),
                if hits.len() == 1 { "es" } else { "" },
                rule.id,
                conditions(&rule.when)
            );
            if rule.outcome == GateOutcome::RequireVex {
                message.push_str(" without an accepted VEX statement (not_affected");
                if !rule.justifications.is_empty() {
                    let names: Vec<String> = rule
                        .justifications
                        .iter()
                        .filter_map(|j| serde_json::to_value(j).ok().and_then(|v| v.as_str().map(str::to_string)))
                        .collect();
                    let _ = write!(message, " because {}", names.join(" or "));
                }
                message.push_str(" or fixed");
                if !rule.issuers.is_empty() {
                    let _ = write!(message, ", from {}", rule.issuers.join(" or "));
                }
                message.push(')');
            }
            if let Some(until) = rule.until.filter(|_| rule.outcome.hides()) {
                let which = if escalated > 0 { " (those not escalated)" } else { "" };
                let _ = write!(message, ", hidden from the rules after it{which} until {until}");
                if let Some(j) = rule.justification.as_deref() {
                    let _ = write!(message, ". Justification: {j}");
                }
            }
            if let Some(e) = rule.escalate.as_ref().filter(|_| escalated > 0) {
                let to = if e.to == EscalateTo::Fail { "FAIL" } else { "WARN" };
                let _ = write!(message, "; {escalated} of them escalated to {to} ({})", escalation_conditions(e));
                if rule.outcome.hides() {
                    message.push_str(" and not hidden");
                }
            }
            if let Some(d) = rule.description.as_deref().filter(|d| !d.is_empty()) {
                let _ = write!(message, ": {d}");
            }
            let epss = rule.uses_epss().then_some(g.epss);
            reasons.push(Reason {
                rule: rule.id.clone(),
                message,
                facts: capped(hits, |(h, up)| {
                    let mut fact = finding_fact(h, severity, epss);
                    context_fact(&mut fact, &rule.when, h);
                    if let Some(e) = rule.escalate.as_ref().filter(|_| *up) {
                        let _ = write!(fact, "; escalated: {}", escalation(e, h.1, g.epss).join(", "));
                    }
                    fact
                }),
            });
        }

        for &(i, standing) in &self.approvals {
            let rule = &gates.approvals[i];
            let message = if standing >= rule.required {
                format!(
                    "ok: {standing} standing approval{} of {} ({} required for {env})",
                    plural(standing as usize),
                    g.subject,
                    rule.required
                )
            } else {
                format!(
                    "FAIL: promotion to {env} needs {} distinct approver{} of {}; {standing} stand{}",
                    rule.required,
                    plural(rule.required as usize),
                    g.subject,
                    if standing == 1 { "s" } else { "" }
                )
            };
            let facts = g
                .approvals
                .into_iter()
                .flat_map(|a| a.iter())
                .map(|(approver, r)| approval_fact(approver, r, g.now))
                .collect();
            reasons.push(Reason { rule: format!("approvals[{i}]"), message, facts });
        }

        for &i in &self.freezes {
            let w = &gates.freeze_windows[i];
            let mut message =
                format!("FAIL: freeze window `{}` for {env} is open from {} until {}", w.id, w.from, w.until);
            if let Some(r) = w.reason.as_deref().filter(|r| !r.is_empty()) {
                let _ = write!(message, ": {r}");
            }
            reasons.push(Reason {
                rule: format!("freeze_window:{}", w.id),
                message,
                facts: vec![format!("now (event time) is {}, within [{}, {})", g.now, w.from, w.until)],
            });
        }

        for (i, in_force, hits) in &self.waivers {
            let w = &gates.waivers[*i];
            let n = hits.len();
            let message = if *in_force {
                format!(
                    "waiver `{}` accepts {} in {release} until {}: it hides {n} open finding{} from the rules. \
                     Justification: {}",
                    w.id,
                    w.advisory,
                    w.expires,
                    plural(n),
                    w.justification
                )
            } else {
                format!(
                    "waiver `{}` for {} expired at {}: it no longer hides {n} open finding{} of {release}",
                    w.id,
                    w.advisory,
                    w.expires,
                    plural(n)
                )
            };
            let mut facts = capped(hits, |h| finding_fact(h, severity, None));
            if !w.approved_by.is_empty() {
                facts.push(format!("waiver approved by {}", w.approved_by.join(", ")));
            }
            reasons.push(Reason { rule: format!("waiver:{}", w.id), message, facts });
        }

        let evidence = Evidence {
            kind: SubjectKind::Release,
            policy_digest: g.policy_digest,
            subject: g.subject,
            now: self.time_based.then_some(g.now),
            findings: g.release.map(|r| r.findings.values().map(|f| f.digest).collect()).unwrap_or_default(),
            approvals: if self.approvals_considered {
                g.approvals.map(|a| a.values().map(|r| r.digest).collect()).unwrap_or_default()
            } else {
                Vec::new()
            },
            promotion: g.state.promotion.as_ref().map(|p| p.digest),
            trust_score: None,
            epss: self.epss_considered.then(|| {
                g.release
                    .into_iter()
                    .flat_map(|r| r.findings.values())
                    .filter_map(|f| g.epss.highest(&f.cves))
                    .map(|(cve, s)| format!("{cve}|{}|{}|{}", s.epss, s.percentile, s.date))
                    .collect()
            }),
            labels: self
                .labels_considered
                .then(|| g.labels.into_iter().flatten().map(|(k, v)| format!("{k}={v}")).collect()),
        };
        Decision {
            outcome: self.outcome,
            reasons,
            policy_digest: g.policy_digest.to_string(),
            evidence_digest: evidence.digest(),
            now: evidence.now,
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Facts for `items`, at most [`MAX_FACTS`] of them plus a count of the rest.
fn capped<T>(items: &[T], fact: impl Fn(&T) -> String) -> Vec<String> {
    let mut facts: Vec<String> = items.iter().take(MAX_FACTS).map(fact).collect();
    if items.len() > MAX_FACTS {
        facts.push(format!(
            "… and {} more (listed in key order above; every open finding is covered by the evidence digest)",
            items.len() - MAX_FACTS
        ));
    }
    facts
}

/// The conditions of a rule, in words.
pub fn conditions(m: &FindingMatch) -> String {
    let mut parts = Vec::new();
    if let Some(b) = m.min_severity {
        parts.push(format!("severity {b} or higher"));
    }
    if let Some(c) = m.min_cvss {
        parts.push(format!("CVSS {c} or higher"));
    }
    if let Some(k) = m.known_exploited {
        parts.push(if k { "known exploited" } else { "not known exploited" }.to_string());
    }
    if let Some(f) = m.fix_available {
        parts.push(if f { "a fix is available" } else { "no fix is available" }.to_string());
    }
    if let Some(e) = m.min_epss {
        parts.push(format!("EPSS {e} or higher"));
    }
    if let Some(p) = m.min_epss_percentile {
        parts.push(format!("EPSS percentile {p} or higher"));
    }
    let cwes: Vec<String> = m.cwes.iter().map(Cwe::to_string).collect();
    for (what, list) in [
        ("purl", &m.purls),
        ("ecosystem", &m.ecosystems),
        ("package", &m.packages),
        ("vulnerability", &m.vulnerabilities),
        ("weakness", &cwes),
        ("source", &m.sources),
        ("scope", &m.scopes),
    ] {
        if !list.is_empty() {
            parts.push(format!("{what} {}", list.join(" or ")));
        }
    }
    if let Some(d) = m.dependency {
        parts.push(match d {
            Dependency::Direct => "a direct dependency".to_string(),
            Dependency::Transitive => "a transitive dependency".to_string(),
        });
    }
    if let Some(l) = &m.licenses {
        let mut lists = Vec::new();
        if !l.allow.is_empty() {
            lists.push(format!("allowed {}", l.allow.join(", ")));
        }
        if !l.deny.is_empty() {
            lists.push(format!("denied {}", l.deny.join(", ")));
        }
        let mut text = String::from("a licence");
        if !lists.is_empty() {
            let _ = write!(text, " not acceptable ({})", lists.join("; "));
        }
        if l.unknown {
            text.push_str(if lists.is_empty() { " not known" } else { " or not known" });
        }
        parts.push(text);
    }
    let statuses: Vec<&str> = m.vex_status.iter().map(|s| vex_name(*s)).collect();
    parts.push(format!("VEX status {}", statuses.join(" or ")));
    parts.join(", ")
}

/// The conditions of an escalation, in words.
fn escalation_conditions(e: &Escalation) -> String {
    let mut parts = Vec::new();
    if e.known_exploited {
        parts.push("known exploited".to_string());
    }
    if let Some(x) = e.min_epss {
        parts.push(format!("EPSS {x} or higher"));
    }
    if let Some(x) = e.min_epss_percentile {
        parts.push(format!("EPSS percentile {x} or higher"));
    }
    parts.join(" or ")
}

/// The OpenVEX name of a status.
pub fn vex_name(s: VexStatus) -> &'static str {
    match s {
        VexStatus::NotAffected => "not_affected",
        VexStatus::Affected => "affected",
        VexStatus::Fixed => "fixed",
        VexStatus::UnderInvestigation => "under_investigation",
    }
}

/// One finding, for an auditor: advisory (aliases) in purl \[environment\]: severity band (source
/// text, score), VEX status, known exploited (and the catalog-listed CVEs that make it so), fixed
/// versions; with `epss` (a rule with an EPSS condition), the score in force.
fn finding_fact((k, f): &Found<'_>, severity: &SeverityPolicy, epss: Option<&EpssTable>) -> String {
    let mut s = f.advisory(k).to_string();
    if !f.aliases.is_empty() {
        let _ = write!(s, " ({})", f.aliases.join(", "));
    }
    let _ = write!(s, " in {}", k.purl);
    if let Some(env) = &k.environment {
        let _ = write!(s, " [{env}]");
    }
    let _ = write!(s, ": severity {}", f.severity.band(severity));
    match (&f.severity_text, f.severity) {
        (Some(t), Severity::Score(score)) if t.trim().parse::<f64>().is_err() => {
            let _ = write!(s, " ({}, score {score})", t.trim());
        }
        (Some(_), Severity::Score(score)) => {
            let _ = write!(s, " (score {score})");
        }
        (Some(t), Severity::Label(_)) => {
            let _ = write!(s, " (rated {})", t.trim());
        }
        (Some(t), Severity::Unknown) if !t.trim().is_empty() => {
            let _ = write!(s, " (unreadable severity `{}`: policy unknown_as)", t.trim());
        }
        _ => s.push_str(" (no severity given: policy unknown_as)"),
    }
    let _ = write!(
        s,
        ", VEX {}, known exploited: {}",
        vex_name(f.vex_status),
        match (f.known_exploited, f.exploited_ids.is_empty()) {
            (false, _) => "no".to_string(),
            (true, true) => "yes".to_string(),
            (true, false) => format!("yes ({} in a known-exploited catalog)", f.exploited_ids.join(", ")),
        },
    );
    let _ = write!(
        s,
        ", fix: {}",
        if f.fixed_versions.is_empty() { "none known".to_string() } else { f.fixed_versions.join(", ") }
    );
    if let Some(table) = epss {
        match table.highest(&f.cves) {
            Some((cve, score)) => {
                let _ =
                    write!(s, ", EPSS {} (percentile {}) for {cve} on {}", score.epss, score.percentile, score.date);
            }
            None => s.push_str(", EPSS: no score"),
        }
    }
    s
}

/// Appends to a finding's fact what it is of the component and advisory facts `m` matches on: its
/// weaknesses, its advisory's source, its component's scope, directness and licences.
fn context_fact(s: &mut String, m: &FindingMatch, (k, f): &Found<'_>) {
    if !m.cwes.is_empty() {
        let cwes: Vec<String> = f.cwes.iter().map(Cwe::to_string).collect();
        let _ = write!(s, ", weaknesses: {}", if cwes.is_empty() { "none named".to_string() } else { cwes.join(", ") });
    }
    if !m.sources.is_empty() {
        let mut sources: Vec<&str> = f.source_ids(k).map(advisory_source).collect();
        sources.dedup();
        let _ = write!(s, ", source {}", sources.join(", "));
    }
    if !m.scopes.is_empty() {
        match &f.scope {
            Some(scope) => {
                let _ = write!(s, ", scope {scope}");
            }
            None => s.push_str(", no scope given (required)"),
        }
    }
    if m.dependency.is_some() {
        s.push_str(match f.direct {
            Some(true) => ", direct dependency",
            Some(false) => ", transitive dependency",
            None => ", directness not known",
        });
    }
    if let Some(l) = &m.licenses {
        let judgement = match l.judge(&f.licenses) {
            LicenseJudgement::Acceptable => "acceptable",
            LicenseJudgement::NotAcceptable => "not acceptable",
            LicenseJudgement::Unknown => "not known",
        };
        if f.licenses.is_empty() {
            let _ = write!(s, ", no licence given ({judgement})");
        } else {
            let _ = write!(s, ", licence {} ({judgement})", f.licenses.join("; "));
        }
    }
}

/// One approver's latest approval event, and whether it stands at `now`.
fn approval_fact(approver: &str, r: &ApprovalRecord, now: EventTime) -> String {
    let mut s = match r.decision {
        ApprovalDecision::Approve => format!("{approver} approved at {}", r.at),
        ApprovalDecision::Revoke => format!("{approver} revoked at {}", r.at),
    };
    if let Some(e) = r.expires {
        let _ = write!(s, ", expires {e}");
    }
    let state = if r.standing(now) {
        "stands"
    } else if r.decision == ApprovalDecision::Revoke {
        "does not count"
    } else {
        "expired: does not count"
    };
    let _ = write!(s, " ({state}; event {})", r.event_id);
    s
}
