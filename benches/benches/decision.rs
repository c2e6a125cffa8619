//! Decision latency for one large release: 5,000 components, one open finding each (the worst case:
//! every component vulnerable), advisory ids, aliases, severities and fixed versions taken from the
//! real RustSec advisories in `../shared/data` (synthetic ones when it is absent), VEX statuses mixed
//! (affected, under investigation, not affected, fixed), some known exploited. Policy: known-exploited
//! fails, critical fails in prod, high warns; one approval for prod; a waiver and a future freeze
//! window so the time-based paths run. Then
//! * a `PromotionRequest` → verdict + action (all findings evaluated, reasons and evidence digest
//!   built),
//! * a finding delta that does not change the outcome (a VEX status update: re-evaluation only),
//! * a finding delta that flips the outcome (a known-exploited finding opened / closed: re-evaluation,
//!   reasons, evidence digest, verdict),
//!
//! each as p50/p99 over many inputs. Target (issue 4): a decision ≤ 5 ms.
//!
//! `cargo bench -p trustloop-benches --bench decision` (under `cargo test` it runs a short smoke version).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use trustloop_benches::benchmarking;
use trustloop_connectors::import::osv;
use trustloop_operators::decision::DecisionState;
use trustloop_operators::input::Input;
use trustloop_operators::policy;
use trustloop_schemas::{
    Advisory, Envelope, Event, EventId, EventTime, EventType, Finding, FindingChange, Match, Policy, PromotionRequest,
    VexStatus, texts,
};

const T0: i64 = 1_793_534_400_000_000; // 2026-11-01T12:00:00Z
const COMPONENTS: usize = 5_000;

fn shared_data() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("TRUSTLOOP_SHARED_DATA") {
        return Some(PathBuf::from(p)).filter(|p| p.is_dir());
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    p.is_dir().then_some(p)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn envelope(n: u64, key: &str) -> Envelope {
    Envelope {
        event_id: EventId(uuid::Uuid::from_u128(u128::from(n) + 1)),
        tenant: "bench".into(),
        key: key.into(),
        event_time: EventTime::from_micros(T0 + n as i64),
        source: "bench".into(),
        schema_version: 1,
    }
}

/// What a finding is made from: advisory id, aliases, severity text, fixed versions, package name.
struct Source {
    id: String,
    aliases: Vec<String>,
    severity: Option<String>,
    fixed: Vec<String>,
    package: String,
}

fn real_sources(dir: &Path) -> Vec<Source> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|p| osv::parse_file(p, "bench").ok())
        .map(|a: Advisory| Source {
            fixed: a
                .affected
                .iter()
                .flat_map(|af| af.ranges.iter().flat_map(|r| r.events.iter()))
                .filter_map(|e| e.fixed.clone())
                .collect(),
            package: a.affected.first().map_or_else(|| "unknown".to_string(), |af| af.package.name.clone()),
            severity: a.severity.first().map(|s| s.score.clone()),
            aliases: a.aliases,
            id: a.id,
        })
        .collect()
}

fn synthetic_sources() -> Vec<Source> {
    const SEVERITIES: [&str; 4] = [
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
        "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:H",
        "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:L",
    ];
    (0..800)
        .map(|i| Source {
            id: format!("SYNTH-2026-{i:04}"),
            aliases: vec![format!("CVE-2026-{:05}", 10_000 + i)],
            severity: (i % 9 != 0).then(|| SEVERITIES[i % 4].to_string()),
            fixed: if i % 3 == 0 { Vec::new() } else { vec![format!("{}.{}.1", i % 5, i % 11)] },
            package: format!("crate-{i}"),
        })
        .collect()
}

fn finding(n: u64, i: usize, s: &Source, vex: VexStatus, kev: bool, change: FindingChange) -> Event {
    let version = format!("0.{}.{}", i % 97, i / 97);
    Event::Finding(Finding {
        envelope: envelope(n, "shop@2.3.1"),
        change,
        release_name: "shop".into(),
        release_version: "2.3.1".into(),
        environment: None,
        advisory_id: s.id.as_str().into(),
        aliases: texts(&s.aliases),
        purl: format!("pkg:cargo/{}-{i}@{version}", s.package).into(),
        ecosystem: "crates.io".into(),
        package_name: format!("{}-{i}", s.package).into(),
        package_version: version.into(),
        vex_status: vex,
        severity: s.severity.as_deref().map(Into::into),
        matched: std::sync::Arc::new(Match {
            range_type: "SEMVER".into(),
            event: "introduced=0".into(),
            comparator: "semver".into(),
        }),
        vex_statement_ids: Vec::new(),
        cause_event_id: "bench".into(),
        vex_justification: None,
        vex_conflict: false,
        vex_votes: Vec::new(),
        known_exploited: kev,
        fixed_versions: texts(&s.fixed),
        distro_release: None,
        release_unknown: false,
        cves: texts::<&str>([]),
        exploited_ids: texts::<&str>([]),
        epss: None,
        epss_percentile: None,
        scope: None,
        direct: None,
        licenses: Default::default(),
        cwes: Default::default(),
        vulnerability_id: Default::default(),
        sources: Default::default(),
        disagreements: Default::default(),
    })
}

fn promotion(n: u64) -> Event {
    Event::PromotionRequest(PromotionRequest {
        envelope: envelope(n, "shop@2.3.1"),
        release_name: "shop".into(),
        release_version: "2.3.1".into(),
        from_environment: "dev".into(),
        to_environment: "staging".into(),
        requested_by: "ci".into(),
    })
}

