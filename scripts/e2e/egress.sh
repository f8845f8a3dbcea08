#!/usr/bin/env bash
# End-to-end: EgressRoutePolicy across two DHCP WANs (dnsmasq in two ISP namespaces) with an Internet
# server behind both. Per-candidate tables and rules; failover within unhealthyThreshold x interval +
# 100 ms of the first failed probe (measured 5x from the HealthCheck's probe history to `ip monitor`),
# the LAN client's NATed flow flushed and a new one through ISP 2, fail-back only after failbackDelay,
# kill -9 of routerd in the middle of a switch, and delete.
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RD_BIN="${RD_BIN:-$ROOT/target/debug}"
# shellcheck source=../lib/netns.sh
source "$HERE/lib/netns.sh"
# shellcheck source=../lib/assert.sh
source "$HERE/lib/assert.sh"
# shellcheck source=../lib/egress_topology.sh
source "$HERE/lib/egress_topology.sh"
trap eg_cleanup EXIT
export PATH="$RD_BIN:$PATH"

[ "$(id -u)" = 0 ] || skip_scenario egress "needs root for network namespaces"
for tool in dnsmasq nft conntrack python3; do
    command -v "$tool" >/dev/null || skip_scenario egress "$tool is not installed"
done

INTERVAL_MS=1000
TIMEOUT_MS=500
UNHEALTHY=3
FAILBACK_S=3
BUDGET_MS=$((UNHEALTHY * INTERVAL_MS + 100))
GW1=192.0.2.1
GW2=198.51.100.1

echo "== egress: topology $NS_LAN - $NS_ROUTER - {$NS_ISP, $NS_ISP2} - $NS_INET"
eg_topology
eg_config "${INTERVAL_MS}ms" "${TIMEOUT_MS}ms" "$UNHEALTHY" 2 "${FAILBACK_S}s"
eg_monitor_start
rd_start --config "$RD_TMP/egress.yaml" --reconcile-interval 10s

check "EgressRoutePolicy/uplink Installed" rd_wait_for "Installed" 40 rd_phase_is EgressRoutePolicy uplink Installed
check "exactly one default route in main, via ISP 1" rd_wait_for "default via isp1" 10 eg_default_is "$GW1"
check_eq "status selected" isp1 "$(eg_policy_field selected)"
lease() { rd_api GET "/resources/DHCPv4Client/$1" | eg_json "d['status']['lease']['address']"; }
WAN1="$(lease wan1)"
WAN2="$(lease wan2)"
rules="$(ip -n "$NS_ROUTER" -4 rule show)"
check "rule from wan1's address $WAN1 to table 1000" grep -q "from $WAN1 lookup 1000" <<<"$rules"
check "rule fwmark 0x65 (HealthCheck isp1) to table 1000" grep -q "fwmark 0x65 lookup 1000" <<<"$rules"
check "rule from wan2's address $WAN2 to table 1001" grep -q "from $WAN2 lookup 1001" <<<"$rules"
check "rule fwmark 0x66 (HealthCheck isp2) to table 1001" grep -q "fwmark 0x66 lookup 1001" <<<"$rules"
check "table 1000: default via ISP 1" sh -c "ip -n $NS_ROUTER route show table 1000 | grep -q 'default via $GW1 dev eg-wan1'"
check "table 1001: default via ISP 2" sh -c "ip -n $NS_ROUTER route show table 1001 | grep -q 'default via $GW2 dev eg-wan2'"
dhcp_route_reason() {
    rd_api GET /resources/DHCPv4Client/wan1 |
        eg_json "[c['reason'] for c in d['status']['conditions'] if c['type'] == 'DefaultRouteInstalled'][0]"
}
check_eq "DHCPv4Client/wan1 leaves its default route to the policy" EgressRoutePolicy "$(dhcp_route_reason)"
both_healthy() { rd_phase_is HealthCheck isp1 Healthy && rd_phase_is HealthCheck isp2 Healthy; }
check "both HealthChecks Healthy" rd_wait_for "healthy" 15 both_healthy

echo "== a LAN client's long-running TCP connection to the server, NATed to ISP 1"
cat >"$RD_TMP/server.py" <<'PY'
import socket, sys, threading
log = open(sys.argv[1], "a", buffering=1)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("203.0.113.80", 8080)); s.listen(16)
def serve(c, peer):
    log.write(f"{peer[0]}\n")
    try:
        while True:
            d = c.recv(64)
            if not d: break
            c.sendall(d)
    except OSError:
        pass
