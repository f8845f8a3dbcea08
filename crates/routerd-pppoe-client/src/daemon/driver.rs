//! The I/O shell around the [`Connection`]: one task owns it, the two AF_PACKET sockets (0x8863, 0x8864)
//! bound to the Ethernet interface, the data plane and the device configuration, feeds the connection
//! what happens and carries out what it asks.
//!
//! - Start-up: the password file is read (and refused unless private); the TUN device is created
//!   (data plane `tun`); `session.json` is read, and a session a previous run left gets its PADT
//!   before the first PADI.
//! - IP packets take the fast path (`dataplane.rs`); everything else on 0x8864 and all of 0x8863 goes to
//!   the connection as raw bytes.
//! - Host changes the connection asks for (addresses, MTU) are made with rtnetlink after each input;
//!   `session.json` is written when a session is established and removed when it ends.

use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use routerd_api::spec::DataPlane;
use routerd_api::Timestamp;
use routerd_daemon::driven::{
    self, DriverParts, Handled, Handler, Request as KitRequest, SharedStatus, HEARTBEAT,
};
use routerd_daemon::link_watch::{groups, LinkWatch};
use routerd_daemon::{interface, read_json, write_json_atomic, EventLog};
use routerd_pppoe_client::config::{read_password_file, DaemonConfig, PersistedSession};
use routerd_pppoe_client::discovery::mac_string;
use routerd_pppoe_client::session::{Command, Connection, Input, LinkChange, Output};
use routerd_pppoe_client::status::{DataPlaneState, StatusProjection};
use routerd_proto::ppp::{Protocol, Secret};
use routerd_sansio::Now;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

use super::dataplane::{self, Path, Received, Traffic, BATCH, FRAME_BUFFER};
use super::host::DeviceHost;
use super::service::Pppoe;
use super::sys::{self, ETH_P_PPP_DISC, ETH_P_PPP_SES};

/// The persisted session in the state directory.
pub const SESSION_FILE: &str = "session.json";
/// How often the byte counters reach the status while only packets flow.
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// How often a missing interface is looked for.
const POLL: Duration = Duration::from_secs(2);

type Request = KitRequest<Command, DaemonConfig>;

enum Wake {
    Request(Option<Request>),
    Discovery,
    Session,
    Tun,
    LinkChanged(std::io::Result<()>),
    Timer,
    Tick,
}

/// The kernel's data plane for the current session.
struct KernelPlane {
    _session: sys::KernelSession,
    index: u32,
}

enum Plane {
    Tun {
        fd: AsyncFd<OwnedFd>,
        index: Option<u32>,
    },
    Kernel(Option<KernelPlane>),
    None,
}

pub struct Driver {
    name: String,
    config: DaemonConfig,
    device: String,
    session_path: PathBuf,
    events: EventLog,
    shared: Arc<SharedStatus>,
    requests: mpsc::Receiver<Request>,
    projection: StatusProjection,
    password: Option<Secret>,
    conn: Option<Connection>,
    link: Option<(u32, [u8; 6])>,
    discovery_socket: Option<AsyncFd<OwnedFd>>,
    session_socket: Option<AsyncFd<OwnedFd>>,
    plane: Plane,
    plane_kind: &'static str,
    host: Option<DeviceHost>,
    pending: Vec<LinkChange>,
    ipv4_installed: Option<(Ipv4Addr, Option<Ipv4Addr>)>,
    path: Option<Path>,
    traffic: Traffic,
    rx: Vec<u8>,
    /// One frame buffer per packet of a TUN batch (sent together with `sendmmsg`).
    tx: Vec<Vec<u8>>,
    stopping: bool,
    last_fault: Option<String>,
    watcher: LinkWatch,
    carrier: Option<bool>,
    published: std::time::Instant,
    /// The last session-socket wake-up carried a control frame (status may have changed).
    control_seen: bool,
}

