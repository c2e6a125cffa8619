//! `trustloop replay` on the demo scenario's log (the always-on suite: `trustloop demo` ships its
//! inputs): every operator's outputs re-derive identically,
//! verdicts replay to MATCH with the inputs that determined them (from the start of the log, and
//! from a snapshot), history re-run under a candidate policy shows what would have differed, blame
//! traces each change of a verdict to its input, a subject's state is asked of what was known and
//! what had happened by given times, and a
//! verdict the operators never derived is a MISMATCH (exit status 1).

use std::path::Path;
use std::process::Output;

use serde_json::Value;

mod support;

fn trustloop(dir: &Path, args: &[&str], stdin: &str) -> Output {
    support::trustloop_cli(dir, args, stdin)
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn consume(dir: &Path, topic: &str) -> Vec<Value> {
    let out = ok(&trustloop(dir, &["consume", "--topic", topic, "--from-beginning"], ""));
    out.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
}

fn verdicts_of(dir: &Path) -> Vec<Value> {
    consume(dir, "verdicts")
}

fn consume_ids(events: &[Value]) -> Vec<String> {
    events.iter().filter_map(|e| e["event_id"].as_str().map(str::to_string)).collect()
}

fn replay_verdict(dir: &Path, id: &str) -> (bool, Value) {
    let out = trustloop(dir, &["replay", "verdict", id, "--json"], "");
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.success(), report)
}

