use trustloop_schemas::{Envelope, EventId, VexFormat};

use super::*;

struct S<'a> {
    n: u128,
    issuer: &'a str,
    time: i64,
    vuln: &'a str,
    aliases: &'a [&'a str],
    products: &'a [&'a str],
    subcomponents: &'a [&'a str],
    status: VexStatus,
}

fn statement(s: S<'_>) -> VexStatement {
    VexStatement {
        envelope: Envelope {
            event_id: EventId(uuid::Uuid::from_u128(s.n)),
            tenant: "acme".into(),
            key: s.vuln.into(),
            event_time: EventTime::from_micros(s.time),
            source: "test".into(),
            schema_version: 1,
        },
        format: VexFormat::Openvex,
        document_id: format!("doc-{}", s.n),
        issuer: s.issuer.into(),
        statement_time: EventTime::from_micros(s.time),
        vulnerability: s.vuln.into(),
        aliases: s.aliases.iter().map(|a| a.to_string()).collect(),
        products: s.products.iter().map(|a| a.to_string()).collect(),
        subcomponents: s.subcomponents.iter().map(|a| a.to_string()).collect(),
        status: s.status,
        justification: (s.status == VexStatus::NotAffected).then_some(VexJustification::VulnerableCodeNotPresent),
        impact_statement: None,
        action_statement: None,
    }
}

fn base<'a>(n: u128, issuer: &'a str, time: i64, status: VexStatus) -> S<'a> {
    S {
        n,
        issuer,
        time,
        vuln: "CVE-2024-0001",
        aliases: &[],
        products: &["pkg:oci/shop@1.0"],
        subcomponents: &[],
        status,
    }
}

fn purl(s: &str) -> Purl {
    s.parse().expect("purl")
}

fn ask(idx: &VexIndex, id: &str, component: &str, trust: &IssuerTrust) -> Option<Consensus> {
    let c = purl(component);
    let subject = Subject { release_name: "shop", release_version: "1.0", component: Some(&c) };
    idx.consensus(&idx.aliases().group(id), &subject, trust)
}

#[test]
fn product_and_subcomponent_matching() {
    let mut idx = VexIndex::default();
    idx.insert(&statement(S {
        subcomponents: &["pkg:npm/lodash@4.17.20"],
        ..base(1, "vendor", 1, VexStatus::NotAffected)
    }));
    let trust = IssuerTrust::default();
    let hit = ask(&idx, "CVE-2024-0001", "pkg:npm/lodash@4.17.20", &trust).expect("applies");
    assert_eq!(hit.status, VexStatus::NotAffected);
    assert_eq!(hit.justification, Some(VexJustification::VulnerableCodeNotPresent));
    assert!(!hit.conflict);
    assert!(ask(&idx, "CVE-2024-0001", "pkg:npm/lodash@4.17.21", &trust).is_none(), "other subcomponent");
    assert!(ask(&idx, "CVE-2024-0002", "pkg:npm/lodash@4.17.20", &trust).is_none(), "other vulnerability");
    let c = purl("pkg:npm/lodash@4.17.20");
    let other_release = Subject { release_name: "shop", release_version: "2.0", component: Some(&c) };
    assert!(idx.consensus(&idx.aliases().group("CVE-2024-0001"), &other_release, &trust).is_none());

    // A maintainer's statement about its own package applies in every release containing it.
    idx.insert(&statement(S {
        vuln: "CVE-2024-0009",
        products: &["pkg:npm/left-pad"],
        ..base(2, "left-pad maintainers", 1, VexStatus::Fixed)
    }));
    assert_eq!(ask(&idx, "CVE-2024-0009", "pkg:npm/left-pad@1.3.0", &trust).map(|c| c.status), Some(VexStatus::Fixed));

    // Plain ids name releases as NAME@VERSION or NAME.
    for id in ["shop@1.0", "shop:1.0", "shop"] {
        assert!(ProductRef::parse(id).designates_release("shop", "1.0"), "{id}");
    }
    assert!(!ProductRef::parse("shop@2.0").designates_release("shop", "1.0"));
    assert!(!ProductRef::parse("shopping").designates_release("shop", "1.0"));
    assert!(ProductRef::parse("pkg:oci/nginx@sha256%3Aabc").designates_release("nginx", "sha256:abc"));
}

#[test]
fn aliases_carry_statements_across_ids() {
    let mut idx = VexIndex::default();
    idx.insert(&statement(S { aliases: &["GHSA-aaaa-bbbb-cccc"], ..base(1, "vendor", 1, VexStatus::NotAffected) }));
    idx.aliases_mut().add("RUSTSEC-2024-0001", &["ghsa-aaaa-bbbb-cccc".to_string()]);
    let trust = IssuerTrust::default();
    let c = ask(&idx, "RUSTSEC-2024-0001", "pkg:cargo/x@1.0.0", &trust).expect("applies through the alias chain");
    assert_eq!(c.status, VexStatus::NotAffected);
    idx.aliases_mut().remove("RUSTSEC-2024-0001", &["ghsa-aaaa-bbbb-cccc".to_string()]);
    assert!(ask(&idx, "RUSTSEC-2024-0001", "pkg:cargo/x@1.0.0", &trust).is_none(), "the alias was taken back");
}

