use trustloop_schemas::{
    AffectedPackage, Component, Envelope, EventId, EventTime, InventoryFormat, Policy, Range, RangeEvent, RangeType,
    ReleaseInventory, VexFormat, VexJustification, VexStatement, VexStatus,
};

use super::*;

fn envelope(key: &str, n: u128) -> Envelope {
    Envelope {
        event_id: EventId(uuid::Uuid::from_u128(n)),
        tenant: "acme".into(),
        key: key.into(),
        event_time: EventTime::from_micros(n as i64),
        source: "test".into(),
        schema_version: 1,
    }
}

fn advisory(n: u128, id: &str, aliases: &[&str], kev: bool) -> Event {
    Event::Advisory(Advisory {
        envelope: envelope(id, n),
        change: AdvisoryChange::Upsert,
        id: id.into(),
        modified: EventTime::from_micros(n as i64),
        published: None,
        withdrawn: None,
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
        related: vec![],
        summary: None,
        details: None,
        severity: vec![],
        affected: vec![trustloop_schemas::Affected {
            package: AffectedPackage { ecosystem: "crates.io".into(), name: "rustls".into(), purl: None },
            ranges: vec![Range {
                kind: RangeType::Semver,
                repo: None,
                events: vec![
                    RangeEvent { introduced: Some("0.19.0".into()), ..Default::default() },
                    RangeEvent { fixed: Some("0.21.11".into()), ..Default::default() },
                ],
            }],
            versions: vec![],
            ecosystem_specific: None,
            database_specific: None,
        }],
        references: vec![],
        known_exploited: kev,
        database_specific: None,
        upstream: Vec::new(),
    })
}

fn release(n: u128, version: &str) -> Event {
    Event::ReleaseInventory(ReleaseInventory {
        envelope: envelope("shop@1.0", n),
        release_name: "shop".into(),
        release_version: "1.0".into(),
        environment: Some("staging".into()),
        format: InventoryFormat::CargoLock,
        document_digest: None,
        components: vec![Component {
            purl: format!("pkg:cargo/rustls@{version}"),
            ecosystem: "crates.io".into(),
            name: "rustls".into(),
            version: version.into(),
            scope: None,
            ..Default::default()
        }],
        os: None,
        labels: Default::default(),
        left_out: Vec::new(),
    })
}

fn vex(n: u128, issuer: &str, vuln: &str, status: VexStatus) -> Event {
    Event::VexStatement(VexStatement {
        envelope: envelope(vuln, n),
        format: VexFormat::Openvex,
        document_id: format!("doc-{n}"),
        issuer: issuer.into(),
        statement_time: EventTime::from_micros(n as i64),
        vulnerability: vuln.into(),
        aliases: vec![],
        products: vec!["pkg:generic/shop@1.0".into()],
        subcomponents: vec!["pkg:cargo/rustls@0.21.10".into()],
        status,
        justification: (status == VexStatus::NotAffected).then_some(VexJustification::VulnerableCodeNotInExecutePath),
        impact_statement: None,
        action_statement: None,
    })
}

fn policy(n: u128, version: i64, issuers: &str) -> Event {
    let yaml = crate::policy::DEFAULT_YAML.replace("  issuers: {}", &format!("  issuers: {issuers}"));
    let doc = crate::policy::parse(&yaml).expect("policy");
    Event::Policy(Policy {
        envelope: envelope("default", n),
        name: doc.name.clone(),
        version,
        digest: doc.digest(),
        format: "yaml".into(),
        document: yaml,
    })
}

fn feed(state: &mut FindingsState, events: &[&Event]) -> Vec<Finding> {
    events.iter().flat_map(|e| state.apply_event(e)).collect()
}

const TRUSTED: &str = r#"{"vendor": 1.0, "triage": 1.0}"#;

