//! The sans-IO access concentrator: discovery (RFC 2516 §5, server side), the table of sessions keyed
//! by (peer MAC, session id), the forwarding decisions of the data plane and the fault knobs.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Instant;

use routerd_pppoe_client::negotiation::Timers;
use routerd_proto::ppp::auth::chap_md5_response;
use routerd_proto::ppp::{Packet, Protocol, Secret};
use routerd_proto::pppoe::{
    tag_type, Code, DiscoveryPacket, SessionFrame, Tag, ETHERTYPE_DISCOVERY, ETHERTYPE_SESSION,
};
use routerd_sansio::{Now, Random};
use serde_json::json;

use crate::policy::AuthKind;
use crate::session::{Effects, Session};
use crate::{format_mac, Mac};

/// More sessions than a test ever opens: beyond it a PADR gets AC-System-Error (RFC 2516 §5.4).
pub const MAX_SESSIONS: usize = 64;

/// The Ethernet broadcast address, where PADIs go.
pub const BROADCAST: Mac = [0xff; 6];

/// What the access concentrator offers and checks.
#[derive(Debug, Clone)]
pub struct Config {
    /// Our AC-Name.
    pub ac_name: String,
    /// Service-Names we offer besides the empty one ("any service"), which is always accepted.
    pub service_names: Vec<String>,
    /// The authentication we demand.
    pub auth: AuthKind,
    /// The user name a client must authenticate as (any when `None`).
    pub username: Option<String>,
    /// The password or CHAP secret (any password is taken when `None`).
    pub password: Option<Secret>,
    /// Our IPv4 address on the link.
    pub local_ipv4: Ipv4Addr,
    /// The address every client is given.
    pub peer_ipv4: Ipv4Addr,
    /// Up to two DNS servers handed out by IPCP (RFC 1877).
    pub dns: Vec<Ipv4Addr>,
    /// Our IPv6CP Interface-Identifier (the TUN's link-local is `fe80::<it>`).
    pub interface_id: [u8; 8],
    /// Our Ethernet address.
    pub mac: Mac,
    /// The RFC 1661 timers of LCP, IPCP and IPv6CP.
    pub timers: Timers,
}

/// The fault knobs of the control socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Knobs {
    /// Answer LCP Echo-Requests (`echo-replies on|off`).
    pub echo_replies: bool,
    /// Ignore every frame, PADI included (`silent on|off`).
    pub silent: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            echo_replies: true,
            silent: false,
        }
    }
}

/// Counters reported by `stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// PADIs received (also while silent: the count shows a client's backoff).
    pub padi_received: u64,
    /// LCP Echo-Requests received (also while replies are off).
    pub echo_requests_received: u64,
    /// LCP Echo-Replies sent.
    pub echo_replies_sent: u64,
    /// PADTs received, for tracked sessions or not.
    pub padt_received: u64,
    /// Failed PAP/CHAP authentications.
    pub auth_failures: u64,
    /// NCP openings so far (orders sessions: the newest open one carries the TUN's traffic).
    pub ncp_openings: u64,
}

/// What the concentrator asks of the outside world.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A whole Ethernet frame to send (destination, source, EtherType, payload).
    Frame(Vec<u8>),
    /// A notable thing, printed as one JSON line.
    Note(serde_json::Value),
}

/// The access concentrator's protocol state.
pub struct Concentrator {
    config: Config,
    knobs: Knobs,
    stats: Stats,
    random: Box<dyn Random>,
    cookie_key: Secret,
    sessions: BTreeMap<(Mac, u16), Session>,
    /// The session the TUN's datagrams go to: the newest with an opened NCP.
    data_session: Option<(Mac, u16)>,
}

