//! trustloop's package-lock.json parser against npm itself: for each v2/v3 lockfile, npm's
//! `npm ls --all --json --long --package-lock-only` runs offline in a temporary folder holding the
//! lockfile and a package.json made from the lockfile's root entry, and its dependency tree,
//! flattened into (name, version) pairs, is compared with what `npm::parse` reports.
//!
//! Every package npm places in the tree must be reported, with npm's name (aliases resolved) and
//! version. npm prunes lockfile entries the root does not reach (many of osv-scalibr's fixtures
//! are hand-cut and declare nothing at the root), while the parser reports every entry, so for
//! those fixtures the packages reported outside npm's tree are printed, not asserted; for the
//! lockfiles shipped with the crate the two sets must be equal. Local packages (`file:` links,
//! workspaces) are left out by the parser by design and skipped on npm's side too.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Map, Value, json};
use trustloop_formats::lockfile::npm;

/// A (name, version) pair.
type Pair = (String, String);

/// The shared data folder: `TRUSTLOOP_SHARED_DATA`, else `<workspace root>/../shared/data`.
fn shared_data() -> PathBuf {
    std::env::var_os("TRUSTLOOP_SHARED_DATA")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"), PathBuf::from)
}

/// Whether `npm` runs here.
fn npm_available() -> bool {
    Command::new("npm").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// The package.json npm needs beside the lockfile: the root entry's name, version and
/// dependency lists (and workspaces, so workspace links make sense to npm).
fn package_json(lock: &Value) -> Value {
    let root = lock.pointer("/packages/").cloned().unwrap_or_else(|| json!({}));
    let mut manifest = Map::new();
    let name = root.get("name").or_else(|| lock.get("name")).cloned().unwrap_or_else(|| json!("root"));
    manifest.insert("name".into(), name);
    manifest.insert("version".into(), root.get("version").cloned().unwrap_or_else(|| json!("0.0.0")));
    for field in ["dependencies", "devDependencies", "optionalDependencies", "workspaces"] {
        if let Some(v) = root.get(field) {
            manifest.insert(field.into(), v.clone());
        }
    }
    Value::Object(manifest)
}

/// A package.json that declares every top-level `node_modules/<name>` entry of the lockfile at its
/// locked version (`npm:<real name>@<version>` for an alias), so that npm places the entries the
/// root entry does not reach.
fn package_json_declaring_all(lock: &Value) -> Value {
    let mut deps = Map::new();
    for (key, entry) in lock.get("packages").and_then(Value::as_object).into_iter().flatten() {
        let Some(name) = key.strip_prefix("node_modules/").filter(|n| !n.contains("/node_modules/")) else { continue };
        let Some(version) = entry.get("version").and_then(Value::as_str) else { continue };
        let spec = match entry.get("name").and_then(Value::as_str) {
            Some(real) if real != name => format!("npm:{real}@{version}"),
            _ => version.to_string(),
        };
        deps.insert(name.to_string(), Value::String(spec));
    }
    json!({ "name": "root", "version": "0.0.0", "dependencies": deps })
}

/// The lockfile, or why npm cannot read it offline.
fn lockfile(text: &str) -> Result<Value, String> {
    let lock: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let version = lock.get("lockfileVersion").and_then(Value::as_u64).unwrap_or(1);
    if version < 2 || lock.get("packages").is_none() {
        return Err(format!("lockfile version {version} without `packages`: npm would rebuild it from the registry"));
    }
    Ok(lock)
}

/// npm's tree for the lockfile `text` beside the package.json `manifest`, or why npm gives none.
fn npm_ls(text: &str, manifest: &Value) -> Result<Value, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    std::fs::write(dir.path().join("package-lock.json"), text).map_err(|e| e.to_string())?;
    let manifest = serde_json::to_string_pretty(manifest).map_err(|e| e.to_string())?;
    std::fs::write(dir.path().join("package.json"), manifest).map_err(|e| e.to_string())?;
    let out = Command::new("npm")
        .args(["ls", "--all", "--json", "--long", "--package-lock-only", "--offline"])
        .current_dir(dir.path())
        .env("npm_config_cache", dir.path().join(".npm-cache"))
        .env("npm_config_update_notifier", "false")
        .env("npm_config_fund", "false")
        .output()
        .map_err(|e| format!("npm did not run: {e}"))?;
    let tree: Value = serde_json::from_slice(&out.stdout).map_err(|_| {
        let stderr = String::from_utf8_lossy(&out.stderr);
        format!("npm refused it: {}", stderr.lines().next().unwrap_or("no output"))
    })?;
    if tree.get("dependencies").is_none() && tree.get("error").is_some() {
        return Err(format!("npm refused it: {}", tree["error"]["summary"]));
    }
    Ok(tree)
}

