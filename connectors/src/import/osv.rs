//! OSV advisories (<https://ossf.github.io/osv-schema/>), JSON or YAML, into `Advisory` events.

use std::path::Path;

use serde::Deserialize;
use trustloop_schemas::{
    Advisory, AdvisoryChange, Affected, AffectedPackage, Envelope, EventTime, EventType, Range, RangeEvent, RangeType,
    Reference, Severity, derive_event_id,
};

use super::{ImportError, json_pointer};

#[derive(Deserialize)]
struct OsvDoc {
    id: String,
    modified: String,
    #[serde(default)]
    published: Option<String>,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default)]
    aliases: Option<Vec<String>>,
    #[serde(default)]
    related: Option<Vec<String>>,
    #[serde(default)]
    upstream: Option<Vec<String>>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    severity: Option<Vec<OsvSeverity>>,
    #[serde(default)]
    affected: Option<Vec<OsvAffected>>,
    #[serde(default)]
    references: Option<Vec<OsvReference>>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct OsvSeverity {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Deserialize)]
struct OsvReference {
    #[serde(rename = "type")]
    kind: String,
    url: String,
}

#[derive(Deserialize)]
struct OsvPackage {
    ecosystem: String,
    name: String,
    #[serde(default)]
    purl: Option<String>,
}

#[derive(Deserialize)]
struct OsvAffected {
    package: OsvPackage,
    #[serde(default)]
    ranges: Option<Vec<OsvRange>>,
    #[serde(default)]
    versions: Option<Vec<String>>,
    #[serde(default)]
    ecosystem_specific: Option<serde_json::Value>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct OsvRange {
    #[serde(rename = "type")]
    kind: RangeType,
    #[serde(default)]
    repo: Option<String>,
    events: Vec<OsvEvent>,
}

#[derive(Deserialize)]
struct OsvEvent {
    #[serde(default)]
    introduced: Option<String>,
    #[serde(default)]
    fixed: Option<String>,
    #[serde(default)]
    last_affected: Option<String>,
    #[serde(default)]
    limit: Option<String>,
}

/// Document format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OSV JSON.
    Json,
    /// OSV YAML (as the PyPA advisory database keeps them).
    Yaml,
}

impl Format {
    /// The format a file name implies.
    pub fn of(path: &Path) -> Option<Format> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Some(Format::Json),
            Some("yaml" | "yml") => Some(Format::Yaml),
            _ => None,
        }
    }
}

fn time(value: &str, pointer: &str, path: &str) -> Result<EventTime, ImportError> {
    EventTime::parse_rfc3339(value).map_err(|reason| ImportError {
        path: path.to_string(),
        pointer: pointer.to_string(),
        reason,
    })
}

