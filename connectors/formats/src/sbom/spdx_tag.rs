//! SPDX 2.0–2.3 tag-value (<https://spdx.github.io/spdx-spec/v2.3/>) turned into the JSON shape of
//! SPDX 2.x JSON.
//!
//! Read are the document's creation information, its packages (a `PackageName` line starts one;
//! the package fields up to the next section), external document references and relationships
//! (`Relationship: A DEPENDS_ON B`; the elements the document `DESCRIBES` also become
//! `documentDescribes`). Files, snippets, extracted licences, annotations and reviews are skipped.
//! A value may span lines between `<text>` and `</text>`; lines may end in `\n`, `\r\n` or `\r`.
//!
//! `spdxVersion` is the document's when it is 2.2 or 2.3, which have a JSON form; 2.0 and 2.1
//! (which have none) come out as `SPDX-2.3`. Either way `trustloopSourceForm` says what was read
//! (`"SPDX-2.1 tag-value"`).

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::error::{FormatError, Location};

/// The SPDX versions whose tag-value form is read.
pub const SPDX_VERSIONS: [&str; 4] = ["SPDX-2.0", "SPDX-2.1", "SPDX-2.2", "SPDX-2.3"];

/// The part of the document that the current line belongs to.
#[derive(PartialEq, Eq, Clone, Copy)]
enum Section {
    Document,
    Package,
    /// A file, snippet or extracted licence: its fields are skipped.
    Skipped,
}

/// One `Tag: value` with the line it starts on.
struct Field<'a> {
    line: u32,
    tag: &'a str,
    value: String,
}

/// The package being read.
struct Package {
    line: u32,
    fields: Map<String, Value>,
}

/// The document being read.
#[derive(Default)]
struct Doc {
    version: Option<(u32, String)>,
    root: Map<String, Value>,
    creation: Map<String, Value>,
    creators: Vec<Value>,
    external_documents: Vec<Value>,
    packages: Vec<Value>,
    /// Package SPDXIDs seen, with the package's name and line.
    package_ids: HashMap<String, (String, u32)>,
    relationships: Vec<Value>,
}

/// Converts SPDX tag-value `text` (named `path` in errors) to the JSON shape of SPDX 2.x JSON.
///
/// Errors name the line: a line outside `<text>` that is not `Tag: value`, a `<text>` never
/// closed, an unsupported `SPDXVersion`, a package field before any `PackageName` or among a
/// file's fields, a package without `SPDXID`, a malformed checksum, external reference or
/// relationship. A document without `SPDXVersion` is an error for the whole document.
pub fn to_json(text: &str, path: &str) -> Result<Value, FormatError> {
    let err = |line: u32, reason: String| FormatError::new(path, Location::Line(line), reason);
    let mut doc = Doc::default();
    let mut section = Section::Document;
    let mut package: Option<Package> = None;
    let mut lines = Lines::new(text);
    while let Some(field) = next_field(&mut lines).map_err(|(line, reason)| err(line, reason))? {
        let line = field.line;
        match field.tag {
            "PackageName" => {
                doc.close_package(package.take()).map_err(|(l, r)| err(l, r))?;
                let mut fields = Map::new();
                fields.insert("name".into(), json!(field.value));
                package = Some(Package { line, fields });
                section = Section::Package;
            }
            "FileName" | "SnippetSPDXID" | "LicenseID" => {
                doc.close_package(package.take()).map_err(|(l, r)| err(l, r))?;
                section = Section::Skipped;
            }
            "SPDXID" => match (section, package.as_mut()) {
                (Section::Document, _) => {
                    doc.root.insert("SPDXID".into(), json!(field.value));
                }
                (Section::Package, Some(p)) => {
                    p.fields.insert("SPDXID".into(), json!(field.value));
                }
                _ => {}
            },
            "Relationship" => doc.relationships.push(relationship(&field.value).map_err(|r| err(line, r))?),
            "RelationshipComment" => {
                if let Some(Value::Object(r)) = doc.relationships.last_mut() {
                    r.insert("comment".into(), json!(field.value));
                }
            }
            tag if is_package_tag(tag) => match (section, package.as_mut()) {
                (Section::Package, Some(p)) => {
                    package_field(&mut p.fields, tag, field.value).map_err(|r| err(line, r))?
                }
                (Section::Document, _) => return Err(err(line, format!("`{tag}` before any `PackageName`"))),
                _ => {
                    return Err(err(line, format!("`{tag}` among the fields of a file, snippet or licence")));
                }
            },
            tag => doc.document_field(tag, field.value, line).map_err(|r| err(line, r))?,
        }
    }
    doc.close_package(package.take()).map_err(|(l, r)| err(l, r))?;
    doc.finish().map_err(|r| FormatError::new(path, Location::Document, r))
}

