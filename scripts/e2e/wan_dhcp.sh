#!/usr/bin/env bash
# End-to-end: a DHCPv4Client resource in routerd against dnsmasq in the isp namespace. routerd runs
# routerd-dhcpv4-client, installs the leased address and the default route through netlink, and removes
# exactly those when the resource is deleted (the daemon releases the lease).
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

echo "== wan-dhcp: topology $NS_ROUTER <-> $NS_ISP, dnsmasq serving 198.51.100.0/26"
rd_topology
rd_topology_isp
ip netns exec "$NS_ISP" dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces --interface=isp0 \
    --port=0 --dhcp-range=198.51.100.10,198.51.100.50,255.255.255.192,2m \
    --dhcp-option=option:router,198.51.100.1 --dhcp-leasefile="$RD_TMP/dnsmasq.leases" \
    --pid-file="$RD_TMP/dnsmasq-dhcp.pid" --log-dhcp --log-facility="$RD_TMP/dnsmasq-dhcp.log" >/dev/null 2>&1 &
DNSMASQ=$!
RD_PIDS+=("$DNSMASQ")
cat > "$RD_TMP/wan.yaml" <<'YAML'
apiVersion: net.routerd.net/v1alpha1
kind: Interface
metadata: {name: wan}
spec: {ifname: rt-wan}
---
apiVersion: net.routerd.net/v1alpha1
kind: DHCPv4Client
metadata: {name: wan}
spec: {interface: wan, hostname: demo-router}
YAML
rd_start --config "$RD_TMP/wan.yaml" --reconcile-interval 5s
lease_field() { rd_api GET /resources/DHCPv4Client/wan | python3 -c "import json,sys; print(json.load(sys.stdin)['status'].get('lease', {}).get('$1', ''))"; }
cond() { rd_api GET /resources/DHCPv4Client/wan | python3 -c "import json,sys; print([c['status'] for c in json.load(sys.stdin)['status']['conditions'] if c['type']=='$1'][0])"; }

check "DHCPv4Client/wan Bound" rd_wait_for "Bound" 30 rd_phase_is DHCPv4Client wan Bound
addr="$(lease_field address)"
check "leased address in the dnsmasq range ($addr)" python3 -c "import ipaddress,sys; a=ipaddress.ip_address('$addr'); sys.exit(0 if ipaddress.ip_address('198.51.100.10') <= a <= ipaddress.ip_address('198.51.100.50') else 1)"
check_eq "gateway from the lease" 198.51.100.1 "$(lease_field gateway)"
check "address present on rt-wan" rd_wait_for "address" 10 sh -c "ip -n $NS_ROUTER -4 addr show dev rt-wan | grep -q 'inet $addr/26'"
check "default route via the lease's router, metric 100" rd_wait_for "route" 10 sh -c "ip -n $NS_ROUTER route show default | grep -q 'via 198.51.100.1 dev rt-wan proto static metric 100'"
check_eq "condition AddressApplied" True "$(cond AddressApplied)"
check_eq "condition DefaultRouteInstalled" True "$(cond DefaultRouteInstalled)"
check "ping from the router to the ISP's services through the default route" ip netns exec "$NS_ROUTER" ping -c1 -W2 198.51.100.129
check "routerctl get dhcpv4client wan" sh -c "routerctl get dhcpv4client wan | grep -q Bound"
check "lease.bound recorded in routerd's events" sh -c "routerctl get events --topic 'routerd.dhcpv4.client.lease.*' -o json | grep -q lease.bound"

echo "== drift: the leased address removed behind routerd's back is put back"
ip -n "$NS_ROUTER" addr del "$addr/26" dev rt-wan
check "address re-added" rd_wait_for "repair" 10 sh -c "ip -n $NS_ROUTER -4 addr show dev rt-wan | grep -q 'inet $addr/26'"
check "default route re-installed" rd_wait_for "route repair" 10 sh -c "ip -n $NS_ROUTER route show default | grep -q 'via 198.51.100.1'"

