//! Impact selection at portfolio scale, on real data (`../shared/data`): every shared advisory
//! (RustSec, Go, PyPA) loaded, 10,000 releases × 500 components built from real package names and
//! versions, then
//! * cold load of every advisory (parse + index),
//! * one advisory upsert → finding deltas (p50/p99 over many upserts),
//! * a new release of 5,000 components matched against all advisories.
//!
//! `cargo bench -p trustloop-benches --bench impact` (under `cargo test` it runs a small smoke version).
//!
//! Latencies are reported twice. *Raw*: one operator state, as timed. *Filtered*: two identical
//! states (replicas) fed every input in lockstep, each apply timed, the smaller time kept. The host
//! of a shared VM stalls a vCPU for milliseconds several times a second (`TRUSTLOOP_IMPACT_REPLICAS=1`
//! runs one state; the README quotes a spin-loop measurement of the stalls); a stall lands in one
//! replica's window, while the operator's own slow cases (a table growing, a large change) are the
//! same work in both and stay in the filtered figure.
//!
//! Memory is locked first, as `trustloop run --lock-memory` does (`TRUSTLOOP_BENCH_LOCK_MEMORY=0`
//! does not): on this VM a first touch of memory the host has reclaimed takes ~5 ms, and the
//! operator's growing state touches new memory every few releases. Each phase reports how many
//! timed applies took a page fault.
//! It measures the findings operator — impact selection with the VEX layer and advisory facts, what
//! the pipeline runs; `TRUSTLOOP_IMPACT_OPERATOR=impact` measures the impact operator alone.
//!
//! Then the same two latencies for distribution images, where advisories are scoped to releases and
//! versions are ordered by rpm and dpkg: the AlmaLinux 8 and 9 advisories (`AlmaLinux:8`,
//! `AlmaLinux:9`, `AlmaLinux:10` entries) and their Debian mirror — one synthetic advisory per
//! AlmaLinux one, its entries as `Debian:11` / `Debian:12` with dpkg versions made from the rpm ones
//! (`1:2.3-4.el9` → `1:2.3-4+deb12u1`; the shared data has no Debian advisories) — are added, 1,000
//! images of 500 packages loaded, then images of 5,000 packages, half rpm (AlmaLinux 8/9) and half
//! deb (Debian 11/12), each built for a release (one in ten left to the image's OS, one in twenty
//! not known), matched as they arrive, and AlmaLinux and Debian advisories re-published.

use std::path::{Path, PathBuf};
use std::time::Instant;

use trustloop_benches::{benchmarking, lock_memory_for_latency, minor_faults};
use trustloop_connectors::import::release::ReleaseChoice;
use trustloop_connectors::import::{cargo_lock, osv, sbom};
use trustloop_operators::findings::FindingsState;
use trustloop_operators::impact::ImpactState;
use trustloop_operators::versions::Ecosystem;
use trustloop_schemas::{
    Advisory, Component, Envelope, Event, EventId, EventTime, InventoryFormat, OperatingSystem, RangeEvent,
    ReleaseInventory,
};

fn shared_data() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("TRUSTLOOP_SHARED_DATA") {
        return Some(PathBuf::from(p)).filter(|p| p.is_dir());
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    p.is_dir().then_some(p)
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if osv::Format::of(&p).is_some() {
            out.push(p);
        }
    }
}

fn sbom_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            sbom_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn release(n: usize, components: Vec<Component>) -> Event {
    Event::ReleaseInventory(ReleaseInventory {
        envelope: Envelope {
            event_id: EventId(uuid_from(n as u128)),
            tenant: "bench".into(),
            key: format!("svc-{n}@1.0.{n}").into(),
            event_time: EventTime::from_micros(n as i64),
            source: "bench".into(),
            schema_version: 1,
        },
        release_name: format!("svc-{n}"),
        release_version: format!("1.0.{n}"),
        environment: None,
        format: InventoryFormat::Other,
        document_digest: None,
        components,
        os: None,
        labels: Default::default(),
        left_out: Vec::new(),
    })
}

fn uuid_from(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(n)
}

/// Identical operator states fed the same inputs in lockstep (see the module docs).
struct Replicas(Vec<Operator>);

