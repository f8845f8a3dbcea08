# shellcheck shell=bash
# Network-namespace harness shared by the demo and the end-to-end scenarios.
#
# Every caller gets uniquely named namespaces (suffix = $$), a bounded run time, and a cleanup trap that
# removes namespaces, processes and temp dirs even on failure. Nothing here touches the host's own
# interfaces, routes or firewall: links are created inside the namespaces.

RD_SUFFIX="${RD_SUFFIX:-$$}"
NS_ROUTER="rd-router-$RD_SUFFIX"
NS_LAN="rd-lan-$RD_SUFFIX"
NS_ISP="rd-isp-$RD_SUFFIX"
RD_TMP="$(mktemp -d "/tmp/routerd-${RD_SUFFIX}-XXXX")"
chmod 0755 "$RD_TMP"   # others must reach the status socket inside, as under /run/routerd
RD_RUN="$RD_TMP/run"
RD_STATE="$RD_TMP/state"
RD_PIDS=()
export ROUTERD_RUNTIME_DIR="$RD_RUN"
# A signal (a timeout, Ctrl-C) must still run the caller's EXIT trap (rd_cleanup): turn it into an exit.
trap 'exit 143' TERM
trap 'exit 130' INT

rd_cleanup() {
    local pid
    for pid in "${RD_PIDS[@]:-}"; do
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${RD_PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    # Any process still inside our namespaces goes too.
    for ns in "$NS_ROUTER" "$NS_LAN" "$NS_ISP"; do
        if ip netns list 2>/dev/null | grep -qw "$ns"; then
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
    rm -rf "$RD_TMP"
}

# Builds: router namespace with rt-lan (192.0.2.0/24 side, address given by routerd) joined by a veth
# pair to the lan namespace whose lan0 has 192.0.2.10/24 and a second address 203.0.113.1/24 (the
# "lab network" behind it, reached from the router through a static route).
rd_topology() {
    ip netns add "$NS_ROUTER"
    ip netns add "$NS_LAN"
    ip -n "$NS_ROUTER" link set lo up
    ip -n "$NS_LAN" link set lo up
    ip link add rt-lan netns "$NS_ROUTER" type veth peer name lan0 netns "$NS_LAN"
    ip -n "$NS_LAN" link set lan0 up
    ip -n "$NS_LAN" addr add 192.0.2.10/24 dev lan0
    ip -n "$NS_LAN" addr add 203.0.113.1/24 dev lo
    ip -n "$NS_LAN" route add default via 192.0.2.1
}

# Adds the isp namespace: two links from the router (rt-wan 198.51.100.2/26 <-> isp0 198.51.100.1/26,
# rt-wan2 198.51.100.66/26 <-> isp1 198.51.100.65/26) and probe targets on the isp's loopback,
# 198.51.100.129/32, reachable from the router only through a route (routerd installs it).
rd_topology_isp() {
    ip netns add "$NS_ISP"
    ip -n "$NS_ISP" link set lo up
    ip link add rt-wan netns "$NS_ROUTER" type veth peer name isp0 netns "$NS_ISP"
    ip link add rt-wan2 netns "$NS_ROUTER" type veth peer name isp1 netns "$NS_ISP"
    ip -n "$NS_ISP" link set isp0 up
    ip -n "$NS_ISP" link set isp1 up
    ip -n "$NS_ISP" addr add 198.51.100.1/26 dev isp0
    ip -n "$NS_ISP" addr add 198.51.100.65/26 dev isp1
    ip -n "$NS_ISP" addr add 198.51.100.129/32 dev lo
    ip -n "$NS_ISP" route add 192.0.2.0/24 via 198.51.100.2
}

# Starts routerd in the router namespace; extra arguments are passed to `routerd serve`.
rd_start() {
    mkdir -p "$RD_TMP"
    ip netns exec "$NS_ROUTER" "$RD_BIN/routerd" serve --runtime-dir "$RD_RUN" --state-dir "$RD_STATE" "$@" \
        >>"$RD_TMP/routerd.log" 2>&1 &
    RD_PIDS+=("$!")
    RD_PID=$!
    rd_wait_for "routerd to listen" 10 test -S "$RD_RUN/routerd-status.sock"
    rd_wait_for "routerd to answer" 10 rd_api GET /healthz
}

# rd_stop: SIGTERM to routerd and wait; returns routerd's exit status.
rd_stop() {
    local rc=0
    if [ -n "${RD_PID:-}" ]; then
        kill -TERM "$RD_PID" 2>/dev/null
        wait "$RD_PID" 2>/dev/null || rc=$?
    fi
    RD_PID=""
    return "$rc"
}

# rd_wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND every 50 ms until it succeeds.
rd_wait_for() {
    local what="$1" secs="$2"
    shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "timed out after ${secs}s waiting for $what" >&2
            return 1
        fi
        sleep 0.05
    done
}

# rd_api METHOD PATH [BODY] [SOCKET]: curl against the API; prints the body, fails on HTTP >= 400.
rd_api() {
    local method="$1" path="$2" body="${3:-}" sock="${4:-$RD_RUN/routerd-status.sock}"
    if [ "$method" = POST ]; then sock="${4:-$RD_RUN/routerd.sock}"; fi
    curl -sS --fail-with-body --max-time 70 --unix-socket "$sock" -X "$method" \
        ${body:+-H 'content-type: application/json' --data-binary "$body"} \
        "http://routerd/api/control.routerd.net/v1alpha1$path"
}

# rd_phase KIND NAME: prints the phase of a resource.
rd_phase() {
    rd_api GET "/resources/$1/$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["phase"])'
}

rd_phase_is() { [ "$(rd_phase "$1" "$2" 2>/dev/null)" = "$3" ]; }
