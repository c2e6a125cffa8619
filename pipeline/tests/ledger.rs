//! `trustloop keys` and `trustloop log checkpoint | verify | witness` on a demo log, black-box:
//! checkpoints verify across a key rotation and leave replay unchanged; an approval's approver
//! edited inside its segment with the CRC recomputed — what `replay --all --verify` cannot see once
//! the derived topics are re-derived — is a break that names the topic, partition and offsets, and
//! a witness refuses to cosign the log checkpointed again over it.

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

/// Runs the securesystemslib DSSE oracle (`schemas/tests/oracles/dsse_oracle.py`) on an envelope;
/// `None` (with the reason printed) when Python or its packages are missing.
fn dsse_oracle(envelope: &Path, public_hex: &str) -> Option<serde_json::Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/tests/oracles/dsse_oracle.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .args(["verify", &envelope.display().to_string(), "1", public_hex])
        .output()
        .ok()?;
    if out.status.code() == Some(3) || !out.status.success() {
        eprintln!("SKIPPED the securesystemslib oracle: {}", String::from_utf8_lossy(&out.stderr).trim());
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// The raw 32-byte public key of a vkey (`NAME+ID+base64(0x01 || key)`), hex.
fn public_hex(vkey: &str) -> String {
    use base64::Engine as _;
    let b64 = vkey.splitn(3, '+').nth(2).expect("a vkey");
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).expect("base64");
    raw[1..].iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn evidence_bundles_verify_offline_and_edits_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    ok(&trustloop(&data, &["demo"]));
    let key = dir.path().join("log.key").display().to_string();
    let vkey = ok(&trustloop(&data, &["keys", "generate", "--name", "demo-log", "--out", &key])).trim().to_string();
    // The release verdicts the demo derived, every one of them (not a chosen few).
    let verdicts: Vec<serde_json::Value> =
        ok(&trustloop(&data, &["consume", "--topic", "verdicts", "--from-beginning"]))
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .filter(|v: &serde_json::Value| v["subject_kind"] == "release")
            .collect();
    assert!(!verdicts.is_empty());
    let first_id = verdicts[0]["event_id"].as_str().expect("id").to_string();
    // Before any checkpoint, nothing can be proven: a clear error.
    let early = trustloop(&data, &["evidence", "export", &first_id, "--out", "/dev/null", "--key", &key]);
    assert!(!early.status.success());
    assert!(stderr(&early).contains("log checkpoint"), "{}", stderr(&early));
    ok(&trustloop(&data, &["log", "checkpoint", "--key", &key]));

    for v in &verdicts {
        let id = v["event_id"].as_str().expect("id");
        let bundle = dir.path().join(format!("{id}.json"));
        let bundle_s = bundle.display().to_string();
        ok(&trustloop(&data, &["evidence", "export", id, "--out", &bundle_s, "--key", &key]));
        // Verified anywhere: no --data, no log.
        let verified = output(support::cli().args(["evidence", "verify", &bundle_s, "--key", &vkey, "--json"]), "");
        let report: serde_json::Value = serde_json::from_str(&stdout(&verified)).expect("JSON report");
        assert!(verified.status.success(), "{report:#}");
        assert_eq!(report["rerun"], "MATCH", "{report:#}");
        assert_eq!(report["verdict_id"], id);
        assert_eq!(report["outcome"].as_str().map(str::to_lowercase), v["outcome"].as_str().map(str::to_lowercase));
    }

    // One bundle, edited three ways.
    let bundle = dir.path().join(format!("{first_id}.json"));
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&bundle).expect("bundle")).expect("JSON");
    let envelope_file = dir.path().join("envelope.json");
    std::fs::write(&envelope_file, original["dsse_envelope"].to_string()).expect("write");
    if let Some(o) = dsse_oracle(&envelope_file, &public_hex(&vkey)) {
        assert_eq!(o["verified"], true, "securesystemslib verifies trustloop's envelope: {o:#}");
    }
    let check = |edited: &serde_json::Value, what: &str| {
        let path = dir.path().join("edited.json");
        std::fs::write(&path, edited.to_string()).expect("write");
        let out = output(support::cli().args(["evidence", "verify", &path.display().to_string(), "--key", &vkey]), "");
        assert!(!out.status.success(), "{what} must fail: {}", stdout(&out));
        assert!(stdout(&out).starts_with("FAILED"), "{what}: {}", stdout(&out));
    };
    {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        // The predicate edited (the outcome), the signature kept.
        let mut edited = original.clone();
        let payload = b64.decode(edited["dsse_envelope"]["payload"].as_str().expect("payload")).expect("base64");
        let mut statement: serde_json::Value = serde_json::from_slice(&payload).expect("statement");
        statement["predicate"]["outcome"] = serde_json::json!("PASS");
        statement["predicate"]["verdict"]["outcome"] = serde_json::json!("PASS");
        edited["dsse_envelope"]["payload"] = serde_json::json!(b64.encode(statement.to_string()));
        check(&edited, "an edited predicate");
        std::fs::write(&envelope_file, edited["dsse_envelope"].to_string()).expect("write");
        if let Some(o) = dsse_oracle(&envelope_file, &public_hex(&vkey)) {
            assert_eq!(o["verified"], false, "securesystemslib refuses the edited predicate too: {o:#}");
        }
        // An input record's bytes edited (inside the packed, compressed entries).
        let unpack = |b: &serde_json::Value| -> Vec<u8> {
            use std::io::Read as _;
            let gz = b64.decode(b["packed"]["entries"].as_str().expect("packed entries")).expect("base64");
            let mut raw = Vec::new();
            flate2::read::GzDecoder::new(gz.as_slice()).read_to_end(&mut raw).expect("gunzip");
            raw
        };
        let pack = |raw: &[u8]| -> String {
            use std::io::Write as _;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(raw).expect("gzip");
            b64.encode(gz.finish().expect("gzip"))
        };
        let mut raw = unpack(&original);
        // The last byte of the verdict's entry is inside its record (headers end it); the input after
        // it is edited 40 bytes in, in its value's framing or text.
        let verdict_len = u64::from_be_bytes(raw[8..16].try_into().expect("8 bytes")) as usize;
        let second = 16 + verdict_len;
        raw[second + 16 + 40] ^= 1;
        let mut edited = original.clone();
        edited["packed"]["entries"] = serde_json::json!(pack(&raw));
        check(&edited, "an edited input record");
        // The records' proof edited: one hash of it.
        let mut edited = original.clone();
        let mut proof = b64.decode(edited["packed"]["proof"].as_str().expect("proof")).expect("base64");
        assert!(!proof.is_empty(), "the records are a part of the demo's tree");
        proof[0] ^= 1;
        edited["packed"]["proof"] = serde_json::json!(b64.encode(proof));
        check(&edited, "an edited inclusion proof");
    }
    // Another key.
    let other = dir.path().join("other.key").display().to_string();
    let other_vkey =
        ok(&trustloop(&data, &["keys", "generate", "--name", "demo-log", "--out", &other])).trim().to_string();
    let out =
        output(support::cli().args(["evidence", "verify", &bundle.display().to_string(), "--key", &other_vkey]), "");
    assert!(!out.status.success(), "{}", stdout(&out));
}

