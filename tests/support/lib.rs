//! Test support: Kafka brokers that tests start themselves on 127.0.0.1 and that stop by themselves,
//! and the location of real clients and real data.
//!
//! * [`MockKafka`] — librdkafka's mock cluster: in-process, on a real loopback port; it does
//!   transactions and kcat talks to it.
//! * [`TansuBroker`] — Tansu, an independent Kafka-protocol broker, as a child process with an
//!   in-memory store; killed when the guard drops and (via `PR_SET_PDEATHSIG`) when the test dies.

#![allow(unsafe_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

/// librdkafka's mock cluster, one broker, on 127.0.0.1.
pub struct MockKafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl MockKafka {
    /// Starts a one-broker mock cluster.
    pub fn start() -> Result<MockKafka, String> {
        let cluster = MockCluster::new(1).map_err(|e| format!("mock cluster: {e}"))?;
        Ok(MockKafka { cluster })
    }

    /// `HOST:PORT` of the mock broker.
    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// The underlying mock cluster (error injection, topic creation).
    pub fn cluster(&self) -> &MockCluster<'static, DefaultProducerContext> {
        &self.cluster
    }
}

/// Where the Tansu binary is: `TRUSTLOOP_TANSU_BIN`, else `~/.cache/trustloop/tools/bin/tansu`
/// (where `cargo xtask install` puts it), else `tansu` on `PATH`.
pub fn tansu_bin() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("TRUSTLOOP_TANSU_BIN") {
        return Some(PathBuf::from(p)).filter(|p| p.exists());
    }
    if let Ok(home) = std::env::var("HOME") {
        let p = PathBuf::from(home).join(".cache/trustloop/tools/bin/tansu");
        if p.exists() {
            return Some(p);
        }
    }
    which("tansu")
}

/// Debian's `kcat`, if installed.
pub fn kcat_bin() -> Option<PathBuf> {
    which("kcat")
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| PathBuf::from(d).join(bin)).find(|p| p.is_file())
}

/// The shared real-world data (`../shared/data` beside the checkout, or `TRUSTLOOP_SHARED_DATA`).
pub fn shared_data() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("TRUSTLOOP_SHARED_DATA") {
        return Some(PathBuf::from(p)).filter(|p| p.is_dir());
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    p.is_dir().then_some(p)
}

