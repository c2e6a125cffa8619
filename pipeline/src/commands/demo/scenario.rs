//! The demo's inputs: a sample of real data shipped with the binary (`pipeline/demo-data/`) — the
//! RustSec advisory stream for the crates of two real lockfiles, the lockfiles themselves, a real
//! CycloneDX SBOM, two VEX documents that disagree — plus a policy, approvals and promotion
//! requests, all with fixed event times so every run derives the same events.

use std::io::Read;

use anyhow::{Context, Result, anyhow};
use trustloop_connectors::import::release::{ReleaseChoice, ReleaseRef};
use trustloop_connectors::import::{cargo_lock, osv_history, sbom, vex};
use trustloop_operators::policy;
use trustloop_schemas::{
    Approval, ApprovalDecision, Envelope, Event, EventTime, EventType, Policy, PromotionRequest, derive_event_id,
};

const ADVISORIES: &[u8] = include_bytes!("../../../demo-data/advisories.jsonl.gz");
const ARROYO_LOCK: &[u8] = include_bytes!("../../../demo-data/arroyo-2023-12.Cargo.lock.gz");
const TANSU_LOCK: &[u8] = include_bytes!("../../../demo-data/tansu-0.3.0.Cargo.lock.gz");
const DROPWIZARD_SBOM: &[u8] = include_bytes!("../../../demo-data/dropwizard-1.3.15.cdx.json.gz");
const VENDOR_VEX: &[u8] = include_bytes!("../../../demo-data/vendor.openvex.json");
const TRIAGE_VEX: &[u8] = include_bytes!("../../../demo-data/triage.openvex.json");

/// The tenant of every demo event.
pub(super) const TENANT: &str = "acme";

fn gunzip(bytes: &[u8], what: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).with_context(|| format!("decompressing {what}"))?;
    Ok(out)
}

fn envelope(kind: &str, key: &str, at: EventTime, n: u32) -> Envelope {
    Envelope {
        event_id: derive_event_id(kind, &[key.as_bytes(), &at.as_micros().to_be_bytes(), &n.to_be_bytes()]),
        tenant: TENANT.into(),
        key: key.into(),
        event_time: at,
        source: "trustloop demo".into(),
        schema_version: 1,
    }
}

/// The demo's documents and decisions, in the order they arrive.
pub(super) struct Scenario {
    /// The events of each document (the advisory stream, a lockfile, a VEX document, ...) or
    /// decision (an approval, a promotion request), one topic each, in arrival order.
    pub documents: Vec<Vec<Event>>,
    /// The releases hosts run, `NAME@VERSION`.
    pub releases: Vec<String>,
}

/// Builds the scenario; `t0` is the start of the fleet's telemetry.
pub(super) fn build(t0: EventTime) -> Result<Scenario> {
    let mut documents: Vec<Vec<Event>> = Vec::new();
    let hour = 3_600_000_000i64;
    let at = |offset_micros: i64| EventTime::from_micros(t0.as_micros() + offset_micros);

    // The policy in force: the documented default, with heartbeats expected every 15 minutes,
    // findings without a severity (RustSec's unmaintained-crate notices) counted as low, and the
    // two VEX issuers trusted fully.
    let yaml = policy::DEFAULT_YAML
        .replace("interval: 5m", "interval: 15m")
        .replace("unknown_as: medium", "unknown_as: low")
        .replace("  issuers: {}", r#"  issuers: {"trustloop demo vendor": 1.0, "acme security triage": 1.0}"#);
    let doc = policy::parse(&yaml).map_err(|e| anyhow!("the demo policy does not parse: {e}"))?;
    documents.push(vec![Event::Policy(Policy {
        envelope: envelope("policy", &doc.name, at(-2 * hour), 1),
        name: doc.name.clone(),
        version: 1,
        digest: doc.digest(),
        format: "yaml".into(),
        document: yaml,
    })]);

    // A real advisory stream: upserts and deletes at their commit times.
    let text = String::from_utf8(gunzip(ADVISORIES, "the advisory stream")?).context("advisory stream")?;
    let mut events = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let a = osv_history::parse_line(line, &format!("demo-data/advisories.jsonl.gz:{}", n + 1), TENANT)
            .map_err(|e| anyhow!("{e}"))?;
        events.push(Event::Advisory(a));
    }
    documents.push(events);

    // Releases from real lockfiles and a real SBOM, built into staging.
    let mut releases = Vec::new();
    let inventory_time = at(-hour);
    for (lock, release) in [(ARROYO_LOCK, "arroyo@2023-12"), (TANSU_LOCK, "tansu@0.3.0")] {
        let text = String::from_utf8(gunzip(lock, release)?).context("lockfile")?;
        let r = ReleaseRef::parse(release, Some("staging".into())).map_err(anyhow::Error::msg)?;
        let inv = cargo_lock::parse(&text, &format!("{release}.Cargo.lock"), &r, TENANT, inventory_time)
            .map_err(|e| anyhow!("{e}"))?;
        releases.push(release.to_string());
        documents.push(vec![Event::ReleaseInventory(inv.inventory)]);
    }
    let bom = gunzip(DROPWIZARD_SBOM, "the SBOM")?;
    let choice = ReleaseChoice::FromDocument { environment: Some("staging".into()) };
    let (_, inv) =
        sbom::parse(&bom, "dropwizard-1.3.15.cdx.json", &choice, TENANT, inventory_time).map_err(|e| anyhow!("{e}"))?;
    let mut inventory = inv.inventory;
    inventory.envelope.event_time = inventory_time;
    releases.push(format!("{}@{}", inventory.release_name, inventory.release_version));
    documents.push(vec![Event::ReleaseInventory(inventory)]);

    // VEX from two issuers that disagree about one finding.
    for (doc, name) in [(VENDOR_VEX, "vendor.openvex.json"), (TRIAGE_VEX, "triage.openvex.json")] {
        let format = vex::detect(doc).ok_or_else(|| anyhow!("{name} is not VEX"))?;
        let statements = vex::parse(doc, format, name, TENANT).map_err(|e| anyhow!("{e}"))?;
        documents.push(statements.into_iter().map(Event::VexStatement).collect());
    }

    // Approvals for production, then promotion requests staging → prod.
    let approve = |release: &str, approver: &str, n: u32| {
        let subject = format!("{release}@prod");
        Event::Approval(Approval {
            envelope: envelope("approval", &subject, at(-hour / 2), n),
            subject,
            approver: approver.into(),
            decision: ApprovalDecision::Approve,
            comment: Some("release review done".into()),
            expires: None,
        })
    };
    documents.push(vec![approve("arroyo@2023-12", "alice", 1)]);
    documents.push(vec![approve("tansu@0.3.0", "bob", 2)]);
    for (n, release) in releases.iter().enumerate() {
        let (name, version) = release.rsplit_once('@').unwrap_or((release.as_str(), ""));
        documents.push(vec![Event::PromotionRequest(PromotionRequest {
            envelope: envelope("promotion", release, at(-hour / 4), n as u32),
            release_name: name.into(),
            release_version: version.into(),
            from_environment: "staging".into(),
            to_environment: "prod".into(),
            requested_by: "release-bot".into(),
        })]);
    }
    debug_assert!(documents.iter().flatten().all(|e| e.event_type() != EventType::Telemetry));
    Ok(Scenario { documents, releases })
}
