//! What-if: history re-run under other conditions — a candidate policy, candidate inputs, or both
//! — and compared with what was recorded.
//!
//! The findings, trust and decision operators are replayed in turn, each over the inputs its stage
//! had committed ([`feed_with`]):
//! * **findings** (impact, VEX, known-exploited and EPSS intelligence) over the recorded
//!   advisories, inventories, VEX statements, catalog entries, EPSS scores and policies, with the
//!   candidate inputs merged in;
//! * **trust** over the recorded telemetry and policies, with the findings just derived instead of
//!   the recorded ones;
//! * **decision** over the recorded approvals, promotion requests, EPSS scores and policies, with
//!   the findings and trust scores just derived and the candidate EPSS scores.
//!
//! A derived event reaches the next operator where the live run would have written it: the runtime
//! writes derived events with their cause's log time and sequence number, so they come at their
//! cause's merge point ([`Place`]). With a candidate policy, every `Policy` event of the tenant is
//! replaced by it in all three operators, in force from the start; without one, the recorded
//! policies stay. With neither candidate inputs nor a candidate policy, the re-run derives the
//! recorded history.
//!
//! **Candidate inputs** ([`Candidate`]: catalog entries, EPSS scores, advisories, VEX statements the
//! log does not hold) are merged *at their own event times*. Recorded history is in log order, not
//! event-time order, so "at its event time" is read off the recorded history's clock — the largest
//! event time seen so far along the log's merge order of the three operators' recorded inputs: a
//! candidate comes just before the first recorded input that takes that clock past the candidate's
//! event time, i.e. after every recorded input up to which the clock was at or before it (on equal
//! times the recorded input comes first), and after all of them if none does. Candidates among
//! themselves come by event time, then in the order given (files in the order named, each file's
//! events as its importer gives them). A candidate read by several operators (EPSS scores: findings
//! and decision) comes at the same place in each. What is derived from a candidate is derived where
//! it comes, so a catalog entry dated before a release's promotion reaches the promotion's verdict,
//! and one dated after re-decides the release at its date.
//!
//! The verdicts and requested actions of the two histories are then compared subject by subject.
//! Each verdict of the re-run says what it was derived from — the input applied, classified as
//! [`crate::blame`] classifies it — and names the candidate inputs behind it: the one applied, if it
//! is or derives from one, and those whose facts the subject's open findings carry then (a catalog
//! listing of one of their CVEs, the EPSS scores in force for them).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use trustloop_connectors::feed::{InputRange, MergedInput, merge_point};
use trustloop_connectors::log::partition_for_key;
use trustloop_operators::decision::DecisionState;
use trustloop_operators::findings::FindingsState;
use trustloop_operators::input::Input;
use trustloop_operators::operator::{Operator, Partitioning, Snapshot, SnapshotError};
use trustloop_operators::trust::TrustState;
use trustloop_schemas::{
    CatalogChange, Event, EventTime, EventType, FindingChange, Outcome, Policy, SubjectKind, derive_event_id,
};

use crate::blame::{Listed, describe};
use crate::feed::{
    Bounds, History, Injected, Place, Range, ReplayError, Share, committed_ranges, each_event, feed_with,
};

/// An operator with the tenant's policies replaced by a candidate, applied before any input.
pub struct WithCandidate<O: Operator> {
    inner: O,
    tenant: String,
}

impl<O: Operator> WithCandidate<O> {
    /// `inner` with `candidate` applied before any input (it derives nothing then: no state yet).
    /// Whether the operator accepted it is the caller's to check ([`what_if`] checks the decision
    /// operator's policy digest).
    pub fn new(mut inner: O, candidate: &Policy) -> WithCandidate<O> {
        let event = Event::Policy(candidate.clone());
        let _ = inner.apply(&Input::new("what-if", 0, 0, &event));
        WithCandidate { inner, tenant: candidate.envelope.tenant.to_string() }
    }
}

impl<O: Operator> Operator for WithCandidate<O> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn inputs(&self) -> &'static [EventType] {
        self.inner.inputs()
    }
    fn outputs(&self) -> &'static [EventType] {
        self.inner.outputs()
    }
    fn apply(&mut self, input: &Input<'_>) -> Vec<Event> {
        match input.event {
            Event::Policy(p) if *p.envelope.tenant == *self.tenant => Vec::new(),
            _ => self.inner.apply(input),
        }
    }
    fn partitioning(&self) -> Partitioning {
        self.inner.partitioning()
    }
    fn partition_key(&self, event: &Event) -> Option<String> {
        self.inner.partition_key(event)
    }
    fn snapshot(&self) -> Option<Snapshot> {
        None
    }
    fn restore(&mut self, _: &Snapshot) -> Result<(), SnapshotError> {
        Err(SnapshotError::Unsupported(self.inner.name()))
    }
}

