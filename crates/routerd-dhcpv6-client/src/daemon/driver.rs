//! The I/O shell around the state machine: one task owns the client, the socket and the link watcher,
//! feeds the client what happens (datagrams, timer expiries, commands, the link coming and going), and
//! carries out what it asks (send, persist `lease.json`, record events), refreshing the shared status
//! after every step.
//!
//! "The link is usable" for the client means: carrier, and the socket bound to a link-local address that
//! finished duplicate address detection. The client is started (`Input::Start`) the first time that
//! holds — so a restored lease is renewed or rebound only once a message can actually leave — and told
//! `CarrierLost`/`CarrierUp` whenever it changes. On carrier loss the socket is closed; on return it is
//! bound again (waiting for DAD if the kernel re-runs it) before the client hears `CarrierUp`.

use super::identity::{self, Origin};
use super::link::{self, LinkInfo};
use super::service::Dhcpv6;
use super::sockets::{self, BindError, ClientSocket, SERVER_PORT};
use routerd_api::Timestamp;
use routerd_daemon::driven::{
    self, DriverParts, Handled, Handler, Request as KitRequest, SharedStatus, HEARTBEAT,
};
use routerd_daemon::link_watch::{groups, LinkWatch};
use routerd_daemon::{flush_stores, read_json, store_json, store_removal, EventLog};
use routerd_dhcpv6_client::duid::to_hex;
use routerd_dhcpv6_client::status::{Fault, InterfaceState};
use routerd_dhcpv6_client::{
    parse_reply, Client, ClientConfig, Command, DaemonConfig, Input, LeaseChange, LinkEvent, Now,
    Output, PersistedLease, State, StatusProjection, Transmit,
};
use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// File of the persisted lease in the state directory.
pub const LEASE_FILE: &str = "lease.json";
/// How often the interface is looked up while it is missing or not usable (besides netlink).
const POLL: Duration = Duration::from_secs(2);
/// How soon a bind is tried again when nothing will say that it may work now: the link-local address
/// is tentative and there is no netlink watcher to report the end of DAD, or the kernel refused an
/// address `/proc` called usable (`EADDRNOTAVAIL`). DAD takes about 1–2 s.
const BIND_RETRY: Duration = Duration::from_millis(100);
/// Datagrams larger than this are truncated and then fail to parse; DHCPv6 replies are far smaller.
const BUFFER: usize = 8192;

/// What the API side asks of the loop.
type Request = KitRequest<Command, DaemonConfig>;

/// The socket and what it is bound to.
struct Bound {
    udp: ClientSocket,
    address: Ipv6Addr,
    ifindex: u32,
}

enum Wake {
    Request(Option<Request>),
    Datagram(std::io::Result<(usize, SocketAddr)>),
    LinkChanged(std::io::Result<()>),
    Timer,
    RetryBind,
    Tick,
}

pub struct Driver {
    name: String,
    config: DaemonConfig,
    state_dir: PathBuf,
    lease_path: PathBuf,
    events: EventLog,
    shared: Arc<SharedStatus>,
    requests: mpsc::Receiver<Request>,
    client: Option<Client>,
    link: Option<LinkInfo>,
    interface: InterfaceState,
    watcher: LinkWatch,
    socket: Option<Bound>,
    /// When to try binding again without waiting for a netlink notification (see [`BIND_RETRY`]).
    retry_bind: Option<tokio::time::Instant>,
    /// "Waiting for DAD" was logged for the current wait.
    dad_logged: bool,
    projection: StatusProjection,
    buf: Vec<u8>,
}

