//! VEX documents of any supported format into `VexStatement` events: format sniffing and the parts
//! every format shares (deterministic event ids, the envelope, JSON errors with a pointer).
//!
//! * [`detect`] — which format a document is in, or `None` when it is not a VEX document.
//! * [`parse`] — one document of a known format into statements.
//! * [`read_file`] / [`parse_file`] — the same for a file.

use std::path::Path;

use serde_json::Value;
use trustloop_schemas::{
    Envelope, Event, EventTime, EventType, VexFormat, VexJustification, VexStatement, VexStatus, canonical_digest,
    derive_event_id,
};

use super::{ImportError, csaf, cyclonedx_vex, openvex};

/// The UTF-8 byte order mark some tools write before JSON.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The document without a leading UTF-8 byte order mark.
pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes)
}

/// The VEX format of a document, or `None` when it is not a VEX document (not JSON, an SBOM, a scan
/// report, a CSAF advisory without product status, a CycloneDX BOM whose vulnerabilities carry no
/// `analysis`).
///
/// JSON that does not parse is recognised by its markers (the OpenVEX context, `csaf_version`,
/// `bomFormat` with `analysis`), so that a broken VEX document is rejected with its error rather than
/// skipped as "not VEX".
pub fn detect(bytes: &[u8]) -> Option<VexFormat> {
    let bytes = strip_bom(bytes);
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => detect_value(&v),
        Err(_) => sniff(bytes),
    }
}

fn detect_value(v: &Value) -> Option<VexFormat> {
    let obj = v.as_object()?;
    if obj.get("@context").and_then(Value::as_str).is_some_and(openvex::is_context) {
        return Some(VexFormat::Openvex);
    }
    if let Some(document) = obj.get("document").and_then(Value::as_object)
        && document.get("csaf_version").is_some_and(Value::is_string)
    {
        let vex_profile = document.get("category").and_then(Value::as_str) == Some(csaf::VEX_PROFILE);
        let has_status = obj.get("vulnerabilities").and_then(Value::as_array).is_some_and(|vs| {
            vs.iter().any(|v| v.get("product_status").and_then(Value::as_object).is_some_and(|s| !s.is_empty()))
        });
        return (vex_profile || has_status).then_some(VexFormat::Csaf);
    }
    if obj.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        let analysed = obj
            .get("vulnerabilities")
            .and_then(Value::as_array)
            .is_some_and(|vs| vs.iter().any(|v| v.get("analysis").is_some()));
        return analysed.then_some(VexFormat::Cyclonedx);
    }
    None
}

/// Markers of a VEX document in text that is not (valid) JSON.
fn sniff(bytes: &[u8]) -> Option<VexFormat> {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    if bytes[start] != b'{' {
        return None;
    }
    let text = String::from_utf8_lossy(bytes);
    if text.contains(openvex::CONTEXT_PREFIX) {
        Some(VexFormat::Openvex)
    } else if text.contains("\"csaf_version\"") {
        Some(VexFormat::Csaf)
    } else if text.contains("\"bomFormat\"") && text.contains("\"analysis\"") {
        Some(VexFormat::Cyclonedx)
    } else {
        None
    }
}

/// Parses one VEX document of the given format into statements for `tenant`. `path` names the
/// document in errors and in each event's `source`.
pub fn parse(bytes: &[u8], format: VexFormat, path: &str, tenant: &str) -> Result<Vec<VexStatement>, ImportError> {
    let bytes = strip_bom(bytes);
    match format {
        VexFormat::Openvex => openvex::parse(bytes, path, tenant),
        VexFormat::Csaf => csaf::parse(bytes, path, tenant),
        VexFormat::Cyclonedx => cyclonedx_vex::parse(bytes, path, tenant),
    }
}

/// Reads one file: `Ok(None)` when it is not a VEX document, its statements when it is, an error
/// when it cannot be read or is a malformed VEX document.
pub fn read_file(path: &Path, tenant: &str) -> Result<Option<Vec<VexStatement>>, ImportError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| error(&name, "", e.to_string()))?;
    match detect(&bytes) {
        None => Ok(None),
        Some(format) => parse(&bytes, format, &name, tenant).map(Some),
    }
}

