//! Enforcement adapters: the imperative shell that performs dispatched
//! [`EnforcementAction`]s on real systems and reports what happened as [`EnforcementResult`]s.
//!
//! The enforcement operator (pure, in `operators/`) decides *when* an action is dispatched, retried,
//! timed out or reverted; an adapter only performs one step and says how it went. A step is reported
//! in order: `acknowledged` (the target accepted the request), then `applied` or `failed`, then
//! `verified` when the adapter could confirm the effect. A step with `revert: true` reports
//! `acknowledged`, then `reverted` or `failed`.
//!
//! * [`Adapter`] — the trait every adapter implements.
//! * [`webhook`] — HTTP POST of the action, HMAC-signed ([`webhook::WebhookConfig`]).
//! * [`command`] — a local program, the action on stdin ([`command::CommandConfig`]).
//! * [`kafka`] — an append to a topic that an external controller consumes
//!   ([`kafka::KafkaTopicConfig`]).
//! * [`rate`] — per-adapter rate limits ([`rate::RateLimitConfig`]).
//! * [`config`] — [`config::AdapterConfig`] and [`config::EnforcementConfig`] (adapters and which
//!   action kinds each handles), as loaded from `trustloop.toml`.
//! * [`dispatch`] — [`dispatch::Dispatcher`]: one action, the right adapter, its results.
//!
//! Results carry a wall-clock `started_at` (adapters are the imperative shell) and derived ids: a
//! retried delivery of the same step of the same attempt gets the same `event_id`
//! ([`result_event_id`]), so the log can de-duplicate it.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use trustloop_schemas::{
    ActionKind, ActionState, EnforcementAction, EnforcementResult, Envelope, EventId, EventTime, EventType, Execution,
    derive_event_id,
};

use crate::log::LogError;

pub mod command;
pub mod config;
pub mod dispatch;
pub mod kafka;
pub mod rate;
pub mod webhook;

pub use config::{AdapterConfig, EnforcementConfig};
pub use dispatch::Dispatcher;
/// The snake_case names of action kinds and states, as in events (one definition, the operators').
pub use trustloop_operators::enforce::action::{kind_name, state_name};

/// An enforcement adapter: performs one step of a dispatched action on a real system.
#[async_trait]
pub trait Adapter: Send + Sync {
    /// The adapter's configured name; results carry it and their `source` is
    /// `trustloop.adapter.<name>`.
    fn name(&self) -> &str;

    /// Performs `action` (or its revert, when `action.revert`) and returns the results in the order
    /// they were reached. Never panics and never returns an empty list: a step that could not be
    /// performed ends with a `failed` result whose message says why and whether retrying can help.
    async fn execute(&self, action: &EnforcementAction) -> Vec<EnforcementResult>;
}

