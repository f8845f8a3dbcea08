//! The probes against real targets, as root, in throw-away network namespaces: the kernel answers ICMP;
//! TCP, HTTP and DNS peers are small servers started by the tests. Skipped (with a message) when not
//! root. Every probe runs on a thread that entered a test namespace; the host's namespace is never
//! touched.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed set-up is the test's failure

use routerd_api::spec::{DnsProbeSpec, HealthCheckSpec, HttpProbeSpec, ProbeProtocol};
use routerd_api::{Phase, Timestamp};
use routerd_healthcheck::{
    events, probe_once, run_probe, FailureKind, HealthState, ProbeConfig, ProbeOutcome,
};
use routerd_testkit::Netns;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// Timeout of a probe expected to pass: generous, since it only matters when something is wrong.
const PASS: Duration = Duration::from_secs(3);
/// Timeout of a probe expected to fail by silence.
const SILENT: Duration = Duration::from_millis(700);

fn spec(target: &str, protocol: ProbeProtocol, port: Option<u16>) -> HealthCheckSpec {
    HealthCheckSpec {
        target: target.to_string(),
        protocol,
        port,
        interval: None,
        timeout: None,
        healthy_threshold: None,
        unhealthy_threshold: None,
        source_interface: None,
        source_address: None,
        fwmark: None,
        http: None,
        dns: None,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

async fn probe(config: &ProbeConfig, target: &str, timeout: Duration) -> ProbeOutcome {
    run_probe(config, ip(target), timeout).await
}

#[track_caller]
fn assert_passed(o: &ProbeOutcome, what: &str) {
    assert!(o.is_passed(), "{what}: expected passed, got {o:?}");
    assert!(o.latency().is_some(), "{what}: no latency");
}

#[track_caller]
fn assert_failed(o: &ProbeOutcome, kind: FailureKind, what: &str) {
    assert!(
        matches!(o, ProbeOutcome::Failed { kind: k, .. } if *k == kind),
        "{what}: expected failed ({kind}), got {o:?}"
    );
}

#[track_caller]
fn assert_cannot_probe(o: &ProbeOutcome, kind: FailureKind, what: &str) {
    assert!(
        matches!(o, ProbeOutcome::CannotProbe { kind: k, .. } if *k == kind),
        "{what}: expected cannot-probe ({kind}), got {o:?}"
    );
}

/// A path that does not work shows as silence or an explicit unreachable, depending on where it ends.
#[track_caller]
fn assert_path_fails(o: &ProbeOutcome, what: &str) {
    assert!(
        matches!(o, ProbeOutcome::Timeout { .. })
            || matches!(
                o,
                ProbeOutcome::Failed {
                    kind: FailureKind::Unreachable,
                    ..
                }
            ),
        "{what}: expected timeout or unreachable, got {o:?}"
    );
}

/// Accepts connections and closes them; counts them.
fn serve_tcp(listener: TcpListener) -> Arc<AtomicUsize> {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    count
}

/// Answers every request with `response`, after reading the request head; hands the request and the
/// peer address to the test.
fn serve_http(
    listener: TcpListener,
    response: &'static str,
) -> tokio::sync::mpsc::UnboundedReceiver<(String, SocketAddr)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, peer)) = listener.accept().await {
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let _ = tx.send((String::from_utf8_lossy(&req).into_owned(), peer));
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    rx
}

/// What the test DNS responder does with a query.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DnsMode {
    /// NOERROR with one A record.
    Answer,
    /// NXDOMAIN, no records.
    NxDomain,
    /// NOERROR without records.
    Empty,
    /// Over UDP: NOERROR with TC set and no records (the full answer is on TCP).
    Truncated,
    /// Over UDP: a reply with the wrong id, then nothing.
    WrongId,
}

