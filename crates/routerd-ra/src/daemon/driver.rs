//! The I/O shell around the advertiser: one task owns the advertiser, the socket and the link watcher,
//! feeds the advertiser what happens (solicitations, timer expiries, reloads, the link coming and going)
//! and carries out what it asks (send, persist `advertised.json`, record events), refreshing the shared
//! status after every step.
//!
//! "The interface can advertise" means: carrier, and the socket bound to its link-local address (which
//! fails while duplicate address detection runs). Each time that starts to hold the advertiser is
//! started (an RA at once and the initial burst, RFC 4861 §6.2.4); when it stops holding it is paused.

use super::service::{Command, RouterAdvertiser};
use super::socket::{OpenError, RaSocket, Received, ND_HOP_LIMIT};
use routerd_api::spec::RaDaemonConfig;
use routerd_daemon::driven::{
    self, DriverParts, Handled, Handler, Request as KitRequest, SharedStatus, HEARTBEAT,
};
use routerd_daemon::link_watch::{groups, LinkWatch};
use routerd_daemon::{flush_stores, interface, read_json, store_json, EventLog};
use routerd_proto::ndp::{RouterSolicitation, ROUTER_SOLICITATION};
use routerd_ra::advertiser::{Advertiser, Output};
use routerd_ra::status::{LinkState, StatusProjection};
use routerd_ra::{Now, Persisted, Settings, ADVERTISED_FILE};
use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How often the interface is looked up while it cannot advertise (besides netlink).
const POLL: Duration = Duration::from_secs(2);
/// How soon the socket is opened again while the link-local address is tentative (DAD takes 1–2 s).
const OPEN_RETRY: Duration = Duration::from_millis(200);
/// How soon after a socket error it is opened again: a persistent error must not spin.
const FAILED_RETRY: Duration = Duration::from_secs(5);
/// ND messages are far smaller; a larger datagram is truncated and fails to parse.
const BUFFER: usize = 2048;

type Request = KitRequest<Command, RaDaemonConfig>;

enum Wake {
    Request(Option<Request>),
    Packet(std::io::Result<Received>),
    LinkChanged(std::io::Result<()>),
    Timer,
    Retry,
    Tick,
}

pub struct Driver {
    config: RaDaemonConfig,
    persist_path: PathBuf,
    events: EventLog,
    shared: Arc<SharedStatus>,
    requests: mpsc::Receiver<Request>,
    advertiser: Advertiser,
    projection: StatusProjection,
    link: LinkState,
    socket: Option<RaSocket>,
    /// The interface index and link-local address the socket is bound to.
    bound_to: Option<(u32, Ipv6Addr)>,
    retry_at: Option<tokio::time::Instant>,
    watcher: LinkWatch,
    buf: Vec<u8>,
}

/// The settings of a config the kit validated; an empty advertisement if it somehow does not parse.
fn settings_of(config: &RaDaemonConfig) -> Settings {
    Settings::from_config(config).unwrap_or_else(|e| {
        tracing::error!(error = %e, "config.json does not parse into settings; advertising nothing");
        Settings {
            prefixes: Vec::new(),
            managed: false,
            other_config: false,
            rdnss: Vec::new(),
            dnssl: Vec::new(),
            mtu: None,
            router_lifetime: 0,
            max_interval: Duration::from_secs(600),
        }
    })
}

impl Driver {
    pub fn new(parts: DriverParts<RouterAdvertiser>) -> Driver {
        let DriverParts {
            name,
            config,
            state_dir,
            events,
            shared,
            requests,
        } = parts;
        let persist_path = state_dir.join(ADVERTISED_FILE);
        let restored = match read_json::<Persisted>(&persist_path) {
            Ok(p) => p.unwrap_or_default().prefixes,
            Err(e) => {
                tracing::warn!(error = %e, "advertised.json unreadable; prefixes advertised before the restart cannot be deprecated");
                Vec::new()
            }
        };
        let now = Now::system();
        let (advertiser, outputs) = Advertiser::new(
            &name,
            settings_of(&config),
            Box::new(routerd_daemon::seeded_xorshift()),
            &restored,
            now,
        );
        let projection = StatusProjection::new(&name, &config.ifname, now.wall);
        let mut driver = Driver {
            config,
            persist_path,
            events,
            shared,
            requests,
            advertiser,
            projection,
            link: LinkState::NotReady("starting".into()),
            socket: None,
            bound_to: None,
            retry_at: None,
            watcher: LinkWatch::new(groups::LINK | groups::IPV6_IFADDR),
            buf: vec![0; BUFFER],
        };
        driver.apply(outputs);
        driver
    }

