//! Impact selection at portfolio scale, on real data (`../shared/data`): every shared advisory
//! (RustSec, Go, PyPA) loaded, 10,000 releases × 500 components built from real package names and
//! versions, then
//! * cold load of every advisory (parse + index),
//! * one advisory upsert → finding deltas (p50/p99 over many upserts),
//! * a new release of 5,000 components matched against all advisories.
//!
//! `cargo bench -p trustloop-benches --bench impact` (under `cargo test` it runs a small smoke version).
//! It measures the findings operator — impact selection with the VEX layer and advisory facts, what
//! the pipeline runs; `TRUSTLOOP_IMPACT_OPERATOR=impact` measures the impact operator alone.

use std::path::{Path, PathBuf};
use std::time::Instant;

use trustloop_benches::benchmarking;
use trustloop_connectors::import::release::ReleaseChoice;
use trustloop_connectors::import::{cargo_lock, osv, sbom};
use trustloop_operators::findings::FindingsState;
use trustloop_operators::impact::ImpactState;
use trustloop_schemas::{
    Advisory, Component, Envelope, Event, EventId, EventTime, InventoryFormat, RangeEvent, ReleaseInventory,
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
            key: format!("svc-{n}@1.0.{n}"),
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
    })
}

fn uuid_from(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(n)
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
    let (releases, per_release, upserts) = if full { (10_000, 500, 400) } else { (50, 50, 10) };

    // Cold load: parse and index every advisory.
    let mut paths = Vec::new();
    for sub in ["advisories/rustsec/crates", "advisories/go-vulndb", "advisories/pypa"] {
        files(&data.join(sub), &mut paths);
    }
    let started = Instant::now();
    let mut state = Operator::from_env();
    println!("impact: operator {}", state.name());
    let mut advisories: Vec<Advisory> = Vec::with_capacity(paths.len());
    for p in &paths {
        if let Ok(a) = osv::parse_file(p, "bench") {
            state.apply_event(&Event::Advisory(a.clone()));
            advisories.push(a);
        }
    }
    let cold = started.elapsed().as_secs_f64();
    println!("impact: cold load of {} advisories (parse + index): {:.3} s", advisories.len(), cold);

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
    for n in 0..releases {
        findings += state.apply_event(&release(n, pick(per_release))).len();
    }
    println!(
        "impact: {releases} releases × {per_release} components loaded in {:.2} s ({findings} findings opened)",
        started.elapsed().as_secs_f64()
    );

    // Advisory upserts: re-publish real advisories, every other one with its fixed versions removed
    // (every version from `introduced` on becomes affected: real deltas), the others unchanged.
    // Timed until the returned deltas are freed again (as a consumer would); the time until `apply`
    // returns is reported too.
    let mut latencies = Vec::new();
    let mut returned = Vec::new();
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
        let t = Instant::now();
        let out = state.apply_event(&input);
        returned.push(t.elapsed().as_secs_f64() * 1e3);
        let n = out.len();
        drop(out);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        drop(input);
        deltas += n;
        latencies.push(ms);
        slowest.push((ms, n, id));
    }
    slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
    latencies.sort_by(f64::total_cmp);
    returned.sort_by(f64::total_cmp);
    println!(
        "impact: advisory upsert → finding deltas: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({upserts} upserts, \
         {deltas} deltas); until apply returns: p50 {:.3} ms, p99 {:.3} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1],
        percentile(&returned, 0.5),
        percentile(&returned, 0.99),
    );
    let top: Vec<String> = slowest.iter().take(5).map(|(ms, n, id)| format!("{id} {n} deltas {ms:.1} ms")).collect();
    println!("impact: slowest upserts: {}", top.join("; "));

    // New releases of 5,000 components.
    let mut new_release = Vec::new();
    let mut slow_releases: Vec<(f64, usize)> = Vec::new();
    let mut returned = Vec::new();
    let (mut components, mut opened) = (0usize, 0usize);
    let rounds = if full { 200 } else { 3 };
    for n in 0..rounds {
        let comps = pick(5_000);
        components += comps.len();
        let input = release(releases + 1 + n, comps);
        let t = Instant::now();
        let out = state.apply_event(&input);
        returned.push(t.elapsed().as_secs_f64() * 1e3);
        opened += out.len();
        let n_out = out.len();
        drop(out);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        drop(input);
        new_release.push(ms);
        slow_releases.push((ms, n_out));
    }
    slow_releases.sort_by(|a, b| b.0.total_cmp(&a.0));
    let top: Vec<String> = slow_releases.iter().take(5).map(|(ms, n)| format!("{n} findings {ms:.1} ms")).collect();
    println!("impact: slowest new releases: {}", top.join("; "));
    new_release.sort_by(f64::total_cmp);
    returned.sort_by(f64::total_cmp);
    println!(
        "impact: new release of 5,000 components matched against all advisories: p50 {:.3} ms, p99 {:.3} ms \
         ({rounds} releases, {} components and {} findings each on average); until apply returns: \
         p50 {:.3} ms, p99 {:.3} ms",
        percentile(&new_release, 0.5),
        percentile(&new_release, 0.99),
        components / rounds,
        opened / rounds,
        percentile(&returned, 0.5),
        percentile(&returned, 0.99),
    );
}