/// The end of the (single) question of a query, walking the labels by hand: this responder is an
/// oracle independent of the crate's codec.
fn question_end(query: &[u8]) -> Option<usize> {
    let mut i = 12;
    loop {
        let len = usize::from(*query.get(i)?);
        if len == 0 {
            return Some(i + 1 + 4).filter(|e| *e <= query.len());
        }
        i += 1 + len;
    }
}

fn dns_reply(query: &[u8], rcode: u8, truncated: bool, answers: u16) -> Option<Vec<u8>> {
    let end = question_end(query)?;
    let mut r = query.get(..2)?.to_vec();
    let flags: u16 = 0x8180 | if truncated { 0x0200 } else { 0 } | u16::from(rcode);
    r.extend_from_slice(&flags.to_be_bytes());
    r.extend_from_slice(&[0, 1]);
    r.extend_from_slice(&answers.to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(query.get(12..end)?);
    for _ in 0..answers {
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
    }
    Some(r)
}

/// Records the QTYPE of every query it sees.
#[derive(Default)]
struct DnsLog {
    udp_queries: AtomicUsize,
    tcp_queries: AtomicUsize,
    last_qtype: std::sync::Mutex<Option<u16>>,
}

fn serve_dns(udp: UdpSocket, tcp: Option<TcpListener>, mode: DnsMode) -> Arc<DnsLog> {
    let log = Arc::new(DnsLog::default());
    let l = log.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((n, peer)) = udp.recv_from(&mut buf).await {
            let q = buf[..n].to_vec();
            l.udp_queries.fetch_add(1, Ordering::SeqCst);
            if let Some(end) = question_end(&q) {
                *l.last_qtype.lock().unwrap() = Some(u16::from_be_bytes([q[end - 4], q[end - 3]]));
            }
            let reply = match mode {
                DnsMode::Answer => dns_reply(&q, 0, false, 1),
                DnsMode::NxDomain => dns_reply(&q, 3, false, 0),
                DnsMode::Empty => dns_reply(&q, 0, false, 0),
                DnsMode::Truncated => dns_reply(&q, 0, true, 0),
                DnsMode::WrongId => dns_reply(&q, 0, false, 1).map(|mut r| {
                    r[0] ^= 0xff;
                    r
                }),
            };
            if let Some(r) = reply {
                let _ = udp.send_to(&r, peer).await;
            }
        }
    });
    if let Some(tcp) = tcp {
        let l = log.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = tcp.accept().await {
                let mut len = [0u8; 2];
                if s.read_exact(&mut len).await.is_err() {
                    continue;
                }
                let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if s.read_exact(&mut q).await.is_err() {
                    continue;
                }
                l.tcp_queries.fetch_add(1, Ordering::SeqCst);
                if let Some(r) = dns_reply(&q, 0, false, 2) {
                    let mut framed = (r.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&r);
                    let _ = s.write_all(&framed).await;
                }
            }
        });
    }
    log
}

#[test]
fn icmp_echo_over_raw_and_ping_sockets_v4_and_v6() {
    let Some(ns) = Netns::create("rdhc") else {
        return;
    };
    // The default ping_group_range ("1 0") forbids ping sockets: the probe falls back to raw sockets.
    ns.run(|| async {
        let v4 = ProbeConfig::new(spec("127.0.0.1", ProbeProtocol::Icmp, None));
        let v6 = ProbeConfig::new(spec("::1", ProbeProtocol::Icmp, None));
        for _ in 0..3 {
            assert_passed(&probe(&v4, "127.0.0.1", PASS).await, "raw icmp 127.0.0.1");
            assert_passed(&probe(&v6, "::1", PASS).await, "raw icmpv6 ::1");
        }
    });
    // Allowing our group switches the probe to unprivileged ping sockets.
    ns.sysctl("net.ipv4.ping_group_range", "0 2147483647");
    ns.run(|| async {
        let v4 = ProbeConfig::new(spec("127.0.0.1", ProbeProtocol::Icmp, None));
        let v6 = ProbeConfig::new(spec("::1", ProbeProtocol::Icmp, None));
        for _ in 0..3 {
            assert_passed(
                &probe(&v4, "127.0.0.1", PASS).await,
                "ping-socket icmp 127.0.0.1",
            );
            assert_passed(&probe(&v6, "::1", PASS).await, "ping-socket icmpv6 ::1");
        }
    });
}

