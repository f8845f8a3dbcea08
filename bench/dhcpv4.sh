#!/usr/bin/env bash
# DHCPv4 benchmark (spec/benchmarks.md, row "DHCPv4"): time from start to lease bound, and peak RSS, of
# routerd-dhcpv4-client and of dhclient (isc-dhcp-client), dhcpcd (dhcpcd-base) and busybox udhcpc,
# all against the same dnsmasq, in one run, in network namespaces made for it.
#
#   bench/dhcpv4.sh                     # build the release binary, 5 rounds, print the figures
#   RDBENCH_REPEATS=3 RDBENCH_NO_BUILD=1 bench/dhcpv4.sh
#
# Each round runs every client once from a clean state (no remembered lease, so a full
# DISCOVER/OFFER/REQUEST/ACK), in turn, so peers are measured interleaved with ours. "Bound" is when
# the client says so: our lease.bound event; the BOUND hook of dhclient, dhcpcd and udhcpc (a script
# that records the time). The clock starts just before the client is exec'd. Peak RSS is GNU time's
# "Maximum resident set size" for the client process (ours stopped through its API once bound).
#
# Clients and variants:
#   ours          default: RFC 5227 conflict probe (3 ARP probes 200 ms apart, 400 ms listening)
#   ours-noprobe  config.json "conflictProbe": false
#   dhclient      -d -1 with the Debian default dhclient.conf
#   dhcpcd        -B -1 -4, default config (ARP probe, initial random delay)
#   dhcpcd-fast   dhcpcd.conf "noarp" + "nodelay": the flags that remove its fixed delays
#   udhcpc        busybox udhcpc -f -q (no ARP check by default)
#
# Lines: `name ours peer ratio` (ratio = ours / peer; lower is better for both time and memory),
# medians over the rounds. Not a test: it always exits 0 once it has run.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
REPEATS="${RDBENCH_REPEATS:-5}"
[ "$REPEATS" -ge 3 ] || REPEATS=3
if [ "$(id -u)" != 0 ]; then
    echo "bench/dhcpv4.sh needs root (network namespaces, raw sockets)" >&2
    exit 1
fi
need_pkgs=()
command -v dnsmasq >/dev/null || need_pkgs+=(dnsmasq-base)
command -v dhclient >/dev/null || need_pkgs+=(isc-dhcp-client)
command -v dhcpcd >/dev/null || need_pkgs+=(dhcpcd-base)
command -v busybox >/dev/null || need_pkgs+=(busybox)
[ -x /usr/bin/time ] || need_pkgs+=(time)
command -v curl >/dev/null || need_pkgs+=(curl)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
    echo "installing ${need_pkgs[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
if [ "${RDBENCH_NO_BUILD:-0}" != 1 ]; then
    (cd "$ROOT" && cargo build --release -q -p routerd-dhcpv4-client) || exit 1
fi
OURS="${RDBENCH_OURS:-$ROOT/target/release/routerd-dhcpv4-client}"

S=$$
NR="rdbench-dhcp-r-$S"
NI="rdbench-dhcp-i-$S"
IF="bdw$S"
TMP="$(mktemp -d /tmp/rdbench-dhcpv4-XXXX)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
    for ns in "$NR" "$NI"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    rm -f /var/lib/dhcpcd/"$IF"*.lease /var/lib/dhcpcd/"$IF"*.lease6 /run/dhcpcd/"$IF"* 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

ip netns add "$NR"
ip netns add "$NI"
ip -n "$NR" link set lo up
ip -n "$NI" link set lo up
ip link add "$IF" netns "$NR" type veth peer name isp0 netns "$NI"
ip -n "$NI" addr add 198.51.100.1/24 dev isp0
ip -n "$NI" link set isp0 up
ip -n "$NR" link set "$IF" up
ip netns exec "$NI" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --interface=isp0 --bind-interfaces \
    --dhcp-range=198.51.100.100,198.51.100.200,255.255.255.0,1h --dhcp-leasefile="$TMP/dnsmasq.leases" \
    --dhcp-option=3,198.51.100.1 --dhcp-option=6,198.51.100.53 --log-facility="$TMP/dnsmasq.log" \
    --pid-file="$TMP/dnsmasq.pid" >/dev/null 2>&1 &
