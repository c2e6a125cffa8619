//! Codec throughput: Telemetry events encoded to / decoded from Confluent-framed Avro, one core.
//!
//! `cargo bench -p trustloop-benches --bench codec`

use trustloop_benches::measure;
use trustloop_schemas::{
    Envelope, Event, EventCodec, EventTime, EventType, NoWriterSchemas, Telemetry, derive_event_id,
};

fn sample(i: u64) -> Event {
    let entity = format!("host-{:05}", i % 10_000);
    Event::Telemetry(Telemetry {
        envelope: Envelope {
            event_id: derive_event_id("bench", &[&i.to_be_bytes()]),
            tenant: "acme".into(),
            key: entity.as_str().into(),
            event_time: EventTime::from_micros(1_793_534_400_000_000 + i as i64),
            source: "bench".into(),
            schema_version: EventType::Telemetry.schema_version(),
        },
        entity,
        kind: if i.is_multiple_of(7) { "auth_failure".into() } else { "heartbeat".into() },
        value: (i % 13) as f64,
        attributes: [("site".to_string(), "dc-1".to_string()), ("sensor".to_string(), "agent".to_string())]
            .into_iter()
            .collect(),
        unit: None,
    })
}

fn main() {
    let codec = EventCodec::new();
    let events: Vec<Event> = (0..10_000).map(sample).collect();
    let mut buf = Vec::with_capacity(256);
    let encoded: Vec<Vec<u8>> = events.iter().map(|e| codec.encode(e).expect("encode")).collect();
    let bytes_per_event = encoded.iter().map(Vec::len).sum::<usize>() / encoded.len();
    println!("codec: Telemetry, {bytes_per_event} bytes per framed event, batches of {}", events.len());
    measure("codec encode (Event → framed Avro)", events.len() as u64, || {
        let mut bytes = 0;
        for e in &events {
            buf.clear();
            codec.encode_into(e, &mut buf).expect("encode");
            bytes += buf.len() as u64;
        }
        bytes
    });
    measure("codec decode (framed Avro → Event)", encoded.len() as u64, || {
        let mut bytes = 0;
        for b in &encoded {
            let e = codec.decode(b, &NoWriterSchemas).expect("decode");
            std::hint::black_box(&e);
            bytes += b.len() as u64;
        }
        bytes
    });
}