/// One timed apply: milliseconds until `apply` returned and until its deltas were freed, for the
/// first replica (raw) and the fastest (filtered); how many deltas it emitted; in how many
/// replicas it took a page fault.
struct Timed {
    raw_returned: f64,
    raw_freed: f64,
    min_returned: f64,
    min_freed: f64,
    deltas: usize,
    faulted: usize,
}

impl Replicas {
    fn new() -> Replicas {
        let n = std::env::var("TRUSTLOOP_IMPACT_REPLICAS").ok().and_then(|n| n.parse().ok()).unwrap_or(2usize);
        Replicas((0..n.max(1)).map(|_| Operator::from_env()).collect())
    }

    /// Applies `e` to every replica, untimed; returns how many deltas the first emitted.
    fn apply(&mut self, e: &Event) -> usize {
        let counts: Vec<usize> = self.0.iter_mut().map(|s| s.apply_event(e).len()).collect();
        assert!(counts.windows(2).all(|w| w[0] == w[1]), "replicas diverged: {counts:?}");
        counts[0]
    }

    /// Applies `e` to every replica (which goes first alternates with `round`), each timed until
    /// `apply` returns and until the deltas are freed (as a consumer would).
    fn apply_timed(&mut self, e: &Event, round: usize) -> Timed {
        let n = self.0.len();
        let mut times = vec![(0.0, 0.0, 0usize); n];
        let mut faulted = 0;
        for k in 0..n {
            let at = (k + round) % n;
            let faults = minor_faults();
            let t = Instant::now();
            let out = self.0[at].apply_event(e);
            let returned = t.elapsed().as_secs_f64() * 1e3;
            let deltas = out.len();
            drop(out);
            times[at] = (returned, t.elapsed().as_secs_f64() * 1e3, deltas);
            if let (Some(before), Some(after)) = (faults, minor_faults()) {
                faulted += usize::from(after > before);
            }
        }
        assert!(times.windows(2).all(|w| w[0].2 == w[1].2), "replicas diverged");
        Timed {
            raw_returned: times[0].0,
            raw_freed: times[0].1,
            min_returned: times.iter().map(|t| t.0).fold(f64::INFINITY, f64::min),
            min_freed: times.iter().map(|t| t.1).fold(f64::INFINITY, f64::min),
            deltas: times[0].2,
            faulted,
        }
    }
}

