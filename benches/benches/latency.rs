//! Event → verdict latency through Kafka at a steady input rate: a producer appends telemetry at
//! 10,000 events/s — heartbeats of a fleet of 5,000 hosts, and one sample in a hundred an
//! authentication failure of a host never seen before, which gives a trust score and that host's
//! first verdict (as do the fleet's first heartbeats) — the runtime (impact, trust, decision and
//! enforcement stages, polling the log as `trustloop run --poll-ms N` does) derives them, and a
//! consumer tails `verdicts`.
//!
//! Latency of a verdict = the wall-clock time the consumer sees it minus its record's timestamp,
//! which is the log time of the telemetry sample that caused it (derived events carry their
//! cause's log time, and the producer's records carry the time they were produced). So it spans
//! produce → broker → runtime (trust, then decision) → broker → a consumer.
//!
//! `cargo bench -p trustloop-benches --bench latency` (under `cargo test`, a short smoke version).
//! `TRUSTLOOP_BENCH_RATE` sets the input rate (default 10,000 events/s), `TRUSTLOOP_BENCH_POLL_MS`
//! the runtime's idle poll interval (default 10 ms).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use trustloop_benches::benchmarking;
use trustloop_runtime::backend::{Backend, BackendConfig};
use trustloop_runtime::ingest::EventWriter;
use trustloop_runtime::{graph, run_until_idle};
use trustloop_schemas::{Envelope, Event, EventId, EventTime, Telemetry};

/// Events per produce batch (one batch every `BATCH / RATE` seconds).
const BATCH: u64 = 500;
/// Hosts sending heartbeats.
const FLEET: u64 = 5_000;

fn telemetry(i: u64) -> Event {
    let (entity, kind) = match i % 100 {
        0 => (format!("new-{i:07}"), "auth_failure"),
        _ => (format!("host-{:05}", i % FLEET), "heartbeat"),
    };
    Event::Telemetry(Telemetry {
        envelope: Envelope {
            event_id: EventId(uuid::Uuid::from_u128(u128::from(i) + 1)),
            tenant: "acme".into(),
            key: entity.as_str().into(),
            event_time: EventTime::from_micros(1_793_534_400_000_000 + i as i64),
            source: "bench".into(),
            schema_version: 1,
        },
        entity,
        kind: kind.into(),
        value: 1.0,
        attributes: Default::default(),
        unit: None,
    })
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

fn main() {
    let seconds: u64 = if benchmarking() { 5 } else { 1 };
    let setting = |name: &str, default: u64| std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default);
    let poll = Duration::from_millis(setting("TRUSTLOOP_BENCH_POLL_MS", 10));
    let rate = setting("TRUSTLOOP_BENCH_RATE", 10_000).max(BATCH);
    let kafka = trustloop_e2e::MockKafka::start().expect("mock cluster");
    kafka.provision_trustloop_topics(3).expect("topics");
    let args = BackendConfig {
        brokers: Some(kafka.bootstrap_servers()),
        partitions: 3,
        ..BackendConfig::embedded(std::path::PathBuf::from("unused"))
    };
    let events = seconds * rate;
    let stop = Arc::new(AtomicBool::new(false));

    // The runtime: every stage, pass after pass; when a pass finds nothing, wait `poll`.
    let pipeline = {
        let (args, stop) = (args.clone(), stop.clone());
        std::thread::spawn(move || {
            runtime().block_on(async {
                let backend = Backend::open(&args).await.expect("open");
                let mut stages = graph::stages(&backend).await.expect("stages");
                let mut passes = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let report = run_until_idle(&backend, &mut stages, &mut [], 1_000_000).await.expect("run");
                    passes += u64::from(report.passes);
                    tokio::time::sleep(poll).await;
                }
                passes
            })
        })
    };

    // The consumer: tails `verdicts`, noting each one's log time and latency when first visible.
    let consumer = {
        let (args, stop) = (args.clone(), stop.clone());
        std::thread::spawn(move || {
            runtime().block_on(async {
                let backend = Backend::open(&args).await.expect("open");
                let mut positions = [0i64; 3];
                let mut seen: Vec<(i64, i64)> = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let ends = backend.log.end_offsets("verdicts").await.expect("end offsets");
                    let mut idle = true;
                    for (p, end) in ends.iter().enumerate() {
                        while positions[p] < *end {
                            let records =
                                backend.log.read("verdicts", p as u32, positions[p], 10_000).await.expect("read");
                            let Some(last) = records.last() else { break };
                            positions[p] = last.offset + 1;
                            let now = now_ms();
                            seen.extend(records.iter().map(|r| (r.timestamp_ms, now - r.timestamp_ms)));
                            idle = false;
                        }
                    }
                    if idle {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
                seen
            })
        })
    };

    // The producer: `BATCH` events every `BATCH / rate` seconds, on schedule. First one second of
    // warm-up (the fleet's first heartbeats, the clients' connections), a pause for the runtime to
    // settle, then the measured `seconds`.
    let rt = runtime();
    let (measured_from, produced) = rt.block_on(async {
        let backend = Backend::open(&args).await.expect("open");
        let mut writer = EventWriter::new(&backend, "telemetry").await.expect("writer");
        let mut i = 0u64;
        let mut produce = async |until: u64| {
            let started = Instant::now();
            let first = i;
            while i < until {
                for _ in 0..BATCH {
                    writer.push(&telemetry(i)).await.expect("push");
                    i += 1;
                }
                writer.flush().await.expect("flush");
                let due = started + Duration::from_secs_f64((i - first) as f64 / rate as f64);
                tokio::time::sleep_until(due.into()).await;
            }
            started.elapsed()
        };
        produce(rate).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let from = now_ms();
        let took = produce(rate + events).await;
        (from, took)
    });
    // Let the last ones through, then stop.
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let passes = pipeline.join().expect("pipeline thread");
    let seen = consumer.join().expect("consumer thread");
    drop(kafka);
    let mut latencies: Vec<i64> = seen.iter().filter(|(at, _)| *at >= measured_from).map(|(_, l)| *l).collect();

    let achieved = events as f64 / produced.as_secs_f64();
    latencies.sort_unstable();
    let pct = |q: f64| latencies.get(((latencies.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(-1);
    println!(
        "latency: telemetry → trust score → verdict through Kafka (mock cluster, 3 partitions), {:.0} events/s \
         offered for {seconds} s after a warm-up, runtime polling every {} ms when idle: {} verdicts, p50 {} ms, p99 {} ms, \
         max {} ms ({passes} passes)",
        achieved,
        poll.as_millis(),
        latencies.len(),
        pct(0.5),
        pct(0.99),
        latencies.last().copied().unwrap_or(-1),
    );
    assert!(latencies.len() as u64 >= events / 100, "a verdict for every new host at least");
    assert!(seen.len() > latencies.len(), "the warm-up gave verdicts too");
}
