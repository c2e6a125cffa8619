//! The live dashboard: `GET /dashboard` (one self-contained page: no CDN, no build step),
//! `GET /v1/stream` (server-sent events: a snapshot of the caller's tenant every second) and
//! `GET /v1/dashboard` (the same snapshot once, as JSON).
//!
//! A feed tails the derived streams — trust scores, verdicts, actions, findings — into per-tenant
//! boards in memory, and samples the log: events per second on every topic, and each operator's
//! consumer lag (its committed offsets against the ends of its inputs). Browsers cannot put a
//! token in a header for a page or an `EventSource`: these routes also take it as
//! `?access_token=`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use trustloop_connectors::log::PartitionReader;
use trustloop_schemas::{Event, EventType, FindingChange};

use super::Gateway;
use super::error::ApiError;
use super::tokens::{Principal, Role};
use trustloop_runtime::backend::Backend;

/// The page.
const PAGE: &str = include_str!("page.html");
/// Entities shown by lowest trust score.
const LOWEST: usize = 30;
/// Recent verdicts and actions shown.
const RECENT: usize = 15;
/// Records read per topic-partition per feed round (the rest on the next round).
const CHUNK: usize = 50_000;

/// One tenant's board.
#[derive(Debug, Default)]
struct Board {
    trust: BTreeMap<String, (f64, i64)>,
    verdicts: BTreeMap<String, String>,
    recent_verdicts: VecDeque<RecentVerdict>,
    actions: BTreeMap<String, String>,
    recent_actions: VecDeque<RecentAction>,
    findings: BTreeMap<String, String>,
}

/// A verdict as the dashboard lists it.
#[derive(Debug, Clone, Serialize)]
pub struct RecentVerdict {
    subject: String,
    outcome: String,
    previous: Option<String>,
    event_time: String,
}

/// An action as the dashboard lists it.
#[derive(Debug, Clone, Serialize)]
pub struct RecentAction {
    action_id: String,
    kind: String,
    subject: String,
    state: String,
    event_time: String,
    /// For a remediation workflow's call: ``firewall-drop: sandbox check 1 `drop` ``.
    step: Option<String>,
}

/// How the dashboard names a workflow call: ``WORKFLOW: PHASE ROLE N `STEP` `` (`None` outside workflows).
fn workflow_step(a: &trustloop_schemas::EnforcementAction) -> Option<String> {
    let workflow = a.workflow.as_deref()?;
    let Some(s) = &a.step else { return Some(workflow.to_string()) };
    let phase = if a.sandbox { "sandbox" } else { "target" };
    Some(format!("{workflow}: {phase} {} {} `{}`", name(&s.role), s.index + 1, s.name))
}

/// An entity's trust score.
#[derive(Debug, Clone, Serialize)]
pub struct Score {
    entity: String,
    score: f64,
}

/// An operator's consumer lag.
#[derive(Debug, Clone, Serialize)]
pub struct Lag {
    operator: &'static str,
    records: i64,
}

/// What the dashboard shows of one tenant.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// The tenant.
    pub tenant: String,
    /// Events per second appended to each topic (over the last sampling interval).
    pub rates: BTreeMap<String, f64>,
    /// Each operator's consumer lag, in records.
    pub lag: Vec<Lag>,
    /// How many entities have a trust score.
    pub entities: usize,
    /// The lowest trust scores.
    pub lowest_trust: Vec<Score>,
    /// Subjects by current verdict outcome.
    pub verdicts: BTreeMap<String, usize>,
    /// The latest verdicts, newest first.
    pub recent_verdicts: Vec<RecentVerdict>,
    /// Actions by lifecycle state.
    pub actions: BTreeMap<String, usize>,
    /// The latest action updates, newest first.
    pub recent_actions: Vec<RecentAction>,
    /// Open findings by severity.
    pub findings: BTreeMap<String, usize>,
    /// Derived events the feed has read.
    pub events_read: u64,
}

/// The serde name of an enum value.
fn name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn push_recent<T>(q: &mut VecDeque<T>, item: T) {
    q.push_front(item);
    q.truncate(RECENT);
}

impl Board {
    fn apply(&mut self, event: &Event) {
        let at = event.envelope().event_time.to_string();
        match event {
            Event::TrustScore(t) => {
                self.trust.insert(t.entity.clone(), (t.score, t.envelope.event_time.as_micros()));
            }
            Event::Verdict(v) => {
                let outcome = name(&v.outcome);
                self.verdicts.insert(v.subject.clone(), outcome.clone());
                let previous = v.previous.as_ref().map(name);
                push_recent(
                    &mut self.recent_verdicts,
                    RecentVerdict { subject: v.subject.clone(), outcome, previous, event_time: at },
                );
            }
            Event::EnforcementAction(a) => {
                let state = name(&a.state);
                self.actions.insert(a.action_id.clone(), state.clone());
                push_recent(
                    &mut self.recent_actions,
                    RecentAction {
                        action_id: a.action_id.clone(),
                        kind: name(&a.kind),
                        subject: a.subject.clone(),
                        state,
                        event_time: at,
                        step: workflow_step(a),
                    },
                );
            }
            Event::Finding(f) => {
                let key = format!(
                    "{}@{}@{}|{}|{}",
                    f.release_name,
                    f.release_version,
                    f.environment.as_deref().unwrap_or(""),
                    f.vulnerability(),
                    f.purl
                );
                match f.change {
                    FindingChange::Opened => {
                        self.findings.insert(key, crate::views::severity_band(f.severity.as_deref()).to_string());
                    }
                    FindingChange::Closed => {
                        self.findings.remove(&key);
                    }
                }
            }
            _ => {}
        }
    }
}

