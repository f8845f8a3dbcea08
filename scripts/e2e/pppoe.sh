#!/usr/bin/env bash
# End-to-end: a PPPoE WAN through routerd, the whole stack.
#
#   isp namespace                                         router namespace                 lan namespace
#   routerd-test-ac on isp0 (Ethernet) ---- veth ---- rt-wan  routerd serve                rt-lan ---- lan0
#     its TUN ac-tun: 100.64.0.1 peer 100.64.0.10            PPPoESession wan → TUN ppp-wan
#     kea-dhcp6 on ac-tun delegating /56s                    DHCPv6PrefixDelegation wan-pd on ppp-wan
#     an HTTP server on 198.18.0.80 (lo)                     IPv6DelegatedAddress lan-v6 on rt-lan
#
# Shows: the session Up with the IPCP address, peer and DNS and the IPv6CP identifiers in /status and
# routerctl; the default route through the session and a TCP transfer through it; a prefix delegated over
# the session; the AC dropping the session (PADT) → down, redial, up → the same prefix back at once
# (REBIND, timed; not at T1) with the LAN address kept; delete → Terminate + PADT seen by the AC, default
# route and TUN gone; the password nowhere (ps, daemon logs, events, /status, /resources, config.json).
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RD_BIN="${RD_BIN:-$ROOT/target/debug}"
# shellcheck source=../lib/netns.sh
source "$HERE/lib/netns.sh"
# shellcheck source=../lib/assert.sh
source "$HERE/lib/assert.sh"
# shellcheck source=../lib/kea6.sh
source "$HERE/lib/kea6.sh"
trap rd_cleanup EXIT
export PATH="$RD_BIN:$PATH"

for exe in routerd routerctl routerd-pppoe-client routerd-test-ac routerd-dhcpv6-client; do
    if [ ! -x "$RD_BIN/$exe" ]; then
        echo "SKIP pppoe: $RD_BIN/$exe is missing (cargo build --bins)"
        echo "pppoe: 0 passed, 0 failed"
        exit 0
    fi
done

KEA_DIR="$RD_TMP/kea6"
SECRETS="$RD_TMP/secrets"
AC_SOCK="$RD_TMP/ac.sock"
AC_LOG="$RD_TMP/ac.log"
# A password no other string in the run contains, so a grep for it finds only a leak.
PASSWORD="pw-$RD_SUFFIX-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
USERNAME="subscriber@isp.test"
AC_LOCAL=100.64.0.1
CLIENT_V4=100.64.0.10
DNS_V4=100.64.0.53
HTTP_ADDR=198.18.0.80

echo "== pppoe: topology $NS_ROUTER <-> $NS_ISP (test AC, kea-dhcp6 behind it), $NS_LAN"
rd_topology
ip netns add "$NS_ISP"
ip -n "$NS_ISP" link set lo up
ip link add rt-wan netns "$NS_ROUTER" type veth peer name isp0 netns "$NS_ISP"
ip -n "$NS_ISP" link set isp0 up
ip -n "$NS_ROUTER" link set rt-wan up
ip -n "$NS_ISP" addr add "$HTTP_ADDR/32" dev lo

mkdir -p "$SECRETS"
chmod 0700 "$SECRETS"
(umask 077 && printf '%s\n' "$PASSWORD" >"$SECRETS/ac-password" && printf '%s\n' "$PASSWORD" >"$SECRETS/wan-pppoe")

ip netns exec "$NS_ISP" "$RD_BIN/routerd-test-ac" --interface isp0 --tun ac-tun --ac-name test-ac \
    --auth chap --username "$USERNAME" --password-file "$SECRETS/ac-password" \
    --local-ipv4 "$AC_LOCAL" --peer-ipv4 "$CLIENT_V4" --dns "$DNS_V4" --control "$AC_SOCK" \
    >"$AC_LOG" 2>&1 &
RD_PIDS+=("$!")
AC_PID=$!
rd_wait_for "the test AC's control socket" 10 test -S "$AC_SOCK" || { cat "$AC_LOG"; exit 1; }
rd_wait_for "ac-tun" 10 ip -n "$NS_ISP" link show ac-tun || { cat "$AC_LOG"; exit 1; }

