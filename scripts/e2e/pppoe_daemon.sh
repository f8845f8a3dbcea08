#!/usr/bin/env bash
# End-to-end: routerd-pppoe-client on its own (no routerd) in a router namespace against real peers in an
# isp namespace.
#
#   router: wan0 ──veth── isp0: rp-pppoe's pppoe-server   (part 1: discovery interop)
#                         isp0: routerd-test-ac            (part 2: whole sessions, when it is built)
#
# Part 1: our client completes PADI/PADO/PADR/PADS against rp-pppoe's pppoe-server. It cannot go
# further: pppoe-server hands the session to pppd, which needs the kernel's PPP (/dev/ppp), missing on
# this kernel, so pppd exits and the server sends PADT — which the client must take as a session end
# and redial with backoff.
# Part 2 (needs $RD_BIN/routerd-test-ac): PAP and CHAP sessions up with IPCP/IPv6CP on the TUN, ping
# both ways, echoes counted; faults: PADT from the AC, echo replies off, wrong password (backoff counted
# in PADIs on the wire), kill -9 (the restarted daemon ends the stale session with a PADT).
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RD_BIN="${RD_BIN:-$ROOT/target/debug}"
RD_SUFFIX="pd$$"
# shellcheck source=../lib/netns.sh
source "$HERE/lib/netns.sh"
# shellcheck source=../lib/assert.sh
source "$HERE/lib/assert.sh"
trap rd_cleanup EXIT

DAEMON="$RD_BIN/routerd-pppoe-client"
TEST_AC="$RD_BIN/routerd-test-ac"
for need in "$DAEMON" "$(command -v pppoe-server)" "$(command -v tcpdump)"; do
    if [ ! -x "$need" ]; then
        echo "pppoe-daemon: missing ${need:-a tool} (cargo build --bins; scripts/lib/install-deps.sh)"
        echo "pppoe-daemon: 0 passed, 1 failed"
        exit 1
    fi
done

W="$RD_TMP/state/pppoe-client/wan"
SOCK="$RD_RUN/pppoe-client/wan.sock"
NAME=wan
# shellcheck source=../lib/daemon_api.sh
source "$HERE/lib/daemon_api.sh"
mkdir -p "$W" "$(dirname "$SOCK")"
DPID=""
PASSWORD="pw-$RANDOM-$RANDOM-e2e"
PWFILE="$RD_TMP/pppoe.password"
printf '%s\n' "$PASSWORD" >"$PWFILE"
chmod 0600 "$PWFILE"
T=routerd.pppoe.client

echo "== pppoe-daemon: topology $NS_ROUTER (wan0) <-> $NS_ISP (isp0) [${SECONDS}s]"
ip netns add "$NS_ROUTER"
ip netns add "$NS_ISP"
for ns in "$NS_ROUTER" "$NS_ISP"; do ip -n "$ns" link set lo up; done
ip link add wan0 netns "$NS_ROUTER" type veth peer name isp0 netns "$NS_ISP"
ip -n "$NS_ROUTER" link set wan0 up
ip -n "$NS_ISP" link set isp0 up

