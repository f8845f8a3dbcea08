//! The I/O shell around the state machine: one task owns the client, the sockets, the conflict probe and
//! the link watcher, feeds the client what happens, and carries out what it asks.
//!
//! Sockets follow RFC 2131's needs and `protocols.md`:
//! - While the client has no address on the interface (acquiring, confirming, or the address is not
//!   installed yet), an AF_PACKET socket with the BPF filter receives replies sent to the MAC, and
//!   messages from `0.0.0.0` go out as whole frames on it.
//! - Once the leased address is on the interface (routerd's controller installs it), the packet socket
//!   closes and a UDP socket bound to the interface (port 68) carries the unicast RENEW, the broadcast
//!   REBIND and the RELEASE. If that address is not there (`applyAddress: false`), those go out as
//!   frames from the leased address instead.

use super::link::{self, LinkInfo};
use super::probe;
use super::service::Dhcpv4;
use super::sockets::{self, PacketSocket, ETH_P_IP};
use routerd_api::Timestamp;
use routerd_daemon::driven::{
    self, DriverParts, Handled, Handler, Request as KitRequest, SharedStatus, HEARTBEAT,
};
use routerd_daemon::link_watch::{groups, LinkWatch};
use routerd_daemon::{flush_stores, read_json, store_json, store_removal, EventLog};
use routerd_dhcpv4_client::arp::ProbePlan;
use routerd_dhcpv4_client::bpf::DHCP_CLIENT_FILTER;
use routerd_dhcpv4_client::client::Halt;
use routerd_dhcpv4_client::config::mac_text;
use routerd_dhcpv4_client::frame::{
    parse_udp_frame, udp_frame, BROADCAST_MAC, DHCP_CLIENT_PORT, DHCP_SERVER_PORT,
};
use routerd_dhcpv4_client::status::InterfaceState;
use routerd_dhcpv4_client::{
    parse_reply, Client, Command, DaemonConfig, Destination, Input, Lease, LeaseChange, LinkEvent,
    Output, PersistedLease, ProbeResult, State, StatusProjection, Transmit,
};
use routerd_sansio::hex::to_hex;
use routerd_sansio::Now;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// File of the persisted lease in the state directory.
pub const LEASE_FILE: &str = "lease.json";
/// How often the interface is looked up while it is missing (besides netlink notifications).
const POLL: Duration = Duration::from_secs(2);
/// Frames and datagrams larger than this are not DHCP replies we could use.
const BUFFER: usize = 2048;

/// What the API side asks of the loop.
type Request = KitRequest<Command, DaemonConfig>;

type ProbeFuture = Pin<Box<dyn Future<Output = ProbeResult> + Send>>;

enum Wake {
    Request(Option<Request>),
    Frame(std::io::Result<usize>),
    Datagram(std::io::Result<(usize, SocketAddr)>),
    Probe(ProbeResult),
    LinkChanged(std::io::Result<()>),
    Timer,
    Tick,
}

pub struct Driver {
    name: String,
    config: DaemonConfig,
    lease_path: PathBuf,
    events: EventLog,
    shared: Arc<SharedStatus>,
    requests: mpsc::Receiver<Request>,
    client: Option<Client>,
    /// Whether `Input::Start` has been given (the interface was there with carrier once).
    started: bool,
    link: Option<LinkInfo>,
    interface: InterfaceState,
    watcher: LinkWatch,
    raw: Option<PacketSocket>,
    udp: Option<UdpSocket>,
    /// The MAC that frames from the server (or its relay) came from, for unicast frames to it.
    server_mac: Option<(Ipv4Addr, [u8; 6])>,
    probe: Option<ProbeFuture>,
    projection: StatusProjection,
    raw_buf: Vec<u8>,
    udp_buf: Vec<u8>,
}

impl Driver {
    pub fn new(parts: DriverParts<Dhcpv4>) -> Driver {
        let DriverParts {
            name,
            config,
            state_dir,
            events,
            shared,
            requests,
        } = parts;
        let projection = StatusProjection::new(&name, &config.ifname, Timestamp::now());
        Driver {
            name,
            lease_path: state_dir.join(LEASE_FILE),
            config,
            events,
            shared,
            requests,
            client: None,
            started: false,
            link: None,
            interface: InterfaceState::Missing,
            watcher: LinkWatch::new(groups::LINK | groups::IPV4_IFADDR),
            raw: None,
            udp: None,
            server_mac: None,
            probe: None,
            projection,
            raw_buf: vec![0; BUFFER],
            udp_buf: vec![0; BUFFER],
        }
    }

