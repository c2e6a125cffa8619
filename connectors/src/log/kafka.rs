//! The Kafka backend: [`EventLog`] over a real Kafka cluster through librdkafka (rdkafka).
//!
//! Appends go through an idempotent producer (`enable.idempotence=true`, `acks=all`) to an explicit
//! partition; reads use a group-less consumer assigned to one partition (`isolation.level=
//! read_committed`); group offsets are committed and fetched through a consumer per group; topics are
//! created with the admin API. Any librdkafka setting (SASL, TLS, timeouts) passes through
//! [`KafkaConfig::options`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header as KafkaHeader, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use super::{
    Appended, EventLog, Header, LogError, LogResult, PartitionOffsets, Record, StoredRecord, TopicInfo,
    TopicPartitionOffset, validate_name,
};

/// How to reach Kafka.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// Bootstrap servers, `HOST:PORT,...`.
    pub brokers: String,
    /// librdkafka settings passed to every client, e.g. `security.protocol=SASL_SSL`,
    /// `sasl.mechanism=SCRAM-SHA-512`, `sasl.username`, `sasl.password`, `ssl.ca.location`.
    pub options: Vec<(String, String)>,
    /// Replication factor of topics trustloop creates (1 for a single-broker development cluster).
    pub replication_factor: i32,
    /// `client.id` of trustloop's clients.
    pub client_id: String,
    /// How long one metadata, admin, offset or delivery operation may take.
    pub timeout: Duration,
}

impl KafkaConfig {
    /// Defaults for `brokers`: replication factor 1, client id `trustloop`, 30 s timeouts.
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaConfig {
            brokers: brokers.into(),
            options: Vec::new(),
            replication_factor: 1,
            client_id: "trustloop".into(),
            timeout: Duration::from_secs(30),
        }
    }

    /// A librdkafka configuration with the brokers, client id and pass-through options set.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers).set("client.id", &self.client_id);
        for (k, v) in &self.options {
            c.set(k, v);
        }
        c
    }
}

fn kafka_error(context: &str, e: &KafkaError) -> LogError {
    let code = e.rdkafka_error_code();
    let retriable = matches!(
        code,
        Some(
            RDKafkaErrorCode::RequestTimedOut
                | RDKafkaErrorCode::NotLeaderForPartition
                | RDKafkaErrorCode::LeaderNotAvailable
                | RDKafkaErrorCode::NetworkException
                | RDKafkaErrorCode::BrokerNotAvailable
                | RDKafkaErrorCode::QueueFull
                | RDKafkaErrorCode::MessageTimedOut
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::OperationTimedOut
                | RDKafkaErrorCode::CoordinatorLoadInProgress
                | RDKafkaErrorCode::NotCoordinator
                | RDKafkaErrorCode::CoordinatorNotAvailable
                | RDKafkaErrorCode::NotEnoughReplicas
                | RDKafkaErrorCode::NotEnoughReplicasAfterAppend
        )
    );
    LogError::Kafka { message: format!("{context}: {e}"), retriable }
}

/// The assigned partition of the reading consumer and the offset it will deliver next.
#[derive(Default)]
struct ReadPosition {
    assigned: Option<(String, u32)>,
    next: i64,
}

struct Reader {
    consumer: BaseConsumer,
    position: ReadPosition,
}

struct Inner {
    config: KafkaConfig,
    /// Metadata and watermark queries: a client that never fetches, so its requests never queue
    /// behind the reader's long-polling fetches on the same connection.
    meta: BaseConsumer,
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    reader: Mutex<Reader>,
    groups: Mutex<HashMap<String, Arc<BaseConsumer>>>,
    partitions: Mutex<HashMap<String, u32>>,
}

