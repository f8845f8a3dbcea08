#!/usr/bin/env bash
# DHCPv6-PD benchmark (spec/benchmarks.md, row "DHCPv6-PD"): time from start to a bound delegated prefix,
# and peak RSS, of routerd-dhcpv6-client and of dhclient -6 -P (isc-dhcp-client) and dhcpcd
# (dhcpcd-base), all against kea-dhcp6 (scripts/lib/kea6.sh), in one run, in network namespaces made
# for it.
#
#   bench/dhcpv6.sh                     # build the release binary, 5 rounds, print the figures
#   RDBENCH_REPEATS=3 RDBENCH_NO_BUILD=1 bench/dhcpv6.sh
#   RDBENCH_OURS_NODELAY_CONF='' bench/dhcpv6.sh   # skip ours-nodelay; rapid/pref255 keep the delay
#
# Two links from the client namespace to the server namespace, each with its own kea-dhcp6:
#   link 1  kea with RFC 8415 behaviour: no Rapid Commit, no Preference option (so a client waits the
#           first Advertise retransmission time, 1 s, for better offers) — all peers and "ours".
#   link 2  kea with "rapid-commit": true and Preference 255 — "ours-rapid" (Solicit with Rapid Commit →
#           Reply) and "ours-pref255" (no Rapid Commit: a preference-255 Advertise ends the collection).
# Pools are /40s split into /56s; leases are 3000/4000 s, T1/T2 1000/2000 s, so nothing renews here.
#
# Each round runs every client once from a clean state (no remembered lease, so a full exchange), in
# turn, so peers are measured interleaved with ours. Before each clock starts, the client interface's
# link-local has finished DAD (no client waits for it, all start equal). The clock starts just before the
# client is exec'd; "bound" is when the client says so: the first routerd.dhcpv6.client.prefix.bound
# event in our events.jsonl (its own timestamp); the hook script of dhclient (reason BOUND6 with
# new_ip6_prefix) and of dhcpcd (a new_dhcp6_ia_pd1_prefix1 with reason BOUND6/DELEGATED6/REBOOT6),
# which records the time. Peak RSS is GNU time's %M for the process it ran (for dhcpcd, whose privsep
# helpers are forked children, the largest single process it waited for); ours is stopped through its
# API once bound, dhclient (-d stays up) killed, dhcpcd -1 exits by itself.
#
# Clients and variants:
#   ours          config {"spec": {"interface": "wan", "prefixLengthHint": 56, "rapidCommit": false}}:
#                 RFC 8415 timing (random 0-1 s before the first Solicit, 1 s Advertise collection)
#   ours-nodelay  the same plus RDBENCH_OURS_NODELAY_CONF (a JSON object merged into the config, default
#                 {"initialDelay": false}: no random wait before the first Solicit); skipped when empty
#   ours-rapid    link 2, "rapidCommit": true (plus RDBENCH_OURS_NODELAY_CONF when set)
#   ours-pref255  link 2, "rapidCommit": false (plus RDBENCH_OURS_NODELAY_CONF when set)
#   dhclient      -6 -P -d -1 with the Debian default dhclient.conf
#   dhcpcd        -6 -B -1, dhcpcd.conf "ia_pd" (needed to ask for a prefix at all)
#   dhcpcd-fast   dhcpcd.conf "ia_pd" + "nodelay" (no initial random delay)
# "ours*" are skipped (with a message) when the binary is missing; the peers are measured anyway.
#
# Lines: `name ours peer ratio unit` (ratio = ours / peer; lower is better for both time and memory),
# medians over the rounds; a `#` line per client with its own medians. Not a test: it always exits 0.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
REPEATS="${RDBENCH_REPEATS:-5}"
[ "$REPEATS" -ge 3 ] 2>/dev/null || REPEATS=3
if [ "$(id -u)" != 0 ]; then
    echo "bench/dhcpv6.sh needs root (network namespaces)" >&2
    exit 1
