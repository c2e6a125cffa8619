//! `trustloop views`: keeps the materialized views of the derived streams ([`crate::views`]) up to
//! date in SQLite or PostgreSQL.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::watch;

use crate::backend::{Backend, BackendArgs};
use crate::views::{Views, ViewsArgs, follow};

/// Runs `trustloop views` until SIGINT or SIGTERM (or, with `--until-idle`, until it has applied
/// everything in the log).
pub async fn run(backend_args: &BackendArgs, args: ViewsArgs) -> Result<ExitCode> {
    let backend = Arc::new(Backend::open(backend_args).await?);
    let views = Arc::new(Views::open(&args.database).await.with_context(|| format!("opening {}", args.database))?);
    let (stop_tx, stop_rx) = watch::channel(false);
    let signals = tokio::spawn(async move {
        super::run::shutdown().await;
        stop_tx.send_replace(true);
    });
    let outcome = follow(backend, views, &args, stop_rx).await;
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
