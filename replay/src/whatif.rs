//! What-if: history re-run under a candidate policy. The trust and decision operators are replayed
//! over the inputs they had committed, with every `Policy` event of the tenant replaced by the
//! candidate (in force from the start): trust scores are re-derived under the candidate's features
//! and weights, and fed to the decision operator where the live run's trust scores came — by their
//! cause's log time and sequence number, as the runtime merges them — together with the recorded
//! findings, approvals and promotion requests. The verdicts and requested actions of the two
//! histories are then compared subject by subject.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use trustloop_connectors::log::merge::{MergedInput, seq_of};
use trustloop_connectors::log::{StoredRecord, partition_for_key};
use trustloop_operators::decision::DecisionState;
use trustloop_operators::input::Input;
use trustloop_operators::operator::{Operator, Partitioning, Snapshot, SnapshotError};
use trustloop_operators::trust::TrustState;
use trustloop_schemas::{Event, EventTime, EventType, Outcome, Policy, SubjectKind};

use crate::admit::{Admission, admit};
use crate::feed::{History, Range, ReplayError, Share, committed_ranges, each_event, feed};

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

/// One verdict in a subject's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// When (event time).
    pub at: EventTime,
    /// The outcome.
    pub outcome: Outcome,
    /// Its first reason.
    pub reason: String,
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
}

/// What the what-if found.
#[derive(Debug, Clone, Serialize)]
pub struct WhatIf {
    /// Subjects compared (with a verdict since the cut-off in either history).
    pub subjects: usize,
    /// Those whose verdicts or requested actions differ.
    pub differ: Vec<SubjectDiff>,
    /// Trust scores re-derived under the candidate.
    pub trust_scores: u64,
    /// Decision inputs applied.
    pub decision_inputs: u64,
}

/// Verdicts and requested actions per subject.
#[derive(Default)]
struct Histories {
    verdicts: BTreeMap<(String, String), (SubjectKind, Vec<Step>)>,
    actions: BTreeMap<(String, String), BTreeMap<String, u32>>,
}

