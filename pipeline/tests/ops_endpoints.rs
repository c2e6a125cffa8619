//! `trustloop run --listen`: the service answers `/healthz`, turns ready once it has caught up with
//! the log, reports the trust operator's counts and zero lag on `/metrics` (also after more input
//! arrives while it runs), and stops cleanly on SIGTERM, its HTTP server with it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Kills the service if the test ends before it stopped by itself.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

mod support;

fn trustloop(dir: &Path) -> Command {
    let mut cmd = support::cli_on(dir);
    cmd.args(["--partitions", "2"]);
    cmd
}

/// Appends `count` telemetry events (8 hosts, one minute apart from `first_minute`) to `telemetry`.
fn produce(dir: &Path, first_minute: u32, count: u32) {
    let lines: String = (first_minute..first_minute + count)
        .map(|m| {
            let kind = if m % 3 == 0 { "auth_failure" } else { "heartbeat" };
            format!(
                "{{\"tenant\":\"acme\",\"entity\":\"host-{}\",\"kind\":\"{kind}\",\"value\":{}.0,\"event_time\":\"2026-11-01T{:02}:{:02}:00Z\"}}\n",
                m % 8,
                1 + m % 4,
                m / 60,
                m % 60
            )
        })
        .collect();
    let mut child = trustloop(dir)
        .args(["produce", "--topic", "telemetry"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn produce");
    child.stdin.take().expect("stdin").write_all(lines.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("wait for produce");
    assert!(out.status.success(), "produce: {}", String::from_utf8_lossy(&out.stderr));
}

/// `GET path` over HTTP/1.1: status and body.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, body.to_string()))
}

/// One sample of the exposition: metric name and labels.
type Series = (String, BTreeMap<String, String>);

/// Parses the Prometheus text format (samples only; label values without escapes).
fn parse_metrics(text: &str) -> Vec<(Series, f64)> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value in {line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => {
                let rest = rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
                let labels = rest
                    .split("\",")
                    .map(|kv| {
                        let (k, v) = kv.split_once("=\"").unwrap_or_else(|| panic!("bad label in {line:?}"));
                        (k.to_string(), v.trim_end_matches('"').to_string())
                    })
                    .collect();
                (name.to_string(), labels)
            }
        };
        out.push(((name, labels), value));
    }
    out
}

fn value(metrics: &[(Series, f64)], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    metrics.iter().find(|((n, l), _)| n == name && *l == want).map(|(_, v)| *v)
}

fn records(dir: &Path, topic: &str) -> usize {
    let out = trustloop(dir).args(["consume", "--topic", topic, "--from-beginning"]).output().expect("consume");
    assert!(out.status.success(), "consume: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// Polls `/metrics` until the trust operator has applied `applied` records and nothing lags.
fn settled_metrics(addr: SocketAddr, applied: f64) -> Vec<(Series, f64)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(addr, "/metrics").expect("GET /metrics");
        assert_eq!(status, 200, "{body}");
        let metrics = parse_metrics(&body);
        let trust = value(&metrics, "trustloop_operator_events_total", &[("operator", "trust"), ("kind", "applied")]);
        let lag: f64 = metrics.iter().filter(|((n, _), _)| n == "trustloop_consumer_lag_records").map(|(_, v)| v).sum();
        if trust == Some(applied) && lag == 0.0 {
            return metrics;
        }
        assert!(trust.unwrap_or(0.0) <= applied, "trust applied {trust:?} > {applied}:\n{body}");
        assert!(Instant::now() < deadline, "not settled at {applied} applied within 30 s:\n{body}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_for_exit(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn run_serves_health_readiness_and_metrics_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    produce(dir.path(), 0, 40);

    let child = trustloop(dir.path())
        .args(["run", "--listen", "127.0.0.1:0", "--poll-ms", "100"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn trustloop run");
    let mut service = Service(child);
    // Read stderr on a thread (so the service never blocks on a full pipe) and pass its lines on.
    let stderr = service.0.stderr.take().expect("stderr");
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr: SocketAddr = loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the bound address on stderr");
        if let Some((_, addr)) = line.split_once(" on http://") {
            break addr.trim().parse().expect("a socket address");
        }
    };
    assert!(addr.ip().is_loopback(), "{addr}");

    let (status, body) = get(addr, "/healthz").expect("GET /healthz");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(addr, "/readyz").expect("GET /readyz");
        if status == 200 {
            assert_eq!(body, "ready\n");
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(body.starts_with("not ready: "), "{body}");
        assert!(Instant::now() < deadline, "not ready within 30 s: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }

    let metrics = settled_metrics(addr, 40.0);
    let trust =
        |kind: &str| value(&metrics, "trustloop_operator_events_total", &[("operator", "trust"), ("kind", kind)]);
    assert_eq!(trust("replayed"), Some(0.0));
    assert_eq!(trust("dead_letter"), Some(0.0));
    assert_eq!(
        trust("written"),
        Some(records(dir.path(), "trust-scores") as f64),
        "every trust score written is counted"
    );
    for p in ["0", "1"] {
        let lag = value(
            &metrics,
            "trustloop_consumer_lag_records",
            &[("operator", "trust"), ("topic", "telemetry"), ("partition", p)],
        );
        assert_eq!(lag, Some(0.0), "telemetry partition {p}");
    }
    for op in ["impact", "decision", "enforce"] {
        assert!(
            value(&metrics, "trustloop_operator_events_total", &[("operator", op), ("kind", "applied")]).is_some(),
            "{op}"
        );
    }
    assert_eq!(value(&metrics, "trustloop_ready", &[]), Some(1.0));
    assert!(value(&metrics, "trustloop_passes_total", &[]).is_some_and(|n| n >= 1.0));
    assert!(value(&metrics, "trustloop_last_pass_duration_seconds", &[]).is_some_and(|s| s >= 0.0));

    // New input while it runs is picked up by the next poll.
    produce(dir.path(), 40, 15);
    let metrics = settled_metrics(addr, 55.0);
    assert_eq!(
        value(&metrics, "trustloop_operator_events_total", &[("operator", "trust"), ("kind", "written")]),
        Some(records(dir.path(), "trust-scores") as f64)
    );

    let pid = service.0.id().to_string();
    let kill = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
    assert!(kill.success(), "kill -TERM {pid}");
    let status =
        wait_for_exit(&mut service.0, Duration::from_secs(10)).expect("the service stops within 10 s of SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "the HTTP server stopped with the service"
    );
}
