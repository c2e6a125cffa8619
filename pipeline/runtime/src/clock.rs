//! The time stamped on what arrives without one (ingest defaults only: no decision ever reads the
//! clock): the wall clock, or a time pinned for the whole process (`trustloop --now`), for
//! reproducible imports.

use std::sync::OnceLock;

use trustloop_schemas::EventTime;

/// The time [`pin_now`] pinned, in microseconds since the Unix epoch.
static NOW: OnceLock<i64> = OnceLock::new();

/// Takes `at` as the current time of [`now_micros`] for the rest of the process; the first pin
/// stands.
pub fn pin_now(at: EventTime) {
    let _ = NOW.set(at.as_micros());
}

/// The current time in microseconds since the Unix epoch: the wall clock, or the time
/// [`pin_now`] pinned.
pub fn now_micros() -> i64 {
    NOW.get().copied().unwrap_or_else(|| chrono::Utc::now().timestamp_micros())
}

/// A time that is not RFC 3339.
#[derive(Debug, thiserror::Error)]
#[error("{what} {text:?}: not an RFC 3339 time such as 2026-03-03T00:00:00Z: {reason}")]
pub struct TimeError {
    /// What the time was given as (a flag, a parameter).
    pub what: String,
    /// The text given.
    pub text: String,
    /// Why it does not parse.
    pub reason: chrono::ParseError,
}

/// A time given as `what` in RFC 3339 (e.g. `2026-03-03T00:00:00Z`).
pub fn parse_time(what: &str, text: &str) -> Result<EventTime, TimeError> {
    let at = chrono::DateTime::parse_from_rfc3339(text).map_err(|reason| TimeError {
        what: what.to_string(),
        text: text.to_string(),
        reason,
    })?;
    Ok(EventTime::from_micros(at.timestamp_micros()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc_3339_and_says_what_was_wrong() {
        assert_eq!(parse_time("--now", "1970-01-01T00:00:01Z").expect("a time").as_micros(), 1_000_000);
        let e = parse_time("--as-of", "yesterday").expect_err("not a time");
        assert!(e.to_string().starts_with("--as-of \"yesterday\": not an RFC 3339 time"), "{e}");
    }
}
