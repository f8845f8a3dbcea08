#!/usr/bin/env bash
# End-to-end: a DNSResolver in the router namespace (routerd-dns-resolver, supervised by routerd) answers
# a LAN host's `dig`: a local record itself, a name behind the ISP through the ISP's dnsmasq (with its
# query log, so the upstream's own count says what reached it). `routerctl get dns-queries` shows each
# answer as one row (client, name, upstream, cacheHit), the aggregate view counts them, the filters
# narrow them, bad parameters are 400s naming the parameter, a spec change is a reload (same pid, cache
# kept: the next query is still a cache hit), and the resource's status carries the daemon's listeners,
# upstream health, cache and query-log counters.
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RD_BIN="${RD_BIN:-$ROOT/target/debug}"
# shellcheck source=../lib/netns.sh
source "$HERE/lib/netns.sh"
# shellcheck source=../lib/isp_targets.sh
source "$HERE/lib/isp_targets.sh"
# shellcheck source=../lib/assert.sh
source "$HERE/lib/assert.sh"
trap rd_cleanup EXIT
export PATH="$RD_BIN:$PATH"
py() { python3 -c "$@"; }

if [ ! -x "$RD_BIN/routerd-dns-resolver" ]; then
    echo "SKIP dns: $RD_BIN/routerd-dns-resolver is not built"
    echo "dns: 0 passed, 0 failed"
    exit 0
fi

echo "== dns: topology $NS_LAN (192.0.2.10) -- $NS_ROUTER (resolver on 192.0.2.1:53) -- $NS_ISP (dnsmasq on 198.51.100.129:5353)"
rd_topology
rd_topology_isp
rd_isp_targets
ip -n "$NS_ROUTER" link set rt-wan2 up
# The "ISP resolver": its own dnsmasq with a query log, answers with a 300 s TTL so they can be cached.
ip netns exec "$NS_ISP" dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces \
    --listen-address=198.51.100.129 --port=5353 --local-ttl=300 \
    --address=/www.isp.example/198.51.100.200 --address=/mail.isp.example/198.51.100.201 \
    --log-queries --pid-file="$RD_TMP/dnsmasq-dns.pid" --log-facility="$RD_TMP/upstream.log" >/dev/null 2>&1 &
RD_PIDS+=("$!")
upstream_asked() { grep -c "query\[A\] $1 from" "$RD_TMP/upstream.log" 2>/dev/null || true; }

mkdir -p "$RD_TMP/config"
cp "$ROOT/examples/lan.yaml" "$ROOT/examples/wan.yaml" "$RD_TMP/config/"
resolver() { # resolver EXTRA_LOCAL_RECORD_LINE
    cat <<YAML
apiVersion: net.routerd.net/v1alpha1
kind: DNSResolver
metadata: {name: lan}
spec:
  listen: ["192.0.2.1:53"]
  upstreams: [{address: "198.51.100.129:5353"}]
  cache: {maxEntries: 1000}
  localRecords:
    - {name: nas.home.arpa, type: A, value: 192.0.2.20}
$1
  queryLog: {enabled: true}
YAML
}
resolver "" > "$RD_TMP/config/dns.yaml"
rd_start --config "$RD_TMP/config" --reconcile-interval 5s
check "DNSResolver lan Applied" rd_wait_for "DNSResolver lan Applied" 30 rd_phase_is DNSResolver lan Applied
check "the ISP route is installed" rd_wait_for "isp route" 10 rd_phase_is IPv4StaticRoute isp-services Installed

lan_dig() { ip netns exec "$NS_LAN" dig +time=2 +tries=1 +short @192.0.2.1 "$@"; }
queries() { routerctl get dns-queries -o json "$@"; }
# row NAME FIELD [NTH]: FIELD of the NTH newest row for NAME (0 = newest).
row() {
    queries --name "$1" | py "import json,sys; items=json.load(sys.stdin)['items']; i=int('${3:-0}'); v=items[i].get('$2') if len(items) > i else 'MISSING'; print(json.dumps(v) if not isinstance(v, str) else v)"
}
rows_for() { queries --name "$1" | py 'import json,sys; print(len(json.load(sys.stdin)["items"]))'; }

echo "== the LAN host resolves through the router"
check_eq "local record nas.home.arpa" 192.0.2.20 "$(lan_dig nas.home.arpa A)"
check_eq "forwarded name www.isp.example" 198.51.100.200 "$(lan_dig www.isp.example A)"
check "both answers are rows of dns-queries" rd_wait_for "rows" 10 sh -c \
    "[ \"\$(routerctl get dns-queries -o json --client 192.0.2.10 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)[\"items\"]))')\" -ge 2 ]"
check_eq "local row: client" 192.0.2.10 "$(row nas.home.arpa client)"
check_eq "local row: no upstream" null "$(row nas.home.arpa upstream)"
check_eq "local row: rcode" NOERROR "$(row nas.home.arpa rcode)"
check_eq "forwarded row: upstream" "udp://198.51.100.129:5353" "$(row www.isp.example upstream)"
check_eq "forwarded row: not a cache hit" false "$(row www.isp.example cacheHit)"
check_eq "forwarded row: answer" 1 "$(queries --name www.isp.example | py 'import json,sys; print(sum("198.51.100.200" in a for a in json.load(sys.stdin)["items"][0]["answers"]))')"
check_eq "the upstream was asked once" 1 "$(upstream_asked www.isp.example)"