    /// Runs until a `Shutdown` request (or the API side is gone).
    pub async fn run(mut self) {
        self.refresh_link();
        loop {
            self.shared.beat();
            let deadline = self.client.as_ref().and_then(Client::deadline);
            let poll = if self.interface == InterfaceState::Missing || !self.watcher.is_open() {
                POLL
            } else {
                HEARTBEAT
            };
            let wake = {
                let Driver {
                    requests,
                    raw,
                    udp,
                    probe,
                    watcher,
                    raw_buf,
                    udp_buf,
                    ..
                } = &mut self;
                tokio::select! {
                    r = requests.recv() => Wake::Request(r),
                    r = recv_frame(raw.as_ref(), raw_buf) => Wake::Frame(r),
                    r = recv_datagram(udp.as_ref(), udp_buf) => Wake::Datagram(r),
                    r = run_probe(probe) => Wake::Probe(r),
                    r = watcher.changed() => Wake::LinkChanged(r),
                    _ = driven::sleep_until(deadline.map(tokio::time::Instant::from_std)) => Wake::Timer,
                    _ = tokio::time::sleep(poll) => Wake::Tick,
                }
            };
            match wake {
                Wake::Request(None) => break,
                Wake::Request(Some(r)) => {
                    if r.handle(&mut self) == Handled::ShutDown {
                        break;
                    }
                }
                Wake::Frame(Ok(n)) => self.on_frame(n),
                Wake::Frame(Err(e)) => {
                    tracing::warn!(error = %e, "packet socket failed; reopening it");
                    self.raw = None;
                    self.sync_sockets();
                }
                Wake::Datagram(Ok((n, from))) => self.on_datagram(n, from),
                Wake::Datagram(Err(e)) => {
                    tracing::warn!(error = %e, "UDP socket failed; reopening it");
                    self.udp = None;
                    self.sync_sockets();
                }
                Wake::Probe(result) => {
                    self.probe = None;
                    self.feed(Input::Probe(result));
                }
                Wake::LinkChanged(Ok(())) => self.refresh_link(),
                Wake::LinkChanged(Err(e)) => {
                    tracing::warn!(error = %e, "netlink socket failed; polling the interface instead");
                    self.watcher.close();
                }
                Wake::Timer => self.feed(Input::Timer),
                Wake::Tick => self.refresh_link(),
            }
        }
        // The last lease write may still be on the blocking pool: it must land before the daemon exits,
        // or a restart would start from the lease before it.
        flush_stores(&self.lease_path).await;
    }

    fn now() -> Now {
        Now::system()
    }

    /// Re-reads the interface and tells the client what changed (appeared, carrier, address).
    fn refresh_link(&mut self) {
        self.watcher.ensure_open(POLL);
        let ifname = self.config.ifname.clone();
        match link::lookup(&ifname) {
            None => {
                if self.interface != InterfaceState::Missing || self.link.is_some() {
                    tracing::warn!(%ifname, "interface is gone");
                }
                self.interface = InterfaceState::Missing;
                self.link = None;
                self.raw = None;
                self.udp = None;
                self.feed(Input::Link(LinkEvent::CarrierLost));
            }
            Some(info) => {
                if let Some(old) = &self.link {
                    if old.ifindex != info.ifindex {
                        tracing::info!(%ifname, ifindex = info.ifindex, "interface was recreated");
                        self.raw = None;
                        self.udp = None;
                    }
                }
                let mac_changed = self
                    .client
                    .as_ref()
                    .is_some_and(|c| c.config().identity.mac != info.mac);
                if mac_changed {
                    // Another hardware address is another client (chaddr, default client id): start over.
                    tracing::warn!(%ifname, mac = %mac_text(&info.mac), "hardware address changed; starting a new client");
                    self.client = None;
                    self.started = false;
                    self.probe = None;
                    self.raw = None;
                    self.udp = None;
                }
                if self.interface == InterfaceState::Missing {
                    tracing::info!(%ifname, ifindex = info.ifindex, mac = %mac_text(&info.mac), carrier = info.carrier, "interface found");
                }
                self.interface = if info.carrier {
                    InterfaceState::Up
                } else {
                    InterfaceState::NoCarrier
                };
                let carrier = info.carrier;
                if self.client.is_none() {
                    self.create_client(&info);
                }
                self.link = Some(info);
                if self.client.is_some() {
                    if carrier && !self.started {
                        self.started = true;
                        self.feed(Input::Start);
                    } else if self.started {
                        let ev = if carrier {
                            LinkEvent::CarrierUp
                        } else {
                            LinkEvent::CarrierLost
                        };
                        self.feed(Input::Link(ev));
                    }
                }
            }
        }
        self.sync_sockets();
        self.publish_status();
    }

