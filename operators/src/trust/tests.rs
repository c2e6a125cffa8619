use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use trustloop_schemas::{EventCodec, EventId, FindingChange, Match, Text, VexStatus, texts};

use super::*;

const T0: i64 = 1_793_534_400_000_000; // 2026-11-01T12:00:00Z
const MIN: i64 = 60_000_000;
const H: i64 = 60 * MIN;

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

fn telemetry(n: u64, entity: &str, kind: &str, value: f64, at: i64, release: Option<&str>) -> Event {
    telemetry_of("acme", n, entity, kind, value, at, release)
}

fn telemetry_of(tenant: &str, n: u64, entity: &str, kind: &str, value: f64, at: i64, release: Option<&str>) -> Event {
    Event::Telemetry(Telemetry {
        envelope: envelope(tenant, entity, n, at),
        entity: entity.into(),
        kind: kind.into(),
        value,
        attributes: release.map(|r| BTreeMap::from([("release".to_string(), r.to_string())])).unwrap_or_default(),
        unit: None,
    })
}

#[allow(clippy::too_many_arguments)]
fn finding(
    n: u64,
    release: &str,
    advisory: &str,
    env: Option<&str>,
    change: FindingChange,
    status: VexStatus,
    severity: Option<&str>,
) -> Event {
    let (name, version) = release.split_once('@').expect("NAME@VERSION");
    Event::Finding(Finding {
        envelope: envelope("acme", release, n, T0),
        change,
        release_name: name.into(),
        release_version: version.into(),
        environment: env.map(Text::from),
        advisory_id: advisory.into(),
        aliases: texts::<&str>([]),
        purl: "pkg:cargo/openssl@0.10.0".into(),
        ecosystem: "crates.io".into(),
        package_name: "openssl".into(),
        package_version: "0.10.0".into(),
        vex_status: status,
        severity: severity.map(Text::from),
        matched: Arc::new(Match {
            range_type: "SEMVER".into(),
            event: "introduced=0".into(),
            comparator: "semver".into(),
        }),
        vex_statement_ids: vec![],
        cause_event_id: "x".into(),
        vex_justification: None,
        vex_conflict: false,
        vex_votes: vec![],
        known_exploited: false,
        fixed_versions: texts::<&str>([]),
        distro_release: None,
        release_unknown: false,
        cves: texts::<&str>([]),
        exploited_ids: texts::<&str>([]),
        epss: None,
        epss_percentile: None,
        scope: None,
        direct: None,
        licenses: Default::default(),
        cwes: Default::default(),
        vulnerability_id: Default::default(),
        sources: Default::default(),
        disagreements: Default::default(),
    })
}

fn policy_event(tenant: &str, n: u64, version: i64, yaml: &str) -> Event {
    let doc = crate::policy::parse(yaml).expect("test policy");
    Event::Policy(Policy {
        envelope: envelope(tenant, &doc.name, n, T0),
        name: doc.name.clone(),
        version,
        digest: doc.digest(),
        format: "yaml".into(),
        document: yaml.into(),
    })
}

/// A policy with one telemetry feature (10 points per auth failure, half-life 1 h), 5 points per
/// missed heartbeat (5 min), findings 20/5/1 per critical/high/medium capped at 50, step 5.
const TEST_POLICY: &str = r#"
api_version: trustloop/v1
name: test
trust:
  step: 5
  features:
    auth_failures: {kinds: [auth_failure], weight: 10, half_life: 1h}
  heartbeat: {kind: heartbeat, interval: 5m, weight: 5, half_life: 1h, max: 100}
  findings:
    weights: {critical: 20, high: 5, medium: 1, low: 0, none: 0}
    max: 50
"#;

fn with_test_policy() -> TrustState {
    let mut s = TrustState::new();
    assert!(s.apply(&policy_event("acme", 1000, 1, TEST_POLICY)).is_empty(), "no entity yet");
    s
}

fn one(out: Vec<TrustScore>) -> TrustScore {
    assert_eq!(out.len(), 1, "{out:#?}");
    out.into_iter().next().expect("one")
}

fn feature<'a>(s: &'a TrustScore, name: &str) -> &'a Feature {
    s.features.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("feature {name} in {:?}", s.features))
}

