//! The CSAF 2.0 `product_tree` and the resolution of product ids through it, shared by the VEX
//! reader ([`super`]) and the advisory reader ([`crate::import::csaf_advisory`]).
//!
//! Products are defined by `branches` (at any depth), `full_product_names` and `relationships`; the
//! first definition of a product id wins. A relationship's product ("component of platform") without
//! a purl of its own is the pair (component, platform). `product_groups` name sets of products.
//!
//! A broken tree — a relationship or a group that refers to a product id the tree does not define —
//! is recorded, not fatal: [`Products::errors`] lists every such reference with its JSON pointer,
//! and resolving a product that a broken relationship defines (or a broken group) is an error naming
//! it. The VEX reader rejects the document on the first one; the advisory reader rejects only the
//! vulnerabilities that refer to it.

use std::collections::HashMap;

use serde::Deserialize;

use crate::import::ImportError;
use crate::import::vex::error;

#[derive(Deserialize, Default)]
pub(crate) struct ProductTree {
    #[serde(default)]
    pub branches: Vec<Branch>,
    #[serde(default)]
    pub full_product_names: Vec<FullProductName>,
    #[serde(default)]
    pub relationships: Vec<Relationship>,
    #[serde(default)]
    pub product_groups: Vec<ProductGroup>,
}

#[derive(Deserialize)]
pub(crate) struct Branch {
    /// `vendor`, `product_name`, `product_version`, `product_version_range`, `architecture`, ...
    #[serde(default)]
    pub category: String,
    /// The branch's value: for `product_version_range`, the range (`vers:npm/>=1.0.0|<1.4.2`).
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub branches: Vec<Branch>,
    #[serde(default)]
    pub product: Option<FullProductName>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct FullProductName {
    pub name: String,
    pub product_id: String,
    #[serde(default)]
    pub product_identification_helper: Option<IdentificationHelper>,
}

impl FullProductName {
    /// The helper's purl, trimmed, if it has a non-empty one.
    pub(crate) fn purl(&self) -> Option<&str> {
        self.product_identification_helper.as_ref()?.purl.as_deref().map(str::trim).filter(|p| !p.is_empty())
    }

    /// The helper's CPE, trimmed, if it has a non-empty one.
    pub(crate) fn cpe(&self) -> Option<&str> {
        self.product_identification_helper.as_ref()?.cpe.as_deref().map(str::trim).filter(|c| !c.is_empty())
    }

