//! Golden outputs of the runtime: the demo's inputs (a smaller fleet) processed by
//! `trustloop run --until-idle` with the demo's command adapters should derive the same events
//! however the log was processed — in one run, by runs killed at random moments and restarted from
//! their checkpoints, with the inputs appended in four parts and a run (a new process) after each,
//! whatever the partition count of the embedded log.
//!
//! Derived topics are compared as multisets keyed by event id, and event by event in their JSON form,
//! ignoring only what adapters take from the wall clock or the machine: `EnforcementResult`'s
//! `started_at` and `duration_micros`, process ids in messages (`(pid 1234)`, also quoted in action
//! reasons) and the scenario's own directory (in the firewall program's messages). Every scenario
//! also checks that one more run, with nothing new, derives nothing (replay rebuilt the same state).
//!
//! What holds, always tested:
//! - **Checkpoints and restores**: one run, and runs killed (SIGKILL) at seeded moments — while
//!   starting and restoring, in the backlog, between rounds of adapter answers — each restarted
//!   from the snapshots and offsets the last one left, derive every event identically, the whole
//!   enforcement lifecycle with real adapters included.
//! - **Inputs in parts, partition counts, one task per partition**: findings, trust scores and dead
//!   letters are identical; verdicts and requested actions are identical but for their event time
//!   (the decision operator's watermark) and the verdicts' `input_frontier`; every action ends in
//!   the same state; derived events carry their cause's log time.
//!
//! What does not hold yet — the two ignored tests, run them with
//! `cargo test -p trustloop --test golden -- --ignored` for a report of every difference: the
//! merge of an operator's inputs orders records of one log time by partition, so a backlog ingested
//! at once is taken partition by partition and the decision and enforcement operators see their
//! inputs in an order that depends on the partition count (other watermarks, other fleet sizes when
//! budgets are checked). And with inputs arriving in parts, the adapters answer after each part
//! instead of after the whole backlog: the enforcement lifecycle legitimately differs there (the
//! answers are inputs that came at other points), so that test can only ever hold for what
//! precedes enforcement.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use trustloop::commands::demo::{DemoInputs, enforcement_config};
use trustloop_connectors::log::embedded::FsyncPolicy;
use trustloop_runtime::backend::{Backend, BackendConfig};
use trustloop_schemas::json::event_to_json;
use trustloop_schemas::{Event, EventType};

mod support;

/// Hosts in the fleet (the demo's default is 300): twelve hours of telemetry, ~9 000 lines.
const ENTITIES: u32 = 60;
/// The demo's default seed.
const SEED: u64 = 7;
/// Every topic the runtime writes.
const DERIVED: [&str; 6] = ["findings", "trust-scores", "verdicts", "actions", "action-results", "dlq"];

/// One scenario: a data directory (the embedded log in `log/`, the adapters' files in
/// `enforcement/`) and the partition count its topics are created with.
struct Scenario {
    root: PathBuf,
    partitions: u32,
    /// Extra arguments of `trustloop run` (e.g. `--task-per-partition`).
    run_args: Vec<&'static str>,
}

/// Derived events of one topic: event id → the normalised JSON of each event with that id.
type Events = BTreeMap<String, Vec<String>>;

/// Every derived topic's events.
type Derived = BTreeMap<&'static str, Events>;

/// What a scenario derived.
struct Outcome {
    /// Every derived event.
    derived: Derived,
    /// How each action ended ([`Scenario::final_states`]).
    final_states: BTreeMap<String, String>,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

impl Scenario {
    fn new(parent: &Path, name: &str, partitions: u32) -> Scenario {
        let root = parent.join(name);
        std::fs::create_dir_all(&root).expect("scenario directory");
        // The demo's adapters, as a `trustloop run` configuration file: actions really dispatch.
        let config = enforcement_config(&root).expect("enforcement configuration");
        let mut table = toml::Table::new();
        table.insert("enforcement".into(), toml::Value::try_from(&config).expect("configuration as TOML"));
        std::fs::write(root.join("trustloop.toml"), toml::to_string(&table).expect("TOML")).expect("write config");
        Scenario { root, partitions, run_args: Vec::new() }
    }

