//! One finding per vulnerability: the findings of a vulnerability's sources merged.
//!
//! Impact selection decides per source advisory; this step turns its per-advisory deltas into
//! per-vulnerability ones (see the module docs of [`crate::findings`] for the rules). A finding's
//! identity is (release, environment, vulnerability, purl), the vulnerability being the name of its
//! sources' alias group ([`group_name`]). Its sources at a (release, purl) are the advisories of
//! the group with an open impact finding there: nothing of the merge is stored, the sources are read
//! back from the impact operator's state whenever a finding is emitted.
//!
//! * **One source** (the group holds one advisory, or the component's package is named by one
//!   advisory of the group: by far the common case): the source's delta passes through with the
//!   vulnerability and its one source filled in, its id unchanged.
//! * **Several**: the deltas of one batch are gathered by finding; each finding touched is emitted
//!   once — `opened` (new or an update) while some source holds, carrying the facts of the first
//!   source in the policy's precedence ([`crate::policy::SourcesPolicy`]), with every source and
//!   what they disagree on; `closed` when the last source let go, listing the sources it had.
//! * **Groups that change** (an alias arrives or goes, an advisory is deleted): every open finding
//!   of each advisory whose group changed is re-emitted under the group's new name, and the findings
//!   under the old name that no source holds any more are closed — deterministically, in the same
//!   batch.
//! * **A member that changes without a delta there** (its severity, its withdrawal, the packages
//!   it names: what the other members' findings list of it as a disagreement): the other members'
//!   open findings at the packages it names are re-emitted with what they disagree on now
//!   ([`Face`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use trustloop_schemas::{
    Advisory, Disagreement, Event, Finding, FindingChange, FindingSource, FindingSources, Text, Texts, derive_event_id,
};

use super::{FindingsState, OpenKey, open_key, set_view};
use crate::impact::fx::FxHashMap;
use crate::impact::{PackageKey, ReleaseKey};
use crate::policy::SourcesPolicy;
use crate::policy::matchers::advisory_source;
use crate::vex::id_key;

/// A vulnerability: the name of an alias group and the advisories in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Vuln {
    /// The group's name ([`group_name`]).
    pub name: Text,
    /// The advisories of the group (ids, ascending).
    pub members: Vec<String>,
    /// The packages several advisories of the group name (ascending): only a finding of one of
    /// them can have several sources, or disagreements.
    pub contested: Vec<PackageKey>,
}

impl Vuln {
    /// Whether the group holds (at most) one advisory: its findings are its advisory's.
    pub(super) fn single(&self) -> bool {
        self.members.len() <= 1
    }

    /// Whether the finding `f` is of a package several advisories of the group name (else it is
    /// its one source's finding).
    pub(super) fn contests(&self, f: &Finding) -> bool {
        !self.contested.is_empty()
            && PackageKey::new(&f.ecosystem, &f.package_name).is_some_and(|k| self.contested.binary_search(&k).is_ok())
    }
}

/// What the findings layer knows of an advisory: its vulnerability, and itself as a source.
#[derive(Debug, Clone)]
pub(super) struct Known {
    /// Its vulnerability.
    pub vuln: Arc<Vuln>,
    /// The vulnerability's name (inline: read for every run of deltas).
    pub name: Text,
    /// Whether each of its findings is its own alone: the group holds one advisory, or no package
    /// is named by several.
    pub alone: bool,
    /// The advisory as a finding's source.
    pub source: FindingSources,
}

impl Known {
    /// An advisory of `vuln`, its source not known yet.
    pub(super) fn new(vuln: Arc<Vuln>) -> Known {
        let mut k = Known { vuln: vuln.clone(), name: Text::from(""), alone: false, source: FindingSources::default() };
        k.set(vuln);
        k
    }

    /// Its vulnerability is `vuln`.
    fn set(&mut self, vuln: Arc<Vuln>) {
        self.name = vuln.name.clone();
        self.alone = vuln.single() || vuln.contested.is_empty();
        self.vuln = vuln;
    }
}

