//! The numbers shared between the runner and the HTTP handlers.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::stage::{AdapterStats, PassDone, StageStats};

/// What the runner has done so far, as the endpoints report it.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Every stage has caught up with the log at least once (the first run settled).
    pub ready: bool,
    /// Passes over the operators since the process started.
    pub passes: u64,
    /// Input records the last pass consumed.
    pub last_pass_consumed: u64,
    /// Wall-clock duration of the last pass.
    pub last_pass_duration: Duration,
    /// Wall-clock time spent in passes, summed.
    pub pass_time_total: Duration,
    /// Per operator, in the order the runtime feeds them.
    pub operators: Vec<OperatorSnapshot>,
    /// What the enforcement effect handed to each adapter, by adapter name.
    pub adapters: BTreeMap<String, AdapterStats>,
}

/// One operator's counters and consumer lag.
#[derive(Debug, Default, Clone)]
pub struct OperatorSnapshot {
    /// The operator's name (`trust`, `decision`, …).
    pub name: &'static str,
    /// Records applied, replayed, written and dead-lettered over the stage's life.
    pub stats: StageStats,
    /// Consumer lag per input (topic, partition) as of the stage's last read.
    pub lag: Vec<(String, u32, i64)>,
}

/// A cheap, cloneable handle on the shared [`Snapshot`].
#[derive(Debug, Default, Clone)]
pub struct Ops {
    inner: Arc<Mutex<Snapshot>>,
}

impl Ops {
    /// A handle on an empty snapshot: nothing done yet, not ready.
    pub fn new() -> Ops {
        Ops::default()
    }

    /// A copy of the current numbers.
    pub fn snapshot(&self) -> Snapshot {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Records a finished pass: its duration and counts, every stage's counters and lag, the adapters'
    /// counters.
    pub fn record_pass(&self, done: &PassDone<'_>) {
        // One entry per operator: its tasks' counts summed; the lag per partition is the largest
        // of the tasks reading it (each reads its own partition of keyed inputs, all the others).
        let mut operators: Vec<OperatorSnapshot> = Vec::new();
        for s in done.stages {
            let at = match operators.iter().position(|o| o.name == s.name()) {
                Some(at) => at,
                None => {
                    operators.push(OperatorSnapshot { name: s.name(), ..OperatorSnapshot::default() });
                    operators.len() - 1
                }
            };
            let o = &mut operators[at];
            o.stats.merge(&s.stats);
            for (t, p, l) in s.lag() {
                match o.lag.iter_mut().find(|x| x.0 == t && x.1 == p) {
                    Some(x) => x.2 = x.2.max(l),
                    None => o.lag.push((t.to_string(), p, l)),
                }
            }
        }
        for o in &mut operators {
            o.lag.sort();
        }
        let mut adapters = BTreeMap::new();
        for e in done.effects {
            for (name, stats) in e.adapter_stats() {
                let a: &mut AdapterStats = adapters.entry(name).or_default();
                a.dispatched += stats.dispatched;
                a.failures += stats.failures;
            }
        }
        let mut s = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        s.passes += 1;
        s.last_pass_consumed = done.consumed;
        s.last_pass_duration = done.duration;
        s.pass_time_total += done.duration;
        s.operators = operators;
        s.adapters = adapters;
    }

    /// Marks the service ready: every stage has caught up with the log once.
    pub fn set_ready(&self) {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).ready = true;
    }

    /// Marks the service not ready (the log is unavailable) until it catches up again.
    pub fn set_unready(&self) {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).ready = false;
    }
}

