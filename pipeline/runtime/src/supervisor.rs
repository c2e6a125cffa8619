//! The supervisor: what `trustloop run` runs. It opens the backend, builds the stages (restored from
//! their snapshots) and the enforcement adapters, and drives them pass after pass — once until
//! idle, or polling until told to stop. While the log is unavailable it pauses with
//! [`Backoff`] and starts the stages afresh, for as long as the outage lasts; with
//! `scale_out` it follows the consumer group's rebalances, running the tasks of the partitions
//! this process is assigned. Whether an error is worth waiting out is
//! [`RuntimeError::is_retriable`]'s answer.

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;
use trustloop_connectors::enforce::Dispatcher;
use trustloop_connectors::enforce::config::{AdapterContext, EnforcementConfig};
use trustloop_connectors::log::membership::{Change, Membership};
use trustloop_connectors::notify::NotifyConfig;
use trustloop_schemas::EventType;

use crate::backend::{Backend, BackendConfig, kafka_config};
use crate::backoff::Backoff;
use crate::deliver::Deliver;
use crate::dispatch::Dispatch;
use crate::error::{Context, Result, RuntimeError, chain};
use crate::graph::{self, Layout};
use crate::ops::Ops;
use crate::snapshot::SnapshotStore;
use crate::stage::{Effect, PassDone, PassLimits, RunReport, Stage, run_until_idle_observed};

/// The consumer group of `trustloop run --scale-out` processes.
pub const MEMBERS_GROUP: &str = "trustloop.members";

/// How a run goes (what `trustloop run`'s options say).
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Process everything in the log, let the loop settle, then return.
    pub until_idle: bool,
    /// How often to look for new input when idle.
    pub poll: Duration,
    /// How many passes, and how long ones.
    pub limits: PassLimits,
    /// Kafka only: each pass's outputs and input offsets in one Kafka transaction.
    pub transactions: bool,
    /// Where operator state is checkpointed, if anywhere ([`crate::snapshot::state_dir`]).
    pub state_dir: Option<PathBuf>,
    /// Time between snapshots of a busy operator.
    pub snapshot_interval: Duration,
    /// One task per partition for every operator that splits by key.
    pub task_per_partition: bool,
    /// Kafka only: share the tasks with the other processes of [`MEMBERS_GROUP`].
    pub scale_out: bool,
    /// The enforcement adapters and their routes.
    pub enforcement: EnforcementConfig,
    /// The notification channels (none: notifications are derived but not sent).
    pub notify: NotifyConfig,
    /// Signed checkpoints of the log after rounds that decided and at an interval, if configured
    /// (made where partition 0's tasks run).
    pub checkpoints: Option<crate::ledger::CheckpointConfig>,
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// The loop settled (`until_idle`): what the stages and effects did.
    Settled(RunReport),
    /// Stopped when asked: every pass has committed its offsets, nothing is pending.
    Stopped,
    /// Asked to stop (`until_idle`) before the loop settled.
    Interrupted,
}

/// Opens the backend `backend` names and runs the operators until idle — once
/// (`config.until_idle`) or, polling, until `stop` turns true — recording every pass in `ops`.
pub async fn supervise(
    backend: &BackendConfig,
    config: &RuntimeConfig,
    ops: &Ops,
    mut stop: watch::Receiver<bool>,
) -> Result<Outcome> {
    if config.transactions && backend.brokers.is_none() {
        return Err(RuntimeError::invalid(
            "--transactions needs Kafka (--brokers): the embedded log is exactly-once without them",
        ));
    }
    if config.scale_out && backend.brokers.is_none() {
        return Err(RuntimeError::invalid(
            "--scale-out needs Kafka (--brokers): the embedded log belongs to one process",
        ));
    }
    if config.scale_out && config.until_idle {
        return Err(RuntimeError::invalid(
            "--scale-out and --until-idle do not go together: a member runs until it is stopped",
        ));
    }
    let kafka = kafka_config(backend)?;
    let backend = Backend::open(backend).await?;
    let mut membership = match (config.scale_out, kafka) {
        (true, Some(kafka)) => {
            let topic = EventType::Telemetry.topic();
            Some(Membership::join(&kafka, MEMBERS_GROUP, topic).context("joining the consumer group")?)
        }
        _ => None,
    };
    let mut layout = match &mut membership {
        Some(m) => match assigned(m, &mut stop).await {
            Some(owned) => Layout::PerPartition { owned },
            None => return Ok(Outcome::Stopped),
        },
        None if config.task_per_partition => {
            Layout::PerPartition { owned: (0..graph::task_count(&backend).await?).collect() }
        }
        None => Layout::Single,
    };
    let mut stages = build_stages(&backend, config, &layout).await?;
    let mut backoff = outage_backoff();
    let mut effects = build_effects(&backend, config, &layout)?;
    let mut checkpointing = config.checkpoints.clone().map(crate::ledger::Checkpointing::new);
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
            run_until_idle_observed(&backend, &mut stages, &mut effects, config.limits, &mut observe).await
        };
        let mut report = match result {
            Ok(report) => {
                let attempts = backoff.reset();
                if attempts > 0 {
                    tracing::info!(attempts, "the log is available again: resumed");
                }
                report
            }
            // The log is unreachable (a broker outage): pause, then start the stages afresh —
            // restored from their snapshots and commits, as after a restart; what the failed pass
            // wrote without committing is recognised by its ids — and go on. Nothing is lost.
            Err(e) if !config.until_idle && e.is_retriable() => {
                ops.set_unready();
                let mut error = e;
                // The stages' state may hold inputs whose outputs were not committed: never run them
                // again; rebuild them, however many tries it takes.
                stages = loop {
                    let wait = backoff.next_wait();
                    tracing::warn!(error = %chain(&error), retry_in_ms = wait.as_millis() as u64, "the log is unavailable: pausing");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        // (An error here means no signal can arrive any more: the sleep decides.)
                        Ok(_) = stop.wait_for(|s| *s) => return Ok(Outcome::Stopped),
                    }
                    match build_stages(&backend, config, &layout).await {
                        Ok(fresh) => break fresh,
                        Err(e) if e.is_retriable() => error = e,
                        Err(e) => return Err(e),
                    }
                };
                continue;
            }
            Err(e) => return Err(e),
        };
        if let Some(c) = &mut checkpointing
            && singletons_here(&layout)
        {
            c.after_round(&backend, &report).await;
        }
        if *stop.borrow() || config.until_idle {
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
            let Some(owned) = owned else { return Ok(Outcome::Stopped) };
            tracing::info!(?owned, "running the tasks of these partitions");
            layout = Layout::PerPartition { owned };
            stages = build_stages(&backend, config, &layout).await?;
            effects = build_effects(&backend, config, &layout)?;
            continue;
        }
        if *stop.borrow() {
            if config.until_idle {
                return Ok(Outcome::Interrupted);
            }
            tracing::info!("shutting down: every pass commits its offsets, nothing is pending");
            return Ok(Outcome::Stopped);
        }
        ops.set_ready();
        if config.until_idle {
            return Ok(Outcome::Settled(report));
        }
        tokio::select! {
            _ = tokio::time::sleep(config.poll) => {}
            Some(c) = next_change(&mut membership) => change = Some(c),
            stopped = stop.wait_for(|s| *s) => {
                if stopped.is_ok() {
                    tracing::info!("shutting down: every pass commits its offsets, nothing is pending");
                    return Ok(Outcome::Stopped);
                }
                // No signal can arrive any more (the listener is gone): poll on.
                tokio::time::sleep(config.poll).await;
            }
        }
    }
}

