#!/usr/bin/env bash
# bench/nft_apply.sh — the firewall row of spec/benchmarks.md: applying a 1,000-rule firewall through
# routerd (one `nft -f` transaction of the whole inet routerd table) next to `nft -f` of the same table
# by hand (the floor).
#
# In a fresh namespace routerd runs with two zones and 998 FirewallRules (wan → router, tcp, one port
# each): 1,000 resources, 1,000+ rules in the table. Each round applies the set with every port shifted
# (so the table really changes) and measures:
#   apply→applied  from `POST /apply` (routerctl apply) to the routerd.firewall.applied event of that
#                  table (long-poll on /events): validation, ledger commit, render, nft, status
#   nft step       the nft -f call inside routerd (the event's nftMicros attribute)
#   by hand        `nft -f` of the same table (`nft list table inet routerd` as an atomic replacement
#                  script: create, delete, recreate) in the same namespace
# Prints `name ours peer ratio unit` lines (medians of RDBENCH_REPEATS rounds). Never fails on a figure.
#
# Environment: RDBENCH_REPEATS=5, RDBENCH_NO_BUILD=1 (use the binaries as they are), RDBENCH_BIN (the
# directory of routerd and routerctl; default target/release).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPEATS=${RDBENCH_REPEATS:-5}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${RDBENCH_BIN:-$TARGET_DIR/release}
RULES=${RDBENCH_FW_RULES:-998}
NS="rdbench-fw-$$"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rdbench-fw.XXXXXX")
chmod 0755 "$TMP"
ROUTERD_PID=""
cleanup() {
    [ -n "$ROUTERD_PID" ] && kill "$ROUTERD_PID" 2>/dev/null && wait "$ROUTERD_PID" 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

if [ "$(id -u)" != 0 ]; then echo "bench/nft_apply.sh needs root (network namespace, nft)" >&2; exit 0; fi
if [ -z "${RDBENCH_NO_BUILD:-}" ]; then
    (cd "$ROOT" && cargo build --release --locked -p routerd -p routerctl) || { echo "build failed" >&2; exit 0; }
fi
[ -x "$BIN/routerd" ] || { echo "no routerd in $BIN" >&2; exit 0; }
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add fwb-lan type veth peer name fwb-wan
ip -n "$NS" link set fwb-lan up
ip -n "$NS" link set fwb-wan up

RUN="$TMP/run"
export ROUTERD_RUNTIME_DIR="$RUN"
ip netns exec "$NS" "$BIN/routerd" serve --runtime-dir "$RUN" --state-dir "$TMP/state" >"$TMP/routerd.log" 2>&1 &
ROUTERD_PID=$!
for _ in $(seq 200); do [ -S "$RUN/routerd-status.sock" ] && break; sleep 0.05; done
api() { curl -sS --max-time 70 --unix-socket "$RUN/routerd-status.sock" "http://routerd/api/control.routerd.net/v1alpha1$1"; }
now_us() { echo $(($(date +%s%N) / 1000)); }

# config OFFSET: the 1,000-resource set with ports starting at OFFSET.
config() {
    python3 - "$1" "$RULES" <<'PY'
import sys
off, n = int(sys.argv[1]), int(sys.argv[2])
docs = ["""apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: lan}
spec: {ifname: fwb-lan}""", """apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: wan}
spec: {ifname: fwb-wan}""", """apiVersion: firewall.routerd.net/v1alpha1
kind: FirewallZone
metadata: {name: lan}
spec: {interfaces: [lan], input: accept}""", """apiVersion: firewall.routerd.net/v1alpha1
kind: FirewallZone
metadata: {name: wan}
spec: {interfaces: [wan], log: true}"""]
for i in range(n):
    docs.append(f"""apiVersion: firewall.routerd.net/v1alpha1
kind: FirewallRule
metadata: {{name: r{i:04d}}}
spec: {{from: wan, to: router, protocol: tcp, ports: [{off + i}], sourceRanges: [198.51.100.0/24], action: accept}}""")
print("\n---\n".join(docs))
PY
}

cursor() { api "/events?latest=true&limit=1" | python3 -c "import json,sys; print(json.load(sys.stdin)['cursor'])"; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

: >"$TMP/ours"; : >"$TMP/nftstep"; : >"$TMP/hand"
for round in $(seq 0 "$REPEATS"); do
    config $((10000 + round * 1000)) >"$TMP/fw.yaml"
    c=$(cursor)
    t0=$(now_us)
    "$BIN/routerctl" apply -f "$TMP/fw.yaml" >/dev/null || { echo "apply failed" >&2; exit 0; }
    ev=$(api "/events?since=$c&topic=routerd.firewall.applied&wait=60s")
    t1=$(now_us)
    nft_us=$(echo "$ev" | python3 -c "import json,sys; i=json.load(sys.stdin)['items']; print(i[-1]['attributes']['nftMicros'] if i else '')")
    rules=$(echo "$ev" | python3 -c "import json,sys; i=json.load(sys.stdin)['items']; print(i[-1]['attributes']['rules'] if i else '')")
    [ -n "$nft_us" ] || { echo "no routerd.firewall.applied event in round $round" >&2; tail -5 "$TMP/routerd.log" >&2; exit 0; }
    { echo "table inet routerd {}"; echo "delete table inet routerd"; ip netns exec "$NS" nft list table inet routerd; } >"$TMP/table.nft"
    h0=$(now_us)
    ip netns exec "$NS" nft -f "$TMP/table.nft"
    h1=$(now_us)
    # Round 0 is the warm-up (first table, empty ledger).
    if [ "$round" -gt 0 ]; then
        echo $((t1 - t0)) >>"$TMP/ours"
        echo "$nft_us" >>"$TMP/nftstep"
        echo $((h1 - h0)) >>"$TMP/hand"
    fi
    echo "round $round: $rules rules, apply→applied $(((t1 - t0) / 1000)) ms, nft step $((nft_us / 1000)) ms, by hand $(((h1 - h0) / 1000)) ms" >&2
done
ours=$(median <"$TMP/ours"); step=$(median <"$TMP/nftstep"); hand=$(median <"$TMP/hand")
ms() { python3 -c "print($1/1000)"; }
ratio() { python3 -c "print(f'{$1/$2:.2f}' if $2 else '-')"; }
printf '%-32s %10s %10s %6s %s\n' name ours peer ratio unit
printf '%-32s %10.1f %10.1f %6s %s\n' "fw-apply-1000 (apply→applied)" "$(ms "$ours")" "$(ms "$hand")" "$(ratio "$ours" "$hand")" "ms (peer: nft -f by hand)"
printf '%-32s %10.1f %10.1f %6s %s\n' "fw-nft-step-1000" "$(ms "$step")" "$(ms "$hand")" "$(ratio "$step" "$hand")" "ms (peer: nft -f by hand)"
