//! Building `Finding` deltas: the event's id derives from the causing event and the finding's key.

use trustloop_schemas::{Advisory, Envelope, EventIdPrefix, EventType, Finding, FindingChange, Text, Texts, VexStatus};

use super::OpenFinding;
use super::tables::{AdvisoryEntry, ComponentEntry, PackageId, ReleaseEntry};
use crate::versions::distro::{DistroRelease, ReleaseMatch, osv_release, release_applies};

/// The event that caused a batch of deltas.
pub(super) struct Cause<'a> {
    envelope: &'a Envelope,
    id: Text,
    /// The findings' `source`.
    source: Text,
    /// The ids of its findings, hashed as far as the cause.
    ids: EventIdPrefix,
}

impl<'a> Cause<'a> {
    /// The cause `envelope`.
    pub(super) fn new(envelope: &'a Envelope) -> Cause<'a> {
        let id = envelope.event_id.to_string();
        Cause {
            envelope,
            ids: EventIdPrefix::new("finding", &[id.as_bytes()]),
            id: id.into(),
            source: Text::from("trustloop.impact"),
        }
    }

    /// The ids of its findings, hashed as far as the cause.
    pub(super) fn ids(&self) -> Ids<'_> {
        Ids { prefix: &self.ids, hashed: 0 }
    }
}

/// The ids of a batch of findings with their leading inputs hashed once: a finding's id hashes the
/// cause, then release name, version and environment, advisory id, purl and change, in that order
/// (see [`finding`]); a batch whose findings share the release, or the release and the advisory,
/// hashes those once ([`Ids::release`], [`Ids::advisory`]) and derives the same ids.
#[derive(Debug, Clone)]
pub(super) struct Ids<'p> {
    prefix: &'p EventIdPrefix,
    /// How many of the finding's own inputs `prefix` has hashed already.
    hashed: usize,
}

impl Ids<'_> {
    /// The prefix of the findings of `release` (from the cause's).
    pub(super) fn release(&self, release: &ReleaseEntry) -> EventIdPrefix {
        debug_assert_eq!(self.hashed, 0, "the release follows the cause");
        self.prefix.then(&release_inputs(release))
    }

    /// The prefix of the findings of `release` and `advisory`, from `release`'s prefix.
    pub(super) fn advisory(release: &EventIdPrefix, advisory: &AdvisoryEntry) -> EventIdPrefix {
        release.then(&[advisory.subject.id().as_bytes()])
    }
}

/// `prefix` as the ids of findings of one release and advisory ([`Ids::advisory`]).
pub(super) fn of_advisory(prefix: &EventIdPrefix) -> Ids<'_> {
    Ids { prefix, hashed: 4 }
}

/// A release's part of its findings' ids: name, version, environment.
fn release_inputs(release: &ReleaseEntry) -> [&[u8]; 3] {
    [release.name().as_bytes(), release.version().as_bytes(), release.environment().unwrap_or("").as_bytes()]
}

/// The advisory side of a finding — its id, aliases and severity (none once deleted) — shared by
/// every finding of the advisory.
#[derive(Debug, Clone)]
pub(super) struct Subject {
    id: Text,
    aliases: Texts,
    severity: Option<Text>,
}

impl Subject {
    /// The subject `id`, currently `advisory` (`None` once deleted).
    pub(super) fn new(id: &Text, advisory: Option<&Advisory>) -> Subject {
        let aliases = advisory.map_or(&[][..], |a| &a.aliases);
        Subject {
            id: id.clone(),
            aliases: aliases.iter().map(|a| Text::from(a.as_str())).collect(),
            severity: advisory.and_then(|a| a.severity.first()).map(|s| Text::from(s.score.as_str())),
        }
    }

    /// The advisory id.
    pub(super) fn id(&self) -> &str {
        &self.id
    }
}

