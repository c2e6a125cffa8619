//! The webhook adapter against a real HTTP/1.1 server on 127.0.0.1, started by each test and stopped
//! when the test ends.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use trustloop_schemas::{ActionKind, ActionState, Event};

use super::*;
use crate::enforce::testing::{action, states};

/// One request as the server received it.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What the server answers: status, body, and a delay before answering.
type Answer = (u16, String, Duration);
type Handler = Box<dyn Fn(&Request, usize) -> Answer + Send + Sync>;

/// A receiver on 127.0.0.1 that checks the signature the way a real one would (HMAC-SHA256 over
/// `timestamp.body` with its own secret, timestamp at most 5 minutes old; 401 otherwise), records
/// every request and answers with `handler(request, number of earlier signed requests)`. Aborted
/// when dropped.
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
    async fn start(secret: &'static str, handler: Handler) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let store = requests.clone();
        let handler = Arc::new(handler);
        let task = tokio::spawn(async move {
            // Bounded: no test sends more than 32 requests.
            for _ in 0..32 {
                let Ok((stream, _)) = listener.accept().await else { return };
                let store = store.clone();
                let handler = handler.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let Some(request) = read_request(BufReader::new(read)).await else { return };
                    let (status, body, delay) = if signed(secret, &request) {
                        let earlier = store.lock().expect("lock").len();
                        store.lock().expect("lock").push(request.clone());
                        handler(&request, earlier)
                    } else {
                        (401, r#"{"error":"bad signature"}"#.to_string(), Duration::ZERO)
                    };
                    tokio::time::sleep(delay).await;
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = write.write_all(answer.as_bytes()).await;
                    let _ = write.shutdown().await;
                });
            }
        });
        Receiver { url, requests, task }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("lock").clone()
    }
}

async fn read_request<R: tokio::io::AsyncRead + Unpin>(mut reader: BufReader<R>) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).await.ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let len = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).await.ok()?;
    Some(Request { method, path, headers, body })
}

/// The receiver's check, written independently of the adapter's signing code.
fn signed(secret: &str, request: &Request) -> bool {
    let (Some(ts), Some(sig)) = (request.header(TIMESTAMP_HEADER), request.header(SIGNATURE_HEADER)) else {
        return false;
    };
    let Ok(ts_secs) = ts.parse::<u64>() else { return false };
    if unix_seconds().abs_diff(ts_secs) > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&request.body);
    sig == format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn adapter(url: &str, secret: &str) -> WebhookAdapter {
    WebhookAdapter::new("pager", &WebhookConfig::new(format!("{url}/hook"), secret)).expect("adapter")
}

