//! `trustloop blame SUBJECT`: each change of the subject's verdict and the input that flipped it
//! (see [`trustloop_replay::blame`]).

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use trustloop_replay::History;
use trustloop_replay::blame::blame;

use crate::cli::OutputArgs;
use trustloop_runtime::backend::{Backend, BackendConfig};

/// Arguments of `trustloop blame`.
#[derive(Debug, Args)]
pub struct BlameArgs {
    /// The subject: a release promotion `NAME@VERSION@ENVIRONMENT`, or an entity.
    pub subject: String,
    /// Its tenant.
    #[arg(long, env = "TRUSTLOOP_TENANT", default_value = "default")]
    pub tenant: String,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs `trustloop blame`; exit status 1 if the subject never had a verdict.
pub async fn run(backend_args: &BackendConfig, args: BlameArgs) -> Result<ExitCode> {
    let backend = Backend::open(backend_args).await?;
    let history = History { log: &backend.log, codec: &backend.codec, writers: &*backend.registry };
    let changes = blame(history, &args.tenant, &args.subject).await.context("replaying the decisions")?;
    if args.output.json {
        println!("{}", serde_json::to_string_pretty(&changes)?);
    } else if changes.is_empty() {
        eprintln!("no verdict about {} for tenant {}", args.subject, args.tenant);
    } else {
        for c in &changes {
            let from = c.from.map_or("(first)".to_string(), |o| format!("{o:?}").to_uppercase());
            println!(
                "{}  {from} → {}  {}: {}  [{}/{}@{}]  verdict {}\n    {}",
                c.at,
                format!("{:?}", c.to).to_uppercase(),
                c.cause_kind,
                c.cause,
                c.cause_at.0,
                c.cause_at.1,
                c.cause_at.2,
                c.verdict_id,
                c.reason
            );
            for a in &c.actions {
                let revert = if a.revert { " (revert)" } else { "" };
                println!("    → {}{revert} {} [{}]: {}", a.kind, a.target, a.action_id, a.reason);
            }
        }
    }
    Ok(if changes.is_empty() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
