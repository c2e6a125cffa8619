//! A small throughput harness shared by the benchmarks: runs a workload repeatedly for a fixed time,
//! several rounds, and prints the median events/s (and MB/s) — the figures quoted in the README.
//!
//! Run everything with `cargo bench -p trustloop-benches`; one bench with `--bench NAME`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use trustloop_schemas::{Envelope, Event, EventId, EventTime, Telemetry};

/// The allocator the `trustloop` binary uses (mimalloc), so that the figures are what it does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Whether this run is a benchmark (`cargo bench` passes `--bench`) rather than a smoke test.
pub fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// How long one measured round runs, from `TRUSTLOOP_BENCH_SECS` (default 2 s).
pub fn round_duration() -> Duration {
    let secs = std::env::var("TRUSTLOOP_BENCH_SECS").ok().and_then(|s| s.parse::<f64>().ok()).unwrap_or(2.0);
    Duration::from_secs_f64(secs.max(0.05))
}

/// Median events/s (and MB/s when `bytes_per_event` is known) of one workload.
#[derive(Debug, Clone, Copy)]
pub struct Figure {
    /// Median events per second over the rounds.
    pub events_per_sec: f64,
    /// Slowest and fastest round, events per second.
    pub range: (f64, f64),
    /// Median megabytes (10^6 bytes) per second, when the bytes per event are known.
    pub mb_per_sec: Option<f64>,
}

/// Runs `iteration` (which processes `events_per_iter` events and returns how many bytes it moved)
/// repeatedly for [`round_duration`], 5 rounds after a warm-up, and prints one line:
/// `name: N events/s (min–max) [M MB/s]`.
pub fn measure(name: &str, events_per_iter: u64, mut iteration: impl FnMut() -> u64) -> Figure {
    if !benchmarking() {
        // Run as a test (`cargo test --all-targets`): one iteration proves the harness works.
        let start = Instant::now();
        let bytes = iteration();
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        let f = Figure { events_per_sec: events_per_iter as f64 / secs, range: (0.0, 0.0), mb_per_sec: None };
        println!("{name:<48} smoke run ok ({bytes} bytes; `cargo bench` for figures)");
        return f;
    }
    let round = round_duration();
    // Warm-up: one short round.
    let warm_until = Instant::now() + round / 4;
    while Instant::now() < warm_until {
        std::hint::black_box(iteration());
    }
    let mut rates = Vec::new();
    let mut byte_rates = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let mut events = 0u64;
        let mut bytes = 0u64;
        while start.elapsed() < round {
            bytes += std::hint::black_box(iteration());
            events += events_per_iter;
        }
        let secs = start.elapsed().as_secs_f64();
        rates.push(events as f64 / secs);
        byte_rates.push(bytes as f64 / secs / 1e6);
    }
    rates.sort_by(f64::total_cmp);
    byte_rates.sort_by(f64::total_cmp);
    let figure = Figure {
        events_per_sec: rates[2],
        range: (rates[0], rates[4]),
        mb_per_sec: (byte_rates[2] > 0.0).then_some(byte_rates[2]),
    };
    print(name, &figure);
    figure
}

/// Prints one figure line.
pub fn print(name: &str, f: &Figure) {
    let mb = f.mb_per_sec.map(|m| format!("  {m:>8.1} MB/s")).unwrap_or_default();
    println!("{name:<48} {:>12} events/s  ({} – {}){mb}", human(f.events_per_sec), human(f.range.0), human(f.range.1));
}

/// `1234567.0` → `1.23 M`.
pub fn human(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// Locks the process's memory as `trustloop run --lock-memory` does, unless
/// `TRUSTLOOP_BENCH_LOCK_MEMORY=0`; prints which. Latency benches call it first: on a VM whose host
/// reclaims freed memory a first touch of memory can take milliseconds (see the README).
pub fn lock_memory_for_latency(bench: &str) -> bool {
    if std::env::var("TRUSTLOOP_BENCH_LOCK_MEMORY").is_ok_and(|v| v == "0") {
        println!("{bench}: memory not locked (TRUSTLOOP_BENCH_LOCK_MEMORY=0)");
        return false;
    }
    match trustloop_runtime::memory::lock_memory() {
        Ok(()) => {
            println!("{bench}: memory locked, as `trustloop run --lock-memory` does");
            true
        }
        Err(e) => {
            println!("{bench}: memory not locked: {e}");
            false
        }
    }
}

/// Minor page faults of the calling thread so far (Linux; `None` elsewhere or if unreadable).
pub fn minor_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces: state is the
    // first, minflt (field 10 of the whole line) the eighth.
    stat.rsplit_once(')')?.1.split_whitespace().nth(7)?.parse().ok()
}

/// Hosts in the benchmarks' fleet.
pub const FLEET: u64 = 10_000;

/// Sample `i` of the benchmarks' fleet telemetry: 10,000 hosts, one sample each every 30 s of event
/// time; 80 % heartbeats, 10 % authentication failures, 3 % configuration drift, 2 % IDS alerts,
/// 5 % CPU load; each host's release in an attribute. The same `i` gives the same event.
pub fn fleet_telemetry(i: u64) -> Event {
    const T0: i64 = 1_793_534_400_000_000;
    let e = i % FLEET;
    let entity = format!("host-{e:05}");
    let (kind, value) = match (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % 100 {
        0..80 => ("heartbeat", 1.0),
        80..90 => ("auth_failure", 1.0),
        90..93 => ("config_drift", 1.0),
        93..95 => ("ids_alert", 1.0),
        _ => ("cpu_load", 0.42),
    };
    Event::Telemetry(Telemetry {
        envelope: Envelope {
            event_id: EventId(uuid::Uuid::from_u128(u128::from(i) + 1)),
            tenant: "acme".into(),
            key: entity.as_str().into(),
            event_time: EventTime::from_micros(T0 + (i / FLEET) as i64 * 30_000_000 + e as i64),
            source: "bench".into(),
            schema_version: 1,
        },
        entity,
        kind: kind.into(),
        value,
        attributes: BTreeMap::from([("release".to_string(), format!("app-{}@1.0.{}", e % 50, e % 3))]),
        unit: None,
    })
}
