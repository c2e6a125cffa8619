//! The Kafka topic adapter: hands actions to an external controller by appending them to a topic
//! (through the [`EventLog`] contract, so on the embedded log as on Kafka).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use trustloop_schemas::{ActionState, EnforcementAction, EnforcementResult, Event, EventCodec, EventType};

use super::rate::{self, Limiter, RateLimitConfig};
use super::{Adapter, EnforceError, Report, Started, waited_note};
use crate::log::{EventLog, Record, partition_for_key, validate_name};

/// Appends each action to a topic that an external controller consumes.
///
/// The action is written as an `EnforcementAction` event in the Confluent wire format (Avro, the
/// same schema id as on the `actions` topic), keyed by its `action_id` and partitioned like every
/// trustloop topic (Kafka's murmur2 of the key), so all steps of one action stay in order on one
/// partition. The adapter reports `acknowledged` once the log has acknowledged the append (with
/// `acks=all` on Kafka); the controller reports its own progress (`applied`, `verified`, `failed`,
/// `reverted`) as `EnforcementResult` events on `action-results`, de-duplicated by `event_id` — see
/// `trustloop_connectors::enforce::result_event_id`. The topic must exist; it may not be `actions`
/// or `action-results`, which would feed the actions back into trustloop.
///
/// ```toml
/// [enforcement.adapters.nac]
/// type = "kafka"
/// topic = "nac-requests"
/// timeout_ms = 30000
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaTopicConfig {
    /// The topic the controller consumes.
    pub topic: String,
    /// How long an append may take, in milliseconds. Default 30000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How fast actions may be appended (default: unlimited).
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
}

fn default_timeout_ms() -> u64 {
    30_000
}

impl KafkaTopicConfig {
    /// A configuration appending to `topic`, with the defaults elsewhere.
    pub fn new(topic: impl Into<String>) -> Self {
        KafkaTopicConfig { topic: topic.into(), timeout_ms: default_timeout_ms(), rate_limit: None }
    }
}

/// The Kafka topic adapter (see [`KafkaTopicConfig`]).
pub struct KafkaTopicAdapter {
    name: String,
    topic: String,
    log: Arc<dyn EventLog>,
    codec: EventCodec,
    timeout: Duration,
    limiter: Option<Limiter>,
    partitions: OnceCell<u32>,
}

impl fmt::Debug for KafkaTopicAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaTopicAdapter")
            .field("name", &self.name)
            .field("topic", &self.topic)
            .field("backend", &self.log.backend())
            .finish_non_exhaustive()
    }
}

impl KafkaTopicAdapter {
    /// The adapter `name` appending to `config.topic` of `log`, encoding with `codec`; an error if the
    /// topic name, timeout or rate limit is unusable.
    pub fn new(
        name: &str,
        config: &KafkaTopicConfig,
        log: Arc<dyn EventLog>,
        codec: EventCodec,
    ) -> Result<KafkaTopicAdapter, EnforceError> {
        validate_name(&config.topic).map_err(|e| EnforceError::Config(format!("topic: {e}")))?;
        for own in [EventType::EnforcementAction.topic(), EventType::EnforcementResult.topic()] {
            if config.topic == own {
                return Err(EnforceError::Config(format!(
                    "topic `{own}` is trustloop's own: writing actions there would feed them back into trustloop"
                )));
            }
        }
        if config.timeout_ms == 0 {
            return Err(EnforceError::Config("timeout_ms must be at least 1".into()));
        }
        Ok(KafkaTopicAdapter {
            name: name.to_string(),
            topic: config.topic.clone(),
            log,
            codec,
            timeout: Duration::from_millis(config.timeout_ms),
            limiter: config.rate_limit.as_ref().map(Limiter::new).transpose()?,
            partitions: OnceCell::new(),
        })
    }

    async fn append(&self, action: &EnforcementAction) -> Result<(u32, i64), EnforceError> {
        let value = self
            .codec
            .encode(&Event::EnforcementAction(action.clone()))
            .map_err(|e| EnforceError::Encode(e.to_string()))?;
        let partitions = *self.partitions.get_or_try_init(|| self.log.partition_count(&self.topic)).await?;
        let key = action.action_id.as_bytes();
        let partition = partition_for_key(key, partitions);
        let record = Record::new(Some(Bytes::copy_from_slice(key)), value);
        let appended = self.log.append(&self.topic, partition, vec![record]).await?;
        let offset = appended.first_offset().ok_or_else(|| EnforceError::Transport {
            method: "append",
            url: self.topic.clone(),
            message: "the log acknowledged no offset".into(),
            retriable: true,
        })?;
        Ok((partition, offset))
    }
}

#[async_trait]
impl Adapter for KafkaTopicAdapter {
    fn name(&self) -> &str {
        &self.name
    }

