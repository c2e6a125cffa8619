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

/// A finding as the first schema (`0001_views.sql`) held it: one row per advisory.
struct OldFinding {
    tenant: &'static str,
    release: &'static str,
    version: &'static str,
    environment: &'static str,
    advisory: &'static str,
    purl: &'static str,
    severity: Option<&'static str>,
}

const fn old(
    (tenant, release, version, environment): (&'static str, &'static str, &'static str, &'static str),
    advisory: &'static str,
    purl: &'static str,
    severity: Option<&'static str>,
) -> OldFinding {
    OldFinding { tenant, release, version, environment, advisory, purl, severity }
}

const OLD_FINDINGS: [OldFinding; 4] = [
    old(("acme", "shop", "1.0.0", "prod"), "GHSA-aaaa-bbbb-cccc", "pkg:npm/left-pad@1.0.0", Some("HIGH")),
    old(("acme", "shop", "1.0.0", "prod"), "CVE-2026-0001", "pkg:npm/left-pad@1.0.0", None),
    old(
        ("acme", "shop", "1.0.1", ""),
        "RUSTSEC-2026-0001",
        "pkg:cargo/smallvec@1.0.0",
        Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
    ),
    old(("other", "api", "2.0.0", "staging"), "GHSA-aaaa-bbbb-cccc", "pkg:npm/left-pad@1.0.0", Some("LOW")),
];

/// A views database written by a build that knew only the first migration keeps its findings when
/// a later build opens it: each becomes the finding of a vulnerability named by its advisory, its
/// one source that advisory, every other column as it was.
async fn check_findings_survive_the_vulnerability_migration(url: &str) {
    use sqlx::any::AnyPoolOptions;
    sqlx::any::install_default_drivers();
    let first = tempfile::tempdir().expect("tempdir");
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("serve/migrations/views");
    std::fs::copy(migrations.join("0001_views.sql"), first.path().join("0001_views.sql")).expect("copy 0001");
    let pool = AnyPoolOptions::new().max_connections(1).connect(url).await.expect("connect");
    sqlx::migrate::Migrator::new(first.path()).await.expect("migrator").run(&pool).await.expect("0001 only");
    for (i, f) in OLD_FINDINGS.iter().enumerate() {
        sqlx::query(
            "INSERT INTO findings (tenant, release_name, release_version, environment, advisory_id, purl, \
             package_name, package_version, severity, severity_band, vex_status, event_time_us, event_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(f.tenant)
        .bind(f.release)
        .bind(f.version)
        .bind(f.environment)
        .bind(f.advisory)
        .bind(f.purl)
        .bind(format!("package-{i}"))
        .bind(format!("{i}.0.0"))
        .bind(f.severity)
        .bind(trustloop_serve::views::severity_band(f.severity))
        .bind("affected")
        .bind(1_700_000_000_000_000i64 + i as i64)
        .bind(format!("event-{i}"))
        .execute(&pool)
        .await
        .expect("insert an old finding");
    }
    pool.close().await;

    // The current build opens it: the later migrations run over the rows.
    let views = trustloop_serve::views::Views::open(url).await.expect("open and migrate");
    let rows = sqlx::query(
        "SELECT tenant, release_name, release_version, environment, vulnerability_id, purl, advisory_id, sources, \
         package_name, package_version, severity, severity_band, vex_status, event_time_us, event_id FROM findings \
         ORDER BY event_time_us",
    )
    .fetch_all(views.pool())
    .await
    .expect("read the migrated findings");
    assert_eq!(rows.len(), OLD_FINDINGS.len(), "every finding kept");
    for (i, (row, f)) in rows.iter().zip(&OLD_FINDINGS).enumerate() {
        let text = |c: usize| row.try_get::<String, _>(c).unwrap_or_else(|e| panic!("row {i} column {c}: {e}"));
        let (advisory, severity) = (f.advisory, f.severity);
        let release = [f.tenant, f.release, f.version, f.environment];
        assert_eq!([text(0), text(1), text(2), text(3)], release, "row {i}: release");
        assert_eq!(text(4), advisory, "row {i}: its advisory names the vulnerability");
        assert_eq!(text(5), f.purl, "row {i}: purl");
        assert_eq!([text(6), text(7)], [advisory, advisory], "row {i}: the advisory is the one source");
        assert_eq!([text(8), text(9)], [format!("package-{i}"), format!("{i}.0.0")], "row {i}: package");
        assert_eq!(row.try_get::<Option<String>, _>(10).expect("severity").as_deref(), severity, "row {i}");
        assert_eq!(text(11), trustloop_serve::views::severity_band(severity), "row {i}: band");
        assert_eq!(text(12), "affected", "row {i}: VEX status");
        assert_eq!(row.try_get::<i64, _>(13).expect("time"), 1_700_000_000_000_000 + i as i64, "row {i}: time");
        assert_eq!(text(14), format!("event-{i}"), "row {i}: event id");
    }
    // Two advisories of one component stay two findings until the findings layer says otherwise.
    let shop = "SELECT count(*) FROM findings WHERE tenant = 'acme' AND purl = 'pkg:npm/left-pad@1.0.0'";
    assert_eq!(view_count(url, shop).await, 2);
}

#[test]
fn findings_in_sqlite_survive_the_vulnerability_migration() {
    let root = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", root.path().join("views.db").display());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(check_findings_survive_the_vulnerability_migration(&url));
}

#[test]
#[ignore = "needs a PostgreSQL server (Debian package postgresql): run `cargo xtask test`, which installs it"]
fn findings_in_postgresql_survive_the_vulnerability_migration() {
    let pg = trustloop_e2e::PostgresServer::start().expect("PostgreSQL");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(check_findings_survive_the_vulnerability_migration(&pg.url()));
}
