#!/usr/bin/env bash
# Benchmark, "failover" row of spec/benchmarks.md: WAN health failure -> default route switched, measured
# from the first failed probe (the HealthCheck's probe history) to the route change in the main table
# (`ip -ts monitor route`), over RDBENCH_SWITCHES failovers (default 10) in the topology of
# scripts/e2e/egress.sh (scripts/lib/egress_topology.sh): two DHCP WANs, ISP 1 cut by an nft drop in its
# namespace, restored, failed back, again. Prints min/median/p95/max against the target
# unhealthyThreshold x interval + 100 ms. No peer: the target is the budget itself.
#
#   RDBENCH_SWITCHES=20 RDBENCH_INTERVAL_MS=500 bench/failover.sh
set -uo pipefail
HERE="$(cd "$(dirname "$0")/../scripts" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RD_BIN="${RD_BIN:-$ROOT/target/debug}"
# shellcheck source=../scripts/lib/netns.sh
source "$HERE/lib/netns.sh"
# shellcheck source=../scripts/lib/assert.sh
source "$HERE/lib/assert.sh"
# shellcheck source=../scripts/lib/egress_topology.sh
source "$HERE/lib/egress_topology.sh"
trap eg_cleanup EXIT
export PATH="$RD_BIN:$PATH"

SWITCHES="${RDBENCH_SWITCHES:-10}"
INTERVAL_MS="${RDBENCH_INTERVAL_MS:-1000}"
TIMEOUT_MS=$((INTERVAL_MS / 2))
UNHEALTHY=3
BUDGET_MS=$((UNHEALTHY * INTERVAL_MS + 100))
GW1=192.0.2.1
GW2=198.51.100.1

eg_topology
eg_config "${INTERVAL_MS}ms" "${TIMEOUT_MS}ms" "$UNHEALTHY" 2 1s
eg_monitor_start
rd_start --config "$RD_TMP/egress.yaml" --reconcile-interval 10s
rd_wait_for "policy Installed via ISP 1" 40 eg_default_is "$GW1" || exit 1

FROM_PROBE=()
FROM_CUT=()
REACT=()
for round in $(seq "$SWITCHES"); do
    t0="$(date +%s.%N)"
    eg_cut "$NS_ISP"
    if rd_wait_for "switch" 20 eg_default_is "$GW2"; then
        read -r ms_probe ms_cut ms_react <<<"$(eg_measure_failover "$t0" "$GW2" "$TIMEOUT_MS")"
        FROM_PROBE+=("$ms_probe")
        FROM_CUT+=("$ms_cut")
        REACT+=("$ms_react")
        echo "round $round: ${ms_probe} ms from the first failed probe (sent), ${ms_cut} ms from the cut, ${ms_react} ms from Unhealthy"
    else
        echo "round $round: no switch within 20 s"
    fi
    eg_restore "$NS_ISP"
    rd_wait_for "fail-back" 30 eg_default_is "$GW1" || { echo "no fail-back"; break; }
done
echo
echo "failover (interval ${INTERVAL_MS} ms, unhealthyThreshold ${UNHEALTHY}, timeout ${TIMEOUT_MS} ms)"
echo "failover from the first failed probe: $(eg_stats "$BUDGET_MS" "${FROM_PROBE[@]}")"
echo "failover from the cut (for scale):    $(eg_stats "$((BUDGET_MS + INTERVAL_MS))" "${FROM_CUT[@]}")"
echo "HealthCheck Unhealthy -> switched:    $(eg_stats 100 "${REACT[@]}")"