/// What the findings of the other advisories of its group show of an advisory beyond their own
/// deltas: its severity, whether it is withdrawn, and the packages it names (where it disagrees as
/// "not affected" or "withdrawn"). When it changes, those findings are re-emitted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Face {
    severity: Option<String>,
    withdrawn: bool,
    /// The packages it names.
    pub packages: BTreeSet<PackageKey>,
}

impl Face {
    /// The face of `a` (`None`: deleted or not known).
    pub(super) fn of(a: Option<&Advisory>) -> Face {
        let Some(a) = a else { return Face::default() };
        Face {
            severity: a.severity.first().map(|s| s.score.clone()),
            withdrawn: a.withdrawn.is_some(),
            packages: packages_of(a),
        }
    }
}

/// The packages `a` names.
fn packages_of(a: &Advisory) -> BTreeSet<PackageKey> {
    a.affected.iter().filter_map(|x| PackageKey::new(&x.package.ecosystem, &x.package.name)).collect()
}

/// The name of the alias group `group` (id keys): its lowest CVE id, else its lowest id (in byte
/// order of the upper-cased ids), spelled as the first of `spellings` with that key spells it.
///
/// A CVE names the vulnerability wherever one is known, so the name does not move when another
/// source (a GHSA, a distribution advisory) joins the group; it moves only when the group gains its
/// first (or a lower) CVE or loses the one it was named by, and then the finding is re-keyed.
pub(super) fn group_name<'a>(group: &BTreeSet<String>, spellings: impl IntoIterator<Item = &'a str>) -> Text {
    let Some(key) = group.iter().find(|k| k.starts_with("CVE-")).or_else(|| group.iter().next()) else {
        return Text::from("");
    };
    let spelled = spellings.into_iter().find(|s| id_key(s) == *key);
    Text::from(spelled.unwrap_or(key))
}

/// Advisory `a` as a finding's source: its database (the id's prefix), its id, the document it was
/// published in (a CSAF advisory's `database_specific.document_id`, else its id), when it was
/// modified, and the digest of the document (a CSAF advisory's `document_digest`, else the SHA-256
/// of the advisory event's canonical encoding).
pub(super) fn source_of(a: &Advisory) -> FindingSource {
    let db: Option<serde_json::Value> = a.database_specific.as_deref().and_then(|d| serde_json::from_str(d).ok());
    let field = |k: &str| db.as_ref().and_then(|v| v.get(k)).and_then(serde_json::Value::as_str).map(Text::from);
    let digest = field("document_digest").unwrap_or_else(|| {
        let digest = trustloop_schemas::canonical_digest(&Event::Advisory(a.clone()));
        Text::from(format!("sha256:{}", hex::encode(digest)))
    });
    FindingSource {
        source: Text::from(advisory_source(&a.id)),
        advisory_id: Text::from(a.id.as_str()),
        document_id: field("document_id").unwrap_or_else(|| Text::from(a.id.as_str())),
        modified: a.modified,
        digest: Some(digest),
    }
}

/// The policy's source precedence when the tenant applied none (the built-in order).
fn builtin_precedence() -> &'static SourcesPolicy {
    static BUILTIN: std::sync::OnceLock<SourcesPolicy> = std::sync::OnceLock::new();
    BUILTIN.get_or_init(|| crate::policy::default_policy().sources)
}

/// A finding touched by a batch of several sources' deltas.
struct Slot {
    tenant: Text,
    name: Text,
    key: OpenKey,
    /// The advisories that may hold it: the members of its group, before and after the batch.
    members: Vec<String>,
    /// Findings of sources that held it before the batch and let go (closing deltas, or findings
    /// under a name the group no longer has).
    was: Vec<Finding>,
    /// Findings of sources that hold it after the batch.
    now: Vec<Finding>,
}