echo "== delete: release, and exactly what routerd installed is removed"
check "routerctl delete dhcpv4client/wan" routerctl delete dhcpv4client/wan
check "address removed" rd_wait_for "address removal" 15 sh -c "! ip -n $NS_ROUTER -4 addr show dev rt-wan | grep -q 'inet $addr/'"
check "default route removed" rd_wait_for "route removal" 15 sh -c "! ip -n $NS_ROUTER route show default | grep -q ."
check "dnsmasq saw the DHCPRELEASE" rd_wait_for "release" 15 grep -q "DHCPRELEASE" "$RD_TMP/dnsmasq-dhcp.log"

echo "== kea-dhcp4 with a 30 s lease: bound, then expiry removes what routerd installed, then bound again"
kill "$DNSMASQ" 2>/dev/null; wait "$DNSMASQ" 2>/dev/null
export KEA_PIDFILE_DIR="$RD_TMP" KEA_LOCKFILE_DIR="$RD_TMP"
cat >"$RD_TMP/kea.json" <<JSON
{"Dhcp4": {
  "interfaces-config": {"interfaces": ["isp0"]},
  "lease-database": {"type": "memfile", "persist": true, "name": "$RD_TMP/kea-leases4.csv", "lfc-interval": 0},
  "valid-lifetime": 30, "renew-timer": 10, "rebind-timer": 20,
  "subnet4": [{"id": 1, "subnet": "198.51.100.0/26", "pools": [{"pool": "198.51.100.20 - 198.51.100.30"}],
               "option-data": [{"name": "routers", "data": "198.51.100.1"}]}],
  "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": "$RD_TMP/kea.log"}], "severity": "INFO"}]
}}
JSON
start_kea() {
    ip netns exec "$NS_ISP" kea-dhcp4 -c "$RD_TMP/kea.json" >>"$RD_TMP/kea.out" 2>&1 &
    KEA=$!
    RD_PIDS+=("$KEA")
    rd_wait_for "kea-dhcp4" 10 sh -c "grep -c DHCP4_STARTED '$RD_TMP/kea.log' | grep -qx $1"
}
start_kea 1
check "re-apply DHCPv4Client/wan" routerctl apply -f "$RD_TMP/wan.yaml"
check "Bound against kea" rd_wait_for "Bound" 30 rd_phase_is DHCPv4Client wan Bound
addr="$(lease_field address)"
check "kea address on rt-wan ($addr)" rd_wait_for "address" 10 sh -c "ip -n $NS_ROUTER -4 addr show dev rt-wan | grep -q 'inet $addr/26'"
check "default route via kea's router" rd_wait_for "route" 10 sh -c "ip -n $NS_ROUTER route show default | grep -q 'via 198.51.100.1 dev rt-wan'"
check "ping through it" ip netns exec "$NS_ROUTER" ping -c1 -W2 198.51.100.129
kill "$KEA" 2>/dev/null; wait "$KEA" 2>/dev/null
check "lease expires without the server: phase Pending" rd_wait_for "expiry" 45 rd_phase_is DHCPv4Client wan Pending
check "leased address removed at expiry" rd_wait_for "address removal" 10 sh -c "! ip -n $NS_ROUTER -4 addr show dev rt-wan | grep -q 'inet $addr/'"
check "default route removed at expiry" rd_wait_for "route removal" 10 sh -c "! ip -n $NS_ROUTER route show default | grep -q ."
check "lease.expired event in routerd's store" sh -c "routerctl get events --topic routerd.dhcpv4.client.lease.expired -o json | grep -q lease.expired"
start_kea 2
check "server back: Bound again" rd_wait_for "Bound again" 60 rd_phase_is DHCPv4Client wan Bound
check "address back" rd_wait_for "address" 10 sh -c "ip -n $NS_ROUTER -4 addr show dev rt-wan | grep -q 'inet 198.51.100.'"

echo "wan-dhcp: $E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
