//! `trustloop run`: the long-running service — reads the input topics, runs the operator graph
//! (impact, trust, decision, enforcement), writes the derived topics and drives the enforcement
//! adapters. `--until-idle` processes everything in the log and exits. `--listen ADDR` serves the
//! operations endpoints (`/healthz`, `/readyz`, `/metrics`) while it runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use serde::Deserialize;
use tokio::sync::{oneshot, watch};
use trustloop_connectors::enforce::config::EnforcementConfig;
use trustloop_connectors::notify::NotifyConfig;
use trustloop_runtime::backend::{Backend, BackendConfig};
use trustloop_runtime::ops::Ops;
use trustloop_runtime::snapshot::state_dir;
use trustloop_runtime::stage::PassLimits;
use trustloop_runtime::supervisor::{Outcome, RuntimeConfig, shutdown, supervise};
use trustloop_serve::gateway::Gateway;
use trustloop_serve::server::Server;

use crate::args::GatewayArgs;
use crate::cli::OutputArgs;

/// The consumer group of `trustloop run --scale-out` processes.
pub use trustloop_runtime::supervisor::MEMBERS_GROUP;

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
    #[arg(long, env = "TRUSTLOOP_PASS_LIMIT", default_value_t = trustloop_runtime::DEFAULT_PASS_LIMIT)]
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
    /// Sign checkpoints of the log with this private key (`trustloop keys generate`): after every
    /// round in which the decision stage wrote verdicts or actions, and every
    /// `--checkpoint-interval-secs` while anything else is appended. Off without a key.
    #[arg(long, env = "TRUSTLOOP_CHECKPOINT_KEY_FILE", value_name = "FILE")]
    pub checkpoint_key: Option<PathBuf>,
    /// Seconds between checkpoints while records are appended without decisions.
    #[arg(long, env = "TRUSTLOOP_CHECKPOINT_INTERVAL_SECS", default_value_t = 60, value_name = "SECS")]
    pub checkpoint_interval_secs: u64,
    /// The log's origin in its checkpoints (default: the last checkpoint's, else `trustloop.local/log`).
    #[arg(long, value_name = "ORIGIN")]
    pub checkpoint_origin: Option<String>,
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
    pub gateway_options: GatewayArgs,
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
///
/// [notify.channels.oncall]
/// type = "slack"
/// url = "https://hooks.slack.com/services/T000/B000/XXXX"
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The enforcement adapters and which action kinds each handles. Without any, actions are
    /// decided and tracked but nothing is dispatched.
    #[serde(default)]
    pub enforcement: EnforcementConfig,
    /// The notification channels (`[notify.channels.NAME]`) and the retry schedule. Without any,
    /// notifications are derived but not sent.
    #[serde(default)]
    pub notify: NotifyConfig,
}

impl RunConfig {
    /// Reads a configuration file.
    pub fn load(path: &Path) -> Result<RunConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{}: invalid configuration", path.display()))
    }
}

/// Runs the service.
pub async fn run(backend_config: &BackendConfig, args: RunArgs) -> Result<ExitCode> {
    let config = match &args.config {
        Some(p) => RunConfig::load(p)?,
        None => RunConfig::default(),
    };
    if args.lock_memory {
        trustloop_runtime::memory::lock_memory()?;
        tracing::info!("memory locked (--lock-memory)");
    }
    let snapshots = state_dir(backend_config, args.state_dir.as_deref(), args.no_snapshots);
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
                let backend = Arc::new(Backend::open(backend_config).await?);
                let gateway =
                    Arc::new(Gateway::new(backend, &args.gateway_options.options()?, addr, snapshots.clone()).await?);
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
    let runtime = RuntimeConfig {
        until_idle: args.until_idle,
        poll: Duration::from_millis(args.poll_ms),
        limits: PassLimits { max_passes: args.max_passes, pass_limit: args.pass_limit },
        transactions: args.transactions,
        state_dir: snapshots,
        snapshot_interval: Duration::from_secs(args.snapshot_interval_secs),
        task_per_partition: args.task_per_partition,
        scale_out: args.scale_out,
        enforcement: config.enforcement,
        notify: config.notify,
        checkpoints: match &args.checkpoint_key {
            Some(path) => Some(trustloop_runtime::ledger::CheckpointConfig {
                signer: std::sync::Arc::new(super::keys::signer(Some(path))?),
                origin: args.checkpoint_origin.clone(),
                interval: Duration::from_secs(args.checkpoint_interval_secs),
            }),
            None => None,
        },
    };
    let outcome = supervise(backend_config, &runtime, &ops, stop_rx).await;
    // The endpoints stop with the service, however it ends.
    if let Some((_, gateway)) = &background {
        gateway.close();
    }
    if let Some((s, tx)) = server {
        let _ = tx.send(());
        if let Err(e) = s.stopped(HTTP_GRACE).await {
            tracing::warn!("{}", trustloop_runtime::error::chain(&e));
        }
    }
    drop(background);
    signals.abort();
    match outcome? {
        Outcome::Settled(report) => {
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
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Stopped => Ok(ExitCode::SUCCESS),
        Outcome::Interrupted => {
            eprintln!("trustloop run: stopped by a signal before the loop settled");
            Ok(ExitCode::FAILURE)
        }
    }
}
