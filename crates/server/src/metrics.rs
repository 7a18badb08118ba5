//! Prometheus metrics (`GET /metrics`, text exposition format).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub allow: bool,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    pub events_appended: Counter,
    pub events_duplicate: Counter,
    pub logins_failed: Counter,
    pub audit_failures: Counter,
    pub fill_decisions: Family<DecisionLabels, Counter>,
    pub illegal_labels: Counter,
    /// Ledger checkpoints of a lower node that did not verify (witness).
    pub tamper_alarms: Counter,
    /// Outbox rows delivered upstream, and delivery attempts that failed.
    pub uplink_sent: Counter,
    pub uplink_failures: Counter,
    /// Device up messages accepted and refused (issue 18).
    pub device_messages: Counter,
    pub device_messages_bad: Counter,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("cyltrace");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let events_appended = Counter::default();
        let events_duplicate = Counter::default();
        let logins_failed = Counter::default();
        let audit_failures = Counter::default();
        let fill_decisions = Family::<DecisionLabels, Counter>::default();
        let illegal_labels = Counter::default();
        let tamper_alarms = Counter::default();
        let uplink_sent = Counter::default();
        let uplink_failures = Counter::default();
        let device_messages = Counter::default();
        let device_messages_bad = Counter::default();
        registry.register(
            "device_messages",
            "Device up messages accepted (MQTT and HTTP)",
            device_messages.clone(),
        );
        registry.register(
            "device_messages_bad",
            "Device up messages refused (counted as bad on the device)",
            device_messages_bad.clone(),
        );
        registry.register(
            "ledger_tamper_alarms",
            "Lower nodes' ledger checkpoints that did not verify",
            tamper_alarms.clone(),
        );
        registry.register(
            "uplink_sent",
            "Records delivered to the upstream platform",
            uplink_sent.clone(),
        );
        registry.register(
            "uplink_failures",
            "Failed attempts to deliver to the upstream platform",
            uplink_failures.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        registry.register(
            "events_appended",
            "Events newly stored",
            events_appended.clone(),
        );
        registry.register(
            "events_duplicate",
            "Events received again with a known id (not stored again)",
            events_duplicate.clone(),
        );
        registry.register(
            "logins_failed",
            "Failed login attempts",
            logins_failed.clone(),
        );
        registry.register(
            "audit_write_failures",
            "Audit records that could not be written",
            audit_failures.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            events_appended,
            events_duplicate,
            logins_failed,
            audit_failures,
            fill_decisions,
            illegal_labels,
            tamper_alarms,
            uplink_sent,
            uplink_failures,
            device_messages,
            device_messages_bad,
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
