//! `trustloop log repair` on the embedded log, black-box: a batch with a flipped byte (its CRC left
//! as it was) stops `consume` after the records before it; the repair moves exactly its bytes into
//! a quarantine file, records a dead letter on `dlq`, and `consume` then reads everything else;
//! `log verify` against a checkpoint made before the damage reports the gap where it is.

use std::path::{Path, PathBuf};

mod support;
use support::{consume, json_lines, ok, stderr, stdout, trustloop, trustloop_with_stdin};

/// The segments of `topic`'s partition 0.
fn segments(data: &Path, topic: &str) -> Vec<PathBuf> {
    let part = data.join("topics").join(topic).join("0");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&part)
        .expect("partition dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    out.sort();
    out
}

/// Flips one byte of `needle` inside the first segment of `topic` holding it, leaving the CRC as
/// it was; returns the segment and the damaged batch's byte range, read by the batches' length
/// fields (`[u32 body length][u32 CRC32C][body]`).
fn flip_in_batch(data: &Path, topic: &str, needle: &[u8]) -> (PathBuf, std::ops::Range<usize>) {
    for seg in segments(data, topic) {
        let mut bytes = std::fs::read(&seg).expect("segment");
        let Some(at) = bytes.windows(needle.len()).position(|w| w == needle) else { continue };
        bytes[at] ^= 0x20;
        std::fs::write(&seg, &bytes).expect("write");
        let mut pos = 0usize;
        while pos + 8 <= bytes.len() {
            let end = pos + 8 + u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes")) as usize;
            if (pos..end).contains(&at) {
                return (seg, pos..end);
            }
            pos = end;
        }
    }
    panic!("{needle:?} is in no segment of {topic}");
}

fn telemetry(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| {
            format!(
                r#"{{"tenant":"acme","entity":"host-{i:03}","kind":"auth_failure","value":1.0,"event_time":"2026-11-01T12:{:02}:00Z"}}"#,
                i % 60
            ) + "\n"
        })
        .collect()
}

fn offsets(lines: &[serde_json::Value]) -> Vec<i64> {
    lines.iter().map(|l| l["_offset"].as_i64().expect("_offset")).collect()
}

