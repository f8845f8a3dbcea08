#!/usr/bin/env bash
# PPPoE benchmark (spec/benchmarks.md, row "PPPoE"): routerd-pppoe-client against the test access
# concentrator routerd-test-ac, in network namespaces made for it, release builds:
#
#   bench/pppoe.sh                      # build the release binaries, 5 rounds, print the figures
#   RDBENCH_REPEATS=3 RDBENCH_NO_BUILD=1 bench/pppoe.sh
#
#   router: wan veth ──── isp0 :isp   (bare path: 198.51.100.2/24 <-> 198.51.100.1/24)
#   router: ppp-bench TUN ═ PPPoE session over the same veth ═ ac0 TUN :isp (100.64.0.2 <-> 100.64.0.1)
#
# Figures (medians over the rounds; ratio = ours / peer):
#   setup       PADI -> IPCP opened, from the AC's own JSON lines (`padi` and `ipcp-opened` timestamps of
#               one dial, one clock); CHAP-MD5, so the authentication round trip is included (the AC
#               answers at once: there is no authentication delay to subtract). Also exec -> IPCP opened.
#               The daemon is started fresh each round (no session.json), so every round is a full dial.
#   throughput  iperf3 TCP, 3 s, router -> isp ("up") and isp -> router (-R, "down"), through the session
#               (both TUNs and both user-space forwarders) next to the same iperf3 over the bare veth,
#               interleaved round by round. Target: the session >= 50% of the bare path. A second peer is
#               a veth pair limited to MTU-size packets (gso/gro_max_size 1492): the plain veth hands
#               64 KiB GSO super-packets across, which no PPPoE session (1492-octet frames) can.
#   latency     ping RTT median of 200 echoes 5 ms apart, through the session and over the bare veth.
#   memory      VmRSS and VmHWM (peak) of the daemon from /proc/<pid>/status, after the traffic.
#               Target: <= 4 MiB.
# The peers are the same traffic over the bare veth in the same run (the physical limit of the path).
# Not a test: it always exits 0 once it has run.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
REPEATS="${RDBENCH_REPEATS:-5}"
[ "$REPEATS" -ge 3 ] || REPEATS=3
if [ "$(id -u)" != 0 ]; then
    echo "bench/pppoe.sh needs root (network namespaces, raw sockets, TUN)" >&2
    exit 1
fi
need_pkgs=()
command -v iperf3 >/dev/null || need_pkgs+=(iperf3)
command -v curl >/dev/null || need_pkgs+=(curl)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
    echo "installing ${need_pkgs[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
if [ "${RDBENCH_NO_BUILD:-0}" != 1 ]; then
    (cd "$ROOT" && cargo build --release -q -p routerd-pppoe-client -p routerd-test-ac) || exit 1
fi
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OURS="${RDBENCH_OURS:-$TARGET_DIR/release/routerd-pppoe-client}"
AC="${RDBENCH_AC:-$TARGET_DIR/release/routerd-test-ac}"
for bin in "$OURS" "$AC"; do
    [ -x "$bin" ] || { echo "bench/pppoe.sh: $bin is missing (cargo build --release)" >&2; exit 0; }
done

