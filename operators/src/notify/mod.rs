//! The notify operator: verdicts, findings, actions, trust scores and `NotifyRules` in;
//! `Notification`s out — one per matching rule and channel, throttled, batched into digests, held
//! through quiet hours.
//!
//! **Rules** ([`rules`]) are versioned YAML documents per tenant (`trustloop notify apply`), accepted
//! as policies are: valid, the declared digest and name, a newer version of the same name (else
//! counted in [`TenantNotify::rejected_count`] and kept with the reason). Until a tenant applies
//! rules nothing is sent for it.
//!
//! **Matching** ([`facts`]): each event's [`Facts`] (kind, outcome, tenant, service, subject,
//! severity band, known-exploited, score) against each rule's conditions, in document order; every
//! rule that matches sends through all its channels.
//!
//! **Time** is event time only. "Now" is the watermark, the largest event time of the verdicts,
//! findings, actions and trust scores seen (rules documents are stamped when applied, so they do not
//! move it). For a match of rule R at event time t:
//!
//! 1. **Throttle** (`throttle: {max, per, key}`): windows of `per` aligned to the epoch, per rule and
//!    key (subject, service, tenant or the rule); past `max` in a window a match is counted, not
//!    sent, and the count goes out with the key's next notification (`suppressed`). A late match
//!    counts in the key's newest window.
//! 2. **Digest** (`digest: 1h`): the match joins the rule's window `[⌊t/d⌋·d, +d)`; the window
//!    closes — one notification per channel, listing every match — once the watermark reaches its
//!    end (checked before each input is applied). A match whose window has closed joins the window
//!    of the watermark.
//! 3. **Quiet hours** (`quiet_hours: {from, to, utc_offset, except_severities}`, the rule's or the
//!    document's): a match at a time of day inside them (at the offset) is held, and everything held
//!    until the same end goes out as one notification when the watermark reaches it; a digest that
//!    closes inside quiet hours is held the same way. Listed severities go out at once.
//! 4. Otherwise one notification per channel at once, its event time the match's.
//!
//! Nothing reads a wall clock, so a digest or a quiet period ends only when a later event arrives.
//!
//! **Ids.** `derive_event_id("notification", [tenant, rule, channel, basis])`, the basis being the
//! matched event's id, or for a batch `digest`/`quiet` and its window's start and end (big-endian
//! microseconds); `notification_id` is that id, hyphenated — the idempotency key of every delivery.
//!
//! The state is `Serialize`/`Deserialize` (ordered maps only): a snapshot restored mid-stream gives
//! byte-identical outputs. Inputs already covered by the frontier are ignored (re-feeding a log after
//! a restore is harmless).

pub mod facts;
pub mod render;
pub mod rules;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use trustloop_schemas::{Envelope, Event, EventTime, EventType, Notification, NotifyRules, derive_event_id};

pub use facts::Facts;
pub use rules::{EventKind, RulesDoc};

use crate::input::{Frontier, Input};
use crate::operator::{Operator, Snapshot, SnapshotError};
use crate::policy::Band;
use render::{DEFAULT_BODY, DEFAULT_TITLE};
use rules::{QuietHours, Rule, ThrottleKey};

/// The event types the operator reads.
pub const INPUTS: &[EventType] = &[
    EventType::Verdict,
    EventType::Finding,
    EventType::EnforcementAction,
    EventType::TrustScore,
    EventType::NotifyRules,
];

/// `source` of the notifications it derives.
pub const SOURCE: &str = "trustloop.notify";

/// How many rejected rules documents a tenant remembers (the newest).
pub const REJECTIONS_KEPT: usize = 32;

const SNAPSHOT_VERSION: u32 = 1;

/// The notify operator's state (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NotifyState {
    /// The watermark (event-time microseconds).
    now: Option<i64>,
    /// Tenants by name.
    tenants: BTreeMap<String, TenantNotify>,
    /// Open batches by (end, tenant, batch key): the order they close in.
    due: BTreeSet<(i64, String, String)>,
    /// How far each input topic-partition has been applied.
    frontier: Frontier,
}

/// Rules applied to a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveRules {
    /// Document name.
    pub name: String,
    /// Version.
    pub version: i64,
    /// Digest.
    pub digest: String,
    /// The document.
    pub doc: RulesDoc,
}

/// A `NotifyRules` event that was not applied, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedRules {
    /// The event's id.
    pub event_id: String,
    /// Name.
    pub name: String,
    /// Version.
    pub version: i64,
    /// Why.
    pub reason: String,
}

