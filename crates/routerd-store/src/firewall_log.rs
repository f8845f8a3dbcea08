//! `firewall-logs.db`: one row per packet a firewall rule logged through NFLOG.

use crate::log_writer::{
    address_blob, blob_text, push_range, AddressRange, LogReader, LogStore, LogTable,
};
use crate::StoreError;
use routerd_api::ip_protocol::protocol_name;
use routerd_api::traffic_flow::FirewallLogEntry;
use routerd_api::Timestamp;
use rusqlite::{params, params_from_iter, Transaction};
use std::net::IpAddr;

/// File name of the store under the state directory.
pub const FIREWALL_LOG_FILE: &str = "firewall-logs.db";

/// One logged packet, as the NFLOG collector summarised it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallRecord {
    pub time: Timestamp,
    pub action: String,
    pub rule: String,
    pub prefix: String,
    pub in_interface: Option<String>,
    pub out_interface: Option<String>,
    /// `AF_INET` (2) or `AF_INET6` (10).
    pub family: u8,
    pub protocol: u8,
    pub source: IpAddr,
    pub source_port: Option<u16>,
    pub destination: IpAddr,
    pub destination_port: Option<u16>,
    pub length: u32,
    pub tcp_flags: Option<String>,
}

/// Which rows `GET /firewall-logs` returns.
#[derive(Debug, Clone, Default)]
pub struct FirewallFilter {
    pub action: Option<String>,
    pub rule: Option<String>,
    pub source: Option<AddressRange>,
    pub destination: Option<AddressRange>,
    pub protocol: Option<u8>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub limit: usize,
}

/// `FirewallTable`'s rows and schema; see [`FirewallLog`].
pub struct FirewallTable;

impl LogTable for FirewallTable {
    const WRITER_THREAD: &'static str = "firewall-log-writer";
    type Write = FirewallRecord;
    const TABLE: &'static str = "firewall_logs";
    const SCHEMA: &'static str = r#"
CREATE TABLE IF NOT EXISTS firewall_logs (
    id INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,
    action TEXT NOT NULL,
    rule TEXT NOT NULL,
    prefix TEXT NOT NULL,
    in_interface TEXT,
    out_interface TEXT,
    family INTEGER NOT NULL,
    protocol INTEGER NOT NULL,
    source BLOB NOT NULL,
    source_port INTEGER,
    destination BLOB NOT NULL,
    destination_port INTEGER,
    length INTEGER NOT NULL,
    tcp_flags TEXT
);
CREATE INDEX IF NOT EXISTS firewall_logs_time ON firewall_logs (time);
CREATE INDEX IF NOT EXISTS firewall_logs_action ON firewall_logs (action);
CREATE INDEX IF NOT EXISTS firewall_logs_rule ON firewall_logs (rule);
CREATE INDEX IF NOT EXISTS firewall_logs_source ON firewall_logs (source);
CREATE INDEX IF NOT EXISTS firewall_logs_destination ON firewall_logs (destination);
"#;
    const AGE_CONDITION: &'static str = "time < ?1";

    fn apply(tx: &Transaction<'_>, writes: Vec<FirewallRecord>) -> rusqlite::Result<()> {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO firewall_logs (time, action, rule, prefix, in_interface, out_interface, family, protocol,
                 source, source_port, destination, destination_port, length, tcp_flags)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )?;
        for r in writes {
            stmt.execute(params![
                r.time.nanos(),
                r.action,
                r.rule,
                r.prefix,
                r.in_interface,
                r.out_interface,
                r.family,
                r.protocol,
                address_blob(r.source),
                r.source_port,
                address_blob(r.destination),
                r.destination_port,
                r.length,
                r.tcp_flags,
            ])?;
        }
        Ok(())
    }

    fn rows(_: &FirewallRecord) -> u64 {
        1
    }
}

/// The firewall log store: a writer thread and a reader connection; queries go through
/// [`FirewallLog::reader`].
pub type FirewallLog = LogStore<FirewallTable>;

