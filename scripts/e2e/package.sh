#!/usr/bin/env bash
# End-to-end: the Debian package (scripts/build-deb) installed on this machine and run from its installed
# paths with the default directories.
#   1. build two package versions from the binaries under test (the second differs in every executable:
#      build-deb stamps the version into it), lintian, dpkg -i, the file list, the unit verified as
#      installed, the maintainer scripts without a running systemd;
#   2. /usr/sbin/routerd serve with no flags, in the router namespace and in a private mount namespace
#      where /run/routerd and /var/lib/routerd are bind mounts of temp dirs (the machine's own are not
#      touched); READY=1 / STOPPING=1 on a NOTIFY_SOCKET; the demo config applied and
#      `routerctl get status` without flags;
#   3. upgrade drill: DHCPv4 on wan2 (dnsmasq) and a PD prefix (kea-dhcp6) bound, `dpkg -i` of the newer
#      package, routerd restarted the way systemd does it with KillMode=process (SIGTERM to routerd only):
#      every daemon running a deleted executable is replaced by the new build, one at a time, each
#      with a hand-over (routerd.daemon.lifecycle.replaced, restored=true, no two overlapping); same
#      address and prefix, the address never left rt-wan2 (`ip monitor address`), dnsmasq saw a
#      REQUEST and no DISCOVER or RELEASE, no SOLICIT/RELEASE on the wire (tcpdump), every daemon
#      event imported exactly once, routerd's event cursors without a gap;
#   4. dpkg --purge: nothing left (file lists before and after).
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RD_BIN="${RD_BIN:-$ROOT/target/debug}"
# shellcheck source=../lib/assert.sh
source "$HERE/lib/assert.sh"

echo "== package: build, install, run from the installed paths, upgrade, purge"
for tool in dpkg dpkg-deb objcopy strip jq tcpdump unshare nsenter kea-dhcp6 dnsmasq; do
    command -v "$tool" >/dev/null || skip_scenario package "$tool is not installed (scripts/lib/install-deps.sh installs it)"
done
[ "$(id -u)" = 0 ] || skip_scenario package "needs root (dpkg -i, network namespaces)"
if dpkg-query -W -f='${Status}' routerd 2>/dev/null | grep -q 'installed'; then
    skip_scenario package "a routerd package is already installed on this machine; this scenario would replace and purge it"
fi

# shellcheck source=../lib/netns.sh
source "$HERE/lib/netns.sh"
# shellcheck source=../lib/isp_targets.sh
source "$HERE/lib/isp_targets.sh"
# shellcheck source=../lib/kea6.sh
source "$HERE/lib/kea6.sh"
BOX="$RD_TMP/box"          # the private mount namespace: $BOX/mnt
PRIV_RUN="$RD_TMP/priv-run"
PRIV_STATE="$RD_TMP/priv-state"
package_cleanup() {
    rd_cleanup_box
    if dpkg-query -W -f='${Status}' routerd 2>/dev/null | grep -q 'installed\|config-files'; then
        dpkg_waiting --purge routerd >/dev/null 2>&1 || true
    fi
    userdel "rdpkg-op-$$" 2>/dev/null || true
    rd_cleanup
}
rd_cleanup_box() {
    umount "$BOX/mnt" 2>/dev/null || true
    umount "$BOX" 2>/dev/null || true
}
trap package_cleanup EXIT

# The file-system locations a package may write to; listed before install and after purge.
snapshot() {
    {
        find /etc /usr /lib /var/lib/dpkg/info /var/lib/systemd /var/lib/routerd /run/routerd \
            -xdev -path /etc/ld.so.cache -prune -o -print 2>/dev/null | grep -E 'routerd' || true
        find /etc/systemd/system 2>/dev/null || true
    } | sort
}

# dpkg_waiting ARGS...: dpkg ARGS, waiting up to 2 minutes while another dpkg or apt (another test's
# install-deps) holds the dpkg lock; dpkg itself fails at once on a held lock.
dpkg_waiting() {
    local out rc
    out="$(mktemp)"
    for _ in $(seq 120); do
        dpkg "$@" >"$out" 2>&1
        rc=$?
        if [ "$rc" = 0 ] || ! grep -q 'lock' "$out"; then break; fi
        sleep 1
    done
    cat "$out"
    rm -f "$out"
    return "$rc"
}

