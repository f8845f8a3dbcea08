#!/usr/bin/env bash
# End-to-end: routerd-dhcpv4-client in a router namespace against real DHCPv4 servers in an isp namespace
# (dnsmasq, then kea-dhcp4 with a 30 s lease), with a third namespace as another host on the isp's
# bridge. The daemon installs nothing; the script plays routerd's DHCPv4Client controller where an
# address must be on the link (ip addr add from the daemon's status).
#
#   router: wan0 ──veth── isp0 ┐
#                              br0 (198.51.100.1/24) ── dnsmasq | kea-dhcp4, tcpdump
#   host:   h0 ──veth── isph   ┘
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RD_BIN="${RD_BIN:-$ROOT/target/debug}"
# shellcheck source=../lib/netns.sh
source "$HERE/lib/netns.sh"
# shellcheck source=../lib/assert.sh
source "$HERE/lib/assert.sh"
NS_HOST="rd-host-$RD_SUFFIX"
cleanup() {
    ip netns del "$NS_HOST" 2>/dev/null
    rd_cleanup
}
trap cleanup EXIT

DAEMON="$RD_BIN/routerd-dhcpv4-client"
for need in "$DAEMON" "$(command -v dnsmasq)" "$(command -v kea-dhcp4)" "$(command -v tcpdump)"; do
    if [ ! -x "$need" ]; then
        echo "dhcpv4: missing ${need:-a tool} (cargo build; scripts/lib/install-deps.sh)"
        echo "dhcpv4: 0 passed, 1 failed"
        exit 1
    fi
done

W="$RD_TMP/state/dhcpv4-client/wan"
SOCK="$RD_RUN/dhcpv4-client/wan.sock"
NAME=wan
# shellcheck source=../lib/daemon_api.sh
source "$HERE/lib/daemon_api.sh"
mkdir -p "$W" "$(dirname "$SOCK")"
DPID=""

echo "== dhcpv4: topology $NS_ROUTER <-> $NS_ISP (bridge) <-> $NS_HOST"
ip netns add "$NS_ROUTER"
ip netns add "$NS_ISP"
ip netns add "$NS_HOST"
for ns in "$NS_ROUTER" "$NS_ISP" "$NS_HOST"; do ip -n "$ns" link set lo up; done
ip -n "$NS_ISP" link add br0 type bridge
ip link add wan0 netns "$NS_ROUTER" type veth peer name isp0 netns "$NS_ISP"
ip link add h0 netns "$NS_HOST" type veth peer name isph netns "$NS_ISP"
ip -n "$NS_ISP" link set isp0 master br0
ip -n "$NS_ISP" link set isph master br0
for l in br0 isp0 isph; do ip -n "$NS_ISP" link set "$l" up; done
ip -n "$NS_ROUTER" link set wan0 up
ip -n "$NS_HOST" link set h0 up
ip -n "$NS_ISP" addr add 198.51.100.1/24 dev br0

# field KEY: a value of the observed lease (Python repr for lists, None for null).
field() { status | py "import json,sys; print(json.load(sys.stdin)['resources'][0]['observed'].get('$1'))"; }
reason() { status | py "import json,sys; print(json.load(sys.stdin)['resources'][0]['conditions'][0]['reason'])"; }
T=routerd.dhcpv4.client

# What routerd's controller does with the status: the leased address on wan0, nothing else.
apply_lease() {
    local a p
    a="$(field address)"
    p="$(field prefixLength)"
    ip -n "$NS_ROUTER" addr flush dev wan0
    if [ "$a" != None ]; then ip -n "$NS_ROUTER" addr add "$a/$p" dev wan0; fi
}
remove_lease() { ip -n "$NS_ROUTER" addr flush dev wan0; }

start_capture() {
    ip netns exec "$NS_ISP" tcpdump -i br0 -nn -l -v 'udp port 67 or udp port 68' >"$RD_TMP/wire-$1.txt" 2>/dev/null &
    RD_PIDS+=("$!")
    CAPTURE=$!
    sleep 0.5
}
stop_capture() { kill "$CAPTURE" 2>/dev/null; wait "$CAPTURE" 2>/dev/null; }