impl Driver {
    pub fn new(parts: DriverParts<Pppoe>) -> Driver {
        let DriverParts {
            name,
            config,
            state_dir,
            events,
            shared,
            requests,
        } = parts;
        let device = config.device(&name);
        Driver {
            projection: StatusProjection::new(&name, Timestamp::now()),
            session_path: state_dir.join(SESSION_FILE),
            name,
            device,
            config,
            events,
            shared,
            requests,
            password: None,
            conn: None,
            link: None,
            discovery_socket: None,
            session_socket: None,
            plane: Plane::None,
            plane_kind: "",
            host: None,
            pending: Vec::new(),
            ipv4_installed: None,
            path: None,
            traffic: Traffic::default(),
            rx: vec![0; FRAME_BUFFER],
            tx: vec![vec![0; FRAME_BUFFER]; BATCH],
            stopping: false,
            last_fault: None,
            watcher: LinkWatch::new(groups::LINK),
            carrier: None,
            published: std::time::Instant::now(),
            control_seen: false,
        }
    }

    /// Runs until a `Shutdown` request (or the API side is gone).
    pub async fn run(mut self) {
        self.prepare().await;
        let mut data_only = false;
        loop {
            self.shared.beat();
            self.host_changes().await;
            // Packets alone change only the byte counters: those are published once a second, so a
            // busy data plane does not serialise the status per batch.
            if !data_only || self.published.elapsed() >= STATUS_EVERY {
                self.publish_status();
            }
            let deadline = self.conn.as_ref().and_then(Connection::next_deadline);
            let tick = if self.conn.is_none() { POLL } else { HEARTBEAT };
            let wake = {
                let Driver {
                    requests,
                    discovery_socket,
                    session_socket,
                    plane,
                    watcher,
                    ..
                } = &mut self;
                // Biased, discovery first: an AC sends its LCP Configure-Request right after the PADS,
                // and reading the session socket before the PADS would drop that request and stall
                // the negotiation for a whole restart interval (3 s).
                tokio::select! {
                    biased;
                    r = requests.recv() => Wake::Request(r),
                    _ = readable(discovery_socket.as_ref()) => Wake::Discovery,
                    _ = readable(session_socket.as_ref()) => Wake::Session,
                    _ = readable(match plane { Plane::Tun { fd, .. } => Some(&*fd), _ => None }) => Wake::Tun,
                    r = watcher.changed() => Wake::LinkChanged(r),
                    _ = driven::sleep_until(deadline.map(tokio::time::Instant::from_std)) => Wake::Timer,
                    _ = tokio::time::sleep(tick) => Wake::Tick,
                }
            };
            let data_wake = matches!(wake, Wake::Tun | Wake::Session);
            match wake {
                Wake::Request(None) => break,
                Wake::Request(Some(r)) => {
                    if r.handle(&mut self) == Handled::ShutDown {
                        break;
                    }
                }
                Wake::Discovery => self.drain_discovery(),
                Wake::Session => self.drain_session(),
                Wake::Tun => self.drain_tun(),
                Wake::Timer => self.feed(Input::Timer),
                Wake::LinkChanged(Ok(())) => self.refresh_carrier(),
                Wake::LinkChanged(Err(e)) => {
                    tracing::warn!(error = %e, "netlink socket failed; polling the interface instead");
                    self.watcher.close();
                }
                Wake::Tick => {
                    if self.conn.is_none() && !self.stopping {
                        self.prepare().await;
                    } else {
                        self.refresh_carrier();
                    }
                }
            }
            data_only = data_wake && !std::mem::take(&mut self.control_seen);
        }
    }

