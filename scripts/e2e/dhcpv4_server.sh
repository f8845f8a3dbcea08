#!/usr/bin/env bash
# End-to-end: a DHCPv4Server (routerd-dhcpv4-server, supervised by routerd) on a LAN bridge in the router
# namespace, with a DNSResolver on the router's address. Independent clients in their own namespaces:
# dhclient (isc-dhcp-client) and busybox udhcpc get leases from the pool with gateway, DNS and domain (read
# back from dhclient's lease file and udhcpc's script environment); a reservation wins; a client keeps
# its address across kill -9 of the server daemon (routerd restarts it) and a restart of routerd; a
# DECLINE (crafted by scripts/lib/dhcp_test_client.py) quarantines; a RELEASE frees; `udhcpc -x
# hostname:printer` becomes printer.home.arpa (A and PTR) in the resolver and is gone after the release;
# kill -9 of the daemon during a perfdhcp burst loses no acknowledged lease (every DHCPACK tcpdump saw
# is in the restarted daemon's table). A pool outside the subnet or overlapping another is refused.
#
#   ds-c1 (dhclient) ─┐
#   ds-c2 (udhcpc)   ─┤
#   ds-c3 (udhcpc, reserved MAC) ─┼─ dsbr 192.0.2.1/24 in the router namespace (server + resolver)
#   ds-c4 (test client, perfdhcp 192.0.2.9) ─┘
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RD_BIN="${RD_BIN:-$ROOT/target/debug}"
RD_SUFFIX="ds$$"
# shellcheck source=../lib/netns.sh
source "$HERE/lib/netns.sh"
# shellcheck source=../lib/assert.sh
source "$HERE/lib/assert.sh"
CLIENTS=(c1 c2 c3 c4)
cleanup() {
    # DS_KEEP=DIR keeps the logs, captures and lease files of a run for a look afterwards.
    if [ -n "${DS_KEEP:-}" ]; then mkdir -p "$DS_KEEP" && cp -r "$RD_TMP"/. "$DS_KEEP"/ 2>/dev/null; fi
    for c in "${CLIENTS[@]}"; do
        local ns="ds-$c-$$"
        if ip netns list 2>/dev/null | grep -qw "$ns"; then
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
    rd_cleanup
}
trap cleanup EXIT
export PATH="$RD_BIN:$PATH"
py() { python3 -c "$@"; }
N=dhcpv4-server

for need in "$RD_BIN/routerd-dhcpv4-server" "$RD_BIN/routerd-dns-resolver" "$(command -v dhclient)" \
    "$(command -v busybox)" "$(command -v perfdhcp)" "$(command -v tcpdump)" "$(command -v dig)"; do
    [ -x "$need" ] || skip_scenario "$N" "missing ${need:-a tool} (cargo build --bins; scripts/lib/install-deps.sh)"
done

echo "== $N: topology: bridge dsbr in $NS_ROUTER, clients in ds-c1..c4-$$"
ip netns add "$NS_ROUTER"
ip -n "$NS_ROUTER" link set lo up
ip -n "$NS_ROUTER" link add dsbr type bridge
ip -n "$NS_ROUTER" link set dsbr up
mac_of() { echo "02:00:00:00:d5:0$1"; }
for i in 1 2 3 4; do
    ns="ds-c$i-$$"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip link add "dsp$i" netns "$NS_ROUTER" type veth peer name eth0 netns "$ns"
    ip -n "$ns" link set eth0 address "$(mac_of "$i")"
    ip -n "$ns" link set eth0 up
    ip -n "$NS_ROUTER" link set "dsp$i" master dsbr
    ip -n "$NS_ROUTER" link set "dsp$i" up
done
C() { local c="$1"; shift; ip netns exec "ds-$c-$$" "$@"; }

mkdir -p "$RD_TMP/config"
cat >"$RD_TMP/config/lan.yaml" <<'YAML'
apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: lan}
spec: {ifname: dsbr}
---
apiVersion: net.routerd.net/v1alpha1
kind: IPv4StaticAddress
metadata: {name: lan}
spec: {interface: lan, address: 192.0.2.1/24}
---
apiVersion: net.routerd.net/v1alpha1
kind: DNSResolver
metadata: {name: lan}
spec:
  listen: ["192.0.2.1:53"]
  upstreams: [{address: "127.0.0.1:5399"}]
