//! OpenVEX documents (<https://github.com/openvex/spec>) into `VexStatement` events: the v0.2.0
//! layout (vulnerability and products as objects, subcomponents inside products) and the older
//! 0.0.x layout (vulnerability, products and subcomponents as plain strings).

use std::collections::BTreeMap;

use serde::Deserialize;
use trustloop_schemas::{VexFormat, VexJustification, VexStatement, VexStatus};

use super::ImportError;
use super::vex::{DocumentInfo, Draft, error, finish, from_json, push_unique, time_at};

/// What every OpenVEX `@context` starts with (`https://openvex.dev/ns`, `.../ns/v0.0.1`,
/// `.../ns/v0.2.0`).
pub const CONTEXT_PREFIX: &str = "https://openvex.dev/ns";

/// Whether `context` is an OpenVEX `@context`.
pub fn is_context(context: &str) -> bool {
    context == CONTEXT_PREFIX || context.starts_with("https://openvex.dev/ns/")
}

#[derive(Deserialize)]
struct Document {
    #[serde(rename = "@context")]
    context: String,
    #[serde(rename = "@id")]
    id: String,
    author: String,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    last_updated: Option<String>,
    statements: Vec<Statement>,
}

#[derive(Deserialize)]
struct Statement {
    vulnerability: VulnerabilityRef,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    last_updated: Option<String>,
    #[serde(default)]
    products: Vec<ComponentRef>,
    /// 0.0.x: subcomponents of every product, as strings.
    #[serde(default)]
    subcomponents: Vec<ComponentRef>,
    status: VexStatus,
    #[serde(default)]
    justification: Option<VexJustification>,
    #[serde(default)]
    impact_statement: Option<String>,
    #[serde(default)]
    action_statement: Option<String>,
}

/// 0.0.x: `"CVE-..."`; v0.2.0: `{"name": "CVE-...", "aliases": [...]}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum VulnerabilityRef {
    Name(String),
    Object(Vulnerability),
}

#[derive(Deserialize)]
struct Vulnerability {
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "@id", default)]
    id: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
}

/// 0.0.x: `"pkg:..."`; v0.2.0: `{"@id": ..., "identifiers": {"purl": ...}, "subcomponents": [...]}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum ComponentRef {
    Id(String),
    Object(Component),
}

#[derive(Deserialize)]
struct Component {
    #[serde(rename = "@id", default)]
    id: Option<String>,
    #[serde(default)]
    identifiers: BTreeMap<String, String>,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
    #[serde(default)]
    subcomponents: Vec<ComponentRef>,
}

/// The names a component goes by: its `@id` and its purl; without either, its CPE or its hashes.
fn component_names(c: &ComponentRef, out: &mut Vec<String>, path: &str, pointer: &str) -> Result<(), ImportError> {
    let before = out.len();
    match c {
        ComponentRef::Id(id) => push_unique(out, id),
        ComponentRef::Object(c) => {
            let mut names = Vec::new();
            if let Some(id) = &c.id {
                push_unique(&mut names, id);
            }
            if let Some(purl) = c.identifiers.get("purl") {
                push_unique(&mut names, purl);
            }
            if names.is_empty() {
                for key in ["cpe23", "cpe22"] {
                    if let Some(cpe) = c.identifiers.get(key) {
                        push_unique(&mut names, cpe);
                    }
                }
            }
            if names.is_empty() {
                for (alg, hash) in &c.hashes {
                    push_unique(&mut names, &format!("{alg}:{hash}"));
                }
            }
            if names.is_empty() {
                return Err(error(path, pointer, "a product or subcomponent needs an @id, identifiers or hashes"));
            }
            for n in &names {
                push_unique(out, n);
            }
        }
    }
    if out.len() == before && matches!(c, ComponentRef::Id(id) if id.trim().is_empty()) {
        return Err(error(path, pointer, "empty product id"));
    }
    Ok(())
}