#[test]
fn first_sample_emits_under_the_default_policy() {
    let mut s = TrustState::new();
    let out = one(s.apply(&telemetry(1, "host-1", "heartbeat", 1.0, T0, None)));
    assert_eq!(out.score, 100.0);
    assert_eq!(out.previous, None);
    assert_eq!(out.entity, "host-1");
    assert_eq!(&*out.envelope.key, "host-1");
    assert_eq!(&*out.envelope.tenant, "acme");
    assert_eq!(out.envelope.event_time.as_micros(), T0);
    assert_eq!(&*out.envelope.source, SOURCE);
    assert_eq!(out.policy_digest, crate::policy::default_policy().digest());
    let names: Vec<&str> = out.features.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "auth_failures",
            "config_drift",
            "ids_alerts",
            "integrity",
            "missed_heartbeats",
            "findings.critical",
            "findings.high",
            "findings.medium",
            "findings.low",
            "findings.none"
        ]
    );
    // The id derives from the causing event: the same input gives the same id, another input another.
    let again = one(TrustState::new().apply(&telemetry(1, "host-1", "heartbeat", 1.0, T0, None)));
    assert_eq!(again.envelope.event_id, out.envelope.event_id);
    let other = one(TrustState::new().apply(&telemetry(2, "host-1", "heartbeat", 1.0, T0, None)));
    assert_ne!(other.envelope.event_id, out.envelope.event_id);
}

#[test]
fn decay_matches_hand_computed_values_and_step_gates_emission() {
    let mut s = with_test_policy();
    // 2 failures at T0: 2 × 10 = 20 points.
    let a = one(s.apply(&telemetry(1, "h", "auth_failure", 2.0, T0, None)));
    assert_eq!(a.score, 80.0);
    let f = feature(&a, "auth_failures");
    assert_eq!((f.value, f.weight, f.contribution), (2.0, 10.0, 20.0));
    // One half-life later (an unrelated kind still counts as activity): 1 × 10.
    let b = one(s.apply(&telemetry(2, "h", "cpu_load", 0.3, T0 + H, None)));
    assert_eq!(b.score, 90.0);
    assert_eq!(b.previous, Some(80.0));
    assert_eq!(feature(&b, "auth_failures").value, 1.0);
    // Two half-lives: 0.5 × 10 = 5 → 95, a move of exactly one step: emitted.
    let c = one(s.apply(&telemetry(3, "h", "cpu_load", 0.3, T0 + 2 * H, None)));
    assert_eq!(c.score, 95.0);
    // A minute later: 95.06 — less than a step since the last emitted score: nothing.
    assert!(s.apply(&telemetry(4, "h", "cpu_load", 0.3, T0 + 2 * H + MIN, None)).is_empty());
    // Three half-lives: 97.5, only 2.5 from the last *emitted* 95: nothing; four: 98.75 → 3.75: nothing.
    assert!(s.apply(&telemetry(5, "h", "cpu_load", 0.3, T0 + 3 * H, None)).is_empty());
    assert!(s.apply(&telemetry(6, "h", "cpu_load", 0.3, T0 + 4 * H, None)).is_empty());
    // A new failure at 4 h: 0.125 + 1 = 1.125 → 88.75, 6.25 below 95: emitted.
    let d = one(s.apply(&telemetry(7, "h", "auth_failure", 1.0, T0 + 4 * H, None)));
    assert_eq!(d.score, 88.75);
    assert_eq!(d.previous, Some(95.0));
}

#[test]
fn late_samples_count_decayed_relative_to_the_entity_clock() {
    let mut s = with_test_policy();
    one(s.apply(&telemetry(1, "h", "cpu_load", 0.0, T0 + 2 * H, None)));
    // A failure from 1 h before the entity's clock: 4 × ½ = 2 → 20 points; scored at the clock.
    let late = one(s.apply(&telemetry(2, "h", "auth_failure", 4.0, T0 + H, None)));
    assert_eq!(late.score, 80.0);
    assert_eq!(late.envelope.event_time.as_micros(), T0 + 2 * H);
    // In-order arrival gives the same.
    let mut t = with_test_policy();
    t.apply(&telemetry(2, "h", "auth_failure", 4.0, T0 + H, None));
    let in_order = one(t.apply(&telemetry(1, "h", "cpu_load", 0.0, T0 + 2 * H, None)));
    assert_eq!(in_order.score, 80.0);
}

#[test]
fn invalid_sample_values_only_advance_the_clock() {
    let mut s = with_test_policy();
    one(s.apply(&telemetry(1, "h", "auth_failure", f64::NAN, T0, None)));
    for (n, v) in [(2, f64::INFINITY), (3, -5.0)] {
        assert!(s.apply(&telemetry(n, "h", "auth_failure", v, T0 + 1, None)).is_empty());
    }
    let e = &s.tenant("acme").expect("tenant").entities["h"];
    assert_eq!(e.features[0].value, 0.0);
    assert_eq!(e.clock, T0 + 1);
}

