#!/usr/bin/env bash
# End-to-end: router advertisements from routerd-ra to a LAN host's own kernel, with the prefix following
# a DHCPv6 delegation from kea-dhcp6. routerd runs DHCPv6PrefixDelegation/wan-pd on rt-wan,
# IPv6DelegatedAddress/lan-v6 (subnet 1 of the /56 on rt-lan), a DNSResolver listening on [::]:53 (so
# the RDNSS default is the router's LAN address) and IPv6RouterAdvertisement/lan from lan-v6.
# The LAN host (accept_ra=1, autoconf=1) must: take a SLAAC address and a default route from our RA;
# `rdisc6` (ndisc6, an independent parser) must see PIO, RDNSS and DNSSL; when Kea's pool moves the new
# prefix must be advertised within a second of the delegation changing (measured), the old one with
# preferred 0 (the host's old address deprecated at once, gone at its valid lifetime); malformed router
# solicitations must not crash the daemon or be answered; deleting the resource must send router
# lifetime 0, so the host drops its default route. Short Kea lifetimes (T1 5 s, preferred 20 s,
# valid 30 s) keep it within the time bound.
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RD_BIN="${RD_BIN:-$ROOT/target/debug}"
RD_SUFFIX="ra$$"
# shellcheck source=../lib/netns.sh
source "$HERE/lib/netns.sh"
# shellcheck source=../lib/assert.sh
source "$HERE/lib/assert.sh"
# shellcheck source=../lib/kea6.sh
source "$HERE/lib/kea6.sh"
trap rd_cleanup EXIT
export PATH="$RD_BIN:$PATH"
KEA_DIR="$RD_TMP/kea6"

command -v rdisc6 >/dev/null || skip_scenario ra "rdisc6 (Debian ndisc6) is not installed"
[ -x "$RD_BIN/routerd-ra" ] || { echo "ra: $RD_BIN/routerd-ra missing (cargo build --bins)"; exit 1; }

echo "== ra: topology $NS_ROUTER <-> $NS_LAN (LAN host) and <-> $NS_ISP (kea-dhcp6 delegating /56s)"
rd_topology
rd_topology_isp
# The router forwards IPv6 (routerd leaves the forwarding sysctls to the firewall work); the LAN host
# takes RAs and forms SLAAC addresses, as a host does by default.
ip netns exec "$NS_ROUTER" sysctl -qw net.ipv6.conf.all.forwarding=1
ip netns exec "$NS_LAN" sysctl -qw net.ipv6.conf.lan0.accept_ra=1 net.ipv6.conf.lan0.autoconf=1
ip -n "$NS_ROUTER" link set rt-wan up
ip -n "$NS_ROUTER" link set rt-lan up
export RD_KEA6_T1=5 RD_KEA6_T2=8 RD_KEA6_PREFERRED=20 RD_KEA6_VALID=30
rd_kea6_start "$NS_ISP" isp0 "$KEA_DIR" || { echo "kea-dhcp6 did not start"; exit 1; }
rd_wait_linklocal "$NS_ROUTER" rt-lan 10
rd_wait_linklocal "$NS_LAN" lan0 10
cat >"$RD_TMP/ra.yaml" <<'YAML'
apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: wan}
spec: {ifname: rt-wan}
---
apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: lan}
spec: {ifname: rt-lan}
---
apiVersion: net.routerd.net/v1alpha1
kind: DHCPv6PrefixDelegation
metadata: {name: wan-pd}
spec: {interface: wan, prefixLengthHint: 56}
---
apiVersion: net.routerd.net/v1alpha1
kind: IPv6DelegatedAddress
metadata: {name: lan-v6}
spec: {prefixDelegation: wan-pd, interface: lan, subnetID: "1", addressSuffix: "::1"}
---
apiVersion: net.routerd.net/v1alpha1
kind: DNSResolver
metadata: {name: lan-dns}
spec: {listen: ["[::]:53"], upstreams: [{address: "2001:db8:ffff::53"}]}
---
apiVersion: net.routerd.net/v1alpha1
kind: IPv6RouterAdvertisement
metadata: {name: lan}
spec:
  interface: lan
  prefixes: [{from: lan-v6}]
  dnssl: [home.arpa]
  mtu: 1500
  maxInterval: 4s
  routerLifetime: 60s
