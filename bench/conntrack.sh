#!/usr/bin/env bash
# bench/conntrack.sh — the "conntrack" row of spec/benchmarks.md: GET /connections against
# `conntrack -L` on the same table, in the same run.
#
# In a fresh namespace (nf_conntrack_acct on) the table is filled over ctnetlink with `routerd-bench
# conntrack-fill` (the deterministic population of crates/routerd-bench/src/conntrack_fill.rs) to 10k and
# then 100k entries. At each size, interleaved round by round (RDBENCH_REPEATS rounds, medians):
#   full       curl GET /connections?limit=10000 (whole table walked, 10000 items of JSON)
#   limit1000  curl GET /connections?limit=1000
#   filtered   curl GET /connections?protocol=udp&port=10003&limit=10000
# against `conntrack -L -o extended` (full, limit1000: conntrack has no limit) and `conntrack -L -p udp
# --dport 10003` (filtered), output to /dev/null, each through `ip netns exec`, wall time of the whole
# command. Both sides pay the kernel's dump of every entry (about 90% of our time in a perf profile).
# Prints `name ours peer ratio unit target` lines. Never fails on a figure (benchmarks are not tests).
#
# Environment: RDBENCH_REPEATS=5, RDBENCH_NO_BUILD=1 (use target/release as is).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPEATS=${RDBENCH_REPEATS:-5}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release
NS="rdbench-ct-$$"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rdbench-ct.XXXXXX")
ROUTERD_PID=""
cleanup() {
    [ -n "$ROUTERD_PID" ] && kill "$ROUTERD_PID" 2>/dev/null && wait "$ROUTERD_PID" 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

if [ "$(id -u)" != 0 ]; then echo "bench/conntrack.sh needs root (network namespace, ctnetlink)" >&2; exit 0; fi
if [ -z "${RDBENCH_NO_BUILD:-}" ]; then
    (cd "$ROOT" && cargo build --release --locked -p routerd -p routerd-bench) || { echo "build failed" >&2; exit 0; }
fi
ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" sysctl -qw net.netfilter.nf_conntrack_acct=1
ip netns exec "$NS" "$BIN/routerd" serve --runtime-dir "$TMP/run" --state-dir "$TMP/state" >"$TMP/routerd.log" 2>&1 &
ROUTERD_PID=$!
"$BIN/routerd-bench" wait-ready --socket "$TMP/run/routerd-status.sock" || { echo "routerd did not start" >&2; exit 0; }
SOCK="$TMP/run/routerd-status.sock"
API=http://routerd/api/control.routerd.net/v1alpha1

ms() { # ms COMMAND...: wall time in ms (fractional)
    local s e
    s=$(date +%s%N)
    "$@" >/dev/null 2>&1
    e=$(date +%s%N)
    awk -v s="$s" -v e="$e" 'BEGIN { printf "%.1f\n", (e - s) / 1e6 }'
}
ours() { curl -sf --unix-socket "$SOCK" -o /dev/null "$API/connections?$1"; }
peer() { ip netns exec "$NS" conntrack -L "$@"; }

measure() { # measure SIZE
    local size="$1" r
    : >"$TMP/rounds"
    for r in $(seq "$REPEATS"); do
        echo "full $(ms ours 'limit=10000') $(ms peer -o extended)" >>"$TMP/rounds"
        echo "limit1000 $(ms ours 'limit=1000') $(ms peer -o extended)" >>"$TMP/rounds"
        echo "filtered $(ms ours 'protocol=udp&port=10003&limit=10000') $(ms peer -p udp --dport 10003)" >>"$TMP/rounds"
    done
    python3 - "$TMP/rounds" "$size" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, ours, peer = line.split()
    rows.setdefault(name, ([], []))
    rows[name][0].append(float(ours)); rows[name][1].append(float(peer))
for name, (ours, peer) in rows.items():
    o, p = statistics.median(ours), statistics.median(peer)
    print(f"conntrack-{sys.argv[2]}-{name:<10} {o:8.1f}  {p:8.1f}  {p / o:5.2f}x  ms  >=2x")
PY
}

echo "name                    ours(ms)  conntrack(ms)  ratio  unit  target   ($REPEATS rounds, medians; $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
ip netns exec "$NS" "$BIN/routerd-bench" conntrack-fill --count 10000
measure 10k
ip netns exec "$NS" "$BIN/routerd-bench" conntrack-fill --first 10000 --count 90000
measure 100k
