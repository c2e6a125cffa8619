//! What every release-inventory importer shares: the release an inventory belongs to, the inventory
//! event itself, and the collection of components from package URLs — deduplicated by purl, sorted,
//! with every component left out (no purl, no version, no OSV ecosystem) or rejected (a purl that does
//! not parse) accounted for.

use std::collections::BTreeMap;

use trustloop_operators::purl::Purl;
use trustloop_schemas::{
    Component, Envelope, EventTime, EventType, InventoryFormat, ReleaseInventory, derive_event_id,
};

use super::ImportError;

/// What an inventory belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRef {
    /// Release name.
    pub name: String,
    /// Release version.
    pub version: String,
    /// Environment, if any.
    pub environment: Option<String>,
}

impl ReleaseRef {
    /// Parses `NAME@VERSION`.
    pub fn parse(s: &str, environment: Option<String>) -> Result<ReleaseRef, String> {
        match s.rsplit_once('@') {
            Some((n, v)) if !n.is_empty() && !v.is_empty() => {
                Ok(ReleaseRef { name: n.to_string(), version: v.to_string(), environment })
            }
            _ => Err(format!("`{s}`: expected NAME@VERSION")),
        }
    }
}

/// The release a document is imported as: the one the caller names, or the one the document says
/// it describes (a CycloneDX `metadata.component`, an SPDX document's described package).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseChoice {
    /// The caller's release; the document's own identity is ignored.
    Given(ReleaseRef),
    /// The document's own `NAME@VERSION`, in this environment.
    FromDocument {
        /// Environment, if any.
        environment: Option<String>,
    },
}

impl ReleaseChoice {
    /// The release to use, given the document's own identity (`name`, `version`) if it has one;
    /// an error at `pointer` (where the identity would be) when neither the caller nor the document
    /// names one.
    pub(crate) fn resolve(
        &self,
        document: Option<(String, String)>,
        path: &str,
        pointer: &str,
    ) -> Result<ReleaseRef, ImportError> {
        match self {
            ReleaseChoice::Given(r) => Ok(r.clone()),
            ReleaseChoice::FromDocument { environment } => match document {
                Some((name, version)) => Ok(ReleaseRef { name, version, environment: environment.clone() }),
                None => Err(ImportError {
                    path: path.to_string(),
                    pointer: pointer.to_string(),
                    reason: "the document names no release (NAME and VERSION): give --release NAME@VERSION".into(),
                }),
            },
        }
    }
}

/// Builds the inventory event shared by every importer of release documents.
pub(crate) fn inventory(
    release: &ReleaseRef,
    format: InventoryFormat,
    document: &[u8],
    components: Vec<Component>,
    tenant: &str,
    source: String,
    event_time: EventTime,
) -> ReleaseInventory {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(document));
    ReleaseInventory {
        envelope: Envelope {
            event_id: derive_event_id(
                "inventory",
                &[
                    release.name.as_bytes(),
                    release.version.as_bytes(),
                    release.environment.as_deref().unwrap_or("").as_bytes(),
                    digest.as_bytes(),
                ],
            ),
            tenant: tenant.into(),
            key: format!("{}@{}", release.name, release.version).into(),
            event_time,
            source: source.into(),
            schema_version: EventType::ReleaseInventory.schema_version(),
        },
        release_name: release.name.clone(),
        release_version: release.version.clone(),
        environment: release.environment.clone(),
        format,
        document_digest: Some(digest),
        components,
        os: None,
        left_out: Vec::new(),
    }
}

/// Why a component of a document is not in its inventory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// It has no package URL.
    NoPurl,
    /// Its package URL has no version.
    NoVersion,
    /// Its package URL's type (`generic`, `oci`, `github`, ...) has no OSV ecosystem.
    UnknownEcosystem(String),
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::NoPurl => f.write_str("no package URL"),
            SkipReason::NoVersion => f.write_str("the package URL has no version"),
            SkipReason::UnknownEcosystem(ty) => write!(f, "purl type `{ty}` has no OSV ecosystem"),
        }
    }
}

/// A component left out of an inventory, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedComponent {
    /// JSON pointer of the component in its document (`/components/3/components/0`).
    pub pointer: String,
    /// The component: its purl, else `name@version` or its name.
    pub component: String,
    /// Why it was left out.
    pub reason: SkipReason,
}

