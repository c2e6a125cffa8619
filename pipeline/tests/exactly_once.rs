//! Exactly once through crashes, on the embedded log and on a real Kafka-protocol broker (Tansu,
//! started by the test).
//!
//! **Kill -9 verifier** (after Kafka Streams' EOS system test): the demo's inputs (a smaller fleet, no
//! enforcement adapters) are appended to a log; `trustloop run` is started on it and killed with
//! SIGKILL at seeded random moments, several times, each time started again; a last
//! `trustloop run --until-idle` finishes the work. Then every derived event a straight run (on a
//! copy of the same log, or on the embedded log for the broker case) derives must exist exactly once
//! — counted by its deterministic event id — and nothing else may: no output lost, none doubled, no
//! input skipped.
//!
//! **The crash window, exactly**: random kills rarely land between a stage's writing its outputs and
//! committing its input offsets, so that moment is also reproduced deterministically — a straight
//! run, then every stage's committed offsets (inputs and output marks) rolled back to the start, as
//! if the process had died after writing everything and before its first commit — and the next run
//! must recognise every output as written and write nothing again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use trustloop::commands::demo::DemoInputs;
use trustloop_connectors::log::embedded::FsyncPolicy;
use trustloop_connectors::log::{Record, TopicPartitionOffset};
use trustloop_runtime::backend::{Backend, BackendConfig};

mod support;

/// Hosts in the fleet: enough telemetry that a run takes a few seconds.
const ENTITIES: u32 = 400;
const SEED: u64 = 11;
/// Most kills per scenario (fewer when the work is done before).
const KILLS: usize = 8;
/// Every topic the runtime writes (without adapters: no action results).
const DERIVED: [&str; 5] = ["findings", "trust-scores", "verdicts", "actions", "dlq"];

/// One record per producer batch: Tansu 0.6 miscounts the high watermark of multi-record batches
/// (see `tests/broker_gaps.rs`).
const TANSU_BATCHES: &str = "batch.num.messages=1";

/// Where the log lives.
#[derive(Clone)]
enum Target {
    Embedded(PathBuf),
    Kafka(String),
}

impl Target {
    fn args(&self) -> BackendConfig {
        match self {
            Target::Embedded(dir) => {
                BackendConfig { partitions: 3, fsync: FsyncPolicy::Never, ..BackendConfig::embedded(dir.clone()) }
            }
            Target::Kafka(brokers) => BackendConfig {
                brokers: Some(brokers.clone()),
                kafka_options: vec![TANSU_BATCHES.to_string()],
                ..BackendConfig::embedded("unused")
            },
        }
    }

    fn command(&self) -> Command {
        let mut cmd = support::cli();
        match self {
            Target::Embedded(dir) => {
                cmd.arg("--data").arg(dir).args(["--partitions", "3", "--fsync", "never"]);
            }
            Target::Kafka(brokers) => {
                cmd.args(["--brokers", brokers.as_str(), "--partitions", "3", "-X", TANSU_BATCHES]);
            }
        }
        cmd
    }

