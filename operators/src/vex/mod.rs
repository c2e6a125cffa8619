//! VEX consensus: what the VEX statements known so far say about one finding.
//!
//! Statements come from several issuers (vendors, upstream maintainers, an internal security team)
//! in several formats (OpenVEX, CSAF, CycloneDX — all arrive as `VexStatement` events). For a
//! finding — a vulnerability in a component of a release — the consensus is:
//!
//! 1. **Which statements apply**: the statement's vulnerability or one of its aliases is in the
//!    finding's alias group ([`AliasGraph`]), and one of its products designates the release (then,
//!    if it lists subcomponents, one of them must designate the component) or designates the
//!    component itself (a maintainer's statement about its own package).
//! 2. **Latest per issuer**: an issuer's later statement (statement time, then arrival order)
//!    supersedes its earlier ones.
//! 3. **Weighted vote**: each issuer's status counts with the issuer's trust weight
//!    ([`IssuerTrust`]; weight 0 ignores an issuer). The heaviest status wins if it carries the
//!    policy's minimum weight (else the finding stays `affected`); a tie goes to the more cautious
//!    status (affected > under_investigation > fixed > not_affected), so a tie never hides a
//!    vulnerability.
//! 4. **Conflicts are surfaced**: when counted issuers disagree, the consensus says so and lists
//!    every vote; the finding delta carries that.
//!
//! Pure and deterministic: ordered maps only, no clock.

pub mod aliases;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use trustloop_schemas::{EventTime, VexJustification, VexStatement, VexStatus};

pub use aliases::{AliasGraph, id_key};

use crate::purl::Purl;

/// How much each issuer's statements count (from the policy's `vex` section).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuerTrust {
    /// Weight per issuer name (as the documents write it).
    pub weights: BTreeMap<String, f64>,
    /// Weight of an issuer not listed.
    pub default_weight: f64,
    /// Total weight a status needs to be accepted; below it the finding stays `affected` (the
    /// votes are still reported).
    pub min_weight: f64,
}

impl Default for IssuerTrust {
    fn default() -> Self {
        IssuerTrust { weights: BTreeMap::new(), default_weight: 1.0, min_weight: 0.0 }
    }
}

impl IssuerTrust {
    /// The weight of `issuer`.
    pub fn weight(&self, issuer: &str) -> f64 {
        self.weights.get(issuer).copied().unwrap_or(self.default_weight)
    }
}

/// What a VEX product or subcomponent reference names: a package URL or an opaque product id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ProductRef {
    /// A package URL.
    Purl(Purl),
    /// Any other identifier (a CSAF product id, `name@version`, a CPE, ...).
    Id(String),
}

impl ProductRef {
    /// Reads a reference: a parsable `pkg:` URL is a [`ProductRef::Purl`], anything else an id.
    pub fn parse(s: &str) -> ProductRef {
        let t = s.trim();
        match t.parse::<Purl>() {
            Ok(p) if t.starts_with("pkg:") => ProductRef::Purl(p),
            _ => ProductRef::Id(t.to_string()),
        }
    }

    /// Whether this reference names release `name` at `version`: a purl with that name (or
    /// `namespace/name`) and that version or none; an id `name@version`, `name:version` or `name`.
    pub fn designates_release(&self, name: &str, version: &str) -> bool {
        match self {
            ProductRef::Purl(p) => {
                let full = p.namespace.as_ref().map(|ns| format!("{ns}/{}", p.name));
                (p.name == name || full.as_deref() == Some(name)) && p.version.as_deref().is_none_or(|v| v == version)
            }
            ProductRef::Id(id) => {
                id == name
                    || id
                        .strip_prefix(name)
                        .is_some_and(|rest| rest.strip_prefix('@').or_else(|| rest.strip_prefix(':')) == Some(version))
            }
        }
    }

    /// Whether this reference names the component `purl`.
    pub fn designates_component(&self, purl: &Purl) -> bool {
        matches!(self, ProductRef::Purl(p) if p.designates(purl))
    }
}

/// What a finding is, for VEX purposes.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Release name.
    pub release_name: &'a str,
    /// Release version.
    pub release_version: &'a str,
    /// The component's purl, when it parses.
    pub component: Option<&'a Purl>,
}

