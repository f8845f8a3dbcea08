#!/usr/bin/env bash
# End-to-end: HealthCheck resources run routerd-healthcheck daemons in the router namespace against real
# targets in the isp namespace. Thresholds, sourceInterface, restarts, adoption, bad input.
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
py() { python3 -c "$@"; }
field() { rd_api GET "/resources/HealthCheck/$1" | py "import json,sys; v=json.load(sys.stdin)['status']; print(v.get('$2', ''))"; }

echo "== healthcheck: topology $NS_ROUTER <-> $NS_ISP"
rd_topology
rd_topology_isp
rd_isp_targets
cat > "$RD_TMP/checks.yaml" <<'YAML'
apiVersion: net.routerd.net/v1alpha1
kind: HealthCheck
metadata: {name: isp-icmp}
spec: {target: 198.51.100.129, protocol: icmp, interval: 300ms, timeout: 250ms, healthyThreshold: 2, unhealthyThreshold: 3, sourceInterface: wan}
---
apiVersion: net.routerd.net/v1alpha1
kind: HealthCheck
metadata: {name: isp-tcp}
spec: {target: 198.51.100.129, protocol: tcp, port: 8080, interval: 300ms, timeout: 250ms, healthyThreshold: 2, unhealthyThreshold: 3}
---
apiVersion: net.routerd.net/v1alpha1
kind: HealthCheck
metadata: {name: isp-http}
spec: {target: 198.51.100.129, protocol: http, port: 8080, http: {path: /index.html, expectStatus: 200}, interval: 300ms, timeout: 250ms, healthyThreshold: 2, unhealthyThreshold: 3}
---
apiVersion: net.routerd.net/v1alpha1
kind: HealthCheck
metadata: {name: isp-dns}
spec: {target: 198.51.100.129, protocol: dns, dns: {name: router.test, type: A}, interval: 300ms, timeout: 250ms, healthyThreshold: 2, unhealthyThreshold: 3}
---
apiVersion: net.routerd.net/v1alpha1
kind: HealthCheck
metadata: {name: via-wan2}
spec: {target: 198.51.100.129, protocol: icmp, interval: 300ms, timeout: 250ms, healthyThreshold: 2, unhealthyThreshold: 3, sourceInterface: wan2}
YAML
rd_start --config "$ROOT/examples/wan.yaml" --reconcile-interval 5s
check "apply health checks" routerctl apply -f "$RD_TMP/checks.yaml"

for hc in isp-icmp isp-tcp isp-http isp-dns via-wan2; do
    check "$hc Healthy" rd_wait_for "$hc Healthy" 20 rd_phase_is HealthCheck "$hc" Healthy
done
daemon_count() { rd_api GET /status | py 'import json,sys; print(len([d for d in json.load(sys.stdin)["status"]["daemons"] if d["kind"] == "routerd-healthcheck"]))'; }
check_eq "daemons listed in status" 5 "$(daemon_count)"

# cut_and_restore HC RULE: Unhealthy after exactly unhealthyThreshold failures, Healthy after healthyThreshold passes.
cut_and_restore() {
    local hc="$1" rule="$2"
    local since
    since="$(rd_api GET '/events?latest=true&limit=1' | py 'import json,sys; print(json.load(sys.stdin)["cursor"])')"
    rd_isp_cut "$hc" "$rule"
    check "$hc Unhealthy when cut" rd_wait_for "$hc Unhealthy" 20 rd_phase_is HealthCheck "$hc" Unhealthy
    local ev
    ev="$(rd_api GET "/events?since=$since&topic=routerd.healthcheck.state.unhealthy&resource=HealthCheck/$hc")"
    check_eq "$hc went Unhealthy at the 3rd consecutive failure, not before" 3 \
        "$(echo "$ev" | py 'import json,sys; print(json.load(sys.stdin)["items"][0]["attributes"].get("consecutiveFailed"))')"
    check_eq "$hc failure kind" "${3:-timeout}" "$(field "$hc" failureKind)"
    rd_isp_restore "$hc"
    check "$hc Healthy again" rd_wait_for "$hc Healthy" 20 rd_phase_is HealthCheck "$hc" Healthy
    ev="$(rd_api GET "/events?since=$since&topic=routerd.healthcheck.state.healthy&resource=HealthCheck/$hc")"
    check_eq "$hc went Healthy at the 2nd consecutive pass" 2 \
        "$(echo "$ev" | py 'import json,sys; print(json.load(sys.stdin)["items"][-1]["attributes"].get("consecutivePassed"))')"
}
echo "== thresholds per probe kind (target cut with nftables in the isp namespace)"
cut_and_restore isp-icmp "iifname isp0 ip protocol icmp" timeout
cut_and_restore isp-tcp "tcp dport 8080" timeout
cut_and_restore isp-http "tcp dport 8080" timeout
cut_and_restore isp-dns "udp dport 53" timeout

