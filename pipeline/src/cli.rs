//! Command-line definitions (clap). The doc comments here are the `--help` texts.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::args::BackendArgs;
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

    /// Export tracing spans (stage passes, checkpoints, action dispatches) to this OpenTelemetry
    /// collector, over OTLP/HTTP protobuf, at `URL/v1/traces` (e.g. `http://127.0.0.1:4318`). The
    /// standard `OTEL_EXPORTER_OTLP_ENDPOINT` variables work too; `OTEL_SDK_DISABLED=true` turns
    /// export off. Spans exported: `TRUSTLOOP_OTLP_LOG` (an `EnvFilter`, default `info`).
    #[arg(long, global = true, env = "TRUSTLOOP_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,

    /// Take TIME (RFC 3339) as the current time wherever trustloop stamps one: events read without
    /// an event time, imported inventories (lockfiles, SBOMs), applied policies, dead letters. For
    /// reproducible imports: the same inputs then make the same events, id for id (the regression
    /// cases under `tests/cases/` pin it). Decisions never read the clock, with or without it.
    #[arg(long, global = true, env = "TRUSTLOOP_NOW", value_name = "TIME")]
    pub now: Option<String>,

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
    /// Notifications: `check FILE` validates a rules file, `apply FILE` publishes it on
    /// `notify-rules` as the next version of its name, `test CHANNEL --config FILE` sends a test
    /// message through a configured channel and records the delivery.
    Notify(commands::notify::NotifyArgs),
    /// Run the pipeline: the operators (impact, trust, decision, enforcement) over the log, and the
    /// enforcement adapters of `--config`. `--until-idle` processes everything and exits.
    Run(commands::run::RunArgs),
    /// Reconstruct past decisions from the log, for audits: `replay verdict EVENT_ID` rebuilds the
    /// decision operator up to the verdict's recorded input frontier (or, for an enforcement
    /// action, replays the operator that derived it) and says MATCH (exit status 0) or MISMATCH
    /// (exit status 1) with the inputs that determined it; `replay --all --verify` re-derives
    /// every operator's outputs and compares them all; `replay subject S --at T` shows a subject as
    /// known at a time; `replay --policy FILE` re-runs history under a candidate policy (what-if).
    Replay(commands::replay::ReplayArgs),
    /// Each change of a subject's verdict (`NAME@VERSION@ENVIRONMENT` or an entity) and the input
    /// that flipped it: an advisory delta, a VEX statement, an approval, a policy version, a trust
    /// change, a promotion request.
    Blame(commands::blame::BlameArgs),
    /// SQL over the event history (DataFusion): every topic is a table (`trust-scores` as
    /// `trust_scores`), with the columns of its Avro schema and the log's `_topic`, `_partition`,
    /// `_offset`, `_event_time`, `_log_time`. `--as-of` queries the log as it was at a time.
    Sql(commands::sql::SqlArgs),
    /// Write topics to Parquet (`--to DIR`, one file per topic) with the columns `sql` shows, for
    /// long-term history and other tools.
    Archive(commands::archive::ArchiveArgs),
    /// Serve the HTTP gateway: producers post events (`POST /v1/events/TOPIC`, JSON or Avro, one or a
    /// batch), readers query their tenant's history (`/v1/sql`, `/v1/verdicts/SUBJECT`,
    /// `/v1/replay/EVENT_ID`, `/v1/evidence/VERDICT_ID` with `--evidence-key`), Kafka tooling reads
    /// the schemas (`/subjects`, `/schemas/ids/ID`);
    /// `/healthz`, `/readyz`, `/metrics`. Every other route needs a token (`trustloop token`).
    Serve(commands::serve::ServeArgs),
    /// API tokens of the gateway: `create --tenant T [--service S] --role ROLE` prints a new token
    /// once; `revoke ID`; `list`.
    Token(commands::token::TokenArgs),
    /// Keep materialized views of the derived streams — latest trust scores, current verdicts and
    /// their history, actions by lifecycle state, open findings — in SQLite (default) or PostgreSQL,
    /// for Grafana and other SQL tools. Each event is applied once, with the views' position, in one
    /// transaction.
    Views(crate::commands::views::ViewsArgs),
    /// Run the whole closed loop on the embedded log in `--data DIR`: a fleet's telemetry (some of it
    /// malformed), real advisories, lockfiles, an SBOM and VEX, a policy, approvals and promotions go
    /// in; findings, trust scores, verdicts and enforcement actions (applied by real programs) come
    /// out. A previous demo's directory is replaced.
    Demo(commands::demo::DemoArgs),
    /// The keys that sign the log's checkpoints: `generate --name NAME --out FILE` writes a new
    /// private key (mode 0600) and prints its public key; `public --key FILE` prints it again.
    Keys(commands::keys::KeysArgs),
    /// The log's integrity: `checkpoint` signs the log as it is now (its Merkle tree head and each
    /// partition's hash chain head, appended to `checkpoints`); `verify --key PUB` re-reads the
    /// whole log and checks it against every checkpoint, reporting each break with its location
    /// (exit status 1 if any; `--witness PUB` also requires their cosignatures); `witness --key
    /// FILE --log-key PUB` cosigns the checkpoints consistent with the last one it cosigned.
    Log(commands::ledger::LogArgs),
    /// A verdict's evidence, checkable by anyone offline: `export VERDICT_ID --out FILE` writes a
    /// DSSE/in-toto bundle with the inputs that determined it, one inclusion proof for them all and
    /// the log's signed (and cosigned) checkpoint; `verify FILE --key PUB [--witness PUB]` checks it
    /// without the log and re-runs the decision (MATCH / MISMATCH).
    Evidence(commands::evidence::EvidenceArgs),
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
    if matches!(
        cli.command,
        Command::Topics(_)
            | Command::Consume(_)
            | Command::Findings(_)
            | Command::Policy(commands::policy::PolicyArgs {
                what: commands::policy::PolicyCommand::Check { .. } | commands::policy::PolicyCommand::Default
            })
            | Command::Replay(_)
            | Command::Blame(_)
            | Command::Sql(_)
    ) {
        stop_quietly_on_a_closed_pipe();
    }
    // Kept to the end of `main`: dropping it flushes the spans still buffered.
    let _exporter = match init_tracing(cli.otlp_endpoint.as_deref()) {
        Ok(exporter) => exporter,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
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

/// Logs to stderr (filtered by `TRUSTLOOP_LOG`, else `RUST_LOG`, else `warn`) and, when an OTLP
/// endpoint is configured, exports spans too (filtered by `TRUSTLOOP_OTLP_LOG`, else `info`).
fn init_tracing(otlp_endpoint: Option<&str>) -> Result<Option<crate::otel::Exporter>, crate::otel::ExportError> {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = EnvFilter::try_from_env("TRUSTLOOP_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("warn"));
    let log = tracing_subscriber::fmt::layer()
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(std::io::stderr)
        .with_filter(filter);
    let endpoint = crate::otel::Endpoint::resolve(otlp_endpoint, |name| std::env::var(name).ok());
    let exporter = endpoint.as_ref().map(crate::otel::Exporter::start).transpose()?;
    let traces = exporter.as_ref().map(|exporter| {
        let filter = EnvFilter::try_from_env("TRUSTLOOP_OTLP_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
        exporter.layer().with_filter(filter)
    });
    let _ = tracing_subscriber::registry().with(log).with(traces).try_init();
    Ok(exporter)
}

/// For the commands that print results, typically into `head` or `less`: when the reader goes away,
/// the process ends quietly as Unix tools do, instead of failing on every later write (the Rust
/// runtime ignores SIGPIPE). Not for the service or the writers, whose sockets and files must not
/// end the process.
fn stop_quietly_on_a_closed_pipe() {
    // SAFETY: sets SIGPIPE back to its default disposition before any other thread exists (the
    // async runtime starts later); no handler is installed, so no code runs in signal context.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The default data directory of the embedded log.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from("./trustloop-data")
}
