//! Known exploitation on real data: every shared advisory (RustSec, PyPA, Go, AlmaLinux) and real
//! inventories (the shared Cargo.lock files and SBOMs; an AlmaLinux 8 image made of every package
//! the AlmaLinux 8 advisories name, at a version below every fix; a language image of every
//! package the RustSec, PyPA and Go advisories name, at a version they name) go through the findings
//! operator with CISA's real catalog. Each open finding must be known exploited exactly when its
//! vulnerability holds a catalog CVE — computed here from the files alone: the advisories' own
//! `aliases` joined into groups (a union-find of this test's), plus the CVEs a distribution
//! advisory lists in `upstream`, or in `related` (AlmaLinux) — with both arrival orders: the catalog
//! first, and the catalog after everything (findings then become known exploited by re-emission).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use trustloop_connectors::import::release::{ReleaseChoice, ReleaseRef};
use trustloop_connectors::import::{cargo_lock, kev, osv, sbom};
use trustloop_operators::findings::FindingsState;
use trustloop_schemas::{Advisory, Component, Event, EventTime, Finding, FindingChange, KnownExploited};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("json" | "yaml" | "yml")) {
            out.push(p);
        }
    }
}

/// Every shared advisory, and each one's raw JSON (for the test's own reading).
fn advisories(data: &Path) -> Vec<(Advisory, Value)> {
    let mut paths = Vec::new();
    for dir in ["advisories/rustsec/crates", "advisories/pypa", "advisories/go-vulndb", "advisories/almalinux"] {
        files(&data.join(dir), &mut paths);
    }
    let mut out = Vec::new();
    for p in paths {
        let Ok(a) = osv::parse_file(&p, "acme") else { continue };
        let text = std::fs::read_to_string(&p).expect("read");
        let raw: Value = if p.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).expect("json")
        } else {
            // The raw fields this test needs are the importer's own for YAML (aliases, related,
            // upstream are lists of strings either way).
            serde_json::json!({"aliases": a.aliases, "related": a.related, "upstream": a.upstream,
                               "affected": a.affected.iter().map(|x| serde_json::json!({"package": {"ecosystem": x.package.ecosystem}})).collect::<Vec<_>>()})
        };
        out.push((a, raw));
    }
    assert!(out.len() > 10_000, "expected every shared advisory, found {}", out.len());
    out
}

/// Real inventories: the Cargo.lock files, the SBOMs that import, and the AlmaLinux 8 image.
fn inventories(data: &Path, advisories: &[(Advisory, Value)]) -> Vec<Event> {
    let at = EventTime::from_micros(1);
    let mut out = Vec::new();
    for f in ["arroyo-2023-06.Cargo.lock", "arroyo-2023-12.Cargo.lock", "tansu-0.3.0.Cargo.lock"] {
        let release = ReleaseRef::parse(&format!("{f}@1"), None).expect("release");
        let inv = cargo_lock::parse_file(&data.join("lockfiles").join(f), &release, "acme", at).expect("lockfile");
        out.push(Event::ReleaseInventory(inv.inventory));
    }
    let mut sboms = Vec::new();
    files(&data.join("sboms"), &mut sboms);
    for (i, p) in sboms.iter().enumerate() {
        let release = ReleaseChoice::Given(ReleaseRef::parse(&format!("sbom-{i}@1"), None).expect("release"));
        if let Ok((_, inv)) = sbom::parse_file(p, &release, "acme", at) {
            out.push(Event::ReleaseInventory(inv.inventory));
        }
    }
    let names: BTreeSet<&str> = advisories
        .iter()
        .flat_map(|(a, _)| &a.affected)
        .filter(|x| x.package.ecosystem == "AlmaLinux:8")
        .map(|x| x.package.name.as_str())
        .collect();
    let Event::ReleaseInventory(mut image) = out[0].clone() else { unreachable!() };
    image.release_name = "almalinux-8-image".into();
    image.left_out.clear();
    image.components = names
        .iter()
        .map(|n| Component {
            purl: format!("pkg:rpm/almalinux/{n}@0.0.1-1.el8?distro=almalinux-8"),
            ecosystem: "AlmaLinux".into(),
            name: n.to_string(),
            version: "0.0.1-1.el8".into(),
            distro_release: Some("8".into()),
            ..Default::default()
        })
        .collect();
    out.push(Event::ReleaseInventory(image.clone()));
    // A language image: for every RustSec, PyPA and Go advisory, its package at the first version
    // it names as affected (an explicit `versions` entry, else a range's non-zero `introduced`).
    let mut components = BTreeMap::new();
    for (a, _) in advisories {
        for x in &a.affected {
            let kind = match x.package.ecosystem.as_str() {
                "crates.io" => "cargo",
                "PyPI" => "pypi",
                "Go" => "golang",
                _ => continue,
            };
            let introduced =
                x.ranges.iter().flat_map(|r| &r.events).filter_map(|e| e.introduced.as_deref()).find(|v| *v != "0");
            let Some(version) = x.versions.first().map(String::as_str).or(introduced) else { continue };
            let purl = format!("pkg:{kind}/{}@{version}", x.package.name);
            components.entry(purl.clone()).or_insert_with(|| Component {
                purl,
                ecosystem: x.package.ecosystem.clone(),
                name: x.package.name.clone(),
                version: version.to_string(),
                ..Default::default()
            });
        }
    }
    image.release_name = "language-image".into();
    image.components = components.into_values().collect();
    out.push(Event::ReleaseInventory(image));
    out
}

