//! What one derived event does to the views.

use serde::Serialize;
use sqlx::Any;
use trustloop_schemas::{Event, FindingChange};

/// One change to the views.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    /// An entity's latest trust score.
    TrustScore { tenant: String, entity: String, score: f64, previous: Option<f64>, at: i64, id: String },
    /// A subject's verdict (current, and in the history).
    Verdict {
        tenant: String,
        subject: String,
        subject_kind: String,
        outcome: String,
        previous: Option<String>,
        policy_digest: String,
        evidence_digest: String,
        at: i64,
        id: String,
    },
    /// An action's latest state.
    Action {
        tenant: String,
        action_id: String,
        subject: String,
        kind: String,
        state: String,
        target: String,
        attempt: i64,
        reason: String,
        at: i64,
        id: String,
    },
    /// A finding opened (or re-opened).
    FindingOpened {
        key: FindingKey,
        advisory_id: String,
        sources: String,
        package_name: String,
        package_version: String,
        severity: Option<String>,
        severity_band: &'static str,
        vex_status: String,
        at: i64,
        id: String,
    },
    /// A finding that no longer holds.
    FindingClosed { key: FindingKey },
}

/// What identifies a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FindingKey {
    tenant: String,
    release_name: String,
    release_version: String,
    /// `""` for a release without an environment.
    environment: String,
    /// The vulnerability (alias group) that identifies it.
    vulnerability_id: String,
    purl: String,
}

/// The serde name of an enum value (`PASS`, `acknowledged`, ...).
fn name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

impl Change {
    /// The change `event` makes, if it is a derived event the views hold.
    pub(super) fn of(event: &Event) -> Option<Change> {
        let env = event.envelope();
        let (tenant, at, id) = (env.tenant.to_string(), env.event_time.as_micros(), env.event_id.to_string());
        Some(match event {
            Event::TrustScore(t) => {
                Change::TrustScore { tenant, entity: t.entity.clone(), score: t.score, previous: t.previous, at, id }
            }
            Event::Verdict(v) => Change::Verdict {
                tenant,
                subject: v.subject.clone(),
                subject_kind: name(&v.subject_kind),
                outcome: name(&v.outcome),
                previous: v.previous.as_ref().map(name),
                policy_digest: v.policy_digest.clone(),
                evidence_digest: v.evidence_digest.clone(),
                at,
                id,
            },
            Event::EnforcementAction(a) => Change::Action {
                tenant,
                action_id: a.action_id.clone(),
                subject: a.subject.clone(),
                kind: name(&a.kind),
                state: name(&a.state),
                target: a.target.clone(),
                attempt: i64::from(a.attempt),
                reason: a.reason.clone(),
                at,
                id,
            },
            Event::Finding(f) => {
                let key = FindingKey {
                    tenant,
                    release_name: f.release_name.to_string(),
                    release_version: f.release_version.to_string(),
                    environment: f.environment.as_deref().unwrap_or("").to_string(),
                    vulnerability_id: f.vulnerability().to_string(),
                    purl: f.purl.to_string(),
                };
                match f.change {
                    FindingChange::Opened => Change::FindingOpened {
                        key,
                        advisory_id: f.advisory_id.to_string(),
                        sources: f.source_ids().collect::<Vec<_>>().join(","),
                        package_name: f.package_name.to_string(),
                        package_version: f.package_version.to_string(),
                        severity: f.severity.as_deref().map(str::to_string),
                        severity_band: super::severity_band(f.severity.as_deref()),
                        vex_status: name(&f.vex_status),
                        at,
                        id,
                    },
                    FindingChange::Closed => Change::FindingClosed { key },
                }
            }
            _ => return None,
        })
    }

