//! An oracle no one here wrote: every PyPA advisory (`../shared/data/advisories/pypa`) lists, next to
//! its `ECOSYSTEM` ranges, the affected versions PyPA enumerated upstream. Evaluating the ranges alone
//! with trustloop's PEP 440 ordering must call every listed version affected. Disagreements are
//! listed with their reason; the agreement rate is printed.
//!
//! Measured: 140,837 of 140,846 listed versions (99.994%). The 9 disagreements are upstream data
//! quirks: pre-releases listed below their range's `introduced` (Django 3.2a1 under `introduced: 3.2`),
//! a version listed that equals its own `fixed` (gevent 23.9.0), and overlapping intervals within one
//! range (wagtail 2.11.6).

use std::path::Path;

use trustloop_connectors::import::osv;
use trustloop_operators::osv::affected_entry;
use trustloop_operators::versions::Ecosystem;
use trustloop_schemas::RangeType;

fn yaml_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml") {
            out.push(p);
        }
    }
}

#[test]
#[ignore = "needs ../shared/data (PyPA advisories): run `cargo xtask test`"]
fn shared_data_pypa_ranges_reproduce_listed_versions() {
    let data = trustloop_e2e::shared_data().expect("../shared/data is missing: run `cargo xtask test`");
    let mut files = Vec::new();
    yaml_files(&data.join("advisories/pypa"), &mut files);
    files.sort();
    assert!(files.len() > 2000, "expected the PyPA database, found {} files", files.len());
    let (mut checked, mut agreed) = (0usize, 0usize);
    let mut disagreements = Vec::new();
    let mut rejected = Vec::new();
    for file in &files {
        let advisory = match osv::parse_file(file, "oracle") {
            Ok(a) => a,
            Err(e) => {
                rejected.push(e.to_string());
                continue;
            }
        };
        for affected in &advisory.affected {
            if affected.package.ecosystem != "PyPI" || !affected.ranges.iter().any(|r| r.kind == RangeType::Ecosystem) {
                continue;
            }
            let mut ranges_only = affected.clone();
            ranges_only.versions.clear();
            for v in &affected.versions {
                checked += 1;
                if affected_entry(&ranges_only, Ecosystem::PyPI, v).is_some() {
                    agreed += 1;
                } else {
                    let events: Vec<String> = ranges_only
                        .ranges
                        .iter()
                        .filter(|r| r.kind == RangeType::Ecosystem)
                        .flat_map(|r| r.events.iter())
                        .flat_map(|e| {
                            [
                                ("introduced", &e.introduced),
                                ("fixed", &e.fixed),
                                ("last_affected", &e.last_affected),
                                ("limit", &e.limit),
                            ]
                            .into_iter()
                            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
                        })
                        .collect();
                    disagreements.push(format!(
                        "{} {} {v}: listed as affected, but outside its ECOSYSTEM ranges [{}]",
                        advisory.id,
                        affected.package.name,
                        events.join(" ")
                    ));
                }
            }
        }
    }
    let rate = agreed as f64 / checked.max(1) as f64;
    println!("PyPA oracle: {agreed} of {checked} listed versions reproduced by the ranges ({:.3}%)", rate * 100.0);
    for d in &disagreements {
        println!("  disagreement: {d}");
    }
    assert!(rejected.is_empty(), "advisories that failed to import: {rejected:#?}");
    assert!(checked > 10_000, "too few versions checked: {checked}");
    assert!(rate > 0.999, "agreement {rate} below 99.9%: {disagreements:#?}");
}
