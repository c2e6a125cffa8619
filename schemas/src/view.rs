//! Borrowed views of events: the fields of an event read straight out of its Avro bytes, strings
//! borrowed, nothing allocated — for scans that need a few columns of many events (SQL). A view reads
//! only events written with the current schema of their type; others take the full decode.

use serde::Deserialize;

use crate::codec::{AvroError, decode};
use crate::{EventCodec, EventType, wire};

/// The envelope, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct EnvelopeView<'a> {
    /// Event id (text).
    pub event_id: &'a str,
    /// Tenant.
    pub tenant: &'a str,
    /// Partitioning key.
    pub key: &'a str,
    /// Event time, UTC microseconds.
    pub event_time: i64,
    /// Producer.
    pub source: &'a str,
    /// Schema version.
    pub schema_version: i32,
}

/// A `Telemetry` event, borrowed (its attributes skipped).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct TelemetryView<'a> {
    /// The envelope.
    #[serde(borrow)]
    pub envelope: EnvelopeView<'a>,
    /// The entity.
    pub entity: &'a str,
    /// The kind of sample.
    pub kind: &'a str,
    /// Its value.
    pub value: f64,
    /// Attributes: read past, not kept.
    pub attributes: Skipped,
    /// Unit.
    pub unit: Option<&'a str>,
}

/// A map of strings read past without keeping anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Skipped;

impl<'de> Deserialize<'de> for Skipped {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Skipped, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Skipped;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of strings")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Skipped, M::Error> {
                while map.next_entry::<&'de str, &'de str>()?.is_some() {}
                Ok(Skipped)
            }
        }
        d.deserialize_map(V)
    }
}

impl EventCodec {
    /// The telemetry event in `bytes` (Confluent-framed) as a borrowed view, if it was written with
    /// the current `Telemetry` schema (`None` otherwise: decode it in full).
    pub fn telemetry_view<'a>(&self, bytes: &'a [u8]) -> Option<Result<TelemetryView<'a>, AvroError>> {
        let (id, body) = wire::unframe(bytes).ok()?;
        (self.event_type_of(id) == Some(EventType::Telemetry)).then(|| decode::<TelemetryView<'a>>(body))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::{Envelope, Event, EventId, EventTime, Telemetry};

    use super::*;

    #[test]
    fn a_view_reads_what_the_full_decode_reads() {
        let codec = EventCodec::new();
        let event = Event::Telemetry(Telemetry {
            envelope: Envelope {
                event_id: EventId(uuid::Uuid::from_u128(42)),
                tenant: "acme".into(),
                key: "host-1".into(),
                event_time: EventTime::from_micros(1_700_000_000_000_000),
                source: "test".into(),
                schema_version: 1,
            },
            entity: "host-1".into(),
            kind: "cpu_load".into(),
            value: 0.42,
            attributes: BTreeMap::from([("release".into(), "shop@1".into()), ("zone".into(), "eu".into())]),
            unit: Some("ratio".into()),
        });
        let bytes = codec.encode(&event).expect("encode");
        let view = codec.telemetry_view(&bytes).expect("current schema").expect("decodes");
        assert_eq!(view.envelope.event_id, EventId(uuid::Uuid::from_u128(42)).to_string());
        assert_eq!((view.envelope.tenant, view.envelope.key, view.envelope.source), ("acme", "host-1", "test"));
        assert_eq!((view.envelope.event_time, view.envelope.schema_version), (1_700_000_000_000_000, 1));
        assert_eq!((view.entity, view.kind, view.value, view.unit), ("host-1", "cpu_load", 0.42, Some("ratio")));
        // Another event type, or garbage: no view.
        let other = Event::DeadLetter(crate::DeadLetter {
            envelope: Envelope { source: "x".into(), ..event.envelope().clone() },
            source_topic: "t".into(),
            source_partition: None,
            source_offset: None,
            line: None,
            error_kind: "e".into(),
            reason: "r".into(),
            payload: vec![],
        });
        assert!(codec.telemetry_view(&codec.encode(&other).expect("encode")).is_none());
        assert!(codec.telemetry_view(b"\\x00garbage").is_none_or(|r| r.is_err()));
    }
}
