#!/usr/bin/env bash
# Conformance: schemathesis (an outside OpenAPI tester) against routerd's own /openapi.json. routerd runs in
# an empty network namespace (whatever resources the tester applies cannot reach the host), its main socket
# is bridged to a loopback TCP port, and every check schemathesis has (`--checks all`) runs on every
# operation except /connections, /dns-queries, /traffic-flows and /firewall-logs: /dns-queries answers 503
# until its observer lands, and the time window of the history lists (`to` before `from` is a 400) is a
# rule between parameters that no JSON schema of one parameter can state.
#
# Bounded in time: a small number of examples per operation (OAPI_MAX_EXAMPLES, default 50) and a hard
# timeout on the run (OAPI_TIMEOUT, default 150 s). The venv with schemathesis is created on first use
# (pip from PyPI) under target/, or wherever OAPI_VENV points.
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RD_BIN="${RD_BIN:-$ROOT/target/debug}"
OAPI_VENV="${OAPI_VENV:-$ROOT/target/e2e-venv}"
OAPI_MAX_EXAMPLES="${OAPI_MAX_EXAMPLES:-50}"
OAPI_TIMEOUT="${OAPI_TIMEOUT:-150}"
# shellcheck source=../lib/netns.sh
source "$HERE/lib/netns.sh"
# shellcheck source=../lib/assert.sh
source "$HERE/lib/assert.sh"
BRIDGE_PID=""
cleanup() {
    [ -n "$BRIDGE_PID" ] && kill "$BRIDGE_PID" 2>/dev/null
    rd_cleanup
}
trap cleanup EXIT
PREFIX=/api/control.routerd.net/v1alpha1

echo "== openapi-conformance: schemathesis in $OAPI_VENV"
if [ ! -x "$OAPI_VENV/bin/schemathesis" ]; then
    python3 -m venv "$OAPI_VENV" && "$OAPI_VENV/bin/pip" install -q 'schemathesis>=4,<5'
fi
check "schemathesis is installed" test -x "$OAPI_VENV/bin/schemathesis"

echo "== routerd in an empty namespace, main socket bridged to TCP"
ip netns add "$NS_ROUTER"
ip -n "$NS_ROUTER" link set lo up
rd_start
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# One thread per connection, bytes copied both ways: enough for a test client on loopback.
python3 - "$RD_RUN/routerd.sock" "$PORT" <<'EOF' >>"$RD_TMP/bridge.log" 2>&1 &
import socket, sys, threading
unix_path, port = sys.argv[1], int(sys.argv[2])
def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
def serve(client):
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(unix_path)
    except OSError:
        client.close()
        return
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    pipe(upstream, client)
    client.close()
    upstream.close()
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(64)
while True:
    conn, _ = server.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
EOF
BRIDGE_PID=$!
URL="http://127.0.0.1:$PORT"
check "the bridge answers /healthz" rd_wait_for "the bridge" 10 curl -sf "$URL$PREFIX/healthz"

# A schema-valid request may still be refused with 422: "well-formed but invalid resources" (an unknown
# kind, a reference to a resource that does not exist, a field rule) is the server's validation, beyond
# what a JSON schema of the request can say (control-api.md). 400 (a malformed request) stays a failure:
# the schema must describe exactly the request shapes the server accepts.
cat >"$RD_TMP/schemathesis.toml" <<'TOML'
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "404", "409", "422", "429"]
TOML
# `manifest` is YAML text: a schema can only say "a string", and text that is not YAML is a malformed
# request (400, as core.sh checks). So a generated manifest *string* is replaced by a small valid manifest;
# the request's shape (manifest absent, null, not a string, beside resources) is still generated freely.
cat >"$RD_TMP/routerd_hooks.py" <<'PY'
import schemathesis

MANIFEST = "apiVersion: net.routerd.net/v1alpha1\nkind: Interface\nmetadata: {name: fuzz}\nspec: {ifname: fuzz0}\n"


def _valid_manifest(body):
    if isinstance(body, dict) and isinstance(body.get("manifest"), str):
        body = dict(body)
        body["manifest"] = MANIFEST
    return body


@schemathesis.hook
def map_case(context, case):
    case.body = _valid_manifest(case.body)
    return case
PY

echo "== schemathesis --checks all (max $OAPI_MAX_EXAMPLES examples per operation)"
# From the temporary directory: schemathesis leaves a .schemathesis/ cache in its working directory.
cd "$RD_TMP" || exit 1
PYTHONPATH="$RD_TMP" SCHEMATHESIS_HOOKS=routerd_hooks \
timeout "$OAPI_TIMEOUT" "$OAPI_VENV/bin/schemathesis" --config-file "$RD_TMP/schemathesis.toml" \
    run "$URL$PREFIX/openapi.json" \
    --url "$URL" \
    --checks all \
    --max-examples "$OAPI_MAX_EXAMPLES" \
    --exclude-path "$PREFIX/connections" \
    --exclude-path "$PREFIX/dns-queries" \
    --exclude-path "$PREFIX/traffic-flows" \
    --exclude-path "$PREFIX/firewall-logs" \
    --seed 1 \
    --no-color >"$RD_TMP/schemathesis.log" 2>&1
rc=$?
# The summary and every failure, for the log of the run.
sed -n '/FAILURES\|Failures\|=== /,$p' "$RD_TMP/schemathesis.log" | head -200
tail -n 15 "$RD_TMP/schemathesis.log"
check_eq "schemathesis exit status" 0 "$rc"
check "routerd still answers" rd_api GET /healthz

echo "openapi-conformance: $E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
