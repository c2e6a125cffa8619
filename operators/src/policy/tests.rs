use super::*;

const MINIMAL: &str = "api_version: trustloop/v1\nname: edge\n";

fn err(yaml: &str) -> PolicyError {
    parse(yaml).expect_err("the document must be rejected")
}

/// (line, column) of an error, with its text for the failure message.
fn at(e: &PolicyError) -> (Option<usize>, Option<usize>) {
    (e.line, e.column)
}

#[test]
fn the_shipped_default_parses_and_matches_the_rust_defaults() {
    let d = default_policy();
    assert_eq!(d.name, "default");
    assert_eq!(d.api_version, API_VERSION);
    // What an omitted field takes (the Rust `Default`s) is what default.yaml documents.
    assert_eq!(d.severity, SeverityPolicy::default());
    assert_eq!(d.release_gates, ReleaseGates::default());
    assert_eq!(d.vex, VexPolicy::default());
    assert_eq!(d.trust, TrustPolicy::default());
    assert_eq!(d.enforcement, EnforcementPolicy::default());
    // So a minimal document is the default policy under another name.
    let m = parse(MINIMAL).expect("minimal");
    let renamed = PolicyDoc { name: "edge".into(), description: None, ..d };
    assert_eq!(m, renamed);
    assert_eq!(m.digest(), renamed.digest());
}