/// One issuer's vote in a consensus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    /// The issuer.
    pub issuer: String,
    /// The status of its latest applicable statement.
    pub status: VexStatus,
    /// Its trust weight.
    pub weight: f64,
    /// The statement's event id.
    pub statement_id: String,
}

/// The merged VEX view of one finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Consensus {
    /// The winning status if it carries at least the policy's minimum weight, else `affected`.
    pub status: VexStatus,
    /// Whether the heaviest status carried the minimum weight (else `status` is `affected`).
    pub accepted: bool,
    /// The justification of the heaviest (then latest) winning vote that gives one.
    pub justification: Option<VexJustification>,
    /// Every counted vote, ordered by issuer.
    pub votes: Vec<Vote>,
    /// Whether counted issuers disagree.
    pub conflict: bool,
}

impl Consensus {
    /// Event ids of the counted statements, sorted.
    pub fn statement_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.votes.iter().map(|v| v.statement_id.clone()).collect();
        ids.sort();
        ids
    }

    /// The votes as `issuer=status` strings, in issuer order.
    pub fn vote_strings(&self) -> Vec<String> {
        self.votes.iter().map(|v| format!("{}={}", v.issuer, status_name(v.status))).collect()
    }
}

/// The OpenVEX name of a status.
pub fn status_name(s: VexStatus) -> &'static str {
    match s {
        VexStatus::NotAffected => "not_affected",
        VexStatus::Affected => "affected",
        VexStatus::Fixed => "fixed",
        VexStatus::UnderInvestigation => "under_investigation",
    }
}

