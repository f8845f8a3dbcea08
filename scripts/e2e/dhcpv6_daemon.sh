#!/usr/bin/env bash
# End-to-end: routerd-dhcpv6-client on its own (no routerd) in a router namespace against kea-dhcp6 in an
# isp namespace, over one veth pair. The daemon changes nothing on the host; the script reads its socket
# API and files: a prefix bound (started while the link-local address is still tentative, so it has to
# wait for DAD), RENEW at T1, kill -9 and restart without SOLICIT, carrier loss and return, the commands,
# a missing interface, and stop.
#
#   router: wan0 ──veth── isp0 ┐
#                              br0 (2001:db8:ffff::1/64, kea-dhcp6: pd-pool 2001:db8:1200::/40 → /56)
#   router: wan9 ──veth── isp9 ┘   (added later: a second client, another IAID)
#
# Kea serves the bridge, so taking isp0 down cuts wan0's carrier without taking Kea's own addresses away.
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

DAEMON="$RD_BIN/routerd-dhcpv6-client"
for need in "$DAEMON" "$(command -v kea-dhcp6)" "$(command -v curl)" "$(command -v nft)"; do
    if [ ! -x "$need" ]; then
        echo "dhcpv6-daemon: missing ${need:-a tool} (cargo build; scripts/lib/install-deps.sh)"
        echo "dhcpv6-daemon: 0 passed, 1 failed"
        exit 1
    fi
done

W="$RD_TMP/state/dhcpv6-client/wan-pd"
SOCK="$RD_RUN/dhcpv6-client/wan-pd.sock"
NAME=wan-pd
# shellcheck source=../lib/daemon_api.sh
source "$HERE/lib/daemon_api.sh"
KEA_DIR="$RD_TMP/kea6"
mkdir -p "$W" "$(dirname "$SOCK")"
DPID=""
T=routerd.dhcpv6.client

echo "== dhcpv6-daemon: topology $NS_ROUTER <-> $NS_ISP"
ip netns add "$NS_ROUTER"
ip netns add "$NS_ISP"
for ns in "$NS_ROUTER" "$NS_ISP"; do ip -n "$ns" link set lo up; done
ip -n "$NS_ISP" link add br0 type bridge mcast_snooping 0
ip link add wan0 netns "$NS_ROUTER" type veth peer name isp0 netns "$NS_ISP"
ip -n "$NS_ISP" link set isp0 master br0
ip -n "$NS_ISP" link set isp0 up
# Short timers so RENEW at T1 and REBIND happen within the run; lifetimes long enough never to expire.
export RD_KEA6_T1=4 RD_KEA6_T2=6 RD_KEA6_PREFERRED=60 RD_KEA6_VALID=90
# Kea needs br0's link-local past DAD, which needs a port with carrier; wan0 comes up for that and goes
# down again, so the daemon later starts against a fresh, tentative link-local.
ip -n "$NS_ROUTER" link set wan0 up
if ! rd_kea6_start "$NS_ISP" br0 "$KEA_DIR"; then
    echo "dhcpv6-daemon: kea-dhcp6 did not start"
    echo "dhcpv6-daemon: 0 passed, 1 failed"
    exit 1
fi
ip -n "$NS_ROUTER" link set wan0 down

# obs EXPR: a Python expression over the observed status `o` (e.g. "o['lease']['prefix']").
obs() { status | py "import json,sys; o=json.load(sys.stdin)['resources'][0]['observed']; print($1)"; }
prefix() { obs "o['lease']['prefix']"; }
# cond TYPE: "status reason" of that condition.
cond() { status | py "import json,sys; c=[c for c in json.load(sys.stdin)['resources'][0]['conditions'] if c['type']=='$1'][0]; print(c['status'], c['reason'])"; }
# seconds_between TOPIC1 TOPIC2: time from the first TOPIC1 event to the first TOPIC2 event in events.jsonl.
seconds_between() {
    py "
import json,sys,datetime
def t(s):
    s=s.rstrip('Z'); main,_,frac=s.partition('.')
    return datetime.datetime.fromisoformat(main).replace(tzinfo=datetime.timezone.utc).timestamp()+float('0.'+(frac or '0'))
first={}
for l in open('$W/events.jsonl'):
    e=json.loads(l); first.setdefault(e['topic'], t(e['time']))
print('%.3f' % (first['$2']-first['$1']))"
}

echo '{"spec": {"interface": "wan", "prefixLengthHint": 56}, "ifname": "wan0"}' >"$W/config.json"

