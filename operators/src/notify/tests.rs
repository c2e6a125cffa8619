//! The notify operator: rules parsing with locations, matching, throttles, digests and quiet hours in
//! event time (cases as data), ids and snapshots.

use std::sync::Arc;

use trustloop_schemas::{
    Envelope, Event, EventId, EventTime, Finding, FindingChange, Match as FindingMatch, Notification, NotifyRules,
    Outcome, SubjectKind, Text, TrustScore, Verdict, VexStatus, texts,
};

use super::*;
use crate::operator::snapshot_round_trip;

const MIN: i64 = 60_000_000;
const HOUR: i64 = 60 * MIN;
/// 2026-01-01T00:00:00Z.
const DAY0: i64 = 1_767_225_600_000_000;

fn envelope(tenant: &str, key: &str, n: u64, at: i64) -> Envelope {
    Envelope {
        event_id: EventId(uuid::Uuid::from_u128(u128::from(n) + 1)),
        tenant: tenant.into(),
        key: key.into(),
        event_time: EventTime::from_micros(at),
        source: "test".into(),
        schema_version: 1,
    }
}

fn verdict(n: u64, at: i64, subject: &str, outcome: Outcome) -> Event {
    Event::Verdict(Verdict {
        envelope: envelope("acme", subject, n, at),
        subject: subject.into(),
        subject_kind: SubjectKind::Release,
        outcome,
        previous: None,
        reasons: vec![],
        policy_digest: "p".into(),
        input_frontier: vec![],
        evidence_digest: "e".into(),
    })
}

fn score(n: u64, at: i64, entity: &str, score: f64, previous: f64) -> Event {
    Event::TrustScore(TrustScore {
        envelope: envelope("acme", entity, n, at),
        entity: entity.into(),
        score,
        previous: Some(previous),
        features: vec![],
        policy_digest: "p".into(),
    })
}

fn finding(n: u64, at: i64, severity: &str, kev: bool) -> Event {
    Event::Finding(Finding {
        envelope: envelope("acme", "shop@1.0", n, at),
        change: FindingChange::Opened,
        release_name: "shop".into(),
        release_version: "1.0".into(),
        environment: None,
        advisory_id: "GHSA-1".into(),
        aliases: texts::<&str>([]),
        purl: "pkg:cargo/openssl@0.10.0".into(),
        ecosystem: "crates.io".into(),
        package_name: "openssl".into(),
        package_version: "0.10.0".into(),
        vex_status: VexStatus::Affected,
        severity: Some(Text::from(severity)),
        matched: Arc::new(FindingMatch {
            range_type: "SEMVER".into(),
            event: "introduced=0".into(),
            comparator: "semver".into(),
        }),
        vex_statement_ids: vec![],
        cause_event_id: "test".into(),
        vex_justification: None,
        vex_conflict: false,
        vex_votes: vec![],
        known_exploited: kev,
        fixed_versions: texts::<&str>([]),
        distro_release: None,
        release_unknown: false,
        cves: texts::<&str>([]),
        exploited_ids: texts::<&str>([]),
        epss: None,
        epss_percentile: None,
        scope: None,
        direct: None,
        licenses: texts::<&str>([]),
        cwes: texts::<&str>([]),
        vulnerability_id: Default::default(),
        sources: Default::default(),
        disagreements: Default::default(),
    })
}

fn rules_event(n: u64, at: i64, yaml: &str, version: i64) -> Event {
    let doc = rules::parse(yaml).expect("valid rules");
    Event::NotifyRules(NotifyRules {
        envelope: envelope("acme", &doc.name, n, at),
        name: doc.name.clone(),
        version,
        digest: doc.digest(),
        format: "yaml".into(),
        document: yaml.into(),
    })
}

/// Feeds `events` (offsets in order) to `state`; the notifications out.
fn feed(state: &mut NotifyState, events: &[Event]) -> Vec<Notification> {
    let start = state.frontier.next_offset("in", 0);
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        for n in state.apply(&Input::new("in", 0, start + i as i64, e)) {
            let Event::Notification(n) = n else { panic!("only notifications") };
            out.push(n);
        }
    }
    out
}

const FAILS: &str = "api_version: trustloop/v1
name: oncall
rules:
  - id: fails
    match: {kinds: [verdict], outcomes: [fail], subjects: ['shop@*']}
    channels: [slack, mail]
    title: 'FAILED {subject}'
";

