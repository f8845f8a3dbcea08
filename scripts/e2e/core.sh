#!/usr/bin/env bash
# End-to-end: the real routerd and routerctl in network namespaces. Covers the core issue's acceptance:
# apply → host state → phases → delete; repair of drift; bad input; kill -9 mid-burst; follow latency.
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RD_BIN="${RD_BIN:-$ROOT/target/debug}"
# shellcheck source=../lib/netns.sh
source "$HERE/lib/netns.sh"
# shellcheck source=../lib/assert.sh
source "$HERE/lib/assert.sh"
trap rd_cleanup EXIT
export PATH="$RD_BIN:$PATH"

echo "== core: topology $NS_ROUTER <-> $NS_LAN"
rd_topology
# The periodic resync is long on purpose: drift must be repaired by the netlink notification, not by a
# resync that happens to come by within the check's window.
rd_start --config "$ROOT/examples/lan.yaml" --reconcile-interval 10m

echo "== apply: resources reach the host"
check "Interface/lan Up" rd_wait_for "Interface Up" 10 rd_phase_is Interface lan Up
check "IPv4StaticAddress/lan Applied" rd_wait_for "address Applied" 10 rd_phase_is IPv4StaticAddress lan Applied
check "IPv4StaticRoute/lab-net Installed" rd_wait_for "route Installed" 10 rd_phase_is IPv4StaticRoute lab-net Installed
check "ip shows 192.0.2.1/24 on rt-lan" sh -c "ip -n $NS_ROUTER -4 addr show dev rt-lan | grep -q 'inet 192.0.2.1/24'"
check "ip shows the static route" sh -c "ip -n $NS_ROUTER route show 203.0.113.0/24 | grep -q 'via 192.0.2.10 dev rt-lan proto static metric 50'"
check "ping lan -> router 192.0.2.1" ip netns exec "$NS_LAN" ping -c1 -W2 192.0.2.1
check "ping router -> 203.0.113.1 through the static route" ip netns exec "$NS_ROUTER" ping -c1 -W2 203.0.113.1
check_eq "status phase" Healthy "$(rd_api GET /status | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["phase"])')"

echo "== drift: ip addr del behind routerd's back is repaired"
ip -n "$NS_ROUTER" addr del 192.0.2.1/24 dev rt-lan
check "address re-added" rd_wait_for "repair" 5 sh -c "ip -n $NS_ROUTER -4 addr show dev rt-lan | grep -q 'inet 192.0.2.1/24'"
check "route re-installed" rd_wait_for "route repair" 10 sh -c "ip -n $NS_ROUTER route show 203.0.113.0/24 | grep -q via"
check "repair recorded as an event" sh -c "routerctl get events --topic routerd.address.applied -o json | grep -q '\"reason\": \"repaired\"'"

echo "== delete removes exactly what routerd added"
ip -n "$NS_ROUTER" addr add 192.0.2.77/32 dev rt-lan   # an address routerd does not own
check "routerctl delete" routerctl delete route/lab-net addr/lan
check "address gone" rd_wait_for "address removal" 5 sh -c "! ip -n $NS_ROUTER -4 addr show dev rt-lan | grep -q 'inet 192.0.2.1/'"
check "route gone" rd_wait_for "route removal" 5 sh -c "! ip -n $NS_ROUTER route show 203.0.113.0/24 | grep -q ."
check "foreign address kept" sh -c "ip -n $NS_ROUTER -4 addr show dev rt-lan | grep -q 192.0.2.77"
check "re-apply" routerctl apply -f "$ROOT/examples/lan.yaml"
check "address back" rd_wait_for "address Applied" 10 rd_phase_is IPv4StaticAddress lan Applied

echo "== an address that was on the link before routerd is never removed by it"
ip -n "$NS_ROUTER" addr add 192.0.2.50/24 dev rt-lan   # the operator's, before any resource names it
cat > "$RD_TMP/pre.yaml" <<'YAML'
apiVersion: net.routerd.net/v1alpha1
kind: IPv4StaticAddress
metadata: {name: pre}
spec: {interface: lan, address: 192.0.2.50/24}
YAML
check "apply addr/pre naming the existing address" routerctl apply -f "$RD_TMP/pre.yaml"
check "addr/pre Applied" rd_wait_for "addr/pre Applied" 10 rd_phase_is IPv4StaticAddress pre Applied
check_eq "addr/pre status: owned false, reason PresentBeforeRouterd" "False PresentBeforeRouterd" \
    "$(rd_api GET /resources/IPv4StaticAddress/pre | python3 -c 'import json,sys; s=json.load(sys.stdin)["status"]; print(s["owned"], s["conditions"][0]["reason"])')"
