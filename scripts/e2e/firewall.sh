#!/usr/bin/env bash
# End-to-end: routerd's zone firewall and NAT44 in one nftables table, in namespaces:
#   lan (lan0 192.0.2.10/24)  <->  router (rt-lan 192.0.2.1/24 | rt-wan DHCP from the ISP)  <->
#   isp (isp0 198.51.100.1/26, dnsmasq DHCPv4 + kea-dhcp6; fw-i1 100.64.0.1/24)  <->  server (fw-s0 100.64.0.10/24)
# The ISP has no route back to 192.0.2.0/24: only NATed traffic gets answers. Checks: TCP, UDP and ICMP
# from lan reach the server from the WAN address; a port forward from the ISP reaches a LAN server; the WAN
# zone's input is dropped and logged into /firewall-logs while the router's own connections get their
# replies; IPv6 ND and the DHCPv6 client work with the firewall on; a new DHCP address is followed by the
# NAT without an apply; a rule nft refuses leaves the table and a foreign table byte-identical and marks
# the rule Error naming the field; kill -9 + restart keeps the table; deleting everything removes it.
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RD_BIN="${RD_BIN:-$ROOT/target/debug}"
RD_SUFFIX="fw$$"
# shellcheck source=../lib/netns.sh
source "$HERE/lib/netns.sh"
# shellcheck source=../lib/assert.sh
source "$HERE/lib/assert.sh"
# shellcheck source=../lib/kea6.sh
source "$HERE/lib/kea6.sh"
NS_SRV="rd-srv-$RD_SUFFIX"
fw_cleanup() {
    if ip netns list 2>/dev/null | grep -qw "$NS_SRV"; then
        for pid in $(ip netns pids "$NS_SRV" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
        ip netns del "$NS_SRV" 2>/dev/null || true
    fi
    rd_cleanup
}
trap fw_cleanup EXIT
export PATH="$RD_BIN:$PATH"
for tool in nft dnsmasq kea-dhcp6 python3 curl; do
    command -v "$tool" >/dev/null || skip_scenario firewall "$tool is not installed"
done
[ -x "$RD_BIN/routerd" ] || skip_scenario firewall "no routerd build in $RD_BIN (cargo build --bins)"

echo "== firewall: topology lan <-> $NS_ROUTER <-> $NS_ISP <-> $NS_SRV"
rd_topology
rd_topology_isp
ip -n "$NS_ISP" route del 192.0.2.0/24 2>/dev/null || true
ip netns add "$NS_SRV"
ip -n "$NS_SRV" link set lo up
ip link add fw-i1 netns "$NS_ISP" type veth peer name fw-s0 netns "$NS_SRV"
ip -n "$NS_ISP" addr add 100.64.0.1/24 dev fw-i1
ip -n "$NS_ISP" link set fw-i1 up
ip -n "$NS_SRV" addr add 100.64.0.10/24 dev fw-s0
ip -n "$NS_SRV" link set fw-s0 up
ip -n "$NS_SRV" route add default via 100.64.0.1
ip netns exec "$NS_ISP" sysctl -qw net.ipv4.ip_forward=1
ip -n "$NS_ROUTER" link set rt-wan up   # Kea binds isp0's link-local, which needs the peer up

# A TCP and UDP server answering every client with the address it sees the client at.
cat >"$RD_TMP/peer.py" <<'PY'
import socket, sys, threading
host, port = sys.argv[1], int(sys.argv[2])
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind((host, port)); t.listen(64)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((host, port))
def udp():
    while True:
        data, peer = u.recvfrom(2048); u.sendto(peer[0].encode(), peer)
threading.Thread(target=udp, daemon=True).start()
while True:
    c, peer = t.accept(); c.sendall(peer[0].encode()); c.close()
PY
cat >"$RD_TMP/ask.py" <<'PY'
import socket, sys
proto, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if proto == "tcp":
    s = socket.create_connection((host, port), timeout=3); print(s.recv(100).decode())
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3); s.sendto(b"?", (host, port)); print(s.recv(100).decode())
PY
ip netns exec "$NS_SRV" python3 "$RD_TMP/peer.py" 100.64.0.10 7000 &
RD_PIDS+=("$!")
ip netns exec "$NS_LAN" python3 "$RD_TMP/peer.py" 192.0.2.10 80 &
RD_PIDS+=("$!")
ask() { ip netns exec "$1" python3 "$RD_TMP/ask.py" "$2" "$3" "$4" 2>/dev/null; }

