//! The HTTP gateway end to end, on loopback: events posted as JSON, NDJSON and Confluent-framed Avro
//! land in the log whole or not at all; every cross-tenant attempt, every missing or wrong token
//! and role, and a corpus of bad payloads are refused with the right 4xx and leave the log as it
//! was; rate limits answer 429 with `Retry-After`; SQL, verdicts and replays are confined to the
//! caller's tenant; the Schema Registry subset lets an independent Avro implementation (the
//! `apache-avro` crate) decode what the gateway wrote; a burst of concurrent batches loses nothing.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use trustloop_connectors::log::embedded::FsyncPolicy;
use trustloop_runtime::backend::{Backend, BackendConfig};
use trustloop_runtime::ops::Ops;
use trustloop_schemas::{Envelope, Event, EventId, EventTime, Telemetry};
use trustloop_serve::gateway::tokens::Role;
use trustloop_serve::gateway::{Gateway, GatewayOptions};
use trustloop_serve::server::Server;

mod support;

/// An HTTP answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {} {}", self.status, String::from_utf8_lossy(&self.body)))
    }
}

/// One HTTP/1.1 request on a connection of its own.
async fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("write head");
    // A server may answer (413) before it read everything; a failed write is then not an error.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a head and a body");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer { status, headers, body: raw[split + 4..].to_vec() }
}

/// A gateway over an embedded log in a temporary directory.
struct Running {
    addr: SocketAddr,
    gateway: Arc<Gateway>,
    backend: Arc<Backend>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<Server>,
    _dir: Option<tempfile::TempDir>,
}

impl Running {
    async fn start(args: GatewayOptions) -> Running {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut r = Running::on(dir.path(), args).await;
        r._dir = Some(dir);
        r
    }

    async fn on(path: &std::path::Path, args: GatewayOptions) -> Running {
        Running::with(BackendConfig { fsync: FsyncPolicy::Never, ..BackendConfig::embedded(path) }, args).await
    }

    /// A gateway over the Kafka brokers at `brokers`.
    async fn on_kafka(brokers: &str, args: GatewayOptions) -> Running {
        Running::with(BackendConfig { brokers: Some(brokers.to_string()), ..BackendConfig::embedded("unused") }, args)
            .await
    }

    async fn with(backend_args: BackendConfig, args: GatewayOptions) -> Running {
        let backend = Arc::new(Backend::open(&backend_args).await.expect("open the log"));
        let gateway = Arc::new(Gateway::new(backend.clone(), &args, "127.0.0.1:0", None).await.expect("gateway"));
        let ops = Ops::new();
        ops.set_ready();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = Server::start_router("127.0.0.1:0", gateway.router(ops), async {
            let _ = stopped.await;
        })
        .await
        .expect("serve");
        Running { addr: server.local_addr(), gateway, backend, stop: Some(stop), server: Some(server), _dir: None }
    }

    async fn token(&self, tenant: &str, service: Option<&str>, roles: &[Role]) -> String {
        self.gateway.tokens().create(tenant, service, roles).await.expect("token").1
    }

    async fn post(&self, topic: &str, token: &str, content_type: &str, body: &[u8]) -> Answer {
        let auth = format!("Bearer {token}");
        let path = format!("/v1/events/{topic}");
        http(self.addr, "POST", &path, &[("Authorization", &auth), ("Content-Type", content_type)], body).await
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        http(self.addr, "GET", path, &headers, b"").await
    }

    async fn sql(&self, token: &str, query: &str) -> Answer {
        let q: String = query
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        self.get(&format!("/v1/sql?q={q}"), Some(token)).await
    }

    /// Every topic's end offsets: what "the log is unchanged" compares.
    async fn ends(&self) -> BTreeMap<String, Vec<i64>> {
        let mut out = BTreeMap::new();
        for t in self.backend.log.list_topics().await.expect("topics") {
            out.insert(t.name.clone(), self.backend.log.end_offsets(&t.name).await.expect("ends"));
        }
        out
    }

    async fn count(&self, topic: &str) -> usize {
        self.backend.events(topic).await.expect("events").len()
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(server) = self.server.take() {
            server.stopped(Duration::from_secs(5)).await.expect("a clean stop");
        }
    }
}

fn telemetry(tenant: &str, source: &str, entity: &str, i: u128) -> Event {
    Event::Telemetry(Telemetry {
        envelope: Envelope {
            event_id: EventId(uuid::Uuid::from_u128(i + 1)),
            tenant: tenant.into(),
            key: entity.into(),
            event_time: EventTime::from_micros(1_790_000_000_000_000 + i as i64),
            source: source.into(),
            schema_version: 1,
        },
        entity: entity.into(),
        kind: "auth_failure".into(),
        value: 1.0,
        attributes: BTreeMap::new(),
        unit: None,
    })
}

