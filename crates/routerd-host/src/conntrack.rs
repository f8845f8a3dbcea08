//! The conntrack table behind a trait: [`KernelConntrack`] reads it over ctnetlink (a dump, and the
//! table statistics), [`FakeConntrack`] holds entries in memory for unit tests.
//!
//! The walk hands each entry to a visitor as it is decoded from the receive buffer, so a caller that
//! counts and filters 100k entries holds one 64 KiB buffer, never the table. Nothing here runs
//! `conntrack` or reads `/proc/net/nf_conntrack`; only `nf_conntrack_max` is read from `/proc/sys` when a
//! kernel older than 4.19 leaves it out of the statistics.

use crate::netfilter_socket::{NetfilterSocket, NETFILTER_RECV_BUFFER};
use routerd_proto::netfilter::conntrack::{
    self, encode_dump_request, encode_stats_request, ConntrackEntry, DumpFamily, TableStats,
};
use routerd_proto::netfilter::Item;
use std::sync::Mutex;
use std::time::Duration;

/// Why the table could not be read; every variant is an operator-facing reason (the API answers `503`
/// with it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConntrackError {
    /// EPERM/EACCES: ctnetlink needs CAP_NET_ADMIN in the network namespace.
    #[error("permission denied reading conntrack over netlink (routerd needs CAP_NET_ADMIN in its network namespace): {0}")]
    PermissionDenied(String),
    /// The kernel has no conntrack netlink interface here (nf_conntrack or nf_conntrack_netlink is not
    /// loaded, or netfilter netlink is not built).
    #[error("conntrack is not available in this kernel or network namespace (nf_conntrack / nf_conntrack_netlink not loaded?): {0}")]
    NotAvailable(String),
    /// Anything else: a socket error, a timeout, an answer that cannot be framed.
    #[error("reading conntrack over netlink failed: {0}")]
    Failed(String),
}

impl ConntrackError {
    fn from_errno(errno: i32, context: &str) -> ConntrackError {
        let text = format!("{context}: {}", std::io::Error::from_raw_os_error(errno));
        match errno {
            libc::EPERM | libc::EACCES => ConntrackError::PermissionDenied(text),
            libc::EOPNOTSUPP | libc::EPROTONOSUPPORT | libc::ENOENT | libc::EAFNOSUPPORT => {
                ConntrackError::NotAvailable(text)
            }
            _ => ConntrackError::Failed(text),
        }
    }

    fn from_io(error: &std::io::Error, context: &str) -> ConntrackError {
        match error.raw_os_error() {
            Some(errno) => Self::from_errno(errno, context),
            None => ConntrackError::Failed(format!("{context}: {error}")),
        }
    }
}

/// What a walk saw besides the entries it handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WalkSummary {
    /// Messages that could not be decoded (skipped and counted, never a panic).
    pub undecodable: u64,
    /// The kernel flagged the dump as interrupted (`NLM_F_DUMP_INTR`): the table changed under it.
    pub interrupted: bool,
}

/// The conntrack table of routerd's network namespace. Blocking: call it from a blocking thread.
pub trait ConntrackTable: Send + Sync {
    /// Walks every entry (IPv4 and IPv6), handing each to `visit` as it is decoded.
    fn walk(&self, visit: &mut dyn FnMut(&ConntrackEntry)) -> Result<WalkSummary, ConntrackError>;

    /// The number of entries and `nf_conntrack_max`, without a dump.
    fn stats(&self) -> Result<ConntrackStats, ConntrackError>;

    /// Deletes every entry for which `matches` is true and returns how many were deleted (an entry
    /// that ended between the walk and its delete is not counted). This is how flows NATed to a WAN
    /// that is no longer the egress are made to reconnect at once instead of hanging until timeout.
    fn delete_where(
        &self,
        matches: &mut dyn FnMut(&ConntrackEntry) -> bool,
    ) -> Result<u64, ConntrackError>;
}

/// The table's size and limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConntrackStats {
    pub count: u64,
    pub max: u64,
}

