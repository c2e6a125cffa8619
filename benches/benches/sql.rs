//! SQL over the event history: `SELECT kind, count(*), avg(value) FROM telemetry GROUP BY kind` on
//! the embedded log (`trustloop sql`: decode, build the two columns, aggregate), then the same query
//! on the topic's Parquet archive (`trustloop archive`) with DataFusion and, when the `duckdb`
//! Python package is importable (`PYTHONPATH`; `pip install duckdb`), with DuckDB — the ratio is
//! printed.
//!
//! `TRUSTLOOP_SQL_EVENTS` telemetry events (default 1 M; the README's figure is for 10 M).
//! `cargo bench -p trustloop-benches --bench sql` (under `cargo test`, a small smoke version).

use std::sync::Arc;
use std::time::Instant;

use trustloop_benches::{benchmarking, fleet_telemetry};
use trustloop_connectors::log::embedded::FsyncPolicy;
use trustloop_runtime::backend::{Backend, BackendConfig};
use trustloop_runtime::ingest::EventWriter;

const QUERY: &str = "SELECT kind, count(*) AS n, avg(value) AS mean FROM telemetry GROUP BY kind ORDER BY kind";

fn main() {
    let events: u64 = match benchmarking() {
        true => std::env::var("TRUSTLOOP_SQL_EVENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000),
        false => 20_000,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let args =
        BackendConfig { partitions: 3, fsync: FsyncPolicy::Never, ..BackendConfig::embedded(dir.path().join("log")) };
    rt.block_on(async {
        let backend = Arc::new(Backend::open(&args).await.expect("open the log"));
        let mut writer = EventWriter::new(&backend, "telemetry").await.expect("writer");
        for i in 0..events {
            writer.push(&fleet_telemetry(i)).await.expect("push");
        }
        writer.flush().await.expect("flush");
        let ctx = trustloop_serve::sql::session(backend.clone(), None).await.expect("session");
        // More runs (`TRUSTLOOP_SQL_RUNS`) make the query dominate a profile.
        let runs: usize = std::env::var("TRUSTLOOP_SQL_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
        let mut best = f64::MAX;
        for _ in 0..runs.max(1) {
            let started = Instant::now();
            let rows = trustloop_serve::sql::query(&ctx, QUERY).await.expect("query");
            best = best.min(started.elapsed().as_secs_f64());
            let n: usize = rows.iter().map(|b| b.num_rows()).sum();
            assert_eq!(n, 5, "five kinds");
        }
        println!(
            "sql: GROUP BY over {events} telemetry events on the embedded log: {:.0} ms ({:.2} M events/s; best of {runs})",
            best * 1e3,
            events as f64 / best / 1e6
        );

        // The archive, and the same query on it.
        let parquet = dir.path().join("telemetry.parquet");
        let started = Instant::now();
        let df = ctx.table("telemetry").await.expect("table");
        df.write_parquet(
            parquet.to_str().expect("path"),
            datafusion::dataframe::DataFrameWriteOptions::new().with_single_file_output(true),
            None,
        )
        .await
        .expect("archive");
        println!("sql: archive of the topic to Parquet: {:.1} s", started.elapsed().as_secs_f64());
        let pctx = datafusion::prelude::SessionContext::new();
        pctx.register_parquet("telemetry", parquet.to_str().expect("path"), Default::default()).await.expect("register");
        let mut df_best = f64::MAX;
        for _ in 0..3 {
            let started = Instant::now();
            pctx.sql(QUERY).await.expect("plan").collect().await.expect("query");
            df_best = df_best.min(started.elapsed().as_secs_f64());
        }
        println!("sql: the same on the Parquet archive, DataFusion: {:.0} ms (best of 3)", df_best * 1e3);
        let script = format!(
            "import duckdb, time\ncon = duckdb.connect()\nbest = 1e9\nfor _ in range(3):\n    t = time.perf_counter()\n    \
             con.sql(\"{}\".replace('FROM telemetry', \"FROM '{}'\")).fetchall()\n    best = min(best, time.perf_counter() - t)\nprint(best)",
            QUERY,
            parquet.display()
        );
        match std::process::Command::new("python3").args(["-c", &script]).output() {
            Ok(out) if out.status.success() => {
                let secs: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(f64::NAN);
                println!(
                    "sql: the same on the Parquet archive, DuckDB: {:.0} ms (best of 3); DataFusion / DuckDB = {:.2}, \
                     trustloop on the log / DuckDB = {:.1}",
                    secs * 1e3,
                    df_best / secs,
                    best / secs
                );
            }
            _ => println!("sql: DuckDB skipped (python3 cannot import duckdb; set PYTHONPATH or pip install duckdb)"),
        }
    });
}
