//! An ordered advisory stream (JSON lines, optionally gzip-compressed) — the history of an OSV database
//! as `{"seq", "commit", "commit_time", "change": "upsert"|"delete", "path", "osv"}` records — into
//! `Advisory` events in stream order, with each commit's time as the event time.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::Deserialize;
use trustloop_schemas::{Advisory, AdvisoryChange, Envelope, EventTime, EventType, derive_event_id};

use super::ImportError;
use super::osv::{self, Format};

#[derive(Deserialize)]
struct Line {
    #[serde(default)]
    commit: Option<String>,
    commit_time: String,
    change: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    osv: Option<serde_json::Value>,
}

/// Reads the stream at `path` (`.gz` is decompressed); returns one result per non-empty line, in
/// order. A bad line is an error naming its line number; the other lines still come through.
pub fn read(path: &Path, tenant: &str) -> Result<Vec<Result<Advisory, ImportError>>, ImportError> {
    let name = path.display().to_string();
    let io = |e: std::io::Error| ImportError { path: name.clone(), pointer: String::new(), reason: e.to_string() };
    let file = std::fs::File::open(path).map_err(io)?;
    let reader: Box<dyn Read> =
        if name.ends_with(".gz") { Box::new(flate2::read::GzDecoder::new(file)) } else { Box::new(file) };
    let mut out = Vec::new();
    for (n, line) in BufReader::new(reader).lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(parse_line(&line, &format!("{name}:{}", n + 1), tenant));
    }
    Ok(out)
}

/// Parses one stream line (`where_` names it in errors and in the event's source).
pub fn parse_line(line: &str, where_: &str, tenant: &str) -> Result<Advisory, ImportError> {
    let err = |pointer: &str, reason: String| ImportError { path: where_.to_string(), pointer: pointer.into(), reason };
    let l: Line = serde_json::from_str(line).map_err(|e| err("", e.to_string()))?;
    let time = EventTime::parse_rfc3339(&l.commit_time).map_err(|e| err("/commit_time", e))?;
    let commit = l.commit.unwrap_or_default();
    match l.change.as_str() {
        "upsert" => {
            let doc = l.osv.ok_or_else(|| err("/osv", "an upsert needs its OSV document".into()))?;
            let mut a = osv::parse(&doc.to_string(), Format::Json, where_, tenant).map_err(|mut e| {
                e.pointer = format!("/osv{}", e.pointer);
                e
            })?;
            a.envelope.event_time = time;
            a.envelope.source = format!("osv-history:{commit}").into();
            a.envelope.event_id =
                derive_event_id("osv-history", &[commit.as_bytes(), a.envelope.event_id.0.as_bytes()]);
            Ok(a)
        }
        "delete" => {
            let path = l.path.ok_or_else(|| err("/path", "a delete needs the deleted file's path".into()))?;
            let id = Path::new(&path)
                .file_stem()
                .and_then(|s| s.to_str())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| err("/path", format!("no advisory id in `{path}`")))?
                .to_string();
            Ok(Advisory {
                envelope: Envelope {
                    event_id: derive_event_id("osv-history-delete", &[commit.as_bytes(), id.as_bytes()]),
                    tenant: tenant.into(),
                    key: id.as_str().into(),
                    event_time: time,
                    source: format!("osv-history:{commit}").into(),
                    schema_version: EventType::Advisory.schema_version(),
                },
                change: AdvisoryChange::Delete,
                id,
                modified: time,
                published: None,
                withdrawn: None,
                aliases: vec![],
                related: vec![],
                summary: None,
                details: None,
                severity: vec![],
                affected: vec![],
                references: vec![],
                known_exploited: false,
                database_specific: None,
                upstream: Vec::new(),
            })
        }
        other => Err(err("/change", format!("unknown change `{other}` (expected upsert or delete)"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upserts_and_deletes() {
        let up = r#"{"seq":1,"commit":"abc","commit_time":"2021-09-12T14:44:48Z","change":"upsert","path":"crates/x/RUSTSEC-1.md","osv":{"id":"RUSTSEC-1","modified":"2021-01-01T00:00:00Z"}}"#;
        let a = parse_line(up, "h:1", "acme").expect("upsert");
        assert_eq!(a.id, "RUSTSEC-1");
        assert_eq!(a.envelope.event_time.to_rfc3339(), "2021-09-12T14:44:48.000000Z", "commit time is event time");
        let del = r#"{"seq":2,"commit":"def","commit_time":"2022-01-01T00:00:00Z","change":"delete","path":"crates/x/RUSTSEC-1.json","osv":null}"#;
        let d = parse_line(del, "h:2", "acme").expect("delete");
        assert_eq!((d.id.as_str(), d.change), ("RUSTSEC-1", AdvisoryChange::Delete));
        let bad =
            parse_line(r#"{"commit_time":"2022-01-01T00:00:00Z","change":"rename"}"#, "h:3", "acme").expect_err("bad");
        assert_eq!(bad.pointer, "/change");
        let bad = parse_line(r#"{"commit_time":"x","change":"upsert"}"#, "h:4", "acme").expect_err("bad time");
        assert_eq!(bad.pointer, "/commit_time");
    }
}
