//! `trustloop run --until-idle` on the embedded log: poison pills end in `dlq` with their position
//! and the rest flows; a second run restores the operators by replay and writes nothing twice.

use std::path::Path;
use std::process::Output;

use bytes::Bytes;
use serde_json::Value;
use trustloop_connectors::log::embedded::{EmbeddedLog, EmbeddedOptions};
use trustloop_connectors::log::{EventLog, Record};
use trustloop_schemas::{DeadLetter, Envelope, Event, EventCodec, EventId, EventTime};

mod support;

fn trustloop(dir: &Path, args: &[&str], stdin: &str) -> Output {
    support::output(support::cli_on(dir).args(["--partitions", "2"]).args(args), stdin)
}

/// Produces JSON `lines` to `topic`; the producer must succeed.
fn produce(dir: &Path, topic: &str, lines: &str) {
    let out = trustloop(dir, &["produce", "--topic", topic], lines);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn consume(dir: &Path, topic: &str) -> Vec<Value> {
    let out = trustloop(dir, &["consume", "--topic", topic, "--from-beginning"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
}

fn telemetry(entity: &str, minute: u32, kind: &str, value: f64) -> String {
    format!(
        r#"{{"tenant":"acme","entity":"{entity}","kind":"{kind}","value":{value},"event_time":"2026-11-01T00:{minute:02}:00Z"}}"#
    )
}

#[test]
fn poison_pills_go_to_dlq_and_the_rest_flows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first: String = (0..10).map(|m| telemetry("host-1", m, "heartbeat", 1.0) + "\n").collect();
    produce(dir.path(), "telemetry", &first);

    // A corrupt record and a well-formed event of the wrong type, in the middle of the stream.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let log = EmbeddedLog::open(dir.path(), EmbeddedOptions::default()).expect("open log");
        let p = trustloop_connectors::log::partition_for_key(b"host-1", 2);
        log.append("telemetry", p, vec![Record::new(Some(Bytes::from_static(b"host-1")), &b"\x00garbage"[..])])
            .await
            .expect("append garbage");
        let wrong = Event::DeadLetter(DeadLetter {
            envelope: Envelope {
                event_id: EventId(uuid::Uuid::from_u128(7)),
                tenant: "acme".into(),
                key: "host-1".into(),
                event_time: EventTime::from_micros(0),
                source: "test".into(),
                schema_version: 1,
            },
            source_topic: "x".into(),
            source_partition: None,
            source_offset: None,
            line: None,
            error_kind: "e".into(),
            reason: "a dead letter is no telemetry".into(),
            payload: vec![],
        });
        let framed = EventCodec::new().encode(&wrong).expect("encode");
        log.append("telemetry", p, vec![Record::new(Some(Bytes::from_static(b"host-1")), framed)])
            .await
            .expect("append a wrong-topic event");
    });
    let rest: String = (21..30).map(|m| telemetry("host-1", m, "auth_failure", 5.0) + "\n").collect();
    produce(dir.path(), "telemetry", &rest);

    let out = trustloop(dir.path(), &["run", "--until-idle", "--json"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["stages"]["trust"]["dead_letters"], 2, "{report}");

    let dlq = consume(dir.path(), "dlq");
    assert_eq!(dlq.len(), 2, "{dlq:?}");
    let kinds: Vec<&str> = dlq.iter().filter_map(|d| d["error_kind"].as_str()).collect();
    assert_eq!(kinds, vec!["undecodable", "wrong_topic"], "{dlq:?}");
    for d in &dlq {
        assert_eq!(d["source_topic"], "telemetry");
        assert!(d["source_offset"].as_i64().is_some() && d["source_partition"].as_i64().is_some(), "{d}");
    }
    assert!(dlq[1]["reason"].as_str().unwrap_or("").contains("does not belong on topic telemetry"));

    let scores = consume(dir.path(), "trust-scores");
    assert!(!scores.is_empty(), "the good events after the poison pill were scored");
    let last = scores.last().expect("a score");
    assert!(
        last["score"].as_f64().expect("score") < 100.0,
        "auth failures after the poison pill lowered trust: {last}"
    );

    // Restored by replay: the same log gives nothing new.
    let before: Vec<usize> =
        ["trust-scores", "verdicts", "actions", "dlq"].iter().map(|t| consume(dir.path(), t).len()).collect();
    let out = trustloop(dir.path(), &["run", "--until-idle", "--json"], "");
    assert!(out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["stages"]["trust"]["written"], 0, "{report}");
    assert_eq!(report["stages"]["trust"]["applied"], report["stages"]["trust"]["replayed"]);
    let after: Vec<usize> =
        ["trust-scores", "verdicts", "actions", "dlq"].iter().map(|t| consume(dir.path(), t).len()).collect();
    assert_eq!(before, after, "nothing was written twice");

    // New input after a restart: only its consequences are written.
    let more: String = (30..40).map(|m| telemetry("host-1", m, "auth_failure", 8.0) + "\n").collect();
    produce(dir.path(), "telemetry", &more);
    let out = trustloop(dir.path(), &["run", "--until-idle", "--json"], "");
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(
        report["stages"]["trust"]["applied"].as_u64().expect("n") - 10,
        report["stages"]["trust"]["replayed"].as_u64().expect("n")
    );
    let scores_after = consume(dir.path(), "trust-scores");
    let ids: std::collections::BTreeSet<&str> = scores_after.iter().filter_map(|s| s["event_id"].as_str()).collect();
    assert_eq!(ids.len(), scores_after.len(), "no trust score was written twice");
}

/// With one task per partition, an event in a partition its key does not map to goes to `dlq`
/// (`misrouted`), once; a bad record of an input every task reads in full is dead-lettered once per
/// operator, not once per task; the rest flows.
#[test]
fn misrouted_events_go_to_dlq_with_one_task_per_partition() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lines: String = (0..10).map(|m| telemetry("host-1", m, "auth_failure", 5.0) + "\n").collect();
    produce(dir.path(), "telemetry", &lines);
    let home = trustloop_connectors::log::partition_for_key(b"host-1", 2);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let log = EmbeddedLog::open(dir.path(), EmbeddedOptions::default()).expect("open log");
        // host-1's sample, keyed and placed as if it were another entity's.
        let stray = Event::Telemetry(trustloop_schemas::Telemetry {
            envelope: Envelope {
                event_id: EventId(uuid::Uuid::from_u128(11)),
                tenant: "acme".into(),
                key: "elsewhere".into(),
                event_time: EventTime::from_micros(1_000),
                source: "test".into(),
                schema_version: 1,
            },
            entity: "host-1".into(),
            kind: "auth_failure".into(),
            value: 50.0,
            attributes: Default::default(),
            unit: None,
        });
        let framed = EventCodec::new().encode(&stray).expect("encode");
        log.append("telemetry", 1 - home, vec![Record::new(Some(Bytes::from_static(b"elsewhere")), framed)])
            .await
            .expect("append a misrouted event");
        // Garbage on `findings`, which trust reads in full (every task), notify in full (one task)
        // and decision by partition.
        log.append("findings", 1, vec![Record::new(None, &b"\x00garbage"[..])]).await.expect("append garbage");
    });
    let out = trustloop(dir.path(), &["run", "--until-idle", "--json", "--task-per-partition"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["stages"]["trust"]["dead_letters"], 2, "{report}");
    assert_eq!(report["stages"]["decision"]["dead_letters"], 1, "{report}");
    assert_eq!(report["stages"]["notify"]["dead_letters"], 1, "{report}");

    let dlq = consume(dir.path(), "dlq");
    let mut seen: Vec<(String, String)> = dlq
        .iter()
        .map(|d| (d["source"].as_str().unwrap_or("").to_string(), d["error_kind"].as_str().unwrap_or("").to_string()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("trustloop.decision".to_string(), "undecodable".to_string()),
            ("trustloop.notify".to_string(), "undecodable".to_string()),
            ("trustloop.trust".to_string(), "misrouted".to_string()),
            ("trustloop.trust".to_string(), "undecodable".to_string()),
        ],
        "{dlq:?}"
    );
    let misrouted = dlq.iter().find(|d| d["error_kind"] == "misrouted").expect("the misrouted event");
    assert_eq!(misrouted["source_partition"], i64::from(1 - home), "{misrouted}");
    assert!(misrouted["reason"].as_str().unwrap_or("").contains("\"host-1\""), "{misrouted}");
    // host-1 was scored by the task of its partition, from its own samples only (the stray one,
    // worth 50 auth failures, never reached its state).
    let scores = consume(dir.path(), "trust-scores");
    assert!(!scores.is_empty());
    for s in &scores {
        assert_eq!((&s["entity"], &s["_partition"]), (&Value::from("host-1"), &Value::from(home)), "{s}");
        let auth = s["features"].as_array().and_then(|f| f.iter().find(|x| x["name"] == "auth_failures"));
        assert!(auth.and_then(|a| a["value"].as_f64()).is_some_and(|v| v < 50.0), "{s}");
    }
}

#[test]
fn a_run_with_locked_memory_derives_the_same_scores() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input: String = (0..20).map(|m| telemetry("host-1", m, "auth_failure", 5.0) + "\n").collect();
    produce(dir.path(), "telemetry", &input);
    let other = tempfile::tempdir().expect("tempdir");
    produce(other.path(), "telemetry", &input);

    let out = trustloop(dir.path(), &["run", "--until-idle", "--lock-memory"], "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        // Without RLIMIT_MEMLOCK room or CAP_IPC_LOCK the run must refuse to start, and say why.
        assert!(stderr.contains("RLIMIT_MEMLOCK"), "{stderr}");
        return;
    }
    let out = trustloop(other.path(), &["run", "--until-idle"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Event ids derive from the inputs: the same inputs, the same scores.
    let ids = |d: &Path| -> Vec<String> {
        consume(d, "trust-scores").iter().map(|v| v["event_id"].as_str().expect("event_id").to_string()).collect()
    };
    let (locked, plain) = (ids(dir.path()), ids(other.path()));
    assert!(!locked.is_empty(), "no trust scores");
    assert_eq!(locked, plain);
}
