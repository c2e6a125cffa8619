//! The `firewall-drop` remediation workflow end to end, on real network namespaces and nftables:
//! telemetry drives an entity's trust below a rule that names the workflow; `trustloop run
//! --until-idle` (trust, decision and enforcement operators, the dispatcher and the `command`
//! adapter running `deploy/enforcement/netns-firewall.sh`) applies the DROP rule in the sandbox
//! namespace, probes it with real TCP connections, then does the same on the target namespace.
//!
//! Each test builds its own lab (`deploy/enforcement/netns-lab.sh`, uniquely named namespaces: root,
//! loopback and veth only) and removes it on drop, also when the test fails. Where namespaces cannot
//! be made (not root, no `ip netns`, no `nft`, no `python3`) the tests print why and pass without
//! running: they need a privileged Linux host (CI installs `nftables` and `iproute2`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod support;

use support::{consume, ok, trustloop, trustloop_with_stdin};

/// The subject's address in each site of the lab (see `netns-lab.sh`).
const SUBJECT: &str = "10.77.1.2";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn script(name: &str) -> String {
    repo().join("deploy/enforcement").join(name).display().to_string()
}

/// A lab of namespaces named `<prefix>-*`, removed on drop.
struct Lab {
    prefix: String,
}

impl Lab {
    /// Builds the lab, or says why it cannot be built here.
    fn up(tag: &str) -> Result<Lab, String> {
        let uid = Command::new("id").arg("-u").output().map_err(|e| format!("cannot run `id`: {e}"))?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("not root: network namespaces need root".into());
        }
        for tool in ["ip", "nft", "python3", "timeout"] {
            let found = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output();
            if !found.is_ok_and(|o| o.status.success()) {
                return Err(format!("`{tool}` is not installed (apt-get install nftables iproute2 python3)"));
            }
        }
        let prefix = format!("tl{}{tag}", std::process::id());
        let probe = format!("{prefix}-probe");
        let added = Command::new("ip").args(["netns", "add", &probe]).output().map_err(|e| e.to_string())?;
        if !added.status.success() {
            return Err(format!(
                "`ip netns add` is not permitted here: {}",
                String::from_utf8_lossy(&added.stderr).trim()
            ));
        }
        let _ = Command::new("ip").args(["netns", "del", &probe]).status();
        let lab = Lab { prefix };
        let state = std::env::temp_dir().join("trustloop-netns-tests");
        let up = Command::new(script("netns-lab.sh"))
            .args(["up", &lab.prefix, "8080"])
            .env("TRUSTLOOP_NETNS_STATE", &state)
            .output()
            .map_err(|e| e.to_string())?;
        // A failure here is a failure of the lab, not a reason to skip: the guard cleans up.
        assert!(up.status.success(), "netns-lab.sh up: {}", String::from_utf8_lossy(&up.stderr));
        Ok(lab)
    }

    fn host(&self, site: &str) -> String {
        format!("{}-{site}", self.prefix)
    }

    /// The host's ruleset.
    fn ruleset(&self, site: &str) -> String {
        let out = Command::new("ip").args(["netns", "exec", &self.host(site), "nft", "list", "ruleset"]).output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
    }

    /// Whether a TCP connection from `who` (`s` the subject, `p` the peer) of `site` to its host gets through.
    fn connects(&self, site: &str, who: &str) -> bool {
        let ns = format!("{}-{who}", self.host(site));
        let addr = if who == "s" { "10.77.1.1" } else { "10.77.2.1" };
        Command::new("ip")
            .args(["netns", "exec", &ns, "timeout", "1", "bash", "-c", &format!("</dev/tcp/{addr}/8080")])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// `trustloop.toml` with the `netns` adapter pointed at this lab.
    fn config(&self, dir: &Path) -> PathBuf {
        let path = dir.join("trustloop.toml");
        let text = format!(
            "[enforcement.adapters.netns]\ntype = \"command\"\nprogram = \"{}\"\ntimeout_ms = 10000\n\
             env = {{ TRUSTLOOP_NETNS_TARGET = \"{}\", TRUSTLOOP_NETNS_SANDBOX = \"{}\" }}\n",
            script("netns-firewall.sh"),
            self.host("target"),
            self.host("sandbox"),
        );
        std::fs::write(&path, text).expect("write trustloop.toml");
        path
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let state = std::env::temp_dir().join("trustloop-netns-tests");
        let _ = Command::new(script("netns-lab.sh"))
            .args(["down", &self.prefix])
            .env("TRUSTLOOP_NETNS_STATE", &state)
            .status();
    }
}

