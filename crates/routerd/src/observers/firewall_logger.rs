//! The firewall logger: packets of one NFLOG group turned into rows of `firewall-logs.db`, on a thread
//! of its own. The group is bound with per-instance sequence numbers, so every lost packet shows as a
//! gap; gaps and receive-buffer overflows (`ENOBUFS`) are counted and reported as
//! `routerd.firewall.log.overrun`, never silent.

use super::collector::{Collector, CollectorCounters, CollectorThread, Decoded, Losses};
use crate::events::EventBus;
use routerd_api::event::{topics, NewEvent};
use routerd_api::{Severity, Timestamp};
use routerd_host::netlink_subscription::Subscription;
use routerd_proto::netfilter::nflog::{self, summarize_packet, GroupSettings, LogPacket};
use routerd_proto::netfilter::Item;
use routerd_store::{FirewallLog, FirewallRecord};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Receive buffer of the NFLOG socket (`SO_RCVBUFFORCE`): ~50k packets of headroom while the thread is
/// busy.
pub const NFLOG_RECEIVE_BUFFER: usize = 32 * 1024 * 1024;

/// How the group is bound: 128 bytes cover IPv6 with a few extension headers plus the TCP header; 64
/// packets per message cut syscalls 64-fold at high rates; a 50 ms flush keeps a lone packet from
/// waiting; 128 KiB is the largest per-message buffer the kernel allows.
pub const NFLOG_SETTINGS: GroupSettings = GroupSettings {
    copy_range: 128,
    queue_threshold: 64,
    timeout: 5,
    buffer_size: Some(128 * 1024),
};

const SUBMIT_BATCH: usize = 2048;
/// Interface names are re-resolved this often (an index can be reused after a link is deleted).
const NAME_CACHE_LIFETIME: Duration = Duration::from_secs(10);

/// What the logger keeps from the `FirewallEventLog` spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirewallLoggerConfig {
    pub group: u16,
    /// Record only these actions; `None` for all.
    pub actions: Option<Vec<String>>,
}

/// Counters shown in the `FirewallEventLog` status.
#[derive(Debug, Default)]
pub struct FirewallLoggerStats {
    pub packets: AtomicU64,
    /// Packets the kernel numbered but we never received (sequence gaps).
    pub lost: AtomicU64,
    pub undecodable: AtomicU64,
    pub receive_buffer: AtomicU64,
    /// Overruns (`ENOBUFS` on the socket) and the last error.
    pub collector: CollectorCounters,
}