#[test]
fn a_matching_verdict_goes_to_every_channel_of_the_rule() {
    let mut s = NotifyState::new();
    let out = feed(
        &mut s,
        &[
            verdict(1, DAY0, "shop@1@prod", Outcome::Fail),
            rules_event(2, DAY0, FAILS, 1),
            verdict(3, DAY0 + 1, "shop@1@prod", Outcome::Pass),
            verdict(4, DAY0 + 2, "cart@1@prod", Outcome::Fail),
            verdict(5, DAY0 + 3, "shop@2@prod", Outcome::Fail),
        ],
    );
    // Before the rules nothing; a PASS and another service do not match.
    assert_eq!(out.len(), 2, "{out:#?}");
    assert_eq!(out.iter().map(|n| n.channel.as_str()).collect::<Vec<_>>(), ["slack", "mail"]);
    for n in &out {
        assert_eq!(n.title, "FAILED shop@2@prod");
        assert!(n.body.starts_with("verdict FAIL for shop@2@prod"), "{}", n.body);
        assert_eq!(n.event_ids, vec![EventId(uuid::Uuid::from_u128(6)).to_string()]);
        assert_eq!(n.envelope.event_time.as_micros(), DAY0 + 3);
        assert_eq!(n.notification_id, n.envelope.event_id.to_string());
        assert_eq!(n.window_start, None);
    }
    assert_ne!(out[0].notification_id, out[1].notification_id, "one id per channel");
}

#[test]
fn findings_match_on_severity_band_and_known_exploited_and_scores_on_thresholds() {
    let yaml = "api_version: trustloop/v1
name: sec
rules:
  - id: kev
    match: {kinds: [finding], severities: [high, critical], known_exploited: true}
    channels: [hook]
  - id: low-trust
    match: {kinds: [trust_score], outcomes: [dropped], score_below: 40}
    channels: [hook]
    title: '{subject} at {score}'
";
    let mut s = NotifyState::new();
    let out = feed(
        &mut s,
        &[
            rules_event(1, DAY0, yaml, 1),
            finding(2, DAY0 + 1, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", true),
            finding(3, DAY0 + 2, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", false),
            finding(4, DAY0 + 3, "low", true),
            score(5, DAY0 + 4, "host-1", 35.0, 60.0),
            score(6, DAY0 + 5, "host-1", 45.0, 60.0),
            score(7, DAY0 + 6, "host-1", 39.0, 30.0),
        ],
    );
    let got: Vec<(&str, &str)> = out.iter().map(|n| (n.rule.as_str(), n.title.as_str())).collect();
    assert_eq!(got, [("kev", "finding opened: shop@1.0"), ("low-trust", "host-1 at 35.0")]);
    assert_eq!(out[0].severity.as_deref(), Some("critical"));
}

/// A throttle, digest or quiet-hours case: rules, (minutes after DAY0, subject) verdicts (FAIL),
/// expected notifications as (rule, minutes after DAY0 of their event time, covered event count,
/// suppressed).
struct Case {
    name: &'static str,
    rule: &'static str,
    fails: &'static [(i64, &'static str)],
    expect: &'static [(i64, usize, i64)],
}

const CASES: &[Case] = &[
    Case {
        name: "throttle: 2 per subject per hour, the rest counted into the next",
        rule: "throttle: {max: 2, per: 1h}",
        fails: &[(0, "a@1"), (1, "a@1"), (2, "a@1"), (3, "b@1"), (4, "a@1"), (61, "a@1"), (62, "a@1"), (63, "a@1")],
        expect: &[(0, 1, 0), (1, 1, 0), (3, 1, 0), (61, 1, 2), (62, 1, 0)],
    },
    Case {
        name: "throttle by rule: one budget for every subject",
        rule: "throttle: {max: 1, per: 10m, key: rule}",
        fails: &[(0, "a@1"), (1, "b@1"), (9, "c@1"), (10, "d@1")],
        expect: &[(0, 1, 0), (10, 1, 2)],
    },
    Case {
        name: "digest: one message per window once event time passes its end",
        rule: "digest: 30m",
        fails: &[(1, "a@1"), (5, "b@1"), (29, "c@1"), (30, "d@1"), (95, "e@1")],
        // The first window closes at the input at minute 30; the second (30..60) at minute 95.
        expect: &[(30, 3, 0), (60, 1, 0)],
    },
    Case {
        name: "digest with a throttle: the suppressed are counted in the digest",
        rule: "digest: 1h\n    throttle: {max: 1, per: 1h, key: rule}",
        fails: &[(1, "a@1"), (2, "b@1"), (3, "c@1"), (61, "d@1"), (130, "e@1")],
        expect: &[(60, 1, 0), (120, 1, 2)],
    },
    Case {
        name: "quiet hours 22:00-07:00 UTC+01:00: held until 06:00 UTC, then one message",
        rule: "quiet_hours: {from: '22:00', to: '07:00', utc_offset: '+01:00'}",
        // 20:30 UTC is 21:30 local (sent); 21:10 and 23:00 UTC are quiet; 06:00 UTC ends it.
        fails: &[(20 * 60 + 30, "a@1"), (21 * 60 + 10, "b@1"), (23 * 60, "c@1"), (30 * 60, "d@1")],
        expect: &[(20 * 60 + 30, 1, 0), (30 * 60, 2, 0), (30 * 60, 1, 0)],
    },
    Case {
        name: "a digest closing in quiet hours waits for their end",
        rule: "digest: 1h\n    quiet_hours: {from: '01:00', to: '03:00'}",
        fails: &[(30, "a@1"), (70, "b@1"), (200, "c@1")],
        // Window 0-60 closes at 60 (01:00, quiet): held until 03:00 with window 60-120's match.
        expect: &[(180, 2, 0)],
    },
];

