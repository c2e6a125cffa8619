//! Cross-module tests: the schemas themselves, the direct codec against apache-avro for every event
//! type, schema evolution, canonical digests and the JSON form.

use apache_avro::Schema;
use apache_avro::schema::RecordSchema;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::json::{IngestDefaults, parse_event_json};
use crate::*;

/// A deterministic generator for random, schema-conforming JSON.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn string(&mut self) -> String {
        const ALPHABET: &[&str] = &["a", "Z", "0", "-", "@", "/", " ", "é", "☃", "\n", "\"", "{", "漢"];
        (0..self.below(12)).map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize]).collect()
    }
}

/// A random JSON value conforming to `schema`, in the shape serde_json deserializes our types from.
fn random_json(schema: &Schema, rng: &mut Rng, depth: usize) -> Value {
    match schema {
        Schema::Null => Value::Null,
        Schema::Boolean => json!(rng.below(2) == 1),
        Schema::Int => json!(rng.next() as i32),
        Schema::Long => json!(rng.next() as i64),
        Schema::TimestampMicros => json!((rng.next() % 4_000_000_000_000_000) as i64),
        Schema::Double => {
            let choices = [0.0, -0.0, 1.5, -3.25, 1e300, f64::MIN_POSITIVE, (rng.next() % 1000) as f64 / 7.0];
            json!(choices[rng.below(choices.len() as u64) as usize])
        }
        Schema::String => json!(rng.string()),
        Schema::Uuid => json!(uuid::Uuid::from_u128(u128::from(rng.next()) << 64 | u128::from(rng.next())).to_string()),
        Schema::Bytes => Value::Array((0..rng.below(8)).map(|_| json!(rng.below(256))).collect()),
        Schema::Enum(e) => json!(e.symbols[rng.below(e.symbols.len() as u64) as usize]),
        Schema::Union(u) => {
            let variants = u.variants();
            let pick = if depth > 4 { 0 } else { rng.below(variants.len() as u64) as usize };
            random_json(&variants[pick], rng, depth + 1)
        }
        Schema::Array(a) => {
            let n = if depth > 4 { 0 } else { rng.below(4) };
            Value::Array((0..n).map(|_| random_json(&a.items, rng, depth + 1)).collect())
        }
        Schema::Map(m) => {
            let n = if depth > 4 { 0 } else { rng.below(4) };
            Value::Object((0..n).map(|_| (rng.string(), random_json(&m.types, rng, depth + 1))).collect())
        }
        Schema::Record(RecordSchema { fields, .. }) => {
            Value::Object(fields.iter().map(|f| (f.name.clone(), random_json(&f.schema, rng, depth + 1))).collect())
        }
        Schema::Ref { name } => {
            // Named types referenced again (e.g. Verdict.previous → Outcome, ActionState): enums here.
            match name.name.as_str() {
                "Outcome" => json!(["PASS", "WARN", "FAIL"][rng.below(3) as usize]),
                other => panic!("unexpected reference to {other}"),
            }
        }
        other => panic!("schema type not used by trustloop: {other:?}"),
    }
}

fn random_event(ty: EventType, seed: u64) -> Event {
    let mut rng = Rng(seed);
    let value = random_json(&schema_info(ty).schema, &mut rng, 0);
    with_event_type!(ty, T => {
        let e: T = serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{ty}: {e}: {value}"));
        Event::from(e)
    })
}

fn apache_bytes(event: &Event) -> Vec<u8> {
    // apache-avro's serde support must not be human-readable, so that times go as longs.
    assert!(!apache_avro::util::set_serde_human_readable(false));
    let schema = &schema_info(event.event_type()).schema;
    let value = with_event!(event, e => apache_avro::to_value(e)).expect("to_value");
    let value = value.resolve(schema).expect("resolve against the schema");
    apache_avro::to_avro_datum(schema, value).expect("to_avro_datum")
}

fn has_multi_entry_map(event: &Event) -> bool {
    match event {
        Event::Telemetry(t) => t.attributes.len() > 1,
        Event::ReleaseInventory(r) => r.labels.len() > 1 || r.components.iter().any(|c| c.hashes.len() > 1),
        Event::EnforcementAction(a) => a.step.as_ref().is_some_and(|s| s.params.len() > 1),
        _ => false,
    }
}

fn direct_bytes(event: &Event) -> Vec<u8> {
    let mut out = Vec::new();
    with_event!(event, e => codec::encode_into(e, &mut out)).expect("encode");
    out
}

