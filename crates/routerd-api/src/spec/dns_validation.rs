//! Semantic checks of `DNSResolver` specs that serde cannot express: listen addresses with ports,
//! upstream addresses per protocol, and local records whose value fits their type. Every error names the
//! field and says what to write instead. The upstream parser is public so that `routerd-dns-resolver`
//! reads an address exactly as apply-time validation accepted it.

use super::logging::{DNSResolverSpec, DnsUpstream, UpstreamProtocol};
use super::validate::Checker;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

/// The largest `cache.maxEntries`: a bound against a typo that would let the cache eat the router's
/// memory (10 million entries is well over a gigabyte).
pub const MAX_CACHE_ENTRIES: u32 = 10_000_000;
/// One TXT character-string holds at most 255 bytes (RFC 1035 §3.3).
pub const MAX_TXT_BYTES: usize = 255;
/// Record types `localRecords` may hold. PTR records are generated for every A and AAAA.
pub const LOCAL_RECORD_TYPES: [&str; 4] = ["A", "AAAA", "CNAME", "TXT"];

/// Where one upstream is reached, with defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTarget {
    pub protocol: UpstreamProtocol,
    /// The address to connect to; `None` only for an `https` URL whose host is a name (the daemon
    /// resolves it).
    pub socket: Option<SocketAddr>,
    /// The name the server's certificate must carry (`tls`, `https`).
    pub server_name: Option<String>,
    /// The URL of an `https` upstream (`https://host[:port]/path`; path default `/dns-query`).
    pub url: Option<String>,
}

impl UpstreamProtocol {
    /// The port an upstream of this protocol listens on unless its address says otherwise.
    pub fn default_port(self) -> u16 {
        match self {
            UpstreamProtocol::Udp | UpstreamProtocol::Tcp => 53,
            UpstreamProtocol::Tls => 853,
            UpstreamProtocol::Https => 443,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamProtocol::Udp => "udp",
            UpstreamProtocol::Tcp => "tcp",
            UpstreamProtocol::Tls => "tls",
            UpstreamProtocol::Https => "https",
        }
    }
}

/// `ip`, `ip:port`, `[v6]` or `[v6]:port`, with `default_port` when none is given.
fn socket_with_default(address: &str, default_port: u16) -> Option<SocketAddr> {
    if let Ok(s) = address.parse::<SocketAddr>() {
        return Some(s);
    }
    let bare = address
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(address);
    bare.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, default_port))
}

/// Reads one upstream as `DNSResolver.spec.upstreams[i]` describes it: `udp`/`tcp` (default `udp`) take
/// `ip[:port]` (53); `tls` takes `ip[:port]` (853) and needs `serverName` (the name its certificate
/// carries); `https` takes `ip[:port]` (443) with `serverName`, or an `https://host[:port]/path` URL
/// (the host is the server name unless `serverName` says otherwise). The error is the message for the
/// field it names (`address` or `serverName`).
pub fn parse_upstream(upstream: &DnsUpstream) -> Result<UpstreamTarget, (&'static str, String)> {
    let protocol = upstream.protocol.unwrap_or(UpstreamProtocol::Udp);
    let address = upstream.address.as_str();
    if let Some(name) = &upstream.server_name {
        if matches!(protocol, UpstreamProtocol::Udp | UpstreamProtocol::Tcp) {
            return Err((
                "serverName",
                format!(
                    "serverName applies only to protocol tls or https (this upstream is {}); remove it or set protocol",
                    protocol.as_str()
                ),
            ));
        }
        check_dns_name(name).map_err(|e| ("serverName", e))?;
    }
    if protocol == UpstreamProtocol::Https && address.starts_with("https://") {
        let rest = &address["https://".len()..];
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/dns-query"),
        };
        let (host, port) = split_host_port(authority).ok_or((
            "address",
            format!("{address:?} is not an https://host[:port]/path URL"),
        ))?;
        let port = port.unwrap_or(443);
        let socket = host
            .parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, port));
        let server_name = match (&upstream.server_name, socket) {
            (Some(n), _) => Some(n.clone()),
            (None, Some(_)) => None,
            (None, None) => {
                check_dns_name(host).map_err(|e| ("address", format!("URL host: {e}")))?;
                Some(host.to_string())
            }
        };
        return Ok(UpstreamTarget {
            protocol,
            socket,
            server_name,
            url: Some(format!("https://{authority}{path}")),
        });
    }
    let socket = socket_with_default(address, protocol.default_port()).ok_or_else(|| {
        let hint = match protocol {
            UpstreamProtocol::Https => {
                "give ip[:port] with serverName, or a URL such as https://dns.example/dns-query"
            }
            _ => "give an IP address with an optional port, e.g. 192.0.2.53, 192.0.2.53:5353 or [2001:db8::53]:53",
        };
        ("address", format!("{address:?} is not an address for protocol {}: {hint}", protocol.as_str()))
    })?;
    if socket.port() == 0 {
        return Err((
            "address",
            format!("{address:?}: port 0 cannot be reached; give the server's port"),
        ));
    }
    if matches!(protocol, UpstreamProtocol::Tls | UpstreamProtocol::Https)
        && upstream.server_name.is_none()
    {
        return Err((
            "serverName",
            format!(
                "protocol {} needs serverName (the name the server's certificate carries, e.g. dns.example){}",
                protocol.as_str(),
                if protocol == UpstreamProtocol::Https {
                    ", or give address as a URL such as https://dns.example/dns-query"
                } else {
                    ""
                }
            ),
        ));
    }
    Ok(UpstreamTarget {
        protocol,
        socket: Some(socket),
        server_name: upstream.server_name.clone(),
        url: (protocol == UpstreamProtocol::Https).then(|| format!("https://{socket}/dns-query")),
    })
}