echo "== bound: the daemon waits for DAD of wan0's link-local, then SOLICIT/ADVERTISE/REQUEST/REPLY"
ip -n "$NS_ROUTER" link set wan0 up
start_daemon
C0="" # a fresh event log: read it from the beginning
check "Bound" rd_wait_for "Bound" 20 phase_is Bound
check "waited for duplicate address detection" grep -q "waiting for duplicate address detection" "$RD_TMP/daemon.log"
P1="$(prefix)"
check "a /56 from Kea's pool ($P1)" py "import ipaddress,sys; n=ipaddress.ip_network('$P1'); sys.exit(0 if n.prefixlen==56 and n.subnet_of(ipaddress.ip_network('2001:db8:1200::/40')) else 1)"
check_eq "preferred/valid lifetimes" "60 90" "$(obs "o['lease']['preferredLifetimeSeconds'], o['lease']['validLifetimeSeconds']" | tr -d '(),')"
check_eq "T1/T2" "4 6" "$(obs "o['lease']['t1Seconds'], o['lease']['t2Seconds']" | tr -d '(),')"
check_eq "state" Bound "$(obs "o['lease']['state']")"
check_eq "serverDUID, acquiredAt, renewAt, rebindAt, expiresAt present" True "$(obs "all(o['lease'][k] for k in ('serverDUID','acquiredAt','renewAt','rebindAt','expiresAt'))")"
check_eq "dnsServers" "['2001:db8:ffff::53']" "$(obs "o['dnsServers']")"
check_eq "domainSearch" "['isp.test']" "$(obs "o['domainSearch']")"
check_eq "PrefixBound condition" "True Bound" "$(cond PrefixBound)"
check_eq "InformationReceived condition" "True Received" "$(cond InformationReceived)"
for t in solicit.sent advertise.received request.sent reply.received; do
    check "event $t" has_event "$T.$t" "$C0"
done
check_eq "prefix.bound carries the prefix" "$P1" "$(attr "$T.prefix.bound" "$C0" prefix)"
check "duid file: hex DUID-LLT (type 1, Ethernet)" grep -qE '^00010001[0-9a-f]{20}$' "$W/duid"
check "lease.json holds the prefix" grep -q "\"${P1%/*}\"" "$W/lease.json"
check "Kea's lease database has it" grep -q "^${P1%/*}," "$KEA_DIR/kea6-leases.csv"
STARTUP="$(seconds_between routerd.daemon.lifecycle.started "$T.prefix.bound")"
EXCHANGE="$(seconds_between "$T.solicit.sent" "$T.prefix.bound")"
echo "  time to bound: ${STARTUP}s from start (DAD wait included), ${EXCHANGE}s from the first SOLICIT"

echo "== RENEW at T1 (4 s), same prefix"
C1="$(cursor)"
check "prefix.renewed" rd_wait_for "prefix.renewed" 10 has_event "$T.prefix.renewed" "$C1"
check_eq "renewed in state" Renewing "$(attr "$T.prefix.renewed" "$C1" state)"
check_eq "same prefix" "$P1" "$(prefix)"
check "no SOLICIT for a renewal" no_event "$T.solicit.sent" "$C1"

echo "== commands: renew, info-request"
C2="$(cursor)"
check_eq "renew accepted" 200 "$(command_code renew)"
check "the answer says RENEW" grep -q "RENEW sent for $P1" "$RD_TMP/cmd.json"
check "prefix.renewed after renew" rd_wait_for "prefix.renewed" 5 has_event "$T.prefix.renewed" "$C2"
check_eq "info-request accepted" 200 "$(command_code info-request)"
check "still Bound with the same prefix" sh -c "[ \"\$(curl -s --unix-socket '$SOCK' http://d/v1/status | grep -c '\"prefix\":\"$P1\"')\" -ge 1 ]"

echo "== kill -9 and restart right away (before T1): same prefix, no SOLICIT"
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
C3="$(last_file_cursor)"
start_daemon
check "Bound after the restart" rd_wait_for "Bound" 10 phase_is Bound
check_eq "same prefix" "$P1" "$(prefix)"
check "no solicit.sent after the restart" no_event "$T.solicit.sent" "$C3"

echo "== kill -9, 5 s down (past T1), restart: RENEW or REBIND, never SOLICIT"
sleep 1
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
C4="$(last_file_cursor)"
sleep 5
start_daemon
check "prefix renewed or rebound after the restart" rd_wait_for "renewed/rebound" 15 sh -c \
    "[ -n \"\$(curl -s --unix-socket '$SOCK' 'http://d/v1/events?since=$C4&topic=$T.prefix.*&limit=100' | grep -E '$T.prefix.(renewed|rebound)')\" ]"
check_eq "same prefix" "$P1" "$(prefix)"
check "no solicit.sent after the restart" no_event "$T.solicit.sent" "$C4"