#[test]
fn every_schema_parses_and_shares_one_envelope() {
    let envelope_of = |ty: EventType| {
        let v: Value = serde_json::from_str(ty.avsc()).expect("json");
        assert_eq!(v["name"], ty.name(), "{}.avsc names its record after the type", ty.file_stem());
        assert_eq!(v["namespace"], "trustloop");
        assert_eq!(v["fields"][0]["name"], "envelope", "{ty}: envelope comes first");
        v["fields"][0]["type"].clone()
    };
    let first = envelope_of(EventType::Telemetry);
    for ty in EventType::ALL {
        assert_eq!(envelope_of(ty), first, "{ty}: the envelope is identical in every schema");
        let info = schema_info(ty);
        assert_eq!(info.event_type, ty);
        assert!(info.default_id > 0);
    }
    let mut ids: Vec<u32> = EventType::ALL.iter().map(|t| schema_info(*t).default_id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), EventType::ALL.len(), "schema ids are distinct");
}

#[test]
fn topics_and_names_map_both_ways() {
    for ty in EventType::ALL {
        assert_eq!(EventType::from_topic(ty.topic()), Some(ty));
        assert_eq!(EventType::from_name(ty.name()), Some(ty));
        assert_eq!(EventType::from_name(ty.file_stem()), Some(ty));
    }
    assert_eq!(EventType::from_topic("nope"), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The direct codec writes exactly apache-avro's bytes, and reads them back.
    #[test]
    fn direct_codec_matches_apache_avro(seed in any::<u64>()) {
        for ty in EventType::ALL {
            let event = random_event(ty, seed ^ (ty as u64).wrapping_mul(0x1234_5678_9abc));
            let ours = direct_bytes(&event);
            let theirs = apache_bytes(&event);
            // apache-avro writes map entries in HashMap order, ours in key order: compare what
            // apache-avro reads from both, and what we read from both.
            let schema = &schema_info(ty).schema;
            let read = |b: &[u8]| apache_avro::from_avro_datum(schema, &mut &b[..], None).expect("apache-avro reads it");
            prop_assert_eq!(read(&ours), read(&theirs), "{} encodes differently", ty);
            prop_assert_eq!(ours.len(), theirs.len());
            if !has_multi_entry_map(&event) {
                prop_assert_eq!(&ours, &theirs, "{} bytes differ", ty);
            }
            prop_assert_eq!(&catalog::decode_body(ty, &theirs).expect("decode apache-avro bytes"), &event);
            let back = catalog::decode_body(ty, &ours).expect("decode");
            prop_assert_eq!(&back, &event);
            // Through the framing, too.
            let codec = EventCodec::new();
            let framed = codec.encode(&event).expect("encode");
            prop_assert_eq!(&framed[5..], &ours[..]);
            prop_assert_eq!(codec.decode(&framed, &NoWriterSchemas).expect("decode"), event);
        }
    }

    /// Garbage never panics the decoder.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        for ty in EventType::ALL {
            let _ = catalog::decode_body(ty, &bytes);
        }
        let _ = EventCodec::new().decode(&bytes, &NoWriterSchemas);
    }

    /// Truncating a valid encoding anywhere gives an error, never a panic or a wrong value.
    #[test]
    fn truncated_input_is_an_error(seed in any::<u64>(), cut in any::<prop::sample::Index>()) {
        let event = random_event(EventType::Advisory, seed);
        let bytes = direct_bytes(&event);
        let at = cut.index(bytes.len());
        prop_assert!(catalog::decode_body(EventType::Advisory, &bytes[..at]).is_err());
    }
}

#[test]
fn hostile_lengths_do_not_allocate() {
    // An envelope whose first string claims 2^62 bytes.
    let mut bytes = Vec::new();
    codec::write_long(&mut bytes, 1 << 62);
    let err = catalog::decode_body(EventType::Telemetry, &bytes).expect_err("must fail");
    assert!(matches!(err, codec::AvroError::Truncated { .. }), "{err:?}");
    // An array claiming a huge block count.
    let mut event = direct_bytes(&random_event(EventType::ReleaseInventory, 1));
    event.truncate(10);
    assert!(catalog::decode_body(EventType::ReleaseInventory, &event).is_err());
}

fn telemetry() -> Event {
    Event::Telemetry(Telemetry {
        envelope: Envelope {
            event_id: EventId(uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef)),
            tenant: "acme".into(),
            key: "host-17".into(),
            event_time: EventTime::from_micros(1_793_534_400_000_000),
            source: "sshd".into(),
            schema_version: 1,
        },
        entity: "host-17".into(),
        kind: "auth_failure".into(),
        value: 1.0,
        attributes: [("source".to_string(), "sshd".to_string())].into_iter().collect(),
        unit: None,
    })
}

