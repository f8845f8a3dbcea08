#!/usr/bin/env bash
# End-to-end: GET /connections against the real kernel (issue 11, connections). In a throw-away namespace
# with nf_conntrack_acct on: real traffic (UDP echo, TCP, ping, a DNAT-ed flow, a ct mark) plus 10k and
# then 100k synthetic entries created over ctnetlink (routerd-bench conntrack-fill); at each size routerd's
# items equal `conntrack -L -o extended` entry for entry (tuples, state, mark, zone, NAT, counters), read
# in source-prefix slices under the 10000 limit, and the filtered query equals `conntrack -L -p udp
# --dport N`. Also: 400s naming the parameter, routerctl get connections, the usage alarm at 90% of
# nf_conntrack_max, and 503 with the reason when routerd lacks CAP_NET_ADMIN (conntrack is built into
# this kernel, so every namespace has a table: a routerd that may not read it is the reproducible
# "conntrack cannot be read" case). Timings (debug build) are printed for information; bench/conntrack.sh
# measures them on a release build.
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RD_BIN="${RD_BIN:-$ROOT/target/debug}"
RD_SUFFIX="ct$$"
# shellcheck source=../lib/netns.sh
source "$HERE/lib/netns.sh"
# shellcheck source=../lib/assert.sh
source "$HERE/lib/assert.sh"
NOCAP_PID=""
cleanup() {
    [ -n "$NOCAP_PID" ] && kill "$NOCAP_PID" 2>/dev/null
    rd_cleanup
}
trap cleanup EXIT
export PATH="$RD_BIN:$PATH"
NS="$NS_ROUTER"
UDP_PORT=10003   # conntrack_fill.rs: UDP entries have destination ports 10000+i%500 with i%5 in {3,4}

in_ns() { ip netns exec "$NS" "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# median_ms N COMMAND...: runs COMMAND N times (output discarded), prints the median wall time in ms.
median_ms() {
    local n="$1" t s
    shift
    local times=()
    for _ in $(seq "$n"); do
        s=$(now_ms)
        "$@" >/dev/null 2>&1
        times+=($(($(now_ms) - s)))
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((n + 1) / 2))p"
}
conn() { rd_api GET "/connections?$1"; }

# compare_all LABEL: every entry through /connections in slices vs one conntrack -L.
compare_all() {
    local label="$1" total="$2" k pages=()
    in_ns conntrack -L -o extended >"$RD_TMP/conntrack.txt" 2>/dev/null
    conn "src=127.0.0.0/8&limit=10000" >"$RD_TMP/page-lo.json"
    # Every 10th synthetic entry is IPv6: at most 10000 of them, one page.
    conn "src=2001:db8::/32&limit=10000" >"$RD_TMP/page-v6.json"
    pages+=("$RD_TMP/page-lo.json" "$RD_TMP/page-v6.json")
    for k in $(seq 0 $(((total - 1) / 8000))); do
        conn "src=10.$((100 + k)).0.0/16&limit=10000" >"$RD_TMP/page-v4-$k.json"
        pages+=("$RD_TMP/page-v4-$k.json")
    done
    python3 "$HERE/e2e/conntrack_compare.py" "$RD_TMP/conntrack.txt" "${pages[@]}" | tee "$RD_TMP/compare.txt"
    check "$label: /connections equals conntrack -L -o extended entry for entry" \
        python3 "$HERE/e2e/conntrack_compare.py" "$RD_TMP/conntrack.txt" "${pages[@]}"
    in_ns conntrack -L -p udp --dport "$UDP_PORT" -o extended >"$RD_TMP/conntrack-udp.txt" 2>/dev/null
    conn "protocol=udp&port=$UDP_PORT&limit=10000" >"$RD_TMP/page-udp.json"
    python3 "$HERE/e2e/conntrack_compare.py" --filtered "$RD_TMP/conntrack-udp.txt" "$RD_TMP/page-udp.json"
    check "$label: protocol=udp&port=$UDP_PORT equals conntrack -L -p udp --dport $UDP_PORT" \
        python3 "$HERE/e2e/conntrack_compare.py" --filtered "$RD_TMP/conntrack-udp.txt" "$RD_TMP/page-udp.json"
    local ours_full ours_filtered theirs_full theirs_filtered
    ours_full=$(median_ms 1 conn "limit=10000")
    theirs_full=$(median_ms 1 in_ns conntrack -L -o extended)
    ours_filtered=$(median_ms 1 conn "protocol=udp&port=$UDP_PORT&limit=10000")
    theirs_filtered=$(median_ms 1 in_ns conntrack -L -p udp --dport "$UDP_PORT")
    echo "  timing ($label, debug build, one run): /connections?limit=10000 ${ours_full} ms vs conntrack -L -o extended ${theirs_full} ms;" \
        "filtered ${ours_filtered} ms vs conntrack -L -p udp --dport ${theirs_filtered} ms"
}

