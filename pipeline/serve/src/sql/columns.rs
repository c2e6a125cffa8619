//! A topic as a table: its columns come from its event type's Avro schema — the envelope's fields
//! first, then the payload's — followed by the log's own `_topic`, `_partition`, `_offset`,
//! `_event_time` and `_log_time`. Scalars keep their type (strings and enums as text, `int`/`long`
//! as 64-bit integers, `timestamp-micros` as UTC timestamps, doubles, booleans; a `["null", T]`
//! union is a nullable T); arrays, maps, records and bytes are JSON text. A field holding a record
//! (`["null", record]` included) is also spread over one nullable column per field of the record,
//! named `<field>_<inner>` (`execution_exit_code`, `step_role`), so that nested records — a
//! workflow step, an execution record — are queried like any other column.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde_json::Value;
use trustloop_schemas::EventType;

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text (strings, enums, UUIDs).
    Text,
    /// 64-bit integer.
    Int,
    /// 64-bit float.
    Float,
    /// Boolean.
    Bool,
    /// UTC timestamp, microseconds.
    Timestamp,
    /// Anything else, as JSON text (a JSON string as itself).
    Json,
}

impl Kind {
    fn data_type(self) -> DataType {
        match self {
            Kind::Text | Kind::Json => DataType::Utf8,
            Kind::Int => DataType::Int64,
            Kind::Float => DataType::Float64,
            Kind::Bool => DataType::Boolean,
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        }
    }
}

/// One column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// What it holds.
    pub kind: Kind,
    /// Whether it may be null.
    pub nullable: bool,
    /// For a column spread from a record field: that field's name and the inner field's.
    pub nested: Option<(String, String)>,
}

/// The log's columns, after the event's.
pub const META: [&str; 5] = ["_topic", "_partition", "_offset", "_event_time", "_log_time"];

/// The columns of a table of `event_type` events.
pub fn columns(event_type: EventType) -> Vec<Column> {
    let schema: Value = serde_json::from_str(event_type.avsc()).unwrap_or(Value::Null);
    let mut out = Vec::new();
    for field in schema["fields"].as_array().into_iter().flatten() {
        let name = field["name"].as_str().unwrap_or("");
        if name == "envelope" {
            for f in field["type"]["fields"].as_array().into_iter().flatten() {
                out.push(column(f));
            }
        } else {
            out.push(column(field));
            out.extend(spread(name, &field["type"]));
        }
    }
    out.push(Column { name: "_topic".into(), kind: Kind::Text, nullable: false, nested: None });
    out.push(Column { name: "_partition".into(), kind: Kind::Int, nullable: false, nested: None });
    out.push(Column { name: "_offset".into(), kind: Kind::Int, nullable: false, nested: None });
    out.push(Column { name: "_event_time".into(), kind: Kind::Timestamp, nullable: false, nested: None });
    out.push(Column { name: "_log_time".into(), kind: Kind::Timestamp, nullable: false, nested: None });
    out
}

fn column(field: &Value) -> Column {
    let name = field["name"].as_str().unwrap_or("").to_string();
    let (kind, nullable) = match &field["type"] {
        Value::Array(union) => {
            let nullable = union.iter().any(|t| t == "null");
            let rest: Vec<&Value> = union.iter().filter(|t| *t != "null").collect();
            match rest.as_slice() {
                [one] => (kind_of(one), nullable),
                _ => (Kind::Json, nullable),
            }
        }
        other => (kind_of(other), false),
    };
    Column { name, kind, nullable, nested: None }
}

/// The columns a record-typed field (`["null", record]` included) is spread over: one nullable
/// column `<field>_<inner>` per field of the record.
fn spread(name: &str, t: &Value) -> Vec<Column> {
    let record = match t {
        Value::Array(union) => union.iter().find(|t| t["type"] == "record"),
        Value::Object(_) if t["type"] == "record" => Some(t),
        _ => None,
    };
    let Some(record) = record else { return Vec::new() };
    record["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let inner = column(f);
            Column {
                name: format!("{name}_{}", inner.name),
                kind: inner.kind,
                nullable: true,
                nested: Some((name.to_string(), inner.name)),
            }
        })
        .collect()
}

fn kind_of(t: &Value) -> Kind {
    match t {
        Value::String(s) => match s.as_str() {
            "string" => Kind::Text,
            "int" | "long" => Kind::Int,
            "float" | "double" => Kind::Float,
            "boolean" => Kind::Bool,
            // `bytes`, and references to named types (enums mostly: a JSON string shows as itself).
            _ => Kind::Json,
        },
        Value::Object(o) => match (o.get("type").and_then(Value::as_str), o.get("logicalType").and_then(Value::as_str))
        {
            (Some("long"), Some("timestamp-micros")) => Kind::Timestamp,
            (Some("string"), _) | (Some("enum"), _) => Kind::Text,
            (Some("int" | "long"), _) => Kind::Int,
            (Some("double" | "float"), _) => Kind::Float,
            (Some("boolean"), _) => Kind::Bool,
            _ => Kind::Json,
        },
        _ => Kind::Json,
    }
}

/// The Arrow schema of `columns`.
pub fn arrow_schema(columns: &[Column]) -> SchemaRef {
    Arc::new(Schema::new(
        columns.iter().map(|c| Field::new(&c.name, c.kind.data_type(), c.nullable)).collect::<Vec<_>>(),
    ))
}

/// Builds one column from JSON values.
pub enum Builder {
    /// Text and JSON columns.
    Text(StringBuilder),
    /// Integers.
    Int(Int64Builder),
    /// Floats.
    Float(Float64Builder),
    /// Booleans.
    Bool(BooleanBuilder),
    /// Timestamps.
    Timestamp(TimestampMicrosecondBuilder),
}

