//! The dispatcher: executes one dispatched action with the adapter routed for its kind.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use trustloop_schemas::{ActionKind, ActionState, EnforcementAction, EnforcementResult};

use super::config::{AdapterContext, EnforcementConfig};
use super::{Adapter, EnforceError, Report, Started, state_name};

/// The adapter name on results the dispatcher reports itself (an action no adapter handles).
pub const DISPATCHER: &str = "dispatcher";

/// Adapters and the routing of action kinds to them.
#[derive(Default)]
pub struct Dispatcher {
    adapters: BTreeMap<String, Arc<dyn Adapter>>,
    routes: Vec<(ActionKind, String)>,
    default_adapter: Option<String>,
}

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher")
            .field("adapters", &self.adapters.keys().collect::<Vec<_>>())
            .field("routes", &self.routes)
            .field("default_adapter", &self.default_adapter)
            .finish()
    }
}

impl Dispatcher {
    /// A dispatcher with no adapters (every action fails with "no adapter").
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds every configured adapter and the routing; the first configuration error is returned.
    pub fn from_config(config: &EnforcementConfig, context: &AdapterContext) -> Result<Dispatcher, EnforceError> {
        let routes = config.routing()?;
        let mut adapters = BTreeMap::new();
        for (name, adapter) in &config.adapters {
            adapters.insert(name.clone(), adapter.build(name, context)?);
        }
        Ok(Dispatcher { adapters, routes, default_adapter: config.default_adapter.clone() })
    }

    /// Adds `adapter` (replacing one of the same name) and routes `kinds` to it (replacing their
    /// earlier routes).
    pub fn route(mut self, adapter: Arc<dyn Adapter>, kinds: &[ActionKind]) -> Self {
        let name = adapter.name().to_string();
        self.routes.retain(|(k, _)| !kinds.contains(k));
        self.routes.extend(kinds.iter().map(|k| (*k, name.clone())));
        self.adapters.insert(name, adapter);
        self
    }

    /// The adapter handling `kind`, if any.
    pub fn adapter_for(&self, kind: ActionKind) -> Option<&Arc<dyn Adapter>> {
        let name = self.routes.iter().find(|(k, _)| *k == kind).map(|(_, n)| n).or(self.default_adapter.as_ref())?;
        self.adapters.get(name)
    }

