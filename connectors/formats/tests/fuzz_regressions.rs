//! Every input with which fuzzing crashed one of this crate's parsers
//! (`connectors/fuzz/regressions/<target>/<file>`) goes through that parser again, fed as the fuzz
//! target feeds it (`connectors/fuzz/src/lib.rs`): none may panic. Targets are `lockfile_<kind>`
//! (the kind's `--kind` name with `_` for `-`) and `sbom_cyclonedx_xml`, `sbom_spdx_tag_value`,
//! `sbom_spdx3`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use trustloop_formats::lockfile::Kind;
use trustloop_formats::{FormatError, Location, sbom};

/// Crashes found by fuzzing whose fix is pending, as `(target, file)`: skipped by the always-on
/// tests, run by the ignored `pending_crashes_do_not_panic`.
const PENDING: &[(&str, &str)] = &[];

const SBOM_TARGETS: [&str; 3] = ["sbom_cyclonedx_xml", "sbom_spdx_tag_value", "sbom_spdx3"];

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// The fuzz target of a lockfile kind.
fn target_of(kind: Kind) -> String {
    format!("lockfile_{}", kind.name().replace('-', "_"))
}

/// Parses as the lockfile target does: for requirements, the bytes after the first NUL are what the
/// first include reads.
fn lockfile(kind: Kind, data: &[u8]) {
    let (main, included) = match data.iter().position(|&b| b == 0) {
        Some(i) if kind == Kind::Requirements => (&data[..i], Some(&data[i + 1..])),
        _ => (data, None),
    };
    let mut included = included.map(text);
    let mut read = |name: &str| -> Result<String, FormatError> {
        included.take().ok_or_else(|| FormatError::new(name, Location::Document, "no such file while fuzzing"))
    };
    let _ = kind.parse(&text(main), &format!("fuzz/{}", kind.name()), &mut read);
}

/// Parses as the SBOM text-form target `target` does.
fn sbom_text_form(target: &str, data: &[u8]) {
    let _ = sbom::detect(data);
    let _ = match target {
        "sbom_cyclonedx_xml" => sbom::cyclonedx_xml::to_json(&text(data), "fuzz/bom.xml"),
        "sbom_spdx_tag_value" => sbom::spdx_tag::to_json(&text(data), "fuzz/sbom.spdx"),
        _ => sbom::spdx3::to_json(data, "fuzz/sbom.spdx3.json"),
    };
}

/// How a target feeds its parser.
type Parser = Box<dyn Fn(&[u8])>;

/// Every target of this crate with its parser.
fn targets() -> Vec<(String, Parser)> {
    let mut all: Vec<(String, Parser)> = Vec::new();
    for kind in Kind::ALL {
        all.push((target_of(kind), Box::new(move |d| lockfile(kind, d))));
    }
    for t in SBOM_TARGETS {
        all.push((t.to_string(), Box::new(move |d| sbom_text_form(t, d))));
    }
    all
}

fn regressions() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions")
}

/// The regression files of `target` (none if it has no folder), sorted; names starting with `.` are not inputs.
fn inputs(target: &str) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(regressions().join(target)) else { return Vec::new() };
    let mut files: Vec<PathBuf> = dir
        .map(|e| e.expect("read the regressions folder").path())
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    files
}

fn is_pending(target: &str, file: &Path) -> bool {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    PENDING.iter().any(|&(t, f)| t == target && f == name)
}

/// Runs the regression files that `pick` accepts; returns how many ran and those that panicked.
fn run(pick: impl Fn(&str, &Path) -> bool) -> (usize, Vec<String>) {
    let mut ran = 0;
    let mut panicked = Vec::new();
    for (target, parse) in targets() {
        for file in inputs(&target).into_iter().filter(|f| pick(&target, f)) {
            let data = std::fs::read(&file).expect("read a regression file");
            ran += 1;
            if catch_unwind(AssertUnwindSafe(|| parse(&data))).is_err() {
                panicked.push(file.display().to_string());
            }
        }
    }
    (ran, panicked)
}

#[test]
fn fuzz_crashes_do_not_panic_again() {
    let (ran, panicked) = run(|t, f| !is_pending(t, f));
    eprintln!("{ran} regression inputs");
    assert!(panicked.is_empty(), "parsers panicked on: {panicked:#?}");
}

#[test]
#[ignore = "crash found by fuzzing, fix pending"]
fn pending_crashes_do_not_panic() {
    let (ran, panicked) = run(is_pending);
    assert_eq!(ran, PENDING.len(), "every pending crash has its file");
    assert!(panicked.is_empty(), "parsers still panic on: {panicked:#?}");
}

#[test]
fn targets_are_named_as_the_fuzz_crate_names_them() {
    assert_eq!(target_of(Kind::PackageLock), "lockfile_package_lock");
    assert_eq!(target_of(Kind::GradleLockfile), "lockfile_gradle_lockfile");
    let fuzz_targets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/fuzz_targets");
    for (t, _) in targets() {
        assert!(fuzz_targets.join(format!("{t}.rs")).is_file(), "no fuzz target {t}");
    }
}
