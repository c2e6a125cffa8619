//! OpenTelemetry export: `trustloop run --otlp-endpoint URL` posts its spans over OTLP/HTTP protobuf
//! to a collector — here a small one in the test, on loopback, that decodes what it receives with the
//! OTLP protobuf definitions. Without an endpoint nothing is posted.

use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message as _;

mod support;

/// One span as the collector saw it: its name, its attributes and its resource's attributes.
#[derive(Debug, Clone)]
struct Span {
    name: String,
    attributes: Vec<(String, String)>,
    resource: Vec<(String, String)>,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
}

impl Span {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

type Received = Arc<Mutex<Vec<Span>>>;

fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn pairs(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes.iter().map(|kv| (kv.key.clone(), text(kv.value.as_ref()))).collect()
}

async fn collect(State(received): State<Received>, body: Bytes) -> (StatusCode, Vec<u8>) {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, Vec::new());
    };
    let mut spans = received.lock().expect("collector lock");
    for resource_spans in request.resource_spans {
        let resource = resource_spans.resource.map(|r| pairs(&r.attributes)).unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                spans.push(Span {
                    name: span.name,
                    attributes: pairs(&span.attributes),
                    resource: resource.clone(),
                    trace_id: span.trace_id,
                    span_id: span.span_id,
                    parent_span_id: span.parent_span_id,
                });
            }
        }
    }
    // An empty ExportTraceServiceResponse: everything accepted.
    (StatusCode::OK, Vec::new())
}

/// Starts the collector on an ephemeral loopback port, on its own thread (gone with the test
/// process); returns its base URL and what it received.
fn collector() -> (String, Received) {
    let received = Received::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the collector");
    listener.set_nonblocking(true).expect("non-blocking listener");
    let url = format!("http://{}", listener.local_addr().expect("collector address"));
    let state = received.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("collector runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            let app = axum::Router::new().route("/v1/traces", post(collect)).with_state(state);
            axum::serve(listener, app).await.expect("collector serves");
        });
    });
    (url, received)
}

