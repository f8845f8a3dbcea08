//! `traffic-flows.db`: one row per flow seen in conntrack events. A flow is written when the kernel
//! announces it (a row without `end`: visible while open) and completed with its final counters when it
//! is destroyed. After a restart or an event overrun the collector resynchronises from a table dump
//! ([`FlowWrite::Resync`]).

use crate::log_writer::{
    address_blob, blob_text, push_range, AddressRange, LogReader, LogStore, LogTable,
};
use crate::StoreError;
use routerd_api::ip_protocol::protocol_name;
use routerd_api::traffic_flow::TrafficFlow;
use routerd_api::Timestamp;
use rusqlite::{params, params_from_iter, Transaction};
use std::collections::HashMap;
use std::net::IpAddr;

/// File name of the store under the state directory.
pub const FLOW_LOG_FILE: &str = "traffic-flows.db";

/// A flow as the collector knows it, oriented from the side that opened it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    /// The kernel's conntrack id (`CTA_ID`; 0 when absent): with the tuple, it finds the open row again.
    pub conntrack_id: u32,
    pub start: Timestamp,
    pub end: Option<Timestamp>,
    /// `AF_INET` (2) or `AF_INET6` (10).
    pub family: u8,
    pub protocol: u8,
    pub client: IpAddr,
    pub client_port: u16,
    pub peer: IpAddr,
    pub peer_port: u16,
    pub nat_address: Option<IpAddr>,
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub packets_out: u64,
    pub packets_in: u64,
}

/// What a collector submits.
#[derive(Debug, Clone)]
pub enum FlowWrite {
    /// A new flow: inserted open (or its open row refreshed, when a dump already brought it).
    Opened(FlowRecord),
    /// A flow ended (`end` set): its open row is completed, or a closed row inserted when its start was
    /// never seen.
    Closed(FlowRecord),
    /// The flows open in the kernel right now (a dump), taken at `at`: open rows not among them ended
    /// unseen and are closed at `at` with their last known counters; dumped flows without an open row
    /// are inserted.
    Resync {
        open: Vec<FlowRecord>,
        at: Timestamp,
    },
}

/// Which rows `GET /traffic-flows` returns.
#[derive(Debug, Clone, Default)]
pub struct FlowFilter {
    pub client: Option<AddressRange>,
    pub peer: Option<AddressRange>,
    pub protocol: Option<u8>,
    /// Either side's port.
    pub port: Option<u16>,
    pub open: Option<bool>,
    /// Flows that started at or after.
    pub from: Option<Timestamp>,
    /// Flows that started at or before.
    pub to: Option<Timestamp>,
    pub limit: usize,
}

/// `FlowTable`'s rows and schema; see [`FlowLog`].
pub struct FlowTable;

