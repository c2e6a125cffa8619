//! `trustloop views` on the demo scenario's log: the materialized views hold what the derived
//! topics say (checked against SQL over the log itself), survive a re-run without applying
//! anything twice, and take only what is new on the next run — in SQLite (always) and in a real
//! PostgreSQL server the test starts and stops.

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use sqlx::Row;

mod support;

fn trustloop(dir: &Path, args: &[&str]) -> Output {
    support::trustloop_cli(dir, args, "")
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One number from SQL over the log.
fn log_count(dir: &Path, query: &str) -> i64 {
    let out = ok(&trustloop(dir, &["sql", query, "--format", "json"]));
    let row: Value = serde_json::from_str(out.lines().next().expect("a row")).expect("JSON");
    row["n"].as_i64().expect("a count")
}

/// One number from the views.
async fn view_count(url: &str, query: &str) -> i64 {
    let views = trustloop_serve::views::Views::open(url).await.expect("open the views");
    let row = sqlx::query(query).fetch_one(views.pool()).await.unwrap_or_else(|e| panic!("{query}: {e}"));
    row.try_get::<i64, _>(0).expect("a count")
}

async fn check_views_hold_the_derived_topics(dir: &Path, url: &str) {
    ok(&trustloop(dir, &["views", "--database", url, "--until-idle"]));
    let pairs = [
        ("SELECT count(*) FROM trust_scores", "SELECT count(DISTINCT tenant || '/' || entity) AS n FROM trust_scores"),
        ("SELECT count(*) FROM verdicts", "SELECT count(DISTINCT tenant || '/' || subject) AS n FROM verdicts"),
        ("SELECT count(*) FROM verdict_changes", "SELECT count(*) AS n FROM verdicts"),
        ("SELECT count(*) FROM actions", "SELECT count(DISTINCT tenant || '/' || action_id) AS n FROM actions"),
        (
            "SELECT count(*) FROM verdicts WHERE outcome = 'FAIL'",
            "SELECT count(*) AS n FROM (SELECT subject, outcome, row_number() OVER (PARTITION BY tenant, subject \
             ORDER BY _log_time DESC, _partition, _offset DESC) AS r FROM verdicts) WHERE r = 1 AND outcome = 'FAIL'",
        ),
    ];
    let mut seen = Vec::new();
    for (view, log) in pairs {
        let (v, l) = (view_count(url, view).await, log_count(dir, log));
        assert_eq!(v, l, "{view} (views) vs {log} (log)");
        seen.push(v);
    }
    assert!(seen.iter().all(|n| *n > 0), "the demo derived something of every kind: {seen:?}");
    // Open findings: what `trustloop findings` lists.
    let findings = ok(&trustloop(dir, &["findings", "--json"]));
    let open = findings.lines().filter(|l| serde_json::from_str::<Value>(l).is_ok()).count() as i64;
    assert_eq!(view_count(url, "SELECT count(*) FROM findings").await, open, "open findings");
    let banded = "SELECT count(*) FROM findings WHERE severity_band IN ('none', 'low', 'medium', 'high', 'critical')";
    assert!(view_count(url, banded).await > 0, "the demo's advisories carry severities the views band");
    let odd = "SELECT count(*) FROM findings WHERE severity_band NOT IN ('none', 'low', 'medium', 'high', 'critical', 'unknown')";
    assert_eq!(view_count(url, odd).await, 0);
    let positions = view_count(url, "SELECT CAST(coalesce(sum(next_offset), 0) AS BIGINT) FROM view_positions").await;
    let ends = log_count(dir, "SELECT count(*) AS n FROM trust_scores")
        + log_count(dir, "SELECT count(*) AS n FROM verdicts")
        + log_count(dir, "SELECT count(*) AS n FROM actions")
        + log_count(dir, "SELECT count(*) AS n FROM findings");
    assert_eq!(positions, ends, "the views stand at the end of every derived topic");

    // A second run applies nothing.
    let again = trustloop(dir, &["views", "--database", url, "--until-idle"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("applied 0 derived events"), "{:?}", again);
    assert_eq!(view_count(url, "SELECT count(*) FROM verdict_changes").await, seen[2], "nothing applied twice");
}

#[test]
fn views_in_sqlite_hold_the_derived_topics_once() {
    let root = tempfile::tempdir().expect("tempdir");
    ok(&trustloop(root.path(), &["demo"]));
    let url = format!("sqlite://{}", root.path().join("views.db").display());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(check_views_hold_the_derived_topics(root.path(), &url));
}

#[test]
#[ignore = "needs a PostgreSQL server (Debian package postgresql): run `cargo xtask test`, which installs it"]
fn views_in_postgresql_hold_the_derived_topics_once() {
    let pg = trustloop_e2e::PostgresServer::start().expect("PostgreSQL");
    let root = tempfile::tempdir().expect("tempdir");
    ok(&trustloop(root.path(), &["demo"]));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(check_views_hold_the_derived_topics(root.path(), &pg.url()));
}
