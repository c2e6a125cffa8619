//! Message templates: text with `{placeholder}`s, checked when the rules are parsed and filled in
//! from an event's [`Facts`].
//!
//! Placeholders: `{kind}`, `{outcome}`, `{subject}`, `{service}`, `{tenant}`, `{severity}`,
//! `{known_exploited}`, `{score}`, `{rule}`, `{event_id}`, `{time}` (RFC 3339) and `{summary}` (one
//! line saying what happened). `{{` and `}}` are literal braces.

use serde::{Deserialize, Serialize};

use super::facts::Facts;

/// The placeholders a template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "kind",
    "outcome",
    "subject",
    "service",
    "tenant",
    "severity",
    "known_exploited",
    "score",
    "rule",
    "event_id",
    "time",
    "summary",
];

/// The title of a single-event message when the rule gives none.
pub const DEFAULT_TITLE: &str = "{kind} {outcome}: {subject}";
/// The body of a single-event message when the rule gives none.
pub const DEFAULT_BODY: &str = "{summary}\nrule {rule}, tenant {tenant}, event {event_id} at {time}";

/// A message template (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Template(pub String);

/// One piece of a template.
enum Piece<'a> {
    Text(&'a str),
    Slot(&'a str),
}

/// Splits `t` into text and slots; an error for an unclosed or unknown placeholder.
fn pieces(t: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = t;
    while let Some(at) = rest.find(['{', '}']) {
        let (text, tail) = rest.split_at(at);
        if !text.is_empty() {
            out.push(Piece::Text(text));
        }
        if let Some(after) = tail.strip_prefix("{{") {
            out.push(Piece::Text("{"));
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            out.push(Piece::Text("}"));
            rest = after;
        } else if tail.starts_with('}') {
            return Err("a lone `}`: write `}}` for a literal brace".into());
        } else {
            let Some(end) = tail.find('}') else {
                return Err("a `{` is not closed: write `{{` for a literal brace".into());
            };
            let name = &tail[1..end];
            if !PLACEHOLDERS.contains(&name) {
                return Err(format!("unknown placeholder `{{{name}}}`: use one of {}", PLACEHOLDERS.join(", ")));
            }
            out.push(Piece::Slot(name));
            rest = &tail[end + 1..];
        }
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

impl Template {
    /// Whether the template is well formed and names known placeholders only.
    pub fn check(&self) -> Result<(), String> {
        pieces(&self.0).map(|_| ())
    }

    /// The text with every placeholder filled in from `facts` (matched by `rule`).
    pub fn render(&self, facts: &Facts, rule: &str) -> String {
        render(&self.0, facts, rule)
    }
}

/// `template` filled in from `facts`; a template that does not parse (only unchecked ones can)
/// comes out as written.
pub fn render(template: &str, facts: &Facts, rule: &str) -> String {
    let Ok(pieces) = pieces(template) else { return template.to_string() };
    let mut out = String::with_capacity(template.len() + 64);
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Slot(name) => match name {
                "kind" => out.push_str(facts.kind.as_str()),
                "outcome" => out.push_str(&facts.outcome),
                "subject" => out.push_str(&facts.subject),
                "service" => out.push_str(&facts.service),
                "tenant" => out.push_str(&facts.tenant),
                "severity" => out.push_str(facts.severity.map_or("", |b| b.as_str())),
                "known_exploited" => out.push_str(if facts.known_exploited { "yes" } else { "no" }),
                "score" => {
                    if let Some(s) = facts.score {
                        out.push_str(&format!("{s:.1}"));
                    }
                }
                "rule" => out.push_str(rule),
                "event_id" => out.push_str(&facts.event_id),
                "time" => out.push_str(&facts.time.to_rfc3339()),
                "summary" => out.push_str(&facts.summary),
                _ => {}
            },
        }
    }
    out
}
