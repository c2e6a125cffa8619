//! The webhook adapter: POSTs the action as JSON to a receiver, signed with HMAC-SHA256 so the
//! receiver can check who sent it and reject replays.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use trustloop_schemas::{ActionState, EnforcementAction, EnforcementResult};

use super::rate::{self, Limiter, RateLimitConfig};
use super::{Adapter, EnforceError, Report, Started, action_json, says_verified, tail, waited_note};

/// Header carrying `sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
pub const SIGNATURE_HEADER: &str = "X-Trustloop-Signature";
/// Header carrying the signing time, in seconds since the Unix epoch.
pub const TIMESTAMP_HEADER: &str = "X-Trustloop-Timestamp";
/// Header carrying the action id, so a receiver can de-duplicate redeliveries.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// Most bytes of a response body read.
const MAX_RESPONSE: u64 = 64 * 1024;

/// Sends each action to an HTTP endpoint.
///
/// The action is POSTed as JSON (the form `trustloop consume` prints: envelope fields next to the
/// action's fields) with these headers:
///
/// * `X-Trustloop-Timestamp: <seconds since the epoch>`
/// * `X-Trustloop-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>` — the
///   receiver recomputes it over the raw body and compares in constant time, and refuses timestamps
///   older than a few minutes (replays);
/// * `Idempotency-Key: <action_id>` — the same action may be delivered more than once.
///
/// A 2xx answer means acknowledged and applied (reverted, for a revert step). The effect counts as
/// verified when the answer is JSON with `"verified": true`, or else when `verify_url` is set and a
/// GET of it answers 2xx (a JSON answer with `"verified": false` is a failed verification). A 3xx
/// or 4xx answer is a failure that retrying will not fix (408 and 429 aside; redirects are not
/// followed); 5xx answers, timeouts and connection errors are failures worth retrying.
///
/// ```toml
/// [enforcement.adapters.pager]
/// type = "webhook"
/// url = "https://hooks.example.com/trustloop"
/// secret_env = "TRUSTLOOP_PAGER_SECRET"
/// verify_url = "https://hooks.example.com/trustloop/actions/{action_id}"
/// timeout_ms = 5000
/// rate_limit = { rate_per_second = 2, burst = 5 }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The URL actions are POSTed to (`http://` or `https://`).
    pub url: String,
    /// The shared signing secret. Prefer `secret_env`, which keeps it out of the configuration file.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// The name of an environment variable holding the signing secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// A URL to GET after an applied action to confirm it is in effect; `{action_id}` is replaced by
    /// the action id. The GET is signed like the POST, over an empty body. Not used for reverts.
    #[serde(default)]
    pub verify_url: Option<String>,
    /// Limit for each request, connection and answer included, in milliseconds. Default 10000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How fast requests may go out (default: unlimited).
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
}

fn default_timeout_ms() -> u64 {
    10_000
}

impl WebhookConfig {
    /// A configuration POSTing to `url`, signed with `secret`, with the defaults elsewhere.
    pub fn new(url: impl Into<String>, secret: impl Into<String>) -> Self {
        WebhookConfig {
            url: url.into(),
            secret: Some(Secret(secret.into())),
            secret_env: None,
            verify_url: None,
            timeout_ms: default_timeout_ms(),
            rate_limit: None,
        }
    }
}

/// A secret string: serialised as itself, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The signing secret of a webhook configuration: `secret`, or the environment variable
/// `secret_env` names (exactly one of them; not empty).
pub fn resolve_secret(secret: Option<&Secret>, secret_env: Option<&str>) -> Result<String, EnforceError> {
    let secret = match (secret, secret_env) {
        (Some(_), Some(_)) => return Err(EnforceError::Config("give `secret` or `secret_env`, not both".into())),
        (Some(Secret(s)), None) => s.clone(),
        (None, Some(var)) => std::env::var(var)
            .map_err(|e| EnforceError::Config(format!("secret_env: environment variable `{var}` is unusable: {e}")))?,
        (None, None) => return Err(EnforceError::Config("a webhook needs `secret` or `secret_env`".into())),
    };
    if secret.is_empty() {
        return Err(EnforceError::Config("the webhook secret is empty".into()));
    }
    Ok(secret)
}

