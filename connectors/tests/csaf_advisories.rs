//! The CSAF advisory reader (`import::csaf_advisory`) against an oracle that reads the same
//! documents with `serde_json` alone: on the repository's fixtures (always) and on the real CSAF
//! advisories of `../shared/data/vex/csaf/` — Red Hat, Cisco, BSI — (ignored by default: run with
//! `TRUSTLOOP_SHARED_DATA=/work/shared/data cargo test -p trustloop-connectors --test csaf_advisories
//! -- --include-ignored`).
//!
//! For each document the oracle derives, from the document itself: which files are advisories; per
//! vulnerability not rejected, the advisory id (the document id and the vulnerability's CVE, else its
//! first id, else its index), that its CVE and ids are its aliases, the CVSS v3 (else
//! v2) vectors, the event time and the file's digest; for every `fixed`/`first_fixed` product with
//! a purl and a version, a fixed event with that version for that purl's package; for every
//! affected product with a purl and a version, that version; and the products of the `affected` and
//! `fixed` lists without a purl (counted apart from the reader's resolution) are exactly the ones
//! listed as unresolved for a CPE or a name only.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};
use trustloop_connectors::import::csaf_advisory::{self, CsafAdvisories, UnresolvedReason};
use trustloop_operators::purl::Purl;
use trustloop_schemas::{Advisory, EventTime};

fn shared_data() -> PathBuf {
    match std::env::var_os("TRUSTLOOP_SHARED_DATA") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"),
    }
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/csaf")
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    out.sort();
    out
}

/// A product as the oracle sees it: its own helper, or the one of the component a relationship
/// without a purl of its own names.
#[derive(Default, Clone)]
struct OracleProduct {
    purl: Option<String>,
    cpe: Option<String>,
    /// `product_reference` of the relationship that defines it.
    component: Option<String>,
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

fn oracle_products(doc: &Value) -> HashMap<String, OracleProduct> {
    let mut out: HashMap<String, OracleProduct> = HashMap::new();
    let mut add = |p: &Value, component: Option<String>| {
        let Some(id) = p.get("product_id").and_then(Value::as_str) else { return };
        out.entry(id.to_string()).or_insert(OracleProduct {
            purl: str_at(p, "/product_identification_helper/purl").map(str::to_string),
            cpe: str_at(p, "/product_identification_helper/cpe").map(str::to_string),
            component,
        });
    };
    let mut stack: Vec<&Value> = vec![doc.pointer("/product_tree/branches").unwrap_or(&Value::Null)];
    let mut branch_products = Vec::new();
    while let Some(Value::Array(branches)) = stack.pop() {
        for b in branches {
            if let Some(p) = b.get("product") {
                branch_products.push(p);
            }
            if let Some(children) = b.get("branches") {
                stack.push(children);
            }
        }
    }
    for p in branch_products {
        add(p, None);
    }
    for p in doc.pointer("/product_tree/full_product_names").and_then(Value::as_array).into_iter().flatten() {
        add(p, None);
    }
    for r in doc.pointer("/product_tree/relationships").and_then(Value::as_array).into_iter().flatten() {
        let component = r.get("product_reference").and_then(Value::as_str).map(str::to_string);
        if let Some(p) = r.get("full_product_name") {
            add(p, component);
        }
    }
    out
}

/// The product that names the package of product `id` (the component of a relationship without a
/// purl of its own).
fn package_of<'a>(products: &'a HashMap<String, OracleProduct>, id: &str) -> Option<&'a OracleProduct> {
    let p = products.get(id)?;
    match (&p.purl, &p.component) {
        (None, Some(component)) => products.get(component),
        _ => Some(p),
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
}

/// Whether the vulnerability at `index` was rejected.
fn rejected(doc: &CsafAdvisories, index: usize) -> bool {
    let at = format!("/vulnerabilities/{index}");
    doc.rejected.iter().any(|e| e.pointer == at || e.pointer.starts_with(&format!("{at}/")))
}

