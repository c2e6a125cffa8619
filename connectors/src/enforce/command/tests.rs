//! The command adapter with real programs: the shipped `deploy/enforcement/firewall.sh` on a rules
//! file in a temporary directory, and small `sh -c` programs for input, environment and timeouts.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use trustloop_schemas::{ActionKind, ActionState, Event};

use super::*;
use crate::enforce::testing::{action, states};

fn firewall_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/enforcement/firewall.sh")
}

fn firewall(rules: &Path) -> CommandAdapter {
    let mut config = CommandConfig::new(firewall_script().to_string_lossy(), Vec::new());
    config.env.insert("TRUSTLOOP_FIREWALL_RULES".into(), rules.to_string_lossy().into_owned());
    config.timeout_ms = 20_000;
    CommandAdapter::new("edge-firewall", &config).expect("adapter")
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect()
}

fn sh(script: &str) -> CommandConfig {
    CommandConfig::new("sh", vec!["-c".into(), script.into()])
}

const RULE: &str = "-A trustloop-deny -s 10.0.0.7 -j DROP";

#[tokio::test]
async fn firewall_script_applies_idempotently_verifies_and_reverts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("deny.rules");
    std::fs::write(&rules, "-A trustloop-deny -s 192.0.2.1 -j DROP\n").expect("seed");
    let fw = firewall(&rules);

    let applied = fw.execute(&action("act-fw-1", ActionKind::Isolate, false)).await;
    assert_eq!(
        states(&applied),
        [ActionState::Acknowledged, ActionState::Applied, ActionState::Verified],
        "{applied:#?}"
    );
    assert!(applied.iter().all(|r| r.success && r.adapter == "edge-firewall"));
    assert!(applied[0].message.contains("started (pid "), "{}", applied[0].message);
    assert!(applied[2].message.contains("verified"), "{}", applied[2].message);
    assert_eq!(lines(&rules), ["-A trustloop-deny -s 192.0.2.1 -j DROP", RULE]);

    // A redelivery (same attempt) changes nothing and reports the same result ids.
    let again = fw.execute(&action("act-fw-1", ActionKind::Isolate, false)).await;
    assert_eq!(states(&again), states(&applied));
    assert_eq!(lines(&rules), ["-A trustloop-deny -s 192.0.2.1 -j DROP", RULE], "applying twice leaves one line");
    let ids = |rs: &[EnforcementResult]| rs.iter().map(|r| r.envelope.event_id).collect::<Vec<_>>();
    assert_eq!(ids(&again), ids(&applied));

    let reverted = fw.execute(&action("act-fw-1", ActionKind::Isolate, true)).await;
    assert_eq!(states(&reverted), [ActionState::Acknowledged, ActionState::Reverted], "{reverted:#?}");
    assert!(reverted[1].message.contains("verified"), "{}", reverted[1].message);
    assert_eq!(lines(&rules), ["-A trustloop-deny -s 192.0.2.1 -j DROP"], "the revert removed only its rule");
    let twice = fw.execute(&action("act-fw-1", ActionKind::Isolate, true)).await;
    assert_eq!(states(&twice), [ActionState::Acknowledged, ActionState::Reverted]);

    // lift_quarantine removes; its revert puts the rule back.
    fw.execute(&action("act-fw-2", ActionKind::Quarantine, false)).await;
    assert!(lines(&rules).contains(&RULE.to_string()));
    let lifted = fw.execute(&action("act-fw-3", ActionKind::LiftQuarantine, false)).await;
    assert_eq!(states(&lifted), [ActionState::Acknowledged, ActionState::Applied, ActionState::Verified]);
    assert!(!lines(&rules).contains(&RULE.to_string()));
    assert!(!dir.path().join("deny.rules.lock").exists(), "the lock is released");
}

#[tokio::test]
async fn firewall_script_takes_over_a_lock_left_by_a_killed_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("deny.rules");
    // A run killed at its timeout leaves its lock behind, with the pid of a process that is gone.
    let mut gone = std::process::Command::new("true").spawn().expect("spawn");
    let pid = gone.id();
    gone.wait().expect("wait");
    std::fs::create_dir(dir.path().join("deny.rules.lock")).expect("lock");
    std::fs::write(dir.path().join("deny.rules.lock/pid"), format!("{pid}\n")).expect("pid");
    let results = firewall(&rules).execute(&action("act-fw-7", ActionKind::Isolate, false)).await;
    assert_eq!(states(&results), [ActionState::Acknowledged, ActionState::Applied, ActionState::Verified]);
    assert_eq!(lines(&rules), [RULE]);
    assert!(!dir.path().join("deny.rules.lock").exists());
}

#[tokio::test]
async fn firewall_script_sandbox_step_leaves_the_real_rules_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("deny.rules");
    let mut act = action("act-fw-4", ActionKind::Isolate, false);
    act.sandbox = true;
    act.target = "sandbox:edge-firewall".into();
    let results = firewall(&rules).execute(&act).await;
    assert_eq!(states(&results), [ActionState::Acknowledged, ActionState::Applied, ActionState::Verified]);
    assert!(!rules.exists());
    assert_eq!(lines(&dir.path().join("deny.rules.sandbox")), [RULE]);
}