#[test]
fn a_corrupt_batch_is_quarantined_consume_reads_around_it_and_verify_reports_the_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // Three appends, three batches: offsets 0-4, 5-9, 10-14.
    for i in 0..3 {
        ok(&trustloop_with_stdin(&data, &["produce", "--topic", "telemetry"], &telemetry(i * 5, 5)));
    }
    let key = dir.path().join("log.key");
    let vkey =
        ok(&trustloop(&data, &["keys", "generate", "--name", "repair-log", "--out", &key.display().to_string()]));
    let vkey = vkey.trim();
    ok(&trustloop(&data, &["log", "checkpoint", "--key", &key.display().to_string()]));
    let clean = ok(&trustloop(&data, &["log", "repair"]));
    assert!(clean.contains("nothing to repair"), "{clean}");

    let (seg, batch) = flip_in_batch(&data, "telemetry", b"host-007");
    let damaged = std::fs::read(&seg).expect("segment")[batch.clone()].to_vec();
    let mut kept = std::fs::read(&seg).expect("segment");
    kept.drain(batch.clone());

    // `consume` prints every record before the damage, then the error (exit status 1).
    let consumed = trustloop(&data, &["consume", "--topic", "telemetry", "--from-beginning"]);
    assert_eq!(consumed.status.code(), Some(1), "{}", stderr(&consumed));
    assert_eq!(offsets(&json_lines(&consumed)), (0..5).collect::<Vec<_>>());
    let error = stderr(&consumed);
    assert!(error.contains("corrupt data in") && error.contains(&format!(".log at byte {}", batch.start)), "{error}");

    // A dry run says what it would do and does nothing.
    let dry = ok(&trustloop(&data, &["log", "repair", "--dry-run"]));
    assert!(dry.contains("would quarantine 1 batch") && dry.contains("nothing changed"), "{dry}");
    assert!(!data.join("quarantine").exists(), "a dry run writes no quarantine");
    assert_eq!(trustloop(&data, &["consume", "--topic", "telemetry", "--from-beginning"]).status.code(), Some(1));

    let repaired = ok(&trustloop(&data, &["log", "repair"]));
    assert!(repaired.contains("quarantined 1 batch") && repaired.contains("1 dead letter on dlq"), "{repaired}");
    let line = repaired.lines().find(|l| l.contains("telemetry/0")).expect("the batch's line");
    assert!(line.contains(&seg.display().to_string()), "{line}");
    assert!(line.contains(&format!("at byte {} ({} bytes)", batch.start, batch.len())), "{line}");
    assert!(line.contains("checksum mismatch") && line.contains("held offsets [5, 10), 5 records"), "{line}");
    let qdir = data.join("quarantine").join("telemetry").join("0");
    let quarantined = qdir.join(format!("{}-{}.batch", seg.file_stem().expect("stem").to_string_lossy(), batch.start));
    assert!(line.contains(&format!("quarantine file {}", quarantined.display())), "{line}");
    assert!(line.contains("gap [5, 10)"), "{line}");
    assert_eq!(std::fs::read(&quarantined).expect("quarantine file"), damaged, "the exact bytes");
    assert_eq!(std::fs::read(&seg).expect("segment"), kept, "every other batch byte for byte");

    // Everything else reads.
    let after = consume(&data, "telemetry");
    assert_eq!(offsets(&after), (0..5).chain(10..15).collect::<Vec<_>>());

    // The repair is on `dlq`.
    let dlq = consume(&data, "dlq");
    let letter = dlq.iter().find(|d| d["error_kind"] == "quarantined_batch").expect("the repair's dead letter");
    assert_eq!(
        (&letter["source_topic"], &letter["source_partition"], &letter["source_offset"]),
        (&serde_json::json!("telemetry"), &serde_json::json!(0), &serde_json::json!(5))
    );
    let reason = letter["reason"].as_str().expect("reason");
    assert!(reason.contains(&quarantined.display().to_string()) && reason.contains("sha256"), "{reason}");

    // `log verify` against the checkpoint made before: a break at that partition, naming the gap.
    let verify = trustloop(&data, &["log", "verify", "--key", vkey, "--json"]);
    assert_eq!(verify.status.code(), Some(1), "{}", stdout(&verify));
    let report: serde_json::Value = serde_json::from_str(&stdout(&verify)).expect("JSON report");
    let brk = report["breaks"]
        .as_array()
        .expect("breaks")
        .iter()
        .find(|b| b["topic"] == "telemetry" && b["partition"] == 0)
        .unwrap_or_else(|| panic!("no break at telemetry/0: {report:#}"));
    assert_eq!((&brk["kind"], &brk["checkpoint"]), (&serde_json::json!("count"), &serde_json::json!(1)), "{brk:#}");
    assert!(brk["detail"].as_str().is_some_and(|d| d.contains("offsets [5, 10) hold no record")), "{brk:#}");

    // A second repair finds nothing.
    assert!(ok(&trustloop(&data, &["log", "repair"])).contains("nothing to repair"));
}

#[test]
fn a_damaged_schema_topic_is_repaired_without_opening_the_backend() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    ok(&trustloop_with_stdin(&data, &["produce", "--topic", "telemetry"], &telemetry(0, 3)));
    // The registry's first batch damaged: no command that opens the backend can start.
    let seg = segments(&data, "_trustloop_schemas").into_iter().next().expect("a schema segment");
    let mut bytes = std::fs::read(&seg).expect("segment");
    bytes[40] ^= 0x01;
    std::fs::write(&seg, &bytes).expect("write");
    let broken = trustloop(&data, &["consume", "--topic", "telemetry", "--from-beginning"]);
    assert!(!broken.status.success(), "{}", stdout(&broken));

    let repaired = ok(&trustloop(&data, &["log", "repair", "--json"]));
    let report: serde_json::Value = serde_json::from_str(&repaired).expect("JSON");
    let findings = report["findings"].as_array().expect("findings");
    assert!(!findings.is_empty() && findings.iter().all(|f| f["topic"] == "_trustloop_schemas"), "{report:#}");
    assert_eq!(report["dead_letters"].as_u64(), Some(findings.len() as u64));
    // The schemas are registered again as the backend opens, and the events decode.
    let after = consume(&data, "telemetry");
    assert_eq!(after.len(), 3);
}

#[test]
fn repair_is_for_the_embedded_log_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = trustloop(&dir.path().join("data"), &["--brokers", "127.0.0.1:9", "log", "repair"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("embedded log only"), "{}", stderr(&out));
}
