//! Every case of google/osv-scalibr's version test data (`../shared/data/versions/`) for the
//! ecosystems trustloop orders. The data is not shipped with trustloop: these tests are ignored
//! unless it is present (`cargo xtask test` provides it).

use std::cmp::Ordering;
use std::path::PathBuf;

fn data_dir() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("TRUSTLOOP_SHARED_DATA") {
        return Some(PathBuf::from(p).join("versions")).filter(|p| p.is_dir());
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/versions");
    p.is_dir().then_some(p)
}

/// Checks every `a OP b` line of `file` with `compare`, both ways; returns the number of cases.
fn check(file: &str, compare: fn(&str, &str) -> Ordering) -> usize {
    let dir = data_dir().expect("../shared/data is missing: run `cargo xtask test`, or set TRUSTLOOP_SHARED_DATA");
    let text = std::fs::read_to_string(dir.join(file)).expect("read oracle file");
    let mut failures = Vec::new();
    let mut cases = 0;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("//") || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [a, op, b] = parts[..] else { continue };
        let want = match op {
            "<" => Ordering::Less,
            "=" => Ordering::Equal,
            ">" => Ordering::Greater,
            _ => continue,
        };
        cases += 1;
        if compare(a, b) != want || compare(b, a) != want.reverse() {
            failures.push(format!("{file}:{}: {line} (got {:?})", n + 1, compare(a, b)));
        }
    }
    assert!(failures.is_empty(), "{} of {cases} cases fail:\n{}", failures.len(), failures.join("\n"));
    assert!(cases > 0);
    cases
}

#[test]
#[ignore = "needs ../shared/data (osv-scalibr version cases): run `cargo xtask test`"]
fn shared_data_semver_versions() {
    check("semver-versions.txt", super::semver::compare);
}

#[test]
#[ignore = "needs ../shared/data (osv-scalibr version cases): run `cargo xtask test`"]
fn shared_data_pypi_versions() {
    check("pypi-versions.txt", super::pypi::compare);
}

#[test]
#[ignore = "needs ../shared/data (osv-scalibr version cases): run `cargo xtask test`"]
fn shared_data_debian_versions() {
    check("debian-versions.txt", super::debian::compare);
}

#[test]
#[ignore = "needs ../shared/data (osv-scalibr version cases): run `cargo xtask test`"]
fn shared_data_alpine_versions() {
    check("alpine-versions.txt", super::alpine::compare);
}

#[test]
#[ignore = "needs ../shared/data (osv-scalibr version cases): run `cargo xtask test`"]
fn shared_data_maven_versions() {
    check("maven-versions.txt", super::maven::compare);
}

#[test]
#[ignore = "needs ../shared/data (osv-scalibr version cases): run `cargo xtask test`"]
fn shared_data_nuget_versions() {
    check("nuget-versions.txt", super::nuget::compare);
}

#[test]
#[ignore = "needs ../shared/data (osv-scalibr version cases): run `cargo xtask test`"]
fn shared_data_rubygems_versions() {
    check("rubygems-versions.txt", super::rubygems::compare);
}

#[test]
#[ignore = "needs ../shared/data (osv-scalibr version cases): run `cargo xtask test`"]
fn shared_data_packagist_versions() {
    check("packagist-versions.txt", super::packagist::compare);
}
