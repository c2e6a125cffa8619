//! Black-box test of issue #22's re-evaluation actions: two releases promoted to prod, the newer one
//! turned FAIL by a known-exploited catalog entry. The policy's regression rule requests notify,
//! block_promotion and rollback once; the enforcement operator sends the rollback to the older
//! release (the last one that passes in prod); replay re-derives every action, `replay verdict`
//! matches, and `blame` names the catalog and lists the actions.

use std::path::Path;

use serde_json::Value;

mod support;
use support::*;

const ADVISORY: &str = r#"{"id":"TEST-2026-0202","modified":"2026-01-01T00:00:00Z","aliases":["CVE-2026-99202"],
  "affected":[{"package":{"ecosystem":"npm","name":"lodash"},
               "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"4.17.21"}]}]}]}"#;

/// The default rules (known-exploited fails), no approvals, and a regression rule for prod.
const POLICY: &str = "api_version: trustloop/v1
name: pull-bad-prod
release_gates:
  approvals: []
  regressions:
    - id: prod-turned-bad
      environments: [prod]
      outcomes: [fail]
      actions: [notify, block_promotion, rollback]
";

fn lock(lodash: &str) -> String {
    format!(
        r#"{{"name": "web", "version": "1.0.0", "lockfileVersion": 3, "requires": true,
  "packages": {{"": {{"name": "web", "version": "1.0.0", "dependencies": {{"lodash": "^4.17.0"}}}},
               "node_modules/lodash": {{"version": "{lodash}"}}}}}}"#
    )
}

const CATALOG: &str = r#"{"title": "CISA Catalog", "catalogVersion": "2099.04.02", "dateReleased": "2099-04-02T10:00:00.000Z",
  "count": 1, "vulnerabilities": [{"cveID": "CVE-2026-99202", "vendorProject": "lodash", "product": "lodash",
  "vulnerabilityName": "test", "dateAdded": "2099-04-01", "dueDate": "2099-04-21",
  "knownRansomwareCampaignUse": "Unknown", "cwes": []}]}"#;

fn promote(d: &Path, version: &str, at: &str) {
    let promotion = format!(
        r#"{{"release_name": "shop", "release_version": "{version}", "from_environment": "staging", "to_environment": "prod", "requested_by": "ci", "event_time": "{at}"}}"#
    );
    ok(&trustloop_with_stdin(
        d,
        &["produce", "--topic", "promotions", "--tenant", "default"],
        &format!("{promotion}\n"),
    ));
}

/// The actions about `subject` in state `state`.
fn actions(d: &Path, subject: &str, state: &str) -> Vec<Value> {
    consume(d, "actions").into_iter().filter(|a| a["subject"] == subject && a["state"] == state).collect()
}

