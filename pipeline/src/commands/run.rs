//! `trustloop run`: the long-running service — reads the input topics, runs the operator graph
//! (impact, trust, decision, enforcement), writes the derived topics and drives the enforcement
//! adapters. `--until-idle` processes everything in the log and exits. `--listen ADDR` serves the
//! operations endpoints (`/healthz`, `/readyz`, `/metrics`) while it runs.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use serde::Deserialize;
use tokio::sync::{oneshot, watch};
use trustloop_connectors::enforce::Dispatcher;
use trustloop_connectors::enforce::config::{AdapterContext, EnforcementConfig};

use crate::backend::{Backend, BackendArgs, kafka_config};
use crate::cli::OutputArgs;
use crate::ops::Ops;
use crate::ops::server::Server;
use crate::runtime::dispatch::Dispatch;
use crate::runtime::graph::Layout;
use crate::runtime::snapshot::SnapshotStore;
use crate::runtime::{Effect, PassDone, PassLimits, Stage, graph, run_until_idle_observed};
use trustloop_connectors::log::LogError;
use trustloop_connectors::log::membership::{Change, Membership};
use trustloop_schemas::EventType;

/// The consumer group of `trustloop run --scale-out` processes.
pub const MEMBERS_GROUP: &str = "trustloop.members";

/// How long the operations endpoints get to finish open requests when the service stops.
const HTTP_GRACE: Duration = Duration::from_secs(5);

/// Arguments of `trustloop run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Configuration file (TOML): the enforcement adapters and their routes (see `RunConfig`).
    #[arg(long, env = "TRUSTLOOP_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Process everything in the log, let the loop settle, then exit.
    #[arg(long)]
    pub until_idle: bool,
    /// How often to look for new input when idle, in milliseconds.
    #[arg(long, env = "TRUSTLOOP_POLL_MS", default_value_t = 500)]
    pub poll_ms: u64,
    /// Most passes over the operators before a run that never settles is stopped (passes that stop
    /// at `--pass-limit` in a backlog do not count).
    #[arg(long, default_value_t = 1_000)]
    pub max_passes: u32,
    /// Records a pass reads at most from one input partition, roughly: a backlog is worked through
    /// in passes that each commit (and end their transaction, with `--transactions`). Every stage
    /// of a pass stops at the same place in the merge order, so what is derived does not depend on
    /// it. 0: a pass reads everything there is.
    #[arg(long, env = "TRUSTLOOP_PASS_LIMIT", default_value_t = crate::runtime::DEFAULT_PASS_LIMIT)]
    pub pass_limit: u64,
    /// Kafka only: write each operator's outputs and commit its input offsets in one Kafka
    /// transaction per pass (`transactional.id` = the stage's consumer group, `trustloop.<operator>`
    /// or `trustloop.<operator>.task-<p>`; consumers read `read_committed`), the Kafka Streams way. Needs a broker with transactions (Tansu 0.6 has
    /// none). Without it, exactly-once holds through event ids and de-duplication (see the README).
    #[arg(long, env = "TRUSTLOOP_TRANSACTIONS")]
    pub transactions: bool,
    /// Where operator state is checkpointed (a cache: the log can always rebuild it). Default: the
    /// embedded log's `snapshots/` directory; with Kafka, no snapshots unless this is given.
    #[arg(long, env = "TRUSTLOOP_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Seconds between snapshots of a busy operator (one is also taken when the run stops or
    /// settles with `--until-idle`). 0 snapshots after every pass that applied input.
    #[arg(long, env = "TRUSTLOOP_SNAPSHOT_INTERVAL_SECS", default_value_t = 60, value_name = "SECS")]
    pub snapshot_interval_secs: u64,
    /// Take and restore no snapshots: restart by replaying the whole log.
    #[arg(long, env = "TRUSTLOOP_NO_SNAPSHOTS")]
    pub no_snapshots: bool,
    /// Run one task per partition (as Kafka Streams does): each operator that splits by key runs one
    /// instance per partition number, reading that partition of its keyed inputs and all of the
    /// others, with its own consumer group, snapshots and outputs — the same whichever process runs
    /// it. Needs every keyed topic (telemetry, inventory, findings, promotions, trust-scores) to have
    /// the same partition count. Implied by `--scale-out`.
    #[arg(long, env = "TRUSTLOOP_TASK_PER_PARTITION")]
    pub task_per_partition: bool,
    /// Kafka only: share the tasks with the other `trustloop run --scale-out` processes on the same
    /// brokers. They form the consumer group `trustloop.members` (on the `telemetry` topic's
    /// partitions); each runs the tasks of the partitions it is assigned, the singleton operators
    /// (enforcement) and the adapters run where partition 0 is. When a process joins, leaves or dies
    /// (after `session.timeout.ms`, settable with `-X`), the partitions are shared out again and
    /// their tasks restart from the tasks' committed offsets (and snapshots, where the state
    /// directory has them).
    #[arg(long, env = "TRUSTLOOP_SCALE_OUT")]
    pub scale_out: bool,
    /// Serve `GET /healthz`, `/readyz` and `/metrics` (Prometheus text format) over HTTP on this
    /// address (`HOST:PORT`; port 0 picks a free port). The bound address is printed on stderr.
    #[arg(long, env = "TRUSTLOOP_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Serve the HTTP gateway (what `trustloop serve` serves: event ingestion, SQL, verdicts,
    /// replays, schemas) on the `--listen` address too.
    #[arg(long, requires = "listen")]
    pub gateway: bool,
    /// The gateway's limits and options (with `--gateway`).
    #[command(flatten)]
    pub gateway_options: crate::gateway::GatewayArgs,
    /// Lock the process's memory (`mlockall`) before starting, so that no page fault lands inside
    /// an event's processing: for latency targets on hosts where a fault is slow (virtual machines
    /// whose host reclaims freed memory; see the README). Resident memory grows to what the
    /// allocator has reserved. Needs an unlimited RLIMIT_MEMLOCK or CAP_IPC_LOCK; otherwise the run
    /// does not start (under a finite limit, allocations would fail once the state outgrows it).
    #[arg(long, env = "TRUSTLOOP_LOCK_MEMORY")]
    pub lock_memory: bool,
    #[command(flatten)]
    output: OutputArgs,
}

