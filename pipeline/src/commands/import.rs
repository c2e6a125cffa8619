//! `trustloop import`: real documents into events — OSV advisories (files, directories, history
//! streams) and `Cargo.lock` release inventories. Every bad item is reported with its path and JSON
//! pointer, written to `dlq`, and the import goes on; the summary counts imported, rejected and
//! unsupported items.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use trustloop_connectors::import::cargo_lock::{self, ReleaseRef};
use trustloop_connectors::import::{ImportError, osv, osv_history};
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
    /// Packages left out of an inventory (not from the package registry).
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
                format!("; {} non-registry package(s) left out", s.skipped_components)
            } else {
                String::new()
            }
        );
    }
    Ok(if s.rejected == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
