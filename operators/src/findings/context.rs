//! What a finding carries of its component and advisory beyond what impact decides: the
//! component's scope, directness and licences (from the release's latest inventory) and the
//! advisory's CWE ids (from its `database_specific`). The policy's `scopes`, `dependency`,
//! `licenses` and `cwes` matchers read them from the findings.
//!
//! Only components that have some of these facts, and advisories that name some CWE, are kept: an
//! inventory without scopes, directness or licences (most lockfiles' runtime dependencies) costs
//! nothing here. Purls and facts are interned, so the same component in many releases is stored
//! once.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use serde::Deserialize;
use trustloop_schemas::{Advisory, Finding, ReleaseInventory, Text, Texts};

use crate::impact::fx::FxHashMap;
use crate::policy::Cwe;

/// A release as its findings name it: name, version, environment.
type ReleaseKey = (Text, Text, Option<Text>);

/// What the inventory says of a component beyond its identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(super) struct ComponentFacts {
    /// Scope as written (`required`, `dev`, `dev,optional`).
    pub scope: Option<Text>,
    /// Direct (`true`) or transitive (`false`) dependency, if known.
    pub direct: Option<bool>,
    /// Licences as written.
    pub licenses: Texts,
}

impl ComponentFacts {
    fn of(c: &trustloop_schemas::Component) -> ComponentFacts {
        ComponentFacts {
            scope: c.scope.as_deref().map(Text::from),
            direct: c.direct,
            licenses: c.licenses.iter().map(|l| Text::from(l.as_str())).collect(),
        }
    }

    fn is_default(&self) -> bool {
        self.scope.is_none() && self.direct.is_none() && self.licenses.is_empty()
    }
}

/// The component facts of every release and the CWE ids of every advisory (see the module docs).
#[derive(Debug, Clone, Default)]
pub(super) struct Context {
    /// Per release, the facts of each component (by purl) that has some.
    releases: FxHashMap<ReleaseKey, FxHashMap<Text, Arc<ComponentFacts>>>,
    /// Interned purls.
    purls: HashSet<Text>,
    /// Interned facts.
    facts: HashSet<Arc<ComponentFacts>>,
    /// The CWE ids of each advisory that names some.
    cwes: FxHashMap<String, Texts>,
}

impl Context {
    /// Whether nothing is kept (findings then carry no context).
    pub fn is_empty(&self) -> bool {
        self.releases.is_empty() && self.cwes.is_empty()
    }

    /// Takes a release's (new) inventory; returns the purls whose facts it changed (ascending).
    /// A purl listed twice takes its last entry's facts, as impact keeps its last match.
    pub fn apply_inventory(&mut self, r: &ReleaseInventory) -> BTreeSet<String> {
        let key: ReleaseKey = (
            Text::from(r.release_name.as_str()),
            Text::from(r.release_version.as_str()),
            r.environment.as_deref().map(Text::from),
        );
        let mut now: FxHashMap<Text, Arc<ComponentFacts>> = FxHashMap::default();
        for c in &r.components {
            let facts = ComponentFacts::of(c);
            let purl = self.purl(&c.purl);
            if facts.is_default() {
                now.remove(&purl);
            } else {
                let facts = self.intern(facts);
                now.insert(purl, facts);
            }
        }
        let before = self.releases.remove(&key).unwrap_or_default();
        let mut changed: BTreeSet<String> = BTreeSet::new();
        for (purl, facts) in &before {
            if now.get(purl) != Some(facts) {
                changed.insert(purl.to_string());
            }
        }
        for purl in now.keys() {
            if !before.contains_key(purl) {
                changed.insert(purl.to_string());
            }
        }
        if !now.is_empty() {
            self.releases.insert(key, now);
        }
        changed
    }

