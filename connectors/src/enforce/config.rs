//! Enforcement configuration: the adapters and which action kinds each one handles (the
//! `[enforcement]` table of `trustloop.toml`).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use trustloop_schemas::{ActionKind, EventCodec};

use super::command::{CommandAdapter, CommandConfig};
use super::kafka::{KafkaTopicAdapter, KafkaTopicConfig};
use super::webhook::{WebhookAdapter, WebhookConfig};
use super::{Adapter, EnforceError, kind_name};
use crate::log::EventLog;

/// One adapter, chosen by its `type`.
///
/// ```toml
/// [enforcement.adapters.edge-firewall]
/// type = "command"        # or "webhook", "kafka"
/// program = "deploy/enforcement/firewall.sh"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AdapterConfig {
    /// An HMAC-signed HTTP POST ([`WebhookConfig`]).
    Webhook(WebhookConfig),
    /// A local program ([`CommandConfig`]).
    Command(CommandConfig),
    /// An append to a topic an external controller consumes ([`KafkaTopicConfig`]).
    Kafka(KafkaTopicConfig),
}

/// What building an adapter may need besides its configuration.
#[derive(Clone, Default)]
pub struct AdapterContext {
    /// The event log (needed by `kafka` adapters).
    pub log: Option<Arc<dyn EventLog>>,
    /// The codec events are written with (the backend's, which knows registry-assigned schema ids).
    pub codec: EventCodec,
}

impl AdapterConfig {
    /// The adapter's type name (`webhook`, `command`, `kafka`).
    pub fn type_name(&self) -> &'static str {
        match self {
            AdapterConfig::Webhook(_) => "webhook",
            AdapterConfig::Command(_) => "command",
            AdapterConfig::Kafka(_) => "kafka",
        }
    }

    /// Builds the adapter `name` from this configuration.
    pub fn build(&self, name: &str, context: &AdapterContext) -> Result<Arc<dyn Adapter>, EnforceError> {
        check_adapter_name(name)?;
        let in_adapter = |e: EnforceError| match e {
            EnforceError::Config(m) => EnforceError::Config(format!("enforcement.adapters.{name}: {m}")),
            other => other,
        };
        Ok(match self {
            AdapterConfig::Webhook(c) => Arc::new(WebhookAdapter::new(name, c).map_err(in_adapter)?),
            AdapterConfig::Command(c) => Arc::new(CommandAdapter::new(name, c).map_err(in_adapter)?),
            AdapterConfig::Kafka(c) => {
                let log = context.log.clone().ok_or_else(|| {
                    EnforceError::Config(format!("enforcement.adapters.{name}: a kafka adapter needs the event log"))
                })?;
                Arc::new(KafkaTopicAdapter::new(name, c, log, context.codec.clone()).map_err(in_adapter)?)
            }
        })
    }
}

/// Adapter names end up in result sources (`trustloop.adapter.<name>`): letters, digits, `.`, `_`
/// and `-` only.
fn check_adapter_name(name: &str) -> Result<(), EnforceError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(EnforceError::Config(format!("adapter name `{name}`: use 1–100 ASCII letters, digits, `.`, `_` or `-`")))
    }
}

/// The `[enforcement]` table: adapters by name and the action kinds each one handles.
///
/// ```toml
/// [enforcement.adapters.edge-firewall]
/// type = "command"
/// program = "deploy/enforcement/firewall.sh"
/// env = { TRUSTLOOP_FIREWALL_RULES = "/etc/trustloop/deny.rules" }
///
/// [enforcement.adapters.pager]
/// type = "webhook"
/// url = "https://hooks.example.com/trustloop"
/// secret_env = "TRUSTLOOP_PAGER_SECRET"
///
/// [enforcement.routes]
/// edge-firewall = ["isolate", "quarantine", "lift_quarantine"]
/// pager = ["notify"]
///
/// # [enforcement]
/// # default_adapter = "pager"     # kinds without a route
/// ```
///
/// Each action kind is handled by at most one adapter. An action whose kind has no route (and no
/// default adapter) fails with a `failed` result saying so.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnforcementConfig {
    /// The adapters, by name.
    #[serde(default)]
    pub adapters: BTreeMap<String, AdapterConfig>,
    /// For each adapter name, the action kinds (`quarantine`, `isolate`, `block_promotion`,
    /// `promote`, `notify`, `lift_quarantine`, `rollback`) it handles.
    #[serde(default)]
    pub routes: BTreeMap<String, Vec<ActionKind>>,
    /// The adapter handling kinds that no route names.
    #[serde(default)]
    pub default_adapter: Option<String>,
}

impl EnforcementConfig {
    /// Checks that routes and the default adapter name configured adapters and that no kind is
    /// routed twice; returns the route of each kind.
    pub fn routing(&self) -> Result<Vec<(ActionKind, String)>, EnforceError> {
        let mut routed: Vec<(ActionKind, String)> = Vec::new();
        for (adapter, kinds) in &self.routes {
            if !self.adapters.contains_key(adapter) {
                return Err(EnforceError::Config(format!(
                    "enforcement.routes.{adapter}: no adapter named `{adapter}` (configured: {})",
                    self.names()
                )));
            }
            for kind in kinds {
                if let Some((_, other)) = routed.iter().find(|(k, _)| k == kind) {
                    return Err(EnforceError::Config(format!(
                        "enforcement.routes.{adapter}: `{}` actions are already routed to `{other}`",
                        kind_name(*kind)
                    )));
                }
                routed.push((*kind, adapter.clone()));
            }
        }
        if let Some(default) = &self.default_adapter
            && !self.adapters.contains_key(default)
        {
            return Err(EnforceError::Config(format!(
                "enforcement.default_adapter: no adapter named `{default}` (configured: {})",
                self.names()
            )));
        }
        Ok(routed)
    }

