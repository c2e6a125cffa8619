use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use trustloop_schemas::{
    ActionState, ApprovalDecision, EnforcementAction, EventCodec, EventId, Feature, Match, NoWriterSchemas, Text,
    Verdict, VexStatus, texts,
};

use super::*;

const T0: i64 = 1_793_534_400_000_000; // 2026-11-01T12:00:00Z
const MIN: i64 = 60_000_000;
const H: i64 = 60 * MIN;

fn time(at: i64) -> String {
    EventTime::from_micros(at).to_rfc3339()
}

fn envelope(tenant: &str, key: &str, n: u64, at: i64) -> Envelope {
    Envelope {
        event_id: EventId(uuid::Uuid::from_u128(u128::from(n) + 1)),
        tenant: tenant.into(),
        key: key.into(),
        event_time: EventTime::from_micros(at),
        source: "test".into(),
        schema_version: 1,
    }
}

/// A finding delta; `Default` is an open, affected, high finding of `shop@1.0` without environment.
#[derive(Clone)]
struct F {
    release: &'static str,
    advisory: &'static str,
    aliases: &'static [&'static str],
    purl: &'static str,
    env: Option<&'static str>,
    change: FindingChange,
    vex: VexStatus,
    severity: Option<&'static str>,
    kev: bool,
    fixed: &'static [&'static str],
    cves: &'static [&'static str],
    votes: &'static [&'static str],
    justification: Option<trustloop_schemas::VexJustification>,
    scope: Option<&'static str>,
    direct: Option<bool>,
    licenses: &'static [&'static str],
    cwes: &'static [&'static str],
}

impl Default for F {
    fn default() -> Self {
        F {
            release: "shop@1.0",
            advisory: "GHSA-aaaa-bbbb-cccc",
            aliases: &[],
            purl: "pkg:cargo/openssl@0.10.0",
            env: None,
            change: FindingChange::Opened,
            vex: VexStatus::Affected,
            severity: Some("HIGH"),
            kev: false,
            fixed: &[],
            cves: &[],
            votes: &[],
            justification: None,
            scope: None,
            direct: None,
            licenses: &[],
            cwes: &[],
        }
    }
}

fn finding(n: u64, at: i64, f: F) -> Event {
    finding_of("acme", n, at, f)
}

fn finding_of(tenant: &str, n: u64, at: i64, f: F) -> Event {
    let (name, version) = f.release.split_once('@').expect("NAME@VERSION");
    Event::Finding(Finding {
        envelope: envelope(tenant, f.release, n, at),
        change: f.change,
        release_name: name.into(),
        release_version: version.into(),
        environment: f.env.map(Text::from),
        advisory_id: f.advisory.into(),
        aliases: texts(f.aliases),
        purl: f.purl.into(),
        ecosystem: "crates.io".into(),
        package_name: "openssl".into(),
        package_version: "0.10.0".into(),
        vex_status: f.vex,
        severity: f.severity.map(Text::from),
        matched: Arc::new(Match {
            range_type: "SEMVER".into(),
            event: "introduced=0".into(),
            comparator: "semver".into(),
        }),
        vex_statement_ids: vec![],
        cause_event_id: "test".into(),
        vex_justification: f.justification,
        vex_conflict: false,
        vex_votes: f.votes.iter().map(|v| v.to_string()).collect(),
        known_exploited: f.kev,
        fixed_versions: texts(f.fixed),
        distro_release: None,
        release_unknown: false,
        cves: texts(f.cves),
        exploited_ids: texts::<&str>([]),
        epss: None,
        epss_percentile: None,
        scope: f.scope.map(Text::from),
        direct: f.direct,
        licenses: texts(f.licenses),
        cwes: texts(f.cwes),
        vulnerability_id: Default::default(),
        sources: Default::default(),
        disagreements: Default::default(),
    })
}

fn approval(n: u64, at: i64, subject: &str, approver: &str, decision: ApprovalDecision, expires: Option<i64>) -> Event {
    Event::Approval(Approval {
        envelope: envelope("acme", subject, n, at),
        subject: subject.into(),
        approver: approver.into(),
        decision,
        comment: None,
        expires: expires.map(EventTime::from_micros),
    })
}

fn promotion(n: u64, at: i64, release: &str, from: &str, to: &str) -> Event {
    promotion_of("acme", n, at, release, from, to)
}

fn promotion_of(tenant: &str, n: u64, at: i64, release: &str, from: &str, to: &str) -> Event {
    let (name, version) = release.split_once('@').expect("NAME@VERSION");
    Event::PromotionRequest(PromotionRequest {
        envelope: envelope(tenant, release, n, at),
        release_name: name.into(),
        release_version: version.into(),
        from_environment: from.into(),
        to_environment: to.into(),
        requested_by: "ci".into(),
    })
}

fn score(n: u64, at: i64, entity: &str, value: f64) -> Event {
    Event::TrustScore(TrustScore {
        envelope: envelope("acme", entity, n, at),
        entity: entity.into(),
        score: value,
        previous: None,
        features: vec![Feature { name: "auth_failures".into(), value: 1.0, weight: 2.0, contribution: 100.0 - value }],
        policy_digest: "x".into(),
    })
}

fn policy_event(n: u64, at: i64, version: i64, yaml: &str) -> Event {
    let doc = crate::policy::parse(yaml).expect("test policy");
    Event::Policy(Policy {
        envelope: envelope("acme", &doc.name, n, at),
        name: doc.name.clone(),
        version,
        digest: doc.digest(),
        format: "yaml".into(),
        document: yaml.into(),
    })
}

/// A policy with only these release gates (flow-style YAML lists; the trust rules are the default).
fn gates(rules: &str, approvals: &str, freeze_windows: &str, waivers: &str) -> String {
    format!(
        "api_version: trustloop/v1\nname: test\nrelease_gates:\n  rules: {rules}\n  approvals: {approvals}\n  \
         freeze_windows: {freeze_windows}\n  waivers: {waivers}\n"
    )
}

/// The operator fed with increasing offsets per topic (partition 0).
struct Run {
    s: DecisionState,
    next: BTreeMap<&'static str, i64>,
}

impl Run {
    fn new() -> Run {
        Run { s: DecisionState::new(), next: BTreeMap::new() }
    }

    /// A run with `yaml` applied (version 1) at `T0 - 1h`.
    fn with(yaml: &str) -> Run {
        let mut r = Run::new();
        assert!(r.feed(&policy_event(10_000, T0 - H, 1, yaml)).is_empty());
        assert_eq!(r.s.tenant("acme").expect("tenant").rejected_policies, 0);
        r
    }

    fn feed(&mut self, e: &Event) -> Vec<Event> {
        let topic = e.event_type().topic();
        let offset = self.next.entry(topic).or_insert(0);
        let input = Input::new(topic, 0, *offset, e);
        *offset += 1;
        self.s.apply(&input)
    }
}

fn verdicts(out: &[Event]) -> Vec<&Verdict> {
    out.iter()
        .filter_map(|e| match e {
            Event::Verdict(v) => Some(v),
            _ => None,
        })
        .collect()
}

fn actions(out: &[Event]) -> Vec<&EnforcementAction> {
    out.iter()
        .filter_map(|e| match e {
            Event::EnforcementAction(a) => Some(a),
            _ => None,
        })
        .collect()
}

fn one_verdict(out: &[Event]) -> &Verdict {
    let v = verdicts(out);
    assert_eq!(v.len(), 1, "{out:#?}");
    v[0]
}

fn outcome_of(out: &[Event]) -> Outcome {
    one_verdict(out).outcome
}

fn rules_of(v: &Verdict) -> Vec<&str> {
    v.reasons.iter().map(|r| r.rule.as_str()).collect()
}

const HIGH_FAILS: &str = "[{id: high, when: {min_severity: high}, outcome: fail}]";

// ---------------------------------------------------------------------------------------------
// Gate rules, one per condition kind.

#[test]
fn severity_rule_uses_the_policy_bands() {
    let mut r = Run::with(&gates(HIGH_FAILS, "[]", "[]", "[]"));
    r.feed(&finding(1, T0, F { severity: Some("MODERATE"), ..F::default() }));
    assert_eq!(outcome_of(&r.feed(&promotion(2, T0, "shop@1.0", "dev", "staging"))), Outcome::Pass);
    // A CVSS vector scoring 7.5 is high; the verdict flips and names the finding.
    let out = r.feed(&finding(
        3,
        T0,
        F {
            purl: "pkg:cargo/hyper@0.14.0",
            severity: Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"),
            ..F::default()
        },
    ));
    let v = one_verdict(&out);
    assert_eq!((v.outcome, v.previous), (Outcome::Fail, Some(Outcome::Pass)));
    assert_eq!(rules_of(v), ["high"]);
    assert_eq!(v.reasons[0].facts.len(), 1);
    let fact = &v.reasons[0].facts[0];
    assert!(fact.contains("GHSA-aaaa-bbbb-cccc in pkg:cargo/hyper@0.14.0: severity high"), "{fact}");
    assert!(fact.contains("score 7.5") && fact.contains("VEX affected"), "{fact}");
    assert!(
        v.reasons[0].message.starts_with("FAIL: 1 open finding of shop@1.0 matches rule `high`"),
        "{:?}",
        v.reasons
    );
    // A policy that moves the high threshold to 8.0 passes it again (the band follows the policy).
    let raised = gates(HIGH_FAILS, "[]", "[]", "[]").replace("release_gates:", "severity: {high: 8.0}\nrelease_gates:");
    assert_eq!(outcome_of(&r.feed(&policy_event(4, T0, 2, &raised))), Outcome::Pass);
}

#[test]
fn min_cvss_needs_a_score() {
    let mut r = Run::with(&gates("[{id: cvss, when: {min_cvss: 7.5}, outcome: fail}]", "[]", "[]", "[]"));
    r.feed(&finding(1, T0, F { severity: Some("CRITICAL"), ..F::default() })); // a label has no score
    r.feed(&finding(2, T0, F { purl: "pkg:cargo/a@1", severity: Some("7.4"), ..F::default() }));
    assert_eq!(outcome_of(&r.feed(&promotion(3, T0, "shop@1.0", "dev", "staging"))), Outcome::Pass);
    let out = r.feed(&finding(4, T0, F { purl: "pkg:cargo/b@1", severity: Some("7.5"), ..F::default() }));
    let v = one_verdict(&out);
    assert_eq!(v.outcome, Outcome::Fail);
    assert!(v.reasons[0].facts[0].contains("pkg:cargo/b@1"), "{:?}", v.reasons);
    assert!(v.reasons[0].message.contains("CVSS 7.5 or higher"), "{:?}", v.reasons);
}