#[test]
fn a_statement_about_a_cve_applies_to_the_aliasing_advisory() {
    let mut s = FindingsState::default();
    let out = feed(
        &mut s,
        &[&policy(1, 1, TRUSTED), &advisory(2, "RUSTSEC-2024-0336", &["CVE-2024-32650"], true), &release(3, "0.21.10")],
    );
    assert_eq!(out.len(), 1);
    let f = &out[0];
    assert_eq!((f.change, f.vex_status, f.known_exploited), (FindingChange::Opened, VexStatus::Affected, true));
    assert_eq!(f.fixed_versions, trustloop_schemas::texts(["0.21.11"]));

    let statement = vex(4, "vendor", "CVE-2024-32650", VexStatus::NotAffected);
    let out = s.apply_event(&statement);
    assert_eq!(out.len(), 1, "the open finding is updated");
    let u = &out[0];
    assert_eq!((u.change, u.vex_status), (FindingChange::Opened, VexStatus::NotAffected));
    assert_eq!(u.vex_justification, Some(VexJustification::VulnerableCodeNotInExecutePath));
    assert_eq!(u.vex_statement_ids, vec![statement.envelope().event_id.to_string()]);
    assert_eq!(u.cause_event_id.to_string(), statement.envelope().event_id.to_string());
    assert_eq!(u.vex_votes, vec!["vendor=not_affected"]);
    assert!(!u.vex_conflict);
    assert_ne!(u.envelope.event_id, f.envelope.event_id);
    assert!(s.apply_event(&statement).is_empty(), "the same statement again changes nothing");

    // A second issuer disagrees: a tie goes to affected, and the conflict is visible.
    let out = s.apply_event(&vex(5, "triage", "RUSTSEC-2024-0336", VexStatus::Affected));
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].vex_status, out[0].vex_conflict), (VexStatus::Affected, true));
    assert_eq!(out[0].vex_votes, vec!["triage=affected", "vendor=not_affected"]);

    // Closing keeps the view the finding had.
    let closed = s.apply_event(&release(6, "0.21.11"));
    assert_eq!(closed.len(), 1);
    assert_eq!((closed[0].change, closed[0].vex_conflict), (FindingChange::Closed, true));
    assert!(s.open_findings().is_empty());
}

#[test]
fn unlisted_issuers_need_the_policys_minimum_weight() {
    let mut s = FindingsState::default();
    feed(&mut s, &[&advisory(1, "RUSTSEC-2024-0336", &["CVE-2024-32650"], false), &release(2, "0.21.10")]);
    // The default policy: an unlisted issuer weighs 0.5 of the 1.0 needed.
    let out = s.apply_event(&vex(3, "vendor", "CVE-2024-32650", VexStatus::NotAffected));
    assert_eq!(out.len(), 1, "the vote is recorded");
    assert_eq!((out[0].vex_status, out[0].vex_votes.len()), (VexStatus::Affected, 1));
    // A policy that trusts the vendor re-evaluates the open findings.
    let out = s.apply_event(&policy(4, 1, TRUSTED));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].vex_status, VexStatus::NotAffected);
    assert_eq!(out[0].cause_event_id.to_string(), uuid::Uuid::from_u128(4).to_string());
}

#[test]
fn an_advisory_gaining_an_alias_picks_up_the_statements_about_it() {
    let mut s = FindingsState::default();
    feed(&mut s, &[&policy(1, 1, TRUSTED), &vex(2, "vendor", "GHSA-6g7w-8wpp-frhj", VexStatus::Fixed)]);
    let out = feed(&mut s, &[&advisory(3, "RUSTSEC-2024-0336", &[], false), &release(4, "0.21.10")]);
    assert_eq!(out[0].vex_status, VexStatus::Affected, "no alias yet");
    assert_eq!(out[0].vulnerability_id.as_ref(), "RUSTSEC-2024-0336", "a group of one id is named by it");
    let out = s.apply_event(&advisory(5, "RUSTSEC-2024-0336", &["GHSA-6g7w-8wpp-frhj"], false));
    // The group has no CVE and is named by its lowest id now: the finding is re-keyed.
    let changes: Vec<(FindingChange, &str)> = out.iter().map(|f| (f.change, f.vulnerability())).collect();
    assert_eq!(changes, [(FindingChange::Closed, "RUSTSEC-2024-0336"), (FindingChange::Opened, "GHSA-6g7w-8wpp-frhj")]);
    assert_eq!(out[1].vex_status, VexStatus::Fixed);
    assert_eq!(out[1].advisory_id.as_ref(), "RUSTSEC-2024-0336", "its one source");
    let out = s.apply_event(&advisory(6, "RUSTSEC-2024-0336", &[], false));
    let changes: Vec<(FindingChange, &str)> = out.iter().map(|f| (f.change, f.vulnerability())).collect();
    assert_eq!(
        changes,
        [(FindingChange::Closed, "GHSA-6g7w-8wpp-frhj"), (FindingChange::Opened, "RUSTSEC-2024-0336")],
        "dropping the alias drops the statement, and the name"
    );
    assert_eq!(out[1].vex_status, VexStatus::Affected);
}

#[test]
fn the_final_view_does_not_depend_on_the_order_of_inputs() {
    let events = [
        policy(1, 1, TRUSTED),
        advisory(2, "RUSTSEC-2024-0336", &["CVE-2024-32650"], false),
        release(3, "0.21.10"),
        vex(4, "vendor", "CVE-2024-32650", VexStatus::NotAffected),
        vex(5, "triage", "RUSTSEC-2024-0336", VexStatus::UnderInvestigation),
    ];
    let view = |order: &[usize]| {
        let mut s = FindingsState::default();
        // The policy comes first in every order (it is what the others are judged by).
        s.apply_event(&events[0]);
        for &i in order {
            s.apply_event(&events[i]);
        }
        s.open_findings()
            .into_iter()
            .map(|f| (f.advisory_id.clone(), f.purl.clone(), f.vex_status, f.vex_votes.clone(), f.vex_conflict))
            .collect::<Vec<_>>()
    };
    let expected = view(&[1, 2, 3, 4]);
    assert_eq!(expected.len(), 1);
    assert_eq!(expected[0].2, VexStatus::UnderInvestigation, "a 1–1 tie goes to the cautious status");
    for order in [[4, 3, 2, 1], [3, 1, 4, 2], [2, 4, 1, 3], [4, 2, 3, 1]] {
        assert_eq!(view(&order), expected, "order {order:?}");
    }
}

