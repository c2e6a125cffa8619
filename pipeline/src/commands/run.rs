//! `trustloop run`: the long-running service — reads the input topics, runs the operator graph
//! (impact, trust, decision, enforcement), writes the derived topics and drives the enforcement
//! adapters. `--until-idle` processes everything in the log and exits.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use serde::Deserialize;
use trustloop_connectors::enforce::Dispatcher;
use trustloop_connectors::enforce::config::{AdapterContext, EnforcementConfig};

use crate::backend::{Backend, BackendArgs};
use crate::cli::OutputArgs;
use crate::runtime::dispatch::Dispatch;
use crate::runtime::{Effect, graph, run_until_idle};

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
    /// Most passes over the operators before a run that never settles is stopped.
    #[arg(long, default_value_t = 1_000)]
    pub max_passes: u32,
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
    let backend = Backend::open(backend_args).await?;
    let mut stages = graph::stages(&backend).await?;
    let mut effects: Vec<Box<dyn Effect>> = Vec::new();
    if !config.enforcement.adapters.is_empty() {
        let context = AdapterContext { log: Some(backend.log.clone()), codec: backend.codec.clone() };
        let dispatcher = Dispatcher::from_config(&config.enforcement, &context)
            .map_err(|e| anyhow::anyhow!("enforcement configuration: {e}"))?;
        effects.push(Box::new(Dispatch::new(dispatcher)));
    }
    loop {
        let report = run_until_idle(&backend, &mut stages, &mut effects, args.max_passes).await?;
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
            _ = shutdown() => {
                tracing::info!("shutting down: every pass commits its offsets, nothing is pending");
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown() {
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
