//! The event object: the seed's `topic` + `attributes`, with cursor, time, severity and source around it.

use crate::time::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Debug,
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Debug => "debug",
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
    pub fn parse(s: &str) -> Option<Severity> {
        match s.to_ascii_lowercase().as_str() {
            "debug" => Some(Severity::Debug),
            "info" => Some(Severity::Info),
            "warning" | "warn" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            _ => None,
        }
    }
    /// Stored as a small integer so `severity >= ?` is an index-friendly comparison.
    pub fn rank(self) -> i64 {
        self as i64
    }
    pub fn from_rank(r: i64) -> Severity {
        match r {
            0 => Severity::Debug,
            1 => Severity::Info,
            2 => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

/// Who emitted the event: `routerd` itself, a daemon kind, or a rule engine, plus the instance name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EventSource {
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub instance: String,
}

/// Attribute keys naming the subject resource.
pub const ATTR_RESOURCE_KIND: &str = "resource.kind";
pub const ATTR_RESOURCE_NAME: &str = "resource.name";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    /// Opaque string, increasing within one stream.
    pub cursor: String,
    pub time: Timestamp,
    pub topic: String,
    pub severity: Severity,
    pub source: EventSource,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// An event before it has a cursor: what publishers hand to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub time: Timestamp,
    pub topic: String,
    pub severity: Severity,
    pub source: EventSource,
    pub message: String,
    pub attributes: BTreeMap<String, String>,
}

impl NewEvent {
    pub fn new(topic: &str, severity: Severity, message: impl Into<String>) -> NewEvent {
        NewEvent {
            time: Timestamp::now(),
            topic: topic.to_string(),
            severity,
            source: EventSource {
                kind: "routerd".to_string(),
                instance: String::new(),
            },
            message: message.into(),
            attributes: BTreeMap::new(),
        }
    }

    pub fn resource(mut self, kind: &str, name: &str) -> NewEvent {
        self.attributes
            .insert(ATTR_RESOURCE_KIND.to_string(), kind.to_string());
        self.attributes
            .insert(ATTR_RESOURCE_NAME.to_string(), name.to_string());
        self
    }

    pub fn attr(mut self, key: &str, value: impl Into<String>) -> NewEvent {
        self.attributes.insert(key.to_string(), value.into());
        self
    }

    pub fn source(mut self, kind: &str, instance: &str) -> NewEvent {
        self.source = EventSource {
            kind: kind.to_string(),
            instance: instance.to_string(),
        };
        self
    }

    pub fn resource_kind(&self) -> Option<&str> {
        self.attributes.get(ATTR_RESOURCE_KIND).map(String::as_str)
    }

    pub fn resource_name(&self) -> Option<&str> {
        self.attributes.get(ATTR_RESOURCE_NAME).map(String::as_str)
    }

    pub fn with_cursor(self, cursor: u64) -> Event {
        Event {
            cursor: cursor.to_string(),
            time: self.time,
            topic: self.topic,
            severity: self.severity,
            source: self.source,
            message: self.message,
            attributes: self.attributes,
        }
    }
}

/// Well-known topics emitted by routerd itself (the catalogue is `events.md`).
pub mod topics {
    pub const CONFIG_APPLIED: &str = "routerd.config.applied";
    pub const CONFIG_REJECTED: &str = "routerd.config.rejected";
    pub const RESOURCE_PHASE_CHANGED: &str = "routerd.resource.phase.changed";
    pub const RECONCILE_FAILED: &str = "routerd.controller.reconcile.failed";
    pub const RECONCILE_RECOVERED: &str = "routerd.controller.reconcile.recovered";
    pub const ADDRESS_APPLIED: &str = "routerd.address.applied";
    pub const ADDRESS_REMOVED: &str = "routerd.address.removed";
    pub const ROUTE_INSTALLED: &str = "routerd.route.installed";
    pub const ROUTE_REMOVED: &str = "routerd.route.removed";
    pub const STORE_EVENTS_DROPPED: &str = "routerd.store.events.dropped";
    /// The conntrack event socket overflowed; the flows were resynchronised from a dump.
    pub const FLOWS_OVERRUN: &str = "routerd.flows.overrun";
    /// NFLOG packets were lost (sequence gap or receive-buffer overflow).
    pub const FIREWALL_LOG_OVERRUN: &str = "routerd.firewall.log.overrun";
    /// The conntrack table passed 90% of `nf_conntrack_max` (attrs `count`, `max`).
    pub const CONNTRACK_USAGE_HIGH: &str = "routerd.conntrack.usage.high";
    /// An `EgressRoutePolicy` moved the default route to another candidate (attrs `from`, `to`,
    /// `reason`).
    pub const EGRESS_SWITCHED: &str = "routerd.route.egress.switched";
    /// Conntrack entries were deleted (attrs `count`, `reason`): flows NATed to a WAN that stopped
    /// being the egress, so they reconnect through the new one.
    pub const CONNTRACK_FLUSHED: &str = "routerd.conntrack.flushed";
}
