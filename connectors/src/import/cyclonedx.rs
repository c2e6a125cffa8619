//! CycloneDX JSON SBOMs (<https://cyclonedx.org/specification/overview/>, spec versions 1.2–1.7)
//! into one `ReleaseInventory` event; CycloneDX XML too, once `trustloop_formats` has converted it
//! to the JSON shape ([`parse_value`]).
//!
//! Every component with a package URL — `components`, their nested `components` at any depth, and
//! the nested components of `metadata.component` — becomes an inventory component with its OSV
//! ecosystem and package name; `scope` (`required`/`optional`/`excluded`), `hashes` and `licenses`
//! (ids, names, expressions) are kept, and `dependencies` (by `bom-ref`) become each component's
//! `depends_on`; what `metadata.component` depends on is `direct` (also through a component without
//! a purl it depends on, like trivy's operating-system and lockfile components) — when the graph links
//! `metadata.component` to any component; otherwise `direct` is not known (`None`). A component of
//! `type` `operating-system` is the image's OS (its `name` is os-release's `ID`, its `version`
//! `VERSION_ID`) and, without a purl, is not a left-out component. The release is the caller's, else
//! `metadata.component`'s `name@version`. The event time is `metadata.timestamp`, else the caller's.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use trustloop_schemas::{EventTime, InventoryFormat, OperatingSystem};

use super::ImportError;
use super::release::{Components, Node, ReleaseChoice, SbomInventory, document_time, operating_system};

/// The specification versions read (JSON exists from 1.2 on).
pub const SPEC_VERSIONS: [&str; 6] = ["1.2", "1.3", "1.4", "1.5", "1.6", "1.7"];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bom {
    bom_format: String,
    spec_version: String,
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    components: Option<Vec<CdxComponent>>,
    #[serde(default)]
    dependencies: Option<Vec<Dependency>>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    component: Option<CdxComponent>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Scope {
    Required,
    Optional,
    Excluded,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Required => "required",
            Scope::Optional => "optional",
            Scope::Excluded => "excluded",
        }
    }
}

#[derive(Deserialize)]
struct CdxComponent {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(rename = "bom-ref", default)]
    bom_ref: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    purl: Option<String>,
    #[serde(default)]
    scope: Option<Scope>,
    #[serde(default)]
    hashes: Option<Vec<Hash>>,
    #[serde(default)]
    licenses: Option<Vec<LicenseChoice>>,
    #[serde(default)]
    components: Option<Vec<CdxComponent>>,
}

#[derive(Deserialize)]
struct Hash {
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    content: Option<String>,
}

/// A `licenses` entry: a licence or an SPDX expression.
#[derive(Deserialize)]
struct LicenseChoice {
    #[serde(default)]
    license: Option<License>,
    #[serde(default)]
    expression: Option<String>,
}

#[derive(Deserialize)]
struct License {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Dependency {
    #[serde(rename = "ref")]
    reference: String,
    #[serde(default)]
    depends_on: Option<Vec<String>>,
}

impl CdxComponent {
    /// `group/name@version`, as much of it as there is.
    fn label(&self) -> String {
        let mut s = String::new();
        if let Some(g) = self.group.as_deref().filter(|g| !g.is_empty()) {
            s.push_str(g);
            s.push('/');
        }
        s.push_str(self.name.as_deref().unwrap_or("(unnamed)"));
        if let Some(v) = &self.version {
            s.push('@');
            s.push_str(v);
        }
        s
    }

    fn is_operating_system(&self) -> bool {
        self.kind.as_deref() == Some("operating-system")
    }

    /// The image's OS this component describes.
    fn operating_system(&self) -> OperatingSystem {
        operating_system(
            self.name.as_deref().unwrap_or_default(),
            self.version.as_deref().unwrap_or_default(),
            self.description.as_deref(),
        )
    }
}

/// What [`collect`] fills in beside the components.
struct Walk<'b> {
    /// Graph nodes by `bom-ref`.
    nodes: HashMap<&'b str, Node>,
    os: Option<OperatingSystem>,
}

