//! CSAF 2.0 security advisories (<https://docs.oasis-open.org/csaf/csaf/v2.0/csaf-v2.0.html>) into
//! OSV-shaped `Advisory` events: documents of category `csaf_security_advisory`, and any other
//! document with vulnerabilities that is not of the VEX profile (`csaf_vex` is read by
//! [`super::csaf`] into VEX statements).
//!
//! **One advisory per vulnerability, with the document's identity.** Its id is the document's
//! `tracking.id` and the vulnerability's `cve`, else the first of its `ids`, else its index in the
//! document (from 0): `RHSA-2021:5186#CVE-2021-44228`, `<tracking.id>#<index>`; its aliases are the
//! CVE and the other ids. So a CSAF advisory is a source of its own — the source named by its id's
//! prefix, `RHSA` — and meets the OSV records of the same vulnerability (RustSec, GHSA, a
//! distribution's) in its CVE's alias group, where the findings layer merges them into one finding
//! listing every source ([`trustloop_operators::findings`]). The document's tracking id is not an
//! alias: it would join every vulnerability the document fixes into one group. `modified`
//! and the event time are the document's `tracking.current_release_date`, `published` its
//! `initial_release_date`. The summary is the vulnerability's `title` (else the document's), the
//! details its notes of category `description`, `details`, `general` and `summary` (else the
//! document's). Severity: the distinct `scores[].cvss_v3.vectorString` (`CVSS_V3`), or the
//! `cvss_v2` ones (`CVSS_V2`) when there is no CVSS v3 score. References: the document's `self`
//! references (`ADVISORY`), the vulnerability's references, then the document's other references
//! (`WEB`). `database_specific` is the provenance and the CWE:
//! `{"source": "csaf", "publisher", "document_id", "document_version", "document_digest":
//! "sha256:<hex of the file bytes>", "cwe": {"id", "name"}}`.
//!
//! **Affected packages.** Product ids of the `product_status` are resolved through the product tree
//! (`csaf/product_tree.rs`, shared with the VEX reader): a relationship's product without a
//! purl of its own is its component (`product_reference`). The component's
//! `product_identification_helper.purl` gives the OSV ecosystem, package name and version as
//! `operators/src/purl.rs` maps purls (`pkg:rpm/redhat/…` → `Red Hat`, `pkg:deb/debian/…` →
//! `Debian`, `epoch=` qualifier → `E:VERSION`). The ecosystem carries a release where one is
//! known: a Red Hat package whose relationship's platform has a Red Hat CPE
//! (`cpe:/a:redhat:enterprise_linux:9::appstream`) is in `Red Hat:enterprise_linux:9::appstream`,
//! as OSV's Red Hat records write it; otherwise a purl's `distro` qualifier gives `Debian:11`,
//! `Ubuntu:22.04:LTS`, `Alpine:v3.18`, `AlmaLinux:9`, ... (only when `operators` reads the same
//! release back from it). Statuses:
//!
//! * `fixed`, `first_fixed` with a version → an `ECOSYSTEM` range `introduced: 0, fixed: V` (one
//!   range per distinct fixed version of the package in that ecosystem);
//! * `known_affected`, `first_affected` with a version → `versions`; `last_affected` → a range
//!   `introduced: 0, last_affected: V`;
//! * an affected product in a `product_version_range` branch whose name is a `vers:` range and
//!   whose purl has no version → that range as `ECOSYSTEM` events (`>=` introduced, `<` fixed, `<=`
//!   last_affected, `=` versions, `*` everything);
//! * `known_not_affected`, `under_investigation` and `recommended` are not in `affected` (OSV has no
//!   such statuses; `trustloop import vex` reads them as VEX statements).
//!
//! Entries are grouped per ecosystem and package name; `affected[].database_specific` lists the
//! CSAF product ids behind each.
//!
//! **Not mapped, never invented.** A product that cannot be placed — identified by a CPE only or by
//! its name only (a CPE names no package of an OSV ecosystem), an invalid purl, a purl type without
//! an OSV ecosystem, a purl without a version outside a version range, a range not in `vers` syntax
//! or one OSV events cannot express (`>`, `!=`, a range of fixed versions) — is left out of
//! `affected` and listed in [`CsafAdvisories::unresolved`] with its id, name and
//! [`UnresolvedReason`] (once per document). Relationships are followed one level (a component of a
//! component is not). Remediations, threats, flags, acknowledgments, `tracking.status` and
//! revision history are not mapped; `known_exploited` stays false.
//!
//! **Errors.** Malformed JSON, a missing required field of `document` (category, csaf_version 2.0,
//! title, publisher name, tracking id, dates and version) or a malformed product tree reject the
//! document, with the JSON pointer. A malformed vulnerability, one listing a product id the tree
//! does not define, or one listing a product that a broken relationship defines (one naming an
//! undefined product id) is rejected alone ([`CsafAdvisories::rejected`], with the pointer of the
//! entry and of the broken relationship); the other vulnerabilities are imported. Broken groups, and
//! broken relationships no vulnerability lists, are rejected items of their own.
//!
//! A later revision of the same document replaces its advisories (an OSV upsert of the same ids);
//! another document about the same CVE is another source of the same vulnerability.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use trustloop_operators::purl::Purl;
use trustloop_operators::versions::{Ecosystem, distro};
use trustloop_schemas::{
    Advisory, AdvisoryChange, Affected, AffectedPackage, Envelope, Event, EventTime, EventType, Range, RangeEvent,
    RangeType, Reference, Severity, canonical_digest, derive_event_id,
};

use super::csaf::product_tree::{FullProductName, Package, ProductTree, Products};
use super::csaf::{ProductStatus, VEX_PROFILE};
use super::vex::{error, from_json, push_unique, strip_bom, time_at};
use super::{ImportError, json_pointer};

/// The CSAF version this reader understands.
pub const CSAF_VERSION: &str = "2.0";

#[derive(Deserialize)]
struct Csaf {
    document: Document,
    #[serde(default)]
    product_tree: ProductTree,
    /// Read one by one, so that a malformed vulnerability rejects only itself.
    #[serde(default)]
    vulnerabilities: Vec<Value>,
}

#[derive(Deserialize)]
struct Document {
    category: String,
    csaf_version: String,
    title: String,
    publisher: Publisher,
    tracking: Tracking,
    #[serde(default)]
    notes: Vec<Note>,
    #[serde(default)]
    references: Vec<CsafReference>,
}

