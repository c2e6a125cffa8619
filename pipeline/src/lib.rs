//! trustloop's imperative shell: the command line, backend selection, ingestion, the runtime that
//! drives the operators, checkpoints, the operations endpoints and trace export.
//!
//! The functional core lives in `trustloop-operators`; the log backends in `trustloop-connectors`;
//! the event types and codecs in `trustloop-schemas`.

pub mod backend;
pub mod cli;
pub mod commands;
pub mod gateway;
pub mod ingest;
pub mod lineage;
pub mod memory;
pub mod ops;
pub mod otel;
pub mod runtime;
pub mod sql;
pub mod views;
