//! The one CLI harness of the pipeline's tests: every test starts the `trustloop` binary through
//! [`cli`], so every test runs it in the same environment — none of the `TRUSTLOOP_*` or `OTEL_*`
//! variables of the shell that runs the tests reaches it (a developer's `TRUSTLOOP_DATA`,
//! `TRUSTLOOP_BROKERS`, `TRUSTLOOP_LOG` or collector endpoint cannot point a test elsewhere or
//! change what it prints). A test that needs one sets it on the command it gets.
//!
//! Around it: commands on an embedded log, outputs read back as text or JSON lines.

#![allow(dead_code, reason = "each test binary uses some of these helpers")]

use std::ffi::OsString;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// Whether the binary reads `name` (or could be steered by it): trustloop's own variables and the
/// OpenTelemetry SDK's.
fn steers_trustloop(name: &OsString) -> bool {
    name.to_str().is_some_and(|n| n.starts_with("TRUSTLOOP_") || n.starts_with("OTEL_"))
}

/// The `trustloop` binary this package built, with the test environment: every variable
/// [`steers_trustloop`] names removed, nothing else changed.
pub(crate) fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trustloop"));
    for (name, _) in std::env::vars_os().filter(|(name, _)| steers_trustloop(name)) {
        c.env_remove(name);
    }
    c
}

/// `trustloop --data DATA` (the embedded log in `data`, topics created with the default partitions).
pub(crate) fn cli_on(data: &Path) -> Command {
    let mut c = cli();
    c.arg("--data").arg(data);
    c
}

/// Runs `cmd` with `stdin` on its standard input and both outputs captured; returns what it did.
pub(crate) fn output(cmd: &mut Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes()).unwrap_or_else(|e| panic!("write the stdin of {cmd:?}: {e}"));
    }
    child.wait_with_output().unwrap_or_else(|e| panic!("wait for {cmd:?}: {e}"))
}

/// `trustloop --data DATA ARGS…` with `stdin` on its standard input.
pub(crate) fn trustloop_cli(data: &Path, args: &[&str], stdin: &str) -> Output {
    output(cli_on(data).args(args), stdin)
}

/// `trustloop --data DATA --partitions 1 ARGS…`.
pub(crate) fn trustloop(data: &Path, args: &[&str]) -> Output {
    trustloop_with_stdin(data, args, "")
}

/// The same, with `stdin` on its standard input.
pub(crate) fn trustloop_with_stdin(data: &Path, args: &[&str], stdin: &str) -> Output {
    output(cli_on(data).args(["--partitions", "1"]).args(args), stdin)
}

/// Its standard output, after checking it succeeded (else its standard error is the failure).
pub(crate) fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Its standard output.
pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Its standard error.
pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Its standard output, one JSON value a line.
pub(crate) fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// Every event of `topic`, from its start.
pub(crate) fn consume(data: &Path, topic: &str) -> Vec<Value> {
    let out = trustloop(data, &["consume", "--topic", topic, "--from-beginning"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    json_lines(&out)
}

/// Writes `text` to `dir/name` (creating its folders) and returns the path as an argument.
pub(crate) fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&p, text).expect("write");
    p.display().to_string()
}
