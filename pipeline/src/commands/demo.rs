//! `trustloop demo`: the main job on the embedded default.
//!
//! Today it runs the collect stage of the loop: a fleet of hosts produces telemetry through the same
//! ingestion path as `trustloop produce` (a few hosts misbehave, a few lines are malformed and end in
//! `dlq`), then everything is read back from the log, decoded and checked against what was sent.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use trustloop_schemas::json::IngestDefaults;
use trustloop_schemas::{Event, EventType};

use crate::backend::{Backend, BackendArgs};
use crate::cli::OutputArgs;
use crate::ingest::ingest_lines;

/// Arguments of `trustloop demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Hosts in the simulated fleet.
    #[arg(long, default_value_t = 300)]
    pub entities: u32,
    /// Telemetry samples per host.
    #[arg(long, default_value_t = 20)]
    pub samples: u32,
    /// Seed of the fleet simulation (same seed, same events, same event ids).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[command(flatten)]
    output: OutputArgs,
}

/// A small deterministic generator (SplitMix64), so the demo's events are the same on every run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The fleet's telemetry as JSON lines, plus the malformed lines a real feed also carries.
fn fleet_lines(entities: u32, samples: u32, seed: u64) -> (String, u64, Vec<String>) {
    let mut rng = SplitMix(seed);
    let misbehaving: Vec<u32> = (0..entities.div_ceil(60)).map(|_| rng.below(u64::from(entities)) as u32).collect();
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").map(|t| t.timestamp()).unwrap_or(0);
    let mut out = String::new();
    let mut good = 0u64;
    for s in 0..samples {
        for e in 0..entities {
            let bad = misbehaving.contains(&e);
            let (kind, value) = match rng.below(100) {
                r if bad && r < 45 => ("auth_failure", 1.0 + rng.below(20) as f64),
                r if bad && r < 60 => ("ids_alert", 1.0),
                r if bad && r < 65 => ("attestation_failure", 1.0),
                0 | 1 => ("auth_failure", 1.0),
                2 => ("config_drift", 1.0),
                _ => ("heartbeat", 1.0),
            };
            let t = chrono::DateTime::from_timestamp(start + i64::from(s) * 60 + i64::from(e % 60), 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default();
            let line = serde_json::json!({
                "tenant": "acme",
                "entity": format!("host-{e:03}"),
                "kind": kind,
                "value": value,
                "event_time": t,
                "attributes": {"site": format!("dc-{}", e % 3), "sensor": if kind == "ids_alert" { "suricata" } else { "agent" }},
            });
            out.push_str(&line.to_string());
            out.push('\n');
            good += 1;
        }
    }
    let malformed = vec![
        r#"{"tenant":"acme","entity":"host-001","kind":"auth_failure","value":"#.to_string(),
        r#"{"tenant":"acme","entity":"host-002","kind":"auth_failure","value":"many","event_time":"2026-11-01T00:00:00Z"}"#
            .to_string(),
        r#"{"tenant":"acme","kind":"heartbeat","value":1.0,"event_time":"2026-11-01T00:00:00Z"}"#.to_string(),
    ];
    for m in &malformed {
        out.push_str(m);
        out.push('\n');
    }
    (out, good, malformed)
}

/// Runs the demo and prints its summary.
pub async fn run(backend_args: &BackendArgs, args: DemoArgs) -> Result<ExitCode> {
    let backend = Backend::open(backend_args).await?;
    let topic = EventType::Telemetry.topic();
    let dlq = EventType::DeadLetter.topic();
    let before = backend.log.end_offsets(topic).await?;
    let dlq_before = backend.log.end_offsets(dlq).await?;

    let (lines, expected_good, malformed) = fleet_lines(args.entities, args.samples, args.seed);
    let defaults = IngestDefaults { tenant: None, source: "demo".into(), now_micros: super::now_micros() };
    let started = Instant::now();
    let report = ingest_lines(&backend, topic, EventType::Telemetry, lines.as_bytes(), &defaults).await?;
    let ingest_secs = started.elapsed().as_secs_f64();

    // Read back everything this run appended and check it against what was sent.
    let started = Instant::now();
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    let mut auth_failures: BTreeMap<String, f64> = BTreeMap::new();
    let mut read_back = 0u64;
    let after = backend.log.end_offsets(topic).await?;
    for (p, (from, to)) in before.iter().zip(&after).enumerate() {
        let mut pos = *from;
        while pos < *to {
            let records = backend.log.read(topic, p as u32, pos, 10_000).await?;
            if records.is_empty() {
                bail!("{topic}/{p}: nothing readable at offset {pos} below end offset {to}");
            }
            for r in &records {
                pos = r.offset + 1;
                if let Event::Telemetry(t) = backend.codec.decode(&r.value, &*backend.registry)? {
                    read_back += 1;
                    *by_kind.entry(t.kind.clone()).or_default() += 1;
                    if t.kind == "auth_failure" {
                        *auth_failures.entry(t.entity.clone()).or_default() += t.value;
                    }
                }
            }
        }
    }
    let read_secs = started.elapsed().as_secs_f64();
    let dlq_after = backend.log.end_offsets(dlq).await?;
    let dead_letters: i64 = dlq_after.iter().zip(&dlq_before).map(|(a, b)| a - b).sum();

    let mut noisiest: Vec<(String, f64)> = auth_failures.into_iter().collect();
    noisiest.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    noisiest.truncate(5);

    let ok = report.appended == expected_good
        && read_back == expected_good
        && report.rejected.len() == malformed.len()
        && dead_letters == malformed.len() as i64;
    let summary = serde_json::json!({
        "backend": backend.log.backend(),
        "events_in": report.lines,
        "appended": report.appended,
        "read_back": read_back,
        "rejected": report.rejected,
        "dead_letters": dead_letters,
        "by_kind": by_kind,
        "most_auth_failures": noisiest.iter().map(|(e, n)| serde_json::json!({"entity": e, "auth_failures": n})).collect::<Vec<_>>(),
        "ingest_events_per_sec": (report.appended as f64 / ingest_secs.max(1e-9)).round(),
        "read_events_per_sec": (read_back as f64 / read_secs.max(1e-9)).round(),
        "consistent": ok,
    });
    if args.output.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("trustloop demo — embedded log in {}", backend_args.data.display());
        println!(
            "  collect: {} telemetry lines in, {} appended, {} rejected → dlq",
            report.lines,
            report.appended,
            report.rejected.len()
        );
        for r in &report.rejected {
            println!("    line {}: {}", r.line, r.reason);
        }
        println!("  read back: {read_back} events decoded from the log ({} dead letters)", dead_letters);
        for (kind, n) in &by_kind {
            println!("    {kind:<22} {n:>8}");
        }
        println!("  most auth failures:");
        for (e, n) in &noisiest {
            println!("    {e:<22} {n:>8}");
        }
        println!(
            "  throughput: ingest {:.0} events/s, read {:.0} events/s",
            report.appended as f64 / ingest_secs.max(1e-9),
            read_back as f64 / read_secs.max(1e-9)
        );
        println!(
            "  {}",
            if ok { "consistent: every event sent was read back" } else { "INCONSISTENT: see counts above" }
        );
        println!(
            "  inspect: trustloop --data {} consume --topic telemetry --from-beginning --max 5",
            backend_args.data.display()
        );
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