/// Lines of a text, numbered from 1, ending in `\n`, `\r\n` or `\r`.
struct Lines<'a> {
    rest: &'a str,
    number: u32,
    done: bool,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Lines<'a> {
        Lines { rest: text.strip_prefix('\u{feff}').unwrap_or(text), number: 0, done: false }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (u32, &'a str);

    fn next(&mut self) -> Option<(u32, &'a str)> {
        if self.done {
            return None;
        }
        self.number = self.number.saturating_add(1);
        match self.rest.find(['\n', '\r']) {
            Some(i) => {
                let line = &self.rest[..i];
                let skip = if self.rest[i..].starts_with("\r\n") { 2 } else { 1 };
                self.rest = &self.rest[i + skip..];
                Some((self.number, line))
            }
            None => {
                self.done = true;
                if self.rest.is_empty() { None } else { Some((self.number, self.rest)) }
            }
        }
    }
}

/// The next `Tag: value` (with a `<text>` value read to its `</text>`), skipping blank lines and
/// `#` comments; `Err((line, reason))` for a line that is not a field.
fn next_field<'a>(lines: &mut Lines<'a>) -> Result<Option<Field<'a>>, (u32, String)> {
    for (line, content) in lines.by_ref() {
        let trimmed = content.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some((tag, value)) = content.split_once(':') else {
            return Err((line, format!("expected `Tag: value`, found `{}` (no colon)", shorten(trimmed))));
        };
        let tag = tag.trim();
        if tag.is_empty() || !tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err((line, format!("expected `Tag: value`, found `{}` (not a tag)", shorten(trimmed))));
        }
        let value = value.trim();
        let value = match value.strip_prefix("<text>") {
            Some(rest) => multi_line(rest, line, lines)?,
            None => value.to_string(),
        };
        return Ok(Some(Field { line, tag, value }));
    }
    Ok(None)
}

/// A `<text>` value: `first` (what follows `<text>` on the tag's line) and the lines after it, up to
/// `</text>`.
fn multi_line(first: &str, line: u32, lines: &mut Lines<'_>) -> Result<String, (u32, String)> {
    if let Some((inside, _)) = first.split_once("</text>") {
        return Ok(inside.to_string());
    }
    let mut value = first.to_string();
    for (_, content) in lines.by_ref() {
        value.push('\n');
        if let Some((inside, _)) = content.split_once("</text>") {
            value.push_str(inside);
            return Ok(value);
        }
        value.push_str(content);
    }
    Err((line, "`<text>` is never closed by `</text>`".to_string()))
}

fn shorten(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The tags of a package's fields.
fn is_package_tag(tag: &str) -> bool {
    tag.starts_with("Package")
        || matches!(
            tag,
            "FilesAnalyzed"
                | "ExternalRef"
                | "ExternalRefComment"
                | "PrimaryPackagePurpose"
                | "ReleaseDate"
                | "BuiltDate"
                | "ValidUntilDate"
        )
}

/// Sets the package field `tag` to `value`.
fn package_field(p: &mut Map<String, Value>, tag: &str, value: String) -> Result<(), String> {
    let key = match tag {
        "PackageVersion" => "versionInfo",
        "PackageFileName" => "packageFileName",
        "PackageSupplier" => "supplier",
        "PackageOriginator" => "originator",
        "PackageDownloadLocation" => "downloadLocation",
        "PackageHomePage" => "homepage",
        "PackageSourceInfo" => "sourceInfo",
        "PackageLicenseConcluded" => "licenseConcluded",
        "PackageLicenseDeclared" => "licenseDeclared",
        "PackageLicenseComments" => "licenseComments",
        "PackageCopyrightText" => "copyrightText",
        "PackageSummary" => "summary",
        "PackageDescription" => "description",
        "PackageComment" => "comment",
        "PrimaryPackagePurpose" => "primaryPackagePurpose",
        "ReleaseDate" => "releaseDate",
        "BuiltDate" => "builtDate",
        "ValidUntilDate" => "validUntilDate",
        "PackageLicenseInfoFromFiles" => return push(p, "licenseInfoFromFiles", json!(value)),
        "PackageAttributionText" => return push(p, "attributionTexts", json!(value)),
        "PackageChecksum" => return push(p, "checksums", checksum(&value)?),
        "ExternalRef" => return push(p, "externalRefs", external_ref(&value)?),
        "ExternalRefComment" => {
            if let Some(Value::Object(r)) =
                p.get_mut("externalRefs").and_then(Value::as_array_mut).and_then(|a| a.last_mut())
            {
                r.insert("comment".into(), json!(value));
            }
            return Ok(());
        }
        "FilesAnalyzed" => {
            let analyzed = match value.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(format!("FilesAnalyzed `{value}` is neither true nor false")),
            };
            p.insert("filesAnalyzed".into(), json!(analyzed));
            return Ok(());
        }
        "PackageVerificationCode" => {
            let (code, excluded) = match value.split_once('(') {
                Some((code, rest)) => (code.trim(), Some(rest.trim_end_matches(')').trim())),
                None => (value.trim(), None),
            };
            let mut v = json!({"packageVerificationCodeValue": code});
            if let Some(ex) = excluded {
                let ex = ex.strip_prefix("excludes:").unwrap_or(ex).trim();
                v["packageVerificationCodeExcludedFiles"] = json!([ex]);
            }
            p.insert("packageVerificationCode".into(), v);
            return Ok(());
        }
        _ => return Ok(()),
    };
    p.insert(key.into(), json!(value));
    Ok(())
}