#[test]
fn advisory_facts_reach_open_findings_without_a_match_change() {
    let mut s = FindingsState::default();
    let out = feed(&mut s, &[&advisory(1, "RUSTSEC-2024-0336", &[], false), &release(2, "0.21.10")]);
    assert!(!out[0].known_exploited);
    // The same ranges, now listed as known exploited: the match is unchanged, the finding is not.
    let out = s.apply_event(&advisory(3, "RUSTSEC-2024-0336", &[], true));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].change, out[0].known_exploited), (FindingChange::Opened, true));
    assert!(s.apply_event(&advisory(4, "RUSTSEC-2024-0336", &[], true)).is_empty(), "nothing new, nothing emitted");
    assert!(s.open_findings().iter().all(|f| f.known_exploited));
}

fn kev(n: u128, cve: &str, change: trustloop_schemas::CatalogChange) -> Event {
    Event::KnownExploited(trustloop_schemas::KnownExploited {
        envelope: envelope(cve, n),
        change,
        cve: cve.into(),
        catalog: "cisa-kev".into(),
        catalog_version: "2025.08.25".into(),
        date_added: "2025-08-25".into(),
        due_date: None,
        vendor_project: None,
        product: None,
        vulnerability_name: None,
        short_description: None,
        required_action: None,
        known_ransomware_campaign_use: None,
        notes: None,
        cwes: vec![],
    })
}

fn epss(n: u128, scores: &[(&str, f64)]) -> Event {
    Event::EpssScores(trustloop_schemas::EpssScores {
        envelope: envelope("epss", n),
        model_version: Some("v2025.03.14".into()),
        score_date: "2025-08-25".into(),
        part: 0,
        parts: 1,
        scores: scores
            .iter()
            .map(|(cve, s)| trustloop_schemas::EpssScore { cve: cve.to_string(), epss: *s, percentile: *s })
            .collect(),
    })
}

#[test]
fn a_catalog_listing_re_emits_the_findings_of_its_alias_group_and_a_removal_takes_it_back() {
    use trustloop_schemas::CatalogChange::{Listed, Removed};
    let mut s = FindingsState::default();
    let out = feed(&mut s, &[&advisory(1, "RUSTSEC-2024-0336", &["CVE-2024-32650"], false), &release(2, "0.21.10")]);
    assert_eq!(out.len(), 1);
    assert!(!out[0].known_exploited);
    assert_eq!(out[0].cves, trustloop_schemas::texts(["CVE-2024-32650"]));
    assert!(out[0].exploited_ids.is_empty());

    assert!(s.apply_event(&kev(3, "CVE-2099-0001", Listed)).is_empty(), "a CVE no finding has");
    let listed = kev(4, "cve-2024-32650", Listed);
    let out = s.apply_event(&listed);
    assert_eq!(out.len(), 1, "the open finding is updated");
    let f = &out[0];
    assert_eq!((f.change, f.known_exploited), (FindingChange::Opened, true));
    assert_eq!(f.exploited_ids, trustloop_schemas::texts(["CVE-2024-32650"]));
    assert_eq!(f.cause_event_id.to_string(), listed.envelope().event_id.to_string());
    assert!(s.apply_event(&kev(5, "CVE-2024-32650", Listed)).is_empty(), "listed again: nothing changes");

    // EPSS is carried as in force at emission; a new day's scores re-emit nothing.
    assert!(s.apply_event(&epss(6, &[("CVE-2024-32650", 0.42)])).is_empty());
    let out = s.apply_event(&kev(7, "CVE-2024-32650", Removed));
    assert_eq!(out.len(), 1);
    assert!(!out[0].known_exploited && out[0].exploited_ids.is_empty());
    assert_eq!(out[0].epss, Some(0.42));

    // A new release after the listing carries it from the start.
    s.apply_event(&kev(8, "CVE-2024-32650", Listed));
    let out = s.apply_event(&release(9, "0.21.9"));
    assert!(
        out.iter()
            .any(|f| f.change == FindingChange::Opened && f.known_exploited && f.package_version.as_ref() == "0.21.9")
    );
}