#[derive(Deserialize)]
struct Publisher {
    name: String,
}

#[derive(Deserialize)]
struct Tracking {
    id: String,
    current_release_date: String,
    initial_release_date: String,
    version: String,
}

#[derive(Deserialize)]
struct Note {
    category: String,
    text: String,
}

#[derive(Deserialize)]
struct CsafReference {
    #[serde(default)]
    category: Option<String>,
    url: String,
}

#[derive(Deserialize)]
struct Vulnerability {
    #[serde(default)]
    cve: Option<String>,
    #[serde(default)]
    cwe: Option<Cwe>,
    #[serde(default)]
    ids: Vec<VulnerabilityId>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    notes: Vec<Note>,
    #[serde(default)]
    product_status: Option<ProductStatus>,
    #[serde(default)]
    scores: Vec<Score>,
    #[serde(default)]
    references: Vec<CsafReference>,
}

#[derive(Deserialize, Serialize)]
struct Cwe {
    id: String,
    name: String,
}

#[derive(Deserialize)]
struct VulnerabilityId {
    text: String,
}

#[derive(Deserialize)]
struct Score {
    #[serde(default)]
    cvss_v3: Option<Cvss>,
    #[serde(default)]
    cvss_v2: Option<Cvss>,
}

#[derive(Deserialize)]
struct Cvss {
    #[serde(rename = "vectorString")]
    vector_string: String,
}

/// One CSAF document read as advisories.
#[derive(Debug, Clone, PartialEq)]
pub struct CsafAdvisories {
    /// The document's `tracking.id`.
    pub document_id: String,
    /// One advisory per vulnerability that could be read.
    pub advisories: Vec<Advisory>,
    /// Vulnerabilities (and broken parts of the product tree) that were not imported.
    pub rejected: Vec<ImportError>,
    /// Products the advisories' vulnerabilities list that could not be placed in an OSV ecosystem
    /// with a version: once per product id, in document order.
    pub unresolved: Vec<UnresolvedProduct>,
}

/// A product left out of `affected`, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnresolvedProduct {
    /// The file.
    pub path: String,
    /// The document's `tracking.id`.
    pub document_id: String,
    /// The product id as the vulnerability lists it.
    pub product_id: String,
    /// Its name.
    pub name: String,
    /// Why it could not be placed.
    pub reason: UnresolvedReason,
    /// The CPE, purl or range that could not be used, where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Why a product is not in an advisory's `affected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnresolvedReason {
    /// Identified by a CPE only: a CPE names no package of an OSV ecosystem.
    CpeOnly,
    /// No purl and no CPE: a name only.
    NameOnly,
    /// The purl does not parse.
    InvalidPurl,
    /// The purl's type has no OSV ecosystem.
    NoOsvEcosystem,
    /// The purl has no version, and the product is not in a version range.
    NoVersion,
    /// A version range not in `vers` syntax, or one OSV range events cannot express.
    UnsupportedVersionRange,
}

impl UnresolvedReason {
    /// The reason as `--json` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            UnresolvedReason::CpeOnly => "cpe_only",
            UnresolvedReason::NameOnly => "name_only",
            UnresolvedReason::InvalidPurl => "invalid_purl",
            UnresolvedReason::NoOsvEcosystem => "no_osv_ecosystem",
            UnresolvedReason::NoVersion => "no_version",
            UnresolvedReason::UnsupportedVersionRange => "unsupported_version_range",
        }
    }
}

impl std::fmt::Display for UnresolvedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many of `unresolved` there are for each reason.
pub fn count_by_reason(unresolved: &[UnresolvedProduct]) -> BTreeMap<UnresolvedReason, usize> {
    let mut out = BTreeMap::new();
    for u in unresolved {
        *out.entry(u.reason).or_default() += 1;
    }
    out
}

/// Whether a document is a CSAF advisory this reader takes: JSON with `document.csaf_version`, not
/// of the VEX profile, with vulnerabilities. Text that is not valid JSON but carries the
/// `"csaf_version"` marker (and not the VEX profile's) counts, so that a broken advisory is rejected
/// with its error rather than skipped.
pub fn is_advisory(bytes: &[u8]) -> bool {
    let bytes = strip_bom(bytes);
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => {
            let Some(document) = v.get("document").and_then(Value::as_object) else { return false };
            let vulnerabilities = match v.get("vulnerabilities") {
                None => false,
                Some(Value::Array(a)) => !a.is_empty(),
                Some(_) => true, // malformed: let the parser say so
            };
            document.get("csaf_version").is_some_and(Value::is_string)
                && document.get("category").and_then(Value::as_str) != Some(VEX_PROFILE)
                && vulnerabilities
        }
        Err(_) => {
            let starts_as_object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
            let text = String::from_utf8_lossy(bytes);
            starts_as_object && text.contains("\"csaf_version\"") && !text.contains("\"csaf_vex\"")
        }
    }
}

/// Reads one file: `Ok(None)` when it is not a CSAF advisory (see [`is_advisory`]), its advisories
/// when it is, an error when it cannot be read or the document as a whole is malformed.
pub fn read_file(path: &Path, tenant: &str) -> Result<Option<CsafAdvisories>, ImportError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| error(&name, "", e.to_string()))?;
    if !is_advisory(&bytes) {
        return Ok(None);
    }
    parse(&bytes, &name, tenant).map(Some)
}

/// What a document says about all of its advisories.
struct Context<'a> {
    path: &'a str,
    tenant: &'a str,
    document_id: &'a str,
    doc: &'a Document,
    products: &'a Products<'a>,
    modified: EventTime,
    published: EventTime,
    /// `database_specific` without the CWE.
    provenance: serde_json::Map<String, Value>,
}

