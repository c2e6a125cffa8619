//! Regression cases as folders (`tests/cases/<name>/`, see its README): a `case.toml` naming the
//! `trustloop` commands to run on a fresh embedded log, the files they read, and `expected/<topic>.jsonl`
//! — what each topic holds afterwards, one event a JSON line. [`run`] runs one case and says how its
//! outputs differ from what it expects; with `TRUSTLOOP_BLESS=1` it writes them as expected instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::support;

/// The topics a new case (one with no `expected/` files yet) is blessed with, those that hold events.
pub(crate) const DERIVED_TOPICS: [&str; 6] =
    ["trust-scores", "findings", "verdicts", "actions", "action-results", "dlq"];

/// The time every command of a case takes as the current one (`--now`) unless the case or the step
/// says otherwise: what the CLI stamps (imported inventories, applied policies, lines without an
/// event time, dead letters) is then the same on every run, and so is every id derived from it.
pub(crate) const DEFAULT_NOW: &str = "2026-01-01T00:00:00Z";

/// What every event read back is cleared of before it is compared: the time the log appended it.
const VOLATILE: [&str; 1] = ["_log_time"];

/// Where the case folders are: `tests/cases/` at the top of the workspace.
pub(crate) fn cases_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/cases");
    dir.canonicalize().unwrap_or(dir)
}

/// Whether expected outputs are to be rewritten from what the cases derive (`TRUSTLOOP_BLESS=1`),
/// on purpose, by a person who then reads the diff; never in CI.
pub(crate) fn blessing() -> bool {
    std::env::var("TRUSTLOOP_BLESS").is_ok_and(|v| v == "1")
}

/// A case's `case.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Spec {
    /// What the case shows, in a sentence (printed with a failure).
    pub about: String,
    /// The time the commands take as the current one (`--now`); [`DEFAULT_NOW`] if not given.
    #[serde(default)]
    pub now: Option<String>,
    /// The commands, in order.
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
    /// Fields cleared (set to `"<ignored>"`) in every event before comparing, for what the case
    /// cannot pin: dotted paths from the event's top level (`reasons.0.detail`).
    #[serde(default)]
    pub ignore: Vec<String>,
}

/// One `trustloop` command of a case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Step {
    /// Its arguments after the global ones (`--data`, `--partitions 1`, `--fsync never`, `--now`); paths
    /// are relative to the case folder.
    pub run: Vec<String>,
    /// A file of the case folder fed to its standard input.
    #[serde(default)]
    pub stdin: Option<String>,
    /// The exit status it must end with.
    #[serde(default)]
    pub exit: i32,
    /// The time it takes as the current one, if not the case's.
    #[serde(default)]
    pub now: Option<String>,
}

/// Every case folder (a directory with a `case.toml`), by name, in name order; `TRUSTLOOP_CASES`
/// (a substring of the name) picks some.
pub(crate) fn case_folders() -> Vec<PathBuf> {
    let pick = std::env::var("TRUSTLOOP_CASES").unwrap_or_default();
    let dir = cases_dir();
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.join("case.toml").is_file())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.contains(pick.as_str())))
        .collect();
    folders.sort();
    folders
}

