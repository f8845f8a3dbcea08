#!/usr/bin/env bash
# DHCPv4 through routerd: time from `routerctl apply` of a DHCPv4Client to the leased address present on
# the link (routerd spawns the daemon, the daemon binds, routerd installs the address). Against dnsmasq
# in a namespace. The daemon runs its RFC 5227 conflict probe (about 0.8 s) before the lease counts.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
cargo build --release --locked -p routerd -p routerctl -p routerd-dhcpv4-client 2>&1 | tail -1
RD_BIN="$ROOT/target/release"
source scripts/lib/netns.sh
trap rd_cleanup EXIT
export PATH="$RD_BIN:$PATH"
rd_topology
rd_topology_isp
ip netns exec "$NS_ISP" dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces --interface=isp0 \
    --port=0 --dhcp-range=198.51.100.10,198.51.100.50,255.255.255.192,1h \
    --dhcp-option=option:router,198.51.100.1 --dhcp-leasefile="$RD_TMP/leases" >/dev/null 2>&1 &
RD_PIDS+=("$!")
printf 'apiVersion: net.routerd.net/v1alpha1\nkind: Interface\nmetadata: {name: wan}\nspec: {ifname: rt-wan}\n' > "$RD_TMP/if.yaml"
rd_start --config "$RD_TMP/if.yaml"
python3 - "$NS_ROUTER" "$RD_TMP" <<'PY'
import subprocess, sys, time, statistics
ns, tmp = sys.argv[1], sys.argv[2]
def has_addr():
    out = subprocess.run(["ip", "-n", ns, "-4", "-o", "addr", "show", "dev", "rt-wan"], capture_output=True, text=True).stdout
    return "inet 198.51.100." in out
samples = []
for i in range(7):
    y = "%s/dhcp.yaml" % tmp
    open(y, "w").write("apiVersion: net.routerd.net/v1alpha1\nkind: DHCPv4Client\nmetadata: {name: wan}\nspec: {interface: wan, clientID: '01aabbcc%04d'}\n" % i)
    t0 = time.monotonic()
    subprocess.run(["routerctl", "apply", "-f", y], check=True, stdout=subprocess.DEVNULL)
    while not has_addr():
        if time.monotonic() - t0 > 20: raise SystemExit("no address")
        time.sleep(0.002)
    samples.append((time.monotonic() - t0) * 1000)
    subprocess.run(["routerctl", "delete", "dhcpv4client/wan"], check=True, stdout=subprocess.DEVNULL)
    while has_addr(): time.sleep(0.01)
    time.sleep(0.3)
print("dhcpv4 apply -> address applied through routerd: median %.1f ms, min %.1f, max %.1f (n=%d)" % (statistics.median(samples), min(samples), max(samples), len(samples)))
PY