/// Parses one CSAF 2.0 document (JSON) into advisories for `tenant`. `path` names the document in
/// errors and in each event's `source`; the document digest is of `bytes` as given.
pub fn parse(bytes: &[u8], path: &str, tenant: &str) -> Result<CsafAdvisories, ImportError> {
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
    let doc: Csaf = from_json(strip_bom(bytes), path)?;
    let d = &doc.document;
    if d.csaf_version.trim() != CSAF_VERSION {
        return Err(error(
            path,
            "/document/csaf_version",
            format!("CSAF version `{}` is not supported (only {CSAF_VERSION})", d.csaf_version),
        ));
    }
    if d.category == VEX_PROFILE {
        return Err(error(
            path,
            "/document/category",
            "a csaf_vex document holds VEX statements, not advisories (import it with `trustloop import vex`)",
        ));
    }
    let document_id = d.tracking.id.trim();
    if document_id.is_empty() {
        return Err(error(path, "/document/tracking/id", "empty document id"));
    }
    let modified = time_at(&d.tracking.current_release_date, path, "/document/tracking/current_release_date")?;
    let published = time_at(&d.tracking.initial_release_date, path, "/document/tracking/initial_release_date")?;
    let products = Products::new(&doc.product_tree, path);
    let mut provenance = serde_json::Map::new();
    provenance.insert("source".into(), "csaf".into());
    provenance.insert("publisher".into(), d.publisher.name.trim().into());
    provenance.insert("document_id".into(), document_id.into());
    provenance.insert("document_version".into(), d.tracking.version.trim().into());
    provenance.insert("document_digest".into(), digest.into());
    let cx = Context { path, tenant, document_id, doc: d, products: &products, modified, published, provenance };

    let mut out = CsafAdvisories {
        document_id: document_id.to_string(),
        advisories: Vec::new(),
        rejected: Vec::new(),
        unresolved: Vec::new(),
    };
    let mut broken_listed: HashSet<String> = HashSet::new();
    let mut unresolved_seen: HashSet<String> = HashSet::new();
    for (index, value) in doc.vulnerabilities.iter().enumerate() {
        let at = format!("/vulnerabilities/{index}");
        let v: Vulnerability = match serde_path_to_error::deserialize(value) {
            Ok(v) => v,
            Err(e) => {
                out.rejected.push(error(path, format!("{at}{}", json_pointer(e.path())), e.inner().to_string()));
                continue;
            }
        };
        match advisory(&cx, index, &v, &mut broken_listed) {
            Ok((advisory, unresolved)) => {
                out.advisories.push(advisory);
                for u in unresolved {
                    if unresolved_seen.insert(u.product_id.clone()) {
                        out.unresolved.push(u);
                    }
                }
            }
            Err(e) => out.rejected.push(e),
        }
    }
    // Broken parts of the tree that no rejected vulnerability has reported.
    let reported: Vec<String> = doc
        .product_tree
        .relationships
        .iter()
        .enumerate()
        .filter(|(_, r)| broken_listed.contains(&r.full_product_name.product_id))
        .map(|(i, _)| format!("/product_tree/relationships/{i}/"))
        .collect();
    for e in products.errors() {
        if !reported.iter().any(|prefix| e.pointer.starts_with(prefix.as_str())) {
            out.rejected.push(e.clone());
        }
    }
    Ok(out)
}

/// How a status places a product.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Fixed,
    Affected,
    LastAffected,
}

/// What one product says about its package.
enum Fact {
    Fixed(String),
    Version(String),
    LastAffected(String),
    Range(Option<Range>, Vec<String>),
}

/// A product placed: its package's ecosystem, name and versionless purl, and what it says.
struct Placed {
    ecosystem: String,
    name: String,
    purl: String,
    fact: Fact,
}

/// Why a product cannot be placed, and the CPE, purl or range concerned.
type Unplaced = (UnresolvedReason, Option<String>);

/// One `affected` entry being assembled.
struct Entry {
    ecosystem: String,
    name: String,
    purl: String,
    fixed: Vec<String>,
    last_affected: Vec<String>,
    versions: Vec<String>,
    ranges: Vec<Range>,
    product_ids: Vec<String>,
}

impl Entry {
    fn into_affected(self) -> Affected {
        let range = |last: RangeEvent| Range {
            kind: RangeType::Ecosystem,
            repo: None,
            events: vec![RangeEvent { introduced: Some("0".into()), ..RangeEvent::default() }, last],
        };
        let mut ranges: Vec<Range> = Vec::new();
        for v in self.fixed {
            ranges.push(range(RangeEvent { fixed: Some(v), ..RangeEvent::default() }));
        }
        for v in self.last_affected {
            ranges.push(range(RangeEvent { last_affected: Some(v), ..RangeEvent::default() }));
        }
        for r in self.ranges {
            if !ranges.contains(&r) {
                ranges.push(r);
            }
        }
        Affected {
            package: AffectedPackage { ecosystem: self.ecosystem, name: self.name, purl: Some(self.purl) },
            ranges,
            versions: self.versions,
            ecosystem_specific: None,
            database_specific: Some(serde_json::json!({ "csaf_product_ids": self.product_ids }).to_string()),
        }
    }
}