start_dnsmasq() {
    ip netns exec "$NS_ISP" dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces --interface=isp0 \
        --port=0 --dhcp-authoritative --dhcp-range="$1,$2,255.255.255.192,2m" \
        --dhcp-option=option:router,198.51.100.1 --dhcp-leasefile="$RD_TMP/dnsmasq.leases" \
        --log-dhcp --log-facility="$RD_TMP/dnsmasq-dhcp.log" >/dev/null 2>&1 &
    DNSMASQ=$!
    RD_PIDS+=("$DNSMASQ")
}
start_dnsmasq 198.51.100.10 198.51.100.20
export RD_KEA6_T1=4 RD_KEA6_T2=6 RD_KEA6_PREFERRED=30 RD_KEA6_VALID=40
rd_kea6_start "$NS_ISP" isp0 "$RD_TMP/kea6" || { echo "kea-dhcp6 did not start"; exit 1; }

cat >"$RD_TMP/base.yaml" <<'YAML'
apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: lan}
spec: {ifname: rt-lan}
---
apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: wan}
spec: {ifname: rt-wan}
---
apiVersion: net.routerd.net/v1alpha1
kind: IPv4StaticAddress
metadata: {name: lan}
spec: {interface: lan, address: 192.0.2.1/24}
---
apiVersion: net.routerd.net/v1alpha1
kind: DHCPv4Client
metadata: {name: wan-dhcp}
spec: {interface: wan}
---
apiVersion: net.routerd.net/v1alpha1
kind: DHCPv6PrefixDelegation
metadata: {name: wan-pd}
spec: {interface: wan, prefixLengthHint: 56}
YAML
cat "$RD_TMP/base.yaml" >"$RD_TMP/router.yaml"
cat >>"$RD_TMP/router.yaml" <<'YAML'
---
apiVersion: firewall.routerd.net/v1alpha1
kind: FirewallEventLog
metadata: {name: fwlog}
spec: {nflogGroup: 42}
---
apiVersion: firewall.routerd.net/v1alpha1
kind: FirewallZone
metadata: {name: lan}
spec: {interfaces: [lan], input: accept}
---
apiVersion: firewall.routerd.net/v1alpha1
kind: FirewallZone
metadata: {name: wan}
spec: {interfaces: [wan], input: drop, forward: drop, log: true}
---
apiVersion: firewall.routerd.net/v1alpha1
kind: FirewallPolicy
metadata: {name: lan-to-wan}
spec: {from: lan, to: wan, action: accept}
---
apiVersion: firewall.routerd.net/v1alpha1
kind: PortForward
metadata: {name: web}
spec: {from: wan, protocol: tcp, port: 8080, to: {address: 192.0.2.10, port: 80}}
---
apiVersion: net.routerd.net/v1alpha1
kind: NAT44Rule
metadata: {name: masq}
spec: {type: masquerade, outInterface: wan-dhcp, sourceRanges: [192.0.2.0/24]}
YAML
# A foreign table routerd must never touch.
ip netns exec "$NS_ROUTER" nft -f - <<'NFT'
table inet fwforeign {
    chain c {
        type filter hook prerouting priority -300; policy accept;
        ip daddr 192.0.2.250 drop
    }
}
NFT
rd_start --config "$RD_TMP/router.yaml" --reconcile-interval 5s

