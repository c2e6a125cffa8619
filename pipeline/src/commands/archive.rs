//! `trustloop archive --to DIR`: every topic (or the ones named) written to Parquet, one file per
//! topic (`DIR/<topic>.parquet`), with the columns `trustloop sql` shows — for long-term history
//! and for other tools (DuckDB, Spark, pandas).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use datafusion::dataframe::DataFrameWriteOptions;

use trustloop_runtime::backend::{Backend, BackendConfig};

/// Arguments of `trustloop archive`.
#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// The directory the Parquet files go to (created if needed; a topic's file is replaced).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Only these topics (default: every topic of trustloop's event types).
    #[arg(long, value_delimiter = ',', value_name = "TOPIC,...")]
    pub topics: Vec<String>,
    /// The log as it was at this time (RFC 3339): what was appended later is left out.
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
}

/// Runs `trustloop archive`.
pub async fn run(backend_args: &BackendConfig, args: ArchiveArgs) -> Result<ExitCode> {
    let as_of_ms = match &args.as_of {
        Some(t) => Some(super::parse_time("--as-of", t)?.as_micros().div_euclid(1_000)),
        None => None,
    };
    let backend = Arc::new(Backend::open(backend_args).await?);
    std::fs::create_dir_all(&args.to).with_context(|| format!("creating {}", args.to.display()))?;
    let mut topics: Vec<String> = backend
        .log
        .list_topics()
        .await?
        .into_iter()
        .map(|t| t.name)
        .filter(|t| trustloop_schemas::EventType::from_topic(t).is_some())
        .collect();
    if !args.topics.is_empty() {
        if let Some(unknown) = args.topics.iter().find(|t| !topics.contains(t)) {
            anyhow::bail!("no topic {unknown} in the log");
        }
        topics = args.topics.clone();
    }
    let ctx = trustloop_serve::sql::session(backend, as_of_ms).await?;
    for topic in &topics {
        let path = args.to.join(format!("{topic}.parquet"));
        let table = datafusion::common::TableReference::bare(topic.as_str());
        let df = ctx.table(table).await.with_context(|| format!("the table of {topic}"))?;
        let rows = df.clone().count().await?;
        df.write_parquet(
            path.to_str().context("a UTF-8 path")?,
            DataFrameWriteOptions::new().with_single_file_output(true),
            None,
        )
        .await
        .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("{topic}: {rows} rows → {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
