#!/usr/bin/env bash
# Health-check benchmarks (issue: managed daemons): peak RSS of one routerd-healthcheck probing every 1 s,
# peak RSS of routerd supervising 50 HealthChecks, and poll-to-store latency of a daemon event (from
# the daemon stamping the event to a routerd /events long-poller receiving it). Release binaries, in
# network namespaces made here; nothing leaves them. Prints `name value target` lines.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
cargo build --release --locked -p routerd -p routerctl -p routerd-healthcheck 2>&1 | tail -1
RD_BIN="$ROOT/target/release"
source scripts/lib/netns.sh
source scripts/lib/isp_targets.sh
trap rd_cleanup EXIT
export PATH="$RD_BIN:$PATH"
rd_topology
rd_topology_isp
rd_isp_targets
hwm_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

# 1. routerd with 50 HealthChecks (1 s interval, mixed kinds), 20 s of probing.
{
    cat examples/wan.yaml
    for i in $(seq 1 50); do
        case $((i % 3)) in
            0) spec="{target: 198.51.100.129, protocol: icmp, interval: 1s, timeout: 500ms}" ;;
            1) spec="{target: 198.51.100.129, protocol: tcp, port: 8080, interval: 1s, timeout: 500ms}" ;;
            2) spec="{target: 198.51.100.129, protocol: dns, dns: {name: router.test}, interval: 1s, timeout: 500ms}" ;;
        esac
        printf -- '---\napiVersion: net.routerd.net/v1alpha1\nkind: HealthCheck\nmetadata: {name: hc-%02d}\nspec: %s\n' "$i" "$spec"
    done
} > "$RD_TMP/fifty.yaml"
rd_start --config "$RD_TMP/fifty.yaml" --reconcile-interval 30s
for i in $(seq -w 1 50); do rd_wait_for "hc-$i" 60 rd_phase_is HealthCheck "hc-$i" Healthy; done
sleep 20
routerd_hwm="$(hwm_kib "$(pgrep -f "routerd serve --runtime-dir $RD_RUN" | head -1)")"
daemon_hwms=()
for pid in $(pgrep -f "routerd-healthcheck --name hc-"); do daemon_hwms+=("$(hwm_kib "$pid")"); done
max_daemon="$(printf '%s\n' "${daemon_hwms[@]}" | sort -n | tail -1)"
med_daemon="$(printf '%s\n' "${daemon_hwms[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"

# 2. Poll-to-store latency: flip a target 20 times; each flip makes the daemon record a probe event.
python3 - "$RD_RUN/routerd-status.sock" "$NS_ISP" > "$RD_TMP/latency.txt" <<'PY'
import http.client, json, socket, subprocess, sys, time, statistics
sock, ns = sys.argv[1], sys.argv[2]
class UnixConn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX); self.sock.connect(sock)
def get(path):
    c = UnixConn("x", timeout=70); c.request("GET", "/api/control.routerd.net/v1alpha1" + path)
    return json.loads(c.getresponse().read())
def now_ns(): return time.time_ns()
def parse(t):
    # RFC 3339 with nanoseconds, UTC
    import datetime
    base, frac = t[:-1].split(".")
    dt = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return int(dt.timestamp()) * 10**9 + int(frac.ljust(9, "0"))
cursor = get("/events?latest=true&limit=1")["cursor"]
samples = []
# Alternate cut and restore; each flip makes the daemon record one probe event (timeout, then passed).
# Every sample is the first probe event after a flip: received-at minus the daemon's own time stamp.
for i in range(20):
    if i % 2 == 0:
        subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input="table inet bench {\n chain input {\n type filter hook input priority 0; tcp dport 8080 drop;\n }\n}\n", text=True, check=True)
    else:
        subprocess.run(["ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "bench"], check=True)
    got = None
    deadline = time.time() + 10
    while got is None and time.time() < deadline:
        r = get("/events?since=%s&wait=5s&topic=routerd.healthcheck.probe.*&resource=HealthCheck/hc-01" % cursor)
        received = now_ns()
        for e in r["items"]:
            got = (received - parse(e["time"])) / 1e6
        cursor = r["cursor"]
    if got is not None:
        samples.append(got)
samples.sort()
print("samples %d p50 %.2f p99 %.2f max %.2f" % (len(samples), statistics.median(samples), samples[int(len(samples) * 0.99) - 1 if len(samples) > 1 else 0], samples[-1]))
PY
read -r _ n _ p50 _ p99 _ max < "$RD_TMP/latency.txt"

# 3. One daemon alone probing every 1 s for 30 s (what one health check costs).
rd_stop
mkdir -p "$RD_TMP/solo"
printf '{"spec": {"target": "198.51.100.129", "protocol": "icmp", "interval": "1s", "timeout": "500ms"}, "sourceIfname": null}' > "$RD_TMP/solo/config.json"
ip netns exec "$NS_ROUTER" ip route add 198.51.100.128/25 via 198.51.100.1 2>/dev/null || true
ip netns exec "$NS_ROUTER" "$RD_BIN/routerd-healthcheck" --name solo --config "$RD_TMP/solo/config.json" \
    --socket "$RD_TMP/solo/solo.sock" --state-dir "$RD_TMP/solo" > "$RD_TMP/solo.log" 2>&1 &
solo=$!
RD_PIDS+=("$solo")
sleep 30
solo_hwm="$(hwm_kib "$solo")"
kill -TERM "$solo"

echo
echo "figure                                            value        target"
printf '%-48s %-12s %s\n' "routerd-healthcheck peak RSS, alone, 1 s probes" "$((solo_hwm / 1024)).$(( (solo_hwm % 1024) * 10 / 1024 )) MiB" "<= 4 MiB"
printf '%-48s %-12s %s\n' "routerd-healthcheck peak RSS, median of 50" "$((med_daemon / 1024)).$(( (med_daemon % 1024) * 10 / 1024 )) MiB" "<= 4 MiB"
printf '%-48s %-12s %s\n' "routerd-healthcheck peak RSS, max of 50" "$((max_daemon / 1024)).$(( (max_daemon % 1024) * 10 / 1024 )) MiB" "<= 4 MiB"
printf '%-48s %-12s %s\n' "routerd peak RSS supervising 50 HealthChecks" "$((routerd_hwm / 1024)).$(( (routerd_hwm % 1024) * 10 / 1024 )) MiB" "<= 16 MiB"
printf '%-48s %-12s %s\n' "daemon event -> routerd long-poller, p50 ($n)" "$p50 ms" "-"
printf '%-48s %-12s %s\n' "daemon event -> routerd long-poller, p99" "$p99 ms" "-"
