//! Black-box tests of `trustloop import vex`: a directory of OpenVEX (both layouts), CSAF and
//! CycloneDX VEX documents next to files that are not VEX and one broken document; the statements
//! are read back with `trustloop consume --topic vex`, the rejection with `--topic dlq`.

use std::path::Path;

use serde_json::Value;

mod support;
use support::*;

const OPENVEX: &str = r#"{
  "@context": "https://openvex.dev/ns/v0.2.0",
  "@id": "https://example.com/vex/app-2024-001",
  "author": "Example Security Team",
  "timestamp": "2024-04-02T09:00:00Z",
  "version": 1,
  "statements": [
    {
      "vulnerability": {"name": "CVE-2023-44487", "aliases": ["GHSA-qppj-fm5r-hxr3"]},
      "products": [{"@id": "pkg:oci/app@sha256%3A1234", "subcomponents": [{"@id": "pkg:golang/golang.org/x/net@v0.17.0"}]}],
      "status": "fixed"
    },
    {
      "vulnerability": {"name": "CVE-2024-24786"},
      "timestamp": "2024-04-01T08:00:00Z",
      "products": [{"@id": "pkg:oci/app@sha256%3A1234"}],
      "status": "not_affected",
      "justification": "vulnerable_code_not_in_execute_path",
      "impact_statement": "protojson is not used."
    }
  ]
}"#;

const OPENVEX_OLD: &str = r#"{
  "@context": "https://openvex.dev/ns",
  "@id": "https://example.com/vex/legacy-1",
  "author": "Legacy Tool",
  "timestamp": "2023-01-08T18:02:03-06:00",
  "version": "1",
  "statements": [
    {"vulnerability": "CVE-2023-12345", "products": ["pkg:apk/wolfi/git@2.39.0-r1?arch=x86_64"], "status": "under_investigation"}
  ]
}"#;

const CSAF: &str = r#"{
  "document": {
    "category": "csaf_vex",
    "csaf_version": "2.0",
    "publisher": {"category": "vendor", "name": "Example PSIRT", "namespace": "https://psirt.example.com"},
    "title": "Example VEX",
    "tracking": {"id": "EX-VEX-0001", "current_release_date": "2024-03-03T11:00:00Z",
                 "initial_release_date": "2024-03-03T11:00:00Z", "status": "final", "version": "1",
                 "revision_history": [{"date": "2024-03-03T11:00:00Z", "number": "1", "summary": "Initial"}]}
  },
  "product_tree": {
    "branches": [{"category": "vendor", "name": "Example", "branches": [{"category": "product_name", "name": "ABC",
      "branches": [{"category": "product_version", "name": "4.2",
        "product": {"name": "Example ABC 4.2", "product_id": "CSAFPID-0001",
                    "product_identification_helper": {"purl": "pkg:generic/example/abc@4.2"}}}]}]}]
  },
  "vulnerabilities": [{
    "cve": "CVE-2021-44228",
    "product_status": {"known_not_affected": ["CSAFPID-0001"]},
    "flags": [{"label": "component_not_present", "product_ids": ["CSAFPID-0001"]}],
    "threats": [{"category": "impact", "details": "No Java inside.", "product_ids": ["CSAFPID-0001"]}]
  }]
}"#;

const CYCLONEDX: &str = r#"{
  "bomFormat": "CycloneDX",
  "specVersion": "1.4",
  "version": 1,
  "metadata": {"timestamp": "2024-01-13T00:00:00Z",
               "component": {"bom-ref": "acme-app", "type": "application", "name": "acme-app", "version": "1.0.0",
                             "purl": "pkg:maven/com.acme/acme-app@1.0.0"}},
  "vulnerabilities": [{
    "id": "CVE-2020-25649",
    "source": {"name": "NVD", "url": "https://nvd.nist.gov/vuln/detail/CVE-2020-25649"},
    "analysis": {"state": "exploitable", "response": ["update"], "detail": "The XML parser is reachable."},
    "affects": [{"ref": "acme-app"}]
  }]
}"#;

const SBOM: &str = r#"{"bomFormat": "CycloneDX", "specVersion": "1.4", "version": 1,
  "components": [{"type": "library", "name": "left-pad", "version": "1.3.0", "purl": "pkg:npm/left-pad@1.3.0"}]}"#;

const BAD_STATUS: &str = r#"{
  "@context": "https://openvex.dev/ns/v0.2.0",
  "@id": "https://example.com/vex/broken",
  "author": "Someone",
  "timestamp": "2024-01-01T00:00:00Z",
  "statements": [{"vulnerability": {"name": "CVE-2024-0001"}, "products": [{"@id": "pkg:npm/a@1.0.0"}], "status": "probably_fine"}]
}"#;

fn write_fixtures(dir: &Path) {
    std::fs::create_dir_all(dir.join("vendor/csaf")).expect("mkdir");
    std::fs::write(dir.join("app.openvex.json"), OPENVEX).expect("write");
    std::fs::write(dir.join("legacy.json"), OPENVEX_OLD).expect("write");
    std::fs::write(dir.join("vendor/csaf/ex-vex-0001.json"), CSAF).expect("write");
    std::fs::write(dir.join("vendor/acme.cdx.json"), CYCLONEDX).expect("write");
    std::fs::write(dir.join("vendor/sbom.cdx.json"), SBOM).expect("write");
    std::fs::write(dir.join("README.md"), "# VEX documents\n").expect("write");
    std::fs::write(dir.join("broken.json"), BAD_STATUS).expect("write");
}

