//! trustloop connectors: the event log contract and its backends.
//!
//! * [`log`] — the [`log::EventLog`] trait (topics, partitions, offsets, consumer-group offsets)
//!   with two backends: [`log::embedded::EmbeddedLog`] (the default, file-backed) and
//!   [`log::kafka::KafkaLog`] (real Kafka via rdkafka).
//! * [`registry`] — the schema registry kept in the log itself, which makes older writer schemas
//!   readable after the event schemas evolve.

pub mod log;
pub mod registry;