    fn create_client(&mut self, info: &LinkInfo) {
        let client_config = match self.config.client_config(&self.name, info.mac) {
            Ok(c) => c,
            Err(e) => {
                self.projection.set_fault(Some(format!("config.json: {e}")));
                return;
            }
        };
        let client_id = to_hex(&client_config.identity.client_id);
        let remembered = match read_json::<PersistedLease>(&self.lease_path) {
            Ok(Some(p)) if p.ifname == self.config.ifname && p.client_id == client_id => {
                Some(p.lease)
            }
            Ok(Some(p)) => {
                tracing::info!(
                    path = %self.lease_path.display(),
                    "the remembered lease was for {} with client id {}; not using it",
                    p.ifname,
                    p.client_id
                );
                None
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "lease.json unreadable; starting without a lease");
                None
            }
        };
        let now = Self::now();
        if let Some(l) = &remembered {
            if l.valid_at(now.wall) {
                tracing::info!(address = %l.address, server = %l.server_id, expires = ?l.expires_at().map(|t| t.to_string()), "remembered lease; confirming it (INIT-REBOOT)");
            } else {
                tracing::info!(address = %l.address, "remembered lease has expired; discovering");
            }
        }
        self.client = Some(Client::new(
            client_config,
            Box::new(routerd_daemon::seeded_xorshift()),
            remembered,
            now,
        ));
    }

    fn feed(&mut self, input: Input<'_>) {
        let Some(client) = self.client.as_mut() else {
            return;
        };
        let outputs = client.handle(input, Self::now());
        self.apply(outputs);
    }

    fn apply(&mut self, outputs: Vec<Output>) {
        if outputs.is_empty() {
            return;
        }
        for o in outputs {
            match o {
                Output::Send(t) => self.send(&t),
                Output::Probe(address) => self.start_probe(address),
                Output::CancelProbe => self.probe = None,
                Output::Lease(change) => self.lease_changed(change),
                Output::Event(e) => {
                    if let Err(err) = self.events.append(e) {
                        tracing::error!(error = %err, "event not recorded");
                    }
                }
                Output::Note(n) => tracing::debug!("{n}"),
            }
        }
        self.sync_sockets();
        self.publish_status();
    }

    fn start_probe(&mut self, address: Ipv4Addr) {
        let Some(link) = &self.link else {
            self.probe = Some(Box::pin(async { ProbeResult::Clear }));
            return;
        };
        tracing::debug!(%address, "probing for address conflicts (RFC 5227)");
        self.probe = Some(Box::pin(probe::run(
            link.ifindex,
            link.mac,
            address,
            ProbePlan::default(),
        )));
    }

    fn lease_changed(&mut self, change: LeaseChange) {
        match change {
            LeaseChange::Bound(l) | LeaseChange::Renewed(l) | LeaseChange::Rebound(l) => {
                tracing::info!(
                    address = %l.address,
                    prefix_length = l.prefix_length,
                    server = %l.server_id,
                    gateway = ?l.gateway(),
                    lease_seconds = l.lease_time_seconds,
                    "lease held"
                );
                self.persist(&l);
            }
            LeaseChange::Expired(l) | LeaseChange::Released(l) | LeaseChange::Nak(l) => {
                tracing::info!(address = %l.address, "lease gone");
                store_removal(
                    &self.lease_path,
                    "cannot remove lease.json; a restart would try to keep the lost lease",
                );
            }
        }
    }

    fn persist(&self, lease: &Lease) {
        let Some(client) = &self.client else { return };
        let record = PersistedLease {
            ifname: self.config.ifname.clone(),
            client_id: to_hex(&client.config().identity.client_id),
            lease: lease.clone(),
        };
        // Off the daemon's only thread: an fsync takes tens of milliseconds on a real disk.
        const LOST: &str = "lease.json not written; a restart would have to DISCOVER again";
        if let Err(e) = store_json(&self.lease_path, &record, LOST) {
            tracing::error!(error = %e, "{LOST}");
        }
    }

    /// Opens and closes the packet and UDP sockets as the module docs describe.
    fn sync_sockets(&mut self) {
        let Some(link) = &self.link else {
            self.raw = None;
            self.udp = None;
            return;
        };
        let Some(client) = &self.client else {
            return;
        };
        if !link.carrier || client.halted() == Some(Halt::Stopped) {
            self.raw = None;
            self.udp = None;
            return;
        }
        let has_address = client
            .lease()
            .is_some_and(|l| link.ipv4.contains(&l.address));
        let acquiring = matches!(
            client.state(),
            State::Init | State::Selecting | State::Requesting | State::Rebooting
        );
        let released = client.halted() == Some(Halt::Released);
        let want_raw = !released && (!has_address || acquiring);
        let want_udp = has_address;
        if want_raw && self.raw.is_none() {
            self.open_raw();
        } else if !want_raw && self.raw.is_some() {
            tracing::debug!("leased address is on the interface; closing the packet socket");
            self.raw = None;
        }
        if want_udp && self.udp.is_none() {
            match sockets::udp_socket(&self.config.ifname) {
                Ok(s) => {
                    tracing::debug!("UDP socket on port 68 open");
                    self.udp = Some(s);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot open the UDP socket on port 68; using the packet socket")
                }
            }
        } else if !want_udp && self.udp.is_some() {
            self.udp = None;
        }
    }

    fn open_raw(&mut self) {
        let Some(link) = &self.link else { return };
        match PacketSocket::open(link.ifindex, ETH_P_IP, Some(&DHCP_CLIENT_FILTER)) {
            Ok(s) => {
                self.raw = Some(s);
                self.projection.set_fault(None);
            }
            Err(e) => {
                let message = format!(
                    "cannot open a packet socket on {}: {e} (the daemon needs CAP_NET_RAW)",
                    self.config.ifname
                );
                tracing::error!("{message}");
                self.projection.set_fault(Some(message));
            }
        }
    }

    fn send(&mut self, t: &Transmit) {
        let dst_ip = match t.destination {
            Destination::Broadcast => Ipv4Addr::BROADCAST,
            Destination::Unicast(ip) => ip,
        };
        let kind = t.outgoing.kind.as_str();
        let xid = format!("{:#010x}", t.outgoing.xid);
        if !t.source.is_unspecified() {
            if let Some(udp) = &self.udp {
                match udp.try_send_to(&t.bytes, SocketAddr::from((dst_ip, DHCP_SERVER_PORT))) {
                    Ok(_) => {
                        tracing::debug!(message = kind, %xid, to = %dst_ip, state = %t.state, "sent over UDP");
                        return;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, message = kind, "UDP send failed; sending a frame instead")
                    }
                }
            }
        }
        if self.raw.is_none() {
            self.open_raw();
        }
        let (Some(raw), Some(link)) = (&self.raw, &self.link) else {
            tracing::warn!(message = kind, %xid, "not sent: no socket on the interface");
            return;
        };
        let dst_mac = match t.destination {
            Destination::Broadcast => BROADCAST_MAC,
            Destination::Unicast(ip) => self
                .server_mac
                .filter(|(server, _)| *server == ip)
                .map_or(BROADCAST_MAC, |(_, mac)| mac),
        };
        let frame = udp_frame(
            link.mac,
            dst_mac,
            t.source,
            dst_ip,
            DHCP_CLIENT_PORT,
            DHCP_SERVER_PORT,
            &t.bytes,
        );
        match raw.try_send(&frame) {
            Ok(_) => {
                tracing::debug!(message = kind, %xid, to = %dst_ip, state = %t.state, "sent as a frame")
            }
            Err(e) => {
                tracing::warn!(error = %e, message = kind, %xid, "not sent; the retransmission will try again")
            }
        }
    }

    fn on_frame(&mut self, n: usize) {
        let Some(frame) = self.raw_buf.get(..n) else {
            return;
        };
        let datagram = match parse_udp_frame(frame) {
            Ok(d) => d,
            Err(e) => {
                tracing::trace!(error = %e, "frame dropped");
                return;
            }
        };
        if datagram.dst_port != DHCP_CLIENT_PORT || datagram.src_port != DHCP_SERVER_PORT {
            return;
        }
        let (src_ip, src_mac) = (datagram.src_ip, datagram.src_mac);
        match parse_reply(datagram.payload) {
            Ok(reply) => {
                if reply.chaddr == self.link.as_ref().map_or([0; 6], |l| l.mac) {
                    self.server_mac = Some((reply.server_id.unwrap_or(src_ip), src_mac));
                }
                self.feed(Input::Received(&reply));
            }
            Err(e) => {
                tracing::debug!(from = %src_ip, error = %e, "not a usable DHCP reply")
            }
        }
    }

    fn on_datagram(&mut self, n: usize, from: SocketAddr) {
        if from.port() != DHCP_SERVER_PORT {
            return;
        }
        let Some(payload) = self.udp_buf.get(..n) else {
            return;
        };
        match parse_reply(payload) {
            Ok(reply) => self.feed(Input::Received(&reply)),
            Err(e) => tracing::debug!(%from, error = %e, "not a usable DHCP reply"),
        }
    }

    fn publish_status(&mut self) {
        let status = self
            .projection
            .update(self.client.as_ref(), self.interface, Timestamp::now());
        self.shared.set_status(status);
    }
}

