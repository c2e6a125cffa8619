//! The gateway's counters, rendered in the Prometheus text format next to the runtime's.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Counters of what the gateway answered.
#[derive(Debug, Default)]
pub struct GatewayMetrics {
    /// Requests by (route, status code).
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    /// Events written, by topic.
    events: Mutex<BTreeMap<String, u64>>,
}

impl GatewayMetrics {
    /// Counts one answer of `route` with `status`.
    pub fn request(&self, route: &'static str, status: u16) {
        *self.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry((route, status)).or_default() +=
            1;
    }

    /// Counts `n` events written to `topic`.
    pub fn events(&self, topic: &str, n: u64) {
        let mut events = self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match events.get_mut(topic) {
            Some(c) => *c += n,
            None => {
                events.insert(topic.to_string(), n);
            }
        }
    }

    /// The Prometheus text exposition of the counters.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP trustloop_gateway_requests_total HTTP requests answered by the gateway.\n");
        out.push_str("# TYPE trustloop_gateway_requests_total counter\n");
        for ((route, status), n) in self.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter() {
            let _ = writeln!(out, "trustloop_gateway_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
        }
        out.push_str("# HELP trustloop_gateway_events_total Events written through the gateway.\n");
        out.push_str("# TYPE trustloop_gateway_events_total counter\n");
        for (topic, n) in self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter() {
            let _ = writeln!(out, "trustloop_gateway_events_total{{topic=\"{topic}\"}} {n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_as_prometheus_text() {
        let m = GatewayMetrics::default();
        m.request("events", 200);
        m.request("events", 200);
        m.request("sql", 403);
        m.events("telemetry", 5);
        m.events("telemetry", 2);
        let text = m.render();
        assert!(text.contains("trustloop_gateway_requests_total{route=\"events\",status=\"200\"} 2\n"), "{text}");
        assert!(text.contains("trustloop_gateway_requests_total{route=\"sql\",status=\"403\"} 1\n"), "{text}");
        assert!(text.contains("trustloop_gateway_events_total{topic=\"telemetry\"} 7\n"), "{text}");
    }
}