/// Tie-break rank: the more cautious status ranks higher.
fn caution(s: VexStatus) -> u8 {
    match s {
        VexStatus::Affected => 3,
        VexStatus::UnderInvestigation => 2,
        VexStatus::Fixed => 1,
        VexStatus::NotAffected => 0,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Stored {
    event_id: String,
    issuer: String,
    time: EventTime,
    /// Id keys this statement is about: its vulnerability and aliases.
    ids: Vec<String>,
    vulnerability: String,
    aliases: Vec<String>,
    products: Vec<ProductRef>,
    subcomponents: Vec<ProductRef>,
    status: VexStatus,
    justification: Option<VexJustification>,
}

impl Stored {
    fn applies_to(&self, s: &Subject<'_>) -> bool {
        let component = |r: &ProductRef| s.component.is_some_and(|c| r.designates_component(c));
        self.products.iter().any(|p| {
            (p.designates_release(s.release_name, s.release_version)
                && (self.subcomponents.is_empty() || self.subcomponents.iter().any(component)))
                || component(p)
        })
    }
}

/// Every VEX statement known so far, indexed by vulnerability id, and the alias graph shared with
/// the advisories.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VexIndex {
    /// Statements by arrival sequence number.
    statements: BTreeMap<u64, Stored>,
    /// Sequence number of each statement event id (a re-sent statement replaces itself).
    by_event_id: BTreeMap<String, u64>,
    /// Statements mentioning each id key (as vulnerability or alias).
    by_id: BTreeMap<String, BTreeSet<u64>>,
    /// Which ids name the same vulnerability.
    aliases: AliasGraph,
    next_seq: u64,
}

impl VexIndex {
    /// The alias graph.
    pub fn aliases(&self) -> &AliasGraph {
        &self.aliases
    }

    /// The alias graph, for the advisories' own alias edges.
    pub fn aliases_mut(&mut self) -> &mut AliasGraph {
        &mut self.aliases
    }

    /// Whether any statement names one of `group`'s ids (a cheap test before a consensus).
    pub fn mentions_any(&self, group: &BTreeSet<String>) -> bool {
        group.iter().any(|k| self.by_id.contains_key(k))
    }

    /// How many statements are held.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    /// Whether no statement is held.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// Adds (or, for a known event id, replaces) a statement. Returns the id keys of every
    /// vulnerability group it touches — before and after, when it replaced one — so the caller can
    /// re-evaluate the findings of those vulnerabilities.
    pub fn insert(&mut self, s: &VexStatement) -> BTreeSet<String> {
        let event_id = s.envelope.event_id.to_string();
        let mut touched = BTreeSet::new();
        let seq = match self.by_event_id.get(&event_id).copied() {
            Some(seq) => {
                if let Some(old) = self.statements.remove(&seq) {
                    touched.extend(self.aliases.group(&old.vulnerability));
                    self.aliases.remove(&old.vulnerability, &old.aliases);
                    for k in &old.ids {
                        if let Some(set) = self.by_id.get_mut(k) {
                            set.remove(&seq);
                            if set.is_empty() {
                                self.by_id.remove(k);
                            }
                        }
                    }
                }
                seq
            }
            None => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.by_event_id.insert(event_id.clone(), seq);
                seq
            }
        };
        let mut ids: Vec<String> = std::iter::once(&s.vulnerability).chain(&s.aliases).map(|i| id_key(i)).collect();
        ids.retain(|i| !i.is_empty());
        ids.sort();
        ids.dedup();
        for k in &ids {
            self.by_id.entry(k.clone()).or_default().insert(seq);
        }
        self.aliases.add(&s.vulnerability, &s.aliases);
        touched.extend(self.aliases.group(&s.vulnerability));
        self.statements.insert(
            seq,
            Stored {
                event_id,
                issuer: s.issuer.clone(),
                time: s.statement_time,
                ids,
                vulnerability: s.vulnerability.clone(),
                aliases: s.aliases.clone(),
                products: s.products.iter().map(|p| ProductRef::parse(p)).collect(),
                subcomponents: s.subcomponents.iter().map(|p| ProductRef::parse(p)).collect(),
                status: s.status,
                justification: s.justification,
            },
        );
        touched
    }

    /// The consensus about `subject` for the vulnerability named by any of `group` (id keys, as
    /// [`AliasGraph::group`] returns them); `None` when no counted statement applies.
    pub fn consensus(&self, group: &BTreeSet<String>, subject: &Subject<'_>, trust: &IssuerTrust) -> Option<Consensus> {
        let mut seqs = BTreeSet::new();
        for k in group {
            if let Some(s) = self.by_id.get(k) {
                seqs.extend(s.iter().copied());
            }
        }
        // Latest applicable statement per issuer: (time, seq) ascending, so later ones overwrite.
        let mut latest: BTreeMap<&str, (&Stored, EventTime, u64)> = BTreeMap::new();
        for seq in seqs {
            let Some(st) = self.statements.get(&seq) else { continue };
            if !st.applies_to(subject) {
                continue;
            }
            let newer = latest.get(st.issuer.as_str()).is_none_or(|(_, t, q)| (st.time, seq) > (*t, *q));
            if newer {
                latest.insert(&st.issuer, (st, st.time, seq));
            }
        }
        let mut votes = Vec::new();
        let mut tally: BTreeMap<u8, (f64, VexStatus)> = BTreeMap::new();
        for (issuer, (st, _, _)) in &latest {
            let weight = trust.weight(issuer);
            if weight.is_nan() || weight <= 0.0 {
                continue;
            }
            let e = tally.entry(caution(st.status)).or_insert((0.0, st.status));
            e.0 += weight;
            votes.push(Vote {
                issuer: issuer.to_string(),
                status: st.status,
                weight,
                statement_id: st.event_id.clone(),
            });
        }
        // Heaviest status; ties to the more cautious (higher rank, iterated last).
        let (_, (weight, winner)) =
            tally.iter().fold(None::<(u8, (f64, VexStatus))>, |best, (rank, (w, s))| match best {
                Some((_, (bw, _))) if bw > *w => best,
                _ => Some((*rank, (*w, *s))),
            })?;
        let accepted = weight >= trust.min_weight;
        let status = if accepted { winner } else { VexStatus::Affected };
        let justification = latest
            .values()
            .filter(|(st, _, _)| st.status == status && st.justification.is_some() && trust.weight(&st.issuer) > 0.0)
            .max_by(|a, b| {
                trust.weight(&a.0.issuer).total_cmp(&trust.weight(&b.0.issuer)).then((a.1, a.2).cmp(&(b.1, b.2)))
            })
            .and_then(|(st, _, _)| st.justification)
            .filter(|_| accepted);
        let conflict = tally.len() > 1;
        Some(Consensus { status, accepted, justification, votes, conflict })
    }
}

#[cfg(test)]
mod tests;
