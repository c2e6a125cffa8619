//! `KafkaLog` beyond the conformance suite: reads reuse their assignment and stop at the end of the
//! partition without waiting, out-of-range reads are errors, failed deliveries fail the append.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use trustloop_connectors::log::kafka::{KafkaConfig, KafkaLog, TopicCreator};
use trustloop_connectors::log::{EventLog, LogError, Record};
use trustloop_e2e::{MockKafka, TansuBroker};

async fn mock_log() -> (KafkaLog, Arc<MockKafka>) {
    let kafka = Arc::new(MockKafka::start().expect("mock cluster"));
    let mut config = KafkaConfig::new(kafka.bootstrap_servers());
    let creator = kafka.clone();
    config.topic_creator = Some(TopicCreator::new(move |t, p| creator.create_topic(t, p)));
    (KafkaLog::connect(config).await.expect("connect"), kafka)
}

async fn fill(log: &KafkaLog, topic: &str, n: usize) {
    log.create_topic(topic, 1).await.expect("create");
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let batch = chunk.iter().map(|i| Record::new(None, Bytes::from(format!("v{i}")))).collect();
        log.append(topic, 0, batch).await.expect("append");
    }
}

/// Reads `n` records in chunks of `chunk`, checking order, and returns how long that took.
async fn read_all(log: &KafkaLog, topic: &str, n: usize, chunk: usize) -> Duration {
    let started = Instant::now();
    let mut next = 0i64;
    while next < n as i64 {
        let got = log.read(topic, 0, next, chunk).await.expect("read");
        assert!(!got.is_empty(), "read at {next} (of {n}) returned nothing");
        assert!(got.len() <= chunk);
        for r in got {
            assert_eq!(r.offset, next);
            assert_eq!(r.value, Bytes::from(format!("v{next}")));
            next += 1;
        }
    }
    started.elapsed()
}

/// Sequential reads continue from the consumer's position (no re-assignment per call, which would
/// refetch from the broker each time), and a read that asks for more than is left returns at the end
/// of the partition instead of waiting out its idle timeout.
async fn sequential_reads(log: &KafkaLog, n: usize) {
    let topic = format!("seq-{}", std::process::id());
    fill(log, &topic, n).await;
    let took = read_all(log, &topic, n, 500).await;
    eprintln!("read {n} records in chunks of 500 in {took:?}");
    assert!(took < Duration::from_secs(30), "reading {n} records took {took:?}");

    let started = Instant::now();
    let tail = log.read(&topic, 0, n as i64 - 10, 1000).await.expect("read the tail");
    let took = started.elapsed();
    assert_eq!(tail.len(), 10);
    assert!(took < Duration::from_millis(1500), "a read reaching the end returned after {took:?}");
    let at_end = log.read(&topic, 0, n as i64, 1000).await.expect("read at the end");
    assert!(at_end.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_sequential_reads_are_cheap_and_stop_at_the_end() {
    let (log, _kafka) = mock_log().await;
    sequential_reads(&log, 20_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Tansu broker binary: run `cargo xtask test`, which installs it"]
async fn tansu_sequential_reads_are_cheap_and_stop_at_the_end() {
    let broker = TansuBroker::start().expect("tansu");
    let mut config = KafkaConfig::new(broker.bootstrap_servers());
    // Tansu 0.6's high watermark is only right for one-record batches (see broker_gaps.rs).
    config.options.push(("batch.num.messages".into(), "1".into()));
    let log = KafkaLog::connect(config).await.expect("connect");
    sequential_reads(&log, 2_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_reads_and_bad_partitions_are_errors() {
    let (log, _kafka) = mock_log().await;
    fill(&log, "range", 5).await;
    match log.read("range", 0, 6, 10).await {
        Err(LogError::OffsetOutOfRange { offset: 6, start: 0, end: 5, .. }) => {}
        other => panic!("reading past the end offset: {other:?}"),
    }
    match log.read("range", 3, 0, 10).await {
        Err(LogError::UnknownPartition { partition: 3, partitions: 1, .. }) => {}
        other => panic!("reading a missing partition: {other:?}"),
    }
    match log.offsets("nope").await {
        Err(LogError::UnknownTopic(t)) if t == "nope" => {}
        other => panic!("offsets of a missing topic: {other:?}"),
    }
}

/// A broker refusing the records fails the whole append with an error that says how many records
/// were not delivered, and is not retriable when the broker's error is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deliveries_fail_the_append() {
    let (log, kafka) = mock_log().await;
    fill(&log, "refused", 1).await;
    let errors = [RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE; 8];
    kafka.cluster().request_errors(RDKafkaApiKey::Produce, &errors);
    let batch = vec![Record::new(None, Bytes::from_static(b"a")), Record::new(None, Bytes::from_static(b"b"))];
    match log.append("refused", 0, batch).await {
        Err(e @ LogError::Kafka { .. }) => {
            let message = e.to_string();
            assert!(message.contains("2 of 2 records were not delivered"), "{message}");
            assert!(!e.is_retriable(), "MSG_SIZE_TOO_LARGE is not retriable: {message}");
        }
        other => panic!("append against a refusing broker: {other:?}"),
    }
    kafka.cluster().clear_request_errors(RDKafkaApiKey::Produce);
    let ok = log.append("refused", 0, vec![Record::new(None, Bytes::from_static(b"c"))]).await.expect("append");
    assert_eq!(ok.offsets, vec![1], "the refused records took no offsets");
}

/// Transactions on the mock cluster: each transaction's records land when it commits, one writer
/// id runs transaction after transaction, and an aborted one can be followed by a committed one; the
/// embedded log says it has no transactions. (Fencing of an older writer by a newer one under the
/// same id is Kafka's `InitProducerId` at work: the mock does not enforce it and Tansu 0.6 has no
/// `EndTxn`, so it is not tested here.)
#[tokio::test]
async fn transactions_commit_and_abort() {
    let (log, kafka) = mock_log().await;
    kafka.create_topic("txn", 1).expect("topic");
    let record = |v: &'static [u8]| Record::new(None, Bytes::from_static(v));
    for (value, commit) in [(&b"a"[..], true), (b"b", false), (b"c", true)] {
        let t = log.begin_transaction("writer").await.expect("begin");
        t.append("txn", 0, vec![record(value)]).await.expect("append");
        if commit {
            t.commit("g", &[]).await.expect("commit");
        } else {
            t.abort().await.expect("abort");
        }
    }
    let read = log.read("txn", 0, 0, 10).await.expect("read");
    let values: Vec<&[u8]> = read.iter().map(|r| r.value.as_ref()).collect();
    // The mock shows aborted records to read_committed readers too (see `broker_gaps.rs`).
    assert_eq!(values, vec![&b"a"[..], b"b", b"c"]);

    let dir = tempfile::tempdir().expect("tempdir");
    let embedded =
        trustloop_connectors::log::embedded::EmbeddedLog::open(dir.path(), Default::default()).expect("open");
    assert!(matches!(embedded.begin_transaction("writer").await, Err(LogError::Unsupported(_))));
}
