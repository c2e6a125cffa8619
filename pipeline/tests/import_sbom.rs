//! Black-box tests of `trustloop import sbom`: CycloneDX and SPDX documents into `inventory`, bad
//! components to `dlq`, the release taken from the document, and findings on the imported release.

use serde_json::Value;

mod support;
use support::*;

/// A CycloneDX 1.4 SBOM written for this test: nested components, a component without a purl, a
/// component whose purl does not parse, an npm package that is also nested (a duplicate).
const CYCLONEDX: &str = r#"{
  "bomFormat": "CycloneDX",
  "specVersion": "1.4",
  "version": 1,
  "metadata": {
    "timestamp": "2024-02-03T04:05:06Z",
    "component": {"type": "application", "name": "shop", "version": "2.3.1", "purl": "pkg:npm/shop@2.3.1"}
  },
  "components": [
    {"type": "library", "name": "express", "version": "4.17.1", "purl": "pkg:npm/express@4.17.1",
     "components": [
       {"type": "library", "name": "lodash", "version": "4.17.20", "purl": "pkg:npm/lodash@4.17.20", "scope": "optional"},
       {"type": "library", "group": "@babel", "name": "core", "version": "7.12.3", "purl": "pkg:npm/%40babel/core@7.12.3"}
     ]},
    {"type": "library", "name": "lodash", "version": "4.17.20", "purl": "pkg:npm/lodash@4.17.20"},
    {"type": "file", "name": "vendor.min.js"},
    {"type": "library", "name": "broken", "version": "1.0.0", "purl": "npm:broken@1.0.0"}
  ]
}"#;

