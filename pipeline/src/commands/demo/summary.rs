//! What the demo did, read back from the derived topics (not from the operators' memory): the
//! summary is what an operator would see by consuming `verdicts`, `actions` and `findings`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use trustloop_schemas::{ActionState, Event, EventType, FindingChange, Outcome, SubjectKind, Text, Verdict, VexStatus};

use super::fleet::Fleet;
use trustloop_runtime::backend::Backend;
use trustloop_runtime::ingest::IngestReport;
use trustloop_runtime::stage::RunReport;

/// Every event of `topic`, partition by partition (each key's events are in order).
pub(super) async fn read_topic(backend: &Backend, topic: &str) -> Result<Vec<Event>> {
    Ok(backend.events(topic).await?)
}

fn state_name(s: ActionState) -> &'static str {
    trustloop_connectors::enforce::state_name(s)
}

/// A finding: release name, version, environment, vulnerability, purl.
type FindingKey = (Text, Text, Option<Text>, Text, Text);

/// The demo's outcome.
pub(super) struct Summary {
    events_in: u64,
    telemetry_appended: u64,
    telemetry_expected: u64,
    rejected: Vec<(u64, String)>,
    malformed: usize,
    dead_letters: u64,
    findings_open: u64,
    findings_by_status: BTreeMap<&'static str, u64>,
    vex_conflicts: u64,
    trust_scores: u64,
    lowest: Vec<(String, f64)>,
    misbehaving: Vec<String>,
    verdicts: BTreeMap<&'static str, u64>,
    releases: Vec<Verdict>,
    actions: BTreeMap<&'static str, u64>,
    action_events: u64,
    firewall_rules: usize,
    run: RunReport,
    collect_secs: f64,
    total_secs: f64,
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Warn => "warn",
        Outcome::Fail => "fail",
    }
}

/// Reads the derived topics and sums them up.
#[allow(clippy::too_many_arguments)]
pub(super) async fn collect(
    backend: &Backend,
    dir: &Path,
    events_in: u64,
    report: &IngestReport,
    fleet: &Fleet,
    run: &RunReport,
    collect: Duration,
    total: Duration,
) -> Result<Summary> {
    let mut open: BTreeMap<FindingKey, (VexStatus, bool)> = BTreeMap::new();
    for e in read_topic(backend, EventType::Finding.topic()).await? {
        if let Event::Finding(f) = e {
            let vulnerability: Text = f.vulnerability().into();
            let key = (f.release_name, f.release_version, f.environment, vulnerability, f.purl);
            match f.change {
                FindingChange::Opened => {
                    open.insert(key, (f.vex_status, f.vex_conflict));
                }
                FindingChange::Closed => {
                    open.remove(&key);
                }
            }
        }
    }
    let mut findings_by_status = BTreeMap::new();
    for (status, _) in open.values() {
        *findings_by_status.entry(trustloop_operators::vex::status_name(*status)).or_default() += 1;
    }
    let vex_conflicts = open.values().filter(|(_, c)| *c).count() as u64;

    let mut scores: BTreeMap<String, f64> = BTreeMap::new();
    let mut lowest: BTreeMap<String, f64> = BTreeMap::new();
    let mut trust_scores = 0;
    for e in read_topic(backend, EventType::TrustScore.topic()).await? {
        if let Event::TrustScore(t) = e {
            trust_scores += 1;
            let low = lowest.entry(t.entity.clone()).or_insert(t.score);
            *low = low.min(t.score);
            scores.insert(t.entity, t.score);
        }
    }
    let mut lowest: Vec<(String, f64)> = lowest.into_iter().collect();
    lowest.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    lowest.truncate(5);

    let mut latest: BTreeMap<String, Verdict> = BTreeMap::new();
    for e in read_topic(backend, EventType::Verdict.topic()).await? {
        if let Event::Verdict(v) = e {
            latest.insert(format!("{}/{}", v.envelope.tenant, v.subject), v);
        }
    }
    let mut verdicts = BTreeMap::from([("pass", 0), ("warn", 0), ("fail", 0)]);
    for v in latest.values() {
        *verdicts.entry(outcome_name(v.outcome)).or_default() += 1;
    }
    let releases: Vec<Verdict> = latest.into_values().filter(|v| v.subject_kind == SubjectKind::Release).collect();

    let mut action_state: BTreeMap<String, ActionState> = BTreeMap::new();
    let mut action_events = 0;
    for e in read_topic(backend, EventType::EnforcementAction.topic()).await? {
        if let Event::EnforcementAction(a) = e {
            action_events += 1;
            action_state.insert(a.action_id, a.state);
        }
    }
    let mut actions = BTreeMap::new();
    for s in action_state.values() {
        *actions.entry(state_name(*s)).or_default() += 1;
    }
    let dead_letters = read_topic(backend, EventType::DeadLetter.topic()).await?.len() as u64;
    let firewall_rules = std::fs::read_to_string(dir.join("enforcement").join("firewall.rules"))
        .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count())
        .unwrap_or(0);
    Ok(Summary {
        events_in,
        telemetry_appended: report.appended,
        telemetry_expected: fleet.good,
        rejected: report.rejected.iter().map(|r| (r.line, r.reason.clone())).collect(),
        malformed: fleet.malformed.len(),
        dead_letters,
        findings_open: open.len() as u64,
        findings_by_status,
        vex_conflicts,
        trust_scores,
        lowest,
        misbehaving: fleet.misbehaving.clone(),
        verdicts,
        releases,
        actions,
        action_events,
        firewall_rules,
        run: run.clone(),
        collect_secs: collect.as_secs_f64(),
        total_secs: total.as_secs_f64(),
    })
}