impl Histories {
    fn note(&mut self, event: &Event, since: EventTime) {
        match event {
            Event::Verdict(v) if v.envelope.event_time >= since => {
                let key = (v.envelope.tenant.to_string(), v.subject.clone());
                let reason = v.reasons.first().map_or(String::new(), |r| r.message.clone());
                let steps = &mut self.verdicts.entry(key).or_insert((v.subject_kind, Vec::new())).1;
                steps.push(Step { at: v.envelope.event_time, outcome: v.outcome, reason });
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

type Key = (i64, Option<u64>, usize, u32, i64);

/// Re-runs history under `candidate` and compares verdicts and requested actions since `since`.
pub async fn what_if(history: History<'_>, candidate: &Policy, since: EventTime) -> Result<WhatIf, ReplayError> {
    let tenant = candidate.envelope.tenant.to_string();
    // The candidate must be accepted as it would be live.
    let probe = WithCandidate::new(DecisionState::new(), candidate);
    let accepted = probe.inner.tenant(&tenant).is_some_and(|t| t.policy.digest == candidate.digest);
    if !accepted {
        return Err(ReplayError::Unsupported(format!(
            "the candidate policy {} is not accepted (an invalid document, or a digest that is not its own)",
            candidate.name
        )));
    }

    // Trust under the candidate: every trust score it derives, keyed as the runtime would merge it.
    let decision_inputs = DecisionState::new().inputs();
    let score_index = decision_inputs.iter().position(|t| *t == EventType::TrustScore).unwrap_or(0);
    let score_partitions = history.log.partition_count(EventType::TrustScore.topic()).await?;
    let mut trust = WithCandidate::new(TrustState::new(), candidate);
    let trust_ranges = committed_ranges(history, &trust).await?;
    let mut next_offset = vec![0i64; score_partitions as usize];
    let mut scores: Vec<(Key, Event)> = Vec::new();
    feed(history, &mut trust, &trust_ranges, Share::ALL, &mut |applied| {
        for out in applied.outputs {
            if let Event::TrustScore(s) = out {
                let p = partition_for_key(s.envelope.key.as_bytes(), score_partitions);
                let offset = next_offset[p as usize];
                next_offset[p as usize] += 1;
                let key = (applied.record.timestamp_ms, seq_of(applied.record), score_index, p, offset);
                scores.push((key, out.clone()));
            }
        }
    })
    .await?;

    // The decision operator's other recorded inputs, in merge order.
    let mut decision = WithCandidate::new(DecisionState::new(), candidate);
    let ranges: Vec<Range> = committed_ranges(history, &decision)
        .await?
        .into_iter()
        .filter(|r| r.topic != EventType::TrustScore.topic())
        .collect();
    let mut recorded_inputs: Vec<(Key, StoredRecord)> = Vec::new();
    {
        let merge_ranges = ranges
            .iter()
            .filter(|r| r.from < r.until)
            .map(|r| {
                let index = EventType::from_topic(&r.topic)
                    .and_then(|t| decision_inputs.iter().position(|i| *i == t))
                    .unwrap_or(decision_inputs.len());
                (r.topic.clone(), index, r.partition, r.from, r.until)
            })
            .collect();
        let mut merged = MergedInput::new(Arc::clone(history.log), merge_ranges);
        while let Some((_, record)) = merged.next_indexed().await? {
            let index = EventType::from_topic(&record.topic)
                .and_then(|t| decision_inputs.iter().position(|i| *i == t))
                .unwrap_or(decision_inputs.len());
            let key = (record.timestamp_ms, seq_of(&record), index, record.partition, record.offset);
            recorded_inputs.push((key, record));
        }
    }

    // Both streams are in key order: merge them into the decision operator.
    let mut candidate_h = Histories::default();
    let mut applied = 0u64;
    let (mut i, mut j) = (0, 0);
    while i < scores.len() || j < recorded_inputs.len() {
        let take_score = j >= recorded_inputs.len() || (i < scores.len() && scores[i].0 < recorded_inputs[j].0);
        let outputs = if take_score {
            let (key, event) = &scores[i];
            i += 1;
            applied += 1;
            decision.apply(&Input::new(EventType::TrustScore.topic(), key.3 as i32, key.4, event))
        } else {
            let (_, record) = &recorded_inputs[j];
            j += 1;
            let expected = EventType::from_topic(&record.topic);
            match admit(record, expected, history.codec, history.writers, &decision, None) {
                Admission::Apply(event) => {
                    applied += 1;
                    decision.apply(&Input::new(&record.topic, record.partition as i32, record.offset, &event))
                }
                Admission::Reject { .. } => Vec::new(),
            }
        };
        for out in &outputs {
            candidate_h.note(out, since);
        }
    }

    // The recorded history of the decision operator.
    let mut recorded_h = Histories::default();
    for topic in [EventType::Verdict.topic(), EventType::EnforcementAction.topic()] {
        each_event(history, topic, &mut |_, e| {
            if e.envelope().source.as_ref() == trustloop_operators::decision::emit::SOURCE
                && *e.envelope().tenant == *tenant
            {
                recorded_h.note(&e, since);
            }
            std::ops::ControlFlow::Continue(())
        })
        .await?;
    }
    // Recorded verdicts in the order they were derived (by event time, then as read).
    for (_, steps) in recorded_h.verdicts.values_mut() {
        steps.sort_by_key(|s| s.at);
    }

    let keys: std::collections::BTreeSet<&(String, String)> =
        recorded_h.verdicts.keys().chain(candidate_h.verdicts.keys()).collect();
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
    Ok(WhatIf { subjects: keys.len(), differ, trust_scores: scores.len() as u64, decision_inputs: applied })
}