/// An output in the making: a delta that passed through, or a finding to resolve. (Unboxed: every
/// delta of the common single-source case moves through one, and boxing would allocate for each.)
#[allow(clippy::large_enum_variant)]
enum Out {
    Done(Finding),
    Slot(usize),
}

impl FindingsState {
    /// The vulnerability of the advisory `id` (a group of its own when it is not known).
    pub(super) fn vuln_of(&self, id: &str) -> Arc<Vuln> {
        self.vulns.get(id).map(|k| k.vuln.clone()).unwrap_or_else(|| {
            Arc::new(Vuln { name: Text::from(id), members: vec![id.to_string()], contested: Vec::new() })
        })
    }

    /// Recomputes the vulnerability of the advisories in the groups of `ids` (id keys), `current`
    /// being the version of an advisory the impact operator has not applied yet; returns those
    /// whose vulnerability changed, with the one they had (`None`: new).
    pub(super) fn refresh_vulns(
        &mut self,
        ids: &BTreeSet<String>,
        current: Option<&Advisory>,
    ) -> Vec<(String, Option<Arc<Vuln>>)> {
        let mut keys: BTreeSet<String> = BTreeSet::new();
        for id in ids {
            if !keys.contains(id) {
                keys.extend(self.vex.aliases().group(id));
            }
        }
        let advisories: BTreeSet<String> =
            keys.iter().filter_map(|k| self.by_key.get(k)).flat_map(|set| set.iter().cloned()).collect();
        let mut changed = Vec::new();
        for advisory in advisories {
            let group = self.vex.aliases().group(&advisory);
            let members: BTreeSet<String> =
                group.iter().filter_map(|k| self.by_key.get(k)).flat_map(|set| set.iter().cloned()).collect();
            let spellings = members.iter().flat_map(|m| {
                std::iter::once(m.as_str()).chain(self.advisories.get(m).into_iter().flatten().map(String::as_str))
            });
            let mut contested = Vec::new();
            if members.len() > 1 {
                let mut seen: BTreeMap<PackageKey, usize> = BTreeMap::new();
                for m in &members {
                    let advisory = match current {
                        Some(a) if a.id == *m => Some(a),
                        _ => self.impact.advisory(m),
                    };
                    for p in advisory.map(packages_of).unwrap_or_default() {
                        *seen.entry(p).or_default() += 1;
                    }
                }
                contested = seen.into_iter().filter(|(_, n)| *n > 1).map(|(p, _)| p).collect();
            }
            let now = Vuln { name: group_name(&group, spellings), members: members.into_iter().collect(), contested };
            if self.vulns.get(&advisory).is_some_and(|k| *k.vuln == now) {
                continue;
            }
            let now = Arc::new(now);
            let before = match self.vulns.get_mut(&advisory) {
                Some(k) => {
                    let before = k.vuln.clone();
                    k.set(now);
                    Some(before)
                }
                None => {
                    self.vulns.insert(advisory.clone(), Known::new(now));
                    None
                }
            };
            changed.push((advisory, before));
        }
        changed
    }

    /// The open findings (before the batch) of the advisories whose vulnerability changed, under
    /// the vulnerability they had: what may have to close.
    pub(super) fn findings_before(
        &self,
        changed: &[(String, Option<Arc<Vuln>>)],
        cause: &trustloop_schemas::Envelope,
    ) -> Vec<(Arc<Vuln>, Finding)> {
        let mut out = Vec::new();
        for (advisory, before) in changed {
            let Some(before) = before else { continue };
            for mut f in self.impact.open_finding_events_of(advisory, cause) {
                if let Some(v) = self.views.get(advisory).and_then(|m| m.get(&open_key(&f))) {
                    v.apply_to(&mut f);
                }
                self.intel_into(&mut f);
                out.push((before.clone(), f));
            }
        }
        out
    }