/// The `FirewallEventLog` status fields.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FirewallLoggerStatus {
    pub nflog_group: u16,
    pub packets: u64,
    pub lost: u64,
    pub overruns: u64,
    pub undecodable: u64,
    pub receive_buffer_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_overrun_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl FirewallLoggerStats {
    pub fn snapshot(&self, group: u16) -> FirewallLoggerStatus {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        FirewallLoggerStatus {
            nflog_group: group,
            packets: load(&self.packets),
            lost: load(&self.lost),
            overruns: load(&self.collector.overruns),
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
}

/// Interface index to name, cached.
#[derive(Default)]
pub struct InterfaceNames {
    names: HashMap<u32, Option<String>>,
    since: Option<Instant>,
}

impl InterfaceNames {
    pub fn name(&mut self, index: u32) -> Option<String> {
        if self.since.is_none_or(|t| t.elapsed() > NAME_CACHE_LIFETIME) {
            self.names.clear();
            self.since = Some(Instant::now());
        }
        self.names
            .entry(index)
            .or_insert_with(|| {
                nix::net::if_::if_indextoname(index)
                    .ok()
                    .and_then(|n| n.into_string().ok())
            })
            .clone()
    }
}

/// Tracks the per-instance sequence numbers and counts the gaps.
#[derive(Debug, Default)]
pub struct SequenceTracker {
    next: Option<u32>,
}

impl SequenceTracker {
    /// Packets lost before `seq`.
    pub fn observe(&mut self, seq: u32) -> u64 {
        let lost = match self.next {
            Some(expected) if seq != expected => u64::from(seq.wrapping_sub(expected)),
            _ => 0,
        };
        // A huge "gap" is a reordering or a rebind, not a loss of billions.
        let lost = if lost > u64::from(u32::MAX / 2) {
            0
        } else {
            lost
        };
        self.next = Some(seq.wrapping_add(1));
        lost
    }
}

/// The row of one logged packet, or `None` when its payload is not an IP packet we can summarise.
pub fn firewall_record(
    packet: &LogPacket<'_>,
    now: Timestamp,
    names: &mut dyn FnMut(u32) -> Option<String>,
) -> Option<FirewallRecord> {
    let summary = summarize_packet(packet.payload?).ok()?;
    let prefix = packet.prefix.as_deref().unwrap_or_default().to_string();
    let (action, rule) = match nflog::parse_routerd_prefix(&prefix) {
        Some((action, rule)) => (action.to_string(), rule.to_string()),
        None => ("log".to_string(), String::new()),
    };
    Some(FirewallRecord {
        time: packet
            .timestamp
            .map(|t| Timestamp(i64::try_from(t.as_nanos()).unwrap_or(i64::MAX)))
            .unwrap_or(now),
        action,
        rule,
        prefix,
        in_interface: packet.indev.and_then(&mut *names),
        out_interface: packet.outdev.and_then(&mut *names),
        family: summary.family,
        protocol: summary.protocol,
        source: summary.src,
        source_port: summary.src_port,
        destination: summary.dst,
        destination_port: summary.dst_port,
        length: summary.length,
        tcp_flags: summary.tcp_flags.map(|f| f.to_string()),
    })
}

/// Decodes one NFLOG datagram into rows; returns the packets lost (gaps) and whether the kernel
/// reported an overrun in it.
pub fn decode_packets(
    datagram: &[u8],
    config: &FirewallLoggerConfig,
    now: Timestamp,
    sequence: &mut SequenceTracker,
    names: &mut dyn FnMut(u32) -> Option<String>,
    rows: &mut Vec<FirewallRecord>,
    stats: &FirewallLoggerStats,
) -> (u64, bool) {
    let mut lost = 0;
    let mut overrun = false;
    for item in nflog::messages(datagram) {
        match item {
            Ok(Item::Data(packet)) => {
                if packet.group != config.group {
                    continue;
                }
                stats.packets.fetch_add(1, Ordering::Relaxed);
                if let Some(seq) = packet.seq {
                    lost += sequence.observe(seq);
                }
                match firewall_record(&packet, now, names) {
                    Some(row) => {
                        if config
                            .actions
                            .as_ref()
                            .is_none_or(|a| a.contains(&row.action))
                        {
                            rows.push(row);
                        }
                    }
                    None => {
                        stats.undecodable.fetch_add(1, Ordering::Relaxed);
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
    (lost, overrun)
}

/// A running logger; dropping it stops the thread.
pub struct FirewallLogger {
    thread: CollectorThread,
    pub stats: Arc<FirewallLoggerStats>,
    pub config: FirewallLoggerConfig,
}

struct Logger {
    store: Arc<FirewallLog>,
    bus: EventBus,
    config: FirewallLoggerConfig,
    stats: Arc<FirewallLoggerStats>,
    resource: String,
    sequence: SequenceTracker,
    names: InterfaceNames,
}

impl FirewallLogger {
    /// Starts reading `subscription` (bound to `config.group`).
    pub fn start(
        subscription: Box<dyn Subscription>,
        receive_buffer: usize,
        store: Arc<FirewallLog>,
        bus: EventBus,
        config: FirewallLoggerConfig,
        resource: &str,
    ) -> std::io::Result<FirewallLogger> {
        let stats = Arc::new(FirewallLoggerStats::default());
        stats
            .receive_buffer
            .store(receive_buffer as u64, Ordering::Relaxed);
        let logger = Logger {
            store,
            bus,
            config: config.clone(),
            stats: stats.clone(),
            resource: resource.to_string(),
            sequence: SequenceTracker::default(),
            names: InterfaceNames::default(),
        };
        let thread = CollectorThread::start("firewall-logger", subscription, logger)?;
        Ok(FirewallLogger {
            thread,
            stats,
            config,
        })
    }

    pub fn stop(&mut self) {
        self.thread.stop();
    }
}

impl Collector for Logger {
    type Row = FirewallRecord;
    const SUBMIT_BATCH: usize = SUBMIT_BATCH;
    const SOCKET: &'static str = "NFLOG socket";

    fn counters(&self) -> &CollectorCounters {
        &self.stats.collector
    }

    fn decode(&mut self, datagram: &[u8], rows: &mut Vec<FirewallRecord>) -> Decoded {
        let names = &mut self.names;
        let (lost, overrun) = decode_packets(
            datagram,
            &self.config,
            Timestamp::now(),
            &mut self.sequence,
            &mut |index| names.name(index),
            rows,
            &self.stats,
        );
        if lost > 0 {
            self.stats.lost.fetch_add(lost, Ordering::Relaxed);
        }
        Decoded { lost, overrun }
    }

    fn submit(&self, rows: Vec<FirewallRecord>) {
        if let Err(e) = self.store.submit(rows) {
            self.stats
                .collector
                .error(format!("firewall logger: firewall-logs store: {e}"));
        }
    }

    fn report(&self, losses: Losses) {
        let (lost, overruns) = (losses.lost, losses.overruns);
        tracing::warn!(
            lost,
            overruns,
            group = self.config.group,
            "NFLOG packets lost"
        );
        self.bus.publish_nowait(
            NewEvent::new(
                topics::FIREWALL_LOG_OVERRUN,
                Severity::Warning,
                format!(
                    "{lost} logged packets of NFLOG group {} were lost",
                    self.config.group
                ),
            )
            .resource("FirewallEventLog", &self.resource)
            .attr("lost", lost.to_string())
            .attr("overruns", overruns.to_string())
            .attr(
                "totalLost",
                self.stats.lost.load(Ordering::Relaxed).to_string(),
            )
            .attr("group", self.config.group.to_string()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_gaps_are_losses_and_a_wrap_is_not() {
        let mut tracker = SequenceTracker::default();
        assert_eq!(tracker.observe(5), 0);
        assert_eq!(tracker.observe(6), 0);
        assert_eq!(tracker.observe(10), 3);
        let mut wrapping = SequenceTracker::default();
        wrapping.observe(u32::MAX);
        assert_eq!(wrapping.observe(0), 0);
        assert_eq!(
            wrapping.observe(0),
            0,
            "a repeat (rebind) is not counted as four billion losses"
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_are_counted() {
        let stats = FirewallLoggerStats::default();
        let mut rows = Vec::new();
        let config = FirewallLoggerConfig {
            group: 100,
            actions: None,
        };
        for len in 0..64u8 {
            let bytes: Vec<u8> = (0..len).map(|b| b.wrapping_mul(37)).collect();
            decode_packets(
                &bytes,
                &config,
                Timestamp(0),
                &mut SequenceTracker::default(),
                &mut |_| None,
                &mut rows,
                &stats,
            );
        }
        assert!(rows.is_empty());
    }
}
