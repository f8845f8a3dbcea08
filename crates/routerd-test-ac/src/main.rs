//! `routerd-test-ac`: the I/O shell of the test access concentrator — AF_PACKET sockets for PPPoE
//! discovery and session frames on `--interface`, the TUN device `--tun` that the sessions' IP traffic
//! goes to and comes from, the control socket, and one JSON line per notable thing on stdout.

mod sys;

use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use clap::{Parser, ValueEnum};
use routerd_pppoe_client::negotiation::Timers;
use routerd_proto::ppp::Secret;
use routerd_proto::pppoe::{ETHERTYPE_DISCOVERY, ETHERTYPE_SESSION};
use routerd_sansio::{Now, XorShift};
use routerd_test_ac::{AuthKind, Concentrator, Config, Mac, Output};
use socket2::Socket;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};

/// A PPPoE access concentrator for routerd's tests, benchmarks and demo (not for production).
///
/// Answers PADI/PADR on --interface, runs LCP, PAP or CHAP-MD5 (as authenticator), IPCP and IPv6CP for
/// each session, and forwards the sessions' IPv4/IPv6 datagrams to and from the TUN device --tun. Prints
/// one JSON line per notable event on stdout. The control socket (--control) takes one command line per
/// connection and answers one JSON line: `stats`, `padt` (PADT every session), `echo-replies on|off`,
/// `silent on|off` (ignore every frame).
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Ethernet interface facing the clients.
    #[arg(long)]
    interface: String,
    /// TUN device to create for the sessions' IP traffic (no data plane without it).
    #[arg(long)]
    tun: Option<String>,
    /// AC-Name in PADO and PADT, and the CHAP authenticator name.
    #[arg(long, default_value = "routerd-test-ac")]
    ac_name: String,
    /// A Service-Name offered besides the empty one ("any"), which is always accepted. Repeatable.
    #[arg(long = "service-name")]
    service_names: Vec<String>,
    /// Authentication demanded from clients.
    #[arg(long, value_enum, default_value_t = AuthArg::Pap)]
    auth: AuthArg,
    /// User name clients must authenticate as (any when absent).
    #[arg(long)]
    username: Option<String>,
    /// File holding the password / CHAP secret (trailing newline ignored; any password when absent).
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Our IPv4 address: the TUN's local address and IPCP's announced address.
    #[arg(long, default_value = "100.64.0.1")]
    local_ipv4: Ipv4Addr,
    /// The IPv4 address given to clients (the TUN's point-to-point peer).
    #[arg(long, default_value = "100.64.0.2")]
    peer_ipv4: Ipv4Addr,
    /// DNS servers handed out by IPCP (RFC 1877), at most two, comma-separated.
    #[arg(long, value_delimiter = ',')]
    dns: Vec<Ipv4Addr>,
    /// Unix socket for the control commands.
    #[arg(long)]
    control: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AuthArg {
    Pap,
    Chap,
}

/// Frames handled per readiness before the loop looks at its other sources (fairness).
const BATCH: usize = 64;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.dns.len() > 2 {
        bail!("--dns takes at most two servers");
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(cli))
}

fn read_sys(interface: &str, attribute: &str) -> anyhow::Result<String> {
    let path = Path::new("/sys/class/net").join(interface).join(attribute);
    Ok(std::fs::read_to_string(&path)
        .with_context(|| format!("reading {}", path.display()))?
        .trim()
        .to_owned())
}

fn parse_mac(text: &str) -> anyhow::Result<Mac> {
    let bytes: Vec<u8> = text
        .split(':')
        .map(|part| u8::from_str_radix(part, 16))
        .collect::<Result<_, _>>()
        .with_context(|| format!("bad MAC address {text:?}"))?;
    Mac::try_from(bytes.as_slice()).map_err(|_| anyhow::anyhow!("bad MAC address {text:?}"))
}

/// The modified EUI-64 of a MAC (RFC 4291 Appendix A): the AC's stable IPv6CP identifier.
fn eui64(mac: &Mac) -> [u8; 8] {
    [
        mac[0] ^ 0x02,
        mac[1],
        mac[2],
        0xff,
        0xfe,
        mac[3],
        mac[4],
        mac[5],
    ]
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .context("running ip")?;
    if !output.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Puts the addresses on the TUN: `local peer peer/32`, `fe80::<iid>/64` (so kea-dhcp6 can bind it),
/// MTU 1492 (RFC 2516 §7), up. Done with `ip`: this is a test tool, the daemon uses netlink.
fn configure_tun(name: &str, config: &Config) -> anyhow::Result<()> {
    let iid = config.interface_id;
    let link_local = std::net::Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        u16::from_be_bytes([iid[0], iid[1]]),
        u16::from_be_bytes([iid[2], iid[3]]),
        u16::from_be_bytes([iid[4], iid[5]]),
        u16::from_be_bytes([iid[6], iid[7]]),
    );
    ip(&["link", "set", "dev", name, "addrgenmode", "none"])?;
    ip(&["link", "set", "dev", name, "mtu", "1492", "up"])?;
    let local = config.local_ipv4.to_string();
    let peer = format!("{}/32", config.peer_ipv4);
    ip(&["addr", "replace", &local, "peer", &peer, "dev", name])?;
    let link_local = format!("{link_local}/64");
    ip(&["-6", "addr", "replace", &link_local, "dev", name, "nodad"])?;
    Ok(())
}

