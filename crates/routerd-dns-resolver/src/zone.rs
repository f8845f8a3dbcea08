//! The names this resolver answers itself, authoritatively: `spec.localRecords` (A, AAAA, CNAME, TXT,
//! PTR) and the host names the DHCP server registered (A/AAAA), with a PTR for every address. Answers are
//! built once, when the config is loaded, as wire bytes; a query copies one and patches its ID and
//! question like a cache hit.

use crate::cache::StoredAnswer;
use crate::wire::{scan_response, Question, MAX_NAME};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, PTR, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncodable;
use routerd_api::spec::{LocalRecord, RegisteredHost};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

/// TTL of local answers: short enough that a changed record is seen within minutes.
pub const LOCAL_TTL: u32 = 300;
/// UDP payload size this resolver announces in its own EDNS answers (the DNS flag day 2020 value).
pub const EDNS_PAYLOAD: u16 = 1232;
/// The record types a local name can hold.
const LOCAL_TYPES: [RecordType; 5] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::CNAME,
    RecordType::TXT,
    RecordType::PTR,
];

/// The local names and their prepared answers.
#[derive(Default)]
pub struct Zone {
    /// name wire + type + EDNS flag → answer.
    answers: HashMap<Box<[u8]>, StoredAnswer>,
    /// name wire + EDNS flag → the NOERROR/no-data answer for any other type.
    no_data: HashMap<Box<[u8]>, StoredAnswer>,
    names: usize,
}

/// Parses a configured name (`router.lan`, `router.lan.`) as a fully qualified name.
fn fqdn(name: &str) -> Result<Name, String> {
    let mut n = Name::from_str(name).map_err(|e| format!("{name:?} is not a domain name: {e}"))?;
    n.set_fqdn(true);
    Ok(n.to_lowercase())
}

