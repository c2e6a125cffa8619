//! Which partitions — hence which tasks — this process runs, as Kafka's consumer group protocol
//! shares them out among the processes of one group.
//!
//! A member subscribes to one topic of the keyed partition layout (every keyed topic has the same
//! partition count, so its partition numbers are the task numbers) but never consumes it: assigned
//! partitions are paused at once, and the member exists only to take part in the group's
//! rebalances. Reading, committing and writing go through the [`EventLog`](super::EventLog) as
//! before, under the tasks' own consumer groups.
//!
//! Rebalances use Kafka's eager protocol: before the group re-assigns anything, every member gives
//! up all its partitions — [`Change::Revoked`] — and the group waits until it says it has stopped
//! their tasks and committed ([`Membership::released`]); only then are partitions assigned again
//! ([`Change::Assigned`]). So two live members never run the same task. A member that dies (or
//! stops heartbeating for `session.timeout.ms`) is dropped from the group, and its partitions go to
//! the others.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, TopicPartitionList};
use tokio::sync::mpsc;

use super::kafka::KafkaConfig;
use super::{LogError, LogResult};

/// How long a revocation may wait for the runtime to stop its tasks before the member gives the
/// partitions up anyway (the group would otherwise evict it at `max.poll.interval.ms`).
const RELEASE_TIMEOUT: Duration = Duration::from_secs(120);

/// A change of this process's share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// These partitions are taken away: stop their tasks (after committing), then call
    /// [`Membership::released`]. The group waits for it.
    Revoked(BTreeSet<u32>),
    /// The partitions this process owns from now on (all of them, not an increment).
    Assigned(BTreeSet<u32>),
}

/// This process's membership in a consumer group that shares out the partitions of one topic.
pub struct Membership {
    changes: mpsc::UnboundedReceiver<Change>,
    releases: std_mpsc::Sender<()>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Membership {
    /// Joins `group` on the brokers of `config`, subscribed to `topic`. Changes arrive through
    /// [`Membership::next_change`]; the first is the initial assignment.
    pub fn join(config: &KafkaConfig, group: &str, topic: &str) -> LogResult<Membership> {
        let (changes_tx, changes) = mpsc::unbounded_channel();
        let (releases, releases_rx) = std_mpsc::channel();
        let context = Member { changes: changes_tx, releases: Mutex::new(releases_rx) };
        let mut c = config.client_config();
        c.set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("allow.auto.create.topics", "false")
            // The eager protocol: everything is revoked before anything is assigned again.
            .set("partition.assignment.strategy", "range");
        let consumer: BaseConsumer<Member> = c.create_with_context(context).map_err(|e| LogError::Kafka {
            message: format!("creating the member of group {group}: {e}"),
            retriable: false,
        })?;
        consumer.subscribe(&[topic]).map_err(|e| LogError::Kafka {
            message: format!("subscribing group {group} to {topic}: {e}"),
            retriable: false,
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let name = format!("member {group}");
        let thread = std::thread::Builder::new()
            .name("trustloop-member".into())
            .spawn(move || {
                // Polling serves the group's heartbeats and rebalance callbacks; the partitions are
                // paused, so no message comes back.
                while !stopping.load(Ordering::Relaxed) {
                    if let Some(Err(e)) = consumer.poll(Duration::from_millis(100)) {
                        tracing::warn!(member = %name, error = %e, "consumer group");
                    }
                }
                // Leaving the group (revocation included) before the consumer is dropped.
                consumer.unsubscribe();
                let _ = consumer.poll(Duration::from_millis(100));
            })
            .map_err(|e| LogError::Kafka { message: format!("starting the member thread: {e}"), retriable: false })?;
        Ok(Membership { changes, releases, stop, thread: Some(thread) })
    }

    /// The next change of this process's share (waits for it); `None` once the member has stopped.
    pub async fn next_change(&mut self) -> Option<Change> {
        self.changes.recv().await
    }

    /// A change that has arrived, if any (does not wait).
    pub fn try_change(&mut self) -> Option<Change> {
        self.changes.try_recv().ok()
    }

    /// Says that the tasks of revoked partitions are stopped and committed: the group may go on.
    pub fn released(&self) {
        let _ = self.releases.send(());
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Its last revocation needs no answer: nothing runs any more.
        self.changes.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The consumer's context: reports rebalances, and holds a revocation until the runtime answers.
struct Member {
    changes: mpsc::UnboundedSender<Change>,
    releases: Mutex<std_mpsc::Receiver<()>>,
}

impl ClientContext for Member {}

impl ConsumerContext for Member {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else { return };
        let partitions = partitions(tpl);
        if partitions.is_empty() {
            return;
        }
        tracing::info!(?partitions, "consumer group: partitions revoked, stopping their tasks");
        let releases = self.releases.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Answers to earlier revocations that came after their time ran out mean nothing now.
        while releases.try_recv().is_ok() {}
        if self.changes.send(Change::Revoked(partitions)).is_err() {
            return; // the runtime is gone: nothing runs
        }
        if let Err(std_mpsc::RecvTimeoutError::Timeout) = releases.recv_timeout(RELEASE_TIMEOUT) {
            tracing::warn!("consumer group: the tasks did not stop in time; giving the partitions up anyway");
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Assign(tpl) = rebalance else { return };
        // Membership only: the partitions are read elsewhere.
        if let Err(e) = consumer.pause(tpl) {
            tracing::warn!(error = %e, "consumer group: cannot pause the assigned partitions");
        }
        let partitions = partitions(tpl);
        tracing::info!(?partitions, "consumer group: partitions assigned");
        let _ = self.changes.send(Change::Assigned(partitions));
    }
}

fn partitions(tpl: &TopicPartitionList) -> BTreeSet<u32> {
    tpl.elements().iter().filter_map(|e| u32::try_from(e.partition()).ok()).collect()
}