/// One tenant's rules, throttles and open batches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantNotify {
    /// The rules in force.
    pub rules: Option<ActiveRules>,
    /// How many `NotifyRules` events were rejected.
    pub rejected_count: u64,
    /// The newest rejected ones.
    pub rejected: Vec<RejectedRules>,
    /// Throttle windows by `rule \0 key`.
    throttles: BTreeMap<String, ThrottleWindow>,
    /// Open digests and quiet-hour holds by batch key.
    batches: BTreeMap<String, Batch>,
}

/// A throttle's current window for one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ThrottleWindow {
    start: i64,
    sent: u32,
    suppressed: i64,
}

/// Matches waiting for a digest window or the end of quiet hours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Batch {
    rule: String,
    quiet: bool,
    start: i64,
    end: i64,
    channels: Vec<String>,
    rules_digest: String,
    items: Vec<Item>,
    suppressed: i64,
}

/// One match in a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Item {
    event_id: String,
    kind: EventKind,
    severity: Option<Band>,
    line: String,
}

impl NotifyState {
    /// An empty state: no rules, nothing sent.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tenant's state, if it has any.
    pub fn tenant(&self, tenant: &str) -> Option<&TenantNotify> {
        self.tenants.get(tenant)
    }

    /// The watermark.
    pub fn now(&self) -> Option<EventTime> {
        self.now.map(EventTime::from_micros)
    }

    /// Applies one input (see the module docs); returns the notifications it causes, in order.
    pub fn apply(&mut self, input: &Input<'_>) -> Vec<Event> {
        if self.frontier.covers(input.topic, input.partition, input.offset) {
            return Vec::new();
        }
        self.frontier.advance(input);
        if let Event::NotifyRules(r) = input.event {
            // Rules are stamped when applied (wall-clock): they do not move the watermark.
            self.apply_rules(r);
            return Vec::new();
        }
        let Some(facts) = Facts::of(input.event) else { return Vec::new() };
        let t = facts.time.as_micros();
        let now = self.now.map_or(t, |n| n.max(t));
        self.now = Some(now);
        let mut out = Vec::new();
        self.close_due(now, &mut out);
        self.evaluate(&facts, now, &mut out);
        out
    }

    fn apply_rules(&mut self, r: &NotifyRules) {
        let tenant = self.tenants.entry(r.envelope.tenant.to_string()).or_default();
        match accept(r, tenant.rules.as_ref()) {
            Ok(doc) => {
                tenant.rules =
                    Some(ActiveRules { name: r.name.clone(), version: r.version, digest: r.digest.clone(), doc });
            }
            Err(reason) => {
                tenant.rejected_count += 1;
                if tenant.rejected.len() >= REJECTIONS_KEPT {
                    tenant.rejected.remove(0);
                }
                tenant.rejected.push(RejectedRules {
                    event_id: r.envelope.event_id.to_string(),
                    name: r.name.clone(),
                    version: r.version,
                    reason,
                });
            }
        }
    }

    /// Every rule of the event's tenant against `facts`.
    fn evaluate(&mut self, facts: &Facts, now: i64, out: &mut Vec<Event>) {
        let Some(tenant) = self.tenants.get_mut(&facts.tenant) else { return };
        let Some(active) = &tenant.rules else { return };
        let t = facts.time.as_micros();
        for rule in active.doc.rules.iter().filter(|r| r.matches.matches(facts)) {
            let Some(suppressed) = throttle(&mut tenant.throttles, rule, facts, t) else { continue };
            let quiet = rule.quiet_hours.as_ref().or(active.doc.quiet_hours.as_ref());
            let title = rule.title.as_ref().map_or(DEFAULT_TITLE, |t| t.0.as_str());
            let item = Item {
                event_id: facts.event_id.clone(),
                kind: facts.kind,
                severity: facts.severity,
                line: render::render(title, facts, &rule.id),
            };
            if let Some(d) = rule.digest {
                let d = d.as_micros();
                let mut start = t.div_euclid(d) * d;
                if start + d <= now {
                    start = now.div_euclid(d) * d;
                }
                let b = hold(
                    &mut tenant.batches,
                    &mut self.due,
                    &facts.tenant,
                    rule,
                    &active.digest,
                    false,
                    start,
                    start + d,
                );
                b.items.push(item);
                b.suppressed += suppressed;
            } else if let Some(end) = quiet.and_then(|q| quiet_until(q, facts.severity, t)).filter(|e| *e > now) {
                let b = hold(&mut tenant.batches, &mut self.due, &facts.tenant, rule, &active.digest, true, t, end);
                b.start = b.start.min(t);
                b.items.push(item);
                b.suppressed += suppressed;
            } else {
                let body = rule.body.as_ref().map_or(DEFAULT_BODY, |t| t.0.as_str());
                let message = Message {
                    rule: &rule.id,
                    rules_digest: &active.digest,
                    subject: &facts.subject,
                    title: item.line.clone(),
                    body: render::render(body, facts, &rule.id),
                    event_ids: vec![facts.event_id.clone()],
                    event_kinds: vec![facts.kind.as_str().to_string()],
                    severity: facts.severity,
                    window: None,
                    suppressed,
                    basis: facts.event_id.as_bytes().to_vec(),
                };
                message.emit(&facts.tenant, &rule.channels, t, out);
            }
        }
    }