#[test]
fn a_promoted_release_turned_bad_is_notified_blocked_and_rolled_back_once() {
    let data = tempfile::tempdir().expect("tempdir");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data.path();
    let file = |name: &str, text: &str| write_file(dir.path(), name, text);
    ok(&trustloop(d, &["policy", "apply", &file("policy.yaml", POLICY)]));
    ok(&trustloop(d, &["import", "osv", &file("advisory.json", ADVISORY)]));
    // shop 1.0.0 has the fixed lodash, shop 2.0.0 the affected one; the advisory alone only warns
    // nothing (no severity: medium), so both pass and are promoted, 1.0.0 first.
    ok(&trustloop(
        d,
        &["import", "lockfile", &file("v1/package-lock.json", &lock("4.17.21")), "--release", "shop@1.0.0"],
    ));
    ok(&trustloop(
        d,
        &["import", "lockfile", &file("v2/package-lock.json", &lock("4.17.20")), "--release", "shop@2.0.0"],
    ));
    promote(d, "1.0.0", "2026-03-01T00:00:00Z");
    promote(d, "2.0.0", "2026-03-02T00:00:00Z");
    ok(&trustloop(d, &["run", "--until-idle"]));
    for subject in ["shop@1.0.0@prod", "shop@2.0.0@prod"] {
        let promoted = actions(d, subject, "requested");
        assert_eq!(promoted.len(), 1, "{promoted:#?}");
        assert_eq!(promoted[0]["kind"], "promote", "{promoted:#?}");
    }

    // The catalog lists the CVE: shop 2.0.0 turns FAIL in prod.
    ok(&trustloop(d, &["import", "kev", &file("kev.json", CATALOG)]));
    ok(&trustloop(d, &["run", "--until-idle"]));
    let verdicts: Vec<Value> =
        consume(d, "verdicts").into_iter().filter(|v| v["subject"] == "shop@2.0.0@prod").collect();
    let fail = verdicts.last().expect("a verdict");
    assert_eq!((fail["outcome"].as_str(), fail["previous"].as_str()), (Some("FAIL"), Some("PASS")), "{fail:#}");
    let requested = actions(d, "shop@2.0.0@prod", "requested");
    let kinds: Vec<&str> = requested.iter().filter_map(|a| a["kind"].as_str()).collect();
    assert_eq!(kinds, ["promote", "notify", "block_promotion", "rollback"], "{requested:#?}");
    for a in &requested[1..] {
        assert_eq!(a["target"], "release:shop@2.0.0", "{a:#}");
        let reason = a["reason"].as_str().expect("reason");
        assert!(reason.contains("promoted to prod, turned FAIL (was PASS)"), "{reason}");
        assert!(reason.contains("regression rule `prod-turned-bad`"), "{reason}");
    }
    // The enforcement operator sends the rollback to shop 1.0.0 (sandbox first, by default).
    let rollback_id = requested[3]["action_id"].as_str().expect("id").to_string();
    let dispatched: Vec<Value> = consume(d, "actions")
        .into_iter()
        .filter(|a| a["action_id"] == rollback_id.as_str() && a["state"] == "dispatched")
        .collect();
    let first = dispatched.first().expect("the rollback is dispatched");
    assert_eq!(first["target"], "sandbox:release:shop@1.0.0", "{first:#}");
    assert!(first["reason"].as_str().expect("reason").starts_with("rolling shop@2.0.0 in prod back to shop@1.0.0"));
    // shop 1.0.0 is untouched.
    assert_eq!(actions(d, "shop@1.0.0@prod", "requested").len(), 1);

    // Derived once: running again derives nothing new.
    let before = consume(d, "actions").len();
    ok(&trustloop(d, &["run", "--until-idle"]));
    assert_eq!(actions(d, "shop@2.0.0@prod", "requested").len(), 4);
    let after = consume(d, "actions");
    assert!(
        after[before..].iter().all(|a| a["state"] != "requested"),
        "only lifecycle steps may follow: {:#?}",
        &after[before..]
    );

    // Replay re-derives every verdict and action as recorded; the verdict replays; blame names the
    // catalog and lists the actions.
    let report: Vec<Value> =
        serde_json::from_str(&ok(&trustloop(d, &["replay", "--all", "--verify", "--json"]))).expect("report");
    for op in &report {
        for problems in ["mismatched", "missing", "unrecorded"] {
            assert_eq!(op[problems].as_array().map(Vec::len), Some(0), "{op:#}");
        }
    }
    let id = fail["event_id"].as_str().expect("id");
    let replayed: Value = serde_json::from_str(&ok(&trustloop(d, &["replay", "verdict", id, "--json"]))).expect("json");
    assert_eq!(replayed["matched"], true, "{replayed:#}");
    let blame: Value = serde_json::from_str(&ok(&trustloop(d, &["blame", "shop@2.0.0@prod", "--json"]))).expect("json");
    let change = blame.as_array().and_then(|c| c.last()).expect("a change");
    assert_eq!(change["cause_kind"], "known-exploited", "{change:#}");
    let blamed: Vec<&str> =
        change["actions"].as_array().expect("actions").iter().filter_map(|a| a["kind"].as_str()).collect();
    assert_eq!(blamed, ["notify", "block_promotion", "rollback"], "{change:#}");
    let text = ok(&trustloop(d, &["blame", "shop@2.0.0@prod"]));
    assert!(text.contains("→ rollback release:shop@2.0.0"), "{text}");
}