echo "== sourceInterface: the probe leaves through the named link"
rd_isp_cut path2 "iifname isp1"
check "isp-icmp (via wan) stays Healthy with the wan2 path cut" rd_wait_for "x" 3 rd_phase_is HealthCheck isp-icmp Healthy
check "via-wan2 Unhealthy with the wan2 path cut" rd_wait_for "via-wan2 Unhealthy" 20 rd_phase_is HealthCheck via-wan2 Unhealthy
rd_isp_restore path2
rd_isp_cut path1 "iifname isp0"
check "via-wan2 Healthy again with only the wan path cut" rd_wait_for "via-wan2 Healthy" 20 rd_phase_is HealthCheck via-wan2 Healthy
check "isp-icmp (via wan) Unhealthy with the wan path cut" rd_wait_for "isp-icmp Unhealthy" 20 rd_phase_is HealthCheck isp-icmp Unhealthy
rd_isp_restore path1
check "isp-icmp Healthy again" rd_wait_for "isp-icmp Healthy" 20 rd_phase_is HealthCheck isp-icmp Healthy

echo "== kill -9 of a daemon: restarted with backoff, counters continue"
pid_of() { rd_api GET /status | py "import json,sys; print([d.get('pid') for d in json.load(sys.stdin)['status']['daemons'] if d['instance']=='$1'][0])"; }
pid_is() { [ "$(pid_of "$1")" = "$2" ]; }
pid_changed() { local p; p="$(pid_of "$1")"; [ -n "$p" ] && [ "$p" != None ] && [ "$p" != "$2" ] && routerctl daemon "healthcheck/$1" status >/dev/null; }
old_pid="$(pid_of isp-tcp)"
passed_before="$(routerctl daemon healthcheck/isp-tcp status -o json | py 'import json,sys; print(json.load(sys.stdin)["resources"][0]["observed"]["consecutivePassed"])')"
kill -9 "$old_pid"
check "restarted with a new pid" rd_wait_for "restart" 15 pid_changed isp-tcp "$old_pid"
check "lifecycle.exited recorded" sh -c "routerctl get events --topic routerd.daemon.lifecycle.exited -o json | grep -q isp-tcp"
check "lifecycle.restarted recorded" sh -c "routerctl get events --topic routerd.daemon.lifecycle.restarted -o json | grep -q isp-tcp"
passed_after="$(routerctl daemon healthcheck/isp-tcp status -o json | py 'import json,sys; print(json.load(sys.stdin)["resources"][0]["observed"]["consecutivePassed"])')"
check "consecutivePassed continued from the persisted state ($passed_before -> $passed_after)" test "$passed_after" -ge "$passed_before"
check_eq "phase kept across the restart" Healthy "$(rd_phase HealthCheck isp-tcp)"

echo "== kill -9 of routerd: daemons keep probing, the new routerd adopts them and misses no event"
dns_pid="$(pid_of isp-dns)"
kill -9 "$RD_PID"
RD_PID=""
lines_before="$(wc -l < "$RD_STATE/healthcheck/isp-dns/events.jsonl")"
rd_isp_cut dns2 "udp dport 53"   # make the daemon produce events while routerd is down
sleep 2
rd_isp_restore dns2
check "the daemon kept running without routerd" kill -0 "$dns_pid"
check "and kept recording events" test "$(wc -l < "$RD_STATE/healthcheck/isp-dns/events.jsonl")" -gt "$lines_before"
rd_start --reconcile-interval 5s
check "routerd adopted the same pid ($dns_pid)" rd_wait_for "adoption" 10 pid_is isp-dns "$dns_pid"
check "isp-dns Healthy after adoption" rd_wait_for "isp-dns Healthy" 20 rd_phase_is HealthCheck isp-dns Healthy
sleep 1
check "every event of the daemon is in routerd's store exactly once" python3 - "$RD_STATE/routerd.db" "$RD_STATE/healthcheck/isp-dns/events.jsonl" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
daemon = []
for path in (sys.argv[2] + ".1", sys.argv[2]):
    try:
        daemon += [json.loads(l) for l in open(path) if l.strip()]
    except FileNotFoundError:
        pass
