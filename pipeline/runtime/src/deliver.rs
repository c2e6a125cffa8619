//! The delivery effect: reads the `notifications` topic and sends each notification through its
//! channel (webhook, Slack, Teams, SMTP), appending every attempt to `deliveries` as a `Delivery`
//! event — `ok`, `retrying` (another attempt follows, after `backoff × 2^(n−1)`) or `failed` (not
//! retriable, or out of attempts).
//!
//! **Nothing is sent twice across restarts.** At start it reads every `Delivery` already in the log
//! and knows, per notification, how many attempts were made and whether one ended it (`ok` or
//! `failed`); an ended notification is never sent again, an unfinished one goes on with its next
//! attempt number. Each attempt's `Delivery` is written (flushed) before the next is made, and the
//! consumer group `trustloop.deliver` commits its position after the pass's deliveries are in the
//! log. What remains is the window between a server accepting a message and its `Delivery` reaching
//! the log: a crash there sends that attempt again on restart, with the same idempotency key
//! (`Idempotency-Key: <notification_id>`, SMTP `Message-ID: <notification_id@trustloop>`) so the
//! receiver can drop it.
//!
//! A `Delivery`'s event time is its notification's (a slow server never moves the pipeline's clock);
//! `started_at` and `duration_micros` are wall-clock. Its id derives from the notification id and the
//! attempt number.

use std::collections::BTreeMap;
use std::time::Instant;

use trustloop_connectors::log::{PartitionReader, TopicPartitionOffset};
use trustloop_connectors::notify::{Channels, NotifyConfig, NotifyError, excerpt};
use trustloop_schemas::{
    Delivery, DeliveryStatus, Envelope, Event, EventTime, EventType, Notification, derive_event_id,
};

use crate::backend::Backend;
use crate::error::{Context, Result};
use crate::ingest::EventWriter;
use crate::stage::{AdapterStats, Effect};

/// Consumer group of the delivery effect.
pub const GROUP: &str = "trustloop.deliver";

/// `source` of the deliveries it writes.
pub const SOURCE: &str = "trustloop.deliver";

/// What the log says about one notification's deliveries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// The highest attempt recorded.
    pub attempts: i32,
    /// Whether an attempt ended it (`ok` or `failed`).
    pub done: bool,
}

/// The delivery effect (see the module docs).
pub struct Deliver {
    channels: Channels,
    config: NotifyConfig,
    positions: BTreeMap<u32, i64>,
    progress: BTreeMap<String, Progress>,
    loaded: bool,
    stats: BTreeMap<String, AdapterStats>,
}

impl Deliver {
    /// Delivers through the channels of `config`.
    pub fn new(config: &NotifyConfig) -> std::result::Result<Deliver, NotifyError> {
        Ok(Deliver {
            channels: Channels::from_config(config)?,
            config: config.clone(),
            positions: BTreeMap::new(),
            progress: BTreeMap::new(),
            loaded: false,
            stats: BTreeMap::new(),
        })
    }

    async fn load(&mut self, backend: &Backend) -> Result<()> {
        let topic = EventType::Notification.topic();
        let committed = backend.log.committed_offsets(GROUP, topic).await.context("deliver offsets")?;
        for (p, o) in committed.into_iter().enumerate() {
            if let Some(o) = o {
                self.positions.insert(p as u32, o);
            }
        }
        self.progress = recorded(backend).await?;
        self.loaded = true;
        Ok(())
    }

    /// Makes every attempt `n` still needs, each recorded (flushed to `writer`'s topic) before the
    /// next, until one succeeds or fails for good; returns the last one (`None`: the log says it was
    /// delivered or given up already).
    pub async fn deliver_one(&mut self, n: &Notification, writer: &mut EventWriter<'_>) -> Result<Option<Delivery>> {
        let progress = self.progress.get(&n.notification_id).copied().unwrap_or_default();
        if progress.done {
            return Ok(None);
        }
        let mut last = None;
        let max = i32::try_from(self.config.max_attempts.max(1)).unwrap_or(i32::MAX);
        let mut attempt = progress.attempts + 1;
        let channel = self.channels.get(&n.channel);
        let type_name = channel.as_ref().map_or("unknown", |c| c.type_name());
        while attempt <= max {
            if attempt > 1 {
                tokio::time::sleep(self.config.backoff(u32::try_from(attempt).unwrap_or(u32::MAX))).await;
            }
            let started = Instant::now();
            let started_at = wall_clock();
            let result = match &channel {
                Ok(c) => c.send(n).await,
                Err(e) => Err(e.clone()),
            };
            let duration_micros = i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX);
            let stats = self.stats.entry(n.channel.clone()).or_default();
            stats.dispatched += 1;
            let (status, code, response, error, retriable) = match result {
                Ok(sent) => (DeliveryStatus::Ok, Some(sent.code), sent.response, None, false),
                Err(e) => {
                    stats.failures += 1;
                    let retriable = e.is_retriable();
                    let status =
                        if retriable && attempt < max { DeliveryStatus::Retrying } else { DeliveryStatus::Failed };
                    tracing::warn!(notification = %n.notification_id, channel = %n.channel, attempt, "delivery failed: {e}");
                    (status, e.code(), e.response().to_string(), Some(excerpt(&e.to_string(), 500)), retriable)
                }
            };
            let delivery =
                delivery(n, type_name, attempt, status, code, response, error, retriable, started_at, duration_micros);
            writer.push(&Event::Delivery(delivery.clone())).await?;
            writer.flush().await?;
            last = Some(delivery);
            let done = status != DeliveryStatus::Retrying;
            self.progress.insert(n.notification_id.clone(), Progress { attempts: attempt, done });
            if done {
                break;
            }
            attempt += 1;
        }
        Ok(last)
    }
}

