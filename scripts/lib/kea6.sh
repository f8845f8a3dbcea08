# shellcheck shell=bash
# kea-dhcp6 (Debian 12 `kea-dhcp6-server`, Kea 2.2) as the delegating router of the DHCPv6-PD tests,
# the demo and bench/dhcpv6.sh. Sourced; it needs only ip, ss, nft, python3 and kea-dhcp6, and none of
# netns.sh (when netns.sh is loaded, the kea pid also goes into RD_PIDS so rd_cleanup kills it).
#
#   rd_kea6_start NS IFACE DIR [ADDR/LEN]   write DIR/kea6.json, add ADDR/LEN (2001:db8:ffff::1/64) to IFACE
#                                           in NS, start kea-dhcp6 there (pid in DIR/kea6.pid), wait for :547.
#                                           IFACE's veth peer must be up first: Kea binds IFACE's link-local,
#                                           which the kernel only adds with carrier (and after DAD, ~1-2 s)
#   rd_kea6_stop DIR                        SIGTERM (SIGKILL after 5 s), wait until it is gone
#   rd_kea6_restart DIR [--clear-leases]    stop, optionally forget every lease, start with the same config
#   rd_kea6_set_pool DIR PREFIX             another pd-pool prefix (same lengths, so after rd_kea6_exhaust still
#                                           one prefix), lease db cleared, restart
#   rd_kea6_exhaust DIR                     the pool becomes one delegated prefix (its first); leases kept
#   rd_kea6_block NS [MSGTYPE...]           drop udp/547 arriving in NS (all, or only those message types:
#                                           solicit request confirm renew rebind release decline info-request)
#   rd_kea6_unblock NS                      remove what rd_kea6_block added
#   rd_kea6_give_away DIR DUID              stop, keep only the newest lease and hand it to DUID (another client),
#                                           start: that client now holds the prefix (leases otherwise lost)
#   rd_kea6_close DIR / rd_kea6_open DIR    restart (leases kept) with the subnet closed to every client
#                                           (RENEW/REBIND → IA_PD NoBinding), or open again
#   rd_wait_linklocal NS IFACE [SECS]       wait (10 s) until IFACE in NS has a link-local address past DAD
#
# Settings, read by rd_kea6_start and kept in DIR/kea6.env for restart/set_pool/exhaust:
#   RD_KEA6_PD_PREFIX (2001:db8:1200::)  RD_KEA6_PD_LEN (40)  RD_KEA6_DELEGATED_LEN (56)
#   RD_KEA6_PREFERRED (3000)  RD_KEA6_VALID (4000)  RD_KEA6_T1 (1000)  RD_KEA6_T2 (2000)   seconds
#   RD_KEA6_RAPID_COMMIT (0)  1: the subnet allows Rapid Commit (Solicit+option 14 → Reply)
#   RD_KEA6_PREFERENCE ("")   a Preference option (7) value, e.g. 255 (always sent)
#   RD_KEA6_UNICAST (0)       1: Kea also listens on the global address and sends a Server Unicast option
#                             (the client namespace then needs a route to the server's subnet)
#   RD_KEA6_DNS (2001:db8:ffff::53)  RD_KEA6_DOMAIN_SEARCH (isp.test)  RD_KEA6_SNTP ("")  RD_KEA6_AFTR ("")
#                             option 23 / 24 / 31 / 64 (comma-separated lists; "" = not sent)
#   RD_KEA6_SERVER_ID ("")    hex identifier of the server's DUID-EN (enterprise 2495); default = IFACE's
#                             MAC, so the DUID is stable across restarts and differs between two servers
#   RD_KEA6_LOG_SEVERITY (INFO)  DEBUG also logs every packet (DIR/kea6.log)
#
# What Kea 2.2.0 does in the cases the client tests care about. Observed (not guessed) with this file's
# config, against dhclient -6 -P and against hand-made packets (a few lines of Python on a UDP socket bound
# to [::]:546 in the client namespace); "lease db cleared" = rd_kea6_restart DIR --clear-leases.
#   - RENEW (or REBIND) for a binding Kea does not have — lease db cleared, or a prefix it never gave:
#     never NoBinding. Kea makes the binding (RFC 8415 18.3.4/18.3.5 allow it):
#       * the IA Prefix in the IA_PD is in the pool and free → REPLY delegating that same prefix with full
#         lifetimes and T1/T2 (dhclient just sees RENEW6 with an unchanged prefix);
#       * it is outside the pool (rd_kea6_set_pool) or leased to another client → REPLY whose IA_PD holds a
#         NEW prefix from the pool (full lifetimes) AND the requested one with preferred = valid = 0
#         (dhclient: RENEW6 new prefix, RENEW6 old prefix 0/0, EXPIRE6 old prefix);
#       * no IA Prefix in the IA_PD → REPLY with a new prefix.
#   - Exhausted pool (rd_kea6_exhaust, a client other than the holder): IA_PD with T1 = T2 = 0 and Status
#     Code NoPrefixAvail (6) — in the ADVERTISE to a SOLICIT ("Sorry, no prefixes could be allocated."),
#     in the REPLY to a REQUEST, and in the REPLY to a SOLICIT+Rapid Commit when rapid-commit is on
#     (REPLY with the Rapid Commit option, no ADVERTISE). A RENEW/REBIND that cannot be served (unknown
#     binding, or a lease now outside the pool) gets a REPLY with NoPrefixAvail ("...could be assigned at
#     this time.") plus the requested prefix with lifetimes 0. The top-level status is absent (Success).
#     The holder keeps renewing its prefix normally.
#   - RELEASE of an unknown binding: REPLY with a top-level Status Code NoBinding (3) ("Summary status for
#     all processed IA_NAs") and the IA_PD (T1 = T2 = 0) with NoBinding.
#   - Lease db cleared and a client SOLICITs: the hinted prefix if free, else the first free one of the pool.
#   - Dropped silently (no answer at all): REQUEST/RENEW with a Server Identifier that is not Kea's, or
#     without one; SOLICIT with a Server Identifier; any message without a Client Identifier; unicast to
#     the global address when RD_KEA6_UNICAST=0 (Kea does not listen there: ICMP port unreachable).
#   - Kea sends the Preference and Server Unicast options only when the client's ORO asks for them unless
#     the option is "always-send" (set here, so RD_KEA6_PREFERENCE=255 works for any client).
#   - The Reply's addresses: from the link-local of IFACE (or the global one for a unicast RENEW).