fn counts<'a>(values: impl Iterator<Item = &'a String>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for v in values {
        *out.entry(v.clone()).or_default() += 1;
    }
    out
}

/// What the feed knows.
#[derive(Default)]
struct FeedState {
    positions: HashMap<(&'static str, u32), i64>,
    boards: HashMap<String, Board>,
    last_ends: Option<(Instant, BTreeMap<String, i64>)>,
    rates: BTreeMap<String, f64>,
    lag: Vec<Lag>,
    events_read: u64,
}

/// The dashboard's feed (see the module docs).
#[derive(Default)]
pub struct Feed {
    state: RwLock<FeedState>,
}

/// The derived topics the boards are made of.
const FED: [EventType; 4] =
    [EventType::TrustScore, EventType::Verdict, EventType::EnforcementAction, EventType::Finding];

impl Feed {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, FeedState> {
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, FeedState> {
        self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads what is new on the derived topics and samples rates and lag.
    pub async fn round(&self, backend: &Backend) -> Result<(), trustloop_connectors::log::LogError> {
        for ty in FED {
            let topic = ty.topic();
            for (p, o) in backend.log.offsets(topic).await?.iter().enumerate() {
                let partition = p as u32;
                let pos = self.read().positions.get(&(topic, partition)).copied().unwrap_or(o.start).max(o.start);
                if pos >= o.end {
                    continue;
                }
                let mut reader = PartitionReader::new(topic, partition, pos).until(o.end);
                let mut decoded = Vec::new();
                while decoded.len() < CHUNK
                    && let Some(records) = reader.next(&*backend.log).await?
                {
                    decoded
                        .extend(records.iter().filter_map(|r| backend.codec.decode(&r.value, &*backend.registry).ok()));
                }
                let next = reader.position();
                let mut st = self.write();
                st.events_read += decoded.len() as u64;
                for e in &decoded {
                    st.boards.entry(e.envelope().tenant.to_string()).or_default().apply(e);
                }
                st.positions.insert((topic, partition), next);
            }
        }
        self.sample(backend).await
    }

    async fn sample(&self, backend: &Backend) -> Result<(), trustloop_connectors::log::LogError> {
        let now = Instant::now();
        let mut ends = BTreeMap::new();
        for ty in EventType::ALL {
            let topic = ty.topic();
            if let Ok(offsets) = backend.log.end_offsets(topic).await {
                ends.insert(topic.to_string(), offsets.iter().sum::<i64>());
            }
        }
        let mut lag = Vec::new();
        for op in trustloop_runtime::graph::operators() {
            let group = format!("trustloop.{}", op.name());
            let mut records = 0;
            for input in op.inputs() {
                let offsets = backend.log.offsets(input.topic()).await?;
                let committed = backend.log.committed_offsets(&group, input.topic()).await?;
                for (o, c) in offsets.iter().zip(committed) {
                    records += o.end - c.unwrap_or(o.start).max(o.start);
                }
            }
            lag.push(Lag { operator: op.name(), records });
        }
        let mut st = self.write();
        if let Some((then, before)) = &st.last_ends {
            let secs = now.duration_since(*then).as_secs_f64().max(1e-3);
            let rates = ends
                .iter()
                .map(|(t, e)| (t.clone(), (e - before.get(t).copied().unwrap_or(*e)).max(0) as f64 / secs))
                .collect();
            st.rates = rates;
        }
        st.last_ends = Some((now, ends));
        st.lag = lag;
        Ok(())
    }

    /// The snapshot of `tenant`.
    pub fn snapshot(&self, tenant: &str) -> Snapshot {
        let st = self.read();
        let empty = Board::default();
        let b = st.boards.get(tenant).unwrap_or(&empty);
        let mut lowest: Vec<Score> = b.trust.iter().map(|(e, (s, _))| Score { entity: e.clone(), score: *s }).collect();
        lowest.sort_by(|a, b| a.score.total_cmp(&b.score).then_with(|| a.entity.cmp(&b.entity)));
        lowest.truncate(LOWEST);
        Snapshot {
            tenant: tenant.to_string(),
            rates: st.rates.clone(),
            lag: st.lag.clone(),
            entities: b.trust.len(),
            lowest_trust: lowest,
            verdicts: counts(b.verdicts.values()),
            recent_verdicts: b.recent_verdicts.iter().cloned().collect(),
            actions: counts(b.actions.values()),
            recent_actions: b.recent_actions.iter().cloned().collect(),
            findings: counts(b.findings.values()),
            events_read: st.events_read,
        }
    }
}

/// Runs the feed every `period` until the gateway is dropped.
pub fn spawn(gateway: &Arc<Gateway>, period: Duration) -> tokio::task::JoinHandle<()> {
    let weak = Arc::downgrade(gateway);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(g) = weak.upgrade() else { return };
            if let Err(e) = g.dashboard.round(&g.backend).await {
                tracing::warn!(error = %e, "dashboard feed: cannot read the log");
            }
        }
    })
}

