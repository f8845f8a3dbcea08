//! The I/O shell around the server core: one task owns the server, the UDP socket on port 67 (bound to
//! the interface with SO_BINDTODEVICE, broadcast allowed), the ICMP echo check and the lease journal.
//!
//! Batching: a received datagram wakes the loop, which then takes every datagram already queued (up
//! to [`BATCH`]), feeds them all to the core, appends the lease records they produced to the journal
//! with one `fdatasync`, and only then sends the replies. An ACK never leaves before its lease is on
//! disk, and a burst costs one sync.
//!
//! Replies go where the core says: through the relay, unicast to `ciaddr`, or broadcast to
//! 255.255.255.255:68 for a client without an address (no unicast to a not-yet-configured client: that
//! needs an ARP entry set by hand, and broadcast works with every client).

use super::ping::Pinger;
use super::service::{Command, Dhcpv4Server};
use routerd_api::spec::DHCPv4ServerDaemonConfig;
use routerd_api::Timestamp;
use routerd_daemon::driven::{
    self, DriverParts, Handled, Handler, Request as KitRequest, SharedStatus,
};
use routerd_daemon::EventLog;
use routerd_dhcpv4_server::config::{server_config, DEFAULT_PROBE_TIMEOUT_MS};
use routerd_dhcpv4_server::journal::{Journal, JOURNAL_FILE};
use routerd_dhcpv4_server::status::StatusProjection;
use routerd_dhcpv4_server::{Lease, Output, Server, Transmit};
use routerd_sansio::Now;
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Datagrams handled per loop turn (one journal sync).
const BATCH: usize = 512;
/// How often a missing socket is retried and the status republished.
const TICK: Duration = Duration::from_secs(1);
/// A lease table this large is republished at most every [`SLOW_PUBLISH`]: serialising it stalls the
/// loop for milliseconds, which shows in the answer times under load.
const LARGE_TABLE: usize = 1000;
const SLOW_PUBLISH: Duration = Duration::from_secs(5);
const BUFFER: usize = 2048;

type Request = KitRequest<Command, DHCPv4ServerDaemonConfig>;

enum Wake {
    Request(Option<Request>),
    Datagram(std::io::Result<(usize, SocketAddr)>),
    Answered(std::io::Result<Ipv4Addr>),
    Timer,
    Tick,
}

pub struct Driver {
    name: String,
    config: DHCPv4ServerDaemonConfig,
    journal_path: PathBuf,
    journal: Option<Journal>,
    events: EventLog,
    shared: Arc<SharedStatus>,
    requests: mpsc::Receiver<Request>,
    server: Option<Server>,
    udp: Option<UdpSocket>,
    pinger: Option<Pinger>,
    fault: Option<String>,
    projection: StatusProjection,
    dirty: bool,
    last_publish: Instant,
    buf: Vec<u8>,
    ping_buf: Vec<u8>,
    persist: Vec<Lease>,
    sends: Vec<Transmit>,
}

