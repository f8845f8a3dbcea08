#!/usr/bin/env bash
# Flow recorder benchmark (spec/benchmarks.md "flows"): conntrack NEW/DESTROY events turned into rows at
# RDBENCH_FLOW_RATES new flows/s (default 20000 40000) for RDBENCH_SECONDS (default 3) each. Every datagram
# of `routerd-bench udp-flood --ports` goes to another destination port, so each is a new conntrack flow
# through the router namespace. Prints per rate: flows sent, flows recorded open (NEW events seen),
# flows recorded closed after the kernel reaped them, overruns reported and resynchronisations.
# Needs root, nft, conntrack (to reap expired entries); release routerd and routerd-bench in $RD_BIN.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RD_BIN="${RD_BIN:-$ROOT/target/release}"
RATES="${RDBENCH_FLOW_RATES:-20000 40000}"
SECS="${RDBENCH_SECONDS:-3}"
# shellcheck source=../scripts/lib/netns.sh
source "$ROOT/scripts/lib/netns.sh"
# shellcheck source=../scripts/lib/flow_topology.sh
source "$ROOT/scripts/lib/flow_topology.sh"
trap rd_cleanup EXIT
fl_topology
rd_start
rd_api POST /apply '{"manifest": "apiVersion: net.routerd.net/v1alpha1\nkind: TrafficFlowLog\nmetadata: {name: flows}\nspec: {enabled: true}\n---\napiVersion: system.routerd.net/v1alpha1\nkind: LogRetention\nmetadata: {name: bench}\nspec:\n  trafficFlows: {maxRows: 1000000000}\n"}' >/dev/null
recording() { rd_api GET /resources/TrafficFlowLog/flows | grep -q '"reason":"Subscribed"'; }
rd_wait_for "the recorder" 15 recording || { tail "$RD_TMP/routerd.log"; exit 1; }
field() { rd_api GET /resources/TrafficFlowLog/flows | python3 -c "import json,sys; print(json.load(sys.stdin)['status'].get('$1', 0))"; }
db() { python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0] or 0)" "$RD_STATE/traffic-flows.db" "$1"; }
reap() { ip netns exec "$NS_ROUTER" conntrack -L >/dev/null 2>&1; }
printf '%-8s %8s %8s %8s %8s %8s %8s\n' rate sent opened closed open overrun resyncs
base=1024
for rate in $RATES; do
    n=$((rate * SECS))
    id0="$(db 'SELECT MAX(id) FROM flows')" v0="$(field overruns)" r0="$(field resyncs)"
    ip netns exec "$NS_LAN" "$RD_BIN/routerd-bench" udp-flood --target 198.51.100.1 --port "$base" \
        --ports "$n" --rate "$rate" --seconds "$SECS" --size 8 >/dev/null
    for _ in $(seq 30); do reap; sleep 1; [ "$(db "SELECT COUNT(*) FROM flows WHERE id > $id0 AND end IS NULL")" = 0 ] && break; done
    sleep 6
    total="$(db "SELECT COUNT(*) FROM flows WHERE id > $id0 AND peer_port >= $base AND peer_port < $((base + n))")"
    closed="$(db "SELECT COUNT(*) FROM flows WHERE id > $id0 AND end IS NOT NULL AND peer_port >= $base AND peer_port < $((base + n))")"
    open="$(db "SELECT COUNT(*) FROM flows WHERE id > $id0 AND end IS NULL")"
    printf '%-8s %8s %8s %8s %8s %8s %8s\n' "$rate" "$n" "$total" "$closed" "$open" "$(( $(field overruns) - v0 ))" "$(( $(field resyncs) - r0 ))"
done
