//! HTTP channels: a signed webhook, Slack and Teams incoming webhooks.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::json;
use trustloop_schemas::{Event, Notification};

use super::{NotifyError, Sent, excerpt};
use crate::enforce::webhook::{
    IDEMPOTENCY_HEADER, SIGNATURE_HEADER, Secret, TIMESTAMP_HEADER, resolve_secret, signature,
};

/// Most bytes of a response body read.
const MAX_RESPONSE: u64 = 64 * 1024;

/// An HTTP channel's configuration (`type = "webhook"`, `"slack"` or `"teams"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpChannelConfig {
    /// The URL messages are POSTed to (`http://` or `https://`).
    pub url: String,
    /// Webhook only: the signing secret (prefer `secret_env`).
    #[serde(default)]
    pub secret: Option<Secret>,
    /// Webhook only: the environment variable holding the signing secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Limit for each request, in milliseconds (default 10000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    10_000
}

/// Which body an HTTP channel sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpKind {
    /// The notification as JSON, HMAC-signed.
    Webhook,
    /// Slack's incoming-webhook JSON.
    Slack,
    /// Teams' MessageCard JSON.
    Teams,
}

impl HttpKind {
    /// `webhook`, `slack`, `teams`.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpKind::Webhook => "webhook",
            HttpKind::Slack => "slack",
            HttpKind::Teams => "teams",
        }
    }
}

/// A built HTTP channel.
pub struct HttpChannel {
    kind: HttpKind,
    url: String,
    secret: Option<Vec<u8>>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for HttpChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpChannel").field("kind", &self.kind).field("url", &self.url).finish_non_exhaustive()
    }
}

impl HttpChannel {
    /// A channel of `kind` for `config`; a webhook needs a secret, Slack and Teams take none.
    pub fn new(kind: HttpKind, config: &HttpChannelConfig) -> Result<HttpChannel, NotifyError> {
        if !(config.url.starts_with("http://") || config.url.starts_with("https://")) {
            return Err(NotifyError::Config(format!("url `{}` must start with http:// or https://", config.url)));
        }
        let secret = match kind {
            HttpKind::Webhook => Some(
                resolve_secret(config.secret.as_ref(), config.secret_env.as_deref())
                    .map_err(|e| NotifyError::Config(e.to_string()))?
                    .into_bytes(),
            ),
            HttpKind::Slack | HttpKind::Teams if config.secret.is_some() || config.secret_env.is_some() => {
                return Err(NotifyError::Config(format!(
                    "a {} channel is not signed: remove the secret",
                    kind.as_str()
                )));
            }
            _ => None,
        };
        if config.timeout_ms == 0 {
            return Err(NotifyError::Config("timeout_ms must be at least 1".into()));
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_millis(config.timeout_ms)))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("trustloop/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(HttpChannel { kind, url: config.url.clone(), secret, agent })
    }

    /// Which body it sends.
    pub fn kind(&self) -> HttpKind {
        self.kind
    }

    /// The JSON body for `n`.
    pub fn body(&self, n: &Notification) -> String {
        let text = format!("{}\n{}", n.title, n.body.trim_end());
        let value = match self.kind {
            HttpKind::Webhook => trustloop_schemas::json::event_to_json(&Event::Notification(n.clone())),
            HttpKind::Slack => json!({
                "text": text,
                "blocks": [
                    {"type": "header", "text": {"type": "plain_text", "text": excerpt(&n.title, 150)}},
                    {"type": "section", "text": {"type": "mrkdwn", "text": excerpt(&n.body, 3000)}},
                    {"type": "context", "elements": [{"type": "mrkdwn",
                        "text": format!("rule `{}` · tenant `{}` · {}", n.rule, n.envelope.tenant, n.notification_id)}]},
                ],
            }),
            HttpKind::Teams => json!({
                "@type": "MessageCard",
                "@context": "https://schema.org/extensions",
                "summary": n.title,
                "title": n.title,
                "text": n.body.replace('\n', "\n\n"),
                "themeColor": match n.severity.as_deref() {
                    Some("critical") => "8B0000",
                    Some("high") => "D9534F",
                    Some("medium") => "F0AD4E",
                    _ => "0078D7",
                },
                "sections": [{"facts": [
                    {"name": "rule", "value": n.rule},
                    {"name": "tenant", "value": &*n.envelope.tenant},
                    {"name": "notification", "value": n.notification_id},
                ]}],
            }),
        };
        value.to_string()
    }

    /// POSTs `n` once.
    pub async fn send(&self, n: &Notification) -> Result<Sent, NotifyError> {
        let body = self.body(n);
        let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0).to_string();
        let sig = match &self.secret {
            Some(secret) => {
                Some(signature(secret, &timestamp, body.as_bytes()).map_err(|e| NotifyError::Config(e.to_string()))?)
            }
            None => None,
        };
        let (agent, url, key) = (self.agent.clone(), self.url.clone(), n.notification_id.clone());
        let task = tokio::task::spawn_blocking(move || {
            let mut request =
                agent.post(&url).header("Content-Type", "application/json").header(IDEMPOTENCY_HEADER, &key);
            if let Some(sig) = &sig {
                request = request.header(TIMESTAMP_HEADER, &timestamp).header(SIGNATURE_HEADER, sig);
            }
            let mut response = request.send(body.as_bytes()).map_err(|e| transport(&url, e))?;
            let status = response.status().as_u16();
            let text = response.body_mut().with_config().limit(MAX_RESPONSE).read_to_string().unwrap_or_default();
            Ok::<_, NotifyError>((status, text))
        });
        let (status, text) = task.await.map_err(|e| NotifyError::Transport {
            server: self.url.clone(),
            message: format!("the request task ended abnormally: {e}"),
            retriable: true,
        })??;
        let response = excerpt(&text, 300);
        if (200..300).contains(&status) {
            return Ok(Sent { code: i32::from(status), response });
        }
        Err(NotifyError::Refused {
            server: format!("POST {}", self.url),
            code: i32::from(status),
            response,
            retriable: status == 408 || status == 429 || status >= 500,
        })
    }
}

fn transport(url: &str, e: ureq::Error) -> NotifyError {
    let retriable = !matches!(
        e,
        ureq::Error::BadUri(_)
            | ureq::Error::Http(_)
            | ureq::Error::InvalidProxyUrl
            | ureq::Error::RedirectFailed
            | ureq::Error::TooManyRedirects
            | ureq::Error::Tls(_)
            | ureq::Error::BodyExceedsLimit(_)
    );
    NotifyError::Transport { server: format!("POST {url}"), message: e.to_string(), retriable }
}