fn policy_event(n: u64, waived: &str) -> Event {
    let yaml = format!(
        r#"api_version: trustloop/v1
name: bench
release_gates:
  rules:
    - {{id: known-exploited, when: {{known_exploited: true}}, outcome: fail}}
    - {{id: critical, environments: [prod], when: {{min_severity: critical}}, outcome: fail}}
    - {{id: high, when: {{min_severity: high}}, outcome: warn}}
  approvals: [{{environments: [prod], required: 1}}]
  freeze_windows: [{{id: year-end, from: '2026-12-20T00:00:00Z', until: '2027-01-04T00:00:00Z'}}]
  waivers: [{{id: WVR-1, advisory: '{waived}', releases: [shop], justification: bench, expires: '2027-01-31T00:00:00Z'}}]
"#
    );
    let doc = policy::parse(&yaml).expect("bench policy");
    Event::Policy(Policy {
        envelope: envelope(n, "bench"),
        name: doc.name.clone(),
        version: 1,
        digest: doc.digest(),
        format: "yaml".into(),
        document: yaml,
    })
}

/// Feeds inputs with increasing offsets per topic.
struct Feeder {
    state: DecisionState,
    next: BTreeMap<&'static str, i64>,
}

impl Feeder {
    fn feed(&mut self, e: &Event) -> Vec<Event> {
        let topic = e.event_type().topic();
        let offset = self.next.entry(topic).or_insert(0);
        let input = Input::new(topic, 0, *offset, e);
        *offset += 1;
        self.state.apply(&input)
    }
}

fn report(name: &str, mut ms: Vec<f64>, detail: &str) {
    ms.sort_by(f64::total_cmp);
    println!(
        "decision: {name}: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} inputs; {detail})",
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms[ms.len() - 1],
        ms.len()
    );
}

fn main() {
    let full = benchmarking();
    let rounds = if full { 1_000 } else { 5 };
    let (sources, origin) = match shared_data().map(|d| real_sources(&d.join("advisories/rustsec/crates"))) {
        Some(s) if !s.is_empty() => (s, "RustSec advisories from ../shared/data"),
        _ => (synthetic_sources(), "synthetic advisories (../shared/data is absent)"),
    };
    let mut f = Feeder { state: DecisionState::new(), next: BTreeMap::new() };
    let mut n = 0u64;
    let mut next = || {
        n += 1;
        n
    };
    f.feed(&policy_event(next(), &sources[0].id));
    // The release: one finding per component; VEX: 70% affected, 10% under investigation, 15% not
    // affected, 5% fixed; one in 50 known exploited but marked not affected by VEX (so the release
    // warns rather than fails); component 0 carries the waived advisory.
    let mut kev_template = None;
    let started = Instant::now();
    for i in 0..COMPONENTS {
        let s = &sources[i % sources.len()];
        let vex = match i % 20 {
            0..=13 => VexStatus::Affected,
            14 | 15 => VexStatus::UnderInvestigation,
            16..=18 => VexStatus::NotAffected,
            _ => VexStatus::Fixed,
        };
        let kev = i % 50 == 7;
        let vex = if kev { VexStatus::NotAffected } else { vex };
        if kev && kev_template.is_none() {
            kev_template = Some(i);
        }
        f.feed(&finding(next(), i, s, vex, kev, FindingChange::Opened));
    }
    let load = started.elapsed().as_secs_f64() * 1e3;
    println!(
        "decision: release shop@2.3.1 with {COMPONENTS} open findings from {} {origin}; loaded in {load:.1} ms",
        sources.len().min(COMPONENTS)
    );
    let first = f.feed(&promotion(next()));
    if let Some(Event::Verdict(v)) = first.first() {
        println!(
            "decision: first verdict {:?}: {} reasons, {} facts",
            v.outcome,
            v.reasons.len(),
            v.reasons.iter().map(|r| r.facts.len()).sum::<usize>()
        );
    }

    // 1. Promotion requests: verdict + action each time.
    let mut ms = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let e = promotion(next());
        let t = Instant::now();
        let out = f.feed(&e);
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(out.len(), 2, "a verdict and an action");
    }
    report("PromotionRequest → verdict + action", ms, "every request re-evaluates all findings");

    // 2. VEX updates of one finding that leave the outcome as it is: no output.
    let mut ms = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let i = 1 + (r * 37) % (COMPONENTS - 1);
        let vex = if r % 2 == 0 { VexStatus::UnderInvestigation } else { VexStatus::Affected };
        let e = finding(next(), i, &sources[i % sources.len()], vex, false, FindingChange::Opened);
        let t = Instant::now();
        let out = f.feed(&e);
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(out.is_empty(), "the outcome does not change");
    }
    report("finding delta, outcome unchanged", ms, "re-evaluation only");

    // 3. A known-exploited finding opened, then closed: FAIL, WARN, FAIL, … — a verdict each time.
    let k = kev_template.unwrap_or(7);
    let mut ms = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let change = if r % 2 == 0 { FindingChange::Opened } else { FindingChange::Closed };
        let mut e = finding(next(), k, &sources[k % sources.len()], VexStatus::Affected, true, change);
        if let Event::Finding(x) = &mut e {
            x.purl = format!("{}-kev", x.purl).into();
        }
        let t = Instant::now();
        let out = f.feed(&e);
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(out.len(), 1, "the outcome flips: one verdict");
        assert_eq!(out[0].event_type(), EventType::Verdict);
    }
    report("finding delta, outcome flips", ms, "re-evaluation, reasons, evidence digest, verdict");
}
