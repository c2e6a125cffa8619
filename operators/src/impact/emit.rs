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

/// The advisory side of a finding: its id, aliases and severity (none once deleted).
pub(super) struct Subject<'a> {
    id: &'a str,
    aliases: &'a [String],
    severity: Option<&'a str>,
}

impl<'a> Subject<'a> {
    /// The subject `id`, currently `advisory` (`None` once deleted).
    pub fn new(id: &'a str, advisory: Option<&'a Advisory>) -> Subject<'a> {
        Subject {
            id,
            aliases: advisory.map_or(&[], |a| &a.aliases),
            severity: advisory.and_then(|a| a.severity.first()).map(|s| s.score.as_str()),
        }
    }
}

/// One delta: the finding's parts and the change.
#[inline]
pub(super) fn finding(
    cause: &Cause<'_>,
    release: &ReleaseEntry,
    subject: &Subject<'_>,
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
                    subject.id.as_bytes(),
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
        advisory_id: subject.id.to_string(),
        aliases: subject.aliases.to_vec(),
        purl: purl.to_string(),
        ecosystem: component.ecosystem.clone(),
        package_name: component.name.clone(),
        package_version: component.version.clone(),
        vex_status: VexStatus::Affected,
        severity: subject.severity.map(str::to_string),
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