    /// What to call the product: its purl, else its name, else its id.
    pub(crate) fn label(&self) -> String {
        match self.purl() {
            Some(purl) => purl.to_string(),
            None if !self.name.trim().is_empty() => self.name.trim().to_string(),
            None => self.product_id.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct IdentificationHelper {
    #[serde(default)]
    pub purl: Option<String>,
    #[serde(default)]
    pub cpe: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct Relationship {
    pub full_product_name: FullProductName,
    pub product_reference: String,
    pub relates_to_product_reference: String,
}

#[derive(Deserialize)]
pub(crate) struct ProductGroup {
    pub group_id: String,
    pub product_ids: Vec<String>,
}

/// Where a product is defined.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Definition<'a> {
    /// The product.
    pub product: &'a FullProductName,
    /// The range of the `product_version_range` branch that holds it, if it is one.
    pub version_range: Option<&'a str>,
}

/// A product id resolved for VEX: what to call it, and the component when it is "component of
/// platform".
#[derive(Clone)]
pub(crate) struct Resolved {
    pub product: String,
    pub subcomponent: Option<String>,
}

/// A product id resolved to the product that identifies the package (the component of a
/// relationship without a purl of its own, else the product itself) and its platform, if any.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Package<'a> {
    /// The product as listed (a relationship's product, say).
    pub listed: &'a FullProductName,
    /// The product whose identification helper names the package.
    pub package: Definition<'a>,
    /// The platform of a relationship (`relates_to_product_reference`).
    pub platform: Option<&'a FullProductName>,
}

/// The product tree as lookups.
pub(crate) struct Products<'a> {
    /// product id → its first definition.
    defined: HashMap<&'a str, Definition<'a>>,
    /// product id → (component, platform), for relationships whose product has no purl of its own.
    composed: HashMap<&'a str, (&'a str, &'a str)>,
    /// group id → product ids.
    groups: HashMap<&'a str, &'a [String]>,
    /// product id → what is wrong with the relationship that defines it.
    broken_products: HashMap<&'a str, ImportError>,
    /// Every reference to an undefined product id, in document order.
    errors: Vec<ImportError>,
}

fn undefined_in_tree(path: &str, pointer: String, id: &str) -> ImportError {
    error(path, pointer, format!("product id `{id}` is not defined in the product tree"))
}

impl<'a> Products<'a> {
    /// The tree's lookups; broken relationships and groups are recorded (see [`Products::errors`]).
    pub(crate) fn new(tree: &'a ProductTree, path: &str) -> Products<'a> {
        let mut defined = HashMap::new();
        fn walk<'a>(branches: &'a [Branch], defined: &mut HashMap<&'a str, Definition<'a>>) {
            for b in branches {
                if let Some(p) = &b.product {
                    let version_range = (b.category == "product_version_range").then_some(b.name.as_str());
                    defined.entry(p.product_id.as_str()).or_insert(Definition { product: p, version_range });
                }
                walk(&b.branches, defined);
            }
        }
        walk(&tree.branches, &mut defined);
        for p in &tree.full_product_names {
            defined.entry(p.product_id.as_str()).or_insert(Definition { product: p, version_range: None });
        }
        for r in &tree.relationships {
            let p = &r.full_product_name;
            defined.entry(p.product_id.as_str()).or_insert(Definition { product: p, version_range: None });
        }
        let mut composed = HashMap::new();
        let mut broken_products = HashMap::new();
        let mut errors = Vec::new();
        for (i, r) in tree.relationships.iter().enumerate() {
            let mut ok = true;
            for (field, id) in [
                ("product_reference", &r.product_reference),
                ("relates_to_product_reference", &r.relates_to_product_reference),
            ] {
                if !defined.contains_key(id.as_str()) {
                    let e = undefined_in_tree(path, format!("/product_tree/relationships/{i}/{field}"), id);
                    // The product is broken only if this relationship is its definition.
                    let own = r.full_product_name.product_id.as_str();
                    if defined.get(own).is_some_and(|d| std::ptr::eq(d.product, &r.full_product_name)) {
                        broken_products.entry(own).or_insert_with(|| e.clone());
                    }
                    errors.push(e);
                    ok = false;
                }
            }
            if ok && r.full_product_name.purl().is_none() {
                composed
                    .entry(r.full_product_name.product_id.as_str())
                    .or_insert((r.product_reference.as_str(), r.relates_to_product_reference.as_str()));
            }
        }
        let mut groups = HashMap::new();
        for (i, g) in tree.product_groups.iter().enumerate() {
            for (j, id) in g.product_ids.iter().enumerate() {
                if !defined.contains_key(id.as_str()) {
                    let e = undefined_in_tree(path, format!("/product_tree/product_groups/{i}/product_ids/{j}"), id);
                    errors.push(e);
                }
            }
            groups.insert(g.group_id.as_str(), g.product_ids.as_slice());
        }
        Products { defined, composed, groups, broken_products, errors }
    }

    /// Every reference of a relationship or group to an undefined product id, in document order.
    pub(crate) fn errors(&self) -> &[ImportError] {
        &self.errors
    }

    /// Whether the tree defines product id `id`.
    pub(crate) fn is_defined(&self, id: &str) -> bool {
        self.defined.contains_key(id)
    }

    /// The error of the broken relationship that defines product `id`, if it is one.
    pub(crate) fn broken(&self, id: &str) -> Option<&ImportError> {
        self.broken_products.get(id)
    }

    fn label(&self, id: &str) -> Option<String> {
        self.defined.get(id).map(|d| d.product.label())
    }

    /// Product `id` (listed at `pointer`) for VEX: a relationship without a purl of its own is its
    /// platform, with its component as subcomponent; any other product its purl, else its name.
    pub(crate) fn resolve(&self, id: &str, path: &str, pointer: &str) -> Result<Resolved, ImportError> {
        let undefined = || error(path, pointer, format!("product id `{id}` is not defined in the product tree"));
        if let Some((component, platform)) = self.composed.get(id) {
            let product = self.label(platform).ok_or_else(undefined)?;
            let component = self.label(component).ok_or_else(undefined)?;
            return Ok(Resolved { product, subcomponent: Some(component) });
        }
        let product = self.label(id).ok_or_else(undefined)?;
        Ok(Resolved { product, subcomponent: None })
    }

    /// Product `id` (listed at `pointer`) for an advisory: the product that names the package and
    /// its platform. An error when `id` is undefined, or defined by a broken relationship.
    pub(crate) fn package(&self, id: &str, path: &str, pointer: &str) -> Result<Package<'a>, ImportError> {
        if let Some(e) = self.broken_products.get(id) {
            let at = if e.pointer.is_empty() { String::new() } else { format!(" at {}", e.pointer) };
            return Err(error(
                path,
                pointer,
                format!("product `{id}` is defined by a broken relationship{at}: {}", e.reason),
            ));
        }
        let undefined = || error(path, pointer, format!("product id `{id}` is not defined in the product tree"));
        let listed = self.defined.get(id).ok_or_else(undefined)?;
        if let Some((component, platform)) = self.composed.get(id) {
            let package = *self.defined.get(component).ok_or_else(undefined)?;
            let platform = self.defined.get(platform).ok_or_else(undefined)?.product;
            return Ok(Package { listed: listed.product, package, platform: Some(platform) });
        }
        Ok(Package { listed: listed.product, package: *listed, platform: None })
    }