    /// Closes every batch whose end the watermark has reached, in end order.
    fn close_due(&mut self, now: i64, out: &mut Vec<Event>) {
        while let Some(first) = self.due.first().cloned() {
            if first.0 > now {
                return;
            }
            self.due.remove(&first);
            let (end, tenant_name, key) = first;
            let Some(tenant) = self.tenants.get_mut(&tenant_name) else { continue };
            let Some(batch) = tenant.batches.remove(&key) else { continue };
            // A digest closing in quiet hours waits for their end (joining what is held until then;
            // the quiet batch ends later, so this loop reaches it).
            if !batch.quiet {
                let quiet = tenant.rules.as_ref().and_then(|a| {
                    let rule = a.doc.rules.iter().find(|r| r.id == batch.rule);
                    rule.and_then(|r| r.quiet_hours.as_ref()).or(a.doc.quiet_hours.as_ref()).cloned()
                });
                let worst = batch.items.iter().filter_map(|i| i.severity).max();
                if let Some(q_end) = quiet.and_then(|q| quiet_until(&q, worst, end)) {
                    let held = Batch { quiet: true, end: q_end, ..batch };
                    let key = batch_key(&held.rule, true, q_end);
                    match tenant.batches.get_mut(&key) {
                        Some(b) => {
                            b.start = b.start.min(held.start);
                            b.items.extend(held.items);
                            b.suppressed += held.suppressed;
                        }
                        None => {
                            self.due.insert((q_end, tenant_name.clone(), key.clone()));
                            tenant.batches.insert(key, held);
                        }
                    }
                    continue;
                }
            }
            batch.emit(&tenant_name, end, out);
        }
    }
}

/// The end of the quiet hours `t` falls in, unless `severity` is exempt.
fn quiet_until(q: &QuietHours, severity: Option<Band>, t: i64) -> Option<i64> {
    if severity.is_some_and(|s| q.except_severities.contains(&s)) {
        return None;
    }
    q.end_of_quiet(t)
}

fn batch_key(rule: &str, quiet: bool, at: i64) -> String {
    format!("{rule}\u{0}{}\u{0}{at:020}", if quiet { "quiet" } else { "digest" })
}

/// The open batch of `rule` for the window `[start, end)` (digest, keyed by start) or the quiet
/// period ending at `end` (keyed by end), created if need be.
#[allow(clippy::too_many_arguments)]
fn hold<'a>(
    batches: &'a mut BTreeMap<String, Batch>,
    due: &mut BTreeSet<(i64, String, String)>,
    tenant: &str,
    rule: &Rule,
    rules_digest: &str,
    quiet: bool,
    start: i64,
    end: i64,
) -> &'a mut Batch {
    let key = batch_key(&rule.id, quiet, if quiet { end } else { start });
    batches.entry(key.clone()).or_insert_with(|| {
        due.insert((end, tenant.to_string(), key));
        Batch {
            rule: rule.id.clone(),
            quiet,
            start,
            end,
            channels: rule.channels.clone(),
            rules_digest: rules_digest.to_string(),
            items: Vec::new(),
            suppressed: 0,
        }
    })
}

/// Counts a match against the rule's throttle: `None` when it is over the limit (suppressed), else
/// the matches suppressed since the key's last notification (then reset).
fn throttle(windows: &mut BTreeMap<String, ThrottleWindow>, rule: &Rule, facts: &Facts, t: i64) -> Option<i64> {
    let Some(th) = &rule.throttle else { return Some(0) };
    let per = th.per.as_micros().max(1);
    let key = match th.key {
        ThrottleKey::Subject => facts.subject.as_str(),
        ThrottleKey::Service => facts.service.as_str(),
        ThrottleKey::Tenant => facts.tenant.as_str(),
        ThrottleKey::Rule => "",
    };
    let w = windows.entry(format!("{}\u{0}{key}", rule.id)).or_insert(ThrottleWindow {
        start: t.div_euclid(per) * per,
        sent: 0,
        suppressed: 0,
    });
    let start = t.div_euclid(per) * per;
    if start > w.start {
        w.start = start;
        w.sent = 0;
    }
    if w.sent >= th.max {
        w.suppressed += 1;
        return None;
    }
    w.sent += 1;
    Some(std::mem::take(&mut w.suppressed))
}

