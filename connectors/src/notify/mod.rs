//! Notification channels: where the notify operator's `Notification`s are sent (the `[notify]`
//! table of `trustloop.toml`).
//!
//! * **webhook** ([`http`]) — the notification as JSON, signed exactly as the enforcement webhook
//!   signs actions ([`crate::enforce::webhook::signature`]: `X-Trustloop-Signature`,
//!   `X-Trustloop-Timestamp`), with `Idempotency-Key: <notification_id>`;
//! * **slack** — a Slack incoming webhook: `{"text": …, "blocks": [header, section]}`;
//! * **teams** — a Microsoft Teams incoming webhook: an Office 365 `MessageCard`;
//! * **smtp** ([`smtp`]) — e-mail over SMTP with `lettre` (STARTTLS or implicit TLS with rustls,
//!   AUTH when credentials are configured, plain for a local relay), `Message-ID` derived from the
//!   notification id.
//!
//! ```toml
//! [notify]
//! max_attempts = 5          # per notification, the first included
//! backoff_ms = 500          # doubled after each failed attempt
//!
//! [notify.channels.oncall-slack]
//! type = "slack"
//! url = "https://hooks.slack.com/services/T000/B000/XXXX"
//!
//! [notify.channels.security-hook]
//! type = "webhook"
//! url = "https://hooks.example.com/trustloop/notify"
//! secret_env = "TRUSTLOOP_NOTIFY_SECRET"
//!
//! [notify.channels.oncall-mail]
//! type = "smtp"
//! host = "smtp.example.com"
//! port = 587
//! tls = "starttls"          # "none" (local relays only), "starttls", "tls"
//! username = "trustloop"
//! password_env = "TRUSTLOOP_SMTP_PASSWORD"
//! from = "trustloop <trustloop@example.com>"
//! to = ["oncall@example.com"]
//! ```

pub mod http;
pub mod smtp;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use trustloop_schemas::Notification;

pub use http::{HttpChannel, HttpChannelConfig, HttpKind};
pub use smtp::{SmtpChannel, SmtpConfig, SmtpTls};

/// The `[notify]` table: channels by name, and the retry schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Channels by name (the names rules use).
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelConfig>,
    /// Attempts per notification, the first included (default 5).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Wait before the second attempt, doubled after each further failure (default 500 ms).
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
}

fn default_attempts() -> u32 {
    5
}

fn default_backoff_ms() -> u64 {
    500
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig { channels: BTreeMap::new(), max_attempts: default_attempts(), backoff_ms: default_backoff_ms() }
    }
}

impl NotifyConfig {
    /// The wait before attempt `next` (2 for the first retry): `backoff_ms × 2^(next−2)`, capped at
    /// a minute.
    pub fn backoff(&self, next: u32) -> Duration {
        let doublings = next.saturating_sub(2).min(16);
        Duration::from_millis(self.backoff_ms.saturating_mul(1 << doublings).min(60_000))
    }
}

/// One channel, chosen by its `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChannelConfig {
    /// A signed JSON POST.
    Webhook(HttpChannelConfig),
    /// A Slack incoming webhook.
    Slack(HttpChannelConfig),
    /// A Teams incoming webhook.
    Teams(HttpChannelConfig),
    /// E-mail over SMTP.
    Smtp(SmtpConfig),
}

/// Why a delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// The channel's configuration is unusable (not retriable).
    #[error("invalid channel configuration: {0}")]
    Config(String),
    /// No channel of that name is configured (not retriable).
    #[error("no channel `{0}` is configured under [notify.channels]")]
    UnknownChannel(String),
    /// The server answered with an error status (HTTP status or SMTP reply code).
    #[error("{server} answered {code}: {response}")]
    Refused {
        /// The URL or SMTP host.
        server: String,
        /// HTTP status or SMTP reply code.
        code: i32,
        /// The start of the answer.
        response: String,
        /// Whether a later attempt may get through (HTTP 408, 429, 5xx; SMTP 4xx).
        retriable: bool,
    },
    /// The exchange did not complete (connection refused, timeout, TLS, protocol error).
    #[error("{server}: {message}")]
    Transport {
        /// The URL or SMTP host.
        server: String,
        /// What went wrong.
        message: String,
        /// Whether a later attempt may get through.
        retriable: bool,
    },
}

impl NotifyError {
    /// Whether a later attempt may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            NotifyError::Config(_) | NotifyError::UnknownChannel(_) => false,
            NotifyError::Refused { retriable, .. } | NotifyError::Transport { retriable, .. } => *retriable,
        }
    }

    /// The server's status or reply code, if it answered.
    pub fn code(&self) -> Option<i32> {
        match self {
            NotifyError::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The start of the server's answer, if it answered.
    pub fn response(&self) -> &str {
        match self {
            NotifyError::Refused { response, .. } => response,
            _ => "",
        }
    }
}

/// A successful send: the server's status or reply code and the start of its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// HTTP status or SMTP reply code.
    pub code: i32,
    /// The start of the answer.
    pub response: String,
}

/// A built channel.
#[derive(Debug)]
pub enum Channel {
    /// Webhook, Slack or Teams.
    Http(HttpChannel),
    /// E-mail.
    Smtp(SmtpChannel),
}

impl Channel {
    /// Builds the channel `name` from `config`.
    pub fn new(name: &str, config: &ChannelConfig) -> Result<Channel, NotifyError> {
        let named = |e: NotifyError| match e {
            NotifyError::Config(m) => NotifyError::Config(format!("notify.channels.{name}: {m}")),
            other => other,
        };
        Ok(match config {
            ChannelConfig::Webhook(c) => Channel::Http(HttpChannel::new(HttpKind::Webhook, c).map_err(named)?),
            ChannelConfig::Slack(c) => Channel::Http(HttpChannel::new(HttpKind::Slack, c).map_err(named)?),
            ChannelConfig::Teams(c) => Channel::Http(HttpChannel::new(HttpKind::Teams, c).map_err(named)?),
            ChannelConfig::Smtp(c) => Channel::Smtp(SmtpChannel::new(c).map_err(named)?),
        })
    }

    /// `webhook`, `slack`, `teams` or `smtp`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Channel::Http(h) => h.kind().as_str(),
            Channel::Smtp(_) => "smtp",
        }
    }

    /// Sends `n` once.
    pub async fn send(&self, n: &Notification) -> Result<Sent, NotifyError> {
        match self {
            Channel::Http(h) => h.send(n).await,
            Channel::Smtp(s) => s.send(n).await,
        }
    }
}

/// Every configured channel, built.
#[derive(Debug, Default)]
pub struct Channels {
    by_name: BTreeMap<String, Channel>,
}

impl Channels {
    /// Builds every channel of `config`; the first unusable one is the error.
    pub fn from_config(config: &NotifyConfig) -> Result<Channels, NotifyError> {
        let mut by_name = BTreeMap::new();
        for (name, c) in &config.channels {
            by_name.insert(name.clone(), Channel::new(name, c)?);
        }
        Ok(Channels { by_name })
    }

    /// The channel `name`.
    pub fn get(&self, name: &str) -> Result<&Channel, NotifyError> {
        self.by_name.get(name).ok_or_else(|| NotifyError::UnknownChannel(name.to_string()))
    }

    /// Whether no channel is configured.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// The first `max` bytes of `text` (on a character boundary), trimmed, for delivery records.
pub fn excerpt(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests;
