//! CycloneDX VEX (<https://cyclonedx.org/capabilities/vex/>) into `VexStatement` events: every
//! vulnerability with an `analysis` is a statement about the components it `affects`.
//!
//! `affects[].ref` is resolved through the document's components (`bom-ref` → `purl`, at any depth,
//! `metadata.component` included); a ref without a purl — a purl itself, a `urn:cdx:` BOM-link, a
//! bom-ref of a component without purl or of another BOM — is kept as it is.
//!
//! States: `exploitable` → affected, `not_affected`/`false_positive` → not_affected,
//! `resolved`/`resolved_with_pedigree` → fixed, `in_triage` → under_investigation. Justifications
//! (kept for not-affected statements): `code_not_present` → vulnerable_code_not_present,
//! `code_not_reachable` → vulnerable_code_not_in_execute_path, `requires_*` →
//! vulnerable_code_cannot_be_controlled_by_adversary, `protected_*` →
//! inline_mitigations_already_exist. `analysis.detail` is the impact statement; the responses and
//! the vulnerability's `recommendation` are the action statement. Unknown values are rejected.

use std::collections::HashMap;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use trustloop_schemas::{EventTime, VexFormat, VexJustification, VexStatement, VexStatus};

use super::ImportError;
use super::vex::{DocumentInfo, Draft, error, finish, from_json, push_unique, time_at};

#[derive(Deserialize)]
struct Bom {
    #[serde(rename = "serialNumber", default)]
    serial_number: Option<String>,
    #[serde(default)]
    version: Option<u64>,
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    components: Vec<Component>,
    #[serde(default)]
    vulnerabilities: Vec<Vulnerability>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    component: Option<Component>,
    #[serde(default)]
    supplier: Option<Named>,
    /// CycloneDX 1.6.
    #[serde(default)]
    manufacturer: Option<Named>,
    /// CycloneDX 1.4–1.5.
    #[serde(default)]
    manufacture: Option<Named>,
    #[serde(default)]
    authors: Vec<Named>,
}

#[derive(Deserialize)]
struct Named {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct Component {
    #[serde(rename = "bom-ref", default)]
    bom_ref: Option<String>,
    #[serde(default)]
    purl: Option<String>,
    #[serde(default)]
    components: Vec<Component>,
}

#[derive(Deserialize)]
struct Vulnerability {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    references: Vec<Reference>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    published: Option<String>,
    #[serde(default)]
    updated: Option<String>,
    #[serde(default)]
    recommendation: Option<String>,
    #[serde(default)]
    analysis: Option<Analysis>,
    #[serde(default)]
    affects: Vec<Affects>,
}

#[derive(Deserialize)]
struct Reference {
    id: String,
}

#[derive(Deserialize)]
struct Affects {
    #[serde(rename = "ref")]
    reference: String,
}

#[derive(Deserialize)]
struct Analysis {
    #[serde(default)]
    state: Option<State>,
    #[serde(default)]
    justification: Option<Justification>,
    #[serde(default)]
    response: Vec<Response>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(rename = "firstIssued", default)]
    first_issued: Option<String>,
    #[serde(rename = "lastUpdated", default)]
    last_updated: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum State {
    Resolved,
    ResolvedWithPedigree,
    Exploitable,
    InTriage,
    FalsePositive,
    NotAffected,
}

impl State {
    fn status(self) -> VexStatus {
        match self {
            State::Exploitable => VexStatus::Affected,
            State::NotAffected | State::FalsePositive => VexStatus::NotAffected,
            State::Resolved | State::ResolvedWithPedigree => VexStatus::Fixed,
            State::InTriage => VexStatus::UnderInvestigation,
        }
    }
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Justification {
    CodeNotPresent,
    CodeNotReachable,
    RequiresConfiguration,
    RequiresDependency,
    RequiresEnvironment,
    ProtectedByCompiler,
    ProtectedAtRuntime,
    ProtectedAtPerimeter,
    ProtectedByMitigatingControl,
}

impl Justification {
    fn openvex(self) -> VexJustification {
        use Justification::*;
        match self {
            CodeNotPresent => VexJustification::VulnerableCodeNotPresent,
            CodeNotReachable => VexJustification::VulnerableCodeNotInExecutePath,
            RequiresConfiguration | RequiresDependency | RequiresEnvironment => {
                VexJustification::VulnerableCodeCannotBeControlledByAdversary
            }
            ProtectedByCompiler | ProtectedAtRuntime | ProtectedAtPerimeter | ProtectedByMitigatingControl => {
                VexJustification::InlineMitigationsAlreadyExist
            }
        }
    }
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Response {
    CanNotFix,
    WillNotFix,
    Update,
    Rollback,
    WorkaroundAvailable,
}

impl Response {
    fn as_str(self) -> &'static str {
        match self {
            Response::CanNotFix => "can_not_fix",
            Response::WillNotFix => "will_not_fix",
            Response::Update => "update",
            Response::Rollback => "rollback",
            Response::WorkaroundAvailable => "workaround_available",
        }
    }
}

/// bom-ref → purl for every component of the BOM that has both.
fn purls<'a>(components: &'a [Component], out: &mut HashMap<&'a str, &'a str>) {
    for c in components {
        if let (Some(r), Some(p)) = (c.bom_ref.as_deref(), c.purl.as_deref().map(str::trim).filter(|p| !p.is_empty())) {
            out.entry(r).or_insert(p);
        }
        purls(&c.components, out);
    }
}

/// The BOM-Link of the document (`urn:cdx:SERIAL/VERSION`), or the SHA-256 of its bytes when it has
/// no serial number.
fn document_id(bom: &Bom, bytes: &[u8]) -> String {
    match bom.serial_number.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(serial) => {
            let serial = serial.strip_prefix("urn:uuid:").unwrap_or(serial);
            format!("urn:cdx:{serial}/{}", bom.version.unwrap_or(1))
        }
        None => format!("sha256:{}", hex::encode(Sha256::digest(bytes))),
    }
}