impl LogReader<FirewallTable> {
    /// Entries matching `filter`, newest first, and whether more than `limit` matched.
    pub fn query(
        &self,
        filter: &FirewallFilter,
    ) -> Result<(Vec<FirewallLogEntry>, bool), StoreError> {
        let mut conditions: Vec<String> = Vec::new();
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(action) = &filter.action {
            conditions.push("action = ?".into());
            args.push(action.clone().into());
        }
        if let Some(rule) = &filter.rule {
            conditions.push("rule = ?".into());
            args.push(rule.clone().into());
        }
        for (column, range) in [
            ("source", filter.source),
            ("destination", filter.destination),
        ] {
            if let Some(range) = range {
                push_range(column, range, &mut conditions, &mut args);
            }
        }
        if let Some(protocol) = filter.protocol {
            conditions.push("protocol = ?".into());
            args.push(i64::from(protocol).into());
        }
        if let Some(from) = filter.from {
            conditions.push("time >= ?".into());
            args.push(from.nanos().into());
        }
        if let Some(to) = filter.to {
            conditions.push("time <= ?".into());
            args.push(to.nanos().into());
        }
        let limit = filter.limit.max(1);
        let sql = format!(
            "SELECT id, time, action, rule, prefix, in_interface, out_interface, family, protocol, source,
                    source_port, destination, destination_port, length, tcp_flags
             FROM firewall_logs {} ORDER BY id DESC LIMIT {}",
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
            let family: u8 = r.get(7)?;
            items.push(FirewallLogEntry {
                id: r.get::<_, i64>(0)? as u64,
                time: Timestamp(r.get(1)?),
                action: r.get(2)?,
                rule: r.get(3)?,
                prefix: r.get(4)?,
                in_interface: r.get(5)?,
                out_interface: r.get(6)?,
                family: if family == 10 { "ipv6" } else { "ipv4" }.into(),
                protocol: protocol_name(r.get(8)?).into_owned(),
                source: blob_text(&r.get::<_, Vec<u8>>(9)?, family),
                source_port: r.get(10)?,
                destination: blob_text(&r.get::<_, Vec<u8>>(11)?, family),
                destination_port: r.get(12)?,
                length: r.get(13)?,
                tcp_flags: r.get(14)?,
            });
        }
        Ok((items, truncated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::{Duration, Instant};

    fn record(i: u32, rule: &str) -> FirewallRecord {
        FirewallRecord {
            time: Timestamp(i64::from(i)),
            action: "drop".into(),
            rule: rule.into(),
            prefix: format!("routerd:drop:{rule}"),
            in_interface: Some("wan".into()),
            out_interface: None,
            family: 2,
            protocol: 6,
            source: IpAddr::V4(Ipv4Addr::from(0xc633_6400 + (i % 200))),
            source_port: Some(40000),
            destination: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            destination_port: Some(22),
            length: 60,
            tcp_flags: Some("SYN".into()),
        }
    }

    #[test]
    fn filters_newest_first_and_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let log = FirewallLog::open(&dir.path().join(FIREWALL_LOG_FILE)).unwrap();
        log.submit(
            (0..10)
                .map(|i| record(i, if i % 2 == 0 { "wan-in" } else { "lan-out" }))
                .collect(),
        )
        .unwrap();
        log.flush().unwrap();
        let (rows, truncated) = log
            .reader()
            .query(&FirewallFilter {
                rule: Some("wan-in".into()),
                limit: 3,
                ..FirewallFilter::default()
            })
            .unwrap();
        assert!(truncated);
        assert_eq!(rows.iter().map(|r| r.time.0).collect::<Vec<_>>(), [8, 6, 4]);
        assert_eq!(rows[0].tcp_flags.as_deref(), Some("SYN"));
        let by_source = log
            .reader()
            .query(&FirewallFilter {
                source: Some(AddressRange::single("198.51.100.3".parse().unwrap())),
                limit: 10,
                ..FirewallFilter::default()
            })
            .unwrap()
            .0;
        assert_eq!(by_source.len(), 1);
        let window = log
            .reader()
            .query(&FirewallFilter {
                from: Some(Timestamp(2)),
                to: Some(Timestamp(4)),
                limit: 10,
                ..FirewallFilter::default()
            })
            .unwrap()
            .0;
        assert_eq!(window.len(), 3);
    }

    /// Issue 11: the latest 100 by a filter on 1,000,000 rows in under 20 ms (indexes, not scans).
    #[test]
    fn latest_100_by_filter_on_a_million_rows_is_fast() {
        let dir = tempfile::tempdir().unwrap();
        let log = FirewallLog::open(&dir.path().join(FIREWALL_LOG_FILE)).unwrap();
        for chunk in 0..100u32 {
            log.submit(
                (0..10_000)
                    .map(|i| {
                        record(
                            chunk * 10_000 + i,
                            if i % 10 == 0 { "rare" } else { "common" },
                        )
                    })
                    .collect(),
            )
            .unwrap();
        }
        log.flush().unwrap();
        assert_eq!(log.count().unwrap(), 1_000_000);
        for filter in [
            FirewallFilter {
                rule: Some("rare".into()),
                limit: 100,
                ..FirewallFilter::default()
            },
            FirewallFilter {
                source: Some(AddressRange::single("198.51.100.7".parse().unwrap())),
                limit: 100,
                ..FirewallFilter::default()
            },
            FirewallFilter {
                action: Some("drop".into()),
                limit: 100,
                ..FirewallFilter::default()
            },
        ] {
            let _warm = log.reader().query(&filter).unwrap();
            let started = Instant::now();
            let (rows, _) = log.reader().query(&filter).unwrap();
            let took = started.elapsed();
            assert_eq!(rows.len(), 100);
            assert!(took < Duration::from_millis(20), "{filter:?} took {took:?}");
        }
    }
}
