# shellcheck shell=bash
# The whole home router's world, for the demo's second act (needs netns.sh sourced first; everything it
# starts goes into RD_PIDS and every namespace it makes is removed by rd_home_cleanup):
#
#   pc (dhclient, SLAAC) --+
#                          +-- switch ---- rt-lan  ROUTER (routerd)  rt-wan ---- ISP 1: dnsmasq DHCPv4, kea-dhcp6 PD -----+
#   nas (udhcpc, :80) -----+                     rt-wan2 --- ISP 2: routerd-test-ac (PPPoE, TUN) --+   |
#                                                                                                  |   |
#                                  the Internet: www.example.test (203.0.113.80, HTTP :80) and ----+---+
#                                  its resolver (203.0.113.53, dnsmasq), reached through either ISP
#
# ISP 1 and ISP 2 do not route the LAN's addresses: the LAN reaches the Internet only through the router's
# NAT. Addresses: ISP 1 access 198.51.100.0/26 (ISP side .1, the router's by DHCP); ISP 2's PPPoE access
# 100.64.0.1 <-> 100.64.0.10; the ISPs' uplinks 10.255.1.0/30 and 10.255.2.0/30 to the Internet namespace.

NS_HOME_ROUTER="rd-home-$RD_SUFFIX"
NS_HOME_SWITCH="rd-hsw-$RD_SUFFIX"
NS_HOME_PC="rd-hpc-$RD_SUFFIX"
NS_HOME_NAS="rd-hnas-$RD_SUFFIX"
NS_HOME_ISP1="rd-isp1-$RD_SUFFIX"
NS_HOME_ISP2="rd-isp2-$RD_SUFFIX"
NS_HOME_NET="rd-net-$RD_SUFFIX"
HOME_PPPOE_USER="home@isp2.test"
HOME_AC_SOCK="$RD_TMP/home-ac.sock"

rd_home_cleanup() {
    local ns pid
    for ns in "$NS_HOME_ROUTER" "$NS_HOME_SWITCH" "$NS_HOME_PC" "$NS_HOME_NAS" "$NS_HOME_ISP1" "$NS_HOME_ISP2" "$NS_HOME_NET"; do
        if ip netns list 2>/dev/null | grep -qw "$ns"; then
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
        fi
        rm -rf "/etc/netns/$ns"
    done
}

# rd_home_link NS_A IF_A NS_B IF_B: a veth pair between two namespaces, both ends up.
rd_home_link() {
    ip link add "$2" netns "$1" type veth peer name "$4" netns "$3"
    ip -n "$1" link set "$2" up
    ip -n "$3" link set "$4" up
}