impl Driver {
    pub fn new(parts: DriverParts<Dhcpv6>) -> Driver {
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
            state_dir,
            config,
            events,
            shared,
            requests,
            client: None,
            link: None,
            interface: InterfaceState::Missing,
            watcher: LinkWatch::new(groups::LINK | groups::IPV6_IFADDR),
            socket: None,
            retry_bind: None,
            dad_logged: false,
            projection,
            buf: vec![0; BUFFER],
        }
    }

    /// Runs until a `Shutdown` request (or the API side is gone).
    pub async fn run(mut self) {
        self.refresh_link();
        loop {
            self.shared.beat();
            let deadline = self.client.as_ref().and_then(Client::deadline);
            let poll = if self.interface == InterfaceState::Up && self.watcher.is_open() {
                HEARTBEAT
            } else {
                POLL
            };
            let wake = {
                let Driver {
                    requests,
                    socket,
                    watcher,
                    buf,
                    retry_bind,
                    ..
                } = &mut self;
                tokio::select! {
                    r = requests.recv() => Wake::Request(r),
                    r = recv_datagram(socket.as_ref(), buf) => Wake::Datagram(r),
                    r = watcher.changed() => Wake::LinkChanged(r),
                    _ = driven::sleep_until(deadline.map(tokio::time::Instant::from_std)) => Wake::Timer,
                    _ = driven::sleep_until(*retry_bind) => Wake::RetryBind,
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
                Wake::Datagram(Ok((n, from))) => self.on_datagram(n, from),
                Wake::Datagram(Err(e)) => {
                    // Bound again after a pause, not at once: an error that persists must not spin.
                    tracing::warn!(error = %e, "socket failed; binding it again shortly");
                    self.socket = None;
                    self.retry_bind = Some(tokio::time::Instant::now() + BIND_RETRY);
                    self.tell_link();
                    self.publish_status();
                }
                Wake::LinkChanged(Ok(())) => self.refresh_link(),
                Wake::LinkChanged(Err(e)) => {
                    tracing::warn!(error = %e, "netlink socket failed; polling the interface instead");
                    self.watcher.close();
                }
                Wake::Timer => self.feed(Input::Timer),
                Wake::RetryBind => {
                    self.retry_bind = None;
                    self.refresh_link();
                }
                Wake::Tick => self.refresh_link(),
            }
        }
        // The last lease write may still be on the blocking pool: it must land before the daemon exits,
        // or a restart would start from the lease before it.
        flush_stores(&self.lease_path).await;
    }

    /// Re-reads the interface, (re)binds or closes the socket, and tells the client what changed.
    fn refresh_link(&mut self) {
        self.watcher.ensure_open(POLL);
        let ifname = self.config.ifname.clone();
        match link::lookup(&ifname) {
            None => {
                if self.interface != InterfaceState::Missing {
                    tracing::warn!(%ifname, "interface is gone");
                }
                self.interface = InterfaceState::Missing;
                self.link = None;
                self.socket = None;
                self.retry_bind = None;
            }
            Some(info) => {
                if self.interface == InterfaceState::Missing {
                    tracing::info!(%ifname, ifindex = info.ifindex, carrier = info.carrier, link_local = ?info.link_local.map(|l| l.address), "interface found");
                }
                if self.client.is_none() {
                    self.create_client(&info);
                }
                self.link = Some(info);
                self.sync_socket();
            }
        }
        self.tell_link();
        self.publish_status();
    }

    /// Binds the socket when the link is up with a usable link-local address, closes it otherwise.
    fn sync_socket(&mut self) {
        let Some(link) = self.link.clone() else {
            self.socket = None;
            return;
        };
        let stopped = self
            .client
            .as_ref()
            .is_some_and(|c| c.state() == State::Stopped);
        if !link.carrier || stopped {
            if self.socket.take().is_some() {
                tracing::info!(ifname = %self.config.ifname, "no carrier; socket closed");
            }
            self.interface = InterfaceState::NoCarrier;
            self.retry_bind = None;
            return;
        }
        let Some(ll) = link.link_local else {
            self.socket = None;
            self.interface = InterfaceState::NoLinkLocal;
            return;
        };
        if let Some(s) = &self.socket {
            if s.address == ll.address && s.ifindex == link.ifindex && !ll.tentative {
                self.interface = InterfaceState::Up;
                return;
            }
            tracing::info!(old = %s.address, new = %ll.address, "the link-local address changed; binding again");
            self.socket = None;
        }
        // A tentative address is not tried: the bind would only fail with EADDRNOTAVAIL.
        let result = if ll.tentative {
            Err(BindError::NotYet)
        } else {
            sockets::client_socket(&self.config.ifname, link.ifindex, ll.address)
        };
        match result {
            Ok(udp) => {
                tracing::info!(address = %format!("[{}%{}]:{}", ll.address, self.config.ifname, sockets::CLIENT_PORT), "socket bound");
                self.socket = Some(Bound {
                    udp,
                    address: ll.address,
                    ifindex: link.ifindex,
                });
                self.interface = InterfaceState::Up;
                self.retry_bind = None;
                self.dad_logged = false;
                if self
                    .projection
                    .fault()
                    .is_some_and(|f| f.reason == "SocketError")
                {
                    self.projection.set_fault(None);
                }
            }
            Err(BindError::NotYet) => {
                if !self.dad_logged {
                    self.dad_logged = true;
                    tracing::info!(address = %ll.address, "waiting for duplicate address detection of the link-local address");
                }
                self.interface = InterfaceState::WaitingForDad;
                // The end of DAD changes the address's flags, which the watcher (IPv6 address group)
                // reports; looking every 100 ms as well would redo the whole lookup ten times a second.
                // Without the watcher, or when the bind itself was refused, nothing will report it.
                let notified = ll.tentative && self.watcher.is_open();
                self.retry_bind = (!notified).then(|| tokio::time::Instant::now() + BIND_RETRY);
            }
            Err(BindError::Failed(e)) => {
                let message = format!(
                    "cannot bind UDP [{}%{}]:{}: {e}",
                    ll.address,
                    self.config.ifname,
                    sockets::CLIENT_PORT
                );
                if self.projection.fault().map(|f| &f.message) != Some(&message) {
                    tracing::error!("{message}");
                }
                self.projection.set_fault(Some(Fault {
                    reason: "SocketError".into(),
                    message,
                }));
                self.interface = InterfaceState::Up;
            }
        }
    }

    /// Starts the client the first time the link is usable; afterwards reports changes as link events.
    /// What the client was told last is the client's own record ([`Client::started`],
    /// [`Client::link_up`]), so the two cannot drift apart.
    fn tell_link(&mut self) {
        let Some(client) = &self.client else {
            return;
        };
        let usable = self.socket.is_some();
        if !client.started() {
            if usable {
                self.feed(Input::Start);
            }
        } else if usable != client.link_up() {
            let event = if usable {
                LinkEvent::CarrierUp
            } else {
                LinkEvent::CarrierLost
            };
            tracing::info!(ifname = %self.config.ifname, ?event, "link changed");
            self.feed(Input::Link(event));
        }
    }

    fn create_client(&mut self, info: &LinkInfo) {
        let now = Now::system();
        let (duid, origin) =
            match identity::resolve(&self.config, &self.state_dir, info.mac, now.wall) {
                Ok(d) => d,
                Err(e) => {
                    // Tried again at every look at the link; said once per distinct error.
                    if self.projection.fault().map(|f| &f.message) != Some(&e) {
                        tracing::error!(error = %e, "no DUID; the client cannot start");
                    }
                    self.projection.set_fault(Some(Fault {
                        reason: "DuidError".into(),
                        message: e,
                    }));
                    return;
                }
            };
        let how = match origin {
            Origin::Configured => "configured (spec.duid)",
            Origin::Persisted => "persisted",
            Origin::GeneratedLlt => "generated now (DUID-LLT) and persisted",
            Origin::GeneratedUuid => {
                "generated now (DUID-UUID: the link has no hardware address) and persisted"
            }
        };
        tracing::info!(duid = %to_hex(&duid), "client DUID {how}");
        let client_config = match self.config.client_config(&self.name, duid) {
            Ok(c) => c,
            Err(e) => {
                self.projection.set_fault(Some(Fault {
                    reason: "ConfigError".into(),
                    message: format!("config.json: {e}"),
                }));
                return;
            }
        };
        let remembered = self.remembered(&client_config, now);
        let (lease, previous, information) = match remembered {
            Some(p) => (Some(p.lease), p.previous_prefixes, p.information),
            None => (None, Vec::new(), None),
        };
        let mut client = Client::new(
            client_config,
            Box::new(routerd_daemon::seeded_xorshift()),
            lease,
            now,
        );
        client.restore(previous, information, now);
        self.client = Some(client);
        if self
            .projection
            .fault()
            .is_some_and(|f| f.reason == "DuidError" || f.reason == "ConfigError")
        {
            self.projection.set_fault(None);
        }
    }

    /// What `lease.json` holds when it is this client's (same DUID, IAID and interface) and its prefix
    /// is unexpired; otherwise `None`, with the reason logged.
    fn remembered(&self, config: &ClientConfig, now: Now) -> Option<PersistedLease> {
        let path = self.lease_path.display();
        let persisted = match read_json::<PersistedLease>(&self.lease_path) {
            Ok(Some(p)) => p,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "lease.json unreadable; soliciting");
                return None;
            }
        };
        let lease = &persisted.lease;
        if !lease.matches_identity(&config.duid, config.iaid, &config.ifname) {
            tracing::info!(%path, prefix = %lease.prefix, "the remembered prefix was leased to DUID {} IAID {} on {}; not using it",
                to_hex(&lease.duid), lease.iaid, lease.ifname);
            return None;
        }
        if !lease.valid_at(now.wall) {
            tracing::info!(%path, prefix = %lease.prefix, expired = ?lease.expires_at().map(|t| t.to_string()), "the remembered prefix has expired; soliciting");
            return None;
        }
        tracing::info!(prefix = %lease.prefix, renew_at = ?lease.renew_at().map(|t| t.to_string()), expires = ?lease.expires_at().map(|t| t.to_string()),
            previous = persisted.previous_prefixes.len(),
            "remembered prefix; keeping it (RENEW or REBIND when due, no SOLICIT)");
        Some(persisted)
    }

    fn feed(&mut self, input: Input<'_>) {
        let Some(client) = self.client.as_mut() else {
            return;
        };
        let outputs = client.handle(input, Now::system());
        self.apply(outputs);
    }

    fn apply(&mut self, outputs: Vec<Output>) {
        let mut persist = false;
        for o in outputs {
            match o {
                Output::Send(t) => self.send(&t),
                Output::Lease(change) => {
                    log_lease(&change);
                    persist = true;
                }
                Output::Information(i) => {
                    tracing::info!(dns = ?i.dns_servers, search = ?i.domain_search, sntp = ?i.sntp_servers, aftr = ?i.aftr_name, "server information");
                    persist = true;
                }
                Output::Event(e) => {
                    if let Err(err) = self.events.append(e) {
                        tracing::error!(error = %err, "event not recorded");
                    }
                }
                Output::Note(n) => tracing::debug!("{n}"),
                Output::Warning(w) => tracing::warn!("{w}"),
            }
        }
        if persist {
            self.persist();
        }
        self.publish_status();
    }

    /// Writes what the client holds to `lease.json` (the prefix, the previous prefixes still valid and
    /// the server information), or removes the file when it holds no prefix.
    fn persist(&self) {
        let Some(client) = &self.client else { return };
        match client.lease() {
            Some(lease) => {
                let record = PersistedLease {
                    lease: lease.clone(),
                    previous_prefixes: client.previous_prefixes(),
                    information: client.information().cloned(),
                };
                // Off the daemon's only thread: an fsync takes tens of milliseconds on a real disk.
                const LOST: &str = "lease.json not written; a restart would have to SOLICIT again";
                if let Err(e) = store_json(&self.lease_path, &record, LOST) {
                    tracing::error!(error = %e, "{LOST}");
                }
            }
            None => store_removal(
                &self.lease_path,
                "cannot remove lease.json; a restart would try to keep the lost prefix",
            ),
        }
    }

    fn send(&mut self, t: &Transmit) {
        let kind = t.kind.as_str();
        let xid = to_hex(&t.xid);
        let Some(socket) = &self.socket else {
            tracing::debug!(message = kind, %xid, "not sent: no usable link-local address or no carrier");
            return;
        };
        let to = sockets::address_of(t.destination, socket.ifindex);
        match socket
            .udp
            .send
            .send_to(&t.bytes, &SocketAddr::V6(to).into())
        {
            Ok(_) => {
                tracing::debug!(message = kind, %xid, %to, attempt = t.attempt, state = %t.state, "sent")
            }
            Err(e) => {
                tracing::warn!(error = %e, message = kind, %xid, %to, "not sent; the retransmission will try again")
            }
        }
    }

    fn on_datagram(&mut self, n: usize, from: SocketAddr) {
        let SocketAddr::V6(from) = from else { return };
        if from.port() != SERVER_PORT {
            tracing::trace!(%from, "datagram not from a server port; dropped");
            return;
        }
        let Some(payload) = self.buf.get(..n) else {
            return;
        };
        match parse_reply(payload) {
            Ok(reply) => {
                let from = *from.ip();
                if let Some(client) = self.client.as_mut() {
                    let outputs = client.handle(
                        Input::Received {
                            reply: &reply,
                            from,
                        },
                        Now::system(),
                    );
                    self.apply(outputs);
                }
            }
            Err(e) => tracing::debug!(%from, error = %e, "not a usable DHCPv6 message"),
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
        let Some(client) = self.client.as_mut() else {
            return Err(match self.projection.fault() {
                Some(f) => f.message.clone(),
                None => format!("interface {} has not been seen yet", self.config.ifname),
            });
        };
        // Whether a message can leave is the client's check (a release is carried out locally even
        // without a link, so routerd removes the LAN addresses).
        let prefix = client.lease().map(|l| l.prefix.to_string());
        let outputs = client.command(command, Now::system())?;
        let state = client.state();
        let sent = outputs.iter().find_map(|o| match o {
            Output::Send(t) => Some(t.kind),
            _ => None,
        });
        self.apply(outputs);
        Ok(match (command, sent) {
            (Command::Release, _) => format!(
                "{} released (RELEASE sent)",
                prefix.as_deref().unwrap_or("prefix")
            ),
            (_, Some(kind)) => match &prefix {
                Some(p) => format!("{} sent for {p} ({state})", kind.as_str()),
                None => format!("{} sent ({state})", kind.as_str()),
            },
            (_, None) => format!("accepted ({state})"),
        })
    }

    fn reload(&mut self, config: DaemonConfig) -> Result<String, String> {
        // Validated by the kit before it got here (`Protocol::validate`).
        if let Some(why) = self.config.restart_needed_for(&config, &self.name) {
            return Err(why);
        }
        if let Some(client) = self.client.as_mut() {
            let duid = client.config().duid.clone();
            client.update_config(config.client_config(&self.name, duid)?);
        }
        self.config = config;
        self.publish_status();
        Ok("config reloaded; the prefix is kept".into())
    }

    fn shutdown(&mut self) {
        if let Some(client) = self.client.as_mut() {
            let outputs = client
                .command(Command::Stop, Now::system())
                .unwrap_or_default();
            self.apply(outputs);
        }
        // The newest previous prefixes and information survive the stop with the lease.
        self.persist();
        self.socket = None;
        self.publish_status();
    }
}

fn log_lease(change: &LeaseChange) {
    match change {
        LeaseChange::Bound(l) | LeaseChange::Renewed(l) | LeaseChange::Rebound(l) => {
            tracing::info!(
                prefix = %l.prefix,
                preferred = l.prefix.preferred_lifetime,
                valid = l.prefix.valid_lifetime,
                t1 = l.t1_seconds,
                t2 = l.t2_seconds,
                server = %to_hex(&l.server_duid),
                "prefix held"
            );
        }
        LeaseChange::Changed { lease, previous } => {
            tracing::info!(prefix = %lease.prefix, previous = %previous, "the delegated prefix changed");
        }
        LeaseChange::Expired(l) => tracing::warn!(prefix = %l.prefix, "prefix expired"),
        LeaseChange::Released(l) => tracing::info!(prefix = %l.prefix, "prefix released"),
    }
}

async fn recv_datagram(
    socket: Option<&Bound>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    match socket {
        Some(s) => s.udp.recv.recv_from(buf).await,
        None => std::future::pending().await,
    }
}
