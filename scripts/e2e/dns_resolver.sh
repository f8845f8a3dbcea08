#!/usr/bin/env bash
# End-to-end: routerd-dns-resolver on its own (no routerd) in a router namespace, asked with `dig` from a
# LAN namespace, forwarding to two dnsmasq instances in an isp namespace that serve the test zone
# `isp.test` authoritatively (SOA in negative answers, a TXT set too large for 512 bytes). Checks local
# records and their PTR, forwarded A/AAAA, NXDOMAIN cached negatively, TCP, truncation -> TCP upstream,
# cache hits that never reach the upstream (counted in dnsmasq's query log), the first upstream dropped by
# nft -> answers from the second, events, recovery, a burst of garbage, the query-log rows, kill -9.
#
#   lan: lan0 192.0.2.10 ──veth── router: rt-lan 192.0.2.1 (resolver :53)
#                                 router: rt-wan 198.51.100.2 ──veth── isp: isp0 198.51.100.1 (dnsmasq A)
#                                                                          isp0 198.51.100.5 (dnsmasq B)
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RD_BIN="${RD_BIN:-$ROOT/target/debug}"
# shellcheck source=../lib/netns.sh
source "$HERE/lib/netns.sh"
# shellcheck source=../lib/assert.sh
source "$HERE/lib/assert.sh"
trap rd_cleanup EXIT

DAEMON="$RD_BIN/routerd-dns-resolver"
for need in "$DAEMON" "$(command -v dnsmasq)" "$(command -v dig)" "$(command -v curl)" "$(command -v nft)"; do
    if [ ! -x "$need" ]; then
        echo "dns-resolver: SKIP missing ${need:-a tool} (cargo build; scripts/lib/install-deps.sh)"
        echo "dns-resolver: 0 passed, 1 failed"
        exit 1
    fi
done

NAME=lan
W="$RD_TMP/state/dns-resolver/$NAME"
SOCK="$RD_RUN/dns-resolver/$NAME.sock"
# shellcheck source=../lib/daemon_api.sh
source "$HERE/lib/daemon_api.sh"
mkdir -p "$W" "$(dirname "$SOCK")"
T=routerd.dns.resolver
# obs EXPR: a Python expression over the observed status `o` (e.g. "o['cache']['hits']").
obs() { status | py "import json,sys; o=json.load(sys.stdin)['resources'][0]['observed']; print($1)"; }
DB="$W/dns-queries.db"

echo "== dns-resolver: topology $NS_LAN <-> $NS_ROUTER <-> $NS_ISP"
rd_topology
ip netns add "$NS_ISP"
ip -n "$NS_ISP" link set lo up
ip link add rt-wan netns "$NS_ROUTER" type veth peer name isp0 netns "$NS_ISP"
ip -n "$NS_ISP" link set isp0 up
ip -n "$NS_ISP" addr add 198.51.100.1/24 dev isp0
ip -n "$NS_ISP" addr add 198.51.100.5/24 dev isp0
ip -n "$NS_ROUTER" link set rt-wan up
ip -n "$NS_ROUTER" addr add 198.51.100.2/24 dev rt-wan
ip -n "$NS_ROUTER" link set rt-lan up
ip -n "$NS_ROUTER" addr add 192.0.2.1/24 dev rt-lan
ip -n "$NS_ISP" route add 192.0.2.0/24 via 198.51.100.2

long() { printf "$1%.0s" $(seq 200); }
start_upstream() { # NAME ADDRESS
    ip netns exec "$NS_ISP" dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
        --listen-address="$2" --auth-server="ns.isp.test,$2" --auth-zone=isp.test --auth-ttl=300 \
        --host-record=www.isp.test,198.51.100.80,2001:db8::80 --host-record=other.isp.test,198.51.100.81 \
        --host-record=third.isp.test,198.51.100.82 --host-record=fourth.isp.test,198.51.100.83 \
        --txt-record=big.isp.test,"$(long a)" --txt-record=big.isp.test,"$(long b)" \
        --txt-record=big.isp.test,"$(long c)" --log-queries --log-facility="$RD_TMP/$1.log" \
        --pid-file="$RD_TMP/$1.pid" &
    RD_PIDS+=("$!")
}
start_upstream upA 198.51.100.1
start_upstream upB 198.51.100.5
# Counts TCP DNS packets reaching the upstreams: proves the retry over TCP.
ip netns exec "$NS_ISP" nft -f - <<'EOF'
table inet rdtest {
    chain input {
        type filter hook input priority 0;
        tcp dport 53 counter name tcp53
    }
    counter tcp53 {}
}
EOF