#[test]
fn throttles_digests_and_quiet_hours_follow_event_time() {
    for case in CASES {
        let yaml = format!(
            "api_version: trustloop/v1\nname: n\nrules:\n  - id: r\n    match: {{outcomes: [fail]}}\n    channels: [c]\n    {}\n",
            case.rule
        );
        let mut events = vec![rules_event(0, DAY0, &yaml, 1)];
        for (i, (min, subject)) in case.fails.iter().enumerate() {
            events.push(verdict(i as u64 + 1, DAY0 + min * MIN, subject, Outcome::Fail));
        }
        let out = feed(&mut NotifyState::new(), &events);
        let got: Vec<(i64, usize, i64)> = out
            .iter()
            .map(|n| ((n.envelope.event_time.as_micros() - DAY0) / MIN, n.event_ids.len(), n.suppressed))
            .collect();
        assert_eq!(got, case.expect, "{}: {out:#?}", case.name);
    }
}

#[test]
fn quiet_hours_let_listed_severities_through() {
    let yaml = "api_version: trustloop/v1
name: n
quiet_hours: {from: '00:00', to: '06:00', except_severities: [critical]}
rules:
  - id: r
    match: {kinds: [finding]}
    channels: [c]
";
    let out = feed(
        &mut NotifyState::new(),
        &[
            rules_event(0, DAY0, yaml, 1),
            finding(1, DAY0 + HOUR, "critical", false),
            finding(2, DAY0 + HOUR, "low", false),
            finding(3, DAY0 + 7 * HOUR, "low", false),
        ],
    );
    let got: Vec<(i64, usize)> =
        out.iter().map(|n| ((n.envelope.event_time.as_micros() - DAY0) / HOUR, n.event_ids.len())).collect();
    assert_eq!(got, [(1, 1), (6, 1), (7, 1)]);
    assert!(out[1].window_end.is_some() && out[1].title.contains("quiet"), "{:?}", out[1]);
}

#[test]
fn digest_bodies_list_what_happened() {
    let yaml = "api_version: trustloop/v1\nname: n\nrules:\n  - id: r\n    channels: [c]\n    digest: 1h\n";
    let out = feed(
        &mut NotifyState::new(),
        &[
            rules_event(0, DAY0, yaml, 1),
            verdict(1, DAY0 + MIN, "a@1@prod", Outcome::Fail),
            verdict(2, DAY0 + 2 * MIN, "b@1@prod", Outcome::Warn),
            verdict(3, DAY0 + 2 * HOUR, "c@1@prod", Outcome::Pass),
        ],
    );
    assert_eq!(out.len(), 1);
    let n = &out[0];
    assert_eq!(n.body, "- verdict fail: a@1@prod\n- verdict warn: b@1@prod\n");
    assert_eq!(n.window_start, Some(EventTime::from_micros(DAY0)));
    assert_eq!(n.window_end, Some(EventTime::from_micros(DAY0 + HOUR)));
    assert_eq!(n.event_kinds, ["verdict", "verdict"]);
}

#[test]
fn rules_are_versioned_and_bad_ones_rejected() {
    let mut s = NotifyState::new();
    let v2 = FAILS.replace("FAILED", "BROKEN");
    let mut bad = rules_event(3, DAY0, FAILS, 5);
    if let Event::NotifyRules(r) = &mut bad {
        r.digest = "0000".into();
    }
    let out = feed(
        &mut s,
        &[
            rules_event(1, DAY0, FAILS, 2),
            rules_event(2, DAY0, &v2, 1),
            bad,
            verdict(4, DAY0, "shop@1@prod", Outcome::Fail),
        ],
    );
    assert_eq!(out[0].title, "FAILED shop@1@prod", "version 1 after 2 is refused");
    let t = s.tenant("acme").expect("tenant");
    assert_eq!(t.rejected_count, 2);
    assert!(t.rejected[0].reason.contains("not newer"), "{:?}", t.rejected);
    assert!(t.rejected[1].reason.contains("digest"), "{:?}", t.rejected);
}

