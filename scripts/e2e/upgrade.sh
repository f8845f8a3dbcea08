#!/usr/bin/env bash
# End-to-end: routerd replaces the managed daemons whose executable changed under them (an upgrade),
# each the way its state allows. No package here (scripts/e2e/package.sh does the dpkg drill): the
# daemons run from a private --libexec-dir, a new build (another file: the same binary with bytes
# appended) is renamed over each executable as dpkg does, and routerd is restarted.
#
#   isp namespace                                   router namespace
#   routerd-test-ac on isp0 (PPPoE) ------ veth ---- rt-wan   PPPoESession wan → ppp-wan
#   dnsmasq DHCP on isp1 ------------------ veth ---- rt-wan2  DHCPv4Client wan2
#
# Shows:
#   - the DHCPv4 client is replaced with a hand-over: a new pid on the new file, the same lease, the
#     address never left rt-wan2 (ip monitor address), dnsmasq saw a REQUEST and no DISCOVER/RELEASE,
#     event routerd.daemon.lifecycle.replaced with restored=true;
#   - the PPPoE client, whose session would drop with its process, is not replaced while the session is
#     Up: same pid, same session (id, connectedAt), no PADT at the AC, event
#     routerd.daemon.lifecycle.replacement.deferred; the next time it starts (killed here) it runs the
#     new build and dials again.
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RD_BIN="${RD_BIN:-$ROOT/target/debug}"
# shellcheck source=../lib/assert.sh
source "$HERE/lib/assert.sh"
for exe in routerd routerctl routerd-pppoe-client routerd-dhcpv4-client routerd-test-ac; do
    [ -x "$RD_BIN/$exe" ] || skip_scenario upgrade "$RD_BIN/$exe is missing (cargo build --bins)"
done
command -v dnsmasq >/dev/null || skip_scenario upgrade "dnsmasq is not installed (scripts/lib/install-deps.sh installs it)"
[ "$(id -u)" = 0 ] || skip_scenario upgrade "needs root (network namespaces)"
# shellcheck source=../lib/netns.sh
source "$HERE/lib/netns.sh"
trap rd_cleanup EXIT
export PATH="$RD_BIN:$PATH"

LIBEXEC="$RD_TMP/libexec"
SECRETS="$RD_TMP/secrets"
AC_SOCK="$RD_TMP/ac.sock"
AC_LOG="$RD_TMP/ac.log"
PASSWORD="pw-$RD_SUFFIX-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
USERNAME="subscriber@isp.test"

echo "== upgrade: topology $NS_ROUTER <-> $NS_ISP (test AC on isp0, dnsmasq DHCP on isp1)"
rd_topology
rd_topology_isp
ip -n "$NS_ROUTER" link set rt-wan up
ip -n "$NS_ROUTER" link set rt-wan2 up
mkdir -p "$LIBEXEC" "$SECRETS"
chmod 0700 "$SECRETS"
for exe in routerd-pppoe-client routerd-dhcpv4-client; do cp "$RD_BIN/$exe" "$LIBEXEC/$exe"; done
(umask 077 && printf '%s\n' "$PASSWORD" >"$SECRETS/ac-password" && printf '%s\n' "$PASSWORD" >"$SECRETS/wan-pppoe")

ip netns exec "$NS_ISP" "$RD_BIN/routerd-test-ac" --interface isp0 --tun ac-tun --ac-name test-ac \
    --auth chap --username "$USERNAME" --password-file "$SECRETS/ac-password" \
    --local-ipv4 100.64.0.1 --peer-ipv4 100.64.0.10 --dns 100.64.0.53 --control "$AC_SOCK" \
    >"$AC_LOG" 2>&1 &
RD_PIDS+=("$!")
rd_wait_for "the test AC's control socket" 10 test -S "$AC_SOCK" || { cat "$AC_LOG"; exit 1; }
ip netns exec "$NS_ISP" dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces --interface=isp1 \
    --except-interface=lo --port=0 --dhcp-range=198.51.100.70,198.51.100.100,255.255.255.192,1h \
    --dhcp-option=option:router,198.51.100.65 --dhcp-leasefile="$RD_TMP/wan2.leases" \
    --pid-file="$RD_TMP/dnsmasq-wan2.pid" --log-dhcp --log-facility="$RD_TMP/dnsmasq-wan2.log" >/dev/null 2>&1 &
