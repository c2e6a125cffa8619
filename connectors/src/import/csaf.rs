//! CSAF 2.0 documents (<https://docs.oasis-open.org/csaf/csaf/v2.0/csaf-v2.0.html>) into
//! `VexStatement` events: the `csaf_vex` profile, and the vulnerabilities of any other profile
//! (security advisories) that carry a `product_status`.
//!
//! Product ids are resolved through the `product_tree` (branches at any depth, `full_product_names`,
//! `relationships`, `product_groups`) to the product's purl where it has one, else its name. A
//! product that a relationship defines without a purl of its own is the platform it relates to,
//! with the component as a subcomponent. The product tree is read by `csaf/product_tree.rs`, which
//! the advisory reader ([`super::csaf_advisory`]) shares; a broken tree (a relationship or group
//! naming an undefined product id) rejects the whole VEX document.
//!
//! Statuses: `known_affected`/`first_affected`/`last_affected` → affected, `known_not_affected` →
//! not_affected, `fixed`/`first_fixed` → fixed, `under_investigation` → under_investigation
//! (`recommended` is not a VEX status and is left out). The justification comes from the `flags`
//! (for not-affected products), the impact statement from `threats` of category `impact`, the action
//! statement from `remediations`, each for the products (and groups) it names, or for all products
//! when it names none. Products of one vulnerability with the same status, justification and
//! statements make one statement (split further where their subcomponents differ, so that every
//! product of a statement has every subcomponent of it).

use std::collections::HashMap;

use serde::Deserialize;
use trustloop_schemas::{EventTime, VexFormat, VexJustification, VexStatement, VexStatus};

use super::ImportError;
use super::vex::{DocumentInfo, Draft, error, finish, from_json, push_unique, time_at};

pub(crate) mod product_tree;

use product_tree::{ProductTree, Products, Resolved};

/// `document.category` of the CSAF VEX profile.
pub const VEX_PROFILE: &str = "csaf_vex";

#[derive(Deserialize)]
struct Csaf {
    document: Document,
    #[serde(default)]
    product_tree: ProductTree,
    #[serde(default)]
    vulnerabilities: Vec<Vulnerability>,
}

#[derive(Deserialize)]
struct Document {
    category: String,
    #[allow(dead_code)] // required by the schema; read so that its absence is an error
    csaf_version: String,
    publisher: Publisher,
    tracking: Tracking,
}

#[derive(Deserialize)]
struct Publisher {
    name: String,
}

#[derive(Deserialize)]
struct Tracking {
    id: String,
    current_release_date: String,
}

#[derive(Deserialize)]
struct Vulnerability {
    #[serde(default)]
    cve: Option<String>,
    #[serde(default)]
    ids: Vec<VulnerabilityId>,
    #[serde(default)]
    product_status: Option<ProductStatus>,
    #[serde(default)]
    flags: Vec<Flag>,
    #[serde(default)]
    threats: Vec<Threat>,
    #[serde(default)]
    remediations: Vec<Remediation>,
}

#[derive(Deserialize)]
struct VulnerabilityId {
    text: String,
}

/// The product status lists; any other key is an unknown status and rejected.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProductStatus {
    #[serde(default)]
    pub first_affected: Vec<String>,
    #[serde(default)]
    pub first_fixed: Vec<String>,
    #[serde(default)]
    pub fixed: Vec<String>,
    #[serde(default)]
    pub known_affected: Vec<String>,
    #[serde(default)]
    pub known_not_affected: Vec<String>,
    #[serde(default)]
    pub last_affected: Vec<String>,
    /// A recommendation, not a VEX status: accepted, its ids checked, and left out.
    #[serde(default)]
    pub recommended: Vec<String>,
    #[serde(default)]
    pub under_investigation: Vec<String>,
}