    /// Runs until a `Shutdown` request (or the API side is gone).
    pub async fn run(mut self) {
        self.refresh_link();
        loop {
            self.shared.beat();
            let deadline = self
                .advertiser
                .deadline()
                .map(tokio::time::Instant::from_std);
            let poll = if self.link == LinkState::Up && self.watcher.is_open() {
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
                    retry_at,
                    ..
                } = &mut self;
                tokio::select! {
                    r = requests.recv() => Wake::Request(r),
                    r = recv_packet(socket.as_ref(), buf) => Wake::Packet(r),
                    r = watcher.changed() => Wake::LinkChanged(r),
                    _ = driven::sleep_until(deadline) => Wake::Timer,
                    _ = driven::sleep_until(*retry_at) => Wake::Retry,
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
                Wake::Packet(Ok(p)) => self.on_packet(p),
                Wake::Packet(Err(e)) => {
                    tracing::warn!(error = %e, "socket failed; opening it again shortly");
                    self.close_socket();
                    self.retry_at = Some(tokio::time::Instant::now() + FAILED_RETRY);
                    self.publish_status();
                }
                Wake::LinkChanged(Ok(())) => self.refresh_link(),
                Wake::LinkChanged(Err(e)) => {
                    tracing::warn!(error = %e, "netlink socket failed; polling the interface instead");
                    self.watcher.close();
                }
                Wake::Timer => {
                    let outputs = self.advertiser.timer(Now::system());
                    self.apply(outputs);
                }
                Wake::Retry => {
                    self.retry_at = None;
                    self.refresh_link();
                }
                Wake::Tick => self.refresh_link(),
            }
        }
        flush_stores(&self.persist_path).await;
    }

    fn close_socket(&mut self) {
        if self.socket.take().is_some() {
            self.advertiser.pause();
        }
        self.bound_to = None;
    }

    /// Re-reads the interface and opens or closes the socket to match.
    fn refresh_link(&mut self) {
        self.watcher.ensure_open(POLL);
        let ifname = self.config.ifname.clone();
        let Some(info) = interface::lookup(&ifname) else {
            if self.link != LinkState::Missing {
                tracing::warn!(%ifname, "interface is gone");
            }
            self.link = LinkState::Missing;
            self.close_socket();
            self.publish_status();
            return;
        };
        let link_local = info.addresses.iter().find_map(|a| match a {
            IpAddr::V6(v6) if v6.is_unicast_link_local() => Some(*v6),
            _ => None,
        });
        let (true, Some(ll)) = (info.carrier, link_local) else {
            let why = if info.carrier {
                format!("{ifname} has no IPv6 link-local address")
            } else {
                format!("{ifname} has no carrier")
            };
            if self.socket.is_some() {
                tracing::info!("{why}; not advertising");
            }
            self.link = LinkState::NotReady(why);
            self.close_socket();
            self.publish_status();
            return;
        };
        if self.socket.is_some() && self.bound_to == Some((info.ifindex, ll)) {
            self.link = LinkState::Up;
            self.publish_status();
            return;
        }
        self.close_socket();
        match RaSocket::open(&ifname, info.ifindex, ll) {
            Ok(socket) => {
                tracing::info!(%ifname, source = %ll, "advertising");
                self.socket = Some(socket);
                self.bound_to = Some((info.ifindex, ll));
                self.link = LinkState::Up;
                self.retry_at = None;
                self.advertiser
                    .set_link_layer(info.mac.filter(|m| *m != [0; 6]));
                let outputs = self.advertiser.start(Now::system());
                self.apply(outputs);
            }
            Err(OpenError::NotYet) => {
                self.link =
                    LinkState::NotReady(format!("{ll} on {ifname} is tentative (DAD running)"));
                self.retry_at = Some(tokio::time::Instant::now() + OPEN_RETRY);
            }
            Err(OpenError::Failed(e)) => {
                let message = format!("cannot open raw ICMPv6 on [{ll}%{ifname}]: {e}");
                if self.link != LinkState::Failed(message.clone()) {
                    tracing::error!("{message}");
                }
                self.link = LinkState::Failed(message);
                self.retry_at = Some(tokio::time::Instant::now() + FAILED_RETRY);
            }
        }
        self.publish_status();
    }

