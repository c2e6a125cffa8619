//! `trustloop policy`: check a policy file, apply it (publish it on `policies` as the next version of
//! its name), or print the built-in default policy — the documented reference of the format.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use trustloop_operators::policy::{self, PolicyDoc, PolicyError};

use super::versioned::{self, Document, DocumentKind};
use crate::cli::OutputArgs;
use trustloop_runtime::backend::BackendConfig;

/// Arguments of `trustloop policy`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// What to do.
    #[command(subcommand)]
    pub what: PolicyCommand,
}

/// The policy commands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Parse and validate a policy file and print its digest. Each problem is printed as
    /// `FILE:LINE:COLUMN: key.path: message`; the exit status is then 1.
    Check {
        /// The policy (YAML).
        file: PathBuf,
        /// Output format.
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Publish a policy file on `policies` as the next version of its name (for the tenant). An
    /// invalid policy is refused (exit status 1, nothing published); a policy identical to the latest
    /// version (same digest) is not published again.
    Apply {
        /// The policy (YAML).
        file: PathBuf,
        /// Tenant the policy is for.
        #[arg(long, env = "TRUSTLOOP_TENANT", default_value = "default")]
        tenant: String,
        /// Output format.
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Print the built-in default policy: in force until a policy is applied, and commented field by
    /// field (start your own from it).
    Default,
}

/// Runs a policy command.
pub async fn run(backend_args: &BackendConfig, args: PolicyArgs) -> Result<ExitCode> {
    match args.what {
        PolicyCommand::Check { file, output } => {
            let Some((_, doc)) = load(&file)? else { return Ok(ExitCode::FAILURE) };
            let digest = doc.digest();
            if output.json {
                println!(
                    "{}",
                    serde_json::json!({"file": file.display().to_string(), "name": doc.name, "digest": digest})
                );
            } else {
                println!("{}: ok: policy {}, digest {digest}", file.display(), doc.name);
            }
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Apply { file, tenant, output } => {
            let Some((text, doc)) = load(&file)? else { return Ok(ExitCode::FAILURE) };
            let doc = Document { name: &doc.name, digest: doc.digest(), text };
            versioned::publish(backend_args, DocumentKind::Policy, &tenant, doc, output.json).await
        }
        PolicyCommand::Default => {
            print!("{}", policy::DEFAULT_YAML);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Reads and validates a policy file; prints every problem as `FILE:LINE:COLUMN: ...` and returns
/// `None` when there are any.
fn load(file: &Path) -> Result<Option<(String, PolicyDoc)>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    match policy::check(&text) {
        Ok(doc) => Ok(Some((text, doc))),
        Err(errors) => {
            for e in &errors {
                eprintln!("{}", located(file, e));
            }
            eprintln!("{}: {} problem(s); the policy is not valid", file.display(), errors.len());
            Ok(None)
        }
    }
}

/// `FILE:LINE:COLUMN: path: message` (or `FILE: path: message` when the position is unknown).
fn located(file: &Path, e: &PolicyError) -> String {
    format!("{}:{e}", file.display())
}