/// What an advisory says beyond whether a version is affected, as every finding of it carries it:
/// whether it is known to be exploited, and the versions that fix each package it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Facts {
    /// Known to be exploited (e.g. listed in CISA KEV).
    pub known_exploited: bool,
    /// The `fixed` versions of each package that has some (ascending by package).
    fixed: Vec<(PackageId, Fixed)>,
    /// No versions (shared by the findings of packages without a fix).
    none: Texts,
    /// The weaknesses it names (CWE ids, [`super::cwes::cwes_of`]).
    pub cwes: Texts,
}

/// The `fixed` versions of one package, in the order the advisory gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fixed {
    /// Of every entry naming the package.
    all: Texts,
    /// When some entry naming it is scoped to a distribution release: per release.
    scoped: Option<Box<Scoped>>,
}

/// The `fixed` versions of a package some of whose entries are scoped to distribution releases.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Scoped {
    /// Of the entries not scoped to a release.
    bare: Texts,
    /// For each release some entry is scoped to (ascending): of the entries not scoped, and of
    /// those scoped to that release.
    by_release: Vec<(DistroRelease, Texts)>,
}

impl Default for Facts {
    fn default() -> Facts {
        Facts { known_exploited: false, fixed: Vec::new(), none: Texts::from(Vec::new()), cwes: Texts::default() }
    }
}

/// The `fixed` versions of `entries` (in order, each once), as shared text.
fn fixed_versions<'a>(entries: impl Iterator<Item = &'a trustloop_schemas::Affected>) -> Texts {
    let mut list: Vec<&String> = Vec::new();
    for f in entries.flat_map(|x| &x.ranges).flat_map(|r| &r.events).filter_map(|e| e.fixed.as_ref()) {
        if !list.contains(&f) {
            list.push(f);
        }
    }
    list.into_iter().map(|f| Text::from(f.as_str())).collect()
}

impl Facts {
    /// The facts of `advisory`, whose `affected` entries name the packages `packages` (one per entry,
    /// `None` for an ecosystem trustloop does not order).
    pub(super) fn new(advisory: &Advisory, packages: &[Option<PackageId>]) -> Facts {
        let releases: Vec<Option<DistroRelease>> =
            advisory.affected.iter().map(|x| osv_release(&x.package.ecosystem)).collect();
        let mut ids: Vec<PackageId> = packages.iter().flatten().copied().collect();
        ids.sort_unstable();
        ids.dedup();
        let mut fixed = Vec::new();
        for p in ids {
            // The entries naming `p`, with their releases.
            let of = || advisory.affected.iter().zip(packages).zip(&releases).filter(move |((_, q), _)| **q == Some(p));
            let all = fixed_versions(of().map(|((x, _), _)| x));
            if all.is_empty() {
                continue;
            }
            let mut scopes: Vec<&DistroRelease> = of().filter_map(|(_, r)| r.as_ref()).collect();
            scopes.sort_unstable();
            scopes.dedup();
            let scoped = (!scopes.is_empty()).then(|| {
                let bare = fixed_versions(of().filter(|(_, r)| r.is_none()).map(|((x, _), _)| x));
                let by_release = scopes
                    .into_iter()
                    .map(|s| {
                        let list = fixed_versions(
                            of().filter(|(_, r)| r.as_ref().is_none_or(|r| r == s)).map(|((x, _), _)| x),
                        );
                        (s.clone(), list)
                    })
                    .collect();
                Box::new(Scoped { bare, by_release })
            });
            fixed.push((p, Fixed { all, scoped }));
        }
        let cwes = super::cwes::cwes_of(advisory.database_specific.as_deref());
        let cwes =
            if cwes.is_empty() { Texts::default() } else { cwes.iter().map(|c| Text::from(c.as_str())).collect() };
        Facts { known_exploited: advisory.known_exploited, fixed, cwes, ..Facts::default() }
    }

    /// The versions that fix `package` for a component built for distribution release `release`:
    /// those of the entries naming it that are not scoped to another release. With the release not
    /// known, or met by several releases' entries (only partly known), those of every entry.
    pub(super) fn fixed_of(&self, package: Option<PackageId>, release: Option<&DistroRelease>) -> &Texts {
        self.fixed_at(package.and_then(|p| self.fixed_index(p)), release)
    }