#[test]
fn known_exploited_rule() {
    let mut r = Run::with(&gates("[{id: kev, when: {known_exploited: true}, outcome: fail}]", "[]", "[]", "[]"));
    r.feed(&finding(1, T0, F { severity: Some("CRITICAL"), ..F::default() }));
    assert_eq!(outcome_of(&r.feed(&promotion(2, T0, "shop@1.0", "dev", "staging"))), Outcome::Pass);
    let out = r.feed(&finding(3, T0, F { severity: Some("LOW"), kev: true, ..F::default() }));
    let v = one_verdict(&out);
    assert_eq!(v.outcome, Outcome::Fail);
    assert!(v.reasons[0].facts[0].contains("known exploited: yes"), "{:?}", v.reasons);
}

fn epss_day(n: u64, at: i64, scores: &[(&str, f64, f64)]) -> Event {
    Event::EpssScores(trustloop_schemas::EpssScores {
        envelope: envelope("acme", "epss", n, at),
        model_version: Some("v2025.03.14".into()),
        score_date: time(at),
        part: 0,
        parts: 1,
        scores: scores
            .iter()
            .map(|(cve, epss, percentile)| trustloop_schemas::EpssScore {
                cve: cve.to_string(),
                epss: *epss,
                percentile: *percentile,
            })
            .collect(),
    })
}

#[test]
fn epss_rules_use_the_scores_in_force_and_a_new_day_re_decides() {
    let rules = "[{id: likely, when: {min_epss: 0.5, min_epss_percentile: 0.9}, outcome: fail}]";
    let mut r = Run::with(&gates(rules, "[]", "[]", "[]"));
    r.feed(&finding(1, T0, F { cves: &["CVE-2024-0001", "CVE-2024-0002"], ..F::default() }));
    let out = r.feed(&promotion(2, T0, "shop@1.0", "dev", "staging"));
    let pass = one_verdict(&out);
    assert_eq!(pass.outcome, Outcome::Pass, "no score: the rule does not match");
    // The highest-scored CVE counts; both thresholds must be met.
    let out = r.feed(&epss_day(3, T0 + H, &[("CVE-2024-0001", 0.2, 0.95), ("CVE-2024-0002", 0.6, 0.85)]));
    assert!(verdicts(&out).is_empty(), "0.6 at percentile 0.85: below the percentile");
    let out = r.feed(&epss_day(4, T0 + 2 * H, &[("CVE-2024-0002", 0.7, 0.97)]));
    let v = one_verdict(&out);
    assert_eq!((v.outcome, rules_of(v)), (Outcome::Fail, vec!["likely"]));
    let fact = &v.reasons[0].facts[0];
    assert!(fact.contains("EPSS 0.7 (percentile 0.97) for CVE-2024-0002 on "), "{fact}");
    assert!(v.reasons[0].message.contains("EPSS 0.5 or higher, EPSS percentile 0.9 or higher"), "{:?}", v.reasons);
    let failed = v.evidence_digest.clone();
    // Replay's view: the decision recomputed from the state is the verdict.
    let d = r.s.evaluate_release("acme", "shop@1.0@staging").expect("decision");
    assert_eq!((d.outcome, &d.evidence_digest), (Outcome::Fail, &failed));
    let out = r.feed(&epss_day(5, T0 + 3 * H, &[("CVE-2024-0002", 0.1, 0.5)]));
    let v = one_verdict(&out);
    assert_eq!(v.outcome, Outcome::Pass);
    assert_ne!(v.evidence_digest, pass.evidence_digest, "the scores in force are evidence");
    assert!(verdicts(&r.feed(&epss_day(6, T0 + 4 * H, &[("CVE-2024-0002", 0.1, 0.5)]))).is_empty());
}

#[test]
fn without_an_epss_rule_scores_change_no_verdict_and_no_evidence() {
    let mut r = Run::with(&gates(HIGH_FAILS, "[]", "[]", "[]"));
    r.feed(&finding(1, T0, F { severity: Some("LOW"), cves: &["CVE-2024-0001"], ..F::default() }));
    let before = one_verdict(&r.feed(&promotion(2, T0, "shop@1.0", "dev", "staging"))).evidence_digest.clone();
    assert!(r.feed(&epss_day(3, T0 + H, &[("CVE-2024-0001", 0.99, 0.99)])).is_empty());
    let d = r.s.evaluate_release("acme", "shop@1.0@staging").expect("decision");
    assert_eq!(d.evidence_digest, before);
    assert!(!d.reasons.iter().flat_map(|r| &r.facts).any(|f| f.contains("EPSS")));
}

#[test]
fn purl_ecosystem_package_and_vulnerability_matchers() {
    let rules = "[{id: acme, when: {purls: ['pkg:cargo/acme-*', '*@0.0.*'], ecosystems: [crates.io]}, outcome: fail},\
                  {id: pkg, when: {packages: [openssl]}, outcome: warn},\
                  {id: cve, when: {vulnerabilities: [cve-2024-0009]}, outcome: fail}]";
    let mut r = Run::with(&gates(rules, "[]", "[]", "[]"));
    // openssl (the test findings' package): the package rule only.
    r.feed(&finding(1, T0, F::default()));
    let v = one_verdict(&r.feed(&promotion(2, T0, "shop@1.0", "dev", "staging"))).clone();
    assert_eq!((v.outcome, rules_of(&v)), (Outcome::Warn, vec!["pkg"]));
    assert!(v.reasons[0].message.contains("package openssl"), "{:?}", v.reasons);
    // A purl matching a pattern: the purl rule.
    let out = r.feed(&finding(3, T0, F { purl: "pkg:cargo/acme-core@1.2.0", advisory: "GHSA-1", ..F::default() }));
    let v = one_verdict(&out);
    assert_eq!((v.outcome, rules_of(v)), (Outcome::Fail, vec!["acme", "pkg"]));
    r.feed(&finding(
        4,
        T0,
        F { purl: "pkg:cargo/acme-core@1.2.0", advisory: "GHSA-1", change: FindingChange::Closed, ..F::default() },
    ));
    // A vulnerability named by one of its CVEs (any case) or aliases.
    let out = r.feed(&finding(
        5,
        T0,
        F { purl: "pkg:cargo/x@1", advisory: "GHSA-2", cves: &["CVE-2024-0009"], ..F::default() },
    ));
    let v = one_verdict(&out);
    assert_eq!((v.outcome, rules_of(v)), (Outcome::Fail, vec!["pkg", "cve"]));
    assert!(v.reasons[1].message.contains("vulnerability cve-2024-0009"), "{:?}", v.reasons);
}

#[test]
fn defer_and_ignore_hide_findings_from_later_rules_until_their_end() {
    let until = time(T0 + H);
    let rules = format!(
        "[{{id: later, when: {{vulnerabilities: [GHSA-aaaa-bbbb-cccc]}}, outcome: defer, until: '{until}'}},\
          {{id: accepted, when: {{purls: ['pkg:cargo/dev-*']}}, outcome: ignore, until: '{}', justification: dev only}},\
          {{id: high, when: {{min_severity: high}}, outcome: fail}}]",
        time(T0 + 10 * H)
    );
    let mut r = Run::with(&gates(&rules, "[]", "[]", "[]"));
    r.feed(&finding(1, T0, F::default()));
    r.feed(&finding(2, T0, F { purl: "pkg:cargo/dev-tool@1.0.0", advisory: "GHSA-2", ..F::default() }));
    let out = r.feed(&promotion(3, T0, "shop@1.0", "dev", "staging"));
    let v = one_verdict(&out);
    assert_eq!((v.outcome, rules_of(v)), (Outcome::Pass, vec!["later", "accepted"]));
    assert!(v.reasons[0].message.starts_with("DEFERRED: 1 open finding"), "{:?}", v.reasons);
    assert!(v.reasons[1].message.contains("Justification: dev only"), "{:?}", v.reasons);
    // The defer ends at its event time: the next input past it re-decides, and the high rule fails.
    let out = r.feed(&approval(4, T0 + 2 * H, "shop@1.0@staging", "alice", ApprovalDecision::Approve, None));
    let v = one_verdict(&out);
    assert_eq!((v.outcome, rules_of(v)), (Outcome::Fail, vec!["accepted", "high"]));
    assert!(v.reasons[1].facts[0].contains("pkg:cargo/openssl"), "{:?}", v.reasons);
}

#[test]
fn require_vex_accepts_only_listed_issuers_and_justifications() {
    use trustloop_schemas::VexJustification::{ComponentNotPresent, VulnerableCodeNotInExecutePath};
    let rules = "[{id: vex-or-fail, when: {min_severity: high}, outcome: require_vex, issuers: [vendor],\
                   justifications: [component_not_present, vulnerable_code_not_present]}]";
    let mut r = Run::with(&gates(rules, "[]", "[]", "[]"));
    // Affected: no statement clears it.
    r.feed(&finding(1, T0, F::default()));
    let v = one_verdict(&r.feed(&promotion(2, T0, "shop@1.0", "dev", "staging"))).clone();
    assert_eq!((v.outcome, rules_of(&v)), (Outcome::Fail, vec!["vex-or-fail"]));
    assert!(v.reasons[0].message.contains("without an accepted VEX statement (not_affected because component_not_present or vulnerable_code_not_present or fixed, from vendor)"), "{:?}", v.reasons);
    // not_affected by the vendor, but with a justification the rule does not accept: still FAIL.
    let na = |n, votes: &'static [&'static str], j| {
        finding(n, T0, F { vex: VexStatus::NotAffected, votes, justification: Some(j), ..F::default() })
    };
    assert!(verdicts(&r.feed(&na(3, &["vendor=not_affected"], VulnerableCodeNotInExecutePath))).is_empty());
    // ... by another issuer with an accepted one: still FAIL.
    assert!(verdicts(&r.feed(&na(4, &["triage=not_affected"], ComponentNotPresent))).is_empty());
    // ... by the vendor with an accepted one: PASS.
    let v = one_verdict(&r.feed(&na(5, &["triage=affected", "vendor=not_affected"], ComponentNotPresent))).clone();
    assert_eq!(v.outcome, Outcome::Pass, "{:?}", v.reasons);
    // Fixed, as the vendor says: accepted whatever the justification list.
    let fixed = F { vex: VexStatus::Fixed, votes: &["vendor=fixed"], ..F::default() };
    assert!(verdicts(&r.feed(&finding(6, T0, fixed))).is_empty(), "still PASS");
}

/// The outcome and fired rules of the verdict a fresh run gives `shop@1.0` → staging, with the
/// rules `rules`, after the findings `findings` (each a new open finding).
fn decide(rules: &str, findings: &[F]) -> Verdict {
    let mut r = Run::with(&gates(rules, "[]", "[]", "[]"));
    for (n, f) in findings.iter().enumerate() {
        r.feed(&finding(n as u64 + 1, T0, f.clone()));
    }
    one_verdict(&r.feed(&promotion(100, T0, "shop@1.0", "dev", "staging"))).clone()
}