    /// Executes `action` with the adapter routed for its kind — a workflow call with the adapter its
    /// step names — and returns that adapter's results. An action whose kind no adapter handles (or
    /// whose step names no configured adapter) gets one `failed` result from [`DISPATCHER`]. Actions in
    /// any state but `dispatched` are not for adapters: they get no results.
    pub async fn execute(&self, action: &EnforcementAction) -> Vec<EnforcementResult> {
        if action.state != ActionState::Dispatched {
            tracing::debug!(action_id = %action.action_id, state = state_name(action.state), "not a dispatched action: skipped");
            return Vec::new();
        }
        if let Some(step) = &action.step {
            return match self.adapters.get(&step.adapter) {
                Some(adapter) => adapter.execute(action).await,
                None => {
                    let mut report = Report::new(DISPATCHER, action);
                    let error = EnforceError::NoAdapter { name: step.adapter.clone() };
                    report.failed(&error, Started::now());
                    report.finish()
                }
            };
        }
        match self.adapter_for(action.kind) {
            Some(adapter) => adapter.execute(action).await,
            None => {
                let mut report = Report::new(DISPATCHER, action);
                report.failed(&EnforceError::NoRoute { kind: action.kind }, Started::now());
                report.finish()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::enforce::command::CommandConfig;
    use crate::enforce::testing::{action, states};
    use crate::enforce::{AdapterConfig, build_result};

    /// Records which actions it was given.
    struct Probe {
        name: &'static str,
        seen: std::sync::Mutex<Vec<String>>,
    }

    #[async_trait]
    impl Adapter for Probe {
        fn name(&self) -> &str {
            self.name
        }
        async fn execute(&self, action: &EnforcementAction) -> Vec<EnforcementResult> {
            self.seen.lock().expect("lock").push(action.action_id.clone());
            let step = Started::now();
            vec![build_result(self.name, action, ActionState::Acknowledged, true, "ok".into(), step)]
        }
    }

    fn probe(name: &'static str) -> Arc<Probe> {
        Arc::new(Probe { name, seen: Default::default() })
    }

    #[tokio::test]
    async fn routes_by_kind_and_reports_unrouted_kinds() {
        let (fw, pager) = (probe("fw"), probe("pager"));
        let dispatcher = Dispatcher::new()
            .route(fw.clone(), &[ActionKind::Isolate, ActionKind::Quarantine])
            .route(pager.clone(), &[ActionKind::Notify]);
        let r = dispatcher.execute(&action("a1", ActionKind::Isolate, false)).await;
        assert_eq!((r.len(), r[0].adapter.as_str()), (1, "fw"));
        dispatcher.execute(&action("a2", ActionKind::Notify, false)).await;
        assert_eq!(*fw.seen.lock().expect("lock"), ["a1"]);
        assert_eq!(*pager.seen.lock().expect("lock"), ["a2"]);

        let none = dispatcher.execute(&action("a3", ActionKind::Promote, false)).await;
        assert_eq!(states(&none), [ActionState::Failed]);
        assert_eq!(none[0].adapter, DISPATCHER);
        assert!(none[0].message.contains("no adapter is configured for `promote` actions"), "{}", none[0].message);

        let mut requested = action("a4", ActionKind::Isolate, false);
        requested.state = ActionState::Requested;
        assert!(dispatcher.execute(&requested).await.is_empty(), "only dispatched actions are executed");
    }

    /// A workflow call goes to the adapter its step names, whatever the kind's route, with its
    /// parameters in the environment; every result carries a complete execution record.
    #[tokio::test]
    async fn workflow_calls_go_to_their_steps_adapter_with_execution_records() {
        let script = "echo \"$TRUSTLOOP_STEP_ROLE $TRUSTLOOP_PHASE $TRUSTLOOP_PARAM_ADDR $TRUSTLOOP_PARAM_DST_PORT\"; \
                      echo oops >&2; exit \"$TRUSTLOOP_PARAM_CODE\"";
        let step = |code: &str| {
            let mut a = action("w1", ActionKind::Isolate, false);
            a.sandbox = true;
            a.workflow = Some("firewall-drop".into());
            a.step = Some(trustloop_schemas::WorkflowStep {
                index: 0,
                name: "drop".into(),
                role: trustloop_schemas::StepRole::Check,
                adapter: "netns".into(),
                params: [("addr", "10.77.1.2"), ("dst-port", "8080"), ("code", code)]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            });
            a
        };
        let netns = crate::enforce::command::CommandAdapter::new(
            "netns",
            &CommandConfig::new("sh", vec!["-c".into(), script.into()]),
        )
        .expect("adapter");
        let fw = probe("fw");
        let dispatcher = Dispatcher::new().route(fw.clone(), &[ActionKind::Isolate]).route(Arc::new(netns), &[]);
        let ok = dispatcher.execute(&step("0")).await;
        assert!(fw.seen.lock().expect("lock").is_empty(), "the kind's route is not used for a workflow call");
        assert_eq!(states(&ok), [ActionState::Acknowledged, ActionState::Applied]);
        let record = ok[1].execution.clone().expect("an execution record");
        assert_eq!(record.exit_code, Some(0));
        assert_eq!(record.stdout, "check sandbox 10.77.1.2 8080");
        assert_eq!((record.stderr.as_str(), record.error.as_deref(), record.http_status), ("oops", None, None));
        assert!(ok.iter().all(|r| r.adapter == "netns" && r.started_at.as_micros() > 0 && r.duration_micros >= 0));

        let failed = dispatcher.execute(&step("3")).await;
        assert_eq!(states(&failed), [ActionState::Acknowledged, ActionState::Failed]);
        let record = failed[1].execution.clone().expect("an execution record");
        assert_eq!((record.exit_code, record.stderr.as_str()), (Some(3), "oops"));
        assert!(record.error.as_deref().is_some_and(|e| e.contains("exited with status 3")), "{record:?}");

        let mut missing = step("0");
        if let Some(s) = missing.step.as_mut() {
            s.adapter = "nope".into();
        }
        let none = dispatcher.execute(&missing).await;
        assert_eq!((states(&none), none[0].adapter.as_str()), (vec![ActionState::Failed], DISPATCHER));
        assert!(none[0].message.contains("no adapter `nope` is configured"), "{}", none[0].message);
    }

    #[tokio::test]
    async fn builds_from_configuration_with_a_default_adapter() {
        let mut config = EnforcementConfig::default();
        config.adapters.insert("ok".into(), AdapterConfig::Command(CommandConfig::new("true", Vec::new())));
        config.adapters.insert("no".into(), AdapterConfig::Command(CommandConfig::new("false", Vec::new())));
        config.routes.insert("no".into(), vec![ActionKind::Isolate]);
        config.default_adapter = Some("ok".into());
        let dispatcher = Dispatcher::from_config(&config, &AdapterContext::default()).expect("dispatcher");
        let ok = dispatcher.execute(&action("b1", ActionKind::Notify, false)).await;
        assert_eq!(states(&ok), [ActionState::Acknowledged, ActionState::Applied]);
        assert_eq!(ok[0].adapter, "ok");
        let no = dispatcher.execute(&action("b2", ActionKind::Isolate, false)).await;
        assert_eq!(states(&no), [ActionState::Acknowledged, ActionState::Failed]);
        assert_eq!(no[1].adapter, "no");
    }
}