# obs PATH: a value of observed (dotted path, Python repr; None when absent).
obs() {
    status | py "
import json,sys
v=json.load(sys.stdin)['resources'][0]['observed']
for k in '$1'.split('.'):
    v = v.get(k) if isinstance(v, dict) else None
print(v)"
}
cond() { # TYPE -> "status reason"
    status | py "import json,sys; c=[c for c in json.load(sys.stdin)['resources'][0]['conditions'] if c['type']=='$1'][0]; print(c['status'], c['reason'])"
}
cond_is() { [ "$(cond "$1" 2>/dev/null)" = "$2" ]; }
cond_message() {
    status | py "import json,sys; c=[c for c in json.load(sys.stdin)['resources'][0]['conditions'] if c['type']=='$1'][0]; print(c['message'])"
}
event_containing() { # TOPIC SINCE KEY SUBSTRING: some matching event's attribute KEY contains SUBSTRING
    local out
    out="$(events "$1" "$2")" || return 1
    printf '%s\n' "$out" |
        py "import json,sys; sys.exit(0 if any(sys.argv[2] in (json.loads(l)['attributes'].get(sys.argv[1]) or '') for l in sys.stdin if l.strip()) else 1)" "$3" "$4"
}
obs_is() { [ "$(obs "$1" 2>/dev/null)" = "$2" ]; }
obs_at_least() { local v; v="$(obs "$1" 2>/dev/null)"; [ "$v" != None ] && [ "${v:-0}" -ge "$2" ]; }
write_config() { # EXTRA-SPEC-JSON (merged into the spec)
    py "
import json,sys
spec={'interface':'wan','username':'alice','passwordFile':'$PWFILE','lcpEchoInterval':'1s','lcpEchoFailure':3,
      'redial':{'initialDelay':'1s','maxDelay':'4s'},'dataPlane':'auto'}
spec.update(json.loads(sys.argv[1]))
json.dump({'spec':spec,'ifname':'wan0'}, open('$W/config.json','w'))" "${1:-{\}}"
}
stop_daemon() {
    if [ -n "$DPID" ]; then
        kill -TERM "$DPID" 2>/dev/null
        wait "$DPID" 2>/dev/null
        DPID=""
    fi
}
no_secret_anywhere() { # WHERE: the password must not appear in argv, logs, events, status, config
    ! grep -rqF "$PASSWORD" "$W/config.json" "$W/events.jsonl" "$RD_TMP/daemon.log" 2>/dev/null &&
        ! status | grep -qF "$PASSWORD" &&
        ! ps -eo args | grep -v grep | grep -qF "$PASSWORD"
}

# ac COMMAND: one line to the test AC's control socket, its JSON answer on stdout.
ac() {
    py "import socket,sys
s=socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall((sys.argv[2]+'\n').encode()); print(s.makefile().readline().strip())" "$RD_TMP/ac.sock" "$1"
}
ac_stat() { ac stats | py "import json,sys; print(json.load(sys.stdin)['$1'])"; }
start_ac() { # AUTH PASSWORD-FILE
    rm -f "$RD_TMP/ac.sock"
    ip netns exec "$NS_ISP" "$TEST_AC" --interface isp0 --tun ac0 --ac-name test-ac --auth "$1" \
        --username alice --password-file "$2" --local-ipv4 100.64.0.1 --peer-ipv4 100.64.0.2 \
        --dns 192.0.2.53,192.0.2.54 --control "$RD_TMP/ac.sock" >>"$RD_TMP/ac-$1.out" 2>&1 &
    ACPID=$!
    RD_PIDS+=("$ACPID")
    rd_wait_for "the test AC's control socket" 10 ac stats
}
stop_ac() { kill -TERM "$ACPID" 2>/dev/null; wait "$ACPID" 2>/dev/null; }
capture() { # FILE: PPPoE discovery frames on the AC's side
    ip netns exec "$NS_ISP" tcpdump -i isp0 -nn -e -l 'ether proto 0x8863' >"$1" 2>/dev/null &
    CAPTURE=$!
    RD_PIDS+=("$CAPTURE")
    sleep 0.3
}
stop_capture() { kill "$CAPTURE" 2>/dev/null; wait "$CAPTURE" 2>/dev/null; }
up() { phase_is Up; }

session_checks() { # METHOD
    local method="$1" c
    c="$(cursor)"
    check "$method: phase Up" rd_wait_for "Up" 15 up
    check_eq "$method: localAddress" 100.64.0.2 "$(obs session.localAddress)"
    check_eq "$method: peerAddress" 100.64.0.1 "$(obs session.peerAddress)"
    check_eq "$method: dnsServers" "['192.0.2.53', '192.0.2.54']" "$(obs session.dnsServers)"
    check_eq "$method: Authenticated" "True Succeeded" "$(cond Authenticated)"
    check_eq "$method: IPCPOpened" "True Opened" "$(cond IPCPOpened)"
    check "$method: IPv6CPOpened" rd_wait_for "IPv6CP" 5 cond_is IPv6CPOpened "True Opened"
    IID="$(obs session.interfaceIdentifier)"
    PEER_IID="$(obs session.peerInterfaceIdentifier)"
    check "$method: interface identifiers ($IID, peer $PEER_IID)" test "$IID" != None -a "$PEER_IID" != None
    check "$method: ppp-wan has 100.64.0.2 peer 100.64.0.1" sh -c "ip -n $NS_ROUTER addr show ppp-wan | grep -q 'inet 100.64.0.2 peer 100.64.0.1/32'"
    check "$method: ppp-wan has fe80::$IID/64" sh -c "ip -n $NS_ROUTER addr show ppp-wan | grep -q 'inet6 fe80::$IID/64'"
    check "$method: ping through the TUN (router -> AC)" ip netns exec "$NS_ROUTER" ping -c 3 -i 0.2 -W 2 100.64.0.1
    check "$method: ping through the TUN (AC -> router)" ip netns exec "$NS_ISP" ping -c 3 -i 0.2 -W 2 100.64.0.2
    check "$method: ping6 to the AC's link-local" ip netns exec "$NS_ROUTER" ping -6 -c 2 -i 0.2 -W 2 "fe80::$PEER_IID%ppp-wan"
    check "$method: LCP echoes answered and counted" rd_wait_for "echoes" 10 obs_at_least echoRepliesReceived 2
    check "$method: bytes counted both ways" sh -c "[ \"\$(curl -s --unix-socket '$SOCK' http://d/v1/status | python3 -c 'import json,sys; s=json.load(sys.stdin)[\"resources\"][0][\"observed\"][\"session\"]; print(min(s[\"bytesIn\"], s[\"bytesOut\"]))')\" -gt 0 ]"
}

