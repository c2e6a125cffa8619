use proptest::prelude::*;
use trustloop_schemas::{
    AffectedPackage, Component as InvComponent, EventId, EventTime, InventoryFormat, Range, RangeEvent, RangeType,
};

use super::*;

fn envelope(key: &str, n: u64) -> Envelope {
    Envelope {
        event_id: EventId(uuid::Uuid::from_u128(u128::from(n) + 1)),
        tenant: "acme".into(),
        key: key.into(),
        event_time: EventTime::from_micros(n as i64),
        source: "test".into(),
        schema_version: 1,
    }
}

fn advisory(id: &str, n: u64, pkg: &str, introduced: &str, fixed: Option<&str>) -> Event {
    let mut events = vec![RangeEvent { introduced: Some(introduced.into()), ..Default::default() }];
    if let Some(f) = fixed {
        events.push(RangeEvent { fixed: Some(f.into()), ..Default::default() });
    }
    Event::Advisory(Advisory {
        envelope: envelope(id, n),
        change: AdvisoryChange::Upsert,
        id: id.into(),
        modified: EventTime::from_micros(n as i64),
        published: None,
        withdrawn: None,
        aliases: vec![format!("CVE-{id}")],
        related: vec![],
        summary: None,
        details: None,
        severity: vec![],
        affected: vec![trustloop_schemas::Affected {
            package: AffectedPackage { ecosystem: "crates.io".into(), name: pkg.into(), purl: None },
            ranges: vec![Range { kind: RangeType::Semver, repo: None, events }],
            versions: vec![],
            ecosystem_specific: None,
            database_specific: None,
        }],
        references: vec![],
        known_exploited: false,
        database_specific: None,
    })
}

fn delete(id: &str, n: u64) -> Event {
    let Event::Advisory(mut a) = advisory(id, n, "x", "0", None) else { unreachable!() };
    a.change = AdvisoryChange::Delete;
    a.affected.clear();
    Event::Advisory(a)
}

fn release(name: &str, n: u64, components: &[(&str, &str)]) -> Event {
    Event::ReleaseInventory(ReleaseInventory {
        envelope: envelope(name, n),
        release_name: name.into(),
        release_version: "1".into(),
        environment: None,
        format: InventoryFormat::CargoLock,
        document_digest: None,
        components: components
            .iter()
            .map(|(p, v)| InvComponent {
                purl: format!("pkg:cargo/{p}@{v}"),
                ecosystem: "crates.io".into(),
                name: (*p).into(),
                version: (*v).into(),
                scope: None,
            })
            .collect(),
    })
}

fn changes(out: &[Finding]) -> Vec<(String, String, FindingChange)> {
    out.iter().map(|f| (f.release_name.clone(), f.advisory_id.clone(), f.change)).collect()
}

#[test]
fn advisory_after_release_opens_then_fix_closes() {
    let mut s = ImpactState::default();
    assert!(s.apply(&release("app", 1, &[("serde", "1.0.100"), ("tokio", "1.2.0")])).is_empty());
    let out = s.apply(&advisory("RUSTSEC-1", 2, "tokio", "1.0.0", None));
    assert_eq!(changes(&out), vec![("app".into(), "RUSTSEC-1".into(), FindingChange::Opened)]);
    assert_eq!(out[0].matched.event, "introduced=1.0.0");
    assert_eq!(out[0].matched.comparator, "semver");
    assert_eq!(out[0].aliases, vec!["CVE-RUSTSEC-1"]);
    // The advisory learns a fix below our version: the finding closes.
    let out = s.apply(&advisory("RUSTSEC-1", 3, "tokio", "1.0.0", Some("1.1.0")));
    assert_eq!(changes(&out), vec![("app".into(), "RUSTSEC-1".into(), FindingChange::Closed)]);
    assert_eq!(s.open_findings().count(), 0);
    // An unrelated package's advisory touches nothing.
    assert!(s.apply(&advisory("RUSTSEC-2", 4, "rand", "0", None)).is_empty());
}

