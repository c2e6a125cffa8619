//! Deadlines in event time, on two clocks: a queue per clock (a `BTreeMap` ordered by due time, then
//! by the order the deadlines were set). No timer ever fires by itself: the operator takes the due
//! ones whenever one of its clocks advances.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The clock a deadline is measured on (see the module docs of [`super`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Clock {
    /// The watermark: the largest event time of any input (or tick). Retries, TTLs, releases.
    Watermark,
    /// The adapter clock: the largest event time of any adapter result (or tick). Timeouts of
    /// steps in flight.
    Adapter,
}

/// Where a deadline sits: its clock, its due time, and a sequence number that orders deadlines due
/// at the same time by when they were set (so processing order never depends on anything else).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TimerKey {
    /// Due time, event-time microseconds.
    pub due: i64,
    /// Order of setting (unique across both clocks).
    pub seq: u64,
    /// The clock `due` is measured on.
    pub clock: Clock,
}

/// What a deadline is for. An action's own record says what its deadline means (a timeout while a
/// step is in flight, a retry while it waits to retry, a TTL once it is verified).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Timer {
    /// The pending deadline of one action.
    Action {
        /// Tenant.
        tenant: String,
        /// The action's id.
        action_id: String,
    },
    /// Re-check a tenant's held actions: a budget frees up (an action leaves its window).
    Release {
        /// Tenant.
        tenant: String,
    },
}

/// The pending deadlines of both clocks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timers {
    /// On the watermark. Serialised as a list of entries: the key is not a string, which JSON maps
    /// need.
    #[serde(with = "crate::serde_pairs")]
    watermark: BTreeMap<TimerKey, Timer>,
    /// On the adapter clock.
    #[serde(with = "crate::serde_pairs")]
    adapter: BTreeMap<TimerKey, Timer>,
    next_seq: u64,
}

impl Timers {
    fn queue(&mut self, clock: Clock) -> &mut BTreeMap<TimerKey, Timer> {
        match clock {
            Clock::Watermark => &mut self.watermark,
            Clock::Adapter => &mut self.adapter,
        }
    }

    /// Sets a deadline at `due` on `clock`; the key cancels it.
    pub fn schedule(&mut self, clock: Clock, due: i64, timer: Timer) -> TimerKey {
        let key = TimerKey { due, seq: self.next_seq, clock };
        self.next_seq += 1;
        self.queue(clock).insert(key, timer);
        key
    }

    /// Cancels a deadline (nothing if it already fired or was cancelled).
    pub fn cancel(&mut self, key: Option<TimerKey>) {
        if let Some(k) = key {
            self.queue(k.clock).remove(&k);
        }
    }

    /// Removes and returns the earliest deadline due: at or before `watermark` on the watermark, at
    /// or before `adapter` on the adapter clock. Of two due ones, the earlier (then the first set).
    pub fn pop_due(&mut self, watermark: i64, adapter: i64) -> Option<(TimerKey, Timer)> {
        let w = self.watermark.first_key_value().map(|(k, _)| *k).filter(|k| k.due <= watermark);
        let a = self.adapter.first_key_value().map(|(k, _)| *k).filter(|k| k.due <= adapter);
        let key = match (w, a) {
            (Some(w), Some(a)) => w.min(a),
            (w, a) => w.or(a)?,
        };
        self.queue(key.clock).remove(&key).map(|t| (key, t))
    }

    /// The earliest pending due time on `clock`.
    pub fn next_due_on(&self, clock: Clock) -> Option<i64> {
        let queue = match clock {
            Clock::Watermark => &self.watermark,
            Clock::Adapter => &self.adapter,
        };
        queue.first_key_value().map(|(k, _)| k.due)
    }

    /// The earliest pending due time on either clock.
    pub fn next_due(&self) -> Option<i64> {
        [Clock::Watermark, Clock::Adapter].into_iter().filter_map(|c| self.next_due_on(c)).min()
    }

    /// How many deadlines are pending.
    pub fn len(&self) -> usize {
        self.watermark.len() + self.adapter.len()
    }

    /// Whether none is pending.
    pub fn is_empty(&self) -> bool {
        self.watermark.is_empty() && self.adapter.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(t: &str) -> Timer {
        Timer::Release { tenant: t.into() }
    }

    #[test]
    fn due_order_then_setting_order() {
        let mut t = Timers::default();
        let late = t.schedule(Clock::Watermark, 20, release("a"));
        t.schedule(Clock::Watermark, 10, release("b"));
        t.schedule(Clock::Watermark, 10, release("c"));
        assert_eq!(t.next_due(), Some(10));
        assert_eq!(t.pop_due(9, i64::MAX), None);
        assert_eq!(t.pop_due(15, 0).map(|x| x.1), Some(release("b")));
        assert_eq!(t.pop_due(15, 0).map(|x| x.1), Some(release("c")));
        assert_eq!(t.pop_due(15, 0), None);
        t.cancel(Some(late));
        assert!(t.is_empty());
    }

    #[test]
    fn each_clock_fires_its_own_queue_and_both_merge_in_due_order() {
        let mut t = Timers::default();
        let w = t.schedule(Clock::Watermark, 10, release("w"));
        t.schedule(Clock::Adapter, 5, release("a5"));
        t.schedule(Clock::Adapter, 10, release("a10"));
        assert_eq!(t.next_due(), Some(5));
        assert_eq!((t.next_due_on(Clock::Watermark), t.next_due_on(Clock::Adapter)), (Some(10), Some(5)));
        // The watermark alone does not reach adapter deadlines, however far it is.
        assert_eq!(t.pop_due(100, 4), Some((w, release("w"))));
        assert_eq!(t.pop_due(100, 4), None);
        t.schedule(Clock::Watermark, 7, release("w7"));
        // Both due: the earlier first, then (same due time) the first set.
        t.schedule(Clock::Watermark, 10, release("w10"));
        let order: Vec<Timer> = std::iter::from_fn(|| t.pop_due(100, 100).map(|x| x.1)).collect();
        assert_eq!(order, vec![release("a5"), release("w7"), release("a10"), release("w10")]);
        assert!(t.is_empty());
    }

    #[test]
    fn cancel_finds_the_queue_of_the_key() {
        let mut t = Timers::default();
        let a = t.schedule(Clock::Adapter, 5, release("a"));
        let w = t.schedule(Clock::Watermark, 5, release("w"));
        t.cancel(Some(a));
        assert_eq!(t.len(), 1);
        assert_eq!(t.next_due_on(Clock::Adapter), None);
        t.cancel(Some(w));
        t.cancel(Some(w));
        assert!(t.is_empty());
    }

    #[test]
    fn snapshot_round_trips_through_json() {
        let mut t = Timers::default();
        t.schedule(Clock::Adapter, 5, Timer::Action { tenant: "a".into(), action_id: "x".into() });
        t.schedule(Clock::Watermark, 3, release("a"));
        let json = serde_json::to_string(&t).expect("json");
        let back: Timers = serde_json::from_str(&json).expect("back");
        assert_eq!(back, t);
        assert_eq!(back.len(), 2);
    }
}
