//! An oracle no one here wrote: for each real `Cargo.lock` in `../shared/data/lockfiles`, trustloop's
//! findings — from the RustSec **OSV export**, through the OSV importer, the Cargo.lock importer and the
//! impact operator — must equal what the `rustsec` crate (the library behind cargo-audit) finds in the
//! same database in its native **TOML** layout.

use std::collections::BTreeSet;
use std::path::Path;

use trustloop_connectors::import::{cargo_lock, osv};
use trustloop_operators::impact::ImpactState;
use trustloop_schemas::{Event, EventTime};

/// Loads every RustSec OSV advisory into an impact state; returns the ids of informational ones
/// (unmaintained, unsound, notice), which cargo-audit reports as warnings, not vulnerabilities.
pub fn load_rustsec_osv(dir: &Path, state: &mut ImpactState) -> BTreeSet<String> {
    let mut informational = BTreeSet::new();
    let mut files: Vec<_> = std::fs::read_dir(dir).expect("read dir").flatten().map(|e| e.path()).collect();
    files.sort();
    assert!(files.len() > 700, "expected the RustSec OSV export, found {} files", files.len());
    for f in files {
        let a = osv::parse_file(&f, "oracle").unwrap_or_else(|e| panic!("{e}"));
        let info = a.affected.iter().any(|x| {
            x.database_specific
                .as_deref()
                .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                .is_some_and(|v| v.get("informational").is_some_and(|i| !i.is_null()))
        });
        if info {
            informational.insert(a.id.clone());
        }
        state.apply(&Event::Advisory(a));
    }
    informational
}

#[test]
#[ignore = "needs ../shared/data (RustSec database, lockfiles): run `cargo xtask test`"]
fn shared_data_rustsec_findings_equal_cargo_audit() {
    let data = trustloop_e2e::shared_data().expect("../shared/data is missing: run `cargo xtask test`");
    let db = rustsec::Database::open(&data.join("advisories/rustsec-toml")).expect("rustsec database");
    let mut state = ImpactState::default();
    let informational = load_rustsec_osv(&data.join("advisories/rustsec/crates"), &mut state);
    let expected_counts =
        [("arroyo-2023-06.Cargo.lock", 25), ("arroyo-2023-12.Cargo.lock", 19), ("tansu-0.3.0.Cargo.lock", 1)];
    for (file, expected) in expected_counts {
        let path = data.join("lockfiles").join(file);
        // The oracle.
        let lockfile = rustsec::Lockfile::load(&path).expect("lockfile");
        let theirs: BTreeSet<(String, String, String)> = db
            .vulnerabilities(&lockfile)
            .into_iter()
            .map(|v| (v.advisory.id.to_string(), v.package.name.to_string(), v.package.version.to_string()))
            .collect();
        assert_eq!(theirs.len(), expected, "{file}: the rustsec crate's count (per the data README)");
        // trustloop.
        let release = cargo_lock::ReleaseRef::parse(&format!("{file}@1"), None).expect("release");
        let inv = cargo_lock::parse_file(&path, &release, "oracle", EventTime::from_micros(0)).expect("import");
        state.apply(&Event::ReleaseInventory(inv.inventory));
        let ours: BTreeSet<(String, String, String)> = state
            .open_findings()
            .filter(|(k, _)| k.release.name == file && !informational.contains(&k.advisory))
            .map(|(k, _)| {
                let (name, version) = k.purl.trim_start_matches("pkg:cargo/").rsplit_once('@').unwrap_or(("", ""));
                (k.advisory.clone(), name.to_string(), version.to_string())
            })
            .collect();
        let missing: Vec<_> = theirs.difference(&ours).collect();
        let extra: Vec<_> = ours.difference(&theirs).collect();
        println!("{file}: rustsec {} findings, trustloop {}", theirs.len(), ours.len());
        assert!(missing.is_empty() && extra.is_empty(), "{file}: missing {missing:#?}\nextra {extra:#?}");
    }
}

/// Replaying the RustSec history event by event (advisories arriving after the releases, so every
/// change is an incremental re-evaluation) must end in exactly the findings a one-shot import of the
/// final state (the OSV export of the same date) gives.
#[test]
#[ignore = "needs ../shared/data (RustSec history, lockfiles): run `cargo xtask test`"]
fn shared_data_rustsec_history_replay_equals_one_shot() {
    use trustloop_connectors::import::osv_history;
    let data = trustloop_e2e::shared_data().expect("../shared/data is missing: run `cargo xtask test`");
    let lockfiles = ["arroyo-2023-06.Cargo.lock", "arroyo-2023-12.Cargo.lock", "tansu-0.3.0.Cargo.lock"];
    let inventories: Vec<Event> = lockfiles
        .iter()
        .map(|f| {
            let release = cargo_lock::ReleaseRef::parse(&format!("{f}@1"), None).expect("release");
            let inv =
                cargo_lock::parse_file(&data.join("lockfiles").join(f), &release, "oracle", EventTime::from_micros(0))
                    .expect("import");
            Event::ReleaseInventory(inv.inventory)
        })
        .collect();

    let mut incremental = ImpactState::default();
    for inv in &inventories {
        incremental.apply(inv);
    }
    let stream = osv_history::read(&data.join("advisories/rustsec-history.jsonl.gz"), "oracle").expect("read stream");
    assert!(stream.len() > 4000, "expected the whole history, got {} lines", stream.len());
    let mut deltas = 0;
    for item in stream {
        let advisory = item.unwrap_or_else(|e| panic!("{e}"));
        deltas += incremental.apply(&Event::Advisory(advisory)).len();
    }

    let mut one_shot = ImpactState::default();
    load_rustsec_osv(&data.join("advisories/rustsec/crates"), &mut one_shot);
    for inv in &inventories {
        one_shot.apply(inv);
    }
    let a: Vec<_> = incremental.open_findings().map(|(k, m)| (k.clone(), m.clone())).collect();
    let b: Vec<_> = one_shot.open_findings().map(|(k, m)| (k.clone(), m.clone())).collect();
    println!("history replay: {deltas} finding deltas, {} open findings at the end", a.len());
    assert!(!a.is_empty());
    assert_eq!(a, b, "incremental replay and one-shot import disagree");
}
