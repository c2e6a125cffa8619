//! Checkpoints: a stage restored from a snapshot derives exactly what a stage restored by replaying
//! the whole log derives (Arroyo's golden outputs across checkpoint/restore).
//!
//! Two twin logs get the demo's documents and the first half of its telemetry (one is a copy of the
//! other); each is run once — one with snapshots (the default), one with `--no-snapshots` — then both
//! get the second half and run again: the first restores its trust, decision and enforcement
//! operators from the snapshots the first run took and replays nothing, the second replays
//! everything. Every derived event must be the same, field for field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use trustloop::commands::demo::DemoInputs;
use trustloop_connectors::log::embedded::FsyncPolicy;
use trustloop_runtime::backend::{Backend, BackendConfig};
use trustloop_schemas::json::event_to_json;

mod support;

const DERIVED: [&str; 5] = ["findings", "trust-scores", "verdicts", "actions", "dlq"];

fn args(dir: &Path) -> BackendConfig {
    BackendConfig { partitions: 2, fsync: FsyncPolicy::Never, ..BackendConfig::embedded(dir.to_path_buf()) }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

fn run(dir: &Path, extra: &[&str]) -> Value {
    let out = support::cli_on(dir)
        .args(["--partitions", "2", "--fsync", "never", "run", "--until-idle", "--json"])
        .args(extra)
        .output()
        .expect("run trustloop");
    assert!(out.status.success(), "trustloop run failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

/// Every derived event, as JSON, by topic and event id.
fn derived(dir: &Path) -> BTreeMap<&'static str, BTreeMap<String, Vec<String>>> {
    runtime().block_on(async {
        let backend = Backend::open(&args(dir)).await.expect("open");
        let mut out = BTreeMap::new();
        for topic in DERIVED {
            let mut events: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for e in backend.events(topic).await.expect("read") {
                events.entry(e.envelope().event_id.to_string()).or_default().push(event_to_json(&e).to_string());
            }
            out.insert(topic, events);
        }
        out
    })
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let (p, dest) = (e.path(), to.join(e.file_name()));
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).expect("copy");
        }
    }
}

fn snapshot_files(dir: &Path, stage: &str) -> Vec<PathBuf> {
    let group = dir.join("snapshots").join(format!("trustloop.{stage}"));
    std::fs::read_dir(&group).map(|rd| rd.flatten().map(|e| e.path()).collect()).unwrap_or_default()
}

#[test]
fn restoring_from_snapshots_derives_what_replay_derives() {
    let inputs = DemoInputs::build(60, 7).expect("demo inputs");
    let lines: Vec<&str> = inputs.telemetry().lines().collect();
    let half = lines.len() / 2;
    let (first, second): (String, String) = (
        lines[..half].iter().map(|l| format!("{l}\n")).collect(),
        lines[half..].iter().map(|l| format!("{l}\n")).collect(),
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let (snap, replay) = (tmp.path().join("snapshots-on"), tmp.path().join("snapshots-off"));
    runtime().block_on(async {
        let backend = Backend::open(&args(&snap)).await.expect("open");
        DemoInputs::append_documents(&backend, &inputs.documents).await.expect("documents");
        inputs.append_telemetry(&backend, &first).await.expect("telemetry");
    });
    copy_dir(&snap, &replay);

    let a = run(&snap, &[]);
    let b = run(&replay, &["--no-snapshots"]);
    for stage in ["trust", "decision", "enforce"] {
        assert_eq!(a["stages"][stage]["snapshots"], 1, "{stage} snapshotted when the run settled: {a}");
        assert_eq!(snapshot_files(&snap, stage).len(), 1, "{stage}'s snapshot file");
        assert!(snapshot_files(&replay, stage).is_empty(), "--no-snapshots takes none");
    }
    assert!(snapshot_files(&snap, "impact").is_empty(), "the findings operator is restored by replay");
    assert_eq!(a["stages"]["trust"]["written"], b["stages"]["trust"]["written"]);

    for dir in [&snap, &replay] {
        // Lines numbered after the first half's (ingestion numbers dead letters by line).
        let padded = "\n".repeat(half) + &second;
        runtime().block_on(async {
            let backend = Backend::open(&args(dir)).await.expect("open");
            inputs.append_telemetry(&backend, &padded).await.expect("telemetry");
        });
    }
    let a = run(&snap, &[]);
    let b = run(&replay, &["--no-snapshots"]);
    for stage in ["trust", "decision", "enforce"] {
        let (sa, sb) = (&a["stages"][stage], &b["stages"][stage]);
        assert_eq!(sa["restored_from_snapshot"], true, "{stage} restored from its snapshot: {a}");
        assert_eq!(sa["replayed"], 0, "{stage} replayed nothing: the snapshot covered its committed inputs: {a}");
        assert!(sb["replayed"].as_u64().unwrap_or(0) > 0, "{stage} without snapshots replays: {b}");
        assert_eq!(sa["written"], sb["written"], "{stage} wrote as much either way");
    }
    assert!(a["stages"]["trust"]["applied"].as_u64().unwrap_or(0) > 1_000, "the second half was applied: {a}");

    let (da, db) = (derived(&snap), derived(&replay));
    for topic in DERIVED {
        let differing: Vec<&String> = da[topic].keys().filter(|id| da[topic].get(*id) != db[topic].get(*id)).collect();
        assert!(
            differing.is_empty() && da[topic].len() == db[topic].len(),
            "{topic}: {} of {} events differ (e.g. {:?})",
            differing.len(),
            da[topic].len(),
            differing.first().map(|id| (&da[topic][*id], db[topic].get(*id)))
        );
    }
    assert!(da["trust-scores"].len() > 50 && da["verdicts"].len() > 10, "substantial outputs");
}
