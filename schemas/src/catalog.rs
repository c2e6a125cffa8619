//! The schema catalog (every event schema, parsed once, with its fingerprint and id) and
//! [`EventCodec`], which turns events into Confluent-framed Avro and back — including events written
//! with older schemas (schema evolution through apache-avro's schema resolution).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use apache_avro::Schema;
use apache_avro::rabin::Rabin;

use crate::codec::{self, AvroError};
use crate::event::{Event, EventType};
use crate::wire::{self, WireError};

/// One event type's schema, parsed.
#[derive(Debug)]
pub struct SchemaInfo {
    /// The event type.
    pub event_type: EventType,
    /// The parsed schema (apache-avro is the schema authority).
    pub schema: Schema,
    /// Its Parsing Canonical Form.
    pub canonical: String,
    /// Rabin (CRC-64-AVRO) fingerprint of the canonical form, little-endian as apache-avro gives it.
    pub fingerprint: [u8; 8],
    /// Default schema id: the low 31 bits of the fingerprint.
    pub default_id: u32,
}

fn build() -> Vec<SchemaInfo> {
    EventType::ALL
        .iter()
        .map(|&event_type| {
            // The schemas are compiled in and parsed by a unit test; failing here is a build defect.
            #[allow(clippy::expect_used)]
            let schema = Schema::parse_str(event_type.avsc()).expect("embedded schema parses");
            let canonical = schema.canonical_form();
            let fp = schema.fingerprint::<Rabin>().bytes;
            let mut fingerprint = [0u8; 8];
            fingerprint.copy_from_slice(&fp[..8]);
            let default_id = (u64::from_le_bytes(fingerprint) & 0x7fff_ffff) as u32;
            SchemaInfo { event_type, schema, canonical, fingerprint, default_id }
        })
        .collect()
}

static CATALOG: LazyLock<Vec<SchemaInfo>> = LazyLock::new(build);

/// The parsed schema of `event_type`.
pub fn schema_info(event_type: EventType) -> &'static SchemaInfo {
    &CATALOG[event_type as usize]
}

/// Writer schemas by id, for reading events written with schemas other than the current ones.
pub trait WriterSchemas {
    /// The schema registered under `id`, if known.
    fn writer_schema(&self, id: u32) -> Option<Schema>;
}

/// Knows no writer schemas: only current schemas can be decoded.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoWriterSchemas;

impl WriterSchemas for NoWriterSchemas {
    fn writer_schema(&self, _: u32) -> Option<Schema> {
        None
    }
}

/// Errors encoding or decoding framed events.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The Confluent framing is wrong.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The Avro body is malformed.
    #[error("schema id {schema_id} ({event_type}): {source}")]
    Avro {
        /// Schema id from the header.
        schema_id: u32,
        /// Event type of that schema.
        event_type: EventType,
        /// What was wrong.
        #[source]
        source: AvroError,
    },
    /// Encoding failed.
    #[error("encoding a {0} event: {1}")]
    Encode(EventType, AvroError),
    /// No schema with that id is known.
    #[error("unknown schema id {0}: not a current trustloop schema and not in the schema registry")]
    UnknownSchema(u32),
    /// The writer schema is not a trustloop event schema.
    #[error("schema id {id} is `{name}`, not a trustloop event schema")]
    ForeignSchema {
        /// Schema id.
        id: u32,
        /// Its record name.
        name: String,
    },
    /// apache-avro could not read or resolve the writer's data into the current schema.
    #[error("schema id {id} ({event_type}): cannot read with the current schema: {reason}")]
    Resolution {
        /// Writer schema id.
        id: u32,
        /// Event type.
        event_type: EventType,
        /// apache-avro's message.
        reason: String,
    },
}

/// Encodes events to Confluent-framed Avro and decodes them back. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventCodec {
    ids: Arc<[u32; 13]>,
    by_id: Arc<HashMap<u32, EventType>>,
}

impl Default for EventCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl EventCodec {
    /// A codec using the deterministic default ids (from each schema's fingerprint), which every
    /// trustloop process agrees on without coordination.
    pub fn new() -> Self {
        Self::with_ids(&HashMap::new())
    }

    /// A codec using ids assigned by an external registry (e.g. Confluent Schema Registry) where given,
    /// the default ids elsewhere.
    pub fn with_ids(assigned: &HashMap<EventType, u32>) -> Self {
        let mut ids = [0u32; 13];
        let mut by_id = HashMap::new();
        for t in EventType::ALL {
            let id = assigned.get(&t).copied().unwrap_or(schema_info(t).default_id);
            ids[t as usize] = id;
            by_id.insert(id, t);
        }
        EventCodec { ids: Arc::new(ids), by_id: Arc::new(by_id) }
    }

    /// The schema id written for `event_type`.
    pub fn schema_id(&self, event_type: EventType) -> u32 {
        self.ids[event_type as usize]
    }

    /// The event type whose current schema has `id`.
    pub fn event_type_of(&self, id: u32) -> Option<EventType> {
        self.by_id.get(&id).copied()
    }

    /// What to register in a schema registry: (event type, id, schema JSON text).
    pub fn registrations(&self) -> Vec<(EventType, u32, String)> {
        EventType::ALL.iter().map(|&t| (t, self.schema_id(t), t.avsc().to_string())).collect()
    }

    /// Encodes `event` (framed), appending to `out`.
    pub fn encode_into(&self, event: &Event, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let ty = event.event_type();
        wire::write_header(self.schema_id(ty), out);
        crate::with_event!(event, e => codec::encode_into(e, out)).map_err(|e| CodecError::Encode(ty, e))
    }

    /// Encodes `event` (framed) into a new buffer.
    pub fn encode(&self, event: &Event) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::with_capacity(256);
        self.encode_into(event, &mut out)?;
        Ok(out)
    }

    /// Decodes a framed event. Current schemas take the direct path; other ids are looked up in
    /// `writers` and resolved into the current schema (schema evolution).
    pub fn decode(&self, bytes: &[u8], writers: &dyn WriterSchemas) -> Result<Event, CodecError> {
        let (id, body) = wire::unframe(bytes)?;
        if let Some(ty) = self.event_type_of(id) {
            return decode_body(ty, body).map_err(|source| CodecError::Avro { schema_id: id, event_type: ty, source });
        }
        let writer = writers.writer_schema(id).ok_or(CodecError::UnknownSchema(id))?;
        let name = match &writer {
            Schema::Record(r) => r.name.name.clone(),
            other => format!("{other:?}").chars().take(40).collect(),
        };
        let ty = EventType::from_name(&name)
            .filter(|t| t.name() == name)
            .ok_or_else(|| CodecError::ForeignSchema { id, name: name.clone() })?;
        let resolution = |reason: String| CodecError::Resolution { id, event_type: ty, reason };
        let value = apache_avro::from_avro_datum(&writer, &mut &body[..], Some(&schema_info(ty).schema))
            .map_err(|e| resolution(e.to_string()))?;
        crate::with_event_type!(ty, T => apache_avro::from_value::<T>(&value).map(Event::from))
            .map_err(|e| resolution(e.to_string()))
    }
}

/// Decodes an unframed Avro body of a current schema.
pub fn decode_body(ty: EventType, body: &[u8]) -> Result<Event, AvroError> {
    crate::with_event_type!(ty, T => codec::decode::<T>(body).map(Event::from))
}