    /// Reads the password, sets up the data plane and the sockets, and starts dialling. Retried on
    /// each tick while something is missing (the interface, a readable password file).
    async fn prepare(&mut self) {
        if let Err(e) = self.config.validate(&self.name) {
            self.projection.set_fault(Some(("InvalidConfig", e)));
            return;
        }
        if self.password.is_none() {
            let uid = nix::unistd::geteuid().as_raw();
            match read_password_file(std::path::Path::new(&self.config.spec.password_file), uid) {
                Ok(p) => self.password = Some(p),
                Err(e) => {
                    self.fault("PasswordFileRejected", e.to_string());
                    return;
                }
            }
        }
        if self.host.is_none() {
            match DeviceHost::new() {
                Ok(h) => self.host = Some(h),
                Err(e) => {
                    self.projection.set_fault(Some(("NetlinkError", e)));
                    return;
                }
            }
        }
        if matches!(self.plane, Plane::None) {
            if let Err(e) = self.open_plane().await {
                self.fault("DataPlaneUnavailable", e);
                return;
            }
        }
        let Some(found) = interface::lookup(&self.config.ifname) else {
            self.projection.set_fault(Some((
                "InterfaceMissing",
                format!("no interface named {:?}", self.config.ifname),
            )));
            return;
        };
        let Some(mac) = found.mac else {
            self.projection.set_fault(Some((
                "InterfaceMissing",
                format!("{} has no Ethernet address", self.config.ifname),
            )));
            return;
        };
        let sockets = sys::packet_socket(found.ifindex, ETH_P_PPP_DISC)
            .and_then(sys::async_fd)
            .and_then(|d| {
                let s = sys::packet_socket(found.ifindex, ETH_P_PPP_SES).and_then(sys::async_fd)?;
                Ok((d, s))
            });
        let (discovery_socket, session_socket) = match sockets {
            Ok(s) => s,
            Err(e) => {
                let message = format!(
                    "cannot open packet sockets on {}: {e} (the daemon needs CAP_NET_RAW)",
                    self.config.ifname
                );
                self.fault("SocketError", message);
                return;
            }
        };
        self.discovery_socket = Some(discovery_socket);
        self.session_socket = Some(session_socket);
        self.link = Some((found.ifindex, mac));
        let Some(password) = self.password.clone() else {
            return;
        };
        let config = match self.config.connection(&self.name, password) {
            Ok(c) => c,
            Err(e) => {
                self.projection.set_fault(Some(("InvalidConfig", e)));
                return;
            }
        };
        let mut conn = match Connection::new(config, Box::new(routerd_daemon::seeded_xorshift())) {
            Ok(c) => c,
            Err(e) => {
                self.projection
                    .set_fault(Some(("InvalidConfig", e.to_string())));
                return;
            }
        };
        self.projection.set_fault(None);
        self.last_fault = None;
        let stale = match read_json::<PersistedSession>(&self.session_path) {
            Ok(Some(p)) => {
                let stale = p.stale_on(&self.config.ifname, &mac);
                if let Some((id, ac)) = stale {
                    tracing::info!(
                        session_id = id,
                        ac = %mac_string(&ac),
                        "a previous run left session {id}; sending its PADT first"
                    );
                }
                stale
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "session.json unreadable; no stale session to end");
                None
            }
        };
        tracing::info!(
            interface = %self.config.ifname,
            device = %self.device,
            data_plane = self.plane_kind,
            "dialling"
        );
        let outputs = conn.start(Now::system(), stale);
        self.conn = Some(conn);
        self.carrier = None;
        if stale.is_some() {
            // Synchronously, so it cannot land after the next session's session.json.
            if let Err(e) = std::fs::remove_file(&self.session_path) {
                tracing::warn!(error = %e, "cannot remove the stale session.json");
            }
        }
        self.apply(outputs);
        self.refresh_carrier();
    }

    /// Tells the connection when the Ethernet link loses or regains its carrier (the kit's rtnetlink
    /// watcher wakes us on every link change; the tick covers a watcher that could not open).
    fn refresh_carrier(&mut self) {
        self.watcher.ensure_open(POLL);
        let carrier = interface::lookup(&self.config.ifname).is_some_and(|i| i.carrier);
        if self.carrier == Some(carrier) {
            return;
        }
        let first = self.carrier.is_none();
        self.carrier = Some(carrier);
        if first && carrier {
            return;
        }
        tracing::info!(interface = %self.config.ifname, carrier, "carrier changed");
        self.feed(Input::Carrier(carrier));
    }

    /// A reason the daemon cannot dial: status `Error`, logged once per distinct message.
    fn fault(&mut self, reason: &str, message: String) {
        if self.last_fault.as_deref() != Some(message.as_str()) {
            tracing::error!(reason, "{message}");
            self.last_fault = Some(message.clone());
        }
        self.projection.set_fault(Some((reason, message)));
    }

    async fn open_plane(&mut self) -> Result<(), String> {
        let choice = match self.config.data_plane() {
            DataPlane::Tun => DataPlane::Tun,
            DataPlane::Kernel => {
                sys::probe_kernel_ppp()
                    .map_err(|e| format!("dataPlane kernel is unavailable: {e}"))?;
                DataPlane::Kernel
            }
            DataPlane::Auto => match sys::probe_kernel_ppp() {
                Ok(()) => DataPlane::Kernel,
                Err(reason) => {
                    tracing::info!(
                        "kernel PPP data plane unavailable ({reason}); using a TUN device"
                    );
                    DataPlane::Tun
                }
            },
        };
        if choice == DataPlane::Kernel {
            self.plane = Plane::Kernel(None);
            self.plane_kind = "kernel";
            return Ok(());
        }
        let fd = sys::open_tun(&self.device)
            .and_then(sys::async_fd)
            .map_err(|e| format!("cannot create TUN device {}: {e}", self.device))?;
        let index = match &self.host {
            Some(host) => host.index_of(&self.device).await,
            None => None,
        };
        if let (Some(host), Some(index)) = (&self.host, index) {
            let mtu = self.config.mtu().unwrap_or(1492);
            if let Err(e) = host.up(index, mtu).await {
                tracing::warn!("{e}");
            }
        }
        self.plane = Plane::Tun { fd, index };
        self.plane_kind = "tun";
        Ok(())
    }

    fn feed(&mut self, input: Input<'_>) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let outputs = conn.handle(input, Now::system());
        self.apply(outputs);
    }

    /// Carries out the connection's outputs: frames now, events now, host changes after the input.
    fn apply(&mut self, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Discovery(frame) => {
                    let mut payload = Vec::with_capacity(64);
                    if let Err(e) = frame.packet.encode(&mut payload) {
                        tracing::warn!(error = %e, "discovery packet not encodable; not sent");
                        continue;
                    }
                    self.send_frame(frame.destination, ETH_P_PPP_DISC, &payload, true);
                }
                Output::Session(packet) => {
                    let mut payload = Vec::with_capacity(6 + packet.ppp.len());
                    let frame = routerd_proto::pppoe::SessionFrame {
                        session_id: packet.session_id,
                        payload: &packet.ppp,
                    };
                    if frame.encode(&mut payload).is_ok() {
                        self.send_frame(packet.destination, ETH_P_PPP_SES, &payload, false);
                    }
                }
                Output::Event(event) => {
                    tracing::info!(topic = %event.topic, "{}", event.message);
                    if let Err(e) = self.events.append(event) {
                        tracing::error!(error = %e, "event not recorded");
                    }
                }
                Output::Note(note) => tracing::debug!("{note}"),
                Output::Link(change) => {
                    match &change {
                        LinkChange::Established(session) => self.persist(session),
                        LinkChange::Ended => match std::fs::remove_file(&self.session_path) {
                            Ok(()) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                            Err(e) => tracing::warn!(
                                error = %e,
                                "cannot remove session.json; a restart would end that session again"
                            ),
                        },
                        _ => {}
                    }
                    self.pending.push(change);
                }
            }
        }
        self.refresh_path();
    }

    /// The fast path's view of the session (session id, MACs, which NCPs are open).
    fn refresh_path(&mut self) {
        let (Some(conn), Some((_, our_mac))) = (&self.conn, self.link) else {
            self.path = None;
            return;
        };
        let v4 = conn.data_session(Protocol::IPV4);
        let v6 = conn.data_session(Protocol::IPV6);
        self.path = v4.or(v6).map(|(session_id, ac_mac)| Path {
            our_mac,
            ac_mac,
            session_id,
            ipv4: v4.is_some(),
            ipv6: v6.is_some(),
        });
    }

    fn persist(&self, session: &routerd_pppoe_client::discovery::Session) {
        let Some((_, our_mac)) = self.link else {
            return;
        };
        let record = PersistedSession {
            session_id: session.session_id,
            ac_mac: mac_string(&session.ac_mac),
            our_mac: mac_string(&our_mac),
            interface: self.config.ifname.clone(),
        };
        // Synchronously: a kill -9 right after the PADS must still find it.
        if let Err(e) = write_json_atomic(&self.session_path, &record) {
            tracing::error!(error = %e, "session.json not written; a restart could not end this session");
        }
    }

    fn send_frame(
        &mut self,
        destination: [u8; 6],
        ethertype: u16,
        payload: &[u8],
        discovery: bool,
    ) {
        let Some((_, our_mac)) = self.link else {
            return;
        };
        let socket = if discovery {
            &self.discovery_socket
        } else {
            &self.session_socket
        };
        let Some(socket) = socket else { return };
        let mut frame = Vec::with_capacity(14 + payload.len());
        frame.extend_from_slice(&destination);
        frame.extend_from_slice(&our_mac);
        frame.extend_from_slice(&ethertype.to_be_bytes());
        frame.extend_from_slice(payload);
        if let Err(e) = sys::write(socket.get_ref(), &frame) {
            tracing::warn!(error = %e, "frame not sent; the retransmission will try again");
        }
    }

    fn drain_discovery(&mut self) {
        let mut frames: Vec<([u8; 6], Vec<u8>)> = Vec::new();
        if let Some(socket) = &self.discovery_socket {
            if let Some(Ok(mut guard)) = socket.readable().now_or_never() {
                for _ in 0..BATCH {
                    match guard.try_io(|fd| sys::read(fd.get_ref(), &mut self.rx)) {
                        Ok(Ok(n)) => {
                            let frame = self.rx.get(..n).unwrap_or_default();
                            if let (Some(src), Some(payload)) = (frame.get(6..12), frame.get(14..))
                            {
                                let mut from = [0u8; 6];
                                from.copy_from_slice(src);
                                if Some(from) != self.link.map(|l| l.1) {
                                    frames.push((from, payload.to_vec()));
                                }
                            }
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "discovery socket read failed");
                            break;
                        }
                        Err(_would_block) => break,
                    }
                }
            }
        }
        for (from, bytes) in frames {
            self.feed(Input::Discovery {
                from,
                bytes: &bytes,
            });
        }
    }

    fn drain_session(&mut self) {
        let mut control: Vec<([u8; 6], Vec<u8>)> = Vec::new();
        let Driver {
            session_socket,
            plane,
            path,
            traffic,
            rx,
            link,
            ..
        } = self;
        if let Some(socket) = session_socket.as_ref() {
            if let Some(Ok(mut guard)) = socket.readable().now_or_never() {
                for _ in 0..BATCH {
                    match guard.try_io(|fd| sys::read(fd.get_ref(), rx)) {
                        Ok(Ok(n)) => {
                            let frame = rx.get(..n).unwrap_or_default();
                            match dataplane::classify(frame, path.as_ref()) {
                                Received::Ip { end } => {
                                    // In kernel mode the kernel carries it (a copy reaches us too).
                                    if let Plane::Tun { fd, .. } = plane {
                                        dataplane::session_to_device(
                                            fd.get_ref(),
                                            frame,
                                            end,
                                            traffic,
                                        )
                                    }
                                }
                                Received::Control => {
                                    if let (Some(src), Some(payload)) =
                                        (frame.get(6..12), frame.get(14..))
                                    {
                                        let mut from = [0u8; 6];
                                        from.copy_from_slice(src);
                                        if Some(from) != link.map(|l| l.1) {
                                            control.push((from, payload.to_vec()));
                                        }
                                    }
                                }
                            }
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "session socket read failed");
                            break;
                        }
                        Err(_would_block) => break,
                    }
                }
            }
        }
        // A control frame may change what the status says (LCP/NCP opened, terminated): publish it
        // at once instead of waiting for the next data-only second.
        self.control_seen = !control.is_empty();
        for (from, bytes) in control {
            self.feed(Input::Session {
                from,
                bytes: &bytes,
            });
        }
    }

    fn drain_tun(&mut self) {
        let Driver {
            session_socket,
            plane,
            path,
            traffic,
            tx,
            ..
        } = self;
        let Plane::Tun { fd, .. } = plane else { return };
        let Some(Ok(mut guard)) = fd.readable().now_or_never() else {
            return;
        };
        let Some(path) = path.as_ref() else {
            // No NCP open: drain and drop what the device has queued, so it does not spin.
            let Some(scratch) = tx.first_mut() else {
                return;
            };
            while let Ok(Ok(_)) = guard.try_io(|fd| sys::read(fd.get_ref(), scratch)) {
                traffic.dropped += 1;
            }
            return;
        };
        let Some(session) = session_socket.as_ref() else {
            return;
        };
        let mut dry = false;
        let result = guard.try_io(|fd| {
            let r = dataplane::tun_to_session(
                tx,
                path,
                |buf| sys::read(fd.get_ref(), buf),
                |batch| sys::send_many(session.get_ref(), batch),
                traffic,
            );
            match r {
                Ok(true) => {
                    dry = true;
                    Err(std::io::ErrorKind::WouldBlock.into())
                }
                other => other.map(|_| ()),
            }
        });
        if let Ok(Err(e)) = result {
            tracing::warn!(error = %e, "TUN forwarding failed");
        }
        let _ = dry;
    }

    /// Makes the host changes the last inputs asked for.
    async fn host_changes(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let changes = std::mem::take(&mut self.pending);
        let Some(host) = self.host.clone() else {
            return;
        };
        for change in changes {
            match change {
                LinkChange::Established(session) => {
                    if let Plane::Kernel(slot) = &mut self.plane {
                        match sys::kernel_session(
                            &self.config.ifname,
                            session.session_id,
                            session.ac_mac,
                        ) {
                            Ok(kernel) => {
                                let unit = format!("ppp{}", kernel.unit_number);
                                let index = host.index_of(&unit).await;
                                if let Some(index) = index {
                                    if let Err(e) = host.rename(index, &self.device).await {
                                        tracing::warn!("{e}");
                                    }
                                }
                                *slot = index.map(|index| KernelPlane {
                                    _session: kernel,
                                    index,
                                });
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "kernel PPP session not attached")
                            }
                        }
                    }
                }
                LinkChange::Ipv4Up { ipcp, mtu } => {
                    let Some(index) = self.device_index() else {
                        continue;
                    };
                    if let Err(e) = host.up(index, mtu).await {
                        tracing::warn!("{e}");
                    }
                    match host.add_ipv4(index, ipcp.address, ipcp.peer_address).await {
                        Ok(()) => {
                            tracing::info!(address = %ipcp.address, peer = ?ipcp.peer_address, device = %self.device, "IPv4 configured");
                            self.ipv4_installed = Some((ipcp.address, ipcp.peer_address));
                        }
                        Err(e) => tracing::error!("{e}"),
                    }
                }
                LinkChange::Ipv4Down | LinkChange::Ended => {
                    if let (Some(index), Some((local, peer))) =
                        (self.device_index(), self.ipv4_installed.take())
                    {
                        if let Err(e) = host.del_ipv4(index, local, peer).await {
                            tracing::warn!("{e}");
                        }
                    }
                    if matches!(change, LinkChange::Ended) {
                        if let Plane::Kernel(slot) = &mut self.plane {
                            *slot = None;
                        }
                    }
                }
                LinkChange::Ipv6Up { ipv6cp, mtu } => {
                    let (Some(index), Some(ours)) = (self.device_index(), ipv6cp.ours) else {
                        continue;
                    };
                    if let Err(e) = host.up(index, mtu).await {
                        tracing::warn!("{e}");
                    }
                    match host.add_link_local(index, ours).await {
                        Ok(address) => {
                            tracing::info!(%address, device = %self.device, "IPv6 link-local configured")
                        }
                        Err(e) => tracing::error!("{e}"),
                    }
                }
                LinkChange::Ipv6Down => {}
            }
        }
    }

    fn device_index(&self) -> Option<u32> {
        match &self.plane {
            Plane::Tun { index, .. } => *index,
            Plane::Kernel(Some(k)) => Some(k.index),
            _ => None,
        }
    }

    fn publish_status(&mut self) {
        let data = DataPlaneState {
            ifname: self.device.clone(),
            kind: self.plane_kind.to_string(),
            bytes_in: self.traffic.bytes_in,
            bytes_out: self.traffic.bytes_out,
        };
        let status = self.projection.update(
            self.conn.as_ref(),
            &data,
            Timestamp::now(),
            std::time::Instant::now(),
        );
        self.shared.set_status(status);
        self.published = std::time::Instant::now();
    }
}

