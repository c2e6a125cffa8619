//! What every fuzz target shares: how raw bytes become a parser's input. Each target under
//! `fuzz_targets/` is one line calling one of these; the regression tests in
//! `connectors/tests/fuzz_regressions.rs` and `connectors/formats/tests/fuzz_regressions.rs` feed
//! their files to the parsers the same way.

use trustloop_connectors::import::release::{ReleaseChoice, ReleaseRef};
use trustloop_connectors::import::{
    any, cargo_lock, csaf, csaf_advisory, cyclonedx_vex, epss, kev, openvex, osv, osv_history, sbom, vex,
};
use trustloop_formats::FormatError;
use trustloop_formats::Location;
use trustloop_formats::lockfile::Kind;
use trustloop_schemas::EventTime;

const TENANT: &str = "fuzz";

/// The bytes as text: invalid UTF-8 is replaced (U+FFFD) rather than refused, so every input
/// reaches the parser.
pub fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// A fixed event time, so a run does not depend on the clock.
fn event_time() -> EventTime {
    EventTime::from_micros(1_700_000_000_000_000)
}

/// An OSV document, JSON or YAML.
pub fn osv(data: &[u8], format: osv::Format) {
    let _ = osv::parse(&text(data), format, "fuzz/advisory", TENANT);
}

/// One line of an OSV history stream.
pub fn osv_history_line(data: &[u8]) {
    let _ = osv_history::parse_line(&text(data), "fuzz/history.jsonl:1", TENANT);
}

/// A CSAF document (and the VEX format detection, which reads any JSON).
pub fn csaf(data: &[u8]) {
    let _ = vex::detect(data);
    let _ = csaf::parse(data, "fuzz/csaf.json", TENANT);
}

/// A CSAF document read as security advisories (and the advisory detection, which reads any JSON).
pub fn csaf_advisory(data: &[u8]) {
    let _ = csaf_advisory::is_advisory(data);
    let _ = csaf_advisory::parse(data, "fuzz/csaf-advisory.json", TENANT);
}

/// A known-exploited catalog (nothing listed before, and everything it lists listed before).
pub fn kev(data: &[u8]) {
    let text = text(data);
    if let Ok(catalog) = kev::import(&text, "fuzz/kev.json", TENANT, &Default::default(), None) {
        let listed = kev::listed_after(&catalog.events);
        let _ = kev::import(&text, "fuzz/kev.json", TENANT, &listed, None);
    }
}

