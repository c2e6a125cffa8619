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
        upstream: Vec::new(),
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
        labels: Default::default(),
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
        Affected, AffectedPackage, Component as InvComponent, EventCodec, EventTime, InventoryFormat, OperatingSystem,
        Range, RangeEvent, RangeType, Severity,
    };

    use super::super::reference::ReferenceState;
    use super::*;

    /// (ecosystem, name as written, version, purl, distribution release): two spellings of one PyPI
    /// and one crates.io package, purls shared by two versions, an unsupported ecosystem; then
    /// distribution packages of known releases (also as a code name, and one purl written with two
    /// releases), of unknown ones (the inventory's operating system may tell) and of a release only
    /// partly known (openEuler `22.03` against advisories for its service packs).
    const COMPONENTS: [(&str, &str, &str, &str, Option<&str>); 24] = [
        ("crates.io", "tokio", "1.0.0", "pkg:cargo/tokio@1.0.0", None),
        ("crates.io", "tokio", "1.2.0", "pkg:cargo/tokio@1.2.0", None),
        ("crates.io", "foo_bar", "0.9.0", "pkg:cargo/foo_bar@0.9.0", None),
        ("crates.io", "foo-bar", "2.0.0", "pkg:cargo/foo-bar@2.0.0", None),
        ("PyPI", "Django", "3.2", "pkg:pypi/django@3.2", None),
        ("PyPI", "django", "4.0.0", "pkg:pypi/django@4.0.0", None),
        ("PyPI", "zope.interface", "1.0", "pkg:pypi/zope-interface", None),
        ("PyPI", "zope_interface", "2.0", "pkg:pypi/zope-interface", None),
        ("Go", "golang.org/x/net", "v0.1.0", "pkg:golang/golang.org/x/net@v0.1.0", None),
        ("Go", "golang.org/x/net", "v0.9.0", "pkg:golang/golang.org/x/net@v0.9.0", None),
        ("Hex", "plug", "1.0.0", "pkg:hex/plug@1.0.0", None),
        ("crates.io", "tokio", "2.0.0", "pkg:cargo/tokio@1.2.0", None),
        (
            "Debian",
            "openssl",
            "1.1.1n-0+deb11u1",
            "pkg:deb/debian/openssl@1.1.1n-0+deb11u1?distro=debian-11",
            Some("11"),
        ),
        ("Debian", "openssl", "3.0.9-1", "pkg:deb/debian/openssl@3.0.9-1?distro=debian-12", Some("12")),
        ("Debian", "openssl", "1.1.1n-0+deb11u1", "pkg:deb/debian/openssl@1.1.1n-0+deb11u1", None),
        ("Debian", "openssl", "1.1.1n-0+deb11u1", "pkg:deb/debian/openssl@1.1.1n-0+deb11u1", Some("11.7")),
        ("Debian", "openssl", "3.0.11-1~deb12u2", "pkg:deb/debian/openssl@3.0.11-1~deb12u2", Some("bookworm")),
        ("Ubuntu", "openssl", "1.1.1f-1ubuntu2", "pkg:deb/ubuntu/openssl@1.1.1f-1ubuntu2", Some("20.04")),
        ("Ubuntu", "openssl", "1.1.1f-1ubuntu2.20", "pkg:deb/ubuntu/openssl@1.1.1f-1ubuntu2.20", None),
        ("AlmaLinux", "openssl", "1:3.0.7-24.el9", "pkg:rpm/almalinux/openssl@3.0.7-24.el9?epoch=1", Some("9")),
        ("AlmaLinux", "openssl", "1:1.1.1k-9.el8", "pkg:rpm/almalinux/openssl@1.1.1k-9.el8?epoch=1", Some("8")),
        ("AlmaLinux", "openssl", "1:3.0.7-27.el9", "pkg:rpm/almalinux/openssl@3.0.7-27.el9?epoch=1", None),
        ("Alpine", "openssl", "3.1.4-r5", "pkg:apk/alpine/openssl@3.1.4-r5", Some("3.19")),
        ("openEuler", "openssl", "1.1.1m-2", "pkg:rpm/openeuler/openssl@1.1.1m-2", Some("22.03")),
    ];
    /// (ecosystem, name as an advisory writes it, versions to draw range events from): language
    /// packages, then distribution entries scoped to releases (and one bare `Debian`).
    const PACKAGES: [(&str, &str, [&str; 4]); 15] = [
        ("crates.io", "tokio", ["0.9.0", "1.0.0", "1.2.0", "2.0.0"]),
        ("crates.io", "foo-bar", ["0.1.0", "1.0.0", "2.0.0", "3.0.0"]),
        ("PyPI", "DJANGO", ["1.0", "3.2.0", "4.0", "5.0"]),
        ("PyPI", "zope-interface", ["0.5", "1.0", "2.0", "3.0"]),
        ("Go", "golang.org/x/net", ["0", "v0.1.0", "v0.5.0", "v0.9.0"]),
        ("Hex", "plug", ["0.1.0", "1.0.0", "1.1.0", "2.0.0"]),
        ("Debian:11", "openssl", ["0", "1.1.1k-1", "1.1.1n-0+deb11u1", "1.1.1w-0+deb11u1"]),
        ("Debian:12", "openssl", ["0", "3.0.9-1", "3.0.11-1~deb12u2", "3.1.0-1"]),
        ("Debian", "openssl", ["0", "1.1.1n-0+deb11u1", "3.0.9-1", "3.0.11-1~deb12u2"]),
        ("Ubuntu:20.04:LTS", "openssl", ["0", "1.1.1f-1ubuntu2", "1.1.1f-1ubuntu2.20", "3.0.0"]),
        ("AlmaLinux:9", "openssl", ["0", "1:3.0.7-24.el9", "1:3.0.7-27.el9", "1:3.2.2-6.el9"]),
        ("AlmaLinux:8", "openssl", ["0", "1:1.1.1k-9.el8", "1:1.1.1k-12.el8", "1:1.1.1k-14.el8"]),
        ("Alpine:v3.19", "openssl", ["0", "3.1.4-r5", "3.1.6-r0", "3.1.7-r0"]),
        ("openEuler:22.03-LTS-SP3", "openssl", ["0", "1.1.1m-1", "1.1.1m-2", "1.1.1m-5"]),
        ("openEuler:22.03-LTS-SP1", "openssl", ["0", "1.1.1m-1", "1.1.1m-2", "1.1.1m-5"]),
    ];
    /// Operating systems an inventory may name (distribution, release): as OSV names them, as
    /// os-release does, of a distribution without a release.
    const SYSTEMS: [(&str, Option<&str>); 5] = [
        ("Debian", Some("12")),
        ("AlmaLinux", Some("9.4")),
        ("ubuntu", Some("20.04")),
        ("Debian", None),
        ("openEuler", Some("22.03")),
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
        /// name, environment?, operating system?, components.
        Release(u8, bool, Option<u8>, Vec<u8>),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0u8..4, proptest::collection::vec((0u8..PACKAGES.len() as u8, 0u8..4, 0u8..4, 0u8..3, proptest::option::of(0u8..4)), 1..4), any::<bool>())
                .prop_map(|(id, entries, w)| Step::Advisory(id, entries, w && id == 0)),
            1 => (0u8..4).prop_map(Step::Delete),
            4 => (0u8..3, any::<bool>(), proptest::option::of(0u8..SYSTEMS.len() as u8), proptest::collection::vec(0u8..COMPONENTS.len() as u8, 0..8))
                .prop_map(|(n, env, os, cs)| Step::Release(n, env, os, cs)),
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
                    upstream: vec![],
                })
            }
            Step::Delete(id) => super::delete(&format!("ADV-{id}"), n),
            Step::Release(name, env, os, cs) => Event::ReleaseInventory(ReleaseInventory {
                envelope: envelope("rel", n),
                release_name: format!("rel-{name}"),
                release_version: "1.0".into(),
                environment: env.then(|| "prod".to_string()),
                format: InventoryFormat::Other,
                document_digest: None,
                components: cs
                    .iter()
                    .map(|&c| {
                        let (eco, name, version, purl, release) = COMPONENTS[c as usize];
                        InvComponent {
                            purl: purl.into(),
                            ecosystem: eco.into(),
                            name: name.into(),
                            version: version.into(),
                            // Facts that change between imports of a release (re-emitting its
                            // findings) and tell otherwise equal components apart.
                            scope: n.is_multiple_of(3).then(|| "dev".to_string()),
                            direct: n.is_multiple_of(2).then_some(c.is_multiple_of(2)),
                            licenses: if n.is_multiple_of(5) { vec!["MIT".into()] } else { Vec::new() },
                            distro_release: release.map(str::to_string),
                            ..Default::default()
                        }
                    })
                    .collect(),
                os: os.map(|o| {
                    let (distribution, release) = SYSTEMS[o as usize];
                    OperatingSystem {
                        distribution: distribution.into(),
                        release: release.map(str::to_string),
                        name: None,
                    }
                }),
                labels: Default::default(),
                left_out: Vec::new(),
            }),
        }
    }

    /// The input space reaches findings of every kind: of entries without a release, of a known
    /// release, of an unknown one, and the releases' entries change what findings say.
    #[test]
    fn input_space_reaches_every_kind_of_finding() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut bare, mut known, mut unknown, mut os_told) = (0, 0, 0, 0);
        for _ in 0..200 {
            let steps = proptest::collection::vec(step(), 1..40).new_tree(&mut runner).expect("tree").current();
            let mut s = ImpactState::default();
            for (n, st) in steps.iter().enumerate() {
                let e = event(n as u64, st);
                for f in s.apply(&e) {
                    match (&f.distro_release, f.release_unknown) {
                        (None, _) => bare += 1,
                        (Some(_), false) => known += 1,
                        (Some(_), true) => unknown += 1,
                    }
                    if let (Step::Release(_, _, Some(_), _), Some(_)) = (st, &f.distro_release) {
                        os_told += 1;
                    }
                }
            }
        }
        eprintln!("findings: {bare} without a release, {known} of a known release, {unknown} of an unknown one");
        assert!(bare > 0 && known > 0 && unknown > 0 && os_told > 0, "{bare} {known} {unknown} {os_told}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

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
            // Incremental = batch: a fresh state fed the final advisories, then the final releases.
            let mut last_advisory: BTreeMap<u8, usize> = BTreeMap::new();
            let mut last_release: BTreeMap<(u8, bool), usize> = BTreeMap::new();
            for (n, s) in steps.iter().enumerate() {
                match s {
                    Step::Advisory(id, ..) | Step::Delete(id) => { last_advisory.insert(*id, n); }
                    Step::Release(name, env, ..) => { last_release.insert((*name, *env), n); }
                }
            }
            let mut batch = ImpactState::default();
            for &n in last_advisory.values().chain(last_release.values()) {
                batch.apply(&event(n as u64, &steps[n]));
            }
            // A purl listed twice in one inventory is left out: an advisory change walks its
            // occurrences in inventory order (the last one decides), an inventory keeps the last
            // occurrence that matches — both operators have always done so.
            let mut twice: BTreeSet<(String, Option<String>, String)> = BTreeSet::new();
            for &n in last_release.values() {
                let Event::ReleaseInventory(r) = event(n as u64, &steps[n]) else { continue };
                let mut seen = BTreeSet::new();
                for c in &r.components {
                    if !seen.insert(c.purl.clone()) {
                        twice.insert((r.release_name.clone(), r.environment.clone(), c.purl.clone()));
                    }
                }
            }
            for id in 0..4 {
                let id = format!("ADV-{id}");
                prop_assert_eq!(new.advisory(&id), old.advisory(&id));
                let of = |s: &ImpactState| -> Vec<(FindingKey, OpenFinding)> {
                    s.open_findings_of(&id)
                        .into_iter()
                        .filter(|(k, _)| {
                            !twice.contains(&(k.release.name.clone(), k.release.environment.clone(), k.purl.clone()))
                        })
                        .map(|(k, f)| (k, f.clone()))
                        .collect()
                };
                prop_assert_eq!(of(&new), of(&batch), "incremental vs batch, {}", id);
            }
        }
    }
}