/// Why an adapter step failed. [`EnforceError::is_retriable`] tells whether the same step may succeed
/// if tried again later.
#[derive(Debug, thiserror::Error)]
pub enum EnforceError {
    /// The adapter's configuration is unusable.
    #[error("invalid adapter configuration: {0}")]
    Config(String),
    /// The receiver answered with an HTTP error status.
    #[error("{method} {url} answered HTTP {status}: {body}")]
    HttpStatus {
        /// `POST` or `GET`.
        method: &'static str,
        /// The request URL.
        url: String,
        /// The status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The request could not be completed (connection refused, reset, bad response, ...).
    #[error("{method} {url} failed: {message}")]
    Transport {
        /// `POST` or `GET`.
        method: &'static str,
        /// The request URL.
        url: String,
        /// What went wrong.
        message: String,
        /// Whether a later attempt may get through.
        retriable: bool,
    },
    /// The step did not finish in time.
    #[error("{what} timed out after {} ms", after.as_millis())]
    Timeout {
        /// What was being done.
        what: String,
        /// The configured limit.
        after: Duration,
    },
    /// A program could not be started.
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A program ended unsuccessfully.
    #[error("`{program}` {status}: {stderr}")]
    Exit {
        /// The program.
        program: String,
        /// How it ended (`exited with status 3`, `was killed by signal 9`).
        status: String,
        /// Its exit code, if it exited.
        code: Option<i32>,
        /// The tail of its standard error.
        stderr: String,
    },
    /// The action could not be encoded.
    #[error("cannot encode the action: {0}")]
    Encode(String),
    /// The event log refused the append.
    #[error("event log: {0}")]
    Log(#[from] LogError),
    /// The step was applied but the adapter could not confirm its effect.
    #[error("applied, but verification failed: {0}")]
    Verification(String),
    /// A workflow step names an adapter that is not configured.
    #[error("no adapter `{name}` is configured (a workflow step names it)")]
    NoAdapter {
        /// The name the step gives.
        name: String,
    },
    /// No adapter is configured for the action's kind.
    #[error("no adapter is configured for `{}` actions", kind_name(*kind))]
    NoRoute {
        /// The action's kind.
        kind: ActionKind,
    },
}

impl EnforceError {
    /// Whether the same step may succeed if tried again later: server errors (5xx, 408, 429),
    /// timeouts, connection failures, retriable log errors, failed verifications and program exits
    /// other than the permanent `sysexits(3)` codes are; configuration errors, client errors (4xx),
    /// unknown programs and missing routes are not.
    pub fn is_retriable(&self) -> bool {
        match self {
            EnforceError::HttpStatus { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            EnforceError::Transport { retriable, .. } => *retriable,
            EnforceError::Timeout { .. } | EnforceError::Verification(_) => true,
            EnforceError::Spawn { source, .. } => !matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::InvalidInput
            ),
            // sysexits(3): 64–78 are deliberate answers; of them only EX_UNAVAILABLE (69), EX_IOERR (74)
            // and EX_TEMPFAIL (75) invite a retry. Any other failure (and death by a signal) may be
            // transient.
            EnforceError::Exit { code, .. } => !matches!(code, Some(64..=68 | 70..=73 | 76..=78)),
            EnforceError::Log(e) => e.is_retriable(),
            EnforceError::Config(_)
            | EnforceError::Encode(_)
            | EnforceError::NoRoute { .. }
            | EnforceError::NoAdapter { .. } => false,
        }
    }

    /// The message of a `failed` result: the error and whether retrying can help.
    pub fn result_message(&self) -> String {
        format!("{self} ({})", if self.is_retriable() { "retriable" } else { "not retriable" })
    }
}

/// The id of the result reporting `state` for `action`: derived from the action id, the state, the
/// attempt and the sandbox and revert flags — so a retried delivery of the same step de-duplicates,
/// while another attempt, the sandbox step or the revert step gets a new id.
pub fn result_event_id(action: &EnforcementAction, state: ActionState) -> EventId {
    derive_event_id(
        "action-result",
        &[
            action.action_id.as_bytes(),
            state_name(state).as_bytes(),
            &action.attempt.to_be_bytes(),
            &[u8::from(action.sandbox)],
            &[u8::from(action.revert)],
        ],
    )
}

/// The wall clock as an [`EventTime`].
pub(crate) fn wall_clock() -> EventTime {
    let micros = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
    EventTime::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
}

/// When a step started: wall clock for the result, monotonic clock for its duration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Started {
    wall: EventTime,
    at: Instant,
}

impl Started {
    /// Now.
    pub(crate) fn now() -> Self {
        Started { wall: wall_clock(), at: Instant::now() }
    }

    fn elapsed_micros(&self) -> i64 {
        i64::try_from(self.at.elapsed().as_micros()).unwrap_or(i64::MAX)
    }
}

/// Most bytes of standard output or error (or of a response body) kept in an execution record.
pub const EXCERPT: usize = 2_000;

/// Collects the results of one execution, in order, each with the execution record as it stands.
pub(crate) struct Report<'a> {
    action: &'a EnforcementAction,
    adapter: &'a str,
    results: Vec<EnforcementResult>,
    /// What the adapter has seen so far (exit or HTTP status, output excerpts); adapters fill it in.
    pub(crate) execution: Execution,
}

impl<'a> Report<'a> {
    /// An empty report of `adapter` about `action`.
    pub(crate) fn new(adapter: &'a str, action: &'a EnforcementAction) -> Self {
        Report { action, adapter, results: Vec::with_capacity(3), execution: Execution::default() }
    }

