//! A client for Confluent Schema Registry's REST API (the subset trustloop needs): register the event
//! schemas under `<topic>-value` subjects and use the ids the registry assigns; fetch writer schemas
//! by id to decode events written by other producers or older builds.
//!
//! Requests follow Confluent's documented API: `POST /subjects/{subject}/versions` with
//! `{"schema": "<avsc>"}` answers `{"id": N}`; `GET /schemas/ids/{id}` answers `{"schema": "..."}`;
//! both with `Content-Type: application/vnd.schemaregistry.v1+json`.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use apache_avro::Schema;
use serde::{Deserialize, Serialize};
use trustloop_schemas::{EventCodec, EventType, WriterSchemas};

use super::RegistryError;

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// Where the registry is and how to authenticate.
#[derive(Debug, Clone)]
pub struct ConfluentRegistryConfig {
    /// Base URL, e.g. `http://registry:8081`.
    pub url: String,
    /// HTTP basic authentication (`user`, `password`), as Confluent Cloud uses.
    pub basic_auth: Option<(String, String)>,
    /// Timeout of one request.
    pub timeout: Duration,
}

impl ConfluentRegistryConfig {
    /// No authentication, 10 s timeout.
    pub fn new(url: impl Into<String>) -> Self {
        ConfluentRegistryConfig { url: url.into(), basic_auth: None, timeout: Duration::from_secs(10) }
    }
}

#[derive(Serialize)]
struct RegisterRequest<'a> {
    schema: &'a str,
}

#[derive(Deserialize)]
struct RegisterResponse {
    id: u32,
}

#[derive(Deserialize)]
struct SchemaResponse {
    schema: String,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error_code: Option<i64>,
    message: Option<String>,
}

/// A Confluent Schema Registry client.
pub struct ConfluentRegistry {
    config: ConfluentRegistryConfig,
    agent: ureq::Agent,
    cache: RwLock<HashMap<u32, Schema>>,
}

impl ConfluentRegistry {
    /// A client for the registry at `config.url`.
    pub fn new(config: ConfluentRegistryConfig) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .build()
            .new_agent();
        ConfluentRegistry { config, agent, cache: RwLock::new(HashMap::new()) }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.url.trim_end_matches('/'))
    }

    fn auth_header(&self) -> Option<String> {
        self.config.basic_auth.as_ref().map(|(u, p)| {
            use std::fmt::Write;
            let raw = format!("{u}:{p}");
            let mut out = String::from("Basic ");
            // Small base64 encoder (standard alphabet, padded): no dependency for 20 lines.
            const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            for chunk in raw.as_bytes().chunks(3) {
                let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
                let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
                for i in 0..4 {
                    if i <= chunk.len() {
                        let _ = out.write_char(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                    } else {
                        out.push('=');
                    }
                }
            }
            out
        })
    }

    fn error(&self, url: &str, status: u16, body: &str) -> RegistryError {
        let detail = serde_json::from_str::<ErrorResponse>(body)
            .ok()
            .map(|e| format!("error {}: {}", e.error_code.unwrap_or(i64::from(status)), e.message.unwrap_or_default()))
            .unwrap_or_else(|| body.chars().take(200).collect());
        RegistryError::Http { url: url.to_string(), message: format!("HTTP {status}: {detail}") }
    }

    /// Registers `schema` under `subject` (idempotent in the registry) and returns its id.
    pub fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let url = self.url(&format!("/subjects/{subject}/versions"));
        let body = serde_json::to_string(&RegisterRequest { schema })
            .map_err(|e| RegistryError::Http { url: url.clone(), message: e.to_string() })?;
        let mut req = self.agent.post(&url).header("Content-Type", CONTENT_TYPE).header("Accept", CONTENT_TYPE);
        if let Some(auth) = self.auth_header() {
            req = req.header("Authorization", &auth);
        }
        let mut resp =
            req.send(body.as_bytes()).map_err(|e| RegistryError::Http { url: url.clone(), message: e.to_string() })?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| RegistryError::Http { url: url.clone(), message: e.to_string() })?;
        if status != 200 {
            return Err(self.error(&url, status, &text));
        }
        let parsed: RegisterResponse = serde_json::from_str(&text).map_err(|e| RegistryError::Http {
            url: url.clone(),
            message: format!("unexpected answer {text:?}: {e}"),
        })?;
        Ok(parsed.id)
    }

    /// The schema registered under `id`; `Ok(None)` when the registry does not know it.
    pub fn schema_by_id(&self, id: u32) -> Result<Option<String>, RegistryError> {
        let url = self.url(&format!("/schemas/ids/{id}"));
        let mut req = self.agent.get(&url).header("Accept", CONTENT_TYPE);
        if let Some(auth) = self.auth_header() {
            req = req.header("Authorization", &auth);
        }
        let mut resp = req.call().map_err(|e| RegistryError::Http { url: url.clone(), message: e.to_string() })?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| RegistryError::Http { url: url.clone(), message: e.to_string() })?;
        match status {
            200 => serde_json::from_str::<SchemaResponse>(&text)
                .map(|r| Some(r.schema))
                .map_err(|e| RegistryError::Http { url, message: format!("unexpected answer {text:?}: {e}") }),
            404 => Ok(None),
            _ => Err(self.error(&url, status, &text)),
        }
    }

    /// Registers every current event schema under `<topic>-value` and returns a codec that writes the
    /// ids the registry assigned.
    pub fn register_all(&self) -> Result<EventCodec, RegistryError> {
        let mut ids = HashMap::new();
        for t in EventType::ALL {
            let id = self.register(&format!("{}-value", t.topic()), t.avsc())?;
            ids.insert(t, id);
        }
        Ok(EventCodec::with_ids(&ids))
    }
}