/// Sorted copies of the timings of one phase, and their report line.
fn report(what: &str, timed: &[Timed], detail: &str, replicas: usize) {
    let sorted = |f: &dyn Fn(&Timed) -> f64| {
        let mut v: Vec<f64> = timed.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let (freed, returned) = (sorted(&|t| t.min_freed), sorted(&|t| t.min_returned));
    let (raw, raw_returned) = (sorted(&|t| t.raw_freed), sorted(&|t| t.raw_returned));
    println!(
        "impact: {what}: filtered p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; raw p50 {:.3} ms, p99 {:.3} ms, max \
         {:.3} ms ({detail}); until apply returns: filtered p50 {:.3} ms, p99 {:.3} ms; raw p50 {:.3} ms, p99 {:.3} ms; \
         {} of {} applies took a page fault",
        percentile(&freed, 0.5),
        percentile(&freed, 0.99),
        freed[freed.len() - 1],
        percentile(&raw, 0.5),
        percentile(&raw, 0.99),
        raw[raw.len() - 1],
        percentile(&returned, 0.5),
        percentile(&returned, 0.99),
        percentile(&raw_returned, 0.5),
        percentile(&raw_returned, 0.99),
        timed.iter().map(|t| t.faulted).sum::<usize>(),
        timed.len() * replicas,
    );
}

/// The operator measured: the findings operator (default) or the impact operator alone.
enum Operator {
    Findings(Box<FindingsState>),
    Impact(Box<ImpactState>),
}

impl Operator {
    fn from_env() -> Operator {
        match std::env::var("TRUSTLOOP_IMPACT_OPERATOR").as_deref() {
            Ok("impact") => Operator::Impact(Box::default()),
            _ => Operator::Findings(Box::default()),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Operator::Findings(_) => "findings (impact selection + VEX layer + advisory facts)",
            Operator::Impact(_) => "impact (impact selection alone)",
        }
    }

    fn apply_event(&mut self, e: &Event) -> Vec<trustloop_schemas::Finding> {
        match self {
            Operator::Findings(s) => s.apply_event(e),
            Operator::Impact(s) => s.apply(e),
        }
    }
}

fn main() {
    let Some(data) = shared_data() else {
        println!("impact: ../shared/data is absent (it is not shipped); nothing to measure");
        return;
    };
    let full = benchmarking();
    if full {
        lock_memory_for_latency("impact");
    }
    let (releases, per_release, upserts) = if full { (10_000, 500, 400) } else { (50, 50, 10) };

    // Cold load: parse and index every advisory.
    let mut paths = Vec::new();
    for sub in ["advisories/rustsec/crates", "advisories/go-vulndb", "advisories/pypa"] {
        files(&data.join(sub), &mut paths);
    }
    let started = Instant::now();
    let mut state = Replicas::new();
    println!("impact: operator {}, {} replicas", state.0[0].name(), state.0.len());
    let mut advisories: Vec<Advisory> = Vec::with_capacity(paths.len());
    for p in &paths {
        if let Ok(a) = osv::parse_file(p, "bench") {
            state.0[0].apply_event(&Event::Advisory(a.clone()));
            advisories.push(a);
        }
    }
    let cold = started.elapsed().as_secs_f64();
    println!("impact: cold load of {} advisories (parse + index): {:.3} s", advisories.len(), cold);
    for replica in &mut state.0[1..] {
        for a in &advisories {
            replica.apply_event(&Event::Advisory(a.clone()));
        }
    }

    // The component pools: real names and versions. Clean: crates from real lockfiles and the npm,
    // Maven and Composer components of the real SBOMs. Named by advisories: versions the advisories
    // themselves name (fixed versions, one affected version in ten entries) for PyPI, Go and
    // crates.io.
    let mut pool: Vec<Component> = Vec::new();
    let mut clean: Vec<Component> = Vec::new();
    for f in ["arroyo-2023-06.Cargo.lock", "arroyo-2023-12.Cargo.lock", "tansu-0.3.0.Cargo.lock"] {
        let r = cargo_lock::ReleaseRef::parse("pool@1", None).expect("release");
        if let Ok(inv) = cargo_lock::parse_file(&data.join("lockfiles").join(f), &r, "bench", EventTime::from_micros(0))
        {
            clean.extend(inv.inventory.components);
        }
    }
    let mut boms = Vec::new();
    sbom_files(&data.join("sboms/cyclonedx"), &mut boms);
    let choice = ReleaseChoice::Given(cargo_lock::ReleaseRef::parse("pool@1", None).expect("release"));
    for p in &boms {
        if let Ok((_, inv)) = sbom::parse_file(p, &choice, "bench", EventTime::from_micros(0)) {
            clean.extend(inv.inventory.components);
        }
    }
    // Mostly fixed versions (as a maintained portfolio has), one affected version in ten entries.
    for (i, a) in advisories.iter().enumerate() {
        for af in &a.affected {
            let affected = af.versions.first().filter(|_| i % 10 == 0).map(String::as_str);
            let versions: Vec<&str> = af
                .ranges
                .iter()
                .flat_map(|r| r.events.iter())
                .filter_map(|e: &RangeEvent| e.fixed.as_deref())
                .take(2)
                .chain(affected)
                .collect();
            for v in versions {
                pool.push(Component {
                    purl: format!("pkg:{}/{}@{v}", af.package.ecosystem.to_lowercase(), af.package.name),
                    ecosystem: af.package.ecosystem.clone(),
                    name: af.package.name.clone(),
                    version: v.to_string(),
                    scope: None,
                    ..Default::default()
                });
            }
        }
    }
    for p in [&mut pool, &mut clean] {
        p.sort_by(|a, b| a.purl.cmp(&b.purl));
        p.dedup_by(|a, b| a.purl == b.purl);
    }
    let packages = |p: &[Component]| {
        let mut names: Vec<(&str, &str)> = p.iter().map(|c| (c.ecosystem.as_str(), c.name.as_str())).collect();
        names.sort_unstable();
        names.dedup();
        names.len()
    };
    println!(
        "impact: component pools: {} clean components of {} packages (real lockfiles and SBOMs), {} versions of \
         {} packages named by advisories (9 in 10 picks from the first)",
        clean.len(),
        packages(&clean),
        pool.len(),
        packages(&pool)
    );

    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // A release of `n` distinct components, drawn 9 in 10 from the clean pool, 1 in 10 from the
    // advisory-named pool: one version of each advisory-named package; clean packages may come in
    // two versions, as in real lockfiles and SBOMs (the pools hold fewer than 5,000 packages).
    let mut pick = |n: usize| -> Vec<Component> {
        let mut seen = std::collections::HashSet::new();
        let mut cs: Vec<Component> = Vec::with_capacity(n);
        let mut draws = 0usize;
        while cs.len() < n && draws < 1_000 * n {
            draws += 1;
            let r = next() as usize;
            let (c, key) = if r.is_multiple_of(10) {
                let c = &pool[(r / 10) % pool.len()];
                (c, format!("{}/{}", c.ecosystem, c.name))
            } else {
                let c = &clean[(r / 10) % clean.len()];
                (c, c.purl.clone())
            };
            if seen.insert(key) {
                cs.push(c.clone());
            }
        }
        cs
    };
    let started = Instant::now();
    let mut findings = 0usize;
    // (Every replica is loaded: the time is theirs together.)
    for n in 0..releases {
        findings += state.apply(&release(n, pick(per_release)));
    }
    println!(
        "impact: {releases} releases × {per_release} components loaded in {:.2} s per replica ({findings} findings \
         opened)",
        started.elapsed().as_secs_f64() / state.0.len() as f64
    );

    // Advisory upserts: re-publish real advisories, every other one with its fixed versions removed
    // (every version from `introduced` on becomes affected: real deltas), the others unchanged.
    // Timed until the returned deltas are freed again (as a consumer would); the time until `apply`
    // returns is reported too.
    let mut timed: Vec<Timed> = Vec::new();
    let mut slowest: Vec<(f64, usize, String)> = Vec::new();
    let mut deltas = 0usize;
    let candidates: Vec<&Advisory> =
        advisories.iter().filter(|a| a.affected.iter().any(|x| !x.ranges.is_empty())).collect();
    for i in 0..upserts {
        let mut a = candidates[(i * 7919) % candidates.len()].clone();
        if i % 2 == 0 {
            for af in &mut a.affected {
                for r in &mut af.ranges {
                    r.events.retain(|e| e.fixed.is_none());
                }
            }
        }
        a.envelope.event_id = EventId(uuid_from(1_000_000 + i as u128));
        let id = a.id.clone();
        // The input is built before and freed after the timed part: decoding and freeing it is the
        // runtime's work, not the operator's.
        let input = Event::Advisory(a);
        let t = state.apply_timed(&input, i);
        drop(input);
        deltas += t.deltas;
        slowest.push((t.min_freed, t.deltas, id));
        timed.push(t);
    }
    slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
    report("advisory upsert → finding deltas", &timed, &format!("{upserts} upserts, {deltas} deltas"), state.0.len());
    let top: Vec<String> = slowest.iter().take(5).map(|(ms, n, id)| format!("{id} {n} deltas {ms:.1} ms")).collect();
    println!("impact: slowest upserts (filtered): {}", top.join("; "));

    // New releases of 5,000 components.
    let mut timed: Vec<Timed> = Vec::new();
    let mut slow_releases: Vec<(f64, usize)> = Vec::new();
    let (mut components, mut opened) = (0usize, 0usize);
    let rounds = if full { 200 } else { 3 };
    for n in 0..rounds {
        let comps = pick(5_000);
        components += comps.len();
        let input = release(releases + 1 + n, comps);
        let t = state.apply_timed(&input, n);
        drop(input);
        opened += t.deltas;
        slow_releases.push((t.min_freed, t.deltas));
        timed.push(t);
    }
    slow_releases.sort_by(|a, b| b.0.total_cmp(&a.0));
    let top: Vec<String> = slow_releases.iter().take(5).map(|(ms, n)| format!("{n} findings {ms:.1} ms")).collect();
    println!("impact: slowest new releases (filtered): {}", top.join("; "));
    report(
        "new release of 5,000 components matched against all advisories",
        &timed,
        &format!(
            "{rounds} releases, {} components and {} findings each on average",
            components / rounds,
            opened / rounds
        ),
        state.0.len(),
    );

    distro_images(&data, &mut state, full, releases + rounds + 1);
}

/// `version` (rpm's `[epoch:]version-release`) as a Debian `release` version: the release's leading
/// digits become the Debian revision (`1:2.3-4.el9` → `1:2.3-4+deb12u1`).
fn debian_version(version: &str, release: &str) -> String {
    let (upstream, revision) = version.rsplit_once('-').unwrap_or((version, "1"));
    let digits: String = revision.chars().take_while(char::is_ascii_digit).collect();
    let digits = if digits.is_empty() { "1".to_string() } else { digits };
    format!("{upstream}-{digits}+deb{release}u1")
}

/// The Debian mirror of an AlmaLinux advisory (see the module docs): AlmaLinux 8 entries as
/// `Debian:11`, the others as `Debian:12`.
fn debian_mirror(a: &Advisory, n: usize) -> Advisory {
    let mut d = a.clone();
    d.id = format!("DSA-MIRROR-{}", a.id);
    d.envelope.event_id = EventId(uuid_from(5_000_000 + n as u128));
    for x in &mut d.affected {
        let release = if x.package.ecosystem == "AlmaLinux:8" { "11" } else { "12" };
        x.package.ecosystem = format!("Debian:{release}");
        for e in x.ranges.iter_mut().flat_map(|r| r.events.iter_mut()) {
            if let Some(f) = &mut e.fixed {
                *f = debian_version(f, release);
            }
        }
    }
    d
}

/// One distribution package: (ecosystem, release, name) and its fixed versions, ascending.
type Versions = ((&'static str, &'static str, String), Vec<String>);

/// Every (ecosystem, release, name) the advisories name, with its fixed versions in the ecosystem's
/// order.
fn distro_packages(advisories: &[Advisory]) -> Vec<Versions> {
    let mut by: std::collections::BTreeMap<(&'static str, &'static str, String), Vec<String>> = Default::default();
    for a in advisories {
        for x in &a.affected {
            let key = match x.package.ecosystem.as_str() {
                "AlmaLinux:8" => ("AlmaLinux", "8"),
                "AlmaLinux:9" => ("AlmaLinux", "9"),
                "Debian:11" => ("Debian", "11"),
                "Debian:12" => ("Debian", "12"),
                _ => continue,
            };
            let fixed = x.ranges.iter().flat_map(|r| &r.events).filter_map(|e| e.fixed.clone());
            by.entry((key.0, key.1, x.package.name.clone())).or_default().extend(fixed);
        }
    }
    by.into_iter()
        .filter(|(_, vs)| !vs.is_empty())
        .map(|(key, mut vs)| {
            let eco = Ecosystem::from_osv(key.0).expect("a distribution trustloop orders");
            vs.sort_by(|a, b| eco.compare(a, b));
            vs.dedup();
            (key, vs)
        })
        .collect()
}

/// A distribution image (see the module docs): `os` names its operating system.
fn image(n: usize, components: Vec<Component>, os: Option<(&str, &str)>) -> Event {
    let Event::ReleaseInventory(mut r) = release(n, components) else { unreachable!() };
    r.release_name = format!("image-{n}");
    r.envelope.key = format!("image-{n}@1.0.{n}").into();
    r.os = os.map(|(d, v)| OperatingSystem { distribution: d.into(), release: Some(v.into()), name: None });
    Event::ReleaseInventory(r)
}

/// The distribution phase (see the module docs).
fn distro_images(data: &Path, state: &mut Replicas, full: bool, first_release: usize) {
    let mut paths = Vec::new();
    files(&data.join("advisories/almalinux"), &mut paths);
    paths.sort();
    let mut alma: Vec<Advisory> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in &paths {
        if let Ok(a) = osv::parse_file(p, "bench")
            && seen.insert(a.id.clone())
        {
            alma.push(a);
        }
    }
    let debian: Vec<Advisory> = alma.iter().enumerate().map(|(n, a)| debian_mirror(a, n)).collect();
    for a in alma.iter().chain(&debian) {
        state.apply(&Event::Advisory(a.clone()));
    }
    let all: Vec<Advisory> = alma.iter().chain(&debian).cloned().collect();
    let packages = distro_packages(&all);
    println!(
        "impact: distribution images: {} AlmaLinux advisories and {} Debian mirrors loaded; {} (distribution, \
         release, package) versions named",
        alma.len(),
        debian.len(),
        packages.len()
    );

    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // Half rpm, half deb; one package of a distribution once per image; nine in ten at the latest fix
    // (maintained), one in ten at an earlier fixed version (affected by the later advisories). Nine in
    // ten say their release, one in twenty leaves it to the image's OS (AlmaLinux 9), one in twenty
    // does not know it.
    let (rpm, deb): (Vec<&Versions>, Vec<&Versions>) = packages.iter().partition(|p| p.0.0 == "AlmaLinux");
    let mut pick = |n: usize| -> Vec<Component> {
        let mut seen = std::collections::HashSet::new();
        let mut cs = Vec::with_capacity(n);
        let mut draws = 0usize;
        while cs.len() < n && draws < 1_000 * n {
            draws += 1;
            let r = next() as usize;
            let pool = if r.is_multiple_of(2) { &rpm } else { &deb };
            let ((eco, release, name), versions) = pool[(r / 2) % pool.len()];
            if !seen.insert((*eco, name.as_str())) {
                continue;
            }
            let version = if (r / 7).is_multiple_of(10) {
                &versions[(r / 70) % versions.len()]
            } else {
                &versions[versions.len() - 1]
            };
            let distro_release = match (r / 11) % 20 {
                0 => None,
                1 if *eco == "AlmaLinux" && *release == "9" => None,
                _ => Some(release.to_string()),
            };
            let kind = if *eco == "AlmaLinux" { "rpm/almalinux" } else { "deb/debian" };
            cs.push(Component {
                purl: format!("pkg:{kind}/{name}@{version}?distro={}-{release}", eco.to_lowercase()),
                ecosystem: eco.to_string(),
                name: name.clone(),
                version: version.clone(),
                distro_release,
                ..Default::default()
            });
        }
        cs
    };
    let (images, per_image, upserts, rounds) = if full { (1_000, 500, 400, 200) } else { (20, 50, 10, 3) };
    let started = Instant::now();
    let mut findings = 0usize;
    for n in 0..images {
        findings += state.apply(&image(first_release + n, pick(per_image), Some(("AlmaLinux", "9.4"))));
    }
    println!(
        "impact: {images} distribution images × {per_image} packages loaded in {:.2} s per replica ({findings} \
         findings opened)",
        started.elapsed().as_secs_f64() / state.0.len() as f64
    );

    // New images of 5,000 packages.
    let mut timed: Vec<Timed> = Vec::new();
    let (mut components, mut opened) = (0usize, 0usize);
    for n in 0..rounds {
        let comps = pick(5_000);
        components += comps.len();
        let input = image(first_release + images + n, comps, Some(("AlmaLinux", "9.4")));
        let t = state.apply_timed(&input, n);
        drop(input);
        opened += t.deltas;
        timed.push(t);
    }
    report(
        "new distribution image of 5,000 packages (rpm + dpkg, releases) matched against all advisories",
        &timed,
        &format!("{rounds} images, {} packages and {} findings each on average", components / rounds, opened / rounds),
        state.0.len(),
    );

    // Advisory upserts: AlmaLinux and Debian in turn, every other one with its fixes removed.
    let mut timed: Vec<Timed> = Vec::new();
    let mut deltas = 0usize;
    for i in 0..upserts {
        let from = if i % 2 == 0 { &alma } else { &debian };
        let mut a = from[(i * 7919) % from.len()].clone();
        if (i / 2) % 2 == 0 {
            for af in &mut a.affected {
                for r in &mut af.ranges {
                    r.events.retain(|e| e.fixed.is_none());
                }
            }
        }
        a.envelope.event_id = EventId(uuid_from(9_000_000 + i as u128));
        let input = Event::Advisory(a);
        let t = state.apply_timed(&input, i);
        drop(input);
        deltas += t.deltas;
        timed.push(t);
    }
    report(
        "distribution advisory upsert (AlmaLinux, Debian) → finding deltas",
        &timed,
        &format!("{upserts} upserts, {deltas} deltas"),
        state.0.len(),
    );
}