#[test]
fn bad_rules_files_are_answered_with_line_and_column() {
    let cases: &[(&str, &str)] = &[
        (
            "api_version: trustloop/v1\nname: n\nrules:\n  - id: r\n    channels: [c]\n    throttle: {max: 0, per: 1h}\n",
            "6:16: rules[0].throttle.max: must be at least 1",
        ),
        (
            "api_version: trustloop/v1\nname: n\nrules:\n  - id: r\n    match: {outcomes: [exploded]}\n    channels: [c]\n",
            "5:24: rules[0].match.outcomes[0]: `exploded` is no outcome",
        ),
        (
            "api_version: trustloop/v1\nname: n\nrules:\n  - id: r\n    channels: [c]\n    title: 'x {nope}'\n",
            "6:5: rules[0].title: unknown placeholder `{nope}`",
        ),
        (
            "api_version: trustloop/v1\nname: n\nrules:\n  - id: r\n    chanels: [c]\n",
            "5:5: rules[0].chanels: unknown field `chanels`",
        ),
        (
            "api_version: trustloop/v1\nname: n\nquiet_hours: {from: '25:00', to: '07:00'}\n",
            "3:14: quiet_hours.from: `25:00` is not a time of day",
        ),
        (
            "api_version: trustloop/v1\nname: n\nrules:\n  - id: r\n    channels: [c]\n  - id: r\n    channels: [c]\n",
            "6:5: rules[1].id: rule `r` is defined twice",
        ),
    ];
    for (yaml, want) in cases {
        let e = rules::parse(yaml).expect_err(want);
        assert!(e.to_string().starts_with(want), "{yaml}\n got: {e}\nwant: {want}");
    }
}

#[test]
fn the_digest_ignores_formatting_and_defaults() {
    let a = rules::parse(FAILS).expect("valid");
    let b = rules::parse(
        "# comment\nname: oncall\napi_version: trustloop/v1\nrules:\n- id: fails\n  channels: [slack, mail]\n  title: 'FAILED {subject}'\n  match:\n    subjects: ['shop@*']\n    outcomes: [fail]\n    kinds: [verdict]\n    tenants: []\n",
    )
    .expect("valid");
    assert_eq!(a.digest(), b.digest());
    assert_ne!(a.digest(), rules::parse(&FAILS.replace("mail", "pager")).expect("valid").digest());
}

#[test]
fn quiet_hours_wrap_midnight_at_an_offset() {
    let q: rules::QuietHours =
        serde_yaml_ng::from_str("{from: '22:00', to: '07:00', utc_offset: '-05:00'}").expect("parses");
    // 02:00 UTC is 21:00 at -05:00: not quiet; 03:00 UTC is 22:00: quiet until 12:00 UTC.
    assert_eq!(q.end_of_quiet(DAY0 + 2 * HOUR), None);
    assert_eq!(q.end_of_quiet(DAY0 + 3 * HOUR), Some(DAY0 + 12 * HOUR));
    assert_eq!(q.end_of_quiet(DAY0 + 11 * HOUR), Some(DAY0 + 12 * HOUR));
    assert_eq!(q.end_of_quiet(DAY0 + 12 * HOUR), None);
}

#[test]
fn outputs_are_the_same_across_a_snapshot_at_any_point() {
    let yaml = "api_version: trustloop/v1
name: n
quiet_hours: {from: '22:00', to: '06:00'}
rules:
  - id: d
    channels: [c]
    digest: 20m
  - id: t
    match: {outcomes: [fail]}
    channels: [c, e]
    throttle: {max: 2, per: 15m}
";
    let mut events = vec![rules_event(0, DAY0, yaml, 1)];
    for i in 0..120u64 {
        let outcome = [Outcome::Fail, Outcome::Warn, Outcome::Pass][i as usize % 3];
        events.push(verdict(i + 1, DAY0 + 18 * HOUR + i as i64 * 7 * MIN, &format!("s{}@1", i % 4), outcome));
    }
    let straight = feed(&mut NotifyState::new(), &events);
    assert!(straight.len() > 40, "{}", straight.len());
    for cut in [1, 17, 60, 119] {
        let mut first = NotifyState::new();
        let mut out = feed(&mut first, &events[..cut]);
        let mut restored = snapshot_round_trip(&first, NotifyState::new());
        // Re-feeding what the snapshot covers changes nothing.
        let start = 0;
        for (i, e) in events[..cut].iter().enumerate() {
            assert!(restored.apply(&Input::new("in", 0, start + i as i64, e)).is_empty());
        }
        out.extend(feed(&mut restored, &events[cut..]));
        assert_eq!(out, straight, "cut at {cut}");
    }
}

/// The example rules shipped as a fixture (and fuzz seed) are valid.
#[test]
fn the_example_rules_file_is_valid() {
    let doc = rules::check(include_str!("../../tests/fixtures/notify/oncall.yaml")).expect("valid example rules");
    assert_eq!((doc.name.as_str(), doc.rules.len()), ("oncall", 3));
}