/// Reads and parses one VEX file, whatever its format; a file that is not a VEX document is an error.
pub fn parse_file(path: &Path, tenant: &str) -> Result<Vec<VexStatement>, ImportError> {
    read_file(path, tenant)?.ok_or_else(|| {
        error(
            &path.display().to_string(),
            "",
            "not a VEX document (OpenVEX, CSAF 2.0 with product status, or CycloneDX with analysis)",
        )
    })
}

/// An error at `pointer` of the document at `path` (an empty pointer: the whole document).
pub(crate) fn error(path: &str, pointer: impl Into<String>, reason: impl Into<String>) -> ImportError {
    ImportError { path: path.to_string(), pointer: pointer.into(), reason: reason.into() }
}

pub(crate) use super::from_json;

/// Parses an RFC 3339 time found at `pointer`.
pub(crate) fn time_at(value: &str, path: &str, pointer: &str) -> Result<EventTime, ImportError> {
    EventTime::parse_rfc3339(value).map_err(|reason| error(path, pointer, reason))
}

/// What a document says about its statements as a whole.
pub(crate) struct DocumentInfo {
    /// Source format.
    pub format: VexFormat,
    /// Document id.
    pub id: String,
    /// Issuer.
    pub issuer: String,
}

/// One statement before it becomes an event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Draft {
    /// When the statement was made.
    pub time: EventTime,
    /// The vulnerability.
    pub vulnerability: String,
    /// Its other ids.
    pub aliases: Vec<String>,
    /// Products.
    pub products: Vec<String>,
    /// Subcomponents.
    pub subcomponents: Vec<String>,
    /// Status.
    pub status: VexStatus,
    /// Justification.
    pub justification: Option<VexJustification>,
    /// Impact statement.
    pub impact_statement: Option<String>,
    /// Action statement.
    pub action_statement: Option<String>,
}

/// Turns a document's drafts into events: key = vulnerability, event time = statement time, event
/// id derived from the document id, the statement's index, its vulnerability and a digest of the
/// statement (which does not depend on where the file was read from).
pub(crate) fn finish(doc: &DocumentInfo, drafts: Vec<Draft>, path: &str, tenant: &str) -> Vec<VexStatement> {
    drafts
        .into_iter()
        .enumerate()
        .map(|(index, d)| {
            let mut statement = VexStatement {
                envelope: Envelope {
                    event_id: derive_event_id("vex", &[]),
                    tenant: tenant.into(),
                    key: d.vulnerability.as_str().into(),
                    event_time: d.time,
                    source: "vex".into(),
                    schema_version: EventType::VexStatement.schema_version(),
                },
                format: doc.format,
                document_id: doc.id.clone(),
                issuer: doc.issuer.clone(),
                statement_time: d.time,
                vulnerability: d.vulnerability,
                aliases: d.aliases,
                products: d.products,
                subcomponents: d.subcomponents,
                status: d.status,
                justification: d.justification,
                impact_statement: d.impact_statement,
                action_statement: d.action_statement,
            };
            let digest = canonical_digest(&Event::VexStatement(statement.clone()));
            statement.envelope.event_id = derive_event_id(
                "vex",
                &[
                    statement.document_id.as_bytes(),
                    &(index as u64).to_be_bytes(),
                    statement.vulnerability.as_bytes(),
                    &digest,
                ],
            );
            statement.envelope.source = format!("vex:{path}").into();
            statement
        })
        .collect()
}

