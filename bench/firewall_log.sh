#!/usr/bin/env bash
# Firewall log benchmark (spec/benchmarks.md "firewall log"): the highest NFLOG packet rate captured with
# zero loss, routerd (FirewallEventLog -> firewall-logs.db) against ulogd2 with JSON output (tuned as in
# benchmarks.md: no sync, 8 MiB buffer, qthreshold 64), in the same run on the same traffic.
#
# A router namespace between a client and a server (scripts/lib/flow_topology.sh); one nft rule logs every
# UDP packet to port 5201 to NFLOG group 8 (ulogd2), the next logs it to group 7 (routerd) and counts it
# (the packets then pass to the server), so both loggers see
# exactly the packets of the counter. `routerd-bench udp-flood` sends 18-byte datagrams at
# a fixed packet rate for RDBENCH_SECONDS (default 3) per step; a logger has zero loss at a step when its rows
# equal the counter's increase. Above its zero-loss rate, routerd's status must report the loss (lost or
# overruns); that is printed too.
#
#   RDBENCH_RATES="50000 100000 150000 200000 300000" RDBENCH_SECONDS=3 bench/firewall_log.sh
# Needs root, nft, ulogd2 + ulogd2-json. Uses $RD_BIN (default target/release).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RD_BIN="${RD_BIN:-$ROOT/target/release}"
RATES="${RDBENCH_RATES:-50000 100000 150000 200000 250000 300000}"
SECONDS_PER_STEP="${RDBENCH_SECONDS:-3}"
# shellcheck source=../scripts/lib/netns.sh
source "$ROOT/scripts/lib/netns.sh"
# shellcheck source=../scripts/lib/flow_topology.sh
source "$ROOT/scripts/lib/flow_topology.sh"
trap rd_cleanup EXIT
for tool in nft ulogd; do
    command -v "$tool" >/dev/null || { echo "firewall-log bench: $tool is missing (apt-get install nftables ulogd2 ulogd2-json)"; exit 1; }
done
[ -x "$RD_BIN/routerd" ] && [ -x "$RD_BIN/routerd-bench" ] || { echo "firewall-log bench: no $RD_BIN/routerd or routerd-bench (cargo build --release -p routerd -p routerd-bench)"; exit 1; }

fl_topology
ip netns exec "$NS_ROUTER" nft -f - <<'NFT'
table inet rdbench {
    chain forward_log {
        type filter hook forward priority 10; policy accept;
        udp dport 5201 log prefix "routerd:drop:bench" group 8
        udp dport 5201 counter log prefix "routerd:drop:bench" group 7
    }
}
NFT
ULOG_DIR="$RD_TMP/ulogd"
mkdir -p "$ULOG_DIR"
PLUGINS=/usr/lib/x86_64-linux-gnu/ulogd
cat >"$ULOG_DIR/ulogd.conf" <<CONF
[global]
logfile="$ULOG_DIR/ulogd.log"
loglevel=5
plugin="$PLUGINS/ulogd_inppkt_NFLOG.so"
plugin="$PLUGINS/ulogd_raw2packet_BASE.so"
plugin="$PLUGINS/ulogd_filter_IFINDEX.so"
plugin="$PLUGINS/ulogd_filter_IP2STR.so"
plugin="$PLUGINS/ulogd_filter_HWHDR.so"
plugin="$PLUGINS/ulogd_output_JSON.so"
stack=log2:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,mac2str1:HWHDR,json1:JSON
[log2]
group=8
netlink_socket_buffer_size=8388608
netlink_socket_buffer_maxsize=8388608
netlink_qthreshold=64
[json1]
sync=0
file="$ULOG_DIR/ulogd.json"
CONF
ip netns exec "$NS_ROUTER" ulogd -c "$ULOG_DIR/ulogd.conf" >>"$ULOG_DIR/stdout.log" 2>&1 &
ULOGD_PID=$!
RD_PIDS+=("$ULOGD_PID")
rd_start
# Retention must not prune rows while they are counted.
rd_api POST /apply '{"manifest": "apiVersion: firewall.routerd.net/v1alpha1\nkind: FirewallEventLog\nmetadata: {name: fw}\nspec: {nflogGroup: 7}\n---\napiVersion: system.routerd.net/v1alpha1\nkind: LogRetention\nmetadata: {name: bench}\nspec:\n  firewallLogs: {maxRows: 1000000000}\n"}' >/dev/null
bound() { rd_api GET /resources/FirewallEventLog/fw | grep -q '"reason":"Bound"'; }
rd_wait_for "routerd to bind group 7" 15 bound || { echo "routerd did not bind"; tail "$RD_TMP/routerd.log"; exit 1; }
sleep 1