while True:
    c, peer = s.accept()
    threading.Thread(target=serve, args=(c, peer), daemon=True).start()
PY
cat >"$RD_TMP/client.py" <<'PY'
import socket, sys, time
out = open(sys.argv[1], "w", buffering=1)
s = socket.create_connection(("203.0.113.80", 8080), timeout=5)
# Longer than a failover: what ends the connection must be the flush (a reset), not the cut itself.
s.settimeout(15)
out.write("connected\n")
try:
    while True:
        s.sendall(b"x")
        if s.recv(1) != b"x":
            out.write("broken: closed\n"); break
        time.sleep(0.1)
except socket.timeout:
    out.write("broken: timeout\n")
except OSError as e:
    out.write(f"broken: {e.__class__.__name__}\n")
PY
ip netns exec "$NS_INET" python3 "$RD_TMP/server.py" "$RD_TMP/peers.log" &
RD_PIDS+=("$!")
rd_wait_for "server" 5 ip netns exec "$NS_INET" sh -c "ss -ltn | grep -q 203.0.113.80:8080"
ip netns exec "$NS_LAN" python3 "$RD_TMP/client.py" "$RD_TMP/client.log" &
RD_PIDS+=("$!")
check "client connected" rd_wait_for "connect" 5 grep -q connected "$RD_TMP/client.log"
check_eq "the server sees ISP 1's address" "$WAN1" "$(tail -1 "$RD_TMP/peers.log")"
check "conntrack: the flow is NATed to $WAN1" sh -c "ip netns exec $NS_ROUTER conntrack -L -p tcp --dport 8080 --reply-dst $WAN1 2>/dev/null | grep -q 8080"

echo "== failover: ISP 1 cut (nft drop in $NS_ISP), 5 times"
FROM_PROBE=()
FROM_CUT=()
REACT=()
FAILBACKS=()
for round in 1 2 3 4 5; do
    t0="$(date +%s.%N)"
    eg_cut "$NS_ISP"
    if ! rd_wait_for "switch to ISP 2" 15 eg_default_is "$GW2"; then
        fail "round $round: the default route did not move to ISP 2"
        eg_restore "$NS_ISP"
        continue
    fi
    read -r ms_probe ms_cut ms_react <<<"$(eg_measure_failover "$t0" "$GW2" "$TIMEOUT_MS")"
    FROM_PROBE+=("$ms_probe")
    FROM_CUT+=("$ms_cut")
    REACT+=("$ms_react")
    echo "  round $round: failover ${ms_probe} ms after the first failed probe was sent (${ms_cut} ms after the cut, ${ms_react} ms after HealthCheck isp1 turned Unhealthy)"
    if [ "$round" = 1 ]; then
        check "the LAN client's connection was reset (its entry flushed, the server answers the pickup via ISP 2 with RST)" rd_wait_for "client reset" 8 grep -q "broken: ConnectionResetError" "$RD_TMP/client.log"
        echo "  client: $(tail -1 "$RD_TMP/client.log")"
        check "conntrack: no entry NATed to ISP 1's address is left" sh -c "! ip netns exec $NS_ROUTER conntrack -L -p tcp --dport 8080 --reply-dst $WAN1 2>/dev/null | grep -q 8080"
        check "a new connection succeeds" ip netns exec "$NS_LAN" python3 -c "import socket; s=socket.create_connection(('$EG_SERVER', 8080), timeout=5); s.sendall(b'y'); assert s.recv(1)==b'y'"
        check_eq "the server sees ISP 2's address" "$WAN2" "$(tail -1 "$RD_TMP/peers.log")"
        check "event routerd.route.egress.switched isp1 -> isp2" sh -c "routerctl get events --topic routerd.route.egress.switched -o json | grep -q '\"to\": *\"isp2\"'"
        check "event routerd.conntrack.flushed" sh -c "routerctl get events --topic routerd.conntrack.flushed -o json | grep -q '\"count\"'"
        check_eq "status selected" isp2 "$(eg_policy_field selected)"
        describe="$(routerctl describe egressroutepolicy/uplink)"
        echo "$describe" | sed -n '/^Egress:/,/^Conditions:/p' | sed 's/^/    /'
        check "describe: isp1 not ready with the HealthCheck's reason" grep -qE "isp1 +10 .* no +HealthCheck isp1 is Unhealthy" <<<"$describe"
        check "describe: isp2 selected" grep -qE "isp2 \* +20" <<<"$describe"
    fi
    t1="$(date +%s.%N)"
    eg_restore "$NS_ISP"
    if ! rd_wait_for "fail-back to ISP 1" 20 eg_default_is "$GW1"; then
        fail "round $round: no fail-back to ISP 1"
        continue
    fi
    ms_back="$(eg_measure_failback "$t1" "$GW1")"
    FAILBACKS+=("$ms_back")
    echo "  round $round: fail-back ${ms_back} ms after HealthCheck isp1 turned Healthy (failbackDelay ${FAILBACK_S}s)"