#[test]
fn a_distribution_advisory_carries_the_upstream_cves_of_its_related_list() {
    use trustloop_schemas::CatalogChange::Listed;
    let mut s = FindingsState::default();
    let Event::Advisory(mut a) = advisory(1, "ALSA-2022:0267", &[], false) else { unreachable!() };
    a.related = vec!["CVE-2021-4034".into()];
    a.affected[0].package = AffectedPackage { ecosystem: "AlmaLinux:8".into(), name: "polkit".into(), purl: None };
    a.affected[0].ranges[0].kind = RangeType::Ecosystem;
    a.affected[0].ranges[0].events = vec![
        RangeEvent { introduced: Some("0".into()), ..Default::default() },
        RangeEvent { fixed: Some("0.115-13.el8_5.1".into()), ..Default::default() },
    ];
    let Event::ReleaseInventory(mut r) = release(2, "x") else { unreachable!() };
    r.components[0] = Component {
        purl: "pkg:rpm/almalinux/polkit@0.115-12.el8?distro=almalinux-8.5".into(),
        ecosystem: "AlmaLinux".into(),
        name: "polkit".into(),
        version: "0.115-12.el8".into(),
        distro_release: Some("8".into()),
        ..Default::default()
    };
    let out = feed(&mut s, &[&Event::Advisory(a), &Event::ReleaseInventory(r)]);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].cves, trustloop_schemas::texts(["CVE-2021-4034"]));
    let out = s.apply_event(&kev(3, "CVE-2021-4034", Listed));
    assert_eq!(out.len(), 1);
    assert!(out[0].known_exploited);
    assert_eq!(out[0].advisory_id.as_ref(), "ALSA-2022:0267", "the distribution's advisory stays its own finding");
}

/// `release(n, "0.21.10")` with the rustls component's scope, directness and licences set, plus a
/// second component (serde, never affected) with a licence.
fn release_with(n: u128, scope: Option<&str>, direct: Option<bool>, licenses: &[&str]) -> Event {
    let Event::ReleaseInventory(mut r) = release(n, "0.21.10") else { unreachable!("an inventory") };
    let c = &mut r.components[0];
    c.scope = scope.map(str::to_string);
    c.direct = direct;
    c.licenses = licenses.iter().map(|l| l.to_string()).collect();
    r.components.push(Component {
        purl: "pkg:cargo/serde@1.0.0".into(),
        ecosystem: "crates.io".into(),
        name: "serde".into(),
        version: "1.0.0".into(),
        licenses: vec!["MIT".into()],
        ..Default::default()
    });
    Event::ReleaseInventory(r)
}

fn with_cwes(e: Event, database_specific: &str) -> Event {
    let Event::Advisory(mut a) = e else { unreachable!("an advisory") };
    a.database_specific = Some(database_specific.to_string());
    Event::Advisory(a)
}

fn context_of(f: &Finding) -> (Option<&str>, Option<bool>, Vec<&str>, Vec<&str>) {
    (f.scope.as_deref(), f.direct, f.licenses.iter().map(|l| &**l).collect(), f.cwes.iter().map(|c| &**c).collect())
}

#[test]
fn findings_carry_their_components_scope_directness_and_licences_and_their_advisorys_cwes() {
    let mut s = FindingsState::default();
    let ghsa = with_cwes(advisory(1, "GHSA-rust-ls00-0001", &[], false), r#"{"cwe_ids": ["CWE-400", "CWE-20"]}"#);
    let out = feed(&mut s, &[&ghsa, &release_with(2, Some("dev"), Some(false), &["MIT OR Apache-2.0"])]);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(context_of(&out[0]), (Some("dev"), Some(false), vec!["MIT OR Apache-2.0"], vec!["CWE-20", "CWE-400"]));
    // The listing carries the same.
    assert_eq!(context_of(&s.open_findings()[0]), context_of(&out[0]));

    // Without any of them, a finding carries none (and no other advisory's CWEs).
    let mut plain = FindingsState::default();
    let out = feed(&mut plain, &[&advisory(1, "RUSTSEC-2024-0336", &[], false), &release(2, "0.21.10")]);
    assert_eq!(context_of(&out[0]), (None, None, vec![], vec![]));
}

#[test]
fn a_re_import_that_changes_a_components_facts_re_emits_its_open_findings() {
    let mut s = FindingsState::default();
    let first = release_with(2, Some("dev"), Some(false), &["MIT"]);
    feed(&mut s, &[&advisory(1, "RUSTSEC-2024-0336", &[], false), &first]);
    // The same inventory again: nothing changes, nothing is emitted.
    let Event::ReleaseInventory(mut again) = first.clone() else { unreachable!() };
    again.envelope.event_id = EventId(uuid::Uuid::from_u128(3));
    assert!(feed(&mut s, &[&Event::ReleaseInventory(again)]).is_empty());
    // The affected component now required, direct and GPL: one update, caused by the inventory.
    let changed = release_with(4, None, Some(true), &["GPL-3.0-only"]);
    let out = feed(&mut s, &[&changed]);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        (out[0].change, &*out[0].cause_event_id),
        (FindingChange::Opened, &*changed.envelope().event_id.to_string())
    );
    assert_eq!(context_of(&out[0]), (None, Some(true), vec!["GPL-3.0-only"], vec![]));
    // Only the unaffected component changes: no finding to update.
    let Event::ReleaseInventory(mut other) = release_with(5, None, Some(true), &["GPL-3.0-only"]) else {
        unreachable!()
    };
    other.components[1].licenses = vec!["Apache-2.0".into()];
    assert!(feed(&mut s, &[&Event::ReleaseInventory(other)]).is_empty());
}