status_field() { rd_api GET /resources/FirewallEventLog/fw | python3 -c "import json,sys; print(json.load(sys.stdin)['status'].get('$1', 0))"; }
counter() { ip netns exec "$NS_ROUTER" nft list chain inet rdbench forward_log | sed -n 's/.*counter packets \([0-9]*\).*/\1/p'; }
# With sync=0 the JSON plugin writes through stdio; SIGHUP makes it reopen (and so flush) its file.
ulog_rows() { kill -HUP "$ULOGD_PID" 2>/dev/null; sleep 0.1; [ -f "$ULOG_DIR/ulogd.json" ] && wc -l <"$ULOG_DIR/ulogd.json" || echo 0; }
our_rows() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT MAX(id) FROM firewall_logs").fetchone()[0] or 0)' "$RD_STATE/firewall-logs.db"; }
settle() {
    # Until both loggers stop growing (their queues drained).
    local a b
    for _ in $(seq 40); do
        a="$(our_rows) $(ulog_rows)"
        sleep 0.5
        b="$(our_rows) $(ulog_rows)"
        [ "$a" = "$b" ] && return
    done
}

best_ours=0
best_ulogd=0
printf '%-10s %10s %10s %10s %10s %8s %8s %8s\n' target_pps sent_pps logged ours ulogd2 lost overrun dropped
for rate in $RATES; do
    c0="$(counter)" o0="$(our_rows)" u0="$(ulog_rows)" l0="$(status_field lost)" v0="$(status_field overruns)" d0="$(status_field rowsDropped)"
    ip netns exec "$NS_LAN" "$RD_BIN/routerd-bench" udp-flood --target 198.51.100.1 --port 5201 \
        --rate "$rate" --seconds "$SECONDS_PER_STEP" --size 18 >>"$RD_TMP/flood.log"
    settle
    sleep 6   # the status refresh (5 s) carries the loss counters
    c1="$(counter)" o1="$(our_rows)" u1="$(ulog_rows)" l1="$(status_field lost)" v1="$(status_field overruns)" d1="$(status_field rowsDropped)"
    logged=$((c1 - c0)) ours=$((o1 - o0)) ulog=$((u1 - u0))
    sent_pps=$((logged / SECONDS_PER_STEP))
    printf '%-10s %10s %10s %10s %10s %8s %8s %8s\n' "$rate" "$sent_pps" "$logged" "$ours" "$ulog" "$((l1 - l0))" "$((v1 - v0))" "$((d1 - d0))"
    [ "$ours" -eq "$logged" ] && [ "$sent_pps" -gt "$best_ours" ] && best_ours=$sent_pps
    [ "$ulog" -eq "$logged" ] && [ "$sent_pps" -gt "$best_ulogd" ] && best_ulogd=$sent_pps
    if [ "$ours" -lt "$logged" ] && [ $((l1 - l0 + v1 - v0 + d1 - d0)) -eq 0 ]; then
        echo "  WARNING: routerd missed $((logged - ours)) packets without reporting them"
    fi
done
ratio="n/a"
[ "$best_ulogd" -gt 0 ] && ratio="$(python3 -c "print(f'{$best_ours / $best_ulogd:.2f}')")"
echo "firewall-log zero-loss packets/s: ours $best_ours, ulogd2-json $best_ulogd, ratio $ratio (target >= 100000 and >= 1.5x)"
