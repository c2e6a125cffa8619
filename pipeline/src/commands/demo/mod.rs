//! `trustloop demo`: the whole closed loop on the embedded log, in `--data DIR`.
//!
//! collect → a fleet of hosts sends telemetry through the same ingestion path as `trustloop
//! produce` (malformed lines end in `dlq`); real advisories (a RustSec stream), real release
//! inventories (two Cargo.lock files, a CycloneDX SBOM), VEX from two issuers that disagree, a
//! policy, approvals and promotion requests are appended as events;
//! analyze → the impact operator turns advisories × inventories × VEX into findings, the trust
//! operator telemetry × findings into trust scores;
//! decide → the decision operator gates the promotions and applies the trust rules;
//! enforce → the enforcement operator runs each action through its lifecycle (budgets, sandbox
//! first), and the command adapters apply them — a real firewall-rules file in `DIR/enforcement/`.
//!
//! Everything has fixed event times and derived ids, so two runs derive identical events; `consume`,
//! `findings` and the other commands can inspect what it wrote.

mod fleet;
mod scenario;
mod summary;

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use trustloop_connectors::enforce::config::{AdapterConfig, AdapterContext, EnforcementConfig};
use trustloop_connectors::enforce::{Dispatcher, command::CommandConfig};
use trustloop_schemas::json::IngestDefaults;
use trustloop_schemas::{ActionKind, Event, EventTime, EventType};

use crate::cli::OutputArgs;
use trustloop_runtime::backend::{Backend, BackendConfig};
use trustloop_runtime::dispatch::Dispatch;
use trustloop_runtime::graph;
use trustloop_runtime::ingest::{EventWriter, IngestReport, ingest_lines};
use trustloop_runtime::stage::{Effect, run_until_idle};

/// Arguments of `trustloop demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Hosts in the simulated fleet.
    #[arg(long, default_value_t = 300)]
    pub entities: u32,
    /// Seed of the fleet simulation (same seed, same events, same event ids).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[command(flatten)]
    output: OutputArgs,
}

/// Marks a data directory as the demo's, so a later run may replace it.
const MARKER: &str = ".trustloop-demo";

/// The firewall program of the command adapter (`deploy/enforcement/firewall.sh`).
const FIREWALL_SH: &str = include_str!("../../../../deploy/enforcement/firewall.sh");

/// Starts the demo in an empty directory: a previous demo's directory is replaced, anything else
/// is refused.
fn prepare_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?.next().is_none();
        if !empty {
            if !dir.join(MARKER).exists() {
                bail!(
                    "{} holds data that is not a previous demo's: give the demo an empty or new directory with --data",
                    dir.display()
                );
            }
            std::fs::remove_dir_all(dir).with_context(|| format!("removing the previous demo in {}", dir.display()))?;
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join(MARKER), "written by `trustloop demo`; the next demo run replaces this directory\n")?;
    Ok(())
}

/// The demo's enforcement configuration: isolate/quarantine through the firewall program (written
/// to `DIR/enforcement/firewall.sh`, keeping a rules file there), promotions and notifications to a
/// release-controller log there. The same table a `trustloop run --config` file would hold.
pub fn enforcement_config(dir: &Path) -> Result<EnforcementConfig> {
    let enforcement = dir.join("enforcement");
    std::fs::create_dir_all(&enforcement)?;
    let program = enforcement.join("firewall.sh");
    std::fs::write(&program, FIREWALL_SH)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755))?;
    }
    let mut firewall = CommandConfig::new(program.display().to_string(), Vec::new());
    firewall.env.insert("TRUSTLOOP_FIREWALL_RULES".into(), enforcement.join("firewall.rules").display().to_string());
    let mut controller = CommandConfig::new(
        "sh",
        vec![
            "-c".into(),
            r#"cat >> "$CONTROLLER_LOG" && echo >> "$CONTROLLER_LOG" && echo '{"verified": true}'"#.into(),
        ],
    );
    controller.env.insert("CONTROLLER_LOG".into(), enforcement.join("release-controller.jsonl").display().to_string());
    Ok(EnforcementConfig {
        adapters: [
            ("firewall".to_string(), AdapterConfig::Command(firewall)),
            ("release-controller".to_string(), AdapterConfig::Command(controller)),
        ]
        .into(),
        routes: [
            ("firewall".to_string(), vec![ActionKind::Isolate, ActionKind::Quarantine, ActionKind::LiftQuarantine]),
            (
                "release-controller".to_string(),
                vec![ActionKind::Promote, ActionKind::BlockPromotion, ActionKind::Notify],
            ),
        ]
        .into(),
        default_adapter: None,
    })
}

