//! The schema catalog (every event schema, parsed once, with its fingerprint and id) and
//! [`EventCodec`], which turns events into Confluent-framed Avro and back — including events written
//! with older schemas (schema evolution through apache-avro's schema resolution).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

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

/// How the body of a writer schema id is read.
#[derive(Debug)]
enum Writer {
    /// Same Parsing Canonical Form as the current schema: same binary layout, direct decoder.
    Current(EventType),
    /// An other version of an event type's schema: apache-avro's resolution into the current one.
    Other(EventType, Schema),
}

/// Most writer schemas remembered per codec (ids beyond are looked up on every decode).
const WRITER_CACHE_LIMIT: usize = 1024;

/// Encodes events to Confluent-framed Avro and decodes them back. Cheap to clone (clones share
/// their state), `Send` and `Sync`.
#[derive(Debug, Clone)]
pub struct EventCodec {
    ids: Arc<[u32; EventType::ALL.len()]>,
    by_id: Arc<HashMap<u32, EventType>>,
    /// Writer schemas already looked up, by id. Schema ids are immutable (as in a Confluent
    /// registry), so an id's schema never needs to be fetched twice.
    writers: Arc<RwLock<HashMap<u32, Arc<Writer>>>>,
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
        let mut ids = [0u32; EventType::ALL.len()];
        let mut by_id = HashMap::new();
        for t in EventType::ALL {
            let id = assigned.get(&t).copied().unwrap_or(schema_info(t).default_id);
            ids[t as usize] = id;
            by_id.insert(id, t);
        }
        EventCodec { ids: Arc::new(ids), by_id: Arc::new(by_id), writers: Arc::default() }
    }

    /// The schema id written for `event_type`.
    pub fn schema_id(&self, event_type: EventType) -> u32 {
        self.ids[event_type as usize]
    }

    /// The event type whose current schema has `id`.
    pub fn event_type_of(&self, id: u32) -> Option<EventType> {
        self.by_id.get(&id).copied()
    }

    /// Every current schema with the id this codec writes it under: (event type, id, parsed schema,
    /// schema JSON text). Register the JSON text (the `.avsc` file): unlike the Parsing Canonical Form
    /// it keeps the field defaults that readers of later versions need.
    pub fn schemas(&self) -> impl Iterator<Item = (EventType, u32, &'static Schema, &'static str)> + '_ {
        EventType::ALL.into_iter().map(|t| (t, self.schema_id(t), &schema_info(t).schema, t.avsc()))
    }

    /// What to register in a schema registry: (event type, id, schema JSON text).
    pub fn registrations(&self) -> Vec<(EventType, u32, String)> {
        self.schemas().map(|(t, id, _, text)| (t, id, text.to_string())).collect()
    }

    /// Encodes `event` (framed), appending to `out`. On error `out` is left as it was.
    pub fn encode_into(&self, event: &Event, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let ty = event.event_type();
        let start = out.len();
        wire::write_header(self.schema_id(ty), out);
        crate::with_event!(event, e => codec::encode_into(e, out)).map_err(|e| {
            out.truncate(start);
            CodecError::Encode(ty, e)
        })
    }

    /// Encodes `event` (framed) into a new buffer.
    pub fn encode(&self, event: &Event) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::with_capacity(256);
        self.encode_into(event, &mut out)?;
        Ok(out)
    }

    /// Decodes a framed event. Current schemas take the direct path; other ids are looked up in
    /// `writers` (once per id) and resolved into the current schema (schema evolution).
    pub fn decode(&self, bytes: &[u8], writers: &dyn WriterSchemas) -> Result<Event, CodecError> {
        let (id, body) = wire::unframe(bytes)?;
        if let Some(ty) = self.event_type_of(id) {
            return decode_body(ty, body).map_err(|source| CodecError::Avro { schema_id: id, event_type: ty, source });
        }
        match &*self.writer(id, writers)? {
            Writer::Current(ty) => {
                decode_body(*ty, body).map_err(|source| CodecError::Avro { schema_id: id, event_type: *ty, source })
            }
            Writer::Other(ty, writer) => resolve(id, *ty, writer, body),
        }
    }

    fn writer(&self, id: u32, writers: &dyn WriterSchemas) -> Result<Arc<Writer>, CodecError> {
        let cached = match self.writers.read() {
            Ok(cache) => cache.get(&id).cloned(),
            Err(poisoned) => poisoned.into_inner().get(&id).cloned(),
        };
        if let Some(w) = cached {
            return Ok(w);
        }
        let schema = writers.writer_schema(id).ok_or(CodecError::UnknownSchema(id))?;
        let ty = event_type_of_schema(&schema).map_err(|name| CodecError::ForeignSchema { id, name })?;
        let same = schema.fingerprint::<Rabin>().bytes.get(..8) == Some(&schema_info(ty).fingerprint[..]);
        let w = Arc::new(if same { Writer::Current(ty) } else { Writer::Other(ty, schema) });
        let mut cache = match self.writers.write() {
            Ok(cache) => cache,
            Err(poisoned) => poisoned.into_inner(),
        };
        if cache.len() < WRITER_CACHE_LIMIT {
            cache.insert(id, Arc::clone(&w));
        }
        Ok(w)
    }
}

/// The event type a (writer) schema is a version of, by its record's full name
/// (`trustloop.Telemetry`, ...); else the name it has.
pub fn event_type_of_schema(schema: &Schema) -> Result<EventType, String> {
    let Schema::Record(r) = schema else {
        return Err(schema.canonical_form().chars().take(80).collect());
    };
    let full = r.name.fullname(None);
    EventType::ALL.into_iter().find(|t| full.strip_prefix("trustloop.") == Some(t.name())).ok_or(full)
}

/// Reads `body` written with `writer` and resolves it into the current schema of `ty`.
pub(crate) fn resolve(id: u32, ty: EventType, writer: &Schema, body: &[u8]) -> Result<Event, CodecError> {
    let resolution = |reason: String| CodecError::Resolution { id, event_type: ty, reason };
    let mut rest = body;
    let value = apache_avro::from_avro_datum(writer, &mut rest, Some(&schema_info(ty).schema))
        .map_err(|e| resolution(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CodecError::Avro { schema_id: id, event_type: ty, source: AvroError::TrailingBytes(rest.len()) });
    }
    crate::with_event_type!(ty, T => apache_avro::from_value::<T>(&value).map(Event::from))
        .map_err(|e| resolution(e.to_string()))
}

/// Decodes an unframed Avro body of a current schema.
pub fn decode_body(ty: EventType, body: &[u8]) -> Result<Event, AvroError> {
    crate::with_event_type!(ty, T => codec::decode::<T>(body).map(Event::from))
}