lease_address() { rd_api GET /resources/DHCPv4Client/wan-dhcp | python3 -c "import json,sys; print((json.load(sys.stdin)['status'].get('lease') or {}).get('address') or '')" 2>/dev/null; }
count() { rd_api GET "/events?topic=$1&limit=1000" | python3 -c "import json,sys; print(len(json.load(sys.stdin)['items']))"; }
status_field() { rd_api GET "/resources/$1/$2" | python3 -c "import json,sys; s=json.load(sys.stdin)['status']; print(s$3)" 2>/dev/null; }

check "DHCPv4Client/wan-dhcp Bound" rd_wait_for "Bound" 30 rd_phase_is DHCPv4Client wan-dhcp Bound
WAN="$(lease_address)"
echo "  WAN address from dnsmasq: $WAN"
check "NAT44Rule/masq Applied" rd_wait_for "NAT Applied" 15 rd_phase_is NAT44Rule masq Applied
check "FirewallZone/wan Applied" rd_wait_for "zone Applied" 15 rd_phase_is FirewallZone wan Applied
check_eq "NAT44Rule/masq names the DHCPv4Client's device" rt-wan "$(status_field NAT44Rule masq "['device']")"
check "forwarding on in /status" sh -c "rd_api() { curl -sS --unix-socket '$RD_RUN/routerd-status.sock' http://routerd/api/control.routerd.net/v1alpha1\$1; }; rd_api /status | python3 -c \"import json,sys; f=json.load(sys.stdin)['status']['forwarding']; sys.exit(0 if f=={'ipv4':True,'ipv6':True} else 1)\""
check_eq "kernel ip_forward" 1 "$(ip netns exec "$NS_ROUTER" cat /proc/sys/net/ipv4/ip_forward)"
check "routerd.firewall.applied event" sh -c "[ \"\$(routerctl get events --topic routerd.firewall.applied -o json | grep -c firewall.applied)\" -ge 1 ]"
check "routerctl get firewall shows rules by resource" sh -c "routerctl get firewall | grep -q 'NAT44Rule/masq' && routerctl get firewall | grep -q 'PortForward/web'"

echo "== NAT: TCP, UDP and ICMP from lan reach the server from the WAN address"
check_eq "TCP: the server sees the WAN address" "$WAN" "$(ask "$NS_LAN" tcp 100.64.0.10 7000)"
check_eq "UDP: the server sees the WAN address" "$WAN" "$(ask "$NS_LAN" udp 100.64.0.10 7000)"
ip netns exec "$NS_SRV" nft -f - <<NFT
table inet fwsrv {
    chain in {
        type filter hook input priority 0; policy accept;
        ip saddr $WAN icmp type echo-request counter
    }
}
NFT
check "ICMP: ping from lan answered" ip netns exec "$NS_LAN" ping -c2 -W2 100.64.0.10
check "ICMP: the server counted echo requests from the WAN address" sh -c "ip netns exec $NS_SRV nft list table inet fwsrv | grep -q 'counter packets [1-9]'"

echo "== port forward: the ISP reaches a LAN server through WAN:8080"
check_eq "TCP to $WAN:8080 answered by the LAN server (which sees the ISP)" 198.51.100.1 "$(ask "$NS_ISP" tcp "$WAN" 8080)"

echo "== WAN zone input: dropped and logged; the router's own connections get their replies"
check "TCP from the ISP to the router's port 22 gets no answer (dropped, not refused)" sh -c "! ip netns exec $NS_ISP python3 $RD_TMP/ask.py tcp $WAN 22"
check "drop logged in /firewall-logs as zone-wan" rd_wait_for "firewall log" 10 sh -c "curl -sS --unix-socket '$RD_RUN/routerd-status.sock' 'http://routerd/api/control.routerd.net/v1alpha1/firewall-logs?rule=zone-wan&action=drop' | python3 -c \"import json,sys; i=json.load(sys.stdin)['items']; sys.exit(0 if any(x.get('destinationPort')==22 for x in i) else 1)\""
check_eq "the router's own TCP connection to the server gets its reply (established)" "$WAN" "$(ask "$NS_ROUTER" tcp 100.64.0.10 7000)"