#[test]
fn the_runtime_checkpoints_after_it_decides() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    ok(&trustloop(&data, &["demo"]));
    let key = dir.path().join("log.key").display().to_string();
    let vkey = ok(&trustloop(&data, &["keys", "generate", "--name", "demo-log", "--out", &key])).trim().to_string();
    let checkpoints = |data: &Path| -> Vec<serde_json::Value> {
        ok(&trustloop(data, &["consume", "--topic", "checkpoints", "--from-beginning"]))
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect()
    };
    // The first round checkpoints whatever the log holds.
    ok(&trustloop(&data, &["run", "--until-idle", "--checkpoint-key", &key]));
    let first = checkpoints(&data);
    assert_eq!(first.len(), 1, "{first:?}");
    // Nothing new: no new checkpoint.
    ok(&trustloop(&data, &["run", "--until-idle", "--checkpoint-key", &key, "--checkpoint-interval-secs", "0"]));
    assert_eq!(checkpoints(&data).len(), 1);
    // A new promotion request: the decision stage writes a verdict, and a checkpoint covers it.
    let request = r#"{"tenant":"acme","event_time":"2026-11-02T00:00:00Z","release_name":"tansu","release_version":"0.3.0","from_environment":"staging","to_environment":"prod","requested_by":"someone"}"#;
    ok(&support::trustloop_with_stdin(&data, &["produce", "--topic", "promotions"], request));
    ok(&trustloop(&data, &["run", "--until-idle", "--checkpoint-key", &key]));
    let all = checkpoints(&data);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1]["reason"], "verdict");
    assert!(all[1]["records"].as_i64().expect("records") > 1, "the request and what it derived: {}", all[1]);
    let verified = ok(&trustloop(&data, &["log", "verify", "--key", &vkey]));
    assert!(verified.starts_with("VERIFIED 2 checkpoints"), "{verified}");
    assert!(!verified.contains("not yet covered"), "everything is covered: {verified}");
    // The newest verdict has evidence at once.
    let verdict = ok(&trustloop(&data, &["consume", "--topic", "verdicts", "--from-beginning"]))
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
        .filter(|v| v["subject"] == "tansu@0.3.0@prod")
        .max_by_key(|v| v["_log_time"].as_str().map(str::to_string))
        .expect("a verdict for the request");
    let bundle = dir.path().join("b.json").display().to_string();
    ok(&trustloop(
        &data,
        &["evidence", "export", verdict["event_id"].as_str().expect("id"), "--out", &bundle, "--key", &key],
    ));
    ok(&output(support::cli().args(["evidence", "verify", &bundle, "--key", &vkey]), ""));
}