/// Parses one OpenVEX document (JSON) into statements for `tenant`.
///
/// A statement's time is the later of its `timestamp` and `last_updated`, each falling back to the
/// document's; the issuer is the document's `author`.
pub fn parse(bytes: &[u8], path: &str, tenant: &str) -> Result<Vec<VexStatement>, ImportError> {
    let doc: Document = from_json(bytes, path)?;
    if !is_context(&doc.context) {
        return Err(error(path, "/@context", format!("`{}` is not an OpenVEX context", doc.context)));
    }
    if doc.id.trim().is_empty() {
        return Err(error(path, "/@id", "empty document id"));
    }
    let doc_timestamp = doc.timestamp.as_deref().map(|t| time_at(t, path, "/timestamp")).transpose()?;
    let doc_updated = doc.last_updated.as_deref().map(|t| time_at(t, path, "/last_updated")).transpose()?;
    let mut drafts = Vec::with_capacity(doc.statements.len());
    for (i, s) in doc.statements.into_iter().enumerate() {
        let at = |field: &str| format!("/statements/{i}/{field}");
        let timestamp = match &s.timestamp {
            Some(t) => Some(time_at(t, path, &at("timestamp"))?),
            None => doc_timestamp,
        };
        let updated = match &s.last_updated {
            Some(t) => Some(time_at(t, path, &at("last_updated"))?),
            None => doc_updated,
        };
        let time = timestamp.into_iter().chain(updated).max().ok_or_else(|| {
            error(path, at("timestamp"), "no timestamp: neither the statement nor the document has one")
        })?;
        let (vulnerability, alias_list) = match s.vulnerability {
            VulnerabilityRef::Name(name) => (name, Vec::new()),
            VulnerabilityRef::Object(v) => {
                (v.name.filter(|n| !n.trim().is_empty()).or(v.id).unwrap_or_default(), v.aliases)
            }
        };
        let vulnerability = vulnerability.trim().to_string();
        if vulnerability.is_empty() {
            return Err(error(path, at("vulnerability"), "a statement needs a vulnerability name"));
        }
        let mut aliases = Vec::new();
        for a in &alias_list {
            if a.trim() != vulnerability {
                push_unique(&mut aliases, a);
            }
        }
        let mut products = Vec::new();
        let mut subcomponents = Vec::new();
        for (j, p) in s.products.iter().enumerate() {
            component_names(p, &mut products, path, &at(&format!("products/{j}")))?;
            if let ComponentRef::Object(c) = p {
                for (k, sub) in c.subcomponents.iter().enumerate() {
                    component_names(sub, &mut subcomponents, path, &at(&format!("products/{j}/subcomponents/{k}")))?;
                }
            }
        }
        for (k, sub) in s.subcomponents.iter().enumerate() {
            component_names(sub, &mut subcomponents, path, &at(&format!("subcomponents/{k}")))?;
        }
        let text = |t: Option<String>| t.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
        drafts.push(Draft {
            time,
            vulnerability,
            aliases,
            products,
            subcomponents,
            status: s.status,
            justification: s.justification,
            impact_statement: text(s.impact_statement),
            action_statement: text(s.action_statement),
        });
    }
    let info = DocumentInfo { format: VexFormat::Openvex, id: doc.id, issuer: doc.author };
    Ok(finish(&info, drafts, path, tenant))
}

#[cfg(test)]
mod tests {
    use trustloop_schemas::EventTime;

    use super::*;

