//! The Kafka backend: [`EventLog`] over a real Kafka cluster through librdkafka (rdkafka).
//!
//! Appends go through an idempotent producer (`enable.idempotence=true`, `acks=all`) to an explicit
//! partition; reads use a group-less consumer assigned to one partition (`isolation.level=
//! read_committed`); group offsets are committed and fetched through a consumer per group; topics are
//! created with the admin API (or, on clusters that refuse it, a [`TopicCreator`]). Any librdkafka
//! setting (SASL, TLS, timeouts) passes through [`KafkaConfig::options`].
//!
//! Transactions ([`EventLog::begin_transaction`]): one transactional producer per writer id
//! (`transactional.id`), initialised once — which fences older processes of the same id — and input
//! offsets committed inside the transaction with `send_offsets_to_transaction`, the Kafka Streams way.
//!
//! Every blocking librdkafka call runs on tokio's blocking pool (`spawn_blocking`); deliveries and
//! admin requests are awaited through rdkafka's futures.

use std::collections::HashMap;
use std::fmt;
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
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::{
    Appended, EventLog, Header, LogError, LogResult, LogTransaction, PartitionOffsets, ReadBatch, Record, StoredRecord,
    TopicInfo, TopicPartitionOffset, api_versions, validate_name,
};

/// How to reach Kafka.
///
/// ```no_run
/// # async fn f() -> trustloop_connectors::log::LogResult<()> {
/// use trustloop_connectors::log::kafka::{KafkaConfig, KafkaLog};
/// let mut config = KafkaConfig::new("kafka-1.example:9093,kafka-2.example:9093");
/// config.replication_factor = 3;
/// for (k, v) in [
///     ("security.protocol", "SASL_SSL"),
///     ("sasl.mechanism", "SCRAM-SHA-512"),
///     ("sasl.username", "trustloop"),
///     ("sasl.password", "..."),
///     ("ssl.ca.location", "/etc/ssl/certs/kafka-ca.pem"),
/// ] {
///     config.options.push((k.into(), v.into()));
/// }
/// let log = KafkaLog::connect(config).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// Bootstrap servers, `HOST:PORT,...`.
    pub brokers: String,
    /// librdkafka settings passed to every client, e.g. `security.protocol=SASL_SSL`,
    /// `sasl.mechanism=SCRAM-SHA-512`, `sasl.username`, `sasl.password`, `ssl.ca.location`,
    /// `batch.num.messages`. The settings the contract depends on are trustloop's and override these:
    /// `enable.idempotence=true`, `acks=all`, `linger.ms`, `message.timeout.ms` (= `timeout`) on the
    /// producer; `isolation.level=read_committed`, `enable.auto.commit=false`,
    /// `enable.auto.offset.store=false`, `allow.auto.create.topics=false` on consumers.
    pub options: Vec<(String, String)>,
    /// Replication factor of topics trustloop creates (1 for a single-broker development cluster).
    pub replication_factor: i32,
    /// `client.id` of trustloop's clients.
    pub client_id: String,
    /// How long one metadata, admin, offset or delivery operation may take.
    pub timeout: Duration,
    /// How topics are created when they do not exist yet: `None` (the default) sends Kafka's
    /// CreateTopics request through the admin API; `Some` hands creation to another mechanism, for
    /// clusters whose brokers do not implement CreateTopics or where trustloop may not use it (topics
    /// managed through a provider's control plane; librdkafka's mock cluster, see
    /// `tests/broker_gaps.rs`). Either way `create_topic` then checks the partition count in the
    /// cluster's metadata.
    pub topic_creator: Option<TopicCreator>,
}

/// Creates a topic by some other means than Kafka's CreateTopics request: called with the topic name
/// and partition count, from a blocking thread, only for topics the metadata does not list yet.
#[derive(Clone)]
pub struct TopicCreator(Arc<CreateTopicFn>);

type CreateTopicFn = dyn Fn(&str, u32) -> Result<(), String> + Send + Sync;

impl TopicCreator {
    /// Wraps a function that creates `topic` with `partitions` partitions (or says why it could not).
    pub fn new(create: impl Fn(&str, u32) -> Result<(), String> + Send + Sync + 'static) -> Self {
        TopicCreator(Arc::new(create))
    }
}

impl fmt::Debug for TopicCreator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TopicCreator(..)")
    }
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
            topic_creator: None,
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

