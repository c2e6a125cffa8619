//! What an operator is fed: an event with the log position it was read from, and the input frontier
//! (how far each topic-partition has been read) that derived events record for replay.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trustloop_schemas::{Event, FrontierEntry};

/// An event with its position in the log.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The topic it was read from.
    pub topic: &'a str,
    /// The partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// The event.
    pub event: &'a Event,
}

impl<'a> Input<'a> {
    /// An event read from `topic`/`partition` at `offset`.
    pub fn new(topic: &'a str, partition: i32, offset: i64, event: &'a Event) -> Input<'a> {
        Input { topic, partition, offset, event }
    }
}

/// The next offset to read per topic-partition: everything before it has been applied. Serialized as
/// its list of entries (JSON maps cannot have tuple keys).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Vec<FrontierEntry>", from = "Vec<FrontierEntry>")]
pub struct Frontier {
    next: BTreeMap<(String, i32), i64>,
}

impl From<Frontier> for Vec<FrontierEntry> {
    fn from(f: Frontier) -> Vec<FrontierEntry> {
        f.entries()
    }
}

impl From<Vec<FrontierEntry>> for Frontier {
    fn from(entries: Vec<FrontierEntry>) -> Frontier {
        Frontier { next: entries.into_iter().map(|e| ((e.topic, e.partition), e.offset)).collect() }
    }
}

impl Frontier {
    /// Records that `input` has been applied.
    pub fn advance(&mut self, input: &Input<'_>) {
        let next = input.offset.saturating_add(1);
        match self.next.get_mut(&(input.topic.to_string(), input.partition)) {
            Some(n) => *n = (*n).max(next),
            None => {
                self.next.insert((input.topic.to_string(), input.partition), next);
            }
        }
    }

    /// The next offset of `topic`/`partition` (0 if nothing was read from it).
    pub fn next_offset(&self, topic: &str, partition: i32) -> i64 {
        self.next.get(&(topic.to_string(), partition)).copied().unwrap_or(0)
    }

    /// The frontier as the entries a `Verdict` records, ordered by topic and partition.
    pub fn entries(&self) -> Vec<FrontierEntry> {
        self.next
            .iter()
            .map(|((topic, partition), offset)| FrontierEntry {
                topic: topic.clone(),
                partition: *partition,
                offset: *offset,
            })
            .collect()
    }

    /// Whether the position `topic`/`partition`/`offset` is before this frontier (already applied).
    pub fn covers(&self, topic: &str, partition: i32, offset: i64) -> bool {
        offset < self.next_offset(topic, partition)
    }
}

#[cfg(test)]
mod tests {
    use trustloop_schemas::{DeadLetter, Envelope, EventId, EventTime};

    use super::*;

    #[test]
    fn frontier_advances_monotonically() {
        let e = Event::DeadLetter(DeadLetter {
            envelope: Envelope {
                event_id: EventId(uuid::Uuid::nil()),
                tenant: "t".into(),
                key: "k".into(),
                event_time: EventTime::from_micros(0),
                source: "s".into(),
                schema_version: 1,
            },
            source_topic: "x".into(),
            source_partition: None,
            source_offset: None,
            line: None,
            error_kind: "e".into(),
            reason: "r".into(),
            payload: vec![],
        });
        let mut f = Frontier::default();
        f.advance(&Input::new("findings", 1, 7, &e));
        f.advance(&Input::new("findings", 1, 3, &e));
        f.advance(&Input::new("approvals", 0, 0, &e));
        assert_eq!(f.next_offset("findings", 1), 8);
        assert!(f.covers("findings", 1, 7) && !f.covers("findings", 1, 8));
        assert_eq!(
            f.entries(),
            vec![
                FrontierEntry { topic: "approvals".into(), partition: 0, offset: 1 },
                FrontierEntry { topic: "findings".into(), partition: 1, offset: 8 },
            ]
        );
        let json = serde_json::to_string(&f).expect("a frontier serializes");
        assert_eq!(serde_json::from_str::<Frontier>(&json).expect("and reads back"), f);
    }
}
