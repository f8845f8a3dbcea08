//! The flow recorder: conntrack NEW and DESTROY events turned into rows of `traffic-flows.db`, on a
//! thread of its own so a burst is read from the socket as fast as the kernel delivers it. A flow is
//! written when it starts (open, visible at once) and completed when it is destroyed, with the final
//! counters the kernel sends then. When the event socket overflows (`ENOBUFS`) the loss is counted,
//! reported as `routerd.flows.overrun`, and the open flows are re-read from a table dump; the same dump
//! runs at start so flows that began or ended while routerd was down are accounted for.

use super::collector::{Collector, CollectorCounters, CollectorThread, Decoded, Losses};
use crate::events::EventBus;
use routerd_api::event::{topics, NewEvent};
use routerd_api::{Severity, Timestamp};
use routerd_host::netlink_subscription::Subscription;
use routerd_host::ConntrackTable;
use routerd_proto::netfilter::conntrack::{self, ConntrackEntry, ConntrackEventKind};
use routerd_proto::netfilter::Item;
use routerd_store::{FlowLog, FlowRecord, FlowWrite};
use serde::Serialize;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// First re-check of open flows learned from the start-up dump. The kernel gives a conntrack entry its
/// event reporting only if an event listener existed when the entry was created, so a flow that began
/// while routerd was not running never sends a DESTROY: only a later dump shows that it ended. The
/// first [`UNWATCHED_RECHECKS_AT_FIRST_INTERVAL`] re-checks come at this interval (short flows, UDP's
/// 30 s timeout, end within them); after that the interval doubles (a long-lived flow should not cost a
/// full dump every few seconds for days) up to [`UNWATCHED_RECHECK_MAX`].
const UNWATCHED_RECHECK_FIRST: Duration = Duration::from_secs(10);
const UNWATCHED_RECHECK_MAX: Duration = Duration::from_secs(300);
const UNWATCHED_RECHECKS_AT_FIRST_INTERVAL: u32 = 6;

/// Receive buffer of the event socket: room for a burst of ~30k events while the thread is busy.
pub const FLOW_EVENT_BUFFER: usize = 8 * 1024 * 1024;

/// What the recorder keeps from the `TrafficFlowLog` spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowRecorderConfig {
    /// Record only these protocols (numbers); `None` for all.
    pub protocols: Option<Vec<u8>>,
    /// Record only flows that moved at least this many bytes (both directions); such flows are
    /// written when they end, since their size is unknown before.
    pub min_bytes: Option<u64>,
    /// First re-check of flows from the start-up dump; `None` for [`UNWATCHED_RECHECK_FIRST`] (tests
    /// shorten it).
    pub unwatched_recheck: Option<Duration>,
}

/// Counters shown in the `TrafficFlowLog` status.
#[derive(Debug, Default)]
pub struct FlowRecorderStats {
    pub events: AtomicU64,
    pub flows_opened: AtomicU64,
    pub flows_closed: AtomicU64,
    pub resyncs: AtomicU64,
    pub undecodable: AtomicU64,
    pub receive_buffer: AtomicU64,
    /// Overruns and the last error.
    pub collector: CollectorCounters,
}

/// The `TrafficFlowLog` status fields.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FlowRecorderStatus {
    pub events: u64,
    pub flows_opened: u64,
    pub flows_closed: u64,
    pub overruns: u64,
    pub resyncs: u64,
    pub undecodable: u64,
    pub receive_buffer_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_overrun_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl FlowRecorderStats {
    pub fn snapshot(&self) -> FlowRecorderStatus {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        FlowRecorderStatus {
            events: load(&self.events),
            flows_opened: load(&self.flows_opened),
            flows_closed: load(&self.flows_closed),
            overruns: load(&self.collector.overruns),
            resyncs: load(&self.resyncs),
            undecodable: load(&self.undecodable),
            receive_buffer_bytes: load(&self.receive_buffer),
            last_overrun_at: self.collector.last_overrun_at.lock().ok().and_then(|t| *t),
            last_error: self
                .collector
                .last_error
                .lock()
                .ok()
                .and_then(|e| e.clone()),
        }
    }

    fn error(&self, message: String) {
        self.collector.error(format!("flow recorder: {message}"));
    }
}

