//! Synthetic but realistic event data: ~50 topics from the catalogue, ~200 resources over several kinds,
//! attributes of ~100 bytes, rows of ~200 bytes. Deterministic (seeded) so runs are comparable.

use routerd_api::event::{EventSource, NewEvent, Severity};
use routerd_api::time::Timestamp;
use std::collections::BTreeMap;

/// SplitMix64: small, fast, good enough for picking test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Picks indexes with a Zipf-like skew (weight of i ∝ 1/(i+1)^s): a few hot topics and resources,
/// a long tail of rare ones, as on a real router.
pub struct Skewed {
    cumulative: Vec<f64>,
}

impl Skewed {
    pub fn new(n: usize, s: f64) -> Skewed {
        let mut acc = 0.0;
        let mut cumulative = Vec::with_capacity(n);
        for i in 0..n {
            acc += 1.0 / ((i + 1) as f64).powf(s);
            cumulative.push(acc);
        }
        for c in &mut cumulative {
            *c /= acc;
        }
        Skewed { cumulative }
    }

    pub fn pick(&self, rng: &mut Rng) -> usize {
        let x = rng.next_f64();
        self.cumulative
            .partition_point(|c| *c < x)
            .min(self.cumulative.len() - 1)
    }
}

/// 50 topics from the catalogue of `events.md`, roughly hottest first.
pub const TOPICS: [&str; 50] = [
    "routerd.healthcheck.probe.passed",
    "routerd.resource.phase.changed",
    "routerd.healthcheck.probe.failed",
    "routerd.dhcpv4.client.lease.renewed",
    "routerd.conntrack.usage.high",
    "routerd.healthcheck.probe.timeout",
    "routerd.dhcpv6.client.prefix.renewed",
    "routerd.route.installed",
    "routerd.address.applied",
    "routerd.config.applied",
    "routerd.pppoe.client.echo.lost",
    "routerd.healthcheck.state.healthy",
    "routerd.healthcheck.state.unhealthy",
    "routerd.route.egress.switched",
    "routerd.nat.applied",
    "routerd.daemon.lifecycle.started",
    "routerd.daemon.lifecycle.ready",
    "routerd.daemon.lifecycle.stopped",
    "routerd.daemon.lifecycle.exited",
    "routerd.daemon.lifecycle.restarted",
    "routerd.daemon.command.accepted",
    "routerd.daemon.command.rejected",
    "routerd.dhcpv4.client.discover.sent",
    "routerd.dhcpv4.client.offer.received",
    "routerd.dhcpv4.client.request.sent",
    "routerd.dhcpv4.client.lease.bound",
    "routerd.dhcpv4.client.lease.rebound",
    "routerd.dhcpv4.client.lease.expired",
    "routerd.dhcpv4.client.lease.released",
    "routerd.dhcpv4.client.nak.received",
    "routerd.dhcpv6.client.solicit.sent",
    "routerd.dhcpv6.client.advertise.received",
    "routerd.dhcpv6.client.request.sent",
    "routerd.dhcpv6.client.reply.received",
    "routerd.dhcpv6.client.prefix.bound",
    "routerd.dhcpv6.client.prefix.rebound",
    "routerd.dhcpv6.client.prefix.changed",
    "routerd.dhcpv6.client.prefix.expired",
    "routerd.dhcpv6.client.status.received",
    "routerd.pppoe.client.discovery.completed",
    "routerd.pppoe.client.auth.succeeded",
    "routerd.pppoe.client.session.up",
    "routerd.pppoe.client.session.down",
    "routerd.address.removed",
    "routerd.route.removed",
    "routerd.config.rejected",
    "routerd.controller.reconcile.failed",
    "routerd.controller.reconcile.recovered",
    "routerd.firewall.log.overrun",
    "routerd.virtual.wan.flapping",
];

const KINDS: [&str; 10] = [
    "HealthCheck",
    "IPv4StaticAddress",
    "IPv4StaticRoute",
    "Interface",
    "DHCPv4Client",
    "DHCPv6PrefixDelegation",
    "PPPoESession",
    "NAT44Rule",
    "EventRule",
    "IPv6DelegatedAddress",
];

/// 200 resources: 20 of each of 10 kinds, `(Kind, name)`.
pub fn resources() -> Vec<(&'static str, String)> {
    let mut out = Vec::with_capacity(200);
    for i in 0..20 {
        for k in KINDS {
            out.push((k, format!("{}-{i:02}", k.to_ascii_lowercase())));
        }
    }
    out
}