cat >"$W/config.json" <<'EOF'
{"spec": {"listen": ["192.0.2.1:53"],
          "upstreams": [{"address": "198.51.100.1"}, {"address": "198.51.100.5", "protocol": "udp"}],
          "cache": {"maxEntries": 1000},
          "localRecords": [{"name": "router.lan", "type": "A", "value": "192.0.2.1"},
                           {"name": "router.lan", "type": "AAAA", "value": "fd00::1"},
                           {"name": "nas.lan", "type": "CNAME", "value": "router.lan"},
                           {"name": "note.lan", "type": "TXT", "value": "hello from routerd"}],
          "queryLog": {"enabled": true}},
 "registeredHosts": [{"name": "laptop.lan", "addresses": ["192.0.2.50"]}]}
EOF
chmod 600 "$W/config.json"
start_daemon
check "Applied, listening on 192.0.2.1:53" rd_wait_for "Applied" 10 phase_is Applied
rd_wait_for "dnsmasq" 5 test -s "$RD_TMP/upA.pid"
rd_wait_for "dnsmasq" 5 test -s "$RD_TMP/upB.pid"

dq() { ip netns exec "$NS_LAN" dig @192.0.2.1 +time=5 +tries=1 "$@"; }
short() { dq +short "$@" | tr '\n' ' ' | sed 's/ $//'; }
# Queries the first upstream logged for TYPE NAME (dnsmasq logs queries for its auth zone as auth[TYPE]).
upA_count() { grep -cE "(query|auth)\[$1\] $2 from" "$RD_TMP/upA.log" 2>/dev/null; }
obs_is() { [ "$(obs "$1" 2>/dev/null)" = "$2" ]; }
# row SQL: the first column of the first row (python's sqlite3, read-only).
row() { py "import sqlite3,sys; c=sqlite3.connect('file:$DB?mode=ro', uri=True); r=c.execute(sys.argv[1]).fetchone(); print('' if r is None else '|'.join(str(x) for x in r))" "$1"; }
rows_for() { row "select count(*) from dns_queries where name='$1' and qtype='$2'"; }

echo "== local records"
check_eq "A of a local record" "192.0.2.1" "$(short router.lan)"
check_eq "AAAA of a local record" "fd00::1" "$(short router.lan AAAA)"
check_eq "CNAME followed to the local target" "router.lan. 192.0.2.1" "$(short nas.lan)"
check_eq "TXT" '"hello from routerd"' "$(short note.lan TXT)"
check_eq "PTR of a local record" "router.lan." "$(short -x 192.0.2.1)"
check_eq "registered host and its PTR" "192.0.2.50 laptop.lan." "$(short laptop.lan) $(short -x 192.0.2.50)"
check "local answers are authoritative" sh -c "ip netns exec $NS_LAN dig @192.0.2.1 router.lan | grep -q 'flags: qr aa'"