echo "== 1. build and install"
VERSION="$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml")"
V1="$VERSION~e2e1"
V2="$VERSION~e2e2"
"$ROOT/scripts/build-deb" --bin-dir "$RD_BIN" --version "$V1" --out "$RD_TMP/deb" --gzip >"$RD_TMP/build1.txt" 2>&1
cat "$RD_TMP/build1.txt" | sed 's/^/     /'
DEB1="$(ls "$RD_TMP"/deb/routerd_"$V1"_*.deb 2>/dev/null)"
check "scripts/build-deb built $V1" test -s "$DEB1"
check "lintian: no error tags" sh -c "! grep -q '^E: ' '$RD_TMP/build1.txt'"
"$ROOT/scripts/build-deb" --bin-dir "$RD_BIN" --version "$V2" --out "$RD_TMP/deb" --gzip --no-lintian >/dev/null 2>&1
DEB2="$(ls "$RD_TMP"/deb/routerd_"$V2"_*.deb 2>/dev/null)"
check "scripts/build-deb built $V2" test -s "$DEB2"
echo "     package size: $(du -k "$DEB1" | cut -f1) KiB, installed: $(dpkg-deb -f "$DEB1" Installed-Size) KiB"

snapshot > "$RD_TMP/files-before.txt"
check "systemd is not PID 1 here, so the maintainer scripts must not need it" test ! -d /run/systemd/system
if dpkg_waiting -i "$DEB1" >"$RD_TMP/dpkg-i.txt" 2>&1; then ok "dpkg -i $V1"; else fail "dpkg -i: $(cat "$RD_TMP/dpkg-i.txt")"; fi
sed 's/^/     /' "$RD_TMP/dpkg-i.txt"
dpkg -L routerd > "$RD_TMP/dpkg-L.txt"
echo "     dpkg -L routerd: $(grep -c . "$RD_TMP/dpkg-L.txt") paths"
sed 's/^/       /' "$RD_TMP/dpkg-L.txt"
mapfile -t daemons < <(grep -vE '^\s*(#|$)' "$ROOT/packaging/daemons")
for path in /usr/sbin/routerd /usr/bin/routerctl /lib/systemd/system/routerd.service \
    /usr/lib/sysusers.d/routerd.conf /usr/lib/tmpfiles.d/routerd.conf /etc/routerd/routerd.yaml.example \
    /usr/share/man/man8/routerd.8.gz /usr/share/man/man1/routerctl.1.gz \
    /usr/share/bash-completion/completions/routerctl /usr/share/zsh/vendor-completions/_routerd \
    /usr/share/fish/vendor_completions.d/routerctl.fish /usr/share/routerd/schema/DHCPv4Client.json \
    "${daemons[@]/#//usr/libexec/routerd/}"; do
    check "installed: $path" test -e "$path"
done
check "no test tools packaged" sh -c "! grep -q 'routerd-test' '$RD_TMP/dpkg-L.txt'"
check "schemas are JSON Schemas" jq -e '.type == "object"' /usr/share/routerd/schema/DHCPv4Client.json
check "group routerd created (sysusers)" getent group routerd
check "/run/routerd created (tmpfiles), 0755" sh -c "[ \"\$(stat -c %a /run/routerd)\" = 755 ]"
check "enablement recorded for the next boot (deb-systemd-helper, no running systemd needed)" \
    test -L /etc/systemd/system/multi-user.target.wants/routerd.service
if systemd-analyze verify --man=no /lib/systemd/system/routerd.service >"$RD_TMP/verify.txt" 2>&1; then
    ok "systemd-analyze verify of the installed unit"
else
    fail "systemd-analyze verify: $(cat "$RD_TMP/verify.txt")"
fi
echo "     $(systemd-analyze security --offline=yes /lib/systemd/system/routerd.service 2>&1 | grep 'Overall exposure')"
check "installed routerd --version" /usr/sbin/routerd --version
check "man page renders the serve flags" sh -c "zcat /usr/share/man/man8/routerd.8.gz | grep -q 'serve'"
example="$RD_TMP/example.yaml"
sed -n -e 's/^# ---$/---/p' -e 's/^# \(apiVersion\|kind\|metadata\|spec\):/\1:/p' /etc/routerd/routerd.yaml.example > "$example"
OPERATOR="rdpkg-op-$$"   # a member of group routerd (supplementary), made before routerd starts
useradd --system --no-create-home --shell /usr/sbin/nologin --groups routerd "$OPERATOR"