fi
need_pkgs=()
command -v kea-dhcp6 >/dev/null || need_pkgs+=(kea-dhcp6-server)
command -v dhclient >/dev/null || need_pkgs+=(isc-dhcp-client)
command -v dhcpcd >/dev/null || need_pkgs+=(dhcpcd-base)
[ -x /usr/bin/time ] || need_pkgs+=(time)
command -v curl >/dev/null || need_pkgs+=(curl)
command -v ss >/dev/null || need_pkgs+=(iproute2)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
    echo "installing ${need_pkgs[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
OURS="${RDBENCH_OURS:-$ROOT/target/release/routerd-dhcpv6-client}"
if [ "${RDBENCH_NO_BUILD:-0}" != 1 ] && [ -z "${RDBENCH_OURS:-}" ]; then
    (cd "$ROOT" && cargo build --release -q -p routerd-dhcpv6-client) ||
        echo "bench/dhcpv6.sh: building routerd-dhcpv6-client failed; measuring the peers only" >&2
fi
HAVE_OURS=1
if [ ! -x "$OURS" ]; then
    HAVE_OURS=0
    echo "bench/dhcpv6.sh: $OURS does not exist: skipping ours, ours-nodelay, ours-rapid, ours-pref255" >&2
fi
NODELAY="${RDBENCH_OURS_NODELAY_CONF-{\"initialDelay\": false\}}"
if [ "$HAVE_OURS" = 1 ] && [ -z "$NODELAY" ]; then
    echo "bench/dhcpv6.sh: RDBENCH_OURS_NODELAY_CONF is unset: skipping ours-nodelay; ours-rapid and" \
        "ours-pref255 keep the 0-1 s initial delay" >&2
fi
# shellcheck source=../scripts/lib/kea6.sh
. "$ROOT/scripts/lib/kea6.sh"

S=$$
NC="rdbench-d6-c-$S"
NS="rdbench-d6-s-$S"
IF1="bd6a$S"
IF2="bd6b$S"
TMP="$(mktemp -d /tmp/rdbench-dhcpv6-XXXX)"
# dhcpcd keeps its DUID in /var/lib/dhcpcd (no option moves it): remove it afterwards if we made it.
DHCPCD_DUID_EXISTED=0
[ -e /var/lib/dhcpcd/duid ] && DHCPCD_DUID_EXISTED=1
# shellcheck disable=SC2317 # run by the trap
cleanup() {
    rd_kea6_stop "$TMP/kea1" 2>/dev/null
    rd_kea6_stop "$TMP/kea2" 2>/dev/null
    for ns in "$NC" "$NS"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    rm -f /var/lib/dhcpcd/"$IF1"* /var/lib/dhcpcd/"$IF2"* /run/dhcpcd/"$IF1"* /run/dhcpcd/"$IF2"* 2>/dev/null
    [ "$DHCPCD_DUID_EXISTED" = 1 ] || rm -f /var/lib/dhcpcd/duid
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

ip netns add "$NC"
ip netns add "$NS"
ip -n "$NC" link set lo up
ip -n "$NS" link set lo up
ip link add "$IF1" netns "$NC" type veth peer name isp0 netns "$NS"
ip link add "$IF2" netns "$NC" type veth peer name isp1 netns "$NS"
ip -n "$NC" link set "$IF1" up
ip -n "$NC" link set "$IF2" up
if ! rd_kea6_start "$NS" isp0 "$TMP/kea1" 2001:db8:ffff::1/64; then
    echo "bench/dhcpv6.sh: kea-dhcp6 did not start; nothing measured" >&2
    exit 0
fi
LINK2=1
if ! RD_KEA6_RAPID_COMMIT=1 RD_KEA6_PREFERENCE=255 RD_KEA6_PD_PREFIX=2001:db8:3400:: \
    rd_kea6_start "$NS" isp1 "$TMP/kea2" 2001:db8:fffe::1/64; then
    echo "bench/dhcpv6.sh: the second kea-dhcp6 did not start; skipping ours-rapid and ours-pref255" >&2
    LINK2=0
fi

now_ns() { date +%s%N; }
# Hooks append the time to $TMP/NAME.mark once a prefix is bound.
cat >"$TMP/dhclient.hook" <<SH
#!/bin/sh
case "\$reason" in BOUND6) [ -n "\${new_ip6_prefix:-}" ] && date +%s%N >>"$TMP/dhclient.mark" ;; esac
exit 0
SH
for c in dhcpcd dhcpcd-fast; do
    cat >"$TMP/$c.hook" <<SH
