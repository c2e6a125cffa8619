//! The SBOM importer on small shipped documents (`tests/fixtures/sbom/`): a syft-style CycloneDX
//! JSON of a Debian 12 image, an SPDX tag-value document with `DEPENDS_ON` relationships, and a
//! CycloneDX 1.6 XML document with hashes and licences. Expected values are read from the documents
//! themselves with `serde_json` or plain text splitting wherever they can be.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use serde_json::Value;
use sha2::Digest;
use trustloop_connectors::import::release::{ReleaseChoice, SbomInventory, coverage};
use trustloop_connectors::import::sbom::{self, SbomFormat};
use trustloop_schemas::{Component, EventTime, OperatingSystem};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sbom").join(name)
}

fn import(name: &str) -> (SbomFormat, SbomInventory) {
    let release = ReleaseChoice::FromDocument { environment: None };
    sbom::parse_file(&fixture(name), &release, "t", EventTime::from_micros(0)).expect("import")
}

fn by_purl(inv: &SbomInventory) -> BTreeMap<&str, &Component> {
    inv.inventory.components.iter().map(|c| (c.purl.as_str(), c)).collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn syft_debian_12_image() {
    let (format, inv) = import("syft-debian-12.cdx.json");
    let bytes = std::fs::read(fixture("syft-debian-12.cdx.json")).expect("read");
    let doc: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(format, SbomFormat::CycloneDx);
    assert_eq!(inv.inventory.document_digest.as_deref(), Some(hex::encode(sha2::Sha256::digest(&bytes)).as_str()));

    // The OS: the operating-system component, os-release ID/VERSION_ID named as OSV names them.
    let os_component = doc["components"]
        .as_array()
        .expect("components")
        .iter()
        .find(|c| c["type"] == "operating-system")
        .expect("an OS component");
    assert_eq!(
        inv.inventory.os,
        Some(OperatingSystem {
            distribution: "Debian".into(),
            release: os_component["version"].as_str().map(str::to_string),
            name: os_component["description"].as_str().map(str::to_string),
        })
    );

    // Components: every purl of the document but the Fedora rpm (OSV has no Fedora ecosystem).
    let doc_components = doc["components"].as_array().expect("components");
    let purls: BTreeSet<&str> = doc_components.iter().filter_map(|c| c["purl"].as_str()).collect();
    let got: BTreeSet<&str> = inv.inventory.components.iter().map(|c| c.purl.as_str()).collect();
    let fedora: Vec<&str> = purls.iter().copied().filter(|p| p.starts_with("pkg:rpm/fedora/")).collect();
    assert_eq!(fedora.len(), 1);
    assert_eq!(got, purls.iter().copied().filter(|p| !fedora.contains(p)).collect());

    let components = by_purl(&inv);
    for (i, c) in doc_components.iter().enumerate() {
        let Some(purl) = c["purl"].as_str() else { continue };
        let Some(got) = components.get(purl) else { continue };
        assert_eq!(got.location.as_deref(), Some(format!("/components/{i}").as_str()), "{purl}");
        // syft writes the version with its epoch (`1:3.0.7-27.el9`) where the purl has `epoch=1`.
        assert_eq!(Some(got.version.as_str()), c["version"].as_str(), "{purl}");
        let hashes = c["hashes"].as_array().map_or(0, Vec::len);
        assert_eq!(got.hashes.len(), hashes, "{purl}");
        for h in c["hashes"].as_array().into_iter().flatten() {
            let content = h["content"].as_str().expect("content").to_ascii_lowercase();
            assert_eq!(got.hashes.get(h["alg"].as_str().expect("alg")), Some(&content), "{purl}");
        }
        let licenses: Vec<&str> = c["licenses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["expression"].as_str().or(l["license"]["id"].as_str()).or(l["license"]["name"].as_str()))
            .collect();
        assert_eq!(strs(&got.licenses), licenses, "{purl}");
        // The document has no edges from its root: `direct` is not known.
        assert_eq!(got.direct, None, "{purl}");
    }
    let rhel = components.values().find(|c| c.ecosystem == "Red Hat").expect("the rpm");
    assert_eq!(rhel.version, "1:3.0.7-27.el9");
    assert_eq!(rhel.distro_release.as_deref(), Some("9"), "from distro=rhel-9.4");
    for c in components.values().filter(|c| c.ecosystem == "Debian") {
        // From `distro=debian-12`, or from the image's OS for tzdata, whose purl has no distro.
        assert_eq!(c.distro_release.as_deref(), Some("12"), "{}", c.purl);
    }
    assert_eq!(components.values().find(|c| c.ecosystem == "PyPI").and_then(|c| c.distro_release.clone()), None);

    // The dependency graph, by bom-ref, read from the document: edges between inventory components.
    let ref_to_purl: HashMap<&str, &str> = doc_components
        .iter()
        .filter_map(|c| Some((c["bom-ref"].as_str()?, c["purl"].as_str().filter(|p| components.contains_key(p))?)))
        .collect();
    let mut expected: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for d in doc["dependencies"].as_array().expect("dependencies") {
        let Some(from) = d["ref"].as_str().and_then(|r| ref_to_purl.get(r)) else { continue };
        for to in d["dependsOn"].as_array().into_iter().flatten().filter_map(|t| ref_to_purl.get(t.as_str()?)) {
            expected.entry(from).or_default().insert(to);
        }
    }
    assert!(!expected.is_empty());
    for c in components.values() {
        let want: Vec<&str> = expected.get(c.purl.as_str()).map(|s| s.iter().copied().collect()).unwrap_or_default();
        assert_eq!(strs(&c.depends_on), want, "{}", c.purl);
    }

    // Left out, in document order: the Fedora rpm and the binary without a purl; not the OS.
    let left: Vec<(&str, Option<&str>, &str)> = inv
        .inventory
        .left_out
        .iter()
        .map(|l| (l.location.as_str(), l.ecosystem.as_deref(), l.reason.as_str()))
        .collect();
    assert_eq!(
        left,
        vec![
            ("/components/5", Some("rpm/fedora"), "purl type `rpm/fedora` has no OSV ecosystem"),
            ("/components/7", None, "no package URL"),
        ]
    );
    assert_eq!(inv.skipped.len(), 2);
    assert!(inv.rejected.is_empty());
    let cov = coverage(&inv.inventory);
    assert_eq!(cov.get("Debian"), Some(&(4, 0)));
    assert_eq!(cov.get("rpm/fedora"), Some(&(0, 1)));
    assert_eq!(cov.get("(none)"), Some(&(0, 1)));
    let total: (usize, usize) = cov.values().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    assert_eq!(total, (inv.inventory.components.len(), inv.inventory.left_out.len()));
}

/// `A TYPE B` of a `Relationship:` line.
type Relationship = (String, String, String);

/// `(package SPDXID → purl)` and the `Relationship:` lines of a tag-value document, split by hand.
fn tag_value_facts(text: &str) -> (BTreeMap<String, String>, Vec<Relationship>) {
    let mut purls = BTreeMap::new();
    let mut relationships = Vec::new();
    let mut current = None;
    for line in text.lines() {
        if let Some(id) = line.strip_prefix("SPDXID: ") {
            current = Some(id.trim().to_string());
        } else if let Some(r) = line.strip_prefix("ExternalRef: PACKAGE-MANAGER purl ") {
            purls.insert(current.clone().expect("a package"), r.trim().to_string());
        } else if let Some(r) = line.strip_prefix("Relationship: ") {
            let parts: Vec<&str> = r.split_whitespace().collect();
            relationships.push((parts[0].to_string(), parts[1].to_string(), parts[2].to_string()));
        }
    }
    (purls, relationships)
}

#[test]
fn spdx_tag_value_with_depends_on() {
    let (format, inv) = import("depends-on.spdx");
    assert_eq!(format, SbomFormat::SpdxTagValue);
    assert_eq!(format.to_string(), "SPDX tag-value");
    let r = &inv.inventory;
    assert_eq!((r.release_name.as_str(), r.release_version.as_str()), ("webapp", "2.4.0"));
    let text = std::fs::read_to_string(fixture("depends-on.spdx")).expect("read");
    let (purls, relationships) = tag_value_facts(&text);
    let components = by_purl(&inv);

    // Edges between inventory components, read from the relationship lines.
    let mut expected: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut from_root = BTreeSet::new();
    for (a, kind, b) in &relationships {
        let (from, to) = match kind.as_str() {
            "DEPENDS_ON" | "CONTAINS" => (a, b),
            "DEPENDENCY_OF" => (b, a),
            _ => continue,
        };
        let to = purls.get(to).map(String::as_str).filter(|p| components.contains_key(p));
        if from == "SPDXRef-Package-webapp" {
            from_root.extend(to);
            continue;
        }
        if let (Some(from), Some(to)) = (purls.get(from).filter(|p| components.contains_key(p.as_str())), to) {
            expected.entry(from).or_default().insert(to);
        }
    }
    assert_eq!(expected.values().map(BTreeSet::len).sum::<usize>(), 3, "{expected:?}");
    for c in components.values() {
        let want: Vec<&str> = expected.get(c.purl.as_str()).map(|s| s.iter().copied().collect()).unwrap_or_default();
        assert_eq!(strs(&c.depends_on), want, "{}", c.purl);
        assert_eq!(c.direct, Some(from_root.contains(c.purl.as_str())), "{}", c.purl);
        assert_eq!(c.location.as_deref().map(|l| l.starts_with("/packages/")), Some(true));
    }
    let express = components["pkg:npm/express@4.18.2"];
    assert_eq!(express.hashes.keys().map(String::as_str).collect::<Vec<_>>(), vec!["SHA-1", "SHA-512"]);
    assert_eq!(strs(&express.licenses), vec!["MIT"]);
    let body_parser = components["pkg:npm/body-parser@1.20.1"];
    assert_eq!(
        body_parser.hashes.get("SHA-256").map(String::as_str),
        Some("3a0e2c6c9a04e1f1e6a40a0b6a0d38f9e3e6c2d1b0a9f8e7d6c5b4a3f2e1d0c9"),
        "hex digests in lower case"
    );
    assert_eq!(strs(&body_parser.licenses), vec!["MIT"], "concluded NOASSERTION: the declared licence");
    assert!(components["pkg:npm/debug@2.6.9"].licenses.is_empty(), "NONE and NOASSERTION say nothing");
    let left: Vec<(&str, &str)> = r.left_out.iter().map(|l| (l.component.as_str(), l.reason.as_str())).collect();
    assert_eq!(
        left,
        vec![("pkg:npm/left-pad", "the package URL has no version"), ("vendored-lib@0.9", "no package URL")]
    );
    assert_eq!(r.os, None);
}

#[test]
fn cyclonedx_xml_1_6_with_hashes_and_licences() {
    let (format, inv) = import("hashes-licenses-1.6.cdx.xml");
    let bytes = std::fs::read(fixture("hashes-licenses-1.6.cdx.xml")).expect("read");
    assert_eq!(format, SbomFormat::CycloneDxXml);
    assert_eq!(format.to_string(), "CycloneDX XML");
    let r = &inv.inventory;
    assert_eq!(r.document_digest.as_deref(), Some(hex::encode(sha2::Sha256::digest(&bytes)).as_str()));
    assert_eq!((r.release_name.as_str(), r.release_version.as_str()), ("billing", "3.1.0"));
    let c = by_purl(&inv);
    let databind = c["pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.17.1?type=jar"];
    let core = c["pkg:maven/com.fasterxml.jackson.core/jackson-core@2.17.1?type=jar"];
    let tool = c["pkg:maven/org.example/internal-tool@1.0?type=jar"];
    assert_eq!(databind.hashes.keys().map(String::as_str).collect::<Vec<_>>(), vec!["MD5", "SHA-1", "SHA-256"]);
    assert_eq!(strs(&databind.licenses), vec!["Apache-2.0"]);
    assert_eq!(strs(&core.licenses), vec!["Apache-2.0 OR MIT"]);
    assert_eq!(strs(&tool.licenses), vec!["Example Corp Proprietary"]);
    assert_eq!(strs(&databind.depends_on), vec![core.purl.as_str()]);
    assert_eq!((databind.direct, core.direct, tool.direct), (Some(true), Some(false), Some(true)));
    assert_eq!((databind.scope.as_deref(), tool.scope.as_deref()), (Some("required"), Some("optional")));
    assert_eq!(r.left_out.len(), 1);
    assert_eq!((r.left_out[0].component.as_str(), r.left_out[0].location.as_str()), ("README.md", "/components/3"));
}

#[test]
fn text_form_errors_name_the_line() {
    let release = ReleaseChoice::FromDocument { environment: None };
    let text = std::fs::read_to_string(fixture("depends-on.spdx")).expect("read");
    let broken = text.replace(
        "Relationship: SPDXRef-Package-npm-express DEPENDS_ON SPDXRef-Package-npm-left-pad",
        "Relationship: oops",
    );
    let line = broken.lines().position(|l| l == "Relationship: oops").expect("line") + 1;
    let e = sbom::parse(broken.as_bytes(), "x.spdx", &release, "t", EventTime::from_micros(0)).expect_err("bad");
    assert_eq!(e.pointer, format!("line {line}"), "{e}");
    assert!(e.to_string().starts_with(&format!("x.spdx at line {line}: ")), "{e}");

    let xml = std::fs::read_to_string(fixture("hashes-licenses-1.6.cdx.xml")).expect("read");
    let cut = &xml[..xml.find("<dependencies>").expect("dependencies")];
    let e = sbom::parse(cut.as_bytes(), "x.xml", &release, "t", EventTime::from_micros(0)).expect_err("cut");
    assert!(e.pointer.starts_with("line "), "{e}");
}