/// The back-off while the log is unavailable: 0.5 s, doubling, at most 30 s.
fn outage_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(500), Duration::from_secs(30))
}

/// Waits for the partitions the group assigns (answering a revocation of partitions this process
/// no longer runs); `None` if a stop signal comes first or the member has stopped.
async fn assigned(m: &mut Membership, stop: &mut watch::Receiver<bool>) -> Option<BTreeSet<u32>> {
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

/// Whether this process runs the singletons (the enforcement adapters, the log's checkpoints): it
/// runs partition 0's tasks, or everything.
fn singletons_here(layout: &Layout) -> bool {
    match layout {
        Layout::Single => true,
        Layout::PerPartition { owned } => owned.contains(&0),
    }
}

/// The effects of `layout`: the enforcement adapters and the notification channels, where
/// partition 0's tasks run.
fn build_effects(backend: &Backend, config: &RuntimeConfig, layout: &Layout) -> Result<Vec<Box<dyn Effect>>> {
    let mut effects: Vec<Box<dyn Effect>> = Vec::new();
    if singletons_here(layout) && !config.enforcement.adapters.is_empty() {
        let context = AdapterContext { log: Some(backend.log.clone()), codec: backend.codec.clone() };
        let dispatcher = Dispatcher::from_config(&config.enforcement, &context)
            .map_err(|e| RuntimeError::invalid(format!("enforcement configuration: {e}")))?;
        effects.push(Box::new(Dispatch::new(dispatcher)));
    }
    if singletons_here(layout) && !config.notify.channels.is_empty() {
        let deliver =
            Deliver::new(&config.notify).map_err(|e| RuntimeError::invalid(format!("notify configuration: {e}")))?;
        effects.push(Box::new(deliver));
    }
    Ok(effects)
}

/// The operator stages of `layout`, configured by `config`, restored from snapshots in its state
/// directory if it has one.
async fn build_stages(backend: &Backend, config: &RuntimeConfig, layout: &Layout) -> Result<Vec<Stage>> {
    let mut stages = graph::stages_for(backend, layout).await?;
    for s in &mut stages {
        s.set_transactional(config.transactions);
        if let Some(dir) = &config.state_dir {
            s.enable_snapshots(SnapshotStore::new(dir), config.snapshot_interval)?;
        }
    }
    Ok(stages)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn kafka_only_options_are_refused_on_the_embedded_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let backend = BackendConfig::embedded(dir.path());
        let config = RuntimeConfig {
            until_idle: true,
            poll: Duration::from_millis(10),
            limits: PassLimits { max_passes: 10, pass_limit: 0 },
            transactions: true,
            state_dir: None,
            snapshot_interval: Duration::from_secs(60),
            checkpoints: None,
            task_per_partition: false,
            scale_out: false,
            enforcement: EnforcementConfig::default(),
            notify: NotifyConfig::default(),
        };
        let (_tx, stop) = watch::channel(false);
        let e = supervise(&backend, &config, &Ops::new(), stop).await.expect_err("refused");
        assert!(!e.is_retriable());
        assert!(e.to_string().starts_with("--transactions needs Kafka"), "{e}");
    }
}
