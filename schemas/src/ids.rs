//! Envelope value types: event ids and event times.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An event's id: a UUID. Ingested events get one derived from their content; derived events one
/// derived from their inputs ([`crate::derive_event_id`]) — never a random one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(pub uuid::Uuid);

impl From<uuid::Uuid> for EventId {
    fn from(u: uuid::Uuid) -> Self {
        EventId(u)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl std::str::FromStr for EventId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(EventId)
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = uuid::Uuid::encode_buffer();
        s.serialize_str(self.0.hyphenated().encode_lower(&mut buf))
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = EventId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a UUID string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EventId, E> {
                uuid::Uuid::parse_str(v).map(EventId).map_err(|e| E::custom(format!("invalid UUID `{v}`: {e}")))
            }
        }
        d.deserialize_str(V)
    }
}

/// A point in time: microseconds since the Unix epoch, UTC. Event time is when a thing happened; all
/// decisions use it, never a wall clock.
///
/// In Avro it is a `long` (`timestamp-micros`); in JSON an RFC 3339 string with six fractional digits
/// and `Z` (any RFC 3339 offset is accepted on input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventTime(i64);

impl EventTime {
    /// From microseconds since the epoch.
    pub const fn from_micros(micros: i64) -> Self {
        EventTime(micros)
    }
    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }
    /// Parses an RFC 3339 timestamp (any offset) into UTC microseconds.
    pub fn parse_rfc3339(s: &str) -> Result<Self, String> {
        let t = chrono::DateTime::parse_from_rfc3339(s)
            .map_err(|e| format!("`{s}` is not an RFC 3339 timestamp ({e}), e.g. 2026-11-01T12:00:00Z"))?;
        Ok(EventTime(t.timestamp_micros()))
    }
    /// RFC 3339 with microseconds and `Z`, e.g. `2026-11-01T12:00:00.000000Z`. Times outside the
    /// years 0000–9999, which RFC 3339 cannot express, come out as the bare microsecond count.
    pub fn to_rfc3339(self) -> String {
        match self.rfc3339_representable() {
            Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            None => self.0.to_string(),
        }
    }

    fn rfc3339_representable(self) -> Option<chrono::DateTime<chrono::Utc>> {
        use chrono::Datelike;
        chrono::DateTime::from_timestamp_micros(self.0).filter(|t| (0..=9999).contains(&t.year()))
    }
}

impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for EventTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if !s.is_human_readable() {
            return s.serialize_i64(self.0);
        }
        match self.rfc3339_representable() {
            Some(t) => s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
            // Beyond RFC 3339's years: the microsecond count, which the reader accepts too.
            None => s.serialize_i64(self.0),
        }
    }
}

impl<'de> Deserialize<'de> for EventTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = EventTime;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp or microseconds since the epoch")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EventTime, E> {
                EventTime::parse_rfc3339(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<EventTime, E> {
                Ok(EventTime(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<EventTime, E> {
                i64::try_from(v).map(EventTime).map_err(|_| E::custom("timestamp out of range"))
            }
        }
        if d.is_human_readable() { d.deserialize_any(V) } else { d.deserialize_i64(V) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_round_trips_through_rfc3339() {
        let t = EventTime::parse_rfc3339("2026-11-01T12:00:00Z").expect("parse");
        assert_eq!(t.to_rfc3339(), "2026-11-01T12:00:00.000000Z");
        let offset = EventTime::parse_rfc3339("2026-11-01T14:00:00.5+02:00").expect("parse");
        assert_eq!(offset.to_rfc3339(), "2026-11-01T12:00:00.500000Z");
        assert!(EventTime::parse_rfc3339("yesterday").is_err());
        assert_eq!(EventTime::from_micros(0).to_rfc3339(), "1970-01-01T00:00:00.000000Z");
        assert_eq!(EventTime::from_micros(-1).to_rfc3339(), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn json_form_is_rfc3339_with_micros_and_z() {
        let t = EventTime::from_micros(1_793_534_400_000_000);
        assert_eq!(serde_json::to_string(&t).expect("json"), "\"2026-11-01T12:00:00.000000Z\"");
        let back: EventTime = serde_json::from_str("\"2026-11-01T13:00:00+01:00\"").expect("json");
        assert_eq!(back, t);
        let micros: EventTime = serde_json::from_str("1793534400000000").expect("json");
        assert_eq!(micros, t);
        // Outside RFC 3339's years the JSON form is the microsecond count, and still round-trips.
        for far in [i64::MAX, i64::MIN, 300_000_000_000_000_000, -62_167_219_200_000_001] {
            let t = EventTime::from_micros(far);
            let json = serde_json::to_string(&t).expect("json");
            assert_eq!(json, far.to_string());
            assert_eq!(serde_json::from_str::<EventTime>(&json).expect("json"), t);
        }
    }

    #[test]
    fn event_ids_are_hyphenated_strings() {
        let id = EventId(uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef));
        let json = serde_json::to_string(&id).expect("json");
        assert_eq!(json, "\"01234567-89ab-cdef-0123-456789abcdef\"");
        assert_eq!(serde_json::from_str::<EventId>(&json).expect("json"), id);
        assert_eq!(id.to_string().parse::<EventId>().expect("parse"), id);
        assert!(serde_json::from_str::<EventId>("\"nope\"").is_err());
    }
}
