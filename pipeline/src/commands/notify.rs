//! `trustloop notify`: check a notification rules file, apply it (publish it on `notify-rules` as
//! the next version of its name), or send a test message through a configured channel.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use trustloop_connectors::notify::Channel;
use trustloop_operators::notify::rules::{self, RulesDoc};
use trustloop_schemas::{DeliveryStatus, Envelope, Event, EventTime, EventType, Notification, derive_event_id};

use super::run::RunConfig;
use super::versioned::{self, Document, DocumentKind};
use crate::cli::OutputArgs;
use trustloop_runtime::backend::{Backend, BackendConfig};
use trustloop_runtime::deliver::Deliver;
use trustloop_runtime::ingest::EventWriter;

/// Arguments of `trustloop notify`.
#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// What to do.
    #[command(subcommand)]
    pub what: NotifyCommand,
}

/// The notify commands.
#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Parse and validate a rules file and print its digest. Each problem is printed as
    /// `FILE:LINE:COLUMN: key.path: message`; the exit status is then 1.
    Check {
        /// The rules (YAML).
        file: PathBuf,
        /// Output format.
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Publish a rules file on `notify-rules` as the next version of its name (for the tenant). An
    /// invalid file is refused (exit status 1, nothing published); one identical to the latest
    /// version (same digest) is not published again.
    Apply {
        /// The rules (YAML).
        file: PathBuf,
        /// Tenant the rules are for.
        #[arg(long, env = "TRUSTLOOP_TENANT", default_value = "default")]
        tenant: String,
        /// Output format.
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Send a test message through the channel CHANNEL of the configuration file (`[notify.channels]`),
    /// record the attempt on `deliveries`, and print it. Exit status 1 when it failed.
    Test {
        /// The channel's name.
        channel: String,
        /// Configuration file (TOML) with the `[notify]` table.
        #[arg(long, env = "TRUSTLOOP_CONFIG")]
        config: PathBuf,
        /// Tenant the test message is for.
        #[arg(long, env = "TRUSTLOOP_TENANT", default_value = "default")]
        tenant: String,
    },
}

/// Runs a notify command.
pub async fn run(backend_args: &BackendConfig, args: NotifyArgs) -> Result<ExitCode> {
    match args.what {
        NotifyCommand::Check { file, output } => {
            let Some((_, doc)) = load(&file)? else { return Ok(ExitCode::FAILURE) };
            let digest = doc.digest();
            if output.json {
                println!(
                    "{}",
                    serde_json::json!({"file": file.display().to_string(), "name": doc.name, "digest": digest, "rules": doc.rules.len()})
                );
            } else {
                println!("{}: ok: rules {} ({} rules), digest {digest}", file.display(), doc.name, doc.rules.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        NotifyCommand::Apply { file, tenant, output } => {
            let Some((text, doc)) = load(&file)? else { return Ok(ExitCode::FAILURE) };
            let doc = Document { name: &doc.name, digest: doc.digest(), text };
            versioned::publish(backend_args, DocumentKind::NotifyRules, &tenant, doc, output.json).await
        }
        NotifyCommand::Test { channel, config, tenant } => test(backend_args, &channel, &config, &tenant).await,
    }
}

/// Reads and validates a rules file; prints every problem as `FILE:LINE:COLUMN: ...` and returns
/// `None` when there are any.
fn load(file: &Path) -> Result<Option<(String, RulesDoc)>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    match rules::check(&text) {
        Ok(doc) => Ok(Some((text, doc))),
        Err(errors) => {
            for e in &errors {
                eprintln!("{}:{e}", file.display());
            }
            eprintln!("{}: {} problem(s); the rules are not valid", file.display(), errors.len());
            Ok(None)
        }
    }
}

/// Sends one test notification through `channel` and records it as a delivery.
async fn test(backend_args: &BackendConfig, channel: &str, config: &Path, tenant: &str) -> Result<ExitCode> {
    let config = RunConfig::load(config)?.notify;
    let Some(channel_config) = config.channels.get(channel) else {
        bail!(
            "no channel `{channel}` under [notify.channels] (configured: {:?})",
            config.channels.keys().collect::<Vec<_>>()
        );
    };
    // Fail on a bad channel configuration before anything is written.
    Channel::new(channel, channel_config)?;
    let now = trustloop_runtime::clock::now_micros();
    let event_id = derive_event_id("notify-test", &[tenant.as_bytes(), channel.as_bytes(), &now.to_be_bytes()]);
    let n = Notification {
        envelope: Envelope {
            event_id,
            tenant: tenant.into(),
            key: channel.into(),
            event_time: EventTime::from_micros(now),
            source: "trustloop notify test".into(),
            schema_version: EventType::Notification.schema_version(),
        },
        notification_id: event_id.to_string(),
        channel: channel.to_string(),
        rule: "test".into(),
        rules_digest: String::new(),
        subject: "test".into(),
        title: format!("trustloop test message for channel {channel}"),
        body: format!("This is a test of the notification channel `{channel}` (tenant {tenant})."),
        event_ids: vec![],
        event_kinds: vec![],
        severity: None,
        window_start: None,
        window_end: None,
        suppressed: 0,
    };
    let backend = Backend::open(backend_args).await?;
    // Only this channel, one attempt: a test says how the channel answers, it does not retry.
    let mut one = config.clone();
    one.channels.retain(|name, _| name == channel);
    one.max_attempts = 1;
    let mut deliver = Deliver::new(&one)?;
    let mut writer = EventWriter::new(&backend, EventType::Delivery.topic()).await?;
    let Some(delivery) = deliver.deliver_one(&n, &mut writer).await? else {
        bail!("notification {} was delivered already", n.notification_id);
    };
    writer.flush().await?;
    let ok = delivery.status == DeliveryStatus::Ok;
    println!("{}", trustloop_schemas::json::event_to_json(&Event::Delivery(delivery)));
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
