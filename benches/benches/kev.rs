//! Known exploitation at fleet scale: CISA's whole catalog imported while 10,000 promoted releases
//! wait on it. Setup (untimed): one advisory per catalog CVE (a GHSA-style id aliasing the CVE, on
//! its own npm package) and as many advisories of CVEs the catalog does not list; 10,000 releases of
//! 200 npm components each, one in 200 from those packages at an affected version (so about 40 % of
//! the releases hold a finding whose CVE the catalog lists); each release promoted to staging (PASS
//! under the default policy: the findings have no severity). Timed, as one run: reading the catalog
//! (`import::kev::import`: JSON → `KnownExploited` events), the findings operator applying every
//! event (re-emitting the open findings each listing touches), and the decision operator applying
//! every re-emitted finding (re-deciding the releases, a verdict for each that flips to FAIL).
//! Every release holding a listed CVE must flip. Target (issue 19): ≤ 1 s.
//!
//! The catalog is `../shared/data/advisories/kev/known_exploited_vulnerabilities.json` when present
//! (`TRUSTLOOP_SHARED_DATA`), else one of the same size generated here. `TRUSTLOOP_KEV_RELEASES`
//! sets the number of releases.
//!
//! `cargo bench -p trustloop-benches --bench kev` (under `cargo test`, a smoke version: 200 releases).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use trustloop_benches::benchmarking;
use trustloop_connectors::import::kev;
use trustloop_operators::decision::DecisionState;
use trustloop_operators::findings::FindingsState;
use trustloop_operators::input::Input;
use trustloop_schemas::{
    Advisory, AdvisoryChange, Affected, AffectedPackage, Component, Envelope, Event, EventTime, EventType,
    InventoryFormat, Outcome, PromotionRequest, Range, RangeEvent, RangeType, ReleaseInventory, derive_event_id,
};

const COMPONENTS: usize = 200;

fn envelope(key: &str, n: u64) -> Envelope {
    Envelope {
        event_id: derive_event_id("kev-bench", &[key.as_bytes(), &n.to_le_bytes()]),
        tenant: "acme".into(),
        key: key.into(),
        event_time: EventTime::from_micros(1_600_000_000_000_000 + n as i64),
        source: "bench".into(),
        schema_version: 1,
    }
}

fn advisory(n: u64, cve: &str) -> Event {
    let id = format!("GHSA-bench-{n:06}");
    Event::Advisory(Advisory {
        envelope: envelope(&id, n),
        change: AdvisoryChange::Upsert,
        id: id.clone(),
        modified: EventTime::from_micros(0),
        published: None,
        withdrawn: None,
        aliases: vec![cve.to_string()],
        related: vec![],
        summary: None,
        details: None,
        severity: vec![],
        affected: vec![Affected {
            package: AffectedPackage { ecosystem: "npm".into(), name: format!("pkg-{n}"), purl: None },
            ranges: vec![Range {
                kind: RangeType::Semver,
                repo: None,
                events: vec![
                    RangeEvent { introduced: Some("0".into()), ..Default::default() },
                    RangeEvent { fixed: Some("2.0.0".into()), ..Default::default() },
                ],
            }],
            versions: vec![],
            ecosystem_specific: None,
            database_specific: None,
        }],
        references: vec![],
        known_exploited: false,
        database_specific: None,
        upstream: vec![],
    })
}

/// The catalog text: the shared one, else a generated one of 1,404 entries.
fn catalog() -> String {
    let data = std::env::var_os("TRUSTLOOP_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    if let Ok(text) = std::fs::read_to_string(data.join("advisories/kev/known_exploited_vulnerabilities.json")) {
        return text;
    }
    let items: Vec<String> = (0..1404)
        .map(|i| {
            format!(
                r#"{{"cveID": "CVE-2020-{:05}", "dateAdded": "2021-{:02}-01", "cwes": []}}"#,
                10_000 + i,
                1 + i % 12
            )
        })
        .collect();
    format!(
        r#"{{"catalogVersion": "generated", "dateReleased": "2025-01-01T00:00:00Z", "count": 1404, "vulnerabilities": [{}]}}"#,
        items.join(",")
    )
}

struct Fed {
    findings: FindingsState,
    decision: DecisionState,
    next: BTreeMap<&'static str, i64>,
}

impl Fed {
    /// Applies `e` to the findings operator and its findings (with `e` itself, if the decision
    /// operator reads it) to the decision operator; returns the verdicts.
    fn feed(&mut self, e: &Event) -> Vec<Event> {
        let mut out = Vec::new();
        let derived: Vec<Event> = self.findings.apply_event(e).into_iter().map(Event::Finding).collect();
        for d in derived.iter().chain(std::iter::once(e)) {
            let topic = d.event_type().topic();
            let offset = self.next.entry(topic).or_insert(0);
            let input = Input::new(topic, 0, *offset, d);
            *offset += 1;
            out.extend(self.decision.apply(&input).into_iter().filter(|v| v.event_type() == EventType::Verdict));
        }
        out
    }
}

