//! trustloop's requirements.txt parser against pip and Python's `packaging`, which no one here
//! wrote: pip's own `req_file.preprocess` and `break_args_options` make each logical line's
//! requirement, `packaging.requirements.Requirement` says whether it parses and what name and
//! specifiers it has, and trustloop must pin exactly the lines whose only specifier is `==`
//! (without `.*`) or `===`, with packaging's name and version, at pip's line.
//!
//! Skipped, with the reason printed, when `python3`, pip or `packaging` is missing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use trustloop_formats::lockfile::Kind;

/// Prints one JSON object per requirement line of each file named on the command line.
const SCRIPT: &str = r#"
import json, sys
from pip._internal.req.req_file import preprocess, break_args_options
from packaging.requirements import Requirement
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        content = f.read()
    for number, line in preprocess(content):
        args, _ = break_args_options(line)
        if not args:
            continue
        out = {"path": path, "line": number, "args": args}
        try:
            r = Requirement(args)
            out.update(name=r.name, url=r.url, specs=[[s.operator, s.version] for s in r.specifier])
        except Exception as e:
            out.update(error=str(e))
        print(json.dumps(out))
"#;

/// Lines written to probe the edges (the inputs; packaging decides what they mean).
const PROBES: &str = r#"plain==1.0
Under_Score[extra1, extra2] == 2.0.post1 ; python_version < "3.8" and os_name == 'posix'
triple===anything-goes+1
wild==1.*
range>=1,<2
paren (==3.0)
local==1.0+cpu.1
epoch==1!2.0
prerelease==1.0rc1
dashpost==1.0-1
compat~=1.4
nospec
direct @ https://example.com/direct-1.0.zip
broken==
==1.0
name 1.0
trailing==1.0 junk
badmarker==1.0 ; nonsense
v==v1.0
dev==1.0.dev3
cont==\
  4.0
comment==5.0 # trailing comment
hash==6.0 --hash=sha256:abc
"#;

fn shared_data() -> PathBuf {
    match std::env::var_os("TRUSTLOOP_SHARED_DATA") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}

/// What packaging says about each requirement line, or why the oracle cannot run.
fn oracle(files: &[PathBuf]) -> Result<Vec<serde_json::Value>, String> {
    let output = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .args(files)
        .output()
        .map_err(|e| format!("python3 cannot be run: {e}"))?;
    if !output.status.success() {
        return Err(format!("the oracle script failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let stdout = String::from_utf8(output.stdout).map_err(|e| e.to_string())?;
    stdout.lines().map(|l| serde_json::from_str(l).map_err(|e| format!("{e}: {l}"))).collect()
}

type Pin = (String, u32, String, String);

/// The lines packaging reads as a single `==` (no wildcard) or `===`, per file.
fn expected_pins(records: &[serde_json::Value]) -> BTreeSet<Pin> {
    let mut pins = BTreeSet::new();
    for r in records {
        let (Some(path), Some(line), Some(name)) = (r["path"].as_str(), r["line"].as_u64(), r["name"].as_str()) else {
            continue;
        };
        if !r["url"].is_null() {
            continue;
        }
        let specs = r["specs"].as_array().cloned().unwrap_or_default();
        let [spec] = specs.as_slice() else { continue };
        let (op, version) = (spec[0].as_str().unwrap_or(""), spec[1].as_str().unwrap_or(""));
        if op == "===" || (op == "==" && !version.ends_with(".*")) {
            let line = u32::try_from(line).expect("line fits");
            pins.insert((path.to_string(), line, name.to_string(), version.to_string()));
        }
    }
    pins
}

/// What trustloop pins in each file (includes read as empty files).
fn trustloop_pins(files: &[PathBuf]) -> BTreeSet<Pin> {
    let mut pins = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(file).expect("fixture reads");
        let path = file.to_string_lossy().to_string();
        let parsed = Kind::Requirements.parse(&text, &path, &mut |_| Ok(String::new())).expect("parses");
        for p in parsed.packages {
            pins.insert((path.clone(), p.line.expect("a line"), p.name, p.version));
        }
    }
    pins
}

fn check(files: &[PathBuf]) {
    let records = match oracle(files) {
        Ok(records) => records,
        Err(why) => {
            eprintln!("SKIPPED: the pip/packaging oracle cannot run ({why}); `pip install packaging` to run it");
            return;
        }
    };
    let want = expected_pins(&records);
    let got = trustloop_pins(files);
    let refused = records.iter().filter(|r| r.get("error").is_some()).count();
    eprintln!(
        "{} files, {} requirement lines ({refused} packaging refuses), {} pinned by packaging's reading",
        files.len(),
        records.len(),
        want.len()
    );
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(missing.is_empty() && extra.is_empty(), "not pinned: {missing:#?}\npinned but should not be: {extra:#?}");
}

#[test]
fn requirements_probes_agree_with_packaging() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("requirements.txt");
    std::fs::write(&file, PROBES).expect("writes");
    check(&[file]);
}

#[test]
#[ignore = "needs ../shared/data (shared_data)"]
fn shared_data_requirements_agree_with_packaging() {
    let dir = shared_data().join("lockfiles/osv-scalibr/requirements/testdata");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "expected scalibr's requirements fixtures in {}", dir.display());
    check(&files);
}
