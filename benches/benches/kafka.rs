//! Kafka throughput through `KafkaLog`: produce (idempotent, acks=all) and consume of 200-byte events
//! in batches of 10 k, against brokers started on 127.0.0.1: librdkafka's mock cluster always, and
//! Tansu when its binary is installed (`cargo xtask install`). Both are single-process development
//! brokers: the figures measure trustloop's client path against them, not what a Kafka cluster does.
//!
//! `cargo bench -p trustloop-benches --bench kafka`

use std::sync::Arc;

use bytes::Bytes;
use trustloop_benches::measure;
use trustloop_connectors::log::kafka::{KafkaConfig, KafkaLog};
use trustloop_connectors::log::{EventLog, Record};

const BATCH: usize = 10_000;
const VALUE: usize = 200;

fn bench(rt: &tokio::runtime::Runtime, name: &str, brokers: String, options: &[(&str, &str)]) {
    let mut config = KafkaConfig::new(brokers);
    config.options.extend(options.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let log = Arc::new(rt.block_on(KafkaLog::connect(config)).expect("connect"));
    rt.block_on(log.create_topic("bench", 1)).expect("topic");
    let value = Bytes::from(vec![b'x'; VALUE]);
    let template: Vec<Record> =
        (0..BATCH).map(|i| Record::new(Some(Bytes::from(format!("host-{i:05}"))), value.clone())).collect();
    measure(&format!("kafka produce ({name}), 200 B, batch 10k"), BATCH as u64, || {
        rt.block_on(log.append("bench", 0, template.clone())).expect("append");
        (BATCH * VALUE) as u64
    });
    // The mock cluster keeps only the newest records: read what is retained.
    let retained = rt.block_on(log.offsets("bench")).expect("offsets")[0];
    let (start, end) = (retained.start, retained.end);
    let mut pos = start;
    measure(&format!("kafka consume ({name}), 200 B"), BATCH as u64, || {
        let mut got = 0usize;
        let mut bytes = 0u64;
        while got < BATCH {
            if pos >= end {
                pos = start;
            }
            let records = rt.block_on(log.read("bench", 0, pos, BATCH - got)).expect("read");
            pos = records.last().map_or(pos, |r| r.offset + 1);
            got += records.len();
            bytes += records.iter().map(|r| r.value.len() as u64).sum::<u64>();
        }
        bytes
    });
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mock = trustloop_e2e::MockKafka::start().expect("mock cluster");
    // The mock has no CreateTopics API: provision the topic through its own.
    mock.create_topic("bench", 1).expect("mock topic");
    bench(&rt, "librdkafka mock cluster", mock.bootstrap_servers(), &[]);
    if trustloop_e2e::tansu_bin().is_some() {
        let tansu = trustloop_e2e::TansuBroker::start().expect("tansu");
        // One record per producer batch: Tansu 0.6 miscounts the high watermark of larger batches.
        bench(&rt, "Tansu 0.6 memory://, 1 record/batch", tansu.bootstrap_servers(), &[("batch.num.messages", "1")]);
    } else {
        println!("Tansu is not installed: `cargo xtask install`, then run again for its figures");
    }
}