RD_KEA6_DEFAULT_ADDR="2001:db8:ffff::1/64"

# rd_wait_linklocal NS IFACE [SECS]: polls (every 25 ms, up to SECS, default 10) until IFACE in NS has a
# link-local address and no tentative one (DAD done); fails silently on timeout.
rd_wait_linklocal() {
    local ns="$1" iface="$2"
    for _ in $(seq $((${3:-10} * 40))); do
        if ip -n "$ns" -6 addr show dev "$iface" scope link | grep -q 'inet6 fe80' &&
            [ -z "$(ip -n "$ns" -6 addr show dev "$iface" tentative)" ]; then
            return 0
        fi
        sleep 0.025
    done
    return 1
}

# _rd_kea6_alive PID: the process exists and is not a zombie.
_rd_kea6_alive() {
    [ -n "$1" ] && [ -r "/proc/$1/stat" ] && ! grep -qE '^[0-9]+ \(.*\) [ZX] ' "/proc/$1/stat" 2>/dev/null
}

# _rd_kea6_load DIR: the settings rd_kea6_start saved.
_rd_kea6_load() {
    if [ ! -r "$1/kea6.env" ]; then
        echo "kea6: no $1/kea6.env (rd_kea6_start was not run with this DIR)" >&2
        return 1
    fi
    # shellcheck disable=SC1091
    . "$1/kea6.env"
}