fn print_note(mut note: serde_json::Value) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    if let serde_json::Value::Object(map) = &mut note {
        map.insert(
            "ts".into(),
            serde_json::json!((now.as_micros() as f64) / 1e6),
        );
    }
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{note}");
}

/// The I/O handles of the running concentrator.
struct Io {
    discovery: AsyncFd<Socket>,
    session: AsyncFd<Socket>,
    tun: Option<AsyncFd<File>>,
}

impl Io {
    /// Sends an Ethernet frame; a full queue waits for room (control frames must not be lost).
    async fn send(socket: &AsyncFd<Socket>, frame: &[u8]) {
        loop {
            let Ok(mut guard) = socket.writable().await else {
                return;
            };
            match guard.try_io(|s| s.get_ref().send(frame)) {
                Ok(Ok(_)) => return,
                Ok(Err(e)) => {
                    eprintln!("routerd-test-ac: send: {e}");
                    return;
                }
                Err(_would_block) => continue,
            }
        }
    }

    async fn emit(&self, outputs: &mut Vec<Output>) {
        for output in outputs.drain(..) {
            match output {
                Output::Frame(frame) => {
                    let socket = match frame.get(12..14) {
                        Some([0x88, 0x63]) => &self.discovery,
                        _ => &self.session,
                    };
                    Self::send(socket, &frame).await;
                }
                Output::Note(note) => print_note(note),
            }
        }
    }
}

/// A control command line and where its JSON answer goes.
type ControlRequest = (String, oneshot::Sender<serde_json::Value>);

