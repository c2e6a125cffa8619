//! Real AlmaLinux advisories (`../shared/data/advisories/almalinux`: OSV JSON, `AlmaLinux:8` and
//! `AlmaLinux:9` entries, some advisories naming both) against an "AlmaLinux 9 image" with some
//! AlmaLinux 8 packages in it. The expected findings are derived without the operator: for each
//! component, the advisories with an entry for its package *and its release* whose fixed version the
//! real `rpm` tool orders above the component's version. The data is not shipped: these tests are
//! ignored unless it is present.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use trustloop_schemas::{
    Advisory, AdvisoryChange, Affected, Component, Envelope, Event, EventId, EventTime, FindingChange, InventoryFormat,
    OperatingSystem, ReleaseInventory,
};

use super::ImpactState;
use crate::versions::oracle::rpm_vercmp_all;

fn shared_data() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("TRUSTLOOP_SHARED_DATA") {
        return Some(PathBuf::from(p)).filter(|p| p.is_dir());
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    p.is_dir().then_some(p)
}

fn envelope(key: &str, n: u128) -> Envelope {
    Envelope {
        event_id: EventId(uuid::Uuid::from_u128(n + 1)),
        tenant: "oracle".into(),
        key: key.into(),
        event_time: EventTime::from_micros(0),
        source: "shared-data".into(),
        schema_version: 1,
    }
}

/// One OSV document as an advisory upsert; its `affected` entries read by the schema's own serde
/// (which is the OSV shape).
fn advisory(path: &std::path::Path, n: u128) -> Advisory {
    let text = std::fs::read_to_string(path).expect("read advisory");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("advisory JSON");
    let id = doc["id"].as_str().expect("id").to_string();
    let time = |key: &str| doc[key].as_str().map(|t| EventTime::parse_rfc3339(t).expect("RFC 3339 time"));
    let affected: Vec<Affected> = serde_json::from_value(doc["affected"].clone()).expect("OSV affected entries");
    Advisory {
        envelope: envelope(&id, n),
        change: AdvisoryChange::Upsert,
        id,
        modified: time("modified").expect("modified"),
        published: time("published"),
        withdrawn: time("withdrawn"),
        aliases: Vec::new(),
        related: Vec::new(),
        summary: None,
        details: None,
        severity: Vec::new(),
        affected,
        references: Vec::new(),
        known_exploited: false,
        database_specific: None,
        upstream: Vec::new(),
    }
}

/// Every AlmaLinux 8 and 9 advisory, in file order (almalinux8, then almalinux9), each upserted once
/// (a few are in both folders, identical).
fn advisories() -> Vec<Advisory> {
    let root = shared_data().expect("../shared/data is missing").join("advisories/almalinux");
    let mut out: Vec<Advisory> = Vec::new();
    let mut seen = BTreeSet::new();
    for release in ["almalinux8", "almalinux9"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(release))
            .expect("read almalinux advisories")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        for f in files {
            let a = advisory(&f, out.len() as u128);
            if seen.insert(a.id.clone()) {
                out.push(a);
            }
        }
    }
    out
}

/// The `fixed` version of an entry, which in this data is always one range `introduced: 0, fixed`.
fn fixed_of(x: &Affected) -> &str {
    let [range] = &x.ranges[..] else { panic!("{}: one range expected", x.package.name) };
    match &range.events[..] {
        [i, f] if i.introduced.as_deref() == Some("0") => f.fixed.as_deref().expect("fixed"),
        other => panic!("{}: `introduced: 0, fixed` expected, got {other:?}", x.package.name),
    }
}

/// A component of the image: release (`8`, `9`), name, version, whether `distro_release` is left
/// to the image's operating system.
struct Planned {
    release: &'static str,
    name: String,
    version: String,
    from_os: bool,
}

impl Planned {
    fn purl(&self) -> String {
        let (epoch, version) = match self.version.split_once(':') {
            Some((e, v)) => (format!("&epoch={e}"), v),
            None => (String::new(), self.version.as_str()),
        };
        format!("pkg:rpm/almalinux/{}@{version}?arch=x86_64{epoch}&distro=almalinux-{}", self.name, self.release)
    }

