//! Black-box tests of `trustloop policy check | apply | default` on the embedded log.

use std::path::Path;

use serde_json::Value;
use trustloop_operators::policy;

mod support;
use support::{stderr, stdout, trustloop};

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write policy");
    p.display().to_string()
}

fn policies(data: &Path) -> Vec<Value> {
    let out = trustloop(data, &["consume", "--topic", "policies", "--from-beginning"]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
}

const PROD: &str = "api_version: trustloop/v1\nname: prod\ntrust:\n  step: 2\n";

#[test]
fn check_prints_the_digest_of_a_valid_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let default = trustloop(dir.path(), &["policy", "default"]);
    assert!(default.status.success(), "{}", stderr(&default));
    assert_eq!(stdout(&default), policy::DEFAULT_YAML);
    let file = write(dir.path(), "default.yaml", &stdout(&default));
    let out = trustloop(dir.path(), &["policy", "check", &file]);
    assert!(out.status.success(), "{}", stderr(&out));
    let digest = policy::default_policy().digest();
    assert_eq!(stdout(&out).trim(), format!("{file}: ok: policy default, digest {digest}"));
    let json = trustloop(dir.path(), &["policy", "check", &file, "--json"]);
    let v: Value = serde_json::from_str(stdout(&json).trim()).expect("JSON");
    assert_eq!((v["name"].as_str(), v["digest"].as_str()), (Some("default"), Some(digest.as_str())));
    // `check` needs no event log: none is created.
    let data = dir.path().join("data");
    assert!(trustloop(&data, &["policy", "check", &file]).status.success());
    assert!(!data.exists());
}

#[test]
fn check_reports_file_line_column_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let typo = write(dir.path(), "typo.yaml", "api_version: trustloop/v1\nname: x\ntrust:\n  stepp: 5\n");
    let out = trustloop(dir.path(), &["policy", "check", &typo]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&format!("{typo}:4:3: trust.stepp: unknown field `stepp`")), "{err}");
    assert!(stdout(&out).is_empty());

    let several = write(
        dir.path(),
        "several.yaml",
        "api_version: trustloop/v1\nname: x\nseverity:\n  high: 3.0\ntrust:\n  rules:\n    - id: q\n      action: quarantine\n      below: 30\n      recover_above: 31\n",
    );
    let out = trustloop(dir.path(), &["policy", "check", &several]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&format!("{several}:4:3: severity.high: high (3) must be above medium (4)")), "{err}");
    assert!(err.contains(&format!("{several}:10:7: trust.rules[0].recover_above: the hysteresis band")), "{err}");
    assert!(err.contains("2 problem(s)"), "{err}");

    let missing = trustloop(dir.path(), &["policy", "check", &dir.path().join("nope.yaml").display().to_string()]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("nope.yaml"), "{}", stderr(&missing));
}

#[test]
fn apply_publishes_numbered_versions_and_refuses_invalid_policies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let file = write(dir.path(), "prod.yaml", PROD);

    let first = trustloop(&data, &["policy", "apply", &file, "--tenant", "acme", "--json"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let v: Value = serde_json::from_str(stdout(&first).trim()).expect("JSON");
    assert_eq!(v["version"], 1);
    assert_eq!(v["published"], true);
    let digest1 = policy::parse(PROD).expect("parse").digest();
    assert_eq!(v["digest"].as_str(), Some(digest1.as_str()));

    // The same document again: nothing published.
    let again = trustloop(&data, &["policy", "apply", &file, "--tenant", "acme"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stderr(&again).contains("nothing published"), "{}", stderr(&again));

    // A change: version 2. Reformatting alone would not be one (same digest).
    write(dir.path(), "prod.yaml", "# reformatted\nname: prod\napi_version: 'trustloop/v1'\ntrust: {step: 2.0}\n");
    let same = trustloop(&data, &["policy", "apply", &file, "--tenant", "acme"]);
    assert!(stderr(&same).contains("nothing published"), "{}", stderr(&same));
    let changed = PROD.replace("step: 2", "step: 3");
    write(dir.path(), "prod.yaml", &changed);
    let second = trustloop(&data, &["policy", "apply", &file, "--tenant", "acme"]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(stderr(&second).contains("applied policy prod version 2 for tenant acme"), "{}", stderr(&second));

    // Another tenant counts its own versions.
    let other = trustloop(&data, &["policy", "apply", &file, "--tenant", "globex", "--json"]);
    let v: Value = serde_json::from_str(stdout(&other).trim()).expect("JSON");
    assert_eq!(v["version"], 1);

    // An invalid policy is refused and nothing is appended.
    let bad = write(dir.path(), "bad.yaml", "api_version: trustloop/v1\nname: prod\ntrust:\n  step: -1\n");
    let refused = trustloop(&data, &["policy", "apply", &bad, "--tenant", "acme"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains(&format!("{bad}:4:3: trust.step: step -1")), "{}", stderr(&refused));

    let events = policies(&data);
    assert_eq!(events.len(), 3, "{events:?}");
    let acme: Vec<&Value> = events.iter().filter(|e| e["tenant"] == "acme").collect();
    assert_eq!(acme.iter().map(|e| e["version"].as_i64()).collect::<Vec<_>>(), [Some(1), Some(2)]);
    for e in &events {
        assert_eq!(e["name"], "prod");
        assert_eq!(e["format"], "yaml");
        assert_eq!(e["key"], "prod");
        // The published digest is the document's.
        let doc = policy::parse(e["document"].as_str().expect("document")).expect("valid");
        assert_eq!(e["digest"].as_str(), Some(doc.digest().as_str()));
    }
    assert_eq!(acme[0]["document"].as_str(), Some(PROD), "the document is published as written");
    assert_ne!(acme[0]["digest"], acme[1]["digest"]);
}