#[test]
fn release_after_advisory_and_delete() {
    let mut s = ImpactState::default();
    s.apply(&advisory("RUSTSEC-1", 1, "tokio", "1.0.0", Some("1.5.0")));
    let out = s.apply(&release("app", 2, &[("tokio", "1.2.0")]));
    assert_eq!(changes(&out), vec![("app".into(), "RUSTSEC-1".into(), FindingChange::Opened)]);
    assert_eq!(out[0].matched.event, "introduced=1.0.0,fixed=1.5.0");
    // A re-import of the release with the fixed version closes it.
    let out = s.apply(&release("app", 3, &[("tokio", "1.5.0")]));
    assert_eq!(changes(&out), vec![("app".into(), "RUSTSEC-1".into(), FindingChange::Closed)]);
    s.apply(&release("app", 4, &[("tokio", "1.2.0")]));
    let out = s.apply(&delete("RUSTSEC-1", 5));
    assert_eq!(changes(&out), vec![("app".into(), "RUSTSEC-1".into(), FindingChange::Closed)]);
}

#[test]
fn outputs_are_deterministic() {
    let events = [
        release("a", 1, &[("tokio", "1.2.0"), ("serde", "1.0.0")]),
        release("b", 2, &[("tokio", "1.3.0")]),
        advisory("R-1", 3, "tokio", "0", None),
        advisory("R-2", 4, "serde", "0", Some("2.0.0")),
    ];
    let run = || {
        let mut s = ImpactState::default();
        let codec = trustloop_schemas::EventCodec::new();
        events
            .iter()
            .flat_map(|e| s.apply(e))
            .map(|f| codec.encode(&Event::Finding(f)).expect("encode"))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run(), "byte-identical outputs on repeat runs");
    assert_eq!(run().len(), 3);
}

/// Builds the open-findings set of a fresh state fed the final advisories, then the final releases.
fn batch(events: &[Event]) -> Vec<FindingKey> {
    let mut advisories: BTreeMap<String, Event> = BTreeMap::new();
    let mut releases: BTreeMap<String, Event> = BTreeMap::new();
    for e in events {
        match e {
            Event::Advisory(a) => {
                advisories.insert(a.id.clone(), e.clone());
            }
            Event::ReleaseInventory(r) => {
                releases.insert(r.release_name.clone(), e.clone());
            }
            _ => {}
        }
    }
    let mut s = ImpactState::default();
    for e in advisories.values().chain(releases.values()) {
        s.apply(e);
    }
    s.open_findings().map(|(k, _)| k.clone()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Incremental = batch: however advisories and releases interleave, the open findings equal a
    /// one-shot computation from the final state; and replaying the emitted deltas gives that set too.
    #[test]
    fn incremental_equals_batch(script in proptest::collection::vec((0u8..6, 0u8..3, 0u8..4, 0u8..4), 1..40)) {
        let pkgs = ["tokio", "serde", "rand"];
        let versions = ["0.9.0", "1.0.0", "1.2.0", "2.0.0"];
        let mut events = Vec::new();
        for (n, (kind, p, v, w)) in script.into_iter().enumerate() {
            let n = n as u64;
            let e = match kind {
                0 | 1 => advisory(&format!("A-{p}{}", v % 2), n, pkgs[p as usize], versions[v as usize],
                    (w > v).then(|| versions[w as usize])),
                2 => delete(&format!("A-{p}{}", v % 2), n),
                _ => release(&format!("rel-{}", v % 3), n, &[(pkgs[p as usize], versions[w as usize]), (pkgs[((p + 1) % 3) as usize], versions[v as usize])]),
            };
            events.push(e);
        }
        let mut s = ImpactState::default();
        let mut from_deltas: BTreeSet<FindingKey> = BTreeSet::new();
        for e in &events {
            for f in s.apply(e) {
                let key = FindingKey {
                    release: ReleaseKey { name: f.release_name.clone(), version: f.release_version.clone(), environment: f.environment.clone() },
                    advisory: f.advisory_id.clone(),
                    purl: f.purl.clone(),
                };
                match f.change {
                    FindingChange::Opened => { from_deltas.insert(key); }
                    FindingChange::Closed => { prop_assert!(from_deltas.remove(&key), "closed a finding that was not open"); }
                }
            }
        }
        let incremental: Vec<FindingKey> = s.open_findings().map(|(k, _)| k.clone()).collect();
        prop_assert_eq!(&incremental, &batch(&events));
        prop_assert_eq!(incremental, from_deltas.into_iter().collect::<Vec<_>>());
    }
}