echo "== 2. the installed binaries, no flags, private /run/routerd and /var/lib/routerd"
rd_topology
rd_topology_isp
rd_isp_targets
ip -n "$NS_ROUTER" link set rt-wan2 up   # Kea binds isp1's link-local, which needs the peer up
export RD_KEA6_T1=1000 RD_KEA6_T2=2000
rd_kea6_start "$NS_ISP" isp1 "$RD_TMP/kea6" || fail "kea-dhcp6 did not start"
# The mount namespace is made after the network namespaces, so it sees their /run/netns entries.
mkdir -p "$BOX" "$PRIV_RUN" "$PRIV_STATE" /var/lib/routerd
chmod 0755 "$PRIV_RUN"
chmod 0700 "$PRIV_STATE"
mount --bind "$BOX" "$BOX" && mount --make-private "$BOX" && touch "$BOX/mnt"
unshare --mount="$BOX/mnt" --propagation private sh -c \
    "mount --bind '$PRIV_RUN' /run/routerd && mount --bind '$PRIV_STATE' /var/lib/routerd"
check "private mount namespace with /run/routerd and /var/lib/routerd bound to temp dirs" \
    nsenter --mount="$BOX/mnt" sh -c "mountpoint -q /run/routerd && mountpoint -q /var/lib/routerd"
# in_box CMD...: CMD in the router's network namespace and the private mount namespace.
in_box() { nsenter --mount="$BOX/mnt" ip netns exec "$NS_ROUTER" "$@"; }
unset ROUTERD_RUNTIME_DIR   # routerctl must find /run/routerd by itself

# A NOTIFY_SOCKET like systemd's: every datagram routerd sends is one line in notify.log.
NOTIFY="$PRIV_RUN/notify.sock"
python3 - "$NOTIFY" "$RD_TMP/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as log:
    while True:
        log.write(s.recv(4096).decode().replace("\n", " ") + "\n")
PY
RD_PIDS+=("$!")
NOTIFY_IN_BOX=/run/routerd/notify.sock
rd_wait_for "the notify listener" 5 test -S "$NOTIFY"

# The subshell execs nsenter, which execs ip, which execs routerd: $! is routerd's pid, as systemd's
# MainPID is (a function run in the background would be a bash subshell instead).
start_installed_routerd() {
    (exec nsenter --mount="$BOX/mnt" ip netns exec "$NS_ROUTER" env NOTIFY_SOCKET="$NOTIFY_IN_BOX" \
        /usr/sbin/routerd serve --reconcile-interval 5s >>"$RD_TMP/routerd.log" 2>&1) &
    RD_PID=$!
    RD_PIDS+=("$RD_PID")
}
start_installed_routerd
check "READY=1 on NOTIFY_SOCKET" rd_wait_for "READY=1" 20 grep -q 'READY=1' "$RD_TMP/notify.log"
check "sockets under the default /run/routerd (seen in the namespace)" \
    sh -c "test -S '$PRIV_RUN/routerd.sock' && test -S '$PRIV_RUN/routerd-status.sock'"
check "main socket 0660 group routerd" sh -c "[ \"\$(stat -c '%a %G' '$PRIV_RUN/routerd.sock')\" = '660 routerd' ]"
check "routerd.db under the default /var/lib/routerd" test -f "$PRIV_STATE/routerd.db"
check "the machine's own /var/lib/routerd untouched" sh -c "[ -z \"\$(ls -A /var/lib/routerd)\" ]"
if in_box /usr/bin/routerctl validate -f "$example" >"$RD_TMP/validate.txt" 2>&1; then
    ok "routerctl validate of the uncommented example config"
else
    fail "routerctl validate of the uncommented example config: $(cat "$RD_TMP/validate.txt")"
fi
check "routerctl apply -f examples/ (the demo config), no flags" in_box /usr/bin/routerctl apply -f "$ROOT/examples/"
in_box /usr/bin/routerctl get status >"$RD_TMP/status.txt" 2>&1
check "routerctl get status without flags" grep -qi 'generation' "$RD_TMP/status.txt"
sed 's/^/     /' "$RD_TMP/status.txt" | head -8

# A group member (not root) may apply through the main socket; anyone else only reads.
check "a member of group routerd applies (routerctl apply as $OPERATOR)" \
    in_box setpriv --reuid "$OPERATOR" --regid nogroup --init-groups /usr/bin/routerctl apply -f "$ROOT/examples/lan.yaml"