    /// Where the fixed versions of package `p` are, if it has some.
    pub(super) fn fixed_index(&self, p: PackageId) -> Option<u32> {
        self.fixed.binary_search_by_key(&p, |(q, _)| *q).ok().map(super::tables::next_id)
    }

    /// [`Self::fixed_of`] the package whose fixed versions are at `at` ([`Self::fixed_index`]).
    pub(super) fn fixed_at(&self, at: Option<u32>, release: Option<&DistroRelease>) -> &Texts {
        let Some(fixed) = at.and_then(|at| self.fixed.get(at as usize)).map(|f| &f.1) else { return &self.none };
        let (Some(scoped), Some(release)) = (&fixed.scoped, release) else { return &fixed.all };
        let mut applying = scoped
            .by_release
            .iter()
            .filter(|(r, _)| release_applies(Some(r), Some(release)) != ReleaseMatch::Different);
        match (applying.next(), applying.next()) {
            (None, _) => &scoped.bare,
            (Some((_, list)), None) => list,
            (Some(_), Some(_)) => &fixed.all,
        }
    }
}

/// One delta: the finding's parts and the change. Its strings are shared with the operator's tables.
/// `ids` must have hashed what it says it has of this very finding (its release, its advisory).
#[inline]
#[allow(clippy::too_many_arguments)]
pub(super) fn finding(
    cause: &Cause<'_>,
    ids: &Ids<'_>,
    release: &ReleaseEntry,
    advisory: &AdvisoryEntry,
    component: &ComponentEntry,
    purl: &Text,
    change: FindingChange,
    found: &OpenFinding,
) -> Finding {
    let (subject, facts) = (&advisory.subject, &advisory.facts);
    let change_tag: &[u8] = if change == FindingChange::Opened { b"opened" } else { b"closed" };
    let [name, version, environment] = release_inputs(release);
    let inputs = [name, version, environment, subject.id().as_bytes(), purl.as_bytes(), change_tag];
    Finding {
        envelope: Envelope {
            event_id: ids.prefix.derive(&inputs[ids.hashed..]),
            tenant: cause.envelope.tenant.clone(),
            key: release.label_text().clone(),
            event_time: cause.envelope.event_time,
            source: cause.source.clone(),
            schema_version: EventType::Finding.schema_version(),
        },
        change,
        release_name: release.name_text().clone(),
        release_version: release.version_text().clone(),
        environment: release.environment_text().cloned(),
        advisory_id: subject.id.clone(),
        aliases: subject.aliases.clone(),
        purl: purl.clone(),
        ecosystem: component.ecosystem_text().clone(),
        package_name: component.name_text().clone(),
        package_version: component.version_text().clone(),
        vex_status: VexStatus::Affected,
        severity: subject.severity.clone(),
        matched: found.matched.clone(),
        vex_statement_ids: Vec::new(),
        cause_event_id: cause.id.clone(),
        vex_justification: None,
        vex_conflict: false,
        vex_votes: Vec::new(),
        known_exploited: facts.known_exploited,
        // An open finding's proof holds the versions that fix it (found with it); a closing delta
        // lists those the advisory names now.
        fixed_versions: match change {
            FindingChange::Opened => found.fixed.clone(),
            FindingChange::Closed => facts.fixed_of(component.package, component.release.as_ref()).clone(),
        },
        distro_release: found.distro_release.clone(),
        release_unknown: found.release_unknown,
        // The findings layer fills these in (crate::findings).
        cves: Texts::default(),
        exploited_ids: Texts::default(),
        epss: None,
        epss_percentile: None,
        scope: component.facts.scope.clone(),
        direct: component.facts.direct,
        licenses: component.facts.licenses.clone(),
        cwes: facts.cwes.clone(),
        // The findings layer names the vulnerability and lists the sources (crate::findings).
        vulnerability_id: Default::default(),
        sources: Default::default(),
        disagreements: Default::default(),
    }
}