/// The catalog's CVEs, read as plain JSON.
fn catalog_cves(path: &Path) -> BTreeSet<String> {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("catalog")).expect("json");
    doc["vulnerabilities"]
        .as_array()
        .expect("vulnerabilities")
        .iter()
        .filter_map(|v| v["cveID"].as_str().map(str::to_ascii_uppercase))
        .collect()
}

/// Union-find over ids (upper-cased).
#[derive(Default)]
struct Groups {
    parent: BTreeMap<String, String>,
}

impl Groups {
    fn find(&mut self, id: &str) -> String {
        let mut at = id.to_string();
        while let Some(p) = self.parent.get(&at).filter(|p| **p != at) {
            at = p.clone();
        }
        self.parent.entry(id.to_string()).or_insert_with(|| id.to_string());
        at
    }

    fn join(&mut self, a: &str, b: &str) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent.insert(ra, rb);
        }
    }
}

/// The catalog CVEs each advisory's vulnerability holds, from the files alone.
fn expected_exploited(
    advisories: &[(Advisory, Value)],
    catalog: &BTreeSet<String>,
) -> BTreeMap<String, BTreeSet<String>> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array().into_iter().flatten().filter_map(|s| s.as_str()).map(|s| s.trim().to_ascii_uppercase()).collect()
    };
    let mut groups = Groups::default();
    for (a, raw) in advisories {
        for alias in strings(&raw["aliases"]) {
            groups.join(&a.id.to_ascii_uppercase(), &alias);
        }
    }
    let mut members: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let ids: Vec<String> = groups.parent.keys().cloned().collect();
    for id in ids {
        let root = groups.find(&id);
        members.entry(root).or_default().insert(id);
    }
    let distributions = ["AlmaLinux", "Debian", "Ubuntu", "Alpine", "Red Hat", "Rocky Linux", "SUSE", "openSUSE"];
    let mut out = BTreeMap::new();
    for (a, raw) in advisories {
        let mut cves: BTreeSet<String> =
            members.get(&groups.find(&a.id.to_ascii_uppercase())).cloned().unwrap_or_default();
        let upstream = strings(&raw["upstream"]);
        let distribution = raw["affected"].as_array().is_some_and(|xs| {
            !xs.is_empty()
                && xs.iter().all(|x| {
                    let eco = x["package"]["ecosystem"].as_str().unwrap_or("");
                    distributions.iter().any(|d| eco == *d || eco.starts_with(&format!("{d}:")))
                })
        });
        if !upstream.is_empty() {
            cves.extend(upstream);
        } else if distribution {
            cves.extend(strings(&raw["related"]));
        }
        let hits: BTreeSet<String> = cves.intersection(catalog).cloned().collect();
        out.insert(a.id.clone(), hits);
    }
    out
}

type Key = (String, String, Option<String>, String, String);

