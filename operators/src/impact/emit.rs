//! Building `Finding` deltas: the event's id derives from the causing event and the finding's key.

use trustloop_schemas::{Advisory, Envelope, EventType, Finding, FindingChange, Match, VexStatus, derive_event_id};

use super::tables::{ComponentEntry, ReleaseEntry};

/// The event that caused a batch of deltas.
pub(super) struct Cause<'a> {
    envelope: &'a Envelope,
    id: String,
}

impl<'a> Cause<'a> {
    /// The cause `envelope`.
    pub fn new(envelope: &'a Envelope) -> Cause<'a> {
        Cause { envelope, id: envelope.event_id.to_string() }
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

/// One delta: the finding's parts and the change.
#[inline]
pub(super) fn finding(
    cause: &Cause<'_>,
    release: &ReleaseEntry,
    subject: &Subject,
    component: &ComponentEntry,
    purl: &str,
    change: FindingChange,
    matched: &Match,
) -> Finding {
    let change_tag: &[u8] = if change == FindingChange::Opened { b"opened" } else { b"closed" };
    Finding {
        envelope: Envelope {
            event_id: derive_event_id(
                "finding",
                &[
                    cause.id.as_bytes(),
                    release.name().as_bytes(),
                    release.version().as_bytes(),
                    release.environment().unwrap_or("").as_bytes(),
                    subject.id().as_bytes(),
                    purl.as_bytes(),
                    change_tag,
                ],
            ),
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
        known_exploited: false,
        fixed_versions: Vec::new(),
    }
}
