//! Notification rules documents (YAML, `trustloop notify apply`): the model, validation with
//! `LINE:COLUMN: key.path: message` errors (the policy's machinery, [`PolicyError`]), and a digest
//! over a canonical form.
//!
//! ```yaml
//! api_version: trustloop/v1
//! name: oncall
//! quiet_hours: {from: "22:00", to: "07:00", utc_offset: "+01:00", except_severities: [critical]}
//! rules:
//!   - id: release-fails
//!     match: {kinds: [verdict], outcomes: [fail], subjects: ["payments@*@prod"]}
//!     channels: [oncall-slack, oncall-mail]
//!     throttle: {max: 5, per: 1h, key: subject}
//!     title: "{kind} {outcome}: {subject}"
//!   - id: exploited-findings
//!     match: {kinds: [finding], outcomes: [opened], known_exploited: true, severities: [high, critical]}
//!     channels: [security-webhook]
//!     digest: 1h
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::policy::error::Seg;
use crate::policy::{Band, Duration, PolicyError};

use super::render::Template;

/// The `api_version` every rules document declares.
pub const API_VERSION: &str = "trustloop/v1";

/// A parsed, validated rules document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesDoc {
    /// Always [`API_VERSION`].
    pub api_version: String,
    /// The document's name (versions of the same name replace each other).
    pub name: String,
    /// Quiet hours of every rule that names none of its own.
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    /// The rules, each evaluated on every event (a rule matching sends through all its channels).
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// One rule: which events, through which channels, how often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique within the document.
    pub id: String,
    /// What it matches (every condition given must hold; an empty match matches every event).
    #[serde(default, rename = "match")]
    pub matches: Match,
    /// Channel names (`[notify.channels.NAME]` in `trustloop.toml`).
    pub channels: Vec<String>,
    /// At most `max` notifications per key per window of event time; the rest are counted, not sent.
    #[serde(default)]
    pub throttle: Option<Throttle>,
    /// One message per window of this length (aligned to the epoch), listing what matched in it;
    /// sent once event time passes the window's end.
    #[serde(default)]
    pub digest: Option<Duration>,
    /// Overrides the document's quiet hours for this rule.
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    /// Title template (see [`super::render`]); default `{kind} {outcome}: {subject}`.
    #[serde(default)]
    pub title: Option<Template>,
    /// Body template; default `{summary}`.
    #[serde(default)]
    pub body: Option<Template>,
}

/// Conditions on an event (see [`super::facts::Facts`]); lists match any of their items, patterns
/// take `*` for any run of characters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// Event kinds.
    #[serde(default)]
    pub kinds: Vec<EventKind>,
    /// Outcomes: `pass`/`warn`/`fail` (verdicts), `opened`/`closed` (findings), an action state
    /// (`requested`, `dispatched`, `failed`, …), `dropped`/`rose` (trust scores).
    #[serde(default)]
    pub outcomes: Vec<String>,
    /// Severity bands (findings).
    #[serde(default)]
    pub severities: Vec<Band>,
    /// Whether the finding is known exploited.
    #[serde(default)]
    pub known_exploited: Option<bool>,
    /// Tenant patterns.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Service patterns (a release's name, an entity).
    #[serde(default)]
    pub services: Vec<String>,
    /// Subject patterns (`NAME@VERSION@ENV`, `NAME@VERSION`, an entity, an action's subject).
    #[serde(default)]
    pub subjects: Vec<String>,
    /// Trust scores below this.
    #[serde(default)]
    pub score_below: Option<f64>,
}

/// The kinds of event rules match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A `Verdict`.
    Verdict,
    /// A `Finding`.
    Finding,
    /// An `EnforcementAction`.
    Action,
    /// A `TrustScore`.
    TrustScore,
}