/// The row of `entry`, oriented from the side that opened it (the original tuple's source), with the
/// translated address from the reply tuple.
pub fn flow_record(entry: &ConntrackEntry, at: Timestamp, ended: bool) -> FlowRecord {
    let original = entry.original;
    let out = entry.original_counters.unwrap_or_default();
    let back = entry.reply_counters.unwrap_or_default();
    FlowRecord {
        conntrack_id: entry.id.unwrap_or(0),
        start: at,
        end: ended.then_some(at),
        family: entry.family,
        protocol: entry.protocol,
        client: original.src,
        client_port: original.src_port.unwrap_or(0),
        peer: original.dst,
        peer_port: original.dst_port.unwrap_or(0),
        nat_address: entry.nat_source().or_else(|| entry.nat_destination()),
        bytes_out: out.bytes,
        bytes_in: back.bytes,
        packets_out: out.packets,
        packets_in: back.packets,
    }
}

impl FlowRecorderConfig {
    fn wants(&self, entry: &ConntrackEntry) -> bool {
        self.protocols
            .as_ref()
            .is_none_or(|p| p.contains(&entry.protocol))
    }

    fn big_enough(&self, flow: &FlowRecord) -> bool {
        self.min_bytes
            .is_none_or(|min| flow.bytes_out.saturating_add(flow.bytes_in) >= min)
    }
}