fn push(p: &mut Map<String, Value>, key: &str, item: Value) -> Result<(), String> {
    match p.entry(key).or_insert_with(|| Value::Array(Vec::new())) {
        Value::Array(a) => a.push(item),
        _ => return Err(format!("`{key}` is not a list")),
    }
    Ok(())
}

/// `SHA256: 0123…` into `{"algorithm", "checksumValue"}`.
fn checksum(value: &str) -> Result<Value, String> {
    match value.split_once(':') {
        Some((alg, hex)) if !alg.trim().is_empty() && !hex.trim().is_empty() => {
            Ok(json!({"algorithm": alg.trim(), "checksumValue": hex.trim()}))
        }
        _ => Err(format!("checksum `{value}` is not `ALGORITHM: value`")),
    }
}

/// `CATEGORY TYPE LOCATOR` into `{"referenceCategory", "referenceType", "referenceLocator"}`.
fn external_ref(value: &str) -> Result<Value, String> {
    let mut parts = value.split_whitespace();
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(category), Some(kind), Some(locator), None) => {
            Ok(json!({"referenceCategory": category, "referenceType": kind, "referenceLocator": locator}))
        }
        _ => Err(format!("external reference `{value}` is not `CATEGORY TYPE LOCATOR`")),
    }
}

/// `A TYPE B` into `{"spdxElementId", "relationshipType", "relatedSpdxElement"}`; the type is
/// upper-cased (some tools write `describes`).
fn relationship(value: &str) -> Result<Value, String> {
    let mut parts = value.split_whitespace();
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(kind), Some(b), None) => Ok(json!({
            "spdxElementId": a,
            "relationshipType": kind.to_ascii_uppercase(),
            "relatedSpdxElement": b,
        })),
        _ => Err(format!("relationship `{value}` is not `ELEMENT TYPE ELEMENT`")),
    }
}

impl Doc {
    fn close_package(&mut self, package: Option<Package>) -> Result<(), (u32, String)> {
        let Some(p) = package else { return Ok(()) };
        let name = p.fields.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let Some(id) = p.fields.get("SPDXID").and_then(Value::as_str) else {
            return Err((p.line, format!("package `{name}` has no SPDXID")));
        };
        if let Some((other, line)) = self.package_ids.get(id) {
            return Err((
                p.line,
                format!("package `{name}` has SPDXID `{id}`, already that of package `{other}` (line {line})"),
            ));
        }
        self.package_ids.insert(id.to_string(), (name, p.line));
        self.packages.push(Value::Object(p.fields));
        Ok(())
    }

    /// A document-level field (unknown tags are skipped).
    fn document_field(&mut self, tag: &str, value: String, line: u32) -> Result<(), String> {
        let (map, key) = match tag {
            "SPDXVersion" => {
                if !SPDX_VERSIONS.contains(&value.as_str()) {
                    return Err(format!(
                        "SPDXVersion `{value}` is not supported (tag-value versions {})",
                        SPDX_VERSIONS.join(", ")
                    ));
                }
                self.version = Some((line, value));
                return Ok(());
            }
            "Creator" => {
                self.creators.push(json!(value));
                return Ok(());
            }
            "ExternalDocumentRef" => {
                self.external_documents.push(external_document(&value)?);
                return Ok(());
            }
            "DataLicense" => (&mut self.root, "dataLicense"),
            "DocumentName" => (&mut self.root, "name"),
            "DocumentNamespace" => (&mut self.root, "documentNamespace"),
            "DocumentComment" => (&mut self.root, "comment"),
            "Created" => (&mut self.creation, "created"),
            "CreatorComment" => (&mut self.creation, "comment"),
            "LicenseListVersion" => (&mut self.creation, "licenseListVersion"),
            _ => return Ok(()),
        };
        map.insert(key.into(), json!(value));
        Ok(())
    }