    /// The product ids a flag, threat or remediation names, directly or through its groups;
    /// `None` when it names none (it then applies to every product of the vulnerability).
    pub(crate) fn named(
        &self,
        product_ids: &'a [String],
        group_ids: &'a [String],
        path: &str,
        pointer: &str,
    ) -> Result<Option<Vec<&'a str>>, ImportError> {
        if product_ids.is_empty() && group_ids.is_empty() {
            return Ok(None);
        }
        let mut ids: Vec<&str> = Vec::new();
        for (j, id) in product_ids.iter().enumerate() {
            if !self.is_defined(id) {
                return Err(undefined_in_tree(path, format!("{pointer}/product_ids/{j}"), id));
            }
            ids.push(id);
        }
        for (j, g) in group_ids.iter().enumerate() {
            let members = self.groups.get(g.as_str()).ok_or_else(|| {
                error(path, format!("{pointer}/group_ids/{j}"), format!("product group `{g}` is not defined"))
            })?;
            ids.extend(members.iter().map(String::as_str));
        }
        Ok(Some(ids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(json: &str) -> ProductTree {
        serde_json::from_str(json).expect("product tree")
    }

    const TREE: &str = r#"{
      "branches": [{"category": "vendor", "name": "Example", "branches": [
        {"category": "product_version", "name": "1.0",
         "product": {"name": "lib 1.0", "product_id": "LIB-1.0",
                     "product_identification_helper": {"purl": " pkg:npm/lib@1.0.0 "}}},
        {"category": "product_version_range", "name": "vers:npm/<1.0.0",
         "product": {"name": "lib before 1.0", "product_id": "LIB-OLD",
                     "product_identification_helper": {"purl": "pkg:npm/lib"}}},
        {"category": "product_name", "name": "OS",
         "product": {"name": "Example OS 9", "product_id": "OS-9",
                     "product_identification_helper": {"cpe": "cpe:/o:example:os:9"}}}
      ]}],
      "relationships": [
        {"category": "default_component_of", "product_reference": "LIB-1.0", "relates_to_product_reference": "OS-9",
         "full_product_name": {"name": "lib 1.0 on OS 9", "product_id": "OS-9:LIB-1.0"}},
        {"category": "default_component_of", "product_reference": "LIB-2.0", "relates_to_product_reference": "OS-9",
         "full_product_name": {"name": "lib 2.0 on OS 9", "product_id": "OS-9:LIB-2.0"}}
      ],
      "product_groups": [{"group_id": "G1", "product_ids": ["LIB-1.0", "NOPE"]}]
    }"#;

    #[test]
    fn packages_resolve_through_relationships_and_ranges() {
        let t = tree(TREE);
        let p = Products::new(&t, "t.json");
        let pkg = p.package("OS-9:LIB-1.0", "t.json", "/x").expect("resolves");
        assert_eq!(pkg.listed.name, "lib 1.0 on OS 9");
        assert_eq!(pkg.package.product.purl(), Some("pkg:npm/lib@1.0.0"), "trimmed");
        assert_eq!(pkg.platform.and_then(FullProductName::cpe), Some("cpe:/o:example:os:9"));
        let old = p.package("LIB-OLD", "t.json", "/x").expect("resolves");
        assert_eq!(old.package.version_range, Some("vers:npm/<1.0.0"));
        assert!(old.platform.is_none());
        let vex = p.resolve("OS-9:LIB-1.0", "t.json", "/x").expect("resolves");
        assert_eq!((vex.product.as_str(), vex.subcomponent.as_deref()), ("Example OS 9", Some("pkg:npm/lib@1.0.0")));
    }

    #[test]
    fn broken_relationships_and_groups_are_recorded_with_their_pointers() {
        let t = tree(TREE);
        let p = Products::new(&t, "t.json");
        let pointers: Vec<&str> = p.errors().iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            ["/product_tree/relationships/1/product_reference", "/product_tree/product_groups/0/product_ids/1"]
        );
        let e = p.package("OS-9:LIB-2.0", "t.json", "/vulnerabilities/0/product_status/fixed/0").expect_err("broken");
        assert_eq!(e.pointer, "/vulnerabilities/0/product_status/fixed/0");
        assert!(
            e.reason.contains("/product_tree/relationships/1/product_reference") && e.reason.contains("LIB-2.0"),
            "{e}"
        );
        assert!(p.broken("OS-9:LIB-2.0").is_some() && p.broken("OS-9:LIB-1.0").is_none());
        let e = p.package("NOPE", "t.json", "/p").expect_err("undefined");
        assert!(e.reason.contains("not defined"), "{e}");
    }
}