---
apiVersion: net.routerd.net/v1alpha1
kind: DHCPv4Server
metadata: {name: lan}
spec:
  interface: lan
  pool: {start: 192.0.2.100, end: 192.0.2.250}
  leaseTime: 1h
  domain: home.arpa
  reservations:
    - {mac: "02:00:00:00:d5:03", address: 192.0.2.50, hostname: nas}
YAML
rd_start --config "$RD_TMP/config" --reconcile-interval 5s
check "DHCPv4Server lan Applied" rd_wait_for "DHCPv4Server Applied" 30 rd_phase_is DHCPv4Server lan Applied
check "DNSResolver lan Applied" rd_wait_for "DNSResolver Applied" 30 rd_phase_is DNSResolver lan Applied

leases_json() { routerctl get leases -o json; }
# lease_field ADDRESS FIELD: FIELD of the lease of ADDRESS in routerd's /dhcp-leases.
lease_field() {
    leases_json | py "import json,sys; m=[l for l in json.load(sys.stdin)['items'] if l['address']=='$1']; print(m[0].get('$2') if m else 'MISSING')"
}
lease_is() { [ "$(lease_field "$1" "$2" 2>/dev/null)" = "$3" ]; }
daemon_pid() { pgrep -f "routerd-dhcpv4-server --name lan" | head -1; }

# The clients' scripts configure nothing on the host: they put the address on eth0 and write what they
# received into a file.
cat >"$RD_TMP/dhclient-script" <<'EOF'
#!/bin/sh
case "$reason" in
BOUND|RENEW|REBIND|REBOOT)
    ip addr flush dev "$interface"
    ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface" ;;
esac
exit 0
EOF
cat >"$RD_TMP/udhcpc-script" <<'EOF'
#!/bin/sh
case "$1" in
bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$subnet" dev "$interface"
    env | grep -E '^(ip|router|dns|domain|subnet|lease|serverid|hostname)=' | sort > "$RD_ENV_FILE" ;;
esac
exit 0
EOF
chmod +x "$RD_TMP/dhclient-script" "$RD_TMP/udhcpc-script"
dhclient_run() { # CLIENT [extra args]
    local c="$1"; shift
    C "$c" env RD_ENV_FILE="$RD_TMP/$c.env" timeout 20 dhclient -1 -v -sf "$RD_TMP/dhclient-script" \
        -lf "$RD_TMP/$c.leases" -pf "$RD_TMP/$c.pid" "$@" eth0 >>"$RD_TMP/$c.log" 2>&1
}
udhcpc_run() { # CLIENT [extra args]
    local c="$1"; shift
    C "$c" env RD_ENV_FILE="$RD_TMP/$c.env" timeout 20 busybox udhcpc -i eth0 -f -q -n -t 5 -T 2 \
        -s "$RD_TMP/udhcpc-script" "$@" >>"$RD_TMP/$c.log" 2>&1
}
envv() { grep "^$2=" "$RD_TMP/$1.env" 2>/dev/null | head -1 | cut -d= -f2- | tr -d "'"; }

echo "== dhclient"
t0=$(date +%s%N)
check "dhclient got a lease" dhclient_run c1
echo "  dhclient took $(( ($(date +%s%N) - t0) / 1000000 )) ms (with the 500 ms ping check)"
A1="$(grep -m1 -oE 'fixed-address [0-9.]+' "$RD_TMP/c1.leases" | awk '{print $2}')"
check "dhclient's address is in the pool ($A1)" py "import ipaddress,sys; a=ipaddress.ip_address('$A1'); sys.exit(not ipaddress.ip_address('192.0.2.100') <= a <= ipaddress.ip_address('192.0.2.250'))"
check "lease file: routers 192.0.2.1" grep -q "option routers 192.0.2.1;" "$RD_TMP/c1.leases"
check "lease file: DNS 192.0.2.1 (the resolver listens there)" grep -q "option domain-name-servers 192.0.2.1;" "$RD_TMP/c1.leases"
check "lease file: domain home.arpa" grep -q 'option domain-name "home.arpa";' "$RD_TMP/c1.leases"
check "lease file: subnet mask /24" grep -q "option subnet-mask 255.255.255.0;" "$RD_TMP/c1.leases"
check "lease file: lease time 3600" grep -q "option dhcp-lease-time 3600;" "$RD_TMP/c1.leases"
check "the address is on the client's eth0" sh -c "ip -n ds-c1-$$ -4 addr show eth0 | grep -q '$A1/24'"
check "the client reaches the router" C c1 ping -c1 -W2 192.0.2.1
check "routerctl get leases: bound, dhclient's MAC" rd_wait_for "lease listed" 10 lease_is "$A1" mac "$(mac_of 1)"
check_eq "state" bound "$(lease_field "$A1" state)"