impl WriterSchemas for ConfluentRegistry {
    fn writer_schema(&self, id: u32) -> Option<Schema> {
        if let Some(s) = self.cache.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(&id) {
            return Some(s.clone());
        }
        let text = match self.schema_by_id(id) {
            Ok(Some(text)) => text,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(id, error = %e, "schema registry lookup failed");
                return None;
            }
        };
        let schema = Schema::parse_str(&text)
            .map_err(|e| tracing::warn!(id, error = %e, "registry schema does not parse"))
            .ok()?;
        self.cache.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id, schema.clone());
        Some(schema)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A Confluent-protocol stub on 127.0.0.1 (the real registry needs a JVM and Kafka): it speaks the
    /// two documented endpoints, checks the content type and assigns ids from 1 like the registry.
    fn serve(expect_auth: Option<&'static str>) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let schemas: Arc<Mutex<Vec<String>>> = Arc::default();
        let store = schemas.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(64) {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut request_line = String::new();
                reader.read_line(&mut request_line).expect("request line");
                let mut headers = Vec::new();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).expect("header");
                    if line.trim().is_empty() {
                        break;
                    }
                    headers.push(line.trim().to_lowercase());
                }
                let len = headers
                    .iter()
                    .find_map(|h| h.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)))
                    .unwrap_or(0);
                let mut body = vec![0; len];
                reader.read_exact(&mut body).expect("body");
                let authorised = expect_auth
                    .is_none_or(|a| headers.iter().any(|h| h == &format!("authorization: {}", a.to_lowercase())));
                let (status, answer) = if !authorised {
                    (401, r#"{"error_code":401,"message":"Unauthorized"}"#.to_string())
                } else if request_line.starts_with("POST /subjects/") {
                    assert!(headers.iter().any(|h| h == &format!("content-type: {CONTENT_TYPE}")), "{headers:?}");
                    let v: serde_json::Value = serde_json::from_slice(&body).expect("json body");
                    let schema = v["schema"].as_str().expect("schema field").to_string();
                    let mut s = store.lock().expect("lock");
                    let id = match s.iter().position(|x| *x == schema) {
                        Some(i) => i + 1,
                        None => {
                            s.push(schema);
                            s.len()
                        }
                    };
                    (200, format!(r#"{{"id":{id}}}"#))
                } else if let Some(rest) = request_line.strip_prefix("GET /schemas/ids/") {
                    let id: usize = rest.split_whitespace().next().and_then(|i| i.parse().ok()).unwrap_or(0);
                    match store.lock().expect("lock").get(id.wrapping_sub(1)) {
                        Some(schema) => (200, serde_json::json!({ "schema": schema }).to_string()),
                        None => (404, r#"{"error_code":40403,"message":"Schema not found"}"#.to_string()),
                    }
                } else {
                    (404, r#"{"error_code":404,"message":"Not found"}"#.to_string())
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        (format!("http://{addr}"), schemas)
    }

    #[test]
    fn registers_schemas_and_decodes_with_assigned_ids() {
        let (url, stored) = serve(None);
        let registry = ConfluentRegistry::new(ConfluentRegistryConfig::new(url));
        let codec = registry.register_all().expect("register");
        assert_eq!(stored.lock().expect("lock").len(), EventType::ALL.len());
        let ids: Vec<u32> = EventType::ALL.iter().map(|t| codec.schema_id(*t)).collect();
        assert_eq!(ids, (1..=EventType::ALL.len() as u32).collect::<Vec<u32>>(), "the codec writes the registry's ids");
        // Registering again returns the same ids.
        let again = registry.register_all().expect("register again");
        assert_eq!(again.schema_id(EventType::Verdict), codec.schema_id(EventType::Verdict));
        // A decoder with default ids decodes through the registry's writer schemas.
        let event = trustloop_schemas::json::parse_event_json(
            EventType::Telemetry,
            r#"{"tenant":"acme","entity":"h","kind":"k","value":2.5,"event_time":"2026-11-01T00:00:00Z"}"#,
            &trustloop_schemas::json::IngestDefaults { tenant: None, source: "t".into(), now_micros: 0 },
        )
        .expect("event");
        let framed = codec.encode(&event).expect("encode");
        assert_eq!(&framed[1..5], &1u32.to_be_bytes());
        let decoded = EventCodec::new().decode(&framed, &registry).expect("decode via registry");
        assert_eq!(decoded, event);
        assert!(registry.schema_by_id(99).expect("lookup").is_none());
    }

    #[test]
    fn basic_auth_is_sent_and_errors_are_clear() {
        let (url, _) = serve(Some("Basic dXNlcjpwYXNz"));
        let mut config = ConfluentRegistryConfig::new(url.clone());
        config.basic_auth = Some(("user".into(), "pass".into()));
        assert!(ConfluentRegistry::new(config).register("x-value", EventType::Policy.avsc()).is_ok());
        let err = ConfluentRegistry::new(ConfluentRegistryConfig::new(url))
            .register("x-value", EventType::Policy.avsc())
            .expect_err("no credentials");
        assert!(err.to_string().contains("401"), "{err}");
        let unreachable = ConfluentRegistry::new(ConfluentRegistryConfig::new("http://127.0.0.1:9"));
        assert!(unreachable.register("x-value", "{}").is_err());
    }
}