echo "== IPv6 with the firewall on: neighbour discovery and the DHCPv6 client"
check "DHCPv6PrefixDelegation/wan-pd Bound" rd_wait_for "PD Bound" 30 rd_phase_is DHCPv6PrefixDelegation wan-pd Bound
renewed() { routerctl get events --topic routerd.dhcpv6.client.prefix.renewed --limit 1000 -o json | python3 -c "import json,sys; d=json.load(sys.stdin); print(len(d['items'] if isinstance(d, dict) else d))"; }
grew() { [ "$(renewed)" -gt "$1" ]; }
R0="$(renewed)"
check "DHCPv6 RENEW answered through the firewall (prefix.renewed at T1 = 4 s)" rd_wait_for "renewed" 15 grew "$R0"
check "wan-pd still Bound" rd_phase_is DHCPv6PrefixDelegation wan-pd Bound
RT_LL="$(ip -n "$NS_ROUTER" -6 addr show dev rt-wan scope link | awk '/inet6/ {print $2}' | cut -d/ -f1 | head -1)"
ip -n "$NS_ISP" neigh flush dev isp0 2>/dev/null || true
check "ISP pings the router's link-local address (ND + echo through the WAN zone's input)" ip netns exec "$NS_ISP" ping -6 -c2 -W2 "$RT_LL%isp0"
check "the ISP learnt the router by ND" sh -c "ip -n $NS_ISP -6 neigh show dev isp0 | grep -q '$RT_LL'"

echo "== the DHCP address changes: NAT follows without an apply"
GEN_BEFORE="$(rd_api GET /status | python3 -c "import json,sys; print(json.load(sys.stdin)['status']['generation'])")"
APPLIED_BEFORE="$(count routerd.firewall.applied)"
kill "$DNSMASQ" 2>/dev/null; wait "$DNSMASQ" 2>/dev/null
rm -f "$RD_TMP/dnsmasq.leases"
start_dnsmasq 198.51.100.40 198.51.100.50
DHCP_PID="$(rd_api GET /status | python3 -c "import json,sys; print([d.get('pid') for d in json.load(sys.stdin)['status']['daemons'] if d['kind']=='routerd-dhcpv4-client'][0])")"
kill -9 "$DHCP_PID" 2>/dev/null   # restarted by the supervisor: INIT-REBOOT, NAKed, DISCOVER, new address
check "a new lease address" rd_wait_for "new address" 60 sh -c "a=\$(curl -sS --unix-socket '$RD_RUN/routerd-status.sock' http://routerd/api/control.routerd.net/v1alpha1/resources/DHCPv4Client/wan-dhcp | python3 -c \"import json,sys; print((json.load(sys.stdin)['status'].get('lease') or {}).get('address') or '')\"); [ -n \"\$a\" ] && [ \"\$a\" != '$WAN' ]"
WAN2="$(lease_address)"
echo "  new WAN address: $WAN2"
check "new address on rt-wan" rd_wait_for "address" 10 sh -c "ip -n $NS_ROUTER -4 addr show dev rt-wan | grep -q 'inet $WAN2/'"
check_eq "TCP after the change: the server sees the new WAN address" "$WAN2" "$(ask "$NS_LAN" tcp 100.64.0.10 7000)"
check_eq "UDP after the change: the server sees the new WAN address" "$WAN2" "$(ask "$NS_LAN" udp 100.64.0.10 7000)"
check_eq "no apply happened (same generation)" "$GEN_BEFORE" "$(rd_api GET /status | python3 -c "import json,sys; print(json.load(sys.stdin)['status']['generation'])")"
check_eq "the table was not rewritten for it" "$APPLIED_BEFORE" "$(count routerd.firewall.applied)"

