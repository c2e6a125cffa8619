//! trustloop connectors: the event log contract and its backends.
//!
//! * [`log`] — the [`log::EventLog`] trait (topics, partitions, offsets, consumer-group offsets)
//!   with two backends: [`log::embedded::EmbeddedLog`] (the default, file-backed) and
//!   [`log::kafka::KafkaLog`] (real Kafka via rdkafka).
//! * [`feed`] — how an operator is fed its input, live and in replay: ranges of the log, merged in
//!   the log's own order, admitted, applied — one [`feed::Feed`] the runtime and replay both drive.
//! * [`enforce`] — enforcement adapters (webhook, command, Kafka topic) that perform dispatched
//!   actions and report their results, with rate limits and routing by action kind.
//! * [`notify`] — notification channels (signed webhook, Slack, Teams, SMTP e-mail) that deliver
//!   the notify operator's notifications.
//! * [`import`] — importers of real documents (OSV advisories, ...).
//! * [`ledger`] — the log's hash chains and Merkle tree, signed checkpoints, and `log verify`.
//! * [`registry`] — the schema registry kept in the log itself, which makes older writer schemas
//!   readable after the event schemas evolve.

pub mod enforce;
pub mod feed;
pub mod import;
pub mod ledger;
pub mod log;
pub mod notify;
pub mod registry;
