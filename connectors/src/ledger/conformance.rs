//! The ledger's checks that every backend must pass: checkpoints made and verified as the log
//! grows, key rotation followed, records appended after the last checkpoint reported as not yet
//! covered. Each check wants a fresh log (a checkpoint covers every topic of it). Backends' test
//! files call [`ledger_tests!`](crate::ledger_tests).

use bytes::Bytes;
use trustloop_schemas::transparency::checkpoint::NoteSigner;
use trustloop_schemas::{EventCodec, NoWriterSchemas};

use super::checkpointer::{CheckpointRequest, Made, checkpoint};
use super::verify::{LogVerification, VerifyRequest, verify_log};
use super::witness::{WitnessRequest, WitnessRun, WitnessState, cosignatures, cosigned_note, witness_log};
use crate::log::{EventLog, Header, Record};

/// The origin the checks' checkpoints carry.
pub const ORIGIN: &str = "trustloop.test/ledger";

/// A signer from a fixed seed.
pub fn signer(name: &str, seed: u8) -> NoteSigner {
    NoteSigner::from_seed(name, &[seed; 32]).expect("a valid key name")
}

/// Appends `n` records (key, value, a header) to every partition of `topic`, values `prefix-i`.
pub async fn fill(log: &dyn EventLog, topic: &str, partitions: u32, n: usize, prefix: &str) {
    log.create_topic(topic, partitions).await.expect("create");
    for p in 0..partitions {
        let records = (0..n)
            .map(|i| {
                let mut r = Record::new(Some(Bytes::from(format!("k{i}"))), Bytes::from(format!("{prefix}-{p}-{i}")));
                r.timestamp_ms = Some(1_700_000_000_000 + i as i64);
                r.headers.push(Header { name: "h".into(), value: Some(Bytes::from(format!("{i}"))) });
                r
            })
            .collect();
        log.append(topic, p, records).await.expect("append");
    }
}

/// Makes a checkpoint signed by `key` at time `now_ms`.
pub async fn make(log: &dyn EventLog, key: &NoteSigner, now_ms: i64) -> Made {
    let req = CheckpointRequest { origin: Some(ORIGIN), signer: key, next_key: None, reason: "manual", now_ms };
    checkpoint(log, &EventCodec::new(), &NoWriterSchemas, &req).await.expect("checkpoint")
}

/// Verifies with `keys`.
pub async fn verify(log: &dyn EventLog, keys: &[&NoteSigner]) -> LogVerification {
    let keys: Vec<_> = keys.iter().map(|k| k.verifier()).collect();
    verify_log(log, &EventCodec::new(), &NoWriterSchemas, &VerifyRequest { keys: &keys, origin: Some(ORIGIN) })
        .await
        .expect("verify runs")
}

/// Checkpoints of a growing log verify; what came after the last one is reported, not broken.
pub async fn checkpoints_verify_as_the_log_grows(log: &dyn EventLog) {
    let key = signer("log", 1);
    let empty = verify(log, &[&key]).await;
    assert!(empty.is_ok() && empty.checkpoints == 0, "{}", empty.render());
    assert!(empty.notices.iter().any(|n| n.contains("no checkpoints")), "{}", empty.render());

    fill(log, "ledger-a", 2, 5, "a").await;
    fill(log, "ledger-b", 1, 3, "b").await;
    let first = make(log, &key, 1_000).await;
    assert_eq!(first.event.seq, 1);
    assert_eq!(first.event.tree_size, 13, "every record a leaf");
    let v = verify(log, &[&key]).await;
    assert!(v.is_ok(), "{}", v.render());
    assert_eq!((v.checkpoints, v.signed, v.records, v.tree_size), (1, 1, 13, 13), "{}", v.render());
    assert!(v.uncovered.is_empty(), "{}", v.render());

    fill(log, "ledger-a", 2, 2, "a2").await;
    fill(log, "ledger-c", 1, 4, "c").await;
    let second = make(log, &key, 2_000).await;
    assert_eq!((second.event.seq, second.event.tree_size, second.event.records), (2, 21, 8));
    let unchanged = second.spans.iter().find(|s| s.topic == "ledger-b").expect("ledger-b is named");
    assert_eq!(unchanged.records, 0, "a partition without new records has an empty span");
    let third = make(log, &key, 3_000).await;
    assert_eq!((third.event.seq, third.event.tree_size, third.event.records), (3, 21, 0));

    fill(log, "ledger-b", 1, 2, "b2").await;
    let v = verify(log, &[&key]).await;
    assert!(v.is_ok(), "{}", v.render());
    assert_eq!((v.checkpoints, v.records, v.tree_size), (3, 21, 21), "{}", v.render());
    assert_eq!(v.uncovered.len(), 1, "{}", v.render());
    assert_eq!((v.uncovered[0].topic.as_str(), v.uncovered[0].from, v.uncovered[0].end), ("ledger-b", 3, 5));

    let stranger = signer("log", 2);
    let v = verify(log, &[&stranger]).await;
    assert_eq!(v.signed, 0, "{}", v.render());
    assert_eq!(v.breaks.len(), 3, "every checkpoint is refused: {}", v.render());
}