YAML
rd_start --config "$RD_TMP/ra.yaml" --reconcile-interval 5s

py() { python3 -c "$@"; }
ra_status() { rd_api GET /resources/IPv6RouterAdvertisement/lan; }
ra_field() { ra_status | py "import json,sys; s=json.load(sys.stdin)['status']; print(s$1)" 2>/dev/null; }
pd_prefix() { rd_api GET /resources/DHCPv6PrefixDelegation/wan-pd | py "import json,sys; print(json.load(sys.stdin)['status']['lease']['prefix'])" 2>/dev/null; }
# subnet1 /56: the /64 lan-v6 carves (subnet 1).
subnet1() { py "import ipaddress,sys; n=ipaddress.ip_network(sys.argv[1]); print(ipaddress.ip_network((int(n.network_address) + (1 << 64), 64)))" "$1"; }
# host_addr PREFIX: the LAN host's SLAAC address in PREFIX with its flags, "" when none.
host_addr() {
    ip -n "$NS_LAN" -j -6 addr show dev lan0 | py "
import ipaddress,json,sys
net=ipaddress.ip_network(sys.argv[1])
for l in json.load(sys.stdin):
    for a in l.get('addr_info', []):
        if a.get('family')=='inet6' and ipaddress.ip_address(a['local']) in net:
            flags=[f for f in ('deprecated','tentative','dadfailed') if a.get(f)]
            print(a['local'], a.get('preferred_life_time'), a.get('valid_life_time'), ','.join(flags) or '-')" "$1"
}
has_host_addr() { [ -n "$(host_addr "$1")" ]; }
host_deprecated() { host_addr "$1" | grep -q deprecated; }
no_host_addr() { [ -z "$(host_addr "$1")" ]; }
host_default() { ip -n "$NS_LAN" -6 route show default | grep -q "via fe80"; }
no_host_default() { ! ip -n "$NS_LAN" -6 route show default | grep -q "via fe80"; }
daemon_sock="$RD_RUN/ra/lan.sock"
daemon_status() { curl -sS --fail --max-time 5 --unix-socket "$daemon_sock" http://d/v1/status; }
answered() { daemon_status | py "import json,sys; print(json.load(sys.stdin)['resources'][0]['observed']['solicitationsAnswered'])"; }
answered_at_least() { [ "$(answered 2>/dev/null || echo -1)" -ge "$1" ]; }
pd_changed() { local p; p="$(pd_prefix)"; [ -n "$p" ] && [ "$p" != "$P1" ]; }
status_deprecated() {
    ra_status | py "import json,sys; a=json.load(sys.stdin)['status']['advertised']; sys.exit(0 if any(p['prefix']==sys.argv[1] and p['deprecated'] and p['preferredLifetimeSeconds']==0 for p in a) else 1)" "$1"
}
ra_pid() { rd_api GET /status | py "import json,sys; print([d.get('pid') for d in json.load(sys.stdin)['status']['daemons'] if d['kind']=='routerd-ra' and d['instance']=='lan'][0])" 2>/dev/null; }
# event_time TOPIC PREFIX: the time (epoch seconds, float) of the newest TOPIC event whose attribute prefix
# (or previousPrefix/prefix for DHCPv6) equals PREFIX; "" when none.
event_time() {
    routerctl get events --topic "$1" --limit 1000 -o json | py "
import json,sys,datetime
d=json.load(sys.stdin); items=d['items'] if isinstance(d, dict) else d
ts=[e['time'] for e in items if e.get('attributes',{}).get('prefix')==sys.argv[1]]
if ts:
    t=max(ts); base,frac=(t.rstrip('Z')+'.0').split('.')[:2]
    print(datetime.datetime.fromisoformat(base).replace(tzinfo=datetime.timezone.utc).timestamp()+float('0.'+frac))" "$2"
}

check "DHCPv6PrefixDelegation/wan-pd Bound" rd_wait_for "Bound" 30 rd_phase_is DHCPv6PrefixDelegation wan-pd Bound
P1="$(pd_prefix)"; S1="$(subnet1 "$P1")"
echo "   delegated $P1, LAN subnet $S1"
check "the router has ${S1%/*}1/64 on rt-lan (IPv6DelegatedAddress/lan-v6)" rd_wait_for "router address" 15 sh -c "ip -n $NS_ROUTER -6 addr show dev rt-lan | grep -q 'inet6 ${S1%/*}1/64'"
check "IPv6RouterAdvertisement/lan Applied" rd_wait_for "Applied" 20 rd_phase_is IPv6RouterAdvertisement lan Applied
check_eq "status.advertised[0].prefix is the delegated subnet" "$S1" "$(ra_field "['advertised'][0]['prefix']")"

echo "== the LAN host's kernel configures itself from our RA"
check "LAN host took a SLAAC address in $S1" rd_wait_for "SLAAC address" 15 has_host_addr "$S1"
echo "   host: $(host_addr "$S1")"
check "LAN host has a default route via the router's link-local" rd_wait_for "default route" 10 host_default
echo "   host: $(ip -n "$NS_LAN" -6 route show default)"
rdisc_out="$RD_TMP/rdisc6.txt"
ip netns exec "$NS_LAN" rdisc6 -1 -w 2000 lan0 >"$rdisc_out" 2>&1
sed 's/^/   rdisc6| /' "$rdisc_out"
check "rdisc6 sees the PIO ($S1)" grep -Eq "Prefix +: $S1" "$rdisc_out"
check "rdisc6 sees the RDNSS (the router's LAN address ${S1%/*}1)" grep -Eq "Recursive DNS server +: ${S1%/*}1\$" "$rdisc_out"
check "rdisc6 sees the DNSSL (home.arpa)" grep -Eq "DNS search list +: home.arpa" "$rdisc_out"
check "rdisc6 sees the MTU" grep -Eq "MTU +: +1500" "$rdisc_out"
check "rdisc6: router lifetime 60 s" grep -Eq "Router lifetime +: +60 " "$rdisc_out"
check "rdisc6: hop limit 64 in the RA" grep -Eq "Hop limit +: +64 " "$rdisc_out"
check "the solicitation was counted as answered" rd_wait_for "answered" 5 answered_at_least 1
check "prefix.advertised event for $S1" rd_wait_for "event" 10 sh -c "routerctl get events --topic routerd.ra.prefix.advertised -o json | grep -q '$S1'"

echo "== malformed router solicitations from the wire"
pid_before="$(ra_pid)"
sleep 1
n_before="$(answered)"
ip netns exec "$NS_LAN" python3 - <<'PY'
import os, socket
idx = socket.if_nametoindex("lan0")
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
dst = ("ff02::2", 0, 0, idx)
bad = [
    bytes([133, 1, 0, 0, 0, 0, 0, 0]),                                  # code 1
    bytes([133, 0, 0, 0, 0, 0]),                                        # shorter than 8 octets
    bytes([133, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]),          # option of length 0
    bytes([133, 0, 0, 0, 0, 0, 0, 0, 1, 3, 2, 0, 0, 0, 0, 1]),          # option past the end
]
# Garbage after a header whose first option claims 255 units (more than the packet): never valid.
for _ in range(200):
    bad.append(bytes([133, 0, 0, 0, 0, 0, 0, 0, os.urandom(1)[0], 255]) + os.urandom(os.urandom(1)[0]))
for b in bad:
    s.sendto(b, dst)
# Well-formed, but hop limit 64: it crossed a router (RFC 4861 6.1.1), so it is dropped.
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 64)
for _ in range(5):
    s.sendto(bytes([133, 0, 0, 0, 0, 0, 0, 0]), dst)