    /// A packet from the socket: only router solicitations that pass RFC 4861 §6.1.1 reach the
    /// advertiser; everything else is dropped with a debug line (never a panic, never a reply).
    fn on_packet(&mut self, p: Received) {
        let Some(bytes) = self.buf.get(..p.len) else {
            return;
        };
        if bytes.first() != Some(&ROUTER_SOLICITATION) {
            return;
        }
        if p.hop_limit != Some(ND_HOP_LIMIT as i32) {
            tracing::debug!(from = %p.from, hop_limit = ?p.hop_limit, "router solicitation with hop limit other than 255; dropped");
            return;
        }
        let rs = match RouterSolicitation::decode(bytes) {
            Ok(rs) => rs,
            Err(e) => {
                tracing::debug!(from = %p.from, error = %e, "malformed router solicitation; dropped");
                return;
            }
        };
        match self.advertiser.solicitation(p.from, &rs, Now::system()) {
            Ok(()) => tracing::debug!(from = %p.from, "router solicitation; answering"),
            Err(e) => tracing::debug!(from = %p.from, error = %e, "router solicitation refused"),
        }
    }

    fn apply(&mut self, outputs: Vec<Output>) {
        for o in outputs {
            match o {
                Output::Send(ra) => match ra.encode() {
                    Ok(bytes) => match &self.socket {
                        Some(s) => match s.send_all_nodes(&bytes) {
                            Ok(_) => tracing::debug!(
                                router_lifetime = ra.router_lifetime,
                                prefixes = ra.prefixes().count(),
                                "RA sent"
                            ),
                            Err(e) => tracing::warn!(error = %e, "RA not sent"),
                        },
                        None => tracing::debug!("RA not sent: the interface cannot advertise now"),
                    },
                    Err(e) => tracing::error!(error = %e, "RA cannot be encoded"),
                },
                Output::Event(e) => {
                    tracing::info!(topic = %e.topic, "{}", e.message);
                    if let Err(err) = self.events.append(e) {
                        tracing::error!(error = %err, "event not recorded");
                    }
                }
                Output::Persist(prefixes) => {
                    const LOST: &str = "advertised.json not written; after a restart a vanished prefix might not be deprecated";
                    if let Err(e) = store_json(&self.persist_path, &Persisted { prefixes }, LOST) {
                        tracing::error!(error = %e, "{LOST}");
                    }
                }
            }
        }
        self.publish_status();
    }

    fn publish_status(&mut self) {
        let status = self
            .projection
            .update(&self.advertiser, &self.link, Now::system());
        self.shared.set_status(status);
    }
}

impl Handler<Command, RaDaemonConfig> for Driver {
    fn command(&mut self, command: Command) -> Result<String, String> {
        match command {
            Command::Advertise => {
                if self.socket.is_none() {
                    return Err(format!("{} cannot advertise now", self.config.ifname));
                }
                let outputs = self.advertiser.start(Now::system());
                self.apply(outputs);
                Ok("RA sent".into())
            }
        }
    }

    fn reload(&mut self, config: RaDaemonConfig) -> Result<String, String> {
        if config.ifname != self.config.ifname {
            return Err(format!(
                "ifname changed from {} to {}: needs a restart",
                self.config.ifname, config.ifname
            ));
        }
        let settings = Settings::from_config(&config).map_err(|e| e.to_string())?;
        let outputs = self.advertiser.reconfigure(settings, Now::system());
        self.config = config;
        self.apply(outputs);
        Ok("config reloaded".into())
    }

    fn shutdown(&mut self) {
        let outputs = self.advertiser.stop(Now::system());
        self.apply(outputs);
        self.close_socket();
        self.publish_status();
    }
}

async fn recv_packet(socket: Option<&RaSocket>, buf: &mut [u8]) -> std::io::Result<Received> {
    match socket {
        Some(s) => s.recv(buf).await,
        None => std::future::pending().await,
    }
}
