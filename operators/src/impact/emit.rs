//! Building `Finding` deltas: the event's id derives from the causing event and the finding's key.

use trustloop_schemas::{Advisory, Envelope, EventIdPrefix, EventType, Finding, FindingChange, Match, VexStatus};

use super::tables::{AdvisoryEntry, ComponentEntry, PackageId, ReleaseEntry};

/// The event that caused a batch of deltas.
pub(super) struct Cause<'a> {
    envelope: &'a Envelope,
    id: String,
    /// The ids of its findings, hashed as far as the cause.
    ids: EventIdPrefix,
}

impl<'a> Cause<'a> {
    /// The cause `envelope`.
    pub fn new(envelope: &'a Envelope) -> Cause<'a> {
        let id = envelope.event_id.to_string();
        Cause { envelope, ids: EventIdPrefix::new("finding", &[id.as_bytes()]), id }
    }
}

/// The advisory side of a finding — its id, aliases and severity (none once deleted) — in one
/// buffer, as every finding of the advisory copies them.
#[derive(Debug, Clone)]
pub(super) struct Subject {
    /// The id, each alias, then the severity if any, one after the other.
    text: Box<str>,
    /// Where each part ends in `text`.
    ends: Box<[usize]>,
    /// Whether the last part is the severity.
    severity: bool,
}

impl Subject {
    /// The subject `id`, currently `advisory` (`None` once deleted).
    pub fn new(id: &str, advisory: Option<&Advisory>) -> Subject {
        let aliases = advisory.map_or(&[][..], |a| &a.aliases);
        let severity = advisory.and_then(|a| a.severity.first()).map(|s| s.score.as_str());
        let parts = std::iter::once(id).chain(aliases.iter().map(String::as_str)).chain(severity);
        let mut text = String::new();
        let mut ends = Vec::with_capacity(aliases.len() + 2);
        for part in parts {
            text.push_str(part);
            ends.push(text.len());
        }
        Subject { text: text.into(), ends: ends.into(), severity: severity.is_some() }
    }

    fn part(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends.get(i - 1).copied().unwrap_or(0) };
        let end = self.ends.get(i).copied().unwrap_or(start);
        self.text.get(start..end).unwrap_or_default()
    }

    /// The advisory id.
    pub fn id(&self) -> &str {
        self.part(0)
    }

    fn aliases(&self) -> impl ExactSizeIterator<Item = &str> {
        let n = self.ends.len() - 1 - usize::from(self.severity);
        (1..n + 1).map(|i| self.part(i))
    }

    fn severity(&self) -> Option<&str> {
        self.severity.then(|| self.part(self.ends.len() - 1))
    }
}

/// What an advisory says beyond whether a version is affected, as every finding of it carries it:
/// whether it is known to be exploited, and the versions that fix each package it names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Facts {
    /// Known to be exploited (e.g. listed in CISA KEV).
    pub known_exploited: bool,
    /// The `fixed` versions of each package that has some, in the order the advisory gives them
    /// (ascending by package).
    fixed: Vec<(PackageId, Vec<String>)>,
}

impl Facts {
    /// The facts of `advisory`, whose `affected` entries name the packages `packages` (one per entry,
    /// `None` for an ecosystem trustloop does not order).
    pub fn new(advisory: &Advisory, packages: &[Option<PackageId>]) -> Facts {
        let mut fixed: Vec<(PackageId, Vec<String>)> = Vec::new();
        for (x, p) in advisory.affected.iter().zip(packages) {
            let Some(p) = *p else { continue };
            let at = match fixed.iter().position(|(q, _)| *q == p) {
                Some(at) => at,
                None => {
                    fixed.push((p, Vec::new()));
                    fixed.len() - 1
                }
            };
            let list = &mut fixed[at].1;
            for f in x.ranges.iter().flat_map(|r| &r.events).filter_map(|e| e.fixed.as_ref()) {
                if !list.contains(f) {
                    list.push(f.clone());
                }
            }
        }
        fixed.retain(|(_, list)| !list.is_empty());
        fixed.sort_unstable_by_key(|(p, _)| *p);
        Facts { known_exploited: advisory.known_exploited, fixed }
    }

    /// The versions that fix `package`.
    pub fn fixed_of(&self, package: Option<PackageId>) -> &[String] {
        let Some(p) = package else { return &[] };
        self.fixed.binary_search_by_key(&p, |(q, _)| *q).map_or(&[], |at| &self.fixed[at].1)
    }
}

/// One delta: the finding's parts and the change.
#[inline]
pub(super) fn finding(
    cause: &Cause<'_>,
    release: &ReleaseEntry,
    advisory: &AdvisoryEntry,
    component: &ComponentEntry,
    purl: &str,
    change: FindingChange,
    matched: &Match,
) -> Finding {
    let (subject, facts) = (&advisory.subject, &advisory.facts);
    let change_tag: &[u8] = if change == FindingChange::Opened { b"opened" } else { b"closed" };
    Finding {
        envelope: Envelope {
            event_id: cause.ids.derive(&[
                release.name().as_bytes(),
                release.version().as_bytes(),
                release.environment().unwrap_or("").as_bytes(),
                subject.id().as_bytes(),
                purl.as_bytes(),
                change_tag,
            ]),
            tenant: cause.envelope.tenant.clone(),
            key: release.label().to_string(),
            event_time: cause.envelope.event_time,
            source: "trustloop.impact".into(),
            schema_version: EventType::Finding.schema_version(),
        },
        change,
        release_name: release.name().to_string(),
        release_version: release.version().to_string(),
        environment: release.environment().map(str::to_string),
        advisory_id: subject.id().to_string(),
        aliases: subject.aliases().map(str::to_string).collect(),
        purl: purl.to_string(),
        ecosystem: component.ecosystem().to_string(),
        package_name: component.name().to_string(),
        package_version: component.version().to_string(),
        vex_status: VexStatus::Affected,
        severity: subject.severity().map(str::to_string),
        matched: matched.clone(),
        vex_statement_ids: Vec::new(),
        cause_event_id: cause.id.clone(),
        vex_justification: None,
        vex_conflict: false,
        vex_votes: Vec::new(),
        known_exploited: facts.known_exploited,
        fixed_versions: facts.fixed_of(component.package).to_vec(),
    }
}