# ac CMD...: one command on the AC's control socket; prints its JSON answer.
ac() {
    python3 - "$AC_SOCK" "$*" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n").encode())
data = b""
while not data.endswith(b"\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(data.decode().strip())
PY
}
# ac_stat KEY: a number from the AC's stats.
ac_stat() { ac stats | python3 -c "import json,sys; print(json.load(sys.stdin).get(sys.argv[1], 0))" "$1"; }

# Kea behind the AC: long T1/T2, so a prefix that comes back within seconds did not wait for them.
export RD_KEA6_T1=1000 RD_KEA6_T2=2000 RD_KEA6_PREFERRED=3000 RD_KEA6_VALID=4000
rd_kea6_start "$NS_ISP" ac-tun "$KEA_DIR" || { echo "kea-dhcp6 did not start on ac-tun"; cat "$AC_LOG"; exit 1; }
# The ISP reaches delegated prefixes through the session.
ip -n "$NS_ISP" -6 route add 2001:db8:1200::/40 dev ac-tun

# A file to fetch through the session.
mkdir -p "$RD_TMP/www"
head -c $((16 * 1024 * 1024)) /dev/urandom >"$RD_TMP/www/blob"
BLOB_SUM="$(sha256sum "$RD_TMP/www/blob" | cut -d' ' -f1)"
(cd "$RD_TMP/www" && exec ip netns exec "$NS_ISP" python3 -m http.server 8080 --bind "$HTTP_ADDR" >"$RD_TMP/http.log" 2>&1) &
RD_PIDS+=("$!")

cat >"$RD_TMP/pppoe.yaml" <<YAML
apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: wan}
spec: {ifname: rt-wan}
---
apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: wan-ppp}
spec: {ifname: ppp-wan}
---
apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: lan}
spec: {ifname: rt-lan}
---
apiVersion: net.routerd.net/v1alpha1
kind: PPPoESession
metadata: {name: wan}
spec:
  interface: wan
  username: "$USERNAME"
  passwordFile: $SECRETS/wan-pppoe
  authentication: chap
  acName: test-ac
  lcpEchoInterval: 2s
  lcpEchoFailure: 3
  redial: {initialDelay: 1s, maxDelay: 10s}
---
apiVersion: net.routerd.net/v1alpha1
kind: DHCPv6PrefixDelegation
metadata: {name: wan-pd}
spec: {interface: wan-ppp, prefixLengthHint: 56}
---
apiVersion: net.routerd.net/v1alpha1
kind: IPv6DelegatedAddress
metadata: {name: lan-v6}
spec: {prefixDelegation: wan-pd, interface: lan, subnetID: "1", addressSuffix: "::1"}
YAML
rd_start --config "$RD_TMP/pppoe.yaml" --reconcile-interval 5s

# session_field KEY: a field of PPPoESession/wan's status.session ("" when absent).
session_field() {
    rd_api GET /resources/PPPoESession/wan | python3 -c "
import json,sys
v=(json.load(sys.stdin).get('status') or {}).get('session') or {}
v=v.get(sys.argv[1])
print('' if v is None else (','.join(v) if isinstance(v, list) else v))" "$1" 2>/dev/null
}
condition_is() {
    rd_api GET /resources/PPPoESession/wan | python3 -c "
import json,sys
c=[c for c in json.load(sys.stdin)['status'].get('conditions', []) if c['type']==sys.argv[1]]
sys.exit(0 if c and c[0]['status']==sys.argv[2] else 1)" "$1" "$2" 2>/dev/null
}
pd_field() { rd_api GET /resources/DHCPv6PrefixDelegation/wan-pd | python3 -c "import json,sys; s=json.load(sys.stdin)['status']; print(s$1)" 2>/dev/null; }
prefix() { pd_field "['lease']['prefix']"; }
lan_from() { python3 -c "import ipaddress,sys; n=ipaddress.ip_network(sys.argv[1]); print(f'{n.network_address + (1 << 64) + 1}/64')" "$1"; }
# (Matching on captured output: with pipefail, `ip ... | grep -q` fails when grep's early exit makes ip
# die of SIGPIPE, which reads as "absent".)
has_lan_addr() { local a; a="$(ip -n "$NS_ROUTER" -6 addr show dev rt-lan)" && grep -q "inet6 $1 " <<<"$a"; }
count() { rd_api GET "/events?topic=$1&limit=10000" | python3 -c "import json,sys; print(len(json.load(sys.stdin)['items']))"; }
grew() { [ "$(count "$1")" -gt "$2" ]; }
v4_default_via_ppp() { local r; r="$(ip -n "$NS_ROUTER" -4 route show default)" && grep -q "dev ppp-wan" <<<"$r"; }
v6_default_via_ppp() { local r; r="$(ip -n "$NS_ROUTER" -6 route show default)" && grep -q "dev ppp-wan" <<<"$r"; }
connected_at() { session_field connectedAt; }
changed_from() { local c; c="$(connected_at)" && [ -n "$c" ] && [ "$c" != "$1" ]; }