#[test]
fn signature_matches_a_known_answer() {
    // printf '%s' '1700000000.{"action_id":"a"}' | openssl dgst -sha256 -hmac 's3cret'
    let expected = "sha256=aade94db3c3495a9958a20cb2397fc8c51e13265aadab735f492492b61b09877";
    assert_eq!(signature(b"s3cret", "1700000000", br#"{"action_id":"a"}"#).expect("sign"), expected);
    assert!(verify_signature(b"s3cret", "1700000000", br#"{"action_id":"a"}"#, expected));
    assert!(!verify_signature(b"s3cret", "1700000001", br#"{"action_id":"a"}"#, expected), "timestamp is signed");
    assert!(!verify_signature(b"other", "1700000000", br#"{"action_id":"a"}"#, expected));
    assert!(!verify_signature(b"s3cret", "1700000000", br#"{"action_id":"a"}"#, "sha256=zz"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_post_fails_retriably_on_500_then_applies_and_verifies() {
    let receiver = Receiver::start(
        "s3cret",
        Box::new(|_, earlier| match earlier {
            0 => (500, "overloaded".into(), Duration::ZERO),
            _ => (200, r#"{"verified": true}"#.into(), Duration::ZERO),
        }),
    )
    .await;
    let webhook = adapter(&receiver.url, "s3cret");
    let mut act = action("act-web-1", ActionKind::Isolate, false);

    let first = webhook.execute(&act).await;
    assert_eq!(states(&first), [ActionState::Failed]);
    assert!(!first[0].success);
    assert!(first[0].message.contains("HTTP 500") && first[0].message.ends_with("(retriable)"), "{}", first[0].message);

    act.attempt = 2;
    let second = webhook.execute(&act).await;
    assert_eq!(states(&second), [ActionState::Acknowledged, ActionState::Applied, ActionState::Verified]);
    assert!(second.iter().all(|r| r.success && r.adapter == "pager" && r.attempt == 2));
    assert!(
        second.iter().all(|r| &*r.envelope.source == "trustloop.adapter.pager" && r.envelope.key == act.envelope.key)
    );
    assert!(second[0].duration_micros > 0);

    let requests = receiver.requests();
    assert_eq!(requests.len(), 2, "both deliveries reached the receiver signed");
    for (r, attempt) in requests.iter().zip([1, 2]) {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/hook"));
        assert_eq!(r.header(IDEMPOTENCY_HEADER), Some("act-web-1"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let body: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON body");
        let mut sent = act.clone();
        sent.attempt = attempt;
        assert_eq!(body, trustloop_schemas::json::event_to_json(&Event::EnforcementAction(sent)));
        assert_eq!(body["kind"], "isolate");
        assert_eq!(body["tenant"], "acme");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_refused_and_not_retriable() {
    let receiver = Receiver::start("s3cret", Box::new(|_, _| (200, "{}".into(), Duration::ZERO))).await;
    let results =
        adapter(&receiver.url, "not-the-secret").execute(&action("act-web-2", ActionKind::Notify, false)).await;
    assert_eq!(states(&results), [ActionState::Failed]);
    assert!(results[0].message.contains("HTTP 401"), "{}", results[0].message);
    assert!(results[0].message.ends_with("(not retriable)"), "{}", results[0].message);
    assert!(receiver.requests().is_empty(), "the receiver accepted nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_url_confirms_or_fails_verification() {
    let receiver = Receiver::start(
        "s3cret",
        Box::new(|r, _| match (r.method.as_str(), r.path.as_str()) {
            ("POST", _) => (202, "{}".into(), Duration::ZERO),
            ("GET", "/actions/act-web-3") => (200, r#"{"state":"blocked"}"#.into(), Duration::ZERO),
            ("GET", "/actions/act-web-4") => (200, r#"{"verified": false}"#.into(), Duration::ZERO),
            _ => (404, "{}".into(), Duration::ZERO),
        }),
    )
    .await;
    let mut config = WebhookConfig::new(format!("{}/hook", receiver.url), "s3cret");
    config.verify_url = Some(format!("{}/actions/{{action_id}}", receiver.url));
    let webhook = WebhookAdapter::new("fw", &config).expect("adapter");

    let ok = webhook.execute(&action("act-web-3", ActionKind::Quarantine, false)).await;
    assert_eq!(states(&ok), [ActionState::Acknowledged, ActionState::Applied, ActionState::Verified]);
    assert!(ok[2].message.contains("/actions/act-web-3"), "{}", ok[2].message);

    let unconfirmed = webhook.execute(&action("act-web-4", ActionKind::Quarantine, false)).await;
    assert_eq!(states(&unconfirmed), [ActionState::Acknowledged, ActionState::Applied, ActionState::Failed]);
    assert!(unconfirmed[2].message.contains("verification failed"), "{}", unconfirmed[2].message);

    let missing = webhook.execute(&action("act-web-5", ActionKind::Quarantine, false)).await;
    assert_eq!(states(&missing), [ActionState::Acknowledged, ActionState::Applied, ActionState::Failed]);
    assert!(missing[2].message.contains("HTTP 404") && missing[2].message.ends_with("(retriable)"));

    let gets: Vec<_> = receiver.requests().into_iter().filter(|r| r.method == "GET").collect();
    assert_eq!(gets.len(), 3, "every GET was signed (over an empty body)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revert_is_acknowledged_then_reverted() {
    let receiver = Receiver::start("s3cret", Box::new(|_, _| (200, "ok".into(), Duration::ZERO))).await;
    let results = adapter(&receiver.url, "s3cret").execute(&action("act-web-6", ActionKind::Isolate, true)).await;
    assert_eq!(states(&results), [ActionState::Acknowledged, ActionState::Reverted]);
    let body: serde_json::Value = serde_json::from_slice(&receiver.requests()[0].body).expect("json");
    assert_eq!(body["revert"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_refused_connections_are_retriable_failures() {
    let receiver = Receiver::start("s3cret", Box::new(|_, _| (200, "{}".into(), Duration::from_secs(3)))).await;
    let mut config = WebhookConfig::new(format!("{}/hook", receiver.url), "s3cret");
    config.timeout_ms = 300;
    let webhook = WebhookAdapter::new("slow", &config).expect("adapter");
    let start = Instant::now();
    let results = webhook.execute(&action("act-web-7", ActionKind::Notify, false)).await;
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    assert_eq!(states(&results), [ActionState::Failed]);
    assert!(results[0].message.contains("timed out after 300 ms"), "{}", results[0].message);
    assert!(results[0].message.ends_with("(retriable)"));

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let results = adapter(&url, "s3cret").execute(&action("act-web-8", ActionKind::Notify, false)).await;
    assert_eq!(states(&results), [ActionState::Failed]);
    assert!(results[0].message.ends_with("(retriable)"), "{}", results[0].message);
}

#[test]
fn configuration_errors_are_clear() {
    let bad = |c: WebhookConfig| WebhookAdapter::new("w", &c).expect_err("refused").to_string();
    assert!(bad(WebhookConfig::new("ftp://x", "s")).contains("http://"));
    assert!(bad(WebhookConfig::new("http://x", "")).contains("empty"));
    let mut none = WebhookConfig::new("http://x", "s");
    none.secret = None;
    assert!(bad(none.clone()).contains("secret_env"));
    none.secret_env = Some("TRUSTLOOP_TEST_SURELY_UNSET_VARIABLE".into());
    assert!(bad(none).contains("TRUSTLOOP_TEST_SURELY_UNSET_VARIABLE"));
    let secret = WebhookConfig::new("http://x", "hunter2");
    assert!(!format!("{secret:?}").contains("hunter2"), "Debug hides the secret");
}