/// An advisory `id` with one `ECOSYSTEM` range `introduced: 0, fixed: <fixed>` per entry
/// (ecosystem as written, package name, fixed version).
fn distro_advisory(id: &str, n: u64, entries: &[(&str, &str, &str)]) -> Event {
    let Event::Advisory(mut a) = advisory(id, n, "x", "0", None) else { unreachable!() };
    a.affected = entries
        .iter()
        .map(|(eco, name, fixed)| trustloop_schemas::Affected {
            package: AffectedPackage { ecosystem: (*eco).into(), name: (*name).into(), purl: None },
            ranges: vec![Range {
                kind: RangeType::Ecosystem,
                repo: None,
                events: vec![
                    RangeEvent { introduced: Some("0".into()), ..Default::default() },
                    RangeEvent { fixed: Some((*fixed).into()), ..Default::default() },
                ],
            }],
            versions: vec![],
            ecosystem_specific: None,
            database_specific: None,
        })
        .collect();
    Event::Advisory(a)
}

/// A release of distribution packages (ecosystem, name, version, release), on operating system `os`.
fn distro_release(
    name: &str,
    n: u64,
    os: Option<(&str, &str)>,
    components: &[(&str, &str, &str, Option<&str>)],
) -> Event {
    let Event::ReleaseInventory(mut r) = release(name, n, &[]) else { unreachable!() };
    r.components = components
        .iter()
        .map(|(eco, p, v, rel)| InvComponent {
            purl: format!("pkg:deb/{}/{p}@{v}", eco.to_ascii_lowercase()),
            ecosystem: (*eco).into(),
            name: (*p).into(),
            version: (*v).into(),
            distro_release: rel.map(str::to_string),
            ..Default::default()
        })
        .collect();
    r.os = os.map(|(d, v)| trustloop_schemas::OperatingSystem {
        distribution: d.into(),
        release: Some(v.into()),
        name: None,
    });
    Event::ReleaseInventory(r)
}

