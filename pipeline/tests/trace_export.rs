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

/// One span as the collector saw it: its name, its attributes and its resource's attributes.
#[derive(Debug, Clone)]
struct Span {
    name: String,
    attributes: Vec<(String, String)>,
    resource: Vec<(String, String)>,
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
                spans.push(Span { name: span.name, attributes: pairs(&span.attributes), resource: resource.clone() });
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
    let out = trustloop_e2e::trustloop_cli(env!("CARGO_BIN_EXE_trustloop"), dir, args, stdin);
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
