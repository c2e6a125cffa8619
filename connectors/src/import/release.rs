//! What every release-inventory importer shares: the release an inventory belongs to, the inventory
//! event itself, and the collection of components from package URLs — deduplicated by purl, sorted,
//! with their digests, licences, dependency graph and distribution release, and every component left
//! out (no purl, no version, no OSV ecosystem) or rejected (a purl that does not parse) accounted for
//! in document order; the image's operating system; [`coverage`] per ecosystem.

use std::collections::BTreeMap;

use trustloop_operators::purl::Purl;
use trustloop_operators::versions::distro;
use trustloop_schemas::{
    Component, Envelope, EventTime, EventType, InventoryFormat, LeftOutComponent, OperatingSystem, ReleaseInventory,
    derive_event_id,
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

/// A release's labels (`team` → `payments`), as `--label KEY=VALUE` gives them.
pub type Labels = BTreeMap<String, String>;

/// Reads `KEY=VALUE` labels: a key is non-empty and has no `=` or whitespace, a value is the rest
/// (possibly empty); a key given twice is an error.
pub fn parse_labels(given: &[String]) -> Result<Labels, String> {
    let mut labels = Labels::new();
    for l in given {
        let Some((key, value)) = l.split_once('=') else {
            return Err(format!("label `{l}`: expected KEY=VALUE"));
        };
        if key.is_empty() || key.chars().any(char::is_whitespace) {
            return Err(format!("label `{l}`: the key must be non-empty, without whitespace"));
        }
        if labels.insert(key.to_string(), value.to_string()).is_some() {
            return Err(format!("label `{key}` is given twice"));
        }
    }
    Ok(labels)
}

/// Labels `inventory` with `labels`. A labelled inventory's event id also covers its labels, so the
/// same document imported with other labels is another event; an unlabelled one keeps the id it
/// always had.
pub fn set_labels(inventory: &mut ReleaseInventory, labels: &Labels) {
    if labels.is_empty() {
        return;
    }
    let digest = inventory.document_digest.as_deref().unwrap_or("");
    let mut inputs: Vec<&[u8]> = vec![
        inventory.release_name.as_bytes(),
        inventory.release_version.as_bytes(),
        inventory.environment.as_deref().unwrap_or("").as_bytes(),
        digest.as_bytes(),
        b"labels",
    ];
    for (k, v) in labels {
        inputs.push(k.as_bytes());
        inputs.push(v.as_bytes());
    }
    inventory.envelope.event_id = derive_event_id("inventory", &inputs);
    inventory.labels = labels.clone();
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
        labels: Default::default(),
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
    /// Its package URL's type (`generic`, `oci`, `github`; `rpm/fedora` for a distribution's
    /// packages) has no OSV ecosystem.
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
    /// The inventory event; its `left_out` lists, in document order, both the skipped and the
    /// rejected components.
    pub inventory: ReleaseInventory,
    /// Components left out: no purl, no version, no OSV ecosystem.
    pub skipped: Vec<SkippedComponent>,
    /// Components whose package URL does not parse, each with the JSON pointer of that purl.
    pub rejected: Vec<ImportError>,
    /// Component entries merged into an earlier one with the same purl.
    pub duplicates: usize,
}

/// Per ecosystem, how many components an inventory holds and how many were left out. The key is the
/// OSV ecosystem (`npm`, `Debian`); a left-out component without one counts under its purl type
/// (`generic`, `rpm/fedora`), else under `(none)` (no purl, or one that does not parse).
pub fn coverage(inventory: &ReleaseInventory) -> BTreeMap<String, (usize, usize)> {
    let mut out: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for c in &inventory.components {
        match out.get_mut(c.ecosystem.as_str()) {
            Some(counts) => counts.0 += 1,
            None => {
                out.insert(c.ecosystem.clone(), (1, 0));
            }
        }
    }
    for l in &inventory.left_out {
        out.entry(l.ecosystem.clone().unwrap_or_else(|| "(none)".to_string())).or_default().1 += 1;
    }
    out
}

/// The image's operating system from an os-release style `id` (`debian`, `ubuntu`, `alpine`) and
/// `version` (`12`, `22.04`, `3.20.1`): the distribution and release as OSV names them when trustloop
/// knows the distribution, else `id` and `version` as written; `name` is the document's own name
/// for it (`Debian GNU/Linux 12 (bookworm)`), else `id version`.
pub fn operating_system(id: &str, version: &str, name: Option<&str>) -> OperatingSystem {
    let (id, version) = (id.trim(), version.trim());
    let name = name.map(str::trim).filter(|n| !n.is_empty()).map(str::to_string).or_else(|| {
        let joined = format!("{id} {version}");
        Some(joined.trim().to_string()).filter(|n| !n.is_empty())
    });
    // Some tools write the pretty name (`Debian GNU/Linux`) where os-release's `ID` belongs.
    let known = distro::from_os_release(id, version).or_else(|| {
        let first = id.split_whitespace().next().unwrap_or_default().to_ascii_lowercase();
        distro::from_os_release(&first, version)
    });
    match known {
        Some((eco, release)) => OperatingSystem {
            distribution: eco.osv_name().to_string(),
            release: release.map(|r| r.as_str().to_string()),
            name,
        },
        None => OperatingSystem {
            distribution: id.to_string(),
            release: Some(version.to_string()).filter(|v| !v.is_empty()),
            name,
        },
    }
}

/// A hash algorithm's name in CycloneDX spelling (`SHA256`, `sha-256` → `SHA-256`; `SHA3-256`,
/// `BLAKE2b-256`, `MD5` as they are).
pub fn hash_algorithm(alg: &str) -> String {
    let upper = alg.trim().to_ascii_uppercase();
    if let Some(rest) = upper.strip_prefix("BLAKE2B") {
        return format!("BLAKE2b{rest}");
    }
    match upper.strip_prefix("SHA") {
        Some(bits) if !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit()) => format!("SHA-{bits}"),
        _ => upper,
    }
}