/// A candidate input of a what-if: an event the log does not hold (a catalog entry, a day's EPSS
/// scores, an advisory, a VEX statement), merged into history at its event time.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The event, with the event time it is merged at.
    pub event: Event,
    /// The file it was read from.
    pub file: String,
    /// How far its event time was moved from its own (microseconds; negative: earlier).
    pub shift_micros: i64,
}

impl Candidate {
    /// `event`, read from `file`, at its own event time.
    pub fn new(event: Event, file: impl Into<String>) -> Candidate {
        Candidate { event, file: file.into(), shift_micros: 0 }
    }

    /// The candidate with its event time moved by `micros` (earlier if negative; saturating) and an
    /// event id derived from its own and the shift, so that a moved event is never taken for the
    /// one it was moved from. A shift of zero changes nothing.
    pub fn shifted(mut self, micros: i64) -> Candidate {
        if micros == 0 {
            return self;
        }
        let envelope = self.event.envelope_mut();
        envelope.event_time = EventTime::from_micros(envelope.event_time.as_micros().saturating_add(micros));
        envelope.event_id = derive_event_id("what-if-shift", &[envelope.event_id.0.as_bytes(), &micros.to_le_bytes()]);
        self.shift_micros = self.shift_micros.saturating_add(micros);
        self
    }

    /// What it is, in a line: its file, what it says, when it is merged (and how far it was moved).
    pub fn label(&self) -> String {
        let what = match &self.event {
            Event::KnownExploited(k) => {
                let change = match k.change {
                    CatalogChange::Listed => "listed",
                    CatalogChange::Removed => "removed",
                };
                format!("{} {change} by {} {} (dateAdded {})", k.cve, k.catalog, k.catalog_version, k.date_added)
            }
            Event::EpssScores(e) => {
                format!(
                    "EPSS scores of {} (part {} of {}, {} scores)",
                    e.score_date,
                    e.part + 1,
                    e.parts,
                    e.scores.len()
                )
            }
            Event::Advisory(a) => format!("advisory {} ({:?}, modified {})", a.id, a.change, a.modified),
            Event::VexStatement(v) => {
                format!("VEX statement on {} by {}: {:?}", v.vulnerability, v.issuer, v.status)
            }
            other => format!("a {} event", other.event_type()),
        };
        let at = self.event.envelope().event_time;
        match self.shift_micros {
            0 => format!("{}: {what}, at {at}", self.file),
            by => format!("{}: {what}, at {at} (moved {})", self.file, duration_text(by)),
        }
    }
}

/// A signed duration in the largest whole unit it is a multiple of: `-30d`, `+12h`, `+90s`.
pub fn duration_text(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "+" };
    let m = micros.unsigned_abs();
    const UNITS: [(u64, &str); 6] = [
        (7 * 86_400_000_000, "w"),
        (86_400_000_000, "d"),
        (3_600_000_000, "h"),
        (60_000_000, "m"),
        (1_000_000, "s"),
        (1_000, "ms"),
    ];
    for (unit, name) in UNITS {
        if m > 0 && m.is_multiple_of(unit) {
            return format!("{sign}{}{name}", m / unit);
        }
    }
    format!("{sign}{m}us")
}

/// What a what-if runs under.
#[derive(Debug, Clone, Copy)]
pub struct Conditions<'a> {
    /// The tenant whose verdicts are compared.
    pub tenant: &'a str,
    /// The candidate policy, in force from the start instead of the tenant's recorded ones (`None`:
    /// the recorded policies stay).
    pub policy: Option<&'a Policy>,
    /// The candidate inputs, in the order given (see the module docs for where each comes).
    pub candidates: &'a [Candidate],
    /// Compare only verdicts and actions of this event time or later.
    pub since: EventTime,
}

/// One verdict in a subject's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// When (event time).
    pub at: EventTime,
    /// The outcome.
    pub outcome: Outcome,
    /// Its first reason.
    pub reason: String,
    /// Of a re-run verdict: what the input it was derived from is (`advisory`, `vex`,
    /// `known-exploited`, `epss`, `approval`, `policy`, `trust`, `promotion`, as blame names them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause_kind: Option<&'static str>,
    /// Of a re-run verdict: that input, in a line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// Of a re-run verdict: the candidate inputs behind it ([`Candidate::label`]), in the order
    /// given — the input it was derived from, if that is or derives from a candidate, and those
    /// whose facts the subject's open findings carry (a catalog listing of one of their CVEs, the
    /// EPSS scores in force for them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
}

