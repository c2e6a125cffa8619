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
        let in_force = (self.version > 0).then_some((self.doc.name.as_str(), self.version));
        let doc = policy::accept::accept(p, in_force)?;
        let digest = doc.digest();
        Ok(ActivePolicy { doc, digest, version: p.version })
    }
}

pub use crate::policy::accept::{REJECTIONS_KEPT, RejectedPolicy};
