//! Black-box tests of the `trustloop` binary: produce → consume round trips on both backends, dead
//! letters, consumer groups and torn-tail recovery (the demo has its own test file).

use std::path::Path;
use std::process::Output;

use serde_json::Value;

mod support;
use support::json_lines;

fn trustloop(args: &[&str], stdin: &str) -> Output {
    support::output(support::cli().args(args), stdin)
}

fn data_args(dir: &Path) -> Vec<String> {
    vec!["--data".into(), dir.display().to_string(), "--partitions".into(), "1".into()]
}

fn run(base: &[String], args: &[&str], stdin: &str) -> Output {
    let mut all: Vec<&str> = base.iter().map(String::as_str).collect();
    all.extend_from_slice(args);
    trustloop(&all, stdin)
}

const GOOD: &str = r#"{"tenant":"acme","entity":"host-17","kind":"auth_failure","value":1.0,"event_time":"2026-11-01T12:00:00Z","attributes":{"source":"sshd"}}
{"tenant":"acme","entity":"host-18","kind":"heartbeat","value":1.0,"event_time":"2026-11-01T12:00:01Z"}
"#;

const MIXED: &str = r#"{"tenant":"acme","entity":"host-17","kind":"auth_failure","value":1.0,"event_time":"2026-11-01T12:00:00Z","attributes":{"source":"sshd"}}
{"tenant":"acme","entity":"host-17","kind":"auth_failure","value":"lots","event_time":"2026-11-01T12:00:00Z"}
not json at all

{"tenant":"acme","entity":"host-19","kind":"ids_alert","value":3.5,"event_time":"2026-11-01T12:00:02Z"}
"#;

/// Produce then consume on the given backend; bad lines land in `dlq` with line numbers and reasons.
fn round_trip(base: &[String]) {
    let produced = run(base, &["produce", "--topic", "telemetry"], MIXED);
    let stderr = String::from_utf8_lossy(&produced.stderr);
    assert_eq!(produced.status.code(), Some(1), "a bad line makes the exit status non-zero: {stderr}");
    assert!(stderr.contains("line 2:"), "line 2 is reported: {stderr}");
    assert!(stderr.contains("line 3:"), "line 3 is reported: {stderr}");
    assert!(!stderr.contains("line 4:"), "the blank line is not an event: {stderr}");

    let consumed = run(base, &["consume", "--topic", "telemetry", "--from-beginning"], "");
    assert!(consumed.status.success(), "{}", String::from_utf8_lossy(&consumed.stderr));
    let events = json_lines(&consumed);
    assert_eq!(events.len(), 2, "the good lines were appended: {events:?}");
    let first = events.iter().find(|e| e["entity"] == "host-17").expect("host-17");
    assert_eq!(first["kind"], "auth_failure");
    assert_eq!(first["value"], 1.0);
    assert_eq!(first["tenant"], "acme");
    assert_eq!(first["key"], "host-17");
    assert_eq!(first["event_time"], "2026-11-01T12:00:00.000000Z");
    assert_eq!(first["attributes"]["source"], "sshd");
    assert_eq!(first["_topic"], "telemetry");
    assert!(first["event_id"].as_str().is_some_and(|s| s.len() == 36));
    let third = events.iter().find(|e| e["entity"] == "host-19").expect("host-19");
    assert_eq!(third["value"], 3.5);

    let dlq = run(base, &["consume", "--topic", "dlq", "--from-beginning"], "");
    assert!(dlq.status.success(), "{}", String::from_utf8_lossy(&dlq.stderr));
    let letters = json_lines(&dlq);
    assert_eq!(letters.len(), 2, "{letters:?}");
    let lines: Vec<i64> = letters.iter().filter_map(|l| l["line"].as_i64()).collect();
    assert!(lines.contains(&2) && lines.contains(&3), "{letters:?}");
    for l in &letters {
        assert_eq!(l["source_topic"], "telemetry");
        assert!(!l["reason"].as_str().unwrap_or_default().is_empty());
    }
    let typed = letters.iter().find(|l| l["line"] == 2).expect("line 2");
    assert!(typed["reason"].as_str().unwrap_or_default().contains("value"), "the reason names the field: {typed}");

    // Consume output is valid produce input: re-producing it is accepted as is.
    let again = run(base, &["produce", "--topic", "telemetry"], &String::from_utf8_lossy(&consumed.stdout));
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
}

#[test]
fn produce_consume_round_trip_embedded() {
    let dir = tempfile::tempdir().expect("tempdir");
    round_trip(&data_args(dir.path()));
}