impl std::fmt::Display for SkippedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.component, self.pointer, self.reason)
    }
}

/// A release inventory read from an SBOM, with what was left out of it and what was wrong in it.
#[derive(Debug, Clone)]
pub struct SbomInventory {
    /// The inventory event (without the skipped and rejected components).
    pub inventory: ReleaseInventory,
    /// Components left out: no purl, no version, no OSV ecosystem.
    pub skipped: Vec<SkippedComponent>,
    /// Components whose package URL does not parse, each with the JSON pointer of that purl.
    pub rejected: Vec<ImportError>,
    /// Component entries merged into an earlier one with the same purl.
    pub duplicates: usize,
}

/// Collects a document's components from their purls: deduplicated by purl (scopes merged), sorted
/// by purl, the rest skipped or rejected with their JSON pointers.
pub(crate) struct Components<'a> {
    path: &'a str,
    by_purl: BTreeMap<String, Component>,
    skipped: Vec<SkippedComponent>,
    rejected: Vec<ImportError>,
    duplicates: usize,
}

/// Rank of a scope when one purl appears several times: the most binding wins. An absent scope is
/// `required` by CycloneDX's default, but is kept absent unless an entry says `required`.
fn scope_rank(scope: Option<&str>) -> u8 {
    match scope {
        Some("required") => 3,
        None => 2,
        Some("optional") => 1,
        Some(_) => 0,
    }
}

