//! The channels against real servers on 127.0.0.1 started by each test: an HTTP/1.1 receiver that
//! checks the webhook signature (with the enforcement webhook's own verifier) and the bodies, and
//! Python's `aiosmtpd` for e-mail (skipped, saying so, without python3 or aiosmtpd).

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use trustloop_schemas::{Envelope, EventId, EventTime, EventType, Notification};

use super::*;
use crate::enforce::webhook::verify_signature;

const SECRET: &str = "notify-secret";

fn notification(id: u128) -> Notification {
    let event_id = EventId(uuid::Uuid::from_u128(id));
    Notification {
        envelope: Envelope {
            event_id,
            tenant: "acme".into(),
            key: "shop@1@prod".into(),
            event_time: EventTime::from_micros(1_767_225_600_000_000),
            source: "trustloop.notify".into(),
            schema_version: EventType::Notification.schema_version(),
        },
        notification_id: event_id.to_string(),
        channel: "c".into(),
        rule: "fails".into(),
        rules_digest: "d".into(),
        subject: "shop@1@prod".into(),
        title: "verdict fail: shop@1@prod".into(),
        body: "verdict FAIL for shop@1@prod (was PASS)\nrule fails".into(),
        event_ids: vec!["e1".into()],
        event_kinds: vec!["verdict".into()],
        severity: Some("critical".into()),
        window_start: None,
        window_end: None,
        suppressed: 0,
    }
}

/// One request as received.
#[derive(Debug, Clone)]
struct Request {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// An HTTP/1.1 receiver answering each request with the next status of `statuses` (then 200),
/// recording every request. Aborted when dropped.
struct Receiver {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    async fn start(statuses: Vec<u16>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let store = requests.clone();
        let task = tokio::spawn(async move {
            for _ in 0..32 {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (read, mut write) = stream.into_split();
                let Some(request) = read_request(BufReader::new(read)).await else { continue };
                let n = {
                    let mut s = store.lock().expect("lock");
                    s.push(request);
                    s.len()
                };
                let status = statuses.get(n - 1).copied().unwrap_or(200);
                let body = if status == 200 { "ok" } else { "try later" };
                let answer =
                    format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                let _ = write.write_all(answer.as_bytes()).await;
                let _ = write.shutdown().await;
            }
        });
        Receiver { url, requests, task }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("lock").clone()
    }
}

async fn read_request<R: tokio::io::AsyncRead + Unpin>(mut r: BufReader<R>) -> Option<Request> {
    let mut line = String::new();
    r.read_line(&mut line).await.ok()?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).await.ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':')?;
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    let len: usize = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("content-length"))?.1.parse().ok()?;
    let mut body = vec![0; len];
    r.read_exact(&mut body).await.ok()?;
    Some(Request { headers, body })
}

fn http(url: &str, secret: Option<&str>) -> HttpChannelConfig {
    HttpChannelConfig {
        url: url.into(),
        secret: secret.map(|s| crate::enforce::webhook::Secret(s.into())),
        secret_env: None,
        timeout_ms: 5_000,
    }
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).expect("a JSON body")
}

#[tokio::test]
async fn the_webhook_is_signed_as_enforcement_webhooks_are() {
    let rx = Receiver::start(vec![]).await;
    let channel = Channel::new("hook", &ChannelConfig::Webhook(http(&rx.url, Some(SECRET)))).expect("channel");
    let n = notification(7);
    let sent = channel.send(&n).await.expect("sent");
    assert_eq!(sent, Sent { code: 200, response: "ok".into() });
    let got = rx.requests();
    let r = &got[0];
    let ts = r.header("X-Trustloop-Timestamp").expect("timestamp");
    let sig = r.header("X-Trustloop-Signature").expect("signature");
    assert!(verify_signature(SECRET.as_bytes(), ts, &r.body, sig), "signature checks");
    assert!(!verify_signature(b"other", ts, &r.body, sig), "and only with the secret");
    assert_eq!(r.header("Idempotency-Key"), Some(n.notification_id.as_str()));
    let body = json(&r.body);
    assert_eq!(body["notification_id"], n.notification_id.as_str());
    assert_eq!(body["title"], "verdict fail: shop@1@prod");
    assert_eq!(body["event_ids"], serde_json::json!(["e1"]));
    assert_eq!(body["tenant"], "acme");
}

#[tokio::test]
async fn slack_and_teams_get_their_incoming_webhook_shapes() {
    let rx = Receiver::start(vec![]).await;
    let n = notification(8);
    for (name, config) in
        [("s", ChannelConfig::Slack(http(&rx.url, None))), ("t", ChannelConfig::Teams(http(&rx.url, None)))]
    {
        Channel::new(name, &config).expect("channel").send(&n).await.expect("sent");
    }
    let got = rx.requests();
    assert!(got[0].header("X-Trustloop-Signature").is_none(), "Slack is not signed");
    let slack = json(&got[0].body);
    assert_eq!(slack["text"], "verdict fail: shop@1@prod\nverdict FAIL for shop@1@prod (was PASS)\nrule fails");
    assert_eq!(slack["blocks"][0]["type"], "header");
    assert_eq!(slack["blocks"][0]["text"]["text"], "verdict fail: shop@1@prod");
    assert_eq!(slack["blocks"][1]["text"]["type"], "mrkdwn");
    let teams = json(&got[1].body);
    assert_eq!(teams["@type"], "MessageCard");
    assert_eq!(teams["@context"], "https://schema.org/extensions");
    assert_eq!(teams["title"], "verdict fail: shop@1@prod");
    assert_eq!(teams["themeColor"], "8B0000");
    assert_eq!(teams["sections"][0]["facts"][2]["value"], n.notification_id.as_str());
    // A Slack channel with a secret is a configuration mistake.
    let e = Channel::new("s", &ChannelConfig::Slack(http(&rx.url, Some("x")))).expect_err("refused");
    assert!(e.to_string().contains("notify.channels.s: a slack channel is not signed"), "{e}");
}

