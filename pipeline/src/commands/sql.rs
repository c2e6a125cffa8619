//! `trustloop sql QUERY`: SQL over the event history (see [`trustloop_serve::sql`]).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use trustloop_serve::sql::format;

use trustloop_runtime::backend::{Backend, BackendConfig};

/// Arguments of `trustloop sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query. Every topic is a table (`telemetry`, `trust_scores`, `verdicts`, …) with the
    /// columns of its Avro schema (the envelope's flattened: `event_id`, `tenant`, `key`,
    /// `event_time`, `source`, `schema_version`) and `_topic`, `_partition`, `_offset`,
    /// `_event_time`, `_log_time`.
    pub query: String,
    /// How to print the result.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Query the history as the log held it at this time (RFC 3339): what was appended later is
    /// left out of every table.
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// An aligned text table.
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON object per line.
    Json,
}

/// Runs `trustloop sql`.
pub async fn run(backend_args: &BackendConfig, args: SqlArgs) -> Result<ExitCode> {
    let as_of_ms = match &args.as_of {
        Some(t) => Some(super::parse_time("--as-of", t)?.as_micros().div_euclid(1_000)),
        None => None,
    };
    let backend = Arc::new(Backend::open(backend_args).await?);
    let ctx = trustloop_serve::sql::session(backend, as_of_ms).await?;
    let batches = trustloop_serve::sql::query(&ctx, &args.query).await.context("the query")?;
    let text = match args.format {
        Format::Table => datafusion::arrow::util::pretty::pretty_format_batches(&batches)?.to_string() + "\n",
        Format::Csv => format::csv(&batches)?,
        Format::Json => format::json_lines(&batches)?,
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
