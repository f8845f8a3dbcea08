#!/usr/bin/env bash
# DNS benchmark (benchmarks.md, row "DNS"): queries/s answered by routerd-dns-resolver with its query log
# on and off, against dnsmasq (log-queries on and off) and unbound (log-queries on), all serving the same
# 100 local names, measured with dnsperf in the same run, in one network namespace made here (loopback
# only). Each server runs alone while measured; each figure is the median of RDBENCH_REPEATS rounds.
# A second figure measures cache hits: ours and dnsmasq forwarding the same names to an upstream dnsmasq,
# after one warm-up pass, so every measured query is answered from the cache.
#
# Prints `dns <what> <queries/s>` lines, then the ratios against the peers. Not a test: exits 0 even when
# a target is missed.
#
# Environment: RDBENCH_REPEATS=3, RDBENCH_SECONDS=8 (dnsperf -l), RDBENCH_NO_BUILD=1 (use the release
# binary already built), RDBENCH_CLIENTS=4 (dnsperf -c), RDBENCH_OUTSTANDING=100 (dnsperf -q).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
[ "$(id -u)" = 0 ] || { echo "bench/dns.sh: needs root (network namespace)" >&2; exit 1; }
REPEATS=${RDBENCH_REPEATS:-3}
SECONDS_PER_RUN=${RDBENCH_SECONDS:-8}
CLIENTS=${RDBENCH_CLIENTS:-4}
OUTSTANDING=${RDBENCH_OUTSTANDING:-100}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
if [ -z "${RDBENCH_NO_BUILD:-}" ]; then
    cargo build --release --locked -p routerd-dns-resolver 2>&1 | tail -1
fi
OURS="$TARGET_DIR/release/routerd-dns-resolver"
for need in "$OURS" "$(command -v dnsperf)" "$(command -v dnsmasq)"; do
    [ -x "$need" ] || { echo "bench/dns.sh: SKIP missing ${need:-a tool} (scripts/lib/install-deps.sh)"; exit 0; }
done
UNBOUND="$(command -v unbound || true)"

NS="rd-dnsbench-$$"
TMP="$(mktemp -d /tmp/rd-dnsbench-XXXX)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
    sleep 0.3
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
    for p in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    ip netns del "$NS" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
ip netns add "$NS"
ip -n "$NS" link set lo up
# Background servers are started with `ip netns exec` itself (not through a shell function), so `$!` is
# the server's own pid and stopping it really stops it.
inns() { ip netns exec "$NS" "$@"; }

NAMES=100
: >"$TMP/queries.txt"
records=""
dnsmasq_hosts=()
unbound_data=""
for i in $(seq 0 $((NAMES - 1))); do
    name="host$i.bench.lan"
    addr="10.0.$((i / 256)).$((i % 256))"
    echo "$name A" >>"$TMP/queries.txt"
    records="$records{\"name\": \"$name\", \"type\": \"A\", \"value\": \"$addr\"},"
    dnsmasq_hosts+=("--host-record=$name,$addr")
    unbound_data="$unbound_data  local-data: \"$name. 300 IN A $addr\"
"
done
records="${records%,}"

