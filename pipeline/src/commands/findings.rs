//! `trustloop findings`: the open findings as they stand after everything in the log — every advisory
//! and release inventory, run through the impact operator.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use trustloop_operators::impact::ImpactState;
use trustloop_schemas::EventType;

use crate::backend::{Backend, BackendArgs};
use crate::cli::OutputArgs;

/// Arguments of `trustloop findings`.
#[derive(Debug, Args)]
pub struct FindingsArgs {
    /// Only this release, `NAME@VERSION`.
    #[arg(long)]
    pub release: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

/// Applies every event of `topic` to the impact state; returns how many were undecodable.
async fn feed(backend: &Backend, topic: &str, state: &mut ImpactState) -> Result<u64> {
    let mut bad = 0;
    let offsets = backend.log.offsets(topic).await?;
    for (p, o) in offsets.iter().enumerate() {
        let mut pos = o.start;
        while pos < o.end {
            let records = backend.log.read(topic, p as u32, pos, 10_000).await?;
            if records.is_empty() {
                break;
            }
            for r in &records {
                pos = r.offset + 1;
                match backend.codec.decode(&r.value, &*backend.registry) {
                    Ok(event) => {
                        state.apply(&event);
                    }
                    Err(e) => {
                        bad += 1;
                        eprintln!("{topic}/{p}@{}: undecodable, skipped: {e}", r.offset);
                    }
                }
            }
        }
    }
    Ok(bad)
}

/// Prints the open findings.
pub async fn run(backend_args: &BackendArgs, args: FindingsArgs) -> Result<ExitCode> {
    let backend = Backend::open(backend_args).await?;
    let mut state = ImpactState::default();
    // Incremental = batch: the order advisories and inventories are applied in does not change the
    // result, so advisories first keeps each inventory's evaluation to one pass.
    let mut bad = feed(&backend, EventType::Advisory.topic(), &mut state).await?;
    bad += feed(&backend, EventType::ReleaseInventory.topic(), &mut state).await?;
    let mut rows = Vec::new();
    for (k, m) in state.open_findings() {
        let release = format!("{}@{}", k.release.name, k.release.version);
        if args.release.as_ref().is_some_and(|r| *r != release) {
            continue;
        }
        let advisory = state.advisory(&k.advisory);
        let (name, version) = k.purl.rsplit_once('@').unwrap_or((k.purl.as_str(), ""));
        rows.push(serde_json::json!({
            "release": release,
            "environment": k.release.environment,
            "advisory": k.advisory,
            "aliases": advisory.map(|a| a.aliases.clone()).unwrap_or_default(),
            "package": name,
            "version": version,
            "status": "affected",
            "severity": advisory.and_then(|a| a.severity.first().map(|s| s.score.clone())),
            "match": {"range_type": m.range_type, "event": m.event, "comparator": m.comparator},
        }));
    }
    if args.output.json {
        for r in &rows {
            println!("{r}");
        }
    } else {
        println!("{:<28} {:<20} {:<32} {:<10} SEVERITY", "RELEASE", "ADVISORY", "PACKAGE", "STATUS");
        for r in &rows {
            println!(
                "{:<28} {:<20} {:<32} {:<10} {}",
                r["release"].as_str().unwrap_or_default(),
                r["advisory"].as_str().unwrap_or_default(),
                format!(
                    "{}@{}",
                    r["package"].as_str().unwrap_or_default().trim_start_matches("pkg:"),
                    r["version"].as_str().unwrap_or_default()
                ),
                r["status"].as_str().unwrap_or_default(),
                r["severity"].as_str().unwrap_or("-"),
            );
        }
        eprintln!("{} open finding(s)", rows.len());
    }
    Ok(if bad == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
