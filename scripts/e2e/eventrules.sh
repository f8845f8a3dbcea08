#!/usr/bin/env bash
# End-to-end: EventRule and DerivedEvent over a real HealthCheck against the isp namespace. A window rule
# sees the check flap 3 times and fires exactly once with count=3, although routerd is killed (-9)
# between the 2nd and the 3rd flap and the 3rd happens while it is down; a DerivedEvent over the check
# and the wan Interface ignores a flap shorter than its hysteresis and retracts/asserts on a longer one.
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RD_BIN="${RD_BIN:-$ROOT/target/debug}"
# shellcheck source=../lib/netns.sh
source "$HERE/lib/netns.sh"
# shellcheck source=../lib/isp_targets.sh
source "$HERE/lib/isp_targets.sh"
# shellcheck source=../lib/assert.sh
source "$HERE/lib/assert.sh"
trap rd_cleanup EXIT
export PATH="$RD_BIN:$PATH"

# count PATH: number of events GET /events returns for PATH.
count() { rd_api GET "$1" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))'; }
count_is() { [ "$(count "$1")" = "$2" ]; }
# last_attr PATH KEY: attribute KEY of the newest event of PATH.
last_attr() { rd_api GET "$1" | python3 -c "import json,sys; i=json.load(sys.stdin)['items']; print(i[-1]['attributes'].get('$2','') if i else '')"; }
status_field() { rd_api GET "/resources/$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['status'].get('$2', ''))"; }
FIRED="/events?resource=EventRule/wan-flapping&topic=routerd.virtual.wan.flapping"
UNHEALTHY="/events?resource=HealthCheck/isp-icmp&topic=routerd.healthcheck.state.unhealthy"
ASSERTED="/events?resource=DerivedEvent/isp-ready&topic=routerd.virtual.isp.ready.asserted"
RETRACTED="/events?resource=DerivedEvent/isp-ready&topic=routerd.virtual.isp.ready.retracted"

echo "== eventrules: topology $NS_ROUTER <-> $NS_ISP"
rd_topology
rd_topology_isp
rd_isp_targets
cat > "$RD_TMP/rules.yaml" <<'YAML'
apiVersion: net.routerd.net/v1alpha1
kind: HealthCheck
metadata: {name: isp-icmp}
spec: {target: 198.51.100.129, protocol: icmp, interval: 300ms, timeout: 250ms, healthyThreshold: 1, unhealthyThreshold: 2, sourceInterface: wan}
---
apiVersion: net.routerd.net/v1alpha1
kind: EventRule
metadata: {name: wan-flapping}
spec:
  match: {operator: window, topics: [routerd.healthcheck.state.unhealthy], window: 5m, threshold: 3, correlateBy: resource.name}
  emit: {topic: routerd.virtual.wan.flapping, severity: warning, attributes: {check: "${resource.name}", count: "${count}"}}
---
apiVersion: net.routerd.net/v1alpha1
kind: DerivedEvent
metadata: {name: isp-ready}
spec:
  topic: routerd.virtual.isp.ready
  when: all
  conditions:
    - {resource: HealthCheck/isp-icmp, phase: Healthy}
    - {resource: Interface/wan, condition: {type: LinkUp, status: "True"}}
  hysteresis: 2s
  emitInitial: false
YAML
rd_start --config "$ROOT/examples/wan.yaml" --reconcile-interval 5s
check "apply the check, the rule and the derived event" routerctl apply -f "$RD_TMP/rules.yaml"
check "EventRule Applied" rd_wait_for "EventRule Applied" 10 rd_phase_is EventRule wan-flapping Applied
check "DerivedEvent Applied" rd_wait_for "DerivedEvent Applied" 10 rd_phase_is DerivedEvent isp-ready Applied
check "isp-icmp Healthy" rd_wait_for "isp-icmp Healthy" 20 rd_phase_is HealthCheck isp-icmp Healthy
check "isp-ready asserted once the check held Healthy for 2s" rd_wait_for "assertion" 15 count_is "$ASSERTED" 1
check_eq "status asserted" True "$(status_field DerivedEvent/isp-ready asserted)"
check_eq "fireCount starts at 0" 0 "$(status_field EventRule/wan-flapping fireCount)"

echo "== flap 1: shorter than the hysteresis"
rd_isp_cut icmp "ip protocol icmp"
check "isp-icmp Unhealthy (flap 1)" rd_wait_for "Unhealthy" 10 rd_phase_is HealthCheck isp-icmp Unhealthy
rd_isp_restore icmp
check "isp-icmp Healthy again" rd_wait_for "Healthy" 10 rd_phase_is HealthCheck isp-icmp Healthy
sleep 3
check_eq "no retraction for a flap shorter than 2s" 0 "$(count "$RETRACTED")"
check_eq "the window rule has not fired after 1 flap" 0 "$(count "$FIRED")"

echo "== flap 2: longer than the hysteresis"
rd_isp_cut icmp "ip protocol icmp"
check "isp-icmp Unhealthy (flap 2)" rd_wait_for "Unhealthy" 10 rd_phase_is HealthCheck isp-icmp Unhealthy
check "isp-ready retracted" rd_wait_for "retraction" 10 count_is "$RETRACTED" 1
retracted_at="$(rd_api GET "$RETRACTED" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][-1]["time"])')"
unhealthy_at="$(rd_api GET "$UNHEALTHY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][-1]["time"])')"
check "the retraction came at least 2s after the check went Unhealthy" python3 - "$unhealthy_at" "$retracted_at" <<'PY'
import sys, datetime
def t(s):
    s = s.rstrip("Z")
    if "." in s:
        a, b = s.split(".")
        s = a + "." + b[:6]
    return datetime.datetime.fromisoformat(s)