check "a user outside the group cannot apply" sh -c "! nsenter --mount='$BOX/mnt' ip netns exec '$NS_ROUTER' setpriv --reuid nobody --regid nogroup --clear-groups /usr/bin/routerctl apply -f '$ROOT/examples/lan.yaml' >/dev/null 2>&1"
check "a user outside the group reads through the status socket" \
    in_box setpriv --reuid nobody --regid nogroup --clear-groups /usr/bin/routerctl get status

echo "== 3. upgrade drill: DHCPv4 on wan2 and a PD prefix bound, newer package, routerd restarted"
api() { in_box curl -sS --fail --max-time 10 --unix-socket /run/routerd/routerd-status.sock "http://routerd/api/control.routerd.net/v1alpha1$1"; }
phase() { api "/resources/$1/$2" | jq -r .status.phase; }
phase_is() { [ "$(phase "$1" "$2" 2>/dev/null)" = "$3" ]; }
check "DHCPv4Client/wan2 Bound" rd_wait_for "wan2 Bound" 40 phase_is DHCPv4Client wan2 Bound
check "DHCPv6PrefixDelegation/wan-pd Bound" rd_wait_for "wan-pd Bound" 40 phase_is DHCPv6PrefixDelegation wan-pd Bound
addr_before="$(api /resources/DHCPv4Client/wan2 | jq -r .status.lease.address)"
prefix_before="$(api /resources/DHCPv6PrefixDelegation/wan-pd | jq -r .status.lease.prefix)"
daemon_pids() { api /status | jq -r '.status.daemons[] | select(.kind=="routerd-dhcpv4-client" or .kind=="routerd-dhcpv6-client") | "\(.kind)/\(.instance)=\(.pid)"' | sort | tr '\n' ' '; }
pids_before="$(daemon_pids)"
v4_pid="$(api /status | jq -r '.status.daemons[] | select(.kind=="routerd-dhcpv4-client") | .pid')"
echo "     before: address $addr_before, prefix $prefix_before, daemons $pids_before"
ip netns exec "$NS_ISP" tcpdump -i isp1 -nn -l -v 'udp port 67 or udp port 68 or udp port 547 or udp port 546' \
    >"$RD_TMP/wire.txt" 2>/dev/null &
TCPDUMP=$!
RD_PIDS+=("$TCPDUMP")
ip -n "$NS_ROUTER" monitor address dev rt-wan2 >"$RD_TMP/ipmon.txt" 2>&1 &
IPMON=$!
RD_PIDS+=("$IPMON")
all_pids_before="$(api /status | jq -r '.status.daemons[] | "\(.kind)=\(.pid)"' | tr '\n' ' ')"
dnsmasq_lines_before="$(wc -l < "$RD_TMP/dnsmasq-wan2.log")"
sleep 1

if dpkg_waiting -i "$DEB2" >"$RD_TMP/dpkg-upgrade.txt" 2>&1; then ok "dpkg -i $V2 (upgrade)"; else fail "upgrade: $(cat "$RD_TMP/dpkg-upgrade.txt")"; fi
# package_version EXE: the package version build-deb stamped into EXE.
package_version() { readelf -p .routerd.package "$1" | sed -n 's/^ *\[ *0\] *//p'; }
check_eq "the installed daemon executables are the new build" "$V2" "$(package_version /usr/libexec/routerd/routerd-dhcpv4-client)"
check "the running daemons still run the old (now deleted) executable" sh -c \
    "readlink /proc/$v4_pid/exe | grep -q deleted"
check "the daemons keep running without routerd while it restarts" kill -0 "$v4_pid"
# What systemd does on `systemctl restart` with KillMode=process: SIGTERM to routerd alone.
kill -TERM "$RD_PID"
wait "$RD_PID" 2>/dev/null
check "STOPPING=1 on NOTIFY_SOCKET" grep -q 'STOPPING=1' "$RD_TMP/notify.log"
: >"$RD_TMP/notify.log"
max_cursor_before="$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select max(cursor) from events").fetchone()[0])' "$PRIV_STATE/routerd.db")"
start_installed_routerd
restarted_at=$SECONDS
check "new routerd READY=1" rd_wait_for "READY=1" 20 grep -q 'READY=1' "$RD_TMP/notify.log"
# replaced_all: every daemon routerd runs has a new pid, runs its installed (not deleted) executable,
# and none is still being replaced.
replaced_all() {
    local line kind pid
    [ "$(api /status | jq '[.status.daemons[] | select(.state != "Running")] | length')" = 0 ] || return 1
    for line in $(api /status | jq -r '.status.daemons[] | "\(.kind)=\(.pid)"'); do
        kind="${line%%=*}" pid="${line#*=}"
        case " $all_pids_before " in *" $line "*) return 1 ;; esac
        [ "$(readlink "/proc/$pid/exe")" = "/usr/libexec/routerd/$kind" ] || return 1
    done
}
check "every daemon replaced by its new build (new pid, the installed executable)" \
    rd_wait_for "the replacements" 150 replaced_all
