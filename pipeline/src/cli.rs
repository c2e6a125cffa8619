//! Command-line definitions (clap). The doc comments here are the `--help` texts.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::backend::BackendArgs;
use crate::commands;

/// trustloop — an event-sourced pipeline that closes the security & trust loop:
/// collect → analyze → decide → enforce, with every decision replayable from the log.
///
/// By default events live in an embedded, file-backed log in `--data DIR`; with `--brokers` they live
/// in Kafka.
#[derive(Debug, Parser)]
#[command(name = "trustloop", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Where the events live.
    #[command(flatten)]
    pub backend: BackendArgs,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The trustloop commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List topics with their partitions and end offsets.
    Topics(commands::topics::TopicsArgs),
    /// Read JSON lines on stdin, validate them, encode them as Avro and append them to a topic.
    ///
    /// Each line is one event in the topic's JSON form: the payload fields plus the envelope fields
    /// (`tenant`, `event_time`, and optionally `event_id`, `key`, `source`). Missing envelope fields are
    /// filled in. A bad line is reported with its line number and reason and written to the `dlq`
    /// topic; the good lines are still appended; the exit status is 1 if any line was bad.
    Produce(commands::produce::ProduceArgs),
    /// Print a topic's events as JSON lines (with `_topic`, `_partition`, `_offset`, `_log_time`).
    Consume(commands::consume::ConsumeArgs),
    /// Import real documents: OSV advisories (files, directories, history streams), Cargo.lock and
    /// SBOM (CycloneDX, SPDX) inventories, VEX statements (OpenVEX, CSAF, CycloneDX). Bad items are
    /// reported (path and JSON pointer), written to `dlq`, and skipped.
    Import(commands::import::ImportArgs),
    /// List the open findings — which releases which advisories affect — after everything in the log.
    Findings(commands::findings::FindingsArgs),
    /// Policies: `check FILE` validates one and prints its digest, `apply FILE` publishes it on
    /// `policies` as the next version of its name, `default` prints the built-in default policy (the
    /// documented reference of the format).
    Policy(commands::policy::PolicyArgs),
    /// Run the pipeline: the operators (impact, trust, decision, enforcement) over the log, and the
    /// enforcement adapters of `--config`. `--until-idle` processes everything and exits.
    Run(commands::run::RunArgs),
    /// Run the whole closed loop on the embedded log in `--data DIR`: a fleet's telemetry (some of it
    /// malformed), real advisories, lockfiles, an SBOM and VEX, a policy, approvals and promotions go
    /// in; findings, trust scores, verdicts and enforcement actions (applied by real programs) come
    /// out. A previous demo's directory is replaced.
    Demo(commands::demo::DemoArgs),
}

/// Options shared by the commands that print results.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Print machine-readable JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Parses the command line, runs the command and maps its outcome to an exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("TRUSTLOOP_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The default data directory of the embedded log.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from("./trustloop-data")
}