echo "== udhcpc with a host name"
check "udhcpc got a lease" udhcpc_run c2 -x hostname:printer
A2="$(envv c2 ip)"
check_eq "udhcpc: router" 192.0.2.1 "$(envv c2 router)"
check_eq "udhcpc: dns" 192.0.2.1 "$(envv c2 dns)"
check_eq "udhcpc: domain" home.arpa "$(envv c2 domain)"
check_eq "udhcpc: subnet" 255.255.255.0 "$(envv c2 subnet)"
check "a different address from dhclient's ($A2)" test "$A2" != "$A1"
check "lease hostname printer" rd_wait_for "hostname" 10 lease_is "$A2" hostname printer
dq() { C c1 dig +time=2 +tries=1 +short @192.0.2.1 "$@"; }
check "dig printer.home.arpa -> $A2" rd_wait_for "printer A" 20 sh -c "[ \"\$(ip netns exec ds-c1-$$ dig +time=1 +tries=1 +short @192.0.2.1 printer.home.arpa)\" = '$A2' ]"
echo "  dig @192.0.2.1 printer.home.arpa: $(dq printer.home.arpa)"
check_eq "dig -x $A2" "printer.home.arpa." "$(dq -x "$A2")"

echo "== reservation"
check "reserved client got a lease" udhcpc_run c3 -r 192.0.2.120
check_eq "the reservation wins over the requested address" 192.0.2.50 "$(envv c3 ip)"
check "reserved host name nas" rd_wait_for "reserved lease" 10 lease_is 192.0.2.50 hostname nas

echo "== kill -9 of the server daemon: routerd restarts it, the client keeps its address"
P0="$(daemon_pid)"
kill -9 "$P0"
check "routerd restarted the daemon" rd_wait_for "restart" 20 sh -c "p=\$(pgrep -f 'routerd-dhcpv4-server --name lan' | head -1); [ -n \"\$p\" ] && [ \"\$p\" != '$P0' ]"
check "Applied again" rd_wait_for "Applied" 20 rd_phase_is DHCPv4Server lan Applied
C c2 ip addr flush dev eth0
check "udhcpc (fresh DISCOVER) after the restart" udhcpc_run c2 -x hostname:printer
check_eq "same address as before" "$A2" "$(envv c2 ip)"

echo "== restart of routerd"
rd_stop
rd_start --config "$RD_TMP/config" --reconcile-interval 5s
check "Applied after routerd's restart" rd_wait_for "Applied" 30 rd_phase_is DHCPv4Server lan Applied
C c2 ip addr flush dev eth0
check "udhcpc after routerd's restart" udhcpc_run c2 -x hostname:printer
check_eq "same address again" "$A2" "$(envv c2 ip)"
check "leases listed after the restart" rd_wait_for "listed" 10 lease_is "$A1" state bound

echo "== DECLINE quarantines"
D="$(C c4 python3 "$HERE/lib/dhcp_test_client.py" eth0 "$(mac_of 4)" decline 2>>"$RD_TMP/c4.log")"
check "test client leased and declined ($D)" test -n "$D"
check "the lease is declined" rd_wait_for "declined" 10 lease_is "$D" state declined
D2="$(C c4 python3 "$HERE/lib/dhcp_test_client.py" eth0 "$(mac_of 4)" lease 2>>"$RD_TMP/c4.log")"
check "the next lease of that client is another address ($D2)" test -n "$D2" -a "$D2" != "$D"
check_eq "the declined address is still quarantined" declined "$(lease_field "$D" state)"

echo "== RELEASE frees, and the host name goes away"
check "dhclient -r (RELEASE)" dhclient_run c1 -r
check "dhclient's lease released" rd_wait_for "released" 10 lease_is "$A1" state released
# udhcpc -R releases when it is told to exit (SIGTERM) once bound.
rm -f "$RD_TMP/c2.env"
C c2 env RD_ENV_FILE="$RD_TMP/c2.env" timeout 30 busybox udhcpc -i eth0 -f -n -R -t 5 -T 2 \
    -p "$RD_TMP/c2-udhcpc.pid" -s "$RD_TMP/udhcpc-script" -x hostname:printer >>"$RD_TMP/c2.log" 2>&1 &