    /// The scenario, run with one task per partition.
    fn per_partition(mut self) -> Scenario {
        self.run_args.push("--task-per-partition");
        self
    }

    fn args(&self) -> BackendConfig {
        BackendConfig {
            partitions: self.partitions,
            fsync: FsyncPolicy::Never,
            ..BackendConfig::embedded(self.root.join("log"))
        }
    }

    /// Appends documents and telemetry lines as the demo does. `line_offset` lines of the telemetry
    /// came before `telemetry` (in earlier parts): they are passed as blank lines, which ingestion
    /// numbers but skips, so that a malformed line's dead letter (its id derives from its line number)
    /// is the one a single whole append gives.
    fn append(
        &self,
        inputs: &DemoInputs,
        documents: &[Vec<trustloop_schemas::Event>],
        telemetry: &str,
        line_offset: usize,
    ) {
        runtime().block_on(async {
            let backend = Backend::open(&self.args()).await.expect("open the log");
            DemoInputs::append_documents(&backend, documents).await.expect("append documents");
            if !telemetry.is_empty() {
                let padded = "\n".repeat(line_offset) + telemetry;
                inputs.append_telemetry(&backend, &padded).await.expect("append telemetry");
            }
        });
    }

    /// The `trustloop run --until-idle` command with the demo's adapters.
    fn command(&self) -> Command {
        let mut command = support::cli_on(&self.root.join("log"));
        command
            .args(["--partitions", &self.partitions.to_string(), "--fsync", "never"])
            .args(["run", "--until-idle", "--json", "--config"])
            .arg(self.root.join("trustloop.toml"))
            .args(&self.run_args);
        command
    }