impl<'a> Components<'a> {
    /// An empty collection for the document at `path`.
    pub(crate) fn new(path: &'a str) -> Components<'a> {
        Components { path, by_purl: BTreeMap::new(), skipped: Vec::new(), rejected: Vec::new(), duplicates: 0 }
    }

    /// A component without a package URL, at `pointer`, described by `label` (`name@version`).
    pub(crate) fn no_purl(&mut self, pointer: String, label: String) {
        self.skipped.push(SkippedComponent { pointer, component: label, reason: SkipReason::NoPurl });
    }

    /// A component with package URL `purl` (at `purl_pointer`) of the component at `pointer`.
    pub(crate) fn add(&mut self, purl: &str, pointer: String, purl_pointer: String, scope: Option<&str>) {
        let purl = purl.trim();
        let parsed: Purl = match purl.parse() {
            Ok(p) => p,
            Err(e) => {
                self.rejected.push(ImportError {
                    path: self.path.to_string(),
                    pointer: purl_pointer,
                    reason: format!("{e}"),
                });
                return;
            }
        };
        let skip = |reason| SkippedComponent { pointer, component: purl.to_string(), reason };
        let Some(version) = parsed.version.clone() else {
            self.skipped.push(skip(SkipReason::NoVersion));
            return;
        };
        let Some(ecosystem) = parsed.osv_ecosystem() else {
            self.skipped.push(skip(SkipReason::UnknownEcosystem(parsed.ty.clone())));
            return;
        };
        if let Some(existing) = self.by_purl.get_mut(purl) {
            self.duplicates += 1;
            if scope_rank(scope) > scope_rank(existing.scope.as_deref()) {
                existing.scope = scope.map(str::to_string);
            }
            return;
        }
        self.by_purl.insert(
            purl.to_string(),
            Component {
                purl: purl.to_string(),
                ecosystem: ecosystem.to_string(),
                name: parsed.osv_name(),
                version,
                scope: scope.map(str::to_string),
                ..Default::default()
            },
        );
    }

    /// The inventory of `release` from what was collected.
    pub(crate) fn finish(
        self,
        release: &ReleaseRef,
        format: InventoryFormat,
        document: &[u8],
        tenant: &str,
        source: String,
        event_time: EventTime,
    ) -> SbomInventory {
        let components: Vec<Component> = self.by_purl.into_values().collect();
        tracing::debug!(
            path = self.path,
            components = components.len(),
            skipped = self.skipped.len(),
            rejected = self.rejected.len(),
            duplicates = self.duplicates,
            "inventory read"
        );
        SbomInventory {
            inventory: inventory(release, format, document, components, tenant, source, event_time),
            skipped: self.skipped,
            rejected: self.rejected,
            duplicates: self.duplicates,
        }
    }
}

/// The document's own time (`metadata.timestamp`, `creationInfo.created`) at `pointer`, else
/// `fallback`.
pub(crate) fn document_time(
    timestamp: Option<&str>,
    fallback: EventTime,
    path: &str,
    pointer: &str,
) -> Result<EventTime, ImportError> {
    match timestamp {
        None => Ok(fallback),
        Some(t) => EventTime::parse_rfc3339(t).map_err(|reason| ImportError {
            path: path.to_string(),
            pointer: pointer.to_string(),
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_refs_and_choices() {
        let r = ReleaseRef::parse("@scope/app@1.0.0", Some("prod".into())).expect("release");
        assert_eq!((r.name.as_str(), r.version.as_str()), ("@scope/app", "1.0.0"));
        for bad in ["nover", "@1", "app@", ""] {
            assert!(ReleaseRef::parse(bad, None).is_err(), "{bad}");
        }
        let given = ReleaseChoice::Given(r.clone());
        assert_eq!(given.resolve(Some(("x".into(), "2".into())), "f", "/p"), Ok(r));
        let doc = ReleaseChoice::FromDocument { environment: Some("dev".into()) };
        let got = doc.resolve(Some(("x".into(), "2".into())), "f", "/p").expect("from document");
        assert_eq!(got, ReleaseRef { name: "x".into(), version: "2".into(), environment: Some("dev".into()) });
        let err = doc.resolve(None, "f", "/metadata/component").expect_err("no identity");
        assert_eq!(err.pointer, "/metadata/component");
        assert!(err.reason.contains("--release"), "{err}");
    }

    #[test]
    fn components_are_deduplicated_sorted_skipped_and_rejected() {
        let mut c = Components::new("bom.json");
        c.add("pkg:npm/b@1", "/components/0".into(), "/components/0/purl".into(), Some("optional"));
        c.add("pkg:npm/%40s/a@2", "/components/1".into(), "/components/1/purl".into(), None);
        c.add("pkg:npm/b@1", "/components/2".into(), "/components/2/purl".into(), Some("required"));
        c.add("pkg:npm/b@1", "/components/3".into(), "/components/3/purl".into(), Some("excluded"));
        c.add("pkg:generic/x@1", "/components/4".into(), "/components/4/purl".into(), None);
        c.add("pkg:npm/nover", "/components/5".into(), "/components/5/purl".into(), None);
        c.add("npm/bad@1", "/components/6".into(), "/components/6/purl".into(), None);
        c.no_purl("/components/7".into(), "thing@1".into());
        let release = ReleaseRef::parse("app@1", None).expect("release");
        let inv =
            c.finish(&release, InventoryFormat::Cyclonedx, b"{}", "acme", "test".into(), EventTime::from_micros(5));
        let got: Vec<(&str, &str, &str, &str, Option<&str>)> = inv
            .inventory
            .components
            .iter()
            .map(|c| (c.purl.as_str(), c.ecosystem.as_str(), c.name.as_str(), c.version.as_str(), c.scope.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![("pkg:npm/%40s/a@2", "npm", "@s/a", "2", None), ("pkg:npm/b@1", "npm", "b", "1", Some("required")),]
        );
        assert_eq!(inv.duplicates, 2);
        let skipped: Vec<(&str, &SkipReason)> = inv.skipped.iter().map(|s| (s.pointer.as_str(), &s.reason)).collect();
        assert_eq!(
            skipped,
            vec![
                ("/components/4", &SkipReason::UnknownEcosystem("generic".into())),
                ("/components/5", &SkipReason::NoVersion),
                ("/components/7", &SkipReason::NoPurl),
            ]
        );
        assert_eq!(inv.rejected.len(), 1);
        assert_eq!(inv.rejected[0].pointer, "/components/6/purl");
        assert!(inv.rejected[0].to_string().starts_with("bom.json at /components/6/purl: invalid package URL"));
        assert_eq!(inv.inventory.envelope.event_time, EventTime::from_micros(5));
    }

    #[test]
    fn document_times() {
        let t = document_time(Some("2020-08-02T21:27:04Z"), EventTime::from_micros(1), "f", "/t").expect("time");
        assert_eq!(t, EventTime::parse_rfc3339("2020-08-02T21:27:04Z").expect("time"));
        assert_eq!(document_time(None, EventTime::from_micros(1), "f", "/t"), Ok(EventTime::from_micros(1)));
        assert_eq!(
            document_time(Some("yesterday"), EventTime::from_micros(1), "f", "/t").expect_err("bad").pointer,
            "/t"
        );
    }
}
