# shellcheck shell=bash
# Probe targets inside the isp namespace (all on 198.51.100.129): ICMP, an HTTP server on :8080 (also the
# TCP target), and dnsmasq answering router.test (TTL 60 s, so a resolver may cache it). Started in the
# background; rd_cleanup kills them with
# the namespace.

rd_isp_targets() {
    mkdir -p "$RD_TMP/www"
    echo ok > "$RD_TMP/www/index.html"
    ip netns exec "$NS_ISP" python3 -m http.server 8080 --bind 198.51.100.129 --directory "$RD_TMP/www" \
        >"$RD_TMP/http.log" 2>&1 &
    RD_PIDS+=("$!")
    ip netns exec "$NS_ISP" dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces \
        --listen-address=198.51.100.129 --port=53 --local-ttl=60 --address=/router.test/198.51.100.129 \
        --pid-file="$RD_TMP/dnsmasq.pid" --log-facility="$RD_TMP/dnsmasq.log" >/dev/null 2>&1 &
    RD_PIDS+=("$!")
    # DHCP for the router's second uplink (rt-wan2 <-> isp1).
    ip netns exec "$NS_ISP" dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces --interface=isp1 \
        --except-interface=lo --port=0 --dhcp-range=198.51.100.70,198.51.100.100,255.255.255.192,1h \
        --dhcp-option=option:router,198.51.100.65 --dhcp-leasefile="$RD_TMP/wan2.leases" \
        --pid-file="$RD_TMP/dnsmasq-wan2.pid" --log-dhcp --log-facility="$RD_TMP/dnsmasq-wan2.log" >/dev/null 2>&1 &
    RD_PIDS+=("$!")
    rd_wait_for "the HTTP target" 10 ip netns exec "$NS_ISP" curl -sf --max-time 1 http://198.51.100.129:8080/
}

# rd_isp_cut NAME RULE...: adds an nftables drop rule in the isp namespace (its own table per NAME).
rd_isp_cut() {
    local name="$1"
    shift
    ip netns exec "$NS_ISP" nft -f - <<NFT
table inet cut-$name {
    chain input { type filter hook input priority 0; $* drop; }
}
NFT
}

rd_isp_restore() { ip netns exec "$NS_ISP" nft delete table inet "cut-$1"; }