    /// `trustloop run --until-idle` with the demo's adapters; returns its JSON report.
    fn run(&self) -> Value {
        let out = self.command().output().expect("run trustloop");
        assert!(out.status.success(), "trustloop run failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("JSON report")
    }

    /// Records on the derived topics (repeats included).
    fn derived_records(&self) -> i64 {
        runtime().block_on(async {
            let backend = Backend::open(&self.args()).await.expect("open the log");
            let mut n = 0;
            for topic in DERIVED {
                n += backend.log.end_offsets(topic).await.expect("end offsets").iter().sum::<i64>();
            }
            n
        })
    }

    /// Starts `trustloop run --until-idle` and kills it (SIGKILL) `delay` after it reports its pass
    /// number `after_pass` done (0: `delay` after the start), or lets it finish if it does so first;
    /// returns whether it was killed.
    fn run_and_kill(&self, after_pass: u32, delay: Duration) -> bool {
        use std::io::BufRead as _;
        let mut child = self
            .command()
            .env("TRUSTLOOP_LOG", "trustloop=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn trustloop");
        let stderr = child.stderr.take().expect("stderr");
        // Counts the passes the run reports done (on stderr, at `info`).
        let (tx, passes) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("pass done") && tx.send(()).is_err() {
                    break;
                }
            }
        });
        let mut done = 0;
        let mut kill_at = (after_pass == 0).then(|| std::time::Instant::now() + delay);
        loop {
            if let Some(status) = child.try_wait().expect("poll the child") {
                assert!(status.success(), "trustloop run failed before it was killed: {status}");
                return false;
            }
            while passes.try_recv().is_ok() {
                done += 1;
                if done == after_pass {
                    kill_at = Some(std::time::Instant::now() + delay);
                }
            }
            if kill_at.is_some_and(|at| std::time::Instant::now() >= at) {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        true
    }

    /// With one task per partition, every task of the operators that split kept its own snapshots
    /// (its own consumer group); the singleton enforcement operator one.
    fn assert_tasks_ran(&self, name: &str) {
        let snapshots = self.root.join("log").join("snapshots");
        let per_partition = self.run_args.contains(&"--task-per-partition");
        for op in ["trust", "decision"] {
            for p in 0..self.partitions {
                let dir = snapshots.join(format!("trustloop.{op}.task-{p}"));
                assert_eq!(dir.is_dir(), per_partition, "{name}: {}", dir.display());
            }
            assert_eq!(snapshots.join(format!("trustloop.{op}")).is_dir(), !per_partition, "{name}: {op}");
        }
        assert!(snapshots.join("trustloop.enforce").is_dir(), "{name}: one enforcement task");
    }

    /// Runs once more with no new input: restored by replay, the operators must derive nothing new
    /// (a state rebuilt differently would show here as new transitions or timeouts).
    fn assert_settled(&self, name: &str) {
        let report = self.run();
        for stage in ["impact", "trust", "decision", "enforce"] {
            let s = &report["stages"][stage];
            assert_eq!(s["written"], 0, "{name}: {stage} wrote again after a restart: {report}");
            assert_eq!(s["applied"], s["replayed"], "{name}: {stage} had new input: {report}");
        }
        assert_eq!(report["effects"]["dispatch"], 0, "{name}: dispatched again after a restart: {report}");
    }

    /// Every event of `topic` with its log time (milliseconds).
    async fn read(&self, backend: &Backend, topic: &str) -> Vec<(i64, Event)> {
        let mut out = Vec::new();
        let offsets = backend.log.offsets(topic).await.expect("offsets");
        assert_eq!(offsets.len(), self.partitions as usize, "{topic} has the scenario's partition count");
        for (p, o) in offsets.iter().enumerate() {
            let mut pos = o.start;
            while pos < o.end {
                let records = backend.log.read(topic, p as u32, pos, 10_000).await.expect("read");
                assert!(!records.is_empty(), "{topic}/{p} ends early at {pos}");
                for r in records {
                    pos = r.offset + 1;
                    let event = backend.codec.decode(&r.value, &*backend.registry).expect("decode");
                    out.push((r.timestamp_ms, event));
                }
            }
        }
        out
    }

    /// How every action ended: action id → its kind, subject and last state (a reverted action's
    /// revert step included).
    fn final_states(&self) -> BTreeMap<String, String> {
        runtime().block_on(async {
            let backend = Backend::open(&self.args()).await.expect("open the log");
            let mut out = BTreeMap::new();
            // An action's transitions share its key, hence a partition: read in order.
            for (_, e) in self.read(&backend, "actions").await {
                if let Event::EnforcementAction(a) = e {
                    let kind = trustloop_connectors::enforce::kind_name(a.kind);
                    let state = trustloop_connectors::enforce::state_name(a.state);
                    let revert = if a.revert { " (revert step)" } else { "" };
                    out.insert(a.action_id, format!("{kind} {}: {state}{revert}", a.subject));
                }
            }
            out
        })
    }

    /// Every derived topic's events, normalised.
    fn derived(&self) -> Derived {
        runtime().block_on(async {
            let backend = Backend::open(&self.args()).await.expect("open the log");
            let mut out = BTreeMap::new();
            for topic in DERIVED {
                let mut events = Events::new();
                for (_, event) in self.read(&backend, topic).await {
                    let id = event.envelope().event_id.to_string();
                    let json = normalise(event_to_json(&event), &self.root);
                    events.entry(id).or_default().push(json.to_string());
                }
                for v in events.values_mut() {
                    v.sort();
                }
                out.insert(topic, events);
            }
            out
        })
    }

    /// Derived events carry the log time of the input that caused them: every finding and every
    /// action (requested by the decision operator or moved on by the enforcement operator) has the
    /// log time of the event its `cause_event_id` names. Returns how many were checked.
    fn assert_causes_log_times(&self, name: &str) -> usize {
        runtime().block_on(async {
            let backend = Backend::open(&self.args()).await.expect("open the log");
            let mut log_time = BTreeMap::new();
            let mut derived = Vec::new();
            // Checkpoints and their cosignatures are the log's, made only on request: not part of a run.
            for t in EventType::ALL
                .into_iter()
                .filter(|t| !matches!(t, EventType::LogCheckpoint | EventType::CheckpointCosignature))
            {
                for (ms, event) in self.read(&backend, t.topic()).await {
                    log_time.insert(event.envelope().event_id.to_string(), ms);
                    let cause = match &event {
                        Event::Finding(f) => Some(f.cause_event_id.to_string()),
                        Event::EnforcementAction(a) => Some(a.cause_event_id.clone()),
                        _ => None,
                    };
                    if let Some(cause) = cause {
                        derived.push((ms, event.envelope().event_id.to_string(), cause));
                    }
                }
            }
            let wrong: Vec<String> = derived
                .iter()
                .filter(|(ms, _, cause)| log_time.get(cause) != Some(ms))
                .map(|(ms, id, cause)| format!("{id} at {ms}, cause {cause} at {:?}", log_time.get(cause)))
                .collect();
            assert!(wrong.is_empty(), "{name}: derived events without their cause's log time: {wrong:#?}");
            derived.len()
        })
    }
}

/// Drops the wall-clock fields of adapter results and masks pids and the scenario's directory.
fn normalise(mut v: Value, root: &Path) -> Value {
    if let Value::Object(obj) = &mut v
        && obj.contains_key("started_at")
    {
        obj.remove("started_at");
        obj.remove("duration_micros");
    }
    mask(&mut v, &root.display().to_string());
    v
}

fn mask(v: &mut Value, root: &str) {
    match v {
        Value::String(s) => *s = mask_pids(&s.replace(root, "<DIR>")),
        Value::Array(a) => a.iter_mut().for_each(|x| mask(x, root)),
        Value::Object(o) => o.values_mut().for_each(|x| mask(x, root)),
        _ => {}
    }
}

/// `started (pid 1234)` → `started (pid _)`.
fn mask_pids(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("pid ") {
        let word = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric();
        out.push_str(&rest[..i + 4]);
        rest = &rest[i + 4..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if word && digits > 0 {
            out.push('_');
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

/// What differs between two scenarios' derived topics, topic by topic (empty when nothing does).
fn differences(a_name: &str, a: &Derived, b_name: &str, b: &Derived) -> String {
    const SHOWN: usize = 5;
    let mut report = String::new();
    for topic in DERIVED {
        let (ea, eb) = (&a[topic], &b[topic]);
        let only_a: Vec<&String> = ea.keys().filter(|k| !eb.contains_key(*k)).collect();
        let only_b: Vec<&String> = eb.keys().filter(|k| !ea.contains_key(*k)).collect();
        let differ: Vec<&String> = ea.keys().filter(|k| eb.get(*k).is_some_and(|v| v != &ea[*k])).collect();
        if only_a.is_empty() && only_b.is_empty() && differ.is_empty() {
            continue;
        }
        let count = |e: &Events| e.values().map(Vec::len).sum::<usize>();
        let _ = writeln!(
            report,
            "topic {topic}: {} events in {a_name}, {} in {b_name}; {} ids only in {a_name}, {} only in {b_name}, {} with other contents",
            count(ea),
            count(eb),
            only_a.len(),
            only_b.len(),
            differ.len()
        );
        for (ids, side, events) in [(&only_a, a_name, ea), (&only_b, b_name, eb)] {
            for id in ids.iter().take(SHOWN) {
                let _ = writeln!(report, "  only in {side}: {id} {}", events[*id].join(" | "));
            }
        }
        // Which fields the events with the same id disagree on, and how often.
        let mut fields: BTreeMap<String, usize> = BTreeMap::new();
        for id in &differ {
            for (x, y) in ea[*id].iter().zip(&eb[*id]) {
                let (Ok(Value::Object(x)), Ok(Value::Object(y))) =
                    (serde_json::from_str::<Value>(x), serde_json::from_str::<Value>(y))
                else {
                    continue;
                };
                for (k, v) in &x {
                    if y.get(k) != Some(v) {
                        *fields.entry(k.clone()).or_default() += 1;
                    }
                }
            }
        }
        if !fields.is_empty() {
            let _ = writeln!(report, "  fields that differ (events): {fields:?}");
        }
        for id in differ.iter().take(SHOWN) {
            let _ = writeln!(
                report,
                "  {id} differs:\n    {a_name}: {}\n    {b_name}: {}",
                ea[*id].join(" | "),
                eb[*id].join(" | ")
            );
        }
    }
    report
}

/// Sanity: the scenario derived something on every topic (the comparison is not of empty logs).
fn assert_substantial(name: &str, derived: &Derived) {
    let count = |t: &str| derived[t].values().map(Vec::len).sum::<usize>();
    for topic in ["findings", "trust-scores", "verdicts", "actions", "action-results"] {
        assert!(count(topic) > 10, "{name}: only {} events on {topic}", count(topic));
    }
    assert_eq!(count("dlq"), 3, "{name}: the three malformed telemetry lines");
    let duplicates: Vec<(&str, &String)> =
        derived.iter().flat_map(|(t, e)| e.iter().filter(|(_, v)| v.len() > 1).map(move |(id, _)| (*t, id))).collect();
    assert!(duplicates.is_empty(), "{name}: events written twice: {duplicates:?}");
}

/// All inputs appended, then one run.
fn straight(parent: &Path, name: &str, partitions: u32, inputs: &DemoInputs) -> Outcome {
    straight_in(Scenario::new(parent, name, partitions), name, inputs)
}

/// [`straight`] in scenario `s`.
fn straight_in(s: Scenario, name: &str, inputs: &DemoInputs) -> Outcome {
    s.append(inputs, &inputs.documents, inputs.telemetry(), 0);
    s.run();
    s.assert_tasks_ran(name);
    s.assert_settled(name);
    assert!(s.assert_causes_log_times(name) > 100);
    let derived = s.derived();
    assert_substantial(name, &derived);
    Outcome { derived, final_states: s.final_states() }
}

/// The same inputs in four parts, in the same order — the documents, then the telemetry in three
/// parts — with a run after each (a new process: operators restored by replaying the log).
fn restarted(parent: &Path, name: &str, partitions: u32, inputs: &DemoInputs) -> Outcome {
    restarted_in(Scenario::new(parent, name, partitions), name, inputs)
}

/// [`restarted`] in scenario `s`.
fn restarted_in(s: Scenario, name: &str, inputs: &DemoInputs) -> Outcome {
    s.append(inputs, &inputs.documents, "", 0);
    let first = s.run();
    assert!(first["stages"]["impact"]["written"].as_u64().unwrap_or(0) > 0, "findings from the documents: {first}");
    let lines: Vec<&str> = inputs.telemetry().lines().collect();
    let cuts = [0, lines.len() / 3, 2 * lines.len() / 3, lines.len()];
    for part in cuts.windows(2) {
        let text: String = lines[part[0]..part[1]].iter().map(|l| format!("{l}\n")).collect();
        s.append(inputs, &[], &text, part[0]);
        let report = s.run();
        for stage in ["impact", "trust", "decision", "enforce"] {
            let replayed = report["stages"][stage]["replayed"].as_u64().unwrap_or(0);
            let restored = report["stages"][stage]["restored_from_snapshot"].as_bool().unwrap_or(false);
            assert!(
                replayed > 0 || restored,
                "{name}: a restarted {stage} rebuilds its state from a snapshot or by replay: {report}"
            );
        }
        // Operators that keep snapshots restore from the one the previous run took: nothing to replay.
        for stage in ["trust", "decision", "enforce"] {
            assert_eq!(report["stages"][stage]["restored_from_snapshot"], true, "{name}: {stage}: {report}");
        }
    }
    s.assert_settled(name);
    assert!(s.assert_causes_log_times(name) > 100);
    let derived = s.derived();
    assert_substantial(name, &derived);
    Outcome { derived, final_states: s.final_states() }
}

/// What is compared between scenarios of different layouts: every derived event but the verdicts'
/// `input_frontier`, which names log positions (topic, partition, offset) and so depends on the
/// partition count and task layout by definition. With `lifecycle: false`, also without the
/// enforcement lifecycle — the enforcement operator's transitions and the adapters' results — for
/// scenarios whose inputs arrived in parts: there the adapters answered after each part rather
/// than after the whole backlog, which makes their answers inputs at other points of the log.
fn comparable(derived: &Derived, lifecycle: bool) -> Derived {
    let mut out = Derived::new();
    for (topic, events) in derived {
        let mut kept = Events::new();
        for (id, versions) in events {
            let mut vs = Vec::new();
            for v in versions {
                let Ok(Value::Object(mut obj)) = serde_json::from_str::<Value>(v) else { continue };
                match *topic {
                    "verdicts" => {
                        obj.remove("input_frontier");
                    }
                    "actions" if obj.get("source").and_then(Value::as_str) == Some("trustloop.decision") => {}
                    "actions" | "action-results" if !lifecycle => continue,
                    _ => {}
                }
                vs.push(Value::Object(obj).to_string());
            }
            if !vs.is_empty() {
                kept.insert(id.clone(), vs);
            }
        }
        out.insert(*topic, kept);
    }
    out
}

/// The partition count changes nothing: straight runs with 1, 2, 3 and 4 partitions derive the same
/// events, the whole enforcement lifecycle with real adapters included (verdicts but for their
/// `input_frontier`, see [`comparable`]). With one task per partition, and with the inputs appended
/// in four parts and a run (a new process) after each, everything up to the decisions is the same
/// — the requested actions and verdicts, with their event times — and every action ends in the same
/// state.
#[test]
fn derived_events_do_not_depend_on_partitions_tasks_or_parts() {
    let inputs = DemoInputs::build(ENTITIES, SEED).expect("demo inputs");
    let tmp = tempfile::tempdir().expect("tempdir");
    let reference = straight(tmp.path(), "straight-p3", 3, &inputs);
    let whole = comparable(&reference.derived, true);
    let decided = comparable(&reference.derived, false);
    let requested = decided["actions"].len();
    assert!(requested > 10 && decided["verdicts"].len() > 10, "decisions to compare: {requested} actions");
    assert!(whole["actions"].len() > requested, "an enforcement lifecycle to compare");
    // (name, outcome, whether its enforcement lifecycle is comparable)
    let mut others = Vec::new();
    for partitions in [1, 2, 4] {
        let name = format!("straight-p{partitions}");
        others.push((name.clone(), straight(tmp.path(), &name, partitions, &inputs), true));
    }
    // Passes of at most ~40 records per input partition: every stage stops at the same merge
    // point, so nothing changes — the enforcement lifecycle included.
    let mut bounded = Scenario::new(tmp.path(), "bounded-p3", 3);
    bounded.run_args.extend(["--pass-limit", "40"]);
    bounded.append(&inputs, &inputs.documents, inputs.telemetry(), 0);
    let report = bounded.run();
    let passes = report["bounded_passes"].as_u64().unwrap_or(0);
    assert!(passes > 20, "a backlog of ~9,000 lines in passes of ~40 per partition: {report}");
    bounded.assert_settled("bounded-p3");
    assert!(bounded.assert_causes_log_times("bounded-p3") > 100);
    others.push((
        "bounded-p3".into(),
        Outcome { derived: bounded.derived(), final_states: bounded.final_states() },
        true,
    ));
    // One task per partition: a stage waits for its slowest upstream task (alignment), so the
    // backlog reaches the enforcement operator over several passes and the adapters answer in
    // between — at other points of its input, as with inputs in parts.
    let tasks = Scenario::new(tmp.path(), "tasks-p4", 4).per_partition();
    others.push(("tasks-p4".into(), straight_in(tasks, "tasks-p4", &inputs), false));
    others.push(("parts-p3".to_string(), restarted(tmp.path(), "parts-p3", 3, &inputs), false));
    let tasks = Scenario::new(tmp.path(), "parts-tasks-p3", 3).per_partition();
    others.push(("parts-tasks-p3".into(), restarted_in(tasks, "parts-tasks-p3", &inputs), false));
    let mut diff = String::new();
    for (name, other, lifecycle) in &others {
        let expected = if *lifecycle { &whole } else { &decided };
        diff.push_str(&differences("straight-p3", expected, name, &comparable(&other.derived, *lifecycle)));
        if other.final_states != reference.final_states {
            let _ = writeln!(diff, "actions end in other states in {name}:");
            for (id, state) in &reference.final_states {
                let theirs = other.final_states.get(id).map_or("-", String::as_str);
                if theirs != state {
                    let _ = writeln!(diff, "  {id}: straight-p3 {state}, {name} {theirs}");
                }
            }
            for (id, state) in other.final_states.iter().filter(|(id, _)| !reference.final_states.contains_key(*id)) {
                let _ = writeln!(diff, "  {id}: only in {name}: {state}");
            }
        }
    }
    assert!(diff.is_empty(), "the derived events depend on the partitions, the tasks or the parts:\n{diff}");
}

/// `n` seeded fractions in [0, 1) (splitmix64).
fn moments(seed: u64, n: usize) -> Vec<f64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as f64 / u64::MAX as f64
        })
        .collect()
}

/// An adapter's step executed again after a kill (between running the adapter and committing the
/// dispatcher's position) writes its results again, under the same ids: folds such repeats of one
/// event (identical once normalised) into one. Returns how many were folded.
fn fold_repeats(derived: &mut Derived) -> usize {
    let mut folded = 0;
    for events in derived.values_mut() {
        for versions in events.values_mut() {
            let before = versions.len();
            versions.dedup();
            folded += before - versions.len();
        }
    }
    folded
}

/// Every derived event — the enforcement lifecycle with real adapters included, whole, event times
/// and input frontiers too — is the same whether the log is processed in one run, or by runs
/// killed (SIGKILL) at seeded moments, each restarted from the snapshots (taken after every pass)
/// and committed offsets the last one left. A step interrupted between its adapter and the
/// dispatcher's commit runs again and reports again under the same ids: those repeats are folded.
#[test]
fn straight_and_killed_runs_derive_the_same_events() {
    let inputs = DemoInputs::build(ENTITIES, SEED).expect("demo inputs");
    let tmp = tempfile::tempdir().expect("tempdir");
    let straight = Scenario::new(tmp.path(), "straight", 3);
    straight.append(&inputs, &inputs.documents, inputs.telemetry(), 0);
    let report = straight.run();
    let passes = report["passes"].as_u64().unwrap_or(0);
    assert!(passes >= 3, "the adapters' answers take passes of their own: {report}");
    straight.assert_settled("straight");
    let reference = straight.derived();
    assert_substantial("straight", &reference);

    let mut killed = Scenario::new(tmp.path(), "killed", 3);
    killed.run_args.extend(["--snapshot-interval-secs", "0"]);
    killed.append(&inputs, &inputs.documents, inputs.telemetry(), 0);
    let want = straight.derived_records();
    // Each run is killed at a seeded moment of a seeded pass — while it starts and restores, while
    // its stages work through the backlog, or in a later round, as the enforcement operator takes
    // the adapters' answers and dispatches the next steps.
    let mut kills = Vec::new();
    for fraction in moments(SEED, 16) {
        // Within the first pass (the backlog, a few hundred ms here) anywhere; after a later
        // pass, within the next few ms (the rounds of answers are short).
        let after_pass = (fraction * 4.0) as u32;
        let spread = if after_pass == 0 { 400_000.0 } else { 4_000.0 };
        let delay = Duration::from_micros((fraction * 4.0).fract().mul_add(spread, 0.0) as u64);
        if !killed.run_and_kill(after_pass, delay) {
            break;
        }
        kills.push(killed.derived_records());
    }
    eprintln!("derived records when each kill landed: {kills:?} of {want}");
    // Kills after every derived event was written still interrupt the commits, the snapshots and
    // the last rounds' bookkeeping; at least one must land before that.
    let early = kills.iter().filter(|n| **n < want).count();
    assert!(kills.len() >= 2 && early >= 1, "the kills must interrupt the work: {kills:?} of {want}");
    killed.run();
    killed.assert_settled("killed");
    let mut derived = killed.derived();
    let folded = fold_repeats(&mut derived);
    eprintln!("{} kills; {folded} repeated adapter results folded", kills.len());
    assert_substantial("killed", &derived);
    let diff = differences("straight", &reference, "killed", &derived);
    assert!(diff.is_empty(), "one run and runs killed {} times derived different events:\n{diff}", kills.len());
}

#[test]
fn masks_pids_only() {
    assert_eq!(mask_pids("`sh` started (pid 1234); rapid 5"), "`sh` started (pid _); rapid 5");
    assert_eq!(mask_pids("pid x and pid 7"), "pid x and pid _");
}