#[allow(clippy::too_many_arguments)]
fn delivery(
    n: &Notification,
    channel_type: &str,
    attempt: i32,
    status: DeliveryStatus,
    code: Option<i32>,
    response: String,
    error: Option<String>,
    retriable: bool,
    started_at: EventTime,
    duration_micros: i64,
) -> Delivery {
    Delivery {
        envelope: Envelope {
            event_id: derive_event_id("delivery", &[n.notification_id.as_bytes(), &attempt.to_be_bytes()]),
            tenant: n.envelope.tenant.clone(),
            key: n.notification_id.as_str().into(),
            event_time: n.envelope.event_time,
            source: SOURCE.into(),
            schema_version: EventType::Delivery.schema_version(),
        },
        notification_id: n.notification_id.clone(),
        channel: n.channel.clone(),
        channel_type: channel_type.to_string(),
        attempt,
        status,
        code,
        response,
        error,
        retriable,
        started_at,
        duration_micros,
    }
}

fn wall_clock() -> EventTime {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    EventTime::from_micros(micros)
}

/// Per notification id, what the `deliveries` topic records.
pub async fn recorded(backend: &Backend) -> Result<BTreeMap<String, Progress>> {
    let topic = EventType::Delivery.topic();
    let mut out: BTreeMap<String, Progress> = BTreeMap::new();
    for (p, o) in backend.log.offsets(topic).await?.iter().enumerate() {
        let mut reader = PartitionReader::new(topic, p as u32, o.start).until(o.end).chunk(1_000);
        while let Some(records) = reader.next(&*backend.log).await? {
            for r in records {
                if let Ok(Event::Delivery(d)) = backend.codec.decode(&r.value, &*backend.registry) {
                    let e = out.entry(d.notification_id).or_default();
                    e.attempts = e.attempts.max(d.attempt);
                    e.done |= d.status != DeliveryStatus::Retrying;
                }
            }
        }
    }
    Ok(out)
}

#[async_trait::async_trait]
impl Effect for Deliver {
    fn name(&self) -> &'static str {
        "deliver"
    }

    fn adapter_stats(&self) -> BTreeMap<String, AdapterStats> {
        self.stats.clone()
    }

    async fn pass(&mut self, backend: &Backend) -> Result<u64> {
        if !self.loaded {
            self.load(backend).await?;
        }
        let topic = EventType::Notification.topic();
        let offsets = backend.log.offsets(topic).await?;
        let mut due = Vec::new();
        let mut handled = 0u64;
        for (p, o) in offsets.iter().enumerate() {
            let p = p as u32;
            let from = self.positions.get(&p).copied().unwrap_or(0).max(o.start);
            let mut reader = PartitionReader::new(topic, p, from).until(o.end).chunk(1_000);
            while let Some(records) = reader.next(&*backend.log).await? {
                for r in records {
                    handled += 1;
                    // Undecodable records are the stage's business (dead letters), not ours.
                    if let Ok(Event::Notification(n)) = backend.codec.decode(&r.value, &*backend.registry) {
                        due.push((n.envelope.event_time, r.timestamp_ms, p, r.offset, n));
                    }
                }
            }
            self.positions.insert(p, reader.position());
        }
        due.sort_by_key(|d| (d.0, d.1, d.2, d.3));
        let mut writer = EventWriter::new(backend, EventType::Delivery.topic()).await?;
        for (_, _, _, _, n) in &due {
            self.deliver_one(n, &mut writer).await?;
        }
        writer.flush().await?;
        if handled > 0 {
            let commit: Vec<TopicPartitionOffset> = self
                .positions
                .iter()
                .map(|(p, o)| TopicPartitionOffset { topic: topic.to_string(), partition: *p, offset: *o })
                .collect();
            backend.log.commit_offsets(GROUP, &commit).await.context("committing deliver offsets")?;
        }
        Ok(handled)
    }
}