#[tokio::test]
async fn firewall_script_refusals_are_failures_with_its_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("deny.rules");
    let notify = firewall(&rules).execute(&action("act-fw-5", ActionKind::Notify, false)).await;
    assert_eq!(states(&notify), [ActionState::Acknowledged, ActionState::Failed]);
    let msg = &notify[1].message;
    assert!(msg.contains("exited with status 64") && msg.contains("cannot enforce 'notify' actions"), "{msg}");
    assert!(msg.ends_with("(not retriable)"), "{msg}");

    let mut odd = action("act-fw-6", ActionKind::Isolate, false);
    odd.subject = "10.0.0.7; rm -rf /".into();
    let refused = firewall(&rules).execute(&odd).await;
    assert_eq!(states(&refused), [ActionState::Acknowledged, ActionState::Failed]);
    assert!(refused[1].message.contains("status 65"), "{}", refused[1].message);
    assert!(!rules.exists());
}

#[tokio::test]
async fn the_program_gets_the_action_on_stdin_and_in_its_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("seen");
    let mut config = sh(r#"cat > "$OUT.json"; env | grep '^TRUSTLOOP_' | sort > "$OUT.env""#);
    config.env.insert("OUT".into(), out.to_string_lossy().into_owned());
    let adapter = CommandAdapter::new("probe", &config).expect("adapter");
    let mut act = action("act-cmd-1", ActionKind::BlockPromotion, true);
    act.attempt = 3;
    let results = adapter.execute(&act).await;
    assert_eq!(states(&results), [ActionState::Acknowledged, ActionState::Reverted]);

    let stdin = std::fs::read_to_string(out.with_extension("json")).expect("stdin copy");
    let json: serde_json::Value = serde_json::from_str(stdin.trim()).expect("one JSON line");
    assert_eq!(json, trustloop_schemas::json::event_to_json(&Event::EnforcementAction(act.clone())));
    let env = lines(&out.with_extension("env"));
    for expected in [
        "TRUSTLOOP_ACTION_ID=act-cmd-1",
        "TRUSTLOOP_ACTION_KIND=block_promotion",
        "TRUSTLOOP_REVERT=true",
        "TRUSTLOOP_ACTION_SUBJECT=10.0.0.7",
        "TRUSTLOOP_ATTEMPT=3",
        "TRUSTLOOP_SANDBOX=false",
        "TRUSTLOOP_TENANT=acme",
    ] {
        assert!(env.contains(&expected.to_string()), "{expected} missing from {env:?}");
    }
}

#[tokio::test]
async fn a_verify_program_confirms_or_fails_the_step() {
    let mut config = sh("echo applied");
    config.verify = Some(VerifyCommand { program: "true".into(), args: Vec::new() });
    let ok = CommandAdapter::new("c", &config)
        .expect("adapter")
        .execute(&action("act-cmd-2", ActionKind::Notify, false))
        .await;
    assert_eq!(states(&ok), [ActionState::Acknowledged, ActionState::Applied, ActionState::Verified]);

    config.verify =
        Some(VerifyCommand { program: "sh".into(), args: vec!["-c".into(), "echo not there >&2; exit 3".into()] });
    let bad = CommandAdapter::new("c", &config)
        .expect("adapter")
        .execute(&action("act-cmd-3", ActionKind::Notify, false))
        .await;
    assert_eq!(states(&bad), [ActionState::Acknowledged, ActionState::Applied, ActionState::Failed]);
    assert!(
        bad[2].message.contains("verification failed") && bad[2].message.contains("not there"),
        "{}",
        bad[2].message
    );

    // Without a verify program and without {"verified": true}, the step stops at applied.
    let plain = CommandAdapter::new("c", &sh("echo '{\"verified\": false}'"))
        .expect("adapter")
        .execute(&action("act-cmd-4", ActionKind::Notify, false))
        .await;
    assert_eq!(states(&plain), [ActionState::Acknowledged, ActionState::Applied]);
}

#[tokio::test]
async fn a_program_over_its_timeout_is_killed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("pid");
    let mut config = sh(r#"echo $$ > "$PID_FILE"; exec sleep 30"#);
    config.env.insert("PID_FILE".into(), pid_file.to_string_lossy().into_owned());
    config.timeout_ms = 300;
    let start = Instant::now();
    let results = CommandAdapter::new("slow", &config)
        .expect("adapter")
        .execute(&action("act-cmd-5", ActionKind::Notify, false))
        .await;
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    assert_eq!(states(&results), [ActionState::Acknowledged, ActionState::Failed]);
    assert!(results[1].message.contains("timed out after 300 ms") && results[1].message.ends_with("(retriable)"));
    let pid = std::fs::read_to_string(&pid_file).expect("pid").trim().to_string();
    // Killed: gone, or a zombie until the runtime reaps it.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(") ").next().and_then(|s| s.chars().next());
        if stat.is_empty() || state == Some('Z') {
            break;
        }
        assert!(Instant::now() < deadline, "process {pid} still running: {stat}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_missing_program_fails_without_acknowledging() {
    let config = CommandConfig::new("/nonexistent/trustloop-enforcer", Vec::new());
    let results = CommandAdapter::new("gone", &config)
        .expect("adapter")
        .execute(&action("act-cmd-6", ActionKind::Notify, false))
        .await;
    assert_eq!(states(&results), [ActionState::Failed]);
    assert!(
        results[0].message.contains("cannot start") && results[0].message.ends_with("(not retriable)"),
        "{}",
        results[0].message
    );
    assert!(CommandAdapter::new("x", &CommandConfig::new(" ", Vec::new())).is_err());
}
