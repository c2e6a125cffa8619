//! Event lineage in traces: every event that enters trustloop starts a trace whose id is its event
//! id (a UUID is 16 bytes, as a trace id is), and every event derived from it — trust score,
//! verdict, action, result — carries that trace on, in the W3C `traceparent` record header. The
//! spans of one lineage — ingest, each operator that applied it, the dispatch of an action — are
//! then one trace in any OpenTelemetry backend, across processes and restarts.
//!
//! Span ids come from the exporter when one is configured; without one, headers still carry the
//! trace (with a span id derived from the event id), so a lineage started while export was off is
//! joined correctly once it is on.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use trustloop_connectors::log::Header;
use trustloop_schemas::EventId;

/// The record header carrying a lineage: W3C Trace Context's `traceparent`.
pub const TRACEPARENT: &str = "traceparent";

/// Where a lineage stands: its trace, and the span that last handled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lineage {
    /// The trace id: the root event's id.
    pub trace: [u8; 16],
    /// The span that handled it last.
    pub span: [u8; 8],
}

/// Appends the lowercase hex digits of `bytes` to `out`.
fn hex_into(bytes: &[u8], out: &mut Vec<u8>) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0xf)]);
    }
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    if s.len() != 2 * N {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Lineage {
    /// A lineage that starts at the event `id`: trace id = the id's 16 bytes; span id derived from
    /// them (never zero, which W3C forbids).
    pub fn root(id: &EventId) -> Lineage {
        let trace = *id.0.as_bytes();
        let mut span = [0u8; 8];
        for (i, b) in trace.iter().enumerate() {
            span[i % 8] ^= b.rotate_left(i as u32);
        }
        if span == [0; 8] {
            span[7] = 1;
        }
        Lineage { trace, span }
    }

    /// The lineage a `traceparent` value names (`00-<trace>-<span>-<flags>`), if it is well formed
    /// and neither id is zero.
    pub fn parse(value: &[u8]) -> Option<Lineage> {
        let text = std::str::from_utf8(value).ok()?;
        let mut parts = text.trim().split('-');
        let (_version, trace, span) = (parts.next()?, parts.next()?, parts.next()?);
        let (trace, span) = (unhex::<16>(trace)?, unhex::<8>(span)?);
        (trace != [0; 16] && span != [0; 8]).then_some(Lineage { trace, span })
    }

    /// The lineage of a record: its `traceparent` header, else the one rooted at its event.
    pub fn of(headers: &[Header], event: &EventId) -> Lineage {
        headers
            .iter()
            .filter(|h| h.name == TRACEPARENT)
            .find_map(|h| h.value.as_deref().and_then(Lineage::parse))
            .unwrap_or_else(|| Lineage::root(event))
    }

    /// The `traceparent` header that carries this lineage on.
    pub fn header(&self) -> Header {
        // `00-<32 hex>-<16 hex>-01`: built without formatting machinery (one per derived event).
        let mut value = Vec::with_capacity(55);
        value.extend_from_slice(b"00-");
        hex_into(&self.trace, &mut value);
        value.push(b'-');
        hex_into(&self.span, &mut value);
        value.extend_from_slice(b"-01");
        Header { name: TRACEPARENT.to_string(), value: Some(value.into()) }
    }

    /// Makes `span` a child of this lineage's span (in its trace), and returns the lineage as it
    /// stands after `span`: its own span id when spans are exported, else unchanged.
    pub fn enter(&self, span: &tracing::Span) -> Lineage {
        if span.is_disabled() {
            return *self;
        }
        let parent = SpanContext::new(
            TraceId::from_bytes(self.trace),
            SpanId::from_bytes(self.span),
            TraceFlags::SAMPLED,
            true,
            TraceState::NONE,
        );
        if span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent)).is_err() {
            return *self;
        }
        let cx = span.context();
        let own = cx.span().span_context().clone();
        match own.is_valid() && own.trace_id() == TraceId::from_bytes(self.trace) {
            true => Lineage { trace: self.trace, span: own.span_id().to_bytes() },
            false => *self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_and_rejects_garbage() {
        let id = EventId(uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677));
        let root = Lineage::root(&id);
        assert_eq!(root.trace, *id.0.as_bytes());
        let header = root.header();
        let value = header.value.clone().expect("a value");
        assert!(std::str::from_utf8(&value).expect("text").starts_with("00-0123456789abcdef0011223344556677-"));
        assert_eq!(Lineage::parse(&value), Some(root));
        assert_eq!(Lineage::of(&[header], &EventId(uuid::Uuid::nil())), root, "the header wins");
        assert_eq!(Lineage::of(&[], &id), root, "else the event's own");
        for bad in ["", "00-zz-11-01", "00-00000000000000000000000000000000-0000000000000001-01", "00-0123"] {
            assert_eq!(Lineage::parse(bad.as_bytes()), None, "{bad}");
        }
    }
}