/// How a subject's history differs under the candidate.
#[derive(Debug, Clone, Serialize)]
pub struct SubjectDiff {
    /// The subject.
    pub subject: String,
    /// Release or entity.
    pub kind: SubjectKind,
    /// Its verdicts as recorded (since the cut-off).
    pub recorded: Vec<Step>,
    /// Its verdicts under the candidate.
    pub candidate: Vec<Step>,
    /// Actions requested for it, by kind and direction, as recorded.
    pub recorded_actions: BTreeMap<String, u32>,
    /// The same under the candidate.
    pub candidate_actions: BTreeMap<String, u32>,
}

impl SubjectDiff {
    /// The last outcome recorded and under the candidate.
    pub fn last(&self) -> (Option<Outcome>, Option<Outcome>) {
        (self.recorded.last().map(|s| s.outcome), self.candidate.last().map(|s| s.outcome))
    }

    /// The first verdict where the two histories part (by time and outcome): the recorded one and
    /// the re-run one, either missing when one history has fewer verdicts; `None` when they agree
    /// (only the requested actions differ).
    pub fn first_difference(&self) -> Option<(Option<&Step>, Option<&Step>)> {
        let n = self.recorded.len().max(self.candidate.len());
        (0..n)
            .map(|i| (self.recorded.get(i), self.candidate.get(i)))
            .find(|(a, b)| a.map(|s| (s.at, s.outcome)) != b.map(|s| (s.at, s.outcome)))
    }
}

/// One candidate input as merged.
#[derive(Debug, Clone, Serialize)]
pub struct Merged {
    /// [`Candidate::label`].
    pub label: String,
    /// Where it came: before the recorded input at this place in the log (topic, partition, offset),
    /// or `None`: after all of them.
    pub before: Option<(String, u32, i64)>,
}

/// What the what-if found.
#[derive(Debug, Clone, Serialize)]
pub struct WhatIf {
    /// Subjects compared (with a verdict since the cut-off in either history).
    pub subjects: usize,
    /// Those whose verdicts or requested actions differ.
    pub differ: Vec<SubjectDiff>,
    /// Finding deltas re-derived.
    pub findings: u64,
    /// Trust scores re-derived.
    pub trust_scores: u64,
    /// Decision inputs applied.
    pub decision_inputs: u64,
    /// The candidate inputs, in the order they were merged.
    pub candidates: Vec<Merged>,
}

/// Why a re-run verdict was derived.
struct Why {
    kind: &'static str,
    cause: String,
    candidates: Vec<String>,
}

/// Verdicts and requested actions per subject.
#[derive(Default)]
struct Histories {
    verdicts: BTreeMap<(String, String), (SubjectKind, Vec<Step>)>,
    actions: BTreeMap<(String, String), BTreeMap<String, u32>>,
}

impl Histories {
    fn note(&mut self, event: &Event, since: EventTime, why: Option<Why>) {
        match event {
            Event::Verdict(v) if v.envelope.event_time >= since => {
                let key = (v.envelope.tenant.to_string(), v.subject.clone());
                let reason = v.reasons.first().map_or(String::new(), |r| r.message.clone());
                let steps = &mut self.verdicts.entry(key).or_insert((v.subject_kind, Vec::new())).1;
                let (cause_kind, cause, candidates) = match why {
                    Some(w) => (Some(w.kind), Some(w.cause), w.candidates),
                    None => (None, None, Vec::new()),
                };
                steps.push(Step {
                    at: v.envelope.event_time,
                    outcome: v.outcome,
                    reason,
                    cause_kind,
                    cause,
                    candidates,
                });
            }
            Event::EnforcementAction(a) if a.envelope.event_time >= since => {
                let direction = if a.revert { "revert" } else { "apply" };
                let key = (a.envelope.tenant.to_string(), a.subject.clone());
                let kind = trustloop_connectors::enforce::kind_name(a.kind);
                *self.actions.entry(key).or_default().entry(format!("{kind} {direction}")).or_default() += 1;
            }
            _ => {}
        }
    }
}

/// An input of a downstream operator the log does not hold: a candidate, or an event derived during
/// the re-run.
struct Item {
    injected: Injected,
    /// The candidate it is or derives from.
    origin: Option<usize>,
    /// The candidates whose facts it carries (a finding: the catalog listings of its CVEs).
    carries: BTreeSet<usize>,
}

