//! The [`Snapshot`] in the Prometheus text exposition format (version 0.0.4): `# HELP` and `# TYPE`
//! lines per metric family, then one `name{label="value",…} value` line per sample.

use std::fmt::{Display, Write};

use super::Snapshot;

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders every metric of `s`.
pub fn render(s: &Snapshot) -> String {
    let mut out = Exposition::default();
    out.family("trustloop_ready", "gauge", "1 once every stage has caught up with the log at least once, else 0.");
    out.sample("trustloop_ready", &[], u8::from(s.ready));
    out.family("trustloop_passes_total", "counter", "Passes over the operators and effects since the process started.");
    out.sample("trustloop_passes_total", &[], s.passes);
    out.family("trustloop_pass_seconds_total", "counter", "Wall-clock seconds spent in passes.");
    out.sample("trustloop_pass_seconds_total", &[], s.pass_time_total.as_secs_f64());
    out.family("trustloop_last_pass_duration_seconds", "gauge", "Wall-clock duration of the last pass.");
    out.sample("trustloop_last_pass_duration_seconds", &[], s.last_pass_duration.as_secs_f64());
    out.family("trustloop_last_pass_consumed_records", "gauge", "Input records the last pass consumed (0: settled).");
    out.sample("trustloop_last_pass_consumed_records", &[], s.last_pass_consumed);

    let events = "trustloop_operator_events_total";
    out.family(
        events,
        "counter",
        "Per operator: input records applied (replayed ones included), replayed to restore state, derived events written, inputs sent to dlq, derived events not written again (a killed run had written them).",
    );
    for o in &s.operators {
        for (kind, n) in [
            ("applied", o.stats.applied),
            ("replayed", o.stats.replayed),
            ("written", o.stats.written),
            ("dead_letter", o.stats.dead_letters),
            ("deduplicated", o.stats.deduplicated),
        ] {
            out.sample(events, &[("operator", o.name), ("kind", kind)], n);
        }
    }
    let snapshots = "trustloop_snapshots_total";
    out.family(snapshots, "counter", "Per operator: snapshots of its state taken (checkpoints).");
    for o in &s.operators {
        out.sample(snapshots, &[("operator", o.name)], o.stats.snapshots);
    }
    let snapshot_secs = "trustloop_last_snapshot_duration_seconds";
    out.family(snapshot_secs, "gauge", "Per operator: how long its last snapshot took (serialize and write).");
    for o in &s.operators {
        out.sample(snapshot_secs, &[("operator", o.name)], o.stats.last_snapshot_micros as f64 / 1e6);
    }
    let lag = "trustloop_consumer_lag_records";
    out.family(
        lag,
        "gauge",
        "Per operator and input partition: end offset minus the operator's position, as of its last read.",
    );
    for o in &s.operators {
        for (topic, partition, n) in &o.lag {
            out.sample(lag, &[("operator", o.name), ("topic", topic), ("partition", &partition.to_string())], n);
        }
    }
    let dispatched = "trustloop_adapter_dispatched_total";
    out.family(dispatched, "counter", "Dispatched action steps handed to each enforcement adapter.");
    for (adapter, a) in &s.adapters {
        out.sample(dispatched, &[("adapter", adapter)], a.dispatched);
    }
    let failures = "trustloop_adapter_failures_total";
    out.family(failures, "counter", "Step results each enforcement adapter reported as failed.");
    for (adapter, a) in &s.adapters {
        out.sample(failures, &[("adapter", adapter)], a.failures);
    }
    out.text
}

#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        // Writing to a String cannot fail.
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape_label(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }
}

/// Escapes a label value: backslash, double quote and line feed.
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::ops::OperatorSnapshot;
    use crate::stage::{AdapterStats, StageStats};

    #[test]
    fn renders_every_family_with_labels_and_values() {
        let mut s = Snapshot {
            ready: true,
            passes: 4,
            last_pass_consumed: 0,
            last_pass_duration: Duration::from_millis(1500),
            pass_time_total: Duration::from_millis(2250),
            ..Snapshot::default()
        };
        s.operators.push(OperatorSnapshot {
            name: "trust",
            stats: StageStats {
                applied: 10,
                replayed: 3,
                written: 2,
                dead_letters: 1,
                deduplicated: 4,
                snapshots: 2,
                last_snapshot_micros: 250_000,
                ..StageStats::default()
            },
            lag: vec![("telemetry".into(), 0, 0), ("telemetry".into(), 1, 5)],
        });
        s.adapters.insert("edge \"fw\"".into(), AdapterStats { dispatched: 6, failures: 2 });
        let text = render(&s);
        for line in [
            "# TYPE trustloop_operator_events_total counter",
            "trustloop_ready 1",
            "trustloop_passes_total 4",
            "trustloop_pass_seconds_total 2.25",
            "trustloop_last_pass_duration_seconds 1.5",
            r#"trustloop_operator_events_total{operator="trust",kind="applied"} 10"#,
            r#"trustloop_operator_events_total{operator="trust",kind="replayed"} 3"#,
            r#"trustloop_operator_events_total{operator="trust",kind="written"} 2"#,
            r#"trustloop_operator_events_total{operator="trust",kind="dead_letter"} 1"#,
            r#"trustloop_operator_events_total{operator="trust",kind="deduplicated"} 4"#,
            r#"trustloop_consumer_lag_records{operator="trust",topic="telemetry",partition="1"} 5"#,
            r#"trustloop_snapshots_total{operator="trust"} 2"#,
            r#"trustloop_last_snapshot_duration_seconds{operator="trust"} 0.25"#,
            r#"trustloop_adapter_dispatched_total{adapter="edge \"fw\""} 6"#,
            r#"trustloop_adapter_failures_total{adapter="edge \"fw\""} 2"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        // Every family is announced once, before its samples.
        let mut declared = std::collections::BTreeSet::new();
        for l in text.lines() {
            if let Some(decl) = l.strip_prefix("# TYPE ") {
                let name = decl.split(' ').next().unwrap_or_default();
                assert!(declared.insert(name), "{name} declared twice");
            } else if !l.starts_with('#') {
                let name = l.split(['{', ' ']).next().unwrap_or_default();
                assert!(declared.contains(name), "{name} has no TYPE line before {l:?}");
            }
        }
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }
}
