//! The demo fleet: hosts running the demo's releases, reporting telemetry every five minutes for
//! twelve hours of event time. A few hosts misbehave for the first four hours (bursts of failed
//! logins, IDS alerts) and then behave again, so their trust falls, enforcement acts, and trust
//! recovers and the actions are reverted. A few lines are malformed, as in any real feed.

use chrono::{DateTime, SecondsFormat};

/// A small deterministic generator (SplitMix64), so the demo's events are the same on every run.
pub(super) struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n`.
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Seconds between two samples of a host.
pub(super) const TICK_SECS: i64 = 300;
/// Samples per host (twelve hours).
pub(super) const TICKS: i64 = 144;
/// Ticks during which the misbehaving hosts misbehave (four hours).
pub(super) const BAD_TICKS: i64 = 48;

/// The fleet's telemetry.
pub(super) struct Fleet {
    /// JSON lines, in time order.
    pub lines: String,
    /// How many of them are well-formed.
    pub good: u64,
    /// The malformed lines mixed in.
    pub malformed: Vec<String>,
    /// The misbehaving hosts.
    pub misbehaving: Vec<String>,
}

/// Generates the telemetry of `entities` hosts starting at `start` (Unix seconds); host `i` runs
/// `releases[i % releases.len()]`.
pub(super) fn telemetry(entities: u32, seed: u64, start: i64, releases: &[String]) -> Fleet {
    let mut rng = SplitMix(seed);
    let mut bad: Vec<u32> = Vec::new();
    while bad.len() < (entities as usize).div_ceil(16).min(entities as usize) {
        let e = rng.below(u64::from(entities)) as u32;
        if !bad.contains(&e) {
            bad.push(e);
        }
    }
    bad.sort_unstable();
    let mut lines = String::new();
    let mut good = 0u64;
    let mut push = |line: serde_json::Value, lines: &mut String| {
        lines.push_str(&line.to_string());
        lines.push('\n');
        good += 1;
    };
    for tick in 0..TICKS {
        for e in 0..entities {
            let at = start + tick * TICK_SECS + i64::from(e % 60);
            let t = DateTime::from_timestamp(at, 0)
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_default();
            let entity = format!("host-{e:03}");
            let release = releases.get(e as usize % releases.len().max(1)).cloned().unwrap_or_default();
            let attrs = serde_json::json!({"site": format!("dc-{}", e % 3), "release": release});
            let sample = |kind: &str, value: f64| {
                serde_json::json!({
                    "tenant": "acme", "entity": entity, "kind": kind, "value": value,
                    "event_time": t, "attributes": attrs, "source": "demo-agent",
                })
            };
            push(sample("heartbeat", 1.0), &mut lines);
            let misbehaving = bad.binary_search(&e).is_ok() && tick < BAD_TICKS;
            let r = rng.below(1000);
            if misbehaving {
                // A credential-stuffing burst: failed logins every five minutes, IDS alerts often.
                push(sample("auth_failure", 3.0 + rng.below(6) as f64), &mut lines);
                if r < 100 {
                    push(sample("ids_alert", 1.0), &mut lines);
                }
            } else if r < 4 {
                push(sample("auth_failure", 1.0), &mut lines);
            } else if r == 4 {
                push(sample("config_drift", 1.0), &mut lines);
            }
        }
    }
    let malformed = vec![
        r#"{"tenant":"acme","entity":"host-001","kind":"auth_failure","value":"#.to_string(),
        r#"{"tenant":"acme","entity":"host-002","kind":"auth_failure","value":"many","event_time":"2026-11-01T00:00:00Z"}"#
            .to_string(),
        r#"{"tenant":"acme","kind":"heartbeat","value":1.0,"event_time":"2026-11-01T00:00:00Z"}"#.to_string(),
    ];
    for m in &malformed {
        lines.push_str(m);
        lines.push('\n');
    }
    Fleet { lines, good, malformed, misbehaving: bad.iter().map(|e| format!("host-{e:03}")).collect() }
}
