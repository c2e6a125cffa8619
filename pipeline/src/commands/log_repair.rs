//! `trustloop log repair`: the embedded log's corrupt batches moved into quarantine files
//! ([`trustloop_connectors::log::embedded::repair()`]), each recorded on `dlq` as a dead letter.
//!
//! The repair runs first, on the data directory alone (the schema registry's own topic may be what
//! is damaged, and nothing may hold the log open meanwhile); the dead letters are written after it,
//! through the backend like any other event. They are no operator's input: replay is unchanged.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use trustloop_connectors::ledger::checkpointer::LEDGER_TENANT;
use trustloop_connectors::log::embedded::{Finding, FindingKind, RepairOptions, RepairReport, repair};
use trustloop_runtime::backend::{Backend, BackendConfig};
use trustloop_runtime::ingest::EventWriter;
use trustloop_schemas::{DeadLetter, Envelope, Event, EventTime, EventType, derive_event_id};

/// The dead letter's `error_kind` for bytes moved into a quarantine file.
pub const QUARANTINED_BATCH: &str = "quarantined_batch";
/// The dead letter's `error_kind` for offsets no batch held (nothing to move; they became a gap).
pub const MISSING_OFFSETS: &str = "missing_offsets";

/// The dead letter recording `finding` of a repair made at `repaired_at_ms`.
pub fn dead_letter(finding: &Finding, repaired_at_ms: i64) -> Event {
    let sha = finding.sha256.as_deref().unwrap_or_default();
    let id = derive_event_id(
        "log-repair",
        &[
            finding.topic.as_bytes(),
            &finding.partition.to_be_bytes(),
            finding.segment.to_string_lossy().as_bytes(),
            &finding.position.to_be_bytes(),
            sha.as_bytes(),
        ],
    );
    let mut reason = finding.describe();
    if !sha.is_empty() {
        reason.push_str(&format!(" (sha256 {sha})"));
    }
    Event::DeadLetter(DeadLetter {
        envelope: Envelope {
            event_id: id,
            tenant: LEDGER_TENANT.into(),
            key: finding.topic.as_str().into(),
            event_time: EventTime::from_micros(repaired_at_ms.saturating_mul(1000)),
            source: "trustloop.log-repair".into(),
            schema_version: EventType::DeadLetter.schema_version(),
        },
        source_topic: finding.topic.clone(),
        source_partition: i32::try_from(finding.partition).ok(),
        source_offset: Some(finding.offsets.map_or(finding.at_offset, |(from, _)| from)),
        line: None,
        error_kind: match finding.kind {
            FindingKind::MissingOffsets => MISSING_OFFSETS,
            FindingKind::Corrupt | FindingKind::TornTail => QUARANTINED_BATCH,
        }
        .to_string(),
        reason,
        // The bytes are in the quarantine file the reason names (and its SHA-256 with them).
        payload: Vec::new(),
    })
}

/// Runs `trustloop log repair [--dry-run]`; prints what it found (and did).
pub async fn run(config: &BackendConfig, dry_run: bool, json: bool) -> Result<ExitCode> {
    if config.brokers.is_some() {
        bail!(
            "`log repair` works on the embedded log only: on Kafka the brokers own the segments \
             (`trustloop log verify` reports breaks on either backend)"
        );
    }
    let data = config.data.clone();
    let report = tokio::task::spawn_blocking(move || repair(&data, RepairOptions { dry_run }))
        .await?
        .with_context(|| format!("cannot repair the embedded log in {}", config.data.display()))?;
    let recorded = if dry_run || report.is_clean() {
        0
    } else {
        record(config, &report).await.with_context(|| {
            format!(
                "the log was repaired (the quarantine files are under {}, each with a .json saying what it held), \
                 but recording the repair on dlq failed",
                config.data.join("quarantine").display()
            )
        })?
    };
    if json {
        let mut value = serde_json::to_value(&report)?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("dead_letters".into(), recorded.into());
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", render(&report, recorded));
    }
    Ok(ExitCode::SUCCESS)
}

/// Appends one dead letter per finding to `dlq`; returns how many.
async fn record(config: &BackendConfig, report: &RepairReport) -> Result<u64> {
    let backend = Backend::open(config).await?;
    let mut dlq = EventWriter::new(&backend, EventType::DeadLetter.topic()).await?;
    for f in &report.findings {
        dlq.push(&dead_letter(f, report.repaired_at_ms)).await?;
    }
    Ok(dlq.flush().await?)
}

/// The report as text: a summary line, then one line per finding.
fn render(report: &RepairReport, recorded: u64) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let read =
        format!("{} partitions, {} segments, {} good batches read", report.partitions, report.segments, report.batches);
    let title = if report.dry_run { "log repair --dry-run of" } else { "log repair of" };
    if report.is_clean() {
        let _ = writeln!(out, "{title} {}: {read}; nothing to repair", report.dir.display());
        return out;
    }
    let quarantined: Vec<&Finding> = report.quarantined().collect();
    let bytes: u64 = quarantined.iter().map(|f| f.length).sum();
    let _ = writeln!(
        out,
        "{title} {}: {read}; {} {} ({bytes} bytes), {} gap{} {}{}",
        report.dir.display(),
        if report.dry_run { "would quarantine" } else { "quarantined" },
        plural(quarantined.len(), "batch", "batches"),
        report.gaps.len(),
        if report.gaps.len() == 1 { "" } else { "s" },
        if report.dry_run { "to record; nothing changed" } else { "recorded" },
        if report.dry_run {
            String::new()
        } else {
            format!(", {} on dlq", plural(recorded as usize, "dead letter", "dead letters"))
        },
    );
    for f in &report.findings {
        let what = match f.kind {
            FindingKind::Corrupt => "corrupt",
            FindingKind::TornTail => "torn tail",
            FindingKind::MissingOffsets => "missing",
        };
        let _ = writeln!(out, "  {what}: {}", f.describe());
    }
    out
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
