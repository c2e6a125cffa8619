//! The witness against a log rewritten under it, on the embedded log: the tampering corpus's copy
//! (`ledger::tests`) with one record edited and then checkpointed with the log's own key, a log
//! whose checkpoints were forked, one whose checkpoints were rolled back. Each is refused with the
//! check that failed; the unedited copy, checkpointed the same way, is cosigned.

use super::{Check, WitnessRun, WitnessState};
use crate::ledger::COSIGNATURES_TOPIC;
use crate::ledger::conformance::{fill, make, signer, witness};
use crate::ledger::tests::{Edit, copy, open, original};
use crate::log::EventLog;

/// The original log (three checkpoints, 25 leaves) witnessed once, then copied with `edit` into a
/// fresh log that `then` may change; the witness run on the copy with the original's state.
async fn witnessed_copy(
    edit: Edit,
    then: impl AsyncFnOnce(&dyn EventLog),
) -> (WitnessRun, WitnessRun, WitnessState, WitnessState) {
    let (a, b, s) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let state = s.path().join("witness.json");
    let (key, w) = (signer("log", 1), signer("witness", 7));
    let src = original(a.path()).await;
    let first = witness(&src, &w, &key, &state).await;
    let before = WitnessState::load(&state).expect("reads").expect("a state");
    let dst = open(b.path());
    copy(&src, &dst, &edit).await;
    then(&dst).await;
    let second = witness(&dst, &w, &key, &state).await;
    let after = WitnessState::load(&state).expect("reads").expect("a state");
    (first, second, before, after)
}

async fn cosignatures_on(log: &dyn EventLog) -> i64 {
    log.offsets(COSIGNATURES_TOPIC).await.ok().and_then(|o| o.first().map(|p| p.end - p.start)).unwrap_or(0)
}

#[tokio::test]
async fn the_unedited_copy_checkpointed_again_is_cosigned() {
    let (first, second, before, after) = witnessed_copy(Edit::None, async |log| {
        fill(log, "inputs", 2, 1, "more").await;
        make(log, &signer("log", 1), 4_000).await;
    })
    .await;
    assert_eq!(first.cosigned.len(), 3, "{first:?}");
    assert_eq!((before.seq, before.size), (3, 25));
    assert!(second.refusal.is_none(), "{:?}", second.refusal);
    assert_eq!(second.cosigned.iter().map(|c| c.seq).collect::<Vec<_>>(), vec![4]);
    assert_eq!((after.seq, after.size), (4, 29), "the 4 records after checkpoint 3 and the 2 added");
}

#[tokio::test]
async fn a_record_edited_then_checkpointed_with_the_log_key_is_refused() {
    let (_, second, before, after) = witnessed_copy(Edit::Value("inputs", 1, 4), async |log| {
        // The log's own key signs a fourth checkpoint over the edited history: `log checkpoint`
        // goes on from the last checkpoint's right edge, so its tree head looks like an extension.
        fill(log, "inputs", 2, 1, "more").await;
        make(log, &signer("log", 1), 4_000).await;
    })
    .await;
    let refusal = second.refusal.expect("refused");
    assert_eq!(refusal.check, Check::Consistency, "{refusal}");
    assert_eq!((refusal.seq, refusal.old_size, refusal.new_size), (Some(4), 25, Some(29)), "{refusal}");
    assert_eq!(refusal.old_root, before.root_hash, "the old root is the witness's own");
    assert!(refusal.detail.contains("history was rewritten"), "{refusal}");
    assert!(second.cosigned.is_empty());
    assert_eq!(after, before, "the state does not move past a refusal");
}