impl ProductStatus {
    /// The status lists in a fixed order, with their VEX status.
    fn lists(&self) -> [(&'static str, VexStatus, &[String]); 7] {
        [
            ("known_affected", VexStatus::Affected, &self.known_affected),
            ("first_affected", VexStatus::Affected, &self.first_affected),
            ("last_affected", VexStatus::Affected, &self.last_affected),
            ("known_not_affected", VexStatus::NotAffected, &self.known_not_affected),
            ("fixed", VexStatus::Fixed, &self.fixed),
            ("first_fixed", VexStatus::Fixed, &self.first_fixed),
            ("under_investigation", VexStatus::UnderInvestigation, &self.under_investigation),
        ]
    }

    /// Every list with its key, `recommended` included, in the schema's order.
    pub(crate) fn all(&self) -> [(&'static str, &[String]); 8] {
        [
            ("first_affected", &self.first_affected),
            ("first_fixed", &self.first_fixed),
            ("fixed", &self.fixed),
            ("known_affected", &self.known_affected),
            ("known_not_affected", &self.known_not_affected),
            ("last_affected", &self.last_affected),
            ("recommended", &self.recommended),
            ("under_investigation", &self.under_investigation),
        ]
    }
}

/// Flag labels are the OpenVEX justifications; an unknown label is rejected.
#[derive(Deserialize)]
struct Flag {
    label: VexJustification,
    #[serde(default)]
    product_ids: Vec<String>,
    #[serde(default)]
    group_ids: Vec<String>,
}

#[derive(Deserialize)]
struct Threat {
    category: String,
    details: String,
    #[serde(default)]
    product_ids: Vec<String>,
    #[serde(default)]
    group_ids: Vec<String>,
}

#[derive(Deserialize)]
struct Remediation {
    details: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    product_ids: Vec<String>,
    #[serde(default)]
    group_ids: Vec<String>,
}

/// What a vulnerability says about one product, beyond its status.
#[derive(Default, Clone, PartialEq)]
struct Notes {
    justification: Option<VexJustification>,
    impact: Vec<String>,
    action: Vec<String>,
}

/// A statement being assembled: products (each with its subcomponents) of one status and notes.
struct Group {
    status: VexStatus,
    notes: Notes,
    products: Vec<(String, Vec<String>)>,
}

impl Group {
    fn add(&mut self, r: Resolved) {
        let index = match self.products.iter().position(|(p, _)| *p == r.product) {
            Some(i) => i,
            None => {
                self.products.push((r.product, Vec::new()));
                self.products.len() - 1
            }
        };
        if let Some(sub) = r.subcomponent {
            push_unique(&mut self.products[index].1, &sub);
        }
    }

    /// Splits into (products, subcomponents) pairs where every product has every subcomponent.
    fn split(self) -> Vec<(Vec<String>, Vec<String>)> {
        let mut out: Vec<(Vec<String>, Vec<String>)> = Vec::new();
        for (product, mut subs) in self.products {
            subs.sort();
            match out.iter_mut().find(|(_, s)| *s == subs) {
                Some((products, _)) => products.push(product),
                None => out.push((vec![product], subs)),
            }
        }
        out
    }
}

/// Attaches `text` to the notes of every product id in `ids` (or all of `all` when `None`).
fn annotate<'a>(
    notes: &mut HashMap<&'a str, Notes>,
    ids: Option<Vec<&'a str>>,
    all: &[&'a str],
    mut apply: impl FnMut(&mut Notes),
) {
    for id in ids.as_deref().unwrap_or(all) {
        apply(notes.entry(id).or_default());
    }
}

/// Parses one CSAF 2.0 document (JSON) into statements for `tenant`.
///
/// Every statement has the document's `tracking.current_release_date` as its time,
/// `tracking.id` as its document id and `publisher.name` as its issuer. The vulnerability is the
/// `cve`, else the first of `ids`; the other ids are aliases.
pub fn parse(bytes: &[u8], path: &str, tenant: &str) -> Result<Vec<VexStatement>, ImportError> {
    let doc: Csaf = from_json(bytes, path)?;
    let vex_profile = doc.document.category == VEX_PROFILE;
    if doc.document.tracking.id.trim().is_empty() {
        return Err(error(path, "/document/tracking/id", "empty document id"));
    }
    let time: EventTime =
        time_at(&doc.document.tracking.current_release_date, path, "/document/tracking/current_release_date")?;
    if vex_profile && doc.vulnerabilities.is_empty() {
        return Err(error(path, "/vulnerabilities", "a csaf_vex document must have vulnerabilities"));
    }
    let products = Products::new(&doc.product_tree, path);
    if let Some(e) = products.errors().first() {
        return Err(e.clone());
    }
    let mut drafts = Vec::new();
    for (i, v) in doc.vulnerabilities.iter().enumerate() {
        let at = format!("/vulnerabilities/{i}");
        let Some(status) = &v.product_status else {
            if vex_profile {
                return Err(error(
                    path,
                    format!("{at}/product_status"),
                    "a csaf_vex vulnerability needs a product_status",
                ));
            }
            tracing::debug!(file = path, vulnerability = i, "no product_status; not a VEX statement");
            continue;
        };
        let mut names: Vec<String> = Vec::new();
        if let Some(cve) = &v.cve {
            push_unique(&mut names, cve);
        }
        for id in &v.ids {
            push_unique(&mut names, &id.text);
        }
        if names.is_empty() {
            return Err(error(path, at, "a vulnerability needs a cve or ids"));
        }
        let vulnerability = names.remove(0);
        let aliases = names;

        // Which products the vulnerability lists, in status order.
        let mut listed: Vec<(VexStatus, &str, String)> = Vec::new();
        for (key, vex_status, ids) in status.lists() {
            for (j, id) in ids.iter().enumerate() {
                listed.push((vex_status, id.as_str(), format!("{at}/product_status/{key}/{j}")));
            }
        }
        let all: Vec<&str> = listed.iter().map(|(_, id, _)| *id).collect();
        let mut notes: HashMap<&str, Notes> = HashMap::new();
        for (j, f) in v.flags.iter().enumerate() {
            let ids = products.named(&f.product_ids, &f.group_ids, path, &format!("{at}/flags/{j}"))?;
            annotate(&mut notes, ids, &all, |n| {
                n.justification.get_or_insert(f.label);
            });
        }
        for (j, t) in v.threats.iter().enumerate().filter(|(_, t)| t.category == "impact") {
            let ids = products.named(&t.product_ids, &t.group_ids, path, &format!("{at}/threats/{j}"))?;
            annotate(&mut notes, ids, &all, |n| push_unique(&mut n.impact, &t.details));
        }
        for (j, r) in v.remediations.iter().enumerate() {
            let ids = products.named(&r.product_ids, &r.group_ids, path, &format!("{at}/remediations/{j}"))?;
            let text = match r.url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
                Some(url) => format!("{} ({url})", r.details.trim()),
                None => r.details.clone(),
            };
            annotate(&mut notes, ids, &all, |n| push_unique(&mut n.action, &text));
        }

        let mut groups: Vec<Group> = Vec::new();
        for (vex_status, id, pointer) in listed {
            let resolved = products.resolve(id, path, &pointer)?;
            let mut n = notes.get(id).cloned().unwrap_or_default();
            if vex_status != VexStatus::NotAffected {
                n.justification = None;
            }
            match groups.iter_mut().find(|g| g.status == vex_status && g.notes == n) {
                Some(g) => g.add(resolved),
                None => {
                    let mut g = Group { status: vex_status, notes: n, products: Vec::new() };
                    g.add(resolved);
                    groups.push(g);
                }
            }
        }
        for g in groups {
            let (status, notes) = (g.status, g.notes.clone());
            let join = |texts: &[String]| (!texts.is_empty()).then(|| texts.join("\n"));
            for (products, subcomponents) in g.split() {
                drafts.push(Draft {
                    time,
                    vulnerability: vulnerability.clone(),
                    aliases: aliases.clone(),
                    products,
                    subcomponents,
                    status,
                    justification: notes.justification,
                    impact_statement: join(&notes.impact),
                    action_statement: join(&notes.action),
                });
            }
        }
    }
    let info = DocumentInfo {
        format: VexFormat::Csaf,
        id: doc.document.tracking.id.trim().to_string(),
        issuer: doc.document.publisher.name,
    };
    Ok(finish(&info, drafts, path, tenant))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A csaf_vex document with purls at several branch depths, a full_product_name without a purl,
    /// a relationship, product groups, flags, threats and remediations.
    const DOC: &str = r#"{
      "document": {
        "category": "csaf_vex",
        "csaf_version": "2.0",
        "publisher": {"category": "vendor", "name": "Example PSIRT", "namespace": "https://psirt.example.com"},
        "title": "test",
        "tracking": {
          "id": "EX-VEX-2024-0001",
          "current_release_date": "2024-05-01T12:00:00+02:00",
          "initial_release_date": "2024-05-01T12:00:00+02:00",
          "revision_history": [{"date": "2024-05-01T12:00:00+02:00", "number": "1", "summary": "x"}],
          "status": "final",
          "version": "1"
        }
      },
      "product_tree": {
        "branches": [{
          "category": "vendor", "name": "Example",
          "branches": [
            {"category": "product_name", "name": "app",
             "branches": [
               {"category": "product_version", "name": "1.0",
                "product": {"name": "Example app 1.0", "product_id": "APP-1.0",
                            "product_identification_helper": {"purl": "pkg:maven/com.example/app@1.0"}}},
               {"category": "product_version", "name": "1.1",
                "product": {"name": "Example app 1.1", "product_id": "APP-1.1",
                            "product_identification_helper": {"purl": "pkg:maven/com.example/app@1.1"}}}
             ]},
            {"category": "product_name", "name": "platform",
             "product": {"name": "Example Platform 7", "product_id": "PLAT-7"}},
            {"category": "product_name", "name": "lib",
             "branches": [{"category": "product_version", "name": "2.0",
               "product": {"name": "liblog 2.0", "product_id": "LIB-2.0",
                           "product_identification_helper": {"purl": "pkg:generic/liblog@2.0"}}}]}
          ]
        }],
        "full_product_names": [{"name": "Example Appliance", "product_id": "APPLIANCE"}],
        "relationships": [{
          "category": "default_component_of",
          "full_product_name": {"name": "liblog 2.0 as a component of Example Platform 7", "product_id": "PLAT-7:LIB-2.0"},
          "product_reference": "LIB-2.0",
          "relates_to_product_reference": "PLAT-7"
        }],
        "product_groups": [{"group_id": "GRP-APPS", "product_ids": ["APP-1.0", "APP-1.1"]}]
      },
      "vulnerabilities": [
        {
          "cve": "CVE-2024-1111",
          "ids": [{"system_name": "Example tracker", "text": "EX-42"}],
          "product_status": {
            "known_not_affected": ["APP-1.0", "APP-1.1", "APPLIANCE"],
            "known_affected": ["PLAT-7:LIB-2.0"],
            "first_affected": ["PLAT-7:LIB-2.0"]
          },
          "flags": [
            {"label": "vulnerable_code_not_in_execute_path", "group_ids": ["GRP-APPS"]},
            {"label": "component_not_present", "product_ids": ["APPLIANCE"]}
          ],
          "threats": [{"category": "impact", "details": "The parser is never reached.", "group_ids": ["GRP-APPS"]},
                      {"category": "exploit_status", "details": "none known"}],
          "remediations": [{"category": "vendor_fix", "details": "Update liblog.", "url": "https://example.com/fix",
                            "product_ids": ["PLAT-7:LIB-2.0"]}]
        },
        {
          "ids": [{"system_name": "Example tracker", "text": "EX-43"}, {"system_name": "GHSA", "text": "GHSA-aaaa-bbbb-cccc"}],
          "product_status": {"fixed": ["APP-1.1"], "first_fixed": ["APP-1.1"], "under_investigation": ["APP-1.0"]}
        }
      ]
    }"#;