impl LogTable for FlowTable {
    const WRITER_THREAD: &'static str = "flow-writer";
    type Write = FlowWrite;
    const TABLE: &'static str = "flows";
    const SCHEMA: &'static str = r#"
CREATE TABLE IF NOT EXISTS flows (
    id INTEGER PRIMARY KEY,
    conntrack_id INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER,
    family INTEGER NOT NULL,
    protocol INTEGER NOT NULL,
    client BLOB NOT NULL,
    client_port INTEGER NOT NULL,
    peer BLOB NOT NULL,
    peer_port INTEGER NOT NULL,
    nat_address BLOB,
    bytes_out INTEGER NOT NULL,
    bytes_in INTEGER NOT NULL,
    packets_out INTEGER NOT NULL,
    packets_in INTEGER NOT NULL,
    -- 1 when a resynchronisation closed the row because the flow was missing from the dump: a DESTROY
    -- event still on its way (a dump reaps expired entries and reports them after it) completes this row
    -- instead of adding a second one.
    closed_unseen INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS flows_open ON flows (conntrack_id) WHERE end IS NULL;
CREATE INDEX IF NOT EXISTS flows_closed_unseen ON flows (conntrack_id) WHERE closed_unseen = 1;
CREATE INDEX IF NOT EXISTS flows_start ON flows (start);
CREATE INDEX IF NOT EXISTS flows_client ON flows (client);
CREATE INDEX IF NOT EXISTS flows_peer ON flows (peer);
CREATE INDEX IF NOT EXISTS flows_peer_port ON flows (peer_port);
CREATE INDEX IF NOT EXISTS flows_client_port ON flows (client_port);
CREATE INDEX IF NOT EXISTS flows_protocol ON flows (protocol);
"#;
    // Open flows are kept whatever their age: their row is completed when they end.
    const AGE_CONDITION: &'static str = "start < ?1 AND end IS NOT NULL";

    fn apply(tx: &Transaction<'_>, writes: Vec<FlowWrite>) -> rusqlite::Result<()> {
        for write in writes {
            match write {
                // A flow a resynchronisation already inserted is not inserted twice.
                FlowWrite::Opened(flow) => {
                    if close(
                        tx,
                        &FlowRecord {
                            end: None,
                            ..flow.clone()
                        },
                    )? == 0
                    {
                        insert(tx, &flow)?;
                    }
                }
                FlowWrite::Closed(flow) => {
                    if close(tx, &flow)? == 0 && complete_unseen(tx, &flow)? == 0 {
                        insert(tx, &flow)?;
                    }
                }
                FlowWrite::Resync { open, at } => resync(tx, open, at)?,
            }
        }
        Ok(())
    }

    fn rows(write: &FlowWrite) -> u64 {
        match write {
            FlowWrite::Resync { open, .. } => open.len() as u64,
            _ => 1,
        }
    }
}

fn nanos(t: Timestamp) -> i64 {
    t.nanos()
}

fn counter(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn insert(tx: &Transaction<'_>, f: &FlowRecord) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO flows (conntrack_id, start, end, family, protocol, client, client_port, peer, peer_port,
             nat_address, bytes_out, bytes_in, packets_out, packets_in)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    stmt.execute(params![
        f.conntrack_id,
        nanos(f.start),
        f.end.map(nanos),
        f.family,
        f.protocol,
        address_blob(f.client),
        f.client_port,
        address_blob(f.peer),
        f.peer_port,
        f.nat_address.map(address_blob),
        counter(f.bytes_out),
        counter(f.bytes_in),
        counter(f.packets_out),
        counter(f.packets_in),
    ])?;
    Ok(())
}

/// Completes (or, with `end` None, refreshes the counters of) the open row of `f`; returns rows changed.
fn close(tx: &Transaction<'_>, f: &FlowRecord) -> rusqlite::Result<usize> {
    let mut stmt = tx.prepare_cached(
        "UPDATE flows SET end = ?1, bytes_out = ?2, bytes_in = ?3, packets_out = ?4, packets_in = ?5
         WHERE conntrack_id = ?6 AND end IS NULL AND protocol = ?7 AND client = ?8 AND client_port = ?9
           AND peer = ?10 AND peer_port = ?11",
    )?;
    stmt.execute(params![
        f.end.map(nanos),
        counter(f.bytes_out),
        counter(f.bytes_in),
        counter(f.packets_out),
        counter(f.packets_in),
        f.conntrack_id,
        f.protocol,
        address_blob(f.client),
        f.client_port,
        address_blob(f.peer),
        f.peer_port,
    ])
}

/// Completes the row a resynchronisation closed for lack of `f` in its dump; returns rows changed.
fn complete_unseen(tx: &Transaction<'_>, f: &FlowRecord) -> rusqlite::Result<usize> {
    let mut stmt = tx.prepare_cached(
        "UPDATE flows SET end = ?1, bytes_out = ?2, bytes_in = ?3, packets_out = ?4, packets_in = ?5,
             closed_unseen = 0
         WHERE conntrack_id = ?6 AND closed_unseen = 1 AND protocol = ?7 AND client = ?8
           AND client_port = ?9 AND peer = ?10 AND peer_port = ?11",
    )?;
    stmt.execute(params![
        f.end.map(nanos),
        counter(f.bytes_out),
        counter(f.bytes_in),
        counter(f.packets_out),
        counter(f.packets_in),
        f.conntrack_id,
        f.protocol,
        address_blob(f.client),
        f.client_port,
        address_blob(f.peer),
        f.peer_port,
    ])
}

type OpenKey = (u32, u8, [u8; 16], u16, [u8; 16], u16);

fn key_of(f: &FlowRecord) -> OpenKey {
    (
        f.conntrack_id,
        f.protocol,
        address_blob(f.client),
        f.client_port,
        address_blob(f.peer),
        f.peer_port,
    )
}

fn resync(tx: &Transaction<'_>, open: Vec<FlowRecord>, at: Timestamp) -> rusqlite::Result<()> {
    let mut stored: HashMap<OpenKey, i64> = HashMap::new();
    {
        let mut stmt = tx.prepare_cached(
            "SELECT id, conntrack_id, protocol, client, client_port, peer, peer_port FROM flows WHERE end IS NULL",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            stored.insert(
                (
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ),
                r.get(0)?,
            );
        }
    }
    for flow in open {
        if stored.remove(&key_of(&flow)).is_some() {
            close(tx, &FlowRecord { end: None, ..flow })?;
        } else {
            insert(tx, &flow)?;
        }
    }
    let mut end_unseen =
        tx.prepare_cached("UPDATE flows SET end = ?1, closed_unseen = 1 WHERE id = ?2")?;
    for id in stored.into_values() {
        end_unseen.execute(params![nanos(at), id])?;
    }
    Ok(())
}

/// The flow store: a writer thread and a reader connection; queries go through [`FlowLog::reader`].
pub type FlowLog = LogStore<FlowTable>;

impl LogReader<FlowTable> {
    /// Flows matching `filter`, newest first, and whether more than `limit` matched.
    pub fn query(&self, filter: &FlowFilter) -> Result<(Vec<TrafficFlow>, bool), StoreError> {
        let mut conditions: Vec<String> = Vec::new();
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        for (column, range) in [("client", filter.client), ("peer", filter.peer)] {
            if let Some(range) = range {
                push_range(column, range, &mut conditions, &mut args);
            }
        }
        if let Some(protocol) = filter.protocol {
            conditions.push("protocol = ?".into());
            args.push(i64::from(protocol).into());
        }
        if let Some(port) = filter.port {
            conditions.push("(peer_port = ? OR client_port = ?)".into());
            args.push(i64::from(port).into());
            args.push(i64::from(port).into());
        }
        match filter.open {
            Some(true) => conditions.push("end IS NULL".into()),
            Some(false) => conditions.push("end IS NOT NULL".into()),
            None => {}
        }
        if let Some(from) = filter.from {
            conditions.push("start >= ?".into());
            args.push(from.nanos().into());
        }
        if let Some(to) = filter.to {
            conditions.push("start <= ?".into());
            args.push(to.nanos().into());
        }
        let limit = filter.limit.max(1);
        let sql = format!(
            "SELECT id, start, end, family, protocol, client, client_port, peer, peer_port, nat_address,
                    bytes_out, bytes_in, packets_out, packets_in
             FROM flows {} ORDER BY id DESC LIMIT {}",
            if conditions.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conditions.join(" AND "))
            },
            limit + 1
        );
        let conn = self.connection()?;
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(args.iter()))?;
        let mut items = Vec::with_capacity(limit.min(1024));
        let mut truncated = false;
        while let Some(r) = rows.next()? {
            if items.len() == limit {
                truncated = true;
                break;
            }
            let start = Timestamp(r.get(1)?);
            let end: Option<Timestamp> = r.get::<_, Option<i64>>(2)?.map(Timestamp);
            let family: u8 = r.get(3)?;
            items.push(TrafficFlow {
                id: r.get::<_, i64>(0)? as u64,
                start,
                end,
                family: if family == 10 { "ipv6" } else { "ipv4" }.into(),
                protocol: protocol_name(r.get(4)?).into_owned(),
                client: blob_text(&r.get::<_, Vec<u8>>(5)?, family),
                client_port: r.get(6)?,
                peer: blob_text(&r.get::<_, Vec<u8>>(7)?, family),
                peer_port: r.get(8)?,
                nat_address: r
                    .get::<_, Option<Vec<u8>>>(9)?
                    .map(|b| blob_text(&b, family)),
                bytes_out: r.get::<_, i64>(10)? as u64,
                bytes_in: r.get::<_, i64>(11)? as u64,
                packets_out: r.get::<_, i64>(12)? as u64,
                packets_in: r.get::<_, i64>(13)? as u64,
                duration_millis: end.map(|e| e.0.saturating_sub(start.0).max(0) as f64 / 1e6),
            });
        }
        Ok((items, truncated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RetentionPolicy;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    pub(crate) fn flow(id: u32, client_port: u16, start: i64) -> FlowRecord {
        FlowRecord {
            conntrack_id: id,
            start: Timestamp(start),
            end: None,
            family: 2,
            protocol: 6,
            client: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
            client_port,
            peer: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
            peer_port: 80,
            nat_address: Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1))),
            bytes_out: 0,
            bytes_in: 0,
            packets_out: 0,
            packets_in: 0,
        }
    }

    fn all(log: &FlowLog) -> Vec<TrafficFlow> {
        log.reader()
            .query(&FlowFilter {
                limit: 10_000,
                ..FlowFilter::default()
            })
            .unwrap()
            .0
    }

    #[test]
    fn open_then_closed_then_filtered() {
        let dir = tempfile::tempdir().unwrap();
        let log = FlowLog::open(&dir.path().join(FLOW_LOG_FILE)).unwrap();
        log.submit(vec![
            FlowWrite::Opened(flow(7, 40000, 1_000_000_000)),
            FlowWrite::Opened(flow(8, 40001, 2_000_000_000)),
        ])
        .unwrap();
        log.flush().unwrap();
        let open = all(&log);
        assert_eq!(open.len(), 2);
        assert!(open.iter().all(|f| f.end.is_none()));
        assert_eq!(open[0].client_port, 40001, "newest first");
        let mut closed = flow(7, 40000, 1_000_000_000);
        closed.end = Some(Timestamp(3_500_000_000));
        closed.bytes_out = 120;
        closed.packets_in = 2;
        log.submit(vec![FlowWrite::Closed(closed)]).unwrap();
        log.flush().unwrap();
        let rows = all(&log);
        assert_eq!(rows.len(), 2, "the open row is completed, not duplicated");
        let done = rows.iter().find(|f| f.client_port == 40000).unwrap();
        assert_eq!(done.bytes_out, 120);
        assert_eq!(done.duration_millis, Some(2500.0));
        let only_open = log
            .reader()
            .query(&FlowFilter {
                open: Some(true),
                limit: 10,
                ..FlowFilter::default()
            })
            .unwrap()
            .0;
        assert_eq!(only_open.len(), 1);
        assert_eq!(only_open[0].client_port, 40001);
        let by_port = log
            .reader()
            .query(&FlowFilter {
                port: Some(40000),
                limit: 10,
                ..FlowFilter::default()
            })
            .unwrap()
            .0;
        assert_eq!(by_port.len(), 1);
        let (limited, truncated) = log
            .reader()
            .query(&FlowFilter {
                limit: 1,
                ..FlowFilter::default()
            })
            .unwrap();
        assert_eq!(limited.len(), 1);
        assert!(truncated);
        let later = log
            .reader()
            .query(&FlowFilter {
                from: Some(Timestamp(1_500_000_000)),
                limit: 10,
                ..FlowFilter::default()
            })
            .unwrap()
            .0;
        assert_eq!(later.len(), 1);
    }

    #[test]
    fn close_without_open_inserts_a_closed_row_and_resync_closes_the_unseen() {
        let dir = tempfile::tempdir().unwrap();
        let log = FlowLog::open(&dir.path().join(FLOW_LOG_FILE)).unwrap();
        let mut lone = flow(1, 1, 10);
        lone.end = Some(Timestamp(20));
        log.submit(vec![
            FlowWrite::Closed(lone),
            FlowWrite::Opened(flow(2, 2, 30)),
            FlowWrite::Opened(flow(3, 3, 40)),
        ])
        .unwrap();
        let mut still_open = flow(3, 3, 40);
        still_open.bytes_in = 99;
        log.submit(vec![FlowWrite::Resync {
            open: vec![still_open, flow(4, 4, 50)],
            at: Timestamp(60),
        }])
        .unwrap();
        log.flush().unwrap();
        let rows = all(&log);
        assert_eq!(rows.len(), 4);
        let by_port = |p: u16| rows.iter().find(|f| f.client_port == p).unwrap();
        assert_eq!(by_port(1).end, Some(Timestamp(20)));
        assert_eq!(
            by_port(2).end,
            Some(Timestamp(60)),
            "ended while unseen: closed at the resync"
        );
        assert_eq!((by_port(3).end, by_port(3).bytes_in), (None, 99));
        assert_eq!(by_port(4).end, None);
        // The DESTROY of flow 2 arriving after the resync (the dump reaped it) completes its row.
        let mut late = flow(2, 2, 30);
        late.end = Some(Timestamp(70));
        late.bytes_out = 5;
        log.submit(vec![FlowWrite::Closed(late)]).unwrap();
        log.flush().unwrap();
        let rows = all(&log);
        assert_eq!(rows.len(), 4, "no second row for flow 2");
        let two = rows.iter().find(|f| f.client_port == 2).unwrap();
        assert_eq!((two.end, two.bytes_out), (Some(Timestamp(70)), 5));
    }

    #[test]
    fn retention_by_rows_and_age_keeps_open_flows() {
        let dir = tempfile::tempdir().unwrap();
        let log = FlowLog::open(&dir.path().join(FLOW_LOG_FILE)).unwrap();
        let old = Timestamp::now().saturating_sub(Duration::from_secs(10 * 86400));
        let mut writes = Vec::new();
        for i in 0..5000u32 {
            let mut f = flow(i, i as u16, old.0 + i64::from(i));
            f.end = Some(Timestamp(f.start.0 + 1));
            writes.push(FlowWrite::Opened(f));
        }
        writes.push(FlowWrite::Opened(flow(9999, 9999, old.0)));
        for i in 0..3000u32 {
            let mut f = flow(10_000 + i, i as u16, Timestamp::now().0);
            f.end = Some(f.start);
            writes.push(FlowWrite::Opened(f));
        }
        log.submit(writes).unwrap();
        log.retain(RetentionPolicy {
            max_age: Duration::from_secs(7 * 86400),
            max_rows: 2000,
        })
        .unwrap();
        log.flush().unwrap();
        // Slices run after the flush is answered; wait for them.
        for _ in 0..100 {
            if log.count().unwrap() == 2000 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(log.count().unwrap(), 2000);
        assert_eq!(
            log.counters()
                .pruned
                .load(std::sync::atomic::Ordering::Relaxed),
            6001
        );
    }
}