UPID=$!
rd_wait_for "udhcpc bound" 15 test -s "$RD_TMP/c2.env"
kill -TERM "$(cat "$RD_TMP/c2-udhcpc.pid")" 2>/dev/null
wait "$UPID" 2>/dev/null
check "udhcpc -R released" rd_wait_for "released" 10 lease_is "$A2" state released
check "printer.home.arpa is gone" rd_wait_for "gone" 20 sh -c "[ -z \"\$(ip netns exec ds-c1-$$ dig +time=1 +tries=1 +short @192.0.2.1 printer.home.arpa)\" ]"
check_eq "and its PTR" "" "$(dq -x "$A2")"

echo "== kill -9 during a perfdhcp burst loses no acknowledged lease"
C c4 ip addr add 192.0.2.9/24 dev eth0
C c4 tcpdump -i eth0 -n -U -w "$RD_TMP/burst.pcap" udp port 67 >/dev/null 2>&1 &
TPID=$!
RD_PIDS+=("$TPID")
sleep 1
# 40 new clients a second for 8 s against 150 pool addresses: the kill lands mid-burst, and the
# exchanges after the restart are compared too.
C c4 timeout 30 perfdhcp -4 -l eth0 -r 40 -R 3000 -p 8 -b mac=02:01:00:00:00:00 192.0.2.1 >"$RD_TMP/perfdhcp.log" 2>&1 &
PPID_=$!
sleep 2.5
P1="$(daemon_pid)"
kill -9 "$P1"
wait "$PPID_" 2>/dev/null
sleep 1
kill "$TPID" 2>/dev/null
wait "$TPID" 2>/dev/null
check "routerd restarted the daemon after the burst" rd_wait_for "restart" 20 sh -c "p=\$(pgrep -f 'routerd-dhcpv4-server --name lan' | head -1); [ -n \"\$p\" ] && [ \"\$p\" != '$P1' ]"
rd_wait_for "Applied" 20 rd_phase_is DHCPv4Server lan Applied
python3 "$HERE/lib/dhcp_test_client.py" - - pcap-acks "$RD_TMP/burst.pcap" | sort -u >"$RD_TMP/acked.txt"
leases_json | py "import json,sys
for l in json.load(sys.stdin)['items']:
    if l['state'] in ('bound', 'expired', 'released'): print(l['address'], l['mac'])" | sort -u >"$RD_TMP/table.txt"
acked="$(wc -l <"$RD_TMP/acked.txt")"
missing="$(comm -23 "$RD_TMP/acked.txt" "$RD_TMP/table.txt" | wc -l)"
echo "  perfdhcp: $(grep -E 'sent packets|received packets' "$RD_TMP/perfdhcp.log" | tr -s ' ' | tr '\n' ';')"
check "perfdhcp got acknowledgements ($acked ACKs)" test "$acked" -gt 0
check_eq "every ACKed (address, MAC) is in the restarted daemon's table" 0 "$missing"
dups="$(leases_json | py "import json,sys,collections
c=collections.Counter(l['address'] for l in json.load(sys.stdin)['items']); print(sum(1 for v in c.values() if v>1))")"
check_eq "no address twice in the lease table" 0 "$dups"

echo "== refused at apply"
bad() { # POOL_START POOL_END NAME
    rd_api POST /apply "{\"resources\": [{\"apiVersion\": \"net.routerd.net/v1alpha1\", \"kind\": \"DHCPv4Server\", \"metadata\": {\"name\": \"$3\"}, \"spec\": {\"interface\": \"lan\", \"pool\": {\"start\": \"$1\", \"end\": \"$2\"}}}]}" 2>&1
}
out="$(bad 10.0.0.1 10.0.0.9 outside)"
check "a pool outside the subnet is refused naming spec.pool.start" grep -q 'spec.pool.start' <<<"$out"
out="$(bad 192.0.2.150 192.0.2.160 overlap)"
check "an overlapping pool is refused naming spec.pool" grep -q '"spec.pool"' <<<"$out"
check "events: lease.granted, declined, released recorded" sh -c "routerctl get events --topic 'routerd.dhcpv4.server.**' -o json --limit 1000 | grep -q lease.declined"

echo "$N: $E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
