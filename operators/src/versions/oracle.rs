//! Every case of google/osv-scalibr's version test data (`../shared/data/versions/`) for the
//! ecosystems trustloop orders. The data is not shipped with trustloop: these tests are ignored
//! unless it is present (`cargo xtask test` provides it).

use std::cmp::Ordering;
use std::path::PathBuf;

fn shared_data() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("TRUSTLOOP_SHARED_DATA") {
        return Some(PathBuf::from(p)).filter(|p| p.is_dir());
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    p.is_dir().then_some(p)
}

fn data_dir() -> Option<PathBuf> {
    shared_data().map(|p| p.join("versions")).filter(|p| p.is_dir())
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

#[test]
#[ignore = "needs ../shared/data (osv-scalibr version cases): run `cargo xtask test`"]
fn shared_data_redhat_versions() {
    check("redhat-versions.txt", super::rpm::compare);
}

#[test]
#[ignore = "needs ../shared/data (osv-scalibr version cases): run `cargo xtask test`"]
fn shared_data_cran_versions() {
    check("cran-versions.txt", super::cran::compare);
}

#[test]
#[ignore = "needs ../shared/data (osv-scalibr version cases): run `cargo xtask test`"]
fn shared_data_hackage_versions() {
    check("hackage-versions.txt", super::hackage::compare);
}

#[test]
#[ignore = "needs ../shared/data (osv-scalibr version cases): run `cargo xtask test`"]
fn shared_data_pub_versions() {
    check("pub-versions.txt", super::pub_semver::compare);
}

/// Every version of `redhat-versions.txt`.
fn redhat_case_versions() -> Vec<String> {
    let dir = data_dir().expect("../shared/data is missing");
    let text = std::fs::read_to_string(dir.join("redhat-versions.txt")).expect("read redhat-versions.txt");
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with("//") || line.starts_with('#') {
            continue;
        }
        if let [a, _, b] = line.split_whitespace().collect::<Vec<_>>()[..] {
            out.extend([a.to_string(), b.to_string()]);
        }
    }
    out
}

/// Every `introduced`/`fixed` version of the AlmaLinux 8 and 9 advisories, sorted and deduplicated.
fn almalinux_versions() -> std::collections::BTreeSet<String> {
    let root = shared_data().expect("../shared/data is missing").join("advisories/almalinux");
    let mut versions = std::collections::BTreeSet::new();
    for release in ["almalinux8", "almalinux9"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(release))
            .expect("read almalinux advisories")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        for file in files {
            let doc: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&file).expect("read advisory")).expect("advisory JSON");
            let events = doc["affected"].as_array().into_iter().flatten().flat_map(|a| {
                a["ranges"].as_array().into_iter().flatten().flat_map(|r| r["events"].as_array().into_iter().flatten())
            });
            for event in events {
                for key in ["introduced", "fixed"] {
                    if let Some(v) = event[key].as_str() {
                        versions.insert(v.to_string());
                    }
                }
            }
        }
    }
    versions
}

/// Runs every pair through one `rpm` process (`rpm.vercmp` in its Lua, pairs on stdin); `None` if
/// `rpm` cannot be run.
pub(crate) fn rpm_vercmp_all<S: AsRef<str>>(pairs: &[(S, S)]) -> Option<Vec<Ordering>> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let script =
        r#"%{lua: for l in io.lines() do local a, b = l:match("^(.-)\t(.*)$"); print(rpm.vercmp(a, b) .. "\n") end}"#;
    let mut child = Command::new("rpm")
        .args(["--eval", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let input: String = pairs.iter().map(|(a, b)| format!("{}\t{}\n", a.as_ref(), b.as_ref())).collect();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("rpm output");
    writer.join().expect("writer thread").expect("write pairs to rpm");
    assert!(out.status.success(), "rpm failed: {}", String::from_utf8_lossy(&out.stderr));
    let results: Vec<Ordering> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|r| match r {
            "-1" => Ordering::Less,
            "0" => Ordering::Equal,
            "1" => Ordering::Greater,
            other => panic!("rpm printed {other:?}"),
        })
        .collect();
    assert_eq!(results.len(), pairs.len(), "one rpm result per pair");
    Some(results)
}

/// Every pair of a few hundred AlmaLinux advisory versions (a deterministic sample) and all of
/// `redhat-versions.txt`'s versions, ordered by `rpm` itself and by [`super::rpm::compare`].
#[test]
#[ignore = "needs ../shared/data (shared_data) and the rpm tool"]
fn shared_data_rpm_agrees_with_rpm_tool() {
    if std::process::Command::new("rpm").arg("--version").output().is_err() {
        eprintln!("rpm is not installed: cross-check skipped");
        return;
    }
    let alma = almalinux_versions();
    let step = (alma.len() / 300).max(1);
    let mut versions: Vec<String> = alma.iter().step_by(step).cloned().collect();
    versions.extend(redhat_case_versions());
    // rpm rejects empty versions; a tab or newline would break the line protocol.
    versions.retain(|v| !v.is_empty() && !v.contains(['\t', '\n', '\r']));
    versions.sort();
    versions.dedup();
    let mut pairs = Vec::new();
    for (i, a) in versions.iter().enumerate() {
        for b in &versions[i..] {
            pairs.push((a.as_str(), b.as_str()));
        }
    }
    let Some(want) = rpm_vercmp_all(&pairs) else {
        eprintln!("rpm could not be run: cross-check skipped");
        return;
    };
    let mut failures = Vec::new();
    for ((a, b), want) in pairs.iter().zip(want) {
        let got = super::rpm::compare(a, b);
        if got != want || super::rpm::compare(b, a) != want.reverse() {
            failures.push(format!("{a} vs {b}: rpm {want:?}, trustloop {got:?}"));
        }
    }
    eprintln!(
        "{} versions ({} from {} AlmaLinux ones), {} pairs checked against rpm",
        versions.len(),
        alma.len().div_ceil(step),
        alma.len(),
        pairs.len()
    );
    assert!(failures.is_empty(), "{} of {} pairs differ:\n{}", failures.len(), pairs.len(), failures.join("\n"));
}
