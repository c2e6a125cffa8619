//! `trustloop import`: real documents into events — OSV advisories (files, directories, history
//! streams), release inventories (`Cargo.lock`, CycloneDX and SPDX SBOMs) and VEX statements
//! (OpenVEX, CSAF, CycloneDX VEX). Every bad item is reported with its path and JSON pointer, written
//! to `dlq`, and the import goes on; the summary counts imported, rejected and unsupported items.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use trustloop_connectors::import::cargo_lock::{self, ReleaseRef};
use trustloop_connectors::import::vex;
use trustloop_connectors::import::{ImportError, osv, osv_history};
use trustloop_connectors::import::{release::ReleaseChoice, sbom};
use trustloop_schemas::json::IngestDefaults;
use trustloop_schemas::{Event, EventTime, EventType};

use crate::backend::{Backend, BackendArgs};
use crate::cli::OutputArgs;
use crate::ingest::{EventWriter, dead_letter};

/// Arguments of `trustloop import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// What to import.
    #[command(subcommand)]
    pub what: ImportCommand,
    /// Tenant the imported events belong to.
    #[arg(long, global = true, env = "TRUSTLOOP_TENANT", default_value = "default")]
    pub tenant: String,
    #[command(flatten)]
    output: OutputArgs,
}

/// The importers.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// OSV advisories: `.json`/`.yaml` files, directories of them (recursively), and ordered history
    /// streams (`.jsonl`, `.jsonl.gz`: upserts and deletes in commit order).
    Osv {
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// A `Cargo.lock` as the inventory of a release.
    CargoLock {
        /// The `Cargo.lock` file.
        path: PathBuf,
        /// The release it describes, `NAME@VERSION`.
        #[arg(long)]
        release: String,
        /// The environment the release runs in.
        #[arg(long)]
        env: Option<String>,
    },
    /// An SBOM — CycloneDX JSON (1.2–1.6) or SPDX JSON (2.2, 2.3), told apart by content — as the
    /// inventory of a release. Components whose purl does not parse are rejected (to `dlq`), the rest
    /// is imported; components without a purl, a version or an OSV ecosystem are left out and counted.
    Sbom {
        /// The SBOM file.
        path: PathBuf,
        /// The release it describes, `NAME@VERSION`; by default the document's own (CycloneDX
        /// `metadata.component`, the package an SPDX document describes).
        #[arg(long)]
        release: Option<String>,
        /// The environment the release runs in.
        #[arg(long)]
        env: Option<String>,
    },
    /// VEX statements: OpenVEX, CSAF 2.0 (VEX profile, or advisories with product status) and
    /// CycloneDX VEX files, or directories of them (recursively); the format is told per file by its
    /// content, and files that are not VEX documents are counted as unsupported.
    Vex {
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

/// What an import did.
#[derive(Debug, Default, serde::Serialize)]
pub struct ImportSummary {
    /// Events appended.
    pub imported: u64,
    /// Items rejected (each on `dlq`).
    pub rejected: u64,
    /// Files skipped because they are not of a supported kind.
    pub unsupported: u64,
    /// Components left out of an inventory (no registry identity: a path or git dependency, no purl,
    /// no version, or an ecosystem OSV does not cover).
    pub skipped_components: u64,
}

fn walk(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for e in entries {
            walk(&e, out)?;
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

struct Sink<'a> {
    events: EventWriter<'a>,
    dlq: EventWriter<'a>,
    defaults: IngestDefaults,
    summary: ImportSummary,
}

impl Sink<'_> {
    async fn accept(&mut self, event: Event) -> Result<()> {
        self.events.push(&event).await?;
        self.summary.imported += 1;
        Ok(())
    }

    async fn reject(&mut self, topic: &str, e: &ImportError) -> Result<()> {
        eprintln!("rejected: {e}");
        let raw = format!("{}#{}", e.path, e.pointer);
        self.dlq.push(&dead_letter(topic, None, &raw, "invalid_document", &e.to_string(), &self.defaults)).await?;
        self.summary.rejected += 1;
        Ok(())
    }
}

/// Runs an import.
pub async fn run(backend_args: &BackendArgs, args: ImportArgs) -> Result<ExitCode> {
    let backend = Backend::open(backend_args).await?;
    let defaults =
        IngestDefaults { tenant: Some(args.tenant.clone()), source: "import".into(), now_micros: super::now_micros() };
    let topic = match &args.what {
        ImportCommand::Osv { .. } => EventType::Advisory.topic(),
        ImportCommand::CargoLock { .. } => EventType::ReleaseInventory.topic(),
        ImportCommand::Sbom { .. } => EventType::ReleaseInventory.topic(),
        ImportCommand::Vex { .. } => EventType::VexStatement.topic(),
    };
    let mut sink = Sink {
        events: EventWriter::new(&backend, topic).await?,
        dlq: EventWriter::new(&backend, EventType::DeadLetter.topic()).await?,
        defaults,
        summary: ImportSummary::default(),
    };
    match &args.what {
        ImportCommand::Osv { paths } => {
            let mut files = Vec::new();
            for p in paths {
                if !p.exists() {
                    bail!("{}: no such file or directory", p.display());
                }
                walk(p, &mut files)?;
            }
            for f in files {
                let name = f.display().to_string();
                if name.ends_with(".jsonl") || name.ends_with(".jsonl.gz") {
                    match osv_history::read(&f, &args.tenant) {
                        Ok(items) => {
                            for item in items {
                                match item {
                                    Ok(a) => sink.accept(Event::Advisory(a)).await?,
                                    Err(e) => sink.reject(topic, &e).await?,
                                }
                            }
                        }
                        Err(e) => sink.reject(topic, &e).await?,
                    }
                } else if osv::Format::of(&f).is_some() {
                    match osv::parse_file(&f, &args.tenant) {
                        Ok(a) => sink.accept(Event::Advisory(a)).await?,
                        Err(e) => sink.reject(topic, &e).await?,
                    }
                } else {
                    tracing::debug!(file = %name, "not an OSV document; skipped");
                    sink.summary.unsupported += 1;
                }
            }
        }
        ImportCommand::CargoLock { path, release, env } => {
            let release = ReleaseRef::parse(release, env.clone()).map_err(anyhow::Error::msg)?;
            let now = EventTime::from_micros(super::now_micros());
            match cargo_lock::parse_file(path, &release, &args.tenant, now) {
                Ok(inv) => {
                    sink.summary.skipped_components += inv.skipped.len() as u64;
                    sink.accept(Event::ReleaseInventory(inv.inventory)).await?;
                }
                Err(e) => sink.reject(topic, &e).await?,
            }
        }
        ImportCommand::Sbom { path, release, env } => {
            import_sbom(&mut sink, topic, path, release.as_deref(), env.clone(), &args.tenant).await?
        }
        ImportCommand::Vex { paths } => import_vex(&mut sink, topic, paths, &args.tenant).await?,
    }
    sink.events.flush().await?;
    sink.dlq.flush().await?;
    let s = &sink.summary;
    if args.output.json {
        println!("{}", serde_json::to_string(s)?);
    } else {
        eprintln!(
            "imported {} event(s) to {topic}; rejected {} (written to dlq); unsupported {}{}",
            s.imported,
            s.rejected,
            s.unsupported,
            if s.skipped_components > 0 {
                format!("; {} component(s) without a registry identity left out", s.skipped_components)
            } else {
                String::new()
            }
        );
    }
    Ok(if s.rejected == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `import sbom`: one CycloneDX or SPDX document as the inventory of a release. Each component whose
/// purl does not parse is rejected (to `dlq`) and the rest is imported; what was left out is counted
/// and summed up by reason (each one is logged at `info`).
async fn import_sbom(
    sink: &mut Sink<'_>,
    topic: &str,
    path: &Path,
    release: Option<&str>,
    env: Option<String>,
    tenant: &str,
) -> Result<()> {
    let choice = match release {
        Some(r) => ReleaseChoice::Given(ReleaseRef::parse(r, env).map_err(anyhow::Error::msg)?),
        None => ReleaseChoice::FromDocument { environment: env },
    };
    let now = EventTime::from_micros(super::now_micros());
    let (format, inv) = match sbom::parse_file(path, &choice, tenant, now) {
        Ok(parsed) => parsed,
        Err(e) => return sink.reject(topic, &e).await,
    };
    for e in &inv.rejected {
        sink.reject(topic, e).await?;
    }
    let mut reasons = std::collections::BTreeMap::<String, usize>::new();
    for s in &inv.skipped {
        tracing::info!(component = %s.component, pointer = %s.pointer, reason = %s.reason, "left out of the inventory");
        *reasons.entry(s.reason.to_string()).or_default() += 1;
    }
    eprintln!(
        "{format} {}: {} with {} component(s){}{}",
        path.display(),
        inv.inventory.envelope.key,
        inv.inventory.components.len(),
        if inv.duplicates > 0 { format!(" ({} duplicate entries merged)", inv.duplicates) } else { String::new() },
        if reasons.is_empty() {
            String::new()
        } else {
            let by_reason: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} × {r}")).collect();
            format!("; left out {}: {}", inv.skipped.len(), by_reason.join(", "))
        }
    );
    sink.summary.skipped_components += inv.skipped.len() as u64;
    sink.accept(Event::ReleaseInventory(inv.inventory)).await
}

/// `import vex`: every file under `paths`; a VEX document's statements are imported, a malformed one
/// is rejected (to `dlq`, with path and JSON pointer) and the import goes on, a file that is not a
/// VEX document is counted as unsupported.
async fn import_vex(sink: &mut Sink<'_>, topic: &str, paths: &[PathBuf], tenant: &str) -> Result<()> {
    let mut files = Vec::new();
    for p in paths {
        if !p.exists() {
            bail!("{}: no such file or directory", p.display());
        }
        walk(p, &mut files)?;
    }
    for f in files {
        match vex::read_file(&f, tenant) {
            Ok(Some(statements)) => {
                tracing::debug!(file = %f.display(), statements = statements.len(), "VEX document");
                for s in statements {
                    sink.accept(Event::VexStatement(s)).await?;
                }
            }
            Ok(None) => {
                tracing::debug!(file = %f.display(), "not a VEX document; skipped");
                sink.summary.unsupported += 1;
            }
            Err(e) => sink.reject(topic, &e).await?,
        }
    }
    Ok(())
}