#[test]
fn a_witness_cosigns_the_log_and_refuses_it_rewritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    ok(&trustloop(&data, &["demo"]));
    let path = |name: &str| dir.path().join(name).display().to_string();
    let (key, wkey, other) = (path("log.key"), path("witness.key"), path("other.key"));
    let vkey = ok(&trustloop(&data, &["keys", "generate", "--name", "demo-log", "--out", &key])).trim().to_string();
    let wvkey = ok(&trustloop(&data, &["keys", "generate", "--name", "witness", "--out", &wkey])).trim().to_string();
    let other_vkey =
        ok(&trustloop(&data, &["keys", "generate", "--name", "witness", "--out", &other])).trim().to_string();
    let state = path("witness.json");
    let witness =
        |data: &Path| trustloop(data, &["log", "witness", "--key", &wkey, "--log-key", &vkey, "--state", &state]);
    ok(&trustloop(&data, &["log", "checkpoint", "--key", &key]));
    let cosigned = ok(&witness(&data));
    assert!(cosigned.starts_with("cosigned checkpoint 1 of trustloop.local/log"), "{cosigned}");
    assert!(ok(&witness(&data)).starts_with("nothing new to cosign"), "a restart cosigns nothing twice");
    let refused = trustloop(&data, &["log", "witness", "--key", &key, "--log-key", &vkey, "--state", &state]);
    assert!(!refused.status.success() && stderr(&refused).contains("a key of its own"), "{}", stderr(&refused));

    // `log verify --witness`: the newest checkpoint cosigned; another witness's key finds none.
    let verified = ok(&trustloop(&data, &["log", "verify", "--key", &vkey, "--witness", &wvkey]));
    assert!(verified.contains("WITNESSED the newest checkpoint (1) has 1 of the 1"), "{verified}");
    let unwitnessed = trustloop(&data, &["log", "verify", "--key", &vkey, "--witness", &other_vkey]);
    assert!(!unwitnessed.status.success(), "{}", stdout(&unwitnessed));
    assert!(stdout(&unwitnessed).contains("NOT WITNESSED"), "{}", stdout(&unwitnessed));
    assert!(
        ok(&trustloop(&data, &["log", "verify", "--key", &vkey])).starts_with("VERIFIED"),
        "unchanged without --witness"
    );

    // The evidence bundle carries the cosignature; `evidence verify --witness` requires it.
    let verdict = ok(&trustloop(&data, &["consume", "--topic", "verdicts", "--from-beginning"]))
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
        .find(|v| v["subject_kind"] == "release")
        .expect("a release verdict");
    let bundle = path("bundle.json");
    let exported = ok(&trustloop(
        &data,
        &["evidence", "export", verdict["event_id"].as_str().expect("id"), "--out", &bundle, "--key", &key],
    ));
    assert!(exported.contains("(1 cosignature)"), "{exported}");
    let verify = |witness: &str| {
        output(support::cli().args(["evidence", "verify", &bundle, "--key", &vkey, "--witness", witness]), "")
    };
    let good = verify(&wvkey);
    assert!(good.status.success(), "{}", stdout(&good));
    let witness_id = wvkey.split('+').take(2).collect::<Vec<_>>().join("+");
    assert!(stdout(&good).contains(&format!(", {witness_id}; decision re-run: MATCH")), "{}", stdout(&good));
    let bad = verify(&other_vkey);
    assert!(!bad.status.success() && stdout(&bad).contains("cosigned by 0"), "{}", stdout(&bad));

    // The approver edited on disk (CRC recomputed) and the log checkpointed again with its own key:
    // the witness refuses, names the check and both tree heads, and cosigns nothing.
    edit_on_disk(&data, "approvals", b"alice", b"mallo");
    ok(&trustloop(&data, &["log", "checkpoint", "--key", &key]));
    let refused = witness(&data);
    assert!(!refused.status.success(), "{}", stdout(&refused));
    let text = stdout(&refused);
    assert!(text.starts_with("REFUSED checkpoint 2"), "{text}");
    assert!(
        text.contains("Consistency") && text.contains("history was rewritten") && text.contains("last cosigned: size"),
        "{text}"
    );
    let state_now: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).expect("state")).expect("JSON");
    assert_eq!(state_now["seq"], 1, "the state stays at the last checkpoint cosigned");
    let unwitnessed = trustloop(&data, &["log", "verify", "--key", &vkey, "--witness", &wvkey]);
    assert!(!unwitnessed.status.success());
    assert!(stdout(&unwitnessed).contains("checkpoint 2 (offset 1): not cosigned"), "{}", stdout(&unwitnessed));
}
