//! The command adapter: runs a local program (no shell) with the action as JSON on its standard input.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use trustloop_schemas::{ActionState, EnforcementAction, EnforcementResult, StepRole};

use super::rate::{self, Limiter, RateLimitConfig};
use super::{Adapter, EnforceError, Report, Started, action_json, kind_name, says_verified, tail, waited_note};

/// Most bytes of standard error quoted in a failure message.
const STDERR_TAIL: usize = 500;

/// Runs a program for each action.
///
/// The program is started directly (no shell: arguments are passed as given) with the action as
/// one line of JSON on its standard input (the form `trustloop consume` prints) and these
/// environment variables added to trustloop's own:
///
/// * `TRUSTLOOP_ACTION_ID`, `TRUSTLOOP_ACTION_KIND` (`quarantine`, `isolate`, `block_promotion`,
///   `promote`, `notify`, `lift_quarantine`, `rollback`), `TRUSTLOOP_REVERT` (`true` when the step undoes the
///   action), `TRUSTLOOP_ACTION_SUBJECT`, `TRUSTLOOP_ACTION_TARGET`, `TRUSTLOOP_SANDBOX`
///   (`true`/`false`), `TRUSTLOOP_ATTEMPT`, `TRUSTLOOP_TENANT`; for a remediation workflow's call,
///   also `TRUSTLOOP_WORKFLOW`, `TRUSTLOOP_STEP_INDEX`, `TRUSTLOOP_STEP_NAME`, `TRUSTLOOP_STEP_ROLE`,
///   `TRUSTLOOP_PHASE` and `TRUSTLOOP_PARAM_<NAME>` for each of its parameters.
///
/// Every result carries the step's execution record: exit code and the tails of standard output and
/// error (at most [`super::EXCERPT`] bytes each).
///
/// Exit status 0 means applied (reverted, for a revert step); the effect counts as verified when the
/// last non-empty line of standard output is JSON with `"verified": true`, or else when `verify` is
/// set and that program (same input and environment) exits 0. Any other exit is a failure whose
/// message ends with the tail of standard error; exits with the permanent `sysexits(3)` codes
/// (64–68, 70–73, 76–78, e.g. 64 for an action the program does not handle) are not worth retrying,
/// other failures are. A program still running after `timeout_ms` is killed.
///
/// ```toml
/// [enforcement.adapters.edge-firewall]
/// type = "command"
/// program = "deploy/enforcement/firewall.sh"
/// env = { TRUSTLOOP_FIREWALL_RULES = "/etc/trustloop/deny.rules" }
/// timeout_ms = 10000
/// rate_limit = { rate_per_second = 10, burst = 20 }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandConfig {
    /// The program: a path, or a name looked up on `PATH`.
    pub program: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// More environment variables for it (and for `verify`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory (default: trustloop's).
    #[serde(default)]
    pub working_dir: Option<PathBuf>,
    /// A program confirming that an applied action is in effect (exit 0), run when the action's own
    /// output did not say `{"verified": true}`. Not used for reverts.
    #[serde(default)]
    pub verify: Option<VerifyCommand>,
    /// How long the program may run, in milliseconds (then it is killed). Default 30000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How fast programs may be started (default: unlimited).
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
}

/// A verification program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyCommand {
    /// The program: a path, or a name looked up on `PATH`.
    pub program: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
}

fn default_timeout_ms() -> u64 {
    30_000
}

impl CommandConfig {
    /// A configuration running `program` with `args`, with the defaults elsewhere.
    pub fn new(program: impl Into<String>, args: Vec<String>) -> Self {
        CommandConfig {
            program: program.into(),
            args,
            env: BTreeMap::new(),
            working_dir: None,
            verify: None,
            timeout_ms: default_timeout_ms(),
            rate_limit: None,
        }
    }
}

/// The command adapter (see [`CommandConfig`]).
#[derive(Debug)]
pub struct CommandAdapter {
    name: String,
    config: CommandConfig,
    timeout: Duration,
    limiter: Option<Limiter>,
}