#[test]
fn cwe_matcher_matches_a_named_weakness_of_the_advisory() {
    let rules = "[{id: xss, when: {cwes: [cwe-79, CWE-89]}, outcome: fail}]";
    let v = decide(rules, &[F { cwes: &["CWE-20", "CWE-79"], ..F::default() }]);
    assert_eq!((v.outcome, rules_of(&v)), (Outcome::Fail, vec!["xss"]));
    assert!(v.reasons[0].message.contains("weakness CWE-79 or CWE-89"), "{:?}", v.reasons);
    assert!(v.reasons[0].facts[0].ends_with(", weaknesses: CWE-20, CWE-79"), "{:?}", v.reasons);
    // Another weakness, or none named: no match.
    for cwes in [&["CWE-20"][..], &[][..]] {
        let v = decide(rules, &[F { cwes, ..F::default() }]);
        assert_eq!((v.outcome, rules_of(&v)), (Outcome::Pass, vec![]), "{cwes:?}");
    }
}

#[test]
fn source_matcher_matches_the_advisory_ids_prefix() {
    let rules = "[{id: ghsa, when: {sources: [ghsa]}, outcome: warn}, {id: distro, when: {sources: [ALSA, DSA]}, outcome: fail}]";
    let v = decide(rules, &[F { advisory: "GHSA-aaaa-bbbb-cccc", ..F::default() }]);
    assert_eq!((v.outcome, rules_of(&v)), (Outcome::Warn, vec!["ghsa"]));
    assert!(v.reasons[0].facts[0].ends_with(", source GHSA"), "{:?}", v.reasons);
    let v = decide(rules, &[F { advisory: "ALSA-2022:0267", ..F::default() }]);
    assert_eq!((v.outcome, rules_of(&v)), (Outcome::Fail, vec!["distro"]));
    // An alias from the source does not make the advisory one of its.
    let v = decide(rules, &[F { advisory: "RUSTSEC-2024-0001", aliases: &["GHSA-xxxx-yyyy-zzzz"], ..F::default() }]);
    assert_eq!((v.outcome, rules_of(&v)), (Outcome::Pass, vec![]));
}

#[test]
fn scope_matcher_matches_a_listed_group_and_no_scope_as_required() {
    let rules = "[{id: dev, when: {scopes: [dev, test]}, outcome: warn}, {id: shipped, when: {scopes: [required]}, outcome: fail}]";
    let v = decide(rules, &[F { scope: Some("optional,test"), ..F::default() }]);
    assert_eq!((v.outcome, rules_of(&v)), (Outcome::Warn, vec!["dev"]));
    assert!(v.reasons[0].facts[0].ends_with(", scope optional,test"), "{:?}", v.reasons);
    let v = decide(rules, &[F { scope: None, ..F::default() }]);
    assert_eq!((v.outcome, rules_of(&v)), (Outcome::Fail, vec!["shipped"]));
    assert!(v.reasons[0].facts[0].ends_with(", no scope given (required)"), "{:?}", v.reasons);
    let v = decide(rules, &[F { scope: Some("excluded"), ..F::default() }]);
    assert_eq!((v.outcome, rules_of(&v)), (Outcome::Pass, vec![]));
}

#[test]
fn dependency_matcher_matches_direct_or_transitive_and_unknown_is_neither() {
    let rules = "[{id: direct, when: {dependency: direct}, outcome: fail}, {id: transitive, when: {dependency: transitive}, outcome: warn}]";
    let v = decide(rules, &[F { direct: Some(true), ..F::default() }]);
    assert_eq!((v.outcome, rules_of(&v)), (Outcome::Fail, vec!["direct"]));
    assert!(v.reasons[0].message.contains("a direct dependency"), "{:?}", v.reasons);
    let v = decide(rules, &[F { direct: Some(false), ..F::default() }]);
    assert_eq!((v.outcome, rules_of(&v)), (Outcome::Warn, vec!["transitive"]));
    assert!(v.reasons[0].facts[0].ends_with(", transitive dependency"), "{:?}", v.reasons);
    let v = decide(rules, &[F { direct: None, ..F::default() }]);
    assert_eq!((v.outcome, rules_of(&v)), (Outcome::Pass, vec![]));
}

#[test]
fn licence_matcher_matches_components_whose_licence_is_not_acceptable() {
    let rules = "[{id: copyleft, when: {licenses: {deny: [GPL-3.0-only, AGPL-3.0]}}, outcome: fail},\
                  {id: allowed, when: {licenses: {allow: [MIT, Apache-2.0], unknown: true}}, outcome: warn}]";
    // Dual-licensed: MIT can be taken, so neither list objects.
    let v = decide(rules, &[F { licenses: &["MIT OR GPL-3.0-only"], ..F::default() }]);
    assert_eq!((v.outcome, rules_of(&v)), (Outcome::Pass, vec![]));
    // AND: both apply, GPL-3.0-only cannot be avoided (and is not allowed).
    let v = decide(rules, &[F { licenses: &["MIT AND GPL-3.0-only"], ..F::default() }]);
    assert_eq!((v.outcome, rules_of(&v)), (Outcome::Fail, vec!["copyleft", "allowed"]));
    assert!(
        v.reasons[0].message.contains("a licence not acceptable (denied AGPL-3.0, GPL-3.0-only)"),
        "{:?}",
        v.reasons
    );
    assert!(v.reasons[0].facts[0].ends_with(", licence MIT AND GPL-3.0-only (not acceptable)"), "{:?}", v.reasons);
    // Not denied but not allowed: the allow-list rule only.
    let v = decide(rules, &[F { licenses: &["BSD-3-Clause"], ..F::default() }]);
    assert_eq!((v.outcome, rules_of(&v)), (Outcome::Warn, vec!["allowed"]));
    // Unknown (none given, or not SPDX): only the rule with `unknown: true`.
    for licenses in [&[][..], &["Apache License 2.0"][..]] {
        let v = decide(rules, &[F { licenses, ..F::default() }]);
        assert_eq!((v.outcome, rules_of(&v)), (Outcome::Warn, vec!["allowed"]), "{licenses:?}");
    }
    let v = decide(rules, &[F { licenses: &[], ..F::default() }]);
    assert!(v.reasons[0].facts[0].ends_with(", no licence given (not known)"), "{:?}", v.reasons);
}

#[test]
fn release_patterns_limit_a_rule_to_the_releases_they_match() {
    let rules = "[{id: shop2, releases: ['shop@2.*', 'pay-*'], when: {min_severity: high}, outcome: fail},\
                  {id: any, when: {min_severity: high}, outcome: warn}]";
    let mut r = Run::with(&gates(rules, "[]", "[]", "[]"));
    for (n, release) in [(1, "shop@1.0"), (2, "shop@2.1"), (3, "pay-api@1.0"), (4, "payments@1.0")] {
        r.feed(&finding(n, T0, F { release, ..F::default() }));
    }
    let mut fired = Vec::new();
    for (n, release) in [(11, "shop@1.0"), (12, "shop@2.1"), (13, "pay-api@1.0"), (14, "payments@1.0")] {
        let v = one_verdict(&r.feed(&promotion(n, T0, release, "dev", "staging"))).clone();
        fired.push((release, v.outcome, rules_of(&v).into_iter().map(str::to_string).collect::<Vec<_>>()));
    }
    let expected = |release, outcome, rules: &[&str]| (release, outcome, rules.iter().map(|s| s.to_string()).collect());
    assert_eq!(
        fired,
        vec![
            expected("shop@1.0", Outcome::Warn, &["any"]),
            expected("shop@2.1", Outcome::Fail, &["shop2", "any"]),
            expected("pay-api@1.0", Outcome::Fail, &["shop2", "any"]),
            expected("payments@1.0", Outcome::Warn, &["any"]),
        ]
    );
    use super::release::applies_to_release;
    let p = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(applies_to_release(&[], "x", "1") && applies_to_release(&p(&["@acme/app"]), "@acme/app", "1.0"));
    assert!(!applies_to_release(&p(&["shop"]), "shopping", "1") && applies_to_release(&p(&["shop*"]), "shopping", "1"));
}

#[test]
fn a_warn_rule_escalates_to_fail_on_known_exploitation_or_epss() {
    let rules = "[{id: high, when: {min_severity: high}, outcome: warn,\
                   escalate: {known_exploited: true, min_epss: 0.5}}]";
    let mut r = Run::with(&gates(rules, "[]", "[]", "[]"));
    r.feed(&finding(1, T0, F { cves: &["CVE-2024-0001"], ..F::default() }));
    let v = one_verdict(&r.feed(&promotion(2, T0, "shop@1.0", "dev", "staging"))).clone();
    assert_eq!((v.outcome, rules_of(&v)), (Outcome::Warn, vec!["high"]), "neither condition: the rule warns");
    assert!(!v.reasons[0].message.contains("escalated"), "{:?}", v.reasons);
    // EPSS below the threshold changes nothing; at it, the rule fails.
    assert!(verdicts(&r.feed(&epss_day(3, T0 + H, &[("CVE-2024-0001", 0.49, 0.9)]))).is_empty());
    let v = one_verdict(&r.feed(&epss_day(4, T0 + 2 * H, &[("CVE-2024-0001", 0.5, 0.9)]))).clone();
    assert_eq!((v.outcome, rules_of(&v)), (Outcome::Fail, vec!["high"]));
    assert!(
        v.reasons[0].message.starts_with("FAIL: 1 open finding of shop@1.0 matches rule `high`")
            && v.reasons[0].message.contains("; 1 of them escalated to FAIL (known exploited or EPSS 0.5 or higher)"),
        "{:?}",
        v.reasons
    );
    assert!(v.reasons[0].facts[0].ends_with("; escalated: EPSS 0.5 of CVE-2024-0001 at least 0.5"), "{:?}", v.reasons);
    // Replay's view agrees.
    assert_eq!(r.s.evaluate_release("acme", "shop@1.0@staging").expect("decision").outcome, Outcome::Fail);
    // Known exploited escalates whatever the score; a second, not escalated finding is listed too.
    let mut r = Run::with(&gates(rules, "[]", "[]", "[]"));
    r.feed(&finding(1, T0, F { kev: true, ..F::default() }));
    r.feed(&finding(2, T0, F { advisory: "GHSA-2", ..F::default() }));
    let v = one_verdict(&r.feed(&promotion(3, T0, "shop@1.0", "dev", "staging"))).clone();
    assert_eq!(v.outcome, Outcome::Fail);
    assert!(v.reasons[0].message.contains("2 open findings") && v.reasons[0].message.contains("1 of them escalated"));
    let escalated: Vec<bool> = v.reasons[0].facts.iter().map(|f| f.ends_with("; escalated: known exploited")).collect();
    assert_eq!(escalated, [false, true], "{:?}", v.reasons[0].facts);
}

