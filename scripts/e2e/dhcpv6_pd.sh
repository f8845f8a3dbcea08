#!/usr/bin/env bash
# End-to-end: DHCPv6 prefix delegation through routerd against kea-dhcp6 in the isp namespace.
# routerd runs routerd-dhcpv6-client for DHCPv6PrefixDelegation/wan-pd on rt-wan, and the
# IPv6DelegatedAddress controller puts <prefix + subnet 1>::1/64 on rt-lan with the lease's lifetimes.
# Short lifetimes (T1 5 s, T2 8 s, preferred 14 s, valid 20 s) let every timer fire within the run:
# RENEW at T1, REBIND at T2 when renews go unanswered, expiry when the server is gone, SOLICIT when it is
# back, a renumbered pool (prefix.changed), an exhausted pool (NoPrefixAvail on RENEW), Kea restarted with
# an empty lease database, carrier loss, and kill -9 of the daemon.
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
KEA_DIR="$RD_TMP/kea6"

echo "== dhcpv6-pd: topology $NS_ROUTER <-> $NS_ISP, kea-dhcp6 delegating /56s from 2001:db8:1200::/40"
rd_topology
rd_topology_isp
ip -n "$NS_ROUTER" link set rt-wan up   # Kea binds isp0's link-local, which needs the peer up
export RD_KEA6_T1=5 RD_KEA6_T2=8 RD_KEA6_PREFERRED=14 RD_KEA6_VALID=20
rd_kea6_start "$NS_ISP" isp0 "$KEA_DIR" || { echo "kea-dhcp6 did not start"; exit 1; }
cat >"$RD_TMP/pd.yaml" <<'YAML'
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
YAML
rd_start --config "$RD_TMP/pd.yaml" --reconcile-interval 5s

