//! Notifications end to end through the `trustloop` binary: a rules file applied (a bad one answered
//! with `FILE:LINE:COLUMN`), verdicts in, `trustloop run` delivering to a real HTTP receiver on
//! 127.0.0.1 started by the test (which checks the webhook's signature, and sees the Slack and Teams
//! bodies), a failing attempt retried and recorded as a delivery, digests at event time, and runs
//! started again — even with the deliver group's position lost — sending nothing twice.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use trustloop_connectors::enforce::webhook::verify_signature;

mod support;

const SECRET: &str = "receiver-secret";

fn trustloop(dir: &Path, args: &[&str], stdin: &str) -> Output {
    support::trustloop_cli(dir, args, stdin)
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn consume(dir: &Path, topic: &str) -> Vec<Value> {
    let out = ok(&trustloop(dir, &["consume", "--topic", topic, "--from-beginning"], ""));
    out.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
}

/// One request the receiver got: path, signature check, idempotency key, body.
#[derive(Debug, Clone)]
struct Got {
    path: String,
    signed: bool,
    key: String,
    body: Value,
}

/// An HTTP/1.1 receiver on 127.0.0.1 in a thread: answers `500` to the first request to `/hook`,
/// `200` to everything else, and records every request (checking `X-Trustloop-Signature` with its
/// own secret, as a real receiver does).
fn receiver() -> (String, Arc<Mutex<Vec<Got>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let store = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut r = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some((n, v)) = h.trim_end().split_once(':') {
                    headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).unwrap_or_default();
            let len: usize = header("content-length").parse().unwrap_or(0);
            let mut body = vec![0; len];
            if r.read_exact(&mut body).is_err() {
                continue;
            }
            let signed = verify_signature(
                SECRET.as_bytes(),
                &header("x-trustloop-timestamp"),
                &body,
                &header("x-trustloop-signature"),
            );
            let status = {
                let mut g = store.lock().expect("lock");
                let first_hook = path == "/hook" && !g.iter().any(|x: &Got| x.path == "/hook");
                g.push(Got {
                    path: path.clone(),
                    signed,
                    key: header("idempotency-key"),
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                });
                if first_hook { 500 } else { 200 }
            };
            let answer = format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    (url, got)
}

fn verdict(minute: u32, subject: &str, outcome: &str) -> String {
    format!(
        r#"{{"tenant":"acme","event_time":"2026-11-01T10:{minute:02}:00Z","subject":"{subject}","subject_kind":"release","outcome":"{outcome}","policy_digest":"p","evidence_digest":"e"}}"#
    )
}

const RULES: &str = "api_version: trustloop/v1
name: oncall
rules:
  - id: fails
    match: {kinds: [verdict], outcomes: [fail], services: [shop]}
    channels: [hook, teams]
    title: 'FAILED {subject}'
  - id: hourly
    match: {kinds: [verdict]}
    channels: [slack]
    digest: 1h
";

#[test]
fn verdicts_are_delivered_retried_and_never_sent_twice() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    let (url, got) = receiver();

    // A bad rules file: refused with its location, nothing published.
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, RULES.replace("digest: 1h", "digest: 1h\n    throttle: {max: 0, per: 1h}")).expect("write");
    let out = trustloop(dir, &["notify", "apply", bad.to_str().expect("path"), "--tenant", "acme"], "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:12:16: rules[1].throttle.max: must be at least 1", bad.display())),
        "{stderr}"
    );

    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, RULES).expect("write");
    ok(&trustloop(dir, &["notify", "apply", rules.to_str().expect("path"), "--tenant", "acme"], ""));
    let config = dir.join("trustloop.toml");
    std::fs::write(
        &config,
        format!(
            "[notify]\nbackoff_ms = 10\n\n[notify.channels.hook]\ntype = \"webhook\"\nurl = \"{url}/hook\"\nsecret = \"{SECRET}\"\n\n\
             [notify.channels.slack]\ntype = \"slack\"\nurl = \"{url}/slack\"\n\n\
             [notify.channels.teams]\ntype = \"teams\"\nurl = \"{url}/teams\"\n"
        ),
    )
    .expect("write");
    let lines =
        [verdict(1, "shop@1@prod", "FAIL"), verdict(2, "cart@1@prod", "FAIL"), verdict(3, "shop@1@prod", "PASS")];
    ok(&trustloop(dir, &["produce", "--topic", "verdicts"], &(lines.join("\n") + "\n")));
    let run = ["run", "--until-idle", "--config", config.to_str().expect("path")];
    ok(&trustloop(dir, &run, ""));

    // The FAIL of shop: to the hook (500, then 200) and to Teams. The digest is still open (no
    // event after 11:00 yet).
    let requests = got.lock().expect("lock").clone();
    let paths: Vec<&str> = requests.iter().map(|g| g.path.as_str()).collect();
    assert_eq!(paths, ["/hook", "/hook", "/teams"], "{requests:#?}");
    assert!(requests[0].signed && requests[1].signed, "the webhook is signed");
    assert!(!requests[2].signed, "Teams is not");
    assert_eq!(requests[0].key, requests[1].key, "a retry keeps the idempotency key");
    assert_eq!(requests[1].body["title"], "FAILED shop@1@prod");
    assert_eq!(requests[2].body["@type"], "MessageCard");
    let mut deliveries = consume(dir, "deliveries");
    // Keyed by notification: spread over partitions; in channel and attempt order.
    deliveries.sort_by_key(|d| (d["channel"].as_str().unwrap_or("").to_string(), d["attempt"].as_i64()));
    let summary: Vec<(String, i64, String, i64)> = deliveries
        .iter()
        .map(|d| {
            (
                d["channel"].as_str().unwrap_or("").to_string(),
                d["attempt"].as_i64().unwrap_or(0),
                d["status"].as_str().unwrap_or("").to_string(),
                d["code"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    let want: Vec<(String, i64, String, i64)> = vec![
        ("hook".into(), 1, "retrying".into(), 500),
        ("hook".into(), 2, "ok".into(), 200),
        ("teams".into(), 1, "ok".into(), 200),
    ];
    assert_eq!(summary, want, "{deliveries:#?}");
    assert_eq!(deliveries[0]["retriable"], true);
    assert_eq!(deliveries[0]["notification_id"], requests[0].key.as_str());

    // SQL sees the deliveries (and the notifications they are of).
    let csv = ok(&trustloop(
        dir,
        &[
            "sql",
            "SELECT d.channel, d.attempt, d.status, d.code, n.rule FROM deliveries d \
             JOIN notifications n ON d.notification_id = n.notification_id ORDER BY d.channel, d.attempt",
            "--format",
            "csv",
        ],
        "",
    ));
    assert_eq!(
        csv,
        "channel,attempt,status,code,rule\nhook,1,retrying,500,fails\nhook,2,ok,200,fails\nteams,1,ok,200,fails\n"
    );

    // Run again: nothing new, nothing sent.
    ok(&trustloop(dir, &run, ""));
    assert_eq!(got.lock().expect("lock").len(), 3);

    // Lose the deliver group's position (a crash before its commit): the log's deliveries still
    // say what was sent.
    rewind_deliver_group(dir);
    ok(&trustloop(dir, &run, ""));
    assert_eq!(got.lock().expect("lock").len(), 3, "nothing is sent twice");
    assert_eq!(consume(dir, "deliveries").len(), 3);

    // A verdict after 11:00 closes the 10:00 digest: one Slack message listing the three.
    ok(&trustloop(
        dir,
        &["produce", "--topic", "verdicts"],
        &(verdict(59, "cart@1@prod", "PASS").replace("10:59", "11:05") + "\n"),
    ));
    ok(&trustloop(dir, &run, ""));
    let requests = got.lock().expect("lock").clone();
    assert_eq!(requests.len(), 4, "{requests:#?}");
    let slack = &requests[3];
    assert_eq!(slack.path, "/slack");
    let text = slack.body["text"].as_str().expect("text");
    assert!(
        text.starts_with("hourly: 3 events (digest, 2026-11-01T10:00:00.000000Z to 2026-11-01T11:00:00.000000Z)"),
        "{text}"
    );
    assert!(
        text.contains("- verdict fail: shop@1@prod\n- verdict fail: cart@1@prod\n- verdict pass: shop@1@prod"),
        "{text}"
    );
    let notifications = consume(dir, "notifications");
    assert_eq!(notifications.len(), 3, "{notifications:#?}");
    let digest = notifications.iter().find(|n| n["channel"] == "slack").expect("the digest");
    assert_eq!(digest["window_start"], "2026-11-01T10:00:00.000000Z");
    assert_eq!(digest["event_ids"].as_array().map(Vec::len), Some(3));
}

/// Commits offset 0 of every `notifications` partition for the group `trustloop.deliver`.
fn rewind_deliver_group(dir: &Path) {
    use trustloop_connectors::log::embedded::{EmbeddedLog, EmbeddedOptions};
    use trustloop_connectors::log::{EventLog, TopicPartitionOffset};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let log = EmbeddedLog::open(dir, EmbeddedOptions::default()).expect("open log");
        let partitions = log.partition_count("notifications").await.expect("partitions");
        let offsets: Vec<TopicPartitionOffset> = (0..partitions)
            .map(|partition| TopicPartitionOffset { topic: "notifications".into(), partition, offset: 0 })
            .collect();
        log.commit_offsets("trustloop.deliver", &offsets).await.expect("commit");
    });
}

#[test]
fn notify_test_sends_through_a_channel_and_records_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    let (url, got) = receiver();
    let config = dir.join("trustloop.toml");
    std::fs::write(&config, format!("[notify.channels.ops]\ntype = \"slack\"\nurl = \"{url}/slack\"\n"))
        .expect("write");
    let out = ok(&trustloop(dir, &["notify", "test", "ops", "--config", config.to_str().expect("path")], ""));
    let delivery: Value = serde_json::from_str(out.trim()).expect("the delivery as JSON");
    assert_eq!(delivery["status"], "ok");
    assert_eq!(delivery["channel_type"], "slack");
    assert_eq!(
        got.lock().expect("lock")[0].body["blocks"][0]["text"]["text"],
        "trustloop test message for channel ops"
    );
    assert_eq!(consume(dir, "deliveries").len(), 1);
    // An unknown channel is an error that names the configured ones.
    let out = trustloop(dir, &["notify", "test", "nope", "--config", config.to_str().expect("path")], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no channel `nope`"), "{out:?}");
}