/// Whether Kafka (or librdkafka, for its local codes) considers an error code transient: the same
/// request may succeed later. Follows the `RetriableException` subclasses of Kafka's protocol errors.
fn retriable_code(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code,
        // Broker errors Kafka marks retriable.
        C::UnknownTopicOrPartition
            | C::LeaderNotAvailable
            | C::NotLeaderForPartition
            | C::RequestTimedOut
            | C::NetworkException
            | C::CoordinatorLoadInProgress
            | C::CoordinatorNotAvailable
            | C::NotCoordinator
            | C::NotEnoughReplicas
            | C::NotEnoughReplicasAfterAppend
            | C::NotController
            | C::ConcurrentTransactions
            | C::KafkaStorageError
            | C::FetchSessionIdNotFound
            | C::InvalidFetchSessionEpoch
            | C::FencedLeaderEpoch
            | C::UnknownLeaderEpoch
            | C::BrokerNotAvailable
            | C::ReplicaNotAvailable
            // librdkafka's local transient conditions.
            | C::BrokerTransportFailure
            | C::AllBrokersDown
            | C::Resolve
            | C::MessageTimedOut
            | C::OperationTimedOut
            | C::TimedOutQueue
            | C::QueueFull
            | C::WaitingForCoordinator
            | C::Retry
    )
}

/// The error code of an rdkafka error, including admin operation failures (which
/// `KafkaError::rdkafka_error_code` does not report).
fn error_code(e: &KafkaError) -> Option<RDKafkaErrorCode> {
    match e {
        KafkaError::AdminOp(code) => Some(*code),
        _ => e.rdkafka_error_code(),
    }
}

fn kafka_error(context: &str, e: &KafkaError) -> LogError {
    let retriable = match e {
        // Transaction errors carry librdkafka's own verdict.
        KafkaError::Transaction(t) => t.is_retriable(),
        KafkaError::MessageConsumptionFatal(_) | KafkaError::ClientConfig(..) | KafkaError::ClientCreation(_) => false,
        _ => error_code(e).is_some_and(retriable_code),
    };
    LogError::Kafka { message: format!("{context}: {e}"), retriable }
}

/// How long a read waits for the next record before returning what it has.
const READ_IDLE: Duration = Duration::from_secs(2);
/// How long a read that has seen the end of the partition (and no record yet) keeps waiting.
const READ_IDLE_AFTER_EOF: Duration = Duration::from_millis(300);

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
    /// Metadata and watermark queries: a client that never fetches, so its requests never queue
    /// behind the reader's long-polling fetches on the same connection.
    meta: BaseConsumer,
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    reader: Mutex<Reader>,
    groups: Mutex<HashMap<String, Arc<BaseConsumer>>>,
    /// One transactional producer per writer id, initialised once (see
    /// [`EventLog::begin_transaction`]).
    transactional: Mutex<HashMap<String, FutureProducer>>,
    /// Whether a broker was seen to offer the transaction requests (asked once, see
    /// [`check_transactions`]).
    transactions_offered: Mutex<bool>,
    partitions: Mutex<HashMap<String, u32>>,
    /// Last, so that a [`TopicCreator`] (which may own a test cluster) outlives the clients on drop.
    config: KafkaConfig,
}

/// [`EventLog`] over Kafka (see the module docs).
#[derive(Clone)]
pub struct KafkaLog {
    inner: Arc<Inner>,
}

/// Asks the brokers (over plain TCP: skipped with TLS or SASL) whether they offer the requests a
/// transactional producer needs, once: librdkafka would start a transaction on a broker that
/// cannot end one and fail only at the commit. A broker that does not answer leaves it to librdkafka.
/// The consumer's position in `topic`/`partition` (the offset after the last record or control
/// record it handed on), if it has one.
fn app_position(consumer: &BaseConsumer, topic: &str, partition: u32) -> Option<i64> {
    let positions = consumer.position().ok()?;
    match positions.find_partition(topic, partition as i32)?.offset() {
        Offset::Offset(o) => Some(o),
        _ => None,
    }
}