/// The parsed document of `r` if it is to be applied over `current`, else why not.
fn accept(r: &NotifyRules, current: Option<&ActiveRules>) -> Result<RulesDoc, String> {
    if !matches!(r.format.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json") {
        return Err(format!("format `{}` is not yaml", r.format));
    }
    let doc = rules::parse(&r.document).map_err(|e| format!("invalid document: {e}"))?;
    let digest = doc.digest();
    if digest != r.digest {
        return Err(format!("declared digest {} does not match the document's {digest}", r.digest));
    }
    if doc.name != r.name {
        return Err(format!("the event names rules `{}`, the document `{}`", r.name, doc.name));
    }
    if let Some(c) = current
        && c.name == r.name
        && r.version <= c.version
    {
        return Err(format!("version {} is not newer than version {} in force", r.version, c.version));
    }
    Ok(doc)
}

/// A notification's content, before it is sent to each channel.
struct Message<'a> {
    rule: &'a str,
    rules_digest: &'a str,
    subject: &'a str,
    title: String,
    body: String,
    event_ids: Vec<String>,
    event_kinds: Vec<String>,
    severity: Option<Band>,
    window: Option<(i64, i64)>,
    suppressed: i64,
    basis: Vec<u8>,
}

impl Message<'_> {
    fn emit(&self, tenant: &str, channels: &[String], time: i64, out: &mut Vec<Event>) {
        for channel in channels {
            let id = derive_event_id(
                "notification",
                &[tenant.as_bytes(), self.rule.as_bytes(), channel.as_bytes(), &self.basis],
            );
            out.push(Event::Notification(Notification {
                envelope: Envelope {
                    event_id: id,
                    tenant: tenant.into(),
                    key: self.subject.into(),
                    event_time: EventTime::from_micros(time),
                    source: SOURCE.into(),
                    schema_version: EventType::Notification.schema_version(),
                },
                notification_id: id.to_string(),
                channel: channel.clone(),
                rule: self.rule.to_string(),
                rules_digest: self.rules_digest.to_string(),
                subject: self.subject.to_string(),
                title: self.title.clone(),
                body: self.body.clone(),
                event_ids: self.event_ids.clone(),
                event_kinds: self.event_kinds.clone(),
                severity: self.severity.map(|b| b.as_str().to_string()),
                window_start: self.window.map(|w| EventTime::from_micros(w.0)),
                window_end: self.window.map(|w| EventTime::from_micros(w.1)),
                suppressed: self.suppressed,
            }));
        }
    }
}

impl Batch {
    fn emit(self, tenant: &str, time: i64, out: &mut Vec<Event>) {
        let (start, end) = (EventTime::from_micros(self.start), EventTime::from_micros(self.end));
        let what = if self.quiet { "held in quiet hours" } else { "digest" };
        let n = self.items.len();
        let subject = format!("{} {what} {start}..{end}", self.rule);
        let title = format!("{}: {n} event{} ({what}, {start} to {end})", self.rule, if n == 1 { "" } else { "s" });
        let mut body: String = self.items.iter().map(|i| format!("- {}\n", i.line)).collect();
        if self.suppressed > 0 {
            body.push_str(&format!("({} more suppressed by the throttle)\n", self.suppressed));
        }
        let mut basis = if self.quiet { b"quiet".to_vec() } else { b"digest".to_vec() };
        basis.extend(self.start.to_be_bytes());
        basis.extend(self.end.to_be_bytes());
        let message = Message {
            rule: &self.rule,
            rules_digest: &self.rules_digest,
            subject: &subject,
            title,
            body,
            event_ids: self.items.iter().map(|i| i.event_id.clone()).collect(),
            event_kinds: self.items.iter().map(|i| i.kind.as_str().to_string()).collect(),
            severity: self.items.iter().filter_map(|i| i.severity).max(),
            window: Some((self.start, self.end)),
            suppressed: self.suppressed,
            basis,
        };
        message.emit(tenant, &self.channels, time, out);
    }
}

impl Operator for NotifyState {
    fn name(&self) -> &'static str {
        "notify"
    }

    fn inputs(&self) -> &'static [EventType] {
        INPUTS
    }

    fn outputs(&self) -> &'static [EventType] {
        &[EventType::Notification]
    }

    fn apply(&mut self, input: &Input<'_>) -> Vec<Event> {
        NotifyState::apply(self, input)
    }

    fn snapshot(&self) -> Option<Snapshot> {
        Snapshot::json(SNAPSHOT_VERSION, self)
    }

    fn restore(&mut self, snapshot: &Snapshot) -> Result<(), SnapshotError> {
        *self = snapshot.from_json::<NotifyState>("notify", SNAPSHOT_VERSION)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
