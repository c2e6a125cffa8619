//! Canonical hashing of events (evidence digests) and deterministic ids for derived events.

use sha2::{Digest, Sha256};

use crate::catalog::schema_info;
use crate::codec;
use crate::event::Event;
use crate::ids::EventId;

/// SHA-256 over the event's schema fingerprint followed by its Avro binary encoding. Avro binary is
/// deterministic for a given schema (maps are ordered `BTreeMap`s), so the digest is stable across
/// runs, processes and machines.
pub fn canonical_digest(event: &Event) -> [u8; 32] {
    let mut body = Vec::with_capacity(256);
    // Encoding the crate's own types into a Vec cannot fail (no unsupported serde features are used;
    // the codec tests cover every type), so an error here would be a defect: hash what was written.
    let _ = crate::with_event!(event, e => codec::encode_into(e, &mut body));
    let mut h = Sha256::new();
    h.update(schema_info(event.event_type()).fingerprint);
    h.update(&body);
    h.finalize().into()
}

/// A deterministic UUID (version 8) for a derived event: SHA-256 over `kind` and each input,
/// length-prefixed so different splits of the same bytes give different ids. Never random.
pub fn derive_event_id(kind: &str, inputs: &[&[u8]]) -> EventId {
    let mut h = Sha256::new();
    h.update(b"trustloop.event-id.v1\0");
    h.update((kind.len() as u64).to_be_bytes());
    h.update(kind.as_bytes());
    for input in inputs {
        h.update((input.len() as u64).to_be_bytes());
        h.update(input);
    }
    let digest: [u8; 32] = h.finalize().into();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    EventId(uuid::Uuid::new_v8(bytes))
}
