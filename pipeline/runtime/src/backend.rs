//! Backend selection: the embedded log in a directory (the default) or Kafka, plus the schema
//! registry and event codec every command uses — chosen from a plain [`BackendConfig`] (the
//! command line fills one in from its global options).

use std::path::PathBuf;
use std::sync::Arc;

use trustloop_connectors::log::embedded::{EmbeddedLog, EmbeddedOptions, FsyncPolicy};
use trustloop_connectors::log::kafka::{KafkaConfig, KafkaLog};
use trustloop_connectors::log::{EventLog, PartitionReader};
use trustloop_connectors::registry::LogSchemaRegistry;
use trustloop_connectors::registry::confluent::{ConfluentRegistry, ConfluentRegistryConfig};
use trustloop_schemas::{EventCodec, EventType, WriterSchemas};

use crate::error::{Context, Result, RuntimeError};

/// Where events live: an embedded log directory, or Kafka brokers.
#[derive(Debug, Clone)]
pub struct BackendConfig {
    /// Directory of the embedded, file-backed event log (the default backend).
    pub data: PathBuf,
    /// Kafka bootstrap servers (`HOST:PORT,...`); when given, events live in Kafka instead of `data`.
    pub brokers: Option<String>,
    /// librdkafka settings passed through to the Kafka clients, each as `KEY=VALUE`.
    pub kafka_options: Vec<String>,
    /// Partitions given to trustloop's topics when they are created.
    pub partitions: u32,
    /// A Confluent Schema Registry (`http(s)://HOST:PORT`): schemas are registered there and events
    /// carry the ids it assigns. Without it, schema ids derive from the schemas' fingerprints and
    /// writer schemas are kept in the log's `_trustloop_schemas` topic.
    pub schema_registry: Option<String>,
    /// `USER:PASSWORD` for the schema registry's basic authentication.
    pub schema_registry_auth: Option<String>,
    /// Kafka: how long one metadata, offset, admin or delivery operation may take before it fails.
    pub kafka_timeout_ms: u64,
    /// Embedded log durability.
    pub fsync: FsyncPolicy,
}

impl BackendConfig {
    /// The embedded log in `dir` with the command line's defaults (3 partitions, fsync always); set
    /// other fields with struct update syntax.
    pub fn embedded(dir: impl Into<PathBuf>) -> BackendConfig {
        BackendConfig {
            data: dir.into(),
            brokers: None,
            kafka_options: Vec::new(),
            partitions: 3,
            schema_registry: None,
            schema_registry_auth: None,
            kafka_timeout_ms: 30_000,
            fsync: FsyncPolicy::Always,
        }
    }
}

/// An opened backend: the log, its schema registry and the codec bound to the registered ids.
pub struct Backend {
    /// The event log.
    pub log: Arc<dyn EventLog>,
    /// Where writer schemas of events come from: the log's own registry topic, or a Confluent Schema
    /// Registry.
    pub registry: Arc<dyn WriterSchemas + Send + Sync>,
    /// Encodes and decodes events in the Confluent wire format.
    pub codec: EventCodec,
    /// Partitions given to topics this backend creates.
    pub partitions: u32,
}

impl Backend {
    /// The known-exploited catalog events of `tenant`, in log order (what `import kev` compares a
    /// new catalog with, and what a candidate catalog of `replay --with` takes back from).
    pub async fn known_exploited(&self, tenant: &str) -> Result<Vec<trustloop_schemas::KnownExploited>> {
        Ok(self
            .events(trustloop_schemas::EventType::KnownExploited.topic())
            .await?
            .into_iter()
            .filter_map(|e| match e {
                trustloop_schemas::Event::KnownExploited(k) if *k.envelope.tenant == *tenant => Some(k),
                _ => None,
            })
            .collect())
    }

    /// Every event of `topic`, partition by partition (each key's events in order): for reports,
    /// listings and tests, not for the runtime's merged reads.
    pub async fn events(&self, topic: &str) -> Result<Vec<trustloop_schemas::Event>> {
        let mut out = Vec::new();
        for (p, o) in self.log.offsets(topic).await?.iter().enumerate() {
            let mut reader = PartitionReader::new(topic, p as u32, o.start).until(o.end);
            while let Some(records) = reader.next(&*self.log).await? {
                for r in &records {
                    out.push(self.codec.decode(&r.value, &*self.registry)?);
                }
            }
        }
        Ok(out)
    }

    /// Opens the backend `args` names, creates trustloop's topics if they are missing and registers
    /// the current event schemas.
    pub async fn open(args: &BackendConfig) -> Result<Backend> {
        if args.partitions == 0 {
            return Err(RuntimeError::invalid("--partitions must be at least 1"));
        }
        let log: Arc<dyn EventLog> = match &args.brokers {
            Some(brokers) => {
                let config = kafka_config(args)?.context("Kafka brokers given")?;
                Arc::new(
                    KafkaLog::connect(config).await.with_context(|| format!("cannot connect to Kafka at {brokers}"))?,
                )
            }
            None => {
                let options = EmbeddedOptions { fsync: args.fsync, ..EmbeddedOptions::default() };
                Arc::new(
                    EmbeddedLog::open(&args.data, options)
                        .with_context(|| format!("cannot open the embedded log in {}", args.data.display()))?,
                )
            }
        };
        let (registry, codec): (Arc<dyn WriterSchemas + Send + Sync>, EventCodec) = match &args.schema_registry {
            Some(url) => {
                let mut config = ConfluentRegistryConfig::new(url.clone());
                if let Some(auth) = &args.schema_registry_auth {
                    let Some((user, password)) = auth.split_once(':') else {
                        return Err(RuntimeError::invalid("--schema-registry-auth: expected USER:PASSWORD"));
                    };
                    config.basic_auth = Some((user.to_string(), password.to_string()));
                }
                let registry = Arc::new(ConfluentRegistry::new(config));
                let r = registry.clone();
                let codec = tokio::task::spawn_blocking(move || r.register_all())
                    .await?
                    .with_context(|| format!("cannot register the event schemas at {url}"))?;
                (registry, codec)
            }
            None => {
                let registry =
                    Arc::new(LogSchemaRegistry::open(log.clone()).await.context("cannot open the schema registry")?);
                let codec = EventCodec::new();
                registry.register_all(&codec).await.context("cannot register the event schemas")?;
                (registry, codec)
            }
        };
        for t in EventType::ALL {
            let partitions = t.fixed_partitions().unwrap_or(args.partitions);
            log.create_topic(t.topic(), partitions)
                .await
                .or_else(|e| match e {
                    // A topic someone created with another partition count is theirs to keep.
                    trustloop_connectors::log::LogError::TopicExists { .. } => Ok(()),
                    e => Err(e),
                })
                .with_context(|| format!("cannot create topic {}", t.topic()))?;
        }
        Ok(Backend { log, registry, codec, partitions: args.partitions })
    }
}

/// The Kafka client configuration of `args` (`None` for the embedded log).
pub fn kafka_config(args: &BackendConfig) -> Result<Option<KafkaConfig>> {
    let Some(brokers) = &args.brokers else { return Ok(None) };
    let mut config = KafkaConfig::new(brokers.clone());
    config.timeout = std::time::Duration::from_millis(args.kafka_timeout_ms.max(100));
    for kv in &args.kafka_options {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(RuntimeError::invalid(format!("-X {kv}: expected KEY=VALUE")));
        };
        config.options.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(Some(config))
}