/// What a finished program left.
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl CommandAdapter {
    /// The adapter `name` for `config`; an error if the program name, timeout or rate limit is
    /// unusable.
    pub fn new(name: &str, config: &CommandConfig) -> Result<CommandAdapter, EnforceError> {
        if config.program.trim().is_empty() {
            return Err(EnforceError::Config("program is empty".into()));
        }
        if config.verify.as_ref().is_some_and(|v| v.program.trim().is_empty()) {
            return Err(EnforceError::Config("verify.program is empty".into()));
        }
        if config.timeout_ms == 0 {
            return Err(EnforceError::Config("timeout_ms must be at least 1".into()));
        }
        Ok(CommandAdapter {
            name: name.to_string(),
            config: config.clone(),
            timeout: Duration::from_millis(config.timeout_ms),
            limiter: config.rate_limit.as_ref().map(Limiter::new).transpose()?,
        })
    }

    fn command(&self, program: &str, args: &[String], action: &EnforcementAction) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .envs(&self.config.env)
            .env("TRUSTLOOP_ACTION_ID", &action.action_id)
            .env("TRUSTLOOP_ACTION_KIND", kind_name(action.kind))
            .env("TRUSTLOOP_REVERT", action.revert.to_string())
            .env("TRUSTLOOP_ACTION_SUBJECT", &action.subject)
            .env("TRUSTLOOP_ACTION_TARGET", &action.target)
            .env("TRUSTLOOP_SANDBOX", action.sandbox.to_string())
            .env("TRUSTLOOP_ATTEMPT", action.attempt.to_string())
            .env("TRUSTLOOP_TENANT", &*action.envelope.tenant)
            .envs(step_env(action))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(dir) = &self.config.working_dir {
            cmd.current_dir(dir);
        }
        cmd
    }

    /// Starts `program`; `on_start` is called once it runs. Waits for it within the timeout (killing
    /// it after) and returns what it left.
    async fn run_program(
        &self,
        program: &str,
        args: &[String],
        action: &EnforcementAction,
        input: &str,
        on_start: impl FnOnce(Option<u32>),
    ) -> Result<Finished, EnforceError> {
        let mut child = self
            .command(program, args, action)
            .spawn()
            .map_err(|source| EnforceError::Spawn { program: program.to_string(), source })?;
        on_start(child.id());
        let stdin = child.stdin.take();
        let input = input.as_bytes().to_vec();
        let feed = async move {
            if let Some(mut stdin) = stdin {
                // A program that does not read its input closes the pipe: not an error of the step.
                if let Err(e) = stdin.write_all(&input).await {
                    tracing::debug!(error = %e, "the program did not read its whole input");
                }
                let _ = stdin.write_all(b"\n").await;
                drop(stdin);
            }
        };
        // On timeout the child is dropped, and `kill_on_drop` kills it.
        let run = async { tokio::join!(feed, child.wait_with_output()).1 };
        let output = tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| EnforceError::Timeout { what: format!("`{program}`"), after: self.timeout })?
            .map_err(|source| EnforceError::Spawn { program: program.to_string(), source })?;
        Ok(Finished {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    async fn run(&self, action: &EnforcementAction, report: &mut Report<'_>) -> Result<(), (EnforceError, Started)> {
        let started = Started::now();
        let waited = rate::wait(self.limiter.as_ref()).await;
        let input = action_json(action).map_err(|e| (e, started))?;
        let program = &self.config.program;
        let mut acked = None;
        let finished = self
            .run_program(program, &self.config.args, action, &input, |pid| {
                let pid = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
                acked = Some(format!("`{program}` started{pid}{}", waited_note(waited)));
            })
            .await;
        // The program ran (whatever happened next): the step was acknowledged when it started.
        if let Some(message) = acked {
            report.ok(ActionState::Acknowledged, message, started);
        }
        let finished = finished.map_err(|e| (e, started))?;
        report.program(finished.status.code(), &finished.stdout, &finished.stderr);
        exit_error(program, &finished).map_err(|e| (e, started))?;
        let verified = says_verified(&finished.stdout) == Some(true);
        let note = if verified { ", it printed {\"verified\": true}" } else { "" };
        report.ok(report.done_state(), format!("`{program}` exited 0{note}"), started);
        if action.revert {
            return Ok(());
        }
        if verified {
            report.ok(ActionState::Verified, format!("`{program}` printed {{\"verified\": true}}"), started);
            return Ok(());
        }
        let Some(verify) = &self.config.verify else { return Ok(()) };
        let verify_started = Started::now();
        let checked = self.run_program(&verify.program, &verify.args, action, &input, |_| {}).await.and_then(|f| {
            report.program(f.status.code(), &f.stdout, &f.stderr);
            exit_error(&verify.program, &f)
        });
        match checked {
            Ok(()) => {
                report.ok(ActionState::Verified, format!("`{}` exited 0", verify.program), verify_started);
                Ok(())
            }
            Err(e) => Err((EnforceError::Verification(e.to_string()), verify_started)),
        }
    }
}

/// The environment of a workflow call (none for single-step actions): `TRUSTLOOP_WORKFLOW`,
/// `TRUSTLOOP_STEP_INDEX`, `TRUSTLOOP_STEP_NAME`, `TRUSTLOOP_STEP_ROLE` (`apply`, `check`,
/// `rollback`), `TRUSTLOOP_PHASE` (`sandbox`, `target`) and `TRUSTLOOP_PARAM_<NAME>` per parameter
/// (the name upper-cased, characters other than letters and digits as `_`).
fn step_env(action: &EnforcementAction) -> Vec<(String, String)> {
    let Some(step) = &action.step else { return Vec::new() };
    let role = match step.role {
        StepRole::Apply => "apply",
        StepRole::Check => "check",
        StepRole::Rollback => "rollback",
    };
    let mut env = vec![
        ("TRUSTLOOP_WORKFLOW".to_string(), action.workflow.clone().unwrap_or_default()),
        ("TRUSTLOOP_STEP_INDEX".to_string(), step.index.to_string()),
        ("TRUSTLOOP_STEP_NAME".to_string(), step.name.clone()),
        ("TRUSTLOOP_STEP_ROLE".to_string(), role.to_string()),
        ("TRUSTLOOP_PHASE".to_string(), if action.sandbox { "sandbox" } else { "target" }.to_string()),
    ];
    for (name, value) in &step.params {
        let name: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
        env.push((format!("TRUSTLOOP_PARAM_{name}"), value.clone()));
    }
    env
}

/// The error for a program that did not exit 0.
fn exit_error(program: &str, finished: &Finished) -> Result<(), EnforceError> {
    if finished.status.success() {
        return Ok(());
    }
    let status = match finished.status.code() {
        Some(code) => format!("exited with status {code}"),
        None => signal_status(finished.status),
    };
    let stderr = tail(&finished.stderr, STDERR_TAIL);
    let stderr = if stderr.is_empty() { "(nothing on standard error)".to_string() } else { stderr };
    Err(EnforceError::Exit { program: program.to_string(), status, code: finished.status.code(), stderr })
}

#[cfg(unix)]
fn signal_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(sig) => format!("was killed by signal {sig}"),
        None => status.to_string(),
    }
}

#[cfg(not(unix))]
fn signal_status(status: ExitStatus) -> String {
    status.to_string()
}

#[async_trait]
impl Adapter for CommandAdapter {
    fn name(&self) -> &str {
        &self.name
    }

    async fn execute(&self, action: &EnforcementAction) -> Vec<EnforcementResult> {
        let mut report = Report::new(&self.name, action);
        if let Err((e, started)) = self.run(action, &mut report).await {
            report.failed(&e, started);
        }
        report.finish()
    }
}

#[cfg(test)]
mod tests;
