//! The SBOM text forms on small shipped fixtures (see tests/fixtures/sbom/LICENSE-NOTE.md), checked
//! against independent oracles: the official `cyclonedx-bom` crate for CycloneDX XML, and the SPDX
//! project's own SPDX 2.3 JSON edition of the SPDX 3.0 example.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;
use trustloop_formats::Location;
use trustloop_formats::sbom::{self, TextForm};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sbom").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

type ComponentFacts = BTreeSet<(String, String, String, Vec<(String, String)>)>;

/// (name, version, purl, hashes) of every component at any depth.
fn our_components(v: &Value) -> ComponentFacts {
    fn walk(list: &Value, out: &mut ComponentFacts) {
        for c in list.as_array().into_iter().flatten() {
            let hashes = c["hashes"].as_array().into_iter().flatten().map(|h| (text(&h["alg"]), text(&h["content"])));
            out.insert((text(&c["name"]), text(&c["version"]), text(&c["purl"]), hashes.collect()));
            walk(&c["components"], out);
        }
    }
    let mut out = BTreeSet::new();
    walk(&v["components"], &mut out);
    out
}

fn oracle_components(bom: &cyclonedx_bom::models::bom::Bom) -> ComponentFacts {
    use cyclonedx_bom::models::component::Component;
    fn walk(list: &[Component], out: &mut ComponentFacts) {
        for c in list {
            let hashes = c.hashes.iter().flat_map(|h| &h.0).map(|h| (h.alg.to_string(), h.content.0.clone()));
            out.insert((
                c.name.to_string(),
                c.version.as_ref().map(ToString::to_string).unwrap_or_default(),
                c.purl.as_ref().map(ToString::to_string).unwrap_or_default(),
                hashes.collect(),
            ));
            if let Some(nested) = &c.components {
                walk(&nested.0, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    if let Some(cs) = &bom.components {
        walk(&cs.0, &mut out);
    }
    out
}

/// The `cyclonedx-bom` crate reads XML 1.3–1.5 only: the 1.2 fixtures are handed to it as 1.3 and the
/// 1.6 ones as 1.5 (what they hold is the same in those versions).
#[test]
fn cyclonedx_xml_fixtures_match_the_cyclonedx_bom_crate() {
    use cyclonedx_bom::models::bom::{Bom, SpecVersion};
    let fixtures = [
        ("cyclonedx-1.2-assembly.xml", "1.2", "1.3", SpecVersion::V1_3),
        ("cyclonedx-1.2-dependency.xml", "1.2", "1.3", SpecVersion::V1_3),
        ("cyclonedx-1.6-dependency.xml", "1.6", "1.5", SpecVersion::V1_5),
        ("cyclonedx-1.6-hashes.xml", "1.6", "1.5", SpecVersion::V1_5),
        ("cyclonedx-1.6-license-expression.xml", "1.6", "1.5", SpecVersion::V1_5),
    ];
    for (name, version, oracle_version, spec) in fixtures {
        let bytes = fixture(name);
        assert_eq!(sbom::detect(&bytes), Some(TextForm::CycloneDxXml), "{name}");
        let ours = sbom::to_json(TextForm::CycloneDxXml, &bytes, name).expect("convert");
        assert_eq!(ours["bomFormat"], "CycloneDX");
        assert_eq!(ours["specVersion"], version, "{name}");
        let xml = String::from_utf8(bytes).expect("utf-8");
        let as_oracle_version = xml.replace(
            &format!("http://cyclonedx.org/schema/bom/{version}"),
            &format!("http://cyclonedx.org/schema/bom/{oracle_version}"),
        );
        let bom = Bom::parse_from_xml_with_version(as_oracle_version.as_bytes(), spec).expect("oracle");
        assert_eq!(our_components(&ours), oracle_components(&bom), "{name}");
        let oracle_deps: BTreeSet<(String, Vec<String>)> = bom
            .dependencies
            .iter()
            .flat_map(|d| &d.0)
            .map(|d| (d.dependency_ref.clone(), d.dependencies.clone()))
            .collect();
        let our_deps: BTreeSet<(String, Vec<String>)> = ours["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| (text(&d["ref"]), d["dependsOn"].as_array().into_iter().flatten().map(text).collect()))
            .collect();
        assert_eq!(our_deps, oracle_deps, "{name}");
        let oracle_expression = bom.components.iter().flat_map(|c| &c.0).find_map(|c| c.licenses.as_ref());
        if let Some(licenses) = oracle_expression {
            assert_eq!(ours["components"][0]["licenses"].as_array().map(Vec::len), Some(licenses.0.len()), "{name}");
        }
    }
    let v = sbom::to_json(TextForm::CycloneDxXml, &fixture("cyclonedx-1.6-license-expression.xml"), "x").expect("ok");
    assert_eq!(v["components"][0]["licenses"][0]["expression"], "EPL-2.0 OR GPL-2.0 WITH Classpath-exception-2.0");
}

#[test]
fn malformed_cyclonedx_xml_fixtures_fail_where_they_break() {
    let whole = String::from_utf8(fixture("cyclonedx-1.6-hashes.xml")).expect("utf-8");
    // Cut inside the fifth `<hash`: the error is at the end of the text, on that line.
    let cut = whole.match_indices("<hash ").nth(4).map(|(i, _)| i + 3).expect("hash");
    let truncated = &whole[..cut];
    let e = sbom::to_json(TextForm::CycloneDxXml, truncated.as_bytes(), "cut.xml").expect_err("truncated");
    let line = u32::try_from(truncated.lines().count()).expect("lines");
    assert!(matches!(e.location, Location::LineColumn(l, _) if l == line), "{e}");
    // A billion-laughs DOCTYPE in front of a real BOM is refused at the DOCTYPE.
    let laughs = whole.replacen(
        "<bom ",
        "<!DOCTYPE bom [\n <!ENTITY lol \"lol\">\n <!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">\n]>\n<bom ",
        1,
    );
    let e = sbom::to_json(TextForm::CycloneDxXml, laughs.as_bytes(), "laughs.xml").expect_err("entities");
    assert_eq!(e.location, Location::LineColumn(2, 1), "{e}");
    assert!(e.reason.contains("entities"), "{e}");
}

#[test]
fn spdx_tag_value_fixture_with_text_relationships_and_a_licence() {
    let bytes = fixture("spdx-example6-bin.spdx");
    assert_eq!(sbom::detect(&bytes), Some(TextForm::SpdxTagValue));
    let v = sbom::to_json(TextForm::SpdxTagValue, &bytes, "example6-bin.spdx").expect("convert");
    let text_of = String::from_utf8(bytes.clone()).expect("utf-8");
    // Expected counts from the file itself: one package per `PackageName:` line, one relationship per
    // `Relationship:` line; the `<text>` licence text (with lines that look like tags) is no package.
    let count = |tag: &str| text_of.lines().filter(|l| l.starts_with(tag)).count();
    assert_eq!(v["packages"].as_array().map(Vec::len), Some(count("PackageName:")));
    assert_eq!(v["relationships"].as_array().map(Vec::len), Some(count("Relationship:")));
    assert_eq!(v["spdxVersion"], "SPDX-2.2");
    assert_eq!(v["documentDescribes"][0], "SPDXRef-Package-hello-go-bin");
    assert_eq!(v["externalDocumentRefs"][0]["externalDocumentId"], "DocumentRef-hello-go-src");
    let go = &v["packages"][1];
    assert_eq!((text(&go["name"]), text(&go["versionInfo"])), ("go".to_string(), "1.15.4".to_string()));
    assert_eq!(go["checksums"][0]["algorithm"], "SHA256");
    // Malformed: a line without a colon, and a `<text>` cut off, name their lines.
    let broken = text_of.replacen("FilesAnalyzed: false", "FilesAnalyzed false", 1);
    let line = text_of.lines().position(|l| l == "FilesAnalyzed: false").map(|i| i + 1).expect("line");
    let e = sbom::to_json(TextForm::SpdxTagValue, broken.as_bytes(), "x.spdx").expect_err("no colon");
    assert_eq!(e.location, Location::Line(u32::try_from(line).expect("line")), "{e}");
    let cut = &text_of[..text_of.find("</text>").expect("text")];
    let line = text_of.lines().position(|l| l.starts_with("ExtractedText: <text>")).map(|i| i + 1).expect("line");
    let e = sbom::to_json(TextForm::SpdxTagValue, cut.as_bytes(), "x.spdx").expect_err("open text");
    assert_eq!(e.location, Location::Line(u32::try_from(line).expect("line")), "{e}");
}

/// (name, version, purls, licence concluded, licence declared) of the packages of SPDX 2 JSON.
fn spdx_packages(v: &Value) -> BTreeSet<(String, String, Vec<String>, String, String)> {
    let unparen = |s: String| s.strip_prefix('(').and_then(|s| s.strip_suffix(')')).map(str::to_string).unwrap_or(s);
    v["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let purls = p["externalRefs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["referenceType"] == "purl")
                .map(|r| text(&r["referenceLocator"]))
                .collect();
            (
                text(&p["name"]),
                text(&p["versionInfo"]),
                purls,
                unparen(text(&p["licenseConcluded"])),
                unparen(text(&p["licenseDeclared"])),
            )
        })
        .collect()
}

/// `DEPENDS_ON` edges by package name.
fn depends_on(v: &Value) -> BTreeSet<(String, String)> {
    let names: std::collections::HashMap<String, String> =
        v["packages"].as_array().into_iter().flatten().map(|p| (text(&p["SPDXID"]), text(&p["name"]))).collect();
    v["relationships"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["relationshipType"] == "DEPENDS_ON")
        .map(|r| {
            let name = |id: &Value| names.get(&text(id)).cloned().unwrap_or_else(|| text(id));
            (name(&r["spdxElementId"]), name(&r["relatedSpdxElement"]))
        })
        .collect()
}

#[test]
fn spdx3_example_matches_its_spdx_2_3_edition() {
    let bytes = fixture("spdx3-example11-sbom.spdx.json");
    assert_eq!(sbom::detect(&bytes), Some(TextForm::Spdx3JsonLd));
    let ours = sbom::to_json(TextForm::Spdx3JsonLd, &bytes, "example11.spdx.json").expect("convert");
    let twin: Value = serde_json::from_slice(&fixture("spdx23-example11-sbom.spdx.json")).expect("json");
    assert_eq!(ours["spdxVersion"], "SPDX-2.3");
    assert_eq!(ours["trustloopSourceForm"], "SPDX-3.0");
    assert_eq!(spdx_packages(&ours), spdx_packages(&twin));
    assert_eq!(depends_on(&ours), depends_on(&twin));
    assert_eq!(ours["name"], twin["name"]);
    assert_eq!(ours["dataLicense"], twin["dataLicense"]);
    assert_eq!(ours["creationInfo"]["created"], twin["creationInfo"]["created"]);
    assert_eq!(ours["documentDescribes"].as_array().map(Vec::len), twin["documentDescribes"].as_array().map(Vec::len));
}

#[test]
fn spdx3_lite_example() {
    let bytes = fixture("spdx3-lite-example-1.spdx.json");
    assert_eq!(sbom::detect(&bytes), Some(TextForm::Spdx3JsonLd));
    let v = sbom::to_json(TextForm::Spdx3JsonLd, &bytes, "lite.spdx.json").expect("convert");
    let raw: Value = serde_json::from_slice(&bytes).expect("json");
    let graph = raw["@graph"].as_array().expect("graph");
    let package = graph.iter().find(|e| e["type"] == "software_Package").expect("package");
    let p = &v["packages"][0];
    assert_eq!(p["SPDXID"], package["spdxId"]);
    assert_eq!(p["name"], package["name"]);
    assert_eq!(p["versionInfo"], package["software_packageVersion"]);
    assert_eq!(p["externalRefs"][0]["referenceLocator"], package["software_packageUrl"]);
    assert_eq!(p["checksums"][0]["checksumValue"], package["verifiedUsing"][0]["hashValue"]);
    assert_eq!(p["checksums"][0]["algorithm"], "SHA3-512");
    assert_eq!(p["supplier"], "Person: Norio Kobota");
    assert_eq!((p["licenseDeclared"].clone(), p["licenseConcluded"].clone()), ("MIT".into(), "MIT".into()));
    // The document's root is the SBOM, whose root is the package.
    assert_eq!(v["documentDescribes"], serde_json::json!([package["spdxId"].clone()]));
    // Malformed: the package's name made a number is an error at its pointer.
    let i = graph.iter().position(|e| e["type"] == "software_Package").expect("package");
    let mut bad = raw.clone();
    bad["@graph"][i]["name"] = serde_json::json!(7);
    let e = sbom::to_json(TextForm::Spdx3JsonLd, bad.to_string().as_bytes(), "bad.json").expect_err("name");
    assert_eq!(e.location, Location::Pointer(format!("/@graph/{i}/name")));
}