/// A licence field's value if it names one: not empty, `NOASSERTION` or `NONE`.
pub(crate) fn license_value(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty() && !matches!(*v, "NOASSERTION" | "NONE"))
}

/// How a document's dependency graph names a node: the release itself, one of the inventory's
/// components, or something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node {
    /// The release's own root component (CycloneDX `metadata.component`, an SPDX described package).
    Root,
    /// The inventory component of this index (see [`Components::add`]).
    Component(usize),
    /// A component that is not in the inventory; `through`: it stands for a part of the release (the
    /// image's operating system, a component without a purl), so what the root reaches through it
    /// directly counts as direct.
    Other {
        /// Whether the root's edges pass through it.
        through: bool,
    },
}

/// One component while it is collected.
struct Collected {
    component: Component,
    /// Indices of the components it depends on.
    depends_on: Vec<usize>,
    direct: bool,
}

/// Collects a document's components from their purls: deduplicated by purl (scopes, hashes and
/// licences merged), sorted by purl, the rest skipped or rejected with their JSON pointers, in
/// document order; and the dependency graph between them.
pub(crate) struct Components<'a> {
    path: &'a str,
    items: Vec<Collected>,
    by_purl: std::collections::HashMap<String, usize>,
    skipped: Vec<SkippedComponent>,
    rejected: Vec<ImportError>,
    left_out: Vec<LeftOutComponent>,
    duplicates: usize,
    graph_known: bool,
    os: Option<OperatingSystem>,
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

/// How a left-out purl names its type: `rpm/fedora` for a distribution's packages, else the type.
fn type_label(p: &Purl) -> String {
    match (&p.namespace, p.ty.as_str()) {
        (Some(ns), "rpm" | "deb" | "apk" | "alpm") => format!("{}/{}", p.ty, ns.to_ascii_lowercase()),
        _ => p.ty.clone(),
    }
}