    /// `trustloop run --until-idle`; returns its JSON report.
    fn run_until_idle(&self) -> Value {
        let out = self.command().args(["run", "--until-idle", "--json"]).output().expect("run trustloop");
        assert!(out.status.success(), "trustloop run failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("JSON report")
    }

    /// Starts `trustloop run` (the service) and kills it with SIGKILL at `at`, or as soon as it has
    /// written something new if that comes first (`None`: only then); returns how long it ran.
    fn run_and_kill(&self, at: Option<Duration>) -> Duration {
        let rt = runtime();
        let backend = rt.block_on(Backend::open(&self.args())).expect("open the log");
        let written = || records_in(&rt, &backend, &DERIVED);
        let before = written();
        let mut child = self
            .command()
            .args(["run", "--poll-ms", "100"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start trustloop run");
        let started = Instant::now();
        let at = at.unwrap_or(Duration::from_secs(60));
        while written() == before && started.elapsed() < at {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("trustloop run exited by itself with {status}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        started.elapsed()
    }

    /// Event id → how many times it is in the topic, for every derived topic.
    fn derived(&self) -> BTreeMap<&'static str, BTreeMap<String, usize>> {
        runtime().block_on(async {
            let backend = Backend::open(&self.args()).await.expect("open the log");
            let mut out = BTreeMap::new();
            for topic in DERIVED {
                let mut ids: BTreeMap<String, usize> = BTreeMap::new();
                for e in backend.events(topic).await.expect("read") {
                    *ids.entry(e.envelope().event_id.to_string()).or_default() += 1;
                }
                out.insert(topic, ids);
            }
            out
        })
    }

    fn append(&self, inputs: &DemoInputs) {
        runtime().block_on(async {
            let backend = Backend::open(&self.args()).await.expect("open the log");
            DemoInputs::append_documents(&backend, &inputs.documents).await.expect("append documents");
            inputs.append_telemetry(&backend, inputs.telemetry()).await.expect("append telemetry");
        });
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// How many records `topics` hold, all partitions together.
fn records_in(rt: &tokio::runtime::Runtime, backend: &Backend, topics: &[&str]) -> i64 {
    rt.block_on(async {
        let mut n = 0;
        for topic in topics {
            n += backend.log.end_offsets(topic).await.expect("end offsets").iter().sum::<i64>();
        }
        n
    })
}

/// How `got` falls short of every event of `expected` exactly once and nothing else, per topic
/// (empty: it does not).
fn not_exactly_once(expected: &Derived, got: &Derived) -> Vec<String> {
    let mut problems = Vec::new();
    for topic in DERIVED {
        let (want, have) = (&expected[topic], &got[topic]);
        let doubled: Vec<(&String, &usize)> = have.iter().filter(|(_, n)| **n > 1).collect();
        let missing: Vec<&String> = want.keys().filter(|id| !have.contains_key(*id)).collect();
        let extra: Vec<&String> = have.keys().filter(|id| !want.contains_key(*id)).collect();
        if !doubled.is_empty() || !missing.is_empty() || !extra.is_empty() {
            problems.push(format!(
                "{topic}: {} doubled (e.g. {:?}), {} missing (e.g. {:?}), {} unexpected (e.g. {:?})",
                doubled.len(),
                doubled.first(),
                missing.len(),
                missing.first(),
                extra.len(),
                extra.first()
            ));
        }
    }
    problems
}

/// Stops `child` the way an operator does (SIGTERM) and waits for it.
fn terminate(child: &mut std::process::Child) -> std::process::ExitStatus {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    child.wait().expect("reap")
}

/// Seeded kill moments, as fractions (0.1 to 1.5) of a scale the caller measures.
fn kill_moments(seed: u64) -> Vec<f64> {
    let mut x = seed | 1;
    (0..KILLS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            0.1 + 1.4 * (x % 1000) as f64 / 1000.0
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let p = e.path();
        let dest = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).expect("copy");
        }
    }
}

/// Kills `target` `KILLS` times, finishes with `--until-idle`, and compares with `expected`.
fn verify(name: &str, target: &Target, expected: &BTreeMap<&'static str, BTreeMap<String, usize>>) {
    let started = Instant::now();
    let want: usize = expected.values().map(BTreeMap::len).sum();
    let mut interrupted = 0;
    // The first run is killed once it has written something; the others at seeded moments, scaled
    // by how long that first output took (so on any machine and backend they spread over restore,
    // replay and processing), or at their first new output if that comes sooner.
    let mut scale = None;
    for (i, fraction) in kill_moments(SEED + name.len() as u64).into_iter().enumerate() {
        let at = scale.map(|s: Duration| s.mul_f64(fraction * 4.0));
        let after = target.run_and_kill(at);
        scale.get_or_insert(after);
        let have: usize = target.derived().values().flat_map(BTreeMap::values).sum();
        eprintln!("{name}: kill {} after {after:?}: {have} of {want} derived events written", i + 1);
        if have >= want {
            // Done: another run would have nothing left to interrupt.
            break;
        }
        interrupted += 1;
    }
    // The kills must land mid-stream (else this proves nothing).
    assert!(interrupted >= 3, "{name}: only {interrupted} kills interrupted the work");
    let report = target.run_until_idle();
    eprintln!("{name}: finished after {:?}: {report}", started.elapsed());
    let problems = not_exactly_once(expected, &target.derived());
    assert!(problems.is_empty(), "{name}: not exactly once after {KILLS} kills:\n{}", problems.join("\n"));
    for stage in ["impact", "trust", "decision", "enforce"] {
        let s = &report["stages"][stage];
        assert!(s["applied"].as_u64().unwrap_or(0) > 0, "{name}: {stage} ran: {report}");
    }
}

/// The reference: a straight run on `target`, with every derived event once.
fn reference(name: &str, target: &Target) -> BTreeMap<&'static str, BTreeMap<String, usize>> {
    let started = Instant::now();
    target.run_until_idle();
    eprintln!("{name}: straight run took {:?}", started.elapsed());
    let expected = target.derived();
    for topic in DERIVED {
        let doubled = expected[topic].values().filter(|n| **n > 1).count();
        assert_eq!(doubled, 0, "{name}: a straight run wrote {topic} events twice");
    }
    for topic in ["findings", "trust-scores", "verdicts", "actions"] {
        assert!(expected[topic].len() > 10, "{name}: only {} events on {topic}", expected[topic].len());
    }
    expected
}

/// Rolls every stage's committed offsets — inputs and output marks — back to the start of each
/// partition: what the log looks like when a run died after writing its outputs, before committing.
fn forget_commits(target: &Target) {
    runtime().block_on(async {
        let backend = Backend::open(&target.args()).await.expect("open the log");
        for stage in ["impact", "trust", "decision", "enforce"] {
            for group in [format!("trustloop.{stage}"), format!("trustloop.{stage}.outputs")] {
                let mut offsets = Vec::new();
                for topic in trustloop_e2e::TRUSTLOOP_TOPICS {
                    let committed = backend.log.committed_offsets(&group, topic).await.expect("committed offsets");
                    for (p, o) in committed.iter().enumerate() {
                        if o.is_some() {
                            offsets.push(TopicPartitionOffset {
                                topic: topic.to_string(),
                                partition: p as u32,
                                offset: 0,
                            });
                        }
                    }
                }
                assert!(!offsets.is_empty(), "{group} committed something");
                backend.log.commit_offsets(&group, &offsets).await.expect("roll back");
            }
        }
    });
}

/// A straight run, its commits forgotten, another run: nothing may be written twice.
fn crash_window(name: &str, target: &Target) {
    let expected = reference(name, target);
    forget_commits(target);
    let report = target.run_until_idle();
    let mut deduplicated = 0;
    for stage in ["impact", "trust", "decision", "enforce"] {
        let s = &report["stages"][stage];
        assert_eq!(s["written"], 0, "{name}: {stage} wrote again what a run that died had written: {report}");
        assert_eq!(s["replayed"], 0, "{name}: {stage} had nothing committed: {report}");
        deduplicated += s["deduplicated"].as_u64().unwrap_or(0);
    }
    // (`dlq` also holds the malformed telemetry lines' dead letters, written at ingestion.)
    let total: usize = expected.iter().filter(|(t, _)| **t != "dlq").map(|(_, ids)| ids.len()).sum();
    assert_eq!(deduplicated as usize, total, "{name}: every derived event recognised as written: {report}");
    assert_eq!(target.derived(), expected, "{name}: the derived topics did not change");
}

#[test]
fn embedded_log_crash_after_writing_before_committing() {
    let inputs = DemoInputs::build(ENTITIES / 4, SEED).expect("demo inputs");
    let tmp = tempfile::tempdir().expect("tempdir");
    let target = Target::Embedded(tmp.path().join("log"));
    target.append(&inputs);
    crash_window("embedded", &target);
}

#[test]
#[ignore = "needs the Tansu broker binary: run `cargo xtask test`, which installs it"]
fn kafka_crash_after_writing_before_committing() {
    let inputs = DemoInputs::build(ENTITIES / 4, SEED).expect("demo inputs");
    let broker = trustloop_e2e::TansuBroker::start().expect("tansu");
    let target = Target::Kafka(broker.bootstrap_servers());
    target.append(&inputs);
    crash_window("kafka", &target);
}

#[test]
fn embedded_log_exactly_once_through_kill_9() {
    let inputs = DemoInputs::build(ENTITIES, SEED).expect("demo inputs");
    let tmp = tempfile::tempdir().expect("tempdir");
    let killed = Target::Embedded(tmp.path().join("killed"));
    killed.append(&inputs);
    let straight = Target::Embedded(tmp.path().join("straight"));
    let (Target::Embedded(from), Target::Embedded(to)) = (&killed, &straight) else { unreachable!() };
    copy_dir(from, to);
    let expected = reference("embedded", &straight);
    verify("embedded", &killed, &expected);
}

#[test]
#[ignore = "needs the Tansu broker binary: run `cargo xtask test`, which installs it"]
fn kafka_exactly_once_through_kill_9() {
    // A smaller fleet: Tansu takes one record per produce request (see `TANSU_BATCHES`).
    let inputs = DemoInputs::build(ENTITIES / 4, SEED).expect("demo inputs");
    let broker = trustloop_e2e::TansuBroker::start().expect("tansu");
    let killed = Target::Kafka(broker.bootstrap_servers());
    killed.append(&inputs);
    // The reference: the same log — every record of the input topics and `dlq`, in the same
    // partitions, order and log times — mirrored to the embedded log and run straight there.
    let tmp = tempfile::tempdir().expect("tempdir");
    let straight = Target::Embedded(tmp.path().join("mirror"));
    mirror(&killed, &straight);
    let expected = reference("kafka reference (embedded mirror)", &straight);
    verify("kafka", &killed, &expected);
}

/// Copies the records of every topic no stage writes, and `dlq` (ingestion's dead letters), from
/// `from` to `to`: same partitions, same order, same log times.
fn mirror(from: &Target, to: &Target) {
    runtime().block_on(async {
        let source = Backend::open(&from.args()).await.expect("open the source log");
        let dest = Backend::open(&to.args()).await.expect("open the mirror");
        for topic in ["telemetry", "inventory", "advisories", "vex", "policies", "approvals", "promotions", "dlq"] {
            for (p, o) in source.log.offsets(topic).await.expect("offsets").iter().enumerate() {
                let mut pos = o.start;
                while pos < o.end {
                    let records = source.log.read(topic, p as u32, pos, 10_000).await.expect("read");
                    let Some(last) = records.last() else { break };
                    pos = last.offset + 1;
                    let copies = records
                        .into_iter()
                        .map(|r| Record {
                            key: r.key,
                            value: r.value,
                            timestamp_ms: Some(r.timestamp_ms),
                            headers: r.headers,
                        })
                        .collect();
                    dest.log.append(topic, p as u32, copies).await.expect("append to the mirror");
                }
            }
        }
    });
}

/// Derived events by topic: event id → how many times it is there.
type Derived = BTreeMap<&'static str, BTreeMap<String, usize>>;

/// A mock cluster with the demo's inputs (a small fleet), and the reference: a straight embedded run
/// on a mirror of them (kept in the returned directory).
fn mock_scenario(name: &str) -> (trustloop_e2e::MockKafka, Target, tempfile::TempDir, Derived) {
    let inputs = DemoInputs::build(ENTITIES / 8, SEED).expect("demo inputs");
    let kafka = trustloop_e2e::MockKafka::start().expect("mock cluster");
    kafka.provision_trustloop_topics(3).expect("topics");
    let target = Target::Kafka(kafka.bootstrap_servers());
    target.append(&inputs);
    let tmp = tempfile::tempdir().expect("tempdir");
    let straight = Target::Embedded(tmp.path().join("mirror"));
    mirror(&target, &straight);
    let expected = reference(name, &straight);
    (kafka, target, tmp, expected)
}

/// The Kafka Streams way, on librdkafka's mock cluster (it does transactions; Tansu 0.6 does not):
/// `trustloop run --transactions` writes each operator's outputs, and sends its input offsets, in
/// one transaction per pass. Its outputs are exactly a straight embedded run's (on a mirror of the
/// same inputs), and every stage finished its passes (its output marks are committed after each
/// transaction). The backlog is worked through in bounded passes (`--pass-limit`), a transaction
/// each, and the outputs are still those of one unbounded pass. The offsets themselves cannot be
/// checked here: the mock accepts offsets sent to a transaction but never stores them
/// (`tests/broker_gaps.rs`), so a second run would start over.
#[test]
fn mock_cluster_transactions_write_the_outputs() {
    let (_kafka, target, tmp, expected) = mock_scenario("mock reference (embedded mirror)");

    let out = target
        .command()
        .args(["run", "--until-idle", "--json", "--transactions", "--pass-limit", "25"])
        .output()
        .expect("run");
    assert!(out.status.success(), "trustloop run --transactions failed: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    eprintln!("passes: {} ({} bounded)", report["passes"], report["bounded_passes"]);
    assert!(report["bounded_passes"].as_u64().unwrap_or(0) > 5, "the backlog took bounded passes: {report}");
    assert_eq!(target.derived(), expected, "transactional outputs equal a straight run's: {report}");
    runtime().block_on(async {
        let backend = Backend::open(&target.args()).await.expect("open");
        for stage in ["impact", "trust", "decision", "enforce"] {
            let marks =
                backend.log.committed_offsets(&format!("trustloop.{stage}.outputs"), "dlq").await.expect("marks");
            assert!(marks.iter().all(Option::is_some), "{stage} committed its output marks: {report}");
        }
    });
    // Without `--brokers`, `--transactions` is refused with the reason.
    let out = Target::Embedded(tmp.path().join("embedded"))
        .command()
        .args(["run", "--until-idle", "--transactions"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--transactions needs Kafka"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A broker outage mid-stream: `trustloop run` (the service) pauses with back-off while the only
/// broker of the mock cluster is down, rebuilds its stages when it is back, and resumes; when it is
/// stopped with SIGTERM, every derived event a straight run derives is there exactly once.
#[test]
fn broker_outage_pauses_and_resumes_without_loss() {
    let (kafka, target, tmp, expected) = mock_scenario("outage reference (embedded mirror)");
    let want: usize = expected.values().map(BTreeMap::len).sum();

    let log = tmp.path().join("run.log");
    let mut child = target
        .command()
        .args(["--kafka-timeout-ms", "2000", "run", "--poll-ms", "100"])
        .env("TRUSTLOOP_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start trustloop run");
    let rt = runtime();
    let backend = rt.block_on(Backend::open(&target.args())).expect("open");
    let written = || records_in(&rt, &backend, &DERIVED) as usize;
    let before = written();
    let deadline = Instant::now() + Duration::from_secs(120);
    while written() == before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    kafka.cluster().broker_down(1).expect("broker down");
    // Down until the service says it noticed (on a loaded machine that may take more than a few
    // seconds), then at least a few seconds more.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("the log is unavailable: pausing")
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3));
    kafka.cluster().broker_up(1).expect("broker up");
    let deadline = Instant::now() + Duration::from_secs(120);
    while written() < want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    // Let it settle, then stop it the way an operator does.
    std::thread::sleep(Duration::from_secs(1));
    let status = terminate(&mut child);
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "trustloop run ended with {status}: {stderr}");
    assert!(stderr.contains("the log is unavailable: pausing"), "the outage was noticed: {stderr}");
    assert!(stderr.contains("resumed"), "and the service resumed: {stderr}");

    let problems = not_exactly_once(&expected, &target.derived());
    assert!(problems.is_empty(), "not the events of a straight run, once each:\n{}", problems.join("\n"));
}

/// The partitions a `trustloop run --scale-out` process was last assigned, from its log (`None`
/// before its first assignment).
fn last_assignment(log: &Path) -> Option<Vec<u32>> {
    let text = std::fs::read_to_string(log).ok()?;
    let line = text.lines().rev().find(|l| l.contains("consumer group: partitions assigned"))?;
    let set = &line[line.rfind('{')? + 1..line.rfind('}')?];
    Some(set.split(',').filter_map(|p| p.trim().parse().ok()).collect())
}

/// Scale-out: two `trustloop run --scale-out` processes on librdkafka's mock cluster share the
/// partitions (consumer group `trustloop.members`, one task per partition); the inputs arrive in
/// parts while they run (the documents with the first third of the telemetry, then the rest); one is killed with SIGKILL mid-stream, and the other takes its partitions
/// over (after the session timeout), restores their tasks from the committed offsets and goes on.
/// In the end every event a straight run with one task per partition derives (on an embedded mirror
/// of the same inputs) is there exactly once, and nothing else.
#[test]
fn scale_out_survives_a_member_killed_mid_stream() {
    let inputs = DemoInputs::build(ENTITIES / 4, SEED).expect("demo inputs");
    let kafka = trustloop_e2e::MockKafka::start().expect("mock cluster");
    kafka.provision_trustloop_topics(3).expect("topics");
    let target = Target::Kafka(kafka.bootstrap_servers());
    let tmp = tempfile::tempdir().expect("tempdir");
    let member = |name: &str| {
        let log = tmp.path().join(format!("{name}.log"));
        let child = target
            .command()
            .args(["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"])
            .args(["run", "--scale-out", "--poll-ms", "100"])
            .env("TRUSTLOOP_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start trustloop run --scale-out");
        (child, log)
    };
    let (mut a, a_log) = member("a");
    let (mut b, b_log) = member("b");
    // Both members own a share before any input arrives.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (sa, sb) = (last_assignment(&a_log), last_assignment(&b_log));
        if let (Some(sa), Some(sb)) = (&sa, &sb)
            && !sa.is_empty()
            && !sb.is_empty()
            && sa.len() + sb.len() == 3
        {
            eprintln!("scale-out: a runs partitions {sa:?}, b runs {sb:?}");
            break;
        }
        assert!(Instant::now() < deadline, "the members did not share the partitions: a {sa:?}, b {sb:?}");
        std::thread::sleep(Duration::from_millis(100));
    }

    let rt = runtime();
    let backend = rt.block_on(Backend::open(&target.args())).expect("open");
    let written = || records_in(&rt, &backend, &["findings", "trust-scores", "verdicts", "actions"]);
    // The documents and the first third of the telemetry; a kills once both have written outputs.
    let lines: Vec<&str> = inputs.telemetry().lines().collect();
    let cuts = [0, lines.len() / 3, 2 * lines.len() / 3, lines.len()];
    let part = |i: usize| -> String {
        // Earlier lines as blank ones: malformed lines keep their numbers (their dead letters' ids).
        "\n".repeat(cuts[i]) + &lines[cuts[i]..cuts[i + 1]].iter().map(|l| format!("{l}\n")).collect::<String>()
    };
    // The documents and the first part of the telemetry at once: trust reads the findings of every
    // partition, written by the impact tasks of both processes, and must wait for them (tasks align
    // on the log time their upstream tasks have processed) to score as a one-process run does.
    rt.block_on(DemoInputs::append_documents(&backend, &inputs.documents)).expect("documents");
    rt.block_on(inputs.append_telemetry(&backend, &part(0))).expect("telemetry");
    let deadline = Instant::now() + Duration::from_secs(120);
    while written() < 50 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    a.kill().expect("SIGKILL a");
    a.wait().expect("reap a");
    eprintln!("scale-out: a killed after {} derived events", written());
    for i in [1, 2] {
        rt.block_on(inputs.append_telemetry(&backend, &part(i))).expect("telemetry");
    }
    // b takes every partition over once the group has dropped a.
    let deadline = Instant::now() + Duration::from_secs(60);
    while last_assignment(&b_log).is_none_or(|s| s.len() != 3) {
        let text = std::fs::read_to_string(&b_log).unwrap_or_default();
        assert!(Instant::now() < deadline, "b did not take a's partitions over:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The reference: the same inputs mirrored to the embedded log, run straight, one task per
    // partition.
    let straight = Target::Embedded(tmp.path().join("mirror"));
    mirror(&target, &straight);
    let out = straight.command().args(["run", "--until-idle", "--task-per-partition"]).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected = straight.derived();
    let want: usize = expected.values().map(BTreeMap::len).sum();
    let deadline = Instant::now() + Duration::from_secs(180);
    let total = || target.derived().values().flat_map(BTreeMap::values).sum::<usize>();
    while total() < want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(1));
    let status = terminate(&mut b);
    let b_text = std::fs::read_to_string(&b_log).unwrap_or_default();
    assert!(status.success(), "b ended with {status}:\n{b_text}");

    let problems = not_exactly_once(&expected, &target.derived());
    assert!(problems.is_empty(), "not exactly once after a member was killed:\n{}\n{b_text}", problems.join("\n"));
    for topic in ["findings", "trust-scores", "verdicts", "actions"] {
        assert!(expected[topic].len() > 10, "{topic}: {} events", expected[topic].len());
    }
}