# _rd_kea6_set DIR KEY VALUE: changes one saved setting.
_rd_kea6_set() {
    local f="$1/kea6.env"
    grep -v "^$2=" "$f" >"$f.new"
    printf '%s=%q\n' "$2" "$3" >>"$f.new"
    mv "$f.new" "$f"
}

# _rd_kea6_options: the option-data entries (one JSON object per line, comma-joined) for the settings.
_rd_kea6_options() {
    local out=() v
    [ -n "$K6_DNS" ] && out+=("{\"name\": \"dns-servers\", \"data\": \"$K6_DNS\"}")
    [ -n "$K6_DOMAIN_SEARCH" ] && out+=("{\"name\": \"domain-search\", \"data\": \"$K6_DOMAIN_SEARCH\"}")
    [ -n "$K6_SNTP" ] && out+=("{\"name\": \"sntp-servers\", \"data\": \"$K6_SNTP\"}")
    [ -n "$K6_AFTR" ] && out+=("{\"name\": \"aftr-name\", \"data\": \"$K6_AFTR\"}")
    # Kea 2.2 sends these two only when the client's ORO asks for them, unless always-send.
    [ -n "$K6_PREFERENCE" ] &&
        out+=("{\"name\": \"preference\", \"data\": \"$K6_PREFERENCE\", \"always-send\": true}")
    [ "$K6_UNICAST" = 1 ] &&
        out+=("{\"name\": \"unicast\", \"data\": \"$K6_SERVER_ADDR\", \"always-send\": true}")
    local IFS=,
    v="${out[*]}"
    printf '%s' "$v"
}

# _rd_kea6_write DIR: DIR/kea6.json from DIR/kea6.env, checked with `kea-dhcp6 -t`.
_rd_kea6_write() {
    local dir="$1"
    _rd_kea6_load "$dir" || return 1
    local ifaces="\"$K6_IFACE\"" rapid=false class=""
    # A subnet open only to a class nobody is in: Kea then finds no subnet for the client.
    [ "${K6_CLOSED:-0}" = 1 ] && class='"client-class": "nobody",'
    [ "$K6_UNICAST" = 1 ] && ifaces="\"$K6_IFACE\", \"$K6_IFACE/$K6_SERVER_ADDR\""
    [ "$K6_RAPID_COMMIT" = 1 ] && rapid=true
    cat >"$dir/kea6.json" <<JSON
{"Dhcp6": {
  "interfaces-config": {"interfaces": [$ifaces]},
  "data-directory": "$dir",
  "server-id": {"type": "EN", "enterprise-id": 2495, "identifier": "$K6_SERVER_ID", "persist": false},
  "lease-database": {"type": "memfile", "persist": true, "name": "$dir/kea6-leases.csv", "lfc-interval": 0},
  "control-socket": {"socket-type": "unix", "socket-name": "$dir/kea6.sock"},
  "expired-leases-processing": {"reclaim-timer-wait-time": 1, "hold-reclaimed-time": 0,
                                "flush-reclaimed-timer-wait-time": 0},
  "renew-timer": $K6_T1, "rebind-timer": $K6_T2,
  "preferred-lifetime": $K6_PREFERRED, "valid-lifetime": $K6_VALID,
  "client-classes": [{"name": "nobody", "test": "'a' == 'b'"}],
  "subnet6": [{$class
    "id": 1, "subnet": "$K6_SUBNET", "interface": "$K6_IFACE", "rapid-commit": $rapid,
    "pd-pools": [{"prefix": "$K6_PD_PREFIX", "prefix-len": $K6_PD_LEN, "delegated-len": $K6_DELEGATED_LEN}],
    "option-data": [$(_rd_kea6_options)]
  }],
  "loggers": [{"name": "kea-dhcp6", "output_options": [{"output": "$dir/kea6.log"}],
               "severity": "$K6_LOG_SEVERITY", "debuglevel": 99}]
}}
JSON
    # In the namespace: -t also checks that the interface exists. (K6_* come from kea6.env.)
    # shellcheck disable=SC2153
    if ! KEA_PIDFILE_DIR="$dir" KEA_LOCKFILE_DIR="$dir" ip netns exec "$K6_NS" kea-dhcp6 -t "$dir/kea6.json" \
        >"$dir/kea6.check" 2>&1; then
        echo "kea6: $dir/kea6.json rejected by kea-dhcp6 -t:" >&2
        cat "$dir/kea6.check" >&2
        return 1
    fi
}

