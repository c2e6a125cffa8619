//! Query results as text: CSV with a header line, or JSON rows (numbers and booleans as such) —
//! what `trustloop sql --format` prints and what the gateway's `GET /v1/sql` answers.

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

/// The text of every value of `column`, `None` for nulls.
fn texts(column: &ArrayRef) -> Result<Vec<Option<String>>, ArrowError> {
    let f = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())?;
    Ok((0..column.len()).map(|i| column.is_valid(i).then(|| f.value(i).to_string())).collect())
}

/// The rows of `batches` as CSV with a header line.
pub fn csv(batches: &[RecordBatch]) -> Result<String, ArrowError> {
    let quote = |s: &str| match s.contains([',', '"', '\n', '\r']) {
        true => format!("\"{}\"", s.replace('"', "\"\"")),
        false => s.to_string(),
    };
    let mut out = String::new();
    let Some(first) = batches.first() else { return Ok(out) };
    let header: Vec<String> = first.schema().fields().iter().map(|f| quote(f.name())).collect();
    out.push_str(&header.join(","));
    out.push('\n');
    for b in batches {
        let columns = b.columns().iter().map(texts).collect::<Result<Vec<_>, _>>()?;
        for row in 0..b.num_rows() {
            let cells: Vec<String> = columns.iter().map(|c| c[row].as_deref().map_or(String::new(), quote)).collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
    }
    Ok(out)
}

/// The rows of `batches` as JSON objects (numbers and booleans as such, the rest as text).
pub fn rows(batches: &[RecordBatch]) -> Result<Vec<serde_json::Value>, ArrowError> {
    let mut out = Vec::new();
    for b in batches {
        let schema = b.schema();
        let columns = b.columns().iter().map(texts).collect::<Result<Vec<_>, _>>()?;
        for row in 0..b.num_rows() {
            let mut obj = serde_json::Map::new();
            for (field, column) in schema.fields().iter().zip(&columns) {
                let value = match (&column[row], field.data_type()) {
                    (None, _) => serde_json::Value::Null,
                    (Some(t), DataType::Boolean) => serde_json::Value::Bool(t == "true"),
                    (Some(t), dt) if dt.is_numeric() => {
                        serde_json::from_str(t).unwrap_or_else(|_| serde_json::Value::String(t.clone()))
                    }
                    (Some(t), _) => serde_json::Value::String(t.clone()),
                };
                obj.insert(field.name().clone(), value);
            }
            out.push(serde_json::Value::Object(obj));
        }
    }
    Ok(out)
}

/// The rows of `batches` as one JSON object per line.
pub fn json_lines(batches: &[RecordBatch]) -> Result<String, ArrowError> {
    let mut out = String::new();
    for row in rows(batches)? {
        out.push_str(&row.to_string());
        out.push('\n');
    }
    Ok(out)
}
