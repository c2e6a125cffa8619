//! Which `Policy` events an operator applies — the same rules in every operator, so they all agree
//! on the policy in force: the document is YAML (or JSON), parses and validates ([`super::parse`]),
//! its digest is the one the event declares, its name is the event's, and its version is newer than
//! the version in force when that has the same name. A rejected event is kept (the newest
//! [`REJECTIONS_KEPT`]) with its reason, for a runtime to report.

use serde::{Deserialize, Serialize};
use trustloop_schemas::Policy;

use super::PolicyDoc;

/// How many rejected policies a tenant remembers (the newest ones).
pub const REJECTIONS_KEPT: usize = 32;

/// A `Policy` event that was not applied, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedPolicy {
    /// The event's id.
    pub event_id: String,
    /// Policy name.
    pub name: String,
    /// Version.
    pub version: i64,
    /// Why it was not applied.
    pub reason: String,
}

impl RejectedPolicy {
    /// The rejection of `p` for `reason`.
    pub fn of(p: &Policy, reason: String) -> RejectedPolicy {
        RejectedPolicy { event_id: p.envelope.event_id.to_string(), name: p.name.clone(), version: p.version, reason }
    }

    /// Records `self` in `kept`, dropping the oldest beyond [`REJECTIONS_KEPT`].
    pub fn keep(self, kept: &mut Vec<RejectedPolicy>) {
        if kept.len() >= REJECTIONS_KEPT {
            kept.remove(0);
        }
        kept.push(self);
    }
}

/// The parsed document of `p` if it is to be applied over the policy in force (`(name, version)`;
/// `None` for the built-in default), else why not.
pub fn accept(p: &Policy, in_force: Option<(&str, i64)>) -> Result<PolicyDoc, String> {
    if !matches!(p.format.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json") {
        return Err(format!("format `{}` is not yaml", p.format));
    }
    let doc = super::parse(&p.document).map_err(|e| format!("invalid document: {e}"))?;
    let digest = doc.digest();
    if digest != p.digest {
        return Err(format!("declared digest {} does not match the document's {digest}", p.digest));
    }
    if doc.name != p.name {
        return Err(format!("the event names policy `{}`, the document `{}`", p.name, doc.name));
    }
    if let Some((name, version)) = in_force
        && name == p.name
        && p.version <= version
    {
        return Err(format!("version {} is not newer than version {version} in force", p.version));
    }
    Ok(doc)
}