/// How long one `recv` may wait for the kernel before the read fails.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The kernel's table over ctnetlink.
#[derive(Debug, Default, Clone, Copy)]
pub struct KernelConntrack;

impl KernelConntrack {
    fn open() -> Result<NetfilterSocket, ConntrackError> {
        NetfilterSocket::open(RECEIVE_TIMEOUT)
            .map_err(|e| ConntrackError::from_io(&e, "opening a NETLINK_NETFILTER socket"))
    }
}

impl ConntrackTable for KernelConntrack {
    /// The kernel fills the dump inside `recv` (about 90% of the cost of a walk), so a reader thread
    /// receives into a few rotating buffers while this thread decodes and visits the previous one: on two
    /// cores the decoding hides behind the kernel's work.
    fn walk(&self, visit: &mut dyn FnMut(&ConntrackEntry)) -> Result<WalkSummary, ConntrackError> {
        const BUFFERS: usize = 4;
        let socket = Self::open()?;
        socket
            .send(&encode_dump_request(DumpFamily::Any, 1))
            .map_err(|e| ConntrackError::from_io(&e, "sending the conntrack dump request"))?;
        type Filled = Result<(Vec<u8>, usize), ConntrackError>;
        let (filled_tx, filled_rx) = std::sync::mpsc::sync_channel::<Filled>(BUFFERS);
        let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        for _ in 0..BUFFERS {
            let _ = empty_tx.send(vec![0u8; NETFILTER_RECV_BUFFER]);
        }
        std::thread::scope(|scope| {
            scope.spawn(move || receive_dump(&socket, &empty_rx, &filled_tx));
            let mut summary = WalkSummary::default();
            loop {
                let (buffer, length) = filled_rx.recv().map_err(|_| {
                    ConntrackError::Failed("the conntrack dump reader stopped early".into())
                })??;
                for item in conntrack::messages(buffer.get(..length).unwrap_or_default()) {
                    match item {
                        Ok(Item::Data(event)) => visit(&event.entry),
                        Ok(Item::Done { interrupted }) => {
                            summary.interrupted = interrupted;
                            return Ok(summary);
                        }
                        Ok(Item::Error { errno, .. }) => {
                            return Err(ConntrackError::from_errno(errno, "conntrack dump"))
                        }
                        Ok(Item::Overrun) => {
                            return Err(ConntrackError::Failed(
                                "the kernel reported an overrun during the conntrack dump".into(),
                            ))
                        }
                        Ok(Item::Ack { .. }) => {}
                        Err(_) => summary.undecodable += 1,
                    }
                }
                // The consumer may have returned already; then the buffer is simply dropped.
                let _ = empty_tx.send(buffer);
            }
        })
    }

    /// A dump, then one delete per matching entry by its original tuple and zone (the kernel has no
    /// delete-by-filter); `ENOENT` means the entry ended meanwhile.
    fn delete_where(
        &self,
        matches: &mut dyn FnMut(&ConntrackEntry) -> bool,
    ) -> Result<u64, ConntrackError> {
        let mut doomed = Vec::new();
        self.walk(&mut |entry| {
            if matches(entry) {
                doomed.push((entry.original, entry.zone));
            }
        })?;
        self.acknowledged(
            &mut doomed.into_iter(),
            &|(original, zone), sequence| {
                conntrack::encode_delete_request(original, *zone, sequence)
            },
            &|errno| errno == libc::ENOENT,
            "deleting a conntrack entry",
        )
    }

