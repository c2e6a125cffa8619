//! Every VEX document in `../shared/data/vex/` (OpenVEX from openvex/vexctl, CSAF 2.0 from
//! oasis-tcs/csaf, CycloneDX VEX from CycloneDX/bom-examples) through the VEX importers.
//!
//! The expected figures were counted independently with a Python script reading the JSON files
//! (one statement per OpenVEX statement and per CycloneDX vulnerability with an `analysis`; for CSAF,
//! per vulnerability, one per group of products sharing status, justification flag, impact threats
//! and remediations, split where relationship components differ): 51 VEX documents, 200
//! statements — affected 33, not_affected 127, fixed 24, under_investigation 16 — and 49 files that
//! are not VEX (READMEs, the LICENSE, SBOMs, SARIF scan results, and a Red Hat informational advisory
//! without vulnerabilities).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use trustloop_connectors::import::vex;
use trustloop_schemas::{VexFormat, VexJustification, VexStatement, VexStatus};

/// Per document: statements that are [affected, not_affected, fixed, under_investigation].
const EXPECTED: &[(&str, [usize; 4])] = &[
    ("csaf/bsi-2022-0001.json", [1, 0, 1, 0]),
    ("csaf/cisco-sa-20180328-smi2.json", [1, 0, 0, 0]),
    ("csaf/csaf_vex/2022-evd-uc-01-a-001.json", [1, 0, 0, 0]),
    ("csaf/csaf_vex/2022-evd-uc-01-f-001.json", [0, 0, 1, 0]),
    ("csaf/csaf_vex/2022-evd-uc-01-na-001.json", [0, 1, 0, 0]),
    ("csaf/csaf_vex/2022-evd-uc-01-ui-001.json", [0, 0, 0, 1]),
    ("csaf/csaf_vex/2022-evd-uc-02-na-001.json", [0, 19, 0, 0]),
    ("csaf/csaf_vex/2022-evd-uc-03-ms-001.json", [5, 6, 3, 5]),
    ("csaf/csaf_vex/2022-evd-uc-04-001.json", [1, 0, 0, 0]),
    ("csaf/csaf_vex/2022-evd-uc-05-001.json", [0, 0, 0, 1]),
    ("csaf/csaf_vex/2022-evd-uc-06-001.json", [1, 1, 0, 0]),
    ("csaf/csaf_vex/2022-evd-uc-07-001.json", [2, 2, 1, 0]),
    ("csaf/csaf_vex/2022-evd-uc-08-001.json", [4, 4, 2, 0]),
    ("csaf/csaf_vex/2022-evd-uc-09-001.json", [2, 2, 0, 0]),
    ("csaf/csaf_vex/sec-vex-2022-0001.json", [0, 3, 0, 0]),
    ("csaf/rhsa-2021_5186.json", [0, 2, 2, 0]),
    ("csaf/rhsa-2021_5217.json", [0, 0, 1, 0]),
    ("csaf/rhsa-2022_0011.json", [0, 0, 2, 0]),
    ("cyclonedx/CISA-Use-Cases/Case-1/vex-affected.json", [1, 0, 0, 0]),
    ("cyclonedx/CISA-Use-Cases/Case-1/vex-fixed.json", [0, 0, 1, 0]),
    ("cyclonedx/CISA-Use-Cases/Case-1/vex-not_affected.json", [0, 1, 0, 0]),
    ("cyclonedx/CISA-Use-Cases/Case-1/vex-under_investigation.json", [0, 0, 0, 1]),
    ("cyclonedx/CISA-Use-Cases/Case-2/vex.json", [0, 19, 0, 0]),
    ("cyclonedx/CISA-Use-Cases/Case-3/vex.json", [5, 6, 3, 5]),
    ("cyclonedx/CISA-Use-Cases/Case-4/vex.json", [1, 0, 0, 0]),
    ("cyclonedx/CISA-Use-Cases/Case-5/vex.json", [0, 0, 0, 1]),
    ("cyclonedx/CISA-Use-Cases/Case-6/vex.json", [1, 1, 0, 0]),
    ("cyclonedx/CISA-Use-Cases/Case-7/vex.json", [1, 2, 1, 0]),
    ("cyclonedx/CISA-Use-Cases/Case-8/vex.json", [2, 4, 2, 0]),
    ("cyclonedx/Use-Cases/Case-1/vex.json", [0, 1, 0, 0]),
    ("cyclonedx/Use-Cases/Case-10/vex.json", [0, 1, 0, 0]),
    ("cyclonedx/Use-Cases/Case-11/vex.json", [0, 19, 0, 0]),
    ("cyclonedx/Use-Cases/Case-12/vex.json", [1, 2, 0, 0]),
    ("cyclonedx/Use-Cases/Case-13/vex.json", [1, 1, 0, 0]),
    ("cyclonedx/Use-Cases/Case-2/vex.json", [1, 0, 0, 0]),
    ("cyclonedx/Use-Cases/Case-3/vex.json", [0, 0, 0, 1]),
    ("cyclonedx/Use-Cases/Case-4/vex.json", [0, 1, 0, 0]),
    ("cyclonedx/Use-Cases/Case-5/vex.json", [1, 1, 0, 0]),
    ("cyclonedx/Use-Cases/Case-6/vex.json", [0, 1, 0, 0]),
    ("cyclonedx/Use-Cases/Case-7/vex.json", [0, 1, 0, 0]),
    ("cyclonedx/Use-Cases/Case-8/vex.json", [0, 1, 0, 0]),
    ("cyclonedx/Use-Cases/Case-9/vex.json", [0, 19, 0, 0]),
    ("cyclonedx/vex.json", [0, 1, 0, 0]),
    ("openvex/csaf/csaf.json", [0, 1, 0, 0]),
    ("openvex/csaf/openvex.json", [0, 0, 1, 0]),
    ("openvex/openvex/demo.vex.json", [0, 0, 1, 0]),
    ("openvex/openvex/document1.vex.json", [0, 0, 0, 1]),
    ("openvex/openvex/document2.vex.json", [0, 0, 1, 0]),
    ("openvex/sarif/sample-1statement.openvex.json", [0, 1, 0, 0]),
    ("openvex/sarif/sample-2vulns.openvex.json", [0, 1, 1, 0]),
    ("openvex/sarif/sample-history.openvex.json", [0, 2, 0, 0]),
];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).expect("read dir").map(|e| e.expect("dir entry").path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn tally(statements: &[VexStatement]) -> [usize; 4] {
    let mut t = [0; 4];
    for s in statements {
        t[match s.status {
            VexStatus::Affected => 0,
            VexStatus::NotAffected => 1,
            VexStatus::Fixed => 2,
            VexStatus::UnderInvestigation => 3,
        }] += 1;
    }
    t
}

/// Imports the whole folder: relative path → statements, and the files that are not VEX.
fn import_all(root: &Path) -> (BTreeMap<String, Vec<VexStatement>>, Vec<String>) {
    let mut all = Vec::new();
    files(root, &mut all);
    let (mut documents, mut unsupported, mut rejected) = (BTreeMap::new(), Vec::new(), Vec::new());
    for f in &all {
        let rel = f.strip_prefix(root).expect("under root").display().to_string();
        match vex::read_file(f, "shared-data") {
            Ok(Some(statements)) => {
                documents.insert(rel, statements);
            }
            Ok(None) => unsupported.push(rel),
            Err(e) => rejected.push(e.to_string()),
        }
    }
    assert!(rejected.is_empty(), "no VEX document may be rejected:\n{}", rejected.join("\n"));
    (documents, unsupported)
}

#[test]
#[ignore = "needs ../shared/data (VEX documents): run `cargo xtask test`"]
fn shared_data_vex_documents_import_with_the_counted_statements() {
    let data = trustloop_e2e::shared_data().expect("../shared/data is missing: run `cargo xtask test`");
    let root = data.join("vex");
    let (documents, unsupported) = import_all(&root);

    let got: BTreeMap<&str, [usize; 4]> = documents.iter().map(|(p, s)| (p.as_str(), tally(s))).collect();
    let want: BTreeMap<&str, [usize; 4]> = EXPECTED.iter().copied().collect();
    assert_eq!(got, want, "statements per document: [affected, not_affected, fixed, under_investigation]");
    assert_eq!(unsupported.len(), 49, "not VEX: {unsupported:#?}");
    for name in ["csaf/rhsa-2019_1862.json", "cyclonedx/bom.json", "openvex/csaf/sbom.spdx.json"] {
        assert!(unsupported.iter().any(|u| u == name), "{name} is not a VEX document");
    }
    assert!(unsupported.iter().filter(|u| u.ends_with(".sarif.json")).count() == 3);

    let statements: Vec<&VexStatement> = documents.values().flatten().collect();
    assert_eq!(statements.len(), 200);
    let mut total = [0; 4];
    for t in got.values() {
        for (i, n) in t.iter().enumerate() {
            total[i] += n;
        }
    }
    assert_eq!(total, [33, 127, 24, 16], "[affected, not_affected, fixed, under_investigation]");
    let mut by_format = BTreeMap::new();
    for s in &statements {
        *by_format.entry(format!("{:?}", s.format)).or_insert(0) += 1;
    }
    assert_eq!(
        by_format,
        BTreeMap::from([("Csaf".to_string(), 79), ("Cyclonedx".to_string(), 112), ("Openvex".to_string(), 9)])
    );

    // Event ids are deterministic; the only shared ids are the same statement, made by the same
    // OpenVEX document id at the same index, in sample-2vulns and sample-history.
    let ids: BTreeSet<_> = statements.iter().map(|s| s.envelope.event_id).collect();
    assert_eq!(ids.len(), 199);
    let (again, _) = import_all(&root);
    for (path, first) in &documents {
        let second: Vec<_> = again[path].iter().map(|s| s.envelope.event_id).collect();
        assert_eq!(first.iter().map(|s| s.envelope.event_id).collect::<Vec<_>>(), second, "{path}");
    }
    for s in &statements {
        assert_eq!(*s.envelope.key, *s.vulnerability);
        assert_eq!(s.envelope.event_time, s.statement_time);
        assert!(!s.vulnerability.is_empty() && !s.document_id.is_empty());
    }
}

#[test]
#[ignore = "needs ../shared/data (VEX documents): run `cargo xtask test`"]
fn shared_data_vex_csaf_examples_yield_the_status_in_their_names() {
    let data = trustloop_e2e::shared_data().expect("../shared/data is missing: run `cargo xtask test`");
    let dir = data.join("vex/csaf/csaf_vex");
    let mut checked = 0;
    for (suffix, statuses) in [
        ("-a-001.json", &[VexStatus::Affected][..]),
        ("-f-001.json", &[VexStatus::Fixed][..]),
        ("-na-001.json", &[VexStatus::NotAffected][..]),
        ("-ui-001.json", &[VexStatus::UnderInvestigation][..]),
        (
            "-ms-001.json",
            &[VexStatus::NotAffected, VexStatus::Affected, VexStatus::Fixed, VexStatus::UnderInvestigation][..],
        ),
    ] {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("read dir")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(suffix)))
            .collect();
        names.sort();
        assert!(!names.is_empty(), "no *{suffix}");
        for f in names {
            let statements = vex::parse_file(&f, "shared-data").expect("a CSAF VEX example");
            assert!(statements.iter().all(|s| s.format == VexFormat::Csaf));
            let got: BTreeSet<VexStatus> = statements.iter().map(|s| s.status).collect();
            assert_eq!(got, statuses.iter().copied().collect(), "{}", f.display());
            checked += 1;
        }
    }
    assert_eq!(checked, 6, "uc-01 a/f/na/ui, uc-02 na, uc-03 ms");

    // The log4shell not-affected example carries its flag and threat.
    let sec = vex::parse_file(&dir.join("sec-vex-2022-0001.json"), "shared-data").expect("parse");
    assert_eq!(sec.len(), 3);
    for s in &sec {
        assert_eq!(s.status, VexStatus::NotAffected);
        assert_eq!(s.justification, Some(VexJustification::ComponentNotPresent));
        assert_eq!(s.impact_statement.as_deref(), Some("Secvisogram is written in JavaScript. No Java is included."));
        assert_eq!(s.issuer, "Secvisogram");
        assert_eq!(s.document_id, "SEC-VEX-2022-0001");
    }
}