/// The folder's name.
pub(crate) fn name(folder: &Path) -> String {
    folder.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Reads a case's `case.toml`.
pub(crate) fn spec(folder: &Path) -> Result<Spec, String> {
    let path = folder.join("case.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Runs the case in `folder` on a fresh log in `scratch` (its files copied to `scratch/work`, the
/// commands' working directory, so that nothing is written into the source tree); returns the
/// log's directory, or why the case failed: a step that ended otherwise than expected, or each
/// topic whose events differ from `expected/<topic>.jsonl`, as a diff.
pub(crate) fn run(folder: &Path, scratch: &Path) -> Result<PathBuf, String> {
    let spec = spec(folder)?;
    let work = scratch.join("work");
    let data = scratch.join("data");
    copy_dir(folder, &work);
    for (i, step) in spec.steps.iter().enumerate() {
        let stdin = match &step.stdin {
            Some(file) => {
                std::fs::read_to_string(work.join(file)).map_err(|e| format!("step {}: {file}: {e}", i + 1))?
            }
            None => String::new(),
        };
        let mut cmd = support::cli_on(&data);
        let now = step.now.as_deref().or(spec.now.as_deref()).unwrap_or(DEFAULT_NOW);
        cmd.args(["--partitions", "1", "--fsync", "never", "--now", now]).args(&step.run).current_dir(&work);
        let out = support::output(&mut cmd, &stdin);
        if out.status.code() != Some(step.exit) {
            return Err(format!(
                "step {} `trustloop {}` exited with {} (expected {}):\n{}{}",
                i + 1,
                step.run.join(" "),
                out.status,
                step.exit,
                support::stdout(&out),
                support::stderr(&out)
            ));
        }
    }
    let expected_dir = folder.join("expected");
    let mut topics = expected_topics(&expected_dir)?;
    if topics.is_empty() && blessing() {
        topics = DERIVED_TOPICS.iter().map(|t| t.to_string()).collect();
    }
    if topics.is_empty() {
        return Err(format!("no expected/<topic>.jsonl: write them, or bless with TRUSTLOOP_BLESS=1 ({})", spec.about));
    }
    let mut failures = Vec::new();
    let mut blessed = 0;
    for topic in &topics {
        let actual = read_topic(&data, topic, &spec.ignore, scratch);
        let file = expected_dir.join(format!("{topic}.jsonl"));
        if blessing() {
            if !actual.is_empty() || file.exists() {
                std::fs::create_dir_all(&expected_dir).expect("create expected/");
                std::fs::write(&file, lines(&actual)).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                blessed += 1;
            }
            continue;
        }
        let expected = read_expected(&file)?;
        if expected != actual {
            failures.push(diff(topic, &expected, &actual));
        }
    }
    if blessing() && blessed == 0 {
        return Err(format!(
            "nothing to bless: none of {} holds events (an empty expected/<topic>.jsonl claims the topic stays empty)",
            topics.join(", ")
        ));
    }
    match failures.is_empty() {
        true => Ok(data),
        false => Err(format!("{}\n{}", spec.about, failures.join("\n"))),
    }
}

/// How the events of `topic` differ from what was expected: for each line whose event differs, the
/// fields that differ (dotted paths) with both values; then, when lines were added or are missing,
/// a unified diff of the lines.
fn diff(topic: &str, expected: &[Value], actual: &[Value]) -> String {
    let mut out = format!("expected/{topic}.jsonl: {} event(s) expected, {} derived\n", expected.len(), actual.len());
    for (i, (e, a)) in expected.iter().zip(actual).enumerate().filter(|(_, (e, a))| e != a) {
        let mut fields = Vec::new();
        differences(e, a, String::new(), &mut fields);
        out.push_str(&format!("  line {}:\n", i + 1));
        for f in &fields {
            out.push_str(&format!("    {f}\n"));
        }
    }
    if expected.len() != actual.len() {
        let text = similar::TextDiff::from_lines(&lines(expected), &lines(actual))
            .unified_diff()
            .context_radius(1)
            .header(&format!("expected/{topic}.jsonl"), &format!("{topic} (derived)"))
            .to_string();
        out.push_str(&text);
    }
    out
}

/// The dotted paths at which `expected` and `actual` differ, each with both values.
fn differences(expected: &Value, actual: &Value, path: String, out: &mut Vec<String>) {
    let at = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let keys: std::collections::BTreeSet<&String> = e.keys().chain(a.keys()).collect();
            for k in keys {
                let (ev, av) = (e.get(k).unwrap_or(&Value::Null), a.get(k).unwrap_or(&Value::Null));
                if ev != av || e.contains_key(k) != a.contains_key(k) {
                    differences(ev, av, at(k), out);
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate().filter(|(_, (ev, av))| ev != av) {
                differences(ev, av, at(&i.to_string()), out);
            }
        }
        _ => out.push(format!("{path}: expected {}, derived {}", canonical(expected), canonical(actual))),
    }
}

/// The topics with an `expected/<topic>.jsonl`, in name order.
fn expected_topics(dir: &Path) -> Result<Vec<String>, String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(Vec::new()) };
    let mut topics = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if let Some(topic) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".jsonl")) {
            topics.push(topic.to_string());
        }
    }
    topics.sort();
    Ok(topics)
}

/// The events of an expected file (blank lines skipped).
fn read_expected(file: &Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("{}:{}: {e}", file.display(), i + 1)))
        .collect()
}

/// Every event of `topic` as `consume` prints it, without what [`VOLATILE`] and `ignore` name and
/// with the scratch directory's path written as `<scratch>`.
fn read_topic(data: &Path, topic: &str, ignore: &[String], scratch: &Path) -> Vec<Value> {
    let out = support::output(
        support::cli_on(data).args(["--partitions", "1", "consume", "--topic", topic, "--from-beginning"]),
        "",
    );
    assert!(out.status.success(), "consume {topic}: {}", support::stderr(&out));
    let scratch = scratch.display().to_string();
    support::stdout(&out)
        .replace(&scratch, "<scratch>")
        .lines()
        .map(|l| {
            let mut event: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"));
            if let Some(fields) = event.as_object_mut() {
                for key in VOLATILE {
                    fields.remove(key);
                }
            }
            for path in ignore {
                clear(&mut event, path);
            }
            event
        })
        .collect()
}

/// Sets the value at the dotted `path` (object keys, array indices) to `"<ignored>"`, if it is there.
fn clear(event: &mut Value, path: &str) {
    let mut at = event;
    for part in path.split('.') {
        let next = match at {
            Value::Object(fields) => fields.get_mut(part),
            Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        };
        match next {
            Some(v) => at = v,
            None => return,
        }
    }
    *at = Value::from("<ignored>");
}

/// One compact JSON value a line, keys in order (the form expected files are written in).
fn lines(events: &[Value]) -> String {
    events.iter().map(|e| format!("{}\n", canonical(e))).collect()
}

/// `value` as compact JSON with every object's keys sorted.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(fields) => {
            let sorted: BTreeMap<&String, String> = fields.iter().map(|(k, v)| (k, canonical(v))).collect();
            let body: Vec<String> = sorted.iter().map(|(k, v)| format!("{}:{v}", Value::from(k.as_str()))).collect();
            format!("{{{}}}", body.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// Copies the directory `from` to `to`, recursively.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let path = entry.expect("a directory entry").path();
        let target = to.join(path.file_name().expect("a file name"));
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}