    fn stats(&self) -> Result<ConntrackStats, ConntrackError> {
        let socket = Self::open()?;
        socket
            .send(&encode_stats_request(1))
            .map_err(|e| ConntrackError::from_io(&e, "sending the conntrack statistics request"))?;
        let mut buffer = vec![0u8; 4096];
        let length = socket
            .recv(&mut buffer)
            .map_err(|e| ConntrackError::from_io(&e, "receiving the conntrack statistics"))?;
        let mut answer: Option<TableStats> = None;
        for item in conntrack::stats_messages(buffer.get(..length).unwrap_or_default()) {
            match item {
                Ok(Item::Data(stats)) => answer = Some(stats),
                Ok(Item::Error { errno, .. }) => {
                    return Err(ConntrackError::from_errno(errno, "conntrack statistics"))
                }
                Ok(_) => {}
                Err(e) => {
                    return Err(ConntrackError::Failed(format!(
                        "undecodable conntrack statistics: {e}"
                    )))
                }
            }
        }
        let stats = answer.ok_or_else(|| {
            ConntrackError::Failed("the kernel sent no conntrack statistics".into())
        })?;
        let max = match stats.max_entries {
            Some(max) => u64::from(max),
            None => read_nf_conntrack_max()?,
        };
        Ok(ConntrackStats {
            count: u64::from(stats.entries),
            max,
        })
    }
}

impl KernelConntrack {
    /// Sends one `NLM_F_ACK` request per item of `requests` (built by `encode` with its sequence number),
    /// up to 256 per datagram, and counts the acknowledged ones. An error whose errno `tolerated` accepts
    /// is skipped (not counted); any other ends the run.
    fn acknowledged<T>(
        &self,
        requests: &mut dyn Iterator<Item = T>,
        encode: &dyn Fn(&T, u32) -> Vec<u8>,
        tolerated: &dyn Fn(i32) -> bool,
        what: &str,
    ) -> Result<u64, ConntrackError> {
        const BATCH: usize = 256;
        let socket = Self::open()?;
        let mut buffer = vec![0u8; NETFILTER_RECV_BUFFER];
        let mut acknowledged = 0u64;
        let mut sequence = 0u32;
        loop {
            let mut batch = Vec::with_capacity(BATCH * 160);
            let mut pending = 0usize;
            for request in (&mut *requests).take(BATCH) {
                sequence = sequence.wrapping_add(1);
                batch.extend_from_slice(&encode(&request, sequence));
                pending += 1;
            }
            if pending == 0 {
                return Ok(acknowledged);
            }
            socket
                .send(&batch)
                .map_err(|e| ConntrackError::from_io(&e, &format!("sending {what} requests")))?;
            while pending > 0 {
                let length = socket
                    .recv(&mut buffer)
                    .map_err(|e| ConntrackError::from_io(&e, &format!("receiving {what} acks")))?;
                for item in routerd_proto::netfilter::NetlinkMessages::new(
                    buffer.get(..length).unwrap_or_default(),
                ) {
                    match item {
                        Ok(routerd_proto::netfilter::NetlinkItem::Ack { .. }) => {
                            pending = pending.saturating_sub(1);
                            acknowledged += 1;
                        }
                        Ok(routerd_proto::netfilter::NetlinkItem::Error { errno, .. }) => {
                            if !tolerated(errno) {
                                return Err(ConntrackError::from_errno(errno, what));
                            }
                            pending = pending.saturating_sub(1);
                        }
                        Ok(_) => {}
                        Err(e) => {
                            return Err(ConntrackError::Failed(format!(
                                "undecodable {what} ack: {e}"
                            )))
                        }
                    }
                }
            }
        }
    }

    /// Creates `entries` in the table (`conntrack -I`, batched: up to 256 requests per datagram, every one
    /// acknowledged), returning how many were created. For harnesses that fill a namespace's table with
    /// 100k entries in a second where one `conntrack -I` process per entry takes minutes; routerd itself
    /// never creates entries.
    pub fn create_entries(
        &self,
        entries: &mut dyn Iterator<Item = ConntrackEntry>,
    ) -> Result<u64, ConntrackError> {
        self.acknowledged(
            entries,
            &|entry, sequence| conntrack::encode_create_request(entry, sequence),
            &|_| false,
            "creating a conntrack entry",
        )
    }
}

