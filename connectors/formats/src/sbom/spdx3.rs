//! SPDX 3.0 JSON-LD (<https://spdx.github.io/spdx-spec/v3.0.1/serializations/>) turned into the JSON
//! shape of SPDX 2.3 JSON.
//!
//! The document is an object with an `@context` naming `https://spdx.org/rdf/3.0.x/spdx-context.jsonld`
//! and an `@graph` of elements. Read are:
//!
//! * `software_Package` → a package: `spdxId` → `SPDXID`, `name`, `software_packageVersion` →
//!   `versionInfo`, `software_packageUrl` and `externalIdentifier`s of type `packageUrl` → purl
//!   `externalRefs` (CPEs → `SECURITY` references), `verifiedUsing` hashes → `checksums`,
//!   `suppliedBy` / `originatedBy` agents → `supplier` / `originator`, download location, home page,
//!   primary purpose, copyright;
//! * `Relationship` / `LifecycleScopedRelationship` → one SPDX 2 relationship per `to` element, the
//!   type in SPDX 2 spelling (`dependsOn` → `DEPENDS_ON`); `hasDeclaredLicense` /
//!   `hasConcludedLicense` to a `simplelicensing_LicenseExpression` (or a listed licence) become the
//!   package's `licenseDeclared` / `licenseConcluded` instead;
//! * the `SpdxDocument` (`spdxId` → `SPDXID` and `documentNamespace`, `name`, `dataLicense`, its
//!   `creationInfo`) and its `rootElement`s → `documentDescribes`, looking through a
//!   `software_Sbom` / `Bom` / `Bundle` to its own root elements.
//!
//! The output says `"spdxVersion": "SPDX-2.3"` and `"trustloopSourceForm": "SPDX-3.0"`.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use crate::error::{FormatError, Location};

/// The marker member naming what the document was before conversion.
pub const SOURCE_FORM: &str = "SPDX-3.0";

/// How deep `rootElement`s are followed through nested SBOMs and bundles.
const MAX_ROOT_DEPTH: usize = 8;

/// Converts an SPDX 3.0 JSON-LD document (`bytes`, named `path` in errors) to the JSON shape of SPDX
/// 2.3 JSON.
///
/// JSON that does not parse is an error at its line and column; a document that is not SPDX 3.0
/// JSON-LD, or an element of the wrong shape (a package without `spdxId` or `name`, a member of the
/// wrong type), is an error at the JSON pointer of the offending value.
pub fn to_json(bytes: &[u8], path: &str) -> Result<Value, FormatError> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| {
        let line = u32::try_from(e.line()).unwrap_or(u32::MAX);
        let column = u32::try_from(e.column()).unwrap_or(u32::MAX);
        FormatError::new(path, Location::LineColumn(line, column), format!("JSON: {e}"))
    })?;
    let graph = Graph::new(&doc, path)?;
    graph.convert()
}

/// The `@graph` and an index of its elements by id.
struct Graph<'a> {
    path: &'a str,
    items: &'a [Value],
    by_id: HashMap<&'a str, usize>,
}

/// A package's licences, from relationships.
#[derive(Default)]
struct Licenses {
    declared: Vec<String>,
    concluded: Vec<String>,
}