fn main() {
    let full = benchmarking();
    let releases: usize = if full {
        std::env::var("TRUSTLOOP_KEV_RELEASES").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000)
    } else {
        200
    };
    let text = catalog();
    let listed: Vec<String> = kev::import(&text, "kev.json", "acme", &BTreeSet::new(), None)
        .expect("catalog")
        .events
        .iter()
        .map(|e| e.cve.clone())
        .collect();
    // One advisory per listed CVE and as many for unlisted ones.
    let mut cves: Vec<String> = listed.clone();
    cves.extend((0..listed.len()).map(|i| format!("CVE-1999-{:05}", 10_000 + i)));
    let mut fed = Fed { findings: FindingsState::default(), decision: DecisionState::new(), next: BTreeMap::new() };
    let started = Instant::now();
    for (n, cve) in cves.iter().enumerate() {
        fed.feed(&advisory(n as u64, cve));
    }
    // Releases: 200 components each, 1 in 200 from the advisories' packages at an affected version.
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut holding_listed = 0usize;
    for r in 0..releases {
        let mut components = Vec::with_capacity(COMPONENTS);
        let mut listed_here = false;
        for c in 0..COMPONENTS {
            let (name, version) = if next() % 200 == 0 {
                let a = (next() % cves.len() as u64) as usize;
                listed_here |= a < listed.len();
                (format!("pkg-{a}"), "1.0.0".to_string())
            } else {
                (format!("clean-{}", next() % 50_000), format!("1.{}.0", c % 7))
            };
            components.push(Component {
                purl: format!("pkg:npm/{name}@{version}"),
                ecosystem: "npm".into(),
                name,
                version,
                ..Default::default()
            });
        }
        holding_listed += usize::from(listed_here);
        let name = format!("svc-{r}");
        let n = (cves.len() + 2 * r) as u64;
        fed.feed(&Event::ReleaseInventory(ReleaseInventory {
            envelope: envelope(&name, n),
            release_name: name.clone(),
            release_version: "1.0.0".into(),
            environment: None,
            format: InventoryFormat::Other,
            document_digest: None,
            components,
            os: None,
            labels: Default::default(),
            left_out: vec![],
        }));
        let verdicts = fed.feed(&Event::PromotionRequest(PromotionRequest {
            envelope: envelope(&name, n + 1),
            release_name: name,
            release_version: "1.0.0".into(),
            from_environment: "dev".into(),
            to_environment: "staging".into(),
            requested_by: "ci".into(),
        }));
        assert!(verdicts.iter().all(|v| matches!(v, Event::Verdict(v) if v.outcome == Outcome::Pass)));
    }
    println!(
        "kev: {} advisories ({} of listed CVEs), {releases} releases × {COMPONENTS} components promoted ({holding_listed} hold a listed CVE) in {:.1} s",
        cves.len(),
        listed.len(),
        started.elapsed().as_secs_f64()
    );

    // Timed: the catalog read, the findings re-emitted, the releases re-decided.
    let t = Instant::now();
    let catalog = kev::import(&text, "kev.json", "acme", &BTreeSet::new(), None).expect("catalog");
    let read = t.elapsed();
    let mut flipped = BTreeSet::new();
    let mut reemitted = 0usize;
    for e in catalog.events {
        let e = Event::KnownExploited(e);
        let derived: Vec<Event> = fed.findings.apply_event(&e).into_iter().map(Event::Finding).collect();
        reemitted += derived.len();
        for d in &derived {
            let topic = d.event_type().topic();
            let offset = fed.next.entry(topic).or_insert(0);
            let input = Input::new(topic, 0, *offset, d);
            *offset += 1;
            for v in fed.decision.apply(&input) {
                if let Event::Verdict(v) = v
                    && v.outcome == Outcome::Fail
                {
                    flipped.insert(v.subject.clone());
                }
            }
        }
    }
    let total = t.elapsed();
    println!(
        "kev: whole catalog ({} entries) imported and {} releases re-decided in {:.0} ms (catalog read {:.0} ms; {reemitted} findings re-emitted, {} releases flipped to FAIL)",
        listed.len(),
        releases,
        total.as_secs_f64() * 1e3,
        read.as_secs_f64() * 1e3,
        flipped.len()
    );
    assert_eq!(flipped.len(), holding_listed, "every release holding a listed CVE flips, and only those");
}
