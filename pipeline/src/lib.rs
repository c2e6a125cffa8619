//! The `trustloop` command line: its options ([`cli`], [`args`]), one thin module per command
//! ([`commands`], the demo among them) and trace export ([`otel`]).
//!
//! What the commands drive lives in libraries: `trustloop-runtime` (the stages, their supervisor,
//! backend selection, checkpoints, ingestion), `trustloop-serve` (the HTTP gateway, dashboard,
//! operations endpoints, SQL and views); below them the functional core in `trustloop-operators`,
//! the log backends in `trustloop-connectors` and the event types and codecs in
//! `trustloop-schemas`.

pub mod args;
pub mod cli;
pub mod commands;
pub mod otel;