/// Checks the reader's view of one file against the oracle's; returns (advisories, unresolved).
fn check(path: &Path) -> Option<(usize, usize)> {
    let bytes = std::fs::read(path).expect("read");
    let name = path.display().to_string();
    let raw: Value = serde_json::from_slice(&bytes).expect("the documents are JSON");
    let vulnerabilities = raw.get("vulnerabilities").and_then(Value::as_array).cloned().unwrap_or_default();
    let category = str_at(&raw, "/document/category").unwrap_or_default();
    let expect_advisory = category != "csaf_vex" && !vulnerabilities.is_empty();
    let read = csaf_advisory::read_file(path, "t").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read.is_some(), expect_advisory, "{name}: an advisory?");
    let doc = read?;

    let tracking_id = str_at(&raw, "/document/tracking/id").expect("tracking id");
    assert_eq!(doc.document_id, tracking_id);
    let time =
        EventTime::parse_rfc3339(str_at(&raw, "/document/tracking/current_release_date").expect("date")).expect("time");
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
    let products = oracle_products(&raw);
    let by_id: HashMap<&str, &Advisory> = doc.advisories.iter().map(|a| (a.id.as_str(), a)).collect();
    assert_eq!(by_id.len(), doc.advisories.len(), "{name}: distinct advisory ids");

    let mut imported = 0;
    let mut without_purl: BTreeSet<(String, bool)> = BTreeSet::new();
    for (i, v) in vulnerabilities.iter().enumerate() {
        if rejected(&doc, i) {
            continue;
        }
        imported += 1;
        let ids: Vec<&str> = str_at(v, "/cve")
            .into_iter()
            .chain(v.get("ids").and_then(Value::as_array).into_iter().flatten().filter_map(|x| str_at(x, "/text")))
            .collect();
        let id = match ids.first() {
            Some(first) => format!("{tracking_id}#{first}"),
            None => format!("{tracking_id}#{i}"),
        };
        let a = by_id.get(id.as_str()).unwrap_or_else(|| panic!("{name}: no advisory {id}"));
        assert_eq!(a.envelope.event_time, time, "{name} {id}");
        assert_eq!(a.modified, time, "{name} {id}");
        for alias in &ids {
            assert!(a.aliases.iter().any(|x| x == alias), "{name} {id}: aliases {:?}", a.aliases);
        }
        assert!(!a.aliases.iter().any(|x| x == tracking_id), "{name} {id}: the document is not an alias");
        let db: Value = serde_json::from_str(a.database_specific.as_deref().expect("database_specific")).expect("json");
        assert_eq!(db["document_digest"], Value::String(digest.clone()), "{name} {id}");
        assert_eq!(db["source"], "csaf");
        assert_eq!(db.get("cwe").and_then(|c| c.get("id")), v.pointer("/cwe/id"), "{name} {id}");

        let scores = v.get("scores").and_then(Value::as_array).cloned().unwrap_or_default();
        let vectors = |key: &str| -> BTreeSet<String> {
            scores.iter().filter_map(|s| str_at(s, &format!("/{key}/vectorString"))).map(str::to_string).collect()
        };
        let (kind, expected) = if vectors("cvss_v3").is_empty() {
            ("CVSS_V2", vectors("cvss_v2"))
        } else {
            ("CVSS_V3", vectors("cvss_v3"))
        };
        let got: BTreeSet<String> = a.severity.iter().map(|s| s.score.clone()).collect();
        assert_eq!(got, expected, "{name} {id}: severity");
        assert!(a.severity.iter().all(|s| s.kind == kind), "{name} {id}: {kind}");

        for (key, fixed) in [
            ("fixed", true),
            ("first_fixed", true),
            ("known_affected", false),
            ("first_affected", false),
            ("last_affected", false),
        ] {
            for product in strings(v.pointer(&format!("/product_status/{key}"))) {
                let Some(p) = package_of(&products, &product) else { panic!("{name}: {product} undefined") };
                let Some(purl) = &p.purl else {
                    without_purl.insert((product.clone(), p.cpe.is_some()));
                    continue;
                };
                let Ok(purl) = purl.parse::<Purl>() else { continue };
                let (Some(version), Some(_)) = (purl.osv_version(), purl.osv_ecosystem()) else { continue };
                let entries: Vec<_> = a
                    .affected
                    .iter()
                    .filter(|e| {
                        e.package.name == purl.osv_name()
                            && e.package.ecosystem.starts_with(purl.osv_ecosystem().unwrap_or_default())
                    })
                    .collect();
                assert!(!entries.is_empty(), "{name} {id}: no entry for {product}");
                let found = entries.iter().any(|e| match key {
                    "last_affected" => e
                        .ranges
                        .iter()
                        .any(|r| r.events.iter().any(|ev| ev.last_affected.as_deref() == Some(version.as_str()))),
                    _ if fixed => {
                        e.ranges.iter().any(|r| r.events.iter().any(|ev| ev.fixed.as_deref() == Some(version.as_str())))
                    }
                    _ => e.versions.contains(&version),
                });
                assert!(found, "{name} {id}: {key} {product} at {version}");
            }
        }
    }
    assert_eq!(doc.advisories.len(), imported, "{name}");

    // The products without a purl are exactly those listed for a CPE or a name only.
    let listed: BTreeSet<(String, bool)> = doc
        .unresolved
        .iter()
        .filter(|u| matches!(u.reason, UnresolvedReason::CpeOnly | UnresolvedReason::NameOnly))
        .map(|u| (u.product_id.clone(), u.reason == UnresolvedReason::CpeOnly))
        .collect();
    assert_eq!(listed, without_purl, "{name}: products without a purl");
    Some((doc.advisories.len(), doc.unresolved.len()))
}

#[test]
fn fixtures_agree_with_the_oracle() {
    let mut advisories = 0;
    for path in json_files(&fixtures()) {
        if let Some((a, _)) = check(&path) {
            advisories += a;
        }
    }
    assert_eq!(advisories, 4, "three in the example, one in the broken document");
}

#[test]
#[ignore = "needs ../shared/data (shared_data)"]
fn real_advisories_shared_data() {
    let dir = shared_data().join("vex/csaf");
    let (mut documents, mut advisories, mut unresolved) = (0, 0, 0);
    for path in json_files(&dir) {
        let doc = csaf_advisory::read_file(&path, "t").expect("read");
        if let Some(doc) = &doc {
            assert!(doc.rejected.is_empty(), "{}: {:?}", path.display(), doc.rejected);
            let reasons = csaf_advisory::count_by_reason(&doc.unresolved);
            eprintln!(
                "{:<32} {:<16} {:>3} advisories, {:>4} unresolved {reasons:?}",
                path.file_name().and_then(|n| n.to_str()).unwrap_or_default(),
                doc.document_id,
                doc.advisories.len(),
                doc.unresolved.len()
            );
        }
        if let Some((a, u)) = check(&path) {
            documents += 1;
            advisories += a;
            unresolved += u;
        }
    }
    eprintln!("{documents} advisories documents: {advisories} advisories, {unresolved} unresolved products");
    assert!(documents > 0, "no CSAF advisory in {}", dir.display());
    // The VEX profile is not read as advisories.
    for path in json_files(&dir.join("csaf_vex")) {
        assert!(csaf_advisory::read_file(&path, "t").expect("read").is_none(), "{}", path.display());
    }
}