impl EventKind {
    /// `verdict`, `finding`, `action`, `trust_score`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Verdict => "verdict",
            EventKind::Finding => "finding",
            EventKind::Action => "action",
            EventKind::TrustScore => "trust_score",
        }
    }

    /// The outcomes events of this kind have.
    pub fn outcomes(self) -> &'static [&'static str] {
        match self {
            EventKind::Verdict => &["pass", "warn", "fail"],
            EventKind::Finding => &["opened", "closed"],
            EventKind::Action => {
                &["requested", "dispatched", "acknowledged", "applied", "failed", "verified", "reverted", "held"]
            }
            EventKind::TrustScore => &["dropped", "rose"],
        }
    }

    /// Every kind.
    pub const ALL: [EventKind; 4] = [EventKind::Verdict, EventKind::Finding, EventKind::Action, EventKind::TrustScore];
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A throttle: at most `max` per key per window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Throttle {
    /// Notifications per window and key (at least 1).
    pub max: u32,
    /// The window (aligned to the epoch, in event time).
    pub per: Duration,
    /// What a key is; default `subject`.
    #[serde(default)]
    pub key: ThrottleKey,
}

/// What a throttle counts by (always within one rule).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThrottleKey {
    /// The event's subject.
    #[default]
    Subject,
    /// The event's service.
    Service,
    /// The tenant.
    Tenant,
    /// The rule: one budget for everything it matches.
    Rule,
}

/// Quiet hours: messages of matches whose event time falls in them are held and sent as one digest
/// at their end (in event time) — unless the match's severity is listed in `except_severities`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// Start, `HH:MM` local time.
    pub from: TimeOfDay,
    /// End (exclusive), `HH:MM`; before `from` means the next day.
    pub to: TimeOfDay,
    /// The local time's offset from UTC (`+01:00`, `-05:30`, `UTC`); default UTC.
    #[serde(default)]
    pub utc_offset: UtcOffset,
    /// Severity bands sent at once even in quiet hours.
    #[serde(default)]
    pub except_severities: Vec<Band>,
}

const DAY: i64 = 86_400_000_000;
const MINUTE: i64 = 60_000_000;

impl QuietHours {
    /// If `t` (UTC microseconds) is inside quiet hours, when they end (UTC microseconds).
    pub fn end_of_quiet(&self, t: i64) -> Option<i64> {
        let offset = i64::from(self.utc_offset.0) * MINUTE;
        let local = t.saturating_add(offset);
        let day_start = local.div_euclid(DAY) * DAY;
        let tod = local - day_start;
        let (from, to) = (i64::from(self.from.0) * MINUTE, i64::from(self.to.0) * MINUTE);
        let end_local = if from <= to {
            (from <= tod && tod < to).then_some(day_start + to)
        } else if tod >= from {
            Some(day_start + DAY + to)
        } else if tod < to {
            Some(day_start + to)
        } else {
            None
        };
        end_local.map(|e| e - offset)
    }
}

/// A time of day, minutes after midnight; written `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeOfDay(pub u16);

impl TryFrom<String> for TimeOfDay {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a time of day: write HH:MM (00:00 to 23:59)");
        let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
        let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h > 23 || m > 59 {
            return Err(bad());
        }
        Ok(TimeOfDay(h * 60 + m))
    }
}

impl From<TimeOfDay> for String {
    fn from(t: TimeOfDay) -> String {
        format!("{:02}:{:02}", t.0 / 60, t.0 % 60)
    }
}

/// An offset from UTC in minutes; written `+HH:MM`, `-HH:MM`, `UTC` or `Z`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UtcOffset(pub i16);

impl TryFrom<String> for UtcOffset {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("utc") || t == "Z" {
            return Ok(UtcOffset(0));
        }
        let bad = || format!("`{s}` is not a UTC offset: write +HH:MM or -HH:MM (e.g. +01:00), or UTC");
        let (sign, rest) = match t.as_bytes().first() {
            Some(b'+') => (1, &t[1..]),
            Some(b'-') => (-1, &t[1..]),
            _ => return Err(bad()),
        };
        let (h, m) = rest.split_once(':').ok_or_else(bad)?;
        let (h, m): (i16, i16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if !(0..=14).contains(&h) || !(0..=59).contains(&m) {
            return Err(bad());
        }
        Ok(UtcOffset(sign * (h * 60 + m)))
    }
}

impl From<UtcOffset> for String {
    fn from(o: UtcOffset) -> String {
        let sign = if o.0 < 0 { '-' } else { '+' };
        let m = o.0.unsigned_abs();
        format!("{sign}{:02}:{:02}", m / 60, m % 60)
    }
}