/// (release, purl, distro_release, release_unknown) of each finding.
fn scoped(out: &[Finding]) -> Vec<(String, String, Option<String>, bool)> {
    out.iter()
        .map(|f| {
            (
                f.release_name.to_string(),
                f.purl.to_string(),
                f.distro_release.as_deref().map(str::to_string),
                f.release_unknown,
            )
        })
        .collect()
}

/// A `Debian:11` advisory never matches a Debian 12 component, matches a Debian 11 one, and matches
/// one of an unknown release saying so; the inventory's operating system tells a component's release.
#[test]
fn debian_11_advisory_matches_only_debian_11() {
    let mut s = ImpactState::default();
    let d11 = Some("Debian:11".to_string());
    s.apply(&distro_release("d12", 1, None, &[("Debian", "openssl", "1.1.1n-0+deb11u1", Some("12"))]));
    s.apply(&distro_release("d11", 2, None, &[("Debian", "openssl", "1.1.1n-0+deb11u1", Some("bullseye"))]));
    s.apply(&distro_release("unknown", 3, None, &[("Debian", "openssl", "1.1.1n-0+deb11u1", None)]));
    s.apply(&distro_release("os12", 4, Some(("Debian", "12.5")), &[("Debian", "openssl", "1.1.1n-0+deb11u1", None)]));
    s.apply(&distro_release("os11", 5, Some(("debian", "11")), &[("Debian", "openssl", "1.1.1n-0+deb11u1", None)]));
    // Another distribution's operating system says nothing about a Debian package.
    s.apply(&distro_release("alma", 6, Some(("AlmaLinux", "9")), &[("Debian", "openssl", "1.1.1n-0+deb11u1", None)]));
    let out = s.apply(&distro_advisory("DSA-1", 7, &[("Debian:11", "openssl", "1.1.1w-0+deb11u1")]));
    let purl = "pkg:deb/debian/openssl@1.1.1n-0+deb11u1".to_string();
    let want = |r: &str, unknown| (r.to_string(), purl.clone(), d11.clone(), unknown);
    assert_eq!(scoped(&out), vec![want("alma", true), want("d11", false), want("os11", false), want("unknown", true)]);
    assert_eq!(out[1].fixed_versions, trustloop_schemas::texts(["1.1.1w-0+deb11u1"]));
    // The same advisory learns a Debian 12 entry (first in advisory order) that also matches: the
    // known releases keep their entry, the unknown ones report the first entry that matches.
    let out = s.apply(&distro_advisory(
        "DSA-1",
        8,
        &[("Debian:12", "openssl", "3.0.11-1~deb12u2"), ("Debian:11", "openssl", "1.1.1w-0+deb11u1")],
    ));
    let d12 = Some("Debian:12".to_string());
    let reopened = |r: &str| (r.to_string(), purl.clone(), d12.clone(), true);
    assert_eq!(
        scoped(&out),
        vec![
            reopened("alma"),
            ("d11".into(), purl.clone(), d11.clone(), false),
            ("d12".into(), purl.clone(), d12.clone(), false),
            ("os11".into(), purl.clone(), d11.clone(), false),
            ("os12".into(), purl.clone(), d12.clone(), false),
            reopened("unknown"),
        ],
        "facts changed (a new fixed version): every open finding is re-emitted"
    );
    let fixed = |r: &str| out.iter().find(|f| &*f.release_name == r).map(|f| f.fixed_versions.to_vec());
    assert_eq!(fixed("d11"), Some(vec!["1.1.1w-0+deb11u1".into()]), "Debian 11's fix only");
    assert_eq!(fixed("d12"), Some(vec!["3.0.11-1~deb12u2".into()]), "Debian 12's fix only");
    assert_eq!(fixed("unknown"), Some(vec!["3.0.11-1~deb12u2".into(), "1.1.1w-0+deb11u1".into()]));
    // A bare `Debian` entry applies to every release, and its findings name no release.
    let out = s.apply(&distro_advisory("DSA-2", 9, &[("Debian", "openssl", "9.9")]));
    assert_eq!(out.len(), 6);
    assert!(out.iter().all(|f| f.distro_release.is_none() && !f.release_unknown));
    // Re-importing the unknown release as Debian 12 closes nothing but re-opens DSA-1 (the finding
    // now holds for a known release).
    let out = s.apply(&distro_release("unknown", 10, None, &[("Debian", "openssl", "1.1.1n-0+deb11u1", Some("12"))]));
    assert_eq!(changes(&out), vec![("unknown".into(), "DSA-1".into(), FindingChange::Opened)]);
    assert_eq!(scoped(&out), vec![("unknown".into(), purl.clone(), d12.clone(), false)]);
    // As Debian 13: DSA-1 closes, DSA-2 stays.
    let out = s.apply(&distro_release("unknown", 11, None, &[("Debian", "openssl", "1.1.1n-0+deb11u1", Some("13"))]));
    assert_eq!(changes(&out), vec![("unknown".into(), "DSA-1".into(), FindingChange::Closed)]);
}

/// Finding ids and bytes of inputs without distribution releases: the reference operator (which
/// derives each id from its parts) agrees, and the findings name no release.
#[test]
fn findings_without_releases_name_none() {
    let events = [
        release("a", 1, &[("tokio", "1.2.0")]),
        advisory("R-1", 2, "tokio", "0", Some("1.5.0")),
        release("a", 3, &[("tokio", "1.5.0")]),
    ];
    let mut s = ImpactState::default();
    let mut r = super::reference::ReferenceState::default();
    for e in &events {
        let (a, b) = (s.apply(e), r.apply(e));
        assert_eq!(a, b);
        assert!(a.iter().all(|f| f.distro_release.is_none() && !f.release_unknown));
    }
}
