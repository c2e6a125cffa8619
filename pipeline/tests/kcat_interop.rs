//! Interop with a real Kafka client: Debian's `kcat` (librdkafka's CLI) reads the Confluent-framed
//! Avro that `trustloop produce` wrote to a broker, and `trustloop consume` reads framed events that
//! kcat produced from a file — against librdkafka's mock cluster and against Tansu, both on
//! 127.0.0.1.

use std::process::{Command, Output};

use trustloop_schemas::{Envelope, Event, EventCodec, EventId, EventTime, EventType, NoWriterSchemas, Telemetry};

mod support;

/// A broker for one test: the mock cluster (topics provisioned through its own API) or Tansu (one
/// record per producer batch; see the broker-gap tests).
enum Broker {
    Mock(trustloop_e2e::MockKafka),
    Tansu(trustloop_e2e::TansuBroker),
}

impl Broker {
    fn mock() -> Broker {
        let kafka = trustloop_e2e::MockKafka::start().expect("mock cluster");
        kafka.provision_trustloop_topics(1).expect("provision");
        Broker::Mock(kafka)
    }
    fn tansu() -> Broker {
        Broker::Tansu(trustloop_e2e::TansuBroker::start().expect("tansu"))
    }
    fn brokers(&self) -> String {
        match self {
            Broker::Mock(k) => k.bootstrap_servers(),
            Broker::Tansu(t) => t.bootstrap_servers(),
        }
    }
    fn extra(&self) -> Vec<&'static str> {
        match self {
            Broker::Mock(_) => vec![],
            Broker::Tansu(_) => vec!["-X", "batch.num.messages=1"],
        }
    }
}

fn trustloop(broker: &Broker, args: &[&str], stdin: &str) -> Output {
    let brokers = broker.brokers();
    support::output(
        support::cli().args(["--brokers", &brokers, "--partitions", "1"]).args(broker.extra()).args(args),
        stdin,
    )
}

fn kcat() -> std::path::PathBuf {
    trustloop_e2e::kcat_bin().expect("kcat is not installed (Debian package `kcat`); `cargo xtask test` installs it")
}

/// Splits kcat `-f '%R%s'` output: each message as a 4-byte big-endian length, then the bytes.
fn split_frames(mut out: &[u8]) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    while out.len() >= 4 {
        let len = i32::from_be_bytes([out[0], out[1], out[2], out[3]]);
        out = &out[4..];
        let len = usize::try_from(len).expect("non-null payload");
        frames.push(out[..len].to_vec());
        out = &out[len..];
    }
    assert!(out.is_empty(), "trailing bytes in kcat output");
    frames
}

#[test]
#[ignore = "needs kcat (Debian package kcat): run `cargo xtask test`, which installs it"]
fn kcat_reads_what_trustloop_produced_mock() {
    kcat_reads_what_trustloop_produced(&Broker::mock());
}

#[test]
#[ignore = "needs kcat and the Tansu broker: run `cargo xtask test`, which installs them"]
fn kcat_reads_what_trustloop_produced_tansu() {
    kcat_reads_what_trustloop_produced(&Broker::tansu());
}

#[test]
#[ignore = "needs kcat (Debian package kcat): run `cargo xtask test`, which installs it"]
fn kcat_produced_framed_events_are_consumed_mock() {
    kcat_produced_framed_events_are_consumed(&Broker::mock());
}

#[test]
#[ignore = "needs kcat and the Tansu broker: run `cargo xtask test`, which installs them"]
fn kcat_produced_framed_events_are_consumed_tansu() {
    kcat_produced_framed_events_are_consumed(&Broker::tansu());
}