# _rd_kea6_launch DIR: starts kea-dhcp6 with DIR/kea6.json in the saved namespace, waits for :547.
_rd_kea6_launch() {
    local dir="$1"
    _rd_kea6_load "$dir" || return 1
    if _rd_kea6_alive "$(cat "$dir/kea6.pid" 2>/dev/null)"; then
        echo "kea6: already running (pid $(cat "$dir/kea6.pid"))" >&2
        return 1
    fi
    # Its own pid/lock files live in DIR: two servers (or a host's Kea) never collide.
    KEA_PIDFILE_DIR="$dir" KEA_LOCKFILE_DIR="$dir" ip netns exec "$K6_NS" kea-dhcp6 -c "$dir/kea6.json" \
        >>"$dir/kea6.out" 2>&1 &
    local pid=$!
    echo "$pid" >"$dir/kea6.pid"
    if declare -p RD_PIDS >/dev/null 2>&1; then RD_PIDS+=("$pid"); fi
    for _ in $(seq 200); do
        if ! _rd_kea6_alive "$pid"; then
            echo "kea6: kea-dhcp6 exited at start; $dir/kea6.out and kea6.log say:" >&2
            tail -5 "$dir/kea6.out" "$dir/kea6.log" >&2 2>/dev/null
            wait "$pid" 2>/dev/null
            return 1
        fi
        # Listening on the link-local and on ff02::1:2 of the interface.
        if ip netns exec "$K6_NS" ss -lunpH 'sport = :547' 2>/dev/null | grep -q "pid=$pid,"; then
            return 0
        fi
        sleep 0.05
    done
    echo "kea6: kea-dhcp6 does not listen on udp 547 after 10 s (see $dir/kea6.log)" >&2
    return 1
}

