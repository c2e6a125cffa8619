//! The live dashboard in a real browser: Debian's Chromium, driven through ChromeDriver (the W3C
//! WebDriver protocol, spoken here over loopback HTTP), loads `/dashboard` from a gateway over the
//! demo's log, shows the data of the derived streams, updates when a new verdict lands in the log
//! (server-sent events), and its screenshot shows the coloured bars and pills that only data draws.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use trustloop_connectors::log::embedded::FsyncPolicy;
use trustloop_runtime::backend::{Backend, BackendConfig};
use trustloop_runtime::ops::Ops;
use trustloop_schemas::{Envelope, Event, EventId, EventTime, Outcome, SubjectKind, Verdict};
use trustloop_serve::gateway::tokens::Role;
use trustloop_serve::gateway::{Gateway, GatewayOptions};
use trustloop_serve::server::Server;

mod support;

/// One HTTP/1.1 request with a JSON body (or none); the status and the JSON answer.
async fn http_json(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body.as_bytes()).await.expect("write");
    // Read until the body's declared length: ChromeDriver keeps the connection open after its
    // answer, whatever `Connection: close` asked.
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    let (split, length) = loop {
        if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if length.is_none_or(|n| raw.len() >= split + 4 + n) {
                break (split, length);
            }
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
            break (split, None);
        }
        raw.extend_from_slice(&chunk[..n]);
    };
    if length.is_none() {
        stream.read_to_end(&mut raw).await.ok()?;
    }
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok())?;
    let end = length.map_or(raw.len(), |n| split + 4 + n);
    let mut body = raw[split + 4..end].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Some((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// [`http_json`] to a server that must answer.
async fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    match tokio::time::timeout(Duration::from_secs(90), http_json(addr, method, path, body)).await {
        Ok(Some(answer)) => answer,
        Ok(None) => panic!("{method} {path}: cannot connect to {addr}"),
        Err(_) => panic!("{method} {path}: no answer from {addr} within 90 s"),
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&raw[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 2 + size + 2..];
    }
    out
}

/// ChromeDriver as a child process on a free loopback port; killed on drop.
struct Driver {
    child: Child,
    addr: SocketAddr,
}

impl Driver {
    fn start() -> Driver {
        let port = trustloop_e2e::free_port().expect("a port");
        // Cargo points LD_LIBRARY_PATH at the build's own libraries for tests; Chromium must load
        // the system's, or it dies before it opens its DevTools port.
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .env_remove("LD_LIBRARY_PATH")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian package chromium-driver) is not installed: `cargo xtask test` installs it");
        Driver { child, addr: SocketAddr::from(([127, 0, 0, 1], port)) }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A WebDriver session.
struct Browser {
    driver: SocketAddr,
    session: String,
}

impl Browser {
    async fn open(driver: &Driver, profile: &std::path::Path) -> Browser {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let up = tokio::time::timeout(Duration::from_secs(2), http_json(driver.addr, "GET", "/status", None)).await;
            if let Ok(Some((_, status))) = up
                && status["value"]["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,2200",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}
        }}});
        let (status, answer) = call(driver.addr, "POST", "/session", Some(&caps)).await;
        assert_eq!(status, 200, "new session: {answer}");
        let session = answer["value"]["sessionId"].as_str().expect("a session id").to_string();
        Browser { driver: driver.addr, session }
    }

    async fn command(&self, method: &str, what: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}/{what}", self.session);
        let (status, answer) = call(self.driver, method, &path, body.as_ref()).await;
        assert_eq!(status, 200, "{what}: {answer}");
        answer["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.command("POST", "url", Some(json!({ "url": url }))).await;
    }

    async fn eval(&self, script: &str) -> Value {
        self.command("POST", "execute/sync", Some(json!({ "script": script, "args": [] }))).await
    }

    /// Waits until `script` returns true.
    async fn until(&self, what: &str, script: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.eval(script).await != Value::Bool(true) {
            assert!(
                Instant::now() < deadline,
                "{what}: not within 20 s; page: {}",
                self.eval("return document.body.innerText").await
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn screenshot(&self) -> Vec<u8> {
        let b64 = self.command("GET", "screenshot", None).await;
        base64_decode(b64.as_str().expect("base64 PNG"))
    }

    async fn close(self) {
        let _ = http_json(self.driver, "DELETE", &format!("/session/{}", self.session), None).await;
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|c| *c != b'=' && !c.is_ascii_whitespace()) {
        acc = (acc << 6) | u32::from(value(c));
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// Pixels of each of `colours` (RGB, ± a little for antialiasing) in a PNG.
fn count_colours(png_bytes: &[u8], colours: &[(&str, [u8; 3])]) -> BTreeMap<String, usize> {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = info.color_type.samples();
    let mut out: BTreeMap<String, usize> = colours.iter().map(|(n, _)| (n.to_string(), 0)).collect();
    for px in buf[..info.buffer_size()].chunks(channels) {
        for (name, c) in colours {
            if px.len() >= 3 && px.iter().zip(c).all(|(a, b)| a.abs_diff(*b) <= 6) {
                *out.get_mut(*name).expect("named") += 1;
            }
        }
    }
    out
}

fn verdict(subject: &str, i: u128) -> Event {
    Event::Verdict(Verdict {
        envelope: Envelope {
            event_id: EventId(uuid::Uuid::from_u128(0xda5b_0000 + i)),
            tenant: "acme".into(),
            key: subject.into(),
            event_time: EventTime::from_micros(1_795_000_000_000_000),
            source: "trustloop.decision".into(),
            schema_version: 1,
        },
        subject: subject.into(),
        subject_kind: SubjectKind::Release,
        outcome: Outcome::Fail,
        previous: None,
        reasons: Vec::new(),
        policy_digest: "p".into(),
        input_frontier: Vec::new(),
        evidence_digest: "e".into(),
    })
}

#[test]
#[ignore = "needs Debian's chromium and chromium-driver: run `cargo xtask test`, which installs them"]
fn the_dashboard_shows_live_data_in_chromium() {
    let root = tempfile::tempdir().expect("tempdir");
    let out = support::trustloop_cli(root.path(), &["demo"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let driver = Driver::start();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let args = BackendConfig { fsync: FsyncPolicy::Never, ..BackendConfig::embedded(root.path()) };
        let backend = Arc::new(Backend::open(&args).await.expect("open the log"));
        let gateway = Arc::new(
            Gateway::new(backend.clone(), &GatewayOptions::default(), "127.0.0.1:0", None).await.expect("gateway"),
        );
        let _background = gateway.spawn_background();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = Server::start_router("127.0.0.1:0", gateway.router(Ops::new()), async {
            let _ = stopped.await;
        })
        .await
        .expect("serve");
        let token = gateway.tokens().create("acme", None, &[Role::Read]).await.expect("token").1;
        let page = format!("http://{}/dashboard?access_token={token}", server.local_addr());

        // Without a token: no page.
        let (status, _) = call(server.local_addr(), "GET", "/dashboard", None).await;
        assert_eq!(status, 401);

        // What the server knows, to compare the page with.
        gateway.dashboard().round(&backend).await.expect("a feed round");
        let truth = serde_json::to_value(gateway.dashboard().snapshot("acme")).expect("snapshot");
        let lowest = truth["lowest_trust"][0]["entity"].as_str().expect("a scored entity").to_string();
        assert!(truth["verdicts"].as_object().is_some_and(|v| !v.is_empty()), "{truth}");

        let profile = tempfile::tempdir().expect("profile dir");
        let browser = Browser::open(&driver, profile.path()).await;
        browser.go(&page).await;
        browser.until("the stream is live", "return document.getElementById('status').className === 'live'").await;
        browser.until("trust bars", "return document.querySelectorAll('#trust .row').length > 0").await;
        let first = browser.eval("return document.querySelector('#trust .row').dataset.label").await;
        assert_eq!(first, json!(lowest), "the lowest trust score comes first");
        for (outcome, n) in truth["verdicts"].as_object().expect("counts") {
            let shown = browser
                .eval(&format!(
                    "const r = document.querySelector('#verdicts .row[data-label=\"{outcome}\"]'); \
                     return r ? r.querySelector('.value').textContent : null"
                ))
                .await;
            assert_eq!(shown, json!(n.to_string()), "{outcome} verdicts");
        }
        let before = browser.screenshot().await;

        // A verdict lands in the log: the page shows it without a reload.
        let mut w = trustloop_runtime::ingest::EventWriter::new(&backend, "verdicts").await.expect("writer");
        w.push(&verdict("live-check@1.0@prod", 1)).await.expect("push");
        w.flush().await.expect("flush");
        browser
            .until(
                "the new verdict",
                "return document.getElementById('recent-verdicts').innerText.includes('live-check@1.0@prod')",
            )
            .await;
        let after = browser.screenshot().await;
        let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
        std::fs::write(&shot, &after).expect("keep the screenshot");

        // The screenshot: data draws coloured bars and pills; an empty page has none of these colours.
        let colours = [
            ("fail", [0xd9, 0x53, 0x4f]),
            ("warn", [0xe0, 0xa5, 0x26]),
            ("pass", [0x2f, 0xa8, 0x66]),
            ("bar", [0x4c, 0x8b, 0xf5]),
        ];
        let (b, a) = (count_colours(&before, &colours), count_colours(&after, &colours));
        assert!(b.values().sum::<usize>() > 2_000, "the first screenshot shows data bars: {b:?}");
        assert!(a.values().sum::<usize>() > 2_000, "the screenshot ({}) shows data bars: {a:?}", shot.display());
        assert!(a["fail"] > 0 && a["bar"] + a["pass"] + a["warn"] > 0, "FAIL and other colours drawn: {a:?}");
        browser.close().await;
        gateway.close();
        let _ = stop.send(());
        server.stopped(Duration::from_secs(5)).await.expect("stop");
    });
}
