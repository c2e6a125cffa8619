//! `trustloop findings`: the open findings as they stand after everything in the log — every policy,
//! advisory, VEX statement and release inventory, run through the findings operator (impact selection
//! with VEX consensus) — or, with `--blind-spots`, the components of each release's latest inventory
//! that no advisory source checks (left out at import, an ecosystem trustloop does not order, or no
//! advisory for its ecosystem or distribution release).

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use std::collections::BTreeMap;

use trustloop_connectors::log::PartitionReader;
use trustloop_operators::coverage::Coverage;
use trustloop_operators::findings::FindingsState;
use trustloop_operators::vex::status_name;
use trustloop_schemas::{Event, EventType, ReleaseInventory};

use crate::cli::OutputArgs;
use trustloop_runtime::backend::{Backend, BackendConfig};

/// Arguments of `trustloop findings`.
#[derive(Debug, Args)]
pub struct FindingsArgs {
    /// Only this release, `NAME@VERSION`.
    #[arg(long)]
    pub release: Option<String>,
    /// List the components no advisory source checks instead of the findings: what a PASS does not
    /// cover.
    #[arg(long)]
    pub blind_spots: bool,
    #[command(flatten)]
    output: OutputArgs,
}

/// Applies every event of `topic` to `apply`; returns how many were undecodable.
async fn feed(backend: &Backend, topic: &str, apply: &mut dyn FnMut(&Event)) -> Result<u64> {
    let mut bad = 0;
    let offsets = backend.log.offsets(topic).await?;
    for (p, o) in offsets.iter().enumerate() {
        let mut reader = PartitionReader::new(topic, p as u32, o.start).until(o.end);
        while let Some(records) = reader.next(&*backend.log).await? {
            for r in &records {
                match backend.codec.decode(&r.value, &*backend.registry) {
                    Ok(event) => apply(&event),
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
pub async fn run(backend_args: &BackendConfig, args: FindingsArgs) -> Result<ExitCode> {
    let backend = Backend::open(backend_args).await?;
    if args.blind_spots {
        return blind_spots(&backend, &args).await;
    }
    let mut state = FindingsState::default();
    // The final view does not depend on the order the topics are applied in (tested), so each topic
    // is applied whole: policies, advisories, VEX, then inventories (one pass per inventory).
    let mut bad = 0;
    for t in [EventType::Policy, EventType::Advisory, EventType::VexStatement, EventType::ReleaseInventory] {
        bad += feed(&backend, t.topic(), &mut |e| {
            state.apply_event(e);
        })
        .await?;
    }
    let mut rows = Vec::new();
    for f in state.open_findings() {
        let release = format!("{}@{}", f.release_name, f.release_version);
        if args.release.as_ref().is_some_and(|r| *r != release) {
            continue;
        }
        rows.push(serde_json::json!({
            "release": release,
            "environment": f.environment,
            "vulnerability": f.vulnerability(),
            "advisory": f.advisory_id,
            "aliases": f.aliases,
            "sources": f.sources.iter().map(|s| serde_json::json!({
                "source": s.source, "advisory": s.advisory_id, "document": s.document_id,
                "modified": s.modified.as_micros(), "digest": s.digest,
            })).collect::<Vec<_>>(),
            "disagreements": f.disagreements.iter().map(|d| serde_json::json!({
                "field": d.field, "values": d.values,
            })).collect::<Vec<_>>(),
            "package": f.purl.rsplit_once('@').map_or(&*f.purl, |(p, _)| p),
            "version": f.package_version,
            "status": status_name(f.vex_status),
            "justification": f.vex_justification,
            "vex_votes": f.vex_votes,
            "vex_conflict": f.vex_conflict,
            "severity": f.severity,
            "known_exploited": f.known_exploited,
            "fixed_versions": f.fixed_versions,
            "distro_release": f.distro_release,
            "release_unknown": f.release_unknown,
            "match": {"range_type": f.matched.range_type, "event": f.matched.event, "comparator": f.matched.comparator},
        }));
    }
    rows.sort_by(|a, b| {
        (a["release"].as_str(), a["vulnerability"].as_str(), a["package"].as_str()).cmp(&(
            b["release"].as_str(),
            b["vulnerability"].as_str(),
            b["package"].as_str(),
        ))
    });
    if args.output.json {
        for r in &rows {
            println!("{r}");
        }
    } else {
        println!(
            "{:<28} {:<20} {:<32} {:<13} {:<10} SOURCES",
            "RELEASE", "VULNERABILITY", "PACKAGE", "STATUS", "SEVERITY"
        );
        for r in &rows {
            let sources: Vec<&str> =
                r["sources"].as_array().into_iter().flatten().filter_map(|s| s["advisory"].as_str()).collect();
            println!(
                "{:<28} {:<20} {:<32} {:<13} {:<10} {}",
                r["release"].as_str().unwrap_or_default(),
                r["vulnerability"].as_str().unwrap_or_default(),
                format!(
                    "{}@{}",
                    r["package"].as_str().unwrap_or_default().trim_start_matches("pkg:"),
                    r["version"].as_str().unwrap_or_default()
                ),
                format!(
                    "{}{}",
                    r["status"].as_str().unwrap_or_default(),
                    if r["vex_conflict"] == true { "*" } else { "" }
                ),
                r["severity"].as_str().map_or("-", |s| if s.len() > 10 { "CVSS" } else { s }),
                sources.join(","),
            );
        }
        eprintln!("{} open finding(s) (* = VEX issuers disagree; --json shows their votes)", rows.len());
    }
    Ok(if bad == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `findings --blind-spots`: per release (and environment), its latest inventory's components that
/// no advisory in the log checks, with the reason.
async fn blind_spots(backend: &Backend, args: &FindingsArgs) -> Result<ExitCode> {
    let mut coverage = Coverage::default();
    let mut bad = feed(backend, EventType::Advisory.topic(), &mut |e| {
        if let Event::Advisory(a) = e {
            coverage.apply(a);
        }
    })
    .await?;
    // The latest inventory of each release in each environment (by event time, then log order).
    let mut latest: BTreeMap<(String, Option<String>), ReleaseInventory> = BTreeMap::new();
    bad += feed(backend, EventType::ReleaseInventory.topic(), &mut |e| {
        if let Event::ReleaseInventory(inv) = e {
            let key = (format!("{}@{}", inv.release_name, inv.release_version), inv.environment.clone());
            if latest.get(&key).is_none_or(|seen| seen.envelope.event_time <= inv.envelope.event_time) {
                latest.insert(key, inv.clone());
            }
        }
    })
    .await?;
    let mut rows = Vec::new();
    let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
    for ((release, environment), inv) in &latest {
        if args.release.as_ref().is_some_and(|r| r != release) {
            continue;
        }
        for spot in coverage.blind_spots(inv) {
            *by_reason.entry(spot.reason.to_string()).or_default() += 1;
            rows.push(serde_json::json!({
                "release": release,
                "environment": environment,
                "component": spot.component,
                "ecosystem": spot.ecosystem,
                "reason": spot.reason.to_string(),
                "location": spot.location,
            }));
        }
    }
    if args.output.json {
        for r in &rows {
            println!("{r}");
        }
    } else {
        println!("{:<28} {:<48} {:<16} REASON", "RELEASE", "COMPONENT", "ECOSYSTEM");
        for r in &rows {
            println!(
                "{:<28} {:<48} {:<16} {}",
                r["release"].as_str().unwrap_or_default(),
                r["component"].as_str().unwrap_or_default(),
                r["ecosystem"].as_str().unwrap_or("-"),
                r["reason"].as_str().unwrap_or_default(),
            );
        }
        let summary: Vec<String> = by_reason.iter().map(|(r, n)| format!("{n} × {r}")).collect();
        eprintln!(
            "{} blind spot(s) in {} release(s){}",
            rows.len(),
            latest.len(),
            if summary.is_empty() { String::new() } else { format!(": {}", summary.join("; ")) }
        );
    }
    Ok(if bad == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