PIDS+=("$!")
for _ in $(seq 100); do grep -q "sockets bound" "$TMP/dnsmasq.log" 2>/dev/null && break; sleep 0.05; done
# veth carrier and IPv6 DAD noise settle before the first client.
sleep 1

now_ns() { date +%s%N; }
# hook NAME: a BOUND hook that appends the time to $TMP/NAME.mark (dhclient/dhcpcd: $reason, udhcpc: $1).
hook() {
    cat >"$TMP/$1.hook" <<SH
#!/bin/sh
case "\${reason:-\$1}" in BOUND|bound) date +%s%N >>"$TMP/$1.mark" ;; esac
exit 0
SH
    chmod +x "$TMP/$1.hook"
}
for c in dhclient dhcpcd dhcpcd-fast udhcpc; do hook "$c"; done
: >"$TMP/dhcpcd.conf"
printf 'noarp\nnodelay\n' >"$TMP/dhcpcd-fast.conf"

rss_of() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }
wait_file() { for _ in $(seq "$2"); do [ -s "$1" ] && return 0; sleep 0.01; done; return 1; }
clean_state() {
    ip -n "$NR" addr flush dev "$IF" scope global 2>/dev/null
    rm -f /var/lib/dhcpcd/"$IF"*.lease 2>/dev/null
    rm -rf "$TMP/state" "$TMP"/*.mark "$TMP"/*.lease "$TMP"/*.pid.client
}

# run_ours NAME PROBE: prints "bound_us rss_kib" (or "- -").
run_ours() {
    clean_state
    local dir="$TMP/state" sock="$TMP/ours.sock"
    mkdir -p "$dir"
    printf '{"spec": {"interface": "wan"}, "ifname": "%s", "conflictProbe": %s}\n' "$IF" "$2" >"$TMP/ours.json"
    local t0
    t0="$(now_ns)"
    ip netns exec "$NR" /usr/bin/time -v -o "$TMP/$1.time" "$OURS" --name wan --config "$TMP/ours.json" \
        --socket "$sock" --state-dir "$dir" >"$TMP/$1.log" 2>&1 &
    local p=$!
    local bound=""
    for _ in $(seq 1000); do
        bound="$(grep -o '"time":"[^"]*","topic":"routerd.dhcpv4.client.lease.bound"' "$dir/events.jsonl" 2>/dev/null | head -1 | cut -d'"' -f4)"
        [ -n "$bound" ] && break
        sleep 0.01
    done
    curl -s --max-time 5 --unix-socket "$sock" -X POST http://d/v1/commands/stop >/dev/null
    wait "$p" 2>/dev/null
    if [ -z "$bound" ]; then echo "- -"; return; fi
    local b
    b="$(python3 -c "import datetime as d,sys; s=sys.argv[1]; x=d.datetime.strptime(s[:26]+'Z','%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=d.timezone.utc); print(int(x.timestamp())*10**9 + int(s[20:29].ljust(9,'0')))" "$bound")"
    echo "$(( (b - t0) / 1000 )) $(rss_of "$TMP/$1.time")"
}

# run_peer NAME COMMAND...: runs a peer under GNU time, waits for its BOUND hook; prints "bound_us rss_kib".
run_peer() {
    local name="$1"
    shift
    clean_state
    local t0
    t0="$(now_ns)"
    ip netns exec "$NR" /usr/bin/time -v -o "$TMP/$name.time" "$@" >"$TMP/$name.log" 2>&1 &
    local p=$!
    wait_file "$TMP/$name.mark" 1500
    local b
    b="$(head -1 "$TMP/$name.mark" 2>/dev/null)"
    # dhclient -d stays in the foreground once bound; the others exit by themselves (-1, -q).
    if [ "$name" = dhclient ]; then
        sleep 0.05
        for c in $(pgrep -P "$p"); do kill "$c" 2>/dev/null; done
    fi
    for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.01; done
    for c in $(pgrep -P "$p"); do kill -9 "$c" 2>/dev/null; done
    wait "$p" 2>/dev/null
    if [ -z "$b" ]; then echo "- -"; return; fi
    echo "$(( (b - t0) / 1000 )) $(rss_of "$TMP/$name.time")"
}

measure() {
    case "$1" in
    ours) run_ours ours true ;;
    ours-noprobe) run_ours ours-noprobe false ;;
    dhclient) run_peer dhclient dhclient -d -1 -4 -sf "$TMP/dhclient.hook" -lf "$TMP/dhclient.lease" \
        -pf "$TMP/dhclient.pid.client" "$IF" ;;
    dhcpcd) run_peer dhcpcd dhcpcd -B -1 -4 -f "$TMP/dhcpcd.conf" -c "$TMP/dhcpcd.hook" "$IF" ;;
    dhcpcd-fast) run_peer dhcpcd-fast dhcpcd -B -1 -4 -f "$TMP/dhcpcd-fast.conf" -c "$TMP/dhcpcd-fast.hook" "$IF" ;;
    udhcpc) run_peer udhcpc busybox udhcpc -f -q -i "$IF" -s "$TMP/udhcpc.hook" ;;
    esac
}

CLIENTS=(ours ours-noprobe dhclient dhcpcd dhcpcd-fast udhcpc)
echo "dhcpv4 bench: $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), $REPEATS rounds" >&2
# One unmeasured round: each client's first lease makes dnsmasq allocate (and ping-check) an address.
for c in "${CLIENTS[@]}"; do measure "$c" >/dev/null; done
for r in $(seq "$REPEATS"); do
    for c in "${CLIENTS[@]}"; do
        read -r us rss < <(measure "$c")
        echo "$c $us $rss" >>"$TMP/results"
        echo "  round $r $c: $(awk -v u="$us" 'BEGIN { if (u == "-") print "no lease"; else printf "%.1f ms", u / 1000 }') ${rss} KiB" >&2
    done
done

python3 - "$TMP/results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, us, rss = line.split()
    if us == "-":
        continue
    rows.setdefault(name, ([], []))
    rows[name][0].append(int(us) / 1000.0)
    rows[name][1].append(int(rss))
med = {k: (statistics.median(v[0]), statistics.median(v[1])) for k, v in rows.items()}
def line(name, ours, peer, unit, fmt):
    if ours not in med or peer not in med:
        print(f"{name} - - -  {unit}  (no result for {ours if ours not in med else peer})")
        return
    i = 0 if unit == "ms" else 1
    o, p = med[ours][i], med[peer][i]
    print(f"{name} {fmt(o)} {fmt(p)} {o / p:.2f}  {unit}")
ms = lambda v: f"{v:.1f}"
kib = lambda v: f"{v:.0f}"
print("# name ours peer ratio unit (median of %d rounds; ratio = ours/peer, lower is better)" % min(len(v[0]) for v in rows.values()))
line("dhcpv4.bound.noprobe_vs_dhclient", "ours-noprobe", "dhclient", "ms", ms)
line("dhcpv4.bound.noprobe_vs_udhcpc", "ours-noprobe", "udhcpc", "ms", ms)
line("dhcpv4.bound.noprobe_vs_dhcpcd_noarp_nodelay", "ours-noprobe", "dhcpcd-fast", "ms", ms)
line("dhcpv4.bound.probe_vs_dhcpcd_default", "ours", "dhcpcd", "ms", ms)
line("dhcpv4.bound.probe_vs_dhclient", "ours", "dhclient", "ms", ms)
for peer in ("dhclient", "dhcpcd", "dhcpcd-fast", "udhcpc"):
    line(f"dhcpv4.peak_rss.vs_{peer}", "ours", peer, "KiB", kib)
fastest = min((med[p][0], p) for p in ("dhclient", "dhcpcd", "dhcpcd-fast", "udhcpc") if p in med)
if "ours-noprobe" in med:
    o = med["ours-noprobe"][0]
    print(f"# target: without the probe <= fastest peer ({fastest[1]} {fastest[0]:.1f} ms): {o:.1f} ms [{'ok' if o <= fastest[0] else 'MISS'}]")
if "ours" in med:
    o = med["ours"][0]
    print(f"# target: with the RFC 5227 probe <= 1500 ms: {o:.1f} ms [{'ok' if o <= 1500 else 'MISS'}]")
    r = med["ours"][1]
    print(f"# target: peak RSS <= 4096 KiB: {r:.0f} KiB [{'ok' if r <= 4096 else 'MISS'}]")
PY
exit 0