#[test]
fn digest_is_stable_across_formatting_key_order_sets_and_spelled_out_defaults() {
    let a = r#"
api_version: trustloop/v1
name: prod
trust:
  step: 5
  features:
    auth:
      kinds: [auth_failure, sshd_failure]
      weight: 2
      half_life: 24h
  rules:
    - {id: q, action: quarantine, below: 30, recover_above: 40}
    - {id: n, action: notify, below: 70, recover_above: 80}
release_gates:
  rules:
    - id: crit
      environments: [prod, staging]
      when: {min_severity: critical}
      outcome: fail
"#;
    let b = r#"# the same policy, written differently
release_gates:
  rules:
  - outcome: fail
    when:
      vex_status: [under_investigation, affected, affected]   # the default, spelled out
      min_severity: critical
    environments:
    - staging
    - prod
    - prod
    id: crit
name: "prod"
trust:
  rules:
  - id: q
    action: quarantine
    below: 30.0
    recover_above: 40.0
  - id: n
    recover_above: 80.0
    below: 70.0
    action: notify
  features:
    auth: {half_life: 1d, weight: 2.0, kinds: [sshd_failure, auth_failure], mode: sum}
  step: 5.0
api_version: 'trustloop/v1'
"#;
    let da = parse(a).expect("a");
    let db = parse(b).expect("b");
    assert_eq!(da, db);
    assert_eq!(da.canonical_json(), db.canonical_json());
    assert_eq!(da.digest(), db.digest());
    assert_eq!(da.digest().len(), 64);
    // The canonical form is itself a policy document with the same digest.
    let back = parse(&da.canonical_json()).expect("canonical JSON is a policy");
    assert_eq!(back.digest(), da.digest());
    assert!(da.canonical_json().contains(r#""half_life":"1d""#), "{}", da.canonical_json());

    // Changing a value, or the order of rules, changes it.
    let changed = parse(&a.replace("weight: 2", "weight: 2.5")).expect("changed");
    assert_ne!(changed.digest(), da.digest());
    let reordered = parse(&a.replace(
        "    - {id: q, action: quarantine, below: 30, recover_above: 40}\n    - {id: n, action: notify, below: 70, recover_above: 80}",
        "    - {id: n, action: notify, below: 70, recover_above: 80}\n    - {id: q, action: quarantine, below: 30, recover_above: 40}",
    ))
    .expect("reordered");
    assert_ne!(reordered.digest(), da.digest());
}

#[test]
fn a_feature_without_kinds_is_fed_by_its_own_name() {
    let d =
        parse("api_version: trustloop/v1\nname: x\ntrust:\n  features:\n    ids_alert: {weight: 1, half_life: 1h}\n")
            .expect("parse");
    assert_eq!(d.trust.features["ids_alert"].kinds, vec!["ids_alert".to_string()]);
    let explicit = parse(
        "api_version: trustloop/v1\nname: x\ntrust:\n  features:\n    ids_alert: {kinds: [ids_alert], weight: 1, half_life: 1h}\n",
    )
    .expect("parse");
    assert_eq!(d.digest(), explicit.digest());
}

#[test]
fn unknown_key_is_located_and_names_the_expected_keys() {
    let e = err("api_version: trustloop/v1\nname: x\ntrust:\n  stepp: 5\n");
    assert_eq!(at(&e), (Some(4), Some(3)), "{e}");
    assert_eq!(e.path, "trust.stepp");
    assert!(e.message.starts_with("unknown field `stepp`") && e.message.contains("`step`"), "{e}");
    assert_eq!(e.to_string(), format!("4:3: trust.stepp: {}", e.message));
}

#[test]
fn bad_duration_is_located_at_its_value() {
    let yaml =
        "api_version: trustloop/v1\nname: x\ntrust:\n  features:\n    auth:\n      weight: 1\n      half_life: 5x\n";
    let e = err(yaml);
    assert_eq!(at(&e), (Some(7), Some(18)), "{e}");
    assert_eq!(e.path, "trust.features.auth.half_life");
    assert!(e.message.contains("unknown unit `x`") && e.message.contains("e.g."), "{e}");
    let e = err(&yaml.replace("5x", "5"));
    assert!(e.message.contains("no unit"), "{e}");
}

#[test]
fn wrong_type_is_located() {
    let e = err("api_version: trustloop/v1\nname: x\ntrust:\n  step: lots\n");
    assert_eq!(at(&e), (Some(4), Some(9)), "{e}");
    assert!(e.message.starts_with("invalid type") && e.message.contains("lots"), "{e}");
    let e = err(
        "api_version: trustloop/v1\nname: x\ntrust:\n  rules:\n    - id: q\n      action: reboot\n      below: 1\n      recover_above: 9\n",
    );
    assert_eq!(at(&e), (Some(6), Some(15)), "{e}");
    assert!(e.message.starts_with("unknown variant `reboot`") && e.message.contains("quarantine"), "{e}");
}

#[test]
fn missing_required_field_is_located_at_its_mapping() {
    let e = err("api_version: trustloop/v1\n");
    assert!(e.message.contains("missing field `name`"), "{e}");
    assert_eq!(e.line, Some(1));
    let e = err(
        "api_version: trustloop/v1\nname: x\nrelease_gates:\n  waivers:\n    - id: w1\n      advisory: CVE-2026-1\n      releases: [shop]\n      justification: endpoint disabled\n",
    );
    assert!(e.message.contains("missing field `expires`"), "{e}");
    assert_eq!(at(&e), (Some(5), Some(7)), "{e}");
    assert_eq!(e.path, "release_gates.waivers[0]");
}

#[test]
fn syntax_errors_carry_libyaml_positions() {
    let e = err("api_version: trustloop/v1\nname: x\ntrust:\n  step: 5\n bad: [\n");
    assert!(e.line.is_some() && e.column.is_some(), "{e}");
    let e = err("");
    assert!(e.message.contains("empty"), "{e}");
    let e = err("api_version: trustloop/v1\nname: x\n---\napi_version: trustloop/v1\nname: y\n");
    assert!(e.message.contains("more than one document"), "{e}");
}

#[test]
fn hysteresis_band_must_be_sane() {
    let base = "api_version: trustloop/v1\nname: x\ntrust:\n  step: 5\n  rules:\n    - id: q\n      action: quarantine\n      below: 30\n      recover_above: RA\n";
    let e = err(&base.replace("RA", "25"));
    assert_eq!(at(&e), (Some(9), Some(7)), "{e}");
    assert_eq!(e.path, "trust.rules[0].recover_above");
    assert!(e.message.contains("must be above below (30)"), "{e}");
    let e = err(&base.replace("RA", "32"));
    assert!(e.message.contains("narrower than trust.step") && e.message.contains("at least 35"), "{e}");
    assert!(parse(&base.replace("RA", "35")).is_ok());
    let e = err(&base.replace("below: 30", "below: 0").replace("RA", "35"));
    assert_eq!(at(&e), (Some(8), Some(7)), "{e}");
}

#[test]
fn a_problem_in_a_defaulted_value_is_located_at_the_nearest_written_ancestor() {
    // step 12 makes the default rules' 10-point band (block-promotion 60–70) too narrow; the rules are
    // not written, so the error points at `trust:`.
    let e = err("api_version: trustloop/v1\nname: x\ntrust:\n  step: 12\n");
    assert_eq!(e.path, "trust.rules[2].recover_above");
    assert_eq!(at(&e), (Some(3), Some(1)), "{e}");
}

#[test]
fn semantic_range_checks() {
    let doc = |body: &str| format!("api_version: trustloop/v1\nname: x\n{body}");
    let e = err(&doc("severity:\n  high: 3.0\n"));
    assert_eq!(at(&e), (Some(4), Some(3)), "{e}");
    assert!(e.message.contains("must be above medium"), "{e}");
    let e = err(&doc("trust:\n  features:\n    a: {weight: .inf, half_life: 1h}\n"));
    assert_eq!(e.path, "trust.features.a.weight");
    assert_eq!(at(&e), (Some(5), Some(9)), "{e}");
    let e = err(&doc("trust:\n  features:\n    a: {weight: 1, half_life: 0s}\n"));
    assert!(e.message.contains("half_life must be longer than 0"), "{e}");
    let e = err(&doc("trust:\n  step: 0\n"));
    assert!(e.message.contains("step 0"), "{e}");
    let e = err(&doc("vex:\n  issuers:\n    acme: 1.5\n"));
    assert_eq!(at(&e), (Some(5), Some(5)), "{e}");
    let e = err(&doc("api: 1\n"));
    assert!(e.message.contains("unknown field `api`"), "{e}");
    let e = err("api_version: trustloop/v2\nname: x\n");
    assert_eq!(at(&e), (Some(1), Some(1)), "{e}");
    assert!(e.message.contains("trustloop/v1"), "{e}");
    let e = err("api_version: trustloop/v1\nname: 'my policy'\n");
    assert_eq!(at(&e), (Some(2), Some(1)), "{e}");
    let e = err(&doc("enforcement:\n  budgets:\n    - id: b\n      window: 1h\n"));
    assert!(e.message.contains("max_actions or max_fleet_percent"), "{e}");
    assert_eq!(at(&e), (Some(5), Some(7)), "{e}");
    let e = err(&doc(
        "release_gates:\n  freeze_windows:\n    - id: f\n      from: 2026-12-20T00:00:00Z\n      until: 2026-12-01T00:00:00Z\n",
    ));
    assert_eq!(at(&e), (Some(7), Some(7)), "{e}");
    let e = err(&doc(
        "release_gates:\n  waivers:\n    - id: w\n      advisory: CVE-1\n      releases: ['@1']\n      justification: ' '\n      expires: 2027-01-01T00:00:00Z\n",
    ));
    assert_eq!(e.path, "release_gates.waivers[0].releases[0]");
    assert_eq!(at(&e), (Some(7), Some(18)), "{e}");
    let all = check(&doc(
        "release_gates:\n  waivers:\n    - id: w\n      advisory: CVE-1\n      releases: ['@1']\n      justification: ' '\n      expires: 2027-01-01T00:00:00Z\n",
    ))
    .expect_err("two problems");
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all[1].message.contains("justification"), "{all:?}");
}

#[test]
fn duplicates_are_rejected_at_the_second() {
    let e = err(
        "api_version: trustloop/v1\nname: x\nrelease_gates:\n  rules:\n    - id: a\n      outcome: warn\n    - id: a\n      outcome: fail\n",
    );
    assert_eq!(at(&e), (Some(7), Some(7)), "{e}");
    assert!(e.message.contains("duplicate rule id `a`"), "{e}");
    let e = err(
        "api_version: trustloop/v1\nname: x\ntrust:\n  features:\n    a: {kinds: [k], weight: 1, half_life: 1h}\n    b: {kinds: [k], weight: 1, half_life: 1h}\n",
    );
    assert!(e.message.contains("already feeds feature `a`"), "{e}");
    assert_eq!(at(&e), (Some(6), Some(9)), "{e}");
}

#[test]
fn duplicate_keys_are_rejected_where_they_repeat() {
    let e = err(
        "api_version: trustloop/v1\nname: x\ntrust:\n  features:\n    a: {weight: 1, half_life: 1h}\n    a: {weight: 2, half_life: 1h}\n",
    );
    assert!(e.message.contains("duplicate key `a`"), "{e}");
    assert_eq!(at(&e), (Some(6), Some(5)), "{e}");
    let e = err("api_version: trustloop/v1\nname: x\nvex:\n  issuers: {acme: 1, acme: 0.5}\n");
    assert!(e.message.contains("duplicate key `acme`"), "{e}");
    let e = err("api_version: trustloop/v1\nname: x\nname: y\n");
    assert!(e.message.contains("duplicate field `name`"), "{e}");
}

#[test]
fn unknown_telemetry_kinds_are_allowed() {
    let d = parse(
        "api_version: trustloop/v1\nname: x\ntrust:\n  features:\n    usb: {kinds: [usb_device_inserted], weight: 3, half_life: 12h, max: 9}\n",
    )
    .expect("custom kinds are fine");
    assert_eq!(d.trust.features["usb"].max, Some(9.0));
}

#[test]
fn enforcement_retry_timeouts_and_ttl() {
    let d = default_policy().enforcement;
    assert_eq!(d.retry, RetryPolicy { max_attempts: 5, backoff: Duration::from_secs(30) });
    assert_eq!(
        d.timeouts,
        StepTimeouts {
            acknowledge: Duration::from_secs(120),
            apply: Duration::from_secs(600),
            verify: Duration::from_secs(600)
        }
    );
    assert_eq!(d.ttl, std::collections::BTreeMap::from([(Action::Quarantine, Duration::from_secs(86_400))]));
    let doc = |body: &str| format!("api_version: trustloop/v1\nname: x\n{body}");
    // Omitted fields keep their defaults; `ttl: {}` means no automatic revert.
    let p = parse(&doc("enforcement:\n  retry: {max_attempts: 1}\n  ttl: {}\n")).expect("parse");
    assert_eq!(p.enforcement.retry, RetryPolicy { max_attempts: 1, backoff: Duration::from_secs(30) });
    assert!(p.enforcement.ttl.is_empty());
    assert!(p.canonical_json().contains(r#""ttl":{}"#), "{}", p.canonical_json());
    // The order and spelling of TTLs do not change the digest.
    let a = parse(&doc("enforcement:\n  ttl: {quarantine: 1d, isolate: 4h}\n")).expect("a");
    let b = parse(&doc("enforcement:\n  ttl:\n    isolate: 240m\n    quarantine: 24h\n")).expect("b");
    assert_eq!(a.digest(), b.digest());
    assert!(a.canonical_json().contains(r#""ttl":{"isolate":"4h","quarantine":"1d"}"#), "{}", a.canonical_json());

    let e = err(&doc("enforcement:\n  retry:\n    max_attempts: 0\n"));
    assert_eq!(e.path, "enforcement.retry.max_attempts");
    assert_eq!(at(&e), (Some(5), Some(5)), "{e}");
    assert!(e.message.contains("between 1 (no retry) and 20"), "{e}");
    assert!(err(&doc("enforcement:\n  retry: {max_attempts: 21}\n")).message.contains("max_attempts 21"));
    let e = err(&doc("enforcement:\n  retry: {backoff: 0s}\n"));
    assert_eq!(e.path, "enforcement.retry.backoff");
    let e = err(&doc("enforcement:\n  timeouts:\n    apply: 0s\n"));
    assert_eq!(e.path, "enforcement.timeouts.apply");
    assert_eq!(at(&e), (Some(5), Some(5)), "{e}");
    assert!(e.message.contains("the apply timeout must be longer than 0"), "{e}");
    let e = err(&doc("enforcement:\n  ttl:\n    isolate: 0s\n"));
    assert_eq!(e.path, "enforcement.ttl.isolate");
    assert_eq!(at(&e), (Some(5), Some(5)), "{e}");
    let e = err(&doc("enforcement:\n  ttl:\n    reboot: 1h\n"));
    assert!(e.message.contains("unknown variant `reboot`") && e.message.contains("quarantine"), "{e}");
    let e = err(&doc("enforcement:\n  timeouts: {ack: 1m}\n"));
    assert!(e.message.contains("unknown field `ack`") && e.message.contains("acknowledge"), "{e}");
}

#[test]
fn epss_conditions_are_validated_located_and_left_out_of_the_digest_when_unused() {
    // A policy without EPSS conditions canonicalises without the keys (so its digest is what it
    // was before they existed); one that uses them is another policy.
    let doc = crate::policy::default_policy();
    assert!(!doc.canonical_json().contains("epss"), "{}", doc.canonical_json());
    let with = DEFAULT_YAML
        .replace("        known_exploited: true\n", "        known_exploited: true\n        min_epss: 0.5\n");
    assert_ne!(with, DEFAULT_YAML, "the default policy has the known-exploited rule this test edits");
    let epss = parse(&with).expect("valid");
    assert_eq!(epss.release_gates.rules[0].when.min_epss, Some(0.5));
    assert!(epss.canonical_json().contains("\"min_epss\":0.5"));
    assert_ne!(epss.digest(), doc.digest());
    // Out of range: located at the value.
    let e = err(&DEFAULT_YAML.replace(
        "        known_exploited: true\n",
        "        known_exploited: true\n        min_epss_percentile: 1.5\n",
    ));
    assert!(e.to_string().contains("release_gates.rules[0].when.min_epss_percentile"), "{e}");
    assert!(e.to_string().contains("an EPSS percentile must be between 0 and 1"), "{e}");
    assert!(at(&e).0.is_some(), "{e}");
}

#[test]
fn empty_matcher_entries_are_located() {
    let e = err(&DEFAULT_YAML.replace(
        "        known_exploited: true\n",
        "        known_exploited: true\n        purls: ['pkg:npm/*', ' ']\n",
    ));
    assert!(e.to_string().contains("release_gates.rules[0].when.purls[1]: empty purl pattern"), "{e}");
    let ok = parse(
        &DEFAULT_YAML
            .replace("        known_exploited: true\n", "        known_exploited: true\n        packages: []\n"),
    )
    .expect("an empty list is no condition");
    assert_eq!(ok.digest(), crate::policy::default_policy().digest(), "and leaves the digest as it was");
}

#[test]
fn ignore_and_defer_need_an_end_and_ignore_a_justification() {
    let rule = |extra: &str| {
        DEFAULT_YAML.replace(
            "        known_exploited: true\n      outcome: fail",
            &format!("        known_exploited: true\n      {extra}"),
        )
    };
    assert_ne!(rule("outcome: defer"), DEFAULT_YAML, "the edited rule is in the default policy");
    let e = err(&rule("outcome: defer"));
    assert!(e.to_string().contains("release_gates.rules[0].outcome: an ignore or defer rule needs `until`"), "{e}");
    let e = err(&rule("outcome: ignore\n      until: 2027-01-01T00:00:00Z"));
    assert!(e.to_string().contains("needs a `justification`"), "{e}");
    let e = err(&rule("outcome: fail\n      until: 2027-01-01T00:00:00Z"));
    assert!(e.to_string().contains("release_gates.rules[0].until: `until` is for ignore and defer rules"), "{e}");
    let ok = parse(&rule("outcome: ignore\n      until: 2027-01-01T00:00:00Z\n      justification: accepted"))
        .expect("valid");
    assert!(ok.canonical_json().contains("\"until\""));
    assert!(!crate::policy::default_policy().canonical_json().contains("\"until\""), "unused: not in the digest");
}

#[test]
fn issuers_and_justifications_are_for_require_vex_rules() {
    let rule = |extra: &str| {
        DEFAULT_YAML.replace(
            "        known_exploited: true\n      outcome: fail",
            &format!("        known_exploited: true\n      {extra}"),
        )
    };
    let e = err(&rule("outcome: fail\n      issuers: [vendor]"));
    assert!(e.to_string().contains("release_gates.rules[0].issuers: `issuers` is for require_vex rules"), "{e}");
    let e = err(&rule("outcome: require_vex\n      justifications: [not_a_justification]"));
    assert!(e.to_string().contains("justifications"), "{e}");
    let ok =
        parse(&rule("outcome: require_vex\n      issuers: [vendor]\n      justifications: [component_not_present]"));
    assert!(ok.is_ok(), "{ok:?}");
}

/// The default policy with `extra` (lines of YAML at the first rule's `when` indentation) added to
/// the known-exploited rule's conditions.
fn with_condition(extra: &str) -> String {
    let yaml =
        DEFAULT_YAML.replace("        known_exploited: true\n", &format!("        known_exploited: true\n{extra}"));
    assert_ne!(yaml, DEFAULT_YAML, "the default policy has the known-exploited rule this test edits");
    yaml
}

#[test]
fn weakness_source_scope_and_dependency_matchers_are_located_and_left_out_of_the_digest_when_unused() {
    let default = crate::policy::default_policy();
    for key in ["cwes", "sources", "scopes", "dependency"] {
        assert!(!default.canonical_json().contains(&format!("\"{key}\"")), "{key}: {}", default.canonical_json());
    }
    let empty = parse(&with_condition("        cwes: []\n        sources: []\n        scopes: []\n")).expect("valid");
    assert_eq!(empty.digest(), default.digest(), "empty lists are no condition, and leave the digest as it was");

    // Used, they are canonical: CWE ids in upper case, lists sorted.
    let a = parse(&with_condition("        cwes: [cwe-89, CWE-79]\n        sources: [RUSTSEC, GHSA]\n        scopes: [test, dev]\n        dependency: transitive\n")).expect("valid");
    let b = parse(&with_condition("        dependency: transitive\n        scopes: [dev, test]\n        sources: [GHSA, RUSTSEC]\n        cwes: [CWE-79, CWE-89, CWE-79]\n")).expect("valid");
    assert_eq!(a.digest(), b.digest());
    assert_ne!(a.digest(), default.digest());
    assert!(a.canonical_json().contains(r#""cwes":["CWE-79","CWE-89"]"#), "{}", a.canonical_json());
    assert_eq!(a.release_gates.rules[0].when.dependency, Some(crate::policy::Dependency::Transitive));

    // Bad values: FILE:LINE:COLUMN at the value.
    let line = DEFAULT_YAML.lines().position(|l| l == "        known_exploited: true").expect("the rule") + 2;
    let e = err(&with_condition("        cwes: [CWE-79, XSS]\n"));
    assert!(e.message.contains("`XSS` is not a CWE id: write CWE-<number>"), "{e}");
    assert_eq!(e.line, Some(line), "{e}");
    let e = err(&with_condition("        cwes: [79]\n"));
    assert!(e.message.contains("`79` is not a CWE id: write CWE-79"), "{e}");
    let e = err(&with_condition("        dependency: indirect\n"));
    assert!(e.message.contains("unknown variant `indirect`") && e.message.contains("transitive"), "{e}");
    assert_eq!(e.line, Some(line), "{e}");
    let e = err(&with_condition("        sources: [GHSA, GHSA-xxxx]\n"));
    assert!(e.to_string().contains("release_gates.rules[0].when.sources[1]: `GHSA-xxxx` is not a source"), "{e}");
    assert_eq!(e.line, Some(line), "{e}");
    let e = err(&with_condition("        scopes: ['dev,test']\n"));
    assert!(e.to_string().contains("release_gates.rules[0].when.scopes[0]: `dev,test` names several scopes"), "{e}");
    let e = err(&with_condition("        scopes: [' ']\n"));
    assert!(e.to_string().contains("when.scopes[0]: empty scope"), "{e}");
}

#[test]
fn licence_lists_are_checked_located_and_left_out_of_the_digest_when_unused() {
    let default = crate::policy::default_policy();
    assert!(!default.canonical_json().contains("\"licenses\""), "{}", default.canonical_json());
    let a = parse(&with_condition("        licenses: {deny: [GPL-3.0-only, AGPL-3.0], allow: []}\n")).expect("valid");
    let b = parse(&with_condition(
        "        licenses:\n          deny: [AGPL-3.0, GPL-3.0-only]\n          unknown: false\n",
    ))
    .expect("valid");
    assert_eq!(a.digest(), b.digest(), "order, empty lists and the default unknown do not count");
    assert_ne!(a.digest(), default.digest());
    assert!(
        a.canonical_json().contains(r#""licenses":{"deny":["AGPL-3.0","GPL-3.0-only"]}"#),
        "{}",
        a.canonical_json()
    );

    let line = DEFAULT_YAML.lines().position(|l| l == "        known_exploited: true").expect("the rule") + 2;
    let e = err(&with_condition("        licenses:\n          allow: [MIT, Apache License 2.0]\n"));
    assert!(
        e.to_string()
            .contains("release_gates.rules[0].when.licenses.allow[1]: `Apache License 2.0` is not an SPDX licence id"),
        "{e}"
    );
    assert_eq!(e.line, Some(line + 1), "{e}");
    let e = err(&with_condition("        licenses: {allow: [MIT], deny: [mit]}\n"));
    assert!(e.to_string().contains("when.licenses.deny[0]: `mit` is both allowed and denied"), "{e}");
    assert_eq!(e.line, Some(line), "{e}");
    let e = err(&with_condition("        licenses: {}\n"));
    assert!(e.to_string().contains("when.licenses: licenses matches nothing without"), "{e}");
    let e = err(&with_condition("        licenses: {alow: [MIT]}\n"));
    assert!(e.message.contains("unknown field `alow`") && e.message.contains("allow"), "{e}");
    assert!(parse(&with_condition("        licenses: {unknown: true}\n")).is_ok());
}

#[test]
fn release_patterns_are_located_and_left_out_of_the_digest_when_unused() {
    let default = crate::policy::default_policy();
    assert!(!default.canonical_json().contains("\"releases\":["), "{}", default.canonical_json());
    let rule = |releases: &str| {
        let yaml = DEFAULT_YAML.replace(
            "      environments: []               # target environments; [] = every environment\n",
            &format!("      environments: []\n      releases: {releases}\n"),
        );
        assert_ne!(yaml, DEFAULT_YAML, "the default policy has the line this test edits");
        yaml
    };
    assert_eq!(parse(&rule("[]")).expect("valid").digest(), default.digest());
    let a = parse(&rule("['shop@2.*', pay-*]")).expect("valid");
    let b = parse(&rule("[pay-*, 'shop@2.*', pay-*]")).expect("valid");
    assert_eq!(a.digest(), b.digest());
    assert_ne!(a.digest(), default.digest());
    let e = err(&rule("[shop, '']"));
    assert!(e.to_string().contains("release_gates.rules[0].releases[1]: empty release pattern"), "{e}");
    assert!(e.line.is_some(), "{e}");
}

#[test]
fn label_conditions_are_located_and_left_out_of_the_digest_when_unused() {
    let default = crate::policy::default_policy();
    assert!(!default.canonical_json().contains("\"labels\""), "{}", default.canonical_json());
    let rule = |labels: &str| {
        let yaml = DEFAULT_YAML.replace(
            "      environments: []               # target environments; [] = every environment\n",
            &format!("      environments: []\n      labels: {labels}\n"),
        );
        assert_ne!(yaml, DEFAULT_YAML, "the default policy has the line this test edits");
        yaml
    };
    assert_eq!(parse(&rule("{}")).expect("valid").digest(), default.digest());
    let a = parse(&rule("{team: payments, tier: 'crit*'}")).expect("valid");
    let b = parse(&rule("{tier: 'crit*', team: payments}")).expect("valid");
    assert_eq!(a.digest(), b.digest(), "a map: order does not matter");
    assert_ne!(a.digest(), default.digest());
    let e = err(&rule("{team: ''}"));
    assert!(e.to_string().contains("release_gates.rules[0].labels.team: empty label value pattern"), "{e}");
    assert!(e.line.is_some(), "{e}");
    let e = err(&rule("{'a=b': x}"));
    assert!(e.to_string().contains("release_gates.rules[0].labels.a=b: label key"), "{e}");
    let e = err(&rule("[team]"));
    assert!(e.line.is_some(), "a list where a map belongs is located: {e}");
}

#[test]
fn escalation_is_checked_located_and_left_out_of_the_digest_when_unused() {
    let default = crate::policy::default_policy();
    assert!(!default.canonical_json().contains("escalate"), "{}", default.canonical_json());
    // The default policy's last rule warns on high findings.
    let warn = |escalate: &str| {
        let yaml = DEFAULT_YAML.replace(
            "        min_severity: high\n      outcome: warn\n",
            &format!("        min_severity: high\n      outcome: warn\n      escalate: {escalate}\n"),
        );
        assert_ne!(yaml, DEFAULT_YAML, "the default policy has the rule this test edits");
        yaml
    };
    let a = parse(&warn("{known_exploited: true, min_epss: 0.5}")).expect("valid");
    let b = parse(&warn("{min_epss: 0.5, to: fail, known_exploited: true}")).expect("valid");
    assert_eq!(a.digest(), b.digest(), "to: fail is the default");
    assert_ne!(a.digest(), default.digest());
    let esc = a.release_gates.rules[3].escalate.as_ref().expect("escalate");
    assert!(esc.known_exploited && esc.min_epss == Some(0.5) && esc.min_epss_percentile.is_none());
    assert!(a.release_gates.rules[3].uses_epss() && !a.release_gates.rules[3].when.uses_epss());

    let e = err(&warn("{to: warn, known_exploited: true}"));
    assert!(e.to_string().contains("release_gates.rules[3].escalate.to: a warn rule escalates to fail"), "{e}");
    assert!(e.line.is_some(), "{e}");
    let e = err(&warn("{}"));
    assert!(e.to_string().contains("release_gates.rules[3].escalate: escalate needs a condition"), "{e}");
    let e = err(&warn("{min_epss_percentile: 2}"));
    assert!(e.to_string().contains("escalate.min_epss_percentile: 2 is out of range"), "{e}");
    let e = err(&warn("{known_exploited: true, to: block}"));
    assert!(e.message.contains("unknown variant `block`") && e.message.contains("fail"), "{e}");
    let e = err(&with_condition("      escalate: {known_exploited: true}\n"));
    assert!(e.to_string().contains("release_gates.rules[0].escalate: a fail or require_vex rule fails already"), "{e}");
}

#[test]
fn source_precedence_is_validated_located_and_left_out_of_the_digest_when_unused() {
    let default = crate::policy::default_policy();
    assert!(default.sources.is_default());
    assert!(!default.canonical_json().contains("\"precedence\""), "{}", default.canonical_json());
    let with = |body: &str| {
        let yaml = DEFAULT_YAML.replace("sources:\n  precedence: {}\n", &format!("sources:\n  precedence:\n{body}"));
        assert_ne!(yaml, DEFAULT_YAML, "the default policy has the empty sources section this test edits");
        yaml
    };
    let used = parse(&with("    PyPI: [GHSA, pysec]\n    \"*\": [GHSA]\n")).expect("valid");
    assert_ne!(used.digest(), default.digest(), "a precedence is another policy");
    assert!(used.canonical_json().contains(r#""precedence":{"*":["GHSA"],"PyPI":["GHSA","pysec"]}"#));
    // Listed first in list order (case-insensitive), then the ecosystem's own, then the others.
    let s = &used.sources;
    assert_eq!(s.rank("PyPI", "GHSA"), (0, 0));
    assert_eq!(s.rank("PyPI", "PYSEC"), (0, 1));
    assert_eq!(s.rank("PyPI", "OSV"), (2, 0));
    assert_eq!(s.rank("crates.io", "GHSA"), (0, 0), "the `*` list");
    assert_eq!(s.rank("crates.io", "RUSTSEC"), (1, 0), "the ecosystem's own database, not listed");
    assert_eq!(default.sources.rank("AlmaLinux:9", "ALSA"), (1, 0), "releases are ignored");
    assert_eq!(default.sources.rank("AlmaLinux:9", "RHSA"), (2, 0));

    // Bad keys and values: FILE:LINE:COLUMN at the key.
    let line = DEFAULT_YAML.lines().position(|l| l == "sources:").expect("the section") + 3;
    for (body, says) in [
        ("    Pypi: [GHSA]\n", "sources.precedence.Pypi: `Pypi` is not an OSV ecosystem"),
        ("    \"Debian:11\": [DSA]\n", "`Debian:11` is not an OSV ecosystem"),
        ("    npm: []\n", "sources.precedence.npm: an empty list"),
        ("    npm: [GHSA, ghsa]\n", "sources.precedence.npm[1]: `ghsa` is listed twice"),
        ("    npm: [GHSA-xxxx]\n", "sources.precedence.npm[0]: `GHSA-xxxx` is not a source"),
    ] {
        let e = err(&with(body));
        assert!(e.to_string().contains(says), "{body}: {e}");
        assert_eq!(e.line, Some(line), "{e}");
        assert!(e.column.is_some(), "{e}");
    }
    let e = err(&DEFAULT_YAML.replace("sources:\n  precedence: {}\n", "sources:\n  order: {}\n"));
    assert!(e.message.contains("unknown field `order`"), "{e}");
    let e = err(&with("    npm: [GHSA]\n    npm: [RUSTSEC]\n"));
    assert!(e.message.contains("npm"), "a key given twice: {e}");
}

#[test]
fn regression_rules_are_parsed_validated_and_left_out_of_the_digest_while_empty() {
    // Absent or empty: the same digest (policies written before regressions keep theirs).
    let empty = parse(&format!("{MINIMAL}release_gates:\n  regressions: []\n")).expect("empty list");
    assert_eq!(empty.digest(), parse(MINIMAL).expect("minimal").digest());
    let yaml = format!(
        "{MINIMAL}release_gates:\n  regressions:\n    - id: pull\n      environments: [prod]\n      outcomes: [fail]\n      \
         actions: [notify, block_promotion, rollback]\n"
    );
    let doc = parse(&yaml).expect("a regression rule");
    let r = &doc.release_gates.regressions[0];
    assert_eq!((r.id.as_str(), r.outcomes.as_slice()), ("pull", &[RegressionOutcome::Fail][..]));
    assert_eq!(r.actions, [RegressionAction::Notify, RegressionAction::BlockPromotion, RegressionAction::Rollback]);
    assert_ne!(doc.digest(), empty.digest());

    // Bad rules: FILE:LINE:COLUMN at the key.
    for (edit, line, says) in [
        (
            "outcomes: [fail]",
            "      outcomes: []",
            "release_gates.regressions[0].outcomes: a regression rule names the outcomes",
        ),
        (
            "outcomes: [fail]",
            "      outcomes: [fail, fail]",
            "release_gates.regressions[0].outcomes[1]: this outcome is listed twice",
        ),
        ("outcomes: [fail]", "      outcomes: [pass]", "unknown variant `pass`"),
        ("actions: [notify, block_promotion, rollback]", "      actions: [isolate]", "unknown variant `isolate`"),
        ("id: pull", "    - id: 'pull it'", "regression rule id `pull it` must be"),
    ] {
        let bad: String = yaml
            .lines()
            .map(|l| {
                if l.trim_start().trim_start_matches("- ").starts_with(edit) { line.to_string() } else { l.to_string() }
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert_ne!(bad, yaml, "the edit applies: {edit}");
        let e = err(&bad);
        assert!(e.to_string().contains(says), "{line}: {e}");
        let want = bad.lines().position(|l| l == line).expect("the edited line") + 1;
        assert_eq!(e.line, Some(want), "{e}");
    }
}

#[test]
fn workflows_are_validated_located_named_by_trust_rules_and_left_out_of_the_digest_when_unused() {
    let doc = crate::policy::default_policy();
    let canonical = doc.canonical_json();
    assert!(!canonical.contains("workflow"), "{canonical}");
    let wf = "api_version: trustloop/v1\nname: wf\ntrust:\n  rules:\n    - id: isolate\n      action: isolate\n      \
              below: 20.0\n      recover_above: 35.0\n      workflow: drop\nenforcement:\n  workflows:\n    drop:\n      \
              steps:\n        - name: rule\n          adapter: netns\n          params: {addr: '{{subject}}'}\n          \
              check: {params: {probe: '{{target}}'}}\n          rollback: {adapter: netns2}\n";
    let p = parse(wf).expect("valid");
    assert_eq!(p.trust.rules[0].workflow.as_deref(), Some("drop"));
    let steps = &p.enforcement.workflows["drop"].steps;
    assert_eq!((steps[0].name.as_str(), steps[0].adapter.as_str()), ("rule", "netns"));
    assert!(p.canonical_json().contains("\"workflows\""), "{}", p.canonical_json());
    assert_ne!(p.digest(), parse(&wf.replace("      workflow: drop\n", "")).expect("valid").digest());

    // A rule naming a workflow there is not: located at the name.
    let e = err(&wf.replace("workflow: drop", "workflow: dorp"));
    assert!(
        e.to_string().contains("trust.rules[0].workflow: no workflow `dorp` in enforcement.workflows (known: drop)"),
        "{e}"
    );
    assert_eq!(at(&e), (Some(9), Some(7)), "{e}");
    // An unknown placeholder: located at the parameter.
    let e = err(&wf.replace("{{target}}", "{{targte}}"));
    assert!(
        e.to_string()
            .contains("enforcement.workflows.drop.steps[0].check.params.probe: unknown placeholder `{{targte}}`"),
        "{e}"
    );
    assert_eq!(at(&e).0, Some(17), "{e}");
    // No steps, an empty adapter, duplicate step names.
    let e = err(&wf.replace("      steps:\n", "      steps: []\n      x:\n"));
    assert!(at(&e).0.is_some(), "{e}");
    let e = err(&wf.replace("adapter: netns\n", "adapter: ''\n"));
    assert!(e.to_string().contains("steps[0].adapter: the step's adapter must be named"), "{e}");
    let dup = wf.to_string() + "        - name: rule\n          adapter: netns\n";
    let e = err(&dup);
    assert!(e.to_string().contains("steps[1].name: duplicate step name `rule` (also step 0)"), "{e}");
    assert_eq!(at(&e).0, Some(19), "{e}");
}
