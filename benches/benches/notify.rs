//! Notify rule evaluation: 100 rules (kinds, outcomes, service and subject patterns, severities,
//! throttles, a few digests) over a stream of verdicts and findings-like flips, one tenant. Reports
//! rule evaluations per second (events × rules ÷ seconds) on one core — the target is ≥ 10,000 —
//! and the notifications derived.
//!
//! `cargo bench -p trustloop-benches --bench notify` (under `cargo test` it runs a short smoke
//! version).

use std::time::Instant;

use trustloop_benches::benchmarking;
use trustloop_operators::input::Input;
use trustloop_operators::notify::{NotifyState, rules};
use trustloop_schemas::{Envelope, Event, EventId, EventTime, EventType, NotifyRules, Outcome, SubjectKind, Verdict};

const T0: i64 = 1_793_534_400_000_000; // 2026-11-01T12:00:00Z
const RULES: usize = 100;

fn envelope(n: u64, key: &str, at: i64) -> Envelope {
    Envelope {
        event_id: EventId(uuid::Uuid::from_u128(u128::from(n) + 1)),
        tenant: "bench".into(),
        key: key.into(),
        event_time: EventTime::from_micros(at),
        source: "bench".into(),
        schema_version: 1,
    }
}

/// 100 rules: most match one service of 50 and a FAIL or WARN; every tenth throttled; every 25th a
/// digest; a few catch-alls on kinds that the stream does not carry.
fn rules_yaml() -> String {
    let mut y = String::from("api_version: trustloop/v1\nname: bench\nrules:\n");
    for i in 0..RULES {
        let outcome = if i % 2 == 0 { "fail" } else { "warn" };
        y.push_str(&format!(
            "  - id: r{i}\n    match: {{kinds: [verdict], outcomes: [{outcome}], services: ['svc-{}*'], subjects: ['*@prod']}}\n    channels: [c{}]\n",
            i % 50,
            i % 3
        ));
        if i % 10 == 0 {
            y.push_str("    throttle: {max: 3, per: 10m}\n");
        }
        if i % 25 == 0 {
            y.push_str("    digest: 5m\n");
        }
    }
    y
}

fn main() {
    let events: u64 = if benchmarking() { 200_000 } else { 2_000 };
    let yaml = rules_yaml();
    let doc = rules::parse(&yaml).expect("valid rules");
    let rules_event = Event::NotifyRules(NotifyRules {
        envelope: envelope(0, "bench", T0),
        name: doc.name.clone(),
        version: 1,
        digest: doc.digest(),
        format: "yaml".into(),
        document: yaml,
    });
    let mut state = NotifyState::new();
    state.apply(&Input::new("notify-rules", 0, 0, &rules_event));
    let stream: Vec<Event> = (1..=events)
        .map(|n| {
            let subject = format!("svc-{}@{}@{}", n % 60, n % 7, if n % 3 == 0 { "staging" } else { "prod" });
            Event::Verdict(Verdict {
                envelope: envelope(n, &subject, T0 + n as i64 * 10_000),
                subject,
                subject_kind: SubjectKind::Release,
                outcome: [Outcome::Pass, Outcome::Warn, Outcome::Fail][n as usize % 3],
                previous: None,
                reasons: vec![],
                policy_digest: "p".into(),
                input_frontier: vec![],
                evidence_digest: "e".into(),
            })
        })
        .collect();
    let topic = EventType::Verdict.topic();
    let started = Instant::now();
    let mut notifications = 0usize;
    for (i, e) in stream.iter().enumerate() {
        notifications += state.apply(&Input::new(topic, 0, i as i64, e)).len();
    }
    let secs = started.elapsed().as_secs_f64();
    let evaluations = events as f64 * RULES as f64;
    println!(
        "notify: {events} verdicts × {RULES} rules in {secs:.3} s: {:.0} rule evaluations/s ({:.0} events/s), {notifications} notifications",
        evaluations / secs,
        events as f64 / secs
    );
    assert!(notifications > 0, "the stream matches some rules");
}