/// Decodes one datagram of conntrack events into writes; returns whether the kernel reported an
/// `NLMSG_OVERRUN` in it.
pub fn decode_events(
    datagram: &[u8],
    config: &FlowRecorderConfig,
    now: Timestamp,
    writes: &mut Vec<FlowWrite>,
    stats: &FlowRecorderStats,
) -> bool {
    let mut overrun = false;
    for item in conntrack::messages(datagram) {
        match item {
            Ok(Item::Data(event)) => {
                stats.events.fetch_add(1, Ordering::Relaxed);
                if !config.wants(&event.entry) {
                    continue;
                }
                match event.kind {
                    ConntrackEventKind::New => {
                        if config.min_bytes.is_none() {
                            stats.flows_opened.fetch_add(1, Ordering::Relaxed);
                            writes.push(FlowWrite::Opened(flow_record(&event.entry, now, false)));
                        }
                    }
                    ConntrackEventKind::Delete => {
                        let flow = flow_record(&event.entry, now, true);
                        if config.big_enough(&flow) {
                            stats.flows_closed.fetch_add(1, Ordering::Relaxed);
                            writes.push(FlowWrite::Closed(flow));
                        }
                    }
                }
            }
            Ok(Item::Overrun) => overrun = true,
            Ok(_) => {}
            Err(_) => {
                stats.undecodable.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    overrun
}

/// A running recorder; dropping it stops the thread.
pub struct FlowRecorder {
    thread: CollectorThread,
    pub stats: Arc<FlowRecorderStats>,
    pub config: FlowRecorderConfig,
}

struct Recorder {
    /// Open flows known only from the start-up dump (they may never send a DESTROY).
    unwatched: HashSet<FlowKey>,
    /// When to dump again to see which of them ended, and the interval after that.
    recheck: Option<(Instant, Duration)>,
    rechecks_done: u32,
    table: Arc<dyn ConntrackTable>,
    store: Arc<FlowLog>,
    bus: EventBus,
    config: FlowRecorderConfig,
    stats: Arc<FlowRecorderStats>,
    resource: String,
}

impl FlowRecorder {
    /// Starts reading `subscription` (already subscribed, so nothing between the dump and the first
    /// event is missed) after resynchronising from a dump of `table`.
    pub fn start(
        subscription: Box<dyn Subscription>,
        receive_buffer: usize,
        table: Arc<dyn ConntrackTable>,
        store: Arc<FlowLog>,
        bus: EventBus,
        config: FlowRecorderConfig,
        resource: &str,
    ) -> std::io::Result<FlowRecorder> {
        let stats = Arc::new(FlowRecorderStats::default());
        stats
            .receive_buffer
            .store(receive_buffer as u64, Ordering::Relaxed);
        let recorder = Recorder {
            unwatched: HashSet::new(),
            recheck: None,
            rechecks_done: 0,
            table,
            store,
            bus,
            config: config.clone(),
            stats: stats.clone(),
            resource: resource.to_string(),
        };
        let thread = CollectorThread::start("flow-recorder", subscription, recorder)?;
        Ok(FlowRecorder {
            thread,
            stats,
            config,
        })
    }

    /// Stops the thread (within one receive timeout) after it handed what it decoded to the store.
    pub fn stop(&mut self) {
        self.thread.stop();
    }
}

impl Collector for Recorder {
    type Row = FlowWrite;
    const SUBMIT_BATCH: usize = 512;
    const SOCKET: &'static str = "conntrack event socket";

    fn counters(&self) -> &CollectorCounters {
        &self.stats.collector
    }

    fn decode(&mut self, datagram: &[u8], rows: &mut Vec<FlowWrite>) -> Decoded {
        let overrun = decode_events(datagram, &self.config, Timestamp::now(), rows, &self.stats);
        Decoded { lost: 0, overrun }
    }

    fn submit(&self, rows: Vec<FlowWrite>) {
        if let Err(e) = self.store.submit(rows) {
            self.stats.error(format!("traffic-flows store: {e}"));
        }
    }

    fn on_start(&mut self) {
        if let Some(open) = self.resync() {
            self.unwatched = open;
            self.schedule_recheck(
                self.config
                    .unwatched_recheck
                    .unwrap_or(UNWATCHED_RECHECK_FIRST),
            );
        }
    }

    fn after_overrun(&mut self) {
        self.resync();
    }

    fn due(&self) -> bool {
        self.recheck.is_some_and(|(at, _)| Instant::now() >= at)
    }

    fn on_due(&mut self) {
        let interval = self
            .recheck
            .map_or(UNWATCHED_RECHECK_FIRST, |(_, interval)| interval);
        if let Some(open) = self.resync() {
            self.unwatched.retain(|key| open.contains(key));
        }
        self.rechecks_done += 1;
        let next = if self.rechecks_done < UNWATCHED_RECHECKS_AT_FIRST_INTERVAL {
            interval
        } else {
            (interval * 2).min(UNWATCHED_RECHECK_MAX)
        };
        self.schedule_recheck(next);
    }

    fn report(&self, losses: Losses) {
        let total = self.stats.collector.overruns.load(Ordering::Relaxed);
        tracing::warn!(
            count = losses.overruns,
            total,
            "conntrack event socket overran; open flows re-read from a dump"
        );
        self.bus.publish_nowait(
            NewEvent::new(
                topics::FLOWS_OVERRUN,
                Severity::Warning,
                "conntrack events were lost (receive buffer overflow); open flows were re-read from a dump",
            )
            .resource("TrafficFlowLog", &self.resource)
            .attr("count", losses.overruns.to_string())
            .attr("total", total.to_string()),
        );
    }
}

/// A flow's identity across events and dumps.
type FlowKey = (u32, u8, IpAddr, u16, IpAddr, u16);

fn flow_key(f: &FlowRecord) -> FlowKey {
    (
        f.conntrack_id,
        f.protocol,
        f.client,
        f.client_port,
        f.peer,
        f.peer_port,
    )
}

impl Recorder {
    /// Re-reads the open flows from a dump and hands them to the store as one resynchronisation (which
    /// also ends every stored open flow the dump no longer lists); returns the open flows' keys.
    fn resync(&self) -> Option<HashSet<FlowKey>> {
        let at = Timestamp::now();
        let mut open = Vec::new();
        let config = &self.config;
        let walked = self.table.walk(&mut |entry| {
            if config.wants(entry) && config.min_bytes.is_none() {
                open.push(flow_record(entry, at, false));
            }
        });
        match walked {
            Ok(_) => {
                self.stats.resyncs.fetch_add(1, Ordering::Relaxed);
                let keys = open.iter().map(flow_key).collect();
                if let Err(e) = self.store.submit(vec![FlowWrite::Resync { open, at }]) {
                    self.stats.error(format!("traffic-flows store: {e}"));
                }
                Some(keys)
            }
            Err(e) => {
                self.stats
                    .error(format!("conntrack dump for resynchronisation: {e}"));
                None
            }
        }
    }

    /// Dumps again after `interval` while flows from the start-up dump are still open.
    fn schedule_recheck(&mut self, interval: Duration) {
        self.recheck = (!self.unwatched.is_empty()).then(|| (Instant::now() + interval, interval));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_host::netlink_subscription::{FakeReceive, FakeSubscription};
    use routerd_host::FakeConntrack;
    use routerd_proto::netfilter::conntrack::{encode_create_request, Status, Tuple};
    use routerd_store::FlowFilter;
    use std::net::Ipv4Addr;

    /// A TCP flow 192.0.2.10:40000 -> 198.51.100.1:80, source-NATed to 198.51.100.2.
    fn entry(client_port: u16) -> ConntrackEntry {
        let client = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
        let server = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
        let nat = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2));
        ConntrackEntry {
            family: 2,
            protocol: 6,
            original: Tuple::with_ports(6, client, client_port, server, 80),
            reply: Tuple::with_ports(6, server, 80, nat, client_port),
            tcp_state: None,
            timeout: Some(120),
            mark: None,
            zone: None,
            status: Status(0),
            original_counters: None,
            reply_counters: None,
            id: None,
        }
    }

    /// The ctnetlink message the kernel sends for `entry`: NEW (created) or DELETE (destroyed).
    fn event(entry: &ConntrackEntry, destroyed: bool) -> Vec<u8> {
        let mut bytes = encode_create_request(entry, 0);
        if destroyed {
            // nlmsg_type: NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_DELETE
            bytes[4..6].copy_from_slice(&0x0102u16.to_ne_bytes());
        }
        bytes
    }

    #[test]
    fn new_and_destroy_events_become_an_open_then_closed_flow_oriented_from_the_client() {
        let stats = FlowRecorderStats::default();
        let mut writes = Vec::new();
        let config = FlowRecorderConfig::default();
        let mut datagram = event(&entry(40000), false);
        datagram.extend(event(&entry(40001), false));
        assert!(!decode_events(
            &datagram,
            &config,
            Timestamp(1),
            &mut writes,
            &stats
        ));
        assert!(!decode_events(
            &event(&entry(40000), true),
            &config,
            Timestamp(2),
            &mut writes,
            &stats
        ));
        assert_eq!(writes.len(), 3);
        let FlowWrite::Opened(opened) = &writes[0] else {
            panic!("{writes:?}")
        };
        assert_eq!(opened.client.to_string(), "192.0.2.10");
        assert_eq!((opened.client_port, opened.peer_port), (40000, 80));
        assert_eq!(
            opened.nat_address.map(|a| a.to_string()).as_deref(),
            Some("198.51.100.2")
        );
        assert!(matches!(&writes[2], FlowWrite::Closed(f) if f.end == Some(Timestamp(2))));
        let udp_only = FlowRecorderConfig {
            protocols: Some(vec![17]),
            ..FlowRecorderConfig::default()
        };
        let mut none = Vec::new();
        decode_events(&datagram, &udp_only, Timestamp(1), &mut none, &stats);
        assert!(none.is_empty());
        // Arbitrary bytes are counted as undecodable, never a panic.
        decode_events(
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17],
            &config,
            Timestamp(3),
            &mut none,
            &stats,
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_overrun_is_counted_reported_and_followed_by_a_resync_from_the_dump() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FlowLog::open(&dir.path().join("flows.db")).unwrap());
        let bus = EventBus::open(&dir.path().join("routerd.db")).unwrap();
        let subscription = FakeSubscription::new();
        // A flow the kernel has open whose NEW event is lost in the overrun.
        let table = Arc::new(FakeConntrack::new(vec![], 1000));
        let mut recorder = FlowRecorder::start(
            Box::new(subscription.clone()),
            4096,
            table.clone(),
            store.clone(),
            bus.clone(),
            FlowRecorderConfig::default(),
            "flows",
        )
        .unwrap();
        subscription.push(FakeReceive::Data(event(&entry(1), false)));
        table.set_entries(vec![entry(1), entry(2)]);
        subscription.push(FakeReceive::Overrun);
        subscription.push(FakeReceive::Data(event(&entry(1), true)));
        while subscription.pending() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        recorder.stop();
        store.flush().unwrap();
        let stats = recorder.stats.snapshot();
        assert_eq!((stats.overruns, stats.resyncs), (1, 2));
        let (flows, _) = store
            .reader()
            .query(&FlowFilter {
                limit: 100,
                ..FlowFilter::default()
            })
            .unwrap();
        let ports: Vec<(u16, bool)> = flows
            .iter()
            .map(|f| (f.client_port, f.end.is_some()))
            .collect();
        assert_eq!(
            ports,
            [(2, false), (1, true)],
            "flow 2 recovered from the dump, flow 1 not duplicated"
        );
        bus.flush().await;
        let events = bus
            .query(&routerd_store::EventFilter {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert!(
            events.iter().any(|e| e.topic == topics::FLOWS_OVERRUN),
            "{events:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_flow_from_the_start_up_dump_that_never_sends_destroy_is_ended_by_a_later_dump() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FlowLog::open(&dir.path().join("flows.db")).unwrap());
        let bus = EventBus::open(&dir.path().join("routerd.db")).unwrap();
        let subscription = FakeSubscription::new();
        // Two flows began while nothing listened: the kernel will send no DESTROY for them.
        let table = Arc::new(FakeConntrack::new(vec![entry(1), entry(2)], 1000));
        let mut recorder = FlowRecorder::start(
            Box::new(subscription.clone()),
            4096,
            table.clone(),
            store.clone(),
            bus.clone(),
            FlowRecorderConfig {
                unwatched_recheck: Some(Duration::from_millis(50)),
                ..FlowRecorderConfig::default()
            },
            "flows",
        )
        .unwrap();
        let open_ports = || {
            store.flush().unwrap();
            let (flows, _) = store
                .reader()
                .query(&FlowFilter {
                    limit: 100,
                    ..FlowFilter::default()
                })
                .unwrap();
            let mut open: Vec<u16> = flows
                .iter()
                .filter(|f| f.end.is_none())
                .map(|f| f.client_port)
                .collect();
            open.sort();
            open
        };
        while open_ports() != [1, 2] {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Flow 1 times out silently; flow 2 lives on.
        table.set_entries(vec![entry(2)]);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while open_ports() != [2] {
            assert!(std::time::Instant::now() < deadline, "{:?}", open_ports());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Once flow 2 is gone too, nothing is left to re-check.
        table.set_entries(vec![]);
        while !open_ports().is_empty() {
            assert!(std::time::Instant::now() < deadline, "{:?}", open_ports());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        recorder.stop();
        let resyncs = recorder.stats.snapshot().resyncs;
        assert!(resyncs >= 3, "start-up dump and two re-checks: {resyncs}");
    }
}