/// The token of a browser request: the `Authorization` header, or `?access_token=`.
#[derive(Debug, Deserialize)]
pub struct TokenParam {
    access_token: Option<String>,
}

async fn viewer(g: &Gateway, headers: &HeaderMap, param: &TokenParam) -> Result<Principal, ApiError> {
    let mut headers = headers.clone();
    if let (None, Some(t)) = (headers.get(header::AUTHORIZATION), &param.access_token)
        && let Ok(v) = format!("Bearer {t}").parse()
    {
        headers.insert(header::AUTHORIZATION, v);
    }
    let p = g.authorize(&headers, Role::Read).await?;
    if p.service.is_some() {
        return Err(ApiError::forbidden(
            "the dashboard shows a tenant's derived streams: a token confined to one service cannot read them",
        ));
    }
    Ok(p)
}

/// `GET /dashboard`.
pub async fn page(State(g): State<Arc<Gateway>>, headers: HeaderMap, Query(param): Query<TokenParam>) -> Response {
    let answer = viewer(&g, &headers, &param).await;
    g.metrics.request("dashboard", answer.as_ref().map_or_else(|e| e.status.as_u16(), |_| 200));
    match answer {
        Ok(_) => ([(header::CACHE_CONTROL, "no-store")], Html(PAGE)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /v1/dashboard`: the caller's tenant's snapshot.
pub async fn snapshot(State(g): State<Arc<Gateway>>, headers: HeaderMap, Query(param): Query<TokenParam>) -> Response {
    let answer = viewer(&g, &headers, &param).await;
    g.metrics.request("dashboard", answer.as_ref().map_or_else(|e| e.status.as_u16(), |_| 200));
    match answer {
        Ok(p) => axum::Json(g.dashboard.snapshot(&p.tenant)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /v1/stream`: the caller's tenant's snapshot every second, as `snapshot` events.
pub async fn stream(State(g): State<Arc<Gateway>>, headers: HeaderMap, Query(param): Query<TokenParam>) -> Response {
    let principal = match viewer(&g, &headers, &param).await {
        Ok(p) => p,
        Err(e) => {
            g.metrics.request("stream", e.status.as_u16());
            return e.into_response();
        }
    };
    g.metrics.request("stream", StatusCode::OK.as_u16());
    let weak = Arc::downgrade(&g);
    let tenant = principal.tenant;
    let closing = g.closing.subscribe();
    let events =
        futures::stream::unfold((weak, tenant, closing, true), |(weak, tenant, mut closing, first)| async move {
            if !first {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = closing.changed() => return None,
                }
            }
            if *closing.borrow() {
                return None;
            }
            let g = weak.upgrade()?;
            let data = serde_json::to_string(&g.dashboard.snapshot(&tenant)).unwrap_or_default();
            drop(g);
            Some((
                Ok::<_, Infallible>(SseEvent::default().event("snapshot").data(data)),
                (weak, tenant, closing, false),
            ))
        });
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}

#[cfg(test)]
mod tests {
    use trustloop_schemas::{
        ActionKind, ActionState, EnforcementAction, Envelope, EventId, EventTime, StepRole, WorkflowStep,
    };

    use super::workflow_step;

    #[test]
    fn a_workflow_call_is_named_by_phase_role_and_step() {
        let mut a = EnforcementAction {
            envelope: Envelope {
                event_id: "00000000-0000-8000-8000-000000000000".parse::<EventId>().expect("an id"),
                tenant: "acme".into(),
                key: "acme".into(),
                event_time: EventTime::from_micros(0),
                source: "test".into(),
                schema_version: 1,
            },
            action_id: "a1".into(),
            subject: "10.77.1.2".into(),
            kind: ActionKind::Isolate,
            state: ActionState::Dispatched,
            target: "sandbox:entity:10.77.1.2".into(),
            sandbox: true,
            attempt: 2,
            cause_event_id: String::new(),
            reason: String::new(),
            deadline: None,
            revert: false,
            workflow: None,
            step: None,
        };
        assert_eq!(workflow_step(&a), None);
        a.workflow = Some("firewall-drop".into());
        assert_eq!(workflow_step(&a).as_deref(), Some("firewall-drop"));
        a.step = Some(WorkflowStep {
            index: 0,
            name: "drop".into(),
            role: StepRole::Check,
            adapter: "netns".into(),
            params: Default::default(),
        });
        assert_eq!(workflow_step(&a).as_deref(), Some("firewall-drop: sandbox check 1 `drop`"));
    }
}
