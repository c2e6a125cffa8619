//! The e-mail channel: SMTP with `lettre` on tokio (rustls for STARTTLS and implicit TLS, AUTH
//! when credentials are configured).

use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use trustloop_schemas::Notification;

use super::{NotifyError, Sent, excerpt};
use crate::enforce::webhook::Secret;

/// How the connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain SMTP: for a relay on the same host only (credentials would travel in clear).
    None,
    /// Plain connection upgraded with STARTTLS, which the server must offer (port 587).
    #[default]
    Starttls,
    /// TLS from the start (port 465).
    Tls,
}

/// An SMTP channel's configuration (`type = "smtp"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Server host name (checked against its certificate with TLS).
    pub host: String,
    /// Port (default: 25 for `none`, 587 for `starttls`, 465 for `tls`).
    #[serde(default)]
    pub port: Option<u16>,
    /// Connection security (default `starttls`).
    #[serde(default)]
    pub tls: SmtpTls,
    /// User name for AUTH (none: no AUTH).
    #[serde(default)]
    pub username: Option<String>,
    /// Password (prefer `password_env`).
    #[serde(default)]
    pub password: Option<Secret>,
    /// Environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Sender, `Name <address>` or `address`.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Limit for each exchange, in milliseconds (default 10000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    10_000
}

/// A built SMTP channel.
pub struct SmtpChannel {
    server: String,
    from: Mailbox,
    to: Vec<Mailbox>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl std::fmt::Debug for SmtpChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpChannel").field("server", &self.server).finish_non_exhaustive()
    }
}

fn mailbox(field: &str, text: &str) -> Result<Mailbox, NotifyError> {
    text.parse().map_err(|e| NotifyError::Config(format!("{field}: `{text}` is not an e-mail address: {e}")))
}

impl SmtpChannel {
    /// The channel for `config`; an error for unusable addresses or credentials.
    pub fn new(config: &SmtpConfig) -> Result<SmtpChannel, NotifyError> {
        let from = mailbox("from", &config.from)?;
        if config.to.is_empty() {
            return Err(NotifyError::Config("to: name at least one recipient".into()));
        }
        let to = config.to.iter().map(|t| mailbox("to", t)).collect::<Result<Vec<_>, _>>()?;
        let port = config.port.unwrap_or(match config.tls {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        });
        let tls_error =
            |e: lettre::transport::smtp::Error| NotifyError::Config(format!("TLS for `{}`: {e}", config.host));
        let builder = match config.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone()),
            SmtpTls::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host).map_err(tls_error)?
            }
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host).map_err(tls_error)?,
        };
        let mut builder = builder.port(port).timeout(Some(Duration::from_millis(config.timeout_ms.max(1))));
        let password = match (&config.password, &config.password_env) {
            (Some(_), Some(_)) => {
                return Err(NotifyError::Config("give `password` or `password_env`, not both".into()));
            }
            (Some(Secret(p)), None) => Some(p.clone()),
            (None, Some(var)) => Some(std::env::var(var).map_err(|e| {
                NotifyError::Config(format!("password_env: environment variable `{var}` is unusable: {e}"))
            })?),
            (None, None) => None,
        };
        match (&config.username, password) {
            (Some(user), Some(password)) => builder = builder.credentials(Credentials::new(user.clone(), password)),
            (None, None) => {}
            _ => return Err(NotifyError::Config("AUTH needs both `username` and a password".into())),
        }
        Ok(SmtpChannel { server: format!("smtp://{}:{port}", config.host), from, to, transport: builder.build() })
    }

    /// The message for `n`: subject its title, text its body, `Message-ID` from its id.
    pub fn message(&self, n: &Notification) -> Result<Message, NotifyError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(n.title.clone())
            .message_id(Some(message_id(n)))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let text = format!(
            "{}\n\n--\nrule {} · tenant {} · notification {}\n",
            n.body.trim_end(),
            n.rule,
            n.envelope.tenant,
            n.notification_id
        );
        builder.body(text).map_err(|e| NotifyError::Config(format!("the message cannot be built: {e}")))
    }

    /// Sends `n` once.
    pub async fn send(&self, n: &Notification) -> Result<Sent, NotifyError> {
        let message = self.message(n)?;
        match self.transport.send(message).await {
            Ok(response) => Ok(Sent {
                code: code_of(&response.code().to_string()).unwrap_or(250),
                response: excerpt(&response.message().collect::<Vec<_>>().join(" "), 300),
            }),
            Err(e) => {
                let code = e.status().and_then(|c| code_of(&c.to_string()));
                let retriable = e.is_transient() || e.is_timeout() || (!e.is_permanent() && !e.is_client());
                let message = excerpt(&e.to_string(), 300);
                Err(match code {
                    Some(code) => {
                        NotifyError::Refused { server: self.server.clone(), code, response: message, retriable }
                    }
                    None => NotifyError::Transport { server: self.server.clone(), message, retriable },
                })
            }
        }
    }
}

/// `<NOTIFICATION_ID@trustloop>`: the same message id on every attempt, so a receiving system can
/// drop a repeat.
pub fn message_id(n: &Notification) -> String {
    format!("<{}@trustloop>", n.notification_id)
}

fn code_of(text: &str) -> Option<i32> {
    text.parse().ok()
}