fn key(f: &Finding) -> Key {
    (
        f.release_name.to_string(),
        f.release_version.to_string(),
        f.environment.as_deref().map(str::to_string),
        f.vulnerability().to_string(),
        f.purl.to_string(),
    )
}

/// Feeds `events`; returns the open findings as last emitted.
fn run(events: &[Event]) -> BTreeMap<Key, Finding> {
    let mut state = FindingsState::default();
    let mut open = BTreeMap::new();
    for e in events {
        for f in state.apply_event(e) {
            match f.change {
                FindingChange::Opened => open.insert(key(&f), f),
                FindingChange::Closed => open.remove(&key(&f)),
            };
        }
    }
    let listed: BTreeMap<Key, Finding> = state.open_findings().into_iter().map(|f| (key(&f), f)).collect();
    assert_eq!(listed.len(), open.len(), "the state lists what was emitted");
    for (k, f) in &listed {
        let emitted = &open[k];
        assert_eq!((&emitted.exploited_ids, &emitted.cves), (&f.exploited_ids, &f.cves), "{k:?}");
    }
    open
}

#[test]
#[ignore = "needs ../shared/data (advisories, KEV catalog, lockfiles, SBOMs): run `cargo xtask test`"]
fn shared_data_known_exploited_findings_are_those_whose_vulnerability_holds_a_catalog_cve() {
    let data = trustloop_e2e::shared_data().expect("../shared/data is missing: run `cargo xtask test`");
    let catalog_path = data.join("advisories/kev/known_exploited_vulnerabilities.json");
    let advisories = advisories(&data);
    let inventories = inventories(&data, &advisories);
    let text = std::fs::read_to_string(&catalog_path).expect("catalog");
    let kev = kev::import(&text, "kev.json", "acme", &BTreeSet::new(), None).expect("catalog");
    assert!(kev.rejected.is_empty(), "{:?}", kev.rejected);
    let kev_events: Vec<Event> = kev.events.iter().cloned().map(Event::KnownExploited).collect();
    let expected = expected_exploited(&advisories, &catalog_cves(&catalog_path));
    let advisory_events: Vec<Event> = advisories.into_iter().map(|(a, _)| Event::Advisory(a)).collect();

    let first: Vec<Event> = kev_events.iter().chain(&advisory_events).chain(&inventories).cloned().collect();
    let last: Vec<Event> = advisory_events.iter().chain(&inventories).chain(&kev_events).cloned().collect();
    let (a, b) = (run(&first), run(&last));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "the same findings either way");
    let mut exploited = BTreeMap::<String, usize>::new();
    for (k, f) in &a {
        // A finding of several sources holds the catalog CVEs of each.
        let want: BTreeSet<String> = f.source_ids().flat_map(|id| expected[id].iter().cloned()).collect();
        let want = &want;
        let got: BTreeSet<String> = f.exploited_ids.iter().map(|c| c.to_string()).collect();
        assert_eq!(&got, want, "{k:?}");
        assert_eq!(f.known_exploited, !want.is_empty(), "{k:?}");
        let other = &b[k];
        assert_eq!((&other.exploited_ids, other.known_exploited), (&f.exploited_ids, f.known_exploited), "{k:?}");
        if f.known_exploited {
            *exploited.entry(f.ecosystem.to_string()).or_default() += 1;
        }
    }
    println!("{} open findings; known exploited by ecosystem: {exploited:?}", a.len());
    assert!(exploited.values().sum::<usize>() > 0, "no finding holds a catalog CVE: the test would prove nothing");
    for eco in ["AlmaLinux", "PyPI", "Go"] {
        assert!(exploited.contains_key(eco), "{eco}: no known-exploited finding (AlmaLinux's come from `related`)");
    }

    // Taking the catalog back (a later, empty catalog) clears every listing.
    let listed = kev::listed_after(&kev.events);
    let empty = r#"{"catalogVersion": "9999.01.01", "dateReleased": "9999-01-01T00:00:00Z", "count": 0, "vulnerabilities": []}"#;
    let removals: Vec<KnownExploited> = kev::import(empty, "kev.json", "acme", &listed, None).expect("empty").events;
    assert_eq!(removals.len(), listed.len());
    let all: Vec<Event> = last.into_iter().chain(removals.into_iter().map(Event::KnownExploited)).collect();
    assert!(run(&all).values().all(|f| !f.known_exploited && f.exploited_ids.is_empty()));
}

