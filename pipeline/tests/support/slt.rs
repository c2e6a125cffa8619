//! trustloop's SQL surface as a `sqllogictest` database: [`LogDb`] answers each query of a `.slt`
//! file through the session `trustloop sql` builds over an embedded log (every topic a table), so
//! `.slt` files check what an analyst's query returns, as DataFusion checks its own SQL.
//!
//! Values are written as sqllogictest expects: `NULL` for nulls, `(empty)` for empty text, the
//! rest as Arrow displays them; column types `I` (integers), `R` (floating point, decimals), `T`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use sqllogictest::{DBOutput, DefaultColumnType};
use trustloop_runtime::backend::{Backend, BackendConfig};

/// A failure of the SQL surface (opening the log, planning or running a query), as its message.
#[derive(Debug)]
pub(crate) struct SqlError(String);

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SqlError {}

/// The SQL session of `trustloop sql` over one embedded log.
pub(crate) struct LogDb {
    ctx: SessionContext,
}

impl LogDb {
    /// Opens the embedded log in `data` and registers its topics, as `trustloop --data DATA sql` does.
    pub(crate) async fn open(data: &Path) -> Result<LogDb, SqlError> {
        let backend = Backend::open(&BackendConfig::embedded(data)).await.map_err(|e| SqlError(format!("{e:#}")))?;
        let ctx =
            trustloop_serve::sql::session(Arc::new(backend), None).await.map_err(|e| SqlError(format!("{e:#}")))?;
        Ok(LogDb { ctx })
    }
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for LogDb {
    type Error = SqlError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SqlError> {
        let df = self.ctx.sql(sql).await.map_err(|e| SqlError(e.to_string()))?;
        let schema = df.schema().clone();
        let batches = df.collect().await.map_err(|e| SqlError(e.to_string()))?;
        if schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        let types = schema.fields().iter().map(|f| column_type(f.data_type())).collect();
        let mut rows = Vec::new();
        for batch in &batches {
            let columns = batch.columns().iter().map(|c| texts(c.as_ref())).collect::<Result<Vec<_>, _>>()?;
            for row in 0..batch.num_rows() {
                rows.push(columns.iter().map(|c| c[row].clone()).collect());
            }
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "trustloop"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }
}

/// The sqllogictest type of a column.
fn column_type(data_type: &DataType) -> DefaultColumnType {
    match data_type {
        t if t.is_integer() => DefaultColumnType::Integer,
        t if t.is_floating() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) => {
            DefaultColumnType::FloatingPoint
        }
        _ => DefaultColumnType::Text,
    }
}

/// Every value of `column` as sqllogictest writes it.
fn texts(column: &dyn Array) -> Result<Vec<String>, SqlError> {
    let f = ArrayFormatter::try_new(column, &FormatOptions::default()).map_err(|e| SqlError(e.to_string()))?;
    Ok((0..column.len())
        .map(|i| match column.is_valid(i) {
            false => "NULL".to_string(),
            true => match f.value(i).to_string() {
                s if s.is_empty() => "(empty)".to_string(),
                s => s,
            },
        })
        .collect())
}

/// The `.slt` files directly in `dir`, in name order.
pub(crate) fn slt_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .collect();
    files.sort();
    files
}

/// Runs `file` against the log in `data`; with `TRUSTLOOP_BLESS=1`, rewrites its expected results
/// from what the queries return instead. The error is sqllogictest's report (file, line, query,
/// expected and actual rows).
pub(crate) fn run_file(file: &Path, data: &Path) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let data = data.to_path_buf();
    rt.block_on(async move {
        let mut runner = sqllogictest::Runner::new(move || {
            let data = data.clone();
            async move { LogDb::open(&data).await }
        });
        runner.with_column_validator(sqllogictest::strict_column_validator);
        let result = match std::env::var("TRUSTLOOP_BLESS").is_ok_and(|v| v == "1") {
            true => runner
                .update_test_file(
                    file,
                    " ",
                    sqllogictest::default_validator,
                    sqllogictest::default_normalizer,
                    sqllogictest::strict_column_validator,
                )
                .await
                .map_err(|e| e.to_string()),
            false => runner.run_file_async(file).await.map_err(|e| e.display(false).to_string()),
        };
        runner.shutdown_async().await;
        result
    })
}

/// Runs every `.slt` file of `dir` against the log in `data`; the error names each failed file.
pub(crate) fn run_folder(dir: &Path, data: &Path) -> Result<(), String> {
    let failures: Vec<String> = slt_files(dir)
        .iter()
        .filter_map(|f| run_file(f, data).err().map(|e| format!("{}: {e}", f.display())))
        .collect();
    match failures.is_empty() {
        true => Ok(()),
        false => Err(failures.join("\n\n")),
    }
}
