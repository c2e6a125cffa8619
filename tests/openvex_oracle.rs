//! An oracle no one here wrote: vexctl's own examples (`../shared/data/vex/openvex/sarif/`). Three
//! scanners (grype, trivy, snyk) scanned one nginx image; OpenVEX documents say some of those
//! vulnerabilities do not affect the image. Filtering the scan results through trustloop's VEX
//! consensus must leave the counts vexctl's tests expect: grype 99 → 98 with `sample-1statement`,
//! → 96 with `sample-2vulns`; trivy 99 → 98 → 96; snyk 65 → 64 → 63 (snyk's results name
//! vulnerabilities by Snyk ids, matched through the statements' aliases).
//!
//! The documents go through trustloop's OpenVEX importer; the scan results stand in for findings of
//! one release — the image, `nginx@sha256:13d2…`, which the statements' `pkg:oci` product names.
//! A result is filtered when the consensus for it is `not_affected` or `fixed`, as vexctl does.

use std::path::Path;

use trustloop_connectors::import::vex;
use trustloop_operators::vex::{IssuerTrust, Subject, VexIndex};
use trustloop_schemas::VexStatus;

const IMAGE_DIGEST: &str = "sha256:13d22ec63300e16014d4a42aed735207a8b33c223cff19627dd3042e5a10a3a0";

/// The vulnerability id of each result of a SARIF report. grype's rule ids append the package
/// (`CVE-2023-27103-libde265-0`): a leading CVE or GHSA id is taken as the vulnerability.
fn sarif_vulnerabilities(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("read SARIF");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("SARIF is JSON");
    let results = doc["runs"][0]["results"].as_array().expect("runs[0].results");
    results
        .iter()
        .map(|r| {
            let rule = r["ruleId"].as_str().expect("ruleId");
            let parts: Vec<&str> = rule.split('-').collect();
            match parts.first() {
                Some(&"CVE") if parts.len() > 3 => parts[..3].join("-"),
                Some(&"GHSA") if parts.len() > 4 => parts[..4].join("-"),
                _ => rule.to_string(),
            }
        })
        .collect()
}

/// How many results are left after the statements of `vex_doc` (none: all of them).
fn remaining(results: &[String], vex_doc: Option<&Path>, release: (&str, &str)) -> usize {
    let mut index = VexIndex::default();
    if let Some(doc) = vex_doc {
        let statements = vex::parse_file(doc, "oracle").expect("the OpenVEX importer reads vexctl's examples");
        assert!(!statements.is_empty());
        for s in &statements {
            index.insert(s);
        }
    }
    let trust = IssuerTrust::default();
    let subject = Subject { release_name: release.0, release_version: release.1, component: None };
    results
        .iter()
        .filter(|vuln| {
            let status = index.consensus(&index.aliases().group(vuln), &subject, &trust).map(|c| c.status);
            !matches!(status, Some(VexStatus::NotAffected | VexStatus::Fixed))
        })
        .count()
}

#[test]
#[ignore = "needs ../shared/data (vexctl's SARIF and OpenVEX examples): run `cargo xtask test`"]
fn shared_data_openvex_filters_scan_results_as_vexctl() {
    let data = trustloop_e2e::shared_data().expect("../shared/data is missing: run `cargo xtask test`");
    let dir = data.join("vex/openvex/sarif");
    let one = dir.join("sample-1statement.openvex.json");
    let two = dir.join("sample-2vulns.openvex.json");
    let image = ("nginx", IMAGE_DIGEST);
    for (scanner, expected) in [("grype", [99, 98, 96]), ("trivy", [99, 98, 96]), ("snyk", [65, 64, 63])] {
        let results = sarif_vulnerabilities(&dir.join(format!("nginx-{scanner}.sarif.json")));
        let got = [
            remaining(&results, None, image),
            remaining(&results, Some(&one), image),
            remaining(&results, Some(&two), image),
        ];
        assert_eq!(got, expected, "{scanner}: results left with no VEX, sample-1statement, sample-2vulns");
        // The statements are about this image only: another image keeps every result.
        assert_eq!(remaining(&results, Some(&two), ("nginx", "sha256:0000")), expected[0], "{scanner}");
    }
    // A history of statements about one vulnerability: the latest still says not_affected.
    let grype = sarif_vulnerabilities(&dir.join("nginx-grype.sarif.json"));
    assert_eq!(remaining(&grype, Some(&dir.join("sample-history.openvex.json")), image), 98);
}