# pd_field PATH: a field of wan-pd's status, PATH a Python subscript like "['lease']['prefix']".
pd_field() { rd_api GET /resources/DHCPv6PrefixDelegation/wan-pd | python3 -c "import json,sys; s=json.load(sys.stdin)['status']; print(s$1)" 2>/dev/null; }
prefix() { pd_field "['lease']['prefix']"; }
lan_address() { rd_api GET /resources/IPv6DelegatedAddress/lan-v6 | python3 -c "import json,sys; print(json.load(sys.stdin)['status'].get('address') or '')" 2>/dev/null; }
# addr_lft ADDR/LEN: "preferred valid" seconds of ADDR on rt-lan ("" when absent; forever = 4294967295).
addr_lft() {
    ip -n "$NS_ROUTER" -j -6 addr show dev rt-lan | python3 -c "
import json,sys
want=sys.argv[1].split('/')
for l in json.load(sys.stdin):
    for a in l.get('addr_info', []):
        if a.get('local')==want[0] and str(a.get('prefixlen'))==want[1]:
            print(a.get('preferred_life_time'), a.get('valid_life_time'))" "$1"
}
has_addr() { [ -n "$(addr_lft "$1")" ]; }
# valid_at_least ADDR/LEN SECS: ADDR is on rt-lan with a valid lifetime of at least SECS (read at each call).
valid_at_least() { local l; l="$(addr_lft "$1")"; [ -n "$l" ] && [ "${l#* }" -ge "$2" ]; }
# names KIND: the names of routerd's KIND resources, one a line (fails when the query fails).
names() { routerctl get "$1" -o json | python3 -c "import json,sys; d=json.load(sys.stdin); [print(r['metadata']['name']) for r in (d['items'] if isinstance(d, dict) else d)]"; }
# deleted KIND NAME KEPT: NAME is no longer among KIND's resources, KEPT still is (so the listing worked).
deleted() { local n; n="$(names "$1")" && grep -qx "$3" <<<"$n" && ! grep -qx "$2" <<<"$n"; }
# supervised_pid: the pid routerd's supervisor reports for the routerd-dhcpv6-client of wan-pd.
supervised_pid() { rd_api GET /status | python3 -c "import json,sys; print([d.get('pid') for d in json.load(sys.stdin)['status']['daemons'] if d['kind']=='routerd-dhcpv6-client' and d['instance']=='wan-pd'][0])"; }
# is_wan_pd_client PID: PID is a live routerd-dhcpv6-client --name wan-pd process.
is_wan_pd_client() { [ -n "$1" ] && [ "$1" != None ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q 'routerd-dhcpv6-client .*--name wan-pd'; }
# restarted OLD_PID: the supervisor reports another pid than OLD_PID, and it is a live wan-pd client.
restarted() { local p; p="$(supervised_pid)" && [ "$p" != "$1" ] && is_wan_pd_client "$p"; }
# count TOPIC: events with that topic in routerd's store.
count() { routerctl get events --topic "$1" --limit 10000 -o json | python3 -c "import json,sys; d=json.load(sys.stdin); print(len(d['items'] if isinstance(d, dict) else d))"; }
grew() { [ "$(count "$1")" -gt "$2" ]; }
# statuses CODE: status.received events with that statusCode.
statuses() { routerctl get events --topic routerd.dhcpv6.client.status.received --limit 10000 -o json | python3 -c "import json,sys; d=json.load(sys.stdin); print(sum(1 for e in (d['items'] if isinstance(d, dict) else d) if e.get('attributes', {}).get('statusCode') == sys.argv[1]))" "$1"; }
# lan_from PREFIX: the LAN address subnet 1, suffix ::1 of a /56 (what lan-v6 must install).
lan_from() { python3 -c "import ipaddress,sys; n=ipaddress.ip_network(sys.argv[1]); print(f'{n.network_address + (1 << 64) + 1}/64')" "$1"; }

check "DHCPv6PrefixDelegation/wan-pd Bound" rd_wait_for "Bound" 30 rd_phase_is DHCPv6PrefixDelegation wan-pd Bound
P1="$(prefix)"
check "a /56 from Kea's pool ($P1)" python3 -c "import ipaddress,sys; n=ipaddress.ip_network('$P1'); sys.exit(0 if n.prefixlen==56 and n.subnet_of(ipaddress.ip_network('2001:db8:1200::/40')) else 1)"
check_eq "lease lifetimes from Kea" "14 20" "$(pd_field "['lease']['preferredLifetimeSeconds']") $(pd_field "['lease']['validLifetimeSeconds']")"
check_eq "DNS servers from the REPLY" "['2001:db8:ffff::53']" "$(pd_field "['dnsServers']")"
L1="$(lan_from "$P1")"
check "IPv6DelegatedAddress/lan-v6 Applied" rd_wait_for "Applied" 15 rd_phase_is IPv6DelegatedAddress lan-v6 Applied
check_eq "lan-v6 address = prefix + subnet 1 + ::1" "$L1" "$(lan_address)"
check "$L1 on rt-lan" rd_wait_for "address" 10 has_addr "$L1"
lft="$(addr_lft "$L1")"
check "lifetimes from the lease on rt-lan (preferred valid = $lft, at most 14 20, not forever)" python3 -c "import sys; p,v='$lft'.split(); sys.exit(0 if 0 < int(p) <= 14 and int(p) < int(v) <= 20 else 1)"
check "routerctl get dhcpv6prefixdelegation wan-pd shows the lease" sh -c "routerctl get dhcpv6prefixdelegation wan-pd | grep -F '$P1' | grep -q Bound"
check "prefix.bound recorded" grew routerd.dhcpv6.client.prefix.bound 0

echo "== duplicate address detection: a LAN host already uses <prefix>:1::99"
DUP="$(python3 -c "import ipaddress,sys; n=ipaddress.ip_network(sys.argv[1]); print(n.network_address + (1 << 64) + 0x99)" "$P1")"
ip -n "$NS_LAN" addr add "$DUP/64" dev lan0 nodad
cat >"$RD_TMP/dup.yaml" <<'YAML'
apiVersion: net.routerd.net/v1alpha1
kind: IPv6DelegatedAddress
metadata: {name: lan-dup}
spec: {prefixDelegation: wan-pd, interface: lan, subnetID: "1", addressSuffix: "::99"}
YAML
check "apply lan-dup (suffix ::99)" routerctl apply -f "$RD_TMP/dup.yaml"
check "lan-dup Error (DAD failed on the real kernel)" rd_wait_for "DuplicateAddress" 15 rd_phase_is IPv6DelegatedAddress lan-dup Error
if [ "${RD_E2E_DEBUG:-0}" = 1 ]; then ip -n "$NS_ROUTER" -6 addr show dev rt-lan; routerctl describe ipv6delegatedaddress/lan-dup; fi
check "reason DuplicateAddress, naming spec.addressSuffix" sh -c "routerctl describe ipv6delegatedaddress/lan-dup | grep -q 'DuplicateAddress' && routerctl describe ipv6delegatedaddress/lan-dup | grep -q addressSuffix"
check "routerctl delete ipv6delegatedaddress/lan-dup" routerctl delete ipv6delegatedaddress/lan-dup
check "lan-dup gone from routerctl get ipv6delegatedaddress (lan-v6 still there)" rd_wait_for "lan-dup deletion" 10 deleted ipv6delegatedaddress lan-dup lan-v6
ip -n "$NS_LAN" addr del "$DUP/64" dev lan0

echo "== timers: RENEW at T1 refreshes the LAN lifetimes"
renewed="$(count routerd.dhcpv6.client.prefix.renewed)"
check "prefix.renewed at T1" rd_wait_for "renewed" 12 grew routerd.dhcpv6.client.prefix.renewed "$renewed"
# Renewals come every T1 (5 s): without a refresh the valid lifetime would be at most 20 - 5 = 15 by now.
check "LAN lifetimes refreshed by the renewal (valid >= 17 of 20)" rd_wait_for "refreshed lifetimes" 3 valid_at_least "$L1" 17
echo "   (preferred valid on rt-lan after the renewal: $(addr_lft "$L1"))"

echo "== the server stops answering RENEW: REBIND at T2 (server.lost), rebound"
lost="$(count routerd.dhcpv6.client.server.lost)"
rebound="$(count routerd.dhcpv6.client.prefix.rebound)"
rd_kea6_block "$NS_ISP" renew
check "server.lost (REBIND started at T2)" rd_wait_for "server.lost" 15 grew routerd.dhcpv6.client.server.lost "$lost"
check "prefix.rebound" rd_wait_for "rebound" 10 grew routerd.dhcpv6.client.prefix.rebound "$rebound"
check_eq "same prefix after REBIND" "$P1" "$(prefix)"

echo "== the server is gone: expiry removes the LAN address; back: SOLICIT and bound again"
solicits="$(count routerd.dhcpv6.client.solicit.sent)"
rd_kea6_block "$NS_ISP"
expired="$(count routerd.dhcpv6.client.prefix.expired)"
check "prefix.expired at the valid lifetime" rd_wait_for "expiry" 30 grew routerd.dhcpv6.client.prefix.expired "$expired"
check "wan-pd Pending" rd_wait_for "Pending" 10 rd_phase_is DHCPv6PrefixDelegation wan-pd Pending
check "LAN address removed" rd_wait_for "address removal" 10 sh -c "! ip -n $NS_ROUTER -6 addr show dev rt-lan | grep -q '${L1%/*}/'"
check "lan-v6 Pending (PrefixNotBound)" rd_wait_for "lan Pending" 10 rd_phase_is IPv6DelegatedAddress lan-v6 Pending
rd_kea6_unblock "$NS_ISP"
check "server back: Bound again" rd_wait_for "Bound again" 45 rd_phase_is DHCPv6PrefixDelegation wan-pd Bound
check "through a new SOLICIT" grew routerd.dhcpv6.client.solicit.sent "$solicits"
P1="$(prefix)"; L1="$(lan_from "$P1")"
check "LAN address back ($L1)" rd_wait_for "address back" 15 has_addr "$L1"

echo "== renumbering: Kea's pool moves to 2001:db8:3400::/40 (lease db cleared)"
changed="$(count routerd.dhcpv6.client.prefix.changed)"
rd_kea6_set_pool "$KEA_DIR" 2001:db8:3400::
check "prefix.changed at the next RENEW" rd_wait_for "changed" 15 grew routerd.dhcpv6.client.prefix.changed "$changed"
P2="$(prefix)"; L2="$(lan_from "$P2")"
check "new prefix from the new pool ($P2)" python3 -c "import ipaddress,sys; sys.exit(0 if ipaddress.ip_network('$P2').subnet_of(ipaddress.ip_network('2001:db8:3400::/40')) else 1)"
check "prefix.changed names the previous prefix" sh -c "routerctl get events --topic routerd.dhcpv6.client.prefix.changed -o json | grep -q 'previousPrefix.*${P1%%::*}'"
check "new LAN address $L2 added" rd_wait_for "new address" 10 has_addr "$L2"
# Kea answers the RENEW with the old prefix at valid lifetime 0 (see kea6.sh): it is invalid at once, so
# it is not kept in previousPrefixes and its LAN address goes now (a prefix replaced while still valid
# stays deprecated until its validUntil: unit-tested in the client and the controller).
check "old LAN address removed at its valid lifetime" rd_wait_for "old address removal" 25 sh -c "! ip -n $NS_ROUTER -6 addr show dev rt-lan | grep -q '${L1%/*}/'"

echo "== exhausted pool: NoPrefixAvail in reply to RENEW is not success"
expires="$(pd_field "['lease']['expiresAt']")"
rd_kea6_exhaust "$KEA_DIR"
# Another client (DUID-LL 02:00:00:00:99:99) takes the one prefix left: our binding becomes theirs.
check "Kea hands our prefix to that client" rd_kea6_give_away "$KEA_DIR" 00:03:00:01:02:00:00:00:99:99
nopfx="$(statuses NoPrefixAvail)"
renewed="$(count routerd.dhcpv6.client.prefix.renewed)"
nopfx_grew() { [ "$(statuses NoPrefixAvail)" -gt "$nopfx" ]; }
check "status.received NoPrefixAvail (Kea: IA_PD status 6, our prefix at lifetime 0)" rd_wait_for "NoPrefixAvail" 15 nopfx_grew
if [ "${RD_E2E_DEBUG:-0}" = 1 ]; then
    rd_api GET "/events?topic=routerd.dhcpv6.**&limit=10000" | python3 -c "import json,sys; [print(e['cursor'], e['topic'], e['message'], e.get('attributes', {})) for e in json.load(sys.stdin)['items'][-12:]]"
    grep -v TIMERMGR "$KEA_DIR/kea6.log" | grep -v RECLAMATION | grep -v EXPIRED | tail -n 25
fi
check_eq "not counted as renewed" "$renewed" "$(count routerd.dhcpv6.client.prefix.renewed)"
check_eq "prefix kept" "$P2" "$(prefix)"
check_eq "with its remaining lifetime (expiresAt unchanged)" "$expires" "$(pd_field "['lease']['expiresAt']")"
check "phase still Bound" rd_phase_is DHCPv6PrefixDelegation wan-pd Bound
check "LAN address kept" has_addr "$L2"

echo "== Kea restarted with an empty lease database: the binding comes back"
rd_kea6_restart "$KEA_DIR" --clear-leases
extended() { [ $(($(count routerd.dhcpv6.client.prefix.renewed) + $(count routerd.dhcpv6.client.prefix.rebound))) -gt "$1" ]; }
check "renewed or rebound again after the restart" rd_wait_for "extended" 20 extended $(($(count routerd.dhcpv6.client.prefix.renewed) + $(count routerd.dhcpv6.client.prefix.rebound)))
check_eq "same prefix" "$P2" "$(prefix)"

echo "== NoBinding in reply to RENEW: REQUEST (not SOLICIT), bound again"
nobind="$(statuses NoBinding)"
requests="$(count routerd.dhcpv6.client.request.sent)"
solicits="$(count routerd.dhcpv6.client.solicit.sent)"
rd_kea6_block "$NS_ISP" request   # hold the REQUEST until Kea is open again
rd_kea6_close "$KEA_DIR"
nobind_grew() { [ "$(statuses NoBinding)" -gt "$nobind" ]; }
check "status.received NoBinding" rd_wait_for "NoBinding" 15 nobind_grew
check "REQUEST sent for the binding" rd_wait_for "REQUEST" 5 grew routerd.dhcpv6.client.request.sent "$requests"
replies() { rd_api GET "/events?topic=routerd.dhcpv6.client.reply.received&limit=10000" | python3 -c "import json,sys; print(sum(1 for e in json.load(sys.stdin)['items'] if e.get('attributes', {}).get('messageType') == 'REQUEST'))"; }
# Counted while the REQUEST is still held: counted after the unblock, a quick retransmission's REPLY
# could already be in the count, and the check would wait for a second one that never comes.
req_replies="$(replies)"
rd_kea6_open "$KEA_DIR"
rd_kea6_unblock "$NS_ISP"
replied() { [ "$(replies)" -gt "$req_replies" ]; }
check "REPLY to the retransmitted REQUEST" rd_wait_for "REQUEST reply" 15 replied
check "Bound" rd_phase_is DHCPv6PrefixDelegation wan-pd Bound
check_eq "same prefix" "$P2" "$(prefix)"
check_eq "no SOLICIT" "$solicits" "$(count routerd.dhcpv6.client.solicit.sent)"

echo "== carrier loss and return: REBIND at once"
rebound="$(count routerd.dhcpv6.client.prefix.rebound)"
ip -n "$NS_ROUTER" link set rt-wan down
sleep 1
ip -n "$NS_ROUTER" link set rt-wan up
t0=$SECONDS
check "prefix.rebound after carrier return" rd_wait_for "rebound" 12 grew routerd.dhcpv6.client.prefix.rebound "$rebound"
echo "   (rebound $((SECONDS - t0)) s after the link came back)"
check_eq "same prefix after carrier return" "$P2" "$(prefix)"

echo "== kill -9 the daemon: same prefix, no SOLICIT"
solicits="$(count routerd.dhcpv6.client.solicit.sent)"
pid="$(supervised_pid)"
check "daemon running (pid $pid, from routerd's /status)" is_wan_pd_client "$pid"
kill -9 "$pid"
check "restarted by the supervisor" rd_wait_for "restart" 15 restarted "$pid"
echo "   (new pid $(supervised_pid))"
renewed="$(count routerd.dhcpv6.client.prefix.renewed)"
check "renews the restored lease" rd_wait_for "renewed" 15 grew routerd.dhcpv6.client.prefix.renewed "$renewed"
check_eq "same prefix after kill -9" "$P2" "$(prefix)"
check_eq "no SOLICIT after the restart" "$solicits" "$(count routerd.dhcpv6.client.solicit.sent)"
check "LAN address still there" has_addr "$L2"

echo "== delete: RELEASE, and the LAN address goes"
kea_releases() { grep -c DHCP6_RELEASE_PD "$KEA_DIR/kea6.log"; }
released_before="$(kea_releases)"
check "routerctl delete ipv6delegatedaddress/lan-v6 dhcpv6prefixdelegation/wan-pd" sh -c "routerctl delete ipv6delegatedaddress/lan-v6 && routerctl delete dhcpv6prefixdelegation/wan-pd"
check "LAN address removed" rd_wait_for "removal" 15 sh -c "! ip -n $NS_ROUTER -6 addr show dev rt-lan | grep -q '${L2%/*}/'"
check "Kea saw the RELEASE" rd_wait_for "release" 15 sh -c "[ \$(grep -c DHCP6_RELEASE_PD '$KEA_DIR/kea6.log') -gt $released_before ]"

echo "dhcpv6-pd: $E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
