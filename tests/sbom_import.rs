//! The SBOM importers on real SBOMs: every CycloneDX SBOM in `../shared/data/sboms/cyclonedx/`
//! (CycloneDX/bom-examples, CC0), the CycloneDX VEX example's BOM and the SPDX SBOM of the OpenVEX
//! CSAF example. No document may be rejected, and each inventory must hold the component counts and
//! ecosystems measured independently (with Python's `json` over the same files): components are
//! distinct purls, `components` walked at every depth.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use trustloop_connectors::import::release::{ReleaseChoice, SbomInventory, SkipReason};
use trustloop_connectors::import::sbom::{self, SbomFormat};
use trustloop_schemas::{EventTime, InventoryFormat};

fn data() -> PathBuf {
    trustloop_e2e::shared_data().expect("../shared/data (or TRUSTLOOP_SHARED_DATA) is missing")
}

fn import(path: &Path) -> (SbomFormat, SbomInventory) {
    let release = ReleaseChoice::FromDocument { environment: Some("prod".into()) };
    sbom::parse_file(path, &release, "shared", EventTime::from_micros(0))
        .unwrap_or_else(|e| panic!("{} was rejected: {e}", path.display()))
}

fn all_json(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).expect("read_dir").map(|e| e.expect("dir entry").path()).collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            all_json(&e, out);
        } else if e.extension().is_some_and(|x| x == "json") {
            out.push(e);
        }
    }
}

/// `(group:name or group/name, version)` of every component of a CycloneDX document with a purl, read
/// from the document's own `group`, `name` and `version` fields — not from the purl.
fn documented_packages(path: &Path, separator: &str) -> BTreeSet<(String, String)> {
    fn walk(cs: &Value, separator: &str, out: &mut BTreeSet<(String, String)>) {
        for c in cs.as_array().into_iter().flatten() {
            if c["purl"].is_string() {
                let name = c["name"].as_str().expect("name");
                let name = match c["group"].as_str().filter(|g| !g.is_empty()) {
                    Some(g) => format!("{g}{separator}{name}"),
                    None => name.to_string(),
                };
                out.insert((name, c["version"].as_str().expect("version").to_string()));
            }
            walk(&c["components"], separator, out);
        }
    }
    let doc: Value = serde_json::from_slice(&std::fs::read(path).expect("read")).expect("JSON");
    let mut out = BTreeSet::new();
    walk(&doc["components"], separator, &mut out);
    out
}

struct Expected {
    file: &'static str,
    release: &'static str,
    ecosystem: &'static str,
    components: usize,
    duplicates: usize,
    optional: usize,
}

const fn exp(
    file: &'static str,
    release: &'static str,
    ecosystem: &'static str,
    components: usize,
    duplicates: usize,
    optional: usize,
) -> Expected {
    Expected { file, release, ecosystem, components, duplicates, optional }
}

/// Measured with Python over the JSON: distinct purls (all with a version and an OSV ecosystem, none
/// without a purl), duplicate entries, and components whose most binding scope is `optional`.
const EXPECTED: [Expected; 15] = [
    exp("sboms/cyclonedx/cern-lhc-vdm-editor-e564943/bom.json", "lhc-vdm-editor@0.0.1", "npm", 43, 0, 0),
    exp("sboms/cyclonedx/dropwizard-1.3.15/bom.json", "dropwizard-parent@1.3.15", "Maven", 167, 0, 0),
    exp("sboms/cyclonedx/juice-shop/v11.1.2/bom.json", "juice-shop@11.1.2", "npm", 840, 0, 0),
    exp("sboms/cyclonedx/juice-shop/via_npm/bare/bom.1.2.json", "juice-shop@14.1.1", "npm", 978, 137, 57),
    exp("sboms/cyclonedx/juice-shop/via_npm/bare/bom.1.3.json", "juice-shop@14.1.1", "npm", 978, 137, 57),
    exp("sboms/cyclonedx/juice-shop/via_npm/bare/bom.1.4.json", "juice-shop@14.1.1", "npm", 978, 137, 57),
    exp("sboms/cyclonedx/juice-shop/via_npm/flat/bom.1.2.json", "juice-shop@14.1.1", "npm", 978, 137, 57),
    exp("sboms/cyclonedx/juice-shop/via_npm/flat/bom.1.3.json", "juice-shop@14.1.1", "npm", 978, 137, 57),
    exp("sboms/cyclonedx/juice-shop/via_npm/flat/bom.1.4.json", "juice-shop@14.1.1", "npm", 978, 137, 57),
    exp("sboms/cyclonedx/keycloak-10.0.2/bom.json", "keycloak-parent@10.0.2", "Maven", 903, 0, 0),
    exp("sboms/cyclonedx/laravel-7.12.0/bom.1.2.json", "cyclonedx-php-composer-demo@dev-master", "Packagist", 62, 0, 0),
    exp("sboms/cyclonedx/laravel-7.12.0/bom.1.3.json", "cyclonedx-php-composer-demo@dev-master", "Packagist", 62, 0, 0),
    exp("sboms/cyclonedx/laravel-7.12.0/bom.1.4.json", "cyclonedx-php-composer-demo@dev-master", "Packagist", 62, 0, 0),
    exp("sboms/cyclonedx/protonmail-webclient-v4-0912dff/bom.json", "protonmail-web@4.0.0-beta.20", "npm", 883, 0, 0),
    exp("vex/cyclonedx/bom.json", "example-app@1.0.0", "Maven", 3, 0, 1),
];