#[test]
fn produce_consume_round_trip_kafka_mock_cluster() {
    let kafka = trustloop_e2e::MockKafka::start().expect("mock cluster");
    // The mock cannot create topics through the admin API (see tests/broker_gaps.rs): provision them,
    // as operators do on clusters where trustloop may not create topics.
    kafka.provision_trustloop_topics(1).expect("provision");
    let base = vec!["--brokers".to_string(), kafka.bootstrap_servers(), "--partitions".into(), "1".into()];
    round_trip(&base);
}

#[test]
#[ignore = "needs the Tansu broker binary: run `cargo xtask test`, which installs it"]
fn tansu_produce_consume_round_trip() {
    let broker = trustloop_e2e::TansuBroker::start().expect("tansu");
    // One record per producer batch: Tansu 0.6 miscounts the high watermark of multi-record batches.
    let base = vec![
        "--brokers".to_string(),
        broker.bootstrap_servers(),
        "--partitions".into(),
        "1".into(),
        "-X".into(),
        "batch.num.messages=1".into(),
    ];
    round_trip(&base);
}

#[test]
fn topics_lists_every_trustloop_topic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = data_args(dir.path());
    assert!(run(&base, &["produce", "--topic", "telemetry"], GOOD).status.success());
    let out = run(&base, &["topics", "--json"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let topics: Value = serde_json::from_slice(&out.stdout).expect("json");
    let names: Vec<&str> = topics.as_array().expect("array").iter().filter_map(|t| t["topic"].as_str()).collect();
    for t in trustloop_e2e::TRUSTLOOP_TOPICS {
        assert!(names.contains(&t), "{t} missing from {names:?}");
    }
    // The tests' list (what they provision on the mock cluster) is every event type's topic.
    let mut every: Vec<&str> = trustloop_schemas::EventType::ALL.iter().map(|t| t.topic()).collect();
    let mut listed = trustloop_e2e::TRUSTLOOP_TOPICS.to_vec();
    every.sort_unstable();
    listed.sort_unstable();
    assert_eq!(listed, every, "trustloop_e2e::TRUSTLOOP_TOPICS");
    assert!(!names.iter().any(|n| n.starts_with('_')), "internal topics are not listed");
    let telemetry = topics.as_array().expect("array").iter().find(|t| t["topic"] == "telemetry").expect("telemetry");
    assert_eq!(telemetry["events"], 2);
}

#[test]
fn consumer_group_resumes_where_it_committed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = data_args(dir.path());
    assert!(run(&base, &["produce", "--topic", "telemetry"], GOOD).status.success());
    let first = run(&base, &["consume", "--topic", "telemetry", "--group", "ops", "--max", "1"], "");
    assert_eq!(json_lines(&first).len(), 1);
    let second = run(&base, &["consume", "--topic", "telemetry", "--group", "ops"], "");
    let rest = json_lines(&second);
    assert_eq!(rest.len(), 1, "the group resumes after what it committed");
    assert_eq!(rest[0]["_offset"], 1);
    let third = run(&base, &["consume", "--topic", "telemetry", "--group", "ops"], "");
    assert!(json_lines(&third).is_empty());
}

/// The segment file of partition 0 of `telemetry` in the embedded log under `dir`.
fn telemetry_segment(dir: &Path) -> std::path::PathBuf {
    let part = dir.join("topics").join("telemetry").join("0");
    std::fs::read_dir(&part)
        .expect("partition dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .expect("segment file")
}

#[test]
fn log_truncated_mid_batch_reopens_with_complete_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = data_args(dir.path());
    assert!(run(&base, &["produce", "--topic", "telemetry"], GOOD).status.success());
    let second =
        r#"{"tenant":"acme","entity":"host-20","kind":"heartbeat","value":1.0,"event_time":"2026-11-01T12:00:03Z"}"#;
    assert!(run(&base, &["produce", "--topic", "telemetry"], second).status.success());
    // Tear the last batch: cut the segment file in the middle of it.
    let segment = telemetry_segment(dir.path());
    let len = std::fs::metadata(&segment).expect("metadata").len();
    let file = std::fs::OpenOptions::new().write(true).open(&segment).expect("open");
    file.set_len(len - 20).expect("truncate");
    drop(file);
    // A writer reopens the log (recovering it), then appends again.
    let third =
        r#"{"tenant":"acme","entity":"host-21","kind":"heartbeat","value":1.0,"event_time":"2026-11-01T12:00:04Z"}"#;
    let out = run(&base, &["produce", "--topic", "telemetry"], third);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = json_lines(&run(&base, &["consume", "--topic", "telemetry", "--from-beginning"], ""));
    let entities: Vec<&str> = events.iter().filter_map(|e| e["entity"].as_str()).collect();
    assert_eq!(entities, vec!["host-17", "host-18", "host-21"], "the complete batch survives, the torn one is gone");
    let offsets: Vec<i64> = events.iter().filter_map(|e| e["_offset"].as_i64()).collect();
    assert_eq!(offsets, vec![0, 1, 2], "offsets continue after the last good batch");
}

