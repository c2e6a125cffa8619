//! Black-box tests of `trustloop import csaf` on the connectors' CSAF advisory fixtures
//! (`connectors/tests/fixtures/csaf/`: an advisory with products of every kind, one with a broken
//! product tree, a README that is not CSAF): advisories read back with `trustloop consume --topic
//! advisories`, rejections with `--topic dlq`, unresolved products in the summary.

use std::path::{Path, PathBuf};

mod support;
use support::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../connectors/tests/fixtures/csaf")
}

#[test]
fn import_csaf_directory_then_consume() {
    let data = tempfile::tempdir().expect("tempdir");
    let dir = fixtures().display().to_string();
    let out = trustloop(data.path(), &["import", "csaf", "--tenant", "acme", &dir]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "rejected vulnerabilities make the exit status 1: {stderr}");
    assert!(
        stderr.contains("imported 4 event(s) to advisories; rejected 4 (written to dlq); unsupported 1"),
        "three advisories of the example, one of the broken document; the README is not CSAF: {stderr}"
    );
    assert!(
        stderr.contains("6 product(s) not placed in an OSV ecosystem")
            && stderr.contains("1 × cpe_only, 2 × name_only, 1 × no_osv_ecosystem, 1 × no_version"),
        "{stderr}"
    );
    assert!(
        stderr.contains("broken-product-tree.json at /vulnerabilities/0/product_status/known_affected/0"),
        "{stderr}"
    );

    let events = consume(data.path(), "advisories");
    let ids: Vec<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(
        ids,
        [
            "EXSA-2024-0002#CVE-2024-20002",
            "EXSA-2024-0001#CVE-2024-10001",
            "EXSA-2024-0001#GHSA-aaaa-bbbb-cccc",
            "EXSA-2024-0001#2"
        ],
        "each advisory keeps its document's identity; the CVE is an alias"
    );
    assert_eq!(events[0]["aliases"], serde_json::json!(["CVE-2024-20002"]));
    for e in &events {
        assert_eq!(e["tenant"], "acme");
        assert_eq!(e["key"], e["id"]);
        assert!(e["source"].as_str().is_some_and(|s| s.starts_with("csaf:")), "{e}");
    }
    let openssl = &events[2]["affected"][0];
    assert_eq!(openssl["package"]["ecosystem"], "Red Hat:enterprise_linux:9::appstream");
    assert_eq!(openssl["ranges"][0]["events"][1]["fixed"], "1:3.0.7-27.el9");

    let letters = consume(data.path(), "dlq");
    assert_eq!(letters.len(), 4, "{letters:#?}");
    assert!(letters.iter().all(|l| l["source_topic"] == "advisories"));
    let reason = letters[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("/product_tree/relationships/1/product_reference"), "{reason}");
}

#[test]
fn import_csaf_json_summary_lists_unresolved_products() {
    let data = tempfile::tempdir().expect("tempdir");
    let file = fixtures().join("example-advisory.json").display().to_string();
    let out = trustloop(data.path(), &["import", "--json", "csaf", &file]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = json_lines(&out);
    assert_eq!(summary.len(), 1);
    assert_eq!((summary[0]["imported"].as_u64(), summary[0]["rejected"].as_u64()), (Some(3), Some(0)));
    let unresolved = summary[0]["unresolved_products"].as_array().expect("listed");
    assert_eq!(unresolved.len(), 6);
    assert_eq!(unresolved[2]["product_id"], "APPLIANCE-4.2");
    assert_eq!(unresolved[2]["reason"], "cpe_only");
    assert_eq!(unresolved[2]["document_id"], "EXSA-2024-0001");
    assert!(consume(data.path(), "dlq").is_empty());
}
