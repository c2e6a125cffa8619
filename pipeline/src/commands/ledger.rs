//! `trustloop log`: the log's integrity — `checkpoint` signs what the log holds now, `verify`
//! checks the whole log against its checkpoints, `repair` moves the embedded log's corrupt batches
//! aside ([`super::log_repair`]).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use trustloop_connectors::ledger::checkpointer::{CheckpointRequest, checkpoint};
use trustloop_connectors::ledger::verify::{VerifyRequest, verify_log};
use trustloop_runtime::backend::{Backend, BackendConfig};

use super::{keys, log_repair};
use crate::cli::OutputArgs;

/// Arguments of `trustloop log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    #[command(subcommand)]
    what: LogCommand,
}

#[derive(Debug, Subcommand)]
enum LogCommand {
    /// Sign a checkpoint of the log as it is now: every record appended since the last checkpoint
    /// (on a log without one: every record) becomes a leaf of the log's Merkle tree and a link of
    /// its partition's hash chain; the tree head and the chain heads are signed (a C2SP signed
    /// note) and appended to `checkpoints`.
    Checkpoint {
        /// The private key file (else `TRUSTLOOP_LOG_KEY` holds the key itself).
        #[arg(long)]
        key: Option<PathBuf>,
        /// The log's identity in its checkpoints (default: the last checkpoint's, or
        /// `trustloop.local/log` for the first).
        #[arg(long)]
        origin: Option<String>,
        /// Hand the log's key on: this public key (a vkey, or a file holding one) signs the
        /// checkpoints after this one, and the current key no longer may.
        #[arg(long)]
        next_key: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Verify the log against its checkpoints: every checkpoint's signature, number and
    /// predecessor; every partition re-read, its chain and the tree recomputed. Each break is
    /// reported with its checkpoint, topic, partition and offsets; exit status 1 if any.
    Verify {
        /// The log's public key (a vkey, or a file holding one; repeatable). Keys handed on by a
        /// checkpoint are followed from there.
        #[arg(long = "key", required = true)]
        keys: Vec<String>,
        /// The origin expected (default: the first checkpoint's).
        #[arg(long)]
        origin: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Repair the embedded log: every corrupt batch of every segment (a checksum mismatch, a
    /// malformed batch, a length that frames nothing, a torn tail) is moved into a quarantine file
    /// under `DATA/quarantine/` — never deleted — and its segment rewritten without it, every other
    /// batch byte for byte. Each is printed (topic/partition, file, byte, length, reason, quarantine
    /// file) and recorded on `dlq` as a dead letter; readers then step over the offsets it held,
    /// and `log verify` reports the span as a break. Refuses while another process has the log
    /// open. Embedded log only.
    Repair {
        /// Find and report what would be quarantined; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        output: OutputArgs,
    },
}

fn now_ms() -> i64 {
    trustloop_runtime::clock::now_micros() / 1000
}

/// Runs `trustloop log`.
pub async fn run(backend_args: &BackendConfig, args: LogArgs) -> Result<ExitCode> {
    match args.what {
        // Without the backend open: the repair needs the log to itself.
        LogCommand::Repair { dry_run, output } => log_repair::run(backend_args, dry_run, output.json).await,
        LogCommand::Checkpoint { key, origin, next_key, output } => {
            let backend = Backend::open(backend_args).await?;
            let log = &*backend.log;
            let signer = keys::signer(key.as_deref())?;
            let next = next_key.as_deref().map(keys::verifier).transpose()?;
            let req = CheckpointRequest {
                origin: origin.as_deref(),
                signer: &signer,
                next_key: next.as_ref(),
                reason: "manual",
                now_ms: now_ms(),
            };
            let made =
                checkpoint(log, &backend.codec, &*backend.registry, &req).await.context("cannot checkpoint the log")?;
            if output.json {
                println!(
                    "{}",
                    serde_json::to_string(&trustloop_schemas::json::event_to_json(&made.event.clone().into()))?
                );
            } else {
                println!(
                    "checkpoint {} of {}: {} records added, tree of {} leaves, root {}",
                    made.event.seq, made.event.origin, made.event.records, made.event.tree_size, made.event.root_hash
                );
                print!("{}", made.event.note);
            }
            Ok(ExitCode::SUCCESS)
        }
        LogCommand::Verify { keys: given, origin, output } => {
            let backend = Backend::open(backend_args).await?;
            let log = &*backend.log;
            let keys = given.iter().map(|k| keys::verifier(k)).collect::<Result<Vec<_>>>()?;
            let req = VerifyRequest { keys: &keys, origin: origin.as_deref() };
            let report =
                verify_log(log, &backend.codec, &*backend.registry, &req).await.context("cannot verify the log")?;
            if output.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render());
            }
            Ok(if report.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}
