//! Trust scoring throughput on one core: framed Avro telemetry decoded → scored by the trust operator
//! (default policy) → emitted `TrustScore`s encoded as framed Avro.
//!
//! The fleet: 10,000 entities, each sending one sample every 30 s of event time (80 % heartbeats, 10 %
//! auth failures, 3 % configuration drift, 2 % IDS alerts, 5 % other kinds), every sample naming the
//! release the entity runs (50 releases, some with open findings). Each pass over the batch moves
//! event time on, so the state keeps evolving (decay, steps) instead of replaying the past.
//!
//! `cargo bench -p trustloop-benches --bench trust`

use std::collections::BTreeMap;

use trustloop_benches::measure;
use trustloop_operators::trust::TrustState;
use trustloop_schemas::{
    Envelope, Event, EventCodec, EventTime, EventType, Finding, FindingChange, Match, NoWriterSchemas, Telemetry,
    VexStatus, derive_event_id, texts,
};

const ENTITIES: u64 = 10_000;
const BATCH: u64 = 100_000;
const T0: i64 = 1_793_534_400_000_000;
const EVERY: i64 = 30_000_000;

fn envelope(kind: &str, i: u64, key: &str, at: i64) -> Envelope {
    Envelope {
        event_id: derive_event_id(kind, &[&i.to_be_bytes()]),
        tenant: "acme".into(),
        key: key.into(),
        event_time: EventTime::from_micros(at),
        source: "bench".into(),
        schema_version: 1,
    }
}

fn sample(i: u64) -> Event {
    let e = i % ENTITIES;
    let entity = format!("host-{e:05}");
    let at = T0 + (i / ENTITIES) as i64 * EVERY + e as i64;
    // A cheap deterministic mix (no RNG): spread kinds over entities and rounds.
    let r = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % 100;
    let (kind, value) = match r {
        0..80 => ("heartbeat", 1.0),
        80..90 => ("auth_failure", 1.0),
        90..93 => ("config_drift", (r % 3) as f64),
        93..95 => ("ids_alert", 1.0),
        _ => ("cpu_load", 0.42),
    };
    Event::Telemetry(Telemetry {
        envelope: envelope("bench-telemetry", i, &entity, at),
        entity,
        kind: kind.into(),
        value,
        attributes: BTreeMap::from([
            ("release".to_string(), format!("app-{}@1.0.{}", e % 50, e % 3)),
            ("site".to_string(), "dc-1".to_string()),
        ]),
        unit: None,
    })
}

fn finding(i: u64, release: u64, severity: &str) -> Event {
    Event::Finding(Finding {
        envelope: envelope("bench-finding", i, "app", T0),
        change: FindingChange::Opened,
        release_name: format!("app-{release}").into(),
        release_version: "1.0.0".into(),
        environment: Some("prod".into()),
        advisory_id: format!("GHSA-bench-{i}").into(),
        aliases: texts::<&str>([]),
        purl: format!("pkg:cargo/dep-{i}@0.1.0").into(),
        ecosystem: "crates.io".into(),
        package_name: format!("dep-{i}").into(),
        package_version: "0.1.0".into(),
        vex_status: VexStatus::Affected,
        severity: Some(severity.into()),
        matched: std::sync::Arc::new(Match {
            range_type: "SEMVER".into(),
            event: "introduced=0".into(),
            comparator: "semver".into(),
        }),
        vex_statement_ids: vec![],
        cause_event_id: "bench".into(),
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

fn main() {
    let codec = EventCodec::new();
    let encoded: Vec<Vec<u8>> = (0..BATCH).map(|i| codec.encode(&sample(i)).expect("encode")).collect();
    let bytes_per_event = encoded.iter().map(Vec::len).sum::<usize>() / encoded.len();
    let mut state = TrustState::new();
    // Open findings in 10 of the 50 releases (not timed).
    for i in 0..40 {
        let severity = ["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "HIGH", "moderate", "3.1"][(i % 4) as usize];
        state.apply(&finding(i, i % 10, severity));
    }
    println!(
        "trust: Telemetry, {bytes_per_event} bytes per framed event, {ENTITIES} entities, batches of {BATCH} \
         (default policy)"
    );
    let span = (BATCH / ENTITIES) as i64 * EVERY;
    let mut pass: i64 = 0;
    let mut out = Vec::with_capacity(512);
    let (mut scored, mut emitted) = (0u64, 0u64);
    measure("trust: decode → score → encode TrustScore", BATCH, || {
        let shift = pass * span;
        pass += 1;
        let mut bytes = 0;
        for b in &encoded {
            let mut event = codec.decode(b, &NoWriterSchemas).expect("decode");
            let env = event.envelope_mut();
            env.event_time = EventTime::from_micros(env.event_time.as_micros() + shift);
            for s in state.apply(&event) {
                out.clear();
                codec.encode_into(&Event::TrustScore(s), &mut out).expect("encode");
                bytes += out.len() as u64;
                emitted += 1;
            }
            scored += 1;
        }
        bytes
    });
    let (tenant, model) = ("acme", state.model("acme"));
    println!(
        "  {scored} events scored, {emitted} TrustScores emitted ({:.2} %), policy {} v{} ({} in {tenant})",
        100.0 * emitted as f64 / scored.max(1) as f64,
        model.name,
        model.version,
        EventType::TrustScore.topic(),
    );
    snapshot_restore();
}

/// Checkpoint of a state with many entities: snapshot (serialize), write to a file, read it back and
/// restore — what `trustloop run` does at a checkpoint and at start.
fn snapshot_restore() {
    use trustloop_operators::operator::Operator;
    let keys: u64 = if trustloop_benches::benchmarking() { 1_000_000 } else { 10_000 };
    let mut state = TrustState::new();
    for i in 0..keys {
        let mut e = sample(i);
        if let Event::Telemetry(t) = &mut e {
            t.entity = format!("host-{i:07}");
            t.envelope.key = t.entity.as_str().into();
        }
        state.apply(&e);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trust.snapshot");
    let t = std::time::Instant::now();
    let snap = Operator::snapshot(&state).expect("the trust operator keeps snapshots");
    std::fs::write(&path, &snap.state).expect("write");
    let taken = t.elapsed();
    let t = std::time::Instant::now();
    let bytes = std::fs::read(&path).expect("read");
    let mut restored = TrustState::new();
    Operator::restore(&mut restored, &trustloop_operators::operator::Snapshot { version: snap.version, state: bytes })
        .expect("restore");
    let restore = t.elapsed();
    assert_eq!(restored, state, "restored state equals the original");
    println!(
        "trust: snapshot of {keys} entities ({:.0} MB): taken and written in {:.2} s, read and restored in {:.2} s",
        snap.state.len() as f64 / 1e6,
        taken.as_secs_f64(),
        restore.as_secs_f64()
    );
}