/// [`EventLog`] over Kafka (see the module docs).
#[derive(Clone)]
pub struct KafkaLog {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl KafkaLog {
    /// Creates the clients and checks that the cluster answers.
    pub async fn connect(config: KafkaConfig) -> LogResult<KafkaLog> {
        let producer: FutureProducer = config
            .client_config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("message.timeout.ms", config.timeout.as_millis().to_string())
            .create()
            .map_err(|e| kafka_error("creating the producer", &e))?;
        let admin: AdminClient<DefaultClientContext> =
            config.client_config().create().map_err(|e| kafka_error("creating the admin client", &e))?;
        let consumer: BaseConsumer =
            Self::consumer_config(&config, None).create().map_err(|e| kafka_error("creating the consumer", &e))?;
        let meta: BaseConsumer = Self::consumer_config(&config, None)
            .create()
            .map_err(|e| kafka_error("creating the metadata client", &e))?;
        let inner = Arc::new(Inner {
            meta,
            config,
            producer,
            admin,
            reader: Mutex::new(Reader { consumer, position: ReadPosition::default() }),
            groups: Mutex::new(HashMap::new()),
            partitions: Mutex::new(HashMap::new()),
        });
        let log = KafkaLog { inner };
        // Fail early, with the broker's answer, when the cluster cannot be reached.
        log.blocking(|inner| {
            inner
                .meta
                .fetch_metadata(None, inner.config.timeout)
                .map(|_| ())
                .map_err(|e| kafka_error(&format!("reaching Kafka at {}", inner.config.brokers), &e))
        })
        .await?;
        Ok(log)
    }

    fn consumer_config(config: &KafkaConfig, group: Option<&str>) -> ClientConfig {
        let mut c = config.client_config();
        c.set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "false")
            .set("allow.auto.create.topics", "false")
            .set("fetch.wait.max.ms", "100")
            .set("group.id", group.unwrap_or("trustloop-reader"));
        c
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> LogResult<T> + Send + 'static,
    ) -> LogResult<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| LogError::Kafka { message: format!("worker thread failed: {e}"), retriable: false })?
    }

    /// Partition count from metadata (cached once known: Kafka topics never lose partitions).
    async fn partitions_of(&self, topic: &str, fresh: bool) -> LogResult<u32> {
        if !fresh && let Some(n) = lock(&self.inner.partitions).get(topic) {
            return Ok(*n);
        }
        let name = topic.to_string();
        self.blocking(move |inner| {
            let md = inner
                .meta
                .fetch_metadata(Some(&name), inner.config.timeout)
                .map_err(|e| kafka_error(&format!("metadata of {name}"), &e))?;
            let t =
                md.topics().iter().find(|t| t.name() == name).ok_or_else(|| LogError::UnknownTopic(name.clone()))?;
            if t.error().is_some() || t.partitions().is_empty() {
                return Err(LogError::UnknownTopic(name.clone()));
            }
            let n = t.partitions().len() as u32;
            lock(&inner.partitions).insert(name.clone(), n);
            Ok(n)
        })
        .await
    }

    async fn check_partition(&self, topic: &str, partition: u32) -> LogResult<u32> {
        let mut n = self.partitions_of(topic, false).await?;
        if partition >= n {
            n = self.partitions_of(topic, true).await?;
        }
        if partition >= n {
            return Err(LogError::UnknownPartition { topic: topic.to_string(), partition, partitions: n });
        }
        Ok(n)
    }

    fn group_consumer(inner: &Inner, group: &str) -> LogResult<Arc<BaseConsumer>> {
        let mut groups = lock(&inner.groups);
        if let Some(c) = groups.get(group) {
            return Ok(c.clone());
        }
        let c: BaseConsumer = Self::consumer_config(&inner.config, Some(group))
            .create()
            .map_err(|e| kafka_error(&format!("creating a consumer for group {group}"), &e))?;
        let c = Arc::new(c);
        groups.insert(group.to_string(), c.clone());
        Ok(c)
    }
}

fn to_stored(topic: &Arc<str>, partition: u32, m: &rdkafka::message::BorrowedMessage<'_>) -> StoredRecord {
    let headers = m
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h: KafkaHeader<'_, &[u8]>| Header {
                    name: h.key.to_string(),
                    value: h.value.map(Bytes::copy_from_slice),
                })
                .collect()
        })
        .unwrap_or_default();
    StoredRecord {
        topic: topic.clone(),
        partition,
        offset: m.offset(),
        timestamp_ms: m.timestamp().to_millis().unwrap_or(0),
        key: m.key().map(Bytes::copy_from_slice),
        value: m.payload().map(Bytes::copy_from_slice).unwrap_or_default(),
        headers,
    }
}

