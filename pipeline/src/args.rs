//! Option groups that several commands share: where events live ([`BackendArgs`], global), and
//! the gateway's limits ([`GatewayArgs`], `serve` and `run --gateway`). Each turns into the plain
//! configuration struct of the library that uses it.

use std::path::PathBuf;

use clap::Args;
use trustloop_connectors::log::embedded::FsyncPolicy;
use trustloop_runtime::backend::BackendConfig;
use trustloop_serve::gateway::GatewayOptions;

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
    /// The backend these options name.
    pub fn config(&self) -> BackendConfig {
        BackendConfig {
            data: self.data.clone(),
            brokers: self.brokers.clone(),
            kafka_options: self.kafka_options.clone(),
            partitions: self.partitions,
            schema_registry: self.schema_registry.clone(),
            schema_registry_auth: self.schema_registry_auth.clone(),
            kafka_timeout_ms: self.kafka_timeout_ms,
            fsync: match self.fsync.as_str() {
                "never" => FsyncPolicy::Never,
                _ => FsyncPolicy::Always,
            },
        }
    }
}

/// Options of the gateway (`trustloop serve`, `trustloop run --gateway`).
#[derive(Debug, Clone, Args)]
pub struct GatewayArgs {
    /// Sustained events per second each tenant may post; over it, requests are answered 429 with
    /// `Retry-After`.
    #[arg(long, env = "TRUSTLOOP_TENANT_RATE", default_value_t = 200_000, value_name = "EVENTS")]
    pub tenant_rate: u32,
    /// Events a tenant may post at once before the sustained rate applies.
    #[arg(long, env = "TRUSTLOOP_TENANT_BURST", default_value_t = 50_000, value_name = "EVENTS")]
    pub tenant_burst: u32,
    /// Another limit for one tenant: `TENANT=RATE` or `TENANT=RATE/BURST` (repeatable).
    #[arg(long = "limit", value_name = "TENANT=RATE[/BURST]")]
    pub limits: Vec<String>,
    /// Rows a SQL answer holds at most (the rest is cut, and the answer says so).
    #[arg(long, default_value_t = 100_000, value_name = "ROWS")]
    pub max_rows: usize,
    /// How long a SQL query may run.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub query_timeout_s: u64,
    /// On Kafka, how many batches the gateway writes at once, each in a transaction of its own so
    /// that it shows whole or not at all. 0 appends a batch partition by partition (for brokers
    /// without transactions; a failure midway then leaves part of it written). The embedded log
    /// writes every batch whole without them.
    #[arg(long, env = "TRUSTLOOP_BATCH_WRITERS", default_value_t = 4, value_name = "N")]
    pub batch_writers: usize,
    /// The gateway's name on Kafka, which its batch writers' transactional ids start with: keep it
    /// the same across restarts and different for every gateway [default:
    /// `trustloop-gateway-HOST-PORT`].
    #[arg(long, env = "TRUSTLOOP_GATEWAY_ID", value_name = "ID")]
    pub gateway_id: Option<String>,
    /// The log's private key (`trustloop keys generate`): `GET /v1/evidence/{verdict_id}` serves
    /// evidence bundles signed with it. Without it that route answers 404.
    #[arg(long, env = "TRUSTLOOP_EVIDENCE_KEY_FILE", value_name = "FILE")]
    pub evidence_key: Option<std::path::PathBuf>,
}

impl GatewayArgs {
    /// The gateway's options (reading the evidence key, if one is given).
    pub fn options(&self) -> anyhow::Result<GatewayOptions> {
        let evidence_signer = match &self.evidence_key {
            Some(path) => Some(std::sync::Arc::new(crate::commands::keys::signer(Some(path))?)),
            None => None,
        };
        Ok(GatewayOptions {
            tenant_rate: self.tenant_rate,
            tenant_burst: self.tenant_burst,
            limits: self.limits.clone(),
            max_rows: self.max_rows,
            query_timeout_s: self.query_timeout_s,
            batch_writers: self.batch_writers,
            gateway_id: self.gateway_id.clone(),
            evidence_signer,
        })
    }
}