/// A key announced in a checkpoint signs the next ones; the old key no longer may.
pub async fn key_rotation_is_followed(log: &dyn EventLog) {
    let (old, new) = (signer("log", 1), signer("log", 3));
    fill(log, "rotation", 1, 3, "r").await;
    make(log, &old, 1_000).await;
    let announce = CheckpointRequest {
        origin: Some(ORIGIN),
        signer: &old,
        next_key: Some(&new.verifier()),
        reason: "manual",
        now_ms: 2_000,
    };
    checkpoint(log, &EventCodec::new(), &NoWriterSchemas, &announce).await.expect("announces");
    fill(log, "rotation", 1, 2, "r2").await;
    // The checkpointer refuses the old key now.
    let refused =
        CheckpointRequest { origin: Some(ORIGIN), signer: &old, next_key: None, reason: "manual", now_ms: 3_000 };
    let err =
        checkpoint(log, &EventCodec::new(), &NoWriterSchemas, &refused).await.expect_err("the old key is retired");
    assert!(err.to_string().contains("must be signed by"), "{err}");
    make(log, &new, 3_000).await;
    let v = verify(log, &[&old]).await;
    assert!(v.is_ok(), "{}", v.render());
    assert_eq!(v.keys.len(), 2, "{}", v.render());
    assert!(v.notices.iter().any(|n| n.contains("hands the log's key on")), "{}", v.render());
    // Given only the new key, the checkpoints before the rotation do not verify.
    let v = verify(log, &[&new]).await;
    assert_eq!(v.signed, 1, "{}", v.render());
}

/// Runs the witness `w` over `log` once, trusting `log_key` first, with its state in `state`.
pub async fn witness(log: &dyn EventLog, w: &NoteSigner, log_key: &NoteSigner, state: &std::path::Path) -> WitnessRun {
    let req = WitnessRequest {
        signer: w,
        log_key: &log_key.verifier(),
        origin: Some(ORIGIN),
        state_file: state,
        now_ms: 5_000,
    };
    witness_log(log, &EventCodec::new(), &NoWriterSchemas, &req).await.expect("the witness runs")
}