echo "== the session comes up"
if ! rd_wait_for "PPPoESession/wan Up" 30 rd_phase_is PPPoESession wan Up; then
    fail "PPPoESession/wan Up"
    routerctl describe pppoesession/wan
    tail -n 30 "$AC_LOG"
    find "$RD_RUN" -name '*.log' -exec tail -n 30 {} \;
    echo "pppoe: $E2E_PASSED passed, $E2E_FAILED failed"
    exit 1
fi
ok "PPPoESession/wan Up"
for c in Discovered Authenticated IPCPOpened; do
    check "condition $c True" condition_is "$c" True
done
check "condition IPv6CPOpened True" rd_wait_for "IPv6CP" 10 condition_is IPv6CPOpened True
check_eq "IPCP address in status" "$CLIENT_V4" "$(session_field localAddress)"
check_eq "IPCP peer in status" "$AC_LOCAL" "$(session_field peerAddress)"
check_eq "IPCP DNS in status" "$DNS_V4" "$(session_field dnsServers)"
check_eq "AC name in status" "test-ac" "$(session_field acName)"
check_eq "session device in status" "ppp-wan" "$(session_field ifname)"
IID="$(session_field interfaceIdentifier)"
PEER_IID="$(session_field peerInterfaceIdentifier)"
check "IPv6CP identifiers in status ($IID, peer $PEER_IID)" test -n "$IID" -a -n "$PEER_IID"
SID="$(session_field sessionID)"
check "session id in status ($SID)" test -n "$SID"
check "routerctl get pppoesessions shows address, peer, device" sh -c "routerctl get pppoesessions | grep -F '$CLIENT_V4 peer $AC_LOCAL on ppp-wan' | grep -q Up"
echo "   $(routerctl get pppoesessions | tail -n 1)"
DESCRIBED="$(routerctl describe pppoesession/wan 2>&1)"
described() { grep -qE "localAddress: [\"']?$CLIENT_V4" <<<"$DESCRIBED" && grep -q "interfaceIdentifier:" <<<"$DESCRIBED"; }
check "routerctl describe pppoesession/wan shows the session fields" described
described || echo "$DESCRIBED"
daemon_listed() { local s; s="$(rd_api GET /status)" && grep -q '"routerd-pppoe-client"' <<<"$s"; }
check "/status lists the routerd-pppoe-client daemon" daemon_listed
check "$CLIENT_V4 on ppp-wan" sh -c "ip -n $NS_ROUTER -4 addr show dev ppp-wan | grep -q 'inet $CLIENT_V4'"

echo "== default route through the session, a TCP transfer through it"
check "0.0.0.0/0 dev ppp-wan installed by routerd" rd_wait_for "IPv4 default route" 10 v4_default_via_ppp
check "::/0 dev ppp-wan installed by routerd" rd_wait_for "IPv6 default route" 10 v6_default_via_ppp
check "condition DefaultRouteInstalled True" condition_is DefaultRouteInstalled True
echo "   $(ip -n "$NS_ROUTER" route show default) | $(ip -n "$NS_ROUTER" -6 route show default)"
check "ping through the session ($HTTP_ADDR)" ip netns exec "$NS_ROUTER" ping -c 3 -i 0.2 -W 2 "$HTTP_ADDR"
t0="$(date +%s.%N)"
got="$(ip netns exec "$NS_ROUTER" curl -sS --max-time 60 "http://$HTTP_ADDR:8080/blob" | sha256sum | cut -d' ' -f1)"
t1="$(date +%s.%N)"
check_eq "16 MiB over HTTP through the session, intact" "$BLOB_SUM" "$got"
echo "   ($(python3 -c "print(f'{16*8/($t1-$t0):.0f} Mbit/s in {$t1-$t0:.2f} s')"))"
up_sum="$(head -c $((4 * 1024 * 1024)) /dev/urandom | tee "$RD_TMP/up.bin" | sha256sum | cut -d' ' -f1)"
ip netns exec "$NS_ISP" python3 -c "
import socket,hashlib
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('$HTTP_ADDR', 9090)); s.listen(1)
c,_=s.accept(); h=hashlib.sha256()
while True:
    b=c.recv(65536)
    if not b: break
    h.update(b)