/// The reader half of [`KernelConntrack::walk`]: receives datagrams into the buffers it is handed until
/// the dump ends (`NLMSG_DONE` or an error message), the socket fails, or the decoder hangs up.
fn receive_dump(
    socket: &NetfilterSocket,
    empty: &std::sync::mpsc::Receiver<Vec<u8>>,
    filled: &std::sync::mpsc::SyncSender<Result<(Vec<u8>, usize), ConntrackError>>,
) {
    use routerd_proto::netfilter::{NetlinkItem, NetlinkMessages};
    while let Ok(mut buffer) = empty.recv() {
        let length = match socket.recv(&mut buffer) {
            Ok(0) => Err(ConntrackError::Failed(
                "the kernel closed the conntrack dump before its end".into(),
            )),
            Ok(length) => Ok(length),
            Err(e) => Err(ConntrackError::from_io(&e, "receiving the conntrack dump")),
        };
        let Ok(length) = length else {
            let _ = filled.send(length.map(|_| (Vec::new(), 0)));
            return;
        };
        // Only the headers are looked at here: whether this datagram ends the dump.
        let last = NetlinkMessages::new(buffer.get(..length).unwrap_or_default()).any(|item| {
            matches!(
                item,
                Err(_)
                    | Ok(NetlinkItem::Done { .. })
                    | Ok(NetlinkItem::Error { .. })
                    | Ok(NetlinkItem::Overrun)
            )
        });
        if filled.send(Ok((buffer, length))).is_err() || last {
            return;
        }
    }
}

/// `nf_conntrack_max` from `/proc/sys` (kernels before 4.19 do not report it over netlink).
fn read_nf_conntrack_max() -> Result<u64, ConntrackError> {
    let path = "/proc/sys/net/netfilter/nf_conntrack_max";
    let text = std::fs::read_to_string(path).map_err(|e| ConntrackError::from_io(&e, path))?;
    text.trim()
        .parse()
        .map_err(|_| ConntrackError::Failed(format!("{path}: {:?} is not a number", text.trim())))
}

/// An in-memory table for unit tests: entries, a maximum, and an optional failure to report instead.
#[derive(Debug, Default)]
pub struct FakeConntrack {
    state: Mutex<FakeState>,
}

#[derive(Debug, Default)]
struct FakeState {
    entries: Vec<ConntrackEntry>,
    max: u64,
    failure: Option<ConntrackError>,
}

impl FakeConntrack {
    /// A table holding `entries` with limit `max`.
    pub fn new(entries: Vec<ConntrackEntry>, max: u64) -> FakeConntrack {
        FakeConntrack {
            state: Mutex::new(FakeState {
                entries,
                max,
                failure: None,
            }),
        }
    }

    /// Replaces the entries.
    pub fn set_entries(&self, entries: Vec<ConntrackEntry>) {
        self.lock().entries = entries;
    }