/// `host`, `host:port`, `[v6]` or `[v6]:port` of a URL authority.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<std::net::Ipv6Addr>().ok()?;
        return match after.strip_prefix(':') {
            None if after.is_empty() => Some((host, None)),
            Some(p) => Some((host, Some(p.parse().ok().filter(|p| *p != 0)?))),
            None => None,
        };
    }
    match authority.split_once(':') {
        Some((host, port)) => Some((host, Some(port.parse().ok().filter(|p| *p != 0)?))),
        None => Some((authority, None)),
    }
}

/// A DNS name as `localRecords` and `serverName` take it: 1-253 characters, dot-separated labels of
/// 1-63 letters, digits, `-` or `_`, not starting or ending with `-`; one trailing dot allowed.
pub fn check_dns_name(name: &str) -> Result<(), String> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() || trimmed.len() > 253 {
        return Err(format!(
            "{name:?} is not a DNS name (1-253 characters, e.g. nas.home.arpa)"
        ));
    }
    for label in trimmed.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!(
                "{name:?} is not a DNS name: label {label:?} must be 1-63 letters, digits, '-' or '_', not starting or ending with '-'"
            ));
        }
    }
    Ok(())
}

/// The checks of `DNSResolverSpec::validate`.
pub(crate) fn validate(spec: &DNSResolverSpec, c: &mut Checker) {
    if spec.listen.is_empty() {
        c.error(
            "listen",
            "needs at least one ip:port to answer on, e.g. [\"192.168.1.1:53\"]",
        );
    }
    let mut seen = BTreeSet::new();
    for (i, l) in spec.listen.iter().enumerate() {
        let field = format!("listen[{i}]");
        match l.parse::<SocketAddr>() {
            Ok(s) if s.port() == 0 => c.error(
                &field,
                format!("{l:?}: port 0 is not a port clients can ask; use 53"),
            ),
            Ok(s) => {
                if !seen.insert(s) {
                    c.error(&field, format!("{l:?} is listed twice; remove one"));
                }
            }
            Err(_) if socket_with_default(l, 53).is_some() => c.error(
                &field,
                format!(
                    "{l:?} has no port; write it as ip:port, e.g. {}",
                    socket_with_default(l, 53)
                        .map(|s| s.to_string())
                        .unwrap_or_default()
                ),
            ),
            Err(_) => c.error(
                &field,
                format!("{l:?} is not ip:port (e.g. 192.168.1.1:53 or [::1]:53)"),
            ),
        }
    }
    for (i, u) in spec.upstreams.iter().enumerate() {
        if let Err((field, message)) = parse_upstream(u) {
            c.error(&format!("upstreams[{i}].{field}"), message);
        }
    }
    if let Some(n) = spec.cache.as_ref().and_then(|c| c.max_entries) {
        c.range("cache.maxEntries", n, 0, MAX_CACHE_ENTRIES);
    }
    // name -> types, to refuse a CNAME next to other data (RFC 1034 §3.6.2).
    let mut types: BTreeMap<String, Vec<(usize, &str)>> = BTreeMap::new();
    for (i, r) in spec.local_records.iter().enumerate() {
        let field = |f: &str| format!("localRecords[{i}].{f}");
        if let Err(e) = check_dns_name(&r.name) {
            c.error(&field("name"), e);
        }
        let value = r.value.as_str();
        match r.type_.as_str() {
            "A" => {
                if value.parse::<std::net::Ipv4Addr>().is_err() {
                    c.error(
                        &field("value"),
                        format!("{value:?} is not an IPv4 address, as type A needs (e.g. 192.168.1.10); an IPv6 address is type AAAA"),
                    );
                }
            }
            "AAAA" => {
                if value.parse::<std::net::Ipv6Addr>().is_err() {
                    c.error(
                        &field("value"),
                        format!("{value:?} is not an IPv6 address, as type AAAA needs (e.g. 2001:db8::10); an IPv4 address is type A"),
                    );
                }
            }
            "CNAME" => {
                if let Err(e) = check_dns_name(value) {
                    c.error(&field("value"), format!("type CNAME needs a target name: {e}"));
                }
            }
            "TXT" => {
                if value.len() > MAX_TXT_BYTES {
                    c.error(
                        &field("value"),
                        format!("{} bytes; a TXT value holds at most {MAX_TXT_BYTES}", value.len()),
                    );
                }
            }
            "PTR" => c.error(
                &field("type"),
                "PTR records are generated for every A and AAAA record; remove this one and add the A/AAAA record instead",
            ),
            other if LOCAL_RECORD_TYPES.contains(&other.to_ascii_uppercase().as_str()) => c.error(
                &field("type"),
                format!("{other:?}: write the type in upper case ({})", other.to_ascii_uppercase()),
            ),
            other => c.error(
                &field("type"),
                format!("{other:?} is not a type local records support; use one of {}", LOCAL_RECORD_TYPES.join(", ")),
            ),
        }
        let key = r.name.trim_end_matches('.').to_ascii_lowercase();
        types.entry(key).or_default().push((i, r.type_.as_str()));
    }
    for (name, entries) in types {
        let cnames = entries.iter().filter(|(_, t)| *t == "CNAME").count();
        if cnames > 0 && entries.len() > 1 {
            if let Some((i, _)) = entries.iter().find(|(_, t)| *t == "CNAME") {
                c.error(
                    &format!("localRecords[{i}].type"),
                    format!("{name} has a CNAME and other records; a name with a CNAME can have no other record (RFC 1034), so keep one of them"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(spec: serde_json::Value) -> Vec<(String, String)> {
        let spec: DNSResolverSpec = serde_json::from_value(spec).unwrap();
        let mut c = Checker::default();
        validate(&spec, &mut c);
        c.errors.into_iter().map(|e| (e.field, e.message)).collect()
    }

    fn fields(spec: serde_json::Value) -> Vec<String> {
        errors(spec).into_iter().map(|(f, _)| f).collect()
    }

    #[test]
    fn a_complete_spec_passes() {
        let spec = json!({
            "listen": ["192.168.1.1:53", "[::1]:53"],
            "upstreams": [
                {"address": "192.0.2.53"},
                {"address": "192.0.2.54:5353", "protocol": "tcp"},
                {"address": "1.1.1.1", "protocol": "tls", "serverName": "one.one.one.one"},
                {"address": "https://dns.example/dns-query", "protocol": "https"},
                {"address": "https://[2001:db8::1]:8443/q", "protocol": "https"},
                {"address": "9.9.9.9", "protocol": "https", "serverName": "dns.quad9.net"}
            ],
            "cache": {"maxEntries": 10000},
            "localRecords": [
                {"name": "nas.home.arpa", "type": "A", "value": "192.168.1.10"},
                {"name": "nas.home.arpa", "type": "AAAA", "value": "2001:db8::10"},
                {"name": "files.home.arpa.", "type": "CNAME", "value": "nas.home.arpa"},
                {"name": "_info.home.arpa", "type": "TXT", "value": "hello"}
            ],
            "queryLog": {"enabled": true}
        });
        assert_eq!(errors(spec), []);
    }

    #[test]
    fn listen_needs_ports_and_no_duplicates() {
        let e = errors(
            json!({"listen": ["192.168.1.1", "[::1]:53", "::1:53", "x:53", "10.0.0.1:0", "[::1]:53"]}),
        );
        let f: Vec<&str> = e.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            f,
            [
                "spec.listen[0]",
                "spec.listen[2]",
                "spec.listen[3]",
                "spec.listen[4]",
                "spec.listen[5]"
            ]
        );
        assert!(
            e[0].1.contains("no port") && e[0].1.contains("192.168.1.1:53"),
            "{}",
            e[0].1
        );
        assert!(e[4].1.contains("twice"), "{}", e[4].1);
        assert_eq!(fields(json!({"listen": []})), ["spec.listen"]);
    }

    #[test]
    fn upstreams_follow_their_protocol() {
        let e = errors(json!({"listen": ["127.0.0.1:53"], "upstreams": [
            {"address": "dns.example"},
            {"address": "1.1.1.1", "protocol": "tls"},
            {"address": "1.1.1.1", "protocol": "https"},
            {"address": "192.0.2.1", "serverName": "x.example"},
            {"address": "https://bad host/", "protocol": "https"},
            {"address": "192.0.2.1:0"},
            {"address": "1.1.1.1", "protocol": "tls", "serverName": "-bad-"}
        ]}));
        let f: Vec<&str> = e.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            f,
            [
                "spec.upstreams[0].address",
                "spec.upstreams[1].serverName",
                "spec.upstreams[2].serverName",
                "spec.upstreams[3].serverName",
                "spec.upstreams[4].address",
                "spec.upstreams[5].address",
                "spec.upstreams[6].serverName"
            ]
        );
        assert!(e[2].1.contains("URL"), "{}", e[2].1);
        assert!(
            e[3].1.contains("only to protocol tls or https"),
            "{}",
            e[3].1
        );
    }

    #[test]
    fn upstream_defaults_are_filled_in() {
        let up =
            |v: serde_json::Value| parse_upstream(&serde_json::from_value(v).unwrap()).unwrap();
        let t = up(json!({"address": "192.0.2.53"}));
        assert_eq!(t.socket, "192.0.2.53:53".parse().ok());
        assert_eq!(t.protocol, UpstreamProtocol::Udp);
        let t =
            up(json!({"address": "[2001:db8::1]", "protocol": "tls", "serverName": "d.example"}));
        assert_eq!(t.socket, "[2001:db8::1]:853".parse().ok());
        let t = up(json!({"address": "https://dns.example", "protocol": "https"}));
        assert_eq!(t.socket, None);
        assert_eq!(t.server_name.as_deref(), Some("dns.example"));
        assert_eq!(t.url.as_deref(), Some("https://dns.example/dns-query"));
    }

    #[test]
    fn local_records_values_fit_their_type() {
        let e = errors(json!({"listen": ["127.0.0.1:53"], "localRecords": [
            {"name": "a.home.arpa", "type": "A", "value": "2001:db8::1"},
            {"name": "b.home.arpa", "type": "AAAA", "value": "192.0.2.1"},
            {"name": "c.home.arpa", "type": "CNAME", "value": "not a name"},
            {"name": "d.home.arpa", "type": "TXT", "value": "x".repeat(256)},
            {"name": "e.home.arpa", "type": "PTR", "value": "x.home.arpa"},
            {"name": "f.home.arpa", "type": "a", "value": "192.0.2.1"},
            {"name": "g.home.arpa", "type": "MX", "value": "x"},
            {"name": "bad..name", "type": "A", "value": "192.0.2.1"},
            {"name": "h.home.arpa", "type": "CNAME", "value": "a.home.arpa"},
            {"name": "h.home.arpa", "type": "A", "value": "192.0.2.2"}
        ]}));
        let f: Vec<&str> = e.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            f,
            [
                "spec.localRecords[0].value",
                "spec.localRecords[1].value",
                "spec.localRecords[2].value",
                "spec.localRecords[3].value",
                "spec.localRecords[4].type",
                "spec.localRecords[5].type",
                "spec.localRecords[6].type",
                "spec.localRecords[7].name",
                "spec.localRecords[8].type"
            ]
        );
        assert!(e[0].1.contains("type AAAA"), "{}", e[0].1);
        assert!(e[5].1.contains("upper case"), "{}", e[5].1);
        assert!(e[8].1.contains("CNAME"), "{}", e[8].1);
    }

    #[test]
    fn cache_size_is_bounded() {
        assert_eq!(
            fields(json!({"listen": ["127.0.0.1:53"], "cache": {"maxEntries": 20000000}})),
            ["spec.cache.maxEntries"]
        );
    }
}
