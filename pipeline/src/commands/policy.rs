//! `trustloop policy`: check a policy file, apply it (publish it on `policies` as the next version of
//! its name), or print the built-in default policy — the documented reference of the format.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use trustloop_connectors::log::PartitionReader;
use trustloop_operators::policy::{self, PolicyDoc, PolicyError};
use trustloop_schemas::{Envelope, Event, EventTime, EventType, Policy, derive_event_id};

use crate::cli::OutputArgs;
use trustloop_runtime::backend::{Backend, BackendConfig};
use trustloop_runtime::ingest::EventWriter;

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
            apply(backend_args, &tenant, text, &doc, output.json).await
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

/// The newest version of policy `name` for `tenant` on `policies`: (version, digest).
async fn latest(backend: &Backend, tenant: &str, name: &str) -> Result<Option<(i64, String)>> {
    let topic = EventType::Policy.topic();
    let mut best: Option<(i64, String)> = None;
    for (p, o) in backend.log.offsets(topic).await?.iter().enumerate() {
        let mut reader = PartitionReader::new(topic, p as u32, o.start).until(o.end);
        while let Some(records) = reader.next(&*backend.log).await? {
            for r in &records {
                match backend.codec.decode(&r.value, &*backend.registry) {
                    Ok(Event::Policy(pol)) if &*pol.envelope.tenant == tenant && pol.name == name => {
                        if best.as_ref().is_none_or(|(v, _)| pol.version > *v) {
                            best = Some((pol.version, pol.digest));
                        }
                    }
                    Ok(_) => {}
                    Err(e) => eprintln!("{topic}/{p}@{}: undecodable, skipped: {e}", r.offset),
                }
            }
        }
    }
    Ok(best)
}

async fn apply(
    backend_args: &BackendConfig,
    tenant: &str,
    text: String,
    doc: &PolicyDoc,
    json: bool,
) -> Result<ExitCode> {
    let backend = Backend::open(backend_args).await?;
    let digest = doc.digest();
    let previous = latest(&backend, tenant, &doc.name).await?;
    if let Some((v, d)) = &previous
        && *d == digest
    {
        if json {
            println!(
                "{}",
                serde_json::json!({"tenant": tenant, "name": doc.name, "version": v, "digest": digest, "published": false})
            );
        } else {
            eprintln!("policy {} version {v} already has digest {digest}: nothing published", doc.name);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let version = previous.map_or(1, |(v, _)| v + 1);
    let event_id =
        derive_event_id("policy", &[tenant.as_bytes(), doc.name.as_bytes(), &version.to_be_bytes(), digest.as_bytes()]);
    let event = Event::Policy(Policy {
        envelope: Envelope {
            event_id,
            tenant: tenant.into(),
            key: doc.name.as_str().into(),
            // When it was applied (ingest time, as for every ingested event); decisions use the
            // order of policies in the log and the event times of what they decide about.
            event_time: EventTime::from_micros(trustloop_runtime::clock::now_micros()),
            source: "trustloop policy apply".into(),
            schema_version: EventType::Policy.schema_version(),
        },
        name: doc.name.clone(),
        version,
        digest: digest.clone(),
        format: "yaml".into(),
        document: text,
    });
    let mut writer = EventWriter::new(&backend, EventType::Policy.topic()).await?;
    writer.push(&event).await?;
    writer.flush().await?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "tenant": tenant, "name": doc.name, "version": version, "digest": digest,
                "event_id": event_id.to_string(), "published": true,
            })
        );
    } else {
        eprintln!("applied policy {} version {version} for tenant {tenant}: digest {digest}", doc.name);
    }
    Ok(ExitCode::SUCCESS)
}