/// An older Telemetry schema: no `unit` field yet.
const TELEMETRY_V0: &str = r#"{"type":"record","name":"Telemetry","namespace":"trustloop","fields":[
  {"name":"envelope","type":{"type":"record","name":"Envelope","fields":[
    {"name":"event_id","type":{"type":"string","logicalType":"uuid"}},
    {"name":"tenant","type":"string"},{"name":"key","type":"string"},
    {"name":"event_time","type":{"type":"long","logicalType":"timestamp-micros"}},
    {"name":"source","type":"string"},{"name":"schema_version","type":"int"}]}},
  {"name":"entity","type":"string"},{"name":"kind","type":"string"},{"name":"value","type":"double"},
  {"name":"attributes","type":{"type":"map","values":"string"},"default":{}}]}"#;

struct OldSchemas(u32, Schema);

impl WriterSchemas for OldSchemas {
    fn writer_schema(&self, id: u32) -> Option<Schema> {
        (id == self.0).then(|| self.1.clone())
    }
}

#[test]
fn events_written_with_an_older_schema_are_read_with_defaults() {
    let old = Schema::parse_str(TELEMETRY_V0).expect("old schema");
    let old_id = 77;
    // The old writer: the same event minus `unit`, encoded by apache-avro with the old schema.
    let Event::Telemetry(t) = telemetry() else { unreachable!() };
    let record = json!({
        "envelope": t.envelope, "entity": t.entity, "kind": t.kind, "value": t.value, "attributes": t.attributes
    });
    #[derive(serde::Serialize)]
    struct OldTelemetry {
        envelope: Envelope,
        entity: String,
        kind: String,
        value: f64,
        attributes: std::collections::BTreeMap<String, String>,
    }
    let old_event: OldTelemetry = OldTelemetry {
        envelope: t.envelope.clone(),
        entity: t.entity.clone(),
        kind: t.kind.clone(),
        value: t.value,
        attributes: t.attributes.clone(),
    };
    assert!(record.is_object());
    let value = apache_avro::to_value(&old_event).expect("value").resolve(&old).expect("resolve");
    let body = apache_avro::to_avro_datum(&old, value).expect("encode");
    let mut framed = Vec::new();
    wire::frame(old_id, &body, &mut framed);

    let codec = EventCodec::new();
    let read = codec.decode(&framed, &OldSchemas(old_id, old)).expect("evolution path");
    assert_eq!(read, telemetry(), "every field read, `unit` defaulted to null");

    // Once seen, the codec remembers the writer schema; a fresh codec without a registry cannot read it.
    assert_eq!(codec.decode(&framed, &NoWriterSchemas).expect("remembered"), telemetry());
    let fresh = EventCodec::new();
    match fresh.decode(&framed, &NoWriterSchemas) {
        Err(CodecError::UnknownSchema(77)) => {}
        other => panic!("an unknown id must be a clear error, got {other:?}"),
    }
    let message = fresh.decode(&framed, &NoWriterSchemas).expect_err("unknown").to_string();
    assert!(message.contains("77"), "{message}");
}

#[test]
fn canonical_digest_is_golden() {
    let digest = hex::encode(canonical_digest(&telemetry()));
    // Changing the encoding, the schema or the hashing changes every evidence digest ever recorded:
    // if this fails, that is what happened.
    assert_eq!(digest, GOLDEN_DIGEST, "canonical digest changed");
    let id = derive_event_id("verdict", &[b"a", b"bc"]);
    assert_eq!(id.0.get_version_num(), 8);
    assert_ne!(id, derive_event_id("verdict", &[b"ab", b"c"]), "inputs are length-prefixed");
    assert_eq!(id, derive_event_id("verdict", &[b"a", b"bc"]), "deterministic");
}

const GOLDEN_DIGEST: &str = "c12345242db44465653a11f148540e15880fc02f81d5bd66030e8e034e8ceb0c";

fn defaults() -> IngestDefaults {
    IngestDefaults { tenant: None, source: "cli".into(), now_micros: 1_000_000 }
}