#[test]
fn missed_heartbeats_are_counted_at_each_event() {
    let mut s = with_test_policy();
    one(s.apply(&telemetry(1, "h", "heartbeat", 1.0, T0, None)));
    // 4 minutes: none missed.
    assert!(s.apply(&telemetry(2, "h", "cpu_load", 0.1, T0 + 4 * MIN, None)).is_empty());
    // 21 minutes without a heartbeat: 4 missed × 5 = 20.
    let a = one(s.apply(&telemetry(3, "h", "cpu_load", 0.1, T0 + 21 * MIN, None)));
    assert_eq!(a.score, 80.0);
    assert_eq!(feature(&a, "missed_heartbeats").value, 4.0);
    // The heartbeat is back: the 4 misses stay, then decay (half-life 1 h) while heartbeats keep coming.
    assert!(s.apply(&telemetry(4, "h", "heartbeat", 1.0, T0 + 21 * MIN, None)).is_empty());
    let mut n = 5;
    let mut at = T0 + 21 * MIN;
    let mut emitted = Vec::new();
    while at < T0 + 21 * MIN + H {
        at += 5 * MIN;
        emitted.extend(s.apply(&telemetry(n, "h", "heartbeat", 1.0, at, None)));
        n += 1;
    }
    // 4 × 2^(-25/60) misses after 25 minutes: 85.02, the first score a step above 80.
    assert_eq!(emitted.len(), 1, "{emitted:?}");
    assert!((emitted[0].score - (100.0 - 20.0 * (-25.0f64 / 60.0).exp2())).abs() < 1e-9, "{emitted:?}");
    // After one half-life, 2 misses are left: 10 points (not emitted: 4.98 from 85.02).
    let now = s.score("acme", "h").expect("scored");
    assert!((now - 90.0).abs() < 1e-9, "{now}");
    // An entity that never sends heartbeats is not penalised.
    one(s.apply(&telemetry(100, "quiet", "cpu_load", 0.0, T0, None)));
    assert!(s.apply(&telemetry(101, "quiet", "cpu_load", 0.0, T0 + 10 * H, None)).is_empty());
}

#[test]
fn findings_of_the_running_release_count_per_band() {
    use FindingChange::{Closed, Opened};
    use VexStatus::{Affected, NotAffected, UnderInvestigation};
    let mut s = with_test_policy();
    one(s.apply(&telemetry(1, "h", "heartbeat", 1.0, T0, Some("shop@1.0"))));
    one(s.apply(&telemetry(2, "other", "heartbeat", 1.0, T0, Some("shop@2.0"))));
    let critical = Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H");
    // A critical finding re-scores the entity running the release, and only that one.
    let a = one(s.apply(&finding(10, "shop@1.0", "A-1", Some("prod"), Opened, Affected, critical)));
    assert_eq!((a.entity.as_str(), a.score), ("h", 80.0));
    assert_eq!(feature(&a, "findings.critical").value, 1.0);
    assert_eq!(a.envelope.event_time.as_micros(), T0, "scored at the entity clock");
    // The same finding in another environment counts once.
    assert!(s.apply(&finding(11, "shop@1.0", "A-1", Some("staging"), Opened, Affected, critical)).is_empty());
    // A high one under investigation: 5 more.
    let b = one(s.apply(&finding(12, "shop@1.0", "A-2", None, Opened, UnderInvestigation, Some("HIGH"))));
    assert_eq!(b.score, 75.0);
    // Not affected after VEX: not counted.
    assert!(s.apply(&finding(13, "shop@1.0", "A-3", None, Opened, NotAffected, Some("9.9"))).is_empty());
    // A re-opening that says not_affected now stops counting A-2.
    let c = one(s.apply(&finding(14, "shop@1.0", "A-2", None, Opened, NotAffected, Some("HIGH"))));
    assert_eq!(c.score, 80.0);
    // Closing A-1 in prod leaves staging open; closing staging too clears it.
    assert!(s.apply(&finding(15, "shop@1.0", "A-1", Some("prod"), Closed, Affected, critical)).is_empty());
    let d = one(s.apply(&finding(16, "shop@1.0", "A-1", Some("staging"), Closed, Affected, critical)));
    assert_eq!(d.score, 100.0);
    // Three criticals: 60 points capped at 50, each band scaled down.
    one(s.apply(&finding(20, "shop@1.0", "B-1", None, Opened, Affected, Some("critical"))));
    one(s.apply(&finding(21, "shop@1.0", "B-2", None, Opened, Affected, Some("critical"))));
    let e = one(s.apply(&finding(22, "shop@1.0", "B-3", None, Opened, Affected, Some("critical"))));
    assert!(s.apply(&telemetry(23, "h", "heartbeat", 1.0, T0 + MIN, None)).is_empty());
    assert!((e.score - 50.0).abs() < 1e-9, "{}", e.score);
    assert!((feature(&e, "findings.critical").contribution - 50.0).abs() < 1e-9);
    // Switching releases switches findings.
    let f = one(s.apply(&telemetry(24, "h", "heartbeat", 1.0, T0 + 2 * MIN, Some("shop@2.0"))));
    assert_eq!(f.score, 100.0);
    // An older sample naming the old release does not switch back.
    assert!(s.apply(&telemetry(25, "h", "heartbeat", 1.0, T0 + MIN, Some("shop@1.0"))).is_empty());
}

