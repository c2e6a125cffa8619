//! Black-box test of release labels: `import lockfile --label KEY=VALUE` labels the release's
//! inventory, a policy rule with a `labels` condition applies only to releases whose labels it
//! matches, a re-import with other labels re-decides the promoted release, and replay of each
//! verdict matches. A malformed label is refused before anything is imported.

use std::path::Path;

use serde_json::Value;

mod support;
use support::*;

const ADVISORY: &str = r#"{"id":"TEST-2026-0201","modified":"2026-01-01T00:00:00Z","aliases":["CVE-2026-99201"],
  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
  "affected":[{"package":{"ecosystem":"npm","name":"lodash"},
               "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"4.17.21"}]}]}]}"#;

const PACKAGE_LOCK: &str = r#"{"name": "web", "version": "1.0.0", "lockfileVersion": 3, "requires": true,
  "packages": {"": {"name": "web", "version": "1.0.0", "dependencies": {"lodash": "^4.17.0"}},
               "node_modules/lodash": {"version": "4.17.20"}}}"#;

/// A policy whose only rule fails releases labelled `team=payments` with a critical finding.
const POLICY: &str = "api_version: trustloop/v1
name: labels
release_gates:
  rules:
    - id: payments-critical
      labels: {team: payments, tier: 'crit*'}
      when: {min_severity: critical}
      outcome: fail
";

fn verdicts(data: &Path, subject: &str) -> Vec<Value> {
    consume(data, "verdicts").into_iter().filter(|v| v["subject"] == subject).collect()
}

#[test]
fn a_labels_rule_decides_only_the_releases_whose_labels_match() {
    let data = tempfile::tempdir().expect("tempdir");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data.path();
    let file = |name: &str, text: &str| write_file(dir.path(), name, text);
    let lock = file("web/package-lock.json", PACKAGE_LOCK);
    ok(&trustloop(d, &["policy", "apply", &file("policy.yaml", POLICY)]));
    ok(&trustloop(d, &["import", "osv", &file("advisory.json", ADVISORY)]));
    let labelled = ["--label", "team=payments", "--label", "tier=critical"];
    ok(&trustloop(d, &[&["import", "lockfile", &lock, "--release", "pay@1.0.0"][..], &labelled[..]].concat()));
    ok(&trustloop(d, &["import", "lockfile", &lock, "--release", "web@1.0.0", "--label", "team=web"]));
    let inventories = consume(d, "inventory");
    let labels: Vec<(String, String)> =
        inventories.iter().map(|i| (i["release_name"].to_string(), i["labels"].to_string())).collect();
    assert_eq!(
        labels,
        vec![
            ("\"pay\"".to_string(), r#"{"team":"payments","tier":"critical"}"#.to_string()),
            ("\"web\"".to_string(), r#"{"team":"web"}"#.to_string())
        ]
    );
    for release in ["pay", "web"] {
        let promotion = format!(
            r#"{{"release_name": "{release}", "release_version": "1.0.0", "from_environment": "dev",
                "to_environment": "staging", "requested_by": "ci", "event_time": "2026-03-01T00:00:00Z"}}"#
        );
        ok(&trustloop_with_stdin(
            d,
            &["produce", "--topic", "promotions", "--tenant", "default"],
            &format!("{}\n", promotion.replace('\n', " ")),
        ));
    }
    ok(&trustloop(d, &["run", "--until-idle"]));
    let pay = verdicts(d, "pay@1.0.0@staging");
    let web = verdicts(d, "web@1.0.0@staging");
    assert_eq!((pay.len(), pay[0]["outcome"].as_str()), (1, Some("FAIL")), "{pay:#?}");
    assert!(pay[0]["reasons"].to_string().contains("payments-critical"), "{pay:#?}");
    assert_eq!((web.len(), web[0]["outcome"].as_str()), (1, Some("PASS")), "the same finding, other labels: {web:#?}");

    // Relabelled, the web release now falls under the rule and flips to FAIL.
    let relabel = ["--label", "team=payments", "--label", "tier=critical-path"];
    ok(&trustloop(d, &[&["import", "lockfile", &lock, "--release", "web@1.0.0"][..], &relabel[..]].concat()));
    ok(&trustloop(d, &["run", "--until-idle"]));
    let web = verdicts(d, "web@1.0.0@staging");
    assert_eq!(web.len(), 2, "{web:#?}");
    assert_eq!((web[1]["outcome"].as_str(), web[1]["previous"].as_str()), (Some("FAIL"), Some("PASS")), "{web:#?}");

    // Replay rebuilds every verdict byte for byte (the labels are part of their evidence).
    for v in verdicts(d, "pay@1.0.0@staging").iter().chain(&web) {
        let id = v["event_id"].as_str().expect("id");
        let replayed: Value =
            serde_json::from_str(&ok(&trustloop(d, &["replay", "verdict", id, "--json"]))).expect("json");
        assert_eq!(replayed["matched"], true, "{replayed:#}");
    }

    // A malformed label is refused, and nothing is imported.
    let before = consume(d, "inventory").len();
    for bad in ["team", "=payments", "a b=c"] {
        let out = trustloop(d, &["import", "lockfile", &lock, "--release", "x@1", "--label", bad]);
        assert!(!out.status.success(), "{bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("label"), "{bad}: {out:?}");
    }
    assert_eq!(consume(d, "inventory").len(), before);
}
