//! The log conformance suite and the ledger's checks (checkpoints, verification, key rotation),
//! run against every backend: the embedded log, librdkafka's mock cluster (always) and the Tansu
//! broker (when installed: `cargo xtask test`).

use std::ops::Deref;
use std::sync::Arc;

use trustloop_connectors::log::embedded::{EmbeddedLog, EmbeddedOptions, FsyncPolicy};
use trustloop_connectors::log::kafka::{KafkaConfig, KafkaLog, TopicCreator};
use trustloop_e2e::{MockKafka, TansuBroker};

/// A log plus whatever must stay alive for it (a broker, a directory); the log drops first.
struct Guard<L, K> {
    log: L,
    _keep: K,
}

impl<L, K> Deref for Guard<L, K> {
    type Target = L;
    fn deref(&self) -> &L {
        &self.log
    }
}

async fn embedded() -> Guard<EmbeddedLog, tempfile::TempDir> {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = EmbeddedLog::open(dir.path(), EmbeddedOptions { fsync: FsyncPolicy::Always, ..Default::default() })
        .expect("open");
    Guard { log, _keep: dir }
}

/// `KafkaLog` on librdkafka's mock cluster. The mock implements no CreateTopics request (its metadata
/// names a controller that does not exist, so the admin request times out; reproduced in
/// `broker_gaps.rs`), so this `KafkaLog` is configured with a [`TopicCreator`] that creates topics
/// through the mock's own API — `KafkaLog`'s documented path for clusters that refuse CreateTopics.
/// The `create_topic` semantics (idempotence, `TopicExists`, metadata checks) are still `KafkaLog`'s;
/// the CreateTopics request itself is exercised on Tansu.
async fn mock() -> Guard<KafkaLog, Arc<MockKafka>> {
    let kafka = Arc::new(MockKafka::start().expect("mock cluster"));
    let mut config = KafkaConfig::new(kafka.bootstrap_servers());
    let creator = kafka.clone();
    config.topic_creator = Some(TopicCreator::new(move |topic, partitions| creator.create_topic(topic, partitions)));
    let log = KafkaLog::connect(config).await.expect("connect");
    Guard { log, _keep: kafka }
}

/// `KafkaLog` on Tansu, with one record per producer batch: Tansu 0.6 reports a partition's high
/// watermark as the last batch's base offset + 1 (reproduced in `broker_gaps.rs`), which is right only
/// when every batch holds one record.
async fn tansu() -> Guard<KafkaLog, TansuBroker> {
    let broker = TansuBroker::start().expect("tansu");
    let mut config = KafkaConfig::new(broker.bootstrap_servers());
    config.options.push(("batch.num.messages".into(), "1".into()));
    let log = KafkaLog::connect(config).await.expect("connect");
    Guard { log, _keep: broker }
}

trustloop_connectors::conformance_tests!(embedded_log, [], embedded().await);
trustloop_connectors::conformance_tests!(mock_cluster, [], mock().await);
trustloop_connectors::ledger_tests!(ledger_embedded_log, [], embedded().await);
trustloop_connectors::ledger_tests!(ledger_mock_cluster, [], mock().await);
trustloop_connectors::ledger_tests!(
    ledger_tansu,
    [ignore = "needs the Tansu broker binary: run `cargo xtask test`, which installs it"],
    tansu().await
);
trustloop_connectors::conformance_tests!(
    tansu,
    [ignore = "needs the Tansu broker binary: run `cargo xtask test`, which installs it"],
    tansu().await
);