# rd_kea6_start NS IFACE DIR [ADDR/LEN]: see the header. Fails (with a message) when Kea does not come up.
rd_kea6_start() {
    local ns="$1" iface="$2" dir="$3" addr="${4:-$RD_KEA6_DEFAULT_ADDR}"
    mkdir -p "$dir"
    local subnet
    subnet="$(python3 -c 'import ipaddress,sys; print(ipaddress.ip_interface(sys.argv[1]).network)' "$addr")" ||
        { echo "kea6: bad address $addr" >&2; return 1; }
    local mac
    mac="$(ip netns exec "$ns" cat "/sys/class/net/$iface/address" 2>/dev/null | tr -d ':')"
    {
        printf 'K6_NS=%q\nK6_IFACE=%q\nK6_SUBNET=%q\nK6_SERVER_ADDR=%q\n' "$ns" "$iface" "$subnet" "${addr%/*}"
        printf 'K6_PD_PREFIX=%q\nK6_PD_LEN=%q\nK6_DELEGATED_LEN=%q\n' "${RD_KEA6_PD_PREFIX:-2001:db8:1200::}" \
            "${RD_KEA6_PD_LEN:-40}" "${RD_KEA6_DELEGATED_LEN:-56}"
        printf 'K6_PREFERRED=%q\nK6_VALID=%q\nK6_T1=%q\nK6_T2=%q\n' "${RD_KEA6_PREFERRED:-3000}" \
            "${RD_KEA6_VALID:-4000}" "${RD_KEA6_T1:-1000}" "${RD_KEA6_T2:-2000}"
        printf 'K6_RAPID_COMMIT=%q\nK6_PREFERENCE=%q\nK6_UNICAST=%q\n' "${RD_KEA6_RAPID_COMMIT:-0}" \
            "${RD_KEA6_PREFERENCE:-}" "${RD_KEA6_UNICAST:-0}"
        printf 'K6_DNS=%q\nK6_DOMAIN_SEARCH=%q\nK6_SNTP=%q\nK6_AFTR=%q\n' "${RD_KEA6_DNS-2001:db8:ffff::53}" \
            "${RD_KEA6_DOMAIN_SEARCH-isp.test}" "${RD_KEA6_SNTP:-}" "${RD_KEA6_AFTR:-}"
        printf 'K6_SERVER_ID=%q\nK6_LOG_SEVERITY=%q\n' "${RD_KEA6_SERVER_ID:-${mac:-0200005e0001}}" \
            "${RD_KEA6_LOG_SEVERITY:-INFO}"
    } >"$dir/kea6.env"
    _rd_kea6_write "$dir" || return 1
    ip -n "$ns" link set "$iface" up || return 1
    if ! ip -n "$ns" -6 addr show dev "$iface" | grep -q "inet6 ${addr%/*}/"; then
        ip -n "$ns" addr add "$addr" dev "$iface" nodad || return 1
    fi
    # Kea binds the interface's link-local: it must exist and be past DAD (needs the veth peer up).
    if ! rd_wait_linklocal "$ns" "$iface" 10; then
        echo "kea6: $iface in $ns has no usable link-local after 10 s (is the peer up?)" >&2
        return 1
    fi
    _rd_kea6_launch "$dir"
}

# rd_kea6_stop DIR: stops the server (no-op when it is not running).
rd_kea6_stop() {
    local dir="$1" pid
    pid="$(cat "$dir/kea6.pid" 2>/dev/null)"
    [ -n "$pid" ] || return 0
    if _rd_kea6_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 100); do _rd_kea6_alive "$pid" || break; sleep 0.05; done
        _rd_kea6_alive "$pid" && kill -9 "$pid" 2>/dev/null
        for _ in $(seq 40); do _rd_kea6_alive "$pid" || break; sleep 0.05; done
    fi
    wait "$pid" 2>/dev/null
    rm -f "$dir/kea6.pid"
    return 0
}

# _rd_kea6_clear DIR: forgets every lease (memfile: the CSV and its LFC companions).
_rd_kea6_clear() { rm -f "$1"/kea6-leases.csv "$1"/kea6-leases.csv.*; }

# rd_kea6_restart DIR [--clear-leases]
rd_kea6_restart() {
    local dir="$1"
    rd_kea6_stop "$dir"
    [ "${2:-}" = --clear-leases ] && _rd_kea6_clear "$dir"
    _rd_kea6_launch "$dir"
}

# rd_kea6_set_pool DIR PREFIX: the pd-pool moves to PREFIX (same prefix-len / delegated-len), leases lost:
# what an ISP renumbering looks like to the client.
rd_kea6_set_pool() {
    local dir="$1"
    _rd_kea6_load "$dir" || return 1
    _rd_kea6_set "$dir" K6_PD_PREFIX "$2"
    _rd_kea6_write "$dir" || return 1
    rd_kea6_stop "$dir"
    _rd_kea6_clear "$dir"
    _rd_kea6_launch "$dir"
}

# rd_kea6_exhaust DIR: the pool shrinks to exactly one delegated prefix, the first of the current pool
# (prefix-len = delegated-len). Leases are kept, so the client holding that prefix keeps renewing it and
# any other client gets NoPrefixAvail.
rd_kea6_exhaust() {
    local dir="$1"
    _rd_kea6_load "$dir" || return 1
    _rd_kea6_set "$dir" K6_PD_LEN "$K6_DELEGATED_LEN"
    _rd_kea6_write "$dir" || return 1
    rd_kea6_stop "$dir"
    _rd_kea6_launch "$dir"
}

