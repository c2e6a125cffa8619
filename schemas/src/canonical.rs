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
    EventIdPrefix::new(kind, &[]).derive(inputs)
}

/// [`derive_event_id`] for many events whose first inputs are the same (e.g. every finding of one
/// cause): the shared part is hashed once. `EventIdPrefix::new(kind, a).derive(b)` equals
/// `derive_event_id(kind, a ++ b)`.
#[derive(Clone)]
pub struct EventIdPrefix {
    hasher: Sha256,
}

impl EventIdPrefix {
    /// The ids of `kind` whose inputs start with `inputs`.
    pub fn new(kind: &str, inputs: &[&[u8]]) -> EventIdPrefix {
        let mut h = Sha256::new();
        h.update(b"trustloop.event-id.v1\0");
        h.update((kind.len() as u64).to_be_bytes());
        h.update(kind.as_bytes());
        let mut prefix = EventIdPrefix { hasher: h };
        prefix.add(inputs);
        prefix
    }

    fn add(&mut self, inputs: &[&[u8]]) {
        for input in inputs {
            self.hasher.update((input.len() as u64).to_be_bytes());
            self.hasher.update(input);
        }
    }

    /// The prefix of the ids whose inputs continue with `inputs`: `p.then(a).derive(b)` equals
    /// `p.derive(a ++ b)`, with `a` hashed once however many ids derive from it.
    pub fn then(&self, inputs: &[&[u8]]) -> EventIdPrefix {
        let mut next = self.clone();
        next.add(inputs);
        next
    }

    /// The id whose remaining inputs are `inputs`.
    pub fn derive(&self, inputs: &[&[u8]]) -> EventId {
        let mut h = self.clone();
        h.add(inputs);
        let digest: [u8; 32] = h.hasher.finalize().into();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        EventId(uuid::Uuid::new_v8(bytes))
    }
}

impl std::fmt::Debug for EventIdPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventIdPrefix").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_pinned() {
        // Computed independently (Python hashlib): SHA-256 over the tag, the kind and each input,
        // length-prefixed; the first 16 bytes as a version-8 UUID.
        let id = derive_event_id("finding", &[b"cause", b"rel", b""]);
        assert_eq!(id.to_string(), PINNED);
    }

    #[test]
    fn a_prefix_derives_the_same_ids() {
        let prefix = EventIdPrefix::new("finding", &[b"cause"]);
        assert_eq!(prefix.derive(&[b"rel", b""]).to_string(), PINNED);
        assert_eq!(prefix.derive(&[b"rel", b""]), derive_event_id("finding", &[b"cause", b"rel", b""]));
        // Length prefixes keep splits apart.
        assert_ne!(prefix.derive(&[b"rel"]), derive_event_id("finding", &[b"causerel"]));
        // A longer prefix, hashed once, derives the same ids too.
        assert_eq!(prefix.then(&[b"rel"]).derive(&[b""]).to_string(), PINNED);
        assert_eq!(EventIdPrefix::new("finding", &[]).then(&[b"cause", b"rel", b""]).derive(&[]).to_string(), PINNED);
    }

    const PINNED: &str = "2559dbb2-0a73-85fd-81d2-fab314e3387d";
}
