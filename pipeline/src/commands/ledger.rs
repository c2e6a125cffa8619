//! `trustloop log`: the log's integrity — `checkpoint` signs what the log holds now, `verify`
//! checks the whole log against its checkpoints (and, with `--witness`, their cosignatures),
//! `witness` cosigns checkpoints consistent with the last one it cosigned, `repair` moves the
//! embedded log's corrupt batches aside ([`super::log_repair`]).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use trustloop_connectors::ledger::checkpointer::{CheckpointRequest, checkpoint};
use trustloop_connectors::ledger::verify::{VerifyRequest, verify_log};
use trustloop_connectors::ledger::witness::{WitnessRequest, cosignatures, witness_log};
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
        /// A witness's public key (a vkey, or a file holding one; repeatable): report which
        /// checkpoints each cosigned, and fail unless the newest has `--quorum` cosignatures.
        #[arg(long = "witness")]
        witnesses: Vec<String>,
        /// How many of the `--witness` keys must have cosigned the newest checkpoint (default: all).
        #[arg(long, requires = "witnesses")]
        quorum: Option<usize>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Witness the log: for each checkpoint after the last one this witness cosigned, check the
    /// log's signature (following announced key rotations), its number and predecessor, and that
    /// the tree the log's records give is consistent with the one last cosigned (an RFC 9162
    /// consistency proof against the root in the witness's state file); then add the witness's
    /// signature line to the note and append it to `checkpoint-cosignatures`. A checkpoint that
    /// fails is not cosigned: the check, both tree heads and the reason are printed, exit status 1.
    Witness {
        /// The witness's private key file (else `TRUSTLOOP_WITNESS_KEY` holds the key itself); not
        /// the log's key.
        #[arg(long)]
        key: Option<PathBuf>,
        /// The log's public key (a vkey, or a file holding one), trusted for the first checkpoint
        /// this witness sees; after that the state file's key, which follows rotations.
        #[arg(long)]
        log_key: String,
        /// The witness's state file: the last checkpoint it cosigned (created if missing, replaced
        /// atomically after each cosignature).
        #[arg(long, default_value = "trustloop-witness.json")]
        state: PathBuf,
        /// The log's origin (default: the state's, or the first checkpoint's).
        #[arg(long)]
        origin: Option<String>,
        /// Keep witnessing: look for new checkpoints every `--interval-secs` until interrupted or
        /// a checkpoint is refused.
        #[arg(long)]
        follow: bool,
        /// Seconds between looks with `--follow`.
        #[arg(long, default_value_t = 10, requires = "follow")]
        interval_secs: u64,
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
        LogCommand::Verify { keys: given, origin, witnesses, quorum, output } => {
            let backend = Backend::open(backend_args).await?;
            let log = &*backend.log;
            let keys = given.iter().map(|k| keys::verifier(k)).collect::<Result<Vec<_>>>()?;
            let witnesses = witnesses.iter().map(|k| keys::verifier(k)).collect::<Result<Vec<_>>>()?;
            let req = VerifyRequest { keys: &keys, origin: origin.as_deref() };
            let report =
                verify_log(log, &backend.codec, &*backend.registry, &req).await.context("cannot verify the log")?;
            let witnessed = if witnesses.is_empty() {
                None
            } else {
                let quorum = quorum.unwrap_or(witnesses.len());
                if quorum == 0 || quorum > witnesses.len() {
                    anyhow::bail!("--quorum {quorum}: between 1 and the {} witness keys given", witnesses.len());
                }
                Some(
                    cosignatures(log, &backend.codec, &*backend.registry, &witnesses, quorum)
                        .await
                        .context("cannot read the cosignatures")?,
                )
            };
            if output.json {
                let mut value = serde_json::to_value(&report)?;
                if let (Some(w), Some(map)) = (&witnessed, value.as_object_mut()) {
                    map.insert("witnesses".into(), serde_json::to_value(w)?);
                }
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                print!("{}", report.render());
                if let Some(w) = &witnessed {
                    print!("{}", w.render());
                }
            }
            let ok = report.is_ok() && witnessed.as_ref().is_none_or(|w| w.is_ok());
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        LogCommand::Witness { key, log_key, state, origin, follow, interval_secs, output } => {
            let signer = keys::signer_from(key.as_deref(), keys::WITNESS_KEY_ENV)?;
            let log_key = keys::verifier(&log_key)?;
            if signer.verifier().public_key() == log_key.public_key() {
                anyhow::bail!("the witness's key is the log's key: a witness needs a key of its own");
            }
            let backend = Backend::open(backend_args).await?;
            let log = &*backend.log;
            loop {
                let req = WitnessRequest {
                    signer: &signer,
                    log_key: &log_key,
                    origin: origin.as_deref(),
                    state_file: &state,
                    now_ms: now_ms(),
                };
                let run = match witness_log(log, &backend.codec, &*backend.registry, &req).await {
                    Ok(run) => run,
                    Err(e) if follow && e.is_retriable() => {
                        tracing::warn!(error = %e, "witnessing failed; trying again");
                        tokio::time::sleep(std::time::Duration::from_secs(interval_secs)).await;
                        continue;
                    }
                    Err(e) => return Err(anyhow::Error::new(e).context("cannot witness the log")),
                };
                for c in &run.cosigned {
                    if output.json {
                        println!(
                            "{}",
                            serde_json::to_string(&trustloop_schemas::json::event_to_json(&c.clone().into()))?
                        );
                    } else {
                        println!(
                            "cosigned checkpoint {} of {}: tree of {} leaves, root {}, consistent with size {}",
                            c.seq, c.origin, c.tree_size, c.root_hash, c.old_size
                        );
                    }
                }
                if let Some(refusal) = &run.refusal {
                    tracing::error!(%refusal, "checkpoint refused: not cosigned");
                    if output.json {
                        println!("{}", serde_json::json!({ "refused": refusal }));
                    } else {
                        println!("REFUSED {refusal}");
                    }
                    return Ok(ExitCode::FAILURE);
                }
                if run.cosigned.is_empty() && !follow {
                    match &run.state {
                        Some(s) => println!(
                            "nothing new to cosign: the last checkpoint cosigned is {} (tree of {} leaves)",
                            s.seq, s.size
                        ),
                        None => println!("nothing to cosign: the log has no checkpoints"),
                    }
                }
                if !follow {
                    return Ok(ExitCode::SUCCESS);
                }
                tokio::select! {
                    () = tokio::time::sleep(std::time::Duration::from_secs(interval_secs)) => {}
                    _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
                }
            }
        }
    }
}