/// The topic candidates are fed as read from: neither one the log has nor the one [`WithCandidate`]
/// applies the candidate policy as read from, so no operator's input frontier takes a candidate for
/// an input it applied.
pub const CANDIDATE_TOPIC: &str = "what-if.candidates";

/// `op`, under `policy` if given.
fn under<O: Operator + Send + 'static>(op: O, policy: Option<&Policy>) -> Box<dyn Operator> {
    match policy {
        Some(p) => Box::new(WithCandidate::new(op, p)),
        None => Box::new(op),
    }
}

/// Re-runs history under `conditions` and compares verdicts and requested actions (see the module
/// docs).
pub async fn what_if(history: History<'_>, conditions: &Conditions<'_>) -> Result<WhatIf, ReplayError> {
    let tenant = conditions.tenant;
    let since = conditions.since;
    if let Some(candidate) = conditions.policy {
        // The candidate must be accepted as it would be live.
        let probe = WithCandidate::new(DecisionState::new(), candidate);
        let accepted = probe.inner.tenant(tenant).is_some_and(|t| t.policy.digest == candidate.digest);
        if *candidate.envelope.tenant != *tenant || !accepted {
            return Err(ReplayError::Unsupported(format!(
                "the candidate policy {} is not accepted for tenant {tenant} (an invalid document, a digest that is \
                 not its own, or another tenant's)",
                candidate.name
            )));
        }
    }
    let mut chain: [Box<dyn Operator>; 3] = [
        under(FindingsState::default(), conditions.policy),
        under(TrustState::new(), conditions.policy),
        under(DecisionState::new(), conditions.policy),
    ];

    // Every operator's committed inputs but the events the re-run derives itself.
    let derived: BTreeSet<&str> = chain.iter().flat_map(|op| op.outputs().iter().map(|t| t.topic())).collect();
    let mut ranges: Vec<Vec<Range>> = Vec::with_capacity(chain.len());
    for op in &chain {
        let r = committed_ranges(history, &**op).await?;
        ranges.push(r.into_iter().filter(|r| !derived.contains(r.topic.as_str())).collect());
    }

    // The candidates, placed on the recorded history's clock.
    let (mut items, merged) = place(history, &ranges, conditions.candidates).await?;
    let labels: Vec<String> = conditions.candidates.iter().map(Candidate::label).collect();

    let mut candidate_h = Histories::default();
    let mut counts = [0u64; 3];
    let mut decision_inputs = 0u64;
    let stages = chain.len();
    for (stage, op) in chain.iter_mut().enumerate() {
        let inputs = op.inputs();
        let mine: Vec<usize> =
            (0..items.len()).filter(|i| inputs.contains(&items[*i].injected.event.event_type())).collect();
        let injected: Vec<Injected> = mine
            .iter()
            .map(|i| {
                let mut inj = items[*i].injected.clone();
                let ty = inj.event.event_type();
                inj.place.topic_index = inputs.iter().position(|t| *t == ty).unwrap_or(inputs.len());
                inj
            })
            .collect();
        let mut partitions: BTreeMap<EventType, u32> = BTreeMap::new();
        for ty in op.outputs() {
            partitions.insert(*ty, history.log.partition_count(ty.topic()).await?.max(1));
        }
        let last = stage + 1 == stages;
        let mut tracker = Tracker::default();
        let mut out_items: Vec<Item> = Vec::new();
        let mut next_offset: BTreeMap<(EventType, u32), i64> = BTreeMap::new();
        let stats =
            feed_with(history, &mut **op, &ranges[stage], Share::ALL, Bounds::default(), &injected, &mut |applied| {
                let item = applied.injected.map(|j| &items[mine[j]]);
                let origin = item.and_then(|i| i.origin);
                tracker.apply(applied.event, origin, item.map(|i| &i.carries));
                if last {
                    let newly_listed = tracker.listed.changed(applied.event);
                    for out in applied.outputs {
                        let why = match out {
                            Event::Verdict(v) if *v.envelope.tenant == *tenant => {
                                let (kind, cause) = describe(applied.event, newly_listed);
                                let mut behind: BTreeSet<usize> = origin.into_iter().collect();
                                if v.subject_kind == SubjectKind::Release {
                                    behind.extend(tracker.behind(tenant, &v.subject));
                                }
                                let candidates = behind.into_iter().filter_map(|c| labels.get(c).cloned()).collect();
                                Some(Why { kind, cause, candidates })
                            }
                            _ => None,
                        };
                        if *out.envelope().tenant == *tenant {
                            candidate_h.note(out, since, why);
                        }
                    }
                    return;
                }
                for out in applied.outputs {
                    let ty = out.event_type();
                    let count = partitions.get(&ty).copied().unwrap_or(1);
                    let partition = partition_for_key(out.envelope().key.as_bytes(), count);
                    let offset = next_offset.entry((ty, partition)).or_default();
                    let place = Place { topic_index: 0, partition, offset: *offset, ..applied.place };
                    *offset += 1;
                    let mut carries: BTreeSet<usize> = origin.into_iter().collect();
                    carries.extend(tracker.carried(out));
                    out_items.push(Item {
                        injected: Injected { place, topic: ty.topic().to_string(), event: out.clone() },
                        origin,
                        carries,
                    });
                }
            })
            .await?;
        if last {
            decision_inputs = stats.applied;
        } else {
            counts[stage] = out_items.len() as u64;
            items.extend(out_items);
        }
    }

    // The recorded history of the decision operator.
    let mut recorded_h = Histories::default();
    for topic in [EventType::Verdict.topic(), EventType::EnforcementAction.topic()] {
        each_event(history, topic, &mut |_, e| {
            if e.envelope().source.as_ref() == trustloop_operators::decision::emit::SOURCE
                && *e.envelope().tenant == *tenant
            {
                recorded_h.note(&e, since, None);
            }
            std::ops::ControlFlow::Continue(())
        })
        .await?;
    }
    // Recorded verdicts in the order they were derived (by event time, then as read).
    for (_, steps) in recorded_h.verdicts.values_mut() {
        steps.sort_by_key(|s| s.at);
    }

    let keys: BTreeSet<&(String, String)> = recorded_h.verdicts.keys().chain(candidate_h.verdicts.keys()).collect();
    let mut differ = Vec::new();
    for key in &keys {
        let (kind, recorded) = recorded_h.verdicts.get(*key).cloned().unwrap_or((SubjectKind::Release, Vec::new()));
        let (ckind, candidate) = candidate_h.verdicts.get(*key).cloned().unwrap_or((kind, Vec::new()));
        let recorded_actions = recorded_h.actions.get(*key).cloned().unwrap_or_default();
        let candidate_actions = candidate_h.actions.get(*key).cloned().unwrap_or_default();
        let outcomes = |s: &[Step]| s.iter().map(|x| (x.at, x.outcome)).collect::<Vec<_>>();
        if outcomes(&recorded) != outcomes(&candidate) || recorded_actions != candidate_actions {
            differ.push(SubjectDiff {
                subject: key.1.clone(),
                kind: if recorded.is_empty() { ckind } else { kind },
                recorded,
                candidate,
                recorded_actions,
                candidate_actions,
            });
        }
    }
    Ok(WhatIf {
        subjects: keys.len(),
        differ,
        findings: counts[0],
        trust_scores: counts[1],
        decision_inputs,
        candidates: merged,
    })
}

