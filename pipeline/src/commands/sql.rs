//! `trustloop sql QUERY`: SQL over the event history (see [`crate::sql`]).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::backend::{Backend, BackendArgs};

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
pub async fn run(backend_args: &BackendArgs, args: SqlArgs) -> Result<ExitCode> {
    let as_of_ms = match &args.as_of {
        Some(t) => Some(super::parse_time("--as-of", t)?.as_micros().div_euclid(1_000)),
        None => None,
    };
    let backend = Arc::new(Backend::open(backend_args).await?);
    let ctx = crate::sql::session(backend, as_of_ms).await?;
    let batches = crate::sql::query(&ctx, &args.query).await.context("the query")?;
    let text = match args.format {
        Format::Table => datafusion::arrow::util::pretty::pretty_format_batches(&batches)?.to_string() + "\n",
        Format::Csv => csv(&batches)?,
        Format::Json => json(&batches)?,
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// The text of every value of `column`, `None` for nulls.
fn texts(column: &ArrayRef) -> Result<Vec<Option<String>>> {
    let f = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())?;
    Ok((0..column.len()).map(|i| column.is_valid(i).then(|| f.value(i).to_string())).collect())
}

/// The rows of `batches` as CSV with a header line.
pub fn csv(batches: &[RecordBatch]) -> Result<String> {
    let quote = |s: &str| match s.contains([',', '"', '\n', '\r']) {
        true => format!("\"{}\"", s.replace('"', "\"\"")),
        false => s.to_string(),
    };
    let mut out = String::new();
    let Some(first) = batches.first() else { return Ok(out) };
    let header: Vec<String> = first.schema().fields().iter().map(|f| quote(f.name())).collect();
    out.push_str(&header.join(","));
    out.push('\n');
    for b in batches {
        let columns = b.columns().iter().map(texts).collect::<Result<Vec<_>>>()?;
        for row in 0..b.num_rows() {
            let cells: Vec<String> = columns.iter().map(|c| c[row].as_deref().map_or(String::new(), quote)).collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
    }
    Ok(out)
}

/// The rows of `batches` as JSON objects (numbers and booleans as such, the rest as text).
pub fn rows(batches: &[RecordBatch]) -> Result<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    for b in batches {
        let schema = b.schema();
        let columns = b.columns().iter().map(texts).collect::<Result<Vec<_>>>()?;
        for row in 0..b.num_rows() {
            let mut obj = serde_json::Map::new();
            for (field, column) in schema.fields().iter().zip(&columns) {
                let value = match (&column[row], field.data_type()) {
                    (None, _) => serde_json::Value::Null,
                    (Some(t), DataType::Boolean) => serde_json::Value::Bool(t == "true"),
                    (Some(t), dt) if dt.is_numeric() => {
                        serde_json::from_str(t).unwrap_or_else(|_| serde_json::Value::String(t.clone()))
                    }
                    (Some(t), _) => serde_json::Value::String(t.clone()),
                };
                obj.insert(field.name().clone(), value);
            }
            out.push(serde_json::Value::Object(obj));
        }
    }
    Ok(out)
}

/// One JSON object per line.
fn json(batches: &[RecordBatch]) -> Result<String> {
    let mut out = String::new();
    for row in rows(batches)? {
        out.push_str(&row.to_string());
        out.push('\n');
    }
    Ok(out)
}