/// The API side's requests, carried out on the loop.
impl Handler<Command, DaemonConfig> for Driver {
    fn command(&mut self, command: Command) -> Result<String, String> {
        let ifname = self.config.ifname.clone();
        let Some(client) = self.client.as_mut() else {
            return Err(format!("interface {ifname} has not been seen yet"));
        };
        let outputs = client.command(command, Self::now())?;
        let state = client.state();
        let address = client.lease().map(|l| l.address);
        self.apply(outputs);
        Ok(match (command, address) {
            (Command::Release, _) => "lease released (DHCPRELEASE sent)".to_string(),
            (_, Some(a)) => format!("{} sent for {a} ({state})", message_name(state)),
            (_, None) => format!("{} sent ({state})", message_name(state)),
        })
    }

    fn reload(&mut self, config: DaemonConfig) -> Result<String, String> {
        // Validated by the kit before it got here (`Protocol::validate`).
        if config.ifname != self.config.ifname {
            return Err(format!(
                "ifname changed from {} to {}: the daemon must be restarted to move",
                self.config.ifname, config.ifname
            ));
        }
        if config.spec.client_id != self.config.spec.client_id {
            return Err(
                "clientID changed: the daemon must be restarted to use another identity".into(),
            );
        }
        if let (Some(client), Some(link)) = (self.client.as_mut(), &self.link) {
            let cc = config.client_config(&self.name, link.mac)?;
            client.update_config(cc);
        }
        self.config = config;
        self.publish_status();
        Ok("config reloaded; the lease is kept".into())
    }

    fn shutdown(&mut self) {
        if let Some(client) = self.client.as_mut() {
            let outputs = client
                .command(Command::Stop, Self::now())
                .unwrap_or_default();
            self.apply(outputs);
        }
        self.probe = None;
        self.raw = None;
        self.udp = None;
        self.publish_status();
    }
}

fn message_name(state: State) -> &'static str {
    match state {
        State::Selecting | State::Init => "DHCPDISCOVER",
        _ => "DHCPREQUEST",
    }
}

async fn recv_frame(raw: Option<&PacketSocket>, buf: &mut [u8]) -> std::io::Result<usize> {
    match raw {
        Some(s) => s.recv(buf).await,
        None => std::future::pending().await,
    }
}

async fn recv_datagram(
    udp: Option<&UdpSocket>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    match udp {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

async fn run_probe(probe: &mut Option<ProbeFuture>) -> ProbeResult {
    match probe {
        Some(p) => p.as_mut().await,
        None => std::future::pending().await,
    }
}