fn trustloop(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let out = support::trustloop_cli(dir, args, stdin);
    assert!(out.status.success(), "trustloop {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn a_run_exports_its_stage_spans_to_the_collector() {
    let (url, received) = collector();
    let dir = tempfile::tempdir().expect("tempdir");
    let lines: String = (0..20)
        .map(|m| {
            format!(
                "{{\"tenant\":\"acme\",\"entity\":\"host-{}\",\"kind\":\"heartbeat\",\"value\":1.0,\
                 \"event_time\":\"2026-11-01T00:{m:02}:00Z\"}}\n",
                m % 3
            )
        })
        .collect();
    // No endpoint configured: nothing is exported.
    trustloop(dir.path(), &["produce", "--topic", "telemetry"], &lines);
    assert!(received.lock().expect("lock").is_empty(), "exported without an endpoint");

    trustloop(dir.path(), &["--otlp-endpoint", &url, "run", "--until-idle"], "");
    // The exporter flushes before the process exits.
    let spans = received.lock().expect("lock").clone();
    let trust: Vec<&Span> =
        spans.iter().filter(|s| s.name == "stage" && s.attribute("operator") == Some("trust")).collect();
    assert!(
        !trust.is_empty(),
        "no span of the trust stage among {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let applied: u64 = trust.iter().filter_map(|s| s.attribute("applied")?.parse::<u64>().ok()).sum();
    assert_eq!(applied, 20, "the trust stage's spans count its inputs: {trust:?}");
    assert!(
        trust.iter().all(|s| s.resource.iter().any(|(k, v)| k == "service.name" && v == "trustloop")),
        "spans name their service: {trust:?}"
    );
    // Idle polls make no spans: every stage span applied something.
    let idle = spans.iter().filter(|s| s.name == "stage" && s.attribute("applied") == Some("0")).count();
    assert_eq!(idle, 0, "idle stage passes were exported: {spans:?}");
}

/// The 16 bytes of a UUID in text form.
fn uuid_bytes(id: &str) -> Vec<u8> {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    (0..16).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex")).collect()
}

#[test]
fn one_trace_follows_an_event_from_ingest_through_every_operator_to_its_dispatch() {
    let (url, received) = collector();
    let dir = tempfile::tempdir().expect("tempdir");

    // Ingest over HTTP: the gateway's `ingest` span starts each event's trace, whose id is the event id.
    let token = String::from_utf8(
        trustloop(dir.path(), &["token", "create", "--tenant", "acme", "--role", "ingest"], "").stdout,
    )
    .expect("token")
    .trim()
    .to_string();
    let mut serve = support::cli_on(dir.path())
        .args(["--fsync", "never", "--otlp-endpoint", &url, "serve", "--listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("trustloop serve");
    let mut stderr = std::io::BufReader::new(serve.stderr.take().expect("stderr"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).expect("the address line");
    let addr = line.trim().rsplit("http://").next().expect("address").to_string();
    // Failures enough to push host-7's trust below the policy's `notify` threshold.
    let body: String = (0..6)
        .map(|m| {
            format!(
                "{{\"tenant\":\"acme\",\"entity\":\"host-7\",\"kind\":\"auth_failure\",\"value\":5.0,\
                 \"event_time\":\"2026-11-01T00:0{m}:00Z\"}}\n"
            )
        })
        .collect();
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
    let request = format!(
        "POST /v1/events/telemetry HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    std::io::Write::write_all(&mut stream, request.as_bytes()).expect("post");
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // SIGTERM: the gateway stops and the exporter flushes.
    let _ = std::process::Command::new("kill").args(["-TERM", &serve.id().to_string()]).status();
    assert!(serve.wait().expect("serve exits").success());
    let ingested: Vec<Span> = received.lock().expect("lock").iter().filter(|s| s.name == "ingest").cloned().collect();
    assert_eq!(ingested.len(), 6, "one ingest span per event");
    let consumed =
        String::from_utf8(trustloop(dir.path(), &["consume", "--topic", "telemetry", "--from-beginning"], "").stdout)
            .expect("UTF-8");
    for l in consumed.lines() {
        let event: serde_json::Value = serde_json::from_str(l).expect("JSON");
        let trace = uuid_bytes(event["event_id"].as_str().expect("event id"));
        assert!(ingested.iter().any(|s| s.trace_id == trace), "the trace id of every event is its event id");
    }

    // The operators and the adapter: each derived event continues its cause's trace, each span
    // the child of the one before.
    let log = dir.path().join("actions.jsonl");
    let config = dir.path().join("trustloop.toml");
    std::fs::write(
        &config,
        format!(
            "[enforcement.adapters.recorder]\ntype = \"command\"\nprogram = \"sh\"\n\
             args = [\"-c\", \"cat >> \\\"$LOG\\\" && echo '{{\\\"verified\\\": true}}'\"]\n\
             env = {{ LOG = \"{}\" }}\n\n[enforcement.routes]\n\
             recorder = [\"isolate\", \"quarantine\", \"lift_quarantine\", \"block_promotion\", \"notify\", \"promote\"]\n",
            log.display()
        ),
    )
    .expect("config");
    trustloop(
        dir.path(),
        &["--otlp-endpoint", &url, "run", "--until-idle", "--config", config.to_str().expect("path")],
        "",
    );
    assert!(std::fs::read_to_string(&log).is_ok_and(|t| !t.is_empty()), "the adapter was given an action");
    let spans = received.lock().expect("lock").clone();
    let dispatched = spans
        .iter()
        .filter(|s| s.name == "dispatch")
        .find(|d| ingested.iter().any(|i| i.trace_id == d.trace_id))
        .unwrap_or_else(|| panic!("no dispatch span in an ingested event's trace: {:?}", names(&spans)));
    let lineage: Vec<&Span> = spans.iter().filter(|s| s.trace_id == dispatched.trace_id).collect();
    let by_operator = |op: &str| lineage.iter().find(|s| s.name == "derive" && s.attribute("operator") == Some(op));
    let ingest = lineage.iter().find(|s| s.name == "ingest").expect("the trace's root");
    let trust = by_operator("trust").unwrap_or_else(|| panic!("no trust span: {:?}", names(lineage.iter().copied())));
    let decision =
        by_operator("decision").unwrap_or_else(|| panic!("no decision span: {:?}", names(lineage.iter().copied())));
    let enforce = lineage
        .iter()
        .find(|s| s.name == "derive" && s.attribute("operator").is_some_and(|o| o.starts_with("enforce")))
        .unwrap_or_else(|| panic!("no enforcement span: {:?}", names(lineage.iter().copied())));
    assert_eq!(trust.parent_span_id, ingest.span_id, "trust ← ingest");
    assert_eq!(decision.parent_span_id, trust.span_id, "decision ← trust");
    // Every span of the trace but its root has its parent in the trace.
    let ids: Vec<&Vec<u8>> = lineage.iter().map(|s| &s.span_id).collect();
    for s in lineage.iter().filter(|s| s.name != "ingest") {
        assert!(
            ids.contains(&&s.parent_span_id),
            "{} has its parent in the trace: {:?}",
            s.name,
            names(lineage.iter().copied())
        );
    }
    let _ = enforce;
}

fn names<'a>(spans: impl IntoIterator<Item = &'a Span>) -> Vec<(String, Option<String>)> {
    spans.into_iter().map(|s| (s.name.clone(), s.attribute("operator").map(str::to_string))).collect()
}