pids_after="$(daemon_pids)"
echo "     after: daemons $pids_after (replacements took $((SECONDS - restarted_at)) s after the restart)"
check "DHCPv4Client/wan2 Bound on the new daemon" rd_wait_for "wan2 Bound" 10 phase_is DHCPv4Client wan2 Bound
check "DHCPv6PrefixDelegation/wan-pd Bound on the new daemon" rd_wait_for "wan-pd Bound" 10 phase_is DHCPv6PrefixDelegation wan-pd Bound
check_eq "same address" "$addr_before" "$(api /resources/DHCPv4Client/wan2 | jq -r .status.lease.address)"
check_eq "same prefix" "$prefix_before" "$(api /resources/DHCPv6PrefixDelegation/wan-pd | jq -r .status.lease.prefix)"
check "address still on rt-wan2" sh -c "ip -n $NS_ROUTER -4 addr show dev rt-wan2 | grep -q 'inet $addr_before/'"
kill "$IPMON" 2>/dev/null
wait "$IPMON" 2>/dev/null
check "the address never left rt-wan2 during the upgrade (ip monitor address: no Deleted)" \
    sh -c "! grep -q 'Deleted.*inet $addr_before/' '$RD_TMP/ipmon.txt'"
# The replacement events: one per daemon, each restored, and each replacement began only after the
# previous one ended (its end minus its duration is not before the previous end).
api "/events?topic=routerd.daemon.lifecycle.replaced&limit=100" >"$RD_TMP/replaced.json"
n_daemons="$(api /status | jq '.status.daemons | length')"
check_eq "one routerd.daemon.lifecycle.replaced per daemon" "$n_daemons" "$(jq '.items | length' "$RD_TMP/replaced.json")"
check "every replacement restored its state (restored=true)" \
    jq -e '[.items[] | .attributes.restored == "true"] | all' "$RD_TMP/replaced.json"
jq -r '.items[] | "     \(.source.kind)/\(.source.instance): pid \(.attributes.oldPid) -> \(.attributes.pid), \(.attributes.phasesAfter), took \(.attributes.took)"' "$RD_TMP/replaced.json"
check "one replacement at a time (none began before the previous ended)" python3 - "$RD_TMP/replaced.json" <<'PY'
import datetime, json, re, sys
items = json.load(open(sys.argv[1]))["items"]
def t(s):  # RFC 3339 with up to nanoseconds; fromisoformat takes at most microseconds
    s = re.sub(r"(\.\d{6})\d+", r"\1", s).replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(s).timestamp()
def dur(s):
    total = 0.0
    for n, u in re.findall(r"([0-9.]+)(ms|us|µs|ns|h|m|s)", s):
        total += float(n) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}[u]
    return total
