//! The parser against messages built by dhcproto (an independent encoder), hand-made malformed bytes,
//! and property tests: arbitrary bytes never panic, valid replies round-trip, truncations and
//! over-long lengths are errors.

use super::*;
use dhcproto::v6::{Message, MessageType, UnknownOption};
use dhcproto::{Decodable, Decoder};
use proptest::prelude::*;

const CLIENT: &[u8] = &[0, 3, 0, 1, 2, 0, 0, 0, 0, 1];
const SERVER: &[u8] = &[0, 3, 0, 1, 2, 0, 0, 0, 0, 0xa];

fn status_option(s: &Status) -> DhcpOption {
    DhcpOption::StatusCode(v6::StatusCode {
        status: s.code.into(),
        msg: s.message.clone(),
    })
}

fn unknown(code: u16, data: Vec<u8>) -> DhcpOption {
    DhcpOption::Unknown(UnknownOption::new(OptionCode::from(code), data))
}

/// Encodes a server message with dhcproto, the domain names by hand (dhcproto compresses nothing
/// there, but goes through a DNS library; the raw form is what RFC 8415 §10 specifies).
fn server_bytes(r: &Reply) -> Vec<u8> {
    let kind = match r.kind {
        MessageKind::Advertise => MessageType::Advertise,
        MessageKind::Reconfigure => MessageType::Reconfigure,
        _ => MessageType::Reply,
    };
    let mut m = Message::new_with_id(kind, r.xid);
    let o = m.opts_mut();
    if let Some(c) = &r.client_id {
        o.insert(DhcpOption::ClientId(c.clone()));
    }
    if let Some(s) = &r.server_id {
        o.insert(DhcpOption::ServerId(s.clone()));
    }
    if let Some(p) = r.preference {
        o.insert(DhcpOption::Preference(p));
    }
    if let Some(a) = r.server_unicast {
        o.insert(DhcpOption::ServerUnicast(a));
    }
    if let Some(s) = &r.status {
        o.insert(status_option(s));
    }
    if r.rapid_commit {
        o.insert(DhcpOption::RapidCommit);
    }
    for ia in &r.ia_pds {
        let mut inner = DhcpOptions::new();
        // dhcproto inserts an option before the ones with the same code: add them last to first.
        for p in ia.prefixes.iter().rev() {
            let mut po = DhcpOptions::new();
            if let Some(s) = &p.status {
                po.insert(status_option(s));
            }
            inner.insert(DhcpOption::IAPrefix(v6::IAPrefix {
                preferred_lifetime: p.preferred_lifetime,
                valid_lifetime: p.valid_lifetime,
                prefix_len: p.length,
                prefix_ip: p.prefix,
                opts: po,
            }));
        }
        if let Some(s) = &ia.status {
            inner.insert(status_option(s));
        }
        o.insert(DhcpOption::IAPD(v6::IAPD {
            id: ia.iaid,
            t1: ia.t1,
            t2: ia.t2,
            opts: inner,
        }));
    }
    if !r.dns_servers.is_empty() {
        o.insert(DhcpOption::DomainNameServers(r.dns_servers.clone()));
    }
    if !r.sntp_servers.is_empty() {
        let raw = r.sntp_servers.iter().flat_map(|a| a.octets()).collect();
        o.insert(unknown(option::SNTP_SERVERS, raw));
    }
    if !r.domain_search.is_empty() {
        o.insert(unknown(
            option::DOMAIN_SEARCH,
            encode_names(&r.domain_search).unwrap(),
        ));
    }
    if let Some(a) = &r.aftr_name {
        o.insert(unknown(
            option::AFTR_NAME,
            encode_names(std::slice::from_ref(a)).unwrap(),
        ));
    }
    if let Some(v) = r.sol_max_rt {
        o.insert(unknown(option::SOL_MAX_RT, v.to_be_bytes().to_vec()));
    }
    if let Some(v) = r.inf_max_rt {
        o.insert(unknown(option::INF_MAX_RT, v.to_be_bytes().to_vec()));
    }
    m.to_vec().unwrap()
}

fn sample() -> Reply {
    let mut r = Reply::new(MessageKind::Reply, [1, 2, 3]);
    r.client_id = Some(CLIENT.to_vec());
    r.server_id = Some(SERVER.to_vec());
    r.preference = Some(7);
    r.server_unicast = Some("2001:db8::547".parse().unwrap());
    r.rapid_commit = true;
    r.ia_pds = vec![IaPd {
        iaid: 7,
        t1: 1800,
        t2: 2880,
        prefixes: vec![IaPrefix {
            preferred_lifetime: 3600,
            valid_lifetime: 7200,
            length: 56,
            prefix: "2001:db8:1200::".parse().unwrap(),
            status: None,
        }],
        status: Some(Status {
            code: 0,
            message: "ok".into(),
        }),
    }];
    r.dns_servers = vec!["2001:db8::53".parse().unwrap()];
    r.domain_search = vec!["example.net".into(), "lan.example.net".into()];
    r.sntp_servers = vec!["2001:db8::123".parse().unwrap()];
    r.aftr_name = Some("aftr.example.net".into());
    r
}

