//! trustloop connectors: the event log contract and its backends.
//!
//! * [`log`] — the [`log::EventLog`] trait (topics, partitions, offsets, consumer-group offsets)
//!   with two backends: [`log::embedded::EmbeddedLog`] (the default, file-backed) and
//!   [`log::kafka::KafkaLog`] (real Kafka via rdkafka).
//! * [`import`] — importers of real documents (OSV advisories, ...).
//! * [`registry`] — the schema registry kept in the log itself, which makes older writer schemas
//!   readable after the event schemas evolve.

pub mod import;
pub mod log;
pub mod registry;
