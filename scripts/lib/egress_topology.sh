# shellcheck shell=bash
# Multi-WAN topology for the egress scenario (scripts/e2e/egress.sh) and the failover benchmark
# (bench/failover.sh). Source after netns.sh and assert.sh; namespaces carry the prefix `eg` + pid:
#
#   eg-lan (client 10.77.0.2) -- eg-rt (routerd; lan 10.77.0.1, wan1 = DHCP from isp1, wan2 = DHCP from isp2)
#   eg-rt wan1 -- eg-isp1 (dnsmasq, 192.0.2.1/24) -- eg-inet n1
#   eg-rt wan2 -- eg-isp2 (dnsmasq, 198.51.100.1/24) -- eg-inet n2
#   eg-inet: the "Internet" server 203.0.113.80 (loopback), routes back to both ISPs' customer ranges.
#
# The ISPs do not NAT: the router masquerades to its WAN address (nft table `ip egtest`, written here
# because the NAT44Rule renderer lives on another branch), so the server sees which ISP a flow took.
# Cutting an ISP is an nft drop of everything it forwards, in its own namespace.

NS_ROUTER="eg-rt-$RD_SUFFIX"
NS_LAN="eg-lan-$RD_SUFFIX"
NS_ISP="eg-isp1-$RD_SUFFIX"
NS_ISP2="eg-isp2-$RD_SUFFIX"
NS_INET="eg-inet-$RD_SUFFIX"
EG_SERVER=203.0.113.80
EG_MONITOR_PID=""

eg_cleanup() {
    [ -n "$EG_MONITOR_PID" ] && kill "$EG_MONITOR_PID" 2>/dev/null
    for ns in "$NS_ISP2" "$NS_INET"; do
        if ip netns list 2>/dev/null | grep -qw "$ns"; then
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
    rd_cleanup
}

eg_topology() {
    for ns in "$NS_ROUTER" "$NS_LAN" "$NS_ISP" "$NS_ISP2" "$NS_INET"; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
    done
    ip link add eg-lan netns "$NS_ROUTER" type veth peer name lan0 netns "$NS_LAN"
    ip link add eg-wan1 netns "$NS_ROUTER" type veth peer name isp-rt netns "$NS_ISP"
    ip link add eg-wan2 netns "$NS_ROUTER" type veth peer name isp-rt netns "$NS_ISP2"
    ip link add isp-up netns "$NS_ISP" type veth peer name n1 netns "$NS_INET"
    ip link add isp-up netns "$NS_ISP2" type veth peer name n2 netns "$NS_INET"
    ip -n "$NS_LAN" link set lan0 up
    ip -n "$NS_LAN" addr add 10.77.0.2/24 dev lan0
    ip -n "$NS_LAN" route add default via 10.77.0.1
    local i net
    for i in 1 2; do
        local ns="$NS_ISP"
        [ "$i" = 2 ] && ns="$NS_ISP2"
        [ "$i" = 1 ] && net=192.0.2 || net=198.51.100
        ip -n "$ns" link set isp-rt up
        ip -n "$ns" link set isp-up up
        ip -n "$ns" addr add "$net.1/24" dev isp-rt
        ip -n "$ns" addr add "100.64.$i.1/30" dev isp-up
        ip -n "$ns" route add default via "100.64.$i.2"
        ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
        ip -n "$NS_INET" link set "n$i" up
        ip -n "$NS_INET" addr add "100.64.$i.2/30" dev "n$i"
        ip -n "$NS_INET" route add "$net.0/24" via "100.64.$i.1"
        ip netns exec "$ns" dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces --interface=isp-rt \
            --port=0 --dhcp-range="$net.10,$net.50,255.255.255.0,10m" \
            --dhcp-option=option:router,"$net.1" --dhcp-leasefile="$RD_TMP/dnsmasq$i.leases" \
            --pid-file="$RD_TMP/dnsmasq$i.pid" --log-facility="$RD_TMP/dnsmasq$i.log" >/dev/null 2>&1 &
        RD_PIDS+=("$!")
    done
    ip -n "$NS_INET" addr add "$EG_SERVER/32" dev lo
    ip netns exec "$NS_ROUTER" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$NS_ROUTER" nft -f - <<'NFT'
table ip egtest {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname { "eg-wan1", "eg-wan2" } masquerade
    }
}
NFT
}

# eg_config INTERVAL TIMEOUT UNHEALTHY HEALTHY FAILBACK: writes the router's resources to $RD_TMP/egress.yaml.
eg_config() {
    cat > "$RD_TMP/egress.yaml" <<YAML
apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: lan}
spec: {ifname: eg-lan}
---
apiVersion: net.routerd.net/v1alpha1
kind: IPv4StaticAddress
metadata: {name: lan}
spec: {interface: lan, address: 10.77.0.1/24}
---
apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: wan1}
spec: {ifname: eg-wan1}
---
apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: wan2}
spec: {ifname: eg-wan2}
---
apiVersion: net.routerd.net/v1alpha1
kind: DHCPv4Client
metadata: {name: wan1}
spec: {interface: wan1}
---
apiVersion: net.routerd.net/v1alpha1
kind: DHCPv4Client
metadata: {name: wan2}
spec: {interface: wan2}
---
apiVersion: net.routerd.net/v1alpha1
kind: HealthCheck
metadata: {name: isp1}
spec: {target: $EG_SERVER, protocol: icmp, interval: $1, timeout: $2, unhealthyThreshold: $3, healthyThreshold: $4, sourceInterface: wan1, fwmark: 101}
---
apiVersion: net.routerd.net/v1alpha1
kind: HealthCheck
metadata: {name: isp2}
spec: {target: $EG_SERVER, protocol: icmp, interval: $1, timeout: $2, unhealthyThreshold: $3, healthyThreshold: $4, sourceInterface: wan2, fwmark: 102}
---
apiVersion: net.routerd.net/v1alpha1
kind: EgressRoutePolicy
metadata: {name: uplink}
spec:
  failbackDelay: $5
  candidates:
  - {name: isp1, source: {kind: DHCPv4Client, name: wan1}, healthCheck: isp1, priority: 10}
  - {name: isp2, source: {kind: DHCPv4Client, name: wan2}, healthCheck: isp2, priority: 20}
