//! `trustloop evidence`: a verdict's evidence bundle — `export` it from the log, `verify` it
//! anywhere, without the log.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::{Args, Subcommand};
use trustloop_replay::History;
use trustloop_replay::evidence::{Bundle, export, verify_with};
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
    /// determined it), those records (packed, compressed) with one multi-leaf inclusion proof, and
    /// the log's last signed checkpoint with the witnesses' cosignatures of it the log holds. The
    /// verdict must replay as recorded and lie before the last checkpoint.
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
        /// A witness's public key (a vkey, or a file holding one; repeatable): the bundle's
        /// checkpoint must carry its cosignature (`--quorum` of them).
        #[arg(long = "witness")]
        witnesses: Vec<String>,
        /// How many of the `--witness` keys must have cosigned the checkpoint (default: all).
        #[arg(long, requires = "witnesses")]
        quorum: Option<usize>,
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
            let cosignatures = trustloop_schemas::transparency::checkpoint::SignedNote::parse(&bundle.checkpoint)
                .map_or(0, |n| n.signatures.len().saturating_sub(1));
            println!(
                "evidence of verdict {verdict_id}: {} records proven in the checkpoint ({cosignatures} cosignature{}), {} bytes, written to {}",
                bundle.record_count(),
                if cosignatures == 1 { "" } else { "s" },
                text.len(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        EvidenceCommand::Verify { bundle, key, witnesses, quorum, output } => {
            let text = std::fs::read_to_string(&bundle).with_context(|| format!("cannot read {}", bundle.display()))?;
            let parsed: Bundle = serde_json::from_str(&text)
                .with_context(|| format!("{} is not an evidence bundle", bundle.display()))?;
            let log_key = keys::verifier(&key)?;
            let dsse = DsseVerifier::from_public_key(&log_key.public_key())?;
            let witnesses = witnesses.iter().map(|k| keys::verifier(k)).collect::<Result<Vec<_>>>()?;
            let quorum = quorum.unwrap_or(witnesses.len());
            if quorum > witnesses.len() || (!witnesses.is_empty() && quorum == 0) {
                anyhow::bail!("--quorum {quorum}: between 1 and the {} witness keys given", witnesses.len());
            }
            let report = verify_with(&parsed, &[dsse], &log_key, &witnesses, quorum);
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
