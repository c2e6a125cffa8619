//! The KEV reader against CISA's real catalog in ../shared/data (ignored by default: run with
//! `cargo test -p trustloop-formats --test kev_shared_data -- --include-ignored`).
//!
//! Oracle: the catalog's own JSON, read generically — every entry's `cveID` and `dateAdded` — and its
//! stated `count`.

use std::path::PathBuf;

use serde_json::Value;
use trustloop_formats::intel::kev;

fn catalog_path() -> PathBuf {
    let data = match std::env::var_os("TRUSTLOOP_SHARED_DATA") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    data.join("advisories/kev/known_exploited_vulnerabilities.json")
}

#[test]
#[ignore = "needs ../shared/data (advisories/kev)"]
fn every_entry_of_the_real_catalog_is_read() {
    let path = catalog_path();
    let text = std::fs::read_to_string(&path).expect("the KEV catalog of ../shared/data");
    let doc: Value = serde_json::from_str(&text).expect("json");
    let expected: Vec<(String, String)> = doc["vulnerabilities"]
        .as_array()
        .expect("vulnerabilities")
        .iter()
        .map(|v| (v["cveID"].as_str().unwrap_or("").to_string(), v["dateAdded"].as_str().unwrap_or("").to_string()))
        .collect();
    assert_eq!(doc["count"].as_u64(), Some(expected.len() as u64), "the catalog's own count");

    let catalog = kev::parse(&text, "known_exploited_vulnerabilities.json").expect("catalog");
    assert!(catalog.rejected.is_empty(), "{:?}", catalog.rejected);
    assert_eq!(catalog.version, doc["catalogVersion"].as_str().unwrap_or(""));
    let got: Vec<(String, String)> = catalog.entries.iter().map(|e| (e.cve_id.clone(), e.date_added.clone())).collect();
    assert_eq!(got, expected);
}

#[test]
#[ignore = "needs ../shared/data (advisories/kev)"]
fn a_truncated_real_catalog_is_an_error_at_its_end() {
    let text = std::fs::read_to_string(catalog_path()).expect("the KEV catalog of ../shared/data");
    let cut = &text[..text.len() * 2 / 3];
    let lines = cut.lines().count() as u32;
    let e = kev::parse(cut, "kev.json").expect_err("truncated");
    assert!(
        matches!(e.location, trustloop_formats::Location::LineColumn(l, _) if l >= lines),
        "{e} (the cut is {lines} lines)"
    );
}
