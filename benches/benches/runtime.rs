//! The runtime end to end on the embedded log: telemetry in the log → the trust stage (read, merge,
//! decode, score, encode, append trust scores, commit offsets) → trust scores in the log. What
//! `trustloop run` does for the highest-volume stream, on one core (the runtime is one thread).
//!
//! `cargo bench -p trustloop-benches --bench runtime` (under `cargo test`, a small smoke version).

use std::collections::BTreeMap;
use std::time::Instant;

use trustloop::backend::{Backend, BackendArgs};
use trustloop::ingest::EventWriter;
use trustloop::runtime::{Cutoff, Stage};
use trustloop_benches::benchmarking;
use trustloop_operators::trust::TrustState;
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
        attributes: BTreeMap::from([("release".to_string(), format!("app-{}@1.0.{}", e % 50, e % 3))]),
        unit: None,
    })
}

fn main() {
    let events: u64 = if benchmarking() { 3_000_000 } else { 20_000 };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let args = BackendArgs { partitions: 3, fsync: "never".into(), ..BackendArgs::embedded(dir.path().to_path_buf()) };
    rt.block_on(end_to_end("the embedded log (3 partitions, fsync never)", &args, events, false));
    // The same through Kafka: librdkafka's mock cluster, in this process (Tansu takes one record per
    // produce request, see the README's broker gaps), with and without transactions. Development
    // brokers: the figures say more about them than about Kafka.
    for (name, transactional) in
        [("Kafka (mock cluster, 3 partitions)", false), ("Kafka (mock cluster), one transaction per pass", true)]
    {
        let kafka = trustloop_e2e::MockKafka::start().expect("mock cluster");
        kafka.provision_trustloop_topics(3).expect("topics");
        let args = BackendArgs { brokers: Some(kafka.bootstrap_servers()), ..args.clone() };
        // The mock keeps at most ~5 MB per partition: 20,000 events each stay well inside it.
        rt.block_on(end_to_end(name, &args, (events / 50).max(3_000), transactional));
    }
}

/// Appends `events` telemetry events to `args`' log, then times one pass of the trust stage.
async fn end_to_end(name: &str, args: &BackendArgs, events: u64, transactional: bool) {
    {
        let backend = Backend::open(args).await.expect("open the log");
        let started = Instant::now();
        let mut writer = EventWriter::new(&backend, "telemetry").await.expect("writer");
        for i in 0..events {
            writer.push_at(&telemetry(i), Some(1_700_000_000_000 + (i / 1_000) as i64)).await.expect("push");
        }
        writer.flush().await.expect("flush");
        println!("runtime: {events} telemetry events appended to {name} in {:.2} s", started.elapsed().as_secs_f64());
        let mut stage = Stage::new(&backend, Box::new(TrustState::new())).await.expect("stage");
        stage.set_transactional(transactional);
        let started = Instant::now();
        // Passes until everything is applied (a Kafka read may end a pass early; the next goes on).
        let mut applied = 0;
        let mut passes = 0;
        while applied < events && passes < 1_000 {
            applied += stage.pass(&backend, &Cutoff::new()).await.expect("pass");
            passes += 1;
        }
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(applied, events, "every event applied");
        println!(
            "runtime: {name}: telemetry → trust stage → trust-scores, end to end: {:.0} k events/s ({applied} events \
             in {secs:.2} s, {passes} pass(es), {} trust scores written, offsets committed)",
            applied as f64 / secs / 1e3,
            stage.stats.written
        );
    }
}