/// A free TCP port on 127.0.0.1 (bound, then released for the broker to take).
pub fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("binding a port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// A Tansu broker child process on 127.0.0.1 with an in-memory store.
pub struct TansuBroker {
    child: Child,
    port: u16,
    log: tempfile::NamedTempFile,
}

impl TansuBroker {
    /// Starts Tansu and waits until it accepts connections and answers a metadata request; on failure
    /// the error carries the tail of the broker's output.
    ///
    /// The broker dies with the thread that started it (`PR_SET_PDEATHSIG` follows the spawning
    /// *thread*): start it from the test's own thread, not from a short-lived blocking-pool thread.
    pub fn start() -> Result<TansuBroker, String> {
        let bin = tansu_bin().ok_or_else(|| match std::env::var("TRUSTLOOP_TANSU_BIN") {
            Ok(p) => format!("TRUSTLOOP_TANSU_BIN={p} does not exist"),
            Err(_) => "the Tansu broker is not installed: run `cargo xtask test` (or `cargo xtask install`), or set \
                       TRUSTLOOP_TANSU_BIN"
                .to_string(),
        })?;
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            let url = format!("tcp://127.0.0.1:{port}");
            let log = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
            let out = log.reopen().map_err(|e| e.to_string())?;
            let err = log.reopen().map_err(|e| e.to_string())?;
            let mut cmd = Command::new(&bin);
            cmd.args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
                .args(["--storage-engine", "memory://tansu/"])
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err);
            // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and only affects the child: it makes
            // the kernel kill the broker if the test process dies without dropping the guard.
            unsafe {
                use std::os::unix::process::CommandExt;
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let child = cmd.spawn().map_err(|e| format!("starting {}: {e}", bin.display()))?;
            let mut broker = TansuBroker { child, port, log };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = broker.child.try_wait() {
                    last = format!("tansu exited with {status}: {}", broker.log_tail());
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    // Listening is not serving: wait until a metadata request is answered too.
                    match broker.metadata_answers(deadline.saturating_duration_since(Instant::now())) {
                        Ok(()) => return Ok(broker),
                        Err(e) => {
                            last = format!("tansu on {port} accepts connections but metadata fails: {e}");
                            continue;
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if !last.starts_with("tansu exited") {
                let why = if last.is_empty() { "it never listened".to_string() } else { last.clone() };
                last = format!("tansu did not serve on {port} within 20 s ({why}); its output:\n{}", broker.log_tail());
            }
        }
        Err(last)
    }

    /// `127.0.0.1:PORT`.
    pub fn bootstrap_servers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn metadata_answers(&self, within: Duration) -> Result<(), String> {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let c: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap_servers())
            .set("log_level", "3")
            .create()
            .map_err(|e| e.to_string())?;
        c.fetch_metadata(None, within.max(Duration::from_millis(100))).map(|_| ()).map_err(|e| e.to_string())
    }

    /// The last lines the broker printed.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for TansuBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// SAFETY: librdkafka's mock-cluster API is thread-safe: every `rd_kafka_mock_*` call is posted as an
// operation to the mock cluster's own thread; the owning client handle is itself Send + Sync.
unsafe impl Send for MockKafka {}
// SAFETY: as above.
unsafe impl Sync for MockKafka {}

impl MockKafka {
    /// Creates a topic through the mock cluster's own API: the mock does not implement the CreateTopics
    /// admin request (see `tests/broker_gaps.rs`).
    pub fn create_topic(&self, topic: &str, partitions: u32) -> Result<(), String> {
        self.cluster.create_topic(topic, partitions as i32, 1).map_err(|e| format!("mock create_topic {topic}: {e}"))
    }

    /// Creates trustloop's topics (and the schema registry's and the gateway tokens') with `partitions` partitions, so that
    /// `trustloop` commands run against the mock find them provisioned.
    pub fn provision_trustloop_topics(&self, partitions: u32) -> Result<(), String> {
        for t in TRUSTLOOP_TOPICS {
            // As trustloop creates them: the topics whose partition count it fixes get that one.
            let fixed = trustloop_schemas::EventType::from_topic(t).and_then(|e| e.fixed_partitions());
            self.create_topic(t, fixed.unwrap_or(partitions))?;
        }
        self.create_topic("_trustloop_schemas", 1)?;
        self.create_topic("_trustloop_tokens", 1)
    }
}

/// trustloop's topics.
pub const TRUSTLOOP_TOPICS: [&str; 20] = [
    "telemetry",
    "inventory",
    "advisories",
    "vex",
    "policies",
    "approvals",
    "promotions",
    "trust-scores",
    "findings",
    "verdicts",
    "actions",
    "action-results",
    "dlq",
    "known-exploited",
    "epss",
    "checkpoints",
    "checkpoint-cosignatures",
    "notify-rules",
    "notifications",
    "deliveries",
];

/// The directory of a Debian PostgreSQL server's programs (`/usr/lib/postgresql/<version>/bin`),
/// the newest installed; `TRUSTLOOP_PG_BIN` overrides it.
pub fn postgres_bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("TRUSTLOOP_PG_BIN") {
        return Some(PathBuf::from(dir)).filter(|d| d.join("postgres").exists());
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").exists() && bin.join("postgres").exists())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// A PostgreSQL server child process on 127.0.0.1, in a fresh temporary cluster (trust
/// authentication, fsync off), stopped when the guard drops and killed if the test dies. As root it
/// runs as the `postgres` user (PostgreSQL refuses to run as root).
pub struct PostgresServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PostgresServer {
    /// Initialises a cluster and starts the server; waits until it accepts connections.
    pub fn start() -> Result<PostgresServer, String> {
        use std::os::unix::process::CommandExt;
        let bin = postgres_bin_dir().ok_or(
            "PostgreSQL is not installed (Debian package `postgresql`): run `cargo xtask test`, which installs it",
        )?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let data = dir.path().join("data");
        // As root, the cluster belongs to the `postgres` user.
        let owner = match unsafe { libc::geteuid() } {
            0 => {
                let out = Command::new("id").args(["-u", "postgres"]).output().map_err(|e| e.to_string())?;
                let uid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|_| "no postgres user")?;
                let out = Command::new("id").args(["-g", "postgres"]).output().map_err(|e| e.to_string())?;
                let gid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|_| "no postgres group")?;
                std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).map_err(|e| e.to_string())?;
                Some((uid, gid))
            }
            _ => None,
        };
        let as_owner = |cmd: &mut Command| {
            if let Some((uid, gid)) = owner {
                cmd.uid(uid).gid(gid);
            }
        };
        let mut init = Command::new(bin.join("initdb"));
        init.args(["-D"]).arg(&data).args(["-U", "trustloop", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        init.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        as_owner(&mut init);
        let out = init.output().map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        let port = free_port()?;
        let mut cmd = Command::new(bin.join("postgres"));
        cmd.arg("-D").arg(&data).args(["-p", &port.to_string()]).arg("-k").arg(dir.path());
        cmd.args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off"]);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        as_owner(&mut cmd);
        // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and only affects the child.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| format!("starting postgres: {e}"))?;
        let mut server = PostgresServer { child, port, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("postgres exited with {status}"));
            }
            let ready = Command::new(bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "trustloop", "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("postgres did not accept connections on {port} within 30 s"))
    }

    /// `postgres://trustloop@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://trustloop@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // SIGINT: PostgreSQL's fast shutdown; then make sure.
        // SAFETY: signals a child process this guard owns.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGINT);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
