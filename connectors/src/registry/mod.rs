//! The embedded schema registry: schema ids and writer schemas kept in the log itself, in the internal
//! topic [`SCHEMAS_TOPIC`], so every process on every backend sees the same ids without a separate
//! server. Entries use the value shape of Confluent Schema Registry's own log
//! (`subject`, `version`, `id`, `schema`).
//!
//! trustloop's schema ids are deterministic (derived from each schema's fingerprint, see
//! `trustloop_schemas::EventCodec`), so registration is idempotent and needs no coordination: two
//! processes registering the same schema append the same entry, and readers de-duplicate by id. The
//! registry's job is to keep *older* writer schemas readable after the schemas evolve.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use apache_avro::Schema;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use trustloop_schemas::{EventCodec, WriterSchemas};

use crate::log::{EventLog, LogError, PartitionReader, Record};

pub mod confluent;

/// The internal topic holding schema registrations.
pub const SCHEMAS_TOPIC: &str = "_trustloop_schemas";

/// Errors of the schema registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// An entry in the registry topic could not be read.
    #[error("schema registry entry at offset {offset} is unreadable: {reason}")]
    BadEntry {
        /// Offset of the entry in the registry topic.
        offset: i64,
        /// What was wrong.
        reason: String,
    },
    /// A schema registry's REST API failed or answered an error.
    #[error("schema registry at {url}: {message}")]
    Http {
        /// The request URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// Two different schemas claim the same id.
    #[error("schema id {id} is already taken by another schema of subject `{existing}`; refusing `{subject}`")]
    IdCollision {
        /// The contested id.
        id: u32,
        /// Subject of the schema that holds it.
        existing: String,
        /// Subject of the schema being registered.
        subject: String,
    },
}

/// One registration, as stored in [`SCHEMAS_TOPIC`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaEntry {
    /// Confluent subject, `<topic>-value`.
    pub subject: String,
    /// Version within the subject, from 1.
    pub version: u32,
    /// The schema id written in every record's Confluent header.
    pub id: u32,
    /// The schema, as canonical JSON text.
    pub schema: String,
    /// Always `AVRO`.
    #[serde(rename = "schemaType", default = "avro")]
    pub schema_type: String,
}

fn avro() -> String {
    "AVRO".to_string()
}

#[derive(Default)]
struct State {
    by_id: HashMap<u32, (SchemaEntry, Option<Schema>)>,
    latest_version: BTreeMap<String, u32>,
    next_offset: i64,
}

/// Schema ids and writer schemas kept in the event log (see the module docs).
pub struct LogSchemaRegistry {
    log: Arc<dyn EventLog>,
    state: RwLock<State>,
}

impl LogSchemaRegistry {
    /// Opens the registry on `log`, creating its topic if needed and loading every entry.
    pub async fn open(log: Arc<dyn EventLog>) -> Result<LogSchemaRegistry, RegistryError> {
        log.create_topic(SCHEMAS_TOPIC, 1).await?;
        let registry = LogSchemaRegistry { log, state: RwLock::new(State::default()) };
        registry.refresh().await?;
        Ok(registry)
    }

    /// Reads entries appended since the last refresh (by this or any other process).
    pub async fn refresh(&self) -> Result<(), RegistryError> {
        let end = self.log.end_offsets(SCHEMAS_TOPIC).await?.first().copied().unwrap_or(0);
        let next = self.read_state(|s| s.next_offset);
        let mut reader = PartitionReader::new(SCHEMAS_TOPIC, 0, next).until(end).chunk(1000);
        while let Some(records) = reader.next(&*self.log).await? {
            let mut state = self.write_state();
            for r in records {
                let entry: SchemaEntry = serde_json::from_slice(&r.value)
                    .map_err(|e| RegistryError::BadEntry { offset: r.offset, reason: e.to_string() })?;
                let v = state.latest_version.entry(entry.subject.clone()).or_default();
                *v = (*v).max(entry.version);
                state.by_id.entry(entry.id).or_insert((entry, None));
            }
            state.next_offset = reader.position();
        }
        Ok(())
    }

    /// Registers `schema` (canonical JSON) under `subject` with `id`, unless that id is registered
    /// already. Returns the entry that holds the id.
    pub async fn register(&self, subject: &str, id: u32, schema: &str) -> Result<SchemaEntry, RegistryError> {
        if let Some(existing) = self.lookup(id) {
            return check_same(existing, subject, id, schema);
        }
        // Someone else may have registered it since we last looked.
        self.refresh().await?;
        if let Some(existing) = self.lookup(id) {
            return check_same(existing, subject, id, schema);
        }
        let version = self.read_state(|s| s.latest_version.get(subject).copied().unwrap_or(0)) + 1;
        let entry =
            SchemaEntry { subject: subject.to_string(), version, id, schema: schema.to_string(), schema_type: avro() };
        let value =
            serde_json::to_vec(&entry).map_err(|e| RegistryError::BadEntry { offset: -1, reason: e.to_string() })?;
        let record = Record::new(Some(Bytes::copy_from_slice(subject.as_bytes())), value);
        self.log.append(SCHEMAS_TOPIC, 0, vec![record]).await?;
        self.refresh().await?;
        Ok(self.lookup(id).unwrap_or(entry))
    }