echo "== the second identical query is answered from the cache"
check_eq "www.isp.example again" 198.51.100.200 "$(lan_dig www.isp.example A)"
check "a second row" rd_wait_for "second row" 10 sh -c "[ \"\$(routerctl get dns-queries -o json --name www.isp.example | python3 -c 'import json,sys; print(len(json.load(sys.stdin)[\"items\"]))')\" = 2 ]"
check_eq "newest row: cacheHit" true "$(row www.isp.example cacheHit)"
check_eq "the upstream was still asked only once" 1 "$(upstream_asked www.isp.example)"
echo "\$ routerctl get dns-queries"
routerctl get dns-queries

echo "== aggregate view and filters"
top="$(routerctl get dns-queries --aggregate name -o json)"
check_eq "aggregate by name: top is www.isp.example with 2" "www.isp.example 2" \
    "$(echo "$top" | py 'import json,sys; v=json.load(sys.stdin); print(v["items"][0]["key"], v["items"][0]["count"])')"
check_eq "aggregate by client" "192.0.2.10" \
    "$(routerctl get dns-queries --aggregate client -o json | py 'import json,sys; print(json.load(sys.stdin)["items"][0]["key"])')"
check_eq "aggregate limit 1 is truncated" "1 True" \
    "$(routerctl get dns-queries --aggregate name --limit 1 -o json | py 'import json,sys; v=json.load(sys.stdin); print(len(v["items"]), v.get("truncated", False))')"
check "--watch prints one screen every 2 s" sh -c \
    "timeout 5 routerctl get dns-queries --watch -o json | head -2 | grep -c DNSQueryList | grep -qx 2"
echo "\$ routerctl get dns-queries --aggregate name"
routerctl get dns-queries --aggregate name
count() { queries "$@" | py 'import json,sys; print(len(json.load(sys.stdin)["items"]))'; }
check_eq "--suffix isp.example" 2 "$(count --suffix isp.example)"
check_eq "--suffix home.arpa" 1 "$(count --suffix home.arpa)"
check_eq "--upstream" 1 "$(count --upstream udp://198.51.100.129:5353)"
check_eq "--client 192.0.2.0/24" 3 "$(count --client 192.0.2.0/24)"
check_eq "--client 10.0.0.0/8" 0 "$(count --client 10.0.0.0/8)"
check_eq "--rcode NXDOMAIN" 0 "$(count --rcode NXDOMAIN)"
check_eq "--type A" 3 "$(count --type A)"
check_eq "--since 1h" 3 "$(count --since 1h)"
check_eq "--limit 1 is truncated" "True" "$(queries --limit 1 | py 'import json,sys; print(json.load(sys.stdin).get("truncated", False))')"
bad() { curl -s --max-time 5 --unix-socket "$RD_RUN/routerd-status.sock" -o "$RD_TMP/bad.json" -w '%{http_code}' \
    "http://routerd/api/control.routerd.net/v1alpha1/dns-queries?$1"; }
for p in "client=nope" "suffix=a..b" "minDurationMicros=-1" "aggregate=domain" "since=yesterday" "type=1A"; do
    check_eq "400 for $p" "400 ${p%%=*}" "$(bad "$p") $(py 'import json,sys; m=json.load(open(sys.argv[1]))["error"]["message"]; print(m.split(":")[0].split()[-1])' "$RD_TMP/bad.json")"
done

echo "== a spec change is a reload: same daemon, cache kept"
pid_of() { rd_api GET /status | py "import json,sys; print([d.get('pid') for d in json.load(sys.stdin)['status']['daemons'] if d['kind']=='routerd-dns-resolver'][0])"; }
pid_before="$(pid_of)"
resolver "    - {name: printer.home.arpa, type: A, value: 192.0.2.21}" > "$RD_TMP/dns2.yaml"
check "apply the changed spec" routerctl apply -f "$RD_TMP/dns2.yaml"
check "the new local record answers" rd_wait_for "printer.home.arpa" 15 sh -c \
    "[ \"\$(ip netns exec $NS_LAN dig +time=1 +tries=1 +short @192.0.2.1 printer.home.arpa A)\" = 192.0.2.21 ]"
check_eq "same daemon pid (reloaded, not restarted)" "$pid_before" "$(pid_of)"
check_eq "www.isp.example after the reload" 198.51.100.200 "$(lan_dig www.isp.example A)"
check "a third row" rd_wait_for "third row" 10 sh -c "[ \"\$(routerctl get dns-queries -o json --name www.isp.example | python3 -c 'import json,sys; print(len(json.load(sys.stdin)[\"items\"]))')\" = 3 ]"
check_eq "still a cache hit after the reload" true "$(row www.isp.example cacheHit)"
check_eq "the upstream was still asked only once" 1 "$(upstream_asked www.isp.example)"

echo "== status fields projected from the daemon"
status_field() { rd_api GET /resources/DNSResolver/lan | py "import json,sys; s=json.load(sys.stdin)['status']; print($1)"; }
hits_seen() { [ "$(status_field "s['cache']['hits']")" -ge 2 ]; }
check "status refreshed with the cache hits" rd_wait_for "cache hits in status" 20 hits_seen
check_eq "listeners" True "$(status_field "len(s['listeners']) >= 1 and all('192.0.2.1:53' in l for l in s['listeners'])")"
check_eq "upstream healthy" True "$(status_field "s['upstreams'][0]['healthy']")"
check_eq "cache holds entries" True "$(status_field "s['cache']['entries'] >= 1")"
check_eq "hit ratio above 0" True "$(status_field "s['cache']['hitRatio'] > 0")"
check_eq "no log rows dropped" 0 "$(status_field "s['queryLog']['dropped']")"
echo "\$ routerctl get dnsresolver lan -o yaml"
routerctl get dnsresolver lan -o yaml

echo "dns: $E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