    #[test]
    fn vex_resolves_branches_relationships_and_groups() {
        let s = parse(DOC.as_bytes(), "ex.json", "acme").expect("parse");
        let summary: Vec<(&str, VexStatus, Vec<&str>)> = s
            .iter()
            .map(|s| (s.vulnerability.as_str(), s.status, s.products.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("CVE-2024-1111", VexStatus::Affected, vec!["Example Platform 7"]),
                (
                    "CVE-2024-1111",
                    VexStatus::NotAffected,
                    vec!["pkg:maven/com.example/app@1.0", "pkg:maven/com.example/app@1.1"]
                ),
                ("CVE-2024-1111", VexStatus::NotAffected, vec!["Example Appliance"]),
                ("EX-43", VexStatus::Fixed, vec!["pkg:maven/com.example/app@1.1"]),
                ("EX-43", VexStatus::UnderInvestigation, vec!["pkg:maven/com.example/app@1.0"]),
            ]
        );
        let affected = &s[0];
        assert_eq!(affected.subcomponents, vec!["pkg:generic/liblog@2.0"], "the component of the relationship");
        assert_eq!(affected.action_statement.as_deref(), Some("Update liblog. (https://example.com/fix)"));
        assert_eq!(affected.justification, None);
        assert_eq!(affected.aliases, vec!["EX-42"]);
        assert_eq!(s[1].justification, Some(VexJustification::VulnerableCodeNotInExecutePath));
        assert_eq!(s[1].impact_statement.as_deref(), Some("The parser is never reached."));
        assert_eq!(s[2].justification, Some(VexJustification::ComponentNotPresent));
        assert_eq!(s[2].impact_statement, None);
        assert_eq!(s[3].aliases, vec!["GHSA-aaaa-bbbb-cccc"]);
        for st in &s {
            assert_eq!(st.format, VexFormat::Csaf);
            assert_eq!(st.document_id, "EX-VEX-2024-0001");
            assert_eq!(st.issuer, "Example PSIRT");
            assert_eq!(st.statement_time, EventTime::parse_rfc3339("2024-05-01T10:00:00Z").expect("time"));
            assert_eq!(*st.envelope.key, *st.vulnerability);
        }
    }