#[test]
fn an_escalated_finding_of_a_defer_rule_is_not_hidden() {
    let rules = format!(
        "[{{id: later, when: {{min_severity: high}}, outcome: defer, until: '{}', escalate: {{to: warn, known_exploited: true}}}},\
          {{id: high, when: {{min_severity: high}}, outcome: fail}}]",
        time(T0 + 10 * H)
    );
    let mut r = Run::with(&gates(&rules, "[]", "[]", "[]"));
    r.feed(&finding(1, T0, F::default()));
    let v = one_verdict(&r.feed(&promotion(2, T0, "shop@1.0", "dev", "staging"))).clone();
    assert_eq!((v.outcome, rules_of(&v)), (Outcome::Pass, vec!["later"]), "deferred");
    // Listed in a catalog: escalated to WARN by the defer rule, and no longer hidden from `high`.
    let v = one_verdict(&r.feed(&finding(3, T0 + H, F { kev: true, ..F::default() }))).clone();
    assert_eq!((v.outcome, rules_of(&v)), (Outcome::Fail, vec!["later", "high"]));
    assert!(v.reasons[0].message.starts_with("WARN: "), "{:?}", v.reasons);
    assert!(v.reasons[0].message.contains("escalated to WARN (known exploited) and not hidden"), "{:?}", v.reasons);
}

#[test]
fn globs_match_runs_of_any_characters() {
    use super::release::glob;
    assert!(glob("pkg:npm/@acme/*", "pkg:npm/@acme/ui@1.0.0"));
    assert!(!glob("pkg:npm/@acme/*", "pkg:npm/@other/ui@1.0.0"));
    assert!(glob("*openssl*", "pkg:rpm/almalinux/openssl-libs@3.0.7"));
    assert!(glob("pkg:cargo/serde@1.0.*", "pkg:cargo/serde@1.0.200"));
    assert!(glob("exact", "exact") && !glob("exact", "exactly") && !glob("a*b*c", "acb"));
    assert!(glob("*", "") && glob("a**b", "ab") && !glob("ab*", "a"));
}

#[test]
fn fix_available_rule_both_ways() {
    let rules = "[{id: fix, when: {fix_available: true}, outcome: fail}, {id: nofix, when: {fix_available: false}, outcome: warn}]";
    let mut r = Run::with(&gates(rules, "[]", "[]", "[]"));
    r.feed(&finding(1, T0, F::default()));
    let out = r.feed(&promotion(2, T0, "shop@1.0", "dev", "staging"));
    let v = one_verdict(&out);
    assert_eq!((v.outcome, rules_of(v)), (Outcome::Warn, vec!["nofix"]));
    assert!(v.reasons[0].facts[0].ends_with("fix: none known"), "{:?}", v.reasons);
    // The same finding updated with a fixed version: now the fail rule matches.
    let out = r.feed(&finding(3, T0, F { fixed: &["0.10.55", "1.0.0"], ..F::default() }));
    let v = one_verdict(&out);
    assert_eq!((v.outcome, rules_of(v)), (Outcome::Fail, vec!["fix"]));
    assert!(v.reasons[0].facts[0].ends_with("fix: 0.10.55, 1.0.0"), "{:?}", v.reasons);
}

#[test]
fn vex_status_filters_and_updates_replace_the_open_finding() {
    let rules = "[{id: affected, when: {}, outcome: fail}, {id: fixed, when: {vex_status: [fixed]}, outcome: warn}]";
    let mut r = Run::with(&gates(rules, "[]", "[]", "[]"));
    r.feed(&finding(1, T0, F { vex: VexStatus::UnderInvestigation, ..F::default() }));
    assert_eq!(outcome_of(&r.feed(&promotion(2, T0, "shop@1.0", "dev", "staging"))), Outcome::Fail);
    // VEX says not affected: the update replaces the open finding, nothing matches.
    let out = r.feed(&finding(3, T0, F { vex: VexStatus::NotAffected, ..F::default() }));
    assert_eq!(outcome_of(&out), Outcome::Pass);
    assert_eq!(r.s.tenant("acme").expect("tenant").releases["shop@1.0"].findings.len(), 1);
    // Fixed matches only the rule that lists it.
    let out = r.feed(&finding(4, T0, F { vex: VexStatus::Fixed, ..F::default() }));
    let v = one_verdict(&out);
    assert_eq!((v.outcome, rules_of(v)), (Outcome::Warn, vec!["fixed"]));
    assert!(v.reasons[0].facts[0].contains("VEX fixed"), "{:?}", v.reasons);
    // Closing it: PASS; closing it again or closing an unknown one changes nothing.
    let out = r.feed(&finding(5, T0, F { change: FindingChange::Closed, ..F::default() }));
    assert_eq!(outcome_of(&out), Outcome::Pass);
    assert!(r.feed(&finding(6, T0, F { change: FindingChange::Closed, ..F::default() })).is_empty());
}

#[test]
fn findings_of_two_environments_are_two_findings() {
    let mut r = Run::with(&gates(HIGH_FAILS, "[]", "[]", "[]"));
    r.feed(&finding(1, T0, F { env: Some("staging"), ..F::default() }));
    r.feed(&finding(2, T0, F { env: Some("prod"), ..F::default() }));
    assert_eq!(outcome_of(&r.feed(&promotion(3, T0, "shop@1.0", "staging", "prod"))), Outcome::Fail);
    // Closing the staging one leaves the prod one open.
    assert!(
        r.feed(&finding(4, T0, F { env: Some("staging"), change: FindingChange::Closed, ..F::default() })).is_empty()
    );
    let out = r.feed(&finding(5, T0, F { env: Some("prod"), change: FindingChange::Closed, ..F::default() }));
    assert_eq!(outcome_of(&out), Outcome::Pass);
}