open('$RD_TMP/up.sum','w').write(h.hexdigest())" &
sink=$!
sleep 0.3
ip netns exec "$NS_ROUTER" python3 -c "
import socket; s=socket.create_connection(('$HTTP_ADDR', 9090), timeout=30); s.sendall(open('$RD_TMP/up.bin','rb').read()); s.close()"
wait "$sink"
check_eq "4 MiB the other way (router → ISP), intact" "$up_sum" "$(cat "$RD_TMP/up.sum" 2>/dev/null)"

echo "== prefix delegation over the session"
check "DHCPv6PrefixDelegation/wan-pd Bound over ppp-wan" rd_wait_for "Bound" 30 rd_phase_is DHCPv6PrefixDelegation wan-pd Bound
P1="$(prefix)"
# since CONNECTED ACQUIRED: seconds between two RFC 3339 stamps (nanoseconds cut to microseconds).
since() { python3 -c "
import datetime,re,sys
p=lambda t: datetime.datetime.fromisoformat(re.sub(r'(\.\d{6})\d*', r'\1', t).replace('Z', '+00:00'))
print(f'{(p(sys.argv[2])-p(sys.argv[1])).total_seconds():.2f}')" "$1" "$2"; }
echo "   (prefix acquired $(since "$(connected_at)" "$(pd_field "['lease']['acquiredAt']")") s after the session came up)"
check "a /56 from kea-dhcp6 behind the AC ($P1)" python3 -c "import ipaddress,sys; n=ipaddress.ip_network('$P1'); sys.exit(0 if n.prefixlen==56 and n.subnet_of(ipaddress.ip_network('2001:db8:1200::/40')) else 1)"
L1="$(lan_from "$P1")"
check "LAN address $L1 on rt-lan" rd_wait_for "LAN address" 15 has_lan_addr "$L1"
check "ping the ISP's DHCPv6 server from the LAN address" ip netns exec "$NS_ROUTER" ping -6 -c 2 -i 0.2 -W 2 -I "${L1%/*}" 2001:db8:ffff::1

echo "== the AC drops the session (PADT): down, redial, up, the same prefix back at once"
C1="$(connected_at)"
rebound="$(count routerd.dhcpv6.client.prefix.rebound)"
downs="$(count routerd.pppoe.client.session.down)"
if [ "${RD_E2E_DEBUG:-0}" = 1 ]; then
    (for _ in $(seq 120); do
        printf '%s %s\n' "$(date +%T.%N | cut -c1-12)" "$(curl -s --max-time 3 --unix-socket "$RD_RUN/pppoe-client/wan.sock" http://d/v1/status | python3 -c "import json,sys; r=json.load(sys.stdin)['resources'][0]; print(r['phase'], r['observed'].get('stage'))" 2>&1)"
        sleep 0.1
    done >"$RD_TMP/daemon-status.trace") &
fi
# Watch the LAN address through the outage, every 100 ms.
(while :; do
    if has_lan_addr "$L1"; then echo "$(date +%T.%N | cut -c1-12) present"; else echo "$(date +%T.%N | cut -c1-12) ABSENT"; fi
    sleep 0.1
done >"$RD_TMP/lan-addr.trace") &
LAN_WATCH=$!
RD_PIDS+=("$LAN_WATCH")
t_padt="$(date +%s.%N)"
check "AC sent PADT ($(ac padt))" true
check "session.down event" rd_wait_for "session.down" 10 grew routerd.pppoe.client.session.down "$downs"
check "session Up again (a new session)" rd_wait_for "a new session" 30 changed_from "$C1"
t_up="$(date +%s.%N)"
check "PPPoESession/wan Up" rd_wait_for "Up" 10 rd_phase_is PPPoESession wan Up
check "default route back through ppp-wan" rd_wait_for "default route" 10 v4_default_via_ppp
check "prefix rebound over the new session" rd_wait_for "prefix.rebound" 20 grew routerd.dhcpv6.client.prefix.rebound "$rebound"
t_pd="$(date +%s.%N)"
check_eq "the same prefix" "$P1" "$(prefix)"
kill "$LAN_WATCH" 2>/dev/null
wait "$LAN_WATCH" 2>/dev/null
check_eq "the LAN address kept through the outage ($(wc -l <"$RD_TMP/lan-addr.trace") samples)" 0 "$(grep -c ABSENT "$RD_TMP/lan-addr.trace")"
if grep -q ABSENT "$RD_TMP/lan-addr.trace"; then
    uniq -f1 -c "$RD_TMP/lan-addr.trace" | head
    ip -n "$NS_ROUTER" -6 addr show dev rt-lan
fi
echo "   (PADT → session up $(python3 -c "print(f'{$t_up-$t_padt:.2f}')") s, → prefix rebound $(python3 -c "print(f'{$t_pd-$t_padt:.2f}')") s; T1 is ${RD_KEA6_T1} s)"
last_event_time() { rd_api GET "/events?topic=$1&limit=10000" | python3 -c "import json,sys; print(json.load(sys.stdin)['items'][-1]['time'])"; }
echo "   (in the daemons' own event times: PADT received → session up $(since "$(last_event_time routerd.pppoe.client.padt.received)" "$(last_event_time routerd.pppoe.client.session.up)") s, → prefix rebound $(since "$(last_event_time routerd.pppoe.client.padt.received)" "$(last_event_time routerd.dhcpv6.client.prefix.rebound)") s)"
check "the prefix came back well before T1 (< 30 s)" python3 -c "import sys; sys.exit(0 if $t_pd-$t_padt < 30 else 1)"
rebinds_accepted() {
    rd_api GET "/events?topic=routerd.daemon.command.accepted&limit=10000" | python3 -c "
import json,sys
print(sum(1 for e in json.load(sys.stdin)['items'] if e.get('attributes', {}).get('command') == 'rebind'))"
}
check "routerd told wan-pd to rebind (routerd.daemon.command.accepted, command=rebind: $(rebinds_accepted))" test "$(rebinds_accepted)" -ge 1
check "ping through the new session" ip netns exec "$NS_ROUTER" ping -c 2 -i 0.2 -W 2 "$HTTP_ADDR"
if [ "${RD_E2E_DEBUG:-0}" = 1 ]; then
    rd_api GET "/events?limit=10000" | python3 -c "
import json,sys
for e in json.load(sys.stdin)['items'][-40:]:
    print('   ', e['time'][11:23], e['topic'], '|', e['message'][:110])"
    ip -n "$NS_ROUTER" -6 addr show dev rt-lan
    rd_api GET /controllers | python3 -c "
import json,sys
for c in json.load(sys.stdin)['items']:
    if c['name'] in ('pppoe-session', 'dhcpv6-prefix-delegation'): print('   ', c['name'], c.get('lastTrigger'), c.get('reconcileCount'), c.get('lastReconcileTime'))"
    uniq -f1 -c "$RD_TMP/daemon-status.trace" | head -n 20
    tail -n 20 "$RD_RUN"/pppoe-client/wan.log 2>/dev/null || ls "$RD_RUN"/*
fi

echo "== routerd restarts while the session is up: nothing drops, nothing redials"
SID2="$(session_field sessionID)"
C2="$(connected_at)"
accepted="$(rebinds_accepted)"
rd_stop
check "the session outlives routerd (ppp-wan still has $CLIENT_V4)" sh -c "ip -n $NS_ROUTER -4 addr show dev ppp-wan | grep -q 'inet $CLIENT_V4'"
rd_start --config "$RD_TMP/pppoe.yaml" --reconcile-interval 5s
check "PPPoESession/wan Up after the restart" rd_wait_for "Up" 15 rd_phase_is PPPoESession wan Up
check_eq "the same session" "$SID2 $C2" "$(session_field sessionID) $(connected_at)"
check "default route still through ppp-wan" v4_default_via_ppp
sleep 2
check_eq "no rebind for a session that did not change" "$accepted" "$(rebinds_accepted)"
check_eq "prefix unchanged" "$P1" "$(prefix)"

echo "== the password is nowhere"
leaks() {
    local where=()
    ps -eo args | grep -v grep | grep -qF -- "$PASSWORD" && where+=(ps)
    grep -rlF --exclude-dir=secrets -- "$PASSWORD" "$RD_TMP" >/dev/null 2>&1 && where+=("files: $(grep -rlF --exclude-dir=secrets -- "$PASSWORD" "$RD_TMP" | tr '\n' ' ')")
    rd_api GET "/events?limit=100000" | grep -qF -- "$PASSWORD" && where+=(events)
    rd_api GET /status | grep -qF -- "$PASSWORD" && where+=(/status)
    rd_api GET /resources | grep -qF -- "$PASSWORD" && where+=(/resources)
    for sock in "$RD_RUN"/*/wan.sock; do
        curl -sS --unix-socket "$sock" http://d/v1/status 2>/dev/null | grep -qF -- "$PASSWORD" && where+=("$sock /v1/status")
    done
    echo "${where[*]}"
}
cfg="$(find "$RD_TMP" -path "*pppoe*" -name config.json | head -n 1)"
check "the daemon's config.json exists ($cfg) and names the password file" grep -q "wan-pppoe" "$cfg"
client_running() { pgrep -f '[r]outerd-pppoe-client .*--name wan' >/dev/null; }
check "routerd-pppoe-client runs (ps)" client_running
found="$(leaks)"
check_eq "password in ps, daemon logs, routerd log, config.json, events, /status, /resources, daemon /v1/status" "" "$found"