#[test]
fn import_vex_directory_then_consume() {
    let data = tempfile::tempdir().expect("tempdir");
    let docs = tempfile::tempdir().expect("tempdir");
    write_fixtures(docs.path());
    let docs_arg = docs.path().display().to_string();

    let out = trustloop(data.path(), &["import", "vex", "--tenant", "acme", &docs_arg]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a rejected document makes the exit status 1: {stderr}");
    assert!(stderr.contains("broken.json at /statements/0/status"), "path and pointer reported: {stderr}");
    assert!(
        stderr.contains("imported 5 event(s) to vex; rejected 1 (written to dlq); unsupported 2"),
        "the other documents are still imported; README and the SBOM are not VEX: {stderr}"
    );

    let events = consume(data.path(), "vex");
    assert_eq!(events.len(), 5, "{events:#?}");
    let by = |vuln: &str| -> &Value {
        events.iter().find(|e| e["vulnerability"] == vuln).unwrap_or_else(|| panic!("{vuln} missing: {events:#?}"))
    };
    for e in &events {
        assert_eq!(e["_topic"], "vex");
        assert_eq!(e["tenant"], "acme");
        assert_eq!(e["key"], e["vulnerability"]);
        assert_eq!(e["event_time"], e["statement_time"]);
        assert!(e["event_id"].as_str().is_some_and(|id| id.len() == 36));
        assert!(e["source"].as_str().is_some_and(|s| s.starts_with("vex:")), "{e}");
    }

    let fixed = by("CVE-2023-44487");
    assert_eq!(fixed["format"], "openvex");
    assert_eq!(fixed["document_id"], "https://example.com/vex/app-2024-001");
    assert_eq!(fixed["issuer"], "Example Security Team");
    assert_eq!(fixed["status"], "fixed");
    assert_eq!(fixed["aliases"], serde_json::json!(["GHSA-qppj-fm5r-hxr3"]));
    assert_eq!(fixed["products"], serde_json::json!(["pkg:oci/app@sha256%3A1234"]));
    assert_eq!(fixed["subcomponents"], serde_json::json!(["pkg:golang/golang.org/x/net@v0.17.0"]));
    assert_eq!(fixed["statement_time"], "2024-04-02T09:00:00.000000Z", "the document's timestamp");

    let not_affected = by("CVE-2024-24786");
    assert_eq!(not_affected["status"], "not_affected");
    assert_eq!(not_affected["justification"], "vulnerable_code_not_in_execute_path");
    assert_eq!(not_affected["impact_statement"], "protojson is not used.");
    assert_eq!(not_affected["statement_time"], "2024-04-01T08:00:00.000000Z");

    let legacy = by("CVE-2023-12345");
    assert_eq!(legacy["status"], "under_investigation");
    assert_eq!(legacy["products"], serde_json::json!(["pkg:apk/wolfi/git@2.39.0-r1?arch=x86_64"]));
    assert_eq!(legacy["statement_time"], "2023-01-09T00:02:03.000000Z");

    let csaf = by("CVE-2021-44228");
    assert_eq!(csaf["format"], "csaf");
    assert_eq!(csaf["document_id"], "EX-VEX-0001");
    assert_eq!(csaf["issuer"], "Example PSIRT");
    assert_eq!(csaf["status"], "not_affected");
    assert_eq!(csaf["justification"], "component_not_present");
    assert_eq!(csaf["impact_statement"], "No Java inside.");
    assert_eq!(csaf["products"], serde_json::json!(["pkg:generic/example/abc@4.2"]));

    let cdx = by("CVE-2020-25649");
    assert_eq!(cdx["format"], "cyclonedx");
    assert_eq!(cdx["status"], "affected");
    assert_eq!(cdx["products"], serde_json::json!(["pkg:maven/com.acme/acme-app@1.0.0"]), "bom-ref resolved to purl");
    assert_eq!(cdx["impact_statement"], "The XML parser is reachable.");
    assert_eq!(cdx["action_statement"], "update");

    let letters = consume(data.path(), "dlq");
    assert_eq!(letters.len(), 1, "{letters:#?}");
    assert_eq!(letters[0]["source_topic"], "vex");
    assert_eq!(letters[0]["tenant"], "acme");
    let reason = letters[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("broken.json at /statements/0/status") && reason.contains("probably_fine"), "{reason}");

    // Importing the same documents again appends the same events: same ids.
    let again = trustloop(data.path(), &["import", "vex", "--tenant", "acme", &docs_arg]);
    assert_eq!(again.status.code(), Some(1));
    let twice = consume(data.path(), "vex");
    assert_eq!(twice.len(), 10);
    let ids = |events: &[Value]| {
        let mut ids: Vec<String> =
            events.iter().map(|e| e["event_id"].as_str().unwrap_or_default().to_string()).collect();
        ids.sort();
        ids
    };
    let mut expected = ids(&events);
    expected.extend(ids(&events));
    expected.sort();
    assert_eq!(ids(&twice), expected, "re-importing gives the same event ids");
}

#[test]
fn import_vex_single_clean_file_succeeds_with_json_summary() {
    let data = tempfile::tempdir().expect("tempdir");
    let docs = tempfile::tempdir().expect("tempdir");
    let file = docs.path().join("ex.json");
    std::fs::write(&file, CSAF).expect("write");
    let out = trustloop(data.path(), &["import", "--json", "vex", &file.display().to_string()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = json_lines(&out);
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0]["imported"], 1);
    assert_eq!(summary[0]["rejected"], 0);
    assert_eq!(summary[0]["unsupported"], 0);
    let events = consume(data.path(), "vex");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["tenant"], "default");
    assert!(consume(data.path(), "dlq").is_empty());

    let missing = docs.path().join("nope");
    let out = trustloop(data.path(), &["import", "vex", &missing.display().to_string()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such file or directory"));
}