/// Appends `item` unless it is empty or already there (keeps first-seen order).
pub(crate) fn push_unique(list: &mut Vec<String>, item: &str) {
    let item = item.trim();
    if !item.is_empty() && !list.iter().any(|x| x == item) {
        list.push(item.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENVEX: &str = r#"{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://example.com/vex-1",
        "author":"Example","timestamp":"2024-01-01T00:00:00Z",
        "statements":[{"vulnerability":{"name":"CVE-2024-0001"},"products":[{"@id":"pkg:npm/a@1.0.0"}],"status":"fixed"}]}"#;

    #[test]
    fn detects_each_format_and_what_is_not_vex() {
        assert_eq!(detect(OPENVEX.as_bytes()), Some(VexFormat::Openvex));
        let mut with_bom = UTF8_BOM.to_vec();
        with_bom.extend_from_slice(OPENVEX.as_bytes());
        assert_eq!(detect(&with_bom), Some(VexFormat::Openvex));
        let csaf_vex = r#"{"document":{"category":"csaf_vex","csaf_version":"2.0"}}"#;
        assert_eq!(detect(csaf_vex.as_bytes()), Some(VexFormat::Csaf));
        let advisory = r#"{"document":{"category":"csaf_security_advisory","csaf_version":"2.0"},
            "vulnerabilities":[{"cve":"CVE-1","product_status":{"fixed":["P1"]}}]}"#;
        assert_eq!(detect(advisory.as_bytes()), Some(VexFormat::Csaf), "an advisory with product status");
        let informational = r#"{"document":{"category":"csaf_informational_advisory","csaf_version":"2.0"}}"#;
        assert_eq!(detect(informational.as_bytes()), None);
        let cdx_vex =
            r#"{"bomFormat":"CycloneDX","vulnerabilities":[{"id":"CVE-1","analysis":{"state":"in_triage"}}]}"#;
        assert_eq!(detect(cdx_vex.as_bytes()), Some(VexFormat::Cyclonedx));
        let cdx_vdr = r#"{"bomFormat":"CycloneDX","vulnerabilities":[{"id":"CVE-1"}]}"#;
        assert_eq!(detect(cdx_vdr.as_bytes()), None, "vulnerabilities without analysis are not VEX");
        let sbom = r#"{"bomFormat":"CycloneDX","components":[]}"#;
        assert_eq!(detect(sbom.as_bytes()), None);
        assert_eq!(detect(br#"{"spdxVersion":"SPDX-2.3"}"#), None);
        assert_eq!(detect(b"# README\n"), None);
        assert_eq!(detect(b"[1,2]"), None);
        assert_eq!(detect(b""), None);
    }

    #[test]
    fn broken_json_with_vex_markers_is_detected_so_it_can_be_rejected() {
        let truncated = &OPENVEX.as_bytes()[..OPENVEX.len() - 10];
        assert_eq!(detect(truncated), Some(VexFormat::Openvex));
        let e = parse(truncated, VexFormat::Openvex, "t.json", "acme").expect_err("truncated");
        assert!(e.reason.contains("EOF"), "{e}");
        assert_eq!(detect(br#"{"document": {"csaf_version": "2.0", "#), Some(VexFormat::Csaf));
        assert_eq!(detect(br#"{"bomFormat": "CycloneDX", "components": ["#), None);
    }

    #[test]
    fn ids_are_deterministic_and_do_not_depend_on_the_path() {
        let a = parse(OPENVEX.as_bytes(), VexFormat::Openvex, "a/x.json", "acme").expect("parse");
        let b = parse(OPENVEX.as_bytes(), VexFormat::Openvex, "b/y.json", "acme").expect("parse");
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].envelope.event_id, b[0].envelope.event_id);
        assert_eq!(&*a[0].envelope.source, "vex:a/x.json");
        assert_eq!(&*a[0].envelope.key, "CVE-2024-0001");
        assert_eq!(&*a[0].envelope.tenant, "acme");
        assert_eq!(a[0].envelope.event_time, a[0].statement_time);
        let other_tenant = parse(OPENVEX.as_bytes(), VexFormat::Openvex, "a/x.json", "other").expect("parse");
        assert_ne!(a[0].envelope.event_id, other_tenant[0].envelope.event_id);
        let changed = OPENVEX.replace("fixed", "affected");
        let c = parse(changed.as_bytes(), VexFormat::Openvex, "a/x.json", "acme").expect("parse");
        assert_ne!(a[0].envelope.event_id, c[0].envelope.event_id, "the content is part of the id");
    }

    #[test]
    fn files_that_are_not_vex_are_none_and_unreadable_files_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let readme = dir.path().join("README.md");
        std::fs::write(&readme, "# not VEX\n").expect("write");
        assert_eq!(read_file(&readme, "acme").expect("readable"), None);
        assert!(parse_file(&readme, "acme").expect_err("not VEX").reason.contains("not a VEX document"));
        let vex = dir.path().join("doc.openvex.json");
        std::fs::write(&vex, OPENVEX).expect("write");
        assert_eq!(parse_file(&vex, "acme").expect("parse").len(), 1);
        let missing = dir.path().join("missing.json");
        let e = read_file(&missing, "acme").expect_err("missing");
        assert!(e.path.ends_with("missing.json") && e.pointer.is_empty(), "{e}");
    }
}