/// Places the candidates on the recorded history's clock (see the module docs): the candidates as
/// injected inputs, in merge order, and what the report says of each. `ranges`: every re-run
/// operator's recorded inputs.
async fn place(
    history: History<'_>,
    ranges: &[Vec<Range>],
    candidates: &[Candidate],
) -> Result<(Vec<Item>, Vec<Merged>), ReplayError> {
    if candidates.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    // By event time, then as given.
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by_key(|i| (candidates[*i].event.envelope().event_time, *i));
    // Every recorded input once (the furthest any operator read of each partition).
    let mut furthest: BTreeMap<(String, u32), i64> = BTreeMap::new();
    for r in ranges.iter().flatten().filter(|r| r.from < r.until) {
        let until = furthest.entry((r.topic.clone(), r.partition)).or_insert(r.until);
        *until = (*until).max(r.until);
    }
    let merge_ranges = furthest
        .into_iter()
        .map(|((topic, partition), until)| InputRange { topic, input: 0, partition, from: 0, until })
        .collect();
    let mut merged = MergedInput::new(std::sync::Arc::clone(history.log), merge_ranges);
    let mut clock: Option<EventTime> = None;
    let mut next = 0;
    let mut items = Vec::with_capacity(candidates.len());
    let mut report = Vec::with_capacity(candidates.len());
    let mut push = |rank: usize, point, before: Option<(String, u32, i64)>| {
        let c = order[rank];
        let place = Place { point, rank: rank as u64, topic_index: 0, partition: 0, offset: rank as i64 };
        items.push(Item {
            injected: Injected { place, topic: CANDIDATE_TOPIC.into(), event: candidates[c].event.clone() },
            origin: Some(c),
            carries: BTreeSet::new(),
        });
        report.push(Merged { label: candidates[c].label(), before });
    };
    while next < order.len() {
        let Some(record) = merged.next().await? else { break };
        let Ok(event) = history.codec.decode(&record.value, history.writers) else { continue };
        let time = event.envelope().event_time;
        let after = clock.map_or(time, |c| c.max(time));
        clock = Some(after);
        // Candidates at or after every time seen so far, but before this one's: here.
        while next < order.len() && candidates[order[next]].event.envelope().event_time < after {
            push(next, merge_point(&record), Some((record.topic.to_string(), record.partition, record.offset)));
            next += 1;
        }
    }
    for rank in next..order.len() {
        push(rank, Place::END, None);
    }
    Ok((items, report))
}