S=$$
NR="rdbench-ppp-r-$S"
NI="rdbench-ppp-i-$S"
IF="bpw$S"
TMP="$(mktemp -d /tmp/rdbench-pppoe-XXXX)"
PIDS=()
DPID=""
cleanup() {
    [ -n "$DPID" ] && kill "$DPID" 2>/dev/null
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
    sleep 0.2
    for ns in "$NR" "$NI"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$NR"
ip netns add "$NI"
ip -n "$NR" link set lo up
ip -n "$NI" link set lo up
ip link add "$IF" netns "$NR" type veth peer name isp0 netns "$NI"
ip -n "$NR" addr add 198.51.100.2/24 dev "$IF"
ip -n "$NI" addr add 198.51.100.1/24 dev isp0
ip -n "$NR" link set "$IF" up
ip -n "$NI" link set isp0 up
# A second veth pair whose stack sends MTU-size packets (gso_max_size 1492, MTU 1492): what the session
# carries, one datagram per frame, without the 64 KiB GSO super-packets the plain veth passes along.
ip link add "${IF}m" netns "$NR" type veth peer name isp1 netns "$NI"
ip -n "$NR" link set dev "${IF}m" mtu 1492 gso_max_size 1492 gro_max_size 1492 up
ip -n "$NI" link set dev isp1 mtu 1492 gso_max_size 1492 gro_max_size 1492 up
ip -n "$NR" addr add 203.0.113.2/24 dev "${IF}m"
ip -n "$NI" addr add 203.0.113.1/24 dev isp1

printf 'bench-secret\n' >"$TMP/password"
chmod 0600 "$TMP/password"
ip netns exec "$NI" "$AC" --interface isp0 --tun ac0 --ac-name bench-ac --auth chap --username alice \
    --password-file "$TMP/password" --local-ipv4 100.64.0.1 --peer-ipv4 100.64.0.2 --dns 192.0.2.53 \
    --control "$TMP/ac.sock" >"$TMP/ac.jsonl" 2>"$TMP/ac.err" &
PIDS+=("$!")
ip netns exec "$NI" iperf3 -s --logfile "$TMP/iperf3.log" >/dev/null 2>&1 &
PIDS+=("$!")
for _ in $(seq 100); do grep -q '"event":"ready"' "$TMP/ac.jsonl" 2>/dev/null && break; sleep 0.05; done
sleep 1 # veth carrier and IPv6 DAD settle

W="$TMP/state"
SOCK="$TMP/ours.sock"
now_ns() { date +%s%N; }
start_daemon() {
    rm -rf "$W"
    mkdir -p "$W"
    python3 -c "
import json, sys
spec = {'interface': 'wan', 'ifname': 'ppp-bench', 'username': 'alice', 'passwordFile': sys.argv[1],
        'authentication': 'chap', 'dataPlane': 'tun'}
json.dump({'spec': spec, 'ifname': sys.argv[2]}, open(sys.argv[3], 'w'))" "$TMP/password" "$IF" "$W/config.json"
    ip netns exec "$NR" "$OURS" --name wan --config "$W/config.json" --socket "$SOCK" --state-dir "$W" \
        >>"$TMP/daemon.log" 2>&1 &
    DPID=$!
}
stop_daemon() {
    curl -s --max-time 5 --unix-socket "$SOCK" -X POST http://d/v1/commands/stop >/dev/null 2>&1
    for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.05; done
    kill "$DPID" 2>/dev/null
    wait "$DPID" 2>/dev/null
    DPID=""
}
# dial: writes "padi_to_ipcp_us exec_to_ipcp_us" of one fresh dial (or "- -") to $TMP/dial, leaving the
# session up (not run in a subshell: DPID must stay set).
dial() {
    local before t0
    before="$(wc -l <"$TMP/ac.jsonl")"
    t0="$(now_ns)"
    start_daemon
    for _ in $(seq 1000); do
        tail -n +"$((before + 1))" "$TMP/ac.jsonl" | grep -q '"event":"ipcp-opened"' && break
        sleep 0.01
    done
    tail -n +"$((before + 1))" "$TMP/ac.jsonl" | python3 -c '
import json, sys
t0 = int(sys.argv[1]) / 1e9
padi = ipcp = None
for line in sys.stdin:
    e = json.loads(line)
    if e["event"] == "padi" and padi is None:
        padi = e["ts"]
    if e["event"] == "ipcp-opened" and ipcp is None:
        ipcp = e["ts"]
if padi is None or ipcp is None:
    print("- -")
else:
    print(int((ipcp - padi) * 1e6), int((ipcp - t0) * 1e6))' "$t0" >"$TMP/dial"
}
session_up() {
    curl -s --max-time 2 --unix-socket "$SOCK" http://d/v1/status 2>/dev/null | grep -q '"phase":"Up"' &&
        ip -n "$NR" addr show dev ppp-bench 2>/dev/null | grep -q 'inet 100.64.0.2'
}
# iperf DEST [-R]: bits/s received, or "-".
iperf() {
    ip netns exec "$NR" iperf3 -c "$1" -t 3 -J ${2:+"$2"} 2>/dev/null |
        python3 -c 'import json,sys
try: print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]))
except Exception: print("-")'
}
# rtt DEST: median RTT in µs of 200 echoes, or "-".
rtt() {
    ip netns exec "$NR" ping -n -c 200 -i 0.005 -W 1 "$1" 2>/dev/null |
        python3 -c 'import re,statistics,sys
v=[float(m.group(1)) for m in map(re.compile(r"time=([0-9.]+) ms").search, sys.stdin) if m]
print(int(statistics.median(v)*1000) if v else "-")'
}

