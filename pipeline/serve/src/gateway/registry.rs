//! A read-only subset of the Confluent Schema Registry REST API, so stock Kafka tooling (kcat
//! `-s value=avro -r URL`, Confluent deserializers) can decode trustloop's topics: `GET /subjects`,
//! `GET /subjects/{subject}/versions`, `GET /subjects/{subject}/versions/{version|latest}` and
//! `GET /schemas/ids/{id}`. Any valid token may read it (as Bearer, or as the password of HTTP
//! Basic: `http://user:TOKEN@host:port`).
//!
//! With the log's own registry (the default) every schema ever registered is served, older writer
//! versions included; with a Confluent registry configured, tools should ask that one, and these
//! routes serve the current schemas only.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use trustloop_connectors::registry::SchemaEntry;

use super::Gateway;

/// What the registry routes answer with on errors: Confluent's shape.
#[derive(Debug, Serialize)]
struct RegistryError {
    error_code: u32,
    message: String,
}

fn not_found(error_code: u32, message: &str) -> Response {
    let body = RegistryError { error_code, message: message.to_string() };
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, CONTENT_TYPE)], Json(body)).into_response()
}

/// The registry's media type.
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

fn answer<T: Serialize>(value: T) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], Json(value)).into_response()
}

/// Every schema the registry serves, ordered by subject then version.
async fn entries(g: &Gateway) -> Vec<SchemaEntry> {
    if let Some(r) = &g.schemas {
        if let Err(e) = r.refresh().await {
            tracing::warn!(error = %e, "cannot re-read the schema registry topic");
        }
        return r.entries();
    }
    let mut all: Vec<SchemaEntry> = g
        .backend
        .codec
        .schemas()
        .map(|(ty, id, _, avsc)| SchemaEntry {
            subject: format!("{}-value", ty.topic()),
            version: 1,
            id,
            schema: avsc.to_string(),
            schema_type: "AVRO".into(),
        })
        .collect();
    all.sort_by(|a, b| a.subject.cmp(&b.subject));
    all
}

/// Runs `f` for a caller with a valid token.
async fn authorized(
    g: &Gateway,
    headers: &HeaderMap,
    route: &'static str,
    f: impl AsyncFnOnce() -> Response,
) -> Response {
    let response = match g.principal(headers).await {
        Ok(_) => f().await,
        Err(e) => e.into_response(),
    };
    g.metrics.request(route, response.status().as_u16());
    response
}

/// `GET /subjects`.
pub async fn subjects(State(g): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    authorized(&g, &headers, "registry", async || {
        let mut names: Vec<String> = entries(&g).await.into_iter().map(|e| e.subject).collect();
        names.dedup();
        answer(names)
    })
    .await
}

/// `GET /subjects/{subject}/versions`.
pub async fn versions(State(g): State<Arc<Gateway>>, headers: HeaderMap, Path(subject): Path<String>) -> Response {
    authorized(&g, &headers, "registry", async || {
        let versions: Vec<u32> =
            entries(&g).await.into_iter().filter(|e| e.subject == subject).map(|e| e.version).collect();
        match versions.is_empty() {
            true => not_found(40401, "Subject not found."),
            false => answer(versions),
        }
    })
    .await
}

/// One version of a subject, as the registry answers it.
#[derive(Debug, Serialize)]
struct Version {
    subject: String,
    version: u32,
    id: u32,
    schema: String,
}

/// `GET /subjects/{subject}/versions/{version}` (`latest` for the newest).
pub async fn version(
    State(g): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path((subject, version)): Path<(String, String)>,
) -> Response {
    authorized(&g, &headers, "registry", async || {
        let of_subject: Vec<SchemaEntry> = entries(&g).await.into_iter().filter(|e| e.subject == subject).collect();
        if of_subject.is_empty() {
            return not_found(40401, "Subject not found.");
        }
        let found = match version.as_str() {
            "latest" | "-1" => of_subject.iter().max_by_key(|e| e.version),
            v => match v.parse::<u32>() {
                Ok(n) => of_subject.iter().find(|e| e.version == n),
                Err(_) => return not_found(40402, "Version not found."),
            },
        };
        match found {
            Some(e) => {
                answer(Version { subject: e.subject.clone(), version: e.version, id: e.id, schema: e.schema.clone() })
            }
            None => not_found(40402, "Version not found."),
        }
    })
    .await
}

/// `GET /schemas/ids/{id}`.
pub async fn schema_by_id(State(g): State<Arc<Gateway>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    authorized(&g, &headers, "registry", async || {
        #[derive(Serialize)]
        struct Schema {
            schema: String,
        }
        let Ok(id) = id.parse::<u32>() else { return not_found(40403, "Schema not found") };
        match entries(&g).await.into_iter().find(|e| e.id == id) {
            Some(e) => answer(Schema { schema: e.schema }),
            None => not_found(40403, "Schema not found"),
        }
    })
    .await
}