    #[test]
    fn vex_subcomponents_split_statements_so_products_and_components_pair_up() {
        let doc = DOC
            .replace(
                r#""relationships": [{"#,
                r#""relationships": [{
                  "category": "default_component_of",
                  "full_product_name": {"name": "app 1.0 on Platform 7", "product_id": "PLAT-7:APP-1.0"},
                  "product_reference": "APP-1.0", "relates_to_product_reference": "PLAT-7"
                }, {
                  "category": "default_component_of",
                  "full_product_name": {"name": "liblog on the appliance", "product_id": "APPLIANCE:LIB-2.0"},
                  "product_reference": "LIB-2.0", "relates_to_product_reference": "APPLIANCE"
                }, {"#,
            )
            .replace(
                r#""known_affected": ["PLAT-7:LIB-2.0"]"#,
                r#""known_affected": ["PLAT-7:LIB-2.0", "PLAT-7:APP-1.0", "APPLIANCE:LIB-2.0"]"#,
            )
            .replace(
                r#""product_ids": ["PLAT-7:LIB-2.0"]}]"#,
                r#""product_ids": ["PLAT-7:LIB-2.0", "PLAT-7:APP-1.0", "APPLIANCE:LIB-2.0"]}]"#,
            );
        let s = parse(doc.as_bytes(), "ex.json", "acme").expect("parse");
        let affected: Vec<(Vec<&str>, Vec<&str>)> = s
            .iter()
            .filter(|s| s.status == VexStatus::Affected)
            .map(|s| {
                (s.products.iter().map(String::as_str).collect(), s.subcomponents.iter().map(String::as_str).collect())
            })
            .collect();
        assert_eq!(
            affected,
            vec![
                (vec!["Example Platform 7"], vec!["pkg:generic/liblog@2.0", "pkg:maven/com.example/app@1.0"]),
                (vec!["Example Appliance"], vec!["pkg:generic/liblog@2.0"]),
            ]
        );
    }