/// One vulnerability as an advisory, with the products it lists that could not be placed; an
/// error rejects the vulnerability.
fn advisory(
    cx: &Context<'_>,
    index: usize,
    v: &Vulnerability,
    broken_listed: &mut HashSet<String>,
) -> Result<(Advisory, Vec<UnresolvedProduct>), ImportError> {
    let path = cx.path;
    let at = format!("/vulnerabilities/{index}");
    let mut names: Vec<String> = Vec::new();
    if let Some(cve) = &v.cve {
        push_unique(&mut names, cve);
    }
    for id in &v.ids {
        push_unique(&mut names, &id.text);
    }
    // The document's own identity for the vulnerability; the CVE and the other ids are aliases, so
    // the findings layer merges it with other sources of the same vulnerability.
    let id = match names.first() {
        Some(first) => format!("{}#{first}", cx.document_id),
        None => format!("{}#{index}", cx.document_id),
    };
    let aliases: Vec<String> = names;

    // Affected packages.
    let mut entries: Vec<Entry> = Vec::new();
    let mut by_package: HashMap<(String, String), usize> = HashMap::new();
    let mut unresolved = Vec::new();
    if let Some(status) = &v.product_status {
        for (key, ids) in status.all() {
            let role = match key {
                "fixed" | "first_fixed" => Some(Role::Fixed),
                "known_affected" | "first_affected" => Some(Role::Affected),
                "last_affected" => Some(Role::LastAffected),
                _ => None,
            };
            for (j, product_id) in ids.iter().enumerate() {
                let pointer = format!("{at}/product_status/{key}/{j}");
                let package = cx.products.package(product_id, path, &pointer).inspect_err(|_| {
                    if cx.products.broken(product_id).is_some() {
                        broken_listed.insert(product_id.clone());
                    }
                })?;
                let Some(role) = role else { continue };
                match place(&package, role) {
                    Ok(Placed { ecosystem, name, purl, fact }) => {
                        let key = (ecosystem, name);
                        let k = match by_package.get(&key) {
                            Some(&k) => k,
                            None => {
                                entries.push(Entry {
                                    ecosystem: key.0.clone(),
                                    name: key.1.clone(),
                                    purl,
                                    fixed: Vec::new(),
                                    last_affected: Vec::new(),
                                    versions: Vec::new(),
                                    ranges: Vec::new(),
                                    product_ids: Vec::new(),
                                });
                                by_package.insert(key, entries.len() - 1);
                                entries.len() - 1
                            }
                        };
                        let e = &mut entries[k];
                        push_unique(&mut e.product_ids, product_id);
                        match fact {
                            Fact::Fixed(version) => push_unique(&mut e.fixed, &version),
                            Fact::Version(version) => push_unique(&mut e.versions, &version),
                            Fact::LastAffected(version) => push_unique(&mut e.last_affected, &version),
                            Fact::Range(range, versions) => {
                                e.ranges.extend(range);
                                for version in versions {
                                    push_unique(&mut e.versions, &version);
                                }
                            }
                        }
                    }
                    Err((reason, detail)) => unresolved.push(UnresolvedProduct {
                        path: path.to_string(),
                        document_id: cx.document_id.to_string(),
                        product_id: product_id.clone(),
                        name: package.listed.name.trim().to_string(),
                        reason,
                        detail,
                    }),
                }
            }
        }
    }

    // Severity: CVSS v3 vectors, else CVSS v2 ones.
    let vectors = |pick: fn(&Score) -> Option<&Cvss>| {
        let mut out: Vec<String> = Vec::new();
        for s in &v.scores {
            if let Some(c) = pick(s) {
                push_unique(&mut out, &c.vector_string);
            }
        }
        out
    };
    let mut severity: Vec<Severity> =
        vectors(|s| s.cvss_v3.as_ref()).into_iter().map(|score| Severity { kind: "CVSS_V3".into(), score }).collect();
    if severity.is_empty() {
        severity = vectors(|s| s.cvss_v2.as_ref())
            .into_iter()
            .map(|score| Severity { kind: "CVSS_V2".into(), score })
            .collect();
    }

    // References: the document's own, the vulnerability's, the document's others.
    let mut references: Vec<Reference> = Vec::new();
    let mut add = |kind: &str, url: &str| {
        let url = url.trim();
        if !url.is_empty() && !references.iter().any(|r| r.url == url) {
            references.push(Reference { kind: kind.into(), url: url.into() });
        }
    };
    let is_self = |r: &&CsafReference| r.category.as_deref() == Some("self");
    for r in cx.doc.references.iter().filter(is_self) {
        add("ADVISORY", &r.url);
    }
    for r in &v.references {
        add(if is_self(&r) { "ADVISORY" } else { "WEB" }, &r.url);
    }
    for r in cx.doc.references.iter().filter(|r| !is_self(r)) {
        add("WEB", &r.url);
    }

    let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let summary = v.title.as_deref().and_then(text).or_else(|| text(&cx.doc.title));
    let described = |notes: &[Note]| {
        let texts: Vec<&str> = notes
            .iter()
            .filter(|n| matches!(n.category.as_str(), "description" | "details" | "general" | "summary"))
            .map(|n| n.text.trim())
            .filter(|t| !t.is_empty())
            .collect();
        (!texts.is_empty()).then(|| texts.join("\n\n"))
    };
    let details = described(&v.notes).or_else(|| described(&cx.doc.notes));

    let mut database_specific = cx.provenance.clone();
    if let Some(cwe) = &v.cwe {
        database_specific.insert("cwe".into(), serde_json::json!({ "id": cwe.id.trim(), "name": cwe.name.trim() }));
    }

    let mut advisory = Advisory {
        envelope: Envelope {
            event_id: derive_event_id("csaf", &[]),
            tenant: cx.tenant.into(),
            key: id.as_str().into(),
            event_time: cx.modified,
            source: "csaf".into(),
            schema_version: EventType::Advisory.schema_version(),
        },
        change: AdvisoryChange::Upsert,
        id,
        modified: cx.modified,
        published: Some(cx.published),
        withdrawn: None,
        aliases,
        related: Vec::new(),
        summary,
        details,
        severity,
        affected: entries.into_iter().map(Entry::into_affected).collect(),
        references,
        known_exploited: false,
        database_specific: Some(Value::Object(database_specific).to_string()),
        upstream: Vec::new(),
    };
    // The id derives from the document, the vulnerability's place in it and the content, not from
    // where the file was read.
    let digest = canonical_digest(&Event::Advisory(advisory.clone()));
    advisory.envelope.event_id = derive_event_id(
        "csaf",
        &[cx.document_id.as_bytes(), &(index as u64).to_be_bytes(), advisory.id.as_bytes(), &digest],
    );
    advisory.envelope.source = format!("csaf:{path}").into();
    Ok((advisory, unresolved))
}

/// Places a product in an OSV ecosystem, or says why it cannot be.
fn place(p: &Package<'_>, role: Role) -> Result<Placed, Unplaced> {
    let product = p.package.product;
    let Some(text) = product.purl() else {
        return Err(match product.cpe() {
            Some(cpe) => (UnresolvedReason::CpeOnly, Some(cpe.to_string())),
            None => (UnresolvedReason::NameOnly, None),
        });
    };
    let purl: Purl = text
        .parse()
        .map_err(|e: trustloop_operators::purl::PurlError| (UnresolvedReason::InvalidPurl, Some(e.to_string())))?;
    let Some(base) = purl.osv_ecosystem() else {
        return Err((UnresolvedReason::NoOsvEcosystem, Some(text.to_string())));
    };
    let ecosystem = ecosystem_of(&purl, base, p.platform);
    let name = purl.osv_name();
    let package_purl = Purl { version: None, qualifiers: Default::default(), ..purl.clone() }.to_string();
    let fact = match (purl.osv_version(), p.package.version_range, role) {
        (Some(v), _, Role::Fixed) => Fact::Fixed(v),
        (Some(v), _, Role::Affected) => Fact::Version(v),
        (Some(v), _, Role::LastAffected) => Fact::LastAffected(v),
        (None, Some(range), Role::Fixed) => {
            return Err((
                UnresolvedReason::UnsupportedVersionRange,
                Some(format!("{range}: a range of fixed versions")),
            ));
        }
        (None, Some(range), Role::Affected | Role::LastAffected) => match vers_to_osv(range) {
            Ok((r, versions)) => Fact::Range(r, versions),
            Err(why) => return Err((UnresolvedReason::UnsupportedVersionRange, Some(format!("{range}: {why}")))),
        },
        (None, None, _) => return Err((UnresolvedReason::NoVersion, Some(text.to_string()))),
    };
    Ok(Placed { ecosystem, name, purl: package_purl, fact })
}

