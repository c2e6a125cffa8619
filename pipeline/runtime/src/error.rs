//! The runtime's error: what went wrong, and whether waiting and trying again can help
//! ([`RuntimeError::is_retriable`]) — the question the supervisor asks after a failed pass.
//!
//! Errors keep their causes as [`std::error::Error::source`]s, and [`Context`] adds what was being
//! done (`committing trustloop.trust: …`), as `anyhow`'s `context` does: printed with `{:#}` by an
//! `anyhow` caller, the chain reads as before.

use trustloop_connectors::enforce::EnforceError;
use trustloop_connectors::log::LogError;
use trustloop_connectors::registry::RegistryError;
use trustloop_replay::ReplayError;
use trustloop_schemas::CodecError;

use crate::snapshot::SnapshotStoreError;

/// The runtime's result.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// What went wrong in the runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The event log failed: retriable when the log says so (an outage, a timeout).
    #[error(transparent)]
    Log(#[from] LogError),
    /// An event did not encode or decode.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The schema registry failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A snapshot could not be written or read.
    #[error(transparent)]
    Snapshot(#[from] SnapshotStoreError),
    /// A replay failed.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The enforcement adapters could not be set up.
    #[error(transparent)]
    Enforce(#[from] EnforceError),
    /// Reading or writing a file or a stream failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A blocking task died.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    /// The configuration or the log's layout does not allow what was asked (fatal).
    #[error("{0}")]
    Invalid(String),
    /// A service built over the runtime failed (the gateway's token store, say): retriable as that
    /// service says.
    #[error(transparent)]
    Service(ServiceFailure),
    /// The operators did not settle within the passes allowed.
    #[error("the pipeline did not settle after {passes} passes")]
    Unsettled {
        /// The passes allowed.
        passes: u32,
    },
    /// What was being done when `source` failed.
    #[error("{context}")]
    Context {
        /// What was being done.
        context: String,
        /// Why it failed.
        #[source]
        source: Box<RuntimeError>,
    },
}

impl RuntimeError {
    /// An error of a configuration or layout that does not allow what was asked.
    pub fn invalid(message: impl Into<String>) -> RuntimeError {
        RuntimeError::Invalid(message.into())
    }

    /// Whether waiting and trying again can help: the log is unreachable or timed out. Everything
    /// else (bad configuration, a corrupt snapshot store, a replay that cannot run) is fatal.
    pub fn is_retriable(&self) -> bool {
        match self {
            RuntimeError::Log(e) => e.is_retriable(),
            RuntimeError::Registry(RegistryError::Log(e)) => e.is_retriable(),
            RuntimeError::Service(f) => f.retriable,
            RuntimeError::Context { source, .. } => source.is_retriable(),
            _ => false,
        }
    }
}

/// The error of a service built over the runtime, with whether waiting and trying again can help.
/// It reads as the error itself: its message, then that error's causes.
#[derive(Debug)]
pub struct ServiceFailure {
    /// Whether waiting and trying again can help.
    pub retriable: bool,
    /// What failed.
    pub error: Box<dyn std::error::Error + Send + Sync>,
}

impl std::fmt::Display for ServiceFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for ServiceFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// `e` and its causes, joined by `: ` (as `anyhow` prints an error with `{:#}`).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Adds what was being done to an error, as `anyhow::Context` does.
pub trait Context<T> {
    /// Wraps the error with `context`.
    fn context(self, context: impl Into<String>) -> Result<T>;
    /// Wraps the error with the context `f` makes (only when there is an error).
    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T>;
}

impl<T, E: Into<RuntimeError>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|e| RuntimeError::Context { context: context.into(), source: Box::new(e.into()) })
    }

    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| RuntimeError::Context { context: f().into(), source: Box::new(e.into()) })
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.ok_or_else(|| RuntimeError::Invalid(context.into()))
    }

    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.ok_or_else(|| RuntimeError::Invalid(f().into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_retriable_through_its_context() {
        let outage: Result<()> =
            Err(LogError::Timeout("fetching offsets".into())).context("committing trustloop.trust");
        let e = outage.expect_err("an error");
        assert!(e.is_retriable());
        assert_eq!(e.to_string(), "committing trustloop.trust");
        assert_eq!(chain(&e), "committing trustloop.trust: timed out: fetching offsets");
    }

    #[test]
    fn a_service_failure_is_retriable_as_it_says_and_reads_as_itself() {
        let outage = LogError::Timeout("fetching offsets".into());
        let wrapped = RuntimeError::Context { context: "reading the tokens".into(), source: Box::new(outage.into()) };
        let failure = RuntimeError::Service(ServiceFailure { retriable: true, error: Box::new(wrapped) });
        let e: Result<()> = Err(failure).context("starting the gateway");
        let e = e.expect_err("an error");
        assert!(e.is_retriable());
        assert_eq!(chain(&e), "starting the gateway: reading the tokens: timed out: fetching offsets");
        let fatal = RuntimeError::Service(ServiceFailure { retriable: false, error: "bad entry".into() });
        assert!(!fatal.is_retriable());
    }

    #[test]
    fn bad_configuration_is_fatal() {
        assert!(!RuntimeError::invalid("--transactions needs Kafka").is_retriable());
        assert!(!RuntimeError::Unsettled { passes: 3 }.is_retriable());
    }
}