#[test]
fn a_full_reply_built_by_dhcproto_parses_back() {
    let r = sample();
    assert_eq!(parse_reply(&server_bytes(&r)), Ok(r));
}

#[test]
fn client_messages_are_what_dhcproto_decodes() {
    let o = Outgoing {
        kind: MessageKind::Renew,
        xid: [0xab, 0xcd, 0xef],
        client_id: CLIENT.to_vec(),
        server_id: Some(SERVER.to_vec()),
        elapsed_centiseconds: 250,
        ia_pd: Some(OutgoingIaPd {
            iaid: 7,
            t1: 0,
            t2: 0,
            prefixes: vec![IaPrefix {
                preferred_lifetime: 0,
                valid_lifetime: 0,
                length: 56,
                prefix: "2001:db8:1200::".parse().unwrap(),
                status: None,
            }],
        }),
        oro: vec![23, 24, 31, 64],
        rapid_commit: false,
    };
    let bytes = encode(&o).unwrap();
    let m = Message::decode(&mut Decoder::new(&bytes)).unwrap();
    assert_eq!(m.msg_type(), MessageType::Renew);
    assert_eq!(m.xid(), [0xab, 0xcd, 0xef]);
    assert_eq!(
        m.opts().get(OptionCode::ElapsedTime),
        Some(&DhcpOption::ElapsedTime(250))
    );
    assert_eq!(
        m.opts().get(OptionCode::ServerId),
        Some(&DhcpOption::ServerId(SERVER.to_vec()))
    );
    let Some(DhcpOption::ORO(oro)) = m.opts().get(OptionCode::ORO) else {
        panic!()
    };
    let codes: Vec<u16> = oro.opts.iter().map(|c| u16::from(*c)).collect();
    assert_eq!(codes, [23, 24, 31, 64]);
    assert!(m.opts().get(OptionCode::RapidCommit).is_none());
    // The exact wire bytes of the IA_PD: code 25, length 12 + 29, IAID 7, T1 0, T2 0, then the IA
    // Prefix (code 26, length 25).
    let ia_at = bytes
        .windows(4)
        .position(|w| w == [0, 25, 0, 41])
        .expect("IA_PD header");
    assert_eq!(
        &bytes[ia_at + 4..ia_at + 16],
        &[0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(&bytes[ia_at + 16..ia_at + 20], &[0, 26, 0, 25]);
    assert_eq!(bytes[ia_at + 28], 56);
}

#[test]
fn messages_clients_send_are_not_server_messages() {
    for t in [1u8, 3, 4, 5, 6, 8, 9, 11, 12, 13, 0, 255] {
        assert_eq!(
            parse_reply(&[t, 0, 0, 0]),
            Err(ParseError::NotServerMessage(t))
        );
    }
    assert_eq!(parse_reply(&[7, 0, 0]), Err(ParseError::TooShort(3)));
    assert!(parse_reply(&[7, 0, 0, 0]).is_ok());
    assert_eq!(
        parse_reply(&[10, 1, 2, 3]).map(|r| r.kind),
        Ok(MessageKind::Reconfigure)
    );
}

#[test]
fn malformed_options_are_errors() {
    let with = |opts: &[u8]| {
        let mut b = vec![7, 1, 2, 3];
        b.extend_from_slice(opts);
        parse_reply(&b)
    };
    assert_eq!(with(&[0, 1, 0]), Err(ParseError::TruncatedHeader(0)));
    assert_eq!(
        with(&[0, 1, 0, 5, 1, 2]),
        Err(ParseError::OptionOverrun {
            code: 1,
            claimed: 5,
            available: 2
        })
    );
    // Status code shorter than its 2-byte code (dhcproto would underflow here).
    assert_eq!(
        with(&[0, 13, 0, 1, 0]),
        Err(ParseError::BadLength { code: 13, len: 1 })
    );
    assert_eq!(
        with(&[0, 7, 0, 2, 1, 1]),
        Err(ParseError::BadLength { code: 7, len: 2 })
    );
    assert_eq!(
        with(&[0, 14, 0, 1, 0]),
        Err(ParseError::BadLength { code: 14, len: 1 })
    );
    assert_eq!(
        with(&[0, 23, 0, 3, 1, 2, 3]),
        Err(ParseError::BadLength { code: 23, len: 3 })
    );
    assert_eq!(
        with(&[0, 2, 0, 1, 9]),
        Err(ParseError::BadLength { code: 2, len: 1 })
    );
    // SOL_MAX_RT / INF_MAX_RT: exactly 4 bytes, once.
    assert_eq!(
        with(&[0, 82, 0, 2, 0, 60]),
        Err(ParseError::BadLength { code: 82, len: 2 })
    );
    assert_eq!(
        with(&[0, 83, 0, 4, 0, 0, 0, 60, 0, 83, 0, 4, 0, 0, 0, 61]),
        Err(ParseError::Duplicate(83))
    );
    assert_eq!(
        with(&[0, 82, 0, 4, 0, 0, 0, 120]).map(|r| r.sol_max_rt),
        Ok(Some(120))
    );
    assert_eq!(
        with(&[0, 2, 0, 2, 0, 1, 0, 2, 0, 2, 0, 1]),
        Err(ParseError::Duplicate(2))
    );
    // IA_PD shorter than its 12 fixed bytes; an IA Prefix running past its IA_PD.
    assert_eq!(
        with(&[0, 25, 0, 4, 0, 0, 0, 7]),
        Err(ParseError::BadLength { code: 25, len: 4 })
    );
    let mut ia = vec![0, 25, 0, 16, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0];
    ia.extend_from_slice(&[0, 26, 0, 25]);
    assert!(matches!(
        with(&ia),
        Err(ParseError::OptionOverrun { code: 26, .. })
    ));
    // Prefix length over 128.
    let mut ia = vec![0, 25, 0, 41, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0];
    ia.extend_from_slice(&[0, 26, 0, 25, 0, 0, 0, 1, 0, 0, 0, 2, 129]);
    ia.extend_from_slice(&[0; 16]);
    assert_eq!(with(&ia), Err(ParseError::BadPrefixLength(129)));
    // Unknown options are skipped.
    assert!(with(&[0, 99, 0, 2, 1, 2]).is_ok());
}

#[test]
fn domain_names_are_checked_label_by_label() {
    let name = |body: &[u8]| {
        let mut b = vec![7, 1, 2, 3, 0, 24];
        b.extend_from_slice(&(body.len() as u16).to_be_bytes());
        b.extend_from_slice(body);
        parse_reply(&b)
    };
    assert_eq!(
        name(b"\x03foo\x03bar\x00\x01a\x00").map(|r| r.domain_search),
        Ok(vec!["foo.bar".to_string(), "a".to_string()])
    );
    let bad = |body: &[u8]| matches!(name(body), Err(ParseError::BadName { code: 24, .. }));
    assert!(bad(b"\x03foo"), "not terminated");
    assert!(bad(b"\x05foo\x00"), "label past the option");
    assert!(bad(b"\xc0\x0c"), "compression pointer");
    assert!(bad(b"\x00"), "empty name");
    assert!(bad(b"\x03f o\x00"), "space");
    assert!(bad(b"\x03f\no\x00"), "newline");
    assert!(bad(b"\x03f.o\x00"), "dot inside a label");
    let long: Vec<u8> = (0..5)
        .flat_map(|_| {
            let mut l = vec![63u8];
            l.extend_from_slice(&[b'a'; 63]);
            l
        })
        .chain([0])
        .collect();
    assert!(bad(&long), "over 255 bytes");
    // AFTR name: exactly one name filling the option.
    let aftr = |body: &[u8]| {
        let mut b = vec![7, 1, 2, 3, 0, 64];
        b.extend_from_slice(&(body.len() as u16).to_be_bytes());
        b.extend_from_slice(body);
        parse_reply(&b)
    };
    assert_eq!(
        aftr(b"\x04aftr\x03net\x00").map(|r| r.aftr_name),
        Ok(Some("aftr.net".into()))
    );
    assert!(aftr(b"\x04aftr\x00\x01x\x00").is_err(), "two names");
    assert_eq!(encode_names(&["".to_string()]), None);
    assert_eq!(encode_names(&["a..b".to_string()]), None);
    assert_eq!(
        encode_names(&["a.b.".to_string()]),
        Some(b"\x01a\x01b\x00".to_vec())
    );
}

#[test]
fn status_names_follow_the_registry() {
    assert_eq!(status_name(0), "Success");
    assert_eq!(status_name(3), "NoBinding");
    assert_eq!(status_name(5), "UseMulticast");
    assert_eq!(status_name(6), "NoPrefixAvail");
    assert_eq!(status_name(22), "ExcessiveTimeSkew");
    assert_eq!(status_name(999), "Status999");
}

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9-]{0,20}"
}

