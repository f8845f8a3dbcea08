# shellcheck shell=bash
# The demo's second act: the whole home router (examples/home-router/) in its own world
# (scripts/lib/home_topology.sh). Sourced by scripts/demo after the first act stopped its routerd; uses
# say/run from the demo and netns.sh's helpers.

# rd_home_field KIND NAME PYEXPR: a value of a resource's status (PYEXPR over `s`, the status dict).
rd_home_field() {
    rd_api GET "/resources/$1/$2" | python3 -c "import json,sys; s=json.load(sys.stdin).get('status') or {}; print($3)" 2>/dev/null
}
rd_home_selected_is() { [ "$(rd_home_field EgressRoutePolicy internet "s.get('selected','')")" = "$1" ]; }

# in_ns NS CMD...: runs CMD in NS with NS's own /etc/resolv.conf (ip netns exec bind-mounts
# /etc/netns/NS/resolv.conf), so a DHCP client's script never writes the host's.
rd_home_netns_etc() {
    local ns
    for ns in "$NS_HOME_PC" "$NS_HOME_NAS"; do
        mkdir -p "/etc/netns/$ns"
        : >"/etc/netns/$ns/resolv.conf"
    done
}

rd_home_act() {
    say "act 2: the whole home router — two ISPs (DHCP and PPPoE), prefix delegation, NAT, a zone firewall, failover, DHCP, RAs and DNS for the LAN"
    # Act 1's world goes first: its namespaces are not needed any more.
    rd_cleanup_act1
    NS_ROUTER="$NS_HOME_ROUTER"
    RD_RUN="$RD_TMP/home-run"
    RD_STATE="$RD_TMP/home-state"
    export ROUTERD_RUNTIME_DIR="$RD_RUN"
    echo "  pc, nas -- switch -- router -- ISP 1 (DHCP + DHCPv6-PD) / ISP 2 (PPPoE) -- the Internet (www.example.test)"
    rd_home_topology
    rd_home_netns_etc
    rd_home_isp2 "$RD_TMP/home-secrets"
    rd_home_isp1_pd
    mkdir -p "$RD_TMP/home-config"
    for f in examples/home-router/*.yaml; do
        sed "s#/etc/routerd/secrets/#$RD_TMP/home-secrets/#" "$f" >"$RD_TMP/home-config/$(basename "$f")"
    done
    say "routerd serve --config examples/home-router/ (the PPPoE password file under $RD_TMP/home-secrets)"
    rd_start --config "$RD_TMP/home-config" --reconcile-interval 5s
    rd_wait_for "ISP 1's lease" 30 rd_phase_is DHCPv4Client wan Bound
    rd_wait_for "ISP 2's PPPoE session" 30 rd_phase_is PPPoESession wan2 Up
    rd_wait_for "the egress policy" 30 rd_home_selected_is isp1
    rd_wait_for "the firewall" 20 rd_phase_is FirewallZone wan Applied
    rd_wait_for "the DHCP server" 20 rd_phase_is DHCPv4Server lan Applied
    rd_wait_for "the delegated prefix" 30 rd_phase_is DHCPv6PrefixDelegation wan-pd Bound
    run routerctl get resources
    run routerctl describe egressroutepolicy/internet
    run ip -n "$NS_HOME_ROUTER" route show default

    say "the pc gets its IPv4 lease from routerd-dhcpv4-server with dhclient (gateway, DNS and domain from the lease)"
    run ip netns exec "$NS_HOME_PC" timeout 20 dhclient -1 -v -lf "$RD_TMP/pc.leases" \
        -pf "$RD_TMP/pc-dhclient.pid" eth0
    RD_PIDS+=("$(cat "$RD_TMP/pc-dhclient.pid" 2>/dev/null)")
    run ip -n "$NS_HOME_PC" -4 -br addr show dev eth0
    run ip -n "$NS_HOME_PC" -4 route show default
    run cat "/etc/netns/$NS_HOME_PC/resolv.conf"
    say "the nas asks with busybox udhcpc and its host name; its reservation gives it 192.168.1.20"
    run ip netns exec "$NS_HOME_NAS" timeout 20 busybox udhcpc -i eth0 -q -n -x hostname:nas \
        -s "$ROOT/scripts/lib/udhcpc-script"
    run ip -n "$NS_HOME_NAS" -4 -br addr show dev eth0
    mkdir -p "$RD_TMP/nas-www"
    echo "the nas's own page" >"$RD_TMP/nas-www/index.html"
    ip netns exec "$NS_HOME_NAS" python3 -m http.server 80 --bind 192.168.1.20 \
        --directory "$RD_TMP/nas-www" >"$RD_TMP/nas-http.log" 2>&1 &
    RD_PIDS+=("$!")
    rd_wait_for "the nas's lease in routerd" 10 sh -c "routerctl get leases | grep -q 192.168.1.20"
    run routerctl get leases

    say "IPv6: the LAN's prefix came from ISP 1 by delegation; routerd-ra advertises it and the pc takes an address by SLAAC"
    rd_wait_for "the RA" 20 rd_phase_is IPv6RouterAdvertisement lan Applied
    rd_wait_for "a SLAAC address" 20 sh -c "ip -n $NS_HOME_PC -6 addr show dev eth0 scope global | grep -q inet6"
    run ip -n "$NS_HOME_PC" -6 addr show dev eth0 scope global
    run ip -n "$NS_HOME_PC" -6 route show default
    run ip netns exec "$NS_HOME_PC" rdisc6 -1 -w 2000 eth0

    say "DNS: the pc resolves through the router; the nas's host name is in the resolver since its lease"
    rd_wait_for "nas.home.arpa in the resolver" 10 sh -c \
        "ip netns exec $NS_HOME_PC dig +short nas.home.arpa | grep -q 192.168.1.20"
    run ip netns exec "$NS_HOME_PC" dig +short www.example.test
    run ip netns exec "$NS_HOME_PC" dig +short nas.home.arpa
    run ip netns exec "$NS_HOME_PC" dig +short -x 192.168.1.20

    say "the pc fetches a page from the Internet; the server sees the router's ISP 1 address (NAT)"
    run ip netns exec "$NS_HOME_PC" curl -sS --max-time 5 http://www.example.test/
    run tail -n 1 "$RD_TMP/home-http.log"
    local wan_ip
    wan_ip="$(rd_home_field DHCPv4Client wan "(s.get('lease') or {}).get('address','').split('/')[0]")"
    say "a port forward: the Internet reaches the nas's web server at the router's address $wan_ip:8080"
    run ip netns exec "$NS_HOME_NET" curl -sS --max-time 5 "http://$wan_ip:8080/"
    say "the firewall: the Internet may not open the router's ssh port; the drop is logged with the zone's name"
    ip netns exec "$NS_HOME_NET" timeout 2 bash -c "exec 3<>/dev/tcp/$wan_ip/22" 2>/dev/null || echo "  (connection to $wan_ip:22 timed out: dropped)"
    rd_wait_for "the log row" 10 sh -c "routerctl get firewall-logs -o json | grep -q zone-wan"
    run routerctl get firewall-logs --limit 3
    run routerctl get firewall

    say "failover: ISP 1 stops forwarding; its health check fails and the default route moves to ISP 2"
    rd_home_cut 1
    rd_wait_for "the switch to ISP 2" 15 rd_home_selected_is isp2
    run ip -n "$NS_HOME_ROUTER" route show default
    run routerctl get events --topic 'routerd.route.egress.*'
    run ip netns exec "$NS_HOME_PC" curl -sS --max-time 5 http://www.example.test/
    run tail -n 1 "$RD_TMP/home-http.log"
    say "ISP 1 comes back: routerd fails back only after failbackDelay (10s) of continuous health"
    rd_home_restore 1
    rd_wait_for "the fail-back to ISP 1" 30 rd_home_selected_is isp1
    run routerctl describe egressroutepolicy/internet
    run ip -n "$NS_HOME_ROUTER" route show default

    say "what the LAN did, as routerd recorded it"
    run routerctl get dns-queries --limit 5
    run routerctl get traffic-flows --limit 5
    say "SIGTERM: routerd exits cleanly; its daemons keep the WAN and the LAN served until it is back"
    rd_stop && echo "routerd exited cleanly"
}