part2() {
    local c sid before after
    ACPW="$RD_TMP/ac.password"
    printf '%s\n' "$PASSWORD" >"$ACPW"
    chmod 0600 "$ACPW"

    echo "== part 2: a PAP session with routerd-test-ac [${SECONDS}s]"
    start_ac pap "$ACPW"
    write_config '{"authentication":"any"}'
    start_daemon
    C1="$(cursor)"
    session_checks PAP
    check_eq "session.up localAddress" 100.64.0.2 "$(attr "$T.session.up" "" localAddress)"
    check_eq "session.up peerAddress" 100.64.0.1 "$(attr "$T.session.up" "" peerAddress)"
    check_eq "session.up ifname" ppp-wan "$(attr "$T.session.up" "" ifname)"
    check_eq "auth.succeeded method" PAP "$(attr "$T.auth.succeeded" "" method)"
    ip netns exec "$NS_ISP" sh -c "head -c 2000000 /dev/urandom > '$RD_TMP/blob'"
    (cd "$RD_TMP" && ip netns exec "$NS_ISP" python3 -m http.server 8080 --bind 100.64.0.1 >/dev/null 2>&1) &
    RD_PIDS+=("$!")
    sleep 0.5
    check "a 2 MB TCP transfer through the session" sh -c "ip netns exec $NS_ROUTER curl -sS --max-time 20 -o '$RD_TMP/blob.got' http://100.64.0.1:8080/blob && cmp -s '$RD_TMP/blob' '$RD_TMP/blob.got'"

    echo "== fault: PADT from the AC -> down, redial, up [${SECONDS}s]"
    c="$(cursor)"
    sid="$(obs session.sessionID)"
    ac padt >/dev/null
    check "padt.received" rd_wait_for "padt.received" 5 has_event "$T.padt.received" "$c"
    check "session.down with the reason" rd_wait_for "session.down" 5 event_containing "$T.session.down" "$c" reason "PADT from the access concentrator"
    check "up again after the redial" rd_wait_for "Up" 15 sh -c "curl -s --unix-socket '$SOCK' http://d/v1/status | grep -q '\"phase\":\"Up\"' && [ \"\$(curl -s --unix-socket '$SOCK' http://d/v1/status | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"resources\"][0][\"observed\"][\"session\"][\"sessionID\"])')\" != '$sid' ]"
    check "lastTerminationReason names the PADT" sh -c "curl -s --unix-socket '$SOCK' http://d/v1/status | grep -q 'lastTerminationReason\":\"PADT'"

    echo "== fault: the AC stops answering echoes -> down after lcpEchoFailure (3 x 1 s) [${SECONDS}s]"
    c="$(cursor)"
    ac "echo-replies off" >/dev/null
    check "echo.lost" rd_wait_for "echo.lost" 10 has_event "$T.echo.lost" "$c"
    check "session.down after the lost echoes" rd_wait_for "session.down" 3 has_event "$T.session.down" "$c"
    ac "echo-replies on" >/dev/null
    check "up again once the AC answers" rd_wait_for "Up" 20 up

    echo "== renew while up sends an LCP echo; reload without a change keeps the session [${SECONDS}s]"
    before="$(obs echoRequestsSent)"
    sid="$(obs session.sessionID)"
    check_eq "renew accepted" 200 "$(command_code renew)"
    check "an Echo-Request went out at once" obs_at_least echoRequestsSent "$((before + 1))"
    check_eq "reload accepted" 200 "$(command_code reload)"
    check "reload kept the session" sh -c "grep -q 'unchanged' '$RD_TMP/cmd.json'"
    check_eq "same session after reload" "$sid" "$(obs session.sessionID)"

    echo "== fault: carrier loss on the Ethernet -> down; carrier back -> dialled at once [${SECONDS}s]"
    c="$(cursor)"
    ip -n "$NS_ISP" link set isp0 down
    check "session.down on carrier loss" rd_wait_for "session.down" 2 event_containing "$T.session.down" "$c" reason "the Ethernet link lost its carrier"
    ip -n "$NS_ISP" link set isp0 up
    check "up again when the carrier returns" rd_wait_for "Up" 15 up

    echo "== fault: kill -9 of the daemon -> the restarted one ends the stale session with a PADT [${SECONDS}s]"
    sid="$(obs session.sessionID)"
    check "session.json holds session $sid" grep -q "\"sessionID\": *$sid" "$W/session.json"
    capture "$RD_TMP/wire-kill.txt"
    kill -9 "$DPID"
    wait "$DPID" 2>/dev/null
    before="$(ac_stat padtReceived)"
    start_daemon
    check "up again after the restart" rd_wait_for "Up" 15 up
    stop_capture
    after="$(ac_stat padtReceived)"
    check "the AC received a PADT ($before -> $after)" test "$after" -gt "$before"
    check "the PADT on the wire carries the old session id $sid" grep -qi "PADT \[ses 0x$(printf '%x' "$sid")\]" "$RD_TMP/wire-kill.txt"
    check "the password is nowhere (argv, log, events, status, config)" no_secret_anywhere
    stop_daemon
    stop_ac

    echo "== part 2: a CHAP session [${SECONDS}s]"
    start_ac chap "$ACPW"
    write_config '{"authentication":"chap"}'
    rm -f "$W/session.json"
    start_daemon
    session_checks CHAP
    check_eq "auth.succeeded method" CHAP "$(attr "$T.auth.succeeded" "" method)"
    before="$(ac_stat padtReceived)"
    stop_daemon
    check "stop ended the session with a PADT" test "$(ac_stat padtReceived)" -gt "$before"
    check "the TUN device is gone after stop" sh -c "! ip -n $NS_ROUTER link show ppp-wan"

    echo "== fault: wrong password -> Error naming authentication, retries backing off (PADIs counted) [${SECONDS}s]"
    printf 'wrong-%s\n' "$PASSWORD" >"$PWFILE"
    write_config '{"authentication":"any","redial":{"initialDelay":"1s","maxDelay":"4s"}}'
    capture "$RD_TMP/wire-auth.txt"
    start_daemon
    check "phase Error" rd_wait_for "Error" 10 phase_is Error
    check_eq "Authenticated condition" "False AuthenticationFailed" "$(cond Authenticated)"
    check "its message names CHAP authentication" sh -c "curl -s --unix-socket '$SOCK' http://d/v1/status | grep -q 'CHAP authentication rejected'"
    check "auth.failed" has_event "$T.auth.failed" ""
    sleep 15
    stop_capture
    PADIS="$(grep -c 'PPPoE PADI' "$RD_TMP/wire-auth.txt")"
    check "backoff: $PADIS PADIs in ~16 s (1, 2, 4, 4... s apart: at most 7)" test "$PADIS" -ge 3 -a "$PADIS" -le 7
    check "the AC counted the failures" test "$(ac_stat authFailures)" -ge 3
    check "the wrong password is nowhere either" sh -c "! grep -rqF 'wrong-$PASSWORD' '$W' '$RD_TMP/daemon.log'"
    stop_daemon
    printf '%s\n' "$PASSWORD" >"$PWFILE"
    stop_ac
}