echo '{"spec": {"interface": "wan", "hostname": "rd-e2e"}, "ifname": "wan0"}' >"$W/config.json"

echo "== dnsmasq: bound, options, wire format"
start_dnsmasq() { # RANGE ROUTER
    ip netns exec "$NS_ISP" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --interface=br0 --bind-interfaces \
        --dhcp-range="$1,255.255.255.0,10m" --dhcp-leasefile="$RD_TMP/dnsmasq.leases" --dhcp-authoritative \
        --log-dhcp --log-facility="$RD_TMP/dnsmasq.log" --pid-file="$RD_TMP/dnsmasq.pid" \
        --dhcp-option=3,"$2" --dhcp-option=6,198.51.100.53 --dhcp-option=15,isp.test \
        --dhcp-option=26,1400 --dhcp-option=42,198.51.100.123 \
        --dhcp-option=121,0.0.0.0/0,"$2",203.0.113.0/24,198.51.100.254 >/dev/null 2>&1 &
    DNSMASQ=$!
    RD_PIDS+=("$DNSMASQ")
    rd_wait_for "dnsmasq" 10 sh -c "grep -c 'sockets bound' '$RD_TMP/dnsmasq.log' | grep -qx $3"
}
start_dnsmasq 198.51.100.100,198.51.100.150 198.51.100.1 1
start_capture dnsmasq
start_daemon
C0="" # a fresh event log: read it from the beginning
check "Bound against dnsmasq" rd_wait_for "Bound" 15 phase_is Bound
ADDR="$(field address)"
check "address from the pool ($ADDR)" py "import ipaddress as i; a=i.ip_address('$ADDR'); assert i.ip_address('198.51.100.100') <= a <= i.ip_address('198.51.100.150')"
check_eq "prefixLength" 24 "$(field prefixLength)"
check_eq "serverID" 198.51.100.1 "$(field serverID)"
check_eq "gateway (option 121's default route)" 198.51.100.1 "$(field gateway)"
check_eq "dnsServers" "['198.51.100.53']" "$(field dnsServers)"
check_eq "ntpServers" "['198.51.100.123']" "$(field ntpServers)"
check_eq "domain" isp.test "$(field domain)"
check_eq "mtu" 1400 "$(field mtu)"
check_eq "leaseTimeSeconds" 600 "$(field leaseTimeSeconds)"
check_eq "state" Bound "$(field state)"
check "classlessRoutes has 203.0.113.0/24 via 198.51.100.254" sh -c \
    "curl -s --unix-socket '$SOCK' http://d/v1/status | grep -q '\"destination\":\"203.0.113.0/24\",\"gateway\":\"198.51.100.254\"'"
check_eq "lease.bound carries address" "$ADDR" "$(attr "$T.lease.bound" "$C0" address)"
check_eq "lease.bound carries gateway" 198.51.100.1 "$(attr "$T.lease.bound" "$C0" gateway)"
check_eq "lease.bound carries serverID" 198.51.100.1 "$(attr "$T.lease.bound" "$C0" serverID)"
check_eq "lease.bound carries leaseTimeSeconds" 600 "$(attr "$T.lease.bound" "$C0" leaseTimeSeconds)"
for t in discover.sent offer.received request.sent; do
    check "event $t" has_event "$T.$t" "$C0"
done
check "lease.json persisted" grep -q "\"address\": \"$ADDR\"" "$W/lease.json"
stop_capture
check "DISCOVER padded to 300 bytes" grep -q "Request from .*, length 300" "$RD_TMP/wire-dnsmasq.txt"
check "no broadcast flag" sh -c "grep -A1 'Request from' '$RD_TMP/wire-dnsmasq.txt' | grep -q 'Flags \[none\]'"
check "hostname option sent" grep -q 'Hostname.*"rd-e2e"' "$RD_TMP/wire-dnsmasq.txt"

