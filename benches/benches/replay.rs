//! Replay: how fast the log re-derives what it recorded.
//!
//! A history of the fleet's telemetry (`fleet_telemetry`: 10,000 hosts; `TRUSTLOOP_REPLAY_EVENTS`
//! events, default 3 M) is appended to the embedded log and run through the trust and decision
//! stages (trust scores, entity verdicts). Then, timed:
//! - a full replay of the trust operator over every telemetry event (what `replay --all` does for
//!   it): events/s;
//! - `replay verdict` of the last verdict: the decision operator rebuilt from the start of the log up
//!   to its input frontier (no snapshot), compared with the recorded one.
//!
//! `cargo bench -p trustloop-benches --bench replay` (under `cargo test`, a small smoke version).

use std::time::Instant;

use trustloop_benches::{benchmarking, fleet_telemetry};
use trustloop_connectors::log::embedded::FsyncPolicy;
use trustloop_operators::decision::DecisionState;
use trustloop_operators::trust::TrustState;
use trustloop_replay::feed::{Range, Share, feed};
use trustloop_replay::{History, replay_verdict};
use trustloop_runtime::backend::{Backend, BackendConfig};
use trustloop_runtime::ingest::EventWriter;
use trustloop_runtime::{Cutoff, Stage};

fn main() {
    let events: u64 = match benchmarking() {
        true => std::env::var("TRUSTLOOP_REPLAY_EVENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(3_000_000),
        false => 20_000,
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let args =
        BackendConfig { partitions: 3, fsync: FsyncPolicy::Never, ..BackendConfig::embedded(dir.path().to_path_buf()) };
    rt.block_on(async {
        let backend = Backend::open(&args).await.expect("open the log");
        let started = Instant::now();
        let mut writer = EventWriter::new(&backend, "telemetry").await.expect("writer");
        for i in 0..events {
            writer.push(&fleet_telemetry(i)).await.expect("push");
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
        let report = replay_verdict(history, &id, |_| None).await.expect("replay the verdict");
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