echo "pppoe bench: $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), $REPEATS rounds" >&2
: >"$TMP/results"
# One unmeasured dial: first-time costs (page cache, ARP-free veth warm-up) are not the protocol's.
dial
stop_daemon
for r in $(seq "$REPEATS"); do
    dial
    read -r setup exec_up <"$TMP/dial"
    echo "setup $setup $exec_up" >>"$TMP/results"
    echo "  round $r: PADI -> IPCP opened ${setup} us, exec -> IPCP opened ${exec_up} us" >&2
    if [ "$r" -lt "$REPEATS" ]; then stop_daemon; fi
done

for _ in $(seq 200); do session_up && break; sleep 0.05; done
if session_up; then
    for r in $(seq "$REPEATS"); do
        up_bare="$(iperf 198.51.100.1)"
        up_mtu="$(iperf 203.0.113.1)"
        up_tun="$(iperf 100.64.0.1)"
        down_bare="$(iperf 198.51.100.1 -R)"
        down_mtu="$(iperf 203.0.113.1 -R)"
        down_tun="$(iperf 100.64.0.1 -R)"
        rtt_bare="$(rtt 198.51.100.1)"
        rtt_tun="$(rtt 100.64.0.1)"
        echo "tput_up $up_tun $up_bare $up_mtu" >>"$TMP/results"
        echo "tput_down $down_tun $down_bare $down_mtu" >>"$TMP/results"
        echo "rtt $rtt_tun $rtt_bare" >>"$TMP/results"
        echo "  round $r: up ${up_tun}/${up_bare}/${up_mtu} bit/s, down ${down_tun}/${down_bare}/${down_mtu} bit/s (session/bare/bare MTU-size), rtt ${rtt_tun}/${rtt_bare} us (session/bare)" >&2
    done
    rss="$(awk '/^VmRSS/ {print $2}' "/proc/$DPID/status" 2>/dev/null)"
    hwm="$(awk '/^VmHWM/ {print $2}' "/proc/$DPID/status" 2>/dev/null)"
    echo "rss ${rss:--} ${hwm:--}" >>"$TMP/results"
else
    echo "  the session did not come up: no data-plane figures (daemon log: $TMP/daemon.log)" >&2
    tail -5 "$TMP/daemon.log" >&2
fi
stop_daemon

python3 - "$TMP/results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, *values = line.split()
    if "-" in values:
        continue
    rows.setdefault(name, []).append([float(v) for v in values])
def med(name, i):
    values = [row[i] for row in rows.get(name, [])]
    return statistics.median(values) if values else None
print("# name ours peer ratio unit target (median of the rounds; ratio = ours/peer; peer = the bare veth)")
s, e = med("setup", 0), med("setup", 1)
if s is not None:
    print(f"pppoe.setup.padi_to_ipcp_opened {s / 1000:.1f} - -  ms  <= 100 ms [{'ok' if s <= 100000 else 'MISS'}]")
    print(f"pppoe.setup.exec_to_ipcp_opened {e / 1000:.1f} - -  ms")
for name, label in (("tput_up", "router->isp"), ("tput_down", "isp->router")):
    o, p = med(name, 0), med(name, 1)
    if o is None:
        print(f"pppoe.tcp_throughput.{label} - - -  Mbit/s  (no result)")
        continue
    r = o / p
    print(f"pppoe.tcp_throughput.{label} {o / 1e6:.0f} {p / 1e6:.0f} {r:.2f}  Mbit/s  >= 0.50 [{'ok' if r >= 0.5 else 'MISS'}]")
    m = med(name, 2)
    print(f"pppoe.tcp_throughput.{label}.vs_mtu_size_veth {o / 1e6:.0f} {m / 1e6:.0f} {o / m:.2f}  Mbit/s  (peer: veth without GSO super-packets)")
o, p = med("rtt", 0), med("rtt", 1)
if o is not None:
    print(f"pppoe.ping_rtt {o:.0f} {p:.0f} {o / p:.2f}  us  (added {o - p:.0f} us)")
r, h = med("rss", 0), med("rss", 1)
if r is not None:
    print(f"pppoe.daemon_rss {r:.0f} - -  KiB  <= 4096 [{'ok' if r <= 4096 else 'MISS'}] (peak VmHWM {h:.0f} KiB)")
PY
exit 0