/// One stored event as raw columns, as the store writes them.
#[derive(Debug, Clone)]
pub struct Row {
    pub topic: &'static str,
    pub severity: i64,
    pub source_kind: &'static str,
    pub source_instance: String,
    pub message: String,
    /// The attributes as stored (JSON text).
    pub attributes: String,
    /// The same attributes as a map, for publishing through the bus.
    pub attribute_map: BTreeMap<String, String>,
    pub resource_kind: Option<&'static str>,
    pub resource_name: Option<String>,
}

impl Row {
    /// The same event as a publisher hands it to the bus.
    pub fn to_new_event(&self) -> NewEvent {
        NewEvent {
            time: Timestamp::now(),
            topic: self.topic.to_string(),
            severity: Severity::from_rank(self.severity),
            source: EventSource {
                kind: self.source_kind.to_string(),
                instance: self.source_instance.clone(),
            },
            message: self.message.clone(),
            attributes: self.attribute_map.clone(),
        }
    }
}

const SOURCES: [&str; 5] = [
    "routerd",
    "routerd-healthcheck",
    "routerd-dhcpv4-client",
    "routerd-dhcpv6-client",
    "routerd-eventrule",
];

/// Generates rows with the realistic mix: skewed topics and resources, 85% with a subject resource.
pub struct Generator {
    rng: Rng,
    topics: Skewed,
    resource_pick: Skewed,
    resources: Vec<(&'static str, String)>,
    seq: u64,
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        let resources = resources();
        Generator {
            rng: Rng::new(seed),
            topics: Skewed::new(TOPICS.len(), 1.0),
            resource_pick: Skewed::new(resources.len(), 0.8),
            resources,
            seq: 0,
        }
    }

    pub fn row(&mut self) -> Row {
        self.seq += 1;
        let topic = TOPICS[self.topics.pick(&mut self.rng)];
        let with_resource = self.rng.next_f64() < 0.85;
        let mut attrs: BTreeMap<&str, String> = BTreeMap::new();
        let (rk, rn) = if with_resource {
            let (k, n) = &self.resources[self.resource_pick.pick(&mut self.rng)];
            attrs.insert("resource.kind", (*k).to_string());
            attrs.insert("resource.name", n.clone());
            (Some(*k), Some(n.clone()))
        } else {
            (None, None)
        };
        attrs.insert("seq", self.seq.to_string());
        // Pad attributes to ~100 bytes of JSON with a plausible detail field.
        let detail_len = 100usize.saturating_sub(
            attrs
                .iter()
                .map(|(k, v)| k.len() + v.len() + 6)
                .sum::<usize>()
                + 14,
        );
        let mut detail = String::with_capacity(detail_len + 16);
        while detail.len() < detail_len.max(4) {
            detail.push_str(&format!("{:016x}", self.rng.next_u64()));
        }
        detail.truncate(detail_len.max(4));
        attrs.insert("detail", detail);
        let severity = match self.rng.next_u64() % 20 {
            0 => 3,
            1 | 2 => 2,
            3 => 0,
            _ => 1,
        };
        let source_kind = SOURCES[(self.rng.next_u64() % SOURCES.len() as u64) as usize];
        Row {
            topic,
            severity,
            source_kind,
            source_instance: rn.clone().unwrap_or_default(),
            message: format!(
                "synthetic {} event #{}",
                topic.rsplit('.').next().unwrap_or("x"),
                self.seq
            ),
            attributes: serde_json::to_string(&attrs).unwrap_or_else(|_| "{}".into()),
            attribute_map: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            resource_kind: rk,
            resource_name: rn,
        }
    }
}

/// `n` events of the realistic mix, built once: publishers clone them (and stamp the time), so the bus
/// and the SQLite peer store the same data.
pub fn event_templates(seed: u64, n: usize) -> Vec<NewEvent> {
    let mut g = Generator::new(seed);
    (0..n).map(|_| g.row().to_new_event()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_about_200_bytes_and_skewed() {
        let mut g = Generator::new(7);
        let mut total = 0;
        let mut first_topic = 0;
        for _ in 0..10_000 {
            let r = g.row();
            total += r.topic.len()
                + r.source_kind.len()
                + r.source_instance.len()
                + r.message.len()
                + r.attributes.len()
                + 30;
            if r.topic == TOPICS[0] {
                first_topic += 1;
            }
            assert!(
                r.attributes.len() >= 80 && r.attributes.len() <= 130,
                "{}",
                r.attributes
            );
        }
        let avg = total / 10_000;
        assert!((150..=260).contains(&avg), "average row {avg} bytes");
        assert!(first_topic > 1000, "hottest topic {first_topic}");
        assert_eq!(resources().len(), 200);
    }
}