    fn finish(mut self) -> Result<Value, String> {
        let Some((_, version)) = self.version else {
            return Err("no `SPDXVersion:` line: not an SPDX tag-value document".into());
        };
        let out_version =
            if matches!(version.as_str(), "SPDX-2.2" | "SPDX-2.3") { version.as_str() } else { "SPDX-2.3" };
        let me = self.root.get("SPDXID").and_then(Value::as_str).unwrap_or("SPDXRef-DOCUMENT").to_string();
        let describes: Vec<Value> = self
            .relationships
            .iter()
            .filter(|r| r["relationshipType"] == "DESCRIBES" && r["spdxElementId"] == me.as_str())
            .map(|r| r["relatedSpdxElement"].clone())
            .collect();
        let mut root = self.root;
        root.insert("spdxVersion".into(), json!(out_version));
        root.insert("trustloopSourceForm".into(), json!(format!("{version} tag-value")));
        if !self.creators.is_empty() {
            self.creation.insert("creators".into(), Value::Array(self.creators));
        }
        root.insert("creationInfo".into(), Value::Object(self.creation));
        if !self.external_documents.is_empty() {
            root.insert("externalDocumentRefs".into(), Value::Array(self.external_documents));
        }
        if !describes.is_empty() {
            root.insert("documentDescribes".into(), Value::Array(describes));
        }
        root.insert("packages".into(), Value::Array(self.packages));
        root.insert("relationships".into(), Value::Array(self.relationships));
        Ok(Value::Object(root))
    }
}