/// The OSV ecosystem of a package: with the release of its Red Hat platform's CPE, or of its purl's
/// `distro` qualifier, when `operators` reads that release back from the result; else the bare
/// ecosystem (every release).
fn ecosystem_of(purl: &Purl, base: &str, platform: Option<&FullProductName>) -> String {
    if base == Ecosystem::RedHat.osv_name()
        && let Some(cpe) = platform.and_then(FullProductName::cpe)
        && let Some(rest) = cpe.strip_prefix("cpe:/a:redhat:").or_else(|| cpe.strip_prefix("cpe:/o:redhat:"))
    {
        let ecosystem = format!("{base}:{rest}");
        if distro::osv_release(&ecosystem).is_some() {
            return ecosystem;
        }
    }
    if let Some((eco, Some(release))) = purl.distro()
        && eco.osv_name() == base
    {
        let r = release.as_str();
        let ecosystem = match eco {
            Ecosystem::Alpine => format!("{base}:v{r}"),
            Ecosystem::Ubuntu if is_ubuntu_lts(r) => format!("{base}:{r}:LTS"),
            _ => format!("{base}:{r}"),
        };
        if distro::split_osv(&ecosystem) == Some((eco, Some(release))) {
            return ecosystem;
        }
    }
    base.to_string()
}

/// Ubuntu's long-term releases: April releases of even years (`22.04`).
fn is_ubuntu_lts(release: &str) -> bool {
    release.split_once('.').is_some_and(|(y, m)| m == "04" && y.parse::<u32>().is_ok_and(|y| y % 2 == 0))
}

/// A `vers:` range (<https://github.com/package-url/purl-spec/blob/main/VERSION-RANGE-SPEC.rst>) as
/// an OSV `ECOSYSTEM` range and exact versions, taking its constraints in the order written (the
/// specification sorts them): `>=` opens an interval (`introduced`), `<` closes it with `fixed`,
/// `<=` with `last_affected` (an interval without a lower bound starts at `0`), `=` (or a bare
/// version) is a version, `*` is every version. `>` and `!=` have no OSV event: an error.
fn vers_to_osv(text: &str) -> Result<(Option<Range>, Vec<String>), String> {
    let rest = text.trim().strip_prefix("vers:").ok_or("not in vers syntax (`vers:<scheme>/<constraints>`)")?;
    let (scheme, constraints) = rest.split_once('/').ok_or("no `/` after the versioning scheme")?;
    if scheme.trim().is_empty() {
        return Err("no versioning scheme".into());
    }
    let event = |introduced: Option<String>, fixed: Option<String>, last_affected: Option<String>| RangeEvent {
        introduced,
        fixed,
        last_affected,
        limit: None,
    };
    let ecosystem = |events: Vec<RangeEvent>| Some(Range { kind: RangeType::Ecosystem, repo: None, events });
    if constraints.trim() == "*" {
        return Ok((ecosystem(vec![event(Some("0".into()), None, None)]), Vec::new()));
    }
    let mut events = Vec::new();
    let mut versions = Vec::new();
    // `None`: no interval open; `Some(v)`: one opened at `v`.
    let mut open: Option<String> = None;
    // Whether the last bound closed an interval (a second upper bound would need a lower one first).
    let mut closed = false;
    for c in constraints.split('|') {
        let c = c.trim();
        let (op, version) = [">=", "<=", "!=", ">", "<", "="]
            .iter()
            .find_map(|op| c.strip_prefix(op).map(|v| (*op, v)))
            .unwrap_or(("=", c));
        let version = percent_decode(version.trim())?;
        if version.is_empty() {
            return Err(format!("constraint `{c}` has no version"));
        }
        match op {
            "=" => versions.push(version),
            ">=" => {
                if open.is_some() {
                    return Err(format!("`{c}` follows another lower bound"));
                }
                open = Some(version);
                closed = false;
            }
            "<" | "<=" => {
                if closed && open.is_none() {
                    return Err(format!("`{c}` follows another upper bound"));
                }
                events.push(event(Some(open.take().unwrap_or_else(|| "0".into())), None, None));
                events.push(if op == "<" {
                    event(None, Some(version), None)
                } else {
                    event(None, None, Some(version))
                });
                closed = true;
            }
            _ => return Err(format!("`{op}` has no OSV range event")),
        }
    }
    if let Some(v) = open {
        events.push(event(Some(v), None, None));
    }
    if events.is_empty() && versions.is_empty() {
        return Err("no constraint".into());
    }
    Ok(((!events.is_empty()).then(|| ecosystem(events)).flatten(), versions))
}