    async fn execute(&self, action: &EnforcementAction) -> Vec<EnforcementResult> {
        let mut report = Report::new(&self.name, action);
        let started = Started::now();
        let waited = rate::wait(self.limiter.as_ref()).await;
        let appended = tokio::time::timeout(self.timeout, self.append(action)).await.unwrap_or_else(|_| {
            Err(EnforceError::Timeout { what: format!("appending to `{}`", self.topic), after: self.timeout })
        });
        match appended {
            Ok((partition, offset)) => {
                let message = format!(
                    "appended to {}/{partition} at offset {offset} ({}){}",
                    self.topic,
                    self.log.backend(),
                    waited_note(waited)
                );
                report.ok(ActionState::Acknowledged, message, started);
            }
            Err(e) => report.failed(&e, started),
        }
        report.finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use trustloop_schemas::{ActionKind, NoWriterSchemas};

    use super::*;
    use crate::enforce::testing::{action, states};
    use crate::log::embedded::{EmbeddedLog, EmbeddedOptions};

    async fn embedded(dir: &std::path::Path, topic: &str, partitions: u32) -> Arc<dyn EventLog> {
        let log = EmbeddedLog::open(dir, EmbeddedOptions::default()).expect("open");
        log.create_topic(topic, partitions).await.expect("topic");
        Arc::new(log)
    }

    #[tokio::test]
    async fn appends_the_framed_action_keyed_by_action_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = embedded(dir.path(), "nac-requests", 3).await;
        let codec = EventCodec::new();
        let adapter = KafkaTopicAdapter::new("nac", &KafkaTopicConfig::new("nac-requests"), log.clone(), codec.clone())
            .expect("adapter");
        let act = action("act-k-1", ActionKind::Isolate, false);
        let results = adapter.execute(&act).await;
        assert_eq!(states(&results), [ActionState::Acknowledged]);
        assert!(results[0].success && results[0].message.contains("nac-requests/"), "{}", results[0].message);
        let revert = adapter.execute(&action("act-k-1", ActionKind::Isolate, true)).await;
        assert_eq!(states(&revert), [ActionState::Acknowledged]);

        let partition = partition_for_key(b"act-k-1", 3);
        let records = log.read("nac-requests", partition, 0, 10).await.expect("read");
        assert_eq!(records.len(), 2, "both steps on the action's partition, in order");
        assert_eq!(records[0].key.as_deref(), Some(&b"act-k-1"[..]));
        let decoded = codec.decode(&records[0].value, &NoWriterSchemas).expect("decode");
        assert_eq!(decoded, Event::EnforcementAction(act));
        let Event::EnforcementAction(second) = codec.decode(&records[1].value, &NoWriterSchemas).expect("decode")
        else {
            panic!("not an action")
        };
        assert!(second.revert);
    }

    #[tokio::test]
    async fn a_missing_topic_is_a_failure_and_own_topics_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = embedded(dir.path(), "other", 1).await;
        let adapter = KafkaTopicAdapter::new("nac", &KafkaTopicConfig::new("nowhere"), log.clone(), EventCodec::new())
            .expect("adapter");
        let results = adapter.execute(&action("act-k-2", ActionKind::Isolate, false)).await;
        assert_eq!(states(&results), [ActionState::Failed]);
        assert!(results[0].message.contains("unknown topic `nowhere`"), "{}", results[0].message);
        assert!(results[0].message.ends_with("(not retriable)"));
        for topic in ["actions", "action-results", "bad/name"] {
            let err = KafkaTopicAdapter::new("x", &KafkaTopicConfig::new(topic), log.clone(), EventCodec::new())
                .expect_err("refused");
            assert!(matches!(err, EnforceError::Config(_)), "{topic}: {err}");
        }
    }

    #[tokio::test]
    async fn a_burst_beyond_the_rate_limit_is_spread_in_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = embedded(dir.path(), "nac-requests", 1).await;
        let mut config = KafkaTopicConfig::new("nac-requests");
        config.rate_limit = Some(RateLimitConfig { rate_per_second: 10.0, burst: 1 });
        let adapter = KafkaTopicAdapter::new("nac", &config, log.clone(), EventCodec::new()).expect("adapter");
        let actions: Vec<_> = (0..5).map(|i| action(&format!("act-rate-{i}"), ActionKind::Notify, false)).collect();
        let start = Instant::now();
        let all = futures::future::join_all(actions.iter().map(|a| adapter.execute(a))).await;
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(400), "5 actions at 10/s, burst 1, took {took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        let mut acks: Vec<_> = all.iter().map(|r| r[0].clone()).collect();
        assert!(acks.iter().all(|r| r.state == ActionState::Acknowledged && r.success));
        // The wait shows: the longest-waiting action's step waited and says so. Its step is timed
        // from when its task first ran, which on a loaded machine can be well after the burst
        // began (the whole burst's ≥ 400 ms is checked above): half of it is what is sure.
        acks.sort_by_key(|r| r.duration_micros);
        let last = acks.last().expect("five");
        assert!(last.duration_micros >= 200_000, "{}", last.duration_micros);
        assert!(last.message.contains("ms for the rate limit"), "{}", last.message);
        assert_eq!(log.end_offsets("nac-requests").await.expect("offsets"), [5]);
    }
}