#[test]
#[ignore = "needs ../shared/data (sboms/, vex/): run `cargo xtask test`"]
fn shared_data_cyclonedx_sboms_import_with_verified_counts() {
    let data = data();
    let mut files = Vec::new();
    all_json(&data.join("sboms/cyclonedx"), &mut files);
    files.push(data.join("vex/cyclonedx/bom.json"));
    let expected: BTreeMap<PathBuf, &Expected> = EXPECTED.iter().map(|e| (data.join(e.file), e)).collect();
    assert_eq!(files.iter().cloned().collect::<BTreeSet<_>>(), expected.keys().cloned().collect(), "the data changed");
    for f in &files {
        let e = expected[f];
        let (format, inv) = import(f);
        let r = &inv.inventory;
        assert_eq!(format, SbomFormat::CycloneDx, "{}", e.file);
        assert_eq!(r.format, InventoryFormat::Cyclonedx);
        assert!(inv.rejected.is_empty(), "{}: {:?}", e.file, inv.rejected);
        assert!(inv.skipped.is_empty(), "{}: {:?}", e.file, inv.skipped);
        assert_eq!(&*r.envelope.key, e.release, "{}", e.file);
        assert_eq!(r.environment.as_deref(), Some("prod"));
        assert_eq!(r.components.len(), e.components, "{}", e.file);
        assert_eq!(inv.duplicates, e.duplicates, "{}", e.file);
        assert!(r.components.iter().all(|c| c.ecosystem == e.ecosystem), "{}: all {}", e.file, e.ecosystem);
        let optional = r.components.iter().filter(|c| c.scope.as_deref() == Some("optional")).count();
        assert_eq!(optional, e.optional, "{}", e.file);
        assert!(r.components.windows(2).all(|w| w[0].purl < w[1].purl), "{}: sorted, distinct", e.file);
        // OSV names and versions from the purls agree with the document's own fields.
        let separator = if e.ecosystem == "Maven" { ":" } else { "/" };
        let from_purls: BTreeSet<(String, String)> =
            r.components.iter().map(|c| (c.name.clone(), c.version.clone())).collect();
        assert_eq!(from_purls, documented_packages(f, separator), "{}", e.file);
    }
    // Nested (`bare`) and flattened (`flat`) layouts of one install are the same inventory.
    // (`location` names each one's place in its own document, so it differs.)
    let components = |layout: &str| {
        let path = data.join(format!("sboms/cyclonedx/juice-shop/via_npm/{layout}/bom.1.4.json"));
        let mut cs = import(&path).1.inventory.components;
        cs.iter_mut().for_each(|c| c.location = None);
        cs
    };
    assert_eq!(components("bare"), components("flat"));
    // Spot checks of the OSV identity.
    let keycloak = import(&data.join("sboms/cyclonedx/keycloak-10.0.2/bom.json")).1.inventory;
    assert!(keycloak.components.iter().any(|c| c.name == "org.bouncycastle:bcprov-jdk15on" && c.version == "1.62"));
    let juice = import(&data.join("sboms/cyclonedx/juice-shop/via_npm/flat/bom.1.4.json")).1.inventory;
    assert!(juice.components.iter().any(|c| c.name == "@babel/parser" && c.version == "7.21.2"));
}

#[test]
#[ignore = "needs ../shared/data (vex/openvex/csaf/sbom.spdx.json): run `cargo xtask test`"]
fn shared_data_spdx_sbom_imports_its_described_image() {
    let (format, inv) = import(&data().join("vex/openvex/csaf/sbom.spdx.json"));
    assert_eq!(format, SbomFormat::Spdx);
    assert_eq!(inv.inventory.format, InventoryFormat::Spdx);
    assert!(inv.rejected.is_empty(), "{:?}", inv.rejected);
    // The described package (an OCI image) is the release; its two packages are `pkg:generic`, which
    // OSV has no ecosystem for: left out, and said so.
    assert_eq!(&*inv.inventory.envelope.key, "image@v1.0.0");
    assert!(inv.inventory.components.is_empty());
    let skipped: Vec<(&str, &SkipReason)> = inv.skipped.iter().map(|s| (s.component.as_str(), &s.reason)).collect();
    let generic = SkipReason::UnknownEcosystem("generic".into());
    assert_eq!(
        skipped,
        vec![("pkg:generic/component1@1.3.4", &generic), ("pkg:generic/component2@2.39.0-r1", &generic)]
    );
    assert_eq!(inv.inventory.envelope.event_time, EventTime::parse_rfc3339("2023-03-01T07:03:32Z").expect("time"));
}