#[test]
fn json_telemetry_line_parses_with_defaults() {
    let line = r#"{"tenant":"acme","entity":"host-17","kind":"auth_failure","value":1.0,"event_time":"2026-11-01T12:00:00Z","attributes":{"source":"sshd"}}"#;
    let event = parse_event_json(EventType::Telemetry, line, &defaults()).expect("parse");
    let Event::Telemetry(t) = &event else { panic!("not telemetry") };
    assert_eq!(&*t.envelope.key, "host-17");
    assert_eq!(&*t.envelope.source, "cli");
    assert_eq!(t.envelope.event_time.to_rfc3339(), "2026-11-01T12:00:00.000000Z");
    assert_eq!(t.envelope.schema_version, 1);
    assert_eq!(t.attributes["source"], "sshd");
    let again = parse_event_json(EventType::Telemetry, line, &defaults()).expect("parse");
    assert_eq!(event.envelope().event_id, again.envelope().event_id, "the derived id is content-based");
    // The JSON form (plus log metadata) parses back to the same event.
    let mut printed = json::event_to_json(&event);
    printed["_offset"] = json!(5);
    let back = parse_event_json(EventType::Telemetry, &printed.to_string(), &defaults()).expect("round trip");
    assert_eq!(back, event);
}

#[test]
fn json_errors_name_the_field() {
    let d = defaults();
    let err = |line: &str| parse_event_json(EventType::Telemetry, line, &d).expect_err(line);
    let e = err(r#"{"tenant":"acme","entity":"h","kind":"k","value":"lots"}"#);
    assert_eq!(e.kind(), "invalid_field");
    assert!(e.to_string().starts_with("value: invalid type: string \"lots\""), "{e}");
    let e = err(r#"{"tenant":"acme","kind":"k","value":1}"#);
    assert_eq!(e.kind(), "missing_field");
    assert!(e.to_string().contains("entity"), "{e}");
    let e = err(r#"{"entity":"h","kind":"k","value":1}"#);
    assert!(e.to_string().contains("tenant"), "{e}");
    let e = err(r#"{"tenant":"acme","entity":"h","kind":"k","value":1,"colour":"red"}"#);
    assert!(e.to_string().contains("colour"), "{e}");
    let e = err(r#"{"tenant":"acme","entity":"h","kind":"k","value":1,"attributes":{"a":1}}"#);
    assert!(e.to_string().starts_with("attributes.a:"), "{e}");
    let e = err(r#"{"tenant":"acme","entity":"h","kind":"k","value":1,"event_time":"yesterday"}"#);
    assert!(e.to_string().starts_with("event_time:"), "{e}");
    let e = err(r#"{"tenant":"acme","entity":"","kind":"k","value":1}"#);
    assert_eq!(e.kind(), "invalid_value");
    assert_eq!(err("not json").kind(), "invalid_json");
    assert_eq!(err("[1,2]").kind(), "invalid_json");
    let e = err(r#"{"tenant":"acme","entity":"h","kind":"k","value":1,"event_id":"nope"}"#);
    assert!(e.to_string().starts_with("event_id:"), "{e}");
}

#[test]
fn json_forms_of_every_type_round_trip() {
    for ty in EventType::ALL {
        for seed in 0..20 {
            let mut event = random_event(ty, seed);
            // Inputs that validation refuses (empty names, scores out of range) are not what this
            // test is about; anything else must round-trip.
            match json::parse_event_json(ty, &json::event_to_json(&event).to_string(), &defaults()) {
                Err(e) if e.kind() == "invalid_value" => continue,
                _ => {}
            }
            event.envelope_mut().schema_version = ty.schema_version();
            let line = json::event_to_json(&event).to_string();
            let back = parse_event_json(ty, &line, &defaults()).expect("parse");
            assert_eq!(back, event, "{ty}");
        }
    }
}

#[test]
fn json_round_trip_covers_most_random_events() {
    let mut accepted = 0;
    for ty in EventType::ALL {
        for seed in 0..20 {
            let event = random_event(ty, seed);
            if json::parse_event_json(ty, &json::event_to_json(&event).to_string(), &defaults()).is_ok() {
                accepted += 1;
            }
        }
    }
    assert!(
        accepted > EventType::ALL.len() * 20 / 2,
        "only {accepted} of {} random events were valid",
        EventType::ALL.len() * 20
    );
}

#[test]
fn malformed_bodies_give_typed_errors() {
    use codec::{AvroError, decode};
    assert!(matches!(decode::<VexStatus>(&[8]), Err(AvroError::BadEnum { index: 4, symbols: 4, position: 0 })));
    assert!(matches!(decode::<VexStatus>(&[1]), Err(AvroError::BadEnum { index: -1, .. })));
    assert_eq!(decode::<VexStatus>(&[6]), Ok(VexStatus::UnderInvestigation));
    assert!(matches!(decode::<Option<String>>(&[4]), Err(AvroError::BadUnion { index: 2, position: 0 })));
    assert_eq!(decode::<Option<String>>(&[2, 2, b'a']), Ok(Some("a".to_string())));
    assert_eq!(decode::<String>(&[4, 0xff, 0xfe]), Err(AvroError::Utf8(1)));
    assert_eq!(decode::<String>(&[3]), Err(AvroError::BadLength { length: -2, position: 0 }));
    assert_eq!(decode::<i64>(&[0xff; 11]), Err(AvroError::BadVarint(0)));
    assert_eq!(decode::<i64>(&[0x80]), Err(AvroError::Truncated { position: 1, needed: 1 }));
    assert_eq!(decode::<i64>(&[2, 0]), Err(AvroError::TrailingBytes(1)));
    assert_eq!(
        decode::<i32>(&[0xfe, 0xff, 0xff, 0xff, 0x1f]).map_err(|e| matches!(e, AvroError::OutOfRange { .. })),
        Err(true)
    );
    assert_eq!(decode::<bool>(&[2]), Err(AvroError::BadBool { byte: 2, position: 0 }));
    assert_eq!(decode::<i64>(&[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), Ok(i64::MAX));
    assert_eq!(decode::<i64>(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), Ok(i64::MIN));
    // A huge array block count over a short input: an error, not an allocation.
    let mut bytes = Vec::new();
    codec::write_long(&mut bytes, i64::MAX);
    assert!(decode::<Vec<String>>(&bytes).is_err());
    codec::write_long(&mut bytes, i64::MIN);
    assert!(decode::<Vec<String>>(&bytes).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// The schema-evolution path (apache-avro reads and resolves, serde maps the value onto our types)
    /// reads every type, field for field.
    #[test]
    fn resolution_path_reads_every_type(seed in any::<u64>()) {
        for ty in EventType::ALL {
            let event = random_event(ty, seed ^ (ty as u64).wrapping_mul(0x5151_5151));
            let bytes = direct_bytes(&event);
            let read = catalog::resolve(9, ty, &schema_info(ty).schema, &bytes).expect("resolve");
            prop_assert_eq!(read, event);
        }
    }

    /// Varints round-trip for every i64.
    #[test]
    fn longs_round_trip(n in any::<i64>()) {
        let mut bytes = Vec::new();
        codec::write_long(&mut bytes, n);
        prop_assert!(bytes.len() <= 10);
        prop_assert_eq!(codec::decode::<i64>(&bytes), Ok(n));
    }
}

/// Hands out one schema per id, counting lookups.
struct Registry(std::collections::HashMap<u32, Schema>, std::cell::Cell<usize>);

impl WriterSchemas for Registry {
    fn writer_schema(&self, id: u32) -> Option<Schema> {
        self.1.set(self.1.get() + 1);
        self.0.get(&id).cloned()
    }
}

#[test]
fn registry_ids_of_current_schemas_take_the_direct_path_and_are_looked_up_once() {
    let ids: std::collections::HashMap<EventType, u32> =
        EventType::ALL.iter().enumerate().map(|(i, t)| (*t, 100 + i as u32)).collect();
    let external = EventCodec::with_ids(&ids);
    let registry =
        Registry(ids.iter().map(|(t, id)| (*id, schema_info(*t).schema.clone())).collect(), std::cell::Cell::new(0));
    let ours = EventCodec::new();
    for ty in EventType::ALL {
        for seed in 0..3 {
            let event = random_event(ty, seed);
            let framed = external.encode(&event).expect("encode");
            assert_eq!(u32::from_be_bytes([framed[1], framed[2], framed[3], framed[4]]), ids[&ty]);
            assert_eq!(external.decode(&framed, &NoWriterSchemas).expect("own ids"), event);
            assert_eq!(ours.decode(&framed, &registry).expect("registry ids"), event);
        }
    }
    assert_eq!(registry.1.get(), EventType::ALL.len(), "each writer schema is fetched once");
    // Clones share what was learnt.
    let framed = external.encode(&random_event(EventType::Verdict, 7)).expect("encode");
    ours.clone().decode(&framed, &NoWriterSchemas).expect("cached");
    let registered: Vec<_> = ours.schemas().collect();
    assert_eq!(registered.len(), EventType::ALL.len());
    for (ty, id, schema, text) in registered {
        assert_eq!(id, schema_info(ty).default_id);
        assert_eq!(Schema::parse_str(text).expect("parses"), *schema);
    }
}

#[test]
fn foreign_and_broken_writer_data_are_clear_errors() {
    let codec = EventCodec::new();
    let foreign =
        Schema::parse_str(r#"{"type":"record","name":"Telemetry","namespace":"acme","fields":[]}"#).expect("schema");
    let registry =
        Registry([(5, foreign), (6, Schema::parse_str(TELEMETRY_V0).expect("old"))].into(), Default::default());
    let mut framed = Vec::new();
    wire::frame(5, b"", &mut framed);
    match codec.decode(&framed, &registry) {
        Err(CodecError::ForeignSchema { id: 5, name }) => assert_eq!(name, "acme.Telemetry"),
        other => panic!("{other:?}"),
    }
    // Old-schema data with a byte too many, and cut short.
    let Event::Telemetry(t) = telemetry() else { unreachable!() };
    let mut body = Vec::new();
    codec::encode_into(&(&t.envelope, &t.entity, &t.kind, t.value, &t.attributes), &mut body).expect("encode");
    framed.clear();
    wire::frame(6, &body, &mut framed);
    let Event::Telemetry(read) = codec.decode(&framed, &registry).expect("old data") else { panic!("type") };
    assert_eq!(read, t);
    framed.push(0);
    let err = codec.decode(&framed, &registry).expect_err("trailing");
    assert!(matches!(err, CodecError::Avro { source: codec::AvroError::TrailingBytes(1), .. }), "{err:?}");
    framed.truncate(framed.len() - 3);
    assert!(codec.decode(&framed, &registry).is_err());
    for cut in 0..framed.len() {
        let _ = codec.decode(&framed[..cut], &registry);
    }
}

/// Throughput of the direct path for Telemetry (run with
/// `cargo test -p trustloop-schemas --release -- --ignored --nocapture throughput`).
#[test]
#[ignore = "timing; run in release"]
fn telemetry_codec_throughput() {
    let codec = EventCodec::new();
    let events: Vec<Event> = (0..100_000u64)
        .map(|i| {
            let mut e = telemetry();
            if let Event::Telemetry(t) = &mut e {
                t.entity = format!("host-{:05}", i % 10_000);
                t.envelope.key = t.entity.as_str().into();
                t.envelope.event_id = derive_event_id("bench", &[&i.to_be_bytes()]);
                t.attributes.insert("site".into(), "dc-1".into());
            }
            e
        })
        .collect();
    let mut buf = Vec::with_capacity(256);
    let start = std::time::Instant::now();
    let mut bytes = 0;
    for e in &events {
        buf.clear();
        codec.encode_into(e, &mut buf).expect("encode");
        bytes += buf.len();
    }
    let encode = start.elapsed();
    let framed: Vec<Vec<u8>> = events.iter().map(|e| codec.encode(e).expect("encode")).collect();
    let start = std::time::Instant::now();
    for b in &framed {
        std::hint::black_box(codec.decode(b, &NoWriterSchemas).expect("decode"));
    }
    let decode = start.elapsed();
    let rate = |d: std::time::Duration| events.len() as f64 / d.as_secs_f64() / 1e6;
    println!(
        "Telemetry ({} bytes framed): encode {:.2} M events/s, decode {:.2} M events/s",
        bytes / events.len(),
        rate(encode),
        rate(decode)
    );
}

/// CRC-64-AVRO, straight from the Avro specification, to check the ids independently of apache-avro.
fn spec_fingerprint64(buf: &[u8]) -> u64 {
    const EMPTY: u64 = 0xc15d_213a_a4d7_a795;
    let table: Vec<u64> =
        (0..256u64).map(|i| (0..8).fold(i, |fp, _| (fp >> 1) ^ (EMPTY & (fp & 1).wrapping_neg()))).collect();
    buf.iter().fold(EMPTY, |fp, b| (fp >> 8) ^ table[((fp ^ u64::from(*b)) & 0xff) as usize])
}

#[test]
fn default_ids_are_the_low_31_bits_of_the_rabin_fingerprint() {
    for ty in EventType::ALL {
        let info = schema_info(ty);
        assert_eq!(info.canonical, info.schema.canonical_form());
        assert!(info.canonical.starts_with(&format!(r#"{{"name":"trustloop.{}","type":"record""#, ty.name())));
        let fp = spec_fingerprint64(info.canonical.as_bytes());
        assert_eq!(info.fingerprint, fp.to_le_bytes(), "{ty}");
        assert_eq!(u64::from(info.default_id), fp & 0x7fff_ffff, "{ty}");
        assert_eq!(EventCodec::new().schema_id(ty), info.default_id);
    }
}

#[test]
fn codec_is_send_sync_and_cheap_to_clone() {
    fn send_sync<T: Send + Sync + Clone>() {}
    send_sync::<EventCodec>();
    send_sync::<Event>();
}

#[test]
fn json_defaults_fill_the_envelope() {
    let d = IngestDefaults { tenant: Some("acme".into()), source: "cli".into(), now_micros: 1_793_534_400_000_000 };
    let line = r#"{"release_name":"shop","release_version":"1.2.0","format":"cargo_lock",
        "components":[{"purl":"pkg:cargo/serde@1.0.0","ecosystem":"crates.io","name":"serde","version":"1.0.0"}],
        "_topic":"inventory","_partition":0}"#;
    let event = parse_event_json(EventType::ReleaseInventory, line, &d).expect("parse");
    let env = event.envelope();
    assert_eq!((&*env.tenant, &*env.key, &*env.source), ("acme", "shop@1.2.0", "cli"));
    assert_eq!(env.event_time.to_rfc3339(), "2026-11-01T12:00:00.000000Z");
    assert_eq!(env.schema_version, EventType::ReleaseInventory.schema_version());
    assert_eq!(env.event_id.0.get_version_num(), 8);
    let json = json::event_to_json(&event);
    for name in ["event_id", "tenant", "key", "event_time", "source", "schema_version", "release_name"] {
        assert!(json.get(name).is_some(), "{name} is at the top level");
    }
    assert!(json.get("envelope").is_none());
    assert_eq!(json["event_time"], "2026-11-01T12:00:00.000000Z");

    // An explicit key and id are kept; another time gives another derived id.
    let explicit = r#"{"tenant":"t","key":"k","event_id":"01234567-89ab-cdef-0123-456789abcdef","source_topic":"telemetry",
        "error_kind":"invalid_json","reason":"bad","payload":"{oops"}"#;
    let Event::DeadLetter(dl) = parse_event_json(EventType::DeadLetter, explicit, &d).expect("parse") else {
        panic!("type")
    };
    assert_eq!(&*dl.envelope.key, "k");
    assert_eq!(dl.envelope.event_id.to_string(), "01234567-89ab-cdef-0123-456789abcdef");
    assert_eq!(dl.payload, b"{oops");
    let later = IngestDefaults { now_micros: d.now_micros + 1, ..d.clone() };
    let again = parse_event_json(EventType::ReleaseInventory, line, &later).expect("parse");
    assert_ne!(again.envelope().event_id, env.event_id);

    let nested = r#"{"envelope":{},"entity":"h","kind":"k","value":1}"#;
    assert_eq!(parse_event_json(EventType::Telemetry, nested, &d).expect_err("nested").kind(), "invalid_field");
    let score = r#"{"entity":"h","score":101,"features":[],"policy_digest":"x"}"#;
    let e = parse_event_json(EventType::TrustScore, score, &d).expect_err("range");
    assert_eq!(e.kind(), "invalid_value");
    assert!(e.to_string().starts_with("score:"), "{e}");
    let nested_err = r#"{"release_name":"a","release_version":"1","format":"spdx","components":[{"purl":"p"}]}"#;
    let e = parse_event_json(EventType::ReleaseInventory, nested_err, &d).expect_err("missing");
    assert_eq!(e.kind(), "missing_field");
    assert!(e.to_string().starts_with("components[0]: missing field `ecosystem`"), "{e}");
}

/// Inventories, findings and advisories written with their older schemas (kept in `avro/history/`)
/// are read by today's codec, every new field at its schema default.
#[test]
fn version_1_inventories_and_findings_are_read_with_defaults() {
    let old = Schema::parse_str(include_str!("../avro/history/release_inventory.v1.avsc")).expect("v1 schema");
    let envelope = json!({"event_id": "5f0c7d2a-8e8b-4f0e-9a3e-2f6f1b7c9d10", "tenant": "acme", "key": "app@1",
        "event_time": 1_700_000_000_000_000_i64, "source": "cyclonedx:bom.json", "schema_version": 1});
    let v1 = json!({"envelope": envelope, "release_name": "app", "release_version": "1", "environment": null,
        "format": "cyclonedx", "document_digest": null,
        "components": [{"purl": "pkg:deb/debian/openssl@3.0.11-1", "ecosystem": "Debian", "name": "openssl",
                        "version": "3.0.11-1", "scope": null}]});
    let value = apache_avro::to_value(&v1).expect("value").resolve(&old).expect("resolve v1");
    let body = apache_avro::to_avro_datum(&old, value).expect("encode v1");
    let mut framed = Vec::new();
    wire::frame(91, &body, &mut framed);
    let read = EventCodec::new().decode(&framed, &OldSchemas(91, old)).expect("v1 inventory read");
    let Event::ReleaseInventory(inv) = read else { panic!("not an inventory: {read:?}") };
    assert_eq!(inv.envelope.schema_version, 1, "the envelope keeps the version it was written with");
    assert_eq!((inv.os, inv.left_out.len()), (None, 0));
    let c = &inv.components[0];
    assert_eq!((c.name.as_str(), c.version.as_str()), ("openssl", "3.0.11-1"));
    assert!(c.hashes.is_empty() && c.licenses.is_empty() && c.depends_on.is_empty());
    assert_eq!((c.direct, c.distro_release.as_deref(), c.location.as_deref()), (None, None, None));

    let finding_v1 = include_str!("../avro/history/finding.v1.avsc");
    let finding_v2 = include_str!("../avro/history/finding.v2.avsc");
    let finding_v3 = include_str!("../avro/history/finding.v3.avsc");
    let finding_v4 = include_str!("../avro/history/finding.v4.avsc");
    let advisory_v1 = include_str!("../avro/history/advisory.v1.avsc");
    let inventory_v2 = include_str!("../avro/history/release_inventory.v2.avsc");
    let action_v1 = include_str!("../avro/history/enforcement_action.v1.avsc");
    let result_v1 = include_str!("../avro/history/enforcement_result.v1.avsc");
    const V5: [&str; 3] = ["vulnerability_id", "sources", "disagreements"];
    let v4: Vec<&str> = ["scope", "direct", "licenses", "cwes"].into_iter().chain(V5).collect();
    let v1: Vec<&str> = ["distro_release", "release_unknown", "cves", "exploited_ids", "epss", "epss_percentile"]
        .into_iter()
        .chain(v4.iter().copied())
        .collect();
    let v2: Vec<&str> =
        ["cves", "exploited_ids", "epss", "epss_percentile"].into_iter().chain(v4.iter().copied()).collect();
    for (n, (ty, old, new_fields)) in [
        (EventType::Finding, finding_v1, &v1[..]),
        (EventType::Finding, finding_v2, &v2[..]),
        (EventType::Finding, finding_v3, &v4[..]),
        (EventType::Finding, finding_v4, &V5[..]),
        (EventType::Advisory, advisory_v1, &["upstream"][..]),
        (EventType::ReleaseInventory, inventory_v2, &["labels"][..]),
        (EventType::EnforcementAction, action_v1, &["workflow", "step"][..]),
        (EventType::EnforcementResult, result_v1, &["execution"][..]),
    ]
    .into_iter()
    .enumerate()
    {
        let old = Schema::parse_str(old).expect("old schema");
        let mut event = random_event(ty, 7);
        match &mut event {
            Event::Finding(f) => {
                if new_fields.contains(&"distro_release") {
                    f.distro_release = None;
                    f.release_unknown = false;
                }
                if new_fields.contains(&"cves") {
                    f.cves = Default::default();
                    f.exploited_ids = Default::default();
                    f.epss = None;
                    f.epss_percentile = None;
                }
                if new_fields.contains(&"scope") {
                    // What a version-3 writer could not write reads as the v4 defaults.
                    f.scope = None;
                    f.direct = None;
                    f.licenses = Default::default();
                    f.cwes = Default::default();
                }
                // Nor could any writer before version 5 write the vulnerability and its sources.
                f.vulnerability_id = Default::default();
                f.sources = Default::default();
                f.disagreements = Default::default();
                assert_eq!(f.vulnerability(), &*f.advisory_id, "an old finding is identified by its advisory");
            }
            Event::Advisory(a) => a.upstream.clear(),
            Event::ReleaseInventory(r) => r.labels.clear(),
            // Version 1 had no `rollback` kind and no workflow calls; what it wrote reads unchanged.
            Event::EnforcementAction(a) => {
                if a.kind == ActionKind::Rollback {
                    a.kind = ActionKind::Notify;
                }
                a.workflow = None;
                a.step = None;
            }
            Event::EnforcementResult(r) => r.execution = None,
            other => panic!("unexpected {other:?}"),
        }
        apache_avro::util::set_serde_human_readable(false);
        let value = with_event!(&event, e => apache_avro::to_value(e).expect("value"));
        let value = match value {
            apache_avro::types::Value::Record(fields) => apache_avro::types::Value::Record(
                fields.into_iter().filter(|(name, _)| !new_fields.contains(&name.as_str())).collect(),
            ),
            other => panic!("not a record: {other:?}"),
        };
        let value = value.resolve(&old).expect("resolve old");
        let body = apache_avro::to_avro_datum(&old, value).expect("encode old");
        let mut framed = Vec::new();
        let id = 92 + n as u32;
        wire::frame(id, &body, &mut framed);
        let read = EventCodec::new().decode(&framed, &OldSchemas(id, old)).expect("old event read");
        assert_eq!(read, event, "{ty} written with an older schema (case {n})");
    }
}
