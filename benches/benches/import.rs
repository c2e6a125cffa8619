//! Importers: lockfiles and container-image SBOMs, on generated inputs of a realistic shape.
//!
//! Lockfiles: a `package-lock.json` (v3) and a `pnpm-lock.yaml` (v9) of `TRUSTLOOP_IMPORT_PACKAGES`
//! packages (default 10,000), generated from a seeded dependency graph: scoped and unscoped names,
//! hoisted and nested (`node_modules/a/node_modules/b`) installs, `dev` / `optional` /
//! `devOptional` as npm computes them, integrity hashes, peer-suffixed pnpm snapshots, several pnpm
//! importers. Timed `TRUSTLOOP_IMPORT_RUNS` times each (default 20; min / median / max): the parse
//! (`Kind::parse` on the text in memory) and the whole import into one inventory event
//! (`import::lockfile::import`, file read included). Every package must be found. When `npm` is on
//! PATH, `npm ls --all --json --package-lock-only` must accept the package-lock.json beside a
//! package.json made from its root entry and place every package; its time to read the file is
//! printed beside trustloop's (median of `TRUSTLOOP_IMPORT_NPM_RUNS`, default 5; npm takes tens of
//! seconds a run at 10,000 packages).
//!
//! SBOMs: `TRUSTLOOP_IMPORT_SBOMS` (default 3,000) container-image SBOMs as syft writes them,
//! CycloneDX 1.5 JSON and SPDX 2.3 JSON, half each: an operating system (Debian 12, Ubuntu 22.04,
//! AlmaLinux 9, Alpine 3.19), 155 distribution packages, 28 npm / PyPI / Go packages (183 purls a
//! file), three components without a purl, hashes, licences and dependencies. Timed: in process,
//! `sbom::parse_file` of every file on one thread; then the release binary end to end,
//! `trustloop --data DIR import sbom SBOM_DIR` (wall time, purls/s), and, for comparison, one
//! process per file for the first 300 files, extrapolated to all.
//!
//! The `trustloop` binary is `TRUSTLOOP_BIN`, else built (`cargo build --release -p trustloop --bin
//! trustloop`) into this target directory; a smoke run uses one if it is there and builds none. `TRUSTLOOP_IMPORT_DIR`
//! keeps the generated files there (to time them with other tools) instead of a temporary folder.
//!
//! `cargo bench -p trustloop-benches --bench import` (under `cargo test`, a small smoke version:
//! 500-package lockfiles, 20 SBOMs).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{Value, json};
use trustloop_benches::benchmarking;
use trustloop_connectors::import::lockfile;
use trustloop_connectors::import::release::{ReleaseChoice, ReleaseRef};
use trustloop_connectors::import::sbom;
use trustloop_formats::lockfile::Kind;
use trustloop_schemas::EventTime;

fn main() {
    let bench = benchmarking();
    let env = |name: &str, full: usize, smoke: usize| match bench {
        true => std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(full),
        false => smoke,
    };
    let packages = env("TRUSTLOOP_IMPORT_PACKAGES", 10_000, 500);
    let sboms = env("TRUSTLOOP_IMPORT_SBOMS", 3_000, 20);
    let runs = env("TRUSTLOOP_IMPORT_RUNS", 20, 2).max(1);
    let temp = tempfile::tempdir().expect("tempdir");
    let root = std::env::var_os("TRUSTLOOP_IMPORT_DIR").map_or_else(|| temp.path().to_path_buf(), PathBuf::from);
    std::fs::create_dir_all(&root).expect("the import bench's folder");
    let bin = trustloop_bin(bench);
    lockfiles(&root, packages, runs, bin.as_deref());
    sbom_directory(&root, sboms, bin.as_deref());
}

// ---------------------------------------------------------------------------------------------
// Small helpers: a seeded generator, base64, timing.

/// SplitMix64: a small seeded generator, so that the same sizes give the same files.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent` %.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    fn hex(&mut self, n_bytes: usize) -> String {
        self.bytes(n_bytes).iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Min, median and max of `secs`, in ms.
fn spread(mut secs: Vec<f64>) -> (f64, f64, f64) {
    secs.sort_by(f64::total_cmp);
    let ms = |s: f64| s * 1e3;
    (ms(secs[0]), ms(secs[secs.len() / 2]), ms(secs[secs.len() - 1]))
}

fn time<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let started = Instant::now();
    let out = f();
    (started.elapsed().as_secs_f64(), out)
}

// ---------------------------------------------------------------------------------------------
// The trustloop binary.

/// `TRUSTLOOP_BIN`, else, under `cargo bench`, `trustloop` built (release) into this bench's target
/// directory, and in a smoke run the one already built there; `None` (with a note) if there is none.
fn trustloop_bin(bench: bool) -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("TRUSTLOOP_BIN") {
        return Some(PathBuf::from(bin));
    }
    // This bench runs from `<target>/<profile>/deps/`; the binary goes to `<target>/<profile>/`.
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let target = profile_dir.parent()?;
    if !bench {
        // A smoke run stays quick: it uses the binary if one is built, and builds none.
        let bin = profile_dir.join("trustloop");
        if !bin.exists() {
            println!("import: no {} built: the end-to-end smoke runs are skipped", bin.display());
        }
        return bin.exists().then_some(bin);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.current_dir(env!("CARGO_MANIFEST_DIR")).args(["build", "--quiet", "-p", "trustloop", "--bin", "trustloop"]);
    build.env("CARGO_TARGET_DIR", target).arg("--release");
    let (secs, status) = time(|| build.status());
    match status {
        Ok(s) if s.success() => {
            let bin = profile_dir.join("trustloop");
            println!("import: trustloop binary {} (build checked in {secs:.1} s)", bin.display());
            Some(bin)
        }
        other => {
            println!("import: cannot build the trustloop binary ({other:?}); the end-to-end figures are skipped");
            None
        }
    }
}