echo "== atomicity: a rule only nft can refuse"
ip netns exec "$NS_ROUTER" nft list table inet routerd >"$RD_TMP/table.before"
ip netns exec "$NS_ROUTER" nft list table inet fwforeign >"$RD_TMP/foreign.before"
ip netns exec "$NS_ROUTER" nft list tables >"$RD_TMP/tables.before"
cat >"$RD_TMP/bad.yaml" <<'YAML'
apiVersion: firewall.routerd.net/v1alpha1
kind: FirewallRule
metadata: {name: flood}
spec: {from: wan, to: router, protocol: udp, ports: [5000], action: accept, rateLimit: 18446744073709551615/second}
YAML
check "routerctl apply accepts the rule (its syntax is valid)" routerctl apply -f "$RD_TMP/bad.yaml"
check "FirewallRule/flood Error" rd_wait_for "Error" 15 rd_phase_is FirewallRule flood Error
MSG="$(rd_api GET /resources/FirewallRule/flood | python3 -c "import json,sys; print([c['message'] for c in json.load(sys.stdin)['status']['conditions'] if c['type']=='Applied'][0])")"
echo "  condition: $MSG"
check "the message names spec.rateLimit and nft's reason" sh -c "echo '$MSG' | grep -q 'spec.rateLimit' && echo '$MSG' | grep -qi 'value too large'"
check "routerd.firewall.rejected event names the field" sh -c "routerctl get events --topic routerd.firewall.rejected -o json | grep -q 'spec.rateLimit'"
ip netns exec "$NS_ROUTER" nft list table inet routerd >"$RD_TMP/table.after"
ip netns exec "$NS_ROUTER" nft list table inet fwforeign >"$RD_TMP/foreign.after"
ip netns exec "$NS_ROUTER" nft list tables >"$RD_TMP/tables.after"
check "nft list table inet routerd byte-identical" cmp "$RD_TMP/table.before" "$RD_TMP/table.after"
check "foreign table inet fwforeign byte-identical" cmp "$RD_TMP/foreign.before" "$RD_TMP/foreign.after"
check "no table added or removed" cmp "$RD_TMP/tables.before" "$RD_TMP/tables.after"
check "the other resources stay Applied" rd_phase_is NAT44Rule masq Applied
check "routerctl delete fwrule/flood" routerctl delete firewallrule/flood
check "NAT still works after the refusal" sh -c "[ \"\$(ip netns exec $NS_LAN python3 $RD_TMP/ask.py tcp 100.64.0.10 7000)\" = '$WAN2' ]"

echo "== kill -9 routerd, restart: the table is intact"
ip netns exec "$NS_ROUTER" nft list table inet routerd >"$RD_TMP/table.before-kill"
kill -9 "$RD_PID"; wait "$RD_PID" 2>/dev/null; RD_PID=""
check "table still there while routerd is down" cmp "$RD_TMP/table.before-kill" <(ip netns exec "$NS_ROUTER" nft list table inet routerd)
rd_start --config "$RD_TMP/router.yaml" --reconcile-interval 5s
check "NAT44Rule/masq Applied after restart" rd_wait_for "Applied" 20 rd_phase_is NAT44Rule masq Applied
check "table identical after restart" cmp "$RD_TMP/table.before-kill" <(ip netns exec "$NS_ROUTER" nft list table inet routerd)
check "NAT works after restart" sh -c "[ \"\$(ip netns exec $NS_LAN python3 $RD_TMP/ask.py tcp 100.64.0.10 7000)\" = '$WAN2' ]"

echo "== deleting every firewall, NAT and log resource removes the table"
check "apply the base config as the whole desired state" routerctl apply --replace -f "$RD_TMP/base.yaml"
check "table inet routerd gone" rd_wait_for "table removal" 15 sh -c "! ip netns exec $NS_ROUTER nft list table inet routerd"
check "foreign table untouched" cmp "$RD_TMP/foreign.before" <(ip netns exec "$NS_ROUTER" nft list table inet fwforeign)

echo "firewall: $E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
