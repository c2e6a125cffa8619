//! What the import tests share: the `trustloop` binary run on an embedded log (one partition, no
//! backend or tenant from the environment), and topics read back as JSON lines.

#![allow(dead_code, reason = "each test binary uses some of these helpers")]

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn command(data: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trustloop"));
    c.arg("--data")
        .arg(data)
        .args(["--partitions", "1"])
        .args(args)
        .env_remove("TRUSTLOOP_DATA")
        .env_remove("TRUSTLOOP_BROKERS")
        .env_remove("TRUSTLOOP_TENANT");
    c
}

/// `trustloop --data DATA --partitions 1 ARGS…`.
pub fn trustloop(data: &Path, args: &[&str]) -> Output {
    command(data, args).output().expect("run trustloop")
}

/// The same, with `stdin` on its standard input.
pub fn trustloop_with_stdin(data: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = command(data, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run trustloop");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("stdin");
    child.wait_with_output().expect("trustloop output")
}

/// Its standard output, after checking it succeeded (else its standard error is the failure).
pub fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Its standard error.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Its standard output, one JSON value a line.
pub fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// Every event of `topic`, from its start.
pub fn consume(data: &Path, topic: &str) -> Vec<Value> {
    let out = trustloop(data, &["consume", "--topic", topic, "--from-beginning"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    json_lines(&out)
}
