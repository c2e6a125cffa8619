//! Materialized views of the derived streams in SQLite (the default) or PostgreSQL, for Grafana and
//! other SQL tools: the latest trust score of every entity, the current verdict of every subject
//! and every verdict as decided, every enforcement action in its latest state, the open findings
//! (`migrations/views/` holds the DDL; sqlx applies it).
//!
//! A pass reads each derived topic-partition from where the views stand and applies what it read
//! in one transaction per chunk together with the new position (`view_positions`): a crash
//! between two chunks redoes nothing and loses nothing, so the views hold every event once.

mod apply;

use std::sync::Arc;

use futures::future::BoxFuture;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{AnyPool, Row};
use trustloop_connectors::log::PartitionReader;
use trustloop_schemas::EventType;

use apply::Change;
use trustloop_runtime::backend::Backend;
use trustloop_runtime::backoff::Backoff;

/// The topics the views follow.
pub const TOPICS: [EventType; 4] =
    [EventType::TrustScore, EventType::Verdict, EventType::EnforcementAction, EventType::Finding];

/// Records read and applied per transaction.
const CHUNK: usize = 2_000;

/// The views' schema migrations (`migrations/views/`), embedded in the binary: version, description
/// and SQL as `sqlx::migrate!` reads them from the file names and contents, so a database migrated
/// by either agrees, checksums included (a test compares them with the directory).
const MIGRATIONS: [(i64, &str, &str); 2] = [
    (1, "views", include_str!("../../migrations/views/0001_views.sql")),
    (2, "findings by vulnerability", include_str!("../../migrations/views/0002_findings_by_vulnerability.sql")),
];

/// [`MIGRATIONS`] as a source for sqlx's [`Migrator`].
#[derive(Debug)]
struct Embedded;

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async { Ok(migrations()) })
    }
}

fn migrations() -> Vec<Migration> {
    MIGRATIONS
        .iter()
        .map(|&(version, description, sql)| {
            let no_tx = sql.starts_with("-- no-transaction");
            Migration::new(version, description.into(), MigrationType::Simple, sql.into(), no_tx)
        })
        .collect()
}

/// Why the views could not be updated.
#[derive(Debug, thiserror::Error)]
pub enum ViewsError {
    /// The database refused or failed (retry when it is back).
    #[error("views database: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema migration failed.
    #[error("views database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The log failed (retry when it is back).
    #[error(transparent)]
    Log(#[from] trustloop_connectors::log::LogError),
    /// The database URL is not one the views support.
    #[error("views database {0:?}: use sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DB")]
    Url(String),
}

/// What one pass applied.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    /// Records read.
    pub read: u64,
    /// Records that did not decode (skipped, logged).
    pub undecodable: u64,
}

/// The views database.
pub struct Views {
    pool: AnyPool,
    postgres: bool,
}

impl Views {
    /// Connects to `url` (`sqlite://PATH` — created if missing — or `postgres://...`) and brings
    /// its schema up to date.
    pub async fn open(url: &str) -> Result<Views, ViewsError> {
        install_default_drivers();
        let (url, postgres) = match url.split_once("://").map(|(scheme, _)| scheme) {
            Some("sqlite") => (sqlite_url(url), false),
            Some("postgres" | "postgresql") => (url.to_string(), true),
            _ => return Err(ViewsError::Url(url.to_string())),
        };
        // SQLite allows one writer: one connection, and no lock contention with ourselves.
        let pool = AnyPoolOptions::new().max_connections(if postgres { 4 } else { 1 }).connect(&url).await?;
        Migrator::new(Embedded).await?.run(&pool).await?;
        Ok(Views { pool, postgres })
    }