impl<'a> Graph<'a> {
    fn new(doc: &'a Value, path: &'a str) -> Result<Graph<'a>, FormatError> {
        let err = |pointer: &str, reason: String| FormatError::new(path, Location::Pointer(pointer.into()), reason);
        let Some(root) = doc.as_object() else {
            return Err(err("", "not a JSON object: not SPDX 3.0 JSON-LD".into()));
        };
        check_context(root.get("@context")).map_err(|r| err("/@context", r))?;
        let Some(items) = root.get("@graph").and_then(Value::as_array) else {
            return Err(err("/@graph", "no `@graph` array of elements".into()));
        };
        let mut graph = Graph { path, items, by_id: HashMap::new() };
        for (i, item) in items.iter().enumerate() {
            if !item.is_object() {
                return Err(graph.error(i, "", "an element that is not an object"));
            }
            if let Some(id) = graph.string(i, "spdxId")?.or(graph.string(i, "@id")?) {
                graph.by_id.entry(id).or_insert(i);
            }
        }
        Ok(graph)
    }

    fn error(&self, i: usize, member: &str, reason: impl Into<String>) -> FormatError {
        let pointer = if member.is_empty() { format!("/@graph/{i}") } else { format!("/@graph/{i}/{member}") };
        FormatError::new(self.path, Location::Pointer(pointer), reason)
    }

    fn get(&self, i: usize, member: &str) -> Option<&'a Value> {
        self.items.get(i).and_then(|v| v.get(member))
    }

    /// Member `member` of element `i` as a string, if present; an error if it is something else.
    fn string(&self, i: usize, member: &str) -> Result<Option<&'a str>, FormatError> {
        match self.get(i, member) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.error(i, member, format!("`{member}` is not a string"))),
        }
    }

    /// Member `member` of element `i` as a list of strings (a single string is a list of one).
    fn strings(&self, i: usize, member: &str) -> Result<Vec<&'a str>, FormatError> {
        match self.get(i, member) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.as_str()]),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(j, v)| v.as_str().ok_or_else(|| self.error(i, &format!("{member}/{j}"), "not a string")))
                .collect(),
            Some(_) => Err(self.error(i, member, format!("`{member}` is neither a string nor a list of strings"))),
        }
    }

    /// The element's type in compact form (`software_Package`), the profile prefix lower-cased.
    fn kind(&self, i: usize) -> Result<String, FormatError> {
        let raw = match self.string(i, "type")? {
            Some(t) => t,
            None => self.string(i, "@type")?.ok_or_else(|| self.error(i, "", "an element without `type`"))?,
        };
        Ok(compact_type(raw))
    }

    fn index(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    fn convert(&self) -> Result<Value, FormatError> {
        let mut kinds = Vec::with_capacity(self.items.len());
        for i in 0..self.items.len() {
            kinds.push(self.kind(i)?);
        }
        let mut licenses: BTreeMap<&str, Licenses> = BTreeMap::new();
        let mut relationships = Vec::new();
        for (i, kind) in kinds.iter().enumerate() {
            if kind == "Relationship" || kind == "LifecycleScopedRelationship" {
                self.relationship(i, &mut licenses, &mut relationships)?;
            }
        }
        let mut packages = Vec::new();
        for (i, kind) in kinds.iter().enumerate() {
            if kind == "software_Package" {
                packages.push(self.package(i, &licenses)?);
            }
        }
        let mut out = Map::new();
        out.insert("spdxVersion".into(), json!("SPDX-2.3"));
        out.insert("trustloopSourceForm".into(), json!(SOURCE_FORM));
        let document = kinds.iter().position(|k| k == "SpdxDocument");
        let top = document.or_else(|| kinds.iter().position(|k| is_collection(k)));
        match top {
            Some(d) => self.document(d, &mut out)?,
            None => {
                out.insert("SPDXID".into(), json!("SPDXRef-DOCUMENT"));
            }
        }
        out.insert("packages".into(), Value::Array(packages));
        out.insert("relationships".into(), Value::Array(relationships));
        Ok(Value::Object(out))
    }

    /// The document-level members from element `d` (the `SpdxDocument`, else the first SBOM).
    fn document(&self, d: usize, out: &mut Map<String, Value>) -> Result<(), FormatError> {
        let id = self.string(d, "spdxId")?.or(self.string(d, "@id")?).unwrap_or("SPDXRef-DOCUMENT");
        out.insert("SPDXID".into(), json!(id));
        out.insert("documentNamespace".into(), json!(id));
        if let Some(name) = self.string(d, "name")? {
            out.insert("name".into(), json!(name));
        }
        if let Some(license) = self.string(d, "dataLicense")? {
            let license = self.index(license).and_then(|l| self.license_text(l)).unwrap_or_else(|| license.to_string());
            out.insert("dataLicense".into(), json!(license));
        }
        if let Some(info) = self.creation_info(d)? {
            out.insert("creationInfo".into(), info);
        }
        let mut described = Vec::new();
        for root in self.strings(d, "rootElement")? {
            self.described(root, 0, &mut described);
        }
        if !described.is_empty() {
            out.insert("documentDescribes".into(), json!(described));
        }
        Ok(())
    }

    /// `id`, or the root elements of the SBOM or bundle `id` is.
    fn described(&self, id: &'a str, depth: usize, out: &mut Vec<&'a str>) {
        let nested = self.index(id).filter(|&i| self.kind(i).is_ok_and(|k| is_collection(&k)));
        match nested {
            Some(i) if depth < MAX_ROOT_DEPTH => {
                for root in self.strings(i, "rootElement").unwrap_or_default() {
                    self.described(root, depth + 1, out);
                }
            }
            _ => {
                if !out.contains(&id) {
                    out.push(id);
                }
            }
        }
    }

    /// `creationInfo` (a reference to a `CreationInfo` node, or one inline) in SPDX 2 form.
    fn creation_info(&self, d: usize) -> Result<Option<Value>, FormatError> {
        let node = match self.get(d, "creationInfo") {
            Some(Value::String(id)) => self.index(id),
            Some(Value::Object(_)) => Some(d),
            _ => None,
        };
        let Some(n) = node else { return Ok(None) };
        let (info, base) = if n == d {
            (self.get(d, "creationInfo"), format!("/@graph/{d}/creationInfo"))
        } else {
            (self.items.get(n), format!("/@graph/{n}"))
        };
        let Some(info) = info else { return Ok(None) };
        let mut out = Map::new();
        if let Some(created) = info.get("created") {
            let created = created.as_str().ok_or_else(|| {
                FormatError::new(self.path, Location::Pointer(format!("{base}/created")), "`created` is not a string")
            })?;
            out.insert("created".into(), json!(created));
        }
        let mut creators = Vec::new();
        for (member, default) in [("createdBy", "Organization"), ("createdUsing", "Tool")] {
            for agent in as_strings(info.get(member)) {
                creators.push(json!(self.agent(agent, default)));
            }
        }
        if !creators.is_empty() {
            out.insert("creators".into(), Value::Array(creators));
        }
        if let Some(comment) = info.get("comment").and_then(Value::as_str) {
            out.insert("comment".into(), json!(comment));
        }
        Ok(Some(Value::Object(out)))
    }

    /// An agent reference as SPDX 2 writes it: `Person: name`, `Organization: name`, `Tool: name`.
    fn agent(&self, id: &str, default: &str) -> String {
        let Some(i) = self.index(id) else { return format!("{default}: {id}") };
        let name = self.get(i, "name").and_then(Value::as_str).unwrap_or(id);
        let kind = match self.kind(i).as_deref() {
            Ok("Person") => "Person",
            Ok("Organization") => "Organization",
            Ok("Tool" | "SoftwareAgent") => "Tool",
            _ => default,
        };
        format!("{kind}: {name}")
    }

    /// The licence text of element `l`: a licence expression's expression, a listed licence's id,
    /// `NOASSERTION` / `NONE` for those individuals.
    fn license_text(&self, l: usize) -> Option<String> {
        let item = self.items.get(l)?.as_object()?;
        if let Some(expr) = item.iter().find(|(k, _)| k.eq_ignore_ascii_case("simplelicensing_licenseExpression")) {
            return expr.1.as_str().map(str::to_string);
        }
        let id = item.get("spdxId").or_else(|| item.get("@id")).and_then(Value::as_str)?;
        license_of_id(id)
    }

    fn license_for(&self, id: &str) -> Option<String> {
        match self.index(id) {
            Some(l) => self.license_text(l),
            None => license_of_id(id),
        }
    }

    fn relationship(
        &self,
        i: usize,
        licenses: &mut BTreeMap<&'a str, Licenses>,
        out: &mut Vec<Value>,
    ) -> Result<(), FormatError> {
        let kind = self
            .string(i, "relationshipType")?
            .ok_or_else(|| self.error(i, "relationshipType", "a relationship without `relationshipType`"))?;
        let from = self.string(i, "from")?.ok_or_else(|| self.error(i, "from", "a relationship without `from`"))?;
        let to = self.strings(i, "to")?;
        match kind {
            "hasDeclaredLicense" | "hasConcludedLicense" => {
                let entry = licenses.entry(from).or_default();
                let list = if kind == "hasDeclaredLicense" { &mut entry.declared } else { &mut entry.concluded };
                for (j, target) in to.iter().enumerate() {
                    let text = self
                        .license_for(target)
                        .ok_or_else(|| self.error(i, &format!("to/{j}"), format!("`{target}` is not a licence")))?;
                    list.push(text);
                }
            }
            _ => {
                let kind = upper_snake(kind);
                for target in to {
                    out.push(json!({
                        "spdxElementId": from,
                        "relationshipType": kind,
                        "relatedSpdxElement": special_element(target),
                    }));
                }
            }
        }
        Ok(())
    }

    fn package(&self, i: usize, licenses: &BTreeMap<&str, Licenses>) -> Result<Value, FormatError> {
        let id = self.string(i, "spdxId")?.ok_or_else(|| self.error(i, "spdxId", "a package without `spdxId`"))?;
        let name = self.string(i, "name")?.ok_or_else(|| self.error(i, "name", "a package without `name`"))?;
        let mut p = Map::new();
        p.insert("SPDXID".into(), json!(id));
        p.insert("name".into(), json!(name));
        let texts = [
            ("software_packageVersion", "versionInfo"),
            ("software_downloadLocation", "downloadLocation"),
            ("software_homePage", "homepage"),
            ("software_copyrightText", "copyrightText"),
            ("software_sourceInfo", "sourceInfo"),
            ("summary", "summary"),
            ("description", "description"),
            ("comment", "comment"),
        ];
        for (from, to) in texts {
            if let Some(v) = self.string(i, from)? {
                p.insert(to.into(), json!(v));
            }
        }
        if let Some(purpose) = self.string(i, "software_primaryPurpose")? {
            p.insert("primaryPackagePurpose".into(), json!(upper_snake(purpose)));
        }
        if let Some(s) = self.string(i, "suppliedBy")? {
            p.insert("supplier".into(), json!(self.agent(s, "Organization")));
        }
        if let Some(o) = self.strings(i, "originatedBy")?.first() {
            p.insert("originator".into(), json!(self.agent(o, "Organization")));
        }
        let refs = self.external_refs(i)?;
        if !refs.is_empty() {
            p.insert("externalRefs".into(), Value::Array(refs));
        }
        let sums = self.checksums(i)?;
        if !sums.is_empty() {
            p.insert("checksums".into(), Value::Array(sums));
        }
        if let Some(l) = licenses.get(id) {
            if !l.declared.is_empty() {
                p.insert("licenseDeclared".into(), json!(join_licenses(&l.declared)));
            }
            if !l.concluded.is_empty() {
                p.insert("licenseConcluded".into(), json!(join_licenses(&l.concluded)));
            }
        }
        Ok(Value::Object(p))
    }

    /// Package URLs and CPEs as SPDX 2 external references, without repeats.
    fn external_refs(&self, i: usize) -> Result<Vec<Value>, FormatError> {
        let mut refs: Vec<(&str, &str, String)> = Vec::new();
        if let Some(purl) = self.string(i, "software_packageUrl")? {
            refs.push(("PACKAGE-MANAGER", "purl", purl.to_string()));
        }
        for member in ["externalIdentifier", "externalIdentifiers"] {
            let list = match self.get(i, member) {
                None | Some(Value::Null) => continue,
                Some(Value::Array(a)) => a.iter().collect::<Vec<_>>(),
                Some(one @ Value::Object(_)) => vec![one],
                Some(_) => return Err(self.error(i, member, format!("`{member}` is neither an object nor a list"))),
            };
            for (j, ident) in list.into_iter().enumerate() {
                let at = format!("{member}/{j}");
                let kind = ident.get("externalIdentifierType").and_then(Value::as_str);
                let value = ident
                    .get("identifier")
                    .and_then(Value::as_str)
                    .ok_or_else(|| self.error(i, &at, "an external identifier without a string `identifier`"))?;
                let mapped = match kind.map(str::to_ascii_lowercase).as_deref() {
                    Some("packageurl") => ("PACKAGE-MANAGER", "purl"),
                    Some("cpe23") => ("SECURITY", "cpe23Type"),
                    Some("cpe22") => ("SECURITY", "cpe22Type"),
                    _ => continue,
                };
                refs.push((mapped.0, mapped.1, value.to_string()));
            }
        }
        let mut out: Vec<Value> = Vec::new();
        for (category, kind, locator) in refs {
            let r = json!({"referenceCategory": category, "referenceType": kind, "referenceLocator": locator});
            if !out.contains(&r) {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// `verifiedUsing` hashes as SPDX 2 checksums.
    fn checksums(&self, i: usize) -> Result<Vec<Value>, FormatError> {
        let list = match self.get(i, "verifiedUsing") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(a)) => a,
            Some(_) => return Err(self.error(i, "verifiedUsing", "`verifiedUsing` is not a list")),
        };
        let mut out = Vec::new();
        for (j, method) in list.iter().enumerate() {
            let kind = method.get("type").and_then(Value::as_str).unwrap_or("Hash");
            if kind != "Hash" {
                continue;
            }
            let at = format!("verifiedUsing/{j}");
            let algorithm = method
                .get("algorithm")
                .and_then(Value::as_str)
                .ok_or_else(|| self.error(i, &at, "a hash without a string `algorithm`"))?;
            let value = method
                .get("hashValue")
                .and_then(Value::as_str)
                .ok_or_else(|| self.error(i, &at, "a hash without a string `hashValue`"))?;
            out.push(json!({"algorithm": spdx2_algorithm(algorithm), "checksumValue": value}));
        }
        Ok(out)
    }
}

/// Checks that `@context` names the SPDX 3.0 context.
fn check_context(context: Option<&Value>) -> Result<(), String> {
    let names: Vec<&str> = match context {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if names.iter().any(|n| n.contains("spdx.org/rdf/3.0.")) {
        return Ok(());
    }
    match names.iter().find(|n| n.contains("spdx.org/rdf/")) {
        Some(other) => Err(format!("`{other}` is not an SPDX 3.0 context (3.0.x is read)")),
        None => Err("no `@context` naming https://spdx.org/rdf/3.0.x/spdx-context.jsonld".into()),
    }
}

fn as_strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// `software_Package` from a compact or full type name; the profile prefix lower-cased
/// (`simpleLicensing_LicenseExpression` → `simplelicensing_LicenseExpression`).
fn compact_type(raw: &str) -> String {
    if let Some(terms) = raw.split_once("/terms/").map(|(_, t)| t) {
        return match terms.split_once('/') {
            Some(("Core", class)) => class.to_string(),
            Some((profile, class)) => format!("{}_{class}", profile.to_ascii_lowercase()),
            None => terms.to_string(),
        };
    }
    match raw.split_once('_') {
        Some((profile, class)) => format!("{}_{class}", profile.to_ascii_lowercase()),
        None => raw.to_string(),
    }
}

/// Elements that gather others and have root elements of their own.
fn is_collection(kind: &str) -> bool {
    matches!(kind, "software_Sbom" | "Bom" | "Bundle" | "SpdxDocument")
}

/// `dependsOn` → `DEPENDS_ON`, `operatingSystem` → `OPERATING_SYSTEM`.
fn upper_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// SPDX 3's `NoAssertionElement` / `NoneElement` as SPDX 2's `NOASSERTION` / `NONE`.
fn special_element(id: &str) -> &str {
    if id.ends_with("NoAssertionElement") {
        "NOASSERTION"
    } else if id.ends_with("NoneElement") {
        "NONE"
    } else {
        id
    }
}

/// The licence an id names without an element: a listed licence's IRI, or the no-assertion / none
/// individuals.
fn license_of_id(id: &str) -> Option<String> {
    if id.ends_with("NoAssertionLicense") {
        return Some("NOASSERTION".into());
    }
    if id.ends_with("NoneLicense") {
        return Some("NONE".into());
    }
    id.split_once("spdx.org/licenses/").map(|(_, l)| l.to_string())
}

fn join_licenses(list: &[String]) -> String {
    match list {
        [one] => one.clone(),
        many => many.iter().map(|l| format!("({l})")).collect::<Vec<_>>().join(" AND "),
    }
}

/// SPDX 3 hash algorithm names in SPDX 2 spelling (`sha256` → `SHA256`, `sha3_256` → `SHA3-256`,
/// `blake2b256` → `BLAKE2b-256`).
fn spdx2_algorithm(alg: &str) -> String {
    let lower = alg.to_ascii_lowercase();
    if let Some(bits) = lower.strip_prefix("blake2b") {
        return format!("BLAKE2b-{}", bits.trim_start_matches(['-', '_']));
    }
    lower.to_ascii_uppercase().replace('_', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{
  "@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld",
  "@graph": [
    {"type": "CreationInfo", "@id": "_:ci", "specVersion": "3.0.1", "created": "2024-01-02T03:04:05Z",
     "createdBy": ["urn:acme"], "createdUsing": ["urn:tool"]},
    {"type": "Organization", "spdxId": "urn:acme", "name": "Acme", "creationInfo": "_:ci"},
    {"type": "Tool", "spdxId": "urn:tool", "name": "gen-1", "creationInfo": "_:ci"},
    {"type": "SpdxDocument", "spdxId": "urn:doc", "name": "demo", "creationInfo": "_:ci",
     "dataLicense": "urn:cc0", "rootElement": ["urn:sbom"]},
    {"type": "software_Sbom", "spdxId": "urn:sbom", "creationInfo": "_:ci", "rootElement": ["urn:app"]},
    {"type": "simplelicensing_LicenseExpression", "spdxId": "urn:cc0", "creationInfo": "_:ci",
     "simplelicensing_licenseExpression": "CC0-1.0"},
    {"type": "simplelicensing_LicenseExpression", "spdxId": "urn:mit", "creationInfo": "_:ci",
     "simplelicensing_licenseExpression": "MIT"},
    {"type": "software_Package", "spdxId": "urn:app", "name": "app", "software_packageVersion": "1.0",
     "creationInfo": "_:ci", "suppliedBy": "urn:acme", "software_primaryPurpose": "application",
     "externalIdentifier": [{"type": "ExternalIdentifier", "externalIdentifierType": "packageUrl",
                             "identifier": "pkg:npm/app@1.0"},
                            {"type": "ExternalIdentifier", "externalIdentifierType": "cpe23",
                             "identifier": "cpe:2.3:a:acme:app:1.0:*:*:*:*:*:*:*"}],
     "verifiedUsing": [{"type": "Hash", "algorithm": "sha256", "hashValue": "abcd"},
                       {"type": "Hash", "algorithm": "sha3_256", "hashValue": "ef"}]},
    {"type": "software_Package", "spdxId": "urn:dep", "name": "dep", "software_packageVersion": "2",
     "software_packageUrl": "pkg:npm/dep@2", "creationInfo": "_:ci",
     "externalIdentifier": {"type": "ExternalIdentifier", "externalIdentifierType": "packageUrl",
                            "identifier": "pkg:npm/dep@2"}},
    {"type": "Relationship", "spdxId": "urn:r1", "creationInfo": "_:ci", "from": "urn:app",
     "relationshipType": "dependsOn", "to": ["urn:dep", "https://spdx.org/rdf/3.0.1/terms/Core/NoAssertionElement"]},
    {"type": "LifecycleScopedRelationship", "spdxId": "urn:r2", "creationInfo": "_:ci", "from": "urn:doc",
     "relationshipType": "describes", "to": "urn:app", "scope": "build"},
    {"type": "Relationship", "spdxId": "urn:r3", "creationInfo": "_:ci", "from": "urn:app",
     "relationshipType": "hasDeclaredLicense", "to": ["urn:mit"]},
    {"type": "Relationship", "spdxId": "urn:r4", "creationInfo": "_:ci", "from": "urn:dep",
     "relationshipType": "hasConcludedLicense", "to": ["https://spdx.org/licenses/Apache-2.0"]}
  ]
}"#;

    #[test]
    fn packages_relationships_licences_and_the_document() {
        let v = to_json(DOC.as_bytes(), "demo.spdx3.json").expect("convert");
        assert_eq!(v["spdxVersion"], "SPDX-2.3");
        assert_eq!(v["trustloopSourceForm"], "SPDX-3.0");
        assert_eq!(v["SPDXID"], "urn:doc");
        assert_eq!(v["name"], "demo");
        assert_eq!(v["dataLicense"], "CC0-1.0");
        assert_eq!(v["creationInfo"]["created"], "2024-01-02T03:04:05Z");
        assert_eq!(v["creationInfo"]["creators"], json!(["Organization: Acme", "Tool: gen-1"]));
        assert_eq!(v["documentDescribes"], json!(["urn:app"]), "through the SBOM to its root");
        let app = &v["packages"][0];
        assert_eq!(app["versionInfo"], "1.0");
        assert_eq!(app["supplier"], "Organization: Acme");
        assert_eq!(app["primaryPackagePurpose"], "APPLICATION");
        assert_eq!(app["licenseDeclared"], "MIT");
        assert_eq!(
            app["externalRefs"],
            json!([
                {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:npm/app@1.0"},
                {"referenceCategory": "SECURITY", "referenceType": "cpe23Type",
                 "referenceLocator": "cpe:2.3:a:acme:app:1.0:*:*:*:*:*:*:*"}
            ])
        );
        assert_eq!(
            app["checksums"],
            json!([{"algorithm": "SHA256", "checksumValue": "abcd"}, {"algorithm": "SHA3-256", "checksumValue": "ef"}])
        );
        let dep = &v["packages"][1];
        assert_eq!(dep["externalRefs"].as_array().map(Vec::len), Some(1), "the same purl twice is one reference");
        assert_eq!(dep["licenseConcluded"], "Apache-2.0");
        assert_eq!(
            v["relationships"],
            json!([
                {"spdxElementId": "urn:app", "relationshipType": "DEPENDS_ON", "relatedSpdxElement": "urn:dep"},
                {"spdxElementId": "urn:app", "relationshipType": "DEPENDS_ON", "relatedSpdxElement": "NOASSERTION"},
                {"spdxElementId": "urn:doc", "relationshipType": "DESCRIBES", "relatedSpdxElement": "urn:app"}
            ])
        );
    }

    #[test]
    fn errors_carry_pointers_or_positions() {
        let graph = |items: &str| {
            format!(r#"{{"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld", "@graph": [{items}]}}"#)
        };
        let cases = [
            ("[]".to_string(), Location::Pointer(String::new()), "not a JSON object"),
            (r#"{"@graph": []}"#.to_string(), Location::Pointer("/@context".into()), "no `@context`"),
            (
                r#"{"@context": "https://spdx.org/rdf/3.1/spdx-context.jsonld", "@graph": []}"#.to_string(),
                Location::Pointer("/@context".into()),
                "3.0.x is read",
            ),
            (
                r#"{"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"}"#.to_string(),
                Location::Pointer("/@graph".into()),
                "@graph",
            ),
            (graph("7"), Location::Pointer("/@graph/0".into()), "not an object"),
            (graph(r#"{"name": "x"}"#), Location::Pointer("/@graph/0".into()), "without `type`"),
            (
                graph(r#"{"type": "software_Package", "spdxId": "a"}"#),
                Location::Pointer("/@graph/0/name".into()),
                "without `name`",
            ),
            (
                graph(r#"{"type": "software_Package", "spdxId": "a", "name": 3}"#),
                Location::Pointer("/@graph/0/name".into()),
                "not a string",
            ),
            (
                graph(r#"{"type": "Relationship", "from": "a", "relationshipType": "contains", "to": [1]}"#),
                Location::Pointer("/@graph/0/to/0".into()),
                "not a string",
            ),
            (
                graph(
                    r#"{"type": "Relationship", "from": "a", "relationshipType": "hasDeclaredLicense", "to": ["b"]}"#,
                ),
                Location::Pointer("/@graph/0/to/0".into()),
                "not a licence",
            ),
            (
                graph(
                    r#"{"type": "software_Package", "spdxId": "a", "name": "a", "verifiedUsing": [{"type": "Hash"}]}"#,
                ),
                Location::Pointer("/@graph/0/verifiedUsing/0".into()),
                "algorithm",
            ),
            ("{\n  \"@graph\": [,]}".to_string(), Location::LineColumn(2, 14), "JSON"),
        ];
        for (doc, location, reason) in cases {
            let e = to_json(doc.as_bytes(), "x.json").expect_err(&doc);
            assert_eq!(e.location, location, "{doc}: {e}");
            assert!(e.reason.contains(reason), "{doc}: {e}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(compact_type("https://spdx.org/rdf/3.0.1/terms/Software/Package"), "software_Package");
        assert_eq!(compact_type("https://spdx.org/rdf/3.0.1/terms/Core/Relationship"), "Relationship");
        assert_eq!(compact_type("simpleLicensing_LicenseExpression"), "simplelicensing_LicenseExpression");
        assert_eq!(upper_snake("dependsOn"), "DEPENDS_ON");
        assert_eq!(spdx2_algorithm("blake2b256"), "BLAKE2b-256");
        assert_eq!(spdx2_algorithm("sha512"), "SHA512");
    }
}