check "routerctl delete addr/pre" routerctl delete addr/pre
check "addr/pre gone from the API" rd_wait_for "addr/pre deleted" 10 sh -c "! routerctl get addr pre >/dev/null 2>&1"
sleep 1   # the address controller's reconcile of the delete
check "the pre-existing 192.0.2.50/24 is still on rt-lan" sh -c "ip -n $NS_ROUTER -4 addr show dev rt-lan | grep -q 'inet 192.0.2.50/24'"

echo "== bad input: right code, generation and host unchanged"
gen_before="$(rd_api GET /status | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["generation"])')"
host_before="$(ip -n "$NS_ROUTER" -4 addr; ip -n "$NS_ROUTER" route)"
# code_of SOCKET BODY-FILE → "HTTP error.code"
code_of() {
    curl -s --max-time 10 --unix-socket "$1" -X POST -H 'content-type: application/json' --data-binary "@$2" \
        -o "$RD_TMP/resp.json" -w '%{http_code}' "http://routerd/api/control.routerd.net/v1alpha1${3:-/apply}"
    printf ' %s' "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["error"]["code"])' "$RD_TMP/resp.json" 2>/dev/null)"
}
res() { printf '{"resources": [%s]}' "$1" > "$RD_TMP/body.json"; }
A='"apiVersion": "net.routerd.net/v1alpha1"'
MAIN="$RD_RUN/routerd.sock"
STATUS="$RD_RUN/routerd-status.sock"
printf '{"manifest": ' > "$RD_TMP/body.json"; check_eq "malformed JSON" "400 BadRequest" "$(code_of "$MAIN" "$RD_TMP/body.json")"
printf '{"manifest": "kind: [unclosed\\n"}' > "$RD_TMP/body.json"; check_eq "malformed YAML" "400 BadRequest" "$(code_of "$MAIN" "$RD_TMP/body.json")"
res "{$A, \"kind\": \"Interface\", \"metadata\": {\"name\": \"x\"}, \"spec\": {\"ifname\": \"x\", \"colour\": 1}}"; check_eq "unknown field" "422 Invalid" "$(code_of "$MAIN" "$RD_TMP/body.json")"
check_eq "unknown field named" "spec.colour" "$(python3 -c 'import json; print(json.load(open("'"$RD_TMP"'/resp.json"))["error"]["details"][0]["field"])')"
res "{$A, \"kind\": \"Toaster\", \"metadata\": {\"name\": \"x\"}, \"spec\": {}}"; check_eq "unknown kind" "422 Invalid" "$(code_of "$MAIN" "$RD_TMP/body.json")"
res "{$A, \"kind\": \"Interface\", \"metadata\": {\"name\": \"../x\"}, \"spec\": {\"ifname\": \"x\"}}"; check_eq "name ../x" "422 Invalid" "$(code_of "$MAIN" "$RD_TMP/body.json")"
res "{$A, \"kind\": \"Interface\", \"metadata\": {\"name\": \"$(printf 'a%.0s' $(seq 64))\"}, \"spec\": {\"ifname\": \"x\"}}"; check_eq "64-char name" "422 Invalid" "$(code_of "$MAIN" "$RD_TMP/body.json")"
res "{$A, \"kind\": \"IPv4StaticAddress\", \"metadata\": {\"name\": \"x\"}, \"spec\": {\"interface\": \"wan9\", \"address\": \"192.0.2.9/24\"}}"; check_eq "dangling reference" "422 Invalid" "$(code_of "$MAIN" "$RD_TMP/body.json")"
res "{$A, \"kind\": \"Interface\", \"metadata\": {\"name\": \"d\"}, \"spec\": {\"ifname\": \"x\"}}, {$A, \"kind\": \"Interface\", \"metadata\": {\"name\": \"d\"}, \"spec\": {\"ifname\": \"y\"}}"; check_eq "duplicate identity" "422 Invalid" "$(code_of "$MAIN" "$RD_TMP/body.json")"
python3 -c 'import json; print(json.dumps({"manifest": "#" * (2 * 1024 * 1024)}))' > "$RD_TMP/body.json"; check_eq "2 MiB body" "413 PayloadTooLarge" "$(code_of "$MAIN" "$RD_TMP/body.json")"
cp "$ROOT/examples/lan.yaml" "$RD_TMP/m.yaml"; python3 -c 'import json,sys; print(json.dumps({"manifest": open(sys.argv[1]).read()}))' "$RD_TMP/m.yaml" > "$RD_TMP/body.json"
check_eq "apply on the status socket" "403 ReadOnlySocket" "$(code_of "$STATUS" "$RD_TMP/body.json")"
check_eq "delete on the status socket" "403 ReadOnlySocket" "$(code_of "$STATUS" "$RD_TMP/body.json" /delete)"
# nobody_code: "HTTP error.code" of GET /status on the main socket as user nobody (000 = no connection).
nobody_code() {
    setpriv --reuid=nobody --regid=nogroup --clear-groups \
        curl -s --max-time 5 --unix-socket "$MAIN" -w '\n%{http_code}' http://routerd/api/control.routerd.net/v1alpha1/status |
        python3 -c 'import json,sys
lines = sys.stdin.read().rsplit("\n", 1)
code = lines[-1]
try: err = json.loads(lines[0])["error"]["code"] if len(lines) > 1 else ""
except Exception: err = ""
print((code + " " + err).strip())'
}
check_eq "nobody cannot even connect to the 0660 main socket" "000" "$(nobody_code)"
chmod 0666 "$MAIN"   # a mis-set mode must not open the door: SO_PEERCRED is checked on every connection
check_eq "nobody on a world-writable main socket" "403 Forbidden" "$(nobody_code)"
chmod 0660 "$MAIN"
check_eq "nobody may read the status socket" "200" "$(setpriv --reuid=nobody --regid=nogroup --clear-groups curl -s --max-time 5 --unix-socket "$STATUS" -o /dev/null -w '%{http_code}' http://routerd/api/control.routerd.net/v1alpha1/status)"
check_eq "generation unchanged" "$gen_before" "$(rd_api GET /status | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["generation"])')"
check_eq "host unchanged" "$(echo "$host_before" | md5sum)" "$( (ip -n "$NS_ROUTER" -4 addr; ip -n "$NS_ROUTER" route) | md5sum)"
check "rejections are events" sh -c "routerctl get events --topic routerd.config.rejected -o json | grep -q config.rejected"

