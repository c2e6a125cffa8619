//! Every input with which fuzzing crashed one of this crate's parsers
//! (`connectors/fuzz/regressions/<target>/<file>`) goes through that parser again, fed as the fuzz
//! target feeds it (`connectors/fuzz/src/lib.rs`): none may panic.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use trustloop_connectors::import::release::{ReleaseChoice, ReleaseRef};
use trustloop_connectors::import::{
    any, cargo_lock, csaf, csaf_advisory, cyclonedx_vex, epss, kev, openvex, osv, osv_history, sbom, vex,
};
use trustloop_schemas::EventTime;

/// Crashes found by fuzzing whose fix is pending, as `(target, file)`: skipped by the always-on
/// tests, run by the ignored `pending_crashes_do_not_panic`.
const PENDING: &[(&str, &str)] = &[];

const TENANT: &str = "fuzz";

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

fn event_time() -> EventTime {
    EventTime::from_micros(1_700_000_000_000_000)
}

/// The parser (and the way it is fed) behind each fuzz target of this crate.
fn parser(target: &str) -> Option<fn(&[u8])> {
    Some(match target {
        "osv_json" => |d| drop(osv::parse(&text(d), osv::Format::Json, "fuzz/advisory", TENANT)),
        "osv_yaml" => |d| drop(osv::parse(&text(d), osv::Format::Yaml, "fuzz/advisory", TENANT)),
        "osv_history_line" => |d| drop(osv_history::parse_line(&text(d), "fuzz/history.jsonl:1", TENANT)),
        "csaf" => |d| {
            let _ = vex::detect(d);
            drop(csaf::parse(d, "fuzz/csaf.json", TENANT))
        },
        "csaf_advisory" => |d| {
            let _ = csaf_advisory::is_advisory(d);
            drop(csaf_advisory::parse(d, "fuzz/csaf-advisory.json", TENANT))
        },
        "kev" => |d| {
            let text = text(d);
            if let Ok(catalog) = kev::import(&text, "fuzz/kev.json", TENANT, &Default::default(), None) {
                let listed = kev::listed_after(&catalog.events);
                drop(kev::import(&text, "fuzz/kev.json", TENANT, &listed, None));
            }
        },
        "epss" => |d| drop(epss::import(&text(d), "fuzz/epss.csv", TENANT, Some("2025-08-25"))),
        "feed_document" => |d| {
            // As the fuzz target: the bytes as a `.json` candidate file, its kind told by content.
            let dir = std::env::temp_dir().join(format!("trustloop-fuzz-regressions-any-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("a scratch folder");
            let path = dir.join("candidate.json");
            std::fs::write(&path, d).expect("write the candidate");
            drop(any::read_file(&path, TENANT))
        },
        "openvex" => |d| {
            let _ = vex::detect(d);
            drop(openvex::parse(d, "fuzz/openvex.json", TENANT))
        },
        "cyclonedx_vex" => |d| {
            let _ = vex::detect(d);
            drop(cyclonedx_vex::parse(d, "fuzz/vex.cdx.json", TENANT))
        },
        "sbom_json" => |d| {
            let from_doc = ReleaseChoice::FromDocument { environment: None };
            let _ = sbom::parse(d, "fuzz/sbom.json", &from_doc, TENANT, event_time());
            let release = ReleaseRef { name: "app".into(), version: "1.0.0".into(), environment: None };
            drop(sbom::parse(d, "fuzz/sbom.json", &ReleaseChoice::Given(release), TENANT, event_time()))
        },
        "cargo_lock" => |d| {
            let release = ReleaseRef { name: "app".into(), version: "1.0.0".into(), environment: Some("prod".into()) };
            drop(cargo_lock::parse(&text(d), "fuzz/Cargo.lock", &release, TENANT, event_time()))
        },
        "purl" => |d| {
            if let Ok(p) = text(d).parse::<trustloop_operators::purl::Purl>() {
                let _ = p.osv_ecosystem();
                let _ = p.osv_name();
            }
        },
        "segment_salvage" => |d| {
            use trustloop_connectors::log::embedded::salvage::analyse;
            drop(analyse(d, 0, None, &[]));
            drop(analyse(d, 0, Some(64), &[]))
        },
        _ => return None,
    })
}

const TARGETS: [&str; 14] = [
    "osv_json",
    "osv_yaml",
    "osv_history_line",
    "csaf",
    "csaf_advisory",
    "kev",
    "epss",
    "feed_document",
    "openvex",
    "cyclonedx_vex",
    "sbom_json",
    "cargo_lock",
    "purl",
    "segment_salvage",
];

fn regressions() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions")
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

/// Runs the regression files of every target that `pick` accepts; returns those that panicked.
fn run(pick: impl Fn(&str, &Path) -> bool) -> (usize, Vec<String>) {
    let mut ran = 0;
    let mut panicked = Vec::new();
    for target in TARGETS {
        let parse = parser(target).expect("a parser for every target");
        for file in inputs(target).into_iter().filter(|f| pick(target, f)) {
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
fn every_target_has_a_parser() {
    for t in TARGETS {
        assert!(parser(t).is_some(), "{t}");
    }
}
