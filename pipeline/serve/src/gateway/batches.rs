//! Whole batches on a log whose batches are not atomic by themselves (Kafka): a request of more
//! than one event is written in a transaction of one of a few transactional writers the gateway
//! keeps, so `read_committed` readers — every reader trustloop has — see all of it or none.
//!
//! Each writer has a `transactional.id` of its own, `{gateway id}-{n}`: stable across restarts of
//! the same gateway (a restart fences the old process and aborts what it left open), distinct
//! between gateways (two gateways under one id would fence each other on every batch).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Mutex, OwnedMutexGuard};
use trustloop_connectors::log::{EventLog, LogTransaction};
use trustloop_runtime::error::{Context, Result, RuntimeError};

/// The transactional writers of one gateway, each used by one request at a time.
pub struct BatchWriters {
    ids: Vec<Arc<Mutex<String>>>,
    next: AtomicUsize,
}

/// A writer taken by one request until dropped, with its transaction open.
pub struct OpenBatch {
    /// `None` once committed or aborted.
    id: Option<OwnedMutexGuard<String>>,
    transaction: Arc<dyn LogTransaction>,
}

impl BatchWriters {
    /// `count` writers named after `gateway_id`; the first one starts (and aborts) a transaction
    /// right away, so a broker that has no transactions is found at start, not on the first batch.
    pub async fn start(log: &dyn EventLog, gateway_id: &str, count: usize) -> Result<BatchWriters> {
        if count == 0 {
            return Err(RuntimeError::invalid("at least one batch writer is needed"));
        }
        let ids: Vec<Arc<Mutex<String>>> =
            (0..count).map(|n| Arc::new(Mutex::new(format!("{gateway_id}-{n}")))).collect();
        let first = ids[0].lock().await.clone();
        let probe = log.begin_transaction(&first).await.with_context(|| {
            format!(
                "cannot start a transaction of batch writer {first}; on a broker without transactions, \
                 run the gateway with --batch-writers 0 (batches are then appended part by part)"
            )
        })?;
        probe.abort().await.with_context(|| format!("aborting the first transaction of {first}"))?;
        Ok(BatchWriters { ids, next: AtomicUsize::new(0) })
    }

    /// Takes a free writer (or waits for the next in turn) and opens a transaction on it.
    pub async fn open(&self, log: &dyn EventLog) -> Result<OpenBatch> {
        let id = match self.ids.iter().find_map(|m| m.clone().try_lock_owned().ok()) {
            Some(free) => free,
            None => self.ids[self.next.fetch_add(1, Ordering::Relaxed) % self.ids.len()].clone().lock_owned().await,
        };
        let transaction =
            log.begin_transaction(&id).await.with_context(|| format!("starting a transaction of {}", *id))?;
        Ok(OpenBatch { id: Some(id), transaction })
    }
}

impl OpenBatch {
    /// The open transaction, for appends.
    pub fn transaction(&self) -> Arc<dyn LogTransaction> {
        self.transaction.clone()
    }

    /// Commits everything appended: visible all at once. On an error nothing is (the transaction
    /// is aborted).
    pub async fn commit(mut self) -> Result<()> {
        let name = self.id.as_deref().cloned().unwrap_or_default();
        // The writer stays taken until the commit is through (a request dropped meanwhile aborts).
        let result = self.transaction.commit(&name, &[]).await;
        self.id = None;
        result.with_context(|| format!("committing the batch of {name}"))
    }

    /// Aborts: nothing appended becomes visible.
    pub async fn abort(mut self) {
        let id = self.id.take();
        abort(&*self.transaction, id.as_deref().map_or("", String::as_str)).await;
    }
}

async fn abort(transaction: &dyn LogTransaction, writer: &str) {
    // A failed append or commit has aborted the transaction already; aborting again only fails.
    if let Err(e) = transaction.abort().await {
        tracing::debug!(writer, error = %e, "abort after a failed batch");
    }
}

impl Drop for OpenBatch {
    /// A request dropped midway (its client went away): the transaction is aborted in the
    /// background, and the writer stays taken until it is.
    fn drop(&mut self) {
        if let Some(id) = self.id.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let transaction = self.transaction.clone();
            runtime.spawn(async move { abort(&*transaction, &id).await });
        }
    }
}

/// The default gateway id: `trustloop-gateway-{host}-{port}`, the same on each restart of one
/// gateway and different for every gateway on a host. A port of 0 (a free one, picked at start)
/// gives the process id instead.
pub fn default_gateway_id(listen: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    let port = listen.rsplit_once(':').map(|(_, p)| p).filter(|p| !p.is_empty() && *p != "0");
    let tail = port.map_or_else(|| format!("pid{}", std::process::id()), str::to_string);
    kafka_name(&format!("trustloop-gateway-{host}-{tail}"))
}

/// `text` with every character Kafka does not allow in a name replaced by `_`, at most 200 long
/// (room for the writer's number).
fn kafka_name(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' { c } else { '_' })
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_ids_are_kafka_names_per_port() {
        let a = default_gateway_id("0.0.0.0:8080");
        assert!(a.starts_with("trustloop-gateway-") && a.ends_with("-8080"), "{a}");
        assert!(trustloop_connectors::log::validate_name(&format!("{a}-3")).is_ok());
        assert_ne!(a, default_gateway_id("0.0.0.0:8081"));
        assert!(default_gateway_id("127.0.0.1:0").ends_with(&format!("-pid{}", std::process::id())));
        assert_eq!(kafka_name("a b/c:d"), "a_b_c_d");
    }
}