#[tokio::test]
async fn a_record_edited_then_checkpointed_with_nothing_new_is_refused() {
    // The new checkpoint has the old tree's size and root: only the records tell.
    let (a, s) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let state = s.path().join("witness.json");
    let (key, w) = (signer("log", 1), signer("witness", 7));
    let src = original(a.path()).await;
    make(&src, &key, 3_500).await;
    assert_eq!(witness(&src, &w, &key, &state).await.cosigned.len(), 4);
    let before = WitnessState::load(&state).expect("reads").expect("a state");
    let b = tempfile::tempdir().expect("tempdir");
    let dst = open(b.path());
    copy(&src, &dst, &Edit::Value("verdicts", 0, 1)).await;
    make(&dst, &key, 4_000).await;
    let run = witness(&dst, &w, &key, &state).await;
    let refusal = run.refusal.expect("refused");
    assert_eq!(refusal.check, Check::Consistency, "{refusal}");
    assert_eq!(refusal.new_size, Some(before.size), "same size: {refusal}");
    assert!(refusal.detail.contains("history was rewritten"), "{refusal}");
}

#[tokio::test]
async fn a_forked_history_re_checkpointed_with_the_log_key_is_refused() {
    // Every record rewritten and every checkpoint made anew, in the same number, with the same key.
    let (_, second, before, after) = witnessed_copy(Edit::DropCheckpoint(0), async |log| {
        let _ = log;
    })
    .await;
    let refusal = second.refusal.expect("refused");
    assert_eq!(refusal.check, Check::History, "{refusal}");
    assert_eq!(after, before);

    let (a, s) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let state = s.path().join("witness.json");
    let (key, w) = (signer("log", 1), signer("witness", 7));
    let src = original(a.path()).await;
    assert_eq!(witness(&src, &w, &key, &state).await.cosigned.len(), 3);
    let b = tempfile::tempdir().expect("tempdir");
    let forked = open(b.path());
    fill(&forked, "inputs", 2, 6, "forged").await;
    fill(&forked, "verdicts", 1, 4, "v").await;
    for t in [1_000, 2_000, 3_000, 4_000] {
        make(&forked, &key, t).await;
    }
    let run = witness(&forked, &w, &key, &state).await;
    let refusal = run.refusal.expect("refused");
    assert_eq!(refusal.check, Check::History, "{refusal}");
    assert!(refusal.detail.contains("rewritten"), "{refusal}");
    assert_eq!(cosignatures_on(&forked).await, 0, "nothing cosigned");
}

#[tokio::test]
async fn rolled_back_checkpoints_are_refused() {
    // The last checkpoint removed, then a new one made in its place with the log's key.
    let (_, second, before, after) = witnessed_copy(Edit::DropCheckpoint(2), async |log| {
        make(log, &signer("log", 1), 9_000).await;
    })
    .await;
    let refusal = second.refusal.expect("refused");
    assert_eq!(refusal.check, Check::History, "{refusal}");
    assert_eq!(after, before);
    // Removed and not replaced: refused as rolled back.
    let (_, second, _, _) = witnessed_copy(Edit::DropCheckpoint(2), async |_| {}).await;
    let refusal = second.refusal.expect("refused");
    assert!(refusal.detail.contains("rolled back"), "{refusal}");
}

#[test]
fn the_state_file_is_replaced_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("w.json");
    assert_eq!(WitnessState::load(&path).expect("no file is no state"), None);
    let state = WitnessState {
        origin: "o".into(),
        seq: 1,
        checkpoint_offset: 0,
        size: 3,
        root_hash: hex::encode([1u8; 32]),
        note_digest: hex::encode([2u8; 32]),
        log_key: signer("log", 1).verifier().to_vkey(),
    };
    state.save(&path).expect("saves");
    assert_eq!(WitnessState::load(&path).expect("reads"), Some(state.clone()));
    let names: Vec<_> =
        std::fs::read_dir(dir.path()).expect("dir").filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
    std::fs::write(&path, "{\"origin\": 1}").expect("write");
    let err = WitnessState::load(&path).expect_err("refused");
    assert!(err.to_string().contains("line 1 column"), "{err}");
}