/// Parses one CycloneDX document (JSON) into statements for `tenant`.
///
/// A statement's time is its analysis' `lastUpdated`, else `firstIssued`, else the BOM's
/// `metadata.timestamp`, else the vulnerability's `updated`/`published`/`created`; a statement
/// with none of them gets the Unix epoch (it then loses against any dated statement). The issuer
/// is the BOM's supplier, manufacturer or first author (empty when it names none).
pub fn parse(bytes: &[u8], path: &str, tenant: &str) -> Result<Vec<VexStatement>, ImportError> {
    let bom: Bom = from_json(bytes, path)?;
    let mut refs = HashMap::new();
    if let Some(c) = bom.metadata.as_ref().and_then(|m| m.component.as_ref()) {
        purls(std::slice::from_ref(c), &mut refs);
    }
    purls(&bom.components, &mut refs);
    let metadata_time = match bom.metadata.as_ref().and_then(|m| m.timestamp.as_deref()) {
        Some(t) => Some(time_at(t, path, "/metadata/timestamp")?),
        None => None,
    };
    let issuer = bom
        .metadata
        .as_ref()
        .and_then(|m| {
            [&m.supplier, &m.manufacturer, &m.manufacture]
                .into_iter()
                .flatten()
                .chain(m.authors.iter())
                .find_map(|n| n.name.as_deref().map(str::trim).filter(|n| !n.is_empty()))
        })
        .unwrap_or_default()
        .to_string();

    let mut drafts = Vec::new();
    let mut undated = 0usize;
    for (i, v) in bom.vulnerabilities.iter().enumerate() {
        let at = |field: &str| format!("/vulnerabilities/{i}/{field}");
        let Some(analysis) = &v.analysis else {
            tracing::debug!(file = path, vulnerability = i, "no analysis; not a VEX statement");
            continue;
        };
        let vulnerability = v.id.as_deref().map(str::trim).unwrap_or_default().to_string();
        if vulnerability.is_empty() {
            return Err(error(path, at("id"), "a vulnerability with an analysis needs an id"));
        }
        let state = analysis.state.ok_or_else(|| error(path, at("analysis/state"), "an analysis needs a state"))?;
        let status = state.status();
        let mut time = None;
        for (field, value) in
            [("analysis/lastUpdated", &analysis.last_updated), ("analysis/firstIssued", &analysis.first_issued)]
        {
            if let (None, Some(t)) = (time, value) {
                time = Some(time_at(t, path, &at(field))?);
            }
        }
        time = time.or(metadata_time);
        for (field, value) in [("updated", &v.updated), ("published", &v.published), ("created", &v.created)] {
            if let (None, Some(t)) = (time, value) {
                time = Some(time_at(t, path, &at(field))?);
            }
        }
        let time = time.unwrap_or_else(|| {
            undated += 1;
            EventTime::from_micros(0)
        });
        let mut aliases = Vec::new();
        for r in &v.references {
            if r.id.trim() != vulnerability {
                push_unique(&mut aliases, &r.id);
            }
        }
        let mut products = Vec::new();
        for a in &v.affects {
            let r = a.reference.trim();
            push_unique(&mut products, refs.get(r).copied().unwrap_or(r));
        }
        let mut action = Vec::new();
        if !analysis.response.is_empty() {
            action.push(analysis.response.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "));
        }
        if let Some(rec) = &v.recommendation {
            push_unique(&mut action, rec);
        }
        let detail = analysis.detail.as_deref().map(str::trim).filter(|d| !d.is_empty());
        drafts.push(Draft {
            time,
            vulnerability,
            aliases,
            products,
            subcomponents: Vec::new(),
            status,
            justification: analysis
                .justification
                .filter(|_| status == VexStatus::NotAffected)
                .map(Justification::openvex),
            impact_statement: detail.map(str::to_string),
            action_statement: (!action.is_empty()).then(|| action.join("\n")),
        });
    }
    if undated > 0 {
        tracing::warn!(file = path, statements = undated, "no timestamp anywhere; statement time set to 1970-01-01");
    }
    let info = DocumentInfo { format: VexFormat::Cyclonedx, id: document_id(&bom, bytes), issuer };
    Ok(finish(&info, drafts, path, tenant))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A VEX BOM with components (one nested, one without purl), a BOM-link and a purl ref.
    const DOC: &str = r#"{
      "bomFormat": "CycloneDX",
      "specVersion": "1.5",
      "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
      "version": 2,
      "metadata": {
        "timestamp": "2024-01-10T00:00:00Z",
        "supplier": {"name": "Acme, Inc."},
        "component": {"bom-ref": "acme-app", "name": "acme-app", "version": "3.1", "purl": "pkg:generic/acme/app@3.1"}
      },
      "components": [
        {"bom-ref": "jackson", "name": "jackson-databind", "purl": "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.10.0",
         "components": [{"bom-ref": "shaded", "name": "shaded", "purl": "pkg:maven/org.example/shaded@1.0"}]},
        {"bom-ref": "vendored-c-lib", "name": "libfoo"}
      ],
      "vulnerabilities": [
        {
          "id": "CVE-2020-25649",
          "source": {"name": "NVD", "url": "https://nvd.nist.gov/vuln/detail/CVE-2020-25649"},
          "references": [{"id": "SNYK-JAVA-COMFASTERXMLJACKSONCORE-1048302", "source": {"name": "SNYK"}},
                         {"id": "CVE-2020-25649", "source": {"name": "NVD"}}],
          "updated": "2021-10-26T00:00:00Z",
          "recommendation": "Upgrade to 2.10.5.1.",
          "analysis": {"state": "not_affected", "justification": "code_not_reachable",
                       "response": ["will_not_fix", "update"], "detail": "The XML path is never used.",
                       "lastUpdated": "2024-02-01T00:00:00Z"},
          "affects": [{"ref": "jackson"}, {"ref": "shaded"}, {"ref": "vendored-c-lib"},
                      {"ref": "urn:cdx:f08a6ccd-4dce-4759-bd84-c626675d60a7/1#componentA"},
                      {"ref": "pkg:npm/left-pad@1.3.0"}]
        },
        {"id": "CVE-2024-0002", "analysis": {"state": "exploitable", "justification": "requires_environment"},
         "affects": [{"ref": "acme-app"}]},
        {"id": "CVE-2024-0003", "analysis": {"state": "false_positive", "justification": "protected_at_perimeter"}},
        {"id": "CVE-2024-0004", "analysis": {"state": "resolved_with_pedigree"}},
        {"id": "CVE-2024-0005", "analysis": {"state": "in_triage"}},
        {"id": "CVE-2024-0006", "ratings": []}
      ]
    }"#;

    #[test]
    fn resolves_bom_refs_and_maps_states() {
        let s = parse(DOC.as_bytes(), "cdx.json", "acme").expect("parse");
        assert_eq!(s.len(), 5, "the vulnerability without analysis is no statement");
        let first = &s[0];
        assert_eq!(first.format, VexFormat::Cyclonedx);
        assert_eq!(first.document_id, "urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/2");
        assert_eq!(first.issuer, "Acme, Inc.");
        assert_eq!(first.vulnerability, "CVE-2020-25649");
        assert_eq!(first.aliases, vec!["SNYK-JAVA-COMFASTERXMLJACKSONCORE-1048302"]);
        assert_eq!(
            first.products,
            vec![
                "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.10.0",
                "pkg:maven/org.example/shaded@1.0",
                "vendored-c-lib",
                "urn:cdx:f08a6ccd-4dce-4759-bd84-c626675d60a7/1#componentA",
                "pkg:npm/left-pad@1.3.0",
            ]
        );
        assert_eq!(first.status, VexStatus::NotAffected);
        assert_eq!(first.justification, Some(VexJustification::VulnerableCodeNotInExecutePath));
        assert_eq!(first.impact_statement.as_deref(), Some("The XML path is never used."));
        assert_eq!(first.action_statement.as_deref(), Some("will_not_fix, update\nUpgrade to 2.10.5.1."));
        assert_eq!(first.statement_time, EventTime::parse_rfc3339("2024-02-01T00:00:00Z").expect("time"));
        assert_eq!(s[1].products, vec!["pkg:generic/acme/app@3.1"], "metadata.component resolves too");
        assert_eq!(s[1].status, VexStatus::Affected);
        assert_eq!(s[1].justification, None, "a justification only qualifies not_affected");
        assert_eq!(s[1].statement_time, EventTime::parse_rfc3339("2024-01-10T00:00:00Z").expect("time"));
        assert_eq!(s[2].status, VexStatus::NotAffected);
        assert_eq!(s[2].justification, Some(VexJustification::InlineMitigationsAlreadyExist));
        assert_eq!(s[3].status, VexStatus::Fixed);
        assert_eq!(s[4].status, VexStatus::UnderInvestigation);
        assert!(s[4].products.is_empty() && s[4].action_statement.is_none() && s[4].impact_statement.is_none());
    }

    #[test]
    fn every_justification_maps() {
        for (cdx, openvex) in [
            ("code_not_present", VexJustification::VulnerableCodeNotPresent),
            ("code_not_reachable", VexJustification::VulnerableCodeNotInExecutePath),
            ("requires_configuration", VexJustification::VulnerableCodeCannotBeControlledByAdversary),
            ("requires_dependency", VexJustification::VulnerableCodeCannotBeControlledByAdversary),
            ("requires_environment", VexJustification::VulnerableCodeCannotBeControlledByAdversary),
            ("protected_by_compiler", VexJustification::InlineMitigationsAlreadyExist),
            ("protected_at_runtime", VexJustification::InlineMitigationsAlreadyExist),
            ("protected_at_perimeter", VexJustification::InlineMitigationsAlreadyExist),
            ("protected_by_mitigating_control", VexJustification::InlineMitigationsAlreadyExist),
        ] {
            let doc = format!(
                r#"{{"bomFormat":"CycloneDX","vulnerabilities":[{{"id":"CVE-1","analysis":{{"state":"not_affected","justification":"{cdx}"}}}}]}}"#
            );
            let s = parse(doc.as_bytes(), "j.json", "acme").expect("parse");
            assert_eq!(s[0].justification, Some(openvex), "{cdx}");
        }
    }

    #[test]
    fn without_serial_number_or_any_time() {
        let doc = r#"{"bomFormat":"CycloneDX","vulnerabilities":[{"id":"CVE-1","analysis":{"state":"in_triage"}}]}"#;
        let s = parse(doc.as_bytes(), "n.json", "acme").expect("parse");
        assert!(s[0].document_id.starts_with("sha256:") && s[0].document_id.len() == 71, "{}", s[0].document_id);
        assert_eq!(s[0].statement_time, EventTime::from_micros(0));
        assert_eq!(s[0].issuer, "");
        let again = parse(doc.as_bytes(), "n.json", "acme").expect("parse");
        assert_eq!(s[0].envelope.event_id, again[0].envelope.event_id);
    }

    #[test]
    fn unknown_values_are_rejected_with_their_pointer() {
        let bad = DOC.replace(r#""state": "in_triage""#, r#""state": "investigating""#);
        let e = parse(bad.as_bytes(), "x.json", "acme").expect_err("unknown state");
        assert_eq!(e.pointer, "/vulnerabilities/4/analysis/state", "{e}");
        assert!(e.reason.contains("investigating"), "{e}");
        let bad = DOC.replace("protected_at_perimeter", "protected_by_luck");
        let e = parse(bad.as_bytes(), "x.json", "acme").expect_err("unknown justification");
        assert_eq!(e.pointer, "/vulnerabilities/2/analysis/justification", "{e}");
        let bad = DOC.replace(r#""will_not_fix", "update""#, r#""will_not_fix", "pray""#);
        let e = parse(bad.as_bytes(), "x.json", "acme").expect_err("unknown response");
        assert_eq!(e.pointer, "/vulnerabilities/0/analysis/response/1", "{e}");
        let bad = DOC.replace(r#"{"state": "resolved_with_pedigree"}"#, "{}");
        let e = parse(bad.as_bytes(), "x.json", "acme").expect_err("no state");
        assert_eq!(e.pointer, "/vulnerabilities/3/analysis/state", "{e}");
        let bad = DOC.replace(r#""lastUpdated": "2024-02-01T00:00:00Z""#, r#""lastUpdated": "February""#);
        let e = parse(bad.as_bytes(), "x.json", "acme").expect_err("bad time");
        assert_eq!(e.pointer, "/vulnerabilities/0/analysis/lastUpdated", "{e}");
        let bad = DOC.replace(r#""id": "CVE-2024-0005", "#, "");
        let e = parse(bad.as_bytes(), "x.json", "acme").expect_err("no id");
        assert_eq!(e.pointer, "/vulnerabilities/4/id", "{e}");
    }
}
