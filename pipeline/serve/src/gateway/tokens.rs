//! API tokens: each scoped to a tenant (optionally a sub-service of it) and to roles, stored hashed.
//!
//! A token reads `tl_<id>_<secret>`: a public id (16 hex digits) and a 256-bit random secret (64 hex
//! digits). Only the SHA-256 of the whole token is kept, as an event of the log's own
//! `_trustloop_tokens` topic (JSON, one partition): `create` and `revoke` records, so every gateway
//! instance on the same log sees the same tokens, and a revocation reaches them all. The secret is
//! printed once, at creation, and never stored.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use trustloop_connectors::log::{EventLog, LogError, PartitionReader, Record};

/// The topic tokens live on.
pub const TOKENS_TOPIC: &str = "_trustloop_tokens";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Write events of its tenant (`POST /v1/events/{topic}`).
    Ingest,
    /// Read its tenant's events: SQL, verdicts, replays.
    Read,
    /// Everything `ingest` and `read` may, for its tenant.
    Admin,
}

impl Role {
    /// Whether a token with roles `have` may act as `self`.
    pub fn granted_by(self, have: &[Role]) -> bool {
        have.contains(&self) || have.contains(&Role::Admin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Ingest => "ingest",
            Role::Read => "read",
            Role::Admin => "admin",
        })
    }
}

/// Who a request comes from: what its token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// The token's public id.
    pub token_id: String,
    /// The tenant it acts for.
    pub tenant: String,
    /// The sub-service of the tenant it is confined to, if any.
    pub service: Option<String>,
    /// Its roles.
    pub roles: Vec<Role>,
}

/// One record of the tokens topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum TokenRecord {
    Create {
        id: String,
        /// Hex SHA-256 of the whole token.
        sha256: String,
        tenant: String,
        #[serde(default)]
        service: Option<String>,
        roles: Vec<Role>,
        created_ms: i64,
    },
    Revoke {
        id: String,
        revoked_ms: i64,
    },
}

/// A token as listed: everything but its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Public id.
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// Sub-service, if any.
    pub service: Option<String>,
    /// Roles.
    pub roles: Vec<Role>,
    /// When it was created (ms since the epoch).
    pub created_ms: i64,
    /// When it was revoked, if it was.
    pub revoked_ms: Option<i64>,
    #[serde(skip)]
    sha256: [u8; 32],
}

/// Why a token operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The log failed (retry when it is back).
    #[error(transparent)]
    Log(#[from] LogError),
    /// A record of the tokens topic is not one this build reads.
    #[error("tokens topic entry at offset {offset} is unreadable: {reason}")]
    BadEntry {
        /// Its offset.
        offset: i64,
        /// Why.
        reason: String,
    },
    /// No token has this id.
    #[error("no token with id {0}")]
    Unknown(String),
    /// The tenant or service is not a usable name.
    #[error("{0}")]
    Invalid(String),
    /// The system's random number source failed.
    #[error("no randomness for a new token: {0}")]
    Random(String),
}

impl TokenError {
    /// Whether waiting and trying again can help: the log is unreachable or timed out.
    pub fn is_retriable(&self) -> bool {
        matches!(self, TokenError::Log(e) if e.is_retriable())
    }
}

impl From<TokenError> for trustloop_runtime::RuntimeError {
    fn from(e: TokenError) -> trustloop_runtime::RuntimeError {
        let retriable = e.is_retriable();
        trustloop_runtime::RuntimeError::Service(trustloop_runtime::error::ServiceFailure {
            retriable,
            error: Box::new(e),
        })
    }
}

#[derive(Default)]
struct State {
    tokens: BTreeMap<String, TokenInfo>,
    next_offset: i64,
}

/// The tokens of a log, kept up to date with [`TokenStore::refresh`].
pub struct TokenStore {
    log: Arc<dyn EventLog>,
    state: RwLock<State>,
}

fn sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Equal without an early exit (the time taken says nothing about where they differ).
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A tenant or service name: 1–128 characters, none of them a control character or `/`.
fn check_name(what: &str, name: &str) -> Result<(), TokenError> {
    if name.is_empty() || name.len() > 128 || name.chars().any(|c| c.is_control() || c == '/') {
        return Err(TokenError::Invalid(format!("{what} {name:?}: 1–128 characters, no control characters or `/`")));
    }
    Ok(())
}