#[test]
fn icmp_to_unrouted_and_silent_targets_fails() {
    let Some(ns) = Netns::create("rdhc") else {
        return;
    };
    // A link with a subnet but nobody at 192.0.2.99: ARP goes unanswered.
    ns.ip(&[
        "link", "add", "sil0", "type", "veth", "peer", "name", "sil1",
    ]);
    ns.ip(&["addr", "add", "192.0.2.1/24", "dev", "sil0"]);
    ns.ip(&["link", "set", "sil0", "up"]);
    ns.ip(&["link", "set", "sil1", "up"]);
    ns.run(|| async {
        let c = ProbeConfig::new(spec("198.51.100.99", ProbeProtocol::Icmp, None));
        let o = probe(&c, "198.51.100.99", SILENT).await;
        assert_failed(&o, FailureKind::Unreachable, "no route at all");
        let c6 = ProbeConfig::new(spec("2001:db8::99", ProbeProtocol::Icmp, None));
        let o = probe(&c6, "2001:db8::99", SILENT).await;
        assert_failed(&o, FailureKind::Unreachable, "no IPv6 route");
        let c = ProbeConfig::new(spec("192.0.2.99", ProbeProtocol::Icmp, None));
        let o = probe(&c, "192.0.2.99", SILENT).await;
        assert!(
            matches!(o, ProbeOutcome::Timeout { .. }),
            "silent neighbour: {o:?}"
        );
        assert_eq!(o.failure_kind(), Some(FailureKind::Timeout));
    });
}