echo "== connections: namespace $NS with nf_conntrack_acct=1"
ip netns add "$NS"
ip -n "$NS" link set lo up
in_ns sysctl -qw net.netfilter.nf_conntrack_acct=1
for t in udp_timeout udp_timeout_stream icmp_timeout tcp_timeout_time_wait; do
    in_ns sysctl -qw "net.netfilter.nf_conntrack_$t=3600"
done
# Without a rule that uses conntrack the kernel tracks nothing in a namespace; this one also marks the
# TCP flows and DNATs UDP port 9002 to the echo server on 9000.
in_ns nft -f - <<'NFT'
table inet rdct {
    chain out { type filter hook output priority 0; ct state new tcp dport 9100 ct mark set 0x7; }
}
table ip rdctnat {
    chain out { type nat hook output priority -100; udp dport 9002 dnat to 127.0.0.1:9000; }
}
NFT
check "nftables rules loaded" in_ns nft list table inet rdct

echo "== real traffic: UDP echo, TCP, a DNAT-ed flow, ping"
in_ns python3 - <<'PY'
import socket, threading
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.1", 9000))
def echo():
    while True:
        data, peer = udp.recvfrom(2048)
        udp.sendto(data * 2, peer)
threading.Thread(target=echo, daemon=True).start()
tcp = socket.socket(); tcp.bind(("127.0.0.1", 9100)); tcp.listen(16)
def serve():
    while True:
        c, _ = tcp.accept()
        data = c.recv(4096)
        c.sendall(data * 3)
        c.close()
threading.Thread(target=serve, daemon=True).start()
for n in range(20):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
    for k in range(n % 4 + 1):
        s.sendto(b"x" * (10 + n), ("127.0.0.1", 9002 if n % 5 == 0 else 9000)); s.recvfrom(4096)
for n in range(10):
    c = socket.create_connection(("127.0.0.1", 9100)); c.sendall(b"y" * (100 + n))
    while c.recv(4096):
        pass
    c.close()
PY
in_ns ping -c 3 -i 0.2 -q 127.0.0.1 >/dev/null
check "routerd-bench conntrack-fill 10000" in_ns "$RD_BIN/routerd-bench" conntrack-fill --count 10000

rd_start --conntrack-poll-interval 500ms
check "routerd answers" rd_api GET /healthz

echo "== 10k entries"
compare_all "10k" 10000

echo "== 100k entries"
check "routerd-bench conntrack-fill 90000 more" in_ns "$RD_BIN/routerd-bench" conntrack-fill --first 10000 --count 90000
compare_all "100k" 100000
summary=$(conn "limit=1")
check_eq "count is the whole table" 100000 "$(echo "$summary" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["byFamily"]["ipv6"] * 10)')"
check "truncated with limit=1" sh -c "echo '$summary' | grep -q '\"truncated\":true'"