/// Parses one OSV document and turns it into an `Advisory` upsert for `tenant`.
///
/// `path` names the document in errors and in the event's `source`. The event time is the advisory's
/// `modified` time; the event id derives from the document's id, modification time and content.
pub fn parse(text: &str, format: Format, path: &str, tenant: &str) -> Result<Advisory, ImportError> {
    let err = |pointer: String, reason: String| ImportError { path: path.to_string(), pointer, reason };
    let doc: OsvDoc = match format {
        Format::Json => {
            let mut de = serde_json::Deserializer::from_str(text);
            serde_path_to_error::deserialize(&mut de).map_err(|e| err(json_pointer(e.path()), e.inner().to_string()))?
        }
        Format::Yaml => {
            let de = serde_yaml_ng::Deserializer::from_str(text);
            serde_path_to_error::deserialize(de).map_err(|e| err(json_pointer(e.path()), e.inner().to_string()))?
        }
    };
    if doc.id.trim().is_empty() {
        return Err(err("/id".into(), "empty advisory id".into()));
    }
    let modified = time(&doc.modified, "/modified", path)?;
    let published = doc.published.as_deref().map(|t| time(t, "/published", path)).transpose()?;
    let withdrawn = doc.withdrawn.as_deref().map(|t| time(t, "/withdrawn", path)).transpose()?;
    let json_text = |v: Option<serde_json::Value>| v.filter(|v| !v.is_null()).map(|v| v.to_string());
    let affected = doc
        .affected
        .unwrap_or_default()
        .into_iter()
        .map(|a| Affected {
            package: AffectedPackage { ecosystem: a.package.ecosystem, name: a.package.name, purl: a.package.purl },
            ranges: a
                .ranges
                .unwrap_or_default()
                .into_iter()
                .map(|r| Range {
                    kind: r.kind,
                    repo: r.repo,
                    events: r
                        .events
                        .into_iter()
                        .map(|e| RangeEvent {
                            introduced: e.introduced,
                            fixed: e.fixed,
                            last_affected: e.last_affected,
                            limit: e.limit,
                        })
                        .collect(),
                })
                .collect(),
            versions: a.versions.unwrap_or_default(),
            ecosystem_specific: json_text(a.ecosystem_specific),
            database_specific: json_text(a.database_specific),
        })
        .collect();
    let mut advisory = Advisory {
        envelope: Envelope {
            event_id: derive_event_id("osv", &[]),
            tenant: tenant.into(),
            key: doc.id.as_str().into(),
            event_time: modified,
            source: format!("osv:{path}").into(),
            schema_version: EventType::Advisory.schema_version(),
        },
        change: AdvisoryChange::Upsert,
        id: doc.id,
        modified,
        published,
        withdrawn,
        aliases: doc.aliases.unwrap_or_default(),
        related: doc.related.unwrap_or_default(),
        summary: doc.summary,
        details: doc.details,
        severity: doc
            .severity
            .unwrap_or_default()
            .into_iter()
            .map(|s| Severity { kind: s.kind, score: s.score })
            .collect(),
        affected,
        references: doc
            .references
            .unwrap_or_default()
            .into_iter()
            .map(|r| Reference { kind: r.kind, url: r.url })
            .collect(),
        known_exploited: false,
        database_specific: json_text(doc.database_specific),
        upstream: doc.upstream.unwrap_or_default(),
    };
    let digest = trustloop_schemas::canonical_digest(&trustloop_schemas::Event::Advisory(advisory.clone()));
    advisory.envelope.event_id = derive_event_id("osv", &[advisory.id.as_bytes(), &digest]);
    Ok(advisory)
}

/// Reads and parses one OSV file.
pub fn parse_file(path: &Path, tenant: &str) -> Result<Advisory, ImportError> {
    let name = path.display().to_string();
    let format = Format::of(path).ok_or_else(|| ImportError {
        path: name.clone(),
        pointer: String::new(),
        reason: "not an OSV document (expected .json, .yaml or .yml)".into(),
    })?;
    let text = std::fs::read_to_string(path).map_err(|e| ImportError {
        path: name.clone(),
        pointer: String::new(),
        reason: e.to_string(),
    })?;
    parse(&text, format, &name, tenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"id: PYSEC-2020-342
modified: 2023-11-07T20:24:23.946863Z
published: 2020-08-05T14:15:00Z
aliases:
- CVE-2020-13921
affected:
- package:
    ecosystem: PyPI
    name: apache-skywalking
  ranges:
  - type: ECOSYSTEM
    events:
    - introduced: "0"
    - fixed: 8.0.0
  versions:
  - 1.10
  - 0.1.0
"#;

    #[test]
    fn yaml_keeps_versions_as_written() {
        let a = parse(YAML, Format::Yaml, "t.yaml", "acme").expect("parse");
        assert_eq!(a.id, "PYSEC-2020-342");
        assert_eq!(a.aliases, vec!["CVE-2020-13921"]);
        assert_eq!(a.affected[0].versions, vec!["1.10", "0.1.0"], "1.10 is not the number 1.1");
        assert_eq!(a.affected[0].ranges[0].events[1].fixed.as_deref(), Some("8.0.0"));
        assert_eq!(a.envelope.event_time, a.modified);
        let again = parse(YAML, Format::Yaml, "t.yaml", "acme").expect("parse");
        assert_eq!(a.envelope.event_id, again.envelope.event_id, "deterministic id");
    }

    #[test]
    fn errors_carry_a_json_pointer() {
        let bad = r#"{"id":"X","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"a"},"ranges":[{"type":"WEIRD","events":[]}]}]}"#;
        let e = parse(bad, Format::Json, "x.json", "acme").expect_err("bad range type");
        assert_eq!(e.pointer, "/affected/0/ranges/0/type");
        assert!(e.to_string().starts_with("x.json at /affected/0/ranges/0/type: "), "{e}");
        let e = parse(r#"{"id":"X","modified":"yesterday"}"#, Format::Json, "x.json", "acme").expect_err("bad time");
        assert_eq!(e.pointer, "/modified");
        let e = parse("{", Format::Json, "x.json", "acme").expect_err("truncated");
        assert!(e.reason.contains("EOF"), "{e}");
    }
}