/// The lab, or `None` after printing why the test cannot run here.
fn lab(tag: &str) -> Option<Lab> {
    match Lab::up(tag) {
        Ok(lab) => Some(lab),
        Err(why) => {
            eprintln!("SKIPPED: network namespaces are not available: {why}");
            None
        }
    }
}

/// A policy whose only trust rule isolates through the workflow `firewall-drop`, dropping `addr`,
/// each call tried at most `tries` times. (`run --until-idle` does not tick the clock: a retry's
/// back-off ends only when later inputs move event time on, so the failing case tries once.)
fn policy(addr: &str, tries: u32) -> String {
    format!(
        r#"api_version: trustloop/v1
name: netns
trust:
  rules:
    - id: isolate
      action: isolate
      below: 70.0
      recover_above: 90.0
      workflow: firewall-drop
enforcement:
  retry: {{max_attempts: {tries}, backoff: 1s}}
  budgets: []
  workflows:
    firewall-drop:
      steps:
        - name: drop
          adapter: netns
          params: {{addr: '{addr}', port: '8080'}}
          check: {{params: {{addr: '{addr}', port: '8080', host_addr: 10.77.1.1, peer_host_addr: 10.77.2.1}}}}
          rollback: {{params: {{addr: '{addr}', port: '8080'}}}}
"#
    )
}

/// Applies `policy`, sends telemetry that sinks the subject's trust (two integrity failures), runs
/// the loop until idle; returns the `actions` and `action-results` of the subject's workflow.
fn run(lab: &Lab, dir: &Path, policy: &str) -> (Vec<Value>, Vec<Value>) {
    let file = dir.join("policy.yaml");
    std::fs::write(&file, policy).expect("policy");
    ok(&trustloop(dir, &["policy", "apply", file.to_str().expect("path"), "--tenant", "acme"]));
    let telemetry: String = ["heartbeat", "integrity_failure", "integrity_failure"]
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            format!(
                "{{\"tenant\":\"acme\",\"entity\":\"{SUBJECT}\",\"kind\":\"{kind}\",\"value\":1.0,\
                 \"event_time\":\"2026-11-01T00:0{i}:00Z\"}}\n"
            )
        })
        .collect();
    ok(&trustloop_with_stdin(dir, &["produce", "--topic", "telemetry"], &telemetry));
    let config = lab.config(dir);
    ok(&trustloop(dir, &["run", "--until-idle", "--config", config.to_str().expect("path")]));
    let actions: Vec<Value> =
        consume(dir, "actions").into_iter().filter(|a| a["workflow"] == "firewall-drop").collect();
    let results = consume(dir, "action-results");
    (actions, results)
}

/// (role, step index, phase) of every dispatched call, in order.
fn calls(actions: &[Value]) -> Vec<(String, i64, bool)> {
    actions
        .iter()
        .filter(|a| a["state"] == "dispatched")
        .map(|a| {
            let s = &a["step"];
            (s["role"].as_str().unwrap_or("?").to_string(), s["index"].as_i64().unwrap_or(-1), a["sandbox"] == true)
        })
        .collect()
}

/// Every result carries a complete execution record of its step.
fn assert_records_complete(results: &[Value]) {
    assert!(!results.is_empty());
    for r in results {
        assert_eq!(r["adapter"], "netns", "{r}");
        assert!(r["started_at"].as_str().is_some_and(|s| s.starts_with("20")), "{r}");
        assert!(r["duration_micros"].as_i64().is_some_and(|d| d >= 0), "{r}");
        let x = &r["execution"];
        assert!(x.is_object(), "an execution record: {r}");
        assert!(x["stdout"].is_string() && x["stderr"].is_string(), "{r}");
        if r["state"] == "applied" || r["state"] == "failed" {
            assert!(x["exit_code"].is_i64(), "a finished program's exit code: {r}");
        }
        assert_eq!(x["error"].is_string(), r["success"] == false, "an error exactly on failures: {r}");
    }
}