/// Parses and validates a rules document, reporting every semantic problem (by position; a syntax
/// or type error stops parsing, so it comes alone). The error list is never empty.
pub fn check(yaml: &str) -> Result<RulesDoc, Vec<PolicyError>> {
    if yaml.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---") {
        return Err(vec![PolicyError {
            line: None,
            column: None,
            path: String::new(),
            message: "the document is empty: rules need at least `api_version: trustloop/v1` and `name`".into(),
        }]);
    }
    let de = serde_yaml_ng::Deserializer::from_str(yaml);
    let doc: RulesDoc = serde_path_to_error::deserialize(de).map_err(|e| vec![PolicyError::from_serde(e)])?;
    let issues = validate(&doc);
    if issues.is_empty() {
        return Ok(doc);
    }
    let mut errors: Vec<PolicyError> = issues.iter().map(|(path, msg)| PolicyError::at(yaml, path, msg)).collect();
    errors.sort_by_key(|e| (e.line.is_none(), e.line, e.column));
    Err(errors)
}

/// Parses and validates a rules document; the first problem is the error.
pub fn parse(yaml: &str) -> Result<RulesDoc, PolicyError> {
    check(yaml).map_err(|mut errors| errors.swap_remove(0))
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

/// The semantic problems of `doc`, each with the key path it is about.
fn validate(doc: &RulesDoc) -> Vec<(Vec<Seg>, String)> {
    let mut out = Vec::new();
    if doc.api_version != API_VERSION {
        out.push((vec![key("api_version")], format!("must be `{API_VERSION}`, not `{}`", doc.api_version)));
    }
    if doc.name.trim().is_empty() {
        out.push((vec![key("name")], "must not be empty".into()));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, rule) in doc.rules.iter().enumerate() {
        let at = |k: &[&str]| {
            let mut p = vec![key("rules"), Seg::Index(i)];
            p.extend(k.iter().map(|k| key(k)));
            p
        };
        if rule.id.trim().is_empty() {
            out.push((at(&["id"]), "must not be empty".into()));
        } else if !seen.insert(rule.id.as_str()) {
            out.push((at(&["id"]), format!("rule `{}` is defined twice", rule.id)));
        }
        if rule.channels.is_empty() {
            out.push((at(&["channels"]), "name at least one channel".into()));
        }
        for (j, c) in rule.channels.iter().enumerate() {
            if c.trim().is_empty() {
                let mut p = at(&["channels"]);
                p.push(Seg::Index(j));
                out.push((p, "a channel name must not be empty".into()));
            }
        }
        let kinds: &[EventKind] = if rule.matches.kinds.is_empty() { &EventKind::ALL } else { &rule.matches.kinds };
        for (j, o) in rule.matches.outcomes.iter().enumerate() {
            if !kinds.iter().any(|k| k.outcomes().contains(&o.to_ascii_lowercase().as_str())) {
                let known: Vec<&str> = kinds.iter().flat_map(|k| k.outcomes().iter().copied()).collect();
                let mut p = at(&["match", "outcomes"]);
                p.push(Seg::Index(j));
                out.push((p, format!("`{o}` is no outcome of {}: one of {}", names(kinds), known.join(", "))));
            }
        }
        if let Some(s) = rule.matches.score_below
            && !(0.0..=100.0).contains(&s)
        {
            out.push((at(&["match", "score_below"]), format!("{s} is outside 0–100")));
        }
        if let Some(t) = &rule.throttle {
            if t.max == 0 {
                out.push((at(&["throttle", "max"]), "must be at least 1 (to send nothing, remove the rule)".into()));
            }
            if t.per.as_micros() <= 0 {
                out.push((at(&["throttle", "per"]), "must be longer than 0s".into()));
            }
        }
        if let Some(d) = rule.digest
            && d.as_micros() <= 0
        {
            out.push((at(&["digest"]), "must be longer than 0s".into()));
        }
        for (field, t) in [("title", &rule.title), ("body", &rule.body)] {
            if let Some(t) = t
                && let Err(e) = t.check()
            {
                out.push((at(&[field]), e));
            }
        }
    }
    out
}

fn names(kinds: &[EventKind]) -> String {
    kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join("/")
}

impl RulesDoc {
    /// SHA-256 (lowercase hex) of the canonical form: JSON of the parsed document with sorted keys
    /// and every default spelled out (formatting, comments and key order do not change it).
    pub fn digest(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        let mut out = String::with_capacity(1024);
        crate::policy::write_canonical(&value, &mut out);
        hex::encode(Sha256::digest(out.as_bytes()))
    }
}