#[test]
#[ignore = "needs ../shared/data (VEX documents): run `cargo xtask test`"]
fn shared_data_vex_twins_and_references_resolve() {
    let data = trustloop_e2e::shared_data().expect("../shared/data is missing: run `cargo xtask test`");
    // vexctl's CSAF example and its OpenVEX twin: the product purls come out of the product tree.
    let csaf = vex::parse_file(&data.join("vex/openvex/csaf/csaf.json"), "t").expect("parse");
    assert_eq!(csaf.len(), 1);
    assert_eq!(csaf[0].vulnerability, "CVE-2009-4487");
    assert_eq!(csaf[0].products, vec!["pkg:generic/component1@1.3.4"]);
    assert_eq!(csaf[0].impact_statement.as_deref(), Some("Class with vulnerable code was removed before shipping."));
    let twin = vex::parse_file(&data.join("vex/openvex/csaf/openvex.json"), "t").expect("parse");
    assert_eq!(twin[0].products, vec!["pkg:generic/component2@2.39.0-r1"]);
    // OpenVEX aliases (snyk matches by alias).
    let sample = vex::parse_file(&data.join("vex/openvex/sarif/sample-2vulns.openvex.json"), "t").expect("parse");
    assert_eq!(sample[1].vulnerability, "CVE-2007-5686");
    assert_eq!(sample[1].aliases, vec!["SNYK-DEBIAN12-SHADOW-1559391"]);
    // CycloneDX: a BOM-link is kept as it is, the reference id is an alias.
    let cdx = vex::parse_file(&data.join("vex/cyclonedx/vex.json"), "t").expect("parse");
    assert_eq!(
        cdx[0].products,
        vec![
            "urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.10.0?type=jar"
        ]
    );
    assert_eq!(cdx[0].aliases, vec!["SNYK-JAVA-COMFASTERXMLJACKSONCORE-1048302"]);
    assert_eq!(cdx[0].justification, Some(VexJustification::VulnerableCodeNotInExecutePath));
    // Red Hat: a relationship product is its platform, with the component as a subcomponent.
    let rhsa = vex::parse_file(&data.join("vex/csaf/rhsa-2022_0011.json"), "t").expect("parse");
    let pairs: usize = rhsa.iter().map(|s| s.products.len() * s.subcomponents.len()).sum();
    assert_eq!(pairs, 15, "the 15 fixed (platform, package) pairs, none invented");
    assert!(rhsa.iter().all(|s| s.status == VexStatus::Fixed && s.vulnerability == "CVE-2020-10188"));
}