async fn recv(udp: Option<&UdpSocket>, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match udp {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

async fn answered(p: Option<&mut Pinger>, buf: &mut [u8]) -> std::io::Result<Ipv4Addr> {
    match p {
        Some(p) => p.answered(buf).await,
        None => std::future::pending().await,
    }
}

/// UDP on `0.0.0.0:67`, bound to `ifname`, broadcast allowed.
fn server_socket(ifname: &str) -> std::io::Result<UdpSocket> {
    let socket = Socket::new(
        Domain::IPV4,
        Type::DGRAM.nonblocking().cloexec(),
        Some(Protocol::UDP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind_device(Some(ifname.as_bytes()))?;
    socket.set_broadcast(true)?;
    // Bursts of 10k clients: a deep receive queue so the kernel does not drop while we sync.
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 67).into())?;
    UdpSocket::from_std(socket.into())
}

impl Driver {
    pub fn new(parts: DriverParts<Dhcpv4Server>) -> Driver {
        let DriverParts {
            name,
            config,
            state_dir,
            events,
            shared,
            requests,
        } = parts;
        Driver {
            projection: StatusProjection::new(&name, Timestamp::now()),
            name,
            config,
            journal_path: state_dir.join(JOURNAL_FILE),
            journal: None,
            events,
            shared,
            requests,
            server: None,
            udp: None,
            pinger: None,
            fault: None,
            dirty: true,
            last_publish: Instant::now(),
            buf: vec![0; BUFFER],
            ping_buf: vec![0; BUFFER],
            persist: Vec::new(),
            sends: Vec::new(),
        }
    }

    pub async fn run(mut self) {
        self.start();
        // An interval, not a sleep re-armed every turn: under steady traffic (or the 1 s lease sweep)
        // a fresh sleep would never complete, and the status would never be republished.
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.shared.beat();
            let deadline = [
                self.server.as_ref().and_then(Server::deadline),
                self.pinger.as_ref().and_then(Pinger::deadline),
            ]
            .into_iter()
            .flatten()
            .min();
            let wake = {
                let Driver {
                    requests,
                    udp,
                    pinger,
                    buf,
                    ping_buf,
                    ..
                } = &mut self;
                tokio::select! {
                    r = requests.recv() => Wake::Request(r),
                    r = recv(udp.as_ref(), buf) => Wake::Datagram(r),
                    r = answered(pinger.as_mut(), ping_buf) => Wake::Answered(r),
                    _ = driven::sleep_until(deadline.map(tokio::time::Instant::from_std)) => Wake::Timer,
                    _ = tick.tick() => Wake::Tick,
                }
            };
            match wake {
                Wake::Request(None) => break,
                Wake::Request(Some(r)) => {
                    if r.handle(&mut self) == Handled::ShutDown {
                        break;
                    }
                }
                Wake::Datagram(Ok((n, _))) => {
                    self.on_datagram(n);
                    self.drain();
                    self.flush().await;
                }
                Wake::Datagram(Err(e)) => {
                    tracing::warn!(error = %e, "UDP socket failed; reopening it");
                    self.udp = None;
                }
                Wake::Answered(Ok(a)) => {
                    tracing::info!(address = %a, "answered the check before an offer: in use");
                    let now = Now::system();
                    let out = self.server.as_mut().map(|s| s.probe_result(a, true, now));
                    self.collect(out.unwrap_or_default());
                    self.flush().await;
                }
                Wake::Answered(Err(e)) => {
                    tracing::warn!(error = %e, "ICMP socket failed; reopening it");
                    self.pinger = None;
                }
                Wake::Timer => {
                    self.on_timer();
                    self.flush().await;
                }
                Wake::Tick => {
                    self.ensure_sockets();
                    self.on_timer();
                    self.flush().await;
                    let large = self
                        .server
                        .as_ref()
                        .is_some_and(|s| s.lease_count() > LARGE_TABLE);
                    if self.dirty && (!large || self.last_publish.elapsed() >= SLOW_PUBLISH) {
                        self.publish();
                    }
                }
            }
        }
        self.publish();
    }

    fn start(&mut self) {
        match Journal::open(&self.journal_path) {
            Ok((journal, leases)) => {
                if journal.skipped > 0 {
                    tracing::warn!(
                        skipped = journal.skipped,
                        "journal lines unreadable (a torn write); skipped"
                    );
                }
                tracing::info!(leases = leases.len(), path = %self.journal_path.display(), "leases restored");
                self.journal = Some(journal);
                match server_config(&self.name, &self.config) {
                    Ok(c) => self.server = Some(Server::new(c, leases)),
                    Err(e) => self.fault = Some(format!("config.json: {e}")),
                }
            }
            Err(e) => {
                // Without a journal no lease could be kept: serve nothing rather than lose leases.
                tracing::error!(error = %e, "lease journal unusable; not serving");
                self.fault = Some(format!("lease journal: {e}"));
            }
        }
        self.ensure_sockets();
        self.publish();
    }

    fn ensure_sockets(&mut self) {
        if self.server.is_none() {
            return;
        }
        let ifname = self.config.ifname.clone();
        if self.udp.is_none() {
            match server_socket(&ifname) {
                Ok(s) => {
                    tracing::info!(%ifname, "serving on port 67");
                    self.udp = Some(s);
                    self.fault = None;
                    self.dirty = true;
                }
                Err(e) => {
                    let f = format!("cannot serve on {ifname}: {e}");
                    if self.fault.as_deref() != Some(&f) {
                        tracing::warn!("{f}");
                        self.fault = Some(f);
                        self.dirty = true;
                    }
                }
            }
        }
        let timeout = self
            .config
            .probe_timeout_ms
            .unwrap_or(DEFAULT_PROBE_TIMEOUT_MS);
        if self.pinger.is_none() && timeout > 0 && self.udp.is_some() {
            match Pinger::open(&ifname, Duration::from_millis(u64::from(timeout))) {
                Ok(p) => self.pinger = Some(p),
                Err(e) => {
                    tracing::warn!(error = %e, "no ICMP socket: never-used addresses are offered unchecked")
                }
            }
        }
    }

    fn on_datagram(&mut self, n: usize) {
        let now = Now::system();
        let Some(server) = self.server.as_mut() else {
            return;
        };
        let bytes = self.buf.get(..n).unwrap_or(&[]);
        let out = server.handle_packet(bytes, now);
        self.collect(out);
    }

    /// Takes every datagram already queued, up to [`BATCH`].
    fn drain(&mut self) {
        for _ in 0..BATCH {
            let Some(udp) = &self.udp else { return };
            match udp.try_recv_from(&mut self.buf) {
                Ok((n, _)) => self.on_datagram(n),
                Err(_) => return,
            }
        }
    }

    fn on_timer(&mut self) {
        let now = Now::system();
        let expired = self
            .pinger
            .as_mut()
            .map(|p| p.expired(now.mono))
            .unwrap_or_default();
        let Some(server) = self.server.as_mut() else {
            return;
        };
        let mut out = Vec::new();
        for a in expired {
            out.extend(server.probe_result(a, false, now));
        }
        out.extend(server.timer(now));
        self.collect(out);
    }

    fn collect(&mut self, outputs: Vec<Output>) {
        for o in outputs {
            match o {
                Output::Send(t) => self.sends.push(t),
                Output::Persist(l) => {
                    self.persist.push(l);
                    self.dirty = true;
                }
                Output::Probe(a) => match self.pinger.as_mut() {
                    Some(p) => p.start(a, Instant::now()),
                    None => {
                        // No ICMP socket: the check cannot be made; offer at once.
                        let now = Now::system();
                        let out = self.server.as_mut().map(|s| s.probe_result(a, false, now));
                        self.collect(out.unwrap_or_default());
                    }
                },
                Output::Event(e) => {
                    self.dirty = true;
                    if let Err(err) = self.events.append(e) {
                        tracing::error!(error = %err, "event not recorded");
                    }
                }
                Output::Note(n) => tracing::debug!("{n}"),
            }
        }
    }

    /// Journal first (one sync), then the replies.
    async fn flush(&mut self) {
        let persist = std::mem::take(&mut self.persist);
        let sends = std::mem::take(&mut self.sends);
        if !persist.is_empty() {
            let Some(journal) = self.journal.as_mut() else {
                return;
            };
            if let Err(e) = journal.append(&persist) {
                // Not on disk: no ACK may leave (the client retries; nothing is promised and lost).
                tracing::error!(error = %e, "lease journal write failed; replies of this batch dropped");
                self.fault = Some(format!("lease journal: {e}"));
                self.dirty = true;
                return;
            }
            if let Some(server) = &self.server {
                let live = server.leases();
                if journal.needs_compaction(live.len()) {
                    if let Err(e) = journal.compact(live.into_iter()) {
                        tracing::warn!(error = %e, "journal compaction failed; appending on");
                    }
                }
            }
        }
        let Some(udp) = &self.udp else { return };
        for t in sends {
            if let Err(e) = udp.send_to(&t.bytes, SocketAddr::V4(t.to)).await {
                tracing::debug!(error = %e, to = %t.to, "{} not sent", t.kind.as_str());
            }
        }
    }

    fn publish(&mut self) {
        self.dirty = false;
        self.last_publish = Instant::now();
        let status = self.projection.update(
            self.server.as_ref(),
            self.fault.as_deref(),
            Timestamp::now(),
        );
        self.shared.set_status(status);
    }
}

impl Handler<Command, DHCPv4ServerDaemonConfig> for Driver {
    fn command(&mut self, command: Command) -> Result<String, String> {
        match command {}
    }

    fn reload(&mut self, config: DHCPv4ServerDaemonConfig) -> Result<String, String> {
        let core = server_config(&self.name, &config)?;
        if config.ifname != self.config.ifname {
            self.udp = None;
            self.pinger = None;
        }
        if config.probe_timeout_ms != self.config.probe_timeout_ms {
            self.pinger = None;
        }
        let leases: Vec<Lease> = self
            .server
            .as_ref()
            .map(|s| s.leases().into_iter().cloned().collect())
            .unwrap_or_default();
        if self.journal.is_some() {
            self.server = Some(Server::new(core, leases));
        }
        self.config = config;
        self.ensure_sockets();
        self.publish();
        Ok("config reloaded; leases kept".into())
    }

    fn shutdown(&mut self) {
        // Every acknowledged lease is already synced; nothing to hand over.
        self.udp = None;
        self.pinger = None;
    }
}