/// The configuration file of `trustloop run`.
///
/// ```toml
/// [enforcement.adapters.edge-firewall]
/// type = "command"
/// program = "deploy/enforcement/firewall.sh"
/// env = { TRUSTLOOP_FIREWALL_RULES = "/etc/trustloop/deny.rules" }
///
/// [enforcement.routes]
/// edge-firewall = ["isolate", "quarantine", "lift_quarantine"]
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The enforcement adapters and which action kinds each handles. Without any, actions are
    /// decided and tracked but nothing is dispatched.
    #[serde(default)]
    pub enforcement: EnforcementConfig,
}

impl RunConfig {
    /// Reads a configuration file.
    pub fn load(path: &Path) -> Result<RunConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{}: invalid configuration", path.display()))
    }
}

/// Runs the service.
pub async fn run(backend_args: &BackendArgs, args: RunArgs) -> Result<ExitCode> {
    let config = match &args.config {
        Some(p) => RunConfig::load(p)?,
        None => RunConfig::default(),
    };
    if args.lock_memory {
        crate::memory::lock_memory()?;
        tracing::info!("memory locked (--lock-memory)");
    }
    // One signal listener for the whole run: a signal that arrives during a pass is not lost, and the
    // run stops at the end of that pass. A second signal does not wait for it (every stage commits its
    // offsets after its own pass; what is redone on restart is recognisable by its event ids).
    let (stop_tx, stop_rx) = watch::channel(false);
    let signals = tokio::spawn(async move {
        shutdown().await;
        stop_tx.send_replace(true);
        shutdown().await;
        eprintln!("trustloop run: second signal, exiting without finishing the pass");
        std::process::exit(130);
    });
    let ops = Ops::new();
    let mut server = None;
    let mut background = None;
    if let Some(addr) = &args.listen {
        let (tx, rx) = oneshot::channel::<()>();
        let stop = async {
            let _ = rx.await;
        };
        let s = match args.gateway {
            true => {
                let backend = std::sync::Arc::new(Backend::open(backend_args).await?);
                let state_dir = args
                    .state_dir
                    .clone()
                    .or_else(|| backend_args.brokers.is_none().then(|| backend_args.data.join("snapshots")));
                let gateway = std::sync::Arc::new(
                    crate::gateway::Gateway::new(backend, &args.gateway_options, addr, state_dir).await?,
                );
                background = Some((gateway.spawn_background(), gateway.clone()));
                Server::start_router(addr, gateway.router(ops.clone()), stop).await?
            }
            false => Server::start(addr, ops.clone(), stop).await?,
        };
        eprintln!(
            "trustloop run: serving {}/healthz, /readyz and /metrics on http://{}",
            if args.gateway { "the gateway, " } else { "" },
            s.local_addr()
        );
        server = Some((s, tx));
    }
    let outcome = drive(backend_args, &args, &config, &ops, stop_rx).await;
    // The endpoints stop with the service, however it ends.
    if let Some((_, gateway)) = &background {
        gateway.close();
    }
    if let Some((s, tx)) = server {
        let _ = tx.send(());
        if let Err(e) = s.stopped(HTTP_GRACE).await {
            tracing::warn!("{e:#}");
        }
    }
    drop(background);
    signals.abort();
    outcome
}