print(f"   sent {len(bad)} malformed and 5 hop-limit-64 router solicitations")
PY
sleep 4
check_eq "routerd-ra still the same process" "$pid_before" "$(ra_pid)"
check "routerd-ra answers its API" daemon_status
check_eq "none of them was answered (solicitationsAnswered)" "$n_before" "$(answered)"
ip netns exec "$NS_LAN" rdisc6 -1 -w 2000 lan0 >"$rdisc_out" 2>&1
check "a valid solicitation afterwards is answered" grep -Eq "Prefix +: $S1" "$rdisc_out"

echo "== renumbering: Kea's pool moves to 2001:db8:3400::/40"
# The moment the LAN host's kernel has an address in the new pool (polled every 20 ms in the background).
(
    while ! ip -n "$NS_LAN" -6 -o addr show dev lan0 | grep -q ' 2001:db8:3400:'; do sleep 0.02; done
    date +%s.%N >"$RD_TMP/host-seen"
) &
RD_PIDS+=("$!")
rd_kea6_set_pool "$KEA_DIR" 2001:db8:3400::
check "the delegation changes at the next RENEW" rd_wait_for "new prefix" 20 pd_changed
P2="$(pd_prefix)"; S2="$(subnet1 "$P2")"
echo "   delegated $P2, LAN subnet $S2"
check "LAN host took a SLAAC address in the new $S2" rd_wait_for "new SLAAC address" 5 has_host_addr "$S2"
check "LAN host's old address in $S1 deprecated" rd_wait_for "old deprecated" 2 host_deprecated "$S1"
echo "   host new: $(host_addr "$S2")"
echo "   host old: $(host_addr "$S1")"
t_changed="$(event_time routerd.dhcpv6.client.prefix.changed "$P2")"
t_adv="$(event_time routerd.ra.prefix.advertised "$S2")"
t_dep="$(event_time routerd.ra.prefix.deprecated "$S1")"
latency="$(py "print(f'{$t_adv - $t_changed:.3f}')" 2>/dev/null)"
echo "   prefix.changed at $t_changed, ra prefix.advertised at $t_adv, ra prefix.deprecated at $t_dep"
check "new prefix advertised within a second of the delegation change (${latency:-?} s)" py "import sys; sys.exit(0 if 0 <= $t_adv - $t_changed < 1.0 else 1)"
t_host="$(cat "$RD_TMP/host-seen" 2>/dev/null)"
host_latency="$(py "print(f'{${t_host:-0} - $t_changed:.3f}')" 2>/dev/null)"
check "the LAN host had its new address within a second of the delegation change (${host_latency:-?} s)" py "import sys; sys.exit(0 if 0 <= ${t_host:-0} - $t_changed < 1.0 else 1)"
check "prefix.deprecated event for $S1" test -n "$t_dep"
check "status shows $S1 deprecated with preferred 0" rd_wait_for "status" 12 status_deprecated "$S1"
ip netns exec "$NS_LAN" rdisc6 -1 -w 2000 lan0 >"$rdisc_out" 2>&1
check "rdisc6 sees $S1 with Pref. time 0" py "
import re,sys
t=open('$rdisc_out').read()
blocks=t.split(' Prefix ')
sys.exit(0 if any(b.lstrip(': ').startswith('$S1') and re.search(r'Pref\. time +: +0 ', b) for b in blocks) else 1)"
check "the new subnet's RDNSS is the router's new address" grep -Eq "Recursive DNS server +: ${S2%/*}1\$" "$rdisc_out"
echo "== kill -9 of routerd-ra while $S1 is still deprecated: the restarted daemon remembers it"
pid_before="$(ra_pid)"
kill -9 "$pid_before"
restarted() { local p; p="$(ra_pid)" && [ -n "$p" ] && [ "$p" != None ] && [ "$p" != "$1" ] && daemon_status >/dev/null; }
check "the supervisor restarted routerd-ra" rd_wait_for "restart" 15 restarted "$pid_before"
daemon_deprecated() {
    daemon_status | py "import json,sys; a=json.load(sys.stdin)['resources'][0]['observed']['advertised']; sys.exit(0 if any(p['prefix']==sys.argv[1] and p['deprecated'] for p in a) else 1)" "$1"
}
check "the new process still advertises $S1 deprecated (from advertised.json)" rd_wait_for "restored" 5 daemon_deprecated "$S1"
check "routerctl get ra lists it" sh -c "routerctl get ra | grep -q lan"
check "the host's old address disappears at its valid lifetime (<= 30 s)" rd_wait_for "old address gone" 35 no_host_addr "$S1"
check "the new address stays" has_host_addr "$S2"

echo "== stop: deleting the resource sends router lifetime 0"
check "LAN host has its default route before" host_default
check "routerctl delete ipv6routeradvertisement/lan" routerctl delete ipv6routeradvertisement/lan
check "the LAN host drops its default route (router lifetime 0)" rd_wait_for "default route gone" 10 no_host_default
check "the LAN host's address deprecated (final RA: preferred 0)" rd_wait_for "deprecated" 5 host_deprecated "$S2"
check "routerd-ra stopped" rd_wait_for "stopped" 10 sh -c "[ ! -S '$daemon_sock' ]"

echo "ra: $E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
