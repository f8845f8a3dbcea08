# shellcheck shell=bash
# A router namespace between a client and a server namespace, for the flow and firewall-log scenarios and
# benchmarks (source netns.sh first: it names the namespaces and cleans them up).
#   client (NS_LAN)  fl-c0 192.0.2.10/24  <->  fl-r0 192.0.2.1/24   router (NS_ROUTER)
#   server (NS_ISP)  fl-s0 198.51.100.1/24 <-> fl-r1 198.51.100.2/24 router, masquerading towards the server
# The masquerade lives in a table of the test (ip rdtest), never in routerd's. Conntrack timeouts of the
# router are shortened so finished flows are destroyed (and reported) within seconds.
fl_topology() {
    ip netns add "$NS_ROUTER"
    ip netns add "$NS_LAN"
    ip netns add "$NS_ISP"
    for ns in "$NS_ROUTER" "$NS_LAN" "$NS_ISP"; do ip -n "$ns" link set lo up; done
    ip link add fl-r0 netns "$NS_ROUTER" type veth peer name fl-c0 netns "$NS_LAN"
    ip link add fl-r1 netns "$NS_ROUTER" type veth peer name fl-s0 netns "$NS_ISP"
    ip -n "$NS_LAN" addr add 192.0.2.10/24 dev fl-c0
    ip -n "$NS_LAN" link set fl-c0 up
    ip -n "$NS_LAN" route add default via 192.0.2.1
    ip -n "$NS_ISP" addr add 198.51.100.1/24 dev fl-s0
    ip -n "$NS_ISP" link set fl-s0 up
    ip -n "$NS_ROUTER" addr add 192.0.2.1/24 dev fl-r0
    ip -n "$NS_ROUTER" addr add 198.51.100.2/24 dev fl-r1
    ip -n "$NS_ROUTER" link set fl-r0 up
    ip -n "$NS_ROUTER" link set fl-r1 up
    ip netns exec "$NS_ROUTER" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$NS_ROUTER" nft -f - <<'NFT'
table ip rdtest {
    chain post {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "fl-r1" masquerade
    }
}
NFT
    local s
    for s in udp_timeout=2 udp_timeout_stream=2 tcp_timeout_time_wait=1 tcp_timeout_close=1 \
        tcp_timeout_fin_wait=1 tcp_timeout_last_ack=1 tcp_timeout_close_wait=1; do
        ip netns exec "$NS_ROUTER" sysctl -qw "net.netfilter.nf_conntrack_${s}" 2>/dev/null || true
    done
}