fn summaries(report: &Value) -> Vec<String> {
    report["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .map(|i| i["summary"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn the_demo_replays_exactly_and_a_forged_verdict_does_not() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    ok(&trustloop(dir, &["demo"], ""));

    // Every operator, every derived event.
    let out = ok(&trustloop(dir, &["replay", "--all", "--verify", "--json"], ""));
    let all: Vec<Value> = serde_json::from_str(&out).expect("JSON report");
    let operators: Vec<&str> = all.iter().map(|v| v["operator"].as_str().unwrap_or("?")).collect();
    assert_eq!(operators, ["impact", "trust", "decision", "enforce", "notify"]);
    for v in &all {
        // The demo applies no notification rules: the notify operator derives nothing.
        let least = if v["operator"] == "notify" { 0 } else { 11 };
        assert!(v["matched"].as_u64().unwrap_or(0) >= least, "{} re-derived too little: {v}", v["operator"]);
        for problems in ["mismatched", "missing", "unrecorded"] {
            assert_eq!(v[problems].as_array().map(Vec::len), Some(0), "{}: {v}", v["operator"]);
        }
    }

    // What-if: the tenant's own policy changes nothing; a stricter quarantine threshold changes
    // some hosts' verdicts and actions.
    let policy = consume(dir, "policies")[0].clone();
    let tenant = policy["tenant"].as_str().expect("tenant").to_string();
    let document = policy["document"].as_str().expect("document").to_string();
    let same = dir.join("same-policy.yaml");
    std::fs::write(&same, &document).expect("write the policy");
    let out =
        ok(&trustloop(dir, &["replay", "--policy", same.to_str().expect("path"), "--tenant", &tenant, "--json"], ""));
    let same_report: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(same_report["differ"].as_array().map(Vec::len), Some(0), "{same_report:#}");
    assert_eq!(same_report["trust_scores"].as_u64(), Some(consume(dir, "trust-scores").len() as u64));
    assert!(document.contains("      below: 40.0\n"), "the quarantine rule of the demo's policy");
    let stricter = dir.join("stricter-policy.yaml");
    std::fs::write(&stricter, document.replace("      below: 40.0\n", "      below: 50.0\n")).expect("write");
    let args = ["replay", "--policy", stricter.to_str().expect("path"), "--tenant", &tenant, "--json"];
    let report: Value = serde_json::from_str(&ok(&trustloop(dir, &args, ""))).expect("JSON");
    let differ = report["differ"].as_array().expect("differ");
    assert!(!differ.is_empty() && differ.iter().all(|d| d["kind"] == "entity"), "{report:#}");
    assert!(
        differ
            .iter()
            .any(|d| d["candidate_actions"].get("quarantine apply") != d["recorded_actions"].get("quarantine apply")),
        "a stricter quarantine threshold quarantines other hosts: {report:#}"
    );
    let text = ok(&trustloop(dir, &args[..5], ""));
    assert!(text.contains(&format!("{} would differ", differ.len())), "{text}");

    // Blame: an entity whose verdict changed several times, each change traced to its trust score;
    // a release, to its promotion request.
    let recorded_ids: std::collections::BTreeSet<String> = consume_ids(&verdicts_of(dir)).into_iter().collect();
    let mut flips: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for v in verdicts_of(dir).iter().filter(|v| v["subject_kind"] == "entity" && v["previous"] != v["outcome"]) {
        *flips.entry(v["subject"].as_str().unwrap_or("").to_string()).or_default() += 1;
    }
    let (host, _) = flips.iter().max_by_key(|(_, n)| **n).expect("an entity with verdicts");
    let out = ok(&trustloop(dir, &["blame", host, "--tenant", &tenant, "--json"], ""));
    let changes: Vec<Value> = serde_json::from_str(&out).expect("JSON");
    assert!(changes.len() >= 3, "{host}: {changes:#?}");
    for pair in changes.windows(2) {
        assert_eq!(pair[1]["from"], pair[0]["to"], "changes chain: {changes:#?}");
        assert_ne!(pair[1]["from"], pair[1]["to"]);
    }
    for c in &changes {
        assert_eq!(c["cause_kind"], "trust", "{c}");
        assert!(recorded_ids.contains(c["verdict_id"].as_str().unwrap_or("")), "a recorded verdict: {c}");
    }
    let release = verdicts_of(dir).into_iter().find(|v| v["subject_kind"] == "release").expect("a release verdict");
    let out = ok(&trustloop(
        dir,
        &["blame", release["subject"].as_str().expect("subject"), "--tenant", &tenant, "--json"],
        "",
    ));
    let changes: Vec<Value> = serde_json::from_str(&out).expect("JSON");
    assert_eq!(changes[0]["cause_kind"], "promotion", "{changes:#?}");
    assert!(!trustloop(dir, &["blame", "no-such-subject", "--tenant", &tenant], "").status.success());

    // Verdicts one by one: every release verdict and a sample of the entities'.
    let verdicts = consume(dir, "verdicts");
    let (releases, entities): (Vec<&Value>, Vec<&Value>) =
        verdicts.iter().partition(|v| v["subject_kind"] == "release");
    assert!(releases.len() >= 3 && entities.len() >= 50, "{} and {}", releases.len(), entities.len());
    for v in releases.iter().copied().chain(entities.iter().copied().step_by(25)) {
        let id = v["event_id"].as_str().expect("id");
        let (success, report) = replay_verdict(dir, id);
        assert!(success && report["matched"] == true, "verdict {id} does not replay: {report:#}");
        assert_eq!(report["identical_record"], true, "{id}: the very bytes of the log");
        assert_eq!(report["recomputed_evidence"], v["evidence_digest"]);
        let inputs = summaries(&report);
        assert!(inputs.iter().any(|s| s.starts_with("policy ")), "{id}: the policy in force: {inputs:?}");
        match v["subject_kind"].as_str() {
            Some("release") => assert!(inputs.iter().any(|s| s.starts_with("promotion request")), "{inputs:?}"),
            _ => assert!(inputs.iter().any(|s| s.starts_with("trust score")), "{inputs:?}"),
        }
    }
    // Enforcement actions (no frontier): replayed through the operator that derived them.
    let actions = consume(dir, "actions");
    for source in ["trustloop.decision", "trustloop.enforce"] {
        let a = actions.iter().rev().find(|a| a["source"] == source).expect("an action of each operator");
        let (success, report) = replay_verdict(dir, a["event_id"].as_str().expect("id"));
        assert!(success && report["matched"] == true, "{source}: {report:#}");
        assert!(report["cause"].is_array(), "the input it was derived from: {report:#}");
    }
    let missing = trustloop(dir, &["replay", "verdict", "00000000-0000-8000-8000-00000000000f"], "");
    assert!(!missing.status.success() && String::from_utf8_lossy(&missing.stderr).contains("no verdict or action"));
    let text = ok(&trustloop(dir, &["replay", "verdict", releases[0]["event_id"].as_str().expect("id")], ""));
    assert!(text.contains("MATCH: evidence digest recorded") && text.contains("inputs that determined it"), "{text}");

    // A run (restoring by replay) leaves a snapshot of the state after the demo; a new promotion
    // after it gets a verdict that replays from that snapshot.
    ok(&trustloop(dir, &["run", "--until-idle"], ""));
    let mut promotion = consume(dir, "promotions")[0].clone();
    let obj = promotion.as_object_mut().expect("object");
    obj.retain(|k, _| !k.starts_with('_') && k != "event_id");
    obj.insert("to_environment".into(), "qa".into());
    ok(&trustloop(dir, &["produce", "--topic", "promotions"], &format!("{promotion}\n")));
    ok(&trustloop(dir, &["run", "--until-idle"], ""));
    let later = consume(dir, "verdicts");
    let new = later.iter().find(|v| v["subject"].as_str().is_some_and(|s| s.ends_with("@qa"))).expect("the qa verdict");
    let (success, report) = replay_verdict(dir, new["event_id"].as_str().expect("id"));
    assert!(success && report["matched"] == true, "{report:#}");

    // Bitemporal: the qa promotion happened when the demo's did (its event time) but was learned
    // later. Known now: decided; known when the demo's promotions were appended: not yet.
    let qa = new["subject"].as_str().expect("subject").to_string();
    let demo_learned = consume(dir, "promotions")[0]["_log_time"].as_str().expect("log time").to_string();
    let happened = promotion["event_time"].as_str().expect("event time").to_string();
    let subject = |extra: &[&str]| {
        let mut args = vec!["replay", "subject", qa.as_str(), "--tenant", &tenant, "--json"];
        args.extend_from_slice(extra);
        let out = trustloop(dir, &args, "");
        (out.status.success(), serde_json::from_slice::<Value>(&out.stdout).expect("JSON"))
    };
    let (decided, now) = subject(&["--happened-by", &happened]);
    assert!(decided && now["outcome"] == new["outcome"], "happened by then, known now: {now:#}");
    assert!(now["inputs"].as_array().is_some_and(|i| !i.is_empty()));
    let (decided, then) = subject(&["--at", &demo_learned, "--happened-by", &happened]);
    assert!(!decided && then["outcome"].is_null(), "not yet learned then: {then:#}");
    assert_eq!(report["from_snapshot"], true, "started from the snapshot: {report:#}");
    let applied_from_snapshot = report["stats"]["applied"].as_u64().unwrap_or(0);
    let (_, from_start) = {
        let out = trustloop(
            dir,
            &["replay", "verdict", new["event_id"].as_str().expect("id"), "--no-snapshots", "--json"],
            "",
        );
        (out.status.success(), serde_json::from_slice::<Value>(&out.stdout).expect("JSON"))
    };
    assert_eq!(from_start["matched"], true);
    assert!(applied_from_snapshot < from_start["stats"]["applied"].as_u64().unwrap_or(0), "the snapshot saved work");

    // A verdict the decision operator never derived: same subject, frontier and source, another
    // outcome and id.
    let mut forged = releases[0].clone();
    let obj = forged.as_object_mut().expect("object");
    obj.retain(|k, _| !k.starts_with('_'));
    obj.insert("event_id".into(), "00000000-0000-8000-8000-000000000001".into());
    obj.insert("outcome".into(), if releases[0]["outcome"] == "FAIL" { "PASS" } else { "FAIL" }.into());
    ok(&trustloop(dir, &["produce", "--topic", "verdicts"], &format!("{forged}\n")));
    let (success, report) = replay_verdict(dir, "00000000-0000-8000-8000-000000000001");
    assert!(!success && report["matched"] == false, "{report:#}");
    let out = trustloop(dir, &["replay", "--all", "--verify"], "");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "a forged verdict fails verification: {text}");
    assert!(text.contains("recorded, not re-derived: 00000000-0000-8000-8000-000000000001"), "{text}");
}