impl Concentrator {
    /// A concentrator with no sessions; `random` draws session ids, cookies, magic numbers, challenges.
    pub fn new(config: Config, mut random: Box<dyn Random>) -> Self {
        let key: Vec<u8> = (0..4)
            .flat_map(|_| random.next_u32().to_be_bytes())
            .collect();
        Self {
            config,
            knobs: Knobs::default(),
            stats: Stats::default(),
            random,
            cookie_key: Secret::new(key),
            sessions: BTreeMap::new(),
            data_session: None,
        }
    }

    /// The fault knobs, to change them.
    pub fn knobs_mut(&mut self) -> &mut Knobs {
        &mut self.knobs
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The `stats` answer of the control socket.
    pub fn stats_json(&self) -> serde_json::Value {
        json!({
            "padiReceived": self.stats.padi_received,
            "sessions": self.sessions.values().map(Session::stats_json).collect::<Vec<_>>(),
            "echoRequestsReceived": self.stats.echo_requests_received,
            "echoRepliesSent": self.stats.echo_replies_sent,
            "padtReceived": self.stats.padt_received,
            "authFailures": self.stats.auth_failures,
            "echoReplies": self.knobs.echo_replies,
            "silent": self.knobs.silent,
        })
    }

    /// One received Ethernet frame (header included). Returns the IP datagram it carries when it is
    /// one for the TUN (borrowed: the data plane costs no copy here); everything else lands in `out`.
    pub fn handle_frame<'a>(
        &mut self,
        frame: &'a [u8],
        now: Now,
        out: &mut Vec<Output>,
    ) -> Option<&'a [u8]> {
        if frame.len() < 14 {
            return None;
        }
        if self.knobs.silent {
            // Counted all the same: a test of the client's backoff reads the PADI count.
            let padi = frame[12..14] == ETHERTYPE_DISCOVERY.to_be_bytes()
                && matches!(DiscoveryPacket::decode(&frame[14..]), Ok(p) if p.code == Code::Padi);
            if padi {
                self.stats.padi_received += 1;
            }
            return None;
        }
        let (dst, rest) = frame.split_at(6);
        let (src, rest) = rest.split_at(6);
        let (ethertype, payload) = rest.split_at(2);
        let (Ok(dst), Ok(src)) = (<Mac>::try_from(dst), <Mac>::try_from(src)) else {
            return None;
        };
        if src == self.config.mac || (dst != self.config.mac && dst != BROADCAST) {
            return None;
        }
        match u16::from_be_bytes([ethertype[0], ethertype[1]]) {
            ETHERTYPE_DISCOVERY => {
                self.handle_discovery(src, dst == BROADCAST, payload, now, out);
                None
            }
            ETHERTYPE_SESSION if dst == self.config.mac => {
                self.handle_session(src, payload, now, out)
            }
            _ => None,
        }
    }

    fn handle_discovery(
        &mut self,
        src: Mac,
        broadcast: bool,
        payload: &[u8],
        now: Now,
        out: &mut Vec<Output>,
    ) {
        let Ok(packet) = DiscoveryPacket::decode(payload) else {
            return;
        };
        match packet.code {
            Code::Padi if broadcast => self.padi(src, &packet, out),
            Code::Padr if !broadcast => self.padr(src, &packet, now, out),
            Code::Padt if !broadcast => {
                self.stats.padt_received += 1;
                let known = self.sessions.contains_key(&(src, packet.session_id));
                note(
                    out,
                    "padt-received",
                    json!({"peerMAC": format_mac(&src), "sessionID": packet.session_id, "known": known}),
                );
                self.remove(src, packet.session_id);
            }
            _ => {}
        }
    }

    /// The service a PADI/PADR asks for ("" when it names none) and whether we offer it.
    fn requested_service(&self, packet: &DiscoveryPacket) -> (Vec<u8>, bool) {
        let asked = match packet.find(tag_type::SERVICE_NAME) {
            Some(Tag::ServiceName(name)) => name.clone(),
            _ => Vec::new(),
        };
        let offered = asked.is_empty()
            || self
                .config
                .service_names
                .iter()
                .any(|name| name.as_bytes() == asked.as_slice());
        (asked, offered)
    }

    /// The AC-Cookie for a client: a keyed hash of its MAC, so a PADR proves it saw our PADO without
    /// the AC keeping per-PADI state (RFC 2516 Appendix A suggests exactly this). The MD5 is the CHAP
    /// one, MD5(0 || key || MAC): a test tool needs no stronger MAC.
    fn cookie(&self, mac: &Mac) -> Vec<u8> {
        chap_md5_response(0, &self.cookie_key, mac).to_vec()
    }

    /// The tags a reply must echo (RFC 2516 §5: Host-Uniq and Relay-Session-Id).
    fn echoed(packet: &DiscoveryPacket) -> impl Iterator<Item = Tag> + '_ {
        packet
            .tags
            .iter()
            .filter(|tag| matches!(tag, Tag::HostUniq(_) | Tag::RelaySessionId(_)))
            .cloned()
    }

    fn padi(&mut self, src: Mac, packet: &DiscoveryPacket, out: &mut Vec<Output>) {
        self.stats.padi_received += 1;
        let (service, offered) = self.requested_service(packet);
        note(
            out,
            "padi",
            json!({"peerMAC": format_mac(&src), "serviceName": String::from_utf8_lossy(&service)}),
        );
        let mut tags = vec![Tag::AcName(self.config.ac_name.as_bytes().to_vec())];
        if offered {
            tags.push(Tag::ServiceName(service.clone()));
            for name in &self.config.service_names {
                if name.as_bytes() != service.as_slice() {
                    tags.push(Tag::ServiceName(name.as_bytes().to_vec()));
                }
            }
            tags.push(Tag::AcCookie(self.cookie(&src)));
        } else {
            tags.push(Tag::ServiceNameError(
                b"service not offered by this concentrator".to_vec(),
            ));
        }
        tags.extend(Self::echoed(packet));
        self.send_discovery(src, Code::Pado, 0, tags, out);
        note(
            out,
            "pado",
            json!({"peerMAC": format_mac(&src), "refused": !offered}),
        );
    }

    fn padr(&mut self, src: Mac, packet: &DiscoveryPacket, now: Now, out: &mut Vec<Output>) {
        let cookie_ok = matches!(packet.find(tag_type::AC_COOKIE),
            Some(Tag::AcCookie(cookie)) if *cookie == self.cookie(&src));
        if !cookie_ok {
            note(
                out,
                "padr-ignored",
                json!({"peerMAC": format_mac(&src), "reason": "missing or wrong AC-Cookie"}),
            );
            return;
        }
        let (service, offered) = self.requested_service(packet);
        let host_uniq = match packet.find(tag_type::HOST_UNIQ) {
            Some(Tag::HostUniq(value)) => Some(value.clone()),
            _ => None,
        };
        let mut tags = vec![Tag::ServiceName(service.clone())];
        if !offered {
            tags.push(Tag::ServiceNameError(
                b"service not offered by this concentrator".to_vec(),
            ));
            tags.extend(Self::echoed(packet));
            self.send_discovery(src, Code::Pads, 0, tags, out);
            note(
                out,
                "pads",
                json!({"peerMAC": format_mac(&src), "sessionID": 0, "refused": "Service-Name-Error"}),
            );
            return;
        }
        tags.extend(Self::echoed(packet));
        // A repeated PADR of a session that has not spoken yet: our PADS was lost, send it again.
        let repeated = self.sessions.values().find(|session| {
            session.peer == src && !session.heard_from && session.host_uniq == host_uniq
        });
        if let Some(session) = repeated {
            let id = session.id;
            self.send_discovery(src, Code::Pads, id, tags, out);
            return;
        }
        if self.sessions.len() >= MAX_SESSIONS {
            tags.push(Tag::AcSystemError(b"too many sessions".to_vec()));
            self.send_discovery(src, Code::Pads, 0, tags, out);
            return;
        }
        let id = self.new_session_id();
        self.send_discovery(src, Code::Pads, id, tags, out);
        note(
            out,
            "pads",
            json!({"peerMAC": format_mac(&src), "sessionID": id, "serviceName": String::from_utf8_lossy(&service)}),
        );
        let mut session = Session::new(src, id, &self.config, self.random.as_mut());
        session.host_uniq = host_uniq;
        self.sessions.insert((src, id), session);
        self.with_session((src, id), now, out, |session, config, now, fx| {
            session.start(config, now, fx)
        });
    }

    /// A random session id in 1..=0xfffe (RFC 2516 §5.4 reserves 0xffff) no session uses.
    fn new_session_id(&mut self) -> u16 {
        loop {
            let id = (self.random.next_u32() % 0xfffe) as u16 + 1;
            if !self.sessions.keys().any(|(_, used)| *used == id) {
                return id;
            }
        }
    }

    fn send_discovery(
        &self,
        dst: Mac,
        code: Code,
        session_id: u16,
        tags: Vec<Tag>,
        out: &mut Vec<Output>,
    ) {
        let mut frame = ethernet_header(dst, self.config.mac, ETHERTYPE_DISCOVERY);
        let packet = DiscoveryPacket {
            code,
            session_id,
            tags,
        };
        // Our own tags are bounded (names from the command line, echoed tags from a packet that fit),
        // so encoding fails only on a pathological command line; then nothing is sent.
        if packet.encode(&mut frame).is_ok() {
            out.push(Output::Frame(frame));
        }
    }

    fn handle_session<'a>(
        &mut self,
        src: Mac,
        payload: &'a [u8],
        now: Now,
        out: &mut Vec<Output>,
    ) -> Option<&'a [u8]> {
        let frame = SessionFrame::decode(payload).ok()?;
        let key = (src, frame.session_id);
        let session = self.sessions.get(&key)?;
        let packet = Packet::decode(frame.payload).ok()?;
        match packet {
            Packet::Ipv4(datagram) if session.ipcp_opened => return Some(datagram),
            Packet::Ipv6(datagram) if session.ipv6cp_opened => return Some(datagram),
            _ => {}
        }
        let echo_replies = self.knobs.echo_replies;
        self.with_session(key, now, out, |session, config, now, fx| {
            session.receive(packet, echo_replies, config, now, fx)
        });
        None
    }

    /// Runs `f` on a session, then sends what it produced, and forgets the session if LCP finished.
    fn with_session(
        &mut self,
        key: (Mac, u16),
        now: Now,
        out: &mut Vec<Output>,
        f: impl FnOnce(&mut Session, &Config, Now, &mut Effects<'_>),
    ) {
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        let mut fx = Effects {
            packets: Vec::new(),
            notes: Vec::new(),
            stats: &mut self.stats,
            random: self.random.as_mut(),
        };
        f(session, &self.config, now, &mut fx);
        let (packets, notes) = (fx.packets, fx.notes);
        for packet in packets {
            let mut frame = ethernet_header(session.peer, self.config.mac, ETHERTYPE_SESSION);
            if encode_session(session.id, &packet, &mut frame) {
                out.push(Output::Frame(frame));
            }
        }
        out.extend(notes.into_iter().map(Output::Note));
        let (finished, opened_order) = (session.finished, session.opened_order);
        let current = self
            .data_session
            .and_then(|k| self.sessions.get(&k))
            .and_then(|s| s.opened_order);
        if opened_order.is_some() && current < opened_order {
            self.data_session = Some(key);
        }
        if finished {
            self.send_padt(key, "LCP terminated", out);
            self.remove(key.0, key.1);
        }
    }

    fn send_padt(&self, (peer, id): (Mac, u16), reason: &str, out: &mut Vec<Output>) {
        let tags = vec![
            Tag::AcName(self.config.ac_name.as_bytes().to_vec()),
            Tag::GenericError(reason.as_bytes().to_vec()),
        ];
        self.send_discovery(peer, Code::Padt, id, tags, out);
        note(
            out,
            "padt-sent",
            json!({"peerMAC": format_mac(&peer), "sessionID": id, "reason": reason}),
        );
    }

    fn remove(&mut self, peer: Mac, id: u16) {
        if self.sessions.remove(&(peer, id)).is_none() {
            return;
        }
        if self.data_session == Some((peer, id)) {
            self.data_session = self
                .sessions
                .iter()
                .filter(|(_, s)| s.opened_order.is_some() && (s.ipcp_opened || s.ipv6cp_opened))
                .max_by_key(|(_, s)| s.opened_order)
                .map(|(key, _)| *key);
        }
    }

    /// `padt`: a PADT for every session, which are forgotten at once (no LCP Terminate: the fault
    /// being simulated is an AC that drops sessions).
    pub fn terminate_all(&mut self, out: &mut Vec<Output>) {
        let keys: Vec<_> = self.sessions.keys().copied().collect();
        for key in keys {
            self.send_padt(key, "administratively terminated", out);
            self.remove(key.0, key.1);
        }
    }

    /// The earliest timer of any session.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.sessions
            .values()
            .filter_map(Session::next_deadline)
            .min()
    }

    /// Timer expiries: runs every session's timers that are due.
    pub fn on_timer(&mut self, now: Now, out: &mut Vec<Output>) {
        let due: Vec<_> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.next_deadline().is_some_and(|d| d <= now.mono))
            .map(|(key, _)| *key)
            .collect();
        for key in due {
            self.with_session(key, now, out, |session, config, now, fx| {
                session.on_timer(config, now, fx)
            });
        }
    }

    /// Frames a datagram read from the TUN for the session that carries the TUN's traffic, into
    /// `frame` (cleared first). False when no session can carry it (none open for its IP version).
    pub fn encapsulate(&self, datagram: &[u8], frame: &mut Vec<u8>) -> bool {
        let Some(session) = self.data_session.and_then(|key| self.sessions.get(&key)) else {
            return false;
        };
        let protocol = match datagram.first().map(|b| b >> 4) {
            Some(4) if session.ipcp_opened => Protocol::IPV4,
            Some(6) if session.ipv6cp_opened => Protocol::IPV6,
            _ => return false,
        };
        let Ok(length) = u16::try_from(datagram.len() + 2) else {
            return false;
        };
        frame.clear();
        frame.extend_from_slice(&session.peer);
        frame.extend_from_slice(&self.config.mac);
        frame.extend_from_slice(&ETHERTYPE_SESSION.to_be_bytes());
        frame.extend_from_slice(&[0x11, 0x00]);
        frame.extend_from_slice(&session.id.to_be_bytes());
        frame.extend_from_slice(&length.to_be_bytes());
        frame.extend_from_slice(&protocol.0.to_be_bytes());
        frame.extend_from_slice(datagram);
        true
    }
}

fn note(out: &mut Vec<Output>, event: &str, fields: serde_json::Value) {
    let mut map = serde_json::Map::new();
    map.insert("event".into(), json!(event));
    if let serde_json::Value::Object(fields) = fields {
        map.extend(fields);
    }
    out.push(Output::Note(serde_json::Value::Object(map)));
}

fn ethernet_header(dst: Mac, src: Mac, ethertype: u16) -> Vec<u8> {
    let mut frame = Vec::with_capacity(64);
    frame.extend_from_slice(&dst);
    frame.extend_from_slice(&src);
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame
}

/// Appends the PPPoE session header and the PPP frame; false if the packet cannot be encoded.
fn encode_session(session_id: u16, packet: &Packet<'_>, frame: &mut Vec<u8>) -> bool {
    let mut ppp = Vec::new();
    if packet.encode(&mut ppp).is_err() {
        return false;
    }
    SessionFrame {
        session_id,
        payload: &ppp,
    }
    .encode(frame)
    .is_ok()
}

#[cfg(test)]
mod tests;