/// A batch damaged in the middle of a partition (a byte flipped, its checksum left as it was):
/// `consume` prints every record before it, then stops with an error naming the segment and the
/// byte, instead of printing nothing.
#[test]
fn consume_prints_every_record_before_a_corrupt_batch_then_the_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = data_args(dir.path());
    let third =
        r#"{"tenant":"acme","entity":"host-21","kind":"heartbeat","value":1.0,"event_time":"2026-11-01T12:00:04Z"}"#;
    let second =
        r#"{"tenant":"acme","entity":"host-20","kind":"heartbeat","value":1.0,"event_time":"2026-11-01T12:00:03Z"}"#;
    for batch in [GOOD, second, third] {
        assert!(run(&base, &["produce", "--topic", "telemetry"], batch).status.success());
    }
    let segment = telemetry_segment(dir.path());
    let mut bytes = std::fs::read(&segment).expect("read the segment");
    let at = bytes.windows(7).position(|w| w == b"host-20").expect("the second batch's entity in the segment");
    bytes[at + 5] ^= 0x01;
    std::fs::write(&segment, &bytes).expect("write the segment");

    let out = run(&base, &["consume", "--topic", "telemetry", "--from-beginning"], "");
    assert!(!out.status.success(), "a corrupt batch is an error");
    let entities: Vec<String> =
        json_lines(&out).iter().filter_map(|e| e["entity"].as_str().map(str::to_string)).collect();
    assert_eq!(entities, ["host-17", "host-18"], "every record before the damage is printed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&segment.display().to_string()) && stderr.contains("at byte"), "{stderr}");
}

#[test]
fn unknown_topic_without_type_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(&data_args(dir.path()), &["produce", "--topic", "nope"], GOOD);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--type"));
}

#[test]
fn import_then_findings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = data_args(dir.path());
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let out = run(&base, &["import", "osv", fixtures], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("imported 1 event(s)"), "{stderr}");
    assert!(stderr.contains("unsupported 2"), "README and the lockfile are not OSV: {stderr}");
    let lock = format!("{fixtures}/Cargo.lock.fixture");
    let out = run(&base, &["import", "cargo-lock", &lock, "--release", "app@1.0.0", "--env", "prod"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&base, &["findings", "--json"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let findings = json_lines(&out);
    assert_eq!(findings.len(), 1, "{findings:?}");
    let f = &findings[0];
    assert_eq!(f["release"], "app@1.0.0");
    assert_eq!(f["environment"], "prod");
    assert_eq!(f["advisory"], "TEST-2026-0001");
    assert_eq!(f["aliases"][0], "CVE-2026-99999");
    assert_eq!(f["version"], "0.6.9");
    assert_eq!(f["status"], "affected");
    assert_eq!(f["match"]["event"], "introduced=0.6.3,fixed=0.6.10");
    let other = json_lines(&run(&base, &["findings", "--json", "--release", "other@1"], ""));
    assert!(other.is_empty());
}

#[test]
fn bad_advisory_files_are_reported_and_dead_lettered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = data_args(dir.path());
    let docs = tempfile::tempdir().expect("tempdir");
    std::fs::write(docs.path().join("good.json"), r#"{"id":"G-1","modified":"2026-01-01T00:00:00Z"}"#).expect("write");
    std::fs::write(
        docs.path().join("bad.json"),
        r#"{"id":"B-1","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"x"},"ranges":[{"type":"BOGUS","events":[]}]}]}"#,
    )
    .expect("write");
    let out = run(&base, &["import", "osv", &docs.path().display().to_string()], "");
    assert_eq!(out.status.code(), Some(1), "a rejected file makes the exit status non-zero");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.json at /affected/0/ranges/0/type"), "{stderr}");
    assert!(stderr.contains("imported 1 event(s)"), "the good file is still imported: {stderr}");
    let letters = json_lines(&run(&base, &["consume", "--topic", "dlq", "--from-beginning"], ""));
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["source_topic"], "advisories");
    assert!(letters[0]["reason"].as_str().unwrap_or_default().contains("/affected/0/ranges/0/type"));
}