    /// Makes every later call fail with `failure` (or succeed again with `None`).
    pub fn set_failure(&self, failure: Option<ConntrackError>) {
        self.lock().failure = failure;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ConntrackTable for FakeConntrack {
    fn walk(&self, visit: &mut dyn FnMut(&ConntrackEntry)) -> Result<WalkSummary, ConntrackError> {
        let state = self.lock();
        if let Some(failure) = &state.failure {
            return Err(failure.clone());
        }
        state.entries.iter().for_each(visit);
        Ok(WalkSummary::default())
    }

    fn stats(&self) -> Result<ConntrackStats, ConntrackError> {
        let state = self.lock();
        if let Some(failure) = &state.failure {
            return Err(failure.clone());
        }
        Ok(ConntrackStats {
            count: state.entries.len() as u64,
            max: state.max,
        })
    }

    fn delete_where(
        &self,
        matches: &mut dyn FnMut(&ConntrackEntry) -> bool,
    ) -> Result<u64, ConntrackError> {
        let mut state = self.lock();
        if let Some(failure) = &state.failure {
            return Err(failure.clone());
        }
        let before = state.entries.len();
        state.entries.retain(|e| !matches(e));
        Ok((before - state.entries.len()) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_testkit::Netns;

    #[test]
    fn errno_classes_give_reasons() {
        assert!(matches!(
            ConntrackError::from_errno(libc::EPERM, "x"),
            ConntrackError::PermissionDenied(_)
        ));
        assert!(matches!(
            ConntrackError::from_errno(libc::EOPNOTSUPP, "x"),
            ConntrackError::NotAvailable(_)
        ));
        assert!(ConntrackError::from_errno(libc::EPERM, "x")
            .to_string()
            .contains("CAP_NET_ADMIN"));
    }

    #[test]
    fn the_fake_walks_its_entries_or_fails() {
        let fake = FakeConntrack::new(Vec::new(), 10);
        let mut seen = 0;
        fake.walk(&mut |_| seen += 1).unwrap();
        assert_eq!(seen, 0);
        assert_eq!(fake.stats().unwrap(), ConntrackStats { count: 0, max: 10 });
        fake.set_entries((1..=4).map(udp_entry).collect());
        assert_eq!(fake.delete_where(&mut |e| e.mark == Some(2)).unwrap(), 1);
        assert_eq!(fake.stats().unwrap().count, 3);
        fake.set_failure(Some(ConntrackError::NotAvailable("test".into())));
        assert!(fake.walk(&mut |_| {}).is_err() && fake.stats().is_err());
        assert!(fake.delete_where(&mut |_| true).is_err());
    }

    fn udp_entry(n: u32) -> ConntrackEntry {
        use routerd_proto::netfilter::conntrack::{Status, Tuple, IPPROTO_UDP};
        let client = std::net::IpAddr::V4(std::net::Ipv4Addr::from(0x0a63_0000 + n));
        let server = std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 98, 0, 1));
        ConntrackEntry {
            family: routerd_proto::netfilter::nlattr::AF_INET,
            protocol: IPPROTO_UDP,
            original: Tuple::with_ports(IPPROTO_UDP, client, 40000, server, 53),
            reply: Tuple::with_ports(IPPROTO_UDP, server, 53, client, 40000),
            tcp_state: None,
            timeout: Some(600),
            mark: Some(n),
            zone: None,
            status: Status(Status::SEEN_REPLY),
            original_counters: None,
            reply_counters: None,
            id: None,
        }
    }

    /// The real kernel in a throw-away namespace: entries we create are walked back with what we gave
    /// them, and the statistics count them.
    #[test]
    fn kernel_table_in_a_namespace_is_walked_and_counted() {
        let Some(ns) = Netns::create("rdct-host") else {
            return;
        };
        ns.enter(|| {
            let table = KernelConntrack;
            let before = table.stats().expect("stats");
            assert!(before.max > 0);
            let created = table
                .create_entries(&mut (1..=600).map(udp_entry))
                .expect("create");
            assert_eq!(created, 600);
            let mut marks = Vec::new();
            let summary = table
                .walk(&mut |entry| {
                    if entry.original.dst_port == Some(53) {
                        marks.push(entry.mark.unwrap_or(0));
                    }
                })
                .expect("walk");
            assert_eq!(summary.undecodable, 0);
            marks.sort_unstable();
            assert_eq!(marks, (1..=600).collect::<Vec<_>>());
            assert_eq!(table.stats().expect("stats").count, before.count + 600);
            let again = table.create_entries(&mut std::iter::once(udp_entry(1)));
            assert!(matches!(again, Err(ConntrackError::Failed(m)) if m.contains("exists")));
            // Deleting by a predicate removes exactly the matching entries.
            let deleted = table
                .delete_where(&mut |e| {
                    e.original.dst_port == Some(53) && e.mark.is_some_and(|m| m <= 100)
                })
                .expect("delete");
            assert_eq!(deleted, 100);
            let mut left = 0;
            table
                .walk(&mut |e| {
                    if e.original.dst_port == Some(53) {
                        assert!(e.mark.unwrap_or(0) > 100);
                        left += 1;
                    }
                })
                .expect("walk");
            assert_eq!(left, 500);
        });
    }
}