/// `DocumentRef-x https://… SHA1: 0123…` into an external document reference.
fn external_document(value: &str) -> Result<Value, String> {
    let mut parts = value.splitn(3, char::is_whitespace).map(str::trim);
    match (parts.next(), parts.next(), parts.next()) {
        (Some(id), Some(uri), Some(sum)) if !id.is_empty() && !uri.is_empty() => {
            Ok(json!({"externalDocumentId": id, "spdxDocument": uri, "checksum": checksum(sum)?}))
        }
        _ => Err(format!("external document reference `{value}` is not `DocumentRef-ID URI ALGORITHM: value`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "SPDXVersion: SPDX-2.2\r\nDataLicense: CC0-1.0\r\nSPDXID: SPDXRef-DOCUMENT\r\n\
DocumentName: demo\r\nDocumentNamespace: https://example.com/demo\r\n\
ExternalDocumentRef:DocumentRef-other https://example.com/other SHA1: 0123\r\n\
# a comment\r\nCreator: Tool: demo-1\r\nCreator: Organization: Acme\r\nCreated: 2024-01-02T03:04:05Z\r\n\
CreatorComment: <text>two\r\nlines</text>\r\n\r\n\
PackageName: app\r\nSPDXID: SPDXRef-app\r\nPackageVersion: 1.0\r\nFilesAnalyzed: false\r\n\
PackageChecksum: SHA256: abcd\r\nPackageLicenseDeclared: MIT\r\n\
ExternalRef: PACKAGE-MANAGER purl pkg:npm/app@1.0\r\nExternalRefComment: the app\r\n\
PackageComment: <text>Not: a tag\r\nFileName: nor this</text>\r\n\
FileName: ./a.js\r\nSPDXID: SPDXRef-file\r\nFileChecksum: SHA1: 00\r\n\
PackageName: dep\r\nSPDXID: SPDXRef-dep\r\nPackageVersion: 2\r\n\
ExternalRef: PACKAGE_MANAGER purl pkg:npm/dep@2\r\n\
Relationship: SPDXRef-DOCUMENT describes SPDXRef-app\r\nRelationship: SPDXRef-app DEPENDS_ON SPDXRef-dep\r\n\
RelationshipComment: runtime\r\nRelationship: SPDXRef-app CONTAINS SPDXRef-file\r\n";

    #[test]
    fn document_packages_and_relationships() {
        let v = to_json(DOC, "demo.spdx").expect("convert");
        assert_eq!(v["spdxVersion"], "SPDX-2.2");
        assert_eq!(v["trustloopSourceForm"], "SPDX-2.2 tag-value");
        assert_eq!(v["SPDXID"], "SPDXRef-DOCUMENT");
        assert_eq!(v["name"], "demo");
        assert_eq!(v["creationInfo"]["creators"], json!(["Tool: demo-1", "Organization: Acme"]));
        assert_eq!(v["creationInfo"]["comment"], "two\nlines");
        assert_eq!(v["externalDocumentRefs"][0]["checksum"]["checksumValue"], "0123");
        assert_eq!(v["documentDescribes"], json!(["SPDXRef-app"]));
        let app = &v["packages"][0];
        assert_eq!(app["SPDXID"], "SPDXRef-app");
        assert_eq!(app["versionInfo"], "1.0");
        assert_eq!(app["filesAnalyzed"], false);
        assert_eq!(app["checksums"], json!([{"algorithm": "SHA256", "checksumValue": "abcd"}]));
        assert_eq!(app["externalRefs"][0]["referenceLocator"], "pkg:npm/app@1.0");
        assert_eq!(app["externalRefs"][0]["comment"], "the app");
        assert_eq!(app["comment"], "Not: a tag\nFileName: nor this");
        assert_eq!(v["packages"][1]["externalRefs"][0]["referenceCategory"], "PACKAGE_MANAGER");
        assert_eq!(v["packages"].as_array().map(Vec::len), Some(2), "the file is not a package");
        let rels = v["relationships"].as_array().expect("relationships");
        assert_eq!(rels.len(), 3);
        assert_eq!(rels[0]["relationshipType"], "DESCRIBES");
        assert_eq!(rels[1]["comment"], "runtime");
    }

    #[test]
    fn older_versions_come_out_as_2_3_and_say_so() {
        let v = to_json("SPDXVersion: SPDX-2.1\nSPDXID: SPDXRef-DOCUMENT\n", "a.spdx").expect("convert");
        assert_eq!(v["spdxVersion"], "SPDX-2.3");
        assert_eq!(v["trustloopSourceForm"], "SPDX-2.1 tag-value");
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("SPDXVersion: SPDX-2.2\nDataLicense CC0-1.0\n", Location::Line(2), "no colon"),
            ("SPDXVersion: SPDX-2.2\nsome words: here\n", Location::Line(2), "not a tag"),
            ("SPDXVersion: SPDX-3.0\n", Location::Line(1), "not supported"),
            ("SPDXVersion: SPDX-2.2\nPackageVersion: 1\n", Location::Line(2), "before any `PackageName`"),
            ("SPDXVersion: SPDX-2.2\nPackageName: a\nPackageVersion: 1\n", Location::Line(2), "no SPDXID"),
            ("SPDXVersion: SPDX-2.2\n\nPackageComment: <text>open\nstill\n", Location::Line(3), "never closed"),
            ("SPDXVersion: SPDX-2.2\nPackageName: a\nPackageChecksum: abc\n", Location::Line(3), "checksum"),
            ("SPDXVersion: SPDX-2.2\nPackageName: a\nExternalRef: purl pkg:npm/a@1\n", Location::Line(3), "external"),
            ("SPDXVersion: SPDX-2.2\nRelationship: a CONTAINS\n", Location::Line(2), "relationship"),
            (
                "SPDXVersion: SPDX-2.2\nPackageName: a\nSPDXID: SPDXRef-a\nFileName: f\nPackageVersion: 1\n",
                Location::Line(5),
                "among the fields of a file",
            ),
            ("DocumentName: x\n", Location::Document, "no `SPDXVersion:`"),
            (
                "SPDXVersion: SPDX-2.2\nPackageName: a\nSPDXID: SPDXRef-p\nPackageName: b\nSPDXID: SPDXRef-p\n",
                Location::Line(4),
                "already that of package `a` (line 2)",
            ),
        ];
        for (doc, location, reason) in cases {
            let e = to_json(doc, "x.spdx").expect_err(doc);
            assert_eq!(e.location, location, "{doc}: {e}");
            assert!(e.reason.contains(reason), "{doc}: {e}");
        }
    }

    #[test]
    fn line_endings() {
        let lines: Vec<(u32, &str)> = Lines::new("a\r\nb\rc\n\nd").collect();
        assert_eq!(lines, vec![(1, "a"), (2, "b"), (3, "c"), (4, ""), (5, "d")]);
        assert_eq!(Lines::new("").count(), 0);
        assert_eq!(Lines::new("x\n").collect::<Vec<_>>(), vec![(1, "x")]);
    }
}
