//! SPDX JSON SBOMs (<https://spdx.github.io/spdx-spec/v2.3/>, versions 2.2 and 2.3) into one
//! `ReleaseInventory` event; SPDX tag-value and SPDX 3.0 JSON-LD too, once `trustloop_formats` has
//! converted them to the JSON shape ([`parse_value`]).
//!
//! A package's package URLs are its `externalRefs` of `referenceType` `purl` (category
//! `PACKAGE-MANAGER`, or 2.2's `PACKAGE_MANAGER`); each becomes an inventory component, with the
//! package's `checksums` and its licence (`licenseConcluded`, else `licenseDeclared`; `NOASSERTION`
//! and `NONE` say nothing). `relationships` make the dependency graph: `A DEPENDS_ON B` and
//! `A CONTAINS B` are edges A → B, `A DEPENDENCY_OF B` (and `DEV_`, `BUILD_`, `OPTIONAL_`,
//! `PROVIDED_`, `TEST_`, `RUNTIME_DEPENDENCY_OF`) are B → A. The packages the document describes
//! (`documentDescribes`, `DESCRIBES` / `DESCRIBED_BY` relationships with the document) are the release
//! itself, not components: what they reach directly is `direct` (also through a package without a purl
//! they reach, like trivy's operating-system package) — when they reach any component at all; otherwise
//! `direct` is not known (`None`). The release is the caller's, else the one
//! described package's `name@versionInfo`. A package whose `primaryPackagePurpose` is
//! `OPERATING-SYSTEM` (or whose SPDXID is `SPDXRef-OperatingSystem-…`) is the image's OS (`name` is
//! os-release's `ID`, `versionInfo` its `VERSION_ID`) and, without a purl, is not a left-out component.
//! The event time is `creationInfo.created`, else the caller's.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Deserialize;
use trustloop_schemas::{EventTime, InventoryFormat, OperatingSystem};

use super::ImportError;
use super::release::{Components, Node, ReleaseChoice, SbomInventory, document_time, license_value, operating_system};

/// The SPDX versions read.
pub const SPDX_VERSIONS: [&str; 2] = ["SPDX-2.2", "SPDX-2.3"];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpdxDoc {
    spdx_version: String,
    #[serde(rename = "SPDXID", default)]
    spdx_id: Option<String>,
    #[serde(default)]
    creation_info: Option<CreationInfo>,
    #[serde(default)]
    document_describes: Option<Vec<String>>,
    #[serde(default)]
    packages: Option<Vec<Package>>,
    #[serde(default)]
    relationships: Option<Vec<Relationship>>,
}

