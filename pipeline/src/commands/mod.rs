//! One module per command.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command};

pub mod archive;
pub mod blame;
pub mod consume;
pub mod demo;
pub mod evidence;
pub mod findings;
pub mod import;
pub mod keys;
pub mod ledger;
pub mod log_repair;
pub mod notify;
pub mod policy;
pub mod produce;
pub mod replay;
pub mod run;
pub mod serve;
pub mod sql;
pub mod token;
pub mod topics;
pub(crate) mod versioned;
pub mod views;

/// Runs the parsed command.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    if let Some(now) = &cli.now {
        trustloop_runtime::clock::pin_now(parse_time("--now", now)?);
    }
    let backend = cli.backend.config();
    let backend = &backend;
    match cli.command {
        Command::Topics(args) => topics::run(backend, args).await,
        Command::Produce(args) => produce::run(backend, args).await,
        Command::Consume(args) => consume::run(backend, args).await,
        Command::Demo(args) => demo::run(backend, args).await,
        Command::Import(args) => import::run(backend, args).await,
        Command::Findings(args) => findings::run(backend, args).await,
        Command::Policy(args) => policy::run(backend, args).await,
        Command::Notify(args) => notify::run(backend, args).await,
        Command::Run(args) => run::run(backend, args).await,
        Command::Replay(args) => replay::run(backend, args).await,
        Command::Blame(args) => blame::run(backend, args).await,
        Command::Sql(args) => sql::run(backend, args).await,
        Command::Archive(args) => archive::run(backend, args).await,
        Command::Serve(args) => serve::run(backend, args).await,
        Command::Token(args) => token::run(backend, args).await,
        Command::Views(args) => views::run(backend, args).await,
        Command::Keys(args) => keys::run(args),
        Command::Evidence(args) => evidence::run(backend, args).await,
        Command::Log(args) => ledger::run(backend, args).await,
    }
}

/// A command-line time (RFC 3339, e.g. `2026-03-03T00:00:00Z`) given to `flag`.
pub fn parse_time(flag: &str, text: &str) -> Result<trustloop_schemas::EventTime> {
    Ok(trustloop_runtime::clock::parse_time(flag, text)?)
}