    /// Registers every current event schema of `codec` under `<topic>-value`.
    pub async fn register_all(&self, codec: &EventCodec) -> Result<(), RegistryError> {
        for (event_type, id, canonical) in codec.registrations() {
            self.register(&format!("{}-value", event_type.topic()), id, &canonical).await?;
        }
        Ok(())
    }

    /// The entry registered under `id`, if any.
    pub fn lookup(&self, id: u32) -> Option<SchemaEntry> {
        self.read_state(|s| s.by_id.get(&id).map(|(e, _)| e.clone()))
    }

    /// Every registered entry, ordered by subject then version.
    pub fn entries(&self) -> Vec<SchemaEntry> {
        let mut all: Vec<SchemaEntry> = self.read_state(|s| s.by_id.values().map(|(e, _)| e.clone()).collect());
        all.sort_by(|a, b| a.subject.cmp(&b.subject).then(a.version.cmp(&b.version)));
        all
    }

    fn read_state<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        match self.state.read() {
            Ok(guard) => f(&guard),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        match self.state.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// Two schema texts are the same schema when their Parsing Canonical Forms are equal (docs and
/// formatting may differ between builds).
fn same_schema(a: &str, b: &str) -> bool {
    a == b
        || match (Schema::parse_str(a), Schema::parse_str(b)) {
            (Ok(a), Ok(b)) => a.canonical_form() == b.canonical_form(),
            _ => false,
        }
}

fn check_same(existing: SchemaEntry, subject: &str, id: u32, schema: &str) -> Result<SchemaEntry, RegistryError> {
    if same_schema(&existing.schema, schema) {
        Ok(existing)
    } else {
        Err(RegistryError::IdCollision { id, existing: existing.subject, subject: subject.to_string() })
    }
}

impl WriterSchemas for LogSchemaRegistry {
    fn writer_schema(&self, id: u32) -> Option<Schema> {
        if let Some(parsed) = self.read_state(|s| s.by_id.get(&id).and_then(|(_, p)| p.clone())) {
            return Some(parsed);
        }
        let mut state = self.write_state();
        let (entry, parsed) = state.by_id.get_mut(&id)?;
        match Schema::parse_str(&entry.schema) {
            Ok(schema) => {
                *parsed = Some(schema.clone());
                Some(schema)
            }
            Err(e) => {
                tracing::warn!(id, subject = %entry.subject, error = %e, "registered schema does not parse");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::embedded::{EmbeddedLog, EmbeddedOptions};
    use trustloop_schemas::EventType;

    async fn open(dir: &std::path::Path) -> LogSchemaRegistry {
        let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open(dir, EmbeddedOptions::default()).expect("log"));
        LogSchemaRegistry::open(log).await.expect("registry")
    }

    #[tokio::test]
    async fn registers_every_schema_once_and_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let codec = EventCodec::new();
        let registry = open(dir.path()).await;
        registry.register_all(&codec).await.expect("register");
        registry.register_all(&codec).await.expect("register again is idempotent");
        assert_eq!(registry.entries().len(), EventType::ALL.len());
        let reopened = open(dir.path()).await;
        reopened.register_all(&codec).await.expect("register");
        assert_eq!(reopened.entries().len(), EventType::ALL.len(), "no duplicates after reopening");
        let id = codec.schema_id(EventType::Telemetry);
        let entry = reopened.lookup(id).expect("telemetry");
        assert_eq!(entry.subject, "telemetry-value");
        assert_eq!(entry.version, 1);
        assert!(reopened.writer_schema(id).is_some());
        assert!(reopened.writer_schema(12345).is_none());
    }

    #[tokio::test]
    async fn an_id_taken_by_another_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = open(dir.path()).await;
        let codec = EventCodec::new();
        registry.register_all(&codec).await.expect("register");
        let id = codec.schema_id(EventType::Telemetry);
        let other = EventType::Verdict.avsc();
        match registry.register("telemetry-value", id, other).await {
            Err(RegistryError::IdCollision { id: got, .. }) => assert_eq!(got, id),
            other => panic!("expected IdCollision, got {other:?}"),
        }
    }

    /// An event written by an older build (older schema, its own id) stays readable: the registry
    /// hands the old writer schema to the codec, which resolves it into the current one.
    #[tokio::test]
    async fn older_writer_schemas_are_served_for_decoding() {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = open(dir.path()).await;
        let old = r#"{"type":"record","name":"Policy","namespace":"trustloop","fields":[
          {"name":"envelope","type":{"type":"record","name":"Envelope","fields":[
            {"name":"event_id","type":{"type":"string","logicalType":"uuid"}},
            {"name":"tenant","type":"string"},{"name":"key","type":"string"},
            {"name":"event_time","type":{"type":"long","logicalType":"timestamp-micros"}},
            {"name":"source","type":"string"},{"name":"schema_version","type":"int"}]}},
          {"name":"name","type":"string"},{"name":"version","type":"long"},{"name":"digest","type":"string"},
          {"name":"document","type":"string"}]}"#;
        registry.register("policies-value", 4242, old).await.expect("register old");
        let reopened = open(dir.path()).await;
        let schema = reopened.writer_schema(4242).expect("old schema served");
        // Encode a record with the old schema (no `format` field) and decode it with today's codec.
        let value = apache_avro::types::Value::Record(vec![
            (
                "envelope".into(),
                apache_avro::types::Value::Record(vec![
                    (
                        "event_id".into(),
                        apache_avro::types::Value::String("00000000-0000-0000-0000-000000000001".into()),
                    ),
                    ("tenant".into(), apache_avro::types::Value::String("acme".into())),
                    ("key".into(), apache_avro::types::Value::String("gate".into())),
                    ("event_time".into(), apache_avro::types::Value::Long(5)),
                    ("source".into(), apache_avro::types::Value::String("old".into())),
                    ("schema_version".into(), apache_avro::types::Value::Int(0)),
                ]),
            ),
            ("name".into(), apache_avro::types::Value::String("gate".into())),
            ("version".into(), apache_avro::types::Value::Long(3)),
            ("digest".into(), apache_avro::types::Value::String("abc".into())),
            ("document".into(), apache_avro::types::Value::String("rules: []".into())),
        ]);
        let body = apache_avro::to_avro_datum(&schema, value.resolve(&schema).expect("resolve")).expect("encode");
        let mut framed = Vec::new();
        trustloop_schemas::wire::frame(4242, &body, &mut framed);
        // `format` has no default in today's schema, so resolution must fail clearly, naming the id.
        let err = EventCodec::new().decode(&framed, &reopened).expect_err("format has no default");
        assert!(err.to_string().contains("4242"), "{err}");

        // Telemetry before `unit` existed: `unit` has a default, so the old event reads fine.
        let mut v: serde_json::Value = serde_json::from_str(EventType::Telemetry.avsc()).expect("json");
        let fields = v["fields"].as_array_mut().expect("fields");
        let before = fields.len();
        fields.retain(|f| f["name"] != "unit");
        assert_eq!(fields.len(), before - 1, "the old schema lacks `unit`");
        let old_telemetry = v.to_string();
        reopened.register("telemetry-value", 4243, &old_telemetry).await.expect("register");
        let schema = reopened.writer_schema(4243).expect("served");
        let record = apache_avro::types::Value::Record(vec![
            (
                "envelope".into(),
                apache_avro::types::Value::Record(vec![
                    (
                        "event_id".into(),
                        apache_avro::types::Value::String("00000000-0000-0000-0000-000000000002".into()),
                    ),
                    ("tenant".into(), apache_avro::types::Value::String("acme".into())),
                    ("key".into(), apache_avro::types::Value::String("host-1".into())),
                    ("event_time".into(), apache_avro::types::Value::Long(7)),
                    ("source".into(), apache_avro::types::Value::String("old".into())),
                    ("schema_version".into(), apache_avro::types::Value::Int(0)),
                ]),
            ),
            ("entity".into(), apache_avro::types::Value::String("host-1".into())),
            ("kind".into(), apache_avro::types::Value::String("heartbeat".into())),
            ("value".into(), apache_avro::types::Value::Double(1.0)),
            ("attributes".into(), apache_avro::types::Value::Map(Default::default())),
        ]);
        let body = apache_avro::to_avro_datum(&schema, record.resolve(&schema).expect("resolve")).expect("encode");
        let mut framed = Vec::new();
        trustloop_schemas::wire::frame(4243, &body, &mut framed);
        match EventCodec::new().decode(&framed, &reopened).expect("old telemetry decodes") {
            trustloop_schemas::Event::Telemetry(t) => {
                assert_eq!(t.entity, "host-1");
                assert_eq!(t.unit, None, "the new field takes its default");
            }
            other => panic!("not telemetry: {other:?}"),
        }
    }
}