echo "== part 1: discovery interop with rp-pppoe's pppoe-server [${SECONDS}s]"
ip netns exec "$NS_ISP" tcpdump -i isp0 -nn -e -l 'ether proto 0x8863' >"$RD_TMP/wire-rp.txt" 2>/dev/null &
RD_PIDS+=("$!")
CAPTURE=$!
ip netns exec "$NS_ISP" pppoe-server -I isp0 -C rp-ac -L 10.64.0.1 -R 10.64.0.2 -N 8 -X "$RD_TMP/pppoe-server.pid" \
    >"$RD_TMP/pppoe-server.log" 2>&1 &
RD_PIDS+=("$!")
sleep 0.5
for pid in $(ip netns pids "$NS_ISP"); do RD_PIDS+=("$pid"); done
write_config '{}'
start_daemon
C0=""
check "discovery.completed from rp-pppoe (acName rp-ac)" rd_wait_for "discovery.completed" 10 event_with "$T.discovery.completed" "$C0" acName rp-ac
SID="$(attr "$T.discovery.completed" "$C0" sessionID)"
check "a session id from the PADS ($SID)" test "${SID:-0}" -gt 0
check "status names the AC" rd_wait_for "acName" 5 obs_is session.acName rp-ac
check "status has its MAC" sh -c "[ \"\$(ip -n $NS_ISP -br link show isp0 | awk '{print \$3}')\" = \"$(obs session.acMAC)\" ]"
echo "  (pppd cannot run here without /dev/ppp: pppoe-server ends each session with a PADT)"
check "padt.received after pppd exits" rd_wait_for "padt.received" 10 has_event "$T.padt.received" "$C0"
check "its reason is rp-pppoe's Generic-Error text" grep -q 'padt.received.*RP-PPPoE\|RP-PPPoE.*padt.received' "$W/events.jsonl"
check_eq "data plane" tun "$(obs dataPlane)"
check "TUN device ppp-wan exists with MTU 1492" sh -c "ip -n $NS_ROUTER link show ppp-wan | grep -q 'mtu 1492'"
sleep 6
kill "$CAPTURE" 2>/dev/null
wait "$CAPTURE" 2>/dev/null
PADIS="$(grep -c 'PPPoE PADI' "$RD_TMP/wire-rp.txt")"
PADRS="$(grep -c 'PPPoE PADR' "$RD_TMP/wire-rp.txt")"
check "PADO and PADS on the wire" sh -c "grep -q 'PPPoE PADO' '$RD_TMP/wire-rp.txt' && grep -q 'PPPoE PADS' '$RD_TMP/wire-rp.txt'"
check "redials back off (PADIs in ~7 s: $PADIS, at most 6)" test "$PADIS" -le 6 -a "$PADIS" -ge 2
check "one PADR per attempt ($PADRS for $PADIS PADIs)" test "$PADRS" -le "$PADIS"
check "the password is nowhere (argv, log, events, status, config)" no_secret_anywhere
check_eq "phase while redialling" Pending "$(phase)"
check_eq "stop accepted" 200 "$(command_code stop)"
check "the daemon exits after stop" rd_wait_for "exit" 10 sh -c "! kill -0 $DPID"
wait "$DPID" 2>/dev/null
DPID=""
check "the TUN device is gone with the daemon" sh -c "! ip -n $NS_ROUTER link show ppp-wan"
for pid in $(ip netns pids "$NS_ISP"); do kill "$pid" 2>/dev/null; done
sleep 0.3

