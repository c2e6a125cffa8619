//! Where a `rollback` goes back to. A rollback action names the release to take out of an
//! environment (its subject `NAME@VERSION@ENVIRONMENT`, target `release:NAME@VERSION`); the release
//! to put back is the last one of the same name promoted to that environment whose verdict there is
//! PASS. This operator resolves it because it alone sees all of a tenant's release verdicts and
//! promotions: the decision operator is split by release `NAME@VERSION`, so one of its tasks may
//! not hold the other versions of a name.
//!
//! A release counts as promoted to an environment from its `promote` request on; a rollback takes
//! it out (it is no longer a candidate until promoted again). Verdicts are read as they come; the
//! candidate is judged by the latest one of its subject seen when the rollback is requested.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trustloop_schemas::Outcome;

/// The prefix of a release target.
pub const RELEASE_TARGET: &str = "release:";

/// A tenant's promoted releases and their latest verdicts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseLines {
    /// Environment → release name → the versions promoted there, oldest promotion first.
    promoted: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// The latest verdict outcome of each release subject `NAME@VERSION@ENVIRONMENT`.
    outcomes: BTreeMap<String, Outcome>,
}

/// A release subject taken apart: `NAME@VERSION@ENVIRONMENT`, with `NAME@VERSION` from the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseSubject<'a> {
    /// Release name.
    pub name: &'a str,
    /// Release version.
    pub version: &'a str,
    /// Environment.
    pub environment: &'a str,
}

impl<'a> ReleaseSubject<'a> {
    /// Reads an action's subject and target (`release:NAME@VERSION`); `None` when they are not a
    /// release subject and its release.
    pub fn of(subject: &'a str, target: &'a str) -> Option<ReleaseSubject<'a>> {
        let release = target.strip_prefix(RELEASE_TARGET)?;
        let environment = subject.strip_prefix(release)?.strip_prefix('@')?;
        let (name, version) = release.rsplit_once('@')?;
        if name.is_empty() || version.is_empty() || environment.is_empty() {
            return None;
        }
        Some(ReleaseSubject { name, version, environment })
    }
}

impl ReleaseLines {
    /// A `promote` was requested: the release is now the latest promoted to its environment.
    pub fn promoted(&mut self, r: &ReleaseSubject<'_>) {
        let versions =
            self.promoted.entry(r.environment.to_string()).or_default().entry(r.name.to_string()).or_default();
        versions.retain(|v| v != r.version);
        versions.push(r.version.to_string());
    }

    /// A release verdict.
    pub fn verdict(&mut self, subject: &str, outcome: Outcome) {
        self.outcomes.insert(subject.to_string(), outcome);
    }

    /// A rollback of `r` was requested: the release to put back (`NAME@VERSION`), if one passed,
    /// and `r` is no longer promoted to its environment.
    pub fn roll_back(&mut self, r: &ReleaseSubject<'_>) -> Option<String> {
        let versions = self.promoted.get_mut(r.environment)?.get_mut(r.name)?;
        versions.retain(|v| v != r.version);
        versions
            .iter()
            .rev()
            .find(|v| self.outcomes.get(&format!("{}@{v}@{}", r.name, r.environment)) == Some(&Outcome::Pass))
            .map(|v| format!("{}@{v}", r.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(s: &'static str, t: &'static str) -> ReleaseSubject<'static> {
        ReleaseSubject::of(s, t).expect("a release subject")
    }

    #[test]
    fn subjects_are_read_from_the_target_so_names_may_hold_at_signs() {
        let r = subject("@acme/shop@2.0.0@prod", "release:@acme/shop@2.0.0");
        assert_eq!((r.name, r.version, r.environment), ("@acme/shop", "2.0.0", "prod"));
        assert_eq!(ReleaseSubject::of("host-1", "entity:host-1"), None);
        assert_eq!(ReleaseSubject::of("shop@2@prod", "release:shop@3"), None, "another release");
        assert_eq!(ReleaseSubject::of("shop@2@", "release:shop@2"), None, "no environment");
    }

    #[test]
    fn the_last_promoted_release_that_passes_is_put_back() {
        let mut lines = ReleaseLines::default();
        for v in ["1", "2", "3", "4"] {
            let (s, t) = (format!("shop@{v}@prod"), format!("release:shop@{v}"));
            lines.promoted(&ReleaseSubject::of(&s, &t).expect("a release subject"));
        }
        lines.verdict("shop@1@prod", Outcome::Pass);
        lines.verdict("shop@2@prod", Outcome::Pass);
        lines.verdict("shop@3@prod", Outcome::Warn);
        lines.verdict("shop@2@staging", Outcome::Fail);
        lines.verdict("shop@4@prod", Outcome::Fail);
        // 3 only warns: 2 is the last that passes in prod (its staging verdict is another subject).
        assert_eq!(lines.roll_back(&subject("shop@4@prod", "release:shop@4")).as_deref(), Some("shop@2"));
        // 4 is out; 2 turning bad goes back to 1.
        lines.verdict("shop@2@prod", Outcome::Fail);
        assert_eq!(lines.roll_back(&subject("shop@2@prod", "release:shop@2")).as_deref(), Some("shop@1"));
        // Promoted again, 2 is a candidate again once it passes.
        lines.promoted(&subject("shop@2@prod", "release:shop@2"));
        lines.verdict("shop@2@prod", Outcome::Pass);
        lines.verdict("shop@3@prod", Outcome::Fail);
        assert_eq!(lines.roll_back(&subject("shop@3@prod", "release:shop@3")).as_deref(), Some("shop@2"));
        // Nothing in another environment, or of another name.
        assert_eq!(lines.roll_back(&subject("shop@1@dev", "release:shop@1")), None);
        assert_eq!(lines.roll_back(&subject("cart@1@prod", "release:cart@1")), None);
    }
}