echo "== carrier lost and back: the prefix is kept, then REBIND"
ip -n "$NS_ISP" link set isp0 down
check "no carrier: LinkDown, still Bound" rd_wait_for "LinkDown" 10 sh -c "[ \"\$(curl -s --unix-socket '$SOCK' http://d/v1/status | grep -c '\"reason\":\"LinkDown\"')\" -ge 1 ]"
check_eq "phase without carrier" Bound "$(phase)"
check_eq "renew without carrier is refused" 400 "$(command_code renew)"
C5="$(cursor)"
UP_AT="$(date +%s.%N)"
ip -n "$NS_ISP" link set isp0 up
check "rebound when the carrier is back" rd_wait_for "prefix.rebound" 10 has_event "$T.prefix.rebound" "$C5"
echo "  prefix rebound $(events "$T.prefix.rebound" "$C5" | head -1 | py "
import json,sys,datetime
s=json.load(sys.stdin)['time'].rstrip('Z'); main,_,frac=s.partition('.')
t=datetime.datetime.fromisoformat(main).replace(tzinfo=datetime.timezone.utc).timestamp()+float('0.'+(frac or '0'))
print('%.3f' % (t-$UP_AT))")s after the carrier came back"
check_eq "same prefix after the carrier came back" "$P1" "$(prefix)"
check "no SOLICIT for the carrier" no_event "$T.solicit.sent" "$C5"

echo "== release, then renew asks again"
C6="$(cursor)"
check_eq "release accepted" 200 "$(command_code release)"
check "prefix.released" has_event "$T.prefix.released" "$C6"
check_eq "phase after release" Pending "$(phase)"
check_eq "PrefixBound after release" "False Released" "$(cond PrefixBound)"
check "lease.json removed" test ! -e "$W/lease.json"
check "Kea processed the RELEASE" rd_wait_for "Kea release" 5 grep -q "DHCP6_RELEASE_PD" "$KEA_DIR/kea6.log"
check_eq "renew after release" 200 "$(command_code renew)"
check "Bound again" rd_wait_for "Bound" 15 phase_is Bound

echo "== reload"
cp "$W/config.json" "$RD_TMP/config.keep"
echo '{"spec": {"interface": "wan"}, "ifname": "eth-other"}' >"$W/config.json"
check_eq "reload that moves the interface is refused" 400 "$(command_code reload)"
check "the answer says a restart is needed" grep -q "must be restarted" "$RD_TMP/cmd.json"
echo '{"spec": {"interface": "wan", "prefixLengthHint": 60}, "ifname": "wan0"}' >"$W/config.json"
check_eq "reload with another hint" 200 "$(command_code reload)"
cp "$RD_TMP/config.keep" "$W/config.json"
check_eq "unknown command" 400 "$(command_code frobnicate)"
check "the answer names the daemon's commands" grep -q "info-request" "$RD_TMP/cmd.json"

echo "== stop"
check_eq "stop" 200 "$(command_code stop)"
check "daemon exited" sh -c "for i in \$(seq 50); do kill -0 $DPID 2>/dev/null || exit 0; sleep 0.1; done; exit 1"
wait "$DPID"
check_eq "exit status" 0 "$?"
check "lease kept across stop" test -e "$W/lease.json"

echo "== a missing interface is an Error, and found when it appears"
M="$RD_TMP/state/dhcpv6-client/other"
mkdir -p "$M"
echo '{"spec": {"interface": "other"}, "ifname": "wan9", "initialDelay": false}' >"$M/config.json"
MSOCK="$RD_RUN/dhcpv6-client/other.sock"
ip netns exec "$NS_ROUTER" "$DAEMON" --name other --config "$M/config.json" --socket "$MSOCK" --state-dir "$M" \
    >>"$RD_TMP/daemon-other.log" 2>&1 &
RD_PIDS+=("$!")
check "Error InterfaceMissing" rd_wait_for "InterfaceMissing" 10 phase_reason_is "$MSOCK" "Error InterfaceMissing"
ip link add wan9 netns "$NS_ROUTER" type veth peer name isp9 netns "$NS_ISP"
ip -n "$NS_ISP" link set isp9 master br0
ip -n "$NS_ISP" link set isp9 up
ip netns exec "$NS_ROUTER" sysctl -qw net.ipv6.conf.wan9.disable_ipv6=1
ip -n "$NS_ROUTER" link set wan9 up
check "IPv6 disabled on wan9: Pending NoLinkLocal" rd_wait_for "NoLinkLocal" 10 phase_reason_is "$MSOCK" "Pending NoLinkLocal"
ip netns exec "$NS_ROUTER" sysctl -qw net.ipv6.conf.wan9.disable_ipv6=0
check "Bound once wan9 has a link-local address" rd_wait_for "Bound" 20 phase_reason_is "$MSOCK" "Bound Bound"
P9="$(SOCK="$MSOCK" prefix)"
check "another IAID, another prefix ($P9)" test "$P9" != "$P1" -a -n "$P9"
echo "  second client (initialDelay false): $(W="$M" seconds_between "$T.solicit.sent" "$T.prefix.bound")s from the first SOLICIT to bound"

if [ "$E2E_FAILED" -gt 0 ]; then
    echo "--- daemon log (last 60 lines)"
    tail -60 "$RD_TMP/daemon.log"
fi
echo "dhcpv6-daemon: $E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
