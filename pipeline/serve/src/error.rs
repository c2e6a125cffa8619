//! The services' error: what went wrong starting or running the gateway and the operations
//! endpoints, and whether waiting and trying again can help ([`ServeError::is_retriable`]).
//!
//! As the runtime's ([`RuntimeError`]), errors keep their causes as sources and [`Context`] adds
//! what was being done, so the binary prints the chain with `{:#}` as before.

use trustloop_connectors::log::LogError;
use trustloop_connectors::registry::RegistryError;
use trustloop_runtime::RuntimeError;

use crate::gateway::tokens::TokenError;

/// The services' result.
pub type Result<T, E = ServeError> = std::result::Result<T, E>;

/// What went wrong in the services.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The runtime under them failed (the log, the registry, a replay, I/O).
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The token store failed.
    #[error(transparent)]
    Tokens(#[from] TokenError),
    /// A listener or a connection failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A task of the services died.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    /// The settings do not allow what was asked (fatal: fix them).
    #[error("{0}")]
    Invalid(String),
    /// What was being done when `source` failed.
    #[error("{context}")]
    Context {
        /// What was being done.
        context: String,
        /// Why it failed.
        #[source]
        source: Box<ServeError>,
    },
}

impl ServeError {
    /// Settings that do not allow what was asked.
    pub fn invalid(message: impl Into<String>) -> ServeError {
        ServeError::Invalid(message.into())
    }

    /// Whether waiting and trying again can help: the log is unreachable or timed out. Bad settings,
    /// an unreadable token entry or a dead task are fatal.
    pub fn is_retriable(&self) -> bool {
        match self {
            ServeError::Runtime(e) => e.is_retriable(),
            ServeError::Tokens(TokenError::Log(e)) => e.is_retriable(),
            ServeError::Context { source, .. } => source.is_retriable(),
            _ => false,
        }
    }
}

impl From<LogError> for ServeError {
    fn from(e: LogError) -> ServeError {
        ServeError::Runtime(e.into())
    }
}

impl From<RegistryError> for ServeError {
    fn from(e: RegistryError) -> ServeError {
        ServeError::Runtime(e.into())
    }
}

/// Adds what was being done to an error, as `anyhow::Context` does.
pub trait Context<T> {
    /// Wraps the error with `context`.
    fn context(self, context: impl Into<String>) -> Result<T>;
    /// Wraps the error with the context `f` makes (only when there is an error).
    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T>;
}

impl<T, E: Into<ServeError>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|e| ServeError::Context { context: context.into(), source: Box::new(e.into()) })
    }

    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| ServeError::Context { context: f().into(), source: Box::new(e.into()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_under_the_token_store_is_retriable_through_its_context() {
        let outage: Result<()> =
            Err(TokenError::Log(LogError::Timeout("fetching offsets".into()))).context("cannot read the tokens");
        let e = outage.expect_err("an error");
        assert!(e.is_retriable());
        assert_eq!(trustloop_runtime::error::chain(&e), "cannot read the tokens: timed out: fetching offsets");
    }

    #[test]
    fn bad_settings_and_bad_entries_are_fatal() {
        assert!(!ServeError::invalid("--tenant-rate must be at least 1").is_retriable());
        let bad = TokenError::BadEntry { offset: 3, reason: "not JSON".into() };
        assert!(!ServeError::from(bad).is_retriable());
    }
}