/// Copies `from` into `to`, recursively.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let (p, dest) = (e.path(), to.join(e.file_name()));
        match p.is_dir() {
            true => copy_dir(&p, &dest),
            false => {
                std::fs::copy(&p, &dest).expect("copy");
            }
        }
    }
}

/// A log written by an earlier build (`tests/recorded/log`, see `tests/recorded/README.md`) replays with this one: every operator's outputs re-derive identically and every verdict
/// replays to the very bytes recorded — operators and schemas versioned, older ones still read.
#[test]
fn a_log_recorded_by_an_earlier_build_replays() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("log");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/recorded/log"), &dir);
    let out = ok(&trustloop(&dir, &["replay", "--all", "--verify", "--json"], ""));
    let all: Vec<Value> = serde_json::from_str(&out).expect("JSON report");
    for v in &all {
        for problems in ["mismatched", "missing", "unrecorded"] {
            assert_eq!(v[problems].as_array().map(Vec::len), Some(0), "{}: {v}", v["operator"]);
        }
    }
    let matched: Vec<u64> = all.iter().map(|v| v["matched"].as_u64().unwrap_or(0)).collect();
    assert_eq!(
        matched,
        [0, 11, 9, 3, 0],
        "impact, trust, decision, enforcement, notify (no rules in the recorded log): what the log recorded"
    );
    let verdicts = verdicts_of(&dir);
    assert_eq!(verdicts.len(), 6);
    for v in &verdicts {
        let (success, report) = replay_verdict(&dir, v["event_id"].as_str().expect("id"));
        assert!(success && report["identical_record"] == true, "{report:#}");
    }
    // It verifies as a log without chains: no break, saying so and naming what no checkpoint covers.
    let key = root.path().join("log.key").display().to_string();
    let vkey = ok(&trustloop(&dir, &["keys", "generate", "--name", "recorded", "--out", &key], ""));
    let verified = ok(&trustloop(&dir, &["log", "verify", "--key", vkey.trim()], ""));
    assert!(verified.starts_with("UNCHAINED 0 checkpoints"), "{verified}");
    assert!(verified.contains("the log has no checkpoints"), "{verified}");
    assert!(verified.contains("not yet covered: verdicts/"), "{verified}");
    // Checkpointed now, it verifies, and still replays as recorded.
    ok(&trustloop(&dir, &["log", "checkpoint", "--key", &key], ""));
    let verified = ok(&trustloop(&dir, &["log", "verify", "--key", vkey.trim()], ""));
    assert!(verified.starts_with("VERIFIED 1 checkpoint "), "{verified}");
    assert!(verified.contains("chained history starts at offset 0 (checkpoint 1)"), "{verified}");
    ok(&trustloop(&dir, &["replay", "--all", "--verify"], ""));
}