#[test]
fn the_firewall_workflow_drops_the_subject_in_the_sandbox_then_on_the_target() {
    let Some(lab) = lab("a") else { return };
    assert!(lab.connects("target", "s") && lab.connects("target", "p"), "before: everyone connects");
    let dir = tempfile::tempdir().expect("tempdir");
    let (actions, results) = run(&lab, dir.path(), &policy(SUBJECT, 2));
    let roles = |v: &[(&str, i64, bool)]| v.iter().map(|(r, i, s)| (r.to_string(), *i, *s)).collect::<Vec<_>>();
    assert_eq!(
        calls(&actions),
        roles(&[("apply", 0, true), ("check", 0, true), ("apply", 0, false), ("check", 0, false)])
    );
    let last = actions.last().expect("actions");
    assert_eq!((last["state"].as_str(), last["sandbox"].as_bool()), (Some("verified"), Some(false)), "{last}");
    // The probe, again, from here: the subject is dropped on the target, the peer still connects.
    assert!(!lab.connects("target", "s"), "the subject is cut off");
    assert!(lab.connects("target", "p"), "the allowed peer still connects");
    let target = lab.ruleset("target");
    assert!(target.contains(&format!("ip saddr {SUBJECT} tcp dport 8080 drop")), "{target}");
    assert!(lab.ruleset("sandbox").contains("drop"), "the sandbox went first");
    // Each call's execution record: the check's probe said what it saw.
    assert_records_complete(&results);
    let checks: Vec<&Value> = results
        .iter()
        .filter(|r| {
            r["state"] == "applied" && r["execution"]["stdout"].as_str().is_some_and(|s| s.starts_with("probe:"))
        })
        .collect();
    assert_eq!(checks.len(), 2, "a passing probe in the sandbox and on the target: {results:#?}");
    // The same records in SQL: each call's role and phase beside its program's exit code and output.
    let query = "SELECT a.step_role AS role, a.sandbox, r.execution_exit_code AS code, r.execution_stdout AS out \
                 FROM action_results r JOIN actions a ON a.action_id = r.action_id AND a.attempt = r.attempt \
                 WHERE a.state = 'dispatched' AND r.state = 'applied' ORDER BY r.attempt";
    let rows = support::json_lines(&trustloop(dir.path(), &["sql", query, "--format", "json"]));
    let seen: Vec<(String, bool, i64)> = rows
        .iter()
        .map(|r| (r["role"].as_str().unwrap_or("?").into(), r["sandbox"] == true, r["code"].as_i64().unwrap_or(-1)))
        .collect();
    let want = [("apply", true), ("check", true), ("apply", false), ("check", false)];
    assert_eq!(seen, want.map(|(r, s)| (r.to_string(), s, 0)), "{rows:#?}");
    assert!(rows[3]["out"].as_str().is_some_and(|o| o.contains("refused") && o.contains("connected")), "{rows:#?}");
}

#[test]
fn a_check_failing_in_the_sandbox_rolls_back_and_never_touches_the_target() {
    let Some(lab) = lab("b") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    // Too broad a rule: it drops the allowed peer as well, which the sandbox probe finds.
    let (actions, results) = run(&lab, dir.path(), &policy("10.77.0.0/16", 1));
    let sandbox_only = calls(&actions);
    assert!(sandbox_only.iter().all(|(_, _, sandbox)| *sandbox), "nothing on the target: {sandbox_only:?}");
    let roles: Vec<&str> = sandbox_only.iter().map(|(r, _, _)| r.as_str()).collect();
    assert_eq!(roles, ["apply", "check", "rollback"], "{actions:#?}");
    let last = actions.last().expect("actions");
    assert_eq!(last["state"], "failed", "{last}");
    assert!(last["reason"].as_str().is_some_and(|r| r.contains("the target was never touched")), "{last}");
    assert!(!lab.ruleset("target").contains("drop"), "the target's ruleset is untouched");
    assert!(!lab.ruleset("sandbox").contains("drop"), "the sandbox is rolled back");
    assert!(lab.connects("target", "s") && lab.connects("target", "p"));
    assert_records_complete(&results);
    let failed: Vec<&Value> = results.iter().filter(|r| r["success"] == false).collect();
    assert_eq!(failed.len(), 1, "the check failed");
    for f in failed {
        assert_eq!(f["execution"]["exit_code"], 1, "{f}");
        assert!(f["execution"]["stderr"].as_str().is_some_and(|s| s.contains("no longer connects")), "{f}");
    }
}