fn check_transactions(inner: &Inner) -> LogResult<()> {
    let mut offered = lock(&inner.transactions_offered);
    let plain = inner
        .config
        .options
        .iter()
        .rfind(|(k, _)| k == "security.protocol")
        .is_none_or(|(_, v)| v.eq_ignore_ascii_case("plaintext"));
    if *offered || !plain {
        return Ok(());
    }
    let timeout = inner.config.timeout.min(Duration::from_secs(10));
    for address in inner.config.brokers.split(',').filter(|a| !a.trim().is_empty()) {
        match api_versions::ask(address, &inner.config.client_id, timeout) {
            Ok(apis) => {
                let missing = api_versions::missing(&apis, &api_versions::TRANSACTION_APIS);
                if !missing.is_empty() {
                    return Err(LogError::Unsupported(format!(
                        "transactions: the broker at {} does not offer requests {missing:?} (22 \
                         InitProducerId, 24 AddPartitionsToTxn, 26 EndTxn)",
                        address.trim()
                    )));
                }
                *offered = true;
                return Ok(());
            }
            Err(e) => tracing::debug!(error = %e, "cannot ask a broker for its requests"),
        }
    }
    Ok(())
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
            // Appends are awaited (a writer hands over a batch and waits for its acknowledgements):
            // records batch up while queued, and waiting longer for more only adds latency.
            .set("linger.ms", "1")
            .set("message.timeout.ms", config.timeout.as_millis().to_string())
            .create()
            .map_err(|e| kafka_error("creating the producer", &e))?;
        let admin: AdminClient<DefaultClientContext> =
            config.client_config().create().map_err(|e| kafka_error("creating the admin client", &e))?;
        let consumer: BaseConsumer = Self::consumer_config(&config, None)
            // Reads stop at the end of the partition as soon as librdkafka reports it.
            .set("enable.partition.eof", "true")
            // librdkafka's assign() needs a group handle, hence a `group.id`; the reader only ever
            // assigns partitions, so it never joins this group nor commits to it.
            .set("group.id", "trustloop-reader")
            .create()
            .map_err(|e| kafka_error("creating the consumer", &e))?;
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
            transactional: Mutex::new(HashMap::new()),
            transactions_offered: Mutex::new(false),
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

    /// Appends `records` to one partition through `producer` and awaits every delivery.
    async fn produce(
        &self,
        producer: &FutureProducer,
        topic: &str,
        partition: u32,
        records: Vec<Record>,
    ) -> LogResult<Appended> {
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
                match producer.send_result(fr) {
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
        // Await every delivery (not just up to the first failure) so the error says how much landed.
        let total = pending.len();
        let mut offsets = Vec::with_capacity(total);
        let mut first_error: Option<LogError> = None;
        let mut failed = 0usize;
        for f in pending {
            let err = match f.await {
                Ok(Ok(delivery)) => {
                    offsets.push(delivery.offset);
                    continue;
                }
                Ok(Err((e, _))) => kafka_error("delivery failed", &e),
                Err(_) => LogError::Kafka { message: "the producer dropped a delivery report".into(), retriable: true },
            };
            failed += 1;
            first_error.get_or_insert(err);
        }
        if let Some(e) = first_error {
            let retriable = e.is_retriable();
            tracing::warn!(topic, partition, failed, total, error = %e, "append failed");
            return Err(LogError::Kafka {
                message: format!(
                    "appending to {topic}/{partition}: {failed} of {total} records were not delivered (the \
                     others were appended; retrying the batch may duplicate them); first error: {e}"
                ),
                retriable,
            });
        }
        Ok(Appended { partition, offsets })
    }

    fn consumer_config(config: &KafkaConfig, group: Option<&str>) -> ClientConfig {
        let mut c = config.client_config();
        c.set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "false")
            .set("allow.auto.create.topics", "false")
            // A read asks for records the watermarks say exist: a broker must not hold the fetch
            // (librdkafka's default: up to 500 ms) nor the client back off after an empty or failed
            // one (500 ms), or every switch of partition costs a pass that much.
            .set("fetch.wait.max.ms", "1")
            .set("fetch.error.backoff.ms", "10");
        // Only the per-group clients that commit and fetch group offsets carry their group's id (the
        // reader sets a placeholder one, see `connect`).
        if let Some(g) = group {
            c.set("group.id", g);
        }
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

    /// Sends CreateTopics; a topic that exists already is fine here (the caller compares partition
    /// counts afterwards).
    async fn create_with_admin_api(&self, topic: &str, partitions: i32) -> LogResult<()> {
        let timeout = self.inner.config.timeout;
        let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(self.inner.config.replication_factor));
        let opts = AdminOptions::new().operation_timeout(Some(timeout)).request_timeout(Some(timeout));
        let timed_out = || {
            LogError::Timeout(format!(
                "creating topic {topic}: no answer to CreateTopics within {timeout:?} (a broker that does not \
                 implement it, such as librdkafka's mock cluster, never answers: configure a TopicCreator)"
            ))
        };
        let results = match self.inner.admin.create_topics([&new], &opts).await {
            Ok(results) => results,
            Err(e) if matches!(error_code(&e), Some(RDKafkaErrorCode::OperationTimedOut)) => {
                return Err(timed_out());
            }
            Err(e) if matches!(error_code(&e), Some(RDKafkaErrorCode::UnsupportedFeature)) => {
                return Err(LogError::Unsupported(format!(
                    "creating topic {topic}: the broker does not implement CreateTopics ({e}); configure a TopicCreator"
                )));
            }
            Err(e) => return Err(kafka_error(&format!("creating topic {topic}"), &e)),
        };
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, RDKafkaErrorCode::OperationTimedOut | RDKafkaErrorCode::RequestTimedOut)) => {
                    return Err(timed_out());
                }
                Err((name, code)) => {
                    return Err(LogError::Kafka {
                        message: format!("creating topic {name}: {code}"),
                        retriable: retriable_code(code),
                    });
                }
            }
        }
        Ok(())
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
        if let Some(creator) = self.inner.config.topic_creator.clone() {
            tracing::debug!(topic, partitions, "creating the topic through the configured TopicCreator");
            let name = topic.to_string();
            self.blocking(move |_| {
                (creator.0)(&name, partitions)
                    .map_err(|e| LogError::Kafka { message: format!("creating topic {name}: {e}"), retriable: false })
            })
            .await?;
        } else {
            self.create_with_admin_api(topic, p).await?;
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
        self.produce(&self.inner.producer, topic, partition, records).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(backend = "kafka"))]
    async fn begin_transaction(&self, id: &str) -> LogResult<Arc<dyn LogTransaction>> {
        validate_name(id)?;
        let id = id.to_string();
        let writer = id.clone();
        let producer = self
            .blocking(move |inner| {
                let mut producers = lock(&inner.transactional);
                let producer = match producers.get(&id) {
                    Some(p) => p.clone(),
                    None => {
                        check_transactions(inner)?;
                        let p: FutureProducer = inner
                            .config
                            .client_config()
                            .set("transactional.id", &id)
                            .set("enable.idempotence", "true")
                            .set("acks", "all")
                            .set("linger.ms", "1")
                            .set("message.timeout.ms", inner.config.timeout.as_millis().to_string())
                            .create()
                            .map_err(|e| kafka_error("creating a transactional producer", &e))?;
                        // Fences older producers of this id and aborts what they left open.
                        p.init_transactions(inner.config.timeout)
                            .map_err(|e| kafka_error(&format!("initialising transactions of {id}"), &e))?;
                        producers.insert(id.clone(), p.clone());
                        p
                    }
                };
                if let Err(e) = producer.begin_transaction() {
                    // A fenced or failed producer is of no further use: the next call makes a new one.
                    producers.remove(&id);
                    return Err(kafka_error(&format!("beginning a transaction of {id}"), &e));
                }
                Ok(producer)
            })
            .await?;
        Ok(Arc::new(KafkaTransaction { log: self.clone(), producer, id: writer }))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(backend = "kafka"))]
    async fn read(&self, topic: &str, partition: u32, offset: i64, max_records: usize) -> LogResult<ReadBatch> {
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
                return Ok(ReadBatch::new(out, offset, high));
            }
            let mut reader = lock(&inner.reader);
            let same = reader.position.assigned.as_ref().is_some_and(|(t, p)| **t == *name && *p == partition)
                && reader.position.next == offset;
            if !same {
                // librdkafka starts fetching an assigned partition only once its client knows the
                // topic's metadata; for a topic it holds none of (new to it, or forgotten after the
                // last assignment left it) it would wait for its next periodic scan — up to a
                // second. Asking now fills the client's metadata cache, which the assignment reads.
                let switched = reader.position.assigned.as_ref().is_none_or(|(t, _)| **t != *name);
                if switched {
                    reader
                        .consumer
                        .fetch_metadata(Some(&name), timeout)
                        .map_err(|e| kafka_error(&format!("metadata of {name}"), &e))?;
                }
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset(&name, partition as i32, Offset::Offset(offset))
                    .map_err(|e| kafka_error("assigning", &e))?;
                reader.consumer.assign(&tpl).map_err(|e| kafka_error(&format!("assigning {name}/{partition}"), &e))?;
                reader.position = ReadPosition { assigned: Some((name.to_string(), partition)), next: offset };
            }
            let want = max_records.min((high - offset) as usize);
            // Stop when enough arrived, when librdkafka reports the end of the partition after this
            // call's records (control records or an open transaction's records above the last stable
            // offset are not delivered), or when nothing arrived for a while. An end-of-partition
            // event before any record may be left over from an earlier read: wait a little longer then.
            let mut idle_until = Instant::now() + READ_IDLE;
            // A transient error (a broker connection lost; possibly left over from an outage that is
            // over) does not end the read: polling goes on; it is returned only if nothing came.
            let mut transient: Option<KafkaError> = None;
            // Whether the fetcher of this assignment reached the end of the partition in this call.
            let mut eof = false;
            while out.len() < want && Instant::now() < idle_until {
                match reader.consumer.poll(Duration::from_millis(50)) {
                    Some(Ok(m)) => {
                        if m.partition() != partition as i32 || m.offset() < offset || m.topic() != &*name {
                            continue;
                        }
                        out.push(to_stored(&name, partition, &m));
                        idle_until = Instant::now() + READ_IDLE;
                    }
                    Some(Err(KafkaError::PartitionEOF(p))) if p == partition as i32 => {
                        eof = true;
                        if !out.is_empty() {
                            break;
                        }
                        idle_until = idle_until.min(Instant::now() + READ_IDLE_AFTER_EOF);
                    }
                    Some(Err(e)) if error_code(&e).is_some_and(retriable_code) => {
                        transient = Some(e);
                    }
                    Some(Err(e)) => {
                        reader.position = ReadPosition::default();
                        return Err(kafka_error(&format!("reading {name}/{partition}"), &e));
                    }
                    None => {}
                }
            }
            if out.is_empty()
                && let Some(e) = transient
            {
                reader.position = ReadPosition::default();
                return Err(kafka_error(&format!("reading {name}/{partition}"), &e));
            }
            // Where to go on (the read contract): after the last record, or further where the
            // consumer stepped over offsets it hands out nothing for (transaction markers, aborted
            // records: librdkafka moves its position past the control records it consumes). Its
            // position is trusted once it is this assignment's: when the read went on where the last
            // one stopped, or handed out something of this assignment (records; an end-of-partition
            // event, which comes after the control records before it). At the end exactly when
            // that reaches the end offset seen at the start of the read; else, with no records,
            // this is *nothing yet*.
            let after_last = out.last().map_or(offset, |r| r.offset + 1);
            let trusted = same || eof || !out.is_empty();
            let next = match app_position(&reader.consumer, &name, partition) {
                Some(p) if trusted && p > after_last => p.min(high),
                _ => after_last,
            };
            reader.position.next = next;
            if out.is_empty() && next == offset {
                // Nothing came: force a fresh assignment next time rather than trusting the position.
                reader.position = ReadPosition::default();
            }
            Ok(ReadBatch::stepped(out, next, high))
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(backend = "kafka"))]
    async fn offsets(&self, topic: &str) -> LogResult<Vec<PartitionOffsets>> {
        let mut all = self.offsets_of(&[topic]).await?;
        Ok(all.pop().unwrap_or_default())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(backend = "kafka"))]
    async fn offsets_of(&self, topics: &[&str]) -> LogResult<Vec<Vec<PartitionOffsets>>> {
        if topics.is_empty() {
            // librdkafka refuses an empty partition list.
            return Ok(Vec::new());
        }
        let mut counts = Vec::with_capacity(topics.len());
        for topic in topics {
            counts.push((topic.to_string(), self.partitions_of(topic, false).await? as i32));
        }
        self.blocking(move |inner| {
            // Two ListOffsets requests for every partition of every topic (first offsets; end
            // offsets, which are last stable offsets as this client reads `read_committed`), not
            // two per partition as watermark queries take.
            let ask = |at: Offset| -> LogResult<TopicPartitionList> {
                let mut tpl = TopicPartitionList::new();
                for (name, n) in &counts {
                    for p in 0..*n {
                        tpl.add_partition_offset(name, p, at).map_err(|e| kafka_error("listing offsets", &e))?;
                    }
                }
                inner.meta.offsets_for_times(tpl, inner.config.timeout).map_err(|e| kafka_error("listing offsets", &e))
            };
            let (starts, ends) = (ask(Offset::Beginning)?, ask(Offset::End)?);
            let at = |got: &TopicPartitionList, name: &str, p: i32| -> LogResult<i64> {
                let e = got.find_partition(name, p).ok_or_else(|| LogError::Kafka {
                    message: format!("offsets of {name}/{p}: no answer for the partition"),
                    retriable: true,
                })?;
                e.error().map_err(|err| kafka_error(&format!("offsets of {name}/{p}"), &err))?;
                match e.offset() {
                    Offset::Offset(o) => Ok(o),
                    other => Err(LogError::Kafka {
                        message: format!("offsets of {name}/{p}: the broker answered {other:?}"),
                        retriable: true,
                    }),
                }
            };
            counts
                .iter()
                .map(|(name, n)| {
                    (0..*n)
                        .map(|p| Ok(PartitionOffsets { start: at(&starts, name, p)?, end: at(&ends, name, p)? }))
                        .collect()
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

/// A Kafka transaction (see [`EventLog::begin_transaction`]): a transactional producer with a
/// transaction open; input offsets go in with `send_offsets_to_transaction`.
struct KafkaTransaction {
    log: KafkaLog,
    producer: FutureProducer,
    /// The writer id (`transactional.id`).
    id: String,
}

impl KafkaTransaction {
    /// Aborts after a failed step, keeping the step's error, and drops the producer: the writer's
    /// next transaction starts on a new one (`InitProducerId` again). A producer that failed midway
    /// may be fenced, in a fatal state, or — seen on librdkafka's mock cluster after a refused
    /// produce — purge the next transaction's records while it recovers; a new one is clean.
    async fn abort_after(&self, e: LogError) -> LogError {
        if let Err(abort) = self.abort().await {
            tracing::warn!(writer = %self.id, error = %abort, "aborting the transaction after an error failed too");
        }
        lock(&self.log.inner.transactional).remove(&self.id);
        e
    }
}

#[async_trait]
impl LogTransaction for KafkaTransaction {
    async fn append(&self, topic: &str, partition: u32, records: Vec<Record>) -> LogResult<Appended> {
        match self.log.produce(&self.producer, topic, partition, records).await {
            Ok(a) => Ok(a),
            Err(e) => Err(self.abort_after(e).await),
        }
    }

    async fn commit(&self, group: &str, offsets: &[TopicPartitionOffset]) -> LogResult<()> {
        validate_name(group)?;
        let group = group.to_string();
        let offsets = offsets.to_vec();
        let producer = self.producer.clone();
        let result = self
            .log
            .blocking(move |inner| {
                let timeout = inner.config.timeout;
                if !offsets.is_empty() {
                    let consumer = KafkaLog::group_consumer(inner, &group)?;
                    let metadata = consumer.group_metadata().ok_or_else(|| LogError::Kafka {
                        message: format!("no consumer group metadata for {group}"),
                        retriable: false,
                    })?;
                    let mut tpl = TopicPartitionList::new();
                    for o in &offsets {
                        tpl.add_partition_offset(&o.topic, o.partition as i32, Offset::Offset(o.offset))
                            .map_err(|e| kafka_error("building the offsets", &e))?;
                    }
                    producer
                        .send_offsets_to_transaction(&tpl, &metadata, timeout)
                        .map_err(|e| kafka_error(&format!("adding offsets of {group} to the transaction"), &e))?;
                }
                producer.commit_transaction(timeout).map_err(|e| kafka_error("committing the transaction", &e))
            })
            .await;
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(self.abort_after(e).await),
        }
    }

    async fn abort(&self) -> LogResult<()> {
        let producer = self.producer.clone();
        self.log
            .blocking(move |inner| {
                producer
                    .abort_transaction(inner.config.timeout)
                    .map_err(|e| kafka_error("aborting the transaction", &e))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retriable_follows_the_error_codes() {
        let admin_timeout = KafkaError::AdminOp(RDKafkaErrorCode::OperationTimedOut);
        assert!(kafka_error("x", &admin_timeout).is_retriable(), "admin codes are seen too");
        assert!(kafka_error("x", &KafkaError::MessageProduction(RDKafkaErrorCode::NotEnoughReplicas)).is_retriable());
        assert!(kafka_error("x", &KafkaError::MetadataFetch(RDKafkaErrorCode::AllBrokersDown)).is_retriable());
        assert!(
            !kafka_error("x", &KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge)).is_retriable()
        );
        assert!(
            !kafka_error("x", &KafkaError::ConsumerCommit(RDKafkaErrorCode::GroupAuthorizationFailed)).is_retriable()
        );
        assert!(!kafka_error("x", &KafkaError::MessageConsumptionFatal(RDKafkaErrorCode::Fatal)).is_retriable());
    }
}
