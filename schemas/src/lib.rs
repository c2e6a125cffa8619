//! trustloop's events: Avro schemas (`schemas/avro/*.avsc`), the Rust types that mirror them, the
//! codecs and canonical hashing. No I/O.
//!
//! * [`events`] — one struct per event type, plus the [`Envelope`] every event carries;
//!   [`Event`]/[`EventType`] tie them to schemas and topics.
//! * [`codec`] — a direct serde ⇄ Avro binary codec (no generic `Value` on the hot path).
//! * [`wire`] — the Confluent wire format (magic byte, schema id, Avro body).
//! * [`catalog`] — the parsed schemas, their fingerprints and ids, and [`EventCodec`] (framed events,
//!   schema evolution through apache-avro's resolution).
//! * [`canonical`] — canonical digests and deterministic ids for derived events.
//! * [`json`] — the JSON form users produce and consume.
//! * [`transparency`] — verifiable evidence: Merkle proofs, signed checkpoints, DSSE and in-toto.

pub mod canonical;
pub mod catalog;
pub mod codec;
pub mod event;
pub mod events;
pub mod ids;
pub mod json;
pub mod transparency;
pub mod view;
pub mod wire;

pub use canonical::{EventIdPrefix, canonical_digest, derive_event_id};
pub use catalog::{CodecError, EventCodec, NoWriterSchemas, SchemaInfo, WriterSchemas, schema_info};
pub use codec::AvroError;
pub use event::{Event, EventType};
pub use events::*;
pub use ids::{EventId, EventTime};
pub use json::{IngestDefaults, JsonError};

#[cfg(test)]
mod tests;