impl Zone {
    /// The zone of `records` and `hosts`; the error names the entry.
    pub fn build(records: &[LocalRecord], hosts: &[RegisteredHost]) -> Result<Zone, String> {
        let mut by_name: BTreeMap<Name, Vec<Record>> = BTreeMap::new();
        let mut reverse: Vec<(IpAddr, Name)> = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let field = |m: String| format!("localRecords[{i}]: {m}");
            let name = fqdn(&r.name).map_err(field)?;
            let rdata = match r.type_.to_ascii_uppercase().as_str() {
                "A" => {
                    let a: std::net::Ipv4Addr = r.value.parse().map_err(|_| {
                        field(format!("value {:?} is not an IPv4 address", r.value))
                    })?;
                    reverse.push((IpAddr::V4(a), name.clone()));
                    RData::A(A(a))
                }
                "AAAA" => {
                    let a: std::net::Ipv6Addr = r.value.parse().map_err(|_| {
                        field(format!("value {:?} is not an IPv6 address", r.value))
                    })?;
                    reverse.push((IpAddr::V6(a), name.clone()));
                    RData::AAAA(AAAA(a))
                }
                "CNAME" => RData::CNAME(CNAME(fqdn(&r.value).map_err(field)?)),
                "PTR" => RData::PTR(PTR(fqdn(&r.value).map_err(field)?)),
                "TXT" => RData::TXT(TXT::new(
                    r.value
                        .as_bytes()
                        .chunks(255)
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect(),
                )),
                other => {
                    return Err(field(format!(
                        "type {other:?} is not one of A, AAAA, CNAME, TXT, PTR"
                    )))
                }
            };
            by_name
                .entry(name.clone())
                .or_default()
                .push(Record::from_rdata(name, LOCAL_TTL, rdata));
        }
        for (i, h) in hosts.iter().enumerate() {
            let field = |m: String| format!("registeredHosts[{i}]: {m}");
            let name = fqdn(&h.name).map_err(field)?;
            for a in &h.addresses {
                let address: IpAddr = a
                    .parse()
                    .map_err(|_| field(format!("{a:?} is not an IP address")))?;
                let rdata = match address {
                    IpAddr::V4(v4) => RData::A(A(v4)),
                    IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
                };
                reverse.push((address, name.clone()));
                by_name
                    .entry(name.clone())
                    .or_default()
                    .push(Record::from_rdata(name.clone(), LOCAL_TTL, rdata));
            }
        }
        for (address, target) in reverse {
            let ptr_name = match address {
                IpAddr::V4(v4) => Name::from(v4),
                IpAddr::V6(v6) => Name::from(v6),
            }
            .to_lowercase();
            let records = by_name.entry(ptr_name.clone()).or_default();
            // An explicit PTR, or the first name with this address, wins.
            if !records.iter().any(|r| r.record_type() == RecordType::PTR) {
                records.push(Record::from_rdata(
                    ptr_name,
                    LOCAL_TTL,
                    RData::PTR(PTR(target)),
                ));
            }
        }
        let mut zone = Zone {
            names: by_name.len(),
            ..Zone::default()
        };
        for (name, records) in &by_name {
            let wire = name_wire(name)?;
            let cname = records
                .iter()
                .find(|r| r.record_type() == RecordType::CNAME);
            for edns in [false, true] {
                for qtype in LOCAL_TYPES {
                    let mut answers: Vec<Record> = records
                        .iter()
                        .filter(|r| r.record_type() == qtype)
                        .cloned()
                        .collect();
                    if answers.is_empty() {
                        // A CNAME answers every type, with its target's records when they are local.
                        if let Some(c) = cname {
                            answers.push(c.clone());
                            if let RData::CNAME(CNAME(target)) = &c.data {
                                if let Some(t) = by_name.get(target) {
                                    answers.extend(
                                        t.iter().filter(|r| r.record_type() == qtype).cloned(),
                                    );
                                }
                            }
                        }
                    }
                    if answers.is_empty() {
                        continue;
                    }
                    let mut key = wire.clone();
                    key.extend_from_slice(&u16::from(qtype).to_be_bytes());
                    key.push(u8::from(edns));
                    zone.answers
                        .insert(key.into(), prepared(name, qtype, answers, edns)?);
                }
                let mut key = wire.clone();
                key.push(u8::from(edns));
                zone.no_data
                    .insert(key.into(), prepared(name, RecordType::A, Vec::new(), edns)?);
            }
        }
        Ok(zone)
    }

    /// Names with records (including the generated PTR names).
    pub fn len(&self) -> usize {
        self.names
    }

    pub fn is_empty(&self) -> bool {
        self.names == 0
    }

    /// The prepared answer to `question`, when its name is local (class IN only).
    pub fn answer(&self, question: &Question) -> Option<&StoredAnswer> {
        if question.qclass != 1 || self.names == 0 {
            return None;
        }
        let name = question.name_wire();
        let edns = u8::from(question.edns.is_some());
        let mut key = [0u8; MAX_NAME + 3];
        let n = name.len();
        key[..n].copy_from_slice(name);
        key[n..n + 2].copy_from_slice(&question.qtype.to_be_bytes());
        key[n + 2] = edns;
        if let Some(a) = self.answers.get(&key[..n + 3]) {
            return Some(a);
        }
        key[n] = edns;
        self.no_data.get(&key[..n + 1])
    }
}

fn name_wire(name: &Name) -> Result<Vec<u8>, String> {
    name.to_bytes()
        .map_err(|e| format!("{name}: cannot be encoded: {e}"))
}