echo "== dnsmasq: renew by unicast once the address is on the link"
apply_lease
start_capture renew
C1="$(cursor)"
check_eq "renew accepted" 200 "$(command_code renew)"
check "lease.renewed" rd_wait_for "lease.renewed" 10 has_event "$T.lease.renewed" "$C1"
stop_capture
check "the renewal was unicast from $ADDR to the server" grep -q "$ADDR.68 > 198.51.100.1.67" "$RD_TMP/wire-renew.txt"
check "dnsmasq saw a DHCPREQUEST for $ADDR" grep -q "DHCPREQUEST(br0) $ADDR" "$RD_TMP/dnsmasq.log"

echo "== dnsmasq: kill -9 while bound, restart: INIT-REBOOT, same address, no DISCOVER"
discovers_before="$(grep -c DHCPDISCOVER "$RD_TMP/dnsmasq.log")"
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
C2="$(last_file_cursor)"
start_daemon
check "Bound after the restart" rd_wait_for "lease.bound" 10 has_event "$T.lease.bound" "$C2"
check_eq "confirmed in REBOOTING" Rebooting "$(attr "$T.lease.bound" "$C2" state)"
check_eq "same address" "$ADDR" "$(field address)"
check "no discover.sent after the restart" no_event "$T.discover.sent" "$C2"
check_eq "dnsmasq saw no new DHCPDISCOVER" "$discovers_before" "$(grep -c DHCPDISCOVER "$RD_TMP/dnsmasq.log")"

echo "== dnsmasq: carrier lost and back → INIT-REBOOT"
ip -n "$NS_ISP" link set isp0 down
check "no carrier: the lease is held, waiting to confirm it" rd_wait_for "LinkDown" 10 sh -c \
    "curl -s --unix-socket '$SOCK' http://d/v1/status | grep -q '\"reason\":\"LinkDown\"'"
check_eq "state without carrier" InitReboot "$(field state)"
check_eq "phase without carrier" Bound "$(phase)"
C2b="$(cursor)"
ip -n "$NS_ISP" link set isp0 up
check "lease confirmed when the carrier is back" rd_wait_for "lease.bound" 10 has_event "$T.lease.bound" "$C2b"
check_eq "confirmed in REBOOTING" Rebooting "$(attr "$T.lease.bound" "$C2b" state)"
check_eq "same address after the carrier came back" "$ADDR" "$(field address)"

echo "== dnsmasq: release"
C3="$(cursor)"
check_eq "release accepted" 200 "$(command_code release)"
check "lease.released" has_event "$T.lease.released" "$C3"
check "dnsmasq logged the DHCPRELEASE" rd_wait_for "DHCPRELEASE" 5 grep -q "DHCPRELEASE(br0) $ADDR" "$RD_TMP/dnsmasq.log"
check "dnsmasq's lease database no longer has $ADDR" rd_wait_for "lease file" 5 sh -c "! grep -q ' $ADDR ' '$RD_TMP/dnsmasq.leases'"
check_eq "phase after release" Pending "$(phase)"
check_eq "reason after release" Released "$(reason)"
check "lease.json removed" test ! -e "$W/lease.json"
check_eq "a second release is refused" 400 "$(command_code release)"
remove_lease
check_eq "renew after release" 200 "$(command_code renew)"
check "Bound again" rd_wait_for "Bound" 10 phase_is Bound
echo "== dnsmasq: server moved to another subnet → NAK → INIT → a new lease"
ADDR="$(field address)"
apply_lease
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
kill "$DNSMASQ"
wait "$DNSMASQ" 2>/dev/null
ip -n "$NS_ISP" addr add 203.0.113.1/24 dev br0
ip -n "$NS_ISP" addr del 198.51.100.1/24 dev br0
C8="$(last_file_cursor)"
start_dnsmasq 203.0.113.100,203.0.113.150 203.0.113.1 2
start_daemon
check "nak.received" rd_wait_for "nak.received" 15 has_event "$T.nak.received" "$C8"
check "dnsmasq sent the DHCPNAK" grep -q "DHCPNAK(br0) $ADDR" "$RD_TMP/dnsmasq.log"
check "a new lease in 203.0.113.0/24" rd_wait_for "lease in the new subnet" 20 sh -c \
    "curl -s --unix-socket '$SOCK' http://d/v1/status | grep -q '\"address\":\"203.0.113.'"