#[derive(Deserialize)]
struct CreationInfo {
    #[serde(default)]
    created: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Package {
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    name: String,
    #[serde(default)]
    version_info: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    primary_package_purpose: Option<String>,
    #[serde(default)]
    checksums: Option<Vec<Checksum>>,
    #[serde(default)]
    license_concluded: Option<String>,
    #[serde(default)]
    license_declared: Option<String>,
    #[serde(default)]
    external_refs: Option<Vec<ExternalRef>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Checksum {
    algorithm: String,
    checksum_value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    reference_category: String,
    reference_type: String,
    reference_locator: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Relationship {
    spdx_element_id: String,
    relationship_type: String,
    related_spdx_element: String,
}

impl Package {
    fn label(&self) -> String {
        match &self.version_info {
            Some(v) => format!("{}@{v}", self.name),
            None => self.name.clone(),
        }
    }

    fn is_operating_system(&self) -> bool {
        self.primary_package_purpose.as_deref() == Some("OPERATING-SYSTEM")
            || self.spdx_id.starts_with("SPDXRef-OperatingSystem-")
    }

    /// The image's OS this package describes.
    fn operating_system(&self) -> OperatingSystem {
        operating_system(&self.name, self.version_info.as_deref().unwrap_or_default(), self.description.as_deref())
    }

    /// Its licence: the concluded one, else the declared one.
    fn license(&self) -> Option<&str> {
        license_value(self.license_concluded.as_deref()).or_else(|| license_value(self.license_declared.as_deref()))
    }
}

impl Relationship {
    /// The dependency edge (depender, dependee) this relationship is, if it is one.
    fn edge(&self) -> Option<(&str, &str)> {
        let (a, b) = (self.spdx_element_id.as_str(), self.related_spdx_element.as_str());
        match self.relationship_type.as_str() {
            "DEPENDS_ON" | "CONTAINS" => Some((a, b)),
            "DEPENDENCY_OF"
            | "DEV_DEPENDENCY_OF"
            | "BUILD_DEPENDENCY_OF"
            | "OPTIONAL_DEPENDENCY_OF"
            | "PROVIDED_DEPENDENCY_OF"
            | "TEST_DEPENDENCY_OF"
            | "RUNTIME_DEPENDENCY_OF" => Some((b, a)),
            _ => None,
        }
    }
}

fn is_purl_ref(r: &ExternalRef) -> bool {
    matches!(r.reference_category.as_str(), "PACKAGE-MANAGER" | "PACKAGE_MANAGER")
        && matches!(r.reference_type.as_str(), "purl" | "http://spdx.org/rdf/references/purl")
}

/// The SPDX ids of what the document describes.
fn described(doc: &SpdxDoc) -> BTreeSet<&str> {
    let me = doc.spdx_id.as_deref().unwrap_or("SPDXRef-DOCUMENT");
    let mut out: BTreeSet<&str> = doc.document_describes.iter().flatten().map(String::as_str).collect();
    for r in doc.relationships.iter().flatten() {
        match r.relationship_type.as_str() {
            "DESCRIBES" if r.spdx_element_id == me => out.insert(r.related_spdx_element.as_str()),
            "DESCRIBED_BY" if r.related_spdx_element == me => out.insert(r.spdx_element_id.as_str()),
            _ => false,
        };
    }
    out
}

/// Parses an SPDX 2.2/2.3 JSON document (`bytes`, named `path` in errors and in the event's source)
/// into the inventory of `release` for `tenant`. `event_time` is used when the document has no
/// `creationInfo.created`.
///
/// A document that is not SPDX 2.2/2.3 JSON, or does not have the specification's shape, is an error
/// at the JSON pointer of the offending value; a package URL that does not parse is only that
/// reference's rejection (in [`SbomInventory::rejected`]).
pub fn parse(
    bytes: &[u8],
    path: &str,
    release: &ReleaseChoice,
    tenant: &str,
    event_time: EventTime,
) -> Result<SbomInventory, ImportError> {
    let doc: SpdxDoc = super::from_json(bytes, path)?;
    read(&doc, bytes, path, release, tenant, event_time)
}

/// Like [`parse`], for a document already in SPDX 2.x JSON's shape (`value`: SPDX tag-value or 3.0
/// JSON-LD converted by `trustloop_formats::sbom`); `document` is the original, whose digest the
/// inventory keeps. Errors point into `value`.
pub fn parse_value(
    value: serde_json::Value,
    document: &[u8],
    path: &str,
    release: &ReleaseChoice,
    tenant: &str,
    event_time: EventTime,
) -> Result<SbomInventory, ImportError> {
    let doc: SpdxDoc = super::sbom::from_value(value, path)?;
    read(&doc, document, path, release, tenant, event_time)
}

fn read(
    doc: &SpdxDoc,
    bytes: &[u8],
    path: &str,
    release: &ReleaseChoice,
    tenant: &str,
    event_time: EventTime,
) -> Result<SbomInventory, ImportError> {
    let err =
        |pointer: &str, reason: String| ImportError { path: path.to_string(), pointer: pointer.to_string(), reason };
    if !SPDX_VERSIONS.contains(&doc.spdx_version.as_str()) {
        return Err(err(
            "/spdxVersion",
            format!("`{}` is not supported (versions {})", doc.spdx_version, SPDX_VERSIONS.join(", ")),
        ));
    }
    let packages = doc.packages.as_deref().unwrap_or_default();
    let described = described(doc);
    let described_packages: Vec<(usize, &Package)> =
        packages.iter().enumerate().filter(|(_, p)| described.contains(p.spdx_id.as_str())).collect();
    let identity = match described_packages.as_slice() {
        [(_, p)] => p.version_info.as_ref().filter(|v| !v.trim().is_empty()).map(|v| (p.name.clone(), v.clone())),
        _ => None,
    };
    let pointer = match described_packages.as_slice() {
        [(i, _)] => format!("/packages/{i}/versionInfo"),
        _ => "/documentDescribes".to_string(),
    };
    let release = release.resolve(identity, path, &pointer)?;
    let time = document_time(
        doc.creation_info.as_ref().and_then(|c| c.created.as_deref()),
        event_time,
        path,
        "/creationInfo/created",
    )?;
    let mut components = Components::new(path);
    let mut nodes: HashMap<&str, Node> = HashMap::with_capacity(packages.len());
    let mut os = None;
    for (i, p) in packages.iter().enumerate() {
        if p.is_operating_system() && os.is_none() {
            os = Some(p.operating_system());
        }
        if described.contains(p.spdx_id.as_str()) {
            nodes.insert(p.spdx_id.as_str(), Node::Root);
            continue;
        }
        let node = package(p, format!("/packages/{i}"), &mut components);
        nodes.entry(p.spdx_id.as_str()).or_insert(node);
    }
    for d in &described {
        nodes.insert(d, Node::Root);
    }
    graph(doc.relationships.as_deref().unwrap_or_default(), &nodes, &mut components);
    if let Some(os) = os {
        components.set_os(os);
    }
    Ok(components.finish(&release, InventoryFormat::Spdx, bytes, tenant, format!("spdx:{path}"), time))
}

/// One undescribed package's components (one per purl), its graph node.
fn package(p: &Package, pointer: String, components: &mut Components<'_>) -> Node {
    let mut first = None;
    let mut any = false;
    for (j, r) in p.external_refs.iter().flatten().enumerate() {
        if !is_purl_ref(r) || r.reference_locator.trim().is_empty() {
            continue;
        }
        any = true;
        let purl_pointer = format!("{pointer}/externalRefs/{j}/referenceLocator");
        let Some(k) = components.add(&r.reference_locator, pointer.clone(), purl_pointer, None) else { continue };
        first.get_or_insert(k);
        for c in p.checksums.iter().flatten() {
            components.hash(k, &c.algorithm, &c.checksum_value);
        }
        if let Some(l) = p.license() {
            components.license(k, l);
        }
    }
    if !any && !p.is_operating_system() {
        components.no_purl(pointer, p.label());
    }
    match first {
        Some(k) => Node::Component(k),
        None => Node::Other { through: !any },
    }
}

/// The relationships' dependency edges onto the components: each edge between inventory components,
/// and what the described packages reach directly (or through a purl-less package they reach) as
/// direct.
fn graph(relationships: &[Relationship], nodes: &HashMap<&str, Node>, out: &mut Components<'_>) {
    let node = |id: &str| nodes.get(id).copied().unwrap_or(Node::Other { through: false });
    let mut through: HashSet<&str> = HashSet::new();
    for (from_id, to_id) in relationships.iter().filter_map(Relationship::edge) {
        let (from, to) = (node(from_id), node(to_id));
        if from == Node::Root && to == (Node::Other { through: true }) {
            through.insert(to_id);
        }
        out.depends(from, to);
    }
    if through.is_empty() {
        return;
    }
    for (_, to_id) in relationships.iter().filter_map(Relationship::edge).filter(|(f, _)| through.contains(f)) {
        out.depends(Node::Root, node(to_id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::release::{ReleaseRef, SkipReason};

    /// SPDX 2.3 as syft writes it: the described image, packages with purl and CPE references, a
    /// package without a purl, a generic purl, a bad purl, and relationships.
    const SPDX_2_3: &str = r#"{
  "spdxVersion": "SPDX-2.3",
  "dataLicense": "CC0-1.0",
  "SPDXID": "SPDXRef-DOCUMENT",
  "name": "registry.example/api:v4.1.0",
  "documentNamespace": "https://example.com/spdx/api-4.1.0",
  "creationInfo": {"created": "2024-05-06T07:08:09Z", "creators": ["Tool: syft-1.4.1"]},
  "packages": [
    {"SPDXID": "SPDXRef-DocumentRoot-Image", "name": "api", "versionInfo": "v4.1.0",
     "downloadLocation": "NOASSERTION",
     "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                       "referenceLocator": "pkg:oci/api@sha256%3Aabc"}]},
    {"SPDXID": "SPDXRef-Package-npm-lodash", "name": "lodash", "versionInfo": "4.17.20",
     "downloadLocation": "NOASSERTION",
     "externalRefs": [
       {"referenceCategory": "SECURITY", "referenceType": "cpe23Type",
        "referenceLocator": "cpe:2.3:a:lodash:lodash:4.17.20:*:*:*:*:*:*:*"},
       {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:npm/lodash@4.17.20"}]},
    {"SPDXID": "SPDXRef-Package-deb-openssl", "name": "openssl", "versionInfo": "3.0.11-1~deb12u2",
     "downloadLocation": "NOASSERTION",
     "externalRefs": [{"referenceCategory": "PACKAGE_MANAGER", "referenceType": "purl",
                       "referenceLocator": "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12"}]},
    {"SPDXID": "SPDXRef-Package-binary-busybox", "name": "busybox", "versionInfo": "1.36.1",
     "downloadLocation": "NOASSERTION"},
    {"SPDXID": "SPDXRef-Package-generic-tool", "name": "tool", "versionInfo": "2",
     "downloadLocation": "NOASSERTION",
     "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                       "referenceLocator": "pkg:generic/tool@2"}]},
    {"SPDXID": "SPDXRef-Package-bad", "name": "bad", "versionInfo": "1",
     "downloadLocation": "NOASSERTION",
     "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                       "referenceLocator": "pkg:/bad@1"}]}
  ],
  "relationships": [
    {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
     "relatedSpdxElement": "SPDXRef-DocumentRoot-Image"},
    {"spdxElementId": "SPDXRef-DocumentRoot-Image", "relationshipType": "CONTAINS",
     "relatedSpdxElement": "SPDXRef-Package-npm-lodash"}
  ]
}"#;

    fn parse_doc(doc: &str, release: &ReleaseChoice) -> Result<SbomInventory, ImportError> {
        parse(doc.as_bytes(), "sbom.spdx.json", release, "acme", EventTime::from_micros(42))
    }

    fn from_doc() -> ReleaseChoice {
        ReleaseChoice::FromDocument { environment: None }
    }

    #[test]
    fn spdx_2_3_packages_with_purls_become_components() {
        let inv = parse_doc(SPDX_2_3, &from_doc()).expect("parse");
        let r = &inv.inventory;
        assert_eq!(&*r.envelope.key, "api@v4.1.0", "the described package is the release");
        assert_eq!(r.format, InventoryFormat::Spdx);
        assert_eq!(&*r.envelope.source, "spdx:sbom.spdx.json");
        assert_eq!(r.envelope.event_time, EventTime::parse_rfc3339("2024-05-06T07:08:09Z").expect("time"));
        let got: Vec<(&str, &str, &str)> =
            r.components.iter().map(|c| (c.ecosystem.as_str(), c.name.as_str(), c.version.as_str())).collect();
        assert_eq!(got, vec![("Debian", "openssl", "3.0.11-1~deb12u2"), ("npm", "lodash", "4.17.20")]);
        let skipped: Vec<(&str, &str, &SkipReason)> =
            inv.skipped.iter().map(|s| (s.pointer.as_str(), s.component.as_str(), &s.reason)).collect();
        assert_eq!(
            skipped,
            vec![
                ("/packages/3", "busybox@1.36.1", &SkipReason::NoPurl),
                ("/packages/4", "pkg:generic/tool@2", &SkipReason::UnknownEcosystem("generic".into())),
            ]
        );
        assert_eq!(inv.rejected.len(), 1);
        assert_eq!(inv.rejected[0].pointer, "/packages/5/externalRefs/0/referenceLocator");
    }

    #[test]
    fn document_describes_and_spdx_2_2() {
        // 2.2 style: `documentDescribes`, `PACKAGE_MANAGER`, no relationships.
        let doc = r#"{"spdxVersion":"SPDX-2.2","SPDXID":"SPDXRef-DOCUMENT","documentDescribes":["SPDXRef-app"],
            "packages":[
              {"SPDXID":"SPDXRef-app","name":"app","versionInfo":"1.2.3"},
              {"SPDXID":"SPDXRef-dep","name":"requests","versionInfo":"2.31.0","externalRefs":[
                {"referenceCategory":"PACKAGE_MANAGER","referenceType":"purl","referenceLocator":"pkg:pypi/requests@2.31.0"}]}]}"#;
        let inv = parse_doc(doc, &from_doc()).expect("parse");
        assert_eq!(&*inv.inventory.envelope.key, "app@1.2.3");
        assert_eq!(inv.inventory.components.len(), 1);
        assert_eq!(inv.inventory.components[0].ecosystem, "PyPI");
        assert!(inv.skipped.is_empty(), "the described package is not a skipped component: {:?}", inv.skipped);
        assert_eq!(inv.inventory.envelope.event_time, EventTime::from_micros(42));
        // DESCRIBED_BY works the other way round.
        let by = doc.replace(
            r#""documentDescribes":["SPDXRef-app"],"#,
            r#""relationships":[{"spdxElementId":"SPDXRef-app","relationshipType":"DESCRIBED_BY","relatedSpdxElement":"SPDXRef-DOCUMENT"}],"#,
        );
        assert_eq!(&*parse_doc(&by, &from_doc()).expect("parse").inventory.envelope.key, "app@1.2.3");
    }

    #[test]
    fn release_identity_needs_one_described_package_with_a_version() {
        let none = r#"{"spdxVersion":"SPDX-2.3","packages":[{"SPDXID":"SPDXRef-a","name":"a"}]}"#;
        assert_eq!(parse_doc(none, &from_doc()).expect_err("nothing described").pointer, "/documentDescribes");
        let unversioned = r#"{"spdxVersion":"SPDX-2.3","documentDescribes":["SPDXRef-a"],"packages":[{"SPDXID":"SPDXRef-a","name":"a"}]}"#;
        assert_eq!(parse_doc(unversioned, &from_doc()).expect_err("no version").pointer, "/packages/0/versionInfo");
        let given = ReleaseChoice::Given(ReleaseRef::parse("a@7", Some("prod".into())).expect("release"));
        let inv = parse_doc(none, &given).expect("parse");
        assert_eq!(&*inv.inventory.envelope.key, "a@7");
        assert_eq!(inv.skipped.len(), 1, "undescribed package without purl");
    }

    #[test]
    fn malformed_documents_are_errors_with_pointers() {
        let cases = [
            ("[]", ""),
            (r#"{"bomFormat":"CycloneDX","specVersion":"1.4"}"#, ""),
            (r#"{"spdxVersion":"SPDX-3.0"}"#, "/spdxVersion"),
            (r#"{"spdxVersion":"SPDX-2.3","packages":[{"SPDXID":"SPDXRef-a"}]}"#, "/packages/0"),
            (
                r#"{"spdxVersion":"SPDX-2.3","packages":[{"SPDXID":"a","name":"a","externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl"}]}]}"#,
                "/packages/0/externalRefs/0",
            ),
            (r#"{"spdxVersion":"SPDX-2.3","creationInfo":{"created":"now"}}"#, "/creationInfo/created"),
        ];
        let given = ReleaseChoice::Given(ReleaseRef::parse("a@7", None).expect("release"));
        for (doc, pointer) in cases {
            let e = parse_doc(doc, &given).expect_err(doc);
            assert_eq!(e.pointer, pointer, "{doc}: {e}");
        }
    }
}