RD_PIDS+=("$!")

# ac CMD: one command on the AC's control socket; prints its JSON answer.
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
ac_stat() { ac stats | python3 -c "import json,sys; print(json.load(sys.stdin).get(sys.argv[1], 0))" "$1"; }

cat >"$RD_TMP/upgrade.yaml" <<YAML
apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: wan}
spec: {ifname: rt-wan}
---
apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: wan2}
spec: {ifname: rt-wan2}
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
  redial: {initialDelay: 1s, maxDelay: 10s}
---
apiVersion: net.routerd.net/v1alpha1
kind: DHCPv4Client
metadata: {name: wan2}
spec: {interface: wan2, installDefaultRoute: false}
YAML
start_routerd() { rd_start --config "$RD_TMP/upgrade.yaml" --libexec-dir "$LIBEXEC" --reconcile-interval 5s; }
start_routerd

json_field() { python3 -c "import json,sys; v=json.load(sys.stdin); [v := (v or {}).get(k) for k in sys.argv[1:]]; print('' if v is None else v)" "$@"; }
session_field() { rd_api GET /resources/PPPoESession/wan | json_field status session "$1" 2>/dev/null; }
lease_address() { rd_api GET /resources/DHCPv4Client/wan2 | json_field status lease address 2>/dev/null; }
daemon_pid() {
    rd_api GET /status | python3 -c "
import json,sys
print(next((d.get('pid') or '' for d in json.load(sys.stdin)['status']['daemons'] if d['kind']==sys.argv[1]), ''))" "$1"
}
count() { rd_api GET "/events?topic=$1&limit=1000" | python3 -c "import json,sys; print(len(json.load(sys.stdin)['items']))"; }

check "PPPoESession/wan Up" rd_wait_for "PPPoESession/wan Up" 30 rd_phase_is PPPoESession wan Up
check "DHCPv4Client/wan2 Bound" rd_wait_for "DHCPv4Client/wan2 Bound" 30 rd_phase_is DHCPv4Client wan2 Bound
ppp_pid="$(daemon_pid routerd-pppoe-client)"
v4_pid="$(daemon_pid routerd-dhcpv4-client)"
sid_before="$(session_field sessionID)"
connected_before="$(session_field connectedAt)"
addr_before="$(lease_address)"
padt_before="$(ac_stat padtReceived)"
echo "     before: pppoe pid $ppp_pid session $sid_before since $connected_before; dhcpv4 pid $v4_pid lease $addr_before"

echo "== a new build renamed over each executable, routerd restarted"
ip -n "$NS_ROUTER" monitor address dev rt-wan2 >"$RD_TMP/ipmon.txt" 2>&1 &
IPMON=$!
RD_PIDS+=("$IPMON")
dnsmasq_lines_before="$(wc -l <"$RD_TMP/dnsmasq-wan2.log")"
for exe in routerd-pppoe-client routerd-dhcpv4-client; do
    cp "$RD_BIN/$exe" "$LIBEXEC/.$exe.new"
    printf 'another build %s\n' "$RD_SUFFIX" >>"$LIBEXEC/.$exe.new"
    mv -f "$LIBEXEC/.$exe.new" "$LIBEXEC/$exe"
done
check "the running daemons now run deleted executables" sh -c \
    "readlink /proc/$ppp_pid/exe | grep -q deleted && readlink /proc/$v4_pid/exe | grep -q deleted"
rd_stop
start_routerd