/// The adapters of [`enforcement_config`].
fn adapters(dir: &Path, backend: &Backend) -> Result<Dispatcher> {
    let config = enforcement_config(dir)?;
    let context = AdapterContext { log: Some(backend.log.clone()), codec: backend.codec.clone() };
    Dispatcher::from_config(&config, &context).map_err(|e| anyhow::anyhow!("demo adapters: {e}"))
}

/// What the demo appends before any operator runs — public so that a test can append the same
/// inputs in parts, with `trustloop run` in between.
pub struct DemoInputs {
    /// The policy, the advisory stream, the inventories, the VEX documents, approvals and promotion
    /// requests: the events of each document or decision (one topic each), in arrival order.
    pub documents: Vec<Vec<Event>>,
    fleet: fleet::Fleet,
    defaults: IngestDefaults,
}

impl DemoInputs {
    /// The inputs of a fleet of `entities` hosts simulated with `seed`.
    pub fn build(entities: u32, seed: u64) -> Result<DemoInputs> {
        let t0 = EventTime::parse_rfc3339("2026-11-01T00:00:00Z").map_err(anyhow::Error::msg)?;
        let scenario = scenario::build(t0)?;
        let fleet = fleet::telemetry(entities, seed, t0.as_micros() / 1_000_000, &scenario.releases);
        let defaults = IngestDefaults { tenant: None, source: "demo".into(), now_micros: t0.as_micros() };
        Ok(DemoInputs { documents: scenario.documents, fleet, defaults })
    }

    /// The fleet's telemetry: JSON lines in event-time order, the malformed ones last.
    pub fn telemetry(&self) -> &str {
        &self.fleet.lines
    }

    /// Appends `documents` (some of [`DemoInputs::documents`]), one after the other, each with one
    /// writer per run of same-topic events; returns how many events were appended.
    ///
    /// A writer partitions its events by key, and nothing orders records of different partitions
    /// but their log times — milliseconds, ties broken by topic and partition, not by when they were
    /// appended. So each document is appended in a later millisecond than the one before (and
    /// anything appended after this returns in a later one still): the operators see the documents
    /// in arrival order however fast the log is and however many partitions it has (two VEX
    /// documents naming one vulnerability by different aliases are keyed, and partitioned, apart).
    pub async fn append_documents(backend: &Backend, documents: &[Vec<Event>]) -> Result<u64> {
        let mut appended = 0u64;
        for document in documents {
            for run in document.chunk_by(|a, b| a.event_type() == b.event_type()) {
                let mut writer = EventWriter::new(backend, run[0].event_type().topic()).await?;
                for e in run {
                    writer.push(e).await?;
                }
                appended += writer.flush().await?;
            }
            next_millisecond().await;
        }
        Ok(appended)
    }

    /// Ingests telemetry `lines` (a part of [`DemoInputs::telemetry`]) as `trustloop produce` would,
    /// with the demo's defaults: bad lines go to `dlq`, numbered from 1 within `lines`.
    pub async fn append_telemetry(&self, backend: &Backend, lines: &str) -> Result<IngestReport> {
        let topic = EventType::Telemetry.topic();
        Ok(ingest_lines(backend, topic, EventType::Telemetry, lines.as_bytes(), &self.defaults).await?)
    }
}

/// Returns once the wall clock is in a later millisecond than when called.
async fn next_millisecond() {
    let ms = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let start = ms();
    while ms() <= start {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// Runs the demo and prints its summary.
pub async fn run(backend_args: &BackendConfig, args: DemoArgs) -> Result<ExitCode> {
    if backend_args.brokers.is_some() {
        bail!("the demo runs on the embedded log: drop --brokers");
    }
    let started = Instant::now();
    prepare_dir(&backend_args.data)?;
    let backend = Backend::open(backend_args).await?;

    // Collect: documents and decisions, then the fleet's telemetry. Appended one document at a time,
    // as they would arrive: the policy, the advisory stream, the inventories, VEX, approvals,
    // promotions.
    let inputs = DemoInputs::build(args.entities, args.seed)?;
    let mut events_in = DemoInputs::append_documents(&backend, &inputs.documents).await?;
    let report = inputs.append_telemetry(&backend, inputs.telemetry()).await?;
    events_in += report.lines;
    let collected = started.elapsed();

    // Analyze, decide, enforce: run every operator and the adapters until the loop settles.
    let mut stages = graph::stages(&backend).await?;
    let mut effects: Vec<Box<dyn Effect>> = vec![Box::new(Dispatch::new(adapters(&backend_args.data, &backend)?))];
    let run = run_until_idle(&backend, &mut stages, &mut effects, 100).await?;
    let elapsed = started.elapsed();

    let s = summary::collect(&backend, &backend_args.data, events_in, &report, &inputs.fleet, &run, collected, elapsed)
        .await?;
    let consistent = s.consistent();
    if args.output.json {
        println!("{}", serde_json::to_string_pretty(&s.to_json())?);
    } else {
        s.print(&backend_args.data);
    }
    Ok(if consistent { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