# rd_home_topology: the namespaces, links, the Internet's services and ISP 1's DHCP; ISP 2's access
# concentrator and ISP 1's kea-dhcp6 are started by rd_home_isp2 and rd_home_isp1_pd.
rd_home_topology() {
    local ns
    for ns in "$NS_HOME_ROUTER" "$NS_HOME_SWITCH" "$NS_HOME_PC" "$NS_HOME_NAS" "$NS_HOME_ISP1" "$NS_HOME_ISP2" "$NS_HOME_NET"; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
    done
    for ns in "$NS_HOME_ISP1" "$NS_HOME_ISP2"; do
        ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    done
    # The LAN: a bridge in the switch namespace joining the router, the pc and the nas (whose MAC the
    # DHCPv4Server reserves 192.168.1.20 for).
    ip -n "$NS_HOME_SWITCH" link add br-lan type bridge mcast_snooping 0
    ip -n "$NS_HOME_SWITCH" link set br-lan up
    rd_home_link "$NS_HOME_ROUTER" rt-lan "$NS_HOME_SWITCH" sw-router
    rd_home_link "$NS_HOME_PC" eth0 "$NS_HOME_SWITCH" sw-pc
    rd_home_link "$NS_HOME_NAS" eth0 "$NS_HOME_SWITCH" sw-nas
    for port in sw-router sw-pc sw-nas; do ip -n "$NS_HOME_SWITCH" link set "$port" master br-lan; done
    ip -n "$NS_HOME_NAS" link set eth0 address 02:00:00:00:00:20
    rd_home_link "$NS_HOME_ROUTER" rt-wan "$NS_HOME_ISP1" isp1-r
    rd_home_link "$NS_HOME_ROUTER" rt-wan2 "$NS_HOME_ISP2" isp2-r
    rd_home_link "$NS_HOME_ISP1" isp1-i "$NS_HOME_NET" net-isp1
    rd_home_link "$NS_HOME_ISP2" isp2-i "$NS_HOME_NET" net-isp2
    # ISP 1: the access network and the uplink.
    ip -n "$NS_HOME_ISP1" addr add 198.51.100.1/26 dev isp1-r
    ip -n "$NS_HOME_ISP1" addr add 10.255.1.1/30 dev isp1-i
    ip -n "$NS_HOME_ISP1" route add default via 10.255.1.2
    # ISP 2: the uplink (the PPPoE side is the access concentrator's TUN).
    ip -n "$NS_HOME_ISP2" addr add 10.255.2.1/30 dev isp2-i
    ip -n "$NS_HOME_ISP2" route add default via 10.255.2.2
    # The Internet: a web server and a resolver on its loopback, routes back to both ISPs' customers.
    ip -n "$NS_HOME_NET" addr add 10.255.1.2/30 dev net-isp1
    ip -n "$NS_HOME_NET" addr add 10.255.2.2/30 dev net-isp2
    ip -n "$NS_HOME_NET" addr add 203.0.113.80/32 dev lo
    ip -n "$NS_HOME_NET" addr add 203.0.113.53/32 dev lo
    ip -n "$NS_HOME_NET" route add 198.51.100.0/26 via 10.255.1.1
    ip -n "$NS_HOME_NET" route add 100.64.0.0/24 via 10.255.2.1
    mkdir -p "$RD_TMP/home-www"
    echo "hello from www.example.test" > "$RD_TMP/home-www/index.html"
    ip netns exec "$NS_HOME_NET" python3 -m http.server 80 --bind 203.0.113.80 \
        --directory "$RD_TMP/home-www" >"$RD_TMP/home-http.log" 2>&1 &
    RD_PIDS+=("$!")
    ip netns exec "$NS_HOME_NET" dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces \
        --listen-address=203.0.113.53 --port=53 --address=/www.example.test/203.0.113.80 \
        --pid-file="$RD_TMP/home-dns.pid" --log-facility="$RD_TMP/home-dns.log" >/dev/null 2>&1 &
    RD_PIDS+=("$!")
    # ISP 1's DHCP for the router's first uplink.
    ip netns exec "$NS_HOME_ISP1" dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces \
        --interface=isp1-r --except-interface=lo --port=0 \
        --dhcp-range=198.51.100.10,198.51.100.50,255.255.255.192,1h \
        --dhcp-option=option:router,198.51.100.1 --dhcp-option=option:dns-server,203.0.113.53 \
        --dhcp-leasefile="$RD_TMP/home-isp1.leases" --pid-file="$RD_TMP/home-isp1.pid" \
        --log-dhcp --log-facility="$RD_TMP/home-isp1.log" >/dev/null 2>&1 &
    RD_PIDS+=("$!")
    rd_wait_for "the Internet's web server" 10 \
        ip netns exec "$NS_HOME_NET" curl -sf --max-time 1 http://203.0.113.80/
}

# rd_home_isp1_pd: kea-dhcp6 delegating /56s from 2001:db8:1200::/40 on ISP 1's access link.
rd_home_isp1_pd() {
    rd_kea6_start "$NS_HOME_ISP1" isp1-r "$RD_TMP/home-kea6"
}

# rd_home_isp2 SECRETS_DIR: ISP 2's PPPoE access concentrator (CHAP), its TUN ac-tun 100.64.0.1 handing
# 100.64.0.10 to the router. The password file is written to SECRETS_DIR (mode 0600) for both sides.
rd_home_isp2() {
    local secrets="$1"
    mkdir -p "$secrets"
    chmod 0700 "$secrets"
    (umask 077 && printf 'home-secret' >"$secrets/isp2-password")
    ip netns exec "$NS_HOME_ISP2" "$RD_BIN/routerd-test-ac" --interface isp2-r --tun ac-tun \
        --ac-name isp2 --auth chap --username "$HOME_PPPOE_USER" \
        --password-file "$secrets/isp2-password" --local-ipv4 100.64.0.1 --peer-ipv4 100.64.0.10 \
        --dns 203.0.113.53 --control "$HOME_AC_SOCK" >"$RD_TMP/home-ac.log" 2>&1 &
    RD_PIDS+=("$!")
    rd_wait_for "ISP 2's access concentrator" 10 test -S "$HOME_AC_SOCK"
}

# rd_home_cut ISP / rd_home_restore ISP: ISP N (1 or 2) stops (or resumes) forwarding to the Internet.
rd_home_cut() {
    local ns="$NS_HOME_ISP1"
    [ "$1" = 2 ] && ns="$NS_HOME_ISP2"
    ip netns exec "$ns" nft -f - <<'NFT'
table inet home-cut {
    chain forward { type filter hook forward priority 0; drop; }
}
NFT
}

rd_home_restore() {
    local ns="$NS_HOME_ISP1"
    [ "$1" = 2 ] && ns="$NS_HOME_ISP2"
    ip netns exec "$ns" nft delete table inet home-cut
}
