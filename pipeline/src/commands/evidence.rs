//! `trustloop evidence`: a verdict's evidence bundle — `export` it from the log, `verify` it
//! anywhere, without the log.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::{Args, Subcommand};
use trustloop_replay::History;
use trustloop_replay::evidence::{Bundle, export, verify};
use trustloop_runtime::backend::{Backend, BackendConfig};
use trustloop_schemas::EventId;
use trustloop_schemas::transparency::dsse::DsseVerifier;

use super::keys;
use crate::cli::OutputArgs;

/// Arguments of `trustloop evidence`.
#[derive(Debug, Args)]
pub struct EvidenceArgs {
    #[command(subcommand)]
    what: EvidenceCommand,
}

#[derive(Debug, Subcommand)]
enum EvidenceCommand {
    /// Write the evidence bundle of a verdict: a DSSE envelope (in-toto Statement v1: the release
    /// and its inventory digest; the verdict, its reasons, digests, frontier and the inputs that
    /// determined it), those records with their inclusion proofs, and the log's last signed
    /// checkpoint. The verdict must replay as recorded and lie before the last checkpoint.
    Export {
        /// The verdict's event id.
        verdict_id: String,
        /// Where to write the bundle (JSON).
        #[arg(long, short)]
        out: PathBuf,
        /// The log's private key, which signs the envelope (else `TRUSTLOOP_LOG_KEY`).
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Verify a bundle without the log: the envelope's and the checkpoint's signatures, every
    /// record's hash and inclusion proof, and the decision re-run over the bundle's inputs alone
    /// (MATCH or MISMATCH). Exit status 1 unless everything verifies and the re-run matches.
    Verify {
        /// The bundle.
        bundle: PathBuf,
        /// The log's public key (a vkey, or a file holding one).
        #[arg(long)]
        key: String,
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// Runs `trustloop evidence`.
pub async fn run(backend_args: &BackendConfig, args: EvidenceArgs) -> Result<ExitCode> {
    match args.what {
        EvidenceCommand::Export { verdict_id, out, key } => {
            let signer = keys::signer(key.as_deref())?;
            let id: EventId = verdict_id.parse().map_err(|e| anyhow!("{verdict_id:?} is not an event id: {e}"))?;
            let backend = Backend::open(backend_args).await?;
            let history = History { log: &backend.log, codec: &backend.codec, writers: &*backend.registry };
            let bundle = export(history, &id, &signer.dsse_signer()).await.context("cannot export the evidence")?;
            let text = serde_json::to_string_pretty(&bundle)?;
            std::fs::write(&out, &text).with_context(|| format!("cannot write {}", out.display()))?;
            println!(
                "evidence of verdict {verdict_id}: {} records proven in the checkpoint, {} bytes, written to {}",
                bundle.records.len(),
                text.len(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        EvidenceCommand::Verify { bundle, key, output } => {
            let text = std::fs::read_to_string(&bundle).with_context(|| format!("cannot read {}", bundle.display()))?;
            let parsed: Bundle = serde_json::from_str(&text)
                .with_context(|| format!("{} is not an evidence bundle", bundle.display()))?;
            let log_key = keys::verifier(&key)?;
            let dsse = DsseVerifier::from_public_key(&log_key.public_key())?;
            let report = verify(&parsed, &[dsse], &log_key);
            if output.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{} verdict {} ({} {}): {} records proven in a tree of {} leaves signed by {}; decision re-run: {}",
                    if report.is_ok() { "VERIFIED" } else { "FAILED" },
                    report.verdict_id,
                    report.subject,
                    report.outcome,
                    report.records_proven,
                    report.tree_size,
                    report.checkpoint_signed_by.join(", "),
                    report.rerun
                );
                for p in &report.problems {
                    println!("  problem: {p}");
                }
            }
            Ok(if report.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}