#[test]
fn an_advisory_whose_cwes_change_re_emits_its_open_findings_and_its_delete_closes_them() {
    let mut s = FindingsState::default();
    feed(&mut s, &[&advisory(1, "GHSA-rust-ls00-0001", &[], false), &release(2, "0.21.10")]);
    let out = feed(&mut s, &[&with_cwes(advisory(3, "GHSA-rust-ls00-0001", &[], false), r#"{"cwe_ids": ["CWE-79"]}"#)]);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(context_of(&out[0]).3, vec!["CWE-79"]);
    // The same CWEs again (another upsert): no update.
    assert!(
        feed(&mut s, &[&with_cwes(advisory(4, "GHSA-rust-ls00-0001", &[], false), r#"{"cwe_ids": ["cwe-79"]}"#)])
            .is_empty()
    );
    let Event::Advisory(mut gone) = advisory(5, "GHSA-rust-ls00-0001", &[], false) else { unreachable!() };
    gone.change = AdvisoryChange::Delete;
    let out = feed(&mut s, &[&Event::Advisory(gone)]);
    assert_eq!(
        out.iter().map(|f| (f.change, context_of(f).3)).collect::<Vec<_>>(),
        // As the rest of a deleted advisory's facts (known exploited, fixed versions): gone with it.
        [(FindingChange::Closed, vec![])]
    );
}

/// An advisory about rustls `0.19.0 ≤ v < fixed`, with a CVSS vector.
fn source(n: u128, id: &str, aliases: &[&str], fixed: &str, vector: &str) -> Event {
    let Event::Advisory(mut a) = advisory(n, id, aliases, false) else { unreachable!() };
    a.affected[0].ranges[0].events[1].fixed = Some(fixed.into());
    a.severity = vec![trustloop_schemas::Severity { kind: "CVSS_V3".into(), score: vector.into() }];
    Event::Advisory(a)
}

fn withdrawn(event: &Event, n: u128) -> Event {
    let Event::Advisory(mut a) = event.clone() else { unreachable!() };
    a.envelope.event_id = EventId(uuid::Uuid::from_u128(n));
    a.withdrawn = Some(EventTime::from_micros(n as i64));
    Event::Advisory(a)
}

fn deleted(event: &Event, n: u128) -> Event {
    let Event::Advisory(mut a) = event.clone() else { unreachable!() };
    a.envelope.event_id = EventId(uuid::Uuid::from_u128(n));
    a.change = AdvisoryChange::Delete;
    Event::Advisory(a)
}

const HIGH: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
const LOW: &str = "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N";

/// What identifies an open finding and what it lists: (vulnerability, purl, advisory, sources).
fn listing(s: &FindingsState) -> Vec<(String, String, String, Vec<String>)> {
    let mut all: Vec<_> = s
        .open_findings()
        .into_iter()
        .map(|f| {
            let sources = f.sources.iter().map(|x| x.advisory_id.to_string()).collect();
            (f.vulnerability().to_string(), f.purl.to_string(), f.advisory_id.to_string(), sources)
        })
        .collect();
    all.sort();
    all
}

#[test]
fn several_sources_of_one_vulnerability_make_one_finding_listing_them_all() {
    let rustsec = source(1, "RUSTSEC-2024-0336", &["CVE-2024-32650", "GHSA-6g7w-8wpp-frhj"], "0.21.11", HIGH);
    let ghsa = source(2, "GHSA-6g7w-8wpp-frhj", &["CVE-2024-32650"], "0.21.12", LOW);
    let mut s = FindingsState::default();
    let out = feed(&mut s, &[&ghsa, &rustsec, &release(3, "0.21.10")]);
    assert_eq!(out.len(), 1, "one finding for the vulnerability: {out:#?}");
    let f = &out[0];
    assert_eq!((f.change, f.vulnerability()), (FindingChange::Opened, "CVE-2024-32650"));
    // crates.io's own database comes first by default: RustSec's facts.
    assert_eq!(f.advisory_id.as_ref(), "RUSTSEC-2024-0336");
    assert_eq!(f.severity.as_deref(), Some(HIGH));
    assert_eq!(f.fixed_versions.iter().map(|v| v.to_string()).collect::<Vec<_>>(), ["0.21.11"]);
    let sources: Vec<(&str, &str, &str)> =
        f.sources.iter().map(|x| (&*x.source, &*x.advisory_id, &*x.document_id)).collect();
    assert_eq!(
        sources,
        [("RUSTSEC", "RUSTSEC-2024-0336", "RUSTSEC-2024-0336"), ("GHSA", "GHSA-6g7w-8wpp-frhj", "GHSA-6g7w-8wpp-frhj")]
    );
    assert!(f.sources.iter().all(|x| x.digest.as_deref().is_some_and(|d| d.starts_with("sha256:"))));
    assert_eq!(f.sources[1].modified, EventTime::from_micros(2));
    let disagreements: Vec<(&str, Vec<&str>)> =
        f.disagreements.iter().map(|d| (&*d.field, d.values.iter().map(|v| &**v).collect())).collect();
    assert_eq!(
        disagreements,
        [
            (
                "severity",
                vec![format!("RUSTSEC-2024-0336={HIGH}").as_str(), format!("GHSA-6g7w-8wpp-frhj={LOW}").as_str()]
            ),
            ("fixed_versions", vec!["RUSTSEC-2024-0336=0.21.11", "GHSA-6g7w-8wpp-frhj=0.21.12"]),
        ]
    );
    assert_eq!(listing(&s).len(), 1);

    // The same inputs in another order end in the same finding.
    let mut t = FindingsState::default();
    feed(&mut t, &[&release(3, "0.21.10"), &rustsec, &ghsa]);
    assert_eq!(listing(&t), listing(&s));
    let last = t.open_findings().remove(0);
    assert_eq!((last.sources.len(), last.disagreements.len()), (2, 2));
}

#[test]
fn a_source_withdrawing_leaves_the_others_and_the_last_one_closes_it() {
    let rustsec = source(1, "RUSTSEC-2024-0336", &["CVE-2024-32650"], "0.21.11", HIGH);
    let ghsa = source(2, "GHSA-6g7w-8wpp-frhj", &["CVE-2024-32650"], "0.21.11", HIGH);
    let mut s = FindingsState::default();
    feed(&mut s, &[&rustsec, &ghsa, &release(3, "0.21.10")]);
    let out = s.apply_event(&withdrawn(&rustsec, 4));
    assert_eq!(out.len(), 1, "{out:#?}");
    let f = &out[0];
    assert_eq!(
        (f.change, f.vulnerability(), f.advisory_id.as_ref()),
        (FindingChange::Opened, "CVE-2024-32650", "GHSA-6g7w-8wpp-frhj")
    );
    assert_eq!(f.sources.len(), 1);
    let d: Vec<(&str, Vec<&str>)> =
        f.disagreements.iter().map(|d| (&*d.field, d.values.iter().map(|v| &**v).collect())).collect();
    assert_eq!(d, [("withdrawn", vec!["GHSA-6g7w-8wpp-frhj=published", "RUSTSEC-2024-0336=withdrawn"])]);
    // The other source deleted: nothing holds it any more.
    let out = s.apply_event(&deleted(&ghsa, 5));
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].change, out[0].vulnerability()), (FindingChange::Closed, "CVE-2024-32650"));
    assert_eq!(out[0].sources.iter().map(|x| &*x.advisory_id).collect::<Vec<_>>(), ["GHSA-6g7w-8wpp-frhj"]);
    assert!(s.open_findings().is_empty());
    // Republished, it opens again with its one source.
    let out = s.apply_event(&source(6, "RUSTSEC-2024-0336", &["CVE-2024-32650"], "0.21.11", HIGH));
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].change, out[0].sources.len()), (FindingChange::Opened, 1));
}

