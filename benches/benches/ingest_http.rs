//! Ingestion over HTTP: concurrent clients post NDJSON batches of telemetry to the gateway
//! (`POST /v1/events/telemetry`) on loopback, on the embedded log or on Kafka; events/s from the
//! first request to the last answer, and every event counted in the log afterwards.
//!
//! `TRUSTLOOP_HTTP_EVENTS` events (default 1 M) in batches of `TRUSTLOOP_HTTP_BATCH` (default
//! 1,000) from `TRUSTLOOP_HTTP_CLIENTS` clients (default 4); `TRUSTLOOP_FSYNC=always` (the
//! default) or `never`. `TRUSTLOOP_HTTP_LOG=mock` writes to librdkafka's mock cluster instead
//! (in this process, on loopback), each batch in a transaction of one of
//! `TRUSTLOOP_HTTP_BATCH_WRITERS` writers (default 4; 0: part by part, without transactions).
//! `cargo bench -p trustloop-benches --bench ingest_http` (under `cargo test`, a small smoke
//! version).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use trustloop_benches::benchmarking;
use trustloop_connectors::log::embedded::FsyncPolicy;
use trustloop_runtime::backend::{Backend, BackendConfig};
use trustloop_runtime::ops::Ops;
use trustloop_serve::gateway::tokens::Role;
use trustloop_serve::gateway::{Gateway, GatewayOptions};
use trustloop_serve::server::Server;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// Posts one body; the status code.
async fn post(addr: SocketAddr, token: &str, body: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let head = format!(
        "POST /v1/events/telemetry HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    String::from_utf8_lossy(&answer).split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn main() {
    let (events, batch, clients) = match benchmarking() {
        true => (
            env("TRUSTLOOP_HTTP_EVENTS", 1_000_000),
            env("TRUSTLOOP_HTTP_BATCH", 1_000),
            env("TRUSTLOOP_HTTP_CLIENTS", 4),
        ),
        false => (4_000, 500, 2),
    };
    let fsync = std::env::var("TRUSTLOOP_FSYNC").unwrap_or_else(|_| "always".into());
    let on_mock = std::env::var("TRUSTLOOP_HTTP_LOG").is_ok_and(|v| v == "mock");
    let writers = env("TRUSTLOOP_HTTP_BATCH_WRITERS", 4);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let kafka = on_mock.then(|| {
        let kafka = trustloop_e2e::MockKafka::start().expect("mock cluster");
        kafka.provision_trustloop_topics(3).expect("topics");
        kafka
    });
    let log = match &kafka {
        Some(_) if writers > 0 => format!("the mock cluster, {writers} transactional batch writers"),
        Some(_) => "the mock cluster, batches part by part".to_string(),
        None => format!("the embedded log, fsync {fsync}"),
    };
    rt.block_on(async {
        let args = match &kafka {
            Some(k) => BackendConfig { brokers: Some(k.bootstrap_servers()), ..BackendConfig::embedded("unused") },
            None => {
                let fsync = if fsync == "never" { FsyncPolicy::Never } else { FsyncPolicy::Always };
                BackendConfig { fsync, ..BackendConfig::embedded(dir.path().join("log")) }
            }
        };
        let backend = Arc::new(Backend::open(&args).await.expect("open the log"));
        // Limits out of the way: this measures the gateway, not its rate limiter.
        let gw_args = GatewayOptions {
            tenant_rate: u32::MAX,
            tenant_burst: u32::MAX,
            batch_writers: writers,
            ..GatewayOptions::default()
        };
        let gateway = Arc::new(Gateway::new(backend.clone(), &gw_args, "127.0.0.1:0", None).await.expect("gateway"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = Server::start_router("127.0.0.1:0", gateway.router(Ops::new()), async {
            let _ = stopped.await;
        })
        .await
        .expect("serve");
        let addr = server.local_addr();
        let token = gateway.tokens().create("acme", None, &[Role::Ingest]).await.expect("token").1;

        // Bodies built before the clock starts: what is measured is the gateway.
        let requests = events.div_ceil(batch);
        let bodies: Vec<Arc<Vec<u8>>> = (0..requests)
            .map(|r| {
                let n = batch.min(events - r * batch);
                let mut body = Vec::with_capacity(n * 110);
                for i in 0..n {
                    let e = r * batch + i;
                    body.extend_from_slice(
                        format!(
                            "{{\"entity\":\"host-{:05}\",\"kind\":\"heartbeat\",\"value\":1.0,\"event_time\":{}}}\n",
                            e % 10_000,
                            1_790_000_000_000_000i64 + e as i64
                        )
                        .as_bytes(),
                    );
                }
                Arc::new(body)
            })
            .collect();
        let bodies = Arc::new(bodies);
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (bodies, next, token) = (bodies.clone(), next.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { return };
                    let status = post(addr, &token, body).await;
                    assert_eq!(status, 200, "request {i}");
                }
            }));
        }
        for t in tasks {
            t.await.expect("client");
        }
        let secs = started.elapsed().as_secs_f64();
        let stored: i64 = backend.log.end_offsets("telemetry").await.expect("ends").iter().sum();
        assert_eq!(stored, events as i64, "every event posted is in the log");
        println!(
            "ingest_http: {events} events in {requests} batches of {batch} from {clients} clients, {log}: \
             {:.2} s, {:.0} events/s ({:.0} requests/s); all {stored} in the log",
            secs,
            events as f64 / secs,
            requests as f64 / secs
        );
        let _ = stop.send(());
        server.stopped(std::time::Duration::from_secs(5)).await.expect("stop");
    });
}