    /// Records that the step begun at `started` reached `state`, with the execution record so far
    /// (its `error` the message of a failure).
    pub(crate) fn push(&mut self, state: ActionState, success: bool, message: impl Into<String>, started: Started) {
        let message = message.into();
        tracing::debug!(adapter = self.adapter, action_id = %self.action.action_id, state = state_name(state), %message, "enforcement step");
        let mut execution = self.execution.clone();
        execution.error = (!success).then(|| message.clone());
        let mut result = build_result(self.adapter, self.action, state, success, message, started);
        result.execution = Some(execution);
        self.results.push(result);
    }

    /// Records what a program left: its exit code and the tails of its output.
    pub(crate) fn program(&mut self, code: Option<i32>, stdout: &str, stderr: &str) {
        self.execution.exit_code = code;
        self.execution.stdout = tail(stdout, EXCERPT);
        self.execution.stderr = tail(stderr, EXCERPT);
    }

    /// Records what a receiver answered: its HTTP status and the start of its body.
    pub(crate) fn http(&mut self, status: u16, body: &str) {
        self.execution.http_status = Some(i32::from(status));
        self.execution.stdout = tail(body, EXCERPT);
    }

    /// Records a success: `state` reached.
    pub(crate) fn ok(&mut self, state: ActionState, message: impl Into<String>, started: Started) {
        self.push(state, true, message, started);
    }

    /// Records a failure.
    pub(crate) fn failed(&mut self, error: &EnforceError, started: Started) {
        match error {
            EnforceError::Exit { code, stderr, .. } if self.execution.exit_code.is_none() => {
                self.execution.exit_code = *code;
                if self.execution.stderr.is_empty() {
                    self.execution.stderr = stderr.clone();
                }
            }
            EnforceError::HttpStatus { status, body, .. } if self.execution.http_status.is_none() => {
                self.http(*status, body);
            }
            _ => {}
        }
        tracing::warn!(adapter = self.adapter, action_id = %self.action.action_id, error = %error, "enforcement step failed");
        self.push(ActionState::Failed, false, error.result_message(), started);
    }

    /// The state a successful application reaches: `applied`, or `reverted` for a revert step.
    pub(crate) fn done_state(&self) -> ActionState {
        if self.action.revert { ActionState::Reverted } else { ActionState::Applied }
    }

    /// The results, in order.
    pub(crate) fn finish(self) -> Vec<EnforcementResult> {
        self.results
    }
}

/// Builds one result event for `action`, reported by `adapter`.
///
/// The result's *event time* is the event time of the step it answers: adapters run on the wall
/// clock (`started_at` and `duration_micros` say when and how long), but the pipeline's clock is
/// event time, and an adapter's latency or a replay days later must not move it.
pub fn build_result(
    adapter: &str,
    action: &EnforcementAction,
    state: ActionState,
    success: bool,
    message: String,
    started: impl Into<StepTime>,
) -> EnforcementResult {
    let StepTime { started_at, duration_micros } = started.into();
    EnforcementResult {
        envelope: Envelope {
            event_id: result_event_id(action, state),
            tenant: action.envelope.tenant.clone(),
            // The action's key (its tenant): results stay in the partition, and the order, of their actions.
            key: action.envelope.key.clone(),
            event_time: action.envelope.event_time,
            source: format!("trustloop.adapter.{adapter}").into(),
            schema_version: EventType::EnforcementResult.schema_version(),
        },
        action_id: action.action_id.clone(),
        adapter: adapter.to_string(),
        state,
        success,
        message,
        started_at,
        duration_micros,
        attempt: action.attempt,
        execution: None,
    }
}

/// When a step started (wall clock) and how long it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepTime {
    /// Start of the step.
    pub started_at: EventTime,
    /// Its duration in microseconds.
    pub duration_micros: i64,
}

impl From<Started> for StepTime {
    fn from(s: Started) -> Self {
        StepTime { started_at: s.wall, duration_micros: s.elapsed_micros() }
    }
}

/// Formats a wait for the rate limiter, for result messages (empty when there was none to speak of).
pub(crate) fn waited_note(waited: Duration) -> String {
    if waited >= Duration::from_millis(1) {
        format!(" (waited {} ms for the rate limit)", waited.as_millis())
    } else {
        String::new()
    }
}

