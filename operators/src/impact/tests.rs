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
                ..Default::default()
            })
            .collect(),
        os: None,
        left_out: Vec::new(),
    })
}

fn changes(out: &[Finding]) -> Vec<(String, String, FindingChange)> {
    out.iter().map(|f| (f.release_name.to_string(), f.advisory_id.to_string(), f.change)).collect()
}

#[test]
fn advisory_after_release_opens_then_fix_closes() {
    let mut s = ImpactState::default();
    assert!(s.apply(&release("app", 1, &[("serde", "1.0.100"), ("tokio", "1.2.0")])).is_empty());
    let out = s.apply(&advisory("RUSTSEC-1", 2, "tokio", "1.0.0", None));
    assert_eq!(changes(&out), vec![("app".into(), "RUSTSEC-1".into(), FindingChange::Opened)]);
    assert_eq!(out[0].matched.event, "introduced=1.0.0");
    assert_eq!(out[0].matched.comparator, "semver");
    assert_eq!(out[0].aliases, trustloop_schemas::texts(["CVE-RUSTSEC-1"]));
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
                    release: ReleaseKey { name: f.release_name.to_string(), version: f.release_version.to_string(), environment: f.environment.as_deref().map(str::to_string) },
                    advisory: f.advisory_id.to_string(),
                    purl: f.purl.to_string(),
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

/// The open findings of the advisory `id`, as `open_findings` filters them.
#[test]
fn open_findings_of_one_advisory() {
    let mut s = ImpactState::default();
    s.apply(&release("a", 1, &[("tokio", "1.2.0"), ("serde", "1.0.0")]));
    s.apply(&release("b", 2, &[("tokio", "1.3.0")]));
    s.apply(&advisory("R-1", 3, "tokio", "0", None));
    s.apply(&advisory("R-2", 4, "serde", "0", Some("2.0.0")));
    let of: Vec<FindingKey> = s.open_findings_of("R-1").into_iter().map(|(k, _)| k).collect();
    let all: Vec<FindingKey> = s.open_findings().map(|(k, _)| k).filter(|k| k.advisory == "R-1").collect();
    assert_eq!(of.len(), 2);
    assert_eq!(of, all);
    assert!(s.open_findings_of("R-9").is_empty());
}

/// A richer input space than `incremental_equals_batch`: several ecosystems and spellings of one
/// package, environments, a purl listed twice in one inventory, components of unsupported
/// ecosystems, withdrawn advisories, explicit version lists, advisories naming several packages.
mod differential {
    use proptest::prelude::*;
    use trustloop_schemas::{
        Affected, AffectedPackage, Component as InvComponent, EventCodec, EventTime, InventoryFormat, Range,
        RangeEvent, RangeType, Severity,
    };

    use super::super::reference::ReferenceState;
    use super::*;

    /// (ecosystem, name as written, version, purl): two spellings of one PyPI and one crates.io
    /// package, purls shared by two versions, an unsupported ecosystem.
    const COMPONENTS: [(&str, &str, &str, &str); 12] = [
        ("crates.io", "tokio", "1.0.0", "pkg:cargo/tokio@1.0.0"),
        ("crates.io", "tokio", "1.2.0", "pkg:cargo/tokio@1.2.0"),
        ("crates.io", "foo_bar", "0.9.0", "pkg:cargo/foo_bar@0.9.0"),
        ("crates.io", "foo-bar", "2.0.0", "pkg:cargo/foo-bar@2.0.0"),
        ("PyPI", "Django", "3.2", "pkg:pypi/django@3.2"),
        ("PyPI", "django", "4.0.0", "pkg:pypi/django@4.0.0"),
        ("PyPI", "zope.interface", "1.0", "pkg:pypi/zope-interface"),
        ("PyPI", "zope_interface", "2.0", "pkg:pypi/zope-interface"),
        ("Go", "golang.org/x/net", "v0.1.0", "pkg:golang/golang.org/x/net@v0.1.0"),
        ("Go", "golang.org/x/net", "v0.9.0", "pkg:golang/golang.org/x/net@v0.9.0"),
        ("Hex", "plug", "1.0.0", "pkg:hex/plug@1.0.0"),
        ("crates.io", "tokio", "2.0.0", "pkg:cargo/tokio@1.2.0"),
    ];
    /// (ecosystem, name as an advisory writes it, versions to draw range events from).
    const PACKAGES: [(&str, &str, [&str; 4]); 6] = [
        ("crates.io", "tokio", ["0.9.0", "1.0.0", "1.2.0", "2.0.0"]),
        ("crates.io", "foo-bar", ["0.1.0", "1.0.0", "2.0.0", "3.0.0"]),
        ("PyPI", "DJANGO", ["1.0", "3.2.0", "4.0", "5.0"]),
        ("PyPI", "zope-interface", ["0.5", "1.0", "2.0", "3.0"]),
        ("Go", "golang.org/x/net", ["0", "v0.1.0", "v0.5.0", "v0.9.0"]),
        ("Hex", "plug", ["0.1.0", "1.0.0", "1.1.0", "2.0.0"]),
    ];

    fn envelope(key: &str, n: u64) -> Envelope {
        Envelope {
            event_id: trustloop_schemas::EventId(uuid::Uuid::from_u128(u128::from(n) * 7 + 3)),
            tenant: "acme".into(),
            key: key.into(),
            event_time: EventTime::from_micros(n as i64),
            source: "test".into(),
            schema_version: 1,
        }
    }

    #[derive(Debug, Clone)]
    enum Step {
        /// id, (package, introduced, fixed-or-last, kind, listed version) per entry, withdrawn.
        Advisory(u8, Vec<(u8, u8, u8, u8, Option<u8>)>, bool),
        Delete(u8),
        /// name, environment?, components.
        Release(u8, bool, Vec<u8>),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0u8..4, proptest::collection::vec((0u8..6, 0u8..4, 0u8..4, 0u8..3, proptest::option::of(0u8..4)), 1..3), any::<bool>())
                .prop_map(|(id, entries, w)| Step::Advisory(id, entries, w && id == 0)),
            1 => (0u8..4).prop_map(Step::Delete),
            4 => (0u8..3, any::<bool>(), proptest::collection::vec(0u8..12, 0..7))
                .prop_map(|(n, env, cs)| Step::Release(n, env, cs)),
        ]
    }

    fn event(n: u64, s: &Step) -> Event {
        match s {
            Step::Advisory(id, entries, withdrawn) => {
                let id = format!("ADV-{id}");
                let affected = entries
                    .iter()
                    .map(|&(p, i, f, kind, listed)| {
                        let (eco, name, vs) = PACKAGES[p as usize];
                        let mut events =
                            vec![RangeEvent { introduced: Some(vs[i as usize].into()), ..Default::default() }];
                        let end = vs[f as usize].to_string();
                        match kind {
                            0 if f > i => events.push(RangeEvent { fixed: Some(end), ..Default::default() }),
                            1 if f >= i => events.push(RangeEvent { last_affected: Some(end), ..Default::default() }),
                            _ => {}
                        }
                        Affected {
                            package: AffectedPackage { ecosystem: eco.into(), name: name.into(), purl: None },
                            ranges: vec![Range { kind: RangeType::Ecosystem, repo: None, events }],
                            versions: listed.map(|l| vec![vs[l as usize].to_string()]).unwrap_or_default(),
                            ecosystem_specific: None,
                            database_specific: None,
                        }
                    })
                    .collect();
                Event::Advisory(Advisory {
                    envelope: envelope(&id, n),
                    change: AdvisoryChange::Upsert,
                    id: id.clone(),
                    modified: EventTime::from_micros(n as i64),
                    published: None,
                    withdrawn: withdrawn.then(|| EventTime::from_micros(n as i64)),
                    aliases: vec![format!("CVE-{n}"), format!("GHSA-{id}")],
                    related: vec![],
                    summary: None,
                    details: None,
                    severity: if n.is_multiple_of(2) {
                        vec![Severity { kind: "CVSS_V3".into(), score: format!("score-{n}") }]
                    } else {
                        vec![]
                    },
                    affected,
                    references: vec![],
                    known_exploited: n.is_multiple_of(3),
                    database_specific: None,
                })
            }
            Step::Delete(id) => super::delete(&format!("ADV-{id}"), n),
            Step::Release(name, env, cs) => Event::ReleaseInventory(ReleaseInventory {
                envelope: envelope("rel", n),
                release_name: format!("rel-{name}"),
                release_version: "1.0".into(),
                environment: env.then(|| "prod".to_string()),
                format: InventoryFormat::Other,
                document_digest: None,
                components: cs
                    .iter()
                    .map(|&c| {
                        let (eco, name, version, purl) = COMPONENTS[c as usize];
                        InvComponent {
                            purl: purl.into(),
                            ecosystem: eco.into(),
                            name: name.into(),
                            version: version.into(),
                            scope: None,
                            ..Default::default()
                        }
                    })
                    .collect(),
                os: None,
        left_out: Vec::new(),
            }),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The interned operator emits byte-identical deltas, in the same order, as the string-keyed
        /// one it replaced, and ends with the same open findings.
        #[test]
        fn same_deltas_as_the_string_keyed_operator(steps in proptest::collection::vec(step(), 1..40), ranks in proptest::option::of(any::<bool>())) {
            // Either way of ordering deltas (cached ranks, key comparisons) or the production choice.
            super::super::tables::FORCE_RANKS.with(|f| f.set(ranks));
            let codec = EventCodec::new();
            let mut new = ImpactState::default();
            let mut old = ReferenceState::default();
            for (n, s) in steps.iter().enumerate() {
                let e = event(n as u64, s);
                let a: Vec<Vec<u8>> = new.apply(&e).into_iter().map(|f| codec.encode(&Event::Finding(f)).expect("encode")).collect();
                let b: Vec<Vec<u8>> = old.apply(&e).into_iter().map(|f| codec.encode(&Event::Finding(f)).expect("encode")).collect();
                prop_assert_eq!(a, b, "step {}: {:?}", n, s);
            }
            let a: Vec<(FindingKey, Match)> = new.open_findings().map(|(k, m)| (k, m.clone())).collect();
            let b: Vec<(FindingKey, Match)> = old.open_findings().map(|(k, m)| (k.clone(), m.clone())).collect();
            prop_assert_eq!(a, b);
            for id in 0..4 {
                let id = format!("ADV-{id}");
                prop_assert_eq!(new.advisory(&id), old.advisory(&id));
            }
        }
    }
}