    /// Applies the change within `tx`.
    pub(super) async fn apply(&self, tx: &mut sqlx::Transaction<'_, Any>) -> Result<(), sqlx::Error> {
        match self {
            Change::TrustScore { tenant, entity, score, previous, at, id } => {
                // A NULL double goes as a literal: sqlx's `Any` driver (0.8) binds a `None` f64 as
                // a float4, and PostgreSQL keeps that type for the cached statement, so the next
                // `Some` would not fit.
                let sql = format!(
                    "INSERT INTO trust_scores (tenant, entity, score, previous, event_time_us, event_id) \
                     VALUES ($1, $2, $3, {}, $4, $5) ON CONFLICT (tenant, entity) DO UPDATE SET \
                     score = excluded.score, previous = excluded.previous, \
                     event_time_us = excluded.event_time_us, event_id = excluded.event_id",
                    if previous.is_some() { "$6" } else { "NULL" }
                );
                let mut q = sqlx::query(&sql).bind(tenant).bind(entity).bind(score).bind(at).bind(id);
                if let Some(p) = previous {
                    q = q.bind(p);
                }
                q.execute(&mut **tx).await?;
            }
            Change::Verdict {
                tenant,
                subject,
                subject_kind,
                outcome,
                previous,
                policy_digest,
                evidence_digest,
                at,
                id,
            } => {
                sqlx::query(
                    "INSERT INTO verdicts (tenant, subject, subject_kind, outcome, previous, policy_digest, \
                     evidence_digest, event_time_us, event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (tenant, subject) DO UPDATE SET subject_kind = excluded.subject_kind, \
                     outcome = excluded.outcome, previous = excluded.previous, \
                     policy_digest = excluded.policy_digest, evidence_digest = excluded.evidence_digest, \
                     event_time_us = excluded.event_time_us, event_id = excluded.event_id",
                )
                .bind(tenant)
                .bind(subject)
                .bind(subject_kind)
                .bind(outcome)
                .bind(previous)
                .bind(policy_digest)
                .bind(evidence_digest)
                .bind(at)
                .bind(id)
                .execute(&mut **tx)
                .await?;
                sqlx::query(
                    "INSERT INTO verdict_changes (event_id, tenant, subject, outcome, previous, event_time_us) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
                )
                .bind(id)
                .bind(tenant)
                .bind(subject)
                .bind(outcome)
                .bind(previous)
                .bind(at)
                .execute(&mut **tx)
                .await?;
            }
            Change::Action { tenant, action_id, subject, kind, state, target, attempt, reason, at, id } => {
                sqlx::query(
                    "INSERT INTO actions (tenant, action_id, subject, kind, state, target, attempt, reason, \
                     event_time_us, event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (tenant, action_id) DO UPDATE SET subject = excluded.subject, \
                     kind = excluded.kind, state = excluded.state, target = excluded.target, \
                     attempt = excluded.attempt, reason = excluded.reason, \
                     event_time_us = excluded.event_time_us, event_id = excluded.event_id",
                )
                .bind(tenant)
                .bind(action_id)
                .bind(subject)
                .bind(kind)
                .bind(state)
                .bind(target)
                .bind(attempt)
                .bind(reason)
                .bind(at)
                .bind(id)
                .execute(&mut **tx)
                .await?;
            }
            Change::FindingOpened {
                key,
                advisory_id,
                sources,
                package_name,
                package_version,
                severity,
                severity_band,
                vex_status,
                at,
                id,
            } => {
                sqlx::query(
                    "INSERT INTO findings (tenant, release_name, release_version, environment, vulnerability_id, purl, \
                     advisory_id, sources, package_name, package_version, severity, severity_band, vex_status, \
                     event_time_us, event_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
                     ON CONFLICT (tenant, release_name, release_version, environment, vulnerability_id, purl) \
                     DO UPDATE SET advisory_id = excluded.advisory_id, sources = excluded.sources, \
                     package_name = excluded.package_name, \
                     package_version = excluded.package_version, severity = excluded.severity, \
                     severity_band = excluded.severity_band, \
                     vex_status = excluded.vex_status, event_time_us = excluded.event_time_us, \
                     event_id = excluded.event_id",
                )
                .bind(&key.tenant)
                .bind(&key.release_name)
                .bind(&key.release_version)
                .bind(&key.environment)
                .bind(&key.vulnerability_id)
                .bind(&key.purl)
                .bind(advisory_id)
                .bind(sources)
                .bind(package_name)
                .bind(package_version)
                .bind(severity)
                .bind(*severity_band)
                .bind(vex_status)
                .bind(at)
                .bind(id)
                .execute(&mut **tx)
                .await?;
            }
            Change::FindingClosed { key } => {
                sqlx::query(
                    "DELETE FROM findings WHERE tenant = $1 AND release_name = $2 AND release_version = $3 \
                     AND environment = $4 AND vulnerability_id = $5 AND purl = $6",
                )
                .bind(&key.tenant)
                .bind(&key.release_name)
                .bind(&key.release_version)
                .bind(&key.environment)
                .bind(&key.vulnerability_id)
                .bind(&key.purl)
                .execute(&mut **tx)
                .await?;
            }
        }
        Ok(())
    }
}
