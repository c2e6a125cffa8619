//! Borrowed views of events: the fields of an event read straight out of its Avro bytes, strings
//! borrowed, nothing allocated — for scans that need a few columns of many events (SQL). A view reads
//! only events written with the current schema of their type; others take the full decode.

use crate::codec::{AvroError, Decoder};
use crate::{EventCodec, EventType, wire};

/// The envelope, borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
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

impl<'a> EnvelopeView<'a> {
    fn read(d: &mut Decoder<'a>) -> Result<EnvelopeView<'a>, AvroError> {
        Ok(EnvelopeView {
            event_id: d.str()?,
            tenant: d.str()?,
            key: d.str()?,
            event_time: d.long()?,
            source: d.str()?,
            schema_version: d.int("int")?,
        })
    }
}

/// A `Telemetry` event, borrowed (its attributes read past — and checked — but not kept).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TelemetryView<'a> {
    /// The envelope.
    pub envelope: EnvelopeView<'a>,
    /// The entity.
    pub entity: &'a str,
    /// The kind of sample.
    pub kind: &'a str,
    /// Its value.
    pub value: f64,
    /// Unit.
    pub unit: Option<&'a str>,
}

impl<'a> TelemetryView<'a> {
    /// Reads the Avro body of a `Telemetry` event written with the current schema — every field in
    /// schema order, by hand rather than through serde (this is the inner loop of SQL scans). The
    /// framing is checked as the full decode checks it (lengths, UTF-8, union branch, no trailing
    /// bytes); the event id is kept as text, not parsed.
    pub fn decode(body: &'a [u8]) -> Result<TelemetryView<'a>, AvroError> {
        let mut d = Decoder::new(body);
        let envelope = EnvelopeView::read(&mut d)?;
        let entity = d.str()?;
        let kind = d.str()?;
        let value = d.double()?;
        loop {
            let n = d.block_count()?;
            if n == 0 {
                break;
            }
            for _ in 0..n {
                d.str()?;
                d.str()?;
            }
        }
        let unit = match d.union_branch(2)? {
            0 => None,
            _ => Some(d.str()?),
        };
        d.end()?;
        Ok(TelemetryView { envelope, entity, kind, value, unit })
    }
}

impl EventCodec {
    /// The telemetry event in `bytes` (Confluent-framed) as a borrowed view, if it was written with
    /// the current `Telemetry` schema (`None` otherwise: decode it in full).
    pub fn telemetry_view<'a>(&self, bytes: &'a [u8]) -> Option<Result<TelemetryView<'a>, AvroError>> {
        let (id, body) = wire::unframe(bytes).ok()?;
        (id == self.schema_id(EventType::Telemetry)).then(|| TelemetryView::decode(body))
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
        // Truncated or with bytes left over: an error, never a view.
        assert!(codec.telemetry_view(&bytes[..bytes.len() - 1]).expect("current schema").is_err());
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(matches!(codec.telemetry_view(&longer), Some(Err(AvroError::TrailingBytes(1)))));
    }

    #[test]
    fn a_view_reads_past_any_number_of_attributes() {
        let codec = EventCodec::new();
        for n in [0usize, 1, 7, 300] {
            let event = Event::Telemetry(Telemetry {
                envelope: Envelope {
                    event_id: EventId(uuid::Uuid::from_u128(n as u128)),
                    tenant: "t".into(),
                    key: "k".into(),
                    event_time: EventTime::from_micros(-5),
                    source: "s".into(),
                    schema_version: 1,
                },
                entity: "e".into(),
                kind: "ü-kind".into(),
                value: f64::from(n as u32),
                attributes: (0..n).map(|i| (format!("k{i}"), "v".repeat(i % 5))).collect(),
                unit: None,
            });
            let bytes = codec.encode(&event).expect("encode");
            let v = codec.telemetry_view(&bytes).expect("current schema").expect("decodes");
            assert_eq!((v.kind, v.value, v.unit, v.envelope.event_time), ("ü-kind", n as f64, None, -5));
        }
    }
}