echo "== delete: Terminate + PADT seen by the AC, default route and TUN gone"
padt_before="$(ac_stat padtReceived)"
# What the client sends on the wire while it goes: LCP Terminate-Request, then PADT.
ip netns exec "$NS_ISP" tcpdump -nn -l -i isp0 -w "$RD_TMP/delete.pcap" 'ether proto 0x8863 or ether proto 0x8864' \
    >/dev/null 2>&1 &
DUMP_PID=$!
RD_PIDS+=("$DUMP_PID")
sleep 0.5
check "routerctl delete pppoesession/wan" routerctl delete pppoesession/wan
padt_more() { [ "$(ac_stat padtReceived)" -gt "$1" ]; }
check "the AC received a PADT" rd_wait_for "PADT at the AC" 20 padt_more "$padt_before"
sleep 0.5
kill -INT "$DUMP_PID" 2>/dev/null
wait "$DUMP_PID" 2>/dev/null
WIRE="$(tcpdump -nn -v -r "$RD_TMP/delete.pcap" 2>/dev/null)"
# term_then_padt: the client's Terminate-Request is on the wire, and before its PADT.
term_then_padt() {
    python3 -c "
import sys
t=sys.stdin.read().replace('\\n\\t', ' ').splitlines()
term=[i for i,l in enumerate(t) if 'Term-Request' in l]
padt=[i for i,l in enumerate(t) if 'PADT' in l]
sys.exit(0 if term and padt and term[0] < padt[-1] else 1)" <<<"$WIRE"
}
check "LCP Terminate-Request then PADT on the wire (tcpdump at the AC)" term_then_padt
grep -E "Term-Request|Term-Ack|PADT" <<<"$WIRE" | sed 's/^/   wire: /' | head -n 4
grep '"padt-received"' "$AC_LOG" | tail -n 1 | sed 's/^/   AC: /'
no_sessions() { ac stats | python3 -c "import json,sys; sys.exit(0 if not json.load(sys.stdin).get('sessions') else 1)"; }
check "the AC holds no session" rd_wait_for "no session at the AC" 5 no_sessions
check "default route gone" rd_wait_for "no default route" 10 sh -c "! ip -n $NS_ROUTER -4 route show default | grep -q ppp-wan"
check "IPv6 default route gone" sh -c "! ip -n $NS_ROUTER -6 route show default | grep -q ppp-wan"
check "TUN ppp-wan gone" rd_wait_for "no ppp-wan" 10 sh -c "! ip -n $NS_ROUTER link show ppp-wan"
client_gone() { ! client_running; }
check "routerd-pppoe-client exited" rd_wait_for "daemon exit" 15 client_gone
found="$(leaks)"
check_eq "password still nowhere after the delete" "" "$found"

echo "pppoe: $E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