/// A what-if candidate (`replay --with`) whose kind is told by content: the bytes as a `.json`
/// file (a KEV catalog, OSV, CSAF or VEX document), read as `import::any` reads it — from a file,
/// as the command does, in a scratch folder of this process.
pub fn feed_document(data: &[u8]) {
    let dir = std::env::temp_dir().join(format!("trustloop-fuzz-any-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let path = dir.join("candidate.json");
    if std::fs::write(&path, data).is_ok() {
        let _ = any::read_file(&path, TENANT);
    }
}

/// An EPSS scores file (with a date given, for files that state none).
pub fn epss(data: &[u8]) {
    let _ = epss::import(&text(data), "fuzz/epss.csv", TENANT, Some("2025-08-25"));
}

/// An OpenVEX document.
pub fn openvex(data: &[u8]) {
    let _ = vex::detect(data);
    let _ = openvex::parse(data, "fuzz/openvex.json", TENANT);
}

/// A CycloneDX VEX document.
pub fn cyclonedx_vex(data: &[u8]) {
    let _ = vex::detect(data);
    let _ = cyclonedx_vex::parse(data, "fuzz/vex.cdx.json", TENANT);
}

/// A CycloneDX or SPDX JSON SBOM, with the release taken from the document and given by the caller.
pub fn sbom(data: &[u8]) {
    let from_doc = ReleaseChoice::FromDocument { environment: None };
    let _ = sbom::parse(data, "fuzz/sbom.json", &from_doc, TENANT, event_time());
    let given = ReleaseChoice::Given(ReleaseRef { name: "app".into(), version: "1.0.0".into(), environment: None });
    let _ = sbom::parse(data, "fuzz/sbom.json", &given, TENANT, event_time());
}

/// A `Cargo.lock`.
pub fn cargo_lock(data: &[u8]) {
    let release = ReleaseRef { name: "app".into(), version: "1.0.0".into(), environment: Some("prod".into()) };
    let _ = cargo_lock::parse(&text(data), "fuzz/Cargo.lock", &release, TENANT, event_time());
}

/// A package URL, and what trustloop derives from one.
pub fn purl(data: &[u8]) {
    if let Ok(p) = text(data).parse::<trustloop_operators::purl::Purl>() {
        let _ = p.osv_ecosystem();
        let _ = p.osv_name();
    }
}

/// A lockfile or manifest of `kind`. For requirements files, the bytes after the first NUL are what
/// the first `-r`/`-c` include reads (later includes fail), so includes are fuzzed too.
pub fn lockfile(kind: Kind, data: &[u8]) {
    let (main, included) = match data.iter().position(|&b| b == 0) {
        Some(i) if kind == Kind::Requirements => (&data[..i], Some(&data[i + 1..])),
        _ => (data, None),
    };
    let mut included = included.map(|b| text(b).into_owned());
    let mut read = |name: &str| -> Result<String, FormatError> {
        included.take().ok_or_else(|| FormatError::new(name, Location::Document, "no such file while fuzzing"))
    };
    let _ = kind.parse(&text(main), &format!("fuzz/{}", kind.name()), &mut read);
}

/// A CycloneDX XML SBOM into the CycloneDX JSON shape (and the form detection).
pub fn sbom_cyclonedx_xml(data: &[u8]) {
    let _ = trustloop_formats::sbom::detect(data);
    let _ = trustloop_formats::sbom::cyclonedx_xml::to_json(&text(data), "fuzz/bom.xml");
}

/// An SPDX 2.x tag-value SBOM into the SPDX JSON shape (and the form detection).
pub fn sbom_spdx_tag_value(data: &[u8]) {
    let _ = trustloop_formats::sbom::detect(data);
    let _ = trustloop_formats::sbom::spdx_tag::to_json(&text(data), "fuzz/sbom.spdx");
}

/// An SPDX 3.0 JSON-LD SBOM into the SPDX 2.3 JSON shape (and the form detection).
pub fn sbom_spdx3(data: &[u8]) {
    let _ = trustloop_formats::sbom::detect(data);
    let _ = trustloop_formats::sbom::spdx3::to_json(data, "fuzz/sbom.spdx3.json");
}

/// A signed note and a checkpoint (`trustloop_schemas::transparency::checkpoint`): parsing never
/// panics, a parsed note re-reads to itself, and garbage never verifies against a key whose
/// private half the fuzzer does not have (signatures by the fixtures' real keys may verify).
pub fn signed_note(data: &[u8]) {
    use trustloop_schemas::transparency::checkpoint::{Checkpoint, NoteSigner, SignedNote};
    let text = text(data);
    let Ok(note) = SignedNote::parse(&text) else { return };
    let again = SignedNote::parse(&note.to_string());
    assert_eq!(again.as_ref(), Ok(&note), "a parsed note does not re-read to itself");
    let _ = Checkpoint::parse(&note.text);
    // A key made here, never written anywhere: nothing the fuzzer writes can carry its signature.
    let Ok(ours) = NoteSigner::from_seed("fuzz.example/log", &[0x5f; 32]) else { return };
    assert!(note.verify(&[ours.verifier()]).is_err(), "garbage verified against a key it cannot know");
    let origin = note.text.lines().next().unwrap_or_default();
    assert!(Checkpoint::open(&text, origin, &ours.verifier(), &[]).is_err());
}

/// A DSSE envelope and the in-toto statement in it (`trustloop_schemas::transparency::{dsse,
/// intoto}`): parsing never panics, a parsed envelope re-reads to itself, and nothing verifies
/// against a key the fuzzer cannot know.
pub fn dsse_envelope(data: &[u8]) {
    use trustloop_schemas::transparency::dsse::{DsseSigner, Envelope};
    use trustloop_schemas::transparency::intoto::Statement;
    let Ok(envelope) = Envelope::from_json(&text(data)) else { return };
    assert_eq!(
        Envelope::from_json(&envelope.to_json()).as_ref(),
        Ok(&envelope),
        "an envelope does not re-read to itself"
    );
    let _ = Statement::from_json(&envelope.payload);
    let ours = DsseSigner::from_seed(&[0x5f; 32]);
    assert!(envelope.verify(&[ours.verifier()], 1).is_err(), "garbage verified against a key it cannot know");
}

/// An evidence bundle (`trustloop_replay::evidence`): reading and verifying it never panics, and
/// nothing verifies against a key the fuzzer cannot know.
pub fn evidence_bundle(data: &[u8]) {
    use trustloop_replay::evidence::{Bundle, verify};
    use trustloop_schemas::transparency::checkpoint::NoteSigner;
    let Ok(bundle) = serde_json::from_str::<Bundle>(&text(data)) else { return };
    let Ok(ours) = NoteSigner::from_seed("fuzz", &[0x5f; 32]) else { return };
    let report = verify(&bundle, &[ours.dsse_signer().verifier()], &ours.verifier());
    assert!(!report.is_ok(), "a bundle verified against a key made inside the target");
}

/// A Confluent-framed Avro event (`EventCodec::decode`, every schema): decoding never panics, and
/// what decodes re-encodes to bytes that decode and re-encode to themselves (bytes, not values: a
/// NaN score is not equal to itself).
pub fn avro_event(data: &[u8]) {
    use trustloop_schemas::{EventCodec, NoWriterSchemas};
    let codec = EventCodec::new();
    let Ok(event) = codec.decode(data, &NoWriterSchemas) else { return };
    let Ok(bytes) = codec.encode(&event) else { return };
    let again = codec.decode(&bytes, &NoWriterSchemas).ok().and_then(|e| codec.encode(&e).ok());
    assert_eq!(again.as_ref(), Some(&bytes), "an event does not re-read to itself");
}

/// A segment of the embedded log as `log repair` reads it
/// (`trustloop_connectors::log::embedded::salvage::analyse`), as its partition's last segment and
/// as a sealed one (the next segment starting at offset 64): never panics, its good batches and
/// damaged pieces tile the bytes exactly, and the good batches kept, with the gaps it records, read
/// again as a clean segment with the same batches.
pub fn segment_salvage(data: &[u8]) {
    use trustloop_connectors::log::embedded::salvage::{Piece, analyse};
    for upper in [None, Some(64)] {
        let a = analyse(data, 0, upper, &[]);
        let mut pos = 0u64;
        for p in &a.pieces {
            match p {
                Piece::Batch(b) => {
                    assert_eq!(b.pos, pos, "pieces do not tile the segment");
                    pos += b.len;
                }
                Piece::Damaged(d) => {
                    assert!(d.pos == pos && d.len > 0, "pieces do not tile the segment");
                    pos += d.len;
                }
                Piece::Missing { from, to } => assert!(from < to),
            }
        }
        assert_eq!(pos, data.len() as u64, "pieces do not tile the segment");
        let kept: Vec<u8> =
            a.batches().flat_map(|b| data[b.pos as usize..(b.pos + b.len) as usize].iter().copied()).collect();
        let again = analyse(&kept, 0, upper, &a.new_gaps);
        assert!(again.is_clean() && again.new_gaps.is_empty(), "a repaired segment needs repair again");
        let batches = |a: &trustloop_connectors::log::embedded::salvage::Analysis| {
            a.batches().map(|b| (b.base, b.count)).collect::<Vec<_>>()
        };
        assert_eq!(batches(&again), batches(&a));
    }
}

/// Polls a future of the embedded log, which never waits on anything, to its end.
fn ready<F: std::future::Future>(f: F) -> F::Output {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => panic!("the embedded log waited"),
    }
}

/// The offsets of every record of partition 0 of `topic`, or the first error, read by the read
/// contract (a read below the end that hands out nothing and goes nowhere breaks it).
fn read_all(log: &dyn trustloop_connectors::log::EventLog, topic: &str) -> Result<Vec<i64>, String> {
    let mut pos = ready(log.offsets(topic)).map_err(|e| e.to_string())?.first().map_or(0, |o| o.start);
    let mut out = Vec::new();
    loop {
        let batch = ready(log.read(topic, 0, pos, 1000)).map_err(|e| e.to_string())?;
        let stuck = batch.records.is_empty() && batch.next_offset <= pos;
        out.extend(batch.records.iter().map(|r| r.offset));
        pos = pos.max(batch.next_offset);
        if batch.at_end() {
            return Ok(out);
        }
        assert!(!stuck, "a read at {pos} below the end handed out nothing and went nowhere");
    }
}

/// The bytes as the one segment of a topic on a real embedded log (in a scratch folder of this
/// process), read, repaired with `log repair`'s function, read again: nothing panics; after the
/// repair every record reads without an error and a second repair finds nothing; the kept segment
/// and the quarantine files hold every byte of the original, each once, in order.
pub fn segment_repair(data: &[u8]) {
    use trustloop_connectors::log::embedded::{EmbeddedLog, EmbeddedOptions, FsyncPolicy, RepairOptions, repair};
    let dir = std::env::temp_dir().join(format!("trustloop-fuzz-repair-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let part = dir.join("topics").join("t").join("0");
    if std::fs::create_dir_all(&part).is_err()
        || std::fs::write(dir.join("topics").join("t").join("meta.json"), br#"{"partitions":1}"#).is_err()
    {
        return;
    }
    let seg = part.join(format!("{:020}.log", 0));
    if std::fs::write(&seg, data).is_err() {
        return;
    }
    let options = EmbeddedOptions { fsync: FsyncPolicy::Never, ..EmbeddedOptions::default() };
    {
        let Ok(log) = EmbeddedLog::open(&dir, options.clone()) else { return };
        let _ = read_all(&log, "t");
    }
    let report = repair(&dir, RepairOptions::default()).expect("a repair of a readable folder");
    let log = EmbeddedLog::open(&dir, options).expect("open after the repair");
    match read_all(&log, "t") {
        Ok(offsets) => assert!(offsets.windows(2).all(|w| w[0] < w[1]), "offsets out of order: {offsets:?}"),
        Err(e) => panic!("a repaired log does not read: {e}"),
    }
    drop(log);
    assert!(repair(&dir, RepairOptions::default()).expect("again").is_clean(), "a repaired log needs repair again");
    // Byte conservation: kept batches and quarantined stretches, by position, make the original.
    let kept = std::fs::read(&seg).expect("segment");
    let mut pieces: Vec<(u64, Vec<u8>)> = report
        .quarantined()
        .map(|f| (f.position, std::fs::read(f.quarantine.as_ref().expect("a file")).expect("quarantine")))
        .collect();
    pieces.sort();
    let mut rebuilt = Vec::with_capacity(data.len());
    let mut k = 0usize;
    for (pos, bytes) in pieces {
        let take = pos as usize - rebuilt.len();
        rebuilt.extend_from_slice(&kept[k..k + take]);
        k += take;
        rebuilt.extend_from_slice(&bytes);
    }
    rebuilt.extend_from_slice(&kept[k..]);
    assert_eq!(rebuilt, data, "the repair lost or invented bytes");
}

/// A policy document (`policy check|apply`, the release gates' regressions and the enforcement
/// workflows included): parsed and checked never panic, and a parsed one has a digest.
pub fn policy_yaml(data: &[u8]) {
    let text = text(data);
    if let Ok(doc) = trustloop_operators::policy::parse(&text) {
        let _ = doc.digest();
    }
    let _ = trustloop_operators::policy::check(&text);
}

/// Notification rules (`notify check|apply`): parsed and checked never panic, and parsed ones
/// have a digest.
pub fn notify_rules(data: &[u8]) {
    let text = text(data);
    if let Ok(doc) = trustloop_operators::notify::rules::parse(&text) {
        let _ = doc.digest();
    }
    let _ = trustloop_operators::notify::rules::check(&text);
}