echo "== forwarded names and the cache"
check_eq "forwarded A" "198.51.100.80" "$(short www.isp.test)"
check_eq "the upstream saw it once" "1" "$(upA_count A www.isp.test)"
check_eq "second identical query" "198.51.100.80" "$(short www.isp.test)"
check_eq "answered from the cache: the upstream still saw it once" "1" "$(upA_count A www.isp.test)"
check_eq "forwarded AAAA" "2001:db8::80" "$(short www.isp.test AAAA)"
check "NXDOMAIN" sh -c "ip netns exec $NS_LAN dig @192.0.2.1 nx.isp.test | grep -q 'status: NXDOMAIN'"
check "NXDOMAIN again" sh -c "ip netns exec $NS_LAN dig @192.0.2.1 nx.isp.test | grep -q 'status: NXDOMAIN'"
check_eq "NXDOMAIN cached negatively: the upstream saw it once" "1" "$(upA_count A nx.isp.test)"
check_eq "a TCP query" "198.51.100.81" "$(short +tcp other.isp.test)"
before_tcp="$(ip netns exec "$NS_ISP" nft list counter inet rdtest tcp53 | grep -o 'packets [0-9]*' | awk '{print $2}')"
big="$(dq +noedns big.isp.test TXT)"
after_tcp="$(ip netns exec "$NS_ISP" nft list counter inet rdtest tcp53 | grep -o 'packets [0-9]*' | awk '{print $2}')"
check "large answer: the client was told to retry over TCP" grep -q "Truncated, retrying in TCP mode" <<<"$big"
check_eq "large answer: all three TXT records over TCP" "3" "$(grep -cE '^big\.isp\.test\..*TXT' <<<"$big")"
check "the resolver retried the truncated UDP answer over TCP upstream (tcp/53 packets $before_tcp -> $after_tcp)" \
    test "$after_tcp" -gt "$before_tcp"

echo "== query log rows"
rd_wait_for "rows" 5 test "$(row "select count(*) from dns_queries where name='big.isp.test'" 2>/dev/null)" -ge 2
check_eq "local A row: client (IPv4-mapped 192.0.2.10), rcode, answers, no upstream, not a cache hit" \
    "00000000000000000000FFFFC000020A|NOERROR|[\"router.lan. 300 IN A 192.0.2.1\"]|None|0" \
    "$(row "select hex(client), rcode, answers, upstream, cache_hit from dns_queries where name='router.lan' and qtype='A'")"
check_eq "PTR row" "1" "$(rows_for 1.2.0.192.in-addr.arpa PTR)"
check_eq "forwarded row names the upstream, then a cache hit" "udp://198.51.100.1:53|0;None|1" \
    "$(row "select group_concat(coalesce(upstream,'None') || '|' || cache_hit, ';') from (select * from dns_queries where name='www.isp.test' and qtype='A' order by id)")"
check_eq "NXDOMAIN rows (forwarded, then cached)" "NXDOMAIN|0;NXDOMAIN|1" \
    "$(row "select group_concat(rcode || '|' || cache_hit, ';') from (select * from dns_queries where name='nx.isp.test' order by id)")"
check "durations are recorded" test "$(row "select max(duration_micros) from dns_queries")" -gt 0

echo "== upstream failure and recovery"
C0="$(cursor)"
ip netns exec "$NS_ISP" nft add table inet rddrop
ip netns exec "$NS_ISP" nft add chain inet rddrop input '{ type filter hook input priority -10; }'
ip netns exec "$NS_ISP" nft add rule inet rddrop input ip daddr 198.51.100.1 udp dport 53 drop
ip netns exec "$NS_ISP" nft add rule inet rddrop input ip daddr 198.51.100.1 tcp dport 53 drop
start_s=$SECONDS
check_eq "with the first upstream dropped, the second answers" "198.51.100.82" "$(short third.isp.test)"
check_eq "and again (a second failure of the first)" "198.51.100.83" "$(short fourth.isp.test)"
echo "  two fallbacks took $((SECONDS - start_s))s (1.5 s timeout each)"
check "event upstream.failed names the first upstream" event_with "$T.upstream.failed" "$C0" upstream "udp://198.51.100.1:53"
check "status: first upstream unhealthy" rd_wait_for "unhealthy" 3 obs_is "o['upstreams'][0]['healthy']" False
qt="$(dq other.isp.test TXT | awk '/Query time/ {print $4}')"
check "skipped now: the next miss goes straight to the second (${qt} ms)" test "${qt:-9999}" -lt 1000
ip netns exec "$NS_ISP" nft delete table inet rddrop
check_eq "renew: skipped upstreams are tried again" "200" "$(command_code renew)"
dq +short recover.isp.test >/dev/null
check_eq "the next miss reached the first upstream" "1" "$(upA_count A recover.isp.test)"
check "event upstream.recovered" rd_wait_for "recovered" 5 has_event "$T.upstream.recovered" "$C0"
check "status: first upstream healthy again" rd_wait_for "healthy" 3 obs_is "o['upstreams'][0]['healthy']" True