echo "== bad parameters are 400 naming the parameter"
for pair in "family=ipx|family" "limit=-1|limit" "limit=99999999999999999999999|limit" "src=10.0.0.300|src" \
    "dst=2001:db8::/129|dst" "protocol=tcpx|protocol" "port=70000|port" "state=open|state" "mark=x|mark"; do
    q="${pair%%|*}" name="${pair##*|}"
    body=$(curl -s --unix-socket "$RD_RUN/routerd-status.sock" -w ' %{http_code}' "http://r/api/control.routerd.net/v1alpha1/connections?$q")
    check "$q -> 400 naming $name" sh -c "echo '$body' | grep -q '\"query parameter $name:' && echo '$body' | grep -q ' 400\$'"
done

echo "== routerctl get connections"
out=$(routerctl get connections --protocol UDP --port "$UDP_PORT" --limit 3 2>&1)
echo "$out" | head -4
check "routerctl prints the summary and a table" sh -c "echo \"\$0\" | grep -q 'of [0-9]* entries' && echo \"\$0\" | grep -q '^PROTO'" "$out"
check "routerctl rows are the filtered ones" sh -c "[ \$(echo \"\$0\" | grep -c ':$UDP_PORT ') -eq 3 ]" "$out"
# A screen every 2 s; a debug build needs about a second per 100k-entry dump.
watch_out=$(timeout 7 routerctl get connections --limit 1 --watch 2>&1)
check "routerctl --watch redraws" sh -c "[ \$(echo \"\$0\" | grep -c 'entries') -ge 2 ]" "$watch_out"
check "routerctl: a bad family is refused by routerd" sh -c "! routerctl get connections --family ipx"

echo "== usage alarm at 90% of nf_conntrack_max"
max=$(echo "$summary" | python3 -c 'import json,sys; print(json.load(sys.stdin)["max"])')
count=$(conn "limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')
need=$((max * 9 / 10 - count + 500))
if [ "$need" -gt 400000 ]; then
    echo "SKIP usage alarm: nf_conntrack_max is $max here, too many entries to create"
else
    check "fill to 90% ($need more)" in_ns "$RD_BIN/routerd-bench" conntrack-fill --first 100000 --count "$need"
    check "routerd.conntrack.usage.high emitted" rd_wait_for "the usage event" 15 sh -c \
        "rd_api() { curl -sSf --unix-socket '$RD_RUN/routerd-status.sock' \"http://r/api/control.routerd.net/v1alpha1\$1\"; }; rd_api '/events?topic=routerd.conntrack.usage.high' | grep -q '\"max\":\"$max\"'"
    sleep 1.5
    check_eq "emitted once (hysteresis)" 1 "$(rd_api GET '/events?topic=routerd.conntrack.usage.high' | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')"
fi

echo "== routerd without CAP_NET_ADMIN: 503 with the reason"
mkdir -p "$RD_TMP/nocap"
ip netns exec "$NS" setpriv --bounding-set=-net_admin --inh-caps=-net_admin \
    "$RD_BIN/routerd" serve --runtime-dir "$RD_TMP/nocap/run" --state-dir "$RD_TMP/nocap/state" \
    >>"$RD_TMP/nocap.log" 2>&1 &
NOCAP_PID=$!
check "the capability-less routerd answers" rd_wait_for "routerd without CAP_NET_ADMIN" 10 \
    curl -sf --unix-socket "$RD_TMP/nocap/run/routerd-status.sock" http://r/api/control.routerd.net/v1alpha1/healthz
body=$(curl -s --unix-socket "$RD_TMP/nocap/run/routerd-status.sock" -w ' %{http_code}' http://r/api/control.routerd.net/v1alpha1/connections)
echo "  $body"
check "503 Unavailable naming CAP_NET_ADMIN" sh -c "echo '$body' | grep -q 'Unavailable' && echo '$body' | grep -q CAP_NET_ADMIN && echo '$body' | grep -q ' 503\$'"

echo "  (scenario took ${SECONDS}s)"
echo "connections: $E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
