//! Black-box tests of `trustloop import lockfile`: a monorepo of lockfiles of several kinds into one
//! release inventory (scopes, what is not pinned left out with its reason, a broken file rejected
//! with its line and the rest imported), the per-ecosystem summary, findings on the release, and the
//! blind spots `findings --blind-spots` and SQL list.

use std::path::Path;

use serde_json::Value;

mod support;
use support::*;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

/// An npm project: lodash (a runtime dependency) and jest (a dev dependency).
const PACKAGE_LOCK: &str = r#"{
  "name": "web",
  "version": "1.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": {"name": "web", "version": "1.0.0", "dependencies": {"lodash": "^4.17.0"}, "devDependencies": {"jest": "^29.0.0"}},
    "node_modules/lodash": {"version": "4.17.20"},
    "node_modules/jest": {"version": "29.7.0", "dev": true}
  }
}
"#;

/// lodash below 4.17.21.
const ADVISORY: &str = r#"{"id":"TEST-2026-0101","modified":"2026-01-01T00:00:00Z","aliases":["CVE-2026-99101"],
  "affected":[{"package":{"ecosystem":"npm","name":"lodash"},
               "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"4.17.21"}]}]}]}"#;

#[test]
fn a_monorepo_of_lockfiles_is_one_release_with_its_blind_spots() {
    let data = tempfile::tempdir().expect("tempdir");
    let repo = tempfile::tempdir().expect("tempdir");
    write(repo.path(), "web/package-lock.json", PACKAGE_LOCK);
    write(repo.path(), "api/requirements.txt", "flask==2.0.1 --hash=sha256:00\nrequests>=2.0\n");
    write(repo.path(), "tools/pnpm-lock.yaml", "lockfileVersion: '9.0'\npackages:\n  - [not, a, map\n");
    write(repo.path(), "web/node_modules/left-pad/package-lock.json", "{}");
    let advisory = repo.path().join("advisory.json");
    std::fs::write(&advisory, ADVISORY).expect("write");
    assert!(trustloop(data.path(), &["import", "osv", &advisory.display().to_string()]).status.success());

    let root = repo.path().display().to_string();
    let out =
        trustloop(data.path(), &["import", "--json", "lockfile", &root, "--release", "shop@1.0.0", "--env", "prod"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "the broken pnpm-lock.yaml is rejected: {err}");
    assert!(err.contains("tools/pnpm-lock.yaml at line"), "the rejection names the file and line: {err}");
    let summary: Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    assert_eq!((summary["imported"].as_u64(), summary["rejected"].as_u64()), (Some(1), Some(1)), "{summary}");
    assert_eq!(summary["ecosystems"]["npm"]["components"], 2, "{summary}");
    assert_eq!(summary["ecosystems"]["PyPI"]["components"], 1, "{summary}");
    assert_eq!(summary["ecosystems"]["PyPI"]["left_out"]["no pinned version"], 1, "{summary}");
    assert_eq!(summary["skipped_components"], 1, "{summary}");

    let out = trustloop(data.path(), &["consume", "--topic", "inventory", "--from-beginning"]);
    let inventories = json_lines(&out);
    assert_eq!(inventories.len(), 1, "{inventories:?}");
    let inv = &inventories[0];
    assert_eq!((inv["key"].as_str(), inv["format"].as_str()), (Some("shop@1.0.0"), Some("lockfile")));
    let scopes: Vec<(String, Value)> = inv["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| (c["purl"].as_str().unwrap_or_default().to_string(), c["scope"].clone()))
        .collect();
    assert_eq!(
        scopes,
        [
            ("pkg:npm/jest@29.7.0".to_string(), Value::from("dev")),
            ("pkg:npm/lodash@4.17.20".to_string(), Value::Null),
            ("pkg:pypi/flask@2.0.1".to_string(), Value::Null),
        ]
    );
    let dlq = json_lines(&trustloop(data.path(), &["consume", "--topic", "dlq", "--from-beginning"]));
    assert_eq!(dlq.len(), 1, "{dlq:?}");

    let findings = json_lines(&trustloop(data.path(), &["findings", "--json"]));
    let found: Vec<(&str, &str)> = findings
        .iter()
        .map(|f| (f["advisory"].as_str().unwrap_or_default(), f["package"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(found, [("TEST-2026-0101", "pkg:npm/lodash")]);

    // Blind spots: the unpinned requirement (left out) and flask (no PyPI advisory in the log);
    // lodash and jest are covered by the npm advisory's source.
    let out = trustloop(data.path(), &["findings", "--blind-spots", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let spots: Vec<(String, String)> = json_lines(&out)
        .iter()
        .map(|s| {
            (
                s["component"].as_str().unwrap_or_default().to_string(),
                s["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(spots.len(), 2, "{spots:?}");
    assert!(spots[0].0.contains("requests") && spots[0].1.contains("no pinned version"), "{spots:?}");
    assert_eq!(spots[1].0, "pkg:pypi/flask@2.0.1", "{spots:?}");
    assert!(spots[1].1.contains("no advisory source"), "{spots:?}");

    // SQL lists what was left out, with its reason.
    let out = trustloop(data.path(), &["sql", "SELECT release_name, left_out FROM inventory", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("requests") && text.contains("no pinned version"), "{text}");
}

#[test]
fn kinds_can_be_forced_and_unknown_ones_are_refused() {
    let data = tempfile::tempdir().expect("tempdir");
    let repo = tempfile::tempdir().expect("tempdir");
    write(repo.path(), "deps.txt", "django==4.2.1\n");
    let file = repo.path().join("deps.txt").display().to_string();
    let out = trustloop(data.path(), &["import", "lockfile", &file, "--release", "a@1"]);
    assert!(!out.status.success(), "deps.txt is no lockfile by name or content: {}", stderr(&out));
    let out = trustloop(data.path(), &["import", "lockfile", &file, "--release", "a@1", "--kind", "requirements"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = trustloop(data.path(), &["import", "lockfile", &file, "--release", "a@1", "--kind", "nope"]);
    let err = stderr(&out);
    assert!(!out.status.success() && err.contains("pnpm-lock"), "the error lists the kinds: {err}");
}