impl Summary {
    /// Whether what was read back agrees with what was sent: every good line appended, every bad
    /// one (and nothing else) dead-lettered, every promotion decided, no action stuck in flight.
    pub(super) fn consistent(&self) -> bool {
        let in_flight: u64 = ["requested", "dispatched", "acknowledged", "applied"]
            .iter()
            .map(|s| self.actions.get(s).copied().unwrap_or(0))
            .sum();
        self.telemetry_appended == self.telemetry_expected
            && self.rejected.len() == self.malformed
            && self.dead_letters == self.malformed as u64
            && self.releases.len() == 3
            && in_flight == 0
    }

    /// The summary as one JSON object.
    pub(super) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "events_in": self.events_in,
            "telemetry": {"appended": self.telemetry_appended, "rejected": self.rejected.len()},
            "dead_letters": self.dead_letters,
            "findings_open": self.findings_open,
            "findings_by_vex_status": self.findings_by_status,
            "vex_conflicts": self.vex_conflicts,
            "trust_scores": self.trust_scores,
            "lowest_trust": self.lowest.iter().map(|(e, s)| serde_json::json!({"entity": e, "score": s})).collect::<Vec<_>>(),
            "misbehaving": self.misbehaving,
            "verdicts": self.verdicts,
            "releases": self.releases.iter().map(|v| serde_json::json!({
                "subject": v.subject,
                "outcome": outcome_name(v.outcome),
                "reasons": v.reasons.iter().map(|r| &r.rule).collect::<Vec<_>>(),
                "evidence_digest": v.evidence_digest,
                "event_id": v.envelope.event_id.to_string(),
            })).collect::<Vec<_>>(),
            "actions": self.actions,
            "action_events": self.action_events,
            "firewall_rules": self.firewall_rules,
            "passes": self.run.passes,
            "operators": self.run.stages,
            "seconds": {"collect": self.collect_secs, "total": self.total_secs},
            "consistent": self.consistent(),
        })
    }

    /// The summary for people.
    pub(super) fn print(&self, dir: &Path) {
        let d = dir.display();
        println!("trustloop demo — the closed loop on the embedded log in {d}");
        println!(
            "  collect   {} events in: telemetry {} appended, {} malformed line(s) → dlq",
            self.events_in,
            self.telemetry_appended,
            self.rejected.len()
        );
        for (line, reason) in &self.rejected {
            println!("              line {line}: {reason}");
        }
        let by_status: Vec<String> = self.findings_by_status.iter().map(|(s, n)| format!("{n} {s}")).collect();
        println!(
            "  analyze   {} open findings ({}); {} with conflicting VEX",
            self.findings_open,
            by_status.join(", "),
            self.vex_conflicts
        );
        println!(
            "            {} trust scores; lowest: {}",
            self.trust_scores,
            self.lowest.iter().map(|(e, s)| format!("{e} {s:.1}")).collect::<Vec<_>>().join(", ")
        );
        println!(
            "  decide    verdicts: {} pass, {} warn, {} fail",
            self.verdicts.get("pass").unwrap_or(&0),
            self.verdicts.get("warn").unwrap_or(&0),
            self.verdicts.get("fail").unwrap_or(&0)
        );
        for v in &self.releases {
            let rules: Vec<&str> = v.reasons.iter().map(|r| r.rule.as_str()).collect();
            println!("              {:<34} {:<4} {}", v.subject, outcome_name(v.outcome), rules.join(", "));
        }
        let states: Vec<String> = self.actions.iter().map(|(s, n)| format!("{n} {s}")).collect();
        println!(
            "  enforce   {} actions ({} lifecycle events): {}",
            self.action_events_actions(),
            self.action_events,
            states.join(", ")
        );
        println!("            firewall rules in force: {} ({d}/enforcement/firewall.rules)", self.firewall_rules);
        println!(
            "  took {:.2} s ({:.2} s collecting, {} passes over the operators)",
            self.total_secs, self.collect_secs, self.run.passes
        );
        println!("  {}", if self.consistent() { "consistent" } else { "INCONSISTENT: see the counts above" });
        println!("  inspect:  trustloop --data {d} consume --topic verdicts --from-beginning");
        println!("            trustloop --data {d} findings --release arroyo@2023-12");
    }

    fn action_events_actions(&self) -> u64 {
        self.actions.values().sum()
    }
}