from collections import Counter
from datetime import datetime, timezone
def nanos(t):  # RFC 3339 UTC with up to nanoseconds -> integer nanoseconds, as the store keeps it
    base, _, frac = t.rstrip("Z").partition(".")
    secs = int(datetime.fromisoformat(base).replace(tzinfo=timezone.utc).timestamp())
    return secs * 1_000_000_000 + int((frac or "0").ljust(9, "0")[:9])
# Identity of an event: its time (from the daemon), topic and message. Compared as multisets, so a lost
# event and a duplicated one cannot cancel out the way equal counts would.
daemon_ids = Counter((nanos(e["time"]), e["topic"], e["message"]) for e in daemon)
stored_ids = Counter(db.execute("select time, topic, message from events where source_kind='routerd-healthcheck' and source_instance='isp-dns' and topic not in ('routerd.daemon.lifecycle.exited', 'routerd.daemon.lifecycle.restarted', 'routerd.store.events.dropped')").fetchall())
missing = daemon_ids - stored_ids
extra = stored_ids - daemon_ids
assert not missing and not extra, f"missing from the store: {list(missing)[:3]}; extra or duplicated: {list(extra)[:3]}"
print(f"     {len(daemon)} daemon events, each stored exactly once")
PY

echo "== bad input to a daemon"
SOCK="$RD_RUN/healthcheck/isp-tcp.sock"
dcode() { curl -s --max-time 5 --unix-socket "$SOCK" -X "$1" -o "$RD_TMP/d.json" -w '%{http_code}' "http://d$2"; }
cp "$RD_STATE/healthcheck/isp-tcp/config.json" "$RD_TMP/config.good"
echo '{"spec": {"target": ' > "$RD_STATE/healthcheck/isp-tcp/config.json"
check_eq "reload of a malformed config.json is refused" 400 "$(dcode POST /v1/commands/reload)"
check "the refusal names the file" grep -q "config.json" "$RD_TMP/d.json"
check_eq "the daemon keeps serving" 200 "$(dcode GET /v1/status)"
cp "$RD_TMP/config.good" "$RD_STATE/healthcheck/isp-tcp/config.json"
check_eq "unknown command" 400 "$(dcode POST /v1/commands/frobnicate)"
check_eq "GET on a command path" 405 "$(dcode GET /v1/commands/renew)"
check_eq "since from another epoch" 410 "$(dcode GET '/v1/events?since=0123456789abcdef:5')"
check_eq "wait=10h is clamped, not refused" 200 "$(dcode GET '/v1/events?wait=10h&limit=1')"
check_eq "renew probes at once" 200 "$(dcode POST /v1/commands/renew)"
check "renew returns the probe result" grep -q '"result"' "$RD_TMP/d.json"
cat > "$RD_TMP/bad-target.yaml" <<'YAML'
apiVersion: net.routerd.net/v1alpha1
kind: HealthCheck
metadata: {name: nowhere}
spec: {target: no-such-host.invalid, protocol: tcp, port: 80, interval: 300ms, timeout: 250ms}
YAML
routerctl apply -f "$RD_TMP/bad-target.yaml" >/dev/null
check "unresolvable target -> Error" rd_wait_for "nowhere Error" 20 rd_phase_is HealthCheck nowhere Error
check_eq "failureKind dns" dns "$(field nowhere failureKind)"

echo "== delete stops the daemon"
nowhere_pid="$(pid_of nowhere)"
check "delete" routerctl delete healthcheck/nowhere
check "daemon gone" rd_wait_for "daemon stop" 15 sh -c "! kill -0 $nowhere_pid 2>/dev/null"
check "socket removed" test ! -e "$RD_RUN/healthcheck/nowhere.sock"

echo "healthcheck: $E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