/// The release of its distribution a purl names in its `distro` qualifier, when that names the
/// purl's own distribution (`ecosystem`).
fn purl_distro_release(p: &Purl, ecosystem: &str) -> Option<String> {
    let (eco, release) = p.distro()?;
    (eco.osv_name() == ecosystem).then(|| release.map(|r| r.as_str().to_string())).flatten()
}

impl<'a> Components<'a> {
    /// An empty collection for the document at `path`.
    pub(crate) fn new(path: &'a str) -> Components<'a> {
        Components {
            path,
            items: Vec::new(),
            by_purl: std::collections::HashMap::new(),
            skipped: Vec::new(),
            rejected: Vec::new(),
            left_out: Vec::new(),
            duplicates: 0,
            graph_known: false,
            os: None,
        }
    }

    fn skip(&mut self, pointer: String, component: String, ecosystem: Option<String>, reason: SkipReason) {
        self.left_out.push(LeftOutComponent {
            component: component.clone(),
            ecosystem,
            reason: reason.to_string(),
            location: pointer.clone(),
        });
        self.skipped.push(SkippedComponent { pointer, component, reason });
    }

    /// A component without a package URL, at `pointer`, described by `label` (`name@version`).
    pub(crate) fn no_purl(&mut self, pointer: String, label: String) {
        self.skip(pointer, label, None, SkipReason::NoPurl);
    }

    /// A component with package URL `purl` (at `purl_pointer`) of the component at `pointer`; the
    /// index of the inventory component it is (an earlier one with the same purl, or a new one), or
    /// `None` when it is left out or rejected.
    pub(crate) fn add(
        &mut self,
        purl: &str,
        pointer: String,
        purl_pointer: String,
        scope: Option<&str>,
    ) -> Option<usize> {
        let purl = purl.trim();
        if let Some(&i) = self.by_purl.get(purl) {
            self.duplicates += 1;
            let existing = &mut self.items.get_mut(i)?.component;
            if scope_rank(scope) > scope_rank(existing.scope.as_deref()) {
                existing.scope = scope.map(str::to_string);
            }
            return Some(i);
        }
        let parsed: Purl = match purl.parse() {
            Ok(p) => p,
            Err(e) => {
                let reason = e.to_string();
                self.left_out.push(LeftOutComponent {
                    component: purl.to_string(),
                    ecosystem: None,
                    reason: reason.clone(),
                    location: pointer,
                });
                self.rejected.push(ImportError { path: self.path.to_string(), pointer: purl_pointer, reason });
                return None;
            }
        };
        let ecosystem = parsed.osv_ecosystem();
        let Some(version) = parsed.osv_version() else {
            let eco = ecosystem.map(str::to_string).unwrap_or_else(|| type_label(&parsed));
            self.skip(pointer, purl.to_string(), Some(eco), SkipReason::NoVersion);
            return None;
        };
        let Some(ecosystem) = ecosystem else {
            let label = type_label(&parsed);
            self.skip(pointer, purl.to_string(), Some(label.clone()), SkipReason::UnknownEcosystem(label));
            return None;
        };
        let i = self.items.len();
        self.by_purl.insert(purl.to_string(), i);
        self.items.push(Collected {
            component: Component {
                purl: purl.to_string(),
                ecosystem: ecosystem.to_string(),
                name: parsed.osv_name(),
                version,
                scope: scope.map(str::to_string),
                distro_release: purl_distro_release(&parsed, ecosystem),
                location: Some(pointer),
                ..Default::default()
            },
            depends_on: Vec::new(),
            direct: false,
        });
        Some(i)
    }

    /// Adds a digest (`alg` as the document names it, normalised by [`hash_algorithm`]) to component
    /// `i`; a second digest of the same algorithm is ignored. Hex digests are kept in lower case.
    pub(crate) fn hash(&mut self, i: usize, alg: &str, value: &str) {
        let value = value.trim();
        let Some(item) = self.items.get_mut(i) else { return };
        if value.is_empty() || alg.trim().is_empty() {
            return;
        }
        let value =
            if value.bytes().all(|b| b.is_ascii_hexdigit()) { value.to_ascii_lowercase() } else { value.to_string() };
        item.component.hashes.entry(hash_algorithm(alg)).or_insert(value);
    }

    /// Adds a licence (an SPDX expression, id or name) to component `i`, once.
    pub(crate) fn license(&mut self, i: usize, license: &str) {
        let license = license.trim();
        let Some(item) = self.items.get_mut(i) else { return };
        if !license.is_empty() && !item.component.licenses.iter().any(|l| l == license) {
            item.component.licenses.push(license.to_string());
        }
    }

    /// Records the edge `from` → `to` of the document's dependency graph: a component depending on
    /// another, the root depending on a component (which is then direct). Edges from or to anything
    /// that is not an inventory component are dropped.
    pub(crate) fn depends(&mut self, from: Node, to: Node) {
        let Node::Component(to) = to else { return };
        match from {
            Node::Root => {
                self.graph_known = true;
                if let Some(item) = self.items.get_mut(to) {
                    item.direct = true;
                }
            }
            Node::Component(from) if from != to => {
                if let Some(item) = self.items.get_mut(from) {
                    item.depends_on.push(to);
                }
            }
            _ => {}
        }
    }

    /// The image's operating system; components of its distribution without a release of their own
    /// get its release.
    pub(crate) fn set_os(&mut self, os: OperatingSystem) {
        self.os = Some(os);
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
        let Components { path, items, skipped, rejected, left_out, duplicates, graph_known, os, .. } = self;
        let purls: Vec<String> = items.iter().map(|c| c.component.purl.clone()).collect();
        let mut components: Vec<Component> = items
            .into_iter()
            .map(|item| {
                let mut c = item.component;
                let mut deps: Vec<String> = item.depends_on.iter().filter_map(|&j| purls.get(j)).cloned().collect();
                deps.sort_unstable();
                deps.dedup();
                c.depends_on = deps;
                c.direct = graph_known.then_some(item.direct);
                if c.distro_release.is_none()
                    && let Some(os) = os.as_ref().filter(|os| os.distribution == c.ecosystem)
                {
                    c.distro_release = os.release.clone();
                }
                c
            })
            .collect();
        components.sort_unstable_by(|a, b| a.purl.cmp(&b.purl));
        tracing::debug!(
            path,
            components = components.len(),
            skipped = skipped.len(),
            rejected = rejected.len(),
            duplicates,
            "inventory read"
        );
        let mut inventory = inventory(release, format, document, components, tenant, source, event_time);
        inventory.os = os;
        inventory.left_out = left_out;
        SbomInventory { inventory, skipped, rejected, duplicates }
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
        let left_out: Vec<(&str, Option<&str>)> =
            inv.inventory.left_out.iter().map(|l| (l.location.as_str(), l.ecosystem.as_deref())).collect();
        assert_eq!(
            left_out,
            vec![
                ("/components/4", Some("generic")),
                ("/components/5", Some("npm")),
                ("/components/6", None),
                ("/components/7", None)
            ],
            "skipped and rejected, in document order"
        );
        assert_eq!(inv.rejected.len(), 1);
        assert_eq!(inv.rejected[0].pointer, "/components/6/purl");
        assert!(inv.rejected[0].to_string().starts_with("bom.json at /components/6/purl: invalid package URL"));
        assert_eq!(inv.inventory.envelope.event_time, EventTime::from_micros(5));
    }

    #[test]
    fn hash_algorithms_in_cyclonedx_spelling() {
        for (alg, want) in [
            ("SHA256", "SHA-256"),
            ("sha1", "SHA-1"),
            ("SHA-512", "SHA-512"),
            ("SHA3-256", "SHA3-256"),
            ("BLAKE2b-256", "BLAKE2b-256"),
            ("blake3", "BLAKE3"),
            ("MD5", "MD5"),
        ] {
            assert_eq!(hash_algorithm(alg), want, "{alg}");
        }
    }

    #[test]
    fn operating_systems_and_coverage() {
        let os = operating_system("ubuntu", "22.04", Some("Ubuntu 22.04.4 LTS"));
        assert_eq!((os.distribution.as_str(), os.release.as_deref()), ("Ubuntu", Some("22.04")));
        assert_eq!(os.name.as_deref(), Some("Ubuntu 22.04.4 LTS"));
        let os = operating_system("Debian GNU/Linux", "13", None);
        assert_eq!((os.distribution.as_str(), os.release.as_deref()), ("Debian", Some("13")));
        let os = operating_system("fedora", "40", None);
        assert_eq!(
            (os.distribution.as_str(), os.release.as_deref(), os.name.as_deref()),
            ("fedora", Some("40"), Some("fedora 40"))
        );

        let mut c = Components::new("bom.json");
        let deb = c.add("pkg:deb/debian/tzdata@2024a-0", "/c/0".into(), "/c/0/purl".into(), None).expect("deb");
        let npm = c.add("pkg:npm/a@1", "/c/1".into(), "/c/1/purl".into(), None).expect("npm");
        c.add("pkg:rpm/fedora/bash@5", "/c/2".into(), "/c/2/purl".into(), None);
        c.no_purl("/c/3".into(), "x".into());
        c.depends(Node::Root, Node::Component(npm));
        c.depends(Node::Component(npm), Node::Component(deb));
        c.depends(Node::Component(npm), Node::Other { through: false });
        c.hash(npm, "sha256", "ABCD");
        c.license(npm, "MIT");
        c.license(npm, "MIT");
        c.set_os(operating_system("debian", "12", None));
        let release = ReleaseRef::parse("app@1", None).expect("release");
        let inv = c.finish(&release, InventoryFormat::Cyclonedx, b"{}", "t", "s".into(), EventTime::from_micros(0));
        let [deb, npm] = &inv.inventory.components[..] else { panic!("{:?}", inv.inventory.components) };
        assert_eq!((deb.distro_release.as_deref(), deb.direct), (Some("12"), Some(false)));
        assert_eq!((npm.distro_release.as_deref(), npm.direct), (None, Some(true)));
        assert_eq!(npm.depends_on, vec![deb.purl.clone()]);
        assert_eq!(npm.hashes.get("SHA-256").map(String::as_str), Some("abcd"));
        assert_eq!(npm.licenses, vec!["MIT".to_string()]);
        let cov = coverage(&inv.inventory);
        let want: BTreeMap<String, (usize, usize)> =
            [("(none)", (0, 1)), ("Debian", (1, 0)), ("npm", (1, 0)), ("rpm/fedora", (0, 1))]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
        assert_eq!(cov, want);
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

    #[test]
    fn labels_are_read_as_key_value_and_a_labelled_inventory_gets_its_own_id() {
        let given = |l: &[&str]| parse_labels(&l.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let labels = given(&["team=payments", "tier=", "url=a=b"]).expect("valid");
        let pairs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(pairs, vec![("team", "payments"), ("tier", ""), ("url", "a=b")]);
        for (bad, why) in [("team", "expected KEY=VALUE"), ("=x", "non-empty"), ("a b=c", "whitespace")] {
            let e = given(&[bad]).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(given(&["a=1", "a=2"]).expect_err("twice").contains("given twice"));

        let release = ReleaseRef::parse("shop@1.0", None).expect("release");
        let plain = inventory(
            &release,
            InventoryFormat::Cyclonedx,
            b"{}",
            Vec::new(),
            "acme",
            "s".into(),
            EventTime::from_micros(1),
        );
        let mut same = plain.clone();
        set_labels(&mut same, &Labels::new());
        assert_eq!(same, plain, "no labels: the event and its id are as they always were");
        let mut a = plain.clone();
        set_labels(&mut a, &labels);
        let mut b = plain.clone();
        set_labels(&mut b, &given(&["team=payments"]).expect("valid"));
        assert_eq!(a.labels, labels);
        let ids = [&plain, &a, &b].map(|i| i.envelope.event_id);
        assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2], "{ids:?}");
    }
}