    #[test]
    fn vex_from_other_profiles_when_they_carry_product_status() {
        let doc = DOC.replace(r#""category": "csaf_vex""#, r#""category": "csaf_security_advisory""#).replace(
            r#""product_status": {"fixed": ["APP-1.1"], "first_fixed": ["APP-1.1"], "under_investigation": ["APP-1.0"]}"#,
            r#""notes": []"#,
        );
        let s = parse(doc.as_bytes(), "adv.json", "acme").expect("parse");
        assert_eq!(s.len(), 3, "the vulnerability without product_status is no statement");
        let vex = DOC.replace(
            r#""product_status": {"fixed": ["APP-1.1"], "first_fixed": ["APP-1.1"], "under_investigation": ["APP-1.0"]}"#,
            r#""notes": []"#,
        );
        let e = parse(vex.as_bytes(), "vex.json", "acme").expect_err("csaf_vex needs product_status");
        assert_eq!(e.pointer, "/vulnerabilities/1/product_status");
    }

    #[test]
    fn vex_bad_documents_are_rejected_with_a_pointer() {
        let bad = DOC.replace(r#""known_affected": ["PLAT-7:LIB-2.0"]"#, r#""probably_affected": ["PLAT-7:LIB-2.0"]"#);
        let e = parse(bad.as_bytes(), "x.json", "acme").expect_err("unknown status");
        assert_eq!(e.pointer, "/vulnerabilities/0/product_status/probably_affected", "{e}");
        let bad = DOC.replace("component_not_present", "not_my_problem");
        let e = parse(bad.as_bytes(), "x.json", "acme").expect_err("unknown flag label");
        assert_eq!(e.pointer, "/vulnerabilities/0/flags/1/label", "{e}");
        let bad = DOC.replace(r#""under_investigation": ["APP-1.0"]"#, r#""under_investigation": ["APP-9"]"#);
        let e = parse(bad.as_bytes(), "x.json", "acme").expect_err("undefined product");
        assert_eq!(e.pointer, "/vulnerabilities/1/product_status/under_investigation/0", "{e}");
        assert!(e.reason.contains("APP-9"), "{e}");
        let bad = DOC.replace(r#""group_ids": ["GRP-APPS"]}"#, r#""group_ids": ["GRP-NONE"]}"#);
        let e = parse(bad.as_bytes(), "x.json", "acme").expect_err("undefined group");
        assert_eq!(e.pointer, "/vulnerabilities/0/flags/0/group_ids/0", "{e}");
        let bad =
            DOC.replace(r#""relates_to_product_reference": "PLAT-7""#, r#""relates_to_product_reference": "PLAT-8""#);
        let e = parse(bad.as_bytes(), "x.json", "acme").expect_err("undefined platform");
        assert_eq!(e.pointer, "/product_tree/relationships/0/relates_to_product_reference", "{e}");
        let bad =
            DOC.replace(r#""current_release_date": "2024-05-01T12:00:00+02:00""#, r#""current_release_date": "soon""#);
        let e = parse(bad.as_bytes(), "x.json", "acme").expect_err("bad time");
        assert_eq!(e.pointer, "/document/tracking/current_release_date", "{e}");
        let bad = DOC
            .replace(r#""cve": "CVE-2024-1111","#, "")
            .replace(r#""ids": [{"system_name": "Example tracker", "text": "EX-42"}],"#, "");
        let e = parse(bad.as_bytes(), "x.json", "acme").expect_err("no id");
        assert_eq!(e.pointer, "/vulnerabilities/0", "{e}");
    }
}