#[async_trait]
impl EventLog for KafkaLog {
    fn backend(&self) -> &'static str {
        "kafka"
    }

    #[tracing::instrument(level = "debug", skip_all, fields(backend = "kafka"))]
    async fn create_topic(&self, topic: &str, partitions: u32) -> LogResult<()> {
        validate_name(topic)?;
        let p = i32::try_from(partitions)
            .ok()
            .filter(|p| *p > 0)
            .ok_or(LogError::InvalidName { name: topic.to_string(), reason: "a topic needs 1..=2^31-1 partitions" })?;
        // A topic that exists already (e.g. provisioned by operators, where trustloop may lack the
        // permission to create topics) needs no admin call.
        match self.partitions_of(topic, true).await {
            Ok(existing) if existing == partitions => return Ok(()),
            Ok(existing) => {
                return Err(LogError::TopicExists { topic: topic.to_string(), existing, requested: partitions });
            }
            Err(LogError::UnknownTopic(_)) => {}
            Err(e) => return Err(e),
        }
        let new = NewTopic::new(topic, p, TopicReplication::Fixed(self.inner.config.replication_factor));
        let opts = AdminOptions::new().operation_timeout(Some(self.inner.config.timeout));
        let results = self
            .inner
            .admin
            .create_topics([&new], &opts)
            .await
            .map_err(|e| kafka_error(&format!("creating topic {topic}"), &e))?;
        for r in results {
            match r {
                Ok(_) => {}
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(LogError::Kafka {
                        message: format!("creating topic {name}: {code}"),
                        retriable: matches!(code, RDKafkaErrorCode::RequestTimedOut | RDKafkaErrorCode::NotController),
                    });
                }
            }
        }
        // Wait until metadata shows the topic (creation is asynchronous in Kafka), then compare.
        let deadline = Instant::now() + self.inner.config.timeout;
        loop {
            match self.partitions_of(topic, true).await {
                Ok(existing) if existing == partitions => return Ok(()),
                Ok(existing) => {
                    return Err(LogError::TopicExists { topic: topic.to_string(), existing, requested: partitions });
                }
                Err(LogError::UnknownTopic(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    #[tracing::instrument(level = "debug", skip_all, fields(backend = "kafka"))]
    async fn list_topics(&self) -> LogResult<Vec<TopicInfo>> {
        self.blocking(|inner| {
            let md = inner.meta.fetch_metadata(None, inner.config.timeout).map_err(|e| kafka_error("metadata", &e))?;
            let mut out: Vec<TopicInfo> = md
                .topics()
                .iter()
                .filter(|t| !t.name().starts_with('_') && t.error().is_none())
                .map(|t| TopicInfo { name: t.name().to_string(), partitions: t.partitions().len() as u32 })
                .collect();
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(backend = "kafka"))]
    async fn partition_count(&self, topic: &str) -> LogResult<u32> {
        self.partitions_of(topic, false).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(backend = "kafka"))]
    async fn append(&self, topic: &str, partition: u32, records: Vec<Record>) -> LogResult<Appended> {
        self.check_partition(topic, partition).await?;
        let mut pending = Vec::with_capacity(records.len());
        for r in &records {
            let mut fr: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(topic).partition(partition as i32).payload(r.value.as_ref());
            if let Some(k) = &r.key {
                fr = fr.key(k.as_ref());
            }
            if let Some(ts) = r.timestamp_ms {
                fr = fr.timestamp(ts);
            }
            if !r.headers.is_empty() {
                let mut hs = OwnedHeaders::new_with_capacity(r.headers.len());
                for h in &r.headers {
                    hs = hs.insert(KafkaHeader { key: &h.name, value: h.value.as_deref() });
                }
                fr = fr.headers(hs);
            }
            let mut fr = fr;
            let deadline = Instant::now() + self.inner.config.timeout;
            loop {
                match self.inner.producer.send_result(fr) {
                    Ok(f) => {
                        pending.push(f);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                        if Instant::now() < deadline =>
                    {
                        // The local queue is full: let deliveries drain, then retry.
                        fr = back;
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    Err((e, _)) => return Err(kafka_error(&format!("producing to {topic}/{partition}"), &e)),
                }
            }
        }
        let mut offsets = Vec::with_capacity(pending.len());
        for f in pending {
            match f.await {
                Ok(Ok(delivery)) => offsets.push(delivery.offset),
                Ok(Err((e, _))) => return Err(kafka_error(&format!("delivering to {topic}/{partition}"), &e)),
                Err(_) => {
                    return Err(LogError::Kafka {
                        message: "producer dropped a delivery report".into(),
                        retriable: true,
                    });
                }
            }
        }
        Ok(Appended { partition, offsets })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(backend = "kafka"))]
    async fn read(&self, topic: &str, partition: u32, offset: i64, max_records: usize) -> LogResult<Vec<StoredRecord>> {
        self.check_partition(topic, partition).await?;
        let name: Arc<str> = topic.into();
        self.blocking(move |inner| {
            let timeout = inner.config.timeout;
            let (low, high) = inner
                .meta
                .fetch_watermarks(&name, partition as i32, timeout)
                .map_err(|e| kafka_error(&format!("watermarks of {name}/{partition}"), &e))?;
            if offset < low || offset > high {
                return Err(LogError::OffsetOutOfRange {
                    topic: name.to_string(),
                    partition,
                    offset,
                    start: low,
                    end: high,
                });
            }
            let mut out = Vec::new();
            if offset == high || max_records == 0 {
                return Ok(out);
            }
            let mut reader = lock(&inner.reader);
            let same = reader.position.assigned.as_ref().is_some_and(|(t, p)| **t == *name && *p == partition)
                && reader.position.next == offset;
            if !same {
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset(&name, partition as i32, Offset::Offset(offset))
                    .map_err(|e| kafka_error("assigning", &e))?;
                reader.consumer.assign(&tpl).map_err(|e| kafka_error(&format!("assigning {name}/{partition}"), &e))?;
                reader.position = ReadPosition { assigned: Some((name.to_string(), partition)), next: offset };
            }
            let want = max_records.min((high - offset) as usize);
            // Stop when enough arrived, or when nothing arrived for a while (e.g. records above the
            // last stable offset of an open transaction are not readable yet).
            let mut idle_until = Instant::now() + Duration::from_secs(2);
            while out.len() < want && Instant::now() < idle_until {
                match reader.consumer.poll(Duration::from_millis(100)) {
                    Some(Ok(m)) => {
                        if m.offset() < offset {
                            continue;
                        }
                        out.push(to_stored(&name, partition, &m));
                        idle_until = Instant::now() + Duration::from_secs(2);
                    }
                    Some(Err(e)) => {
                        reader.position = ReadPosition::default();
                        return Err(kafka_error(&format!("reading {name}/{partition}"), &e));
                    }
                    None => {}
                }
            }
            reader.position.next = out.last().map_or(offset, |r| r.offset + 1);
            if out.len() < want && out.is_empty() {
                // Nothing came: force a fresh assignment next time rather than trusting the position.
                reader.position = ReadPosition::default();
            }
            Ok(out)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(backend = "kafka"))]
    async fn offsets(&self, topic: &str) -> LogResult<Vec<PartitionOffsets>> {
        let n = self.partitions_of(topic, false).await?;
        let name = topic.to_string();
        self.blocking(move |inner| {
            (0..n as i32)
                .map(|p| {
                    inner
                        .meta
                        .fetch_watermarks(&name, p, inner.config.timeout)
                        .map(|(start, end)| PartitionOffsets { start, end })
                        .map_err(|e| kafka_error(&format!("watermarks of {name}/{p}"), &e))
                })
                .collect()
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(backend = "kafka"))]
    async fn commit_offsets(&self, group: &str, offsets: &[TopicPartitionOffset]) -> LogResult<()> {
        validate_name(group)?;
        let group = group.to_string();
        let offsets = offsets.to_vec();
        self.blocking(move |inner| {
            let consumer = KafkaLog::group_consumer(inner, &group)?;
            let mut tpl = TopicPartitionList::new();
            for o in &offsets {
                tpl.add_partition_offset(&o.topic, o.partition as i32, Offset::Offset(o.offset))
                    .map_err(|e| kafka_error("building the commit", &e))?;
            }
            consumer
                .commit(&tpl, CommitMode::Sync)
                .map_err(|e| kafka_error(&format!("committing offsets of {group}"), &e))
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(backend = "kafka"))]
    async fn committed_offsets(&self, group: &str, topic: &str) -> LogResult<Vec<Option<i64>>> {
        validate_name(group)?;
        let n = self.partitions_of(topic, false).await?;
        let group = group.to_string();
        let topic = topic.to_string();
        self.blocking(move |inner| {
            let consumer = KafkaLog::group_consumer(inner, &group)?;
            let mut tpl = TopicPartitionList::new();
            for p in 0..n as i32 {
                tpl.add_partition(&topic, p);
            }
            let got = consumer
                .committed_offsets(tpl, inner.config.timeout)
                .map_err(|e| kafka_error(&format!("committed offsets of {group}"), &e))?;
            Ok((0..n as i32)
                .map(|p| match got.find_partition(&topic, p).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => Some(o),
                    _ => None,
                })
                .collect())
        })
        .await
    }
}