/// The API side's requests, carried out on the loop.
impl Handler<Command, DaemonConfig> for Driver {
    fn command(&mut self, command: Command) -> Result<String, String> {
        let Some(conn) = self.conn.as_mut() else {
            return Err("not dialling yet (see the status for why)".into());
        };
        let was_up = conn.is_up();
        let outputs = conn.handle(Input::Command(command), Now::system());
        self.apply(outputs);
        Ok(match (command, was_up) {
            (Command::Renew, true) => "LCP Echo-Request sent".into(),
            (Command::Renew, false) => "dialling now".into(),
            (Command::Stop, _) => "session terminated".into(),
        })
    }

    fn reload(&mut self, config: DaemonConfig) -> Result<String, String> {
        config.validate(&self.name)?;
        if config.ifname != self.config.ifname || config.device(&self.name) != self.device {
            return Err(format!(
                "the interface or device changed ({} → {}, {} → {}): the daemon must be restarted",
                self.config.ifname,
                config.ifname,
                self.device,
                config.device(&self.name)
            ));
        }
        let uid = nix::unistd::geteuid().as_raw();
        let password = read_password_file(std::path::Path::new(&config.spec.password_file), uid)
            .map_err(|e| e.to_string())?;
        if config == self.config && Some(&password) == self.password.as_ref() {
            return Ok("config unchanged; the session is kept".into());
        }
        // Credentials, names or timers changed: they belong to the session, so it is dialled anew.
        if let Some(conn) = self.conn.as_mut() {
            let outputs = conn.handle(Input::Command(Command::Stop), Now::system());
            self.apply(outputs);
        }
        self.conn = None;
        self.config = config;
        self.password = Some(password);
        Ok("config reloaded; the session is dialled again with it".into())
    }

    fn shutdown(&mut self) {
        self.stopping = true;
        if let Some(conn) = self.conn.as_mut() {
            let outputs = conn.handle(Input::Command(Command::Stop), Now::system());
            self.apply(outputs);
        }
        self.pending.clear();
        self.discovery_socket = None;
        self.session_socket = None;
        self.publish_status();
    }
}

async fn readable(fd: Option<&AsyncFd<OwnedFd>>) {
    match fd {
        Some(fd) => {
            let _ = fd.readable().await.map(|mut g| g.retain_ready());
        }
        None => std::future::pending().await,
    }
}