/// An open finding of a release: environment, vulnerability, purl.
type OpenKey = (Option<String>, String, String);

/// An open finding's CVEs (upper case) and the candidates it carries.
type OpenFacts = (Vec<String>, BTreeSet<usize>);

/// What the re-run tracks of its inputs to name the candidates behind a verdict.
#[derive(Default)]
struct Tracker {
    /// Per CVE (upper case), the candidate whose catalog entry lists it now (`None`: a recorded one).
    kev: HashMap<String, Option<usize>>,
    /// Per CVE (upper case), the candidate whose EPSS scores are in force for it (`None`: recorded).
    epss: HashMap<String, Option<usize>>,
    /// Per tenant and release `NAME@VERSION`: its open findings (environment, vulnerability, purl) with
    /// their CVEs and the candidates they carry.
    open: HashMap<(String, String), BTreeMap<OpenKey, OpenFacts>>,
    /// The catalog-listed CVEs of each finding (blame's classification).
    listed: Listed,
}

impl Tracker {
    /// Notes `event`, applied as (or derived from) the candidate `origin`, carrying `carries`.
    fn apply(&mut self, event: &Event, origin: Option<usize>, carries: Option<&BTreeSet<usize>>) {
        match event {
            Event::KnownExploited(k) => {
                let cve = k.cve.trim().to_ascii_uppercase();
                match k.change {
                    CatalogChange::Listed => self.kev.insert(cve, origin),
                    CatalogChange::Removed => self.kev.remove(&cve),
                };
            }
            Event::EpssScores(e) => {
                for s in &e.scores {
                    self.epss.insert(s.cve.trim().to_ascii_uppercase(), origin);
                }
            }
            Event::Finding(f) => {
                let release = (f.envelope.tenant.to_string(), format!("{}@{}", f.release_name, f.release_version));
                let key =
                    (f.environment.as_deref().map(str::to_string), f.vulnerability().to_string(), f.purl.to_string());
                let open = self.open.entry(release).or_default();
                match f.change {
                    FindingChange::Opened => {
                        let cves = f.cves.iter().map(|c| c.to_ascii_uppercase()).collect();
                        open.insert(key, (cves, carries.cloned().unwrap_or_default()));
                    }
                    FindingChange::Closed => {
                        open.remove(&key);
                    }
                }
            }
            _ => {}
        }
    }

    /// The candidates whose catalog listings a derived finding carries.
    fn carried(&self, event: &Event) -> Vec<usize> {
        let Event::Finding(f) = event else { return Vec::new() };
        f.exploited_ids.iter().filter_map(|c| self.kev.get(&c.to_ascii_uppercase()).copied().flatten()).collect()
    }

    /// The candidates behind the state of the release subject `NAME@VERSION@ENVIRONMENT` of
    /// `tenant`: those its open findings carry, and those whose EPSS scores are in force for them.
    fn behind(&self, tenant: &str, subject: &str) -> BTreeSet<usize> {
        let Some((release, environment)) = subject.rsplit_once('@') else { return BTreeSet::new() };
        let Some(open) = self.open.get(&(tenant.to_string(), release.to_string())) else { return BTreeSet::new() };
        let mut out = BTreeSet::new();
        for ((env, _, _), (cves, carries)) in open {
            if env.as_deref().is_some_and(|e| e != environment) {
                continue;
            }
            out.extend(carries);
            out.extend(cves.iter().filter_map(|c| self.epss.get(c).copied().flatten()));
        }
        out
    }
}