/// The signature header value for `body` signed at `timestamp`:
/// `sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> Result<String, EnforceError> {
    Ok(sign(&keyed(secret)?, timestamp, body))
}

/// Checks a signature header value in constant time (what a receiver does; `timestamp` is the
/// `X-Trustloop-Timestamp` header, whose age the receiver should check too).
pub fn verify_signature(secret: &[u8], timestamp: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.strip_prefix("sha256=") else { return false };
    let Ok(sig) = hex::decode(hex_sig) else { return false };
    let Ok(key) = keyed(secret) else { return false };
    mac(&key, timestamp, body).verify_slice(&sig).is_ok()
}

fn keyed(secret: &[u8]) -> Result<Hmac<Sha256>, EnforceError> {
    Hmac::<Sha256>::new_from_slice(secret).map_err(|e| EnforceError::Config(format!("unusable webhook secret: {e}")))
}

fn mac(key: &Hmac<Sha256>, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = key.clone();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

fn sign(key: &Hmac<Sha256>, timestamp: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(mac(key, timestamp, body).finalize().into_bytes()))
}

/// The webhook adapter (see [`WebhookConfig`]).
pub struct WebhookAdapter {
    name: String,
    url: String,
    verify_url: Option<String>,
    key: Hmac<Sha256>,
    timeout: Duration,
    agent: ureq::Agent,
    limiter: Option<Limiter>,
}

impl fmt::Debug for WebhookAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookAdapter").field("name", &self.name).field("url", &self.url).finish_non_exhaustive()
    }
}

fn check_url(field: &str, url: &str) -> Result<(), EnforceError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(EnforceError::Config(format!("{field} `{url}` must start with http:// or https://")))
    }
}

impl WebhookAdapter {
    /// The adapter `name` for `config`; an error if the URL, the secret or the rate limit is unusable.
    pub fn new(name: &str, config: &WebhookConfig) -> Result<WebhookAdapter, EnforceError> {
        check_url("url", &config.url)?;
        if let Some(v) = &config.verify_url {
            check_url("verify_url", v)?;
        }
        let secret = resolve_secret(config.secret.as_ref(), config.secret_env.as_deref())?;
        if config.timeout_ms == 0 {
            return Err(EnforceError::Config("timeout_ms must be at least 1".into()));
        }
        let timeout = Duration::from_millis(config.timeout_ms);
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            // A signed action is not re-sent elsewhere: a 3xx answer is a (permanent) failure.
            .max_redirects(0)
            .user_agent(concat!("trustloop/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(WebhookAdapter {
            name: name.to_string(),
            url: config.url.clone(),
            verify_url: config.verify_url.clone(),
            key: keyed(secret.as_bytes())?,
            timeout,
            agent,
            limiter: config.rate_limit.as_ref().map(Limiter::new).transpose()?,
        })
    }

    /// Sends one signed request on the blocking pool; returns the status and the start of the body.
    async fn send(
        &self,
        method: &'static str,
        url: String,
        action_id: &str,
        body: String,
    ) -> Result<(u16, String), EnforceError> {
        let timestamp = unix_seconds().to_string();
        let sig = sign(&self.key, &timestamp, body.as_bytes());
        let agent = self.agent.clone();
        let action_id = action_id.to_string();
        let timeout = self.timeout;
        let task = tokio::task::spawn_blocking(move || {
            let result = if method == "POST" {
                agent
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .header(TIMESTAMP_HEADER, &timestamp)
                    .header(SIGNATURE_HEADER, &sig)
                    .header(IDEMPOTENCY_HEADER, &action_id)
                    .send(body.as_bytes())
            } else {
                agent
                    .get(&url)
                    .header(TIMESTAMP_HEADER, &timestamp)
                    .header(SIGNATURE_HEADER, &sig)
                    .header("X-Trustloop-Action-Id", &action_id)
                    .call()
            };
            let mut response = result.map_err(|e| transport_error(method, &url, e, timeout))?;
            let status = response.status().as_u16();
            let text = response
                .body_mut()
                .with_config()
                .limit(MAX_RESPONSE)
                .read_to_string()
                .map_err(|e| transport_error(method, &url, e, timeout))?;
            Ok((status, text))
        });
        task.await.map_err(|e| EnforceError::Transport {
            method,
            url: self.url.clone(),
            message: format!("the request task ended abnormally: {e}"),
            retriable: true,
        })?
    }