check_eq "phase" Bound "$(phase)"
check_eq "gateway" 203.0.113.1 "$(field gateway)"
check "lease.bound names the previous address" event_with "$T.lease.bound" "$C8" previousAddress "$ADDR"
ip -n "$NS_ISP" addr add 198.51.100.1/24 dev br0
ip -n "$NS_ISP" addr del 203.0.113.1/24 dev br0
check_eq "stop" 200 "$(command_code stop)"
check "daemon exited 0" sh -c "for i in \$(seq 50); do kill -0 $DPID 2>/dev/null || exit 0; sleep 0.1; done; exit 1"
wait "$DPID"
check_eq "exit status" 0 "$?"
check "lease kept across stop" test -e "$W/lease.json"
kill "$DNSMASQ"
wait "$DNSMASQ" 2>/dev/null

echo "== kea: the offered address is in use by another host → DECLINE → another address"
rm -rf "$W"/lease.json "$W"/events.jsonl*
remove_lease
ip -n "$NS_HOST" addr add 198.51.100.10/24 dev h0
export KEA_PIDFILE_DIR="$RD_TMP" KEA_LOCKFILE_DIR="$RD_TMP"
kea_config() { # SUBNET POOL ROUTER
    cat >"$RD_TMP/kea.json" <<JSON
{"Dhcp4": {
  "interfaces-config": {"interfaces": ["br0"]},
  "lease-database": {"type": "memfile", "persist": true, "name": "$RD_TMP/kea-leases4.csv", "lfc-interval": 0},
  "valid-lifetime": 30, "renew-timer": 10, "rebind-timer": 20,
  "authoritative": true,
  "subnet4": [{"id": 1, "subnet": "$1", "pools": [{"pool": "$2"}],
               "option-data": [{"name": "routers", "data": "$3"}]}],
  "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": "$RD_TMP/kea.log"}], "severity": "INFO"}]
}}
JSON
}
start_kea() {
    ip netns exec "$NS_ISP" kea-dhcp4 -c "$RD_TMP/kea.json" >>"$RD_TMP/kea.out" 2>&1 &
    KEA=$!
    RD_PIDS+=("$KEA")
    rd_wait_for "kea-dhcp4" 10 sh -c "grep -c DHCP4_STARTED '$RD_TMP/kea.log' | grep -qx $1"
}
stop_kea() { kill "$KEA" 2>/dev/null; wait "$KEA" 2>/dev/null; }
kea_config 198.51.100.0/24 "198.51.100.10 - 198.51.100.12" 198.51.100.1
start_kea 1
start_daemon
C4="" # a fresh event log: from its beginning (the conflict comes within milliseconds)
check "Bound against kea" rd_wait_for "Bound" 30 phase_is Bound
check "address.conflict for 198.51.100.10" event_with "$T.address.conflict" "$C4" address 198.51.100.10
check "kea received the DHCPDECLINE" grep -q "DHCP4_DECLINE_LEASE Received DHCPDECLINE for addr 198.51.100.10" "$RD_TMP/kea.log"
check "kea's lease database marks 198.51.100.10 declined" grep -qE '^198\.51\.100\.10,,,[0-9]+,[0-9]+,1,0,0,,1,' "$RD_TMP/kea-leases4.csv"
ADDR="$(field address)"
check "a different address ($ADDR)" test "$ADDR" != 198.51.100.10 -a "$ADDR" != None
check_eq "leaseTimeSeconds" 30 "$(field leaseTimeSeconds)"

echo "== kea: renewal at T1 by unicast"
apply_lease
start_capture t1
C5="$(cursor)"
check "lease.renewed at T1" rd_wait_for "lease.renewed" 15 has_event "$T.lease.renewed" "$C5"
stop_capture
check "the T1 renewal was unicast from $ADDR to the server" grep -q "$ADDR.68 > 198.51.100.1.67" "$RD_TMP/wire-t1.txt"
check_eq "Bound after renewing" Bound "$(field state)"

