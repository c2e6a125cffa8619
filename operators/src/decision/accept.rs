//! Which `Policy` events the decision operator applies. The rules are the trust operator's, so that
//! both operators agree on the policy in force: the document parses and validates
//! ([`crate::policy::parse`]), its digest is the one the event declares, its name is the event's,
//! and its version is newer than the one in force when it has the same name.

use serde::{Deserialize, Serialize};
use trustloop_schemas::Policy;

use crate::policy::{self, PolicyDoc};

/// The policy in force for a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivePolicy {
    /// The parsed document.
    pub doc: PolicyDoc,
    /// Its digest.
    pub digest: String,
    /// Version (0: the built-in default).
    pub version: i64,
}

impl ActivePolicy {
    /// The built-in default policy, version 0.
    pub fn builtin() -> ActivePolicy {
        let doc = policy::default_policy();
        ActivePolicy { digest: doc.digest(), doc, version: 0 }
    }

    /// The policy of `p` if it is to replace this one, else why not.
    pub fn accept(&self, p: &Policy) -> Result<ActivePolicy, String> {
        if !matches!(p.format.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json") {
            return Err(format!("format `{}` is not yaml", p.format));
        }
        let doc = policy::parse(&p.document).map_err(|e| format!("invalid document: {e}"))?;
        let digest = doc.digest();
        if digest != p.digest {
            return Err(format!("declared digest {} does not match the document's {digest}", p.digest));
        }
        if doc.name != p.name {
            return Err(format!("the event names policy `{}`, the document `{}`", p.name, doc.name));
        }
        if self.version > 0 && self.doc.name == p.name && p.version <= self.version {
            return Err(format!("version {} is not newer than version {} in force", p.version, self.version));
        }
        Ok(ActivePolicy { doc, digest, version: p.version })
    }
}

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