#[test]
fn latest_statement_of_an_issuer_supersedes() {
    let mut idx = VexIndex::default();
    idx.insert(&statement(base(2, "vendor", 20, VexStatus::NotAffected)));
    // Arrives later but was made earlier: does not supersede.
    idx.insert(&statement(base(1, "vendor", 10, VexStatus::UnderInvestigation)));
    let trust = IssuerTrust::default();
    let c = ask(&idx, "CVE-2024-0001", "pkg:npm/a@1", &trust).expect("applies");
    assert_eq!(c.status, VexStatus::NotAffected);
    assert_eq!(c.votes.len(), 1);
    idx.insert(&statement(base(3, "vendor", 30, VexStatus::Affected)));
    assert_eq!(ask(&idx, "CVE-2024-0001", "pkg:npm/a@1", &trust).map(|c| c.status), Some(VexStatus::Affected));
    // Re-sending a statement (same event id) replaces it rather than adding a vote.
    idx.insert(&statement(base(3, "vendor", 30, VexStatus::Affected)));
    assert_eq!(idx.len(), 3);
}

#[test]
fn weighted_vote_conflicts_and_ties() {
    let mut idx = VexIndex::default();
    idx.insert(&statement(base(1, "vendor", 1, VexStatus::NotAffected)));
    idx.insert(&statement(base(2, "scanner-team", 1, VexStatus::Affected)));
    let even = IssuerTrust::default();
    let c = ask(&idx, "CVE-2024-0001", "pkg:npm/a@1", &even).expect("applies");
    assert_eq!(c.status, VexStatus::Affected, "a tie goes to the cautious status");
    assert!(c.conflict);
    assert_eq!(c.vote_strings(), vec!["scanner-team=affected", "vendor=not_affected"]);
    assert_eq!(c.justification, None, "the winning status has no justification");

    let vendor_first =
        IssuerTrust { weights: BTreeMap::from([("vendor".to_string(), 3.0)]), default_weight: 1.0, min_weight: 0.0 };
    let c = ask(&idx, "CVE-2024-0001", "pkg:npm/a@1", &vendor_first).expect("applies");
    assert_eq!(c.status, VexStatus::NotAffected);
    assert!(c.conflict, "still a conflict, still visible");
    assert_eq!(c.justification, Some(VexJustification::VulnerableCodeNotPresent));

    let ignore_vendor =
        IssuerTrust { weights: BTreeMap::from([("vendor".to_string(), 0.0)]), default_weight: 1.0, min_weight: 0.0 };
    let c = ask(&idx, "CVE-2024-0001", "pkg:npm/a@1", &ignore_vendor).expect("applies");
    assert_eq!((c.status, c.conflict, c.votes.len()), (VexStatus::Affected, false, 1));

    let nobody = IssuerTrust { weights: BTreeMap::new(), default_weight: 0.0, min_weight: 0.0 };
    assert!(ask(&idx, "CVE-2024-0001", "pkg:npm/a@1", &nobody).is_none());
}

#[test]
fn insertion_order_of_independent_statements_does_not_matter() {
    let a = statement(base(1, "vendor", 5, VexStatus::NotAffected));
    let b = statement(base(2, "upstream", 7, VexStatus::Fixed));
    let c = statement(S { aliases: &["GHSA-x"], ..base(3, "team", 9, VexStatus::Affected) });
    let trust =
        IssuerTrust { weights: BTreeMap::from([("team".to_string(), 0.5)]), default_weight: 1.0, min_weight: 0.0 };
    let mut results = Vec::new();
    for order in [[&a, &b, &c], [&c, &b, &a], [&b, &a, &c]] {
        let mut idx = VexIndex::default();
        for s in order {
            idx.insert(s);
        }
        results.push(ask(&idx, "GHSA-x", "pkg:npm/a@1", &trust));
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:?}");
    let c = results[0].clone().expect("applies");
    assert_eq!(c.status, VexStatus::Fixed, "not_affected 1 vs fixed 1 vs affected 0.5: the cautious of the heaviest");
    assert!(c.conflict);
}

#[test]
fn a_status_needs_the_minimum_weight() {
    let mut idx = VexIndex::default();
    idx.insert(&statement(base(1, "unlisted", 1, VexStatus::NotAffected)));
    let policy_default = IssuerTrust { weights: BTreeMap::new(), default_weight: 0.5, min_weight: 1.0 };
    let c = ask(&idx, "CVE-2024-0001", "pkg:npm/a@1", &policy_default).expect("a vote");
    assert_eq!(
        (c.status, c.accepted, c.justification),
        (VexStatus::Affected, false, None),
        "one unlisted issuer is not enough"
    );
    assert_eq!(c.vote_strings(), vec!["unlisted=not_affected"], "the vote is still reported");
    idx.insert(&statement(base(2, "another", 1, VexStatus::NotAffected)));
    let c = ask(&idx, "CVE-2024-0001", "pkg:npm/a@1", &policy_default).expect("votes");
    assert_eq!((c.status, c.accepted), (VexStatus::NotAffected, true), "two agreeing unlisted issuers are");
}