#[tokio::test]
async fn server_errors_are_retriable_and_client_errors_are_not() {
    let rx = Receiver::start(vec![503, 400]).await;
    let channel = Channel::new("hook", &ChannelConfig::Webhook(http(&rx.url, Some(SECRET)))).expect("channel");
    let n = notification(9);
    let e = channel.send(&n).await.expect_err("503");
    assert!(e.is_retriable() && e.code() == Some(503) && e.response() == "try later", "{e:?}");
    let e = channel.send(&n).await.expect_err("400");
    assert!(!e.is_retriable() && e.code() == Some(400), "{e:?}");
    drop(rx);
    // Nobody listening: a transport failure, retriable.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}/", l.local_addr().expect("addr"))
    };
    let channel = Channel::new("hook", &ChannelConfig::Webhook(http(&closed, Some(SECRET)))).expect("channel");
    let e = channel.send(&n).await.expect_err("refused");
    assert!(matches!(e, NotifyError::Transport { retriable: true, .. }), "{e:?}");
}

/// The aiosmtpd server the e-mail tests send to: stores each message it accepts as `N.eml` in
/// its directory, answers `451` to the first `fail` DATA commands, and requires AUTH (user `u`,
/// password `p`) when `auth` is set.
pub(crate) const SMTP_SERVER: &str = r#"
import os, sys
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
port, folder, fail, auth = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
class Handler:
    def __init__(self):
        self.n = 0
    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        if self.n <= fail:
            return "451 4.3.0 try again later"
        with open(os.path.join(folder, "%d.eml" % self.n), "wb") as f:
            f.write(envelope.original_content)
        return "250 2.0.0 stored as %d" % self.n
def check(server, session, envelope, mechanism, data):
    ok = getattr(data, "login", None) == b"u" and getattr(data, "password", None) == b"p"
    return AuthResult(success=ok)
kw = dict(authenticator=check, auth_required=True, auth_require_tls=False) if auth else {}
c = Controller(Handler(), hostname="127.0.0.1", port=port, **kw)
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
"#;

/// A running aiosmtpd (killed when dropped), or `None` when python3 or aiosmtpd is missing.
pub(crate) struct SmtpServer {
    pub(crate) port: u16,
    pub(crate) folder: tempfile::TempDir,
    child: Child,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    pub(crate) fn start(fail: u32, auth: bool) -> Option<SmtpServer> {
        let have = Command::new("python3").args(["-c", "import aiosmtpd"]).output().is_ok_and(|o| o.status.success());
        if !have {
            eprintln!(
                "SKIPPED: python3 with aiosmtpd is needed (python3 -m pip install aiosmtpd; cargo xtask install)"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let folder = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new("python3")
            .args(["-c", SMTP_SERVER, &port.to_string()])
            .arg(folder.path())
            .args([fail.to_string(), if auth { "1" } else { "0" }.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 starts");
        let mut ready = [0u8; 5];
        child.stdout.as_mut().expect("stdout").read_exact(&mut ready).expect("the server says ready");
        assert_eq!(&ready, b"ready");
        Some(SmtpServer { port, folder, child })
    }

    pub(crate) fn config(&self, auth: bool) -> SmtpConfig {
        SmtpConfig {
            host: "127.0.0.1".into(),
            port: Some(self.port),
            tls: SmtpTls::None,
            username: auth.then(|| "u".to_string()),
            password: auth.then(|| crate::enforce::webhook::Secret("p".into())),
            password_env: None,
            from: "trustloop <trustloop@example.test>".into(),
            to: vec!["oncall@example.test".into(), "sec@example.test".into()],
            timeout_ms: 5_000,
        }
    }

    pub(crate) fn messages(&self) -> Vec<String> {
        let mut files: Vec<_> =
            std::fs::read_dir(self.folder.path()).expect("folder").map(|e| e.expect("entry").path()).collect();
        files.sort();
        files.iter().map(|p| std::fs::read_to_string(p).expect("message")).collect()
    }
}

#[tokio::test]
async fn e_mail_reaches_a_real_smtp_server_with_auth() {
    let Some(server) = SmtpServer::start(0, true) else { return };
    let channel = Channel::new("mail", &ChannelConfig::Smtp(server.config(true))).expect("channel");
    let n = notification(10);
    let sent = channel.send(&n).await.expect("sent");
    assert_eq!(sent.code, 250);
    assert!(sent.response.contains("stored as 1"), "{sent:?}");
    let got = server.messages();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert!(m.contains("Subject: verdict fail: shop@1@prod"), "{m}");
    assert!(m.contains(&format!("Message-ID: <{}@trustloop>", n.notification_id)), "{m}");
    assert!(m.contains("To: oncall@example.test, sec@example.test"), "{m}");
    assert!(m.contains("verdict FAIL for shop@1@prod (was PASS)"), "{m}");
}

#[tokio::test]
async fn a_temporary_smtp_refusal_is_retriable() {
    let Some(server) = SmtpServer::start(1, false) else { return };
    let channel = Channel::new("mail", &ChannelConfig::Smtp(server.config(false))).expect("channel");
    let n = notification(11);
    let e = channel.send(&n).await.expect_err("451");
    assert!(e.is_retriable() && e.code() == Some(451), "{e:?}");
    channel.send(&n).await.expect("the second attempt is stored");
    assert_eq!(server.messages().len(), 1);
}