impl Builder {
    /// An empty builder for a column of `kind`.
    pub fn new(kind: Kind) -> Builder {
        match kind {
            Kind::Text | Kind::Json => Builder::Text(StringBuilder::new()),
            Kind::Int => Builder::Int(Int64Builder::new()),
            Kind::Float => Builder::Float(Float64Builder::new()),
            Kind::Bool => Builder::Bool(BooleanBuilder::new()),
            Kind::Timestamp => Builder::Timestamp(TimestampMicrosecondBuilder::new().with_timezone("UTC")),
        }
    }

    /// Appends `value` (absent or JSON null: a null; a value of another shape: null too).
    pub fn push(&mut self, value: Option<&Value>) {
        let value = value.filter(|v| !v.is_null());
        match self {
            // Text columns take strings; JSON columns show a JSON string as itself, anything else
            // as JSON text.
            Builder::Text(b) => match value {
                Some(Value::String(s)) => b.append_value(s),
                Some(v) => b.append_value(v.to_string()),
                None => b.append_null(),
            },
            Builder::Int(b) => b.append_option(value.and_then(Value::as_i64)),
            Builder::Float(b) => b.append_option(value.and_then(Value::as_f64)),
            Builder::Bool(b) => b.append_option(value.and_then(Value::as_bool)),
            Builder::Timestamp(b) => b.append_option(value.and_then(micros)),
        }
    }

    /// Appends a timestamp given in microseconds.
    pub fn push_micros(&mut self, micros: i64) {
        match self {
            Builder::Timestamp(b) => b.append_value(micros),
            Builder::Int(b) => b.append_value(micros),
            other => other.push(None),
        }
    }

    /// Appends an integer.
    pub fn push_int(&mut self, v: i64) {
        match self {
            Builder::Int(b) => b.append_value(v),
            other => other.push(Some(&Value::from(v))),
        }
    }

    /// Appends a text.
    pub fn push_text(&mut self, v: &str) {
        match self {
            Builder::Text(b) => b.append_value(v),
            other => other.push(None),
        }
    }

    /// Appends a text or a null.
    pub fn push_opt_text(&mut self, v: Option<&str>) {
        match (self, v) {
            (Builder::Text(b), Some(v)) => b.append_value(v),
            (other, _) => other.push(None),
        }
    }

    /// Appends a float.
    pub fn push_float(&mut self, v: f64) {
        match self {
            Builder::Float(b) => b.append_value(v),
            other => other.push(serde_json::Number::from_f64(v).map(Value::Number).as_ref()),
        }
    }

    /// The column built so far (the builder starts over).
    pub fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Int(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
        }
    }
}

/// An RFC 3339 text (or a number of microseconds) as microseconds since the epoch.
fn micros(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_micros()),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_follow_the_avro_schema() {
        let cols = columns(EventType::Verdict);
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(&names[..6], ["event_id", "tenant", "key", "event_time", "source", "schema_version"]);
        assert!(names.ends_with(&META));
        let kind = |n: &str| cols.iter().find(|c| c.name == n).map(|c| (c.kind, c.nullable));
        assert_eq!(kind("event_time"), Some((Kind::Timestamp, false)));
        assert_eq!(kind("outcome"), Some((Kind::Text, false)));
        assert_eq!(kind("previous"), Some((Kind::Json, true)));
        assert_eq!(kind("reasons"), Some((Kind::Json, false)));
        let telemetry = columns(EventType::Telemetry);
        let kind = |n: &str| telemetry.iter().find(|c| c.name == n).map(|c| (c.kind, c.nullable));
        assert_eq!(kind("value"), Some((Kind::Float, false)));
        assert_eq!(kind("unit"), Some((Kind::Text, true)));
        assert_eq!(kind("attributes"), Some((Kind::Json, false)));
        // Nested records: the JSON column, and one column per inner field.
        let results = columns(EventType::EnforcementResult);
        let kind = |n: &str| results.iter().find(|c| c.name == n).map(|c| (c.kind, c.nullable));
        assert_eq!(kind("execution"), Some((Kind::Json, true)));
        assert_eq!(kind("execution_exit_code"), Some((Kind::Int, true)));
        assert_eq!(kind("execution_stderr"), Some((Kind::Text, true)));
        let nested = results.iter().find(|c| c.name == "execution_error").and_then(|c| c.nested.clone());
        assert_eq!(nested, Some(("execution".to_string(), "error".to_string())));
        let actions = columns(EventType::EnforcementAction);
        let names: Vec<&str> = actions.iter().map(|c| c.name.as_str()).collect();
        for n in ["workflow", "step", "step_index", "step_name", "step_role", "step_adapter", "step_params"] {
            assert!(names.contains(&n), "{n} in {names:?}");
        }
    }

    #[test]
    fn values_of_other_shapes_become_null() {
        let mut b = Builder::new(Kind::Timestamp);
        b.push(Some(&Value::from("2026-11-01T00:00:00Z")));
        b.push(Some(&Value::from("not a time")));
        b.push(None);
        let a = b.finish();
        assert_eq!((a.len(), a.null_count()), (3, 2));
        let mut j = Builder::new(Kind::Json);
        j.push(Some(&serde_json::json!({"a": [1]})));
        j.push(Some(&Value::from("PASS")));
        let a = j.finish();
        let s = a.as_any().downcast_ref::<datafusion::arrow::array::StringArray>().expect("strings");
        assert_eq!((s.value(0), s.value(1)), (r#"{"a":[1]}"#, "PASS"));
    }
}