    fn names(&self) -> String {
        if self.adapters.is_empty() {
            return "none".to_string();
        }
        self.adapters.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
[adapters.edge-firewall]
type = "command"
program = "deploy/enforcement/firewall.sh"
env = { TRUSTLOOP_FIREWALL_RULES = "/etc/trustloop/deny.rules" }
rate_limit = { rate_per_second = 10, burst = 20 }

[adapters.pager]
type = "webhook"
url = "https://hooks.example.com/trustloop"
secret = "s3cret"
verify_url = "https://hooks.example.com/trustloop/actions/{action_id}"
timeout_ms = 5000

[adapters.nac]
type = "kafka"
topic = "nac-requests"

[routes]
edge-firewall = ["isolate", "quarantine", "lift_quarantine"]
pager = ["notify"]
nac = ["block_promotion"]
"#;

    #[test]
    fn the_documented_example_parses_and_routes() {
        let config: EnforcementConfig = toml::from_str(EXAMPLE).expect("parse");
        assert_eq!(config.adapters.len(), 3);
        let AdapterConfig::Command(fw) = &config.adapters["edge-firewall"] else { panic!("command") };
        assert_eq!(fw.env["TRUSTLOOP_FIREWALL_RULES"], "/etc/trustloop/deny.rules");
        assert_eq!(fw.timeout_ms, 30_000, "default");
        let rate = fw.rate_limit.as_ref().expect("rate limit");
        assert_eq!((rate.rate_per_second, rate.burst), (10.0, 20));
        let AdapterConfig::Webhook(pager) = &config.adapters["pager"] else { panic!("webhook") };
        assert_eq!(pager.timeout_ms, 5000);
        assert!(matches!(config.adapters["nac"], AdapterConfig::Kafka(_)));
        let routing = config.routing().expect("routing");
        assert_eq!(routing.len(), 5);
        assert!(routing.contains(&(ActionKind::Notify, "pager".to_string())));
        // It round-trips.
        let text = toml::to_string(&config).expect("serialise");
        assert_eq!(toml::from_str::<EnforcementConfig>(&text).expect("reparse"), config);
    }

    #[test]
    fn mistakes_are_reported_with_their_place() {
        let err = |text: &str| toml::from_str::<EnforcementConfig>(text).expect_err("refused").to_string();
        let unknown_type = err("[adapters.x]\ntype = \"carrier-pigeon\"\n");
        assert!(unknown_type.contains("carrier-pigeon"), "{unknown_type}");
        let typo = err("[adapters.x]\ntype = \"command\"\nprogram = \"p\"\ntimout_ms = 5\n");
        assert!(typo.contains("timout_ms"), "{typo}");
        let kind = err("[routes]\nx = [\"nuke\"]\n");
        assert!(kind.contains("nuke"), "{kind}");

        let routing = |text: &str| {
            toml::from_str::<EnforcementConfig>(text).expect("parses").routing().expect_err("refused").to_string()
        };
        let missing = routing("[adapters.a]\ntype = \"kafka\"\ntopic = \"t\"\n[routes]\nb = [\"notify\"]\n");
        assert!(missing.contains("enforcement.routes.b") && missing.contains("configured: a"), "{missing}");
        let twice = routing(
            "[adapters.a]\ntype = \"kafka\"\ntopic = \"t\"\n[adapters.b]\ntype = \"kafka\"\ntopic = \"u\"\n\
             [routes]\na = [\"notify\"]\nb = [\"notify\"]\n",
        );
        assert!(twice.contains("already routed to `a`"), "{twice}");
        let default = routing("default_adapter = \"z\"\n");
        assert!(default.contains("default_adapter") && default.contains("none"), "{default}");
    }

    #[test]
    fn building_reports_the_adapter_at_fault() {
        let config: EnforcementConfig = toml::from_str(EXAMPLE).expect("parse");
        let err = config.adapters["nac"].build("nac", &AdapterContext::default()).err().expect("no log");
        assert!(err.to_string().contains("needs the event log"), "{err}");
        let bad = AdapterConfig::Webhook(WebhookConfig::new("gopher://x", "s"));
        let err = bad.build("pager", &AdapterContext::default()).err().expect("bad url");
        assert!(err.to_string().contains("enforcement.adapters.pager: url"), "{err}");
        let err = config.adapters["pager"].build("no spaces", &AdapterContext::default()).err().expect("bad name");
        assert!(err.to_string().contains("adapter name"), "{err}");
        let built = config.adapters["edge-firewall"].build("edge-firewall", &AdapterContext::default()).expect("build");
        assert_eq!(built.name(), "edge-firewall");
    }
}