/// The JSON form of the action (`trustloop_schemas::json`, as `trustloop consume` prints it).
pub(crate) fn action_json(action: &EnforcementAction) -> Result<String, EnforceError> {
    let value = trustloop_schemas::json::event_to_json(&trustloop_schemas::Event::EnforcementAction(action.clone()));
    serde_json::to_string(&value).map_err(|e| EnforceError::Encode(e.to_string()))
}

/// Whether a text's last non-empty line is a JSON object with `"verified": true`.
pub(crate) fn says_verified(text: &str) -> Option<bool> {
    let last = text.lines().rev().map(str::trim).find(|l| !l.is_empty())?;
    let value: serde_json::Value = serde_json::from_str(last).ok()?;
    value.get("verified")?.as_bool()
}

/// The last `max` bytes of `text` (on a character boundary), trimmed, for messages.
pub(crate) fn tail(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.len() <= max {
        return text.to_string();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_ids_distinguish_steps_and_deduplicate_retries() {
        let a = testing::action("act-1", ActionKind::Isolate, false);
        let same = result_event_id(&a, ActionState::Applied);
        assert_eq!(same, result_event_id(&a.clone(), ActionState::Applied), "a retried delivery keeps its id");
        assert_ne!(same, result_event_id(&a, ActionState::Verified));
        let mut next = a.clone();
        next.attempt += 1;
        assert_ne!(same, result_event_id(&next, ActionState::Applied), "another attempt, another id");
        let mut sandbox = a.clone();
        sandbox.sandbox = true;
        assert_ne!(same, result_event_id(&sandbox, ActionState::Applied));
        let mut revert = a.clone();
        revert.revert = true;
        assert_ne!(result_event_id(&a, ActionState::Acknowledged), result_event_id(&revert, ActionState::Acknowledged));
    }

    #[test]
    fn results_carry_the_envelope_of_the_action() {
        let a = testing::action("act-2", ActionKind::Quarantine, false);
        let step = StepTime { started_at: EventTime::from_micros(1_000_000), duration_micros: 42 };
        let r = build_result("fw", &a, ActionState::Acknowledged, true, "ok".into(), step);
        assert_eq!(&*r.envelope.tenant, "acme");
        assert_eq!(r.envelope.key, a.envelope.key);
        assert_eq!(r.envelope.event_time, a.envelope.event_time, "event time is the step's, not the wall clock's");
        assert_ne!(r.envelope.event_time, r.started_at);
        assert_eq!(&*r.envelope.source, "trustloop.adapter.fw");
        assert_eq!(r.started_at, EventTime::from_micros(1_000_000));
        assert_eq!((r.attempt, r.duration_micros), (a.attempt, 42));
        // The result encodes (the schema accepts it).
        trustloop_schemas::EventCodec::new().encode(&r.into()).expect("encode");
    }

    #[test]
    fn retriability_follows_the_cause() {
        let http = |status| EnforceError::HttpStatus { method: "POST", url: "u".into(), status, body: String::new() };
        assert!(http(500).is_retriable() && http(503).is_retriable() && http(429).is_retriable());
        assert!(!http(400).is_retriable() && !http(401).is_retriable() && !http(404).is_retriable());
        let exit = |code| EnforceError::Exit { program: "p".into(), status: "s".into(), code, stderr: String::new() };
        assert!(exit(Some(1)).is_retriable() && exit(Some(75)).is_retriable() && exit(None).is_retriable());
        assert!(!exit(Some(64)).is_retriable() && !exit(Some(78)).is_retriable());
        assert!(!EnforceError::NoRoute { kind: ActionKind::Notify }.is_retriable());
        assert!(http(500).result_message().ends_with("(retriable)"));
        assert!(http(401).result_message().ends_with("(not retriable)"));
    }

    #[test]
    fn verified_lines_and_tails() {
        assert_eq!(says_verified("doing things\n{\"verified\": true}\n\n"), Some(true));
        assert_eq!(says_verified("{\"verified\": false}"), Some(false));
        assert_eq!(says_verified("{\"verified\": true}\nmore output"), None);
        assert_eq!(says_verified(""), None);
        assert_eq!(tail("abcdef", 3), "…def");
        assert_eq!(tail("  ab ", 3), "ab");
        assert_eq!(tail("ééé", 3), "…é");
    }
}
