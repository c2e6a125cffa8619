//! `trustloop produce --topic T`: JSON lines on stdin → validated → Avro → appended.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use trustloop_schemas::EventType;
use trustloop_schemas::json::IngestDefaults;

use crate::cli::OutputArgs;
use trustloop_runtime::backend::{Backend, BackendConfig};
use trustloop_runtime::ingest::ingest_lines;

/// Arguments of `trustloop produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// The topic to append to (`telemetry`, `advisories`, `vex`, ...); it decides the event type.
    #[arg(long, short = 't')]
    pub topic: String,
    /// The event type, for topics whose name does not say it.
    #[arg(long = "type", value_name = "EVENT_TYPE")]
    pub event_type: Option<String>,
    /// Tenant for lines that name none.
    #[arg(long, env = "TRUSTLOOP_TENANT")]
    pub tenant: Option<String>,
    /// `source` for lines that name none.
    #[arg(long, default_value = "cli")]
    pub source: String,
    #[command(flatten)]
    output: OutputArgs,
}

/// Appends stdin's JSON lines to the topic; bad lines go to `dlq`; exit status 1 if any line was bad.
pub async fn run(backend_args: &BackendConfig, args: ProduceArgs) -> Result<ExitCode> {
    let event_type = match &args.event_type {
        Some(name) => match EventType::from_name(name) {
            Some(t) => t,
            None => bail!("unknown event type `{name}`; known: {}", known_types()),
        },
        None => match EventType::from_topic(&args.topic) {
            Some(t) => t,
            None => bail!("topic `{}` has no event type of its own: pass --type ({})", args.topic, known_types()),
        },
    };
    let backend = Backend::open(backend_args).await?;
    if EventType::from_topic(&args.topic).is_none() {
        backend.log.create_topic(&args.topic, backend.partitions).await?;
    }
    let defaults = IngestDefaults {
        tenant: args.tenant.clone(),
        source: args.source.clone(),
        now_micros: trustloop_runtime::clock::now_micros(),
    };
    let stdin = tokio::io::BufReader::with_capacity(1 << 20, tokio::io::stdin());
    let report = ingest_lines(&backend, &args.topic, event_type, stdin, &defaults).await?;
    for r in &report.rejected {
        eprintln!("line {}: {}", r.line, r.reason);
    }
    if args.output.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        eprintln!(
            "appended {} event(s) to {}; rejected {} line(s){}",
            report.appended,
            args.topic,
            report.rejected.len(),
            if report.rejected.is_empty() { String::new() } else { " (written to dlq)".to_string() }
        );
    }
    Ok(if report.rejected.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn known_types() -> String {
    EventType::ALL.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
}