echo "== malformed input"
ip netns exec "$NS_LAN" python3 - <<'EOF'
import os, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(500):
    s.sendto(os.urandom(i % 300), ("192.0.2.1", 53))
hdr = lambda qd: struct.pack(">HHHHHH", 0x4242, 0x0100, qd, 0, 0, 0)
q = b"\x06router\x03lan\x00\x00\x01\x00\x01"
s.sendto(hdr(50) + q * 50, ("192.0.2.1", 53))            # 50 questions
s.sendto(hdr(1) + b"\xc0\x0c\x00\x01\x00\x01", ("192.0.2.1", 53))  # compression loop
s.sendto(hdr(1)[:7], ("192.0.2.1", 53))                   # truncated header
EOF
check "FORMERR for 50 questions" sh -c "ip netns exec $NS_LAN python3 -c \"
import socket,struct
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(3)
q=b'\\x06router\\x03lan\\x00\\x00\\x01\\x00\\x01'
s.sendto(struct.pack('>HHHHHH',7,0x0100,50,0,0,0)+q*50,('192.0.2.1',53))
r=s.recv(4096); assert r[3]&15==1, r[:4]\""
check_eq "still serving after the garbage" "192.0.2.1" "$(short router.lan)"
check "malformed queries counted" rd_wait_for "malformed" 3 obs_is "o['malformed'] > 0" True
echo "  malformed datagrams counted: $(obs "o['malformed']") (503 in the burst + 1 FORMERR check)"

echo "== kill -9 and restart"
rd_wait_for "written" 5 test "$(obs "o['queryLog']['written']")" -gt 0
acked="$(obs "o['queryLog']['written']")"
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
check "rows acknowledged before the kill are in the store ($acked)" test "$(row "select count(*) from dns_queries")" -ge "$acked"
start_daemon
check "Applied again" rd_wait_for "Applied" 10 phase_is Applied
check_eq "answers resume" "198.51.100.80" "$(short www.isp.test)"

echo "== stop"
check_eq "stop accepted" "200" "$(command_code stop)"
check "the daemon exits" rd_wait_for "exit" 10 sh -c "! kill -0 $DPID 2>/dev/null"
check "the last rows are committed on stop" test "$(rows_for www.isp.test A)" -ge 3