    async fn run(&self, action: &EnforcementAction, report: &mut Report<'_>) -> Result<(), (EnforceError, Started)> {
        let started = Started::now();
        let waited = rate::wait(self.limiter.as_ref()).await;
        let body = action_json(action).map_err(|e| (e, started))?;
        let (status, text) =
            self.send("POST", self.url.clone(), &action.action_id, body).await.map_err(|e| (e, started))?;
        report.http(status, &text);
        if !(200..300).contains(&status) {
            let err =
                EnforceError::HttpStatus { method: "POST", url: self.url.clone(), status, body: tail(&text, 300) };
            return Err((err, started));
        }
        let answered = format!("POST {} answered {status}{}", self.url, waited_note(waited));
        report.ok(ActionState::Acknowledged, answered.clone(), started);
        let receiver_verified = says_verified(&text) == Some(true);
        if action.revert {
            let note = if receiver_verified { ", the receiver confirmed it" } else { "" };
            report.ok(ActionState::Reverted, format!("reverted: {answered}{note}"), started);
            return Ok(());
        }
        report.ok(ActionState::Applied, format!("applied: {answered}"), started);
        if receiver_verified {
            report.ok(ActionState::Verified, "the receiver answered {\"verified\": true}", started);
            return Ok(());
        }
        let Some(template) = &self.verify_url else { return Ok(()) };
        let verify_started = Started::now();
        let url = template.replace("{action_id}", &action.action_id);
        let fail = |message: String| (EnforceError::Verification(message), verify_started);
        let (status, text) =
            self.send("GET", url.clone(), &action.action_id, String::new()).await.map_err(|e| fail(e.to_string()))?;
        report.http(status, &text);
        if !(200..300).contains(&status) {
            return Err(fail(format!("GET {url} answered HTTP {status}: {}", tail(&text, 300))));
        }
        if serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| v.get("verified")?.as_bool())
            == Some(false)
        {
            return Err(fail(format!("GET {url} answered {status} with \"verified\": false")));
        }
        report.ok(ActionState::Verified, format!("GET {url} answered {status}"), verify_started);
        Ok(())
    }
}

fn unix_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn transport_error(method: &'static str, url: &str, e: ureq::Error, timeout: Duration) -> EnforceError {
    let retriable = match &e {
        ureq::Error::Timeout(_) => {
            return EnforceError::Timeout { what: format!("{method} {url}"), after: timeout };
        }
        ureq::Error::BadUri(_)
        | ureq::Error::Http(_)
        | ureq::Error::InvalidProxyUrl
        | ureq::Error::RedirectFailed
        | ureq::Error::TooManyRedirects
        | ureq::Error::Tls(_)
        | ureq::Error::BodyExceedsLimit(_) => false,
        _ => true,
    };
    EnforceError::Transport { method, url: url.to_string(), message: e.to_string(), retriable }
}

#[async_trait]
impl Adapter for WebhookAdapter {
    fn name(&self) -> &str {
        &self.name
    }

    async fn execute(&self, action: &EnforcementAction) -> Vec<EnforcementResult> {
        let mut report = Report::new(&self.name, action);
        if let Err((e, started)) = self.run(action, &mut report).await {
            report.failed(&e, started);
        }
        report.finish()
    }
}

#[cfg(test)]
mod tests;