    fn component(&self) -> Component {
        Component {
            purl: self.purl(),
            ecosystem: "AlmaLinux".into(),
            name: self.name.clone(),
            version: self.version.clone(),
            distro_release: (!self.from_os).then(|| self.release.to_string()),
            ..Default::default()
        }
    }
}

/// The fixed versions of `name`'s entries for AlmaLinux `release` in `advisories`, distinct, in
/// trustloop's rpm order (only to pick sample versions: the expectations come from `rpm`).
fn fixed_versions(index: &BTreeMap<(String, String), Vec<(usize, String)>>, release: &str, name: &str) -> Vec<String> {
    let mut vs: Vec<String> = index
        .get(&(format!("AlmaLinux:{release}"), name.to_string()))
        .into_iter()
        .flatten()
        .map(|(_, f)| f.clone())
        .collect();
    vs.sort_by(|a, b| crate::versions::rpm::compare(a, b).then_with(|| a.cmp(b)));
    vs.dedup();
    vs
}

/// The sample version of the `i`th package from its fixed versions `vs` (ascending, not empty): one
/// in the middle (equal to one advisory's fix, just below the next one's), the lowest, or above all.
fn pick(vs: &[String], i: usize) -> String {
    match i % 3 {
        0 => vs[vs.len() / 2].clone(),
        1 => vs[0].clone(),
        _ => format!("{}.1", vs[vs.len() - 1]),
    }
}