/// An authoritative answer for `name`/`qtype` with `answers`, as wire bytes with ID 0.
fn prepared(
    name: &Name,
    qtype: RecordType,
    answers: Vec<Record>,
    edns: bool,
) -> Result<StoredAnswer, String> {
    let mut m = Message::new(0, MessageType::Response, OpCode::Query);
    m.metadata.authoritative = true;
    m.metadata.recursion_available = true;
    m.add_query(Query::query(name.clone(), qtype));
    m.add_answers(answers);
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(EDNS_PAYLOAD);
        m.set_edns(e);
    }
    let wire: Arc<[u8]> = m
        .to_vec()
        .map_err(|e| format!("{name}: answer cannot be encoded: {e}"))?
        .into();
    let scan = scan_response(&wire).ok_or_else(|| format!("{name}: answer does not scan"))?;
    Ok(StoredAnswer::new(wire, &scan))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::parse_query;

    fn record(name: &str, t: &str, value: &str) -> LocalRecord {
        LocalRecord {
            name: name.into(),
            type_: t.into(),
            value: value.into(),
        }
    }

    fn ask(zone: &Zone, name: &str, qtype: RecordType, edns: bool) -> Option<Message> {
        let mut q = Message::new(42, MessageType::Query, OpCode::Query);
        q.add_query(Query::query(Name::from_str(name).unwrap(), qtype));
        if edns {
            q.set_edns(Edns::new());
        }
        let mut raw = q.to_vec().unwrap();
        // hickory lower-cases what it encodes: ask with the first letter upper case by hand.
        raw[13] = raw[13].to_ascii_uppercase();
        let question = parse_query(&raw).unwrap();
        let answer = zone.answer(&question)?;
        let mut out = Vec::new();
        answer.write_for(&raw, &question, std::time::Duration::ZERO, &mut out);
        Some(Message::from_vec(&out).unwrap())
    }

    fn zone() -> Zone {
        Zone::build(
            &[
                record("router.lan", "A", "192.168.1.1"),
                record("router.lan", "AAAA", "fd00::1"),
                record("www.lan", "CNAME", "router.lan"),
                record("info.lan", "TXT", "hello world"),
            ],
            &[RegisteredHost {
                name: "laptop.lan".into(),
                addresses: vec!["192.168.1.50".into()],
            }],
        )
        .unwrap()
    }

    #[test]
    fn local_names_are_answered_authoritatively() {
        let z = zone();
        let a = ask(&z, "Router.LAN.", RecordType::A, false).unwrap();
        assert!(a.metadata.authoritative);
        assert_eq!(a.metadata.id, 42);
        assert_eq!(a.answers.len(), 1);
        assert_eq!(a.answers[0].data, RData::A(A::new(192, 168, 1, 1)));
        assert_eq!(a.queries[0].name().to_string(), "Router.lan.");
        let aaaa = ask(&z, "router.lan.", RecordType::AAAA, true).unwrap();
        assert_eq!(aaaa.answers.len(), 1);
        assert!(aaaa.edns.is_some());
        let txt = ask(&z, "info.lan.", RecordType::TXT, false).unwrap();
        assert_eq!(txt.answers[0].data.to_string(), "hello world");
        let host = ask(&z, "laptop.lan.", RecordType::A, false).unwrap();
        assert_eq!(host.answers.len(), 1);
    }

    #[test]
    fn every_address_has_a_ptr_and_a_cname_is_followed() {
        let z = zone();
        let ptr = ask(&z, "1.1.168.192.in-addr.arpa.", RecordType::PTR, false).unwrap();
        assert_eq!(ptr.answers[0].data.to_string(), "router.lan.");
        let ptr6 = ask(
            &z,
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.",
            RecordType::PTR,
            false,
        )
        .unwrap();
        assert_eq!(ptr6.answers[0].data.to_string(), "router.lan.");
        let host_ptr = ask(&z, "50.1.168.192.in-addr.arpa.", RecordType::PTR, false).unwrap();
        assert_eq!(host_ptr.answers[0].data.to_string(), "laptop.lan.");
        let www = ask(&z, "www.lan.", RecordType::A, false).unwrap();
        assert_eq!(www.answers.len(), 2);
        assert_eq!(www.answers[0].record_type(), RecordType::CNAME);
    }

    #[test]
    fn other_types_get_no_data_and_other_names_are_not_local() {
        let z = zone();
        let mx = ask(&z, "router.lan.", RecordType::MX, false).unwrap();
        assert!(mx.answers.is_empty());
        assert_eq!(mx.queries[0].query_type(), RecordType::MX);
        assert!(ask(&z, "example.com.", RecordType::A, false).is_none());
    }

    #[test]
    fn bad_records_name_the_entry() {
        let err = Zone::build(&[record("x.lan", "A", "not-an-address")], &[]).err();
        assert!(err.unwrap().starts_with("localRecords[0]"));
        let err = Zone::build(&[record("x.lan", "MX", "y")], &[]).err();
        assert!(err.unwrap().contains("MX"));
    }
}
