#!/usr/bin/env bash
# The systemd unit of the Debian package: `systemd-analyze verify` accepts it and
# `systemd-analyze security --offline=yes` rates its sandbox below 4.0 ("OK"). Offline, because PID 1 is
# not necessarily systemd here. ExecStart is pointed at the routerd under test, since /usr/sbin/routerd
# exists only once the package is installed (scripts/e2e/package.sh verifies the installed unit as is).
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RD_BIN="${RD_BIN:-$ROOT/target/debug}"
# shellcheck source=../lib/assert.sh
source "$HERE/lib/assert.sh"
UNIT="$ROOT/packaging/systemd/routerd.service"

echo "== systemd-unit: $UNIT"
command -v systemd-analyze >/dev/null || skip_scenario systemd-unit "systemd-analyze is not installed"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sed "s|^ExecStart=/usr/sbin/routerd|ExecStart=$RD_BIN/routerd|" "$UNIT" > "$tmp/routerd.service"
if systemd-analyze verify --man=no "$tmp/routerd.service" >"$tmp/verify.txt" 2>&1; then
    ok "systemd-analyze verify routerd.service"
else
    fail "systemd-analyze verify routerd.service: $(cat "$tmp/verify.txt")"
fi
systemd-analyze security --offline=yes "$UNIT" >"$tmp/security.txt" 2>&1
score="$(sed -n 's/.*Overall exposure level for routerd.service: \([0-9.]*\) .*/\1/p' "$tmp/security.txt")"
echo "     $(grep 'Overall exposure level' "$tmp/security.txt")"
check "exposure score ${score:-?} below 4.0" python3 -c "import sys; sys.exit(0 if float('${score:-99}') < 4.0 else 1)"
check "Type=notify (READY=1 from routerd serve)" grep -qx 'Type=notify' "$UNIT"
check "KillMode=process (managed daemons outlive a routerd restart)" grep -qx 'KillMode=process' "$UNIT"
check "capabilities limited to NET_ADMIN NET_RAW NET_BIND_SERVICE CHOWN" \
    grep -qx 'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE CAP_CHOWN' "$UNIT"
check "address families unix/inet/inet6/netlink/packet/pppox" \
    grep -qx 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET AF_PPPOX' "$UNIT"
echo "systemd-unit: $E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