fn collect<'b>(components: &'b [CdxComponent], prefix: &str, out: &mut Components<'_>, walk: &mut Walk<'b>) {
    for (i, c) in components.iter().enumerate() {
        let pointer = format!("{prefix}/{i}");
        if c.is_operating_system() && walk.os.is_none() {
            walk.os = Some(c.operating_system());
        }
        let node = match c.purl.as_deref().filter(|p| !p.trim().is_empty()) {
            Some(purl) => match out.add(purl, pointer.clone(), format!("{pointer}/purl"), c.scope.map(Scope::as_str)) {
                Some(k) => {
                    details(c, k, out);
                    Node::Component(k)
                }
                None => Node::Other { through: false },
            },
            None => {
                if !c.is_operating_system() {
                    out.no_purl(pointer.clone(), c.label());
                }
                Node::Other { through: true }
            }
        };
        if let Some(r) = c.bom_ref.as_deref() {
            walk.nodes.entry(r).or_insert(node);
        }
        if let Some(nested) = &c.components {
            collect(nested, &format!("{pointer}/components"), out, walk);
        }
    }
}

/// A component's hashes and licences onto inventory component `k`.
fn details(c: &CdxComponent, k: usize, out: &mut Components<'_>) {
    for h in c.hashes.iter().flatten() {
        if let (Some(alg), Some(content)) = (&h.alg, &h.content) {
            out.hash(k, alg, content);
        }
    }
    for l in c.licenses.iter().flatten() {
        let license = l.expression.as_deref().or_else(|| {
            let license = l.license.as_ref()?;
            license.id.as_deref().filter(|id| !id.trim().is_empty()).or(license.name.as_deref())
        });
        if let Some(license) = license {
            out.license(k, license);
        }
    }
}

/// The `dependencies` graph onto the components: each edge between inventory components, and what
/// the root depends on directly (or through a purl-less component it depends on) as direct.
fn graph(dependencies: &[Dependency], nodes: &HashMap<&str, Node>, out: &mut Components<'_>) {
    let node = |r: &str| nodes.get(r).copied().unwrap_or(Node::Other { through: false });
    let mut through: HashSet<&str> = HashSet::new();
    for d in dependencies {
        let from = node(&d.reference);
        for to in d.depends_on.iter().flatten() {
            let target = node(to);
            if from == Node::Root && target == (Node::Other { through: true }) {
                through.insert(to.as_str());
            }
            out.depends(from, target);
        }
    }
    if through.is_empty() {
        return;
    }
    for d in dependencies.iter().filter(|d| through.contains(d.reference.as_str())) {
        for to in d.depends_on.iter().flatten() {
            out.depends(Node::Root, node(to));
        }
    }
}

/// The release `metadata.component` names: its `name` and `version` (else its purl's version).
fn own_identity(c: &CdxComponent) -> Option<(String, String)> {
    let name = c.name.as_deref().map(str::trim).filter(|n| !n.is_empty())?;
    let version = c.version.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string).or_else(|| {
        c.purl.as_deref().and_then(|p| p.parse::<trustloop_operators::purl::Purl>().ok()).and_then(|p| p.version)
    })?;
    Some((name.to_string(), version))
}

/// Parses a CycloneDX JSON document (`bytes`, named `path` in errors and in the event's source)
/// into the inventory of `release` for `tenant`. `event_time` is used when the document has no
/// `metadata.timestamp`.
///
/// A document that is not CycloneDX JSON 1.2–1.7, or does not have the specification's shape, is an
/// error at the JSON pointer of the offending value; a component whose purl does not parse is only
/// that component's rejection (in [`SbomInventory::rejected`]).
pub fn parse(
    bytes: &[u8],
    path: &str,
    release: &ReleaseChoice,
    tenant: &str,
    event_time: EventTime,
) -> Result<SbomInventory, ImportError> {
    let bom: Bom = super::from_json(bytes, path)?;
    read(bom, bytes, path, release, tenant, event_time)
}