YAML
}

# The main table's default routes, one per line.
eg_defaults() { ip -n "$NS_ROUTER" -4 route show default; }
eg_default_is() { [ "$(eg_defaults | grep -c .)" = 1 ] && eg_defaults | grep -q "via $1 "; }

eg_cut() { ip netns exec "$1" nft -f - <<'NFT'
table inet egcut {
    chain forward {
        type filter hook forward priority 0; policy drop;
    }
}
NFT
}
eg_restore() { ip netns exec "$1" nft delete table inet egcut; }

# Route changes of the router's main table with timestamps, appended to $RD_TMP/routes.log.
eg_monitor_start() {
    : > "$RD_TMP/routes.log"
    ip -ts -n "$NS_ROUTER" monitor route >>"$RD_TMP/routes.log" 2>&1 &
    EG_MONITOR_PID=$!
    RD_PIDS+=("$EG_MONITOR_PID")
}

eg_py() { python3 - "$@"; }

# eg_json EXPR: evaluates the Python expression EXPR over the JSON document `d` read from stdin.
eg_json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# eg_policy_field FIELD: a field of the policy's status.
eg_policy_field() {
    rd_api GET /resources/EgressRoutePolicy/uplink | eg_json "d.get('status', {}).get('$1', '')"
}

# eg_measure_failover AFTER_EPOCH GATEWAY TIMEOUT_MS: milliseconds to the first `default via GATEWAY`
# added to main after AFTER_EPOCH (ip monitor) from: the moment the first failed probe of HealthCheck isp1
# after AFTER_EPOCH was sent (its history entry's time, which is when the result was known, minus the
# timeout or the failure's latency), the cut (AFTER_EPOCH), and the HealthCheck turning Unhealthy (its
# status `since`: routerd's own reaction): "FROM_PROBE FROM_CUT FROM_UNHEALTHY".
eg_measure_failover() {
    rd_api GET /resources/HealthCheck/isp1 >"$RD_TMP/hc.json"
    eg_py "$1" "$2" "$RD_TMP/hc.json" "$RD_TMP/routes.log" "$3" <<'PY'
import json, re, sys
from datetime import datetime, timezone
after, gw, hc, log, timeout = float(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]) / 1000
def rfc(t):
    m = re.match(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?Z", t)
    frac = float(m.group(2) or 0)
    return datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp() + frac
st = json.load(open(hc))["status"]
def sent(h):
    took = timeout if h["result"] == "timeout" else (h.get("latencyMillis") or 0) / 1000
    return rfc(h["time"]) - took
fails = [sent(h) for h in st.get("history", []) if h["result"] != "passed" and rfc(h["time"]) > after]
if not fails:
    print("nan nan nan"); sys.exit()
first = min(fails)
unhealthy = rfc(st["since"]) if st.get("phase") == "Unhealthy" and st.get("since") else None
seen = None
for line in open(log):
    m = re.match(r"\[(\S+)\] (.*)", line)
    if not m or not m.group(2).startswith("default via " + gw + " ") or "table" in m.group(2):
        continue
    t = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()
    if t > after:
        seen = t; break
if seen is None:
    print("nan nan nan"); sys.exit()
react = "nan" if unhealthy is None else f"{(seen-unhealthy)*1000:.0f}"
print(f"{(seen-first)*1000:.0f} {(seen-after)*1000:.0f} {react}")
PY
}

# eg_measure_failback AFTER_EPOCH GATEWAY: milliseconds from HealthCheck isp1 turning Healthy (its
# status `since`) to the first `default via GATEWAY` added to main after AFTER_EPOCH.
eg_measure_failback() {
    rd_api GET /resources/HealthCheck/isp1 >"$RD_TMP/hc.json"
    eg_py "$1" "$2" "$RD_TMP/hc.json" "$RD_TMP/routes.log" <<'PY'
import json, re, sys
from datetime import datetime, timezone
after, gw, hc, log = float(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
def rfc(t):
    m = re.match(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?Z", t)
    return datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp() + float(m.group(2) or 0)
st = json.load(open(hc))["status"]
since = rfc(st["since"]) if st.get("phase") == "Healthy" else None
seen = None
for line in open(log):
    m = re.match(r"\[(\S+)\] (.*)", line)
    if not m or not m.group(2).startswith("default via " + gw + " ") or "table" in m.group(2):
        continue
    t = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()
    if t > after:
        seen = t; break
print("nan" if since is None or seen is None else f"{(seen-since)*1000:.0f}")
PY
}

# eg_stats BUDGET_MS VALUES...: min/median/p95/max, and how many are within the budget.
eg_stats() {
    eg_py "$@" <<'PY'
import math, statistics, sys
budget = float(sys.argv[1]); v = sorted(float(x) for x in sys.argv[2:] if x != "nan")
if not v:
    print("no measurements"); sys.exit()
p95 = v[min(len(v) - 1, math.ceil(0.95 * len(v)) - 1)]
print(f"n={len(v)} min={v[0]:.0f} median={statistics.median(v):.0f} p95={p95:.0f} max={v[-1]:.0f} ms; "
      f"target <= {budget:.0f} ms; within target: {sum(x <= budget for x in v)}/{len(v)}")
PY
}