    /// The open findings (after the batch) of `advisories`, completed: what must be re-emitted
    /// under their vulnerability's current name and sources.
    pub(super) fn findings_after<'a>(
        &self,
        advisories: impl IntoIterator<Item = &'a String>,
        cause: &trustloop_schemas::Envelope,
    ) -> Vec<Finding> {
        let mut out = Vec::new();
        for advisory in advisories {
            if !self.advisories.contains_key(advisory) {
                continue;
            }
            let group = if self.vex.is_empty() { BTreeSet::new() } else { self.vex.aliases().group(advisory) };
            for mut f in self.impact.open_finding_events_of(advisory, cause) {
                let tenant = f.envelope.tenant.clone();
                self.view_into(&mut f, &group, self.trust_for(&tenant));
                self.intel_into(&mut f);
                out.push(f);
            }
        }
        out
    }

    /// Turns sources' deltas into vulnerabilities' (see the module docs): `deltas` are completed
    /// deltas of sources (after the batch), `before` the findings of sources whose vulnerability
    /// changed as they were before it, `rekeyed` the advisories whose vulnerability changed.
    pub(super) fn merge(
        &self,
        mut deltas: Vec<Finding>,
        before: Vec<(Arc<Vuln>, Finding)>,
        rekeyed: &BTreeSet<String>,
    ) -> Vec<Finding> {
        if before.is_empty() && self.pass_through(&mut deltas, rekeyed) {
            return deltas;
        }
        let mut out: Vec<Out> = Vec::with_capacity(deltas.len());
        let mut slots: Vec<Slot> = Vec::new();
        let mut index: FxHashMap<(Text, Text, OpenKey), usize> = FxHashMap::default();
        let mut slot_of = |slots: &mut Vec<Slot>, out: &mut Vec<Out>, vuln: &Vuln, f: &Finding| -> usize {
            let id = (f.envelope.tenant.clone(), vuln.name.clone(), open_key(f));
            let at = *index.entry(id).or_insert_with_key(|(tenant, name, key)| {
                slots.push(Slot {
                    tenant: tenant.clone(),
                    name: name.clone(),
                    key: key.clone(),
                    members: Vec::new(),
                    was: Vec::new(),
                    now: Vec::new(),
                });
                out.push(Out::Slot(slots.len() - 1));
                slots.len() - 1
            });
            let members = &mut slots[at].members;
            for m in &vuln.members {
                if !members.contains(m) {
                    members.push(m.clone());
                }
            }
            at
        };
        for (vuln, f) in before {
            let at = slot_of(&mut slots, &mut out, &vuln, &f);
            slots[at].was.push(f);
        }
        // Deltas come in runs of one advisory: look its vulnerability up once per run.
        let mut run: Option<(Text, Option<&Known>)> = None;
        for mut f in deltas {
            if run.as_ref().is_none_or(|(id, _)| *id != f.advisory_id) {
                run = Some((f.advisory_id.clone(), self.vulns.get(&*f.advisory_id)));
            }
            let known = run.as_ref().and_then(|(_, k)| *k);
            let rekeyed_here = rekeyed.contains(&*f.advisory_id);
            if let Some(k) = known.filter(|k| (k.alone || !k.vuln.contests(&f)) && !rekeyed_here) {
                f.vulnerability_id = k.name.clone();
                f.sources = k.source.clone();
                out.push(Out::Done(f));
                continue;
            }
            if known.is_none() && !rekeyed_here {
                // Not an advisory the layer knows (cannot happen through `apply_event`): its own.
                f.vulnerability_id = f.advisory_id.clone();
                out.push(Out::Done(f));
                continue;
            }
            if f.change == FindingChange::Closed && rekeyed_here {
                // Open under the name its group had: `before` holds it, under that name.
                continue;
            }
            let vuln = known.map_or_else(|| self.vuln_of(&f.advisory_id), |k| k.vuln.clone());
            let at = slot_of(&mut slots, &mut out, &vuln, &f);
            match f.change {
                FindingChange::Opened => slots[at].now.push(f),
                FindingChange::Closed => slots[at].was.push(f),
            }
        }
        if slots.is_empty() {
            return out.into_iter().filter_map(|o| if let Out::Done(f) = o { Some(f) } else { None }).collect();
        }
        let mut resolved: Vec<Option<Finding>> = slots.into_iter().map(|s| self.resolve(s)).collect();
        out.into_iter()
            .filter_map(|o| match o {
                Out::Done(f) => Some(f),
                Out::Slot(i) => resolved[i].take(),
            })
            .collect()
    }

    /// The common case, in place: when every delta is its one source's finding, fills in their
    /// vulnerability and source and returns true (else false, some of them filled in).
    fn pass_through(&self, deltas: &mut [Finding], rekeyed: &BTreeSet<String>) -> bool {
        // Deltas come in runs of one advisory: look its vulnerability up once per run.
        let mut run: Option<(Text, Option<&Known>)> = None;
        for f in deltas {
            if run.as_ref().is_none_or(|(id, _)| *id != f.advisory_id) {
                run = Some((f.advisory_id.clone(), self.vulns.get(&*f.advisory_id)));
            }
            let Some((_, Some(known))) = &run else { return false };
            if (!known.alone && known.vuln.contests(f)) || rekeyed.contains(&*f.advisory_id) {
                return false;
            }
            f.vulnerability_id = known.name.clone();
            f.sources = known.source.clone();
        }
        true
    }

    /// The precedence of the sources of a finding of `tenant`'s.
    fn precedence(&self, tenant: &str) -> &SourcesPolicy {
        match self.policies.get(tenant) {
            Some(p) => &p.doc.sources,
            None => builtin_precedence(),
        }
    }

    /// Sorts advisory ids by the precedence of their sources for a component of `ecosystem`.
    fn by_precedence<T>(&self, tenant: &str, ecosystem: &str, items: &mut [T], id: impl Fn(&T) -> &str) {
        let policy = self.precedence(tenant);
        items.sort_by_cached_key(|x| {
            let id = id(x);
            (policy.rank(ecosystem, advisory_source(id)), id_key(id), id.to_string())
        });
    }

    /// The delta of a finding several sources may hold, if any.
    fn resolve(&self, mut slot: Slot) -> Option<Finding> {
        let release =
            ReleaseKey { name: slot.key.0.clone(), version: slot.key.1.clone(), environment: slot.key.2.clone() };
        let purl = &slot.key.3;
        // The sources that hold it now: members named as it is, with an open finding here.
        let mut holding: Vec<&str> = slot
            .members
            .iter()
            .filter(|m| self.vulns.get(*m).is_some_and(|k| k.name == slot.name))
            .filter(|m| self.impact.open_finding(m, &release, purl).is_some())
            .map(String::as_str)
            .collect();
        let sample = slot.now.first().or(slot.was.first())?;
        let ecosystem = sample.ecosystem.clone();
        self.by_precedence(&slot.tenant, &ecosystem, &mut holding, |m| m);
        let mut f = if let Some(&primary) = holding.first() {
            let mut f = match slot.now.iter().position(|f| *f.advisory_id == *primary) {
                Some(i) => slot.now.swap_remove(i),
                None => {
                    let mut f = slot.now.first().or(slot.was.first())?.clone();
                    if slot.now.is_empty() {
                        // A source's finding from before the batch: its view is the group's now.
                        if self.vex.is_empty() {
                            set_view(&mut f, None);
                        } else {
                            let group = self.vex.aliases().group(primary);
                            self.view_into(&mut f, &group, self.trust_for(&slot.tenant));
                        }
                    }
                    self.carry_source(&mut f, primary, &release);
                    f
                }
            };
            f.change = FindingChange::Opened;
            self.carry_all(&mut f, &holding);
            f.disagreements = self.disagreements(&slot, &release, &holding, &f);
            f
        } else {
            // Closed: the sources it had, the first of them carrying it.
            if slot.was.is_empty() {
                return None;
            }
            self.by_precedence(&slot.tenant, &ecosystem, &mut slot.was, |f| &f.advisory_id);
            let mut had: Vec<FindingSource> = Vec::new();
            for w in &slot.was {
                for s in self.sources_of(&w.advisory_id) {
                    if !had.iter().any(|h| h.advisory_id == s.advisory_id) {
                        had.push(s.clone());
                    }
                }
            }
            let mut f = slot.was.swap_remove(0);
            f.change = FindingChange::Closed;
            f.sources = had.into();
            f.disagreements = Default::default();
            f
        };
        f.vulnerability_id = slot.name.clone();
        let change: &[u8] = if f.change == FindingChange::Opened { b"opened" } else { b"closed" };
        f.envelope.event_id = derive_event_id(
            "finding-vulnerability",
            &[
                f.cause_event_id.as_bytes(),
                slot.key.0.as_bytes(),
                slot.key.1.as_bytes(),
                slot.key.2.as_deref().unwrap_or("").as_bytes(),
                slot.name.as_bytes(),
                slot.key.3.as_bytes(),
                change,
            ],
        );
        Some(f)
    }

    /// The source records of the advisory `id` (its own, as its last upsert gave it).
    fn sources_of(&self, id: &str) -> &[FindingSource] {
        self.vulns.get(id).map_or(&[], |k| &*k.source)
    }

    /// Makes `f` carry what the advisory `primary` says about it (its id, aliases, severity, proof,
    /// fixed versions, CWE ids), as its open finding on `release` holds it.
    fn carry_source(&self, f: &mut Finding, primary: &str, release: &ReleaseKey) {
        let Some(open) = self.impact.open_finding(primary, release, &f.purl) else { return };
        let advisory = self.impact.advisory(primary);
        f.advisory_id = Text::from(primary);
        f.aliases = advisory.map(|a| a.aliases.iter().map(|s| Text::from(s.as_str())).collect()).unwrap_or_default();
        f.severity = advisory.and_then(|a| a.severity.first()).map(|s| Text::from(s.score.as_str()));
        f.matched = open.matched.clone();
        f.fixed_versions = open.fixed.clone();
        f.distro_release = open.distro_release.clone();
        f.release_unknown = open.release_unknown;
        f.known_exploited = advisory.is_some_and(|a| a.known_exploited);
        let cwes = crate::impact::cwes::cwes_of(advisory.and_then(|a| a.database_specific.as_deref()));
        f.cwes = cwes.iter().map(|c| Text::from(c.as_str())).collect();
        f.cves = Texts::default();
        f.exploited_ids = Texts::default();
        self.intel_into(f);
    }

    /// What a finding held by several sources carries of all of them: each source, every id the
    /// sources give (as aliases, after the first source's own), the CWE ids, the CVEs and the
    /// catalog-listed ones of any, known exploited if any says so, the highest EPSS score among
    /// their CVEs.
    fn carry_all(&self, f: &mut Finding, holding: &[&str]) {
        f.sources = holding.iter().flat_map(|m| self.sources_of(m).iter().cloned()).collect();
        if holding.len() < 2 {
            return;
        }
        let mut aliases: Vec<Text> = f.aliases.to_vec();
        let mut cwes: Vec<String> = f.cwes.iter().map(|c| c.to_string()).collect();
        let mut cves: BTreeSet<Text> = f.cves.iter().cloned().collect();
        let mut exploited: BTreeSet<Text> = f.exploited_ids.iter().cloned().collect();
        for m in holding.iter().filter(|m| ***m != *f.advisory_id) {
            let advisory = self.impact.advisory(m);
            let ids =
                std::iter::once(*m).chain(advisory.into_iter().flat_map(|a| a.aliases.iter().map(String::as_str)));
            for id in ids {
                if id_key(id) != id_key(&f.advisory_id) && !aliases.iter().any(|a| id_key(a) == id_key(id)) {
                    aliases.push(Text::from(id));
                }
            }
            f.known_exploited |= advisory.is_some_and(|a| a.known_exploited);
            cwes.extend(crate::impact::cwes::cwes_of(advisory.and_then(|a| a.database_specific.as_deref())));
            if let Some(intel) = self.intel_of.get(*m) {
                cves.extend(intel.cves.iter().cloned());
                exploited.extend(intel.exploited.iter().cloned());
            }
        }
        cwes.sort_by_cached_key(|c| (crate::policy::Cwe::parse(c), c.clone()));
        cwes.dedup();
        f.aliases = aliases.into();
        f.cwes = cwes.iter().map(|c| Text::from(c.as_str())).collect();
        f.cves = cves.into_iter().collect();
        f.exploited_ids = exploited.into_iter().collect();
        f.known_exploited |= !f.exploited_ids.is_empty();
        let epss = self.intel.epss(&f.cves).map(|(_, s)| (s.epss, s.percentile));
        f.epss = epss.map(|e| e.0);
        f.epss_percentile = epss.map(|e| e.1);
    }

    /// What the sources of a finding disagree on: severity and fixed versions among those that
    /// hold it; which versions are affected (members of the group that name the package but do not
    /// hold it), and withdrawals (members that name it and were withdrawn). Values in precedence
    /// order, `advisory=value`.
    fn disagreements(
        &self,
        slot: &Slot,
        release: &ReleaseKey,
        holding: &[&str],
        f: &Finding,
    ) -> trustloop_schemas::Disagreements {
        let mut out: Vec<Disagreement> = Vec::new();
        let package = PackageKey::new(&f.ecosystem, &f.package_name);
        let names_package = |a: &Advisory| {
            package.is_some()
                && a.affected.iter().any(|x| PackageKey::new(&x.package.ecosystem, &x.package.name) == package)
        };
        // The members that name the package but do not hold the finding.
        let mut others: Vec<(&str, bool)> = slot
            .members
            .iter()
            .filter(|m| !holding.contains(&m.as_str()))
            .filter(|m| self.vulns.get(*m).is_some_and(|k| k.name == slot.name))
            .filter_map(|m| {
                self.impact.advisory(m).filter(|a| names_package(a)).map(|a| (m.as_str(), a.withdrawn.is_some()))
            })
            .collect();
        self.by_precedence(&slot.tenant, &f.ecosystem, &mut others, |(m, _)| m);
        let mut field = |name: &str, values: Vec<String>| {
            if values.len() > 1
                && values.iter().map(|v| v.split_once('=').map_or("", |x| x.1)).collect::<BTreeSet<_>>().len() > 1
            {
                out.push(Disagreement {
                    field: Text::from(name),
                    values: values.iter().map(|v| Text::from(v.as_str())).collect(),
                });
            }
        };
        if holding.len() > 1 {
            let severity = holding
                .iter()
                .map(|m| {
                    let s =
                        self.impact.advisory(m).and_then(|a| a.severity.first()).map_or("none", |s| s.score.as_str());
                    format!("{m}={s}")
                })
                .collect();
            field("severity", severity);
            let fixed = holding
                .iter()
                .map(|m| {
                    let fixed =
                        self.impact.open_finding(m, release, &f.purl).map(|o| o.fixed.join(",")).unwrap_or_default();
                    format!("{m}={}", if fixed.is_empty() { "none" } else { &fixed })
                })
                .collect();
            field("fixed_versions", fixed);
        }
        let (withdrawn, not_affected): (Vec<_>, Vec<_>) = others.iter().partition(|(_, w)| *w);
        if !not_affected.is_empty() {
            let values = holding
                .iter()
                .map(|m| format!("{m}=affected"))
                .chain(not_affected.iter().map(|(m, _)| format!("{m}=not affected")))
                .collect();
            field("ranges", values);
        }
        if !withdrawn.is_empty() {
            let values = holding
                .iter()
                .map(|m| format!("{m}=published"))
                .chain(withdrawn.iter().map(|(m, _)| format!("{m}=withdrawn")))
                .collect();
            field("withdrawn", values);
        }
        out.into()
    }
}
