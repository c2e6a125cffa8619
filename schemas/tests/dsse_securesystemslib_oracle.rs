//! trustloop's DSSE envelopes against a verifier no one here wrote: Python's `securesystemslib`
//! (`securesystemslib.dsse.Envelope`, keys as `SSlibKey` over the `cryptography` package), driven by
//! `tests/oracles/dsse_oracle.py`. An in-toto statement signed here (fixed seeds, fixed payload)
//! must verify there, with the key ids it computes itself; an edited predicate, payload type or
//! signature must fail there; and an envelope securesystemslib signs must verify here.
//!
//! Skipped, with the reason printed, when `python3`, `securesystemslib` or `cryptography` is missing
//! (`cargo xtask test` installs them).

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use trustloop_schemas::transparency::dsse::{DsseSigner, Envelope};
use trustloop_schemas::transparency::intoto::{PAYLOAD_TYPE, STATEMENT_TYPE, Statement, Subject};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracles/dsse_oracle.py")
}

/// Runs the oracle; `Err` with the reason when it cannot run.
fn oracle(args: &[&str]) -> Result<serde_json::Value, String> {
    let out =
        Command::new("python3").arg(script()).args(args).output().map_err(|e| format!("python3 cannot be run: {e}"))?;
    if out.status.code() == Some(3) {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    assert!(out.status.success(), "the oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).map_err(|e| format!("oracle output is not JSON ({e})"))
}

fn skip(why: &str) {
    eprintln!(
        "SKIPPED: the securesystemslib DSSE oracle cannot run ({why}); `pip install securesystemslib cryptography` to run it"
    );
}

const SEED_A: [u8; 32] = [0x11; 32];
const SEED_B: [u8; 32] = [0x22; 32];

fn statement() -> Statement {
    Statement::new(
        vec![Subject::sha256("arroyo@2023-12", &[0x5a; 32])],
        "https://trustloop.dev/attestations/verdict/v1",
        serde_json::json!({"verdict": "fail", "reasons": ["high-with-fix-in-prod"], "evidence_digest": "00".repeat(32)}),
    )
}

fn write(dir: &Path, name: &str, env: &Envelope) -> String {
    let path = dir.join(name);
    std::fs::write(&path, env.to_json()).expect("writes");
    path.to_string_lossy().into_owned()
}

fn verify(path: &str, threshold: usize, signers: &[&DsseSigner]) -> Result<serde_json::Value, String> {
    let pubs: Vec<String> = signers.iter().map(|s| hex::encode(s.verifier().public_key())).collect();
    let threshold = threshold.to_string();
    let mut args = vec!["verify", path, &threshold];
    args.extend(pubs.iter().map(String::as_str));
    oracle(&args)
}

#[test]
fn securesystemslib_verifies_our_envelopes_and_rejects_edits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = (DsseSigner::from_seed(&SEED_A), DsseSigner::from_seed(&SEED_B));
    let env = statement().sign(&[&a, &b]);
    let good = write(dir.path(), "good.json", &env);

    let r = match verify(&good, 2, &[&a, &b]) {
        Ok(r) => r,
        Err(why) => return skip(&why),
    };
    assert_eq!(r["verified"], true, "{r}");
    // The key ids securesystemslib's side computed (SHA-256 of the raw key) are the ones we wrote.
    assert_eq!(r["keyids"], serde_json::json!([a.keyid(), b.keyid()]));
    assert_eq!(r["envelope_keyids"], serde_json::json!([a.keyid(), b.keyid()]));
    assert_eq!(r["payload_type"], PAYLOAD_TYPE);
    let payload: serde_json::Value = serde_json::from_str(r["payload"].as_str().expect("payload")).expect("JSON");
    assert_eq!(payload["_type"], STATEMENT_TYPE);
    assert_eq!(payload["predicate"]["verdict"], "fail");

    // An edited predicate (re-encoded payload, same signatures) fails.
    let mut edited = statement();
    edited.predicate = Some(
        serde_json::json!({"verdict": "pass", "reasons": ["high-with-fix-in-prod"], "evidence_digest": "00".repeat(32)}),
    );
    let forged = Envelope { payload: edited.to_json(), ..env.clone() };
    let r = verify(&write(dir.path(), "forged.json", &forged), 1, &[&a, &b]).expect("runs");
    assert_eq!(r["verified"], false, "an edited predicate verified: {r}");

    // An edited payload type fails.
    let retyped = Envelope { payload_type: "application/json".into(), ..env.clone() };
    let r = verify(&write(dir.path(), "retyped.json", &retyped), 1, &[&a, &b]).expect("runs");
    assert_eq!(r["verified"], false, "an edited payload type verified: {r}");

    // One flipped signature bit: that key no longer counts.
    let mut flipped = env.clone();
    flipped.signatures[1].sig[0] ^= 1;
    let path = write(dir.path(), "flipped.json", &flipped);
    assert_eq!(verify(&path, 2, &[&a, &b]).expect("runs")["verified"], false);
    assert_eq!(verify(&path, 1, &[&a, &b]).expect("runs")["verified"], true);

    // Another key does not verify it.
    let c = DsseSigner::from_seed(&[0x33; 32]);
    assert_eq!(verify(&good, 1, &[&c]).expect("runs")["verified"], false);
}

#[test]
fn we_verify_envelopes_securesystemslib_signs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let payload = dir.path().join("payload.json");
    std::fs::write(&payload, statement().to_json()).expect("writes");
    let signed = match oracle(&["sign", &hex::encode(SEED_A), PAYLOAD_TYPE, &payload.to_string_lossy()]) {
        Ok(r) => r,
        Err(why) => return skip(&why),
    };
    let env = Envelope::from_json(&signed.to_string()).expect("securesystemslib's envelope parses");
    let a = DsseSigner::from_seed(&SEED_A);
    assert_eq!(env.signatures[0].keyid, a.keyid());
    assert_eq!(Statement::open(&env, &[a.verifier()], 1).expect("verifies here"), statement());
    // Ed25519 is deterministic: the same seed over the same PAE gives the same signature bytes.
    assert_eq!(env.signatures, statement().sign(&[&a]).signatures);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&env.payload);
    assert_eq!(signed["payload"], b64);
    let b = DsseSigner::from_seed(&SEED_B);
    assert!(Statement::open(&env, &[b.verifier()], 1).is_err());
}
