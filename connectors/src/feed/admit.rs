//! Admission: what the runtime does with a record before an operator sees it. One function, used by
//! the runtime and by replay, so a replay feeds an operator exactly what the live run fed it.

use crate::log::{StoredRecord, partition_for_key};
use trustloop_operators::operator::Operator;
use trustloop_schemas::{Event, EventCodec, EventType, WriterSchemas};

/// What becomes of one input record.
// Returned by value once per record on the runtime's hot path and never stored: boxing the event
// would cost an allocation per record.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Admission {
    /// Applied to the operator.
    Apply(Event),
    /// Not applied: a dead letter of this kind (`undecodable`, `wrong_topic`, `misrouted`) with
    /// its reason.
    Reject {
        /// The dead letter's `error_kind`.
        kind: &'static str,
        /// Why, for the dead letter.
        reason: String,
    },
}

/// Decides what becomes of `record`, read from a topic of `expected` events by `op`. `keyed_count`:
/// when the record comes from a keyed input read by one task of that many (one per partition), a
/// record whose key belongs to another partition is rejected as misrouted.
pub fn admit(
    record: &StoredRecord,
    expected: Option<EventType>,
    codec: &EventCodec,
    writers: &dyn WriterSchemas,
    op: &dyn Operator,
    keyed_count: Option<u32>,
) -> Admission {
    let event = match codec.decode(&record.value, writers) {
        Ok(e) if Some(e.event_type()) == expected => e,
        Ok(e) => {
            let reason = format!("a {} event does not belong on topic {}", e.event_type(), record.topic);
            return Admission::Reject { kind: "wrong_topic", reason };
        }
        Err(err) => return Admission::Reject { kind: "undecodable", reason: err.to_string() },
    };
    if let Some(count) = keyed_count
        && let Some(key) = op.partition_key(&event)
    {
        let owner = partition_for_key(key.as_bytes(), count);
        if owner != record.partition {
            let reason = format!(
                "keyed by {key:?}, which belongs to partition {owner} of {count}: the {} task of that partition never \
                 sees it here (producers must key {} events by it)",
                op.name(),
                event.event_type()
            );
            return Admission::Reject { kind: "misrouted", reason };
        }
    }
    Admission::Apply(event)
}