#[test]
fn a_source_whose_ranges_miss_the_version_is_a_disagreement_not_a_source() {
    let rustsec = source(1, "RUSTSEC-2024-0336", &["CVE-2024-32650"], "0.21.11", HIGH);
    let ghsa = source(2, "GHSA-6g7w-8wpp-frhj", &["CVE-2024-32650"], "0.21.10", HIGH);
    let mut s = FindingsState::default();
    let out = feed(&mut s, &[&rustsec, &ghsa, &release(3, "0.21.10")]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].sources.len(), 1);
    let d: Vec<(&str, Vec<&str>)> =
        out[0].disagreements.iter().map(|d| (&*d.field, d.values.iter().map(|v| &**v).collect())).collect();
    assert_eq!(d, [("ranges", vec!["RUSTSEC-2024-0336=affected", "GHSA-6g7w-8wpp-frhj=not affected"])]);
}

#[test]
fn a_change_of_a_source_that_holds_nothing_there_re_emits_what_the_others_list_of_it() {
    let rustsec = source(1, "RUSTSEC-2024-0336", &["CVE-2024-32650"], "0.21.11", HIGH);
    let ghsa = source(2, "GHSA-6g7w-8wpp-frhj", &["CVE-2024-32650"], "0.21.10", HIGH);
    let mut s = FindingsState::default();
    feed(&mut s, &[&rustsec, &ghsa, &release(3, "0.21.10")]);
    let fields = |f: &Finding| -> Vec<(String, Vec<String>)> {
        f.disagreements
            .iter()
            .map(|d| (d.field.to_string(), d.values.iter().map(|v| v.to_string()).collect()))
            .collect()
    };
    // GHSA, which does not affect 0.21.10, is withdrawn: no delta of its own, but the finding
    // RustSec holds lists it, and is re-emitted saying so.
    let out = s.apply_event(&withdrawn(&ghsa, 4));
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!((out[0].change, out[0].advisory_id.as_ref()), (FindingChange::Opened, "RUSTSEC-2024-0336"));
    assert_eq!(
        fields(&out[0]),
        [("withdrawn".to_string(), vec!["RUSTSEC-2024-0336=published".into(), "GHSA-6g7w-8wpp-frhj=withdrawn".into()])]
    );
    assert_eq!(fields(&out[0]), fields(&s.open_findings()[0]));
    // Deleted, it is listed no more.
    let out = s.apply_event(&deleted(&ghsa, 5));
    assert_eq!(out.len(), 1, "{out:#?}");
    assert!(out[0].disagreements.is_empty(), "{out:#?}");
    // The same advisory again, unchanged: nothing to say.
    assert_eq!(s.apply_event(&source(6, "RUSTSEC-2024-0336", &["CVE-2024-32650"], "0.21.11", HIGH)).len(), 0);
}