    /// The connection pool (for queries over the views).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Where the views stand on `topic`/`partition`: the next offset to apply.
    async fn position(&self, topic: &str, partition: u32) -> Result<Option<i64>, ViewsError> {
        let row = sqlx::query("SELECT next_offset FROM view_positions WHERE topic = $1 AND partition = $2")
            .bind(topic)
            .bind(i64::from(partition))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get::<i64, _>(0)).transpose()?)
    }

    /// Applies everything the derived topics hold beyond the views' positions; returns what it read.
    pub async fn pass(&self, backend: &Backend) -> Result<PassReport, ViewsError> {
        let mut report = PassReport::default();
        for ty in TOPICS {
            let topic = ty.topic();
            for (p, o) in backend.log.offsets(topic).await?.iter().enumerate() {
                let partition = p as u32;
                let from = match self.position(topic, partition).await? {
                    Some(at) if at >= o.start => at,
                    Some(at) => {
                        tracing::warn!(
                            topic,
                            partition,
                            at,
                            start = o.start,
                            "views: the log no longer holds what they had not read"
                        );
                        o.start
                    }
                    None => o.start,
                };
                let mut reader = PartitionReader::new(topic, partition, from).until(o.end).chunk(CHUNK);
                while let Some(records) = reader.next(&*backend.log).await? {
                    let next = reader.position();
                    let mut changes = Vec::with_capacity(records.len());
                    for r in &records {
                        match backend.codec.decode(&r.value, &*backend.registry) {
                            Ok(event) => changes.extend(Change::of(&event)),
                            Err(e) => {
                                report.undecodable += 1;
                                tracing::warn!(topic, partition, offset = r.offset, error = %e, "views: skipped an undecodable record");
                            }
                        }
                    }
                    self.commit(topic, partition, &changes, next).await?;
                    report.read += records.len() as u64;
                }
            }
        }
        Ok(report)
    }

    /// Applies `changes` and moves the position of `topic`/`partition` to `next`, in one transaction.
    async fn commit(&self, topic: &str, partition: u32, changes: &[Change], next: i64) -> Result<(), ViewsError> {
        let mut tx = self.pool.begin().await?;
        for c in changes {
            c.apply(&mut tx).await?;
        }
        sqlx::query(
            "INSERT INTO view_positions (topic, partition, next_offset) VALUES ($1, $2, $3) \
             ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
        )
        .bind(topic)
        .bind(i64::from(partition))
        .bind(next)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether the database is PostgreSQL (else SQLite).
    pub fn is_postgres(&self) -> bool {
        self.postgres
    }
}

/// `sqlite://PATH` with the file created if missing.
fn sqlite_url(url: &str) -> String {
    match url.contains('?') {
        true => url.to_string(),
        false => format!("{url}?mode=rwc"),
    }
}

/// The qualitative band of a severity text — a rating label, a CVSS vector or a score — under the
/// CVSS rating scale (`none`, `low`, `medium`, `high`, `critical`); `unknown` when there is none or
/// it cannot be read.
pub fn severity_band(severity: Option<&str>) -> &'static str {
    use trustloop_operators::policy::{Band, SeverityPolicy, cvss_score};
    let Some(text) = severity.map(str::trim).filter(|s| !s.is_empty()) else { return "unknown" };
    match Band::from_label(text) {
        Some(b) => b.as_str(),
        None => cvss_score(text).map_or("unknown", |score| SeverityPolicy::default().band_of_score(score).as_str()),
    }
}

/// Follows the derived topics into the views until `stop` resolves (or, with `until_idle`, until
/// a pass finds nothing new), looking for new events every `poll` when idle. A failing pass is
/// retried with back-off (twice `poll`, doubling, at most 30 s); the error is logged.
pub async fn follow(
    backend: Arc<Backend>,
    views: Arc<Views>,
    until_idle: bool,
    poll: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<PassReport, ViewsError> {
    let mut total = PassReport::default();
    let poll = poll.max(std::time::Duration::from_millis(10));
    let mut backoff = Backoff::new(poll * 2, std::time::Duration::from_secs(30));
    loop {
        let wait = match views.pass(&backend).await {
            Ok(r) => {
                total.read += r.read;
                total.undecodable += r.undecodable;
                backoff.reset();
                if r.read > 0 {
                    tracing::info!(read = r.read, "views: applied");
                    continue;
                }
                if until_idle {
                    return Ok(total);
                }
                poll
            }
            Err(e) if until_idle => return Err(e),
            Err(e) => {
                let wait = backoff.next_wait();
                tracing::warn!(error = %e, retry_in = ?wait, "views: pass failed; retrying");
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return Ok(total),
        }
        if *stop.borrow() {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded migrations are the directory's, as `sqlx::migrate!` would embed them: same
    /// versions, descriptions, checksums and transaction choice, none left out.
    #[test]
    fn embedded_migrations_are_the_directory() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/views");
        let on_disk = sqlx::migrate::resolve_blocking(&dir).expect("migrations directory");
        let embedded = migrations();
        assert_eq!(embedded.len(), on_disk.len(), "a migration file is not embedded in MIGRATIONS");
        for (e, (d, path)) in embedded.iter().zip(&on_disk) {
            assert_eq!(
                (e.version, &e.description, e.migration_type, &e.checksum, e.no_tx),
                (d.version, &d.description, d.migration_type, &d.checksum, d.no_tx),
                "{}",
                path.display()
            );
        }
    }

    #[test]
    fn severities_fall_into_bands() {
        assert_eq!(severity_band(Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")), "critical");
        assert_eq!(severity_band(Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N")), "medium");
        assert_eq!(severity_band(Some("HIGH")), "high");
        assert_eq!(severity_band(Some("moderate")), "medium");
        assert_eq!(severity_band(Some("7.5")), "high");
        assert_eq!(severity_band(None), "unknown");
        assert_eq!(severity_band(Some("CVSS:3.1/AV:N")), "unknown");
    }
}
