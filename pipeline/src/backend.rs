//! Backend selection: the embedded log in `--data DIR` (default) or Kafka with `--brokers`, plus the
//! schema registry and event codec every command uses.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Args;
use trustloop_connectors::log::embedded::{EmbeddedLog, EmbeddedOptions, FsyncPolicy};
use trustloop_connectors::log::kafka::{KafkaConfig, KafkaLog};
use trustloop_connectors::log::{EventLog, PartitionReader};
use trustloop_connectors::registry::LogSchemaRegistry;
use trustloop_connectors::registry::confluent::{ConfluentRegistry, ConfluentRegistryConfig};
use trustloop_schemas::{EventCodec, EventType, WriterSchemas};

/// Where events live: an embedded log directory, or Kafka brokers.
#[derive(Debug, Clone, Args)]
pub struct BackendArgs {
    /// Directory of the embedded, file-backed event log (the default backend).
    #[arg(long, global = true, env = "TRUSTLOOP_DATA", default_value = "./trustloop-data", value_name = "DIR")]
    pub data: PathBuf,

    /// Kafka bootstrap servers (`HOST:PORT,...`); when given, events live in Kafka instead of `--data`.
    #[arg(long, global = true, env = "TRUSTLOOP_BROKERS", value_name = "HOST:PORT,...")]
    pub brokers: Option<String>,

    /// A librdkafka setting passed through to the Kafka clients, as `KEY=VALUE` (repeatable), e.g.
    /// `-X security.protocol=SASL_SSL -X sasl.mechanism=SCRAM-SHA-512 -X sasl.username=...`.
    #[arg(short = 'X', long = "kafka-option", global = true, value_name = "KEY=VALUE")]
    pub kafka_options: Vec<String>,

    /// Partitions given to trustloop's topics when they are created.
    #[arg(long, global = true, env = "TRUSTLOOP_PARTITIONS", default_value_t = 3, value_name = "N")]
    pub partitions: u32,

    /// A Confluent Schema Registry (`http(s)://HOST:PORT`): schemas are registered there and events
    /// carry the ids it assigns. Without it, schema ids derive from the schemas' fingerprints and
    /// writer schemas are kept in the log's `_trustloop_schemas` topic.
    #[arg(long, global = true, env = "TRUSTLOOP_SCHEMA_REGISTRY", value_name = "URL")]
    pub schema_registry: Option<String>,

    /// `USER:PASSWORD` for the schema registry's basic authentication.
    #[arg(
        long,
        global = true,
        env = "TRUSTLOOP_SCHEMA_REGISTRY_AUTH",
        value_name = "USER:PASSWORD",
        hide_env_values = true
    )]
    pub schema_registry_auth: Option<String>,

    /// Kafka: how long one metadata, offset, admin or delivery operation may take before it fails
    /// (and `trustloop run` pauses and retries with back-off).
    #[arg(long, global = true, env = "TRUSTLOOP_KAFKA_TIMEOUT_MS", default_value_t = 30_000, value_name = "MS")]
    pub kafka_timeout_ms: u64,

    /// Embedded log durability: `always` fsyncs every appended batch; `never` leaves it to the OS.
    #[arg(long, global = true, env = "TRUSTLOOP_FSYNC", default_value = "always", value_parser = ["always", "never"])]
    pub fsync: String,
}

impl BackendArgs {
    /// The embedded log in `dir` with the command line's defaults (3 partitions, fsync always); set
    /// other fields with struct update syntax.
    pub fn embedded(dir: impl Into<PathBuf>) -> BackendArgs {
        BackendArgs {
            data: dir.into(),
            brokers: None,
            kafka_options: Vec::new(),
            partitions: 3,
            schema_registry: None,
            schema_registry_auth: None,
            kafka_timeout_ms: 30_000,
            fsync: "always".into(),
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

    /// Opens the backend named by `args`, creates trustloop's topics if they are missing and registers
    /// the current event schemas.
    pub async fn open(args: &BackendArgs) -> Result<Backend> {
        if args.partitions == 0 {
            bail!("--partitions must be at least 1");
        }
        let log: Arc<dyn EventLog> = match &args.brokers {
            Some(brokers) => {
                let config = kafka_config(args)?.context("Kafka brokers given")?;
                Arc::new(
                    KafkaLog::connect(config).await.with_context(|| format!("cannot connect to Kafka at {brokers}"))?,
                )
            }
            None => {
                let fsync = match args.fsync.as_str() {
                    "never" => FsyncPolicy::Never,
                    _ => FsyncPolicy::Always,
                };
                let options = EmbeddedOptions { fsync, ..EmbeddedOptions::default() };
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
                        bail!("--schema-registry-auth: expected USER:PASSWORD");
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
            log.create_topic(t.topic(), args.partitions)
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
pub fn kafka_config(args: &BackendArgs) -> Result<Option<KafkaConfig>> {
    let Some(brokers) = &args.brokers else { return Ok(None) };
    let mut config = KafkaConfig::new(brokers.clone());
    config.timeout = std::time::Duration::from_millis(args.kafka_timeout_ms.max(100));
    for kv in &args.kafka_options {
        let Some((k, v)) = kv.split_once('=') else {
            bail!("-X {kv}: expected KEY=VALUE");
        };
        config.options.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(Some(config))
}