/// The witness cosigns each checkpoint once, across restarts (its state file), follows a key
/// rotation, and `log verify --witness`'s report and an evidence bundle's note carry its lines.
pub async fn witness_cosigns_and_follows_the_log(log: &dyn EventLog) {
    let (old, new, w) = (signer("log", 1), signer("log", 3), signer("witness", 7));
    let dir = std::env::temp_dir().join(format!(
        "trustloop-witness-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).expect("state dir");
    let state = dir.join("witness.json");
    fill(log, "witnessed", 2, 4, "w").await;
    make(log, &old, 1_000).await;
    fill(log, "witnessed", 2, 2, "w2").await;
    make(log, &old, 2_000).await;
    let run = witness(log, &w, &old, &state).await;
    assert!(run.refusal.is_none(), "{:?}", run.refusal);
    assert_eq!(run.cosigned.iter().map(|c| c.seq).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(run.cosigned[1].old_size, 8, "checkpoint 2 is proven consistent with checkpoint 1's tree");
    assert!(!run.cosigned[1].consistency_proof.is_empty());
    // A restart goes on from the state file: nothing new, nothing cosigned twice.
    let saved = WitnessState::load(&state).expect("reads").expect("a state");
    assert_eq!((saved.seq, saved.size), (2, 12));
    let again = witness(log, &w, &old, &state).await;
    assert!(again.cosigned.is_empty() && again.refusal.is_none(), "{again:?}");
    // A key rotation: checkpoint 3 hands the key on, checkpoint 4 is signed by the new key.
    let announce = CheckpointRequest {
        origin: Some(ORIGIN),
        signer: &old,
        next_key: Some(&new.verifier()),
        reason: "manual",
        now_ms: 3_000,
    };
    checkpoint(log, &EventCodec::new(), &NoWriterSchemas, &announce).await.expect("announces");
    fill(log, "witnessed", 2, 1, "w3").await;
    let fourth = make(log, &new, 4_000).await;
    let run = witness(log, &w, &old, &state).await;
    assert!(run.refusal.is_none(), "{:?}", run.refusal);
    assert_eq!(run.cosigned.iter().map(|c| c.seq).collect::<Vec<_>>(), vec![3, 4]);
    let saved = WitnessState::load(&state).expect("reads").expect("a state");
    assert_eq!(saved.log_key, new.verifier().to_vkey(), "the state follows the rotation");
    // The report: every checkpoint cosigned by the witness; another witness key sees none.
    let codec = EventCodec::new();
    let report = cosignatures(log, &codec, &NoWriterSchemas, &[w.verifier()], 1).await.expect("report");
    assert!(report.is_ok(), "{}", report.render());
    assert_eq!(report.checkpoints.len(), 4);
    assert!(report.checkpoints.iter().all(|c| c.cosigned_by.len() == 1), "{}", report.render());
    let stranger = signer("witness", 8).verifier();
    let report = cosignatures(log, &codec, &NoWriterSchemas, &[stranger], 1).await.expect("report");
    assert!(!report.is_ok(), "{}", report.render());
    // The newest checkpoint's note with the cosignature opens with both keys.
    let note = cosigned_note(log, &codec, &NoWriterSchemas, &fourth.event.note).await.expect("merges");
    let opened =
        trustloop_schemas::transparency::checkpoint::Checkpoint::open(&note, ORIGIN, &new.verifier(), &[w.verifier()])
            .expect("opens");
    assert_eq!(opened.signed_by.len(), 2, "{:?}", opened.signed_by);
    // Cosignatures are not covered by the log's checkpoints.
    let v = verify(log, &[&old]).await;
    assert!(v.is_ok(), "{}", v.render());
    assert!(v.uncovered.iter().all(|u| u.topic != super::COSIGNATURES_TOPIC), "{}", v.render());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `ledger_tests!(module_name, [#[ignore = "why"]], async { make_log().await })`: one
/// `#[tokio::test]` per ledger check, as [`conformance_tests!`](crate::conformance_tests) does.
#[macro_export]
macro_rules! ledger_tests {
    ($module:ident, [$($attr:meta)*], $make:expr) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $crate::ledger_tests!(@each [$($attr)*] $make; checkpoints_verify_as_the_log_grows, key_rotation_is_followed, witness_cosigns_and_follows_the_log);
        }
    };
    (@each [$($attr:meta)*] $make:expr; $check:ident $(, $rest:ident)*) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attr])*
        async fn $check() {
            let log = $make;
            $crate::ledger::conformance::$check(&*log).await;
        }
        $crate::ledger_tests!(@each [$($attr)*] $make; $($rest),*);
    };
    (@each [$($attr:meta)*] $make:expr;) => {};
}