#[test]
fn environments_filter_rules() {
    let rules = "[{id: prod-high, environments: [prod], when: {min_severity: high}, outcome: fail}]";
    let mut r = Run::with(&gates(rules, "[]", "[]", "[]"));
    r.feed(&finding(1, T0, F::default()));
    assert_eq!(outcome_of(&r.feed(&promotion(2, T0, "shop@1.0", "dev", "staging"))), Outcome::Pass);
    let out = r.feed(&promotion(3, T0, "shop@1.0", "staging", "prod"));
    let v = one_verdict(&out);
    assert_eq!((v.subject.as_str(), v.outcome, v.previous), ("shop@1.0@prod", Outcome::Fail, None));
    // Another finding changes neither subject's outcome: no verdict.
    assert!(r.feed(&finding(4, T0, F { purl: "pkg:cargo/x@1", ..F::default() })).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Waivers.

#[test]
fn waiver_by_alias_hides_the_finding() {
    let waivers = format!(
        "[{{id: WVR-1, advisory: cve-2026-0001, releases: [shop], justification: endpoint disabled, expires: '{}', \
         approved_by: [alice]}}, {{id: WVR-2, advisory: GHSA-zzzz, releases: [shop@1.0], justification: other, \
         expires: '{}'}}, {{id: WVR-3, advisory: CVE-2026-0002, releases: [shop@2.0, other], justification: not this \
         release, expires: '{}'}}]",
        time(T0 + 24 * H),
        time(T0 + 24 * H),
        time(T0 + 24 * H)
    );
    let mut r = Run::with(&gates(HIGH_FAILS, "[]", "[]", &waivers));
    r.feed(&finding(1, T0, F { aliases: &["CVE-2026-0001"], ..F::default() }));
    r.feed(&finding(
        2,
        T0,
        F { advisory: "GHSA-other", aliases: &["CVE-2026-0002"], severity: Some("LOW"), ..F::default() },
    ));
    let out = r.feed(&promotion(3, T0, "shop@1.0", "dev", "staging"));
    let v = one_verdict(&out);
    assert_eq!(v.outcome, Outcome::Pass);
    assert_eq!(rules_of(v), ["waiver:WVR-1"]);
    assert!(v.reasons[0].message.contains("hides 1 open finding"), "{:?}", v.reasons);
    assert!(v.reasons[0].message.contains("endpoint disabled"), "{:?}", v.reasons);
    assert_eq!(v.reasons[0].facts.len(), 2);
    assert!(v.reasons[0].facts[0].starts_with("GHSA-aaaa-bbbb-cccc (CVE-2026-0001) in pkg:cargo/openssl@0.10.0"));
    assert_eq!(v.reasons[0].facts[1], "waiver approved by alice");
    // The waiver covers one advisory: another high finding fails.
    let out = r.feed(&finding(4, T0, F { advisory: "GHSA-new", ..F::default() }));
    assert_eq!(rules_of(one_verdict(&out)), ["high", "waiver:WVR-1"]);
}

#[test]
fn waiver_expiry_flips_the_verdict_at_its_event_time() {
    let expires = T0 + H;
    let waivers = format!(
        "[{{id: W, advisory: GHSA-aaaa-bbbb-cccc, releases: [shop@1.0], justification: accepted, expires: '{}'}}]",
        time(expires)
    );
    let mut r = Run::with(&gates(HIGH_FAILS, "[]", "[]", &waivers));
    r.feed(&finding(1, T0, F::default()));
    assert_eq!(outcome_of(&r.feed(&promotion(2, T0, "shop@1.0", "dev", "staging"))), Outcome::Pass);
    // Any input moves "now"; one microsecond before the expiry nothing happens.
    assert!(r.feed(&approval(3, expires - 1, "other@1@x", "bob", ApprovalDecision::Approve, None)).is_empty());
    let out = r.feed(&approval(4, expires, "other@1@x", "bob", ApprovalDecision::Approve, None));
    let v = one_verdict(&out);
    assert_eq!((v.outcome, v.previous), (Outcome::Fail, Some(Outcome::Pass)));
    assert_eq!(v.envelope.event_time.as_micros(), expires);
    assert_eq!(rules_of(v), ["high", "waiver:W"]);
    assert!(v.reasons[1].message.contains("expired at"), "{:?}", v.reasons);
    // A late event (older event time) does not move "now" back.
    assert!(r.feed(&approval(5, T0, "other@1@x", "carol", ApprovalDecision::Approve, None)).is_empty());
    assert_eq!(r.s.watermark(), Some(EventTime::from_micros(expires)));
    assert_eq!(r.s.evaluate_release("acme", "shop@1.0@staging").expect("subject").outcome, Outcome::Fail);
}

#[test]
fn time_boundaries_are_crossed_by_a_jump() {
    // Freeze window [T0+1h, T0+2h): one input jumping from T0 to T0+3h crosses both boundaries; the
    // outcome did not change overall, so no verdict.
    let windows = format!("[{{id: f, from: '{}', until: '{}'}}]", time(T0 + H), time(T0 + 2 * H));
    let mut r = Run::with(&gates("[]", "[]", &windows, "[]"));
    assert_eq!(outcome_of(&r.feed(&promotion(1, T0, "shop@1.0", "dev", "prod"))), Outcome::Pass);
    assert!(
        r.feed(&score(2, T0 + 3 * H, "host-1", 100.0))
            .iter()
            .all(|e| matches!(e, Event::Verdict(v) if v.subject_kind == SubjectKind::Entity))
    );
    assert!(r.s.boundaries.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Approvals and freeze windows.

#[test]
fn approvals_count_distinct_standing_approvers() {
    let mut r = Run::with(&gates("[]", "[{environments: [prod], required: 2}]", "[]", "[]"));
    let subject = "shop@1.0@prod";
    let out = r.feed(&promotion(1, T0, "shop@1.0", "staging", "prod"));
    let v = one_verdict(&out);
    assert_eq!(v.outcome, Outcome::Fail);
    assert_eq!(rules_of(v), ["approvals[0]"]);
    assert!(v.reasons[0].message.contains("needs 2 distinct approvers of shop@1.0@prod; 0 stand"), "{:?}", v.reasons);
    let a = actions(&out);
    assert_eq!((a.len(), a[0].kind), (1, ActionKind::BlockPromotion));
    // One approver, twice, and an approval of another subject: still one.
    assert!(r.feed(&approval(2, T0, subject, "alice", ApprovalDecision::Approve, None)).is_empty());
    assert!(r.feed(&approval(3, T0 + 1, subject, "alice", ApprovalDecision::Approve, None)).is_empty());
    assert!(r.feed(&approval(4, T0 + 2, "shop@1.0@staging", "bob", ApprovalDecision::Approve, None)).is_empty());
    let out = r.feed(&approval(5, T0 + 3, subject, "bob", ApprovalDecision::Approve, None));
    let v = one_verdict(&out);
    assert_eq!((v.outcome, v.previous), (Outcome::Pass, Some(Outcome::Fail)));
    assert!(v.reasons[0].message.starts_with("ok: 2 standing approvals"), "{:?}", v.reasons);
    assert_eq!(v.reasons[0].facts.len(), 2);
    assert!(v.reasons[0].facts[1].starts_with("bob approved at 2026-11-01T12:00:00.000003Z (stands; event "));
    // A revoke takes bob out; an older approval of bob arriving late does not bring him back.
    assert_eq!(
        outcome_of(&r.feed(&approval(6, T0 + 10, subject, "bob", ApprovalDecision::Revoke, None))),
        Outcome::Fail
    );
    assert!(r.feed(&approval(7, T0 + 5, subject, "bob", ApprovalDecision::Approve, None)).is_empty());
    // Re-approved until T0+1h: PASS, then FAIL exactly when it expires.
    let out = r.feed(&approval(8, T0 + 20, subject, "bob", ApprovalDecision::Approve, Some(T0 + H)));
    assert_eq!(outcome_of(&out), Outcome::Pass);
    assert!(
        r.feed(&score(9, T0 + H - 1, "host-1", 100.0))
            .iter()
            .all(|e| !matches!(e, Event::Verdict(v) if v.subject == subject))
    );
    let out = r.feed(&score(10, T0 + H, "host-1", 100.0));
    let v = one_verdict(&out);
    assert_eq!((v.subject.as_str(), v.outcome), (subject, Outcome::Fail));
    assert!(
        v.reasons[0].facts.iter().any(|f| f.contains("bob approved") && f.contains("expired: does not count")),
        "{:?}",
        v.reasons
    );
    // Approvals do not apply to other environments.
    assert_eq!(outcome_of(&r.feed(&promotion(11, T0 + H, "shop@1.0", "dev", "staging"))), Outcome::Pass);
}

#[test]
fn freeze_window_opens_and_closes_in_event_time() {
    let (from, until) = (T0 + H, T0 + 2 * H);
    let windows = format!(
        "[{{id: year-end, environments: [prod], from: '{}', until: '{}', reason: change freeze}}]",
        time(from),
        time(until)
    );
    let mut r = Run::with(&gates("[]", "[]", &windows, "[]"));
    assert_eq!(outcome_of(&r.feed(&promotion(1, T0, "shop@1.0", "staging", "prod"))), Outcome::Pass);
    assert_eq!(outcome_of(&r.feed(&promotion(2, T0, "shop@1.0", "dev", "staging"))), Outcome::Pass);
    assert!(
        r.feed(&score(3, from - 1, "h", 100.0))
            .iter()
            .all(|e| !matches!(e, Event::Verdict(v) if v.subject_kind == SubjectKind::Release))
    );
    let out = r.feed(&finding(4, from, F { severity: Some("LOW"), ..F::default() }));
    let v = one_verdict(&out);
    assert_eq!((v.subject.as_str(), v.outcome), ("shop@1.0@prod", Outcome::Fail));
    assert_eq!(rules_of(v), ["freeze_window:year-end"]);
    assert!(v.reasons[0].message.ends_with(": change freeze"), "{:?}", v.reasons);
    // A promotion during the window is blocked.
    let out = r.feed(&promotion(5, from + MIN, "shop@1.0", "staging", "prod"));
    assert_eq!(actions(&out)[0].kind, ActionKind::BlockPromotion);
    // `until` is exclusive.
    assert!(r.feed(&score(6, until - 1, "h", 100.0)).iter().all(|e| !matches!(e, Event::Verdict(_))));
    let out = r.feed(&score(7, until, "h", 100.0));
    let v = one_verdict(&out);
    assert_eq!((v.outcome, v.previous), (Outcome::Pass, Some(Outcome::Fail)));
}

// ---------------------------------------------------------------------------------------------
// Verdicts and promotion actions.

#[test]
fn verdicts_only_on_change_and_promotions_always() {
    let rules = "[{id: crit, when: {min_severity: critical}, outcome: fail}, {id: high, when: {min_severity: high}, outcome: warn}]";
    let mut r = Run::with(&gates(rules, "[]", "[]", "[]"));
    // No subject yet: findings are kept, nothing is emitted.
    assert!(r.feed(&finding(1, T0, F::default())).is_empty());
    let out = r.feed(&promotion(2, T0, "shop@1.0", "staging", "prod"));
    assert_eq!(out.len(), 2);
    let v = one_verdict(&out);
    assert_eq!((v.outcome, v.previous, v.subject_kind), (Outcome::Warn, None, SubjectKind::Release));
    assert_eq!(&*v.envelope.source, emit::SOURCE);
    assert_eq!(&*v.envelope.key, "shop@1.0@prod");
    assert_eq!(v.policy_digest, r.s.policy_digest("acme"));
    let a = actions(&out)[0];
    assert_eq!(a.kind, ActionKind::Promote);
    assert_eq!(a.state, ActionState::Requested);
    assert_eq!(a.target, "release:shop@1.0");
    assert_eq!(a.subject, "shop@1.0@prod");
    assert!(!a.sandbox && !a.revert && a.attempt == 0 && a.deadline.is_none());
    assert_eq!(a.cause_event_id, EventId(uuid::Uuid::from_u128(3)).to_string());
    assert!(
        a.reason.starts_with("promote shop@1.0 from staging to prod: verdict WARN under policy `test` version 1"),
        "{}",
        a.reason
    );
    // More high findings: still WARN, no verdict; a critical one: FAIL; closing it: WARN again.
    assert!(r.feed(&finding(3, T0, F { purl: "pkg:cargo/b@1", ..F::default() })).is_empty());
    let crit = F { purl: "pkg:cargo/c@1", severity: Some("CRITICAL"), ..F::default() };
    assert_eq!(outcome_of(&r.feed(&finding(4, T0, crit.clone()))), Outcome::Fail);
    assert!(r.feed(&finding(5, T0, crit.clone())).is_empty(), "a duplicate delta changes nothing");
    assert_eq!(outcome_of(&r.feed(&finding(6, T0, F { change: FindingChange::Closed, ..crit }))), Outcome::Warn);
    // A second request gets its own verdict (unchanged outcome) and action (another id).
    let out = r.feed(&promotion(7, T0, "shop@1.0", "staging", "prod"));
    assert_eq!((outcome_of(&out), one_verdict(&out).previous), (Outcome::Warn, Some(Outcome::Warn)));
    assert_ne!(actions(&out)[0].action_id, a.action_id);
    // The frontier is the one after the causing input.
    let v = one_verdict(&out);
    let promotions = v.input_frontier.iter().find(|e| e.topic == "promotions").expect("promotions");
    assert_eq!(promotions.offset, 2);
}

#[test]
fn promotion_action_ids_are_deterministic() {
    let run = || {
        let mut r = Run::with(&gates(HIGH_FAILS, "[]", "[]", "[]"));
        r.feed(&finding(1, T0, F::default()));
        r.feed(&promotion(2, T0, "shop@1.0", "staging", "prod"))
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b);
    assert_eq!(actions(&a)[0].kind, ActionKind::BlockPromotion);
    assert!(actions(&a)[0].reason.starts_with("block_promotion shop@1.0 from staging to prod: verdict FAIL"));
}

#[test]
fn tenants_are_separate() {
    let mut r = Run::with(&gates(HIGH_FAILS, "[]", "[]", "[]"));
    r.feed(&finding(1, T0, F::default()));
    // Tenant `other` has the default policy and no findings: prod needs one approval.
    let out = r.feed(&promotion_of("other", 2, T0, "shop@1.0", "staging", "prod"));
    let v = one_verdict(&out);
    assert_eq!((&*v.envelope.tenant, v.outcome), ("other", Outcome::Fail));
    assert_eq!(rules_of(v), ["approvals[0]"]);
    assert_eq!(v.policy_digest, crate::policy::default_policy().digest());
    assert!(r.feed(&finding_of("other", 3, T0, F { severity: Some("LOW"), ..F::default() })).is_empty());
}

#[test]
fn invalid_policies_are_counted_and_the_previous_one_stays() {
    let mut r = Run::with(&gates(HIGH_FAILS, "[]", "[]", "[]"));
    let digest = r.s.policy_digest("acme");
    let mut bad = policy_event(1, T0, 2, &gates(HIGH_FAILS, "[]", "[]", "[]"));
    if let Event::Policy(p) = &mut bad {
        p.document = "api_version: trustloop/v1\nname: test\nrelease_gates: {rules: [{id: x}]}\n".into();
    }
    assert!(r.feed(&bad).is_empty());
    // Not newer than the version in force.
    assert!(r.feed(&policy_event(2, T0, 1, &gates("[]", "[]", "[]", "[]"))).is_empty());
    let t = r.s.tenant("acme").expect("tenant");
    assert_eq!((t.rejected_policies, t.rejections.len()), (2, 2));
    assert!(t.rejections[0].reason.starts_with("invalid document"), "{:?}", t.rejections);
    assert!(t.rejections[1].reason.contains("not newer"), "{:?}", t.rejections);
    assert_eq!(r.s.policy_digest("acme"), digest);
}

#[test]
fn covered_inputs_and_other_event_types_are_ignored() {
    let mut r = Run::with(&gates(HIGH_FAILS, "[]", "[]", "[]"));
    let p = promotion(1, T0, "shop@1.0", "staging", "prod");
    assert_eq!(r.s.apply(&Input::new("promotions", 0, 5, &p)).len(), 2);
    assert!(r.s.apply(&Input::new("promotions", 0, 5, &p)).is_empty());
    assert!(r.s.apply(&Input::new("promotions", 0, 3, &p)).is_empty());
    assert_eq!(r.s.apply(&Input::new("promotions", 1, 3, &p)).len(), 2);
    let verdict = r.s.apply(&Input::new("promotions", 0, 6, &p)).remove(0);
    assert!(r.s.apply(&Input::new("verdicts", 0, 0, &verdict)).is_empty());
    assert_eq!(r.s.frontier().next_offset("verdicts", 0), 0);
}

// ---------------------------------------------------------------------------------------------
// Trust rules.

#[test]
fn trust_rules_have_hysteresis_and_revert_with_the_same_action_id() {
    // Default rules: isolate <20 (35), quarantine <40 (55), block_promotion <60 (70), notify <80 (90).
    let mut r = Run::new();
    let out = r.feed(&score(1, T0, "host-1", 100.0));
    let v = one_verdict(&out);
    assert_eq!(
        (v.subject.as_str(), v.subject_kind, v.outcome, v.previous),
        ("host-1", SubjectKind::Entity, Outcome::Pass, None)
    );
    assert_eq!(out.len(), 1);

    let out = r.feed(&score(2, T0 + MIN, "host-1", 59.0));
    assert_eq!(outcome_of(&out), Outcome::Warn);
    assert!(matches!(out[0], Event::Verdict(_)), "the verdict comes before the actions");
    let acts = actions(&out);
    assert_eq!(acts.iter().map(|a| a.kind).collect::<Vec<_>>(), [ActionKind::BlockPromotion, ActionKind::Notify]);
    assert!(acts.iter().all(|a| !a.revert && a.target == "entity:host-1" && a.subject == "host-1" && !a.sandbox));
    let expected = trustloop_schemas::derive_event_id(
        "trust-action",
        &[b"acme", b"host-1", b"block-promotion", EventId(uuid::Uuid::from_u128(3)).0.as_bytes()],
    )
    .to_string();
    assert_eq!(acts[0].action_id, expected);
    assert_eq!(acts[0].cause_event_id, EventId(uuid::Uuid::from_u128(3)).to_string());
    let block_id = acts[0].action_id.clone();

    // Hovering around 60 (and below 70) does not flap.
    for (n, s) in [(3, 61.0), (4, 58.0), (5, 62.0), (6, 59.5), (7, 69.9)] {
        assert!(r.feed(&score(n, T0 + n as i64 * MIN, "host-1", s)).is_empty(), "score {s}");
    }
    // Back at 70: block_promotion is lifted (same id, revert), notify stays: still WARN, no verdict.
    let out = r.feed(&score(8, T0 + 8 * MIN, "host-1", 70.0));
    assert!(verdicts(&out).is_empty());
    let acts = actions(&out);
    assert_eq!(acts.len(), 1);
    assert_eq!(
        (acts[0].kind, acts[0].revert, acts[0].action_id.as_str()),
        (ActionKind::BlockPromotion, true, block_id.as_str())
    );
    assert!(acts[0].reason.contains("recovered to 70 or higher"), "{}", acts[0].reason);

    // Down to 39: quarantine and a new block_promotion (new id); FAIL.
    let out = r.feed(&score(9, T0 + 9 * MIN, "host-1", 39.0));
    let v = one_verdict(&out);
    assert_eq!((v.outcome, v.previous), (Outcome::Fail, Some(Outcome::Warn)));
    assert_eq!(rules_of(v), ["trust-score", "trust:block-promotion", "trust:notify", "trust:quarantine"]);
    let acts = actions(&out);
    assert_eq!(acts.iter().map(|a| a.kind).collect::<Vec<_>>(), [ActionKind::Quarantine, ActionKind::BlockPromotion]);
    assert_ne!(acts[1].action_id, block_id);
    // A stale score (older event time) is ignored.
    assert!(r.feed(&score(10, T0, "host-1", 100.0)).is_empty());
    // Full recovery: every active rule reverted, PASS.
    let out = r.feed(&score(11, T0 + 11 * MIN, "host-1", 95.0));
    assert_eq!(outcome_of(&out), Outcome::Pass);
    let acts = actions(&out);
    assert_eq!(
        acts.iter().map(|a| (a.kind, a.revert)).collect::<Vec<_>>(),
        [(ActionKind::Quarantine, true), (ActionKind::BlockPromotion, true), (ActionKind::Notify, true)]
    );
}

#[test]
fn a_policy_switch_rechecks_entities() {
    let mut r = Run::new();
    r.feed(&score(1, T0, "host-1", 50.0)); // block_promotion + notify
    // A policy whose only rule isolates below 60: the old rules are lifted, isolate activates.
    let yaml = "api_version: trustloop/v1\nname: strict\ntrust:\n  rules: [{id: iso, action: isolate, below: 60, recover_above: 70}]\n";
    let out = r.feed(&policy_event(2, T0, 1, yaml));
    let v = one_verdict(&out);
    assert_eq!((v.outcome, v.previous), (Outcome::Fail, Some(Outcome::Warn)));
    let acts = actions(&out);
    assert_eq!(
        acts.iter().map(|a| (a.kind, a.revert)).collect::<Vec<_>>(),
        [(ActionKind::BlockPromotion, true), (ActionKind::Notify, true), (ActionKind::Isolate, false)]
    );
    assert_eq!(acts[2].cause_event_id, EventId(uuid::Uuid::from_u128(3)).to_string());
}

// ---------------------------------------------------------------------------------------------
// Evidence.

/// A scenario with a finding, an approval, a freeze window (so "now" counts) and a promotion.
fn evidence_scenario(policy_name: &str, finding_severity: &'static str, approver: &str, request: u64) -> (Run, String) {
    let windows =
        format!("[{{id: f, environments: [prod], from: '{}', until: '{}'}}]", time(T0 + 10 * H), time(T0 + 11 * H));
    let yaml = gates(HIGH_FAILS, "[{environments: [prod], required: 1}]", &windows, "[]")
        .replace("name: test", &format!("name: {policy_name}"));
    let mut r = Run::with(&yaml);
    r.feed(&finding(1, T0, F { severity: Some(finding_severity), ..F::default() }));
    r.feed(&approval(2, T0, "shop@1.0@prod", approver, ApprovalDecision::Approve, None));
    let out = r.feed(&promotion(request, T0, "shop@1.0", "staging", "prod"));
    let v = one_verdict(&out);
    assert_eq!(v.outcome, Outcome::Pass);
    (r, v.evidence_digest.clone())
}

#[test]
fn evidence_digest_is_stable_and_sensitive_to_each_input() {
    let (mut base, digest) = evidence_scenario("test", "LOW", "alice", 3);
    assert_eq!(evidence_scenario("test", "LOW", "alice", 3).1, digest, "same inputs, same digest");
    assert_eq!(digest.len(), 64);
    let replayed = base.s.evaluate_release("acme", "shop@1.0@prod").expect("subject");
    assert_eq!(replayed.evidence_digest, digest);
    assert_eq!(replayed.now, Some(EventTime::from_micros(T0)));
    let others = [
        ("policy", evidence_scenario("other", "LOW", "alice", 3).1),
        ("finding", evidence_scenario("test", "MEDIUM", "alice", 3).1),
        ("approval", evidence_scenario("test", "LOW", "bob", 3).1),
        ("promotion", evidence_scenario("test", "LOW", "alice", 4).1),
    ];
    for (what, d) in &others {
        assert_ne!(d, &digest, "{what} must change the evidence digest");
    }
    // The subject.
    let out = base.feed(&promotion(5, T0, "shop@1.0", "staging", "qa"));
    assert_ne!(one_verdict(&out).evidence_digest, digest);
    // "Now" counts when a time-based rule was evaluated (the freeze window applies to prod) ...
    base.feed(&score(6, T0 + MIN, "h", 100.0));
    assert_ne!(base.s.evaluate_release("acme", "shop@1.0@prod").expect("subject").evidence_digest, digest);
    // ... and not otherwise (no window, waiver or expiring approval applies to qa).
    let qa = base.s.evaluate_release("acme", "shop@1.0@qa").expect("subject");
    assert_eq!(qa.now, None);
    base.feed(&score(7, T0 + 2 * MIN, "h", 100.0));
    assert_eq!(base.s.evaluate_release("acme", "shop@1.0@qa").expect("subject").evidence_digest, qa.evidence_digest);
}

#[test]
fn facts_are_capped_and_every_finding_is_evidence() {
    let mut r = Run::with(&gates(HIGH_FAILS, "[]", "[]", "[]"));
    let purls: Vec<String> = (0..release::MAX_FACTS + 5).map(|i| format!("pkg:cargo/c{i:04}@1.0.0")).collect();
    for (i, p) in purls.iter().enumerate() {
        let purl: &'static str = Box::leak(p.clone().into_boxed_str());
        r.feed(&finding(i as u64 + 1, T0, F { purl, ..F::default() }));
    }
    let out = r.feed(&promotion(9_999, T0, "shop@1.0", "dev", "staging"));
    let v = one_verdict(&out);
    assert_eq!(v.reasons[0].facts.len(), release::MAX_FACTS + 1);
    assert!(v.reasons[0].facts[release::MAX_FACTS].starts_with("… and 5 more"), "{:?}", v.reasons[0].facts.last());
    assert!(v.reasons[0].message.starts_with(&format!("FAIL: {} open findings", release::MAX_FACTS + 5)));
}

// ---------------------------------------------------------------------------------------------
// Regressions: a promoted release that turns bad.

/// HIGH_FAILS gates, with these regression rules (a flow-style YAML list).
fn with_regressions(rules: &str) -> String {
    format!("{}  regressions: {rules}\n", gates(HIGH_FAILS, "[]", "[]", "[]"))
}

const PROD_PULLED: &str =
    "[{id: prod-bad, environments: [prod], outcomes: [fail], actions: [notify, block_promotion, rollback]}]";

fn kinds(out: &[Event]) -> Vec<(ActionKind, bool)> {
    actions(out).iter().map(|a| (a.kind, a.revert)).collect()
}

#[test]
fn a_promoted_release_that_turns_fail_derives_the_rules_actions_once() {
    let mut r = Run::with(&with_regressions(PROD_PULLED));
    let out = r.feed(&promotion(1, T0, "shop@1.0", "staging", "prod"));
    assert_eq!((outcome_of(&out), kinds(&out)), (Outcome::Pass, vec![(ActionKind::Promote, false)]));

    // An advisory turns it FAIL: the verdict, then notify, block and rollback, in the rule's order.
    let flip = finding(2, T0 + MIN, F::default());
    let out = r.feed(&flip);
    let v = one_verdict(&out);
    assert_eq!((v.outcome, v.previous), (Outcome::Fail, Some(Outcome::Pass)));
    assert!(matches!(out[0], Event::Verdict(_)), "the verdict comes first");
    let acts = actions(&out);
    assert_eq!(
        kinds(&out),
        [(ActionKind::Notify, false), (ActionKind::BlockPromotion, false), (ActionKind::Rollback, false)]
    );
    let cause = flip.envelope().event_id.to_string();
    for a in &acts {
        assert_eq!(
            (a.subject.as_str(), a.target.as_str(), a.state),
            ("shop@1.0@prod", "release:shop@1.0", ActionState::Requested)
        );
        assert_eq!(a.cause_event_id, cause, "blamed on the input that flipped the verdict");
        assert!(a.reason.contains("shop@1.0, promoted to prod, turned FAIL (was PASS)"), "{}", a.reason);
        assert!(a.reason.contains("regression rule `prod-bad`") && a.reason.contains("rule `high`"), "{}", a.reason);
    }
    assert!(acts[1].reason.starts_with("block promotions of shop@1.0 in every environment"), "{}", acts[1].reason);
    assert!(acts[2].reason.starts_with("roll shop@1.0 back in prod"), "{}", acts[2].reason);
    let block = acts[1].action_id.clone();

    // Still FAIL: no verdict, nothing requested again.
    assert!(r.feed(&finding(3, T0 + 2 * MIN, F { purl: "pkg:cargo/hyper@0.14.0", ..F::default() })).is_empty());
    // Both closed: PASS again, and the block is lifted (same action id, a revert).
    assert!(r.feed(&finding(4, T0 + 3 * MIN, F { change: FindingChange::Closed, ..F::default() })).is_empty());
    let out = r.feed(&finding(
        5,
        T0 + 4 * MIN,
        F { purl: "pkg:cargo/hyper@0.14.0", change: FindingChange::Closed, ..F::default() },
    ));
    assert_eq!((outcome_of(&out), kinds(&out)), (Outcome::Pass, vec![(ActionKind::BlockPromotion, true)]));
    assert_eq!(actions(&out)[0].action_id, block);
    assert!(actions(&out)[0].reason.contains("its verdict in prod is PASS again"), "{}", actions(&out)[0].reason);

    // Rolled back, it is no longer promoted: turning FAIL again derives nothing but the verdict.
    let out = r.feed(&finding(6, T0 + 5 * MIN, F::default()));
    assert_eq!((outcome_of(&out), kinds(&out)), (Outcome::Fail, vec![]));
    // Promoted again (once it passes), it is watched again, with new action ids.
    let out = r.feed(&finding(7, T0 + 6 * MIN, F { change: FindingChange::Closed, ..F::default() }));
    assert_eq!(kinds(&out), vec![]);
    let out = r.feed(&promotion(8, T0 + 7 * MIN, "shop@1.0", "staging", "prod"));
    assert_eq!(kinds(&out), vec![(ActionKind::Promote, false)]);
    let out = r.feed(&finding(9, T0 + 8 * MIN, F::default()));
    assert_eq!(kinds(&out).len(), 3);
    assert!(actions(&out).iter().all(|a| a.action_id != block));
}

#[test]
fn only_granted_promotions_in_watched_environments_regress() {
    let mut r = Run::with(&with_regressions(PROD_PULLED));
    // Refused at its request (FAIL): not promoted, so its later changes derive no action.
    r.feed(&finding(1, T0, F { release: "cart@1", ..F::default() }));
    let out = r.feed(&promotion(2, T0, "cart@1", "staging", "prod"));
    assert_eq!(kinds(&out), vec![(ActionKind::BlockPromotion, false)]);
    r.feed(&finding(3, T0 + MIN, F { release: "cart@1", change: FindingChange::Closed, ..F::default() }));
    let out = r.feed(&finding(4, T0 + 2 * MIN, F { release: "cart@1", ..F::default() }));
    assert_eq!((outcome_of(&out), kinds(&out)), (Outcome::Fail, vec![]));
    // Promoted to staging, which the rule does not watch.
    r.feed(&promotion(5, T0 + 3 * MIN, "shop@1.0", "dev", "staging"));
    let out = r.feed(&finding(6, T0 + 4 * MIN, F::default()));
    assert_eq!((outcome_of(&out), kinds(&out)), (Outcome::Fail, vec![]));
    // Without regression rules (the default), a flip is a verdict and nothing else.
    let mut r = Run::with(&gates(HIGH_FAILS, "[]", "[]", "[]"));
    r.feed(&promotion(1, T0, "shop@1.0", "staging", "prod"));
    let out = r.feed(&finding(2, T0 + MIN, F::default()));
    assert_eq!((outcome_of(&out), kinds(&out)), (Outcome::Fail, vec![]));
}

#[test]
fn a_rule_watching_warn_and_fail_fires_once_per_episode() {
    let rules = "[{id: watch, outcomes: [warn, fail], actions: [notify]}]";
    let yaml = format!(
        "{}  regressions: {rules}\n",
        gates(
            "[{id: w, when: {min_severity: medium}, outcome: warn}, {id: f, when: {min_severity: critical}, outcome: fail}]",
            "[]",
            "[]",
            "[]"
        )
    );
    let mut r = Run::with(&yaml);
    r.feed(&promotion(1, T0, "shop@1.0", "staging", "prod"));
    let warn = r.feed(&finding(2, T0 + MIN, F { severity: Some("MODERATE"), ..F::default() }));
    assert_eq!((outcome_of(&warn), kinds(&warn)), (Outcome::Warn, vec![(ActionKind::Notify, false)]));
    assert!(actions(&warn)[0].reason.contains("turned WARN (was PASS)"), "{}", actions(&warn)[0].reason);
    // WARN → FAIL is the same episode.
    let fail =
        r.feed(&finding(3, T0 + 2 * MIN, F { purl: "pkg:cargo/x@1", severity: Some("CRITICAL"), ..F::default() }));
    assert_eq!((outcome_of(&fail), kinds(&fail)), (Outcome::Fail, vec![]));
    // Back to PASS ends it (nothing to lift), and the next turn fires again: no rollback, still promoted.
    r.feed(&finding(4, T0 + 3 * MIN, F { purl: "pkg:cargo/x@1", change: FindingChange::Closed, ..F::default() }));
    let pass = r.feed(&finding(5, T0 + 4 * MIN, F { change: FindingChange::Closed, ..F::default() }));
    assert_eq!((outcome_of(&pass), kinds(&pass)), (Outcome::Pass, vec![]));
    let again = r.feed(&finding(6, T0 + 5 * MIN, F { severity: Some("CRITICAL"), ..F::default() }));
    assert_eq!((outcome_of(&again), kinds(&again)), (Outcome::Fail, vec![(ActionKind::Notify, false)]));
    assert_ne!(actions(&again)[0].action_id, actions(&warn)[0].action_id);
}

#[test]
fn a_promotion_verdict_outside_the_outcomes_ends_the_episode() {
    let yaml = with_regressions("[{id: b, outcomes: [fail], actions: [block_promotion]}]");
    let mut r = Run::with(&yaml);
    r.feed(&promotion(1, T0, "shop@1.0", "staging", "prod"));
    let out = r.feed(&finding(2, T0 + MIN, F::default()));
    let block = actions(&out)[0].action_id.clone();
    assert!(r.s.tenants["acme"].subjects["shop@1.0@prod"].regressed.contains_key("b"));
    // Every input that changes the outcome re-decides the subject first, so a promotion's verdict
    // leaves FAIL only if the state changed without one: a waiver put into the policy in force
    // directly stands for that here. That verdict ends the episode (the block lifted) before the
    // promotion's own action, and the rule may fire again afterwards.
    let waived = "[{id: w, advisory: GHSA-aaaa-bbbb-cccc, releases: [shop], justification: ok, expires: '2099-01-01T00:00:00Z'}]";
    let doc = crate::policy::parse(&gates(HIGH_FAILS, "[]", "[]", waived)).expect("waived");
    if let Some(t) = r.s.tenants.get_mut("acme") {
        t.policy.doc.release_gates.waivers = doc.release_gates.waivers;
    }
    let out = r.feed(&promotion(3, T0 + 2 * MIN, "shop@1.0", "staging", "prod"));
    assert_eq!(outcome_of(&out), Outcome::Pass);
    assert_eq!(kinds(&out), vec![(ActionKind::BlockPromotion, true), (ActionKind::Promote, false)]);
    assert_eq!(actions(&out)[0].action_id, block);
    assert!(r.s.tenants["acme"].subjects["shop@1.0@prod"].regressed.is_empty());
}

#[test]
fn a_block_is_lifted_even_when_the_policy_dropped_its_rule() {
    let mut r = Run::with(&with_regressions("[{id: b, outcomes: [fail], actions: [block_promotion]}]"));
    r.feed(&promotion(1, T0, "shop@1.0", "staging", "prod"));
    let out = r.feed(&finding(2, T0 + MIN, F::default()));
    let block = actions(&out)[0].action_id.clone();
    // Version 2 has no regression rules; the episode still ends when the verdict leaves FAIL.
    assert!(r.feed(&policy_event(3, T0 + 2 * MIN, 2, &gates(HIGH_FAILS, "[]", "[]", "[]"))).is_empty());
    let out = r.feed(&finding(4, T0 + 3 * MIN, F { change: FindingChange::Closed, ..F::default() }));
    assert_eq!(kinds(&out), vec![(ActionKind::BlockPromotion, true)]);
    assert_eq!(actions(&out)[0].action_id, block);
}

// ---------------------------------------------------------------------------------------------
// Determinism: same inputs → byte-identical outputs, also across a snapshot/restore.

const P1: &str = r#"
api_version: trustloop/v1
name: p
release_gates:
  rules:
    - {id: kev, when: {known_exploited: true}, outcome: fail}
    - {id: crit, when: {min_severity: critical}, outcome: fail}
    - {id: high-prod, environments: [prod], when: {min_severity: high, fix_available: true}, outcome: warn}
  approvals: [{environments: [prod], required: 1}]
  freeze_windows: [{id: f, environments: [prod], from: '2026-11-01T12:30:00Z', until: '2026-11-01T13:30:00Z'}]
  waivers: [{id: w, advisory: CVE-2, releases: [app], justification: ok, expires: '2026-11-01T14:00:00Z'}]
  regressions: [{id: r, environments: [prod], outcomes: [fail], actions: [notify, block_promotion, rollback]}]
"#;

const P2: &str = r#"
api_version: trustloop/v1
name: p
release_gates:
  rules:
    - {id: cvss, when: {min_cvss: 5.0, vex_status: [affected]}, outcome: fail}
    - {id: fix, when: {fix_available: true}, outcome: warn}
  approvals: [{required: 2}]
  freeze_windows: []
  waivers: [{id: w, advisory: GHSA-3, releases: [app@1], justification: ok, expires: '2026-11-01T13:00:00Z'}]
  regressions: [{id: w, outcomes: [warn, fail], actions: [block_promotion]}]
trust:
  rules: [{id: q, action: quarantine, below: 50, recover_above: 60}]
"#;

/// Events from random steps: (kind, a, b, minutes forward — or back when b % 7 == 0).
fn script(steps: &[(u8, u8, u8, u16)]) -> Vec<Event> {
    let mut at = T0;
    let mut version = 0;
    let mut events = Vec::new();
    for (i, &(kind, a, b, dt)) in steps.iter().enumerate() {
        if b % 7 == 0 {
            at -= i64::from(dt % 60) * MIN;
        } else {
            at += i64::from(dt % 40) * MIN;
        }
        let n = i as u64 + 100;
        let release = ["app@1", "app@2"][usize::from(a % 2)];
        let env = ["prod", "staging"][usize::from(b % 2)];
        let e = match kind % 6 {
            0 | 1 => {
                const ADVISORIES: [(&str, &[&str]); 4] =
                    [("GHSA-1", &[]), ("GHSA-2", &["CVE-2"]), ("GHSA-3", &[]), ("RUSTSEC-4", &["CVE-4"])];
                const SEVERITIES: [Option<&str>; 5] = [
                    None,
                    Some("LOW"),
                    Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
                    Some("6.1"),
                    Some("HIGH"),
                ];
                let (advisory, aliases) = ADVISORIES[usize::from(a / 2 % 4)];
                finding(
                    n,
                    at,
                    F {
                        release,
                        advisory,
                        aliases,
                        purl: ["pkg:cargo/x@1", "pkg:cargo/y@2"][usize::from(b / 2 % 2)],
                        env: [None, Some("prod")][usize::from(b / 4 % 2)],
                        change: if kind % 6 == 1 && b % 3 == 0 { FindingChange::Closed } else { FindingChange::Opened },
                        vex: [
                            VexStatus::Affected,
                            VexStatus::NotAffected,
                            VexStatus::Fixed,
                            VexStatus::UnderInvestigation,
                        ][usize::from(a / 8 % 4)],
                        severity: SEVERITIES[usize::from(b / 8 % 5)],
                        kev: a / 32 % 4 == 0,
                        fixed: if b / 40 % 2 == 0 { &[] } else { &["9.9"] },
                        cves: &[],
                        votes: &[],
                        justification: None,
                        ..F::default()
                    },
                )
            }
            2 => approval(
                n,
                at,
                &format!("{release}@{env}"),
                ["alice", "bob", "carol"][usize::from(a / 2 % 3)],
                if a / 8 % 4 == 0 { ApprovalDecision::Revoke } else { ApprovalDecision::Approve },
                (b / 16 % 2 == 0).then_some(at + i64::from(dt % 90) * MIN),
            ),
            3 => promotion(n, at, release, "dev", env),
            4 => score(n, at, ["host-1", "host-2"][usize::from(a % 2)], f64::from(b % 101)),
            _ => {
                version += 1;
                let mut e = policy_event(n, at, version, [P1, P2][usize::from(a % 2)]);
                if let Event::Policy(p) = &mut e
                    && a % 3 == 2
                {
                    p.document = "api_version: trustloop/v1\nname: p\nrelease_gates: {rules: [{id: x}]}\n".into();
                }
                e
            }
        };
        events.push(e);
    }
    events
}

/// Feeds `events` (topic offsets continuing from the state's frontier); returns every output
/// encoded. Checks after each input that every verdict it caused is what the state recomputes.
fn run(state: &mut DecisionState, events: &[Event]) -> Vec<Vec<u8>> {
    let codec = EventCodec::new();
    let mut out = Vec::new();
    for e in events {
        let topic = e.event_type().topic();
        let offset = state.frontier().next_offset(topic, 0);
        let outputs = state.apply(&Input::new(topic, 0, offset, e));
        for o in &outputs {
            if let Event::Verdict(v) = o {
                let d = match v.subject_kind {
                    SubjectKind::Release => state.evaluate_release(&v.envelope.tenant, &v.subject),
                    SubjectKind::Entity => state.evaluate_entity(&v.envelope.tenant, &v.subject),
                }
                .expect("a verdict's subject is known");
                assert_eq!((d.outcome, &d.reasons, &d.evidence_digest), (v.outcome, &v.reasons, &v.evidence_digest));
                assert_eq!(d.policy_digest, v.policy_digest);
                assert_eq!(v.input_frontier, state.frontier().entries());
            }
            out.push(codec.encode(o).expect("encode"));
        }
    }
    out
}

fn snapshot_round_trip(s: &DecisionState) -> DecisionState {
    crate::operator::snapshot_round_trip(s, DecisionState::new())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Same inputs → byte-identical outputs, also across a snapshot/restore at a random point; and
    /// every verdict is recomputable from the state right after it (replay).
    #[test]
    fn the_operator_is_deterministic(
        steps in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), any::<u16>()), 1..150),
        cut in any::<proptest::sample::Index>(),
    ) {
        let events = script(&steps);
        let mut a = DecisionState::new();
        let out_a = run(&mut a, &events);
        let mut b = DecisionState::new();
        let out_b = run(&mut b, &events);
        prop_assert_eq!(&out_a, &out_b);
        let k = cut.index(events.len() + 1);
        let mut c = DecisionState::new();
        let mut out_c = run(&mut c, &events[..k]);
        let mut restored = snapshot_round_trip(&c);
        prop_assert_eq!(&restored, &c);
        out_c.extend(run(&mut restored, &events[k..]));
        prop_assert_eq!(&out_c, &out_a);
        prop_assert_eq!(&restored, &a);
        for bytes in &out_a {
            let decoded = EventCodec::new().decode(bytes, &NoWriterSchemas);
            prop_assert!(matches!(decoded, Ok(Event::Verdict(_) | Event::EnforcementAction(_))));
        }
    }
}

#[test]
fn the_script_exercises_every_output_kind() {
    // A fixed script long enough to produce release and entity verdicts, both action kinds for
    // promotions and trust actions with reverts (guards the proptest against vacuity).
    let steps: Vec<(u8, u8, u8, u16)> = (0..400u32)
        .map(|i| ((i * 7 % 251) as u8, (i * 13 % 256) as u8, (i * 29 % 255) as u8, (i * 17 % 97) as u16))
        .collect();
    let mut s = DecisionState::new();
    let codec = EventCodec::new();
    let decoded: Vec<Event> =
        run(&mut s, &script(&steps)).iter().map(|b| codec.decode(b, &NoWriterSchemas).expect("decode")).collect();
    let v = verdicts(&decoded);
    let a = actions(&decoded);
    assert!(v.iter().any(|v| v.subject_kind == SubjectKind::Release && v.outcome == Outcome::Fail));
    assert!(v.iter().any(|v| v.subject_kind == SubjectKind::Release && v.outcome != Outcome::Fail));
    assert!(v.iter().any(|v| v.subject_kind == SubjectKind::Entity));
    assert!(a.iter().any(|a| a.kind == ActionKind::Promote) && a.iter().any(|a| a.kind == ActionKind::BlockPromotion));
    assert!(a.iter().any(|a| a.revert));
}

/// An inventory of `release` (`NAME@VERSION`) with `labels` and no components.
fn labelled(n: u64, at: i64, release: &str, labels: &[(&str, &str)]) -> Event {
    let (name, version) = release.split_once('@').expect("NAME@VERSION");
    Event::ReleaseInventory(trustloop_schemas::ReleaseInventory {
        envelope: envelope("acme", release, n, at),
        release_name: name.into(),
        release_version: version.into(),
        environment: None,
        format: trustloop_schemas::InventoryFormat::Cyclonedx,
        document_digest: None,
        components: Vec::new(),
        os: None,
        labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        left_out: Vec::new(),
    })
}

#[test]
fn label_conditions_limit_a_rule_to_the_releases_whose_labels_match() {
    let rules = "[{id: payments, labels: {team: payments, tier: 'crit*'}, when: {min_severity: high}, outcome: fail},\
                  {id: any, when: {min_severity: high}, outcome: warn}]";
    let mut r = Run::with(&gates(rules, "[]", "[]", "[]"));
    let cases: [(&str, &[(&str, &str)]); 4] = [
        ("shop@1.0", &[("team", "payments"), ("tier", "critical")]),
        ("shop@2.0", &[("team", "payments"), ("tier", "low")]),
        ("pay@1.0", &[("team", "payments")]),
        ("web@1.0", &[]),
    ];
    let mut n = 0;
    for (release, labels) in cases {
        n += 2;
        r.feed(&labelled(n, T0, release, labels));
        r.feed(&finding(n + 1, T0, F { release, ..F::default() }));
    }
    let mut fired = Vec::new();
    for (release, _) in cases {
        n += 1;
        let v = one_verdict(&r.feed(&promotion(n, T0, release, "dev", "staging"))).clone();
        fired.push((release, v.outcome, rules_of(&v).into_iter().map(str::to_string).collect::<Vec<_>>()));
    }
    let expected = |release, outcome, rules: &[&str]| (release, outcome, rules.iter().map(|s| s.to_string()).collect());
    assert_eq!(
        fired,
        vec![
            expected("shop@1.0", Outcome::Fail, &["payments", "any"]),
            expected("shop@2.0", Outcome::Warn, &["any"]),
            expected("pay@1.0", Outcome::Warn, &["any"]),
            expected("web@1.0", Outcome::Warn, &["any"]),
        ]
    );

    // A later inventory that changes the labels re-decides the release's subjects; one with the
    // same labels re-decides nothing.
    let v =
        one_verdict(&r.feed(&labelled(100, T0 + H, "shop@2.0", &[("team", "payments"), ("tier", "critical")]))).clone();
    assert_eq!((v.outcome, rules_of(&v)), (Outcome::Fail, vec!["payments", "any"]));
    assert!(
        verdicts(&r.feed(&labelled(101, T0 + H, "shop@2.0", &[("team", "payments"), ("tier", "critical")]))).is_empty()
    );
    // Dropping the labels (an unlabelled inventory) takes the rule away again.
    let v = one_verdict(&r.feed(&labelled(102, T0 + 2 * H, "shop@2.0", &[]))).clone();
    assert_eq!((v.outcome, rules_of(&v)), (Outcome::Warn, vec!["any"]));
    assert!(!r.s.tenant("acme").expect("tenant").labels.contains_key("shop@2.0"), "no labels, nothing kept");
}

#[test]
fn labels_are_evidence_only_where_a_rule_reads_them() {
    // Without a `labels` rule, labels neither re-decide nor change the evidence digest.
    let plain = "[{id: any, when: {min_severity: high}, outcome: warn}]";
    let digest_with = |rules: &str, labels: &[(&str, &str)]| {
        let mut r = Run::with(&gates(rules, "[]", "[]", "[]"));
        r.feed(&labelled(1, T0, "shop@1.0", labels));
        r.feed(&finding(2, T0, F::default()));
        let v = one_verdict(&r.feed(&promotion(3, T0, "shop@1.0", "dev", "staging"))).clone();
        let relabelled = r.feed(&labelled(4, T0, "shop@1.0", &[("team", "other")]));
        (v.evidence_digest, verdicts(&relabelled).len())
    };
    let (a, re_a) = digest_with(plain, &[]);
    let (b, re_b) = digest_with(plain, &[("team", "payments")]);
    assert_eq!((a.clone(), re_a, re_b), (b, 0, 0), "labels are not read without a labels rule");
    // With one, two label sets give two digests.
    let labelled_rule = "[{id: p, labels: {team: payments}, when: {min_severity: high}, outcome: fail}]";
    let (c, _) = digest_with(labelled_rule, &[("team", "payments")]);
    let (d, _) = digest_with(labelled_rule, &[("team", "payments"), ("tier", "low")]);
    assert_ne!(c, d, "the labels are evidence where a rule reads them");
}