/// npm's tree flattened: the (name, version) of every node npm placed, local ones skipped.
fn flatten(node: &Value, out: &mut BTreeSet<Pair>) {
    for (key, child) in node.get("dependencies").and_then(Value::as_object).into_iter().flatten() {
        let version = child.get("version").and_then(Value::as_str).unwrap_or("");
        let resolved = child.get("resolved").and_then(Value::as_str).unwrap_or("");
        let missing = child.get("missing").and_then(Value::as_bool).unwrap_or(false);
        if !missing && !version.is_empty() && !resolved.starts_with("file:") {
            let name = child.get("name").and_then(Value::as_str).unwrap_or(key);
            out.insert((name.to_string(), version.to_string()));
        }
        flatten(child, out);
    }
}

/// What one lockfile came to.
enum Outcome {
    /// Compared: how many pairs npm placed, and the parser's pairs outside npm's tree.
    Agreed { npm: usize, outside_tree: Vec<Pair> },
    /// npm gave no tree, and why.
    Skipped(String),
}

/// Runs npm and the parser on one lockfile; `Err` says how they disagree. `strict`: the parser
/// may report nothing outside npm's tree.
fn check(path: &Path, strict: bool) -> Result<Outcome, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let tree = match lockfile(&text).and_then(|lock| npm_ls(&text, &package_json(&lock)).map(|t| (lock, t))) {
        Ok(tree) => tree,
        Err(why) => return Ok(Outcome::Skipped(why)),
    };
    let (lock, tree) = tree;
    let mut want = BTreeSet::new();
    flatten(&tree, &mut want);
    let parsed = npm::parse(&text, &path.to_string_lossy()).map_err(|e| format!("the parser failed: {e}"))?;
    let got: BTreeSet<Pair> = parsed.packages.iter().map(|p| (p.name.clone(), p.version.clone())).collect();
    if !strict && !got.is_subset(&want) {
        // npm pruned entries the root does not reach: ask again with all top-level entries declared.
        let tree = npm_ls(&text, &package_json_declaring_all(&lock)).map_err(|e| format!("second run: {e}"))?;
        flatten(&tree, &mut want);
    }
    let missing: Vec<&Pair> = want.difference(&got).collect();
    let extra: Vec<Pair> = got.difference(&want).cloned().collect();
    if !missing.is_empty() || (strict && !extra.is_empty()) {
        return Err(format!(
            "npm placed but the parser did not report {missing:?}; reported outside npm's tree {extra:?}"
        ));
    }
    Ok(Outcome::Agreed { npm: want.len(), outside_tree: extra })
}

/// Checks every lockfile; panics with the disagreements. Returns how many were compared.
fn check_all(files: &[PathBuf], strict: bool) -> usize {
    let mut failures = Vec::new();
    let mut compared = 0;
    for file in files {
        match check(file, strict) {
            Ok(Outcome::Agreed { npm, outside_tree }) => {
                compared += 1;
                eprintln!("agrees  {} ({npm} packages in npm's tree)", file.display());
                if !outside_tree.is_empty() {
                    eprintln!(
                        "        reported outside npm's tree (entries the root does not reach): {outside_tree:?}"
                    );
                }
            }
            Ok(Outcome::Skipped(why)) => eprintln!("skipped {}: {why}", file.display()),
            Err(why) => failures.push(format!("{}: {why}", file.display())),
        }
    }
    for f in &failures {
        eprintln!("FAIL {f}");
    }
    assert!(failures.is_empty(), "{} of {} lockfiles disagree with npm", failures.len(), files.len());
    compared
}

/// The JSON files of a folder and its subfolders, sorted.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())).flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The lockfiles shipped with the crate, compared with npm on every run (skipped, with a note,
/// where npm is not installed).
#[test]
fn npm_ls_agrees_on_shipped_lockfiles() {
    if !npm_available() {
        eprintln!("skipped: npm is not installed");
        return;
    }
    let files = json_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/npm"));
    assert!(!files.is_empty());
    assert_eq!(check_all(&files, true), files.len(), "npm skipped a shipped lockfile");
}

/// osv-scalibr's package-lock.json fixtures, compared with npm.
#[test]
#[ignore = "needs ../shared/data (shared_data)"]
fn shared_data_npm_ls_agrees_on_scalibr_lockfiles() {
    assert!(npm_available(), "npm is needed");
    let files = json_files(&shared_data().join("lockfiles/osv-scalibr/packagelockjson/testdata"));
    let compared = check_all(&files, false);
    eprintln!("{compared} of {} lockfiles compared with npm", files.len());
    assert!(compared >= 10, "npm compared only {compared} lockfiles");
}