/// Like [`parse`], for a document already in CycloneDX JSON's shape (`value`, CycloneDX XML
/// converted by `trustloop_formats::sbom`); `document` is the original, whose digest the inventory
/// keeps. Errors point into `value`.
pub fn parse_value(
    value: serde_json::Value,
    document: &[u8],
    path: &str,
    release: &ReleaseChoice,
    tenant: &str,
    event_time: EventTime,
) -> Result<SbomInventory, ImportError> {
    let bom: Bom = super::sbom::from_value(value, path)?;
    read(bom, document, path, release, tenant, event_time)
}

fn read(
    bom: Bom,
    bytes: &[u8],
    path: &str,
    release: &ReleaseChoice,
    tenant: &str,
    event_time: EventTime,
) -> Result<SbomInventory, ImportError> {
    let err =
        |pointer: &str, reason: String| ImportError { path: path.to_string(), pointer: pointer.to_string(), reason };
    if bom.bom_format != "CycloneDX" {
        return Err(err("/bomFormat", format!("`{}` is not `CycloneDX`", bom.bom_format)));
    }
    if !SPEC_VERSIONS.contains(&bom.spec_version.as_str()) {
        return Err(err(
            "/specVersion",
            format!("CycloneDX {} is not supported (JSON specs {})", bom.spec_version, SPEC_VERSIONS.join(", ")),
        ));
    }
    let meta_component = bom.metadata.as_ref().and_then(|m| m.component.as_ref());
    let release = release.resolve(meta_component.and_then(own_identity), path, "/metadata/component")?;
    let time = document_time(
        bom.metadata.as_ref().and_then(|m| m.timestamp.as_deref()),
        event_time,
        path,
        "/metadata/timestamp",
    )?;
    let mut components = Components::new(path);
    let mut walk = Walk { nodes: HashMap::new(), os: None };
    if let Some(cs) = &bom.components {
        collect(cs, "/components", &mut components, &mut walk);
    }
    if let Some(cs) = meta_component.and_then(|c| c.components.as_deref()) {
        collect(cs, "/metadata/component/components", &mut components, &mut walk);
    }
    if let Some(r) = meta_component.and_then(|c| c.bom_ref.as_deref()) {
        walk.nodes.insert(r, Node::Root);
    }
    if let Some(deps) = &bom.dependencies {
        graph(deps, &walk.nodes, &mut components);
    }
    if let Some(os) =
        walk.os.or_else(|| meta_component.filter(|c| c.is_operating_system()).map(|c| c.operating_system()))
    {
        components.set_os(os);
    }
    Ok(components.finish(&release, InventoryFormat::Cyclonedx, bytes, tenant, format!("cyclonedx:{path}"), time))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::release::{ReleaseRef, SkipReason};

    /// CycloneDX 1.2, as the CycloneDX Maven plugin writes it: nested components, no scope.
    const BOM_1_2: &str = r#"{
  "bomFormat": "CycloneDX",
  "specVersion": "1.2",
  "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
  "version": 1,
  "metadata": {
    "timestamp": "2021-03-04T05:06:07Z",
    "component": {"type": "application", "group": "com.example", "name": "shop", "version": "2.3.1",
                  "purl": "pkg:maven/com.example/shop@2.3.1?type=jar"}
  },
  "components": [
    {"type": "library", "group": "org.yaml", "name": "snakeyaml", "version": "1.26",
     "purl": "pkg:maven/org.yaml/snakeyaml@1.26?type=jar"},
    {"type": "framework", "group": "org.springframework", "name": "spring-core", "version": "5.2.8.RELEASE",
     "purl": "pkg:maven/org.springframework/spring-core@5.2.8.RELEASE?type=jar",
     "components": [
       {"type": "library", "group": "org.springframework", "name": "spring-jcl", "version": "5.2.8.RELEASE",
        "purl": "pkg:maven/org.springframework/spring-jcl@5.2.8.RELEASE?type=jar",
        "components": [
          {"type": "library", "name": "commons-logging-shim", "version": "1.0"}
        ]}
     ]}
  ]
}"#;

    /// CycloneDX 1.4, as cyclonedx-node-npm writes it: scopes, scoped npm names, a duplicate, a
    /// versionless purl and a bad one.
    const BOM_1_4: &str = r#"{
  "$schema": "http://cyclonedx.org/schema/bom-1.4.schema.json",
  "bomFormat": "CycloneDX",
  "specVersion": "1.4",
  "version": 1,
  "metadata": {"component": {"type": "application", "name": "web", "version": "1.0.0", "purl": "pkg:npm/web@1.0.0"}},
  "components": [
    {"type": "library", "group": "@angular", "name": "core", "version": "12.3.1",
     "purl": "pkg:npm/%40angular/core@12.3.1", "scope": "required",
     "components": [
       {"type": "library", "name": "tslib", "version": "2.3.1", "purl": "pkg:npm/tslib@2.3.1", "scope": "optional"}
     ]},
    {"type": "library", "name": "tslib", "version": "2.3.1", "purl": "pkg:npm/tslib@2.3.1"},
    {"type": "library", "name": "jest", "version": "27.0.0", "purl": "pkg:npm/jest@27.0.0", "scope": "excluded"},
    {"type": "library", "name": "left-pad", "purl": "pkg:npm/left-pad"},
    {"type": "library", "name": "broken", "version": "1", "purl": "npm/broken@1"},
    {"type": "file", "name": "LICENSE"}
  ]
}"#;

    /// CycloneDX 1.6: services, dependencies and properties beside the components, an OCI image
    /// (no OSV ecosystem), PyPI and Go, a `metadata.component` with nested components.
    const BOM_1_6: &str = r#"{
  "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
  "bomFormat": "CycloneDX",
  "specVersion": "1.6",
  "serialNumber": "urn:uuid:8c1f0a4e-0d5b-4b7e-9c33-1d2e3f4a5b6c",
  "version": 3,
  "metadata": {
    "timestamp": "2025-01-02T03:04:05.678+01:00",
    "lifecycles": [{"phase": "build"}],
    "tools": {"components": [{"type": "application", "name": "syft", "version": "1.0.0"}]},
    "component": {"type": "container", "name": "api", "version": "v4.1.0", "bom-ref": "api",
                  "components": [{"type": "library", "name": "internal-lib", "version": "0.1.0",
                                  "purl": "pkg:pypi/internal-lib@0.1.0"}]}
  },
  "components": [
    {"type": "container", "name": "python", "version": "3.12-slim",
     "purl": "pkg:oci/python@sha256%3Aabc?repository_url=docker.io/library/python"},
    {"type": "library", "name": "Django", "version": "4.2.1", "purl": "pkg:pypi/django@4.2.1",
     "properties": [{"name": "syft:package:foundBy", "value": "python-installed-package-cataloger"}],
     "components": [
       {"type": "library", "name": "gin", "version": "v1.9.0", "purl": "pkg:golang/github.com/gin-gonic/gin@v1.9.0"}
     ]}
  ],
  "services": [{"name": "db"}],
  "dependencies": [{"ref": "api", "dependsOn": []}]
}"#;

    fn parse_doc(doc: &str, release: &ReleaseChoice) -> Result<SbomInventory, ImportError> {
        parse(doc.as_bytes(), "bom.json", release, "acme", EventTime::from_micros(42))
    }

    fn from_doc() -> ReleaseChoice {
        ReleaseChoice::FromDocument { environment: Some("prod".into()) }
    }

    fn summary(inv: &SbomInventory) -> Vec<(String, String, String, Option<String>)> {
        inv.inventory
            .components
            .iter()
            .map(|c| (c.ecosystem.clone(), c.name.clone(), c.version.clone(), c.scope.clone()))
            .collect()
    }

    #[test]
    fn spec_1_2_nested_components_and_release_from_metadata() {
        let inv = parse_doc(BOM_1_2, &from_doc()).expect("parse");
        let r = &inv.inventory;
        assert_eq!((r.release_name.as_str(), r.release_version.as_str()), ("shop", "2.3.1"));
        assert_eq!(r.environment.as_deref(), Some("prod"));
        assert_eq!(r.format, InventoryFormat::Cyclonedx);
        assert_eq!(&*r.envelope.key, "shop@2.3.1");
        assert_eq!(&*r.envelope.tenant, "acme");
        assert_eq!(&*r.envelope.source, "cyclonedx:bom.json");
        assert_eq!(r.envelope.event_time, EventTime::parse_rfc3339("2021-03-04T05:06:07Z").expect("time"));
        let m = |n: &str, v: &str| ("Maven".to_string(), n.to_string(), v.to_string(), None);
        assert_eq!(
            summary(&inv),
            vec![
                m("org.springframework:spring-core", "5.2.8.RELEASE"),
                m("org.springframework:spring-jcl", "5.2.8.RELEASE"),
                m("org.yaml:snakeyaml", "1.26"),
            ]
        );
        assert_eq!(r.components[2].purl, "pkg:maven/org.yaml/snakeyaml@1.26?type=jar");
        assert_eq!(inv.skipped.len(), 1);
        assert_eq!(inv.skipped[0].pointer, "/components/1/components/0/components/0");
        assert_eq!(inv.skipped[0].component, "commons-logging-shim@1.0");
        assert_eq!(inv.skipped[0].reason, SkipReason::NoPurl);
        assert!(inv.rejected.is_empty());
    }

    #[test]
    fn spec_1_4_scopes_duplicates_skips_and_a_bad_purl() {
        let inv = parse_doc(BOM_1_4, &from_doc()).expect("a bad purl does not reject the document");
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            summary(&inv),
            vec![
                ("npm".into(), "@angular/core".into(), "12.3.1".into(), s("required")),
                ("npm".into(), "jest".into(), "27.0.0".into(), s("excluded")),
                // Optional where nested, unscoped (required by default) at the top: the binding one wins.
                ("npm".into(), "tslib".into(), "2.3.1".into(), None),
            ]
        );
        assert_eq!(inv.duplicates, 1);
        assert_eq!(inv.rejected.len(), 1);
        assert_eq!(inv.rejected[0].pointer, "/components/4/purl");
        assert_eq!(inv.rejected[0].path, "bom.json");
        let skipped: Vec<(&str, &str, &SkipReason)> =
            inv.skipped.iter().map(|s| (s.pointer.as_str(), s.component.as_str(), &s.reason)).collect();
        assert_eq!(
            skipped,
            vec![
                ("/components/3", "pkg:npm/left-pad", &SkipReason::NoVersion),
                ("/components/5", "LICENSE", &SkipReason::NoPurl),
            ]
        );
    }

    #[test]
    fn spec_1_6_with_unknown_ecosystems_and_metadata_subcomponents() {
        let inv = parse_doc(BOM_1_6, &from_doc()).expect("parse");
        assert_eq!((inv.inventory.release_name.as_str(), inv.inventory.release_version.as_str()), ("api", "v4.1.0"));
        assert_eq!(
            inv.inventory.envelope.event_time,
            EventTime::parse_rfc3339("2025-01-02T02:04:05.678Z").expect("time")
        );
        assert_eq!(
            summary(&inv),
            vec![
                ("Go".into(), "github.com/gin-gonic/gin".into(), "v1.9.0".into(), None),
                ("PyPI".into(), "django".into(), "4.2.1".into(), None),
                ("PyPI".into(), "internal-lib".into(), "0.1.0".into(), None),
            ]
        );
        assert_eq!(inv.skipped.len(), 1);
        assert_eq!(inv.skipped[0].pointer, "/components/0");
        assert_eq!(inv.skipped[0].reason, SkipReason::UnknownEcosystem("oci".into()));
    }

    #[test]
    fn the_callers_release_wins_and_one_is_needed() {
        let given = ReleaseChoice::Given(ReleaseRef::parse("other@9", None).expect("release"));
        let inv = parse_doc(BOM_1_2, &given).expect("parse");
        assert_eq!(&*inv.inventory.envelope.key, "other@9");
        let bare = r#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}"#;
        let e = parse_doc(bare, &from_doc()).expect_err("no release");
        assert_eq!(e.pointer, "/metadata/component");
        let inv = parse_doc(bare, &given).expect("parse");
        assert!(inv.inventory.components.is_empty());
        assert_eq!(inv.inventory.envelope.event_time, EventTime::from_micros(42), "no timestamp: the caller's time");
        // Version from the purl when the component has none.
        let purl_only = r#"{"bomFormat":"CycloneDX","specVersion":"1.5",
            "metadata":{"component":{"type":"application","name":"x","purl":"pkg:npm/x@3.0.0"}}}"#;
        assert_eq!(&*parse_doc(purl_only, &from_doc()).expect("parse").inventory.envelope.key, "x@3.0.0");
    }

    #[test]
    fn deterministic_and_content_addressed() {
        let a = parse_doc(BOM_1_4, &from_doc()).expect("parse");
        let b = parse_doc(BOM_1_4, &from_doc()).expect("parse");
        assert_eq!(a.inventory, b.inventory);
        let c = parse_doc(&BOM_1_4.replace("27.0.0", "27.0.1"), &from_doc()).expect("parse");
        assert_ne!(a.inventory.envelope.event_id, c.inventory.envelope.event_id);
    }

    #[test]
    fn malformed_documents_are_errors_with_pointers() {
        let cases = [
            ("not json", ""),
            (r#"{"bomFormat":"CycloneDX","specVersion":"1.4"} trailing"#, ""),
            (r#"{"spdxVersion":"SPDX-2.3"}"#, ""),
            (r#"{"bomFormat":"SPDX","specVersion":"1.4"}"#, "/bomFormat"),
            (r#"{"bomFormat":"CycloneDX","specVersion":"1.1"}"#, "/specVersion"),
            (r#"{"bomFormat":"CycloneDX","specVersion":1.4}"#, "/specVersion"),
            (r#"{"bomFormat":"CycloneDX","specVersion":"1.4","components":{}}"#, "/components"),
            (
                r#"{"bomFormat":"CycloneDX","specVersion":"1.4","components":[{"name":"a"},{"name":"b","purl":7}]}"#,
                "/components/1/purl",
            ),
            (
                r#"{"bomFormat":"CycloneDX","specVersion":"1.4","components":[{"name":"a","components":[{"name":"b","scope":"dev"}]}]}"#,
                "/components/0/components/0/scope",
            ),
            (
                r#"{"bomFormat":"CycloneDX","specVersion":"1.4","metadata":{"timestamp":"last week","component":{"name":"a","version":"1"}}}"#,
                "/metadata/timestamp",
            ),
        ];
        for (doc, pointer) in cases {
            let e = parse_doc(doc, &from_doc()).expect_err(doc);
            assert_eq!(e.pointer, pointer, "{doc}: {e}");
            assert_eq!(e.path, "bom.json");
        }
        // The missing-field error names the field.
        let e = parse_doc(r#"{"bomFormat":"CycloneDX"}"#, &from_doc()).expect_err("no specVersion");
        assert!(e.reason.contains("specVersion"), "{e}");
    }
}
