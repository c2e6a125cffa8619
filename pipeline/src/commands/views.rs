//! `trustloop views`: keeps the materialized views of the derived streams ([`trustloop_serve::views`]) up to
//! date in SQLite or PostgreSQL.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::watch;

use trustloop_runtime::backend::{Backend, BackendConfig};
use trustloop_serve::views::{Views, follow};

/// Options of `trustloop views`.
#[derive(Debug, Clone, clap::Args)]
pub struct ViewsArgs {
    /// The views database: `sqlite://PATH` (created if missing) or
    /// `postgres://USER:PASSWORD@HOST:PORT/DB`.
    #[arg(long, env = "TRUSTLOOP_VIEWS_DATABASE", default_value = "sqlite://trustloop-views.db", value_name = "URL")]
    pub database: String,
    /// Apply everything in the log, then exit.
    #[arg(long)]
    pub until_idle: bool,
    /// How often to look for new events when idle (milliseconds).
    #[arg(long, default_value_t = 500, value_name = "MS")]
    pub poll_ms: u64,
}

/// Runs `trustloop views` until SIGINT or SIGTERM (or, with `--until-idle`, until it has applied
/// everything in the log).
pub async fn run(backend_args: &BackendConfig, args: ViewsArgs) -> Result<ExitCode> {
    let backend = Arc::new(Backend::open(backend_args).await?);
    let views = Arc::new(Views::open(&args.database).await.with_context(|| format!("opening {}", args.database))?);
    let (stop_tx, stop_rx) = watch::channel(false);
    let signals = tokio::spawn(async move {
        trustloop_runtime::supervisor::shutdown().await;
        stop_tx.send_replace(true);
    });
    let outcome = follow(backend, views, args.until_idle, Duration::from_millis(args.poll_ms), stop_rx).await;
    signals.abort();
    let report = outcome.context("updating the views")?;
    eprintln!(
        "trustloop views: applied {} derived events{}",
        report.read,
        match report.undecodable {
            0 => String::new(),
            n => format!(" ({n} undecodable, skipped)"),
        }
    );
    Ok(ExitCode::SUCCESS)
}