done
echo "  failover from the first failed probe: $(eg_stats "$BUDGET_MS" "${FROM_PROBE[@]}")"
echo "  failover from the cut:                $(eg_stats "$((BUDGET_MS + INTERVAL_MS))" "${FROM_CUT[@]}")"
echo "  Unhealthy -> route switched:          $(eg_stats 100 "${REACT[@]}")"
echo "  fail-back after healthy:              $(eg_stats 999999 "${FAILBACKS[@]}")"
check "all 5 failovers within ${BUDGET_MS} ms of the first failed probe" eg_py "$BUDGET_MS" "${FROM_PROBE[@]}" <<'PY'
import sys
v = [float(x) for x in sys.argv[2:]]
sys.exit(0 if len(v) == 5 and all(x <= float(sys.argv[1]) for x in v) else 1)
PY
check "every fail-back waited failbackDelay (${FAILBACK_S}s) of health, none before" eg_py "$FAILBACK_S" "${FAILBACKS[@]}" <<'PY'
import sys
v = [float(x) for x in sys.argv[2:]]
d = float(sys.argv[1]) * 1000
sys.exit(0 if len(v) == 5 and all(d <= x <= d + 1500 for x in v) else 1)
PY
check_eq "switchCount counts every switch" 10 "$(eg_policy_field switchCount)"

echo "== kill -9 routerd after the first failed probe, before the switch"
eg_cut "$NS_ISP"
first_failure() { [ "$(rd_api GET /resources/HealthCheck/isp1 | eg_json "d['status'].get('consecutiveFailed') or 0")" -ge 1 ]; }
check "a failed probe of isp1 seen" rd_wait_for "failed probe" 10 first_failure
kill -9 "$RD_PID"
wait "$RD_PID" 2>/dev/null
rd_start --config "$RD_TMP/egress.yaml" --reconcile-interval 10s
check "after restart: exactly one default route, via ISP 2" rd_wait_for "one default via isp2" 15 eg_default_is "$GW2"
eg_restore "$NS_ISP"
check "fail-back to ISP 1, exactly one default route" rd_wait_for "fail-back" 20 eg_default_is "$GW1"

echo "== kill -9 routerd in the middle of a switch"
( tail -n0 -F "$RD_TMP/routes.log" 2>/dev/null | grep -m1 -q "^\[[^]]*\] Deleted default via $GW1 " ; kill -9 "$RD_PID" ) &
KILLER=$!
eg_cut "$NS_ISP"
if timeout 15 tail --pid="$KILLER" -f /dev/null; then
    ok "routerd killed with SIGKILL as the old default route went"
else
    fail "the switch never started"
    kill "$KILLER" 2>/dev/null
fi
wait "$RD_PID" 2>/dev/null
echo "  main table right after the kill: $(eg_defaults | tr '\n' ';')"
rd_start --config "$RD_TMP/egress.yaml" --reconcile-interval 10s
check "after restart: exactly one default route, via ISP 2" rd_wait_for "one default via isp2" 15 eg_default_is "$GW2"
sleep 1.5
check "still exactly one after the restart settled" eg_default_is "$GW2"
eg_restore "$NS_ISP"
check "after restart: fail-back to ISP 1, exactly one default route" rd_wait_for "fail-back" 20 eg_default_is "$GW1"

echo "== delete: the policy's tables, rules and route go; the DHCP clients take their routes back"
check "routerctl delete egressroutepolicy/uplink" routerctl delete egressroutepolicy/uplink
check "rules to tables 1000/1001 gone" rd_wait_for "rules gone" 10 sh -c "! ip -n $NS_ROUTER rule show | grep -qE 'lookup 100[01]'"
check "tables 1000 and 1001 empty" sh -c "[ -z \"\$(ip -n $NS_ROUTER route show table 1000; ip -n $NS_ROUTER route show table 1001)\" ]"
check "the policy's metric-0 default route gone; DHCP's own (metric 100) back" rd_wait_for "dhcp default" 10 sh -c "ip -n $NS_ROUTER route show default | grep -q 'metric 100' && ! ip -n $NS_ROUTER route show default | grep -qv 'metric 100'"

echo "egress: $E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
