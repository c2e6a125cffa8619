//! trustloop's imperative shell: the command line, backend selection, ingestion and (later) the
//! runtime, checkpoints, HTTP and SQL.
//!
//! The functional core lives in `trustloop-operators`; the log backends in `trustloop-connectors`;
//! the event types and codecs in `trustloop-schemas`.

pub mod backend;
pub mod cli;
pub mod commands;
pub mod ingest;
