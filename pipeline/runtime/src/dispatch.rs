//! The enforcement effect: reads the `actions` topic and hands every action the enforcement operator
//! moved to `dispatched` to its adapter (webhook, command, Kafka topic); the adapter's step results
//! are appended to `action-results`, where the enforcement operator reads them back.
//!
//! Stateless: its position is the consumer group `trustloop.dispatch`, committed after each pass,
//! so an action is executed once per committed position. A crash between executing and committing
//! executes the step again on restart — adapters receive the action id as an idempotency key and
//! results carry deterministic ids, so the repeat is recognisable downstream.

use std::collections::BTreeMap;

use tracing::Instrument;
use trustloop_connectors::enforce::Dispatcher;
use trustloop_connectors::log::{PartitionReader, TopicPartitionOffset};
use trustloop_schemas::{ActionState, Event, EventType};

use crate::backend::Backend;
use crate::error::{Context, Result};
use crate::ingest::EventWriter;
use crate::lineage::Lineage;
use crate::stage::{AdapterStats, Effect};

/// Consumer group of the dispatcher.
pub const GROUP: &str = "trustloop.dispatch";

/// The enforcement effect (see the module docs).
pub struct Dispatch {
    dispatcher: Dispatcher,
    positions: BTreeMap<u32, i64>,
    loaded: bool,
    stats: BTreeMap<String, AdapterStats>,
}

impl Dispatch {
    /// Dispatches through `dispatcher`.
    pub fn new(dispatcher: Dispatcher) -> Dispatch {
        Dispatch { dispatcher, positions: BTreeMap::new(), loaded: false, stats: BTreeMap::new() }
    }
}

#[async_trait::async_trait]
impl Effect for Dispatch {
    fn name(&self) -> &'static str {
        "dispatch"
    }

    fn adapter_stats(&self) -> BTreeMap<String, AdapterStats> {
        self.stats.clone()
    }

    async fn pass(&mut self, backend: &Backend) -> Result<u64> {
        let topic = EventType::EnforcementAction.topic();
        if !self.loaded {
            let committed = backend.log.committed_offsets(GROUP, topic).await.context("dispatcher offsets")?;
            for (p, o) in committed.into_iter().enumerate() {
                if let Some(o) = o {
                    self.positions.insert(p as u32, o);
                }
            }
            self.loaded = true;
        }
        let offsets = backend.log.offsets(topic).await?;
        // Collect this pass's dispatched steps from every partition, then execute them in event-time
        // order: the enforcement operator measures acknowledgement timeouts on the clock of the
        // results it gets back, which assumes adapters answer steps in the order they were due.
        let mut due = Vec::new();
        let mut handled = 0u64;
        for (p, o) in offsets.iter().enumerate() {
            let p = p as u32;
            let from = self.positions.get(&p).copied().unwrap_or(0).max(o.start);
            let mut reader = PartitionReader::new(topic, p, from).until(o.end).chunk(1_000);
            while let Some(records) = reader.next(&*backend.log).await? {
                for r in records {
                    handled += 1;
                    // Undecodable records are the enforcement operator's to dead-letter.
                    if let Ok(Event::EnforcementAction(action)) = backend.codec.decode(&r.value, &*backend.registry)
                        && action.state == ActionState::Dispatched
                    {
                        let lineage = Lineage::of(&r.headers, &action.envelope.event_id);
                        due.push((action.envelope.event_time, r.timestamp_ms, p, r.offset, action, lineage));
                    }
                }
            }
            self.positions.insert(p, reader.position());
        }
        due.sort_by_key(|d| (d.0, d.1, d.2, d.3));
        let mut results = EventWriter::new(backend, EventType::EnforcementResult.topic()).await?;
        for (_, _, _, _, action, lineage) in &due {
            let span = tracing::info_span!("dispatch", action_id = %action.action_id, attempt = action.attempt);
            // The action's lineage goes on through its dispatch to the results.
            let lineage = lineage.enter(&span);
            let step = self.dispatcher.execute(action).instrument(span).await;
            if let Some(first) = step.first() {
                self.stats.entry(first.adapter.clone()).or_default().dispatched += 1;
            }
            for result in step {
                if !result.success {
                    self.stats.entry(result.adapter.clone()).or_default().failures += 1;
                }
                results.push_traced(&Event::EnforcementResult(result), lineage).await?;
            }
        }
        results.flush().await?;
        if handled > 0 {
            let commit: Vec<TopicPartitionOffset> = self
                .positions
                .iter()
                .map(|(p, o)| TopicPartitionOffset { topic: topic.to_string(), partition: *p, offset: *o })
                .collect();
            backend.log.commit_offsets(GROUP, &commit).await.context("committing dispatcher offsets")?;
        }
        Ok(handled)
    }
}