impl Snapshot {
    /// Why the service is not ready yet (`None` once it is).
    pub fn not_ready_reason(&self) -> Option<String> {
        if self.ready {
            None
        } else if self.passes == 0 {
            Some("starting: no pass over the log has finished yet".into())
        } else {
            let lag: i64 = self.operators.iter().flat_map(|o| o.lag.iter().map(|l| l.2)).sum();
            Some(format!(
                "catching up with the log: {} pass(es) done, the last consumed {} record(s), {lag} record(s) behind",
                self.passes, self.last_pass_consumed
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use trustloop_schemas::EventType;
    use trustloop_schemas::json::IngestDefaults;

    use super::*;
    use trustloop_connectors::log::embedded::FsyncPolicy;

    use crate::backend::{Backend, BackendConfig};
    use crate::graph;
    use crate::ingest::ingest_lines;
    use crate::stage::Cutoff;

    /// Stages fed by real passes over an embedded log: counters and lag as the runner records them.
    #[tokio::test]
    async fn records_the_counts_and_lag_of_real_passes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let args = BackendConfig {
            partitions: 1,
            fsync: FsyncPolicy::Never,
            ..BackendConfig::embedded(dir.path().to_path_buf())
        };
        let backend = Backend::open(&args).await.expect("open the log");
        let lines: String = (0..5)
            .map(|m| {
                format!(
                    "{{\"tenant\":\"acme\",\"entity\":\"host-{m}\",\"kind\":\"auth_failure\",\"value\":2.0,\"event_time\":\"2026-11-01T00:0{m}:00Z\"}}\n"
                )
            })
            .collect();
        let defaults = IngestDefaults { tenant: None, source: "test".into(), now_micros: 0 };
        let ingested = ingest_lines(&backend, "telemetry", EventType::Telemetry, lines.as_bytes(), &defaults)
            .await
            .expect("ingest");
        assert_eq!(ingested.appended, 5);
        let mut stages = graph::stages(&backend).await.expect("stages");
        let ops = Ops::new();
        let trust_of = |ops: &Ops| {
            let snap = ops.snapshot();
            let trust = snap.operators.iter().find(|o| o.name == "trust").cloned().expect("the trust operator");
            let telemetry: Vec<i64> = trust.lag.iter().filter(|l| l.0 == "telemetry").map(|l| l.2).collect();
            (trust.stats.applied, telemetry, snap)
        };

        // A pass that reads telemetry only up to offset 3 of 5 leaves the trust operator 2 behind.
        let cutoff: Cutoff = [(("telemetry".to_string(), 0), 3)].into_iter().collect();
        for s in stages.iter_mut() {
            s.pass(&backend, &cutoff).await.expect("pass");
        }
        ops.record_pass(&PassDone {
            pass: 1,
            consumed: 3,
            bounded: false,
            duration: Duration::from_millis(4),
            stages: &stages,
            effects: &[],
        });
        let (applied, lag, snap) = trust_of(&ops);
        assert_eq!((applied, lag), (3, vec![2]));
        assert_eq!(snap.passes, 1);
        assert_eq!(snap.operators.len(), stages.len());
        assert!(snap.not_ready_reason().is_some_and(|r| r.ends_with(", 2 record(s) behind")), "{snap:?}");

        // The next pass reads the rest: nothing lags.
        for s in stages.iter_mut() {
            s.pass(&backend, &Cutoff::new()).await.expect("pass");
        }
        ops.record_pass(&PassDone {
            pass: 2,
            consumed: 2,
            bounded: false,
            duration: Duration::from_millis(6),
            stages: &stages,
            effects: &[],
        });
        let (applied, lag, snap) = trust_of(&ops);
        assert_eq!((applied, lag), (5, vec![0]));
        assert_eq!((snap.passes, snap.pass_time_total), (2, Duration::from_millis(10)));
        assert_eq!(snap.last_pass_duration, Duration::from_millis(6));
    }

    #[test]
    fn readiness_reasons() {
        let mut s = Snapshot::default();
        assert!(s.not_ready_reason().is_some_and(|r| r.starts_with("starting")));
        s.passes = 2;
        s.last_pass_consumed = 7;
        s.operators.push(OperatorSnapshot {
            name: "trust",
            stats: StageStats::default(),
            lag: vec![("telemetry".into(), 0, 3), ("telemetry".into(), 1, 2)],
        });
        assert_eq!(
            s.not_ready_reason().as_deref(),
            Some("catching up with the log: 2 pass(es) done, the last consumed 7 record(s), 5 record(s) behind")
        );
        let ops = Ops::new();
        assert!(!ops.snapshot().ready);
        ops.set_ready();
        assert_eq!(ops.snapshot().not_ready_reason(), None);
    }
}
