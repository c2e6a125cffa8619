//! `trustloop import`: real documents into events — OSV advisories (files, directories, history
//! streams), CSAF 2.0 security advisories, release inventories (lockfiles, CycloneDX and SPDX
//! SBOMs), VEX statements (OpenVEX, CSAF, CycloneDX VEX), CISA's known-exploited catalog and
//! FIRST's EPSS scores. Every bad item is reported with its path and JSON pointer (or line), written
//! to `dlq`, and the import goes on; the summary counts imported, rejected and unsupported items.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use trustloop_connectors::import::cargo_lock::ReleaseRef;
use trustloop_connectors::import::csaf_advisory::{self, UnresolvedProduct};
use trustloop_connectors::import::lockfile::{self, LockKind};
use trustloop_connectors::import::release::{Labels, ReleaseChoice, parse_labels, set_labels};
use trustloop_connectors::import::sbom;
use trustloop_connectors::import::vex;
use trustloop_connectors::import::{ImportError, epss, kev, osv, osv_history};
use trustloop_schemas::json::IngestDefaults;
use trustloop_schemas::{Event, EventTime, EventType, ReleaseInventory};

use crate::cli::OutputArgs;
use trustloop_runtime::backend::{Backend, BackendConfig};
use trustloop_runtime::ingest::{EventWriter, dead_letter};

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
    /// CSAF 2.0 security advisories (and any non-VEX CSAF document with vulnerabilities): files or
    /// directories of them (recursively), one advisory per vulnerability, on the same topic as
    /// `import osv`. A malformed vulnerability is rejected (to `dlq`) and the rest of its document
    /// imported; products that cannot be placed in an OSV ecosystem (a CPE or a name only, no
    /// version, ...) are left out of `affected` and counted by reason (`--json` lists them).
    Csaf {
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Lockfiles and manifests as the inventory of one release: package-lock.json (v1–v3) and
    /// npm-shrinkwrap.json, yarn.lock (v1, berry), pnpm-lock.yaml (v5–v9), bun.lock, poetry.lock,
    /// Pipfile.lock, uv.lock, pdm.lock, requirements.txt (pinned lines, `-r`/`-c` includes), go.mod,
    /// Gemfile.lock, composer.lock, pubspec.lock, mix.lock, gradle.lockfile, packages.lock.json,
    /// Package.resolved, renv.lock, pom.xml and Cargo.lock. A directory is walked and every
    /// lockfile in it is part of the release (a monorepo; `node_modules`, `vendor`, `target` and
    /// version-control folders are not entered). A file's kind is told by its name, else by its
    /// content. What a file lists but does not pin is left out, counted by reason, and kept on the
    /// inventory; a file that cannot be read is rejected (to `dlq`, with its line) and the rest is
    /// imported.
    #[command(visible_alias = "cargo-lock")]
    Lockfile {
        /// Lockfiles, or directories to walk for them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The release they describe, `NAME@VERSION`.
        #[arg(long)]
        release: String,
        /// The environment the release runs in.
        #[arg(long)]
        env: Option<String>,
        /// Read every file as this kind instead of telling it by name and content (`cargo-lock`,
        /// `package-lock`, `yarn-lock`, `pnpm-lock`, `bun-lock`, `poetry-lock`, `pipfile-lock`,
        /// `uv-lock`, `pdm-lock`, `requirements`, `go-mod`, `gemfile-lock`, `composer-lock`,
        /// `pubspec-lock`, `mix-lock`, `gradle-lockfile`, `nuget-lock`, `package-resolved`,
        /// `renv-lock`, `pom-xml`).
        #[arg(long)]
        kind: Option<String>,
        /// A label of the release, `KEY=VALUE` (repeat for more): what policy rules' `labels`
        /// conditions match (`team=payments`, `tier=critical`).
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
    },
    /// SBOMs — CycloneDX JSON (1.2–1.6) or XML, SPDX JSON (2.2, 2.3) or tag-value, SPDX 3.0
    /// JSON-LD, told apart by content — each as the inventory of a release. Directories are walked.
    /// Components whose purl does not parse are rejected (to `dlq`), the rest is imported;
    /// components without a purl, a version or an OSV ecosystem are left out, counted by reason and
    /// kept on the inventory.
    Sbom {
        /// SBOM files, or directories to walk for them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The release it describes, `NAME@VERSION` (one file only); by default each document's own
        /// (CycloneDX `metadata.component`, the package an SPDX document describes).
        #[arg(long)]
        release: Option<String>,
        /// The environment the releases run in.
        #[arg(long)]
        env: Option<String>,
        /// A label of the releases, `KEY=VALUE` (repeat for more): what policy rules' `labels`
        /// conditions match (`team=payments`, `tier=critical`).
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
    },
    /// VEX statements: OpenVEX, CSAF 2.0 (VEX profile, or advisories with product status) and
    /// CycloneDX VEX files, or directories of them (recursively); the format is told per file by its
    /// content, and files that are not VEX documents are counted as unsupported.
    Vex {
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// CISA's Known Exploited Vulnerabilities catalog (`known_exploited_vulnerabilities.json`): one
    /// `KnownExploited` event per CVE it adds, at its `dateAdded`; a CVE listed by an earlier import
    /// that this catalog no longer has is taken back (at the catalog's release time). Findings whose
    /// vulnerability has a listed CVE become known exploited, and the releases they are in are
    /// decided again. A malformed entry is rejected (to `dlq`, with its JSON pointer).
    Kev {
        /// The catalog file.
        file: PathBuf,
    },
    /// FIRST's daily EPSS scores (`epss_scores-YYYY-MM-DD.csv`, or `.csv.gz`): `EpssScores` events
    /// at the file's score date. A malformed line is rejected (to `dlq`, with its line number).
    Epss {
        /// The scores file.
        file: PathBuf,
        /// The score date (`YYYY-MM-DD`), for files that do not state one.
        #[arg(long)]
        date: Option<String>,
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
    /// Per ecosystem, for inventories: components imported and left out (by reason).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub ecosystems: BTreeMap<String, EcosystemCounts>,
    /// For CSAF advisories: the products left out of `affected` (with file, document, reason).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unresolved_products: Vec<UnresolvedProduct>,
}

/// An ecosystem's share of imported inventories.
#[derive(Debug, Default, serde::Serialize)]
pub struct EcosystemCounts {
    /// Components imported.
    pub components: u64,
    /// Components left out, by reason.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub left_out: BTreeMap<String, u64>,
    /// Whether trustloop orders this ecosystem's versions (if not, its components are imported but
    /// no advisory can match them: a blind spot).
    pub ordered: bool,
}

impl ImportSummary {
    /// Counts an inventory's components and left-out entries per ecosystem; `rejected` of the
    /// left-out entries were rejected (and are counted as such), not skipped.
    fn count(&mut self, inventory: &ReleaseInventory, rejected: usize) {
        let ordered = |e: &str| trustloop_operators::versions::Ecosystem::from_osv(e).is_some();
        for c in &inventory.components {
            let e = self.ecosystems.entry(c.ecosystem.clone()).or_default();
            e.components += 1;
            e.ordered = ordered(&c.ecosystem);
        }
        for l in &inventory.left_out {
            let name = l.ecosystem.clone().unwrap_or_else(|| "(none)".into());
            let e = self.ecosystems.entry(name.clone()).or_default();
            *e.left_out.entry(l.reason.clone()).or_default() += 1;
            e.ordered = ordered(&name);
        }
        self.skipped_components += inventory.left_out.len().saturating_sub(rejected) as u64;
    }

    /// The per-ecosystem table, for people.
    fn print_ecosystems(&self) {
        if self.ecosystems.is_empty() {
            return;
        }
        eprintln!("{:<16} {:>10} {:>9}  LEFT OUT BY REASON", "ECOSYSTEM", "COMPONENTS", "LEFT OUT");
        for (name, e) in &self.ecosystems {
            let left: u64 = e.left_out.values().sum();
            let reasons: Vec<String> = e.left_out.iter().map(|(r, n)| format!("{n} × {r}")).collect();
            let note = if e.ordered || e.components == 0 { "" } else { "  (no version ordering: not checked)" };
            eprintln!("{name:<16} {:>10} {left:>9}  {}{note}", e.components, reasons.join(", "));
        }
    }
}

/// Every file under `paths` (directories walked, in name order); a path that does not exist is an
/// error.
fn files_under(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if !p.exists() {
            bail!("{}: no such file or directory", p.display());
        }
        trustloop_connectors::import::walk(p, &mut files)?;
    }
    Ok(files)
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
pub async fn run(backend_args: &BackendConfig, args: ImportArgs) -> Result<ExitCode> {
    let backend = Backend::open(backend_args).await?;
    let defaults = IngestDefaults {
        tenant: Some(args.tenant.clone()),
        source: "import".into(),
        now_micros: trustloop_runtime::clock::now_micros(),
    };
    let topic = match &args.what {
        ImportCommand::Osv { .. } | ImportCommand::Csaf { .. } => EventType::Advisory.topic(),
        ImportCommand::Lockfile { .. } => EventType::ReleaseInventory.topic(),
        ImportCommand::Sbom { .. } => EventType::ReleaseInventory.topic(),
        ImportCommand::Vex { .. } => EventType::VexStatement.topic(),
        ImportCommand::Kev { .. } => EventType::KnownExploited.topic(),
        ImportCommand::Epss { .. } => EventType::EpssScores.topic(),
    };
    let mut sink = Sink {
        events: EventWriter::new(&backend, topic).await?,
        dlq: EventWriter::new(&backend, EventType::DeadLetter.topic()).await?,
        defaults,
        summary: ImportSummary::default(),
    };
    match &args.what {
        ImportCommand::Osv { paths } => {
            let files = files_under(paths)?;
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
        ImportCommand::Csaf { paths } => import_csaf(&mut sink, topic, paths, &args.tenant).await?,
        ImportCommand::Lockfile { paths, release, env, kind, labels } => {
            let labels = parse_labels(labels).map_err(anyhow::Error::msg)?;
            let release = ReleaseRef::parse(release, env.clone()).map_err(anyhow::Error::msg)?;
            import_lockfiles(&mut sink, topic, paths, &release, &labels, kind.as_deref(), &args.tenant).await?
        }
        ImportCommand::Sbom { paths, release, env, labels } => {
            let labels = parse_labels(labels).map_err(anyhow::Error::msg)?;
            import_sboms(&mut sink, topic, paths, release.as_deref(), env.clone(), &labels, &args.tenant).await?
        }
        ImportCommand::Vex { paths } => import_vex(&mut sink, topic, paths, &args.tenant).await?,
        ImportCommand::Kev { file } => import_kev(&backend, &mut sink, topic, file, &args.tenant).await?,
        ImportCommand::Epss { file, date } => {
            import_epss(&mut sink, topic, file, date.as_deref(), &args.tenant).await?
        }
    }
    sink.events.flush().await?;
    sink.dlq.flush().await?;
    let s = &sink.summary;
    if args.output.json {
        println!("{}", serde_json::to_string(s)?);
    } else {
        s.print_ecosystems();
        print_unresolved(&s.unresolved_products);
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

/// `import lockfile`: every lockfile under `paths` as the inventory of one release. A file that
/// cannot be read is rejected (to `dlq`, with its line); what the files list but do not pin is
/// left out and counted by reason.
async fn import_lockfiles(
    sink: &mut Sink<'_>,
    topic: &str,
    paths: &[PathBuf],
    release: &ReleaseRef,
    labels: &Labels,
    kind: Option<&str>,
    tenant: &str,
) -> Result<()> {
    let forced = match kind {
        None => None,
        Some(k) => Some(LockKind::from_name(k).ok_or_else(|| {
            anyhow::anyhow!("--kind {k}: not a lockfile kind (one of {})", LockKind::names().join(", "))
        })?),
    };
    let now = EventTime::from_micros(trustloop_runtime::clock::now_micros());
    let out = match lockfile::import(paths, forced, release, tenant, now) {
        Ok(out) => out,
        Err(e) => bail!("{e}"),
    };
    for f in &out.files {
        eprintln!("{} ({}): {} package(s), {} left out", f.path, f.kind.name(), f.packages, f.left_out);
    }
    for u in &out.unsupported {
        tracing::info!(file = %u, "not a lockfile kind trustloop reads; skipped");
        sink.summary.unsupported += 1;
    }
    for e in &out.errors {
        sink.reject(topic, e).await?;
    }
    let Some(mut inventory) = out.inventory else {
        if out.errors.is_empty() {
            bail!(
                "no lockfile found under {}",
                paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            );
        }
        return Ok(());
    };
    for l in &inventory.left_out {
        tracing::info!(component = %l.component, location = %l.location, reason = %l.reason, "left out of the inventory");
    }
    eprintln!(
        "{}: {} component(s) from {} file(s)",
        inventory.envelope.key,
        inventory.components.len(),
        out.files.len()
    );
    set_labels(&mut inventory, labels);
    sink.summary.count(&inventory, 0);
    sink.accept(Event::ReleaseInventory(inventory)).await
}

/// `import sbom`: every SBOM under `paths`, each as the inventory of a release. Files are parsed on
/// all cores, in order; each component whose purl does not parse is rejected (to `dlq`) and the rest
/// is imported; what was left out is counted by reason.
async fn import_sboms(
    sink: &mut Sink<'_>,
    topic: &str,
    paths: &[PathBuf],
    release: Option<&str>,
    env: Option<String>,
    labels: &Labels,
    tenant: &str,
) -> Result<()> {
    use futures::StreamExt;
    let given = release.map(|r| ReleaseRef::parse(r, env.clone()).map_err(anyhow::Error::msg)).transpose()?;
    let files = files_under(paths)?;
    let choice = match given {
        Some(r) if files.len() > 1 => {
            bail!("--release {}@{} names one release, but {} SBOMs were given", r.name, r.version, files.len())
        }
        Some(r) => ReleaseChoice::Given(r),
        None => ReleaseChoice::FromDocument { environment: env },
    };
    let now = EventTime::from_micros(trustloop_runtime::clock::now_micros());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
    let tenant = tenant.to_string();
    let mut parsed = futures::stream::iter(files)
        .map(|f| {
            let (choice, tenant) = (choice.clone(), tenant.clone());
            tokio::task::spawn_blocking(move || {
                let result = sbom::parse_file(&f, &choice, &tenant, now);
                (f, result)
            })
        })
        .buffered(workers);
    while let Some(joined) = parsed.next().await {
        let (path, result) = joined?;
        let (format, mut inv) = match result {
            Ok(parsed) => parsed,
            Err(e) => {
                sink.reject(topic, &e).await?;
                continue;
            }
        };
        for e in &inv.rejected {
            sink.reject(topic, e).await?;
        }
        let mut reasons = BTreeMap::<String, usize>::new();
        for s in &inv.skipped {
            tracing::debug!(component = %s.component, pointer = %s.pointer, reason = %s.reason, "left out of the inventory");
            *reasons.entry(s.reason.to_string()).or_default() += 1;
        }
        let os = inv.inventory.os.as_ref().map(|os| match &os.release {
            Some(r) => format!(" on {} {r}", os.distribution),
            None => format!(" on {}", os.distribution),
        });
        eprintln!(
            "{format} {}: {}{} with {} component(s){}{}",
            path.display(),
            inv.inventory.envelope.key,
            os.unwrap_or_default(),
            inv.inventory.components.len(),
            if inv.duplicates > 0 { format!(" ({} duplicate entries merged)", inv.duplicates) } else { String::new() },
            if reasons.is_empty() {
                String::new()
            } else {
                let by_reason: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} × {r}")).collect();
                format!("; left out {}: {}", inv.skipped.len(), by_reason.join(", "))
            }
        );
        set_labels(&mut inv.inventory, labels);
        sink.summary.count(&inv.inventory, inv.rejected.len());
        sink.accept(Event::ReleaseInventory(inv.inventory)).await?;
    }
    Ok(())
}

/// `import kev`: the catalog's new listings and the removals of what it no longer lists (the
/// tenant's listings so far are read from the topic).
async fn import_kev(backend: &Backend, sink: &mut Sink<'_>, topic: &str, file: &Path, tenant: &str) -> Result<()> {
    let text = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let before = backend.known_exploited(tenant).await?;
    let listed = kev::listed_after(&before);
    let newest = kev::newest_version(&before);
    match kev::import(&text, &file.display().to_string(), tenant, &listed, newest.as_deref()) {
        Ok(catalog) => {
            tracing::info!(version = %catalog.version, entries = catalog.entries, "KEV catalog");
            for e in &catalog.rejected {
                sink.reject(topic, e).await?;
            }
            for e in catalog.events {
                sink.accept(Event::KnownExploited(e)).await?;
            }
        }
        Err(e) => sink.reject(topic, &e).await?,
    }
    Ok(())
}

/// `import epss`: one day's scores, in parts.
async fn import_epss(sink: &mut Sink<'_>, topic: &str, file: &Path, date: Option<&str>, tenant: &str) -> Result<()> {
    match epss::read_file(file, tenant, date) {
        Ok(day) => {
            tracing::info!(date = %day.score_date, scores = day.scores, parts = day.events.len(), "EPSS scores");
            for e in &day.rejected {
                sink.reject(topic, e).await?;
            }
            for e in day.events {
                sink.accept(Event::EpssScores(e)).await?;
            }
        }
        Err(e) => sink.reject(topic, &e).await?,
    }
    Ok(())
}

/// `import vex`: every file under `paths`; a VEX document's statements are imported, a malformed one
/// is rejected (to `dlq`, with path and JSON pointer) and the import goes on, a file that is not a
/// VEX document is counted as unsupported.
async fn import_vex(sink: &mut Sink<'_>, topic: &str, paths: &[PathBuf], tenant: &str) -> Result<()> {
    let files = files_under(paths)?;
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

/// `import csaf`: every file under `paths`; a CSAF advisory's vulnerabilities are imported as
/// advisories and its rejected parts written to `dlq`, a document that cannot be read is rejected as
/// a whole, a file that is not a CSAF advisory is counted as unsupported.
async fn import_csaf(sink: &mut Sink<'_>, topic: &str, paths: &[PathBuf], tenant: &str) -> Result<()> {
    let files = files_under(paths)?;
    for f in files {
        match csaf_advisory::read_file(&f, tenant) {
            Ok(Some(doc)) => {
                tracing::debug!(file = %f.display(), advisories = doc.advisories.len(), "CSAF advisory");
                for a in doc.advisories {
                    sink.accept(Event::Advisory(a)).await?;
                }
                for e in &doc.rejected {
                    sink.reject(topic, e).await?;
                }
                sink.summary.unresolved_products.extend(doc.unresolved);
            }
            Ok(None) => {
                tracing::debug!(file = %f.display(), "not a CSAF advisory; skipped");
                sink.summary.unsupported += 1;
            }
            Err(e) => sink.reject(topic, &e).await?,
        }
    }
    Ok(())
}

/// The CSAF products left out of `affected`, counted by reason, for people.
fn print_unresolved(unresolved: &[UnresolvedProduct]) {
    if unresolved.is_empty() {
        return;
    }
    let reasons: Vec<String> =
        csaf_advisory::count_by_reason(unresolved).iter().map(|(r, n)| format!("{n} × {r}")).collect();
    eprintln!(
        "{} product(s) not placed in an OSV ecosystem, left out of `affected` (--json lists them): {}",
        unresolved.len(),
        reasons.join(", ")
    );
}