/// An SPDX 2.3 SBOM written for this test: the described package is the release.
const SPDX: &str = r#"{
  "spdxVersion": "SPDX-2.3",
  "dataLicense": "CC0-1.0",
  "SPDXID": "SPDXRef-DOCUMENT",
  "name": "svc",
  "documentNamespace": "https://example.com/spdx/svc-0.9.0",
  "creationInfo": {"created": "2024-02-03T04:05:06Z", "creators": ["Tool: test"]},
  "documentDescribes": ["SPDXRef-svc"],
  "packages": [
    {"SPDXID": "SPDXRef-svc", "name": "svc", "versionInfo": "0.9.0", "downloadLocation": "NOASSERTION"},
    {"SPDXID": "SPDXRef-yaml", "name": "snakeyaml", "versionInfo": "1.26", "downloadLocation": "NOASSERTION",
     "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                       "referenceLocator": "pkg:maven/org.yaml/snakeyaml@1.26"}]},
    {"SPDXID": "SPDXRef-tool", "name": "tool", "versionInfo": "2", "downloadLocation": "NOASSERTION",
     "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                       "referenceLocator": "pkg:generic/tool@2"}]}
  ]
}"#;

/// An OSV advisory written for this test, affecting lodash before 4.17.21.
const ADVISORY: &str = r#"{"id":"TEST-2026-0002","modified":"2026-01-01T00:00:00Z","aliases":["CVE-2026-99998"],
  "affected":[{"package":{"ecosystem":"npm","name":"lodash"},
               "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"4.17.21"}]}]}]}"#;

#[test]
fn cyclonedx_sbom_into_inventory_with_bad_components_dead_lettered() {
    let data = tempfile::tempdir().expect("tempdir");
    let docs = tempfile::tempdir().expect("tempdir");
    let bom = docs.path().join("bom.json");
    std::fs::write(&bom, CYCLONEDX).expect("write");
    let out = trustloop(data.path(), &["import", "sbom", &bom.display().to_string(), "--env", "prod"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "a rejected component makes the exit status non-zero: {err}");
    assert!(err.contains("bom.json at /components/3/purl"), "{err}");
    assert!(err.contains("CycloneDX") && err.contains("shop@2.3.1 with 3 component(s)"), "{err}");
    assert!(err.contains("left out 1: 1 × no package URL"), "{err}");
    assert!(err.contains("imported 1 event(s) to inventory; rejected 1"), "{err}");

    let inventories = consume(data.path(), "inventory");
    assert_eq!(inventories.len(), 1, "{inventories:?}");
    let inv = &inventories[0];
    assert_eq!(inv["release_name"], "shop");
    assert_eq!(inv["release_version"], "2.3.1");
    assert_eq!(inv["environment"], "prod");
    assert_eq!(inv["format"], "cyclonedx");
    assert_eq!(inv["key"], "shop@2.3.1");
    assert_eq!(inv["event_time"], "2024-02-03T04:05:06.000000Z");
    assert!(inv["document_digest"].as_str().is_some_and(|d| d.len() == 64));
    let components: Vec<(&str, &str, &str, &str)> = inv["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default();
            (s("purl"), s("ecosystem"), s("name"), s("version"))
        })
        .collect();
    assert_eq!(
        components,
        vec![
            ("pkg:npm/%40babel/core@7.12.3", "npm", "@babel/core", "7.12.3"),
            ("pkg:npm/express@4.17.1", "npm", "express", "4.17.1"),
            ("pkg:npm/lodash@4.17.20", "npm", "lodash", "4.17.20"),
        ]
    );

    let letters = consume(data.path(), "dlq");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["source_topic"], "inventory");
    assert!(letters[0]["reason"].as_str().unwrap_or_default().contains("/components/3/purl"), "{letters:?}");

    // The imported release is matched against advisories like any other.
    let advisory = docs.path().join("TEST-2026-0002.json");
    std::fs::write(&advisory, ADVISORY).expect("write");
    let out = trustloop(data.path(), &["import", "osv", &advisory.display().to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = trustloop(data.path(), &["findings", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let findings = json_lines(&out);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["release"], "shop@2.3.1");
    assert_eq!(findings[0]["environment"], "prod");
    assert_eq!(findings[0]["advisory"], "TEST-2026-0002");
    assert_eq!(findings[0]["version"], "4.17.20");
}

#[test]
fn spdx_sbom_and_release_override() {
    let data = tempfile::tempdir().expect("tempdir");
    let docs = tempfile::tempdir().expect("tempdir");
    let sbom = docs.path().join("sbom.spdx.json");
    std::fs::write(&sbom, SPDX).expect("write");
    let out = trustloop(data.path(), &["import", "sbom", &sbom.display().to_string()]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("SPDX") && err.contains("svc@0.9.0 with 1 component(s)"), "{err}");
    assert!(err.contains("1 × purl type `generic` has no OSV ecosystem"), "{err}");

    let out = trustloop(data.path(), &["import", "sbom", &sbom.display().to_string(), "--release", "svc@1.0.0-rc1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = trustloop(data.path(), &["import", "--json", "sbom", &sbom.display().to_string(), "--release", "x@1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    assert_eq!(summary["imported"], 1);
    assert_eq!(summary["skipped_components"], 1);

    let inventories = consume(data.path(), "inventory");
    let keys: Vec<&str> = inventories.iter().map(|i| i["key"].as_str().unwrap_or_default()).collect();
    assert_eq!(keys.len(), 3);
    for k in ["svc@0.9.0", "svc@1.0.0-rc1", "x@1"] {
        assert!(keys.contains(&k), "{k} in {keys:?}");
    }
    for inv in &inventories {
        assert_eq!(inv["format"], "spdx");
        assert_eq!(inv["components"][0]["ecosystem"], "Maven");
        assert_eq!(inv["components"][0]["name"], "org.yaml:snakeyaml");
        assert_eq!(inv["components"].as_array().map(Vec::len), Some(1));
    }
    assert!(consume(data.path(), "dlq").is_empty());
}

#[test]
fn documents_that_cannot_be_imported_are_rejected() {
    let data = tempfile::tempdir().expect("tempdir");
    let docs = tempfile::tempdir().expect("tempdir");
    let cases = [
        // No release in the document and none given.
        (
            "nameless.json",
            r#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}"#,
            "nameless.json at /metadata/component: the document names no release",
        ),
        // Not an SBOM.
        ("advisory.json", ADVISORY, "neither a CycloneDX (`bomFormat`) nor an SPDX (`spdxVersion`) JSON document"),
        // Malformed CycloneDX.
        (
            "bad.json",
            r#"{"bomFormat":"CycloneDX","specVersion":"1.4","components":[{"name":"a","scope":"dev"}]}"#,
            "bad.json at /components/0/scope",
        ),
    ];
    for (name, text, message) in cases {
        let path = docs.path().join(name);
        std::fs::write(&path, text).expect("write");
        let out = trustloop(data.path(), &["import", "sbom", &path.display().to_string()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(message), "{name}: {err}");
        assert!(err.contains("imported 0 event(s)"), "{name}: {err}");
    }
    assert_eq!(consume(data.path(), "dlq").len(), cases.len());
    assert!(consume(data.path(), "inventory").is_empty());
    let out = trustloop(data.path(), &["import", "sbom", "/nonexistent/bom.json", "--release", "nover"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("expected NAME@VERSION"), "{}", stderr(&out));
}