/// `%XX` escapes of a `vers` version decoded (the specification percent-encodes `|`, `%` and others).
fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit));
            let hex = hex.and_then(|h| std::str::from_utf8(h).ok());
            let byte =
                hex.and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or_else(|| format!("bad escape in `{s}`"))?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("`{s}` is not UTF-8 once decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../tests/fixtures/csaf/example-advisory.json");
    const BROKEN: &str = include_str!("../../tests/fixtures/csaf/broken-product-tree.json");

    fn parse_ok(text: &str) -> CsafAdvisories {
        parse(text.as_bytes(), "adv.json", "acme").expect("parse")
    }

    fn range(events: &[(&str, &str)]) -> Range {
        Range {
            kind: RangeType::Ecosystem,
            repo: None,
            events: events
                .iter()
                .map(|(k, v)| {
                    let v = Some(v.to_string());
                    match *k {
                        "introduced" => RangeEvent { introduced: v, ..RangeEvent::default() },
                        "fixed" => RangeEvent { fixed: v, ..RangeEvent::default() },
                        "last_affected" => RangeEvent { last_affected: v, ..RangeEvent::default() },
                        _ => unreachable!("event kind {k}"),
                    }
                })
                .collect(),
        }
    }

    fn package(a: &Affected) -> (&str, &str, Option<&str>) {
        (a.package.ecosystem.as_str(), a.package.name.as_str(), a.package.purl.as_deref())
    }

    #[test]
    fn one_advisory_per_vulnerability_with_ids_aliases_times_and_texts() {
        let doc = parse_ok(EXAMPLE);
        assert_eq!(doc.document_id, "EXSA-2024-0001");
        assert!(doc.rejected.is_empty(), "{:?}", doc.rejected);
        let ids: Vec<&str> = doc.advisories.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(
            ids,
            ["EXSA-2024-0001#CVE-2024-10001", "EXSA-2024-0001#GHSA-aaaa-bbbb-cccc", "EXSA-2024-0001#2"],
            "the document's identity and the vulnerability's: its CVE, else its first id, else its index"
        );
        let aliases: Vec<&[String]> = doc.advisories.iter().map(|a| a.aliases.as_slice()).collect();
        assert_eq!(aliases[0], ["CVE-2024-10001", "EX-1001"]);
        assert_eq!(aliases[1], ["GHSA-aaaa-bbbb-cccc", "EX-1002"]);
        assert!(aliases[2].is_empty(), "not the document's id: it would join the document's vulnerabilities");
        let modified = EventTime::parse_rfc3339("2024-06-02T06:30:00Z").expect("time");
        let published = EventTime::parse_rfc3339("2024-06-01T12:00:00Z").expect("time");
        for a in &doc.advisories {
            assert_eq!((a.modified, a.published, a.envelope.event_time), (modified, Some(published), modified));
            assert_eq!(*a.envelope.key, *a.id);
            assert_eq!(&*a.envelope.tenant, "acme");
            assert_eq!(&*a.envelope.source, "csaf:adv.json");
            assert_eq!(a.change, AdvisoryChange::Upsert);
            assert!(!a.known_exploited && a.withdrawn.is_none());
        }
        let [first, second, third] = &doc.advisories[..] else { panic!("three advisories") };
        assert_eq!(first.summary.as_deref(), Some("left-pad: regular expression denial of service"));
        assert_eq!(first.details.as_deref(), Some("Padding a crafted string takes exponential time."));
        assert_eq!(
            third.summary.as_deref(),
            Some("Example Corp security advisory: left-pad, openssl, curl and others"),
            "no title of its own: the document's"
        );
        assert_eq!(third.details.as_deref(), Some("A hardening change without an identifier."));
        assert_eq!(second.details.as_deref(), Some("Example Corp fixes three vulnerabilities in its products."));
        let severity = |a: &Advisory| a.severity.iter().map(|s| (s.kind.clone(), s.score.clone())).collect::<Vec<_>>();
        assert_eq!(
            severity(first),
            [("CVSS_V3".to_string(), "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H".to_string())],
            "distinct v3 vectors; v2 only when there is no v3"
        );
        assert_eq!(severity(second), [("CVSS_V2".to_string(), "AV:N/AC:M/Au:N/C:P/I:N/A:N".to_string())]);
        assert!(third.severity.is_empty());
        let refs: Vec<(&str, &str)> = first.references.iter().map(|r| (r.kind.as_str(), r.url.as_str())).collect();
        assert_eq!(
            refs,
            [
                ("ADVISORY", "https://psirt.example.com/advisories/EXSA-2024-0001"),
                ("WEB", "https://www.cve.org/CVERecord?id=CVE-2024-10001"),
                ("WEB", "https://psirt.example.com/ratings"),
            ]
        );
    }

    #[test]
    fn database_specific_is_the_provenance_and_the_cwe() {
        let doc = parse_ok(EXAMPLE);
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(EXAMPLE.as_bytes())));
        let db = |a: &Advisory| -> Value {
            serde_json::from_str(a.database_specific.as_deref().expect("database_specific")).expect("json")
        };
        assert_eq!(
            db(&doc.advisories[0]),
            serde_json::json!({
                "source": "csaf", "publisher": "Example Corp PSIRT", "document_id": "EXSA-2024-0001",
                "document_version": "2", "document_digest": digest,
                "cwe": {"id": "CWE-1333", "name": "Inefficient Regular Expression Complexity"}
            })
        );
        assert_eq!(db(&doc.advisories[1]).get("cwe"), None);
        assert_eq!(db(&doc.advisories[1])["document_digest"], Value::String(digest));
    }

    #[test]
    fn products_become_osv_affected_entries() {
        let doc = parse_ok(EXAMPLE);
        let first = &doc.advisories[0];
        assert_eq!(first.affected.len(), 2, "{:#?}", first.affected);
        let npm = &first.affected[0];
        assert_eq!(package(npm), ("npm", "left-pad", Some("pkg:npm/left-pad")));
        assert_eq!(
            npm.ranges,
            [range(&[("introduced", "0"), ("fixed", "1.3.0")]), range(&[("introduced", "1.0.0"), ("fixed", "1.2.0")])]
        );
        assert_eq!(npm.versions, ["1.2.0"]);
        let ids: Value = serde_json::from_str(npm.database_specific.as_deref().expect("ids")).expect("json");
        assert_eq!(
            ids,
            serde_json::json!({"csaf_product_ids": ["NPM-LEFTPAD-1.3.0", "NPM-LEFTPAD-1.2.0", "NPM-LEFTPAD-1.0-1.2"]})
        );
        let maven = &first.affected[1];
        assert_eq!(package(maven), ("Maven", "com.example:lib", Some("pkg:maven/com.example/lib")));
        assert_eq!(maven.ranges, [range(&[("introduced", "0"), ("last_affected", "2.4.1")])]);
        assert!(maven.versions.is_empty(), "known_not_affected and under_investigation are left out");

        let second = &doc.advisories[1];
        let packages: Vec<_> = second.affected.iter().map(package).collect();
        assert_eq!(
            packages,
            [
                ("Red Hat:enterprise_linux:9::appstream", "openssl", Some("pkg:rpm/redhat/openssl")),
                ("Debian:11", "curl", Some("pkg:deb/debian/curl")),
            ]
        );
        assert_eq!(
            second.affected[0].ranges,
            [range(&[("introduced", "0"), ("fixed", "1:3.0.7-27.el9")])],
            "x86_64 and src: one fix"
        );
        assert_eq!(second.affected[1].ranges, [range(&[("introduced", "0"), ("fixed", "7.74.0-1.3+deb11u7")])]);
        assert!(doc.advisories[2].affected.is_empty());
    }

    #[test]
    fn unresolved_products_are_listed_once_per_document_with_their_reason() {
        let doc = parse_ok(EXAMPLE);
        let listed: Vec<(&str, UnresolvedReason, Option<&str>)> =
            doc.unresolved.iter().map(|u| (u.product_id.as_str(), u.reason, u.detail.as_deref())).collect();
        assert_eq!(
            listed,
            [
                ("PYPI-REQUESTS", UnresolvedReason::NoVersion, Some("pkg:pypi/requests")),
                (
                    "NPM-LEFTPAD-OLD",
                    UnresolvedReason::UnsupportedVersionRange,
                    Some("before 0.9: not in vers syntax (`vers:<scheme>/<constraints>`)")
                ),
                ("APPLIANCE-4.2", UnresolvedReason::CpeOnly, Some("cpe:/h:example:appliance:4.2")),
                ("DASHBOARD-3", UnresolvedReason::NameOnly, None),
                ("FIRMWARE-1.0", UnresolvedReason::NoOsvEcosystem, Some("pkg:generic/example/firmware@1.0")),
                ("AppStream-9.4.0.Z:telnet-1:0.17-85.el9.src", UnresolvedReason::NameOnly, None),
            ]
        );
        let telnet = &doc.unresolved[5];
        assert_eq!(telnet.name, "telnet-1:0.17-85.el9.src as a component of Red Hat Enterprise Linux AppStream (v. 9)");
        assert_eq!((telnet.path.as_str(), telnet.document_id.as_str()), ("adv.json", "EXSA-2024-0001"));
        let counts: Vec<(UnresolvedReason, usize)> = count_by_reason(&doc.unresolved).into_iter().collect();
        assert_eq!(
            counts,
            [
                (UnresolvedReason::CpeOnly, 1),
                (UnresolvedReason::NameOnly, 2),
                (UnresolvedReason::NoOsvEcosystem, 1),
                (UnresolvedReason::NoVersion, 1),
                (UnresolvedReason::UnsupportedVersionRange, 1),
            ]
        );
        let json = serde_json::to_value(&doc.unresolved[3]).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"path": "adv.json", "document_id": "EXSA-2024-0001", "product_id": "DASHBOARD-3",
                               "name": "Example Dashboard 3", "reason": "name_only"})
        );
    }

    #[test]
    fn a_broken_product_tree_rejects_only_the_vulnerabilities_that_list_it() {
        let doc = parse_ok(BROKEN);
        let ids: Vec<&str> = doc.advisories.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["EXSA-2024-0002#CVE-2024-20002"]);
        let lodash = &doc.advisories[0].affected;
        assert_eq!(lodash.len(), 1);
        assert_eq!(package(&lodash[0]), ("npm", "lodash", Some("pkg:npm/lodash")));
        assert_eq!(lodash[0].versions, ["4.17.20"], "the component of the relationship");
        assert_eq!(lodash[0].ranges, [range(&[("introduced", "0"), ("fixed", "4.17.21")])]);
        let rejected: Vec<&str> = doc.rejected.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            rejected,
            [
                "/vulnerabilities/0/product_status/known_affected/0",
                "/vulnerabilities/2/scores",
                "/vulnerabilities/3/product_status/fixed/0",
                "/product_tree/product_groups/0/product_ids/1",
            ]
        );
        let broken = &doc.rejected[0];
        assert!(
            broken.reason.contains("/product_tree/relationships/1/product_reference")
                && broken.reason.contains("LODASH-4.17.19"),
            "names the broken relationship: {broken}"
        );
        assert!(doc.rejected[2].reason.contains("LODASH-9.9.9"), "{}", doc.rejected[2]);
        assert!(doc.rejected.iter().all(|e| e.path == "adv.json"));
    }

    #[test]
    fn a_broken_relationship_no_vulnerability_lists_is_rejected_on_its_own() {
        let text = BROKEN.replace(r#""known_affected": ["PORTAL:LODASH-4.17.19"], "#, "");
        let doc = parse_ok(&text);
        assert_eq!(doc.advisories.len(), 2);
        let rejected: Vec<&str> = doc.rejected.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            rejected,
            [
                "/vulnerabilities/2/scores",
                "/vulnerabilities/3/product_status/fixed/0",
                "/product_tree/relationships/1/product_reference",
                "/product_tree/product_groups/0/product_ids/1",
            ]
        );
    }

    #[test]
    fn documents_that_cannot_be_read_are_errors_with_a_pointer() {
        let cases = [
            (EXAMPLE.replace(r#""version": "2""#, r#""vershun": "2""#), "/document/tracking"),
            (EXAMPLE.replace(r#""csaf_version": "2.0""#, r#""csaf_version": "2.1""#), "/document/csaf_version"),
            (
                EXAMPLE.replace(r#""category": "csaf_security_advisory""#, r#""category": "csaf_vex""#),
                "/document/category",
            ),
            (
                EXAMPLE.replace(
                    r#""current_release_date": "2024-06-02T08:30:00+02:00""#,
                    r#""current_release_date": "June""#,
                ),
                "/document/tracking/current_release_date",
            ),
            (EXAMPLE.replace(r#""id": "EXSA-2024-0001""#, r#""id": " ""#), "/document/tracking/id"),
            (
                EXAMPLE.replace(r#""product_id": "DASHBOARD-3""#, r#""product_id": 3"#),
                "/product_tree/full_product_names/1/product_id",
            ),
        ];
        for (text, pointer) in cases {
            let e = parse(text.as_bytes(), "bad.json", "acme").expect_err("rejected");
            assert_eq!(e.pointer, pointer, "{e}");
            assert_eq!(e.path, "bad.json");
        }
        let e = parse(&EXAMPLE.as_bytes()[..EXAMPLE.len() / 2], "bad.json", "acme").expect_err("truncated");
        assert!(e.reason.contains("EOF"), "{e}");
        let e = parse(format!("{EXAMPLE} trailing").as_bytes(), "bad.json", "acme").expect_err("trailing data");
        assert!(e.reason.contains("trailing"), "{e}");
    }

    #[test]
    fn malformed_vulnerabilities_are_rejected_alone() {
        let text =
            EXAMPLE.replace(r#""known_not_affected": ["MAVEN-LIB-3.0.0"]"#, r#""probably_fine": ["MAVEN-LIB-3.0.0"]"#);
        let doc = parse_ok(&text);
        assert_eq!(doc.advisories.len(), 2);
        assert_eq!(doc.rejected.len(), 1);
        assert_eq!(doc.rejected[0].pointer, "/vulnerabilities/0/product_status/probably_fine");
    }

    #[test]
    fn ids_are_deterministic_and_do_not_depend_on_the_path() {
        let a = parse(EXAMPLE.as_bytes(), "a/x.json", "acme").expect("parse");
        let b = parse(EXAMPLE.as_bytes(), "b/y.json", "acme").expect("parse");
        let ids = |d: &CsafAdvisories| d.advisories.iter().map(|a| a.envelope.event_id).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
        let other = parse(EXAMPLE.as_bytes(), "a/x.json", "other").expect("parse");
        assert_ne!(ids(&a)[0], ids(&other)[0], "the tenant is part of the id");
        let changed = EXAMPLE.replace("exponential time", "a long time");
        let c = parse(changed.as_bytes(), "a/x.json", "acme").expect("parse");
        assert_ne!(ids(&a)[0], ids(&c)[0], "the content is part of the id");
        let set: HashSet<_> = ids(&a).into_iter().collect();
        assert_eq!(set.len(), 3);
    }

    #[test]
    fn advisories_are_told_from_vex_and_other_documents() {
        assert!(is_advisory(EXAMPLE.as_bytes()));
        let mut with_bom = b"\xEF\xBB\xBF".to_vec();
        with_bom.extend_from_slice(EXAMPLE.as_bytes());
        assert!(is_advisory(&with_bom));
        assert!(parse(&with_bom, "bom.json", "acme").is_ok());
        let vex = r#"{"document":{"category":"csaf_vex","csaf_version":"2.0"},"vulnerabilities":[{"cve":"CVE-1"}]}"#;
        assert!(!is_advisory(vex.as_bytes()));
        let informational = r#"{"document":{"category":"csaf_informational_advisory","csaf_version":"2.0"}}"#;
        assert!(!is_advisory(informational.as_bytes()), "no vulnerabilities");
        let other =
            r#"{"document":{"category":"Cisco Security Advisory","csaf_version":"2.0"},"vulnerabilities":[{}]}"#;
        assert!(is_advisory(other.as_bytes()));
        assert!(
            is_advisory(br#"{"document":{"csaf_version":"2.0"},"vulnerabilities":{}}"#),
            "malformed: rejected later"
        );
        assert!(is_advisory(&EXAMPLE.as_bytes()[..200]), "broken JSON with the marker");
        assert!(!is_advisory(br#"{"bomFormat":"CycloneDX"}"#));
        assert!(!is_advisory(b"# README"));
        assert!(!is_advisory(b""));
    }

    #[test]
    fn vers_ranges() {
        let ok = |s: &str| vers_to_osv(s).expect(s);
        assert_eq!(
            ok("vers:npm/>=1.0.0|<1.2.0"),
            (Some(range(&[("introduced", "1.0.0"), ("fixed", "1.2.0")])), vec![])
        );
        assert_eq!(ok("vers:npm/<=2.0"), (Some(range(&[("introduced", "0"), ("last_affected", "2.0")])), vec![]));
        assert_eq!(ok("vers:generic/*"), (Some(range(&[("introduced", "0")])), vec![]));
        assert_eq!(ok("vers:pypi/>=3.0"), (Some(range(&[("introduced", "3.0")])), vec![]));
        assert_eq!(ok("vers:deb/1.0|2.0"), (None, vec!["1.0".to_string(), "2.0".to_string()]));
        assert_eq!(
            ok("vers:npm/1.0.0|>=2.0.0|<2.5.0|>=3.0.0%2Bbuild|<=3.1.0"),
            (
                Some(range(&[
                    ("introduced", "2.0.0"),
                    ("fixed", "2.5.0"),
                    ("introduced", "3.0.0+build"),
                    ("last_affected", "3.1.0")
                ])),
                vec!["1.0.0".to_string()]
            )
        );
        for bad in [
            "npm/<1.0",
            "vers:npm",
            "vers:/<1.0",
            "vers:npm/>1.0",
            "vers:npm/!=1.0",
            "vers:npm/<1.0|<2.0",
            "vers:npm/>=1.0|>=2.0",
            "vers:npm/<",
            "vers:npm/%zz",
            "vers:npm/%+1",
            "vers:npm/%ff",
        ] {
            assert!(vers_to_osv(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ecosystems_with_releases() {
        let eco = |purl: &str| {
            let p: Purl = purl.parse().expect("purl");
            let base = p.osv_ecosystem().expect("ecosystem");
            ecosystem_of(&p, base, None)
        };
        assert_eq!(eco("pkg:deb/debian/curl@1?distro=debian-11"), "Debian:11");
        assert_eq!(eco("pkg:deb/debian/curl@1?distro=bookworm"), "Debian:12");
        assert_eq!(eco("pkg:deb/ubuntu/curl@1?distro=ubuntu-22.04"), "Ubuntu:22.04:LTS");
        assert_eq!(eco("pkg:deb/ubuntu/curl@1?distro=ubuntu-23.10"), "Ubuntu:23.10");
        assert_eq!(eco("pkg:apk/alpine/curl@1?distro=alpine-3.18.4"), "Alpine:v3.18");
        assert_eq!(eco("pkg:rpm/almalinux/curl@1?distro=almalinux-9.2"), "AlmaLinux:9");
        assert_eq!(eco("pkg:rpm/redhat/curl@1?distro=rhel-9.2"), "Red Hat:9");
        assert_eq!(eco("pkg:rpm/redhat/curl@1"), "Red Hat");
        assert_eq!(eco("pkg:deb/debian/curl@1?distro=ubuntu-22.04"), "Debian", "a release of another distribution");
        assert_eq!(eco("pkg:npm/a@1?distro=debian-11"), "npm");
        for (ok, lts) in [("22.04", true), ("24.04", true), ("23.04", false), ("22.10", false), ("x.04", false)] {
            assert_eq!(is_ubuntu_lts(ok), lts, "{ok}");
        }
    }
}
