//! The demo scenario end to end (`trustloop demo`): the closed loop on the embedded log, checked
//! from what it wrote — verdicts, actions, the firewall rules file — and run twice to show that the
//! same inputs derive the same events, id for id.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;

use serde_json::Value;

mod support;

fn trustloop(dir: &Path, args: &[&str]) -> Output {
    support::trustloop_cli(dir, args, "")
}

fn consume(dir: &Path, topic: &str) -> Vec<Value> {
    let out = trustloop(dir, &["consume", "--topic", topic, "--from-beginning"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
}

fn demo(dir: &Path) -> Value {
    let out = trustloop(dir, &["demo", "--json"]);
    assert!(out.status.success(), "demo failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON summary")
}

fn ids(dir: &Path, topic: &str) -> BTreeSet<String> {
    consume(dir, topic).iter().filter_map(|e| e["event_id"].as_str().map(str::to_string)).collect()
}

#[test]
fn demo_closes_the_loop_and_is_deterministic() {
    let root = tempfile::tempdir().expect("tempdir");
    let a = root.path().join("a");
    let summary = demo(&a);
    assert_eq!(summary["consistent"], true, "{summary:#}");
    assert_eq!(summary["dead_letters"], 3, "the three malformed telemetry lines");
    assert!(summary["events_in"].as_u64().expect("events_in") > 40_000);
    assert!(summary["trust_scores"].as_u64().expect("trust_scores") > 300, "every host is scored");

    // Release gates: the verdict of each promotion to prod, with its reasons.
    let releases: BTreeMap<String, (String, Vec<String>)> = summary["releases"]
        .as_array()
        .expect("releases")
        .iter()
        .map(|r| {
            let rules = r["reasons"].as_array().expect("reasons").iter().filter_map(|x| x.as_str()).map(String::from);
            (
                r["subject"].as_str().expect("subject").to_string(),
                (r["outcome"].as_str().expect("o").to_string(), rules.collect()),
            )
        })
        .collect();
    assert_eq!(releases["dropwizard-parent@1.3.15@prod"].0, "fail", "no approval for prod: {releases:?}");
    assert!(releases["dropwizard-parent@1.3.15@prod"].1.iter().any(|r| r.starts_with("approvals")));
    assert_eq!(releases["tansu@0.3.0@prod"].0, "pass", "{releases:?}");
    // arroyo: a high vulnerability with a fix (webpki) blocks prod; the rustls one would too, but the
    // vendor's VEX says the code is not in the execute path.
    assert_eq!(releases["arroyo@2023-12@prod"].0, "fail", "{releases:?}");
    assert!(releases["arroyo@2023-12@prod"].1.contains(&"high-with-fix-in-prod".to_string()));
    assert_eq!(summary["findings_by_vex_status"]["not_affected"], 2, "rustls 0.19 and 0.21 in arroyo: {summary:#}");
    assert_eq!(summary["vex_conflicts"], 1, "vendor and triage disagree about h2: {summary:#}");
    let verdicts = consume(&a, "verdicts");
    let arroyo = verdicts.iter().rev().find(|v| v["subject"] == "arroyo@2023-12@prod").expect("arroyo verdict");
    let facts = arroyo["reasons"].to_string();
    assert!(facts.contains("RUSTSEC-2023-0052") && !facts.contains("RUSTSEC-2024-0336"), "{facts}");

    // Enforcement: every misbehaving host was acted on, no well-behaved host was isolated or
    // quarantined, nothing is stuck or failed, and the firewall file holds exactly the actions in force.
    let misbehaving: BTreeSet<String> = summary["misbehaving"]
        .as_array()
        .expect("misbehaving")
        .iter()
        .filter_map(|h| h.as_str())
        .map(String::from)
        .collect();
    assert!(!misbehaving.is_empty());
    let mut latest: BTreeMap<String, Value> = BTreeMap::new();
    for a in consume(&a, "actions") {
        latest.insert(a["action_id"].as_str().expect("action_id").to_string(), a);
    }
    let containment: Vec<&Value> =
        latest.values().filter(|a| matches!(a["kind"].as_str(), Some("quarantine" | "isolate"))).collect();
    let contained: BTreeSet<String> = containment
        .iter()
        .filter_map(|a| a["subject"].as_str())
        .map(|s| s.trim_start_matches("entity:").to_string())
        .collect();
    assert!(contained.is_subset(&misbehaving), "only misbehaving hosts are quarantined or isolated: {contained:?}");
    assert!(contained.len() * 2 > misbehaving.len(), "most misbehaving hosts are contained: {contained:?}");
    let acted_on: BTreeSet<String> = latest
        .values()
        .filter_map(|a| a["subject"].as_str())
        .filter(|s| !s.contains('@'))
        .map(|s| s.trim_start_matches("entity:").to_string())
        .collect();
    assert!(misbehaving.is_subset(&acted_on), "every misbehaving host was acted on");
    assert!(latest.values().all(|a| a["state"] != "failed"), "no action failed");
    // Isolation and quarantine both drop the host's traffic: one rule per host in force.
    let in_force: BTreeSet<&str> =
        containment.iter().filter(|a| a["state"] == "verified").filter_map(|a| a["subject"].as_str()).collect();
    assert!(containment.iter().any(|a| a["state"] == "reverted"), "hosts that recovered were released");
    let rules = std::fs::read_to_string(a.join("enforcement/firewall.rules")).unwrap_or_default();
    assert_eq!(rules.lines().filter(|l| !l.trim().is_empty()).count(), in_force.len(), "{rules}");
    let promotions: Vec<&Value> = latest.values().filter(|a| a["kind"] == "promote").collect();
    assert_eq!(promotions.len(), 1, "tansu is promoted; arroyo and dropwizard are blocked");
    assert_eq!(
        latest
            .values()
            .filter(|a| a["kind"] == "block_promotion" && a["subject"].as_str().is_some_and(|s| s.contains('@')))
            .count(),
        2
    );

    // The same inputs derive the same events, id for id (a second run, another directory).
    let b = root.path().join("b");
    let again = demo(&b);
    assert_eq!(again["verdicts"], summary["verdicts"]);
    assert_eq!(again["actions"], summary["actions"]);
    for topic in ["findings", "trust-scores", "verdicts", "actions", "action-results", "dlq"] {
        assert_eq!(ids(&a, topic), ids(&b, topic), "{topic} differs between two runs");
    }

    // The demo replaces its own previous directory, and refuses anyone else's.
    assert_eq!(demo(&a)["consistent"], true);
    let foreign = root.path().join("foreign");
    std::fs::create_dir_all(&foreign).expect("mkdir");
    std::fs::write(foreign.join("precious.txt"), "keep me").expect("write");
    let out = trustloop(&foreign, &["demo"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a previous demo"));
    assert!(foreign.join("precious.txt").exists());
}