echo "== follow: an apply's events reach 'routerctl events --follow' within 50 ms"
python3 "$HERE/e2e/follow_latency.py" "$RD_BIN/routerctl" "$ROOT/examples/lan.yaml" "$RD_TMP" > "$RD_TMP/follow.txt" 2>&1
cat "$RD_TMP/follow.txt" | sed 's/^/     /'
check "follow latency p50 < 50 ms" grep -q "^PASS" "$RD_TMP/follow.txt"

echo "== kill -9 in the middle of a burst of applies"
burst() {
    local i=0
    while [ -f "$RD_TMP/bursting" ]; do
        i=$((i + 1))
        sed "s/role: lan}/role: lan, burst: \"$i\"}/" "$ROOT/examples/lan.yaml" > "$RD_TMP/burst.yaml"
        if out="$(routerctl apply -f "$RD_TMP/burst.yaml" -o json 2>/dev/null)"; then
            echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["generation"])' >> "$RD_TMP/acked" 2>/dev/null
        fi
    done
}
touch "$RD_TMP/bursting" "$RD_TMP/acked"
burst &
BURST=$!
sleep 1.5
kill -9 "$RD_PID"
rm -f "$RD_TMP/bursting"
wait "$BURST" 2>/dev/null
last_acked="$(tail -1 "$RD_TMP/acked")"
echo "     applies acknowledged before the kill: $(wc -l < "$RD_TMP/acked"), last acknowledged generation $last_acked"
max_cursor_before="$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select max(cursor) from events").fetchone()[0])' "$RD_STATE/routerd.db")"
rd_start --reconcile-interval 10m
check_eq "PRAGMA integrity_check" ok "$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("pragma integrity_check").fetchone()[0])' "$RD_STATE/routerd.db")"
current="$(rd_api GET /status | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["generation"])')"
# The kill may land after a commit and before its response: then current = last acked + 1, never less.
check "current generation ($current) is the last acknowledged ($last_acked) or the one in flight" \
    test "$current" -eq "$last_acked" -o "$current" -eq "$((last_acked + 1))"
check "the ledger is whole: generations 1..N contiguous, each decodes, the last one is what routerd serves" \
    python3 - "$RD_STATE/routerd.db" "$current" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("select generation, resources, manifest from generations order by generation").fetchall()
assert [r[0] for r in rows] == list(range(1, len(rows) + 1)), "gaps in the ledger"
assert rows[-1][0] == int(sys.argv[2])
for gen, resources, manifest in rows:
    items = json.loads(resources)
    for r in items:
        assert {"apiVersion", "kind", "metadata", "spec"} <= set(r), (gen, r)
    assert manifest.count("kind:") == len(items), (gen, "manifest snapshot does not match the desired set")
PY
routerctl apply -f "$ROOT/examples/lan.yaml" >/dev/null
new_cursor="$(rd_api GET '/events?latest=true&limit=1' | python3 -c 'import json,sys; print(json.load(sys.stdin)["cursor"])')"
check "event cursors keep increasing after the restart ($max_cursor_before -> $new_cursor)" test "$new_cursor" -gt "$max_cursor_before"
check "address still Applied after restart" rd_wait_for "address" 10 rd_phase_is IPv4StaticAddress lan Applied

echo "== SIGTERM: clean exit"
kill -TERM "$RD_PID"
if wait "$RD_PID"; then ok "routerd exited 0 on SIGTERM"; else fail "routerd exit status $? on SIGTERM"; fi
check "sockets removed" test ! -e "$RD_RUN/routerd.sock"
RD_PID=""

echo "core: $E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