# median of the numbers on stdin
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print 0}'; }
# perf PORT: queries/s of one dnsperf run against 127.0.0.1:PORT
perf() {
    inns dnsperf -s 127.0.0.1 -p "$1" -d "$TMP/queries.txt" -l "$SECONDS_PER_RUN" -c "$CLIENTS" \
        -q "$OUTSTANDING" 2>&1 | tee -a "$TMP/dnsperf.log" | awk '/Queries per second:/ {printf "%d\n", $4}'
}
wait_port() { for _ in $(seq 100); do inns dig +time=1 +tries=1 @127.0.0.1 -p "$1" host0.bench.lan >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

start_ours() { # DIR PORT LOG(true|false) UPSTREAM(empty = local records)
    mkdir -p "$1"
    if [ -n "$4" ]; then
        echo "{\"spec\": {\"listen\": [\"127.0.0.1:$2\"], \"upstreams\": [{\"address\": \"$4\"}], \"queryLog\": {\"enabled\": $3}}}" >"$1/config.json"
    else
        echo "{\"spec\": {\"listen\": [\"127.0.0.1:$2\"], \"localRecords\": [$records], \"queryLog\": {\"enabled\": $3}}}" >"$1/config.json"
    fi
    ip netns exec "$NS" "$OURS" --name bench --config "$1/config.json" --socket "$1/d.sock" --state-dir "$1" >"$1/log" 2>&1 &
    PIDS+=("$!")
    SERVER=$!
}
start_dnsmasq() { # PORT LOG(yes|no) [--server=...]
    local log=()
    [ "$2" = yes ] && log=(--log-queries "--log-facility=$TMP/dnsmasq-$1.log")
    if [ -n "${3:-}" ]; then
        ip netns exec "$NS" dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces --listen-address=127.0.0.1 \
            --port="$1" --cache-size=10000 "$3" "${log[@]}" --pid-file="$TMP/dnsmasq-$1.pid" &
    else
        ip netns exec "$NS" dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces --listen-address=127.0.0.1 \
            --port="$1" --local-ttl=300 "${dnsmasq_hosts[@]}" "${log[@]}" --pid-file="$TMP/dnsmasq-$1.pid" &
    fi
    PIDS+=("$!")
    SERVER=$!
}
start_unbound() { # PORT
    cat >"$TMP/unbound.conf" <<EOF
server:
  interface: 127.0.0.1@$1
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$TMP"
  pidfile: "$TMP/unbound.pid"
  use-syslog: no
  logfile: "$TMP/unbound.log"
  log-queries: yes
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  local-zone: "bench.lan." static
$unbound_data
EOF
    ip netns exec "$NS" "$UNBOUND" -d -c "$TMP/unbound.conf" >"$TMP/unbound.out" 2>&1 &
    PIDS+=("$!")
    SERVER=$!
}

# measure KEY START-COMMAND...: one round of KEY (start, wait, dnsperf, stop), appending to $TMP/KEY.
measure() {
    local key="$1" port="$2"
    shift 2
    "$@"
    if wait_port "$port"; then
        perf "$port" >>"$TMP/$key"
    else
        echo "bench/dns.sh: $key did not answer" >&2
    fi
    [ "$key" = ours-log-on ] && curl -s --unix-socket "$TMP/ours-on/d.sock" http://d/v1/status >"$TMP/ours-on-status.json"
    stop "$SERVER"
}

# The upstream for the cache-hit figures, running throughout.
start_dnsmasq 5390 no
UPSTREAM_PID=$SERVER
wait_port 5390 || echo "bench/dns.sh: upstream dnsmasq did not answer" >&2

for round in $(seq "$REPEATS"); do
    echo "round $round/$REPEATS" >&2
    measure ours-log-on 5301 start_ours "$TMP/ours-on" 5301 true ""
    measure ours-log-off 5302 start_ours "$TMP/ours-off" 5302 false ""
    measure dnsmasq-log 5303 start_dnsmasq 5303 yes
    measure dnsmasq-nolog 5304 start_dnsmasq 5304 no
    [ -n "$UNBOUND" ] && measure unbound-log 5305 start_unbound 5305
    # Cache hits: forwarders warmed with one pass over the names (wait_port asks host0; dnsperf's first
    # queries of the others are misses, a few hundred out of hundreds of thousands).
    measure ours-cache-log-on 5306 start_ours "$TMP/ours-cache-$round" 5306 true "127.0.0.1:5390"
    measure dnsmasq-cache-log 5307 start_dnsmasq 5307 yes "--server=127.0.0.1#5390"
done
stop "$UPSTREAM_PID"

fig() { median <"$TMP/$1" 2>/dev/null || echo 0; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
on=$(fig ours-log-on); off=$(fig ours-log-off); dl=$(fig dnsmasq-log); dn=$(fig dnsmasq-nolog)
ub=$( [ -n "$UNBOUND" ] && fig unbound-log || echo 0 ); oc=$(fig ours-cache-log-on); dc=$(fig dnsmasq-cache-log)
echo "== DNS queries/s, medians of $REPEATS rounds of ${SECONDS_PER_RUN}s, dnsperf -c $CLIENTS -q $OUTSTANDING, $(nproc) cores"
printf 'dns %-28s %8s\n' "ours local, log on" "$on" "ours local, log off" "$off" "dnsmasq local, log-queries" "$dl" \
    "dnsmasq local, no log" "$dn" "unbound local, log-queries" "$ub" "ours cache hits, log on" "$oc" \
    "dnsmasq cache hits, log-queries" "$dc"
echo "ratio ours log on / log off              $(ratio "$on" "$off")   (target ≥ 0.90)"
echo "ratio ours log on / dnsmasq log-queries   $(ratio "$on" "$dl")   (target ≥ 2)"
echo "ratio ours log on / unbound log-queries   $(ratio "$on" "$ub")   (stretch ≥ 1)"
echo "ratio ours / dnsmasq, cache hits, logs on $(ratio "$oc" "$dc")"
if [ -s "$TMP/ours-on-status.json" ]; then
    python3 -c "
import json,sys
o=json.load(open('$TMP/ours-on-status.json'))['resources'][0]['observed']
print('ours query log in the last log-on round: %d rows written, %d dropped (the answers never waited)' % (o['queryLog']['written'], o['queryLog']['dropped']))"
fi