fn name() -> impl Strategy<Value = String> {
    prop::collection::vec(label(), 1..4).prop_map(|l| l.join("."))
}

fn addr6() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from)
}

fn status_strategy() -> impl Strategy<Value = Option<Status>> {
    prop::option::of((0u16..30, "[ -~]{0,20}").prop_map(|(code, message)| Status { code, message }))
}

fn ia_prefix() -> impl Strategy<Value = IaPrefix> {
    (
        any::<u32>(),
        any::<u32>(),
        0u8..=128,
        addr6(),
        status_strategy(),
    )
        .prop_map(
            |(preferred_lifetime, valid_lifetime, length, prefix, status)| IaPrefix {
                preferred_lifetime,
                valid_lifetime,
                length,
                prefix,
                status,
            },
        )
}

fn ia_pd() -> impl Strategy<Value = IaPd> {
    (
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        prop::collection::vec(ia_prefix(), 0..3),
        status_strategy(),
    )
        .prop_map(|(iaid, t1, t2, prefixes, status)| IaPd {
            iaid,
            t1,
            t2,
            prefixes,
            status,
        })
}

fn duid() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 2..=MAX_DUID)
}

prop_compose! {
    fn reply()(
        advertise in any::<bool>(),
        xid in any::<[u8; 3]>(),
        client_id in prop::option::of(duid()),
        server_id in prop::option::of(duid()),
        preference in prop::option::of(any::<u8>()),
        rapid_commit in any::<bool>(),
        server_unicast in prop::option::of(addr6()),
        status in status_strategy(),
        ia_pd in prop::option::of(ia_pd()),
        dns_servers in prop::collection::vec(addr6(), 0..3),
        domain_search in prop::collection::vec(name(), 0..3),
        sntp_servers in prop::collection::vec(addr6(), 0..3),
        aftr_name in prop::option::of(name()),
        sol_max_rt in prop::option::of(any::<u32>()),
        inf_max_rt in prop::option::of(any::<u32>()),
    ) -> Reply {
        Reply {
            kind: if advertise { MessageKind::Advertise } else { MessageKind::Reply },
            xid,
            client_id,
            server_id,
            preference,
            rapid_commit,
            server_unicast,
            status,
            ia_pds: ia_pd.into_iter().collect(),
            dns_servers,
            domain_search,
            sntp_servers,
            aftr_name,
            sol_max_rt,
            inf_max_rt,
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_reply(&bytes);
    }

    #[test]
    fn arbitrary_options_after_a_reply_header_never_panic(
        opts in prop::collection::vec((0u16..80, prop::collection::vec(any::<u8>(), 0..60)), 0..8)
    ) {
        let mut b = vec![7, 1, 2, 3];
        for (code, body) in opts {
            b.extend_from_slice(&code.to_be_bytes());
            b.extend_from_slice(&(body.len() as u16).to_be_bytes());
            b.extend_from_slice(&body);
        }
        let _ = parse_reply(&b);
    }

    #[test]
    fn valid_replies_round_trip(r in reply()) {
        let bytes = server_bytes(&r);
        prop_assert_eq!(parse_reply(&bytes), Ok(r));
    }

    #[test]
    fn truncated_replies_are_errors(r in reply(), cut in 1usize..64) {
        let bytes = server_bytes(&r);
        // Cutting inside an option (not on a boundary between top-level options) must be an error.
        prop_assume!(bytes.len() > 4 + cut);
        let end = bytes.len() - cut;
        let mut boundaries = vec![4usize];
        let mut at = 4usize;
        for (_, body) in walk(&bytes[4..]).unwrap() {
            at += 4 + body.len();
            boundaries.push(at);
        }
        prop_assume!(!boundaries.contains(&end));
        let truncated = &bytes[..end];
        prop_assert!(parse_reply(truncated).is_err());
    }

    #[test]
    fn over_long_option_lengths_are_errors(r in reply(), extra in 1u16..300) {
        let mut bytes = server_bytes(&r);
        prop_assume!(bytes.len() > 4);
        // Lengthen the first option's length field past the end of the message.
        let len = u16::from_be_bytes([bytes[6], bytes[7]]);
        let longer = len.saturating_add(extra);
        prop_assume!(usize::from(longer) > bytes.len() - 8);
        bytes[6..8].copy_from_slice(&longer.to_be_bytes());
        let is_overrun = matches!(parse_reply(&bytes), Err(ParseError::OptionOverrun { .. }));
        prop_assert!(is_overrun);
    }
}