impl TokenStore {
    /// The tokens of `log` (its tokens topic is created if missing).
    pub async fn open(log: Arc<dyn EventLog>) -> Result<TokenStore, TokenError> {
        log.create_topic(TOKENS_TOPIC, 1).await?;
        let store = TokenStore { log, state: RwLock::new(State::default()) };
        store.refresh().await?;
        Ok(store)
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads what was appended to the tokens topic since the last refresh.
    pub async fn refresh(&self) -> Result<(), TokenError> {
        let end = self.log.end_offsets(TOKENS_TOPIC).await?.first().copied().unwrap_or(0);
        let next = self.read_state().next_offset;
        let mut reader = PartitionReader::new(TOKENS_TOPIC, 0, next).until(end).chunk(1000);
        while let Some(records) = reader.next(&*self.log).await? {
            let mut state = self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            for r in records {
                let bad = |reason: String| TokenError::BadEntry { offset: r.offset, reason };
                match serde_json::from_slice::<TokenRecord>(&r.value).map_err(|e| bad(e.to_string()))? {
                    TokenRecord::Create { id, sha256, tenant, service, roles, created_ms } => {
                        let sha256 = unhex32(&sha256).ok_or_else(|| bad("sha256: not 64 hex digits".into()))?;
                        let info =
                            TokenInfo { id: id.clone(), tenant, service, roles, created_ms, revoked_ms: None, sha256 };
                        state.tokens.insert(id, info);
                    }
                    TokenRecord::Revoke { id, revoked_ms } => {
                        if let Some(t) = state.tokens.get_mut(&id) {
                            t.revoked_ms.get_or_insert(revoked_ms);
                        }
                    }
                }
            }
            state.next_offset = reader.position();
        }
        Ok(())
    }

    async fn append(&self, record: &TokenRecord) -> Result<(), TokenError> {
        let value = serde_json::to_vec(record).map_err(|e| TokenError::Invalid(e.to_string()))?;
        self.log.append(TOKENS_TOPIC, 0, vec![Record::new(None, Bytes::from(value))]).await?;
        self.refresh().await
    }

    /// Creates a token; returns its listing and the token itself (shown once, never stored).
    pub async fn create(
        &self,
        tenant: &str,
        service: Option<&str>,
        roles: &[Role],
    ) -> Result<(TokenInfo, String), TokenError> {
        check_name("tenant", tenant)?;
        if let Some(s) = service {
            check_name("service", s)?;
        }
        if roles.is_empty() {
            return Err(TokenError::Invalid("a token needs at least one role".into()));
        }
        let mut random = [0u8; 40];
        getrandom::fill(&mut random).map_err(|e| TokenError::Random(e.to_string()))?;
        let id = hex(&random[..8]);
        let token = format!("tl_{id}_{}", hex(&random[8..]));
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        let record = TokenRecord::Create {
            id: id.clone(),
            sha256: hex(&sha256(&token)),
            tenant: tenant.to_string(),
            service: service.map(str::to_string),
            roles,
            created_ms: now_ms(),
        };
        self.append(&record).await?;
        let info = self.read_state().tokens.get(&id).cloned().ok_or_else(|| TokenError::Unknown(id.clone()))?;
        Ok((info, token))
    }

    /// Revokes the token `id`; every gateway refuses it from its next refresh on.
    pub async fn revoke(&self, id: &str) -> Result<(), TokenError> {
        self.refresh().await?;
        if !self.read_state().tokens.contains_key(id) {
            return Err(TokenError::Unknown(id.to_string()));
        }
        self.append(&TokenRecord::Revoke { id: id.to_string(), revoked_ms: now_ms() }).await
    }

    /// Every token, revoked ones included, by id.
    pub fn list(&self) -> Vec<TokenInfo> {
        self.read_state().tokens.values().cloned().collect()
    }

    /// Who `token` is, if it is a token of this store that was not revoked.
    pub fn verify(&self, token: &str) -> Option<Principal> {
        let id = token.strip_prefix("tl_")?.split('_').next()?;
        let state = self.read_state();
        let info = state.tokens.get(id)?;
        if info.revoked_ms.is_some() || !same(&info.sha256, &sha256(token)) {
            return None;
        }
        Some(Principal {
            token_id: info.id.clone(),
            tenant: info.tenant.clone(),
            service: info.service.clone(),
            roles: info.roles.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use trustloop_connectors::log::embedded::{EmbeddedLog, EmbeddedOptions};

    use super::*;

    #[test]
    fn an_outage_under_the_store_is_retriable_for_the_runtime_and_a_bad_entry_is_not() {
        use trustloop_runtime::error::{Context, chain};
        let outage: trustloop_runtime::Result<()> =
            Err(TokenError::Log(LogError::Timeout("fetching offsets".into()))).context("cannot read the tokens");
        let e = outage.expect_err("an error");
        assert!(e.is_retriable());
        assert_eq!(chain(&e), "cannot read the tokens: timed out: fetching offsets");
        let bad = trustloop_runtime::RuntimeError::from(TokenError::BadEntry { offset: 3, reason: "not JSON".into() });
        assert!(!bad.is_retriable());
    }

    #[tokio::test]
    async fn tokens_verify_until_revoked_and_only_their_hash_is_stored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log: Arc<dyn EventLog> =
            Arc::new(EmbeddedLog::open(dir.path(), EmbeddedOptions::default()).expect("open the log"));
        let store = TokenStore::open(log.clone()).await.expect("store");
        let (info, token) = store.create("acme", Some("sensors"), &[Role::Ingest, Role::Ingest]).await.expect("create");
        assert_eq!(info.roles, [Role::Ingest]);
        let who = store.verify(&token).expect("a fresh token verifies");
        assert_eq!((who.tenant.as_str(), who.service.as_deref()), ("acme", Some("sensors")));
        // A wrong secret under a right id, garbage, an unknown id: nobody.
        let mut wrong = token.clone();
        wrong.pop();
        wrong.push(if token.ends_with('0') { '1' } else { '0' });
        assert!(store.verify(&wrong).is_none());
        assert!(store.verify("Bearer nonsense").is_none());
        assert!(store.verify("tl_0000000000000000_00").is_none());
        // The secret is nowhere in the log.
        let stored = log.read(TOKENS_TOPIC, 0, 0, 10).await.expect("read");
        let secret = token.rsplit('_').next().expect("secret");
        assert!(stored.iter().all(|r| !String::from_utf8_lossy(&r.value).contains(secret)));
        // Another store on the same log sees the token, and the revocation.
        let other = TokenStore::open(log.clone()).await.expect("second store");
        assert!(other.verify(&token).is_some());
        store.revoke(&info.id).await.expect("revoke");
        assert!(store.verify(&token).is_none(), "revoked");
        other.refresh().await.expect("refresh");
        assert!(other.verify(&token).is_none(), "revoked everywhere after a refresh");
        assert!(matches!(store.revoke("nope").await, Err(TokenError::Unknown(_))));
        assert!(store.create("", None, &[Role::Read]).await.is_err());
        assert!(store.create("acme", None, &[]).await.is_err());
    }
}
