//! One module per command.

use std::process::ExitCode;
use std::sync::OnceLock;

use anyhow::Result;

use crate::cli::{Cli, Command};

pub mod archive;
pub mod blame;
pub mod consume;
pub mod demo;
pub mod findings;
pub mod import;
pub mod policy;
pub mod produce;
pub mod replay;
pub mod run;
pub mod serve;
pub mod sql;
pub mod token;
pub mod topics;
pub mod views;

/// Runs the parsed command.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    if let Some(now) = &cli.now {
        pin_now(parse_time("--now", now)?);
    }
    match cli.command {
        Command::Topics(args) => topics::run(&cli.backend, args).await,
        Command::Produce(args) => produce::run(&cli.backend, args).await,
        Command::Consume(args) => consume::run(&cli.backend, args).await,
        Command::Demo(args) => demo::run(&cli.backend, args).await,
        Command::Import(args) => import::run(&cli.backend, args).await,
        Command::Findings(args) => findings::run(&cli.backend, args).await,
        Command::Policy(args) => policy::run(&cli.backend, args).await,
        Command::Run(args) => run::run(&cli.backend, args).await,
        Command::Replay(args) => replay::run(&cli.backend, args).await,
        Command::Blame(args) => blame::run(&cli.backend, args).await,
        Command::Sql(args) => sql::run(&cli.backend, args).await,
        Command::Archive(args) => archive::run(&cli.backend, args).await,
        Command::Serve(args) => serve::run(&cli.backend, args).await,
        Command::Token(args) => token::run(&cli.backend, args).await,
        Command::Views(args) => views::run(&cli.backend, args).await,
    }
}

/// The time `--now` pinned, in microseconds since the Unix epoch.
static NOW: OnceLock<i64> = OnceLock::new();

/// Takes `at` as the current time of [`now_micros`] for the rest of the process (`--now`); the
/// first pin stands.
pub fn pin_now(at: trustloop_schemas::EventTime) {
    let _ = NOW.set(at.as_micros());
}

/// The current time in microseconds since the Unix epoch: the wall clock, or the time `--now`
/// pinned (ingest defaults only: no decision ever reads the clock).
pub fn now_micros() -> i64 {
    NOW.get().copied().unwrap_or_else(|| chrono::Utc::now().timestamp_micros())
}

/// A command-line time (RFC 3339, e.g. `2026-03-03T00:00:00Z`) given to `flag`.
pub fn parse_time(flag: &str, text: &str) -> Result<trustloop_schemas::EventTime> {
    use anyhow::Context as _;
    let at = chrono::DateTime::parse_from_rfc3339(text)
        .with_context(|| format!("{flag} {text:?}: not an RFC 3339 time such as 2026-03-03T00:00:00Z"))?;
    Ok(trustloop_schemas::EventTime::from_micros(at.timestamp_micros()))
}