echo "== a password file others can read is refused [${SECONDS}s]"
chmod 0644 "$PWFILE"
start_daemon
check "Error PasswordFileRejected" rd_wait_for "Error" 5 phase_reason_is "$SOCK" "Error PasswordFileRejected"
check "the message names the mode, not the password" sh -c "curl -s --unix-socket '$SOCK' http://d/v1/status | grep -q 'mode 0644'"
stop_daemon
chmod 0600 "$PWFILE"

echo "== dataPlane kernel on a kernel without PPP is an Error with the reason [${SECONDS}s]"
write_config '{"dataPlane":"kernel"}'
start_daemon
check "Error DataPlaneUnavailable" rd_wait_for "Error" 5 phase_reason_is "$SOCK" "Error DataPlaneUnavailable"
check "the reason names /dev/ppp" sh -c "curl -s --unix-socket '$SOCK' http://d/v1/status | grep -q '/dev/ppp is missing'"
stop_daemon

if [ ! -x "$TEST_AC" ]; then
    echo "  SKIP part 2 (whole sessions): $TEST_AC is not built (the test access concentrator, crate routerd-test-ac)"
else
    part2
fi

if [ "$E2E_FAILED" -gt 0 ]; then
    echo "--- daemon log (last 60 lines)"
    tail -60 "$RD_TMP/daemon.log"
fi
echo "pppoe-daemon: $E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