#[test]
#[ignore = "needs ../shared/data (shared_data) and the rpm tool"]
fn shared_data_almalinux_findings_match_releases_as_rpm_orders_them() {
    if std::process::Command::new("rpm").arg("--version").output().is_err() {
        eprintln!("rpm is not installed: AlmaLinux release matching check skipped");
        return;
    }
    let advisories = advisories();
    // (entry ecosystem, package) → (advisory index, fixed version), over active advisories.
    let mut index: BTreeMap<(String, String), Vec<(usize, String)>> = BTreeMap::new();
    for (k, a) in advisories.iter().enumerate().filter(|(_, a)| a.withdrawn.is_none()) {
        for x in &a.affected {
            index
                .entry((x.package.ecosystem.clone(), x.package.name.clone()))
                .or_default()
                .push((k, fixed_of(x).to_string()));
        }
    }
    // ~300 packages named by AlmaLinux:9 entries, every n-th in name order.
    let names: Vec<&String> = index
        .keys()
        .filter(|(eco, _)| eco == "AlmaLinux:9")
        .map(|(_, name)| name)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let step = (names.len() / 300).max(1);
    let mut plan: Vec<Planned> = Vec::new();
    for (i, name) in names.iter().step_by(step).enumerate() {
        let nine = fixed_versions(&index, "9", name);
        let version = pick(&nine, i);
        if i % 2 == 0 {
            // An AlmaLinux 8 package of the same name: at one of AlmaLinux 8's fixed versions, else
            // at the AlmaLinux 9 component's version (where only AlmaLinux:9 entries could match).
            let eight = fixed_versions(&index, "8", name);
            let version = if eight.is_empty() { version.clone() } else { pick(&eight, i / 2) };
            plan.push(Planned { release: "8", name: name.to_string(), version, from_os: false });
        }
        plan.push(Planned { release: "9", name: name.to_string(), version, from_os: i % 5 == 4 });
    }

    // The expected findings: rpm orders each component's version against the fixed version of
    // every entry for its package and its release. Entries of the other release are ordered too:
    // what would be found if releases were ignored.
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut owners: Vec<(usize, usize, bool)> = Vec::new();
    for (c, p) in plan.iter().enumerate() {
        for release in ["8", "9"] {
            for (k, fixed) in index.get(&(format!("AlmaLinux:{release}"), p.name.clone())).into_iter().flatten() {
                pairs.push((p.version.clone(), fixed.clone()));
                owners.push((c, *k, release == p.release));
            }
        }
    }
    let Some(order) = rpm_vercmp_all(&pairs) else {
        eprintln!("rpm could not be run: AlmaLinux release matching check skipped");
        return;
    };
    let hits = |same: bool| -> BTreeSet<(String, String)> {
        owners
            .iter()
            .zip(&order)
            .filter(|((_, _, s), o)| *s == same && **o == Ordering::Less)
            .map(|((c, k, _), _)| (advisories[*k].id.clone(), plan[*c].purl()))
            .collect()
    };
    let expected = hits(true);
    // Findings only the other release's entries would give (an AlmaLinux 8 package flagged by an
    // advisory's AlmaLinux:9 entry, or the other way round).
    let cross: BTreeSet<(String, String)> = hits(false).difference(&expected).cloned().collect();
    // AlmaLinux 8 components whose package only AlmaLinux:9 entries name.
    let el9_only = plan
        .iter()
        .filter(|p| p.release == "8")
        .filter(|p| !index.contains_key(&("AlmaLinux:8".to_string(), p.name.clone())))
        .count();

    let inventory = Event::ReleaseInventory(ReleaseInventory {
        envelope: envelope("alma9-image@1", 1 << 40),
        release_name: "alma9-image".into(),
        release_version: "1".into(),
        environment: None,
        format: InventoryFormat::Other,
        document_digest: None,
        components: plan.iter().map(Planned::component).collect(),
        os: Some(OperatingSystem { distribution: "AlmaLinux".into(), release: Some("9.4".into()), name: None }),
        labels: Default::default(),
        left_out: Vec::new(),
    });
    // Advisories first (an inventory matched against them), and the other way round (each advisory
    // matched against the inventory).
    let mut state = ImpactState::default();
    for a in &advisories {
        state.apply(&Event::Advisory(a.clone()));
    }
    let opened = state.apply(&inventory);
    let release_of_purl: BTreeMap<String, &str> = plan.iter().map(|p| (p.purl(), p.release)).collect();
    for f in &opened {
        assert_eq!(f.change, FindingChange::Opened);
        let release = release_of_purl[&*f.purl];
        assert_eq!(f.distro_release.as_deref(), Some(format!("AlmaLinux:{release}").as_str()), "{}", f.purl);
        assert!(!f.release_unknown, "{}", f.purl);
        if release == "8" {
            let a = advisories.iter().find(|a| *a.id == *f.advisory_id).expect("advisory");
            assert!(
                a.affected.iter().any(|x| x.package.ecosystem == "AlmaLinux:8" && *x.package.name == *f.package_name),
                "{} flags AlmaLinux 8's {} without an AlmaLinux:8 entry",
                f.advisory_id,
                f.purl
            );
        }
    }
    let got: BTreeSet<(String, String)> =
        opened.iter().map(|f| (f.advisory_id.to_string(), f.purl.to_string())).collect();
    let mut reverse = ImpactState::default();
    reverse.apply(&inventory);
    for a in &advisories {
        reverse.apply(&Event::Advisory(a.clone()));
    }
    let got_reverse: BTreeSet<(String, String)> = reverse.open_findings().map(|(k, _)| (k.advisory, k.purl)).collect();
    eprintln!(
        "{} advisories, {} components ({} of AlmaLinux 8, {} of them named only by AlmaLinux:9 entries), {} \
         version pairs ordered by rpm, {} findings expected, {} that only another release's entry gives",
        advisories.len(),
        plan.len(),
        plan.iter().filter(|p| p.release == "8").count(),
        el9_only,
        pairs.len(),
        expected.len(),
        cross.len()
    );
    let missing: Vec<_> = expected.difference(&got).take(20).collect();
    let extra: Vec<_> = got.difference(&expected).take(20).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:#?}\nextra {extra:#?}");
    assert_eq!(got_reverse, expected, "advisories arriving after the inventory");
    assert!(got.is_disjoint(&cross), "findings from another release's entries");
    assert!(!expected.is_empty() && !cross.is_empty() && el9_only > 0);
}