#[test]
fn a_policy_switch_reweights_and_rescores() {
    let mut s = TrustState::new();
    // Default policy: auth failures weigh 2.
    let a = one(s.apply(&telemetry(1, "h", "auth_failure", 1.0, T0, None)));
    assert_eq!(a.score, 98.0);
    // The test policy weighs them 10 (the feature has the same name: its state is carried over).
    let p = policy_event("acme", 2, 1, TEST_POLICY);
    let b = one(s.apply(&p));
    assert_eq!(b.score, 90.0);
    assert_eq!(b.previous, Some(98.0));
    let digest = crate::policy::parse(TEST_POLICY).expect("parse").digest();
    assert_eq!(b.policy_digest, digest);
    assert_eq!(s.model("acme").digest, digest);
    assert_eq!(s.model("acme").version, 1);
    assert_eq!(b.features.len(), 1 + 1 + 5);
    // Another tenant keeps the default.
    assert_eq!(s.model("globex").digest, crate::policy::default_policy().digest());

    // Ignored: an older or equal version, a bad document, a digest that does not match.
    assert!(s.apply(&policy_event("acme", 3, 1, &TEST_POLICY.replace("weight: 10", "weight: 1"))).is_empty());
    let Event::Policy(mut bad) = policy_event("acme", 4, 2, TEST_POLICY) else { unreachable!() };
    bad.document = TEST_POLICY.replace("step: 5", "step: -1");
    assert!(s.apply(&Event::Policy(bad.clone())).is_empty());
    bad.document = TEST_POLICY.replace("weight: 10", "weight: 1");
    assert!(s.apply(&Event::Policy(bad)).is_empty(), "digest mismatch");
    assert_eq!(s.model("acme").digest, digest);
    let reasons: Vec<&str> =
        s.tenant("acme").expect("acme").rejected_policies.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].contains("not newer"), "{reasons:?}");
    assert!(reasons[1].contains("invalid document") && reasons[1].contains("trust.step"), "{reasons:?}");
    assert!(reasons[2].contains("does not match"), "{reasons:?}");
    // A newer version applies.
    let c = one(s.apply(&policy_event("acme", 5, 2, &TEST_POLICY.replace("weight: 10", "weight: 1"))));
    assert_eq!(c.score, 99.0);
}

#[test]
fn extreme_event_times_do_not_overflow() {
    let mut s = with_test_policy();
    one(s.apply(&telemetry(1, "h", "heartbeat", 1.0, i64::MIN, Some("shop@1"))));
    one(s.apply(&telemetry(2, "h", "heartbeat", 1.0, i64::MAX, None)));
    s.apply(&telemetry(3, "h", "auth_failure", f64::MAX, i64::MIN, None));
    let score = s.score("acme", "h").expect("scored");
    assert!((0.0..=100.0).contains(&score), "{score}");
    assert!(serde_json::to_string(&s).is_ok());
}

#[test]
fn tenants_are_separate() {
    let mut s = with_test_policy();
    one(s.apply(&telemetry_of("globex", 1, "h", "auth_failure", 1.0, T0, None)));
    let g = &s.tenant("globex").expect("globex").entities["h"];
    // Default policy for globex: weight 2.
    assert_eq!(g.last_emitted, Some(98.0));
    one(s.apply(&telemetry(2, "h", "auth_failure", 1.0, T0, None)));
    assert_eq!(s.tenant("acme").expect("acme").entities["h"].last_emitted, Some(90.0));
}

fn encode(out: &[TrustScore]) -> Vec<Vec<u8>> {
    let codec = EventCodec::new();
    out.iter().map(|s| codec.encode(&Event::TrustScore(s.clone())).expect("encode").to_vec()).collect()
}

/// Applies `events` to `state`; the encoded outputs, in order.
fn run(state: &mut TrustState, events: &[Event]) -> Vec<Vec<u8>> {
    events.iter().flat_map(|e| encode(&state.apply(e))).collect()
}