#[test]
fn tcp_connect_passes_is_refused_and_unreachable() {
    let Some(ns) = Netns::create("rdhc") else {
        return;
    };
    ns.run(|| async {
        let l4 = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let l6 = TcpListener::bind("[::1]:0").await.unwrap();
        let (p4, p6) = (
            l4.local_addr().unwrap().port(),
            l6.local_addr().unwrap().port(),
        );
        let accepted = serve_tcp(l4);
        serve_tcp(l6);
        let closed = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap().port()
        };

        let c = ProbeConfig::new(spec("127.0.0.1", ProbeProtocol::Tcp, Some(p4)));
        assert_passed(&probe(&c, "127.0.0.1", PASS).await, "tcp listener v4");
        let c = ProbeConfig::new(spec("::1", ProbeProtocol::Tcp, Some(p6)));
        assert_passed(&probe(&c, "::1", PASS).await, "tcp listener v6");
        let c = ProbeConfig::new(spec("127.0.0.1", ProbeProtocol::Tcp, Some(closed)));
        let o = probe(&c, "127.0.0.1", PASS).await;
        assert_failed(&o, FailureKind::Refused, "closed port");
        assert!(o.error().unwrap().contains("refused"), "{o:?}");
        let c = ProbeConfig::new(spec("198.51.100.7", ProbeProtocol::Tcp, Some(80)));
        assert_failed(
            &probe(&c, "198.51.100.7", SILENT).await,
            FailureKind::Unreachable,
            "no route",
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn http_status_line_decides() {
    let Some(ns) = Netns::create("rdhc") else {
        return;
    };
    ns.run(|| async {
        let ok = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let unavailable = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let redirect = TcpListener::bind("[::1]:0").await.unwrap();
        let garbage = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mute = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = |l: &TcpListener| l.local_addr().unwrap().port();
        let (p_ok, p_503, p_301, p_garbage, p_mute) = (
            port(&ok),
            port(&unavailable),
            port(&redirect),
            port(&garbage),
            port(&mute),
        );
        let mut seen = serve_http(
            ok,
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
        );
        serve_http(
            unavailable,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
        );
        serve_http(
            redirect,
            "HTTP/1.1 301 Moved Permanently\r\nLocation: /x\r\n\r\n",
        );
        serve_http(garbage, "SSH-2.0-OpenSSH_9.2\r\n");
        // Accepts and never answers.
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = mute.accept().await {
                held.push(s);
            }
        });

        let mut s = spec("127.0.0.1", ProbeProtocol::Http, Some(p_ok));
        s.http = Some(HttpProbeSpec {
            path: Some("/generate_204?probe=1".into()),
            expect_status: None,
        });
        assert_passed(&probe(&ProbeConfig::new(s), "127.0.0.1", PASS).await, "200");
        let (request, _) = seen.recv().await.unwrap();
        assert!(
            request.starts_with("GET /generate_204?probe=1 HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.contains(&format!("\r\nHost: 127.0.0.1:{p_ok}\r\n")),
            "{request}"
        );
        assert!(request.contains("\r\nConnection: close\r\n"), "{request}");

        let c = ProbeConfig::new(spec("127.0.0.1", ProbeProtocol::Http, Some(p_503)));
        let o = probe(&c, "127.0.0.1", PASS).await;
        assert_failed(&o, FailureKind::HttpStatus, "503");
        assert!(o.error().unwrap().contains("503"), "{o:?}");
        assert!(o.latency().is_some());

        let mut s = spec("127.0.0.1", ProbeProtocol::Http, Some(p_503));
        s.http = Some(HttpProbeSpec {
            path: None,
            expect_status: Some(503),
        });
        assert_passed(
            &probe(&ProbeConfig::new(s), "127.0.0.1", PASS).await,
            "expectStatus 503",
        );

        let c = ProbeConfig::new(spec("::1", ProbeProtocol::Http, Some(p_301)));
        assert_passed(&probe(&c, "::1", PASS).await, "301 is a pass by default");
        let mut s = spec("::1", ProbeProtocol::Http, Some(p_301));
        s.http = Some(HttpProbeSpec {
            path: None,
            expect_status: Some(200),
        });
        assert_failed(
            &probe(&ProbeConfig::new(s), "::1", PASS).await,
            FailureKind::HttpStatus,
            "301 when 200 is expected",
        );

        let c = ProbeConfig::new(spec("127.0.0.1", ProbeProtocol::Http, Some(p_garbage)));
        assert_failed(
            &probe(&c, "127.0.0.1", PASS).await,
            FailureKind::Other,
            "not HTTP",
        );

        let c = ProbeConfig::new(spec("127.0.0.1", ProbeProtocol::Http, Some(p_mute)));
        let o = probe(&c, "127.0.0.1", SILENT).await;
        assert!(
            matches!(o, ProbeOutcome::Timeout { .. }),
            "mute server: {o:?}"
        );

        let mut s = spec("127.0.0.1", ProbeProtocol::Http, Some(p_ok));
        s.http = Some(HttpProbeSpec {
            path: Some("/x\r\nX-Injected: 1".into()),
            expect_status: None,
        });
        assert_cannot_probe(
            &probe(&ProbeConfig::new(s), "127.0.0.1", PASS).await,
            FailureKind::Other,
            "header injection in http.path",
        );
    });
}

fn dns_spec(port: u16, name: &str, type_: Option<&str>) -> ProbeConfig {
    let mut s = spec("127.0.0.1", ProbeProtocol::Dns, Some(port));
    s.dns = Some(DnsProbeSpec {
        name: name.into(),
        type_: type_.map(str::to_string),
    });
    ProbeConfig::new(s)
}

#[test]
fn dns_probe_against_a_test_responder() {
    let Some(ns) = Netns::create("rdhc") else {
        return;
    };
    ns.run(|| async {
        async fn responder(mode: DnsMode, with_tcp: bool) -> (u16, Arc<DnsLog>) {
            let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let port = udp.local_addr().unwrap().port();
            let tcp = if with_tcp {
                Some(TcpListener::bind(("127.0.0.1", port)).await.unwrap())
            } else {
                None
            };
            (port, serve_dns(udp, tcp, mode))
        }

        let (port, log) = responder(DnsMode::Answer, false).await;
        assert_passed(
            &probe(&dns_spec(port, "example.com", None), "127.0.0.1", PASS).await,
            "NOERROR with an A record",
        );
        assert_eq!(*log.last_qtype.lock().unwrap(), Some(1), "default type A");
        assert_passed(
            &probe(
                &dns_spec(port, "example.com.", Some("AAAA")),
                "127.0.0.1",
                PASS,
            )
            .await,
            "AAAA query",
        );
        assert_eq!(*log.last_qtype.lock().unwrap(), Some(28));

        let (port, _) = responder(DnsMode::NxDomain, false).await;
        let o = probe(&dns_spec(port, "nope.example", None), "127.0.0.1", PASS).await;
        assert_failed(&o, FailureKind::Dns, "NXDOMAIN");
        assert!(o.error().unwrap().contains("NXDOMAIN"), "{o:?}");

        let (port, _) = responder(DnsMode::Empty, false).await;
        let o = probe(
            &dns_spec(port, "example.com", Some("TXT")),
            "127.0.0.1",
            PASS,
        )
        .await;
        assert_failed(&o, FailureKind::Dns, "NOERROR without answers");
        assert!(o.error().unwrap().contains("NOERROR"), "{o:?}");

        let (port, log) = responder(DnsMode::Truncated, true).await;
        assert_passed(
            &probe(&dns_spec(port, "big.example", None), "127.0.0.1", PASS).await,
            "truncated over UDP, complete over TCP",
        );
        assert_eq!(log.udp_queries.load(Ordering::SeqCst), 1);
        assert_eq!(
            log.tcp_queries.load(Ordering::SeqCst),
            1,
            "retried over TCP"
        );

        let (port, log) = responder(DnsMode::WrongId, false).await;
        let o = probe(&dns_spec(port, "example.com", None), "127.0.0.1", SILENT).await;
        assert!(
            matches!(o, ProbeOutcome::Timeout { .. }),
            "wrong id is ignored: {o:?}"
        );
        assert_eq!(log.udp_queries.load(Ordering::SeqCst), 1);

        // Nobody on the port: ICMP port unreachable comes back as ECONNREFUSED.
        let closed = {
            let u = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            u.local_addr().unwrap().port()
        };
        assert_failed(
            &probe(&dns_spec(closed, "example.com", None), "127.0.0.1", PASS).await,
            FailureKind::Refused,
            "closed UDP port",
        );

        assert_cannot_probe(
            &probe(
                &dns_spec(port, "example.com", Some("BOGUS")),
                "127.0.0.1",
                PASS,
            )
            .await,
            FailureKind::Other,
            "unknown dns.type",
        );
    });
}

/// Probe namespace `a` with two uplinks: `good0` to `b`, which holds the target 203.0.113.1, and `bad0`
/// to `c`, a dead end that drops everything. The unbound default (metric 10) goes the dead way.
struct TwoUplinks {
    a: Netns,
    b: Netns,
    /// The dead end (it lives, and is deleted, with the test).
    c: Netns,
}

const TARGET: &str = "203.0.113.1";

fn two_uplinks() -> Option<TwoUplinks> {
    let a = Netns::create("rdhc")?;
    let b = Netns::create("rdhc")?;
    let c = Netns::create("rdhc")?;
    // Replies arrive on good0 while the best route to the target is bad0: loose reverse-path filter,
    // as on any multi-uplink router.
    a.sysctl("net.ipv4.conf.all.rp_filter", "2");
    a.sysctl("net.ipv4.conf.default.rp_filter", "2");
    a.ip(&[
        "link",
        "add",
        "good0",
        "type",
        "veth",
        "peer",
        "name",
        "good1",
        "netns",
        b.name(),
    ]);
    a.ip(&[
        "link",
        "add",
        "bad0",
        "type",
        "veth",
        "peer",
        "name",
        "bad1",
        "netns",
        c.name(),
    ]);
    b.ip(&["addr", "add", "192.0.2.2/24", "dev", "good1"]);
    b.ip(&["link", "set", "good1", "up"]);
    b.ip(&["addr", "add", "203.0.113.1/32", "dev", "lo"]);
    c.ip(&["addr", "add", "198.51.100.2/24", "dev", "bad1"]);
    c.ip(&["link", "set", "bad1", "up"]);
    a.ip(&["addr", "add", "192.0.2.1/24", "dev", "good0"]);
    a.ip(&["link", "set", "good0", "up"]);
    a.ip(&["addr", "add", "198.51.100.1/24", "dev", "bad0"]);
    a.ip(&["link", "set", "bad0", "up"]);
    a.ip(&[
        "route",
        "add",
        "203.0.113.0/24",
        "via",
        "198.51.100.2",
        "dev",
        "bad0",
        "metric",
        "10",
    ]);
    a.ip(&[
        "route",
        "add",
        "203.0.113.0/24",
        "via",
        "192.0.2.2",
        "dev",
        "good0",
        "metric",
        "20",
    ]);
    Some(TwoUplinks { a, b, c })
}

/// Binds TCP listeners in the target namespace; they serve it from any thread.
fn listen_in(ns: &Netns, addr: &'static str) -> std::net::TcpListener {
    ns.enter(move || {
        let l = std::net::TcpListener::bind(addr).expect("bind in target namespace");
        l.set_nonblocking(true).expect("non-blocking");
        l
    })
}

#[test]
fn source_interface_follows_the_named_link() {
    let Some(net) = two_uplinks() else { return };
    let tcp = listen_in(&net.b, "203.0.113.1:0");
    let http = listen_in(&net.b, "203.0.113.1:0");
    let dns_udp = net.b.enter(|| {
        let u = std::net::UdpSocket::bind("203.0.113.1:0").expect("bind udp in b");
        u.set_nonblocking(true).expect("non-blocking");
        u
    });
    let run_all = |ping_sockets: bool| {
        let tcp = tcp.try_clone().unwrap();
        let http = http.try_clone().unwrap();
        let dns_udp = dns_udp.try_clone().unwrap();
        move || async move {
            let tcp_port = tcp.local_addr().unwrap().port();
            let http_port = http.local_addr().unwrap().port();
            let dns_port = dns_udp.local_addr().unwrap().port();
            serve_tcp(TcpListener::from_std(tcp).unwrap());
            serve_http(
                TcpListener::from_std(http).unwrap(),
                "HTTP/1.1 204 No Content\r\n\r\n",
            );
            serve_dns(UdpSocket::from_std(dns_udp).unwrap(), None, DnsMode::Answer);

            let mut dns = spec(TARGET, ProbeProtocol::Dns, Some(dns_port));
            dns.dns = Some(DnsProbeSpec {
                name: "example.com".into(),
                type_: None,
            });
            let specs = [
                spec(TARGET, ProbeProtocol::Icmp, None),
                spec(TARGET, ProbeProtocol::Tcp, Some(tcp_port)),
                spec(TARGET, ProbeProtocol::Http, Some(http_port)),
                dns,
            ];
            for s in specs {
                let what = format!("{:?} (ping sockets: {ping_sockets})", s.protocol);
                let unbound = ProbeConfig::new(s.clone());
                assert_path_fails(
                    &probe(&unbound, TARGET, SILENT).await,
                    &format!("{what} unbound takes the dead uplink"),
                );
                let mut good = ProbeConfig::new(s.clone()).with_source_ifname("good0");
                good.spec.source_interface = Some("uplink-good".into());
                assert_passed(
                    &probe(&good, TARGET, PASS).await,
                    &format!("{what} bound to good0"),
                );
                let mut bad = ProbeConfig::new(s.clone()).with_source_ifname("bad0");
                bad.spec.source_interface = Some("uplink-bad".into());
                assert_path_fails(
                    &probe(&bad, TARGET, SILENT).await,
                    &format!("{what} bound to bad0"),
                );
                // Fail closed: a link that does not exist, or an unresolved sourceInterface.
                let missing = ProbeConfig::new(s.clone()).with_source_ifname("nope0");
                let o = probe(&missing, TARGET, PASS).await;
                assert_cannot_probe(&o, FailureKind::Binding, &format!("{what} missing link"));
                assert!(o.error().unwrap().contains("nope0"), "{o:?}");
                let mut unresolved = ProbeConfig::new(s.clone());
                unresolved.spec.source_interface = Some("uplink-good".into());
                assert_cannot_probe(
                    &probe(&unresolved, TARGET, PASS).await,
                    FailureKind::Binding,
                    &format!("{what} sourceInterface without ifname"),
                );
            }
        }
    };
    net.a.run(run_all(false));
    net.a.sysctl("net.ipv4.ping_group_range", "0 2147483647");
    net.a.run(run_all(true));
}

#[test]
fn icmp_error_from_a_router_on_the_way_is_unreachable() {
    let Some(net) = two_uplinks() else { return };
    // The dead end now forwards, has no route to the target, and says so with ICMP net unreachable.
    net.c.sysctl("net.ipv4.ip_forward", "1");
    net.a.run(|| async {
        let c = ProbeConfig::new(spec(TARGET, ProbeProtocol::Icmp, None));
        let o = probe(&c, TARGET, PASS).await;
        assert_failed(
            &o,
            FailureKind::Unreachable,
            "raw socket sees the quoted echo",
        );
        let error = o.error().unwrap();
        assert!(
            error.contains("unreachable") && error.contains("198.51.100.2"),
            "{o:?}"
        );
        let c = ProbeConfig::new(spec(TARGET, ProbeProtocol::Tcp, Some(80)));
        assert_path_fails(
            &probe(&c, TARGET, SILENT).await,
            "tcp through the same router",
        );
    });
}

#[test]
fn fwmark_is_applied_to_the_probe_socket() {
    let Some(net) = two_uplinks() else { return };
    let a = &net.a;
    // Only the good uplink for this test; marked packets look up a table that only says "unreachable".
    a.ip(&[
        "route",
        "del",
        "203.0.113.0/24",
        "via",
        "198.51.100.2",
        "dev",
        "bad0",
    ]);
    a.ip(&["rule", "add", "fwmark", "7", "lookup", "100", "pref", "100"]);
    a.ip(&["route", "add", "unreachable", "default", "table", "100"]);
    let tcp = listen_in(&net.b, "203.0.113.1:0");
    a.run(move || async move {
        let port = tcp.local_addr().unwrap().port();
        serve_tcp(TcpListener::from_std(tcp).unwrap());
        for s in [
            spec(TARGET, ProbeProtocol::Icmp, None),
            spec(TARGET, ProbeProtocol::Tcp, Some(port)),
        ] {
            let what = format!("{:?}", s.protocol);
            let plain = ProbeConfig::new(s.clone());
            assert_passed(
                &probe(&plain, TARGET, PASS).await,
                &format!("{what} without mark"),
            );
            let mut other = ProbeConfig::new(s.clone());
            other.spec.fwmark = Some(8);
            assert_passed(
                &probe(&other, TARGET, PASS).await,
                &format!("{what} mark 8"),
            );
            let mut marked = ProbeConfig::new(s.clone());
            marked.spec.fwmark = Some(7);
            assert_failed(
                &probe(&marked, TARGET, PASS).await,
                FailureKind::Unreachable,
                &format!("{what} mark 7 is routed into the unreachable table"),
            );
        }
    });
}

#[test]
fn source_address_is_bound_or_the_probe_fails_closed() {
    let Some(ns) = Netns::create("rdhc") else {
        return;
    };
    ns.ip(&["addr", "add", "192.0.2.10/32", "dev", "lo"]);
    ns.run(|| async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let mut seen = serve_http(l, "HTTP/1.1 200 OK\r\n\r\n");
        let mut s = spec("127.0.0.1", ProbeProtocol::Http, Some(port));
        s.source_address = Some("192.0.2.10".into());
        assert_passed(
            &probe(&ProbeConfig::new(s.clone()), "127.0.0.1", PASS).await,
            "bound",
        );
        let (_, peer) = seen.recv().await.unwrap();
        assert_eq!(
            peer.ip(),
            ip("192.0.2.10"),
            "the server sees the source address"
        );

        let mut icmp = spec("127.0.0.1", ProbeProtocol::Icmp, None);
        icmp.source_address = Some("192.0.2.10".into());
        assert_passed(
            &probe(&ProbeConfig::new(icmp), "127.0.0.1", PASS).await,
            "icmp bound",
        );

        s.source_address = Some("192.0.2.77".into());
        let o = probe(&ProbeConfig::new(s.clone()), "127.0.0.1", PASS).await;
        assert_cannot_probe(&o, FailureKind::Binding, "address not on the host");
        assert!(o.error().unwrap().contains("192.0.2.77"), "{o:?}");
        s.source_address = Some("::1".into());
        assert_cannot_probe(
            &probe(&ProbeConfig::new(s), "127.0.0.1", PASS).await,
            FailureKind::Binding,
            "family mismatch",
        );
    });
}

#[test]
fn probe_once_resolves_names_and_reports_unresolvable_targets() {
    let Some(ns) = Netns::create("rdhc") else {
        return;
    };
    ns.run(|| async {
        let mut s = spec("localhost", ProbeProtocol::Icmp, None);
        s.timeout = Some(Duration::from_secs(3).into());
        assert_passed(&probe_once(&ProbeConfig::new(s.clone())).await, "localhost");
        // No route to any resolver in this namespace: the lookup fails fast.
        s.target = "no-such-host.invalid".into();
        assert_cannot_probe(
            &probe_once(&ProbeConfig::new(s)).await,
            FailureKind::Dns,
            "unresolvable target",
        );
    });
}

/// The library as the daemon uses it: real probes into the state machine, events out.
#[test]
fn real_probes_drive_the_threshold_state_machine() {
    let Some(ns) = Netns::create("rdhc") else {
        return;
    };
    ns.run(|| async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            loop {
                let _ = l.accept().await;
            }
        });
        let mut s = spec("127.0.0.1", ProbeProtocol::Tcp, Some(port));
        s.timeout = Some(Duration::from_secs(2).into());
        let config = ProbeConfig::new(s);
        let mut now = Timestamp::now();
        let mut state = HealthState::new("local", now);
        let mut topics = Vec::new();
        let mut step = |state: &mut HealthState, o: &ProbeOutcome, now: Timestamp| {
            for e in state.observe(&config.spec, o, now) {
                topics.push(e.topic);
            }
        };
        for _ in 0..2 {
            now = now.saturating_add(Duration::from_secs(10));
            step(&mut state, &probe_once(&config).await, now);
        }
        assert_eq!(state.phase(), Phase::Healthy);
        server.abort();
        let _ = server.await;
        for _ in 0..3 {
            now = now.saturating_add(Duration::from_secs(10));
            step(&mut state, &probe_once(&config).await, now);
        }
        assert_eq!(state.phase(), Phase::Unhealthy);
        assert_eq!(
            topics,
            [
                events::PROBE_PASSED,
                events::STATE_HEALTHY,
                events::PROBE_FAILED,
                events::STATE_UNHEALTHY
            ]
        );
        let status = state.to_status();
        assert_eq!(status.failure_kind.as_deref(), Some("refused"));
        assert_eq!(status.history.len(), 5);
    });
}
