//! `trustloop sql` on the demo scenario's log: the output formats, the exit status of a bad query,
//! the Parquet archive, a reader that goes away, and `--as-of` on a history with late events. The
//! queries' results themselves (counts and groupings, quoted topic names, the log's columns and
//! their pushdown) are `.slt` files under `tests/slt/`, run by `tests/sqllogic.rs`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use serde_json::Value;

mod support;

fn trustloop(dir: &Path, args: &[&str], stdin: &str) -> Output {
    support::trustloop_cli(dir, args, stdin)
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn consume(dir: &Path, topic: &str) -> Vec<Value> {
    ok(&trustloop(dir, &["consume", "--topic", topic, "--from-beginning"], ""))
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// Rows of `query` (JSON lines).
fn sql(dir: &Path, query: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["sql", query, "--format", "json"];
    args.extend_from_slice(extra);
    ok(&trustloop(dir, &args, "")).lines().map(|l| serde_json::from_str(l).expect("JSON row")).collect()
}

fn count(dir: &Path, query: &str, extra: &[&str]) -> u64 {
    sql(dir, query, extra)[0]["n"].as_u64().expect("a count")
}

#[test]
fn sql_over_the_demo_matches_what_the_topics_hold() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    ok(&trustloop(dir, &["demo"], ""));

    // Counts and groupings, the dashed topic names, the log's columns and their pushdown, and an
    // unknown column are `.slt` files (tests/slt/, run by tests/sqllogic.rs); what is here checks
    // the command: its output formats and exit status, the archive, a reader going away, `--as-of`.
    let telemetry = consume(dir, "telemetry");
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    for t in &telemetry {
        *by_kind.entry(t["kind"].as_str().expect("kind").to_string()).or_default() += 1;
    }
    let verdicts = consume(dir, "verdicts");

    // Formats.
    let csv = ok(&trustloop(
        dir,
        &["sql", "SELECT kind, count(*) AS n FROM telemetry GROUP BY kind ORDER BY kind", "--format", "csv"],
        "",
    ));
    assert!(csv.starts_with("kind,n\n"), "{csv}");
    assert_eq!(csv.lines().count(), by_kind.len() + 1);
    let table = ok(&trustloop(dir, &["sql", "SELECT count(*) AS n FROM verdicts"], ""));
    assert!(table.contains("| n ") && table.contains(&format!("| {} ", verdicts.len())), "{table}");
    let bad = trustloop(dir, &["sql", "SELECT nope FROM telemetry"], "");
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("nope"));

    // The Parquet archive holds every row, with the same columns.
    let archive = dir.join("archive");
    ok(&trustloop(dir, &["archive", "--to", archive.to_str().expect("path"), "--topics", "telemetry,verdicts"], ""));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        use datafusion::prelude::{ParquetReadOptions, SessionContext};
        let ctx = SessionContext::new();
        let path = archive.join("telemetry.parquet");
        let df = ctx.read_parquet(path.to_str().expect("path"), ParquetReadOptions::default()).await.expect("read");
        let fields: Vec<String> = df.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert!(fields.contains(&"kind".to_string()) && fields.contains(&"_log_time".to_string()), "{fields:?}");
        assert_eq!(df.count().await.expect("count"), telemetry.len());
        let path = archive.join("verdicts.parquet");
        let df = ctx.read_parquet(path.to_str().expect("path"), ParquetReadOptions::default()).await.expect("read");
        assert_eq!(df.count().await.expect("count"), verdicts.len());
    });
    assert!(!archive.join("trust-scores.parquet").exists(), "only the topics asked for");

    // A reader that goes away (`| head`) ends the output quietly, not with a panic.
    {
        use std::io::BufRead as _;
        let mut child = support::cli_on(dir)
            .args(["sql", "SELECT * FROM telemetry"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first).expect("a line");
        let out = child.wait_with_output().expect("wait");
        assert!(first.starts_with('+'), "{first}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{stderr}");
    }

    // Late events: five samples that happened at the start of the history, appended now. As of
    // before they were appended, the history has its old count; by event time they are early.
    let learned = telemetry.iter().filter_map(|t| t["_log_time"].as_str()).max().expect("log times").to_string();
    let early = telemetry.iter().filter_map(|t| t["event_time"].as_str()).min().expect("event times").to_string();
    let late: String = (0..5)
        .map(|i| format!("{{\"tenant\":\"acme\",\"entity\":\"late-{i}\",\"kind\":\"heartbeat\",\"value\":1.0,\"event_time\":\"{early}\"}}\n"))
        .collect();
    ok(&trustloop(dir, &["produce", "--topic", "telemetry"], &late));
    let total = telemetry.len() as u64;
    assert_eq!(count(dir, "SELECT count(*) AS n FROM telemetry", &[]), total + 5);
    assert_eq!(count(dir, "SELECT count(*) AS n FROM telemetry", &["--as-of", &learned]), total);
    let at_start = format!("SELECT count(*) AS n FROM telemetry WHERE event_time <= TIMESTAMP '{early}'");
    let before = count(dir, &at_start, &["--as-of", &learned]);
    assert_eq!(count(dir, &at_start, &[]), before + 5, "the late events happened at the start");
    assert_eq!(count(dir, "SELECT count(*) AS n FROM telemetry WHERE entity LIKE 'late-%'", &["--as-of", &learned]), 0);
}

/// The same tables on Kafka: a bounded read of each partition up to the end offsets the scan finds
/// (librdkafka's mock cluster, topics provisioned as on clusters where trustloop may not create them).
#[test]
fn sql_reads_topics_on_kafka_too() {
    let kafka = trustloop_e2e::MockKafka::start().expect("mock cluster");
    kafka.provision_trustloop_topics(3).expect("provision");
    let servers = kafka.bootstrap_servers();
    let root = tempfile::tempdir().expect("tempdir");
    let kinds = ["heartbeat", "auth_failure", "config_drift"];
    let lines: String = (0..30)
        .map(|i| {
            format!(
                "{{\"tenant\":\"acme\",\"entity\":\"host-{}\",\"kind\":\"{}\",\"value\":1.0,\"event_time\":\"2026-11-01T00:{:02}:00Z\"}}\n",
                i % 10,
                kinds[i % 3],
                i
            )
        })
        .collect();
    let on_kafka = |args: &[&str], stdin: &str| {
        let mut all = vec!["--brokers", servers.as_str(), "--partitions", "3"];
        all.extend_from_slice(args);
        ok(&trustloop(root.path(), &all, stdin))
    };
    on_kafka(&["produce", "--topic", "telemetry"], &lines);
    let rows: Vec<Value> = on_kafka(
        &["sql", "SELECT kind, count(*) AS n FROM telemetry GROUP BY kind ORDER BY kind", "--format", "json"],
        "",
    )
    .lines()
    .map(|l| serde_json::from_str(l).expect("JSON row"))
    .collect();
    let got: Vec<(String, u64)> =
        rows.iter().map(|r| (r["kind"].as_str().expect("kind").to_string(), r["n"].as_u64().expect("n"))).collect();
    assert_eq!(
        got,
        [("auth_failure".to_string(), 10), ("config_drift".to_string(), 10), ("heartbeat".to_string(), 10)]
    );
    let per_partition =
        on_kafka(&["sql", "SELECT count(DISTINCT _partition) AS n FROM telemetry", "--format", "json"], "");
    let partitions: std::collections::BTreeSet<u32> =
        (0..10).map(|h| trustloop_connectors::log::partition_for_key(format!("host-{h}").as_bytes(), 3)).collect();
    assert!(per_partition.contains(&format!("\"n\":{}", partitions.len())), "{per_partition}");
}