/// The advisories' alias groups from the files alone (a union-find of this test's over each
/// advisory's id and `aliases`, upper-cased): advisory id → (group name, the group's advisories).
/// The name is the group's lowest CVE id, else its lowest id.
fn expected_groups(advisories: &[(Advisory, Value)]) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let mut groups = Groups::default();
    for (a, raw) in advisories {
        groups.find(&a.id.to_ascii_uppercase());
        for alias in raw["aliases"].as_array().into_iter().flatten().filter_map(|s| s.as_str()) {
            groups.join(&a.id.to_ascii_uppercase(), &alias.trim().to_ascii_uppercase());
        }
    }
    let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let keys: Vec<String> = groups.parent.keys().cloned().collect();
    for id in keys {
        let root = groups.find(&id);
        ids.entry(root).or_default().insert(id);
    }
    let mut advisories_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, _) in advisories {
        advisories_of.entry(groups.find(&a.id.to_ascii_uppercase())).or_default().insert(a.id.clone());
    }
    let mut out = BTreeMap::new();
    for (a, _) in advisories {
        let root = groups.find(&a.id.to_ascii_uppercase());
        let members = &ids[&root];
        let name = members.iter().find(|i| i.starts_with("CVE-")).or_else(|| members.iter().next()).cloned();
        out.insert(a.id.clone(), (name.unwrap_or_default(), advisories_of[&root].clone()));
    }
    out
}

#[test]
#[ignore = "needs ../shared/data (advisories, lockfiles, SBOMs): run `cargo xtask test`"]
fn shared_data_open_findings_are_the_distinct_release_component_alias_group_triples() {
    let data = trustloop_e2e::shared_data().expect("../shared/data is missing: run `cargo xtask test`");
    let advisories = advisories(&data);
    let inventories = inventories(&data, &advisories);
    let groups = expected_groups(&advisories);
    let events: Vec<Event> =
        advisories.iter().map(|(a, _)| Event::Advisory(a.clone())).chain(inventories.iter().cloned()).collect();
    // Which advisory affects which component of which release: impact selection's per-source
    // decisions (checked against other oracles elsewhere), grouped here by the test's own groups.
    let mut impact = trustloop_operators::impact::ImpactState::default();
    for e in &events {
        impact.apply(e);
    }
    let mut triples: BTreeMap<Key, BTreeSet<String>> = BTreeMap::new();
    for (k, _) in impact.open_findings() {
        let (name, _) = &groups[&k.advisory];
        let triple = (k.release.name, k.release.version, k.release.environment, name.clone(), k.purl);
        triples.entry(triple).or_default().insert(k.advisory);
    }
    let open = run(&events);
    let got: BTreeMap<Key, BTreeSet<String>> = open
        .iter()
        .map(|((name, version, env, vulnerability, purl), f)| {
            let key = (name.clone(), version.clone(), env.clone(), vulnerability.to_ascii_uppercase(), purl.clone());
            (key, f.source_ids().map(str::to_string).collect())
        })
        .collect();
    assert_eq!(got.len(), triples.len(), "one open finding per (release, component, alias group)");
    assert!(got == triples, "each finding lists exactly its group's advisories that affect the component");
    let merged = got.values().filter(|s| s.len() > 1).count();
    let by_source: BTreeMap<String, usize> = open
        .values()
        .flat_map(|f| f.sources.iter().map(|s| s.source.to_string()).collect::<BTreeSet<_>>())
        .fold(BTreeMap::new(), |mut m, s| {
            *m.entry(s).or_default() += 1;
            m
        });
    println!(
        "{} open findings from {} advisory findings; {merged} with several sources; by source: {by_source:?}",
        got.len(),
        impact.open_findings().count()
    );
    // The advisories' own groups hold several advisories somewhere, or the test would prove little.
    assert!(groups.values().any(|(_, members)| members.len() > 1), "no alias group with several advisories");
}