    /// Takes an advisory upsert or delete; returns whether its CWE ids changed.
    pub fn apply_advisory(&mut self, a: &Advisory, deleted: bool) -> bool {
        let now = if deleted { Vec::new() } else { cwes_of(a.database_specific.as_deref()) };
        let before = self.cwes.get(&a.id).map_or(&[][..], |c| &c[..]);
        if before.len() == now.len() && before.iter().zip(&now).all(|(b, n)| **b == **n) {
            return false;
        }
        if now.is_empty() {
            self.cwes.remove(&a.id);
        } else {
            self.cwes.insert(a.id.clone(), now.iter().map(|c| Text::from(c.as_str())).collect());
        }
        true
    }

    /// Fills a finding's component facts and CWE ids.
    pub fn fill(&self, f: &mut Finding) {
        let facts = if self.releases.is_empty() {
            None
        } else {
            let key: ReleaseKey = (f.release_name.clone(), f.release_version.clone(), f.environment.clone());
            self.releases.get(&key).and_then(|r| r.get(&*f.purl))
        };
        match facts {
            Some(c) => {
                f.scope = c.scope.clone();
                f.direct = c.direct;
                f.licenses = c.licenses.clone();
            }
            None => {
                f.scope = None;
                f.direct = None;
                f.licenses = Texts::default();
            }
        }
        f.cwes = self.cwes.get(&*f.advisory_id).cloned().unwrap_or_default();
    }

    fn purl(&mut self, purl: &str) -> Text {
        match self.purls.get(purl) {
            Some(p) => p.clone(),
            None => {
                let p = Text::from(purl);
                self.purls.insert(p.clone());
                p
            }
        }
    }

    fn intern(&mut self, facts: ComponentFacts) -> Arc<ComponentFacts> {
        match self.facts.get(&facts) {
            Some(f) => f.clone(),
            None => {
                let f = Arc::new(facts);
                self.facts.insert(f.clone());
                f
            }
        }
    }
}

/// The parts of an advisory's `database_specific` that name weaknesses: GHSA's (and OSV's)
/// `cwe_ids: ["CWE-79"]`, and `cwe: {"id": "CWE-1333"}` as `import csaf` writes a CSAF
/// vulnerability's CWE.
#[derive(Debug, Default, Deserialize)]
struct DatabaseSpecific {
    #[serde(default)]
    cwe_ids: Vec<serde_json::Value>,
    #[serde(default)]
    cwe: Option<CweRef>,
}

#[derive(Debug, Deserialize)]
struct CweRef {
    #[serde(default)]
    id: Option<String>,
}

/// The CWE ids an advisory's `database_specific` (JSON text) names, as `CWE-<number>` (upper case,
/// ascending by number, each once). Entries that are not CWE ids, and text that is not a JSON
/// object of that shape, name none.
pub fn cwes_of(database_specific: Option<&str>) -> Vec<String> {
    let Some(text) = database_specific else { return Vec::new() };
    let Ok(db) = serde_json::from_str::<DatabaseSpecific>(text) else { return Vec::new() };
    let listed = db.cwe_ids.iter().filter_map(|v| v.as_str());
    let mut cwes: Vec<Cwe> =
        listed.chain(db.cwe.as_ref().and_then(|c| c.id.as_deref())).filter_map(Cwe::parse).collect();
    cwes.sort_unstable();
    cwes.dedup();
    cwes.into_iter().map(|c| c.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cwe_ids_are_read_from_ghsa_and_csaf_database_specific() {
        let ghsa = r#"{"cwe_ids": ["CWE-79", "cwe-20", "CWE-79", "NVD-CWE-Other", 7], "severity": "HIGH"}"#;
        assert_eq!(cwes_of(Some(ghsa)), ["CWE-20", "CWE-79"]);
        let csaf = r#"{"source": "csaf", "cwe": {"id": "CWE-1333", "name": "Inefficient Regular Expression"}}"#;
        assert_eq!(cwes_of(Some(csaf)), ["CWE-1333"]);
        assert!(cwes_of(Some(r#"{"cwe_ids": "CWE-79"}"#)).is_empty(), "not a list: none");
        assert!(cwes_of(Some("[1, 2]")).is_empty() && cwes_of(Some("not json")).is_empty() && cwes_of(None).is_empty());
    }
}
