//! `trustloop keys` and `trustloop log checkpoint | verify` on a demo log, black-box: checkpoints
//! verify across a key rotation and leave replay unchanged; an approval's approver edited inside
//! its segment with the CRC recomputed — what `replay --all --verify` cannot see once the derived
//! topics are re-derived — is a break that names the topic, partition and offsets.

use std::path::{Path, PathBuf};

mod support;
use support::{cli_on, ok, output, stderr, stdout, trustloop};

fn segments(data: &Path, topic: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(parts) = std::fs::read_dir(data.join("topics").join(topic)) else { return out };
    for part in parts.filter_map(Result::ok).filter(|p| p.path().is_dir()) {
        for f in std::fs::read_dir(part.path()).expect("partition dir").filter_map(Result::ok) {
            if f.path().extension().is_some_and(|x| x == "log") {
                out.push(f.path());
            }
        }
    }
    out.sort();
    out
}

/// Replaces `from` by `to` (same length) in the first segment of `topic` holding it, and
/// recomputes the CRC32C of the batch around it, as someone who knows the format would. Returns
/// the partition directory's name.
fn edit_on_disk(data: &Path, topic: &str, from: &[u8], to: &[u8]) -> String {
    assert_eq!(from.len(), to.len());
    for seg in segments(data, topic) {
        let mut bytes = std::fs::read(&seg).expect("segment");
        let Some(at) = bytes.windows(from.len()).position(|w| w == from) else { continue };
        bytes[at..at + to.len()].copy_from_slice(to);
        let mut pos = 0usize;
        while pos + 8 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes")) as usize;
            if (pos + 8..pos + 8 + len).contains(&at) {
                let crc = crc32c(&bytes[pos + 8..pos + 8 + len]);
                bytes[pos + 4..pos + 8].copy_from_slice(&crc.to_le_bytes());
                std::fs::write(&seg, &bytes).expect("write");
                return seg.parent().and_then(Path::file_name).expect("partition").to_string_lossy().into_owned();
            }
            pos += 8 + len;
        }
    }
    panic!("{from:?} is in no segment of {topic}");
}

/// CRC-32C (Castagnoli), bit by bit: the test's own, not the log's.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn checkpoints_verify_and_an_edited_approval_is_a_located_break() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    ok(&trustloop(&data, &["demo"]));

    // Before any checkpoint: nothing is chained, and `verify` says so (exit 0, nothing broken).
    let first_key = dir.path().join("first.key");
    let vkey =
        ok(&trustloop(&data, &["keys", "generate", "--name", "demo-log", "--out", &first_key.display().to_string()]));
    let vkey = vkey.trim().to_string();
    assert!(vkey.starts_with("demo-log+"), "{vkey}");
    let again =
        trustloop(&data, &["keys", "generate", "--name", "demo-log", "--out", &first_key.display().to_string()]);
    assert!(!again.status.success(), "an existing key is never overwritten");
    assert_eq!(ok(&trustloop(&data, &["keys", "public", "--key", &first_key.display().to_string()])).trim(), vkey);
    let none = ok(&trustloop(&data, &["log", "verify", "--key", &vkey]));
    assert!(none.contains("no checkpoints"), "{none}");

    let made = ok(&trustloop(&data, &["log", "checkpoint", "--key", &first_key.display().to_string()]));
    assert!(made.starts_with("checkpoint 1 of trustloop.local/log"), "{made}");

    // A rotation: the first key hands on to a second, which the environment holds.
    let second_key = dir.path().join("second.key");
    let second =
        ok(&trustloop(&data, &["keys", "generate", "--name", "demo-log", "--out", &second_key.display().to_string()]));
    ok(&trustloop(
        &data,
        &["log", "checkpoint", "--key", &first_key.display().to_string(), "--next-key", second.trim()],
    ));
    let skey = std::fs::read_to_string(&second_key).expect("key");
    let env_signed = output(cli_on(&data).env("TRUSTLOOP_LOG_KEY", skey.trim()).args(["log", "checkpoint"]), "");
    assert!(env_signed.status.success(), "{}", stderr(&env_signed));
    let refused = trustloop(&data, &["log", "checkpoint", "--key", &first_key.display().to_string()]);
    assert!(!refused.status.success(), "the first key is retired");
    assert!(stderr(&refused).contains("must be signed by"), "{}", stderr(&refused));

    let verified = ok(&trustloop(&data, &["log", "verify", "--key", &vkey]));
    assert!(verified.starts_with("VERIFIED 3 checkpoints (3 signed by "), "{verified}");
    // Checkpoints are no operator's input: every decision still replays as recorded.
    ok(&trustloop(&data, &["replay", "--all", "--verify"]));

    // The approver edited on disk, CRC recomputed: the log reads it without complaint…
    let partition = edit_on_disk(&data, "approvals", b"alice", b"mallo");
    let approvals = ok(&trustloop(&data, &["consume", "--topic", "approvals", "--from-beginning"]));
    assert!(approvals.contains("\"approver\":\"mallo\""), "{approvals}");
    // …and `log verify` finds it, where it is.
    let broken = trustloop(&data, &["log", "verify", "--key", &vkey, "--json"]);
    assert!(!broken.status.success(), "{}", stdout(&broken));
    let report: serde_json::Value = serde_json::from_str(&stdout(&broken)).expect("JSON report");
    let breaks = report["breaks"].as_array().expect("breaks");
    assert!(
        breaks.iter().any(|b| b["kind"] == "chain"
            && b["topic"] == "approvals"
            && b["partition"].as_u64().map(|p| p.to_string()) == Some(partition.clone())
            && b["checkpoint"] == 1),
        "{report:#}"
    );
    let text = stdout(&trustloop(&data, &["log", "verify", "--key", &vkey]));
    assert!(text.starts_with("BROKEN"), "{text}");
    assert!(text.contains(&format!("approvals/{partition} offsets [")), "{text}");
}