fn snapshot_round_trip(state: &TrustState) -> TrustState {
    crate::operator::snapshot_round_trip(state, TrustState::new())
}

/// A script of events: telemetry of several kinds, entities and tenants at shuffled times (late
/// samples included), finding deltas, and policy switches (some invalid).
fn script(steps: &[(u8, u8, u8, u16)]) -> Vec<Event> {
    const KINDS: [&str; 6] = ["auth_failure", "ids_alert", "heartbeat", "config_drift", "attestation_failure", "cpu"];
    const RELEASES: [&str; 2] = ["shop@1", "shop@2"];
    const SEVERITIES: [Option<&str>; 4] =
        [Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), Some("moderate"), Some("2.0"), None];
    steps
        .iter()
        .enumerate()
        .map(|(i, &(op, a, b, t))| {
            let n = i as u64;
            let at = T0 + i64::from(t) * MIN;
            match op % 10 {
                0..=6 => {
                    let tenant = if a % 5 == 0 { "globex" } else { "acme" };
                    let release = (b % 3 < 2).then(|| RELEASES[usize::from(b % 2)]);
                    let value = f64::from(a % 4) + f64::from(b % 3) * 0.25;
                    telemetry_of(tenant, n, &format!("e{}", a % 4), KINDS[usize::from(b % 6)], value, at, release)
                }
                7 | 8 => finding(
                    n,
                    RELEASES[usize::from(a % 2)],
                    &format!("A-{}", b % 4),
                    [None, Some("prod"), Some("staging")][usize::from(a % 3)],
                    if b % 3 == 0 { FindingChange::Closed } else { FindingChange::Opened },
                    [VexStatus::Affected, VexStatus::UnderInvestigation, VexStatus::NotAffected][usize::from(a % 3)],
                    SEVERITIES[usize::from(t % 4)],
                ),
                _ => {
                    let doc = match a % 3 {
                        0 => TEST_POLICY.to_string(),
                        1 => TEST_POLICY.replace("weight: 10", "weight: 3").replace("step: 5", "step: 2"),
                        _ => crate::policy::DEFAULT_YAML.replace("name: default", "name: other"),
                    };
                    policy_event("acme", n, i64::from(b % 4), &doc)
                }
            }
        })
        .collect()
}

#[test]
fn snapshot_mid_stream_gives_identical_outputs() {
    let steps: Vec<(u8, u8, u8, u16)> = (0..300u32)
        .map(|i| ((i * 7 % 10) as u8, (i * 13 % 17) as u8, (i * 5 % 11) as u8, (i * 37 % 600) as u16))
        .collect();
    let events = script(&steps);
    let mut whole = TrustState::new();
    let expected = run(&mut whole, &events);
    assert!(expected.len() > 20, "the script exercises emission: {}", expected.len());
    for k in [0, 1, 57, 150, 299, 300] {
        let mut first = TrustState::new();
        let mut got = run(&mut first, &events[..k]);
        let mut restored = snapshot_round_trip(&first);
        assert_eq!(restored, first);
        got.extend(run(&mut restored, &events[k..]));
        assert_eq!(got, expected, "snapshot after {k} events");
        assert_eq!(restored, whole);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Same input → identical outputs, also across a snapshot/restore at a random point.
    #[test]
    fn the_operator_is_deterministic(
        steps in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), 0u16..2_000), 1..120),
        cut in any::<proptest::sample::Index>(),
    ) {
        let events = script(&steps);
        let mut a = TrustState::new();
        let out_a = run(&mut a, &events);
        let mut b = TrustState::new();
        let out_b = run(&mut b, &events);
        prop_assert_eq!(&out_a, &out_b);
        let k = cut.index(events.len() + 1);
        let mut c = TrustState::new();
        let mut out_c = run(&mut c, &events[..k]);
        let mut restored = snapshot_round_trip(&c);
        out_c.extend(run(&mut restored, &events[k..]));
        prop_assert_eq!(&out_c, &out_a);
        prop_assert_eq!(restored, a);
        // Every emitted score is within 0..100 and moved by at least the step (or is a first one).
        for bytes in &out_a {
            let Ok(Event::TrustScore(s)) = EventCodec::new().decode(bytes, &trustloop_schemas::NoWriterSchemas) else {
                return Err(TestCaseError::fail("undecodable output"));
            };
            prop_assert!((0.0..=100.0).contains(&s.score));
            let total: f64 = s.features.iter().map(|f| f.contribution).sum();
            prop_assert!((s.score - (100.0 - total).clamp(0.0, 100.0)).abs() < 1e-9);
        }
    }
}
