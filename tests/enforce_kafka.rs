//! The Kafka topic enforcement adapter on Kafka (librdkafka's mock cluster): a dispatched action is
//! routed to the adapter, appended Confluent-framed to the controller's topic, acknowledged; an
//! external controller consumes it and reports its own results on `action-results`, where the
//! adapter's acknowledgement and the controller's progress line up by `action_id` and `attempt`.

use std::sync::Arc;

use bytes::Bytes;
use trustloop_connectors::enforce::config::AdapterContext;
use trustloop_connectors::enforce::{
    AdapterConfig, Dispatcher, EnforcementConfig, StepTime, build_result, kafka::KafkaTopicConfig,
};
use trustloop_connectors::log::kafka::{KafkaConfig, KafkaLog, TopicCreator};
use trustloop_connectors::log::{EventLog, Record, partition_for_key};
use trustloop_e2e::MockKafka;
use trustloop_schemas::{
    ActionKind, ActionState, EnforcementAction, EnforcementResult, Envelope, Event, EventCodec, EventTime, EventType,
    NoWriterSchemas, derive_event_id,
};

const REQUESTS: &str = "nac-requests";

async fn mock_log(kafka: &Arc<MockKafka>) -> Arc<dyn EventLog> {
    kafka.provision_trustloop_topics(3).expect("provision");
    kafka.create_topic(REQUESTS, 2).expect("requests topic");
    let mut config = KafkaConfig::new(kafka.bootstrap_servers());
    let creator = kafka.clone();
    config.topic_creator = Some(TopicCreator::new(move |t, p| creator.create_topic(t, p)));
    Arc::new(KafkaLog::connect(config).await.expect("connect"))
}

fn dispatched(action_id: &str) -> EnforcementAction {
    EnforcementAction {
        envelope: Envelope {
            event_id: derive_event_id("e2e-action", &[action_id.as_bytes()]),
            tenant: "acme".into(),
            key: "host-17".into(),
            event_time: EventTime::from_micros(1_793_534_400_000_000),
            source: "trustloop.enforcement".into(),
            schema_version: EventType::EnforcementAction.schema_version(),
        },
        action_id: action_id.into(),
        subject: "host-17".into(),
        kind: ActionKind::Isolate,
        state: ActionState::Dispatched,
        target: "nac".into(),
        sandbox: false,
        attempt: 1,
        cause_event_id: "00000000-0000-8000-8000-000000000000".into(),
        reason: "trust score 0.1 below 0.2".into(),
        deadline: None,
        revert: false,
        workflow: None,
        step: None,
    }
}

async fn append_results(log: &dyn EventLog, codec: &EventCodec, results: &[EnforcementResult]) {
    let topic = EventType::EnforcementResult.topic();
    let partitions = log.partition_count(topic).await.expect("partitions");
    for r in results {
        let value = codec.encode(&Event::EnforcementResult(r.clone())).expect("encode");
        let key = r.envelope.key.as_bytes();
        let record = Record::new(Some(Bytes::copy_from_slice(key)), value);
        log.append(topic, partition_for_key(key, partitions), vec![record]).await.expect("append result");
    }
}

async fn read_all(log: &dyn EventLog, codec: &EventCodec, topic: &str, partition: u32) -> Vec<Event> {
    let records = log.read(topic, partition, 0, 100).await.expect("read");
    records.iter().map(|r| codec.decode(&r.value, &NoWriterSchemas).expect("decode")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_kafka_adapter_hands_actions_to_a_controller_and_results_come_back() {
    let kafka = Arc::new(MockKafka::start().expect("mock cluster"));
    let log = mock_log(&kafka).await;
    let codec = EventCodec::new();

    let mut config = EnforcementConfig::default();
    config.adapters.insert("nac".into(), AdapterConfig::Kafka(KafkaTopicConfig::new(REQUESTS)));
    config.routes.insert("nac".into(), vec![ActionKind::Isolate, ActionKind::Quarantine]);
    let context = AdapterContext { log: Some(log.clone()), codec: codec.clone() };
    let dispatcher = Dispatcher::from_config(&config, &context).expect("dispatcher");

    // The adapter: appended and acknowledged.
    let action = dispatched("act-e2e-1");
    let acked = dispatcher.execute(&action).await;
    assert_eq!(acked.len(), 1, "{acked:#?}");
    assert_eq!((acked[0].state, acked[0].success), (ActionState::Acknowledged, true));
    assert!(acked[0].message.contains("(kafka)"), "{}", acked[0].message);
    // A redelivery of the same step: appended again (at least once), same result id.
    let again = dispatcher.execute(&action).await;
    assert_eq!(again[0].envelope.event_id, acked[0].envelope.event_id);
    append_results(log.as_ref(), &codec, &acked).await;

    // The controller: reads its topic, performs the action, reports on action-results.
    let partition = partition_for_key(b"act-e2e-1", 2);
    let requests = read_all(log.as_ref(), &codec, REQUESTS, partition).await;
    assert_eq!(requests.len(), 2);
    let Event::EnforcementAction(received) = &requests[0] else { panic!("not an action: {:?}", requests[0]) };
    assert_eq!(received, &action, "the controller reads exactly the dispatched action");
    let step = StepTime { started_at: EventTime::from_micros(1_793_534_401_000_000), duration_micros: 1500 };
    let progress: Vec<_> = [ActionState::Applied, ActionState::Verified]
        .into_iter()
        .map(|s| build_result("nac-controller", received, s, true, "port shut".into(), step))
        .collect();
    append_results(log.as_ref(), &codec, &progress).await;

    // On action-results, in order on the action's partition: acknowledged, applied, verified.
    let partition = partition_for_key(b"act-e2e-1", 3);
    let results = read_all(log.as_ref(), &codec, EventType::EnforcementResult.topic(), partition).await;
    let states: Vec<_> = results
        .iter()
        .filter_map(|e| match e {
            Event::EnforcementResult(r) if r.action_id == "act-e2e-1" && r.attempt == 1 => Some(r.state),
            _ => None,
        })
        .collect();
    assert_eq!(states, [ActionState::Acknowledged, ActionState::Applied, ActionState::Verified]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_kafka_adapter_reports_a_missing_topic_as_failed() {
    let kafka = Arc::new(MockKafka::start().expect("mock cluster"));
    let log = mock_log(&kafka).await;
    let mut config = EnforcementConfig::default();
    let mut adapter = KafkaTopicConfig::new("no-such-topic");
    adapter.timeout_ms = 10_000;
    config.adapters.insert("nac".into(), AdapterConfig::Kafka(adapter));
    config.default_adapter = Some("nac".into());
    let context = AdapterContext { log: Some(log), codec: EventCodec::new() };
    let results =
        Dispatcher::from_config(&config, &context).expect("dispatcher").execute(&dispatched("act-e2e-2")).await;
    assert_eq!(results.len(), 1, "{results:#?}");
    assert_eq!((results[0].state, results[0].success), (ActionState::Failed, false));
    assert!(results[0].message.contains("no-such-topic"), "{}", results[0].message);
}
