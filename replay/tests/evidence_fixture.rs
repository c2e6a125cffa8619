//! A bundle written by an earlier build verifies offline with this one (the format stays readable,
//! the decision re-runs to the same verdict), and edited copies of it fail.

use std::path::Path;

use trustloop_replay::evidence::{Bundle, verify};
use trustloop_schemas::transparency::checkpoint::NoteVerifier;
use trustloop_schemas::transparency::dsse::DsseVerifier;

fn fixture() -> (Bundle, NoteVerifier) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/evidence");
    let text = std::fs::read_to_string(dir.join("tansu-prod.bundle.json")).expect("bundle");
    let vkey = std::fs::read_to_string(dir.join("log.vkey")).expect("vkey");
    (serde_json::from_str(&text).expect("a bundle"), NoteVerifier::from_vkey(vkey.trim()).expect("vkey"))
}

fn check(bundle: &Bundle, key: &NoteVerifier) -> trustloop_replay::evidence::EvidenceReport {
    let dsse = DsseVerifier::from_public_key(&key.public_key()).expect("key");
    verify(bundle, &[dsse], key)
}

#[test]
fn the_stored_bundle_verifies_and_reruns_to_its_verdict() {
    let (bundle, key) = fixture();
    let report = check(&bundle, &key);
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.rerun, "MATCH");
    assert_eq!(report.records_proven, bundle.records.len());
    assert_eq!(report.subject, "tansu@0.3.0@prod");
}

#[test]
fn edited_bundles_fail() {
    let (bundle, key) = fixture();
    // A record dropped (the statement lists it).
    let mut dropped = bundle.clone();
    dropped.records.pop();
    assert!(!check(&dropped, &key).is_ok());
    // Two inputs swapped: not the records the statement lists there.
    let mut swapped = bundle.clone();
    let n = swapped.records.len();
    swapped.records.swap(1, n - 1);
    assert!(!check(&swapped, &key).is_ok());
    // A leaf index moved: its proof no longer leads to the root.
    let mut moved = bundle.clone();
    moved.records[0].leaf_index += 1;
    assert!(!check(&moved, &key).is_ok());
    // The checkpoint from another log: its signature fails.
    let mut other = bundle.clone();
    other.checkpoint = other.checkpoint.replacen("trustloop.local/log", "elsewhere/log", 1);
    assert!(!check(&other, &key).is_ok());
    // Another key.
    let stranger = trustloop_schemas::transparency::checkpoint::NoteSigner::from_seed("demo", &[1; 32]).expect("key");
    assert!(!check(&bundle, &stranger.verifier()).is_ok());
}