async fn run(cli: Cli) -> anyhow::Result<()> {
    let ifindex: u32 = read_sys(&cli.interface, "ifindex")?
        .parse()
        .context("parsing ifindex")?;
    let mac = parse_mac(&read_sys(&cli.interface, "address")?)?;
    let password = match &cli.password_file {
        Some(path) => {
            let mut text = Vec::new();
            File::open(path)
                .and_then(|mut f| f.read_to_end(&mut text))
                .with_context(|| format!("reading {}", path.display()))?;
            while text.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                text.pop();
            }
            Some(Secret::new(text))
        }
        None => None,
    };
    let config = Config {
        ac_name: cli.ac_name.clone(),
        service_names: cli.service_names.clone(),
        auth: match cli.auth {
            AuthArg::Pap => AuthKind::Pap,
            AuthArg::Chap => AuthKind::Chap,
        },
        username: cli.username.clone(),
        password,
        local_ipv4: cli.local_ipv4,
        peer_ipv4: cli.peer_ipv4,
        dns: cli.dns.clone(),
        interface_id: eui64(&mac),
        mac,
        timers: Timers::default(),
    };
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64
        ^ u64::from(std::process::id()) << 32;
    let tun = match &cli.tun {
        Some(name) => {
            let file = sys::open_tun(name).with_context(|| format!("creating TUN {name}"))?;
            configure_tun(name, &config)?;
            Some(sys::register(file)?)
        }
        None => None,
    };
    let io = Io {
        discovery: sys::register(sys::packet_socket(ifindex, ETHERTYPE_DISCOVERY)?)?,
        session: sys::register(sys::packet_socket(ifindex, ETHERTYPE_SESSION)?)?,
        tun,
    };
    let mut ac = Concentrator::new(config, Box::new(XorShift::new(seed)));

    let (commands_tx, mut commands) = mpsc::channel::<ControlRequest>(8);
    if let Some(path) = &cli.control {
        let _ = std::fs::remove_file(path);
        let listener =
            UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
        tokio::spawn(serve_control(listener, commands_tx));
    } else {
        drop(commands_tx);
    }
    print_note(serde_json::json!({
        "event": "ready", "interface": cli.interface, "tun": cli.tun, "acName": cli.ac_name,
    }));

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut outputs = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut frame = Vec::with_capacity(2048);
    loop {
        let deadline = ac.next_deadline().map(tokio::time::Instant::from_std);
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let tun_readable = async {
            match &io.tun {
                Some(tun) => tun.readable().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            guard = io.discovery.readable() => {
                let mut guard = guard?;
                for _ in 0..BATCH {
                    match guard.try_io(|s| s.get_ref().read(&mut buf)) {
                        Ok(Ok(n)) => {
                            let Some(received) = buf.get(..n) else { break };
                            ac.handle_frame(received, Now::system(), &mut outputs);
                        }
                        Ok(Err(e)) => { eprintln!("routerd-test-ac: receive: {e}"); break }
                        Err(_would_block) => break,
                    }
                }
                io.emit(&mut outputs).await;
            }
            guard = io.session.readable() => {
                let mut guard = guard?;
                for _ in 0..BATCH {
                    match guard.try_io(|s| s.get_ref().read(&mut buf)) {
                        Ok(Ok(n)) => {
                            let Some(received) = buf.get(..n) else { break };
                            if let Some(datagram) = ac.handle_frame(received, Now::system(), &mut outputs) {
                                if let Some(tun) = &io.tun {
                                    // A full TUN queue drops the datagram, as a router would.
                                    let _ = tun.get_ref().write(datagram);
                                }
                            }
                        }
                        Ok(Err(e)) => { eprintln!("routerd-test-ac: receive: {e}"); break }
                        Err(_would_block) => break,
                    }
                }
                io.emit(&mut outputs).await;
            }
            guard = tun_readable => {
                let mut guard = guard?;
                for _ in 0..BATCH {
                    match guard.try_io(|f| f.get_ref().read(&mut buf)) {
                        Ok(Ok(n)) => {
                            let Some(datagram) = buf.get(..n) else { break };
                            if ac.encapsulate(datagram, &mut frame) {
                                // Datagrams are not retried: a full socket queue drops, like a link.
                                let _ = io.session.get_ref().send(&frame);
                            }
                        }
                        Ok(Err(e)) => { eprintln!("routerd-test-ac: TUN read: {e}"); break }
                        Err(_would_block) => break,
                    }
                }
            }
            () = sleep => {
                ac.on_timer(Now::system(), &mut outputs);
                io.emit(&mut outputs).await;
            }
            Some((command, reply)) = commands.recv() => {
                let answer = control(&mut ac, &command, &mut outputs);
                io.emit(&mut outputs).await;
                let _ = reply.send(answer);
            }
            _ = sigterm.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    ac.terminate_all(&mut outputs);
    io.emit(&mut outputs).await;
    if let Some(path) = &cli.control {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Executes one control command; the answer is one JSON object.
fn control(ac: &mut Concentrator, command: &str, outputs: &mut Vec<Output>) -> serde_json::Value {
    let words: Vec<&str> = command.split_whitespace().collect();
    let switch = |word: Option<&&str>| match word.copied() {
        Some("on") => Some(true),
        Some("off") => Some(false),
        _ => None,
    };
    match words.as_slice() {
        ["stats"] => ac.stats_json(),
        ["padt"] => {
            let before = outputs.len();
            ac.terminate_all(outputs);
            let sent = outputs[before..]
                .iter()
                .filter(|o| matches!(o, Output::Frame(_)))
                .count();
            serde_json::json!({"ok": true, "padtSent": sent})
        }
        ["echo-replies", rest @ ..] => match switch(rest.first()) {
            Some(on) if rest.len() == 1 => {
                ac.knobs_mut().echo_replies = on;
                serde_json::json!({"ok": true, "echoReplies": on})
            }
            _ => serde_json::json!({"ok": false, "error": "usage: echo-replies on|off"}),
        },
        ["silent", rest @ ..] => match switch(rest.first()) {
            Some(on) if rest.len() == 1 => {
                ac.knobs_mut().silent = on;
                serde_json::json!({"ok": true, "silent": on})
            }
            _ => serde_json::json!({"ok": false, "error": "usage: silent on|off"}),
        },
        _ => serde_json::json!({
            "ok": false,
            "error": format!("unknown command {command:?} (stats, padt, echo-replies on|off, silent on|off)"),
        }),
    }
}

/// Accepts control connections: reads one line (bounded, with a timeout), hands it to the main loop,
/// writes the answer as one JSON line.
async fn serve_control(listener: UnixListener, commands: mpsc::Sender<ControlRequest>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let commands = commands.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            // One bounded line: a stuck or flooding client costs nothing.
            let mut reader = BufReader::new(read.take(1024));
            let read = tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line));
            if !matches!(read.await, Ok(Ok(_))) {
                return;
            }
            let (reply_tx, reply_rx) = oneshot::channel();
            if commands
                .send((line.trim().to_owned(), reply_tx))
                .await
                .is_err()
            {
                return;
            }
            if let Ok(answer) = reply_rx.await {
                let _ = write.write_all(format!("{answer}\n").as_bytes()).await;
            }
        });
    }
}
