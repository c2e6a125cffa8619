//! The runtime end to end on the embedded log: telemetry in the log → the trust stage (read, merge,
//! decode, score, encode, append trust scores, commit offsets) → trust scores in the log. What
//! `trustloop run` does for the highest-volume stream, on one core (the runtime is one thread).
//!
//! `cargo bench -p trustloop-benches --bench runtime` (under `cargo test`, a small smoke version).

use std::time::Instant;

use trustloop_benches::{benchmarking, fleet_telemetry};
use trustloop_connectors::log::embedded::FsyncPolicy;
use trustloop_operators::trust::TrustState;
use trustloop_runtime::backend::{Backend, BackendConfig};
use trustloop_runtime::ingest::EventWriter;
use trustloop_runtime::{Cutoff, Stage};

fn main() {
    let events: u64 = if benchmarking() { 3_000_000 } else { 20_000 };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let args =
        BackendConfig { partitions: 3, fsync: FsyncPolicy::Never, ..BackendConfig::embedded(dir.path().to_path_buf()) };
    rt.block_on(end_to_end("the embedded log (3 partitions, fsync never)", &args, events, false));
    // The same through Kafka: librdkafka's mock cluster, in this process (Tansu takes one record per
    // produce request, see the README's broker gaps), with and without transactions. Development
    // brokers: the figures say more about them than about Kafka.
    for (name, transactional) in
        [("Kafka (mock cluster, 3 partitions)", false), ("Kafka (mock cluster), one transaction per pass", true)]
    {
        let kafka = trustloop_e2e::MockKafka::start().expect("mock cluster");
        kafka.provision_trustloop_topics(3).expect("topics");
        let args = BackendConfig { brokers: Some(kafka.bootstrap_servers()), ..args.clone() };
        // The mock keeps at most ~5 MB per partition: 20,000 events each stay well inside it.
        rt.block_on(end_to_end(name, &args, (events / 50).max(3_000), transactional));
    }
}

/// Appends `events` telemetry events to `args`' log, then times one pass of the trust stage.
async fn end_to_end(name: &str, args: &BackendConfig, events: u64, transactional: bool) {
    {
        let backend = Backend::open(args).await.expect("open the log");
        let started = Instant::now();
        let mut writer = EventWriter::new(&backend, "telemetry").await.expect("writer");
        for i in 0..events {
            writer.push_at(&fleet_telemetry(i), Some(1_700_000_000_000 + (i / 1_000) as i64)).await.expect("push");
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