/// `trustloop --data DATA import --json ARGS...` (`args[0]` is `import`), without the environment
/// that could point it elsewhere;
/// the wall time and the JSON summary it printed.
fn run_trustloop(bin: &Path, data: &Path, args: &[&str]) -> (f64, Value) {
    let mut cmd = Command::new(bin);
    // `--json` belongs to `import`, before its subcommand.
    cmd.arg("--data").arg(data).arg(args[0]).arg("--json").args(&args[1..]);
    for var in
        ["TRUSTLOOP_DATA", "TRUSTLOOP_BROKERS", "TRUSTLOOP_STATE_DIR", "TRUSTLOOP_OTLP_ENDPOINT", "TRUSTLOOP_TENANT"]
    {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    let (secs, out) = time(|| cmd.output().expect("run trustloop"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.lines().rev().find_map(|l| serde_json::from_str::<Value>(l).ok());
    let summary = summary.unwrap_or_else(|| {
        panic!(
            "trustloop {args:?} printed no JSON summary (exit {:?}); stderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (secs, summary)
}

// ---------------------------------------------------------------------------------------------
// Lockfiles: the dependency graph.

const WORDS: &[&str] = &[
    "core",
    "utils",
    "parser",
    "loader",
    "plugin",
    "config",
    "react",
    "babel",
    "eslint",
    "types",
    "node",
    "stream",
    "buffer",
    "async",
    "color",
    "path",
    "glob",
    "fs",
    "http",
    "proxy",
    "cache",
    "event",
    "emitter",
    "string",
    "array",
    "object",
    "deep",
    "merge",
    "lodash",
    "debug",
    "chalk",
    "semver",
    "minimatch",
    "yaml",
    "json",
    "schema",
    "webpack",
    "rollup",
    "vite",
    "postcss",
    "jest",
    "test",
    "mock",
    "runtime",
    "regenerator",
    "helper",
    "compat",
    "polyfill",
];
const SCOPES: &[&str] = &[
    "@babel",
    "@types",
    "@eslint",
    "@jest",
    "@rollup",
    "@vitejs",
    "@testing-library",
    "@typescript-eslint",
    "@aws-sdk",
    "@smithy",
    "@opentelemetry",
    "@radix-ui",
    "@emotion",
    "@mui",
    "@nestjs",
    "@angular",
    "@sentry",
    "@octokit",
];
const LICENSES: &[&str] = &["MIT", "MIT", "MIT", "ISC", "Apache-2.0", "BSD-3-Clause", "BSD-2-Clause", "0BSD"];

/// Layers of the hoisted dependency graph: no chain of requirements is longer.
const LEVELS: usize = 12;

/// One installed package: its place, identity and what it requires.
struct Node {
    /// `node_modules/a` or `node_modules/a/node_modules/b`.
    path: String,
    name: String,
    version: String,
    /// `(dependency name, node it resolves to, optional edge)`.
    deps: Vec<(String, usize, bool)>,
    /// The node whose `node_modules` holds it, for a nested install.
    parent: Option<usize>,
    /// A peer this node's pnpm snapshot is resolved against.
    peer: Option<usize>,
    integrity: String,
    license: &'static str,
    has_bin: bool,
}

/// A project's installed packages and the root's direct dependencies (prod, dev, optional).
struct Graph {
    nodes: Vec<Node>,
    roots: [Vec<usize>; 3],
}

fn unique_name(rng: &mut Rng, seen: &mut HashSet<String>) -> String {
    loop {
        let (a, b) = (rng.pick(WORDS), rng.pick(WORDS));
        let base = match rng.below(4) {
            0 => a.to_string(),
            1 | 2 => format!("{a}-{b}"),
            _ => format!("{a}-{b}-{}", rng.pick(WORDS)),
        };
        let name = if rng.chance(30) { format!("{}/{base}", rng.pick(SCOPES)) } else { base };
        if seen.insert(name.clone()) {
            return name;
        }
    }
}

fn version(rng: &mut Rng, major: usize) -> String {
    format!("{major}.{}.{}", rng.below(30), rng.below(20))
}

fn new_node(rng: &mut Rng, path: String, name: String, version: String, parent: Option<usize>) -> Node {
    Node {
        path,
        name,
        version,
        deps: Vec::new(),
        parent,
        peer: None,
        integrity: format!("sha512-{}", base64(&rng.bytes(64))),
        license: rng.pick(LICENSES),
        has_bin: rng.chance(4),
    }
}

/// `n` packages: 90 % hoisted to the top, 10 % nested under one (some two deep) at another version
/// of a top-level name; each requires up to four hoisted packages of a deeper layer, and whatever
/// no one requires is a direct dependency of the root (70 % prod, 20 % dev, 10 % optional).
fn graph(n: usize, seed: u64) -> Graph {
    let mut rng = Rng(seed);
    let top = n - n / 10;
    let mut seen = HashSet::new();
    let mut versions = HashSet::new();
    let mut nodes: Vec<Node> = (0..top)
        .map(|_| {
            let name = unique_name(&mut rng, &mut seen);
            let major = 1 + rng.below(9);
            let v = version(&mut rng, major);
            new_node(&mut rng, format!("node_modules/{name}"), name, v, None)
        })
        .collect();
    // Hoisted requirements: a DAG in `LEVELS` layers (a tree as shallow as real ones), each edge to
    // a package of a deeper layer; 8 % of edges optional.
    let first_after = |i: usize| ((i * LEVELS / top) + 1) * top / LEVELS;
    for i in 0..top {
        let from = first_after(i);
        let k = if from < top { rng.below(5) } else { 0 };
        let mut picked = BTreeSet::new();
        for _ in 0..k {
            picked.insert(from + rng.below(top - from));
        }
        nodes[i].deps = picked.into_iter().map(|j| (nodes[j].name.clone(), j, rng.chance(8))).collect();
    }
    // Nested installs: another version of a hoisted name, under a package that requires it.
    let mut nested_under: HashMap<usize, HashSet<String>> = HashMap::new();
    while nodes.len() < n {
        let parent =
            if rng.chance(10) && nodes.len() > top { top + rng.below(nodes.len() - top) } else { rng.below(top) };
        let other = rng.below(top);
        let name = nodes[other].name.clone();
        if other == parent || name == nodes[parent].name || nested_under.get(&parent).is_some_and(|n| n.contains(&name))
        {
            continue;
        }
        let major = nodes[other].version.split('.').next().and_then(|m| m.parse::<usize>().ok()).unwrap_or(1);
        let v = version(&mut rng, major + 10);
        if !versions.insert((name.clone(), v.clone())) {
            // The same name and version nested elsewhere: npm and pnpm would list one package.
            continue;
        }
        let path = format!("{}/node_modules/{name}", nodes[parent].path);
        nested_under.entry(parent).or_default().insert(name.clone());
        let id = nodes.len();
        let node = new_node(&mut rng, path, name.clone(), v, Some(parent));
        nodes.push(node);
        // The parent requires this version (replacing an edge to the hoisted one, if it had one).
        nodes[parent].deps.retain(|(d, _, _)| *d != name);
        nodes[parent].deps.push((name, id, false));
    }
    // A nested package requires one or two hoisted packages its folder does not shadow.
    for id in top..n {
        let mut hoisted = id;
        while let Some(p) = nodes[hoisted].parent {
            hoisted = p;
        }
        let from = first_after(hoisted);
        for _ in 0..rng.below(3).min(top - from) {
            let j = from + rng.below(top - from);
            let dep = nodes[j].name.clone();
            if !shadowed(&nodes, &nested_under, id, &dep)
                && dep != nodes[id].name
                && !nodes[id].deps.iter().any(|d| d.0 == dep)
            {
                nodes[id].deps.push((dep, j, false));
            }
        }
    }
    // pnpm peers: 2 % of the hoisted packages resolve against a later package's version.
    for (i, node) in nodes.iter_mut().enumerate().take(top.saturating_sub(1)) {
        if rng.chance(2) {
            node.peer = Some(i + 1 + rng.below(top - i - 1));
        }
    }
    let mut required = vec![false; n];
    for node in &nodes {
        for (_, j, _) in &node.deps {
            required[*j] = true;
        }
    }
    let mut roots: [Vec<usize>; 3] = Default::default();
    for (i, _) in required.iter().enumerate().filter(|(i, r)| !**r && *i < top) {
        let group = match rng.below(10) {
            0..7 => 0,
            7..9 => 1,
            _ => 2,
        };
        roots[group].push(i);
    }
    // Requirements of nested installs can close a cycle no root reaches: its first package becomes
    // a direct dependency too, as the project would declare it.
    let mut g = Graph { nodes, roots };
    let mut reached = reach(&g, &g.roots.concat(), |_| true);
    for i in 0..top {
        if !reached[i] {
            g.roots[0].push(i);
            for (j, r) in reach(&g, &[i], |_| true).into_iter().enumerate() {
                reached[j] |= r;
            }
        }
    }
    g
}

/// Whether `name` resolves from node `id` to a nested install rather than the hoisted one.
fn shadowed(nodes: &[Node], nested_under: &HashMap<usize, HashSet<String>>, id: usize, name: &str) -> bool {
    let mut at = Some(id);
    while let Some(i) = at {
        if nested_under.get(&i).is_some_and(|names| names.contains(name)) {
            return true;
        }
        at = nodes[i].parent;
    }
    false
}

/// Which nodes `from` reaches through edges `follow` allows.
fn reach(g: &Graph, from: &[usize], follow: impl Fn(bool) -> bool) -> Vec<bool> {
    let mut seen = vec![false; g.nodes.len()];
    let mut stack: Vec<usize> = from.to_vec();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        stack.extend(g.nodes[i].deps.iter().filter(|d| follow(d.2)).map(|d| d.1));
    }
    seen
}

/// npm's flags per node: (dev, optional, devOptional).
fn npm_flags(g: &Graph) -> Vec<(bool, bool, bool)> {
    let [prod, dev, opt] = &g.roots;
    let cat = |a: &[usize], b: &[usize]| a.iter().chain(b).copied().collect::<Vec<_>>();
    let required = reach(g, prod, |optional| !optional);
    let non_dev = reach(g, &cat(prod, opt), |_| true);
    let non_optional = reach(g, &cat(prod, dev), |optional| !optional);
    (0..g.nodes.len())
        .map(|i| {
            let (dev, optional) = (!non_dev[i], !non_optional[i]);
            (dev, optional, !required[i] && !dev && !optional)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Lockfiles: writing them.

fn json_deps(out: &mut String, indent: &str, field: &str, deps: &[(String, String)]) {
    if deps.is_empty() {
        return;
    }
    let _ = write!(out, ",\n{indent}\"{field}\": {{");
    for (k, (name, spec)) in deps.iter().enumerate() {
        let comma = if k + 1 < deps.len() { "," } else { "" };
        let _ = write!(out, "\n{indent}  \"{name}\": \"{spec}\"{comma}");
    }
    let _ = write!(out, "\n{indent}}}");
}

/// The graph as npm 7+ writes a `package-lock.json` (v3), entries sorted by path.
fn package_lock(g: &Graph) -> String {
    let flags = npm_flags(g);
    let spec = |j: usize| format!("^{}", g.nodes[j].version);
    let root_deps = |group: usize| -> Vec<(String, String)> {
        let mut d: Vec<_> = g.roots[group].iter().map(|&j| (g.nodes[j].name.clone(), spec(j))).collect();
        d.sort();
        d
    };
    let mut out = String::from(
        "{\n  \"name\": \"bench-app\",\n  \"version\": \"1.0.0\",\n  \"lockfileVersion\": 3,\n  \"requires\": true,\n  \
         \"packages\": {\n    \"\": {\n      \"name\": \"bench-app\",\n      \"version\": \"1.0.0\"",
    );
    json_deps(&mut out, "      ", "dependencies", &root_deps(0));
    json_deps(&mut out, "      ", "devDependencies", &root_deps(1));
    json_deps(&mut out, "      ", "optionalDependencies", &root_deps(2));
    out.push_str("\n    }");
    let mut order: Vec<usize> = (0..g.nodes.len()).collect();
    order.sort_by(|&a, &b| g.nodes[a].path.cmp(&g.nodes[b].path));
    for i in order {
        let n = &g.nodes[i];
        let base = n.name.rsplit('/').next().unwrap_or(&n.name);
        let _ = write!(
            out,
            ",\n    \"{}\": {{\n      \"version\": \"{}\",\n      \"resolved\": \"https://registry.npmjs.org/{}/-/{base}-{}.tgz\",\n      \
             \"integrity\": \"{}\"",
            n.path, n.version, n.name, n.version, n.integrity
        );
        let (dev, optional, dev_optional) = flags[i];
        for (set, flag) in [(dev, "dev"), (optional, "optional"), (dev_optional, "devOptional")] {
            if set {
                let _ = write!(out, ",\n      \"{flag}\": true");
            }
        }
        if n.has_bin {
            let _ = write!(out, ",\n      \"bin\": {{\n        \"{base}\": \"bin/cli.js\"\n      }}");
        }
        let mut deps: Vec<(String, String)> =
            n.deps.iter().filter(|d| !d.2).map(|d| (d.0.clone(), spec(d.1))).collect();
        let mut opt: Vec<(String, String)> = n.deps.iter().filter(|d| d.2).map(|d| (d.0.clone(), spec(d.1))).collect();
        deps.sort();
        opt.sort();
        json_deps(&mut out, "      ", "dependencies", &deps);
        if n.has_bin {
            let _ = write!(out, ",\n      \"engines\": {{\n        \"node\": \">=14\"\n      }}");
        }
        json_deps(&mut out, "      ", "optionalDependencies", &opt);
        let _ = write!(out, ",\n      \"license\": \"{}\"\n    }}", n.license);
    }
    out.push_str("\n  }\n}\n");
    out
}

/// A YAML key as pnpm writes it: quoted when it starts with `@`.
fn yaml_key(k: &str) -> String {
    if k.starts_with('@') { format!("'{k}'") } else { k.to_string() }
}

/// The pnpm version of node `j` as its dependents write it: `1.2.3`, or `1.2.3(peer@4.5.6)`.
fn pnpm_version(g: &Graph, j: usize) -> String {
    match g.nodes[j].peer {
        Some(p) => format!("{}({}@{})", g.nodes[j].version, g.nodes[p].name, g.nodes[p].version),
        None => g.nodes[j].version.clone(),
    }
}

/// The graph as pnpm 9 writes a `pnpm-lock.yaml`: the root's direct dependencies split over three
/// importers (`.`, `packages/web`, `packages/api`), `packages` (resolution, metadata) and
/// `snapshots` (the resolved graph), keys sorted.
fn pnpm_lock(g: &Graph) -> String {
    let mut out = String::from(
        "lockfileVersion: '9.0'\n\nsettings:\n  autoInstallPeers: true\n  excludeLinksFromLockfile: false\n\nimporters:\n",
    );
    for (k, importer) in [".", "packages/api", "packages/web"].iter().enumerate() {
        let _ = write!(out, "\n  {importer}:");
        for (group, field) in ["dependencies", "devDependencies", "optionalDependencies"].iter().enumerate() {
            let mut mine: Vec<usize> = g.roots[group].iter().copied().filter(|j| j % 3 == k).collect();
            mine.sort_by(|&a, &b| g.nodes[a].name.cmp(&g.nodes[b].name));
            if mine.is_empty() {
                continue;
            }
            let _ = write!(out, "\n    {field}:");
            for j in mine {
                let n = &g.nodes[j];
                let _ = write!(
                    out,
                    "\n      {}:\n        specifier: ^{}\n        version: {}",
                    yaml_key(&n.name),
                    n.version,
                    pnpm_version(g, j)
                );
            }
        }
        out.push('\n');
    }
    let mut order: Vec<usize> = (0..g.nodes.len()).collect();
    order.sort_by(|&a, &b| (&g.nodes[a].name, &g.nodes[a].version).cmp(&(&g.nodes[b].name, &g.nodes[b].version)));
    out.push_str("\npackages:\n");
    for &i in &order {
        let n = &g.nodes[i];
        let _ = write!(
            out,
            "\n  {}:\n    resolution: {{integrity: {}}}",
            yaml_key(&format!("{}@{}", n.name, n.version)),
            n.integrity
        );
        if n.has_bin {
            out.push_str("\n    engines: {node: '>=14'}\n    hasBin: true");
        }
        if let Some(p) = n.peer {
            let _ = write!(
                out,
                "\n    peerDependencies:\n      {}: '>={}'",
                yaml_key(&g.nodes[p].name),
                g.nodes[p].version
            );
        }
        out.push('\n');
    }
    let flags = npm_flags(g);
    out.push_str("\nsnapshots:\n");
    for &i in &order {
        let n = &g.nodes[i];
        let key = match n.peer {
            Some(p) => format!("{}@{}({}@{})", n.name, n.version, g.nodes[p].name, g.nodes[p].version),
            None => format!("{}@{}", n.name, n.version),
        };
        let mut deps: Vec<(String, String)> =
            n.deps.iter().filter(|d| !d.2).map(|d| (d.0.clone(), pnpm_version(g, d.1))).collect();
        if let Some(p) = n.peer {
            deps.push((g.nodes[p].name.clone(), g.nodes[p].version.clone()));
        }
        let mut opt: Vec<(String, String)> =
            n.deps.iter().filter(|d| d.2).map(|d| (d.0.clone(), pnpm_version(g, d.1))).collect();
        deps.sort();
        deps.dedup_by(|a, b| a.0 == b.0);
        opt.sort();
        let optional = flags[i].1;
        if deps.is_empty() && opt.is_empty() && !optional {
            let _ = writeln!(out, "\n  {}: {{}}", yaml_key(&key));
            continue;
        }
        let _ = write!(out, "\n  {}:", yaml_key(&key));
        for (field, list) in [("dependencies", &deps), ("optionalDependencies", &opt)] {
            if !list.is_empty() {
                let _ = write!(out, "\n    {field}:");
                for (name, v) in list {
                    let _ = write!(out, "\n      {}: {v}", yaml_key(name));
                }
            }
        }
        if optional {
            out.push_str("\n    optional: true");
        }
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Lockfiles: the measurements.

fn lockfiles(root: &Path, packages: usize, runs: usize, bin: Option<&Path>) {
    let (gen_secs, g) = time(|| graph(packages, 0x5EED_0001));
    let npm_dir = root.join("npm");
    let pnpm_dir = root.join("pnpm");
    for d in [&npm_dir, &pnpm_dir] {
        std::fs::create_dir_all(d).expect("lockfile folder");
    }
    let npm_lock = npm_dir.join("package-lock.json");
    let pnpm_file = pnpm_dir.join("pnpm-lock.yaml");
    let npm_text = package_lock(&g);
    let pnpm_text = pnpm_lock(&g);
    std::fs::write(&npm_lock, &npm_text).expect("write package-lock.json");
    std::fs::write(&pnpm_file, &pnpm_text).expect("write pnpm-lock.yaml");
    let nested = g.nodes.iter().filter(|n| n.parent.is_some()).count();
    let scoped = g.nodes.iter().filter(|n| n.name.starts_with('@')).count();
    println!(
        "import: lockfiles of {packages} packages ({nested} nested installs, {scoped} scoped) generated in {gen_secs:.2} s: \
         package-lock.json {:.1} MB, pnpm-lock.yaml {:.1} MB",
        npm_text.len() as f64 / 1e6,
        pnpm_text.len() as f64 / 1e6
    );
    let release = ReleaseRef::parse("app@1", None).expect("release");
    let mut table = Vec::new();
    for (label, kind, path, text) in [
        ("package-lock.json v3", Kind::PackageLock, &npm_lock, &npm_text),
        ("pnpm-lock.yaml v9", Kind::PnpmLock, &pnpm_file, &pnpm_text),
    ] {
        let name = path.display().to_string();
        let mut no_include =
            |p: &str| -> Result<String, trustloop_formats::FormatError> { panic!("no include expected: {p}") };
        let mut parse_secs = Vec::new();
        let mut import_secs = Vec::new();
        for _ in 0..runs {
            let (secs, parsed) = time(|| kind.parse(text, &name, &mut no_include).expect("parse"));
            assert_eq!(parsed.packages.len(), packages, "{label}: every package parsed");
            assert!(parsed.left_out.is_empty(), "{label}: nothing left out: {:?}", parsed.left_out.first());
            parse_secs.push(secs);
            let (secs, imported) = time(|| {
                lockfile::import(std::slice::from_ref(path), None, &release, "t", EventTime::from_micros(0))
                    .expect("import")
            });
            let inventory = imported.inventory.expect("an inventory");
            assert_eq!(inventory.components.len(), packages, "{label}: every package a component");
            import_secs.push(secs);
        }
        let (p, i) = (spread(parse_secs), spread(import_secs));
        println!(
            "import: {label:<22} parse  {:>7.1} ms median ({:.1} – {:.1}), import {:>7.1} ms median ({:.1} – {:.1}), {runs} runs",
            p.1, p.0, p.2, i.1, i.0, i.2
        );
        table.push((label, p, i));
    }
    if let Some(bin) = bin {
        let data = root.join("lockfile-data");
        let _ = std::fs::remove_dir_all(&data);
        let lock = npm_lock.display().to_string();
        let args = ["import", "lockfile", "--release", "app@1", lock.as_str()];
        let mut whole = Vec::new();
        for _ in 0..runs.min(5) {
            let (secs, summary) = run_trustloop(bin, &data, &args);
            assert_eq!(summary["imported"], 1, "one inventory: {summary}");
            whole.push(secs);
        }
        let w = spread(whole);
        println!(
            "import: `trustloop import lockfile package-lock.json` whole process: {:.0} ms median ({:.0} – {:.0})",
            w.1, w.0, w.2
        );
    }
    npm_peer(&npm_dir, &npm_text, packages, &table);
}

/// `npm ls` over the same package-lock.json: it must accept it and place every package; its time
/// is printed beside trustloop's.
/// Minimum, median and maximum of a set of timings, in seconds.
type Spread = (f64, f64, f64);

fn npm_peer(dir: &Path, text: &str, packages: usize, table: &[(&str, Spread, Spread)]) {
    if !Command::new("npm").arg("--version").output().is_ok_and(|o| o.status.success()) {
        println!("import: npm is not on PATH: no npm check or peer figure");
        return;
    }
    // The package.json npm needs: the lockfile's root entry, as npm_ls_oracle.rs builds it.
    let lock: Value = serde_json::from_str(text).expect("the generated package-lock.json is JSON");
    let root = &lock["packages"][""];
    let mut manifest = json!({ "name": root["name"], "version": root["version"] });
    for field in ["dependencies", "devDependencies", "optionalDependencies"] {
        if let Some(v) = root.get(field) {
            manifest[field] = v.clone();
        }
    }
    std::fs::write(dir.join("package.json"), manifest.to_string()).expect("write package.json");
    let npm_ls = || {
        Command::new("npm")
            .args(["ls", "--all", "--json", "--package-lock-only", "--offline"])
            .current_dir(dir)
            .env("npm_config_cache", dir.join(".npm-cache"))
            .env("npm_config_update_notifier", "false")
            .env("npm_config_fund", "false")
            .output()
            .expect("run npm")
    };
    let runs = match benchmarking() {
        true => std::env::var("TRUSTLOOP_IMPORT_NPM_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(5).max(1),
        false => 1,
    };
    let mut secs = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let (s, out) = time(npm_ls);
        secs.push(s);
        last = Some(out);
    }
    let out = last.expect("one npm run");
    let tree: Value = serde_json::from_slice(&out.stdout).expect("npm ls printed JSON");
    assert!(
        out.status.success() && tree.get("problems").is_none(),
        "npm ls does not accept the generated package-lock.json (exit {:?}): {}",
        out.status.code(),
        tree.get("problems").map_or_else(|| String::from_utf8_lossy(&out.stderr).to_string(), Value::to_string)
    );
    let mut placed = BTreeSet::new();
    flatten(&tree, &mut placed);
    assert_eq!(placed.len(), packages, "npm places every package of the generated lockfile");
    let npm = spread(secs);
    println!(
        "import: npm ls --all --json --package-lock-only accepts the package-lock.json and places {} packages",
        placed.len()
    );
    println!(
        "import: npm's own read of the same file (npm ls --all --json --package-lock-only, whole process): {:.0} ms median \
         of {runs} ({:.0} – {:.0}); trustloop's import of it in process: {:.1} ms median",
        npm.1,
        npm.0,
        npm.2,
        table.first().map_or(f64::NAN, |t| t.2.1)
    );
}

/// npm's tree flattened into (name, version) pairs.
fn flatten(node: &Value, out: &mut BTreeSet<(String, String)>) {
    for (key, child) in node.get("dependencies").and_then(Value::as_object).into_iter().flatten() {
        if let Some(v) = child.get("version").and_then(Value::as_str) {
            out.insert((key.clone(), v.to_string()));
        }
        flatten(child, out);
    }
}

// ---------------------------------------------------------------------------------------------
// SBOMs.

/// A distribution an image is built on.
struct Distro {
    /// syft's `distro:id` and the purl namespace.
    id: &'static str,
    version: &'static str,
    pretty: &'static str,
    /// purl type: `deb`, `rpm`, `apk`.
    ty: &'static str,
    arch: &'static str,
    cataloger: &'static str,
    db: &'static str,
    /// Packages every image of it has; the rest is drawn from `extra` names.
    base: &'static [&'static str],
}

const DEB_BASE: &[&str] = &[
    "adduser",
    "apt",
    "base-files",
    "base-passwd",
    "bash",
    "bsdutils",
    "coreutils",
    "dash",
    "debconf",
    "debianutils",
    "diffutils",
    "dpkg",
    "e2fsprogs",
    "findutils",
    "gcc-12-base",
    "gpgv",
    "grep",
    "gzip",
    "hostname",
    "init-system-helpers",
    "libacl1",
    "libapt-pkg6.0",
    "libattr1",
    "libaudit-common",
    "libaudit1",
    "libblkid1",
    "libbz2-1.0",
    "libc-bin",
    "libc6",
    "libcap-ng0",
    "libcap2",
    "libcom-err2",
    "libcrypt1",
    "libdb5.3",
    "libdebconfclient0",
    "libext2fs2",
    "libffi8",
    "libgcc-s1",
    "libgcrypt20",
    "libgmp10",
    "libgnutls30",
    "libgpg-error0",
    "libhogweed6",
    "libidn2-0",
    "liblz4-1",
    "liblzma5",
    "libmd0",
    "libmount1",
    "libnettle8",
    "libp11-kit0",
    "libpam-modules",
    "libpam-modules-bin",
    "libpam-runtime",
    "libpam0g",
    "libpcre2-8-0",
    "libseccomp2",
    "libselinux1",
    "libsemanage-common",
    "libsemanage2",
    "libsepol2",
    "libsmartcols1",
    "libss2",
    "libssl3",
    "libstdc++6",
    "libsystemd0",
    "libtasn1-6",
    "libtinfo6",
    "libudev1",
    "libunistring2",
    "libuuid1",
    "libxxhash0",
    "libzstd1",
    "login",
    "logsave",
    "mawk",
    "mount",
    "ncurses-base",
    "ncurses-bin",
    "passwd",
    "perl-base",
    "sed",
    "sysvinit-utils",
    "tar",
    "tzdata",
    "util-linux",
    "zlib1g",
    "ca-certificates",
    "openssl",
];
const RPM_BASE: &[&str] = &[
    "almalinux-release",
    "almalinux-gpg-keys",
    "almalinux-repos",
    "alternatives",
    "audit-libs",
    "basesystem",
    "bash",
    "bzip2-libs",
    "ca-certificates",
    "coreutils-single",
    "cracklib",
    "cracklib-dicts",
    "crypto-policies",
    "curl-minimal",
    "cyrus-sasl-lib",
    "dnf",
    "dnf-data",
    "elfutils-libelf",
    "expat",
    "file-libs",
    "filesystem",
    "gawk",
    "gdbm-libs",
    "glib2",
    "glibc",
    "glibc-common",
    "glibc-minimal-langpack",
    "gmp",
    "gnupg2",
    "gnutls",
    "gobject-introspection",
    "gpgme",
    "grep",
    "json-c",
    "json-glib",
    "keyutils-libs",
    "krb5-libs",
    "libacl",
    "libarchive",
    "libassuan",
    "libattr",
    "libblkid",
    "libbrotli",
    "libcap",
    "libcap-ng",
    "libcom_err",
    "libcomps",
    "libcurl-minimal",
    "libdnf",
    "libevent",
    "libffi",
    "libgcc",
    "libgcrypt",
    "libgpg-error",
    "libidn2",
    "libksba",
    "libmodulemd",
    "libmount",
    "libnghttp2",
    "librepo",
    "libreport-filesystem",
    "libselinux",
    "libsepol",
    "libsigsegv",
    "libsmartcols",
    "libsolv",
    "libstdc++",
    "libtasn1",
    "libunistring",
    "libuuid",
    "libverto",
    "libxcrypt",
    "libxml2",
    "libyaml",
    "libzstd",
    "lua-libs",
    "lz4-libs",
    "mpfr",
    "ncurses-base",
    "ncurses-libs",
    "nettle",
    "npth",
    "openldap",
    "openssl",
    "openssl-libs",
    "p11-kit",
    "p11-kit-trust",
    "pcre",
    "pcre2",
    "popt",
    "python3",
    "python3-dnf",
    "python3-libs",
    "readline",
    "rpm",
    "rpm-libs",
    "sed",
    "setup",
    "sqlite-libs",
    "systemd-libs",
    "tzdata",
    "xz-libs",
    "zlib",
];
const APK_BASE: &[&str] = &[
    "alpine-baselayout",
    "alpine-baselayout-data",
    "alpine-keys",
    "apk-tools",
    "busybox",
    "busybox-binsh",
    "ca-certificates",
    "ca-certificates-bundle",
    "libc-utils",
    "libcrypto3",
    "libssl3",
    "musl",
    "musl-utils",
    "scanelf",
    "ssl_client",
    "zlib",
    "libgcc",
    "libstdc++",
    "brotli-libs",
    "c-ares",
    "curl",
    "libcurl",
    "libidn2",
    "libunistring",
    "nghttp2-libs",
    "libffi",
    "gdbm",
    "libbz2",
    "libncursesw",
    "ncurses-terminfo-base",
    "readline",
    "sqlite-libs",
    "xz-libs",
    "mpdecimal",
    "libuuid",
    "libexpat",
    "python3",
    "pyc",
    "python3-pyc",
    "py3-pip",
    "py3-setuptools",
    "tzdata",
    "git",
    "openssh-client-common",
    "pcre2",
    "libintl",
    "icu-data-en",
    "icu-libs",
];

const DISTROS: [Distro; 4] = [
    Distro {
        id: "debian",
        version: "12",
        pretty: "Debian GNU/Linux 12 (bookworm)",
        ty: "deb",
        arch: "amd64",
        cataloger: "dpkg-db-cataloger",
        db: "/var/lib/dpkg/status",
        base: DEB_BASE,
    },
    Distro {
        id: "ubuntu",
        version: "22.04",
        pretty: "Ubuntu 22.04.4 LTS",
        ty: "deb",
        arch: "amd64",
        cataloger: "dpkg-db-cataloger",
        db: "/var/lib/dpkg/status",
        base: DEB_BASE,
    },
    Distro {
        id: "almalinux",
        version: "9",
        pretty: "AlmaLinux 9.4 (Seafoam Ocelot)",
        ty: "rpm",
        arch: "x86_64",
        cataloger: "rpm-db-cataloger",
        db: "/var/lib/rpm/rpmdb.sqlite",
        base: RPM_BASE,
    },
    Distro {
        id: "alpine",
        version: "3.19",
        pretty: "Alpine Linux v3.19",
        ty: "apk",
        arch: "x86_64",
        cataloger: "apk-db-cataloger",
        db: "/lib/apk/db/installed",
        base: APK_BASE,
    },
];

const DISTRO_PACKAGES: usize = 155;
const NPM_PACKAGES: usize = 12;
const PYPI_PACKAGES: usize = 8;
const GO_PACKAGES: usize = 8;
const WITHOUT_PURL: usize = 3;
/// Components with a purl in each SBOM.
const PURLS_PER_SBOM: usize = DISTRO_PACKAGES + NPM_PACKAGES + PYPI_PACKAGES + GO_PACKAGES;

/// A version as the distribution writes it; the same package has the same version in most images.
fn distro_version(d: &Distro, name: &str, image: usize) -> String {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let (major, minor, patch) = (h % 9, (h >> 8) % 40, (h >> 16) % 12);
    let rev = 1 + (h >> 24) % 5 + u64::from(image.is_multiple_of(10));
    match d.ty {
        "deb" if d.id == "ubuntu" => format!("{major}.{minor}.{patch}-{rev}ubuntu0.22.04.{}", (h >> 32) % 3),
        "deb" => format!("{major}.{minor}.{patch}-{rev}+deb12u{}", (h >> 32) % 3),
        "rpm" => format!("{major}.{minor}.{patch}-{rev}.el9"),
        _ => format!("{major}.{minor}.{patch}-r{rev}"),
    }
}

/// One package of an image, whatever the format.
struct Pkg {
    name: String,
    version: String,
    purl: Option<String>,
    /// syft's package type (`deb`, `npm`, `python`, `go-module`, `binary`).
    kind: &'static str,
    cataloger: &'static str,
    location: String,
    license: Option<&'static str>,
    /// SHA-256, hex.
    sha256: Option<String>,
    /// Indices of packages it depends on.
    deps: Vec<usize>,
}

/// The packages of image `i`.
fn image_packages(i: usize, d: &Distro, rng: &mut Rng) -> Vec<Pkg> {
    let mut names: Vec<String> = d.base.iter().map(|s| s.to_string()).collect();
    let mut seen: HashSet<String> = names.iter().cloned().collect();
    while names.len() < DISTRO_PACKAGES {
        let n = match d.ty {
            "deb" => format!("lib{}{}", rng.pick(WORDS), rng.below(8)),
            "rpm" => format!("{}-{}-libs", rng.pick(WORDS), rng.pick(WORDS)),
            _ => format!("py3-{}-{}", rng.pick(WORDS), rng.pick(WORDS)),
        };
        if seen.insert(n.clone()) {
            names.push(n);
        }
    }
    names.truncate(DISTRO_PACKAGES);
    let distro_licenses =
        ["GPL-2.0-or-later", "LGPL-2.1-or-later", "MIT", "BSD-3-Clause", "GPL-3.0-only AND LGPL-3.0-only"];
    let mut out: Vec<Pkg> = names
        .into_iter()
        .map(|name| {
            let version = distro_version(d, &name, i);
            let purl = format!("pkg:{}/{}/{name}@{version}?arch={}&distro={}-{}", d.ty, d.id, d.arch, d.id, d.version);
            Pkg {
                name,
                version,
                purl: Some(purl),
                kind: d.ty,
                cataloger: d.cataloger,
                location: d.db.to_string(),
                license: rng.chance(80).then(|| distro_licenses[rng.below(distro_licenses.len())]),
                sha256: (d.ty == "apk").then(|| rng.hex(32)),
                deps: Vec::new(),
            }
        })
        .collect();
    for (k, package) in out.iter_mut().enumerate() {
        package.deps = (0..rng.below(4)).map(|_| rng.below(DISTRO_PACKAGES)).filter(|&j| j != k).collect();
        package.deps.sort_unstable();
        package.deps.dedup();
    }
    let app = format!("/srv/app-{i:04}");
    let mut names = HashSet::new();
    let lang = [("npm", NPM_PACKAGES), ("python", PYPI_PACKAGES), ("go-module", GO_PACKAGES)];
    for (kind, count) in lang {
        let mut made = 0;
        while made < count {
            let (a, b) = (rng.pick(WORDS), rng.pick(WORDS));
            let (name, purl, cataloger, location, version) = match kind {
                "npm" => {
                    let v = format!("{}.{}.{}", rng.below(9), rng.below(30), rng.below(20));
                    if rng.chance(30) {
                        let scope = rng.pick(SCOPES);
                        let name = format!("{scope}/{a}-{b}");
                        let purl = format!("pkg:npm/%40{}/{a}-{b}@{v}", &scope[1..]);
                        (
                            name,
                            purl,
                            "javascript-package-cataloger",
                            format!("{app}/node_modules/{a}-{b}/package.json"),
                            v,
                        )
                    } else {
                        let name = format!("{a}-{b}");
                        let purl = format!("pkg:npm/{name}@{v}");
                        (
                            name.clone(),
                            purl,
                            "javascript-package-cataloger",
                            format!("{app}/node_modules/{name}/package.json"),
                            v,
                        )
                    }
                }
                "python" => {
                    let v = format!("{}.{}.{}", rng.below(5), rng.below(30), rng.below(10));
                    let name = format!("{a}{b}");
                    let purl = format!("pkg:pypi/{name}@{v}");
                    let loc = format!("/usr/lib/python3/dist-packages/{name}-{v}.dist-info/METADATA");
                    (name, purl, "python-installed-package-cataloger", loc, v)
                }
                _ => {
                    let v = format!("v{}.{}.{}", rng.below(3), rng.below(30), rng.below(10));
                    let name = format!("github.com/{a}/{b}");
                    let purl = format!("pkg:golang/{name}@{v}");
                    (name, purl, "go-module-binary-cataloger", format!("{app}/bin/server"), v)
                }
            };
            if !names.insert(name.clone()) {
                continue;
            }
            made += 1;
            out.push(Pkg {
                name,
                version,
                purl: Some(purl),
                kind,
                cataloger,
                location,
                license: rng.chance(70).then(|| rng.pick(LICENSES)),
                sha256: (kind != "go-module" && rng.chance(60)).then(|| rng.hex(32)),
                deps: Vec::new(),
            });
        }
    }
    for (k, name) in ["node", "python3.11", "busybox-static"].iter().enumerate().take(WITHOUT_PURL) {
        out.push(Pkg {
            name: name.to_string(),
            version: format!("{}.{}", 3 + k, rng.below(20)),
            purl: None,
            kind: "binary",
            cataloger: "binary-classifier-cataloger",
            location: format!("/usr/local/bin/{name}"),
            license: None,
            sha256: Some(rng.hex(32)),
            deps: Vec::new(),
        });
    }
    out
}

fn image_name(i: usize) -> (String, String) {
    (
        format!("registry.example.com/acme/svc-{i:04}"),
        format!("sha256:{:064x}", (i as u128 + 1) * 0x9E37_79B9_7F4A_7C15),
    )
}

fn bom_ref(p: &Pkg, k: usize) -> String {
    match &p.purl {
        Some(purl) => format!("{purl}{}package-id={k:016x}", if purl.contains('?') { "&" } else { "?" }),
        None => format!("{}-{k:016x}", p.name),
    }
}

/// Image `i`'s SBOM as syft writes CycloneDX 1.5 JSON.
fn cyclonedx(i: usize, d: &Distro, pkgs: &[Pkg]) -> Value {
    let (name, digest) = image_name(i);
    let mut components: Vec<Value> = pkgs
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let mut c = json!({
                "bom-ref": bom_ref(p, k),
                "type": "library",
                "name": p.name,
                "version": p.version,
                "cpe": format!("cpe:2.3:a:{0}:{0}:{1}:*:*:*:*:*:*:*", p.name.replace('/', "\\/"), p.version),
                "properties": [
                    {"name": "syft:package:foundBy", "value": p.cataloger},
                    {"name": "syft:package:type", "value": p.kind},
                    {"name": "syft:location:0:layerID", "value": format!("sha256:{:064x}", k % 5)},
                    {"name": "syft:location:0:path", "value": p.location},
                ],
            });
            if let Some(purl) = &p.purl {
                c["purl"] = json!(purl);
            }
            if let Some(l) = p.license {
                c["licenses"] =
                    if l.contains(' ') { json!([{"expression": l}]) } else { json!([{"license": {"id": l}}]) };
            }
            if let Some(h) = &p.sha256 {
                c["hashes"] = json!([{"alg": "SHA-256", "content": h}]);
            }
            c
        })
        .collect();
    components.push(json!({
        "bom-ref": format!("os:{}@{}", d.id, d.version),
        "type": "operating-system",
        "name": d.id,
        "version": d.version,
        "description": d.pretty,
        "cpe": format!("cpe:2.3:o:{0}:{0}_linux:{1}:*:*:*:*:*:*:*", d.id, d.version),
        "externalReferences": [{"url": format!("https://www.{}.org/", d.id), "type": "website"}],
        "properties": [
            {"name": "syft:distro:id", "value": d.id},
            {"name": "syft:distro:prettyName", "value": d.pretty},
            {"name": "syft:distro:versionID", "value": d.version},
        ],
    }));
    let dependencies: Vec<Value> = pkgs
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.deps.is_empty())
        .map(|(k, p)| {
            let on: Vec<String> = p.deps.iter().map(|&j| bom_ref(&pkgs[j], j)).collect();
            json!({"ref": bom_ref(p, k), "dependsOn": on})
        })
        .collect();
    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{:08x}-0000-4000-8000-{:012x}", i, i * 7919),
        "version": 1,
        "metadata": {
            "timestamp": "2024-05-01T12:00:00Z",
            "tools": {"components": [{"type": "application", "author": "anchore", "name": "syft", "version": "1.4.1"}]},
            "component": {"bom-ref": format!("{i:016x}"), "type": "container", "name": name, "version": digest},
        },
        "components": components,
        "dependencies": dependencies,
    })
}

fn spdx_id(p: &Pkg, k: usize) -> String {
    let clean: String =
        p.name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' }).collect();
    format!("SPDXRef-Package-{}-{clean}-{k:016x}", p.kind)
}

/// Image `i`'s SBOM as syft writes SPDX 2.3 JSON.
fn spdx(i: usize, d: &Distro, pkgs: &[Pkg]) -> Value {
    let (name, digest) = image_name(i);
    let root_id = format!("SPDXRef-DocumentRoot-Image-svc-{i:04}");
    let hex = digest.trim_start_matches("sha256:");
    let mut packages = vec![json!({
        "name": name,
        "SPDXID": root_id,
        "versionInfo": digest,
        "supplier": "NOASSERTION",
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "checksums": [{"algorithm": "SHA256", "checksumValue": hex}],
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": format!("pkg:oci/svc-{i:04}@sha256%3A{hex}?arch=amd64&tag=1.0"),
        }],
        "primaryPackagePurpose": "CONTAINER",
    })];
    packages.push(json!({
        "name": d.id,
        "SPDXID": format!("SPDXRef-OperatingSystem-{}-{}", d.id, d.version),
        "versionInfo": d.version,
        "description": d.pretty,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "OPERATING-SYSTEM",
    }));
    let mut relationships = vec![
        json!({"spdxElementId": "SPDXRef-DOCUMENT", "relatedSpdxElement": root_id, "relationshipType": "DESCRIBES"}),
    ];
    for (k, p) in pkgs.iter().enumerate() {
        let id = spdx_id(p, k);
        let mut refs = vec![json!({
            "referenceCategory": "SECURITY",
            "referenceType": "cpe23Type",
            "referenceLocator": format!("cpe:2.3:a:{0}:{0}:{1}:*:*:*:*:*:*:*", p.name.replace('/', "\\/"), p.version),
        })];
        if let Some(purl) = &p.purl {
            refs.push(
                json!({"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}),
            );
        }
        let mut entry = json!({
            "name": p.name,
            "SPDXID": id,
            "versionInfo": p.version,
            "supplier": "NOASSERTION",
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "sourceInfo": format!("acquired package info from {}: {}", p.cataloger, p.location),
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": p.license.unwrap_or("NOASSERTION"),
            "copyrightText": "NOASSERTION",
            "externalRefs": refs,
        });
        if let Some(h) = &p.sha256 {
            entry["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": h}]);
        }
        packages.push(entry);
        relationships.push(json!({"spdxElementId": root_id, "relatedSpdxElement": id, "relationshipType": "CONTAINS"}));
        for &j in &p.deps {
            let on = spdx_id(&pkgs[j], j);
            relationships
                .push(json!({"spdxElementId": id, "relatedSpdxElement": on, "relationshipType": "DEPENDS_ON"}));
        }
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": format!("https://anchore.com/syft/image/svc-{i:04}-{:08x}", i * 104_729),
        "creationInfo": {
            "licenseListVersion": "3.23",
            "creators": ["Organization: Anchore, Inc", "Tool: syft-1.4.1"],
            "created": "2024-05-01T12:00:00Z",
        },
        "packages": packages,
        "relationships": relationships,
    })
}

/// Writes `n` SBOMs into `dir`; their total size in bytes.
fn write_sboms(dir: &Path, n: usize) -> u64 {
    std::fs::create_dir_all(dir).expect("SBOM folder");
    let mut rng = Rng(0x5B0_0002);
    let mut bytes = 0u64;
    for i in 0..n {
        let d = &DISTROS[(i / 2) % DISTROS.len()];
        let pkgs = image_packages(i, d, &mut rng);
        let (doc, file) = match i % 2 {
            0 => (cyclonedx(i, d, &pkgs), format!("svc-{i:04}.cdx.json")),
            _ => (spdx(i, d, &pkgs), format!("svc-{i:04}.spdx.json")),
        };
        let text = serde_json::to_vec_pretty(&doc).expect("serialize");
        bytes += text.len() as u64;
        std::fs::write(dir.join(file), text).expect("write SBOM");
    }
    bytes
}

fn sbom_directory(root: &Path, n: usize, bin: Option<&Path>) {
    let dir = root.join("sboms");
    let _ = std::fs::remove_dir_all(&dir);
    let (gen_secs, bytes) = time(|| write_sboms(&dir, n));
    let purls = n * PURLS_PER_SBOM;
    println!(
        "import: {n} SBOMs (CycloneDX 1.5 and SPDX 2.3 JSON, half each; {purls} purls, {PURLS_PER_SBOM} a file) written in \
         {gen_secs:.1} s: {:.0} MB",
        bytes as f64 / 1e6
    );
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&dir).expect("read SBOM folder").map(|e| e.expect("entry").path()).collect();
    files.sort();

    // In process, one thread: the parse alone.
    let choice = ReleaseChoice::FromDocument { environment: None };
    let (secs, components) = time(|| {
        files
            .iter()
            .map(|f| {
                let (_, inv) = sbom::parse_file(f, &choice, "t", EventTime::from_micros(0))
                    .unwrap_or_else(|e| panic!("{} was rejected: {e}", f.display()));
                assert!(inv.rejected.is_empty(), "{}: rejected {:?}", f.display(), inv.rejected.first());
                inv.inventory.components.len()
            })
            .sum::<usize>()
    });
    assert_eq!(components, purls, "every purl a component, in process");
    println!(
        "import: sbom::parse_file over the {n} files, one thread, in process: {secs:.2} s ({:.0} k purls/s)",
        purls as f64 / secs / 1e3
    );

    let Some(bin) = bin else { return };
    // The whole directory in one run.
    let data = root.join("sbom-data");
    let _ = std::fs::remove_dir_all(&data);
    let dir_arg = dir.display().to_string();
    let (secs, summary) = run_trustloop(bin, &data, &["import", "sbom", &dir_arg]);
    let left_out = check_summary(&summary, n, purls);
    println!(
        "import: `trustloop --data DIR import sbom SBOM_DIR` ({n} files, {purls} purls), whole process: {secs:.2} s, {:.0} k purls/s \
         ({left_out} components left out; {} a file have no purl)",
        purls as f64 / secs / 1e3,
        WITHOUT_PURL
    );

    // The old way: one process per file, for the first 300, extrapolated.
    let sample = n.min(300);
    let data = root.join("sbom-data-per-file");
    let _ = std::fs::remove_dir_all(&data);
    let mut total = 0.0;
    for f in &files[..sample] {
        let path = f.display().to_string();
        let (secs, summary) = run_trustloop(bin, &data, &["import", "sbom", &path]);
        check_summary(&summary, 1, PURLS_PER_SBOM);
        total += secs;
    }
    let all = total / sample as f64 * n as f64;
    println!(
        "import: one process per file, first {sample} files: {total:.2} s ({:.1} ms a file) → {all:.1} s for all {n} \
         (extrapolated), {:.0} k purls/s; one run for the directory is {:.1}× faster",
        total / sample as f64 * 1e3,
        purls as f64 / all / 1e3,
        all / secs
    );
}

/// Checks that the import's JSON summary says `files` inventories, no rejection and `purls`
/// components; returns how many components it left out.
fn check_summary(summary: &Value, files: usize, purls: usize) -> u64 {
    let ecosystems: BTreeMap<String, Value> =
        summary["ecosystems"].as_object().map(|m| m.clone().into_iter().collect()).unwrap_or_default();
    let components: u64 = ecosystems.values().filter_map(|e| e["components"].as_u64()).sum();
    assert_eq!(summary["imported"].as_u64(), Some(files as u64), "one inventory a file: {summary}");
    assert_eq!(summary["rejected"].as_u64(), Some(0), "nothing rejected: {summary}");
    assert_eq!(components, purls as u64, "every purl a component: {summary}");
    summary["skipped_components"].as_u64().unwrap_or(0)
}