/// Opens the backend and runs the operators until idle — once (`--until-idle`) or, polling, until
/// `stop` turns true — recording every pass in `ops`.
async fn drive(
    backend_args: &BackendArgs,
    args: &RunArgs,
    config: &RunConfig,
    ops: &Ops,
    mut stop: watch::Receiver<bool>,
) -> Result<ExitCode> {
    if args.transactions && backend_args.brokers.is_none() {
        anyhow::bail!("--transactions needs Kafka (--brokers): the embedded log is exactly-once without them");
    }
    if args.scale_out && backend_args.brokers.is_none() {
        anyhow::bail!("--scale-out needs Kafka (--brokers): the embedded log belongs to one process");
    }
    if args.scale_out && args.until_idle {
        anyhow::bail!("--scale-out and --until-idle do not go together: a member runs until it is stopped");
    }
    let backend = Backend::open(backend_args).await?;
    let state_dir = match (&args.state_dir, &backend_args.brokers) {
        _ if args.no_snapshots => None,
        (Some(dir), _) => Some(dir.clone()),
        (None, None) => Some(backend_args.data.join("snapshots")),
        (None, Some(_)) => None,
    };
    let mut membership = match (args.scale_out, kafka_config(backend_args)?) {
        (true, Some(config)) => {
            let topic = EventType::Telemetry.topic();
            Some(Membership::join(&config, MEMBERS_GROUP, topic).context("joining the consumer group")?)
        }
        _ => None,
    };
    let mut layout = match &mut membership {
        Some(m) => match assigned(m, &mut stop).await {
            Some(owned) => Layout::PerPartition { owned },
            None => return Ok(ExitCode::SUCCESS),
        },
        None if args.task_per_partition => {
            Layout::PerPartition { owned: (0..graph::task_count(&backend).await?).collect() }
        }
        None => Layout::Single,
    };
    let mut stages = build_stages(&backend, args, state_dir.as_deref(), &layout).await?;
    let mut backoff = Outage::default();
    let mut effects = build_effects(&backend, config, &layout)?;
    // A rebalance noticed between passes, handled once the pass is over.
    let mut change: Option<Change> = None;
    loop {
        let result = {
            let stop = &stop;
            let (membership, change) = (&mut membership, &mut change);
            let mut observe = |done: &PassDone<'_>| {
                ops.record_pass(done);
                if let Some(m) = membership.as_mut()
                    && let Some(c) = m.try_change()
                {
                    *change = Some(c);
                    return ControlFlow::Break(());
                }
                if *stop.borrow() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
            };
            let limits = PassLimits { max_passes: args.max_passes, pass_limit: args.pass_limit };
            run_until_idle_observed(&backend, &mut stages, &mut effects, limits, &mut observe).await
        };
        let mut report = match result {
            Ok(report) => {
                backoff.over();
                report
            }
            // The log is unreachable (a broker outage): pause, then start the stages afresh —
            // restored from their snapshots and commits, as after a restart; what the failed pass
            // wrote without committing is recognised by its ids — and go on. Nothing is lost.
            Err(e) if !args.until_idle && is_retriable(&e) => {
                ops.set_unready();
                let mut error = e;
                // The stages' state may hold inputs whose outputs were not committed: never run them
                // again; rebuild them, however many tries it takes.
                stages = loop {
                    let wait = backoff.next();
                    tracing::warn!(error = %format!("{error:#}"), retry_in_ms = wait.as_millis() as u64, "the log is unavailable: pausing");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        // (An error here means no signal can arrive any more: the sleep decides.)
                        Ok(_) = stop.wait_for(|s| *s) => return Ok(ExitCode::SUCCESS),
                    }
                    match build_stages(&backend, args, state_dir.as_deref(), &layout).await {
                        Ok(fresh) => break fresh,
                        Err(e) if is_retriable(&e) => error = e,
                        Err(e) => return Err(e),
                    }
                };
                continue;
            }
            Err(e) => return Err(e),
        };
        if *stop.borrow() || args.until_idle {
            // Stopping: checkpoint what moved since the last snapshot (busy runs snapshot on their
            // interval, after their passes).
            report.stages.clear();
            for s in &mut stages {
                s.checkpoint().await?;
                report.stages.entry(s.name()).or_default().merge(&s.stats);
            }
        }
        if let Some(c) = change.take()
            && let Some(m) = &mut membership
        {
            // A rebalance: every pass has committed; checkpoint the tasks, stop them, say so, and
            // start the ones assigned now.
            ops.set_unready();
            let owned = match c {
                Change::Assigned(owned) => Some(owned),
                Change::Revoked(_) => {
                    for s in &mut stages {
                        s.checkpoint().await?;
                    }
                    stages.clear();
                    effects.clear();
                    m.released();
                    assigned(m, &mut stop).await
                }
            };
            let Some(owned) = owned else { return Ok(ExitCode::SUCCESS) };
            tracing::info!(?owned, "running the tasks of these partitions");
            layout = Layout::PerPartition { owned };
            stages = build_stages(&backend, args, state_dir.as_deref(), &layout).await?;
            effects = build_effects(&backend, config, &layout)?;
            continue;
        }
        if *stop.borrow() {
            if args.until_idle {
                eprintln!("trustloop run: stopped by a signal before the loop settled");
                return Ok(ExitCode::FAILURE);
            }
            tracing::info!("shutting down: every pass commits its offsets, nothing is pending");
            return Ok(ExitCode::SUCCESS);
        }
        ops.set_ready();
        if args.until_idle {
            if args.output.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for (name, s) in &report.stages {
                    eprintln!(
                        "{name:<10} applied {:>9} (replayed {:>9})  wrote {:>8}  dead letters {}",
                        s.applied, s.replayed, s.written, s.dead_letters
                    );
                }
                eprintln!("settled after {} pass(es)", report.passes);
            }
            return Ok(ExitCode::SUCCESS);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(args.poll_ms)) => {}
            Some(c) = next_change(&mut membership) => change = Some(c),
            stopped = stop.wait_for(|s| *s) => {
                if stopped.is_ok() {
                    tracing::info!("shutting down: every pass commits its offsets, nothing is pending");
                    return Ok(ExitCode::SUCCESS);
                }
                // No signal can arrive any more (the listener is gone): poll on.
                tokio::time::sleep(Duration::from_millis(args.poll_ms)).await;
            }
        }
    }
}