#!/bin/sh
case "\$reason" in BOUND6|DELEGATED6|REBOOT6) [ -n "\${new_dhcp6_ia_pd1_prefix1:-}" ] && date +%s%N >>"$TMP/$c.mark" ;; esac
exit 0
SH
done
chmod +x "$TMP"/*.hook
printf 'ia_pd\n' >"$TMP/dhcpcd.conf"
printf 'ia_pd\nnodelay\n' >"$TMP/dhcpcd-fast.conf"

rss_of() { grep -Eo '^[0-9]+$' "$1" 2>/dev/null | tail -1; }
wait_file() { for _ in $(seq "$2"); do [ -s "$1" ] && return 0; sleep 0.005; done; return 1; }
# wait_dad IFACE: the link-local exists and is no longer tentative.
wait_dad() {
    rd_wait_linklocal "$NC" "$1" 10 && return 0
    echo "bench/dhcpv6.sh: $1 has no usable link-local after 10 s" >&2
    return 1
}
clean_state() {
    local i
    for i in "$IF1" "$IF2"; do ip -n "$NC" addr flush dev "$i" scope global 2>/dev/null; done
    # dhcpcd -1 leaves an unreachable route for the delegated prefix behind.
    ip -n "$NC" -6 route flush proto dhcp 2>/dev/null
    rm -f /var/lib/dhcpcd/"$IF1"* /var/lib/dhcpcd/"$IF2"* 2>/dev/null
    rm -rf "$TMP/state" "$TMP"/*.mark "$TMP"/*.lease "$TMP"/*.pid.client
}
# stop_tree PID: TERM to PID's children (GNU time's child is the client), then wait for PID.
stop_tree() {
    local p="$1" c
    for c in $(pgrep -P "$p"); do kill "$c" 2>/dev/null; done
    for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.01; done
    for c in $(pgrep -P "$p"); do kill -9 "$c" 2>/dev/null; done
    wait "$p" 2>/dev/null
}

# run_ours NAME IFACE CONFIG_JSON: prints "bound_us rss_kib" (or "- -").
run_ours() {
    local name="$1" iface="$2"
    clean_state
    wait_dad "$iface" || { echo "- -"; return; }
    local dir="$TMP/state" sock="$TMP/ours.sock"
    mkdir -p "$dir"
    printf '%s\n' "$3" >"$TMP/$name.json"
    rm -f "$sock"
    local t0
    t0="$(now_ns)"
    ip netns exec "$NC" /usr/bin/time -f %M -o "$TMP/$name.time" "$OURS" --name bench \
        --config "$TMP/$name.json" --socket "$sock" --state-dir "$dir" >"$TMP/$name.log" 2>&1 &
    local p=$!
    local line=""
    for _ in $(seq 2000); do
        line="$(grep -m1 '"routerd.dhcpv6.client.prefix.bound"' "$dir/events.jsonl" 2>/dev/null)"
        [ -n "$line" ] && break
        kill -0 "$p" 2>/dev/null || break
        sleep 0.005
    done
    curl -s --max-time 5 --unix-socket "$sock" -X POST http://x/v1/commands/stop >/dev/null
    for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.01; done
    stop_tree "$p"
    if [ -z "$line" ]; then
        echo "  $name: no prefix.bound event; log tail: $(tail -2 "$TMP/$name.log" | tr '\n' ' ')" >&2
        echo "- -"
        return
    fi
    local b
    b="$(python3 - "$line" <<'PY'
import json, re, sys
from datetime import datetime
t = json.loads(sys.argv[1])["time"]
m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", t)
base = datetime.fromisoformat(m.group(1) + ("+00:00" if m.group(3) == "Z" else m.group(3)))
print(int(base.timestamp()) * 10**9 + int((m.group(2) or "0").ljust(9, "0")[:9]))
PY
)" || { echo "- -"; return; }
    echo "$(((b - t0) / 1000)) $(rss_of "$TMP/$name.time")"
}

# ours_conf RAPID(0/1) nodelay|"" IFACE: the daemon config.json (the no-delay knob merged in with "nodelay").
ours_conf() {
    python3 - "$1" "${2:-}" "$NODELAY" "$3" <<'PY'
import json, sys
rapid, nodelay, extra, ifname = sys.argv[1] == "1", sys.argv[2] == "nodelay", sys.argv[3], sys.argv[4]
conf = {"spec": {"interface": "wan", "prefixLengthHint": 56, "rapidCommit": rapid}, "ifname": ifname}
def merge(a, b):
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(a.get(k), dict):
            merge(a[k], v)
        else:
            a[k] = v
if nodelay and extra:
    merge(conf, json.loads(extra))
print(json.dumps(conf))
PY
}

# run_peer NAME IFACE COMMAND...: runs a peer under GNU time, waits for its hook; prints "bound_us rss_kib".
run_peer() {
    local name="$1" iface="$2"
    shift 2
    clean_state
    wait_dad "$iface" || { echo "- -"; return; }
    local t0
    t0="$(now_ns)"
    ip netns exec "$NC" /usr/bin/time -f %M -o "$TMP/$name.time" "$@" >"$TMP/$name.log" 2>&1 &
    local p=$!
    wait_file "$TMP/$name.mark" 2000
    local b
    b="$(head -1 "$TMP/$name.mark" 2>/dev/null)"
    # dhcpcd -1 exits by itself once bound; dhclient -d stays in the foreground.
    if [ "$name" = dhclient ]; then sleep 0.05; fi
    for _ in $(seq 300); do
        [ "$name" = dhclient ] && break
        kill -0 "$p" 2>/dev/null || break
        sleep 0.01
    done
    stop_tree "$p"
    if [ -z "$b" ]; then
        echo "  $name: no prefix bound; log tail: $(tail -2 "$TMP/$name.log" | tr '\n' ' ')" >&2
        echo "- -"
        return
    fi
    echo "$(((b - t0) / 1000)) $(rss_of "$TMP/$name.time")"
}

measure() {
    case "$1" in
    ours) run_ours ours "$IF1" "$(ours_conf 0 "" "$IF1")" ;;
    ours-nodelay) run_ours ours-nodelay "$IF1" "$(ours_conf 0 nodelay "$IF1")" ;;
    ours-rapid) run_ours ours-rapid "$IF2" "$(ours_conf 1 nodelay "$IF2")" ;;
    ours-pref255) run_ours ours-pref255 "$IF2" "$(ours_conf 0 nodelay "$IF2")" ;;
    dhclient) run_peer dhclient "$IF1" dhclient -6 -P -d -1 -lf "$TMP/dhclient.lease" \
        -pf "$TMP/dhclient.pid.client" -sf "$TMP/dhclient.hook" "$IF1" ;;
    dhcpcd) run_peer dhcpcd "$IF1" dhcpcd -6 -B -1 -f "$TMP/dhcpcd.conf" -c "$TMP/dhcpcd.hook" "$IF1" ;;
    dhcpcd-fast) run_peer dhcpcd-fast "$IF1" dhcpcd -6 -B -1 -f "$TMP/dhcpcd-fast.conf" \
        -c "$TMP/dhcpcd-fast.hook" "$IF1" ;;
    esac
}

CLIENTS=()
if [ "$HAVE_OURS" = 1 ]; then
    CLIENTS+=(ours)
    [ -n "$NODELAY" ] && CLIENTS+=(ours-nodelay)
    [ "$LINK2" = 1 ] && CLIENTS+=(ours-rapid ours-pref255)
fi
CLIENTS+=(dhclient dhcpcd dhcpcd-fast)
echo "dhcpv6 bench: $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), $REPEATS rounds," \
    "kea $(kea-dhcp6 -v 2>/dev/null), $(dhcpcd --version 2>/dev/null | head -1)" >&2
# One unmeasured round: first runs page the binaries in and make kea allocate.
for c in "${CLIENTS[@]}"; do measure "$c" >/dev/null; done
: >"$TMP/results"
for r in $(seq "$REPEATS"); do
    for c in "${CLIENTS[@]}"; do
        read -r us rss < <(measure "$c")
        echo "$c ${us:--} ${rss:--}" >>"$TMP/results"
        echo "  round $r $c: $(awk -v u="${us:--}" 'BEGIN { if (u == "-") print "no prefix"; else printf "%.1f ms", u / 1000 }') ${rss:--} KiB" >&2
    done
done

python3 - "$TMP/results" "$HAVE_OURS" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, us, rss = line.split()
    if us == "-" or rss == "-":
        continue
    rows.setdefault(name, ([], []))
    rows[name][0].append(int(us) / 1000.0)
    rows[name][1].append(int(rss))
med = {k: (statistics.median(v[0]), statistics.median(v[1])) for k, v in rows.items()}
ms = lambda v: f"{v:.1f}"
kib = lambda v: f"{v:.0f}"
def line(name, ours, peer, unit, fmt):
    i = 0 if unit == "ms" else 1
    o = fmt(med[ours][i]) if ours in med else "-"
    p = fmt(med[peer][i]) if peer in med else "-"
    if ours in med and peer in med:
        print(f"{name} {o} {p} {med[ours][i] / med[peer][i]:.2f}  {unit}")
    else:
        print(f"{name} {o} {p} -  {unit}  (no result for {ours if ours not in med else peer})")
n = min((len(v[0]) for v in rows.values()), default=0)
print("# name ours peer ratio unit (median of %d rounds; ratio = ours/peer, lower is better)" % n)
line("dhcpv6.bound.default_vs_dhcpcd", "ours", "dhcpcd", "ms", ms)
line("dhcpv6.bound.default_vs_dhclient", "ours", "dhclient", "ms", ms)
line("dhcpv6.bound.nodelay_vs_dhcpcd_nodelay", "ours-nodelay", "dhcpcd-fast", "ms", ms)
line("dhcpv6.bound.rapid_vs_dhcpcd_nodelay", "ours-rapid", "dhcpcd-fast", "ms", ms)
line("dhcpv6.bound.pref255_vs_dhcpcd_nodelay", "ours-pref255", "dhcpcd-fast", "ms", ms)
for peer in ("dhclient", "dhcpcd", "dhcpcd-fast"):
    line(f"dhcpv6.peak_rss.vs_{peer}", "ours", peer, "KiB", kib)
for c in ("ours", "ours-nodelay", "ours-rapid", "ours-pref255", "dhclient", "dhcpcd", "dhcpcd-fast"):
    if c in rows:
        t = sorted(rows[c][0])
        print(f"# {c}: bound {med[c][0]:.1f} ms (min {t[0]:.1f}, max {t[-1]:.1f}), peak RSS {med[c][1]:.0f} KiB, {len(t)} rounds")
if sys.argv[2] != "1":
    print("# ours: not measured (no routerd-dhcpv6-client binary)")
if "ours" in med and "dhcpcd" in med:
    o, p = med["ours"][0], med["dhcpcd"][0]
    print(f"# target: RFC 8415 timing <= dhcpcd ({p:.1f} ms): {o:.1f} ms [{'ok' if o <= p else 'MISS'}]")
for v in ("ours-rapid", "ours-pref255"):
    if v in med:
        o = med[v][0]
        print(f"# target: {v} <= 50 ms: {o:.1f} ms [{'ok' if o <= 50 else 'MISS'}]")
if "ours" in med:
    r = med["ours"][1]
    print(f"# target: peak RSS <= 3072 KiB: {r:.0f} KiB [{'ok' if r <= 3072 else 'MISS'}]")
PY
exit 0
