//! The deployment's topology (`deploy/compose.yaml`) run locally as processes: a Kafka-protocol
//! broker (librdkafka's mock cluster, in this process, on loopback), three `trustloop run
//! --scale-out --gateway` members sharing the partitions, `trustloop views` into a PostgreSQL
//! server the test starts — and producers posting to one member's gateway while readers query
//! another's. Every event posted is counted, the views fill from what the members derived, every
//! member is ready, and all stop cleanly on SIGTERM.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::Row;

mod support;

/// One HTTP/1.1 request; status and body.
fn http(addr: &str, method: &str, path: &str, token: &str, body: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    child.wait().expect("reap")
}

/// The address a member printed once its HTTP server listened.
fn listening(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let line = text.lines().find(|l| l.contains("on http://"))?;
    Some(line.rsplit("http://").next()?.trim().to_string())
}

#[test]
#[ignore = "needs a PostgreSQL server (Debian package postgresql): run `cargo xtask test`, which installs it"]
fn three_members_a_gateway_and_the_views_work_as_one() {
    let kafka = trustloop_e2e::MockKafka::start().expect("mock cluster");
    kafka.provision_trustloop_topics(3).expect("topics");
    let brokers = kafka.bootstrap_servers();
    let pg = trustloop_e2e::PostgresServer::start().expect("PostgreSQL");
    let tmp = tempfile::tempdir().expect("tempdir");
    let trustloop = || {
        let mut c = support::cli();
        c.args(["--brokers", &brokers, "--partitions", "3"]).env("TRUSTLOOP_LOG", "info");
        c
    };
    let out = trustloop().args(["token", "create", "--tenant", "acme", "--role", "admin"]).output().expect("token");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();

    let mut members: Vec<(Child, std::path::PathBuf)> = (0..3)
        .map(|i| {
            let log = tmp.path().join(format!("member-{i}.log"));
            let child = trustloop()
                .args(["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"])
                .args(["run", "--scale-out", "--poll-ms", "100", "--listen", "127.0.0.1:0", "--gateway"])
                .arg("--state-dir")
                .arg(tmp.path().join(format!("state-{i}")))
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("log file"))
                .spawn()
                .expect("trustloop run");
            (child, log)
        })
        .collect();
    let views_log = tmp.path().join("views.log");
    let mut views = trustloop()
        .args(["views", "--database", &pg.url(), "--poll-ms", "200"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&views_log).expect("log file"))
        .spawn()
        .expect("trustloop views");

    // Every member listens and is ready.
    let deadline = Instant::now() + Duration::from_secs(90);
    let addrs: Vec<String> = members
        .iter()
        .map(|(_, log)| {
            loop {
                if let Some(a) = listening(log) {
                    break a;
                }
                assert!(
                    Instant::now() < deadline,
                    "a member never listened:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        })
        .collect();
    for a in &addrs {
        while http(a, "GET", "/readyz", "", "").0 != 200 {
            assert!(Instant::now() < deadline, "{a} never became ready");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    // Producers post to the first member's gateway: 40 hosts, some failing their logins.
    let entities = 40;
    let mut posted = 0;
    for round in 0..5 {
        let body: String = (0..entities)
            .map(|e| {
                let kind = if e % 4 == 0 { "auth_failure" } else { "heartbeat" };
                format!(
                    "{{\"entity\":\"host-{e:02}\",\"kind\":\"{kind}\",\"value\":{},\"event_time\":\"2026-11-01T00:{round:02}:{e:02}Z\"}}\n",
                    if kind == "auth_failure" { 5.0 } else { 1.0 }
                )
            })
            .collect();
        let (status, answer) = http(&addrs[0], "POST", "/v1/events/telemetry", &token, &body);
        assert_eq!(status, 200, "{answer}");
        posted += entities;
    }

    // The views fill from what the members derived: a trust score and a verdict per host.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let count = |sql: &'static str| {
        rt.block_on(async {
            let v = trustloop_serve::views::Views::open(&pg.url()).await.expect("views");
            sqlx::query(sql).fetch_one(v.pool()).await.map(|r| r.try_get::<i64, _>(0).unwrap_or(0)).unwrap_or(0)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while count("SELECT count(*) FROM trust_scores") < entities as i64
        || count("SELECT count(*) FROM verdicts") < entities as i64
    {
        assert!(
            Instant::now() < deadline,
            "the views did not fill:\n{}",
            std::fs::read_to_string(&views_log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(count("SELECT count(*) FROM verdicts WHERE outcome <> 'PASS'") > 0, "failing logins moved some verdicts");

    // Readers ask another member: every event posted is there, once.
    let q = "/v1/sql?q=SELECT%20count(*)%20AS%20n%20FROM%20telemetry";
    let (status, answer) = http(&addrs[2], "GET", q, &token, "");
    assert_eq!(status, 200, "{answer}");
    let rows: Value = serde_json::from_str(&answer).expect("JSON");
    assert_eq!(rows["rows"][0]["n"], posted, "{answer}");
    // The members share the partitions: each was assigned some.
    for (_, log) in &members {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        assert!(text.contains("consumer group: partitions assigned"), "a member took no part:\n{text}");
    }

    for (child, log) in &mut members {
        let status = terminate(child);
        assert!(
            status.success(),
            "a member ended with {status}:\n{}",
            std::fs::read_to_string(&*log).unwrap_or_default()
        );
    }
    assert!(terminate(&mut views).success(), "{}", std::fs::read_to_string(&views_log).unwrap_or_default());
}