# DHCPv4: replaced by the new build, lease confirmed, nothing given up.
v4_replaced() {
    local p
    p="$(daemon_pid routerd-dhcpv4-client)" && [ -n "$p" ] && [ "$p" != "$v4_pid" ] &&
        [ "$(readlink "/proc/$p/exe")" = "$LIBEXEC/routerd-dhcpv4-client" ] &&
        [ "$(count routerd.daemon.lifecycle.replaced)" -ge 1 ]
}
check "routerd-dhcpv4-client replaced by the new build (new pid, the new file)" rd_wait_for "the DHCPv4 replacement" 40 v4_replaced
rd_api GET "/events?topic=routerd.daemon.lifecycle.replaced&limit=10" >"$RD_TMP/replaced.json"
restored="$(python3 -c "import json,sys; print(','.join(e['source']['kind'] + '=' + e['attributes']['restored'] for e in json.load(open(sys.argv[1]))['items']))" "$RD_TMP/replaced.json")"
check_eq "routerd.daemon.lifecycle.replaced: only the DHCPv4 client, restored" "routerd-dhcpv4-client=true" "$restored"
check "DHCPv4Client/wan2 Bound on the new daemon" rd_wait_for "wan2 Bound" 10 rd_phase_is DHCPv4Client wan2 Bound
check_eq "same DHCPv4 lease" "$addr_before" "$(lease_address)"
got_request() { tail -n +"$((dnsmasq_lines_before + 1))" "$RD_TMP/dnsmasq-wan2.log" | grep -q 'DHCPACK(isp1)'; }
check "dnsmasq answered the new daemon's REQUEST" rd_wait_for "the DHCPACK" 10 got_request
tail -n +"$((dnsmasq_lines_before + 1))" "$RD_TMP/dnsmasq-wan2.log" >"$RD_TMP/dnsmasq-upgrade.log"
check "dnsmasq saw no DHCPDISCOVER" sh -c "! grep -q DHCPDISCOVER '$RD_TMP/dnsmasq-upgrade.log'"
check "dnsmasq saw no DHCPRELEASE" sh -c "! grep -q DHCPRELEASE '$RD_TMP/dnsmasq-upgrade.log'"
echo "     dnsmasq: $(grep -oE 'DHCP[A-Z]+\(isp1\)' "$RD_TMP/dnsmasq-upgrade.log" | sort | uniq -c | tr -s ' \n' ' ')"
kill "$IPMON" 2>/dev/null
wait "$IPMON" 2>/dev/null
check "the address never left rt-wan2 (ip monitor address: no Deleted)" \
    sh -c "! grep -q 'Deleted.*inet $addr_before/' '$RD_TMP/ipmon.txt'"

# PPPoE: deferred, the session untouched.
deferred_seen() { rd_api GET '/events?topic=routerd.daemon.lifecycle.replacement.deferred' | grep -q '"routerd-pppoe-client"'; }
check "routerd.daemon.lifecycle.replacement.deferred for the PPPoE client" rd_wait_for "the deferral" 20 deferred_seen
check_eq "PPPoE client not replaced: same pid" "$ppp_pid" "$(daemon_pid routerd-pppoe-client)"
check "PPPoESession/wan still Up" rd_phase_is PPPoESession wan Up
check_eq "same PPPoE session id" "$sid_before" "$(session_field sessionID)"
check_eq "same connectedAt (no re-dial)" "$connected_before" "$(session_field connectedAt)"
check_eq "no PADT at the AC" "$padt_before" "$(ac_stat padtReceived)"

echo "== the PPPoE client's next start runs the new build"
kill -TERM "$ppp_pid"
ppp_new() {
    local p
    p="$(daemon_pid routerd-pppoe-client)" && [ -n "$p" ] && [ "$p" != "$ppp_pid" ] &&
        [ "$(readlink "/proc/$p/exe")" = "$LIBEXEC/routerd-pppoe-client" ]
}
check "restarted by routerd from the new file" rd_wait_for "the PPPoE client on the new build" 20 ppp_new
check "PPPoESession/wan Up again (dialled by the new build)" rd_wait_for "PPPoESession/wan Up" 30 rd_phase_is PPPoESession wan Up
echo "     after: pppoe pid $(daemon_pid routerd-pppoe-client) session $(session_field sessionID); dhcpv4 pid $(daemon_pid routerd-dhcpv4-client) lease $(lease_address)"

rd_stop
echo "upgrade: $E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
