#!/usr/bin/env bash
# End-to-end: the test access concentrator (routerd-test-ac) against an independent PPPoE implementation,
# rp-pppoe's `pppoe` (Debian `pppoe`): `pppoe -A` sees our AC (AC-Name, Service-Name, AC-Cookie), a
# session-mode `pppoe` completes PADI/PADO/PADR/PADS and receives our LCP Configure-Request, and its PADT
# on exit removes the session. rp-pppoe goes no further without pppd and kernel PPP, which these
# machines lack; full sessions are the PPPoE client's scenarios. Also: the TUN's addresses, a refused
# Service-Name, the silence knob and the control socket.
#
#   client: eth0 ──veth── isp0 :isp (routerd-test-ac, TUN ppp-ac)
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RD_BIN="${RD_BIN:-$ROOT/target/debug}"
# shellcheck source=../lib/netns.sh
source "$HERE/lib/netns.sh"
# shellcheck source=../lib/assert.sh
source "$HERE/lib/assert.sh"
NS_CLIENT="rd-pppoec-$RD_SUFFIX"
cleanup() {
    ip netns del "$NS_CLIENT" 2>/dev/null
    rd_cleanup
}
trap cleanup EXIT

AC="$RD_BIN/routerd-test-ac"
for need in "$AC" "$(command -v pppoe)"; do
    if [ ! -x "$need" ]; then
        echo "test-ac: missing ${need:-pppoe} (cargo build; scripts/lib/install-deps.sh)"
        echo "test-ac: 0 passed, 1 failed"
        exit 1
    fi
done

echo "== test-ac: topology $NS_CLIENT <-> $NS_ISP"
ip netns add "$NS_CLIENT"
ip netns add "$NS_ISP"
for ns in "$NS_CLIENT" "$NS_ISP"; do ip -n "$ns" link set lo up; done
ip link add eth0 netns "$NS_CLIENT" type veth peer name isp0 netns "$NS_ISP"
ip -n "$NS_CLIENT" link set eth0 up
ip -n "$NS_ISP" link set isp0 up
AC_MAC="$(ip netns exec "$NS_ISP" cat /sys/class/net/isp0/address)"

CTL="$RD_TMP/ac.sock"
LOG="$RD_TMP/ac.log"
ip netns exec "$NS_ISP" "$AC" --interface isp0 --tun ppp-ac --ac-name TestAC --service-name internet \
    --auth chap --username alice --local-ipv4 100.64.0.1 --peer-ipv4 100.64.0.2 --dns 198.51.100.53 \
    --control "$CTL" >"$LOG" 2>&1 &
AC_PID=$!
RD_PIDS+=("$AC_PID")
check "AC ready" rd_wait_for "the AC" 10 grep -q '"event":"ready"' "$LOG"

ctl() { python3 - "$CTL" "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
print(s.makefile().readline().strip())
EOF
}
lacks() { ! grep -q "$1" <<<"$2"; }
stat() { ctl stats | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

echo "== TUN in the ISP namespace"
tun="$(ip -n "$NS_ISP" addr show dev ppp-ac 2>&1)"
check "TUN ppp-ac is up with MTU 1492" grep -q 'mtu 1492' <<<"$tun"
check "TUN has 100.64.0.1 peer 100.64.0.2/32" grep -q 'inet 100.64.0.1 peer 100.64.0.2/32' <<<"$tun"
check "TUN has a link-local fe80::/64 from the AC's identifier" grep -q 'inet6 fe80::.*/64' <<<"$tun"

echo "== rp-pppoe 'pppoe -A' sees our AC"
offers="$(timeout 10 ip netns exec "$NS_CLIENT" pppoe -A -I eth0 2>&1)"
echo "$offers" | sed 's/^/   /'
check "AC-Name TestAC" grep -q '^Access-Concentrator: TestAC' <<<"$offers"
check "Service-Name internet" grep -q 'Service-Name: internet' <<<"$offers"
check "an AC-Cookie" grep -q '^Got a cookie:' <<<"$offers"
check "our MAC" grep -qi "AC-Ethernet-Address: $AC_MAC" <<<"$offers"
check_eq "PADIs counted" 1 "$(stat padiReceived)"

echo "== a Service-Name we do not offer is refused"
refused="$(timeout 4 ip netns exec "$NS_CLIENT" pppoe -A -I eth0 -S video 2>&1)"
check "no offer for 'video'" lacks '^Access-Concentrator' "$refused"
check "PADO carried the refusal" grep -q '"event":"pado".*"refused":true' "$LOG"

echo "== rp-pppoe session mode: PADR/PADS, our LCP Configure-Request, its PADT"
# pppoe relays PPP as async-HDLC on stdout; stdin stays open for 2 s, then it sends PADT and exits.
hdlc="$RD_TMP/hdlc.bin"
(sleep 2) | timeout 10 ip netns exec "$NS_CLIENT" pppoe -I eth0 -S internet -T 5 >"$hdlc" 2>"$RD_TMP/pppoe.err"
check "PADS with a session id" grep -q '"event":"pads".*"sessionID":[1-9]' "$LOG"
# 7e ff 7d 23 c0 21 7d 21: flag, address, escaped control, LCP, escaped Configure-Request code.
check "rp-pppoe received our LCP Configure-Request" python3 -c "
import sys; d = open('$hdlc','rb').read()
sys.exit(0 if bytes.fromhex('7eff7d23c0217d21') in d else 1)"
check "its PADT removed the session" rd_wait_for "padt" 5 grep -q '"event":"padt-received".*"known":true' "$LOG"
check_eq "PADT counted" 1 "$(stat padtReceived)"
check_eq "no session left" "[]" "$(stat sessions)"

echo "== silence knob"
check "silent on" grep -q '"silent":true' <<<"$(ctl 'silent on')"
quiet="$(timeout 4 ip netns exec "$NS_CLIENT" pppoe -A -I eth0 2>&1)"
check "no offer while silent" lacks '^Access-Concentrator' "$quiet"
check "PADIs still counted while silent" sh -c "[ $(stat padiReceived) -gt 3 ]"
ctl 'silent off' >/dev/null
check "offers again after silent off" sh -c "timeout 10 ip netns exec $NS_CLIENT pppoe -A -I eth0 | grep -q TestAC"

echo "== control socket"
check "unknown command answered with ok:false" grep -q '"ok":false' <<<"$(ctl 'frobnicate')"
check "echo-replies off" grep -q '"echoReplies":false' <<<"$(ctl 'echo-replies off')"
check "padt with no session" grep -q '"padtSent":0' <<<"$(ctl padt)"

echo "== SIGTERM"
kill -TERM "$AC_PID"
check "AC exits cleanly" wait "$AC_PID"
check "control socket removed" test ! -e "$CTL"
check "TUN gone with the AC" sh -c "! ip -n $NS_ISP link show ppp-ac"

echo "test-ac: $E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