fn sample(entity: &str, kind: &str) -> Value {
    json!({"entity": entity, "kind": kind, "value": 1.0, "event_time": "2026-12-01T00:00:00Z"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_in_every_encoding_land_whole_and_read_back() {
    let gw = Running::start(GatewayOptions::default()).await;
    let token = gw.token("acme", None, &[Role::Ingest, Role::Read]).await;

    let one = gw.post("telemetry", &token, "application/json", sample("h1", "heartbeat").to_string().as_bytes()).await;
    assert_eq!((one.status, one.json()["accepted"].clone()), (200, json!(1)), "{:?}", one.json());
    let batch = json!([sample("h2", "auth_failure"), sample("h3", "auth_failure"), sample("h4", "ids_alert")]);
    let three = gw.post("telemetry", &token, "application/json", batch.to_string().as_bytes()).await;
    assert_eq!(three.json()["accepted"], 3);
    let lines = format!("{}\n\n{}\n", sample("h5", "heartbeat"), sample("h6", "heartbeat"));
    assert_eq!(gw.post("telemetry", &token, "application/x-ndjson", lines.as_bytes()).await.json()["accepted"], 2);
    let codec = &gw.backend.codec;
    let framed = codec.encode(&telemetry("acme", "sensor", "h7", 7)).expect("encode");
    let avro = gw.post("telemetry", &token, "application/vnd.confluent.avro", &framed).await;
    assert_eq!(avro.json()["accepted"], 1, "{:?}", avro.json());
    let mut avro_batch = Vec::new();
    for i in 8..11 {
        let framed = codec.encode(&telemetry("acme", "sensor", &format!("h{i}"), i)).expect("encode");
        avro_batch.extend_from_slice(&(framed.len() as u32).to_be_bytes());
        avro_batch.extend_from_slice(&framed);
    }
    let avro3 = gw.post("telemetry", &token, "application/vnd.trustloop.avro-batch", &avro_batch).await;
    assert_eq!(avro3.json()["accepted"], 3);
    assert_eq!(gw.count("telemetry").await, 10, "every accepted event is in the log");

    // Read back through SQL, as JSON and as CSV.
    let answer = gw.sql(&token, "SELECT kind, count(*) AS n FROM telemetry GROUP BY kind ORDER BY kind").await;
    assert_eq!(answer.status, 200);
    let rows = answer.json()["rows"].clone();
    assert_eq!(
        rows,
        json!([
            {"kind": "auth_failure", "n": 6},
            {"kind": "heartbeat", "n": 3},
            {"kind": "ids_alert", "n": 1}
        ])
    );
    let csv = gw.get("/v1/sql?q=SELECT%20count(*)%20AS%20n%20FROM%20telemetry&format=csv", Some(&token)).await;
    assert_eq!((csv.status, String::from_utf8_lossy(&csv.body).into_owned()), (200, "n\n10\n".to_string()));
    // Missing sources default to "gateway"; the Avro events kept theirs.
    let sources = gw.sql(&token, "SELECT source, count(*) AS n FROM telemetry GROUP BY source ORDER BY source").await;
    assert_eq!(sources.json()["rows"], json!([{"source": "gateway", "n": 6}, {"source": "sensor", "n": 4}]));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_roles_and_tenants_confine_every_route() {
    let gw = Running::start(GatewayOptions { max_rows: 2, ..GatewayOptions::default() }).await;
    let acme = gw.token("acme", None, &[Role::Admin]).await;
    let globex = gw.token("globex", None, &[Role::Ingest, Role::Read]).await;
    let reader = gw.token("acme", None, &[Role::Read]).await;
    let writer = gw.token("acme", None, &[Role::Ingest]).await;
    let sensors = gw.token("acme", Some("sensors"), &[Role::Ingest, Role::Read]).await;
    let body = |e: &str| json!([sample(e, "heartbeat")]).to_string();

    assert_eq!(gw.post("telemetry", &acme, "application/json", body("a1").as_bytes()).await.status, 200);
    assert_eq!(gw.post("telemetry", &acme, "application/json", body("a2").as_bytes()).await.status, 200);
    assert_eq!(gw.post("telemetry", &acme, "application/json", body("a3").as_bytes()).await.status, 200);
    assert_eq!(gw.post("telemetry", &globex, "application/json", body("g1").as_bytes()).await.status, 200);
    let sensor = gw.post("telemetry", &sensors, "application/json", body("s1").as_bytes()).await;
    assert_eq!(sensor.status, 200, "{:?}", sensor.json());
    let before = gw.ends().await;

    // Writing another tenant's events, or another service's, or without the role: 403, nothing written.
    let foreign = json!([sample("x", "heartbeat"), {"tenant": "acme", "entity": "x", "kind": "k", "value": 1}]);
    let refused = gw.post("telemetry", &globex, "application/json", foreign.to_string().as_bytes()).await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["events"][0]["index"], 1, "{:?}", refused.json());
    let other_source = json!({"entity": "x", "kind": "k", "value": 1, "source": "cameras"}).to_string();
    assert_eq!(gw.post("telemetry", &sensors, "application/json", other_source.as_bytes()).await.status, 403);
    let avro = gw.backend.codec.encode(&telemetry("acme", "x", "x", 1)).expect("encode");
    assert_eq!(gw.post("telemetry", &globex, "application/vnd.confluent.avro", &avro).await.status, 403);
    assert_eq!(gw.post("telemetry", &reader, "application/json", body("r").as_bytes()).await.status, 403);
    let policy = json!({"name": "p", "version": 1}).to_string();
    assert_eq!(
        gw.post("policies", &writer, "application/json", policy.as_bytes()).await.status,
        403,
        "policies need admin"
    );
    assert_eq!(gw.post("verdicts", &acme, "application/json", b"{}").await.status, 403, "derived topics take nothing");
    // No token, a wrong one, a malformed header: 401.
    let anonymous = http(gw.addr, "POST", "/v1/events/telemetry", &[], body("n").as_bytes()).await;
    assert_eq!(anonymous.status, 401);
    assert!(anonymous.headers.contains_key("www-authenticate"));
    let mut forged = acme.clone();
    forged.replace_range(forged.len() - 4.., "0000");
    assert_eq!(gw.post("telemetry", &forged, "application/json", body("f").as_bytes()).await.status, 401);
    let basic = http(gw.addr, "GET", "/v1/sql?q=SELECT%201", &[("Authorization", "Basic !!")], b"").await;
    assert_eq!(basic.status, 401);
    assert_eq!(gw.ends().await, before, "no refused request wrote anything");

    // Reads see only the caller's tenant (and service).
    let count = |a: &Answer| a.json()["rows"][0]["n"].clone();
    assert_eq!(count(&gw.sql(&reader, "SELECT count(*) AS n FROM telemetry").await), 4);
    assert_eq!(count(&gw.sql(&globex, "SELECT count(*) AS n FROM telemetry").await), 1);
    assert_eq!(count(&gw.sql(&sensors, "SELECT count(*) AS n FROM telemetry").await), 1);
    let sneaky = gw.sql(&globex, "SELECT count(*) AS n FROM telemetry WHERE tenant = 'acme' OR 1 = 1").await;
    assert_eq!(count(&sneaky), 1, "a predicate cannot widen the confinement");
    let union = gw.sql(&globex, "SELECT tenant FROM telemetry UNION ALL SELECT tenant FROM \"telemetry\"").await;
    assert!(union.json()["rows"].as_array().expect("rows").iter().all(|r| r["tenant"] == "globex"));
    assert_eq!(gw.sql(&writer, "SELECT 1").await.status, 403, "SQL needs the read role");
    assert_eq!(gw.get("/v1/sql?q=SELECT%201", None).await.status, 401);
    let copied = std::env::temp_dir().join(format!("trustloop-copied-{}.csv", std::process::id()));
    let copy = format!("COPY (SELECT 1) TO '{}'", copied.display());
    for ddl in [
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
        "SET datafusion.execution.batch_size = 1",
        copy.as_str(),
    ] {
        let a = gw.sql(&acme, ddl).await;
        assert_eq!(a.status, 400, "{ddl}: {}", String::from_utf8_lossy(&a.body));
    }
    assert!(!copied.exists(), "COPY wrote nothing");
    let cut = gw.sql(&reader, "SELECT entity FROM telemetry").await;
    assert_eq!((cut.json()["truncated"].clone(), cut.json()["rows"].as_array().map(Vec::len)), (json!(true), Some(2)));
    assert_eq!(cut.headers.get("x-trustloop-truncated").map(String::as_str), Some("true"));

    // Verdicts and replays of another tenant: invisible, refused.
    let verdict = Event::Verdict(trustloop_schemas::Verdict {
        envelope: Envelope {
            event_id: EventId(uuid::Uuid::from_u128(99)),
            tenant: "acme".into(),
            key: "shop@1.0@prod".into(),
            event_time: EventTime::from_micros(1_790_000_000_000_000),
            source: "test".into(),
            schema_version: 1,
        },
        subject: "shop@1.0@prod".into(),
        subject_kind: trustloop_schemas::SubjectKind::Release,
        outcome: trustloop_schemas::Outcome::Fail,
        previous: None,
        reasons: Vec::new(),
        policy_digest: "d".into(),
        input_frontier: Vec::new(),
        evidence_digest: "e".into(),
    });
    let mut w = trustloop_runtime::ingest::EventWriter::new(&gw.backend, "verdicts").await.expect("writer");
    w.push(&verdict).await.expect("push");
    w.flush().await.expect("flush");
    let id = verdict.envelope().event_id.to_string();
    let mine = gw.get("/v1/verdicts/shop@1.0@prod", Some(&reader)).await;
    assert_eq!(mine.json()["verdicts"].as_array().map(Vec::len), Some(1), "{:?}", mine.json());
    let theirs = gw.get("/v1/verdicts/shop@1.0@prod", Some(&globex)).await;
    assert_eq!(theirs.json()["verdicts"], json!([]));
    assert_eq!(gw.get(&format!("/v1/replay/{id}"), Some(&globex)).await.status, 403);
    assert_eq!(gw.get(&format!("/v1/replay/{id}"), Some(&writer)).await.status, 403);
    assert_eq!(gw.get(&format!("/v1/replay/{}", uuid::Uuid::nil()), Some(&reader)).await.status, 404);
    assert_eq!(gw.get("/v1/replay/not-an-id", Some(&reader)).await.status, 400);
    // Not the decision operator's: it cannot be replayed, and the answer says so.
    assert_eq!(gw.get(&format!("/v1/replay/{id}"), Some(&reader)).await.status, 422);

    // The operations endpoints need no token.
    assert_eq!(gw.get("/healthz", None).await.status, 200);
    assert_eq!(gw.get("/readyz", None).await.status, 200);
    let metrics = gw.get("/metrics", None).await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(text.contains("trustloop_gateway_requests_total{route=\"events\",status=\"403\"}"), "{text}");
    assert!(text.contains("trustloop_gateway_events_total{topic=\"telemetry\"} 5"), "{text}");

    // A revoked token stops working.
    let id = gw.gateway.tokens().list().into_iter().find(|t| t.tenant == "globex").expect("globex's token").id;
    gw.gateway.tokens().revoke(&id).await.expect("revoke");
    assert_eq!(gw.sql(&globex, "SELECT 1").await.status, 401);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corpus_of_bad_payloads_gets_4xx_and_leaves_the_log_unchanged() {
    let gw = Running::start(GatewayOptions::default()).await;
    let token = gw.token("acme", None, &[Role::Admin]).await;
    let codec = &gw.backend.codec;
    let good = codec.encode(&telemetry("acme", "s", "h", 1)).expect("encode");
    let mut oversized = b"[".to_vec();
    while oversized.len() <= trustloop_serve::gateway::MAX_BODY_BYTES {
        oversized.extend_from_slice(sample("h", "heartbeat").to_string().as_bytes());
        oversized.push(b',');
    }
    oversized.extend_from_slice(sample("h", "heartbeat").to_string().as_bytes());
    oversized.push(b']');
    let too_many = Value::Array(vec![
        json!({"entity": "h", "kind": "k", "value": 1});
        trustloop_serve::gateway::MAX_BATCH_EVENTS + 1
    ]);
    let mut bad_length = (good.len() as u32 + 5).to_be_bytes().to_vec();
    bad_length.extend_from_slice(&good);
    let mut stray = (good.len() as u32).to_be_bytes().to_vec();
    stray.extend_from_slice(&good);
    stray.extend_from_slice(&[0, 0]);
    let mut one_bad_in_batch = json!([sample("h1", "heartbeat"), sample("h2", "heartbeat")]);
    one_bad_in_batch[1]["value"] = json!("high");

    let before = gw.ends().await;
    let json_ct = "application/json";
    let avro_ct = "application/vnd.confluent.avro";
    let batch_ct = "application/vnd.trustloop.avro-batch";
    let cases: Vec<(&str, &str, &str, Vec<u8>, u16)> = vec![
        ("truncated JSON", "telemetry", json_ct, br#"{"entity": "h", "kind": "#.to_vec(), 400),
        ("not JSON", "telemetry", json_ct, b"hello".to_vec(), 400),
        ("a JSON string", "telemetry", json_ct, br#""event""#.to_vec(), 400),
        ("wrong type", "telemetry", json_ct, br#"{"entity": "h", "kind": "k", "value": "high"}"#.to_vec(), 400),
        ("missing field", "telemetry", json_ct, br#"{"entity": "h", "value": 1}"#.to_vec(), 400),
        (
            "unknown field",
            "telemetry",
            json_ct,
            br#"{"entity": "h", "kind": "k", "value": 1, "colour": 2}"#.to_vec(),
            400,
        ),
        (
            "bad event time",
            "telemetry",
            json_ct,
            br#"{"entity": "h", "kind": "k", "value": 1, "event_time": "yesterday"}"#.to_vec(),
            400,
        ),
        ("not a finite value", "telemetry", json_ct, br#"{"entity": "h", "kind": "k", "value": 1e999}"#.to_vec(), 400),
        ("one bad event in a batch", "telemetry", json_ct, one_bad_in_batch.to_string().into_bytes(), 400),
        ("an empty batch", "telemetry", json_ct, b"[]".to_vec(), 400),
        ("the wrong event type", "advisories", json_ct, sample("h", "k").to_string().into_bytes(), 400),
        ("non-UTF-8 lines", "telemetry", "application/x-ndjson", vec![0xff, 0xfe, b'\n'], 400),
        (
            "a bad line",
            "telemetry",
            "application/x-ndjson",
            b"{\"entity\": \"h\", \"kind\": \"k\", \"value\": 1}\n{oops\n".to_vec(),
            400,
        ),
        ("truncated Avro", "telemetry", avro_ct, good[..good.len() - 3].to_vec(), 400),
        ("Avro with trailing bytes", "telemetry", avro_ct, [&good[..], &[0u8]].concat(), 400),
        ("garbage bytes", "telemetry", avro_ct, b"\x00\xff\xff\xff\xffgarbage".to_vec(), 400),
        ("no magic byte", "telemetry", avro_ct, b"\x07abc".to_vec(), 400),
        ("Avro of another type", "advisories", avro_ct, good.to_vec(), 400),
        ("an Avro batch whose length overruns", "telemetry", batch_ct, bad_length, 400),
        ("stray bytes after an Avro batch", "telemetry", batch_ct, stray, 400),
        ("an unknown topic", "no-such-topic", json_ct, sample("h", "k").to_string().into_bytes(), 404),
        ("an internal topic", "_trustloop_tokens", json_ct, b"{}".to_vec(), 404),
        ("a derived topic", "findings", json_ct, b"{}".to_vec(), 403),
        ("an unsupported media type", "telemetry", "text/plain", b"h,k,1".to_vec(), 415),
        ("too many events", "telemetry", json_ct, too_many.to_string().into_bytes(), 413),
        ("an oversized body", "telemetry", json_ct, oversized, 413),
    ];
    for (what, topic, content_type, body, status) in &cases {
        let answer = gw.post(topic, &token, content_type, body).await;
        assert_eq!(answer.status, *status, "{what}: {}", String::from_utf8_lossy(&answer.body));
        if *status != 413 || answer.headers.get("content-type").is_some_and(|c| c.contains("json")) {
            let body = answer.json();
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: a reason is given: {body}");
        }
    }
    let one = gw.post("telemetry", &token, json_ct, one_bad_in_batch.to_string().as_bytes()).await.json();
    assert_eq!(one["events"][0]["index"], 1, "the bad event is named: {one}");
    assert!(one["events"][0]["reason"].as_str().is_some_and(|r| r.contains("value")), "{one}");
    assert_eq!(gw.ends().await, before, "no bad payload changed the log");
    // And the gateway still serves.
    assert_eq!(gw.post("telemetry", &token, json_ct, sample("h", "k").to_string().as_bytes()).await.status, 200);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_over_their_rate_get_429_with_retry_after() {
    let args = GatewayOptions { limits: vec!["slow=2/4".into()], ..GatewayOptions::default() };
    let gw = Running::start(args).await;
    let slow = gw.token("slow", None, &[Role::Ingest]).await;
    let fast = gw.token("fast", None, &[Role::Ingest]).await;
    let batch = |n: usize| Value::Array((0..n).map(|i| sample(&format!("h{i}"), "k")).collect()).to_string();
    assert_eq!(gw.post("telemetry", &slow, "application/json", batch(4).as_bytes()).await.status, 200);
    let over = gw.post("telemetry", &slow, "application/json", batch(2).as_bytes()).await;
    assert_eq!(over.status, 429, "{}", String::from_utf8_lossy(&over.body));
    let retry: u64 = over.headers.get("retry-after").and_then(|v| v.parse().ok()).expect("Retry-After seconds");
    assert!((1..=2).contains(&retry), "{retry}");
    let too_big = gw.post("telemetry", &slow, "application/json", batch(5).as_bytes()).await;
    assert_eq!(too_big.status, 413, "more than the burst can never pass");
    assert_eq!(
        gw.post("telemetry", &fast, "application/json", batch(50).as_bytes()).await.status,
        200,
        "other tenants are not slowed"
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        gw.post("telemetry", &slow, "application/json", batch(2).as_bytes()).await.status,
        200,
        "after the wait"
    );
    assert_eq!(gw.count("telemetry").await, 56);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batches_lose_nothing() {
    let gw = Arc::new(Running::start(GatewayOptions::default()).await);
    let token = gw.token("acme", None, &[Role::Ingest]).await;
    let (clients, requests, per_request) = (4, 10, 500);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (gw, token) = (gw.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            for r in 0..requests {
                let body = (0..per_request)
                    .map(|i| sample(&format!("host-{c}-{r}-{i}"), "heartbeat").to_string())
                    .collect::<Vec<_>>()
                    .join("\n");
                let a = gw.post("telemetry", &token, "application/x-ndjson", body.as_bytes()).await;
                assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
            }
        }));
    }
    for t in tasks {
        t.await.expect("client");
    }
    assert_eq!(gw.count("telemetry").await, clients * requests * per_request, "every event is in the log once");
    let distinct: std::collections::BTreeSet<String> =
        gw.backend.events("telemetry").await.expect("events").iter().map(|e| e.envelope().key.to_string()).collect();
    assert_eq!(distinct.len(), clients * requests * per_request);
}

/// On Kafka a batch goes in a transaction of one of the gateway's batch writers: concurrent batches
/// through fewer writers than clients all land, once; a batch whose second part the broker refuses
/// is answered 503 with its transaction aborted, and the writer takes the next batch; so is a batch
/// whose transaction the broker refuses to end, while one event (no transaction) lands. (That aborted
/// records stay hidden from readers is the broker's part: the mock cluster shows them — see
/// `tests/broker_gaps.rs` — so it is not checked here.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_on_kafka_go_in_transactions() {
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
    let kafka = trustloop_e2e::MockKafka::start().expect("mock cluster");
    kafka.provision_trustloop_topics(3).expect("topics");
    let args =
        GatewayOptions { batch_writers: 2, gateway_id: Some("gateway-test".into()), ..GatewayOptions::default() };
    let gw = Arc::new(Running::on_kafka(&kafka.bootstrap_servers(), args).await);
    let token = gw.token("acme", None, &[Role::Ingest]).await;
    let batch = |tag: String, n: usize| {
        (0..n).map(|i| sample(&format!("{tag}-{i}"), "heartbeat").to_string()).collect::<Vec<_>>().join("\n")
    };
    let (clients, requests, per_request) = (4, 5, 100);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (gw, token) = (gw.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            for r in 0..requests {
                let a = gw
                    .post(
                        "telemetry",
                        &token,
                        "application/x-ndjson",
                        batch(format!("h{c}-{r}"), per_request).as_bytes(),
                    )
                    .await;
                assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
            }
        }));
    }
    for t in tasks {
        t.await.expect("client");
    }
    let keys = |events: Vec<Event>| events.iter().map(|e| e.envelope().key.to_string()).collect::<Vec<_>>();
    let landed = keys(gw.backend.events("telemetry").await.expect("events"));
    assert_eq!(landed.len(), clients * requests * per_request, "every event once");
    assert_eq!(landed.iter().collect::<std::collections::BTreeSet<_>>().len(), landed.len());

    // The first part of the next batch is taken, the second refused for good.
    kafka.cluster().request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR, RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE],
    );
    let refused = gw.post("telemetry", &token, "application/x-ndjson", batch("refused".into(), 30).as_bytes()).await;
    assert_eq!(refused.status, 503, "{}", String::from_utf8_lossy(&refused.body));
    assert!(
        refused.json()["message"].as_str().is_some_and(|m| m.contains("nothing was written")),
        "{:?}",
        refused.json()
    );
    assert!(refused.headers.contains_key("retry-after"));
    kafka.cluster().clear_request_errors(RDKafkaApiKey::Produce);
    let next = gw.post("telemetry", &token, "application/x-ndjson", batch("after".into(), 30).as_bytes()).await;
    assert_eq!(next.status, 200, "{}", String::from_utf8_lossy(&next.body));
    let after = keys(gw.backend.events("telemetry").await.expect("events"));
    assert_eq!(after.iter().filter(|k| k.starts_with("after-")).count(), 30);

    // The broker refuses to end the next transaction: one event needs none and lands; a batch is
    // answered 503 — written without a transaction it would have been accepted.
    kafka.cluster().request_errors(RDKafkaApiKey::EndTxn, &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_INVALID_TXN_STATE]);
    let one = gw.post("telemetry", &token, "application/x-ndjson", batch("single".into(), 1).as_bytes()).await;
    assert_eq!(one.status, 200, "{}", String::from_utf8_lossy(&one.body));
    let uncommitted =
        gw.post("telemetry", &token, "application/x-ndjson", batch("uncommitted".into(), 30).as_bytes()).await;
    assert_eq!(uncommitted.status, 503, "{}", String::from_utf8_lossy(&uncommitted.body));
    kafka.cluster().clear_request_errors(RDKafkaApiKey::EndTxn);
    let last = gw.post("telemetry", &token, "application/x-ndjson", batch("last".into(), 30).as_bytes()).await;
    assert_eq!(last.status, 200, "{}", String::from_utf8_lossy(&last.body));
}

/// Tansu 0.6 cannot end a transaction: a gateway that would write batches in them is refused at
/// start with what to do instead, and with `--batch-writers 0` writes a batch part by part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Tansu broker binary: run `cargo xtask test`, which installs it"]
async fn a_broker_without_transactions_is_found_at_start() {
    let broker = trustloop_e2e::TansuBroker::start().expect("tansu");
    let backend_args = BackendConfig {
        brokers: Some(broker.bootstrap_servers()),
        // Tansu counts a produce batch as one offset (tests/broker_gaps.rs).
        kafka_options: vec!["batch.num.messages=1".into()],
        ..BackendConfig::embedded("unused")
    };
    let backend = Arc::new(Backend::open(&backend_args).await.expect("open"));
    match Gateway::new(backend, &GatewayOptions::default(), "127.0.0.1:0", None).await {
        Ok(_) => panic!("a gateway with batch writers started on a broker without transactions"),
        Err(e) => {
            let text = trustloop_runtime::error::chain(&e);
            assert!(text.contains("--batch-writers 0") && text.contains("EndTxn"), "{text}");
        }
    }
    let gw = Running::with(backend_args, GatewayOptions { batch_writers: 0, ..GatewayOptions::default() }).await;
    let token = gw.token("acme", None, &[Role::Ingest]).await;
    let body = (0..10).map(|i| sample(&format!("t{i}"), "heartbeat").to_string()).collect::<Vec<_>>().join("\n");
    let a = gw.post("telemetry", &token, "application/x-ndjson", body.as_bytes()).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(gw.count("telemetry").await, 10);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_registry_subset_lets_another_avro_implementation_decode_the_topics() {
    let gw = Running::start(GatewayOptions::default()).await;
    let token = gw.token("acme", None, &[Role::Ingest]).await;
    assert_eq!(
        gw.post("telemetry", &token, "application/json", sample("h1", "auth_failure").to_string().as_bytes())
            .await
            .status,
        200
    );
    let subjects = gw.get("/subjects", Some(&token)).await;
    assert_eq!(subjects.status, 200);
    assert!(subjects.json().as_array().expect("subjects").contains(&json!("telemetry-value")));
    assert_eq!(gw.get("/subjects", None).await.status, 401);
    let latest = gw.get("/subjects/telemetry-value/versions/latest", Some(&token)).await.json();
    let versions = gw.get("/subjects/telemetry-value/versions", Some(&token)).await.json();
    assert!(versions.as_array().is_some_and(|v| v.contains(&latest["version"])));
    assert_eq!(gw.get("/subjects/nope-value/versions/latest", Some(&token)).await.json()["error_code"], 40401);
    assert_eq!(gw.get("/schemas/ids/4294967295", Some(&token)).await.json()["error_code"], 40403);

    // What a Confluent deserializer does: magic byte, schema id, fetch the schema by id, decode.
    let record = gw.backend.log.read("telemetry", 0, 0, 10).await.expect("read");
    let record = match record.first() {
        Some(r) => r.clone(),
        None => {
            let mut found = None;
            for p in 1..gw.backend.partitions {
                if let Some(r) = gw.backend.log.read("telemetry", p, 0, 10).await.expect("read").first() {
                    found = Some(r.clone());
                }
            }
            found.expect("the event is in some partition")
        }
    };
    assert_eq!(record.value[0], 0, "Confluent magic byte");
    let id = u32::from_be_bytes(record.value[1..5].try_into().expect("4 bytes"));
    assert_eq!(latest["id"], id, "the latest telemetry schema is the one written");
    // As HTTP Basic, the way registry clients send credentials in the URL.
    let basic = format!("Basic {}", base64(&format!("kcat:{token}")));
    let by_id = http(gw.addr, "GET", &format!("/schemas/ids/{id}"), &[("Authorization", &basic)], b"").await;
    assert_eq!(by_id.status, 200);
    assert_eq!(by_id.headers.get("content-type").map(String::as_str), Some("application/vnd.schemaregistry.v1+json"));
    let schema =
        apache_avro::Schema::parse_str(by_id.json()["schema"].as_str().expect("schema text")).expect("a schema");
    let mut body = &record.value[5..];
    let value = apache_avro::from_avro_datum(&schema, &mut body, None).expect("apache-avro decodes it");
    let apache_avro::types::Value::Record(fields) = value else { panic!("a record") };
    let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    assert_eq!(field("entity"), Some(apache_avro::types::Value::String("h1".into())));
    assert_eq!(field("kind"), Some(apache_avro::types::Value::String("auth_failure".into())));
    gw.stop().await;
}

fn base64(text: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn the_demo_s_verdicts_are_served_and_replay_to_match_for_their_tenant_only() {
    let root = tempfile::tempdir().expect("tempdir");
    let out = support::trustloop_cli(root.path(), &["demo"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let gw = Running::on(root.path(), GatewayOptions::default()).await;
        let acme = gw.token("acme", None, &[Role::Read]).await;
        let globex = gw.token("globex", None, &[Role::Read]).await;
        let verdicts = gw.sql(&acme, "SELECT subject, event_id FROM verdicts ORDER BY _log_time, _offset").await.json();
        let rows = verdicts["rows"].as_array().expect("rows").clone();
        assert!(!rows.is_empty(), "the demo decided something");
        let subject = rows[0]["subject"].as_str().expect("subject").to_string();
        let listed = gw.get(&format!("/v1/verdicts/{subject}"), Some(&acme)).await.json();
        let n = rows.iter().filter(|r| r["subject"] == subject.as_str()).count();
        assert_eq!(listed["verdicts"].as_array().map(Vec::len), Some(n), "{listed}");
        assert_eq!(gw.get(&format!("/v1/verdicts/{subject}"), Some(&globex)).await.json()["verdicts"], json!([]));
        assert_eq!(gw.sql(&globex, "SELECT count(*) AS n FROM verdicts").await.json()["rows"][0]["n"], 0);
        let id = rows[0]["event_id"].as_str().expect("id").to_string();
        let replay = gw.get(&format!("/v1/replay/{id}"), Some(&acme)).await;
        assert_eq!(replay.status, 200, "{}", String::from_utf8_lossy(&replay.body));
        assert_eq!(replay.json()["result"], "MATCH", "{}", replay.json());
        assert_eq!(replay.json()["report"]["recorded"]["event_id"], id.as_str());
        assert_eq!(gw.get(&format!("/v1/replay/{id}"), Some(&globex)).await.status, 403);
        gw.stop().await;
    });
}

#[test]
fn evidence_bundles_are_served_to_their_tenant_and_verify_offline() {
    use trustloop_schemas::transparency::checkpoint::NoteSigner;
    let root = tempfile::tempdir().expect("tempdir");
    let out = support::trustloop_cli(root.path(), &["demo"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = root.path().join("log.key");
    let vkey = support::ok(&support::trustloop_cli(
        root.path(),
        &["keys", "generate", "--name", "gw", "--out", &key.display().to_string()],
        "",
    ));
    support::ok(&support::trustloop_cli(root.path(), &["log", "checkpoint", "--key", &key.display().to_string()], ""));
    let signer = NoteSigner::from_skey(&std::fs::read_to_string(&key).expect("key")).expect("skey");
    let log_key = trustloop_schemas::transparency::checkpoint::NoteVerifier::from_vkey(vkey.trim()).expect("vkey");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        // Without a key, the route says so.
        let plain = Running::on(root.path(), GatewayOptions::default()).await;
        let acme = plain.token("acme", None, &[Role::Read]).await;
        let verdicts =
            plain.sql(&acme, "SELECT event_id FROM verdicts WHERE subject_kind = 'release' LIMIT 1").await.json();
        let id = verdicts["rows"][0]["event_id"].as_str().expect("a release verdict").to_string();
        let refused = plain.get(&format!("/v1/evidence/{id}"), Some(&acme)).await;
        assert_eq!(
            (refused.status, refused.json()["error"].as_str()),
            (404, Some("no_evidence_key")),
            "{}",
            refused.json()
        );
        plain.stop().await;

        let options = GatewayOptions { evidence_signer: Some(Arc::new(signer)), ..GatewayOptions::default() };
        let gw = Running::on(root.path(), options).await;
        let acme = gw.token("acme", None, &[Role::Read]).await;
        let globex = gw.token("globex", None, &[Role::Read]).await;
        let answer = gw.get(&format!("/v1/evidence/{id}"), Some(&acme)).await;
        assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
        let bundle: trustloop_replay::evidence::Bundle = serde_json::from_slice(&answer.body).expect("a bundle");
        let dsse =
            trustloop_schemas::transparency::dsse::DsseVerifier::from_public_key(&log_key.public_key()).expect("key");
        let report = trustloop_replay::evidence::verify(&bundle, &[dsse], &log_key);
        assert!(report.is_ok() && report.rerun == "MATCH", "{report:?}");
        assert_eq!(gw.get(&format!("/v1/evidence/{id}"), Some(&globex)).await.status, 403);
        assert_eq!(gw.get(&format!("/v1/evidence/{id}"), None).await.status, 401);
        let unknown = "00000000-0000-8000-8000-000000000000";
        assert_eq!(gw.get(&format!("/v1/evidence/{unknown}"), Some(&acme)).await.status, 404);
        gw.stop().await;
    });
}