#[test]
fn groups_that_merge_later_re_key_their_findings() {
    let mut s = FindingsState::default();
    let rustsec = source(1, "RUSTSEC-2024-0336", &[], "0.21.11", HIGH);
    let out = feed(&mut s, &[&rustsec, &release(2, "0.21.10")]);
    assert_eq!(out[0].vulnerability(), "RUSTSEC-2024-0336");
    let ids_before = out[0].envelope.event_id;
    // A GHSA naming the RustSec id and a CVE joins the groups: the CVE names the vulnerability now.
    let ghsa = source(3, "GHSA-6g7w-8wpp-frhj", &["CVE-2024-32650", "RUSTSEC-2024-0336"], "0.21.11", HIGH);
    let out = s.apply_event(&ghsa);
    let changes: Vec<(FindingChange, &str, usize)> =
        out.iter().map(|f| (f.change, f.vulnerability(), f.sources.len())).collect();
    assert_eq!(
        changes,
        [(FindingChange::Closed, "RUSTSEC-2024-0336", 1), (FindingChange::Opened, "CVE-2024-32650", 2)],
        "{out:#?}"
    );
    assert_ne!(out[0].envelope.event_id, ids_before);
    assert_eq!(
        listing(&s),
        [(
            "CVE-2024-32650".to_string(),
            "pkg:cargo/rustls@0.21.10".to_string(),
            "RUSTSEC-2024-0336".to_string(),
            vec!["RUSTSEC-2024-0336".to_string(), "GHSA-6g7w-8wpp-frhj".to_string()]
        )]
    );
    // The GHSA deleted: the group splits, the RustSec advisory's finding is its own again.
    let out = s.apply_event(&deleted(&ghsa, 4));
    let changes: Vec<(FindingChange, &str, usize)> =
        out.iter().map(|f| (f.change, f.vulnerability(), f.sources.len())).collect();
    assert_eq!(
        changes,
        [(FindingChange::Closed, "CVE-2024-32650", 2), (FindingChange::Opened, "RUSTSEC-2024-0336", 1)],
        "{out:#?}"
    );
}

#[test]
fn the_policy_sets_whose_facts_a_finding_carries() {
    let rustsec = source(1, "RUSTSEC-2024-0336", &["CVE-2024-32650"], "0.21.11", HIGH);
    let ghsa = source(2, "GHSA-6g7w-8wpp-frhj", &["CVE-2024-32650"], "0.21.12", LOW);
    let mut s = FindingsState::default();
    feed(&mut s, &[&rustsec, &ghsa, &release(3, "0.21.10")]);
    let yaml = crate::policy::DEFAULT_YAML
        .replace("sources:\n  precedence: {}\n", "sources:\n  precedence:\n    crates.io: [GHSA]\n");
    let doc = crate::policy::parse(&yaml).expect("policy");
    let p = Event::Policy(Policy {
        envelope: envelope("default", 4),
        name: doc.name.clone(),
        version: 1,
        digest: doc.digest(),
        format: "yaml".into(),
        document: yaml,
    });
    let out = s.apply_event(&p);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!((out[0].advisory_id.as_ref(), out[0].severity.as_deref()), ("GHSA-6g7w-8wpp-frhj", Some(LOW)));
    assert_eq!(out[0].sources[0].advisory_id.as_ref(), "GHSA-6g7w-8wpp-frhj");
    assert_eq!(out[0].disagreements[0].values[0].as_ref(), format!("GHSA-6g7w-8wpp-frhj={LOW}"));
}

mod merging {
    use proptest::prelude::*;

    use super::*;