echo "== DNS over TLS and over HTTPS upstreams (unbound with a test CA)"
if [ -x "$(command -v unbound)" ] && [ -x "$(command -v openssl)" ]; then
    TLS="$RD_TMP/tls"
    mkdir -p "$TLS"
    chmod 0755 "$TLS"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$TLS/ca.key" \
        -out "$TLS/ca.pem" -days 2 -subj "/CN=routerd e2e test root" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$TLS/key.pem" \
        -out "$TLS/leaf.csr" -subj "/CN=dns.isp.test" 2>/dev/null
    printf 'subjectAltName=DNS:dns.isp.test,IP:198.51.100.9\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$TLS/ext"
    openssl x509 -req -in "$TLS/leaf.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" -CAcreateserial \
        -out "$TLS/cert.pem" -days 2 -extfile "$TLS/ext" 2>/dev/null
    chmod 0644 "$TLS"/*.pem
    ip -n "$NS_ISP" addr add 198.51.100.9/24 dev isp0
    {
        echo "server:"
        echo "  interface: 198.51.100.9@853"
        echo "  interface: 198.51.100.9@443"
        echo "  tls-port: 853"
        echo "  https-port: 443"
        echo "  tls-service-key: \"$TLS/key.pem\""
        echo "  tls-service-pem: \"$TLS/cert.pem\""
        echo "  do-daemonize: no"
        echo "  username: \"\""
        echo "  chroot: \"\""
        echo "  directory: \"$TLS\""
        echo "  pidfile: \"$TLS/unbound.pid\""
        echo "  use-syslog: no"
        echo "  logfile: \"$TLS/unbound.log\""
        echo "  log-queries: yes"
        echo "  access-control: 0.0.0.0/0 allow"
        echo "  module-config: \"iterator\""
        echo "  local-zone: \"tls.test.\" static"
        echo "  local-data: \"www.tls.test. 300 IN A 198.51.100.90\""
        echo "  local-data: \"doh.tls.test. 300 IN A 198.51.100.91\""
    } >"$TLS/unbound.conf"
    ip netns exec "$NS_ISP" unbound -d -c "$TLS/unbound.conf" >"$TLS/unbound.out" 2>&1 &
    RD_PIDS+=("$!")
    NAME=sec
    W="$RD_TMP/state/dns-resolver/$NAME"
    SOCK="$RD_RUN/dns-resolver/$NAME.sock"
    DB="$W/dns-queries.db"
    mkdir -p "$W"
    secure_config() { # PROTOCOL SERVER-NAME
        printf '{"spec": {"listen": ["192.0.2.1:53"], "upstreams": [{"address": "198.51.100.9", "protocol": "%s", "serverName": "%s"}]}, "tlsTrustFile": "%s"}\n' \
            "$1" "$2" "$TLS/ca.pem" >"$W/config.json"
    }
    secure_config tls dns.isp.test
    start_daemon
    rd_wait_for "unbound" 10 ip netns exec "$NS_ISP" bash -c 'exec 3<>/dev/tcp/198.51.100.9/853'
    check_eq "DoT upstream answers" "198.51.100.90" "$(short www.tls.test)"
    rd_wait_for "rows" 5 test "$(rows_for www.tls.test A 2>/dev/null)" -ge 1
    check_eq "DoT row names the upstream" "tls://198.51.100.9:853" "$(row "select upstream from dns_queries where name='www.tls.test'")"
    secure_config https dns.isp.test
    check_eq "reload to a DoH upstream" "200" "$(command_code reload)"
    check_eq "DoH upstream answers" "198.51.100.91" "$(short doh.tls.test)"
    check_eq "a second DoH query (same HTTP/2 connection)" "198.51.100.91" "$(short +tcp doh.tls.test)"
    check_eq "the cache survived the reload" "198.51.100.90" "$(short www.tls.test)"
    rd_wait_for "rows" 5 test "$(rows_for www.tls.test A 2>/dev/null)" -ge 2
    check_eq "DoH row names the upstream" "https://198.51.100.9:443" \
        "$(row "select upstream from dns_queries where name='doh.tls.test' order by id limit 1")"
    check_eq "after the reload www.tls.test was a cache hit" "1" \
        "$(row "select cache_hit from dns_queries where name='www.tls.test' order by id desc limit 1")"
    secure_config tls wrong.example
    check_eq "reload to a DoT upstream with the wrong server name" "200" "$(command_code reload)"
    check "a certificate for another name is refused: SERVFAIL" sh -c "ip netns exec $NS_LAN dig @192.0.2.1 +time=8 +tries=1 other.tls.test | grep -q 'status: SERVFAIL'"
    check "the upstream's last error says why" rd_wait_for "lastError" 3 sh -c "curl -s --unix-socket $SOCK http://d/v1/status | grep -qi 'name'"
    command_code stop >/dev/null
else
    echo "  SKIP unbound or openssl missing (scripts/lib/install-deps.sh)"
fi

if [ "$E2E_FAILED" -gt 0 ]; then
    echo "--- daemon log (last 40 lines)"
    tail -40 "$RD_TMP/daemon.log"
fi
echo "dns-resolver: $E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