# rd_kea6_give_away DIR DUID: another client takes the newest lease: Kea is stopped, its lease file keeps
# only that lease with its DUID replaced by DUID (hex bytes, colon-separated, e.g. a DUID-LL
# 00:03:00:01:02:00:00:00:99:99), the LFC companions go, and Kea starts again. With rd_kea6_exhaust first,
# the pool's one prefix is then taken and its former holder's RENEW gets NoPrefixAvail.
rd_kea6_give_away() {
    local dir="$1" duid="$2"
    [ -s "$dir/kea6-leases.csv" ] || { echo "kea6: no leases in $dir/kea6-leases.csv" >&2; return 1; }
    rd_kea6_stop "$dir"
    python3 - "$dir/kea6-leases.csv" "$duid" <<'PY' || return 1
import csv, sys
path, duid = sys.argv[1], sys.argv[2]
rows = list(csv.reader(open(path)))
head, body = rows[0], rows[1:]
if not body:
    sys.exit("kea6: no lease to give away in " + path)
last = body[-1]
last[head.index("duid")] = duid
# Kea refuses \r\n line ends.
csv.writer(open(path, "w", newline=""), lineterminator="\n").writerows([head, last])
PY
    rm -f "$dir"/kea6-leases.csv.*
    _rd_kea6_launch "$dir"
}

# _rd_kea6_msgtype NAME: the DHCPv6 message type number (RFC 8415 7.3).
_rd_kea6_msgtype() {
    case "$1" in
    solicit) echo 1 ;; request) echo 3 ;; confirm) echo 4 ;; renew) echo 5 ;; rebind) echo 6 ;;
    release) echo 8 ;; decline) echo 9 ;; info-request | information-request) echo 11 ;;
    [0-9]*) echo "$1" ;;
    *) echo "kea6: unknown message type $1" >&2; return 1 ;;
    esac
}

# rd_kea6_block NS [MSGTYPE...]: the server stops answering (everything, or only those messages). The
# rule is an input filter in NS, so Kea never sees the packets (as if it were down or unreachable).
rd_kea6_block() {
    local ns="$1" rules="" t
    shift
    if [ "$#" -eq 0 ]; then
        rules="udp dport 547 drop;"
    else
        for t in "$@"; do
            t="$(_rd_kea6_msgtype "$t")" || return 1
            # @th,64,8: the first byte after the 8-byte UDP header, the DHCPv6 msg-type.
            rules="$rules udp dport 547 @th,64,8 $t drop;"
        done
    fi
    ip netns exec "$ns" nft delete table inet rd-kea6-block 2>/dev/null
    ip netns exec "$ns" nft -f - <<NFT
table inet rd-kea6-block {
    chain input { type filter hook input priority -10; $rules }
}
NFT
}

rd_kea6_unblock() { ip netns exec "$1" nft delete table inet rd-kea6-block 2>/dev/null || true; }

# rd_kea6_close DIR / rd_kea6_open DIR: restart (leases kept) with the subnet closed to every client, or
# open again. Closed, Kea 2.2 answers a RENEW or REBIND with the IA_PD status NoBinding ("no known PD
# leases"): the one way to get NoBinding from it (it re-creates a binding it lost rather than say so).
rd_kea6_close() { _rd_kea6_load "$1" && _rd_kea6_set "$1" K6_CLOSED 1 && _rd_kea6_write "$1" && rd_kea6_restart "$1"; }
rd_kea6_open() { _rd_kea6_load "$1" && _rd_kea6_set "$1" K6_CLOSED 0 && _rd_kea6_write "$1" && rd_kea6_restart "$1"; }
