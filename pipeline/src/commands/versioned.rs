//! Publishing a versioned document — a policy (`policy apply`) or notification rules (`notify
//! apply`): the next version of its name for a tenant, unless the newest version already has its
//! digest (then nothing is published).

use std::process::ExitCode;

use anyhow::Result;
use trustloop_connectors::log::PartitionReader;
use trustloop_schemas::{Envelope, Event, EventTime, EventType, NotifyRules, Policy, derive_event_id};

use trustloop_runtime::backend::{Backend, BackendConfig};
use trustloop_runtime::ingest::EventWriter;

/// Which kind of document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DocumentKind {
    /// A policy, on `policies`.
    Policy,
    /// Notification rules, on `notify-rules`.
    NotifyRules,
}

/// A document to publish: its name, digest and text.
pub(crate) struct Document<'a> {
    /// Its name (versions are counted per name and tenant).
    pub name: &'a str,
    /// Its digest.
    pub digest: String,
    /// Its text, as given.
    pub text: String,
}

impl DocumentKind {
    fn event_type(self) -> EventType {
        match self {
            DocumentKind::Policy => EventType::Policy,
            DocumentKind::NotifyRules => EventType::NotifyRules,
        }
    }

    /// The event id's tag, and the `source` of the events published.
    fn tags(self) -> (&'static str, &'static str) {
        match self {
            DocumentKind::Policy => ("policy", "trustloop policy apply"),
            DocumentKind::NotifyRules => ("notify-rules", "trustloop notify apply"),
        }
    }

    /// (tenant, name, version, digest) of an event of this kind.
    fn version_of(self, event: Event) -> Option<(String, String, i64, String)> {
        match (self, event) {
            (DocumentKind::Policy, Event::Policy(p)) => {
                Some((p.envelope.tenant.to_string(), p.name, p.version, p.digest))
            }
            (DocumentKind::NotifyRules, Event::NotifyRules(n)) => {
                Some((n.envelope.tenant.to_string(), n.name, n.version, n.digest))
            }
            _ => None,
        }
    }

    fn event(self, envelope: Envelope, doc: &Document<'_>, version: i64) -> Event {
        let (name, digest, format, document) =
            (doc.name.to_string(), doc.digest.clone(), "yaml".to_string(), doc.text.clone());
        match self {
            DocumentKind::Policy => Event::Policy(Policy { envelope, name, version, digest, format, document }),
            DocumentKind::NotifyRules => {
                Event::NotifyRules(NotifyRules { envelope, name, version, digest, format, document })
            }
        }
    }

    /// "policy NAME version V already has", "rules NAME version V already have".
    fn already(self, name: &str, version: i64) -> String {
        match self {
            DocumentKind::Policy => format!("policy {name} version {version} already has"),
            DocumentKind::NotifyRules => format!("rules {name} version {version} already have"),
        }
    }

    fn noun(self) -> &'static str {
        match self {
            DocumentKind::Policy => "policy",
            DocumentKind::NotifyRules => "rules",
        }
    }
}

/// The newest version of document `name` of `kind` for `tenant`: (version, digest). Records that
/// do not decode are reported and skipped.
pub(crate) async fn latest(
    backend: &Backend,
    kind: DocumentKind,
    tenant: &str,
    name: &str,
) -> Result<Option<(i64, String)>> {
    let topic = kind.event_type().topic();
    let mut best: Option<(i64, String)> = None;
    for (p, o) in backend.log.offsets(topic).await?.iter().enumerate() {
        let mut reader = PartitionReader::new(topic, p as u32, o.start).until(o.end);
        while let Some(records) = reader.next(&*backend.log).await? {
            for r in &records {
                match backend.codec.decode(&r.value, &*backend.registry) {
                    Ok(event) => {
                        if let Some((t, n, version, digest)) = kind.version_of(event)
                            && t == tenant
                            && n == name
                            && best.as_ref().is_none_or(|(v, _)| version > *v)
                        {
                            best = Some((version, digest));
                        }
                    }
                    Err(e) => eprintln!("{topic}/{p}@{}: undecodable, skipped: {e}", r.offset),
                }
            }
        }
    }
    Ok(best)
}

/// Publishes `doc` as the next version of its name for `tenant`, unless the newest version has
/// its digest already; prints what happened (as JSON with `json`).
pub(crate) async fn publish(
    backend_args: &BackendConfig,
    kind: DocumentKind,
    tenant: &str,
    doc: Document<'_>,
    json: bool,
) -> Result<ExitCode> {
    let backend = Backend::open(backend_args).await?;
    let (name, digest) = (doc.name, doc.digest.as_str());
    let previous = latest(&backend, kind, tenant, name).await?;
    if let Some((v, d)) = &previous
        && d == digest
    {
        if json {
            println!(
                "{}",
                serde_json::json!({"tenant": tenant, "name": name, "version": v, "digest": digest, "published": false})
            );
        } else {
            eprintln!("{} digest {digest}: nothing published", kind.already(name, *v));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let version = previous.map_or(1, |(v, _)| v + 1);
    let (tag, source) = kind.tags();
    let event_id =
        derive_event_id(tag, &[tenant.as_bytes(), name.as_bytes(), &version.to_be_bytes(), digest.as_bytes()]);
    let envelope = Envelope {
        event_id,
        tenant: tenant.into(),
        key: name.into(),
        // When it was applied (ingest time, as for every ingested event); decisions use the order
        // of documents in the log and the event times of what they decide about.
        event_time: EventTime::from_micros(trustloop_runtime::clock::now_micros()),
        source: source.into(),
        schema_version: kind.event_type().schema_version(),
    };
    let event = kind.event(envelope, &doc, version);
    let mut writer = EventWriter::new(&backend, kind.event_type().topic()).await?;
    writer.push(&event).await?;
    writer.flush().await?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "tenant": tenant, "name": name, "version": version, "digest": digest,
                "event_id": event_id.to_string(), "published": true,
            })
        );
    } else {
        eprintln!("applied {} {name} version {version} for tenant {tenant}: digest {digest}", kind.noun());
    }
    Ok(ExitCode::SUCCESS)
}