echo "== kea: unicast to the server blocked → REBINDING by broadcast"
ip netns exec "$NS_ISP" nft -f - <<NFT
table netdev rd-block {
    chain in { type filter hook ingress device "isp0" priority 0; ip daddr 198.51.100.1 udp dport 67 drop; }
}
NFT
start_capture t2
C6="$(cursor)"
check "lease.rebound" rd_wait_for "lease.rebound" 30 has_event "$T.lease.rebound" "$C6"
stop_capture
ip netns exec "$NS_ISP" nft delete table netdev rd-block
check "a REQUEST was sent in Rebinding" event_with "$T.request.sent" "$C6" state Rebinding
check "the rebinding REQUEST was broadcast" grep -q "$ADDR.68 > 255.255.255.255.67" "$RD_TMP/wire-t2.txt"

echo "== kea: server stopped → lease.expired; server back → bound again"
stop_kea
C7="$(cursor)"
check "lease.expired" rd_wait_for "lease.expired" 40 has_event "$T.lease.expired" "$C7"
check_eq "expired address" "$ADDR" "$(attr "$T.lease.expired" "$C7" address)"
check_eq "phase after expiry" Pending "$(phase)"
check_eq "reason after expiry" Expired "$(reason)"
remove_lease
start_kea 2
check "Bound again after the server came back" rd_wait_for "Bound" 30 phase_is Bound

echo "== kea: release"
ADDR="$(field address)"
C9="$(cursor)"
check_eq "release accepted" 200 "$(command_code release)"
check "kea logged the release" rd_wait_for "DHCP4_RELEASE" 5 grep -q "DHCP4_RELEASE .*address $ADDR was released properly" "$RD_TMP/kea.log"
check "kea's lease database shows $ADDR released (valid lifetime 0)" grep -qE "^${ADDR//./\\.},[^,]*,[^,]*,0," "$RD_TMP/kea-leases4.csv"
check "lease.released" has_event "$T.lease.released" "$C9"

echo "== a missing interface is an Error, and found when it appears"
M="$RD_TMP/state/dhcpv4-client/other"
mkdir -p "$M"
echo '{"spec": {"interface": "other"}, "ifname": "wan9"}' >"$M/config.json"
MSOCK="$RD_RUN/dhcpv4-client/other.sock"
ip netns exec "$NS_ROUTER" "$DAEMON" --name other --config "$M/config.json" --socket "$MSOCK" --state-dir "$M" \
    >>"$RD_TMP/daemon-other.log" 2>&1 &
RD_PIDS+=("$!")
check "Error InterfaceMissing" rd_wait_for "InterfaceMissing" 10 phase_reason_is "$MSOCK" "Error InterfaceMissing"
ip link add wan9 netns "$NS_ROUTER" type veth peer name isp9 netns "$NS_ISP"
ip -n "$NS_ISP" link set isp9 master br0
ip -n "$NS_ISP" link set isp9 up
ip -n "$NS_ROUTER" link set wan9 up
check "Bound once the interface appears" rd_wait_for "Bound" 20 phase_reason_is "$MSOCK" "Bound Bound"

echo "== bad input"
check_eq "unknown command" 400 "$(command_code frobnicate)"
check "the answer names the daemon's commands" grep -q "rebind, release" "$RD_TMP/cmd.json"
check_eq "rebind without a lease" 400 "$(command_code rebind)"
echo '{"spec": {"interface": "wan"}, "ifname": "eth-other"}' >"$W/config.json.new"
cp "$W/config.json" "$RD_TMP/config.keep"
mv "$W/config.json.new" "$W/config.json"
check_eq "reload that moves the interface is refused" 400 "$(command_code reload)"
cp "$RD_TMP/config.keep" "$W/config.json"
check_eq "reload of the same config" 200 "$(command_code reload)"

if [ "$E2E_FAILED" -gt 0 ]; then
    echo "--- daemon log (last 40 lines)"
    tail -40 "$RD_TMP/daemon.log"
fi
echo "dhcpv4: $E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