ends = sorted((t(e["time"]), dur(e["attributes"]["took"])) for e in items)
sys.exit(0 if all(end - took >= prev_end - 0.05 for (prev_end, _), (end, took) in zip(ends, ends[1:])) else 1)
PY
# dnsmasq's own log since the upgrade: the new DHCPv4 client confirmed its lease with a REQUEST
# (INIT-REBOOT), and neither the old one released it nor the new one discovered a new one.
tail -n +"$((dnsmasq_lines_before + 1))" "$RD_TMP/dnsmasq-wan2.log" >"$RD_TMP/dnsmasq-upgrade.log"
check "dnsmasq saw a DHCPREQUEST from the new daemon" grep -q 'DHCPREQUEST(isp1)' "$RD_TMP/dnsmasq-upgrade.log"
check "dnsmasq saw no DHCPDISCOVER during the upgrade" sh -c "! grep -q 'DHCPDISCOVER' '$RD_TMP/dnsmasq-upgrade.log'"
check "dnsmasq saw no DHCPRELEASE during the upgrade" sh -c "! grep -q 'DHCPRELEASE' '$RD_TMP/dnsmasq-upgrade.log'"
echo "     dnsmasq: $(grep -oE 'DHCP[A-Z]+\(isp1\)' "$RD_TMP/dnsmasq-upgrade.log" | sort | uniq -c | tr -s ' \n' ' ')"
sleep 3
kill "$TCPDUMP" 2>/dev/null
wait "$TCPDUMP" 2>/dev/null
check "no DHCPDISCOVER or DHCPRELEASE on the wire during the upgrade" sh -c "! grep -qE 'DHCP-Message.*(Discover|Release)' '$RD_TMP/wire.txt'"
check "a DHCPREQUEST on the wire (the lease confirmed by the new daemon)" grep -qE 'DHCP-Message.*Request' "$RD_TMP/wire.txt"
check "no SOLICIT or RELEASE (DHCPv6) on the wire during the upgrade" sh -c "! grep -qiE 'dhcp6 (solicit|release)' '$RD_TMP/wire.txt'"
echo "     DHCP packets captured: $(grep -cE 'DHCP-Message|dhcp6 ' "$RD_TMP/wire.txt"): $(grep -oE 'DHCP-Message[^:]*: [A-Za-z]+|dhcp6 [a-z-]+' "$RD_TMP/wire.txt" | sed 's/.*: //' | sort | uniq -c | tr -s ' \n' ' ')"
# Every event each daemon wrote (events.jsonl) is in routerd's store exactly once, and routerd's own
# cursors have no gap across the restart.
check "every daemon event imported exactly once across the restart" python3 - "$PRIV_STATE" "$RD_TMP/imported.txt" <<'PY'
import json, pathlib, sqlite3, sys, time
state = pathlib.Path(sys.argv[1])
db = sqlite3.connect(state / "routerd.db")
SUPERVISOR_TOPICS = {"routerd.daemon.lifecycle.exited", "routerd.daemon.lifecycle.restarted", "routerd.daemon.lifecycle.adopted", "routerd.daemon.lifecycle.replaced", "routerd.daemon.lifecycle.replacement.deferred"}
for _ in range(50):
    same = True
    for f in state.glob("dhcpv*-client/*/events.jsonl"):
        kind, name = "routerd-" + f.parent.parent.name, f.parent.name
        written = sorted(json.loads(l)["topic"] for l in f.read_text().splitlines() if l.strip())
        stored = sorted(r[0] for r in db.execute(
            "select topic from events where source_kind = ? and source_instance = ?", (kind, name)))
        # routerd's supervisor records exits and restarts under the daemon's name too; they are not
        # in the daemon's own log.
        own = [t for t in stored if t not in SUPERVISOR_TOPICS]
        same = same and written == own and len(written) > 0
    if same:
        sys.exit(0)
    time.sleep(0.2)
open(sys.argv[2], "w").write("written %s\nstored %s\n" % (written, stored))
sys.exit(1)
PY
[ -s "$RD_TMP/imported.txt" ] && sed 's/^/     /' "$RD_TMP/imported.txt"
check "routerd's event cursors continuous across the restart (no gap)" python3 - "$PRIV_STATE/routerd.db" "$max_cursor_before" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
cursors = [r[0] for r in db.execute("select cursor from events where cursor >= ? order by cursor", (int(sys.argv[2]),))]
sys.exit(0 if len(cursors) > 1 and cursors == list(range(cursors[0], cursors[0] + len(cursors))) else 1)
PY

echo "== 4. remove and purge"
kill -TERM "$RD_PID"
wait "$RD_PID" 2>/dev/null
# The daemons of this run live in the private namespaces, which prerm (in the host's) cannot see.
for pid in $(ip netns pids "$NS_ROUTER" 2>/dev/null); do
    case "$(readlink "/proc/$pid/exe" 2>/dev/null)" in /usr/libexec/routerd/*) kill -TERM "$pid" ;; esac
done
rd_cleanup_box
if dpkg_waiting --purge routerd >"$RD_TMP/purge.txt" 2>&1; then ok "dpkg --purge routerd"; else fail "purge: $(cat "$RD_TMP/purge.txt")"; fi
snapshot > "$RD_TMP/files-after.txt"
if diff "$RD_TMP/files-before.txt" "$RD_TMP/files-after.txt" >"$RD_TMP/files-diff.txt"; then
    ok "nothing left behind ($(grep -c . "$RD_TMP/files-before.txt") matching paths before, $(grep -c . "$RD_TMP/files-after.txt") after)"
else
    fail "left behind after purge: $(cat "$RD_TMP/files-diff.txt")"
fi
echo "package: $E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
