//! Replay: how fast the log re-derives what it recorded.
//!
//! A history of telemetry (10,000 hosts, a sample every 30 s of event time; `TRUSTLOOP_REPLAY_EVENTS`
//! events, default 3 M) is appended to the embedded log and run through the trust and decision
//! stages (trust scores, entity verdicts). Then, timed:
//! - a full replay of the trust operator over every telemetry event (what `replay --all` does for
//!   it): events/s;
//! - `replay verdict` of the last verdict: the decision operator rebuilt from the start of the log up
//!   to its input frontier (no snapshot), compared with the recorded one.
//!
//! `cargo bench -p trustloop-benches --bench replay` (under `cargo test`, a small smoke version).

use std::collections::BTreeMap;
use std::time::Instant;

use trustloop::backend::{Backend, BackendArgs};
use trustloop::ingest::EventWriter;
use trustloop::runtime::{Cutoff, Stage};
use trustloop_benches::benchmarking;
use trustloop_operators::decision::DecisionState;
use trustloop_operators::trust::TrustState;
use trustloop_replay::feed::{Range, Share, feed};
use trustloop_replay::{History, replay_verdict};
use trustloop_schemas::{Envelope, Event, EventId, EventTime, Telemetry};

const ENTITIES: u64 = 10_000;
const T0: i64 = 1_793_534_400_000_000;

fn telemetry(i: u64) -> Event {
    let e = i % ENTITIES;
    let entity = format!("host-{e:05}");
    let r = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % 100;
    let (kind, value) = match r {
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
            event_time: EventTime::from_micros(T0 + (i / ENTITIES) as i64 * 30_000_000 + e as i64),
            source: "bench".into(),
            schema_version: 1,
        },
        entity,
        kind: kind.into(),
        value,
        attributes: BTreeMap::new(),
        unit: None,
    })
}

fn main() {
    let events: u64 = match benchmarking() {
        true => std::env::var("TRUSTLOOP_REPLAY_EVENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(3_000_000),
        false => 20_000,
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let args = BackendArgs { partitions: 3, fsync: "never".into(), ..BackendArgs::embedded(dir.path().to_path_buf()) };
    rt.block_on(async {
        let backend = Backend::open(&args).await.expect("open the log");
        let started = Instant::now();
        let mut writer = EventWriter::new(&backend, "telemetry").await.expect("writer");
        for i in 0..events {
            writer.push(&telemetry(i)).await.expect("push");
        }
        writer.flush().await.expect("flush");
        let mut trust = Stage::new(&backend, Box::new(TrustState::new())).await.expect("trust stage");
        let mut decision = Stage::new(&backend, Box::new(DecisionState::new())).await.expect("decision stage");
        while trust.pass(&backend, &Cutoff::new()).await.expect("trust pass") > 0 {}
        while decision.pass(&backend, &Cutoff::new()).await.expect("decision pass") > 0 {}
        println!(
            "replay: history of {events} telemetry events → {} trust scores → {} verdicts and actions, built in {:.1} s",
            trust.stats.written,
            decision.stats.written,
            started.elapsed().as_secs_f64()
        );
        let history = History { log: &backend.log, codec: &backend.codec, writers: &*backend.registry };

        // The trust operator over the whole history.
        let ends = backend.log.end_offsets("telemetry").await.expect("ends");
        let ranges: Vec<Range> = ends
            .iter()
            .enumerate()
            .map(|(p, end)| Range { topic: "telemetry".into(), partition: p as u32, from: 0, until: *end })
            .collect();
        let mut op = TrustState::new();
        let mut derived = 0u64;
        let started = Instant::now();
        let stats = feed(history, &mut op, &ranges, Share::ALL, &mut |a| derived += a.outputs.len() as u64)
            .await
            .expect("replay");
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(stats.applied, events, "every event replayed");
        assert_eq!(derived, trust.stats.written, "the same trust scores");
        println!(
            "replay: trust operator over the whole history: {:.2} M events/s ({events} events in {secs:.2} s, {derived} \
             trust scores re-derived)",
            events as f64 / secs / 1e6
        );

        // The last verdict, from the start of the log.
        let mut last = None;
        for (p, o) in backend.log.offsets("verdicts").await.expect("offsets").iter().enumerate() {
            if o.end > o.start {
                let r = backend.log.read("verdicts", p as u32, o.end - 1, 1).await.expect("read");
                let e = backend.codec.decode(&r[0].value, &*backend.registry).expect("decode");
                if last.as_ref().is_none_or(|(t, _)| *t < r[0].timestamp_ms) {
                    last = Some((r[0].timestamp_ms, e.envelope().event_id));
                }
            }
        }
        let (_, id) = last.expect("a verdict");
        let started = Instant::now();
        let report = replay_verdict(history, &id, None).await.expect("replay the verdict");
        let secs = started.elapsed().as_secs_f64();
        assert!(report.matched, "the last verdict replays: {:?}", report.first_difference);
        println!(
            "replay: the last verdict from the start of the log (no snapshot): {:.0} ms ({} decision inputs applied, \
             MATCH; the history holds {events} telemetry events)",
            secs * 1e3,
            report.stats.applied
        );
    });
}