fn kcat_reads_what_trustloop_produced(broker: &Broker) {
    let brokers = broker.brokers();
    let lines = r#"{"tenant":"acme","entity":"host-17","kind":"auth_failure","value":1.0,"event_time":"2026-11-01T12:00:00Z","attributes":{"source":"sshd"}}
{"tenant":"acme","entity":"host-18","kind":"heartbeat","value":1.0,"event_time":"2026-11-01T12:00:01Z"}"#;
    let produced = trustloop(broker, &["produce", "--topic", "telemetry"], lines);
    assert!(produced.status.success(), "{}", String::from_utf8_lossy(&produced.stderr));

    let out = Command::new(kcat())
        .args(["-C", "-b", &brokers, "-t", "telemetry", "-o", "beginning", "-e", "-q", "-f", "%R%s"])
        .output()
        .expect("run kcat");
    assert!(out.status.success(), "kcat: {}", String::from_utf8_lossy(&out.stderr));
    let frames = split_frames(&out.stdout);
    assert_eq!(frames.len(), 2, "kcat sees both events");

    let codec = EventCodec::new();
    let telemetry_id = codec.schema_id(EventType::Telemetry);
    let mut entities = Vec::new();
    for frame in &frames {
        assert_eq!(frame[0], 0, "Confluent magic byte");
        let id = u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]);
        assert_eq!(id, telemetry_id, "Confluent schema id of the Telemetry schema");
        // The body is plain Avro binary: apache-avro reads it with the published .avsc.
        let schema = apache_avro::Schema::parse_str(EventType::Telemetry.avsc()).expect("avsc");
        let value = apache_avro::from_avro_datum(&schema, &mut &frame[5..], None).expect("standard Avro body");
        let apache_avro::types::Value::Record(fields) = value else { panic!("not a record") };
        let entity = fields.iter().find(|(n, _)| n == "entity").map(|(_, v)| v.clone());
        entities.push(format!("{entity:?}"));
    }
    assert!(entities.iter().any(|e| e.contains("host-17")), "{entities:?}");
    assert!(entities.iter().any(|e| e.contains("host-18")), "{entities:?}");

    let keys = Command::new(kcat())
        .args(["-C", "-b", &brokers, "-t", "telemetry", "-o", "beginning", "-e", "-q", "-f", "%k\n"])
        .output()
        .expect("run kcat");
    let keys = String::from_utf8_lossy(&keys.stdout);
    assert!(keys.lines().any(|k| k == "host-17"), "the record key is the entity: {keys}");
}

fn kcat_produced_framed_events_are_consumed(broker: &Broker) {
    let brokers = broker.brokers();
    // Create the topics (and register the schemas) the way any trustloop command does.
    let topics = trustloop(broker, &["topics"], "");
    assert!(topics.status.success(), "{}", String::from_utf8_lossy(&topics.stderr));

    let codec = EventCodec::new();
    let event = Event::Telemetry(Telemetry {
        envelope: Envelope {
            event_id: EventId::from(uuid::Uuid::from_u128(0x1234)),
            tenant: "acme".into(),
            key: "host-9".into(),
            event_time: EventTime::from_micros(1_793_534_400_000_000),
            source: "kcat".into(),
            schema_version: EventType::Telemetry.schema_version(),
        },
        entity: "host-9".into(),
        kind: "ids_alert".into(),
        value: 2.0,
        attributes: [("sensor".to_string(), "suricata".to_string())].into_iter().collect(),
        unit: None,
    });
    let framed = codec.encode(&event).expect("encode");
    // Check our own bytes decode before handing them to kcat.
    assert_eq!(codec.decode(&framed, &NoWriterSchemas).expect("decode"), event);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("event.avro");
    std::fs::write(&file, &framed).expect("write");
    let out = Command::new(kcat())
        .args(["-P", "-b", &brokers, "-t", "telemetry", "-p", "0", "-k", "host-9"])
        .arg(&file)
        .output()
        .expect("run kcat");
    assert!(out.status.success(), "kcat -P: {}", String::from_utf8_lossy(&out.stderr));

    let consumed = trustloop(broker, &["consume", "--topic", "telemetry", "--from-beginning"], "");
    assert!(consumed.status.success(), "{}", String::from_utf8_lossy(&consumed.stderr));
    let stdout = String::from_utf8_lossy(&consumed.stdout);
    let events: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert_eq!(events.len(), 1, "{stdout}");
    assert_eq!(events[0]["entity"], "host-9");
    assert_eq!(events[0]["kind"], "ids_alert");
    assert_eq!(events[0]["source"], "kcat");
    assert_eq!(events[0]["attributes"]["sensor"], "suricata");
    assert_eq!(events[0]["event_id"], "00000000-0000-0000-0000-000000001234");
}