    /// An identity of an open finding and what it lists: (release version, vulnerability, purl) →
    /// (advisory carried, sources, disagreements as `field: values`).
    type Open = BTreeMap<(String, String, String), (String, Vec<String>, Vec<String>)>;

    fn replay(deltas: &[Finding], open: &mut Open) {
        for f in deltas {
            let key = (f.release_version.to_string(), f.vulnerability().to_string(), f.purl.to_string());
            match f.change {
                FindingChange::Opened => {
                    let sources = f.sources.iter().map(|s| s.advisory_id.to_string()).collect();
                    let disagreements =
                        f.disagreements.iter().map(|d| format!("{}: {}", d.field, d.values.join(" "))).collect();
                    open.insert(key, (f.advisory_id.to_string(), sources, disagreements));
                }
                FindingChange::Closed => {
                    assert!(open.remove(&key).is_some(), "closing a finding that is not open: {f:#?}");
                }
            }
        }
    }

    fn listed(s: &FindingsState) -> Open {
        let mut open = Open::new();
        replay(&s.open_findings(), &mut open);
        open
    }

    /// Release `1.<release>` with rustls and ring at `version`.
    fn release_at(n: u128, release: u8, version: &str) -> Event {
        let Event::ReleaseInventory(mut r) = super::release(n, version) else { unreachable!() };
        r.release_version = format!("1.{release}");
        let mut ring = r.components[0].clone();
        ring.name = "ring".into();
        ring.purl = format!("pkg:cargo/ring@{version}");
        r.components.push(ring);
        Event::ReleaseInventory(r)
    }

    /// An advisory about rustls, or about ring.
    fn about(n: u128, id: &str, aliases: &[&str], fixed: &str, vector: &str, ring: bool) -> Event {
        let Event::Advisory(mut a) = source(n, id, aliases, fixed, vector) else { unreachable!() };
        if ring {
            a.affected[0].package.name = "ring".into();
        }
        Event::Advisory(a)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// However sources, aliases, withdrawals, deletes and releases interleave: replaying the
        /// emitted deltas gives the open findings, one per (release, component, alias group), each
        /// listing exactly the advisories of its group that affect the component, and what they
        /// disagree on as it is now.
        #[test]
        fn deltas_replay_to_one_finding_per_vulnerability(
            script in proptest::collection::vec((0u8..7, 0u8..4, 0u8..4, 0u8..3), 1..30)
        ) {
            let ids = ["RUSTSEC-2024-0336", "GHSA-6g7w-8wpp-frhj", "PYSEC-2024-1", "OSV-2024-9"];
            let aliases = ["CVE-2024-32650", "CVE-2024-1", "GHSA-6g7w-8wpp-frhj", "RUSTSEC-2024-0336"];
            let fixed = ["0.21.11", "0.21.10", "0.21.12"];
            let versions = ["0.21.10", "0.21.9", "0.20.0", "0.22.0"];
            let mut s = FindingsState::default();
            let mut open = Open::new();
            let mut latest: BTreeMap<&str, Event> = BTreeMap::new();
            for (n, (kind, a, b, c)) in script.into_iter().enumerate() {
                let n = n as u128 + 1;
                let id = ids[a as usize];
                let e = match kind {
                    0..=2 => {
                        let al: Vec<&str> = [aliases[b as usize], aliases[(b as usize + c as usize) % 4]]
                            .into_iter().filter(|x| *x != id).take(c as usize).collect();
                        // Mostly about rustls; sometimes ring, so that a group's advisories may
                        // name different packages (and change which they name).
                        let ring = a == 3 && b % 2 == 1;
                        let e = about(n, id, &al, fixed[c as usize], if c == 0 { HIGH } else { LOW }, ring);
                        latest.insert(id, e.clone());
                        e
                    }
                    3 => match latest.get(id) { Some(e) => withdrawn(e, n), None => continue },
                    4 => match latest.remove(id) { Some(e) => deleted(&e, n), None => continue },
                    _ => release_at(n, b % 2, versions[c as usize]),
                };
                let deltas = s.apply_event(&e);
                replay(&deltas, &mut open);
                prop_assert_eq!(&open, &listed(&s), "after {:?}", e);
            }
            // One finding per (release, purl, group), listing the group's affecting advisories.
            for ((release, vulnerability, purl), (carried, sources, _)) in &open {
                let vuln = s.vuln_of(carried);
                prop_assert_eq!(&*vuln.name, vulnerability.as_str());
                let key = crate::impact::ReleaseKey {
                    name: "shop".into(), version: release.clone(), environment: Some("staging".into())
                };
                let holding: BTreeSet<&str> = vuln.members.iter()
                    .filter(|m| s.impact().open_finding(m, &key, purl).is_some()).map(String::as_str).collect();
                prop_assert_eq!(holding, sources.iter().map(String::as_str).collect::<BTreeSet<_>>());
            }
        }
    }
}