    /// The v0.2.0 layout, with a statement that has its own time and one that inherits the document's.
    const V020: &str = r#"{
      "@context": "https://openvex.dev/ns/v0.2.0",
      "@id": "https://example.com/vex/doc-1",
      "author": "Example Security",
      "timestamp": "2024-03-01T10:00:00-06:00",
      "version": 2,
      "statements": [
        {
          "vulnerability": {"name": "CVE-2023-27103", "aliases": ["GHSA-xxxx-yyyy-zzzz", "CVE-2023-27103"]},
          "timestamp": "2024-02-01T00:00:00Z",
          "products": [
            {"@id": "pkg:oci/nginx@sha256%3Aabc", "subcomponents": [{"@id": "pkg:deb/debian/libde265@1.0.11-1"}]},
            {"@id": "https://example.com/products/web", "identifiers": {"purl": "pkg:oci/web@sha256%3Adef"}}
          ],
          "status": "not_affected",
          "justification": "vulnerable_code_not_in_execute_path",
          "impact_statement": "The decoder is never called."
        },
        {
          "vulnerability": {"@id": "https://nvd.nist.gov/vuln/detail/CVE-2024-1", "name": "CVE-2024-1"},
          "products": [{"identifiers": {"purl": "pkg:npm/left-pad@1.0.0"}}],
          "status": "affected",
          "action_statement": "Upgrade to 1.0.1."
        }
      ]
    }"#;

    /// The 0.0.x layout (go-vex's `v0.0.1.json` test document, extended with subcomponents).
    const V001: &str = r#"{
      "@context": "https://openvex.dev/ns",
      "@id": "https://openvex.dev/docs/example/vex-9fb3463de1b57",
      "author": "Wolfi J Inkinson",
      "role": "Document Creator",
      "timestamp": "2023-01-08T18:02:03.647787998-06:00",
      "version": "1",
      "statements": [
        {
          "vulnerability": "CVE-2023-12345",
          "products": ["pkg:apk/wolfi/git@2.39.0-r1?arch=armv7", "pkg:apk/wolfi/git@2.39.0-r1?arch=x86_64"],
          "subcomponents": ["pkg:apk/wolfi/openssl@3.0.7-r0"],
          "status": "fixed"
        }
      ]
    }"#;

    #[test]
    fn v020_layout() {
        let s = parse(V020.as_bytes(), "v020.json", "acme").expect("parse");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].format, VexFormat::Openvex);
        assert_eq!(s[0].document_id, "https://example.com/vex/doc-1");
        assert_eq!(s[0].issuer, "Example Security");
        assert_eq!(s[0].vulnerability, "CVE-2023-27103");
        assert_eq!(s[0].aliases, vec!["GHSA-xxxx-yyyy-zzzz"], "the name itself is not an alias");
        assert_eq!(
            s[0].products,
            vec!["pkg:oci/nginx@sha256%3Aabc", "https://example.com/products/web", "pkg:oci/web@sha256%3Adef"]
        );
        assert_eq!(s[0].subcomponents, vec!["pkg:deb/debian/libde265@1.0.11-1"]);
        assert_eq!(s[0].status, VexStatus::NotAffected);
        assert_eq!(s[0].justification, Some(VexJustification::VulnerableCodeNotInExecutePath));
        assert_eq!(s[0].impact_statement.as_deref(), Some("The decoder is never called."));
        assert_eq!(s[0].statement_time, EventTime::parse_rfc3339("2024-02-01T00:00:00Z").expect("time"));
        assert_eq!(s[1].vulnerability, "CVE-2024-1");
        assert_eq!(s[1].products, vec!["pkg:npm/left-pad@1.0.0"]);
        assert_eq!(s[1].status, VexStatus::Affected);
        assert_eq!(s[1].action_statement.as_deref(), Some("Upgrade to 1.0.1."));
        assert_eq!(
            s[1].statement_time,
            EventTime::parse_rfc3339("2024-03-01T16:00:00Z").expect("time"),
            "falls back to the document's timestamp"
        );
        assert_ne!(s[0].envelope.event_id, s[1].envelope.event_id);
    }

    #[test]
    fn old_layout_with_plain_strings() {
        let s = parse(V001.as_bytes(), "v001.json", "acme").expect("parse");
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].vulnerability, "CVE-2023-12345");
        assert!(s[0].aliases.is_empty());
        assert_eq!(
            s[0].products,
            vec!["pkg:apk/wolfi/git@2.39.0-r1?arch=armv7", "pkg:apk/wolfi/git@2.39.0-r1?arch=x86_64"]
        );
        assert_eq!(s[0].subcomponents, vec!["pkg:apk/wolfi/openssl@3.0.7-r0"]);
        assert_eq!(s[0].status, VexStatus::Fixed);
        assert_eq!(s[0].statement_time, EventTime::parse_rfc3339("2023-01-09T00:02:03.647787Z").expect("time"));
    }

    #[test]
    fn last_updated_falls_back_to_the_document_and_wins_when_later() {
        let doc = V001.replace(r#""version": "1","#, r#""version": "1", "last_updated": "2023-06-01T00:00:00Z","#);
        let s = parse(doc.as_bytes(), "v.json", "acme").expect("parse");
        assert_eq!(s[0].statement_time, EventTime::parse_rfc3339("2023-06-01T00:00:00Z").expect("time"));
        let own = V001.replace(r#""status": "fixed""#, r#""status": "fixed", "last_updated": "2023-07-01T00:00:00Z""#);
        let s = parse(own.as_bytes(), "v.json", "acme").expect("parse");
        assert_eq!(s[0].statement_time, EventTime::parse_rfc3339("2023-07-01T00:00:00Z").expect("time"));
    }

    #[test]
    fn unknown_status_or_justification_is_rejected_with_its_pointer() {
        let bad = V020.replace(r#""status": "affected""#, r#""status": "maybe""#);
        let e = parse(bad.as_bytes(), "bad.json", "acme").expect_err("unknown status");
        assert_eq!(e.pointer, "/statements/1/status", "{e}");
        assert!(e.reason.contains("maybe"), "{e}");
        assert!(e.to_string().starts_with("bad.json at /statements/1/status: "), "{e}");
        let bad = V020.replace("vulnerable_code_not_in_execute_path", "trust_me");
        let e = parse(bad.as_bytes(), "bad.json", "acme").expect_err("unknown justification");
        assert_eq!(e.pointer, "/statements/0/justification", "{e}");
    }

    #[test]
    fn malformed_documents_are_rejected_with_a_pointer() {
        let no_time = V001.replace(r#""timestamp": "2023-01-08T18:02:03.647787998-06:00","#, "");
        let e = parse(no_time.as_bytes(), "t.json", "acme").expect_err("no time");
        assert_eq!(e.pointer, "/statements/0/timestamp");
        let bad_time = V020.replace("2024-02-01T00:00:00Z", "last tuesday");
        let e = parse(bad_time.as_bytes(), "t.json", "acme").expect_err("bad time");
        assert_eq!(e.pointer, "/statements/0/timestamp");
        let no_vuln = V001.replace(r#""vulnerability": "CVE-2023-12345""#, r#""vulnerability": """#);
        let e = parse(no_vuln.as_bytes(), "t.json", "acme").expect_err("empty vulnerability");
        assert_eq!(e.pointer, "/statements/0/vulnerability");
        let anonymous = V020.replace(r#"{"identifiers": {"purl": "pkg:npm/left-pad@1.0.0"}}"#, "{}");
        let e = parse(anonymous.as_bytes(), "t.json", "acme").expect_err("anonymous product");
        assert_eq!(e.pointer, "/statements/1/products/0");
        let e = parse(br#"{"@context":"https://openvex.dev/ns/v0.2.0","author":"x","statements":[]}"#, "t.json", "a")
            .expect_err("no @id");
        assert!(e.reason.contains("@id"), "{e}");
    }
}