/// Waits for the partitions the group assigns (answering a revocation of partitions this process
/// no longer runs); `None` if a stop signal comes first or the member has stopped.
async fn assigned(m: &mut Membership, stop: &mut watch::Receiver<bool>) -> Option<std::collections::BTreeSet<u32>> {
    loop {
        tokio::select! {
            c = m.next_change() => match c? {
                Change::Assigned(owned) => return Some(owned),
                Change::Revoked(_) => m.released(),
            },
            Ok(_) = stop.wait_for(|s| *s) => return None,
        }
    }
}

/// The next rebalance of `membership` (never, without one).
async fn next_change(membership: &mut Option<Membership>) -> Option<Change> {
    match membership {
        Some(m) => m.next_change().await,
        None => std::future::pending().await,
    }
}

/// The effects of `layout`: the enforcement adapters, where partition 0's tasks run.
fn build_effects(backend: &Backend, config: &RunConfig, layout: &Layout) -> Result<Vec<Box<dyn Effect>>> {
    let mut effects: Vec<Box<dyn Effect>> = Vec::new();
    let singletons_here = match layout {
        Layout::Single => true,
        Layout::PerPartition { owned } => owned.contains(&0),
    };
    if singletons_here && !config.enforcement.adapters.is_empty() {
        let context = AdapterContext { log: Some(backend.log.clone()), codec: backend.codec.clone() };
        let dispatcher = Dispatcher::from_config(&config.enforcement, &context)
            .map_err(|e| anyhow::anyhow!("enforcement configuration: {e}"))?;
        effects.push(Box::new(Dispatch::new(dispatcher)));
    }
    Ok(effects)
}

/// The operator stages of `layout`, configured by `args`, restored from snapshots in `state_dir` if
/// given.
async fn build_stages(
    backend: &Backend,
    args: &RunArgs,
    state_dir: Option<&Path>,
    layout: &Layout,
) -> Result<Vec<Stage>> {
    let mut stages = graph::stages_for(backend, layout).await?;
    for s in &mut stages {
        s.set_transactional(args.transactions);
        if let Some(dir) = state_dir {
            s.enable_snapshots(SnapshotStore::new(dir), Duration::from_secs(args.snapshot_interval_secs))?;
        }
    }
    Ok(stages)
}

/// Whether `e` comes from a log error worth retrying (an outage, a timeout).
fn is_retriable(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<LogError>().is_some_and(LogError::is_retriable))
}

/// Exponential back-off while the log is unavailable: 0.5 s, doubling, at most 30 s.
#[derive(Debug, Default)]
struct Outage {
    attempts: u32,
}

impl Outage {
    fn next(&mut self) -> Duration {
        let wait = Duration::from_millis(500).saturating_mul(1 << self.attempts.min(6)).min(Duration::from_secs(30));
        self.attempts += 1;
        wait
    }

    fn over(&mut self) {
        if self.attempts > 0 {
            tracing::info!(attempts = self.attempts, "the log is available again: resumed");
        }
        self.attempts = 0;
    }
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