assert (t(sys.argv[2]) - t(sys.argv[1])).total_seconds() >= 1.95, (sys.argv[1], sys.argv[2])
PY
check_eq "status asserted" False "$(status_field DerivedEvent/isp-ready asserted)"
rd_isp_restore icmp
check "isp-icmp Healthy again" rd_wait_for "Healthy" 10 rd_phase_is HealthCheck isp-icmp Healthy
check "isp-ready asserted again after 2s" rd_wait_for "assertion" 10 count_is "$ASSERTED" 2
check_eq "2 unhealthy transitions so far" 2 "$(count "$UNHEALTHY")"
check_eq "the window rule has not fired after 2 flaps" 0 "$(count "$FIRED")"

echo "== kill -9 routerd; flap 3 happens while it is down"
sleep 1.2   # let the engine checkpoint the evaluated position (it also must work without)
kill -9 "$RD_PID"
RD_PID=""
rd_isp_cut icmp "ip protocol icmp"
daemon_unhealthy() { [ "$(grep -c routerd.healthcheck.state.unhealthy "$RD_STATE/healthcheck/isp-icmp/events.jsonl")" -ge 3 ]; }
check "the daemon saw flap 3 on its own" rd_wait_for "daemon unhealthy" 10 daemon_unhealthy
rd_start --reconcile-interval 5s
check "the 3rd unhealthy transition is imported" rd_wait_for "import" 15 count_is "$UNHEALTHY" 3
check "the window rule fired" rd_wait_for "firing" 10 count_is "$FIRED" 1
check_eq "fired with count=3" 3 "$(last_attr "$FIRED" count)"
check_eq "correlated by the check" isp-icmp "$(last_attr "$FIRED" correlation)"
check_eq "template attribute" isp-icmp "$(last_attr "$FIRED" check)"
fire_count_is() { [ "$(status_field EventRule/wan-flapping fireCount)" = "$1" ]; }
check "fireCount 1" rd_wait_for "fireCount" 5 fire_count_is 1
rd_isp_restore icmp
check "isp-icmp Healthy again" rd_wait_for "Healthy" 15 rd_phase_is HealthCheck isp-icmp Healthy
check "describe shows the firing" sh -c "routerctl describe eventrule/wan-flapping | grep -q routerd.virtual.wan.flapping"

echo "== restart again: nothing fires twice, counts are kept"
check "SIGTERM stops routerd" rd_stop
rd_start --reconcile-interval 5s
check "EventRule Applied" rd_wait_for "EventRule Applied" 10 rd_phase_is EventRule wan-flapping Applied
sleep 1
check_eq "still exactly one firing" 1 "$(count "$FIRED")"
check_eq "fireCount kept" 1 "$(status_field EventRule/wan-flapping fireCount)"
check_eq "assertions not repeated" 2 "$(count "$ASSERTED")"

echo "== a rule whose emitted topic matches its own input does not loop"
cat > "$RD_TMP/loop.yaml" <<'YAML'
apiVersion: net.routerd.net/v1alpha1
kind: EventRule
metadata: {name: self-loop}
spec:
  match: {operator: anyOf, topics: ["routerd.virtual.**", "routerd.config.applied"]}
  emit: {topic: routerd.virtual.loop.seen}
YAML
check "apply the self-matching rule" routerctl apply -f "$RD_TMP/loop.yaml"
check "it becomes Applied" rd_wait_for "self-loop Applied" 10 rd_phase_is EventRule self-loop Applied
check "a later config.applied fires it" routerctl apply -f "$RD_TMP/loop.yaml" -o json
sed -i 's/topics: \["routerd.virtual.\*\*", "routerd.config.applied"\]}/topics: ["routerd.virtual.**", "routerd.config.applied"], correlateBy: source.instance}/' "$RD_TMP/loop.yaml"
check "change it (config.applied again)" routerctl apply -f "$RD_TMP/loop.yaml"
sleep 2
loops="$(rd_api GET '/events?topic=routerd.virtual.loop.seen&limit=1000' | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')"
check "fired once per config.applied, never on its own output ($loops firings)" test "$loops" -ge 1 -a "$loops" -le 2

echo "== bad input is refused with the field named"
cat > "$RD_TMP/bad.yaml" <<'YAML'
apiVersion: net.routerd.net/v1alpha1
kind: EventRule
metadata: {name: bad}
spec:
  match: {operator: debounce, topics: [routerd.healthcheck.**], quiet: 0s}
  emit: {topic: routerd.virtual.bad, attributes: {x: "${severity}"}}
YAML
out="$(routerctl apply -f "$RD_TMP/bad.yaml" 2>&1)"
check "apply refused" test -n "$out"
check "names spec.match.quiet" grep -q 'spec.match.quiet' <<<"$out"
check "names spec.emit.attributes.x" grep -q 'spec.emit.attributes.x' <<<"$out"

echo "eventrules: $E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
